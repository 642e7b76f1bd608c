/* latentwire scan: the layer scan of in-context skill transfer (latentwire/scan.h). */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "latentwire/json.h"
#include "latentwire/error.h"
#include "latentwire/files.h"
#include "latentwire/scan.h"

static const char *USAGE =
    "usage: latentwire scan --sender M [--receiver M] --task T --out DIR [options]\n"
    "  For every layer L: the sender reads k demonstrations of a skill, its residual (block L's output)\n"
    "  at the last T positions (or pooled) is written into the receiver's query at its layer for L; the\n"
    "  receiver answers greedily. Reported with the prompt-only floor and the text ceiling (the receiver\n"
    "  reads the demonstrations, then the query); the layer is chosen on a selection split and reported\n"
    "  on the held-out items, with its paired difference against the floor.\n"
    "  --sender M           sender model (GGUF)\n"
    "  --receiver M         receiver model (default: the sender)\n"
    "  --task T             skill:NAME (first_letter, last_letter, repeat_word, next_number, prev_number,\n"
    "                       double_number), fv:NAME (a function_vectors task in the skill format), or a\n"
    "                       task FILE.jsonl whose sender is the demonstrations and receiver the query\n"
    "  --k-shot K           demonstrations per item (default 5; skill: and fv: tasks)\n"
    "  --items N            items in all (default 60): --select-items of them choose the layer, the rest\n"
    "                       are held out (a task file: its first N)\n"
    "  --select-items N     the selection split (default 20)\n"
    "  --layers LIST        sender layers: all (default), or a list (0,3,-1; negative from the end)\n"
    "  --receiver-layers LIST   the receiver's layer for each (default: the same numbers with one model,\n"
    "                       the same relative depth across models)\n"
    "  --bridge FILE        (repeatable) a bridge (latentwire bridge fit) from the sender's width to the receiver's:\n"
    "                       given once, used at every scanned layer; given once per --layers entry, the\n"
    "                       k-th for the k-th layer. Needed across widths\n"
    "  --positions T        the sender's last T positions into the receiver's last T (default 1)\n"
    "  --pooled             instead: the mean over the sender text, into the receiver's last position\n"
    "  --task-vector        the sender reads its demonstrations with the last answer withheld (its text\n"
    "                       ends \"...output:\"), so its last position is where it would answer: the\n"
    "                       task-vector readout (Hendel et al. 2023); needs --k-shot 2 or more\n"
    "  --op replace|add     replace the receiver's rows (default) or add the vectors times --scale S\n"
    "  --scale S            (default 1)\n"
    "  --answer-tokens N    greedy answer length (default 8)\n"
    "  --chat               each side reads its text as one user turn in its chat template\n"
    "  --seed S             items and split (default 1)\n"
    "  --resamples N        bootstrap resamples for scores that are not 0/1 (default 1000)\n"
    "  --out DIR            scan.json, scan.csv, scan.records.jsonl (records kept as scan.partial until done),\n"
    "                       scan.select.jsonl (the items the layer was chosen on: race --exclude)\n"
    "  --resume             reuse the records of an interrupted run with the same settings\n"
    "  --data DIR           data directory (default $LW_SHARED_DIR/data, else ../shared/data)\n"
    "  --threads N          CPU threads (default: every core)\n";

typedef struct {
    const char *sender, *receiver, *task, *out, *layers, *rlayers, *data;
    const char *bridge[64]; /* --bridge, in order */
    const char *inputs[6 + 2 * 64 + 1]; /* ("--option", path) pairs no output may be */
    int n_bridge;
    int k_shot, items, select, positions, answer_tokens, threads, resamples;
    bool pooled, chat, resume, task_vector;
    lw_patch_op op;
    double scale;
    uint64_t seed;
} opts;

/* 0, 1 (--help printed) or -1 (message printed; the exit status is 2 for a usage error). */
static int parse_opts(int argc, char **argv, opts *o, int *status) {
    *o = (opts){.layers = "all", .data = cli_default_data_dir(), .k_shot = 5, .items = 60, .select = 20,
                .positions = 1, .answer_tokens = 8, .resamples = 1000, .scale = 1.0, .seed = 1};
    *status = 2;
    if (cli_options_once("scan", USAGE, &argc, argv)) return -2;
    bool positions_set = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        double f;
        int c;
        if (cli_wants_help(argc, argv)) {
            cli_print_help("scan", USAGE);
            return 1;
        } else if (!strcmp(a, "--pooled")) o->pooled = true;
        else if (!strcmp(a, "--chat")) o->chat = true;
        else if (!strcmp(a, "--task-vector")) o->task_vector = true;
        else if (!strcmp(a, "--resume")) o->resume = true;
        else if (!v) return -cli_option_error("scan", USAGE, a, NULL);
        else if (!strcmp(a, "--sender")) o->sender = argv[++i];
        else if (!strcmp(a, "--receiver")) o->receiver = argv[++i];
        else if (!strcmp(a, "--task")) o->task = argv[++i];
        else if (!strcmp(a, "--out")) o->out = argv[++i];
        else if (!strcmp(a, "--layers")) o->layers = argv[++i];
        else if (!strcmp(a, "--receiver-layers")) o->rlayers = argv[++i];
        else if (!strcmp(a, "--bridge") && o->n_bridge < 64) o->bridge[o->n_bridge++] = argv[++i];
        else if (!strcmp(a, "--bridge")) return -cli_fail("scan", "--bridge: at most 64 bridges");
        else if (!strcmp(a, "--data")) o->data = argv[++i];
        else if (!strcmp(a, "--k-shot") && cli_parse_int(v, 1, 1000, &n)) o->k_shot = (int)n, i++;
        else if (!strcmp(a, "--items") && cli_parse_int(v, 2, 1000000, &n)) o->items = (int)n, i++;
        else if (!strcmp(a, "--select-items") && cli_parse_int(v, 1, 1000000, &n)) o->select = (int)n, i++;
        else if (!strcmp(a, "--positions") && cli_parse_int(v, 1, 4096, &n)) o->positions = (int)n, positions_set = true, i++;
        else if (!strcmp(a, "--answer-tokens") && cli_parse_int(v, 1, 4096, &n)) o->answer_tokens = (int)n, i++;
        else if (!strcmp(a, "--resamples") && cli_parse_int(v, 100, 10000000, &n)) o->resamples = (int)n, i++;
        else if (!strcmp(a, "--seed") && cli_parse_int(v, 0, 1L << 62, &n)) o->seed = (uint64_t)n, i++;
        else if (!strcmp(a, "--threads") && cli_parse_int(v, 1, CLI_MAX_THREADS, &n)) o->threads = (int)n, i++;
        else if (!strcmp(a, "--op") && cli_parse_choice(v, "replace|add", &c)) o->op = (lw_patch_op)c, i++;
        else if (!strcmp(a, "--scale") && cli_parse_real(v, -FLT_MAX, false, FLT_MAX, false, &f)) o->scale = f, i++;
        else return -cli_option_error("scan", USAGE, a, v);
    }
    if (!o->sender || !o->task || !o->out) return -cli_fail("scan", "--sender, --task and --out are required");
    if (positions_set && o->pooled) return -cli_fail("scan", "--positions and --pooled exclude each other: give one");
    if (o->task_vector && o->k_shot < 2 && (!strncmp(o->task, "skill:", 6) || !strncmp(o->task, "fv:", 3)))
        return -cli_fail("scan", "--task-vector withholds the last demonstration's answer, which leaves none of "
                         "--k-shot %d whole: give --k-shot 2 or more", o->k_shot);
    if (cli_given(argc, argv, "--scale") && o->op != LW_PATCH_ADD)
        return -cli_fail("scan", "--scale multiplies added vectors: give --op add with it, or leave --scale out");
    if (o->select >= o->items)
        return -cli_fail("scan", "--select-items %d leaves no held-out item of --items %d: give more --items",
                         o->select, o->items);
    if (!o->receiver) o->receiver = o->sender;
    static const char *const outputs[] = {"scan.json", "scan.csv", "scan.partial", "scan.records.jsonl",
                                          "scan.select.jsonl", NULL};
    const char **ins = o->inputs;
    ins[0] = "--task", ins[1] = o->task, ins[2] = "--sender", ins[3] = o->sender, ins[4] = "--receiver";
    ins[5] = o->receiver;
    for (int k = 0; k < o->n_bridge; k++) ins[6 + 2 * k] = "--bridge", ins[7 + 2 * k] = o->bridge[k];
    ins[6 + 2 * o->n_bridge] = NULL;
    *status = 1; /* before any model loads; the run checks them again */
    if (lw_output_dir_check("--out", o->out, outputs, ins) != 0) return -cli_fail_lib("scan");
    return 0;
}

static void progress(void *ctx, int done, int total) {
    (void)ctx;
    if (done == total || done % 8 == 0) fprintf(stderr, "\rscan: %d/%d runs%s", done, total, done == total ? "\n" : "");
}

static void print_ci(const char *name, const lw_ci *c) {
    printf("%-22s %.3f [%.3f, %.3f]  n = %d\n", name, c->mean, c->lo, c->hi, c->n);
}

static void print_report(const opts *o, const lw_scan_result *r) {
    printf("scan %s -> %s, task %s (%d-shot; %s; %s): %d selection items, %d held out (no text in both)\n", o->sender,
           o->receiver, o->task, o->k_shot, o->pooled ? (o->task_vector ? "pooled, last answer withheld" : "pooled")
                    : (o->task_vector ? "task vector: last T positions, last answer withheld" : "last T positions"),
           o->op == LW_PATCH_ADD ? "add" : "replace", r->select.n, r->held_out.n);
    printf("%-8s %-8s  %-26s %-26s\n", "layer", "receiver", "selection exact [95% CI]", "held-out exact [95% CI]");
    for (int k = 0; k < r->n_layers; k++) {
        const lw_scan_layer *l = &r->layers[k];
        printf("%-8d %-8d  %.3f [%.3f, %.3f]%s    %.3f [%.3f, %.3f]\n", l->layer, l->receiver_layer, l->select.mean,
               l->select.lo, l->select.hi, k == r->chosen ? " *" : "  ", l->held_out.mean, l->held_out.lo,
               l->held_out.hi);
    }
    printf("held out (n = %d, Clopper-Pearson 95%% CIs):\n", r->held_out.n);
    print_ci("  floor (query alone)", &r->floor);
    print_ci("  ceiling (text)", &r->ceiling);
    char name[64];
    snprintf(name, sizeof name, "  chosen layer %d->%d", r->layers[r->chosen].layer, r->layers[r->chosen].receiver_layer);
    print_ci(name, &r->layers[r->chosen].held_out);
    const lw_ci *d = &r->chosen_minus_floor;
    char pb[24];
    printf("  chosen - floor (paired, same items) %+.3f [%+.3f, %+.3f]  %s\n", d->mean, d->lo, d->hi,
           cli_p_value(r->chosen_p_value, pb));
}

int cmd_scan(int argc, char **argv) {
    opts o;
    int status, prc = parse_opts(argc, argv, &o, &status);
    if (prc != 0) return prc > 0 ? 0 : status;
    int rc = 1;
    lw_model *ma = NULL, *mb = NULL;
    lw_session *sa = NULL, *sb = NULL;
    lw_bridge *loaded[64] = {0};
    lw_task pool = {0};
    lw_scan_result r = {0};
    /* the task first: a wrong name is refused before minutes of model loading */
    if (lw_scan_task_load(o.task, o.data, o.k_shot, o.items, o.seed, &pool) != 0) {
        cli_fail_lib("scan");
        goto done;
    }
    ma = lw_model_load(o.sender, cli_model_params());
    mb = ma && strcmp(o.sender, o.receiver) ? lw_model_load(o.receiver, cli_model_params()) : ma;
    bool loaded_all = ma && mb;
    for (int k = 0; loaded_all && k < o.n_bridge; k++) loaded_all = (loaded[k] = lw_bridge_load(o.bridge[k])) != NULL;
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = o.threads;
    sa = loaded_all ? lw_session_new(ma, sp) : NULL;
    sb = mb == ma ? sa : sa ? lw_session_new(mb, sp) : NULL;
    if (!sa || !sb) {
        cli_fail_lib("scan");
        goto done;
    }
    lw_scan_experiment_params p = lw_scan_experiment_default_params();
    p.sender = sa, p.receiver = sb, p.sender_name = o.sender, p.receiver_name = o.receiver;
    p.task = o.task, p.pool = &pool, p.k_shot = o.k_shot, p.layers = o.layers, p.receiver_layers = o.rlayers;
    p.bridges = (const lw_bridge *const *)loaded, p.bridge_paths = o.bridge, p.n_bridges = o.n_bridge;
    p.patch.positions = o.positions, p.patch.pooled = o.pooled, p.patch.op = o.op, p.patch.scale = (float)o.scale;
    p.patch.answer_tokens = o.answer_tokens, p.patch.chat = o.chat, p.patch.task_vector = o.task_vector;
    p.n_select = o.select, p.n_report = o.items - o.select, p.seed = o.seed, p.resamples = o.resamples;
    p.resume = o.resume, p.out_dir = o.out, p.inputs = o.inputs;
    if (cli_is_tty()) p.progress = progress;
    if (lw_scan_experiment_run(&p, &r) != 0) {
        cli_fail_lib("scan");
        goto done;
    }
    print_report(&o, &r);
    printf("wrote %s/scan.json, %s/scan.csv, %s/scan.records.jsonl\n", o.out, o.out, o.out);
    rc = 0;
done:
    lw_scan_result_free(&r);
    for (int k = 0; k < o.n_bridge; k++) lw_bridge_free(loaded[k]);
    if (sb != sa) lw_session_free(sb);
    lw_session_free(sa);
    if (mb != ma) lw_model_free(mb);
    lw_model_free(ma);
    lw_task_free(&pool);
    return rc;
}
