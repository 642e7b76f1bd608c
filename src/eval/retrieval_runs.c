/* Per-query retrieval records and the paired comparison of two runs (see retrieval_runs.h):
 * moved from the CLI so that every verb's work is a library call. */
#include "latentwire/retrieval_runs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/strmap.h"
#include "eval/ci_json.h"
#include "latentwire/files.h"

int lw_retrieval_write_per_query(const char *path, const char *const *query_ids, int n, const double *m,
                                 const lw_retrieval_params *rp) {
    return lw_retrieval_write_per_query_corpus(path, NULL, query_ids, n, m, rp);
}

int lw_retrieval_write_per_query_corpus(const char *path, const char *corpus, const char *const *query_ids, int n,
                                        const double *m, const lw_retrieval_params *rp) {
    static const char *const FN = "lw_retrieval_write_per_query";
    /* no query at all is refused too: lw_retrieval_paired refuses the empty file it would write */
    if (!path || n < 1 || !query_ids || !m)
        return lw_fail("%s: %s", FN, !path ? "no path" : n < 0 ? "a negative query count" : n == 0 ? "no queries scored"
                                                                                         : "query_ids or m is NULL");
    int nm = lw_retrieval_n_metrics(rp);
    if (nm < 0) return -1;
    /* what lw_retrieval_paired would refuse to read back is refused before anything is written */
    for (int q = 0; q < n; q++) {
        if (!query_ids[q] || !*query_ids[q]) return lw_fail("%s: query %d has no id", FN, q);
        for (int c = 0; c < nm; c++) {
            double x = m[(size_t)q * nm + c];
            char buf[32];
            if (!(x >= 0.0 && x <= 1.0))
                return lw_fail("%s: query \"%s\": %s = %g is not in [0, 1]", FN, query_ids[q],
                               lw_retrieval_metric_name(rp, c, buf, sizeof buf), x);
        }
    }
    lw_strmap seen = {0}; /* a query written twice is refused by the reader: the file would be useless */
    for (int q = 0; q < n; q++) {
        int32_t had = lw_strmap_put(&seen, query_ids[q], q);
        if (had != -2) {
            lw_strmap_free(&seen);
            return had == -1 ? lw_fail("%s: out of memory", FN)
                             : lw_fail("%s: query id \"%s\" is given twice (queries %d and %d)", FN, query_ids[q], had, q);
        }
    }
    lw_strmap_free(&seen);
    lw_atomic_file af;
    if (lw_atomic_open(&af, path) != 0) return -1;
    for (int q = 0; q < n; q++) {
        json_t *o = json_object(), *mj = json_object();
        json_object_set_new(o, "query", json_string(query_ids[q]));
        if (corpus) json_object_set_new(o, "corpus", json_string(corpus));
        for (int c = 0; c < nm; c++) {
            char buf[32];
            json_object_set_new(mj, lw_retrieval_metric_name(rp, c, buf, sizeof buf), json_real(m[(size_t)q * nm + c]));
        }
        json_object_set_new(o, "metrics", mj);
        char *line = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        int bad = !line || fprintf(af.fp, "%s\n", line) < 0;
        free(line);
        if (bad) {
            int e = errno;
            lw_atomic_abort(&af);
            return lw_fail("%s: write failed: %s", path, strerror(e));
        }
    }
    return lw_atomic_commit(&af);
}

/* One run's records: the query ids and their metrics objects, in file order. */
typedef struct {
    int n;
    char **id;
    json_t **metrics;
    int *line;          /* each record's line in its file (blank lines counted) */
    char *corpus;       /* the candidate set every record names, or NULL when they name none */
} run;

static void run_free(run *r) {
    for (int i = 0; i < r->n; i++) {
        free(r->id[i]);
        json_decref(r->metrics[i]);
    }
    free(r->id);
    free(r->metrics);
    free(r->line);
    free(r->corpus);
}

/* Two candidate-set names name the same set when they agree up to the first space (the hash;
 * the words after it say how the set was made: the same documents written out as their own set
 * are the same candidates). */
static bool same_corpus(const char *a, const char *b) {
    size_t la = strcspn(a, " "), lb = strcspn(b, " ");
    return la == lb && !strncmp(a, b, la);
}

/* Both NULL, or the same string: every record of a file names one candidate set, or none does. */
static bool same_or_both_absent(const char *a, const char *b) { return a && b ? !strcmp(a, b) : a == b; }

static int by_id(const void *a, const void *b) { return strcmp(**(char *const *const *)a, **(char *const *const *)b); }

/* A record's metrics: each a number in [0, 1] (every retrieval metric is a proportion or a ratio
 * of gains), and the same names as the file's first record. 0, or -1 naming the line and metric. */
static int check_metrics(const char *path, int line_no, json_t *mj, json_t *first) {
    const char *key;
    json_t *v;
    json_object_foreach(mj, key, v) {
        double x = json_number_value(v);
        if (!json_is_number(v) || !(x >= 0.0 && x <= 1.0))
            return lw_fail("%s:%d: metric \"%s\" is %s; a retrieval metric is a number in [0, 1]: the file was edited "
                           "or not written by retrieval --per-query", path, line_no, key,
                           json_is_number(v) ? "outside [0, 1]" : "not a number");
        if (first && !json_object_get(first, key))
            return lw_fail("%s:%d: metric \"%s\" is not in the first record: every record must hold the same metrics",
                           path, line_no, key);
    }
    if (first && json_object_size(first) != json_object_size(mj)) {
        json_object_foreach(first, key, v) if (!json_object_get(mj, key))
            return lw_fail("%s:%d: metric \"%s\" of the first record is missing: every record must hold the same "
                           "metrics", path, line_no, key);
    }
    return 0;
}

static int run_load(const char *path, run *r) {
    memset(r, 0, sizeof *r);
    size_t len;
    char *text = lw_read_text_file(path, &len, "per-query records file");
    if (!text) return lw_fail_prefix("--paired: per-query records "); /* lw_read_file named the file and the OS's reason */
    int line_no = 0, rc = 0;
    /* line by line, blank lines counted (strtok skipped them, and the line numbers said wrong) */
    for (char *line = text, *nl; rc == 0 && line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        line_no++;
        if (strspn(line, " \t\r") == strlen(line)) continue;
        json_t *o = json_loads(line, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "query"));
        json_t *mj = json_object_get(o, "metrics"), *cj = json_object_get(o, "corpus");
        const char *corpus = json_string_value(cj);
        char **ids = id && json_is_object(mj) ? realloc(r->id, sizeof(char *) * (size_t)(r->n + 1)) : NULL;
        if (ids) r->id = ids;
        json_t **ms = ids ? realloc(r->metrics, sizeof(json_t *) * (size_t)(r->n + 1)) : NULL;
        if (ms) r->metrics = ms;
        int *lines = ms ? realloc(r->line, sizeof(int) * (size_t)(r->n + 1)) : NULL;
        if (lines) r->line = lines;
        if (!o)
            rc = lw_fail("%s:%d: not JSON; per-query records are written by retrieval --beir ... --per-query FILE", path,
                         line_no);
        else if (!id || !json_is_object(mj))
            rc = lw_fail("%s:%d: not a per-query record ({\"query\": ID, \"metrics\": {...}}); write them with "
                         "retrieval --beir ... --per-query FILE", path, line_no);
        else if (!*id || json_object_size(mj) == 0) /* nothing to pair, or no one to pair it with */
            rc = lw_fail("%s:%d: %s: the file was edited or not written by retrieval --per-query", path, line_no,
                         *id ? "the record has no metrics" : "the query id is empty");
        else if (check_metrics(path, line_no, mj, r->n ? r->metrics[0] : NULL) != 0)
            rc = -1;
        else if ((cj && !corpus) || (r->n && !same_or_both_absent(corpus, r->corpus)))
            rc = lw_fail("%s:%d: the record's \"corpus\" (%s) is not the first record's (%s): every record of a run "
                         "is ranked in one candidate set; the file was edited or joined from two runs", path, line_no,
                         corpus ? corpus : cj ? "not a string" : "none", r->corpus ? r->corpus : "none");
        else if (!r->n && corpus && !(r->corpus = strdup(corpus))) rc = lw_fail("retrieval: out of memory");
        else if (!ids || !ms || !lines || !(r->id[r->n] = strdup(id))) rc = lw_fail("retrieval: out of memory");
        else r->line[r->n] = line_no, r->metrics[r->n++] = json_incref(mj);
        json_decref(o);
    }
    free(text);
    if (rc == 0 && r->n == 0) rc = lw_fail("%s: no per-query records", path);
    /* a query scored twice would count twice in every mean */
    char ***order = rc == 0 ? malloc(sizeof(char **) * (size_t)r->n) : NULL;
    if (rc == 0 && !order) rc = lw_fail("retrieval: out of memory");
    for (int i = 0; order && i < r->n; i++) order[i] = &r->id[i];
    if (order) qsort(order, (size_t)r->n, sizeof *order, by_id);
    for (int i = 1; order && rc == 0 && i < r->n; i++)
        if (!strcmp(*order[i - 1], *order[i])) {
            int l1 = r->line[order[i - 1] - r->id], l2 = r->line[order[i] - r->id];
            rc = lw_fail("%s: query \"%s\" has two records (lines %d and %d): the file was edited; write it again "
                         "with retrieval --per-query", path, *order[i], l1 < l2 ? l1 : l2, l1 < l2 ? l2 : l1);
        }
    free(order);
    if (rc != 0) run_free(r);
    return rc;
}

json_t *lw_retrieval_paired(const char *path_a, const char *path_b, int resamples, uint64_t seed) {
    if (!path_a || !path_b) return lw_fail("lw_retrieval_paired: no path for run %s", !path_a ? "A" : "B"), NULL;
    if (lw_same_file(path_a, path_b)) {
        lw_fail("--paired: %s and %s are the same file: its difference with itself is 0 by construction; give the "
                "per-query records of two runs", path_a, path_b);
        return NULL;
    }
    run a, b;
    if (run_load(path_a, &a) != 0) return NULL;
    if (run_load(path_b, &b) != 0) {
        run_free(&a);
        return NULL;
    }
    /* pair by query id (quadratic: BEIR sets have hundreds to a few thousand queries) */
    int *ib = malloc(sizeof(int) * (size_t)a.n), n = 0;
    double *va = malloc(sizeof(double) * (size_t)a.n), *vb = malloc(sizeof(double) * (size_t)a.n);
    json_t *root = json_object(), *diffs = json_object();
    int rc = ib && va && vb && root && diffs ? 0 : lw_fail("retrieval: out of memory");
    /* the same query id ranked in two candidate sets (two samples of a BEIR set, two sets) is two
     * tasks: a paired difference between them measures the sets as much as the runs */
    if (rc == 0 && a.corpus && b.corpus && !same_corpus(a.corpus, b.corpus))
        rc = lw_fail("--paired: %s was ranked in candidate set %s and %s in %s (another --sample-queries/--sample-docs "
                     "draw, or another BEIR set): their queries do not pair; score both runs on the same set and sample",
                     path_a, a.corpus, path_b, b.corpus);
    for (int i = 0; rc == 0 && i < a.n; i++) {
        ib[i] = -1;
        for (int j = 0; j < b.n && ib[i] < 0; j++)
            if (!strcmp(a.id[i], b.id[j])) ib[i] = j;
        n += ib[i] >= 0;
    }
    if (rc == 0 && n < 2)
        rc = lw_fail("%s and %s share %s: a paired interval needs at least 2 queries scored in both", path_a, path_b,
                     n ? "one query" : "no query");
    const char *key;
    json_t *val;
    if (rc == 0) /* the same metrics in both (each file's records agree among themselves) */
        json_object_foreach(a.metrics[0], key, val) if (!json_object_get(b.metrics[0], key)) {
            rc = lw_fail("%s has metric \"%s\" and %s has not: compare runs scored with the same metrics", path_a,
                         key, path_b);
            break;
        }
    if (rc == 0 && json_object_size(a.metrics[0]) != json_object_size(b.metrics[0]))
        rc = lw_fail("%s has metrics %s has not: compare runs scored with the same metrics", path_b, path_a);
    json_object_foreach(rc == 0 ? a.metrics[0] : NULL, key, val) {
        int k = 0;
        for (int i = 0; i < a.n; i++)
            if (ib[i] >= 0)
                va[k] = json_number_value(json_object_get(a.metrics[i], key)),
                vb[k++] = json_number_value(json_object_get(b.metrics[ib[i]], key));
        lw_ci ca, cb, d;
        double p;
        if (lw_ci_mean(va, n, resamples, 0.95, seed, &ca) != 0 || lw_ci_mean(vb, n, resamples, 0.95, seed, &cb) != 0 ||
            lw_ci_paired(va, vb, n, resamples, 0.95, seed, &d, &p) != 0) {
            rc = lw_fail_prefix("retrieval --paired: %s: ", key);
            break;
        }
        json_t *mj = json_object(), *dj = lw_ci_json(&d);
        json_object_set_new(mj, "a", lw_ci_json(&ca));
        json_object_set_new(mj, "b", lw_ci_json(&cb));
        json_object_set_new(dj, "p", json_real(p));
        json_object_set_new(mj, "a_minus_b", dj);
        json_object_set_new(diffs, key, mj);
    }
    if (rc == 0) {
        json_object_set_new(root, "a", json_string(path_a));
        json_object_set_new(root, "b", json_string(path_b));
        json_object_set_new(root, "n_paired", json_integer(n));
        json_object_set_new(root, "corpus", a.corpus && b.corpus ? json_string(a.corpus) : json_null());
        json_object_set_new(root, "n_only_a", json_integer(a.n - n));
        json_object_set_new(root, "n_only_b", json_integer(b.n - n));
        json_object_set_new(root, "resamples", json_integer(resamples));
        json_object_set_new(root, "metrics", json_incref(diffs));
    }
    json_decref(diffs);
    free(va);
    free(vb);
    free(ib);
    run_free(&a);
    run_free(&b);
    if (rc != 0) {
        json_decref(root);
        return NULL;
    }
    return root;
}
