/* Intervals for items in clusters (lw_ci_mean_clustered, lw_ci_paired_clustered). Checked
 * against what they must reduce to: clusters of one item give the independent intervals
 * exactly; every item written twice into a cluster of two gives the independent interval of
 * the original items exactly (the duplicates carry no new evidence); a design effect worked by
 * hand; and coverage by simulation where the items of a cluster agree, which the independent
 * interval misses and the clustered one keeps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "latentwire/retrieval.h"
#include "support/testutil.h"

#define EQ(a, b) assert_true(fabs((a) - (b)) < 1e-12)

static void same_ci(const lw_ci *x, const lw_ci *y) {
    EQ(x->mean, y->mean);
    EQ(x->lo, y->lo);
    EQ(x->hi, y->hi);
}

/* n values, each cluster its own: the independent intervals, to the last digit. */
static void test_singletons_are_independent(void **state) {
    (void)state;
    enum { N = 60 };
    double a[N], b[N], c[N];
    int id[N], order[N];
    lw_rng r;
    lw_rng_seed(&r, 7);
    for (int i = 0; i < N; i++) {
        a[i] = lw_rng_uniform(&r) < 0.3, b[i] = lw_rng_uniform(&r) < 0.6, id[i] = 1000 - 3 * i;
        c[i] = -log(1.0 - lw_rng_uniform(&r)), order[i] = i; /* skewed: BCa and percentile differ */
    }
    lw_ci x, y;
    double px, py;
    assert_int_equal(lw_ci_mean_clustered(a, id, N, 500, 0.95, 1, &x), 0);
    assert_int_equal(lw_ci_mean(a, N, 500, 0.95, 1, &y), 0);
    same_ci(&x, &y);
    EQ(x.design_effect, 1.0);
    assert_int_equal(x.n_clusters, N);
    assert_string_equal(x.method, "clopper-pearson-clustered");
    assert_int_equal(lw_ci_paired_clustered(a, b, id, N, 500, 0.95, 1, &x, &px), 0);
    assert_int_equal(lw_ci_paired(a, b, N, 500, 0.95, 1, &y, &py), 0);
    same_ci(&x, &y);
    EQ(px, py);
    /* non-binary: the cluster bootstrap's BCa interval on singletons is the plain BCa one
     * (clusters are drawn in the order of their ids, so ids in item order draw the same items; the
     * leave-one-cluster-out jackknife is the leave-one-out jackknife of the mean) */
    assert_int_equal(lw_ci_mean_clustered(c, order, N, 999, 0.95, 3, &x), 0);
    assert_int_equal(lw_bootstrap_bca_mean(c, N, 999, 0.95, 3, &y), 0);
    same_ci(&x, &y);
    assert_string_equal(x.method, "cluster-bca");
    assert_int_equal(lw_bootstrap_mean(c, N, 999, 0.95, 3, &y), 0); /* and not the percentile one */
    assert_true(fabs(x.lo - y.lo) > 1e-6 || fabs(x.hi - y.hi) > 1e-6);
    double c_b[N];
    for (int i = 0; i < N; i++) c_b[i] = c[(i + 1) % N] * 0.5;
    assert_int_equal(lw_ci_paired_clustered(c, c_b, order, N, 999, 0.95, 3, &x, &px), 0);
    assert_int_equal(lw_bootstrap_paired(c, c_b, N, 999, 0.95, 3, &y, &py), 0);
    same_ci(&x, &y);
    EQ(px, py);
}

/* k values each written twice, the two copies one cluster: the interval of the k values. */
static void test_duplicates_add_no_evidence(void **state) {
    (void)state;
    enum { K = 40 };
    double a[K], b[K], c[K], a2[2 * K], b2[2 * K], c2[2 * K];
    int id[2 * K];
    lw_rng r;
    lw_rng_seed(&r, 11);
    for (int i = 0; i < K; i++) {
        a[i] = lw_rng_uniform(&r) < 0.35, b[i] = lw_rng_uniform(&r) < 0.55, c[i] = lw_rng_uniform(&r);
        a2[2 * i] = a2[2 * i + 1] = a[i];
        b2[2 * i] = b2[2 * i + 1] = b[i];
        c2[2 * i] = c2[2 * i + 1] = c[i];
        id[2 * i] = id[2 * i + 1] = i;
    }
    lw_ci x, y;
    double px, py;
    assert_int_equal(lw_ci_mean_clustered(a2, id, 2 * K, 500, 0.95, 1, &x), 0);
    assert_int_equal(lw_ci_mean(a, K, 500, 0.95, 1, &y), 0);
    same_ci(&x, &y);
    EQ(x.design_effect, 2.0);
    assert_int_equal(x.n_clusters, K);
    assert_int_equal(x.n, 2 * K);
    assert_int_equal(lw_ci_paired_clustered(a2, b2, id, 2 * K, 500, 0.95, 1, &x, &px), 0);
    assert_int_equal(lw_ci_paired(a, b, K, 500, 0.95, 1, &y, &py), 0);
    same_ci(&x, &y);
    EQ(px, py);
    assert_int_equal(lw_ci_mean_clustered(c2, id, 2 * K, 999, 0.95, 5, &x), 0);
    assert_int_equal(lw_bootstrap_bca_mean(c, K, 999, 0.95, 5, &y), 0);
    same_ci(&x, &y);
    assert_string_equal(x.method, "cluster-bca");
}

/* At the boundary (no variance to estimate a design effect from) the clustered interval counts
 * clusters: 25 pairs all right is Clopper-Pearson's 25 of 25, lower bound 0.025^(1/25). */
static void test_boundary_counts_clusters(void **state) {
    (void)state;
    enum { N = 50 };
    double one[N], zero[N];
    int id[N];
    for (int i = 0; i < N; i++) one[i] = 1.0, zero[i] = 0.0, id[i] = i / 2;
    lw_ci x;
    double p;
    assert_int_equal(lw_ci_mean_clustered(one, id, N, 100, 0.95, 1, &x), 0);
    EQ(x.lo, pow(0.025, 1.0 / 25));
    EQ(x.hi, 1.0);
    EQ(x.design_effect, 2.0);
    /* every pair differs the same way: the exact bound on the discordance rate at 25 pairs */
    assert_int_equal(lw_ci_paired_clustered(one, zero, id, N, 100, 0.95, 1, &x, &p), 0);
    EQ(x.mean, 1.0);
    EQ(x.hi, 1.0);
    lw_ci y;
    double q;
    assert_int_equal(lw_ci_paired(one, zero, N / 2, 100, 0.95, 1, &y, &q), 0);
    EQ(x.lo, y.lo);
    EQ(p, q);
}

/* Korn and Graubard's degrees-of-freedom factor as the interval applies it, from the tests' own
 * t: deff / (t_{e-1} / t_{k-1})^2 at 95%, e = n / deff, none where e <= k; at most n / k, the
 * top of deff with k equal clusters. */
static double kg_divisor(double deff, int n, int k) {
    const double e = n / deff;
    if (e <= k) return deff;
    const double r = lw_test_t_quantile(0.975, e - 1) / lw_test_t_quantile(0.975, k - 1.0);
    return fmin(deff / (r * r), (double)n / k);
}

/* v = 1 0 | 1 1 | 0 0 | 1 0: mean 1/2, cluster sums 1 2 0 1; cluster variance
 * 4/3 x 2 / 64 = 1/24, independent variance (2 / 7) / 8 = 1/28, deff = 28/24 = 7/6; 6.86 items'
 * worth, whose variance came from 4 clusters: Korn and Graubard's factor
 * (t_{5.86} / t_3)^2 leaves 4.10. */
static void test_design_effect_by_hand(void **state) {
    (void)state;
    double v[8] = {1, 0, 1, 1, 0, 0, 1, 0};
    int id[8] = {5, 5, 9, 9, 2, 2, 7, 7};
    lw_ci x, lo_bound, hi_bound;
    assert_int_equal(lw_ci_mean_clustered(v, id, 8, 100, 0.95, 1, &x), 0);
    assert_true(fabs(x.design_effect - kg_divisor(7.0 / 6.0, 8, 4)) < 1e-6);
    assert_true(fabs(8 / x.design_effect - 4.10) < 0.01);
    assert_int_equal(x.n_clusters, 4);
    /* 4.10 items' worth: wider than 4 of 8, narrower than 2 of 4 */
    assert_int_equal(lw_ci_binomial(4, 8, 0.95, &lo_bound), 0);
    assert_int_equal(lw_ci_binomial(2, 4, 0.95, &hi_bound), 0);
    assert_true(x.lo < lo_bound.lo && x.lo > hi_bound.lo);
    assert_true(x.hi > lo_bound.hi && x.hi < hi_bound.hi);
    /* negatively correlated pairs (1 0 in every cluster) would narrow it: deff is clamped at 1,
     * then divided by the degrees-of-freedom factor of 8 items' worth from 4 clusters */
    double w[8] = {1, 0, 0, 1, 1, 0, 0, 1};
    assert_int_equal(lw_ci_mean_clustered(w, id, 8, 100, 0.95, 1, &x), 0);
    assert_true(fabs(x.design_effect - kg_divisor(1.0, 8, 4)) < 1e-6 && x.design_effect > 1.0);
}

/* The estimate is x / n exactly, not (x / deff) / (n / deff): 77 of 160 in 40 clusters of 4 came
 * out 0.48124999999999996 (the probe panel's quantifier row). */
static void test_estimate_is_exact(void **state) {
    (void)state;
    double q[160];
    int qd[160];
    for (int i = 0; i < 160; i++) qd[i] = i / 4, q[i] = i % 4 == 0 || (i % 4 == 1 && i < 148); /* 40 + 37 ones */
    lw_ci y;
    assert_int_equal(lw_ci_mean_clustered(q, qd, 160, 100, 0.95, 1, &y), 0);
    assert_true(y.mean == 77.0 / 160);
    assert_true((77.0 / y.design_effect) / (160.0 / y.design_effect) != 77.0 / 160); /* so the check can fail */
}

/* A paired difference more clustered than either side (a mutant that took the larger of a's and
 * b's design effects only went unnoticed). 4 clusters of 4: a = 1110 | 1000 | 1110 | 1000, b = 1000
 * | 1110 | 1000 | 1110. a: cluster sums 3 1 3 1 about 2 each: cluster variance 4/3 x 4 / 256 = 1/48,
 * independent 4 / 15 / 16 = 1/60, deff 1.25; b alike. a - b: sums 2 -2 2 -2 about 0: 4/3 x 16 / 256
 * = 1/12 against 8 / 15 / 16 = 1/30: deff 2.5, which the pair's interval must use. */
static void test_paired_design_effect_by_hand(void **state) {
    (void)state;
    double a[16] = {1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0};
    double b[16] = {1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 0};
    int id[16];
    for (int i = 0; i < 16; i++) id[i] = i / 4;
    lw_ci x;
    assert_int_equal(lw_ci_mean_clustered(a, id, 16, 100, 0.95, 1, &x), 0);
    assert_true(fabs(x.design_effect - kg_divisor(1.25, 16, 4)) < 1e-6); /* 12.8 items' worth of 4 clusters */
    assert_int_equal(lw_ci_mean_clustered(b, id, 16, 100, 0.95, 1, &x), 0);
    assert_true(fabs(x.design_effect - kg_divisor(1.25, 16, 4)) < 1e-6);
    double p;
    assert_int_equal(lw_ci_paired_clustered(a, b, id, 16, 100, 0.95, 1, &x, &p), 0);
    assert_true(fabs(x.design_effect - kg_divisor(2.5, 16, 4)) < 1e-6);
    EQ(x.design_effect, 4.0); /* 6.4 items' worth of 4 clusters: (t_5.4 / t_3)^2 would leave 3.98 */
    assert_int_equal(x.n_clusters, 4);
}

/* Coverage where a cluster's two items always agree (intra-cluster correlation 1), p = 0.3, 50
 * pairs: the independent interval on 100 items covers far less than 95%, the clustered one at
 * least 95% less simulation noise. */
static void test_coverage_with_correlated_pairs(void **state) {
    (void)state;
    enum { K = 50, N = 2 * K, REPS = 2000 };
    const double p = 0.3;
    double v[N];
    int id[N];
    for (int i = 0; i < N; i++) id[i] = i / 2;
    lw_rng r;
    lw_rng_seed(&r, 2026);
    int cover_c = 0, cover_i = 0;
    for (int rep = 0; rep < REPS; rep++) {
        for (int c = 0; c < K; c++) v[2 * c] = v[2 * c + 1] = lw_rng_uniform(&r) < p;
        lw_ci x, y;
        assert_int_equal(lw_ci_mean_clustered(v, id, N, 100, 0.95, 1, &x), 0);
        assert_int_equal(lw_ci_mean(v, N, 100, 0.95, 1, &y), 0);
        cover_c += x.lo <= p && p <= x.hi;
        cover_i += y.lo <= p && p <= y.hi;
    }
    double cc = (double)cover_c / REPS, ci = (double)cover_i / REPS;
    printf("coverage at p = %.1f, %d pairs that agree: clustered %.3f, independent %.3f (%d runs)\n", p, K, cc, ci,
           REPS);
    assert_true(cc >= 0.94);
    assert_true(ci < 0.92);
}

/* The share of REPS samples whose 95% interval holds p = 0.5: k clusters of the given sizes (at most
 * 40 items), each item its cluster's shared draw or its own, half and half. */
static double coverage(const int *size, int k, int reps, uint64_t seed) {
    const double p = 0.5;
    double v[40];
    int id[40], cover = 0, n = 0;
    for (int c = 0; c < k; c++) n += size[c];
    assert_true(n <= 40);
    lw_rng r;
    lw_rng_seed(&r, seed);
    for (int rep = 0; rep < reps; rep++) {
        for (int c = 0, i = 0; c < k; c++) {
            const double shared = lw_rng_uniform(&r) < p;
            for (int j = 0; j < size[c]; j++, i++) {
                const double own = lw_rng_uniform(&r) < p;
                v[i] = lw_rng_uniform(&r) < 0.5 ? shared : own;
                id[i] = c;
            }
        }
        lw_ci x;
        assert_int_equal(lw_ci_mean_clustered(v, id, n, 100, 0.95, 1, &x), 0);
        cover += x.lo <= p && p <= x.hi;
    }
    return (double)cover / reps;
}

/* coverage() of 8 clusters of these sizes, printed, and at least `least`. */
static void coverage_at_least(const char *what, const int size[8], int reps, uint64_t seed, double least) {
    const double c = coverage(size, 8, reps, seed);
    printf("coverage at p = 0.5, %s: %.3f (%d runs)\n", what, c, reps);
    assert_true(c >= least);
}

/* Few equal clusters: 8 clusters of 5 items. The design effect is estimated on 7 degrees of
 * freedom; without Korn and Graubard's factor the interval on n / deff covered 0.939 here (0.925
 * in a statistician's review's simulation), with it 0.970 (Clopper-Pearson is conservative). */
static void test_coverage_with_few_equal_clusters(void **state) {
    (void)state;
    const int size[8] = {5, 5, 5, 5, 5, 5, 5, 5};
    coverage_at_least("8 clusters of 5 items", size, 2000, 777, 0.955);
}

/* Unequal cluster sizes: 8 clusters of 1,1,1,1,1,1,2,32 items. The linearized design effect alone
 * is biased low when one cluster holds most items (it pulls the mean towards itself, so its
 * residual is small): the interval on n / deff covered 0.401 at 95% here; with the
 * leave-one-cluster-out jackknife as a floor on the variance, 0.805; with Korn and Graubard's
 * degrees-of-freedom factor, 0.875 (still short: one cluster holds most of the sample, see
 * README). */
static void test_coverage_with_one_dominant_cluster(void **state) {
    (void)state;
    const int size[8] = {1, 1, 1, 1, 1, 1, 2, 32};
    coverage_at_least("clusters of 1,1,1,1,1,1,2,32 items", size, 1000, 12345, 0.85);
}

/* Korn and Graubard's factor never takes the divisor past deff's top, sum m^2 / sum m: 2 clusters
 * of 20 items with 10 ones each (deff 1, e = 40) got (t_39 / t_1)^2 of 40 = 1.01 items' worth,
 * divisor 39.5, fewer than the 2 items' worth of 2 clusters whose items all agree (one all 1, one
 * all 0: divisor 20, Clopper-Pearson of 1 of 2). Both now give that interval. */
static void test_divisor_within_top(void **state) {
    (void)state;
    double v[40];
    int id[40];
    lw_ci x, two, agree;
    for (int i = 0; i < 40; i++) id[i] = i / 20, v[i] = i % 20 < 10;
    assert_int_equal(lw_ci_mean_clustered(v, id, 40, 100, 0.95, 1, &x), 0);
    assert_true(x.design_effect <= 20.0 + 1e-12);
    assert_int_equal(lw_ci_binomial(1, 2, 0.95, &two), 0);
    assert_true(fabs(x.lo - two.lo) < 1e-9 && fabs(x.hi - two.hi) < 1e-9);
    for (int i = 0; i < 40; i++) v[i] = i < 20;
    assert_int_equal(lw_ci_mean_clustered(v, id, 40, 100, 0.95, 1, &agree), 0);
    EQ(agree.design_effect, 20.0);
    assert_true(x.hi - x.lo <= agree.hi - agree.lo + 1e-9);
    /* 3 clusters of 10: all ones, half ones, all zeros (deff 9.29 of top 10) got 2.83 items' worth */
    double w[30];
    int jd[30];
    for (int i = 0; i < 30; i++) jd[i] = i / 10, w[i] = jd[i] == 0 ? 1 : jd[i] == 1 ? i % 10 < 5 : 0;
    assert_int_equal(lw_ci_mean_clustered(w, jd, 30, 100, 0.95, 1, &x), 0);
    assert_true(x.design_effect <= 10.0 + 1e-12);
}

/* Values that are not 0/1 get the cluster bootstrap and report the plain deff: the same values
 * reported 2.71 as a mean and 1.29 as a difference from 0 (the factor folded into the first only). */
static void test_non_binary_plain_design_effect(void **state) {
    (void)state;
    double u[16], z[16] = {0}, p;
    int kd[16];
    for (int i = 0; i < 16; i++) kd[i] = i / 4, u[i] = 0.1 * (i % 5) + 0.05 * (i / 4);
    lw_ci x, y;
    assert_int_equal(lw_ci_mean_clustered(u, kd, 16, 1000, 0.95, 1, &x), 0);
    assert_int_equal(lw_ci_paired_clustered(u, z, kd, 16, 1000, 0.95, 1, &y, &p), 0);
    EQ(x.design_effect, y.design_effect);
}

static void test_bad_arguments(void **state) {
    (void)state;
    double v[3] = {1, 0, NAN};
    int id[3] = {0, 0, 1};
    lw_ci x;
    double p;
    assert_int_equal(lw_ci_mean_clustered(v, NULL, 2, 100, 0.95, 1, &x), -1);
    assert_int_equal(lw_ci_mean_clustered(v, id, 0, 100, 0.95, 1, &x), -1);
    assert_int_equal(lw_ci_mean_clustered(v, id, 3, 100, 0.95, 1, &x), -1); /* NaN */
    assert_int_equal(lw_ci_mean_clustered(v, id, 2, 100, 1.5, 1, &x), -1);
    assert_int_equal(lw_ci_paired_clustered(v, NULL, id, 2, 100, 0.95, 1, &x, &p), -1);
    /* one cluster: no variance between clusters to estimate; deff at its top, the cluster's size */
    assert_int_equal(lw_ci_mean_clustered(v, id, 2, 100, 0.95, 1, &x), 0);
    EQ(x.design_effect, 2.0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_singletons_are_independent), cmocka_unit_test(test_duplicates_add_no_evidence),
        cmocka_unit_test(test_boundary_counts_clusters),   cmocka_unit_test(test_design_effect_by_hand),
        cmocka_unit_test(test_estimate_is_exact),          cmocka_unit_test(test_paired_design_effect_by_hand),
        cmocka_unit_test(test_coverage_with_correlated_pairs), cmocka_unit_test(test_coverage_with_one_dominant_cluster),
        cmocka_unit_test(test_coverage_with_few_equal_clusters),
        cmocka_unit_test(test_divisor_within_top),           cmocka_unit_test(test_non_binary_plain_design_effect),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
