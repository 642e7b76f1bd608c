/* lw_layer_list_parse against hand-written answers: names, negatives counted from the end,
 * repeats refused; and the model's layer count checked rather than trusted (-1 layers overflowed
 * the buffer, -3 asked malloc for 2^64 bytes, 0 made "last" the embed site, 5000 was cut to 4096). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/error.h"
#include "latentwire/runtime.h"

static void expect_layers(const char *spec, int n_layer, const int *want, int n_want) {
    int *got = NULL;
    int n = lw_layer_list_parse(spec, n_layer, &got);
    if (n != n_want) fail_msg("\"%s\" of %d layers: %d layers (%s), want %d", spec, n_layer, n, lw_last_error(), n_want);
    for (int i = 0; i < n; i++)
        if (got[i] != want[i]) fail_msg("\"%s\": layer %d is %d, want %d", spec, i, got[i], want[i]);
    free(got);
}

static void expect_refused(const char *spec, int n_layer, const char *what) {
    int *got = (int *)&got;
    assert_int_equal(lw_layer_list_parse(spec, n_layer, &got), -1);
    assert_null(got);
    if (!strstr(lw_last_error(), what)) fail_msg("\"%s\" lacks \"%s\"", lw_last_error(), what);
}

static void test_parse(void **state) {
    (void)state;
    expect_layers("0,3,-1", 6, (const int[]){0, 3, 5}, 3);
    expect_layers("all", 3, (const int[]){0, 1, 2}, 3);
    expect_layers("embed,last", 4, (const int[]){-1, 3}, 2);
    expect_layers("last", 1, (const int[]){0}, 1);
    expect_layers("4500", 5000, (const int[]){4500}, 1); /* a deep model is not cut to 4096 layers */
    int *all = NULL;
    assert_int_equal(lw_layer_list_parse("all", 5000, &all), 5000);
    assert_int_equal(all[4999], 4999);
    free(all);
}

static void test_refused(void **state) {
    (void)state;
    expect_refused("3,-1", 4, "named twice");
    expect_refused("abc", 4, "not a layer number");
    expect_refused("4", 4, "out of range");
    expect_refused("embed", -1, "a model of -1 layers");
    expect_refused("all", -3, "a model of -3 layers");
    expect_refused("last", 0, "a model of 0 layers");
    assert_int_equal(lw_layer_list_parse("0", 4, NULL), -1);
    assert_non_null(strstr(lw_last_error(), "no output pointer"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
