/* latentwire channel: a sender model passes something to a receiver model, item by item;
 * accuracy with CIs, paired differences between channels on the same items, a cost table. The
 * experiment is the library's (latentwire/channel_experiment.h); this verb parses the options,
 * loads the models and the task, and prints the result. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "latentwire/channel_experiment.h"
#include "latentwire/error.h"
#include "latentwire/files.h"
#include "latentwire/textio.h"

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
    "  --resume             reuse the records of an interrupted run with the same settings (ITEMS.jsonl.partial),\n"
    "                       or of a finished one (ITEMS.jsonl)\n"
    "  --json SUMMARY.json  --resamples N (default 1000)  --seed N\n"
    "  --data DIR           named tasks' data (default $LW_SHARED_DIR/data, else ../shared/data)\n"
    "  --threads N          CPU threads of each model (default: all cores)\n"
    "  Reported items: the task's items, or with a selection or calibration split the task's count drawn\n"
    "  from a larger pool of its source (a task file: what is left of it after the split).\n";

typedef struct {
    lw_channel_experiment_params p; /* the experiment's settings */
    const char *data;               /* --data */
    int threads;
} opts;

/* An option that only some channels read, given without any of them, would change nothing:
 * refused, naming the channels that read it (as codec fit does for its kinds). */
static int check_used(int argc, char **argv, const char *channels) {
    static const struct {
        const char *option, *users;
    } USES[] = {{"--k", "ac acw"},           {"--j", "ac acw"},         {"--op", "ac acw"},
                {"--select", "ac acw"},      {"--calib", "acw"},        {"--ac-bridge", "acw"},
                {"--message-tokens", "text cipher"}, {"--temp", "text cipher"}, {"--top-k", "cipher"},
                {"--top-p", "cipher"},       {"--onehot", "cipher"}};
    const char *list = channels ? channels : "none,text,ac"; /* the library's default */
    char **items;
    int n = lw_list_split("--channel", list, &items); /* trimmed as the library reads them */
    if (n < 0) return 0; /* a bad list: the library's message names it */
    int rc = 0;
    for (size_t u = 0; rc == 0 && u < sizeof USES / sizeof USES[0]; u++) {
        if (!cli_given(argc, argv, USES[u].option)) continue;
        bool used = false;
        for (int i = 0; i < n && !used; i++) { /* a whole word of the users list */
            size_t len = strlen(items[i]);
            for (const char *w = strstr(USES[u].users, items[i]); w && !used; w = strstr(w + 1, items[i]))
                used = (w == USES[u].users || w[-1] == ' ') && (w[len] == '\0' || w[len] == ' ');
        }
        if (!used)
            rc = cli_fail("channel", "%s with --channel %s: only %s read%s it; add one of them or leave %s out",
                          USES[u].option, list, USES[u].users, strchr(USES[u].users, ' ') ? "" : "s", USES[u].option);
    }
    free(items);
    return rc;
}

/* The options into o: 0, 1 (--help printed) or -1 (message printed). */
static int parse_opts(int argc, char **argv, opts *o) {
    if (cli_options_once("channel", USAGE, &argc, argv)) return -2;
    *o = (opts){.p = lw_channel_experiment_default_params(), .data = cli_default_data_dir()};
    lw_channel_experiment_params *p = &o->p;
    p->sender = p->receiver = p->task = NULL; /* required */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        double f;
        if (cli_wants_help(argc, argv)) {
            cli_print_help("channel", USAGE);
            return 1;
        } else if (!strcmp(a, "--resume")) p->resume = true;
        else if (!strcmp(a, "--chat")) p->chat = true;
        else if (!v) return -cli_option_error("channel", USAGE, a, NULL);
        else if (!strcmp(a, "--sender")) p->sender = argv[++i];
        else if (!strcmp(a, "--receiver")) p->receiver = argv[++i];
        else if (!strcmp(a, "--task")) p->task = argv[++i];
        else if (!strcmp(a, "--channel")) p->channels = argv[++i];
        else if (!strcmp(a, "--k")) p->k_layers = argv[++i];
        else if (!strcmp(a, "--j")) p->j_layers = argv[++i];
        else if (!strcmp(a, "--op")) p->ops = argv[++i];
        else if (!strcmp(a, "--out")) p->records = argv[++i];
        else if (!strcmp(a, "--json")) p->summary = argv[++i];
        else if (!strcmp(a, "--data")) o->data = argv[++i];
        else if (!strcmp(a, "--ac-bridge")) p->ac_bridge = argv[++i];
        else if (!strcmp(a, "--calib") && cli_parse_int(v, 2, 1000000, &n)) p->calib = (int)n, i++;
        else if (!strcmp(a, "--select") && cli_parse_int(v, 1, 1000000, &n)) p->select = (int)n, i++;
        else if (!strcmp(a, "--resamples") && cli_parse_int(v, 100, 10000000, &n)) p->resamples = (int)n, i++;
        else if (!strcmp(a, "--message-tokens") && cli_parse_int(v, 1, 4096, &n)) p->message_tokens = (int)n, i++;
        else if (!strcmp(a, "--answer-tokens") && cli_parse_int(v, 1, 4096, &n)) p->answer_tokens = (int)n, i++;
        else if (!strcmp(a, "--top-k") && cli_parse_int(v, 0, 1 << 30, &n)) p->top_k = (int)n, i++;
        else if (!strcmp(a, "--seed") && cli_parse_int(v, 0, 1L << 62, &n)) p->seed = (uint64_t)n, i++;
        else if (!strcmp(a, "--threads") && cli_parse_int(v, 1, CLI_MAX_THREADS, &n)) o->threads = (int)n, i++;
        else if (!strcmp(a, "--temp") && cli_parse_real(v, 0, false, INFINITY, false, &f)) p->temp = (float)f, i++;
        else if (!strcmp(a, "--top-p") && cli_parse_real(v, 0, true, 1, false, &f)) p->top_p = (float)f, i++;
        else if (!strcmp(a, "--onehot") && cli_parse_real(v, 0, false, INFINITY, false, &f)) p->onehot = (float)f, i++;
        else return -cli_option_error("channel", USAGE, a, v);
    }
    if (!p->sender || !p->receiver || !p->task)
        return -cli_usage_fail("channel", "--sender, --receiver and --task are required");
    if (check_used(argc, argv, p->channels) != 0) return -1;
    const char *ins[] = {"--task", p->task, "--sender", p->sender, "--receiver", p->receiver, "--ac-bridge",
                         p->ac_bridge, NULL};
    if (cli_check_output("channel", "--out", p->records, LW_OUT_PARTIAL, ins)) return -1;
    if (cli_check_output("channel", "--json", p->summary, LW_OUT_FILE, ins)) return -1;
    /* the two outputs apart: not one file, nor --out's .partial, nor a temporary of either */
    const lw_output_spec outs[] = {{"--out", p->records, LW_OUT_PARTIAL}, {"--json", p->summary, LW_OUT_FILE}};
    if (lw_outputs_distinct(outs, 2) != 0) return -cli_fail_lib("channel");
    return 0;
}

static void progress(void *ctx, int done, int total) {
    (void)ctx;
    if (cli_is_tty()) fprintf(stderr, "\rchannel: %d/%d runs%s", done, total, done == total ? "\n" : "");
}

/* The selection lines, the title and the table (rows not applicable say why). */
static void print_rows(const opts *o, const lw_channel_experiment_result *r) {
    for (int c = 0; c < r->n_choices; c++)
        printf("selection: %s -> %s (mean score %.3f on %d selection items; %d settings swept)\n",
               r->choices[c].family, r->choices[c].chosen, r->choices[c].score, r->choices[c].n_items,
               r->choices[c].n_settings);
    printf("%s -> %s, task %s (%d items reported", o->p.sender, o->p.receiver, o->p.task, r->n_report);
    if (r->n_select) printf(", %d for selection", r->n_select);
    if (r->n_calib) printf(", %d for calibration", r->n_calib);
    printf("; no text in two of these), %d resamples\n", o->p.resamples);
    printf("\n%-26s %5s  %-22s %9s %9s %9s %9s %9s %10s %9s\n", "condition", "n", "accuracy [95% CI]", "A fwd", "A gen",
           "B fwd", "B gen", "passes", "msg bytes", "ms/item");
    for (int c = 0; c < r->n_rows; c++) {
        const lw_channel_experiment_row *w = &r->rows[c];
        const lw_channel_cost *t = &w->total;
        double n = w->n;
        if (!w->applicable) printf("%-26s %5s  not applicable: %s\n", w->name, "-", w->reason);
        else
            printf("%-26s %5d  %.3f [%.3f, %.3f]   %9.1f %9.1f %9.1f %9.1f %9.1f %10.1f %9.2f\n", w->name, w->n,
                   w->accuracy.mean, w->accuracy.lo, w->accuracy.hi, t->a_forwarded / n, t->a_generated / n,
                   t->b_forwarded / n, t->b_generated / n, (double)(t->a_passes + t->b_passes) / n,
                   t->message_bytes / n, 1000 * t->wall_s / n);
    }
}

/* The paired differences against the reference row (text, else the first row that ran). */
static void print_differences(const lw_channel_experiment_result *r) {
    if (r->reference < 0) return;
    const char *ref = r->rows[r->reference].name;
    printf("\npaired differences in accuracy against %s (same items; Newcombe's score interval, McNemar's exact p):\n",
           ref);
    for (int c = 0; c < r->n_rows; c++) {
        const lw_channel_experiment_row *w = &r->rows[c];
        char pb[24];
        if (w->compared)
            printf("  %-26s - %-8s %+.3f [%+.3f, %+.3f]  %s\n", w->name, ref, w->difference.mean, w->difference.lo,
                   w->difference.hi, cli_p_value(w->p_value, pb));
    }
}

/* The sender's and the receiver's models (one when the paths are equal) and a session on each. */
typedef struct {
    lw_model *ma, *mb;
    lw_session *sa, *sb;
} models;

static int open_models(const opts *o, models *m) {
    m->ma = lw_model_load(o->p.sender, cli_model_params());
    m->mb = m->ma && strcmp(o->p.sender, o->p.receiver) ? lw_model_load(o->p.receiver, cli_model_params()) : m->ma;
    if (!m->ma || !m->mb) return -1;
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = o->threads;
    m->sa = lw_session_new(m->ma, sp);
    m->sb = lw_session_new(m->mb, sp);
    return m->sa && m->sb ? 0 : -1;
}

static void close_models(models *m) {
    lw_session_free(m->sa);
    lw_session_free(m->sb);
    if (m->mb != m->ma) lw_model_free(m->mb);
    lw_model_free(m->ma);
}

/* The models, the experiment's conditions, the task pool they need, the run. 0 or -1 (message set). */
static int run(opts *o, models *m, lw_channel_experiment_result **r) {
    lw_channel_experiment *e = NULL;
    lw_task pool = {0};
    int n_select, n_calib, n_report, rc = -1;
    o->p.on_progress = progress;
    if (open_models(o, m) == 0 && (e = lw_channel_experiment_new(m->sa, m->sb, &o->p))) {
        lw_channel_experiment_needs(e, &n_select, &n_calib);
        if (cli_load_task_pool(o->p.task, o->data, o->p.seed, n_select + n_calib, &pool, &n_report) == 0)
            rc = lw_channel_experiment_run(e, &pool, n_report, r);
    }
    lw_task_free(&pool);
    lw_channel_experiment_free(e);
    return rc;
}

int cmd_channel(int argc, char **argv) {
    opts o;
    int prc = parse_opts(argc, argv, &o);
    if (prc != 0) return prc > 0 ? 0 : -prc; /* 2: a usage error */
    models m = {0};
    lw_channel_experiment_result *r = NULL;
    int rc = run(&o, &m, &r) == 0 ? 0 : cli_fail_lib("channel");
    if (rc == 0) {
        print_rows(&o, r);
        print_differences(r);
    }
    lw_channel_experiment_result_free(r);
    close_models(&m);
    return rc;
}
