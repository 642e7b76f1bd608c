/* The report on the tools' own result files, made here by the real writers: race.json from a
 * synthetic race (lw_race_run), scan.json from lw_scan_run_eval + lw_scan_write, retrieval.json
 * with rows from lw_race_retrieval_row in the shape lw_codec_retrieval writes, panel.json from
 * lw_patching_save. Every drawn point is checked against the file's numbers read here with
 * jansson (x, y), and its pixel position maps back to them through the transform the <svg>
 * carries; reference lines are the file's floor / ceiling / threshold; the tables carry the
 * verdicts and pass decisions the file holds. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "latentwire/json.h"
#include "latentwire/panel.h"
#include "latentwire/race.h"
#include "latentwire/report.h"
#include "latentwire/scan.h"
#include "latentwire/task.h"
#include "race/race_internal.h"
#include "support/testutil.h"

/* ---- reading the page back ---- */

static double attr(const char *s, const char *name) {
    char key[64];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *p = strstr(s, key);
    assert_non_null(p);
    return strtod(p + strlen(key), NULL);
}

typedef struct {
    double x, y;
} xy;

static int cmp_xy(const void *a, const void *b) {
    const xy *p = a, *q = b;
    return p->x != q->x ? (p->x > q->x) - (p->x < q->x) : (p->y > q->y) - (p->y < q->y);
}

/* The first <svg> of the section with data-kind kind: every point's (data-x, data-y), each
 * checked to sit where the axis transform puts it; the reference lines' data-y. */
static int page_points(const char *page, const char *kind, xy *pts, int max, double *refs, int *n_refs) {
    char sec[64];
    snprintf(sec, sizeof sec, "data-kind=\"%s\"", kind);
    const char *s = strstr(page, sec);
    assert_non_null(s);
    const char *svg = strstr(s, "<svg"), *end = strstr(svg, "</svg>");
    assert_non_null(end);
    double px0 = attr(svg, "data-px0"), px1 = attr(svg, "data-px1"), py0 = attr(svg, "data-py0"),
           py1 = attr(svg, "data-py1"), xmin = attr(svg, "data-xmin"), xmax = attr(svg, "data-xmax"),
           ymin = attr(svg, "data-ymin"), ymax = attr(svg, "data-ymax");
    bool xlog = attr(svg, "data-xlog") == 1;
    if (xlog) xmin = log2(xmin), xmax = log2(xmax);
    int n = 0;
    for (const char *c = strstr(svg, "<circle class=\"pt\""); c && c < end; c = strstr(c + 1, "<circle class=\"pt\"")) {
        assert_true(n < max);
        pts[n] = (xy){attr(c, "data-x"), attr(c, "data-y")};
        double u = xmin + (attr(c, "cx") - px0) / (px1 - px0) * (xmax - xmin);
        double y = ymin + (attr(c, "cy") - py0) / (py1 - py0) * (ymax - ymin);
        double x = xlog ? exp2(u) : u;
        assert_true(fabs((xlog ? log2(x) - log2(pts[n].x) : x - pts[n].x) / (xmax - xmin) * (px1 - px0)) <= 0.01);
        assert_true(fabs((y - pts[n].y) / (ymax - ymin) * (py1 - py0)) <= 0.01);
        n++;
    }
    *n_refs = 0;
    for (const char *r = strstr(svg, "<line class=\"ref\" data-ref"); r && r < end;
         r = strstr(r + 1, "<line class=\"ref\" data-ref"))
        refs[(*n_refs)++] = attr(r, "data-y");
    return n;
}

static void same_points(xy *got, int n_got, xy *want, int n_want) {
    assert_int_equal(n_got, n_want);
    qsort(got, (size_t)n_got, sizeof *got, cmp_xy);
    qsort(want, (size_t)n_want, sizeof *want, cmp_xy);
    for (int i = 0; i < n_got; i++) {
        assert_true(fabs(got[i].x - want[i].x) <= 1e-12 * fmax(1, fabs(want[i].x)));
        assert_true(fabs(got[i].y - want[i].y) <= 1e-12);
    }
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void same_refs(double *got, int n_got, double *want, int n_want) {
    assert_int_equal(n_got, n_want);
    qsort(got, (size_t)n_got, sizeof *got, cmp_d);
    qsort(want, (size_t)n_want, sizeof *want, cmp_d);
    for (int i = 0; i < n_got; i++) assert_true(fabs(got[i] - want[i]) <= 1e-12);
}

static char *render_one(const char *path) {
    const char *in[] = {path};
    char *page = lw_report_html(in, 1, NULL);
    if (!page) fprintf(stderr, "report: %s\n", lw_last_error());
    assert_non_null(page);
    return page;
}

static json_t *load(const char *path) {
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    assert_non_null(j);
    return j;
}

static double num(json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

/* ---- race.json from a synthetic race ---- */

#define N_ITEMS 24
static int synth_eval(void *ctx, const lw_race_channel *ch, int64_t budget, int item, lw_race_outcome *o) {
    (void)ctx;
    bool act = ch->family == LW_RACE_ACT, text = ch->family == LW_RACE_TEXT;
    o->score = ch->family == LW_RACE_CEILING ? item % 6 != 0
               : act                         ? (budget >= 64 ? item % 2 == 0 : item % 4 == 0)
               : text                        ? item % 3 != 0
                                             : item % 8 == 0;
    o->payload_bits = act ? budget / 2 + item % 3 : text ? budget - item % 5 : 0;
    o->side_bits = lw_race_channel_budgeted(ch) ? 1000 : 0;
    o->output = strdup(o->score == 1 ? "right" : "wrong");
    return 0;
}

static void test_race_json(void **state) {
    (void)state;
    static char ids[N_ITEMS][8];
    const char *id[N_ITEMS];
    for (int i = 0; i < N_ITEMS; i++) snprintf(ids[i], sizeof ids[i], "i%02d", i), id[i] = ids[i];
    const char *specs[4] = {"floor", "ceiling", "act:topk", "text:zlib"};
    lw_race_channel ch[4];
    for (int c = 0; c < 4; c++) assert_int_equal(lw_race_channel_parse(specs[c], &ch[c]), 0);
    static const int64_t budgets[3] = {128, 32, 64};
    const char *dir = lw_test_fresh_dir("report_native_race");
    lw_race_params p = lw_race_default_params();
    p.out_dir = dir;
    p.settings_json = "{\"--model\": \"synthetic <b>\"}";
    p.channels = ch;
    p.n_channels = 4;
    p.budgets = budgets;
    p.n_budgets = 3;
    p.item_ids = id;
    p.n_items = N_ITEMS;
    p.eval = synth_eval;
    assert_int_equal(lw_race_run(&p), 0);
    const char *path = lw_test_join(dir, "race.json");
    char *page = render_one(path);
    json_t *race = load(path), *c;
    xy want[16], got[16];
    double refs[4], want_refs[4];
    int n_want = 0, n_want_refs = 0, n_refs;
    size_t i;
    json_array_foreach(json_object_get(race, "cells"), i, c) {
        const char *fam = json_string_value(json_object_get(c, "family"));
        double y = num(json_object_get(c, "accuracy"), "mean");
        if (!strcmp(fam, "floor") || !strcmp(fam, "ceiling")) want_refs[n_want_refs++] = y;
        else want[n_want++] = (xy){num(c, "payload_bits_mean"), y};
    }
    assert_int_equal(n_want, 6);
    assert_int_equal(n_want_refs, 2);
    /* each cell's row: against the floor as its interval says (lo > 0 above, hi < 0 below) */
    json_array_foreach(json_object_get(race, "cells"), i, c) {
        json_t *d = json_object_get(json_object_get(c, "minus_floor"), "difference");
        if (!d) continue;
        char row[160], budget[32] = "-";
        if (json_is_integer(json_object_get(c, "budget_bits")))
            snprintf(budget, sizeof budget, "%lld", (long long)json_integer_value(json_object_get(c, "budget_bits")));
        snprintf(row, sizeof row, "<tr><td>%s</td><td>%s</td><td>%s</td>",
                 json_string_value(json_object_get(c, "channel")), json_string_value(json_object_get(c, "family")),
                 budget);
        const char *r = strstr(page, row), *tr = r ? strstr(r, "</tr>") : NULL;
        assert_non_null(r);
        const char *want_v = num(d, "lo") > 0   ? "above the floor"
                             : num(d, "hi") < 0 ? "below the floor"
                                                : "no difference shown";
        const char *v = strstr(r, want_v);
        assert_true(v && v < tr);
    }
    same_points(got, page_points(page, "race", got, 16, refs, &n_refs), want, n_want);
    same_refs(refs, n_refs, want_refs, n_want_refs);
    assert_non_null(strstr(page, "data-xlog=\"1\""));
    /* every comparison's verdict in the comparisons table, after its heading */
    const char *cmp = strstr(page, "Activation against text at each budget");
    assert_non_null(cmp);
    json_array_foreach(json_object_get(race, "comparisons"), i, c) {
        char row[160];
        snprintf(row, sizeof row, "<td>%lld</td><td>act:topk</td><td>text:zlib</td>",
                 (long long)json_integer_value(json_object_get(c, "budget_bits")));
        const char *r = strstr(cmp, row);
        assert_non_null(r);
        const char *verdict = json_string_value(json_object_get(c, "verdict")), *tr = strstr(r, "</tr>");
        const char *v = strstr(r, verdict);
        assert_true(v && v < tr);
    }
    assert_int_equal(json_array_size(json_object_get(race, "comparisons")), 3);
    assert_non_null(strstr(page, "synthetic &lt;b&gt;")); /* the settings, escaped */
    assert_null(strstr(page, "synthetic <b>"));
    json_decref(race);
    free(page);
}

/* ---- scan.json from lw_scan_run_eval ---- */

static const int LAYERS[] = {0, 2, 4, 6};
static int scan_eval(void *ctx, const lw_task_item *it, int cond, double *score, char **output) {
    (void)ctx;
    unsigned h = 0;
    for (const char *s = it->id; *s; s++) h = h * 31u + (unsigned char)*s;
    *output = strdup("x");
    *score = cond == LW_SCAN_FLOOR ? h % 5 == 0 : cond == LW_SCAN_CEILING ? h % 5 != 1 : h % (unsigned)(cond + 2) == 0;
    return 0;
}

static void test_scan_json(void **state) {
    (void)state;
    lw_task pool;
    assert_int_equal(lw_task_skill("next_number", 3, 40, 11, &pool), 0);
    lw_scan_params p = lw_scan_default_params();
    p.layers = LAYERS;
    p.n_layers = 4;
    p.n_select = 10;
    p.n_report = 20;
    p.seed = 3;
    lw_scan_result r;
    assert_int_equal(lw_scan_run_eval(&pool, &p, scan_eval, NULL, &r), 0);
    const char *dir = lw_test_fresh_dir("report_native_scan");
    assert_int_equal(lw_scan_write(&r, dir), 0);
    lw_scan_result_free(&r);
    lw_task_free(&pool);
    const char *path = lw_test_join(dir, "scan.json");
    char *page = render_one(path);
    json_t *scan = load(path), *l;
    xy want[16], got[16];
    double refs[4], want_refs[2];
    int n_want = 0, n_refs;
    size_t i;
    json_array_foreach(json_object_get(scan, "layers"), i, l) {
        want[n_want++] = (xy){num(l, "layer"), num(json_object_get(l, "held_out"), "mean")};
        want[n_want++] = (xy){num(l, "layer"), num(json_object_get(l, "select"), "mean")};
    }
    json_t *chosen = json_object_get(scan, "chosen");
    want[n_want++] = (xy){num(chosen, "layer"), num(json_object_get(chosen, "held_out"), "mean")};
    want_refs[0] = num(json_object_get(json_object_get(scan, "floor"), "held_out"), "mean");
    want_refs[1] = num(json_object_get(json_object_get(scan, "ceiling"), "held_out"), "mean");
    same_points(got, page_points(page, "scan", got, 16, refs, &n_refs), want, n_want);
    same_refs(refs, n_refs, want_refs, 2);
    char sel[64];
    snprintf(sel, sizeof sel, "Selected: x = %g", num(chosen, "layer"));
    assert_non_null(strstr(page, sel));
    assert_non_null(strstr(page, "<td class=\"PASS\">chosen</td>"));
    json_decref(scan);
    free(page);
}

/* ---- retrieval.json: rows from lw_race_retrieval_row, the root as lw_codec_retrieval writes ---- */

#define N_PASS 30
#define DIM 32
static json_t *codec_row(const char *codec, int64_t budget, int n_right) {
    static float bank[N_PASS * DIM], q[N_PASS * DIM];
    bool usable[N_PASS];
    for (int i = 0; i < N_PASS; i++) {
        usable[i] = i < n_right; /* the rest: a miss */
        for (int j = 0; j < DIM; j++) bank[i * DIM + j] = q[i * DIM + j] = i == j;
    }
    json_t *row = json_pack("{s:s, s:s, s:I, s:b, s:f}", "codec", codec, "family", "activation", "budget_bits",
                            (json_int_t)budget, "applicable", 1, "payload_bits_mean", budget * 0.9);
    json_t *res = lw_race_retrieval_row(bank, N_PASS, DIM, q, usable, 0.85, 0.95);
    assert_non_null(res);
    json_object_update(row, res);
    json_decref(res);
    return row;
}

static void test_retrieval_json(void **state) {
    (void)state;
    json_t *rows = json_array();
    json_array_append_new(rows, codec_row("act:topk", 64, 20));
    json_array_append_new(rows, codec_row("act:topk", 256, N_PASS));
    json_array_append_new(rows, codec_row("act:pq", 64, 29));
    json_array_append_new(rows, json_pack("{s:s, s:s, s:I, s:b, s:s}", "codec", "act:pq", "family", "activation",
                                          "budget_bits", (json_int_t)16, "applicable", 0, "reason",
                                          "budget below one code <script>"));
    json_t *root = json_pack("{s:s, s:i, s:i, s:i, s:f, s:f, s:I, s:o}", "format", "latentwire.codec-retrieval/1",
                             "layer", 6, "passages", N_PASS, "calibration", 10, "threshold", 0.85, "level", 0.95,
                             "seed", (json_int_t)1, "rows", rows);
    const char *path = lw_test_tmpfile("retrieval.json");
    assert_int_equal(lw_json_save(path, root), 0);
    json_decref(root);
    char *page = render_one(path);
    json_t *doc = load(path), *r;
    xy want[8], got[8];
    double refs[2], th = 0.85;
    int n_want = 0, n_refs;
    size_t i;
    json_array_foreach(json_object_get(doc, "rows"), i, r) {
        if (!json_is_true(json_object_get(r, "applicable"))) continue;
        want[n_want++] = (xy){num(r, "budget_bits"), num(json_object_get(r, "top1"), "mean")};
        /* the row's pass as the file says it */
        char cell[160];
        snprintf(cell, sizeof cell, "<td>%s</td><td>activation</td><td>%lld</td>",
                 json_string_value(json_object_get(r, "codec")),
                 (long long)json_integer_value(json_object_get(r, "budget_bits")));
        const char *row = strstr(page, cell);
        assert_non_null(row);
        const char *want_cls = json_is_true(json_object_get(r, "pass")) ? "<td class=\"PASS\">PASS</td>"
                                                                          : "<td class=\"FAIL\">FAIL</td>";
        const char *v = strstr(row, want_cls);
        assert_true(v && v < strstr(row, "</tr>"));
    }
    assert_int_equal(n_want, 3);
    same_points(got, page_points(page, "codec-retrieval", got, 8, refs, &n_refs), want, n_want);
    same_refs(refs, n_refs, &th, 1);
    /* 30 of 30 passes (Clopper-Pearson lower bound 0.884), 29 and 20 of 30 do not */
    assert_true(json_is_true(json_object_get(json_array_get(json_object_get(doc, "rows"), 1), "pass")));
    assert_false(json_is_true(json_object_get(json_array_get(json_object_get(doc, "rows"), 2), "pass")));
    assert_non_null(strstr(page, "budget below one code &lt;script&gt;"));
    json_decref(doc);
    free(page);
}

/* ---- panel.json from lw_patching_save ---- */

static void test_panel_json(void **state) {
    (void)state;
    lw_panel_model R[1] = {{"gemma <i>", NULL}}, D[2] = {{"smol", NULL}, {"mini", NULL}};
    lw_patching_cell cells[2] = {
        {0, 0, 0.5, 9, 15, 8, 0.42, 0.10, 0.05, {0.32, 0.20, 0.44, 8, "bca", 0, 1.0}, 0.004},
        {0, 1, 0.5, 9, 3, 8, 0.12, 0.11, 0.02, {0.01, -0.05, 0.07, 8, "bca", 0, 1.0}, 0.61},
    };
    lw_patching_result res = {.cells = cells, .n_cells = 2, .D = {0.165, 0.01, 0.32, 2, "bca"},
                              .verdict = LW_VERDICT_INCONCLUSIVE, .decoy_ratio = 3.71, .decoy_ratio_lo = 1.5,
                              .decoy_ratio_hi = 8.25, .receiver_runs = 48, .prefix_tokens_reused = 100};
    lw_patching_params p = lw_patching_default_params();
    const char *dir = lw_test_fresh_dir("report_native_panel");
    assert_int_equal(lw_patching_save(dir, R, D, &res, &p, NULL, "{\"--prompts\": \"p.jsonl\"}"), 0);
    char *page = render_one(lw_test_join(dir, "panel.json"));
    assert_non_null(strstr(page, "data-kind=\"panel\""));
    /* the summary row: D, threshold, verdict, decoy ratio with their intervals (lw_fmt_ci) */
    assert_non_null(strstr(page, "<td>+0.165 [+0.010, +0.320]</td><td>0.05</td><td class=\"INCONCLUSIVE\">"
                                 "INCONCLUSIVE</td><td>3.710 [1.500, 8.250]</td><td>2</td>"));
    /* each cell: receiver, donor, depth, layers, n, effects, difference [CI], p */
    assert_non_null(strstr(page, "<td>gemma &lt;i&gt;</td><td>smol</td><td>0.5</td><td>9 / 15</td><td>8</td>"
                                 "<td>0.4200</td><td>0.1000</td><td>0.0500</td><td>+0.320 [+0.200, +0.440]</td>"
                                 "<td>0.004</td>"));
    assert_non_null(strstr(page, "<td>mini</td><td>0.5</td><td>9 / 3</td><td>8</td><td>0.1200</td><td>0.1100</td>"
                                 "<td>0.0200</td><td>+0.010 [-0.050, +0.070]</td><td>0.61</td>"));
    assert_null(strstr(page, "<i>"));
    free(page);
}

/* A native file missing a number the figure needs: one error naming the file and the field,
 * nothing written. */
static void test_native_missing_field(void **state) {
    (void)state;
    const char *path = lw_test_tmpfile("race-noacc.json");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"format\": \"latentwire.race/1\", \"cells\": [{\"channel\": \"act:topk\", \"family\": "
          "\"activation\", \"budget_bits\": 64, \"applicable\": true, \"payload_bits_mean\": 60}], "
          "\"comparisons\": []}\n", f);
    fclose(f);
    const char *dir = lw_test_fresh_dir("report_native_bad"), *out = lw_test_join(dir, "r.html");
    const char *in[] = {path};
    assert_int_equal(lw_report_write(in, 1, out, NULL), -1);
    assert_non_null(strstr(lw_last_error(), path));
    assert_non_null(strstr(lw_last_error(), "cells[0].accuracy"));
    assert_int_equal(lw_test_dir_entries(dir), 0);
}

/* A number field holding something else (a string, an object, a boolean; null where the table
 * draws the field whatever it holds): one error naming the file and the field, nothing written.
 * Each was drawn as "nan" in the page with exit 0. */
static void test_native_field_not_a_number(void **state) {
    (void)state;
    static const char RACE_CELL[] = "{\"channel\": \"act:topk\", \"family\": \"activation\", \"budget_bits\": 64, "
                                    "\"applicable\": true, \"payload_bits_mean\": 60, \"side_bits_per_item\": %s, "
                                    "\"n\": 4, \"accuracy\": {\"mean\": 0.5, \"lo\": 0.1, \"hi\": 0.9, \"n\": 4}}";
    static const char PANEL[] =
        "{\"format\": \"latentwire.panel.patching/1\", \"cells\": [{\"receiver\": \"a\", \"donor\": \"b\", \"depth\": 1, "
        "\"receiver_layer\": 1, \"donor_layer\": 1, \"n\": %s, \"mean_target\": %s, \"mean_baseline\": 0, "
        "\"mean_decoy\": 0, \"target_minus_baseline\": {\"mean\": 0.1, \"lo\": 0, \"hi\": 0.2, \"n\": 4}, \"p_value\": 0.5}], "
        "\"summary\": {\"D\": {\"mean\": 0.1, \"lo\": 0, \"hi\": 0.2, \"n\": 4}, \"threshold\": 0.1, \"verdict\": \"PASS\", "
        "\"decoy_ratio\": null, \"decoy_ratio_lo\": null, \"decoy_ratio_hi\": null, \"n_cells\": 1}}";
    char cell[1024], docs[7][2048];
    snprintf(cell, sizeof cell, RACE_CELL, "\"x\"");
    snprintf(docs[0], sizeof docs[0], "{\"format\": \"latentwire.race/1\", \"cells\": [%s], \"comparisons\": []}", cell);
    snprintf(cell, sizeof cell, RACE_CELL, "1");
    snprintf(docs[1], sizeof docs[1],
             "{\"format\": \"latentwire.race/1\", \"cells\": [%s], \"comparisons\": [{\"budget_bits\": {}, "
             "\"activation\": \"act:topk\", \"text\": \"text:zlib\", \"difference\": {\"mean\": 0, \"lo\": -0.5, "
             "\"hi\": 0.5, \"n\": 4}, \"p_value\": 1, \"paired\": true, \"verdict\": \"no difference shown\"}]}",
             cell);
    snprintf(docs[2], sizeof docs[2], PANEL, "\"x\"", "0.1");
    snprintf(docs[3], sizeof docs[3], PANEL, "4", "null");
    snprintf(docs[4], sizeof docs[4],
             "{\"format\": \"latentwire.codec-retrieval/1\", \"threshold\": 0.85, \"rows\": [{\"codec\": \"topk\", "
             "\"family\": \"activation\", \"budget_bits\": 64, \"applicable\": true, \"payload_bits_mean\": true, "
             "\"top1\": {\"mean\": 0.5, \"lo\": 0.1, \"hi\": 0.9, \"n\": 4}, \"pass\": false}]}");
    /* a comparison's p-value and difference, which the table reads from a copy under other names
     * ("p", "lo"): named as the file has them */
    static const char CMP[] = "{\"format\": \"latentwire.race/1\", \"cells\": [%s], \"comparisons\": [{\"budget_bits\": 64, "
                              "\"activation\": \"act:topk\", \"text\": \"text:zlib\", \"difference\": {\"mean\": 0, \"lo\": %s, "
                              "\"hi\": 0.5, \"n\": 4}, \"p_value\": %s, \"paired\": true, \"verdict\": \"no difference shown\"}]}";
    snprintf(docs[5], sizeof docs[5], CMP, cell, "-0.5", "\"x\"");
    snprintf(docs[6], sizeof docs[6], CMP, cell, "[1]", "1");
    const char *want[7] = {"cells[0].side_bits_per_item is \"x\", not a number",
                           "comparisons[0].budget_bits is {}, not a number", "cells[0].n is \"x\", not a number",
                           "cells[0].mean_target is null, not a number", "rows[0].payload_bits_mean is true, not a number",
                           "comparisons[0].p_value is \"x\", not a number",
                           "comparisons[0].difference.lo is [1], not a number"};
    for (int k = 0; k < 7; k++) {
        char path[1200];
        snprintf(path, sizeof path, "%s", lw_test_tmpfile("not-a-number.json"));
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(docs[k], f);
        fclose(f);
        const char *dir = lw_test_fresh_dir("report_not_a_number"), *out = lw_test_join(dir, "r.html");
        const char *in[] = {path};
        assert_int_equal(lw_report_write(in, 1, out, NULL), -1);
        if (!strstr(lw_last_error(), path) || !strstr(lw_last_error(), want[k]))
            fail_msg("case %d: \"%s\"", k, lw_last_error());
        assert_int_equal(lw_test_dir_entries(dir), 0);
    }
}

/* Copies of the real writers' files with one field missing, a cell that is no object, a count
 * that is none, or a level out of range: each was drawn ("+nan [-0.837, -0.383]", a row of nan,
 * "nan records") or accepted with exit 0. Each is now one error naming the file and the field as
 * the file spells it, nothing written; a field the writer leaves null ("not applicable") still
 * renders. */
static void refused(const char *name, const char *doc, const char *want) {
    char path[1200];
    snprintf(path, sizeof path, "%s", lw_test_tmpfile(name));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(doc, f);
    fclose(f);
    const char *dir = lw_test_fresh_dir("report_missing"), *out = lw_test_join(dir, "r.html");
    const char *in[] = {path};
    assert_int_equal(lw_report_write(in, 1, out, NULL), -1);
    if (!strstr(lw_last_error(), path) || !strstr(lw_last_error(), want)) fail_msg("%s: \"%s\"", name, lw_last_error());
    assert_int_equal(lw_test_dir_entries(dir), 0);
}

static void test_native_field_missing(void **state) {
    (void)state;
    static const char CI[] = "{\"mean\": 0.5, \"lo\": 0.25, \"hi\": 0.75, \"n\": 16}";
    static const char CMP[] = "{\"format\": \"latentwire.race/1\", \"cells\": [{\"channel\": \"floor\", \"family\": "
                              "\"floor\", \"budget_bits\": null, \"applicable\": true, \"n\": 16, \"accuracy\": %s, "
                              "\"payload_bits_mean\": 0, \"side_bits_per_item\": 0}], \"comparisons\": [{\"budget_bits\": "
                              "32, \"activation\": \"act:topk\", \"text\": \"text:zlib\", \"paired\": true, \"difference\": "
                              "%s, \"p_value\": 0.01, \"verdict\": \"text dominates\"}]}";
    static const char NO_MEAN[] = "{\"lo\": -0.837, \"hi\": -0.383, \"n\": 16}";
    char doc[4096];
    snprintf(doc, sizeof doc, CMP, CI, NO_MEAN);
    refused("race-nomean.json", doc, "comparisons[0].difference.mean is missing");
    static const char PANEL[] =
        "{\"format\": \"latentwire.panel.patching/1\", \"cells\": [%s], \"summary\": {\"D\": %s, \"threshold\": 0.05, "
        "\"verdict\": \"INCONCLUSIVE\", \"decoy_ratio\": null, \"decoy_ratio_lo\": null, \"decoy_ratio_hi\": null, "
        "\"n_cells\": %s}}";
    snprintf(doc, sizeof doc, PANEL, "\"x\"", CI, "1");
    refused("panel-strcell.json", doc, "cells[0] is \"x\", not an object");
    snprintf(doc, sizeof doc, PANEL, "", CI, "-2");
    refused("panel-count.json", doc, "summary.n_cells is -2, not a count");
    static const char VERDICT[] =
        "{\"plan\": \"p.json\", \"title\": \"t\", \"plan_sha256\": \"ab\", %s\"correction\": \"holm\", \"hypotheses\": "
        "[{\"id\": \"H\", \"claim\": \"c\", \"verdict\": \"PASS\", \"estimate\": 1, \"ci\": {\"lo\": 0.79, \"hi\": 1, "
        "\"level\": 0.95, \"method\": \"m\"}, \"p\": 0.001, \"p_adjusted\": 0.002, \"test\": \"t\", \"n\": 16}]}";
    snprintf(doc, sizeof doc, VERDICT, "\"alpha\": 0.05, ");
    refused("verdict-nonrec.json", doc, "n_records is missing");
    snprintf(doc, sizeof doc, VERDICT, "\"alpha\": -1e300, \"n_records\": 64, ");
    refused("verdict-alpha.json", doc, "alpha = -1e+300 is not a significance level");
    /* scan.json with ceiling.select.n deleted (the table drew its n as nan) */
    static const char SCAN[] =
        "{\"layers\": [{\"layer\": 0, \"receiver_layer\": 0, \"select\": %s, \"held_out\": %s}], \"floor\": "
        "{\"select\": %s, \"held_out\": %s}, \"ceiling\": {\"select\": %s, \"held_out\": %s}, \"chosen\": {\"layer\": "
        "0, \"receiver_layer\": 0, \"rule\": \"r\", \"select\": %s, \"held_out\": %s, \"minus_floor\": {\"mean\": 0, "
        "\"lo\": -0.2, \"hi\": 0.2, \"n\": 16, \"p_value\": 1}}}";
    static const char NO_N[] = "{\"mean\": 0.25, \"lo\": 0.006, \"hi\": 0.8}";
    snprintf(doc, sizeof doc, SCAN, CI, CI, CI, CI, NO_N, CI, CI, CI);
    refused("scan-non.json", doc, "ceiling.select.n is missing");
    /* the same files whole: they render, the race's null budget (the floor has none) and the
     * panel's null decoy ratio (no decoy effect) as "-" */
    const char *ok[3] = {"ok-race.json", "ok-panel.json", "ok-scan.json"};
    const char *shown[3] = {"<td>floor</td><td>floor</td><td>-</td>", "<td>0.05</td><td class=\"INCONCLUSIVE\">"
                            "INCONCLUSIVE</td><td>-</td>", "<td>ceiling</td><td>-</td><td>0.500 [0.250, 0.750]</td>"
                            "<td>16</td>"};
    char docs[3][4096];
    snprintf(docs[0], sizeof docs[0], CMP, CI, "{\"mean\": -0.6, \"lo\": -0.837, \"hi\": -0.383, \"n\": 16}");
    snprintf(docs[1], sizeof docs[1], PANEL, "", CI, "0");
    snprintf(docs[2], sizeof docs[2], SCAN, CI, CI, CI, CI, CI, CI, CI, CI);
    for (int k = 0; k < 3; k++) {
        char path[1200];
        snprintf(path, sizeof path, "%s", lw_test_tmpfile(ok[k]));
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(docs[k], f);
        fclose(f);
        char *page = render_one(path);
        if (!strstr(page, shown[k])) fail_msg("%s: %s not in the page", ok[k], shown[k]);
        assert_null(strstr(page, "nan"));
        free(page);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_native_field_not_a_number),
        cmocka_unit_test(test_race_json),
        cmocka_unit_test(test_scan_json),
        cmocka_unit_test(test_retrieval_json),
        cmocka_unit_test(test_panel_json),
        cmocka_unit_test(test_native_missing_field),
        cmocka_unit_test(test_native_field_missing),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
