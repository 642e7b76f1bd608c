/* The probe panel's statistics: Spearman's rho with tied ranks, top-1 retrieval by cosine (through
 * lw_retrieval_score, so ties count against a hit), the additive-lift comparison and topographic
 * similarity with its bootstrap over sentences. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"
#include "eval/eval.h"
#include "panel/probe_internal.h"

typedef struct {
    double v;
    int64_t i;
} val_idx;

static int by_value(const void *a, const void *b) {
    double x = ((const val_idx *)a)->v, y = ((const val_idx *)b)->v;
    return (x > y) - (x < y);
}

/* Average ranks (1-based) of v[0..n): a run of ties gets the mean of the ranks it spans. */
static int average_ranks(const double *v, int64_t n, double *rank) {
    val_idx *s = malloc(sizeof *s * (size_t)(n > 0 ? n : 1));
    if (!s) return -1;
    for (int64_t i = 0; i < n; i++) s[i] = (val_idx){v[i], i};
    qsort(s, (size_t)n, sizeof *s, by_value);
    for (int64_t a = 0; a < n;) {
        int64_t b = a + 1;
        while (b < n && s[b].v == s[a].v) b++;
        double r = 0.5 * (double)(a + 1 + b); /* mean of ranks a+1 .. b */
        for (int64_t k = a; k < b; k++) rank[s[k].i] = r;
        a = b;
    }
    free(s);
    return 0;
}

static double pearson(const double *x, const double *y, int64_t n) {
    double mx = 0, my = 0;
    for (int64_t i = 0; i < n; i++) mx += x[i], my += y[i];
    mx /= (double)n, my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (int64_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy, sxx += dx * dx, syy += dy * dy;
    }
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}

double lw_probe_spearman(const double *x, const double *y, int64_t n) {
    if ((!x || !y) && n > 0) return lw_fail("lw_probe_spearman: %s is NULL", x ? "y" : "x"), NAN;
    if (n < 0) return lw_fail("lw_probe_spearman: n = %lld is negative", (long long)n), NAN;
    if (n < 2) return NAN;
    for (int64_t i = 0; i < n; i++) /* a NaN has no rank (the sort's comparisons would be inconsistent) */
        if (isnan(x[i]) || isnan(y[i]))
            return lw_fail("lw_probe_spearman: %s[%lld] is NaN", isnan(x[i]) ? "x" : "y", (long long)i), NAN;
    double *rx = malloc(sizeof *rx * (size_t)n), *ry = malloc(sizeof *ry * (size_t)n);
    double rho = NAN;
    if (rx && ry && average_ranks(x, n, rx) == 0 && average_ranks(y, n, ry) == 0) rho = pearson(rx, ry, n);
    free(rx);
    free(ry);
    return rho;
}

int lw_probe_top1(const float *Q, int nq, const float *P, int np, int d, const int32_t *gold, const int64_t *cand_off,
                  const int32_t *cand_ids, double *hit) {
    /* a negative count reached malloc as a huge size; NULL hit or gold were written / read */
    if (nq < 0) return lw_fail("lw_probe_top1: nq = %d queries is negative", nq);
    if (nq > 0 && (!hit || !gold)) return lw_fail("lw_probe_top1: %s is NULL", !hit ? "hit" : "gold");
    int64_t *rel_off = malloc(sizeof *rel_off * (size_t)(nq + 1));
    if (!rel_off) return lw_fail("probes: out of memory");
    for (int q = 0; q <= nq; q++) rel_off[q] = q;
    lw_retrieval_task task = {.n_queries = nq, .cand_off = cand_off, .cand_ids = cand_ids, .rel_off = rel_off,
                              .rel_ids = gold};
    lw_retrieval_params rp = lw_retrieval_default_params();
    int nm = lw_retrieval_n_metrics(&rp);
    double *m = malloc(sizeof *m * (size_t)nq * (size_t)nm);
    int rc = m ? lw_retrieval_score(Q, P, np, d, &task, &rp, m) : lw_fail("probes: out of memory");
    for (int q = 0; rc == 0 && q < nq; q++) hit[q] = m[(size_t)q * (size_t)nm]; /* column 0: top-1 */
    free(m);
    free(rel_off);
    return rc;
}

void lw_probe_additive_lift(const double *sum_hit, const double *part1_hit, const double *part2_hit, int n,
                            double *best_part, double *diff) {
    /* a void call: a NULL array is refused by the message alone, nothing is written */
    if (n > 0 && (!sum_hit || !part1_hit || !part2_hit || !best_part || !diff)) {
        lw_fail("lw_probe_additive_lift: %s is NULL", !sum_hit ? "sum_hit" : !part1_hit ? "part1_hit" : !part2_hit ? "part2_hit"
                                                       : !best_part                    ? "best_part"
                                                                                       : "diff");
        return;
    }
    for (int i = 0; i < n; i++) {
        best_part[i] = part1_hit[i] > part2_hit[i] ? part1_hit[i] : part2_hit[i];
        diff[i] = sum_hit[i] - best_part[i];
    }
}

static int hamming(const int *a, const int *b) {
    int h = 0;
    for (int k = 0; k < LW_PROBE_N_ATTR; k++) h += a[k] != b[k];
    return h;
}

/* rho over the pairs of the sentences idx[0..m) (pairs of one sentence with itself skipped). */
static double topsim_of(const double *cosd, int n, const int (*attr)[LW_PROBE_N_ATTR], const int *idx, int m,
                        double *md, double *ad) {
    int64_t k = 0;
    for (int a = 0; a < m; a++)
        for (int b = a + 1; b < m; b++) {
            if (idx[a] == idx[b]) continue;
            md[k] = hamming(attr[idx[a]], attr[idx[b]]);
            ad[k++] = cosd[(size_t)idx[a] * (size_t)n + (size_t)idx[b]];
        }
    return lw_probe_spearman(md, ad, k);
}

static int by_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int lw_probe_topsim(const float *X, int n, int d, const int (*attr)[LW_PROBE_N_ATTR], int resamples, uint64_t seed,
                    lw_ci *out) {
    if (n < 3) return lw_fail("probes: topographic similarity needs at least 3 sentences (got %d)", n);
    size_t pairs = (size_t)n * (size_t)(n - 1) / 2;
    double *cosd = malloc(sizeof *cosd * (size_t)n * (size_t)n), *md = malloc(sizeof *md * pairs),
           *ad = malloc(sizeof *ad * pairs), *boot = malloc(sizeof *boot * (size_t)resamples);
    int *idx = malloc(sizeof *idx * (size_t)n);
    int rc = cosd && md && ad && boot && idx ? 0 : lw_fail("probes: out of memory");
    for (int a = 0; rc == 0 && a < n; a++)
        for (int b = 0; b < n; b++)
            cosd[(size_t)a * (size_t)n + (size_t)b] = 1.0 - lw_probe_cosine(X + (size_t)a * d, X + (size_t)b * d, d);
    if (rc == 0) {
        for (int i = 0; i < n; i++) idx[i] = i;
        out->mean = topsim_of(cosd, n, attr, idx, n, md, ad);
        lw_rng rng;
        lw_rng_seed(&rng, seed);
        int kept = 0;
        for (int r = 0; r < resamples; r++) { /* resample sentences, recompute rho over their pairs */
            for (int i = 0; i < n; i++) idx[i] = (int)lw_rng_below(&rng, (uint64_t)n);
            double rho = topsim_of(cosd, n, attr, idx, n, md, ad);
            if (isfinite(rho)) boot[kept++] = rho;
        }
        qsort(boot, (size_t)kept, sizeof *boot, by_double);
        /* BCa, not the percentile interval: rho is bounded and skewed near +-1, where percentile
         * intervals are shifted and too short. The acceleration comes from the leave-one-sentence-
         * out jackknife (each leaves out the sentence's n - 1 pairs); a leave-one-out rho that is
         * undefined (constant distances) leaves it 0. */
        double accel = 0.0, *jack = malloc(sizeof *jack * (size_t)n);
        bool jack_ok = jack != NULL;
        for (int i = 0; jack_ok && i < n; i++) {
            for (int j = 0, m = 0; j < n; j++)
                if (j != i) idx[m++] = j;
            jack[i] = topsim_of(cosd, n, attr, idx, n - 1, md, ad);
            jack_ok = isfinite(jack[i]);
        }
        if (jack_ok) accel = lw_eval_jackknife_accel(jack, n);
        free(jack);
        out->lo = out->hi = NAN;
        if (kept > 0 && isfinite(out->mean))
            lw_eval_bca_bounds(boot, kept, out->mean, accel, 0.95, n, &out->lo, &out->hi);
        out->n = n;
        out->method = "bca";
        out->n_clusters = 0;
        out->design_effect = 1.0;
    }
    free(cosd);
    free(md);
    free(ad);
    free(boot);
    free(idx);
    return rc;
}
