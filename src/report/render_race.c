/* The race (latentwire.race/1, latentwire/report.h): the rate-accuracy curve of every channel on
 * one bit axis, floor and ceiling as lines, and the activation - text comparisons per budget.
 * Both shapes under that format: the curve document, and race.json as `latentwire race` writes
 * it (src/race/race_report.c: "cells", "comparisons", "settings"). */
#include <math.h>
#include <stdio.h>
#include <string.h>

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
        /* a comparison is its difference at a budget: those two drawn whatever they hold; lo, hi, n
         * and p are optional in a curve document (report.h) */
        snprintf(x, sizeof x, "%g", lw_jnum_req(c, "x"));
        lw_jnum_req(c, "mean");
        lw_jci(c, &mean, &lo, &hi, &nn);
        lw_fmt_ci(d, sizeof d, mean, lo, hi, true);
        snprintf(n, sizeof n, nn > 0 ? "%d" : "-", nn);
        double pv = lw_jnum(c, "p");
        snprintf(p, sizeof p, isnan(pv) ? "-" : "%.3g", pv);
        json_t *paired = json_object_get(c, "paired");
        /* race.json says how ("paired on the common items" where the cells scored different items) */
        const char *how = lw_jstr(c, "pairing") ? lw_jstr(c, "pairing")
                          : !paired             ? "-"
                          : json_is_true(paired) ? "paired"
                                                 : "unpaired";
        const char *cells[] = {x, lw_jstr(c, "a"), lw_jstr(c, "b"), d, n, p, how, lw_jstr(c, "verdict")};
        lw_table_row(h, cells, NULL, 8);
    }
    lw_table_end(h);
}

/* ---- race.json ---- */

/* One cell into the curve: floor, ceiling and mean become the reference lines, every other applicable
 * cell a point of its channel's series at its mean payload bits. */
static int native_cell(json_t *curve, json_t *c, size_t i) {
    char where[64], label[96];
    snprintf(where, sizeof where, "cells[%zu]", i);
    const char *channel = lw_jstr(c, "channel"), *family = lw_jstr(c, "family");
    if (!channel || !family) return lw_fail("%s: \"channel\" and \"family\" missing (strings)", where);
    if (!json_is_true(json_object_get(c, "applicable"))) return 0; /* the table says why */
    snprintf(where, sizeof where, "cells[%zu].accuracy", i);
    bool ref = !strcmp(family, "floor") || !strcmp(family, "ceiling") || !strcmp(family, "mean");
    double bits = ref ? 1 : lw_jnum(c, "payload_bits_mean");
    if (isnan(bits)) return lw_fail("cells[%zu].payload_bits_mean: missing (a number)", i);
    if (!ref && bits <= 0) return 0; /* no place on a log2 axis: in the table only */
    snprintf(label, sizeof label, "%s, budget %g bits", channel, lw_jnum(c, "budget_bits"));
    json_t *p = lw_curve_point_from_ci(json_object_get(c, "accuracy"), bits, ref ? channel : label, where);
    if (!p) return -1;
    if (ref) {
        json_object_del(p, "x");
        json_object_set_new(curve, family, p);
    } else {
        json_array_append_new(lw_curve_series_points(curve, channel), p);
    }
    return 0;
}

/* race.json's comparisons in the curve document's shape (comparisons_table). */
static json_t *native_comparisons(json_t *doc) {
    json_t *out = json_array(), *c;
    size_t i;
    json_array_foreach(json_object_get(doc, "comparisons"), i, c) {
        json_t *d = lw_jobj_req(c, "difference");
        /* checked here, where the file's fields can be named: the copy below calls them "x", "p"...
         * race writes the difference whole (lw_ci_json); p_value only for paired cells */
        double mean, lo, hi;
        lw_jnum_req(c, "budget_bits");
        lw_jnum(c, "p_value");
        lw_jci_req(d, &mean, &lo, &hi, NULL);
        json_t *o = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "x",
                              json_object_get(c, "budget_bits"), "a", json_object_get(c, "activation"), "b",
                              json_object_get(c, "text"), "mean", json_object_get(d, "mean"), "lo",
                              json_object_get(d, "lo"), "hi", json_object_get(d, "hi"), "n", json_object_get(d, "n"),
                              "p", json_object_get(c, "p_value"), "paired", json_object_get(c, "paired"), "pairing",
                              json_object_get(c, "pairing"), "verdict", json_object_get(c, "verdict"));
        json_array_append_new(out, o ? o : json_object());
    }
    return out;
}

/* Every cell: its bits, accuracy with interval, and the difference from the floor (or why the
 * cell has no score). */
static void native_cells_table(lw_html *h, json_t *cells) {
    static const char *const head[] = {"channel", "family", "budget (bits)", "payload bits (mean)", "side bits / item",
                                       "accuracy [95% CI]", "n", "minus floor [95% CI]", "against the floor"};
    lw_table_begin(h, "data", head, 9);
    size_t i;
    json_t *c;
    json_array_foreach(cells, i, c) {
        char budget[32] = "-", bits[32] = "-", side[32] = "-", acc[96] = "-", n[32], vf[96] = "-";
        double mean, lo, hi, b = lw_jnum(c, "budget_bits");
        int nn = (int)lw_jcount(c, "n");
        if (!isnan(b)) snprintf(budget, sizeof budget, "%g", b);
        snprintf(n, sizeof n, "%d", nn);
        const char *verdict = "-";
        if (json_is_true(json_object_get(c, "applicable"))) {
            snprintf(bits, sizeof bits, "%.1f", lw_jnum_req(c, "payload_bits_mean"));
            snprintf(side, sizeof side, "%.1f", lw_jnum_req(c, "side_bits_per_item"));
            if (lw_jci_req(lw_jobj_req(c, "accuracy"), &mean, &lo, &hi, NULL))
                lw_fmt_ci(acc, sizeof acc, mean, lo, hi, false);
            json_t *mf = json_object_get(c, "minus_floor"); /* absent on the floor itself */
            if (mf && lw_jci_req(lw_jobj_req(mf, "difference"), &mean, &lo, &hi, NULL)) {
                lw_fmt_ci(vf, sizeof vf, mean, lo, hi, true);
                /* race.json words its verdicts for activation - text; against the floor, say it plainly */
                verdict = lo > 0 ? "above the floor" : hi < 0 ? "below the floor" : "no difference shown";
            }
        } else {
            snprintf(acc, sizeof acc, "not applicable: %s", lw_jstr(c, "reason") ? lw_jstr(c, "reason") : "");
        }
        const char *cells_[] = {lw_jstr(c, "channel"), lw_jstr(c, "family"), budget, bits, side, acc, n, vf, verdict};
        lw_table_row(h, cells_, NULL, 9);
    }
    lw_table_end(h);
}

static int render_native(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
    json_t *cells = json_object_get(in->doc, "cells"), *c, *settings = json_object_get(in->doc, "settings");
    if (!json_is_array(cells)) return lw_fail("cells: must be an array (race.json)");
    json_t *curve = json_pack("{s:[]}", "series");
    if (json_is_object(settings)) json_object_set(curve, "settings", settings);
    size_t i;
    int rc = 0;
    json_array_foreach(cells, i, c) {
        if (rc == 0 && !json_is_object(c)) rc = lw_fail("cells[%zu]: must be an object", i);
        if (rc == 0) rc = native_cell(curve, c, i);
    }
    if (rc == 0)
        rc = lw_curve_json_figure(h, ctx, curve, "Rate-accuracy curves: accuracy against payload bits, per channel",
                                  true, true, "payload bits per item (mean)", "accuracy");
    json_decref(curve);
    if (rc != 0) return rc;
    lw_html_raw(h, "<h3>Every channel and budget</h3>\n");
    native_cells_table(h, cells);
    json_t *cmp = native_comparisons(in->doc);
    if (json_array_size(cmp) > 0) {
        lw_html_raw(h, "<h3>Activation against text at each budget</h3>\n");
        comparisons_table(h, cmp);
    }
    json_decref(cmp);
    return 0;
}

static int render(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
    if (lw_is_native(in, "cells")) return render_native(h, in, ctx);
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
