/* retrieval --json (files: {"bridge"|"raw", "compare", "difference", "regime", ...}; BEIR:
 * {"metrics", "n_docs", ...}; --paired: {"a", "b", "n_paired", "metrics": {m: {a, b,
 * a_minus_b}}}): every metric with its CI, as a table and a figure. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/report_internal.h"

static bool is_paired(json_t *doc) { return json_object_get(doc, "n_paired") && json_is_object(json_object_get(doc, "metrics")); }

static json_t *main_metrics(json_t *doc) {
    json_t *m = json_object_get(doc, "bridge");
    if (!m) m = json_object_get(doc, "raw");
    if (!m && json_object_get(doc, "n_docs")) m = json_object_get(doc, "metrics");
    return json_is_object(m) ? m : NULL;
}

static bool detect(const lw_report_input *in) {
    return in->doc && (is_paired(in->doc) || (main_metrics(in->doc) && (json_object_get(in->doc, "regime") ||
                                                                         json_object_get(in->doc, "n_docs"))));
}

/* A column's interval of metric k: retrieval writes every metric of every column whole
 * (lw_ci_json; the same metrics in each), so a missing one is named, not drawn as "-". */
static bool cell(json_t *col, const char *k, double *m, double *lo, double *hi, int *n) {
    if (lw_jci_req(lw_jobj_req(col, k), m, lo, hi, n)) return true;
    *m = NAN;
    return false;
}

/* Columns: each named metrics object, one row per metric of the first. */
static int metric_figure(lw_html *h, lw_report_ctx *ctx, const char *title, json_t **cols, const char **names,
                         const bool *signed_col, int n_cols, int n_plotted) {
    lw_fig_begin(h, ctx, title);
    enum { MAX_M = 32, MAX_C = 3 };
    lw_plot_point pts[MAX_C][MAX_M];
    lw_plot_tick ticks[MAX_M];
    int nm = 0;
    const char *k;
    json_t *v;
    json_object_foreach(cols[0], k, v) {
        if (nm == MAX_M) break;
        ticks[nm] = (lw_plot_tick){.value = nm, .label = k};
        for (int c = 0; c < n_plotted; c++) {
            double m, lo, hi;
            cell(cols[c], k, &m, &lo, &hi, NULL);
            pts[c][nm] = (lw_plot_point){.x = nm + 0.12 * c, .y = m, .lo = lo, .hi = hi, .label = k};
        }
        nm++;
    }
    lw_plot_series s[MAX_C];
    int ns = 0;
    for (int c = 0; c < n_plotted; c++) {
        int k2 = 0;
        for (int i = 0; i < nm; i++)
            if (!isnan(pts[c][i].y)) pts[c][k2++] = pts[c][i];
        s[ns++] = (lw_plot_series){.name = names[c], .pts = pts[c], .n = k2, .points_only = true};
    }
    lw_plot p = {.title = "Retrieval metrics (95% CI over queries)", .x_label = "metric", .y_label = "value",
                 .y_min = 0, .y_max = 1, .x_ticks = ticks, .n_x_ticks = nm, .series = s, .n_series = ns};
    if (nm > 0 && lw_svg_curve(h, &p) != 0) return -1;
    const char *head[1 + MAX_C] = {"metric"};
    for (int c = 0; c < n_cols; c++) head[1 + c] = names[c];
    lw_table_begin(h, "data", head, 1 + n_cols);
    json_object_foreach(cols[0], k, v) {
        char buf[MAX_C][96];
        const char *cells[1 + MAX_C] = {k};
        for (int c = 0; c < n_cols; c++) {
            double m, lo, hi;
            int n;
            if (cell(cols[c], k, &m, &lo, &hi, &n)) {
                lw_fmt_ci(buf[c], sizeof buf[c], m, lo, hi, signed_col[c]);
                snprintf(buf[c] + strlen(buf[c]), sizeof buf[c] - strlen(buf[c]), " (n %d)", n);
                cells[1 + c] = buf[c];
            } else cells[1 + c] = "-";
        }
        lw_table_row(h, cells, NULL, 1 + n_cols);
    }
    lw_table_end(h);
    return 0;
}

static int render(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
    json_t *doc = in->doc, *settings = json_object();
    const char *keys[] = {"regime", "n_queries", "n_candidates", "mean_candidates_per_query", "n_docs",
                          "n_docs_untokenizable", "n_queries_dropped", "ndcg_gain", "a", "b", "n_paired",
                          "n_only_a", "n_only_b", "control_regime", "control_mean_candidates_per_query", "sample",
                          "corpus"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (json_object_get(doc, keys[i])) json_object_set(settings, keys[i], json_object_get(doc, keys[i]));
    int rc;
    if (is_paired(doc)) {
        /* per metric {a, b, a_minus_b}: regroup into three columns */
        json_t *ca = json_object(), *cb = json_object(), *cd = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(doc, "metrics"), k, v) {
            /* read here, where the file's path is known: the columns below are copies (their
             * intervals are the file's own objects, named there) */
            json_object_set(ca, k, lw_jobj_req(v, "a"));
            json_object_set(cb, k, lw_jobj_req(v, "b"));
            json_object_set(cd, k, lw_jobj_req(v, "a_minus_b"));
        }
        json_t *cols[] = {ca, cb, cd};
        const char *names[] = {"A", "B", "A - B (paired)"};
        const bool sg[] = {false, false, true};
        rc = metric_figure(h, ctx, "Retrieval, two runs paired on the same queries", cols, names, sg, 3, 2);
        json_decref(ca);
        json_decref(cb);
        json_decref(cd);
    } else {
        /* a second column: --compare (another bridge) or --control (another regime on the same
         * queries); either way "difference" is the first minus the second, paired per query */
        json_t *control = json_object_get(doc, "control");
        json_t *cols[] = {main_metrics(doc), control ? control : json_object_get(doc, "compare"),
                          json_object_get(doc, "difference")};
        const char *names[] = {json_object_get(doc, "bridge") ? "bridge" : "score", control ? "control" : "compare",
                               control ? "regime - control (paired)" : "bridge - compare"};
        const bool sg[] = {false, false, true};
        int n_cols = json_is_object(cols[1]) ? 3 : 1;
        if (n_cols == 3) cols[2] = lw_jobj_req(doc, "difference"); /* written with either second column */
        rc = metric_figure(h, ctx,
                           control ? "Retrieval metrics with 95% CIs over queries: the regime against its control"
                                   : "Retrieval metrics with 95% CIs over queries",
                           cols, names, sg, n_cols, n_cols == 3 ? 2 : 1);
    }
    /* a sample's note; what it says follows what was drawn: only a reduced corpus makes the scores
     * run higher (queries alone drawn against the whole corpus estimate the whole set's scores) */
    json_t *sample = json_object_get(doc, "sample");
    if (rc == 0 && sample && !json_is_null(sample) && lw_jobj_req(doc, "sample")) {
        double sq = lw_jcount(sample, "queries"), oq = lw_jcount(sample, "of_queries"), sd = lw_jcount(sample, "docs"),
               od = lw_jcount(sample, "of_docs"), seed = lw_jcount(sample, "seed");
        long long seed_ll = (long long)json_integer_value(json_object_get(sample, "seed")); /* exact past 2^53 */
        char why[400]; /* lw_note takes text (escaped), not a format */
        if (isnan(sq) || isnan(oq) || isnan(sd) || isnan(od) || isnan(seed)) why[0] = '\0'; /* named by lw_jcount */
        else if (sq > oq || sd > od)
            snprintf(why, sizeof why,
                     "The sample's sizes (%.0f queries, %.0f documents) exceed the whole set's (%.0f, %.0f): the file "
                     "was edited or not written by retrieval --beir.", sq, sd, oq, od);
        else if (sd < od)
            snprintf(why, sizeof why,
                     "A seeded sample of the BEIR set (seed %lld): %.0f of its %.0f queries and %.0f of its %.0f documents, "
                     "every one the sampled queries judge and the rest drawn at random. Random distractors are easier "
                     "than the whole corpus, so these scores run higher than the whole set's.",
                     seed_ll, sq, oq, sd, od);
        else if (sq < oq)
            snprintf(why, sizeof why,
                     "A seeded sample of the BEIR set's queries (seed %lld): %.0f of its %.0f queries, against the whole "
                     "corpus of %.0f documents, so the scores estimate the whole set's, on fewer queries.",
                     seed_ll, sq, oq, od);
        else
            snprintf(why, sizeof why,
                     "The sample sizes asked for cover the whole BEIR set (%.0f queries, %.0f documents): these are the "
                     "whole set's scores.", oq, od);
        if (why[0]) lw_note(h, why);
    }
    if (rc == 0) {
        lw_note(h, "retrieval --json records no command line; what it records is listed here.");
        lw_fig_provenance(h, NULL, settings);
        lw_fig_end(h);
    }
    json_decref(settings);
    return rc;
}

const lw_report_renderer *lw_render_retrieval(void) {
    static const lw_report_renderer r = {"retrieval", detect, render};
    return &r;
}
