/* The public API as a C or ctypes user calls it, where the call broke the documented contract
 * (found by an API adversary, helper-53): each case below crashed, was undefined, wrote a file
 * the library then refused, or answered a plausible value with no message. Each must now be
 * refused with one line naming what is wrong, or give the documented answer. A synthetic model
 * (support/synth_model.h) stands in for a real one. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "latentwire/bridge.h"
#include "latentwire/codec.h"
#include "latentwire/records.h"
#include "latentwire/runtime.h"
#include "latentwire/safetensors.h"
#include "latentwire/task.h"
#include "latentwire/verdict.h"
#include "support/refused.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static lw_model *M;

static int setup(void **state) {
    (void)state;
    M = lw_synth_load_default("contract.gguf");
    return M ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    lw_model_free(M);
    return 0;
}

/* "while loading: %s" with lw_last_error() as its argument read the buffer it was writing (the
 * message came out as "while loading: while loading: ..."). */
static void test_fail_may_quote_the_last_error(void **state) {
    (void)state;
    lw_fail("the cause, %s", "in full");
    assert_int_equal(lw_fail("while loading: %s", lw_last_error()), -1);
    assert_string_equal(lw_last_error(), "while loading: the cause, in full");
    lw_fail("inner");
    lw_fail_prefix("outer: ");
    assert_string_equal(lw_last_error(), "outer: inner");
}

/* An item no score can be given scored 0, which passes for a wrong answer; NULL aliases with a
 * count crashed. */
static void test_score_refuses_unscorable_items(void **state) {
    (void)state;
    lw_task_item it = {.id = "q1", .receiver = "r", .gold = "Emma", .scorer = LW_SCORE_EXACT};
    assert_true(lw_score(&it, "Emma went") == 1);
    assert_true(lw_score(&it, NULL) == 0); /* no answer is a wrong one, as documented */
    lw_clear_error();
    assert_true(isnan(lw_score(NULL, "Emma")));
    failed_with("lw_score(NULL)", "no item");
    it.gold = NULL;
    lw_clear_error();
    assert_true(isnan(lw_score(&it, "Emma")));
    failed_with("lw_score(no gold)", "item q1 has no gold");
    it.gold = "Emma";
    it.n_aliases = 2; /* aliases NULL */
    lw_clear_error();
    assert_true(isnan(lw_score(&it, "Emma")));
    failed_with("lw_score(aliases NULL)", "no aliases");
    char *with_null[] = {"Em", NULL};
    it.aliases = with_null;
    lw_clear_error();
    assert_true(isnan(lw_score(&it, "Emma")));
    failed_with("lw_score(a NULL alias)", "NULL alias");
    it.n_aliases = 0, it.aliases = NULL, it.scorer = (lw_scorer)9;
    lw_clear_error();
    assert_true(isnan(lw_score(&it, "Emma")));
    failed_with("lw_score(scorer 9)", "unknown scorer");
}

/* A NaN soft token ran (a capture-only run returned 0 with NaN rows; with logits it blamed the
 * weights). */
static void test_soft_tokens_must_be_finite(void **state) {
    (void)state;
    lw_model_info info;
    lw_model_get_info(M, &info);
    lw_session *s = lw_session_new(M, lw_session_default_params());
    assert_non_null(s);
    float *embd = calloc((size_t)2 * info.n_embd, sizeof *embd);
    assert_non_null(embd);
    embd[info.n_embd + 3] = NAN;
    lw_span sp = {.tokens = NULL, .embd = embd, .n = 2};
    lw_seq_input in = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_NONE};
    REFUSED(lw_session_run(s, &in, 1), "soft token 1 of sequence 0 span 0 has nan at coordinate 3");
    embd[info.n_embd + 3] = INFINITY;
    in.logits = LW_LOGITS_LAST;
    REFUSED(lw_session_run(s, &in, 1), "has inf at coordinate 3");
    embd[info.n_embd + 3] = 0.5f; /* the same span, finite, runs */
    assert_int_equal(lw_session_run(s, &in, 1), 0);
    free(embd);
    lw_session_free(s);
}

/* Negative counts read as "nothing" or as "capacity too small". */
static void test_negative_counts(void **state) {
    (void)state;
    int32_t toks[2] = {1, 2}, buf[8];
    REFUSED_NULL(lw_detokenize(M, toks, -1, true), "the token count -1 is negative");
    lw_clear_error();
    assert_int_equal(lw_tokenize(M, "hello", true, buf, -5), INT32_MIN);
    failed_with("lw_tokenize(cap -5)", "capacity -5 is negative");
    lw_session *s = lw_session_new(M, lw_session_default_params());
    assert_non_null(s);
    lw_gen_params g = lw_gen_default_params();
    lw_span sp = {.tokens = toks, .n = 2};
    REFUSED(lw_generate(s, 0, &sp, -1, &g, buf, 8), "the span count is negative");
    lw_session_free(s);
    const char *fields[] = {"id"};
    json_t *rec = json_pack("{s:s}", "id", "a");
    REFUSED_NULL(lw_records_key(rec, fields, -1), "the field count -1 is negative");
    json_decref(rec);
    lw_records r;
    const char *rpath = lw_test_tmpfile("contract.records.jsonl");
    lw_test_write_text(rpath, "{\"id\":\"a\"}\n");
    REFUSED(lw_records_load(&r, rpath, NULL, fields, 0, NULL, NULL, NULL), "0 key fields");
    REFUSED(lw_records_load(&r, rpath, NULL, fields, -1, NULL, NULL, NULL), "-1 key fields");
}

/* Codec fields below 0 were taken as "choose", rows NULL was called "64 calibration rows", and an
 * item's row id given twice made a payload file that decode called edited. */
static void test_codec_arguments(void **state) {
    (void)state;
    enum { N = 64, D = 16 };
    float *rows = malloc(sizeof *rows * N * D);
    assert_non_null(rows);
    for (int i = 0; i < N * D; i++) rows[i] = (float)sin(i * 0.37) + (float)((i * 7) % 5) * 0.1f;
    static const char *const names[] = {"k", "bits", "rank", "sae_latents", "sae_epochs", "pq_subspaces", "threads"};
    for (size_t f = 0; f < sizeof names / sizeof names[0]; f++) {
        lw_codec_params p = lw_codec_default_params(f >= 3 && f <= 4 ? LW_CODEC_SAE : LW_CODEC_PCAQ);
        int *field[] = {&p.k, &p.bits, &p.rank, &p.sae_latents, &p.sae_epochs, &p.pq_subspaces, &p.threads};
        *field[f] = -1;
        char want[64];
        snprintf(want, sizeof want, "%s -1 is negative", names[f]);
        REFUSED_NULL(lw_codec_fit_act(&p, rows, N, D), want);
    }
    lw_codec_params p = lw_codec_default_params(LW_CODEC_PCAQ);
    p.threads = 1;
    REFUSED_NULL(lw_codec_fit_act(&p, NULL, N, D), "rows is NULL");
    lw_codec *c = lw_codec_fit_act(&p, rows, N, D);
    assert_non_null(c);
    int64_t ids[4] = {1, 2, 3, 3};
    const char *out = lw_test_tmpfile("contract.payload.safetensors");
    REFUSED(lw_codec_encode_act_file(c, rows, ids, 4, out, NULL), "row_id 3 is given to two items");
    assert_false(lw_test_file_exists(out)); /* nothing written */
    ids[3] = 4;
    assert_int_equal(lw_codec_encode_act_file(c, rows, ids, 4, out, NULL), 0);
    lw_codec_free(c);
    free(rows);
}

/* lw_task_save wrote a file lw_task_load refused. */
static void test_task_save_refuses_what_load_refuses(void **state) {
    (void)state;
    lw_task_item it = {.id = "a", .sender = "s", .receiver = "r", .gold = "yes", .scorer = LW_SCORE_FACTS};
    lw_task t = {.items = &it, .n = 1};
    const char *path = lw_test_tmpfile("contract.task.jsonl");
    REFUSED(lw_task_save(path, &t), "item 0: field \"gold\" \"yes\" states no fact with a key term");
    assert_false(lw_test_file_exists(path));
    it.gold = "born in Lisbon";
    assert_int_equal(lw_task_save(path, &t), 0);
    lw_task back;
    assert_int_equal(lw_task_load(path, &back), 0);
    assert_int_equal(back.n, 1);
    lw_task_free(&back);
}

/* Getters answered a plausible value ("{}", 0, an unterminated buffer) with no message. */
static void test_getters_on_nothing(void **state) {
    (void)state;
    REFUSED_NULL(lw_bridge_info_json(NULL), "the bridge is NULL");
    REFUSED(lw_st_count(NULL), "the file is NULL");
    REFUSED(lw_st_meta_count(NULL), "the file is NULL");
    lw_clear_error();
    assert_int_equal(lw_dtype_size((lw_dtype)99), 0);
    failed_with("lw_dtype_size(99)", "unknown dtype 99");
    char buf[1] = {'Z'};
    REFUSED_NULL(lw_site_name((lw_site_ref){LW_SITE_RESID_POST, 3}, buf, 0), "n is 0");
    assert_int_equal(buf[0], 'Z'); /* untouched */
    char name[64];
    assert_string_equal(lw_site_name((lw_site_ref){LW_SITE_RESID_POST, 3}, name, sizeof name), "blocks.3.hook_resid_post");
}

/* "0x1", "1e0", "1.5" and "blocks.+1.hook_z" were called out of range. */
static void test_site_messages(void **state) {
    (void)state;
    lw_site_ref r;
    REFUSED(lw_site_parse("0x1", 6, &r), "is not a block index (a whole number, in decimal)");
    REFUSED(lw_site_parse("1e0", 6, &r), "is not a block index");
    REFUSED(lw_site_parse("1.5", 6, &r), "is not a block index");
    REFUSED(lw_site_parse("blocks.+1.hook_z", 6, &r), "\"+1\" is not a block index");
    REFUSED(lw_site_parse("blocks.9.hook_z", 6, &r), "block 9 is out of range");
    REFUSED(lw_site_parse("99999999999999", 6, &r), "is out of range");
    assert_int_equal(lw_site_parse("-1", 6, &r), 0);
    assert_int_equal(r.layer, 5);
}

/* A plan whose one hypothesis reads condition a (the rest fixed). */
static const char *plan_with_condition(const char *a) {
    char text[1024];
    snprintf(text, sizeof text,
             "{\"format\": \"latentwire.plan/1\", \"title\": \"t\", \"alpha\": 0.05, \"correction\": \"holm\", "
             "\"resamples\": 1000, \"seed\": 1, \"selection\": \"none\", \"hypotheses\": [{\"id\": \"H\", "
             "\"metric\": \"exact_match\", \"a\": \"%s\", \"direction\": \"greater\", \"threshold\": 0.5}]}",
             a);
    const char *path = lw_test_tmpfile("contract.plan.json");
    lw_test_write_text(path, text);
    return path;
}

/* A verdict's claim was cut at 255 bytes, so its table stated another claim. */
static void test_plan_names_fit_the_claim(void **state) {
    (void)state;
    char a[300];
    memset(a, 'x', sizeof a - 1);
    a[sizeof a - 1] = '\0';
    REFUSED_NULL(lw_plan_load(plan_with_condition(a)), "more than a verdict's claim holds");
    a[200] = '\0'; /* 200 + 11 bytes of names: fits */
    lw_plan *p = lw_plan_load(plan_with_condition(a));
    if (!p) fail_msg("%s", lw_last_error());
    lw_plan_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_may_quote_the_last_error),
        cmocka_unit_test(test_score_refuses_unscorable_items),
        cmocka_unit_test(test_soft_tokens_must_be_finite),
        cmocka_unit_test(test_negative_counts),
        cmocka_unit_test(test_codec_arguments),
        cmocka_unit_test(test_task_save_refuses_what_load_refuses),
        cmocka_unit_test(test_getters_on_nothing),
        cmocka_unit_test(test_site_messages),
        cmocka_unit_test(test_plan_names_fit_the_claim),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
