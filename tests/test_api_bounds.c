/* The public API called with values in each argument's own range that are wrong together or
 * at the edges (found by an API adversary, helper-41): each must be refused with one line, or
 * give the documented answer, never abort, hang, overflow or return a wrong result as success.
 * Before, every call below aborted the process, hung, overflowed, or succeeded with nonsense. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "latentwire/channel.h"
#include "latentwire/codec.h"
#include "latentwire/files.h"
#include "latentwire/paraphrase.h"
#include "latentwire/probes.h"
#include "latentwire/retrieval.h"
#include "latentwire/records.h"
#include "latentwire/runtime.h"
#include "latentwire/verdict.h"
#include "support/refused.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static lw_model *M;

static int setup(void **state) {
    (void)state;
    M = lw_synth_load_default("bounds.gguf");
    return M ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    lw_model_free(M);
    return 0;
}

/* More sequences than a micro-batch holds aborted the process inside llama.cpp (GGML_ASSERT
 * n_outputs_max); each value alone is in range. */
static void test_session_sequences_fit_the_batch(void **state) {
    (void)state;
    lw_session_params p = lw_session_default_params();
    p.n_ctx = 64, p.n_ubatch = 1, p.n_seq_max = 2;
    REFUSED_NULL(lw_session_new(M, p), "n_seq_max 2 is more than the micro-batch of 1 tokens");
    p.n_ctx = 3, p.n_ubatch = 512, p.n_seq_max = 4; /* the context caps the micro-batch */
    REFUSED_NULL(lw_session_new(M, p), "n_seq_max 4 is more than the micro-batch of 3 tokens");
    p.n_ctx = 8, p.n_ubatch = 8, p.n_seq_max = 8;
    lw_session *s = lw_session_new(M, p);
    assert_non_null(s);
    lw_session_free(s);
}

/* Logits of a position cleared or truncated away were handed back as if still resident. */
static void test_logits_gone_with_their_position(void **state) {
    (void)state;
    lw_session *s = lw_session_new(M, lw_session_default_params());
    assert_non_null(s);
    int32_t tok[4] = {1, 5, 6, 7};
    lw_span sp = {.tokens = tok, .n = 4};
    lw_seq_input in = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_ALL};
    assert_int_equal(lw_session_run(s, &in, 1), 0);
    assert_non_null(lw_session_logits(s, 0, 3));
    assert_int_equal(lw_session_truncate(s, 0, 2), 0);
    assert_non_null(lw_session_logits(s, 0, 1)); /* still resident */
    assert_null(lw_session_logits(s, 0, 2));
    lw_session_clear(s, -1);
    assert_null(lw_session_logits(s, 0, 0));
    assert_null(lw_session_logits(s, -1, 0));
    lw_session_free(s);
}

/* A row the norm cannot square in float32 gave all-zero logits (a uniform distribution) as a
 * success; the run refuses such a row, and so does the lens now. */
static void test_lens_refuses_unsquarable_rows(void **state) {
    (void)state;
    lw_model_info info;
    lw_model_get_info(M, &info);
    float *row = malloc(sizeof(float) * (size_t)info.n_embd), *logits = malloc(sizeof(float) * (size_t)info.n_vocab);
    for (int i = 0; i < info.n_embd; i++) row[i] = 1e20f * (float)sin(i + 1.0);
    REFUSED(lw_logit_lens(M, row, 1, logits), "whose square overflows float32");
    int32_t id;
    float lp;
    REFUSED(lw_logit_lens_topk(M, row, 1, 1, &id, &lp), "whose square overflows float32");
    for (int i = 0; i < info.n_embd; i++) row[i] = 1e3f * (float)sin(i + 1.0); /* large is fine */
    assert_int_equal(lw_logit_lens(M, row, 1, logits), 0);
    free(row);
    free(logits);
}

/* A negative count, no site or a pool outside its enum returned 0 with nothing computed. */
static void test_extract_pooled_counts(void **state) {
    (void)state;
    lw_session *s = lw_session_new(M, lw_session_default_params());
    const char *texts[1] = {"the cat"};
    int layer = 0;
    float row[4096];
    float *outs[1] = {row};
    REFUSED(lw_extract_pooled(s, texts, -1, true, false, &layer, 1, LW_POOL_MEAN, outs, NULL), "n = -1 texts");
    REFUSED(lw_extract_pooled(s, texts, 1, true, false, &layer, -1, LW_POOL_MEAN, outs, NULL), "n_layers = -1");
    REFUSED(lw_extract_pooled(s, texts, 1, true, false, &layer, 0, LW_POOL_MEAN, outs, NULL), "n_layers = 0");
    REFUSED(lw_extract_pooled(s, texts, 1, true, false, &layer, 1, (lw_pool)9, outs, NULL), "pool 9");
    assert_int_equal(lw_extract_pooled(s, texts, 1, true, false, &layer, 1, LW_POOL_MEAN, outs, NULL), 0);
    lw_session_free(s);
}

/* A kind or op outside its enum ran as none (AC grafted nothing while counting floats sent); a
 * NaN or negative temperature, a NaN top-p, a negative top-k and a message of -1 tokens were
 * replaced or ignored without a word. */
static void test_channel_params(void **state) {
    (void)state;
    lw_session *s = lw_session_new(M, lw_session_default_params());
    lw_channel_result r;
    lw_channel_params p = lw_channel_default_params();
    p.kind = (lw_channel_kind)9;
    REFUSED(lw_channel_run(s, s, &p, "the cat", "the dog", &r, NULL), "kind 9 is not a channel");
    p = lw_channel_default_params();
    p.kind = LW_CHANNEL_AC;
    p.ac_op = (lw_ac_op)9;
    REFUSED(lw_channel_run(s, s, &p, "the cat", "the dog", &r, NULL), "ac_op 9");
    p = lw_channel_default_params();
    p.kind = LW_CHANNEL_CIPHER;
    p.sender_temp = NAN;
    REFUSED(lw_channel_run(s, s, &p, "the cat", "the dog", &r, NULL), "sender_temp = nan");
    p.sender_temp = -1;
    REFUSED(lw_channel_run(s, s, &p, "the cat", "the dog", &r, NULL), "sender_temp = -1");
    p.sender_temp = 1;
    p.cipher_top_p = NAN;
    REFUSED(lw_channel_run(s, s, &p, "the cat", "the dog", &r, NULL), "cipher_top_p = nan");
    p.cipher_top_p = 1;
    p.cipher_top_k = -1;
    REFUSED(lw_channel_run(s, s, &p, "the cat", "the dog", &r, NULL), "cipher_top_k = -1");
    p.cipher_top_k = 0;
    p.cipher_onehot = NAN;
    REFUSED(lw_channel_run(s, s, &p, "the cat", "the dog", &r, NULL), "cipher_onehot = nan");
    p = lw_channel_default_params();
    p.kind = LW_CHANNEL_TEXT;
    p.message_tokens = -1;
    REFUSED(lw_channel_run(s, s, &p, "the cat", "the dog", &r, NULL), "message_tokens = -1");
    p.message_tokens = 4;
    p.answer_tokens = 0;
    REFUSED(lw_channel_run(s, s, &p, "the cat", "the dog", &r, NULL), "answer_tokens = 0");
    REFUSED(lw_channel_run(s, s, &p, "the cat", "the dog", NULL, NULL), "the result r is NULL");
    p.answer_tokens = 2;
    assert_int_equal(lw_channel_run(s, s, &p, "the cat", "the dog", &r, NULL), 0);
    lw_channel_result_free(&r);
    lw_session_free(s);
}

/* A FIFO blocked for a writer forever and /dev/zero was hashed until killed. */
static void test_sha256_regular_files_only(void **state) {
    (void)state;
    char out[65], fifo[1200];
    snprintf(fifo, sizeof fifo, "%s", lw_test_tmpfile("bounds.fifo"));
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    REFUSED(lw_sha256_file(fifo, out), "a FIFO (named pipe), not a regular file");
    REFUSED(lw_sha256_file("/dev/zero", out), "a character device, not a regular file");
    REFUSED(lw_sha256_file(NULL, out), "the path is NULL");
    unlink(fifo);
}

/* Counts below 1 and a zero-byte buffer: a SEGV, a malloc of 2^64 - 8 bytes, a negative-size
 * memcpy; a site list for INT_MAX blocks overflowed an int. */
static void test_counts_below_one(void **state) {
    (void)state;
    double p[3] = {0.01, 0.02, 0.03}, adj[3] = {-1, -1, -1};
    lw_holm_adjust(p, -1, adj); /* void: writes nothing */
    assert_true(adj[0] == -1 && adj[1] == -1 && adj[2] == -1);
    lw_holm_adjust(p, 3, adj);
    /* by hand: 3 x 0.01, 2 x 0.02, 1 x 0.03, then running maxima: 0.03, 0.04, 0.04 */
    assert_true(fabs(adj[0] - 0.03) < 1e-15 && fabs(adj[1] - 0.04) < 1e-15 && fabs(adj[2] - 0.04) < 1e-15);
    char *answers[1] = {"x"};
    REFUSED(lw_majority_vote(answers, -1, false), "n = -1 answers");
    char *with_null[2] = {"x", NULL};
    REFUSED(lw_majority_vote(with_null, 2, false), "answer 1 is NULL");
    char clean[4] = "abc";
    assert_int_equal(lw_paraphrase_filter("The cat sat.", "A cat sat.", NULL, 0, clean, 0), LW_PARA_EMPTY);
    assert_string_equal(clean, "abc"); /* nothing written into zero bytes */
    lw_site_ref *sites;
    REFUSED(lw_site_parse_list("all", INT_MAX, &sites), "a model of 2147483647 layers");
}

/* The payload-file calls with no stats struct (optional, as elsewhere) or no codec crashed. */
static void test_codec_files_optional_stats(void **state) {
    (void)state;
    const int d = 8, n = 40;
    float *x = malloc(sizeof(float) * n * d);
    for (int i = 0; i < n * d; i++) x[i] = (float)sin(i * 0.37 + 1);
    lw_codec_params cp = lw_codec_default_params(LW_CODEC_PCAQ);
    cp.budget_bits = 32;
    lw_codec *c = lw_codec_fit_act(&cp, x, n, d);
    assert_non_null(c);
    int64_t rid[4] = {0, 1, 2, 3};
    char path[1200];
    snprintf(path, sizeof path, "%s", lw_test_tmpfile("bounds.payload.safetensors"));
    assert_int_equal(lw_codec_encode_act_file(c, x, rid, 4, path, NULL), 0);
    REFUSED(lw_codec_encode_act_file(NULL, x, rid, 4, path, NULL), "the codec is NULL");
    REFUSED(lw_codec_encode_act_file(c, x, rid, INT64_MAX, path, NULL), "more than memory can index");
    float *items;
    int64_t *ids, got;
    assert_int_equal(lw_codec_decode_act_file(c, path, &items, &ids, &got, NULL), 0);
    assert_int_equal(got, 4);
    assert_int_equal(ids[3], 3);
    free(items);
    free(ids);
    REFUSED(lw_codec_decode_act_file(NULL, path, &items, &ids, &got, NULL), "the codec is NULL");
    lw_codec_free(c);
    free(x);
}

/* Records keys: a tab inside a value made two different records one key (a resumed run would
 * have taken one unit of work for the other). */
static void test_records_key_escapes_tabs(void **state) {
    (void)state;
    const char *fields[2] = {"a", "b"};
    json_t *r1 = json_pack("{s:s, s:s}", "a", "x\ty", "b", "z"), *r2 = json_pack("{s:s, s:s}", "a", "x", "b", "y\tz");
    json_t *r3 = json_pack("{s:s, s:s}", "a", "x\\", "b", "tz"), *r4 = json_pack("{s:s, s:s}", "a", "x", "b", "\\tz");
    char *k1 = lw_records_key(r1, fields, 2), *k2 = lw_records_key(r2, fields, 2);
    char *k3 = lw_records_key(r3, fields, 2), *k4 = lw_records_key(r4, fields, 2);
    assert_string_not_equal(k1, k2);
    assert_string_not_equal(k3, k4);
    assert_string_not_equal(k1, k4); /* an escaped tab is not a backslash and a t */
    json_t *plain = json_pack("{s:s, s:i}", "a", "first_letter-3", "b", 16);
    char *k5 = lw_records_key(plain, fields, 2);
    assert_string_equal(k5, "first_letter-3\t16"); /* keys without tabs or backslashes are unchanged */
    free(k1), free(k2), free(k3), free(k4), free(k5);
    json_decref(r1), json_decref(r2), json_decref(r3), json_decref(r4), json_decref(plain);
}

/* NaN in the small statistics helpers: it has no order, so a sort or a comparison that met it
 * answered as if it were a number (lw_argmax's v[0] = NaN won every comparison; Spearman's and
 * the retrieval metrics' sorts got an inconsistent comparator). Now NaN is passed over or named,
 * and a log-softmax with no distribution is NaN throughout, as PyTorch's is. */
static void test_nan_in_helpers(void **state) {
    const float v[4] = {NAN, 1.0f, 3.0f, 2.0f};
    assert_int_equal(lw_argmax(v, 4), 2);
    const float all_nan[3] = {NAN, NAN, NAN};
    REFUSED(lw_argmax(all_nan, 3), "all 3 values are NaN");
    REFUSED(lw_argmax(all_nan, 1), "all 1 values are NaN");
    const double x[4] = {1, 2, NAN, 4}, y[4] = {1, 3, 2, 4};
    lw_clear_error();
    assert_true(isnan(lw_probe_spearman(x, y, 4)));
    failed_with("lw_probe_spearman", "x[2] is NaN");
    lw_clear_error();
    assert_true(isnan(lw_probe_spearman(y, x, 4)));
    failed_with("lw_probe_spearman", "y[2] is NaN");
    const double scores[3] = {0.9, NAN, 0.1};
    const int32_t ids[3] = {0, 1, 2}, rel[1] = {0};
    double out[16];
    lw_retrieval_params rp = lw_retrieval_default_params();
    const int nm = lw_retrieval_n_metrics(&rp);
    lw_retrieval_metrics_from_scores(scores, ids, 3, rel, NULL, 1, &rp, out);
    for (int c = 0; c < nm; c++) assert_true(isnan(out[c]));
    const float inf_logit[3] = {1.0f, INFINITY, 0.0f}, neg[2] = {-INFINITY, -INFINITY};
    float ls[3];
    lw_log_softmax(inf_logit, 3, ls);
    for (int i = 0; i < 3; i++) assert_true(isnan(ls[i]));
    lw_log_softmax(neg, 2, ls);
    for (int i = 0; i < 2; i++) assert_true(isnan(ls[i]));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_sequences_fit_the_batch),
        cmocka_unit_test(test_logits_gone_with_their_position),
        cmocka_unit_test(test_lens_refuses_unsquarable_rows),
        cmocka_unit_test(test_extract_pooled_counts),
        cmocka_unit_test(test_channel_params),
        cmocka_unit_test(test_sha256_regular_files_only),
        cmocka_unit_test(test_counts_below_one),
        cmocka_unit_test(test_codec_files_optional_stats),
        cmocka_unit_test(test_records_key_escapes_tabs),
        cmocka_unit_test(test_nan_in_helpers),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
