/* The hook spec SITE:OP:POSITIONS:VECTORS[:SCALE] in the library (lw_hook_spec_parse) and
 * the vectors file it names (lw_hook_vectors_load), on hand-made specs and files; and
 * `generate --hook` refusing one position written two ways ("0,-0", "3,03"), which the CLI's
 * own parser let through (found by fuzz_hook_spec). */
#include <math.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/error.h"
#include "latentwire/hookspec.h"
#include "latentwire/runtime.h"
#include "latentwire/safetensors.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static void test_parse_valid(void **state) {
    (void)state;
    lw_hook_spec s;
    assert_int_equal(lw_hook_spec_parse("-1:add:last:v.txt:2.5", &s), 0);
    assert_string_equal(s.site, "-1");
    assert_int_equal(s.op, LW_OP_ADD);
    assert_int_equal(s.pos_mode, LW_POS_LAST);
    assert_null(s.positions);
    assert_string_equal(s.vectors, "v.txt");
    assert_null(s.tensor);
    assert_true(s.scale == 2.5f);
    lw_hook_spec_free(&s);

    assert_int_equal(lw_hook_spec_parse("blocks.3.hook_z:replace: 0, 3 ,5:dir/a.safetensors#t.x", &s), 0);
    assert_string_equal(s.site, "blocks.3.hook_z");
    assert_int_equal(s.op, LW_OP_REPLACE);
    assert_int_equal(s.pos_mode, LW_POS_LIST);
    assert_int_equal(s.n_positions, 3);
    assert_int_equal(s.positions[0], 0);
    assert_int_equal(s.positions[1], 3);
    assert_int_equal(s.positions[2], 5);
    assert_string_equal(s.vectors, "dir/a.safetensors");
    assert_string_equal(s.tensor, "t.x");
    assert_true(s.scale == 1.0f); /* not given */
    lw_hook_spec_free(&s);

    /* '#' without ".safetensors#" is part of the path */
    assert_int_equal(lw_hook_spec_parse("embed:mean:all:v#1.txt", &s), 0);
    assert_int_equal(s.op, LW_OP_MEAN);
    assert_int_equal(s.pos_mode, LW_POS_ALL);
    assert_string_equal(s.vectors, "v#1.txt");
    assert_null(s.tensor);
    lw_hook_spec_free(&s);
}

static void expect_refused(const char *spec, const char *message) {
    lw_hook_spec s;
    lw_clear_error();
    if (lw_hook_spec_parse(spec, &s) == 0) fail_msg("\"%s\" was accepted", spec);
    if (!strstr(lw_last_error(), message)) fail_msg("\"%s\": expected \"%s\" in: %s", spec, message, lw_last_error());
    assert_null(strchr(lw_last_error(), '\n'));
    lw_hook_spec_free(&s); /* safe after a failure */
    lw_hook_spec_free(&s); /* and twice */
}

static void test_parse_refused(void **state) {
    (void)state;
    expect_refused("1:add:last", "expected SITE:OP:POSITIONS:VECTORS[:SCALE], got 3 fields");
    expect_refused("1:add:last:v.txt:2:extra", "got 6 fields");
    expect_refused("1:add::v.txt", "got an empty field among 4 fields");
    expect_refused("", "got an empty field among 1 field ");
    expect_refused("1:sub:last:v.txt", "op \"sub\" must be replace, add or mean");
    expect_refused("1:add:1,,2:v.txt", "positions \"1,,2\": item 2 is empty");
    expect_refused("1:add:1,1:v.txt", "positions \"1,1\": \"1\" is listed twice");
    expect_refused("1:add:0,-0:v.txt", "positions \"0,-0\": \"0\" and \"-0\" are both position 0");
    expect_refused("1:add:3,03:v.txt", "\"3\" and \"03\" are both position 3");
    expect_refused("1:add:-1:v.txt", "position \"-1\" is not a non-negative integer");
    expect_refused("1:add:1073741825:v.txt", "position \"1073741825\" is not a non-negative integer");
    expect_refused("1:add:2x:v.txt", "position \"2x\" is not a non-negative integer");
    expect_refused("1:add:last:v.txt:abc", "scale \"abc\" is not a number");
    expect_refused("1:add:last:v.txt:nan", "scale \"nan\" is not a number");
    expect_refused("1:add:last:v.txt:1e39", "scale \"1e39\" is not a number"); /* beyond float */
    /* SCALE with replace or mean was read and ignored */
    expect_refused("1:replace:last:v.txt:2", "SCALE \"2\" applies to add only: replace writes the vectors as they are");
    expect_refused("1:mean:last:v.txt:0.5", "SCALE \"0.5\" applies to add only: mean writes");
    expect_refused(NULL, "no hook spec given");
}

static void test_vectors_text(void **state) {
    (void)state;
    const char *path = lw_test_tmpfile("hs_vec.txt");
    lw_test_write_text(path, "1 2 3\n\n  \n4 5 6.5\n");
    int n = 0;
    float *v = lw_hook_vectors_load(path, NULL, 3, &n);
    assert_non_null(v);
    assert_int_equal(n, 2);
    const float want[6] = {1, 2, 3, 4, 5, 6.5f};
    assert_memory_equal(v, want, sizeof want);
    free(v);
    char msg[1400];
    assert_null(lw_hook_vectors_load(path, NULL, 4, &n));
    snprintf(msg, sizeof msg, "%s:1: vector has 3 values, the site's width is 4", path);
    assert_string_equal(lw_last_error(), msg);
    lw_test_write_text(path, "1 2 3\n1 2 x\n");
    assert_null(lw_hook_vectors_load(path, NULL, 3, &n));
    snprintf(msg, sizeof msg, "%s:2: vector has 2 values and trailing garbage, the site's width is 3", path);
    assert_string_equal(lw_last_error(), msg);
    lw_test_write_text(path, "\n \n");
    assert_null(lw_hook_vectors_load(path, NULL, 3, &n));
    snprintf(msg, sizeof msg, "%s: no vectors", path);
    assert_string_equal(lw_last_error(), msg);
    /* many lines: the buffer grows */
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 100; i++) fprintf(f, "%d %d\n", i, -i);
    fclose(f);
    v = lw_hook_vectors_load(path, NULL, 2, &n);
    assert_non_null(v);
    assert_int_equal(n, 100);
    assert_true(v[2 * 99] == 99.0f && v[2 * 99 + 1] == -99.0f);
    free(v);
    /* values a float cannot be, read as NaN or inf and refused only later by the hook, far from
     * the file; a tensor name given for a text file was ignored; a width past any site's sized a
     * 16-row buffer of it before reading a line (8 GiB at INT_MAX) */
    static const char *const bad[][2] = {{"1 nan 3\n", "value 2 is not a finite float (nan)"},
                                         {"1 2 inf\n", "value 3 is not a finite float (inf)"},
                                         {"1e40 2 3\n", "value 1 is not a finite float (1e40)"}};
    for (int k = 0; k < 3; k++) {
        lw_test_write_text(path, bad[k][0]);
        assert_null(lw_hook_vectors_load(path, NULL, 3, &n));
        if (!strstr(lw_last_error(), bad[k][1])) fail_msg("%s lacks %s", lw_last_error(), bad[k][1]);
    }
    /* blank lines are skipped but counted: the message names the file's own line */
    lw_test_write_text(path, "1 2 3\n\n\n1 nan 3\n");
    assert_null(lw_hook_vectors_load(path, NULL, 3, &n));
    if (!strstr(lw_last_error(), "hs_vec.txt:4: value 2")) fail_msg("%s", lw_last_error());
    lw_test_write_text(path, "1 2 3\n");
    assert_null(lw_hook_vectors_load(path, "a", 3, &n));
    assert_non_null(strstr(lw_last_error(), "a text file of vectors has no tensors"));
    assert_null(lw_hook_vectors_load(path, NULL, INT_MAX, &n));
    assert_non_null(strstr(lw_last_error(), "is beyond any site's"));
}

static void test_vectors_safetensors(void **state) {
    (void)state;
    const char *path = lw_test_tmpfile("hs_vec.safetensors");
    float a[2 * 3] = {1, 2, 3, 4, 5, 6}, b[3] = {7, 8, 9};
    int32_t c[3] = {1, 2, 3};
    lw_st_tensor_in t[4] = {{.name = "a", .dtype = LW_DT_F32, .n_dims = 2, .shape = {2, 3}, .data = a},
                            {.name = "b", .dtype = LW_DT_F32, .n_dims = 1, .shape = {3}, .data = b},
                            {.name = "c", .dtype = LW_DT_I32, .n_dims = 1, .shape = {3}, .data = c},
                            {.name = "e", .dtype = LW_DT_F32, .n_dims = 2, .shape = {0, 3}, .data = a}};
    assert_int_equal(lw_st_save(path, t, 4, NULL, 0), 0);
    int n = 0;
    float *v = lw_hook_vectors_load(path, NULL, 3, &n); /* the first tensor */
    assert_non_null(v);
    assert_int_equal(n, 2);
    assert_memory_equal(v, a, sizeof a);
    free(v);
    v = lw_hook_vectors_load(path, "b", 3, &n);
    assert_non_null(v);
    assert_int_equal(n, 1);
    assert_memory_equal(v, b, sizeof b);
    free(v);
    char msg[1400];
    assert_null(lw_hook_vectors_load(path, "zz", 3, &n));
    snprintf(msg, sizeof msg, "%s: no tensor \"zz\"", path);
    assert_string_equal(lw_last_error(), msg);
    assert_null(lw_hook_vectors_load(path, "c", 3, &n));
    snprintf(msg, sizeof msg, "%s: tensor \"c\" must be F32 [k, 3] or [3] (the site's width)", path);
    assert_string_equal(lw_last_error(), msg);
    assert_null(lw_hook_vectors_load(path, "a", 4, &n));
    assert_non_null(strstr(lw_last_error(), "must be F32 [k, 4] or [4]"));
    assert_null(lw_hook_vectors_load(path, "e", 3, &n));
    snprintf(msg, sizeof msg, "%s: tensor \"e\" has no rows", path);
    assert_string_equal(lw_last_error(), msg);
}

/* The CLI refuses one position written two ways, naming the spec. */
static void test_generate_refuses_duplicate_position(void **state) {
    (void)state;
    lw_synth_params p = lw_synth_default_params();
    const char *model = lw_test_tmpfile("hs_model.gguf");
    assert_int_equal(lw_synth_write(model, &p), 0);
    const char *vec = lw_test_tmpfile("hs_cli_vec.txt");
    FILE *f = fopen(vec, "w");
    for (int i = 0; i < p.n_embd; i++) fprintf(f, "0.01 ");
    fprintf(f, "\n");
    fclose(f);
    char args[4096], want[4200];
    snprintf(args, sizeof args, "generate --model %s --prompt 'the cat sat' --max-tokens 2 --hook 0:add:1,01:%s", model,
             vec);
    char *err;
    assert_int_not_equal(lw_test_run_cli(args, NULL, &err), 0);
    snprintf(want, sizeof want,
             "latentwire generate: --hook \"0:add:1,01:%s\": positions \"1,01\": \"1\" and \"01\" are both position 1\n",
             vec);
    assert_string_equal(err, want);
    free(err);
    /* the same spec with distinct positions runs */
    snprintf(args, sizeof args, "generate --model %s --prompt 'the cat sat' --max-tokens 2 --hook 0:add:1,2:%s", model,
             vec);
    assert_int_equal(lw_test_run_cli(args, NULL, NULL), 0);
}

/* lw_hook_from_spec: the hook `generate --hook` adds, built from the spec on a model: site and
 * layer resolved (a negative block from the end), the op, positions and scale of the spec, the
 * file's vectors at the site's width; a wrong field names the spec, a wrong file names the file. */
static void test_hook_from_spec(void **state) {
    (void)state;
    lw_model *m = lw_synth_load_default("hs_from_spec.gguf");
    assert_non_null(m);
    lw_model_info mi;
    lw_model_get_info(m, &mi);
    const char *vec = lw_test_tmpfile("hs_from_spec_vec.txt");
    FILE *f = fopen(vec, "w");
    for (int r = 0; r < 2; r++) {
        for (int i = 0; i < mi.n_embd; i++) fprintf(f, "%d.5 ", r * 1000 + i);
        fprintf(f, "\n");
    }
    fclose(f);
    char spec[4096];
    snprintf(spec, sizeof spec, "-1:add:3,5:%s:0.25", vec);
    lw_hook h;
    assert_int_equal(lw_hook_from_spec(m, spec, &h), 0);
    assert_int_equal(h.layer, mi.n_layer - 1);
    assert_int_equal(h.op, LW_OP_ADD);
    assert_int_equal(h.pos_mode, LW_POS_LIST);
    assert_int_equal(h.n_positions, 2);
    assert_true(h.positions[0] == 3 && h.positions[1] == 5);
    assert_int_equal(h.n_vectors, 2);
    assert_true(h.vectors[0] == 0.5f && h.vectors[mi.n_embd + 1] == 1001.5f);
    assert_true(h.scale == 0.25f);
    lw_hook_from_spec_free(&h);
    assert_null(h.vectors);

    snprintf(spec, sizeof spec, "%d:add:all:%s", mi.n_layer, vec); /* one block past the last */
    assert_int_equal(lw_hook_from_spec(m, spec, &h), -1);
    char want[4300];
    snprintf(want, sizeof want, "--hook \"%s\": ", spec);
    assert_non_null(strstr(lw_last_error(), want));
    assert_null(h.vectors);
    lw_hook_from_spec_free(&h);
    assert_int_equal(lw_hook_from_spec(m, "0:add:all:/nonexistent/v.txt", &h), -1);
    assert_non_null(strstr(lw_last_error(), "/nonexistent/v.txt"));
    assert_int_equal(lw_hook_from_spec(NULL, spec, &h), -1);
    assert_non_null(strstr(lw_last_error(), "the model is NULL"));
    assert_int_equal(lw_hook_from_spec(m, spec, NULL), -1);
    lw_model_free(m);
}

/* lw_generate_text (what `generate` runs): the same tokens as the steps done by hand (tokenize,
 * session, hooks, lw_generate), and its refusals before any work. */
static void test_generate_text(void **state) {
    (void)state;
    lw_model *m = lw_synth_load_default("hs_gen_text.gguf");
    assert_non_null(m);
    lw_model_info mi;
    lw_model_get_info(m, &mi);
    const char *vec = lw_test_tmpfile("hs_gen_text_vec.txt");
    FILE *f = fopen(vec, "w");
    for (int i = 0; i < mi.n_embd; i++) fprintf(f, "%d ", i % 7 - 3);
    fclose(f);
    char spec[4096];
    snprintf(spec, sizeof spec, "0:add:all:%s:2", vec);
    const char *hooks[1] = {spec};
    for (int with_hook = 0; with_hook < 2; with_hook++) {
        lw_generate_text_params p = lw_generate_text_default_params();
        p.gen.max_tokens = 6;
        p.gen.stop_at_eos = false;
        p.session.n_threads = 1;
        p.hooks = hooks, p.n_hooks = with_hook;
        lw_generate_text_result r;
        if (lw_generate_text(m, "the cat sat", &p, &r) != 0) fail_msg("%s", lw_last_error());
        assert_string_equal(r.prompt, "the cat sat");
        assert_int_equal(r.n_tokens, 6);
        assert_int_equal(r.stop, LW_GEN_STOP_LENGTH);
        /* by hand */
        int32_t *toks, want[7];
        int n = lw_tokenize_special_alloc(m, "the cat sat", true, &toks);
        lw_session *s = lw_session_new(m, p.session);
        assert_non_null(s);
        lw_hook h;
        if (with_hook) {
            assert_int_equal(lw_hook_from_spec(m, spec, &h), 0);
            assert_true(lw_session_add_hook(s, &h) >= 0);
            lw_hook_from_spec_free(&h);
        }
        lw_span span = {.tokens = toks, .n = n};
        assert_int_equal(lw_generate(s, 0, &span, 1, &p.gen, want, 6), 6);
        assert_memory_equal(r.tokens, want, sizeof want[0] * 6);
        lw_session_free(s);
        free(toks);
        lw_generate_text_result_free(&r);
        assert_null(r.tokens);
    }
    /* refusals: one line each, out zeroed */
    lw_generate_text_params p = lw_generate_text_default_params();
    lw_generate_text_result r;
    p.gen.max_tokens = 100000;
    assert_int_equal(lw_generate_text(m, "the cat sat", &p, &r), -1);
    assert_non_null(strstr(lw_last_error(), "--max-tokens 100000: the prompt's"));
    assert_null(r.prompt);
    assert_null(r.tokens);
    p = lw_generate_text_default_params();
    assert_int_equal(lw_generate_text(m, "", &p, &r), -1);
    assert_non_null(strstr(lw_last_error(), "--prompt is empty"));
    snprintf(spec, sizeof spec, "%d:add:all:%s", mi.n_layer, vec); /* past the last block */
    p.hooks = hooks, p.n_hooks = 1;
    assert_int_equal(lw_generate_text(m, "the cat sat", &p, &r), -1);
    assert_non_null(strstr(lw_last_error(), "--hook \""));
    assert_null(r.prompt);
    p.n_hooks = -1;
    assert_int_equal(lw_generate_text(m, "the cat sat", &p, &r), -1);
    assert_int_equal(lw_generate_text(NULL, "x", &p, &r), -1);
    assert_non_null(strstr(lw_last_error(), "model is NULL"));
    assert_int_equal(lw_generate_text(m, "x", &p, NULL), -1);
    lw_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_vectors_text),
        cmocka_unit_test(test_vectors_safetensors),
        cmocka_unit_test(test_generate_refuses_duplicate_position),
        cmocka_unit_test(test_hook_from_spec),
        cmocka_unit_test(test_generate_text),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
