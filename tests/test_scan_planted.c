/* The layer scan finds a planted layer on a synthetic model built so that only one layer's
 * patch carries the answer (issue 9), through the real patching evaluator (lw_scan_run on
 * llama.cpp), not an injected one.
 *
 * The model (llama architecture, width 64, 4 blocks, untied output; every weight zero but those
 * set here). Residual coordinates: BIAS (1 in every token's embedding but the marker's), MARK
 * (50 in the marker token "Tom" only), IN[j] (1 in answer word j's embedding: dog, cat, ball,
 * tree), MID[j] and OUT[j], j = 0..3, and MID[W] / OUT[W] for a wrong answer ("sun"). The output
 * matrix reads OUT only: answer j's row is 1 at OUT[j], "sun"'s at OUT[W], every other row 0, so
 * the first answer token is answer j when OUT[j] is the largest positive coordinate.
 * Two blocks are planted, A at block a and B at block a + 1 (the others are zero: identity):
 *   A  attention (head 0): query from BIAS, key from MARK, value from BIAS, written to MID[W]:
 *      where the context holds the marker the head attends to it (value 0), elsewhere it
 *      averages the other tokens' BIAS values: a large MID[W]. FFN: MID[j] += c IN[j]
 *      (SwiGLU gated by BIAS, in its linear range).
 *   B  attention: query from BIAS, key and value from MARK, written to OUT[W]: a large OUT[W]
 *      exactly where the context holds the marker. FFN: OUT[j] += c MID[j], OUT[W] += c MID[W].
 * The sender's text begins with the marker and ends with answer word j; the receiver's query
 * has no marker. So the sender's residual at the last position after block a holds MID[j] and
 * no MID[W]: patched into the receiver after its block a, block B sees no marker in the
 * receiver's context and copies MID[j] to OUT[j]: the answer. Patched after an earlier block,
 * the receiver's own block A (no marker) floods MID[W]: "sun". Patched after block a + 1 or
 * later, the sender's own block B (marker in its context) has flooded OUT[W]: "sun". The
 * floor (no patch) answers "sun". Only layer a carries the answer. The attention's query and
 * key sit on head dimension 14, RoPE's slowest pair (3e-4 rad per position at base 10000), so
 * the scores do not depend on positions.
 * Checked for a = 1 and a = 2: on the selection split the scan scores 1 at layer a and 0 at
 * every other layer and at the floor, and chooses layer a; the held-out split agrees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/scan.h"
#include "support/synth_model.h"
#include "support/testutil.h"

enum { D = 64, HEAD_DIM = 16, N_LAYER = 4, N_ANS = 4, N_FF = 192 };
enum { IN0 = 0, MID0 = 8, OUT0 = 16, W_SLOT = N_ANS, QK_DIM = 14, V_DIM = 0, MARK = 62, BIAS = 63 };

static const char *ANSWERS[N_ANS] = {"dog", "cat", "ball", "tree"};

typedef struct {
    int planted;            /* block A's index; B is planted + 1 */
    int32_t answer[N_ANS], wrong, marker;
    int n_vocab;
} plant;

static int block_of(const char *name) {
    int l = -1;
    return sscanf(name, "blk.%d.", &l) == 1 ? l : -1;
}

static bool is(const char *name, const char *suffix) {
    size_t n = strlen(name), m = strlen(suffix);
    return n >= m && !strcmp(name + n - m, suffix);
}

/* [row][col] of a ne0-wide tensor */
#define AT(v, ne0, row, col) (v)[(size_t)(row) * (size_t)(ne0) + (size_t)(col)]

static void fill(void *ctx, const char *name, int64_t ne0, int64_t ne1, float *v) {
    const plant *p = ctx;
    int l = block_of(name);
    bool norm = is(name, "norm.weight");
    for (int64_t i = 0; i < ne0 * ne1; i++) v[i] = norm ? 1.0f : 0.0f;
    if (!strcmp(name, "token_embd.weight")) {
        for (int t = 0; t < p->n_vocab; t++) AT(v, ne0, t, BIAS) = 1.0f;
        AT(v, ne0, p->marker, BIAS) = 0.0f; /* the marker's value in block A is 0 */
        AT(v, ne0, p->marker, MARK) = 50.0f;
        for (int j = 0; j < N_ANS; j++) AT(v, ne0, p->answer[j], IN0 + j) = 1.0f;
        return;
    }
    if (!strcmp(name, "output.weight")) {
        for (int j = 0; j < N_ANS; j++) AT(v, ne0, p->answer[j], OUT0 + j) = 1.0f;
        AT(v, ne0, p->wrong, OUT0 + W_SLOT) = 1.0f;
        return;
    }
    if (l != p->planted && l != p->planted + 1) return;
    bool A = l == p->planted;
    if (is(name, "attn_q.weight")) AT(v, ne0, QK_DIM, BIAS) = 2.0f;                /* head 0 */
    else if (is(name, "attn_k.weight")) AT(v, ne0, QK_DIM, MARK) = 2.0f;
    else if (is(name, "attn_v.weight")) AT(v, ne0, V_DIM, A ? BIAS : MARK) = 1.0f;
    else if (is(name, "attn_output.weight")) AT(v, ne0, (A ? MID0 : OUT0) + W_SLOT, V_DIM) = 20.0f;
    else if (is(name, "ffn_gate.weight"))
        for (int j = 0; j <= W_SLOT; j++) AT(v, ne0, j, BIAS) = 1.0f;
    else if (is(name, "ffn_up.weight"))
        for (int j = 0; j <= W_SLOT; j++) {
            if (A && j == W_SLOT) continue; /* A copies the answers only */
            AT(v, ne0, j, (A ? IN0 : MID0) + j) = 1.0f;
        }
    else if (is(name, "ffn_down.weight"))
        for (int j = 0; j <= W_SLOT; j++) AT(v, ne0, (A ? MID0 : OUT0) + j, j) = 0.1f;
}

static int32_t one_token(const lw_model *m, const char *word) {
    int32_t *t = NULL;
    int n = lw_tokenize_alloc(m, word, false, &t);
    if (n != 1) fail_msg("\"%s\" is %d tokens in the synthetic vocabulary, not 1", word, n);
    int32_t id = t[0];
    free(t);
    return id;
}

static lw_synth_params shape(void) {
    lw_synth_params sp = lw_synth_default_params();
    sp.n_embd = D;
    sp.n_layer = N_LAYER;
    sp.n_head = D / HEAD_DIM;
    sp.n_head_kv = D / HEAD_DIM;
    sp.n_ff = N_FF;
    sp.tied = false;
    return sp;
}

/* The planted model's path. The token ids come from a first, random model of the same vocabulary. */
static const char *write_planted(int planted, plant *p) {
    lw_synth_params sp = shape();
    const char *probe = lw_test_tmpfile("planted_probe.gguf");
    assert_int_equal(lw_synth_write(probe, &sp), 0);
    lw_model *m = lw_model_load(probe, lw_model_default_params());
    assert_non_null(m);
    memset(p, 0, sizeof *p);
    p->planted = planted;
    p->n_vocab = sp.n_vocab;
    for (int j = 0; j < N_ANS; j++) p->answer[j] = one_token(m, ANSWERS[j]);
    p->wrong = one_token(m, "sun");
    p->marker = one_token(m, "Tom");
    lw_model_free(m);
    sp.fill = fill;
    sp.fill_ctx = p;
    char name[64];
    snprintf(name, sizeof name, "planted_%d.gguf", planted);
    const char *path = lw_test_tmpfile(name);
    assert_int_equal(lw_synth_write(path, &sp), 0);
    return path;
}

/* Items: the sender's text starts with the marker and ends with the answer; the receiver's query
 * has neither the marker nor an answer word. */
static void make_pool(lw_task *pool) {
    static const char *lead[] = {"Tom saw a big", "Tom had a red", "Tom went to the", "Tom and she saw the",
                                 "Tom said it was a", "Tom wanted the"};
    static const char *query[] = {"the boy went home", "she was very happy", "they went to the park",
                                  "one day he said", "the girl had a toy", "it was a big day"};
    int n = 6 * N_ANS;
    pool->items = calloc((size_t)n, sizeof *pool->items);
    pool->n = n;
    for (int i = 0; i < n; i++) {
        char buf[96];
        lw_task_item *it = &pool->items[i];
        snprintf(buf, sizeof buf, "p%d", i);
        it->id = strdup(buf);
        snprintf(buf, sizeof buf, "%s %s", lead[i / N_ANS], ANSWERS[i % N_ANS]);
        it->sender = strdup(buf);
        it->receiver = strdup(query[(i + i / N_ANS) % 6]);
        it->gold = strdup(ANSWERS[i % N_ANS]);
        it->scorer = LW_SCORE_EXACT;
    }
}

/* A one-thread session on the planted model at path (*m: the model, freed by the caller). */
static lw_session *planted_session(const char *path, lw_model **m) {
    *m = lw_model_load(path, lw_model_default_params());
    assert_non_null(*m);
    lw_session_params spar = lw_session_default_params();
    spar.n_threads = 1;
    lw_session *s = lw_session_new(*m, spar);
    assert_non_null(s);
    return s;
}

static const int LAYERS[N_LAYER] = {0, 1, 2, 3};

/* Every block scanned, 8 selection items, the rest held out, 3 answer tokens, through s. */
static void planted_scan_setup(lw_session *s, lw_scan_params *sp, lw_scan_models *sm) {
    *sp = lw_scan_default_params();
    sp->layers = LAYERS;
    sp->n_layers = N_LAYER;
    sp->n_select = 8;
    sp->n_report = -1;
    *sm = (lw_scan_models){.sender = s, .receiver = s, .patch = lw_patch_default_params()};
    sm->patch.answer_tokens = 3;
}

static void scan_finds(int planted) {
    plant p;
    const char *path = write_planted(planted, &p);
    lw_model *m;
    lw_session *s = planted_session(path, &m);
    lw_task pool = {0};
    make_pool(&pool);
    lw_scan_params sp;
    lw_scan_models sm;
    planted_scan_setup(s, &sp, &sm);
    lw_scan_result r;
    if (lw_scan_run(&pool, &sp, &sm, &r) != 0) fail_msg("scan: %s", lw_last_error());
    for (int k = 0; k < N_LAYER; k++) {
        double want = k == planted ? 1.0 : 0.0;
        if (r.layers[k].select.mean != want || r.layers[k].held_out.mean != want)
            fail_msg("planted at %d: layer %d scores %.3f on the selection split and %.3f held out, expected %.0f",
                     planted, k, r.layers[k].select.mean, r.layers[k].held_out.mean, want);
    }
    assert_float_equal(r.floor_select.mean, 0.0, 0);
    assert_float_equal(r.floor.mean, 0.0, 0);
    assert_int_equal(r.chosen, planted);
    assert_int_equal(r.layers[r.chosen].layer, planted);
    assert_int_equal(r.layers[r.chosen].select.n, 8);
    assert_int_equal(r.layers[r.chosen].held_out.n, pool.n - 8);
    lw_scan_result_free(&r);
    lw_task_free(&pool);
    lw_session_free(s);
    lw_model_free(m);
}

static void test_planted_at_1(void **state) {
    (void)state;
    scan_finds(1);
}

static void test_planted_at_2(void **state) {
    (void)state;
    scan_finds(2);
}

/* The task-vector readout (lw_patch_params.task_vector) reads the sender's text with the last answer
 * withheld. Senders "LEAD x\noutput: ANSWER" (LEAD: the pool's lead, "Tom saw a big"; x a letter): read whole, the last position is the answer's
 * word and only the planted layer carries it (1 there, 0 elsewhere); read with the answer withheld,
 * the last position is the ':' of "output:", which carries no answer (0 everywhere), and every
 * score equals the plain reading of senders that were cut by hand. */
static void make_open_pool(lw_task *pool, bool cut) {
    make_pool(pool);
    for (int i = 0; i < pool->n; i++) {
        char buf[96];
        lw_task_item *it = &pool->items[i];
        int lead = (int)(strrchr(it->sender, ' ') - it->sender); /* "Tom saw a big dog" -> "Tom saw a big" */
        /* a letter per item keeps the cut texts distinct, so both pools split alike (by text) */
        snprintf(buf, sizeof buf, "%.*s %c\noutput:%s%s", lead, it->sender, 'a' + i, cut ? "" : " ",
                 cut ? "" : it->gold);
        free(it->sender);
        it->sender = strdup(buf);
    }
}

static void test_task_vector_reads_the_open_text(void **state) {
    (void)state;
    plant p;
    const int planted = 1;
    const char *path = write_planted(planted, &p);
    lw_model *m;
    lw_session *s = planted_session(path, &m);
    lw_scan_params sp;
    lw_scan_models sm;
    planted_scan_setup(s, &sp, &sm);
    lw_task whole = {0}, cut = {0};
    make_open_pool(&whole, false);
    make_open_pool(&cut, true);
    lw_scan_result plain, tv, by_hand;
    if (lw_scan_run(&whole, &sp, &sm, &plain) != 0) fail_msg("scan: %s", lw_last_error());
    sm.patch.task_vector = true;
    if (lw_scan_run(&whole, &sp, &sm, &tv) != 0) fail_msg("scan: %s", lw_last_error());
    sm.patch.task_vector = false;
    if (lw_scan_run(&cut, &sp, &sm, &by_hand) != 0) fail_msg("scan: %s", lw_last_error());
    for (int k = 0; k < N_LAYER; k++) {
        assert_float_equal(plain.layers[k].held_out.mean, k == planted ? 1.0 : 0.0, 0);
        assert_float_equal(tv.layers[k].held_out.mean, 0.0, 0);
        for (int split = 0; split < 2; split++) /* by item id */
            for (int i = 0; i < (split ? tv.held_out.n : tv.select.n); i++) {
                const char *id = (split ? tv.held_out : tv.select).items[i].id;
                int found = 0;
                for (int s2 = 0; s2 < 2; s2++)
                    for (int j = 0; j < (s2 ? by_hand.held_out.n : by_hand.select.n); j++)
                        if (!strcmp((s2 ? by_hand.held_out : by_hand.select).items[j].id, id)) {
                            assert_float_equal(lw_scan_score(&tv, split, k, i), lw_scan_score(&by_hand, s2, k, j), 0);
                            found++;
                        }
                assert_int_equal(found, 1);
            }
    }
    /* a sender without an "output:" line is refused before any forward pass, naming the item */
    sm.patch.task_vector = true;
    lw_task bad = {0};
    make_pool(&bad);
    lw_scan_result r;
    assert_int_equal(lw_scan_run(&bad, &sp, &sm, &r), -1);
    assert_non_null(strstr(lw_last_error(), "--task-vector: item"));
    lw_scan_result_free(&plain);
    lw_scan_result_free(&tv);
    lw_scan_result_free(&by_hand);
    lw_task_free(&whole);
    lw_task_free(&cut);
    lw_task_free(&bad);
    lw_session_free(s);
    lw_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planted_at_1),
        cmocka_unit_test(test_planted_at_2),
        cmocka_unit_test(test_task_vector_reads_the_open_text),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
