/* align.json: the candidate-regime table, the depth curve, the calibration-size curve (oracle
 * and chance as lines), the recipes with their paired differences and the corpus shift. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_internal.h"

static bool detect(const lw_report_input *in) {
    return json_is_array(json_object_get(in->doc, "conditions")) &&
           json_is_array(json_object_get(in->doc, "comparisons")) && lw_jstr(in->doc, "source_model");
}

/* The command, rebuilt from the settings align.json records (it records no command line). align
 * writes every number of the file (src/experiment/align.c): each one drawn is required. */
static void provenance(lw_html *h, json_t *doc, char *cmd, size_t size) {
    snprintf(cmd, size,
             "latentwire align --source %s --target %s --per-domain %g --pairs %g --calib-share %g --resamples %g "
             "--seed %g",
             lw_jstr(doc, "source_model"), lw_jstr(doc, "target_model") ? lw_jstr(doc, "target_model") : "?",
             lw_jcount(doc, "per_domain"), lw_jcount(doc, "n_pairs"), lw_jnum_req(doc, "calib_share"),
             lw_jcount(doc, "resamples"), lw_jnum_req(doc, "seed")); /* a seed may pass 2^53: no count */
    json_t *s = json_object();
    const char *keys[] = {"source_model", "target_model", "per_domain", "n_pairs", "calib_share",
                          "seed",         "resamples",    "n_calib",    "n_test"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(doc, keys[i]);
        if (v) json_object_set(s, keys[i], v);
    }
    lw_fig_provenance(h, cmd, s);
    lw_note(h, "The command is rebuilt from the settings align.json records (the options that change its numbers).");
    json_decref(s);
}

/* A condition's metric: align writes every metric of every condition whole (lw_ci_json). */
static json_t *metric(json_t *cond, const char *name) { return lw_jobj_req(lw_jobj_req(cond, "metrics"), name); }

static const char *ci_text(char *buf, size_t size, json_t *ci, bool sign) {
    double m, lo, hi;
    if (!lw_jci_req(ci, &m, &lo, &hi, NULL)) return "-";
    return lw_fmt_ci(buf, size, m, lo, hi, sign);
}

static int regime_table(lw_html *h, json_t *doc, lw_report_ctx *ctx, char *cmd, size_t size) {
    lw_fig_begin(h, ctx, "Candidate regimes: the main bridge (A's last block to B's) scored under each");
    static const char *const head[] = {"recipe", "sites", "regime", "candidates", "chance", "top-1 [95% CI]",
                                       "recall@5", "MRR@10", "NDCG@10", "n"};
    lw_table_begin(h, "data", head, 10);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "conditions"), i, c) {
        const char *e = lw_jstr(c, "experiment");
        if (!e || strcmp(e, "main")) continue;
        char sites[128], cand[32], chance[32], t1[96], r5[96], mrr[96], ndcg[96], n[32];
        snprintf(sites, sizeof sites, "%s -> %s", lw_jstr(c, "site_a") ? lw_jstr(c, "site_a") : "?",
                 lw_jstr(c, "site_b") ? lw_jstr(c, "site_b") : "?");
        lw_fmt_num(cand, sizeof cand, lw_jnum_req(c, "mean_candidates"), 1, false);
        snprintf(chance, sizeof chance, "%.4f", lw_jprob_req(c, "chance_top1"));
        snprintf(n, sizeof n, "%g", lw_jcount(c, "n_queries"));
        const char *cells[] = {lw_jstr(c, "recipe"), sites, lw_jstr(c, "regime"), cand, chance,
                               ci_text(t1, sizeof t1, metric(c, "top1"), false),
                               ci_text(r5, sizeof r5, metric(c, "recall@5"), false),
                               ci_text(mrr, sizeof mrr, metric(c, "mrr@10"), false),
                               ci_text(ndcg, sizeof ndcg, metric(c, "ndcg@10"), false), n};
        lw_table_row(h, cells, NULL, 10);
    }
    lw_table_end(h);
    provenance(h, doc, cmd, size);
    lw_fig_end(h);
    return 0;
}

/* A site's layer on the depth axis: "embed" is -1, "L5" is 5; -2 when neither. */
static double site_layer(const char *site) {
    if (!site) return -2;
    if (!strcmp(site, "embed")) return -1;
    char *end;
    long v = site[0] == 'L' ? strtol(site + 1, &end, 10) : -1;
    return site[0] == 'L' && end != site + 1 && !*end ? (double)v : -2;
}

/* Distinct regimes of an experiment's conditions, in file order (at most max). */
static int regimes_of(json_t *doc, const char *experiment, const char **out, int max) {
    int n = 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "conditions"), i, c) {
        const char *e = lw_jstr(c, "experiment"), *r = lw_jstr(c, "regime");
        if (!e || !r || strcmp(e, experiment)) continue;
        bool seen = false;
        for (int k = 0; k < n && !seen; k++) seen = !strcmp(out[k], r);
        if (!seen && n < max) out[n++] = r;
    }
    return n;
}

static int by_x(const void *a, const void *b) {
    const lw_plot_point *p = a, *q = b;
    return (p->x > q->x) - (p->x < q->x);
}

enum { MAX_REGIMES = 8, MAX_POINTS = 512 };

typedef struct {
    lw_plot_series series[MAX_REGIMES];
    lw_plot_point *pts[MAX_REGIMES];
    char (*labels)[64];
    lw_plot_ref refs[2 * MAX_REGIMES];
    char ref_names[2 * MAX_REGIMES][96];
    int n_series, n_refs, n_labels;
} curve_set;

static void curve_set_free(curve_set *cs) {
    for (int s = 0; s < cs->n_series; s++) free(cs->pts[s]);
    free(cs->labels);
}

/* One series per regime of `experiment`: x from xfn, y = top-1 with its CI; chance per regime
 * as a reference line. */
static int collect(json_t *doc, const char *experiment, double (*xfn)(json_t *), curve_set *cs) {
    const char *regimes[MAX_REGIMES];
    int nr = regimes_of(doc, experiment, regimes, MAX_REGIMES);
    cs->labels = calloc(MAX_POINTS * MAX_REGIMES, sizeof *cs->labels);
    if (!cs->labels) return lw_fail("out of memory");
    for (int r = 0; r < nr; r++) {
        lw_plot_point *pts = calloc(MAX_POINTS, sizeof *pts);
        if (!pts) return lw_fail("out of memory");
        cs->pts[cs->n_series] = pts;
        int n = 0;
        double chance = NAN;
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(doc, "conditions"), i, c) {
            const char *e = lw_jstr(c, "experiment"), *rg = lw_jstr(c, "regime");
            double m, lo, hi;
            if (!e || !rg || strcmp(e, experiment) || strcmp(rg, regimes[r]) || n >= MAX_POINTS ||
                !lw_jci_req(metric(c, "top1"), &m, &lo, &hi, NULL))
                continue;
            char *label = cs->labels[cs->n_labels++];
            snprintf(label, 64, "A %s -> B %s, %g calibration", lw_jstr(c, "site_a") ? lw_jstr(c, "site_a") : "?",
                     lw_jstr(c, "site_b") ? lw_jstr(c, "site_b") : "?", lw_jcount(c, "n_calib"));
            pts[n++] = (lw_plot_point){.x = xfn(c), .y = m, .lo = lo, .hi = hi, .label = label};
            chance = lw_jprob_req(c, "chance_top1");
        }
        qsort(pts, (size_t)n, sizeof *pts, by_x);
        cs->series[cs->n_series++] = (lw_plot_series){.name = regimes[r], .pts = pts, .n = n};
        if (!isnan(chance)) {
            snprintf(cs->ref_names[cs->n_refs], sizeof cs->ref_names[0], "chance, %s", regimes[r]);
            cs->refs[cs->n_refs] = (lw_plot_ref){.name = cs->ref_names[cs->n_refs], .y = chance, .lo = NAN, .hi = NAN};
            cs->n_refs++;
        }
    }
    return 0;
}

static double depth_x(json_t *c) { return site_layer(lw_jstr(c, "site_a")); }
static double calib_x(json_t *c) { return lw_jcount(c, "n_calib"); }

/* One curve as a figure with the command that made it. 0 or -1. */
static int curve_figure(lw_html *h, lw_report_ctx *ctx, const lw_plot *p, const char *cmd) {
    lw_fig_begin(h, ctx, p->title);
    if (lw_svg_curve(h, p) != 0) return -1;
    lw_fig_provenance(h, cmd, NULL);
    lw_fig_end(h);
    return 0;
}

static int depth_figure(lw_html *h, json_t *doc, lw_report_ctx *ctx, const char *cmd) {
    curve_set cs = {0};
    int rc = collect(doc, "depth", depth_x, &cs);
    for (int s = 0; rc == 0 && s < cs.n_series; s++)
        for (int i = 0; i < cs.series[s].n; i++)
            if (cs.series[s].pts[i].x < -1)
                rc = lw_fail("conditions: depth site \"%s\" is neither embed nor Lk", cs.series[s].pts[i].label);
    if (rc == 0 && cs.n_series > 0) {
        lw_plot_tick ticks[MAX_POINTS];
        char tl[MAX_POINTS][16];
        int nt = 0;
        for (int i = 0; i < cs.series[0].n && nt < MAX_POINTS; i++) {
            double x = cs.series[0].pts[i].x;
            if (x < 0) snprintf(tl[nt], sizeof tl[nt], "emb");
            else snprintf(tl[nt], sizeof tl[nt], "%g", x);
            ticks[nt] = (lw_plot_tick){.value = x, .label = tl[nt]};
            nt++;
        }
        lw_plot p = {.title = "Depth: top-1 with A's block matched to B's at the same relative depth",
                     .x_label = "A's block (emb = the embedding layer; B's block in each point's tooltip)",
                     .y_label = "top-1",
                     .y_min = 0,
                     .y_max = 1,
                     .x_ticks = ticks,
                     .n_x_ticks = nt,
                     .series = cs.series,
                     .n_series = cs.n_series,
                     .refs = cs.refs,
                     .n_refs = cs.n_refs};
        rc = curve_figure(h, ctx, &p, cmd);
    }
    curve_set_free(&cs);
    return rc;
}

/* The oracle (a bridge fitted on the test bank itself) of each regime as a line with its band. */
static void oracle_refs(json_t *doc, curve_set *cs) {
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "conditions"), i, c) {
        const char *e = lw_jstr(c, "experiment"), *r = lw_jstr(c, "regime");
        double m, lo, hi;
        if (!e || !r || strcmp(e, "oracle") || cs->n_refs >= 2 * MAX_REGIMES ||
            !lw_jci_req(metric(c, "top1"), &m, &lo, &hi, NULL))
            continue;
        snprintf(cs->ref_names[cs->n_refs], sizeof cs->ref_names[0], "oracle (fit on the test bank), %s", r);
        cs->refs[cs->n_refs] = (lw_plot_ref){.name = cs->ref_names[cs->n_refs], .y = m, .lo = lo, .hi = hi};
        cs->n_refs++;
    }
}

static int calib_figure(lw_html *h, json_t *doc, lw_report_ctx *ctx, const char *cmd) {
    curve_set cs = {0};
    int rc = collect(doc, "calib-size", calib_x, &cs);
    if (rc == 0 && cs.n_series > 0) {
        oracle_refs(doc, &cs);
        lw_plot p = {.title = "Calibration size: top-1 against the number of calibration pairs (test bank fixed)",
                     .x_label = "calibration pairs",
                     .y_label = "top-1",
                     .log2_x = true,
                     .y_min = 0,
                     .y_max = 1,
                     .series = cs.series,
                     .n_series = cs.n_series,
                     .refs = cs.refs,
                     .n_refs = cs.n_refs};
        rc = curve_figure(h, ctx, &p, cmd);
    }
    curve_set_free(&cs);
    return rc;
}

/* Rows of comparisons whose experiment starts with prefix: a - b with its CI and p. */
static void comparison_rows(lw_html *h, json_t *doc, const char *prefix, bool strip) {
    static const char *const head[] = {"experiment", "a", "b", "metric", "a - b [95% CI]", "n", "p"};
    lw_table_begin(h, "data", head, 7);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "comparisons"), i, c) {
        const char *e = lw_jstr(c, "experiment");
        if (!e || strncmp(e, prefix, strlen(prefix))) continue;
        char d[96], n[32], p[32];
        double m, lo, hi;
        int nn = 0;
        /* align writes both with every comparison (lw_ci_json and its paired p) */
        if (lw_jci_req(lw_jobj_req(c, "difference"), &m, &lo, &hi, &nn)) lw_fmt_ci(d, sizeof d, m, lo, hi, true);
        else snprintf(d, sizeof d, "-");
        snprintf(n, sizeof n, "%d", nn);
        snprintf(p, sizeof p, "%.3g", lw_jnum_req(c, "p_value"));
        const char *cells[] = {strip ? e + strlen(prefix) : e, lw_jstr(c, "a"), lw_jstr(c, "b"), lw_jstr(c, "metric"),
                               d, n, p};
        lw_table_row(h, cells, NULL, 7);
    }
    lw_table_end(h);
}

static int recipe_table(lw_html *h, json_t *doc, lw_report_ctx *ctx, const char *cmd) {
    const char *regimes[MAX_REGIMES];
    int nr = regimes_of(doc, "recipe", regimes, MAX_REGIMES);
    if (nr == 0) return 0;
    lw_fig_begin(h, ctx, "Recipes on the same splits: top-1 per regime, and paired differences against ridge");
    const char *head[1 + MAX_REGIMES];
    head[0] = "recipe";
    for (int r = 0; r < nr; r++) head[1 + r] = regimes[r];
    lw_table_begin(h, "data", head, 1 + nr);
    const char *done[64];
    int n_done = 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "conditions"), i, c) {
        const char *e = lw_jstr(c, "experiment"), *rec = lw_jstr(c, "recipe");
        if (!e || !rec || strcmp(e, "recipe")) continue;
        bool seen = false;
        for (int k = 0; k < n_done && !seen; k++) seen = !strcmp(done[k], rec);
        if (seen || n_done == 64) continue;
        done[n_done++] = rec;
        char buf[MAX_REGIMES][96];
        const char *cells[1 + MAX_REGIMES] = {rec};
        for (int r = 0; r < nr; r++) {
            cells[1 + r] = "-";
            size_t j;
            json_t *d;
            json_array_foreach(json_object_get(doc, "conditions"), j, d) {
                const char *e2 = lw_jstr(d, "experiment"), *r2 = lw_jstr(d, "recipe"), *g2 = lw_jstr(d, "regime");
                if (e2 && r2 && g2 && !strcmp(e2, "recipe") && !strcmp(r2, rec) && !strcmp(g2, regimes[r]))
                    cells[1 + r] = ci_text(buf[r], sizeof buf[r], metric(d, "top1"), false);
            }
        }
        lw_table_row(h, cells, NULL, 1 + nr);
    }
    lw_table_end(h);
    comparison_rows(h, doc, "recipe", false);
    lw_fig_provenance(h, cmd, NULL);
    lw_fig_end(h);
    return 0;
}

static int shift_table(lw_html *h, json_t *doc, lw_report_ctx *ctx, const char *cmd) {
    lw_fig_begin(h, ctx, "Corpus shift: each domain's test top-1 with the domain left out of the fit, minus with it in");
    comparison_rows(h, doc, "shift:", true);
    lw_fig_provenance(h, cmd, NULL);
    lw_fig_end(h);
    return 0;
}

/* Distinct sites of one side ("site_a" or "site_b") of the grid's conditions, by layer. */
static int grid_sites(json_t *doc, const char *side, const char **out, int max) {
    int n = 0;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "conditions"), i, c) {
        const char *e = lw_jstr(c, "experiment"), *s = lw_jstr(c, side);
        if (!e || !s || strcmp(e, "layer-grid")) continue;
        bool seen = false;
        for (int k = 0; k < n && !seen; k++) seen = !strcmp(out[k], s);
        if (!seen && n < max) out[n++] = s;
    }
    for (int a = 1; a < n; a++) /* insertion sort by layer (embed first) */
        for (int b = a; b > 0 && site_layer(out[b]) < site_layer(out[b - 1]); b--) {
            const char *t = out[b];
            out[b] = out[b - 1];
            out[b - 1] = t;
        }
    return n;
}

static int site_index(const char **sites, int n, const char *s) {
    for (int i = 0; s && i < n; i++)
        if (!strcmp(sites[i], s)) return i;
    return -1;
}

/* The full layer grid: top-1 on the whole test bank for every A block (rows) and B block. */
static int grid_figure(lw_html *h, json_t *doc, lw_report_ctx *ctx, const char *cmd) {
    enum { MAX_SITES = 256 };
    const char *rows[MAX_SITES], *cols[MAX_SITES];
    int nr = grid_sites(doc, "site_a", rows, MAX_SITES), nc = grid_sites(doc, "site_b", cols, MAX_SITES);
    if (nr == 0 || nc == 0) return 0;
    double *v = malloc(sizeof(double) * (size_t)nr * (size_t)nc);
    if (!v) return lw_fail("out of memory");
    for (int i = 0; i < nr * nc; i++) v[i] = NAN;
    const char *regime = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "conditions"), i, c) {
        const char *e = lw_jstr(c, "experiment");
        int r = site_index(rows, nr, lw_jstr(c, "site_a")), k = site_index(cols, nc, lw_jstr(c, "site_b"));
        double m, lo, hi;
        if (!e || strcmp(e, "layer-grid") || r < 0 || k < 0 || !lw_jci_req(metric(c, "top1"), &m, &lo, &hi, NULL)) continue;
        v[r * nc + k] = m;
        regime = lw_jstr(c, "regime");
    }
    char title[160];
    snprintf(title, sizeof title, "Layer grid: top-1 (%s) for every A block against every B block",
             regime ? regime : "?");
    lw_heatmap hm = {.title = title, .row_label = "A's block", .col_label = "B's block", .value_label = "top-1",
                     .rows = rows, .cols = cols, .n_rows = nr, .n_cols = nc, .values = v, .v_min = 0, .v_max = 1};
    lw_fig_begin(h, ctx, title);
    int rc = lw_svg_heatmap(h, &hm);
    free(v);
    if (rc != 0) return -1;
    lw_note(h, "Each cell's value is in its tooltip; the intervals are in align.json and align.csv.");
    lw_fig_provenance(h, cmd, NULL);
    lw_fig_end(h);
    return 0;
}

static int render(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
    json_t *doc = in->doc;
    lw_html_raw(h, "<p>");
    lw_html_textf(h, "Bridges from A = %s to B = %s; %g calibration and %g test sentences. Top-1: the share of "
                     "bridged A-sentences whose own B-sentence ranks first among the candidates.",
                  lw_jstr(doc, "source_model"), lw_jstr(doc, "target_model") ? lw_jstr(doc, "target_model") : "?",
                  lw_jcount(doc, "n_calib"), lw_jcount(doc, "n_test"));
    lw_html_raw(h, "</p>\n");
    char cmd[4096];
    int rc = regime_table(h, doc, ctx, cmd, sizeof cmd);
    if (rc == 0) rc = depth_figure(h, doc, ctx, cmd);
    if (rc == 0) rc = calib_figure(h, doc, ctx, cmd);
    if (rc == 0) rc = recipe_table(h, doc, ctx, cmd);
    if (rc == 0) rc = shift_table(h, doc, ctx, cmd);
    if (rc == 0) rc = grid_figure(h, doc, ctx, cmd);
    return rc;
}

const lw_report_renderer *lw_render_align(void) {
    static const lw_report_renderer r = {"align", detect, render};
    return &r;
}
