/* The patching panel on synthetic models: a panel built so the targeted patch must work (the
 * donor's last-block residual at the receiver's last position gives the receiver the donor's
 * own next-token distribution: checked against the donor's log-probability computed here) and
 * one built so no patch can act (the last block's output at position 0 reaches no later
 * position: every effect is 0); the fitted baseline against hand-captured residuals; prefix
 * reuse against recomputation; D and the decoy ratio against the cells; bad input. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/error.h"
#include "latentwire/panel.h"
#include "support/records_edit.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static const char *RECV[] = {"once upon a time there was a little dog", "the cat sat on the mat in the sun",
                             "a boy went to the park to play", "she saw a big red ball near the tree",
                             "the bird sang a song in the morning", "they ate cake at the party"};
static const char *DONOR[] = {"the dog ran to the house and", "a girl had a small blue hat and",
                              "there was a tree with many apples", "the sun was hot so they went",
                              "he found a box under the bed", "mom made soup for the little boy"};
static const char *DECOY[] = {"seven plus five is twelve", "the meeting starts at noon", "prices rose again this year",
                              "cells divide by mitosis", "the river flows to the sea", "press the red button"};
static const char *CALIB[] = {"the little dog was happy", "a cat and a dog played", "the park was full of kids",
                              "she had a red ball", "the tree was very tall", "they went home at night",
                              "the sun came up", "a bird flew over the house"};
#define NP 6

typedef struct {
    lw_model *ma, *mb;
    lw_session *a, *b;
} fixture;

static lw_model *synth(const char *name, int width, int layers, uint64_t seed) {
    lw_synth_params p = lw_synth_default_params();
    p.n_embd = width;
    p.n_layer = layers;
    p.seed = seed;
    const char *path = lw_test_tmpfile(name);
    if (lw_synth_write(path, &p) != 0) return NULL;
    return lw_model_load(path, lw_model_default_params());
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    f->ma = synth("panel_a.gguf", 64, 2, 42);
    f->mb = synth("panel_b.gguf", 32, 3, 7);
    if (!f->ma || !f->mb) return -1;
    f->a = lw_session_new(f->ma, lw_session_default_params());
    f->b = lw_session_new(f->mb, lw_session_default_params());
    *state = f;
    return f->a && f->b ? 0 : -1;
}

static int teardown(void **state) {
    fixture *f = *state;
    lw_session_free(f->a);
    lw_session_free(f->b);
    lw_model_free(f->ma);
    lw_model_free(f->mb);
    free(f);
    return 0;
}

static void prompts(lw_panel_prompt *pr) {
    for (int i = 0; i < NP; i++) pr[i] = (lw_panel_prompt){RECV[i], DONOR[i], DECOY[i]};
}

/* log p(next token = its argmax) after text, and that token: the donor's own view. */
static double donor_top_logprob(lw_session *s, const char *text, int32_t *top) {
    int32_t *t;
    int n = lw_tokenize_alloc(lw_session_model(s), text, true, &t);
    lw_session_clear(s, 0);
    lw_span sp = {.tokens = t, .n = n};
    lw_seq_input in = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_LAST};
    assert_int_equal(lw_session_run(s, &in, 1), 0);
    lw_model_info info;
    lw_model_get_info(lw_session_model(s), &info);
    float *lp = malloc(sizeof(float) * (size_t)info.n_vocab);
    lw_log_softmax(lw_session_logits(s, 0, n - 1), info.n_vocab, lp);
    *top = lw_argmax(lp, info.n_vocab);
    double v = lp[*top];
    free(lp);
    free(t);
    lw_session_clear(s, 0);
    return v;
}

static void test_a_patch_built_to_work(void **state) {
    fixture *f = *state;
    lw_panel_prompt pr[NP];
    prompts(pr);
    lw_panel_model m = {"A", f->a};
    lw_patching_params p = lw_patching_default_params();
    static const double LAST[1] = {1.0};
    p.depths = LAST;
    p.continuation_tokens = 1;
    lw_patching_result r;
    assert_int_equal(lw_panel_patching(&m, 1, &m, 1, pr, NP, CALIB, 8, &p, &r), 0);
    assert_int_equal(r.n_cells, 1);
    assert_int_equal(r.cells[0].receiver_layer, 1);
    /* the targeted score is the donor's own log p of its next token: check through the effect,
     * e = s_target - s_none, with s_none from lw_panel_score */
    for (int i = 0; i < NP; i++) {
        int32_t top;
        const double want = donor_top_logprob(f->a, DONOR[i], &top);
        int32_t *t;
        int n = lw_tokenize_alloc(f->ma, RECV[i], true, &t);
        double none;
        assert_int_equal(lw_panel_score(f->a, t, n, &top, 1, 1, -1, NULL, false, &none), 0);
        free(t);
        assert_true(fabs(r.e_target[i] - (want - none)) < 1e-4);
    }
    assert_true(r.cells[0].diff.lo > 0);
    assert_true(r.D.lo >= 0.05 && r.verdict == LW_VERDICT_PASS);
    lw_patching_result_free(&r);
}

static void test_a_patch_that_cannot_act(void **state) {
    fixture *f = *state;
    lw_panel_prompt pr[NP];
    prompts(pr);
    lw_panel_model m = {"A", f->a};
    lw_patching_params p = lw_patching_default_params();
    static const double LAST[1] = {1.0};
    p.depths = LAST;
    p.position = 0; /* the last block's output at BOS: no later position reads it */
    lw_patching_result r;
    assert_int_equal(lw_panel_patching(&m, 1, &m, 1, pr, NP, CALIB, 8, &p, &r), 0);
    for (int i = 0; i < NP; i++) {
        assert_true(fabs(r.e_target[i]) < 1e-6);
        assert_true(fabs(r.e_baseline[i]) < 1e-6);
        assert_true(fabs(r.e_decoy[i]) < 1e-6);
    }
    assert_true(fabs(r.D.mean) < 1e-6 && r.verdict == LW_VERDICT_FAIL);
    lw_patching_result_free(&r);
}

static void test_baseline_by_hand(void **state) {
    fixture *f = *state;
    float base[64];
    assert_int_equal(lw_panel_fit_baseline(f->a, 0, CALIB, 8, base), 0);
    double want[64] = {0};
    for (int i = 0; i < 8; i++) {
        int32_t *t;
        int n = lw_tokenize_alloc(f->ma, CALIB[i], true, &t);
        lw_hook h = lw_hook_default();
        h.layer = 0;
        h.seq = 0;
        h.pos_mode = LW_POS_LAST;
        int id = lw_session_add_hook(f->a, &h);
        lw_session_clear(f->a, 0);
        lw_span sp = {.tokens = t, .n = n};
        lw_seq_input in = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_LAST};
        assert_int_equal(lw_session_run(f->a, &in, 1), 0);
        const float *rows;
        assert_int_equal(lw_session_capture(f->a, id, &rows, NULL, NULL), 1);
        for (int k = 0; k < 64; k++) want[k] += rows[k] / 8.0;
        lw_session_clear_hooks(f->a);
        lw_session_clear(f->a, 0);
        free(t);
    }
    for (int k = 0; k < 64; k++) assert_true(fabs(base[k] - want[k]) < 1e-5 * (1 + fabs(want[k])));
}

/* Receivers x donors across widths (through bridges), two depths: prefix reuse changes no number,
 * D is the mean of the cells' differences, the decoy ratio the ratio of the summed means. */
static void test_cells_reuse_and_summaries(void **state) {
    fixture *f = *state;
    lw_panel_prompt pr[NP];
    prompts(pr);
    lw_panel_model recv[1] = {{"A", f->a}}, don[2] = {{"A", f->a}, {"B", f->b}};
    lw_patching_params p = lw_patching_default_params();
    static const double DEPTHS[2] = {0.0, 0.5};
    p.depths = DEPTHS;
    p.n_depths = 2;
    p.continuation_tokens = 3;
    lw_patching_result r, q;
    assert_int_equal(lw_panel_patching(recv, 1, don, 2, pr, NP, CALIB, 8, &p, &r), 0);
    p.reuse_prefix = false;
    assert_int_equal(lw_panel_patching(recv, 1, don, 2, pr, NP, CALIB, 8, &p, &q), 0);
    assert_int_equal(r.n_cells, 4);
    assert_true(r.prefix_tokens_reused > 0 && q.prefix_tokens_reused == 0);
    for (int i = 0; i < r.n_cells * NP; i++) {
        assert_true(fabs(r.e_target[i] - q.e_target[i]) < 1e-4);
        assert_true(fabs(r.e_decoy[i] - q.e_decoy[i]) < 1e-4);
    }
    double d = 0, st = 0, sd = 0;
    for (int c = 0; c < r.n_cells; c++) {
        d += r.cells[c].diff.mean / r.n_cells;
        st += r.cells[c].mean_target;
        sd += r.cells[c].mean_decoy;
        double mt = 0;
        for (int i = 0; i < NP; i++) mt += r.e_target[c * NP + i] / NP;
        assert_true(fabs(mt - r.cells[c].mean_target) < 1e-12);
    }
    assert_true(fabs(d - r.D.mean) < 1e-12);
    /* 4 cells are too few to see how cells vary: D's interval is over the prompts */
    assert_int_equal(r.D.n, NP);
    assert_int_equal(strncmp(r.D.method, "bca over prompts", 16), 0);
    if (sd > 0) assert_true(fabs(r.decoy_ratio - st / sd) < 1e-12);
    else assert_true(isnan(r.decoy_ratio));
    /* its interval: both ends or neither, in order */
    assert_true(isnan(r.decoy_ratio_lo) == isnan(r.decoy_ratio_hi));
    if (!isnan(r.decoy_ratio_lo)) assert_true(r.decoy_ratio_lo <= r.decoy_ratio_hi);
    assert_int_equal(r.cells[2].donor, 1);
    assert_int_equal(r.cells[3].donor_layer, 1); /* B: round(0.5 x 2) */
    lw_patching_result_free(&r);
    lw_patching_result_free(&q);
}

/* From LW_PANEL_MIN_CELLS cells on, D's interval is over cells: 2 receivers x 2 donors x 2 depths. */
static void test_interval_over_cells(void **state) {
    fixture *f = *state;
    lw_panel_prompt pr[NP];
    prompts(pr);
    lw_panel_model recv[2] = {{"A", f->a}, {"B", f->b}}, don[2] = {{"A", f->a}, {"B", f->b}};
    lw_patching_params p = lw_patching_default_params();
    static const double DEPTHS[2] = {0.0, 1.0};
    p.depths = DEPTHS;
    p.n_depths = 2;
    p.continuation_tokens = 3;
    lw_patching_result r;
    if (lw_panel_patching(recv, 2, don, 2, pr, NP, CALIB, 8, &p, &r) != 0) fail_msg("%s", lw_last_error());
    assert_true(r.n_cells >= LW_PANEL_MIN_CELLS);
    assert_int_equal(r.D.n, r.n_cells);
    assert_string_equal(r.D.method, "bca over cells");
    double d = 0, lo = INFINITY, hi = -INFINITY;
    for (int c = 0; c < r.n_cells; c++) {
        d += r.cells[c].diff.mean / r.n_cells;
        lo = fmin(lo, r.cells[c].diff.mean), hi = fmax(hi, r.cells[c].diff.mean);
    }
    assert_true(fabs(d - r.D.mean) < 1e-12);
    assert_true(r.D.lo >= lo - 1e-12 && r.D.hi <= hi + 1e-12); /* a bootstrap mean stays within the cells' range */
    lw_patching_result_free(&r);
}

static int progress_calls;
static void count_progress(int done, int total, void *user) {
    (void)done, (void)total, (void)user;
    progress_calls++;
}

/* An interrupted panel resumed from its records: the two cells the file holds are not run again
 * (one progress step each instead of one per prompt), and every effect, cost, interval and D is the
 * uninterrupted run's exactly; a record file of other settings is refused. */
static void test_resume_from_records(void **state) {
    fixture *f = *state;
    lw_panel_prompt pr[NP];
    prompts(pr);
    lw_panel_model recv[1] = {{"A", f->a}}, don[2] = {{"A", f->a}, {"B", f->b}};
    lw_patching_params p = lw_patching_default_params();
    static const double DEPTHS[2] = {0.0, 0.5};
    p.depths = DEPTHS, p.n_depths = 2, p.continuation_tokens = 3, p.on_progress = count_progress;
    char whole[1200], cut[1200];
    snprintf(whole, sizeof whole, "%s", lw_test_tmpfile("panel-whole.partial"));
    snprintf(cut, sizeof cut, "%s", lw_test_tmpfile("panel-cut.partial"));
    p.records_path = whole, p.settings_json = "{\"data\": \"test\"}";
    lw_patching_result r, q;
    progress_calls = 0;
    if (lw_panel_patching(recv, 1, don, 2, pr, NP, CALIB, 8, &p, &r) != 0) fail_msg("%s", lw_last_error());
    assert_int_equal(progress_calls, 4 * NP);
    /* the interruption: the settings line and the first two cells */
    char *text = lw_test_read_file(whole), *end = text;
    for (int k = 0; k < 3; k++) end = strchr(end, '\n') + 1;
    *end = '\0';
    lw_test_write_text(cut, text);
    free(text);
    p.records_path = cut, p.resume = true, p.continuation_tokens = 2;
    lw_clear_error();
    assert_int_equal(lw_panel_patching(recv, 1, don, 2, pr, NP, CALIB, 8, &p, &q), -1);
    if (!strstr(lw_last_error(), "--resume")) fail_msg("\"%s\"", lw_last_error());
    p.continuation_tokens = 3;
    progress_calls = 0;
    if (lw_panel_patching(recv, 1, don, 2, pr, NP, CALIB, 8, &p, &q) != 0) fail_msg("%s", lw_last_error());
    assert_int_equal(progress_calls, 2 + 2 * NP);
    for (int i = 0; i < r.n_cells * NP; i++)
        assert_true(r.e_target[i] == q.e_target[i] && r.e_baseline[i] == q.e_baseline[i] && r.e_decoy[i] == q.e_decoy[i]);
    for (int c = 0; c < r.n_cells; c++) {
        assert_true(r.cells[c].diff.mean == q.cells[c].diff.mean && r.cells[c].diff.lo == q.cells[c].diff.lo);
        assert_true(r.cells[c].receiver_layer == q.cells[c].receiver_layer && r.cells[c].donor == q.cells[c].donor);
    }
    assert_true(r.D.mean == q.D.mean && r.D.lo == q.D.lo && r.D.hi == q.D.hi);
    assert_true(r.receiver_runs == q.receiver_runs && r.prefix_tokens_reused == q.prefix_tokens_reused);
    lw_patching_result_free(&r);
    lw_patching_result_free(&q);
}

/* A kept cell a run cannot have made is refused by --resume before any work, naming the file: a
 * receiver_runs of 2^63 - 1 was added to the totals and overflowed the next cell's count (a
 * sanitizer report), and a record of a cell the panel does not have was copied into the new file.
 * Each case edits the first cell of an interrupted panel, its checksum made anew. */
static void test_resume_refuses_impossible_cells(void **state) {
    fixture *f = *state;
    static const char *const KEY[] = {"cell"};
    static const struct {
        const char *field, *value, *want;
    } cases[] = {{"receiver_runs", "9223372036854775807", "cell 0: its receiver_runs is not four per prompt"},
                 {"receiver_runs", "0", "cell 0: its receiver_runs is not four per prompt"},
                 {"prefix_tokens_reused", "9223372036854775807", "cell 0: its prefix_tokens_reused is more than"},
                 {"cell", "99", "record 1's cell is out of range, not one of this panel's cells 0 to 3"},
                 {"cell", "\"0\"", "record 1's cell is not a whole number"}};
    lw_panel_prompt pr[NP];
    prompts(pr);
    lw_panel_model recv[1] = {{"A", f->a}}, don[2] = {{"A", f->a}, {"B", f->b}};
    lw_patching_params p = lw_patching_default_params();
    static const double DEPTHS[2] = {0.0, 0.5};
    p.depths = DEPTHS, p.n_depths = 2, p.continuation_tokens = 2, p.on_progress = count_progress;
    char path[1200];
    snprintf(path, sizeof path, "%s", lw_test_tmpfile("panel-impossible.partial"));
    p.records_path = path, p.settings_json = "{\"data\": \"test\"}";
    lw_patching_result r;
    if (lw_panel_patching(recv, 1, don, 2, pr, NP, CALIB, 8, &p, &r) != 0) fail_msg("%s", lw_last_error());
    lw_patching_result_free(&r);
    char *text = lw_test_read_file(path), *end = text; /* the interruption: the settings line and two cells */
    for (int k = 0; k < 3; k++) end = strchr(end, '\n') + 1;
    *end = '\0';
    p.resume = true;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lw_test_write_text(path, text);
        lw_test_edit_record(path, KEY, 1, "target", NULL, NULL, cases[c].field, cases[c].value);
        progress_calls = 0;
        lw_clear_error();
        assert_int_equal(lw_panel_patching(recv, 1, don, 2, pr, NP, CALIB, 8, &p, &r), -1);
        if (progress_calls != 0 || !strstr(lw_last_error(), "--resume: ") || !strstr(lw_last_error(), path) ||
            !strstr(lw_last_error(), cases[c].want))
            fail_msg("%s %s: %d steps, \"%s\"", cases[c].field, cases[c].value, progress_calls, lw_last_error());
    }
    lw_test_write_text(path, text); /* as the run left it: resumed */
    free(text);
    progress_calls = 0;
    if (lw_panel_patching(recv, 1, don, 2, pr, NP, CALIB, 8, &p, &r) != 0) fail_msg("%s", lw_last_error());
    assert_int_equal(progress_calls, 2 + 2 * NP);
    lw_patching_result_free(&r);
}

static void test_bad_input(void **state) {
    fixture *f = *state;
    lw_panel_prompt pr[NP];
    prompts(pr);
    lw_panel_model m = {"A", f->a};
    lw_patching_params p = lw_patching_default_params();
    lw_patching_result r;
    static const double BAD[1] = {1.5};
    p.depths = BAD;
    assert_int_equal(lw_panel_patching(&m, 1, &m, 1, pr, NP, CALIB, 8, &p, &r), -1);
    assert_non_null(strstr(lw_last_error(), "depth 1.5"));
    p = lw_patching_default_params();
    p.position = 500;
    assert_int_equal(lw_panel_patching(&m, 1, &m, 1, pr, NP, CALIB, 8, &p, &r), -1);
    assert_non_null(strstr(lw_last_error(), "past the receiver's prompt"));
    p = lw_patching_default_params();
    assert_int_equal(lw_panel_patching(&m, 1, &m, 1, pr, 1, CALIB, 8, &p, &r), -1);
    assert_int_equal(lw_panel_patching(&m, 1, &m, 1, pr, NP, CALIB, 0, &p, &r), -1);
    assert_non_null(strstr(lw_last_error(), "calibration"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_patch_built_to_work),     cmocka_unit_test(test_a_patch_that_cannot_act),
        cmocka_unit_test(test_baseline_by_hand),          cmocka_unit_test(test_cells_reuse_and_summaries),
        cmocka_unit_test(test_interval_over_cells),        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_resume_from_records),
        cmocka_unit_test(test_resume_refuses_impossible_cells),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
