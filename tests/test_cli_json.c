/* For programs that read the CLI's output (Python users): the --json modes print one JSON
 * document on stdout and nothing else, with the documented keys and values computed here
 * independently; printed text is whole UTF-8 characters (a strict decoder accepts it). The
 * library's UTF-8 helpers on hand-made byte sequences, characters split across pieces. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/bridge.h"
#include "latentwire/runtime.h"
#include "latentwire/safetensors.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static char MODEL[1200];
static lw_synth_params P;

static int setup(void **state) {
    (void)state;
    P = lw_synth_default_params();
    P.n_layer = 3;
    snprintf(MODEL, sizeof MODEL, "%s", lw_test_tmpfile("json.gguf"));
    return lw_synth_write(MODEL, &P);
}

/* ------------------------------------------------------------------ UTF-8 helpers */

static void test_complete_prefix(void **state) {
    (void)state;
    /* 2-, 3- and 4-byte characters cut after each of their bytes */
    const struct {
        const char *s;
        size_t n, want;
    } cases[] = {
        {"a\xC3", 2, 1},         {"a\xC3\xA9", 3, 3},                   /* é = C3 A9 */
        {"\xE6", 1, 0},          {"\xE6\x97", 2, 0},     {"\xE6\x97\xA5", 3, 3}, /* 日 = E6 97 A5 */
        {"x\xF0", 2, 1},         {"x\xF0\x9F", 3, 1},    {"x\xF0\x9F\x98", 4, 1},
        {"x\xF0\x9F\x98\x80", 5, 5},                                    /* U+1F600 = F0 9F 98 80 */
        /* bytes that can never form a character are not waited for */
        {"\x80", 1, 1},          {"a\xBF", 2, 2},        {"\xC0\xAF", 2, 2}, /* overlong '/' */
        {"\xE0\x80", 2, 2},                              /* E0 needs A0..BF next: overlong */
        {"\xED\xA0", 2, 2},                              /* a surrogate's beginning */
        {"\xF4\x90", 2, 2},                              /* above U+10FFFF */
        {"\xF5", 1, 1},          {"\xFF", 1, 1},
        {"\xE6\x97" "A", 3, 3},                          /* cut off by a new character */
        {"", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (lw_utf8_complete_prefix(cases[i].s, cases[i].n) != cases[i].want)
            fail_msg("case %zu: complete prefix %zu, want %zu", i, lw_utf8_complete_prefix(cases[i].s, cases[i].n),
                     cases[i].want);
}

static void test_sanitize(void **state) {
    (void)state;
    char out[64];
    const char *ok = "h\xC3\xA9llo \xE6\x97\xA5\xF0\x9F\x98\x80";
    assert_int_equal(lw_utf8_sanitize(ok, strlen(ok), out), strlen(ok));
    assert_string_equal(out, ok);
    /* one U+FFFD (EF BF BD) per byte that starts no character */
    const struct {
        const char *s, *want;
    } cases[] = {
        {"a\x80" "b", "a\xEF\xBF\xBD" "b"},
        {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\xE6\x97" "A", "\xEF\xBF\xBD\xEF\xBF\xBD" "A"},
        {"x\xF0\x9F\x98", "x\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* cut off at the end */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = lw_utf8_sanitize(cases[i].s, strlen(cases[i].s), out);
        assert_int_equal(n, strlen(cases[i].want));
        assert_string_equal(out, cases[i].want);
    }
}

/* "h é l l o ␣ 日 😀" fed in three pieces cut at every pair of byte offsets: what is
 * emitted (the complete prefix of what is pending) ends on a character boundary every time
 * and joins to the original. Boundaries by hand: h|é(2)|l|l|o|␣|日(3)|😀(4). */
static void test_pieces(void **state) {
    (void)state;
    const char *s = "h\xC3\xA9llo \xE6\x97\xA5\xF0\x9F\x98\x80";
    const size_t n = strlen(s);
    bool boundary[32] = {false};
    const size_t b[] = {0, 1, 3, 4, 5, 6, 7, 10, 14};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) boundary[b[i]] = true;
    assert_int_equal(n, 14);
    for (size_t c1 = 0; c1 <= n; c1++)
        for (size_t c2 = c1; c2 <= n; c2++) {
            size_t cut[3] = {c1, c2, n}, from = 0, emitted = 0, pending_start = 0;
            for (int k = 0; k < 3; k++) {
                from = cut[k]; /* the pending bytes are s[pending_start .. from) */
                size_t whole = lw_utf8_complete_prefix(s + pending_start, from - pending_start);
                emitted = pending_start + whole;
                if (!boundary[emitted]) fail_msg("cuts %zu,%zu: emitted up to byte %zu, inside a character", c1, c2, emitted);
                pending_start = emitted;
            }
            assert_int_equal(emitted, n);
        }
}

/* ------------------------------------------------------------------ --json modes */

/* Runs the CLI, which must succeed with an empty stderr; stdout parsed strictly as JSON. */
static json_t *run_json(const char *args) {
    char *o, *e;
    int rc = lw_test_run_cli(args, &o, &e);
    if (rc != 0 || *e) fail_msg("`latentwire %s`: exit %d, stderr: %s", args, rc, e);
    json_error_t err;
    json_t *j = json_loads(o, JSON_REJECT_DUPLICATES, &err);
    if (!j) fail_msg("`latentwire %s`: stdout is not one JSON document (%s): %.200s", args, err.text, o);
    free(o);
    free(e);
    return j;
}

static json_int_t get_int(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v)) fail_msg("key \"%s\" is not an integer", key);
    return json_integer_value(v);
}

static void test_info_json(void **state) {
    (void)state;
    char args[2048];
    snprintf(args, sizeof args, "info %s --json", MODEL);
    json_t *j = run_json(args);
    assert_int_equal(get_int(j, "layers"), P.n_layer);
    assert_int_equal(get_int(j, "width"), P.n_embd);
    assert_int_equal(get_int(j, "heads"), P.n_head);
    assert_int_equal(get_int(j, "kv_heads"), P.n_head_kv);
    assert_int_equal(get_int(j, "vocabulary"), P.n_vocab);
    assert_int_equal(get_int(j, "context"), P.n_ctx);
    assert_int_equal(get_int(j, "parameters"), lw_synth_n_params(&P));
    assert_string_equal(json_string_value(json_object_get(j, "architecture")), "llama");
    assert_string_equal(json_string_value(json_object_get(j, "file")), MODEL);
    assert_true(json_is_true(json_object_get(j, "tied_embeddings")));
    assert_true(json_is_false(json_object_get(j, "recurrent")));
    assert_int_equal(strlen(json_string_value(json_object_get(j, "sha256"))), 64);
    const char *keys[] = {"name", "tokenizer", "bos", "eos", "adds_bos"};
    for (size_t i = 0; i < 5; i++) assert_non_null(json_object_get(j, keys[i]));
    json_decref(j);
}

/* ids as the library tokenizes; bytes as the library renders each token; the texts join to
 * the whole bytes (the synthetic vocabulary has the 256 byte tokens: é and 日 go byte by byte). */
static void test_tokenize_json(void **state) {
    (void)state;
    const char *text = "ab \xC3\xA9 \xE6\x97\xA5!";
    char args[2048];
    snprintf(args, sizeof args, "tokenize %s '%s' --json", MODEL, text);
    json_t *j = run_json(args);
    lw_model *m = lw_model_load(MODEL, lw_model_default_params());
    assert_non_null(m);
    int32_t *t;
    int n = lw_tokenize_alloc(m, text, true, &t);
    json_t *ids = json_object_get(j, "ids"), *toks = json_object_get(j, "tokens");
    assert_int_equal(json_array_size(ids), n);
    assert_int_equal(json_array_size(toks), n);
    char bytes[256] = "", texts[256] = "";
    size_t nb = 0;
    bool some_split = false;
    for (int i = 0; i < n; i++) {
        json_t *tok = json_array_get(toks, i);
        assert_int_equal(json_integer_value(json_array_get(ids, i)), t[i]);
        assert_int_equal(get_int(tok, "id"), t[i]);
        char *piece = lw_detokenize(m, &t[i], 1, true);
        json_t *b = json_object_get(tok, "bytes");
        assert_int_equal(json_array_size(b), strlen(piece));
        for (size_t k = 0; k < strlen(piece); k++) {
            assert_int_equal(json_integer_value(json_array_get(b, k)), (unsigned char)piece[k]);
            bytes[nb++] = piece[k];
        }
        const char *tt = json_string_value(json_object_get(tok, "text"));
        some_split |= strcmp(tt, piece) != 0;
        strcat(texts, tt);
        free(piece);
    }
    bytes[nb] = '\0';
    assert_true(some_split); /* the case under test: a character split across tokens */
    assert_string_equal(texts, bytes);
    assert_string_equal(json_string_value(json_object_get(j, "text")), bytes);
    free(t);
    lw_model_free(m);
    json_decref(j);
}

/* Row norms by hand: rows (3, 4, 0) and (0, 0, 0) have norms 5 and 0. */
static void test_inspect_json(void **state) {
    (void)state;
    const char *path = lw_test_tmpfile("inspect.safetensors");
    const float x[6] = {3, 4, 0, 0, 0, 0};
    const int64_t ids[2] = {7, 9};
    lw_st_tensor_in t[2] = {{.name = "acts", .dtype = LW_DT_F32, .n_dims = 2, .shape = {2, 3}, .data = x},
                            {.name = "row_id", .dtype = LW_DT_I64, .n_dims = 1, .shape = {2}, .data = ids}};
    const char *meta[2] = {"note", "h\xC3\xA9"};
    assert_int_equal(lw_st_save(path, t, 2, meta, 1), 0);
    char args[2048];
    snprintf(args, sizeof args, "inspect %s --json", path);
    json_t *j = run_json(args);
    assert_string_equal(json_string_value(json_object_get(j, "file")), path);
    json_t *ts = json_object_get(j, "tensors");
    assert_int_equal(json_array_size(ts), 2);
    json_t *a = NULL, *r = NULL;
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(ts, i);
        const char *name = json_string_value(json_object_get(e, "name"));
        if (!strcmp(name, "acts")) a = e;
        if (!strcmp(name, "row_id")) r = e;
    }
    assert_non_null(a);
    assert_non_null(r);
    assert_string_equal(json_string_value(json_object_get(a, "dtype")), "F32");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(a, "shape"), 1)), 3);
    json_t *rn = json_object_get(a, "row_norm");
    assert_true(json_real_value(json_object_get(rn, "mean")) == 2.5);
    assert_true(json_real_value(json_object_get(rn, "min")) == 0.0);
    assert_true(json_real_value(json_object_get(rn, "max")) == 5.0);
    assert_int_equal(get_int(a, "non_finite"), 0);
    assert_null(json_object_get(r, "row_norm"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"), "note")), "h\xC3\xA9");
    json_decref(j);
}

static void test_bridge_info_json(void **state) {
    (void)state;
    enum { N = 40, DA = 4, DB = 3 };
    float X[N * DA], Y[N * DB];
    uint64_t st = 5;
    lw_synth_fill_gaussian(X, N * DA, 0, 1, &st);
    lw_synth_fill_gaussian(Y, N * DB, 0, 1, &st);
    lw_bridge_params bp = lw_bridge_default_params();
    lw_bridge *b = lw_bridge_fit(X, Y, N, DA, DB, &bp);
    assert_non_null(b);
    const char *path = lw_test_tmpfile("info.bridge.safetensors");
    assert_int_equal(lw_bridge_save(b, path), 0);
    json_error_t err;
    json_t *want = json_loads(lw_bridge_info_json(b), 0, &err);
    lw_bridge_free(b);
    char args[2048];
    snprintf(args, sizeof args, "bridge info %s --json", path);
    json_t *j = run_json(args);
    assert_true(json_equal(j, want)); /* the fit record, nothing before or after it */
    assert_string_equal(json_string_value(json_object_get(j, "recipe")), "ridge");
    assert_int_equal(get_int(j, "source_dim"), DA);
    json_decref(want);
    json_decref(j);
}

/* ------------------------------------------------------------------ printed text */

/* A strict UTF-8 check that is not the library's: jansson refuses a string that is not. */
static bool strict_utf8(const char *s) {
    json_t *j = json_stringn(s, strlen(s));
    json_decref(j);
    return j != NULL;
}

/* Sampling at a high temperature from the synthetic model draws byte tokens at random:
 * lone continuation bytes and cut-off characters. The printed text is whole characters. */
static void test_sampled_generate_utf8(void **state) {
    (void)state;
    int raw_invalid = 0;
    lw_model *m = lw_model_load(MODEL, lw_model_default_params());
    assert_non_null(m);
    for (int seed = 1; seed <= 4; seed++) {
        char args[2048], *o, *e;
        snprintf(args, sizeof args, "generate --model %s --prompt hi --temp 3 --seed %d --max-tokens 60 --no-eos-stop",
                 MODEL, seed);
        int rc = lw_test_run_cli(args, &o, &e);
        if (rc != 0) fail_msg("`latentwire %s`: exit %d: %s", args, rc, e);
        if (!strict_utf8(o)) fail_msg("`latentwire %s` printed bytes that are not UTF-8: %s", args, o);
        free(o);
        free(e);
        /* the same tokens straight from the library: the case is really there */
        lw_session *s = lw_session_new(m, lw_session_default_params());
        int32_t *p, out[64];
        int n = lw_tokenize_special_alloc(m, "hi", true, &p);
        lw_gen_params gp = lw_gen_default_params();
        gp.temperature = 3;
        gp.seed = (uint32_t)seed;
        gp.max_tokens = 60;
        gp.stop_at_eos = false;
        lw_span span = {.tokens = p, .n = n};
        int k = lw_generate(s, 0, &span, 1, &gp, out, 60);
        assert_int_equal(k, 60);
        char *text = lw_detokenize(m, out, k, false);
        raw_invalid += !strict_utf8(text);
        free(text);
        free(p);
        lw_session_free(s);
    }
    lw_model_free(m);
    assert_true(raw_invalid > 0);
}

static void test_tokenize_text_utf8(void **state) {
    (void)state;
    char args[2048], *o, *e;
    snprintf(args, sizeof args, "tokenize %s 'x \xE6\x97\xA5 \xF0\x9F\x98\x80'", MODEL);
    int rc = lw_test_run_cli(args, &o, &e);
    if (rc != 0) fail_msg("`latentwire %s`: exit %d: %s", args, rc, e);
    if (!strict_utf8(o)) fail_msg("`latentwire %s` printed bytes that are not UTF-8: %s", args, o);
    assert_non_null(strstr(o, "\xE6\x97\xA5")); /* the character, at the token that completes it */
    assert_non_null(strstr(o, "[bytes e6]"));
    free(o);
    free(e);
}

/* A special token written in the text is parsed, as the verbs that read prompts parse it
 * (lw_tokenize_special_alloc); --no-special reads it as plain text (lw_tokenize_alloc). */
static void test_tokenize_special(void **state) {
    (void)state;
    const char *text = "a</s>b";
    lw_model *m = lw_model_load(MODEL, lw_model_default_params());
    assert_non_null(m);
    lw_model_info in;
    lw_model_get_info(m, &in);
    for (int plain = 0; plain < 2; plain++) {
        char args[2048];
        snprintf(args, sizeof args, "tokenize %s '%s' --json%s", MODEL, text, plain ? " --no-special" : "");
        json_t *j = run_json(args), *ids = json_object_get(j, "ids");
        int32_t *t;
        int n = plain ? lw_tokenize_alloc(m, text, true, &t) : lw_tokenize_special_alloc(m, text, true, &t);
        assert_int_equal(json_array_size(ids), n);
        bool eos = false;
        for (int i = 0; i < n; i++) {
            assert_int_equal(json_integer_value(json_array_get(ids, i)), t[i]);
            eos |= t[i] == in.eos;
        }
        assert_true(eos == !plain); /* parsed: the EOS id; plain: its characters */
        free(t);
        json_decref(j);
    }
    lw_model_free(m);
}

/* Names and metadata read from a file reach the terminal with their control bytes as \xNN:
 * a tensor called ESC[2J must not clear the screen (inspect printed it raw). */
static void test_inspect_control_bytes(void **state) {
    (void)state;
    const char *path = lw_test_tmpfile("esc.safetensors");
    lw_st_writer *w = lw_st_writer_new(path);
    assert_non_null(w);
    const int64_t shape[2] = {1, 2};
    const float v[2] = {3, 4};
    assert_int_equal(lw_st_writer_set_meta(w, "k\x1b]0;title\x07", "v\x1b[2J"), 0);
    assert_int_equal(lw_st_writer_add(w, "x\x1b[2Jy", LW_DT_F32, 2, shape), 0);
    assert_int_equal(lw_st_writer_write(w, v, sizeof v), 0);
    assert_int_equal(lw_st_writer_finish(w), 0);
    lw_st_writer_free(w);
    char args[2048], *o, *e;
    snprintf(args, sizeof args, "inspect %s", path);
    assert_int_equal(lw_test_run_cli(args, &o, &e), 0);
    assert_null(strchr(o, 0x1b));
    assert_null(strchr(o, 0x07));
    assert_non_null(strstr(o, "x\\x1b[2Jy"));
    assert_non_null(strstr(o, "meta k\\x1b]0;title\\x07 = v\\x1b[2J"));
    free(o);
    free(e);
    /* an error naming the tensor shows it the same way */
    snprintf(args, sizeof args, "bridge fit --source %s --source-tensor nope\x1b[2J --target %s --target-tensor x --out %s",
             path, path, lw_test_tmpfile("esc_bridge.safetensors"));
    assert_int_not_equal(lw_test_run_cli(args, &o, &e), 0);
    assert_null(strchr(e, 0x1b));
    assert_non_null(strstr(e, "nope\\x1b[2J")); /* named, escaped */
    free(o);
    free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complete_prefix), cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_pieces),          cmocka_unit_test(test_info_json),
        cmocka_unit_test(test_tokenize_json),   cmocka_unit_test(test_inspect_json),
        cmocka_unit_test(test_bridge_info_json), cmocka_unit_test(test_sampled_generate_utf8),
        cmocka_unit_test(test_tokenize_text_utf8), cmocka_unit_test(test_tokenize_special),
        cmocka_unit_test(test_inspect_control_bytes),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, NULL));
}
