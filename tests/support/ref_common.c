/* ref_common: GGUF access and the float64 matmul of the reference forwards (ref_common.h). */
#include "support/ref_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-cpu.h"

/* ====================================================================== metadata, tensors */

int ref_kv_int(const struct gguf_context *g, const char *key, int64_t *out) {
    const int64_t id = gguf_find_key(g, key);
    if (id < 0) return 0;
    switch (gguf_get_kv_type(g, id)) {
    case GGUF_TYPE_UINT8: *out = gguf_get_val_u8(g, id); return 1;
    case GGUF_TYPE_INT8: *out = gguf_get_val_i8(g, id); return 1;
    case GGUF_TYPE_UINT16: *out = gguf_get_val_u16(g, id); return 1;
    case GGUF_TYPE_INT16: *out = gguf_get_val_i16(g, id); return 1;
    case GGUF_TYPE_UINT32: *out = gguf_get_val_u32(g, id); return 1;
    case GGUF_TYPE_INT32: *out = gguf_get_val_i32(g, id); return 1;
    case GGUF_TYPE_UINT64: *out = (int64_t)gguf_get_val_u64(g, id); return 1;
    case GGUF_TYPE_INT64: *out = gguf_get_val_i64(g, id); return 1;
    default: return -1;
    }
}

int ref_kv_float(const struct gguf_context *g, const char *key, double *out) {
    const int64_t id = gguf_find_key(g, key);
    if (id < 0) return 0;
    switch (gguf_get_kv_type(g, id)) {
    case GGUF_TYPE_FLOAT32: *out = gguf_get_val_f32(g, id); return 1;
    case GGUF_TYPE_FLOAT64: *out = gguf_get_val_f64(g, id); return 1;
    default: return -1;
    }
}

const char *ref_kv_str(const struct gguf_context *g, const char *key) {
    const int64_t id = gguf_find_key(g, key);
    if (id < 0 || gguf_get_kv_type(g, id) != GGUF_TYPE_STRING) return NULL;
    return gguf_get_val_str(g, id);
}

const struct ggml_tensor *ref_get_matrix(struct ggml_context *ctx, const char *name, int64_t ne0, int64_t ne1,
                                         bool required, bool *bad) {
    struct ggml_tensor *t = ggml_get_tensor(ctx, name);
    if (!t) {
        if (required) {
            fprintf(stderr, "ref: missing tensor %s\n", name);
            *bad = true;
        }
        return NULL;
    }
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1) {
        fprintf(stderr, "ref: tensor %s is [%lld, %lld, %lld, %lld], expected [%lld, %lld]\n", name,
                (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3], (long long)ne0,
                (long long)ne1);
        *bad = true;
        return NULL;
    }
    if (t->type != GGML_TYPE_F32 && !ggml_get_type_traits(t->type)->to_float) {
        fprintf(stderr, "ref: tensor %s has type %s which ggml cannot dequantize\n", name, ggml_type_name(t->type));
        *bad = true;
        return NULL;
    }
    return t;
}

float *ref_get_vector(struct ggml_context *ctx, const char *name, int64_t n, bool required, bool *bad) {
    const struct ggml_tensor *t = ref_get_matrix(ctx, name, n, 1, required, bad);
    if (!t) return NULL;
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) {
        fprintf(stderr, "ref: out of memory\n");
        *bad = true;
        return NULL;
    }
    ref_dequant_row(t, 0, v);
    return v;
}

void ref_dequant_row(const struct ggml_tensor *w, int64_t r, float *out) {
    const void *src = (const char *)w->data + r * w->nb[1];
    if (w->type == GGML_TYPE_F32) {
        memcpy(out, src, (size_t)w->ne[0] * sizeof(float));
    } else {
        ggml_get_type_traits(w->type)->to_float(src, out, w->ne[0]);
    }
}

/* ====================================================================== llama.cpp's rounding */

/* The block layouts of the activation-only types, which ggml cannot dequantize itself
 * (ggml-common.h; sizes checked against ggml_type_size below):
 *   Q8_1: { fp16 d; fp16 s; int8 qs[32] }   value = d * qs, s = fp16(d * sum(qs)) stored
 *   Q8_K: { float d; int8 qs[256]; int16 bsums[16] }   value = d * qs
 * Q4_1 and Q5_1 weight blocks start with { fp16 d; fp16 m } (value = d * q + m). */
static float half_at(const uint8_t *p) {
    ggml_fp16_t h;
    memcpy(&h, p, sizeof h);
    return ggml_fp16_to_fp32(h);
}

static enum ggml_type vec_dot_type(enum ggml_type type) {
    return type == GGML_TYPE_F32 ? GGML_TYPE_F32 : ggml_get_type_traits_cpu(type)->vec_dot_type;
}

bool ref_cpu_rounding_supported(enum ggml_type type) {
    const enum ggml_type vt = vec_dot_type(type);
    if (vt == GGML_TYPE_F32) return true;
    if (!ggml_get_type_traits_cpu(vt)->from_float) return false;
    if (vt == GGML_TYPE_Q8_1)
        return (type == GGML_TYPE_Q4_1 || type == GGML_TYPE_Q5_1) && ggml_type_size(vt) == 36;
    if (vt == GGML_TYPE_Q8_K) return ggml_type_size(vt) == 4 + 256 + 16 * 2;
    return ggml_get_type_traits(vt)->to_float != NULL;
}

/* Quantizes the f32 rounding of x[0..n_in) to vt with ggml's CPU quantizer and writes the
 * values the dot product will see to out. For Q8_1 also writes, per block of 32,
 * corr[b] = s - sum(values): ggml's Q4_1/Q5_1 dot adds m * s, the stored (fp16-rounded) sum,
 * where the dequantized product would have m * sum(values). */
static void round_like_cpu(const double *x, int64_t n_in, enum ggml_type vt, float *xf, uint8_t *q, double *out,
                           double *corr) {
    for (int64_t i = 0; i < n_in; i++) xf[i] = (float)x[i];
    ggml_get_type_traits_cpu(vt)->from_float(xf, q, n_in);
    if (vt == GGML_TYPE_Q8_1) {
        for (int64_t b = 0; b < n_in / 32; b++) {
            const uint8_t *blk = q + b * 36;
            const double d = half_at(blk), s = half_at(blk + 2);
            const int8_t *qs = (const int8_t *)(blk + 4);
            double sum = 0.0;
            for (int j = 0; j < 32; j++) {
                out[b * 32 + j] = d * qs[j];
                sum += out[b * 32 + j];
            }
            corr[b] = s - sum;
        }
    } else if (vt == GGML_TYPE_Q8_K) {
        for (int64_t b = 0; b < n_in / 256; b++) {
            const uint8_t *blk = q + b * 292;
            float d;
            memcpy(&d, blk, sizeof d);
            const int8_t *qs = (const int8_t *)(blk + 4);
            for (int j = 0; j < 256; j++) out[b * 256 + j] = (double)d * qs[j];
        }
    } else { /* F16, BF16, Q8_0: ggml dequantizes these itself */
        ggml_get_type_traits(vt)->to_float(q, xf, n_in);
        for (int64_t i = 0; i < n_in; i++) out[i] = xf[i];
    }
}

/* sum of w[i] * x[i] in double. The one loop carrying the real-model tests' billions of
 * multiply-adds, so it is left out of the sanitizers' instrumentation (7x faster; safe: in
 * ref_matmul both arrays are sized from the same tensor's ne[0]). Four running sums, so the
 * loop is not bound by the latency of a single chain of additions. */
__attribute__((no_sanitize("address", "undefined"))) static double dot_f32_f64(const float *w, const double *x,
                                                                               int64_t n) {
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s[0] += (double)w[i] * x[i];
        s[1] += (double)w[i + 1] * x[i + 1];
        s[2] += (double)w[i + 2] * x[i + 2];
        s[3] += (double)w[i + 3] * x[i + 3];
    }
    for (; i < n; i++) s[0] += (double)w[i] * x[i];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

int ref_matmul(double *y, const double *x, int n, const struct ggml_tensor *w, const float *b, bool cpu_rounding) {
    const int64_t n_in = w->ne[0], n_out = w->ne[1];
    const enum ggml_type vt = cpu_rounding ? vec_dot_type(w->type) : GGML_TYPE_F32;
    if (cpu_rounding && !ref_cpu_rounding_supported(w->type)) {
        fprintf(stderr, "ref: cannot emulate llama.cpp's rounding for %s weights\n", ggml_type_name(w->type));
        return -1;
    }
    const bool q8_1 = vt == GGML_TYPE_Q8_1;
    const int64_t n_blk = n_in / 32;
    float *row = malloc((size_t)n_in * sizeof *row);
    double *xr = vt != GGML_TYPE_F32 ? malloc((size_t)n * n_in * sizeof *xr) : NULL;
    float *xf = vt != GGML_TYPE_F32 ? malloc((size_t)n_in * sizeof *xf) : NULL;
    uint8_t *q = vt != GGML_TYPE_F32 ? malloc(ggml_row_size(vt, n_in)) : NULL;
    double *corr = q8_1 ? malloc((size_t)n * n_blk * sizeof *corr) : NULL;
    double *m_w = q8_1 ? malloc((size_t)n_blk * sizeof *m_w) : NULL;
    int rc = -1;
    if (!row || (vt != GGML_TYPE_F32 && (!xr || !xf || !q)) || (q8_1 && (!corr || !m_w))) {
        fprintf(stderr, "ref: out of memory in matmul\n");
        goto done;
    }
    const double *in = x; /* the inputs the products use */
    if (vt != GGML_TYPE_F32) {
        for (int t = 0; t < n; t++)
            round_like_cpu(x + (size_t)t * n_in, n_in, vt, xf, q, xr + (size_t)t * n_in,
                           q8_1 ? corr + (size_t)t * n_blk : NULL);
        in = xr;
    }
    for (int64_t r = 0; r < n_out; r++) {
        ref_dequant_row(w, r, row);
        if (q8_1) { /* the weight blocks' offsets m */
            const uint8_t *wrow = (const uint8_t *)w->data + r * w->nb[1];
            for (int64_t k = 0; k < n_blk; k++) m_w[k] = half_at(wrow + k * ggml_type_size(w->type) + 2);
        }
        for (int t = 0; t < n; t++) {
            const double *xt = in + (size_t)t * n_in;
            double sum = dot_f32_f64(row, xt, n_in);
            if (q8_1) {
                for (int64_t k = 0; k < n_blk; k++) sum += m_w[k] * corr[(size_t)t * n_blk + k];
            }
            y[(size_t)t * n_out + r] = sum + (b ? b[r] : 0.0);
        }
    }
    rc = 0;
done:
    free(row);
    free(xr);
    free(xf);
    free(q);
    free(corr);
    free(m_w);
    return rc;
}

void ref_rmsnorm(double *out, const double *x, int n_rows, int d, const float *w, double eps) {
    for (int t = 0; t < n_rows; t++) {
        const double *xt = x + (size_t)t * d;
        double sum_sq = 0.0;
        for (int i = 0; i < d; i++) sum_sq += xt[i] * xt[i];
        const double scale = 1.0 / sqrt(sum_sq / d + eps);
        for (int i = 0; i < d; i++) out[(size_t)t * d + i] = xt[i] * scale * w[i];
    }
}

double ref_gelu(double x, bool like_cpu) {
    if (!like_cpu) return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    const float xf = (float)x;
    if (xf <= -10.0f) return 0.0;
    if (xf >= 10.0f) return xf;
    const double xh = ggml_fp16_to_fp32(ggml_fp32_to_fp16(xf));
    return ggml_fp16_to_fp32(ggml_fp32_to_fp16((float)ref_gelu(xh, false)));
}
