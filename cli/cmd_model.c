/* latentwire info MODEL [--json]; latentwire tokenize MODEL TEXT [--no-bos] [--no-special] [--json] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "latentwire/runtime.h"

static const char *INFO_USAGE =
    "usage: latentwire info MODEL.gguf [--json]\n"
    "  model facts: file, sha256, name, architecture, parameters, layers, width, heads, vocabulary,\n"
    "  tokenizer, context, embeddings\n"
    "  --json   one JSON object on stdout, keys: file, sha256, name, architecture, recurrent, parameters,\n"
    "           layers, width, heads, kv_heads, vocabulary, tokenizer, bos, eos, adds_bos, context,\n"
    "           tied_embeddings (bos/eos -1: none)\n";

static const char *TOKENIZE_USAGE =
    "usage: latentwire tokenize MODEL.gguf TEXT [--no-bos] [--no-special] [--json]\n"
    "  the token ids, then one line per token: its id and the text it completes (whole UTF-8\n"
    "  characters: a token that ends inside a character shows its bytes, and the character\n"
    "  appears at the token that completes it). The model's special tokens written in TEXT\n"
    "  (\"<|im_start|>\") are parsed as generate, channel and the other verbs parse prompts.\n"
    "  --no-bos      do not prepend BOS\n"
    "  --no-special  special tokens written in TEXT are plain text (as extract reads its lines)\n"
    "  --json    one JSON object on stdout, keys: ids (token ids), tokens (per token: id, bytes = its\n"
    "            piece's bytes, text = the whole UTF-8 characters it completes), text (the tokens' texts\n"
    "            concatenated)\n";

/* Positional arguments and flags of info/tokenize: no option takes a value. A missing positional
 * is one line naming it (the whole usage on stderr was the only multi-line usage error; --help
 * prints it). */
static int take_args(const char *verb, const char *usage, int argc, char **argv, const char **pos, int n_pos,
                     bool *json, bool *no_bos, bool *no_special) {
    static const char *const NAMES[] = {"model", "TEXT"};
    if (cli_options_once(verb, usage, &argc, argv)) return 2;
    int k = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) *json = true;
        else if (no_bos && !strcmp(a, "--no-bos")) *no_bos = true;
        else if (no_special && !strcmp(a, "--no-special")) *no_special = true;
        else if ((a[0] == '-' && a[1] == '-') || k == n_pos) return cli_option_error(verb, usage, a, NULL);
        else pos[k++] = a;
    }
    if (k < n_pos)
        return cli_usage_fail(verb, "no %s given (%.*s)", NAMES[k], (int)strcspn(usage, "\n"), usage);
    return 0;
}

int cmd_info(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        cli_print_help("info", INFO_USAGE);
        return 0;
    }
    const char *path = NULL;
    bool json = false;
    int rc = take_args("info", INFO_USAGE, argc, argv, &path, 1, &json, NULL, NULL);
    if (rc) return rc;
    lw_model *m = lw_model_load(path, cli_model_params());
    if (!m) return cli_fail_lib("info");
    lw_model_info in;
    lw_model_get_info(m, &in);
    const char *sha = lw_model_sha256(m);
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "file", cli_json_text(in.path));
        json_object_set_new(o, "sha256", sha ? json_string(sha) : json_null());
        json_object_set_new(o, "name", cli_json_text(in.name));
        json_object_set_new(o, "architecture", cli_json_text(in.arch));
        json_object_set_new(o, "recurrent", json_boolean(in.recurrent));
        json_object_set_new(o, "parameters", json_integer((json_int_t)in.n_params));
        json_object_set_new(o, "layers", json_integer(in.n_layer));
        json_object_set_new(o, "width", json_integer(in.n_embd));
        json_object_set_new(o, "heads", json_integer(in.n_head));
        json_object_set_new(o, "kv_heads", json_integer(in.n_head_kv));
        json_object_set_new(o, "vocabulary", json_integer(in.n_vocab));
        json_object_set_new(o, "tokenizer", cli_json_text(in.tokenizer));
        json_object_set_new(o, "bos", json_integer(in.bos));
        json_object_set_new(o, "eos", json_integer(in.eos));
        json_object_set_new(o, "adds_bos", json_boolean(in.add_bos));
        json_object_set_new(o, "context", json_integer(in.n_ctx_train));
        json_object_set_new(o, "tied_embeddings", json_boolean(in.tied_embeddings));
        lw_model_free(m);
        return cli_print_json("info", o);
    }
    /* the name and architecture are the file's own strings: control bytes shown as \xNN */
    printf("file          ");
    cli_put_safe(stdout, in.path);
    printf("\nsha256        %s\n", sha ? sha : "?");
    printf("name          ");
    cli_put_safe(stdout, in.name);
    printf("\narchitecture  ");
    cli_put_safe(stdout, in.arch);
    printf("%s\n", in.recurrent ? " (recurrent)" : "");
    printf("parameters    %llu\n", (unsigned long long)in.n_params);
    printf("layers        %d\n", in.n_layer);
    printf("width         %d\n", in.n_embd);
    printf("heads         %d (kv %d)\n", in.n_head, in.n_head_kv);
    printf("vocabulary    %d (tokenizer ", in.n_vocab);
    cli_put_safe(stdout, in.tokenizer);
    printf(", bos %d, eos %d, adds bos: %s)\n", in.bos, in.eos, in.add_bos ? "yes" : "no");
    printf("context       %d\n", in.n_ctx_train);
    printf("embeddings    %s\n", in.tied_embeddings ? "tied (output = token embeddings)" : "separate output matrix");
    lw_model_free(m);
    return 0;
}

/* Token pieces in order, turned into whole UTF-8 characters: the bytes of a character cut
 * between pieces wait in `pending` until the piece that completes it. */
typedef struct {
    char *pending;
    size_t n_pending;
} utf8_joiner;

/* Appends piece; returns the whole characters it completes (malloc'd, valid UTF-8). */
static char *joiner_push(utf8_joiner *j, const char *piece, size_t n, bool last) {
    j->pending = realloc(j->pending, j->n_pending + n + 1);
    memcpy(j->pending + j->n_pending, piece, n);
    j->n_pending += n;
    size_t whole = last ? j->n_pending : lw_utf8_complete_prefix(j->pending, j->n_pending);
    char *out = malloc(3 * whole + 1);
    lw_utf8_sanitize(j->pending, whole, out);
    memmove(j->pending, j->pending + whole, j->n_pending - whole);
    j->n_pending -= whole;
    return out;
}

int cmd_tokenize(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        cli_print_help("tokenize", TOKENIZE_USAGE);
        return 0;
    }
    const char *pos[2];
    bool json = false, no_bos = false, no_special = false;
    int rc = take_args("tokenize", TOKENIZE_USAGE, argc, argv, pos, 2, &json, &no_bos, &no_special);
    if (rc) return rc;
    const char *model = pos[0], *text = pos[1];
    if (!*text) return cli_fail("tokenize", "TEXT is empty");
    lw_model *m = lw_model_load(model, cli_model_params());
    if (!m) return cli_fail_lib("tokenize");
    int32_t *toks;
    int32_t n = no_special ? lw_tokenize_alloc(m, text, !no_bos, &toks) : lw_tokenize_special_alloc(m, text, !no_bos, &toks);
    if (n < 0) {
        lw_model_free(m);
        return cli_fail_lib("tokenize");
    }
    json_t *ids = json_array(), *list = json_array();
    if (!json) {
        for (int32_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", toks[i]);
        printf("\n");
    }
    utf8_joiner jn = {0};
    char *joined = calloc(1, 1); /* the tokens' texts, concatenated */
    size_t n_joined = 0;
    for (int32_t i = 0; i < n; i++) {
        char *piece = lw_detokenize(m, &toks[i], 1, true);
        size_t len = piece ? strlen(piece) : 0;
        char *whole = joiner_push(&jn, piece ? piece : "", len, i + 1 == n);
        bool piece_whole = strlen(whole) == len && !memcmp(whole, piece ? piece : "", len);
        joined = realloc(joined, n_joined + strlen(whole) + 1);
        memcpy(joined + n_joined, whole, strlen(whole) + 1);
        n_joined += strlen(whole);
        if (json) {
            json_t *bytes = json_array();
            for (size_t b = 0; b < len; b++) json_array_append_new(bytes, json_integer((unsigned char)piece[b]));
            json_array_append_new(ids, json_integer(toks[i]));
            json_array_append_new(list, json_pack("{s:i, s:o, s:s}", "id", toks[i], "bytes", bytes, "text", whole));
        } else {
            printf("%6d  %s", toks[i], whole);
            if (!piece_whole) { /* the piece alone is not whole characters: show its bytes */
                printf("%s[bytes", *whole ? "  " : "");
                for (size_t b = 0; b < len; b++) printf(" %02x", (unsigned char)piece[b]);
                printf("]");
            }
            printf("\n");
        }
        free(whole);
        free(piece);
    }
    free(jn.pending);
    if (json) {
        json_t *root = json_pack("{s:o, s:o, s:s}", "ids", ids, "tokens", list, "text", joined);
        rc = cli_print_json("tokenize", root);
    } else {
        json_decref(ids);
        json_decref(list);
    }
    free(joined);
    free(toks);
    lw_model_free(m);
    return rc;
}
