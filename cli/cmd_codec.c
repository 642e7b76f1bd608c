/* latentwire codec fit | encode | decode | info */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latentwire/acts.h"
#include "cli.h"
#include "latentwire/textio.h"
#include "latentwire/codec.h"

#define FIT_USAGE                                                                                                 \
    "  latentwire codec fit --kind KIND --budget BITS --input ACTS.safetensors --tensor layer.L\n"               \
    "                       [--positions T] --out CODEC.safetensors [shape options]\n"                            \
    "      activation kinds: topk, pcaq, token-sparse, sae, pq, fitted on the input's rows (calibration\n"        \
    "      rows only); with --positions T an item is the last T rows of each row_id\n"                           \
    "      --budget BITS: every payload at most BITS bits; the shape options left out are chosen by the\n"       \
    "      budget search (lowest held-out reconstruction error among the shapes that fit)\n"                     \
    "      shape options: --k N --bits B --rank R --lloyd-max --latents N --epochs N --subspaces M --seed S\n"   \
    "      text kinds (zlib, brotli, ...): --texts FILE.txt|.jsonl [--field F] [--level N] [--dict-bytes N]\n"   \
    "      instead of --input/--tensor\n"
#define ENCODE_USAGE                                                                                              \
    "  latentwire codec encode --codec CODEC.safetensors --input ACTS.safetensors --tensor NAME\n"               \
    "                          --out PAYLOADS.safetensors\n"                                                      \
    "      tensors payload (U8), offsets (I64 [items + 1]) and row_id; prints payload bits (mean, max),\n"       \
    "      side bits and side bits amortized over the items\n"
#define DECODE_USAGE                                                                                              \
    "  latentwire codec decode --codec CODEC.safetensors --input PAYLOADS.safetensors --out DECODED.safetensors\n" \
    "      the rows (F32 [items x T, width]) under the name of the tensor the codec was fitted on (its\n"       \
    "      record's meta.tensor, e.g. layer.9; else decoded), so a bridge fitted on that tensor applies,\n"   \
    "      and row_id\n"
#define INFO_USAGE                                                                                                \
    "  latentwire codec info CODEC.safetensors [--json]\n"                                                        \
    "      kind, width, payload bits, side bits and the fit record; --json: only the record\n"

static const char *USAGE = "usage:\n" FIT_USAGE ENCODE_USAGE DECODE_USAGE INFO_USAGE;

static int cmp_i64(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* An item's row_id twice (T = 1 over a --pool none file, or a row_id's rows apart): the payload
 * file would hold it twice, and decode refuses that as an edit. 0 or -1 (message printed). */
static int check_ids_distinct(const char *path, const int64_t *ids, int64_t n, int T) {
    int64_t *s = malloc(sizeof *s * (size_t)(n ? n : 1));
    if (!s) return cli_fail("codec", "out of memory");
    memcpy(s, ids, sizeof *s * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_i64);
    int64_t dup = -1;
    for (int64_t i = 1; i < n && dup < 0; i++)
        if (s[i] == s[i - 1]) dup = i;
    int rc = dup < 0 ? 0
             : T == 1 ? cli_fail("codec", "%s: row_id %lld has several rows (one per token, as extract --pool none writes): "
                                          "give --positions T to code each text's last T rows as one item, or extract with "
                                          "--pool mean or last", path, (long long)s[dup])
                      : cli_fail("codec", "%s: row_id %lld's rows are not consecutive: each text's rows must follow each "
                                          "other, as extract --pool none writes them", path, (long long)s[dup]);
    free(s);
    return rc;
}

/* Items of T rows: T = 1, every row; else the last T rows of each row_id (rows of one
 * row_id must be consecutive, as extract --pool none writes them); for encoding (distinct) each
 * row_id once (fitting may take every token's row). n < 0 on error. */
static int64_t gather_items(const lw_act_tensor *A, int T, bool distinct, float **items, int64_t **ids) {
    *items = malloc(sizeof(float) * (size_t)(A->n ? A->n : 1) * A->d);
    *ids = malloc(sizeof(int64_t) * (size_t)(A->n ? A->n : 1));
    if (!*items || !*ids) {
        free(*items), free(*ids);
        *items = NULL, *ids = NULL;
        cli_fail("codec", "out of memory for %lld rows", (long long)A->n);
        return -1;
    }
    int64_t n = 0;
    for (int64_t a = 0; a < A->n;) {
        int64_t b = a + 1;
        while (T > 1 && b < A->n && A->row_id[b] == A->row_id[a]) b++;
        if (b - a < T) {
            cli_fail("codec", "%s: row_id %lld has %lld position%s, fewer than --positions %d", A->path,
                     (long long)A->row_id[a], (long long)(b - a), b - a == 1 ? "" : "s", T);
            free(*items), free(*ids);
            *items = NULL, *ids = NULL;
            return -1;
        }
        memcpy(*items + (size_t)n * T * A->d, A->x + (size_t)(b - T) * A->d, sizeof(float) * (size_t)T * A->d);
        (*ids)[n++] = A->row_id[a];
        a = b;
    }
    if (distinct && check_ids_distinct(A->path, *ids, n, T) != 0) {
        free(*items), free(*ids);
        *items = NULL, *ids = NULL;
        return -1;
    }
    return n;
}

static void print_stats(const char *what, const lw_codec_file_stats *st, const char *path) {
    printf("%s %lld items: payload bits mean %.1f, max %lld; side bits %lld (%.1f per item amortized over these "
           "items): %s\n",
           what, (long long)st->items, st->items ? (double)st->payload_bits_total / (double)st->items : 0.0,
           (long long)st->payload_bits_max, (long long)st->side_bits,
           st->items ? (double)st->side_bits / (double)st->items : 0.0, path);
}

static int64_t payload_bits_of(const lw_codec *c) {
    json_t *r = json_loads(lw_codec_record_json(c), 0, NULL);
    json_t *v = json_object_get(json_object_get(r, "fit"), "payload_bits");
    int64_t bits = json_is_integer(v) ? json_integer_value(v) : -1;
    json_decref(r);
    return bits;
}

/* What a payload costs, as a phrase: an activation codec's fixed size from its fit record; a
 * text codec's depends on the text (never a size of -1), bounded by the budget when there is one. */
static void payload_phrase(const lw_codec *c, const char *per, char *buf, size_t size) {
    int64_t bits = payload_bits_of(c), K = lw_codec_budget_bits(c);
    if (lw_codec_kind_is_text(lw_codec_kind_of(c))) {
        if (K > 0) snprintf(buf, size, "payload depends on the text (at most %lld bits%s)", (long long)K, per);
        else snprintf(buf, size, "payload depends on the text (no budget)");
    } else if (bits >= 0) snprintf(buf, size, "payload %lld bits%s", (long long)bits, per);
    else snprintf(buf, size, "payload size not recorded");
}

/* "width d, T positions, " for an activation codec; nothing for a text codec (it has neither). */
static void shape_phrase(const lw_codec *c, char *buf, size_t size) {
    if (lw_codec_kind_is_text(lw_codec_kind_of(c))) buf[0] = '\0';
    else
        snprintf(buf, size, "width %d, %d position%s, ", lw_codec_width(c), lw_codec_positions(c),
                 lw_codec_positions(c) == 1 ? "" : "s");
}

/* The chosen shape, with the fields the kind uses. */
static void print_fitted(const lw_codec *c, const char *out) {
    json_t *r = json_loads(lw_codec_record_json(c), 0, NULL);
    json_t *pj = json_object_get(r, "params");
    lw_codec_kind kind = lw_codec_kind_of(c);
    const char *keys[3] = {NULL, NULL, NULL};
    if (kind == LW_CODEC_TOPK || kind == LW_CODEC_TOKEN_SPARSE) keys[0] = "k", keys[1] = "bits";
    else if (kind == LW_CODEC_PCAQ) keys[0] = "rank", keys[1] = "bits";
    else if (kind == LW_CODEC_SAE) keys[0] = "sae_latents", keys[1] = "k", keys[2] = "bits";
    else if (kind == LW_CODEC_PQ) keys[0] = "pq_subspaces", keys[1] = "bits";
    char shape[160] = "";
    for (int i = 0; i < 3 && keys[i]; i++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%s %lld", i ? ", " : "", keys[i],
                 (long long)json_integer_value(json_object_get(pj, keys[i])));
    char dims[96], payload[128];
    shape_phrase(c, dims, sizeof dims);
    payload_phrase(c, "", payload, sizeof payload);
    /* a text codec has no shape to show: its line goes straight to the payload */
    bool text = lw_codec_kind_is_text(kind);
    printf("fitted %s codec (%sbudget %lld bits): %s%s%s, side information %lld bits: %s\n", lw_codec_name(kind), dims,
           (long long)lw_codec_budget_bits(c), text ? "" : shape[0] ? shape : "-", text ? "" : "; ", payload,
           (long long)lw_codec_side_bits(c), out);
    json_decref(r);
}

/* Text kinds: the calibration texts of --texts (the text codecs' helper builds the kinds). */
static lw_codec *fit_text(const lw_codec_params *p, const char *texts, const char *field) {
    lw_corpus corpus;
    if (lw_corpus_load(&corpus, texts, field) != 0) return NULL;
    if (corpus.n > (1 << 30)) {
        lw_corpus_free(&corpus);
        cli_fail("codec fit", "%s: too many texts", texts);
        return NULL;
    }
    lw_codec *c = lw_codec_fit_text(p, (const char *const *)corpus.texts, (int)corpus.n);
    lw_corpus_free(&corpus);
    return c;
}

static void set_string_meta(lw_codec *c, const char *key, const char *value) {
    json_t *s = json_string(value);
    char *text = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
    if (text) lw_codec_set_meta(c, key, text);
    free(text);
    json_decref(s);
}

/* A shape option the kind has no use for is refused with the kinds that use it, not ignored (a
 * user who gives --rank 8 to topk believes the payload has 8 components). 0 or 1. */
static int unused_fit_option(lw_codec_kind k, int argc, char **argv) {
    static const struct {
        const char *option, *kinds; /* the kinds (their names, space-separated) that read it */
    } USE[] = {{"--k", "topk token-sparse sae"},
               {"--bits", "topk token-sparse pcaq pq sae"},
               {"--rank", "pcaq"},
               {"--lloyd-max", "pcaq"},
               {"--latents", "sae"},
               {"--epochs", "sae"},
               {"--subspaces", "pq"},
               {"--positions", "topk pcaq token-sparse sae pq"},
               {"--level", "zlib brotli zstd zstd-dict"},
               {"--dict-bytes", "zstd-dict"},
               {"--field", "zlib brotli brotli-dict zstd zstd-dict truncate"}};
    const char *name = lw_codec_name(k);
    for (size_t i = 0; i < sizeof USE / sizeof USE[0]; i++) {
        if (!cli_given(argc, argv, USE[i].option)) continue;
        bool used = false;
        for (const char *p = strstr(USE[i].kinds, name); p && !used; p = strstr(p + 1, name))
            used = (p == USE[i].kinds || p[-1] == ' ') && (p[strlen(name)] == ' ' || !p[strlen(name)]);
        if (!used) {
            cli_fail("codec fit", "%s with --kind %s: only %s use%s it", USE[i].option, name, USE[i].kinds,
                     strchr(USE[i].kinds, ' ') ? "" : "s");
            return 1;
        }
    }
    return 0;
}

static int codec_fit(int argc, char **argv) {
    if (cli_options_once("codec fit", FIT_USAGE, &argc, argv)) return 2;
    const char *in = NULL, *tensor = NULL, *out = NULL, *texts = NULL, *field = "text";
    int kind = -1;
    bool budget_given = false;
    lw_codec_params p = lw_codec_default_params(LW_CODEC_TOPK);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (!strcmp(a, "--lloyd-max")) p.lloyd_max = true;
        else if (!v) return cli_option_error("codec fit", FIT_USAGE, a, NULL);
        else if (!strcmp(a, "--kind") && ((kind = lw_codec_from_name(v)) >= 0 || cli_reject(v, "%s", lw_last_error()))) i++;
        else if (!strcmp(a, "--budget") && cli_parse_int(v, 1, 1L << 40, &n)) p.budget_bits = n, budget_given = true, i++;
        else if (!strcmp(a, "--input")) in = argv[++i];
        else if (!strcmp(a, "--tensor")) tensor = argv[++i];
        else if (!strcmp(a, "--out")) out = argv[++i];
        else if (!strcmp(a, "--texts")) texts = argv[++i];
        else if (!strcmp(a, "--field")) field = argv[++i];
        else if (!strcmp(a, "--positions") && cli_parse_int(v, 1, 4096, &n)) p.positions = (int)n, i++;
        else if (!strcmp(a, "--k") && cli_parse_int(v, 1, 1 << 24, &n)) p.k = (int)n, i++;
        else if (!strcmp(a, "--bits") && cli_parse_int(v, 1, 16, &n)) p.bits = (int)n, i++;
        else if (!strcmp(a, "--rank") && cli_parse_int(v, 1, 1 << 24, &n)) p.rank = (int)n, i++;
        else if (!strcmp(a, "--latents") && cli_parse_int(v, 2, 1 << 24, &n)) p.sae_latents = (int)n, i++;
        else if (!strcmp(a, "--epochs") && cli_parse_int(v, 1, 100000, &n)) p.sae_epochs = (int)n, i++;
        else if (!strcmp(a, "--subspaces") && cli_parse_int(v, 1, 1 << 24, &n)) p.pq_subspaces = (int)n, i++;
        else if (!strcmp(a, "--level") && cli_parse_int(v, -1, 32, &n)) p.level = (int)n, i++;
        else if (!strcmp(a, "--dict-bytes") && cli_parse_int(v, 256, 1 << 24, &n)) p.dict_bytes = (int)n, i++; /* zstd-dict's range */
        else if (!strcmp(a, "--seed") && cli_parse_int(v, 0, 1L << 62, &n)) p.seed = (uint64_t)n, i++;
        else return cli_option_error("codec fit", FIT_USAGE, a, v);
    }
    if (kind < 0 || !budget_given || !out)
        return cli_usage_fail("codec fit", "--kind, --budget and --out are required (`latentwire codec fit --help`)");
    if (unused_fit_option((lw_codec_kind)kind, argc, argv) != 0) return 2;
    lw_codec_params q = lw_codec_default_params((lw_codec_kind)kind);
    q.budget_bits = p.budget_bits, q.positions = p.positions, q.k = p.k, q.bits = p.bits, q.rank = p.rank;
    q.lloyd_max = p.lloyd_max, q.sae_latents = p.sae_latents, q.sae_epochs = p.sae_epochs;
    q.pq_subspaces = p.pq_subspaces, q.level = p.level, q.dict_bytes = p.dict_bytes, q.seed = p.seed;
    bool text = lw_codec_kind_is_text((lw_codec_kind)kind);
    if (kind == LW_CODEC_LM_ARITH || kind == LW_CODEC_SUMMARY) /* the library asked for "params.lm" */
        return cli_fail("codec fit", "--kind %s codes with a language model, which codec fit does not load: use it "
                        "through `latentwire race --channel text:%s` (or lw_codec_fit_text with params.lm set)",
                        lw_codec_name((lw_codec_kind)kind), lw_codec_name((lw_codec_kind)kind));
    if (text ? !texts || in || tensor : !in || !tensor || texts)
        return cli_fail("codec fit", text ? "codec %s is a text codec: give --texts FILE (not --input/--tensor)"
                                          : "codec %s is an activation codec: give --input ACTS.safetensors and "
                                            "--tensor NAME (not --texts)",
                        lw_codec_name((lw_codec_kind)kind));
    if (cli_check_output("codec fit", "--out", out, LW_OUT_FILE,
                         (const char *[]){"--input", in, "--texts", texts, NULL}))
        return 1;
    if (cli_check_field("codec fit", texts, argc, argv)) return 2;
    lw_codec *c = NULL;
    bool bare = false; /* rows without extract's metadata: nothing to record */
    if (text) {
        c = fit_text(&q, texts, field);
        if (!c) return cli_fail_lib("codec fit");
    } else {
        lw_act_tensor A;
        if (lw_act_open(in, tensor, &A) != 0) return cli_fail_lib("codec fit");
        float *items;
        int64_t *ids;
        int64_t n = gather_items(&A, q.positions, false, &items, &ids);
        if (n >= 0) c = lw_codec_fit_act(&q, items, n * q.positions, A.d);
        if (n >= 0 && !c) cli_fail_lib("codec fit");
        char sha[65]; /* where the rows came from: codec encode checks it */
        if (c) set_string_meta(c, "tensor", tensor);
        if (c && lw_act_model_sha256(&A, sha)) set_string_meta(c, "model_sha256", sha);
        char pool[32];
        if (c && lw_act_pool(&A, pool)) set_string_meta(c, "pool", pool);
        if (n >= 0) free(items), free(ids);
        bare = !A.meta;
        lw_act_close(&A);
        if (!c) return 1;
    }
    if (lw_codec_save(c, out) != 0) {
        lw_codec_free(c);
        return cli_fail_lib("codec fit");
    }
    print_fitted(c, out);
    if (bare) cli_note_bare_rows(in, NULL, "the codec records no model or pooling, so its uses cannot be checked");
    lw_codec_free(c);
    return 0;
}

static int codec_encode(int argc, char **argv) {
    if (cli_options_once("codec encode", ENCODE_USAGE, &argc, argv)) return 2;
    const char *cpath = NULL, *in = NULL, *tensor = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return cli_option_error("codec encode", ENCODE_USAGE, a, NULL);
        if (!strcmp(a, "--codec")) cpath = argv[++i];
        else if (!strcmp(a, "--input")) in = argv[++i];
        else if (!strcmp(a, "--tensor")) tensor = argv[++i];
        else if (!strcmp(a, "--out")) out = argv[++i];
        else return cli_option_error("codec encode", ENCODE_USAGE, a, v);
    }
    if (!cpath || !in || !tensor || !out)
        return cli_usage_fail("codec encode", "--codec, --input, --tensor and --out are required");
    if (cli_check_output("codec encode", "--out", out, LW_OUT_FILE,
                         (const char *[]){"--codec", cpath, "--input", in, NULL}))
        return 1;
    lw_codec *c = lw_codec_load(cpath, NULL);
    if (!c) return cli_fail_lib("codec encode");
    if (lw_codec_kind_is_text(lw_codec_kind_of(c))) {
        const char *name = lw_codec_name(lw_codec_kind_of(c));
        lw_codec_free(c);
        return cli_fail("codec encode", "%s: a text codec (%s); codec encode takes activation codecs", cpath, name);
    }
    lw_act_tensor A;
    if (lw_act_open(in, tensor, &A) != 0) {
        lw_codec_free(c);
        return cli_fail_lib("codec encode");
    }
    int rc = 1;
    float *items = NULL;
    int64_t *ids = NULL;
    if (A.d != lw_codec_width(c)) {
        cli_fail("codec encode", "%s: tensor \"%s\" has width %d but codec %s has width %d", in, tensor, A.d, cpath,
                 lw_codec_width(c));
        goto done;
    }
    char sha[65], pool[32];
    if (lw_codec_check_fit(c, tensor, lw_act_model_sha256(&A, sha), lw_act_pool(&A, pool)) != 0) {
        cli_fail("codec encode", "%s: %s", cpath, lw_last_error());
        goto done;
    }
    int64_t n = gather_items(&A, lw_codec_positions(c), true, &items, &ids);
    if (n < 0) goto done;
    lw_codec_file_stats st;
    if (lw_codec_encode_act_file(c, items, ids, n, out, &st) != 0) {
        cli_fail_lib("codec encode");
        goto done;
    }
    print_stats("encoded", &st, out);
    cli_note_bare_rows(in, A.meta, "its rows' model and pooling were not checked against the codec's fit");
    rc = 0;
done:
    free(items), free(ids);
    lw_act_close(&A);
    lw_codec_free(c);
    return rc;
}

static int codec_decode(int argc, char **argv) {
    if (cli_options_once("codec decode", DECODE_USAGE, &argc, argv)) return 2;
    const char *cpath = NULL, *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return cli_option_error("codec decode", DECODE_USAGE, a, NULL);
        if (!strcmp(a, "--codec")) cpath = argv[++i];
        else if (!strcmp(a, "--input")) in = argv[++i];
        else if (!strcmp(a, "--out")) out = argv[++i];
        else return cli_option_error("codec decode", DECODE_USAGE, a, v);
    }
    if (!cpath || !in || !out) return cli_usage_fail("codec decode", "--codec, --input and --out are required");
    if (cli_check_output("codec decode", "--out", out, LW_OUT_FILE,
                         (const char *[]){"--codec", cpath, "--input", in, NULL}))
        return 1;
    lw_codec *c = lw_codec_load(cpath, NULL);
    if (!c) return cli_fail_lib("codec decode");
    if (lw_codec_kind_is_text(lw_codec_kind_of(c))) {
        lw_codec_free(c);
        return cli_fail("codec decode", "%s: a text codec; codec decode takes activation codecs", cpath);
    }
    float *items = NULL;
    int64_t *ids = NULL, n = 0, *row_ids = NULL;
    lw_codec_file_stats st;
    int rc = 1, T = lw_codec_positions(c), d = lw_codec_width(c);
    if (lw_codec_decode_act_file(c, in, &items, &ids, &n, &st) != 0) {
        if (strstr(lw_last_error(), "non-finite")) lw_fail_prefix("%s: ", cpath); /* the codec file is at fault */
        cli_fail_lib("codec decode");
        goto done;
    }
    row_ids = malloc(sizeof(int64_t) * (size_t)n * T);
    if (!row_ids) {
        cli_fail("codec decode", "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n * T; i++) row_ids[i] = ids[i / T];
    /* the rows reconstruct the fitted tensor: under its name, a bridge or retrieval that names it
     * reads them (under "decoded", a bridge fitted on layer.2 refused them) */
    json_t *record = json_loads(lw_codec_record_json(c), 0, NULL);
    const char *fitted = json_string_value(json_object_get(json_object_get(record, "meta"), "tensor"));
    char name[256];
    snprintf(name, sizeof name, "%s", fitted && *fitted && strcmp(fitted, "row_id") ? fitted : "decoded");
    json_decref(record);
    lw_st_tensor_in t[2] = {
        {.name = name, .dtype = LW_DT_F32, .n_dims = 2, .shape = {n * T, d}, .data = items},
        {.name = "row_id", .dtype = LW_DT_I64, .n_dims = 1, .shape = {n * T}, .data = row_ids},
    };
    const char *meta[] = {"format", "latentwire.decoded/1", "codec", cpath, "payloads", in};
    if (lw_st_save(out, t, 2, meta, 3) != 0) {
        cli_fail_lib("codec decode");
        goto done;
    }
    print_stats("decoded", &st, out);
    rc = 0;
done:
    free(items), free(ids), free(row_ids);
    lw_codec_free(c);
    return rc;
}

static int codec_info(int argc, char **argv) {
    if (cli_options_once("codec info", INFO_USAGE, &argc, argv)) return 2;
    const char *path = NULL;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) as_json = true;
        else if (argv[i][0] == '-' || path) return cli_option_error("codec info", INFO_USAGE, argv[i], NULL);
        else path = argv[i];
    }
    if (!path) return cli_usage_fail("codec info", "no codec file given (usage: latentwire codec info CODEC.safetensors)");
    lw_codec *c = lw_codec_load(path, NULL);
    if (!c) return cli_fail_lib("codec info");
    json_t *j = json_loads(lw_codec_record_json(c), 0, NULL);
    if (as_json) {
        lw_codec_free(c);
        return cli_print_json("codec info", j);
    }
    char dims[96], payload[128];
    shape_phrase(c, dims, sizeof dims);
    payload_phrase(c, " per item", payload, sizeof payload);
    printf("%s: %s codec, %sbudget %lld bits, %s, side information %lld bits\n", path,
           lw_codec_name(lw_codec_kind_of(c)), dims, (long long)lw_codec_budget_bits(c), payload,
           (long long)lw_codec_side_bits(c));
    char *pretty = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    printf("%s\n", pretty ? pretty : lw_codec_record_json(c));
    free(pretty);
    json_decref(j);
    lw_codec_free(c);
    return 0;
}

int cmd_codec(int argc, char **argv) {
    static const cli_subverb SUB[] = {{"fit", FIT_USAGE, codec_fit},
                                      {"encode", ENCODE_USAGE, codec_encode},
                                      {"decode", DECODE_USAGE, codec_decode},
                                      {"info", INFO_USAGE, codec_info}};
    return cli_dispatch("codec", USAGE, SUB, (int)(sizeof SUB / sizeof SUB[0]), argc, argv);
}
