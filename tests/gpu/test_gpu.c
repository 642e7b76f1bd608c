/* The CUDA backend on a GPU: every hook site, hook write, soft-token input, generation and
 * batched extraction with the model offloaded (n_gpu_layers 999) against the same model on the
 * CPU (n_gpu_layers 0), and the GPU's block outputs and logits against the independent float64
 * references (support/ref_llama, support/ref_gemma3). Built only by `make cuda` (tests/gpu:
 * its binary needs the NVIDIA driver library to start) and run by `make cuda-test`; skipped (77)
 * when ggml finds no GPU device.
 *
 * Models: the TinyStories pair in ../shared (F32 weights), every fetched real model
 * (scripts/fetch-models.sh; any that is absent is left out, not a skip), and the GGUF paths in
 * LW_GPU_TEST_MODELS (a comma list: e.g. re-quantized copies small enough to carry to a
 * machine with a GPU).
 *
 * Why these tolerances: the GPU and the CPU differ in how they round, not in what they compute.
 * For a quantized weight both quantize the matmul's input to 8 bits, but in different blocks
 * (the CPU's Q8_0 / Q8_K, CUDA's Q8_1) and sum in a different order, so the two runs differ as
 * the CPU run differs from the float64 reference in test_ref_real (QUANT_REL, QUANT_LOGITS_REL
 * there). For F32 weights CUDA's matmuls may run on tensor cores in TF32 (a 10-bit mantissa),
 * ~1e-3 relative per product. For quantized weights GPU and CPU are each held to the float64
 * reference by QUANT_REL, so to each other by twice that; F32_REL bounds both for F32 weights. A hook that read or wrote the wrong memory, a site
 * captured from another node, or input embeddings dropped move these measures by O(1) (a zero
 * row is 1.0 away, an unrelated one about 1.4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ggml-backend.h"
#include "ggml.h"
#include "gguf.h"
#include "latentwire/runtime.h"
#include "latentwire/safetensors.h"
#include "sitecheck.h"
#include "support/ref_gemma3.h"
#include "support/ref_llama.h"
#include "support/testutil.h"

#define F32_REL 1e-2        /* F32 weights: sites, logits (TF32 products, see above) */
#define QUANT_REL 0.15      /* quantized weights against the float64 reference (as test_ref_real) */
#define QUANT_LOGITS_REL 0.3
#define AGREE_MIN 0.8       /* positions whose top token is the same */

/* A failed check is printed and counted, and the test fails at its end: every model's numbers
 * are printed even when one model's are off. */
static int g_bad;
#define EXPECT(cond, ...)                                                                                              \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "FAIL (%s): ", #cond);                                                                     \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, "\n");                                                                                     \
            g_bad++;                                                                                                   \
        }                                                                                                              \
    } while (0)
#define EXPECT_ALL_PASSED()                                                                                            \
    do {                                                                                                               \
        int bad = g_bad;                                                                                               \
        g_bad = 0;                                                                                                     \
        assert_int_equal(bad, 0);                                                                                      \
    } while (0)

static const char *PROMPT = "Once upon a time, there was a little dog named Max who liked to run in the park.";
static const char *TEXTS[6] = {
    "The cat sat on the mat.", "A small boat drifted across the quiet lake at dawn.",
    "She opened the box and found an old key.", "Rain fell all night on the tin roof.",
    "He counted the stars until he fell asleep.", "The market was full of apples, bread and noise."};

enum { MAX_MODELS = 12 };
typedef struct {
    char name[96];
    char path[1024];
    bool f32;     /* every block weight stored as F32 */
    bool encoder; /* declares a pooling (a sentence encoder: no residual-stream hooks) */
    lw_model *cpu, *gpu;
} gpu_model;
static gpu_model MODELS[MAX_MODELS];
static int N_MODELS;
static ggml_backend_dev_t GPU;

static size_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

/* Whether block 0's FFN down weight (every architecture here has one) is stored as F32. */
static bool weights_f32(const char *path) {
    struct ggml_context *meta = NULL;
    struct gguf_init_params gp = {.no_alloc = true, .ctx = &meta};
    struct gguf_context *g = gguf_init_from_file(path, gp);
    if (!g) return false;
    struct ggml_tensor *t = ggml_get_tensor(meta, "blk.0.ffn_down.weight");
    bool f32 = t && t->type == GGML_TYPE_F32;
    gguf_free(g);
    ggml_free(meta);
    return f32;
}

static void add_model(const char *path) {
    if (!path || N_MODELS == MAX_MODELS) return;
    gpu_model *g = &MODELS[N_MODELS++];
    snprintf(g->path, sizeof g->path, "%s", path);
    const char *slash = strrchr(path, '/');
    snprintf(g->name, sizeof g->name, "%s", slash ? slash + 1 : path);
    g->f32 = weights_f32(path);
}

static lw_model *load(const char *path, int n_gpu_layers) {
    lw_model_params mp = lw_model_default_params();
    mp.n_gpu_layers = n_gpu_layers;
    lw_model *m = lw_model_load(path, mp);
    if (!m) fprintf(stderr, "%s\n", lw_last_error());
    return m;
}

/* Loads each model twice; the GPU copy must take device memory (else nothing was offloaded and
 * every comparison below would compare the CPU with itself). */
static int setup(void **state) {
    for (int i = 0; i < N_MODELS; i++) {
        gpu_model *g = &MODELS[i];
        size_t free0, total, free1;
        ggml_backend_dev_memory(GPU, &free0, &total);
        g->cpu = load(g->path, 0);
        g->gpu = load(g->path, 999);
        if (!g->cpu || !g->gpu) return -1;
        ggml_backend_dev_memory(GPU, &free1, &total);
        const lw_model *probe = g->cpu;
        const char *pool = lw_model_pooling(probe);
        g->encoder = pool && strcmp(pool, "none") != 0;
        const double used = free0 > free1 ? (double)(free0 - free1) : 0, size = (double)file_size(g->path);
        fprintf(stderr, "[gpu] %-36s %s%s, %.1f MB file, %.1f MB of device memory taken at load\n", g->name,
                g->f32 ? "F32 weights" : "quantized weights", g->encoder ? ", encoder" : "", size / 1e6, used / 1e6);
        /* llama.cpp keeps the input embedding table on the host; what is offloaded is at least a
         * third of any real model's file (the blocks, and the output matrix), and something for
         * any model (the toys took 2.1 and 4.2 MB on the H200) */
        if (used <= 0 || (size > 16e6 && used < size / 3)) {
            fprintf(stderr, "[gpu] %s: too little device memory taken; was it offloaded?\n", g->name);
            return -1;
        }
    }
    return 0;
}

static int teardown(void **state) {
    for (int i = 0; i < N_MODELS; i++) {
        lw_model_free(MODELS[i].cpu);
        lw_model_free(MODELS[i].gpu);
    }
    return 0;
}

/* Against the float64 reference, and between two kernels of one backend. */
static double site_tol(const gpu_model *g) { return g->f32 ? F32_REL : QUANT_REL; }
static double logits_tol(const gpu_model *g) { return g->f32 ? F32_REL : QUANT_LOGITS_REL; }
/* GPU against CPU for quantized weights: each side is within QUANT_REL of the float64 reference
 * (test_ref_real for the CPU, test_reference here for the GPU), so within twice that of each other. */
static double pair_tol(const gpu_model *g) { return g->f32 ? F32_REL : 2 * QUANT_REL; }
static double pair_logits_tol(const gpu_model *g) { return g->f32 ? F32_REL : 2 * QUANT_LOGITS_REL; }

static double argmax_agreement(const float *a, const float *b, int n, int nv) {
    int agree = 0;
    for (int p = 0; p < n; p++) agree += lw_argmax(a + (size_t)p * nv, nv) == lw_argmax(b + (size_t)p * nv, nv);
    return (double)agree / n;
}

/* ||a - b||_F / ||b||_F over n rows of width w. */
static double frob_rel(const float *a, const float *b, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        r += (double)b[i] * b[i];
    }
    return r > 0 ? sqrt(d / r) : sqrt(d);
}

/* Two traces compared: the residual stream (hook_embed, every block's resid_post) by its worst
 * row; the in-block sites (z, attn_out, resid_mid, mlp_out) by their worst (site, block) over all
 * positions together, since a single position's attn_out or mlp_out can be small next to the
 * rounding it inherits from the residual stream (a row of Gemma's blocks.4.hook_mlp_out measured
 * 0.30 where its block output did not). */
static void compare_traces(const sc_trace *a, const sc_trace *b, double *resid, char *resid_at, double *inner,
                           char *inner_at, size_t n_at) {
    *resid = lw_test_max_row_rel_err(a->embed, b->embed, (size_t)a->n, (size_t)a->d, 1e-6);
    snprintf(resid_at, n_at, "hook_embed");
    *inner = 0;
    snprintf(inner_at, n_at, "-");
    for (int k = 0; k < 5; k++) {
        lw_site site = SC_BLOCK_SITES[k];
        if (!a->at[site]) continue;
        int w = sc_width(a, site);
        for (int l = 0; l < a->n_layer; l++) {
            const float *x = a->at[site] + (size_t)l * a->n * w, *y = b->at[site] + (size_t)l * b->n * w;
            if (site == LW_SITE_RESID_POST) {
                double e = lw_test_max_row_rel_err(x, y, (size_t)a->n, (size_t)w, 1e-6);
                if (e > *resid) *resid = e, lw_site_name((lw_site_ref){site, l}, resid_at, n_at);
            } else {
                double e = frob_rel(x, y, (size_t)a->n * w);
                if (e > *inner) *inner = e, lw_site_name((lw_site_ref){site, l}, inner_at, n_at);
            }
        }
    }
}

static int prompt_tokens(const lw_model *m, int32_t **tok) {
    int n = lw_tokenize_alloc(m, PROMPT, true, tok);
    assert_true(n > 8);
    return n;
}

/* Runs check on every language model (not the encoders) with the prompt's tokens, then fails the
 * test if any EXPECT in it failed. */
typedef void (*lm_check)(gpu_model *g, const int32_t *tok, int n);
static void each_language_model(lm_check check) {
    for (int i = 0; i < N_MODELS; i++) {
        gpu_model *g = &MODELS[i];
        if (g->encoder) continue;
        int32_t *tok;
        int n = prompt_tokens(g->cpu, &tok);
        check(g, tok, n);
        free(tok);
    }
    EXPECT_ALL_PASSED();
}

/* Every site of every block, and every position's logits, GPU against CPU. */
static void sites_match_cpu_one(gpu_model *g, const int32_t *tok, int n) {
    sc_trace c, d;
    sc_trace_run(g->cpu, tok, n, NULL, 0, &c);
    sc_trace_run(g->gpu, tok, n, NULL, 0, &d);
    char resid_at[64], inner_at[64];
    double resid, inner;
    compare_traces(&d, &c, &resid, resid_at, &inner, inner_at, sizeof resid_at);
    double logits = lw_test_max_row_rel_err(d.logits, c.logits, (size_t)n, (size_t)c.n_vocab, 1e-6);
    double agree = argmax_agreement(d.logits, c.logits, n, c.n_vocab);
    fprintf(stderr, "[gpu] %-36s n=%d: GPU vs CPU, residual stream worst row %.2e (%s), in-block sites worst "
                    "%.2e (%s), logits %.2e, argmax agree %.0f%%\n",
            g->name, n, resid, resid_at, inner, inner_at, logits, 100 * agree);
    EXPECT(resid < pair_tol(g), "%s", g->name);
    EXPECT(inner < pair_tol(g), "%s", g->name);
    EXPECT(logits < pair_logits_tol(g), "%s", g->name);
    EXPECT(agree >= AGREE_MIN, "%s", g->name);
    sc_trace_free(&c);
    sc_trace_free(&d);
}

static void test_sites_match_cpu(void **state) { each_language_model(sites_match_cpu_one); }

/* The site checks of test_sites (identities between sites, patching, early stop, output-row
 * selection, the logit lens) with the model on the GPU. */
static void test_site_checks_on_gpu(void **state) {
    static const char *DONOR = "The big red ball rolled down the hill and the cat ran after it very fast.";
    for (int i = 0; i < N_MODELS; i++) {
        gpu_model *g = &MODELS[i];
        if (g->encoder || sc_site_width_or_0(g->gpu, LW_SITE_ATTN_OUT) == 0) continue;
        int32_t *tok, *donor;
        int n = prompt_tokens(g->gpu, &tok);
        int nd = lw_tokenize_alloc(g->gpu, DONOR, true, &donor);
        if (nd < n) n = nd;
        fprintf(stderr, "[gpu] %s: site checks with the model on the GPU\n", g->name);
        sc_check_identities(g->gpu, g->name, tok, n, 1e-6);
        sc_check_interventions(g->gpu, g->name, tok, donor, n, 1e-5);
        /* a run cut short after the hooked site computes the same kernels on the same inputs as a
         * full one, so its captures are the full run's (0 on the H200 for every model; with
         * ggml-cuda's fusion on Gemma's differed by 0.20 per coordinate, see lw_model_load). 1e-5
         * leaves room for float rounding in another kernel choice: the CPU backend gives 2.2e-6
         * for stories260K's last block */
        sc_check_early_stop(g->gpu, g->name, tok, n, 1e-5);
        /* a last block computed for a few output rows takes other matmul kernels for the logits
         * (one row: a matrix-vector kernel): stories260K's last-position logits differ by 3.4e-3
         * per coordinate on the H200 (F32 output matrix; TF32 in the many-row product). Held for
         * F32 models only: for quantized ones it was not measured on a GPU */
        if (g->f32) sc_check_last_block_rows(g->gpu, g->name, tok, n, F32_REL);
        /* the lens (float32 on the host) against the GPU's own logits: off by the output matmul's
         * input rounding only (test_sites_real explains the CPU's 1%) */
        double rel;
        sc_check_lens(g->gpu, g->name, tok, n, &rel);
        EXPECT(rel < 0.05, "%s", g->name);
        free(tok);
        free(donor);
    }
    EXPECT_ALL_PASSED();
}

/* A hook's write acts on the GPU as on the CPU: a large vector added to a middle block's
 * resid_post moves the last block and the logits on both alike, and far from the unhooked run. */
static void hook_write_matches_cpu_one(gpu_model *g, const int32_t *tok, int n) {
    sc_trace base;
    sc_trace_run(g->cpu, tok, n, NULL, 0, &base);
    const int d = base.d, mid = base.n_layer / 2, last = base.n_layer - 1;
    float *v = malloc(sizeof(float) * (size_t)d);
    sc_vec(v, d, 4.0 * sc_rms(base.at[LW_SITE_RESID_POST] + (size_t)mid * n * d, (size_t)n * d), 0.7);
    sc_hook h = {.site = LW_SITE_RESID_POST, .layer = mid, .op = LW_OP_ADD, .vectors = v, .n_vectors = 1};
    sc_trace c, gp;
    sc_trace_run(g->cpu, tok, n, &h, 1, &c);
    sc_trace_run(g->gpu, tok, n, &h, 1, &gp);
    const float *c_last = c.at[LW_SITE_RESID_POST] + (size_t)last * n * d;
    const float *g_last = gp.at[LW_SITE_RESID_POST] + (size_t)last * n * d;
    const float *b_last = base.at[LW_SITE_RESID_POST] + (size_t)last * n * d;
    double same = lw_test_max_row_rel_err(g_last, c_last, (size_t)n, (size_t)d, 1e-6);
    double moved = lw_test_max_row_rel_err(g_last, b_last, (size_t)n, (size_t)d, 1e-6);
    double logits = lw_test_max_row_rel_err(gp.logits, c.logits, (size_t)n, (size_t)c.n_vocab, 1e-6);
    fprintf(stderr, "[gpu] %-36s add at blocks.%d.hook_resid_post: last block GPU vs CPU hooked %.2e, "
                    "GPU hooked vs unhooked %.2e, logits %.2e\n", g->name, mid, same, moved, logits);
    EXPECT(same < pair_tol(g), "%s", g->name);
    EXPECT(logits < pair_logits_tol(g), "%s", g->name);
    EXPECT(moved > 3 * same, "%s", g->name); /* the write took effect on the GPU */
    free(v);
    sc_trace_free(&base);
    sc_trace_free(&c);
    sc_trace_free(&gp);
}

static void test_hook_write_matches_cpu(void **state) { each_language_model(hook_write_matches_cpu_one); }

/* Every position's logits of one run: tokens or (tokens == NULL) input embeddings. */
static float *run_logits(lw_model *m, const int32_t *tok, const float *embd, int n, lw_precision prec) {
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = 2;
    sp.precision = prec;
    lw_session *s = lw_session_new(m, sp);
    assert_non_null(s);
    lw_span span = {.tokens = tok, .embd = tok ? NULL : embd, .n = n};
    lw_seq_input in = {.seq = 0, .spans = &span, .n_spans = 1, .logits = LW_LOGITS_ALL};
    if (lw_session_run(s, &in, 1) != 0) fail_msg("run: %s", lw_last_error());
    lw_model_info info;
    lw_model_get_info(m, &info);
    float *out = malloc(sizeof(float) * (size_t)n * info.n_vocab);
    for (int p = 0; p < n; p++)
        memcpy(out + (size_t)p * info.n_vocab, lw_session_logits(s, 0, p), sizeof(float) * (size_t)info.n_vocab);
    lw_session_free(s);
    return out;
}

/* Soft tokens: rows of the embedding table given as input embeddings, GPU against CPU. */
static void soft_tokens_match_cpu_one(gpu_model *g, const int32_t *tok, int n) {
    lw_model_info info;
    lw_model_get_info(g->cpu, &info);
    const float *table = lw_model_token_embeddings_cached(g->cpu);
    assert_non_null(table);
    float *embd = malloc(sizeof(float) * (size_t)n * info.n_embd);
    for (int p = 0; p < n; p++)
        memcpy(embd + (size_t)p * info.n_embd, table + (size_t)tok[p] * info.n_embd, sizeof(float) * info.n_embd);
    float *c = run_logits(g->cpu, NULL, embd, n, LW_PRECISION_EXACT);
    float *d = run_logits(g->gpu, NULL, embd, n, LW_PRECISION_EXACT);
    float *t = run_logits(g->gpu, tok, NULL, n, LW_PRECISION_EXACT);
    double e = lw_test_max_row_rel_err(d, c, (size_t)n, (size_t)info.n_vocab, 1e-6);
    double agree = argmax_agreement(d, c, n, info.n_vocab);
    /* the table's rows as soft tokens are the tokens themselves (the library applies an
     * architecture's input scale, e.g. Gemma's sqrt(n_embd), to both): a dropped or
     * misplaced input would be far from the token run */
    double vs_tokens = lw_test_max_row_rel_err(d, t, (size_t)n, (size_t)info.n_vocab, 1e-6);
    fprintf(stderr, "[gpu] %-36s soft tokens: logits GPU vs CPU %.2e, argmax agree %.0f%%; vs the token run "
                    "on the GPU %.2e\n", g->name, e, 100 * agree, vs_tokens);
    EXPECT(e < pair_logits_tol(g), "%s", g->name);
    EXPECT(agree >= AGREE_MIN, "%s", g->name);
    EXPECT(vs_tokens < logits_tol(g), "%s", g->name);
    free(embd);
    free(c);
    free(d);
    free(t);
}

static void test_soft_tokens_match_cpu(void **state) { each_language_model(soft_tokens_match_cpu_one); }

/* Greedy generation on the GPU (exact and fast precision): each generated token is the CPU's
 * top token given the same prefix, at least AGREE_MIN of the time (near-ties may flip). */
static void generation_one(gpu_model *g, const int32_t *tok, int n) {
    enum { N_GEN = 24 };
    lw_model_info info;
    lw_model_get_info(g->cpu, &info);
    for (int prec = LW_PRECISION_EXACT; prec <= LW_PRECISION_FAST; prec++) {
        lw_session_params sp = lw_session_default_params();
        sp.n_threads = 2;
        sp.precision = (lw_precision)prec;
        lw_session *s = lw_session_new(g->gpu, sp);
        assert_non_null(s);
        lw_gen_params gp = lw_gen_default_params();
        gp.max_tokens = N_GEN;
        gp.stop_at_eos = false;
        int32_t out[N_GEN];
        lw_span span = {.tokens = tok, .n = n};
        int k = lw_generate(s, 0, &span, 1, &gp, out, N_GEN);
        if (k != N_GEN) fail_msg("generate: %d tokens, %s", k, lw_last_error());
        lw_session_free(s);
        int32_t *all = malloc(sizeof(int32_t) * (size_t)(n + k));
        memcpy(all, tok, sizeof(int32_t) * (size_t)n);
        memcpy(all + n, out, sizeof(int32_t) * (size_t)k);
        float *c = run_logits(g->cpu, all, NULL, n + k, LW_PRECISION_EXACT);
        int agree = 0, first = -1;
        for (int j = 0; j < k; j++) {
            bool same = lw_argmax(c + (size_t)(n - 1 + j) * info.n_vocab, info.n_vocab) == out[j];
            agree += same;
            if (!same && first < 0) first = j;
        }
        char *text = lw_detokenize(g->gpu, out, k, false);
        fprintf(stderr, "[gpu] %-36s generation (%s): %d/%d tokens are the CPU's choice (first differs at %d): %s\n",
                g->name, prec == LW_PRECISION_EXACT ? "exact" : "fast", agree, k, first, text ? text : "?");
        EXPECT(agree >= AGREE_MIN * k, "%s", g->name);
        free(text);
        free(c);
        free(all);
    }
}

static void test_generation(void **state) { each_language_model(generation_one); }

/* Batched pooled extraction (several sequences per micro-batch), or for an encoder its own
 * pooled sentence embedding, GPU against CPU. */
static void test_pooled_match_cpu(void **state) {
    const int n = 6;
    for (int i = 0; i < N_MODELS; i++) {
        gpu_model *g = &MODELS[i];
        lw_model_info info;
        lw_model_get_info(g->cpu, &info);
        const int d = info.n_embd;
        float *out[2][2];
        for (int b = 0; b < 2; b++) {
            lw_model *m = b ? g->gpu : g->cpu;
            lw_session_params sp = lw_session_default_params();
            sp.n_threads = 2;
            sp.n_seq_max = 4;
            sp.embeddings = g->encoder;
            lw_session *s = lw_session_new(m, sp);
            assert_non_null(s);
            for (int k = 0; k < 2; k++) out[b][k] = malloc(sizeof(float) * (size_t)n * d);
            if (g->encoder) {
                if (lw_embed_pooled(s, TEXTS, n, false, out[b][0], NULL) != 0) fail_msg("%s", lw_last_error());
            } else {
                const int layers[2] = {0, info.n_layer - 1};
                if (lw_extract_pooled(s, TEXTS, n, true, false, layers, 2, LW_POOL_MEAN, out[b], NULL) != 0)
                    fail_msg("%s", lw_last_error());
            }
            lw_session_free(s);
        }
        double e = 0;
        for (int k = 0; k < (g->encoder ? 1 : 2); k++)
            e = fmax(e, lw_test_max_row_rel_err(out[1][k], out[0][k], (size_t)n, (size_t)d, 1e-6));
        fprintf(stderr, "[gpu] %-36s %s of %d texts, 4 per batch: GPU vs CPU %.2e\n", g->name,
                g->encoder ? "own sentence embedding" : "mean-pooled blocks 0 and last", n, e);
        EXPECT(e < pair_tol(g), "%s", g->name);
        for (int b = 0; b < 2; b++)
            for (int k = 0; k < 2; k++) free(out[b][k]);
    }
    EXPECT_ALL_PASSED();
}

/* The GPU's block outputs (resid_post) and logits against the independent float64 forward pass
 * (no rounding emulated: F32 models are held to F32_REL, quantized ones as test_ref_real's
 * shipped-model check). The CPU's distance is printed beside it for scale. */
static void test_reference(void **state) {
    for (int i = 0; i < N_MODELS; i++) {
        gpu_model *g = &MODELS[i];
        if (g->encoder) continue;
        ref_llama *rl = NULL;
        ref_gemma3 *rg = NULL;
        lw_model_info info;
        lw_model_get_info(g->cpu, &info);
        if (!strcmp(info.arch, "llama")) rl = ref_llama_load(g->path);
        if (!strcmp(info.arch, "gemma3")) rg = ref_gemma3_load(g->path);
        if (!rl && !rg) {
            fprintf(stderr, "[gpu] %-36s no float64 reference for %s\n", g->name, info.arch);
            continue;
        }
        int32_t *tok;
        int n = prompt_tokens(g->cpu, &tok);
        const int d = info.n_embd, nv = info.n_vocab;
        float *resid = malloc(sizeof(float) * (size_t)(info.n_layer + 1) * n * d);
        float *logits = malloc(sizeof(float) * (size_t)n * nv);
        int rc = rl ? ref_llama_forward(rl, tok, NULL, n, resid, logits)
                    : ref_gemma3_forward(rg, tok, NULL, n, resid, logits, NULL, 0);
        assert_int_equal(rc, 0);
        double worst[2] = {0, 0}, lg[2];
        for (int b = 0; b < 2; b++) {
            sc_trace t;
            sc_trace_run(b ? g->gpu : g->cpu, tok, n, NULL, 0, &t);
            for (int l = 0; l < info.n_layer; l++)
                worst[b] = fmax(worst[b], lw_test_max_row_rel_err(t.at[LW_SITE_RESID_POST] + (size_t)l * n * d,
                                                                  resid + (size_t)(l + 1) * n * d, (size_t)n,
                                                                  (size_t)d, 1e-6));
            lg[b] = lw_test_max_row_rel_err(t.logits, logits, (size_t)n, (size_t)nv, 1e-6);
            sc_trace_free(&t);
        }
        fprintf(stderr, "[gpu] %-36s vs float64 reference, n=%d: block outputs GPU %.2e (CPU %.2e), logits GPU %.2e "
                        "(CPU %.2e)\n", g->name, n, worst[1], worst[0], lg[1], lg[0]);
        EXPECT(worst[1] < site_tol(g), "%s", g->name);
        EXPECT(lg[1] < logits_tol(g), "%s", g->name);
        ref_llama_free(rl);
        ref_gemma3_free(rg);
        free(resid);
        free(logits);
        free(tok);
    }
    EXPECT_ALL_PASSED();
}

/* The CLI end to end: `extract --gpu-layers 999` writes what `--gpu-layers 0` writes (within
 * the tolerances above), and records the setting in its output. */
static void test_cli_extract(void **state) {
    char input[1100]; /* lw_test_tmpfile's buffers rotate */
    snprintf(input, sizeof input, "%s", lw_test_tmpfile("gpu_texts.txt"));
    FILE *f = fopen(input, "w");
    assert_non_null(f);
    for (int i = 0; i < 6; i++) fprintf(f, "%s\n", TEXTS[i]);
    fclose(f);
    for (int i = 0; i < N_MODELS; i++) {
        gpu_model *g = &MODELS[i];
        lw_model_info info;
        lw_model_get_info(g->cpu, &info);
        char out[2][1100], args[4096];
        lw_st_file *st[2];
        for (int b = 0; b < 2; b++) {
            char name[64];
            snprintf(name, sizeof name, "%s_%d.safetensors", b ? "gpu" : "cpu", i);
            snprintf(out[b], sizeof out[b], "%s", lw_test_tmpfile(name));
            snprintf(args, sizeof args, "extract --model '%s' %s --input '%s' --out '%s' --gpu-layers %d --threads 2",
                     g->path, g->encoder ? "--pool model" : "--layers 0,last", input, out[b], b ? 999 : 0);
            char *err = NULL;
            int rc = lw_test_run_cli(args, NULL, &err);
            if (rc != 0) fail_msg("%s: exit %d: %s", args, rc, err ? err : "");
            free(err);
            st[b] = lw_st_open(out[b]);
            assert_non_null(st[b]);
        }
        char last[32];
        snprintf(last, sizeof last, "layer.%d", info.n_layer - 1);
        const char *names[2] = {g->encoder ? "pooled" : "layer.0", g->encoder ? NULL : last};
        double e = 0;
        for (int k = 0; k < 2 && names[k]; k++) {
            const lw_st_tensor *a = lw_st_find(st[1], names[k]), *c = lw_st_find(st[0], names[k]);
            if (!a || !c) fail_msg("%s: no tensor %s", g->name, names[k]);
            assert_int_equal(a->n_bytes, c->n_bytes);
            assert_int_equal(a->shape[0], 6);
            e = fmax(e, lw_test_max_row_rel_err(a->data, c->data, 6, (size_t)a->shape[1], 1e-6));
        }
        fprintf(stderr, "[gpu] %-36s latentwire extract --gpu-layers 999 vs 0: %.2e\n", g->name, e);
        EXPECT(e < pair_tol(g), "%s", g->name);
        lw_st_close(st[0]);
        lw_st_close(st[1]);
    }
    EXPECT_ALL_PASSED();
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Prefill throughput, CPU (every core) and GPU side by side in one process: printed, not held
 * to a number (BENCHMARKS.md quotes it with the machine). */
static void test_throughput(void **state) {
    enum { N_TOK = 512, REPS = 3 };
    for (int i = 0; i < N_MODELS; i++) {
        gpu_model *g = &MODELS[i];
        if (g->encoder) continue;
        lw_model_info info;
        lw_model_get_info(g->cpu, &info);
        int32_t *tok = malloc(sizeof(int32_t) * N_TOK), *base;
        int nb = prompt_tokens(g->cpu, &base);
        for (int j = 0; j < N_TOK; j++) tok[j] = base[1 + j % (nb - 1)];
        tok[0] = base[0];
        double sec[2];
        for (int b = 0; b < 2; b++) {
            lw_session_params sp = lw_session_default_params();
            sp.n_ctx = N_TOK;
            sp.n_threads = 0;
            lw_session *s = lw_session_new(b ? g->gpu : g->cpu, sp);
            assert_non_null(s);
            lw_span span = {.tokens = tok, .n = N_TOK};
            lw_seq_input in = {.seq = 0, .spans = &span, .n_spans = 1, .logits = LW_LOGITS_LAST};
            assert_int_equal(lw_session_run(s, &in, 1), 0); /* warm-up */
            double t0 = now();
            for (int r = 0; r < REPS; r++) {
                lw_session_clear(s, 0);
                assert_int_equal(lw_session_run(s, &in, 1), 0);
            }
            sec[b] = (now() - t0) / REPS;
            lw_session_free(s);
        }
        fprintf(stderr, "[gpu] %-36s prefill %d tokens: CPU %.1f ms (%.0f tok/s), GPU %.1f ms (%.0f tok/s): %.1fx\n",
                g->name, N_TOK, 1e3 * sec[0], N_TOK / sec[0], 1e3 * sec[1], N_TOK / sec[1], sec[0] / sec[1]);
        free(tok);
        free(base);
    }
}

int main(void) {
    ggml_backend_dev_t gpu = NULL;
    for (size_t i = 0; i < ggml_backend_dev_count() && !gpu; i++)
        if (ggml_backend_dev_type(ggml_backend_dev_get(i)) == GGML_BACKEND_DEVICE_TYPE_GPU) gpu = ggml_backend_dev_get(i);
    if (!gpu) {
        fprintf(stderr, "SKIP: ggml finds no GPU device (llama.cpp built without CUDA, or no GPU here)\n");
        return LW_TEST_SKIP;
    }
    GPU = gpu;
    fprintf(stderr, "[gpu] device %s: %s\n", ggml_backend_dev_name(gpu), ggml_backend_dev_description(gpu));
    add_model(lw_test_shared_path("models/stories260K.gguf"));
    add_model(lw_test_shared_path("models/tinystories656K.gguf"));
    static const char *REAL[] = {"gemma-3-270m", "smollm2-135m-instruct", "all-minilm-l6-v2",
                                 "qwen2.5-coder-1.5b-instruct"};
    for (size_t i = 0; i < sizeof REAL / sizeof *REAL; i++) add_model(lw_test_optional_model(REAL[i]));
    const char *extra = getenv("LW_GPU_TEST_MODELS");
    if (extra && *extra) {
        char *list = strdup(extra), *save = NULL;
        for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) add_model(p);
        free(list);
    }
    if (N_MODELS == 0) return LW_TEST_SKIP;
    /* LW_GPU_TEST_FILTER: run only the tests whose names match (cmocka's pattern, e.g. "*site*") */
    if (getenv("LW_GPU_TEST_FILTER")) cmocka_set_test_filter(getenv("LW_GPU_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sites_match_cpu),   cmocka_unit_test(test_site_checks_on_gpu),
        cmocka_unit_test(test_hook_write_matches_cpu), cmocka_unit_test(test_soft_tokens_match_cpu),
        cmocka_unit_test(test_generation),        cmocka_unit_test(test_pooled_match_cpu),
        cmocka_unit_test(test_reference),         cmocka_unit_test(test_cli_extract),
        cmocka_unit_test(test_throughput),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
