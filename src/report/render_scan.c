/* The layer scan (latentwire.scan/1, latentwire/report.h): exact match per receiver layer with
 * its CI, the prompt-only floor and the text ceiling as lines, the selected layer noted. Also
 * scan.json as `latentwire scan` writes it (src/scan/scan_write.c: "layers" with "select" and
 * "held_out", "floor", "ceiling", "chosen", no "format"). */
#include <math.h>
#include <stdio.h>

#include "report/report_internal.h"

static bool is_scan_json(const lw_report_input *in) {
    json_t *d = in->doc;
    return json_is_object(d) && !json_object_get(d, "format") && json_is_array(json_object_get(d, "layers")) &&
           json_is_object(json_object_get(d, "chosen")) && json_is_object(json_object_get(d, "floor"));
}

static bool detect(const lw_report_input *in) { return lw_is_format(in, "latentwire.scan/1") || is_scan_json(in); }

/* ---- scan.json ---- */

/* Every layer as two series (held-out, selection), the chosen layer as a marker of its own, the
 * held-out floor and ceiling as lines. */
static int native_curve(json_t *doc, json_t *curve) {
    json_t *l;
    size_t i;
    char where[64];
    json_array_foreach(json_object_get(doc, "layers"), i, l) {
        double x = lw_jnum_req(l, "layer");
        if (isnan(x)) return lw_fail("layers[%zu].layer: missing (a number)", i);
        static const char *const split[2][2] = {{"held_out", "held-out"}, {"select", "selection"}};
        for (int s = 0; s < 2; s++) {
            snprintf(where, sizeof where, "layers[%zu].%s", i, split[s][0]);
            json_t *p = lw_curve_point_from_ci(json_object_get(l, split[s][0]), x, NULL, where);
            if (!p) return -1;
            json_array_append_new(lw_curve_series_points(curve, split[s][1]), p);
        }
    }
    json_t *chosen = json_object_get(doc, "chosen");
    double cx = lw_jnum_req(chosen, "layer");
    if (isnan(cx)) return lw_fail("chosen.layer: missing (a number)");
    json_t *p = lw_curve_point_from_ci(json_object_get(chosen, "held_out"), cx, "chosen on the selection split",
                                       "chosen.held_out");
    if (!p) return -1;
    json_array_append_new(lw_curve_series_points(curve, "chosen layer (held-out)"), p);
    static const char *const refs[2][2] = {{"floor", "prompt only, held-out"}, {"ceiling", "text, held-out"}};
    for (int r = 0; r < 2; r++) {
        snprintf(where, sizeof where, "%s.held_out", refs[r][0]);
        json_t *q = lw_curve_point_from_ci(json_object_get(json_object_get(doc, refs[r][0]), "held_out"), 0,
                                           refs[r][1], where);
        if (!q) return -1;
        json_object_del(q, "x");
        json_object_set_new(curve, refs[r][0], q);
    }
    const char *rule = lw_jstr(chosen, "rule");
    json_object_set_new(curve, "selected", json_pack("{s:f, s:s}", "x", cx, "how", rule ? rule : "chosen"));
    return 0;
}

/* obj's interval key (lw_ci_json: scan writes every one whole) and its n. */
static void ci_text(char *buf, size_t size, char *nbuf, size_t nsize, json_t *obj, const char *key, bool sign) {
    double mean, lo, hi;
    int n;
    json_t *ci = key ? lw_jobj_req(obj, key) : obj;
    if (!lw_jci_req(ci, &mean, &lo, &hi, &n)) snprintf(buf, size, "-"), snprintf(nbuf, nsize, "-");
    else lw_fmt_ci(buf, size, mean, lo, hi, sign), snprintf(nbuf, nsize, "%d", n);
}

static void native_table(lw_html *h, json_t *doc) {
    static const char *const head[] = {"layer", "receiver layer", "selection [95% CI]", "n", "held-out [95% CI]", "n",
                                       ""};
    json_t *chosen = json_object_get(doc, "chosen"), *l;
    lw_table_begin(h, "data", head, 7);
    size_t i;
    json_array_foreach(json_object_get(doc, "layers"), i, l) {
        char layer[32], rl[32], sel[96], ns[32], held[96], nh[32];
        snprintf(layer, sizeof layer, "%g", lw_jnum_req(l, "layer")); /* scan writes both for every layer */
        snprintf(rl, sizeof rl, "%g", lw_jnum_req(l, "receiver_layer"));
        ci_text(sel, sizeof sel, ns, sizeof ns, l, "select", false);
        ci_text(held, sizeof held, nh, sizeof nh, l, "held_out", false);
        bool is_chosen = lw_jnum(l, "layer") == lw_jnum(chosen, "layer");
        const char *cells[] = {layer, rl, sel, ns, held, nh, is_chosen ? "chosen" : ""};
        const char *cls[] = {NULL, NULL, NULL, NULL, NULL, NULL, is_chosen ? "PASS" : NULL};
        lw_table_row(h, cells, cls, 7);
    }
    static const char *const refs[2] = {"floor", "ceiling"};
    for (int r = 0; r < 2; r++) {
        json_t *o = lw_jobj_req(doc, refs[r]);
        char sel[96], ns[32], held[96], nh[32];
        ci_text(sel, sizeof sel, ns, sizeof ns, o, "select", false);
        ci_text(held, sizeof held, nh, sizeof nh, o, "held_out", false);
        const char *cells[] = {refs[r], "-", sel, ns, held, nh, ""};
        lw_table_row(h, cells, NULL, 7);
    }
    lw_table_end(h);
    json_t *mf = lw_jobj_req(chosen, "minus_floor");
    char d[96], n[32];
    ci_text(d, sizeof d, n, sizeof n, mf, NULL, true);
    double pv = mf ? lw_jnum_req(mf, "p_value") : NAN; /* scan_write.c writes it with the difference */
    lw_html_raw(h, "<p class=\"note\">");
    lw_html_textf(h, "Chosen layer %g minus the floor on the held-out items (paired): %s, n %s, p %.3g",
                  lw_jnum(chosen, "layer"), d, n, pv);
    lw_html_raw(h, "</p>\n");
}

static int render_native(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
    json_t *curve = json_object(), *settings = json_object_get(in->doc, "settings");
    if (json_is_object(settings)) json_object_set(curve, "settings", settings);
    int rc = native_curve(in->doc, curve);
    if (rc == 0)
        rc = lw_curve_json_figure(h, ctx, curve, "Layer scan: exact match per layer", false, false, "scanned layer",
                                  "exact match");
    json_decref(curve);
    if (rc != 0) return rc;
    lw_html_raw(h, "<h3>Every layer, both splits</h3>\n");
    native_table(h, in->doc);
    return 0;
}

static int render(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
    if (is_scan_json(in)) return render_native(h, in, ctx);
    lw_curve_doc d;
    int rc = lw_curve_doc_parse(in->doc, &d);
    if (rc == 0) {
        if (!d.x_label) d.x_label = "receiver layer";
        if (!d.y_label) d.y_label = "exact match";
        rc = lw_curve_doc_figure(h, ctx, &d, "Layer scan: exact match per layer", false, false, 0, 1);
    }
    if (rc == 0) {
        char floor[160] = "", ceiling[160] = "";
        if (d.floor.present) snprintf(floor, sizeof floor, "floor %.3f", d.floor.y);
        if (d.ceiling.present) snprintf(ceiling, sizeof ceiling, "%sceiling %.3f", *floor ? ", " : "", d.ceiling.y);
        lw_html_raw(h, "<h3>Every layer</h3>\n");
        if (*floor || *ceiling) {
            lw_html_raw(h, "<p class=\"note\">");
            lw_html_textf(h, "%s%s", floor, ceiling);
            lw_html_raw(h, "</p>\n");
        }
        lw_curve_doc_table(h, &d, "layer", "exact match");
    }
    lw_curve_doc_free(&d);
    return rc;
}

const lw_report_renderer *lw_render_scan(void) {
    static const lw_report_renderer r = {"scan", detect, render};
    return &r;
}
