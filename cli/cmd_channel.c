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
#include "common/error.h"
#include "common/fileio.h"
#include "common/jsonio.h"
#include "eval/ci_json.h"
#include "latentwire/channel.h"
#include "latentwire/retrieval.h"

static const char *USAGE =
    "usage: latentwire channel --sender A.gguf --receiver B.gguf --task SPEC [options]\n"
    "  --task SPEC          FILE.jsonl | story:N | gsm8k:N | fv:NAME[:N] | bio:N\n"
    "  --channel LIST       none,context,text,cipher,ac,acw (default none,text,ac)\n"
    "  --k LIST --j LIST    AC layers of sender and receiver (default -1; negative from the end)\n"
    "  --op LIST            AC functions: replace,sum,mean (default replace)\n"
    "  --ac-bridge FILE     acw uses this bridge instead of the closed-form fit\n"
    "  --calib N            acw: closed-form W fitted on N calibration texts (story task, another seed; default 200)\n"
    "  --message-tokens N   text/CIPHER message length (default 24)   --answer-tokens N (default 8)\n"
    "  --temp T             text: sender sampling temperature; CIPHER: softmax temperature (default 0 / 1)\n"
    "  --top-k K --top-p P --onehot F   CIPHER truncation and partial one-hot threshold\n"
    "  --chat               A's text, and B's message + prompt, as a user turn in each model's chat template\n"
    "  --out ITEMS.jsonl    per-item records (written as ITEMS.jsonl.partial, renamed when done)\n"
    "  --resume             reuse the records of an interrupted run (ITEMS.jsonl.partial)\n"
    "  --json SUMMARY.json  --resamples N (default 1000)  --seed N\n"
    "  --data DIR           named tasks' data (default $LW_SHARED_DIR/data, else ../shared/data)\n"
    "  --threads N          CPU threads of each model (default: all cores)\n";

typedef struct {
    char name[64];
    lw_channel_params p;
    float *W; /* acw: owned closed-form map */
} condition;

typedef struct {
    condition *c;
    int n;
} conditions;

static int split_ints(const char *s, int *out, int cap) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t && n < cap; t = strtok_r(NULL, ",", &save)) {
        long v;
        if (!cli_parse_int(t, -1000, 1000, &v)) return -1;
        out[n++] = (int)v;
    }
    return n;
}

static condition *add_condition(conditions *cs, const char *name, lw_channel_params p) {
    cs->c = realloc(cs->c, sizeof *cs->c * (size_t)(cs->n + 1));
    condition *c = &cs->c[cs->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->p = p;
    return c;
}

/* Past records of an interrupted run: "condition\\tid" -> the JSON line. */
typedef struct {
    char **key;
    json_t **rec;
    int n;
} past;

static void past_load(past *ps, const char *path) {
    memset(ps, 0, sizeof *ps);
    size_t len;
    char *text = lw_read_file(path, &len);
    if (!text) return;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(line, 0, NULL);
        const char *c = json_string_value(json_object_get(o, "condition")), *id = json_string_value(json_object_get(o, "id"));
        if (!c || !id) { /* a torn last line from the interruption: skip it */
            json_decref(o);
            continue;
        }
        ps->key = realloc(ps->key, sizeof *ps->key * (size_t)(ps->n + 1));
        ps->rec = realloc(ps->rec, sizeof *ps->rec * (size_t)(ps->n + 1));
        size_t kl = strlen(c) + strlen(id) + 2;
        ps->key[ps->n] = malloc(kl);
        snprintf(ps->key[ps->n], kl, "%s\t%s", c, id);
        ps->rec[ps->n++] = o;
    }
    free(text);
}

static json_t *past_find(const past *ps, const char *cond, const char *id) {
    for (int i = 0; i < ps->n; i++) {
        const char *k = ps->key[i];
        size_t cl = strlen(cond);
        if (!strncmp(k, cond, cl) && k[cl] == '\t' && !strcmp(k + cl + 1, id)) return ps->rec[i];
    }
    return NULL;
}

static void past_free(past *ps) {
    for (int i = 0; i < ps->n; i++) {
        free(ps->key[i]);
        json_decref(ps->rec[i]);
    }
    free(ps->key);
    free(ps->rec);
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
    int calib, resamples, message_tokens, answer_tokens, top_k;
    float temp, top_p, onehot;
    bool temp_set, resume, chat;
    uint64_t seed;
} opts;

static int build_conditions(const opts *o, lw_session *sa, lw_session *sb, const lw_bridge *bridge, conditions *cs) {
    lw_channel_params base = lw_channel_default_params();
    base.message_tokens = o->message_tokens;
    base.answer_tokens = o->answer_tokens;
    base.cipher_top_k = o->top_k;
    base.cipher_top_p = o->top_p;
    base.cipher_onehot = o->onehot;
    base.seed = o->seed;
    base.chat = o->chat;
    int ks[32], js[32], nk = split_ints(o->ks, ks, 32), nj = split_ints(o->js, js, 32);
    if (nk <= 0 || nj <= 0) return lw_fail("--k / --j: comma-separated layer indices expected");
    char buf[256];
    snprintf(buf, sizeof buf, "%s", o->channels);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        bool acw = !strcmp(t, "acw");
        int kind = acw ? LW_CHANNEL_AC : lw_channel_from_name(t);
        if (kind < 0) return lw_fail("--channel \"%s\": use none, context, text, cipher, ac or acw", t);
        lw_channel_params p = base;
        p.kind = (lw_channel_kind)kind;
        if (kind == LW_CHANNEL_TEXT) p.sender_temp = o->temp_set ? o->temp : 0.0f;
        if (kind == LW_CHANNEL_CIPHER) p.sender_temp = o->temp_set ? o->temp : 1.0f;
        if (kind != LW_CHANNEL_AC) {
            add_condition(cs, t, p);
            continue;
        }
        char obuf[64];
        snprintf(obuf, sizeof obuf, "%s", o->ops);
        char *s2 = NULL;
        for (char *op = strtok_r(obuf, ",", &s2); op; op = strtok_r(NULL, ",", &s2)) {
            int opi = lw_ac_op_from_name(op);
            if (opi < 0) return lw_fail("--op \"%s\": use replace, sum or mean", op);
            for (int a = 0; a < nk; a++)
                for (int b = 0; b < nj; b++) {
                    char name[64];
                    snprintf(name, sizeof name, "%s[k=%d,j=%d,%s]", acw ? "acw" : "ac", ks[a], js[b], op);
                    p.ac_k = ks[a];
                    p.ac_j = js[b];
                    p.ac_op = (lw_ac_op)opi;
                    condition *c = add_condition(cs, name, p);
                    if (!acw) continue;
                    if (bridge) {
                        c->p.ac_bridge = bridge;
                        continue;
                    }
                    /* closed-form W on calibration stories drawn with another seed */
                    lw_task cal;
                    if (lw_task_story(o->calib, o->seed + 7919, &cal) != 0) return -1;
                    const char **texts = malloc(sizeof(char *) * (size_t)cal.n);
                    for (int i = 0; i < cal.n; i++) texts[i] = cal.items[i].sender;
                    int dA, dB;
                    c->W = lw_channel_fit_ac_map(sa, sb, ks[a], js[b], texts, cal.n, &dA, &dB);
                    free(texts);
                    lw_task_free(&cal);
                    if (!c->W) return -1;
                    c->p.ac_W = c->W;
                }
        }
    }
    return 0;
}

static void print_summary(const conditions *cs, const lw_task *t, double *scores, json_t **costs, const opts *o,
                          json_t *root) {
    int n = t->n;
    printf("\n%-26s %5s  %-22s %9s %9s %9s %9s %9s %10s %9s\n", "condition", "n", "accuracy [95% CI]", "A fwd", "A gen",
           "B fwd", "B gen", "passes", "msg bytes", "ms/item");
    json_t *conds = json_object();
    for (int c = 0; c < cs->n; c++) {
        lw_ci ci;
        lw_ci_mean(scores + (size_t)c * n, n, o->resamples, 0.95, o->seed, &ci);
        double sum[9] = {0};
        const char *keys[9] = {"a_forwarded", "a_generated", "b_forwarded", "b_generated", "a_passes", "b_passes",
                               "message_bytes", "message_floats", "wall_s"};
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 9; k++) sum[k] += cost_field(costs[(size_t)c * n + i], keys[k]);
        printf("%-26s %5d  %.3f [%.3f, %.3f]   %9.1f %9.1f %9.1f %9.1f %9.1f %10.1f %9.2f\n", cs->c[c].name, n, ci.mean,
               ci.lo, ci.hi, sum[0] / n, sum[1] / n, sum[2] / n, sum[3] / n, (sum[4] + sum[5]) / n, sum[6] / n,
               1000 * sum[8] / n);
        json_t *cj = json_pack("{s:o}", "accuracy", lw_ci_json(&ci));
        json_t *mc = json_object();
        for (int k = 0; k < 9; k++) json_object_set_new(mc, keys[k], json_real(sum[k] / n));
        json_object_set_new(cj, "mean_cost", mc);
        json_object_set_new(conds, cs->c[c].name, cj);
    }
    json_object_set_new(root, "conditions", conds);
    /* paired differences against text (or the first condition) on the same items */
    int ref = 0;
    for (int c = 0; c < cs->n; c++)
        if (!strcmp(cs->c[c].name, "text")) ref = c;
    json_t *diffs = json_object();
    printf("\npaired bootstrap differences in accuracy against %s (same items):\n", cs->c[ref].name);
    for (int c = 0; c < cs->n; c++) {
        if (c == ref) continue;
        lw_ci d;
        double pv;
        lw_bootstrap_paired(scores + (size_t)c * n, scores + (size_t)ref * n, n, o->resamples, 0.95, o->seed, &d, &pv);
        printf("  %-26s - %-8s %+.3f [%+.3f, %+.3f]  p = %.3f\n", cs->c[c].name, cs->c[ref].name, d.mean, d.lo, d.hi,
               pv);
        json_object_set_new(diffs, cs->c[c].name,
                            json_pack("{s:s, s:f, s:f, s:f, s:f}", "against", cs->c[ref].name, "mean", d.mean, "lo",
                                      d.lo, "hi", d.hi, "p_value", pv));
    }
    json_object_set_new(root, "differences", diffs);
}

int cmd_channel(int argc, char **argv) {
    opts o = {.channels = "none,text,ac", .ks = "-1", .js = "-1", .ops = "replace", .data = cli_default_data_dir(),
              .calib = 200, .resamples = 1000, .message_tokens = 24, .answer_tokens = 8, .top_p = 1.0f, .onehot = 2.0f,
              .seed = 1};
    lw_session_params sp = lw_session_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        double f;
        if (cli_wants_help(argc, argv)) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--resume")) o.resume = true;
        else if (!strcmp(a, "--chat")) o.chat = true;
        else if (!v) return cli_option_error("channel", USAGE, a, NULL);
        else if (!strcmp(a, "--sender")) o.sender = argv[++i];
        else if (!strcmp(a, "--receiver")) o.receiver = argv[++i];
        else if (!strcmp(a, "--task")) o.task = argv[++i];
        else if (!strcmp(a, "--channel")) o.channels = argv[++i];
        else if (!strcmp(a, "--k")) o.ks = argv[++i];
        else if (!strcmp(a, "--j")) o.js = argv[++i];
        else if (!strcmp(a, "--op")) o.ops = argv[++i];
        else if (!strcmp(a, "--out")) o.out = argv[++i];
        else if (!strcmp(a, "--json")) o.json = argv[++i];
        else if (!strcmp(a, "--data")) o.data = argv[++i];
        else if (!strcmp(a, "--ac-bridge")) o.ac_bridge = argv[++i];
        else if (!strcmp(a, "--calib") && cli_parse_int(v, 2, 1000000, &n)) o.calib = (int)n, i++;
        else if (!strcmp(a, "--resamples") && cli_parse_int(v, 100, 10000000, &n)) o.resamples = (int)n, i++;
        else if (!strcmp(a, "--message-tokens") && cli_parse_int(v, 1, 4096, &n)) o.message_tokens = (int)n, i++;
        else if (!strcmp(a, "--answer-tokens") && cli_parse_int(v, 1, 4096, &n)) o.answer_tokens = (int)n, i++;
        else if (!strcmp(a, "--top-k") && cli_parse_int(v, 0, 1 << 30, &n)) o.top_k = (int)n, i++;
        else if (!strcmp(a, "--seed") && cli_parse_int(v, 0, 1L << 62, &n)) o.seed = (uint64_t)n, i++;
        else if (!strcmp(a, "--threads") && cli_parse_int(v, 1, CLI_MAX_THREADS, &n)) sp.n_threads = (int)n, i++;
        else if (!strcmp(a, "--temp") && cli_parse_real(v, 0, false, INFINITY, false, &f))
            o.temp = (float)f, o.temp_set = true, i++;
        else if (!strcmp(a, "--top-p") && cli_parse_real(v, 0, true, 1, false, &f)) o.top_p = (float)f, i++;
        else if (!strcmp(a, "--onehot") && cli_parse_real(v, 0, false, INFINITY, false, &f)) o.onehot = (float)f, i++;
        else return cli_option_error("channel", USAGE, a, v);
    }
    if (!o.sender || !o.receiver || !o.task) return cli_fail("channel", "--sender, --receiver and --task are required");
    const char *ins[] = {"--task", o.task, "--sender", o.sender, "--receiver", o.receiver, "--ac-bridge", o.ac_bridge,
                         "--out", NULL, NULL};
    if (cli_check_output("channel", "--out", o.out, LW_OUT_PARTIAL, ins)) return 1;
    ins[9] = o.out; /* --json must not be --out either */
    if (cli_check_output("channel", "--json", o.json, LW_OUT_FILE, ins)) return 1;
    lw_task t = {0};
    if (cli_load_task(o.task, o.data, o.seed, &t) != 0) return cli_fail_lib("channel");
    if (t.n == 0) {
        lw_task_free(&t);
        return cli_fail("channel", "--task %s has no items", o.task);
    }
    int rc = 1;
    lw_model *ma = lw_model_load(o.sender, cli_model_params());
    lw_model *mb = ma && strcmp(o.sender, o.receiver) ? lw_model_load(o.receiver, cli_model_params()) : ma;
    lw_session *sa = NULL, *sb = NULL;
    lw_bridge *bridge = NULL;
    conditions cs = {0};
    double *scores = NULL;
    json_t **costs = NULL, *root = json_object();
    past ps = {0};
    char partial[4096] = "";
    if (!ma || !mb) {
        cli_fail_lib("channel");
        goto done;
    }
    sa = lw_session_new(ma, sp);
    sb = lw_session_new(mb, sp);
    if (!sa || !sb || (o.ac_bridge && !(bridge = lw_bridge_load(o.ac_bridge)))) {
        cli_fail_lib("channel");
        goto done;
    }
    if (build_conditions(&o, sa, sb, bridge, &cs) != 0) {
        cli_fail_lib("channel");
        goto done;
    }
    FILE *rec = NULL;
    if (o.out) {
        snprintf(partial, sizeof partial, "%s.partial", o.out);
        if (o.resume) past_load(&ps, partial);
        else unlink(partial);
        rec = fopen(partial, "a");
        if (!rec) {
            cli_fail("channel", "--out %s: cannot write %s: %s", o.out, partial, strerror(errno));
            goto done;
        }
    }
    scores = calloc((size_t)cs.n * t.n, sizeof(double));
    costs = calloc((size_t)cs.n * t.n, sizeof(json_t *));
    int done_n = 0, total = cs.n * t.n;
    for (int i = 0; i < t.n; i++) {
        const lw_task_item *it = &t.items[i];
        for (int c = 0; c < cs.n; c++, done_n++) {
            json_t *old = past_find(&ps, cs.c[c].name, it->id);
            if (old) {
                scores[(size_t)c * t.n + i] = json_number_value(json_object_get(old, "score"));
                costs[(size_t)c * t.n + i] = json_incref(json_object_get(old, "cost"));
                continue;
            }
            lw_channel_result r;
            if (lw_channel_run(sa, sb, &cs.c[c].p, it->sender, it->receiver, &r, NULL) != 0) {
                cli_fail("channel", "item %s, %s: %s", it->id, cs.c[c].name, lw_last_error());
                if (rec) fclose(rec);
                goto done;
            }
            double sc = lw_score(it, r.output);
            scores[(size_t)c * t.n + i] = sc;
            costs[(size_t)c * t.n + i] = cost_json(&r.cost);
            if (rec) {
                json_t *line = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:O}", "condition", cs.c[c].name, "id",
                                         it->id, "receiver", it->receiver, "message", r.message ? r.message : "",
                                         "output", r.output ? r.output : "", "gold", it->gold, "score", sc, "cost",
                                         costs[(size_t)c * t.n + i]);
                char *s = json_dumps(line, JSON_COMPACT);
                fprintf(rec, "%s\n", s);
                fflush(rec);
                free(s);
                json_decref(line);
            }
            lw_channel_result_free(&r);
            if (cli_is_tty())
                fprintf(stderr, "\rchannel: %d/%d runs%s", done_n + 1, total, done_n + 1 == total ? "\n" : "");
        }
    }
    if (rec) fclose(rec);
    printf("%s -> %s, task %s (%d items), %d resamples\n", o.sender, o.receiver, o.task, t.n, o.resamples);
    print_summary(&cs, &t, scores, costs, &o, root);
    if (o.out && rename(partial, o.out) != 0) {
        cli_fail("channel", "--out %s: cannot rename %s to it: %s", o.out, partial, strerror(errno));
        goto done;
    }
    if (o.json) {
        if (lw_json_save(o.json, root) != 0) {
            cli_fail_lib("channel");
            goto done;
        }
    }
    rc = 0;
done:
    for (int i = 0; costs && i < cs.n * t.n; i++) json_decref(costs[i]);
    free(costs);
    free(scores);
    for (int c = 0; c < cs.n; c++) free(cs.c[c].W);
    free(cs.c);
    past_free(&ps);
    json_decref(root);
    lw_bridge_free(bridge);
    lw_session_free(sa);
    lw_session_free(sb);
    if (mb != ma) lw_model_free(mb);
    lw_model_free(ma);
    lw_task_free(&t);
    return rc;
}
