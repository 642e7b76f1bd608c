/* The probe panel's sentence sets: a small attribute grammar (subject x colour x object x place),
 * word-shuffled reorderings, the symbolic sets (negation, aggregation, quantification), all
 * deterministic from a seed, and MRPC sentences and high-overlap non-paraphrase pairs read in
 * place from ../shared/data/mrpc (see its PROVENANCE.md). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"
#include "io/mrpc.h"
#include "panel/probe_internal.h"

static const char *const SUBJECT[LW_PROBE_N_VALUES] = {"girl", "old man", "teacher", "farmer", "doctor"};
static const char *const COLOUR[LW_PROBE_N_VALUES] = {"red", "blue", "green", "yellow", "black"};
static const char *const OBJECT[LW_PROBE_N_VALUES] = {"box", "cup", "ball", "hat", "book"};
static const char *const PLACE[LW_PROBE_N_VALUES] = {"kitchen", "garden", "office", "car", "library"};
static const char *const PLURAL[LW_PROBE_N_VALUES] = {"farmers", "teachers", "doctors", "girls", "boys"};
static const char *const QUANT[4] = {"All", "Some", "None", "Most"};

void lw_probe_texts_free(lw_probe_texts *t) {
    for (int i = 0; t->text && i < t->n; i++) free(t->text[i]);
    free(t->text);
    free(t->attr);
    memset(t, 0, sizeof *t);
}

static int texts_alloc(lw_probe_texts *t, int n, bool with_attr) {
    memset(t, 0, sizeof *t);
    t->text = calloc((size_t)(n > 0 ? n : 1), sizeof *t->text);
    if (with_attr) t->attr = calloc((size_t)(n > 0 ? n : 1), sizeof *t->attr);
    if (!t->text || (with_attr && !t->attr)) {
        lw_probe_texts_free(t);
        return lw_fail("probes: out of memory");
    }
    return 0;
}

static int texts_push(lw_probe_texts *t, const char *s) {
    if (!(t->text[t->n] = strdup(s))) return lw_fail("probes: out of memory");
    t->n++;
    return 0;
}

/* The first n of a seeded permutation of 0..total-1. */
static int *draw(int total, int n, uint64_t seed) {
    int32_t *perm = malloc(sizeof *perm * (size_t)total);
    int *out = malloc(sizeof *out * (size_t)(n > 0 ? n : 1));
    if (!perm || !out) {
        free(perm);
        free(out);
        lw_fail("probes: out of memory");
        return NULL;
    }
    for (int i = 0; i < total; i++) perm[i] = i;
    lw_rng rng;
    lw_rng_seed(&rng, seed);
    lw_rng_shuffle_i32(&rng, perm, total);
    for (int i = 0; i < n; i++) out[i] = perm[i];
    free(perm);
    return out;
}

static void decode(int code, int attr[LW_PROBE_N_ATTR]) {
    for (int k = LW_PROBE_N_ATTR - 1; k >= 0; k--) attr[k] = code % LW_PROBE_N_VALUES, code /= LW_PROBE_N_VALUES;
}

void lw_probe_grammar_sentence(const int a[LW_PROBE_N_ATTR], char *buf, size_t n) {
    snprintf(buf, n, "The %s put the %s %s in the %s.", SUBJECT[a[0]], COLOUR[a[1]], OBJECT[a[2]], PLACE[a[3]]);
}

int lw_probe_grammar(int n, uint64_t seed, lw_probe_texts *out) {
    const int total = 625; /* 5^4 */
    if (n < 2 || n > total) return lw_fail("probes: grammar combinations must be 2..%d (got %d)", total, n);
    int *code = draw(total, n, seed);
    if (!code || texts_alloc(out, n, true) != 0) {
        free(code);
        return -1;
    }
    int rc = 0;
    char s[256];
    for (int i = 0; rc == 0 && i < n; i++) {
        decode(code[i], out->attr[i]);
        lw_probe_grammar_sentence(out->attr[i], s, sizeof s);
        rc = texts_push(out, s);
    }
    free(code);
    if (rc != 0) lw_probe_texts_free(out);
    return rc;
}

int lw_probe_roles_texts(lw_probe_texts *out) {
    const int n = LW_PROBE_N_VALUES * (LW_PROBE_N_VALUES - 1) * LW_PROBE_N_VALUES;
    if (texts_alloc(out, n, true) != 0) return -1;
    char s[256];
    int rc = 0;
    for (int g = 0; g < LW_PROBE_N_VALUES; g++)
        for (int r = 0; r < LW_PROBE_N_VALUES; r++)
            for (int o = 0; rc == 0 && g != r && o < LW_PROBE_N_VALUES; o++) {
                int *a = out->attr[out->n];
                a[0] = g, a[1] = o, a[2] = r, a[3] = 0;
                snprintf(s, sizeof s, "The %s gave the %s to the %s.", SUBJECT[g], OBJECT[o], SUBJECT[r]);
                rc = texts_push(out, s);
            }
    if (rc != 0) lw_probe_texts_free(out);
    return rc;
}

int lw_probe_shuffle_words(const char *s, uint64_t seed, char *buf, size_t n) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", s);
    size_t len = strlen(tmp);
    bool period = len > 0 && tmp[len - 1] == '.';
    if (period) tmp[--len] = '\0';
    char *word[128];
    int32_t order[128];
    int nw = 0;
    char *save = NULL;
    for (char *w = strtok_r(tmp, " ", &save); w && nw < 128; w = strtok_r(NULL, " ", &save)) order[nw] = nw, word[nw++] = w;
    lw_rng rng;
    lw_rng_seed(&rng, seed);
    for (int attempt = 0; attempt < 64; attempt++) {
        lw_rng_shuffle_i32(&rng, order, nw);
        size_t off = 0;
        buf[0] = '\0';
        bool same = true;
        for (int i = 0; i < nw; i++) {
            same = same && strcmp(word[order[i]], word[i]) == 0;
            off += (size_t)snprintf(buf + off, off < n ? n - off : 0, "%s%s", i ? " " : "", word[order[i]]);
        }
        if (period) snprintf(buf + off, off < n ? n - off : 0, ".");
        if (!same) return 0;
    }
    return lw_fail("probes: cannot reorder the words of \"%s\" (fewer than 2 distinct words)", s);
}

/* ---------------------------------------------------------------- MRPC */

/* A sentence the probes use: ASCII, 6 to 40 words. */
static bool usable(const char *s) {
    int words = 0;
    bool in_word = false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x80 || (*p < 0x20 && *p != '\t')) return false;
        if (isspace(*p)) in_word = false;
        else if (!in_word) in_word = true, words++;
    }
    return words >= 6 && words <= 40;
}

/* Each pair of an MRPC file (read by io/mrpc.h, whose errors name file, line and field). */
static int each_mrpc_pair(const char *dir, const char *file, lw_mrpc_fn fn, void *ud) {
    char path[4096];
    snprintf(path, sizeof path, "%s/msr_paraphrase_%s.txt", dir, file);
    return lw_mrpc_each(path, fn, ud);
}

typedef struct {
    lw_probe_texts *t;
    int cap;
    double min_jaccard;   /* confusers: the least word overlap kept */
} collect;

static int push_grow(collect *c, const char *s) {
    if (c->t->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 1024;
        char **g = realloc(c->t->text, sizeof *g * (size_t)cap);
        if (!g) return lw_fail("probes: out of memory");
        c->t->text = g, c->cap = cap;
    }
    return texts_push(c->t, s);
}

static int collect_sentence(const lw_mrpc_pair *p, void *ud) {
    collect *c = ud;
    if (usable(p->s1) && push_grow(c, p->s1) != 0) return -1;
    if (usable(p->s2) && push_grow(c, p->s2) != 0) return -1;
    return 0;
}

/* Lower-cased alphanumeric words of s, at most max. */
static int words_of(const char *s, char w[][32], int max) {
    int n = 0, k = 0;
    for (const char *p = s;; p++) {
        if (isalnum((unsigned char)*p)) {
            if (k < 31) w[n][k++] = (char)tolower((unsigned char)*p);
        } else if (k > 0) {
            w[n][k] = '\0';
            k = 0;
            if (++n == max) break;
        }
        if (!*p) break;
    }
    return n;
}

static double word_jaccard(const char *a, const char *b) {
    char wa[64][32], wb[64][32];
    int na = words_of(a, wa, 64), nb = words_of(b, wb, 64), inter = 0, ua = 0;
    for (int i = 0; i < na; i++) { /* distinct words of a, and how many of them b has */
        bool dup = false, in_b = false;
        for (int j = 0; j < i && !dup; j++) dup = !strcmp(wa[i], wa[j]);
        if (dup) continue;
        ua++;
        for (int j = 0; j < nb && !in_b; j++) in_b = !strcmp(wa[i], wb[j]);
        inter += in_b;
    }
    int ub = 0;
    for (int i = 0; i < nb; i++) {
        bool dup = false;
        for (int j = 0; j < i && !dup; j++) dup = !strcmp(wb[i], wb[j]);
        ub += !dup;
    }
    int uni = ua + ub - inter;
    return uni > 0 ? (double)inter / uni : 0;
}

static int collect_confuser(const lw_mrpc_pair *p, void *ud) {
    collect *c = ud;
    const char *s1 = p->s1, *s2 = p->s2;
    if (p->quality != 0 || !usable(s1) || !usable(s2) || !strcmp(s1, s2)) return 0;
    if (word_jaccard(s1, s2) < c->min_jaccard) return 0;
    return push_grow(c, s1) != 0 || push_grow(c, s2) != 0 ? -1 : 0;
}

/* Keeps the first n units (1 sentence or a pair) of a seeded shuffle, duplicates of a kept
 * text dropped, in *t. */
static int keep_drawn(lw_probe_texts *t, int unit, int n, uint64_t seed) {
    int units = t->n / unit;
    int *order = draw(units, units, seed);
    if (!order) return -1;
    char **kept = calloc((size_t)(n * unit > 0 ? n * unit : 1), sizeof *kept);
    if (!kept) {
        free(order);
        return lw_fail("probes: out of memory");
    }
    int nk = 0;
    for (int u = 0; u < units && nk < n * unit; u++) {
        bool dup = false;
        for (int j = 0; j < nk && !dup; j++)
            for (int k = 0; k < unit; k++) dup = dup || !strcmp(kept[j], t->text[order[u] * unit + k]);
        if (dup) continue;
        for (int k = 0; k < unit; k++) {
            kept[nk++] = t->text[order[u] * unit + k];
            t->text[order[u] * unit + k] = NULL;
        }
    }
    for (int i = 0; i < t->n; i++) free(t->text[i]);
    free(t->text);
    free(order);
    t->text = kept;
    t->n = nk;
    return 0;
}

int lw_probe_mrpc_sentences(const char *dir, const char *file, int n, uint64_t seed, lw_probe_texts *out) {
    memset(out, 0, sizeof *out);
    collect c = {out, 0, 0};
    if (!dir) return lw_fail("probes: no MRPC directory given (the probes need ../shared/data/mrpc)");
    if (each_mrpc_pair(dir, file, collect_sentence, &c) != 0 || keep_drawn(out, 1, n, seed) != 0) {
        lw_probe_texts_free(out);
        return -1;
    }
    /* fewer than asked were used silently (n_calib 10^6 fitted the inverse on what there was,
     * while probes.json recorded 10^6) */
    if (out->n < n) {
        int have = out->n;
        lw_probe_texts_free(out);
        return lw_fail("probes: %s/msr_paraphrase_%s.txt has %d distinct usable sentences, %d asked (%s): ask for at "
                       "most %d",
                       dir, file, have, n, !strcmp(file, "train") ? "n_calib" : "n_natural", have);
    }
    return 0;
}

int lw_probe_mrpc_confusers(const char *dir, int n, double min_jaccard, uint64_t seed, lw_probe_texts *out) {
    memset(out, 0, sizeof *out);
    collect c = {out, 0, min_jaccard};
    if (!dir) return lw_fail("probes: no MRPC directory given (the probes need ../shared/data/mrpc)");
    if (each_mrpc_pair(dir, "test", collect_confuser, &c) != 0 || keep_drawn(out, 2, n, seed) != 0) {
        lw_probe_texts_free(out);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- symbolic sets */

int lw_probe_negation_set(int n, uint64_t seed, lw_probe_texts *out) {
    if (n < 2 || n > 125) return lw_fail("probes: negation items must be 2..125 (got %d)", n);
    int *code = draw(125, n, seed);
    if (!code || texts_alloc(out, 2 * n, false) != 0) {
        free(code);
        return -1;
    }
    int rc = 0;
    char s[256];
    for (int i = 0; rc == 0 && i < n; i++) {
        int a = code[i] / 25, b = code[i] / 5 % 5, o = code[i] % 5;
        snprintf(s, sizeof s, "The %s likes the %s %s.", SUBJECT[a], COLOUR[b], OBJECT[o]);
        rc = texts_push(out, s);
        snprintf(s, sizeof s, "The %s does not like the %s %s.", SUBJECT[a], COLOUR[b], OBJECT[o]);
        if (rc == 0) rc = texts_push(out, s);
    }
    free(code);
    if (rc != 0) lw_probe_texts_free(out);
    return rc;
}

int lw_probe_aggregation_set(int n, uint64_t seed, lw_probe_texts *out) {
    if (n < 2 || n > 625) return lw_fail("probes: aggregation items must be 2..625 (got %d)", n);
    int *code = draw(625, n, seed);
    if (!code || texts_alloc(out, 3 * n, false) != 0) {
        free(code);
        return -1;
    }
    int rc = 0;
    char s[256];
    for (int i = 0; rc == 0 && i < n; i++) {
        int a[LW_PROBE_N_ATTR];
        decode(code[i], a);
        snprintf(s, sizeof s, "The %s is in the %s.", SUBJECT[a[0]], PLACE[a[3]]);
        rc = texts_push(out, s);
        snprintf(s, sizeof s, "The %s is %s.", OBJECT[a[2]], COLOUR[a[1]]);
        if (rc == 0) rc = texts_push(out, s);
        snprintf(s, sizeof s, "The %s is in the %s and the %s is %s.", SUBJECT[a[0]], PLACE[a[3]], OBJECT[a[2]],
                 COLOUR[a[1]]);
        if (rc == 0) rc = texts_push(out, s);
    }
    free(code);
    if (rc != 0) lw_probe_texts_free(out);
    return rc;
}

int lw_probe_quantifier_set(int n, uint64_t seed, lw_probe_texts *out) {
    if (n < 2 || n > 100) return lw_fail("probes: quantification templates must be 2..100 (got %d)", n);
    int *code = draw(100, n, seed); /* noun 5 x place 5 x quantifier 4 */
    if (!code || texts_alloc(out, 8 * n, false) != 0) {
        free(code);
        return -1;
    }
    int rc = 0;
    char s[256];
    for (int pass = 0; pass < 2; pass++) /* quantifier variants of every template, then noun variants */
        for (int t = 0; rc == 0 && t < n; t++) {
            int noun = code[t] / 20, place = code[t] / 4 % 5, q = code[t] % 4;
            for (int k = 0; rc == 0 && k < 4; k++) {
                int qk = pass == 0 ? k : q, nk = pass == 0 ? noun : (noun + k) % 5;
                snprintf(s, sizeof s, "%s of the %s are in the %s.", QUANT[qk], PLURAL[nk], PLACE[place]);
                rc = texts_push(out, s);
            }
        }
    free(code);
    if (rc != 0) lw_probe_texts_free(out);
    return rc;
}
