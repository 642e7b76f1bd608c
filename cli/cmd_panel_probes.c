/* latentwire panel probes ...: the probe panel (latentwire/probes.h) on two models named on the
 * command line at a layer each and a bridge between them; a table on stdout, probes.json and the
 * per-item records a pre-registered verdict reads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "latentwire/panel_experiment.h"
#include "latentwire/verdict.h"

static const char *USAGE =
    "usage: latentwire panel probes --a MODEL --layer-a L --b MODEL --layer-b L --bridge A2B.safetensors --out DIR\n"
    "                               [options]\n"
    "  does the space aligned by a bridge (A at block L -> B at block L, mean-pooled block outputs) behave like a\n"
    "  language (compositional, chainable, robust) or like a code? Every statistic with its 95% CI and n.\n"
    "  --probes LIST         compositionality,chaining,robustness,symbolic or all (default all)\n"
    "  --inverse B2A.st      the inverse bridge for chaining (default: ridge fitted on --calib MRPC training sentences)\n"
    "  --combos N            grammar combinations (default 160, at most 625); --heldout F share held out (0.25)\n"
    "  --topsim N            sentences for topographic similarity and reorderings (default 80)\n"
    "  --natural N           MRPC test sentences for chaining and noise (default 100)\n"
    "  --calib N             MRPC training sentences fitting the inverse (default 200)\n"
    "  --hops N              chaining hops (default 4)\n"
    "  --sigmas S,...        noise levels relative to the RMS entry (default 0,0.1,0.2,0.5,1,2)\n"
    "  --confusers N         MRPC high-overlap non-paraphrase pairs (default 60)\n"
    "  --symbolic N          items per symbolic probe (default 40)\n"
    "  --plan PLAN.json      record the plan's sha256 in the records, for `latentwire verdict`\n"
    "  --resume              take the embeddings DIR/probes.partial holds from an interrupted run with the same\n"
    "                        settings (each embedding call is appended there as it finishes; the numbers are an\n"
    "                        uninterrupted run's; without --resume a run starts over)\n"
    "  --resamples N --seed N --data DIR --threads N --gpu-layers N\n"
    "  writes DIR/probes.json (every statistic) and DIR/records.jsonl (latentwire.items/1, per item).\n"
    "  latentwire panel probes merge --out DIR RUN RUN...: several runs as one cross-pair table (--help there).\n";

typedef struct {
    const char *a, *b, *bridge, *inverse, *out, *plan, *data;
    long layer[2], threads;
    bool resume;
    lw_probe_params p;
} opts;

/* 0, or -1 with the message set: an empty or repeated item, a level outside [0, 1e6], one level
 * written twice ("0.1,0.10": two statistics of one name, noise_top1@0.1). */
static int parse_sigmas(const char *v, lw_probe_params *p) {
    int n = cli_parse_reals("--sigmas", v, "noise level", 0, false, 1e6, false, "(relative to the RMS entry)", 16,
                            p->sigmas);
    if (n < 0) return -1;
    p->n_sigmas = n;
    return 0;
}

static bool set_int(const char *v, long lo, long hi, int *out) {
    long n;
    if (!cli_parse_int(v, lo, hi, &n)) return false;
    *out = (int)n;
    return true;
}

static int parse(int argc, char **argv, opts *o) {
    if (cli_options_once("panel probes", USAGE, &argc, argv)) return 2;
    o->p = lw_probe_default_params();
    o->layer[0] = o->layer[1] = -1;
    o->data = cli_default_data_dir();
    long seed;
    double x;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--resume")) o->resume = true;
        else if (!v) return cli_option_error("panel probes", USAGE, a, NULL);
        else if (!strcmp(a, "--a")) o->a = v, i++;
        else if (!strcmp(a, "--b")) o->b = v, i++;
        else if (!strcmp(a, "--layer-a") && cli_parse_int(v, 0, 4095, &o->layer[0])) i++;
        else if (!strcmp(a, "--layer-b") && cli_parse_int(v, 0, 4095, &o->layer[1])) i++;
        else if (!strcmp(a, "--bridge")) o->bridge = v, i++;
        else if (!strcmp(a, "--inverse")) o->inverse = v, i++;
        else if (!strcmp(a, "--out")) o->out = v, i++;
        else if (!strcmp(a, "--plan")) o->plan = v, i++;
        else if (!strcmp(a, "--data")) o->data = v, i++;
        else if (!strcmp(a, "--probes")) {
            if (!(o->p.probes = lw_probe_parse_list(v))) return cli_fail_lib("panel probes") + 1;
            i++;
        } else if (!strcmp(a, "--combos") && set_int(v, 8, 625, &o->p.n_combos)) i++;
        else if (!strcmp(a, "--heldout") && cli_parse_real(v, 0, true, 1, true, &x)) o->p.heldout_share = x, i++;
        else if (!strcmp(a, "--topsim") && set_int(v, 3, 625, &o->p.n_topsim)) i++;
        else if (!strcmp(a, "--natural") && set_int(v, 3, 100000, &o->p.n_natural)) i++;
        else if (!strcmp(a, "--calib") && set_int(v, 2, 100000, &o->p.n_calib)) i++;
        else if (!strcmp(a, "--hops") && set_int(v, 1, 64, &o->p.hops)) i++;
        else if (!strcmp(a, "--sigmas")) {
            if (parse_sigmas(v, &o->p) != 0) return cli_fail_lib("panel probes") + 1;
            i++;
        }
        else if (!strcmp(a, "--confusers") && set_int(v, 10, 100000, &o->p.n_confusers)) i++;
        else if (!strcmp(a, "--symbolic") && set_int(v, 2, 100, &o->p.n_symbolic)) i++;
        else if (!strcmp(a, "--resamples") && set_int(v, 100, 1000000, &o->p.resamples)) i++;
        else if (!strcmp(a, "--seed") && cli_parse_int(v, 0, 1L << 62, &seed)) o->p.seed = (uint64_t)seed, i++;
        else if (!strcmp(a, "--threads") && cli_parse_int(v, 0, CLI_MAX_THREADS, &o->threads)) i++;
        else return cli_option_error("panel probes", USAGE, a, v);
    }
    if (!o->a || !o->b || !o->bridge || !o->out || o->layer[0] < 0 || o->layer[1] < 0)
        return cli_usage_fail("panel probes", "--a, --layer-a, --b, --layer-b, --bridge and --out are required");
    return 0;
}

static void progress(const char *what, void *user) {
    (void)user;
    if (cli_is_tty()) fprintf(stderr, "probes: %s\n", what);
}

static const char *base_name(const char *path) {
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static void print_table(const lw_probe_result *r) {
    printf("%-17s %-36s %5s  %-30s %s\n", "probe", "statistic", "n", "value [95% CI]", "p");
    for (int i = 0; i < r->n_stats; i++) {
        const lw_probe_stat *s = &r->stats[i];
        char p[32] = "";
        if (isfinite(s->p_value)) snprintf(p, sizeof p, "%.3g", s->p_value);
        printf("%-17s %-36s %5d  %+.4f [%+.4f, %+.4f]  %s", s->probe, s->name, s->ci.n, s->ci.mean, s->ci.lo,
               s->ci.hi, p);
        if (s->ci.n_clusters > 0) printf("  (%d clusters, design effect %.2f)", s->ci.n_clusters, s->ci.design_effect);
        putchar('\n');
    }
}

static int run(opts *o) {
    lw_probe_experiment_params p = lw_probe_experiment_default_params();
    p.layer_a = (int)o->layer[0], p.layer_b = (int)o->layer[1], p.bridge = o->bridge, p.inverse = o->inverse;
    p.data_dir = o->data, p.probes = o->p, p.n_threads = (int)o->threads, p.plan = o->plan, p.out_dir = o->out;
    p.name_a = base_name(o->a), p.name_b = base_name(o->b), p.resume = o->resume;
    p.probes.on_progress = progress;
    /* what needs no model, before any loads */
    if (lw_probe_experiment_check(&p) != 0) return cli_fail_lib("panel probes");
    if (cli_check_data_dir("panel probes", o->data) != 0) return 1;
    int rc = 0;
    if (!(p.model_a = lw_model_load(o->a, cli_model_params())) || !(p.model_b = lw_model_load(o->b, cli_model_params())))
        rc = cli_fail_lib("panel probes");
    lw_probe_result r = {0};
    if (rc == 0 && lw_probe_experiment_run(&p, &r) != 0) rc = cli_fail_lib("panel probes");
    if (rc == 0) {
        print_table(&r);
        printf("wrote %s/probes.json, records.jsonl\n", o->out);
    }
    lw_probe_result_free(&r);
    lw_model_free(p.model_a);
    lw_model_free(p.model_b);
    return rc;
}

int cmd_panel_probes(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[2], "merge")) return cmd_panel_probes_merge(argc, argv);
    if (cli_wants_help(argc, argv)) {
        cli_print_help("panel probes", USAGE);
        return 0;
    }
    opts o;
    memset(&o, 0, sizeof o);
    int rc = parse(argc, argv, &o);
    if (rc != 0) return rc;
    return run(&o);
}
