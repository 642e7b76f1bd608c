/* latentwire panel patching ...: the patching panel (latentwire/panel.h) on models named on the
 * command line, prompts from the shared data; tables on stdout, panel.json, panel.csv and the
 * per-cell records a pre-registered verdict reads. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "latentwire/panel_experiment.h"
#include "latentwire/verdict.h"

static const char *USAGE =
    "usage: latentwire panel patching --receivers M1[,M2...] --donors M1[,M2...] --out DIR [options]\n"
    "       latentwire panel probes --help   (the probe panel: compositionality, chaining, robustness, symbolic)\n"
    "  every receiver x donor x depth cell scores, on the same prompts, the donor's residual patched into the\n"
    "  receiver (targeted) against the receiver's own mean residual (fitted baseline) and the donor's residual\n"
    "  for an irrelevant text (decoy); effect = change in the receiver's mean log-probability (nats/token) of\n"
    "  the donor's own greedy continuation. D = mean over cells of (targeted - baseline), 95% CI over cells (over prompts below 5 cells).\n"
    "  --depths F,...        relative depths in [0, 1] (default 0.5): each model's block round(F (layers - 1))\n"
    "  --prompts N           prompt triples from matched genres (default 40, at least 5), from --data's corpus test split\n"
    "  --calib N             calibration texts for baselines and bridges (default 100; corpus calibration split)\n"
    "  --continuation M      donor tokens scored (default 4)\n"
    "  --position last|K     the receiver position patched (default last; K absolute, 0 = BOS)\n"
    "  --add                 add the patch to the receiver's residual instead of replacing it\n"
    "  --threshold T         D's pre-registered pass threshold (default 0.05)\n"
    "  --plan PLAN.json      record the plan's sha256 in the records, for `latentwire verdict`\n"
    "  --no-reuse            recompute the receiver's prompt prefix for every patch (benchmark)\n"
    "  --resume              keep the cells DIR/panel.partial holds from an interrupted run with the same settings\n"
    "                        (each cell is appended there as it finishes; without --resume a run starts over),\n"
    "                        or DIR/panel.cells.jsonl from a finished one\n"
    "  --resamples N --seed N --data DIR --threads N --gpu-layers N\n"
    "  writes DIR/panel.json (every cell with its CI and n, D, the decoy ratio), DIR/panel.csv (one row per\n"
    "  cell) and DIR/records.jsonl (per cell and prompt: condition target-minus-baseline, metric logp_shift,\n"
    "  clustered by cell, or by prompt below 5 cells, so that a verdict resamples what D's interval does).\n";

typedef struct {
    char **receivers, **donors;
    int n_receivers, n_donors;
    double depths[64];
    int n_depths;
    const char *out, *plan, *data;
    long prompts, calib, cont, resamples, seed, threads;
    lw_patching_params p;
} opts;

static void progress(int done, int total, void *user) {
    (void)user;
    if (cli_is_tty()) fprintf(stderr, "\rpanel: %d / %d prompt-cells", done, total);
    if (cli_is_tty() && done == total) fputc('\n', stderr);
}

/* Two paths name one model when they are one file (a/m.gguf, ./a/m.gguf, a link); paths that
 * cannot be read are compared as strings (the load reports them). */
static bool same_file(const char *a, const char *b) { return lw_same_file(a, b) || !strcmp(a, b); }

/* 0, or -1 with the message set: an empty or repeated item, a depth outside [0, 1], one depth
 * written twice ("0.5,0.50": the same cells twice). */
static int parse_depths(const char *v, opts *o) {
    int n = cli_parse_reals("--depths", v, "depth", 0, false, 1, false, "(a fraction of each model's blocks)", 64,
                            o->depths);
    if (n < 0) return -1;
    o->n_depths = n;
    return 0;
}

static int parse(int argc, char **argv, opts *o) {
    if (cli_options_once("panel patching", USAGE, &argc, argv)) return 2;
    o->p = lw_patching_default_params();
    o->prompts = 40;
    o->calib = 100;
    o->cont = 4;
    o->resamples = 2000;
    o->seed = 1;
    o->depths[0] = 0.5;
    o->n_depths = 1;
    o->data = cli_default_data_dir();
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        double x;
        if (!strcmp(a, "--add")) o->p.add = true;
        else if (!strcmp(a, "--no-reuse")) o->p.reuse_prefix = false;
        else if (!strcmp(a, "--resume")) o->p.resume = true;
        else if (!v) return cli_option_error("panel patching", USAGE, a, NULL);
        else if (!strcmp(a, "--receivers") || !strcmp(a, "--donors")) {
            /* the list's own message (an empty or duplicate item) says what is wrong */
            bool rec = !strcmp(a, "--receivers");
            char ***list = rec ? &o->receivers : &o->donors;
            free(*list); /* cli_options_once refuses a second one; this only keeps the ownership plain */
            *list = NULL;
            int got = cli_parse_list(a, v, list);
            if (got <= 0)
                return got < 0 ? (cli_fail_lib("panel patching"), 2) : cli_option_error("panel patching", USAGE, a, v);
            *(rec ? &o->n_receivers : &o->n_donors) = got;
            for (int j = 0; j < got; j++)
                for (int k = j + 1; k < got; k++)
                    if (same_file((*list)[j], (*list)[k]))
                        return cli_fail("panel patching", "%s: %s and %s are the same model file; give each model once",
                                        a, (*list)[j], (*list)[k]),
                               2;
            i++;
        }
        else if (!strcmp(a, "--depths")) {
            if (parse_depths(v, o) != 0) return cli_fail_lib("panel patching"), 2;
            i++;
        }
        else if (!strcmp(a, "--out")) o->out = v, i++;
        else if (!strcmp(a, "--plan")) o->plan = v, i++;
        else if (!strcmp(a, "--data")) o->data = v, i++;
        else if (!strcmp(a, "--prompts") && cli_parse_int(v, LW_PANEL_MIN_CELLS, 100000, &o->prompts)) i++;
        else if (!strcmp(a, "--calib") && cli_parse_int(v, 1, 100000, &o->calib)) i++;
        else if (!strcmp(a, "--continuation") && cli_parse_int(v, 1, 256, &o->cont)) i++;
        else if (!strcmp(a, "--resamples") && cli_parse_int(v, 100, 1000000, &o->resamples)) i++;
        else if (!strcmp(a, "--seed") && cli_parse_int(v, 0, 1L << 62, &o->seed)) i++;
        else if (!strcmp(a, "--threads") && cli_parse_int(v, 0, CLI_MAX_THREADS, &o->threads)) i++;
        else if (!strcmp(a, "--threshold") && cli_parse_real(v, -INFINITY, true, INFINITY, true, &x))
            o->p.threshold = x, i++;
        else if (!strcmp(a, "--position") && !strcmp(v, "last")) o->p.position = -1, i++;
        else if (!strcmp(a, "--position") && cli_parse_int(v, 0, 1 << 20, &n)) o->p.position = (int)n, i++;
        else return cli_option_error("panel patching", USAGE, a, v);
    }
    if (o->n_receivers < 0 || o->n_donors < 0) return cli_fail_lib("panel patching");
    if (!o->n_receivers || !o->n_donors || !o->out) /* one line, as every verb's; --help has the usage */
        return cli_usage_fail("panel patching", "--receivers, --donors and --out are required");
    o->p.depths = o->depths;
    o->p.n_depths = o->n_depths;
    o->p.continuation_tokens = (int)o->cont;
    o->p.resamples = (int)o->resamples;
    o->p.seed = (uint64_t)o->seed;
    o->p.on_progress = progress;
    return 0;
}

/* The models: each distinct file loaded once, one session each. */
typedef struct {
    char *path;
    lw_model *model;
    lw_session *session;
} loaded;

static lw_session *session_for(loaded *L, int *n_loaded, const char *path, int threads) {
    for (int i = 0; i < *n_loaded; i++)
        if (same_file(L[i].path, path)) return L[i].session;
    lw_model *m = lw_model_load(path, cli_model_params());
    if (!m) return NULL;
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = threads;
    lw_session *s = lw_session_new(m, sp);
    if (!s) {
        lw_model_free(m);
        return NULL;
    }
    L[*n_loaded] = (loaded){strdup(path), m, s};
    ++*n_loaded;
    return s;
}

static void print_table(const lw_panel_model *R, const lw_panel_model *D, const lw_patching_result *r, double thr) {
    printf("%-28s %-28s %5s %7s %4s  %9s %9s %9s  %-28s\n", "receiver", "donor", "depth", "layers", "n", "target",
           "baseline", "decoy", "target - baseline [95% CI]");
    for (int c = 0; c < r->n_cells; c++) {
        const lw_patching_cell *x = &r->cells[c];
        printf("%-28.28s %-28.28s %5.2f %3d<-%-3d %4d  %+9.4f %+9.4f %+9.4f  %+.4f [%+.4f, %+.4f]\n",
               R[x->receiver].name, D[x->donor].name, x->depth, x->receiver_layer, x->donor_layer, x->n,
               x->mean_target, x->mean_baseline, x->mean_decoy, x->diff.mean, x->diff.lo, x->diff.hi);
    }
    printf("D = %+.4f [%+.4f, %+.4f] over %d cells (%s): %s against the threshold %g (PASS: lower bound >= it)\n", r->D.mean, r->D.lo, r->D.hi,
           r->n_cells, r->D.method ? r->D.method : "", lw_verdict_name(r->verdict), thr);
    if (isfinite(r->decoy_ratio))
        printf("decoy ratio (mean targeted / mean decoy effect) = %.3f [%.3f, %.3f] (a working channel exceeds 1.5)\n",
               r->decoy_ratio, r->decoy_ratio_lo, r->decoy_ratio_hi);
    else
        printf("decoy ratio undefined: the decoy's mean effect is not positive\n");
}

static int panel_patching(int argc, char **argv) {
    opts o;
    memset(&o, 0, sizeof o);
    int rc = parse(argc, argv, &o);
    int n_paths = o.n_receivers + o.n_donors;
    const char **paths = rc == 0 ? calloc((size_t)n_paths, sizeof *paths) : NULL;
    if (rc == 0 && !paths) rc = cli_fail("panel patching", "out of memory");
    for (int i = 0; paths && i < n_paths; i++) paths[i] = i < o.n_receivers ? o.receivers[i] : o.donors[i - o.n_receivers];
    lw_panel_patching_experiment_params p = lw_panel_patching_experiment_default_params();
    p.data_dir = o.data, p.n_prompts = (int)o.prompts, p.n_calib = (int)o.calib, p.patching = o.p;
    p.resume = o.p.resume, p.plan = o.plan, p.out_dir = o.out;
    /* what needs no model, before any loads */
    if (rc == 0 && lw_panel_patching_experiment_check(&p) != 0) rc = cli_fail_lib("panel patching");
    if (rc == 0 && cli_check_data_dir("panel patching", o.data) != 0) rc = 1;
    loaded L[128];
    int n_loaded = 0;
    lw_panel_model *R = rc == 0 ? calloc((size_t)o.n_receivers, sizeof *R) : NULL;
    lw_panel_model *D = rc == 0 ? calloc((size_t)o.n_donors, sizeof *D) : NULL;
    if (rc == 0 && (!R || !D)) rc = cli_fail("panel patching", "out of memory");
    for (int i = 0; rc == 0 && i < n_paths; i++) {
        lw_session *s = n_loaded < 128 ? session_for(L, &n_loaded, paths[i], (int)o.threads) : NULL;
        lw_panel_model m = {lw_panel_model_name(paths, n_paths, paths[i]), s};
        if (!s) rc = cli_fail_lib("panel patching");
        else if (i < o.n_receivers) R[i] = m;
        else D[i - o.n_receivers] = m;
    }
    p.receivers = R, p.n_receivers = o.n_receivers, p.donors = D, p.n_donors = o.n_donors;
    lw_patching_result r = {0};
    if (rc == 0 && lw_panel_patching_experiment_run(&p, &r) != 0) rc = cli_fail_lib("panel patching");
    if (rc == 0) {
        print_table(R, D, &r, o.p.threshold);
        printf("wrote %s/panel.json, panel.csv, records.jsonl\n", o.out);
    }
    lw_patching_result_free(&r);
    for (int i = 0; i < n_loaded; i++) {
        lw_session_free(L[i].session);
        lw_model_free(L[i].model);
        free(L[i].path);
    }
    free(R);
    free(D);
    free(paths);
    free(o.receivers);
    free(o.donors);
    return rc;
}

int cmd_panel(int argc, char **argv) {
    bool known = argc >= 2 && (!strcmp(argv[1], "patching") || !strcmp(argv[1], "probes"));
    if (argc < 2) return cli_usage_fail("panel", "give the panel: patching or probes (`latentwire panel --help`)");
    if (!known && cli_wants_help(argc, argv)) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "patching")) {
        if (cli_wants_help(argc, argv)) {
            cli_print_help("panel", USAGE);
            return 0;
        }
        return panel_patching(argc, argv);
    }
    if (!strcmp(argv[1], "probes")) return cmd_panel_probes(argc, argv);
    if (argv[1][0] == '-') /* `panel --gpu-layers 8 patching`: options follow the panel's name */
        return cli_fail("panel", "%s before the panel: give the panel first (patching or probes), then its options",
                        argv[1]) + 1; /* a usage error */
    return cli_fail("panel", "unknown panel '%s': patching or probes", argv[1]);
}
