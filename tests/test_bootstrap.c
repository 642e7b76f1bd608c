/* Bootstrap confidence intervals on simulated data: coverage of the percentile interval,
 * the paired bootstrap p-value under the null and under a real difference, determinism,
 * bad input. Data are drawn from the library's own seeded PRNG stream with seeds unrelated
 * to the bootstrap seeds. */
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

#define N 200
#define REPS 400
#define B 1000

static void bernoulli(lw_rng *r, double p, double *v, int n) {
    for (int i = 0; i < n; i++) v[i] = lw_rng_uniform(r) < p ? 1.0 : 0.0;
}

/* Share of REPS simulated samples (Bernoulli(0.7), n = 200) whose interval holds 0.7. */
static double coverage(double level, uint64_t data_seed) {
    lw_rng r;
    lw_rng_seed(&r, data_seed);
    double v[N];
    int covered = 0;
    for (int rep = 0; rep < REPS; rep++) {
        bernoulli(&r, 0.7, v, N);
        lw_ci ci;
        assert_int_equal(lw_bootstrap_mean(v, N, B, level, 1000 + (uint64_t)rep, &ci), 0);
        assert_int_equal(ci.n, N);
        assert_true(ci.lo <= ci.mean && ci.mean <= ci.hi);
        covered += ci.lo <= 0.7 && 0.7 <= ci.hi;
    }
    return (double)covered / REPS;
}

static void test_coverage(void **state) {
    (void)state;
    /* With 400 repetitions the observed coverage of a 95% interval has binomial sd
     * sqrt(0.95 * 0.05 / 400) = 0.0109; the band [0.91, 0.985] is about -3.7 / +3.2 sd (the
     * percentile interval is known to run slightly short at n = 200, hence the wider low side). */
    double c95 = coverage(0.95, 42);
    fprintf(stderr, "coverage of the 95%% interval over %d repetitions: %.4f\n", REPS, c95);
    assert_true(c95 >= 0.91 && c95 <= 0.985);
    /* 80% interval: sd sqrt(0.8 * 0.2 / 400) = 0.02; band [0.73, 0.87] = +-3.5 sd. */
    double c80 = coverage(0.80, 43);
    fprintf(stderr, "coverage of the 80%% interval over %d repetitions: %.4f\n", REPS, c80);
    assert_true(c80 >= 0.73 && c80 <= 0.87);
}

static void test_paired_null(void **state) {
    (void)state;
    /* a and b independent Bernoulli(0.6) on the same 200 queries: no real difference. A
     * calibrated test rejects at 0.05 in 5% of repetitions (binomial sd 0.0109 over 400:
     * band [0.015, 0.09], about -3.2 / +3.7 sd; the discrete data put resampled means exactly
     * at 0, counted in both tails, which can only make it more conservative), and p < 0.5 in
     * about half of them (sd 0.025; the same ties push p up, so the band [0.38, 0.58] is wider
     * below: the continuous test below checks uniformity without ties). The interval holds 0
     * about 95% of the time. */
    lw_rng r;
    lw_rng_seed(&r, 7);
    double a[N], b[N];
    int reject = 0, below_half = 0, holds_zero = 0;
    for (int rep = 0; rep < REPS; rep++) {
        bernoulli(&r, 0.6, a, N);
        bernoulli(&r, 0.6, b, N);
        lw_ci d;
        double p = -1;
        assert_int_equal(lw_bootstrap_paired(a, b, N, B, 0.95, 5000 + (uint64_t)rep, &d, &p), 0);
        assert_true(p >= 0.0 && p <= 1.0);
        reject += p < 0.05;
        below_half += p < 0.5;
        holds_zero += d.lo <= 0.0 && 0.0 <= d.hi;
    }
    double rr = (double)reject / REPS, bh = (double)below_half / REPS, hz = (double)holds_zero / REPS;
    fprintf(stderr, "paired null: rejection rate at 0.05 = %.4f, share p < 0.5 = %.4f, CI holds 0 = %.4f\n", rr, bh,
            hz);
    assert_true(rr >= 0.015 && rr <= 0.09);
    assert_true(bh >= 0.38 && bh <= 0.58);
    assert_true(hz >= 0.91 && hz <= 0.985);
}


static void test_paired_null_continuous(void **state) {
    (void)state;
    /* Continuous scores (a, b independent N(0.5, 1)): no ties at 0, so the p-value should be
     * close to uniform. Over 400 repetitions the share below x has sd sqrt(x(1-x)/400):
     * p < 0.05: 0.05 +- 0.0109, band [0.015, 0.09]; p < 0.2: sd 0.02, band [0.13, 0.27];
     * p < 0.5: sd 0.025, band [0.42, 0.58] (all about +-3.2 sd or wider). */
    lw_rng r;
    lw_rng_seed(&r, 11);
    double a[N], b[N];
    int below05 = 0, below20 = 0, below50 = 0;
    for (int rep = 0; rep < REPS; rep++) {
        for (int i = 0; i < N; i++) {
            a[i] = 0.5 + lw_rng_normal(&r);
            b[i] = 0.5 + lw_rng_normal(&r);
        }
        lw_ci d;
        double p;
        assert_int_equal(lw_bootstrap_paired(a, b, N, B, 0.95, 7000 + (uint64_t)rep, &d, &p), 0);
        below05 += p < 0.05;
        below20 += p < 0.2;
        below50 += p < 0.5;
    }
    double s05 = (double)below05 / REPS, s20 = (double)below20 / REPS, s50 = (double)below50 / REPS;
    fprintf(stderr, "paired null (continuous): share p < 0.05 = %.4f, p < 0.2 = %.4f, p < 0.5 = %.4f\n", s05, s20,
            s50);
    assert_true(s05 >= 0.015 && s05 <= 0.09);
    assert_true(s20 >= 0.13 && s20 <= 0.27);
    assert_true(s50 >= 0.42 && s50 <= 0.58);
}

static void test_paired_difference(void **state) {
    (void)state;
    /* a ~ Bernoulli(0.8), b ~ Bernoulli(0.6): true difference 0.2, standard error
     * sqrt((0.16 + 0.24) / 200) = 0.0447, z = 4.5: the test should reject at 0.05 in about
     * 99% of repetitions; require >= 95% of 100, and a median p below 0.001. */
    lw_rng r;
    lw_rng_seed(&r, 8);
    double a[N], b[N], ps[100];
    int reject = 0, covers = 0;
    for (int rep = 0; rep < 100; rep++) {
        bernoulli(&r, 0.8, a, N);
        bernoulli(&r, 0.6, b, N);
        lw_ci d;
        assert_int_equal(lw_bootstrap_paired(a, b, N, B, 0.95, 9000 + (uint64_t)rep, &d, &ps[rep]), 0);
        reject += ps[rep] < 0.05;
        covers += d.lo <= 0.2 && 0.2 <= d.hi;
        double ma = 0, mb = 0;
        for (int i = 0; i < N; i++) {
            ma += a[i];
            mb += b[i];
        }
        assert_true(fabs(d.mean - (ma - mb) / N) < 1e-12);
    }
    for (int i = 1; i < 100; i++) /* insertion sort for the median */
        for (int j = i; j > 0 && ps[j] < ps[j - 1]; j--) {
            double t = ps[j];
            ps[j] = ps[j - 1];
            ps[j - 1] = t;
        }
    fprintf(stderr, "paired difference 0.2: rejection rate %.2f, median p %.4f, CI holds 0.2 in %d/100\n",
            reject / 100.0, (ps[49] + ps[50]) / 2, covers);
    assert_true(reject >= 95);
    assert_true((ps[49] + ps[50]) / 2 <= 2.0 / (B + 1) + 1e-15); /* at the floor: no resample reaches 0 */
    for (int i = 0; i < 100; i++) assert_true(ps[i] >= 2.0 / (B + 1));
    assert_true(covers >= 85);
}

/* No bootstrap p below what its units allow: 2 queries that differ the same way give at best
 * 2^(1 - 2) = 0.5 (every resample sees a positive mean: the share alone would say 0), 5 give
 * 2^-4; and never below 2 / (B + 1). Where no resample reaches 0 the share is clamped half a
 * resample inside (0, 1) and p is that clamp's expanded level: at 12 pairs above both floors,
 * smaller with more resamples. */
static void test_paired_p_floors(void **state) {
    (void)state;
    const double a[12] = {0.9, 0.8, 0.9, 0.8, 0.9, 0.8, 0.9, 0.8, 0.9, 0.8, 0.9, 0.8};
    const double b[12] = {0.1, 0.2, 0.1, 0.2, 0.1, 0.2, 0.1, 0.2, 0.1, 0.2, 0.1, 0.2};
    lw_ci d;
    double p = -1;
    assert_int_equal(lw_bootstrap_paired(a, b, 2, B, 0.95, 1, &d, &p), 0);
    assert_true(p == 0.5);
    assert_int_equal(lw_bootstrap_paired(a, b, 5, B, 0.95, 1, &d, &p), 0);
    assert_true(p == pow(2.0, -4)); /* the clamp's expanded p over 5 pairs is about 0.04 */
    double p_many = -1;
    assert_int_equal(lw_bootstrap_paired(a, b, 12, B, 0.95, 1, &d, &p), 0);
    assert_int_equal(lw_bootstrap_paired(a, b, 12, 100000, 0.95, 1, &d, &p_many), 0);
    assert_true(p > 2.0 / (B + 1) && p < 0.05 && p_many < p && p_many > pow(2.0, -11));
    double big_a[200], big_b[200] = {0}; /* 200 pairs all one way: the clamp is below 2 / (B + 1) */
    for (int i = 0; i < 200; i++) big_a[i] = 1.0 + 0.01 * (i % 7);
    assert_int_equal(lw_bootstrap_paired(big_a, big_b, 200, B, 0.95, 1, &d, &p), 0);
    assert_true(p == 2.0 / (B + 1));
    /* the clustered version floors by clusters: 12 items in 2 clusters */
    const int cl[12] = {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1};
    const double ca[12] = {0.9, 0.8, 0.9, 0.8, 0.9, 0.8, 0.7, 0.8, 0.7, 0.8, 0.7, 0.8};
    assert_int_equal(lw_ci_paired_clustered(ca, b, cl, 12, B, 0.95, 1, &d, &p), 0);
    assert_true(p >= 0.5);
}

static int same_ci(const lw_ci *a, const lw_ci *b) {
    return a->mean == b->mean && a->lo == b->lo && a->hi == b->hi && a->n == b->n;
}

static void test_determinism_and_edges(void **state) {
    (void)state;
    lw_rng r;
    lw_rng_seed(&r, 3);
    double v[N], w[N];
    bernoulli(&r, 0.3, v, N);
    bernoulli(&r, 0.5, w, N);
    lw_ci x, y;
    assert_int_equal(lw_bootstrap_mean(v, N, B, 0.95, 77, &x), 0);
    assert_int_equal(lw_bootstrap_mean(v, N, B, 0.95, 77, &y), 0);
    assert_true(same_ci(&x, &y));
    assert_int_equal(lw_bootstrap_mean(v, N, B, 0.95, 78, &y), 0);
    assert_true(x.lo != y.lo || x.hi != y.hi);
    assert_true(x.mean == y.mean);
    double p1, p2;
    assert_int_equal(lw_bootstrap_paired(v, w, N, B, 0.9, 5, &x, &p1), 0);
    assert_int_equal(lw_bootstrap_paired(v, w, N, B, 0.9, 5, &y, &p2), 0);
    assert_true(same_ci(&x, &y));
    assert_true(p1 == p2);
    assert_int_equal(lw_bootstrap_paired(v, w, N, B, 0.9, 5, &y, NULL), 0); /* p optional */

    /* identical conditions: difference 0, interval [0, 0], p = 1 */
    assert_int_equal(lw_bootstrap_paired(v, v, N, B, 0.95, 5, &x, &p1), 0);
    assert_true(x.mean == 0 && x.lo == 0 && x.hi == 0 && p1 == 1.0);
    /* constant data: a degenerate interval at the constant */
    double c[5] = {0.25, 0.25, 0.25, 0.25, 0.25};
    assert_int_equal(lw_bootstrap_mean(c, 5, 100, 0.95, 1, &x), 0);
    assert_true(x.mean == 0.25 && x.lo == 0.25 && x.hi == 0.25 && x.n == 5);
    /* too few resamples for the tails: at 0.95 each tail holds 2.5%, so 40 is the least (one
     * resample made both ends that resample's mean, and BCa put its interval beside its mean) */
    assert_int_equal(lw_bootstrap_mean(v, N, 1, 0.95, 1, &x), -1);
    assert_non_null(strstr(lw_last_error(), "n_resamples = 1, need at least 40 at level 0.95"));
    assert_int_equal(lw_bootstrap_bca_mean(v, N, 39, 0.95, 1, &x), -1);
    assert_int_equal(lw_bootstrap_bca_mean(v, N, 40, 0.95, 1, &x), 0);
    assert_true(x.lo <= x.hi && isfinite(x.lo) && isfinite(x.hi));
    assert_int_equal(lw_bootstrap_mean(v, N, 19, 0.9, 1, &x), -1); /* 2 / (1 - 0.9) = 20 */
    assert_int_equal(lw_bootstrap_mean(v, N, 20, 0.9, 1, &x), 0);
    /* near level 1 the least count overflowed an int to INT_MIN, and every count passed */
    assert_int_equal(lw_bootstrap_mean(v, N, 1000, 1.0 - 1e-12, 1, &x), -1);
    assert_non_null(strstr(lw_last_error(), "need at least 2000044244420 at level"));
    /* values whose sums overflow: a mean of inf inside [-inf, -inf] came back as success */
    double huge[3] = {1e308, 1e308, -1e308};
    assert_int_equal(lw_bootstrap_bca_mean(huge, 3, 200, 0.95, 1, &x), -1);
    assert_non_null(strstr(lw_last_error(), "v[0] = 1e+308 is beyond 1e+100"));
    int cl[3] = {0, 1, 2};
    assert_int_equal(lw_ci_mean_clustered(huge, cl, 3, 200, 0.95, 1, &x), -1);
    assert_non_null(strstr(lw_last_error(), "is beyond 1e+100"));

    assert_int_equal(lw_bootstrap_mean(v, N, 0, 0.95, 1, &x), -1);
    assert_non_null(strstr(lw_last_error(), "n_resamples = 0"));
    assert_int_equal(lw_bootstrap_mean(v, N, B, 1.0, 1, &x), -1);
    assert_non_null(strstr(lw_last_error(), "level = 1"));
    assert_int_equal(lw_bootstrap_mean(v, N, B, 0.0, 1, &x), -1);
    assert_non_null(strstr(lw_last_error(), "level = 0"));
    assert_int_equal(lw_bootstrap_mean(v, N, B, NAN, 1, &x), -1);
    assert_non_null(strstr(lw_last_error(), "level"));
    assert_int_equal(lw_bootstrap_mean(v, 0, B, 0.95, 1, &x), -1);
    assert_non_null(strstr(lw_last_error(), "n = 0"));
    v[17] = NAN;
    assert_int_equal(lw_bootstrap_mean(v, N, B, 0.95, 1, &x), -1);
    assert_non_null(strstr(lw_last_error(), "v[17]"));
    assert_int_equal(lw_bootstrap_paired(w, v, N, B, 0.95, 1, &x, &p1), -1);
    assert_non_null(strstr(lw_last_error(), "b[17]"));
    assert_int_equal(lw_bootstrap_paired(w, w, N, -3, 0.95, 1, &x, &p1), -1);
    assert_non_null(strstr(lw_last_error(), "n_resamples = -3"));
}

static void test_rng(void **state) {
    (void)state;
    /* below(n) is uniform: 60000 draws over 6 values, 10000 each (sd 91): +-5 sd */
    lw_rng r;
    lw_rng_seed(&r, 0);
    int count[6] = {0};
    for (int i = 0; i < 60000; i++) count[lw_rng_below(&r, 6)]++;
    for (int k = 0; k < 6; k++) assert_true(abs(count[k] - 10000) < 460);
    /* different seeds give different streams; the same seed the same stream */
    lw_rng a, b;
    lw_rng_seed(&a, 1);
    lw_rng_seed(&b, 2);
    assert_true(lw_rng_next(&a) != lw_rng_next(&b));
    lw_rng_seed(&a, 1);
    lw_rng_seed(&b, 1);
    for (int i = 0; i < 100; i++) assert_true(lw_rng_next(&a) == lw_rng_next(&b));
    for (int i = 0; i < 1000; i++) {
        double u = lw_rng_uniform(&a);
        assert_true(u >= 0.0 && u < 1.0);
    }
    assert_int_equal(lw_rng_below(&a, 1), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coverage),
        cmocka_unit_test(test_paired_null),
        cmocka_unit_test(test_paired_null_continuous),
        cmocka_unit_test(test_paired_difference),
        cmocka_unit_test(test_paired_p_floors),
        cmocka_unit_test(test_determinism_and_edges),
        cmocka_unit_test(test_rng),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
