/* `latentwire extract`: the file it writes holds exactly the activations the library
 * captures (pooled as documented), with row ids, metadata, shards and --resume; sites by
 * their TransformerLens names, and the logit lens of resid_post sites. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "latentwire/runtime.h"
#include "latentwire/safetensors.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static const char *TEXTS[5] = {
    "Once upon a time there was a dog.",
    "The cat sat on the mat.",
    "Lily liked to play with her red ball in the park.",
    "Tom ran.",
    "A bird sang a happy song in the tall green tree.",
};

static char MODEL[1200], CORPUS[1200], JSONL[1200];
static lw_model *M;
static lw_model_info INFO;

static int setup(void **state) {
    lw_synth_params p = lw_synth_default_params();
    p.n_layer = 3;
    snprintf(MODEL, sizeof MODEL, "%s", lw_test_tmpfile("extract_model.gguf"));
    if (lw_synth_write(MODEL, &p) != 0) return -1;
    snprintf(CORPUS, sizeof CORPUS, "%s", lw_test_tmpfile("corpus.txt"));
    snprintf(JSONL, sizeof JSONL, "%s", lw_test_tmpfile("corpus.jsonl"));
    FILE *f = fopen(CORPUS, "w"), *g = fopen(JSONL, "w");
    for (int i = 0; i < 5; i++) {
        fprintf(f, "%s\n%s", TEXTS[i], i == 1 ? "\n" : ""); /* a blank line is skipped */
        fprintf(g, "{\"id\": %d, \"text\": \"%s\"}\n", i, TEXTS[i]);
    }
    fclose(f);
    fclose(g);
    M = lw_model_load(MODEL, lw_model_default_params());
    if (!M) return -1;
    lw_model_get_info(M, &INFO);
    return 0;
}

static int teardown(void **state) {
    lw_model_free(M);
    return 0;
}

/* Every position of one text at one site, from a plain full run of the library. */
static float *library_site_rows(const char *text, lw_site site, int layer, int *n_out) {
    int32_t *tok;
    int n = lw_tokenize_alloc(M, text, true, &tok);
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = 2;
    lw_session *s = lw_session_new(M, sp);
    lw_hook h = lw_hook_default();
    h.site = site;
    h.layer = layer < 0 ? 0 : layer;
    int id = lw_session_add_hook(s, &h);
    lw_span span = {.tokens = tok, .n = n};
    lw_seq_input in = {.seq = 0, .spans = &span, .n_spans = 1, .logits = LW_LOGITS_ALL};
    assert_int_equal(lw_session_run(s, &in, 1), 0);
    const float *rows;
    const int w = lw_site_width(M, site);
    assert_int_equal(lw_session_capture(s, id, &rows, NULL, NULL), n);
    float *out = malloc(sizeof(float) * (size_t)n * w);
    memcpy(out, rows, sizeof(float) * (size_t)n * w);
    lw_session_free(s);
    free(tok);
    *n_out = n;
    return out;
}

static float *library_rows(const char *text, int layer, int *n_out) {
    return library_site_rows(text, layer < 0 ? LW_SITE_EMBED : LW_SITE_RESID_POST, layer, n_out);
}

static void run_ok(const char *args) {
    char *out, *err;
    int rc = lw_test_run_cli(args, &out, &err);
    if (rc != 0) fail_msg("`latentwire %s` failed (%d): %s", args, rc, err);
    free(out);
    free(err);
}

static void check_file(const char *path, const char *pool, int first_text, int n_texts) {
    lw_st_file *f = lw_st_open(path);
    if (!f) fail_msg("%s", lw_last_error());
    assert_string_equal(lw_st_meta(f, "pool"), pool);
    assert_non_null(strstr(lw_st_meta(f, "latentwire"), "\"layers\":[-1,0,2]"));
    const int d = INFO.n_embd;
    const lw_st_tensor *ids = lw_st_find(f, "row_id");
    assert_non_null(ids);
    assert_int_equal(ids->dtype, LW_DT_I64);
    const int64_t *row_id = ids->data;
    const int layers[3] = {-1, 0, 2};
    for (int k = 0; k < 3; k++) {
        char name[32];
        if (layers[k] < 0) snprintf(name, sizeof name, "embed");
        else snprintf(name, sizeof name, "layer.%d", layers[k]);
        const lw_st_tensor *t = lw_st_find(f, name);
        if (!t) fail_msg("%s: no tensor %s", path, name);
        assert_int_equal(t->dtype, LW_DT_F32);
        assert_int_equal(t->n_dims, 2);
        assert_int_equal(t->shape[1], d);
        assert_int_equal(t->shape[0], ids->shape[0]);
        const float *data = t->data;
        int64_t row = 0;
        for (int i = first_text; i < first_text + n_texts; i++) {
            int n;
            float *ref = library_rows(TEXTS[i], layers[k], &n);
            if (!strcmp(pool, "none")) {
                const int32_t *pos = lw_st_find(f, "position")->data;
                for (int p = 0; p < n; p++, row++) {
                    assert_int_equal(row_id[row], i);
                    assert_int_equal(pos[row], p);
                    assert_true(lw_test_max_rel_err(data + row * d, ref + (size_t)p * d, d, 1e-6) < 1e-5);
                }
            } else {
                float *want = calloc((size_t)d, sizeof(float));
                if (!strcmp(pool, "last")) {
                    memcpy(want, ref + (size_t)(n - 1) * d, sizeof(float) * d);
                } else { /* mean over the text's tokens, BOS (position 0) excluded */
                    for (int c = 0; c < d; c++) {
                        double acc = 0;
                        for (int p = 1; p < n; p++) acc += ref[(size_t)p * d + c];
                        want[c] = (float)(acc / (n - 1));
                    }
                }
                assert_int_equal(row_id[row], i);
                double e = lw_test_max_rel_err(data + row * d, want, d, 1e-6);
                if (e >= 1e-5) fail_msg("%s: %s row %d (text %d) differs by %.3g", path, name, (int)row, i, e);
                row++;
                free(want);
            }
            free(ref);
        }
        assert_int_equal(row, t->shape[0]);
    }
    lw_st_close(f);
}

static void test_pools(void **state) {
    const char *pools[3] = {"mean", "last", "none"};
    for (int i = 0; i < 3; i++) {
        char out[1300], args[4096];
        snprintf(out, sizeof out, "%s/acts-%s.safetensors", lw_test_tmpdir(), pools[i]);
        snprintf(args, sizeof args, "extract --model %s --layers embed,0,-1 --pool %s --input %s --out %s --batch 2",
                 MODEL, pools[i], i == 1 ? JSONL : CORPUS, out);
        run_ok(args);
        check_file(out, pools[i], 0, 5);
    }
    /* "line" records the source line of each text: text 2 sits on line 4 after a blank line */
    char out[1300];
    snprintf(out, sizeof out, "%s/acts-mean.safetensors", lw_test_tmpdir());
    lw_st_file *f = lw_st_open(out);
    const int64_t *line = lw_st_find(f, "line")->data;
    assert_int_equal(line[2], 4);
    lw_st_close(f);
}

static long mtime_ns(const char *p) {
    struct stat st;
    if (stat(p, &st) != 0) return -1;
    return st.st_mtim.tv_sec * 1000000000L + st.st_mtim.tv_nsec;
}

static void test_shards_and_resume(void **state) {
    char out[1300], args[4096], s1[1400], s2[1400], s3[1400];
    snprintf(out, sizeof out, "%s/sharded.safetensors", lw_test_tmpdir());
    snprintf(s1, sizeof s1, "%s/sharded-00001-of-00003.safetensors", lw_test_tmpdir());
    snprintf(s2, sizeof s2, "%s/sharded-00002-of-00003.safetensors", lw_test_tmpdir());
    snprintf(s3, sizeof s3, "%s/sharded-00003-of-00003.safetensors", lw_test_tmpdir());
    snprintf(args, sizeof args,
             "extract --model %s --layers embed,0,2 --pool mean --input %s --out %s --shard-texts 2 --resume", MODEL,
             CORPUS, out);
    run_ok(args);
    check_file(s1, "mean", 0, 2);
    check_file(s2, "mean", 2, 2);
    check_file(s3, "mean", 4, 1);
    /* lose one shard, resume: the others are kept as they were, the lost one is redone */
    long t1 = mtime_ns(s1), t3 = mtime_ns(s3);
    remove(s2);
    char *o, *e;
    assert_int_equal(lw_test_run_cli(args, &o, &e), 0);
    assert_non_null(strstr(e, "kept"));
    free(o);
    free(e);
    assert_int_equal(mtime_ns(s1), t1);
    assert_int_equal(mtime_ns(s3), t3);
    check_file(s2, "mean", 2, 2);
    /* different settings do not reuse finished shards */
    snprintf(args, sizeof args,
             "extract --model %s --layers embed,0,2 --pool mean --input %s --out %s --shard-texts 2 --resume --no-bos",
             MODEL, CORPUS, out);
    assert_int_equal(lw_test_run_cli(args, &o, &e), 0);
    assert_null(strstr(e, "kept"));
    free(o);
    free(e);
}

/* The commands that read activation files take a shard set by the name extract was given: its
 * shards' rows joined (the same five rows as one unsharded file, retrieved each by itself); a
 * missing shard is an error naming it. */
static void test_shard_set_read(void **state) {
    char set[1300], one[1300], json[1300], args[8192], s2[1400];
    snprintf(set, sizeof set, "%s/set.safetensors", lw_test_tmpdir());
    snprintf(one, sizeof one, "%s/one.safetensors", lw_test_tmpdir());
    snprintf(json, sizeof json, "%s/set-retrieval.json", lw_test_tmpdir());
    snprintf(s2, sizeof s2, "%s/set-00002-of-00003.safetensors", lw_test_tmpdir());
    snprintf(args, sizeof args, "extract --model %s --layers 2 --pool mean --input %s --out %s --shard-texts 2", MODEL,
             CORPUS, set);
    run_ok(args);
    snprintf(args, sizeof args, "extract --model %s --layers 2 --pool mean --input %s --out %s", MODEL, CORPUS, one);
    run_ok(args);
    snprintf(args, sizeof args,
             "retrieval --queries %s --query-tensor layer.2 --candidates %s --candidate-tensor layer.2 --json %s", set,
             one, json);
    run_ok(args);
    json_error_t err;
    json_t *r = json_load_file(json, 0, &err);
    assert_non_null(r);
    assert_int_equal(json_integer_value(json_object_get(r, "n_queries")), 5);
    assert_int_equal(json_integer_value(json_object_get(r, "n_candidates")), 5);
    json_decref(r);
    remove(s2);
    char *why = lw_test_cli_refusal(args, -1, "shard 2 of 3");
    if (why) fail_msg("%s", why);
    /* a name a glob would read as a pattern is taken as it is */
    char odd[1300];
    snprintf(odd, sizeof odd, "%s/a[1]*.safetensors", lw_test_tmpdir());
    snprintf(args, sizeof args, "extract --model %s --layers 2 --pool mean --input %s --out '%s' --shard-texts 2", MODEL,
             CORPUS, odd);
    run_ok(args);
    snprintf(args, sizeof args,
             "retrieval --queries '%s' --query-tensor layer.2 --candidates %s --candidate-tensor layer.2 --json %s", odd,
             one, json);
    run_ok(args);
    r = json_load_file(json, 0, &err);
    assert_non_null(r);
    assert_int_equal(json_integer_value(json_object_get(r, "n_queries")), 5);
    json_decref(r);
}

/* A vocabulary without byte fallback for some characters (tinystories656K lacks '&'):
 * an error naming the line by default, or the text skipped with --skip-untokenizable. */
static void test_untokenizable_text(void **state) {
    const char *model = lw_test_shared_path("models/tinystories656K.gguf");
    if (!model) return;
    const char *corpus = lw_test_tmpfile("amp.txt");
    FILE *f = fopen(corpus, "w");
    fputs("the cat sat\nsmith & sons\nthe dog ran\n", f);
    fclose(f);
    char out[1300], args[4096], *o, *e;
    snprintf(out, sizeof out, "%s/amp.safetensors", lw_test_tmpdir());
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out %s", model, corpus, out);
    assert_int_not_equal(lw_test_run_cli(args, &o, &e), 0);
    char needle[1400];
    snprintf(needle, sizeof needle, "%s:2", corpus);
    assert_non_null(strstr(e, needle));
    assert_non_null(strstr(e, "'&'"));
    free(o);
    free(e);
    assert_false(lw_test_file_exists(out));
    strcat(args, " --skip-untokenizable");
    run_ok(args);
    lw_st_file *st = lw_st_open(out);
    assert_non_null(st);
    const lw_st_tensor *line = lw_st_find(st, "line");
    assert_int_equal(line->shape[0], 2);
    assert_int_equal(((const int64_t *)line->data)[1], 3);
    lw_st_close(st);
}

/* --sites with TransformerLens names: one tensor per site (embed and layer.L as ever, the
 * TransformerLens name for the others), the names recorded in the metadata; --logit-lens K
 * adds the lens's top K ids and log-probs of each resid_post site. */
static void test_sites_and_logit_lens(void **state) {
    char out[1300], args[4096];
    snprintf(out, sizeof out, "%s/sites.safetensors", lw_test_tmpdir());
    snprintf(args, sizeof args,
             "extract --model %s --sites blocks.2.hook_mlp_out,embed,blocks.1.hook_z,1,blocks.1.hook_attn_out,"
             "blocks.2.hook_resid_mid --pool none --input %s --out %s --logit-lens 3",
             MODEL, CORPUS, out);
    run_ok(args);
    lw_st_file *f = lw_st_open(out);
    if (!f) fail_msg("%s", lw_last_error());
    const char *meta = lw_st_meta(f, "latentwire");
    const char *want_meta[] = {"\"embed\":\"hook_embed\"", "\"layer.1\":\"blocks.1.hook_resid_post\"",
                               "\"blocks.1.hook_z\":\"blocks.1.hook_z\"", "\"logit_lens\":3",
                               "\"sites\":[\"hook_embed\",\"blocks.1.hook_z\",\"blocks.1.hook_attn_out\","
                               "\"blocks.1.hook_resid_post\",\"blocks.2.hook_resid_mid\",\"blocks.2.hook_mlp_out\"]"};
    for (int i = 0; i < 5; i++)
        if (!strstr(meta, want_meta[i])) fail_msg("metadata lacks %s: %s", want_meta[i], meta);
    const struct {
        const char *tensor;
        lw_site site;
        int layer;
    } sites[6] = {{"embed", LW_SITE_EMBED, -1},
                  {"blocks.1.hook_z", LW_SITE_Z, 1},
                  {"blocks.1.hook_attn_out", LW_SITE_ATTN_OUT, 1},
                  {"layer.1", LW_SITE_RESID_POST, 1},
                  {"blocks.2.hook_resid_mid", LW_SITE_RESID_MID, 2},
                  {"blocks.2.hook_mlp_out", LW_SITE_MLP_OUT, 2}};
    const lw_st_tensor *ids = lw_st_find(f, "layer.1.lens_ids"), *lps = lw_st_find(f, "layer.1.lens_logprobs");
    assert_non_null(ids);
    assert_non_null(lps);
    assert_int_equal(ids->dtype, LW_DT_I32);
    assert_int_equal(lps->dtype, LW_DT_F32);
    assert_int_equal(lw_st_count(f), 6 + 2 + 4); /* sites, lens, row_id line position token */
    for (int k = 0; k < 6; k++) {
        const lw_st_tensor *t = lw_st_find(f, sites[k].tensor);
        if (!t) fail_msg("no tensor %s", sites[k].tensor);
        const int w = lw_site_width(M, sites[k].site);
        assert_int_equal(t->shape[1], w);
        int64_t row = 0;
        for (int i = 0; i < 5; i++) {
            int n;
            float *ref = library_site_rows(TEXTS[i], sites[k].site, sites[k].layer, &n);
            double e = lw_test_max_rel_err((const float *)t->data + row * w, ref, (size_t)n * w, 1e-6);
            if (e >= 1e-5) fail_msg("%s: text %d differs from the library by %.3g", sites[k].tensor, i, e);
            if (sites[k].site == LW_SITE_RESID_POST) { /* the lens of exactly these rows */
                int32_t *want_ids = malloc(sizeof(int32_t) * (size_t)n * 3);
                float *want_lp = malloc(sizeof(float) * (size_t)n * 3);
                assert_int_equal(lw_logit_lens_topk(M, ref, n, 3, want_ids, want_lp), 0);
                assert_int_equal(ids->shape[0], t->shape[0]);
                assert_int_equal(ids->shape[1], 3);
                assert_memory_equal((const int32_t *)ids->data + row * 3, want_ids, sizeof(int32_t) * (size_t)n * 3);
                assert_true(lw_test_max_abs_diff((const float *)lps->data + row * 3, want_lp, (size_t)n * 3) < 1e-4);
                free(want_ids);
                free(want_lp);
            }
            row += n;
            free(ref);
        }
        assert_int_equal(row, t->shape[0]);
    }
    lw_st_close(f);

    /* pooled: the lens of the pooled row (here the last token's) */
    snprintf(args, sizeof args, "extract --model %s --layers blocks.-1.hook_resid_post --pool last --input %s --out %s "
                                "--logit-lens 2", MODEL, CORPUS, out);
    run_ok(args);
    f = lw_st_open(out);
    const lw_st_tensor *t = lw_st_find(f, "layer.2");
    ids = lw_st_find(f, "layer.2.lens_ids");
    assert_non_null(t);
    assert_non_null(ids);
    int32_t got[2 * 5];
    float lp[2 * 5];
    assert_int_equal(lw_logit_lens_topk(M, t->data, 5, 2, got, lp), 0);
    assert_memory_equal(ids->data, got, sizeof got);
    lw_st_close(f);

    /* errors: no resid_post site for the lens, a name that is no site, a site out of range */
    char *o, *e;
    const char *bad[3][2] = {{"--sites blocks.1.hook_z --logit-lens 3", "needs a resid_post"},
                             {"--sites 0,blocks.1.hook_foo", "blocks.1.hook_foo"},
                             {"--layers blocks.3.hook_mlp_out", "blocks 0..2"}};
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "extract --model %s %s --input %s --out %s", MODEL, bad[i][0], CORPUS, out);
        assert_int_not_equal(lw_test_run_cli(args, &o, &e), 0);
        if (!strstr(e, bad[i][1])) fail_msg("`%s`: expected \"%s\" in: %s", args, bad[i][1], e);
        free(o);
        free(e);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_shards_and_resume),
        cmocka_unit_test(test_shard_set_read),
        cmocka_unit_test(test_untokenizable_text),
        cmocka_unit_test(test_sites_and_logit_lens),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
