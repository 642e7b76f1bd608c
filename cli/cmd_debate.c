/* latentwire debate: N agents, R rounds, majority vote; accuracy with CIs against the
 * first agent answering alone (its round-1 answer), paired on the same items. The experiment is
 * the library's (latentwire/channel_experiment.h); this verb parses the options, loads the task
 * and prints the result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "latentwire/channel_experiment.h"
#include "latentwire/files.h"

static const char *USAGE =
    "usage: latentwire debate --agents M1.gguf[:TEMP],M2.gguf[:TEMP],... --task SPEC [options]\n"
    "  --agents LIST      models, each with its sampling temperature TEMP >= 0 (default 0.7; 0 = greedy) after\n"
    "                     the last ':' (so a path with a ':' needs :TEMP); an item listed twice, or two greedy\n"
    "                     agents of one model, are refused (a copy only repeats a vote)\n"
    "  --task SPEC        FILE.jsonl | gsm8k:N | story:N | fv:NAME[:N] | bio:N\n"
    "  --rounds R         (default 2)   --channel text|cipher (default text)\n"
    "  --answer-tokens N  (default 48)  --out ITEMS.jsonl  --json SUMMARY.json\n"
    "  --resamples N --seed N --data DIR (default $LW_SHARED_DIR/data, else ../shared/data)\n"
    "  --threads N        CPU threads of each agent's model (default: all cores)\n"
    "  --chat             each agent reads its input as a user turn in its model's chat template\n"
    "  --resume           keep the items ITEMS.jsonl.partial (--out) holds from an interrupted run with the\n"
    "                     same settings and debate only the rest; without it a run starts over\n"
    "  Each agent reads the item's sender text (if any) and receiver prompt as its question.\n";

typedef struct {
    lw_debate_experiment_params p;
    const char *task, *data;        /* --task, --data */
} opts;

/* The options into o: 0, -1 (--help printed), or the exit status after the message (1 or 2). */
static int parse_opts(int argc, char **argv, opts *o) {
    if (cli_options_once("debate", USAGE, &argc, argv)) return 2;
    *o = (opts){.p = lw_debate_experiment_default_params(), .data = cli_default_data_dir()};
    lw_debate_experiment_params *p = &o->p;
    p->model = cli_model_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        int k;
        if (cli_wants_help(argc, argv)) {
            cli_print_help("debate", USAGE);
            return -1;
        } else if (!strcmp(a, "--chat")) p->debate.chat = true;
        else if (!strcmp(a, "--resume")) p->resume = true;
        else if (!v) return cli_option_error("debate", USAGE, a, NULL);
        else if (!strcmp(a, "--agents")) p->agents = argv[++i];
        else if (!strcmp(a, "--task")) o->task = argv[++i];
        else if (!strcmp(a, "--out")) p->records = argv[++i];
        else if (!strcmp(a, "--json")) p->summary = argv[++i];
        else if (!strcmp(a, "--data")) o->data = argv[++i];
        else if (!strcmp(a, "--channel") && cli_parse_choice(v, "text|cipher", &k))
            p->debate.channel = k ? LW_CHANNEL_CIPHER : LW_CHANNEL_TEXT, i++;
        else if (!strcmp(a, "--rounds") && cli_parse_int(v, 1, 100, &n)) p->debate.rounds = (int)n, i++;
        else if (!strcmp(a, "--answer-tokens") && cli_parse_int(v, 1, 4096, &n)) p->debate.answer_tokens = (int)n, i++;
        else if (!strcmp(a, "--resamples") && cli_parse_int(v, 100, 10000000, &n)) p->resamples = (int)n, i++;
        else if (!strcmp(a, "--seed") && cli_parse_int(v, 0, 1L << 62, &n)) p->debate.seed = (uint64_t)n, i++;
        else if (!strcmp(a, "--threads") && cli_parse_int(v, 1, CLI_MAX_THREADS, &n)) p->session.n_threads = (int)n, i++;
        else return cli_option_error("debate", USAGE, a, v);
    }
    if (!p->agents || !o->task) return cli_usage_fail("debate", "--agents and --task are required");
    if (p->resume && !p->records) return cli_usage_fail("debate", "--resume needs --out ITEMS.jsonl (its records are what it resumes)");
    if (cli_check_output("debate", "--out", p->records, LW_OUT_PARTIAL, (const char *[]){"--task", o->task, NULL}) ||
        cli_check_output("debate", "--json", p->summary, LW_OUT_FILE, (const char *[]){"--task", o->task, NULL}))
        return 1;
    /* --json must not be --out's .partial either, nor a temporary of --out or --json */
    const lw_output_spec outs[] = {{"--out", p->records, LW_OUT_PARTIAL}, {"--json", p->summary, LW_OUT_FILE}};
    if (lw_outputs_distinct(outs, 2) != 0) return cli_fail_lib("debate");
    return 0;
}

static void progress(void *ctx, int done, int total) {
    (void)ctx;
    if (cli_is_tty()) fprintf(stderr, "\rdebate: %d/%d items%s", done, total, done == total ? "\n" : "");
}

static void print_result(const opts *o, const lw_debate_experiment_result *r) {
    printf("debate: %d agents, %d rounds, channel %s, task %s (%d items)\n", r->n_agents, r->rounds,
           lw_channel_name(r->channel), o->task, r->n_items);
    printf("  majority vote       %.3f [%.3f, %.3f]\n", r->vote.mean, r->vote.lo, r->vote.hi);
    printf("  agent 0 alone (r1)  %.3f [%.3f, %.3f]\n", r->solo.mean, r->solo.lo, r->solo.hi);
    char pb[24];
    printf("  difference          %+.3f [%+.3f, %+.3f]  %s (paired, %s)\n", r->difference.mean, r->difference.lo,
           r->difference.hi, cli_p_value(r->p_value, pb), r->difference.method);
    printf("  %.2f s per item\n", r->wall_s / r->n_items);
}

int cmd_debate(int argc, char **argv) {
    opts o;
    int prc = parse_opts(argc, argv, &o);
    if (prc != 0) return prc < 0 ? 0 : prc;
    o.p.on_progress = progress;
    lw_task t = {0};
    lw_debate_experiment_result r;
    int rc = cli_load_task(o.task, o.data, o.p.debate.seed, &t) == 0 && lw_debate_experiment_run(&o.p, &t, &r) == 0
                 ? 0
                 : cli_fail_lib("debate");
    if (rc == 0) print_result(&o, &r);
    lw_task_free(&t);
    return rc;
}
