/* The curve documents of the race, the scan and the codec retrieval test (latentwire/report.h):
 * parsing with errors naming the field, and their figure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_internal.h"

/* An optional number member: absent is NAN; present and not a number is an error. */
static int opt_num(json_t *obj, const char *key, const char *where, double *out) {
    json_t *v = json_object_get(obj, key);
    *out = NAN;
    if (!v) return 0;
    if (!json_is_number(v)) return lw_fail("%s%s%s: must be a number", where, *where ? "." : "", key);
    *out = json_number_value(v);
    return 0;
}

static int opt_str(json_t *obj, const char *key, const char *where, const char **out) {
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) return 0;
    if (!json_is_string(v)) return lw_fail("%s%s%s: must be a string", where, *where ? "." : "", key);
    *out = json_string_value(v);
    return 0;
}

/* {"y", "lo", "hi", "n", "label"}: y required, lo and hi together or not at all. */
static int parse_ref(json_t *doc, const char *key, lw_curve_ref *ref) {
    json_t *o = json_object_get(doc, key);
    *ref = (lw_curve_ref){0};
    if (!o) return 0;
    if (!json_is_object(o)) return lw_fail("%s: must be an object {\"y\", \"lo\", \"hi\", \"n\", \"label\"}", key);
    double n;
    if (opt_num(o, "y", key, &ref->y) || opt_num(o, "lo", key, &ref->lo) || opt_num(o, "hi", key, &ref->hi) ||
        opt_num(o, "n", key, &n) || opt_str(o, "label", key, &ref->label))
        return -1;
    if (isnan(ref->y)) return lw_fail("%s.y: missing (a number)", key);
    if (isnan(ref->lo) != isnan(ref->hi)) return lw_fail("%s: give lo and hi together", key);
    ref->n = isnan(n) ? 0 : (int)n;
    ref->present = true;
    return 0;
}

static int parse_point(json_t *p, const char *where, lw_plot_point *pt, int *n_items) {
    if (!json_is_object(p)) return lw_fail("%s: must be an object {\"x\", \"y\", \"lo\", \"hi\", \"n\"}", where);
    double n;
    if (opt_num(p, "x", where, &pt->x) || opt_num(p, "y", where, &pt->y) || opt_num(p, "lo", where, &pt->lo) ||
        opt_num(p, "hi", where, &pt->hi) || opt_num(p, "n", where, &n) || opt_str(p, "label", where, &pt->label))
        return -1;
    if (isnan(pt->x)) return lw_fail("%s.x: missing (a number)", where);
    if (isnan(pt->y)) return lw_fail("%s.y: missing (a number)", where);
    if (isnan(pt->lo) != isnan(pt->hi)) return lw_fail("%s: give lo and hi together", where);
    *n_items = isnan(n) ? 0 : (int)n;
    return 0;
}

static int parse_series(json_t *s, int si, lw_curve_series *out) {
    char where[96];
    snprintf(where, sizeof where, "series[%d]", si);
    if (!json_is_object(s)) return lw_fail("%s: must be an object {\"name\", \"points\"}", where);
    const char *name = json_string_value(json_object_get(s, "name"));
    json_t *pts = json_object_get(s, "points");
    if (!name) return lw_fail("%s.name: missing (a string)", where);
    if (!json_is_array(pts)) return lw_fail("%s.points: missing (an array of points)", where);
    out->name = strdup(name);
    out->n = (int)json_array_size(pts);
    out->pts = calloc((size_t)out->n + 1, sizeof *out->pts);
    out->n_items = calloc((size_t)out->n + 1, sizeof *out->n_items);
    if (!out->name || !out->pts || !out->n_items) return lw_fail("out of memory");
    for (int i = 0; i < out->n; i++) {
        char pw[128];
        snprintf(pw, sizeof pw, "%s.points[%d]", where, i);
        if (parse_point(json_array_get(pts, (size_t)i), pw, &out->pts[i], &out->n_items[i]) != 0) return -1;
    }
    return 0;
}

int lw_curve_doc_parse(json_t *doc, lw_curve_doc *d) {
    *d = (lw_curve_doc){.threshold = NAN};
    json_t *series = json_object_get(doc, "series"), *settings = json_object_get(doc, "settings");
    json_t *sel = json_object_get(doc, "selected"), *cmp = json_object_get(doc, "comparisons");
    if (opt_str(doc, "title", "", &d->title) || opt_str(doc, "command", "", &d->command) ||
        opt_str(doc, "x_label", "", &d->x_label) || opt_str(doc, "y_label", "", &d->y_label) ||
        opt_num(doc, "threshold", "", &d->threshold))
        return -1;
    if (!json_is_array(series)) return lw_fail("series: missing (an array of {\"name\", \"points\"})");
    if (settings && !json_is_object(settings)) return lw_fail("settings: must be an object");
    if (cmp && !json_is_array(cmp)) return lw_fail("comparisons: must be an array");
    d->settings = settings;
    d->comparisons = cmp;
    if (parse_ref(doc, "floor", &d->floor) || parse_ref(doc, "ceiling", &d->ceiling) || parse_ref(doc, "mean", &d->mean))
        return -1;
    if (sel) {
        double x;
        if (!json_is_object(sel) || opt_num(sel, "x", "selected", &x) ||
            opt_str(sel, "how", "selected", &d->selected_how) || isnan(x))
            return lw_fail("selected: must be an object {\"x\": number, \"how\": string}");
        d->has_selected = true;
        d->selected_x = x;
    }
    d->n_series = (int)json_array_size(series);
    d->series = calloc((size_t)d->n_series + 1, sizeof *d->series);
    if (!d->series) return lw_fail("out of memory");
    for (int s = 0; s < d->n_series; s++)
        if (parse_series(json_array_get(series, (size_t)s), s, &d->series[s]) != 0) return -1;
    return 0;
}

void lw_curve_doc_free(lw_curve_doc *d) {
    for (int s = 0; d->series && s < d->n_series; s++) {
        free(d->series[s].name);
        free(d->series[s].pts);
        free(d->series[s].n_items);
    }
    free(d->series);
    *d = (lw_curve_doc){0};
}

static void add_ref(lw_plot_ref *refs, int *n, const lw_curve_ref *r, const char *what, char *buf, size_t size) {
    if (!r->present) return;
    snprintf(buf, size, "%s%s%s", what, r->label ? ": " : "", r->label ? r->label : "");
    refs[(*n)++] = (lw_plot_ref){.name = buf, .y = r->y, .lo = r->lo, .hi = r->hi};
}

int lw_curve_doc_figure(lw_html *h, lw_report_ctx *ctx, const lw_curve_doc *d, const char *title, bool log2_x,
                        bool bands, double y_min, double y_max) {
    lw_plot_series *ps = calloc((size_t)d->n_series + 1, sizeof *ps);
    if (!ps) return lw_fail("out of memory");
    for (int s = 0; s < d->n_series; s++)
        ps[s] = (lw_plot_series){.name = d->series[s].name, .pts = d->series[s].pts, .n = d->series[s].n, .band = bands};
    lw_plot_ref refs[4];
    int n_refs = 0;
    char fl[300], ce[300], me[300], th[64];
    add_ref(refs, &n_refs, &d->floor, "floor", fl, sizeof fl);
    add_ref(refs, &n_refs, &d->ceiling, "ceiling", ce, sizeof ce);
    add_ref(refs, &n_refs, &d->mean, "fitted mean, 0 payload bits", me, sizeof me);
    if (!isnan(d->threshold)) {
        snprintf(th, sizeof th, "pass threshold %g", d->threshold);
        refs[n_refs++] = (lw_plot_ref){.name = th, .y = d->threshold, .lo = NAN, .hi = NAN};
    }
    lw_plot p = {.title = d->title ? d->title : title, .x_label = d->x_label, .y_label = d->y_label,
                 .log2_x = log2_x, .y_min = y_min, .y_max = y_max, .series = ps, .n_series = d->n_series,
                 .refs = refs, .n_refs = n_refs};
    lw_fig_begin(h, ctx, p.title);
    int rc = lw_svg_curve(h, &p);
    free(ps);
    if (rc != 0) return -1;
    if (d->has_selected) {
        lw_html_raw(h, "<p class=\"note\">");
        lw_html_textf(h, "Selected: x = %g", d->selected_x);
        if (d->selected_how) lw_html_textf(h, " (%s)", d->selected_how);
        lw_html_raw(h, "</p>\n");
    }
    lw_fig_provenance(h, d->command, d->settings);
    lw_fig_end(h);
    return 0;
}

void lw_curve_doc_table(lw_html *h, const lw_curve_doc *d, const char *x_name, const char *y_name) {
    char yh[96];
    snprintf(yh, sizeof yh, "%s [95%% CI]", y_name);
    const char *head[] = {"series", x_name, yh, "n"};
    lw_table_begin(h, "data", head, 4);
    for (int s = 0; s < d->n_series; s++)
        for (int i = 0; i < d->series[s].n; i++) {
            const lw_plot_point *q = &d->series[s].pts[i];
            char x[32], ci[96], n[32];
            snprintf(x, sizeof x, "%g", q->x);
            lw_fmt_ci(ci, sizeof ci, q->y, q->lo, q->hi, false);
            snprintf(n, sizeof n, d->series[s].n_items[i] > 0 ? "%d" : "-", d->series[s].n_items[i]);
            const char *cells[] = {d->series[s].name, x, ci, n};
            lw_table_row(h, cells, NULL, 4);
        }
    lw_table_end(h);
}

/* ---- native result files drawn through a curve document built from them ---- */

json_t *lw_curve_point_from_ci(json_t *ci, double x, const char *label, const char *where) {
    double mean, lo, hi;
    int n;
    if (!json_is_object(ci) || !lw_jci(ci, &mean, &lo, &hi, &n)) {
        lw_fail("%s: missing (an object {\"mean\", \"lo\", \"hi\", \"n\"})", where);
        return NULL;
    }
    json_t *p = json_pack("{s:f, s:f, s:i}", "x", x, "y", mean, "n", n);
    if (p && !isnan(lo)) {
        json_object_set_new(p, "lo", json_real(lo));
        json_object_set_new(p, "hi", json_real(hi));
    }
    if (p && label) json_object_set_new(p, "label", json_string(label));
    if (!p) lw_fail("out of memory");
    return p;
}

json_t *lw_curve_series_points(json_t *curve, const char *name) {
    json_t *series = json_object_get(curve, "series"), *s;
    if (!series) json_object_set_new(curve, "series", series = json_array());
    size_t i;
    json_array_foreach(series, i, s) {
        if (!strcmp(json_string_value(json_object_get(s, "name")), name)) return json_object_get(s, "points");
    }
    json_t *pts = json_array();
    json_array_append_new(series, json_pack("{s:s, s:o}", "name", name, "points", pts));
    return pts;
}

int lw_curve_json_figure(lw_html *h, lw_report_ctx *ctx, json_t *curve, const char *title, bool log2_x, bool bands,
                         const char *x_label, const char *y_label) {
    lw_curve_doc d;
    int rc = lw_curve_doc_parse(curve, &d);
    if (rc == 0) {
        if (!d.x_label) d.x_label = x_label;
        if (!d.y_label) d.y_label = y_label;
        rc = lw_curve_doc_figure(h, ctx, &d, title, log2_x, bands, 0, 1);
    }
    lw_curve_doc_free(&d);
    return rc;
}

bool lw_is_native(const lw_report_input *in, const char *key) {
    return json_is_object(in->doc) && json_object_get(in->doc, key) && !json_object_get(in->doc, "series");
}
