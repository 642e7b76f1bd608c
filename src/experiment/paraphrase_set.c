/* Paraphrase sets (latentwire.paraphrases/1): reading and validating the file, its texts in
 * row-id order, and the filter that judges a sampled paraphrase. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "latentwire/files.h"
#include "latentwire/json.h"
#include "latentwire/paraphrase.h"
#include "latentwire/textio.h"

/* ------------------------------------------------------------------ the set */

void lw_paraphrase_set_free(lw_paraphrase_set *s) {
    if (!s) return;
    for (int32_t i = 0; i < s->n; i++) {
        free(s->source_id ? s->source_id[i] : NULL);
        free(s->target ? s->target[i] : NULL);
    }
    for (int32_t j = 0; s->para_off && s->para && j < s->para_off[s->n]; j++) free(s->para[j]);
    free(s->source_id);
    free(s->target);
    free(s->para_off);
    free(s->para);
    memset(s, 0, sizeof *s);
}

/* A text `paraphrase texts` can write as one line that extract reads back as one row: one line,
 * not blank (extract skips a blank line, and every later text would take the row id before its
 * own), at most LW_MAX_LINE_BYTES (a longer one made a file every reader then refused). */
static bool one_line_text(const json_t *v) {
    const char *s = json_string_value(v);
    return s && s[strspn(s, " \t\v\f")] && !strpbrk(s, "\r\n") && json_string_length(v) <= LW_MAX_LINE_BYTES;
}

/* Grows the set by one target (arrays sized for it; the paraphrases added by the caller). */
static int set_push_target(lw_paraphrase_set *s, const char *id, const char *target, size_t n_para) {
    char **ids = realloc(s->source_id, sizeof *ids * (size_t)(s->n + 1));
    if (ids) s->source_id = ids;
    char **tg = realloc(s->target, sizeof *tg * (size_t)(s->n + 1));
    if (tg) s->target = tg;
    int32_t *off = realloc(s->para_off, sizeof *off * (size_t)(s->n + 2));
    if (off) s->para_off = off;
    if (off && s->n == 0) off[0] = 0;
    int32_t np = off ? off[s->n] : 0;
    char **pa = off ? realloc(s->para, sizeof *pa * (size_t)(np + n_para + 1)) : NULL;
    if (pa) s->para = pa;
    char *sid = ids && tg && off && pa ? strdup(id) : NULL, *stg = sid ? strdup(target) : NULL;
    if (!stg) { /* the arrays keep their (larger) size; the set stays as it was */
        free(sid);
        return lw_fail("paraphrases: out of memory");
    }
    s->source_id[s->n] = sid;
    s->target[s->n] = stg;
    s->para_off[s->n + 1] = np;
    s->n++;
    return 0;
}

static void normalize(const char *s, char *out, size_t cap);

/* A paraphrase the target again, or one listed twice for it (compared as the generator's filter
 * compares: lower-cased, letters and digits only) is no hard negative: as a target's own
 * paraphrase it is the target, and twice it counts twice. */
static int check_distinct(const char *path, int line_no, json_t *tg, json_t *pa) {
    char a[4096], b[4096];
    size_t k, j;
    json_t *v, *w;
    json_array_foreach(pa, k, v) {
        normalize(json_string_value(v), a, sizeof a);
        normalize(json_string_value(tg), b, sizeof b);
        if (!strcmp(a, b)) return lw_fail("%s:%d: paraphrases[%zu] is the target again (compared lower-cased, letters and "
                                          "digits only): drop it", path, line_no, k);
        json_array_foreach(pa, j, w) {
            if (j >= k) break;
            normalize(json_string_value(w), b, sizeof b);
            if (!strcmp(a, b))
                return lw_fail("%s:%d: paraphrases[%zu] repeats paraphrases[%zu] (compared lower-cased, letters and "
                               "digits only): drop one", path, line_no, k, j);
        }
    }
    return 0;
}

/* Checks one line against the format and appends it; the error names file, line and field.
 * Its negatives (*negs_out) are checked once every line is read: the paraphrases' row ids
 * start after the last target's. */
static int read_line(const char *path, int line_no, const char *line, lw_paraphrase_set *s, json_t **negs_out) {
    json_error_t err;
    json_t *o = json_loads(line, 0, &err);
    int rc = 0;
    json_t *rid = json_object_get(o, "row_id"), *id = json_object_get(o, "mrpc_id");
    json_t *tg = json_object_get(o, "target"), *pa = json_object_get(o, "paraphrases");
    json_t *ng = json_object_get(o, "negatives");
    size_t k;
    json_t *v;
    if (!o) rc = lw_fail("%s:%d: not JSON (%s)", path, line_no, lw_json_error_text(&err));
    else if (!json_is_object(o)) rc = lw_fail("%s:%d: expected a JSON object", path, line_no);
    else if (!json_is_integer(rid) || json_integer_value(rid) != line_no - 1)
        rc = lw_fail("%s:%d: row_id must be the line's 0-based index, %d", path, line_no, line_no - 1);
    else if (!json_is_string(id) || !*json_string_value(id))
        rc = lw_fail("%s:%d: mrpc_id must be a non-empty string", path, line_no);
    else if (!one_line_text(tg)) rc = lw_fail("%s:%d: target must be a one-line string with a non-space character, of at most 1 MiB", path, line_no);
    else if (!json_is_array(pa)) rc = lw_fail("%s:%d: paraphrases must be a list of strings", path, line_no);
    else if (!json_is_array(ng) || json_array_size(ng) != json_array_size(pa))
        rc = lw_fail("%s:%d: negatives must be a list of row ids, one per paraphrase", path, line_no);
    json_array_foreach(pa, k, v) {
        if (rc == 0 && !one_line_text(v))
            rc = lw_fail("%s:%d: paraphrases[%zu] must be a one-line string with a non-space character, of at most 1 MiB", path, line_no, k);
    }
    if (rc == 0) rc = check_distinct(path, line_no, tg, pa);
    if (rc == 0) rc = set_push_target(s, json_string_value(id), json_string_value(tg), json_array_size(pa));
    json_array_foreach(pa, k, v) {
        char *text = rc == 0 ? strdup(json_string_value(v)) : NULL;
        if (!text) {
            if (rc == 0) rc = lw_fail("paraphrases: out of memory");
            break;
        }
        s->para[s->para_off[s->n]++] = text;
    }
    if (rc == 0) *negs_out = json_incref(ng);
    json_decref(o);
    return rc;
}

int lw_paraphrase_set_load(const char *path, lw_paraphrase_set *out) {
    if (!out) return lw_fail("lw_paraphrase_set_load: out is NULL");
    memset(out, 0, sizeof *out);
    size_t len;
    char *text = lw_read_text_file(path, &len, "paraphrase file");
    if (!text) return -1;
    json_t *negs = json_array(); /* per line, checked once the number of targets is known */
    int rc = negs ? 0 : lw_fail("paraphrases: out of memory"), line_no = 0;
    for (char *line = text, *next; rc == 0 && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        line_no++;
        json_t *ng = NULL;
        if (!*line) rc = lw_fail("%s:%d: empty line (one JSON object per target, no blank lines)", path, line_no);
        else rc = read_line(path, line_no, line, out, &ng);
        if (rc == 0 && json_array_append_new(negs, ng) != 0) rc = lw_fail("paraphrases: out of memory");
    }
    if (rc == 0 && out->n == 0) rc = lw_fail("%s: no targets", path);
    for (int32_t i = 0; rc == 0 && i < out->n; i++) {
        json_t *ng = json_array_get(negs, (size_t)i);
        for (int32_t j = out->para_off[i]; rc == 0 && j < out->para_off[i + 1]; j++) {
            json_t *v = json_array_get(ng, (size_t)(j - out->para_off[i]));
            if (!json_is_integer(v) || json_integer_value(v) != out->n + j)
                rc = lw_fail("%s:%d: negatives[%d] must be %d, the row id of paraphrases[%d] (targets are rows 0..%d, "
                             "paraphrases follow in file order)",
                             path, i + 1, j - out->para_off[i], out->n + j, j - out->para_off[i], out->n - 1);
        }
    }
    json_decref(negs);
    free(text);
    if (rc != 0) lw_paraphrase_set_free(out);
    return rc;
}

int lw_paraphrase_set_write_texts(const lw_paraphrase_set *s, const char *path) {
    if (!s) return lw_fail("lw_paraphrase_set_write_texts: the set is NULL");
    /* a zeroed or freed set (n 0, no para_off) was read at para_off[0]; a set no load made is refused
     * before the output is opened */
    if (s->n < 1 || !s->para_off || !s->target || (s->para_off[s->n] > 0 && !s->para))
        return lw_fail("lw_paraphrase_set_write_texts: the set is empty or incomplete (load it with lw_paraphrase_set_load)");
    lw_atomic_file af;
    if (lw_atomic_open(&af, path) != 0) return -1;
    for (int32_t i = 0; i < s->n; i++) fprintf(af.fp, "%s\n", s->target[i]);
    for (int32_t j = 0; j < s->para_off[s->n]; j++) fprintf(af.fp, "%s\n", s->para[j]);
    return lw_atomic_commit(&af);
}

/* ------------------------------------------------------------------ the filter */

const char *lw_paraphrase_reason_name(lw_paraphrase_reason r) {
    static const char *NAMES[LW_PARA_N_REASONS] = {"kept",     "empty",    "not_sentence", "meta",     "too_short",
                                                   "too_long", "off_topic", "identical",    "duplicate"};
    return r >= 0 && r < LW_PARA_N_REASONS ? NAMES[r] : "unknown";
}

/* Lower-cased letters and digits of s only: two outputs that differ in case, spacing or
 * punctuation alone are the same paraphrase. */
static void normalize(const char *s, char *out, size_t cap) {
    size_t n = 0;
    for (; *s && n + 1 < cap; s++)
        if (isalnum((unsigned char)*s)) out[n++] = (char)tolower((unsigned char)*s);
    out[n] = '\0';
}

static int count_words(const char *s) {
    int n = 0;
    bool in = false;
    for (; *s; s++) {
        bool sp = isspace((unsigned char)*s);
        if (!sp && !in) n++;
        in = !sp;
    }
    return n;
}

enum { MAX_WORDS = 128, WORD_LEN = 32 };

/* Distinct lower-cased words of s of at least 3 letters or digits (at most MAX_WORDS). */
static int content_words(const char *s, char w[][WORD_LEN]) {
    int n = 0, k = 0;
    char cur[WORD_LEN];
    for (const char *p = s;; p++) {
        if (isalnum((unsigned char)*p)) {
            if (k < WORD_LEN - 1) cur[k++] = (char)tolower((unsigned char)*p);
            continue;
        }
        cur[k] = '\0';
        bool dup = k < 3;
        for (int i = 0; i < n && !dup; i++) dup = !strcmp(w[i], cur);
        if (!dup && n < MAX_WORDS) memcpy(w[n++], cur, (size_t)k + 1);
        k = 0;
        if (!*p) break;
    }
    return n;
}

/* Share of the target's content words the candidate also has. */
static double target_word_share(const char *target, const char *cand) {
    char wt[MAX_WORDS][WORD_LEN], wc[MAX_WORDS][WORD_LEN];
    int nt = content_words(target, wt), nc = content_words(cand, wc), hit = 0;
    for (int i = 0; i < nt; i++)
        for (int j = 0; j < nc; j++)
            if (!strcmp(wt[i], wc[j])) {
                hit++;
                break;
            }
    return nt ? (double)hit / nt : 1.0;
}

/* A word about the task itself, absent from the target (then the output is a comment, not a paraphrase). */
static bool talks_about_task(const char *target, const char *cand) {
    static const char *META[] = {"paraphras", "rewrit", "sentence", "translat"};
    char lt[4096], lc[4096];
    size_t i;
    for (i = 0; target[i] && i + 1 < sizeof lt; i++) lt[i] = (char)tolower((unsigned char)target[i]);
    lt[i] = '\0';
    for (i = 0; cand[i] && i + 1 < sizeof lc; i++) lc[i] = (char)tolower((unsigned char)cand[i]);
    lc[i] = '\0';
    for (size_t m = 0; m < sizeof META / sizeof META[0]; m++)
        if (strstr(lc, META[m]) && !strstr(lt, META[m])) return true;
    return false;
}

/* One sentence as MRPC writes them: printable ASCII, a capital, digit or quote first, and
 * . ! or ? last (a closing quote or bracket after it allowed). */
static bool looks_like_sentence(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f) return false;
    if (!(isupper((unsigned char)s[0]) || isdigit((unsigned char)s[0]) || s[0] == '"' || s[0] == '\'')) return false;
    size_t e = n;
    while (e > 0 && (s[e - 1] == '"' || s[e - 1] == '\'' || s[e - 1] == ')')) e--;
    return e > 0 && (s[e - 1] == '.' || s[e - 1] == '!' || s[e - 1] == '?');
}

/* The output's first non-blank line, trimmed, one pair of wrapping double quotes removed. */
static void first_line(const char *raw, char *clean, size_t cap) {
    while (*raw == '\n' || *raw == '\r' || isspace((unsigned char)*raw)) raw++;
    size_t n = strcspn(raw, "\r\n");
    while (n > 0 && isspace((unsigned char)raw[n - 1])) n--;
    if (n >= 2 && raw[0] == '"' && raw[n - 1] == '"' && !memchr(raw + 1, '"', n - 2)) raw++, n -= 2;
    if (n >= cap) n = cap - 1;
    memcpy(clean, raw, n);
    clean[n] = '\0';
}

lw_paraphrase_reason lw_paraphrase_filter(const char *target, const char *raw, const char *const *kept, int n_kept,
                                          char *clean, size_t cap) {
    if (!target || !raw || !clean || (!kept && n_kept > 0))
        return (lw_paraphrase_reason)lw_fail("lw_paraphrase_filter: %s is NULL",
                                             !target ? "the target" : !raw ? "raw" : !clean ? "clean" : "kept");
    /* a negative count was read as none kept (a duplicate passed), a NULL entry dereferenced */
    if (n_kept < 0) return (lw_paraphrase_reason)lw_fail("lw_paraphrase_filter: n_kept = %d is negative", n_kept);
    for (int k = 0; k < n_kept; k++)
        if (!kept[k]) return (lw_paraphrase_reason)lw_fail("lw_paraphrase_filter: kept[%d] is NULL", k);
    if (cap == 0) return LW_PARA_EMPTY; /* no room for even the terminating byte: nothing kept */
    first_line(raw, clean, cap);
    size_t n = strlen(clean);
    if (n == 0) return LW_PARA_EMPTY;
    if (!looks_like_sentence(clean, n)) return LW_PARA_NOT_SENTENCE;
    if (talks_about_task(target, clean)) return LW_PARA_META;
    int wt = count_words(target), wc = count_words(clean), lo = (wt + 1) / 2;
    if (wc < (lo > 4 ? lo : 4)) return LW_PARA_TOO_SHORT;
    if (wc > 2 * wt) return LW_PARA_TOO_LONG;
    if (target_word_share(target, clean) < 0.3) return LW_PARA_OFF_TOPIC;
    char a[4096], b[4096];
    normalize(clean, a, sizeof a);
    normalize(target, b, sizeof b);
    if (!strcmp(a, b)) return LW_PARA_IDENTICAL;
    for (int i = 0; i < n_kept; i++) {
        normalize(kept[i], b, sizeof b);
        if (!strcmp(a, b)) return LW_PARA_DUPLICATE;
    }
    return LW_PARA_KEPT;
}
