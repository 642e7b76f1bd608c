/* "zstd": the text as a zstd frame at the maximum level (22) unless level says otherwise,
 * without the frame's 4-byte magic number, checksum or dictionary id (the receiver knows the
 * codec). No side information. The frame helpers are shared with zstd-dict. */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_format / ZSTD_d_format: the magicless frame */
#include <stdlib.h>
#include <zstd.h>

#include "codec/text_common.h"

int lw_text_zstd_compress(int level, const void *dict, size_t dict_n, const char *text, size_t n, lw_payload *out) {
    out->bytes = NULL;
    out->n = 0;
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    size_t cap = ZSTD_compressBound(n);
    uint8_t *buf = malloc(cap);
    if (!cc || !buf) {
        ZSTD_freeCCtx(cc);
        free(buf);
        return lw_fail("codec zstd: out of memory");
    }
    size_t rc = ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level < 0 ? ZSTD_maxCLevel() : level);
    if (!ZSTD_isError(rc)) rc = ZSTD_CCtx_setParameter(cc, ZSTD_c_format, ZSTD_f_zstd1_magicless);
    if (!ZSTD_isError(rc)) rc = ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 0);
    if (!ZSTD_isError(rc)) rc = ZSTD_CCtx_setParameter(cc, ZSTD_c_dictIDFlag, 0);
    if (!ZSTD_isError(rc) && dict) rc = ZSTD_CCtx_loadDictionary(cc, dict, dict_n);
    if (!ZSTD_isError(rc)) rc = ZSTD_compress2(cc, buf, cap, text, n);
    ZSTD_freeCCtx(cc);
    if (ZSTD_isError(rc)) {
        free(buf);
        return lw_fail("codec zstd: %s", ZSTD_getErrorName(rc));
    }
    out->bytes = buf;
    out->n = rc;
    return 0;
}

int lw_text_zstd_decompress(const char *codec, const void *dict, size_t dict_n, const uint8_t *bytes, size_t n,
                            char **text) {
    *text = NULL;
    if (n == 0) return lw_text_from_bytes(codec, bytes, 0, text);
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    size_t cap = 4 * n + 64;
    uint8_t *buf = malloc(cap);
    if (!dc || !buf) {
        ZSTD_freeDCtx(dc);
        free(buf);
        return lw_fail("codec %s: out of memory", codec);
    }
    size_t rc = ZSTD_DCtx_setParameter(dc, ZSTD_d_format, ZSTD_f_zstd1_magicless);
    if (!ZSTD_isError(rc) && dict) rc = ZSTD_DCtx_loadDictionary(dc, dict, dict_n);
    ZSTD_inBuffer in = {bytes, n, 0};
    ZSTD_outBuffer outb = {buf, cap, 0};
    bool too_big = false;
    while (!ZSTD_isError(rc)) {
        rc = ZSTD_decompressStream(dc, &outb, &in);
        if (ZSTD_isError(rc) || rc == 0) break;           /* error, or the frame is complete */
        if (outb.pos < outb.size && in.pos == in.size) break; /* the input ended mid-frame */
        if (outb.pos == outb.size) {
            if (cap >= LW_TEXT_MAX_DECODED) {
                too_big = true;
                break;
            }
            cap = cap * 2 > LW_TEXT_MAX_DECODED ? LW_TEXT_MAX_DECODED : cap * 2;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                too_big = true;
                break;
            }
            buf = nb;
            outb.dst = buf;
            outb.size = cap;
        }
    }
    ZSTD_freeDCtx(dc);
    int ret;
    if (ZSTD_isError(rc))
        ret = lw_fail("codec %s: the %zu-byte payload is not this codec's: %s", codec, n, ZSTD_getErrorName(rc));
    else if (rc != 0)
        ret = lw_fail("codec %s: the %zu-byte payload is not a complete zstd frame%s", codec, n,
                      too_big ? " (it decodes past the 64 MiB limit)" : "");
    else if (in.pos != in.size)
        ret = lw_fail("codec %s: %zu bytes follow the end of the zstd frame: not this codec's payload", codec,
                      in.size - in.pos);
    else
        ret = lw_text_from_bytes(codec, buf, outb.pos, text);
    free(buf);
    return ret;
}

int lw_text_zstd_check_level(const lw_codec *c) {
    if (c->p.level < -1 || c->p.level > ZSTD_maxCLevel())
        return lw_fail("codec %s: level %d: must be -1 (level %d) or 0..%d (0: zstd's default, 3)", lw_codec_name(c->p.kind), c->p.level,
                       ZSTD_maxCLevel(), ZSTD_maxCLevel());
    return 0;
}

static int zstd_fit(lw_codec *c, const char *const *texts, int n) {
    (void)texts;
    (void)n;
    if (lw_text_zstd_check_level(c) != 0) return -1;
    c->side_bits = 0;
    json_t *fit = lw_text_fit_record(c);
    json_object_set_new(fit, "level_used", json_integer(c->p.level < 0 ? ZSTD_maxCLevel() : c->p.level));
    json_object_set_new(fit, "frame", json_string("magicless, no checksum, no dictionary id"));
    return 0;
}

static int zstd_bytes(const lw_codec *c, const char *text, size_t n, lw_payload *out) {
    return lw_text_zstd_compress(c->p.level, NULL, 0, text, n, out);
}

static int zstd_encode(const lw_codec *c, const char *text, lw_payload *out) {
    return lw_text_encode_prefix(c, text, zstd_bytes, out);
}

static int zstd_decode(const lw_codec *c, const uint8_t *bytes, size_t n, char **text) {
    (void)c;
    return lw_text_zstd_decompress("zstd", NULL, 0, bytes, n, text);
}

static int zstd_load(lw_codec *c, const lw_st_file *f) {
    (void)f;
    return lw_text_zstd_check_level(c);
}

const lw_codec_ops lw_codec_ops_zstd = {
    .fit_text = zstd_fit,
    .encode_text = zstd_encode,
    .decode_text = zstd_decode,
    .load = zstd_load,
};
