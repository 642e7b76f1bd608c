/* Channels: the identities that must hold exactly, and the bad inputs.
 *  - CIPHER always one-hot (threshold 0) is the text channel: same message tokens, and
 *    bit-identical receiver logits;
 *  - AC replace with A = B, the same prompt and k = j changes nothing; sum with a zero
 *    vector and mean with an identical vector change nothing;
 *  - AC(W) with W = identity equals AC; acw's map is the bridge ridge on the same pairs;
 *  - CIPHER across vocabularies, layers out of range, empty texts are errors. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/channel.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static const char *STORY = "Once upon a time, there was a little boy named Tom. Tom had a big red kite.";
static const char *QUESTION = "The boy's name was";

static lw_model *M;
static lw_session *SA, *SB; /* two sessions on the same model: sender and receiver */
static int V, D, L;

static lw_session *session(lw_model *m) {
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = 2;
    lw_session *s = lw_session_new(m, sp);
    if (!s) fail_msg("%s", lw_last_error());
    return s;
}

static int setup(void **state) {
    lw_synth_params p = lw_synth_default_params();
    p.n_layer = 3;
    const char *path = lw_test_tmpfile("channel.gguf");
    if (lw_synth_write(path, &p) != 0) return -1;
    M = lw_model_load(path, lw_model_default_params());
    if (!M) return -1;
    lw_model_info in;
    lw_model_get_info(M, &in);
    V = in.n_vocab;
    D = in.n_embd;
    L = in.n_layer;
    SA = session(M);
    SB = session(M);
    return 0;
}

static int teardown(void **state) {
    lw_session_free(SA);
    lw_session_free(SB);
    lw_model_free(M);
    return 0;
}

static float *run(const lw_channel_params *p, const char *sender_text, const char *prompt, lw_channel_result *r) {
    float *logits;
    if (lw_channel_run(SA, SB, p, sender_text, prompt, r, &logits) != 0) fail_msg("channel: %s", lw_last_error());
    return logits;
}

static void test_cipher_onehot_is_text(void **state) {
    lw_channel_params t = lw_channel_default_params();
    t.kind = LW_CHANNEL_TEXT;
    t.message_tokens = 12;
    lw_channel_params c = t;
    c.kind = LW_CHANNEL_CIPHER;
    c.cipher_onehot = 0.0f;
    lw_channel_result rt, rc;
    float *lt = run(&t, STORY, QUESTION, &rt), *lc = run(&c, STORY, QUESTION, &rc);
    assert_true(rt.n_message > 0);
    assert_int_equal(rt.n_message, rc.n_message);
    assert_memory_equal(rt.message_tokens, rc.message_tokens, sizeof(int32_t) * rt.n_message);
    assert_memory_equal(lt, lc, sizeof(float) * V);
    assert_string_equal(rt.output, rc.output);
    /* a soft (non one-hot) CIPHER message is something else: the logits move */
    lw_channel_params soft = c;
    soft.cipher_onehot = 2.0f;
    lw_channel_result rs;
    float *ls = run(&soft, STORY, QUESTION, &rs);
    assert_true(lw_test_max_abs_diff(ls, lt, V) > 1e-5);
    assert_true(rs.cost.message_floats > 0);
    free(lt);
    free(lc);
    free(ls);
    lw_channel_result_free(&rt);
    lw_channel_result_free(&rc);
    lw_channel_result_free(&rs);
}

static void test_ac_identities(void **state) {
    lw_channel_params none = lw_channel_default_params();
    none.kind = LW_CHANNEL_NONE;
    lw_channel_result r0;
    float *l0 = run(&none, "", QUESTION, &r0);
    float *zero = calloc((size_t)D * D, sizeof(float));
    float *eye = calloc((size_t)D * D, sizeof(float));
    for (int i = 0; i < D; i++) eye[(size_t)i * D + i] = 1.0f;
    for (int k = 0; k < L; k++) {
        lw_channel_params ac = lw_channel_default_params();
        ac.kind = LW_CHANNEL_AC;
        ac.ac_k = ac.ac_j = k;
        /* replace with the activation of the same prompt: nothing changes */
        lw_channel_result r;
        float *l = run(&ac, QUESTION, QUESTION, &r);
        assert_memory_equal(l, l0, sizeof(float) * V);
        assert_string_equal(r.output, r0.output);
        free(l);
        lw_channel_result_free(&r);
        /* mean with an identical vector: (b + b) / 2 == b */
        ac.ac_op = LW_AC_MEAN;
        l = run(&ac, QUESTION, QUESTION, &r);
        assert_memory_equal(l, l0, sizeof(float) * V);
        free(l);
        lw_channel_result_free(&r);
        /* sum with a zero vector (W = 0 maps anything to 0) */
        ac.ac_op = LW_AC_SUM;
        ac.ac_W = zero;
        l = run(&ac, STORY, QUESTION, &r);
        assert_memory_equal(l, l0, sizeof(float) * V);
        free(l);
        lw_channel_result_free(&r);
        /* AC(W = I) equals AC with no map, for a real graft from another text */
        ac.ac_op = LW_AC_REPLACE;
        ac.ac_W = NULL;
        float *la = run(&ac, STORY, QUESTION, &r);
        lw_channel_result_free(&r);
        ac.ac_W = eye;
        float *lw = run(&ac, STORY, QUESTION, &r);
        lw_channel_result_free(&r);
        assert_memory_equal(la, lw, sizeof(float) * V);
        assert_true(lw_test_max_abs_diff(la, l0, V) > 1e-6); /* and the graft does something */
        free(la);
        free(lw);
    }
    free(zero);
    free(eye);
    free(l0);
    lw_channel_result_free(&r0);
}

/* acw's map is the project's ridge bridge (centered, alpha by GCV) on the same pairs: fitted
 * independently here from the same activations, both map held-out rows identically. */
static void test_ac_map_is_the_bridge_ridge(void **state) {
    const char *texts[12] = {"The cat sat on the mat.", "A dog ran in the park.", "Tom had a red kite.",
                             "Sue liked her doll.", "The sun was hot today.", "Ben saw a big truck.",
                             "Mia found a shiny stone.", "The bird sang a song.", "Max ate a green apple.",
                             "Anna read a little book.", "The fish swam away fast.", "Tim built a sand castle."};
    lw_bridge *b = lw_channel_fit_ac_bridge(SA, SB, 1, 2, texts, 12, NULL);
    if (!b) fail_msg("%s", lw_last_error());
    assert_int_equal(lw_bridge_source_dim(b), D);
    assert_int_equal(lw_bridge_out_dim(b), D);
    float *A = malloc(sizeof(float) * 12 * D), *B = malloc(sizeof(float) * 12 * D);
    int la = 1, lb = 2;
    float *outA[1] = {A}, *outB[1] = {B};
    assert_int_equal(lw_extract_pooled(SA, texts, 12, true, true, &la, 1, LW_POOL_LAST, outA, NULL), 0);
    assert_int_equal(lw_extract_pooled(SB, texts, 12, true, true, &lb, 1, LW_POOL_LAST, outB, NULL), 0);
    lw_bridge_params bp = lw_bridge_default_params();
    assert_true(bp.center && bp.alpha <= 0 && bp.alpha_select == LW_ALPHA_GCV);
    lw_bridge *ref = lw_bridge_fit(A, B, 12, D, D, &bp);
    assert_non_null(ref);
    /* rows the map was not fitted on: B's rows as inputs */
    float *y1 = malloc(sizeof(float) * 12 * D), *y2 = malloc(sizeof(float) * 12 * D);
    assert_int_equal(lw_bridge_apply_source(b, B, 12, y1), 0);
    assert_int_equal(lw_bridge_apply_source(ref, B, 12, y2), 0);
    assert_memory_equal(y1, y2, sizeof(float) * 12 * D);
    assert_string_equal(lw_bridge_info_json(b), lw_bridge_info_json(ref));
    assert_non_null(strstr(lw_bridge_info_json(b), "gcv"));
    lw_bridge_free(b);
    lw_bridge_free(ref);
    free(y1);
    free(y2);
    free(A);
    free(B);
}

static void test_bad_input(void **state) {
    lw_channel_params p = lw_channel_default_params();
    lw_channel_result r;
    p.kind = LW_CHANNEL_AC;
    p.ac_k = L;
    assert_int_equal(lw_channel_run(SA, SB, &p, STORY, QUESTION, &r, NULL), -1);
    assert_non_null(strstr(lw_last_error(), "out of range"));
    p.ac_k = 0;
    p.ac_j = -L - 1;
    assert_int_equal(lw_channel_run(SA, SB, &p, STORY, QUESTION, &r, NULL), -1);
    assert_non_null(strstr(lw_last_error(), "out of range"));
    p.kind = LW_CHANNEL_TEXT;
    assert_int_equal(lw_channel_run(SA, SB, &p, STORY, "", &r, NULL), -1);
    assert_int_equal(lw_channel_run(SA, SB, &p, "", QUESTION, &r, NULL), -1);
    /* the sessions still work */
    assert_int_equal(lw_channel_run(SA, SB, &p, STORY, QUESTION, &r, NULL), 0);
    lw_channel_result_free(&r);

    /* CIPHER between models with different vocabularies is refused */
    const char *a = lw_test_shared_path("models/stories260K.gguf");
    const char *b = lw_test_shared_path("models/tinystories656K.gguf");
    if (!a || !b) return;
    lw_model *ma = lw_model_load(a, lw_model_default_params()), *mb = lw_model_load(b, lw_model_default_params());
    lw_session *sa = session(ma), *sb = session(mb);
    p.kind = LW_CHANNEL_CIPHER;
    assert_int_equal(lw_channel_run(sa, sb, &p, STORY, QUESTION, &r, NULL), -1);
    assert_non_null(strstr(lw_last_error(), "vocabular"));
    /* text across the two models works; AC across their widths (64 and 128) needs a map */
    p.kind = LW_CHANNEL_TEXT;
    assert_int_equal(lw_channel_run(sa, sb, &p, STORY, QUESTION, &r, NULL), 0);
    lw_channel_result_free(&r);
    p.kind = LW_CHANNEL_AC;
    p.ac_k = -1;
    p.ac_j = -1;
    assert_int_equal(lw_channel_run(sa, sb, &p, STORY, QUESTION, &r, NULL), -1);
    assert_non_null(strstr(lw_last_error(), "needs a map"));
    lw_session_free(sa);
    lw_session_free(sb);
    lw_model_free(ma);
    lw_model_free(mb);
}

static void test_debate(void **state) {
    /* one agent, one round is single inference (greedy, and sampled with the same seed) */
    lw_agent ag = {.session = SA, .temperature = 0.0f};
    lw_debate_params dp = lw_debate_default_params();
    dp.rounds = 1;
    dp.answer_tokens = 10;
    lw_debate_result dr;
    assert_int_equal(lw_debate_run(&ag, 1, &dp, QUESTION, &dr), 0);
    lw_channel_params none = lw_channel_default_params();
    none.kind = LW_CHANNEL_NONE;
    none.answer_tokens = 10;
    lw_channel_result r;
    float *l = run(&none, "", QUESTION, &r);
    assert_string_equal(dr.final, r.output);
    free(l);
    lw_channel_result_free(&r);
    lw_debate_result_free(&dr);

    ag.temperature = 0.9f;
    assert_int_equal(lw_debate_run(&ag, 1, &dp, QUESTION, &dr), 0);
    lw_model_info in;
    lw_model_get_info(M, &in);
    int32_t *q;
    int nq = lw_tokenize_alloc(M, QUESTION, false, &q);
    lw_session_clear(SB, 0);
    lw_span bos = {.tokens = &in.bos, .n = 1}, sq = {.tokens = q, .n = nq};
    lw_seq_input i1 = {.seq = 0, .spans = &bos, .n_spans = 1, .logits = LW_LOGITS_LAST};
    lw_seq_input i2 = {.seq = 0, .spans = &sq, .n_spans = 1, .logits = LW_LOGITS_LAST};
    assert_int_equal(lw_session_run(SB, &i1, 1), 0);
    assert_int_equal(lw_session_run(SB, &i2, 1), 0);
    lw_gen_params gp = lw_gen_default_params();
    gp.max_tokens = 10;
    gp.temperature = 0.9f;
    gp.seed = (uint32_t)dp.seed;
    int32_t out[10];
    int n = lw_generate(SB, 0, NULL, 0, &gp, out, 10);
    char *text = lw_detokenize(M, out, n, false);
    assert_string_equal(dr.final, text);
    lw_session_clear(SB, 0);
    free(text);
    free(q);
    lw_debate_result_free(&dr);

    /* several agents and rounds, both channels, run and vote */
    lw_agent agents[3] = {{SA, 0.0f}, {SB, 0.7f}, {SA, 1.0f}};
    dp.rounds = 2;
    for (int c = 0; c < 2; c++) {
        dp.channel = c ? LW_CHANNEL_CIPHER : LW_CHANNEL_TEXT;
        assert_int_equal(lw_debate_run(agents, 3, &dp, QUESTION, &dr), 0);
        assert_int_equal(dr.rounds, 2);
        assert_non_null(dr.final);
        assert_true(dr.final_agent >= 0 && dr.final_agent < 3);
        lw_debate_result_free(&dr);
    }
}

static void test_majority_rule(void **state) {
    char *a[] = {"The answer is 12.", "12", "It is 7", "7 apples"};
    assert_int_equal(lw_majority_vote(a, 4, true), 0); /* 12 vs 7 tie: the earlier agent's key */
    char *b[] = {"blue", "Red.", "the red", "blue!", "red"};
    assert_int_equal(lw_majority_vote(b, 5, false), 1); /* red x3 beats blue x2 */
    char *c[] = {"cat", "dog"};
    assert_int_equal(lw_majority_vote(c, 2, false), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cipher_onehot_is_text),
        cmocka_unit_test(test_ac_identities),
        cmocka_unit_test(test_ac_map_is_the_bridge_ridge),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_debate),
        cmocka_unit_test(test_majority_rule),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
