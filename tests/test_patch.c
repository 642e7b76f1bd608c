/* Activation patching (latentwire/patch.h) on a synthetic F32 llama model:
 *  - the floor (no vectors) equals a forward pass run by hand through the runtime ([BOS], then
 *    the text, as the channel feeds pieces);
 *  - at every layer, the sender's own rows of the very text the receiver reads, written over
 *    every position of it, reproduce the floor's logits bit for bit (replace; at the last block
 *    to float rounding, since llama.cpp computes only the rows asked for there and the floor asks
 *    for one), and so do its last row alone and adding a zero vector at the last position;
 *  - a vector written at the last position of the last block gives the logit lens of that
 *    vector (replace), or of the receiver's own row + scale * vector (add): what the final
 *    norm and unembedding make of the last position alone, computed independently of the run;
 *  - pooled = the mean of the text's rows (the BOS is its own piece, never among them);
 *  - several layers read in one run (lw_patch_read_layers, in any order, repeats allowed) are
 *    byte for byte the reads of one run per layer, for T = 1, T = n and pooled;
 *  - a layer out of range, T longer than the text and more vectors than prompt positions are
 *    one clear error each. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/patch.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static const char *TEXT = "Once upon a time, there was a little dog";
static const char *DONOR = "The cat sat on the mat and ate a big fish";

static lw_model *M;
static lw_session *S;
static int V, D, L;

static int setup(void **state) {
    (void)state;
    lw_synth_params p = lw_synth_default_params();
    p.n_layer = 4;
    const char *path = lw_test_tmpfile("patch.gguf");
    if (lw_synth_write(path, &p) != 0) return -1;
    M = lw_model_load(path, lw_model_default_params());
    if (!M) return -1;
    lw_model_info in;
    lw_model_get_info(M, &in);
    V = in.n_vocab;
    D = in.n_embd;
    L = in.n_layer;
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = 2;
    S = lw_session_new(M, sp);
    return S ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    lw_session_free(S);
    lw_model_free(M);
    return 0;
}

/* Tokens of a text read as the channel's second piece (no BOS). */
static int n_tokens(const char *text) {
    int32_t *t;
    int n = lw_tokenize_special_alloc(M, text, false, &t);
    free(t);
    return n;
}

static float *floor_logits(const char *prompt, char **answer) {
    float *lg = malloc(sizeof(float) * V);
    lw_patch_params p = lw_patch_default_params();
    if (lw_patch_answer_logits(S, prompt, 0, NULL, 0, &p, answer, lg) != 0) fail_msg("%s", lw_last_error());
    return lg;
}

static void test_floor_is_plain_forward(void **state) {
    (void)state;
    char *ans;
    float *lg = floor_logits(TEXT, &ans);
    /* by hand: [BOS] as one run, the text as the next, logits at its last position */
    int32_t *tok;
    int n = lw_tokenize_special_alloc(M, TEXT, false, &tok);
    lw_model_info in;
    lw_model_get_info(M, &in);
    lw_session_clear(S, 0);
    lw_span b = {.tokens = &in.bos, .n = 1}, t = {.tokens = tok, .n = n};
    lw_seq_input i1 = {.seq = 0, .spans = &b, .n_spans = 1, .logits = LW_LOGITS_LAST};
    lw_seq_input i2 = {.seq = 0, .spans = &t, .n_spans = 1, .logits = LW_LOGITS_LAST};
    assert_int_equal(lw_session_run(S, &i1, 1), 0);
    assert_int_equal(lw_session_run(S, &i2, 1), 0);
    const float *ref = lw_session_logits(S, 0, n);
    assert_non_null(ref);
    assert_memory_equal(lg, ref, sizeof(float) * V);
    /* the greedy answer's first token is the argmax */
    int32_t first;
    lw_gen_params gp = lw_gen_default_params();
    gp.max_tokens = 1;
    gp.stop_at_eos = false;
    assert_int_equal(lw_generate(S, 0, NULL, 0, &gp, &first, 1), 1);
    assert_int_equal(first, lw_argmax(ref, V));
    lw_session_clear(S, 0);
    free(tok);
    free(ans);
    free(lg);
}

static void test_self_patch_every_layer_is_identity(void **state) {
    (void)state;
    char *ans0;
    float *lg0 = floor_logits(TEXT, &ans0);
    int n = n_tokens(TEXT);
    assert_true(n > 3);
    float *rows = malloc(sizeof(float) * (size_t)n * D), *lg = malloc(sizeof(float) * V);
    float *zero = calloc((size_t)D, sizeof(float));
    lw_patch_params p = lw_patch_default_params();
    for (int l = 0; l < L; l++) {
        p.positions = n;
        p.op = LW_PATCH_REPLACE;
        assert_int_equal(lw_patch_read(S, TEXT, l, &p, rows), 0);
        char *ans;
        assert_int_equal(lw_patch_answer_logits(S, TEXT, l, rows, n, &p, &ans, lg), 0);
        if (l < L - 1) {
            assert_memory_equal(lg, lg0, sizeof(float) * V);
            assert_string_equal(ans, ans0);
        } else { /* the last block computes n rows here and one in the floor: float rounding only */
            assert_true(lw_test_max_row_rel_err(lg, lg0, 1, V, 1e-6) < 1e-5);
        }
        free(ans);
        /* the last row alone (read alone: one row at the last block, as the floor), replaced by itself */
        p.positions = 1;
        assert_int_equal(lw_patch_read(S, TEXT, l, &p, rows), 0);
        assert_int_equal(lw_patch_answer_logits(S, TEXT, l, rows, 1, &p, &ans, lg), 0);
        assert_memory_equal(lg, lg0, sizeof(float) * V);
        free(ans);
        p.op = LW_PATCH_ADD;
        p.scale = 3.0f;
        assert_int_equal(lw_patch_answer_logits(S, TEXT, l, zero, 1, &p, &ans, lg), 0);
        assert_memory_equal(lg, lg0, sizeof(float) * V);
        assert_string_equal(ans, ans0);
        free(ans);
        p.scale = 1.0f;
    }
    /* and a real change does change the logits (the comparison above can fail) */
    p.op = LW_PATCH_REPLACE;
    p.positions = 1;
    float *donor = malloc(sizeof(float) * D);
    assert_int_equal(lw_patch_read(S, DONOR, 1, &p, donor), 0);
    char *ans;
    assert_int_equal(lw_patch_answer_logits(S, TEXT, 1, donor, 1, &p, &ans, lg), 0);
    assert_true(lw_test_max_abs_diff(lg, lg0, V) > 1e-3);
    free(ans);
    free(donor);
    free(zero);
    free(rows);
    free(lg);
    free(lg0);
    free(ans0);
}

static void test_last_block_patch_is_logit_lens(void **state) {
    (void)state;
    lw_patch_params p = lw_patch_default_params();
    float *v = malloc(sizeof(float) * D), *own = malloc(sizeof(float) * D), *mix = malloc(sizeof(float) * D);
    float *lg = malloc(sizeof(float) * V), *lens = malloc(sizeof(float) * V);
    assert_int_equal(lw_patch_read(S, DONOR, -1, &p, v), 0);
    assert_int_equal(lw_patch_read(S, TEXT, L - 1, &p, own), 0);
    char *ans;
    assert_int_equal(lw_patch_answer_logits(S, TEXT, -1, v, 1, &p, &ans, lg), 0);
    free(ans);
    assert_int_equal(lw_logit_lens(M, v, 1, lens), 0);
    assert_true(lw_test_max_row_rel_err(lg, lens, 1, V, 1e-6) < 1e-4);
    p.op = LW_PATCH_ADD;
    p.scale = 0.5f;
    for (int j = 0; j < D; j++) mix[j] = own[j] + 0.5f * v[j];
    assert_int_equal(lw_patch_answer_logits(S, TEXT, -1, v, 1, &p, &ans, lg), 0);
    free(ans);
    assert_int_equal(lw_logit_lens(M, mix, 1, lens), 0);
    assert_true(lw_test_max_row_rel_err(lg, lens, 1, V, 1e-6) < 1e-4);
    free(v);
    free(own);
    free(mix);
    free(lg);
    free(lens);
}

static void test_pooled_is_mean_of_rows(void **state) {
    (void)state;
    int n = n_tokens(TEXT);
    lw_patch_params p = lw_patch_default_params();
    p.positions = n;
    float *rows = malloc(sizeof(float) * (size_t)n * D), *mean = malloc(sizeof(float) * D);
    assert_int_equal(lw_patch_read(S, TEXT, 2, &p, rows), 0);
    p.pooled = true;
    assert_int_equal(lw_patch_read(S, TEXT, 2, &p, mean), 0);
    for (int j = 0; j < D; j++) {
        double s = 0;
        for (int i = 0; i < n; i++) s += rows[(size_t)i * D + j];
        assert_true(fabs(mean[j] - s / n) <= 1e-5 * (1 + fabs(s / n)));
    }
    /* several blocks pooled in one run: block j's mean at j * D, each the mean of that block's rows */
    const int two[] = {0, 2};
    float *means = malloc(sizeof(float) * 2 * D);
    assert_int_equal(lw_patch_read_layers(S, TEXT, two, 2, &p, means), 0);
    p.pooled = false;
    for (int b = 0; b < 2; b++) {
        assert_int_equal(lw_patch_read(S, TEXT, two[b], &p, rows), 0);
        for (int j = 0; j < D; j++) {
            double s = 0;
            for (int i = 0; i < n; i++) s += rows[(size_t)i * D + j];
            assert_true(fabs(means[(size_t)b * D + j] - s / n) <= 1e-5 * (1 + fabs(s / n)));
        }
    }
    free(means);
    free(rows);
    free(mean);
}

static void test_read_layers_equals_one_read_per_layer(void **state) {
    (void)state;
    int n = n_tokens(TEXT);
    const int layers[] = {L - 1, 0, 2, -1, 1}; /* any order; -1 repeats the last block */
    const int nl = (int)(sizeof layers / sizeof *layers);
    float *all = malloc(sizeof(float) * (size_t)nl * n * D), *one = malloc(sizeof(float) * (size_t)n * D);
    for (int mode = 0; mode < 3; mode++) {
        lw_patch_params p = lw_patch_default_params();
        p.positions = mode == 0 ? 1 : n;
        p.pooled = mode == 2;
        const size_t block = (size_t)(mode == 1 ? n : 1) * D;
        assert_int_equal(lw_patch_read_layers(S, TEXT, layers, nl, &p, all), 0);
        for (int j = 0; j < nl; j++) {
            assert_int_equal(lw_patch_read(S, TEXT, layers[j], &p, one), 0);
            assert_memory_equal(all + (size_t)j * block, one, sizeof(float) * block);
        }
    }
    lw_patch_params p = lw_patch_default_params();
    assert_int_equal(lw_patch_read_layers(S, TEXT, layers, 0, &p, all), -1);
    assert_non_null(strstr(lw_last_error(), "no layer to read"));
    const int bad[] = {0, L};
    assert_int_equal(lw_patch_read_layers(S, TEXT, bad, 2, &p, all), -1);
    assert_non_null(strstr(lw_last_error(), "layer 4 is out of range"));
    free(all);
    free(one);
}

static void test_bad_input(void **state) {
    (void)state;
    int n = n_tokens(TEXT);
    lw_patch_params p = lw_patch_default_params();
    float *buf = calloc((size_t)(n + 2) * D, sizeof(float));
    char *ans = (char *)1;
    assert_int_equal(lw_patch_read(S, TEXT, L, &p, buf), -1);
    assert_non_null(strstr(lw_last_error(), "layer 4 is out of range"));
    assert_int_equal(lw_patch_read(S, TEXT, -L - 1, &p, buf), -1);
    assert_non_null(strstr(lw_last_error(), "out of range"));
    p.positions = n + 1;
    assert_int_equal(lw_patch_read(S, TEXT, 0, &p, buf), -1);
    assert_non_null(strstr(lw_last_error(), "T = "));
    p.positions = 0;
    assert_int_equal(lw_patch_read(S, TEXT, 0, &p, buf), -1);
    p.positions = 1;
    assert_int_equal(lw_patch_read(S, "", 0, &p, buf), -1);
    assert_int_equal(lw_patch_answer(S, TEXT, L, buf, 1, &p, &ans), -1);
    assert_null(ans);
    assert_int_equal(lw_patch_answer(S, TEXT, 0, buf, n + 1, &p, &ans), -1);
    assert_non_null(strstr(lw_last_error(), "vectors to write"));
    assert_int_equal(lw_patch_answer(S, "", 0, NULL, 0, &p, &ans), -1);
    p.op = (lw_patch_op)7; /* was read as replace */
    assert_int_equal(lw_patch_answer(S, TEXT, 0, buf, 1, &p, &ans), -1);
    assert_non_null(strstr(lw_last_error(), "op 7 is neither"));
    p.op = LW_PATCH_ADD;
    p.scale = NAN;
    assert_int_equal(lw_patch_answer(S, TEXT, 0, buf, 1, &p, &ans), -1);
    assert_non_null(strstr(lw_last_error(), "scale nan is not a finite number"));
    p = lw_patch_default_params();
    /* the session still works afterwards */
    assert_int_equal(lw_patch_answer(S, TEXT, 0, buf, n, &p, &ans), 0);
    free(ans);
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_floor_is_plain_forward),
        cmocka_unit_test(test_self_patch_every_layer_is_identity),
        cmocka_unit_test(test_last_block_patch_is_logit_lens),
        cmocka_unit_test(test_pooled_is_mean_of_rows),
        cmocka_unit_test(test_read_layers_equals_one_read_per_layer),
        cmocka_unit_test(test_bad_input),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
