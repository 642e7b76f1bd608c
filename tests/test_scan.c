/* The layer scan's selection and report (lw_scan_run_eval), unit-level with an injected
 * per-layer evaluator (no model): a planted layer (3) answers every selection item and a known
 * share of the held-out ones; a decoy layer (5) answers only held-out items, so a scan that
 * chose on held-out data (or on anything but the selection split) picks 5 and fails. Checked
 * against values computed here: the chosen layer, each condition's Clopper-Pearson interval
 * (lw_ci_binomial of the count), the paired difference against the floor (its mean and
 * McNemar's exact p = 2 * 0.5^x when all x discordant pairs go one way), the tie rule, the
 * splits' sizes and disjointness by text, the records and --resume (records reused without
 * calling the evaluator again, a torn last line ignored, other settings refused naming the
 * setting), scan.json holding every number with its interval and n, and bad parameters. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fileio.h"
#include "latentwire/scan.h"
#include "support/records_edit.h"
#include "support/testutil.h"

static const int LAYERS[] = {0, 1, 2, 3, 4, 5};
#define N_LAYERS 6
#define N_SELECT 8
#define N_HELD 12
#define HELD_RIGHT 7 /* held-out items the planted layer answers */

typedef struct {
    lw_task held; /* the held-out split as the scan will draw it (same seed and sizes) */
    int calls;
    bool fail_if_called;
    int fail_after; /* > 0: the evaluator errs on that call */
    bool tie;       /* layers 1 and 3 both answer every selection item */
} planted;

static int held_index(const planted *pl, const lw_task_item *it) {
    for (int i = 0; i < pl->held.n; i++)
        if (!strcmp(pl->held.items[i].id, it->id)) return i;
    return -1;
}

static int eval_planted(void *ctx, const lw_task_item *it, int cond, double *score, char **output) {
    planted *pl = ctx;
    if (pl->fail_if_called) fail_msg("the evaluator ran for a record that --resume should have reused");
    if (pl->fail_after > 0 && ++pl->calls == pl->fail_after) return -1;
    int h = held_index(pl, it);
    *output = strdup("answer");
    if (cond == LW_SCAN_FLOOR) *score = 0;
    else if (cond == LW_SCAN_CEILING) *score = 1;
    else if (LAYERS[cond] == 3) *score = h < 0 || h < HELD_RIGHT;
    else if (LAYERS[cond] == 5) *score = h >= 0;
    else if (LAYERS[cond] == 1 && pl->tie) *score = h < 0;
    else *score = 0;
    return 0;
}

static lw_task POOL;
static planted PL;

static int setup(void **state) {
    (void)state;
    if (lw_task_skill("next_number", 3, N_SELECT + N_HELD + 10, 11, &POOL) != 0) return -1;
    lw_task parts[2];
    int sizes[2] = {N_SELECT, N_HELD};
    if (lw_task_split(&POOL, sizes, 2, 5, parts) != 0) return -1;
    lw_task_free(&parts[0]);
    PL.held = parts[1];
    return 0;
}

static int teardown(void **state) {
    (void)state;
    lw_task_free(&POOL);
    lw_task_free(&PL.held);
    return 0;
}

static lw_scan_params params(void) {
    lw_scan_params p = lw_scan_default_params();
    p.layers = LAYERS;
    p.n_layers = N_LAYERS;
    p.n_select = N_SELECT;
    p.n_report = N_HELD;
    p.seed = 5;
    return p;
}

static void assert_ci(const lw_ci *c, int x, int n) {
    lw_ci want;
    assert_int_equal(lw_ci_binomial(x, n, 0.95, &want), 0);
    assert_int_equal(c->n, n);
    assert_true(fabs(c->mean - (double)x / n) < 1e-12);
    assert_true(fabs(c->lo - want.lo) < 1e-12 && fabs(c->hi - want.hi) < 1e-12);
}

static void test_planted_layer_chosen_on_selection(void **state) {
    (void)state;
    lw_scan_params p = params();
    lw_scan_result r;
    PL.calls = 0;
    assert_int_equal(lw_scan_run_eval(&POOL, &p, eval_planted, &PL, &r), 0);
    assert_int_equal(r.select.n, N_SELECT);
    assert_int_equal(r.held_out.n, N_HELD);
    assert_int_equal(r.layers[r.chosen].layer, 3);
    assert_ci(&r.layers[3].select, N_SELECT, N_SELECT);
    assert_ci(&r.layers[3].held_out, HELD_RIGHT, N_HELD);
    assert_ci(&r.layers[5].select, 0, N_SELECT);
    assert_ci(&r.layers[5].held_out, N_HELD, N_HELD); /* the decoy is best on held-out data */
    assert_ci(&r.layers[0].held_out, 0, N_HELD);
    assert_ci(&r.floor, 0, N_HELD);
    assert_ci(&r.ceiling, N_HELD, N_HELD);
    assert_ci(&r.floor_select, 0, N_SELECT);
    assert_ci(&r.ceiling_select, N_SELECT, N_SELECT);
    assert_true(fabs(r.chosen_minus_floor.mean - (double)HELD_RIGHT / N_HELD) < 1e-12);
    assert_int_equal(r.chosen_minus_floor.n, N_HELD);
    assert_true(r.chosen_minus_floor.lo > 0 && r.chosen_minus_floor.hi <= 1);
    assert_true(fabs(r.chosen_p_value - 2 * pow(0.5, HELD_RIGHT)) < 1e-9);
    /* per-item scores are where lw_scan_score says */
    for (int i = 0; i < N_HELD; i++) {
        int h = held_index(&PL, &r.held_out.items[i]);
        assert_true(h >= 0);
        assert_true(lw_scan_score(&r, 1, 3, i) == (h < HELD_RIGHT));
        assert_true(lw_scan_score(&r, 1, LW_SCAN_CEILING, i) == 1);
    }
    lw_scan_result_free(&r);
}

static void test_splits_disjoint(void **state) {
    (void)state;
    lw_scan_params p = params();
    p.n_report = -1; /* every item left */
    lw_scan_result r;
    assert_int_equal(lw_scan_run_eval(&POOL, &p, eval_planted, &PL, &r), 0);
    assert_int_equal(r.select.n, N_SELECT);
    assert_int_equal(r.select.n + r.held_out.n, POOL.n);
    for (int i = 0; i < r.select.n; i++)
        for (int j = 0; j < r.held_out.n; j++) {
            const lw_task_item *a = &r.select.items[i], *b = &r.held_out.items[j];
            assert_string_not_equal(a->id, b->id);
            assert_string_not_equal(a->sender, b->sender);
            assert_string_not_equal(a->receiver, b->receiver);
        }
    lw_scan_result_free(&r);
}

static void test_tie_goes_to_first_listed(void **state) {
    (void)state;
    lw_scan_params p = params();
    lw_scan_result r;
    PL.tie = true;
    assert_int_equal(lw_scan_run_eval(&POOL, &p, eval_planted, &PL, &r), 0);
    PL.tie = false;
    assert_int_equal(r.layers[r.chosen].layer, 1);
    lw_scan_result_free(&r);
}

static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

static void test_records_and_resume(void **state) {
    (void)state;
    const char *rec = lw_test_tmpfile("scan.partial");
    unlink(rec);
    lw_scan_params p = params();
    p.records = rec;
    p.settings_json = "{\"--task\": \"x\"}";
    lw_scan_result r1, r2;
    PL.calls = 0;
    PL.fail_after = 30; /* an interruption: 29 records written, then an error */
    assert_int_equal(lw_scan_run_eval(&POOL, &p, eval_planted, &PL, &r1), -1);
    assert_int_equal(count_lines(rec), 1 + 29);
    PL.fail_after = 0;
    FILE *f = fopen(rec, "a");
    fputs("{\"split\":\"select\",\"condi", f); /* a torn last line */
    fclose(f);
    p.resume = true;
    assert_int_equal(lw_scan_run_eval(&POOL, &p, eval_planted, &PL, &r1), 0);
    assert_int_equal(count_lines(rec), 1 + (N_SELECT + N_HELD) * (N_LAYERS + 2));
    /* everything recorded now: a resumed run calls nothing and reports the same */
    PL.fail_if_called = true;
    assert_int_equal(lw_scan_run_eval(&POOL, &p, eval_planted, &PL, &r2), 0);
    PL.fail_if_called = false;
    assert_int_equal(r2.chosen, r1.chosen);
    assert_true(r2.layers[3].held_out.mean == r1.layers[3].held_out.mean);
    assert_true(r2.chosen_minus_floor.lo == r1.chosen_minus_floor.lo);
    lw_scan_result_free(&r2);
    /* a kept record this scan does not make (edited, its checksum made anew) is refused: it was
     * copied into the new records file, where a verdict would read it */
    static const char *const KEY[] = {"split", "condition", "id"};
    static const char *const edits[][3] = {{"condition", "\"layer 99->99\"", "no such condition"},
                                           {"id", "\"zz-34\"", "no such item in that split"},
                                           {"split", "\"report\"", "no such split"}};
    size_t len;
    char *kept = lw_read_text_file(rec, &len, "records");
    assert_non_null(kept);
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        lw_test_edit_record(rec, KEY, 3, "score", NULL, NULL, edits[e][0], edits[e][1]);
        assert_int_equal(lw_scan_run_eval(&POOL, &p, eval_planted, &PL, &r2), -1);
        if (!strstr(lw_last_error(), edits[e][2]) || !strstr(lw_last_error(), "is not part of this scan"))
            fail_msg("%s: \"%s\"", edits[e][0], lw_last_error());
        lw_test_write_text(rec, kept); /* the file as written */
    }
    free(kept);
    /* other settings: refused, naming the setting */
    p.settings_json = "{\"--task\": \"y\"}";
    assert_int_equal(lw_scan_run_eval(&POOL, &p, eval_planted, &PL, &r2), -1);
    assert_non_null(strstr(lw_last_error(), "was made with another --task"));
    p.settings_json = "{\"--task\": \"x\"}";
    p.n_layers = 5;
    assert_int_equal(lw_scan_run_eval(&POOL, &p, eval_planted, &PL, &r2), -1);
    assert_non_null(strstr(lw_last_error(), "another layers"));
    lw_scan_result_free(&r1);
}

static void check_ci_object(json_t *o) {
    assert_true(json_is_object(o));
    const char *keys[] = {"mean", "lo", "hi", "n"};
    for (int k = 0; k < 4; k++) assert_true(json_is_number(json_object_get(o, keys[k])));
    assert_true(json_number_value(json_object_get(o, "lo")) <= json_number_value(json_object_get(o, "mean")));
    assert_true(json_number_value(json_object_get(o, "mean")) <= json_number_value(json_object_get(o, "hi")));
    assert_true(json_integer_value(json_object_get(o, "n")) > 0);
}

static void test_json_and_csv(void **state) {
    (void)state;
    lw_scan_params p = params();
    lw_scan_result r;
    assert_int_equal(lw_scan_run_eval(&POOL, &p, eval_planted, &PL, &r), 0);
    const char *dir = lw_test_fresh_dir("scan_out");
    assert_int_equal(lw_scan_write(&r, dir), 0);
    json_error_t err;
    json_t *root = json_load_file(lw_test_join(dir, "scan.json"), 0, &err);
    assert_non_null(root);
    json_t *layers = json_object_get(root, "layers");
    assert_int_equal(json_array_size(layers), N_LAYERS);
    for (size_t k = 0; k < N_LAYERS; k++) {
        json_t *l = json_array_get(layers, k);
        assert_int_equal(json_integer_value(json_object_get(l, "layer")), LAYERS[k]);
        check_ci_object(json_object_get(l, "select"));
        check_ci_object(json_object_get(l, "held_out"));
    }
    const char *framed[] = {"floor", "ceiling"};
    for (int c = 0; c < 2; c++) {
        check_ci_object(json_object_get(json_object_get(root, framed[c]), "select"));
        check_ci_object(json_object_get(json_object_get(root, framed[c]), "held_out"));
    }
    json_t *chosen = json_object_get(root, "chosen");
    assert_int_equal(json_integer_value(json_object_get(chosen, "layer")), 3);
    check_ci_object(json_object_get(chosen, "held_out"));
    json_t *d = json_object_get(chosen, "minus_floor");
    assert_true(json_is_number(json_object_get(d, "p_value")));
    assert_int_equal(json_integer_value(json_object_get(d, "n")), N_HELD);
    assert_int_equal(json_array_size(json_object_get(json_object_get(root, "splits"), "held_out")), N_HELD);
    json_decref(root);
    /* scan.csv: a header, (floor, ceiling, layers) per split, the chosen layer and its difference */
    assert_int_equal(count_lines(lw_test_join(dir, "scan.csv")), 1 + 2 * (N_LAYERS + 2) + 2);
    lw_scan_result_free(&r);
}

static void test_bad_params(void **state) {
    (void)state;
    lw_scan_params p = params();
    lw_scan_result r;
    p.n_select = 0;
    assert_int_equal(lw_scan_run_eval(&POOL, &p, eval_planted, &PL, &r), -1);
    assert_non_null(strstr(lw_last_error(), "selection split"));
    p = params();
    p.n_report = POOL.n; /* more than the pool holds */
    assert_int_equal(lw_scan_run_eval(&POOL, &p, eval_planted, &PL, &r), -1);
    assert_non_null(strstr(lw_last_error(), "scan: 30 items cannot give 8 selection items and 30 held-out items"));
    p = params();
    const int twice[] = {3, 3};
    p.layers = twice;
    p.n_layers = 2;
    assert_int_equal(lw_scan_run_eval(&POOL, &p, eval_planted, &PL, &r), -1);
    assert_non_null(strstr(lw_last_error(), "listed twice"));
    p = params();
    p.n_layers = 0;
    assert_int_equal(lw_scan_run_eval(&POOL, &p, eval_planted, &PL, &r), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planted_layer_chosen_on_selection),
        cmocka_unit_test(test_splits_disjoint),
        cmocka_unit_test(test_tie_goes_to_first_listed),
        cmocka_unit_test(test_records_and_resume),
        cmocka_unit_test(test_json_and_csv),
        cmocka_unit_test(test_bad_params),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
