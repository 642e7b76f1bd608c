/* ref_gemma3: naive float64 Gemma 3 forward pass, ground truth for tests (see ref_gemma3.h).
 *
 * Written from the Gemma 3 model definition and checked line by line against llama.cpp's
 * src/models/gemma3.cpp. With x the residual stream (one row per position):
 *
 *   x    = token_embd[token] * sqrt(n_embd)
 *   per block l:
 *     h    = rmsnorm(x) * attn_norm
 *     q, k, v = Wq h, Wk h, Wv h                      split into heads of head_dim
 *     q, k = rmsnorm(q) * q_norm, rmsnorm(k) * k_norm  per head ("QK norm")
 *     q, k = rope(q, pos), rope(k, pos)               NEOX pairs (i, i + head_dim/2),
 *                                                     local base on sliding-window layers,
 *                                                     global base on the others
 *     a    = softmax(scale * q k^T, mask) v           GQA; mask: causal, and on sliding-
 *                                                     window layers key s is visible from
 *                                                     query t only if t - s < n_swa
 *     x    = x + rmsnorm(Wo a) * post_attention_norm
 *     h    = rmsnorm(x) * ffn_norm
 *     x    = x + rmsnorm(Wdown(gelu(Wgate h) * Wup h)) * post_ffw_norm
 *   logits = Wout (rmsnorm(x) * output_norm), Wout = token_embd when tied,
 *            then c * tanh(logits / c) if final_logit_softcapping = c is set.
 *
 * Details pinned down against llama.cpp and the converter:
 *  - Gemma's RMSNorm multiplies by (1 + w); convert_hf_to_gguf.py stores 1 + w in every
 *    *norm.weight, so here (as in llama.cpp) the stored weight multiplies directly.
 *  - gelu is the tanh approximation (HF gelu_pytorch_tanh; ggml_gelu is the same formula).
 *  - scale = 1/sqrt(head_dim) (query_pre_attn_scalar = head_dim), except the 27B model
 *    (62 layers) whose scalar is n_embd / n_head; llama.cpp keys this off the layer count
 *    too, since the GGUF does not store it.
 *  - Which layers slide: attention.sliding_window_pattern if present (per-layer flags, or
 *    a period p), else p = 6: layer l slides iff l % p < p - 1 (every 6th is global).
 *    No sliding_window key (or 0): no layer slides.
 *  - RoPE bases: rope.freq_base on global layers (with rope.scaling.factor's linear
 *    scaling), rope.freq_base_swa (default 10000, scale 1) on sliding layers.
 *  - Input embeddings given directly are not scaled (llama.cpp scales token lookups only). */
#include "support/ref_gemma3.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-cpu.h"
#include "ggml.h"
#include "gguf.h"
#include "support/ref_common.h"

struct ref_g3_layer {
    float *attn_norm, *q_norm, *k_norm, *post_attn_norm, *ffn_norm, *post_ffn_norm;
    const struct ggml_tensor *wq, *wk, *wv, *wo, *w_gate, *w_up, *w_down;
    bool swa;
};

struct ref_gemma3 {
    struct gguf_context *gguf;
    struct ggml_context *weights;

    int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    double rms_eps;
    double attn_scale;                       /* multiplies q before q k^T */
    double rope_base_global, rope_scale_global;
    double rope_base_swa;                    /* scale 1 on sliding layers */
    int n_swa;                               /* window, 0: none */
    double softcap;                          /* final logit softcapping, 0: none */
    unsigned rounding;                       /* REF_ROUND_* flags */

    const struct ggml_tensor *tok_embd, *output;
    float *output_norm;
    struct ref_g3_layer *layers;
};

/* ====================================================================== the forward pass */

/* RoPE, NEOX mode (what llama.cpp uses for gemma3): element i pairs with i + head_dim/2 and
 * the pair turns by pos * freq_scale * base^(-2i/head_dim). */
static void rope_neox(double *v, int pos, int hd, double base, double freq_scale) {
    const int half = hd / 2;
    for (int i = 0; i < half; i++) {
        const double theta = pos * freq_scale * pow(base, -2.0 * i / hd);
        const double c = cos(theta), s = sin(theta);
        const double x0 = v[i], x1 = v[i + half];
        v[i] = x0 * c - x1 * s;
        v[i + half] = x0 * s + x1 * c;
    }
}

/* Attention for all n positions of one layer; q, k, v already normed, roped, q scaled. */
static void attention(double *out, const double *q, const double *k, const double *v, int n, const ref_gemma3 *m,
                      bool swa, double *scores) {
    const int hd = m->head_dim;
    const int q_dim = m->n_head * hd, kv_dim = m->n_head_kv * hd;
    const int group = m->n_head / m->n_head_kv;
    for (int t = 0; t < n; t++) {
        /* visible keys: s <= t, and within the window on sliding layers */
        const int first = swa && m->n_swa > 0 && t - m->n_swa + 1 > 0 ? t - m->n_swa + 1 : 0;
        for (int h = 0; h < m->n_head; h++) {
            const double *qh = q + (size_t)t * q_dim + (size_t)h * hd;
            const int kvh = h / group;
            double max_score = -INFINITY;
            for (int s = first; s <= t; s++) {
                const double *ks = k + (size_t)s * kv_dim + (size_t)kvh * hd;
                double dot = 0.0;
                for (int i = 0; i < hd; i++) dot += qh[i] * ks[i];
                scores[s] = dot;
                if (dot > max_score) max_score = dot;
            }
            double sum = 0.0;
            for (int s = first; s <= t; s++) {
                scores[s] = exp(scores[s] - max_score);
                sum += scores[s];
            }
            double *oh = out + (size_t)t * q_dim + (size_t)h * hd;
            for (int i = 0; i < hd; i++) oh[i] = 0.0;
            for (int s = first; s <= t; s++) {
                const double p = scores[s] / sum;
                const double *vs = v + (size_t)s * kv_dim + (size_t)kvh * hd;
                for (int i = 0; i < hd; i++) oh[i] += p * vs[i];
            }
        }
    }
}

static void store_floats(float *dst, const double *src, size_t count) {
    for (size_t i = 0; i < count; i++) dst[i] = (float)src[i];
}

int ref_gemma3_forward(const ref_gemma3 *m, const int32_t *tokens, const float *embd, int n, float *resid,
                       float *logits, const int *logit_pos, int n_logit_pos) {
    if (!m || n < 1 || (!tokens && !embd)) return -1;
    const int d = m->n_embd, ff = m->n_ff, hd = m->head_dim;
    const int q_dim = m->n_head * hd, kv_dim = m->n_head_kv * hd;
    const size_t nd = (size_t)n * d;
    const int n_out = logit_pos ? n_logit_pos : n;
    if (logits && n_out < 1) return -1;
    for (int i = 0; logits && logit_pos && i < n_out; i++) {
        if (logit_pos[i] < 0 || logit_pos[i] >= n) return -1;
    }
    for (int t = 0; !embd && t < n; t++) {
        if (tokens[t] < 0 || tokens[t] >= m->n_vocab) {
            fprintf(stderr, "ref_gemma3: token %d at position %d out of range [0, %d)\n", (int)tokens[t], t,
                    m->n_vocab);
            return -1;
        }
    }
    const bool round_mm = (m->rounding & REF_ROUND_MATMUL_INPUT) != 0;
    const bool round_gelu = (m->rounding & REF_ROUND_GELU_FP16) != 0;

    double *x = malloc(nd * sizeof *x);
    double *h = malloc(nd * sizeof *h);
    double *q = malloc((size_t)n * q_dim * sizeof *q);
    double *k = malloc((size_t)n * kv_dim * sizeof *k);
    double *v = malloc((size_t)n * kv_dim * sizeof *v);
    double *att = malloc((size_t)n * q_dim * sizeof *att);
    double *gate = malloc((size_t)n * ff * sizeof *gate);
    double *up = malloc((size_t)n * ff * sizeof *up);
    double *delta = malloc(nd * sizeof *delta);
    double *scores = malloc((size_t)n * sizeof *scores);
    double *out = logits ? malloc((size_t)n_out * (m->n_vocab + d) * sizeof *out) : NULL;
    float *row = malloc((size_t)d * sizeof *row);
    int rc = -1;
    if (!x || !h || !q || !k || !v || !att || !gate || !up || !delta || !scores || !row || (logits && !out)) {
        fprintf(stderr, "ref_gemma3: out of memory for %d positions\n", n);
        goto done;
    }

    const double embd_scale = sqrt((double)d);
    for (int t = 0; t < n; t++) {
        if (embd) {
            for (int i = 0; i < d; i++) x[(size_t)t * d + i] = embd[(size_t)t * d + i];
        } else {
            ref_dequant_row(m->tok_embd, tokens[t], row);
            for (int i = 0; i < d; i++) x[(size_t)t * d + i] = row[i] * embd_scale;
        }
    }
    if (resid) store_floats(resid, x, nd);

#define MATMUL(y, in, rows, w)                                                                 \
    do {                                                                                       \
        if (ref_matmul((y), (in), (rows), (w), NULL, round_mm) != 0) goto done;                      \
    } while (0)

    for (int l = 0; l < m->n_layer; l++) {
        const struct ref_g3_layer *L = &m->layers[l];
        const double base = L->swa ? m->rope_base_swa : m->rope_base_global;
        const double fscale = L->swa ? 1.0 : m->rope_scale_global;

        /* attention sublayer */
        ref_rmsnorm(h, x, n, d, L->attn_norm, m->rms_eps);
        MATMUL(q, h, n, L->wq);
        MATMUL(k, h, n, L->wk);
        MATMUL(v, h, n, L->wv);
        ref_rmsnorm(q, q, n * m->n_head, hd, L->q_norm, m->rms_eps); /* each head's row */
        ref_rmsnorm(k, k, n * m->n_head_kv, hd, L->k_norm, m->rms_eps);
        for (int t = 0; t < n; t++) {
            for (int hq = 0; hq < m->n_head; hq++) {
                double *qh = q + (size_t)t * q_dim + (size_t)hq * hd;
                rope_neox(qh, t, hd, base, fscale);
                for (int i = 0; i < hd; i++) qh[i] *= m->attn_scale;
            }
            for (int hk = 0; hk < m->n_head_kv; hk++) rope_neox(k + (size_t)t * kv_dim + (size_t)hk * hd, t, hd, base, fscale);
        }
        attention(att, q, k, v, n, m, L->swa, scores);
        MATMUL(delta, att, n, L->wo);
        ref_rmsnorm(delta, delta, n, d, L->post_attn_norm, m->rms_eps);
        for (size_t i = 0; i < nd; i++) x[i] += delta[i];

        /* feed-forward sublayer (GeGLU) */
        ref_rmsnorm(h, x, n, d, L->ffn_norm, m->rms_eps);
        MATMUL(gate, h, n, L->w_gate);
        MATMUL(up, h, n, L->w_up);
        for (size_t i = 0; i < (size_t)n * ff; i++) gate[i] = ref_gelu(gate[i], round_gelu) * up[i];
        MATMUL(delta, gate, n, L->w_down);
        ref_rmsnorm(delta, delta, n, d, L->post_ffn_norm, m->rms_eps);
        for (size_t i = 0; i < nd; i++) x[i] += delta[i];

        if (resid) store_floats(resid + (size_t)(l + 1) * nd, x, nd);
    }

    if (logits) {
        double *hn = out + (size_t)n_out * m->n_vocab; /* normed final rows, n_out x d */
        for (int i = 0; i < n_out; i++) {
            const int t = logit_pos ? logit_pos[i] : i;
            ref_rmsnorm(hn + (size_t)i * d, x + (size_t)t * d, 1, d, m->output_norm, m->rms_eps);
        }
        MATMUL(out, hn, n_out, m->output);
        if (m->softcap > 0.0) {
            for (size_t i = 0; i < (size_t)n_out * m->n_vocab; i++) out[i] = m->softcap * tanh(out[i] / m->softcap);
        }
        store_floats(logits, out, (size_t)n_out * m->n_vocab);
    }
#undef MATMUL
    rc = 0;
done:
    free(x);
    free(h);
    free(q);
    free(k);
    free(v);
    free(att);
    free(gate);
    free(up);
    free(delta);
    free(scores);
    free(out);
    free(row);
    return rc;
}

int ref_gemma3_n_layer(const ref_gemma3 *m) { return m->n_layer; }
int ref_gemma3_n_embd(const ref_gemma3 *m) { return m->n_embd; }
int ref_gemma3_n_vocab(const ref_gemma3 *m) { return m->n_vocab; }
bool ref_gemma3_layer_is_swa(const ref_gemma3 *m, int l) { return l >= 0 && l < m->n_layer && m->layers[l].swa; }
int ref_gemma3_sliding_window(const ref_gemma3 *m) { return m->n_swa; }
void ref_gemma3_set_sliding_window(ref_gemma3 *m, int n_swa) {
    if (n_swa > 0) m->n_swa = n_swa;
}

int ref_gemma3_set_cpu_rounding(ref_gemma3 *m, unsigned flags) {
    ggml_cpu_init(); /* fp16 conversion and the CPU quantizers' tables */
    if (flags & REF_ROUND_MATMUL_INPUT) {
        bool ok = ref_cpu_rounding_supported(m->output->type);
        for (int l = 0; l < m->n_layer; l++) {
            const struct ref_g3_layer *L = &m->layers[l];
            const struct ggml_tensor *w[] = {L->wq, L->wk, L->wv, L->wo, L->w_gate, L->w_up, L->w_down};
            for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) ok = ok && ref_cpu_rounding_supported(w[i]->type);
        }
        if (!ok) return -1;
    }
    m->rounding = flags;
    return 0;
}

/* ====================================================================== loading */

#define LOAD_FAIL(...)                                                                      \
    do {                                                                                    \
        fprintf(stderr, "ref_gemma3: %s: ", path);                                         \
        fprintf(stderr, __VA_ARGS__);                                                      \
        fputc('\n', stderr);                                                               \
        goto fail;                                                                         \
    } while (0)

ref_gemma3 *ref_gemma3_load(const char *path) {
    ref_gemma3 *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    struct gguf_init_params gp = {.no_alloc = false, .ctx = &m->weights};
    m->gguf = gguf_init_from_file(path, gp);
    if (!m->gguf) LOAD_FAIL("not a readable GGUF file");
    const struct gguf_context *g = m->gguf;
    const char *arch = ref_kv_str(g, "general.architecture");
    if (!arch || strcmp(arch, "gemma3") != 0) LOAD_FAIL("general.architecture is not \"gemma3\"");

    int64_t n_embd = 0, n_layer = 0, n_head = 0, n_ff = 0;
    if (ref_kv_int(g, "gemma3.embedding_length", &n_embd) != 1 || ref_kv_int(g, "gemma3.block_count", &n_layer) != 1 ||
        ref_kv_int(g, "gemma3.attention.head_count", &n_head) != 1 ||
        ref_kv_int(g, "gemma3.feed_forward_length", &n_ff) != 1)
        LOAD_FAIL("missing or non-scalar embedding_length / block_count / head_count / feed_forward_length");
    if (n_embd < 1 || n_layer < 1 || n_head < 1 || n_ff < 1) LOAD_FAIL("non-positive model size");
    int64_t n_head_kv = n_head;
    if (ref_kv_int(g, "gemma3.attention.head_count_kv", &n_head_kv) < 0)
        LOAD_FAIL("per-layer attention.head_count_kv is not supported");
    if (n_head_kv < 1 || n_head % n_head_kv != 0) LOAD_FAIL("head_count is not a multiple of head_count_kv");
    int64_t key_len = n_embd / n_head, value_len, n_rot;
    if (ref_kv_int(g, "gemma3.attention.key_length", &key_len) < 0) LOAD_FAIL("bad attention.key_length");
    value_len = key_len;
    n_rot = key_len;
    if (ref_kv_int(g, "gemma3.attention.value_length", &value_len) < 0 ||
        ref_kv_int(g, "gemma3.rope.dimension_count", &n_rot) < 0)
        LOAD_FAIL("bad attention.value_length / rope.dimension_count");
    if (value_len != key_len || n_rot != key_len || key_len % 2 != 0)
        LOAD_FAIL("head sizes k=%lld v=%lld rope=%lld: this reference needs them equal and even",
                  (long long)key_len, (long long)value_len, (long long)n_rot);
    m->n_embd = (int)n_embd;
    m->n_layer = (int)n_layer;
    m->n_head = (int)n_head;
    m->n_head_kv = (int)n_head_kv;
    m->head_dim = (int)key_len;
    m->n_ff = (int)n_ff;
    m->attn_scale = n_layer == 62 ? 1.0 / sqrt((double)(n_embd / n_head)) : 1.0 / sqrt((double)key_len);

    if (ref_kv_float(g, "gemma3.attention.layer_norm_rms_epsilon", &m->rms_eps) != 1)
        LOAD_FAIL("missing attention.layer_norm_rms_epsilon");
    m->rope_base_global = 10000.0;
    m->rope_base_swa = 10000.0;
    if (ref_kv_float(g, "gemma3.rope.freq_base", &m->rope_base_global) < 0 ||
        ref_kv_float(g, "gemma3.rope.freq_base_swa", &m->rope_base_swa) < 0)
        LOAD_FAIL("bad rope.freq_base / rope.freq_base_swa");
    const char *scaling = ref_kv_str(g, "gemma3.rope.scaling.type");
    if (scaling && strcmp(scaling, "linear") != 0 && strcmp(scaling, "none") != 0)
        LOAD_FAIL("rope.scaling.type \"%s\" is not supported", scaling);
    double factor = 0.0;
    if (ref_kv_float(g, "gemma3.rope.scaling.factor", &factor) == 0) ref_kv_float(g, "gemma3.rope.scale_linear", &factor);
    m->rope_scale_global = factor != 0.0 && !(scaling && strcmp(scaling, "none") == 0) ? 1.0 / factor : 1.0;
    m->softcap = 0.0;
    if (ref_kv_float(g, "gemma3.final_logit_softcapping", &m->softcap) < 0) LOAD_FAIL("bad final_logit_softcapping");

    /* sliding window and which layers use it */
    int64_t n_swa = 0;
    if (ref_kv_int(g, "gemma3.attention.sliding_window", &n_swa) < 0 || n_swa < 0) LOAD_FAIL("bad sliding_window");
    m->n_swa = (int)n_swa;
    m->layers = calloc((size_t)n_layer, sizeof *m->layers);
    if (!m->layers) LOAD_FAIL("out of memory");
    if (n_swa > 0) {
        int64_t period = 6;
        const int64_t pid = gguf_find_key(g, "gemma3.attention.sliding_window_pattern");
        if (pid >= 0 && gguf_get_kv_type(g, pid) == GGUF_TYPE_ARRAY) {
            if (gguf_get_arr_type(g, pid) != GGUF_TYPE_BOOL || (int64_t)gguf_get_arr_n(g, pid) != n_layer)
                LOAD_FAIL("sliding_window_pattern array is not one bool per layer");
            const bool *flags = gguf_get_arr_data(g, pid);
            for (int l = 0; l < n_layer; l++) m->layers[l].swa = flags[l];
        } else {
            if (ref_kv_int(g, "gemma3.attention.sliding_window_pattern", &period) < 0 || period < 0)
                LOAD_FAIL("bad sliding_window_pattern");
            for (int l = 0; l < n_layer; l++) m->layers[l].swa = period == 0 || l % period < period - 1;
        }
    }

    bool bad = false;
    struct ggml_context *w = m->weights;
    const struct ggml_tensor *emb = ggml_get_tensor(w, "token_embd.weight");
    if (!emb) LOAD_FAIL("missing token_embd.weight");
    m->n_vocab = (int)emb->ne[1];
    const int64_t d = n_embd, q_dim = n_head * key_len, kv_dim = n_head_kv * key_len;
    m->tok_embd = ref_get_matrix(w, "token_embd.weight", d, m->n_vocab, true, &bad);
    m->output_norm = ref_get_vector(w, "output_norm.weight", d, true, &bad);
    m->output = ref_get_matrix(w, "output.weight", d, m->n_vocab, false, &bad);
    if (!m->output) m->output = m->tok_embd;
    if (ggml_get_tensor(w, "dense_2.weight") || ggml_get_tensor(w, "dense_3.weight"))
        LOAD_FAIL("embedding-model dense layers are not supported");
    if (bad) goto fail;

    for (int l = 0; l < n_layer; l++) {
        struct ref_g3_layer *L = &m->layers[l];
        char name[96];
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
        if (ggml_get_tensor(w, NAME("attn_qkv.weight")) || ggml_get_tensor(w, NAME("attn_q.bias")))
            LOAD_FAIL("layer %d has fused qkv or biases, which gemma3 does not", l);
        L->attn_norm = ref_get_vector(w, NAME("attn_norm.weight"), d, true, &bad);
        L->wq = ref_get_matrix(w, NAME("attn_q.weight"), d, q_dim, true, &bad);
        L->wk = ref_get_matrix(w, NAME("attn_k.weight"), d, kv_dim, true, &bad);
        L->wv = ref_get_matrix(w, NAME("attn_v.weight"), d, kv_dim, true, &bad);
        L->q_norm = ref_get_vector(w, NAME("attn_q_norm.weight"), key_len, true, &bad);
        L->k_norm = ref_get_vector(w, NAME("attn_k_norm.weight"), key_len, true, &bad);
        L->wo = ref_get_matrix(w, NAME("attn_output.weight"), q_dim, d, true, &bad);
        L->post_attn_norm = ref_get_vector(w, NAME("post_attention_norm.weight"), d, true, &bad);
        L->ffn_norm = ref_get_vector(w, NAME("ffn_norm.weight"), d, true, &bad);
        L->w_gate = ref_get_matrix(w, NAME("ffn_gate.weight"), d, n_ff, true, &bad);
        L->w_up = ref_get_matrix(w, NAME("ffn_up.weight"), d, n_ff, true, &bad);
        L->w_down = ref_get_matrix(w, NAME("ffn_down.weight"), n_ff, d, true, &bad);
        L->post_ffn_norm = ref_get_vector(w, NAME("post_ffw_norm.weight"), d, true, &bad);
#undef NAME
        if (bad) goto fail;
    }
    return m;
fail:
    ref_gemma3_free(m);
    return NULL;
}

void ref_gemma3_free(ref_gemma3 *m) {
    if (!m) return;
    if (m->layers) {
        for (int l = 0; l < m->n_layer; l++) {
            struct ref_g3_layer *L = &m->layers[l];
            free(L->attn_norm);
            free(L->q_norm);
            free(L->k_norm);
            free(L->post_attn_norm);
            free(L->ffn_norm);
            free(L->post_ffn_norm);
        }
        free(m->layers);
    }
    free(m->output_norm);
    if (m->weights) ggml_free(m->weights);
    if (m->gguf) gguf_free(m->gguf);
    free(m);
}
