/* Validates the naive reference forward pass (support/ref_llama) and the synthetic model
 * writer (support/synth_model) against llama.cpp itself, through its raw C API.
 *
 * llama.cpp runs one batch with every position's logits requested, an F32 KV cache and no
 * flash attention (so its attention is plain f32 math too), and an eval callback copies out
 * each block's output ("l_out-<l>") to compare with the reference's residual stream.
 * Compared: synthetic F32 models (tied + GQA, untied + MHA, a long sequence, embeddings
 * as input), F16 and Q8_0 synthetic models (looser: llama.cpp rounds activations to the
 * weight's dot type), and both real models in ../shared. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-backend.h"
#include "ggml.h"
#include "llama.h"
#include "support/ref_llama.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static const char *SENTENCE = "Once upon a time, there was a little dog";

/* Keep llama.cpp quiet except for real errors. */
static void quiet_log(enum ggml_log_level level, const char *text, void *user_data) {
    (void)user_data;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static int group_setup(void **state) {
    (void)state;
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    llama_backend_free();
    return 0;
}

/* ---------------------------------------------------------------- llama.cpp side ---- */

/* Collects the "l_out-<l>" tensors (output of block l) into resid[l + 1]. */
typedef struct {
    float *resid; /* (n_layer + 1) x n x n_embd */
    int n_layer, n, n_embd;
    int n_seen;
} lout_capture;

static bool capture_l_out(struct ggml_tensor *t, bool ask, void *user_data) {
    lout_capture *c = user_data;
    if (strncmp(t->name, "l_out-", 6) != 0) return !ask; /* not ours: don't observe, continue */
    if (ask) return true;
    const int il = atoi(t->name + 6);
    if (il >= 0 && il < c->n_layer && t->type == GGML_TYPE_F32 && t->ne[0] == c->n_embd && t->ne[1] == c->n &&
        ggml_is_contiguous(t)) {
        ggml_backend_tensor_get(t, c->resid + (size_t)(il + 1) * c->n * c->n_embd, 0, ggml_nbytes(t));
        c->n_seen++;
    }
    return true;
}

typedef struct {
    struct llama_model *model;
    int n_vocab, n_embd, n_layer;
} llama_handle;

static llama_handle llama_open(const char *path) {
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    llama_handle h = {0};
    h.model = llama_model_load_from_file(path, mp);
    assert_non_null(h.model);
    h.n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(h.model));
    h.n_embd = llama_model_n_embd(h.model);
    h.n_layer = llama_model_n_layer(h.model);
    return h;
}

/* Tokenizes text with BOS, as llama.cpp does for the model. Returns the count. */
static int llama_tokens(const llama_handle *h, const char *text, int32_t *out, int max) {
    int n = llama_tokenize(llama_model_get_vocab(h->model), text, (int32_t)strlen(text), out, max, true, false);
    assert_true(n > 0);
    return n;
}

/* One sequence from position 0 through llama.cpp: tokens, or embeddings when embd != NULL.
 * logits: n x n_vocab; resid (optional): (n_layer + 1) x n x n_embd, rows 1.. filled. */
static void llama_forward(const llama_handle *h, const int32_t *tokens, const float *embd, int n, float *logits,
                          float *resid) {
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(n > 512 ? n : 512);
    cp.n_batch = cp.n_ctx;
    cp.n_ubatch = cp.n_ctx; /* one micro-batch: the whole sequence in one graph */
    cp.n_seq_max = 1;
    cp.n_threads = 2;
    cp.n_threads_batch = 2;
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    lout_capture cap = {.resid = resid, .n_layer = h->n_layer, .n = n, .n_embd = h->n_embd};
    if (resid) {
        cp.cb_eval = capture_l_out;
        cp.cb_eval_user_data = &cap;
    }
    struct llama_context *ctx = llama_init_from_model(h->model, cp);
    assert_non_null(ctx);

    struct llama_batch batch = llama_batch_init(n, embd ? h->n_embd : 0, 1);
    batch.n_tokens = n;
    for (int i = 0; i < n; i++) {
        if (embd) {
            memcpy(batch.embd + (size_t)i * h->n_embd, embd + (size_t)i * h->n_embd, (size_t)h->n_embd * sizeof(float));
        } else {
            batch.token[i] = tokens[i];
        }
        batch.pos[i] = i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = 1;
    }
    cap.n_seen = 0;
    assert_int_equal(llama_decode(ctx, batch), 0);
    for (int i = 0; i < n; i++) {
        const float *row = llama_get_logits_ith(ctx, i);
        assert_non_null(row);
        memcpy(logits + (size_t)i * h->n_vocab, row, (size_t)h->n_vocab * sizeof(float));
    }
    if (resid) assert_int_equal(cap.n_seen, h->n_layer);
    llama_batch_free(batch);
    llama_free(ctx);
}

/* ---------------------------------------------------------------- comparison -------- */

typedef struct {
    double logits_rel;    /* max |ref - llama| / max |llama| over all logits */
    double resid_rel;     /* worst block: same measure per block output */
    double argmax_agree;  /* fraction of positions with the same top token */
} comparison;

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) {
        if (v[i] > v[best]) best = i;
    }
    return best;
}

/* Runs the reference and llama.cpp on the same input and measures how far apart they are. */
static comparison compare_with_llama(const char *label, const char *path, const int32_t *tokens, const float *embd,
                                     int n) {
    llama_handle h = llama_open(path);
    ref_llama *ref = ref_llama_load(path);
    assert_non_null(ref);
    assert_int_equal(ref_llama_n_vocab(ref), h.n_vocab);
    assert_int_equal(ref_llama_n_embd(ref), h.n_embd);
    assert_int_equal(ref_llama_n_layer(ref), h.n_layer);

    const size_t n_logits = (size_t)n * h.n_vocab, block = (size_t)n * h.n_embd;
    float *ref_logits = malloc(n_logits * sizeof(float)), *cpp_logits = malloc(n_logits * sizeof(float));
    float *ref_resid = calloc((h.n_layer + 1) * block, sizeof(float));
    float *cpp_resid = calloc((h.n_layer + 1) * block, sizeof(float));
    assert_true(ref_logits && cpp_logits && ref_resid && cpp_resid);

    assert_int_equal(ref_llama_forward(ref, tokens, embd, n, ref_resid, ref_logits), 0);
    llama_forward(&h, tokens, embd, n, cpp_logits, cpp_resid);

    comparison c = {0};
    /* each position's row on its own scale (relative L2, testutil): no row sets another's scale */
    c.logits_rel = lw_test_max_row_rel_err(ref_logits, cpp_logits, (size_t)n, (size_t)h.n_vocab, 1e-6);
    for (int l = 1; l <= h.n_layer; l++) {
        double e = lw_test_max_row_rel_err(ref_resid + l * block, cpp_resid + l * block, (size_t)n, (size_t)h.n_embd, 1e-6);
        if (e > c.resid_rel) c.resid_rel = e;
    }
    int agree = 0;
    for (int t = 0; t < n; t++) {
        agree += argmax(ref_logits + (size_t)t * h.n_vocab, h.n_vocab) ==
                 argmax(cpp_logits + (size_t)t * h.n_vocab, h.n_vocab);
    }
    c.argmax_agree = (double)agree / n;
    /* A degenerate model would make agreement meaningless: logits must actually vary. */
    float lo = cpp_logits[0], hi = cpp_logits[0];
    for (size_t i = 0; i < n_logits; i++) {
        if (cpp_logits[i] < lo) lo = cpp_logits[i];
        if (cpp_logits[i] > hi) hi = cpp_logits[i];
    }
    assert_true(hi - lo > 1.0f);
    fprintf(stderr, "[ref_llama] %-28s n=%3d  logits worst-row L2 rel %.2e  block outputs worst-row L2 rel %.2e  "
                    "argmax agree %.0f%%  (logit range %.1f)\n",
            label, n, c.logits_rel, c.resid_rel, 100.0 * c.argmax_agree, (double)(hi - lo));

    free(ref_logits);
    free(cpp_logits);
    free(ref_resid);
    free(cpp_resid);
    ref_llama_free(ref);
    llama_model_free(h.model);
    return c;
}

/* Writes a synthetic model and compares on SENTENCE (tokenized by llama.cpp). */
static comparison compare_synth(const char *label, const char *file, const lw_synth_params *p) {
    const char *path = lw_test_tmpfile(file);
    assert_int_equal(lw_synth_write(path, p), 0);
    llama_handle h = llama_open(path);
    int32_t tokens[64];
    const int n = llama_tokens(&h, SENTENCE, tokens, 64);
    llama_model_free(h.model);
    /* The synthetic vocabulary has the sentence's words as pieces: BOS, 9 words and ",".
     * One token per word, not per character, shows llama.cpp reads it as a working SPM
     * vocabulary. */
    assert_int_equal(tokens[0], 1);
    assert_int_equal(n, 11);
    return compare_with_llama(label, path, tokens, NULL, n);
}

/* ---------------------------------------------------------------- tests ------------- */

static void test_synth_writer_is_deterministic_and_checks_params(void **state) {
    (void)state;
    lw_synth_params p = lw_synth_default_params();
    p.n_layer = 1;
    const char *a = lw_test_tmpfile("det_a.gguf"), *b = lw_test_tmpfile("det_b.gguf"),
               *c = lw_test_tmpfile("det_c.gguf");
    assert_int_equal(lw_synth_write(a, &p), 0);
    assert_int_equal(lw_synth_write(b, &p), 0);
    p.seed += 1;
    assert_int_equal(lw_synth_write(c, &p), 0);
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb"), *fc = fopen(c, "rb");
    assert_true(fa && fb && fc);
    int same_ab = 1, same_ac = 1, ca, cb, cc;
    do {
        ca = fgetc(fa);
        cb = fgetc(fb);
        cc = fgetc(fc);
        if (ca != cb) same_ab = 0;
        if (ca != cc) same_ac = 0;
    } while (ca != EOF || cb != EOF || cc != EOF);
    fclose(fa);
    fclose(fb);
    fclose(fc);
    assert_true(same_ab);
    assert_false(same_ac);

    lw_synth_params bad = lw_synth_default_params();
    bad.n_vocab = LW_SYNTH_MIN_VOCAB - 1;
    assert_int_equal(lw_synth_write(lw_test_tmpfile("bad.gguf"), &bad), -1);
    bad = lw_synth_default_params();
    bad.wtype = GGML_TYPE_Q8_0;
    bad.n_embd = 48; /* not a multiple of the Q8_0 block (32) */
    bad.n_head = 4;
    assert_int_equal(lw_synth_write(lw_test_tmpfile("bad.gguf"), &bad), -1);
    assert_false(lw_test_file_exists(lw_test_tmpfile("bad.gguf")));
    bad = lw_synth_default_params();
    bad.n_head_kv = 3; /* 4 heads cannot share 3 kv heads */
    assert_int_equal(lw_synth_write(lw_test_tmpfile("bad.gguf"), &bad), -1);
}

static void test_synth_f32_tied_gqa(void **state) {
    (void)state;
    lw_synth_params p = lw_synth_default_params(); /* tied, 4 heads / 2 kv heads */
    comparison c = compare_synth("synth f32 tied gqa", "f32_tied.gguf", &p);
    assert_true(c.logits_rel < 1e-4);
    assert_true(c.resid_rel < 1e-4);
    assert_true(c.argmax_agree == 1.0);
}

static void test_synth_f32_untied_mha(void **state) {
    (void)state;
    lw_synth_params p = lw_synth_default_params();
    p.n_vocab = 1000;
    p.n_embd = 96;
    p.n_head = 6; /* head dim 16 */
    p.n_head_kv = 6;
    p.n_layer = 3;
    p.n_ff = 256;
    p.rms_eps = 1e-6f;
    p.rope_freq_base = 500000.0f;
    p.tied = false;
    p.seed = 7;
    comparison c = compare_synth("synth f32 untied mha", "f32_untied.gguf", &p);
    assert_true(c.logits_rel < 1e-4);
    assert_true(c.resid_rel < 1e-4);
    assert_true(c.argmax_agree == 1.0);
}

/* 200 positions: exercises RoPE at large angles and long causal softmaxes. */
static void test_synth_f32_long_sequence(void **state) {
    (void)state;
    lw_synth_params p = lw_synth_default_params();
    p.n_head = 8; /* head dim 8, 4 query heads per kv head */
    p.n_head_kv = 2;
    p.seed = 11;
    const char *path = lw_test_tmpfile("f32_long.gguf");
    assert_int_equal(lw_synth_write(path, &p), 0);
    enum { N = 200 };
    int32_t tokens[N];
    uint64_t s = 12345;
    tokens[0] = 1;
    for (int i = 1; i < N; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        tokens[i] = (int32_t)(3 + (s >> 33) % (uint64_t)(p.n_vocab - 3));
    }
    comparison c = compare_with_llama("synth f32 200 tokens", path, tokens, NULL, N);
    assert_true(c.logits_rel < 1e-4);
    assert_true(c.resid_rel < 1e-4);
}

/* Input embeddings instead of tokens (the path latent communication uses): random rows,
 * not rows of token_embd, fed to llama.cpp through batch.embd. */
static void test_synth_f32_embeddings_input(void **state) {
    (void)state;
    lw_synth_params p = lw_synth_default_params();
    p.seed = 99;
    const char *path = lw_test_tmpfile("f32_embd.gguf");
    assert_int_equal(lw_synth_write(path, &p), 0);
    enum { N = 9 };
    float *embd = malloc((size_t)N * p.n_embd * sizeof(float));
    assert_non_null(embd);
    uint64_t s = 777;
    for (int i = 0; i < N * p.n_embd; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        embd[i] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5); /* U(-0.5, 0.5) */
    }
    comparison c = compare_with_llama("synth f32 embeddings input", path, NULL, embd, N);
    assert_true(c.logits_rel < 1e-4);
    assert_true(c.resid_rel < 1e-4);

    /* Feeding the embedding rows of some tokens must equal feeding the tokens. */
    ref_llama *ref = ref_llama_load(path);
    assert_non_null(ref);
    const int32_t tokens[3] = {1, 300, 450};
    const size_t nv = (size_t)3 * p.n_vocab, d = (size_t)p.n_embd;
    float *resid = malloc((size_t)(p.n_layer + 1) * 3 * d * sizeof(float));
    float *logits_tok = malloc(nv * sizeof(float)), *logits_emb = malloc(nv * sizeof(float));
    assert_true(resid && logits_tok && logits_emb);
    assert_int_equal(ref_llama_forward(ref, tokens, NULL, 3, resid, logits_tok), 0);
    assert_int_equal(ref_llama_forward(ref, NULL, resid /* block 0 input = embedding rows */, 3, NULL, logits_emb), 0);
    assert_memory_equal(logits_tok, logits_emb, nv * sizeof(float));
    const int32_t out_of_range = p.n_vocab;
    assert_int_equal(ref_llama_forward(ref, &out_of_range, NULL, 1, NULL, logits_tok), -1);
    free(resid);
    free(logits_tok);
    free(logits_emb);
    ref_llama_free(ref);
    free(embd);
}

/* F16 weights: llama.cpp converts activations to F16 before each matmul. */
static void test_synth_f16(void **state) {
    (void)state;
    lw_synth_params p = lw_synth_default_params();
    p.wtype = GGML_TYPE_F16;
    p.tied = false;
    comparison c = compare_synth("synth f16 untied", "f16.gguf", &p);
    assert_true(c.logits_rel < 5e-3); /* measured 9e-4 */
    assert_true(c.resid_rel < 5e-3);
}

/* Q8_0 weights: the reference uses exactly the dequantized weights, but llama.cpp also
 * quantizes each activation row to Q8_0 for the dot products, so only approximate
 * agreement is possible. */
static void test_synth_q8_0(void **state) {
    (void)state;
    lw_synth_params p = lw_synth_default_params();
    p.wtype = GGML_TYPE_Q8_0;
    p.n_embd = 128;
    p.n_head = 8;
    p.n_head_kv = 4;
    p.n_ff = 320;
    comparison c = compare_synth("synth q8_0 tied", "q8_0.gguf", &p);
    assert_true(c.logits_rel < 5e-2); /* worst row, relative L2 */
    assert_true(c.resid_rel < 5e-2);
    assert_true(c.argmax_agree >= 0.75);
}

static void check_real_model(const char *rel, const char *label, const int32_t *expected, int n_expected) {
    const char *path = lw_test_shared_path(rel);
    if (!path) {
        skip();
        return;
    }
    llama_handle h = llama_open(path);
    int32_t tokens[64];
    const int n = llama_tokens(&h, SENTENCE, tokens, 64);
    llama_model_free(h.model);
    /* The README's tokenization: the comparison runs on the real text, not on garbage. */
    assert_int_equal(n, n_expected);
    for (int i = 0; i < n; i++) assert_int_equal(tokens[i], expected[i]);
    comparison c = compare_with_llama(label, path, tokens, NULL, n);
    assert_true(c.logits_rel < 1e-4);
    assert_true(c.resid_rel < 1e-4);
    assert_true(c.argmax_agree == 1.0);
}

static void test_real_stories260K(void **state) {
    (void)state;
    const int32_t expected[] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 400, 428};
    check_real_model("models/stories260K.gguf", "stories260K", expected, 12);
}

static void test_real_tinystories656K(void **state) {
    (void)state;
    const int32_t expected[] = {1, 80, 147, 201, 282, 215, 286, 229, 604};
    check_real_model("models/tinystories656K.gguf", "tinystories656K", expected, 9);
}

static void test_ref_load_rejects_bad_files(void **state) {
    (void)state;
    const char *path = lw_test_tmpfile("not_a_model.gguf");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("this is not gguf", f);
    fclose(f);
    assert_null(ref_llama_load(path));
    assert_null(ref_llama_load(lw_test_tmpfile("does_not_exist.gguf")));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synth_writer_is_deterministic_and_checks_params),
        cmocka_unit_test(test_synth_f32_tied_gqa),
        cmocka_unit_test(test_synth_f32_untied_mha),
        cmocka_unit_test(test_synth_f32_long_sequence),
        cmocka_unit_test(test_synth_f32_embeddings_input),
        cmocka_unit_test(test_synth_f16),
        cmocka_unit_test(test_synth_q8_0),
        cmocka_unit_test(test_real_stories260K),
        cmocka_unit_test(test_real_tinystories656K),
        cmocka_unit_test(test_ref_load_rejects_bad_files),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, group_setup, group_teardown));
}
