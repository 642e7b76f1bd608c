/* The race (latentwire.race/1, latentwire/report.h): the rate-accuracy curve of every channel on
 * one bit axis, floor and ceiling as lines, and the activation - text comparisons per budget. */
#include <math.h>
#include <stdio.h>

#include "report/report_internal.h"

static bool detect(const lw_report_input *in) { return lw_is_format(in, "latentwire.race/1"); }

static void comparisons_table(lw_html *h, json_t *cmp) {
    static const char *const head[] = {"budget (bits)", "a", "b", "a - b [95% CI]", "n", "p", "pairing", "verdict"};
    lw_table_begin(h, "data", head, 8);
    size_t i;
    json_t *c;
    json_array_foreach(cmp, i, c) {
        char x[32], d[96], n[32], p[32];
        double mean, lo, hi;
        int nn;
        snprintf(x, sizeof x, "%g", lw_jnum(c, "x"));
        lw_jci(c, &mean, &lo, &hi, &nn);
        lw_fmt_ci(d, sizeof d, mean, lo, hi, true);
        snprintf(n, sizeof n, "%d", nn);
        double pv = lw_jnum(c, "p");
        snprintf(p, sizeof p, isnan(pv) ? "-" : "%.3g", pv);
        json_t *paired = json_object_get(c, "paired");
        const char *cells[] = {x, lw_jstr(c, "a"), lw_jstr(c, "b"), d, n, p,
                               !paired ? "-" : json_is_true(paired) ? "paired" : "unpaired", lw_jstr(c, "verdict")};
        lw_table_row(h, cells, NULL, 8);
    }
    lw_table_end(h);
}

static int render(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
    lw_curve_doc d;
    int rc = lw_curve_doc_parse(in->doc, &d);
    if (rc == 0) {
        if (!d.x_label) d.x_label = "payload bits per item";
        if (!d.y_label) d.y_label = "accuracy";
        rc = lw_curve_doc_figure(h, ctx, &d, "Rate-accuracy curves: accuracy against payload bits, per channel",
                                 true, true, 0, 1);
    }
    if (rc == 0) {
        lw_html_raw(h, "<h3>Every channel and budget</h3>\n");
        lw_curve_doc_table(h, &d, "payload bits", "accuracy");
    }
    if (rc == 0 && d.comparisons && json_array_size(d.comparisons) > 0) {
        lw_html_raw(h, "<h3>Activation against text at each budget</h3>\n");
        comparisons_table(h, d.comparisons);
    }
    lw_curve_doc_free(&d);
    return rc;
}

const lw_report_renderer *lw_render_race(void) {
    static const lw_report_renderer r = {"race", detect, render};
    return &r;
}
