/* The channel experiment (latentwire/channel_experiment.h): conditions, the selection and
 * calibration splits, resumable per-item records, statistics and the JSON summary. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "eval/eval.h"
#include "latentwire/channel_experiment.h"
#include "latentwire/error.h"
#include "latentwire/files.h"
#include "latentwire/json.h"
#include "latentwire/records.h"
#include "latentwire/textio.h"

/* A family of AC settings swept together: one of them is reported. */
typedef enum { FAM_FIXED = 0, FAM_AC, FAM_ACW } family;

typedef struct {
    char name[64];
    lw_channel_params p;
    family fam;
    lw_bridge *fitted;          /* acw: the owned ridge map */
    char not_applicable[256];   /* refused up front for these models: why (empty: runs) */
} condition;

struct lw_channel_experiment {
    lw_session *sa, *sb;
    lw_channel_experiment_params p;
    lw_bridge *bridge;          /* p.ac_bridge, loaded */
    condition *c;
    int n;
    int n_select, n_calib;      /* items needed besides the reported ones */
};

lw_channel_experiment_params lw_channel_experiment_default_params(void) {
    return (lw_channel_experiment_params){.sender = "", .receiver = "", .task = "", .channels = "none,text,ac",
                                          .k_layers = "mid", .j_layers = "mid", .ops = "replace", .select = 100,
                                          .calib = 200, .message_tokens = 24, .answer_tokens = 8, .temp = -1.0f,
                                          .top_p = 1.0f, .onehot = 2.0f, .seed = 1, .resamples = 1000};
}

static condition *add_condition(lw_channel_experiment *e, const char *name, lw_channel_params p, family fam) {
    condition *grown = realloc(e->c, sizeof *e->c * (size_t)(e->n + 1));
    if (!grown) return NULL;
    e->c = grown;
    condition *c = &e->c[e->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->p = p;
    c->fam = fam;
    return c;
}

/* s is a whole integer in [lo, hi] (spaces around it allowed). */
static bool parse_int_in(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    while (end != s && (*end == ' ' || *end == '\t' || *end == '\n')) end++;
    if (end == s || *end || errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* A --k / --j list: layer numbers or "mid", resolved against the model's n_layer into
 * distinct layers. The count or -1 (message set). */
static int parse_layer_list(const char *option, const char *spec, int n_layer, const char *whose, int *out, int cap) {
    char **items;
    int n = lw_list_split(option, spec, &items);
    if (n < 0) return -1;
    int rc = n <= cap ? 0 : lw_fail("%s \"%s\": at most %d layers", option, spec, cap);
    for (int i = 0; rc == 0 && i < n; i++) {
        long l = LW_AC_LAYER_MIDDLE;
        if (strcmp(items[i], "mid") && !parse_int_in(items[i], -n_layer, n_layer - 1, &l))
            rc = lw_fail("%s \"%s\": \"%s\" is not a layer of the %s: use mid or -%d..%d", option, spec, items[i], whose,
                         n_layer, n_layer - 1);
        if (rc == 0) out[i] = lw_channel_resolve_layer((int)l, n_layer);
        for (int j = 0; rc == 0 && j < i; j++)
            if (out[j] == out[i])
                rc = lw_fail("%s \"%s\": \"%s\" and \"%s\" are the same layer (%d)", option, spec, items[j], items[i],
                             out[i]);
    }
    free(items);
    return rc == 0 ? n : -1;
}

/* The channel parameters every condition starts from. */
static lw_channel_params base_params(const lw_channel_experiment_params *o) {
    lw_channel_params base = lw_channel_default_params();
    base.message_tokens = o->message_tokens;
    base.answer_tokens = o->answer_tokens;
    base.cipher_top_k = o->top_k;
    base.cipher_top_p = o->top_p;
    base.cipher_onehot = o->onehot;
    base.seed = o->seed;
    base.chat = o->chat;
    return base;
}

/* One row per (k, j, op) of an AC family. 0 or -1. */
static int add_sweep(lw_channel_experiment *e, const char *t, lw_channel_params p, bool acw, const int *ks, int nk,
                     const int *js, int nj, char **ops, int nop) {
    for (int q = 0; q < nop; q++)
        for (int a = 0; a < nk; a++)
            for (int b = 0; b < nj; b++) {
                char name[64];
                snprintf(name, sizeof name, "%s[k=%d,j=%d,%s]", t, ks[a], js[b], ops[q]);
                p.ac_k = ks[a];
                p.ac_j = js[b];
                p.ac_op = (lw_ac_op)lw_ac_op_from_name(ops[q]);
                condition *c = add_condition(e, name, p, acw ? FAM_ACW : FAM_AC);
                if (!c) return lw_fail("channel: out of memory");
                if (acw && e->bridge) c->p.ac_bridge = e->bridge;
            }
    return 0;
}

/* A text or CIPHER message of --message-tokens must fit both contexts: the sender holds its text
 * and the message, the receiver the message, the query and the answer. Checked before any work:
 * otherwise a long CIPHER message failed at the first item with "tokens do not fit the context
 * ... use shorter texts", naming neither the option nor its limit. At least one token of text and
 * of query is counted. */
static int check_message_fits(const lw_channel_experiment *e, const char *channel) {
    const lw_channel_experiment_params *o = &e->p;
    int send_ctx = lw_session_n_ctx(e->sa), recv_ctx = lw_session_n_ctx(e->sb);
    int by_sender = send_ctx - 1, by_receiver = recv_ctx - 1 - o->answer_tokens;
    int most = by_sender < by_receiver ? by_sender : by_receiver;
    if (o->message_tokens <= most) return 0;
    if (most < 1)
        return lw_fail("--answer-tokens %d: the answer leaves no room for a %s message in the receiver's context of %d "
                       "tokens",
                       o->answer_tokens, channel, recv_ctx);
    return lw_fail("--message-tokens %d: a %s message of that length does not fit: the sender's context holds %d "
                   "tokens (its text and the message) and the receiver's %d (the message, the query and %d answer "
                   "tokens): use at most %d, less the tokens of the texts",
                   o->message_tokens, channel, send_ctx, recv_ctx, o->answer_tokens, most);
}

/* The conditions of one --channel item; those these models cannot run are marked not
 * applicable (with the reason) so the others still run. 0 or -1. */
static int add_channel(lw_channel_experiment *e, const char *t, lw_channel_params p, const int *ks, int nk,
                       const int *js, int nj, char **ops, int nop) {
    const lw_channel_experiment_params *o = &e->p;
    bool acw = !strcmp(t, "acw");
    int kind = acw ? LW_CHANNEL_AC : lw_channel_from_name(t);
    if (kind < 0) return lw_fail("--channel \"%s\": use none, context, text, cipher, ac or acw", t);
    lw_model_info ia, ib;
    lw_model_get_info(lw_session_model(e->sa), &ia);
    lw_model_get_info(lw_session_model(e->sb), &ib);
    p.kind = (lw_channel_kind)kind;
    if (kind == LW_CHANNEL_TEXT) p.sender_temp = o->temp >= 0 ? o->temp : 0.0f;
    if (kind == LW_CHANNEL_CIPHER) p.sender_temp = o->temp >= 0 ? o->temp : 1.0f;
    if ((kind == LW_CHANNEL_TEXT || kind == LW_CHANNEL_CIPHER) && check_message_fits(e, t) != 0) return -1;
    if (kind != LW_CHANNEL_AC) {
        condition *c = add_condition(e, t, p, FAM_FIXED);
        if (!c) return lw_fail("channel: out of memory");
        if (kind == LW_CHANNEL_CIPHER && !lw_model_same_vocab(lw_session_model(e->sa), lw_session_model(e->sb)))
            snprintf(c->not_applicable, sizeof c->not_applicable,
                     "the sender's and the receiver's vocabularies differ; CIPHER needs one vocabulary");
        return 0;
    }
    if (!acw && ia.n_embd != ib.n_embd) { /* one row says why; no sweep */
        condition *c = add_condition(e, t, p, FAM_AC);
        if (!c) return lw_fail("channel: out of memory");
        snprintf(c->not_applicable, sizeof c->not_applicable,
                 "the sender is %d wide and the receiver %d; grafting across widths needs a map: use acw", ia.n_embd,
                 ib.n_embd);
        return 0;
    }
    return add_sweep(e, t, p, acw, ks, nk, js, nj, ops, nop);
}

/* Every condition the lists ask for (acw maps are fitted later: fit_maps). 0 or -1. */
static int build_conditions(lw_channel_experiment *e) {
    const lw_channel_experiment_params *o = &e->p;
    lw_model_info ia, ib;
    lw_model_get_info(lw_session_model(e->sa), &ia);
    lw_model_get_info(lw_session_model(e->sb), &ib);
    char **chans = NULL, **ops = NULL;
    int ks[32], js[32], rc = 0;
    int nc = lw_list_split("--channel", o->channels, &chans), nop = nc < 0 ? -1 : lw_list_split("--op", o->ops, &ops);
    int nk = nop < 0 ? -1 : parse_layer_list("--k", o->k_layers, ia.n_layer, "sender", ks, 32);
    int nj = nk < 0 ? -1 : parse_layer_list("--j", o->j_layers, ib.n_layer, "receiver", js, 32);
    if (nc < 0 || nop < 0 || nk < 0 || nj < 0) rc = -1;
    for (int i = 0; rc == 0 && i < nop; i++)
        if (lw_ac_op_from_name(ops[i]) < 0) rc = lw_fail("--op \"%s\": use replace, sum or mean", ops[i]);
    lw_channel_params base = base_params(o);
    for (int ci = 0; rc == 0 && ci < nc; ci++) rc = add_channel(e, chans[ci], base, ks, nk, js, nj, ops, nop);
    free(chans);
    free(ops);
    return rc;
}

/* Settings of a family that run (a family of one needs no selection). */
static int family_size(const lw_channel_experiment *e, family f) {
    int n = 0;
    for (int c = 0; c < e->n; c++) n += e->c[c].fam == f && !e->c[c].not_applicable[0];
    return n;
}

static bool any_applicable(const lw_channel_experiment *e) {
    for (int c = 0; c < e->n; c++)
        if (!e->c[c].not_applicable[0]) return true;
    return false;
}

/* A given ac_bridge is used where it was fitted: by an acw condition (else it is refused, not
 * ignored), on last-token rows (acw's) of the blocks and models each acw condition reads. 0 or -1. */
static int check_ac_bridge(const lw_channel_experiment *e) {
    if (!e->bridge) return 0;
    int used = 0;
    for (int c = 0; c < e->n; c++) {
        const condition *x = &e->c[c];
        if (x->fam != FAM_ACW || x->not_applicable[0]) continue;
        used++;
        char ta[32], tb[32];
        snprintf(ta, sizeof ta, "layer.%d", x->p.ac_k);
        snprintf(tb, sizeof tb, "layer.%d", x->p.ac_j);
        if (lw_bridge_check_fit(e->bridge, "source", ta, lw_model_sha256(lw_session_model(e->sa)), "last") != 0 ||
            lw_bridge_check_fit(e->bridge, "target", tb, lw_model_sha256(lw_session_model(e->sb)), "last") != 0) {
            char why[512]; /* lw_fail writes the buffer lw_last_error reads */
            snprintf(why, sizeof why, "%s", lw_last_error());
            return lw_fail("ac_bridge %s, for %s: %s", e->p.ac_bridge, x->name, why);
        }
    }
    if (!used) return lw_fail("ac_bridge %s: no acw channel uses it (channels %s): add acw, or leave the bridge out",
                              e->p.ac_bridge, e->p.channels);
    return 0;
}

/* The numeric settings, refused up front by their options: lw_channel_run refused most of them
 * only at the first item (with the records begun, naming its own fields), a NaN --temp failed
 * `temp >= 0` and ran as the default, and --resamples 0 left every accuracy a zero interval
 * (lw_ci_mean refused, unseen). The selection and calibration sizes only where they are used:
 * --select 0 chose a setting on no items. 0 or -1. */
static int check_settings(const lw_channel_experiment_params *p) {
    if (isnan(p->temp) || isinf(p->temp))
        return lw_fail("--temp %g: use a finite temperature >= 0, or < 0 for the default", (double)p->temp);
    if (p->message_tokens < 1) return lw_fail("--message-tokens %d: use at least 1", p->message_tokens);
    if (p->answer_tokens < 1) return lw_fail("--answer-tokens %d: use at least 1", p->answer_tokens);
    if (p->top_k < 0) return lw_fail("--top-k %d: use 0 (off) or at least 1", p->top_k);
    if (!(p->top_p > 0 && p->top_p <= 1)) return lw_fail("--top-p %g: use a value in (0, 1] (1: off)", (double)p->top_p);
    if (!(p->onehot >= 0)) return lw_fail("--onehot %g: use a value >= 0 (above 1: never)", (double)p->onehot);
    if (lw_eval_check_resampling("--resamples", p->resamples, 0.95) != 0) return -1;
    /* the two outputs apart (as the CLI checks them): --out and --json one file had the records
     * renamed over the summary just written */
    const lw_output_spec outs[] = {{"--out", p->records, LW_OUT_PARTIAL}, {"--json", p->summary, LW_OUT_FILE}};
    return lw_outputs_distinct(outs, 2);
}

lw_channel_experiment *lw_channel_experiment_new(lw_session *sender, lw_session *receiver,
                                                 const lw_channel_experiment_params *p) {
    if (!sender || !receiver || !p)
        return lw_fail("lw_channel_experiment_new: the %s is NULL", !sender ? "sender" : !receiver ? "receiver" : "params"),
               NULL;
    if (check_settings(p) != 0) return NULL;
    lw_channel_experiment *e = calloc(1, sizeof *e);
    if (!e) return lw_fail("channel: out of memory"), NULL;
    e->sa = sender;
    e->sb = receiver;
    e->p = *p;
    if ((p->ac_bridge && !(e->bridge = lw_bridge_load(p->ac_bridge))) || build_conditions(e) != 0 ||
        check_ac_bridge(e) != 0) {
        lw_channel_experiment_free(e);
        return NULL;
    }
    if (!any_applicable(e)) {
        lw_fail("nothing to run: %s: %s", e->c[0].name, e->c[0].not_applicable);
        lw_channel_experiment_free(e);
        return NULL;
    }
    /* --chat needs both templates: found here, not at the first item (with a records file begun) */
    for (int k = 0; p->chat && k < 2; k++) {
        const lw_model *m = lw_session_model(k == 0 ? sender : receiver);
        char *pre = NULL, *suf = NULL;
        int rc = lw_chat_affixes(m, &pre, &suf);
        free(pre);
        free(suf);
        if (rc != 0) {
            lw_model_info in;
            lw_model_get_info(m, &in);
            char why[512];
            snprintf(why, sizeof why, "%s", lw_last_error()); /* lw_fail writes where it lives */
            lw_fail("--chat: the %s: %s", k == 0 ? "sender" : "receiver", why);
            lw_channel_experiment_free(e);
            return NULL;
        }
    }
    e->n_select = family_size(e, FAM_AC) > 1 || family_size(e, FAM_ACW) > 1 ? p->select : 0;
    e->n_calib = family_size(e, FAM_ACW) > 0 && !e->bridge ? p->calib : 0;
    bool sweeps = family_size(e, FAM_AC) > 1 || family_size(e, FAM_ACW) > 1;
    bool fits = family_size(e, FAM_ACW) > 0 && !e->bridge;
    if ((sweeps && p->select < 1) || (fits && p->calib < 1)) {
        if (sweeps && p->select < 1)
            lw_fail("--select %d: a family that sweeps settings chooses one on selection items: use at least 1",
                    p->select);
        else
            lw_fail("--calib %d: acw without --ac-bridge fits its maps on calibration items: use at least 1", p->calib);
        lw_channel_experiment_free(e);
        return NULL;
    }
    return e;
}

void lw_channel_experiment_free(lw_channel_experiment *e) {
    if (!e) return;
    for (int c = 0; c < e->n; c++) lw_bridge_free(e->c[c].fitted);
    free(e->c);
    lw_bridge_free(e->bridge);
    free(e);
}

void lw_channel_experiment_needs(const lw_channel_experiment *e, int *n_select, int *n_calib) {
    if (!e) lw_fail("lw_channel_experiment_needs: the experiment is NULL"); /* a void call: 0 and 0 */
    if (n_select) *n_select = e ? e->n_select : 0;
    if (n_calib) *n_calib = e ? e->n_calib : 0;
}

/* ------------------------------------------------------------------ one run */

/* Past records of an interrupted run, found by "split\tcondition\tid". */
static const char *const PAST_KEY[] = {"split", "condition", "id"};

static json_t *past_find(const lw_records *ps, const char *split, const char *cond, const char *id) {
    json_t *probe = json_pack("{s:s, s:s, s:s}", "split", split, "condition", cond, "id", id);
    char *k = lw_records_key(probe, PAST_KEY, 3);
    json_t *found = lw_records_find(ps, k);
    free(k);
    json_decref(probe);
    return found;
}

static json_t *cost_json(const lw_channel_cost *c) {
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "a_forwarded", (json_int_t)c->a_forwarded,
                     "a_generated", (json_int_t)c->a_generated, "b_forwarded", (json_int_t)c->b_forwarded,
                     "b_generated", (json_int_t)c->b_generated, "a_passes", (json_int_t)c->a_passes, "b_passes",
                     (json_int_t)c->b_passes, "message_floats", (json_int_t)c->message_floats, "message_bytes",
                     (json_int_t)c->message_bytes, "wall_s", c->wall_s);
}

/* One run of the experiment: its parts, records, progress and the summary being built. */
typedef struct {
    lw_channel_experiment *e;
    lw_task parts[3];           /* selection, calibration, reported (owned; see report) */
    const lw_task *report;      /* parts[2], or the pool itself when nothing is split off */
    FILE *rec;
    char *partial;
    const char *past_path;      /* where the kept records were read: the partial, or a finished run's records */
    lw_records past;
    int done, total;
    json_t *root;
    lw_channel_experiment_result *r;
} runner;

/* The record of one run, written to the records file. 0 or -1 (message set). */
static int write_record(runner *R, const char *split, const condition *c, const lw_task_item *it,
                        const lw_channel_result *res, double score, json_t *cost) {
    /* generated text may end inside a UTF-8 character (byte-level tokens): JSON holds whole
     * characters (lw_json_text), or json_pack would refuse the line */
    json_t *line = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:f, s:O}", "split", split, "condition", c->name,
                             "id", it->id, "receiver", it->receiver, "message", lw_json_text(res->message), "output",
                             lw_json_text(res->output), "gold", it->gold, "score", score, "cost", cost);
    int wrc = lw_records_write(R->rec, line);
    json_decref(line);
    return wrc == 0 ? 0 : lw_fail("cannot write the records: %s", strerror(errno));
}

/* Condition c on item it: a past record's score and cost, or a fresh run (recorded). 0 or -1. */
static int run_one(runner *R, const char *split, const condition *c, const lw_task_item *it, double *score,
                   json_t **cost) {
    json_t *old = R->rec ? past_find(&R->past, split, c->name, it->id) : NULL;
    if (old) {
        *score = json_number_value(json_object_get(old, "score"));
        *cost = json_incref(json_object_get(old, "cost"));
        R->done++;
        return 0;
    }
    lw_channel_result res;
    if (lw_channel_run(R->e->sa, R->e->sb, &c->p, it->sender, it->receiver, &res, NULL) != 0)
        return lw_fail_prefix("item %s, %s: ", it->id, c->name);
    *score = lw_score(it, res.output);
    if (isnan(*score)) { /* an item no score can be given (lw_score says why) */
        lw_channel_result_free(&res);
        return -1;
    }
    *cost = cost_json(&res.cost);
    int rc = R->rec ? write_record(R, split, c, it, &res, *score, *cost) : 0;
    lw_channel_result_free(&res);
    if (rc != 0) return -1;
    R->done++;
    if (R->e->p.on_progress) R->e->p.on_progress(R->e->p.progress_ctx, R->done, R->total);
    return 0;
}

/* Runs each applicable condition on each item of one split (past records reused), writing records.
 * scores[c * t->n + i] and costs likewise. 0 or -1 (message set). */
static int run_split(runner *R, const char *split, const lw_task *t, condition *const *cs, int n_cs, double *scores,
                     json_t **costs) {
    for (int i = 0; i < t->n; i++)
        for (int c = 0; c < n_cs; c++) {
            if (cs[c]->not_applicable[0]) continue; /* its row says why */
            size_t at = (size_t)c * t->n + i;
            if (run_one(R, split, cs[c], &t->items[i], &scores[at], &costs[at]) != 0) return -1;
        }
    return 0;
}

static double mean_of(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return n ? s / n : 0;
}

/* The best of n settings swept on the selection items (ties: the first listed), recorded in
 * sel_json and in the result's choices. Its index among fam, or -1. */
static int sweep(runner *R, const lw_task *sel, condition **fam, int n, family f, json_t *sel_json) {
    double *scores = calloc((size_t)n * sel->n, sizeof(double));
    json_t **costs = calloc((size_t)n * sel->n, sizeof(json_t *));
    int best = -1;
    if (scores && costs && run_split(R, "select", sel, fam, n, scores, costs) == 0) {
        json_t *means = json_object();
        double top = -1;
        for (int k = 0; k < n; k++) {
            double m = mean_of(scores + (size_t)k * sel->n, sel->n);
            json_object_set_new(means, fam[k]->name, json_real(m));
            if (m > top) top = m, best = k;
        }
        const char *fname = f == FAM_ACW ? "acw" : "ac";
        json_object_set_new(sel_json, fname,
                            json_pack("{s:o, s:s, s:f}", "scores", means, "chosen", fam[best]->name, "score", top));
        lw_channel_experiment_choice *ch = &R->r->choices[R->r->n_choices++];
        snprintf(ch->family, sizeof ch->family, "%s", fname);
        snprintf(ch->chosen, sizeof ch->chosen, "%s", fam[best]->name);
        ch->score = top;
        ch->n_items = sel->n;
        ch->n_settings = n;
    } else if (!scores || !costs) {
        lw_fail("channel: out of memory");
    }
    for (int k = 0; costs && k < n * sel->n; k++) json_decref(costs[k]);
    free(scores);
    free(costs);
    return best;
}

/* The setting of family f reported: the only one, or the one with the highest mean score
 * on the selection items. Its condition index or -1. */
static int choose_setting(runner *R, const lw_task *sel, family f, json_t *sel_json) {
    lw_channel_experiment *e = R->e;
    condition **fam = malloc(sizeof *fam * (size_t)e->n);
    int *index = malloc(sizeof *index * (size_t)e->n), n = 0;
    if (!fam || !index) {
        free(fam);
        free(index);
        return lw_fail("channel: out of memory");
    }
    for (int c = 0; c < e->n; c++)
        if (e->c[c].fam == f && !e->c[c].not_applicable[0]) fam[n] = &e->c[c], index[n++] = c;
    int best = n == 1 ? 0 : n > 1 ? sweep(R, sel, fam, n, f, sel_json) : -1;
    int chosen = best >= 0 ? index[best] : -1;
    free(fam);
    free(index);
    return chosen;
}

static json_t *item_ids(const lw_task *t) {
    json_t *a = json_array();
    for (int i = 0; i < t->n; i++) json_array_append_new(a, json_string(t->items[i].id));
    return a;
}

/* The rows reported: every fixed channel (and every row not applicable), then one setting
 * per AC family, chosen on the selection items. The row count, or -1 (message set). */
static int reported_rows(runner *R, condition **rows) {
    lw_channel_experiment *e = R->e;
    int n = 0;
    for (int c = 0; c < e->n; c++)
        if (e->c[c].fam == FAM_FIXED || e->c[c].not_applicable[0]) rows[n++] = &e->c[c];
    json_t *chosen = json_object();
    json_object_set_new(R->root, "selection", json_pack("{s:o, s:o}", "items", item_ids(&R->parts[0]), "chosen", chosen));
    for (int f = FAM_AC; f <= FAM_ACW; f++) {
        if (family_size(e, (family)f) == 0) continue;
        int c = choose_setting(R, &R->parts[0], (family)f, chosen);
        if (c < 0) return -1;
        rows[n++] = &e->c[c];
    }
    return n;
}

/* Runs for the progress count: the selection sweeps and the reported rows. */
static int count_runs(const lw_channel_experiment *e, int n_select, int n_report) {
    int total = 0;
    for (int f = FAM_FIXED; f <= FAM_ACW; f++) {
        int k = family_size(e, (family)f);
        if (f == FAM_FIXED) total += k * n_report;
        else if (k > 0) total += (k > 1 ? k * n_select : 0) + n_report;
    }
    return total;
}

/* acw without ac_bridge: one ridge map per (k, j), fitted on the calibration items' sender
 * texts (disjoint from the reported ones) and shared by the ops; each map's record in maps. */
static int fit_maps(lw_channel_experiment *e, const lw_task *calib, json_t *maps) {
    for (int c = 0; c < e->n; c++) /* a second run fits its maps again, on its own calibration items */
        if (e->c[c].fam == FAM_ACW && !e->bridge) {
            lw_bridge_free(e->c[c].fitted);
            e->c[c].fitted = NULL;
            e->c[c].p.ac_bridge = NULL;
        }
    const char **texts = malloc(sizeof(char *) * (size_t)(calib->n ? calib->n : 1));
    if (!texts) return lw_fail("channel: out of memory");
    int n = 0;
    for (int i = 0; i < calib->n; i++)
        if (*calib->items[i].sender) texts[n++] = calib->items[i].sender;
    int rc = 0;
    for (int c = 0; rc == 0 && c < e->n; c++) {
        condition *x = &e->c[c];
        if (x->fam != FAM_ACW || x->p.ac_bridge || x->not_applicable[0]) continue;
        for (int o = 0; o < c && !x->p.ac_bridge; o++)
            if (e->c[o].fitted && e->c[o].p.ac_k == x->p.ac_k && e->c[o].p.ac_j == x->p.ac_j)
                x->p.ac_bridge = e->c[o].fitted;
        if (x->p.ac_bridge) continue;
        x->fitted = lw_channel_fit_ac_bridge(e->sa, e->sb, x->p.ac_k, x->p.ac_j, texts, n, NULL);
        if (!x->fitted) {
            rc = lw_fail_prefix("acw: ");
            break;
        }
        x->p.ac_bridge = x->fitted;
        char key[64];
        snprintf(key, sizeof key, "k=%d,j=%d", x->p.ac_k, x->p.ac_j);
        json_object_set_new(maps, key, json_loads(lw_bridge_info_json(x->fitted), 0, NULL));
    }
    free(texts);
    return rc;
}

/* parts[2]: the reported items; parts[0] / parts[1]: the selection and calibration items, drawn
 * with them from the pool so that no sender text is in two parts. 0 or -1 (message set). */
static int split_pool(runner *R, const lw_task *pool, int n_report) {
    lw_channel_experiment *e = R->e;
    R->report = pool;
    if (e->n_select + e->n_calib > 0) {
        int sizes[3] = {e->n_select, e->n_calib, n_report};
        if (lw_task_split(pool, sizes, 3, e->p.seed ^ 0x5e1ec7, R->parts) != 0)
            return lw_fail_prefix("--task %s: ", e->p.task);
        R->report = &R->parts[2];
    }
    if (R->report->n == 0) return lw_fail("--task %s has no items", e->p.task);
    /* Every channel but none reads the sender's text: a task without one (gsm8k, bio: one model
     * answers alone) is refused here, not at its first item after the models loaded. */
    const char *reader = NULL;
    for (int c = 0; c < e->n && !reader; c++)
        if (!e->c[c].not_applicable[0] && e->c[c].p.kind != LW_CHANNEL_NONE) reader = e->c[c].name;
    const lw_task *sets[3] = {R->report, e->n_select + e->n_calib > 0 ? &R->parts[0] : NULL,
                              e->n_select + e->n_calib > 0 ? &R->parts[1] : NULL};
    for (int k = 0; reader && k < 3; k++)
        for (int i = 0; sets[k] && i < sets[k]->n; i++)
            if (!sets[k]->items[i].sender || !*sets[k]->items[i].sender)
                return lw_fail("--task %s: item %s has no sender text, which channel %s reads (gsm8k and bio are "
                               "tasks one model answers alone: use debate, or --channel none)",
                               e->p.task, sets[k]->items[i].id, reader);
    return 0;
}

/* Every setting that changes a record, as a resumed run compares them. */
static json_t *settings_json(const runner *R) {
    const lw_channel_experiment *e = R->e;
    const lw_channel_experiment_params *o = &e->p;
    lw_task view[3] = {R->parts[0], R->parts[1], *R->report};
    char th[65], bh[65] = "";
    lw_task_parts_sha256(view, 3, th);
    if (o->ac_bridge && lw_sha256_file(o->ac_bridge, bh) != 0) bh[0] = '\0';
    const char *sa = lw_model_sha256(lw_session_model(e->sa)), *sb = lw_model_sha256(lw_session_model(e->sb));
    json_t *s = json_object();
    json_object_set_new(s, "--sender", json_string(sa ? sa : o->sender));
    json_object_set_new(s, "--receiver", json_string(sb ? sb : o->receiver));
    json_object_set_new(s, "--task", json_string(th));
    json_object_set_new(s, "--channel", json_string(o->channels));
    json_object_set_new(s, "--k", json_string(o->k_layers));
    json_object_set_new(s, "--j", json_string(o->j_layers));
    json_object_set_new(s, "--op", json_string(o->ops));
    json_object_set_new(s, "--select", json_integer(e->n_select));
    json_object_set_new(s, "--calib", json_integer(e->n_calib));
    json_object_set_new(s, "--ac-bridge", o->ac_bridge ? json_string(bh) : json_null());
    json_object_set_new(s, "--message-tokens", json_integer(o->message_tokens));
    json_object_set_new(s, "--answer-tokens", json_integer(o->answer_tokens));
    json_object_set_new(s, "--temp", o->temp >= 0 ? json_real(o->temp) : json_null());
    json_object_set_new(s, "--top-k", json_integer(o->top_k));
    json_object_set_new(s, "--top-p", json_real(o->top_p));
    json_object_set_new(s, "--onehot", json_real(o->onehot));
    json_object_set_new(s, "--chat", json_boolean(o->chat));
    json_object_set_new(s, "--seed", json_integer((json_int_t)o->seed));
    const lw_model *models[2] = {lw_session_model(e->sa), lw_session_model(e->sb)};
    lw_json_settings_gpu_layers(s, models, 2);
    return s;
}

/* Every kept record must be one this run makes (a split, an item of it, a condition): the others
 * never enter the summary, but lw_records_open would copy them into the records file. */
static int check_past_belongs(const runner *R) {
    for (int j = 0; j < R->past.n; j++) {
        json_t *o = R->past.rec[j];
        const char *split = json_string_value(json_object_get(o, "split"));
        const char *cond = json_string_value(json_object_get(o, "condition"));
        const char *id = json_string_value(json_object_get(o, "id"));
        const lw_task *t = split && !strcmp(split, "select") ? &R->parts[0] : split && !strcmp(split, "report") ? R->report
                                                                                                                 : NULL;
        const lw_task_item *item = NULL;
        bool condition = false;
        for (int i = 0; t && id && !item && i < t->n; i++)
            if (!strcmp(t->items[i].id, id)) item = &t->items[i];
        for (int c = 0; cond && !condition && c < R->e->n; c++) condition = !strcmp(R->e->c[c].name, cond);
        if (!t || !item || !condition)
            return lw_fail("--resume: %s: the record of %s, item %s (split %s) is not part of this run (%s): the file "
                           "was edited; run without --resume to start over",
                           R->past_path, cond ? cond : "?", id ? id : "?", split ? split : "?",
                           !t ? "no such split" : !item ? "no such item in that split" : "no such condition");
        /* a right/wrong scorer gives 0 or 1: a 0.5 kept would enter the accuracy as half an answer */
        double score = json_number_value(json_object_get(o, "score"));
        if (item->scorer != LW_SCORE_FACTS && score != 0.0 && score != 1.0)
            return lw_fail("--resume: %s: the record of %s, item %s (split %s) has score %g, but its scorer %s gives "
                           "0 or 1: the file was edited; run without --resume to start over",
                           R->past_path, cond, id, split, score, lw_scorer_name(item->scorer));
    }
    return 0;
}

/* A kept record's costs are what a run writes: whole counts >= 0 (below 2^53, where a double
 * still counts by one) and a time >= 0 (b_forwarded 1e300 was summed into an int64, -5 kept). */
static int check_past_costs(const runner *R) {
    static const char *const counts[8] = {"a_forwarded", "a_generated", "b_forwarded", "b_generated",
                                          "a_passes",    "b_passes",    "message_floats", "message_bytes"};
    for (int j = 0; j < R->past.n; j++) {
        json_t *cost = json_object_get(R->past.rec[j], "cost");
        const char *bad = json_is_object(cost) ? NULL : "cost";
        for (int k = 0; !bad && k < 8; k++) {
            json_t *v = json_object_get(cost, counts[k]);
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (json_int_t)1 << 53)
                bad = counts[k];
        }
        json_t *w = json_object_get(cost, "wall_s");
        if (!bad && !(json_is_number(w) && json_number_value(w) >= 0 && json_number_value(w) < 1e9)) bad = "wall_s";
        if (bad) {
            char key[160];
            lw_records_key_shown(R->past.key[j], key, sizeof key);
            return lw_fail("--resume: %s: the record of %s has a bad cost field %s (whole counts >= 0 and seconds "
                           "in [0, 1e9) are what a run writes): the file was edited or damaged; run without --resume to "
                           "start over", R->past_path, key, bad);
        }
    }
    return 0;
}

/* Opens RECORDS.partial: with resume, the records of an earlier run with the same settings are
 * kept (rewritten without a torn last line) and loaded; otherwise it starts empty, the settings
 * line first. 0 or -1 (message set). */
static int open_records(runner *R, json_t *settings) {
    const lw_channel_experiment_params *o = &R->e->p;
    size_t len = strlen(o->records) + 9;
    if (!(R->partial = malloc(len))) return lw_fail("channel: out of memory");
    snprintf(R->partial, len, "%s.partial", o->records);
    /* --resume after a finished run (its partial renamed to RECORDS) reads RECORDS in place, as scan
     * does, so a rerun (make experiments after make demo) reuses every record instead of running
     * every item again; the records are copied into the partial, and records made with other
     * settings are refused naming RECORDS */
    R->past_path = R->partial;
    if (o->resume && access(R->partial, F_OK) != 0 && access(o->records, F_OK) == 0) R->past_path = o->records;
    if (o->resume && (lw_records_load(&R->past, R->past_path, settings, PAST_KEY, 3, "score", "--resume", NULL) != 0 ||
                      lw_records_check_range(&R->past, R->past_path, "score", 0, 1, false, "--resume") != 0 ||
                      check_past_belongs(R) != 0 || check_past_costs(R) != 0))
        return -1;
    return (R->rec = lw_records_open(R->partial, settings, &R->past)) ? 0 : -1;
}

/* The finished records and the summary under their names, as one group (lw_atomic_group_begin):
 * both appear or neither, and then the records stay in RECORDS.partial for --resume. 0 or -1. */
static int write_outputs(runner *R) {
    const lw_channel_experiment_params *o = &R->e->p;
    if (R->rec) {
        int bad = fclose(R->rec);
        R->rec = NULL;
        if (bad) return lw_fail("cannot write %s: %s", R->partial, strerror(errno));
    }
    if (!o->records && !o->summary) return 0;
    if (lw_atomic_group_begin() != 0) return -1;
    /* the records last: should the summary's rename fail, they are still RECORDS.partial */
    int rc = o->summary ? lw_json_save(o->summary, R->root) : 0;
    if (rc == 0 && o->records) rc = lw_atomic_group_add_kept(R->partial, o->records);
    return lw_atomic_group_finish(rc);
}

/* Row c of the result from its scores and costs over the n reported items. */
static void fill_row(const lw_channel_experiment_params *o, const condition *c, const double *scores,
                     json_t *const *costs, int n, lw_channel_experiment_row *row) {
    snprintf(row->name, sizeof row->name, "%s", c->name);
    row->applicable = !c->not_applicable[0];
    snprintf(row->reason, sizeof row->reason, "%s", c->not_applicable);
    if (!row->applicable) return;
    row->n = n;
    lw_ci_mean(scores, n, o->resamples, 0.95, o->seed, &row->accuracy);
    double sum[9] = {0};
    static const char *const keys[9] = {"a_forwarded", "a_generated", "b_forwarded", "b_generated", "a_passes",
                                        "b_passes", "message_bytes", "message_floats", "wall_s"};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 9; k++) sum[k] += json_number_value(json_object_get(costs[i], keys[k]));
    row->total = (lw_channel_cost){.a_forwarded = (int64_t)sum[0], .a_generated = (int64_t)sum[1],
                                   .b_forwarded = (int64_t)sum[2], .b_generated = (int64_t)sum[3],
                                   .a_passes = (int64_t)sum[4], .b_passes = (int64_t)sum[5],
                                   .message_bytes = (int64_t)sum[6], .message_floats = (int64_t)sum[7], .wall_s = sum[8]};
}

static json_t *row_json(const lw_channel_experiment_row *row) {
    if (!row->applicable) return json_pack("{s:b, s:s}", "applicable", 0, "reason", row->reason);
    const lw_channel_cost *t = &row->total;
    double n = row->n;
    json_t *mc = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "a_forwarded", t->a_forwarded / n,
                           "a_generated", t->a_generated / n, "b_forwarded", t->b_forwarded / n, "b_generated",
                           t->b_generated / n, "a_passes", t->a_passes / n, "b_passes", t->b_passes / n,
                           "message_bytes", t->message_bytes / n, "message_floats", t->message_floats / n, "wall_s",
                           t->wall_s / n);
    return json_pack("{s:b, s:o, s:o}", "applicable", 1, "accuracy", lw_ci_json(&row->accuracy), "mean_cost", mc);
}

/* The rows, their paired differences against text (or the first row that ran) on the same
 * items, and the summary's conditions and differences. */
static void summarize(runner *R, condition *const *cs, int n_cs, const double *scores, json_t *const *costs) {
    const lw_channel_experiment_params *o = &R->e->p;
    lw_channel_experiment_result *r = R->r;
    int n = R->report->n;
    json_t *conds = json_object(), *diffs = json_object();
    r->reference = -1;
    for (int c = 0; c < n_cs; c++) {
        lw_channel_experiment_row *row = &r->rows[r->n_rows++];
        fill_row(o, cs[c], scores + (size_t)c * n, costs + (size_t)c * n, n, row);
        if (row->applicable && (r->reference < 0 || !strcmp(row->name, "text"))) r->reference = c;
        json_object_set_new(conds, row->name, row_json(row));
    }
    for (int c = 0; r->reference >= 0 && c < n_cs; c++) {
        lw_channel_experiment_row *row = &r->rows[c];
        const char *ref = r->rows[r->reference].name;
        if (c == r->reference || !row->applicable) continue;
        row->compared = true;
        lw_ci_paired(scores + (size_t)c * n, scores + (size_t)r->reference * n, n, o->resamples, 0.95, o->seed,
                     &row->difference, &row->p_value);
        json_object_set_new(diffs, row->name,
                            json_pack("{s:s, s:f, s:f, s:f, s:f}", "against", ref, "mean", row->difference.mean, "lo",
                                      row->difference.lo, "hi", row->difference.hi, "p_value", row->p_value));
    }
    json_object_set_new(R->root, "conditions", conds);
    json_object_set_new(R->root, "differences", diffs);
}

/* The reported rows on the reported items, then the summary. 0 or -1. */
static int run_report(runner *R) {
    lw_channel_experiment *e = R->e;
    const lw_task *t = R->report;
    condition **rows = malloc(sizeof *rows * (size_t)e->n);
    R->r->rows = calloc((size_t)e->n, sizeof *R->r->rows);
    int n_rows = rows && R->r->rows ? reported_rows(R, rows) : lw_fail("channel: out of memory");
    double *scores = n_rows > 0 ? calloc((size_t)n_rows * t->n, sizeof(double)) : NULL;
    json_t **costs = n_rows > 0 ? calloc((size_t)n_rows * t->n, sizeof(json_t *)) : NULL;
    int rc = n_rows < 0 ? -1 : !scores || !costs ? lw_fail("channel: out of memory") : 0;
    if (rc == 0) rc = run_split(R, "report", t, rows, n_rows, scores, costs);
    if (rc == 0) {
        json_object_set_new(R->root, "items", item_ids(t));
        summarize(R, rows, n_rows, scores, costs);
        rc = write_outputs(R);
    }
    for (int i = 0; costs && i < n_rows * t->n; i++) json_decref(costs[i]);
    free(costs);
    free(scores);
    free(rows);
    return rc;
}

/* Every reported and selection item's message and answer fit both contexts (lw_channel_input_tokens'
 * rule; lw_channel_run checks each item again as it runs): refused before any work, naming the item
 * and the largest --message-tokens or --answer-tokens that fits them all. 0 or -1. */
static int check_items_fit(runner *R) {
    const lw_channel_experiment *e = R->e;
    const lw_channel_experiment_params *o = &e->p;
    bool message = false, context = false;
    for (int c = 0; c < e->n; c++) {
        if (e->c[c].not_applicable[0]) continue;
        message |= e->c[c].p.kind == LW_CHANNEL_TEXT || e->c[c].p.kind == LW_CHANNEL_CIPHER;
        context |= e->c[c].p.kind == LW_CHANNEL_CONTEXT; /* the receiver reads the sender's text itself */
    }
    int send_ctx = lw_session_n_ctx(e->sa), recv_ctx = lw_session_n_ctx(e->sb);
    int most_sent = INT_MAX, most_answer = INT_MAX;
    const char *sent_by = NULL, *answer_by = NULL;
    const lw_task *sets[2] = {R->report, &R->parts[0]};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < sets[k]->n; i++) {
            const lw_task_item *it = &sets[k]->items[i];
            int s = message ? lw_channel_input_tokens(e->sa, o->chat, it->sender) : 0;
            int q = lw_channel_input_tokens(e->sb, o->chat, it->receiver);
            /* the sender's text in the receiver's tokens (with a [BOS] more: an upper bound) */
            int t = context ? lw_channel_input_tokens(e->sb, false, it->sender) : 0;
            if (s < 0 || q < 0 || t < 0) return -1;
            int m = message ? send_ctx - s + 1 : INT_MAX; /* the message's room in the sender */
            /* before the answer: the prompt, a separator after what precedes it, and the longest of
             * a full message and the sender's text. A text message retokenized by another vocabulary
             * can be longer: lw_channel_run checks that item by item. */
            int before = message ? o->message_tokens : 0;
            if (t > before) before = t;
            int room = recv_ctx - q - (before > 0) - before + 1; /* the answer's */
            if (m < most_sent) most_sent = m, sent_by = it->id;
            if (room < most_answer) most_answer = room, answer_by = it->id;
        }
    if (message && most_sent < 1)
        return lw_fail("item %s: its text fills the sender's context of %d tokens: use shorter texts", sent_by, send_ctx);
    if (message && o->message_tokens > most_sent)
        return lw_fail("--message-tokens %d: item %s's text leaves room for %d message tokens in the sender's context "
                       "of %d: use at most %d, or shorter texts",
                       o->message_tokens, sent_by, most_sent, send_ctx, most_sent);
    if (o->answer_tokens > most_answer)
        return lw_fail("--answer-tokens %d: item %s's prompt%s room for %d answer tokens in the receiver's "
                       "context of %d: use fewer answer%s tokens, or shorter texts",
                       o->answer_tokens, answer_by,
                       message ? " and a full message leave" : context ? " and the sender's text leave" : " leaves",
                       most_answer < 0 ? 0 : most_answer, recv_ctx, message ? " or message" : "");
    return 0;
}

static int run_all(runner *R, const lw_task *pool, int n_report) {
    lw_channel_experiment *e = R->e;
    if (split_pool(R, pool, n_report) != 0 || check_items_fit(R) != 0) return -1;
    json_t *settings = settings_json(R);
    json_object_set_new(R->root, "settings", json_incref(settings));
    int rc = e->p.records ? open_records(R, settings) : 0;
    json_decref(settings);
    if (rc != 0) return -1;
    R->r->n_report = R->report->n;
    R->r->n_select = R->parts[0].n;
    R->r->n_calib = R->parts[1].n;
    if (e->n_calib > 0) {
        json_t *maps = json_object();
        json_object_set_new(R->root, "calibration", json_pack("{s:o, s:o}", "items", item_ids(&R->parts[1]), "maps", maps));
        if (fit_maps(e, &R->parts[1], maps) != 0) return -1;
    }
    R->total = count_runs(e, e->n_select, R->report->n);
    return run_report(R);
}

int lw_channel_experiment_run(lw_channel_experiment *e, const lw_task *pool, int n_report,
                              lw_channel_experiment_result **out) {
    if (!out) return lw_fail("lw_channel_experiment_run: out is NULL");
    *out = NULL;
    if (!e || !pool) return lw_fail("lw_channel_experiment_run: the %s is NULL", !e ? "experiment" : "pool");
    runner R = {.e = e, .root = json_object(), .r = calloc(1, sizeof(lw_channel_experiment_result))};
    int rc = R.root && R.r ? run_all(&R, pool, n_report) : lw_fail("channel: out of memory");
    if (R.rec) fclose(R.rec);
    free(R.partial);
    lw_records_free(&R.past);
    for (int p = 0; p < 3; p++) lw_task_free(&R.parts[p]);
    if (R.r) R.r->summary = R.root;
    else json_decref(R.root);
    if (rc != 0) {
        lw_channel_experiment_result_free(R.r);
        return -1;
    }
    *out = R.r;
    return 0;
}

void lw_channel_experiment_result_free(lw_channel_experiment_result *r) {
    if (!r) return;
    free(r->rows);
    json_decref(r->summary);
    free(r);
}

int lw_channel_experiment_save(const lw_channel_experiment_result *r, const char *path) {
    if (!r || !path) return lw_fail("lw_channel_experiment_save: the %s is NULL", !r ? "result" : "path");
    return lw_json_save(path, r->summary);
}
