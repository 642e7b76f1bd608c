/* retrieval --paired: two runs' per-query records joined by query id, the paired difference
 * on the shared queries only, n reported; malformed records named by file and line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/testutil.h"

static void write_runs(const char *a, const char *b) {
    FILE *fa = fopen(a, "w"), *fb = fopen(b, "w");
    assert_non_null(fa);
    assert_non_null(fb);
    for (int q = 0; q < 50; q++) {
        double x = (q * 37 % 50) / 50.0;
        fprintf(fa, "{\"query\": \"q%d\", \"metrics\": {\"ndcg@10\": %.17g, \"recall@1\": %d}}\n", q, x, q % 2);
        /* B: 45 of A's queries (q5..q49) plus one of its own, every ndcg lower by exactly 0.25 */
        if (q >= 5) fprintf(fb, "{\"query\": \"q%d\", \"metrics\": {\"ndcg@10\": %.17g, \"recall@1\": 0}}\n", q, x - 0.25);
    }
    fprintf(fb, "{\"query\": \"extra\", \"metrics\": {\"ndcg@10\": 1, \"recall@1\": 1}}\n");
    fclose(fa);
    fclose(fb);
}

static void test_paired_difference(void **state) {
    const char *a = lw_test_tmpfile("a.jsonl"), *b = lw_test_tmpfile("b.jsonl"), *js = lw_test_tmpfile("p.json");
    write_runs(a, b);
    char args[4096], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "retrieval --paired '%s' '%s' --json '%s'", a, b, js);
    int rc = lw_test_run_cli(args, &out, &err);
    if (rc != 0) fprintf(stderr, "%s%s", out ? out : "", err ? err : "");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "45 queries in both runs (5 only in A, 1 only in B)"));
    /* the difference is exactly 0.25 on every shared query: the paired CI collapses onto it */
    assert_non_null(strstr(out, "A-B +0.250 [+0.250, +0.250]"));
    free(out);
    free(err);
    assert_true(lw_test_file_exists(js));
}

static void test_paired_bad_input(void **state) {
    const char *a = lw_test_tmpfile("a2.jsonl"), *bad = lw_test_tmpfile("bad.jsonl");
    write_runs(a, lw_test_tmpfile("b2.jsonl"));
    FILE *f = fopen(bad, "w");
    fprintf(f, "{\"query\": \"q1\", \"metrics\": {\"ndcg@10\": 0.5}}\n{\"x\": 1}\n");
    fclose(f);
    char args[4096], *err = NULL;
    snprintf(args, sizeof args, "retrieval --paired '%s' '%s'", a, bad);
    assert_int_not_equal(lw_test_run_cli(args, NULL, &err), 0);
    char want[1200];
    snprintf(want, sizeof want, "%s:2: not a per-query record", bad);
    assert_non_null(strstr(err, want));
    free(err);
    snprintf(args, sizeof args, "retrieval --paired '%s'", a);
    err = NULL;
    assert_int_not_equal(lw_test_run_cli(args, NULL, &err), 0);
    assert_non_null(strstr(err, "--paired needs two per-query files"));
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paired_difference),
        cmocka_unit_test(test_paired_bad_input),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
