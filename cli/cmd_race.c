/* latentwire race: the activation channel against the text channel at bit budgets, item by item,
 * with floor and ceiling; `race merge` joins shards; `race retrieval` is the codec retrieval test. */
#include <jansson.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "latentwire/error.h"
#include "latentwire/race.h"
#include "latentwire/race_experiment.h"
#include "latentwire/verdict.h"

static const char *USAGE =
    "usage: latentwire race --sender A.gguf [--receiver B.gguf] --task SPEC --out DIR [options]\n"
    "       latentwire race merge --out DIR\n"
    "       latentwire race retrieval --model M.gguf --passages FILE --out DIR [options]   (see race retrieval --help)\n"
    "  --task SPEC          FILE.jsonl | skill:NAME[:N] | fv:NAME[:N] | story:N: each item's sender text is the demonstrations,\n"
    "                       its receiver prompt the query (a receiver prompt that begins with the sender text, as fv:\n"
    "                       items do, is cut to the query); gold, scored by exact match (lw_score)\n"
    "  --channel LIST       floor, ceiling, mean (0 payload bits: the calibration activations' mean into every query,\n"
    "                       the side information alone; act: rows get minus_mean), act:CODEC (topk, pcaq,\n"
    "                       token-sparse, sae, pq), text:CODEC (zlib, brotli,\n"
    "                       brotli-dict, zstd, zstd-dict, truncate, lm-arith, summary: a reference row), cipher\n"
    "                       (the sender's greedy continuation as soft tokens, each step's top-m (id, weight) entries\n"
    "                       quantized to the budget; needs a shared vocabulary). AC quantized is act:CODEC, --positions 1\n"
    "                       (default floor,ceiling,act:topk,act:pcaq,text:zlib,text:lm-arith)\n"
    "  --budgets LIST       payload budgets K in bits (default 16,32,64,128,256,512,1024,2048)\n"
    "  --layer L            the sender's layer (negative from the end, or mid; default mid)\n"
    "  --receiver-layer L   the receiver's layer (default: the same as --layer, or mid of the receiver)\n"
    "  --bridge FILE        sender -> receiver map (bridge fit, ridge: it predicts the receiver's rows); required for\n"
    "                       act: channels between two different models\n"
    "  --positions T        the sender's last T positions (default 1)   --pooled  the mean over the sender's text instead\n"
    "  --task-vector        act: channels read the demonstrations with the last answer withheld (as scan --task-vector);\n"
    "                       text channels still send every demonstration\n"
    "  --exclude FILE.jsonl  leave out every item sharing a sender text or a query with FILE's (scan.select.jsonl: the\n"
    "                       items a --layer was chosen on), before the calibration and reported items are drawn\n"
    "  --op replace|add     how the vectors enter the receiver (default replace)   --scale S (add; default 1)\n"
    "  --answer-tokens N    the receiver's greedy answer length (default 8)   --chat  each side in its chat template\n"
    "  --cipher-steps G     the cipher sender's greedy steps (default 0: as many as fit one token id each, at most 24)\n"
    "  --calib N            calibration items the codecs are fitted on, disjoint from the reported ones (default 100)\n"
    "  --shard I/N          score only items i with i % N == I (write race-shard-I-of-N.partial; then race merge)\n"
    "  --resume             keep the records of an interrupted run with the same settings\n"
    "  --plan PLAN.json     the pre-registration plan the run is made under: its sha256 joins the settings and\n"
    "                       records.jsonl (per item and cell, for latentwire verdict PLAN DIR/records.jsonl)\n"
    "  --resamples N (1000)  --seed N (1)  --data DIR  --threads N\n"
    "  Outputs in DIR: race.json (every cell's accuracy with its 95% CI and n, bits, paired differences activation -\n"
    "  text per budget with verdicts), race.csv (the rate-accuracy curve; floor and ceiling rows without a budget),\n"
    "  race.jsonl (per-item records), fits.json (each codec's fit record), timing.json (wall time per item per cell of\n"
    "  this run; not deterministic, so apart from race.json).\n";

typedef struct {
    const char *sender, *receiver, *task, *channels, *budgets, *out, *data, *bridge, *op, *layer, *rlayer, *plan,
        *exclude;
    char plan_sha[65];
    int positions, answer_tokens, calib, resamples, threads, shard, n_shards, cipher_steps;
    double scale;
    bool pooled, chat, resume, task_vector;
    uint64_t seed;
} opts;

static bool parse_shard(const char *v, opts *o) {
    int i, n, len = 0;
    if (!v || sscanf(v, "%d/%d%n", &i, &n, &len) != 2 || v[len] || n < 1 || i < 0 || i >= n)
        return cli_reject(v, "must be I/N with 0 <= I < N");
    o->shard = i;
    o->n_shards = n;
    return true;
}

/* The options into o: 0, 1 (--help printed) or 2 (message printed). *argc_io loses --gpu-layers N,
 * which the checks after parsing must not see again. */
static int parse_opts(int *argc_io, char **argv, opts *o) {
    if (cli_options_once("race", USAGE, argc_io, argv)) return 2;
    int argc = *argc_io;
    *o = (opts){.channels = "floor,ceiling,act:topk,act:pcaq,text:zlib,text:lm-arith",
                .budgets = "16,32,64,128,256,512,1024,2048", .data = cli_default_data_dir(), .op = "replace",
                .layer = "mid", .positions = 1, .answer_tokens = 8, .calib = 100, .resamples = 1000, .n_shards = 1,
                .scale = 1.0, .seed = 1};
    if (cli_wants_help(argc, argv)) {
        cli_print_help("race", USAGE);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        double f;
        if (!strcmp(a, "--resume")) o->resume = true;
        else if (!strcmp(a, "--chat")) o->chat = true;
        else if (!strcmp(a, "--pooled")) o->pooled = true;
        else if (!strcmp(a, "--task-vector")) o->task_vector = true;
        else if (!v) return cli_option_error("race", USAGE, a, NULL);
        else if (!strcmp(a, "--sender")) o->sender = argv[++i];
        else if (!strcmp(a, "--receiver")) o->receiver = argv[++i];
        else if (!strcmp(a, "--task")) o->task = argv[++i];
        else if (!strcmp(a, "--channel")) o->channels = argv[++i];
        else if (!strcmp(a, "--budgets")) o->budgets = argv[++i];
        else if (!strcmp(a, "--out")) o->out = argv[++i];
        else if (!strcmp(a, "--plan")) o->plan = argv[++i];
        else if (!strcmp(a, "--data")) o->data = argv[++i];
        else if (!strcmp(a, "--bridge")) o->bridge = argv[++i];
        else if (!strcmp(a, "--exclude")) o->exclude = argv[++i];
        else if (!strcmp(a, "--layer")) o->layer = argv[++i];
        else if (!strcmp(a, "--receiver-layer")) o->rlayer = argv[++i];
        else if (!strcmp(a, "--op") && (!strcmp(v, "replace") || !strcmp(v, "add") || cli_reject(v, "must be one of replace, add"))) o->op = argv[++i];
        else if (!strcmp(a, "--shard") && parse_shard(v, o)) i++;
        else if (!strcmp(a, "--positions") && cli_parse_int(v, 1, 4096, &n)) o->positions = (int)n, i++;
        else if (!strcmp(a, "--answer-tokens") && cli_parse_int(v, 1, 4096, &n)) o->answer_tokens = (int)n, i++;
        else if (!strcmp(a, "--calib") && cli_parse_int(v, 2, 1000000, &n)) o->calib = (int)n, i++; /* 1 row: no fit */
        else if (!strcmp(a, "--cipher-steps") && cli_parse_int(v, 0, 4096, &n)) o->cipher_steps = (int)n, i++;
        else if (!strcmp(a, "--resamples") && cli_parse_int(v, 100, 10000000, &n)) o->resamples = (int)n, i++;
        else if (!strcmp(a, "--seed") && cli_parse_int(v, 0, 1L << 62, &n)) o->seed = (uint64_t)n, i++;
        else if (!strcmp(a, "--threads") && cli_parse_int(v, 1, CLI_MAX_THREADS, &n)) o->threads = (int)n, i++;
        else if (!strcmp(a, "--scale") && cli_parse_real(v, -FLT_MAX, false, FLT_MAX, false, &f)) o->scale = f, i++;
        else return cli_option_error("race", USAGE, a, v);
    }
    if (!o->sender || !o->task || !o->out) return cli_usage_fail("race", "--sender, --task and --out are required");
    if (cli_given(argc, argv, "--scale") && strcmp(o->op, "add") != 0)
        return cli_fail("race", "--scale multiplies added vectors: give --op add with it, or leave --scale out"), 2;
    if (o->scale == 0)
        return cli_fail("race", "--scale 0 adds nothing: the receiver would answer unpatched (the floor); give another "
                        "scale"), 2;
    if (o->pooled && cli_given(argc, argv, "--positions"))
        return cli_fail("race", "--pooled sends the mean over the sender's text, so --positions has no use with it: "
                        "give one of them"), 2;
    if (!o->receiver) o->receiver = o->sender;
    return 0;
}

/* An option no listed channel reads is refused, not ignored (a user who gives --op add to a text-only
 * race believes something was added). 0, or 2 after the message. */
static int unused_option(const opts *o, int argc, char **argv, const lw_race_channel *ch, int n_ch) {
    bool act = false, cipher = false, budgeted = false;
    for (int c = 0; c < n_ch; c++) {
        act |= ch[c].family == LW_RACE_ACT || ch[c].family == LW_RACE_MEAN;
        cipher |= ch[c].family == LW_RACE_CIPHER;
        budgeted |= ch[c].family == LW_RACE_ACT || ch[c].family == LW_RACE_TEXT || ch[c].family == LW_RACE_CIPHER;
    }
    static const char *const ACT_ONLY[] = {"--op", "--scale", "--positions", "--pooled", "--task-vector", "--bridge",
                                           "--layer", "--receiver-layer"};
    for (size_t k = 0; !act && k < sizeof ACT_ONLY / sizeof ACT_ONLY[0]; k++)
        if (cli_given(argc, argv, ACT_ONLY[k]))
            return cli_fail("race", "%s shapes the activation channels, and --channel %s lists none (act:CODEC or "
                            "mean): add one, or leave %s out", ACT_ONLY[k], o->channels, ACT_ONLY[k]) + 1;
    if (!cipher && cli_given(argc, argv, "--cipher-steps"))
        return cli_fail("race", "--cipher-steps: --channel %s lists no cipher channel; add cipher, or leave it out",
                        o->channels) + 1;
    if (!budgeted && cli_given(argc, argv, "--budgets"))
        return cli_fail("race", "--budgets: --channel %s lists only channels without a budget (floor, ceiling, mean); "
                        "add act:, text: or cipher channels, or leave --budgets out", o->channels) + 1;
    return 0;
}

/* --channel into channels (the count) and --budgets into budgets; -1 after the message. */
static int parse_channels(const opts *o, lw_race_channel **ch, int64_t **budgets, int *n_budgets) {
    char **items = NULL;
    int n = cli_parse_list("--channel", o->channels, &items), rc = n < 0 ? -1 : 0;
    *ch = calloc((size_t)(n > 0 ? n : 1), sizeof **ch);
    for (int i = 0; rc == 0 && i < n; i++)
        if (lw_race_channel_parse(items[i], &(*ch)[i]) != 0) rc = lw_fail_prefix("--channel: ");
    free(items);
    int nb = rc == 0 ? cli_parse_budgets("--budgets", o->budgets, budgets) : -1;
    if (nb < 0) rc = -1;
    *n_budgets = nb;
    if (rc == 0) return n;
    cli_fail_lib("race");
    return -1;
}

static void progress(void *ctx, int done, int total) {
    (void)ctx;
    if (cli_is_tty()) fprintf(stderr, "\rrace: %d/%d evaluations%s", done, total, done == total ? "\n" : "");
}

/* The table and the verdicts from race.json's text. */
static void print_report(const char *text) {
    json_t *r = json_loads(text, 0, NULL);
    size_t i;
    json_t *c;
    printf("%-22s %7s %5s  %-24s %12s %14s\n", "channel", "budget", "n", "accuracy [95% CI]", "payload bits",
           "side bits/item");
    json_array_foreach(json_object_get(r, "cells"), i, c) {
        const char *name = json_string_value(json_object_get(c, "channel"));
        json_t *b = json_object_get(c, "budget_bits"), *a = json_object_get(c, "accuracy");
        char budget[24] = "-";
        if (json_is_integer(b)) snprintf(budget, sizeof budget, "%lld", (long long)json_integer_value(b));
        if (!a) {
            printf("%-22s %7s %5s  not applicable: %s\n", name, budget, "-",
                   json_string_value(json_object_get(c, "reason")));
            continue;
        }
        printf("%-22s %7s %5lld  %.3f [%.3f, %.3f]      %12.1f %14.1f\n", name, budget,
               (long long)json_integer_value(json_object_get(c, "n")), json_number_value(json_object_get(a, "mean")),
               json_number_value(json_object_get(a, "lo")), json_number_value(json_object_get(a, "hi")),
               json_number_value(json_object_get(c, "payload_bits_mean")),
               json_number_value(json_object_get(c, "side_bits_per_item")));
    }
    json_t *comps = json_object_get(r, "comparisons");
    if (json_array_size(comps)) printf("\nactivation - text per budget (Newcombe's paired score interval):\n");
    json_array_foreach(comps, i, c) {
        json_t *d = json_object_get(c, "difference");
        printf("  %5lld bits  %-16s - %-16s %+.3f [%+.3f, %+.3f]  %s%s\n",
               (long long)json_integer_value(json_object_get(c, "budget_bits")),
               json_string_value(json_object_get(c, "activation")), json_string_value(json_object_get(c, "text")),
               json_number_value(json_object_get(d, "mean")), json_number_value(json_object_get(d, "lo")),
               json_number_value(json_object_get(d, "hi")), json_string_value(json_object_get(c, "verdict")),
               json_is_true(json_object_get(c, "paired")) ? "" : " (unpaired)");
    }
    json_decref(r);
}

static int cmd_race_merge(int argc, char **argv) {
    const char *usage = "usage: latentwire race merge --out DIR\n"
                        "  merges DIR's race-shard-I-of-N.partial files (every shard complete) into race.json, race.csv\n"
                        "  and race.jsonl, the same bytes an unsharded run writes\n";
    const char *out = NULL;
    if (cli_options_once("race merge", usage, &argc, argv)) return 2;
    if (cli_wants_help(argc, argv)) return cli_print_help("race merge", usage), 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else return cli_option_error("race merge", usage, argv[i], i + 1 < argc ? argv[i + 1] : NULL);
    }
    if (!out) return cli_usage_fail("race merge", "--out DIR is required");
    char *report = NULL;
    if (lw_race_merge(out, &report) != 0) {
        free(report);
        return cli_fail_lib("race merge");
    }
    print_report(report);
    free(report);
    printf("\nwrote %s/race.json, race.csv, race.jsonl, records.jsonl\n", out);
    return 0;
}

int cmd_race_retrieval(int argc, char **argv);

/* The header line, once the items are split (and what --exclude left out). */
static void on_ready(void *ctx, const lw_race_experiment_result *r) {
    const opts *o = ctx;
    if (o->exclude)
        fprintf(stderr, "race: --exclude %s: left out %d of %d items that share an id or a text with its items%s\n",
                o->exclude, r->n_excluded, r->n_pool, r->n_excluded ? "" : " (none: check that its items come from this --task)");
    printf("race: %s -> %s, task %s: %d items reported (%d of them in this shard), %d calibration items; layers %d -> %d\n",
           o->sender, o->receiver, o->task, r->n_report, r->n_in_shard, r->n_calib, r->sender_layer, r->receiver_layer);
}

/* Everything that needs no model, before any loads: the channels' options, the plan (read, and
 * tied to the run by its sha256), the outputs (an --out over the plan is named as that), then
 * whether the plan names only cells this run writes. 0, or 2 after the message. */
static int check_before_models(opts *o, int argc, char **argv, const lw_race_experiment_params *p) {
    if (p->n_channels < 0 || unused_option(o, argc, argv, p->channels, p->n_channels) != 0) return 2;
    lw_plan *plan = o->plan ? lw_plan_load(o->plan) : NULL;
    int rc = o->plan && !plan ? -1 : 0;
    if (plan) snprintf(o->plan_sha, sizeof o->plan_sha, "%s", lw_plan_sha256(plan));
    if (rc == 0) rc = lw_race_experiment_check_outputs(p);
    if (rc == 0 && plan) rc = lw_race_check_plan(plan, o->plan, p->channels, p->n_channels, p->budgets, p->n_budgets);
    lw_plan_free(plan);
    return rc == 0 ? 0 : (cli_fail_lib("race"), 2);
}

int cmd_race(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "merge")) return cmd_race_merge(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "retrieval")) return cmd_race_retrieval(argc - 1, argv + 1);
    for (int i = 2; argc >= 2 && argv[1][0] == '-' && i < argc && i <= 3; i++) /* `race --gpu-layers 8 retrieval` */
        if (!strcmp(argv[i], "merge") || !strcmp(argv[i], "retrieval"))
            return cli_fail("race", "%s after an option: give the subcommand first (latentwire race %s ...)", argv[i],
                            argv[i]) + 1; /* a usage error */
    opts o;
    int prc = parse_opts(&argc, argv, &o);
    if (prc != 0) return prc == 1 ? 0 : 2;
    lw_race_channel *ch = NULL;
    int64_t *budgets = NULL;
    int n_budgets = 0, n_ch = parse_channels(&o, &ch, &budgets, &n_budgets), rc = 1;
    const char *const inputs[] = {"--task",   o.task,     "--plan",     o.plan,     "--bridge", o.bridge, "--sender",
                                  o.sender, "--receiver", o.receiver, "--exclude", o.exclude, NULL};
    lw_race_experiment_params p = lw_race_experiment_default_params();
    p.sender_name = o.sender, p.receiver_name = o.receiver, p.bridge_path = o.bridge, p.task = o.task;
    p.layer = o.layer, p.receiver_layer = o.rlayer, p.channels = ch, p.n_channels = n_ch;
    p.budgets = budgets, p.n_budgets = n_budgets, p.calib = o.calib, p.exclude = o.exclude;
    p.patch.positions = o.positions, p.patch.pooled = o.pooled, p.patch.task_vector = o.task_vector;
    p.patch.op = strcmp(o.op, "add") ? LW_PATCH_REPLACE : LW_PATCH_ADD, p.patch.scale = (float)o.scale;
    p.patch.answer_tokens = o.answer_tokens, p.patch.chat = o.chat, p.cipher_steps = o.cipher_steps;
    p.out_dir = o.out, p.inputs = inputs, p.shard = o.shard, p.n_shards = o.n_shards, p.resume = o.resume;
    p.resamples = o.resamples, p.seed = o.seed, p.threads = o.threads;
    p.on_progress = progress, p.on_ready = on_ready, p.progress_ctx = &o;
    if (check_before_models(&o, argc, argv, &p) != 0) {
        free(ch), free(budgets);
        return 2;
    }
    p.plan_sha256 = o.plan_sha[0] ? o.plan_sha : NULL;
    lw_model *ms = lw_model_load(o.sender, cli_model_params());
    lw_model *mr = ms && strcmp(o.sender, o.receiver) ? lw_model_load(o.receiver, cli_model_params()) : ms;
    lw_bridge *bridge = NULL;
    lw_session *ss = NULL, *sr = NULL;
    lw_task pool = {0};
    lw_race_experiment_result res = {0};
    if (!ms || !mr || (o.bridge && !(bridge = lw_bridge_load(o.bridge)))) {
        cli_fail_lib("race");
        goto done;
    }
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = o.threads;
    ss = lw_session_new(ms, sp);
    sr = mr == ms ? ss : lw_session_new(mr, sp);
    if (!ss || !sr || cli_load_task_pool(o.task, o.data, o.seed, o.calib, &pool, &p.n_report) != 0) {
        cli_fail_lib("race");
        goto done;
    }
    p.sender = ss, p.receiver = sr, p.bridge = bridge, p.pool = &pool;
    if (lw_race_experiment_run(&p, &res) != 0) {
        cli_fail_lib("race");
        goto done;
    }
    if (o.n_shards > 1) {
        printf("shard %d/%d done; when every shard is: latentwire race merge --out %s\n", o.shard, o.n_shards, o.out);
    } else {
        print_report(res.report_json);
        printf("\nwrote %s/race.json, race.csv, race.jsonl, records.jsonl, fits.json, timing.json\n", o.out);
    }
    rc = 0;
done:
    lw_race_experiment_result_free(&res);
    lw_task_free(&pool);
    lw_bridge_free(bridge);
    if (sr != ss) lw_session_free(sr);
    lw_session_free(ss);
    if (mr != ms) lw_model_free(mr);
    lw_model_free(ms);
    free(ch);
    free(budgets);
    return rc;
}
