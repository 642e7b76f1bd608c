/* "brotli": the text as a brotli stream (quality 11 unless level says otherwise, window 22
 * bits, text mode). Brotli's encoder and decoder share a built-in static dictionary of
 * 122,784 bytes (RFC 7932, Appendix A): the receiver must hold it, so it is side information
 * (982,272 bits) like any trained dictionary. */
#include <brotli/decode.h>
#include <brotli/encode.h>
#include <stdlib.h>

#include "codec/text_common.h"

#define BROTLI_BUILTIN_DICTIONARY_BYTES 122784

static int quality(const lw_codec *c) { return c->p.level < 0 ? BROTLI_MAX_QUALITY : c->p.level; }

static int check_level(const lw_codec *c) {
    if (c->p.level < -1 || c->p.level > BROTLI_MAX_QUALITY)
        return lw_fail("codec brotli: level %d: must be -1 (quality 11) or 0..11", c->p.level);
    return 0;
}

static int brotli_fit(lw_codec *c, const char *const *texts, int n) {
    (void)texts;
    (void)n;
    if (check_level(c) != 0) return -1;
    c->side_bits = (int64_t)BROTLI_BUILTIN_DICTIONARY_BYTES * 8;
    json_t *fit = lw_text_fit_record(c);
    json_object_set_new(fit, "quality", json_integer(quality(c)));
    json_object_set_new(fit, "window_bits", json_integer(BROTLI_DEFAULT_WINDOW));
    json_object_set_new(fit, "side", json_pack("{s:I}", "builtin_dictionary_bytes",
                                               (json_int_t)BROTLI_BUILTIN_DICTIONARY_BYTES));
    return 0;
}

static int brotli_bytes(const lw_codec *c, const char *text, size_t n, lw_payload *out) {
    size_t cap = BrotliEncoderMaxCompressedSize(n);
    if (cap == 0) cap = n + 1024;
    uint8_t *buf = malloc(cap);
    if (!buf) return lw_fail("codec brotli: out of memory");
    size_t got = cap;
    if (!BrotliEncoderCompress(quality(c), BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, n, (const uint8_t *)text, &got,
                               buf)) {
        free(buf);
        return lw_fail("codec brotli: the encoder failed on a %zu-byte text", n);
    }
    out->bytes = buf;
    out->n = got;
    return 0;
}

static int brotli_encode(const lw_codec *c, const char *text, lw_payload *out) {
    return lw_text_encode_prefix(c, text, brotli_bytes, out);
}

static int brotli_decode(const lw_codec *c, const uint8_t *bytes, size_t n, char **text) {
    (void)c;
    *text = NULL;
    if (n == 0) return lw_text_from_bytes("brotli", bytes, 0, text);
    BrotliDecoderState *s = BrotliDecoderCreateInstance(NULL, NULL, NULL);
    if (!s) return lw_fail("codec brotli: cannot create a decoder");
    size_t cap = 4 * n + 64, len = 0, avail_in = n;
    const uint8_t *next_in = bytes;
    uint8_t *buf = malloc(cap);
    BrotliDecoderResult r = buf ? BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT : BROTLI_DECODER_RESULT_ERROR;
    while (r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) {
        if (len == cap) {
            if (cap >= LW_TEXT_MAX_DECODED) break;
            cap = cap * 2 > LW_TEXT_MAX_DECODED ? LW_TEXT_MAX_DECODED : cap * 2;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) break;
            buf = nb;
        }
        size_t avail_out = cap - len;
        uint8_t *next_out = buf + len;
        r = BrotliDecoderDecompressStream(s, &avail_in, &next_in, &avail_out, &next_out, NULL);
        len = cap - avail_out;
    }
    BrotliDecoderDestroyInstance(s);
    int ret;
    if (r != BROTLI_DECODER_RESULT_SUCCESS)
        ret = lw_fail("codec brotli: the %zu-byte payload is not a complete brotli stream%s", n,
                      len >= LW_TEXT_MAX_DECODED ? " (it decodes past the 64 MiB limit)" : "");
    else if (avail_in != 0)
        ret = lw_fail("codec brotli: %zu bytes follow the end of the brotli stream: not this codec's payload",
                      avail_in);
    else
        ret = lw_text_from_bytes("brotli", buf, len, text);
    free(buf);
    return ret;
}

static int brotli_load(lw_codec *c, const lw_st_file *f) {
    (void)f;
    return check_level(c);
}

const lw_codec_ops lw_codec_ops_brotli = {
    .fit_text = brotli_fit,
    .encode_text = brotli_encode,
    .decode_text = brotli_decode,
    .load = brotli_load,
};
