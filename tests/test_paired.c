/* latentwire/retrieval_runs.h and the verb over it: retrieval --paired (two runs' per-query records
 * joined by query id, the paired difference on the shared queries only, n reported; malformed
 * records named by file and line), the per-query writer, and the files mode as a library call. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/error.h"
#include "latentwire/retrieval_runs.h"
#include "latentwire/safetensors.h"
#include "support/testutil.h"

static void write_runs(const char *a, const char *b) {
    FILE *fa = fopen(a, "w"), *fb = fopen(b, "w");
    assert_non_null(fa);
    assert_non_null(fb);
    for (int q = 0; q < 50; q++) {
        double x = (q * 37 % 50) / 100.0; /* B's ndcg; A's is 0.25 more, both in [0, 1] */
        fprintf(fa, "{\"query\": \"q%d\", \"metrics\": {\"ndcg@10\": %.17g, \"recall@1\": %d}}\n", q, x + 0.25, q % 2);
        /* B: 45 of A's queries (q5..q49) plus one of its own, every ndcg lower by exactly 0.25 */
        if (q >= 5) fprintf(fb, "{\"query\": \"q%d\", \"metrics\": {\"ndcg@10\": %.17g, \"recall@1\": 0}}\n", q, x);
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
    /* recall@1 differs on 22 queries, all one way: McNemar's exact p is about 5e-7, shown as small,
     * not as "p=0.000"; the bootstrap's ndcg p is 2 / (B + 1) */
    if (!strstr(out, "p < 0.001") || strstr(out, "0.000\n") || !strstr(out, "p = 0.002")) fail_msg("%s", out);
    free(out);
    free(err);
    assert_true(lw_test_file_exists(js));
}

/* The library call the verb prints: the writer's lines read back, every number of the JSON against
 * the closed form (a constant difference), and a query scored twice refused naming both lines. */
static void test_paired_library(void **state) {
    (void)state;
    lw_retrieval_params rp = lw_retrieval_default_params();
    int nm = lw_retrieval_n_metrics(&rp), n = 20;
    double *ma = calloc((size_t)n * nm, sizeof(double)), *mb = calloc((size_t)n * nm, sizeof(double));
    const char *ids[20];
    char names[20][8];
    for (int q = 0; q < n; q++) {
        snprintf(names[q], sizeof names[q], "q%d", q);
        ids[q] = names[q];
        for (int c = 0; c < nm; c++) ma[q * nm + c] = (q % 4) / 4.0 + 0.125, mb[q * nm + c] = (q % 4) / 4.0;
    }
    char a[1200], b[1200];
    snprintf(a, sizeof a, "%s", lw_test_tmpfile("lib_a.jsonl"));
    snprintf(b, sizeof b, "%s", lw_test_tmpfile("lib_b.jsonl"));
    assert_int_equal(lw_retrieval_write_per_query(a, ids, n, ma, &rp), 0);
    assert_int_equal(lw_retrieval_write_per_query(b, ids + 2, n - 2, mb + 2 * nm, &rp), 0);
    json_t *r = lw_retrieval_paired(a, b, 500, 7);
    assert_non_null(r);
    assert_int_equal(json_integer_value(json_object_get(r, "n_paired")), n - 2);
    assert_int_equal(json_integer_value(json_object_get(r, "n_only_a")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "n_only_b")), 0);
    assert_int_equal((int)json_object_size(json_object_get(r, "metrics")), nm);
    const char *key;
    json_t *mj;
    json_object_foreach(json_object_get(r, "metrics"), key, mj) {
        json_t *d = json_object_get(mj, "a_minus_b");
        assert_true(fabs(json_number_value(json_object_get(d, "mean")) - 0.125) < 1e-12);
        assert_int_equal(json_integer_value(json_object_get(d, "n")), n - 2);
        double mean_a = 0;
        for (int q = 2; q < n; q++) mean_a += ma[q * nm] / (n - 2);
        assert_true(fabs(json_number_value(json_object_get(json_object_get(mj, "a"), "mean")) - mean_a) < 1e-12);
    }
    json_decref(r);
    /* candidate sets: the same hash pairs (whatever the words after it), and the object names it; two
     * hashes are refused; a file without one pairs unchecked (corpus null); a file mixing them is refused */
    assert_int_equal(lw_retrieval_write_per_query_corpus(a, "sha256:aa (a sample)", ids, n, ma, &rp), 0);
    assert_int_equal(lw_retrieval_write_per_query_corpus(b, "sha256:aa (18 documents)", ids, n, mb, &rp), 0);
    assert_non_null(r = lw_retrieval_paired(a, b, 500, 7));
    assert_string_equal(json_string_value(json_object_get(r, "corpus")), "sha256:aa (a sample)");
    json_decref(r);
    assert_int_equal(lw_retrieval_write_per_query_corpus(b, "sha256:bb (a sample)", ids, n, mb, &rp), 0);
    assert_null(lw_retrieval_paired(a, b, 500, 7));
    if (!strstr(lw_last_error(), "their queries do not pair")) fail_msg("%s", lw_last_error());
    assert_int_equal(lw_retrieval_write_per_query(b, ids, n, mb, &rp), 0);
    assert_non_null(r = lw_retrieval_paired(a, b, 500, 7));
    assert_true(json_is_null(json_object_get(r, "corpus")));
    json_decref(r);
    char *with = lw_test_read_file(a), *without = lw_test_read_file(b), mixed[65536];
    snprintf(mixed, sizeof mixed, "%.*s%s", (int)(strchr(with, '\n') - with + 1), with, strchr(without, '\n') + 1);
    lw_test_write_text(a, mixed);
    assert_null(lw_retrieval_paired(a, b, 500, 7));
    if (!strstr(lw_last_error(), ":2: the record's \"corpus\" (none) is not the first record's (sha256:aa (a sample))"))
        fail_msg("%s", lw_last_error());
    free(with), free(without);
    assert_int_equal(lw_retrieval_write_per_query(a, ids, n, ma, &rp), 0);
    assert_int_equal(lw_retrieval_write_per_query(b, ids + 2, n - 2, mb + 2 * nm, &rp), 0);
    /* one query twice */
    char *text = lw_test_read_file(a), dup[65536];
    snprintf(dup, sizeof dup, "%s%.*s", text, (int)(strchr(text, '\n') - text + 1), text);
    lw_test_write_text(a, dup);
    assert_null(lw_retrieval_paired(a, b, 500, 7));
    if (!strstr(lw_last_error(), "query \"q0\" has two records (lines 1 and 21)")) fail_msg("%s", lw_last_error());
    /* blank lines count in the line numbers (they were skipped, and the numbers said wrong) */
    snprintf(dup, sizeof dup, "\n\n%s%.*s", text, (int)(strchr(text, '\n') - text + 1), text);
    lw_test_write_text(a, dup);
    assert_null(lw_retrieval_paired(a, b, 500, 7));
    if (!strstr(lw_last_error(), "query \"q0\" has two records (lines 3 and 23)")) fail_msg("%s", lw_last_error());
    /* a record with no metrics, or an empty query id: nothing to pair (both were accepted) */
    lw_test_write_text(a, "{\"query\": \"q0\", \"metrics\": {}}\n");
    assert_null(lw_retrieval_paired(a, b, 500, 7));
    if (!strstr(lw_last_error(), ":1: the record has no metrics")) fail_msg("%s", lw_last_error());
    lw_test_write_text(a, "\n{\"query\": \"\", \"metrics\": {\"ndcg@10\": 0.5}}\n");
    assert_null(lw_retrieval_paired(a, b, 500, 7));
    if (!strstr(lw_last_error(), ":2: the query id is empty")) fail_msg("%s", lw_last_error());
    free(text);
    free(ma);
    free(mb);
}

/* rows x 8 floats (row r's direction set by its id) under "layer.1", ids first_id.. */
static void write_rows(const char *path, int rows, int first_id, float sign) {
    float x[64 * 8];
    int64_t ids[64];
    for (int r = 0; r < rows; r++) {
        ids[r] = first_id + r;
        for (int j = 0; j < 8; j++) x[r * 8 + j] = sign * (float)sin(1.0 + 0.7 * (double)ids[r] * (j + 1));
    }
    lw_st_tensor_in t[2] = {{.name = "layer.1", .dtype = LW_DT_F32, .n_dims = 2, .shape = {rows, 8}, .data = x},
                            {.name = "row_id", .dtype = LW_DT_I64, .n_dims = 1, .shape = {rows}, .data = ids}};
    assert_int_equal(lw_st_save(path, t, 2, NULL, 0), 0);
}

/* The files mode as a library call: queries that are their candidates retrieve them first (every
 * metric 1), only shared row ids are queries, and a query file of another width is refused. */
static void test_files_run(void **state) {
    (void)state;
    char q[1200], c[1200];
    snprintf(q, sizeof q, "%s", lw_test_tmpfile("files_q.safetensors"));
    snprintf(c, sizeof c, "%s", lw_test_tmpfile("files_c.safetensors"));
    write_rows(q, 20, 10, 1.0f); /* ids 10..29 */
    write_rows(c, 40, 0, 1.0f);  /* ids 0..39: 20 shared, 20 distractors */
    lw_retrieval_files_params p = lw_retrieval_files_default_params();
    p.queries = q, p.query_tensor = "layer.1", p.candidates = c, p.candidate_tensor = "layer.1";
    json_t *r = lw_retrieval_files_run(&p);
    if (!r) fail_msg("%s", lw_last_error());
    assert_int_equal(json_integer_value(json_object_get(r, "n_queries")), 20);
    assert_int_equal(json_integer_value(json_object_get(r, "n_candidates")), 40);
    assert_string_equal(json_string_value(json_object_get(r, "regime")), "bank");
    const char *name;
    json_t *ci;
    json_object_foreach(json_object_get(r, "raw"), name, ci) {
        if (fabs(json_number_value(json_object_get(ci, "mean")) - 1.0) > 1e-12) fail_msg("%s is not 1", name);
    }
    assert_int_equal((int)json_array_size(json_object_get(r, "unchecked_files")), 0); /* no bridge: nothing to check */
    assert_int_equal(json_integer_value(json_object_get(r, "n_query_rows_without_target")), 0);
    json_decref(r);
    /* queries and candidates swapped: 20 of the 40 query rows have no target, counted (not scored) */
    p.queries = c, p.candidates = q;
    if (!(r = lw_retrieval_files_run(&p))) fail_msg("%s", lw_last_error());
    assert_int_equal(json_integer_value(json_object_get(r, "n_queries")), 20);
    assert_int_equal(json_integer_value(json_object_get(r, "n_query_rows_without_target")), 20);
    json_decref(r);
    p.queries = q, p.candidates = c;
    p.candidate_tensor = "layer.9";
    assert_null(lw_retrieval_files_run(&p));
    assert_non_null(strstr(lw_last_error(), "layer.9"));
    /* a row that is all zeros or not finite is named by file, tensor and row id */
    char z[1200], want[1400];
    snprintf(z, sizeof z, "%s", lw_test_tmpfile("files_zero.safetensors"));
    write_rows(z, 5, 10, 0.0f);
    p.candidate_tensor = "layer.1", p.queries = z;
    assert_null(lw_retrieval_files_run(&p));
    snprintf(want, sizeof want, "--queries %s: tensor layer.1, row_id 10 is all zeros", z);
    assert_non_null(strstr(lw_last_error(), want));
    write_rows(z, 5, 10, NAN);
    p.queries = q, p.candidates = z;
    assert_null(lw_retrieval_files_run(&p));
    snprintf(want, sizeof want, "--candidates %s: tensor layer.1, row_id 10: coordinate 0 is nan", z);
    assert_non_null(strstr(lw_last_error(), want));
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
    /* a record's metric out of [0, 1], not a number, missing or extra, a line that is not JSON: one
     * refusal naming the file, line and metric (they were taken, or a metric was silently dropped) */
    static const struct {
        const char *second, *want;
    } bad_lines[] = {
        {"{\"query\": \"q2\", \"metrics\": {\"ndcg@10\": 5.0}}", ":2: metric \"ndcg@10\" is outside [0, 1]"},
        {"{\"query\": \"q2\", \"metrics\": {\"ndcg@10\": 1e308}}", ":2: metric \"ndcg@10\" is outside [0, 1]"},
        {"{\"query\": \"q2\", \"metrics\": {\"ndcg@10\": \"1\"}}", ":2: metric \"ndcg@10\" is not a number"},
        {"{\"query\": \"q2\", \"metrics\": {}}", ":2: the record has no metrics"},
        {"{\"query\": \"q2\", \"metrics\": {\"top1\": 1}}", ":2: metric \"top1\" is not in the first record"},
        {"{\"query\": \"q2\", \"metrics\": {\"ndcg@10\": 0.5, \"top1\": 1}}", ":2: metric \"top1\" is not in the first record"},
        {"{\"query\": \"q2\", \"metrics\": {\"ndcg@10\": NaN}}", ":2: not JSON"},
    };
    for (size_t k = 0; k < sizeof bad_lines / sizeof bad_lines[0]; k++) {
        f = fopen(bad, "w");
        fprintf(f, "{\"query\": \"q1\", \"metrics\": {\"ndcg@10\": 0.5}}\n%s\n", bad_lines[k].second);
        fclose(f);
        snprintf(args, sizeof args, "retrieval --paired '%s' '%s'", bad, a);
        snprintf(want, sizeof want, "%s%s", bad, bad_lines[k].want);
        char *why = lw_test_cli_refusal(args, -1, want);
        if (why) fail_msg("%s", why);
    }
    /* files whose metrics differ, the same file twice, one shared query: refused */
    f = fopen(bad, "w");
    for (int q = 0; q < 3; q++) fprintf(f, "{\"query\": \"q%d\", \"metrics\": {\"ndcg@10\": 0.5}}\n", q);
    fclose(f);
    snprintf(args, sizeof args, "retrieval --paired '%s' '%s'", a, bad);
    char *why = lw_test_cli_refusal(args, -1, "has metric \"recall@1\" and");
    if (why) fail_msg("%s", why);
    snprintf(args, sizeof args, "retrieval --paired '%s' '%s'", a, a);
    if ((why = lw_test_cli_refusal(args, -1, "are the same file"))) fail_msg("%s", why);
    const char *one = lw_test_tmpfile("one.jsonl");
    f = fopen(one, "w");
    fprintf(f, "{\"query\": \"q7\", \"metrics\": {\"ndcg@10\": 0.5, \"recall@1\": 1}}\n");
    fclose(f);
    snprintf(args, sizeof args, "retrieval --paired '%s' '%s'", a, one);
    if ((why = lw_test_cli_refusal(args, -1, "share one query: a paired interval needs at least 2"))) fail_msg("%s", why);
}

/* An option the chosen mode does not read is refused before any work (it was ignored with exit 0). */
static void test_mode_options(void **state) {
    (void)state;
    static const struct {
        const char *args, *want;
    } cases[] = {
        {"retrieval --beir /none --source-model m --source-layer 1 --target-model m --target-layer 1 --compare c",
         "--beir embeds a BEIR directory and does not read --compare"},
        {"retrieval --beir /none --source-model m --source-layer 1 --target-model m --target-layer 1 --regime random:3",
         "does not read --regime"},
        {"retrieval --beir /none --queries q --source-model m --source-layer 1 --target-model m --target-layer 1",
         "does not read --queries"},
        {"retrieval --paired a b --center", "--paired compares two per-query files and does not read --center"},
        {"retrieval --paired a b --per-query p.jsonl", "does not read --per-query"},
        {"retrieval --paired a b --bridge br", "does not read --bridge"},
        {"retrieval --queries q --query-tensor t --candidates c --candidate-tensor t --source-layer 2",
         "--queries/--candidates scores two activation files and does not read --source-layer"},
        {"retrieval --queries q --query-tensor t --candidates c --candidate-tensor t --split test", "does not read --split"},
        {"retrieval --queries q --query-tensor t --candidates c --candidate-tensor t --gpu-layers 1",
         "--gpu-layers: --queries/--candidates scores two activation files and loads no model"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *why = lw_test_cli_refusal(cases[k].args, 2, cases[k].want);
        if (why) fail_msg("%s", why);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paired_difference),
        cmocka_unit_test(test_paired_bad_input),
        cmocka_unit_test(test_mode_options),
        cmocka_unit_test(test_paired_library),
        cmocka_unit_test(test_files_run),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
