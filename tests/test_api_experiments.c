/* The experiment headers' public API as a C or ctypes user calls it, where a call broke the
 * documented contract (found by an API adversary, helper-55): channel_experiment.h, race.h,
 * scan.h, probes.h and the rest. Each case below crashed, was undefined, returned a plausible
 * answer with no message, or left a file behind; each must now be refused with one line naming
 * what is wrong, or give the documented answer. A synthetic model (support/synth_model.h) stands
 * in for a real one. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "latentwire/bridge.h"
#include "latentwire/channel_experiment.h"
#include "latentwire/panel.h"
#include "latentwire/paraphrase.h"
#include "latentwire/probes.h"
#include "latentwire/experiment.h"
#include "latentwire/files.h"
#include "latentwire/race.h"
#include "latentwire/race_experiment.h"
#include "latentwire/runtime.h"
#include "latentwire/scan.h"
#include "latentwire/task.h"
#include "latentwire/verdict.h"
#include "support/refused.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static lw_model *M;
static lw_session *S;

static int setup(void **state) {
    (void)state;
    return lw_synth_session_default("experiments.gguf", &M, &S);
}

static int teardown(void **state) {
    (void)state;
    lw_session_free(S);
    lw_model_free(M);
    return 0;
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* ------------------------------------------------------------------ channel experiment */

static lw_channel_experiment_params none_params(void) {
    lw_channel_experiment_params p = lw_channel_experiment_default_params();
    p.channels = "none";
    p.answer_tokens = 2;
    p.resamples = 200;
    return p;
}

/* NULL sessions, params, handles and out-pointers crashed. */
static void test_channel_experiment_nulls(void **state) {
    (void)state;
    lw_channel_experiment_params p = none_params();
    REFUSED_NULL(lw_channel_experiment_new(NULL, S, &p), "sender");
    REFUSED_NULL(lw_channel_experiment_new(S, NULL, &p), "receiver");
    REFUSED_NULL(lw_channel_experiment_new(S, S, NULL), "params");
    lw_channel_experiment *e = lw_channel_experiment_new(S, S, &p);
    assert_non_null(e);
    int a = 7, b = 7;
    lw_clear_error();
    lw_channel_experiment_needs(NULL, &a, &b);
    assert_int_equal(a, 0);
    assert_int_equal(b, 0);
    failed_with("lw_channel_experiment_needs(NULL)", "experiment is NULL");
    lw_channel_experiment_needs(e, NULL, NULL); /* nothing asked: nothing written */
    lw_task t;
    assert_int_equal(lw_task_story(2, 1, &t), 0);
    lw_channel_experiment_result *r = (void *)1;
    REFUSED(lw_channel_experiment_run(NULL, &t, -1, &r), "experiment is NULL");
    assert_null(r);
    REFUSED(lw_channel_experiment_run(e, NULL, -1, &r), "pool is NULL");
    REFUSED(lw_channel_experiment_run(e, &t, -1, NULL), "out is NULL");
    REFUSED(lw_channel_experiment_save(NULL, lw_test_tmpfile("x.json")), "result is NULL");
    assert_false(exists(lw_test_tmpfile("x.json")));
    assert_int_equal(lw_channel_experiment_run(e, &t, -1, &r), 0);
    REFUSED(lw_channel_experiment_save(r, NULL), "path");
    lw_channel_experiment_result_free(r);
    lw_channel_experiment_free(e);
    lw_task_free(&t);
}

/* Settings lw_channel_run refuses were taken (NaN --temp read as the default) or refused only at
 * the first item, after the records were begun, by their lw_channel_params names. */
static void test_channel_experiment_settings(void **state) {
    (void)state;
    const struct {
        const char *channels;
        int field;
        double v;
        const char *needle;
    } cases[] = {
        {"none,text", 0, NAN, "--temp nan"},
        {"none,cipher", 0, INFINITY, "--temp inf"},
        {"none,text", 1, 0, "--message-tokens 0"},
        {"none,text", 1, -3, "--message-tokens -3"},
        {"none", 2, 0, "--answer-tokens 0"},
        {"none", 2, -1, "--answer-tokens -1"},
        {"none,cipher", 3, -2, "--top-k -2"},
        {"none,cipher", 4, NAN, "--top-p nan"},
        {"none,cipher", 4, 0, "--top-p 0"},
        {"none,cipher", 4, 1.5, "--top-p 1.5"},
        {"none,cipher", 5, NAN, "--onehot nan"},
        {"none,cipher", 5, -1, "--onehot -1"},
        {"none", 6, 0, "--resamples: n_resamples = 0"},
        {"none", 6, -5, "--resamples: n_resamples = -5"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        lw_channel_experiment_params p = none_params();
        p.channels = cases[c].channels;
        p.message_tokens = 4;
        switch (cases[c].field) {
        case 0: p.temp = (float)cases[c].v; break;
        case 1: p.message_tokens = (int)cases[c].v; break;
        case 2: p.answer_tokens = (int)cases[c].v; break;
        case 3: p.top_k = (int)cases[c].v; break;
        case 4: p.top_p = (float)cases[c].v; break;
        case 5: p.onehot = (float)cases[c].v; break;
        case 6: p.resamples = (int)cases[c].v; break;
        }
        lw_clear_error();
        lw_channel_experiment *e = lw_channel_experiment_new(S, S, &p);
        if (e) fail_msg("%s: taken", cases[c].needle);
        failed_with(cases[c].needle, cases[c].needle);
    }
}

/* A sweep with --select 0 chose its first setting on no items (score 0 of 0) and reported it as
 * chosen; a negative --select or --calib passed as a split size. */
static void test_channel_experiment_counts(void **state) {
    (void)state;
    lw_channel_experiment_params p = none_params();
    p.channels = "ac";
    p.k_layers = "0,1";
    p.select = 0;
    REFUSED_NULL(lw_channel_experiment_new(S, S, &p), "--select 0");
    p.select = -4;
    REFUSED_NULL(lw_channel_experiment_new(S, S, &p), "--select -4");
    p.select = 2;
    p.channels = "acw";
    p.k_layers = "mid";
    p.calib = 0;
    REFUSED_NULL(lw_channel_experiment_new(S, S, &p), "--calib 0");
    p.calib = -1;
    REFUSED_NULL(lw_channel_experiment_new(S, S, &p), "--calib -1");
}

/* --out and --summary one file: the records were renamed over the summary just written. */
static void test_channel_experiment_outputs_distinct(void **state) {
    (void)state;
    lw_channel_experiment_params p = none_params();
    const char *path = lw_test_tmpfile("same.json");
    p.records = path;
    p.summary = path;
    REFUSED_NULL(lw_channel_experiment_new(S, S, &p), "the same file");
}


/* NULL params, task or result crashed; an empty task or --resamples 0 returned 0 with every
 * interval a zero (lw_ci_mean refused, unseen); --out and --json one file were not refused. */
static void test_debate_experiment_arguments(void **state) {
    (void)state;
    lw_task t, empty = {0};
    assert_int_equal(lw_task_story(2, 1, &t), 0);
    lw_debate_experiment_params p = lw_debate_experiment_default_params();
    p.agents = lw_test_tmpfile("experiments.gguf");
    p.resamples = 200;
    lw_debate_experiment_result r;
    REFUSED(lw_debate_experiment_run(NULL, &t, &r), "params is NULL");
    REFUSED(lw_debate_experiment_run(&p, NULL, &r), "task is NULL");
    REFUSED(lw_debate_experiment_run(&p, &t, NULL), "result out is NULL");
    REFUSED(lw_debate_experiment_run(&p, &empty, &r), "the task has no items");
    p.resamples = 0;
    REFUSED(lw_debate_experiment_run(&p, &t, &r), "--resamples: n_resamples = 0");
    p.resamples = 200;
    p.records = lw_test_tmpfile("debate.jsonl");
    p.summary = p.records;
    REFUSED(lw_debate_experiment_run(&p, &t, &r), "the same file");
    assert_false(exists(p.records));
    memset(&r, 0, sizeof r);
    REFUSED(lw_debate_experiment_save(NULL, lw_test_tmpfile("d.json")), "result is NULL");
    REFUSED(lw_debate_experiment_save(&r, NULL), "path is NULL");
    assert_false(exists(lw_test_tmpfile("d.json")));
    lw_task_free(&t);
}

/* ------------------------------------------------------------------ scan */

static int planted_eval(void *ctx, const lw_task_item *item, int condition, double *score, char **output) {
    (void)item;
    (void)output;
    *score = ctx ? *(const double *)ctx : (condition == LW_SCAN_CEILING ? 1.0 : 0.0);
    return 0;
}

/* NULL out / eval crashed; an evaluator's score outside [0, 1] (documented range) entered the
 * statistics (a mean of 3), NaN came back as "out of memory". */
static void test_scan_arguments(void **state) {
    (void)state;
    lw_task t;
    assert_int_equal(lw_task_story(6, 1, &t), 0);
    int layers[1] = {0};
    lw_scan_params p = lw_scan_default_params();
    p.layers = layers;
    p.n_layers = 1;
    p.n_select = 2;
    p.resamples = 200;
    lw_scan_result r;
    REFUSED(lw_scan_run_eval(&t, &p, planted_eval, NULL, NULL), "out is NULL");
    REFUSED(lw_scan_run_eval(&t, &p, NULL, NULL, &r), "eval");
    double three = 3.0, nan = NAN;
    REFUSED(lw_scan_run_eval(&t, &p, planted_eval, &three, &r), "score 3 is not in [0, 1]");
    p.records = lw_test_tmpfile("scan.partial");
    REFUSED(lw_scan_run_eval(&t, &p, planted_eval, &nan, &r), "score nan is not in [0, 1]");
    p.records = NULL;
    lw_task parts[2];
    REFUSED(lw_scan_split(NULL, &p, parts), "pool");
    REFUSED(lw_scan_split(&t, NULL, parts), "params");
    REFUSED(lw_scan_split(&t, &p, NULL), "parts");
    REFUSED(lw_scan_write(NULL, lw_test_tmpdir()), "nothing to write");
    /* through the models: NULL out, NULL layers */
    lw_scan_models m = {.sender = S, .receiver = S, .patch = lw_patch_default_params()};
    REFUSED(lw_scan_run(&t, &p, &m, NULL), "out is NULL");
    p.layers = NULL;
    REFUSED(lw_scan_run(&t, &p, &m, &r), "no layers");
    REFUSED(lw_scan_run(&t, &p, NULL, &r), "no sender or receiver");
    lw_task_free(&t);
}

/* lw_scan_score read outside its array for a split, condition or item it does not have. */
static void test_scan_score_bounds(void **state) {
    (void)state;
    lw_task t;
    assert_int_equal(lw_task_story(6, 1, &t), 0);
    int layers[2] = {0, 1};
    lw_scan_params p = lw_scan_default_params();
    p.layers = layers;
    p.n_layers = 2;
    p.n_select = 2;
    p.resamples = 200;
    lw_scan_result r;
    assert_int_equal(lw_scan_run_eval(&t, &p, planted_eval, NULL, &r), 0);
    assert_true(lw_scan_score(&r, 1, LW_SCAN_CEILING, 0) == 1.0);
    assert_true(lw_scan_score(&r, 0, 1, 1) == 0.0);
    const struct {
        int split, cond, i;
        const char *needle;
    } bad[] = {{2, 0, 0, "split 2"}, {-1, 0, 0, "split -1"}, {0, 2, 0, "condition 2"}, {0, -3, 0, "condition -3"},
               {0, 0, 2, "item 2"},  {1, 0, -1, "item -1"},  {1, 0, r.held_out.n, "item"}};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        lw_clear_error();
        assert_true(isnan(lw_scan_score(&r, bad[k].split, bad[k].cond, bad[k].i)));
        failed_with("lw_scan_score", bad[k].needle);
    }
    lw_clear_error();
    assert_true(isnan(lw_scan_score(NULL, 0, 0, 0)));
    failed_with("lw_scan_score(NULL)", "result is NULL");
    lw_scan_result_free(&r);
    lw_task_free(&t);
}


/* ------------------------------------------------------------------ race */

typedef struct {
    int64_t payload_bits;
    bool fill_na;       /* na filled to its last byte, no NUL */
} race_plant;

static int race_eval(void *ctx, const lw_race_channel *ch, int64_t budget_bits, int item, lw_race_outcome *out) {
    (void)ch;
    (void)budget_bits;
    const race_plant *pl = ctx;
    out->score = item % 2;
    out->payload_bits = pl ? pl->payload_bits : 8;
    if (pl && pl->fill_na) memset(out->na, 'x', sizeof out->na);
    return 0;
}

static lw_race_params race_params(const char *dir, lw_race_channel *ch, const char *const *ids, int n) {
    lw_race_params p = lw_race_default_params();
    assert_int_equal(lw_race_channel_parse("floor", &ch[0]), 0);
    p.out_dir = dir;
    p.channels = ch;
    p.n_channels = 1;
    p.item_ids = ids;
    p.n_items = n;
    p.resamples = 200;
    p.eval = race_eval;
    return p;
}

/* budgets NULL with a count crashed; an item id listed twice (documented: distinct) ran once and
 * was reused for the other, its record standing for both; an evaluator's negative payload was
 * recorded; an na without its NUL was read past its end. */
static void test_race_run_arguments(void **state) {
    (void)state;
    char dir[1300];
    snprintf(dir, sizeof dir, "%s/race1", lw_test_tmpdir());
    assert_int_equal(lw_mkdir_p(dir), 0);
    lw_race_channel ch[2];
    const char *ids[3] = {"a", "b", "a"};
    lw_race_params p = race_params(dir, ch, ids, 2);
    p.n_budgets = 2; /* budgets NULL */
    REFUSED(lw_race_run(&p), "budgets is NULL");
    p.n_budgets = 0;
    p.n_items = 3;
    REFUSED(lw_race_run(&p), "item id a is listed twice");
    char *partial = lw_race_partial_path(dir, 0, 1);
    assert_false(exists(partial));
    p.n_items = 2;
    assert_int_equal(lw_race_channel_parse("act:topk", &ch[0]), 0);
    int64_t budgets[1] = {64};
    p.budgets = budgets;
    p.n_budgets = 1;
    race_plant neg = {.payload_bits = -5};
    p.eval_ctx = &neg;
    REFUSED(lw_race_run(&p), "payload_bits -5");
    race_plant na = {.payload_bits = 8, .fill_na = true};
    p.eval_ctx = &na;
    p.resume = false;
    assert_int_equal(lw_race_run(&p), 0); /* the na cut at its last byte: no read past it */
    free(partial);
}

/* NULL handles of the race's helpers were dereferenced; lw_race_write_items(NULL) printed "(null)"
 * through %s (undefined). */
static void test_race_helpers_nulls(void **state) {
    (void)state;
    REFUSED_NULL(lw_race_evaluator_fits_json(NULL), "the evaluator is NULL");
    lw_race_channel ch;
    assert_int_equal(lw_race_channel_parse("floor", &ch), 0);
    lw_race_outcome o;
    REFUSED(lw_race_evaluate(NULL, &ch, 64, 0, &o), "the evaluator (ctx) is NULL");
    REFUSED(lw_race_experiment_check_outputs(NULL), "no parameters");
    REFUSED(lw_race_write_items(NULL), "out_dir is NULL");
    lw_race_experiment_result_free(NULL);
}

/* lw_codec_retrieval: NULL arrays, a negative text count and a NULL text were read; a NULL
 * result_json written; a repeated codec or budget computed and listed twice; level 1.5 refused only
 * after every forward pass; a negative memo_bytes taken. */
static void test_codec_retrieval_arguments(void **state) {
    (void)state;
    lw_codec_kind k = LW_CODEC_TOPK, kk[2] = {LW_CODEC_TOPK, LW_CODEC_TOPK};
    int64_t b = 64, bb[2] = {64, 64};
    const char *texts[4] = {"a b", "c d", "e f", "g h"}, *holed[4] = {"a b", NULL, "e f", "g h"};
    lw_codec_retrieval_params p = lw_codec_retrieval_default_params();
    char *json = NULL;
    REFUSED(lw_codec_retrieval(S, texts, 4, 2, 2, &k, 1, &b, 1, &p, NULL), "result_json is NULL");
    REFUSED(lw_codec_retrieval(S, NULL, 4, 2, 2, &k, 1, &b, 1, &p, &json), "texts NULL");
    REFUSED(lw_codec_retrieval(S, texts, -1, 2, 2, &k, 1, &b, 1, &p, &json), "-1 texts");
    REFUSED(lw_codec_retrieval(S, holed, 4, 2, 2, &k, 1, &b, 1, &p, &json), "text 1 is NULL");
    REFUSED(lw_codec_retrieval(S, texts, 4, 2, 2, NULL, 1, &b, 1, &p, &json), "no codecs");
    REFUSED(lw_codec_retrieval(S, texts, 4, 2, 2, &k, 1, NULL, 1, &p, &json), "no budgets");
    REFUSED(lw_codec_retrieval(S, texts, 4, 2, 2, kk, 2, &b, 1, &p, &json), "codec topk is listed twice");
    REFUSED(lw_codec_retrieval(S, texts, 4, 2, 2, &k, 1, bb, 2, &p, &json), "budget 64 bits is listed twice");
    p.level = 1.5;
    REFUSED(lw_codec_retrieval(S, texts, 4, 2, 2, &k, 1, &b, 1, &p, &json), "level 1.5");
    p = lw_codec_retrieval_default_params();
    p.memo_bytes = -5;
    REFUSED(lw_codec_retrieval(S, texts, 4, 2, 2, &k, 1, &b, 1, &p, &json), "memo_bytes -5");
    assert_null(json);
}

/* ------------------------------------------------------------------ panel */

/* NULL out-pointers and arrays were written or read (score, cont, out, the lists, a session, a
 * text); a position below -1 was taken as -1; a NaN threshold made the verdict INCONCLUSIVE with
 * no message; settings_json that is no JSON object was saved as {} (lost without a word). */
static void test_panel_arguments(void **state) {
    (void)state;
    int32_t pr[4] = {1, 50, 60, 70}, co[2] = {80, 90};
    double sc;
    REFUSED(lw_panel_score(S, pr, 4, co, 2, 0, -1, NULL, false, NULL), "score is NULL");
    REFUSED(lw_panel_score(S, pr, 4, NULL, 2, 0, -1, NULL, false, &sc), "the continuation is NULL");
    REFUSED(lw_panel_score(NULL, pr, 4, co, 2, 0, -1, NULL, false, &sc), "the receiver session is NULL");
    REFUSED(lw_panel_score(S, pr, 4, co, 2, 0, -2, NULL, false, &sc), "patch position -2");
    const char *texts[2] = {"hello there", "once upon"};
    REFUSED(lw_panel_fit_baseline(S, 0, texts, 2, NULL), "out is NULL");
    lw_panel_model rm = {.name = "a", .session = S}, nameless = {.name = NULL, .session = S},
                   sessionless = {.name = "b", .session = NULL};
    lw_panel_prompt prm[5];
    for (int i = 0; i < 5; i++)
        prm[i] = (lw_panel_prompt){.receiver_text = "Once upon a time", .donor_text = "there was a dog",
                                   .decoy_text = "the cat sat"};
    const char *cal[3] = {"a b c", "d e f", "g h i"};
    lw_patching_params pp = lw_patching_default_params();
    lw_patching_result r;
    REFUSED(lw_panel_patching(&rm, 1, &rm, 1, prm, 5, cal, 3, &pp, NULL), "out is NULL");
    REFUSED(lw_panel_patching(&rm, 1, &rm, 1, prm, 5, cal, 3, NULL, &r), "params are NULL");
    REFUSED(lw_panel_patching(NULL, 1, &rm, 1, prm, 5, cal, 3, &pp, &r), "receivers is NULL");
    REFUSED(lw_panel_patching(&rm, 1, &rm, 1, NULL, 5, cal, 3, &pp, &r), "prompts is NULL");
    REFUSED(lw_panel_patching(&nameless, 1, &rm, 1, prm, 5, cal, 3, &pp, &r), "receiver 0 has no name");
    REFUSED(lw_panel_patching(&rm, 1, &sessionless, 1, prm, 5, cal, 3, &pp, &r), "donor 0 has no session");
    prm[2].decoy_text = NULL;
    REFUSED(lw_panel_patching(&rm, 1, &rm, 1, prm, 5, cal, 3, &pp, &r), "prompt 2 has no decoy text");
    prm[2].decoy_text = "the cat sat";
    REFUSED(lw_panel_patching(&rm, 1, &rm, 1, prm, 5, (const char *[]){"a", NULL, "c"}, 3, &pp, &r),
            "calibration text 1 is NULL");
    pp.threshold = NAN;
    REFUSED(lw_panel_patching(&rm, 1, &rm, 1, prm, 5, cal, 3, &pp, &r), "threshold nan");
    pp = lw_patching_default_params();
    pp.position = -7;
    REFUSED(lw_panel_patching(&rm, 1, &rm, 1, prm, 5, cal, 3, &pp, &r), "position -7");
    pp = lw_patching_default_params();
    double deps[2] = {0.0, 1.0};
    pp.depths = deps;
    pp.n_depths = 2;
    pp.resamples = 200;
    assert_int_equal(lw_panel_patching(&rm, 1, &rm, 1, prm, 5, cal, 3, &pp, &r), 0);
    char dir[1300];
    snprintf(dir, sizeof dir, "%s/panel-out", lw_test_tmpdir());
    REFUSED(lw_patching_save(dir, &rm, &rm, &r, &pp, NULL, "{not json"), "settings_json is not JSON");
    REFUSED(lw_patching_save(dir, &rm, &rm, &r, &pp, NULL, "[1, 2]"), "settings_json is not a JSON object");
    assert_false(exists(dir)); /* refused before the directory was made */
    REFUSED(lw_patching_save(dir, &rm, &rm, NULL, &pp, NULL, NULL), "the result is NULL");
    assert_int_equal(lw_patching_save(dir, &rm, &rm, &r, &pp, NULL, "{\"k\": 1}"), 0);
    lw_patching_result_free(&r);
    lw_panel_prompt_set set;
    REFUSED(lw_panel_prompts_from_corpus(NULL, 5, 3, 1, NULL, 0, &set), "data_dir is NULL");
    REFUSED(lw_panel_prompts_from_corpus("/nonexistent", 5, 3, 1, NULL, 0, NULL), "set is NULL");
    REFUSED(lw_panel_prompts_from_corpus("/nonexistent", 5, 3, 1, NULL, 2, &set), "models NULL");
}

/* ------------------------------------------------------------------ paraphrase */

/* out NULL and a zeroed set crashed; a negative n_kept was read as none kept (a duplicate passed)
 * and a NULL kept entry was dereferenced. */
static void test_paraphrase_arguments(void **state) {
    (void)state;
    REFUSED(lw_paraphrase_set_load("/etc/hostname", NULL), "out is NULL");
    lw_paraphrase_set zero = {0};
    const char *path = lw_test_tmpfile("texts.txt");
    REFUSED(lw_paraphrase_set_write_texts(&zero, path), "the set is empty");
    assert_false(exists(path));
    char clean[128];
    const char *kept[1] = {"A cat sat there."}, *null_kept[1] = {NULL};
    assert_int_equal(lw_paraphrase_filter("The cat sat there now.", "A cat sat there.", kept, 1, clean, sizeof clean),
                     LW_PARA_DUPLICATE);
    lw_clear_error();
    assert_int_equal((int)lw_paraphrase_filter("The cat sat there now.", "A cat sat there.", kept, -1, clean, sizeof clean), -1);
    failed_with("lw_paraphrase_filter(n_kept -1)", "n_kept = -1 is negative");
    lw_clear_error();
    assert_int_equal((int)lw_paraphrase_filter("The cat sat there now.", "A cat sat there.", null_kept, 1, clean, sizeof clean), -1);
    failed_with("lw_paraphrase_filter(kept[0] NULL)", "kept[0] is NULL");
}


/* ------------------------------------------------------------------ probe panel */

/* An embedder of 8-wide vectors from a hash of the text, the same on both sides. */
static int hash_embed(void *user, int side, const char *const *texts, int n, float *out) {
    (void)user;
    (void)side;
    for (int i = 0; i < n; i++) {
        uint64_t h = 1469598103934665603ull;
        for (const char *c = texts[i]; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
        for (int k = 0; k < 8; k++) {
            h ^= h >> 29;
            h *= 0xbf58476d1ce4e5b9ull;
            out[(size_t)i * 8 + k] = (float)((double)(h >> 11) / 9007199254740992.0 - 0.5);
        }
    }
    return 0;
}

static lw_bridge *identity_bridge(void) {
    static float X[400 * 8];
    uint64_t h = 7;
    for (int i = 0; i < 400 * 8; i++) {
        h ^= h << 13, h ^= h >> 7, h ^= h << 17;
        X[i] = (float)((double)(h >> 11) / 9007199254740992.0 - 0.5);
    }
    lw_bridge_params bp = lw_bridge_default_params();
    lw_bridge *b = lw_bridge_fit(X, X, 400, 8, 8, &bp);
    assert_non_null(b);
    return b;
}

/* NULL pair, params or out crashed; a NaN noise level failed in the bridge after the other probes
 * ran, naming no sigma; n_calib beyond the MRPC file fitted the inverse on fewer sentences while
 * probes.json recorded the number asked; a long --probes list was cut at 512 bytes ("unknown probe
 * 'symboli'") and an empty item skipped; NULL runs / out_dir of the merge were dereferenced. */
static void test_probe_panel_arguments(void **state) {
    (void)state;
    const char *mrpc = lw_test_shared_path("data/mrpc/msr_paraphrase_train.txt");
    lw_bridge *b = identity_bridge();
    lw_probe_pair pair = {"A", "B", 8, 8, hash_embed, NULL, b, b};
    lw_probe_params p = lw_probe_default_params();
    p.resamples = 100;
    p.n_natural = 10, p.n_calib = 10, p.n_topsim = 10, p.n_confusers = 4, p.n_symbolic = 5, p.n_combos = 40;
    lw_probe_result r;
    REFUSED(lw_probe_panel(NULL, &p, &r), "the pair is NULL");
    REFUSED(lw_probe_panel(&pair, NULL, &r), "params is NULL");
    REFUSED(lw_probe_panel(&pair, &p, NULL), "out is NULL");
    p.probes = LW_PROBE_ROBUSTNESS;
    p.sigmas[1] = NAN;
    REFUSED(lw_probe_panel(&pair, &p, &r), "sigmas[1] = nan");
    p.sigmas[1] = -1;
    REFUSED(lw_probe_panel(&pair, &p, &r), "sigmas[1] = -1");
    p = lw_probe_default_params();
    p.resamples = 100;
    if (mrpc) {
        char dir[1200];
        snprintf(dir, sizeof dir, "%s", mrpc);
        *strrchr(dir, '/') = '\0';
        p.mrpc_dir = dir;
        p.probes = LW_PROBE_CHAINING;
        p.n_calib = 1000000;
        pair.inverse = NULL;
        REFUSED(lw_probe_panel(&pair, &p, &r), "1000000 asked (n_calib)");
    }
    /* past 512 bytes (spaces around an item are trimmed): the last name whole */
    char list[700] = "chaining,";
    while (strlen(list) < 600) strcat(list, " ");
    strcat(list, "symbolic");
    lw_clear_error();
    assert_int_equal(lw_probe_parse_list(list), LW_PROBE_CHAINING | LW_PROBE_SYMBOLIC);
    lw_clear_error();
    assert_int_equal(lw_probe_parse_list("chaining,,symbolic"), 0);
    failed_with("lw_probe_parse_list(,,)", "item 2 is empty");
    /* a probe named twice, directly or through "all", is refused rather than run once */
    assert_int_equal(lw_probe_parse_list("chaining,chaining"), 0);
    failed_with("lw_probe_parse_list(a,a)", "\"chaining\" is listed twice");
    assert_int_equal(lw_probe_parse_list("all,symbolic"), 0);
    failed_with("lw_probe_parse_list(all,b)", "\"symbolic\" names a probe already listed");
    assert_int_equal(lw_probe_parse_list(""), 0);
    failed_with("lw_probe_parse_list(\"\")", "the list is empty");
    /* one noise level twice: two statistics of one name */
    p = lw_probe_default_params();
    p.probes = LW_PROBE_ROBUSTNESS;
    p.sigmas[2] = p.sigmas[1];
    REFUSED(lw_probe_panel(&pair, &p, &r), "sigmas[1] and sigmas[2] are both 0.1");
    const char *runs[2] = {"a", NULL};
    REFUSED(lw_probe_merge(NULL, 2, lw_test_tmpdir()), "runs is NULL");
    REFUSED(lw_probe_merge(runs, 2, lw_test_tmpdir()), "run 1 is NULL");
    runs[1] = "b";
    REFUSED(lw_probe_merge(runs, 2, NULL), "out_dir is NULL");
    lw_bridge_free(b);
}


/* ------------------------------------------------------------------ verdict, files */

/* A NaN p sorted inconsistently and broke the step-down: the p-values after it were no longer
 * raised to the running maximum; p = -1 gave an adjusted -3 floored by nothing. A void call: NaN
 * adjustments and a message. */
static void test_holm_refuses_non_p_values(void **state) {
    (void)state;
    double p[3] = {0.01, 0.04, 0.03}, adj[3];
    lw_holm_adjust(p, 3, adj);
    assert_true(fabs(adj[0] - 0.03) < 1e-12 && fabs(adj[1] - 0.06) < 1e-12 && fabs(adj[2] - 0.06) < 1e-12);
    double bad[3] = {0.01, NAN, 0.5};
    lw_clear_error();
    lw_holm_adjust(bad, 3, adj);
    assert_true(isnan(adj[0]) && isnan(adj[1]) && isnan(adj[2]));
    failed_with("lw_holm_adjust(NaN)", "p[1] = nan is not a p-value");
    double neg[2] = {-1, 0.5};
    lw_clear_error();
    lw_holm_adjust(neg, 2, adj);
    assert_true(isnan(adj[0]));
    failed_with("lw_holm_adjust(-1)", "p[0] = -1");
}

/* A negative count passed as "no outputs, all distinct". */
static void test_outputs_distinct_count(void **state) {
    (void)state;
    lw_output_spec os[1] = {{"--a", "x", 0}};
    REFUSED(lw_outputs_distinct(os, -1), "n = -1 outputs is negative");
}


/* lw_align_run(NULL) was dereferenced; lw_scan_experiment_run with a NULL bridge (one that failed to
 * load) ran unmapped, returning 0, while its settings recorded the bridge's file. */
static void test_experiment_nulls(void **state) {
    (void)state;
    REFUSED(lw_align_run(NULL), "params is NULL");
    lw_task pool;
    assert_int_equal(lw_task_story(12, 1, &pool), 0);
    char dir[1300];
    snprintf(dir, sizeof dir, "%s/scan-null-bridge", lw_test_tmpdir());
    lw_scan_experiment_params p = lw_scan_experiment_default_params();
    p.sender = p.receiver = S;
    p.pool = &pool;
    p.out_dir = dir;
    p.layers = "0";
    p.n_select = 2, p.n_report = 2, p.resamples = 200;
    p.patch.answer_tokens = 2;
    const lw_bridge *none[1] = {NULL};
    const char *paths[1] = {"map.safetensors"};
    p.bridges = none, p.bridge_paths = paths, p.n_bridges = 1;
    lw_scan_result r;
    REFUSED(lw_scan_experiment_run(&p, &r), "--bridge map.safetensors: bridge 0 is NULL");
    assert_false(exists(dir));
    lw_task_free(&pool);
}

/* ------------------------------------------------------------------ probes' statistics */

/* A negative query count reached malloc as a huge size (ASan: allocation-size-too-big); NULL hit
 * was written through. */
static void test_probe_top1_arguments(void **state) {
    (void)state;
    float Q[4] = {1, 0, 0, 1}, P[4] = {1, 0, 0, 1};
    int32_t gold[2] = {0, 1};
    double hit[2];
    assert_int_equal(lw_probe_top1(Q, 2, P, 2, 2, gold, NULL, NULL, hit), 0);
    assert_true(hit[0] == 1 && hit[1] == 1);
    REFUSED(lw_probe_top1(Q, -2, P, 2, 2, gold, NULL, NULL, hit), "nq = -2");
    REFUSED(lw_probe_top1(Q, 2, P, 2, 2, gold, NULL, NULL, NULL), "hit is NULL");
    REFUSED(lw_probe_top1(Q, 2, P, 2, 2, NULL, NULL, NULL, hit), "gold is NULL");
    /* a gold row the pool has not */
    int32_t far[2] = {0, 9};
    REFUSED(lw_probe_top1(Q, 2, P, 2, 2, far, NULL, NULL, hit), "rel_ids[1] = 9");
}

/* NULL arrays were written through (a void function: the message is all there is). */
static void test_probe_additive_lift_nulls(void **state) {
    (void)state;
    double s[2] = {1, 0}, a[2] = {0, 1}, b[2] = {0, 0}, best[2], diff[2];
    lw_probe_additive_lift(s, a, b, 2, best, diff);
    assert_true(diff[0] == 1 && diff[1] == -1 && best[1] == 1);
    lw_clear_error();
    lw_probe_additive_lift(s, NULL, b, 2, best, diff);
    failed_with("lw_probe_additive_lift(part1 NULL)", "NULL");
    lw_clear_error();
    lw_probe_additive_lift(s, a, b, 2, NULL, NULL);
    failed_with("lw_probe_additive_lift(out NULL)", "NULL");
}

/* A negative count gave NaN with no message. */
static void test_probe_spearman_count(void **state) {
    (void)state;
    double x[3] = {1, 2, 3};
    lw_clear_error();
    assert_true(isnan(lw_probe_spearman(x, x, -1)));
    failed_with("lw_probe_spearman(n -1)", "n = -1");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_channel_experiment_nulls),
        cmocka_unit_test(test_channel_experiment_settings),
        cmocka_unit_test(test_channel_experiment_counts),
        cmocka_unit_test(test_channel_experiment_outputs_distinct),
        cmocka_unit_test(test_debate_experiment_arguments),
        cmocka_unit_test(test_scan_arguments),
        cmocka_unit_test(test_scan_score_bounds),
        cmocka_unit_test(test_race_run_arguments),
        cmocka_unit_test(test_race_helpers_nulls),
        cmocka_unit_test(test_codec_retrieval_arguments),
        cmocka_unit_test(test_panel_arguments),
        cmocka_unit_test(test_paraphrase_arguments),
        cmocka_unit_test(test_probe_panel_arguments),
        cmocka_unit_test(test_holm_refuses_non_p_values),
        cmocka_unit_test(test_outputs_distinct_count),
        cmocka_unit_test(test_experiment_nulls),
        cmocka_unit_test(test_probe_top1_arguments),
        cmocka_unit_test(test_probe_additive_lift_nulls),
        cmocka_unit_test(test_probe_spearman_count),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
