/* verdict --json: every hypothesis of the plan with the numbers that decided it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/report_internal.h"

static bool detect(const lw_report_input *in) {
    return lw_jstr(in->doc, "plan_sha256") && json_is_array(json_object_get(in->doc, "hypotheses"));
}

static int render(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
    json_t *doc = in->doc;
    /* verdict --json writes alpha; a file without it is still read (the rule is then shown
     * without it), but a level no test can have is refused, not shown */
    const double alpha = lw_jnum(doc, "alpha");
    if (!isnan(alpha) && !(alpha > 0 && alpha < 1))
        return lw_fail("alpha = %g is not a significance level (it must be in (0, 1)); the file was edited or "
                       "damaged, make it again",
                       alpha);
    lw_fig_begin(h, ctx, "Pre-registered verdicts (Holm-adjusted across the plan)");
    lw_html_raw(h, "<p>");
    lw_html_textf(h, "Plan %s: %s (sha256 %s), %g records.", lw_jstr(doc, "plan") ? lw_jstr(doc, "plan") : "?",
                  lw_jstr(doc, "title") ? lw_jstr(doc, "title") : "", lw_jstr(doc, "plan_sha256"),
                  lw_jcount(doc, "n_records"));
    lw_html_raw(h, "</p>\n");
    if (json_array_size(json_object_get(doc, "hypotheses")) == 0)
        return lw_fail("hypotheses: empty (a verdict decides at least one hypothesis)");
    static const char *const head[] = {"id", "verdict", "claim", "estimate", "interval", "p", "p (Holm)", "test", "n"};
    lw_table_begin(h, "data verdicts", head, 9);
    size_t i;
    json_t *v;
    int counts[3] = {0};
    json_array_foreach(json_object_get(doc, "hypotheses"), i, v) {
        const char *verdict = lw_jstr(v, "verdict");
        static const char *const kinds[] = {"PASS", "FAIL", "INCONCLUSIVE"};
        const char *cls = NULL;
        for (int k = 0; k < 3; k++)
            if (verdict && !strcmp(verdict, kinds[k])) cls = kinds[k], counts[k]++;
        if (!cls) return lw_fail("hypotheses[%zu].verdict: must be PASS, FAIL or INCONCLUSIVE", i);
        json_t *ci = lw_jobj_req(v, "ci");
        /* numbers a verdict cannot have are refused, not drawn: a non-finite estimate or interval, an
         * interval upside down, a p outside [0, 1], fewer than one item (an estimate may sit outside a
         * percentile interval, so that alone is not refused) */
        const double e = lw_jnum_req(v, "estimate"), lo = lw_jnum_req(ci, "lo"), hi = lw_jnum_req(ci, "hi"),
                     pv = lw_jnum_req(v, "p"), pav = lw_jnum_req(v, "p_adjusted"), nv = lw_jnum_req(v, "n");
        if (!isfinite(e) || !isfinite(lo) || !isfinite(hi) || lo > hi)
            return lw_fail("hypotheses[%zu]: estimate %g and interval [%g, %g]: need finite numbers with lo <= hi",
                           i, e, lo, hi);
        if (!(pv >= 0 && pv <= 1) || !(pav >= 0 && pav <= 1) || pav < pv - 1e-12)
            return lw_fail("hypotheses[%zu]: p %g and p_adjusted %g: need 0 <= p <= p_adjusted <= 1", i, pv, pav);
        /* verdict's rule: PASS exactly when the adjusted p is <= alpha; a verdict its own numbers
         * contradict (an edited file) is refused, not drawn */
        if (!isnan(alpha) && (strcmp(verdict, "PASS") == 0) != (pav <= alpha))
            return lw_fail("hypotheses[%zu].verdict %s with p_adjusted %g and alpha %g: PASS is p_adjusted <= alpha; "
                           "the file was edited or damaged, make it again with verdict --json",
                           i, verdict, pav, alpha);
        if (!(nv >= 1) || nv != floor(nv)) return lw_fail("hypotheses[%zu].n: %g is not a count of items", i, nv);
        char est[48], iv[160], p[32], pa[32], n[32], lo_s[48], hi_s[48];
        lw_fmt_num(est, sizeof est, lw_jnum(v, "estimate"), 4, true);
        double level = lw_jnum(ci, "level"); /* absent: 95% */
        if (!isnan(level) && !(level > 0 && level < 1))
            return lw_fail("hypotheses[%zu].ci.level = %g is not a confidence level (it must be in (0, 1))", i, level);
        snprintf(iv, sizeof iv, "[%s, %s] (%g%%%s%s)", lw_fmt_num(lo_s, sizeof lo_s, lw_jnum(ci, "lo"), 4, true),
                 lw_fmt_num(hi_s, sizeof hi_s, lw_jnum(ci, "hi"), 4, true),
                 isnan(level) ? 95.0 : 100 * level, lw_jstr(ci, "method") && *lw_jstr(ci, "method") ? ", " : "",
                 lw_jstr(ci, "method") ? lw_jstr(ci, "method") : "");
        snprintf(p, sizeof p, "%.3g", lw_jnum(v, "p"));
        snprintf(pa, sizeof pa, "%.3g", lw_jnum(v, "p_adjusted"));
        snprintf(n, sizeof n, "%g", lw_jnum(v, "n"));
        const char *cells[] = {lw_jstr(v, "id"), verdict, lw_jstr(v, "claim"), est, iv, p, pa, lw_jstr(v, "test"), n};
        const char *classes[] = {NULL, cls, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
        lw_table_row(h, cells, classes, 9);
    }
    lw_table_end(h);
    lw_html_raw(h, "<p class=\"note\">");
    char a[48] = "";
    if (!isnan(alpha)) snprintf(a, sizeof a, " = %g", alpha);
    lw_html_textf(h, "%d PASS, %d FAIL, %d INCONCLUSIVE. PASS: adjusted p <= alpha%s; FAIL: the interval lies on the "
                     "null side of the threshold; otherwise INCONCLUSIVE.",
                  counts[0], counts[1], counts[2], a);
    lw_html_raw(h, "</p>\n");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "latentwire verdict %s RECORDS... --json", lw_jstr(doc, "plan") ? lw_jstr(doc, "plan") : "PLAN");
    lw_note(h, "verdict --json records the plan and its sha256, not the record files' names (RECORDS...).");
    lw_fig_provenance(h, cmd, NULL);
    lw_fig_end(h);
    return 0;
}

const lw_report_renderer *lw_render_verdict(void) {
    static const lw_report_renderer r = {"verdict", detect, render};
    return &r;
}
