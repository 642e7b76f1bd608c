/* Runtime issue, test 9: bad input gets one clear error line naming the file, field or
 * value, a non-zero exit, no crash and no output file left behind; in the library and
 * through the CLI (which runs under the same sanitizers as this test). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/runtime.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static char MODEL[1200];

/* Runs the CLI and checks: non-zero exit, exactly one stderr line, containing `needle`. */
static void expect_cli_error(const char *args, const char *needle) {
    char *why = lw_test_cli_refusal(args, -1, needle);
    if (why) fail_msg("%s", why);
}

/* No file in the scratch directory whose name starts with prefix (outputs and temps). */
static void expect_no_files(const char *prefix) {
    DIR *d = opendir(lw_test_tmpdir());
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix))) fail_msg("left behind: %s", e->d_name);
    closedir(d);
}

static int setup(void **state) {
    lw_synth_params p = lw_synth_default_params();
    snprintf(MODEL, sizeof MODEL, "%s", lw_test_tmpfile("bad_input_model.gguf"));
    return lw_synth_write(MODEL, &p);
}

static void test_bad_model_files(void **state) {
    const char *missing = lw_test_tmpfile("does-not-exist.gguf");
    assert_null(lw_model_load(missing, lw_model_default_params()));
    assert_non_null(strstr(lw_last_error(), missing));

    const char *text = lw_test_tmpfile("not-a-model.gguf");
    lw_test_write_text(text, "this is not a model\n");
    assert_null(lw_model_load(text, lw_model_default_params()));
    assert_non_null(strstr(lw_last_error(), "not a GGUF"));

    /* truncated in the tensor data, and inside the header */
    size_t len;
    FILE *f = fopen(MODEL, "rb");
    fseek(f, 0, SEEK_END);
    len = (size_t)ftell(f);
    rewind(f);
    char *buf = malloc(len);
    assert_int_equal(fread(buf, 1, len, f), len);
    fclose(f);
    const size_t cuts[3] = {len / 2, 200, 6};
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "truncated-%d.gguf", i);
        const char *p = lw_test_tmpfile(name);
        FILE *o = fopen(p, "wb");
        fwrite(buf, 1, cuts[i], o);
        fclose(o);
        assert_null(lw_model_load(p, lw_model_default_params()));
        assert_non_null(strstr(lw_last_error(), p));
        char args[1400];
        snprintf(args, sizeof args, "info %s", p);
        expect_cli_error(args, p);
    }
    free(buf);

    char args[1400];
    snprintf(args, sizeof args, "info %s", missing);
    expect_cli_error(args, missing);
    snprintf(args, sizeof args, "info %s", text);
    expect_cli_error(args, "not a GGUF");
}

static void test_bad_hooks_and_runs(void **state) {
    lw_model *m = lw_model_load(MODEL, lw_model_default_params());
    assert_non_null(m);
    lw_model_info in;
    lw_model_get_info(m, &in);
    lw_session_params sp = lw_session_default_params();
    sp.n_ctx = 32;
    sp.n_threads = 2;
    lw_session *s = lw_session_new(m, sp);
    assert_non_null(s);

    lw_hook h = lw_hook_default();
    h.layer = in.n_layer;
    assert_int_equal(lw_session_add_hook(s, &h), -1);
    assert_non_null(strstr(lw_last_error(), "out of range"));
    h.layer = -1;
    assert_int_equal(lw_session_add_hook(s, &h), -1);

    /* replace with no vector, or with vectors not matching the positions */
    h = lw_hook_default();
    h.op = LW_OP_REPLACE;
    assert_int_equal(lw_session_add_hook(s, &h), -1);
    float *v = calloc((size_t)in.n_embd * 3, sizeof(float));
    int32_t pos[2] = {1, 2};
    h.vectors = v;
    h.n_vectors = 3;
    h.pos_mode = LW_POS_LIST;
    h.positions = pos;
    h.n_positions = 2;
    assert_int_equal(lw_session_add_hook(s, &h), -1);
    v[5] = 0.0f / 0.0f; /* NaN */
    h.n_vectors = 1;
    assert_int_equal(lw_session_add_hook(s, &h), -1);
    assert_non_null(strstr(lw_last_error(), "non-finite"));
    v[5] = 0;

    /* a listed position past the end of the sequence */
    int32_t far = 1000;
    h.positions = &far;
    h.n_positions = 1;
    assert_true(lw_session_add_hook(s, &h) >= 0);
    int32_t toks[40];
    for (int i = 0; i < 40; i++) toks[i] = 3 + i;
    lw_span span = {.tokens = toks, .n = 5};
    lw_seq_input inp = {.seq = 0, .spans = &span, .n_spans = 1, .logits = LW_LOGITS_LAST};
    assert_int_equal(lw_session_run(s, &inp, 1), -1);
    assert_non_null(strstr(lw_last_error(), "past the end"));
    lw_session_clear_hooks(s);

    /* empty span, bad token id, bad sequence id, too long for the context */
    span.n = 0;
    assert_int_equal(lw_session_run(s, &inp, 1), -1);
    span.n = 5;
    toks[2] = in.n_vocab;
    assert_int_equal(lw_session_run(s, &inp, 1), -1);
    assert_non_null(strstr(lw_last_error(), "vocabulary"));
    toks[2] = 5;
    inp.seq = 1;
    assert_int_equal(lw_session_run(s, &inp, 1), -1);
    inp.seq = 0;
    span.n = 40;
    assert_int_equal(lw_session_run(s, &inp, 1), -1);
    assert_non_null(strstr(lw_last_error(), "context"));
    /* the session is still usable and unchanged */
    assert_int_equal(lw_session_seq_len(s, 0), 0);
    span.n = 5;
    assert_int_equal(lw_session_run(s, &inp, 1), 0);
    assert_int_equal(lw_session_seq_len(s, 0), 5);

    free(v);
    lw_session_free(s);
    lw_model_free(m);
}

static void test_cli_bad_input(void **state) {
    char args[4096];
    const char *corpus = lw_test_tmpfile("corpus.txt");
    lw_test_write_text(corpus, "Once upon a time.\nThe cat sat.\n");
    const char *out = lw_test_tmpfile("bad-out.safetensors");

    snprintf(args, sizeof args, "extract --model %s --layers 99 --input %s --out %s", MODEL, corpus, out);
    expect_cli_error(args, "99");
    expect_no_files("bad-out");

    /* empty input: only blank lines */
    const char *blank = lw_test_tmpfile("blank.txt");
    lw_test_write_text(blank, "\n   \n\n");
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out %s", MODEL, blank, out);
    expect_cli_error(args, blank);
    expect_no_files("bad-out");

    /* a text longer than the context (synthetic model: 256), named by file and line */
    const char *longf = lw_test_tmpfile("long.txt");
    FILE *f = fopen(longf, "w");
    fputs("short line\n", f);
    for (int i = 0; i < 400; i++) fputs("the cat ", f);
    fputs("\n", f);
    fclose(f);
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out %s", MODEL, longf, out);
    char needle[1300];
    snprintf(needle, sizeof needle, "%s:2", longf);
    expect_cli_error(args, needle);
    expect_no_files("bad-out");

    /* a broken JSONL line */
    const char *jl = lw_test_tmpfile("broken.jsonl");
    lw_test_write_text(jl, "{\"text\": \"fine\"}\n{\"text\": \n");
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out %s", MODEL, jl, out);
    snprintf(needle, sizeof needle, "%s:2", jl);
    expect_cli_error(args, needle);
    expect_no_files("bad-out");

    /* empty text and an over-long prompt */
    snprintf(args, sizeof args, "tokenize %s ''", MODEL);
    expect_cli_error(args, "empty");
    snprintf(args, sizeof args, "generate --model %s --prompt ''", MODEL);
    expect_cli_error(args, "empty");
    char *prompt = malloc(4000);
    prompt[0] = '\0';
    for (int i = 0; i < 400; i++) strcat(prompt, "cat ");
    snprintf(args, sizeof args, "generate --model %s --prompt '%s'", MODEL, prompt);
    expect_cli_error(args, "context");
    free(prompt);

    /* hook vectors of the wrong width, a position past the end, a layer out of range */
    const char *vec = lw_test_tmpfile("vec.txt");
    lw_test_write_text(vec, "0.1 0.2 0.3\n");
    snprintf(args, sizeof args, "generate --model %s --prompt 'the cat' --hook 0:add:all:%s", MODEL, vec);
    expect_cli_error(args, "width");
    lw_synth_params p = lw_synth_default_params();
    f = fopen(vec, "w");
    for (int i = 0; i < p.n_embd; i++) fprintf(f, "%g ", 0.01 * i);
    fclose(f);
    snprintf(args, sizeof args, "generate --model %s --prompt 'the cat' --max-tokens 3 --hook 0:add:500:%s", MODEL, vec);
    expect_cli_error(args, "past the end");
    snprintf(args, sizeof args, "generate --model %s --prompt 'the cat' --hook 7:add:all:%s", MODEL, vec);
    expect_cli_error(args, "out of range");
    /* sampling settings at --temp 0 (greedy) changed nothing and were accepted */
    snprintf(args, sizeof args, "generate --model %s --prompt 'the cat' --top-k 5", MODEL);
    expect_cli_error(args, "--top-k applies to sampling: give --temp T > 0 with it");
    snprintf(args, sizeof args, "generate --model %s --prompt 'the cat' --seed 3 --temp 0", MODEL);
    expect_cli_error(args, "--seed applies to sampling");

    /* and the well-formed hook works */
    char *o, *e;
    snprintf(args, sizeof args, "generate --model %s --prompt 'the cat' --max-tokens 3 --hook 1:add:all:%s:2", MODEL,
             vec);
    int rc = lw_test_run_cli(args, &o, &e);
    if (rc != 0) fail_msg("generate with a hook failed: %s", e);
    free(o);
    free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_model_files),
        cmocka_unit_test(test_bad_hooks_and_runs),
        cmocka_unit_test(test_cli_bad_input),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, NULL));
}
