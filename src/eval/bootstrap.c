/* Percentile bootstrap confidence intervals (resampling with common/rng.h's seeded lw_rng). */
#include <math.h>
#include <stdlib.h>

#include "common/error.h"
#include "eval/eval.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantile of sorted x[0..n) with linear interpolation between order statistics. */
static double quantile_sorted(const double *x, int n, double q) {
    double h = (n - 1) * q;
    int i = (int)floor(h);
    if (i >= n - 1) return x[n - 1];
    if (i < 0) return x[0];
    return x[i] + (h - i) * (x[i + 1] - x[i]);
}

static int check_args(const char *fn, const double *v, const char *vname, int n, int n_resamples, double level) {
    if (!v) return lw_fail("%s: %s is NULL", fn, vname);
    if (n < 1) return lw_fail("%s: n = %d, need at least 1 value", fn, n);
    if (n_resamples < 1) return lw_fail("%s: n_resamples = %d, need at least 1", fn, n_resamples);
    if (!(level > 0.0 && level < 1.0)) return lw_fail("%s: level = %g, must lie in (0, 1)", fn, level);
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i])) return lw_fail("%s: %s[%d] = %g is not finite", fn, vname, i, v[i]);
    return 0;
}

/* Resampled means of v (n values) into means[n_resamples], sorted. */
static void resample_means(const double *v, int n, int n_resamples, uint64_t seed, double *means) {
    lw_rng r;
    lw_rng_seed(&r, seed);
    for (int b = 0; b < n_resamples; b++) {
        double s = 0;
        for (int i = 0; i < n; i++) s += v[lw_rng_below(&r, (uint64_t)n)];
        means[b] = s / n;
    }
    qsort(means, (size_t)n_resamples, sizeof *means, cmp_double);
}

static double mean_of(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return s / n;
}

static void fill_ci(const double *sorted, int n_resamples, double level, double mean, int n, lw_ci *out) {
    double alpha = 1.0 - level;
    out->mean = mean;
    out->lo = quantile_sorted(sorted, n_resamples, alpha / 2);
    out->hi = quantile_sorted(sorted, n_resamples, 1.0 - alpha / 2);
    out->n = n;
}

int lw_bootstrap_mean(const double *v, int n, int n_resamples, double level, uint64_t seed, lw_ci *out) {
    if (!out) return lw_fail("lw_bootstrap_mean: out is NULL");
    if (check_args("lw_bootstrap_mean", v, "v", n, n_resamples, level)) return -1;
    double *means = malloc(sizeof *means * (size_t)n_resamples);
    if (!means) return lw_fail("lw_bootstrap_mean: out of memory for %d resamples", n_resamples);
    resample_means(v, n, n_resamples, seed, means);
    fill_ci(means, n_resamples, level, mean_of(v, n), n, out);
    free(means);
    return 0;
}

int lw_bootstrap_paired(const double *a, const double *b, int n, int n_resamples, double level, uint64_t seed,
                        lw_ci *diff, double *p_value) {
    if (!diff) return lw_fail("lw_bootstrap_paired: diff is NULL");
    if (check_args("lw_bootstrap_paired", a, "a", n, n_resamples, level)) return -1;
    if (check_args("lw_bootstrap_paired", b, "b", n, n_resamples, level)) return -1;
    double *d = calloc((size_t)n, sizeof *d);
    double *means = malloc(sizeof *means * (size_t)n_resamples);
    if (!d || !means) {
        free(d);
        free(means);
        return lw_fail("lw_bootstrap_paired: out of memory for %d values, %d resamples", n, n_resamples);
    }
    for (int i = 0; i < n; i++) d[i] = a[i] - b[i];
    resample_means(d, n, n_resamples, seed, means);
    fill_ci(means, n_resamples, level, mean_of(d, n), n, diff);
    if (p_value) {
        /* Two-sided: twice the smaller share of resampled mean differences at or beyond 0
         * (both tails count the zeros, so ties make the test conservative, never bolder). */
        long le = 0, ge = 0;
        for (int i = 0; i < n_resamples; i++) {
            le += means[i] <= 0.0;
            ge += means[i] >= 0.0;
        }
        double p = 2.0 * (double)(le < ge ? le : ge) / n_resamples;
        *p_value = p > 1.0 ? 1.0 : p;
    }
    free(d);
    free(means);
    return 0;
}
