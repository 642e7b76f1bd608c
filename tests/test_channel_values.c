/* Channels and debate against values computed independently, on the TinyStories toy model
 * (../shared/models/stories260K.gguf; skipped with exit 77 when absent):
 *  - CIPHER: B's logits equal a naive replay that forms p = softmax(logits / T) truncated
 *    to top-k / top-p in double, e = sum_i p_i E[i] from lw_model_token_embeddings (not the
 *    channel's cached copy, not BLAS), the nearest token by cosine, and stops at an
 *    end-of-generation token; a replay with another T, k or p does not match (the check
 *    can fail);
 *  - debate: every round's answers equal a replay of the rule in channel.h (round 1: the
 *    question alone; round 2: the other agents' answers, then the question), for text and
 *    CIPHER;
 *  - AC: sum(a, b) equals replace with a + b and mean(a, b) equals replace with (a + b) / 2,
 *    b being B's own activation captured here; both differ from B alone; the default layers
 *    are each model's middle layer. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "channel/channel_internal.h" /* lw_ch_cipher_distribution, checked on its own */
#include "latentwire/channel.h"
#include "support/testutil.h"

static const char *STORY = "Once upon a time, there was a little boy named Tom. Tom had a big red kite.";
static const char *QUESTION = "The boy's name was";

/* A toy model with two sessions (sender and receiver) and its embedding matrix. */
typedef struct {
    lw_model *m;
    lw_session *a, *b;
    float *E; /* n_vocab x n_embd, the model's own copy for the naive sums */
    lw_model_info info;
} toy;

static toy T260, T656; /* stories260K; tinystories656K, which ends a story with EOS */
/* the toy the helpers below work on */
static lw_model *M;
static lw_session *SA, *SB;
static float *E;
static lw_model_info INFO;

static void use(const toy *t) {
    M = t->m;
    SA = t->a;
    SB = t->b;
    E = t->E;
    INFO = t->info;
}

static lw_session *session(lw_model *m) {
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = 2;
    return lw_session_new(m, sp);
}

static int load_toy(const char *rel, toy *t) {
    const char *path = lw_test_shared_path(rel);
    t->m = path ? lw_model_load(path, lw_model_default_params()) : NULL;
    if (!t->m) return -1;
    lw_model_get_info(t->m, &t->info);
    int v, d;
    t->E = lw_model_token_embeddings(t->m, &v, &d);
    t->a = session(t->m);
    t->b = session(t->m);
    return t->E && t->a && t->b && v == t->info.n_vocab && d == t->info.n_embd ? 0 : -1;
}

static void free_toy(toy *t) {
    lw_session_free(t->a);
    lw_session_free(t->b);
    lw_model_free(t->m);
    free(t->E);
}

static int setup(void **state) {
    if (load_toy("models/stories260K.gguf", &T260) != 0 || load_toy("models/tinystories656K.gguf", &T656) != 0)
        return -1;
    use(&T260);
    return 0;
}

static int teardown(void **state) {
    free_toy(&T260);
    free_toy(&T656);
    return 0;
}

/* Each test starts on stories260K. */
#define NEED_MODEL() use(&T260)

/* ------------------------------------------------------------------ a naive replay */

/* One model input as the channel builds it: pieces, each its own run with the logits of its
 * last position; a text piece after other content starts with a space unless the tokenizer
 * adds it itself. */
typedef struct {
    lw_session *s;
    bool sep;
} input;

static void start(input *in, lw_session *s) {
    in->s = s;
    in->sep = false;
    lw_session_clear(s, 0);
    lw_span sp = {.tokens = &INFO.bos, .n = 1};
    lw_seq_input si = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_LAST};
    assert_int_equal(lw_session_run(s, &si, 1), 0);
}

static void feed_span(input *in, const int32_t *tok, const float *embd, int n) {
    if (n <= 0) return;
    lw_span sp = {.tokens = tok, .embd = embd, .n = n};
    lw_seq_input si = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_LAST};
    assert_int_equal(lw_session_run(in->s, &si, 1), 0);
    in->sep = true;
}

static void feed_words(input *in, const char *text) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s%s", in->sep && !lw_tokenizer_adds_space(M) ? " " : "", text);
    int32_t *tok;
    int n = lw_tokenize_special_alloc(M, buf, false, &tok);
    assert_true(n > 0);
    feed_span(in, tok, NULL, n);
    free(tok);
}

static const float *logits_of(const input *in) {
    return lw_session_logits(in->s, 0, lw_session_seq_len(in->s, 0) - 1);
}

/* p = softmax(logits / T), the most probable tokens (ties: lower id) up to top_k kept until
 * their mass reaches top_p, renormalized; all in double, by selection rather than sorting. */
static void naive_distribution(const float *logits, double T, int top_k, double top_p, double *p) {
    const int V = INFO.n_vocab;
    double mx = -INFINITY, z = 0;
    for (int i = 0; i < V; i++) mx = fmax(mx, logits[i] / T);
    for (int i = 0; i < V; i++) z += exp(logits[i] / T - mx);
    for (int i = 0; i < V; i++) p[i] = exp(logits[i] / T - mx) / z;
    if (top_k <= 0 && top_p >= 1) return;
    bool *kept = calloc((size_t)V, sizeof(bool));
    double mass = 0;
    int n = 0, limit = top_k > 0 && top_k < V ? top_k : V;
    while (n < limit && !(n > 0 && mass >= top_p)) {
        int best = -1;
        for (int i = 0; i < V; i++)
            if (!kept[i] && (best < 0 || p[i] > p[best])) best = i;
        kept[best] = true;
        mass += p[best];
        n++;
    }
    for (int i = 0; i < V; i++) p[i] = kept[i] ? p[i] / mass : 0;
    free(kept);
}

/* e = sum_i p_i E[i], summed in double. */
static void naive_embedding(const double *p, float *e) {
    const int d = INFO.n_embd;
    for (int c = 0; c < d; c++) {
        double s = 0;
        for (int i = 0; i < INFO.n_vocab; i++) s += p[i] * E[(size_t)i * d + c];
        e[c] = (float)s;
    }
}

static int32_t naive_nearest(const float *e) {
    const int d = INFO.n_embd;
    int32_t best = -1;
    double top = -INFINITY;
    for (int i = 0; i < INFO.n_vocab; i++) {
        double dot = 0, nn = 0;
        for (int c = 0; c < d; c++) {
            dot += (double)E[(size_t)i * d + c] * e[c];
            nn += (double)E[(size_t)i * d + c] * E[(size_t)i * d + c];
        }
        if (nn > 0 && dot / sqrt(nn) > top) top = dot / sqrt(nn), best = i;
    }
    return best;
}

/* CIPHER from what is resident in `in`: up to max_steps distributions (into ps, steps x V)
 * and nearest tokens; stops before an end-of-generation token (*eog set). The step count. */
static int naive_cipher(input *in, int max_steps, double T, int top_k, double top_p, int32_t *tokens, double *ps,
                        bool *eog) {
    const int V = INFO.n_vocab;
    float *e = malloc(sizeof(float) * INFO.n_embd);
    int n = 0;
    *eog = false;
    for (int step = 0; step < max_steps; step++) {
        double *p = ps + (size_t)n * V;
        naive_distribution(logits_of(in), T, top_k, top_p, p);
        naive_embedding(p, e);
        int32_t near = naive_nearest(e);
        if (lw_token_is_eog(M, near)) {
            *eog = true;
            break;
        }
        tokens[n++] = near;
        if (step + 1 == max_steps) break;
        feed_span(in, NULL, e, 1);
    }
    free(e);
    return n;
}

/* B reads the distributions as soft tokens, then the prompt: its logits (malloc'd). */
static float *naive_receive(const double *ps, int n, const char *prompt) {
    input b;
    start(&b, SB);
    float *soft = malloc(sizeof(float) * (size_t)(n ? n : 1) * INFO.n_embd);
    for (int t = 0; t < n; t++) naive_embedding(ps + (size_t)t * INFO.n_vocab, soft + (size_t)t * INFO.n_embd);
    feed_span(&b, NULL, soft, n);
    free(soft);
    feed_words(&b, prompt);
    float *l = malloc(sizeof(float) * INFO.n_vocab);
    memcpy(l, logits_of(&b), sizeof(float) * INFO.n_vocab);
    lw_session_clear(SB, 0);
    return l;
}

/* The whole CIPHER channel replayed: B's logits, the message tokens and whether it ended at EOG. */
static float *naive_cipher_channel(const char *text, int steps, double T, int top_k, double top_p, int32_t *tokens,
                                   int *n_out, bool *eog) {
    input a;
    start(&a, SA);
    feed_words(&a, text);
    double *ps = malloc(sizeof(double) * (size_t)steps * INFO.n_vocab);
    int n = naive_cipher(&a, steps, T, top_k, top_p, tokens, ps, eog);
    lw_session_clear(SA, 0);
    float *l = naive_receive(ps, n, QUESTION);
    free(ps);
    *n_out = n;
    return l;
}

/* Relative to the largest logit: the two runs feed float32 vectors that differ in rounding. */
static double logit_err(const float *a, const float *b) { return lw_test_max_rel_err(a, b, INFO.n_vocab, 1.0); }

/* ------------------------------------------------------------------ CIPHER */

/* top-p keeps the fewest tokens whose mass reaches p, the one that reaches it included: four equal
 * logits (0.25 each, exact in float) at top_p 0.5 keep two at 0.5 each. A mutant asking for mass
 * above p kept three (the replay below never lands on the boundary exactly). */
static void test_cipher_top_p_boundary(void **state) {
    (void)state;
    const float logits[4] = {1, 1, 1, 1};
    float p[4];
    lw_channel_params prm = lw_channel_default_params();
    prm.sender_temp = 1.0f, prm.cipher_top_k = 0, prm.cipher_top_p = 0.5f;
    lw_ch_cipher_distribution(logits, 4, &prm, p);
    const float want[4] = {0.5f, 0.5f, 0, 0}; /* ties: the lower ids first */
    for (int i = 0; i < 4; i++)
        if (p[i] != want[i]) fail_msg("p[%d] = %g, want %g", i, p[i], want[i]);
    prm.cipher_top_p = 0.75f; /* three reach it */
    lw_ch_cipher_distribution(logits, 4, &prm, p);
    for (int i = 0; i < 4; i++) assert_true(fabsf(p[i] - (i < 3 ? 1.0f / 3 : 0.0f)) < 1e-7f);
}

static void test_cipher_expected_embedding(void **state) {
    NEED_MODEL();
    const struct {
        double T;
        int k;
        double p;
    } cfg[] = {{0.7, 0, 1.0}, {1.0, 5, 1.0}, {1.0, 0, 0.5}, {1.5, 20, 0.9}};
    for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
        lw_channel_params p = lw_channel_default_params();
        p.kind = LW_CHANNEL_CIPHER;
        p.message_tokens = 1;
        p.sender_temp = (float)cfg[c].T;
        p.cipher_top_k = cfg[c].k;
        p.cipher_top_p = (float)cfg[c].p;
        lw_channel_result r;
        float *got;
        assert_int_equal(lw_channel_run(SA, SB, &p, STORY, QUESTION, &r, &got), 0);
        assert_int_equal(r.n_message, 1);
        int32_t tok[1];
        int n;
        bool eog;
        float *want = naive_cipher_channel(STORY, 1, cfg[c].T, cfg[c].k, cfg[c].p, tok, &n, &eog);
        float *plain = naive_cipher_channel(STORY, 1, 1.0, 0, 1.0, tok, &n, &eog);
        double err = logit_err(got, want), off = logit_err(got, plain);
        print_message("CIPHER T=%.1f top-k=%d top-p=%.1f: against the naive p.E %.2g, against T=1 untruncated %.2g\n",
                      cfg[c].T, cfg[c].k, cfg[c].p, err, off);
        assert_true(err < 1e-4);
        assert_true(off > 1e-3); /* the setting matters: the replay can tell them apart */
        assert_int_equal(r.message_tokens[0], tok[0]);
        free(got);
        free(want);
        free(plain);
        lw_channel_result_free(&r);
    }
}

/* Several steps fed back, on both toy models; tinystories656K writes "<|end_story|>" and
 * then ends the story with EOS, where the message must stop. */
static void check_steps(const char *text, int steps, double T, bool *stopped) {
    lw_channel_params p = lw_channel_default_params();
    p.kind = LW_CHANNEL_CIPHER;
    p.message_tokens = steps;
    p.sender_temp = (float)T;
    lw_channel_result r;
    float *got;
    assert_int_equal(lw_channel_run(SA, SB, &p, text, QUESTION, &r, &got), 0);
    int32_t tok[64];
    int n;
    bool eog;
    float *want = naive_cipher_channel(text, steps, T, 0, 1.0, tok, &n, &eog);
    print_message("CIPHER \"%s\": %d steps (naive %d, %s), logits err %.2g\n", text, r.n_message, n,
                  eog ? "ended at EOG" : "at the limit", logit_err(got, want));
    assert_int_equal(r.n_message, n);
    assert_memory_equal(r.message_tokens, tok, sizeof(int32_t) * (size_t)n);
    /* vectors fed back: float rounding compounds a little, the tokens above are exact */
    assert_true(logit_err(got, want) < 1e-3);
    *stopped = eog && n < steps;
    free(got);
    free(want);
    lw_channel_result_free(&r);
}

static void test_cipher_steps_and_stop_rule(void **state) {
    NEED_MODEL();
    bool stopped;
    check_steps(STORY, 16, 0.5, &stopped);
    assert_false(stopped);
    use(&T656);
    check_steps("Once upon a time, there was a little boy named Tom. Tom had a kite. He loved his kite very much.", 24, 0.3,
                &stopped);
    assert_true(stopped); /* the stop rule was exercised */
    use(&T260);
}

/* ------------------------------------------------------------------ debate */

static char *generate_text(lw_session *s, int max_tokens, float temp, uint32_t seed) {
    lw_gen_params gp = lw_gen_default_params();
    gp.max_tokens = max_tokens;
    gp.temperature = temp;
    gp.seed = seed;
    int32_t *out = malloc(sizeof(int32_t) * (size_t)(max_tokens + 1));
    int n = lw_generate(s, 0, NULL, 0, &gp, out, max_tokens);
    assert_true(n >= 0);
    char *text = lw_detokenize(M, out, n, false);
    free(out);
    lw_session_clear(s, 0);
    return text;
}

static void test_debate_text_replay(void **state) {
    NEED_MODEL();
    lw_agent agents[2] = {{SA, 0.0f}, {SB, 0.9f}};
    lw_debate_params dp = lw_debate_default_params();
    dp.rounds = 2;
    dp.answer_tokens = 8;
    dp.seed = 5;
    lw_debate_result dr;
    assert_int_equal(lw_debate_run(agents, 2, &dp, QUESTION, &dr), 0);
    char *want[2][2];
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 2; i++) {
            input in;
            start(&in, agents[i].session);
            if (r == 1 && want[0][1 - i][0]) feed_words(&in, want[0][1 - i]);
            feed_words(&in, QUESTION);
            want[r][i] = generate_text(agents[i].session, 8, agents[i].temperature, (uint32_t)(5 + 1000 * r + i));
            assert_string_equal(dr.answers[r * 2 + i], want[r][i]);
        }
    assert_string_equal(dr.final, want[1][lw_majority_vote(want[1], 2, false)]);
    assert_string_not_equal(want[1][0], want[0][0]); /* round 2 read something */
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 2; i++) free(want[r][i]);
    lw_debate_result_free(&dr);
}

static void test_debate_cipher_replay(void **state) {
    NEED_MODEL();
    lw_agent agents[2] = {{SA, 0.0f}, {SB, 0.6f}}; /* CIPHER's T: the agent's, or 1 when greedy */
    const double T[2] = {1.0, 0.6};
    lw_debate_params dp = lw_debate_default_params();
    dp.rounds = 2;
    dp.answer_tokens = 6;
    dp.channel = LW_CHANNEL_CIPHER;
    lw_debate_result dr;
    assert_int_equal(lw_debate_run(agents, 2, &dp, QUESTION, &dr), 0);
    const int V = INFO.n_vocab, S = 6;
    double *ps[2][2];
    int n[2][2];
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 2; i++) {
            input in;
            start(&in, agents[i].session);
            if (r == 1) { /* the other agent's round-1 distributions, embedded by this agent */
                float *soft = malloc(sizeof(float) * (size_t)S * INFO.n_embd);
                for (int t = 0; t < n[0][1 - i]; t++)
                    naive_embedding(ps[0][1 - i] + (size_t)t * V, soft + (size_t)t * INFO.n_embd);
                feed_span(&in, NULL, soft, n[0][1 - i]);
                free(soft);
            }
            feed_words(&in, QUESTION);
            ps[r][i] = malloc(sizeof(double) * (size_t)S * V);
            int32_t tok[6];
            bool eog;
            n[r][i] = naive_cipher(&in, S, T[i], 0, 1.0, tok, ps[r][i], &eog);
            lw_session_clear(agents[i].session, 0);
            char *text = lw_detokenize(M, tok, n[r][i], false);
            assert_string_equal(dr.answers[r * 2 + i], text);
            free(text);
        }
    assert_true(n[0][0] > 0 && n[0][1] > 0);
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 2; i++) free(ps[r][i]);
    lw_debate_result_free(&dr);
}

/* ------------------------------------------------------------------ AC */

static float *channel_logits(const lw_channel_params *p) {
    lw_channel_result r;
    float *l;
    if (lw_channel_run(SA, SB, p, STORY, QUESTION, &r, &l) != 0) fail_msg("%s", lw_last_error());
    lw_channel_result_free(&r);
    return l;
}

/* B's own residual at layer j at the last prompt position, read the channel's way. */
static float *receiver_activation(int j) {
    input b;
    start(&b, SB);
    lw_hook h = lw_hook_default();
    h.layer = j;
    h.pos_mode = LW_POS_LAST;
    int id = lw_session_add_hook(SB, &h);
    assert_true(id >= 0);
    feed_words(&b, QUESTION);
    const float *rows;
    int n = lw_session_capture(SB, id, &rows, NULL, NULL);
    assert_true(n >= 1);
    float *v = malloc(sizeof(float) * INFO.n_embd);
    memcpy(v, rows + (size_t)(n - 1) * INFO.n_embd, sizeof(float) * INFO.n_embd);
    lw_session_clear_hooks(SB);
    lw_session_clear(SB, 0);
    return v;
}

static void test_ac_sum_and_mean_closed_forms(void **state) {
    NEED_MODEL();
    const int d = INFO.n_embd, k = 1, j = 2;
    lw_channel_params none = lw_channel_default_params();
    none.kind = LW_CHANNEL_NONE;
    float *alone = channel_logits(&none);
    float *b = receiver_activation(j);
    float *eye = calloc((size_t)d * d, sizeof(float)), *half = calloc((size_t)d * d, sizeof(float));
    float *half_b = malloc(sizeof(float) * d);
    for (int i = 0; i < d; i++) eye[(size_t)i * d + i] = 1.0f, half[(size_t)i * d + i] = 0.5f, half_b[i] = 0.5f * b[i];
    lw_channel_params ac = lw_channel_default_params();
    ac.kind = LW_CHANNEL_AC;
    ac.ac_k = k;
    ac.ac_j = j;
    /* sum: b + a == replace with I a + b */
    ac.ac_op = LW_AC_SUM;
    float *sum = channel_logits(&ac);
    ac.ac_op = LW_AC_REPLACE;
    ac.ac_W = eye;
    ac.ac_bias = b;
    float *sum_ref = channel_logits(&ac);
    assert_memory_equal(sum, sum_ref, sizeof(float) * INFO.n_vocab);
    /* mean: (b + a) / 2 == replace with 0.5 I a + 0.5 b */
    ac.ac_W = NULL;
    ac.ac_bias = NULL;
    ac.ac_op = LW_AC_MEAN;
    float *mean = channel_logits(&ac);
    ac.ac_op = LW_AC_REPLACE;
    ac.ac_W = half;
    ac.ac_bias = half_b;
    float *mean_ref = channel_logits(&ac);
    assert_memory_equal(mean, mean_ref, sizeof(float) * INFO.n_vocab);
    /* and the grafts act: each differs from B alone and from the other */
    assert_true(lw_test_max_abs_diff(sum, alone, INFO.n_vocab) > 1e-4);
    assert_true(lw_test_max_abs_diff(mean, alone, INFO.n_vocab) > 1e-4);
    assert_true(lw_test_max_abs_diff(mean, sum, INFO.n_vocab) > 1e-4);
    /* sum with W = 0 is B alone, with W = I it is not */
    float *zero = calloc((size_t)d * d, sizeof(float));
    ac.ac_op = LW_AC_SUM;
    ac.ac_W = zero;
    ac.ac_bias = NULL;
    float *sz = channel_logits(&ac);
    assert_memory_equal(sz, alone, sizeof(float) * INFO.n_vocab);
    free(sz);
    free(zero);
    free(alone), free(b), free(eye), free(half), free(half_b);
    free(sum), free(sum_ref), free(mean), free(mean_ref);
}

static void test_ac_default_is_the_middle_layer(void **state) {
    NEED_MODEL();
    lw_channel_params ac = lw_channel_default_params();
    ac.kind = LW_CHANNEL_AC;
    assert_int_equal(ac.ac_k, LW_AC_LAYER_MIDDLE);
    assert_int_equal(lw_channel_resolve_layer(LW_AC_LAYER_MIDDLE, INFO.n_layer), INFO.n_layer / 2);
    float *def = channel_logits(&ac);
    ac.ac_k = ac.ac_j = INFO.n_layer / 2;
    float *mid = channel_logits(&ac);
    ac.ac_k = ac.ac_j = -1;
    float *last = channel_logits(&ac);
    assert_memory_equal(def, mid, sizeof(float) * INFO.n_vocab);
    assert_true(lw_test_max_abs_diff(def, last, INFO.n_vocab) > 1e-4);
    free(def), free(mid), free(last);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cipher_top_p_boundary),
        cmocka_unit_test(test_cipher_expected_embedding),
        cmocka_unit_test(test_cipher_steps_and_stop_rule),
        cmocka_unit_test(test_debate_text_replay),
        cmocka_unit_test(test_debate_cipher_replay),
        cmocka_unit_test(test_ac_sum_and_mean_closed_forms),
        cmocka_unit_test(test_ac_default_is_the_middle_layer),
    };
    if (!lw_test_shared_path("models/stories260K.gguf") || !lw_test_shared_path("models/tinystories656K.gguf")) {
        fprintf(stderr, "skipped: the toy models in ../shared/models are not there (set LW_SHARED_DIR)\n");
        return 77;
    }
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
