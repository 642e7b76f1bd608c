/* The race's zero-payload control, the "mean" channel: every reported item's query is answered with
 * the mean of the sender's calibration activations patched in. Checked against that mean computed
 * here from lw_patch_read and answered with lw_patch_answer (the same answer, for every item, with
 * 0 payload bits and 32 x T x d side bits); "mean" is one budget-less row, and race.json compares
 * every act: row with it (minus_mean), worded against the fitted mean. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "latentwire/error.h"
#include "latentwire/patch.h"
#include "latentwire/race.h"
#include "latentwire/runtime.h"
#include "latentwire/task.h"
#include "support/testutil.h"

static lw_model *model;
static char model_path[1200];

static int setup(void **state) {
    (void)state;
    model = lw_test_load_shared_model("models/stories260K.gguf", model_path, sizeof model_path);
    return model || !lw_test_shared_path("models/stories260K.gguf") ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    lw_model_free(model);
    return 0;
}

/* n items named PREFIX0.. with distinct sender stories and one query each. */
static void load_items(const char *file, const char *prefix, int first, int n, lw_task *t) {
    static const char *const who[] = {"Tom", "Lily", "Ben", "Sue", "Max", "Amy", "Sam", "Kim"};
    static const char *const what[] = {"a red ball", "a big dog", "a small cat", "a blue car"};
    char text[8192] = "", line[600];
    for (int i = 0; i < n; i++) {
        int k = first + i;
        snprintf(line, sizeof line,
                 "{\"id\": \"%s%d\", \"sender\": \"%s had %s. %s liked to play in the park.\", \"receiver\": "
                 "\"Once upon a time\", \"gold\": \"there\", \"scorer\": \"contains\"}\n",
                 prefix, k, who[k % 8], what[k % 4], who[k % 8]);
        strcat(text, line);
    }
    const char *path = lw_test_tmpfile(file);
    lw_test_write_text(path, text);
    lw_task_spec_params p = lw_task_spec_default_params();
    p.kinds = LW_TASK_SPEC_FILE;
    if (lw_task_from_spec(path, &p, t) != 0) fail_msg("%s", lw_last_error());
}

static void test_mean_is_the_calibration_mean(void **state) {
    (void)state;
    if (!model) {
        skip();
        return;
    }
    lw_session *s = lw_session_new(model, lw_session_default_params());
    assert_non_null(s);
    lw_task calib, report;
    load_items("mean_calib.jsonl", "c", 0, 5, &calib);
    load_items("mean_report.jsonl", "r", 5, 3, &report);
    lw_model_info info;
    lw_model_get_info(model, &info);
    const int layer = 2, d = info.n_embd;
    lw_race_setup rs = {.sender = s, .receiver = s, .sender_layer = layer, .receiver_layer = layer,
                        .patch = lw_patch_default_params(), .activations = true, .seed = 1, .threads = 1};
    rs.patch.answer_tokens = 4;
    lw_race_evaluator *e = lw_race_evaluator_new(&rs, &report, &calib);
    if (!e) fail_msg("%s", lw_last_error());
    lw_race_channel ch;
    assert_int_equal(lw_race_channel_parse("mean", &ch), 0);
    assert_int_equal(ch.family, LW_RACE_MEAN);
    assert_false(lw_race_channel_budgeted(&ch));
    assert_false(ch.competes);
    /* the reference: the calibration rows' mean, computed here */
    double *sum = calloc((size_t)d, sizeof *sum);
    float *row = malloc(sizeof(float) * (size_t)d), *mean = malloc(sizeof(float) * (size_t)d);
    for (int i = 0; i < calib.n; i++) {
        if (lw_patch_read(s, calib.items[i].sender, layer, &rs.patch, row) != 0) fail_msg("%s", lw_last_error());
        for (int j = 0; j < d; j++) sum[j] += row[j];
    }
    for (int j = 0; j < d; j++) mean[j] = (float)(sum[j] / calib.n);
    for (int item = 0; item < report.n; item++) {
        lw_race_outcome out;
        memset(&out, 0, sizeof out);
        if (lw_race_evaluate(e, &ch, 0, item, &out) != 0) fail_msg("%s", lw_last_error());
        assert_string_equal(out.na, "");
        assert_int_equal(out.payload_bits, 0);
        assert_int_equal(out.side_bits, 32 * d);
        char *want = NULL;
        if (lw_patch_answer(s, lw_race_query(&report.items[item]), layer, mean, 1, &rs.patch, &want) != 0)
            fail_msg("%s", lw_last_error());
        assert_non_null(out.output);
        assert_string_equal(out.output, want);
        free(want);
        free(out.output);
    }
    free(sum), free(row), free(mean);
    lw_race_evaluator_free(e);
    lw_task_free(&calib);
    lw_task_free(&report);
    lw_session_free(s);
}

/* Synthetic scores through the report: mean is one row without a budget, and each act: row carries
 * minus_mean (paired, on the same items). */
static int fake_eval(void *ctx, const lw_race_channel *ch, int64_t budget, int item, lw_race_outcome *out) {
    (void)ctx, (void)budget;
    memset(out, 0, sizeof *out);
    /* act:pcaq right on items 0..5, the mean on items 0..1, the floor never: 8 items */
    out->score = ch->family == LW_RACE_ACT ? item < 6 : ch->family == LW_RACE_MEAN ? item < 2 : 0;
    out->payload_bits = ch->family == LW_RACE_ACT ? 16 : 0;
    return 0;
}

static void test_minus_mean_in_the_report(void **state) {
    (void)state;
    lw_race_channel ch[3];
    assert_int_equal(lw_race_channel_parse("floor", &ch[0]), 0);
    assert_int_equal(lw_race_channel_parse("mean", &ch[1]), 0);
    assert_int_equal(lw_race_channel_parse("act:pcaq", &ch[2]), 0);
    static const int64_t budgets[1] = {16};
    static const char *const ids[8] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    const char *dir = lw_test_fresh_dir("race_mean_report");
    lw_race_params p = lw_race_default_params();
    p.channels = ch;
    p.n_channels = 3;
    p.budgets = budgets;
    p.n_budgets = 1;
    p.item_ids = ids;
    p.n_items = 8;
    p.eval = fake_eval;
    p.out_dir = dir;
    if (lw_race_run(&p) != 0) fail_msg("%s", lw_last_error());
    json_t *r = json_load_file(lw_test_join(dir, "race.json"), 0, NULL);
    assert_non_null(r);
    int rows = 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(r, "cells"), i, c) {
        const char *name = json_string_value(json_object_get(c, "channel"));
        rows++;
        if (!strcmp(name, "mean")) {
            assert_true(json_is_null(json_object_get(c, "budget_bits")));
            assert_string_equal(json_string_value(json_object_get(c, "family")), "mean");
            assert_null(json_object_get(c, "minus_mean"));
        }
        if (!strcmp(name, "act:pcaq")) {
            json_t *mm = json_object_get(c, "minus_mean");
            assert_non_null(mm);
            assert_true(json_is_true(json_object_get(mm, "paired")));
            /* 6/8 - 2/8 on the same items */
            assert_true(json_number_value(json_object_get(json_object_get(mm, "difference"), "mean")) == 0.5);
            const char *v = json_string_value(json_object_get(mm, "verdict"));
            assert_true(!strcmp(v, "above the fitted mean") || !strcmp(v, "no difference shown"));
        }
    }
    assert_int_equal(rows, 3); /* floor, mean, act:pcaq@16 */
    json_decref(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mean_is_the_calibration_mean, setup, teardown),
        cmocka_unit_test(test_minus_mean_in_the_report),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
