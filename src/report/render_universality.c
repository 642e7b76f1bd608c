/* Family universality (universality.json, format latentwire.panel.universality/1, as
 * src/panel/probe_merge.c writes it): the pairs, then one table with a row per statistic, a
 * column per pair (value [95% CI], n) and the descriptive spread (min, max, whether all
 * intervals overlap). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "panel/probe_spread.h"
#include "report/report_internal.h"

#define MAX_PAIRS 24 /* columns drawn; more pairs are listed and noted, not drawn */

static bool detect(const lw_report_input *in) { return lw_is_format(in, "latentwire.panel.universality/1"); }

/* The cell of pair k in a statistic's rows: "value [lo, hi] n=N", or "-" when that run lacks it.
 * probe_merge.c writes every row's pair, and its ci as the run's probes.json has it: null when
 * that run has none ("-"), else the probe writer's whole interval (lw_ci_json). */
static void pair_cell(json_t *rows, int k, char *buf, size_t size) {
    json_t *row;
    size_t i;
    snprintf(buf, size, "-");
    json_array_foreach(rows, i, row) {
        if (lw_jcount(row, "pair") != k) continue;
        double mean, lo, hi;
        int n = 0;
        char v[96];
        json_t *ci = json_object_get(row, "ci");
        if (ci && !json_is_null(ci) && lw_jci_req(lw_jobj_req(row, "ci"), &mean, &lo, &hi, &n))
            snprintf(buf, size, "%s n=%d", lw_fmt_ci(v, sizeof v, mean, lo, hi, true), n);
    }
}

static void stat_row(lw_html *h, json_t *s, int n_pairs) {
    char cells[MAX_PAIRS + 5][160];
    const char *row[MAX_PAIRS + 5];
    /* spread is written for every statistic; its min and max are null when no pair has a value */
    json_t *sp = lw_jobj_req(s, "spread"), *ov = json_object_get(sp, "cis_overlap");
    snprintf(cells[0], sizeof cells[0], "%s", lw_jstr(s, "probe") ? lw_jstr(s, "probe") : "?");
    snprintf(cells[1], sizeof cells[1], "%s", lw_jstr(s, "name") ? lw_jstr(s, "name") : "?");
    for (int k = 0; k < n_pairs; k++) pair_cell(json_object_get(s, "rows"), k, cells[2 + k], sizeof cells[2 + k]);
    double mn = lw_jnum(sp, "min"), mx = lw_jnum(sp, "max");
    if (isnan(mn)) snprintf(cells[2 + n_pairs], sizeof cells[0], "-");
    else lw_fmt_num(cells[2 + n_pairs], sizeof cells[0], mn, 4, true);
    if (isnan(mx)) snprintf(cells[3 + n_pairs], sizeof cells[0], "-");
    else lw_fmt_num(cells[3 + n_pairs], sizeof cells[0], mx, 4, true);
    snprintf(cells[4 + n_pairs], sizeof cells[0], "%s", json_is_true(ov) ? "yes" : json_is_false(ov) ? "no" : "-");
    for (int c = 0; c < n_pairs + 5; c++) row[c] = cells[c];
    lw_table_row(h, row, NULL, n_pairs + 5);
}

static int render(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
    (void)ctx;
    json_t *stats = json_object_get(in->doc, "stats"), *pairs = json_object_get(in->doc, "pairs"), *p, *s;
    if (!json_is_array(stats) || !json_is_array(pairs))
        return lw_fail("stats, pairs: missing (arrays; universality.json)");
    size_t i, k;
    /* every row names one of the pairs, once per statistic (probe_merge.c writes them so): a row of a
     * pair not listed was left out of the table but counted in its min and max, and of a pair named
     * twice only the last was drawn, with exit 0 */
    json_array_foreach(stats, i, s) {
        json_t *rows = json_object_get(s, "rows"), *row;
        json_array_foreach(rows, k, row) {
            double pk = lw_jcount(row, "pair");
            if (isnan(pk)) return -1; /* named by the caller */
            if (pk >= (double)json_array_size(pairs))
                return lw_fail("stats[%zu].rows[%zu].pair is %.0f, but pairs lists %zu; the file was edited or "
                               "damaged, make it again", i, k, pk, json_array_size(pairs));
            for (size_t j = 0; j < k; j++)
                if (lw_jcount(json_array_get(rows, j), "pair") == pk)
                    return lw_fail("stats[%zu].rows[%zu] and rows[%zu] are both of pair %.0f; the file was edited "
                                   "or damaged, make it again", i, j, k, pk);
        }
    }
    /* the spread must follow from the rows (probes merge computes it so): an edited cis_overlap,
     * min or max was drawn beside rows that say otherwise */
    json_array_foreach(stats, i, s) {
        json_t *have = json_object_get(s, "spread");
        if (!json_is_object(have)) continue; /* stat_row names it missing */
        json_t *want = lw_probe_spread_json(json_object_get(s, "rows"));
        if (!want) return lw_fail("out of memory");
        static const char *const KEYS[] = {"min", "max", "cis_overlap"};
        for (size_t q = 0; q < 3; q++)
            if (!json_equal(json_object_get(want, KEYS[q]), json_object_get(have, KEYS[q])) &&
                !(json_is_null(json_object_get(want, KEYS[q])) && !json_object_get(have, KEYS[q]))) {
                json_decref(want);
                return lw_fail("stats[%zu].spread.%s does not follow from its rows; the file was edited or damaged, "
                               "make it again with latentwire panel probes merge", i, KEYS[q]);
            }
        json_decref(want);
    }
    lw_html_raw(h, "<ol class=\"meta\">\n");
    json_array_foreach(pairs, i, p) {
        lw_html_raw(h, "<li>");
        lw_html_textf(h, "pair %zu: %s (run %s, bridge %s)", i + 1, lw_jstr(p, "label") ? lw_jstr(p, "label") : "?",
                      lw_jstr(p, "run") ? lw_jstr(p, "run") : "?", lw_jstr(p, "bridge") ? lw_jstr(p, "bridge") : "?");
        lw_html_raw(h, "</li>\n");
    }
    lw_html_raw(h, "</ol>\n");
    int n_pairs = (int)json_array_size(pairs);
    if (n_pairs > MAX_PAIRS) n_pairs = MAX_PAIRS;
    char heads[MAX_PAIRS][32];
    const char *head[MAX_PAIRS + 5] = {"probe", "statistic"};
    for (int k = 0; k < n_pairs; k++) {
        snprintf(heads[k], sizeof heads[k], "pair %d", k + 1);
        head[2 + k] = heads[k];
    }
    head[2 + n_pairs] = "min";
    head[3 + n_pairs] = "max";
    head[4 + n_pairs] = "all CIs overlap";
    lw_table_begin(h, "data", head, n_pairs + 5);
    json_array_foreach(stats, i, s) stat_row(h, s, n_pairs);
    lw_table_end(h);
    if ((int)json_array_size(pairs) > n_pairs) lw_note(h, "More pairs than columns: only the first 24 are drawn.");
    lw_note(h, lw_jstr(in->doc, "note") ? lw_jstr(in->doc, "note")
                                          : "Descriptive: min, max and interval overlap across pairs; no test.");
    lw_fig_provenance(h, NULL, json_object_get(in->doc, "params"));
    return 0;
}

const lw_report_renderer *lw_render_universality(void) {
    static const lw_report_renderer r = {"universality", detect, render};
    return &r;
}
