/* lm-arith on the real models (skips without them): Gemma 3 270M (262,144-token SentencePiece
 * vocabulary, BOS context) and SmolLM2-135M (49,152-token byte-level BPE). Exact round trips of
 * short English, PTB and non-ASCII text; the payload within a few bits of the cross-entropy
 * computed from one batched forward pass; budget prefixes; a codec file loaded with the other
 * model refused. Texts are kept short: ~1-2 minutes under ASan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "codec_text_check.h"

typedef struct {
    lw_model *m;
    lw_session *s;
} real_lm;

static bool open_real(const char *name, real_lm *r) {
    const char *path = lw_test_real_model(name);
    if (!path) return false;
    r->m = lw_model_load(path, lw_model_default_params());
    assert_non_null(r->m);
    lw_session_params sp = lw_session_default_params();
    sp.n_ctx = 256;
    sp.n_threads = 1; /* one token per call: OpenMP's spinning workers cost more than they bring */
    r->s = lw_session_new(r->m, sp);
    assert_non_null(r->s);
    return true;
}

static void close_real(real_lm *r) {
    lw_session_free(r->s);
    lw_model_free(r->m);
}

static lw_codec *fit_lm(lw_session *s, int64_t budget) {
    lw_codec_params p = lw_codec_default_params(LW_CODEC_LM_ARITH);
    p.lm = s;
    p.budget_bits = budget;
    lw_codec *c = lw_codec_fit_text(&p, NULL, 0);
    if (!c) fail_msg("fit lm-arith: %s", lw_last_error());
    return c;
}

static void check_model(const char *name) {
    real_lm r;
    if (!open_real(name, &r)) return;
    lw_codec *c = fit_lm(r.s, 0);
    const char *texts[] = {
        "The quick brown fox jumps over the lazy dog.",
        "Café déjà vu: naïve 日本語 text, 🙂 and \"quotes\".",
        "  two leading spaces, a tab\tand a newline\n",
    };
    for (int i = 0; i < 3; i++) ctc_lm_roundtrip(c, r.s, texts[i]);
    int n_ptb = 0;
    char **ptb = ctc_read_lines("data/ptb/ptb.test.txt", 2, &n_ptb);
    for (int i = 0; i < n_ptb; i++) ctc_lm_roundtrip(c, r.s, ptb[i]);
    char *rnd = ctc_random_utf8(11, 12, false);
    ctc_lm_roundtrip(c, r.s, rnd);
    free(rnd);
    const int64_t budgets[] = {16, 64, 256};
    for (int k = 0; k < 3; k++) {
        lw_codec *b = fit_lm(r.s, budgets[k]);
        ctc_lm_budget(b, r.s, texts[0], budgets[k]);
        lw_codec_free(b);
    }
    ctc_free_lines(ptb, n_ptb);
    lw_codec_free(c);
    close_real(&r);
}

static void test_gemma(void **state) {
    (void)state;
    check_model("gemma-3-270m");
}

static void test_smollm2(void **state) {
    (void)state;
    check_model("smollm2-135m-instruct");
}

static void test_other_model_refused(void **state) {
    (void)state;
    real_lm a, b;
    if (!open_real("smollm2-135m-instruct", &a)) return;
    if (!open_real("gemma-3-270m", &b)) {
        close_real(&a);
        return;
    }
    lw_codec *c = fit_lm(a.s, 128);
    const char *path = lw_test_tmpfile("smol.lm.codec.safetensors");
    assert_int_equal(lw_codec_save(c, path), 0);
    assert_null(lw_codec_load(path, b.s));
    assert_non_null(strstr(lw_last_error(), lw_model_sha256(a.m)));
    assert_non_null(strstr(lw_last_error(), lw_model_sha256(b.m)));
    lw_codec *l = lw_codec_load(path, a.s);
    assert_non_null(l);
    assert_int_equal(lw_codec_side_bits(l), lw_codec_side_bits(c));
    lw_codec_free(l);
    lw_codec_free(c);
    close_real(&a);
    close_real(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemma),
        cmocka_unit_test(test_smollm2),
        cmocka_unit_test(test_other_model_refused),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
