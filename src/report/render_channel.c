/* channel: its --json summary, or its --out per-item records (accuracy per condition recomputed
 * with lw_ci_mean, paired differences against text with lw_ci_paired, as channel prints them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latentwire/retrieval.h"
#include "report/report_internal.h"

typedef struct {
    const char *name, *reason; /* reason: not applicable, why (NULL: it ran) */
    double mean, lo, hi, msg_bytes, wall_s;
    int n;
} row;

typedef struct {
    const char *name, *against;
    double mean, lo, hi, p;
    int n;
} diff;

/* "latentwire channel --sender <sha256> ...": the recorded settings as options (models and the
 * task are recorded by their sha256). */
/* A cost as a run writes it: bytes in [0, 2^53] (a record's a whole count; a summary's a mean),
 * seconds in [0, 1e9), either absent. (An edited 1e308 seconds was drawn as "inf" ms.) 0, or -1
 * naming the field. */
static int check_costs(double bytes, double wall_s, bool whole, const char *what, const char *key, const char *field) {
    if (!isnan(bytes) && !(bytes >= 0 && bytes <= 9007199254740992.0 && (!whole || bytes == floor(bytes))))
        return lw_fail("%s%s%s.message_bytes is %g: a run writes %s >= 0; the file was edited or damaged, make it again",
                       what, key, field, bytes, whole ? "a whole count" : "a mean of counts");
    if (!isnan(wall_s) && !(wall_s >= 0 && wall_s < 1e9))
        return lw_fail("%s%s%s.wall_s is %g: a run writes seconds in [0, 1e9); the file was edited or damaged, make it "
                       "again", what, key, field, wall_s);
    return 0;
}

static char *command_of(json_t *settings) {
    lw_html c = {0};
    lw_html_raw(&c, "latentwire channel");
    const char *k;
    json_t *v;
    json_object_foreach(settings, k, v) {
        if (json_is_null(v) || json_is_false(v)) continue;
        lw_html_rawf(&c, " %s", k);
        if (json_is_true(v)) continue;
        if (json_is_string(v)) lw_html_rawf(&c, " %s", json_string_value(v));
        else if (json_is_integer(v)) lw_html_rawf(&c, " %lld", (long long)json_integer_value(v));
        else if (json_is_real(v)) lw_html_rawf(&c, " %g", json_real_value(v));
    }
    return c.s;
}

static void tables_and_figure(lw_html *h, lw_report_ctx *ctx, const row *rows, int n_rows, const diff *diffs,
                              int n_diffs, json_t *settings, const char *how) {
    lw_fig_begin(h, ctx, "Channels: accuracy per condition (95% CI), paired differences on the same items");
    lw_plot_point *pts = calloc((size_t)n_rows + 1, sizeof *pts);
    lw_plot_tick *ticks = calloc((size_t)n_rows + 1, sizeof *ticks);
    int np = 0;
    for (int r = 0; pts && ticks && r < n_rows; r++) {
        if (rows[r].reason) continue;
        pts[np] = (lw_plot_point){.x = np, .y = rows[r].mean, .lo = rows[r].lo, .hi = rows[r].hi, .label = rows[r].name};
        ticks[np] = (lw_plot_tick){.value = np, .label = rows[r].name};
        np++;
    }
    if (np > 0) {
        lw_plot_series s = {.name = "accuracy", .pts = pts, .n = np, .points_only = true};
        lw_plot p = {.title = "Accuracy per channel",
                     .x_label = "channel",
                     .y_label = "accuracy",
                     .y_min = 0,
                     .y_max = 1,
                     .x_ticks = ticks,
                     .n_x_ticks = np,
                     .series = &s,
                     .n_series = 1};
        lw_svg_curve(h, &p); /* numbers checked finite by the callers */
    }
    free(pts);
    free(ticks);
    static const char *const head[] = {"condition", "n", "accuracy [95% CI]", "message bytes / item", "ms / item"};
    lw_table_begin(h, "data", head, 5);
    for (int r = 0; r < n_rows; r++) {
        char n[32], acc[300], bytes[32], ms[32];
        const char *cls[] = {NULL, NULL, rows[r].reason ? "na" : NULL, NULL, NULL};
        if (rows[r].reason) {
            snprintf(acc, sizeof acc, "not applicable: %s", rows[r].reason);
            const char *cells[] = {rows[r].name, "-", acc, "-", "-"};
            lw_table_row(h, cells, cls, 5);
            continue;
        }
        snprintf(n, sizeof n, "%d", rows[r].n);
        lw_fmt_ci(acc, sizeof acc, rows[r].mean, rows[r].lo, rows[r].hi, false);
        snprintf(bytes, sizeof bytes, isnan(rows[r].msg_bytes) ? "-" : "%.1f", rows[r].msg_bytes);
        snprintf(ms, sizeof ms, isnan(rows[r].wall_s) ? "-" : "%.1f", 1000 * rows[r].wall_s);
        const char *cells[] = {rows[r].name, n, acc, bytes, ms};
        lw_table_row(h, cells, cls, 5);
    }
    lw_table_end(h);
    if (n_diffs > 0) {
        static const char *const dh[] = {"condition", "against", "difference [95% CI]", "n", "p"};
        lw_table_begin(h, "data", dh, 5);
        for (int d = 0; d < n_diffs; d++) {
            char ci[96], n[32], p[32];
            lw_fmt_ci(ci, sizeof ci, diffs[d].mean, diffs[d].lo, diffs[d].hi, true);
            snprintf(n, sizeof n, diffs[d].n > 0 ? "%d" : "-", diffs[d].n);
            snprintf(p, sizeof p, "%.3g", diffs[d].p);
            const char *cells[] = {diffs[d].name, diffs[d].against, ci, n, p};
            lw_table_row(h, cells, NULL, 5);
        }
        lw_table_end(h);
    }
    lw_note(h, how);
    char *cmd = json_is_object(settings) ? command_of(settings) : NULL;
    if (!cmd) lw_note(h, "The file records no settings (written before channel recorded them).");
    else lw_note(h, "The command is rebuilt from the settings the file records; models and the task are recorded "
                    "by their sha256.");
    lw_fig_provenance(h, cmd, settings);
    free(cmd);
    lw_fig_end(h);
}

/* ---- the --json summary ---- */

static bool detect_summary(const lw_report_input *in) {
    return json_is_object(json_object_get(in->doc, "conditions")) &&
           json_is_object(json_object_get(in->doc, "differences")) && json_object_get(in->doc, "settings");
}

static int render_summary(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
    json_t *conds = json_object_get(in->doc, "conditions"), *diffs = json_object_get(in->doc, "differences");
    row *rows = calloc(json_object_size(conds) + 1, sizeof *rows);
    diff *ds = calloc(json_object_size(diffs) + 1, sizeof *ds);
    int nr = 0, nd = 0, rc = rows && ds ? 0 : lw_fail("out of memory");
    const char *k;
    json_t *v;
    json_object_foreach(conds, k, v) {
        if (rc) break;
        row *r = &rows[nr++];
        *r = (row){.name = k, .msg_bytes = NAN, .wall_s = NAN};
        if (json_is_false(json_object_get(v, "applicable"))) {
            r->reason = lw_jstr(v, "reason") ? lw_jstr(v, "reason") : "(no reason recorded)";
            continue;
        }
        /* channel --json writes both whole for every condition that ran (row_json): a missing one
         * is named by the reader */
        if (!lw_jci_req(lw_jobj_req(v, "accuracy"), &r->mean, &r->lo, &r->hi, &r->n)) rc = -1;
        json_t *cost = lw_jobj_req(v, "mean_cost");
        r->msg_bytes = cost ? lw_jnum_req(cost, "message_bytes") : NAN;
        r->wall_s = cost ? lw_jnum_req(cost, "wall_s") : NAN;
        if (!cost || isnan(r->msg_bytes) || isnan(r->wall_s)) rc = -1;
        if (rc == 0) rc = check_costs(r->msg_bytes, r->wall_s, false, "conditions.", k, ".mean_cost");
    }
    json_object_foreach(diffs, k, v) {
        if (rc) break;
        diff *d = &ds[nd++];
        *d = (diff){.name = k, .against = lw_jstr(v, "against"), .mean = lw_jnum_req(v, "mean"),
                    .lo = lw_jnum_req(v, "lo"), .hi = lw_jnum_req(v, "hi"), .p = lw_jnum_req(v, "p_value")};
        /* channel --json writes all four (and no n: drawn as "-") */
        if (isnan(d->mean) || isnan(d->lo) || isnan(d->hi) || isnan(d->p)) rc = -1;
    }
    if (rc == 0)
        tables_and_figure(h, ctx, rows, nr, ds, nd, json_object_get(in->doc, "settings"),
                          "As channel --json recorded them (differences: Newcombe's interval for paired proportions, "
                          "McNemar's exact p).");
    free(rows);
    free(ds);
    return rc;
}

/* ---- the --out records ---- */

static bool is_settings_line(json_t *o) { return json_object_size(o) == 1 && json_is_object(json_object_get(o, "settings")); }

static bool detect_records(const lw_report_input *in) {
    size_t i, n = 0;
    json_t *o;
    json_array_foreach(in->lines, i, o) {
        /* a scan's records have the same fields; their settings name the scanned layers */
        if (i == 0 && is_settings_line(o) && json_object_get(json_object_get(o, "settings"), "layers")) return false;
        if (i == 0 && is_settings_line(o)) continue;
        if (!lw_jstr(o, "condition") || !lw_jstr(o, "id") || !json_is_number(json_object_get(o, "score"))) return false;
        n++;
    }
    return n > 0;
}

/* Reported records only: a "split" other than "report" (selection sweeps) is left out. */
static bool reported(json_t *o) {
    const char *s = lw_jstr(o, "split");
    return !s || !strcmp(s, "report");
}

static int condition_index(const char **names, int *n, const char *name) {
    for (int i = 0; i < *n; i++)
        if (!strcmp(names[i], name)) return i;
    names[*n] = name;
    return (*n)++;
}

typedef struct {
    const char *id;
    double score;
} scored;

static int by_id(const void *a, const void *b) { return strcmp(((const scored *)a)->id, ((const scored *)b)->id); }

/* The reported (id, score) records of one condition in file order (sorted by id when sort). Their count. */
static int condition_scores(json_t *lines, const char *c, bool sort, scored *out) {
    int n = 0;
    size_t i;
    json_t *x;
    json_array_foreach(lines, i, x) {
        if (!lw_jstr(x, "condition") || strcmp(lw_jstr(x, "condition"), c) || !reported(x)) continue;
        out[n++] = (scored){lw_jstr(x, "id"), lw_jnum(x, "score")};
    }
    if (sort) qsort(out, (size_t)n, sizeof *out, by_id);
    return n;
}

/* The scores of condition c on the items both it and the reference (sorted by id) have, in the
 * file's order (the item order channel itself resamples in). */
static int pair_scores(json_t *lines, const char *c, const scored *ref, int n_ref, scored *tmp, double *a, double *b) {
    int n = 0, nc = condition_scores(lines, c, false, tmp);
    for (int i = 0; i < nc; i++) {
        const scored *r = bsearch(&tmp[i], ref, (size_t)n_ref, sizeof *ref, by_id);
        if (!r) continue;
        a[n] = tmp[i].score;
        b[n++] = r->score;
    }
    return n;
}

static int render_records(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
    json_t *lines = in->lines, *first = json_array_get(lines, 0);
    json_t *settings = is_settings_line(first) ? json_object_get(first, "settings") : NULL;
    json_t *seed_v = json_object_get(settings, "--seed");
    uint64_t seed = json_is_integer(seed_v) ? (uint64_t)json_integer_value(seed_v) : ctx->params->seed;
    size_t nl = json_array_size(lines);
    const char **names = calloc(nl + 1, sizeof *names);
    row *rows = calloc(nl + 1, sizeof *rows);
    diff *ds = calloc(nl + 1, sizeof *ds);
    double *a = calloc(nl + 1, sizeof *a), *b = calloc(nl + 1, sizeof *b);
    int nc = 0, nd = 0, rc = names && rows && ds && a && b ? 0 : lw_fail("out of memory");
    size_t i;
    json_t *o;
    json_array_foreach(lines, i, o) if (rc == 0 && lw_jstr(o, "condition") && reported(o))
        condition_index(names, &nc, lw_jstr(o, "condition"));
    int ref = -1;
    for (int c = 0; rc == 0 && c < nc; c++) {
        int n = 0;
        double bytes = 0, wall = 0;
        json_array_foreach(lines, i, o) {
            if (!lw_jstr(o, "condition") || strcmp(lw_jstr(o, "condition"), names[c]) || !reported(o)) continue;
            a[n++] = lw_jnum(o, "score");
            /* channel writes a cost with every record (cost_json; a kept one is checked on --resume) */
            json_t *cost = lw_jobj_req(o, "cost");
            const double b1 = cost ? lw_jnum_req(cost, "message_bytes") : NAN;
            const double w1 = cost ? lw_jnum_req(cost, "wall_s") : NAN;
            if (isnan(b1) || isnan(w1)) rc = -1;
            char where[48];
            snprintf(where, sizeof where, "[%zu]", i);
            if (rc == 0) rc = check_costs(b1, w1, true, "record", where, ".cost");
            bytes += b1;
            wall += w1;
        }
        if (rc != 0) break;
        lw_ci ci;
        if (lw_ci_mean(a, n, ctx->params->resamples, 0.95, seed, &ci) != 0) rc = -1;
        rows[c] = (row){.name = names[c], .mean = ci.mean, .lo = ci.lo, .hi = ci.hi, .n = n, .msg_bytes = bytes / n,
                        .wall_s = wall / n};
        if (ref < 0 || !strcmp(names[c], "text")) ref = c;
    }
    scored *refs = calloc(nl + 1, sizeof *refs), *tmp = calloc(nl + 1, sizeof *tmp);
    int n_ref = 0;
    if (rc == 0 && (!refs || !tmp)) rc = lw_fail("out of memory");
    if (rc == 0 && ref >= 0) n_ref = condition_scores(lines, names[ref], true, refs);
    for (int c = 0; rc == 0 && c < nc; c++) {
        if (c == ref) continue;
        int n = pair_scores(lines, names[c], refs, n_ref, tmp, a, b);
        if (n == 0) continue;
        lw_ci d;
        double p;
        if (lw_ci_paired(a, b, n, ctx->params->resamples, 0.95, seed, &d, &p) != 0) rc = -1;
        ds[nd++] = (diff){.name = names[c], .against = names[ref], .mean = d.mean, .lo = d.lo, .hi = d.hi, .p = p, .n = n};
    }
    if (rc == 0 && nc == 0) rc = lw_fail("no reported records (every record has a split other than \"report\")");
    if (rc == 0) {
        char how[300];
        snprintf(how, sizeof how, "Recomputed from the per-item records (reported items only): accuracy with lw_ci_mean "
                                  "(exact Clopper-Pearson for 0/1 scores), differences with lw_ci_paired (Newcombe, "
                                  "McNemar's exact p); seed %llu, %d resamples.",
                 (unsigned long long)seed, ctx->params->resamples);
        tables_and_figure(h, ctx, rows, nc, ds, nd, settings, how);
    }
    free(refs);
    free(tmp);
    free(names);
    free(rows);
    free(ds);
    free(a);
    free(b);
    return rc;
}

static bool detect(const lw_report_input *in) { return in->doc ? detect_summary(in) : detect_records(in); }

static int render(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx) {
    return in->doc ? render_summary(h, in, ctx) : render_records(h, in, ctx);
}

const lw_report_renderer *lw_render_channel(void) {
    static const lw_report_renderer r = {"channel", detect, render};
    return &r;
}
