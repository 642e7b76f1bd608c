/* The activation-patching panel (panel.json, format latentwire.panel.patching/1, as
 * src/panel/patching_io.c writes it): every cell (receiver <- donor at a depth) with its mean
 * target, baseline and decoy effects and the paired target - baseline difference with its CI,
 * then the summary D with its verdict and the decoy ratio. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/report_internal.h"

static bool detect(const lw_report_input *in) { return lw_is_format(in, "latentwire.panel.patching/1"); }

static void cells_table(lw_html *h, json_t *cells) {
    static const char *const head[] = {"receiver", "donor", "depth", "layers (receiver / donor)", "n",
                                       "target", "baseline", "decoy", "target - baseline [95% CI]", "p"};
    lw_table_begin(h, "data", head, 10);
    json_t *c;
    size_t i;
    json_array_foreach(cells, i, c) {
        char depth[32], layers[64], n[32], t[32], b[32], d[32], diff[96] = "-", p[32];
        double mean, lo, hi;
        snprintf(depth, sizeof depth, "%g", lw_jnum_req(c, "depth"));
        snprintf(layers, sizeof layers, "%g / %g", lw_jnum_req(c, "receiver_layer"), lw_jnum_req(c, "donor_layer"));
        snprintf(n, sizeof n, "%g", lw_jcount(c, "n"));
        lw_fmt_num(t, sizeof t, lw_jnum_req(c, "mean_target"), 4, false);
        lw_fmt_num(b, sizeof b, lw_jnum_req(c, "mean_baseline"), 4, false);
        lw_fmt_num(d, sizeof d, lw_jnum_req(c, "mean_decoy"), 4, false);
        if (lw_jci_req(lw_jobj_req(c, "target_minus_baseline"), &mean, &lo, &hi, NULL))
            lw_fmt_ci(diff, sizeof diff, mean, lo, hi, true);
        double pv = lw_jnum_req(c, "p_value"); /* patching_io.c writes one for every cell */
        snprintf(p, sizeof p, isnan(pv) ? "-" : "%.3g", pv);
        const char *row[] = {lw_jstr(c, "receiver"), lw_jstr(c, "donor"), depth, layers, n, t, b, d, diff, p};
        lw_table_row(h, row, NULL, 10);
    }
    lw_table_end(h);
}

/* The cell's class: one of this file's names (the verdict text itself comes from the input). */
static const char *verdict_class(const char *v) {
    static const char *const K[] = {"PASS", "FAIL", "INCONCLUSIVE"};
    for (int k = 0; v && k < 3; k++)
        if (!strcmp(v, K[k])) return K[k];
    return "na";
}

static void summary_table(lw_html *h, json_t *s) {
    static const char *const head[] = {"D [95% CI]", "threshold", "verdict", "decoy ratio [95% CI]", "cells"};
    char dd[96] = "-", th[32], ratio[96] = "-", n[32];
    double mean, lo, hi;
    if (lw_jci_req(lw_jobj_req(s, "D"), &mean, &lo, &hi, NULL)) lw_fmt_ci(dd, sizeof dd, mean, lo, hi, true);
    snprintf(th, sizeof th, "%g", lw_jnum_req(s, "threshold"));
    /* null when the mean decoy effect is 0 (patching_io.c): shown as "-" */
    double r = lw_jnum(s, "decoy_ratio"), rlo = lw_jnum(s, "decoy_ratio_lo"), rhi = lw_jnum(s, "decoy_ratio_hi");
    if (!isnan(r)) lw_fmt_ci(ratio, sizeof ratio, r, rlo, rhi, false);
    snprintf(n, sizeof n, "%g", lw_jcount(s, "n_cells"));
    const char *verdict = lw_jstr(s, "verdict");
    const char *row[] = {dd, th, verdict, ratio, n};
    const char *cls[] = {NULL, NULL, verdict_class(verdict), NULL, NULL};
    lw_table_begin(h, "data", head, 5);
    lw_table_row(h, row, cls, 5);
    lw_table_end(h);
}

static int render(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
    (void)ctx;
    json_t *cells = json_object_get(in->doc, "cells"), *summary = json_object_get(in->doc, "summary");
    if (!json_is_array(cells)) return lw_fail("cells: missing (an array; panel.json)");
    if (!json_is_object(summary)) return lw_fail("summary: missing (an object {\"D\", \"verdict\", ...}; panel.json)");
    lw_html_raw(h, "<h3>Summary: D (mean over cells of target - baseline) and the decoy ratio</h3>\n");
    summary_table(h, summary);
    lw_note(h, "Effects are mean log-probability shifts (nats per token); the decoy "
               "ratio is the mean target effect over the mean decoy effect.");
    lw_html_raw(h, "<h3>Every cell</h3>\n");
    cells_table(h, cells);
    lw_fig_provenance(h, NULL, json_object_get(in->doc, "settings"));
    lw_fig_provenance(h, NULL, json_object_get(in->doc, "params"));
    return 0;
}

const lw_report_renderer *lw_render_panel(void) {
    static const lw_report_renderer r = {"panel", detect, render};
    return &r;
}
