/* The layer scan (see scan.h): splits, the runs of every condition on both splits with
 * records that a resumed run reuses, the choice of a layer on the selection split and the
 * held-out report. The evaluator is a callback, so the choice and the report are tested on
 * planted per-layer scores; lw_scan_run plugs in the patching evaluator (scan_models.c). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "common/error.h"
#include "common/fileio.h"
#include "latentwire/records.h"
#include "latentwire/runtime.h"
#include "latentwire/scan.h"

lw_scan_params lw_scan_default_params(void) {
    return (lw_scan_params){.n_select = 20, .n_report = -1, .seed = 1, .resamples = 1000};
}

/* Conditions in storage order: floor, ceiling, then the layers. */
static int n_conditions(const lw_scan_params *p) { return p->n_layers + 2; }
static int cond_slot(int condition) { return condition == LW_SCAN_FLOOR ? 0 : condition == LW_SCAN_CEILING ? 1 : condition + 2; }
static int slot_cond(int slot) { return slot == 0 ? LW_SCAN_FLOOR : slot == 1 ? LW_SCAN_CEILING : slot - 2; }

static int receiver_layer(const lw_scan_params *p, int k) { return p->receiver_layers ? p->receiver_layers[k] : p->layers[k]; }

/* "floor", "ceiling", "layer S->R". */
static void cond_name(const lw_scan_params *p, int condition, char *buf, size_t cap) {
    if (condition == LW_SCAN_FLOOR) snprintf(buf, cap, "floor");
    else if (condition == LW_SCAN_CEILING) snprintf(buf, cap, "ceiling");
    else snprintf(buf, cap, "layer %d->%d", p->layers[condition], receiver_layer(p, condition));
}

static const char *SPLIT_NAMES[2] = {"select", "held_out"};

static double *score_at(const lw_scan_result *r, int split, int slot, int i) {
    size_t base = split == 0 ? 0 : (size_t)(r->n_layers + 2) * r->select.n;
    int stride = split == 0 ? r->select.n : r->held_out.n;
    return r->scores + base + (size_t)slot * stride + i;
}

double lw_scan_score(const lw_scan_result *r, int split, int condition, int i) {
    /* a binding's index out of range read beside the array: NaN and a message instead */
    if (!r || !r->scores) return lw_fail("lw_scan_score: the result is NULL or empty"), NAN;
    if (split != 0 && split != 1) return lw_fail("lw_scan_score: split %d: use 0 (selection) or 1 (held-out)", split), NAN;
    if (condition != LW_SCAN_FLOOR && condition != LW_SCAN_CEILING && (condition < 0 || condition >= r->n_layers))
        return lw_fail("lw_scan_score: condition %d: use LW_SCAN_FLOOR, LW_SCAN_CEILING or a layer 0..%d", condition,
                       r->n_layers - 1),
               NAN;
    int n = split == 0 ? r->select.n : r->held_out.n;
    if (i < 0 || i >= n) return lw_fail("lw_scan_score: item %d: split %d has items 0..%d", i, split, n - 1), NAN;
    return *score_at(r, split, cond_slot(condition), i);
}

/* ------------------------------------------------------------------ records */

/* Records are keyed by split, condition and item (latentwire/records.h does the rest: the
 * settings line, torn last lines, the lookup, the rewrite before appending). */
static const char *const RECORD_KEY[] = {"split", "condition", "id"};

static json_t *past_find(const lw_records *ps, const char *split, const char *cond, const char *id) {
    json_t *probe = json_pack("{s:s, s:s, s:s}", "split", split, "condition", cond, "id", id);
    char *key = probe ? lw_records_key(probe, RECORD_KEY, 3) : NULL;
    json_t *hit = key ? lw_records_find(ps, key) : NULL;
    free(key);
    json_decref(probe);
    return json_is_number(json_object_get(hit, "score")) ? hit : NULL;
}

/* sha256 over the items of both splits: a resumed run must see the very same items. */
static void items_hash(const lw_task *parts, char out[65]) {
    lw_sha256 *h = lw_sha256_begin();
    for (int p = 0; h && p < 2; p++)
        for (int i = 0; i < parts[p].n; i++) {
            const lw_task_item *it = &parts[p].items[i];
            const char *f[4] = {it->id, it->sender, it->receiver, it->gold};
            for (int k = 0; k < 4; k++) lw_sha256_update(h, f[k], strlen(f[k]) + 1); /* the NUL separates */
            lw_sha256_update(h, &p, sizeof p);
        }
    if (!h || lw_sha256_end(h, out) != 0) snprintf(out, 65, "unhashed");
}

/* The settings line's object: the caller's settings, the layers, the split sizes and the items' hash. */
static json_t *settings_object(const lw_scan_params *p, const lw_task *parts) {
    json_t *s = p->settings_json ? json_loads(p->settings_json, 0, NULL) : json_object();
    if (!json_is_object(s)) {
        json_decref(s);
        lw_fail("scan: the settings are not a JSON object");
        return NULL;
    }
    json_t *layers = json_array();
    for (int k = 0; k < p->n_layers; k++)
        json_array_append_new(layers, json_pack("[i, i]", p->layers[k], receiver_layer(p, k)));
    char h[65];
    items_hash(parts, h);
    json_object_set_new(s, "layers", layers);
    json_object_set_new(s, "select", json_integer(parts[0].n));
    json_object_set_new(s, "held_out", json_integer(parts[1].n));
    json_object_set_new(s, "items", json_string(h));
    return s;
}

/* ------------------------------------------------------------------ runs */

typedef struct {
    const lw_scan_params *p;
    lw_scan_eval_fn eval;
    void *ctx;
    FILE *rec;
    const lw_records *ps;
    int done, total;
} runner;

static int run_one(runner *R, int split, const lw_task_item *it, int condition, double *score) {
    char cname[64];
    cond_name(R->p, condition, cname, sizeof cname);
    json_t *old = past_find(R->ps, SPLIT_NAMES[split], cname, it->id);
    int rc = 0;
    if (old) {
        *score = json_number_value(json_object_get(old, "score"));
    } else {
        char *output = NULL;
        rc = R->eval(R->ctx, it, condition, score, &output);
        /* the documented range: a score of 3 entered the means, a NaN failed as "out of memory" */
        if (rc == 0 && !(*score >= 0 && *score <= 1))
            rc = lw_fail("scan: item %s, %s: score %g is not in [0, 1] (the evaluator's answer)", it->id, cname, *score);
        if (rc == 0 && R->rec) {
            /* a model's answer can end inside a UTF-8 character (or be any bytes): JSON wants characters */
            size_t n = output ? strlen(output) : 0;
            char *text = malloc(3 * n + 1);
            if (text) lw_utf8_sanitize(output ? output : "", n, text);
            json_t *line = text ? json_pack("{s:s, s:s, s:s, s:f, s:s, s:s}", "split", SPLIT_NAMES[split], "condition",
                                            cname, "id", it->id, "score", *score, "output", text, "gold", it->gold)
                                : NULL;
            if (!line) rc = lw_fail("scan: item %s: cannot make its record (out of memory, or not UTF-8)", it->id);
            else if (lw_records_write(R->rec, line) != 0) rc = lw_fail("cannot append to %s: %s", R->p->records, strerror(errno));
            json_decref(line);
            free(text);
        }
        free(output);
    }
    R->done++;
    if (R->p->progress) R->p->progress(R->p->progress_ctx, R->done, R->total);
    return rc;
}

static int run_split(runner *R, lw_scan_result *r, int split) {
    const lw_task *t = split == 0 ? &r->select : &r->held_out;
    for (int i = 0; i < t->n; i++)
        for (int slot = 0; slot < r->n_layers + 2; slot++)
            if (run_one(R, split, &t->items[i], slot_cond(slot), score_at(r, split, slot, i)) != 0) return -1;
    return 0;
}

/* ------------------------------------------------------------------ summary */

static int summarize(const lw_scan_params *p, lw_scan_result *r) {
    const int ns = r->select.n, nh = r->held_out.n;
    int rc = 0;
    for (int k = 0; rc == 0 && k < r->n_layers; k++) {
        r->layers[k].layer = p->layers[k];
        r->layers[k].receiver_layer = receiver_layer(p, k);
        rc = lw_ci_mean(score_at(r, 0, k + 2, 0), ns, p->resamples, 0.95, p->seed, &r->layers[k].select);
        if (rc == 0) rc = lw_ci_mean(score_at(r, 1, k + 2, 0), nh, p->resamples, 0.95, p->seed, &r->layers[k].held_out);
    }
    if (rc == 0) rc = lw_ci_mean(score_at(r, 1, 0, 0), nh, p->resamples, 0.95, p->seed, &r->floor);
    if (rc == 0) rc = lw_ci_mean(score_at(r, 1, 1, 0), nh, p->resamples, 0.95, p->seed, &r->ceiling);
    if (rc == 0) rc = lw_ci_mean(score_at(r, 0, 0, 0), ns, p->resamples, 0.95, p->seed, &r->floor_select);
    if (rc == 0) rc = lw_ci_mean(score_at(r, 0, 1, 0), ns, p->resamples, 0.95, p->seed, &r->ceiling_select);
    if (rc != 0) return -1;
    /* the choice sees the selection split only; ties go to the first layer listed */
    r->chosen = 0;
    for (int k = 1; k < r->n_layers; k++)
        if (r->layers[k].select.mean > r->layers[r->chosen].select.mean) r->chosen = k;
    return lw_ci_paired(score_at(r, 1, r->chosen + 2, 0), score_at(r, 1, 0, 0), nh, p->resamples, 0.95, p->seed,
                        &r->chosen_minus_floor, &r->chosen_p_value);
}

static int check_params(const lw_task *pool, const lw_scan_params *p) {
    if (!pool || !p) return lw_fail("scan: no task or no params");
    if (p->n_layers < 1 || !p->layers) return lw_fail("scan: no layers to scan");
    if (p->n_select < 1) return lw_fail("scan: the selection split needs at least 1 item (got %d)", p->n_select);
    if (p->n_report == 0) return lw_fail("scan: the held-out split needs at least 1 item");
    if (lw_eval_check_resampling("scan: --resamples", p->resamples, 0.95) != 0) return -1; /* not after the run */
    for (int a = 0; a < p->n_layers; a++)
        for (int b = a + 1; b < p->n_layers; b++)
            if (p->layers[a] == p->layers[b] && receiver_layer(p, a) == receiver_layer(p, b))
                return lw_fail("scan: layer %d->%d is listed twice", p->layers[a], receiver_layer(p, a));
    return 0;
}

int lw_scan_split(const lw_task *pool, const lw_scan_params *p, lw_task parts[2]) {
    if (!pool || !p || !parts)
        return lw_fail("lw_scan_split: the %s is NULL", !pool ? "pool" : !p ? "params" : "parts");
    memset(parts, 0, 2 * sizeof *parts);
    int sizes[2] = {p->n_select, p->n_report > 0 ? p->n_report : -1};
    char held[48];
    if (p->n_report > 0) snprintf(held, sizeof held, "%d held-out items", p->n_report);
    else snprintf(held, sizeof held, "any held-out item");
    if (lw_task_split(pool, sizes, 2, p->seed, parts) != 0)
        return lw_fail_prefix("scan: %d items cannot give %d selection items and %s: ", pool->n, p->n_select, held);
    if (parts[0].n < p->n_select || parts[1].n == 0 || (p->n_report > 0 && parts[1].n < p->n_report)) {
        int got_s = parts[0].n, got_h = parts[1].n;
        lw_task_free(&parts[0]);
        lw_task_free(&parts[1]);
        return lw_fail("scan: %d items cannot give %d selection items and %s: too few distinct texts (%d and %d "
                       "drawn)", pool->n, p->n_select, held, got_s, got_h);
    }
    return 0;
}

/* Every kept record must be one this scan makes: a split, an item of that split and a condition
 * of its layers. The others never enter the statistics, but lw_records_open would copy them into
 * the new records file (a held_out record of a selection item, say), where a verdict reads them. */
static int check_past_belongs(const lw_records *ps, const lw_scan_params *p, const lw_task parts[2], const char *from) {
    for (int j = 0; j < ps->n; j++) {
        json_t *o = ps->rec[j];
        const char *split = json_string_value(json_object_get(o, "split"));
        const char *cond = json_string_value(json_object_get(o, "condition"));
        const char *id = json_string_value(json_object_get(o, "id"));
        int sp = split && !strcmp(split, SPLIT_NAMES[0]) ? 0 : split && !strcmp(split, SPLIT_NAMES[1]) ? 1 : -1;
        bool item = false, condition = false;
        for (int i = 0; sp >= 0 && id && !item && i < parts[sp].n; i++) item = !strcmp(parts[sp].items[i].id, id);
        for (int slot = 0; cond && !condition && slot < p->n_layers + 2; slot++) {
            char cname[64];
            cond_name(p, slot_cond(slot), cname, sizeof cname);
            condition = !strcmp(cname, cond);
        }
        if (sp < 0 || !item || !condition)
            return lw_fail("--resume: %s: the record of %s, item %s (split %s) is not part of this scan (%s): the file "
                           "was edited; run without --resume to start over",
                           from, cond ? cond : "?", id ? id : "?", split ? split : "?",
                           sp < 0 ? "no such split" : !item ? "no such item in that split" : "no such condition");
    }
    return 0;
}

int lw_scan_run_eval(const lw_task *pool, const lw_scan_params *p, lw_scan_eval_fn eval, void *eval_ctx,
                     lw_scan_result *out) {
    if (!out) return lw_fail("lw_scan_run_eval: out is NULL");
    memset(out, 0, sizeof *out);
    if (check_params(pool, p) != 0) return -1;
    if (!eval) return lw_fail("lw_scan_run_eval: the eval callback is NULL");
    lw_task parts[2];
    if (lw_scan_split(pool, p, parts) != 0) return -1;
    out->select = parts[0];
    out->held_out = parts[1];
    out->n_layers = p->n_layers;
    out->layers = calloc((size_t)p->n_layers, sizeof *out->layers);
    out->scores = calloc((size_t)n_conditions(p) * (size_t)(out->select.n + out->held_out.n), sizeof(double));
    json_t *settings = settings_object(p, parts);
    lw_records ps = {0};
    FILE *rec = NULL;
    int rc = out->layers && out->scores && settings ? 0 : -1;
    if (rc == 0 && !(out->settings_json = json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS))) rc = lw_fail("out of memory");
    if (rc == 0 && p->records) {
        const char *from = p->resume_from ? p->resume_from : p->records;
        if (p->resume) rc = lw_records_load(&ps, from, settings, RECORD_KEY, 3, "score", "--resume", NULL);
        if (rc == 0 && p->resume) rc = lw_records_check_range(&ps, from, "score", 0, 1, false, "--resume");
        if (rc == 0 && p->resume) rc = check_past_belongs(&ps, p, parts, from);
        if (rc == 0 && !(rec = lw_records_open(p->records, settings, &ps))) rc = -1;
    }
    runner R = {.p = p, .eval = eval, .ctx = eval_ctx, .rec = rec, .ps = &ps,
                .total = n_conditions(p) * (out->select.n + out->held_out.n)};
    if (rc == 0) rc = run_split(&R, out, 0);
    if (rc == 0) rc = run_split(&R, out, 1);
    if (rec && fclose(rec) != 0 && rc == 0) rc = lw_fail("cannot write %s: %s", p->records, strerror(errno));
    if (rc == 0) rc = summarize(p, out);
    lw_records_free(&ps);
    json_decref(settings);
    if (rc != 0) lw_scan_result_free(out);
    return rc;
}

void lw_scan_result_free(lw_scan_result *r) {
    if (!r) return;
    lw_task_free(&r->select);
    lw_task_free(&r->held_out);
    free(r->layers);
    free(r->scores);
    free(r->settings_json);
    memset(r, 0, sizeof *r);
}
