/* The public API called with NULL where its header does not say a pointer may be NULL (and a few
 * arguments out of range), as a binding's mistake would: each call fails with the function's error
 * value and one line naming the argument, or (void functions, which cannot report) returns without
 * touching anything. Before, these dereferenced NULL (UBSan / ASan in the test build), looped for
 * ever, or answered "yes" / 0. The model-backed cases use models/stories260K.gguf and skip without
 * it. */
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

#include <cmocka.h>

#include "latentwire/acts.h"
#include "latentwire/bridge.h"
#include "latentwire/channel.h"
#include "latentwire/codec.h"
#include "latentwire/error.h"
#include "latentwire/extract.h"
#include "latentwire/files.h"
#include "latentwire/json.h"
#include "latentwire/paraphrase.h"
#include "latentwire/probes.h"
#include "latentwire/race.h"
#include "latentwire/records.h"
#include "latentwire/retrieval.h"
#include "latentwire/runtime.h"
#include "latentwire/task.h"
#include "latentwire/verdict.h"
#include "support/refused.h"
#include "support/testutil.h"

/* A bool getter's refusal: false and the message. */
#define REFUSED_FALSE(call, needle)                                                                                    \
    do {                                                                                                               \
        lw_clear_error();                                                                                              \
        assert_false(call);                                                                                            \
        failed_with(#call, needle);                                                                                    \
    } while (0)

static void test_error_and_files(void **state) {
    (void)state;
    const char *volatile nofmt = NULL; /* a binding passing a NULL format */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-security"
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    REFUSED(lw_fail(nofmt), "(no message)");
    lw_fail("old");
    assert_int_equal(lw_fail_prefix(nofmt), -1);
    failed_with("lw_fail_prefix(NULL)", "(no message): old");
#pragma GCC diagnostic pop

    char o[65];
    lw_atomic_file af;
    REFUSED(lw_atomic_open(NULL, lw_test_tmpfile("null_atomic.txt")), "af is NULL");
    REFUSED(lw_atomic_commit(NULL), "af is NULL");
    lw_atomic_abort(NULL); /* void: no crash */
    assert_int_equal(lw_atomic_open(&af, lw_test_tmpfile("null_atomic.txt")), 0);
    lw_atomic_abort(&af);

    const char *txt = lw_test_tmpfile("null_text.txt");
    lw_test_write_text(txt, "a\nb\n");
    REFUSED(lw_sha256_file(txt, NULL), "out is NULL");
    REFUSED(lw_sha256_file(NULL, o), "the path is NULL");
    REFUSED(lw_sha256_buf(NULL, 5, o), "the data is NULL");
    REFUSED(lw_sha256_buf("x", 1, NULL), "out is NULL");
    assert_int_equal(lw_sha256_buf(NULL, 0, o), 0); /* nothing to read: the empty input's digest */
    assert_string_equal(o, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    /* created NULL: the caller does not want the topmost directory made */
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/null_mk/a/b", lw_test_tmpdir());
    assert_int_equal(lw_mkdir_p_created(dir, NULL), 0);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));

    char *text = lw_read_text_file(txt, NULL, "text"); /* len NULL, as lw_read_file takes it */
    assert_non_null(text);
    assert_string_equal(text, "a\nb\n");
    free(text);
}

static void test_json_and_acts(void **state) {
    (void)state;
    json_t *o = json_object();
    lw_json_settings_gpu_layers(o, NULL, 3); /* void: nothing added, no crash */
    const lw_model *none[1] = {NULL};
    lw_json_settings_gpu_layers(o, none, 1); /* a NULL model counts as CPU-only */
    assert_int_equal(json_object_size(o), 0);
    json_decref(o);
    assert_non_null(strstr(lw_json_error_text(NULL), "NULL"));

    REFUSED_NULL(lw_ci_json(NULL), "the interval is NULL");
    lw_ci ci = {.mean = NAN, .lo = 0, .hi = 1, .n = 3};
    REFUSED_NULL(lw_ci_json(&ci), "not finite");
    ci.mean = 0.5, ci.hi = INFINITY;
    REFUSED_NULL(lw_ci_json(&ci), "not finite");
    ci.hi = 1;
    json_t *j = lw_ci_json(&ci);
    assert_non_null(j);
    json_decref(j);

    char out65[65], out32[32];
    lw_act_tensor t;
    memset(&t, 0, sizeof t);
    REFUSED(lw_acts_shard_count(NULL), "the path is NULL");
    REFUSED_NULL(lw_act_model_sha256(NULL, out65), "the tensor is NULL");
    REFUSED_NULL(lw_act_model_sha256(&t, NULL), "out is NULL");
    REFUSED_NULL(lw_act_pool(NULL, out32), "the tensor is NULL");
    REFUSED_NULL(lw_act_pool(&t, NULL), "out is NULL");
    assert_null(lw_act_pool(&t, out32)); /* no metadata: none recorded */
}

/* Every model and session function with a NULL handle. */
static void test_runtime_null_handles(void **state) {
    (void)state;
    lw_model_info info;
    memset(&info, 0x5a, sizeof info);
    lw_model_get_info(NULL, &info); /* void: all zero */
    assert_int_equal(info.n_layer, 0);
    assert_int_equal(info.arch[0], 0);
    lw_model_get_info(NULL, NULL);

    int32_t toks[8] = {1, 2}, *alloc = NULL;
    int a, b;
    float rows[4] = {0}, logits[4];
    int32_t ids[1];
    const char *role = "user", *content = "hi";
    char *pre, *suf;
    lw_clear_error();
    assert_int_equal(lw_tokenize(NULL, "x", true, toks, 8), INT32_MIN);
    failed_with("lw_tokenize(NULL, ...)", "the model is NULL");
    REFUSED(lw_tokenize_alloc(NULL, "x", true, &alloc), "the model is NULL");
    REFUSED(lw_tokenize_special_alloc(NULL, "x", true, &alloc), "the model is NULL");
    REFUSED_FALSE(lw_tokenizer_adds_space(NULL), "the model is NULL");
    REFUSED_NULL(lw_chat_format(NULL, &role, &content, 1, true), "the model is NULL");
    REFUSED(lw_chat_affixes(NULL, &pre, &suf), "the model is NULL");
    REFUSED_FALSE(lw_token_is_eog(NULL, 0), "the model is NULL");
    REFUSED_NULL(lw_model_vocab_hash(NULL), "the model is NULL");
    REFUSED_NULL(lw_detokenize(NULL, toks, 2, false), "the model is NULL");
    REFUSED_NULL(lw_model_token_embeddings(NULL, &a, &b), "the model is NULL");
    REFUSED_NULL(lw_model_token_embeddings_cached(NULL), "the model is NULL");
    REFUSED_NULL(lw_model_output_matrix(NULL, &a, &b), "the model is NULL");
    REFUSED(lw_site_width(NULL, LW_SITE_RESID_POST), "the model is NULL");
    REFUSED(lw_logit_lens(NULL, rows, 1, logits), "the model is NULL");
    REFUSED(lw_logit_lens_topk(NULL, rows, 1, 1, ids, logits), "the model is NULL");
    REFUSED_NULL(lw_model_pooling(NULL), "the model is NULL");
    REFUSED_FALSE(lw_model_same_vocab(NULL, NULL), "is NULL"); /* was true */
    REFUSED(lw_model_peek_width("x.gguf", NULL), "n_embd is NULL");

    lw_hook h = lw_hook_default();
    lw_seq_input in = {.seq = 0};
    lw_gen_params gp = lw_gen_default_params();
    const char *texts[1] = {"hi"};
    int layers[1] = {0};
    float row[64], *outs[1] = {row};
    REFUSED_NULL(lw_session_model(NULL), "the session is NULL");
    lw_session_clear(NULL, 0); /* void: no crash */
    REFUSED(lw_session_truncate(NULL, 0, 0), "the session is NULL");
    REFUSED(lw_session_seq_len(NULL, 0), "the session is NULL");
    REFUSED(lw_session_add_hook(NULL, &h), "the session is NULL");
    lw_session_clear_hooks(NULL);
    lw_session_clear_captures(NULL);
    REFUSED(lw_session_capture(NULL, 0, NULL, NULL, NULL), "the session is NULL");
    REFUSED(lw_session_run(NULL, &in, 1), "the session is NULL");
    REFUSED_FALSE(lw_session_stopped_early(NULL), "the session is NULL");
    REFUSED_NULL(lw_session_logits(NULL, 0, 0), "the session is NULL");
    REFUSED(lw_generate(NULL, 0, NULL, 0, &gp, toks, 8), "the session is NULL");
    REFUSED(lw_extract_pooled(NULL, texts, 1, true, false, layers, 1, LW_POOL_MEAN, outs, NULL), "the session is NULL");
    REFUSED(lw_embed_pooled(NULL, texts, 1, false, row, NULL), "the session is NULL");
}

/* The helpers that need no model, with NULL buffers. */
static void test_runtime_null_buffers(void **state) {
    (void)state;
    char name[64], out[16];
    REFUSED_NULL(lw_site_name((lw_site_ref){LW_SITE_RESID_POST, 1}, NULL, 64), "buf is NULL");
    assert_string_equal(lw_site_name((lw_site_ref){(lw_site)99, 3}, name, sizeof name), "?");
    assert_string_equal(lw_site_name((lw_site_ref){LW_SITE_RESID_POST, INT_MIN}, name, sizeof name), "?");
    assert_string_equal(lw_site_name((lw_site_ref){LW_SITE_MLP_OUT, -1}, name, sizeof name), "?");
    assert_string_equal(lw_site_name((lw_site_ref){LW_SITE_EMBED, -1}, name, sizeof name), "hook_embed");
    assert_string_equal(lw_site_name((lw_site_ref){LW_SITE_RESID_POST, 2}, name, sizeof name),
                        "blocks.2.hook_resid_post");

    lw_clear_error();
    assert_int_equal(lw_utf8_complete_prefix(NULL, 5), 0);
    failed_with("lw_utf8_complete_prefix(NULL, 5)", "s is NULL");
    lw_clear_error();
    out[0] = 'z';
    assert_int_equal(lw_utf8_sanitize(NULL, 5, out), 0);
    assert_string_equal(out, "");
    failed_with("lw_utf8_sanitize(NULL, 5, out)", "s is NULL");
    lw_clear_error();
    assert_int_equal(lw_utf8_sanitize("ab", 2, NULL), 0);
    failed_with("lw_utf8_sanitize(s, 2, NULL)", "out is NULL");

    float l[3] = {1, 2, 3}, lp[3] = {7, 7, 7};
    lw_log_softmax(NULL, 3, lp); /* void: nothing written */
    assert_true(lp[0] == 7.0f);
    lw_log_softmax(l, 3, NULL);
    REFUSED(lw_argmax(NULL, 5), "v is NULL");
    assert_int_equal(lw_argmax(l, 3), 2);
}

/* NULL out-pointers and arguments where a model and a session are at hand. */
static void test_runtime_with_model(void **state) {
    (void)state;
    char path[1200];
    lw_model *m = lw_test_load_shared_model("models/stories260K.gguf", path, sizeof path);
    if (!m) {
        skip();
        return;
    }
    lw_model_info info;
    lw_model_get_info(m, NULL); /* void: no crash */
    const char *roles2[2] = {"user", NULL}, *contents2[2] = {"a", "b"};
    REFUSED_NULL(lw_chat_format(m, roles2, contents2, 2, true), "roles[1] is NULL"); /* dereferenced it */
    lw_model_get_info(m, &info);
    int32_t toks[8] = {1, 2};
    lw_clear_error();
    assert_int_equal(lw_tokenize(m, "hello", true, NULL, 8), INT32_MIN);
    failed_with("lw_tokenize(m, t, b, NULL, 8)", "out is NULL");
    assert_true(lw_tokenize(m, "hello", true, NULL, 0) < 0); /* the size query still works */
    assert_true(lw_tokenize(m, "hello", true, NULL, 0) != INT32_MIN);
    REFUSED(lw_tokenize_alloc(m, "hello", true, NULL), "out is NULL");
    REFUSED(lw_tokenize_special_alloc(m, "hello", true, NULL), "out is NULL");
    REFUSED(lw_chat_affixes(m, NULL, NULL), "prefix is NULL");
    REFUSED_NULL(lw_detokenize(m, NULL, 2, false), "tokens is NULL");
    REFUSED_FALSE(lw_model_same_vocab(m, NULL), "model b is NULL");
    assert_true(lw_model_same_vocab(m, m));
    float *e = lw_model_token_embeddings(m, NULL, NULL); /* dimensions not wanted: allowed */
    assert_non_null(e);
    free(e);
    e = lw_model_output_matrix(m, NULL, NULL);
    assert_non_null(e);
    free(e);

    const int d = info.n_embd;
    float *rows = calloc((size_t)d, sizeof(float)), lp[1];
    int32_t ids[1];
    REFUSED(lw_logit_lens(m, rows, 1, NULL), "logits is NULL");
    REFUSED(lw_logit_lens_topk(m, rows, 1, 1, NULL, lp), "ids is NULL");
    REFUSED(lw_logit_lens_topk(m, rows, 1, 1, ids, NULL), "logprobs is NULL");
    free(rows);

    lw_session *s = lw_session_new(m, lw_session_default_params());
    assert_non_null(s);
    REFUSED(lw_session_seq_len(s, 99), "sequence 99");
    REFUSED(lw_session_seq_len(s, -1), "sequence -1");
    assert_int_equal(lw_session_seq_len(s, 0), 0);
    REFUSED(lw_session_add_hook(s, NULL), "the hook is NULL");
    lw_gen_params gp = lw_gen_default_params();
    lw_span sp = {.tokens = toks, .n = 2};
    REFUSED(lw_generate(s, 0, &sp, 1, NULL, toks, 8), "params is NULL");
    REFUSED(lw_generate(s, 0, &sp, 1, &gp, NULL, 8), "out is NULL");

    const char *texts[1] = {"Once upon a time"};
    int layers[1] = {0};
    float *row = calloc((size_t)d, sizeof(float)), *outs[1] = {row}, *nulls[1] = {NULL};
    lw_site_ref sites[1] = {{LW_SITE_RESID_POST, 0}};
    REFUSED(lw_extract_pooled(s, NULL, 1, true, false, layers, 1, LW_POOL_MEAN, outs, NULL), "texts is NULL");
    REFUSED(lw_extract_pooled(s, texts, 1, true, false, NULL, 1, LW_POOL_MEAN, outs, NULL), "layers is NULL");
    REFUSED(lw_extract_pooled(s, texts, 1, true, false, layers, 1, LW_POOL_MEAN, NULL, NULL), "out is NULL");
    REFUSED(lw_extract_pooled(s, texts, 1, true, false, layers, 1, LW_POOL_MEAN, nulls, NULL), "out[0] is NULL");
    REFUSED(lw_extract_pooled_sites(s, texts, 1, true, false, NULL, 1, LW_POOL_MEAN, outs, NULL), "sites is NULL");
    REFUSED(lw_embed_pooled(s, NULL, 1, false, row, NULL), "texts is NULL");
    assert_int_equal(lw_extract_pooled(s, texts, 1, true, false, layers, 1, LW_POOL_MEAN, outs, NULL), 0);
    assert_int_equal(lw_extract_pooled_sites(s, texts, 1, true, false, sites, 1, LW_POOL_MEAN, outs, NULL), 0);

    REFUSED_NULL(lw_channel_fit_ac_bridge(s, s, 0, 0, NULL, 3, NULL), "texts is NULL");
    REFUSED_NULL(lw_channel_fit_ac_bridge(NULL, s, 0, 0, texts, 3, NULL), "the sender is NULL");
    free(row);
    lw_session_free(s);
    lw_model_free(m);
}

static void test_eval_task_records(void **state) {
    (void)state;
    int64_t *off;
    int32_t *cids;
    double mean;
    REFUSED(lw_candidates_from_spec("random:2", NULL, &off, &cids, &mean), "the input is NULL");

    lw_clear_error();
    assert_true(isnan(lw_probe_spearman(NULL, NULL, 3)));
    failed_with("lw_probe_spearman(NULL, NULL, 3)", "x is NULL");
    lw_clear_error();
    assert_int_equal(lw_probe_from_name(NULL), 0);
    failed_with("lw_probe_from_name(NULL)", "the name is NULL");
    lw_clear_error();
    assert_int_equal(lw_probe_from_name("bogus"), 0);
    failed_with("lw_probe_from_name(\"bogus\")", "unknown probe 'bogus'");

    double adj[3] = {7, 7, 7};
    lw_holm_adjust(NULL, 3, adj); /* void: nothing written */
    assert_true(adj[0] == 7.0);
    const char *no_path[1] = {NULL};
    REFUSED_NULL(lw_items_load(NULL, 1), "paths is NULL");
    REFUSED_NULL(lw_items_load(no_path, 1), "paths[0] is NULL");

    lw_task t, big;
    assert_int_equal(lw_task_story(2, 1, &t), 0);
    char o[65] = "x";
    lw_task_parts_sha256(NULL, 1, o); /* void: no fingerprint */
    assert_string_equal(o, "");
    lw_task_parts_sha256(&t, 1, NULL);
    lw_task_parts_sha256(&t, 1, o);
    assert_int_equal(strlen(o), 64);
    REFUSED(lw_task_story(INT_MAX, 1, &big), "1000000"); /* ran for ever */
    lw_task_free(&t);

    /* records */
    json_t *rec = json_pack("{s:s}", "id", "a");
    const char *fields[1] = {"id"};
    lw_records r;
    bool sealed = false;
    const char *rpath = lw_test_tmpfile("null_records.jsonl");
    REFUSED_NULL(lw_records_key(rec, NULL, 1), "fields is NULL");
    REFUSED(lw_records_load(NULL, rpath, NULL, fields, 1, "id", "x", NULL), "r is NULL");
    REFUSED(lw_records_load(&r, NULL, NULL, fields, 1, "id", "x", NULL), "the path is NULL");
    REFUSED(lw_records_load(&r, rpath, NULL, NULL, 1, "id", "x", NULL), "fields is NULL");
    REFUSED(lw_records_check_range(NULL, rpath, "score", 0, 1, false, "x"), "r is NULL");
    REFUSED_NULL(lw_records_find(NULL, "a"), "r is NULL");
    REFUSED(lw_records_check_line("{}", rec, NULL), "sealed is NULL");
    REFUSED(lw_records_check_line(NULL, rec, &sealed), "the line is NULL");
    REFUSED(lw_records_write(NULL, rec), "the file is NULL");
    json_t *settings = json_pack("{s:i}", "seed", 1), *other = json_pack("{s:i}", "seed", 2);
    REFUSED_NULL(lw_records_open(NULL, settings, NULL), "the path is NULL");
    REFUSED_NULL(lw_records_open(rpath, NULL, NULL), "settings is NULL"); /* said "cannot write ...: Success" */
    FILE *f = lw_records_open(rpath, settings, NULL);
    assert_non_null(f);
    assert_int_equal(lw_records_write(f, rec), 0);
    fclose(f);
    /* what NULL: the message printed "(null)" */
    REFUSED(lw_records_load(&r, rpath, other, fields, 1, "id", NULL, NULL), "was made with another seed");
    assert_null(strstr(lw_last_error(), "(null)"));
    assert_int_equal(lw_records_load(&r, rpath, settings, fields, 1, "id", NULL, NULL), 0);
    assert_int_equal(r.n, 1);
    lw_records_free(&r);
    /* required NULL: no field required (it refused every record) */
    assert_int_equal(lw_records_load(&r, rpath, settings, fields, 1, NULL, NULL, NULL), 0);
    assert_int_equal(r.n, 1);
    lw_records_free(&r);
    json_decref(settings);
    json_decref(other);
    json_decref(rec);
}

static void test_race_channel_paraphrase(void **state) {
    (void)state;
    lw_race_channel ch;
    REFUSED(lw_race_channel_parse("floor", NULL), "out is NULL");
    REFUSED_FALSE(lw_race_channel_budgeted(NULL), "the channel is NULL");
    REFUSED_NULL(lw_race_partial_path(NULL, 0, 1), "out_dir is NULL");
    REFUSED_NULL(lw_race_partial_path("/tmp", 5, 2), "shard 5 of 2");
    REFUSED_NULL(lw_race_partial_path("/tmp", -1, 2), "shard -1 of 2");
    REFUSED_NULL(lw_race_partial_path("/tmp", 0, 0), "shard 0 of 0");
    char *p = lw_race_partial_path("/tmp", 1, 2);
    assert_non_null(p);
    free(p);
    REFUSED_NULL(lw_race_prompt(NULL, NULL), "the message is NULL");
    REFUSED_NULL(lw_race_prompt("m", NULL), "the query is NULL");
    REFUSED_NULL(lw_race_query(NULL), "the item is NULL");
    lw_task_item it;
    memset(&it, 0, sizeof it);
    REFUSED_NULL(lw_race_query(&it), "receiver is NULL");
    it.receiver = "q?";
    assert_string_equal(lw_race_query(&it), "q?"); /* no sender: the receiver prompt */
    REFUSED(lw_race_merge(NULL, NULL), "the output directory is NULL"); /* said "(no directory): Success" */
    REFUSED(lw_race_check_plan(NULL, NULL, NULL, 0, NULL, 0), "the plan is NULL"); /* returned 0 */
    assert_int_equal(lw_race_channel_parse("floor", &ch), 0);

    REFUSED(lw_channel_from_name(NULL), "the name is NULL");
    REFUSED(lw_ac_op_from_name(NULL), "the name is NULL");
    REFUSED(lw_majority_vote(NULL, 3, false), "answers is NULL");
    lw_debate_params dp = lw_debate_default_params();
    lw_debate_result res;
    REFUSED(lw_debate_run(NULL, 2, &dp, "q", &res), "agents is NULL");
    lw_debate_result_free(&res);

    char clean[256];
    const char *target = "The cat sat on the mat near the door.";
    REFUSED((int)lw_paraphrase_filter(NULL, "A cat sat.", NULL, 0, clean, sizeof clean), "the target is NULL");
    REFUSED((int)lw_paraphrase_filter(target, NULL, NULL, 0, clean, sizeof clean), "raw is NULL"); /* was EMPTY */
    REFUSED((int)lw_paraphrase_filter(target, "A cat sat.", NULL, 0, NULL, sizeof clean), "clean is NULL");
    REFUSED((int)lw_paraphrase_filter(target, "A cat sat.", NULL, 2, clean, sizeof clean), "kept is NULL");
    REFUSED(lw_paraphrase_set_write_texts(NULL, lw_test_tmpfile("null_para.txt")), "the set is NULL");
    REFUSED(lw_paraphrase_generate(NULL), "params is NULL");
}

static void test_paths_bridge_codec(void **state) {
    (void)state;
    char buf[64];
    lw_extract_shard_path("acts.safetensors", 1, 5, NULL, 64); /* void: nowhere to write, no crash */
    lw_clear_error();
    lw_extract_shard_path("acts.safetensors", 0, 0, buf, sizeof buf);
    assert_string_equal(buf, "");
    failed_with("lw_extract_shard_path(.., 0, 0, ..)", "shard 0 of 0");
    lw_extract_shard_path("acts.safetensors", -1, 2, buf, sizeof buf);
    failed_with("lw_extract_shard_path(.., -1, 2, ..)", "shard -1 of 2");
    lw_extract_shard_path("acts.safetensors", 2, 2, buf, sizeof buf);
    failed_with("lw_extract_shard_path(.., 2, 2, ..)", "shard 2 of 2");
    lw_extract_shard_path("acts.safetensors", 1, 5, buf, sizeof buf);
    assert_string_equal(buf, "acts-00002-of-00005.safetensors");

    REFUSED(lw_outputs_distinct(NULL, 3), "outs is NULL"); /* returned 0 */
    lw_output_spec no_flag[2] = {{.flag = "--out", .path = "a.json"}, {.flag = NULL, .path = "a.json"}};
    REFUSED(lw_outputs_distinct(no_flag, 2), "outs[1].flag is NULL"); /* printed (null) */
    REFUSED(lw_output_check("--out", lw_test_tmpfile("null_out.txt"), -1, NULL), "kinds = -1");
    assert_int_equal(lw_output_check("--out", lw_test_tmpfile("null_out.txt"), LW_OUT_PARTIAL, NULL), 0);

    REFUSED((int)lw_bridge_get_recipe(NULL), "the bridge is NULL"); /* returned RIDGE */
    enum { N = 40, D = 4 };
    float X[N * D], Y[N * D];
    for (int i = 0; i < N * D; i++) X[i] = (float)sin(i * 0.37 + 0.1), Y[i] = (float)cos(i * 0.53 + 0.2);
    lw_bridge_params bp = lw_bridge_default_params();
    bp.recipe = LW_BRIDGE_CCA; /* cca_reg 0: chosen on kfold folds, which ridge checks */
    const int bad[3] = {0, -1, 1000};
    for (int k = 0; k < 3; k++) {
        bp.kfold = bad[k];
        char needle[32];
        snprintf(needle, sizeof needle, "--kfold %d", bad[k]);
        REFUSED_NULL(lw_bridge_fit(X, Y, N, D, D, &bp), needle);
    }
    bp.kfold = 5;
    lw_bridge *b = lw_bridge_fit(X, Y, N, D, D, &bp);
    if (!b) fail_msg("%s", lw_last_error());
    lw_bridge_free(b);

    REFUSED_NULL(lw_codec_retrieval_csv(NULL), "result_json is NULL");
    REFUSED_NULL(lw_codec_retrieval_csv("{}"), "no \"rows\" array");
    REFUSED_NULL(lw_codec_retrieval_csv("{\"rows\": [1, 2]}"), "row 0");
    REFUSED_NULL(lw_codec_retrieval_csv("{\"rows\": [{\"applicable\": true, \"codec\": 5}]}"), "row 0");
    char *csv = lw_codec_retrieval_csv(
        "{\"rows\": [{\"applicable\": false, \"codec\": \"zlib\"}, {\"applicable\": true, \"codec\": \"zlib\", "
        "\"family\": \"text\", \"budget_bits\": 64, \"payload_bits_mean\": 60.5, \"side_bits\": 0, \"top1\": "
        "{\"mean\": 0.5, \"lo\": 0.25, \"hi\": 0.75, \"n\": 8}, \"pass\": true}]}");
    assert_non_null(csv);
    assert_int_equal(lw_test_count_lines(csv), 2);
    assert_non_null(strstr(csv, "zlib,text,64,60.500,0,0.500000,0.250000,0.750000,8,PASS\n"));
    free(csv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_and_files),      cmocka_unit_test(test_json_and_acts),
        cmocka_unit_test(test_runtime_null_handles), cmocka_unit_test(test_runtime_null_buffers),
        cmocka_unit_test(test_runtime_with_model),   cmocka_unit_test(test_eval_task_records),
        cmocka_unit_test(test_race_channel_paraphrase), cmocka_unit_test(test_paths_bridge_codec),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
