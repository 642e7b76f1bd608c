/* Hook sites inside blocks and the logit lens on the real models (Gemma 3 270M: gemma3,
 * z 4 x 256 = 1024 wide against n_embd 640; SmolLM2-135M: llama; and, when fetched with
 * `make models-optional`, Qwen2.5-Coder-1.5B-Instruct: qwen2, biased Q/K/V, untied output),
 * fetched by scripts/fetch-models.sh; skipped (77) when none is there. The checks are those
 * of test_sites.c (sitecheck.h); the logit lens is also held to an explained tolerance:
 *
 * llama.cpp multiplies the output matrix by activations it first quantizes to the matrix's
 * vec_dot_type (Gemma and SmolLM2 tie it to token_embd, Q8_0: Q8_0; Qwen's output.weight is
 * Q6_K: Q8_K), the lens by the float activations. So lens - real = W (y - q(y)) + float
 * rounding, with y the normed row and q that round trip. The test computes that term from the
 * file's own norm weight, eps and output matrix and requires the rest to be float rounding;
 * it prints both. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ggml.h"
#include "ggml-cpu.h"
#include "gguf.h"
#include "latentwire/runtime.h"
#include "linalg/linalg.h"
#include "sitecheck.h"
#include "support/testutil.h"

static const char *SENTENCE = "Once upon a time, there was a little dog named Max who liked to run.";
static const char *DONOR = "The big red ball rolled down the hill and the cat ran after it fast.";

typedef struct {
    const char *name, *path;
    lw_model *m;
} real_model;

enum { N_REAL = 3 }; /* the last is optional (make models-optional) */
static real_model MODELS[N_REAL] = {
    {"gemma-3-270m", NULL, NULL}, {"smollm2-135m-instruct", NULL, NULL}, {"qwen2.5-coder-1.5b-instruct", NULL, NULL}};
static int N_MODELS;

static int setup(void **state) {
    for (int i = 0; i < N_REAL; i++) {
        if (!MODELS[i].path) continue;
        MODELS[i].m = lw_model_load(MODELS[i].path, lw_model_default_params());
        if (!MODELS[i].m) {
            fprintf(stderr, "%s\n", lw_last_error());
            return -1;
        }
    }
    return 0;
}

static int teardown(void **state) {
    for (int i = 0; i < N_REAL; i++) lw_model_free(MODELS[i].m);
    return 0;
}

static int prompts(lw_model *m, int32_t **tok, int32_t **donor) {
    int n = lw_tokenize_alloc(m, SENTENCE, true, tok);
    int nd = lw_tokenize_alloc(m, DONOR, true, donor);
    assert_true(n > 8 && nd > 8);
    return n < nd ? n : nd;
}

/* Whether the architecture names its attention output (qwen2's graph does not). */
static bool has_attn_out(lw_model *m) {
    if (lw_site_width(m, LW_SITE_ATTN_OUT) > 0) return true;
    lw_clear_error();
    return false;
}

/* An architecture without hook_attn_out (Qwen 2): that site is refused naming site and
 * architecture, and the sites it has keep the block's identities: resid_post = resid_mid +
 * mlp_out at every block and position, and resid_mid - resid_pre (the attention output) is
 * not zero (so resid_mid is not the block input under another name). */
static void test_partial_sites(void **state) {
    for (int i = 0; i < N_REAL; i++) {
        if (!MODELS[i].m || has_attn_out(MODELS[i].m)) continue;
        lw_model *m = MODELS[i].m;
        lw_model_info in;
        lw_model_get_info(m, &in);
        assert_true(lw_site_width(m, LW_SITE_ATTN_OUT) < 0);
        assert_non_null(strstr(lw_last_error(), "hook_attn_out"));
        assert_non_null(strstr(lw_last_error(), in.arch));
        lw_clear_error();
        int32_t *tok, *donor;
        int n = prompts(m, &tok, &donor);
        sc_trace t;
        sc_trace_run(m, tok, n, NULL, 0, &t);
        double worst = 0, attn_min = INFINITY;
        float *pre = malloc(sizeof(float) * (size_t)t.d), *sum = malloc(sizeof(float) * (size_t)t.d);
        for (int l = 0; l < t.n_layer; l++)
            for (int p = 0; p < n; p++) {
                const float *mid = sc_row(&t, LW_SITE_RESID_MID, l, p), *mlp = sc_row(&t, LW_SITE_MLP_OUT, l, p);
                for (int j = 0; j < t.d; j++) sum[j] = mid[j] + mlp[j];
                double e = lw_test_max_rel_err(sum, sc_row(&t, LW_SITE_RESID_POST, l, p), (size_t)t.d, 1e-6);
                if (e > worst) worst = e;
                sc_resid_pre(m, &t, l, p, pre);
                double a = 0;
                for (int j = 0; j < t.d; j++) a = fmax(a, fabs((double)mid[j] - pre[j]));
                if (a < attn_min) attn_min = a;
            }
        fprintf(stderr, "  %s (%s): no hook_attn_out (refused); resid_mid + mlp_out vs resid_post: max rel err %.2e; "
                        "smallest max |resid_mid - resid_pre| over blocks and positions %.3g\n",
                MODELS[i].name, in.arch, worst, attn_min);
        assert_true(worst < 1e-5);
        assert_true(attn_min > 1e-3);
        free(pre);
        free(sum);
        sc_trace_free(&t);
        free(tok);
        free(donor);
    }
}

static void test_z_width(void **state) {
    for (int i = 0; i < N_REAL; i++) {
        if (!MODELS[i].m) continue;
        lw_model_info in;
        lw_model_get_info(MODELS[i].m, &in);
        int want = !strcmp(in.arch, "gemma3") ? 4 * 256 : in.n_embd; /* SmolLM2: 9 x 64 = 576 */
        assert_int_equal(lw_site_width(MODELS[i].m, LW_SITE_Z), want);
        if (has_attn_out(MODELS[i].m)) assert_int_equal(lw_site_width(MODELS[i].m, LW_SITE_ATTN_OUT), in.n_embd);
        fprintf(stderr, "  %s (%s): n_embd %d, hook_z width %d\n", MODELS[i].name, in.arch, in.n_embd, want);
    }
}

static void test_identities(void **state) {
    for (int i = 0; i < N_REAL; i++) {
        if (!MODELS[i].m || !has_attn_out(MODELS[i].m)) continue;
        int32_t *tok, *donor;
        int n = prompts(MODELS[i].m, &tok, &donor);
        sc_check_identities(MODELS[i].m, MODELS[i].name, tok, n, 1e-6);
        sc_check_last_block_rows(MODELS[i].m, MODELS[i].name, tok, n, 1e-5);
        free(tok);
        free(donor);
    }
}

static void test_interventions(void **state) {
    for (int i = 0; i < N_REAL; i++) {
        if (!MODELS[i].m || !has_attn_out(MODELS[i].m)) continue;
        int32_t *tok, *donor;
        int n = prompts(MODELS[i].m, &tok, &donor);
        sc_check_interventions(MODELS[i].m, MODELS[i].name, tok, donor, n, 1e-5);
        free(tok);
        free(donor);
    }
}

static void test_early_stop(void **state) {
    for (int i = 0; i < N_REAL; i++) {
        if (!MODELS[i].m || !has_attn_out(MODELS[i].m)) continue;
        int32_t *tok, *donor;
        int n = prompts(MODELS[i].m, &tok, &donor);
        sc_check_early_stop(MODELS[i].m, MODELS[i].name, tok, n, 1e-6);
        free(tok);
        free(donor);
    }
}

/* output_norm.weight (F32), the RMS eps, and the type the output matrix is stored in (output.weight,
 * or token_embd.weight when the file ties them) from the file. */
static float *read_norm(const char *path, int d, float *eps, enum ggml_type *out_type) {
    struct ggml_context *meta = NULL;
    struct gguf_init_params gp = {.no_alloc = true, .ctx = &meta};
    struct gguf_context *g = gguf_init_from_file(path, gp);
    assert_non_null(g);
    char key[128];
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", gguf_get_val_str(g, gguf_find_key(g, "general.architecture")));
    *eps = gguf_get_val_f32(g, gguf_find_key(g, key));
    int64_t id = gguf_find_tensor(g, "output_norm.weight");
    assert_true(id >= 0);
    assert_int_equal(ggml_get_tensor(meta, "output_norm.weight")->type, GGML_TYPE_F32);
    const bool tied = gguf_find_tensor(g, "output.weight") < 0;
    *out_type = ggml_get_tensor(meta, tied ? "token_embd.weight" : "output.weight")->type;
    float *w = malloc(sizeof(float) * (size_t)d);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseeko(f, (off_t)(gguf_get_data_offset(g) + gguf_get_tensor_offset(g, id)), SEEK_SET), 0);
    assert_int_equal(fread(w, sizeof(float), (size_t)d, f), (size_t)d);
    fclose(f);
    gguf_free(g);
    ggml_free(meta);
    return w;
}

/* A row back to floats. ggml has no to_float for Q8_K (the activations' type for K-quant
 * matrices): its block is a float scale, 256 int8 values and 16 int16 sums (ggml-common.h). */
static void dequantize(enum ggml_type type, const void *q, float *out, int d) {
    if (type != GGML_TYPE_Q8_K) {
        ggml_get_type_traits(type)->to_float(q, out, d);
        return;
    }
    const int bs = (int)ggml_blck_size(type);
    const size_t block = ggml_type_size(type);
    assert_int_equal(block, sizeof(float) + (size_t)bs + sizeof(int16_t) * (size_t)(bs / 16));
    for (int b = 0; b < d / bs; b++) {
        const unsigned char *p = (const unsigned char *)q + (size_t)b * block;
        float scale;
        memcpy(&scale, p, sizeof scale);
        const int8_t *qs = (const int8_t *)(p + sizeof(float));
        for (int j = 0; j < bs; j++) out[b * bs + j] = scale * (float)qs[j];
    }
}

static void test_logit_lens(void **state) {
    for (int i = 0; i < N_REAL; i++) {
        if (!MODELS[i].m) continue;
        lw_model *m = MODELS[i].m;
        const char *name = MODELS[i].name;
        int32_t *tok, *donor;
        int n = prompts(m, &tok, &donor);
        double rel, err = sc_check_lens(m, name, tok, n, &rel);

        /* the explanation: lens - real = W (y - q8_0(y)) + float rounding */
        sc_trace t;
        sc_trace_run(m, tok, n, NULL, 0, &t);
        const int d = t.d, nv = t.n_vocab;
        float eps;
        enum ggml_type wt;
        float *w = read_norm(MODELS[i].path, d, &eps, &wt);
        /* the activations' quantization in llama.cpp's CPU matmul with that matrix */
        const enum ggml_type qt = ggml_get_type_traits_cpu(wt)->vec_dot_type;
        assert_int_equal(d % ggml_blck_size(qt), 0);
        float *e = malloc(sizeof(float) * (size_t)n * d), *y = malloc(sizeof(float) * (size_t)d),
              *yq = malloc(sizeof(float) * (size_t)d);
        void *q = malloc(ggml_row_size(qt, d));
        for (int p = 0; p < n; p++) {
            const float *x = sc_row(&t, LW_SITE_RESID_POST, t.n_layer - 1, p);
            double sum = 0;
            for (int j = 0; j < d; j++) sum += (double)(x[j] * x[j]);
            const float mean = (float)(sum / d), scale = 1.0f / sqrtf(mean + eps);
            for (int j = 0; j < d; j++) y[j] = (x[j] * scale) * w[j];
            ggml_get_type_traits_cpu(qt)->from_float(y, q, d);
            dequantize(qt, q, yq, d);
            for (int j = 0; j < d; j++) e[(size_t)p * d + j] = y[j] - yq[j];
        }
        int wv, wd;
        float *W = lw_model_output_matrix(m, &wv, &wd); /* the matrix the lens uses */
        assert_true(W && wv == nv && wd == d);
        float *delta = malloc(sizeof(float) * (size_t)n * nv), *lens = malloc(sizeof(float) * (size_t)n * nv);
        lw_la_sgemm(false, true, n, nv, d, 1.0f, e, W, 0.0f, delta);
        assert_int_equal(lw_logit_lens(m, sc_row(&t, LW_SITE_RESID_POST, t.n_layer - 1, 0), n, lens), 0);
        double explained = 0, rest = 0;
        for (size_t k = 0; k < (size_t)n * nv; k++) {
            if (fabs(delta[k]) > explained) explained = fabs(delta[k]);
            double r = fabs((double)lens[k] - t.logits[k] - delta[k]);
            if (r > rest) rest = r;
        }
        fprintf(stderr,
                "  %s: lens - real logits: max %.3g; the %s quantization of the normed activations accounts for up "
                "to %.3g of it, leaving %.3g (float rounding)\n",
                name, err, ggml_type_name(qt), explained, rest);
        /* the error is what the activation quantization explains, and what is left is rounding */
        assert_true(err <= explained + 1e-3);
        assert_true(rest < 1e-3);
        (void)rel;
        free(w);
        free(W);
        free(e);
        free(y);
        free(yq);
        free(q);
        free(delta);
        free(lens);
        sc_trace_free(&t);
        free(tok);
        free(donor);
    }
}

int main(void) {
    for (int i = 0; i < N_REAL; i++) {
        MODELS[i].path = i == N_REAL - 1 ? lw_test_optional_model(MODELS[i].name) : lw_test_real_model(MODELS[i].name);
        N_MODELS += MODELS[i].path != NULL;
    }
    if (N_MODELS == 0) return LW_TEST_SKIP;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_z_width),       cmocka_unit_test(test_identities), cmocka_unit_test(test_interventions),
        cmocka_unit_test(test_early_stop),    cmocka_unit_test(test_logit_lens), cmocka_unit_test(test_partial_sites),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
