/* ref_common: the pieces the naive reference forwards (ref_llama, ref_gemma3) share:
 * reading GGUF metadata and tensors, and a float64 matrix-vector product over weights of any
 * ggml type, optionally rounding its input the way llama.cpp's CPU backend does.
 *
 * Why the option: for a quantized weight type T, ggml's CPU matmul does not multiply the f32
 * activations by the dequantized weights. It first quantizes each activation row to T's
 * "vec_dot_type" (Q8_K for the K-quants, Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, F16 for
 * F16) and takes integer dot products with scales. With cpu_rounding on, ref_matmul does the
 * same quantization with ggml's own CPU quantizer (ggml_get_type_traits_cpu(vt)->from_float),
 * decodes the quantized row back to numbers, and multiplies those by the dequantized weights
 * in float64. That equals ggml's dot product up to float32 rounding of the sums, and lets a
 * test demand tight agreement; with it off the product is the exact float64 one. */
#ifndef LW_REF_COMMON_H
#define LW_REF_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "ggml.h"
#include "gguf.h"

/* What a reference rounds the way llama.cpp's CPU backend does (ref_*_set_cpu_rounding). */
#define REF_ROUND_MATMUL_INPUT 1u /* each matmul input to the weight's vec_dot_type (above) */
#define REF_ROUND_GELU_FP16 2u    /* GELU through fp16, as ggml's lookup table (GGML_GELU_FP16) */
#define REF_ROUND_ALL (REF_ROUND_MATMUL_INPUT | REF_ROUND_GELU_FP16)

/* Integer metadata of any integer type. Returns 1 found, 0 absent, -1 wrong type. */
int ref_kv_int(const struct gguf_context *g, const char *key, int64_t *out);
/* Float metadata (f32 or f64). Returns 1 found, 0 absent, -1 wrong type. */
int ref_kv_float(const struct gguf_context *g, const char *key, double *out);
/* String metadata, or NULL when absent or not a string. */
const char *ref_kv_str(const struct gguf_context *g, const char *key);

/* A 2-D tensor with exactly ne0 x ne1 elements whose type ggml can dequantize, or NULL
 * (with a line on stderr and *bad = true when it is required or malformed). */
const struct ggml_tensor *ref_get_matrix(struct ggml_context *ctx, const char *name, int64_t ne0, int64_t ne1,
                                         bool required, bool *bad);
/* A 1-D tensor of length n copied out as floats (malloc'd), or NULL as above. */
float *ref_get_vector(struct ggml_context *ctx, const char *name, int64_t n, bool required, bool *bad);

/* Row r of a matrix (ne[1] rows of ne[0] elements) as floats, via ggml's to_float. */
void ref_dequant_row(const struct ggml_tensor *w, int64_t r, float *out);

/* Whether ref_matmul can emulate llama.cpp's CPU rounding for this weight type (its
 * vec_dot_type is one whose blocks this file decodes). */
bool ref_cpu_rounding_supported(enum ggml_type type);

/* y[t] = W x[t] (+ b) for each of the n positions: y is n x ne[1], x is n x ne[0].
 * cpu_rounding: quantize each x[t] as ggml's CPU matmul does first (see above).
 * Returns 0, or -1 when out of memory or the rounding cannot be emulated for W's type. */
int ref_matmul(double *y, const double *x, int n, const struct ggml_tensor *w, const float *b, bool cpu_rounding);

/* GELU, tanh approximation (Gemma's gelu_pytorch_tanh; ggml_gelu is the same formula).
 * like_cpu: as ggml's CPU backend evaluates it (GGML_GELU_FP16): the input rounded to fp16
 * and the result read from a table of fp16 values; 0 at or below -10, x at or above 10. */
double ref_gelu(double x, bool like_cpu);

/* out = x / sqrt(mean(x^2) + eps) * w over rows of d (ggml_rms_norm, then ggml_mul). */
void ref_rmsnorm(double *out, const double *x, int n_rows, int d, const float *w, double eps);

#endif
