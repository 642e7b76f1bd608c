/* The text codecs (latentwire/codec.h): exact round trips without a budget, the longest
 * fitting prefix at every budget (checked on the serialized bytes against the next longer
 * prefix), standard streams a stock decoder reads, side information, dictionaries trained on
 * the calibration texts only, lm-arith and the summary on the toy models, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <brotli/decode.h>
#include <jansson.h>
#include <sys/stat.h>
#include <zlib.h>

#include "codec/text_range.h" /* the flush, checked in a state no round trip reaches */
#include "codec_text_check.h"

static const lw_codec_kind LOSSLESS[] = {LW_CODEC_ZLIB, LW_CODEC_BROTLI, LW_CODEC_ZSTD, LW_CODEC_ZSTD_DICT,
                                         LW_CODEC_TRUNCATE};
#define N_LOSSLESS (int)(sizeof LOSSLESS / sizeof LOSSLESS[0])

/* Calibration texts for the dictionaries: PTB's validation split (never its test split, which
 * the round trips use). */
static char **calib;
static int n_calib;
static char **ptb;
static int n_ptb;

static int setup(void **state) {
    (void)state;
    calib = ctc_read_lines("data/ptb/ptb.valid.txt", 3000, &n_calib);
    ptb = ctc_read_lines("data/ptb/ptb.test.txt", 400, &n_ptb);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    ctc_free_lines(calib, n_calib);
    ctc_free_lines(ptb, n_ptb);
    return 0;
}

static lw_codec *fit_kind(lw_codec_kind kind, int64_t budget, char *const *texts, int n) {
    lw_codec_params p = lw_codec_default_params(kind);
    p.budget_bits = budget;
    lw_codec *c = lw_codec_fit_text(&p, (const char *const *)texts, n);
    if (!c) fail_msg("fit %s at %lld bits: %s", lw_codec_name(kind), (long long)budget, lw_last_error());
    return c;
}

static const char *fit_fact(const lw_codec *c, const char *key) {
    static char buf[256];
    json_t *r = json_loads(lw_codec_record_json(c), 0, NULL);
    json_t *v = json_object_get(json_object_get(r, "fit"), key);
    if (json_is_string(v)) snprintf(buf, sizeof buf, "%s", json_string_value(v));
    else if (json_is_integer(v)) snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    else buf[0] = '\0';
    json_decref(r);
    return buf;
}

static void roundtrip(const lw_codec *c, const char *text) {
    lw_payload p;
    if (lw_codec_encode_text(c, text, &p) != 0) fail_msg("%s encode: %s", lw_codec_name(lw_codec_kind_of(c)), lw_last_error());
    char *back = NULL;
    if (lw_codec_decode_text(c, p.bytes, p.n, &back) != 0)
        fail_msg("%s decode: %s", lw_codec_name(lw_codec_kind_of(c)), lw_last_error());
    assert_string_equal(back, text);
    if (text[0] == '\0') assert_int_equal(p.n, 0); /* the empty text is the empty payload */
    free(back);
    free(p.bytes);
}

static void test_lossless_roundtrip(void **state) {
    (void)state;
    if (!ptb || !calib) skip(); /* ../shared absent: reported, not passed */
    char *texts[16];
    int nt = 0;
    texts[nt++] = strdup("");
    texts[nt++] = strdup("a");
    texts[nt++] = strdup("日");
    for (int i = 0; i < 4; i++) texts[nt++] = ctc_random_utf8(100 + (uint64_t)i, 1 + i * 700, false);
    texts[nt++] = ctc_join(ptb, n_ptb);                       /* ~50 KB of real text */
    char *rep = malloc(300001);
    for (int i = 0; i < 300000; i++) rep[i] = "abcab"[i % 5]; /* highly compressible, long */
    rep[300000] = '\0';
    texts[nt++] = rep;
    for (int k = 0; k < N_LOSSLESS; k++) {
        lw_codec *c = fit_kind(LOSSLESS[k], 0, calib, n_calib);
        for (int i = 0; i < nt; i++) roundtrip(c, texts[i]);
        for (int i = 0; i < 40; i++) roundtrip(c, ptb[i]);
        lw_codec_free(c);
    }
    for (int i = 0; i < nt; i++) free(texts[i]);
}

/* At every budget: payload <= K bytes x 8; the decoded text is a prefix of the input cut at a
 * character boundary; the encoding of the prefix one character longer does not fit (by an
 * unbounded codec of the same fit); the payload is that codec's encoding of the prefix. */
static void check_budget(lw_codec_kind kind, const char *text) {
    lw_codec *free_c = fit_kind(kind, 0, calib, n_calib);
    for (int64_t k = 16; k <= 8192; k *= 2) {
        lw_codec *c = fit_kind(kind, k, calib, n_calib);
        if (kind == LW_CODEC_ZSTD_DICT) /* the same calibration texts train the same dictionary */
            assert_string_equal(fit_fact(c, "dictionary_sha256"), fit_fact(free_c, "dictionary_sha256"));
        lw_payload p;
        if (lw_codec_encode_text(c, text, &p) != 0) fail_msg("%s at %lld: %s", lw_codec_name(kind), (long long)k, lw_last_error());
        assert_true((int64_t)p.n * 8 <= k);
        char *back = NULL;
        assert_int_equal(lw_codec_decode_text(c, p.bytes, p.n, &back), 0);
        size_t bl = strlen(back), tl = strlen(text);
        assert_true(bl <= tl);
        assert_memory_equal(back, text, bl);
        assert_true(bl == tl || ((unsigned char)text[bl] & 0xC0) != 0x80); /* whole characters */
        lw_payload q;
        assert_int_equal(lw_codec_encode_text(free_c, back, &q), 0);
        assert_int_equal(q.n, p.n);
        if (p.n) assert_memory_equal(q.bytes, p.bytes, p.n);
        free(q.bytes);
        if (bl < tl) {
            size_t next = ctc_next_boundary(text, bl);
            char *longer = strndup(text, next);
            assert_int_equal(lw_codec_encode_text(free_c, longer, &q), 0);
            assert_true((int64_t)q.n * 8 > k);
            free(q.bytes);
            free(longer);
        }
        if (kind == LW_CODEC_TRUNCATE) { /* closed form: the last boundary at or below K / 8 bytes */
            size_t want = (size_t)(k / 8) < tl ? (size_t)(k / 8) : tl;
            while (want > 0 && want < tl && ((unsigned char)text[want] & 0xC0) == 0x80) want--;
            assert_int_equal(bl, want);
        }
        free(back);
        free(p.bytes);
        lw_codec_free(c);
    }
    lw_codec_free(free_c);
}

static void test_budget_longest_prefix(void **state) {
    (void)state;
    if (!ptb || !calib) skip(); /* ../shared absent: reported, not passed */
    char *para = ctc_join(ptb, 60);
    char *rnd = ctc_random_utf8(7, 900, false);
    for (int k = 0; k < N_LOSSLESS; k++) {
        check_budget(LOSSLESS[k], para);
        check_budget(LOSSLESS[k], rnd);
        check_budget(LOSSLESS[k], "");
    }
    free(para);
    free(rnd);
}

/* zlib's and brotli's payloads are standard streams: zlib's raw inflate and brotli's one-shot
 * decoder, called here directly, return the text. */
static void test_standard_streams(void **state) {
    (void)state;
    if (!ptb) skip();
    char *text = ctc_join(ptb, 20);
    size_t tl = strlen(text);
    char *out = malloc(tl + 16);
    lw_payload p;
    lw_codec *z = fit_kind(LW_CODEC_ZLIB, 0, NULL, 0);
    assert_int_equal(lw_codec_encode_text(z, text, &p), 0);
    z_stream s;
    memset(&s, 0, sizeof s);
    assert_int_equal(inflateInit2(&s, -15), Z_OK);
    s.next_in = p.bytes;
    s.avail_in = (uInt)p.n;
    s.next_out = (Bytef *)out;
    s.avail_out = (uInt)(tl + 16);
    assert_int_equal(inflate(&s, Z_FINISH), Z_STREAM_END);
    assert_int_equal(s.total_out, tl);
    assert_memory_equal(out, text, tl);
    inflateEnd(&s);
    free(p.bytes);
    lw_codec_free(z);
    lw_codec *b = fit_kind(LW_CODEC_BROTLI, 0, NULL, 0);
    assert_int_equal(lw_codec_encode_text(b, text, &p), 0);
    size_t got = tl + 16;
    assert_int_equal(BrotliDecoderDecompress(p.n, p.bytes, &got, (uint8_t *)out), BROTLI_DECODER_RESULT_SUCCESS);
    assert_int_equal(got, tl);
    assert_memory_equal(out, text, tl);
    free(p.bytes);
    lw_codec_free(b);
    free(out);
    free(text);
}

static void test_side_bits(void **state) {
    (void)state;
    if (!calib) skip();
    lw_codec *c = fit_kind(LW_CODEC_BROTLI, 0, NULL, 0);
    assert_int_equal(lw_codec_side_bits(c), 122784 * 8); /* RFC 7932's built-in dictionary */
    lw_codec_free(c);
    const lw_codec_kind none[] = {LW_CODEC_ZLIB, LW_CODEC_ZSTD, LW_CODEC_TRUNCATE};
    for (int i = 0; i < 3; i++) {
        c = fit_kind(none[i], 0, NULL, 0);
        assert_int_equal(lw_codec_side_bits(c), 0);
        assert_true(lw_codec_kind_competes(none[i]));
        lw_codec_free(c);
    }
    c = fit_kind(LW_CODEC_ZSTD_DICT, 0, calib, n_calib);
    int64_t dict_bytes = atoll(fit_fact(c, "dictionary_bytes"));
    assert_true(dict_bytes > 0 && dict_bytes <= 4096);
    assert_int_equal(lw_codec_side_bits(c), dict_bytes * 8);
    lw_codec_free(c);
}

/* The dictionary comes from the calibration texts and nothing else: the same texts give the
 * same dictionary, other texts another; it survives save/load; it shortens payloads of held-out
 * text of the same kind. */
static void test_dictionary_from_calibration(void **state) {
    (void)state;
    if (!calib || !ptb) skip();
    /* two disjoint halves of 1500 are compared: a shorter file would have passed unchecked */
    if (n_calib < 3000) fail_msg("data/ptb/ptb.valid.txt: %d non-empty lines, 3000 needed", n_calib);
    lw_codec *a = fit_kind(LW_CODEC_ZSTD_DICT, 0, calib, 1500);
    lw_codec *a2 = fit_kind(LW_CODEC_ZSTD_DICT, 0, calib, 1500);
    lw_codec *b = fit_kind(LW_CODEC_ZSTD_DICT, 0, calib + 1500, 1500);
    char sha_a[80], sha_b[80];
    snprintf(sha_a, sizeof sha_a, "%s", fit_fact(a, "dictionary_sha256"));
    snprintf(sha_b, sizeof sha_b, "%s", fit_fact(b, "dictionary_sha256"));
    assert_int_equal(strlen(sha_a), 64);
    assert_string_equal(fit_fact(a2, "dictionary_sha256"), sha_a);
    assert_string_not_equal(sha_a, sha_b);
    assert_string_equal(fit_fact(a, "calibration_texts_used"), "1500");
    const char *path = lw_test_tmpfile("zstd-dict.codec.safetensors");
    assert_int_equal(lw_codec_save(a, path), 0);
    lw_codec *l = lw_codec_load(path, NULL);
    if (!l) fail_msg("load: %s", lw_last_error());
    assert_int_equal(lw_codec_side_bits(l), lw_codec_side_bits(a));
    assert_string_equal(fit_fact(l, "dictionary_sha256"), sha_a);
    lw_codec *plain = fit_kind(LW_CODEC_ZSTD, 0, NULL, 0);
    size_t with = 0, without = 0;
    int other_dict_fails = 0;
    for (int i = 0; i < 50; i++) {
        lw_payload p, q;
        assert_int_equal(lw_codec_encode_text(a, ptb[i], &p), 0);
        char *back = NULL;
        assert_int_equal(lw_codec_decode_text(l, p.bytes, p.n, &back), 0); /* the loaded codec decodes */
        assert_string_equal(back, ptb[i]);
        free(back);
        /* b's dictionary is another: a payload that uses a's does not decode to its text under b's */
        if (lw_codec_decode_text(b, p.bytes, p.n, &back) != 0 || strcmp(back, ptb[i]) != 0) other_dict_fails++;
        free(back);
        assert_int_equal(lw_codec_encode_text(plain, ptb[i], &q), 0);
        with += p.n;
        without += q.n;
        free(p.bytes);
        free(q.bytes);
    }
    fprintf(stderr, "  50 PTB test sentences: zstd %zu bytes, zstd-dict %zu bytes\n", without, with);
    assert_true(with < without);
    assert_true(other_dict_fails > 0);
    lw_codec_free(a);
    lw_codec_free(a2);
    lw_codec_free(b);
    lw_codec_free(l);
    lw_codec_free(plain);
}

static void expect_error(bool failed, const char *needle) {
    assert_true(failed);
    if (!strstr(lw_last_error(), needle)) fail_msg("error '%s' does not name '%s'", lw_last_error(), needle);
}

static void test_bad_input(void **state) {
    (void)state;
    expect_error(lw_codec_from_name("gzip") < 0, "unknown codec 'gzip'");
    lw_codec_params p = lw_codec_default_params(LW_CODEC_ZLIB);
    p.budget_bits = -8;
    expect_error(lw_codec_fit_text(&p, NULL, 0) == NULL, "budget -8 bits");
    p = lw_codec_default_params(LW_CODEC_BROTLI_DICT);
    expect_error(lw_codec_fit_text(&p, (const char *const *)calib, n_calib) == NULL, "brotli >= 1.1.0");
    p = lw_codec_default_params(LW_CODEC_ZSTD_DICT);
    expect_error(lw_codec_fit_text(&p, NULL, 0) == NULL, "no calibration texts");
    const char *tiny[] = {"a", "b"};
    expect_error(lw_codec_fit_text(&p, tiny, 2) == NULL, "give more calibration text");
    p = lw_codec_default_params(LW_CODEC_LM_ARITH);
    expect_error(lw_codec_fit_text(&p, NULL, 0) == NULL, "needs a model");
    p = lw_codec_default_params(LW_CODEC_ZLIB);
    p.level = 12;
    expect_error(lw_codec_fit_text(&p, NULL, 0) == NULL, "level 12");
    /* payloads that are not the codec's: one error, no crash */
    const uint8_t junk[] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0xff, 0xff, 0x00, 0x7f};
    const lw_codec_kind kinds[] = {LW_CODEC_ZLIB, LW_CODEC_BROTLI, LW_CODEC_ZSTD};
    for (int i = 0; i < 3; i++) {
        lw_codec *c = fit_kind(kinds[i], 0, NULL, 0);
        char *t = NULL;
        expect_error(lw_codec_decode_text(c, junk, sizeof junk, &t) != 0, lw_codec_name(kinds[i]));
        assert_null(t);
        lw_payload ok;
        assert_int_equal(lw_codec_encode_text(c, "hello hello hello", &ok), 0);
        expect_error(lw_codec_decode_text(c, ok.bytes, ok.n - 1, &t) != 0, "not"); /* cut short */
        uint8_t *longer = malloc(ok.n + 1);
        memcpy(longer, ok.bytes, ok.n);
        longer[ok.n] = 'x';
        expect_error(lw_codec_decode_text(c, longer, ok.n + 1, &t) != 0, "follow the end");
        free(longer);
        free(ok.bytes);
        lw_codec_free(c);
    }
    lw_codec *c = fit_kind(LW_CODEC_TRUNCATE, 16, NULL, 0);
    char *t = NULL;
    expect_error(lw_codec_decode_text(c, junk, 3, &t) != 0, "over the budget");
    expect_error(lw_codec_decode_text(c, (const uint8_t *)"a\0", 2, &t) != 0, "NUL");
    lw_codec_free(c);
}

/* ---------------------------------------------------------------- toy models */

static lw_session *toy_session(const char *rel, lw_model **m) {
    const char *path = lw_test_shared_path(rel);
    if (!path) return NULL;
    *m = lw_model_load(path, lw_model_default_params());
    assert_non_null(*m);
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = 1;
    lw_session *s = lw_session_new(*m, sp);
    assert_non_null(s);
    return s;
}

static lw_codec *fit_lm(lw_codec_kind kind, int64_t budget, lw_session *s) {
    lw_codec_params p = lw_codec_default_params(kind);
    p.budget_bits = budget;
    p.lm = s;
    lw_codec *c = lw_codec_fit_text(&p, NULL, 0);
    if (!c) fail_msg("fit %s: %s", lw_codec_name(kind), lw_last_error());
    return c;
}

/* Round trip of a text the model can code; a text it cannot is refused with one of the two
 * documented errors (no token for a character; tokens that spell another text). */
static int lm_try(const lw_codec *c, lw_session *s, const char *text) {
    lw_payload p;
    if (lw_codec_encode_text(c, text, &p) != 0) {
        const char *e = lw_last_error();
        if (!strstr(e, "does not survive the model's tokenizer") && !strstr(e, "cannot tokenize the text"))
            fail_msg("unexpected refusal: %s", e);
        return 0;
    }
    free(p.bytes);
    ctc_lm_roundtrip(c, s, text);
    return 1;
}

static void test_lm_arith_toy(void **state) {
    (void)state;
    const char *models[] = {"models/stories260K.gguf", "models/tinystories656K.gguf"};
    for (int mi = 0; mi < 2; mi++) {
        lw_model *m = NULL;
        lw_session *s = toy_session(models[mi], &m);
        if (!s || !ptb) {
            lw_session_free(s);
            lw_model_free(m);
            skip();
        }
        lw_codec *c = fit_lm(LW_CODEC_LM_ARITH, 0, s);
        struct stat st;
        lw_model_info info;
        lw_model_get_info(m, &info);
        assert_int_equal(stat(info.path, &st), 0);
        assert_int_equal(lw_codec_side_bits(c), (int64_t)st.st_size * 8); /* the model file */
        assert_string_equal(fit_fact(c, "model_sha256"), lw_model_sha256(m));
        ctc_lm_roundtrip(c, s, "");
        ctc_lm_roundtrip(c, s, "Once upon a time, there was a little girl named Lily. She loved to play outside.");
        int coded = 0, coded_random = 0;
        for (int i = 0; i < 12; i++) coded += lm_try(c, s, ptb[i]);
        assert_true(coded >= 6);
        for (uint64_t seed = 1; seed <= 3; seed++) { /* random text: ASCII, and UTF-8 where the vocabulary spells it */
            char *r = ctc_random_utf8(seed, 60, true);
            coded_random += lm_try(c, s, r);
            free(r);
            r = ctc_random_utf8(seed, 40, false);
            coded_random += lm_try(c, s, r);
            free(r);
        }
        if (mi == 0) assert_int_equal(coded_random, 6); /* stories260K falls back to bytes: it spells anything */
        char *para = ctc_join(ptb + 20, 3);
        int budgets = 0;
        for (int64_t k = 16; k <= 8192; k *= 2) {
            lw_codec *b = fit_lm(LW_CODEC_LM_ARITH, k, s);
            lw_payload p;
            if (lw_codec_encode_text(b, para, &p) != 0) { /* a paragraph the vocabulary cannot spell */
                lw_codec_free(b);
                break;
            }
            free(p.bytes);
            ctc_lm_budget(b, s, para, k);
            budgets++;
            lw_codec_free(b);
        }
        if (mi == 0) assert_int_equal(budgets, 10);
        free(para);
        lw_codec_free(c);
        lw_session_free(s);
        lw_model_free(m);
    }
}

/* A codec file fitted with one model, loaded with another: one error naming both hashes. */
static void test_lm_arith_other_model(void **state) {
    (void)state;
    lw_model *m1 = NULL, *m2 = NULL;
    lw_session *s1 = toy_session("models/stories260K.gguf", &m1);
    lw_session *s2 = s1 ? toy_session("models/tinystories656K.gguf", &m2) : NULL;
    if (!s1 || !s2) {
        lw_session_free(s1);
        lw_model_free(m1);
        skip();
    }
    lw_codec *c = fit_lm(LW_CODEC_LM_ARITH, 256, s1);
    const char *path = lw_test_tmpfile("lm.codec.safetensors");
    assert_int_equal(lw_codec_save(c, path), 0);
    expect_error(lw_codec_load(path, s2) == NULL, lw_model_sha256(m1));
    assert_non_null(strstr(lw_last_error(), lw_model_sha256(m2)));
    expect_error(lw_codec_load(path, NULL) == NULL, "needs the model it was fitted with");
    lw_codec *l = lw_codec_load(path, s1);
    if (!l) fail_msg("load: %s", lw_last_error());
    assert_int_equal(lw_codec_budget_bits(l), 256);
    assert_int_equal(lw_codec_side_bits(l), lw_codec_side_bits(c));
    const char *text = "The cat sat on the mat. The dog ran to the park.";
    lw_payload p, q;
    assert_int_equal(lw_codec_encode_text(c, text, &p), 0);
    assert_int_equal(lw_codec_encode_text(l, text, &q), 0);
    assert_int_equal(p.n, q.n);
    assert_memory_equal(p.bytes, q.bytes, p.n);
    free(p.bytes);
    free(q.bytes);
    /* payloads that are not the codec's: a text or one error, never a crash; a count past the
     * context is refused before any model call */
    lw_rng r;
    lw_rng_seed(&r, 5);
    for (int i = 0; i < 10; i++) {
        uint8_t junk[24];
        for (size_t k = 0; k < sizeof junk; k++) junk[k] = (uint8_t)lw_rng_below(&r, 256);
        junk[0] = (uint8_t)(1 + lw_rng_below(&r, 60)); /* a small token count */
        char *t = NULL;
        if (lw_codec_decode_text(l, junk, 1 + (size_t)i * 2, &t) == 0) assert_non_null(t);
        free(t);
    }
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0x7f, 0x00};
    char *t = NULL;
    expect_error(lw_codec_decode_text(c, huge, sizeof huge, &t) != 0, "more than the session's context holds");
    lw_codec_free(c);
    lw_codec_free(l);
    lw_session_free(s1);
    lw_session_free(s2);
    lw_model_free(m1);
    lw_model_free(m2);
}

/* The summary is the model's greedy continuation of the documented prompt, computed here with
 * lw_generate; decode returns it (deflated), at a budget its longest fitting prefix. */
static void test_summary_toy(void **state) {
    (void)state;
    lw_model *m = NULL;
    lw_session *s = toy_session("models/stories260K.gguf", &m);
    if (!s) skip();
    assert_false(lw_codec_kind_competes(LW_CODEC_SUMMARY));
    const char *text = "Tom had a red ball. He threw it to his dog. The dog ran and got the ball.";
    char content[512];
    snprintf(content, sizeof content, "Summarize the following text in one short sentence.\n\n%s", text);
    const char *role = "user", *msg = content;
    char *prompt = lw_chat_format(m, &role, &msg, 1, true);
    if (!prompt) {
        prompt = malloc(600);
        snprintf(prompt, 600, "%s\n\nSummary:", content);
    }
    lw_model_info info;
    lw_model_get_info(m, &info);
    int32_t *tok = NULL, gen[12];
    int n = lw_tokenize_special_alloc(m, prompt, info.add_bos, &tok);
    lw_gen_params gp = lw_gen_default_params();
    gp.max_tokens = 12;
    lw_span span = {tok, NULL, n};
    lw_session_clear(s, 0);
    int k = lw_generate(s, 0, &span, 1, &gp, gen, 12);
    assert_true(k >= 0);
    char *want = lw_detokenize(m, gen, k, false);
    size_t b = strspn(want, " \t\n\r"), e = strlen(want);
    while (e > b && strchr(" \t\n\r", want[e - 1])) e--;
    want[e] = '\0';
    memmove(want, want + b, e - b + 1);

    lw_codec_params p = lw_codec_default_params(LW_CODEC_SUMMARY);
    p.lm = s;
    p.summary_tokens = 12;
    lw_codec *c = lw_codec_fit_text(&p, NULL, 0);
    assert_non_null(c);
    assert_int_equal(lw_codec_side_bits(c), 0);
    lw_payload pl;
    assert_int_equal(lw_codec_encode_text(c, text, &pl), 0);
    char *got = NULL;
    assert_int_equal(lw_codec_decode_text(c, pl.bytes, pl.n, &got), 0);
    fprintf(stderr, "  summary: '%s' (%zu bytes)\n", got, pl.n);
    assert_string_equal(got, want);
    free(got);
    free(pl.bytes);
    lw_codec_free(c);
    p.budget_bits = 32;
    c = lw_codec_fit_text(&p, NULL, 0);
    assert_int_equal(lw_codec_encode_text(c, text, &pl), 0);
    assert_true(pl.n * 8 <= 32);
    assert_int_equal(lw_codec_decode_text(c, pl.bytes, pl.n, &got), 0);
    assert_memory_equal(got, want, strlen(got));
    free(got);
    free(pl.bytes);
    lw_codec_free(c);
    free(want);
    free(prompt);
    free(tok);
    lw_session_free(s);
    lw_model_free(m);
}

/* The range coder's flush picks the value in [low, low + range) with the most trailing zero bits.
 * In the state low = 3 x 2^48 + 1, range = 2^48 - 1, low + range = 2^50 is a multiple of every step
 * down to 2^48 yet one past the interval: the value must be 7 x 2^47, the first multiple inside
 * (a mutant that allowed low + range itself sent 2^50, a value of the next interval, and no
 * round trip reached this state). The 56-bit value comes back from its bytes, most significant
 * first, the dropped trailing zeros read as zeros. */
static void test_range_flush_stays_inside(void **state) {
    (void)state;
    lw_rc_enc e;
    lw_rc_enc_init(&e);
    e.low = 3 * (UINT64_C(1) << 48) + 1, e.range = (UINT64_C(1) << 48) - 1;
    const uint64_t low = e.low, end = e.low + e.range;
    uint8_t *bytes = NULL;
    size_t n = 0;
    assert_int_equal(lw_rc_enc_finish(&e, &bytes, &n), 0);
    assert_true(n <= 7);
    uint64_t v = 0;
    for (size_t i = 0; i < 7; i++) v = v << 8 | (i < n ? bytes[i] : 0);
    if (!(v >= low && v < end)) fail_msg("flushed %#llx, outside [%#llx, %#llx)", (unsigned long long)v,
                                         (unsigned long long)low, (unsigned long long)end);
    assert_true(v == 7 * (UINT64_C(1) << 47));
    free(bytes);
    lw_rc_enc_free(&e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_flush_stays_inside),
        cmocka_unit_test(test_lossless_roundtrip),
        cmocka_unit_test(test_budget_longest_prefix),
        cmocka_unit_test(test_standard_streams),
        cmocka_unit_test(test_side_bits),
        cmocka_unit_test(test_dictionary_from_calibration),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_lm_arith_toy),
        cmocka_unit_test(test_lm_arith_other_model),
        cmocka_unit_test(test_summary_toy),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
