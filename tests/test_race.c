/* The race engine on synthetic per-item scores (no model): the verdict logic against closed
 * forms (Newcombe's paired interval where every item differs the same way, Clopper-Pearson at
 * 0 and n successes), CI and n of every cell in race.json, the CSV rows, unpaired comparisons,
 * --resume after an interrupted run giving the bytes of an uninterrupted one, shards merging
 * into the same bytes, and bad input (budgets, channels, a bridge of the wrong widths). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <cmocka.h>
#include <jansson.h>

#include "common/fileio.h"
#include "latentwire/bridge.h"
#include "latentwire/race.h"
#include "latentwire/records.h"
#include "latentwire/verdict.h"
#include "latentwire/retrieval.h"
#include "race/race_internal.h"
#include "support/records_edit.h"
#include "support/testutil.h"

#define N_ITEMS 20
static const double Z = 1.959963984540054; /* the normal 0.975 quantile */

typedef enum { TEXT_WINS, ACT_WINS, EQUAL, ALL_RIGHT, ACT_NA_FIRST5, FRACTIONS, NEAR_ONE_UNPAIRED, DISJOINT,
               NA_WHERE_BOTH_WRONG } pattern;

typedef struct {
    pattern pat;
    int calls;
    int fail_after; /* the call that fails (interrupting the run); 0: none */
    int act_sleep_ms; /* act: evaluations take this long (the timing test) */
} synth;

static double synth_score(pattern pat, const lw_race_channel *ch, int item) {
    bool act = ch->family == LW_RACE_ACT, text = ch->family == LW_RACE_TEXT;
    switch (pat) {
    case TEXT_WINS:
    case ACT_NA_FIRST5:
    case DISJOINT: return text || ch->family == LW_RACE_CEILING ? 1 : 0;
    case NA_WHERE_BOTH_WRONG: return item >= 10; /* every channel alike on every item */
    case ACT_WINS: return act || ch->family == LW_RACE_CEILING ? 1 : 0;
    case EQUAL: return (act || text) ? item % 3 == 0 : 0;
    case ALL_RIGHT: return 1;
    case FRACTIONS: return act ? 0.25 * (item % 4) : 0.5;
    case NEAR_ONE_UNPAIRED: return act ? (item == 5 ? 0.5 : 1) : 0;
    }
    return 0;
}

static int synth_eval(void *ctx, const lw_race_channel *ch, int64_t budget, int item, lw_race_outcome *o) {
    synth *s = ctx;
    if (++s->calls == s->fail_after) return -1;
    if (s->act_sleep_ms > 0 && ch->family == LW_RACE_ACT) {
        struct timespec ts = {0, (long)s->act_sleep_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    /* DISJOINT, NEAR_ONE_UNPAIRED: text takes only the items act cannot (no item in common);
     * NA_WHERE_BOTH_WRONG: act cannot take the 10 items every channel gets wrong */
    const bool text_na = (s->pat == DISJOINT || s->pat == NEAR_ONE_UNPAIRED) && ch->family == LW_RACE_TEXT && item >= 5;
    const bool act_na = ch->family == LW_RACE_ACT &&
                        (s->pat == NA_WHERE_BOTH_WRONG ? item < 10
                                                       : (s->pat == ACT_NA_FIRST5 || s->pat == NEAR_ONE_UNPAIRED ||
                                                          s->pat == DISJOINT) && item < 5);
    if (text_na || act_na) {
        /* longer than the 200 bytes na once held, with a byte that is no UTF-8 (a path's): the
         * reason must reach race.json whole, the byte as U+FFFD */
        snprintf(o->na, sizeof o->na, "synthetic: item %d too short %0300d \xff end", item, 0);
        return 0;
    }
    o->score = synth_score(s->pat, ch, item);
    o->payload_bits = ch->family == LW_RACE_ACT ? budget / 2 : ch->family == LW_RACE_TEXT ? budget : 0;
    o->side_bits = lw_race_channel_budgeted(ch) ? 1000 : 0;
    o->output = strdup(o->score == 1 ? "right" : "wrong");
    return 0;
}

static const char *IDS[N_ITEMS] = {"i00", "i01", "i02", "i03", "i04", "i05", "i06", "i07", "i08", "i09",
                                   "i10", "i11", "i12", "i13", "i14", "i15", "i16", "i17", "i18", "i19"};
static lw_race_channel CH[4];
static const int64_t BUDGETS[2] = {64, 32};

static lw_race_params params(const char *dir, synth *s) {
    const char *specs[4] = {"floor", "ceiling", "act:topk", "text:zlib"};
    for (int c = 0; c < 4; c++) assert_int_equal(lw_race_channel_parse(specs[c], &CH[c]), 0);
    lw_race_params p = lw_race_default_params();
    p.out_dir = dir;
    p.settings_json = "{\"--model\": \"synthetic\"}";
    p.channels = CH;
    p.n_channels = 4;
    p.budgets = BUDGETS;
    p.n_budgets = 2;
    p.item_ids = IDS;
    p.n_items = N_ITEMS;
    p.eval = synth_eval;
    p.eval_ctx = s;
    return p;
}

static json_t *load_report(const char *dir) {
    json_error_t err;
    json_t *r = json_load_file(lw_test_join(dir, "race.json"), 0, &err);
    if (!r) fprintf(stderr, "race.json: %s\n", err.text);
    assert_non_null(r);
    return r;
}

static json_t *run_pattern(const char *name, pattern pat) {
    const char *dir = lw_test_fresh_dir(name);
    synth s = {pat, 0, 0, 0};
    lw_race_params p = params(dir, &s);
    if (lw_race_run(&p) != 0) fprintf(stderr, "race: %s\n", lw_last_error());
    assert_int_equal(s.calls, N_ITEMS * (2 + 2 * 2));
    return load_report(dir);
}

static json_t *comparison(json_t *r, int64_t budget) {
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(r, "comparisons"), i, c) {
        if (json_integer_value(json_object_get(c, "budget_bits")) == budget) return c;
    }
    fail_msg("no comparison at %lld bits", (long long)budget);
    return NULL;
}

static json_t *cell(json_t *r, const char *channel, int64_t budget) {
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(r, "cells"), i, c) {
        json_t *b = json_object_get(c, "budget_bits");
        if (!strcmp(json_string_value(json_object_get(c, "channel")), channel) &&
            (json_is_null(b) ? budget == 0 : json_integer_value(b) == budget))
            return c;
    }
    fail_msg("no cell %s at %lld", channel, (long long)budget);
    return NULL;
}

static double num(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static const char *verdict_of(json_t *r, const char *budget) {
    return json_string_value(json_object_get(json_object_get(json_object_get(r, "verdicts"), budget), "act:topk - text:zlib"));
}

/* ------------------------------------------------------------------ verdicts */

static void test_text_dominates(void **state) {
    (void)state;
    json_t *r = run_pattern("text_wins", TEXT_WINS);
    const double n = N_ITEMS, w = Z * Z / (n + Z * Z); /* Wilson's reach from 0 (or 1) successes */
    for (int64_t b = 32; b <= 64; b *= 2) {
        json_t *c = comparison(r, b), *d = json_object_get(c, "difference");
        assert_string_equal(json_string_value(json_object_get(c, "verdict")), "text dominates");
        assert_true(json_is_true(json_object_get(c, "paired")));
        assert_string_equal(json_string_value(json_object_get(d, "method")), "newcombe-paired");
        assert_int_equal(json_integer_value(json_object_get(d, "n")), N_ITEMS);
        assert_true(fabs(num(d, "mean") + 1) < 1e-12);
        assert_true(fabs(num(d, "lo") + 1) < 1e-12);
        /* every item differs the same way: hi = -1 + sqrt(2) z^2 / (n + z^2) */
        assert_true(fabs(num(d, "hi") - (-1 + sqrt(2.0) * w)) < 1e-9);
        assert_true(num(c, "p_value") < 1e-5); /* McNemar: 2 x 2^-20 */
        assert_true(fabs(num(c, "p_value") - 2 * pow(0.5, 20)) < 1e-12);
    }
    assert_string_equal(verdict_of(r, "32"), "text dominates");
    assert_string_equal(verdict_of(r, "64"), "text dominates");
    /* cells: Clopper-Pearson at 0 and n successes in closed form; bits */
    json_t *a = json_object_get(cell(r, "act:topk", 32), "accuracy"), *t = json_object_get(cell(r, "text:zlib", 32), "accuracy");
    assert_string_equal(json_string_value(json_object_get(a, "method")), "clopper-pearson");
    assert_int_equal(json_integer_value(json_object_get(a, "n")), N_ITEMS);
    assert_true(num(a, "mean") == 0 && num(a, "lo") == 0);
    assert_true(fabs(num(a, "hi") - (1 - pow(0.025, 1.0 / N_ITEMS))) < 1e-9);
    assert_true(num(t, "mean") == 1 && num(t, "hi") == 1);
    assert_true(fabs(num(t, "lo") - pow(0.025, 1.0 / N_ITEMS)) < 1e-9);
    json_t *c32 = cell(r, "act:topk", 32);
    assert_true(num(c32, "payload_bits_mean") == 16);
    assert_int_equal(json_integer_value(json_object_get(c32, "side_bits")), 1000);
    assert_true(fabs(num(c32, "side_bits_per_item") - 1000.0 / N_ITEMS) < 1e-12);
    /* against the floor: text - floor = +1 on every item */
    json_t *tf = json_object_get(json_object_get(cell(r, "text:zlib", 64), "minus_floor"), "difference");
    assert_true(fabs(num(tf, "mean") - 1) < 1e-12 && fabs(num(tf, "lo") - (1 - sqrt(2.0) * w)) < 1e-9);
    /* worded for a channel against the floor, not as activation against text */
    assert_string_equal(json_string_value(json_object_get(json_object_get(cell(r, "text:zlib", 64), "minus_floor"),
                                                          "verdict")),
                        "above the floor");
    json_decref(r);
}

static void test_activation_dominates(void **state) {
    (void)state;
    json_t *r = run_pattern("act_wins", ACT_WINS);
    const double n = N_ITEMS, w = Z * Z / (n + Z * Z);
    json_t *d = json_object_get(comparison(r, 64), "difference");
    assert_string_equal(verdict_of(r, "64"), "activation dominates");
    assert_true(fabs(num(d, "lo") - (1 - sqrt(2.0) * w)) < 1e-9 && fabs(num(d, "hi") - 1) < 1e-12);
    json_decref(r);
}

static void test_equal_is_no_difference(void **state) {
    (void)state;
    json_t *r = run_pattern("equal", EQUAL);
    json_t *c = comparison(r, 32), *d = json_object_get(c, "difference");
    assert_string_equal(verdict_of(r, "32"), "no difference shown");
    assert_true(num(d, "mean") == 0 && num(d, "lo") < 0 && num(d, "hi") > 0);
    assert_true(num(c, "p_value") == 1); /* no discordant pair */
    json_decref(r);
}

/* Both always right: a difference of 0 whose interval is Newcombe's [-z^2/(n+z^2), +z^2/(n+z^2)],
 * or, where lw_ci_paired widens an interval without discordant pairs to the exact upper bound
 * on the discordance rate at 0 of n (h-report's change), +-(1 - 0.025^(1/n)). */
static void test_all_correct_in_both(void **state) {
    (void)state;
    json_t *r = run_pattern("all_right", ALL_RIGHT);
    const double w = Z * Z / (N_ITEMS + Z * Z), u = 1 - pow(0.025, 1.0 / N_ITEMS);
    json_t *d = json_object_get(comparison(r, 64), "difference");
    assert_string_equal(verdict_of(r, "64"), "no difference shown");
    assert_true(num(d, "mean") == 0);
    bool newcombe = fabs(num(d, "lo") + w) < 1e-9 && fabs(num(d, "hi") - w) < 1e-9;
    bool widened = fabs(num(d, "lo") + u) < 1e-9 && fabs(num(d, "hi") - u) < 1e-9;
    assert_true(newcombe || widened);
    json_decref(r);
}

/* The activation channel not applicable to 5 items: the comparison is paired on the 15 items both
 * cells scored (Newcombe's paired interval, n = 15), labelled so. */
static void test_common_items_are_paired(void **state) {
    (void)state;
    json_t *r = run_pattern("common", ACT_NA_FIRST5);
    json_t *c = comparison(r, 32), *d = json_object_get(c, "difference"), *a = cell(r, "act:topk", 32);
    assert_int_equal(json_integer_value(json_object_get(a, "n")), 15);
    assert_int_equal(json_integer_value(json_object_get(a, "not_applicable_items")), 5);
    const char *why = json_string_value(json_object_get(a, "reason"));
    assert_non_null(why);
    assert_non_null(strstr(why, "too short"));
    assert_non_null(strstr(why, "\xEF\xBF\xBD end")); /* whole, and valid UTF-8 */
    assert_true(json_is_true(json_object_get(c, "paired")));
    assert_string_equal(json_string_value(json_object_get(c, "pairing")), "paired on the common items");
    assert_string_equal(json_string_value(json_object_get(d, "method")), "newcombe-paired");
    assert_int_equal(json_integer_value(json_object_get(d, "n")), 15);
    assert_true(fabs(num(d, "mean") + 1.0) < 1e-12);
    assert_string_equal(verdict_of(r, "32"), "text dominates");
    json_decref(r);
}

/* Every channel alike on every item (right on 10, wrong on 10), the activation channel unable to
 * take the 10 it would get wrong. Unpaired, its accuracy 10/10 against text's 10/20 read
 * "activation dominates (unpaired)" with nothing between the channels; on the 10 common items
 * the difference is 0. */
static void test_items_a_channel_cannot_take_decide_nothing(void **state) {
    (void)state;
    json_t *r = run_pattern("na-where-wrong", NA_WHERE_BOTH_WRONG);
    json_t *c = comparison(r, 32), *d = json_object_get(c, "difference");
    assert_true(fabs(num(d, "mean")) < 1e-12);
    assert_int_equal(json_integer_value(json_object_get(d, "n")), 10);
    assert_true(num(d, "lo") <= 0 && num(d, "hi") >= 0);
    assert_string_equal(verdict_of(r, "32"), "no difference shown");
    json_decref(r);
}

/* Cells with no item in common (text takes only the 5 items act cannot): unpaired, Newcombe's
 * independent interval, labelled so. */
static void test_unpaired_is_labelled(void **state) {
    (void)state;
    json_t *r = run_pattern("unpaired", DISJOINT);
    json_t *c = comparison(r, 32), *d = json_object_get(c, "difference");
    assert_true(json_is_false(json_object_get(c, "paired")));
    assert_string_equal(json_string_value(json_object_get(c, "pairing")), "unpaired");
    assert_string_equal(json_string_value(json_object_get(d, "method")), "newcombe-independent");
    double w15 = Z * Z / (15 + Z * Z), w5 = Z * Z / (5 + Z * Z);
    assert_true(fabs(num(d, "hi") - (-1 + sqrt(w15 * w15 + w5 * w5))) < 1e-9);
    assert_string_equal(verdict_of(r, "32"), "text dominates (unpaired)");
    json_decref(r);
}

/* Non-binary scores: the paired BCa bootstrap, named in the method. */
static void test_fractional_scores_use_the_bootstrap(void **state) {
    (void)state;
    json_t *r = run_pattern("fractions", FRACTIONS);
    json_t *d = json_object_get(comparison(r, 32), "difference");
    assert_string_equal(json_string_value(json_object_get(d, "method")), "bca");
    assert_true(fabs(num(d, "mean") - (0.375 - 0.5)) < 1e-12);
    assert_int_equal(json_integer_value(json_object_get(d, "n")), N_ITEMS);
    json_decref(r);
}

/* Non-binary scores with no item in common take the normal (Welch) interval, whose upper end here
 * would be 1.032: a difference of scores in [0, 1] is clamped to [-1, 1] (which keeps its
 * coverage), else `report` refused the race's own race.json. act: 14 x 1 and one 0.5 over items
 * 5..19, text: 0 on items 0..4. */
static void test_unpaired_normal_interval_is_clamped(void **state) {
    (void)state;
    json_t *r = run_pattern("near-one", NEAR_ONE_UNPAIRED);
    json_t *d = json_object_get(comparison(r, 32), "difference");
    assert_string_equal(json_string_value(json_object_get(d, "method")), "normal-unpaired");
    double mean = 14.5 / 15, var = (14 * pow(1 - mean, 2) + pow(0.5 - mean, 2)) / 14;
    double half = Z * sqrt(var / 15);
    assert_true(mean + half > 1); /* the case this test is about */
    assert_true(fabs(num(d, "mean") - mean) < 1e-12);
    assert_true(fabs(num(d, "lo") - (mean - half)) < 1e-9);
    assert_true(fabs(num(d, "hi") - 1.0) < 1e-12);
    json_decref(r);
}

/* Every cell carries accuracy {mean, lo, hi, n, method}; the CSV holds the curve with floor and
 * ceiling rows (empty budget: reference lines). */
static void test_csv_and_ci_in_json(void **state) {
    (void)state;
    json_decref(run_pattern("csv", TEXT_WINS));
    const char *dir = lw_test_join(lw_test_tmpdir(), "csv");
    json_t *r = load_report(dir);
    size_t i;
    json_t *c;
    assert_int_equal(json_array_size(json_object_get(r, "cells")), 6);
    json_array_foreach(json_object_get(r, "cells"), i, c) {
        json_t *a = json_object_get(c, "accuracy");
        assert_non_null(a);
        assert_int_equal(json_integer_value(json_object_get(a, "n")), N_ITEMS);
        assert_true(num(a, "lo") <= num(a, "mean") && num(a, "mean") <= num(a, "hi"));
        assert_non_null(json_string_value(json_object_get(a, "method")));
    }
    assert_non_null(json_string_value(json_object_get(json_object_get(r, "method"), "difference")));
    json_decref(r);
    size_t len;
    char *csv = lw_read_file(lw_test_join(dir, "race.csv"), &len);
    assert_non_null(csv);
    char hi[32];
    snprintf(hi, sizeof hi, "%.6f", 1 - pow(0.025, 1.0 / N_ITEMS));
    char want[1024];
    snprintf(want, sizeof want,
             "channel,family,budget_bits,payload_bits,side_bits,side_bits_per_item,accuracy,lo,hi,n\n"
             "floor,floor,,0.000,0,0.000,0.000000,0.000000,%s,20\n"
             "ceiling,ceiling,,0.000,0,0.000,1.000000,%.6f,1.000000,20\n"
             "act:topk,activation,32,16.000,1000,50.000,0.000000,0.000000,%s,20\n"
             "act:topk,activation,64,32.000,1000,50.000,0.000000,0.000000,%s,20\n"
             "text:zlib,text,32,32.000,1000,50.000,1.000000,%.6f,1.000000,20\n"
             "text:zlib,text,64,64.000,1000,50.000,1.000000,%.6f,1.000000,20\n",
             hi, pow(0.025, 1.0 / N_ITEMS), hi, hi, pow(0.025, 1.0 / N_ITEMS), pow(0.025, 1.0 / N_ITEMS));
    assert_string_equal(csv, want);
    free(csv);
}

/* ------------------------------------------------------------------ resume and shards */

static void assert_same_file(const char *a, const char *b) {
    size_t la, lb;
    char *x = lw_read_file(a, &la), *y = lw_read_file(b, &lb);
    assert_non_null(x);
    assert_non_null(y);
    if (la != lb || memcmp(x, y, la)) fail_msg("%s and %s differ", a, b);
    free(x);
    free(y);
}

static void assert_same_outputs(const char *d1, const char *d2) {
    const char *names[3] = {"race.json", "race.csv", "race.jsonl"};
    for (int k = 0; k < 3; k++) {
        char a[4096];
        snprintf(a, sizeof a, "%s", lw_test_join(d1, names[k]));
        assert_same_file(a, lw_test_join(d2, names[k]));
    }
}

static void test_resume_equals_uninterrupted(void **state) {
    (void)state;
    const char *whole = lw_test_fresh_dir("whole");
    synth s = {EQUAL, 0, 0, 0};
    lw_race_params p = params(whole, &s);
    assert_int_equal(lw_race_run(&p), 0);

    char cut[4096];
    snprintf(cut, sizeof cut, "%s", lw_test_fresh_dir("cut"));
    synth s2 = {EQUAL, 0, 38, 0}; /* the 38th evaluation fails: 37 records kept */
    p = params(cut, &s2);
    assert_int_equal(lw_race_run(&p), -1);
    assert_non_null(strstr(lw_last_error(), "item "));
    assert_false(lw_test_file_exists(lw_test_join(cut, "race.json")));
    FILE *f = fopen(lw_test_join(cut, "race.partial"), "a"); /* a line torn by the interruption */
    assert_non_null(f);
    fputs("{\"channel\": \"act:to", f);
    fclose(f);

    synth s3 = {EQUAL, 0, 0, 0};
    p = params(cut, &s3);
    p.resume = true;
    assert_int_equal(lw_race_run(&p), 0);
    assert_int_equal(s3.calls, N_ITEMS * 6 - 37); /* only what was not recorded */
    assert_same_outputs(whole, cut);

    /* other settings: refused, naming the setting */
    synth s4 = {EQUAL, 0, 0, 0};
    p = params(cut, &s4);
    p.resume = true;
    p.settings_json = "{\"--model\": \"another\"}";
    assert_int_equal(lw_race_run(&p), -1);
    assert_non_null(strstr(lw_last_error(), "another --model"));
    p.settings_json = "{\"--model\": \"synthetic\"}";
    p.n_budgets = 1;
    assert_int_equal(lw_race_run(&p), -1);
    assert_non_null(strstr(lw_last_error(), "another race.budgets"));
    assert_int_equal(s4.calls, 0);
}

static json_t *timing_cell(json_t *run, const char *channel, int64_t budget) {
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(run, "cells"), i, c) {
        json_t *b = json_object_get(c, "budget_bits");
        if (!strcmp(json_string_value(json_object_get(c, "channel")), channel) &&
            (json_is_null(b) ? budget == 0 : json_integer_value(b) == budget))
            return c;
    }
    fail_msg("timing.json: no cell %s at %lld", channel, (long long)budget);
    return NULL;
}

/* timing.json: one row per cell with every evaluation counted; a channel built to take 3 ms an
 * item reads at least that (a clock that measured nothing, or the wrong call, fails); a resumed run
 * adds its own entry with only what it evaluated; race.json stays byte-identical (no clock in it). */
static void test_timing_per_cell(void **state) {
    (void)state;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", lw_test_fresh_dir("timing"));
    synth s = {EQUAL, 0, 0, 3};
    lw_race_params p = params(dir, &s);
    assert_int_equal(lw_race_run(&p), 0);
    json_error_t err;
    json_t *t = json_load_file(lw_test_join(dir, "timing.json"), 0, &err);
    assert_non_null(t);
    assert_string_equal(json_string_value(json_object_get(t, "format")), "latentwire.race-timing/1");
    json_t *runs = json_object_get(t, "runs");
    assert_int_equal(json_array_size(runs), 1);
    json_t *run = json_array_get(runs, 0);
    assert_int_equal(json_array_size(json_object_get(run, "cells")), 6); /* floor, ceiling, 2 x 2 budgeted */
    for (int b = 0; b < 2; b++) {
        json_t *a = timing_cell(run, "act:topk", BUDGETS[b]), *x = timing_cell(run, "text:zlib", BUDGETS[b]);
        assert_int_equal(json_integer_value(json_object_get(a, "items_timed")), N_ITEMS);
        assert_int_equal(json_integer_value(json_object_get(x, "items_timed")), N_ITEMS);
        assert_true(num(a, "ms_per_item_median") >= 3.0);
        assert_true(num(a, "ms_per_item_mean") >= 3.0);
        assert_true(fabs(num(a, "seconds") * 1e3 / N_ITEMS - num(a, "ms_per_item_mean")) < 1e-6);
        assert_true(num(x, "ms_per_item_median") < num(a, "ms_per_item_median"));
    }
    assert_int_equal(json_integer_value(json_object_get(timing_cell(run, "floor", 0), "items_timed")), N_ITEMS);
    json_decref(t);

    char cut[4096];
    snprintf(cut, sizeof cut, "%s", lw_test_fresh_dir("timing-cut"));
    synth s2 = {EQUAL, 0, 0, 0};
    p = params(cut, &s2);
    assert_int_equal(lw_race_run(&p), 0);
    synth s3 = {EQUAL, 0, 0, 0};
    p = params(cut, &s3);
    p.resume = true; /* everything recorded: nothing evaluated, an empty entry added */
    assert_int_equal(lw_race_run(&p), 0);
    assert_int_equal(s3.calls, 0);
    t = json_load_file(lw_test_join(cut, "timing.json"), 0, &err);
    assert_non_null(t);
    runs = json_object_get(t, "runs");
    assert_int_equal(json_array_size(runs), 2);
    assert_int_equal(json_array_size(json_object_get(json_array_get(runs, 0), "cells")), 6);
    assert_int_equal(json_array_size(json_object_get(json_array_get(runs, 1), "cells")), 0);
    json_decref(t);
    assert_same_outputs(dir, cut);
}

static bool is_floor(json_t *rec, void *ctx) {
    (void)ctx;
    return !strcmp(json_string_value(json_object_get(rec, "channel")), "floor");
}

static bool is_budgeted(json_t *rec, void *ctx) {
    (void)ctx;
    return json_integer_value(json_object_get(rec, "budget")) > 0 && !json_is_null(json_object_get(rec, "score"));
}

/* Bits a record could not have (more than its budget, negative, not whole, sent by floor) are
 * refused by the merge, each naming the record: they entered race.json (3e9 read as 0). Each case
 * edits one record of shard 0, its checksum made anew, then puts the file back. */
static void edited_bits_refused(const char *dir) {
    const char *path = lw_test_join(dir, "race-shard-0-of-3.partial");
    static const char *const KEY[] = {"channel", "budget", "id"};
    static const struct {
        bool floor;
        const char *field, *value, *want;
    } cases[] = {{false, "payload_bits", "100000", "payload_bits exceeds the budget"},
                 {false, "payload_bits", "-8", "payload_bits is not a whole number >= 0"},
                 {false, "payload_bits", "1.5", "payload_bits is not a whole number >= 0"},
                 {false, "payload_bits", "3e9", "payload_bits is not a whole number >= 0"},
                 {true, "payload_bits", "5", "payload_bits is not 0 for a channel that sends nothing"},
                 {false, "side_bits", "-1", "side_bits is not a whole number >= 0"}};
    size_t len;
    char *original = lw_read_text_file(path, &len, "shard");
    assert_non_null(original);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lw_test_edit_record(path, KEY, 3, "score", cases[c].floor ? is_floor : is_budgeted, NULL, cases[c].field,
                            cases[c].value);
        assert_int_equal(lw_race_merge(dir, NULL), -1);
        if (!strstr(lw_last_error(), cases[c].want) || !strstr(lw_last_error(), "race-shard-0-of-3.partial"))
            fail_msg("%s %s: \"%s\"", cases[c].field, cases[c].value, lw_last_error());
        lw_test_write_text(path, original); /* the file as written */
    }
    free(original);
    assert_int_equal(lw_race_merge(dir, NULL), 0); /* the shards as written merge again */
}

static void test_shards_merge_exactly(void **state) {
    (void)state;
    char whole[4096];
    snprintf(whole, sizeof whole, "%s", lw_test_fresh_dir("unsharded"));
    synth s = {EQUAL, 0, 0, 0};
    lw_race_params p = params(whole, &s);
    assert_int_equal(lw_race_run(&p), 0);

    const char *dir = lw_test_fresh_dir("sharded");
    int calls = 0;
    for (int k = 0; k < 2; k++) {
        synth sk = {EQUAL, 0, 0, 0};
        p = params(dir, &sk);
        p.shard = k;
        p.n_shards = 3;
        assert_int_equal(lw_race_run(&p), 0);
        calls += sk.calls;
    }
    assert_false(lw_test_file_exists(lw_test_join(dir, "race.json"))); /* shards only write partials */
    assert_int_equal(lw_race_merge(dir, NULL), -1);                   /* shard 2 of 3 missing */
    assert_non_null(strstr(lw_last_error(), "race-shard-2-of-3.partial is missing"));

    synth s2 = {EQUAL, 0, 0, 0};
    p = params(dir, &s2);
    p.shard = 2;
    p.n_shards = 3;
    p.settings_json = "{\"--model\": \"another\"}";
    assert_int_equal(lw_race_run(&p), 0);
    assert_int_equal(lw_race_merge(dir, NULL), -1); /* made with other settings */
    assert_non_null(strstr(lw_last_error(), "another --model"));

    p.settings_json = "{\"--model\": \"synthetic\"}";
    s2.calls = 0;
    assert_int_equal(lw_race_run(&p), 0);
    calls += s2.calls;
    assert_int_equal(calls, N_ITEMS * 6); /* each item in exactly one shard */
    char *report = NULL;
    assert_int_equal(lw_race_merge(dir, &report), 0);
    assert_non_null(report);
    free(report);
    assert_same_outputs(whole, dir);
    edited_bits_refused(dir);
    /* --resume checks the kept records' bits before any work (it ran every missing item first) */
    {
        static const char *const KEY[] = {"channel", "budget", "id"};
        const char *path = lw_test_join(dir, "race-shard-0-of-3.partial");
        char *kept = lw_test_read_file(path);
        assert_non_null(kept);
        lw_test_edit_record(path, KEY, 3, "score", is_budgeted, NULL, "payload_bits", "-8");
        synth sr = {EQUAL, 0, 0, 0};
        p = params(dir, &sr);
        p.shard = 0;
        p.n_shards = 3;
        p.resume = true;
        assert_int_equal(lw_race_run(&p), -1);
        assert_int_equal(sr.calls, 0);
        if (!strstr(lw_last_error(), "--resume: ") || !strstr(lw_last_error(), "payload_bits is not a whole number"))
            fail_msg("\"%s\"", lw_last_error());
        lw_test_write_text(path, kept);
        free(kept);
    }

    /* an incomplete shard is named */
    const char *dir2 = lw_test_fresh_dir("sharded_cut");
    for (int k = 0; k < 2; k++) {
        synth sk = {EQUAL, 0, k == 1 ? 5 : 0, 0};
        p = params(dir2, &sk);
        p.shard = k;
        p.n_shards = 2;
        assert_int_equal(lw_race_run(&p), k == 1 ? -1 : 0);
    }
    assert_int_equal(lw_race_merge(dir2, NULL), -1);
    assert_non_null(strstr(lw_last_error(), "race-shard-1-of-2.partial has no record"));
}

/* Sets the settings line's race.FIELD of path to the JSON text value, the file sealed anew. */
static void edit_race_setting(const char *path, const char *field, const char *value) {
    static const char *const KEY[] = {"channel", "budget", "id"};
    lw_records r;
    json_t *head = NULL;
    if (lw_records_load(&r, path, NULL, KEY, 3, "score", "edit", &head) != 0) fail_msg("%s", lw_last_error());
    json_object_set_new(json_object_get(head, "race"), field, json_loads(value, JSON_DECODE_ANY, NULL));
    FILE *f = lw_records_open(path, head, &r);
    assert_non_null(f);
    fclose(f);
    lw_records_free(&r);
    json_decref(head);
}

/* A settings line or a record key edited by hand is refused by the merge before any output is
 * written, naming the file's line and the field: a level of 1.5 or 0 resamples gave cells without
 * an interval ("not applicable: (null)") with exit 0, and a budget "0" (a string) was written to
 * race.jsonl, which the merge then refused as its own output. */
static void test_merge_refuses_edited_settings(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("edited_settings");
    synth s = {EQUAL, 0, 0, 0};
    lw_race_params p = params(dir, &s);
    assert_int_equal(lw_race_run(&p), 0);
    char path[4096];
    snprintf(path, sizeof path, "%s", lw_test_join(dir, "race.partial"));
    char *original = lw_test_read_file(path);
    assert_non_null(original);
    static const struct {
        const char *field, *value, *want;
    } cases[] = {{"level", "1.5", "race.level 1.5 is not a number in (0, 1)"},
                 {"level", "0", "race.level 0 is not"},
                 {"level", "-1", "race.level -1 is not"},
                 {"level", "\"x\"", "race.level \"x\" is not"},
                 {"resamples", "0", "race.resamples 0 is not a whole number"},
                 {"resamples", "-5", "race.resamples -5 is not"},
                 {"resamples", "2.5", "race.resamples 2.5 is not"},
                 {"budgets", "[-16, 64]", "race.budgets -16 is not a whole number of bits"},
                 {"budgets", "[32, 1e3]", "race.budgets 1000.0 is not"},
                 {"budgets", "[32, 32]", "settings line is malformed: race.budgets lists 32 twice"},
                 {"seed", "-1", "race.seed -1 is not"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        edit_race_setting(path, cases[c].field, cases[c].value);
        remove(lw_test_join(dir, "race.json"));
        assert_int_equal(lw_race_merge(dir, NULL), -1);
        if (!strstr(lw_last_error(), cases[c].want) || !strstr(lw_last_error(), "race.partial:1:"))
            fail_msg("%s %s: \"%s\"", cases[c].field, cases[c].value, lw_last_error());
        assert_false(lw_test_file_exists(lw_test_join(dir, "race.json")));
        lw_test_write_text(path, original);
    }
    /* a record's budget as a string */
    static const char *const KEY[] = {"channel", "budget", "id"};
    lw_test_edit_record(path, KEY, 3, "score", is_floor, NULL, "budget", "\"0\"");
    assert_int_equal(lw_race_merge(dir, NULL), -1);
    if (!strstr(lw_last_error(), "race.partial:2: the record's budget is not a whole number"))
        fail_msg("\"%s\"", lw_last_error());
    assert_false(lw_test_file_exists(lw_test_join(dir, "race.json")));
    synth sr = {EQUAL, 0, 0, 0}; /* and on resume, before any work */
    p = params(dir, &sr);
    p.resume = true;
    assert_int_equal(lw_race_run(&p), -1);
    assert_int_equal(sr.calls, 0);
    assert_non_null(strstr(lw_last_error(), "budget is not a whole number"));
    lw_test_write_text(path, original);
    free(original);
    assert_int_equal(lw_race_merge(dir, NULL), 0);
    /* a lone race-shard-0-of-1.partial is named as what it is (the message said there were no
     * race-shard-I-of-N.partial files) */
    char one[4096];
    snprintf(one, sizeof one, "%s", lw_test_join(dir, "race-shard-0-of-1.partial"));
    assert_int_equal(rename(path, one), 0);
    assert_int_equal(lw_race_merge(dir, NULL), -1);
    if (!strstr(lw_last_error(), "holds race-shard-0-of-1.partial, a name no run writes")) fail_msg("\"%s\"", lw_last_error());
    assert_int_equal(rename(one, path), 0);
}

/* ------------------------------------------------------------------ bad input */

static void test_bad_input(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("bad");
    synth s = {EQUAL, 0, 0, 0};
    lw_race_params p = params(dir, &s);
    int64_t zero[1] = {0}, neg[1] = {-8}, twice[2] = {32, 32};
    p.budgets = zero;
    p.n_budgets = 1;
    assert_int_equal(lw_race_run(&p), -1);
    assert_non_null(strstr(lw_last_error(), "budget 0 bits: a budget must be a positive number of bits"));
    p.budgets = neg;
    assert_int_equal(lw_race_run(&p), -1);
    assert_non_null(strstr(lw_last_error(), "budget -8 bits"));
    p.budgets = twice;
    p.n_budgets = 2;
    assert_int_equal(lw_race_run(&p), -1);
    assert_non_null(strstr(lw_last_error(), "listed twice"));
    p = params(dir, &s);
    p.shard = 3;
    p.n_shards = 3;
    assert_int_equal(lw_race_run(&p), -1);
    assert_int_equal(s.calls, 0);
    assert_int_equal(lw_test_dir_entries(dir), 0); /* nothing written */

    lw_race_channel ch;
    assert_int_equal(lw_race_channel_parse("act:zlib", &ch), -1);
    assert_non_null(strstr(lw_last_error(), "zlib is a text codec: use text:zlib"));
    assert_int_equal(lw_race_channel_parse("text:topk", &ch), -1);
    assert_non_null(strstr(lw_last_error(), "topk is an activation codec: use act:topk"));
    assert_int_equal(lw_race_channel_parse("act:nope", &ch), -1);
    assert_non_null(strstr(lw_last_error(), "unknown codec 'nope'"));
    assert_int_equal(lw_race_channel_parse("bogus", &ch), -1);
    assert_non_null(strstr(lw_last_error(), "channel \"bogus\": use floor, ceiling"));
    assert_int_equal(lw_race_channel_parse("text:summary", &ch), 0);
    assert_false(ch.competes); /* the summary is a reference row */

    /* a bridge from 4 to 3 wide rows between a 4-wide sender and a 5-wide receiver */
    float X[40 * 4], Y[40 * 3];
    for (int i = 0; i < 40 * 4; i++) X[i] = (float)sin(1.7 * i + 0.3);
    for (int i = 0; i < 40; i++)
        for (int j = 0; j < 3; j++) Y[i * 3 + j] = X[i * 4 + j] + 0.5f * X[i * 4 + 3];
    lw_bridge_params bp = lw_bridge_default_params();
    lw_bridge *b = lw_bridge_fit(X, Y, 40, 4, 3, &bp);
    assert_non_null(b);
    assert_int_equal(lw_race_check_bridge(b, 4, 3), 0);
    assert_int_equal(lw_race_check_bridge(b, 4, 5), -1);
    assert_non_null(strstr(lw_last_error(), "bridge maps 4-wide rows to 3-wide ones, but the sender is 4 wide and the receiver 5"));
    lw_bridge_free(b);
}

/* The prompt the ceiling and the text channels build, and the query alone of an fv: item. */
static void test_prompt_and_query(void **state) {
    (void)state;
    char *s = lw_race_prompt("Q: hop\nA: H\n\n", "Q: skip\nA:");
    assert_string_equal(s, "Q: hop\nA: H\n\nQ: skip\nA:");
    free(s);
    s = lw_race_prompt("Q: hop\nA: H", "Q: skip\nA:"); /* a decoded prefix cut mid-line */
    assert_string_equal(s, "Q: hop\nA: H\nQ: skip\nA:");
    free(s);
    s = lw_race_prompt("", "Q: skip\nA:");
    assert_string_equal(s, "Q: skip\nA:");
    free(s);
    lw_task_item it = {.id = "x", .sender = "Q: hop\nA: H\n\n", .receiver = "Q: hop\nA: H\n\nQ: skip\nA:", .gold = "S"};
    assert_string_equal(lw_race_query(&it), "Q: skip\nA:");
    it.receiver = "Q: skip\nA:";
    assert_string_equal(lw_race_query(&it), "Q: skip\nA:");
}

/* The retrieval test's row: a bank of 30 orthogonal-ish rows; decoded items equal to their own row
 * (times 2: cosine ignores scale) all retrieve themselves; rows shifted by one retrieve their
 * neighbour; an unusable item (zero vector, or flagged) is a miss. Top-1's interval is the exact
 * one of the count, PASS when its lower bound >= the threshold. */
static void test_retrieval_row(void **state) {
    (void)state;
    enum { n = 30, d = 32 };
    static float bank[n * d], Q[n * d];
    bool usable[n];
    for (int i = 0; i < n; i++) {
        usable[i] = true;
        for (int j = 0; j < d; j++) bank[i * d + j] = (float)(j == i ? 1.0 : 0.01 * sin(i * 3.1 + j));
    }
    for (int i = 0; i < n * d; i++) Q[i] = 2 * bank[i];
    json_t *row = lw_race_retrieval_row(bank, n, d, Q, usable, 0.85, 0.95);
    assert_non_null(row);
    json_t *t = json_object_get(row, "top1");
    assert_true(num(t, "mean") == 1 && fabs(num(t, "lo") - pow(0.025, 1.0 / n)) < 1e-9);
    assert_int_equal(json_integer_value(json_object_get(t, "n")), n);
    assert_true(json_is_true(json_object_get(row, "pass"))); /* 0.884 >= 0.85 */
    json_decref(row);
    /* 3 misses: 27 of 30, lower bound 0.735 < 0.85: fail */
    memset(Q, 0, sizeof(float) * d);            /* item 0: a zero vector */
    usable[1] = false;                          /* item 1: no activation */
    memcpy(Q + 2 * d, bank + 3 * d, sizeof(float) * d); /* item 2 retrieves passage 3 */
    row = lw_race_retrieval_row(bank, n, d, Q, usable, 0.85, 0.95);
    t = json_object_get(row, "top1");
    lw_ci want;
    assert_int_equal(lw_ci_binomial(27, n, 0.95, &want), 0);
    assert_true(fabs(num(t, "mean") - 0.9) < 1e-12 && fabs(num(t, "lo") - want.lo) < 1e-12);
    assert_int_equal(json_integer_value(json_object_get(row, "unusable")), 2);
    assert_true(json_is_false(json_object_get(row, "pass")));
    json_decref(row);
    row = lw_race_retrieval_row(bank, n, d, Q, usable, want.lo, 0.95); /* the threshold is inclusive */
    assert_true(json_is_true(json_object_get(row, "pass")));
    json_decref(row);
}

/* A race run under a plan: records.jsonl holds one latentwire.items/1 record per item and cell
 * ("act:topk@32", "floor", ...), tied to the plan's sha256, and `verdict` decides the plan on them. */
static void test_records_for_a_plan(void **state) {
    (void)state;
    const char *plan_path = lw_test_tmpfile("race.plan.json");
    FILE *f = fopen(plan_path, "w");
    fputs("{\"format\": \"latentwire.plan/1\", \"title\": \"t\", \"selection\": \"none\", \"hypotheses\": ["
          "{\"id\": \"H64\", \"metric\": \"exact_match\", \"a\": \"text:zlib@64\", \"b\": \"act:topk@64\", "
          "\"direction\": \"greater\", \"threshold\": 0}]}\n", f);
    fclose(f);
    lw_plan *plan = lw_plan_load(plan_path);
    assert_non_null(plan);
    char settings[256];
    snprintf(settings, sizeof settings, "{\"--model\": \"synthetic\", \"plan_sha256\": \"%s\"}", lw_plan_sha256(plan));
    const char *dir = lw_test_fresh_dir("race_plan");
    synth s = {TEXT_WINS, 0, 0, 0};
    lw_race_params p = params(dir, &s);
    p.settings_json = settings;
    assert_int_equal(lw_race_run(&p), 0);
    /* the run wrote records.jsonl with race.json (one output group), the bytes lw_race_write_items
     * makes from race.jsonl */
    const char *rec = lw_test_join(dir, "records.jsonl");
    char *grouped = lw_test_read_file(rec);
    assert_non_null(grouped);
    unlink(rec);
    assert_int_equal(lw_race_write_items(dir), 0);
    char *from_jsonl = lw_test_read_file(rec);
    assert_non_null(from_jsonl);
    assert_string_equal(grouped, from_jsonl);
    free(grouped);
    free(from_jsonl);
    lw_items *items = lw_items_load(&rec, 1);
    assert_non_null(items);
    assert_int_equal(lw_items_count(items), N_ITEMS * (2 + 2 * 2));
    lw_verdict *v = NULL;
    assert_int_equal(lw_verdict_evaluate(plan, items, &v), 0);
    assert_int_equal(v[0].verdict, LW_VERDICT_PASS); /* text right on every item, activation on none */
    assert_int_equal(v[0].n, N_ITEMS);
    assert_true(fabs(v[0].p - pow(0.5, N_ITEMS)) < 1e-15);
    free(v);
    lw_items_free(items);
    lw_plan_free(plan);
}

/* A kept record that is no unit of the resumed run (a channel's other budget, an item the run does
 * not have or another shard's, a null score without its reason) is refused by --resume before any
 * work. It was copied into the partial, every missing item was run, and the merge then refused the
 * file (with no word of --resume), at every later --resume again; a null score without a reason
 * took the item out of its cell's n with exit 0. Each case edits the first record of an
 * interrupted shard 0 of 2 (floor, item i00), its checksum made anew. */
static void test_resume_refuses_records_of_another_run(void **state) {
    (void)state;
    static const char *const KEY[] = {"channel", "budget", "id"};
    static const struct {
        const char *field, *value, *want;
    } cases[] = {{"budget", "32", "floor at 32 bits, item i00, is not one this run makes (no such budget"},
                 {"id", "\"zz\"", "item zz, is not one this run makes (no such item)"},
                 {"id", "\"i01\"", "item i01, is not one this run makes (an item of shard 1, not 0)"},
                 {"channel", "\"act:pcaq\"", "act:pcaq at 0 bits, item i00, is not one this run makes (no such channel)"},
                 {"score", "null", "(a null score without the reason (na) a run records)"}};
    const char *dir = lw_test_fresh_dir("resume_foreign");
    char path[4096];
    snprintf(path, sizeof path, "%s", lw_test_join(dir, "race-shard-0-of-2.partial"));
    synth s = {EQUAL, 0, 5, 0}; /* four records kept */
    lw_race_params p = params(dir, &s);
    p.n_shards = 2;
    assert_int_equal(lw_race_run(&p), -1);
    char *kept = lw_test_read_file(path);
    assert_non_null(kept);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lw_test_edit_record(path, KEY, 3, "score", NULL, NULL, cases[c].field, cases[c].value);
        synth sr = {EQUAL, 0, 0, 0};
        p = params(dir, &sr);
        p.n_shards = 2;
        p.resume = true;
        assert_int_equal(lw_race_run(&p), -1);
        if (sr.calls != 0 || !strstr(lw_last_error(), "--resume: ") || !strstr(lw_last_error(), cases[c].want) ||
            !strstr(lw_last_error(), "run without --resume to start over"))
            fail_msg("%s %s: %d evaluations, \"%s\"", cases[c].field, cases[c].value, sr.calls, lw_last_error());
        lw_test_write_text(path, kept);
    }
    synth sr = {EQUAL, 0, 0, 0}; /* the file as the run left it resumes */
    p = params(dir, &sr);
    p.n_shards = 2;
    p.resume = true;
    assert_int_equal(lw_race_run(&p), 0);
    assert_int_equal(sr.calls, (N_ITEMS / 2) * 6 - 4);
    free(kept);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_dominates),
        cmocka_unit_test(test_activation_dominates),
        cmocka_unit_test(test_equal_is_no_difference),
        cmocka_unit_test(test_all_correct_in_both),
        cmocka_unit_test(test_common_items_are_paired),
        cmocka_unit_test(test_items_a_channel_cannot_take_decide_nothing),
        cmocka_unit_test(test_unpaired_is_labelled),
        cmocka_unit_test(test_fractional_scores_use_the_bootstrap),
        cmocka_unit_test(test_unpaired_normal_interval_is_clamped),
        cmocka_unit_test(test_csv_and_ci_in_json),
        cmocka_unit_test(test_resume_equals_uninterrupted),
        cmocka_unit_test(test_resume_refuses_records_of_another_run),
        cmocka_unit_test(test_shards_merge_exactly),
        cmocka_unit_test(test_merge_refuses_edited_settings),
        cmocka_unit_test(test_timing_per_cell),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_prompt_and_query),
        cmocka_unit_test(test_retrieval_row),
        cmocka_unit_test(test_records_for_a_plan),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
