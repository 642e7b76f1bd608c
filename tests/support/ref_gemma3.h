/* ref_gemma3: an independent, deliberately naive forward pass of the Gemma 3 architecture
 * (general.architecture = "gemma3"), the sibling of ref_llama: weights read straight from
 * the GGUF file (any type ggml can dequantize), everything computed in double precision
 * with plain loops, no llama.cpp runtime, no KV cache. Slow; meant for small models and
 * short sequences.
 *
 * Optionally (ref_gemma3_set_cpu_rounding) it rounds where llama.cpp's CPU backend rounds:
 * the activations entering each quantized matmul (ref_common.h) and the GELU, which ggml
 * evaluates through an fp16 lookup table. */
#ifndef LW_REF_GEMMA3_H
#define LW_REF_GEMMA3_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ref_gemma3 ref_gemma3;

/* Loads the whole file into memory. NULL on error, with one line on stderr saying why
 * (including any metadata or tensor layout this reference does not model). */
ref_gemma3 *ref_gemma3_load(const char *gguf_path);
void ref_gemma3_free(ref_gemma3 *m);

int ref_gemma3_n_layer(const ref_gemma3 *m);
int ref_gemma3_n_embd(const ref_gemma3 *m);
int ref_gemma3_n_vocab(const ref_gemma3 *m);
/* Whether layer l uses the sliding window (and the local RoPE base). */
bool ref_gemma3_layer_is_swa(const ref_gemma3 *m, int l);

/* flags: REF_ROUND_* of support/ref_common.h (matmul inputs, GELU); 0, the default,
 * computes exactly. Returns 0, or -1 if some weight type's rounding cannot be emulated. */
int ref_gemma3_set_cpu_rounding(ref_gemma3 *m, unsigned flags);
/* Replaces the file's attention.sliding_window (what a llama.cpp kv override of
 * "gemma3.attention.sliding_window" does); n_swa > 0. */
void ref_gemma3_set_sliding_window(ref_gemma3 *m, int n_swa);
/* The window in use (0: no layer slides). */
int ref_gemma3_sliding_window(const ref_gemma3 *m);

/* Runs one sequence of n positions starting at position 0.
 * Input: tokens (embd == NULL; the embedding rows are scaled by sqrt(n_embd)) or embd
 *   (n rows of n_embd floats used as they are: llama.cpp does not scale a batch's .embd).
 * resid (may be NULL): (n_layer + 1) x n x n_embd floats; resid[0] is the input to block 0,
 *   resid[l + 1] the output of block l (llama.cpp's "l_out-<l>").
 * logits (may be NULL): one row of n_vocab floats per position in logit_pos[0..n_logit_pos),
 *   or per position 0..n-1 when logit_pos is NULL.
 * Returns 0, or -1 on bad arguments or out of memory. */
int ref_gemma3_forward(const ref_gemma3 *m, const int32_t *tokens, const float *embd, int n, float *resid,
                       float *logits, const int *logit_pos, int n_logit_pos);

#endif
