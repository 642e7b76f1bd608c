/* The probe panel (probes.json, format latentwire.panel.probes/1, as src/panel/probe_io.c writes
 * it): the pair, then one table per probe with every statistic, its n, its value with the 95%
 * interval, the p of a paired difference and what it measures. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/report_internal.h"

static bool detect(const lw_report_input *in) { return lw_is_format(in, "latentwire.panel.probes/1"); }

static void probe_table(lw_html *h, json_t *stats, const char *probe) {
    static const char *const head[] = {"statistic", "n", "value [95% CI]", "p", "what it measures"};
    lw_table_begin(h, "data", head, 5);
    json_t *s;
    size_t i;
    json_array_foreach(stats, i, s) {
        if (strcmp(lw_jstr(s, "probe") ? lw_jstr(s, "probe") : "", probe)) continue;
        char n[32] = "-", v[96] = "-", p[32] = "-";
        double mean, lo, hi;
        int cn = 0;
        /* probe_io.c writes every statistic's interval whole (lw_ci_json); p_value is null where
         * the statistic has no paired test (drawn as "-") */
        if (lw_jci_req(lw_jobj_req(s, "ci"), &mean, &lo, &hi, &cn)) lw_fmt_ci(v, sizeof v, mean, lo, hi, true);
        snprintf(n, sizeof n, "%d", cn);
        double pv = lw_jnum(s, "p_value");
        if (!isnan(pv)) snprintf(p, sizeof p, "%.3g", pv);
        const char *row[] = {lw_jstr(s, "name"), n, v, p, lw_jstr(s, "note")};
        lw_table_row(h, row, NULL, 5);
    }
    lw_table_end(h);
}

static int render(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
    (void)ctx;
    /* probe_io.c writes the pair with both widths */
    json_t *stats = json_object_get(in->doc, "stats"), *pair = lw_jobj_req(in->doc, "pair");
    if (!json_is_array(stats)) return lw_fail("stats: missing (an array; probes.json)");
    lw_html_raw(h, "<p class=\"meta\">");
    lw_html_textf(h, "A: %s (width %g) -> B: %s (width %g), bridge recipe %s",
                  lw_jstr(pair, "a") ? lw_jstr(pair, "a") : "?", lw_jcount(pair, "dim_a"),
                  lw_jstr(pair, "b") ? lw_jstr(pair, "b") : "?", lw_jcount(pair, "dim_b"),
                  lw_jstr(pair, "bridge") ? lw_jstr(pair, "bridge") : "?");
    lw_html_raw(h, "</p>\n");
    static const char *const PROBES[] = {"compositionality", "chaining", "robustness", "symbolic"};
    for (int k = 0; k < 4; k++) {
        bool any = false;
        json_t *s;
        size_t i;
        json_array_foreach(stats, i, s) any = any || (lw_jstr(s, "probe") && !strcmp(lw_jstr(s, "probe"), PROBES[k]));
        if (!any) continue;
        lw_html_rawf(h, "<h3>%s</h3>\n", PROBES[k]); /* one of this file's names */
        probe_table(h, stats, PROBES[k]);
    }
    lw_note(h, "Top-1 by cosine (a tie never counts as a hit); intervals: Clopper-Pearson for proportions, BCa "
               "bootstrap for means, Newcombe / paired bootstrap for paired differences, a BCa bootstrap over "
               "sentences for Spearman's rho.");
    lw_fig_provenance(h, NULL, json_object_get(in->doc, "settings"));
    lw_fig_provenance(h, NULL, json_object_get(in->doc, "params"));
    return 0;
}

const lw_report_renderer *lw_render_probes(void) {
    static const lw_report_renderer r = {"probes", detect, render};
    return &r;
}
