/* "zlib": the text as a raw DEFLATE stream (zlib's deflate, window 32 KiB, no header or
 * checksum: the receiver knows the codec). No side information. level -1 is zlib's default (6). */
#include "codec/text_common.h"

static int zlib_fit(lw_codec *c, const char *const *texts, int n) {
    (void)texts;
    (void)n;
    if (c->p.level < -1 || c->p.level > 9) return lw_fail("codec zlib: level %d: must be -1 (default) or 0..9", c->p.level);
    c->side_bits = 0;
    json_t *fit = lw_text_fit_record(c);
    json_object_set_new(fit, "stream", json_string("raw DEFLATE (RFC 1951), window 15 bits, memLevel 9"));
    json_object_set_new(fit, "level_used", json_integer(c->p.level < 0 ? 6 : c->p.level));
    return 0;
}

static int zlib_bytes(const lw_codec *c, const char *text, size_t n, lw_payload *out) {
    return lw_text_deflate(c->p.level, text, n, out);
}

static int zlib_encode(const lw_codec *c, const char *text, lw_payload *out) {
    return lw_text_encode_prefix(c, text, zlib_bytes, out);
}

static int zlib_decode(const lw_codec *c, const uint8_t *bytes, size_t n, char **text) {
    (void)c;
    return lw_text_inflate("zlib", bytes, n, text);
}

static int zlib_load(lw_codec *c, const lw_st_file *f) {
    (void)f;
    if (c->p.level < -1 || c->p.level > 9) return lw_fail("codec zlib: level %d: must be -1 (default) or 0..9", c->p.level);
    return 0;
}

const lw_codec_ops lw_codec_ops_zlib = {
    .fit_text = zlib_fit,
    .encode_text = zlib_encode,
    .decode_text = zlib_decode,
    .load = zlib_load,
};
