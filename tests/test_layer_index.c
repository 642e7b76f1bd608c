/* lw_layer_index, the one place a layer written from either end becomes a block index (extract's
 * --layers, sites, AC's --k/--j all go through it), and lw_argmax's tie rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "latentwire/runtime.h"
#include "support/testutil.h"

static void test_layer_index(void **state) {
    (void)state;
    for (int n = 1; n <= 40; n++) {
        for (long l = -n - 3; l < n + 3; l++) {
            int want = l >= 0 && l < n ? (int)l : l < 0 && l >= -n ? (int)(n + l) : -1;
            assert_int_equal(lw_layer_index(l, n), want);
        }
    }
    assert_int_equal(lw_layer_index(-1, 30), 29);
    assert_int_equal(lw_layer_index(-30, 30), 0);
    assert_int_equal(lw_layer_index(-31, 30), -1);
    assert_int_equal(lw_layer_index(30, 30), -1);
    assert_int_equal(lw_layer_index(0, 0), -1);
}

static void test_argmax_first_of_ties(void **state) {
    (void)state;
    const float v[] = {1, 3, 2, 3, -1};
    assert_int_equal(lw_argmax(v, 5), 1);
    assert_int_equal(lw_argmax(v, 1), 0);
    const float w[] = {-5, -4, -4};
    assert_int_equal(lw_argmax(w, 3), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layer_index),
        cmocka_unit_test(test_argmax_first_of_ties),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
