/* The activation-file API called as a binding would call it: lw_act_gather refuses an index
 * outside the tensor's rows or a negative count (it read past the rows, or crashed), and the
 * metadata getters refuse a value that does not fit their buffer rather than cutting it to one
 * that passes (a 200-character model_sha256 cut to 64 characters looked like a sha256). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/acts.h"
#include "latentwire/error.h"

static const float X[6] = {1, 2, 3, 4, 5, 6}; /* 3 rows of width 2 */

static lw_act_tensor tensor(const char *meta) {
    lw_act_tensor t;
    memset(&t, 0, sizeof t);
    t.x = X;
    t.n = 3;
    t.d = 2;
    t.meta = meta;
    return t;
}

static void test_gather_in_range(void **state) {
    (void)state;
    lw_act_tensor t = tensor(NULL);
    float *g = lw_act_gather(&t, (const int64_t[]){2, 0}, 2);
    assert_non_null(g);
    assert_true(g[0] == 5 && g[1] == 6 && g[2] == 1 && g[3] == 2);
    free(g);
    g = lw_act_gather(&t, NULL, 0); /* nothing to gather is not an error */
    assert_non_null(g);
    free(g);
}

static void expect_refused(const lw_act_tensor *t, const int64_t *idx, int64_t n, const char *what) {
    assert_null(lw_act_gather(t, idx, n));
    const char *e = lw_last_error();
    if (!strstr(e, what)) fail_msg("\"%s\" lacks \"%s\"", e, what);
    assert_null(strchr(e, '\n'));
}

static void test_gather_refuses(void **state) {
    (void)state;
    lw_act_tensor t = tensor(NULL);
    expect_refused(&t, (const int64_t[]){0, 3}, 2, "row index 3 (entry 1) is outside the tensor's 3 rows");
    expect_refused(&t, (const int64_t[]){-1}, 1, "row index -1");
    expect_refused(&t, (const int64_t[]){100000000}, 1, "outside");
    expect_refused(&t, (const int64_t[]){0}, -1, "-1 rows cannot be gathered");
    expect_refused(&t, NULL, 2, "no row indices");
    expect_refused(NULL, (const int64_t[]){0}, 1, "no tensor");
}

static void test_metadata_not_cut(void **state) {
    (void)state;
    char sha[65], pool[32];
    char meta[600], long_sha[201];
    memset(long_sha, 'a', 200);
    long_sha[200] = '\0';
    snprintf(meta, sizeof meta, "{\"model_sha256\": \"%s\", \"pool\": \"%s\"}", long_sha, long_sha);
    lw_act_tensor t = tensor(meta);
    assert_null(lw_act_model_sha256(&t, sha));
    assert_null(lw_act_pool(&t, pool));
    char good[65];
    memset(good, 'b', 64);
    good[64] = '\0';
    snprintf(meta, sizeof meta, "{\"model_sha256\": \"%s\", \"pool\": \"mean\"}", good);
    t = tensor(meta);
    assert_non_null(lw_act_model_sha256(&t, sha));
    assert_string_equal(sha, good);
    assert_non_null(lw_act_pool(&t, pool));
    assert_string_equal(pool, "mean");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather_in_range),
        cmocka_unit_test(test_gather_refuses),
        cmocka_unit_test(test_metadata_not_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
