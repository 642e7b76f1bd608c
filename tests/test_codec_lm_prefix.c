/* lm-arith at a budget: the prefix the one-pass search sends is the one an exhaustive search
 * picks, and the model runs at most one token past it.
 *
 * The reference is naive on purpose: every prefix of whole tokens that spells a prefix of the
 * text ending on a whole character is encoded on its own (lw_lm_arith_encode_tokens: a full
 * model pass per prefix), and at each budget K the longest whose serialized payload fits K / 8
 * bytes is the answer. The codec's encode must send exactly that prefix's payload (same
 * bytes), and report that it computed at most (that prefix + 1) token tables (the old search
 * stopped only once the coder's final bytes passed the budget, several tokens later).
 * Toy models (stories260K, tinystories656K) from ../shared, and SmolLM2-135M when fetched
 * (skipped otherwise). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "codec_text_check.h"

static lw_codec *fit_at(lw_session *s, int64_t budget) {
    lw_codec_params p = lw_codec_default_params(LW_CODEC_LM_ARITH);
    p.budget_bits = budget;
    p.lm = s;
    lw_codec *c = lw_codec_fit_text(&p, NULL, 0);
    if (!c) fail_msg("fit lm-arith at %lld bits: %s", (long long)budget, lw_last_error());
    return c;
}

/* Whether tokens[0..k) spell a prefix of text ending on a whole character (the whole text for
 * k = n). */
static bool usable(const lw_model *m, const char *text, const int32_t *tok, int k, int n) {
    char *sp = ctc_spell(m, tok, k);
    size_t sl = strlen(sp), len = strlen(text);
    bool ok = sl <= len && memcmp(sp, text, sl) == 0 && (text[sl] == '\0' || ((unsigned char)text[sl] & 0xC0) != 0x80);
    if (k == n && sl != len) ok = false;
    free(sp);
    return ok;
}

/* The exhaustive search's payload sizes: size[k] = bytes of the payload of tokens[0..k) (one
 * full model pass each; size[0] = 0, the empty payload), ok[k] whether prefix k is usable. */
static int64_t *exhaustive_sizes(lw_session *s, const char *text, int32_t **tok_out, int *n_out, bool **ok_out) {
    const lw_model *m = lw_session_model(s);
    int32_t *tok = NULL;
    int n = lw_tokenize_alloc(m, text, false, &tok);
    assert_true(n > 0);
    lw_codec *c = fit_at(s, 0);
    int64_t *size = malloc(sizeof *size * (size_t)(n + 1));
    bool *ok = malloc(sizeof *ok * (size_t)(n + 1));
    size[0] = 0;
    ok[0] = true;
    for (int k = 1; k <= n; k++) {
        ok[k] = usable(m, text, tok, k, n);
        lw_payload p;
        assert_int_equal(lw_lm_arith_encode_tokens(c, tok, k, &p, NULL), 0);
        size[k] = (int64_t)p.n;
        free(p.bytes);
    }
    lw_codec_free(c);
    *tok_out = tok;
    *n_out = n;
    *ok_out = ok;
    return size;
}

/* One text on one model at several budgets. Returns how many budgets cut the text (the prefix
 * sent shorter than the whole text). */
static int check_text(lw_session *s, const char *text, const int64_t *budgets, int n_budgets) {
    int32_t *tok;
    int n, cut = 0;
    bool *ok;
    int64_t *size = exhaustive_sizes(s, text, &tok, &n, &ok);
    for (int k = 1; k <= n; k++) assert_true(size[k] >= size[k - 1]); /* what the one-pass search relies on */
    for (int b = 0; b < n_budgets; b++) {
        int64_t K = budgets[b];
        int want = 0, fit_any = 0; /* the longest fitting usable prefix; the longest fitting prefix of any tokens */
        for (int k = 1; k <= n; k++) {
            if (size[k] * 8 > K) continue;
            fit_any = k;
            if (ok[k]) want = k;
        }
        lw_codec *c = fit_at(s, K);
        lw_payload got;
        int steps = -1;
        if (lw_lm_arith_encode_counted(c, text, &got, &steps) != 0) fail_msg("encode at %lld: %s", (long long)K, lw_last_error());
        assert_true((int64_t)got.n * 8 <= K);
        if (want == 0) {
            assert_int_equal(got.n, 0);
        } else { /* the same bytes as the reference's encoding of that prefix */
            lw_payload ref;
            assert_int_equal(lw_lm_arith_encode_tokens(c, tok, want, &ref, NULL), 0);
            assert_int_equal(got.n, ref.n);
            assert_memory_equal(got.bytes, ref.bytes, ref.n);
            free(ref.bytes);
        }
        /* the model ran to the longest fitting prefix plus the one token that showed it is the longest */
        int expect_steps = fit_any < n ? fit_any + 1 : n;
        if (steps != expect_steps)
            fail_msg("at %lld bits the longest fitting prefix is %d of %d tokens: the encoder should run the model for "
                     "%d tokens, it ran it for %d", (long long)K, fit_any, n, expect_steps, steps);
        cut += want < n;
        free(got.bytes);
        lw_codec_free(c);
    }
    free(size);
    free(ok);
    free(tok);
    return cut;
}

static const int64_t BUDGETS[] = {8, 16, 24, 32, 48, 64, 96, 128, 256};
#define N_BUDGETS ((int)(sizeof BUDGETS / sizeof BUDGETS[0]))

static void run_model(const char *path, int n_texts, int join) {
    lw_model *m = lw_model_load(path, lw_model_default_params());
    assert_non_null(m);
    lw_session_params sp = lw_session_default_params();
    sp.n_ctx = 512;
    sp.n_threads = 1;
    lw_session *s = lw_session_new(m, sp);
    assert_non_null(s);
    int n_lines = 0;
    char **lines = ctc_read_lines("data/ptb/ptb.test.txt", n_texts * join, &n_lines);
    assert_non_null(lines);
    int cut = 0, checked = 0;
    for (int t = 0; t + join <= n_lines; t += join) {
        char *text = ctc_join(lines + t, join);
        lw_payload probe;
        lw_codec *c = fit_at(s, 0);
        int ok = lw_codec_encode_text(c, text, &probe); /* a text the vocabulary cannot spell is skipped */
        lw_codec_free(c);
        if (ok == 0) {
            free(probe.bytes);
            cut += check_text(s, text, BUDGETS, N_BUDGETS);
            checked++;
        }
        free(text);
    }
    assert_true(checked >= 1);
    assert_true(cut >= 3); /* the budgets do cut the texts */
    ctc_free_lines(lines, n_lines);
    lw_session_free(s);
    lw_model_free(m);
}

static void test_toy_models(void **state) {
    (void)state;
    const char *models[] = {"models/stories260K.gguf", "models/tinystories656K.gguf"};
    for (int i = 0; i < 2; i++) {
        const char *path = lw_test_shared_path(models[i]);
        if (!path || !lw_test_shared_path("data/ptb/ptb.test.txt")) return;
        run_model(path, 2, 1);
    }
}

static void test_smollm2(void **state) {
    (void)state;
    const char *path = lw_test_real_model("smollm2-135m-instruct");
    if (!path || !lw_test_shared_path("data/ptb/ptb.test.txt")) return;
    run_model(path, 1, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_toy_models),
        cmocka_unit_test(test_smollm2),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
