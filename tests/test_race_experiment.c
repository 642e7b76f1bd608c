/* lw_race_experiment_run (latentwire/race_experiment.h), the race as a C program calls it, on the
 * TinyStories model racing itself (floor, ceiling, text:zlib, act:topk at 64 bits):
 *  - the counts it returns add up: reported + calibration items = the pool less --exclude, and
 *    what --exclude left out is the number of its items in the pool;
 *  - race.json (returned as text and written) holds one cell per channel and budget, each with the
 *    n of the reported items, and records its settings under the CLI's option names;
 *  - every evaluation is reported to on_progress; a resumed run with the same settings gives the
 *    same race.json bytes and evaluates nothing;
 *  - the same run through `latentwire race` writes the same race.json bytes (the verb adds nothing);
 *  - refusals before any work: a layer the model has not, an output that is an input. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <cmocka.h>

#include "latentwire/error.h"
#include "latentwire/race_experiment.h"
#include "support/testutil.h"

static lw_model *g_model;
static lw_session *g_session;
static char g_model_path[1024], g_task[1024], g_exclude[1024];
static lw_task g_pool;
static lw_race_channel g_channels[4];
static const int64_t g_budgets[] = {64};

static int setup(void **state) {
    (void)state;
    if (!(g_model = lw_test_load_shared_model("models/stories260K.gguf", g_model_path, sizeof g_model_path))) return 0;
    g_session = lw_session_new(g_model, lw_session_default_params());
    snprintf(g_task, sizeof g_task, "%s", lw_test_tmpfile("race_exp.jsonl"));
    FILE *f = fopen(g_task, "w"), *x = NULL;
    snprintf(g_exclude, sizeof g_exclude, "%s", lw_test_tmpfile("race_exp_exclude.jsonl"));
    x = fopen(g_exclude, "w");
    if (!f || !x) return -1;
    const char *names[] = {"Tim", "Sue", "Lily", "Ben", "Max", "Amy", "Tom", "Zoe", "Sam", "Mia", "Leo", "Eva"};
    for (int i = 0; i < 12; i++) {
        char line[512];
        snprintf(line, sizeof line,
                 "{\"id\": \"i%d\", \"sender\": \"Once upon a time there was a girl named %s.\", \"receiver\": "
                 "\"Story %d. The girl was named\", \"gold\": \"%s\", \"scorer\": \"exact\"}\n",
                 i, names[i], i, names[i]);
        fputs(line, f);
        if (i < 2) fputs(line, x); /* two of the pool's items */
    }
    fclose(f);
    fclose(x);
    const char *specs[] = {"floor", "ceiling", "text:zlib", "act:topk"};
    for (int c = 0; c < 4; c++)
        if (lw_race_channel_parse(specs[c], &g_channels[c]) != 0) return -1;
    return lw_task_load(g_task, &g_pool);
}

static int teardown(void **state) {
    (void)state;
    lw_task_free(&g_pool);
    lw_session_free(g_session);
    lw_model_free(g_model);
    return 0;
}

static lw_race_experiment_params params(const char *out_dir) {
    lw_race_experiment_params p = lw_race_experiment_default_params();
    p.sender = p.receiver = g_session;
    p.sender_name = p.receiver_name = g_model_path;
    p.channels = g_channels, p.n_channels = 4;
    p.budgets = g_budgets, p.n_budgets = 1;
    p.task = g_task, p.pool = &g_pool, p.n_report = -1, p.calib = 4;
    p.layer = "2";
    p.patch.answer_tokens = 2;
    p.out_dir = out_dir;
    p.resamples = 200;
    return p;
}

static int g_evaluations;
static void count_evaluations(void *ctx, int done, int total) {
    (void)ctx, (void)done, (void)total;
    g_evaluations++;
}

static void test_run_resume_and_verb(void **state) {
    (void)state;
    if (!g_model) skip();
    const char *dir = lw_test_fresh_dir("race_exp_run");
    /* an earlier run's fits, with other settings: not kept beside this run's (without --resume) */
    lw_test_write_text(lw_test_join(dir, "fits.json"), "{\"act:topk@999\": {\"stale\": 1}}\n");
    lw_race_experiment_params p = params(dir);
    p.exclude = g_exclude;
    p.on_progress = count_evaluations;
    lw_race_experiment_result r;
    g_evaluations = 0;
    if (lw_race_experiment_run(&p, &r) != 0) fail_msg("%s", lw_last_error());
    assert_int_equal(r.n_pool, 12);
    assert_int_equal(r.n_excluded, 2);
    assert_int_equal(r.n_calib, 4);
    assert_int_equal(r.n_report, 12 - 2 - 4);
    assert_int_equal(r.n_in_shard, r.n_report);
    assert_int_equal(r.sender_layer, 2);
    assert_int_equal(r.receiver_layer, 2);
    /* floor, ceiling, one budget of two budgeted channels: four cells of n_report items each */
    assert_int_equal(g_evaluations, 4 * r.n_report);
    json_t *j = json_loads(r.report_json, 0, NULL);
    assert_non_null(j);
    json_t *cells = json_object_get(j, "cells"), *c;
    size_t i;
    assert_int_equal(json_array_size(cells), 4);
    json_array_foreach(cells, i, c) assert_int_equal(json_integer_value(json_object_get(c, "n")), r.n_report);
    json_t *settings = json_object_get(j, "settings");
    assert_int_equal(json_integer_value(json_object_get(settings, "--layer")), 2);
    assert_string_equal(json_string_value(json_object_get(settings, "--op")), "replace");
    assert_non_null(json_object_get(settings, "--exclude"));
    json_decref(j);
    char *written = lw_test_read_file(lw_test_join(dir, "race.json"));
    assert_string_equal(written, r.report_json);
    json_t *fits = json_load_file(lw_test_join(dir, "fits.json"), 0, NULL);
    assert_non_null(fits);
    assert_null(json_object_get(fits, "act:topk@999"));
    assert_non_null(json_object_get(fits, "act:topk@64"));
    json_decref(fits);
    assert_true(lw_test_file_exists(lw_test_join(dir, "records.jsonl")));

    /* resumed with the same settings: the same bytes, and nothing evaluated again (timing.json's
     * entry for the second process times no cell) */
    lw_race_experiment_result again;
    p.resume = true;
    if (lw_race_experiment_run(&p, &again) != 0) fail_msg("%s", lw_last_error());
    assert_string_equal(again.report_json, r.report_json);
    json_t *timing = json_load_file(lw_test_join(dir, "timing.json"), 0, NULL), *runs = json_object_get(timing, "runs");
    assert_int_equal(json_array_size(runs), 2);
    assert_int_equal(json_array_size(json_object_get(json_array_get(runs, 0), "cells")), 4);
    assert_int_equal(json_array_size(json_object_get(json_array_get(runs, 1), "cells")), 0);
    json_decref(timing);
    lw_race_experiment_result_free(&again);

    /* the verb on the same settings writes the same race.json */
    const char *dir2 = lw_test_fresh_dir("race_exp_verb");
    char args[8192], *out, *err;
    snprintf(args, sizeof args,
             "race --sender %s --task %s --exclude %s --calib 4 --layer 2 --answer-tokens 2 --resamples 200 "
             "--channel floor,ceiling,text:zlib,act:topk --budgets 64 --out %s",
             g_model_path, g_task, g_exclude, dir2);
    if (lw_test_run_cli(args, &out, &err) != 0) fail_msg("`latentwire %s`: %s", args, err);
    char *by_verb = lw_test_read_file(lw_test_join(dir2, "race.json"));
    assert_string_equal(by_verb, r.report_json);
    free(by_verb), free(out), free(err), free(written);
    lw_race_experiment_result_free(&r);
}

static void test_refusals(void **state) {
    (void)state;
    if (!g_model) skip();
    const char *dir = lw_test_fresh_dir("race_exp_bad");
    lw_race_experiment_params p = params(dir);
    lw_race_experiment_result r;
    lw_model_info info;
    lw_model_get_info(g_model, &info);
    char layer[32], want[128];
    snprintf(layer, sizeof layer, "%d", info.n_layer);
    p.layer = layer;
    assert_int_equal(lw_race_experiment_run(&p, &r), -1);
    snprintf(want, sizeof want, "--layer %d: must be mid or a layer in -%d..%d", info.n_layer, info.n_layer,
             info.n_layer - 1);
    assert_non_null(strstr(lw_last_error(), want));
    p.layer = "mid";
    /* no resamples: refused before any work (it ran, returned 0, and race.json held no interval) */
    p.resamples = 0;
    assert_int_equal(lw_race_experiment_run(&p, &r), -1);
    assert_non_null(strstr(lw_last_error(), "n_resamples = 0, need at least 40 at level 0.95"));
    assert_int_equal(lw_test_dir_entries(dir), 0);
    p.resamples = 1000;
    assert_int_equal(lw_race_experiment_run(NULL, &r), -1);
    assert_int_equal(lw_race_experiment_run(&p, NULL), -1);
    const char *race_json = lw_test_join(dir, "race.json");
    lw_test_write_text(race_json, "{}");
    const char *inputs[] = {"--task", race_json, NULL};
    p.inputs = inputs;
    assert_int_equal(lw_race_experiment_check_outputs(&p), -1);
    assert_non_null(strstr(lw_last_error(), "is the same file as --task"));
    assert_int_equal(lw_race_experiment_run(&p, &r), -1);
    char *kept = lw_test_read_file(race_json);
    assert_string_equal(kept, "{}");
    free(kept);
}

/* More shards than reported items: a shard with nothing to do, and N near 2^31 overflowed an int
 * (UBSan); refused before any work. A merge over one stray shard file of N = 2^31 - 1 held 2 GB
 * for 82 s to say shard 1 was missing: it now says so at once. */
static void test_shard_counts(void **state) {
    (void)state;
    if (!g_model) skip();
    const char *dir = lw_test_fresh_dir("race_exp_shards");
    lw_race_experiment_params p = params(dir);
    lw_race_experiment_result r;
    p.n_shards = 2147483647;
    assert_int_equal(lw_race_experiment_run(&p, &r), -1);
    assert_non_null(strstr(lw_last_error(), "2147483647 shards for"));
    assert_non_null(strstr(lw_last_error(), "reported items: give N at most"));
    assert_int_equal(lw_test_dir_entries(dir), 0);
    lw_test_write_text(lw_test_join(dir, "race-shard-0-of-2147483647.partial"), "{}\n");
    assert_int_equal(lw_race_merge(dir, NULL), -1);
    assert_non_null(strstr(lw_last_error(), "race-shard-1-of-2147483647.partial is missing"));
    /* more positions than a query has: refused before any work (it failed at the first item that
     * had fewer, after race.partial was begun) */
    const char *dir2 = lw_test_fresh_dir("race_exp_positions");
    p = params(dir2);
    p.patch.positions = 1000;
    assert_int_equal(lw_race_experiment_run(&p, &r), -1);
    assert_non_null(strstr(lw_last_error(), "--positions 1000, but item"));
    assert_non_null(strstr(lw_last_error(), "(the shortest): give --positions"));
    assert_int_equal(lw_test_dir_entries(dir2), 0);
    /* an output that cannot be written (a directory at race.json) is found before any output is:
     * the files before it were new and those after it old */
    const char *dir3 = lw_test_fresh_dir("race_exp_outputs");
    lw_test_write_text(lw_test_join(dir3, "race.partial"), "{}\n");
    assert_int_equal(mkdir(lw_test_join(dir3, "race.json"), 0755), 0);
    assert_int_equal(lw_race_merge(dir3, NULL), -1);
    assert_non_null(strstr(lw_last_error(), "race.json is a directory where the run writes a file"));
    assert_int_equal(lw_test_dir_entries(dir3), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_resume_and_verb),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_shard_counts),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
