/* Synthetic "bert" GGUF writer (see synth_noresid.h).
 *
 * The model is small enough to build in one allocated ggml context and let the gguf API
 * write header, metadata and tensor data in one go (gguf_write_to_file). Tensor names and
 * shapes are the ones llama_model_bert::load_arch_tensors asks for. */
#include "support/synth_model.h"
#include "support/synth_noresid.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ggml.h"
#include "gguf.h"

#define N_VOCAB LW_SYNTH_NORESID_N_VOCAB
#define N_EMBD LW_SYNTH_NORESID_N_EMBD
#define N_LAYER LW_SYNTH_NORESID_N_LAYER
#define N_CTX LW_SYNTH_NORESID_N_CTX
#define N_HEAD 4
#define N_FF 64
#define N_TOKEN_TYPES 2
#define SEED 0x5EED0BE27ull

/* llama.cpp's llama_token_type values for tokenizer.ggml.token_type. */
enum { TOKTYPE_NORMAL = 1, TOKTYPE_CONTROL = 3 };

enum { TOK_PAD = 0, TOK_UNK = 1, TOK_CLS = 2, TOK_SEP = 3, TOK_MASK = 4 };

const char *lw_synth_noresid_arch(void) { return "bert"; }


/* ---------------------------------------------------------------- vocabulary -------- */

#define WP_SPACE "\xe2\x96\x81" /* "▁": llama.cpp's WPM marks word-initial pieces with it */

static const char *const WORDS[] = {
    "once", "upon", "time", "there", "was", "little", "dog", "cat", "and", "to",
    "he",   "she",  "it",   "of",    "in",  "her",    "his", "they", "said", "with",
    "on",   "you",  "that", "day",   "big", "girl",   "boy", "play", "happy",
};

/* Fills tokens[0..N_VOCAB) (pointers into storage) and their types. */
static int build_vocab(char storage[N_VOCAB][16], const char *tokens[N_VOCAB], int32_t types[N_VOCAB]) {
    static const char *const SPECIALS[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    static const char PUNCT[] = ".,!?";
    int n = 0;
#define PUSH(type, ...)                                                        \
    do {                                                                       \
        if (n >= N_VOCAB) return -1;                                           \
        snprintf(storage[n], sizeof storage[n], __VA_ARGS__);                  \
        types[n] = (type);                                                     \
        n++;                                                                   \
    } while (0)
    for (size_t i = 0; i < sizeof SPECIALS / sizeof *SPECIALS; i++) PUSH(TOKTYPE_CONTROL, "%s", SPECIALS[i]);
    for (char c = 'a'; c <= 'z'; c++) PUSH(TOKTYPE_NORMAL, WP_SPACE "%c", c);
    for (char c = 'a'; c <= 'z'; c++) PUSH(TOKTYPE_NORMAL, "%c", c);
    for (char c = '0'; c <= '9'; c++) PUSH(TOKTYPE_NORMAL, WP_SPACE "%c", c);
    for (const char *p = PUNCT; *p; p++) PUSH(TOKTYPE_NORMAL, WP_SPACE "%c", *p);
    for (size_t i = 0; i < sizeof WORDS / sizeof *WORDS; i++) PUSH(TOKTYPE_NORMAL, WP_SPACE "%s", WORDS[i]);
#undef PUSH
    if (n != N_VOCAB) return -1;
    for (int i = 0; i < n; i++) tokens[i] = storage[i];
    return 0;
}

/* ---------------------------------------------------------------- model ------------- */

/* Adds a tensor filled with mean + stddev * N(0,1); every tensor gets its own stream
 * (seed, index) so values do not depend on the order of the others. */
static int add_tensor(struct gguf_context *g, struct ggml_context *ctx, int *index, const char *name,
                      int64_t ne0, int64_t ne1, double mean, double stddev) {
    struct ggml_tensor *t = ne1 == 1 ? ggml_new_tensor_1d(ctx, GGML_TYPE_F32, ne0)
                                     : ggml_new_tensor_2d(ctx, GGML_TYPE_F32, ne0, ne1);
    if (!t) return -1;
    ggml_set_name(t, name);
    uint64_t state = SEED ^ (0xD1B54A32D192ED03ull * (uint64_t)(++*index));
    lw_synth_fill_gaussian((float *)t->data, ne0 * ne1, mean, stddev, &state);
    gguf_add_tensor(g, t);
    return 0;
}

int lw_synth_write_noresid(const char *path) {
    if (!path) return -1;
    static char storage[N_VOCAB][16];
    const char *tokens[N_VOCAB];
    int32_t types[N_VOCAB];
    if (build_vocab(storage, tokens, types) != 0) {
        fprintf(stderr, "synth_noresid: vocabulary does not have %d entries\n", N_VOCAB);
        return -1;
    }

    struct ggml_init_params ip = {.mem_size = 4u << 20, .mem_buffer = NULL, .no_alloc = false};
    struct ggml_context *ctx = ggml_init(ip);
    struct gguf_context *g = gguf_init_empty();
    int rc = -1;
    if (!ctx || !g) {
        fprintf(stderr, "synth_noresid: out of memory\n");
        goto done;
    }

    /* hyperparameters (llama_model_base::load_hparams + llama_model_bert::load_arch_hparams) */
    gguf_set_val_str(g, "general.architecture", "bert");
    gguf_set_val_str(g, "general.name", "latentwire-synth-noresid");
    gguf_set_val_u32(g, "general.file_type", 0); /* all F32 */
    gguf_set_val_u32(g, "bert.context_length", N_CTX);
    gguf_set_val_u32(g, "bert.embedding_length", N_EMBD);
    gguf_set_val_u32(g, "bert.block_count", N_LAYER);
    gguf_set_val_u32(g, "bert.feed_forward_length", N_FF);
    gguf_set_val_u32(g, "bert.attention.head_count", N_HEAD);
    gguf_set_val_f32(g, "bert.attention.layer_norm_epsilon", 1e-12f);
    gguf_set_val_bool(g, "bert.attention.causal", false);

    /* WordPiece vocabulary */
    gguf_set_val_str(g, "tokenizer.ggml.model", "bert");
    gguf_set_arr_str(g, "tokenizer.ggml.tokens", tokens, N_VOCAB);
    gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, N_VOCAB);
    gguf_set_val_u32(g, "tokenizer.ggml.token_type_count", N_TOKEN_TYPES);
    gguf_set_val_u32(g, "tokenizer.ggml.bos_token_id", TOK_CLS);
    gguf_set_val_u32(g, "tokenizer.ggml.cls_token_id", TOK_CLS);
    gguf_set_val_u32(g, "tokenizer.ggml.seperator_token_id", TOK_SEP); /* sic: llama.cpp's key */
    gguf_set_val_u32(g, "tokenizer.ggml.padding_token_id", TOK_PAD);
    gguf_set_val_u32(g, "tokenizer.ggml.unknown_token_id", TOK_UNK);
    gguf_set_val_u32(g, "tokenizer.ggml.mask_token_id", TOK_MASK);

    /* tensors: matrices N(0, 1/fan_in), biases small, layer norms near (1, 0) */
    const double std_in = 1.0 / sqrt((double)N_EMBD), std_ff = 1.0 / sqrt((double)N_FF);
    const double bias = 0.02, norm = 0.1;
    int idx = 0, bad = 0;
    char name[64];
    bad |= add_tensor(g, ctx, &idx, "token_embd.weight", N_EMBD, N_VOCAB, 0.0, 0.5);
    bad |= add_tensor(g, ctx, &idx, "token_types.weight", N_EMBD, N_TOKEN_TYPES, 0.0, 0.1);
    bad |= add_tensor(g, ctx, &idx, "position_embd.weight", N_EMBD, N_CTX, 0.0, 0.1);
    bad |= add_tensor(g, ctx, &idx, "token_embd_norm.weight", N_EMBD, 1, 1.0, norm);
    bad |= add_tensor(g, ctx, &idx, "token_embd_norm.bias", N_EMBD, 1, 0.0, bias);
    for (int il = 0; il < N_LAYER; il++) {
#define BLK(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, il), name)
        bad |= add_tensor(g, ctx, &idx, BLK("attn_q.weight"), N_EMBD, N_EMBD, 0.0, std_in);
        bad |= add_tensor(g, ctx, &idx, BLK("attn_q.bias"), N_EMBD, 1, 0.0, bias);
        bad |= add_tensor(g, ctx, &idx, BLK("attn_k.weight"), N_EMBD, N_EMBD, 0.0, std_in);
        bad |= add_tensor(g, ctx, &idx, BLK("attn_k.bias"), N_EMBD, 1, 0.0, bias);
        bad |= add_tensor(g, ctx, &idx, BLK("attn_v.weight"), N_EMBD, N_EMBD, 0.0, std_in);
        bad |= add_tensor(g, ctx, &idx, BLK("attn_v.bias"), N_EMBD, 1, 0.0, bias);
        bad |= add_tensor(g, ctx, &idx, BLK("attn_output.weight"), N_EMBD, N_EMBD, 0.0, std_in);
        bad |= add_tensor(g, ctx, &idx, BLK("attn_output.bias"), N_EMBD, 1, 0.0, bias);
        bad |= add_tensor(g, ctx, &idx, BLK("attn_output_norm.weight"), N_EMBD, 1, 1.0, norm);
        bad |= add_tensor(g, ctx, &idx, BLK("attn_output_norm.bias"), N_EMBD, 1, 0.0, bias);
        bad |= add_tensor(g, ctx, &idx, BLK("ffn_up.weight"), N_EMBD, N_FF, 0.0, std_in);
        bad |= add_tensor(g, ctx, &idx, BLK("ffn_up.bias"), N_FF, 1, 0.0, bias);
        bad |= add_tensor(g, ctx, &idx, BLK("ffn_down.weight"), N_FF, N_EMBD, 0.0, std_ff);
        bad |= add_tensor(g, ctx, &idx, BLK("ffn_down.bias"), N_EMBD, 1, 0.0, bias);
        bad |= add_tensor(g, ctx, &idx, BLK("layer_output_norm.weight"), N_EMBD, 1, 1.0, norm);
        bad |= add_tensor(g, ctx, &idx, BLK("layer_output_norm.bias"), N_EMBD, 1, 0.0, bias);
#undef BLK
    }
    if (bad) {
        fprintf(stderr, "synth_noresid: out of memory for the tensors\n");
        goto done;
    }
    if (!gguf_write_to_file(g, path, /*only_meta=*/false)) {
        fprintf(stderr, "synth_noresid: cannot write %s\n", path);
        remove(path);
        goto done;
    }
    rc = 0;
done:
    if (g) gguf_free(g);
    if (ctx) ggml_free(ctx);
    return rc;
}
