/* Candidate regimes from their spec ("bank", "random:D", "cluster:K:D", "label:FILE",
 * "hard:FILE", "para:FILE:D"): the lists retrieval scores each query against. Files name rows
 * by row id; row ids are looked up through a sorted index (a corpus of 10^5 rows and a file
 * of as many lines must not cost 10^10 comparisons). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/rng.h"
#include "latentwire/retrieval.h"

/* ------------------------------------------------------------------ row-id index */

typedef struct {
    int64_t id;
    int32_t pos;
} id_pos;

static int by_id(const void *a, const void *b) {
    int64_t x = ((const id_pos *)a)->id, y = ((const id_pos *)b)->id;
    return (x > y) - (x < y);
}

/* Sorted (row id, position) pairs; a row id twice is an error (the file could not say which). */
static id_pos *index_ids(const int64_t *ids, int32_t n, const char *what) {
    id_pos *ix = malloc(sizeof *ix * (size_t)(n > 0 ? n : 1));
    if (!ix) {
        lw_fail("regime: out of memory");
        return NULL;
    }
    for (int32_t i = 0; i < n; i++) ix[i] = (id_pos){ids[i], i};
    qsort(ix, (size_t)n, sizeof *ix, by_id);
    for (int32_t i = 1; i < n; i++)
        if (ix[i].id == ix[i - 1].id) {
            lw_fail("regime: row id %lld appears twice among the %s", (long long)ix[i].id, what);
            free(ix);
            return NULL;
        }
    return ix;
}

static int32_t lookup(const id_pos *ix, int32_t n, int64_t id) {
    id_pos key = {id, 0};
    const id_pos *hit = bsearch(&key, ix, (size_t)n, sizeof *ix, by_id);
    return hit ? hit->pos : -1;
}

/* ------------------------------------------------------------------ spec parsing */

/* A whole decimal integer in [lo, hi] spanning s up to end (or the NUL). */
static bool parse_int(const char *s, const char *end, long lo, long hi, long *out) {
    if (!end) end = s + strlen(s);
    if (end == s || end - s > 18) return false;
    char buf[24];
    memcpy(buf, s, (size_t)(end - s));
    buf[end - s] = '\0';
    char *e;
    errno = 0;
    long v = strtol(buf, &e, 10);
    if (errno || *e || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* ------------------------------------------------------------------ file regimes */

typedef struct {
    int32_t **neg;  /* per query: candidate positions of its negatives */
    int *n_neg;
} negatives;

static void negatives_free(negatives *ng, int32_t nq) {
    for (int32_t q = 0; ng->neg && q < nq; q++) free(ng->neg[q]);
    free(ng->neg);
    free(ng->n_neg);
}

/* hard:/para: files: lines {"row_id": R, "negatives": [R1, ...]}; R a query's row id (lines for
 * rows that are no query are skipped), R1... candidates' row ids (an unknown one is an error).
 * A query's second line, or a query listing its own target as a negative, is an error: the
 * lines were merged and the target dropped without a word. */
static int read_negatives(const char *path, const lw_regime_input *in, const id_pos *qix, const id_pos *cix,
                          negatives *ng) {
    ng->neg = calloc((size_t)in->nq, sizeof *ng->neg);
    ng->n_neg = calloc((size_t)in->nq, sizeof *ng->n_neg);
    size_t len;
    char *text = ng->neg && ng->n_neg ? lw_read_text_file(path, &len, "negatives file") : NULL;
    int *first = text ? calloc((size_t)in->nq, sizeof *first) : NULL; /* each query's line, 0: none yet */
    if (!text || !first) {
        free(text);
        return text ? lw_fail("%s: out of memory", path) : -1;
    }
    int rc = 0, line_no = 0;
    char *cursor = text;
    for (char *line; rc == 0 && (line = lw_next_line(&cursor));) {
        line_no++;
        if (strspn(line, " \t\r") == strlen(line)) continue; /* a blank line: skipped, but counted */
        json_t *obj = json_loads(line, 0, NULL);
        json_t *rid = json_object_get(obj, "row_id"), *negs = json_object_get(obj, "negatives");
        if (!json_is_integer(rid) || !json_is_array(negs)) {
            rc = lw_fail("%s:%d: expected {\"row_id\": int, \"negatives\": [int, ...]}", path, line_no);
        } else {
            int32_t q = lookup(qix, in->nq, json_integer_value(rid));
            size_t k;
            json_t *v;
            if (q >= 0 && first[q])
                rc = lw_fail("%s:%d: row_id %lld is listed again (first on line %d): give each query one line", path,
                             line_no, (long long)json_integer_value(rid), first[q]);
            else if (q >= 0)
                first[q] = line_no;
            if (rc == 0 && q >= 0) {
                int32_t *g = realloc(ng->neg[q], sizeof(int32_t) * (ng->n_neg[q] + json_array_size(negs) + 1));
                if (!g) rc = lw_fail("%s: out of memory", path);
                else ng->neg[q] = g;
            }
            json_array_foreach(negs, k, v) {
                if (rc != 0) break;
                int32_t hit = json_is_integer(v) ? lookup(cix, in->nc, json_integer_value(v)) : -1;
                if (hit < 0) {
                    rc = json_is_integer(v) ? lw_fail("%s:%d: negative row id %lld is not among the candidates", path,
                                                      line_no, (long long)json_integer_value(v))
                                            : lw_fail("%s:%d: negatives must be integer row ids", path, line_no);
                    break;
                }
                if (q >= 0 && hit == in->gold[q]) {
                    rc = lw_fail("%s:%d: row_id %lld lists its own target among its negatives", path, line_no,
                                 (long long)json_integer_value(v));
                    break;
                }
                if (q < 0) continue;
                bool dup = false;
                for (int t = 0; t < ng->n_neg[q] && !dup; t++) dup = ng->neg[q][t] == hit;
                if (!dup) ng->neg[q][ng->n_neg[q]++] = hit;
            }
        }
        json_decref(obj);
    }
    free(first);
    free(text);
    return rc;
}

/* Target, its negatives and D random others (distinct, not the target, not a negative). */
static int lists_from_negatives(const lw_regime_input *in, const negatives *ng, int D, int64_t **off, int32_t **ids) {
    int64_t total = 0;
    for (int32_t q = 0; q < in->nq; q++) {
        int room = in->nc - 1 - ng->n_neg[q];
        total += 1 + ng->n_neg[q] + (D < room ? D : room);
    }
    *off = malloc(sizeof(int64_t) * (size_t)(in->nq + 1));
    *ids = malloc(sizeof(int32_t) * (size_t)(total > 0 ? total : 1));
    uint8_t *taken = calloc((size_t)in->nc, 1);
    if (!*off || !*ids || !taken) {
        free(taken);
        return lw_fail("regime: out of memory");
    }
    lw_rng g;
    lw_rng_seed(&g, in->seed);
    int64_t n = 0;
    (*off)[0] = 0;
    for (int32_t q = 0; q < in->nq; q++) {
        int64_t start = n;
        (*ids)[n++] = in->gold[q];
        for (int t = 0; t < ng->n_neg[q]; t++) (*ids)[n++] = ng->neg[q][t];
        for (int64_t t = start; t < n; t++) taken[(*ids)[t]] = 1;
        int room = in->nc - 1 - ng->n_neg[q], want = D < room ? D : room;
        for (int got = 0; got < want;) {
            int32_t c = (int32_t)lw_rng_below(&g, (uint64_t)in->nc);
            if (taken[c]) continue;
            taken[c] = 1;
            (*ids)[n++] = c;
            got++;
        }
        for (int64_t t = start; t < n; t++) taken[(*ids)[t]] = 0;
        (*off)[q + 1] = n;
    }
    free(taken);
    return 0;
}

/* label:FILE: lines {"row_id": R, "label": L} (string or integer); each query's candidates are
 * the rows sharing its target's label; rows without a line are a group of their own, a row given
 * two different labels is refused, and lines for rows not among the candidates are skipped (one
 * label file serves every subset of its rows). */
static int label_regime(const char *path, const lw_regime_input *in, const id_pos *cix, int64_t **off, int32_t **ids) {
    size_t len;
    char *text = lw_read_text_file(path, &len, "label file");
    if (!text) return -1;
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)(in->nc ? in->nc : 1));
    json_t *names = json_object(); /* label -> group number */
    int *labeled_on = calloc((size_t)(in->nc ? in->nc : 1), sizeof(int)); /* the line that labeled row b */
    for (int32_t b = 0; labels && b < in->nc; b++) labels[b] = -1 - b;
    int rc = labels && labeled_on ? 0 : lw_fail("%s: out of memory", path), line_no = 0;
    char *cursor = text;
    for (char *line; rc == 0 && (line = lw_next_line(&cursor));) {
        line_no++;
        if (strspn(line, " \t\r") == strlen(line)) continue; /* a blank line: skipped, but counted */
        json_t *obj = json_loads(line, 0, NULL);
        json_t *rid = json_object_get(obj, "row_id"), *lab = json_object_get(obj, "label");
        char buf[32];
        const char *name = json_is_string(lab) ? json_string_value(lab) : NULL;
        if (json_is_integer(lab)) {
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(lab));
            name = buf;
        }
        if (!json_is_integer(rid) || !name) {
            rc = lw_fail("%s:%d: expected {\"row_id\": int, \"label\": string or int}", path, line_no);
        } else {
            json_t *grp = json_object_get(names, name);
            if (!grp) json_object_set_new(names, name, grp = json_integer((json_int_t)json_object_size(names)));
            int32_t b = lookup(cix, in->nc, json_integer_value(rid)), g = (int32_t)json_integer_value(grp);
            if (b >= 0 && labeled_on && labeled_on[b] && labels[b] != g)
                rc = lw_fail("%s:%d: row_id %lld already has another label (line %d): one label per row", path,
                             line_no, (long long)json_integer_value(rid), labeled_on[b]);
            else if (b >= 0 && labeled_on) labels[b] = g, labeled_on[b] = line_no;
        }
        json_decref(obj);
    }
    if (rc == 0) rc = lw_candidates_same_label(in->nq, in->gold, in->nc, labels, 0, 1, off, ids);
    json_decref(names);
    free(labels);
    free(labeled_on);
    free(text);
    return rc;
}

/* ------------------------------------------------------------------ the spec */

static int file_regime(const char *option, const char *spec, const lw_regime_input *in, int64_t **off, int32_t **ids) {
    bool para = !strncmp(spec, "para:", 5);
    char *path = strdup(strchr(spec, ':') + 1);
    long D = 0;
    int rc = 0;
    if (para) { /* para:FILE:D, the path itself may hold colons: D after the last one */
        char *colon = strrchr(path, ':');
        if (!colon || !parse_int(colon + 1, NULL, 0, 1L << 30, &D)) {
            free(path);
            return lw_fail("%s \"%s\": para:FILE:D needs a count of random distractors D after the file", option, spec);
        }
        *colon = '\0';
    }
    id_pos *qix = index_ids(in->query_row_id, in->nq, "queries"), *cix = NULL;
    if (!qix) rc = -1;
    if (rc == 0 && !(cix = index_ids(in->cand_row_id, in->nc, "candidates"))) rc = -1;
    if (rc == 0 && !strncmp(spec, "label:", 6)) {
        rc = label_regime(path, in, cix, off, ids);
    } else if (rc == 0) {
        negatives ng = {0};
        rc = read_negatives(path, in, qix, cix, &ng);
        if (rc == 0) rc = lists_from_negatives(in, &ng, (int)D, off, ids);
        negatives_free(&ng, in->nq);
    }
    free(qix);
    free(cix);
    free(path);
    return rc;
}

/* Refuses lists that leave a query with its target alone (ranked first for free). */
static int check_cover(const char *option, const char *spec, const lw_regime_input *in, const int64_t *off,
                       double *mean_candidates) {
    int32_t n_alone, first;
    lw_candidates_summary(in->nq, off, in->nc, mean_candidates, &n_alone, &first);
    if (n_alone == 0) return 0;
    bool label = !strncmp(spec, "label:", 6), neg = !strncmp(spec, "hard:", 5) || !strncmp(spec, "para:", 5);
    char what[4200]; /* a file regime's file, else the option and its spec */
    if (label || neg) snprintf(what, sizeof what, "%s", strchr(spec, ':') + 1);
    else snprintf(what, sizeof what, "%s \"%s\"", option, spec);
    return lw_fail("%s: %d of %d queries have no candidate besides their target (first: query row_id %lld); %s",
                   what, n_alone, in->nq,
                   in->query_row_id ? (long long)in->query_row_id[first] : (long long)first,
                   label ? "give every query's row a line there, with a label another candidate row shares"
                   : neg ? "give every query's row_id a line there with at least one negative"
                         : "choose a regime that gives every query a distractor");
}

int lw_candidates_from_spec(const char *spec, const lw_regime_input *in, int64_t **off, int32_t **ids,
                            double *mean_candidates) {
    return lw_candidates_from_option("--regime", spec, in, off, ids, mean_candidates);
}

/* D distractors (and K clusters) that no query could have: refused the same way for every regime,
 * in the user's terms (the option and the spec), before any work. A regime may give a query fewer
 * than D where its own pool is smaller (a small cluster, a row with many negatives): that is what
 * "at most D" means there, and the mean candidate count says how many there were. 0 or -1. */
static int check_counts(const char *option, const char *spec, int32_t nc, long K, long D) {
    if (K > nc)
        return lw_fail("%s \"%s\": %ld clusters of %d candidates: give K <= %d", option, spec, K, nc, nc);
    if (D > nc - 1)
        return lw_fail("%s \"%s\": %ld distractors, but each query has only %d other candidates: give D <= %d",
                       option, spec, D, nc - 1, nc - 1);
    return 0;
}

int lw_candidates_from_option(const char *option, const char *spec, const lw_regime_input *in, int64_t **off,
                              int32_t **ids, double *mean_candidates) {
    if (!in || !off || !ids) return lw_fail("%s: %s is NULL", option ? option : "regime", !in ? "the input" : !off ? "off" : "ids");
    *off = NULL;
    *ids = NULL;
    int rc = -2;
    long D, K;
    const char *colon;
    if (!spec || !strcmp(spec, "bank")) {
        rc = 0;
    } else if (!strncmp(spec, "random:", 7)) {
        if (parse_int(spec + 7, NULL, 1, 1L << 30, &D))
            rc = check_counts(option, spec, in->nc, 0, D) ? -1
                 : lw_candidates_random(in->nq, in->gold, in->nc, (int)D, in->seed, off, ids);
    } else if (!strncmp(spec, "cluster:", 8) && (colon = strchr(spec + 8, ':'))) {
        if (parse_int(spec + 8, colon, 1, 1L << 20, &K) && parse_int(colon + 1, NULL, 1, 1L << 30, &D))
            rc = check_counts(option, spec, in->nc, K, D) ? -1
                 : lw_candidates_clustered(in->nq, in->gold, in->C, in->nc, in->dim, (int)K, (int)D, in->seed, off, ids);
    } else if ((!strncmp(spec, "label:", 6) || !strncmp(spec, "hard:", 5) || !strncmp(spec, "para:", 5)) &&
               spec[strcspn(spec, ":") + 1]) {
        if (!in->query_row_id || !in->cand_row_id)
            return lw_fail("%s \"%s\": a file regime needs the queries' and candidates' row ids", option, spec);
        const char *last = strrchr(spec, ':');
        if (!strncmp(spec, "para:", 5) && last > spec + 4 && parse_int(last + 1, NULL, 0, 1L << 30, &D) &&
            check_counts(option, spec, in->nc, 0, D) != 0)
            return -1;
        rc = file_regime(option, spec, in, off, ids);
    }
    if (rc == -2)
        return lw_fail("%s \"%s\": use bank, random:D, cluster:K:D, label:FILE, hard:FILE or para:FILE:D "
                       "(D, K positive integers)", option, spec);
    if (rc == 0) rc = check_cover(option, spec ? spec : "bank", in, *off, mean_candidates);
    if (rc != 0) {
        free(*off);
        free(*ids);
        *off = NULL;
        *ids = NULL;
        return -1;
    }
    return 0;
}

int lw_regime_file(const char *spec, char *buf, size_t n) {
    if (!buf || n == 0) return lw_fail("lw_regime_file: no buffer for the file name");
    buf[0] = '\0';
    if (!spec || (strncmp(spec, "label:", 6) && strncmp(spec, "hard:", 5) && strncmp(spec, "para:", 5))) return 0;
    const char *file = strchr(spec, ':') + 1;
    size_t len = strlen(file);
    if (!strncmp(spec, "para:", 5) && strrchr(file, ':')) len = (size_t)(strrchr(file, ':') - file);
    /* a name cut short would name another file, and the caller would open that one */
    if (len >= n) return lw_fail("regime \"%s\": its file name is %zu bytes, longer than %zu", spec, len, n - 1);
    memcpy(buf, file, len);
    buf[len] = '\0';
    return 1;
}
