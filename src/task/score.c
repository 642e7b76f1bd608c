/* Scorers: answer normalization, exact / numeric / contains / facts.
 *
 * The rules (the README quotes them):
 *
 * Normalization (lw_normalize_answer): ASCII letters are lowercased; every character that
 *   is not a letter, digit or non-ASCII letter becomes a space (ASCII punctuation, and the
 *   common Unicode punctuation: curly quotes, dashes, ellipsis, bullets, no-break space,
 *   guillemets, inverted marks); the words "a", "an" and "the" are dropped; whitespace is
 *   collapsed to single spaces and trimmed. "The Tom's!" -> "tom s".
 *
 * exact: the gold and every alias are normalized to k words each; the prediction scores 1
 *   when its first k normalized words equal those of the gold or of some alias. Predictions
 *   are model continuations, so whatever follows the answer does not count against it
 *   ("Tom went to the park." matches the gold "Tom"), while text before it does. When an
 *   answer normalizes to nothing because it consists of articles only (a multiple-choice
 *   "a"), articles are kept for that answer and for the prediction it is compared with.
 *
 * numeric (GSM8K): the gold (the number after "####" in GSM8K, or any text whose last
 *   number is the answer) and the prediction are reduced to their last number, see
 *   lw_last_number; they match when they differ by at most 1e-6. No number in the
 *   prediction scores 0. Aliases are other accepted numbers.
 *
 * contains: the normalized prediction contains the normalized gold (or an alias) as a run
 *   of whole words ("cat" is not found in "concatenate").
 *
 * facts (biographies): the gold holds one fact per line (leading bullets "-", "*", "•" or
 *   "1." are ignored; blank lines skipped). A fact's key terms are its distinct normalized
 *   words of at least 4 characters that are not in a small stopword list (was, with,
 *   from, their, ...). A fact counts as stated when at least half of its key terms occur
 *   as words of the normalized prediction; the score is the share of facts stated (facts
 *   without key terms are left out; a gold without any scores 0).
 *
 * Every scorer gives 0 to an empty (or all-whitespace) prediction. */
#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "task/task_internal.h"

/* ------------------------------------------------------------- normalization ---- */

/* Length of a Unicode punctuation/space sequence at s (treated as a separator), or 0. */
static size_t unicode_punct(const unsigned char *s) {
    if (s[0] == 0xC2 && s[1] != 0) {
        /* U+00A0 no-break space, U+00A1 ¡, U+00AB «, U+00B7 middle dot, U+00BB », U+00BF ¿ */
        unsigned char c = s[1];
        if (c == 0xA0 || c == 0xA1 || c == 0xAB || c == 0xB7 || c == 0xBB || c == 0xBF) return 2;
    }
    if (s[0] == 0xE2 && s[1] == 0x80 && s[2] != 0) {
        /* U+2000..U+203F: spaces, dashes, quotes, bullets, ellipsis, primes */
        return 3;
    }
    if (s[0] == 0xE2 && s[1] == 0x88 && s[2] == 0x92) return 3; /* U+2212 minus */
    return 0;
}

static bool is_article(const char *w, size_t n) {
    return (n == 1 && w[0] == 'a') || (n == 2 && memcmp(w, "an", 2) == 0) || (n == 3 && memcmp(w, "the", 3) == 0);
}

/* Normalizes s (see the rules above), dropping articles when asked. malloc'd. */
static char *normalize(const char *s, bool drop_articles) {
    size_t n = strlen(s);
    char *tmp = malloc(n + 1), *out = malloc(n + 1);
    if (!tmp || !out) {
        free(tmp);
        free(out);
        return NULL;
    }
    /* pass 1: lowercase, separators to spaces */
    size_t k = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t u = *p >= 0x80 ? unicode_punct(p) : 0;
        if (u) {
            tmp[k++] = ' ';
            p += u;
        } else if (*p >= 0x80 || isalnum(*p)) {
            tmp[k++] = (char)tolower(*p);
            p++;
        } else {
            tmp[k++] = ' ';
            p++;
        }
    }
    tmp[k] = '\0';
    /* pass 2: words, articles dropped, single spaces */
    size_t o = 0;
    for (size_t i = 0; i < k;) {
        while (i < k && tmp[i] == ' ') i++;
        size_t start = i;
        while (i < k && tmp[i] != ' ') i++;
        size_t len = i - start;
        if (len == 0 || (drop_articles && is_article(tmp + start, len))) continue;
        if (o) out[o++] = ' ';
        memcpy(out + o, tmp + start, len);
        o += len;
    }
    out[o] = '\0';
    free(tmp);
    return out;
}

char *lw_normalize_answer(const char *s) {
    if (!s) s = "";
    char *r = normalize(s, true);
    if (!r) lw_fail("normalize: out of memory");
    return r;
}

static bool is_blank(const char *s) {
    for (; s && *s; s++)
        if (!isspace((unsigned char)*s)) return false;
    return true;
}

/* ------------------------------------------------------------------ numbers ---- */

/* Whether s[i] is a sign character before a number: '-' or '+' (or U+2212) not glued
 * to a preceding letter or digit ("5-3" is a subtraction, "x = -5" a negative). */
static int sign_before(const char *s, size_t at, size_t *sign_start) {
    /* at: index of the first char of the number proper ('$' already skipped) */
    if (at >= 1 && (s[at - 1] == '-' || s[at - 1] == '+')) {
        if (at == 1 || !isalnum((unsigned char)s[at - 2])) {
            *sign_start = at - 1;
            return s[at - 1] == '-' ? -1 : 1;
        }
        return 0;
    }
    if (at >= 3 && (unsigned char)s[at - 3] == 0xE2 && (unsigned char)s[at - 2] == 0x88 &&
        (unsigned char)s[at - 1] == 0x92) {
        if (at == 3 || !isalnum((unsigned char)s[at - 4])) {
            *sign_start = at - 3;
            return -1;
        }
    }
    return 0;
}

bool lw_last_number(const char *s, double *out) {
    if (!s) return false;
    size_t n = strlen(s);
    bool found = false;
    double last = 0;
    char *buf = malloc(n + 2);
    if (!buf) return false;
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        bool starts = isdigit(c) || (c == '.' && i + 1 < n && isdigit((unsigned char)s[i + 1]) &&
                                     !(i > 0 && isdigit((unsigned char)s[i - 1])));
        if (!starts) {
            i++;
            continue;
        }
        size_t j = i, b = 0;
        /* integer part with optional thousands separators: 1-3 digits, then ",ddd" groups */
        size_t lead = 0;
        while (j < n && isdigit((unsigned char)s[j])) buf[b++] = s[j++], lead++;
        if (lead >= 1 && lead <= 3) {
            while (j + 3 < n && s[j] == ',' && isdigit((unsigned char)s[j + 1]) && isdigit((unsigned char)s[j + 2]) &&
                   isdigit((unsigned char)s[j + 3]) && !(j + 4 < n && isdigit((unsigned char)s[j + 4]))) {
                memcpy(buf + b, s + j + 1, 3);
                b += 3;
                j += 4;
            }
        }
        /* fraction: "." followed by a digit; a trailing "." ends the number */
        if (j + 1 < n && s[j] == '.' && isdigit((unsigned char)s[j + 1])) {
            buf[b++] = s[j++];
            while (j < n && isdigit((unsigned char)s[j])) buf[b++] = s[j++];
        }
        buf[b] = '\0';
        if (b == 0 || (b == 1 && buf[0] == '.')) {
            i = j > i ? j : i + 1;
            continue;
        }
        /* sign, with an optional "$" between it and the digits ("-$5", "$-5") */
        size_t at = i, sign_start = i;
        int sign = sign_before(s, at, &sign_start);
        if (!sign && at >= 1 && s[at - 1] == '$') sign = sign_before(s, at - 1, &sign_start);
        double v = strtod(buf, NULL);
        last = sign < 0 ? -v : v;
        found = true;
        i = j;
    }
    free(buf);
    if (found && out) *out = last;
    return found;
}

/* --------------------------------------------------------------------- exact ---- */

/* Whether normalized prediction p begins with the normalized answer g as whole words. */
static bool starts_with_words(const char *p, const char *g) {
    size_t k = strlen(g);
    return k > 0 && strncmp(p, g, k) == 0 && (p[k] == '\0' || p[k] == ' ');
}

/* Whether g occurs in p as a run of whole words. */
static bool contains_words(const char *p, const char *g) {
    size_t k = strlen(g);
    if (k == 0) return false;
    for (const char *q = strstr(p, g); q; q = strstr(q + 1, g))
        if ((q == p || q[-1] == ' ') && (q[k] == '\0' || q[k] == ' ')) return true;
    return false;
}

/* Compares the prediction with one answer under `match`, keeping articles when the
 * answer consists of articles only. */
static bool answer_matches(const char *pred_norm, const char *pred, const char *answer,
                           bool (*match)(const char *, const char *)) {
    if (!answer) return false;
    char *g = normalize(answer, true);
    if (!g) return false;
    bool hit;
    if (*g) {
        hit = match(pred_norm, g);
    } else {
        free(g);
        g = normalize(answer, false);
        char *p = normalize(pred, false);
        hit = g && p && match(p, g);
        free(p);
    }
    free(g);
    return hit;
}

static double score_words(const lw_task_item *item, const char *pred, bool (*match)(const char *, const char *)) {
    char *p = normalize(pred, true);
    if (!p) return 0;
    bool hit = answer_matches(p, pred, item->gold, match);
    for (int i = 0; !hit && i < item->n_aliases; i++) hit = answer_matches(p, pred, item->aliases[i], match);
    free(p);
    return hit ? 1.0 : 0.0;
}

/* ------------------------------------------------------------------- numeric ---- */

static double score_numeric(const lw_task_item *item, const char *pred) {
    double got;
    if (!lw_last_number(pred, &got)) return 0;
    double want;
    if (lw_last_number(item->gold, &want) && fabs(got - want) <= 1e-6) return 1;
    for (int i = 0; i < item->n_aliases; i++)
        if (lw_last_number(item->aliases[i], &want) && fabs(got - want) <= 1e-6) return 1;
    return 0;
}

/* --------------------------------------------------------------------- facts ---- */

/* Words of 4+ letters that carry no fact. */
static const char *const STOPWORDS[] = {
    "about", "after", "also", "among", "been", "before", "being", "both", "born", "could", "does", "during",
    "each", "from", "have", "having", "into", "known", "many", "more", "most", "much", "only", "other",
    "over", "same", "several", "should", "since", "some", "such", "than", "that", "their", "them", "then",
    "there", "these", "they", "this", "those", "through", "under", "until", "upon", "very", "were", "what",
    "when", "where", "which", "while", "will", "with", "within", "would", "your",
};

static bool is_stopword(const char *w, size_t n) {
    for (size_t i = 0; i < sizeof STOPWORDS / sizeof STOPWORDS[0]; i++)
        if (strlen(STOPWORDS[i]) == n && memcmp(STOPWORDS[i], w, n) == 0) return true;
    return false;
}

/* Skips a leading bullet ("-", "*", "•", "1.", "2)") and spaces. */
static const char *skip_bullet(const char *s, const char *end) {
    while (s < end && isspace((unsigned char)*s)) s++;
    if (s < end && (*s == '-' || *s == '*')) s++;
    else if (end - s >= 3 && (unsigned char)s[0] == 0xE2 && (unsigned char)s[1] == 0x80 && (unsigned char)s[2] == 0xA2)
        s += 3;
    else {
        const char *d = s;
        while (d < end && isdigit((unsigned char)*d)) d++;
        if (d > s && d < end && (*d == '.' || *d == ')')) s = d + 1;
    }
    return s;
}

/* Whether fact (normalized) is stated in the normalized prediction p (" "-padded). -1
 * when the fact has no key terms. */
static int fact_stated(const char *fact, const char *padded_pred) {
    int terms = 0, present = 0;
    const char *w = fact;
    char word[256];
    while (*w) {
        while (*w == ' ') w++;
        const char *e = w;
        while (*e && *e != ' ') e++;
        size_t n = (size_t)(e - w);
        if (n >= 4 && !is_stopword(w, n)) {
            /* distinct terms only: skip a word already seen earlier in this fact */
            bool seen = false;
            for (const char *q = fact; q < w;) {
                while (*q == ' ') q++;
                const char *qe = q;
                while (*qe && *qe != ' ') qe++;
                if (q < w && (size_t)(qe - q) == n && memcmp(q, w, n) == 0) {
                    seen = true;
                    break;
                }
                q = qe;
            }
            if (!seen) {
                terms++;
                if (n + 2 < sizeof word) {
                    word[0] = ' ';
                    memcpy(word + 1, w, n);
                    word[n + 1] = ' ';
                    word[n + 2] = '\0';
                    if (strstr(padded_pred, word)) present++;
                }
            }
        }
        w = e;
    }
    if (terms == 0) return -1;
    return 2 * present >= terms ? 1 : 0;
}

/* The gold's facts that have key terms (*facts) and how many of them the " "-padded normalized
 * prediction states (*stated). */
static void count_facts(const char *gold, const char *padded_pred, int *facts, int *stated) {
    *facts = *stated = 0;
    for (const char *line = gold; *line;) {
        const char *end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        const char *s = skip_bullet(line, end);
        char *raw = strndup(s, (size_t)(end - s));
        char *fact = raw ? normalize(raw, true) : NULL;
        int r = fact ? fact_stated(fact, padded_pred) : -1;
        if (r >= 0) {
            (*facts)++;
            *stated += r;
        }
        free(fact);
        free(raw);
        line = *end ? end + 1 : end;
    }
}

static double score_facts(const lw_task_item *item, const char *pred) {
    if (!item->gold) return 0;
    char *p = normalize(pred, true);
    if (!p) return 0;
    size_t pn = strlen(p);
    char *padded = malloc(pn + 3);
    if (!padded) {
        free(p);
        return 0;
    }
    padded[0] = ' ';
    memcpy(padded + 1, p, pn);
    padded[pn + 1] = ' ';
    padded[pn + 2] = '\0';
    free(p);
    int facts, stated;
    count_facts(item->gold, padded, &facts, &stated);
    free(padded);
    return facts ? (double)stated / facts : 0;
}

/* ---------------------------------------------------------------------- score ---- */

const char *lw_score_unmatchable(lw_scorer scorer, const char *answer) {
    if (!answer) return "is missing";
    if (scorer == LW_SCORE_NUMERIC) {
        double v;
        return lw_last_number(answer, &v) ? NULL : "holds no number, so no answer can match it";
    }
    if (scorer == LW_SCORE_FACTS) { /* a fact counts only with a key term: none, and every answer scores 0 */
        int facts, stated;
        count_facts(answer, "  ", &facts, &stated);
        return facts ? NULL : "states no fact with a key term (a word of 4 or more characters that is not a stopword), "
                            "so every answer scores 0";
    }
    char *n = normalize(answer, false); /* articles kept: an answer of articles only is matched with them */
    bool empty = n && !*n;
    free(n);
    return empty ? "has no letter or digit, so no answer can match it" : NULL;
}

/* NULL, or names why the item cannot be scored: a score of 0 would pass for a wrong answer. */
static const char *unscorable(const lw_task_item *item) {
    if (!item->gold) return "has no gold";
    if (item->n_aliases < 0 || (item->n_aliases > 0 && !item->aliases)) return "has a negative alias count or no aliases";
    for (int i = 0; i < item->n_aliases; i++)
        if (!item->aliases[i]) return "has a NULL alias";
    if ((int)item->scorer < LW_SCORE_EXACT || (int)item->scorer > LW_SCORE_FACTS) return "has an unknown scorer";
    return NULL;
}

double lw_score(const lw_task_item *item, const char *prediction) {
    if (!item) return lw_fail("lw_score: no item"), NAN;
    const char *why = unscorable(item);
    if (why) return lw_fail("lw_score: item %s %s", item->id ? item->id : "(no id)", why), NAN;
    if (!prediction || is_blank(prediction)) return 0; /* no answer is a wrong one */
    switch (item->scorer) {
    case LW_SCORE_EXACT: return score_words(item, prediction, starts_with_words);
    case LW_SCORE_NUMERIC: return score_numeric(item, prediction);
    case LW_SCORE_CONTAINS: return score_words(item, prediction, contains_words);
    case LW_SCORE_FACTS: return score_facts(item, prediction);
    }
    return 0;
}
