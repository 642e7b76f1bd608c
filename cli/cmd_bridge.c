/* latentwire bridge fit | apply | info */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "latentwire/bridge_files.h"

#define FIT_USAGE                                                                                                 \
    "  latentwire bridge fit --source A.safetensors --source-tensor layer.4 --target B.safetensors\n"              \
    "                        --target-tensor layer.1 --out BRIDGE.safetensors [options]\n"                         \
    "      rows are paired by row_id (the same text through both models), unique in each file;\n"                 \
    "      --by-position pairs two --pool none files of the same tokenizer by (row_id, position)\n"              \
    "      --recipe ridge|pca-ridge|pca2-ridge|procrustes|cca|relrep (default ridge)\n"                           \
    "      --alpha A (default: chosen on a log grid) --alpha-select gcv|kfold --kfold K\n"                        \
    "      --rank R --cca-reg F (default: chosen on held-out rows) --anchors K --no-center --scale --seed N\n"
#define APPLY_USAGE                                                                                               \
    "  latentwire bridge apply --bridge BRIDGE.safetensors --input X.safetensors --tensor NAME\n"                 \
    "                          [--side source|target] --out MAPPED.safetensors\n"
#define INFO_USAGE                                                                                                \
    "  latentwire bridge info BRIDGE.safetensors [--json]\n"                                                      \
    "      recipe, widths and the fit's record; --json: only the record, as one JSON object on stdout,\n"    \
    "      keys: recipe, source_dim, target_dim, the recipe's hyperparameters and fit statistics, and the\n"  \
    "      caller's metadata (source_tensor, target_tensor, source_model_sha256, source_pool, ...)\n"

static const char *USAGE = "usage:\n" FIT_USAGE APPLY_USAGE INFO_USAGE;

/* The library's notes (rows left out, other texts, a rank lowered, bare files) on stderr. */
static void print_note(const char *note, void *user) {
    (void)user;
    fprintf(stderr, "note: %s\n", note);
}

/* An option the chosen recipe (or another option) makes meaningless is refused with why, not
 * ignored: a user who asks for --kfold 10 believes the alpha was chosen by 10 folds. 0 or 1. */
static int unused_fit_option(const lw_bridge_params *bp, int argc, char **argv) {
    lw_bridge_recipe r = bp->recipe;
    bool ridge = r == LW_BRIDGE_RIDGE || r == LW_BRIDGE_PCA_RIDGE || r == LW_BRIDGE_PCA2_RIDGE;
    const char *name = lw_bridge_recipe_name(r), *opt = NULL, *why = NULL;
    if (!ridge && cli_given(argc, argv, (opt = "--alpha"))) why = "only the ridge recipes have a ridge alpha";
    else if (!ridge && cli_given(argc, argv, (opt = "--alpha-select"))) why = "only the ridge recipes choose an alpha";
    else if (cli_given(argc, argv, (opt = "--alpha-select")) && cli_given(argc, argv, "--alpha"))
        why = "--alpha fixes the alpha, so none is chosen: give one of the two";
    else if (cli_given(argc, argv, (opt = "--kfold")) &&
             !(ridge && bp->alpha_select == LW_ALPHA_KFOLD && !cli_given(argc, argv, "--alpha")) &&
             !(r == LW_BRIDGE_CCA && !cli_given(argc, argv, "--cca-reg")))
        why = "folds are used only by --alpha-select kfold (ridge recipes, no --alpha) and by cca without "
              "--cca-reg";
    else if ((r == LW_BRIDGE_RIDGE || r == LW_BRIDGE_RELREP) && cli_given(argc, argv, (opt = "--rank")))
        why = r == LW_BRIDGE_RIDGE ? "ridge maps the full width (pca-ridge, pca2-ridge, procrustes and cca take a rank)"
                                   : "relrep's width is its --anchors";
    else if (r != LW_BRIDGE_CCA && cli_given(argc, argv, (opt = "--cca-reg")))
        why = "only cca takes a regularizer of its covariances";
    else if (r != LW_BRIDGE_RELREP && cli_given(argc, argv, (opt = "--anchors"))) why = "only relrep uses anchors";
    else if (cli_given(argc, argv, (opt = "--seed")) && r != LW_BRIDGE_RELREP &&
             !(ridge && bp->alpha_select == LW_ALPHA_KFOLD && !cli_given(argc, argv, "--alpha")) &&
             !(r == LW_BRIDGE_CCA && !cli_given(argc, argv, "--cca-reg")))
        why = "nothing is drawn at random (the seed draws relrep's anchors and the folds of --alpha-select kfold and of "
              "cca without --cca-reg)";
    else return 0;
    cli_fail("bridge fit", "%s with --recipe %s: %s", opt, name, why);
    return 1;
}

static int bridge_fit(int argc, char **argv) {
    if (cli_options_once("bridge fit", FIT_USAGE, &argc, argv)) return 2;
    const char *src = NULL, *tgt = NULL, *src_t = NULL, *tgt_t = NULL, *out = NULL;
    lw_bridge_params bp = lw_bridge_default_params();
    lw_join_mode pairing = LW_JOIN_ROW_ID;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        double f;
        int k;
        if (!strcmp(a, "--no-center")) bp.center = false;
        else if (!strcmp(a, "--by-position")) pairing = LW_JOIN_ROW_POSITION;
        else if (!strcmp(a, "--scale")) bp.scale = true;
        else if (!v) return cli_option_error("bridge fit", FIT_USAGE, a, NULL);
        else if (!strcmp(a, "--source")) src = argv[++i];
        else if (!strcmp(a, "--target")) tgt = argv[++i];
        else if (!strcmp(a, "--source-tensor")) src_t = argv[++i];
        else if (!strcmp(a, "--target-tensor")) tgt_t = argv[++i];
        else if (!strcmp(a, "--out")) out = argv[++i];
        else if (!strcmp(a, "--recipe") && cli_parse_recipe(v, &bp.recipe)) i++;
        else if (!strcmp(a, "--alpha") && cli_parse_real(v, 0, true, INFINITY, false, &f)) bp.alpha = f, i++;
        else if (!strcmp(a, "--alpha-select") && cli_parse_choice(v, "gcv|kfold", &k))
            bp.alpha_select = k ? LW_ALPHA_KFOLD : LW_ALPHA_GCV, i++;
        else if (!strcmp(a, "--kfold") && cli_parse_int(v, 2, 100, &n)) bp.kfold = (int)n, i++;
        else if (!strcmp(a, "--rank") && cli_parse_int(v, 1, 1 << 20, &n)) bp.rank = (int)n, i++;
        else if (!strcmp(a, "--anchors") && cli_parse_int(v, 1, 1 << 24, &n)) bp.n_anchors = (int)n, i++;
        else if (!strcmp(a, "--cca-reg") && cli_parse_real(v, 0, false, INFINITY, false, &f)) bp.cca_reg = f, i++;
        else if (!strcmp(a, "--seed") && cli_parse_int(v, 0, 1L << 62, &n)) bp.seed = (uint64_t)n, i++;
        else return cli_option_error("bridge fit", FIT_USAGE, a, v);
    }
    if (unused_fit_option(&bp, argc, argv) != 0) return 2;
    if (!src || !tgt || !src_t || !tgt_t || !out)
        return cli_usage_fail("bridge fit", "--source, --source-tensor, --target, --target-tensor and --out are required");
    lw_bridge_fit_files_params p = lw_bridge_fit_files_default_params();
    p.source = src, p.source_tensor = src_t, p.target = tgt, p.target_tensor = tgt_t, p.pairing = pairing;
    p.bridge = bp, p.out = out, p.on_note = print_note;
    lw_bridge_fit_files_result r;
    if (lw_bridge_fit_files(&p, &r) != 0) return cli_fail_lib("bridge fit");
    printf("fitted %s bridge %s -> %s on %lld paired rows (%d -> %d, comparison space %d): %s\n",
           lw_bridge_recipe_name(bp.recipe), src_t, tgt_t, (long long)r.n_paired, r.d_source, r.d_target,
           lw_bridge_out_dim(r.bridge), out);
    lw_bridge_free(r.bridge);
    return 0;
}

static int bridge_apply(int argc, char **argv) {
    if (cli_options_once("bridge apply", APPLY_USAGE, &argc, argv)) return 2;
    const char *bpath = NULL, *in = NULL, *tensor = NULL, *out = NULL, *side = "source";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int k;
        if (!v) return cli_option_error("bridge apply", APPLY_USAGE, a, NULL);
        if (!strcmp(a, "--bridge")) bpath = argv[++i];
        else if (!strcmp(a, "--input")) in = argv[++i];
        else if (!strcmp(a, "--tensor")) tensor = argv[++i];
        else if (!strcmp(a, "--out")) out = argv[++i];
        else if (!strcmp(a, "--side") && cli_parse_choice(v, "source|target", &k)) side = argv[++i];
        else return cli_option_error("bridge apply", APPLY_USAGE, a, v);
    }
    if (!bpath || !in || !tensor || !out)
        return cli_usage_fail("bridge apply", "--bridge, --input, --tensor and --out are required");
    lw_bridge_apply_file_params p = {.bridge = bpath, .input = in, .tensor = tensor, .target_side = !strcmp(side, "target"),
                                     .out = out, .on_note = print_note};
    int64_t n;
    int dim;
    if (lw_bridge_apply_file(&p, &n, &dim) != 0) return cli_fail_lib("bridge apply");
    printf("mapped %lld rows of %s (%s side) into %d dimensions: %s\n", (long long)n, tensor, side, dim, out);
    return 0;
}

static int bridge_info(int argc, char **argv) {
    if (cli_options_once("bridge info", INFO_USAGE, &argc, argv)) return 2;
    const char *path = NULL;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) as_json = true;
        else if (argv[i][0] == '-' || path) return cli_option_error("bridge info", INFO_USAGE, argv[i], NULL);
        else path = argv[i];
    }
    if (!path) return cli_fail("bridge info", "no bridge file given (usage: latentwire bridge info BRIDGE.safetensors)") + 1;
    lw_bridge *br = lw_bridge_load(path);
    if (!br) return cli_fail_lib("bridge info");
    if (!as_json)
        printf("%s: %s bridge, %d -> %d, comparison space %d\n", path, lw_bridge_recipe_name(lw_bridge_get_recipe(br)),
               lw_bridge_source_dim(br), lw_bridge_target_dim(br), lw_bridge_out_dim(br));
    json_t *j = json_loads(lw_bridge_info_json(br), 0, NULL);
    char *pretty = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    printf("%s\n", pretty ? pretty : lw_bridge_info_json(br));
    free(pretty);
    json_decref(j);
    lw_bridge_free(br);
    return 0;
}

int cmd_bridge(int argc, char **argv) {
    static const cli_subverb SUB[] = {{"fit", FIT_USAGE, bridge_fit}, {"apply", APPLY_USAGE, bridge_apply}, {"info", INFO_USAGE, bridge_info}};
    return cli_dispatch("bridge", USAGE, SUB, (int)(sizeof SUB / sizeof SUB[0]), argc, argv);
}
