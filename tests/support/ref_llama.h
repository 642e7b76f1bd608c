/* ref_llama: an independent, deliberately naive forward pass of the llama architecture.
 *
 * This is the project's ground truth for activations and logits. It reads the weights
 * straight from a GGUF file (gguf/ggml are used only to parse the file and to dequantize
 * rows of non-F32 tensors) and computes everything in double precision with plain loops:
 * no llama.cpp runtime, no KV cache, no threads, no SIMD. It is slow (one pass over all the
 * weights per call) and meant for small models and short sequences.
 *
 * Supported: general.architecture = "llama" with separate q/k/v weights, optional biases,
 * GQA, RoPE in llama.cpp's "normal" (adjacent pairs) mode with optional linear scaling and
 * rope_freqs.weight factors, tied or untied output. Anything else (fused qkv, MoE, YaRN,
 * per-layer head counts...) is rejected at load time rather than computed wrongly. */
#ifndef LW_REF_LLAMA_H
#define LW_REF_LLAMA_H

#include <stdint.h>

typedef struct ref_llama ref_llama;

/* Loads the whole file into memory (weights stay in their stored type). NULL on error,
 * with one line on stderr saying why. */
ref_llama *ref_llama_load(const char *gguf_path);
void ref_llama_free(ref_llama *m);

/* flags: REF_ROUND_* of support/ref_common.h; 0 (the default) computes exactly. With
 * REF_ROUND_MATMUL_INPUT each matmul first rounds its input the way llama.cpp's CPU backend
 * does for the weight's type (the llama architecture has no GELU). Returns 0, or -1 if some
 * weight type's rounding cannot be emulated. */
int ref_llama_set_cpu_rounding(ref_llama *m, unsigned flags);

int ref_llama_n_layer(const ref_llama *m);
int ref_llama_n_embd(const ref_llama *m);
int ref_llama_n_vocab(const ref_llama *m);

/* Runs one sequence of n positions starting at position 0.
 * Input: tokens (n ids, embd == NULL) or embd (n rows of n_embd floats, tokens ignored),
 *   the latter being exactly what llama.cpp takes in a batch with .embd set.
 * resid (may be NULL): (n_layer + 1) x n x n_embd floats. resid[0] is the input to block 0
 *   (the embedding rows); resid[l + 1] is the output of block l, the residual stream after
 *   the FFN add (llama.cpp's "l_out-<l>" tensor).
 * logits (may be NULL): n x n_vocab floats, one row per position.
 * Returns 0, or -1 on bad arguments (token out of range, n < 1) or out of memory. */
int ref_llama_forward(const ref_llama *m, const int32_t *tokens, const float *embd, int n,
                      float *resid, float *logits);

#endif
