/* debate: its --json summary {vote, solo, difference} or its --out records (vote and agent 0's
 * scores per item, recomputed as debate prints them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "latentwire/retrieval.h"
#include "report/report_internal.h"

/* The records' settings line (debate writes one first since it resumes), or NULL. */
static json_t *settings_line(const lw_report_input *in) {
    json_t *first = json_array_get(in->lines, 0);
    return json_object_size(first) == 1 ? json_object_get(first, "settings") : NULL;
}

static bool detect(const lw_report_input *in) {
    if (in->doc)
        return json_is_object(json_object_get(in->doc, "vote")) && json_is_object(json_object_get(in->doc, "solo")) &&
               json_is_object(json_object_get(in->doc, "difference"));
    json_t *settings = settings_line(in);
    if (settings && !json_object_get(settings, "--agents")) return false; /* another verb's records */
    size_t i, first = settings ? 1 : 0;
    json_t *o;
    json_array_foreach(in->lines, i, o) if (i >= first && (!json_is_number(json_object_get(o, "score")) ||
                                                           !json_is_number(json_object_get(o, "solo_score")) ||
                                                           !json_object_get(o, "final"))) return false;
    return json_array_size(in->lines) > first;
}

static void table(lw_html *h, lw_report_ctx *ctx, const lw_ci *vote, const lw_ci *solo, const lw_ci *d, double p,
                  const char *how, json_t *settings) {
    lw_fig_begin(h, ctx, "Debate: the majority vote against agent 0 answering alone (same items)");
    static const char *const head[] = {"", "accuracy [95% CI]", "n"};
    lw_table_begin(h, "data", head, 3);
    const lw_ci *cis[] = {vote, solo, d};
    const char *names[] = {"majority vote", "agent 0 alone (round 1)", "difference (vote - agent 0)"};
    for (int i = 0; i < 3; i++) {
        char ci[96], n[32];
        lw_fmt_ci(ci, sizeof ci, cis[i]->mean, cis[i]->lo, cis[i]->hi, i == 2);
        snprintf(n, sizeof n, "%d", cis[i]->n);
        const char *cells[] = {names[i], ci, n};
        lw_table_row(h, cells, NULL, 3);
    }
    lw_table_end(h);
    lw_html_raw(h, "<p class=\"note\">");
    lw_html_textf(h, "p = %.3g (paired). %s", p, how);
    lw_html_raw(h, "</p>\n");
    if (settings) lw_fig_provenance(h, NULL, settings);
    else lw_note(h, "debate records no command or settings in its summary (its records file holds them).");
    lw_fig_end(h);
}

static int render(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
    lw_ci v = {0}, s = {0}, d = {0};
    double p = NAN;
    if (in->doc) {
        /* debate --json writes all three whole (lw_ci_json) and the difference's p: a missing
         * number is named by the reader (detect saw the three objects) */
        json_t *dj = json_object_get(in->doc, "difference");
        bool whole = lw_jci_req(json_object_get(in->doc, "vote"), &v.mean, &v.lo, &v.hi, &v.n);
        whole = lw_jci_req(json_object_get(in->doc, "solo"), &s.mean, &s.lo, &s.hi, &s.n) && whole;
        whole = lw_jci_req(dj, &d.mean, &d.lo, &d.hi, &d.n) && whole;
        p = lw_jnum_req(dj, "p_value");
        if (!whole || isnan(p)) return lw_fail("vote, solo and difference must each be whole, with the p_value");
        table(h, ctx, &v, &s, &d, p, "As debate --json recorded them.", NULL);
        return 0;
    }
    json_t *settings = settings_line(in);
    size_t first = settings ? 1 : 0, n = json_array_size(in->lines) - first, i;
    double *a = calloc(n, sizeof *a), *b = calloc(n, sizeof *b);
    json_t *o;
    int rc = a && b ? 0 : lw_fail("out of memory");
    json_array_foreach(in->lines, i, o) if (rc == 0 && i >= first) a[i - first] = lw_jnum(o, "score"),
                                                                   b[i - first] = lw_jnum(o, "solo_score");
    uint64_t seed = ctx->params->seed;
    int R = ctx->params->resamples;
    if (rc == 0 && (lw_ci_mean(a, (int)n, R, 0.95, seed, &v) || lw_ci_mean(b, (int)n, R, 0.95, seed, &s) ||
                    lw_ci_paired(a, b, (int)n, R, 0.95, seed, &d, &p)))
        rc = -1;
    if (rc == 0)
        table(h, ctx, &v, &s, &d, p, "Recomputed from the per-item records (lw_ci_mean, lw_ci_paired).", settings);
    free(a);
    free(b);
    return rc;
}

const lw_report_renderer *lw_render_debate(void) {
    static const lw_report_renderer r = {"debate", detect, render};
    return &r;
}
