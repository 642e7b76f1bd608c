/* The public API called as a binding (ctypes, cffi) would call it, with the arguments a mistake
 * passes: NULL for a required pointer, a count below 0, an enum value outside its range, NaN.
 * Each call must fail with one line naming what is wrong, and crash nothing (this runs under
 * ASan + UBSan in the test build). Before, every call below dereferenced NULL, aborted in malloc,
 * read past a buffer, or returned 0 for an answer that meant nothing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "latentwire/acts.h"
#include "latentwire/bridge.h"
#include "latentwire/channel.h"
#include "latentwire/channel_experiment.h"
#include "latentwire/hookspec.h"
#include "latentwire/panel.h"
#include "latentwire/race.h"
#include "latentwire/race_experiment.h"
#include "latentwire/retrieval.h"
#include "latentwire/experiment.h"
#include "latentwire/paraphrase.h"
#include "latentwire/probes.h"
#include "latentwire/records.h"
#include "latentwire/codec.h"
#include "latentwire/error.h"
#include "latentwire/report.h"
#include "latentwire/retrieval_runs.h"
#include "latentwire/rows.h"
#include "latentwire/runtime.h"
#include "latentwire/safetensors.h"
#include "latentwire/scan.h"
#include "latentwire/task.h"
#include "latentwire/textio.h"
#include "latentwire/verdict.h"
#include "support/refused.h"
#include "support/testutil.h"

static lw_task two_items(void) {
    lw_task t;
    assert_int_equal(lw_task_story(2, 1, &t), 0);
    assert_int_equal(t.n, 2);
    return t;
}

static void test_tasks(void **state) {
    (void)state;
    lw_task t = two_items(), out, parts[2];
    int sizes[2] = {1, 1};
    REFUSED(lw_task_copy(NULL, &out), "the task is NULL");
    REFUSED(lw_task_copy(&t, NULL), "out is NULL");
    REFUSED(lw_task_split(NULL, sizes, 2, 1, parts), "the pool is NULL");
    REFUSED(lw_task_split(&t, NULL, 2, 1, parts), "sizes is NULL");
    REFUSED(lw_task_split(&t, sizes, 2, 1, NULL), "parts is NULL");
    REFUSED(lw_task_split(&t, sizes, -1, 1, parts), "n_parts = -1");
    lw_task_spec_params p = lw_task_spec_default_params();
    p.kinds = 0; /* accepted nothing, and said so in a message cut after "give " */
    REFUSED(lw_task_from_spec("story:3", &p, &out), "kinds = 0");
    p = lw_task_spec_default_params();
    p.fv_format = (lw_task_fv_format)7;
    REFUSED(lw_task_from_spec("story:3", &p, &out), "fv_format = 7");
    assert_int_equal(lw_task_copy(&t, &out), 0); /* and the valid calls still work */
    assert_int_equal(out.n, 2);
    lw_task_free(&out);
    assert_int_equal(lw_task_split(&t, sizes, 2, 1, parts), 0);
    lw_task_free(&parts[0]), lw_task_free(&parts[1]);
    lw_task_free(&t);
}

static float *rows_of(int64_t n, int d) {
    float *x = malloc(sizeof(float) * (size_t)(n * d));
    for (int64_t i = 0; i < n * d; i++) x[i] = (float)sin((double)(i + 1) * 0.37);
    return x;
}

static void test_codecs(void **state) {
    (void)state;
    REFUSED(lw_codec_width(NULL), "the codec is NULL");
    REFUSED(lw_codec_positions(NULL), "the codec is NULL");
    REFUSED(lw_codec_budget_bits(NULL), "the codec is NULL");
    REFUSED(lw_codec_side_bits(NULL), "the codec is NULL");
    REFUSED((int)lw_codec_kind_of(NULL), "the codec is NULL");
    REFUSED_NULL(lw_codec_record_json(NULL), "the codec is NULL");
    REFUSED(lw_codec_check_fit(NULL, "layer.1", NULL, NULL), "the codec is NULL");
    REFUSED(lw_codec_save(NULL, "x"), "the codec is NULL");

    const int d = 8;
    float *x = rows_of(40, d);
    lw_codec_params p = lw_codec_default_params(LW_CODEC_PCAQ);
    p.budget_bits = 64;
    p.positions = -3; /* was taken as 1 */
    REFUSED_NULL(lw_codec_fit_act(&p, x, 40, d), "positions -3");
    p.positions = 3; /* 40 rows are 13 items of 3 and one row left unseen */
    REFUSED_NULL(lw_codec_fit_act(&p, x, 40, d), "not whole items of 3 positions (1 left over)");
    p.positions = 1;
    x[17 * d + 5] = NAN; /* the SAE decoded NaN, pcaq said "dsyevd failed (info -5)" */
    REFUSED_NULL(lw_codec_fit_act(&p, x, 40, d), "calibration row 17 has a non-finite value (nan at coordinate 5)");
    lw_codec_params ps = lw_codec_default_params(LW_CODEC_SAE);
    ps.budget_bits = 64;
    x[17 * d + 5] = INFINITY;
    REFUSED_NULL(lw_codec_fit_act(&ps, x, 40, d), "calibration row 17 has a non-finite value (inf");
    x[17 * d + 5] = 0.5f;

    lw_codec *c = lw_codec_fit_act(&p, x, 40, d);
    assert_non_null(c);
    lw_payload pl;
    float item[8];
    memcpy(item, x, sizeof item);
    REFUSED(lw_codec_encode_act(c, NULL, &pl), "item is NULL");
    REFUSED(lw_codec_encode_act(c, item, NULL), "out is NULL");
    REFUSED(lw_codec_encode_act(NULL, item, &pl), "the codec is NULL");
    item[2] = NAN; /* encoded as if it were a number, exit 0 */
    REFUSED(lw_codec_encode_act(c, item, &pl), "non-finite value (nan at position 0, coordinate 2)");
    item[2] = x[2];
    assert_int_equal(lw_codec_encode_act(c, item, &pl), 0);
    REFUSED(lw_codec_decode_act(c, pl.bytes, pl.n, NULL), "item is NULL");
    REFUSED(lw_codec_decode_act(c, NULL, pl.n, item), "bytes is NULL");
    REFUSED(lw_codec_decode_act(NULL, pl.bytes, pl.n, item), "the codec is NULL");
    assert_int_equal(lw_codec_decode_act(c, pl.bytes, pl.n, item), 0);
    free(pl.bytes);
    REFUSED(lw_codec_set_meta(c, NULL, "1"), "no key");
    REFUSED(lw_codec_set_meta(c, "k", NULL), "no value");
    REFUSED(lw_codec_set_meta(NULL, "k", "1"), "the codec is NULL");
    lw_codec_free(c);
    free(x);

    lw_codec_params pt = lw_codec_default_params(LW_CODEC_ZLIB);
    const char *texts[] = {"a text", "another text"};
    lw_codec *z = lw_codec_fit_text(&pt, texts, 2);
    assert_non_null(z);
    char *back;
    REFUSED(lw_codec_encode_text(z, "hello", NULL), "out is NULL");
    REFUSED(lw_codec_decode_text(z, (const uint8_t *)"x", 1, NULL), "text is NULL");
    REFUSED(lw_codec_decode_text(z, NULL, 4, &back), "bytes is NULL");
    lw_codec_free(z);
}

static void test_activation_files(void **state) {
    (void)state;
    lw_act_tensor t;
    int64_t *ia = (int64_t *)1, *ib = (int64_t *)1;
    REFUSED(lw_act_open(NULL, "layer.0", &t), "no path");
    REFUSED(lw_act_open("x.safetensors", NULL, &t), "no tensor name"); /* was: no tensor "(null)" */
    REFUSED(lw_act_open("x.safetensors", "layer.0", NULL), "out is NULL");
    REFUSED(lw_act_join(NULL, &t, &ia, &ib), "tensor a is NULL");
    assert_null(ia); /* nothing left for the caller to free or trust */
    assert_null(ib);

    const int64_t ra[3] = {1, 2, 3}, rb[2] = {3, 1};
    lw_row_keys a = {.label = "A", .row_id = ra, .n = 3}, b = {.label = "B", .row_id = rb, .n = 2};
    REFUSED(lw_join_rows(&a, &b, LW_JOIN_ROW_ID, NULL, &ib), "ia is NULL");
    REFUSED(lw_join_rows(NULL, &b, LW_JOIN_ROW_ID, &ia, &ib), "a is NULL");
    REFUSED(lw_join_rows(&a, &b, (lw_join_mode)5, &ia, &ib), "mode 5");
    lw_row_keys bad = {.label = "C", .row_id = NULL, .n = 4};
    REFUSED(lw_join_rows(&a, &bad, LW_JOIN_ROW_ID, &ia, &ib), "has 4 rows and no row ids");
    bad.n = -1;
    bad.row_id = ra;
    REFUSED(lw_join_rows(&a, &bad, LW_JOIN_ROW_ID, &ia, &ib), "a negative row count -1");
    /* a failed join hands back no half-filled arrays (they leaked, or were freed twice) */
    REFUSED(lw_join_rows(&a, &b, LW_JOIN_ROW_POSITION, &ia, &ib), "no \"position\" and \"token\" tensors");
    assert_null(ia);
    assert_null(ib);
    assert_int_equal(lw_join_rows(&a, &b, LW_JOIN_ROW_ID, &ia, &ib), 2);
    assert_true(ia[0] == 0 && ib[0] == 1 && ia[1] == 2 && ib[1] == 0);
    free(ia), free(ib);
}

static void test_files_and_lists(void **state) {
    (void)state;
    REFUSED_NULL(lw_st_writer_new(NULL), "no path");
    const char *dir = lw_test_tmpfile("a_directory");
    mkdir(dir, 0755);
    /* a directory where the output goes was found only at the rename, after all the work */
    REFUSED_NULL(lw_st_writer_new(dir), "is a directory");
    REFUSED(lw_st_writer_add(NULL, "x", LW_DT_F32, 0, NULL), "the writer is NULL");
    REFUSED(lw_st_writer_finish(NULL), "the writer is NULL");
    char **items;
    REFUSED(lw_list_split("--x", "a,b", NULL), "items is NULL");
    assert_int_equal(lw_list_split(NULL, "a,b", &items), 2);
    free(items);
    lw_corpus c;
    REFUSED(lw_corpus_load(NULL, "x.txt", NULL), "the corpus is NULL");
    REFUSED(lw_corpus_load(&c, NULL, NULL), "no path");
    lw_site_ref ref, *refs;
    REFUSED(lw_site_parse("3", 12, NULL), "out is NULL");
    REFUSED(lw_site_parse_list("3", 12, NULL), "out is NULL");
    assert_int_equal(lw_site_parse("3", 12, &ref), 0);
    assert_int_equal(lw_site_parse_list("3,4", 12, &refs), 2);
    free(refs);
    REFUSED(lw_model_quantize(NULL, "o.gguf", "q8_0", 1, NULL), "no input path");
    REFUSED(lw_model_quantize("i.gguf", NULL, "q8_0", 1, NULL), "no output path");
}

static void test_plans_items_reports(void **state) {
    (void)state;
    REFUSED_NULL(lw_plan_load(NULL), "no path");
    REFUSED_NULL(lw_plan_sha256(NULL), "the plan is NULL");
    REFUSED_NULL(lw_plan_title(NULL), "the plan is NULL");
    REFUSED_NULL(lw_plan_correction(NULL), "the plan is NULL");
    REFUSED(lw_plan_n_hypotheses(NULL), "the plan is NULL");
    lw_clear_error();
    assert_true(isnan(lw_plan_alpha(NULL)));
    failed_with("lw_plan_alpha(NULL)", "the plan is NULL");
    REFUSED_NULL(lw_plan_hypothesis_id(NULL, 0), "the plan is NULL");
    REFUSED_NULL(lw_plan_hypothesis_metric(NULL, 0), "the plan is NULL");
    REFUSED_NULL(lw_plan_hypothesis_condition(NULL, 0, 0), "the plan is NULL");

    const char *rec = lw_test_tmpfile("api.items.jsonl");
    lw_item_record r = {.condition = "A", .item = "q1", .metric = "em", .value = 1, .split = "calib"};
    /* written, then refused by lw_items_load: a file no verdict could read */
    REFUSED(lw_items_save(rec, NULL, "test", &r, 1), "split \"calib\"");
    r.split = NULL;
    r.cluster = "";
    REFUSED(lw_items_save(rec, NULL, "test", &r, 1), "an empty cluster");
    r.cluster = NULL;
    REFUSED(lw_items_save(rec, NULL, "test", &r, -1), "-1 records");
    REFUSED(lw_items_save(rec, NULL, "test", NULL, 2), "none given");
    assert_int_equal(lw_items_save(rec, NULL, "test", &r, 1), 0);
    /* one item twice under one condition and metric: written, then refused by every verdict */
    lw_item_record twice[3] = {r, r, r};
    twice[1].item = "q2";
    twice[2].value = 0;
    REFUSED(lw_items_save(rec, NULL, "test", twice, 3), "item 'q1' of condition 'A' (em) is recorded twice");
    twice[2].metric = "f1"; /* another metric, or the selection items, may hold it again */
    assert_int_equal(lw_items_save(rec, NULL, "test", twice, 3), 0);
    twice[2].metric = "em", twice[2].split = "selection";
    assert_int_equal(lw_items_save(rec, NULL, "test", twice, 3), 0);

    const char *none[] = {NULL};
    REFUSED_NULL(lw_report_html(none, 1, NULL), "result file 1 has no path");
    REFUSED_NULL(lw_report_html(NULL, 1, NULL), "no result files");
}

static void test_retrieval_runs(void **state) {
    (void)state;
    REFUSED_NULL(lw_retrieval_files_run(NULL), "params is NULL");
    lw_retrieval_files_params fp = lw_retrieval_files_default_params(); /* no files named */
    REFUSED_NULL(lw_retrieval_files_run(&fp), "need queries, candidates");
    fp.queries = fp.candidates = "x.safetensors";
    fp.query_tensor = fp.candidate_tensor = "layer.0";
    fp.ndcg_gain = (lw_ndcg_gain)9; /* aborted in malloc with n_metrics -1 */
    REFUSED_NULL(lw_retrieval_files_run(&fp), "ndcg_gain = 9");
    REFUSED_NULL(lw_retrieval_beir_run(NULL), "params is NULL");
    lw_retrieval_beir_params bp = lw_retrieval_beir_default_params();
    bp.beir = "dir", bp.source_model = bp.target_model = "m.gguf";
    bp.ndcg_gain = (lw_ndcg_gain)9;
    REFUSED_NULL(lw_retrieval_beir_run(&bp), "ndcg_gain = 9");
    REFUSED_NULL(lw_retrieval_paired(NULL, "b.jsonl", 100, 1), "no path for run A");

    lw_retrieval_params rp = lw_retrieval_default_params();
    const int nm = lw_retrieval_n_metrics(&rp);
    double m[2 * 8];
    for (int i = 0; i < 2 * nm; i++) m[i] = 0.5;
    REFUSED_NULL(lw_retrieval_summarize(m, -1, &rp, 100, 1), "-1 queries");
    REFUSED_NULL(lw_retrieval_summarize(NULL, 2, &rp, 100, 1), "no metrics");
    rp.k[1] = rp.k[0]; /* two columns "recall@1": JSON kept one */
    REFUSED_NULL(lw_retrieval_summarize(m, 2, &rp, 100, 1), "k[1] = 1 repeats k[0]");
    rp = lw_retrieval_default_params();

    const char *path = lw_test_tmpfile("api.per_query.jsonl");
    const char *ids[2] = {"q1", "q2"}, *twice[2] = {"q1", "q1"}, *no_id[2] = {"q1", NULL};
    REFUSED(lw_retrieval_write_per_query(path, twice, 2, m, &rp), "query id \"q1\" is given twice");
    REFUSED(lw_retrieval_write_per_query(path, no_id, 2, m, &rp), "query 1 has no id");
    REFUSED(lw_retrieval_write_per_query(path, ids, -1, m, &rp), "a negative query count");
    REFUSED(lw_retrieval_write_per_query(path, ids, 0, m, &rp), "no queries scored"); /* the reader refuses the empty file */
    REFUSED(lw_retrieval_write_per_query(NULL, ids, 2, m, &rp), "no path");
    m[nm + 1] = NAN; /* was written as a record without that metric */
    char name[32], want[96];
    snprintf(want, sizeof want, "query \"q2\": %s = nan is not in [0, 1]", lw_retrieval_metric_name(&rp, 1, name, 32));
    REFUSED(lw_retrieval_write_per_query(path, ids, 2, m, &rp), want);
    m[nm + 1] = 0.5;
    assert_int_equal(lw_retrieval_write_per_query(path, ids, 2, m, &rp), 0);
}

static void test_runners_and_enums(void **state) {
    (void)state;
    lw_scan_result res;
    lw_scan_experiment_params sp = lw_scan_experiment_default_params();
    REFUSED(lw_scan_experiment_run(NULL, &res), "params is NULL");
    REFUSED(lw_scan_experiment_run(&sp, NULL), "out is NULL");
    REFUSED(lw_bridge_check_fit(NULL, "source", NULL, NULL, NULL), "the bridge is NULL");
    REFUSED(lw_bridge_source_dim(NULL), "the bridge is NULL"); /* was 0, which looked like a width */
    REFUSED(lw_bridge_out_dim(NULL), "the bridge is NULL");
    REFUSED(lw_session_n_ctx(NULL), "the session is NULL");
    REFUSED(lw_items_count(NULL), "the records are NULL");
    REFUSED_NULL(lw_model_sha256(NULL), "the model is NULL");
    lw_verdict *v;
    REFUSED(lw_verdict_evaluate(NULL, NULL, &v), "the plan is NULL");
    /* every *_free takes NULL, as free does */
    lw_channel_result_free(NULL);
    lw_debate_result_free(NULL);
    lw_mdcorpus_free(NULL);
    lw_paraphrase_set_free(NULL);
    lw_probe_result_free(NULL);
    lw_generate_text_result_free(NULL);
    lw_hook_from_spec_free(NULL);
    lw_records_free(NULL);
    lw_codec_free(NULL);
    lw_plan_free(NULL);
    lw_items_free(NULL);
    lw_st_writer_free(NULL);
    lw_corpus_free(NULL);
    lw_act_close(NULL);
    lw_beir_free(NULL);
    lw_bridge_free(NULL);
    lw_channel_experiment_free(NULL);
    lw_channel_experiment_result_free(NULL);
    lw_hook_spec_free(NULL);
    lw_model_free(NULL);
    lw_panel_prompt_set_free(NULL);
    lw_patching_result_free(NULL);
    lw_race_evaluator_free(NULL);
    lw_race_experiment_result_free(NULL);
    lw_scan_result_free(NULL);
    lw_session_free(NULL);
    lw_st_close(NULL);
    lw_task_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tasks),
        cmocka_unit_test(test_codecs),
        cmocka_unit_test(test_activation_files),
        cmocka_unit_test(test_files_and_lists),
        cmocka_unit_test(test_plans_items_reports),
        cmocka_unit_test(test_retrieval_runs),
        cmocka_unit_test(test_runners_and_enums),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
