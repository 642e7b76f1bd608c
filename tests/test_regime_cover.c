/* retrieval's candidate regimes must cover every query: a label: or hard: file that leaves a
 * query's target alone (which ranks it first for free: top-1 1.000 on those queries) is an
 * error naming the file, the first such query and how many; the report gives the mean number
 * of candidates per query, computed here by hand for each regime. Also --ndcg-gain. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/rng.h"
#include "latentwire/safetensors.h"
#include "support/testutil.h"

enum { N = 40, D = 8 };
static char XA[1200], XB[1200];

static int setup(void **state) {
    (void)state;
    /* Queries and candidates: N rows of width D with row ids 0..N-1; B = A + noise, so the
     * raw cosine finds most targets but not all. */
    static float a[N * D], b[N * D];
    static int64_t rid[N];
    lw_rng r;
    lw_rng_seed(&r, 3);
    for (int i = 0; i < N * D; i++) {
        a[i] = (float)lw_rng_normal(&r);
        b[i] = a[i] + 0.8f * (float)lw_rng_normal(&r);
    }
    for (int i = 0; i < N; i++) rid[i] = i;
    snprintf(XA, sizeof XA, "%s", lw_test_tmpfile("cover_a.safetensors"));
    snprintf(XB, sizeof XB, "%s", lw_test_tmpfile("cover_b.safetensors"));
    lw_st_tensor_in ta[2] = {{"x", LW_DT_F32, 2, {N, D}, a}, {"row_id", LW_DT_I64, 1, {N}, rid}};
    lw_st_tensor_in tb[2] = {{"x", LW_DT_F32, 2, {N, D}, b}, {"row_id", LW_DT_I64, 1, {N}, rid}};
    return lw_st_save(XA, ta, 2, NULL, 0) || lw_st_save(XB, tb, 2, NULL, 0);
}

/* Runs `retrieval` on the two files with a regime; returns the exit status, stdout, stderr. */
static int run_regime(const char *regime, const char *extra, const char *js, char **out, char **err) {
    char args[8192];
    snprintf(args, sizeof args,
             "retrieval --queries %s --query-tensor x --candidates %s --candidate-tensor x --regime %s "
             "--resamples 200 --json %s %s",
             XA, XB, regime, js, extra);
    return lw_test_run_cli(args, out, err);
}

/* The regime fails with one line holding every needle, and writes no JSON. */
static void expect_refused(const char *regime, const char *const *needles, int n_needles) {
    const char *js = lw_test_tmpfile("cover_refused.json");
    remove(js);
    char *out, *err;
    int rc = run_regime(regime, "", js, &out, &err);
    if (rc == 0 || lw_test_count_lines(err) != 1) fail_msg("--regime %s: exit %d, stderr: %s", regime, rc, err);
    for (int i = 0; i < n_needles; i++)
        if (!strstr(err, needles[i])) fail_msg("--regime %s: \"%s\" not in: %s", regime, needles[i], err);
    assert_false(lw_test_file_exists(js));
    free(out);
    free(err);
}

/* The regime runs; returns the JSON report's mean candidates per query and checks that the
 * text report says the same to one decimal. */
static double mean_candidates(const char *regime, const char *extra, json_t **report) {
    const char *js = lw_test_tmpfile("cover.json");
    char *out, *err;
    int rc = run_regime(regime, extra, js, &out, &err);
    if (rc != 0) fail_msg("--regime %s failed (%d): %s", regime, rc, err);
    json_t *r = json_load_file(js, 0, NULL);
    assert_non_null(r);
    double m = json_number_value(json_object_get(r, "mean_candidates_per_query"));
    char want[64];
    snprintf(want, sizeof want, "(%.1f candidates per query)", m);
    if (!strstr(out, want)) fail_msg("--regime %s: \"%s\" not in the text report: %s", regime, want, out);
    if (report) *report = r;
    else json_decref(r);
    free(out);
    free(err);
    return m;
}

static void write_labels(const char *path, int covered) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < covered; i++) fprintf(f, "{\"row_id\": %d, \"label\": \"t%d\"}\n", i, i % 2);
    fclose(f);
}

static void write_hard(const char *path, int covered) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < covered; i++) fprintf(f, "{\"row_id\": %d, \"negatives\": [%d, %d]}\n", i, (i + 1) % N, (i + 2) % N);
    fclose(f);
}

static void test_partial_label_file_refused(void **state) {
    (void)state;
    const char *labels = lw_test_tmpfile("cover_labels.jsonl");
    char regime[1300];
    snprintf(regime, sizeof regime, "label:%s", labels);
    /* rows 0..19 labeled: queries 20..39 would be alone with their targets */
    write_labels(labels, 20);
    const char *needles[] = {labels, "20 of 40 queries", "first: query row_id 20"};
    expect_refused(regime, needles, 3);
    /* every row labeled, t0 / t1 alternating: 20 rows per label, so 20 candidates per query */
    write_labels(labels, N);
    assert_true(mean_candidates(regime, "", NULL) == 20.0);
}

static void test_partial_hard_file_refused(void **state) {
    (void)state;
    const char *hard = lw_test_tmpfile("cover_hard.jsonl");
    char regime[1300];
    snprintf(regime, sizeof regime, "hard:%s", hard);
    write_hard(hard, 10);
    const char *needles[] = {hard, "30 of 40 queries", "first: query row_id 10"};
    expect_refused(regime, needles, 3);
    /* two negatives per query: target + 2 = 3 candidates each */
    write_hard(hard, N);
    assert_true(mean_candidates(regime, "", NULL) == 3.0);
}

static void test_mean_candidates_other_regimes(void **state) {
    (void)state;
    json_t *r;
    assert_true(mean_candidates("bank", "", &r) == (double)N);
    /* NDCG's gain is recorded: linear by default */
    assert_string_equal(json_string_value(json_object_get(r, "ndcg_gain")), "linear");
    json_decref(r);
    assert_true(mean_candidates("random:5", "--ndcg-gain exp", &r) == 6.0);
    assert_string_equal(json_string_value(json_object_get(r, "ndcg_gain")), "exp");
    json_decref(r);
}

static void test_bad_ndcg_gain(void **state) {
    (void)state;
    char *out, *err;
    int rc = run_regime("bank", "--ndcg-gain log", lw_test_tmpfile("cover_gain.json"), &out, &err);
    if (rc == 0 || lw_test_count_lines(err) != 1 || !strstr(err, "--ndcg-gain") || !strstr(err, "linear, exp"))
        fail_msg("--ndcg-gain log: exit %d, stderr: %s", rc, err);
    free(out);
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partial_label_file_refused),
        cmocka_unit_test(test_partial_hard_file_refused),
        cmocka_unit_test(test_mean_candidates_other_regimes),
        cmocka_unit_test(test_bad_ndcg_gain),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, NULL));
}
