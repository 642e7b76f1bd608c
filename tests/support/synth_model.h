/* Synthetic llama-architecture GGUF models for tests and benchmarks.
 *
 * lw_synth_write() writes a complete model that llama.cpp loads as arch "llama" with an
 * SPM ("llama") vocabulary: seeded random weights scaled so activations stay O(1) and the
 * logits are neither flat nor one-hot, RMSNorm weights near 1 (with noise, so a test that
 * forgets a norm weight fails), and a tokenizer of <unk> <s> </s>, the 256 byte tokens and
 * then ordinary pieces ("▁", letters, common words with the prefix chains SPM merging needs,
 * then filler; with n_vocab >= 512 "Once upon a time, there was a little dog" is BOS + 10
 * tokens). The same params give the same file, byte for byte (on one platform: the
 * Gaussians go through libm).
 *
 * Tensors are generated, converted and written one at a time, so writing a 1B-parameter
 * Q8_0 model needs memory for one tensor (largest: the token embedding), not the model. */
#ifndef LW_SYNTH_MODEL_H
#define LW_SYNTH_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "ggml.h"

/* Smallest vocabulary: 3 specials + 256 byte tokens + "▁", a-z, A-Z, 0-9 and a little
 * punctuation, so that any ASCII text tokenizes without byte fallback for letters. */
#define LW_SYNTH_MIN_VOCAB 340

typedef struct lw_synth_params {
    int n_vocab;          /* >= LW_SYNTH_MIN_VOCAB */
    int n_embd;           /* model width; a multiple of n_head */
    int n_layer;
    int n_head;
    int n_head_kv;        /* divides n_head (GQA when smaller) */
    int n_ff;             /* SwiGLU hidden width */
    int n_ctx;            /* llama.context_length */
    float rms_eps;
    float rope_freq_base;
    uint64_t seed;
    enum ggml_type wtype; /* GGML_TYPE_F32, GGML_TYPE_F16 or GGML_TYPE_Q8_0 for the 2-D
                             matrices (Q8_0 needs n_embd and n_ff multiples of 32);
                             norm weights are always F32 */
    bool tied;            /* true: no output.weight, logits use token_embd */
    const char *name;     /* general.name; NULL = "latentwire-synth" */
    /* Hand-chosen weights: when set, called for every tensor after its seeded values are drawn
     * (values: ne0 x ne1 floats, element [row][col] at row * ne0 + col, i.e. a matrix's output
     * row times its input width), before conversion; it may overwrite any of them. NULL: none. */
    void (*fill)(void *ctx, const char *name, int64_t ne0, int64_t ne1, float *values);
    void *fill_ctx;
} lw_synth_params;

/* Small, fast defaults: vocab 512, width 64, 2 layers, 4 heads / 2 kv heads (head dim 16),
 * ffn 192, ctx 256, eps 1e-5, rope base 10000, seed 42, F32, tied. */
lw_synth_params lw_synth_default_params(void);

/* Number of parameters (elements of all tensors) the params describe. */
int64_t lw_synth_n_params(const lw_synth_params *p);

/* Fills out[0..n) with mean + stddev * N(0,1) from a splitmix64 stream seeded by *state
 * (advanced); the generator every synthetic model in tests/support uses. */
void lw_synth_fill_gaussian(float *out, int64_t n, double mean, double stddev, uint64_t *state);

/* Writes the model to path. Returns 0, or -1 with a message on stderr (invalid params or an
 * I/O error; a partial file is removed). */
int lw_synth_write(const char *path, const lw_synth_params *p);

/* The default synthetic model written to the test's temporary file `name` and loaded (the
 * caller frees it with lw_model_free); NULL, with a message on stderr, when either fails. */
struct lw_model *lw_synth_load_default(const char *name);

/* The same model and a session on it (default session params), for a test group's setup: 0, or
 * -1 with a message on stderr (*model and *session are then NULL, nothing to free). */
struct lw_session;
int lw_synth_session_default(const char *name, struct lw_model **model, struct lw_session **session);

#endif
