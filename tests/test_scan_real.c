/* `latentwire scan` on SmolLM2-135M-Instruct (skips, exit 77, when it is not fetched): a tiny
 * scan (first_letter, 5-shot, 5 items: 2 to choose on, 3 held out; one layer) runs end to
 * end, and its framing is ordered as it must be on a skill the model does in context: the
 * text ceiling (demonstrations + query) at least the prompt-only floor (the query alone),
 * and above it on the pooled selection + held-out items. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"

static double mean_of(json_t *root, const char *cond, const char *split, int *n) {
    json_t *c = json_object_get(json_object_get(root, cond), split);
    *n = (int)json_integer_value(json_object_get(c, "n"));
    return json_number_value(json_object_get(c, "mean"));
}

static void test_tiny_scan(void **state) {
    (void)state;
    const char *model = lw_test_real_model("smollm2-135m-instruct");
    if (!model) {
        skip();
        return;
    }
    const char *dir = lw_test_fresh_dir("scan_real");
    char args[4096];
    snprintf(args, sizeof args, "scan --sender %s --task skill:first_letter --k-shot 5 --items 5 --select-items 2 "
             "--layers 10 --answer-tokens 3 --threads 2 --out %s", model, dir);
    char *out, *err;
    int rc = lw_test_run_cli(args, &out, &err);
    if (rc != 0) fail_msg("`latentwire %s`: exit %d, stderr:\n%s", args, rc, err);
    printf("%s", out);
    free(out);
    free(err);
    json_error_t e;
    json_t *root = json_load_file(lw_test_join(dir, "scan.json"), 0, &e);
    assert_non_null(root);
    int nf, nc, nfs, ncs;
    double floor = mean_of(root, "floor", "held_out", &nf), ceil = mean_of(root, "ceiling", "held_out", &nc);
    double floor_s = mean_of(root, "floor", "select", &nfs), ceil_s = mean_of(root, "ceiling", "select", &ncs);
    assert_int_equal(nf, 3);
    assert_int_equal(nc, 3);
    assert_int_equal(nfs, 2);
    assert_true(ceil >= floor);
    assert_true(ceil * nc + ceil_s * ncs > floor * nf + floor_s * nfs);
    json_decref(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_tiny_scan)};
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
