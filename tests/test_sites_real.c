/* Hook sites inside blocks and the logit lens on the real models (Gemma 3 270M: gemma3,
 * z 4 x 256 = 1024 wide against n_embd 640; SmolLM2-135M: llama), fetched by
 * scripts/fetch-models.sh; skipped (77) when neither is there. The checks are those of
 * test_sites.c (sitecheck.h); the logit lens is also held to an explained tolerance:
 *
 * Both files tie the output to token_embd, stored Q8_0. llama.cpp multiplies a Q8_0 matrix
 * by activations it first quantizes to Q8_0 (ggml-cpu's vec_dot_type for Q8_0), the lens by
 * the float activations. So lens - real = W (y - q(y)) + float rounding, with y the normed
 * row and q the Q8_0 round trip. The test computes that term from the file's own norm weight
 * and eps and requires the rest to be float rounding; it prints both. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ggml.h"
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

static real_model MODELS[2] = {{"gemma-3-270m", NULL, NULL}, {"smollm2-135m-instruct", NULL, NULL}};
static int N_MODELS;

static int setup(void **state) {
    for (int i = 0; i < 2; i++) {
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
    for (int i = 0; i < 2; i++) lw_model_free(MODELS[i].m);
    return 0;
}

static int prompts(lw_model *m, int32_t **tok, int32_t **donor) {
    int n = lw_tokenize_alloc(m, SENTENCE, true, tok);
    int nd = lw_tokenize_alloc(m, DONOR, true, donor);
    assert_true(n > 8 && nd > 8);
    return n < nd ? n : nd;
}

static void test_z_width(void **state) {
    for (int i = 0; i < 2; i++) {
        if (!MODELS[i].m) continue;
        lw_model_info in;
        lw_model_get_info(MODELS[i].m, &in);
        int want = !strcmp(in.arch, "gemma3") ? 4 * 256 : in.n_embd; /* SmolLM2: 9 x 64 = 576 */
        assert_int_equal(lw_site_width(MODELS[i].m, LW_SITE_Z), want);
        assert_int_equal(lw_site_width(MODELS[i].m, LW_SITE_ATTN_OUT), in.n_embd);
        fprintf(stderr, "  %s (%s): n_embd %d, hook_z width %d\n", MODELS[i].name, in.arch, in.n_embd, want);
    }
}

static void test_identities(void **state) {
    for (int i = 0; i < 2; i++) {
        if (!MODELS[i].m) continue;
        int32_t *tok, *donor;
        int n = prompts(MODELS[i].m, &tok, &donor);
        sc_check_identities(MODELS[i].m, MODELS[i].name, tok, n, 1e-6);
        sc_check_last_block_rows(MODELS[i].m, MODELS[i].name, tok, n, 1e-5);
        free(tok);
        free(donor);
    }
}

static void test_interventions(void **state) {
    for (int i = 0; i < 2; i++) {
        if (!MODELS[i].m) continue;
        int32_t *tok, *donor;
        int n = prompts(MODELS[i].m, &tok, &donor);
        sc_check_interventions(MODELS[i].m, MODELS[i].name, tok, donor, n, 1e-5);
        free(tok);
        free(donor);
    }
}

static void test_early_stop(void **state) {
    for (int i = 0; i < 2; i++) {
        if (!MODELS[i].m) continue;
        int32_t *tok, *donor;
        int n = prompts(MODELS[i].m, &tok, &donor);
        sc_check_early_stop(MODELS[i].m, MODELS[i].name, tok, n, 1e-6);
        free(tok);
        free(donor);
    }
}

/* output_norm.weight (F32) and the RMS eps from the file. */
static float *read_norm(const char *path, int d, float *eps) {
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
    /* tied, Q8_0: the premise of the explanation */
    assert_true(gguf_find_tensor(g, "output.weight") < 0);
    assert_int_equal(ggml_get_tensor(meta, "token_embd.weight")->type, GGML_TYPE_Q8_0);
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

static void test_logit_lens(void **state) {
    for (int i = 0; i < 2; i++) {
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
        float *w = read_norm(MODELS[i].path, d, &eps);
        float *e = malloc(sizeof(float) * (size_t)n * d), *y = malloc(sizeof(float) * (size_t)d),
              *yq = malloc(sizeof(float) * (size_t)d);
        void *q = malloc(ggml_row_size(GGML_TYPE_Q8_0, d));
        for (int p = 0; p < n; p++) {
            const float *x = sc_row(&t, LW_SITE_RESID_POST, t.n_layer - 1, p);
            double sum = 0;
            for (int j = 0; j < d; j++) sum += (double)(x[j] * x[j]);
            const float mean = (float)(sum / d), scale = 1.0f / sqrtf(mean + eps);
            for (int j = 0; j < d; j++) y[j] = (x[j] * scale) * w[j];
            ggml_quantize_chunk(GGML_TYPE_Q8_0, y, q, 0, 1, d, NULL);
            ggml_get_type_traits(GGML_TYPE_Q8_0)->to_float(q, yq, d);
            for (int j = 0; j < d; j++) e[(size_t)p * d + j] = y[j] - yq[j];
        }
        const float *W = lw_model_token_embeddings_cached(m); /* the matrix the lens uses */
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
                "  %s: lens - real logits: max %.3g; the Q8_0 quantization of the normed activations accounts for up "
                "to %.3g of it, leaving %.3g (float rounding)\n",
                name, err, explained, rest);
        /* the error is what the activation quantization explains, and what is left is rounding */
        assert_true(err <= explained + 1e-3);
        assert_true(rest < 1e-3);
        (void)rel;
        free(w);
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
    for (int i = 0; i < 2; i++) {
        MODELS[i].path = lw_test_real_model(MODELS[i].name);
        N_MODELS += MODELS[i].path != NULL;
    }
    if (N_MODELS == 0) return LW_TEST_SKIP;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_z_width),       cmocka_unit_test(test_identities), cmocka_unit_test(test_interventions),
        cmocka_unit_test(test_early_stop),    cmocka_unit_test(test_logit_lens),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
