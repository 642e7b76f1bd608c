/* The logit lens: the model's own final norm and unembedding applied to residual rows.
 *
 * What follows the last block in the graphs of the supported architectures (llama.cpp
 * src/models/<arch>.cpp, 0c1e57098):
 *   cur = build_norm(l_out, output_norm, NULL, LLM_NORM_RMS)   x / sqrt(mean(x^2) + eps) * w
 *   cur = mul_mat(output, cur)                                  (+ output.bias: qwen2)
 *   gemma2 / gemma3: cur = cap * tanh(cur / cap) when cap = final_logit_softcapping != 0
 *     (gemma2 defaults to 30 when the file has no key, gemma3 to 0).
 * The RMS norm is computed as ggml's CPU kernel computes it (float squares summed in double,
 * float scale 1 / sqrtf(mean + eps)); the matrix product in float32 (cblas) from the
 * dequantized output matrix. llama.cpp instead quantizes the normed activations to the
 * matrix's vec_dot type (Q8_0 for a Q8_0 matrix), which is where the two differ. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/finite.h"
#include "common/logsumexp.h"
#include "ggml.h"
#include "gguf.h"
#include "linalg/linalg.h"
#include "runtime/internal.h"

struct lw_lens {
    int n_vocab, n_embd;
    float *norm;        /* n_embd */
    float eps;
    float softcap;      /* 0: none */
    float *bias;        /* n_vocab, or NULL */
    float *out;         /* n_vocab x n_embd when untied (owned); NULL: the model's token-embedding cache */
};

typedef struct {
    const char *arch;
    bool softcap_key;       /* the graph reads <arch>.final_logit_softcapping */
    float softcap_default;  /* when the key is absent */
} lens_arch;

static const lens_arch ARCHS[] = {
    {"llama", false, 0}, {"gemma", false, 0},  {"gemma2", true, 30.0f}, {"gemma3", true, 0},
    {"qwen2", false, 0}, {"qwen3", false, 0},  {"mistral3", false, 0},  {"smollm3", false, 0},
};

void lw_lens_free(lw_model *m) {
    if (!m->lens) return;
    free(m->lens->norm);
    free(m->lens->bias);
    free(m->lens->out);
    free(m->lens);
    m->lens = NULL;
}

/* A 1-D tensor of n floats from the file (any type with a float conversion); NULL when absent
 * (*absent = true) or on error (message set). */
static float *read_vector(const lw_model *m, struct gguf_context *g, struct ggml_context *meta, const char *name,
                          int n, bool *absent) {
    *absent = false;
    int64_t id = gguf_find_tensor(g, name);
    struct ggml_tensor *t = id >= 0 ? ggml_get_tensor(meta, name) : NULL;
    if (!t) {
        *absent = true;
        return NULL;
    }
    const struct ggml_type_traits *tt = ggml_get_type_traits(t->type);
    if (ggml_nelements(t) != n || (t->type != GGML_TYPE_F32 && !tt->to_float)) {
        lw_fail("%s: tensor \"%s\" is not a vector of %d floats", m->path, name, n);
        return NULL;
    }
    size_t bytes = ggml_nbytes(t);
    void *raw = malloc(bytes);
    float *out = malloc(sizeof(float) * (size_t)n);
    FILE *f = fopen(m->path, "rb");
    bool ok = raw && out && f && fseeko(f, (off_t)(gguf_get_data_offset(g) + gguf_get_tensor_offset(g, id)), SEEK_SET) == 0 &&
              fread(raw, 1, bytes, f) == bytes;
    if (f) fclose(f);
    if (ok) {
        if (t->type == GGML_TYPE_F32) memcpy(out, raw, sizeof(float) * (size_t)n);
        else tt->to_float(raw, out, n);
    } else {
        lw_fail("%s: cannot read tensor \"%s\"", m->path, name);
        free(out);
        out = NULL;
    }
    free(raw);
    return out;
}

static float meta_f32(struct gguf_context *g, const char *arch, const char *key, float fallback, bool *found) {
    char full[160];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    int64_t id = gguf_find_key(g, full);
    *found = id >= 0 && gguf_get_kv_type(g, id) == GGUF_TYPE_FLOAT32;
    return *found ? gguf_get_val_f32(g, id) : fallback;
}

static struct lw_lens *lens_load(lw_model *m);

/* The lens weights, read once under the model's lock (only the cache changes). */
static struct lw_lens *lens_get(const lw_model *model) {
    lw_model *m = (lw_model *)model;
    pthread_mutex_lock(&m->lock_lens);
    struct lw_lens *L = m->lens ? m->lens : lens_load(m);
    pthread_mutex_unlock(&m->lock_lens);
    return L;
}

static struct lw_lens *lens_load(lw_model *m) {
    char arch[64] = "";
    llama_model_meta_val_str(m->llama, "general.architecture", arch, sizeof arch);
    const lens_arch *la = NULL;
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (!strcmp(arch, ARCHS[i].arch)) la = &ARCHS[i];
    if (!la) {
        lw_fail("%s: the logit lens is not implemented for architecture \"%s\" (supported: llama, gemma, gemma2, "
                "gemma3, qwen2, qwen3, mistral3, smollm3)",
                m->path, arch);
        return NULL;
    }
    struct lw_lens *L = calloc(1, sizeof *L);
    struct ggml_context *meta = NULL;
    struct gguf_init_params gp = {.no_alloc = true, .ctx = &meta};
    struct gguf_context *g = gguf_init_from_file(m->path, gp);
    bool found, absent, ok = L && g;
    if (!ok) lw_fail("%s: cannot read GGUF header", m->path);
    if (ok) {
        L->n_embd = llama_model_n_embd(m->llama);
        L->n_vocab = llama_vocab_n_tokens(m->vocab);
        L->eps = meta_f32(g, arch, "attention.layer_norm_rms_epsilon", 0, &found);
        if (!found) ok = lw_fail("%s: no %s.attention.layer_norm_rms_epsilon for the final RMS norm", m->path, arch) == 0;
    }
    if (ok && la->softcap_key) L->softcap = meta_f32(g, arch, "final_logit_softcapping", la->softcap_default, &found);
    if (ok && gguf_find_tensor(g, "output.scale") >= 0)
        ok = lw_fail("%s: the output matrix has a separate scale tensor (output.scale), which the logit lens does "
                     "not apply",
                     m->path) == 0;
    if (ok) { /* the matrix's shape, from the header (the tied case reads it through the model's cache) */
        const char *wname = m->has_output ? "output.weight" : "token_embd.weight";
        struct ggml_tensor *wt = gguf_find_tensor(g, wname) >= 0 ? ggml_get_tensor(meta, wname) : NULL;
        if (!wt || wt->ne[0] != L->n_embd || wt->ne[1] != L->n_vocab)
            ok = lw_fail("%s: output matrix \"%s\" is not n_embd x n_vocab = %d x %d", m->path, wname, L->n_embd,
                         L->n_vocab) == 0;
    }
    if (ok) {
        L->norm = read_vector(m, g, meta, "output_norm.weight", L->n_embd, &absent);
        if (!L->norm) ok = absent ? lw_fail("%s: no tensor \"output_norm.weight\" (the final norm)", m->path) == 0 : false;
    }
    if (ok) {
        L->bias = read_vector(m, g, meta, "output.bias", L->n_vocab, &absent);
        if (!L->bias && !absent) ok = false;
    }
    if (g) gguf_free(g);
    if (meta) ggml_free(meta);
    if (ok) { /* shape checked above */
        int nv = 0, d = 0;
        if (m->has_output) L->out = lw_model_output_matrix(m, &nv, &d);
        ok = m->has_output ? L->out != NULL : lw_model_token_embeddings_cached(m) != NULL;
    }
    m->lens = L;
    if (!ok) {
        lw_lens_free(m);
        return NULL;
    }
    return L;
}

/* The matrix the lens multiplies by (n_vocab x n_embd). */
static const float *lens_matrix(const lw_model *m, const struct lw_lens *L) {
    return L->out ? L->out : m->tok_embd;
}

/* rows (n x d) -> normed rows, as ggml_rms_norm followed by the weight multiply. */
static void rms_norm_rows(const struct lw_lens *L, const float *rows, int n, float *dst) {
    const int d = L->n_embd;
    for (int r = 0; r < n; r++) {
        const float *x = rows + (size_t)r * d;
        float *y = dst + (size_t)r * d;
        double sum = 0;
        for (int i = 0; i < d; i++) sum += (double)(x[i] * x[i]);
        const float mean = (float)(sum / d);
        const float scale = 1.0f / sqrtf(mean + L->eps);
        for (int i = 0; i < d; i++) y[i] = (x[i] * scale) * L->norm[i];
    }
}

/* Logits of n rows (n <= chunk) into out (n x n_vocab). */
static void lens_rows(const lw_model *m, const struct lw_lens *L, const float *rows, int n, float *normed, float *out) {
    rms_norm_rows(L, rows, n, normed);
    lw_la_sgemm(false, true, n, L->n_vocab, L->n_embd, 1.0f, normed, lens_matrix(m, L), 0.0f, out);
    for (int r = 0; r < n; r++) {
        float *o = out + (size_t)r * L->n_vocab;
        if (L->bias)
            for (int v = 0; v < L->n_vocab; v++) o[v] += L->bias[v];
        if (L->softcap != 0.0f)
            for (int v = 0; v < L->n_vocab; v++) o[v] = tanhf(o[v] * (1.0f / L->softcap)) * L->softcap;
    }
}

static int check_rows(const float *rows, int n, int d) {
    if (n < 0) return lw_fail("logit lens: negative row count %d", n);
    if (n > 0 && !rows) return lw_fail("logit lens: rows is NULL");
    int64_t bad = lw_first_nonfinite(rows, (int64_t)n * d);
    if (bad >= 0)
        return lw_fail("logit lens: row %lld has a non-finite value at coordinate %lld", (long long)(bad / d),
                       (long long)(bad % d));
    /* the norm squares in float32, as llama.cpp's does: past this it returned all-zero logits */
    for (int64_t i = 0; i < (int64_t)n * d; i++)
        if (fabsf(rows[i]) > LW_ACTIVATION_MAX)
            return lw_fail("logit lens: row %lld has %g at coordinate %lld, beyond %.2g, whose square overflows "
                           "float32 in the model's norm",
                           (long long)(i / d), (double)rows[i], (long long)(i % d), (double)LW_ACTIVATION_MAX);
    return 0;
}

int lw_logit_lens(const lw_model *m, const float *rows, int n, float *logits) {
    if (!m) return lw_fail("logit lens: the model is NULL");
    if (!logits && n > 0) return lw_fail("logit lens: logits is NULL");
    struct lw_lens *L = lens_get(m);
    if (!L) return -1;
    if (check_rows(rows, n, L->n_embd) != 0) return -1;
    if (n == 0) return 0;
    float *normed = malloc(sizeof(float) * (size_t)n * (size_t)L->n_embd);
    if (!normed) return lw_fail("out of memory");
    lens_rows(m, L, rows, n, normed, logits);
    free(normed);
    return 0;
}

/* Inserts (id, v) into the k best so far (descending by value; ids arrive in increasing
 * order, so among equal values the lower id stays first). */
static void topk_insert(int32_t *ids, float *vals, int *have, int k, int32_t id, float v) {
    int i;
    if (*have < k) i = (*have)++;
    else if (v > vals[k - 1]) i = k - 1; /* drops the worst */
    else return;
    while (i > 0 && vals[i - 1] < v) {
        ids[i] = ids[i - 1];
        vals[i] = vals[i - 1];
        i--;
    }
    ids[i] = id;
    vals[i] = v;
}

int lw_logit_lens_topk(const lw_model *m, const float *rows, int n, int k, int32_t *ids, float *logprobs) {
    if (!m) return lw_fail("logit lens: the model is NULL");
    if ((!ids || !logprobs) && n > 0) return lw_fail("logit lens: %s is NULL", ids ? "logprobs" : "ids");
    struct lw_lens *L = lens_get(m);
    if (!L) return -1;
    if (k < 1 || k > L->n_vocab) return lw_fail("logit lens: k = %d is outside [1, %d]", k, L->n_vocab);
    if (check_rows(rows, n, L->n_embd) != 0) return -1;
    enum { CHUNK = 32 };
    const int nv = L->n_vocab;
    float *normed = malloc(sizeof(float) * CHUNK * (size_t)L->n_embd);
    float *logits = malloc(sizeof(float) * CHUNK * (size_t)nv);
    float *vals = malloc(sizeof(float) * (size_t)k);
    if (!normed || !logits || !vals) {
        free(normed);
        free(logits);
        free(vals);
        return lw_fail("out of memory");
    }
    for (int r0 = 0; r0 < n; r0 += CHUNK) {
        int c = n - r0 < CHUNK ? n - r0 : CHUNK;
        lens_rows(m, L, rows + (size_t)r0 * L->n_embd, c, normed, logits);
        for (int r = 0; r < c; r++) {
            const float *lg = logits + (size_t)r * nv;
            int32_t *id = ids + (size_t)(r0 + r) * k;
            float *lp = logprobs + (size_t)(r0 + r) * k;
            int have = 0;
            for (int v = 0; v < nv; v++) topk_insert(id, vals, &have, k, v, lg[v]);
            const double lse = lw_lse_value(lw_lse_terms_of(lg, nv, 1.0));
            for (int j = 0; j < k; j++) lp[j] = (float)((double)vals[j] - lse);
        }
    }
    free(normed);
    free(logits);
    free(vals);
    return 0;
}
