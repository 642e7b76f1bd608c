/* The codec retrieval test (latentwire.codec-retrieval/1, latentwire/report.h): top-1 against
 * payload bits per codec, the pass threshold as a line, and every codec and budget with its
 * pass / fail (pass: the lower bound of the interval >= the threshold). */
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

static int render(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
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
