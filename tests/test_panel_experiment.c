/* The two panels as library calls (latentwire/panel_experiment.h), as `latentwire panel patching`
 * and `panel probes` use them: the patching experiment gives exactly lw_panel_patching's numbers
 * on the prompts lw_panel_prompts_from_corpus draws and writes its files (the partial kept as
 * panel.cells.jsonl, which a rerun with resume takes every cell from);
 * what needs no model is refused before any work and a refused run leaves no directory behind;
 * the probe experiment names a bad bridge, a bridge over an output, a block the model has not,
 * and a bridge fitted on another model. Models: the toy stories260K (skipped when absent). */
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

#include "common/rng.h"
#include "latentwire/bridge.h"
#include "latentwire/panel_experiment.h"
#include "support/refused.h"
#include "support/testutil.h"

static void touch(const char *path, const char *text) { lw_test_write_text(path, text); }

static int progress_calls;
static void count_progress(int done, int total, void *user) {
    (void)done, (void)total, (void)user;
    progress_calls++;
}

/* File names, unless two different files share one; one file by two paths has one name. */
static void test_model_names(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("panel_names");
    char a[4096], b[4096], a2[4096], c[4096];
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    mkdir(a, 0755), mkdir(b, 0755);
    snprintf(a, sizeof a, "%s/a/m.gguf", dir);
    snprintf(b, sizeof b, "%s/b/m.gguf", dir);
    snprintf(a2, sizeof a2, "%s/a/../a/m.gguf", dir);
    snprintf(c, sizeof c, "%s/a/other.gguf", dir);
    touch(a, "one"), touch(b, "two"), touch(c, "three");
    const char *two_files[] = {a, b, c};
    assert_string_equal(lw_panel_model_name(two_files, 3, a), a);
    assert_string_equal(lw_panel_model_name(two_files, 3, b), b);
    assert_string_equal(lw_panel_model_name(two_files, 3, c), "other.gguf");
    const char *one_file[] = {a, a2, c};
    assert_string_equal(lw_panel_model_name(one_file, 3, a2), "m.gguf");
    assert_string_equal(lw_panel_model_name(one_file, 3, a), "m.gguf");
    /* an unreadable path compares as a string (its load reports it) */
    const char *absent[] = {"x/q.gguf", "y/q.gguf"};
    assert_string_equal(lw_panel_model_name(absent, 2, "x/q.gguf"), "x/q.gguf");
    assert_string_equal(lw_panel_model_name(absent, 1, "x/q.gguf"), "q.gguf");
    REFUSED_NULL(lw_panel_model_name(absent, 2, NULL), "path is NULL"); /* a NULL answer says why */
}

static void test_patching_experiment(void **state) {
    (void)state;
    const char *toy = lw_test_shared_path("models/stories260K.gguf"), *data = lw_test_shared_path("data");
    if (!toy || !data) {
        skip();
        return;
    }
    lw_model *m = lw_model_load(toy, lw_model_default_params());
    assert_non_null(m);
    lw_session *s = lw_session_new(m, lw_session_default_params());
    assert_non_null(s);
    lw_panel_model rm = {"toy", s};
    double depths[] = {0.5, 1};
    lw_patching_params pp = lw_patching_default_params();
    pp.depths = depths, pp.n_depths = 2, pp.continuation_tokens = 2, pp.resamples = 200, pp.seed = 3;

    /* the reference: the panel itself on the corpus's prompts */
    const lw_model *models[] = {m};
    lw_panel_prompt_set set;
    assert_int_equal(lw_panel_prompts_from_corpus(data, 5, 10, 3, models, 1, &set), 0);
    lw_patching_result want = {0};
    assert_int_equal(lw_panel_patching(&rm, 1, &rm, 1, set.prompts, set.n_prompts, (const char *const *)set.calib,
                                       set.n_calib, &pp, &want),
                     0);

    const char *dir = lw_test_fresh_dir("panel_experiment");
    char out[4096];
    snprintf(out, sizeof out, "%s/run/nested", dir);
    lw_panel_patching_experiment_params p = lw_panel_patching_experiment_default_params();
    p.receivers = &rm, p.n_receivers = 1, p.donors = &rm, p.n_donors = 1, p.data_dir = data;
    p.n_prompts = 5, p.n_calib = 10, p.patching = pp, p.out_dir = out;
    lw_patching_result got;
    assert_int_equal(lw_panel_patching_experiment_run(&p, &got), 0);
    assert_int_equal(got.n_cells, want.n_cells);
    assert_int_equal(got.n_prompts, want.n_prompts);
    for (int i = 0; i < got.n_cells * got.n_prompts; i++) {
        assert_true(got.e_target[i] == want.e_target[i]);
        assert_true(got.e_baseline[i] == want.e_baseline[i]);
        assert_true(got.e_decoy[i] == want.e_decoy[i]);
    }
    assert_true(got.D.mean == want.D.mean);
    assert_true(lw_test_file_exists(lw_test_join(out, "panel.json")));
    assert_true(lw_test_file_exists(lw_test_join(out, "panel.csv")));
    assert_true(lw_test_file_exists(lw_test_join(out, "records.jsonl")));
    assert_false(lw_test_file_exists(lw_test_join(out, "panel.partial")));
    assert_true(lw_test_file_exists(lw_test_join(out, "panel.cells.jsonl")));
    assert_int_equal(lw_test_dir_entries(out), 4);
    lw_patching_result_free(&got);

    /* rerun with resume after the finished run: every cell is taken from panel.cells.jsonl (one
     * progress report per cell, where running a cell reports each prompt) and every number is the
     * same */
    char *panel_json = lw_test_read_file(lw_test_join(out, "panel.json"));
    p.resume = true;
    p.patching.on_progress = count_progress;
    progress_calls = 0;
    assert_int_equal(lw_panel_patching_experiment_run(&p, &got), 0);
    assert_int_equal(progress_calls, want.n_cells);
    for (int i = 0; i < got.n_cells * got.n_prompts; i++) assert_true(got.e_target[i] == want.e_target[i]);
    assert_true(got.D.mean == want.D.mean);
    char *again = lw_test_read_file(lw_test_join(out, "panel.json"));
    assert_string_equal(again, panel_json);
    assert_int_equal(lw_test_dir_entries(out), 4);
    free(panel_json), free(again);
    lw_patching_result_free(&got);
    /* without resume, every cell runs again */
    p.resume = false;
    progress_calls = 0;
    assert_int_equal(lw_panel_patching_experiment_run(&p, &got), 0);
    assert_int_equal(progress_calls, want.n_cells * want.n_prompts);
    lw_patching_result_free(&got);
    p.patching.on_progress = NULL;

    /* refused before any work: a plan that is an output, too few prompts, no receivers */
    char plan[4096];
    snprintf(plan, sizeof plan, "%s", lw_test_join(out, "panel.json"));
    p.plan = plan;
    REFUSED(lw_panel_patching_experiment_check(&p), "--plan");
    REFUSED(lw_panel_patching_experiment_run(&p, &got), "--plan");
    p.plan = NULL;
    p.n_prompts = LW_PANEL_MIN_CELLS - 1;
    REFUSED(lw_panel_patching_experiment_run(&p, &got), "--prompts 4");
    p.n_prompts = 5;
    p.n_receivers = 0;
    REFUSED(lw_panel_patching_experiment_run(&p, &got), "receivers");
    p.n_receivers = 1;
    REFUSED(lw_panel_patching_experiment_run(&p, NULL), "result");
    /* a plan that is not one is named before any model work */
    p.plan = lw_test_tmpfile("not_a_plan.json");
    touch(p.plan, "{\"title\": 3}\n");
    REFUSED(lw_panel_patching_experiment_check(&p), "not_a_plan.json");
    p.plan = NULL;

    /* a run the panel refuses (a depth past 1) removes the directories it made */
    char fresh[4096];
    snprintf(fresh, sizeof fresh, "%s/new/deeper", dir);
    double bad[] = {2};
    p.patching.depths = bad, p.patching.n_depths = 1, p.out_dir = fresh;
    REFUSED(lw_panel_patching_experiment_run(&p, &got), "depth");
    assert_false(lw_test_file_exists(lw_test_join(dir, "new")));
    assert_int_equal(got.n_cells, 0);

    lw_patching_result_free(&want);
    lw_panel_prompt_set_free(&set);
    lw_session_free(s);
    lw_model_free(m);
}

/* A 64 -> 64 identity bridge fitted on random rows (no model metadata unless key is set). */
static const char *bridge64(const char *name, const char *key, const char *value) {
    const int d = 64, n = 200;
    float *X = malloc(sizeof *X * (size_t)n * d);
    lw_rng r;
    lw_rng_seed(&r, 9);
    for (int i = 0; i < n * d; i++) X[i] = (float)lw_rng_normal(&r);
    lw_bridge_params bp = lw_bridge_default_params();
    bp.center = false, bp.alpha = 1e-9;
    lw_bridge *b = lw_bridge_fit(X, X, n, d, d, &bp);
    assert_non_null(b);
    if (key) assert_int_equal(lw_bridge_set_meta(b, key, value), 0);
    const char *path = lw_test_tmpfile(name);
    assert_int_equal(lw_bridge_save(b, path), 0);
    lw_bridge_free(b);
    free(X);
    return path;
}

static void test_probe_experiment_checks(void **state) {
    (void)state;
    const char *toy = lw_test_shared_path("models/stories260K.gguf"), *data = lw_test_shared_path("data");
    if (!toy || !data) {
        skip();
        return;
    }
    const char *dir = lw_test_fresh_dir("probe_experiment");
    lw_probe_experiment_params p = lw_probe_experiment_default_params();
    p.out_dir = dir, p.data_dir = data;
    REFUSED(lw_probe_experiment_check(&p), "--bridge");
    char absent[4096];
    snprintf(absent, sizeof absent, "%s/absent.safetensors", dir);
    p.bridge = absent;
    REFUSED(lw_probe_experiment_check(&p), "absent.safetensors");
    /* a bridge file that is an output: refused by the output check, before it is read */
    char over[4096];
    snprintf(over, sizeof over, "%s", lw_test_join(dir, "probes.json"));
    touch(over, "{}");
    p.bridge = over;
    REFUSED(lw_probe_experiment_check(&p), "--bridge");
    p.bridge = bridge64("probe_exp_identity.safetensors", NULL, NULL);
    assert_int_equal(lw_probe_experiment_check(&p), 0);

    lw_model *m = lw_model_load(toy, lw_model_default_params());
    assert_non_null(m);
    lw_model_info info;
    lw_model_get_info(m, &info);
    p.model_a = p.model_b = m;
    p.name_a = p.name_b = "toy";
    p.layer_b = info.n_layer; /* one past the last block */
    lw_probe_result r;
    REFUSED(lw_probe_experiment_run(&p, &r), "--layer-b");
    p.layer_b = 0;
    p.bridge = bridge64("probe_exp_other.safetensors", "target_model_sha256",
                        "\"0000000000000000000000000000000000000000000000000000000000000000\"");
    REFUSED(lw_probe_experiment_run(&p, &r), "fitted on another target model");
    assert_int_equal(r.n_stats, 0);
    p.model_b = NULL;
    REFUSED(lw_probe_experiment_run(&p, &r), "model B");
    lw_model_free(m);
}

/* A save that fails (a record the items file refuses: a value that is not finite) removed its
 * files but left the directories it had made. */
static void test_failed_saves_leave_no_directory(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("panel_saves");
    char out[4096];
    snprintf(out, sizeof out, "%s/made/here", dir);
    lw_panel_model rm = {"toy", NULL};
    lw_patching_cell cell = {.depth = 0.5, .n = 1};
    double target = NAN, zero = 0;
    lw_patching_result r = {.cells = &cell, .n_cells = 1, .e_target = &target, .e_baseline = &zero,
                            .e_decoy = &zero, .n_prompts = 1};
    lw_patching_params pp = lw_patching_default_params();
    REFUSED(lw_patching_save(out, &rm, &rm, &r, &pp, NULL, NULL), "not finite");
    assert_false(lw_test_file_exists(lw_test_join(dir, "made")));

    lw_bridge *b = lw_bridge_load(bridge64("probe_save.safetensors", NULL, NULL));
    assert_non_null(b);
    lw_probe_pair pair = {.name_a = "a", .name_b = "b", .dim_a = 64, .dim_b = 64, .bridge = b};
    lw_probe_params p = lw_probe_default_params();
    lw_item_record rec = {.condition = "c", .item = "i", .metric = "m", .value = NAN};
    lw_probe_result pr = {.records = &rec, .n_records = 1};
    REFUSED(lw_probe_save(out, &pair, &p, &pr, NULL, NULL), "not finite");
    assert_false(lw_test_file_exists(lw_test_join(dir, "made")));
    lw_bridge_free(b);
}

/* What a binding may pass: an empty data directory ("" read /mrpc), counts that overflowed the
 * prompt draw's arithmetic (UBSan), names and bridge file names that are not UTF-8 (refused after
 * the whole run, as "cannot write a record" or "out of memory"): each refused before any work, with
 * nothing left behind. */
static void test_experiment_bad_values(void **state) {
    (void)state;
    const char *toy = lw_test_shared_path("models/stories260K.gguf"), *data = lw_test_shared_path("data");
    if (!toy || !data) {
        skip();
        return;
    }
    lw_model *m = lw_model_load(toy, lw_model_default_params());
    assert_non_null(m);
    lw_session *s = lw_session_new(m, lw_session_default_params());
    assert_non_null(s);
    lw_panel_model rm = {"toy", s};
    double depths[] = {1};
    const char *dir = lw_test_fresh_dir("panel_bad_values");
    char out[4096];
    snprintf(out, sizeof out, "%s/made", dir);
    lw_panel_patching_experiment_params p = lw_panel_patching_experiment_default_params();
    p.receivers = &rm, p.n_receivers = 1, p.donors = &rm, p.n_donors = 1, p.data_dir = "";
    p.n_prompts = 5, p.n_calib = 10, p.out_dir = out;
    p.patching.depths = depths, p.patching.n_depths = 1, p.patching.continuation_tokens = 2, p.patching.resamples = 200;
    lw_patching_result got;
    REFUSED(lw_panel_patching_experiment_run(&p, &got), "--data");
    p.data_dir = data;
    p.n_prompts = 2000000000;
    REFUSED(lw_panel_patching_experiment_run(&p, &got), "--prompts 2000000000: at most");
    p.n_prompts = 5, p.n_calib = 2000000000;
    REFUSED(lw_panel_patching_experiment_run(&p, &got), "--calib 2000000000: at most");
    lw_panel_prompt_set set;
    const lw_model *models[] = {m};
    REFUSED(lw_panel_prompts_from_corpus(data, 2000000000, 10, 1, models, 1, &set), "at most");
    p.n_calib = 10;
    lw_panel_model latin = {"mod\xe8le", s};
    p.donors = &latin;
    REFUSED(lw_panel_patching_experiment_run(&p, &got), "donor 0's name is not UTF-8");
    assert_false(lw_test_file_exists(out));

    lw_probe_experiment_params q = lw_probe_experiment_default_params();
    q.model_a = q.model_b = m, q.out_dir = out, q.data_dir = "";
    q.bridge = bridge64("probe_bad_values.safetensors", NULL, NULL);
    q.probes.probes = LW_PROBE_SYMBOLIC, q.probes.n_symbolic = 8, q.probes.resamples = 100;
    lw_probe_result r;
    REFUSED(lw_probe_experiment_run(&q, &r), "--data");
    q.data_dir = data, q.name_a = "mod\xe8le";
    REFUSED(lw_probe_experiment_run(&q, &r), "name_a");
    q.name_a = "toy";
    char latin_bridge[4096];
    snprintf(latin_bridge, sizeof latin_bridge, "%s/br\xfc" "cke.safetensors", dir);
    assert_int_equal(rename(q.bridge, latin_bridge), 0);
    q.bridge = latin_bridge;
    REFUSED(lw_probe_experiment_run(&q, &r), "--bridge");
    assert_false(lw_test_file_exists(out));
    remove(latin_bridge);
    lw_session_free(s);
    lw_model_free(m);
}

/* A model kept in the output directory under an output's name: refused naming it before any
 * work (panel patching wrote panel.json over it with exit 0; the robustness suite has the same
 * case for panel probes and probes.json). */
static void test_model_among_outputs(void **state) {
    (void)state;
    const char *toy = lw_test_shared_path("models/stories260K.gguf");
    if (!toy) {
        skip();
        return;
    }
    const char *dir = lw_test_fresh_dir("panel_model_out");
    char path[4096];
    snprintf(path, sizeof path, "%s", lw_test_join(dir, "panel.json"));
    FILE *in = fopen(toy, "rb"), *out = fopen(path, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[1 << 16];
    for (size_t n; (n = fread(buf, 1, sizeof buf, in)) > 0;) assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
    lw_model *m = lw_model_load(path, lw_model_default_params());
    assert_non_null(m);
    lw_session *s = lw_session_new(m, lw_session_default_params());
    assert_non_null(s);
    lw_panel_model rm = {"toy", s};
    double depth = 0.5;
    lw_panel_patching_experiment_params p = lw_panel_patching_experiment_default_params();
    p.receivers = &rm, p.n_receivers = 1, p.donors = &rm, p.n_donors = 1, p.data_dir = dir, p.out_dir = dir;
    p.n_prompts = 5, p.n_calib = 2, p.patching.depths = &depth, p.patching.n_depths = 1;
    lw_patching_result got;
    REFUSED(lw_panel_patching_experiment_run(&p, &got), "panel.json is the same file as --receivers");
    assert_int_equal(lw_test_dir_entries(dir), 1);
    lw_session_free(s);
    lw_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_names),
        cmocka_unit_test(test_patching_experiment),
        cmocka_unit_test(test_probe_experiment_checks),
        cmocka_unit_test(test_failed_saves_leave_no_directory),
        cmocka_unit_test(test_experiment_bad_values),
        cmocka_unit_test(test_model_among_outputs),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
