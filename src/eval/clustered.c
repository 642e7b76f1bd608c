/* Intervals for items in clusters (latentwire/retrieval.h says what and why): the design
 * effect of a mean over clusters, the 0/1 intervals on the effective sample it leaves, and a
 * cluster bootstrap for other values. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "eval/eval.h"

/* Items regrouped by cluster: the clusters' sums of v (and of w when given) and sizes, k of them. */
typedef struct {
    int k;
    double *sum_v, *sum_w, *size;
} groups;

static void groups_free(groups *g) { free(g->sum_v), free(g->sum_w), free(g->size); }

static const int *g_sort_cluster;
static int by_cluster(const void *x, const void *y) {
    int a = g_sort_cluster[*(const int *)x], b = g_sort_cluster[*(const int *)y];
    return (a > b) - (a < b);
}

static int group(const double *v, const double *w, const int *cluster, int n, groups *g) {
    memset(g, 0, sizeof *g);
    int *ord = malloc(sizeof *ord * (size_t)n);
    g->sum_v = calloc((size_t)n, sizeof *g->sum_v), g->sum_w = calloc((size_t)n, sizeof *g->sum_w);
    g->size = calloc((size_t)n, sizeof *g->size);
    if (!ord || !g->sum_v || !g->sum_w || !g->size) {
        free(ord), groups_free(g);
        return lw_fail("clustered interval: out of memory for %d items", n);
    }
    for (int i = 0; i < n; i++) ord[i] = i;
    g_sort_cluster = cluster;
    qsort(ord, (size_t)n, sizeof *ord, by_cluster);
    for (int j = 0; j < n; j++) {
        int i = ord[j];
        if (j > 0 && cluster[i] != cluster[ord[j - 1]]) g->k++;
        g->sum_v[g->k] += v[i];
        g->sum_w[g->k] += w ? w[i] : 0.0;
        g->size[g->k] += 1.0;
    }
    g->k++;
    free(ord);
    return 0;
}

/* sum m^2 / sum m over the clusters' sizes m: deff where every cluster's items agree, its top. */
static double deff_top(const groups *g, int n) {
    double m2 = 0;
    for (int c = 0; c < g->k; c++) m2 += g->size[c] * g->size[c];
    return m2 / n;
}

/* deff of the mean of v over its clusters, clamped to [1, sum m^2 / sum m]; the upper end where
 * v shows no variance (or there is one cluster, whose variance cannot be estimated). */
static double design_effect(const double *v, int n, const groups *g) {
    double mean = 0;
    for (int c = 0; c < g->k; c++) mean += g->sum_v[c];
    mean /= n;
    const double top = deff_top(g, n);
    double ss = 0, ss_c = 0;
    for (int i = 0; i < n; i++) ss += (v[i] - mean) * (v[i] - mean);
    for (int c = 0; c < g->k; c++) {
        double r = g->sum_v[c] - mean * g->size[c];
        ss_c += r * r;
    }
    if (!(ss > 0) || g->k < 2 || n < 2) return top;
    /* cluster sampling: k / (k - 1) sum_c (y_c - mean m_c)^2 / n^2; independent: s^2 / n */
    double var_c = (double)g->k / (g->k - 1) * ss_c / ((double)n * n);
    /* The linearized estimate above is biased low when one cluster holds much of the sample (its
     * residual is small because it pulls the mean towards itself): 8 clusters of sizes
     * 1,1,1,1,1,1,2,32 with 0/1 values of p = 0.5 gave the Clopper-Pearson interval on n / deff a
     * coverage of 0.38 at 95%. The leave-one-cluster-out jackknife variance of the ratio mean
     * weighs such a cluster by its leverage; the larger of the two is kept (equal sizes: alike). */
    double jm = 0, jv = 0;
    for (int c = 0; c < g->k; c++) jm += (mean * n - g->sum_v[c]) / (n - g->size[c]);
    jm /= g->k;
    for (int c = 0; c < g->k; c++) {
        const double t = (mean * n - g->sum_v[c]) / (n - g->size[c]) - jm;
        jv += t * t;
    }
    jv *= (g->k - 1.0) / g->k;
    if (jv > var_c * (1.0 + 1e-9)) var_c = jv; /* equal sizes give the same value: keep it exactly */
    const double var_i = ss / (n - 1.0) / n;
    const double deff = var_c / var_i;
    return deff < 1.0 ? 1.0 : deff > top ? top : deff;
}

/* The divisor of n that leaves the items' worth of evidence of 0/1 values: Kish's deff over
 * Korn and Graubard's (1998) degrees-of-freedom factor (t_{e-1} / t_{k-1})^2 at the interval's
 * level, e = n / deff the effective count, k the clusters (at most 1). The count n / deff is
 * treated as a sample of independent items, but its variance was estimated from k clusters,
 * k - 1 degrees of freedom: 8 equal clusters of 5 items covered 0.939 at 95% and 8 clusters of
 * 1,1,1,1,1,1,2,32 0.805 without it, 0.970 and 0.875 with it (test_clustered_ci). Korn and Graubard (and R's survey::svyciprop,
 * method "beta") put t_{n-1} in the numerator; t_{e-1} keeps k clusters of identical items
 * exactly at the interval of k items (e = k: no factor), which t_{n-1} would widen further.
 * The result is kept at most sum m^2 / sum m (design_effect's top): no variance of a mean of
 * 0/1 values over these clusters exceeds the one where every cluster's items agree, which
 * needs no estimate (and no degrees-of-freedom factor). e * (t_{e-1} / t_{k-1})^2 falls below
 * k for k <= 4 and e a little above k (k = 2: 0.24 items' worth at e = 5; 2 clusters of 20
 * with 10 ones each, deff 1, gave 1.01 items' worth, fewer than 2 all-1 / all-0 clusters). */
double lw_eval_design_divisor(const lw_eval_cluster_design *d, double level) {
    const double e = d->n / d->deff;
    if (d->k < 2 || e <= d->k) return d->deff;
    const double q = 1.0 - (1.0 - level) / 2.0, r = lw_eval_t_quantile(q, e - 1.0) / lw_eval_t_quantile(q, d->k - 1.0);
    return fmin(d->deff / (r * r), fmax(d->deff, d->top));
}

/* The level-free part of the divisor for 0/1 values: a's mean (b NULL), or the paired
 * difference d = a - b, whose deff is the largest of a's, b's and d's (each can carry the
 * clustering the others hide); g holds the groups of the values the interval is about (a, or d). */
static int binary_design(const double *a, const double *b, const double *d, const int *cluster, int n,
                         const groups *g, lw_eval_cluster_design *out) {
    *out = (lw_eval_cluster_design){.n = n, .k = g->k, .top = deff_top(g, n)};
    if (!b) {
        out->deff = design_effect(a, n, g);
        return 0;
    }
    groups ga;
    if (group(a, b, cluster, n, &ga) != 0) return -1;
    const groups gb = {.k = ga.k, .sum_v = ga.sum_w, .size = ga.size}; /* b's sums ride in ga.sum_w */
    const double da = design_effect(a, n, &ga), db = design_effect(b, n, &gb), dd = design_effect(d, n, g);
    out->deff = fmax(da, fmax(db, dd));
    groups_free(&ga);
    return 0;
}

/* binary_design's divisor at `level` */
static int binary_divisor(const double *a, const double *b, const double *d, const int *cluster, int n,
                          const groups *g, double level, double *out) {
    lw_eval_cluster_design design;
    if (binary_design(a, b, d, cluster, n, g, &design) != 0) return -1;
    *out = lw_eval_design_divisor(&design, level);
    return 0;
}

int lw_eval_clustered_design(const double *a, const double *b, const int *cluster, int n,
                             lw_eval_cluster_design *design) {
    if (!a || !cluster || !design) return lw_fail("lw_eval_clustered_design: a NULL argument");
    if (n < 1) return lw_fail("lw_eval_clustered_design: n = %d, need at least 1 item", n);
    double *d = b ? malloc(sizeof *d * (size_t)n) : NULL;
    if (b && !d) return lw_fail("lw_eval_clustered_design: out of memory for %d items", n);
    for (int i = 0; b && i < n; i++) d[i] = a[i] - b[i];
    groups g;
    int rc = group(b ? d : a, NULL, cluster, n, &g); /* frees what it took when it fails */
    if (rc == 0) {
        rc = binary_design(a, b, d, cluster, n, &g, design);
        groups_free(&g);
    }
    free(d);
    return rc;
}

static bool binary(const double *v, int n) {
    for (int i = 0; i < n; i++)
        if (v[i] != 0.0 && v[i] != 1.0) return false;
    return true;
}

static int check(const char *fn, const void *v, const int *cluster, int n, int n_resamples, double level) {
    if (!v || !cluster) return lw_fail("%s: a NULL argument", fn);
    if (n < 1) return lw_fail("%s: n = %d, need at least 1 value", fn, n);
    return lw_eval_check_resampling(fn, n_resamples, level);
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Whole clusters resampled: the sorted resampled ratio means sum y / sum m into theta[n_resamples]. */
static void cluster_bootstrap(const groups *g, int n_resamples, uint64_t seed, double *theta) {
    lw_rng r;
    lw_rng_seed(&r, seed);
    for (int b = 0; b < n_resamples; b++) {
        double y = 0, m = 0;
        for (int j = 0; j < g->k; j++) {
            int c = (int)lw_rng_below(&r, (uint64_t)g->k);
            y += g->sum_v[c], m += g->size[c];
        }
        theta[b] = y / m;
    }
    qsort(theta, (size_t)n_resamples, sizeof *theta, cmp_double);
}

/* BCa over clusters from the sorted resampled ratio means theta: the acceleration from the
 * leave-one-cluster-out jackknife of sum y / sum m (0 with one cluster, which has none). A
 * percentile interval of a skewed mean is shifted and too short, as bootstrap.c says. */
double lw_eval_cluster_mean_accel(const double *sum, const double *size, int k) {
    double accel = 0.0, y = 0, m = 0;
    double *jack = k >= 2 ? malloc(sizeof *jack * (size_t)k) : NULL;
    for (int c = 0; c < k; c++) y += sum[c], m += size[c];
    if (jack) {
        for (int c = 0; c < k; c++) jack[c] = (y - sum[c]) / (m - size[c]);
        accel = lw_eval_jackknife_accel(jack, k);
    }
    free(jack); /* out of memory for k doubles: a = 0, the bias-corrected interval */
    return accel;
}

int lw_eval_cluster_resample_means(const double *v, const int *cluster, int n, int n_resamples, uint64_t seed,
                                   double *theta, double *accel, int *n_clusters) {
    groups g;
    if (group(v, NULL, cluster, n, &g) != 0) return -1;
    cluster_bootstrap(&g, n_resamples, seed, theta);
    *accel = lw_eval_cluster_mean_accel(g.sum_v, g.size, g.k);
    *n_clusters = g.k;
    groups_free(&g);
    return 0;
}

static void cluster_bca(const groups *g, const double *theta, int n_resamples, double estimate, double level,
                        lw_ci *out) {
    double accel = lw_eval_cluster_mean_accel(g->sum_v, g->size, g->k);
    lw_eval_bca_bounds(theta, n_resamples, estimate, accel, level, g->k, &out->lo, &out->hi); /* expanded over clusters */
    out->method = "cluster-bca";
}

int lw_ci_mean_clustered(const double *v, const int *cluster, int n, int n_resamples, double level, uint64_t seed,
                         lw_ci *out) {
    const char *fn = "lw_ci_mean_clustered";
    if (!out || check(fn, v, cluster, n, n_resamples, level) != 0) return out ? -1 : lw_fail("%s: out is NULL", fn);
    if (lw_eval_check_values(fn, "v", v, n) != 0) return -1;
    groups g;
    if (group(v, NULL, cluster, n, &g) != 0) return -1;
    const bool is_binary = binary(v, n);
    /* the degrees-of-freedom factor is for the 0/1 intervals on n / deff; other values get the
     * cluster bootstrap, and report the plain deff (as lw_ci_paired_clustered's do) */
    double deff = is_binary ? 0.0 : design_effect(v, n, &g);
    int rc = is_binary ? binary_divisor(v, NULL, NULL, cluster, n, &g, level, &deff) : 0;
    if (rc == 0 && is_binary) {
        double x = 0;
        for (int i = 0; i < n; i++) x += v[i];
        rc = lw_ci_binomial_eff(x / deff, n / deff, level, out);
        if (rc == 0) out->method = "clopper-pearson-clustered";
        if (rc == 0) out->mean = x / n; /* exactly: (x / deff) / (n / deff) rounds (0.48124999999999996) */
    } else if (rc == 0) {
        double *theta = malloc(sizeof *theta * (size_t)n_resamples);
        if (!theta) rc = lw_fail("%s: out of memory for %d resamples", fn, n_resamples);
        if (rc == 0) {
            cluster_bootstrap(&g, n_resamples, seed, theta);
            double s = 0;
            for (int i = 0; i < n; i++) s += v[i];
            out->mean = s / n;
            cluster_bca(&g, theta, n_resamples, out->mean, level, out);
        }
        free(theta);
    }
    if (rc == 0) out->n = n, out->n_clusters = g.k, out->design_effect = deff;
    groups_free(&g);
    return rc;
}

int lw_ci_paired_clustered(const double *a, const double *b, const int *cluster, int n, int n_resamples, double level,
                           uint64_t seed, lw_ci *diff, double *p_value) {
    const char *fn = "lw_ci_paired_clustered";
    if (!diff || !p_value || !b) return lw_fail("%s: a NULL argument", fn);
    if (check(fn, a, cluster, n, n_resamples, level) != 0) return -1;
    if (lw_eval_check_values(fn, "a", a, n) != 0 || lw_eval_check_values(fn, "b", b, n) != 0) return -1;
    double *d = calloc((size_t)n, sizeof *d); /* calloc: gcc -O2 cannot see that check() made n > 0 */
    if (!d) return lw_fail("%s: out of memory for %d items", fn, n);
    for (int i = 0; i < n; i++) d[i] = a[i] - b[i];
    groups g = {0};
    int rc = group(d, NULL, cluster, n, &g);
    double deff = 1.0;
    if (rc == 0 && binary(a, n) && binary(b, n)) {
        rc = binary_divisor(a, b, d, cluster, n, &g, level, &deff);
        double both = 0, only_a = 0, only_b = 0;
        for (int i = 0; rc == 0 && i < n; i++) {
            both += a[i] == 1.0 && b[i] == 1.0;
            only_a += a[i] == 1.0 && b[i] == 0.0;
            only_b += a[i] == 0.0 && b[i] == 1.0;
        }
        const double neither = n - both - only_a - only_b;
        if (rc == 0)
            rc = lw_ci_paired_counts(both / deff, only_a / deff, only_b / deff, neither / deff, level, diff, p_value);
        if (rc == 0) diff->method = "newcombe-paired-clustered";
        if (rc == 0) diff->mean = (only_a - only_b) / n; /* exactly, as above */
    } else if (rc == 0) {
        deff = design_effect(d, n, &g);
        double *theta = malloc(sizeof *theta * (size_t)n_resamples);
        if (!theta) rc = lw_fail("%s: out of memory for %d resamples", fn, n_resamples);
        if (rc == 0) {
            cluster_bootstrap(&g, n_resamples, seed, theta);
            double s = 0;
            for (int i = 0; i < n; i++) s += d[i];
            diff->mean = s / n;
            cluster_bca(&g, theta, n_resamples, diff->mean, level, diff);
            int differ = 0; /* clusters whose summed difference is not 0: the others flip nothing */
            for (int c = 0; c < g.k; c++) differ += g.sum_v[c] != 0.0;
            *p_value = lw_eval_bca_p_two_sided(theta, n_resamples, diff->mean,
                                               lw_eval_cluster_mean_accel(g.sum_v, g.size, g.k), g.k, differ);
            lw_eval_reach_zero(diff, *p_value, level); /* as lw_bootstrap_paired's */
        }
        free(theta);
    }
    if (rc == 0) diff->n = n, diff->n_clusters = g.k, diff->design_effect = deff;
    groups_free(&g);
    free(d);
    return rc;
}
