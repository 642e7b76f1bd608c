/* The codec retrieval test as a library call (lw_codec_retrieval_experiment_run), on a synthetic
 * model: the files it writes are the result it returns; an output that is an input, a codec or a
 * budget listed twice, and a missing session are refused before any forward pass; and
 * lw_write_text_file, which writes its two files, appears whole or not at all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "latentwire/files.h"
#include "latentwire/race_experiment.h"
#include "support/refused.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static lw_model *M;
static lw_session *S;

static int setup(void **state) {
    (void)state;
    return lw_synth_session_default("race_retrieval_api.gguf", &M, &S);
}

static int teardown(void **state) {
    (void)state;
    lw_session_free(S);
    lw_model_free(M);
    return 0;
}

/* 24 distinct passages of a few words each, one per line. */
static const char *write_passages(const char *name) {
    static const char *const words[] = {"the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "sun"};
    char text[4096] = "";
    for (int i = 0; i < 24; i++) {
        char line[128];
        snprintf(line, sizeof line, "%s %s %s %s passage %d\n", words[i % 10], words[(i * 3 + 1) % 10],
                 words[(i * 7 + 2) % 10], words[(i / 3) % 10], i);
        strcat(text, line);
    }
    const char *path = lw_test_tmpfile(name);
    lw_test_write_text(path, text);
    return path;
}

static const lw_codec_kind CODECS[] = {LW_CODEC_ZLIB, LW_CODEC_TOPK};
static const int64_t BUDGETS[] = {64, 256};

static lw_codec_retrieval_experiment_params small_run(const char *passages, const char *out) {
    lw_codec_retrieval_experiment_params p = lw_codec_retrieval_experiment_default_params();
    p.session = S, p.model_name = "synthetic", p.passages = passages, p.out_dir = out;
    p.n_scored = 10, p.n_calib = 8, p.codecs = CODECS, p.n_codecs = 2, p.budgets = BUDGETS, p.n_budgets = 2;
    return p;
}

/* retrieval.json and retrieval.csv hold what the call returns, the csv is the json's table, and
 * the rows were appended to retrieval.partial; a rerun with --resume gives the same document. */
static void test_files_are_the_result(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("race_retrieval_api_run");
    lw_codec_retrieval_experiment_params p = small_run(write_passages("rr_api.txt"), dir);
    char *json = NULL, *csv = NULL;
    if (lw_codec_retrieval_experiment_run(&p, &json, &csv) != 0) fail_msg("run: %s", lw_last_error());
    char *json_file = lw_test_read_file(lw_test_join(dir, "retrieval.json"));
    char *csv_file = lw_test_read_file(lw_test_join(dir, "retrieval.csv"));
    char *table = lw_codec_retrieval_csv(json);
    assert_string_equal(json_file, json);
    assert_string_equal(csv_file, csv);
    assert_string_equal(table, csv);
    json_t *r = json_loads(json, 0, NULL), *rows = json_object_get(r, "rows");
    assert_int_equal(json_array_size(rows), 4); /* 2 codecs x 2 budgets */
    assert_int_equal(lw_test_dir_entries(dir), 3);
    p.resume = true;
    char *again = NULL;
    if (lw_codec_retrieval_experiment_run(&p, &again, NULL) != 0) fail_msg("resume: %s", lw_last_error());
    assert_string_equal(again, json);
    json_decref(r);
    free(json), free(csv), free(json_file), free(csv_file), free(table), free(again);
}

/* The passages file named as the csv the run writes: it was overwritten with exit 0. */
static void test_output_that_is_an_input(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("race_retrieval_api_same");
    char passages[2048], model_path[2048];
    snprintf(passages, sizeof passages, "%s", lw_test_join(dir, "retrieval.csv"));
    lw_test_write_text(passages, "kept as it is\nand this too\n");
    lw_codec_retrieval_experiment_params p = small_run(passages, dir);
    REFUSED(lw_codec_retrieval_experiment_run(&p, NULL, NULL), "is the same file as --passages");
    snprintf(model_path, sizeof model_path, "%s", lw_test_join(dir, "retrieval.json")); /* the caller's input */
    lw_test_write_text(model_path, "the caller's input\n");
    const char *const inputs[] = {"--model", model_path, NULL};
    p.passages = write_passages("rr_api_other.txt"), p.inputs = inputs;
    REFUSED(lw_codec_retrieval_experiment_check_outputs(&p), "is the same file as --model");
    char *kept = lw_test_read_file(passages), *kept_model = lw_test_read_file(model_path);
    assert_string_equal(kept, "kept as it is\nand this too\n");
    assert_string_equal(kept_model, "the caller's input\n");
    assert_int_equal(lw_test_dir_entries(dir), 2);
    free(kept), free(kept_model);
}

/* A codec or a budget given twice made two identical rows; a missing session or layer beyond the
 * model are named; nothing is written for any of them, not even the output directory. */
static void test_refused_before_any_work(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("race_retrieval_api_refused");
    char out[2048];
    snprintf(out, sizeof out, "%s", lw_test_join(dir, "o"));
    lw_codec_retrieval_experiment_params p = small_run(write_passages("rr_api_refused.txt"), out);
    const int64_t twice[] = {64, 128, 64};
    p.budgets = twice, p.n_budgets = 3;
    REFUSED(lw_codec_retrieval_experiment_run(&p, NULL, NULL), "budget 64 bits is listed twice");
    const lw_codec_kind codecs_twice[] = {LW_CODEC_TOPK, LW_CODEC_ZLIB, LW_CODEC_TOPK};
    p = small_run(p.passages, out);
    p.codecs = codecs_twice, p.n_codecs = 3;
    REFUSED(lw_codec_retrieval_experiment_run(&p, NULL, NULL), "codec topk is listed twice");
    p = small_run(p.passages, out);
    p.layer = "99";
    REFUSED(lw_codec_retrieval_experiment_run(&p, NULL, NULL), "--layer 99: must be mid or a layer in");
    p.layer = "mid", p.session = NULL;
    REFUSED(lw_codec_retrieval_experiment_run(&p, NULL, NULL), "no session");
    REFUSED(lw_codec_retrieval_experiment_run(NULL, NULL, NULL), "no parameters");
    p.session = S, p.out_dir = NULL;
    REFUSED(lw_codec_retrieval_experiment_check_outputs(&p), "no output directory (--out)");
    /* the output directory a refused run created is removed again */
    assert_int_equal(lw_test_dir_entries(dir), 0);
}

/* lw_write_text_file: the text whole under its name; into a missing directory, the OS's reason. */
static void test_write_text_file(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("write_text_file");
    char path[2048], missing[2048];
    snprintf(path, sizeof path, "%s", lw_test_join(dir, "t.txt"));
    assert_int_equal(lw_write_text_file(path, "one\ntwo\n"), 0);
    char *back = lw_test_read_file(path);
    assert_string_equal(back, "one\ntwo\n");
    free(back);
    snprintf(missing, sizeof missing, "%s", lw_test_join(dir, "none/t.txt"));
    REFUSED(lw_write_text_file(missing, "x"), "No such file or directory");
    REFUSED(lw_write_text_file(NULL, "x"), "path is NULL");
    REFUSED(lw_write_text_file(path, NULL), "text is NULL");
    assert_int_equal(lw_test_dir_entries(dir), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files_are_the_result),
        cmocka_unit_test(test_output_that_is_an_input),
        cmocka_unit_test(test_refused_before_any_work),
        cmocka_unit_test(test_write_text_file),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
