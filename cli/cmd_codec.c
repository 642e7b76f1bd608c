/* latentwire codec fit | encode | decode | info */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "latentwire/codec_files.h"

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

/* The library's notes (files without latentwire metadata) on stderr. */
static void print_note(const char *note, void *user) {
    (void)user;
    fprintf(stderr, "note: %s\n", note);
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
    if (cli_check_field("codec fit", texts, argc, argv)) return 2;
    lw_codec_fit_file_params fp = lw_codec_fit_file_default_params((lw_codec_kind)kind);
    fp.codec = q, fp.input = in, fp.tensor = tensor, fp.texts = texts, fp.field = field, fp.out = out;
    fp.on_note = print_note;
    lw_codec *c = lw_codec_fit_file(&fp);
    if (!c) return cli_fail_lib("codec fit");
    print_fitted(c, out);
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
    lw_codec_file_params p = {.codec = cpath, .input = in, .tensor = tensor, .out = out, .on_note = print_note};
    lw_codec_file_stats st;
    if (lw_codec_encode_file(&p, &st) != 0) return cli_fail_lib("codec encode");
    print_stats("encoded", &st, out);
    return 0;
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
    lw_codec_file_params p = {.codec = cpath, .input = in, .out = out};
    lw_codec_file_stats st;
    if (lw_codec_decode_file(&p, &st) != 0) return cli_fail_lib("codec decode");
    print_stats("decoded", &st, out);
    return 0;
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
