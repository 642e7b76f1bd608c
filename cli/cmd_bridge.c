/* latentwire bridge fit | apply | info */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latentwire/acts.h"
#include "cli.h"
#include "latentwire/bridge.h"

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

/* Copies one key of an activation file's metadata into the bridge record. */
static void copy_meta(lw_bridge *b, const char *prefix, const char *meta_json, const char *key) {
    if (!meta_json) return;
    json_t *m = json_loads(meta_json, 0, NULL);
    json_t *v = m ? json_object_get(m, key) : NULL;
    if (v) {
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        char name[96];
        snprintf(name, sizeof name, "%s_%s", prefix, key);
        lw_bridge_set_meta(b, name, text);
        free(text);
    }
    json_decref(m);
}

/* Rows of two files extracted from different texts are still paired by row id: right for
 * translation or paraphrase pairs (the same ids, other texts), a silent mistake otherwise, so it is
 * said. */
/* A rank or anchor count the data cannot support is lowered by the fit (recorded as rank_note);
 * say so where the user looks, not only in the file. */
static void note_rank_clamped(const lw_bridge *br) {
    json_t *info = json_loads(lw_bridge_info_json(br), 0, NULL);
    const char *note = json_string_value(json_object_get(info, "rank_note"));
    if (note) {
        bool relrep = lw_bridge_get_recipe(br) == LW_BRIDGE_RELREP;
        fprintf(stderr, "note: the bridge's %s was lowered to what the data allow: %s\n",
                relrep ? "number of anchors" : "rank", note);
    }
    json_decref(info);
}

static void note_other_texts(const char *src, const lw_act_tensor *A, const char *tgt, const lw_act_tensor *B) {
    json_t *ma = A->meta ? json_loads(A->meta, 0, NULL) : NULL, *mb = B->meta ? json_loads(B->meta, 0, NULL) : NULL;
    const char *ha = json_string_value(json_object_get(ma, "input_sha256")),
               *hb = json_string_value(json_object_get(mb, "input_sha256"));
    if (ha && hb && strcmp(ha, hb) != 0)
        fprintf(stderr, "note: %s and %s were extracted from different texts (their input_sha256 differ): row k of one "
                "is paired with row k of the other, as translation or paraphrase pairs want\n", src, tgt);
    json_decref(ma);
    json_decref(mb);
}

static void set_string_meta(lw_bridge *b, const char *key, const char *value) {
    json_t *s = json_string(value);
    char *text = json_dumps(s, JSON_ENCODE_ANY);
    lw_bridge_set_meta(b, key, text);
    free(text);
    json_decref(s);
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

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The calibration rows' ids as sorted inclusive ranges [[first, last], ...]: a few numbers for the
 * usual contiguous rows, whatever their count. */
static json_t *calibration_ranges(const lw_act_tensor *A, const int64_t *ia, int64_t n) {
    int64_t *id = malloc(sizeof *id * (size_t)(n ? n : 1));
    if (!id) return NULL;
    for (int64_t k = 0; k < n; k++) id[k] = A->row_id[ia[k]];
    qsort(id, (size_t)n, sizeof *id, cmp_i64);
    json_t *out = json_array();
    for (int64_t k = 0; k < n;) {
        int64_t j = k;
        while (j + 1 < n && id[j + 1] <= id[j] + 1) j++;
        json_array_append_new(out, json_pack("[I, I]", (json_int_t)id[k], (json_int_t)id[j]));
        k = j + 1;
    }
    free(id);
    return out;
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
    if (cli_check_output("bridge fit", "--out", out, LW_OUT_FILE,
                         (const char *[]){"--source", src, "--target", tgt, NULL}))
        return 1;
    lw_act_tensor A, B;
    if (lw_act_open(src, src_t, &A) != 0) return cli_fail_lib("bridge fit");
    if (lw_act_open(tgt, tgt_t, &B) != 0) {
        lw_act_close(&A);
        return cli_fail_lib("bridge fit");
    }
    int rc = 1;
    int64_t *ia = NULL, *ib = NULL;
    float *X = NULL, *Y = NULL;
    lw_bridge *br = NULL;
    int64_t n = lw_act_join_mode(&A, &B, pairing, &ia, &ib);
    if (n < 0) {
        cli_fail_lib("bridge fit");
        goto done;
    }
    if (n >= 2 && (n < A.n || n < B.n)) /* rows whose row id the other file lacks are left out */
        fprintf(stderr, "note: the fit pairs %lld rows; %lld of %s and %lld of %s have no partner %s and are left out\n",
                (long long)n, (long long)(A.n - n), src, (long long)(B.n - n), tgt,
                pairing == LW_JOIN_ROW_POSITION ? "(row id, position)" : "row id");
    if (n < 2) {
        cli_fail("bridge fit", "%s and %s share %lld row ids; at least 2 paired rows are needed", src, tgt,
                 (long long)(n < 0 ? 0 : n));
        goto done;
    }
    X = lw_act_gather(&A, ia, n);
    Y = lw_act_gather(&B, ib, n);
    br = lw_bridge_fit(X, Y, n, A.d, B.d, &bp);
    if (!br) {
        cli_fail_lib("bridge fit");
        goto done;
    }
    set_string_meta(br, "source_file", src);
    set_string_meta(br, "target_file", tgt);
    set_string_meta(br, "source_tensor", src_t);
    set_string_meta(br, "target_tensor", tgt_t);
    set_string_meta(br, "paired_by", pairing == LW_JOIN_ROW_POSITION ? "row_id,position" : "row_id");
    copy_meta(br, "source", A.meta, "model_sha256");
    copy_meta(br, "target", B.meta, "model_sha256");
    copy_meta(br, "source", A.meta, "pool");
    copy_meta(br, "target", B.meta, "pool");
    /* which texts the bridge saw: a later retrieval on the same texts can say which of its queries
     * are in-sample (the source file's row ids; unique, in file order) */
    copy_meta(br, "source", A.meta, "input_sha256");
    copy_meta(br, "source", A.meta, "input_field");
    copy_meta(br, "target", B.meta, "input_sha256");
    copy_meta(br, "target", B.meta, "input_field");
    note_other_texts(src, &A, tgt, &B);
    json_t *ids = calibration_ranges(&A, ia, n);
    char *ids_text = ids ? json_dumps(ids, JSON_COMPACT) : NULL;
    if (ids_text) lw_bridge_set_meta(br, "calibration_row_ids", ids_text);
    free(ids_text);
    json_decref(ids);
    if (lw_bridge_save(br, out) != 0) {
        cli_fail_lib("bridge fit");
        goto done;
    }
    printf("fitted %s bridge %s -> %s on %lld paired rows (%d -> %d, comparison space %d): %s\n",
           lw_bridge_recipe_name(bp.recipe), src_t, tgt_t, (long long)n, A.d, B.d, lw_bridge_out_dim(br), out);
    note_rank_clamped(br);
    cli_note_bare_rows(src, A.meta, "the bridge records no source model or pooling, so its uses cannot be checked");
    cli_note_bare_rows(tgt, B.meta, "the bridge records no target model or pooling, so its uses cannot be checked");
    rc = 0;
done:
    lw_bridge_free(br);
    free(X);
    free(Y);
    free(ia);
    free(ib);
    lw_act_close(&A);
    lw_act_close(&B);
    return rc;
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
    if (cli_check_output("bridge apply", "--out", out, LW_OUT_FILE,
                         (const char *[]){"--bridge", bpath, "--input", in, NULL}))
        return 1;
    lw_bridge *br = lw_bridge_load(bpath);
    if (!br) return cli_fail_lib("bridge apply");
    lw_act_tensor X;
    if (lw_act_open(in, tensor, &X) != 0) {
        lw_bridge_free(br);
        return cli_fail_lib("bridge apply");
    }
    bool source = !strcmp(side, "source");
    int want = source ? lw_bridge_source_dim(br) : lw_bridge_target_dim(br), rc = 1;
    float *Z = NULL;
    if (X.d != want) {
        cli_fail("bridge apply", "%s: tensor \"%s\" has width %d but the bridge's %s side has width %d", in, tensor,
                 X.d, side, want);
        goto done;
    }
    if (X.n == 0) { /* an empty result is refused, never written */
        cli_fail("bridge apply", "%s: tensor \"%s\" has no rows: nothing to map", in, tensor);
        goto done;
    }
    char sha[65], pool[32];
    if (cli_check_bridge_fit("bridge apply", bpath, br, side, tensor, lw_act_model_sha256(&X, sha), lw_act_pool(&X, pool)))
        goto done;
    int dim = lw_bridge_out_dim(br);
    Z = malloc(sizeof(float) * (size_t)(X.n ? X.n : 1) * dim);
    if ((source ? lw_bridge_apply_source(br, X.x, X.n, Z) : lw_bridge_apply_target(br, X.x, X.n, Z)) != 0) {
        cli_fail_lib("bridge apply");
        goto done;
    }
    lw_st_tensor_in t[2] = {{.name = "mapped", .dtype = LW_DT_F32, .n_dims = 2, .shape = {X.n, dim}, .data = Z},
                            {.name = "row_id", .dtype = LW_DT_I64, .n_dims = 1, .shape = {X.n}, .data = X.row_id}};
    const char *meta[6] = {"bridge", bpath, "input", in, "side", side};
    if (lw_st_save(out, t, 2, meta, 3) != 0) {
        cli_fail_lib("bridge apply");
        goto done;
    }
    printf("mapped %lld rows of %s (%s side) into %d dimensions: %s\n", (long long)X.n, tensor, side, dim, out);
    cli_note_bare_rows(in, X.meta, "its rows' model and pooling were not checked against the bridge's fit");
    rc = 0;
done:
    free(Z);
    lw_act_close(&X);
    lw_bridge_free(br);
    return rc;
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
