/* Candidate regimes for retrieval: random distractors, same-label distractors, and
 * distractors from the target's k-means cluster (hard negatives). Every list holds the
 * target and distinct distractors, in a seeded random order (the target's position carries
 * no information). */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "eval/eval.h"

static int check_common(const char *fn, int32_t nq, const int32_t *gold, int32_t nc, int64_t **off, int32_t **ids) {
    if (!off || !ids) return lw_fail("%s: off and ids must not be NULL", fn);
    *off = NULL;
    *ids = NULL;
    if (nq < 0) return lw_fail("%s: nq = %d is negative", fn, nq);
    if (nc < 1) return lw_fail("%s: nc = %d, need at least one candidate", fn, nc);
    if (nq > 0 && !gold) return lw_fail("%s: gold is NULL", fn);
    for (int32_t q = 0; q < nq; q++)
        if (gold[q] < 0 || gold[q] >= nc) return lw_fail("%s: gold[%d] = %d is outside [0, %d)", fn, q, gold[q], nc);
    return 0;
}

/* Floyd's algorithm: k distinct indices drawn uniformly from [0, n) into out[k]; mark is
 * a scratch array of n stamps, `stamp` unique to this call. */
static void sample_distinct(int64_t n, int64_t k, lw_rng *r, int32_t *mark, int32_t stamp, int64_t *out) {
    int64_t c = 0;
    for (int64_t j = n - k; j < n; j++) {
        int64_t t = (int64_t)lw_rng_below(r, (uint64_t)j + 1);
        if (mark[t] == stamp) t = j;
        mark[t] = stamp;
        out[c++] = t;
    }
}

int lw_candidates_random(int32_t nq, const int32_t *gold, int32_t nc, int D, uint64_t seed, int64_t **off,
                         int32_t **ids) {
    const char *fn = "lw_candidates_random";
    if (check_common(fn, nq, gold, nc, off, ids)) return -1;
    if (D < 0) return lw_fail("%s: D = %d is negative", fn, D);
    if (D > nc - 1) return lw_fail("%s: D = %d distractors, but only %d other candidates", fn, D, nc - 1);
    int64_t *o = malloc(sizeof *o * ((size_t)nq + 1));
    int32_t *v = malloc(sizeof *v * ((size_t)nq * ((size_t)D + 1) + 1));
    int32_t *mark = calloc((size_t)nc, sizeof *mark);
    int64_t *pick = malloc(sizeof *pick * ((size_t)D + 1));
    if (!o || !v || !mark || !pick) {
        free(o);
        free(v);
        free(mark);
        free(pick);
        return lw_fail("%s: out of memory for %d queries x %d candidates", fn, nq, D + 1);
    }
    lw_rng r;
    lw_rng_seed(&r, seed);
    int64_t w = 0;
    for (int32_t q = 0; q < nq; q++) {
        o[q] = w;
        v[w++] = gold[q];
        /* indices into the other nc - 1 candidates, mapped around the target */
        sample_distinct(nc - 1, D, &r, mark, q + 1, pick);
        for (int i = 0; i < D; i++) v[w++] = (int32_t)(pick[i] < gold[q] ? pick[i] : pick[i] + 1);
        lw_rng_shuffle_i32(&r, v + o[q], D + 1);
    }
    o[nq] = w;
    free(mark);
    free(pick);
    *off = o;
    *ids = v;
    return 0;
}

/* Candidates grouped by label: members[start[g] .. start[g+1]) are the candidates of group g
 * in ascending id; group_of[c] and pos_in_group[c] locate candidate c. */
typedef struct {
    int32_t *members, *group_of, *pos;
    int64_t *start;
    int32_t n_groups;
} groups;

typedef struct {
    int32_t label, id;
} label_id;

static int cmp_label_id(const void *pa, const void *pb) {
    const label_id *a = pa, *b = pb;
    if (a->label != b->label) return (a->label > b->label) - (a->label < b->label);
    return (a->id > b->id) - (a->id < b->id);
}

static void groups_free(groups *g) {
    free(g->members);
    free(g->group_of);
    free(g->pos);
    free(g->start);
    memset(g, 0, sizeof *g);
}

static int groups_build(const int32_t *labels, int32_t nc, groups *g) {
    memset(g, 0, sizeof *g);
    label_id *li = malloc(sizeof *li * (size_t)nc);
    g->members = malloc(sizeof(int32_t) * (size_t)nc);
    g->group_of = malloc(sizeof(int32_t) * (size_t)nc);
    g->pos = malloc(sizeof(int32_t) * (size_t)nc);
    g->start = malloc(sizeof(int64_t) * ((size_t)nc + 1));
    if (!li || !g->members || !g->group_of || !g->pos || !g->start) {
        free(li);
        groups_free(g);
        return -1;
    }
    for (int32_t c = 0; c < nc; c++) li[c] = (label_id){labels[c], c};
    qsort(li, (size_t)nc, sizeof *li, cmp_label_id);
    int32_t ng = 0;
    for (int32_t i = 0; i < nc; i++) {
        if (i == 0 || li[i].label != li[i - 1].label) g->start[ng++] = i;
        g->members[i] = li[i].id;
        g->group_of[li[i].id] = ng - 1;
        g->pos[li[i].id] = (int32_t)(i - g->start[ng - 1]);
    }
    g->start[ng] = nc;
    g->n_groups = ng;
    free(li);
    return 0;
}

/* target + min(D, group size - 1) distractors (all when D <= 0) from the target's group. */
static int candidates_from_groups(const char *fn, int32_t nq, const int32_t *gold, int32_t nc, const groups *g, int D,
                                  uint64_t seed, int64_t **off, int32_t **ids) {
    int64_t total = 0, max_pick = 0;
    for (int32_t q = 0; q < nq; q++) {
        int32_t gr = g->group_of[gold[q]];
        int64_t others = g->start[gr + 1] - g->start[gr] - 1;
        int64_t k = D <= 0 ? others : (others < D ? others : D);
        total += k + 1;
        if (k > max_pick) max_pick = k;
    }
    int64_t *o = malloc(sizeof *o * ((size_t)nq + 1));
    int32_t *v = malloc(sizeof *v * ((size_t)total + 1));
    int32_t *mark = calloc((size_t)nc, sizeof *mark);
    int64_t *pick = malloc(sizeof *pick * ((size_t)max_pick + 1));
    if (!o || !v || !mark || !pick) {
        free(o);
        free(v);
        free(mark);
        free(pick);
        return lw_fail("%s: out of memory for %lld candidate entries", fn, (long long)total);
    }
    lw_rng r;
    lw_rng_seed(&r, seed);
    int64_t w = 0;
    for (int32_t q = 0; q < nq; q++) {
        int32_t gr = g->group_of[gold[q]], gpos = g->pos[gold[q]];
        const int32_t *mem = g->members + g->start[gr];
        int64_t others = g->start[gr + 1] - g->start[gr] - 1;
        int64_t k = D <= 0 ? others : (others < D ? others : D);
        o[q] = w;
        v[w++] = gold[q];
        sample_distinct(others, k, &r, mark, q + 1, pick);
        for (int64_t i = 0; i < k; i++) v[w++] = mem[pick[i] < gpos ? pick[i] : pick[i] + 1];
        lw_rng_shuffle_i32(&r, v + o[q], k + 1);
    }
    o[nq] = w;
    free(mark);
    free(pick);
    *off = o;
    *ids = v;
    return 0;
}

int lw_candidates_same_label(int32_t nq, const int32_t *gold, int32_t nc, const int32_t *labels, int D, uint64_t seed,
                             int64_t **off, int32_t **ids) {
    const char *fn = "lw_candidates_same_label";
    if (check_common(fn, nq, gold, nc, off, ids)) return -1;
    if (!labels) return lw_fail("%s: labels is NULL", fn);
    groups g;
    if (groups_build(labels, nc, &g)) return lw_fail("%s: out of memory for %d candidates", fn, nc);
    int rc = candidates_from_groups(fn, nq, gold, nc, &g, D, seed, off, ids);
    groups_free(&g);
    return rc;
}

void lw_candidates_summary(int32_t nq, const int64_t *off, int32_t nc, double *mean_count, int32_t *n_alone,
                           int32_t *first_alone) {
    int64_t total = 0;
    int32_t alone = 0, first = -1;
    for (int32_t q = 0; q < nq; q++) {
        int64_t len = off ? off[q + 1] - off[q] : nc;
        total += len;
        if (len <= 1 && alone++ == 0) first = q;
    }
    if (mean_count) *mean_count = nq > 0 ? (double)total / nq : 0.0;
    if (n_alone) *n_alone = alone;
    if (first_alone) *first_alone = first;
}

/* ---- k-means on the unit sphere (rows normalized on the fly: no copy of X) ---- */

/* M (d floats) = row i of X normalized. */
static void copy_unit_row(float *M, const float *X, const float *inv, int32_t i, int d) {
    const float *x = X + (size_t)i * d;
    for (int j = 0; j < d; j++) M[j] = x[j] * inv[i];
}

#define KM_BLOCK_BYTES ((size_t)32 << 20)

/* For the normalized rows X[i] * inv[i] (i < n) and centers M[0..k): nearest center (ties:
 * lowest index) and its squared distance 1 - 2 x.m + |m|^2, via blocked sgemm of X x M^T. */
static void assign_nearest(const float *X, const float *inv, int32_t n, int d, const float *M, const float *msq, int k,
                           float *buf, size_t brows, int32_t *assign, float *dist) {
    for (int32_t i0 = 0; i0 < n; i0 += (int32_t)brows) {
        int32_t m = (int32_t)((size_t)(n - i0) < brows ? (size_t)(n - i0) : brows);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, k, d, 1.0f, X + (size_t)i0 * (size_t)d, d, M, d, 0.0f,
                    buf, k);
        for (int32_t i = 0; i < m; i++) {
            const float *row = buf + (size_t)i * (size_t)k, s = 2.0f * inv[i0 + i];
            int best = 0;
            float bd = msq[0] - s * row[0];
            for (int c = 1; c < k; c++) {
                float dc = msq[c] - s * row[c];
                if (dc < bd) {
                    bd = dc;
                    best = c;
                }
            }
            assign[i0 + i] = best;
            if (dist) {
                float dd = 1.0f + bd; /* |x|^2 = 1 */
                dist[i0 + i] = dd > 0.0f ? dd : 0.0f;
            }
        }
    }
}

/* k-means++ seeding on a seeded uniform sample of at most max(k, min(64 k, 32768)) rows (all
 * rows when n is smaller): the first center uniform, each next one drawn with probability
 * proportional to the squared distance to the nearest center so far. One pass per center
 * over the sample; Lloyd's iterations then use every row. dmin, tmp: n floats of scratch. */
static int kmeanspp_init(const float *X, const float *inv, int32_t n, int d, int k, lw_rng *r, float *M, float *dmin,
                         float *tmp) {
    int64_t cap = 64 * (int64_t)k < 32768 ? 64 * (int64_t)k : 32768;
    if (cap < k) cap = k;
    int32_t S = n < cap ? n : (int32_t)cap;
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)n);
    float *G = malloc(sizeof(float) * (size_t)S * (size_t)d);
    if (!idx || !G) {
        free(idx);
        free(G);
        return -1;
    }
    for (int32_t i = 0; i < n; i++) idx[i] = i;
    if (S < n)
        for (int32_t i = 0; i < S; i++) { /* partial Fisher-Yates: idx[0..S) is a uniform sample */
            int32_t j = i + (int32_t)lw_rng_below(r, (uint64_t)(n - i));
            int32_t t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
    for (int32_t i = 0; i < S; i++) copy_unit_row(G + (size_t)i * d, X, inv, idx[i], d);

    int32_t first = (int32_t)lw_rng_below(r, (uint64_t)S);
    memcpy(M, G + (size_t)first * d, sizeof(float) * (size_t)d);
    for (int32_t i = 0; i < S; i++) dmin[i] = FLT_MAX;
    for (int c = 0; c + 1 < k; c++) {
        /* distances of the sample to the newest center: 2 - 2 x.m (unit rows and center) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, 1, d, 1.0f, G, d, M + (size_t)c * d, d, 0.0f, tmp, 1);
        double total = 0;
        for (int32_t i = 0; i < S; i++) {
            float dd = 2.0f - 2.0f * tmp[i];
            if (dd < 0.0f) dd = 0.0f;
            if (dd < dmin[i]) dmin[i] = dd;
            total += dmin[i];
        }
        int32_t pick = -1;
        if (total > 0) {
            double u = lw_rng_uniform(r) * total, acc = 0;
            for (int32_t i = 0; i < S; i++) {
                if (dmin[i] <= 0.0f) continue;
                acc += dmin[i];
                pick = i; /* the last row with positive weight guards against rounding */
                if (acc > u) break;
            }
        } else {
            pick = (int32_t)lw_rng_below(r, (uint64_t)S); /* every sampled row coincides with a center */
        }
        memcpy(M + (size_t)(c + 1) * d, G + (size_t)pick * d, sizeof(float) * (size_t)d);
    }
    free(idx);
    free(G);
    return 0;
}

int lw_eval_kmeans(const float *X, int32_t n, int d, int k, uint64_t seed, int max_iter, int32_t *assign, int *iters) {
    const char *fn = "lw_eval_kmeans";
    if (!X || !assign) return lw_fail("%s: X and assign must not be NULL", fn);
    if (n < 1 || d < 1) return lw_fail("%s: need at least one row and one column (n = %d, d = %d)", fn, n, d);
    if (k < 1 || k > n) return lw_fail("%s: n_clusters = %d, must lie in [1, %d] (the number of rows)", fn, k, n);
    if (max_iter < 0) return lw_fail("%s: max_iter = %d is negative", fn, max_iter);
    size_t brows = KM_BLOCK_BYTES / (sizeof(float) * (size_t)k);
    if (brows < 1) brows = 1;
    if (brows > (size_t)n) brows = (size_t)n;
    float *inv = malloc(sizeof(float) * (size_t)n);
    float *M = malloc(sizeof(float) * (size_t)k * (size_t)d);
    float *msq = malloc(sizeof(float) * (size_t)k);
    float *dmin = malloc(sizeof(float) * (size_t)n);
    float *tmp = malloc(sizeof(float) * (size_t)n);
    float *buf = malloc(sizeof(float) * brows * (size_t)k);
    double *acc = malloc(sizeof(double) * (size_t)k * (size_t)d);
    int64_t *cnt = malloc(sizeof(int64_t) * (size_t)k);
    int32_t *prev = malloc(sizeof(int32_t) * (size_t)n);
    int rc = -1, it = 0;
    if (!inv || !M || !msq || !dmin || !tmp || !buf || !acc || !cnt || !prev) {
        lw_fail("%s: out of memory for %d x %d rows, %d clusters", fn, n, d, k);
        goto done;
    }
    if (lw_eval_row_inv_norms(X, n, d, "k-means: candidate", inv)) goto done;

    lw_rng r;
    lw_rng_seed(&r, seed);
    if (kmeanspp_init(X, inv, n, d, k, &r, M, dmin, tmp)) {
        lw_fail("%s: out of memory for the k-means++ sample (%d clusters, d = %d)", fn, k, d);
        goto done;
    }
    for (int c = 0; c < k; c++) msq[c] = 1.0f;

    /* Lloyd iterations. */
    for (int32_t i = 0; i < n; i++) prev[i] = -1;
    for (it = 0; it < max_iter; it++) {
        assign_nearest(X, inv, n, d, M, msq, k, buf, brows, assign, dmin);
        bool changed = false;
        for (int32_t i = 0; i < n; i++) changed |= assign[i] != prev[i];
        if (!changed) break;
        memcpy(prev, assign, sizeof(int32_t) * (size_t)n);
        memset(acc, 0, sizeof(double) * (size_t)k * d);
        memset(cnt, 0, sizeof(int64_t) * (size_t)k);
        for (int32_t i = 0; i < n; i++) {
            double *a = acc + (size_t)assign[i] * d;
            const float *x = X + (size_t)i * d;
            const double s = inv[i];
            for (int j = 0; j < d; j++) a[j] += x[j] * s;
            cnt[assign[i]]++;
        }
        for (int c = 0; c < k; c++) {
            float *mc = M + (size_t)c * d;
            if (cnt[c] == 0) {
                /* empty cluster: restart it at the row farthest from its center */
                int32_t far = 0;
                for (int32_t i = 1; i < n; i++)
                    if (dmin[i] > dmin[far]) far = i;
                copy_unit_row(mc, X, inv, far, d);
                dmin[far] = 0.0f;
                prev[far] = -1; /* force another iteration */
            } else {
                const double *a = acc + (size_t)c * d;
                for (int j = 0; j < d; j++) mc[j] = (float)(a[j] / (double)cnt[c]);
            }
            double ss = 0;
            for (int j = 0; j < d; j++) ss += (double)mc[j] * mc[j];
            msq[c] = (float)ss;
        }
    }
    if (it == max_iter) assign_nearest(X, inv, n, d, M, msq, k, buf, brows, assign, NULL);
    if (iters) *iters = it;
    rc = 0;
done:
    free(inv);
    free(M);
    free(msq);
    free(dmin);
    free(tmp);
    free(buf);
    free(acc);
    free(cnt);
    free(prev);
    return rc;
}

int lw_candidates_clustered(int32_t nq, const int32_t *gold, const float *C, int32_t nc, int d, int n_clusters, int D,
                            uint64_t seed, int64_t **off, int32_t **ids) {
    const char *fn = "lw_candidates_clustered";
    if (check_common(fn, nq, gold, nc, off, ids)) return -1;
    if (!C) return lw_fail("%s: C is NULL", fn);
    if (d < 1) return lw_fail("%s: d = %d, need at least one dimension", fn, d);
    if (n_clusters < 1 || n_clusters > nc)
        return lw_fail("%s: n_clusters = %d, must lie in [1, %d] (the number of candidates)", fn, n_clusters, nc);
    int32_t *labels = malloc(sizeof *labels * (size_t)nc);
    if (!labels) return lw_fail("%s: out of memory for %d candidates", fn, nc);
    /* The k-means and the draws use separate streams derived from the one seed. */
    if (lw_eval_kmeans(C, nc, d, n_clusters, LW_EVAL_KMEANS_SEED(seed), LW_EVAL_KMEANS_MAX_ITER, labels, NULL)) {
        free(labels);
        return lw_fail_prefix("%s: ", fn);
    }
    groups g;
    int rc;
    if (groups_build(labels, nc, &g)) rc = lw_fail("%s: out of memory for %d candidates", fn, nc);
    else rc = candidates_from_groups(fn, nq, gold, nc, &g, D, seed, off, ids);
    groups_free(&g);
    free(labels);
    return rc;
}
