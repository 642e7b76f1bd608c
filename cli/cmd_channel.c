/* latentwire channel: a sender model passes something to a receiver model, item by item;
 * accuracy with CIs, paired differences between channels on the same items, a cost table. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "latentwire/error.h"
#include "latentwire/files.h"
#include "latentwire/json.h"
#include "latentwire/records.h"
#include "latentwire/channel.h"
#include "latentwire/retrieval.h"

static const char *USAGE =
    "usage: latentwire channel --sender A.gguf --receiver B.gguf --task SPEC [options]\n"
    "  --task SPEC          FILE.jsonl | story:N | gsm8k:N | fv:NAME[:N] | bio:N\n"
    "  --channel LIST       none,context,text,cipher,ac,acw (default none,text,ac); cipher between different\n"
    "                       vocabularies and ac between different widths are reported as not applicable\n"
    "  --k LIST --j LIST    AC layers of sender and receiver: numbers (negative from the end) or mid (default\n"
    "                       mid = n_layer / 2: a graft into the receiver's last block reaches only the logits of\n"
    "                       its own position, so only the first answer token could change)\n"
    "  --op LIST            AC functions: replace,sum,mean (default replace)\n"
    "  --select N           when ac or acw lists several (k, j, op) settings, the one reported is chosen on N\n"
    "                       selection items drawn from the task's source, disjoint from the reported items\n"
    "                       (default 100; recorded in --json and --out)\n"
    "  --ac-bridge FILE     acw uses this bridge instead of fitting one\n"
    "  --calib N            acw: ridge map (centered, alpha by GCV, as bridge fit) fitted on the sender texts of N\n"
    "                       calibration items of the task's source, disjoint from the reported items (default 200)\n"
    "  --message-tokens N   text/CIPHER message length (default 24)   --answer-tokens N (default 8)\n"
    "  --temp T             text: sender sampling temperature; CIPHER: softmax temperature (default 0 / 1)\n"
    "  --top-k K --top-p P --onehot F   CIPHER truncation and partial one-hot threshold\n"
    "  --chat               A's text, and B's message + prompt, as a user turn in each model's chat template\n"
    "  --out ITEMS.jsonl    per-item records after a settings line (written as ITEMS.jsonl.partial, renamed when done)\n"
    "  --resume             reuse the records of an interrupted run with the same settings (ITEMS.jsonl.partial)\n"
    "  --json SUMMARY.json  --resamples N (default 1000)  --seed N\n"
    "  --data DIR           named tasks' data (default $LW_SHARED_DIR/data, else ../shared/data)\n"
    "  --threads N          CPU threads of each model (default: all cores)\n"
    "  Reported items: the task's items, or with a selection or calibration split the task's count drawn\n"
    "  from a larger pool of its source (a task file: what is left of it after the split).\n";

/* A family of AC settings swept together: one of them is reported. */
typedef enum { FAM_FIXED = 0, FAM_AC, FAM_ACW } family;

typedef struct {
    char name[64];
    lw_channel_params p;
    family fam;
    lw_bridge *fitted;          /* acw: the owned ridge map */
    char not_applicable[256];   /* refused up front for these models: why (empty: runs) */
} condition;

typedef struct {
    condition *c;
    int n;
} conditions;

static condition *add_condition(conditions *cs, const char *name, lw_channel_params p, family fam) {
    cs->c = realloc(cs->c, sizeof *cs->c * (size_t)(cs->n + 1));
    condition *c = &cs->c[cs->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->p = p;
    c->fam = fam;
    return c;
}

/* Past records of an interrupted run (common/records.h), found by "split\tcondition\tid". */
typedef lw_records past;
static const char *const PAST_KEY[] = {"split", "condition", "id"};

static json_t *past_find(const past *ps, const char *split, const char *cond, const char *id) {
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

static double cost_field(json_t *cost, const char *k) { return json_number_value(json_object_get(cost, k)); }

typedef struct {
    const char *sender, *receiver, *task, *channels, *ks, *js, *ops, *out, *json, *data, *ac_bridge;
    int calib, select, resamples, message_tokens, answer_tokens, top_k, threads;
    float temp, top_p, onehot;
    bool temp_set, resume, chat;
    uint64_t seed;
} opts;

/* A --k / --j list: layer numbers or "mid", resolved against the model's n_layer into
 * distinct layers. The count or -1 (message set). */
static int parse_layer_list(const char *option, const char *spec, int n_layer, const char *whose, int *out, int cap) {
    char **items;
    int n = cli_parse_list(option, spec, &items);
    if (n < 0) return -1;
    int rc = n <= cap ? 0 : lw_fail("%s \"%s\": at most %d layers", option, spec, cap);
    for (int i = 0; rc == 0 && i < n; i++) {
        long l = LW_AC_LAYER_MIDDLE;
        if (strcmp(items[i], "mid") && !cli_parse_int(items[i], -n_layer, n_layer - 1, &l))
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

/* Every condition the lists ask for; those these models cannot run are marked not applicable
 * (with the reason) so the others still run. acw maps are fitted later (fit_maps). */
static int build_conditions(const opts *o, lw_session *sa, lw_session *sb, const lw_bridge *bridge, conditions *cs) {
    lw_channel_params base = lw_channel_default_params();
    base.message_tokens = o->message_tokens;
    base.answer_tokens = o->answer_tokens;
    base.cipher_top_k = o->top_k;
    base.cipher_top_p = o->top_p;
    base.cipher_onehot = o->onehot;
    base.seed = o->seed;
    base.chat = o->chat;
    lw_model_info ia, ib;
    lw_model_get_info(lw_session_model(sa), &ia);
    lw_model_get_info(lw_session_model(sb), &ib);
    char **chans = NULL, **ops = NULL;
    int ks[32], js[32], rc = 0;
    int nc = cli_parse_list("--channel", o->channels, &chans), nop = nc < 0 ? -1 : cli_parse_list("--op", o->ops, &ops);
    int nk = nop < 0 ? -1 : parse_layer_list("--k", o->ks, ia.n_layer, "sender", ks, 32);
    int nj = nk < 0 ? -1 : parse_layer_list("--j", o->js, ib.n_layer, "receiver", js, 32);
    if (nc < 0 || nop < 0 || nk < 0 || nj < 0) rc = -1;
    for (int i = 0; rc == 0 && i < nop; i++)
        if (lw_ac_op_from_name(ops[i]) < 0) rc = lw_fail("--op \"%s\": use replace, sum or mean", ops[i]);
    for (int ci = 0; rc == 0 && ci < nc; ci++) {
        const char *t = chans[ci];
        bool acw = !strcmp(t, "acw");
        int kind = acw ? LW_CHANNEL_AC : lw_channel_from_name(t);
        if (kind < 0) {
            rc = lw_fail("--channel \"%s\": use none, context, text, cipher, ac or acw", t);
            break;
        }
        lw_channel_params p = base;
        p.kind = (lw_channel_kind)kind;
        if (kind == LW_CHANNEL_TEXT) p.sender_temp = o->temp_set ? o->temp : 0.0f;
        if (kind == LW_CHANNEL_CIPHER) p.sender_temp = o->temp_set ? o->temp : 1.0f;
        if (kind != LW_CHANNEL_AC) {
            condition *c = add_condition(cs, t, p, FAM_FIXED);
            if (kind == LW_CHANNEL_CIPHER && !lw_model_same_vocab(lw_session_model(sa), lw_session_model(sb)))
                snprintf(c->not_applicable, sizeof c->not_applicable,
                         "the sender's and the receiver's vocabularies differ; CIPHER needs one vocabulary");
            continue;
        }
        if (!acw && ia.n_embd != ib.n_embd) { /* one row says why; no sweep */
            condition *c = add_condition(cs, t, p, FAM_AC);
            snprintf(c->not_applicable, sizeof c->not_applicable,
                     "the sender is %d wide and the receiver %d; grafting across widths needs a map: use acw", ia.n_embd,
                     ib.n_embd);
            continue;
        }
        for (int q = 0; q < nop; q++)
            for (int a = 0; a < nk; a++)
                for (int b = 0; b < nj; b++) {
                    char name[64];
                    snprintf(name, sizeof name, "%s[k=%d,j=%d,%s]", t, ks[a], js[b], ops[q]);
                    p.ac_k = ks[a];
                    p.ac_j = js[b];
                    p.ac_op = (lw_ac_op)lw_ac_op_from_name(ops[q]);
                    condition *c = add_condition(cs, name, p, acw ? FAM_ACW : FAM_AC);
                    if (acw && bridge) c->p.ac_bridge = bridge;
                }
    }
    free(chans);
    free(ops);
    return rc;
}

static bool any_applicable(const conditions *cs) {
    for (int c = 0; c < cs->n; c++)
        if (!cs->c[c].not_applicable[0]) return true;
    return false;
}

/* Settings of a family that run (a family of one needs no selection). */
static int family_size(const conditions *cs, family f) {
    int n = 0;
    for (int c = 0; c < cs->n; c++) n += cs->c[c].fam == f && !cs->c[c].not_applicable[0];
    return n;
}

/* acw without --ac-bridge: one ridge map per (k, j), fitted on the calibration items'
 * sender texts (disjoint from the reported ones) and shared by the ops. */
static int fit_maps(conditions *cs, lw_session *sa, lw_session *sb, const lw_task *calib, json_t *maps) {
    const char **texts = malloc(sizeof(char *) * (size_t)(calib->n ? calib->n : 1));
    int n = 0;
    for (int i = 0; i < calib->n; i++)
        if (*calib->items[i].sender) texts[n++] = calib->items[i].sender;
    int rc = 0;
    for (int c = 0; rc == 0 && c < cs->n; c++) {
        condition *x = &cs->c[c];
        if (x->fam != FAM_ACW || x->p.ac_bridge || x->not_applicable[0]) continue;
        for (int e = 0; e < c && !x->p.ac_bridge; e++)
            if (cs->c[e].fitted && cs->c[e].p.ac_k == x->p.ac_k && cs->c[e].p.ac_j == x->p.ac_j)
                x->p.ac_bridge = cs->c[e].fitted;
        if (x->p.ac_bridge) continue;
        x->fitted = lw_channel_fit_ac_bridge(sa, sb, x->p.ac_k, x->p.ac_j, texts, n, NULL);
        if (!x->fitted) {
            rc = -1;
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

/* Where the runs go: the sessions, the records file, the reusable past records, progress. */
typedef struct {
    lw_session *sa, *sb;
    FILE *rec;
    const past *ps;
    int done, total;
} runner;

/* Runs each applicable condition on each item of one split (past records reused), writing records.
 * scores[c * t->n + i] and costs likewise. 0 or -1 (message printed). */
static int run_split(runner *R, const char *split, const lw_task *t, condition *const *cs, int n_cs, double *scores,
                     json_t **costs) {
    for (int i = 0; i < t->n; i++) {
        const lw_task_item *it = &t->items[i];
        for (int c = 0; c < n_cs; c++) {
            if (cs[c]->not_applicable[0]) continue; /* its row says why */
            size_t at = (size_t)c * t->n + i;
            json_t *old = R->ps ? past_find(R->ps, split, cs[c]->name, it->id) : NULL;
            if (old) {
                scores[at] = json_number_value(json_object_get(old, "score"));
                costs[at] = json_incref(json_object_get(old, "cost"));
                R->done++;
                continue;
            }
            lw_channel_result r;
            if (lw_channel_run(R->sa, R->sb, &cs[c]->p, it->sender, it->receiver, &r, NULL) != 0)
            {
                cli_fail("channel", "item %s, %s: %s", it->id, cs[c]->name, lw_last_error());
                return -1;
            }
            scores[at] = lw_score(it, r.output);
            costs[at] = cost_json(&r.cost);
            int wrc = 0;
            if (R->rec) {
                /* generated text may end inside a UTF-8 character (byte-level tokens): JSON holds
                 * whole characters (cli_json_text), or json_pack would refuse the line */
                json_t *line = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:f, s:O}", "split", split, "condition",
                                         cs[c]->name, "id", it->id, "receiver", it->receiver, "message",
                                         cli_json_text(r.message), "output", cli_json_text(r.output), "gold",
                                         it->gold, "score", scores[at], "cost", costs[at]);
                wrc = lw_records_write(R->rec, line);
                json_decref(line);
            }
            lw_channel_result_free(&r);
            if (wrc != 0) {
                cli_fail("channel", "cannot write the records: %s", strerror(errno));
                return -1;
            }
            R->done++;
            if (cli_is_tty())
                fprintf(stderr, "\rchannel: %d/%d runs%s", R->done, R->total, R->done == R->total ? "\n" : "");
        }
    }
    return 0;
}

static double mean_of(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return n ? s / n : 0;
}

/* The setting of family f reported: the only one, or the one with the highest mean score
 * on the selection items (ties: the first listed), recorded in sel_json. Its index or -1. */
static int choose_setting(runner *R, const lw_task *sel, conditions *cs, family f, json_t *sel_json) {
    condition **fam = malloc(sizeof *fam * (size_t)cs->n);
    int *index = malloc(sizeof *index * (size_t)cs->n), n = 0;
    for (int c = 0; c < cs->n; c++)
        if (cs->c[c].fam == f && !cs->c[c].not_applicable[0]) fam[n] = &cs->c[c], index[n++] = c;
    int best = n == 1 ? 0 : -1;
    if (n > 1) {
        double *scores = calloc((size_t)n * sel->n, sizeof(double));
        json_t **costs = calloc((size_t)n * sel->n, sizeof(json_t *));
        if (run_split(R, "select", sel, fam, n, scores, costs) == 0) {
            json_t *means = json_object();
            double top = -1;
            for (int k = 0; k < n; k++) {
                double m = mean_of(scores + (size_t)k * sel->n, sel->n);
                json_object_set_new(means, fam[k]->name, json_real(m));
                if (m > top) top = m, best = k;
            }
            const char *fname = f == FAM_ACW ? "acw" : "ac";
            json_object_set_new(sel_json, fname, json_pack("{s:o, s:s, s:f}", "scores", means, "chosen",
                                                           fam[best]->name, "score", top));
            printf("selection: %s -> %s (mean score %.3f on %d selection items; %d settings swept)\n", fname,
                   fam[best]->name, top, sel->n, n);
        }
        for (int k = 0; k < n * sel->n; k++) json_decref(costs[k]);
        free(scores);
        free(costs);
    }
    int chosen = best >= 0 ? index[best] : -1;
    free(fam);
    free(index);
    return chosen;
}

/* The table and the JSON conditions: rows not applicable say why; paired differences
 * against text (or the first row that ran) on the same items. */
static void print_summary(condition *const *cs, int n_cs, const lw_task *t, double *scores, json_t **costs,
                          const opts *o, json_t *root) {
    int n = t->n;
    printf("\n%-26s %5s  %-22s %9s %9s %9s %9s %9s %10s %9s\n", "condition", "n", "accuracy [95% CI]", "A fwd", "A gen",
           "B fwd", "B gen", "passes", "msg bytes", "ms/item");
    json_t *conds = json_object();
    int ref = -1;
    for (int c = 0; c < n_cs; c++) {
        if (cs[c]->not_applicable[0]) {
            printf("%-26s %5s  not applicable: %s\n", cs[c]->name, "-", cs[c]->not_applicable);
            json_object_set_new(conds, cs[c]->name,
                                json_pack("{s:b, s:s}", "applicable", 0, "reason", cs[c]->not_applicable));
            continue;
        }
        if (ref < 0 || !strcmp(cs[c]->name, "text")) ref = c;
        lw_ci ci;
        lw_ci_mean(scores + (size_t)c * n, n, o->resamples, 0.95, o->seed, &ci);
        double sum[9] = {0};
        const char *keys[9] = {"a_forwarded", "a_generated", "b_forwarded", "b_generated", "a_passes", "b_passes",
                               "message_bytes", "message_floats", "wall_s"};
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 9; k++) sum[k] += cost_field(costs[(size_t)c * n + i], keys[k]);
        printf("%-26s %5d  %.3f [%.3f, %.3f]   %9.1f %9.1f %9.1f %9.1f %9.1f %10.1f %9.2f\n", cs[c]->name, n, ci.mean,
               ci.lo, ci.hi, sum[0] / n, sum[1] / n, sum[2] / n, sum[3] / n, (sum[4] + sum[5]) / n, sum[6] / n,
               1000 * sum[8] / n);
        json_t *cj = json_pack("{s:b, s:o}", "applicable", 1, "accuracy", lw_ci_json(&ci));
        json_t *mc = json_object();
        for (int k = 0; k < 9; k++) json_object_set_new(mc, keys[k], json_real(sum[k] / n));
        json_object_set_new(cj, "mean_cost", mc);
        json_object_set_new(conds, cs[c]->name, cj);
    }
    json_object_set_new(root, "conditions", conds);
    json_t *diffs = json_object();
    if (ref >= 0) printf("\npaired differences in accuracy against %s (same items; Newcombe's score interval, McNemar's exact p):\n", cs[ref]->name);
    for (int c = 0; ref >= 0 && c < n_cs; c++) {
        if (c == ref || cs[c]->not_applicable[0]) continue;
        lw_ci d;
        double pv;
        lw_ci_paired(scores + (size_t)c * n, scores + (size_t)ref * n, n, o->resamples, 0.95, o->seed, &d, &pv);
        printf("  %-26s - %-8s %+.3f [%+.3f, %+.3f]  p = %.3f\n", cs[c]->name, cs[ref]->name, d.mean, d.lo, d.hi, pv);
        json_object_set_new(diffs, cs[c]->name,
                            json_pack("{s:s, s:f, s:f, s:f, s:f}", "against", cs[ref]->name, "mean", d.mean, "lo",
                                      d.lo, "hi", d.hi, "p_value", pv));
    }
    json_object_set_new(root, "differences", diffs);
}

static json_t *item_ids(const lw_task *t) {
    json_t *a = json_array();
    for (int i = 0; i < t->n; i++) json_array_append_new(a, json_string(t->items[i].id));
    return a;
}

/* Every setting that changes a record, as `--resume` compares them. */
static json_t *settings_json(const opts *o, lw_model *ma, lw_model *mb, const lw_task *parts, int n_parts,
                             int n_select, int n_calib) {
    char th[65], bh[65] = "";
    cli_task_hash(parts, n_parts, th);
    if (o->ac_bridge && lw_sha256_file(o->ac_bridge, bh) != 0) bh[0] = '\0';
    const char *sa = lw_model_sha256(ma), *sb = lw_model_sha256(mb);
    json_t *s = json_object();
    json_object_set_new(s, "--sender", json_string(sa ? sa : o->sender));
    json_object_set_new(s, "--receiver", json_string(sb ? sb : o->receiver));
    json_object_set_new(s, "--task", json_string(th));
    json_object_set_new(s, "--channel", json_string(o->channels));
    json_object_set_new(s, "--k", json_string(o->ks));
    json_object_set_new(s, "--j", json_string(o->js));
    json_object_set_new(s, "--op", json_string(o->ops));
    json_object_set_new(s, "--select", json_integer(n_select));
    json_object_set_new(s, "--calib", json_integer(n_calib));
    json_object_set_new(s, "--ac-bridge", o->ac_bridge ? json_string(bh) : json_null());
    json_object_set_new(s, "--message-tokens", json_integer(o->message_tokens));
    json_object_set_new(s, "--answer-tokens", json_integer(o->answer_tokens));
    json_object_set_new(s, "--temp", o->temp_set ? json_real(o->temp) : json_null());
    json_object_set_new(s, "--top-k", json_integer(o->top_k));
    json_object_set_new(s, "--top-p", json_real(o->top_p));
    json_object_set_new(s, "--onehot", json_real(o->onehot));
    json_object_set_new(s, "--chat", json_boolean(o->chat));
    json_object_set_new(s, "--seed", json_integer((json_int_t)o->seed));
    return s;
}

/* Opens ITEMS.partial for this run: with --resume, the records of an earlier run with the
 * same settings are kept (rewritten without a torn last line) and loaded into ps; otherwise
 * it starts empty. The settings line comes first. NULL (message printed) on failure. */
static FILE *open_records(const char *partial, bool resume, json_t *settings, past *ps) {
    FILE *f = NULL;
    if ((resume && lw_records_load(ps, partial, settings, PAST_KEY, 3, "score", "--resume", NULL) != 0) ||
        !(f = lw_records_open(partial, settings, ps)))
        cli_fail_lib("channel");
    return f;
}

/* The options into o: 0, 1 (--help printed) or -1 (message printed). */
static int parse_opts(int argc, char **argv, opts *o) {
    *o = (opts){.channels = "none,text,ac", .ks = "mid", .js = "mid", .ops = "replace", .data = cli_default_data_dir(),
                .calib = 200, .select = 100, .resamples = 1000, .message_tokens = 24, .answer_tokens = 8,
                .top_p = 1.0f, .onehot = 2.0f, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        double f;
        if (cli_wants_help(argc, argv)) {
            fputs(USAGE, stdout);
            return 1;
        } else if (!strcmp(a, "--resume")) o->resume = true;
        else if (!strcmp(a, "--chat")) o->chat = true;
        else if (!v) return -cli_option_error("channel", USAGE, a, NULL);
        else if (!strcmp(a, "--sender")) o->sender = argv[++i];
        else if (!strcmp(a, "--receiver")) o->receiver = argv[++i];
        else if (!strcmp(a, "--task")) o->task = argv[++i];
        else if (!strcmp(a, "--channel")) o->channels = argv[++i];
        else if (!strcmp(a, "--k")) o->ks = argv[++i];
        else if (!strcmp(a, "--j")) o->js = argv[++i];
        else if (!strcmp(a, "--op")) o->ops = argv[++i];
        else if (!strcmp(a, "--out")) o->out = argv[++i];
        else if (!strcmp(a, "--json")) o->json = argv[++i];
        else if (!strcmp(a, "--data")) o->data = argv[++i];
        else if (!strcmp(a, "--ac-bridge")) o->ac_bridge = argv[++i];
        else if (!strcmp(a, "--calib") && cli_parse_int(v, 2, 1000000, &n)) o->calib = (int)n, i++;
        else if (!strcmp(a, "--select") && cli_parse_int(v, 1, 1000000, &n)) o->select = (int)n, i++;
        else if (!strcmp(a, "--resamples") && cli_parse_int(v, 100, 10000000, &n)) o->resamples = (int)n, i++;
        else if (!strcmp(a, "--message-tokens") && cli_parse_int(v, 1, 4096, &n)) o->message_tokens = (int)n, i++;
        else if (!strcmp(a, "--answer-tokens") && cli_parse_int(v, 1, 4096, &n)) o->answer_tokens = (int)n, i++;
        else if (!strcmp(a, "--top-k") && cli_parse_int(v, 0, 1 << 30, &n)) o->top_k = (int)n, i++;
        else if (!strcmp(a, "--seed") && cli_parse_int(v, 0, 1L << 62, &n)) o->seed = (uint64_t)n, i++;
        else if (!strcmp(a, "--threads") && cli_parse_int(v, 1, CLI_MAX_THREADS, &n)) o->threads = (int)n, i++;
        else if (!strcmp(a, "--temp") && cli_parse_real(v, 0, false, INFINITY, false, &f))
            o->temp = (float)f, o->temp_set = true, i++;
        else if (!strcmp(a, "--top-p") && cli_parse_real(v, 0, true, 1, false, &f)) o->top_p = (float)f, i++;
        else if (!strcmp(a, "--onehot") && cli_parse_real(v, 0, false, INFINITY, false, &f)) o->onehot = (float)f, i++;
        else return -cli_option_error("channel", USAGE, a, v);
    }
    if (!o->sender || !o->receiver || !o->task)
        return -cli_fail("channel", "--sender, --receiver and --task are required");
    const char *ins[] = {"--task", o->task, "--sender", o->sender, "--receiver", o->receiver, "--ac-bridge",
                         o->ac_bridge, "--out", NULL, NULL};
    if (cli_check_output("channel", "--out", o->out, LW_OUT_PARTIAL, ins)) return -1;
    ins[9] = o->out; /* --json must not be --out either */
    if (cli_check_output("channel", "--json", o->json, LW_OUT_FILE, ins)) return -1;
    return 0;
}

/* parts[2]: the reported items; parts[0] / parts[1]: n_select selection and n_calib calibration
 * items, drawn with them from one pool so that no sender text is in two parts. 0 or -1
 * (message printed). */
static int load_items(const opts *o, int n_select, int n_calib, lw_task parts[3]) {
    lw_task pool = {0};
    int n_report, rc = 0;
    if (cli_load_task_pool(o->task, o->data, o->seed, n_select + n_calib, &pool, &n_report) != 0)
        return -cli_fail_lib("channel");
    if (n_select + n_calib == 0) {
        parts[2] = pool;
        memset(&pool, 0, sizeof pool);
    } else {
        int sizes[3] = {n_select, n_calib, n_report};
        if (lw_task_split(&pool, sizes, 3, o->seed ^ 0x5e1ec7, parts) != 0)
            rc = -cli_fail("channel", "--task %s: %s", o->task, lw_last_error());
    }
    lw_task_free(&pool);
    if (rc == 0 && parts[2].n == 0) rc = -cli_fail("channel", "--task %s has no items", o->task);
    return rc;
}

/* The rows reported: every fixed channel (and every row not applicable), then one setting
 * per AC family, chosen on the selection items. The row count, or -1 (message printed). */
static int reported_rows(runner *R, conditions *cs, const lw_task *sel, json_t *root, condition **rows) {
    int n = 0;
    for (int c = 0; c < cs->n; c++)
        if (cs->c[c].fam == FAM_FIXED || cs->c[c].not_applicable[0]) rows[n++] = &cs->c[c];
    json_t *chosen = json_object();
    json_object_set_new(root, "selection", json_pack("{s:o, s:o}", "items", item_ids(sel), "chosen", chosen));
    for (int f = FAM_AC; f <= FAM_ACW; f++) {
        if (family_size(cs, (family)f) == 0) continue;
        int c = choose_setting(R, sel, cs, (family)f, chosen);
        if (c < 0) return -1;
        rows[n++] = &cs->c[c];
    }
    return n;
}

/* Runs for the progress line: the selection sweeps and the reported rows. */
static int count_runs(const conditions *cs, int n_select, int n_report) {
    int total = 0;
    for (int f = FAM_FIXED; f <= FAM_ACW; f++) {
        int k = family_size(cs, (family)f);
        if (f == FAM_FIXED) total += k * n_report;
        else if (k > 0) total += (k > 1 ? k * n_select : 0) + n_report;
    }
    return total;
}

int cmd_channel(int argc, char **argv) {
    opts o;
    int prc = parse_opts(argc, argv, &o);
    if (prc != 0) return prc > 0 ? 0 : -prc; /* 2: a usage error */
    int rc = 1, n_rows = 0;
    lw_model *ma = lw_model_load(o.sender, cli_model_params());
    lw_model *mb = ma && strcmp(o.sender, o.receiver) ? lw_model_load(o.receiver, cli_model_params()) : ma;
    lw_session *sa = NULL, *sb = NULL;
    lw_bridge *bridge = NULL;
    conditions cs = {0};
    condition **rows = NULL;
    lw_task parts[3] = {{0}}; /* selection, calibration, reported */
    double *scores = NULL;
    json_t **costs = NULL, *root = json_object(), *settings = NULL;
    past ps = {0};
    FILE *rec = NULL;
    char partial[4096] = "";
    if (!ma || !mb) {
        cli_fail_lib("channel");
        goto done;
    }
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = o.threads;
    sa = lw_session_new(ma, sp);
    sb = lw_session_new(mb, sp);
    if (!sa || !sb || (o.ac_bridge && !(bridge = lw_bridge_load(o.ac_bridge))) ||
        build_conditions(&o, sa, sb, bridge, &cs) != 0) {
        cli_fail_lib("channel");
        goto done;
    }
    if (!any_applicable(&cs)) {
        cli_fail("channel", "nothing to run: %s: %s", cs.c[0].name, cs.c[0].not_applicable);
        goto done;
    }
    int n_select = family_size(&cs, FAM_AC) > 1 || family_size(&cs, FAM_ACW) > 1 ? o.select : 0;
    int n_calib = family_size(&cs, FAM_ACW) > 0 && !bridge ? o.calib : 0;
    if (load_items(&o, n_select, n_calib, parts) != 0) goto done;
    const lw_task *t = &parts[2];
    settings = settings_json(&o, ma, mb, parts, 3, n_select, n_calib);
    json_object_set_new(root, "settings", json_incref(settings));
    if (o.out) {
        snprintf(partial, sizeof partial, "%s.partial", o.out);
        if (!(rec = open_records(partial, o.resume, settings, &ps))) goto done;
    }
    if (n_calib > 0) {
        json_t *maps = json_object();
        json_object_set_new(root, "calibration", json_pack("{s:o, s:o}", "items", item_ids(&parts[1]), "maps", maps));
        if (fit_maps(&cs, sa, sb, &parts[1], maps) != 0) {
            cli_fail("channel", "acw: %s", lw_last_error());
            goto done;
        }
    }
    runner R = {.sa = sa, .sb = sb, .rec = rec, .ps = &ps, .total = count_runs(&cs, n_select, t->n)};
    rows = malloc(sizeof *rows * (size_t)cs.n);
    if ((n_rows = reported_rows(&R, &cs, &parts[0], root, rows)) < 0) goto done;
    scores = calloc((size_t)n_rows * t->n, sizeof(double));
    costs = calloc((size_t)n_rows * t->n, sizeof(json_t *));
    if (run_split(&R, "report", t, rows, n_rows, scores, costs) != 0) goto done;
    if (rec) {
        int bad = fclose(rec);
        rec = NULL;
        if (bad) {
            cli_fail("channel", "cannot write %s: %s", partial, strerror(errno));
            goto done;
        }
    }
    printf("%s -> %s, task %s (%d items reported", o.sender, o.receiver, o.task, t->n);
    if (n_select) printf(", %d for selection", parts[0].n);
    if (n_calib) printf(", %d for calibration", parts[1].n);
    printf("; no text in two of these), %d resamples\n", o.resamples);
    json_object_set_new(root, "items", item_ids(t));
    print_summary(rows, n_rows, t, scores, costs, &o, root);
    if (o.out && rename(partial, o.out) != 0) {
        cli_fail("channel", "--out %s: cannot rename %s to it: %s", o.out, partial, strerror(errno));
        goto done;
    }
    if (o.json && lw_json_save(o.json, root) != 0) {
        cli_fail_lib("channel");
        goto done;
    }
    rc = 0;
done:
    if (rec) fclose(rec);
    for (int i = 0; costs && i < n_rows * parts[2].n; i++) json_decref(costs[i]);
    free(costs);
    free(scores);
    free(rows);
    for (int c = 0; c < cs.n; c++) lw_bridge_free(cs.c[c].fitted);
    free(cs.c);
    lw_records_free(&ps);
    json_decref(settings);
    json_decref(root);
    lw_bridge_free(bridge);
    lw_session_free(sa);
    lw_session_free(sb);
    if (mb != ma) lw_model_free(mb);
    lw_model_free(ma);
    for (int p = 0; p < 3; p++) lw_task_free(&parts[p]);
    return rc;
}
