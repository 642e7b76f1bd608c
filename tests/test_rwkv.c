/* Runtime issue, test 10: a recurrent architecture (RWKV-6 quantized, RWKV-7 F32).
 * Reference logits come from rwkv.cpp (../shared/models/fixtures/README.md): after feeding
 * the bytes `"in` (ids 34, 105, 110). Hooks must work on a recurrent state too, and an
 * early-stopped or patched run must not leak into later runs. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/fileio.h"
#include "latentwire/runtime.h"
#include "support/testutil.h"

static const int32_t PROMPT[3] = {34, 105, 110};

typedef struct {
    const char *model, *expected;
    double tol; /* max |ours - reference|; README: 2.4e-7 (F32), 7.7e-2 (Q5_1) */
} fixture;

static const fixture FIXTURES[2] = {
    {"models/fixtures/tiny-rwkv-7v0-834K-FP32.gguf", "models/fixtures/expected-logits-7v0-834K.bin", 1e-5},
    {"models/fixtures/tiny-rwkv-6v0-3m-Q5_1.gguf", "models/fixtures/expected-logits-6v0-3m.bin", 0.1},
};

static lw_session *session(lw_model *m) {
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = 2;
    sp.n_ctx = 64;
    lw_session *s = lw_session_new(m, sp);
    if (!s) fail_msg("%s", lw_last_error());
    return s;
}

/* Feeds the prompt one token per run (as rwkv.cpp did) and returns the last logits. */
static void feed_one_by_one(lw_session *s, float *out, int n_vocab) {
    for (int i = 0; i < 3; i++) {
        lw_span sp = {.tokens = &PROMPT[i], .n = 1};
        lw_seq_input in = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_LAST};
        if (lw_session_run(s, &in, 1) != 0) fail_msg("%s", lw_last_error());
    }
    memcpy(out, lw_session_logits(s, 0, 2), sizeof(float) * n_vocab);
}

static void feed_all(lw_session *s, float *out, int n_vocab) {
    lw_span sp = {.tokens = PROMPT, .n = 3};
    lw_seq_input in = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_LAST};
    if (lw_session_run(s, &in, 1) != 0) fail_msg("%s", lw_last_error());
    memcpy(out, lw_session_logits(s, 0, 2), sizeof(float) * n_vocab);
}

static void check_fixture(const fixture *fx) {
    const char *path = lw_test_shared_path(fx->model);
    const char *exp_path = lw_test_shared_path(fx->expected);
    if (!path || !exp_path) return;
    size_t len;
    float *expected = (float *)lw_read_file(exp_path, &len);
    assert_non_null(expected);
    assert_int_equal(len, 256 * sizeof(float));

    lw_model *m = lw_model_load(path, lw_model_default_params());
    if (!m) fail_msg("%s", lw_last_error());
    lw_model_info info;
    lw_model_get_info(m, &info);
    assert_true(info.recurrent);
    assert_int_equal(info.n_vocab, 256);
    const int V = info.n_vocab, d = info.n_embd, L = info.n_layer;
    float *ref = malloc(sizeof(float) * V), *got = malloc(sizeof(float) * V), *ref_all = malloc(sizeof(float) * V);

    /* 1. reference logits, fed token by token and all at once */
    lw_session *s = session(m);
    feed_one_by_one(s, ref, V);
    double e = lw_test_max_abs_diff(ref, expected, V);
    fprintf(stderr, "  %s: max |logit - rwkv.cpp| = %.3g\n", fx->model, e);
    assert_true(e < fx->tol);
    lw_session_clear(s, 0);
    feed_all(s, ref_all, V);
    assert_true(lw_test_max_abs_diff(ref_all, ref, V) < 1e-4);

    /* 2. capture every layer; replacing with the captured values changes nothing */
    lw_session_clear(s, 0);
    int first = -1;
    for (int l = 0; l < L; l++) {
        lw_hook h = lw_hook_default();
        h.layer = l;
        int id = lw_session_add_hook(s, &h);
        if (first < 0) first = id;
    }
    feed_all(s, got, V);
    const float *rows;
    const int32_t *pos;
    float *caps = malloc(sizeof(float) * (size_t)L * 3 * d);
    for (int l = 0; l < L; l++) {
        assert_int_equal(lw_session_capture(s, first + l, &rows, NULL, &pos), 3);
        memcpy(caps + (size_t)l * 3 * d, rows, sizeof(float) * 3 * d);
    }
    for (int l = 0; l < L; l += 3) {
        lw_session_clear_hooks(s);
        lw_session_clear(s, 0);
        lw_hook h = lw_hook_default();
        h.layer = l;
        h.op = LW_OP_REPLACE;
        h.vectors = caps + (size_t)l * 3 * d;
        h.n_vectors = 3;
        assert_true(lw_session_add_hook(s, &h) >= 0);
        feed_all(s, got, V);
        assert_memory_equal(got, ref_all, sizeof(float) * V);
    }

    /* 3. an early-stopped capture (state dropped) equals the full pass' capture */
    lw_session_clear_hooks(s);
    lw_session_clear(s, 0);
    lw_hook h = lw_hook_default();
    h.layer = L / 2;
    int id = lw_session_add_hook(s, &h);
    lw_span sp = {.tokens = PROMPT, .n = 3};
    lw_seq_input in = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_NONE};
    assert_int_equal(lw_session_run(s, &in, 1), 0);
    assert_true(lw_session_stopped_early(s));
    assert_int_equal(lw_session_capture(s, id, &rows, NULL, NULL), 3);
    assert_true(lw_test_max_abs_diff(rows, caps + (size_t)(L / 2) * 3 * d, (size_t)3 * d) < 1e-5);
    /* ... and later runs see a clean state */
    lw_session_clear_hooks(s);
    feed_one_by_one(s, got, V);
    assert_true(lw_test_max_abs_diff(got, ref, V) < 1e-5);

    /* 4. a patched run changes the state; clearing the sequence restores the reference */
    lw_session_clear(s, 0);
    float *v = calloc((size_t)d, sizeof(float));
    for (int j = 0; j < d; j++) v[j] = (float)sin(j) * 2.0f;
    h = lw_hook_default();
    h.layer = 0;
    h.op = LW_OP_ADD;
    h.pos_mode = LW_POS_LIST;
    int32_t p0 = 0;
    h.positions = &p0;
    h.n_positions = 1;
    h.vectors = v;
    h.n_vectors = 1;
    assert_true(lw_session_add_hook(s, &h) >= 0);
    feed_all(s, got, V);
    assert_true(lw_test_max_abs_diff(got, ref, V) > 1e-3); /* the patch reached the output */
    lw_session_clear_hooks(s);
    lw_session_clear(s, 0);
    feed_one_by_one(s, got, V);
    assert_true(lw_test_max_abs_diff(got, ref, V) < 1e-5);

    /* 5. a capture-only run continuing a resident recurrent state is not cut short (the state
     * cannot be rolled back), so the state stays consistent */
    lw_session_clear(s, 0);
    lw_span a = {.tokens = PROMPT, .n = 1}, b = {.tokens = PROMPT + 1, .n = 1}, c = {.tokens = PROMPT + 2, .n = 1};
    lw_seq_input ia = {.seq = 0, .spans = &a, .n_spans = 1, .logits = LW_LOGITS_NONE};
    assert_int_equal(lw_session_run(s, &ia, 1), 0);
    h = lw_hook_default();
    h.layer = 1;
    assert_true(lw_session_add_hook(s, &h) >= 0);
    ia.spans = &b;
    assert_int_equal(lw_session_run(s, &ia, 1), 0);
    assert_false(lw_session_stopped_early(s));
    assert_int_equal(lw_session_seq_len(s, 0), 2);
    lw_session_clear_hooks(s);
    ia.spans = &c;
    ia.logits = LW_LOGITS_LAST;
    assert_int_equal(lw_session_run(s, &ia, 1), 0);
    assert_true(lw_test_max_abs_diff(lw_session_logits(s, 0, 2), ref, V) < 1e-5);

    free(v);
    free(caps);
    free(ref);
    free(ref_all);
    free(got);
    free(expected);
    lw_session_free(s);
    lw_model_free(m);
}

static void test_rwkv7_f32(void **state) { check_fixture(&FIXTURES[0]); }
static void test_rwkv6_q5_1(void **state) { check_fixture(&FIXTURES[1]); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rwkv7_f32),
        cmocka_unit_test(test_rwkv6_q5_1),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
