/* The race's statistics: per cell accuracy with its interval and the bits, per budget the
 * (activation - text) differences with their intervals and verdicts, floor comparisons, and
 * the CSV of the rate-accuracy curve. Everything here is a function of the records alone, so
 * a merged sharded run reports the same bytes as an unsharded one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/compare.h"
#include "common/error.h"
#include "eval/ci_json.h"
#include "eval/eval.h"
#include "race/race_internal.h"

const char *lw_race_verdict(double lo, double hi) {
    if (hi < 0) return "text dominates";
    if (lo > 0) return "activation dominates";
    return "no difference shown";
}

int lw_race_make_cells(lw_race_data *d) {
    int64_t *sorted = malloc(sizeof *sorted * (size_t)(d->n_budgets ? d->n_budgets : 1));
    d->cells = malloc(sizeof *d->cells * (size_t)(d->n_channels * (d->n_budgets + 1) + 1));
    if (!sorted || !d->cells) {
        free(sorted);
        return lw_fail("race: out of memory");
    }
    if (d->n_budgets) memcpy(sorted, d->budgets, sizeof *sorted * (size_t)d->n_budgets);
    qsort(sorted, (size_t)d->n_budgets, sizeof *sorted, lw_cmp_i64);
    d->n_cells = 0;
    for (int c = 0; c < d->n_channels; c++) {
        if (!lw_race_channel_budgeted(&d->channels[c])) {
            d->cells[d->n_cells++] = (lw_race_cell){c, 0};
            continue;
        }
        for (int b = 0; b < d->n_budgets; b++) d->cells[d->n_cells++] = (lw_race_cell){c, sorted[b]};
    }
    free(sorted);
    return 0;
}

static const char *family_name(lw_race_family f) {
    static const char *const N[] = {"floor", "ceiling", "activation", "text", "cipher", "mean"};
    return N[f];
}

/* The scored items of a cell: their scores into v (n_items room), indices into idx; the count. */
static int scored(const lw_race_data *d, int cell, double *v, int *idx) {
    int n = 0;
    for (int i = 0; i < d->n_items; i++) {
        double s = d->score[(size_t)cell * d->n_items + i];
        if (isnan(s)) continue;
        if (idx) idx[n] = i;
        v[n++] = s;
    }
    return n;
}

static bool all_binary(const double *v, int n) {
    for (int i = 0; i < n; i++)
        if (v[i] != 0.0 && v[i] != 1.0) return false;
    return true;
}

static double mean_var(const double *v, int n, double *var) {
    double m = 0, s = 0;
    for (int i = 0; i < n; i++) m += v[i];
    m /= n;
    for (int i = 0; i < n; i++) s += (v[i] - m) * (v[i] - m);
    *var = n > 1 ? s / (n - 1) : 0;
    return m;
}

/* mean(a) - mean(b) for cells a, b: paired on the items both scored (all of them, or those in
 * common), unpaired only when they share none. {"paired", "difference": {...}, "p_value" (paired only)}; NULL when either
 * scored nothing. */
static json_t *compare_cells(const lw_race_data *d, int a, int b, const char *vs) {
    size_t n = (size_t)d->n_items;
    double *va = malloc(sizeof(double) * (n ? n : 1)), *vb = malloc(sizeof(double) * (n ? n : 1));
    int *ia = malloc(sizeof(int) * (n ? n : 1)), *ib = malloc(sizeof(int) * (n ? n : 1));
    json_t *out = NULL;
    if (!va || !vb || !ia || !ib) goto done;
    int na = scored(d, a, va, ia), nb = scored(d, b, vb, ib);
    if (na == 0 || nb == 0) goto done;
    bool same = na == nb && !memcmp(ia, ib, sizeof(int) * (size_t)na);
    /* Cells that scored different items are compared on the items both scored, paired: an unpaired
     * difference of the two cells' accuracies compares different items. With activation and text
     * alike on every item and the activation channel unable to take 30 of 100 items that both get
     * wrong, the unpaired difference was +0.214 [+0.065, +0.348], "activation dominates", where on
     * the 70 common items it is 0. Unpaired only when no item is common. (scored() lists the items
     * in increasing order, so the intersection is a merge.) */
    const bool subset = !same;
    if (!same) {
        int k = 0;
        for (int i = 0, j = 0; i < na && j < nb;) {
            if (ia[i] < ib[j]) i++;
            else if (ia[i] > ib[j]) j++;
            else va[k] = va[i], vb[k] = vb[j], ia[k] = ia[i], k++, i++, j++;
        }
        if (k > 0) na = nb = k, same = true;
    }
    lw_ci diff;
    double p = NAN;
    int rc;
    if (same) {
        rc = lw_ci_paired(va, vb, na, d->resamples, d->level, d->seed, &diff, &p);
    } else if (all_binary(va, na) && all_binary(vb, nb)) {
        int xa = 0, xb = 0;
        for (int i = 0; i < na; i++) xa += va[i] == 1.0;
        for (int i = 0; i < nb; i++) xb += vb[i] == 1.0;
        rc = lw_ci_diff_independent(xa, na, xb, nb, d->level, &diff);
    } else { /* non-binary scores on different items: the normal (Welch) interval */
        double wa, wb, ma = mean_var(va, na, &wa), mb = mean_var(vb, nb, &wb);
        double z = lw_norm_quantile(0.5 + d->level / 2.0), se = sqrt(wa / na + wb / nb);
        /* scores lie in [0, 1], so their difference in [-1, 1]: clamping there keeps the coverage */
        double lo = fmax(-1.0, ma - mb - z * se), hi = fmin(1.0, ma - mb + z * se);
        diff = (lw_ci){.mean = ma - mb, .lo = lo, .hi = hi, .n = na < nb ? na : nb, .method = "normal-unpaired",
                      .design_effect = 1.0};
        rc = 0;
    }
    if (rc != 0) goto done;
    out = json_pack("{s:b, s:s, s:o}", "paired", same, "pairing",
                    !same ? "unpaired" : subset ? "paired on the common items" : "paired", "difference", lw_ci_json(&diff));
    if (same) json_object_set_new(out, "p_value", json_real(p));
    /* against a reference (the floor, the fitted mean) the question is whether the channel carries
     * anything beyond it, whatever its family */
    char words[64];
    if (vs) snprintf(words, sizeof words, "%s the %s", diff.lo > 0 ? "above" : "below", vs);
    const char *v = !vs ? lw_race_verdict(diff.lo, diff.hi) : diff.lo > 0 || diff.hi < 0 ? words : "no difference shown";
    json_object_set_new(out, "verdict", json_string(v));
done:
    free(va), free(vb), free(ia), free(ib);
    return out;
}

static int family_cell(const lw_race_data *d, lw_race_family f) {
    for (int k = 0; k < d->n_cells; k++)
        if (d->channels[d->cells[k].channel].family == f) return k;
    return -1;
}

/* One cell's row: accuracy with its interval and n, bits, and the comparison with the floor. */
static json_t *cell_json(const lw_race_data *d, int k, int floor, int mean) {
    const lw_race_channel *ch = &d->channels[d->cells[k].channel];
    json_t *o = json_pack("{s:s, s:s}", "channel", ch->name, "family", family_name(ch->family));
    json_object_set_new(o, "budget_bits", lw_race_channel_budgeted(ch) ? json_integer(d->cells[k].budget) : json_null());
    double *v = malloc(sizeof(double) * (size_t)(d->n_items ? d->n_items : 1));
    int *idx = malloc(sizeof(int) * (size_t)(d->n_items ? d->n_items : 1));
    int n = v && idx ? scored(d, k, v, idx) : 0;
    json_object_set_new(o, "applicable", json_boolean(n > 0));
    json_object_set_new(o, "n", json_integer(n));
    json_object_set_new(o, "not_applicable_items", json_integer(d->n_items - n));
    if (d->na[k]) json_object_set_new(o, "reason", json_string(d->na[k]));
    lw_ci ci;
    if (n > 0 && lw_ci_mean(v, n, d->resamples, d->level, d->seed, &ci) == 0) {
        int64_t sum = 0, max = 0, side = 0;
        for (int j = 0; j < n; j++) {
            size_t at = (size_t)k * d->n_items + idx[j];
            sum += d->payload_bits[at];
            if (d->payload_bits[at] > max) max = d->payload_bits[at];
            if (d->side_bits[at] > side) side = d->side_bits[at];
        }
        json_object_set_new(o, "accuracy", lw_ci_json(&ci));
        json_object_set_new(o, "payload_bits_mean", json_real((double)sum / n));
        json_object_set_new(o, "payload_bits_max", json_integer(max));
        json_object_set_new(o, "side_bits", json_integer(side));
        json_object_set_new(o, "side_bits_per_item", json_real((double)side / n));
        json_object_set_new(o, "total_bits_per_item", json_real((double)sum / n + (double)side / n));
        json_t *vf = floor >= 0 && floor != k ? compare_cells(d, k, floor, "floor") : NULL;
        if (vf) json_object_set_new(o, "minus_floor", vf);
        /* an activation row against the zero-payload control: what its payload adds to the side information */
        json_t *vm = mean >= 0 && ch->family == LW_RACE_ACT ? compare_cells(d, k, mean, "fitted mean") : NULL;
        if (vm) json_object_set_new(o, "minus_mean", vm);
    }
    free(v);
    free(idx);
    return o;
}

json_t *lw_race_report(const lw_race_data *d) {
    json_t *r = json_object(), *cells = json_array(), *comps = json_array(), *verdicts = json_object();
    int floor = family_cell(d, LW_RACE_FLOOR), mean = family_cell(d, LW_RACE_MEAN);
    for (int k = 0; k < d->n_cells; k++) json_array_append_new(cells, cell_json(d, k, floor, mean));
    /* per budget: every competing latent channel (act:, cipher) against every competing text channel */
    for (int a = 0; a < d->n_cells; a++) {
        const lw_race_channel *ca = &d->channels[d->cells[a].channel];
        if ((ca->family != LW_RACE_ACT && ca->family != LW_RACE_CIPHER) || !ca->competes) continue;
        for (int t = 0; t < d->n_cells; t++) {
            const lw_race_channel *ct = &d->channels[d->cells[t].channel];
            if (ct->family != LW_RACE_TEXT || !ct->competes || d->cells[t].budget != d->cells[a].budget) continue;
            json_t *c = compare_cells(d, a, t, NULL);
            if (!c) continue; /* a cell with nothing scored: its row says why */
            char label[96], key[32];
            snprintf(label, sizeof label, "%s - %s", ca->name, ct->name);
            snprintf(key, sizeof key, "%lld", (long long)d->cells[a].budget);
            json_t *o = json_pack("{s:I, s:s, s:s}", "budget_bits", (json_int_t)d->cells[a].budget, "activation",
                                  ca->name, "text", ct->name);
            json_object_update(o, c);
            json_decref(c);
            json_t *per = json_object_get(verdicts, key);
            if (!per) json_object_set_new(verdicts, key, per = json_object());
            const char *v = json_string_value(json_object_get(o, "verdict"));
            char shown[160];
            snprintf(shown, sizeof shown, "%s%s", v, json_is_true(json_object_get(o, "paired")) ? "" : " (unpaired)");
            json_object_set_new(per, label, json_string(shown));
            json_array_append_new(comps, o);
        }
    }
    json_object_set_new(r, "cells", cells);
    json_object_set_new(r, "comparisons", comps);
    json_object_set_new(r, "verdicts", verdicts);
    return r;
}

static void csv_num(char **w, const char *end, json_t *v, const char *fmt) {
    if (json_is_integer(v)) *w += snprintf(*w, (size_t)(end - *w), "%lld", (long long)json_integer_value(v));
    else if (json_is_number(v)) *w += snprintf(*w, (size_t)(end - *w), fmt, json_number_value(v));
}

char *lw_race_report_csv(json_t *report) {
    json_t *cells = json_object_get(report, "cells");
    size_t cap = 256 + 256 * json_array_size(cells);
    char *buf = malloc(cap), *w = buf, *end = buf + cap;
    if (!buf) return NULL;
    w += snprintf(w, cap, "channel,family,budget_bits,payload_bits,side_bits,side_bits_per_item,accuracy,lo,hi,n\n");
    size_t i;
    json_t *c;
    json_array_foreach(cells, i, c) {
        if (!json_is_true(json_object_get(c, "applicable"))) continue; /* race.json says why */
        json_t *acc = json_object_get(c, "accuracy");
        w += snprintf(w, (size_t)(end - w), "%s,%s,", json_string_value(json_object_get(c, "channel")),
                      json_string_value(json_object_get(c, "family")));
        csv_num(&w, end, json_object_get(c, "budget_bits"), "%g"); /* empty for floor and ceiling: lines */
        *w++ = ',';
        csv_num(&w, end, json_object_get(c, "payload_bits_mean"), "%.3f");
        *w++ = ',';
        csv_num(&w, end, json_object_get(c, "side_bits"), "%g");
        *w++ = ',';
        csv_num(&w, end, json_object_get(c, "side_bits_per_item"), "%.3f");
        w += snprintf(w, (size_t)(end - w), ",%.6f,%.6f,%.6f,%lld\n", json_number_value(json_object_get(acc, "mean")),
                      json_number_value(json_object_get(acc, "lo")), json_number_value(json_object_get(acc, "hi")),
                      (long long)json_integer_value(json_object_get(acc, "n")));
    }
    return buf;
}
