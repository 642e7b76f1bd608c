/* Bootstrap confidence intervals (resampling with common/rng.h's seeded lw_rng): the plain
 * percentile interval, and the BCa interval (Efron 1987: bias-corrected and accelerated) that
 * reports use for means that are not proportions (interval.c has those) and for paired
 * differences. Percentile intervals of a skewed statistic are shifted and too short; BCa
 * corrects the median bias (z0) and the skew (acceleration a, from the jackknife) and is
 * second-order accurate. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/error.h"
#include "eval/eval.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double lw_eval_quantile_sorted(const double *x, int n, double q) {
    double h = (n - 1) * q;
    int i = (int)floor(h);
    if (i >= n - 1) return x[n - 1];
    if (i < 0) return x[0];
    return x[i] + (h - i) * (x[i + 1] - x[i]);
}

int lw_eval_check_resampling(const char *fn, int n_resamples, double level) {
    if (!(level > 0.0 && level < 1.0)) return lw_fail("%s: level = %g, must lie in (0, 1)", fn, level);
    /* each tail beyond the interval needs a resample in it, or the bounds are the extreme
     * resamples and can exclude the estimate (B = 1 gave an interval beside its own mean) */
    /* in double: near level 1 the count overflows an int (and then passed as INT_MIN) */
    const double least = ceil(2.0 / (1.0 - level) - 1e-9); /* 1 - 0.9 is not 0.1 in binary */
    if ((double)n_resamples < least)
        return lw_fail("%s: n_resamples = %d, need at least %.0f at level %g (each tail needs a resample)", fn,
                       n_resamples, least, level);
    return 0;
}

int lw_eval_check_values(const char *fn, const char *vname, const double *v, int n) {
    for (int i = 0; i < n; i++) {
        if (!isfinite(v[i])) return lw_fail("%s: %s[%d] = %g is not finite", fn, vname, i, v[i]);
        /* sums of such values overflow to inf (a mean of inf inside [-inf, -inf]); no metric is near */
        if (fabs(v[i]) > LW_EVAL_MAX_VALUE)
            return lw_fail("%s: %s[%d] = %g is beyond %g, where the bootstrap's sums overflow", fn, vname, i, v[i],
                           LW_EVAL_MAX_VALUE);
    }
    return 0;
}

static int check_args(const char *fn, const double *v, const char *vname, int n, int n_resamples, double level) {
    if (!v) return lw_fail("%s: %s is NULL", fn, vname);
    if (n < 1) return lw_fail("%s: n = %d, need at least 1 value", fn, n);
    if (lw_eval_check_resampling(fn, n_resamples, level) != 0) return -1;
    return lw_eval_check_values(fn, vname, v, n);
}

/* Resampled means of v (n values) into means[n_resamples], sorted. */
void lw_eval_resample_means(const double *v, int n, int n_resamples, uint64_t seed, double *means) {
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
    out->lo = lw_eval_quantile_sorted(sorted, n_resamples, alpha / 2);
    out->hi = lw_eval_quantile_sorted(sorted, n_resamples, 1.0 - alpha / 2);
    out->n = n;
    out->method = "percentile";
    out->n_clusters = 0;
    out->design_effect = 1.0;
}

/* Standard normal CDF. */
static double norm_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* Standard normal quantile for q in (0, 1): Acklam's rational approximation (relative error
 * 1.2e-9) refined by one Halley step on norm_cdf, which brings it to double precision. */
double lw_norm_quantile(double q) {
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01,  -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    double x;
    if (q < 0.02425) {
        double t = sqrt(-2.0 * log(q));
        x = (((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5]) /
            ((((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1.0);
    } else if (q > 1.0 - 0.02425) {
        double t = sqrt(-2.0 * log1p(-q));
        x = -(((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5]) /
            ((((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1.0);
    } else {
        double t = q - 0.5, r = t * t;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * t /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
    }
    double e = norm_cdf(x) - q, u = e * sqrt(2.0 * M_PI) * exp(x * x / 2.0);
    return x - u / (1.0 + x * u / 2.0);
}

/* Student's t CDF with df > 0 degrees of freedom: for t >= 0, 1 - I_{df/(df+t^2)}(df/2, 1/2) / 2. */
static double t_cdf(double t, double df) {
    const double tail = 0.5 * lw_beta_inc(df / 2.0, 0.5, df / (df + t * t));
    return t >= 0.0 ? 1.0 - tail : tail;
}

/* Hesterberg's expanded levels (2015, "What teachers should know about the bootstrap"; R's
 * resample::ExpandProbs, the default of its CI.bca): a bootstrap distribution of a mean is
 * sqrt((n - 1) / n) as wide as the standard error, and its quantiles are normal ones where the
 * t interval's have n - 1 degrees of freedom, so at few units every bootstrap interval is too
 * short (6 and 8 normal paired differences about a true 0: a two-sided 5% test rejected 0.154
 * and 0.120, now 0.073 and 0.071; test_intervals' test_expanded_size_at_few_pairs). The
 * nominal quantile for the one-sided level q becomes sqrt(n / (n - 1)) t_{n-1}^-1(q), so that
 * on symmetric values the percentile interval matches the t interval; BCa's bias correction
 * and acceleration then act on it as on the normal quantile. n < 2 units: the normal quantile. */
double lw_eval_expanded_quantile(double q, int units) {
    if (units < 2) return lw_norm_quantile(q);
    return sqrt(units / (units - 1.0)) * lw_eval_t_quantile(q, units - 1.0);
}

/* For q > 1/2 the upper tail 1 - q is I_x(df/2, 1/2) / 2 at x = df / (df + t^2): t from the
 * incomplete beta's inverse, the one the Clopper-Pearson interval uses; the lower half by symmetry. */
double lw_eval_t_quantile(double q, double df) {
    if (q == 0.5) return 0.0;
    const double x = lw_beta_inc_inverse(df / 2.0, 0.5, 2.0 * (q < 0.5 ? q : 1.0 - q));
    const double t = sqrt(df * (1.0 - x) / x);
    return q < 0.5 ? -t : t;
}

double lw_eval_expanded_cdf(double z, int units) {
    if (units < 2) return norm_cdf(z);
    return t_cdf(z * sqrt((units - 1.0) / units), units - 1.0);
}

/* BCa's adjusted quantile level for the nominal normal quantile z:
 * Phi(z0 + (z0 + z) / (1 - a (z0 + z))). Past the pole (1 - a (z0 + z) <= 0, only for
 * extreme skew) the limit on the side of z0 + z is taken. */
static double bca_level(double z0, double a, double z) {
    double w = z0 + z, den = 1.0 - a * w;
    if (den <= 0.0) return w < 0.0 ? 0.0 : 1.0;
    return norm_cdf(z0 + w / den);
}

double lw_eval_jackknife_accel(const double *jack, int n) {
    double m = 0, s2 = 0, s3 = 0;
    for (int i = 0; i < n; i++) m += jack[i];
    m /= n;
    for (int i = 0; i < n; i++) {
        double d = m - jack[i];
        s2 += d * d;
        s3 += d * d * d;
    }
    return s2 > 0 ? s3 / (6.0 * pow(s2, 1.5)) : 0.0;
}

/* The share of the resamples below x, a resample equal to x counted as `tie` of one (z0 counts
 * ties half, so a symmetric discrete distribution gets z0 = 0), kept half a resample inside
 * (0, 1) so that its normal quantile is finite. */
static double share_below(const double *sorted, int n_resamples, double x, double tie) {
    double below = 0;
    for (int b = 0; b < n_resamples; b++) below += sorted[b] < x ? 1.0 : sorted[b] == x ? tie : 0.0;
    double share = below / n_resamples, edge = 0.5 / n_resamples;
    return share < edge ? edge : share > 1.0 - edge ? 1.0 - edge : share;
}

void lw_eval_bca_bounds(const double *sorted, int n_resamples, double estimate, double accel, double level,
                        int units, double *lo, double *hi) {
    double z0 = lw_norm_quantile(share_below(sorted, n_resamples, estimate, 0.5));
    double z = lw_eval_expanded_quantile(1.0 - (1.0 - level) / 2.0, units);
    *lo = lw_eval_quantile_sorted(sorted, n_resamples, bca_level(z0, accel, -z));
    *hi = lw_eval_quantile_sorted(sorted, n_resamples, bca_level(z0, accel, z));
}

/* The level at which the BCa end meets the threshold t. The lower end lies above t when its
 * adjusted level bca_level(z0, a, z) exceeds q0, the share of resamples at or below t (resamples
 * equal to t on the null's side: the end must lie strictly beyond t); for the upper end, the share
 * strictly below t. bca_level = q0 where z0 + w / (1 - a w) = Phi^-1(q0), w = z0 + z: so
 * w = v / (1 + a v), v = Phi^-1(q0) - z0, and the one-sided p of "theta > t" is Phi(w - z0).
 * When 1 + a v <= 0 no w reaches q0: every level's end lies on one side of t (beyond the
 * mapping's range below when v < 0: p = 0; above it: p = 1). "theta < t" is the complement. */
double lw_eval_bca_p(const double *sorted, int n_resamples, double estimate, double accel, double threshold,
                     int units, bool greater) {
    double z0 = lw_norm_quantile(share_below(sorted, n_resamples, estimate, 0.5));
    double q0 = share_below(sorted, n_resamples, threshold, greater ? 1.0 : 0.0);
    double v = lw_norm_quantile(q0) - z0, den = 1.0 + accel * v;
    double p_greater = den <= 0.0 ? (v < 0.0 ? 0.0 : 1.0) : lw_eval_expanded_cdf(v / den - z0, units);
    return greater ? p_greater : 1.0 - p_greater;
}

double lw_eval_mean_accel(const double *v, int n) {
    double mean = 0, s2 = 0, s3 = 0;
    for (int i = 0; i < n; i++) mean += v[i];
    mean /= n;
    for (int i = 0; i < n; i++) {
        double d = v[i] - mean;
        s2 += d * d;
        s3 += d * d * d;
    }
    return s2 > 0 ? s3 / (6.0 * pow(s2, 1.5)) : 0.0;
}

/* BCa interval from the sorted resampled means of v (the acceleration in closed form). */
static void fill_bca(const double *v, int n, const double *sorted, int n_resamples, double level, lw_ci *out) {
    out->mean = mean_of(v, n);
    lw_eval_bca_bounds(sorted, n_resamples, out->mean, lw_eval_mean_accel(v, n), level, n, &out->lo, &out->hi);
    out->n = n;
    out->method = "bca";
    out->n_clusters = 0;
    out->design_effect = 1.0;
}

int lw_bootstrap_mean(const double *v, int n, int n_resamples, double level, uint64_t seed, lw_ci *out) {
    if (!out) return lw_fail("lw_bootstrap_mean: out is NULL");
    if (check_args("lw_bootstrap_mean", v, "v", n, n_resamples, level)) return -1;
    double *means = malloc(sizeof *means * (size_t)n_resamples);
    if (!means) return lw_fail("lw_bootstrap_mean: out of memory for %d resamples", n_resamples);
    lw_eval_resample_means(v, n, n_resamples, seed, means);
    fill_ci(means, n_resamples, level, mean_of(v, n), n, out);
    free(means);
    return 0;
}

int lw_bootstrap_bca_mean(const double *v, int n, int n_resamples, double level, uint64_t seed, lw_ci *out) {
    if (!out) return lw_fail("lw_bootstrap_bca_mean: out is NULL");
    if (check_args("lw_bootstrap_bca_mean", v, "v", n, n_resamples, level)) return -1;
    double *means = malloc(sizeof *means * (size_t)n_resamples);
    if (!means) return lw_fail("lw_bootstrap_bca_mean: out of memory for %d resamples", n_resamples);
    lw_eval_resample_means(v, n, n_resamples, seed, means);
    fill_bca(v, n, means, n_resamples, level, out);
    free(means);
    return 0;
}

double lw_eval_bca_p_two_sided(const double *sorted, int n_resamples, double estimate, double accel, int units,
                               int differ) {
    if (differ < 1) return 1.0; /* no unit differs: nothing against the null */
    const double p_up = lw_eval_bca_p(sorted, n_resamples, estimate, accel, 0.0, units, true);
    const double p_down = lw_eval_bca_p(sorted, n_resamples, estimate, accel, 0.0, units, false);
    double p = fmax(2.0 * fmin(p_up, p_down), 2.0 / (n_resamples + 1.0)); /* as verdict's 1 / (1 + B), two-sided */
    return fmin(1.0, fmax(p, pow(2.0, 1.0 - differ))); /* 2 differing items: 0.5 at best */
}

/* The p's floor 2^(1 - m) (m pairs that differ) binds where the BCa interval of m <= 5 pairs
 * already excludes 0: 5 normal differences about a true 0 gave an interval without 0 in 0.172 of
 * samples beside p >= 0.0625. Where p is above 1 - level the interval is stretched to reach 0, so
 * that the two agree (never shorter: coverage can only rise). */
void lw_eval_reach_zero(lw_ci *ci, double p, double level) {
    if (p > 1.0 - level) {
        ci->lo = fmin(ci->lo, 0.0);
        ci->hi = fmax(ci->hi, 0.0);
    }
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
    lw_eval_resample_means(d, n, n_resamples, seed, means);
    fill_bca(d, n, means, n_resamples, level, diff);
    int differ = 0; /* a pair with no difference flips nothing in a sign-flip test */
    for (int i = 0; i < n; i++) differ += d[i] != 0.0;
    const double p = lw_eval_bca_p_two_sided(means, n_resamples, diff->mean, lw_eval_mean_accel(d, n), n, differ);
    lw_eval_reach_zero(diff, p, level);
    if (p_value) *p_value = p;
    free(d);
    free(means);
    return 0;
}

int lw_eval_ratio_bca(const double *num, const double *den, int n, int n_resamples, double level, uint64_t seed,
                      double *lo, double *hi) {
    *lo = *hi = NAN;
    double st = 0, sd = 0;
    for (int u = 0; u < n; u++) st += num[u], sd += den[u];
    if (n < 2 || !(sd > 0)) return -1;
    double *rs = malloc(sizeof *rs * (size_t)n_resamples), *jack = malloc(sizeof *jack * (size_t)n);
    int k = 0, rc = rs && jack ? 0 : -1;
    lw_rng g;
    lw_rng_seed(&g, seed);
    for (int b = 0; rc == 0 && b < n_resamples; b++) {
        double t = 0, d = 0;
        for (int u = 0; u < n; u++) {
            int x = (int)lw_rng_below(&g, (uint64_t)n);
            t += num[x], d += den[x];
        }
        if (d > 0) rs[k++] = t / d;
    }
    /* more resamples without a ratio than one tail holds: an end is unbounded */
    if (rc == 0 && (k == 0 || n_resamples - k > (1.0 - level) / 2.0 * n_resamples)) rc = -1;
    double accel = 0.0;
    bool jack_ok = rc == 0;
    for (int u = 0; jack_ok && u < n; u++) {
        jack_ok = sd - den[u] > 0;
        if (jack_ok) jack[u] = (st - num[u]) / (sd - den[u]);
    }
    if (jack_ok) accel = lw_eval_jackknife_accel(jack, n);
    if (rc == 0) {
        qsort(rs, (size_t)k, sizeof *rs, cmp_double);
        lw_eval_bca_bounds(rs, k, st / sd, accel, level, n, lo, hi);
    }
    free(rs);
    free(jack);
    return rc;
}
