/* common/logsumexp.h, the one log-sum-exp behind lw_log_softmax, the lens, the patching panel's
 * scores and the ciphers' distributions: against a naive long-double reference where that one
 * is exact enough, and against the closed forms where it overflows (large logits) or underflows
 * (very negative ones); -inf terms drop out, NaN and +inf poison the result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>

#include "common/logsumexp.h"
#include "latentwire/runtime.h"
#include "support/testutil.h"

/* log sum exp(x_i / t) straight from the definition, in long double (no max subtracted). */
static long double naive_lse(const float *x, int n, double t) {
    long double s = 0;
    for (int i = 0; i < n; i++) s += expl((long double)x[i] / t);
    return logl(s);
}

static void test_matches_naive_reference(void **state) {
    (void)state;
    const float x[] = {0.5f, -3.25f, 7.0f, 7.0f, -20.0f, 1e-6f, 12.5f, -0.0f};
    const int n = (int)(sizeof x / sizeof *x);
    const double temps[] = {1.0, 0.7, 2.0, 1e-3};
    for (int k = 0; k < 4; k++) {
        lw_lse_terms e = lw_lse_terms_of(x, n, temps[k]);
        assert_true(e.max == (double)12.5f / temps[k]);
        assert_true(e.sum >= 1.0 && e.sum <= n);
        double want = (double)naive_lse(x, n, temps[k]);
        assert_true(fabs(lw_lse_value(e) - want) <= 1e-12 * fmax(1.0, fabs(want)));
    }
    float lp[8];
    lw_log_softmax(x, n, lp);
    long double total = 0;
    for (int i = 0; i < n; i++) {
        assert_true(fabsf(lp[i] - (float)((long double)x[i] - naive_lse(x, n, 1.0))) <= 1e-6f * fmaxf(1.0f, fabsf(lp[i])));
        total += expl((long double)lp[i]);
    }
    assert_true(fabsl(total - 1.0L) < 1e-6L);
    /* lw_log_softmax is l - (max + log sum), nothing else: the bits its callers always got */
    lw_lse_terms e = lw_lse_terms_of(x, n, 1.0);
    for (int i = 0; i < n; i++) assert_true(lp[i] == (float)((double)x[i] - (e.max + log(e.sum))));
}

/* exp(1000) overflows double and exp(-1000) is 0: only the max-subtracted form gets these. */
static void test_large_and_small_logits(void **state) {
    (void)state;
    const float big[3] = {1000.0f, 999.0f, 998.0f};
    const double tail = log(1.0 + exp(-1.0) + exp(-2.0));
    lw_lse_terms e = lw_lse_terms_of(big, 3, 1.0);
    assert_true(e.max == 1000.0);
    assert_true(fabs(lw_lse_value(e) - (1000.0 + tail)) < 1e-12);
    const float small[3] = {-1000.0f, -1001.0f, -1002.0f};
    e = lw_lse_terms_of(small, 3, 1.0);
    assert_true(fabs(lw_lse_value(e) - (-1000.0 + tail)) < 1e-12);
    float lp[3];
    lw_log_softmax(small, 3, lp);
    assert_true(fabsf(lp[0] + (float)tail) < 1e-6f && fabsf(lp[2] + 2.0f + (float)tail) < 1e-6f);
    /* the float range's ends: a logit near FLT_MAX beside tiny ones */
    const float wide[3] = {3.0e38f, 0.0f, -3.0e38f};
    e = lw_lse_terms_of(wide, 3, 1.0);
    assert_true(e.max == (double)3.0e38f && e.sum == 1.0);
    lw_log_softmax(wide, 3, lp);
    /* -6e38 is past the float range: log 0 as a float, not NaN */
    assert_true(lp[0] == 0.0f && lp[1] == -3.0e38f && isinf(lp[2]) && lp[2] < 0);
}

static void test_infinities_and_nan(void **state) {
    (void)state;
    /* -inf terms carry no mass: the rest is a distribution, the -inf ones get log 0 */
    const float some[4] = {-INFINITY, 0.0f, -INFINITY, 0.0f};
    lw_lse_terms e = lw_lse_terms_of(some, 4, 1.0);
    assert_true(e.max == 0.0 && e.sum == 2.0);
    float lp[4];
    lw_log_softmax(some, 4, lp);
    assert_true(isinf(lp[0]) && lp[0] < 0 && isinf(lp[2]));
    assert_true(fabsf(lp[1] + (float)M_LN2) < 1e-7f && lp[1] == lp[3]);
    /* every term -inf, a +inf or a NaN anywhere (first included): no distribution, NaN */
    const float none[2] = {-INFINITY, -INFINITY}, pinf[3] = {1.0f, INFINITY, 0.0f}, nan0[3] = {NAN, 1.0f, 2.0f},
                nan1[3] = {1.0f, NAN, 2.0f};
    assert_true(isnan(lw_lse_value(lw_lse_terms_of(none, 2, 1.0))));
    assert_true(isnan(lw_lse_value(lw_lse_terms_of(pinf, 3, 1.0))));
    assert_true(isnan(lw_lse_value(lw_lse_terms_of(nan0, 3, 1.0))));
    assert_true(isnan(lw_lse_value(lw_lse_terms_of(nan1, 3, 1.0))));
    lw_log_softmax(nan0, 3, lp);
    for (int i = 0; i < 3; i++) assert_true(isnan(lp[i]));
    /* no terms: log 0 */
    e = lw_lse_terms_of(some, 0, 1.0);
    assert_true(isinf(e.max) && e.max < 0 && e.sum == 0.0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_naive_reference),
        cmocka_unit_test(test_large_and_small_logits),
        cmocka_unit_test(test_infinities_and_nan),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
