/* Synthetic llama-architecture GGUF writer (see synth_model.h).
 *
 * File layout: the gguf API writes the header, the metadata and the tensor table
 * (gguf_write_to_file_ptr with only_meta = true, which ends padded to the alignment); the
 * tensor data then follows in table order, each tensor padded to the alignment, exactly
 * where gguf_get_tensor_offset() says it is. Writing the data ourselves is what lets us
 * produce one tensor at a time instead of holding the whole model in memory. */
#include "support/synth_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#include "gguf.h"
#include "latentwire/error.h"
#include "latentwire/runtime.h"
#include "support/testutil.h"

/* llama.cpp's llama_ftype values for general.file_type (descriptive only). */
enum { FTYPE_ALL_F32 = 0, FTYPE_MOSTLY_F16 = 1, FTYPE_MOSTLY_Q8_0 = 7 };

/* llama.cpp's llama_token_type values for tokenizer.ggml.token_type. */
enum { TOKTYPE_NORMAL = 1, TOKTYPE_UNKNOWN = 2, TOKTYPE_CONTROL = 3, TOKTYPE_BYTE = 6 };

lw_synth_params lw_synth_default_params(void) {
    lw_synth_params p = {
        .n_vocab = 512,
        .n_embd = 64,
        .n_layer = 2,
        .n_head = 4,
        .n_head_kv = 2,
        .n_ff = 192,
        .n_ctx = 256,
        .rms_eps = 1e-5f,
        .rope_freq_base = 10000.0f,
        .seed = 42,
        .wtype = GGML_TYPE_F32,
        .tied = true,
        .name = NULL,
    };
    return p;
}

/* ---------------------------------------------------------------- random numbers ---- */

/* splitmix64: a tiny, well-mixed generator; also used to derive per-tensor seeds so each
 * tensor's values depend only on (seed, tensor index), not on generation order. */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1], never 0 so log() below is finite. */
static double uniform01(uint64_t *state) {
    return ((double)(splitmix64(state) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
}

/* Fills out[0..n) with mean + stddev * N(0,1), Box-Muller using both outputs. */
void lw_synth_fill_gaussian(float *out, int64_t n, double mean, double stddev, uint64_t *state) {
    (void)splitmix64(state); /* decorrelate neighbouring seeds */
    const double two_pi = 6.283185307179586476925286766559;
    for (int64_t i = 0; i < n; i += 2) {
        double r = sqrt(-2.0 * log(uniform01(state)));
        double a = two_pi * uniform01(state);
        out[i] = (float)(mean + stddev * r * cos(a));
        if (i + 1 < n) out[i + 1] = (float)(mean + stddev * r * sin(a));
    }
}

/* ---------------------------------------------------------------- vocabulary -------- */

#define SPM_SPACE "\xe2\x96\x81" /* U+2581 "▁", SentencePiece's word-boundary marker */

/* Single characters: with these every ASCII letter, digit and common punctuation mark
 * tokenizes to a normal piece; anything else falls back to the byte tokens. Exactly
 * LW_SYNTH_MIN_VOCAB - 259 entries once "▁" is counted. */
static const char BASE_CHARS[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'\"-:;()[]/&*+=";

/* Frequent English words (TinyStories flavoured; the test sentence "Once upon a time,
 * there was a little dog" first) and subwords, so real text tokenizes to a handful of
 * multi-character pieces as it would with a trained vocabulary. */
static const char *const WORDS[] = {
    "Once", "upon", "a", "time", "there", "was", "little", "dog",
    "the", "and", "to", "he", "she", "it", "of", "in", "her", "his", "they", "said", "with",
    "on", "you", "that", "day", "big", "girl", "boy", "cat", "One", "named", "Lily", "Tom",
    "play", "happy", "friend", "saw", "very", "mom", "ball", "tree", "park", "had", "were",
    "is", "for", "not", "so", "but", "went", "wanted", "loved", "help", "go", "home", "sun",
    "red", "toy", "car", "bird", "The", "He", "She", "They", "I", "be", "can", "see", "all",
    "up", "out", "did", "what", "do", "at",
};
static const char *const SUBWORDS[] = {
    "th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "ed", "es", "or", "ing",
    "ly", "ll", "ou", "st", "ar", "le", "ve", "it", "is", "al", "ay", "ck", "ight", "ould",
    "ter", "ent", "ion", "ake", "ook", "ame", "ere", "own", "ful", "ish",
};

/* A growing list of owned strings. */
typedef struct {
    char **items;
    size_t n, cap;
} str_list;

static int str_list_push(str_list *l, const char *s) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 1024;
        char **items = realloc(l->items, cap * sizeof *items);
        if (!items) return -1;
        l->items = items;
        l->cap = cap;
    }
    char *copy = strdup(s);
    if (!copy) return -1;
    l->items[l->n++] = copy;
    return 0;
}

static void str_list_free(str_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static bool str_list_contains(const str_list *l, size_t first, size_t last, const char *s) {
    for (size_t i = first; i < last; i++) {
        if (strcmp(l->items[i], s) == 0) return true;
    }
    return false;
}

/* Appends piece preceded by all its prefixes of two or more characters (skipping strings
 * already present), while there is room. SPM tokenization merges adjacent symbols pairwise
 * and only into strings that are in the vocabulary, so a whole word is reachable only if
 * a chain of merges leads to it; the prefix chain is that path. */
static int push_with_prefixes(str_list *tokens, const char *piece, size_t n_vocab) {
    const size_t len = strlen(piece);
    int n_chars = 0;
    for (size_t end = 1; end <= len && tokens->n < n_vocab; end++) {
        /* end is a character boundary when the next byte does not continue a UTF-8 sequence */
        if (end < len && ((unsigned char)piece[end] & 0xC0) == 0x80) continue;
        if (++n_chars < 2) continue;
        char prefix[64];
        if (end >= sizeof prefix) return -1;
        memcpy(prefix, piece, end);
        prefix[end] = 0;
        if (!str_list_contains(tokens, 0, tokens->n, prefix) && str_list_push(tokens, prefix)) return -1;
    }
    return 0;
}

/* The n_vocab token strings, in id order: specials, bytes, single characters, "▁word"s and
 * subwords (with their prefix chains), then generated lowercase strings ("▁aa", "aa",
 * "▁ab", ..., "▁aaa", ...) until full. Every string is unique: llama.cpp rejects a
 * vocabulary with duplicates. Scores fall with the id, so the curated pieces (and their
 * chains) always merge before the generated filler. */
static int build_vocab(int n_vocab, str_list *tokens) {
    const char *specials[] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < 3; i++) {
        if (str_list_push(tokens, specials[i])) return -1;
    }
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        if (str_list_push(tokens, s)) return -1;
    }
    if (str_list_push(tokens, SPM_SPACE)) return -1;
    for (const char *c = BASE_CHARS; *c; c++) {
        char s[2] = {*c, 0};
        if (str_list_push(tokens, s)) return -1;
    }
    if (tokens->n != LW_SYNTH_MIN_VOCAB) {
        fprintf(stderr, "synth_model: internal error: base vocabulary has %zu tokens\n", tokens->n);
        return -1;
    }
    for (size_t i = 0; i < sizeof WORDS / sizeof WORDS[0]; i++) {
        char word[64];
        snprintf(word, sizeof word, SPM_SPACE "%s", WORDS[i]);
        if (push_with_prefixes(tokens, word, (size_t)n_vocab)) return -1;
    }
    for (size_t i = 0; i < sizeof SUBWORDS / sizeof SUBWORDS[0]; i++) {
        if (push_with_prefixes(tokens, SUBWORDS[i], (size_t)n_vocab)) return -1;
    }
    /* Generated pieces can only collide with the fixed part above (they differ from each
     * other by construction), so only that prefix is searched. */
    const size_t n_fixed = tokens->n;
    for (int len = 2; tokens->n < (size_t)n_vocab; len++) {
        if (len > 6) { /* 2 * 26^6 > 600M pieces: far beyond any sensible vocabulary */
            fprintf(stderr, "synth_model: n_vocab %d is too large\n", n_vocab);
            return -1;
        }
        int64_t combos = 1;
        for (int i = 0; i < len; i++) combos *= 26;
        for (int64_t k = 0; k < combos && tokens->n < (size_t)n_vocab; k++) {
            char word[8];
            int64_t rest = k;
            for (int i = len - 1; i >= 0; i--) {
                word[i] = (char)('a' + rest % 26);
                rest /= 26;
            }
            word[len] = 0;
            char spaced[16];
            snprintf(spaced, sizeof spaced, SPM_SPACE "%s", word);
            const char *both[2] = {spaced, word};
            for (int j = 0; j < 2 && tokens->n < (size_t)n_vocab; j++) {
                if (!str_list_contains(tokens, 0, n_fixed, both[j])) {
                    if (str_list_push(tokens, both[j])) return -1;
                }
            }
        }
    }
    return 0;
}

/* Writes the tokenizer.ggml.* keys. Scores only matter for SPM merge priority (higher
 * merges first): earlier, more "frequent" pieces get higher scores. */
static int set_tokenizer_kv(struct gguf_context *g, int n_vocab) {
    str_list tokens = {0};
    float *scores = malloc((size_t)n_vocab * sizeof *scores);
    int32_t *types = malloc((size_t)n_vocab * sizeof *types);
    int rc = -1;
    if (!scores || !types || build_vocab(n_vocab, &tokens) != 0) goto done;

    for (int i = 0; i < n_vocab; i++) {
        if (i == 0) {
            types[i] = TOKTYPE_UNKNOWN;
        } else if (i < 3) {
            types[i] = TOKTYPE_CONTROL;
        } else if (i < 3 + 256) {
            types[i] = TOKTYPE_BYTE;
        } else {
            types[i] = TOKTYPE_NORMAL;
        }
        scores[i] = i < 3 + 256 ? 0.0f : -(float)(i - (3 + 256));
    }
    gguf_set_val_str(g, "tokenizer.ggml.model", "llama");
    gguf_set_arr_str(g, "tokenizer.ggml.tokens", (const char **)tokens.items, tokens.n);
    gguf_set_arr_data(g, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, (size_t)n_vocab);
    gguf_set_arr_data(g, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, (size_t)n_vocab);
    gguf_set_val_u32(g, "tokenizer.ggml.unknown_token_id", 0);
    gguf_set_val_u32(g, "tokenizer.ggml.bos_token_id", 1);
    gguf_set_val_u32(g, "tokenizer.ggml.eos_token_id", 2);
    gguf_set_val_bool(g, "tokenizer.ggml.add_bos_token", true);
    gguf_set_val_bool(g, "tokenizer.ggml.add_eos_token", false);
    rc = 0;
done:
    if (rc != 0) fprintf(stderr, "synth_model: out of memory building the vocabulary\n");
    str_list_free(&tokens);
    free(scores);
    free(types);
    return rc;
}

/* ---------------------------------------------------------------- tensors ----------- */

/* How a tensor's values are drawn: mean + stddev * N(0,1). */
typedef struct {
    char name[64];
    int64_t ne0, ne1;    /* ggml order: ne0 = row length (input dim of a matrix) */
    enum ggml_type type;
    double mean, stddev;
} tensor_spec;

static void add_spec(tensor_spec *specs, int *n, const char *name, int64_t ne0, int64_t ne1,
                     enum ggml_type type, double mean, double stddev) {
    if (specs) {
        tensor_spec *s = &specs[*n];
        snprintf(s->name, sizeof s->name, "%s", name);
        s->ne0 = ne0;
        s->ne1 = ne1;
        s->type = type;
        s->mean = mean;
        s->stddev = stddev;
    }
    (*n)++;
}

/* The model's tensors in file order, as llama.cpp's llama loader names and shapes them.
 * Returns the count (specs may be NULL to count only).
 *
 * Scales, chosen so a random model behaves like a plausible trained one:
 *  - matrices: stddev 1/sqrt(fan_in), so a projection of a unit-RMS (normed) input has
 *    unit-variance outputs; q.k/sqrt(head_dim) then has unit variance, which gives
 *    attention that is neither uniform nor one-hot;
 *  - token_embd: stddev n_embd^-1/4, between unit-RMS rows (1) and unit-variance tied
 *    logits (n_embd^-1/2); tied logits then have stddev ~n_embd^1/4 (2.8 at width 64),
 *    a peaked but not degenerate distribution;
 *  - norms: 1 + 0.1 N(0,1), near 1 but far enough from it that dropping one is visible. */
static int model_tensor_specs(const lw_synth_params *p, tensor_spec *specs) {
    const int64_t head_dim = p->n_embd / p->n_head;
    const int64_t n_embd_q = head_dim * p->n_head;
    const int64_t n_embd_kv = head_dim * p->n_head_kv;
    const enum ggml_type wt = p->wtype;
    const enum ggml_type f32 = GGML_TYPE_F32;
    const double norm_noise = 0.1;
    const double embd_std = pow((double)p->n_embd, -0.25);
    const double std_embd_in = 1.0 / sqrt((double)p->n_embd); /* fan_in = n_embd */
    const double std_q_in = 1.0 / sqrt((double)n_embd_q);     /* fan_in = attention width */
    const double std_ff_in = 1.0 / sqrt((double)p->n_ff);     /* fan_in = n_ff */
    char name[64];
    int n = 0;

    add_spec(specs, &n, "token_embd.weight", p->n_embd, p->n_vocab, wt, 0.0, embd_std);
    for (int il = 0; il < p->n_layer; il++) {
#define BLK(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, il), name)
        add_spec(specs, &n, BLK("attn_norm.weight"), p->n_embd, 1, f32, 1.0, norm_noise);
        add_spec(specs, &n, BLK("attn_q.weight"), p->n_embd, n_embd_q, wt, 0.0, std_embd_in);
        add_spec(specs, &n, BLK("attn_k.weight"), p->n_embd, n_embd_kv, wt, 0.0, std_embd_in);
        add_spec(specs, &n, BLK("attn_v.weight"), p->n_embd, n_embd_kv, wt, 0.0, std_embd_in);
        add_spec(specs, &n, BLK("attn_output.weight"), n_embd_q, p->n_embd, wt, 0.0, std_q_in);
        add_spec(specs, &n, BLK("ffn_norm.weight"), p->n_embd, 1, f32, 1.0, norm_noise);
        add_spec(specs, &n, BLK("ffn_gate.weight"), p->n_embd, p->n_ff, wt, 0.0, std_embd_in);
        add_spec(specs, &n, BLK("ffn_up.weight"), p->n_embd, p->n_ff, wt, 0.0, std_embd_in);
        add_spec(specs, &n, BLK("ffn_down.weight"), p->n_ff, p->n_embd, wt, 0.0, std_ff_in);
#undef BLK
    }
    add_spec(specs, &n, "output_norm.weight", p->n_embd, 1, f32, 1.0, norm_noise);
    if (!p->tied) add_spec(specs, &n, "output.weight", p->n_embd, p->n_vocab, wt, 0.0, std_embd_in);
    return n;
}

int64_t lw_synth_n_params(const lw_synth_params *p) {
    int n = model_tensor_specs(p, NULL);
    tensor_spec *specs = calloc((size_t)n, sizeof *specs);
    if (!specs) return -1;
    model_tensor_specs(p, specs);
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += specs[i].ne0 * specs[i].ne1;
    free(specs);
    return total;
}

static int check_params(const lw_synth_params *p) {
#define REQUIRE(cond, ...)                                                                 \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "synth_model: invalid params: " __VA_ARGS__);                 \
            fputc('\n', stderr);                                                          \
            return -1;                                                                    \
        }                                                                                 \
    } while (0)
    REQUIRE(p->n_vocab >= LW_SYNTH_MIN_VOCAB, "n_vocab %d < %d", p->n_vocab, LW_SYNTH_MIN_VOCAB);
    REQUIRE(p->n_embd > 0 && p->n_layer > 0 && p->n_head > 0 && p->n_head_kv > 0 && p->n_ff > 0 &&
                p->n_ctx > 0,
            "sizes must be positive");
    REQUIRE(p->n_embd % p->n_head == 0, "n_embd %d not a multiple of n_head %d", p->n_embd, p->n_head);
    REQUIRE((p->n_embd / p->n_head) % 2 == 0, "head dim %d must be even (RoPE rotates pairs)",
            p->n_embd / p->n_head);
    REQUIRE(p->n_head % p->n_head_kv == 0, "n_head %d not a multiple of n_head_kv %d", p->n_head,
            p->n_head_kv);
    REQUIRE(p->rms_eps > 0 && p->rope_freq_base > 0, "rms_eps and rope_freq_base must be positive");
    REQUIRE(p->wtype == GGML_TYPE_F32 || p->wtype == GGML_TYPE_F16 || p->wtype == GGML_TYPE_Q8_0,
            "weight type %s not supported (f32, f16, q8_0)", ggml_type_name(p->wtype));
    const int64_t blck = ggml_blck_size(p->wtype);
    REQUIRE(p->n_embd % blck == 0 && p->n_ff % blck == 0,
            "%s needs n_embd and n_ff multiples of %lld", ggml_type_name(p->wtype), (long long)blck);
#undef REQUIRE
    return 0;
}

static void set_hparams_kv(struct gguf_context *g, const lw_synth_params *p) {
    const uint32_t file_type = p->wtype == GGML_TYPE_F32   ? FTYPE_ALL_F32
                               : p->wtype == GGML_TYPE_F16 ? FTYPE_MOSTLY_F16
                                                           : FTYPE_MOSTLY_Q8_0;
    gguf_set_val_str(g, "general.architecture", "llama");
    gguf_set_val_str(g, "general.name", p->name ? p->name : "latentwire-synth");
    gguf_set_val_u32(g, "general.file_type", file_type);
    gguf_set_val_u32(g, "llama.vocab_size", (uint32_t)p->n_vocab);
    gguf_set_val_u32(g, "llama.context_length", (uint32_t)p->n_ctx);
    gguf_set_val_u32(g, "llama.embedding_length", (uint32_t)p->n_embd);
    gguf_set_val_u32(g, "llama.block_count", (uint32_t)p->n_layer);
    gguf_set_val_u32(g, "llama.feed_forward_length", (uint32_t)p->n_ff);
    gguf_set_val_u32(g, "llama.attention.head_count", (uint32_t)p->n_head);
    gguf_set_val_u32(g, "llama.attention.head_count_kv", (uint32_t)p->n_head_kv);
    gguf_set_val_f32(g, "llama.attention.layer_norm_rms_epsilon", p->rms_eps);
    gguf_set_val_f32(g, "llama.rope.freq_base", p->rope_freq_base);
    gguf_set_val_u32(g, "llama.rope.dimension_count", (uint32_t)(p->n_embd / p->n_head));
}

/* Generates tensor i's values and writes them (converted to its type) at the current file
 * position, followed by zero padding up to the alignment. */
static int write_tensor_data(FILE *f, const tensor_spec *s, int index, const lw_synth_params *p, size_t alignment) {
    const uint64_t seed = p->seed;
    const int64_t n = s->ne0 * s->ne1;
    const size_t nbytes = ggml_row_size(s->type, s->ne0) * (size_t)s->ne1;
    float *values = malloc((size_t)n * sizeof *values);
    void *converted = s->type == GGML_TYPE_F32 ? values : malloc(nbytes);
    int rc = -1;
    if (!values || !converted) {
        fprintf(stderr, "synth_model: out of memory for %s (%zu bytes)\n", s->name, nbytes);
        goto done;
    }
    uint64_t state = seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(index + 1));
    lw_synth_fill_gaussian(values, n, s->mean, s->stddev, &state);
    if (p->fill) p->fill(p->fill_ctx, s->name, s->ne0, s->ne1, values);
    if (s->type != GGML_TYPE_F32) {
        size_t got = ggml_quantize_chunk(s->type, values, converted, 0, s->ne1, s->ne0, NULL);
        if (got != nbytes) {
            fprintf(stderr, "synth_model: %s converted to %zu bytes, expected %zu\n", s->name, got, nbytes);
            goto done;
        }
    }
    static const char zeros[64] = {0};
    const size_t pad = (alignment - nbytes % alignment) % alignment;
    if (fwrite(converted, 1, nbytes, f) != nbytes || (pad && fwrite(zeros, 1, pad, f) != pad)) {
        fprintf(stderr, "synth_model: write error in %s\n", s->name);
        goto done;
    }
    rc = 0;
done:
    if (converted != values) free(converted);
    free(values);
    return rc;
}

int lw_synth_write(const char *path, const lw_synth_params *p) {
    if (!path || !p || check_params(p) != 0) return -1;

    const int n_tensors = model_tensor_specs(p, NULL);
    tensor_spec *specs = calloc((size_t)n_tensors, sizeof *specs);
    struct gguf_context *g = gguf_init_empty();
    /* Metadata-only ggml context: the tensors only describe name/type/shape for the table. */
    struct ggml_init_params ip = {
        .mem_size = (size_t)n_tensors * ggml_tensor_overhead() + 1024,
        .mem_buffer = NULL,
        .no_alloc = true,
    };
    struct ggml_context *meta = ggml_init(ip);
    FILE *f = NULL;
    int rc = -1;
    if (!specs || !g || !meta) {
        fprintf(stderr, "synth_model: out of memory\n");
        goto done;
    }
    model_tensor_specs(p, specs);

    set_hparams_kv(g, p);
    if (set_tokenizer_kv(g, p->n_vocab) != 0) goto done;
    for (int i = 0; i < n_tensors; i++) {
        struct ggml_tensor *t = specs[i].ne1 == 1
                                    ? ggml_new_tensor_1d(meta, specs[i].type, specs[i].ne0)
                                    : ggml_new_tensor_2d(meta, specs[i].type, specs[i].ne0, specs[i].ne1);
        ggml_set_name(t, specs[i].name);
        gguf_add_tensor(g, t);
    }

    f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "synth_model: cannot create %s\n", path);
        goto done;
    }
    if (!gguf_write_to_file_ptr(g, f, /*only_meta=*/true)) goto done;
    const size_t alignment = gguf_get_alignment(g);
    const long data_start = ftell(f);
    if (data_start < 0 || (size_t)data_start != gguf_get_meta_size(g)) {
        fprintf(stderr, "synth_model: unexpected metadata size writing %s\n", path);
        goto done;
    }
    for (int i = 0; i < n_tensors; i++) {
        /* The table already promised this offset; check we keep that promise. */
        if ((size_t)ftell(f) != (size_t)data_start + gguf_get_tensor_offset(g, i)) {
            fprintf(stderr, "synth_model: tensor %s misplaced in %s\n", specs[i].name, path);
            goto done;
        }
        if (write_tensor_data(f, &specs[i], i, p, alignment) != 0) goto done;
    }
    rc = 0;
done:
    if (f && fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "synth_model: error closing %s\n", path);
        rc = -1;
    }
    if (f && rc != 0) remove(path);
    if (meta) ggml_free(meta);
    if (g) gguf_free(g);
    free(specs);
    return rc;
}

struct lw_model *lw_synth_load_default(const char *name) {
    char path[1200];
    snprintf(path, sizeof path, "%s", lw_test_tmpfile(name));
    lw_synth_params p = lw_synth_default_params();
    if (lw_synth_write(path, &p) != 0) return NULL;
    lw_model *m = lw_model_load(path, lw_model_default_params());
    if (!m) fprintf(stderr, "%s: %s\n", path, lw_last_error());
    return m;
}

int lw_synth_session_default(const char *name, struct lw_model **model, struct lw_session **session) {
    *session = NULL;
    if (!(*model = lw_synth_load_default(name))) return -1;
    if ((*session = lw_session_new(*model, lw_session_default_params()))) return 0;
    fprintf(stderr, "%s: %s\n", name, lw_last_error());
    lw_model_free(*model);
    *model = NULL;
    return -1;
}
