/* Family universality (lw_probe_merge, `latentwire panel probes merge`) on synthetic probes.json
 * files: the cross-pair rows, min / max and the all-intervals-overlap flag against hand-computed
 * values (a shared point, a touching boundary, disjoint intervals, a statistic one run lacks),
 * the pair labels read from each run's settings and pair; the report's table; refusals (runs
 * made with different probe settings name both runs and the field, fewer than two runs, a
 * missing run, a file that is no probe panel result) leave nothing behind. */
#include <jansson.h>
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
#include "latentwire/probes.h"
#include "support/testutil.h"

typedef struct {
    const char *probe, *name;
    double mean, lo, hi;
    int n;
} syn_stat;

/* A probes.json as lw_probe_save writes it (the members merge reads), in a fresh dir. */
static const char *write_run(const char *dirname, const char *a, int la, const char *b, int lb, const char *recipe,
                             int seed, int combos, const syn_stat *st, int n_st) {
    const char *dir = lw_test_fresh_dir(dirname);
    json_t *stats = json_array();
    for (int i = 0; i < n_st; i++)
        json_array_append_new(stats, json_pack("{s:s, s:s, s:{s:f, s:f, s:f, s:i, s:s}, s:n}", "probe", st[i].probe,
                                               "name", st[i].name, "ci", "mean", st[i].mean, "lo", st[i].lo, "hi",
                                               st[i].hi, "n", st[i].n, "method", "clopper-pearson", "p_value"));
    json_t *root = json_pack(
        "{s:s, s:{s:s, s:s, s:i, s:i, s:s}, s:o, s:n, s:{s:i, s:f, s:[f, f], s:i}, s:{s:s, s:i, s:s, s:i, s:s}}",
        "format", "latentwire.panel.probes/1", "pair", "a", a, "b", b, "dim_a", 8, "dim_b", 8, "bridge", recipe,
        "stats", stats, "plan_sha256", "params", "combos", combos, "heldout_share", 0.25, "sigmas", 0.0, 0.5, "seed",
        seed, "settings", "a", a, "layer_a", la, "b", b, "layer_b", lb, "bridge", "x.bridge.safetensors");
    assert_non_null(root);
    assert_int_equal(json_dump_file(root, lw_test_join(dir, "probes.json"), 0), 0);
    json_decref(root);
    return dir;
}

/* Three pairs, hand-computed:
 *   hop1_top1       0.20 [0.10, 0.30], 0.50 [0.25, 0.60], 0.28 [0.20, 0.40]: min 0.20 (pair 0), max 0.50
 *                   (pair 1), max lo 0.25 <= min hi 0.30: overlap;
 *   negation_top1   0.10 [0.00, 0.20], 0.90 [0.80, 1.00], 0.50 [0.40, 0.60]: 0.10 .. 0.90, disjoint;
 *   bridge_top1     0.30 [0.10, 0.40], 0.50 [0.40, 0.60], absent in run 3: 2 pairs, touching at 0.40. */
static char RUN_DIRS[3][4096]; /* copies: lw_test_fresh_dir's buffers rotate */
static const char *RUNS[3] = {RUN_DIRS[0], RUN_DIRS[1], RUN_DIRS[2]};

static void make_runs(int seed_of_third, int combos_of_third) {
    const syn_stat s1[] = {{"chaining", "hop1_top1", 0.20, 0.10, 0.30, 150},
                           {"symbolic", "negation_top1", 0.10, 0.00, 0.20, 80},
                           {"compositionality", "bridge_top1", 0.30, 0.10, 0.40, 200}};
    const syn_stat s2[] = {{"chaining", "hop1_top1", 0.50, 0.25, 0.60, 150},
                           {"symbolic", "negation_top1", 0.90, 0.80, 1.00, 80},
                           {"compositionality", "bridge_top1", 0.50, 0.40, 0.60, 200}};
    const syn_stat s3[] = {{"chaining", "hop1_top1", 0.28, 0.20, 0.40, 150},
                           {"symbolic", "negation_top1", 0.50, 0.40, 0.60, 80}};
    snprintf(RUN_DIRS[0], sizeof RUN_DIRS[0], "%s", write_run("merge_r1", "gemma.gguf", 9, "smol.gguf", 15, "ridge", 1, 200, s1, 3));
    snprintf(RUN_DIRS[1], sizeof RUN_DIRS[1], "%s", write_run("merge_r2", "smol.gguf", 15, "gemma.gguf", 9, "pca-ridge", 1, 200, s2, 3));
    snprintf(RUN_DIRS[2], sizeof RUN_DIRS[2], "%s", write_run("merge_r3", "<script>q.gguf", 4, "smol.gguf", 7, "ridge", seed_of_third, combos_of_third, s3,
                        2));
}

static json_t *stat_of(json_t *doc, const char *name) {
    json_t *s;
    size_t i;
    json_array_foreach(json_object_get(doc, "stats"), i, s) if (!strcmp(json_string_value(json_object_get(s, "name")),
                                                                        name)) return s;
    fail_msg("statistic %s missing from universality.json", name);
    return NULL;
}

static double num(json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

static void check_spread(json_t *doc, const char *name, int n_pairs, double mn, int imin, double mx, int imax,
                         int overlap) {
    json_t *s = stat_of(doc, name), *sp = json_object_get(s, "spread");
    assert_int_equal(json_array_size(json_object_get(s, "rows")), n_pairs);
    assert_int_equal(json_integer_value(json_object_get(sp, "n_pairs")), n_pairs);
    assert_true(fabs(num(sp, "min") - mn) < 1e-12);
    assert_true(fabs(num(sp, "max") - mx) < 1e-12);
    assert_true(fabs(num(sp, "range") - (mx - mn)) < 1e-12);
    assert_int_equal(json_integer_value(json_object_get(sp, "min_pair")), imin);
    assert_int_equal(json_integer_value(json_object_get(sp, "max_pair")), imax);
    assert_int_equal(json_is_true(json_object_get(sp, "cis_overlap")), overlap);
    assert_true(json_is_boolean(json_object_get(sp, "cis_overlap")));
}

static void test_merge_values(void **state) {
    (void)state;
    make_runs(1, 200);
    const char *out = lw_test_fresh_dir("merge_out");
    if (lw_probe_merge(RUNS, 3, out) != 0) fail_msg("%s", lw_last_error());
    json_t *doc = json_load_file(lw_test_join(out, "universality.json"), 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "format")), "latentwire.panel.universality/1");
    json_t *pairs = json_object_get(doc, "pairs");
    assert_int_equal(json_array_size(pairs), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(pairs, 0), "label")),
                        "gemma.gguf @9 -> smol.gguf @15 (ridge)");
    assert_string_equal(json_string_value(json_object_get(json_array_get(pairs, 1), "recipe")), "pca-ridge");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(pairs, 2), "layer_a")), 4);
    check_spread(doc, "hop1_top1", 3, 0.20, 0, 0.50, 1, 1);
    check_spread(doc, "negation_top1", 3, 0.10, 0, 0.90, 1, 0);
    check_spread(doc, "bridge_top1", 2, 0.30, 0, 0.50, 1, 1);
    /* the row of pair 2 carries its own interval and n */
    json_t *row = json_array_get(json_object_get(stat_of(doc, "hop1_top1"), "rows"), 2);
    assert_int_equal(json_integer_value(json_object_get(row, "pair")), 2);
    assert_true(fabs(num(json_object_get(row, "ci"), "lo") - 0.20) < 1e-12);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(row, "ci"), "n")), 150);
    assert_non_null(strstr(json_string_value(json_object_get(doc, "note")), "descriptive"));
    json_decref(doc);
}

static void test_cli_and_report(void **state) {
    (void)state;
    make_runs(1, 200);
    const char *out = lw_test_fresh_dir("merge_cli");
    char args[8192], *o = NULL, *e = NULL;
    snprintf(args, sizeof args, "panel probes merge --out %s %s %s %s", out, RUNS[0], RUNS[1], RUNS[2]);
    int rc = lw_test_run_cli(args, &o, &e);
    if (rc != 0) fail_msg("merge: exit %d: %s", rc, e);
    assert_non_null(strstr(o, "smol.gguf @15 -> gemma.gguf @9 (pca-ridge)"));
    assert_non_null(strstr(o, "+0.1000 +0.9000  no"));
    free(o);
    free(e);
    const char *html = lw_test_join(out, "report.html");
    snprintf(args, sizeof args, "report %s/universality.json -o %s", out, html);
    rc = lw_test_run_cli(args, NULL, &e);
    if (rc != 0) fail_msg("report: exit %d: %s", rc, e);
    free(e);
    char *page = lw_test_read_file(html);
    assert_non_null(page);
    assert_non_null(strstr(page, "all CIs overlap"));
    assert_non_null(strstr(page, "<th>pair 3</th>"));
    assert_non_null(strstr(page, "+0.200 [+0.100, +0.300] n=150"));
    assert_non_null(strstr(page, "&lt;script&gt;q.gguf @4"));
    assert_null(strstr(page, "<script>"));
    free(page);
}

static void refused(const char *args, const char *needle) {
    char *why = lw_test_cli_refusal(args, -1, needle);
    if (why) fail_msg("%s", why);
}

static void test_refusals(void **state) {
    (void)state;
    char out[4096], args[8192], needle[4096]; /* lw_test_join's buffers rotate: keep a copy */
    snprintf(out, sizeof out, "%s", lw_test_join(lw_test_tmpdir(), "merge_refused"));
    make_runs(2, 200);
    snprintf(args, sizeof args, "panel probes merge --out %s %s %s %s", out, RUNS[0], RUNS[1], RUNS[2]);
    snprintf(needle, sizeof needle, "%s and %s were run with different probe settings: params.seed is 1 vs 2", RUNS[0],
             RUNS[2]);
    refused(args, needle);
    make_runs(1, 160);
    refused(args, "params.combos is 200 vs 160");
    snprintf(args, sizeof args, "panel probes merge --out %s %s", out, RUNS[0]);
    refused(args, "at least two runs");
    snprintf(args, sizeof args, "panel probes merge --out %s %s %s/absent", out, RUNS[0], RUNS[1]);
    refused(args, "absent");
    const char *bogus = lw_test_join(lw_test_tmpdir(), "bogus.json");
    lw_test_write_text(bogus, "{\"format\": \"latentwire.panel/1\"}\n");
    snprintf(args, sizeof args, "panel probes merge --out %s %s %s", out, RUNS[0], bogus);
    refused(args, "bogus.json: not a probe panel result");
    snprintf(args, sizeof args, "panel probes merge --out %s --colour red %s %s", out, RUNS[0], RUNS[1]);
    refused(args, "--colour");
    /* one run twice, by two paths: one pair's numbers would read as agreement across pairs */
    snprintf(args, sizeof args, "panel probes merge --out %s %s %s/probes.json", out, RUNS[0], RUNS[0]);
    refused(args, "hold the same results (one run given twice?)");
    /* the library's "probes merge: " once, not after "panel probes merge: " again */
    char *why = lw_test_cli_refusal(args, -1, "latentwire panel probes merge: runs ");
    if (why) fail_msg("%s", why);
    /* a damaged statistic is refused naming the run and the statistic, not merged: a mean "NaN" (a
     * string) was read as +0.0000, lo > hi drew "no overlap", n 0 and a statistic twice passed */
    static const char *const bad_ci[][2] = {
        {"\"mean\": \"NaN\", \"lo\": 0.1, \"hi\": 0.3, \"n\": 150", "stats[0] (chaining hop1_top1) ci needs"},
        {"\"mean\": 0.2, \"lo\": 0.3, \"hi\": 0.1, \"n\": 150", "stats[0] (chaining hop1_top1) ci needs"},
        {"\"mean\": 0.2, \"lo\": 0.1, \"hi\": 0.3, \"n\": 0", "stats[0] (chaining hop1_top1) ci needs"},
        {"\"mean\": 1e308, \"lo\": 0.1, \"hi\": 0.3, \"n\": 150", "stats[0] (chaining hop1_top1) ci needs"}};
    const char *damaged = lw_test_join(lw_test_tmpdir(), "damaged.probes.json");
    char doc[2048];
    for (size_t k = 0; k < sizeof bad_ci / sizeof bad_ci[0]; k++) {
        snprintf(doc, sizeof doc, "{\"format\": \"latentwire.panel.probes/1\", \"params\": {\"combos\": 200, "
                 "\"heldout_share\": 0.25, \"sigmas\": [0.0, 0.5], \"seed\": 1}, \"stats\": [{\"probe\": \"chaining\", "
                 "\"name\": \"hop1_top1\", \"ci\": {%s}}]}\n", bad_ci[k][0]);
        lw_test_write_text(damaged, doc);
        snprintf(args, sizeof args, "panel probes merge --out %s %s %s", out, RUNS[0], damaged);
        refused(args, bad_ci[k][1]);
    }
    snprintf(doc, sizeof doc, "{\"format\": \"latentwire.panel.probes/1\", \"params\": {\"combos\": 200, "
             "\"heldout_share\": 0.25, \"sigmas\": [0.0, 0.5], \"seed\": 1}, \"stats\": [{\"probe\": \"chaining\", "
             "\"name\": \"hop1_top1\", \"ci\": {\"mean\": 0.2, \"lo\": 0.1, \"hi\": 0.3, \"n\": 150}}, {\"probe\": "
             "\"chaining\", \"name\": \"hop1_top1\", \"ci\": {\"mean\": 0.9, \"lo\": 0.8, \"hi\": 1, \"n\": 150}}]}\n");
    lw_test_write_text(damaged, doc);
    refused(args, "stats[1] (chaining hop1_top1) appears twice");
    assert_false(lw_test_file_exists(out)); /* nothing half-written */
}

/* Every run keeps its pair: a long model name (its label cut inside a UTF-8 character by a fixed
 * buffer) and a run path that is no UTF-8 made json_pack fail, and the pair was left out of
 * universality.json with exit 0 while the rows still named it. */
static void test_pairs_kept(void **state) {
    (void)state;
    make_runs(1, 200);
    char longname[1300] = "";
    for (int i = 0; i < 600; i++) strcat(longname, "\xc3\xa9"); /* é */
    const syn_stat st[] = {{"chaining", "hop1_top1", 0.40, 0.30, 0.50, 150}};
    char long_run[4096], odd_run[4096];
    snprintf(long_run, sizeof long_run, "%s", write_run("merge_long", longname, 1, "smol.gguf", 2, "ridge", 1, 200, st, 1));
    snprintf(odd_run, sizeof odd_run, "%s", lw_test_join(lw_test_tmpdir(), "merge_\xff"));
    assert_int_equal(rename(write_run("merge_odd", "a.gguf", 3, "b.gguf", 4, "ridge", 1, 200, st, 1), odd_run), 0);
    const char *out = lw_test_fresh_dir("merge_kept");
    const char *runs[3] = {RUNS[0], long_run, odd_run};
    if (lw_probe_merge(runs, 3, out) != 0) fail_msg("%s", lw_last_error());
    json_t *doc = json_load_file(lw_test_join(out, "universality.json"), 0, NULL);
    assert_non_null(doc);
    json_t *pairs = json_object_get(doc, "pairs");
    assert_int_equal(json_array_size(pairs), 3);
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(pairs, 1), "label")), " @1 -> smol.gguf @2"));
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(pairs, 2), "run")), "merge_\xef\xbf\xbd"));
    json_decref(doc);
}

/* The report refuses a universality.json whose rows lie about the pairs (drawn with exit 0: a row
 * of a pair not listed counted in min and max only, a pair named twice showed its last row). */
static void test_report_refuses_lying_rows(void **state) {
    (void)state;
    make_runs(1, 200);
    const char *out = lw_test_fresh_dir("merge_lies");
    if (lw_probe_merge(RUNS, 3, out) != 0) fail_msg("%s", lw_last_error());
    char src[4096], args[8192];
    snprintf(src, sizeof src, "%s", lw_test_join(out, "universality.json"));
    for (int k = 0; k < 2; k++) {
        json_t *doc = json_load_file(src, 0, NULL), *rows = json_object_get(json_array_get(json_object_get(doc, "stats"), 0), "rows");
        if (k == 0) json_object_set_new(json_array_get(rows, 1), "pair", json_integer(9));
        else json_object_set_new(json_array_get(rows, 1), "pair", json_integer(0));
        const char *lie = lw_test_join(out, k ? "twice.json" : "unknown.json");
        assert_int_equal(json_dump_file(doc, lie, 0), 0);
        json_decref(doc);
        snprintf(args, sizeof args, "report %s -o %s", lie, lw_test_join(out, "r.html"));
        refused(args, k ? "stats[0].rows[0] and rows[1] are both of pair 0" : "stats[0].rows[1].pair is 9, but pairs lists 3");
        assert_false(lw_test_file_exists(lw_test_join(out, "r.html")));
    }
    /* a spread the rows do not give: the overlap turned around, or a max edited, was drawn as written */
    for (int k = 0; k < 2; k++) {
        json_t *doc = json_load_file(src, 0, NULL);
        json_t *sp = json_object_get(json_array_get(json_object_get(doc, "stats"), 0), "spread");
        if (k == 0) json_object_set_new(sp, "cis_overlap", json_boolean(!json_is_true(json_object_get(sp, "cis_overlap"))));
        else json_object_set_new(sp, "max", json_real(json_number_value(json_object_get(sp, "max")) + 0.5));
        const char *lie = lw_test_join(out, "spread.json");
        assert_int_equal(json_dump_file(doc, lie, 0), 0);
        json_decref(doc);
        snprintf(args, sizeof args, "report %s -o %s", lie, lw_test_join(out, "r.html"));
        refused(args, k ? "stats[0].spread.max does not follow from its rows" : "stats[0].spread.cis_overlap does not follow");
        assert_false(lw_test_file_exists(lw_test_join(out, "r.html")));
    }
    snprintf(args, sizeof args, "report %s -o %s", src, lw_test_join(out, "r.html")); /* as written: drawn */
    char *o = NULL, *e = NULL;
    assert_int_equal(lw_test_run_cli(args, &o, &e), 0);
    free(o), free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_values),
        cmocka_unit_test(test_cli_and_report),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_pairs_kept),
        cmocka_unit_test(test_report_refuses_lying_rows),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
