/* lw_layer_index, the one place a layer written from either end becomes a block index (extract's
 * --layers, sites, AC's --k/--j all go through it), lw_layer_middle, the one rule for the "mid"
 * default (the channel's LW_AC_LAYER_MIDDLE and race's --layer mid read it), and lw_argmax's
 * tie rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "latentwire/channel.h"
#include "latentwire/runtime.h"
#include "race/race_internal.h"
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

static void test_layer_middle(void **state) {
    (void)state;
    assert_int_equal(lw_layer_middle(30), 15);
    assert_int_equal(lw_layer_middle(18), 9);
    assert_int_equal(lw_layer_middle(1), 0);
    for (int n = 1; n <= 64; n++) {
        int mid = lw_layer_middle(n), race = -1;
        assert_int_equal(mid, n / 2);
        assert_int_equal(lw_layer_index(mid, n), mid); /* a block of the model */
        /* every "middle" default resolves through it */
        assert_int_equal(lw_channel_resolve_layer(LW_AC_LAYER_MIDDLE, n), mid);
        assert_int_equal(lw_race_resolve_layer("--layer", "mid", n, &race), 0);
        assert_int_equal(race, mid);
    }
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
        cmocka_unit_test(test_layer_middle),
        cmocka_unit_test(test_argmax_first_of_ties),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
