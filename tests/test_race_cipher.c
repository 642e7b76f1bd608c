/* The race's cipher channel (CIPHER quantized to the budget, race.h):
 *  - the shape at every budget against its closed form, and the serialized payload within the
 *    budget for every budget 8..4096 bits and three vocabulary sizes (random distributions,
 *    fewer steps than the shape holds too); decode(encode(x)) gives the ids and the quantized,
 *    renormalized weights; a budget without room for G ids is refused naming the smallest;
 *  - with m = 1 on a toy model: the payload's ids are the sender's greedy continuation
 *    (lw_generate), the soft tokens are those tokens' embedding rows exactly, and the
 *    evaluator's answer equals the receiver's answer when it reads the hard tokens in the same
 *    pieces ([BOS], the continuation, the query);
 *  - the per-item records of the cipher channel have the keys the text channel's have, and a
 *    budget below one token id is a "not applicable" cell saying why;
 *  - two models with different vocabularies are refused up front. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/rng.h"
#include "race/race_internal.h"
#include "support/testutil.h"

static int closed_form_top(int64_t K, int G, int id_bits) {
    int64_t t = (K / G) / (id_bits + LW_RACE_CIPHER_WEIGHT_BITS);
    if (t > LW_RACE_CIPHER_MAX_TOP) t = LW_RACE_CIPHER_MAX_TOP;
    return t >= 2 ? (int)t : 1;
}

static void test_payload_fits_every_budget(void **state) {
    (void)state;
    const int vocab[] = {512, 49152, 262144}, ids_bits[] = {9, 16, 18};
    const int steps[] = {0, 1, 3, 8};
    lw_rng r;
    lw_rng_seed(&r, 7);
    int checked = 0, multi = 0;
    for (int v = 0; v < 3; v++)
        for (int64_t K = 8; K <= 4096; K += K < 64 ? 8 : K) {
            for (int si = 0; si < 4; si++) {
                lw_race_cipher_shape sh;
                int G = steps[si] ? steps[si] : (int)(K / ids_bits[v] < 24 ? K / ids_bits[v] : 24);
                if (G < 1 || (int64_t)G * ids_bits[v] > K) { /* nothing fits: refused, naming the smallest budget */
                    assert_int_equal(lw_race_cipher_shape_for(K, vocab[v], steps[si], &sh), -1);
                    assert_non_null(strstr(lw_last_error(), "the smallest budget that fits is"));
                    continue;
                }
                assert_int_equal(lw_race_cipher_shape_for(K, vocab[v], steps[si], &sh), 0);
                assert_int_equal(sh.steps, G);
                assert_int_equal(sh.id_bits, ids_bits[v]);
                assert_int_equal(sh.top, closed_form_top(K, G, ids_bits[v]));
                assert_int_equal(sh.weight_bits, sh.top >= 2 ? LW_RACE_CIPHER_WEIGHT_BITS : 0);
                multi += sh.top >= 2;
                size_t k = (size_t)sh.steps * sh.top;
                int32_t *ids = malloc(sizeof *ids * k), *back = malloc(sizeof *back * k);
                float *w = malloc(sizeof *w * k), *bw = malloc(sizeof *bw * k);
                for (int used = sh.steps; used >= sh.steps - 1 && used >= 0; used--) {
                    for (int t = 0; t < used; t++) { /* a step's weights: descending, summing to 1 */
                        double sum = 0;
                        for (int j = 0; j < sh.top; j++) {
                            ids[t * sh.top + j] = (int32_t)(lw_rng_next(&r) % (uint64_t)vocab[v]);
                            w[t * sh.top + j] = (float)(1.0 / (1 + j + lw_rng_uniform(&r)));
                            sum += w[t * sh.top + j];
                        }
                        for (int j = 0; j < sh.top; j++) w[t * sh.top + j] = (float)(w[t * sh.top + j] / sum);
                    }
                    uint8_t *bytes;
                    size_t nb;
                    assert_int_equal(lw_race_cipher_encode(&sh, ids, w, used, &bytes, &nb), 0);
                    assert_true((int64_t)nb * 8 <= K); /* on the serialized bytes */
                    assert_int_equal(nb, ((size_t)used * sh.step_bits + 7) / 8);
                    int got = -1;
                    assert_int_equal(lw_race_cipher_decode(&sh, vocab[v], bytes, nb, back, bw, &got), 0);
                    assert_int_equal(got, used);
                    double levels = (1 << sh.weight_bits) - 1;
                    for (int t = 0; t < used; t++) {
                        double qsum = 0;
                        for (int j = 0; j < sh.top; j++) qsum += sh.weight_bits ? lrint(w[t * sh.top + j] * levels) : 1;
                        for (int j = 0; j < sh.top; j++) {
                            int at = t * sh.top + j;
                            assert_int_equal(back[at], ids[at]);
                            double q = sh.weight_bits ? lrint(w[at] * levels) : 1;
                            assert_float_equal(bw[at], q / qsum, 1e-6);
                        }
                    }
                    free(bytes);
                    checked++;
                }
                free(ids), free(back), free(w), free(bw);
            }
        }
    assert_true(checked > 100);
    assert_true(multi > 10); /* budgets where steps carry several entries */
    /* malformed payloads: a length that is not whole steps, an id past the vocabulary, padding */
    lw_race_cipher_shape sh;
    assert_int_equal(lw_race_cipher_shape_for(64, 512, 4, &sh), 0); /* 4 steps of one 9-bit id: 5 bytes */
    int32_t ids[4];
    float w[4];
    int got;
    uint8_t bad[8] = {0};
    assert_int_equal(lw_race_cipher_decode(&sh, 512, bad, 6, ids, w, &got), -1);
    assert_non_null(strstr(lw_last_error(), "not a whole number of 9-bit steps"));
    uint8_t pad[5] = {0, 0, 0, 0, 0x80};
    assert_int_equal(lw_race_cipher_decode(&sh, 512, pad, 5, ids, w, &got), -1);
    assert_non_null(strstr(lw_last_error(), "padding"));
    assert_int_equal(lw_race_cipher_decode(&sh, 300, (const uint8_t *)"\xff\x01", 2, ids, w, &got), -1);
    assert_non_null(strstr(lw_last_error(), "past the vocabulary"));
}

/* ---- on a toy model ---- */

static const char *SENDER = "Once upon a time, there was a little girl named Lily. She loved to play";
static const char *QUERY = "One day, Lily went to the park. She saw a";

static lw_model *toy(const char *rel) {
    const char *path = lw_test_shared_path(rel);
    return path ? lw_model_load(path, lw_model_default_params()) : NULL;
}

static lw_session *session_of(lw_model *m) {
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = 1;
    lw_session *s = lw_session_new(m, sp);
    assert_non_null(s);
    return s;
}

static void run_tokens(lw_session *s, const int32_t *t, int n) {
    lw_span sp = {.tokens = t, .n = n};
    lw_seq_input in = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_LAST};
    assert_int_equal(lw_session_run(s, &in, 1), 0);
}

/* [BOS] then text as its own piece (the toy vocabulary is SentencePiece: no joining space). */
static void feed_bos_text(lw_session *s, const char *text) {
    lw_model_info info;
    lw_model_get_info(lw_session_model(s), &info);
    assert_true(lw_tokenizer_adds_space(lw_session_model(s)));
    run_tokens(s, &info.bos, 1);
    int32_t *t;
    int n = lw_tokenize_special_alloc(lw_session_model(s), text, false, &t);
    assert_true(n > 0);
    run_tokens(s, t, n);
    free(t);
}

static char *greedy(lw_session *s, int max, int32_t *out, int *n_out) {
    lw_gen_params gp = lw_gen_default_params();
    gp.max_tokens = max;
    int32_t buf[64];
    int n = lw_generate(s, 0, NULL, 0, &gp, out ? out : buf, max);
    assert_true(n >= 0);
    if (n_out) *n_out = n;
    return lw_detokenize(lw_session_model(s), out ? out : buf, n, false);
}

static void test_m1_reads_the_hard_tokens(void **state) {
    (void)state;
    lw_model *m = toy("models/stories260K.gguf");
    if (!m) return;
    lw_session *s = session_of(m);
    lw_model_info info;
    lw_model_get_info(m, &info);
    const int G = 6;
    const int64_t K = 64; /* 6 steps of a 9-bit id: 10 bits per step, m = 1 */
    lw_race_cipher_shape sh;
    assert_int_equal(lw_race_cipher_shape_for(K, info.n_vocab, G, &sh), 0);
    assert_int_equal(sh.top, 1);
    /* the sender's greedy continuation, independently */
    lw_session_clear(s, 0);
    feed_bos_text(s, SENDER);
    int32_t cont[16];
    int n_cont = 0;
    free(greedy(s, G, cont, &n_cont));
    lw_session_clear(s, 0);
    assert_true(n_cont > 0);
    /* the channel's payload carries exactly those tokens */
    int32_t ids[16], back[16];
    float w[16], bw[16];
    int sent = 0, got = 0;
    assert_int_equal(lw_race_cipher_send(s, false, SENDER, &sh, ids, w, &sent), 0);
    assert_int_equal(sent, n_cont);
    for (int i = 0; i < sent; i++) assert_int_equal(ids[i], cont[i]);
    uint8_t *bytes;
    size_t nb;
    assert_int_equal(lw_race_cipher_encode(&sh, ids, w, sent, &bytes, &nb), 0);
    assert_int_equal(lw_race_cipher_decode(&sh, info.n_vocab, bytes, nb, back, bw, &got), 0);
    free(bytes);
    /* its soft tokens are the embedding rows of those tokens, exactly */
    const float *E = lw_model_token_embeddings_cached(m);
    float *rows = malloc(sizeof *rows * (size_t)got * info.n_embd);
    lw_race_cipher_rows(E, info.n_embd, back, bw, got, sh.top, rows);
    for (int t = 0; t < got; t++)
        assert_memory_equal(rows + (size_t)t * info.n_embd, E + (size_t)cont[t] * info.n_embd, sizeof(float) * info.n_embd);
    free(rows);
    /* the receiver reading the hard tokens in the same pieces: [BOS], the continuation, the query */
    lw_session_clear(s, 0);
    run_tokens(s, &info.bos, 1);
    run_tokens(s, cont, n_cont);
    int32_t *q;
    int nq = lw_tokenize_special_alloc(m, QUERY, false, &q);
    run_tokens(s, q, nq);
    free(q);
    char *hard = greedy(s, 8, NULL, NULL);
    lw_session_clear(s, 0);
    /* the evaluator's answer through the channel */
    lw_task items = {0};
    lw_task_item it = {.id = "i0", .sender = (char *)SENDER, .receiver = (char *)QUERY, .gold = hard,
                       .scorer = LW_SCORE_EXACT};
    items.items = &it;
    items.n = 1;
    lw_race_setup su = {.sender = s, .receiver = s, .patch = lw_patch_default_params(), .cipher = true,
                        .cipher_steps = G};
    su.patch.answer_tokens = 8;
    lw_race_evaluator *ev = lw_race_evaluator_new(&su, &items, NULL);
    assert_non_null(ev);
    lw_race_channel ch;
    assert_int_equal(lw_race_channel_parse("cipher", &ch), 0);
    lw_race_outcome out = {0};
    assert_int_equal(lw_race_evaluate(ev, &ch, K, 0, &out), 0);
    assert_string_equal(out.na, "");
    assert_string_equal(out.output, hard);
    assert_int_equal(out.payload_bits, 8 * (int64_t)((n_cont * 9 + 7) / 8));
    assert_true(out.payload_bits <= K);
    assert_int_equal(out.side_bits, 0);
    free(out.output);
    lw_race_evaluator_free(ev);
    free(hard);
    lw_session_free(s);
    lw_model_free(m);
}

/* The sorted keys of a JSON object, joined. */
static void keys_of(json_t *o, char *buf, size_t cap) {
    const char *k[32];
    int n = 0;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) if (n < 32) k[n++] = key;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(k[j - 1], k[j]) > 0; j--) {
            const char *t = k[j];
            k[j] = k[j - 1];
            k[j - 1] = t;
        }
    buf[0] = '\0';
    for (int i = 0; i < n; i++) snprintf(buf + strlen(buf), cap - strlen(buf), "%s,", k[i]);
}

static void test_records_like_other_channels(void **state) {
    (void)state;
    lw_model *m = toy("models/stories260K.gguf");
    if (!m) return;
    lw_session *s = session_of(m);
    const char *senders[] = {"Once upon a time, there was a little dog.", "Tom had a red ball. He liked to play.",
                             "The sun was hot and the birds sang."};
    lw_task_item it[3];
    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof id, "c%d", i);
        it[i] = (lw_task_item){.id = strdup(id), .sender = (char *)senders[i], .receiver = "One day, the", .gold = "dog",
                               .scorer = LW_SCORE_EXACT};
    }
    lw_task items = {it, 3};
    lw_race_setup su = {.sender = s, .receiver = s, .patch = lw_patch_default_params(), .cipher = true};
    su.patch.answer_tokens = 4;
    lw_race_evaluator *ev = lw_race_evaluator_new(&su, &items, NULL);
    assert_non_null(ev);
    lw_race_channel ch[3];
    assert_int_equal(lw_race_channel_parse("floor", &ch[0]), 0);
    assert_int_equal(lw_race_channel_parse("text:truncate", &ch[1]), 0);
    assert_int_equal(lw_race_channel_parse("cipher", &ch[2]), 0);
    assert_int_equal(ch[2].family, LW_RACE_CIPHER);
    assert_true(lw_race_channel_budgeted(&ch[2]));
    int64_t budgets[] = {8, 64};
    const char *ids[] = {it[0].id, it[1].id, it[2].id};
    lw_race_params p = lw_race_default_params();
    p.out_dir = lw_test_fresh_dir("race_cipher");
    p.channels = ch;
    p.n_channels = 3;
    p.budgets = budgets;
    p.n_budgets = 2;
    p.item_ids = ids;
    p.n_items = 3;
    p.eval = lw_race_evaluate;
    p.eval_ctx = ev;
    if (lw_race_run(&p) != 0) fail_msg("race: %s", lw_last_error());
    char *path = lw_test_join(p.out_dir, "race.jsonl");
    char *text = lw_test_read_file(path);
    char text_keys[512] = "", cipher_keys[512] = "";
    int n_cipher = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *rec = json_loads(line, 0, NULL);
        assert_non_null(rec);
        const char *c = json_string_value(json_object_get(rec, "channel"));
        int64_t b = json_integer_value(json_object_get(rec, "budget"));
        if (c && !strcmp(c, "text:truncate") && b == 64) keys_of(rec, text_keys, sizeof text_keys);
        if (c && !strcmp(c, "cipher") && b == 64) {
            keys_of(rec, cipher_keys, sizeof cipher_keys);
            assert_true(json_integer_value(json_object_get(rec, "payload_bits")) <= 64);
            n_cipher++;
        }
        json_decref(rec);
    }
    assert_int_equal(n_cipher, 3);
    assert_string_not_equal(text_keys, "");
    assert_string_equal(cipher_keys, text_keys);
    free(text);
    /* race.json: cipher@8 is not applicable (8 bits hold no 9-bit id), cipher@64 is compared with text */
    path = lw_test_join(p.out_dir, "race.json");
    json_t *rep = json_load_file(path, 0, NULL);
    assert_non_null(rep);
    size_t i;
    json_t *c;
    bool saw_na = false, saw_cmp = false;
    json_array_foreach(json_object_get(rep, "cells"), i, c) {
        const char *name = json_string_value(json_object_get(c, "channel"));
        if (!strcmp(name, "cipher") && json_integer_value(json_object_get(c, "budget_bits")) == 8) {
            const char *why = json_string_value(json_object_get(c, "reason"));
            saw_na = why && strstr(why, "the smallest budget that fits is 9 bits");
            assert_string_equal(json_string_value(json_object_get(c, "family")), "cipher");
        }
    }
    json_array_foreach(json_object_get(rep, "comparisons"), i, c)
        saw_cmp |= !strcmp(json_string_value(json_object_get(c, "activation")), "cipher");
    assert_true(saw_na);
    assert_true(saw_cmp);
    json_decref(rep);
    for (int k = 0; k < 3; k++) free(it[k].id);
    lw_race_evaluator_free(ev);
    lw_session_free(s);
    lw_model_free(m);
}

static void test_other_vocabulary_refused(void **state) {
    (void)state;
    lw_model *a = toy("models/stories260K.gguf"), *b = toy("models/tinystories656K.gguf");
    if (!a || !b) {
        lw_model_free(a);
        lw_model_free(b);
        return;
    }
    lw_session *sa = session_of(a), *sb = session_of(b);
    lw_task_item it = {.id = "x", .sender = "a", .receiver = "b", .gold = "c"};
    lw_task items = {&it, 1};
    lw_race_setup su = {.sender = sa, .receiver = sb, .patch = lw_patch_default_params(), .cipher = true};
    assert_null(lw_race_evaluator_new(&su, &items, NULL));
    assert_non_null(strstr(lw_last_error(), "the cipher channel needs the sender and the receiver to share a vocabulary"));
    lw_session_free(sa);
    lw_session_free(sb);
    lw_model_free(a);
    lw_model_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_fits_every_budget),
        cmocka_unit_test(test_m1_reads_the_hard_tokens),
        cmocka_unit_test(test_records_like_other_channels),
        cmocka_unit_test(test_other_vocabulary_refused),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
