/* ref_llama: naive float64 llama forward pass, the ground truth for tests (see ref_llama.h).
 *
 * Written to be read in one sitting and checked line by line against llama.cpp's llama
 * graph (src/models/llama.cpp, llm_graph_context::build_norm/build_ffn/build_attn) and
 * ggml's CPU rope. Per block, with x the residual stream (one row per position):
 *
 *   h    = rmsnorm(x) * attn_norm
 *   q, k, v = Wq h (+bq), Wk h (+bk), Wv h (+bv)      split into heads of head_dim
 *   q, k = rope(q, pos), rope(k, pos)                 adjacent pairs ("normal" mode)
 *   a    = softmax(q k^T / sqrt(head_dim), causal) v  query head h reads kv head
 *                                                     h / (n_head / n_head_kv)
 *   x    = x + Wo a (+bo)
 *   h    = rmsnorm(x) * ffn_norm
 *   x    = x + Wdown(silu(Wgate h) * Wup h)           (+ biases if present)
 *
 * and at the end logits = Wout (rmsnorm(x) * output_norm), Wout = token_embd when tied.
 *
 * Matrices stay in their stored type (F32, F16, Q8_0, ...) and each row is dequantized
 * with ggml's type traits when it is used, so a quantized model costs its file size in
 * memory. All arithmetic on activations is double. */
#include "support/ref_llama.h"
#include "support/ref_common.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-cpu.h"
#include "ggml.h"
#include "gguf.h"

struct ref_layer {
    float *attn_norm, *ffn_norm;                          /* [n_embd] */
    const struct ggml_tensor *wq, *wk, *wv, *wo;          /* matrices, stored type */
    const struct ggml_tensor *w_gate, *w_up, *w_down;
    float *bq, *bk, *bv, *bo, *b_gate, *b_up, *b_down;    /* optional biases, NULL if absent */
};

struct ref_llama {
    struct gguf_context *gguf;
    struct ggml_context *weights; /* owns the bytes of every tensor in the file */

    int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    double rms_eps;
    double rope_base;       /* theta base, llama.rope.freq_base (default 10000) */
    double rope_freq_scale; /* linear position scaling: 1 / llama.rope.scaling.factor */
    bool cpu_rounding;      /* round matmul inputs like llama.cpp's CPU backend (ref_common.h) */

    const struct ggml_tensor *tok_embd; /* [n_vocab rows of n_embd] */
    const struct ggml_tensor *output;   /* token_embd when tied */
    float *output_norm;                 /* [n_embd] */
    float *rope_freqs;                  /* optional per-pair divisors [head_dim/2] (llama 3) */
    struct ref_layer *layers;
};

/* ====================================================================== the forward pass */

/* Rows are dequantized (ref_dequant_row), matrices applied (ref_matmul: each row of W
 * dequantized once; with cpu_rounding the inputs first rounded as llama.cpp's CPU matmul rounds
 * them) and norms taken (ref_rmsnorm: x / sqrt(mean(x^2) + eps) * w, ggml_rms_norm then
 * ggml_mul) by ref_common, which ref_gemma3 shares. */

/* RoPE on one head vector v[head_dim] at position pos, llama.cpp's "normal" mode
 * (GGML_ROPE_TYPE_NORMAL, what the llama arch uses): the ADJACENT pair (v[2i], v[2i+1]) is
 * rotated by theta_i = pos * freq_scale * base^(-2i/head_dim) / freq_factor_i. (NEOX mode
 * would instead pair v[i] with v[i + head_dim/2].) llama.cpp requires
 * rope.dimension_count == head_dim for this arch, so every pair rotates. */
static void rope(double *v, int pos, const ref_llama *m) {
    const int n_rot = m->head_dim;
    for (int i = 0; i < n_rot / 2; i++) {
        double theta = pos * m->rope_freq_scale * pow(m->rope_base, -2.0 * i / n_rot);
        if (m->rope_freqs) theta /= m->rope_freqs[i];
        const double c = cos(theta), s = sin(theta);
        const double x0 = v[2 * i], x1 = v[2 * i + 1];
        v[2 * i] = x0 * c - x1 * s;
        v[2 * i + 1] = x0 * s + x1 * c;
    }
}

static double silu(double x) { return x / (1.0 + exp(-x)); }

/* Causal multi-head attention for all n positions: out[t] (n_head * head_dim) from q
 * (n x n_head * head_dim) and k, v (n x n_head_kv * head_dim), already roped. scores is
 * scratch for n doubles. */
static void attention(double *out, const double *q, const double *k, const double *v, int n,
                      const ref_llama *m, double *scores) {
    const int hd = m->head_dim;
    const int q_dim = m->n_head * hd, kv_dim = m->n_head_kv * hd;
    const int group = m->n_head / m->n_head_kv; /* query heads sharing one kv head (GQA) */
    const double scale = 1.0 / sqrt((double)hd); /* llama: no attention.scale override */

    for (int t = 0; t < n; t++) {
        for (int h = 0; h < m->n_head; h++) {
            const double *qh = q + (size_t)t * q_dim + (size_t)h * hd;
            const int kvh = h / group;
            /* scores over positions 0..t only: the causal mask */
            double max_score = -INFINITY;
            for (int s = 0; s <= t; s++) {
                const double *ks = k + (size_t)s * kv_dim + (size_t)kvh * hd;
                double dot = 0.0;
                for (int i = 0; i < hd; i++) dot += qh[i] * ks[i];
                scores[s] = dot * scale;
                if (scores[s] > max_score) max_score = scores[s];
            }
            double sum = 0.0;
            for (int s = 0; s <= t; s++) {
                scores[s] = exp(scores[s] - max_score);
                sum += scores[s];
            }
            double *oh = out + (size_t)t * q_dim + (size_t)h * hd;
            for (int i = 0; i < hd; i++) oh[i] = 0.0;
            for (int s = 0; s <= t; s++) {
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

int ref_llama_forward(const ref_llama *m, const int32_t *tokens, const float *embd, int n,
                      float *resid, float *logits) {
    if (!m || n < 1 || (!tokens && !embd)) return -1;
    const int d = m->n_embd, ff = m->n_ff, hd = m->head_dim;
    const int q_dim = m->n_head * hd, kv_dim = m->n_head_kv * hd;
    const size_t nd = (size_t)n * d;
    if (!embd) {
        for (int t = 0; t < n; t++) {
            if (tokens[t] < 0 || tokens[t] >= m->n_vocab) {
                fprintf(stderr, "ref_llama: token %d at position %d out of range [0, %d)\n",
                        (int)tokens[t], t, m->n_vocab);
                return -1;
            }
        }
    }

    int max_in = d > q_dim ? d : q_dim;
    if (ff > max_in) max_in = ff;
    double *x = malloc(nd * sizeof *x);                        /* residual stream */
    double *h = malloc(nd * sizeof *h);                        /* normed input of a sublayer */
    double *q = malloc((size_t)n * q_dim * sizeof *q);
    double *k = malloc((size_t)n * kv_dim * sizeof *k);
    double *v = malloc((size_t)n * kv_dim * sizeof *v);
    double *att = malloc((size_t)n * q_dim * sizeof *att);     /* attention output, per head */
    double *gate = malloc((size_t)n * ff * sizeof *gate);
    double *up = malloc((size_t)n * ff * sizeof *up);
    double *delta = malloc(nd * sizeof *delta);                /* a sublayer's output */
    double *scores = malloc((size_t)n * sizeof *scores);
    double *out = logits ? malloc((size_t)n * m->n_vocab * sizeof *out) : NULL;
    float *row = malloc((size_t)max_in * sizeof *row);
    int rc = -1;
    if (!x || !h || !q || !k || !v || !att || !gate || !up || !delta || !scores || !row ||
        (logits && !out)) {
        fprintf(stderr, "ref_llama: out of memory for %d positions\n", n);
        goto done;
    }

    /* Input rows: embedding lookup, or the caller's embeddings as given. */
    for (int t = 0; t < n; t++) {
        if (embd) {
            for (int i = 0; i < d; i++) x[(size_t)t * d + i] = embd[(size_t)t * d + i];
        } else {
            ref_dequant_row(m->tok_embd, tokens[t], row);
            for (int i = 0; i < d; i++) x[(size_t)t * d + i] = row[i];
        }
    }
    if (resid) store_floats(resid, x, nd);

    for (int l = 0; l < m->n_layer; l++) {
        const struct ref_layer *L = &m->layers[l];

        /* attention sublayer */
        ref_rmsnorm(h, x, n, d, L->attn_norm, m->rms_eps);
        if (ref_matmul(q, h, n, L->wq, L->bq, m->cpu_rounding)) goto done;
        if (ref_matmul(k, h, n, L->wk, L->bk, m->cpu_rounding)) goto done;
        if (ref_matmul(v, h, n, L->wv, L->bv, m->cpu_rounding)) goto done;
        for (int t = 0; t < n; t++) { /* row t is position t: one sequence from 0 */
            for (int hq = 0; hq < m->n_head; hq++) rope(q + (size_t)t * q_dim + (size_t)hq * hd, t, m);
            for (int hk = 0; hk < m->n_head_kv; hk++) rope(k + (size_t)t * kv_dim + (size_t)hk * hd, t, m);
        }
        attention(att, q, k, v, n, m, scores);
        if (ref_matmul(delta, att, n, L->wo, L->bo, m->cpu_rounding)) goto done;
        for (size_t i = 0; i < nd; i++) x[i] += delta[i];

        /* feed-forward sublayer (SwiGLU) */
        ref_rmsnorm(h, x, n, d, L->ffn_norm, m->rms_eps);
        if (ref_matmul(gate, h, n, L->w_gate, L->b_gate, m->cpu_rounding)) goto done;
        if (ref_matmul(up, h, n, L->w_up, L->b_up, m->cpu_rounding)) goto done;
        for (size_t i = 0; i < (size_t)n * ff; i++) gate[i] = silu(gate[i]) * up[i];
        if (ref_matmul(delta, gate, n, L->w_down, L->b_down, m->cpu_rounding)) goto done;
        for (size_t i = 0; i < nd; i++) x[i] += delta[i];

        if (resid) store_floats(resid + (size_t)(l + 1) * nd, x, nd);
    }

    if (logits) {
        ref_rmsnorm(h, x, n, d, m->output_norm, m->rms_eps);
        if (ref_matmul(out, h, n, m->output, NULL, m->cpu_rounding)) goto done;
        store_floats(logits, out, (size_t)n * m->n_vocab);
    }
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

int ref_llama_set_cpu_rounding(ref_llama *m, unsigned flags) {
    const bool on = (flags & REF_ROUND_MATMUL_INPUT) != 0;
    if (on) {
        ggml_cpu_init(); /* the CPU quantizers' tables */
        bool ok = ref_cpu_rounding_supported(m->output->type);
        for (int l = 0; l < m->n_layer; l++) {
            const struct ref_layer *L = &m->layers[l];
            const struct ggml_tensor *w[] = {L->wq, L->wk, L->wv, L->wo, L->w_gate, L->w_up, L->w_down};
            for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) ok = ok && ref_cpu_rounding_supported(w[i]->type);
        }
        if (!ok) return -1;
    }
    m->cpu_rounding = on;
    return 0;
}

int ref_llama_n_layer(const ref_llama *m) { return m->n_layer; }
int ref_llama_n_embd(const ref_llama *m) { return m->n_embd; }
int ref_llama_n_vocab(const ref_llama *m) { return m->n_vocab; }

/* ====================================================================== loading */

#define LOAD_FAIL(...)                                                                      \
    do {                                                                                    \
        fprintf(stderr, "ref_llama: %s: ", path);                                          \
        fprintf(stderr, __VA_ARGS__);                                                      \
        fputc('\n', stderr);                                                               \
        goto fail;                                                                         \
    } while (0)

ref_llama *ref_llama_load(const char *path) {
    ref_llama *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    struct gguf_init_params gp = {.no_alloc = false, .ctx = &m->weights};
    m->gguf = gguf_init_from_file(path, gp);
    if (!m->gguf) LOAD_FAIL("not a readable GGUF file");
    const struct gguf_context *g = m->gguf;

    const int64_t arch_id = gguf_find_key(g, "general.architecture");
    if (arch_id < 0 || gguf_get_kv_type(g, arch_id) != GGUF_TYPE_STRING ||
        strcmp(gguf_get_val_str(g, arch_id), "llama") != 0)
        LOAD_FAIL("general.architecture is not \"llama\"");

    /* Hyperparameters, with llama.cpp's defaults where a key is optional. */
    int64_t n_embd = 0, n_layer = 0, n_head = 0, n_ff = 0;
    if (ref_kv_int(g, "llama.embedding_length", &n_embd) != 1 || ref_kv_int(g, "llama.block_count", &n_layer) != 1 ||
        ref_kv_int(g, "llama.attention.head_count", &n_head) != 1 ||
        ref_kv_int(g, "llama.feed_forward_length", &n_ff) != 1)
        LOAD_FAIL("missing or non-scalar embedding_length / block_count / head_count / feed_forward_length");
    if (n_embd < 1 || n_layer < 1 || n_head < 1 || n_ff < 1) LOAD_FAIL("non-positive model size");
    int64_t n_head_kv = n_head;
    if (ref_kv_int(g, "llama.attention.head_count_kv", &n_head_kv) < 0)
        LOAD_FAIL("per-layer attention.head_count_kv is not supported");
    if (n_head_kv < 1 || n_head % n_head_kv != 0)
        LOAD_FAIL("head_count %lld is not a multiple of head_count_kv %lld", (long long)n_head,
                  (long long)n_head_kv);
    int64_t key_len = n_embd / n_head, value_len = n_embd / n_head, n_rot;
    if (ref_kv_int(g, "llama.attention.key_length", &key_len) < 0 ||
        ref_kv_int(g, "llama.attention.value_length", &value_len) < 0)
        LOAD_FAIL("bad attention.key_length / value_length");
    n_rot = key_len;
    if (ref_kv_int(g, "llama.rope.dimension_count", &n_rot) < 0) LOAD_FAIL("bad rope.dimension_count");
    /* llama.cpp refuses a llama model whose rope.dimension_count differs from the head size
     * (and asserts equal k and v head sizes), so partial rotary never happens here. */
    if (value_len != key_len || n_rot != key_len || key_len % 2 != 0)
        LOAD_FAIL("head sizes k=%lld v=%lld rope=%lld: llama needs them equal and even", (long long)key_len,
                  (long long)value_len, (long long)n_rot);

    m->n_embd = (int)n_embd;
    m->n_layer = (int)n_layer;
    m->n_head = (int)n_head;
    m->n_head_kv = (int)n_head_kv;
    m->head_dim = (int)key_len;
    m->n_ff = (int)n_ff;

    if (ref_kv_float(g, "llama.attention.layer_norm_rms_epsilon", &m->rms_eps) != 1)
        LOAD_FAIL("missing attention.layer_norm_rms_epsilon");
    m->rope_base = 10000.0;
    if (ref_kv_float(g, "llama.rope.freq_base", &m->rope_base) < 0) LOAD_FAIL("bad rope.freq_base");

    /* RoPE scaling: llama.cpp defaults to "linear" with factor 1; "none" forces factor 1;
     * YaRN and LongRoPE change the rotation itself and are not modelled here. */
    m->rope_freq_scale = 1.0;
    const int64_t scaling_id = gguf_find_key(g, "llama.rope.scaling.type");
    const char *scaling = scaling_id >= 0 && gguf_get_kv_type(g, scaling_id) == GGUF_TYPE_STRING
                              ? gguf_get_val_str(g, scaling_id)
                              : "linear";
    if (strcmp(scaling, "linear") != 0 && strcmp(scaling, "none") != 0)
        LOAD_FAIL("rope.scaling.type \"%s\" is not supported", scaling);
    double factor = 0.0;
    if (ref_kv_float(g, "llama.rope.scaling.factor", &factor) == 0) { /* older key name */
        ref_kv_float(g, "llama.rope.scale_linear", &factor);
    }
    if (factor != 0.0 && strcmp(scaling, "linear") == 0) m->rope_freq_scale = 1.0 / factor;
    double attn_factor = 1.0;
    ref_kv_float(g, "llama.rope.scaling.attn_factor", &attn_factor);
    if (attn_factor != 1.0) LOAD_FAIL("rope.scaling.attn_factor %g is not supported", attn_factor);

    /* Tensors, shapes as llama.cpp's llama loader creates them (ne[0] first). */
    bool bad = false;
    struct ggml_context *w = m->weights;
    const struct ggml_tensor *emb = ggml_get_tensor(w, "token_embd.weight");
    if (!emb) LOAD_FAIL("missing token_embd.weight");
    m->n_vocab = (int)emb->ne[1];
    const int64_t d = n_embd, q_dim = n_head * key_len, kv_dim = n_head_kv * key_len;
    m->tok_embd = ref_get_matrix(w, "token_embd.weight", d, m->n_vocab, true, &bad);
    m->output_norm = ref_get_vector(w, "output_norm.weight", d, true, &bad);
    m->output = ref_get_matrix(w, "output.weight", d, m->n_vocab, false, &bad);
    if (!m->output) m->output = m->tok_embd; /* tied embeddings */
    m->rope_freqs = ref_get_vector(w, "rope_freqs.weight", key_len / 2, false, &bad);
    if (bad) goto fail;

    m->layers = calloc((size_t)n_layer, sizeof *m->layers);
    if (!m->layers) LOAD_FAIL("out of memory");
    for (int l = 0; l < n_layer; l++) {
        struct ref_layer *L = &m->layers[l];
        char name[96];
#define NAME(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
        if (ggml_get_tensor(w, NAME("attn_qkv.weight")) || ggml_get_tensor(w, NAME("ffn_gate_inp.weight")))
            LOAD_FAIL("layer %d has fused qkv or MoE tensors, which are not supported", l);
        L->attn_norm = ref_get_vector(w, NAME("attn_norm.weight"), d, true, &bad);
        L->wq = ref_get_matrix(w, NAME("attn_q.weight"), d, q_dim, true, &bad);
        L->wk = ref_get_matrix(w, NAME("attn_k.weight"), d, kv_dim, true, &bad);
        L->wv = ref_get_matrix(w, NAME("attn_v.weight"), d, kv_dim, true, &bad);
        L->wo = ref_get_matrix(w, NAME("attn_output.weight"), q_dim, d, true, &bad);
        L->bq = ref_get_vector(w, NAME("attn_q.bias"), q_dim, false, &bad);
        L->bk = ref_get_vector(w, NAME("attn_k.bias"), kv_dim, false, &bad);
        L->bv = ref_get_vector(w, NAME("attn_v.bias"), kv_dim, false, &bad);
        L->bo = ref_get_vector(w, NAME("attn_output.bias"), d, false, &bad);
        L->ffn_norm = ref_get_vector(w, NAME("ffn_norm.weight"), d, true, &bad);
        L->w_gate = ref_get_matrix(w, NAME("ffn_gate.weight"), d, n_ff, true, &bad);
        L->w_up = ref_get_matrix(w, NAME("ffn_up.weight"), d, n_ff, true, &bad);
        L->w_down = ref_get_matrix(w, NAME("ffn_down.weight"), n_ff, d, true, &bad);
        L->b_gate = ref_get_vector(w, NAME("ffn_gate.bias"), n_ff, false, &bad);
        L->b_up = ref_get_vector(w, NAME("ffn_up.bias"), n_ff, false, &bad);
        L->b_down = ref_get_vector(w, NAME("ffn_down.bias"), d, false, &bad);
#undef NAME
        if (bad) goto fail;
    }
    return m;
fail:
    ref_llama_free(m);
    return NULL;
}

void ref_llama_free(ref_llama *m) {
    if (!m) return;
    if (m->layers) {
        for (int l = 0; l < m->n_layer; l++) {
            struct ref_layer *L = &m->layers[l];
            float *vectors[] = {L->attn_norm, L->ffn_norm, L->bq,     L->bk,  L->bv,
                                L->bo,        L->b_gate,   L->b_up, L->b_down};
            for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) free(vectors[i]);
        }
        free(m->layers);
    }
    free(m->output_norm);
    free(m->rope_freqs);
    if (m->weights) ggml_free(m->weights);
    if (m->gguf) gguf_free(m->gguf);
    free(m);
}
