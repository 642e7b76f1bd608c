/* lw_ci_paired: Newcombe's paired-proportion interval and McNemar's exact p, checked against
 * closed forms and by simulated coverage (where every item differs the same way the bootstrap
 * interval is a single point; this one is not). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/rng.h"
#include "latentwire/retrieval.h"
#include "support/testutil.h"

/* Wilson bound written out independently: (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n) */
static double wilson_bound(int x, int n, double sign) {
    const double z = 1.959963984540054, p = (double)x / n;
    return (p + z * z / (2.0 * n) + sign * z * sqrt(p * (1 - p) / n + z * z / (4.0 * n * n))) / (1 + z * z / n);
}

static void test_every_item_differs_the_same_way(void **state) {
    (void)state;
    const double a[6] = {1, 1, 1, 1, 1, 1}, b[6] = {0, 0, 0, 0, 0, 0};
    lw_ci d;
    double p;
    assert_int_equal(lw_ci_paired(a, b, 6, 1000, 0.95, 1, &d, &p), 0);
    /* phi = 0 (both margins constant): lo = 1 - sqrt((1 - l1)^2 + u2^2), hi = 1 */
    const double l1 = wilson_bound(6, 6, -1), u2 = wilson_bound(0, 6, +1);
    assert_true(fabs(d.lo - (1 - sqrt((1 - l1) * (1 - l1) + u2 * u2))) < 1e-12);
    assert_true(d.lo > 0.3 && d.lo < 0.6);
    assert_true(d.hi == 1.0 && d.mean == 1.0);
    assert_string_equal(d.method, "newcombe-paired");
    assert_true(fabs(p - 2.0 / 64.0) < 1e-12); /* McNemar exact: 2 * (1/2)^6 */
    lw_ci boot;
    double pb;
    assert_int_equal(lw_bootstrap_paired(a, b, 6, 1000, 0.95, 1, &boot, &pb), 0);
    assert_true(boot.lo == boot.hi); /* what it replaces: a point */
    /* 5 pairs: McNemar's p is 2 * (1/2)^5 = 0.0625, above 0.05, and the interval reaches 0 (Newcombe's
     * alone, 0.386 above it, disagreed with the test printed beside it) */
    assert_int_equal(lw_ci_paired(a, b, 5, 1000, 0.95, 1, &d, &p), 0);
    assert_true(fabs(p - 2.0 / 32.0) < 1e-12);
    assert_true(d.lo == 0.0 && d.hi == 1.0);
}

/* Every pair agrees, half right and half wrong: phi = 1 and equal proportions make Newcombe's
 * interval the point 0 (dl = du = 0), although 30 agreeing pairs only bound the discordance rate
 * by the exact 1 - 0.025^(1/30) = 0.1157. */
static void test_no_discordant_pair_is_not_a_point(void **state) {
    (void)state;
    double a[30], b[30];
    for (int i = 0; i < 30; i++) a[i] = b[i] = i < 15;
    lw_ci d;
    double p;
    assert_int_equal(lw_ci_paired(a, b, 30, 1000, 0.95, 1, &d, &p), 0);
    const double u = 1.0 - pow(0.025, 1.0 / 30.0);
    assert_true(fabs(d.lo + u) < 1e-12 && fabs(d.hi - u) < 1e-12);
    assert_true(d.mean == 0.0 && p == 1.0);
}

static void test_mcnemar_exact(void **state) {
    (void)state;
    /* 1 item only a right, 6 only b right, 3 both: P(X <= 1 | 7, 1/2) = 8/128 -> p = 0.125 */
    double a[10] = {1, 0, 0, 0, 0, 0, 0, 1, 1, 1}, b[10] = {0, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    lw_ci d;
    double p;
    assert_int_equal(lw_ci_paired(a, b, 10, 1000, 0.95, 1, &d, &p), 0);
    assert_true(fabs(p - 0.125) < 1e-12);
    assert_true(fabs(d.mean - (-0.5)) < 1e-12);
    assert_true(d.lo < -0.5 && d.hi > -0.5);
    /* equal outcomes everywhere: p = 1, interval around 0 */
    assert_int_equal(lw_ci_paired(a, a, 10, 1000, 0.95, 1, &d, &p), 0);
    assert_true(p == 1.0 && d.mean == 0.0 && d.lo < 0 && d.hi > 0);
}

/* Coverage of the true difference p1 - p2 over simulated correlated pairs. */
static double coverage(double p1, double p2, double rho_share, int n, int reps, uint64_t seed) {
    lw_rng r;
    lw_rng_seed(&r, seed);
    double a[200], b[200];
    int hit = 0;
    for (int k = 0; k < reps; k++) {
        for (int i = 0; i < n; i++) {
            const double u = lw_rng_uniform(&r);
            a[i] = u < p1;
            /* with probability rho_share b reuses a's draw (correlated pairs) */
            b[i] = lw_rng_uniform(&r) < rho_share ? u < p2 : lw_rng_uniform(&r) < p2;
        }
        lw_ci d;
        double p;
        assert_int_equal(lw_ci_paired(a, b, n, 100, 0.95, 1, &d, &p), 0);
        hit += d.lo <= p1 - p2 + 1e-12 && p1 - p2 - 1e-12 <= d.hi;
    }
    return (double)hit / reps;
}

static void test_coverage_at_the_boundary(void **state) {
    (void)state;
    const struct {
        double p1, p2, rho;
    } cases[] = {{0.98, 0.02, 0.0}, {0.98, 0.98, 0.8}, {0.5, 0.5, 0.5}, {0.9, 0.6, 0.7}, {0.02, 0.0, 0.5}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const double cov = coverage(cases[c].p1, cases[c].p2, cases[c].rho, 50, 2000, 7 + c);
        fprintf(stderr, "[paired_ci] p1 %.2f p2 %.2f shared %.1f n 50: coverage %.3f\n", cases[c].p1, cases[c].p2,
                cases[c].rho, cov);
        assert_true(cov >= 0.93);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_item_differs_the_same_way),
        cmocka_unit_test(test_mcnemar_exact),
        cmocka_unit_test(test_no_discordant_pair_is_not_a_point),
        cmocka_unit_test(test_coverage_at_the_boundary),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
