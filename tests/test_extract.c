/* `latentwire extract`: the file it writes holds exactly the activations the library
 * captures (pooled as documented), with row ids, metadata, shards and --resume. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

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
static float *library_rows(const char *text, int layer, int *n_out) {
    int32_t *tok;
    int n = lw_tokenize_alloc(M, text, true, &tok);
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = 2;
    lw_session *s = lw_session_new(M, sp);
    lw_hook h = lw_hook_default();
    h.site = layer < 0 ? LW_SITE_EMBED : LW_SITE_RESID_POST;
    h.layer = layer < 0 ? 0 : layer;
    int id = lw_session_add_hook(s, &h);
    lw_span span = {.tokens = tok, .n = n};
    lw_seq_input in = {.seq = 0, .spans = &span, .n_spans = 1, .logits = LW_LOGITS_ALL};
    assert_int_equal(lw_session_run(s, &in, 1), 0);
    const float *rows;
    assert_int_equal(lw_session_capture(s, id, &rows, NULL, NULL), n);
    float *out = malloc(sizeof(float) * (size_t)n * INFO.n_embd);
    memcpy(out, rows, sizeof(float) * (size_t)n * INFO.n_embd);
    lw_session_free(s);
    free(tok);
    *n_out = n;
    return out;
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_shards_and_resume),
        cmocka_unit_test(test_untokenizable_text),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
