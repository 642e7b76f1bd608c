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
        /* and how the cells were paired, as race.json says (every item scored by both: "paired") */
        const char *how = json_string_value(json_object_get(c, "pairing"));
        assert_non_null(how);
        assert_string_equal(how, "paired");
        char cell[64];
        snprintf(cell, sizeof cell, "<td>%s</td>", how);
        const char *pc = strstr(r, cell);
        assert_true(pc && pc < tr);
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
    if (lw_report_write(in, 1, out, NULL) != -1) fail_msg("%s: rendered", name);
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
    /* a scan's records have a channel record's fields: taken as channel records, they failed with "no
     * reported records"; they are no result the report draws (scan.json is) */
    refused("scan.records.jsonl",
            "{\"settings\": {\"--task\": \"fv:capitalize\", \"layers\": [[1, 1]]}}\n"
            "{\"split\": \"select\", \"condition\": \"floor\", \"id\": \"c-1\", \"score\": 0.0}\n",
            "not a result the report knows; give align.json");
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

/* The other native files (align, channel, debate, retrieval, probes, universality), each in the
 * shape its writer makes it, with every number the writer always writes present. */
#define CI4 "{\"mean\": 0.5, \"lo\": 0.25, \"hi\": 0.75, \"n\": 4}"
#define D4 "{\"mean\": 0.25, \"lo\": -0.25, \"hi\": 0.5, \"n\": 4"
#define METRICS4 "{\"top1\": " CI4 ", \"recall@5\": " CI4 ", \"recall@10\": " CI4 ", \"mrr@10\": " CI4 ", \"ndcg@10\": " CI4 "}"
#define ALIGN_COND(exp, recipe)                                                                                     \
    "{\"experiment\": \"" exp "\", \"recipe\": \"" recipe "\", \"site_a\": \"L0\", \"site_b\": \"L1\", \"n_calib\": 6, " \
    "\"regime\": \"bank\", \"n_queries\": 4, \"mean_candidates\": 4.0, \"chance_top1\": 0.25, \"metrics\": " METRICS4 "}"
static const char ALIGN[] =
    "{\"source_model\": \"a\", \"target_model\": \"b\", \"per_domain\": 5, \"n_pairs\": 10, \"n_paraphrase_pairs\": 0, "
    "\"calib_share\": 0.6, \"seed\": 1, \"resamples\": 100, \"n_calib\": 6, \"n_test\": 4, \"conditions\": ["
    ALIGN_COND("main", "ridge") ", " ALIGN_COND("recipe", "ridge") ", " ALIGN_COND("recipe", "cca") "], \"comparisons\": "
    "[{\"experiment\": \"recipe\", \"a\": \"cca\", \"b\": \"ridge\", \"metric\": \"top1\", \"difference\": " D4 "}, "
    "\"p_value\": 0.5}]}";
static const char CHANNEL[] =
    "{\"settings\": {\"--seed\": 1}, \"conditions\": {\"text\": {\"applicable\": true, \"accuracy\": " CI4 ", "
    "\"mean_cost\": {\"message_bytes\": 90.0, \"wall_s\": 0.5}}, \"ac\": {\"applicable\": true, \"accuracy\": " CI4 ", "
    "\"mean_cost\": {\"message_bytes\": 64.0, \"wall_s\": 0.25}}, \"cipher\": {\"applicable\": false, \"reason\": "
    "\"vocabularies differ\"}}, \"differences\": {\"ac\": {\"against\": \"text\", \"mean\": 0.0, \"lo\": -0.25, "
    "\"hi\": 0.25, \"p_value\": 1.0}}}";
static const char DEBATE[] = "{\"vote\": " CI4 ", \"solo\": " CI4 ", \"difference\": " D4 ", \"p_value\": 1.0}}";
static const char RETRIEVAL[] =
    "{\"bridge\": {\"top1\": " CI4 ", \"mrr@10\": " CI4 "}, \"compare\": {\"top1\": " CI4 ", \"mrr@10\": " CI4 "}, "
    "\"difference\": {\"top1\": " D4 ", \"p_value\": 0.5}, \"mrr@10\": " D4 ", \"p_value\": 0.5}}, \"regime\": "
    "\"bank\", \"n_queries\": 4, \"n_candidates\": 4, \"mean_candidates_per_query\": 4.0, \"ndcg_gain\": \"linear\"}";
static const char PAIRED[] =
    "{\"a\": \"a.jsonl\", \"b\": \"b.jsonl\", \"n_paired\": 4, \"n_only_a\": 0, \"n_only_b\": 0, \"resamples\": 100, "
    "\"metrics\": {\"top1\": {\"a\": " CI4 ", \"b\": " CI4 ", \"a_minus_b\": " D4 ", \"p\": 0.5}}}}";
static const char PROBES[] =
    "{\"format\": \"latentwire.panel.probes/1\", \"pair\": {\"a\": \"A\", \"b\": \"B\", \"dim_a\": 8, \"dim_b\": 6, "
    "\"bridge\": \"ridge\", \"inverse\": \"given\"}, \"stats\": [{\"probe\": \"chaining\", \"name\": \"hop1_top1\", "
    "\"ci\": " CI4 ", \"condition\": \"c\", \"metric\": \"top1\", \"note\": \"retrieved\", \"p_value\": null}], "
    "\"plan_sha256\": null, \"params\": {}, \"settings\": {}}";
static const char UNIVERSALITY[] =
    "{\"format\": \"latentwire.panel.universality/1\", \"note\": \"d\", \"params\": {}, \"pairs\": [{\"run\": \"r1\", "
    "\"label\": \"l1\", \"bridge\": \"b1\"}, {\"run\": \"r2\", \"label\": \"l2\", \"bridge\": \"b2\"}], \"stats\": "
    "[{\"probe\": \"chaining\", \"name\": \"hop1_top1\", \"rows\": [{\"pair\": 0, \"ci\": " CI4 "}, {\"pair\": 1, "
    "\"ci\": null}], \"spread\": {\"n_pairs\": 1, \"min\": 0.5, \"max\": 0.5, \"min_pair\": 0, \"max_pair\": 0, "
    "\"range\": 0.0, \"cis_overlap\": null}}, {\"probe\": \"chaining\", \"name\": \"hop2_top1\", \"rows\": [{\"pair\": "
    "1, \"ci\": null}], \"spread\": {\"n_pairs\": 0, \"min\": null, \"max\": null, \"min_pair\": null, \"max_pair\": "
    "null, \"range\": null, \"cis_overlap\": null}}]}";

/* text with the member key of the object at path ("conditions/0/metrics/top1") deleted (value
 * NULL) or set to value: refused, naming want. */
static void refused_edit(const char *name, const char *text, const char *path, const char *key, const char *value,
                         const char *want) {
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err), *o = doc;
    if (!doc) fail_msg("%s: %s", name, err.text);
    char p[256];
    snprintf(p, sizeof p, "%s", path);
    for (char *t = strtok(p, "/"); t && o; t = strtok(NULL, "/"))
        o = json_is_array(o) ? json_array_get(o, (size_t)atoi(t)) : json_object_get(o, t);
    assert_non_null(o);
    if (value) json_object_set_new(o, key, json_loads(value, JSON_DECODE_ANY, NULL));
    else assert_int_equal(json_object_del(o, key), 0);
    char *s = json_dumps(doc, JSON_COMPACT);
    refused(name, s, want);
    free(s);
    json_decref(doc);
}

static char *rendered(const char *name, const char *text) {
    const char *path = lw_test_tmpfile(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    char *page = render_one(path);
    assert_null(strstr(page, "nan"));
    return page;
}

static void expect_in(char *page, const char *const *shown, int n) {
    for (int k = 0; k < n; k++)
        if (!strstr(page, shown[k])) fail_msg("%s not in the page", shown[k]);
    free(page);
}

/* Numbers far from 1 keep their magnitude: a verdict estimate of 1e30 printed with %+.4f is 37
 * characters, which a 32-byte cell cut to its first 31 (a number of another magnitude, with no
 * sign of the cut); from 1e6 on they are drawn in scientific notation. */
static void test_native_large_numbers(void **state) {
    (void)state;
    static const char DOC[] =
        "{\"plan\": \"p.json\", \"title\": \"t\", \"plan_sha256\": \"ab\", \"alpha\": 0.05, \"n_records\": 64, "
        "\"correction\": \"holm\", \"hypotheses\": [{\"id\": \"H\", \"claim\": \"c\", \"verdict\": \"PASS\", "
        "\"estimate\": 1e30, \"ci\": {\"lo\": 2.5e29, \"hi\": 4e30, \"level\": 0.95, \"method\": \"m\"}, \"p\": 0.001, "
        "\"p_adjusted\": 0.002, \"test\": \"t\", \"n\": 16}]}";
    const char *shown[] = {"+1.0000e+30", "[+2.5000e+29, +4.0000e+30]"};
    expect_in(rendered("verdict-large.json", DOC), shown, 2);
}

/* A number each of these writers always writes, deleted (or made no count / no probability):
 * drawn as "-", "nan" or "0" with exit 0 before; now one error naming the file and the field.
 * The numbers a writer leaves null or out still render as "-". */
static void test_native_field_missing_more(void **state) {
    (void)state;
    /* align: every number it draws is always written (align.c) */
    refused_edit("align-n.json", ALIGN, "conditions/0/metrics/top1", "n", NULL, "conditions[0].metrics.top1.n is missing");
    refused_edit("align-r5.json", ALIGN, "conditions/0/metrics", "recall@5", NULL,
                 "conditions[0].metrics.recall@5 is missing");
    refused_edit("align-p.json", ALIGN, "comparisons/0", "p_value", NULL, "comparisons[0].p_value is missing");
    refused_edit("align-nq.json", ALIGN, "conditions/0", "n_queries", "2.5", "conditions[0].n_queries is 2.5, not a count");
    refused_edit("align-chance.json", ALIGN, "conditions/0", "chance_top1", "7",
                 "conditions[0].chance_top1 is 7, not a probability");
    refused_edit("align-ntest.json", ALIGN, "", "n_test", NULL, "n_test is missing");
    expect_in(rendered("ok-align.json", ALIGN),
              (const char *[]){"<td>4.0</td><td>0.2500</td><td>0.500 [0.250, 0.750]</td>",
                               "<td>+0.250 [-0.250, +0.500]</td><td>4</td><td>0.5</td>"},
              2);
    /* channel --json: accuracy and mean_cost of every condition that ran, each difference's four
     * numbers; the differences carry no n ("-"), a condition that did not run no numbers */
    refused_edit("chan-wall.json", CHANNEL, "conditions/text/mean_cost", "wall_s", NULL,
                 "conditions.text.mean_cost.wall_s is missing");
    refused_edit("chan-accn.json", CHANNEL, "conditions/ac/accuracy", "n", NULL, "conditions.ac.accuracy.n is missing");
    refused_edit("chan-mean.json", CHANNEL, "differences/ac", "mean", NULL, "differences.ac.mean is missing");
    expect_in(rendered("ok-chan.json", CHANNEL),
              (const char *[]){"<td>ac</td><td>text</td><td>+0.000 [-0.250, +0.250]</td><td>-</td><td>1</td>",
                               "not applicable: vocabularies differ"},
              2);
    /* channel --out: every record has its cost */
    refused("chan-cost.jsonl",
            "{\"split\": \"report\", \"condition\": \"text\", \"id\": \"1\", \"score\": 1, \"cost\": {\"message_bytes\": "
            "3, \"wall_s\": 0.5}}\n{\"split\": \"report\", \"condition\": \"text\", \"id\": \"2\", \"score\": 0, "
            "\"cost\": {\"message_bytes\": 3}}\n",
            "[1].cost.wall_s is missing");
    /* debate --json: the three intervals whole and the difference's p */
    refused_edit("debate-p.json", DEBATE, "difference", "p_value", NULL, "difference.p_value is missing");
    refused_edit("debate-n.json", DEBATE, "solo", "n", NULL, "solo.n is missing");
    expect_in(rendered("ok-debate.json", DEBATE), (const char *[]){"p = 1 (paired)"}, 1);
    /* retrieval --json: every metric of every column whole; the second column only with
     * --compare or --control (one column without) */
    refused_edit("ret-n.json", RETRIEVAL, "compare/mrr@10", "n", NULL, "compare.mrr@10.n is missing");
    refused_edit("ret-diff.json", RETRIEVAL, "", "difference", NULL, "difference is missing");
    refused_edit("ret-b.json", PAIRED, "metrics/top1", "b", NULL, "metrics.top1.b is missing");
    refused_edit("ret-amb.json", PAIRED, "metrics/top1/a_minus_b", "mean", NULL, "metrics.top1.a_minus_b.mean is missing");
    expect_in(rendered("ok-paired.json", PAIRED),
              (const char *[]){"<td>+0.250 [-0.250, +0.500] (n 4)</td>"}, 1);
    {
        json_t *one = json_loads(RETRIEVAL, 0, NULL);
        json_object_del(one, "compare");
        json_object_del(one, "difference");
        char *s = json_dumps(one, JSON_COMPACT);
        expect_in(rendered("ok-ret.json", s), (const char *[]){"<td>top1</td><td>0.500 [0.250, 0.750] (n 4)</td></tr>"},
                  1);
        free(s);
        json_decref(one);
    }
    /* retrieval --beir --json on a sample: the page says it is one, with the sizes and the seed */
    {
        static const char BEIR_SAMPLE[] =
            "{\"metrics\": {\"top1\": " CI4 "}, \"condition\": \"raw\", \"n_queries\": 4, \"n_docs\": 9, "
            "\"sample\": {\"queries\": 4, \"docs\": 9, \"of_queries\": 300, \"of_docs\": 5183, \"seed\": 7}}";
        expect_in(rendered("ok-beir-sample.json", BEIR_SAMPLE),
                  (const char *[]){"A seeded sample of the BEIR set (seed 7): 4 of its 300 queries and 9 of its 5183 "
                                   "documents"},
                  1);
        /* queries alone against the whole corpus: no claim that the scores run higher */
        static const char BEIR_QSAMPLE[] =
            "{\"metrics\": {\"top1\": " CI4 "}, \"condition\": \"raw\", \"n_queries\": 4, \"n_docs\": 9, "
            "\"sample\": {\"queries\": 4, \"docs\": 9, \"of_queries\": 30, \"of_docs\": 9, \"seed\": 7}}";
        char *page = rendered("ok-beir-qsample.json", BEIR_QSAMPLE);
        if (strstr(page, "run higher")) fail_msg("a query-only sample is said to score higher");
        expect_in(page, (const char *[]){"4 of its 30 queries, against the whole corpus of 9 documents"}, 1);
        refused_edit("beir-sample-docs.json", BEIR_SAMPLE, "sample", "docs", NULL, "sample.docs is missing");
    }
    /* probes.json: the pair's widths, every statistic's interval; p_value null without a paired test */
    refused_edit("probes-n.json", PROBES, "stats/0/ci", "n", NULL, "stats[0].ci.n is missing");
    refused_edit("probes-dim.json", PROBES, "pair", "dim_b", NULL, "pair.dim_b is missing");
    expect_in(rendered("ok-probes.json", PROBES),
              (const char *[]){"<td>hop1_top1</td><td>4</td><td>+0.500 [+0.250, +0.750]</td><td>-</td>",
                               "(width 8) -&gt; B: B (width 6)"},
              2);
    /* universality.json: every row's pair and every statistic's spread; a row's ci is null where
     * that run lacks the statistic, the spread's min and max where no pair has a value */
    refused_edit("univ-pair.json", UNIVERSALITY, "stats/0/rows/0", "pair", NULL, "stats[0].rows[0].pair is missing");
    refused_edit("univ-spread.json", UNIVERSALITY, "stats/0", "spread", NULL, "stats[0].spread is missing");
    refused_edit("univ-cin.json", UNIVERSALITY, "stats/0/rows/0/ci", "n", NULL, "stats[0].rows[0].ci.n is missing");
    expect_in(rendered("ok-univ.json", UNIVERSALITY),
              (const char *[]){"<td>hop1_top1</td><td>+0.500 [+0.250, +0.750] n=4</td><td>-</td><td>+0.5000</td>",
                               "<td>hop2_top1</td><td>-</td><td>-</td><td>-</td><td>-</td><td>-</td>"},
              2);
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
        cmocka_unit_test(test_native_field_missing_more),
        cmocka_unit_test(test_native_large_numbers),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
