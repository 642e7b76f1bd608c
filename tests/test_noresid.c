/* An architecture whose llama.cpp graph has no `l_out-L` nodes (synthetic "bert", see
 * support/synth_noresid.h): runs without hooks work, but a residual hook must fail with
 * a clear message naming the missing node and the architecture, not be silently ignored
 * (a capture that captures nothing, a steering vector that is never added). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/runtime.h"
#include "support/synth_noresid.h"
#include "support/testutil.h"

/* [CLS] ▁once ▁upon ▁a ▁time [SEP] */
static const int32_t PROMPT[] = {2, 71, 72, 5, 73, 3};
#define N_PROMPT ((int)(sizeof PROMPT / sizeof *PROMPT))

typedef struct {
    lw_model *model;
    lw_session *session;
} fixture;

static int setup(void **state) {
    static fixture fx;
    const char *path = lw_test_tmpfile("noresid.gguf");
    if (lw_synth_write_noresid(path) != 0) return -1;
    fx.model = lw_model_load(path, lw_model_default_params());
    if (!fx.model) {
        fprintf(stderr, "load failed: %s\n", lw_last_error());
        return -1;
    }
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = 2;
    fx.session = lw_session_new(fx.model, sp);
    if (!fx.session) {
        fprintf(stderr, "session failed: %s\n", lw_last_error());
        lw_model_free(fx.model);
        return -1;
    }
    *state = &fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    lw_session_free(fx->session);
    lw_model_free(fx->model);
    return 0;
}

/* Each test starts from an empty session without hooks. */
static int reset(void **state) {
    fixture *fx = *state;
    lw_session_clear_hooks(fx->session);
    lw_session_clear(fx->session, -1);
    lw_clear_error();
    return 0;
}

static int run_prompt(lw_session *s, lw_logits_mode logits) {
    lw_span sp = {.tokens = PROMPT, .n = N_PROMPT};
    lw_seq_input in = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = logits};
    return lw_session_run(s, &in, 1);
}

static void assert_no_l_out_error(int layer) {
    const char *err = lw_last_error();
    char node[32];
    snprintf(node, sizeof node, "l_out-%d", layer);
    char arch[32];
    snprintf(arch, sizeof arch, "\"%s\"", lw_synth_noresid_arch());
    if (!strstr(err, node) || !strstr(err, arch))
        fail_msg("expected an error naming %s and architecture %s, got: \"%s\"", node, arch, err);
}

static void test_model_info(void **state) {
    fixture *fx = *state;
    lw_model_info info;
    lw_model_get_info(fx->model, &info);
    assert_string_equal(info.arch, lw_synth_noresid_arch());
    assert_string_equal(info.tokenizer, "bert");
    assert_int_equal(info.n_layer, LW_SYNTH_NORESID_N_LAYER);
    assert_int_equal(info.n_embd, LW_SYNTH_NORESID_N_EMBD);
    assert_int_equal(info.n_vocab, LW_SYNTH_NORESID_N_VOCAB);
    assert_int_equal(info.n_ctx_train, LW_SYNTH_NORESID_N_CTX);
}

/* The model itself runs: the hook failures below are about the hooks. */
static void test_run_without_hooks(void **state) {
    fixture *fx = *state;
    if (run_prompt(fx->session, LW_LOGITS_NONE) != 0) fail_msg("run without hooks failed: %s", lw_last_error());
    /* encoder-only: nothing stays resident, so the next run starts fresh again */
    assert_int_equal(lw_session_seq_len(fx->session, 0), 0);
    if (run_prompt(fx->session, LW_LOGITS_NONE) != 0) fail_msg("second run failed: %s", lw_last_error());
    /* and there is no language-model head: asking for logits is an error, not zeros */
    assert_int_equal(run_prompt(fx->session, LW_LOGITS_LAST), -1);
    assert_non_null(strstr(lw_last_error(), "no language-model head"));
}

/* Capture-only at layer 0, no logits: the early-stop path (stop after l_out-0). */
static void test_capture_layer0_fails(void **state) {
    fixture *fx = *state;
    lw_hook h = lw_hook_default();
    h.layer = 0;
    int id = lw_session_add_hook(fx->session, &h);
    assert_true(id >= 0);
    assert_int_equal(run_prompt(fx->session, LW_LOGITS_NONE), -1);
    assert_no_l_out_error(0);
    assert_int_equal(lw_session_seq_len(fx->session, 0), 0);
    assert_int_equal(lw_session_capture(fx->session, id, NULL, NULL, NULL), 0);
}

/* A steering hook (ADD) at the last layer: the full-run path, with the hooked layer's
 * rows requested as outputs. */
static void test_add_last_layer_fails(void **state) {
    fixture *fx = *state;
    float v[LW_SYNTH_NORESID_N_EMBD];
    for (int i = 0; i < LW_SYNTH_NORESID_N_EMBD; i++) v[i] = 1.0f;
    lw_hook h = lw_hook_default();
    h.layer = LW_SYNTH_NORESID_N_LAYER - 1;
    h.op = LW_OP_ADD;
    h.vectors = v;
    h.n_vectors = 1;
    assert_true(lw_session_add_hook(fx->session, &h) >= 0);
    assert_int_equal(run_prompt(fx->session, LW_LOGITS_NONE), -1);
    assert_no_l_out_error(LW_SYNTH_NORESID_N_LAYER - 1);
    assert_int_equal(lw_session_seq_len(fx->session, 0), 0);
}

/* After a failed hooked run and removing the hooks, the session works again. */
static void test_recovers_after_failure(void **state) {
    fixture *fx = *state;
    lw_hook h = lw_hook_default();
    h.layer = 0;
    assert_true(lw_session_add_hook(fx->session, &h) >= 0);
    assert_int_equal(run_prompt(fx->session, LW_LOGITS_NONE), -1);
    assert_no_l_out_error(0);
    lw_session_clear_hooks(fx->session);
    if (run_prompt(fx->session, LW_LOGITS_NONE) != 0) fail_msg("run after clearing hooks failed: %s", lw_last_error());
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_model_info, reset),
        cmocka_unit_test_setup(test_run_without_hooks, reset),
        cmocka_unit_test_setup(test_capture_layer0_fails, reset),
        cmocka_unit_test_setup(test_add_last_layer_fails, reset),
        cmocka_unit_test_setup(test_recovers_after_failure, reset),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
