/* Checks shared by test_codec_text.c (toy models) and test_codec_lm_real.c (real models):
 * texts to code, and lm-arith's round trip, its payload against the model's cross-entropy
 * computed here from one batched forward pass, and its budget prefixes. Include after cmocka.h. */
#ifndef LW_TEST_CODEC_TEXT_CHECK_H
#define LW_TEST_CODEC_TEXT_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/text_lm_arith.h"
#include "common/rng.h"
#include "latentwire/codec.h"
#include "latentwire/runtime.h"
#include "support/testutil.h"

/* Up to max non-empty lines of a file under ../shared, trimmed of surrounding spaces (NULL: skip). */
static inline char **ctc_read_lines(const char *rel, int max, int *n) {
    *n = 0;
    const char *path = lw_test_shared_path(rel);
    if (!path) return NULL;
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char **lines = calloc((size_t)max, sizeof *lines);
    char buf[65536];
    while (*n < max && fgets(buf, sizeof buf, f)) {
        char *b = buf, *e = buf + strlen(buf);
        while (*b == ' ') b++;
        while (e > b && (e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\r')) e--;
        *e = '\0';
        if (*b) lines[(*n)++] = strdup(b);
    }
    fclose(f);
    return lines;
}

static inline void ctc_free_lines(char **lines, int n) {
    for (int i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

/* Lines joined by spaces (malloc'd). */
static inline char *ctc_join(char *const *lines, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(lines[i]) + 1;
    char *s = malloc(len), *p = s;
    for (int i = 0; i < n; i++) p += sprintf(p, "%s%s", i ? " " : "", lines[i]);
    *p = '\0';
    return s;
}

static inline size_t ctc_put_utf8(char *p, uint32_t cp) {
    if (cp < 0x80) {
        p[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        p[0] = (char)(0xC0 | (cp >> 6));
        p[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        p[0] = (char)(0xE0 | (cp >> 12));
        p[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        p[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    p[0] = (char)(0xF0 | (cp >> 18));
    p[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    p[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    p[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* n random characters: ASCII letters, spaces and punctuation, Latin-1/Extended, CJK and emoji
 * (1 to 4 bytes each; no NUL, no surrogates). ascii_only: printable ASCII only. */
static inline char *ctc_random_utf8(uint64_t seed, int n, bool ascii_only) {
    lw_rng r;
    lw_rng_seed(&r, seed);
    char *s = malloc((size_t)n * 4 + 1), *p = s;
    for (int i = 0; i < n; i++) {
        uint64_t kind = ascii_only ? 0 : lw_rng_below(&r, 8);
        uint32_t cp;
        if (kind <= 3) cp = lw_rng_below(&r, 5) == 0 ? ' ' : (uint32_t)(0x21 + lw_rng_below(&r, 0x7E - 0x21 + 1));
        else if (kind <= 5) cp = (uint32_t)(0xA1 + lw_rng_below(&r, 0x24F - 0xA1 + 1));
        else if (kind == 6) cp = (uint32_t)(0x4E00 + lw_rng_below(&r, 0x9FFF - 0x4E00 + 1));
        else cp = (uint32_t)(0x1F300 + lw_rng_below(&r, 0x1F5FF - 0x1F300 + 1));
        p += ctc_put_utf8(p, cp);
    }
    *p = '\0';
    return s;
}

/* The next character boundary after byte i of s (or its end). */
static inline size_t ctc_next_boundary(const char *s, size_t i) {
    size_t n = strlen(s);
    if (i >= n) return n;
    i++;
    while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
    return i;
}

/* ---------------------------------------------------------------- lm-arith */

/* What tokens[0..k) spell by the codec's documented rule: the pieces, less the SentencePiece
 * space prefix. */
static inline char *ctc_spell(const lw_model *m, const int32_t *tok, int k) {
    char *s = lw_detokenize(m, tok, k, false);
    assert_non_null(s);
    if (k > 0 && s[0] == ' ' && lw_tokenizer_adds_space(m)) memmove(s, s + 1, strlen(s));
    return s;
}

/* The model's cross-entropy of the text's tokens in bits, from ONE batched forward pass of
 * [BOS] + tokens (the coder runs one token per call: a different computation of the same
 * distribution) and lw_log_softmax; the first token uniform when the vocabulary has no BOS.
 * *table_bits: the same under the coder's documented integer table, q_i = (1 + floor(p_i 2^30))
 * / sum_j (1 + floor(p_j 2^30)): the floor of 1 makes a token far below 2^-30 cheaper than
 * -log2 p (random text is full of them), so the payload is bounded above by the model's
 * cross-entropy and tracks the table's. */
static inline double ctc_cross_entropy_bits(lw_session *s, const int32_t *tok, int n, double *table_bits) {
    const lw_model *m = lw_session_model(s);
    lw_model_info info;
    lw_model_get_info(m, &info);
    int ctx = info.bos >= 0 ? 1 : 0;
    int32_t *seq = malloc(sizeof *seq * (size_t)(n + 1));
    if (ctx) seq[0] = info.bos;
    memcpy(seq + ctx, tok, sizeof *tok * (size_t)n);
    lw_session_clear(s, 0);
    lw_span span = {seq, NULL, n + ctx};
    lw_seq_input in = {0, &span, 1, LW_LOGITS_ALL};
    assert_int_equal(lw_session_run(s, &in, 1), 0);
    float *lp = malloc(sizeof *lp * (size_t)info.n_vocab);
    double bits = ctx ? 0 : log2((double)info.n_vocab);
    *table_bits = bits;
    for (int i = ctx ? 0 : 1; i < n; i++) {
        int pos = i + ctx - 1; /* the position whose logits predict token i */
        const float *lg = lw_session_logits(s, 0, pos);
        assert_non_null(lg);
        lw_log_softmax(lg, info.n_vocab, lp);
        bits -= (double)lp[tok[i]] / log(2.0);
        double total = 0;
        for (int v = 0; v < info.n_vocab; v++) total += 1 + floor(exp((double)lp[v]) * 1073741824.0);
        *table_bits -= log2((1 + floor(exp((double)lp[tok[i]]) * 1073741824.0)) / total);
    }
    lw_session_clear(s, 0);
    free(lp);
    free(seq);
    return bits;
}

static inline size_t ctc_varint_len(uint64_t v) {
    size_t n = 1;
    while (v >>= 7) n++;
    return n;
}

/* decode(encode(text)) == text with an unbounded lm-arith codec, and the payload within a few
 * bits of the cross-entropy: payload - varint <= CE + 16 bits (flush and byte rounding) + 0.01
 * per token (the table's floors and rounding), and within 16 + 0.01 per token of the table's
 * code length (the batched and one-at-a-time logits differ by float rounding only). Returns
 * the payload's bits. */
static inline int64_t ctc_lm_roundtrip(const lw_codec *c, lw_session *s, const char *text) {
    lw_payload p;
    assert_int_equal(lw_codec_encode_text(c, text, &p), 0);
    char *back = NULL;
    if (lw_codec_decode_text(c, p.bytes, p.n, &back) != 0) fail_msg("decode: %s", lw_last_error());
    assert_string_equal(back, text);
    int32_t *tok = NULL;
    int n = lw_tokenize_alloc(lw_session_model(s), text, false, &tok);
    assert_true(n >= 0);
    if (n > 0) {
        double table = 0, ce = ctc_cross_entropy_bits(s, tok, n, &table);
        double body = (double)(p.n - ctc_varint_len((uint64_t)n)) * 8;
        fprintf(stderr, "  lm-arith: %d tokens, cross-entropy %.1f bits (table %.1f), payload %zu bytes (%.1f bits "
                        "after the %zu-byte count)\n",
                n, ce, table, p.n, body, ctc_varint_len((uint64_t)n));
        assert_true(body <= ce + 16 + 0.01 * n);
        assert_true(fabs(body - table) <= 16 + 0.01 * n);
        /* the codec's own record of the cross-entropy (one token per call) agrees with the batched
         * pass's up to the float differences of the two computations (quantized matmuls take other
         * kernels for one token than for a batch) */
        lw_payload q;
        double own = 0;
        assert_int_equal(lw_lm_arith_encode_tokens(c, tok, n, &q, &own), 0);
        assert_int_equal(q.n, p.n);
        assert_memory_equal(q.bytes, p.bytes, p.n);
        if (fabs(own - ce) > 0.05 * n + 1) fail_msg("the codec's cross-entropy %.2f bits, the batched pass's %.2f", own, ce);
        free(q.bytes);
    } else {
        assert_int_equal(p.n, 0);
    }
    int64_t bits = (int64_t)p.n * 8;
    free(tok);
    free(back);
    free(p.bytes);
    return bits;
}

/* At budget K: payload <= K, the decoded text is what its first m tokens spell, a prefix of
 * the text; and the payload of the next usable token prefix (one that spells a prefix ending
 * on a whole character) does not fit. */
static inline void ctc_lm_budget(const lw_codec *c, lw_session *s, const char *text, int64_t budget) {
    const lw_model *m = lw_session_model(s);
    lw_payload p;
    if (lw_codec_encode_text(c, text, &p) != 0) fail_msg("encode at %lld bits: %s", (long long)budget, lw_last_error());
    assert_true((int64_t)p.n * 8 <= budget);
    char *back = NULL;
    assert_int_equal(lw_codec_decode_text(c, p.bytes, p.n, &back), 0);
    size_t bl = strlen(back);
    assert_true(bl <= strlen(text));
    assert_memory_equal(back, text, bl);
    int32_t *tok = NULL;
    int n = lw_tokenize_alloc(m, text, false, &tok);
    /* the token count sent, read from the payload's varint */
    uint64_t sent = 0;
    for (size_t i = 0; i < p.n && i < 5; i++) {
        sent |= (uint64_t)(p.bytes[i] & 0x7F) << (7 * i);
        if (!(p.bytes[i] & 0x80)) break;
    }
    char *spelled = ctc_spell(m, tok, (int)sent);
    assert_string_equal(spelled, back);
    free(spelled);
    for (int k = (int)sent + 1; k <= n; k++) {
        char *sp = ctc_spell(m, tok, k);
        size_t sl = strlen(sp);
        bool usable = sl <= strlen(text) && memcmp(sp, text, sl) == 0 &&
                      (text[sl] == '\0' || ((unsigned char)text[sl] & 0xC0) != 0x80);
        free(sp);
        if (!usable) continue;
        lw_payload q;
        assert_int_equal(lw_lm_arith_encode_tokens(c, tok, k, &q, NULL), 0);
        assert_true((int64_t)q.n * 8 > budget);
        free(q.bytes);
        break;
    }
    free(tok);
    free(back);
    free(p.bytes);
}

#endif
