/* The codec retrieval test (latentwire.codec-retrieval/1, latentwire/report.h): top-1 against
 * payload bits per codec, the pass threshold as a line, and every codec and budget with its
 * pass / fail (pass: the lower bound of the interval >= the threshold). */
/* Also retrieval.json as `latentwire race retrieval` writes it (src/race/codec_retrieval.c:
 * "rows" per codec and budget with "top1" and "pass", "threshold"). */
#include <math.h>
#include <stdio.h>

#include "report/report_internal.h"

static bool detect(const lw_report_input *in) { return lw_is_format(in, "latentwire.codec-retrieval/1"); }

static void pass_table(lw_html *h, const lw_curve_doc *d) {
    static const char *const head[] = {"codec", "payload bits", "top-1 [95% CI]", "n", "pass"};
    lw_table_begin(h, "data", head, 5);
    for (int s = 0; s < d->n_series; s++)
        for (int i = 0; i < d->series[s].n; i++) {
            const lw_plot_point *q = &d->series[s].pts[i];
            char x[32], ci[96], n[32];
            snprintf(x, sizeof x, "%g", q->x);
            lw_fmt_ci(ci, sizeof ci, q->y, q->lo, q->hi, false);
            snprintf(n, sizeof n, "%d", d->series[s].n_items[i]);
            bool pass = !isnan(q->lo) && q->lo >= d->threshold;
            const char *verdict = isnan(q->lo) ? "no interval" : pass ? "PASS" : "FAIL";
            const char *cells[] = {d->series[s].name, x, ci, n, verdict};
            const char *cls[] = {NULL, NULL, NULL, NULL, isnan(q->lo) ? "na" : verdict};
            lw_table_row(h, cells, cls, 5);
        }
    lw_table_end(h);
}

/* ---- retrieval.json ---- */

/* Every applicable row a point of its codec's series at its budget; the threshold a line. */
static int native_curve(json_t *doc, json_t *curve) {
    json_t *r;
    size_t i;
    char where[64], label[96];
    json_array_foreach(json_object_get(doc, "rows"), i, r) {
        const char *codec = lw_jstr(r, "codec");
        double budget = lw_jnum(r, "budget_bits");
        if (!codec) return lw_fail("rows[%zu].codec: missing (a string)", i);
        if (isnan(budget)) return lw_fail("rows[%zu].budget_bits: missing (a number)", i);
        if (!json_is_true(json_object_get(r, "applicable"))) continue; /* the table says why */
        snprintf(where, sizeof where, "rows[%zu].top1", i);
        snprintf(label, sizeof label, "%s at %g bits", codec, budget);
        json_t *p = lw_curve_point_from_ci(json_object_get(r, "top1"), budget, label, where);
        if (!p) return -1;
        json_array_append_new(lw_curve_series_points(curve, codec), p);
    }
    double th = lw_jnum(doc, "threshold");
    json_object_set_new(curve, "threshold", json_real(isnan(th) ? 0.85 : th));
    return 0;
}

/* Every row as the tool decided it: pass is its pre-registered "pass" (lower bound >= threshold). */
static void native_table(lw_html *h, json_t *doc) {
    static const char *const head[] = {"codec", "family", "budget (bits)", "payload bits (mean)", "top-1 [95% CI]",
                                       "n", "pass"};
    lw_table_begin(h, "data", head, 7);
    json_t *r;
    size_t i;
    json_array_foreach(json_object_get(doc, "rows"), i, r) {
        char budget[32], bits[32] = "-", ci[160] = "-", n[32] = "-";
        double mean, lo, hi;
        int nn;
        snprintf(budget, sizeof budget, "%g", lw_jnum_req(r, "budget_bits"));
        bool applicable = json_is_true(json_object_get(r, "applicable"));
        const char *verdict = "not applicable";
        if (applicable) {
            snprintf(bits, sizeof bits, "%.1f", lw_jnum_req(r, "payload_bits_mean"));
            if (lw_jci(json_object_get(r, "top1"), &mean, &lo, &hi, &nn)) {
                lw_fmt_ci(ci, sizeof ci, mean, lo, hi, false);
                snprintf(n, sizeof n, "%d", nn);
            }
            verdict = json_is_true(json_object_get(r, "pass")) ? "PASS" : "FAIL";
        } else {
            snprintf(ci, sizeof ci, "%s", lw_jstr(r, "reason") ? lw_jstr(r, "reason") : "");
        }
        const char *cells[] = {lw_jstr(r, "codec"), lw_jstr(r, "family"), budget, bits, ci, n, verdict};
        const char *cls[] = {NULL, NULL, NULL, NULL, NULL, NULL, applicable ? verdict : "na"};
        lw_table_row(h, cells, cls, 7);
    }
    lw_table_end(h);
}

static int render_native(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
    if (!json_is_array(json_object_get(in->doc, "rows"))) return lw_fail("rows: must be an array (retrieval.json)");
    json_t *curve = json_object(), *settings = json_object();
    static const char *const keys[] = {"layer", "passages", "calibration", "threshold", "level", "seed"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        json_t *v = json_object_get(in->doc, keys[k]);
        if (v) json_object_set(settings, keys[k], v);
    }
    json_object_set_new(curve, "settings", settings);
    int rc = native_curve(in->doc, curve);
    double th = lw_jnum(curve, "threshold");
    if (rc == 0)
        rc = lw_curve_json_figure(h, ctx, curve, "Codec retrieval test: top-1 against the budget, per codec", true,
                                  false, "budget (bits per item)", "top-1 retrieval of its own passage");
    json_decref(curve);
    if (rc != 0) return rc;
    lw_html_raw(h, "<h3>");
    lw_html_textf(h, "Pass at a budget: the interval's lower bound >= %g", th);
    lw_html_raw(h, "</h3>\n");
    native_table(h, in->doc);
    return 0;
}

static int render(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
    if (lw_is_native(in, "rows")) return render_native(h, in, ctx);
    lw_curve_doc d;
    int rc = lw_curve_doc_parse(in->doc, &d);
    if (rc == 0) {
        if (!d.x_label) d.x_label = "payload bits per item";
        if (!d.y_label) d.y_label = "top-1 retrieval of its own passage";
        if (isnan(d.threshold)) d.threshold = 0.85;
        rc = lw_curve_doc_figure(h, ctx, &d, "Codec retrieval test: top-1 against payload bits, per codec", true,
                                 false, 0, 1);
    }
    if (rc == 0) {
        lw_html_raw(h, "<h3>");
        lw_html_textf(h, "Pass at a budget: the interval's lower bound >= %g", d.threshold);
        lw_html_raw(h, "</h3>\n");
        pass_table(h, &d);
    }
    lw_curve_doc_free(&d);
    return rc;
}

const lw_report_renderer *lw_render_codec_retrieval(void) {
    static const lw_report_renderer r = {"codec-retrieval", detect, render};
    return &r;
}
