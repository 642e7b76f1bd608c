/* latentwire align: the bridge-and-retrieval experiment between two models. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "latentwire/experiment.h"

static const char *USAGE =
    "usage: latentwire align --source A.gguf --target B.gguf [options]\n"
    "  Fits linear bridges from A's activations to B's on a multi-domain calibration set and\n"
    "  retrieves each bridged A-sentence among B's held-out sentences (CIs by bootstrap).\n"
    "  --data DIR          datasets (default $LW_SHARED_DIR/data when LW_SHARED_DIR is set, else ../shared/data)\n"
    "  --out DIR           results and cached activations (default out/align, under the current directory)\n"
    "  --per-domain N      sentences per domain (default 200)\n"
    "  --pairs N           BLiMP minimal pairs, the hard negatives (default 100)\n"
    "  --paraphrases N     MRPC paraphrase pairs: the paraphrase-adjacent regime (default 100; 0: none)\n"
    "  --calib-share F     calibration share of each domain (default 0.6)\n"
    "  --recipe R          ridge | pca-ridge | pca2-ridge | procrustes | cca | relrep (default ridge)\n"
    "  --resamples N       bootstrap resamples (default 1000)\n"
    "  --seed N, --threads N, --quick (fewer conditions)\n";

/* The library reports rows; the tables are printed here (progress on stderr). */
static void print_event(const lw_align_event *e, void *user) {
    (void)user;
    switch (e->kind) {
    case LW_ALIGN_EV_PROGRESS: fprintf(stderr, "align: %s\n", e->text); break;
    case LW_ALIGN_EV_INFO: printf("%s\n", e->text); break;
    case LW_ALIGN_EV_SECTION:
        printf("\n%s\n  %-11s %-10s %-12s %5s  %-19s %5s %7s  %-19s  %5s  %5s  %5s\n", e->text, "experiment", "recipe",
               "sites", "calib", "regime", "n", "cands", "top-1 [95% CI]", "r@5", "mrr10", "ndcg10");
        break;
    case LW_ALIGN_EV_ROW: {
        const lw_align_row *r = e->row;
        const lw_ci *m = r->metrics; /* top1, recall@5, recall@10, mrr@10, ndcg@10 */
        printf("  %-11s %-10s %-5s->%-5s %5d  %-19s %5d %7.1f  %5.3f [%5.3f,%5.3f]  %5.3f  %5.3f  %5.3f %s\n",
               r->experiment, r->recipe, r->site_a, r->site_b, r->n_calib, r->regime, r->n_queries, r->mean_candidates,
               m[0].mean, m[0].lo, m[0].hi, m[1].mean, m[3].mean, m[4].mean, r->note);
        break;
    }
    case LW_ALIGN_EV_COMPARISON: {
        const lw_align_comparison *c = e->comparison;
        char pb[24];
        printf("  %-11s top-1 %s - %s = %+.3f [%+.3f, %+.3f]  %s  (n = %d, paired: %s)\n", c->experiment, c->a, c->b,
               c->difference.mean, c->difference.lo, c->difference.hi, cli_p_value(c->p_value, pb), c->n,
               c->difference.method);
        break;
    }
    case LW_ALIGN_EV_WROTE: printf("wrote %s\n", e->text); break;
    }
    fflush(stdout);
}

int cmd_align(int argc, char **argv) {
    if (cli_options_once("align", USAGE, &argc, argv)) return 2;
    lw_align_params p = lw_align_default_params();
    p.on_event = print_event;
    p.n_gpu_layers = cli_model_params().n_gpu_layers;
    bool data_set = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        double f;
        lw_bridge_recipe r;
        if (cli_wants_help(argc, argv)) {
            cli_print_help("align", USAGE);
            return 0;
        } else if (!strcmp(a, "--quick")) p.quick = true;
        else if (!v) return cli_option_error("align", USAGE, a, NULL);
        else if (!strcmp(a, "--source")) p.source_model = argv[++i];
        else if (!strcmp(a, "--target")) p.target_model = argv[++i];
        else if (!strcmp(a, "--data")) p.data_dir = argv[++i], data_set = true;
        else if (!strcmp(a, "--out")) p.out_dir = argv[++i];
        else if (!strcmp(a, "--per-domain") && cli_parse_int(v, 10, 100000, &n)) p.per_domain = (int)n, i++;
        else if (!strcmp(a, "--pairs") && cli_parse_int(v, 0, 100000, &n)) p.n_pairs = (int)n, i++;
        else if (!strcmp(a, "--paraphrases") && cli_parse_int(v, 0, 100000, &n)) p.n_para = (int)n, i++;
        else if (!strcmp(a, "--resamples") && cli_parse_int(v, 100, 1000000, &n)) p.resamples = (int)n, i++;
        else if (!strcmp(a, "--seed") && cli_parse_int(v, 0, 1L << 62, &n)) p.seed = (uint64_t)n, i++;
        else if (!strcmp(a, "--threads") && cli_parse_int(v, 1, CLI_MAX_THREADS, &n)) p.threads = (int)n, i++;
        else if (!strcmp(a, "--calib-share") && cli_parse_real(v, 0, true, 1, true, &f)) p.calib_share = f, i++;
        else if (!strcmp(a, "--recipe") && cli_parse_recipe(v, &r)) p.recipe = r, i++;
        else return cli_option_error("align", USAGE, a, v);
    }
    if (!data_set) p.data_dir = cli_default_data_dir();
    if (!p.source_model || !p.target_model) return cli_usage_fail("align", "--source and --target are required");
    if (cli_check_data_dir("align", p.data_dir) != 0) return 1;
    if (lw_align_run(&p) != 0) return cli_fail_lib("align");
    return 0;
}
