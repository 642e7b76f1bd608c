/* The layer scan (latentwire.scan/1, latentwire/report.h): exact match per receiver layer with
 * its CI, the prompt-only floor and the text ceiling as lines, the selected layer noted. */
#include <math.h>
#include <stdio.h>

#include "report/report_internal.h"

static bool detect(const lw_report_input *in) { return lw_is_format(in, "latentwire.scan/1"); }

static int render(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
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
