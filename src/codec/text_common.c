/* What the text codecs share: the longest-fitting-prefix search, character boundaries,
 * decoded-text checks, the fit record, and raw DEFLATE (zlib and the summary codec). */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "codec/text_common.h"

int lw_text_is_char_boundary(const char *s, size_t n, size_t i) {
    return i == 0 || i >= n || ((unsigned char)s[i] & 0xC0) != 0x80;
}

/* A character boundary in (lo, hi), as close to their middle as possible; lo when none. */
static size_t middle_boundary(const char *s, size_t n, size_t lo, size_t hi) {
    size_t mid = lo + (hi - lo) / 2;
    for (size_t i = mid; i > lo && i < hi; i++)
        if (lw_text_is_char_boundary(s, n, i)) return i;
    for (size_t i = mid; i > lo; i--)
        if (lw_text_is_char_boundary(s, n, i)) return i;
    return lo;
}

/* Compressed size is not strictly monotone in the prefix length, so the search keeps the
 * invariant "prefix lo fits, prefix hi does not" (lo = 0 always fits: the empty payload; hi =
 * the whole text, checked first) and ends with hi the next boundary after lo: the prefix sent
 * fits and the one a character longer does not. For truncation (size = length) this is the
 * longest fitting prefix outright. */
int lw_text_encode_prefix(const lw_codec *c, const char *text, lw_text_encode_bytes_fn enc, lw_payload *out) {
    size_t n = strlen(text);
    int64_t budget = c->p.budget_bits;
    if (n == 0) return lw_payload_set(out, "", 0);
    if (enc(c, text, n, out) != 0) return -1;
    if (budget <= 0 || (int64_t)out->n * 8 <= budget) return 0;
    free(out->bytes);
    out->bytes = NULL;
    out->n = 0;
    lw_payload best = {NULL, 0};
    size_t lo = 0, hi = n;
    for (;;) {
        size_t mid = middle_boundary(text, n, lo, hi);
        if (mid == lo) break;
        lw_payload p = {NULL, 0};
        if (enc(c, text, mid, &p) != 0) {
            free(best.bytes);
            return -1;
        }
        if ((int64_t)p.n * 8 <= budget) {
            free(best.bytes);
            best = p;
            lo = mid;
        } else {
            free(p.bytes);
            hi = mid;
        }
    }
    if (lo == 0) return lw_payload_set(out, "", 0);
    *out = best;
    return 0;
}

int lw_text_from_bytes(const char *codec, const uint8_t *bytes, size_t n, char **text) {
    *text = NULL;
    if (n && memchr(bytes, 0, n))
        return lw_fail("codec %s: the payload decodes to a text with a NUL byte: not this codec's payload", codec);
    char *s = malloc(n + 1);
    if (!s) return lw_fail("codec %s: out of memory for a %zu-byte text", codec, n);
    if (n) memcpy(s, bytes, n);
    s[n] = '\0';
    *text = s;
    return 0;
}

json_t *lw_text_fit_record(lw_codec *c) {
    json_t *fit = json_object_get(c->record, "fit");
    if (!fit) {
        fit = json_object();
        json_object_set_new(c->record, "fit", fit);
    }
    return fit;
}

/* ------------------------------------------------------------------ raw DEFLATE */

int lw_text_deflate(int level, const char *text, size_t n, lw_payload *out) {
    out->bytes = NULL;
    out->n = 0;
    if (n == 0) return lw_payload_set(out, "", 0);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, level < 0 ? Z_DEFAULT_COMPRESSION : level, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return lw_fail("codec zlib: deflateInit2 failed at level %d", level);
    uLong cap = deflateBound(&z, (uLong)n);
    uint8_t *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&z);
        return lw_fail("codec zlib: out of memory");
    }
    z.next_in = (Bytef *)text;
    z.avail_in = (uInt)n;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    size_t got = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return lw_fail("codec zlib: deflate did not finish (%d)", rc);
    }
    out->bytes = buf;
    out->n = got;
    return 0;
}

int lw_text_inflate(const char *codec, const uint8_t *bytes, size_t n, char **text) {
    *text = NULL;
    if (n == 0) return lw_text_from_bytes(codec, bytes, 0, text);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -15) != Z_OK) return lw_fail("codec %s: inflateInit2 failed", codec);
    size_t cap = 4 * n + 64, len = 0;
    uint8_t *buf = malloc(cap);
    int rc = buf ? Z_OK : Z_MEM_ERROR;
    z.next_in = (Bytef *)bytes;
    z.avail_in = (uInt)n;
    while (rc == Z_OK) {
        if (len == cap) {
            if (cap >= LW_TEXT_MAX_DECODED) break;
            cap = cap * 2 > LW_TEXT_MAX_DECODED ? LW_TEXT_MAX_DECODED : cap * 2;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                rc = Z_MEM_ERROR;
                break;
            }
            buf = nb;
        }
        z.next_out = buf + len;
        z.avail_out = (uInt)(cap - len);
        rc = inflate(&z, Z_NO_FLUSH);
        len = cap - z.avail_out;
        if (rc == Z_BUF_ERROR && z.avail_out > 0) break; /* input ended before the stream did */
        if (rc == Z_BUF_ERROR) rc = Z_OK;
    }
    bool trailing = rc == Z_STREAM_END && z.avail_in != 0;
    inflateEnd(&z);
    int ret;
    if (rc != Z_STREAM_END)
        ret = lw_fail("codec %s: the %zu-byte payload is not a complete DEFLATE stream%s", codec, n,
                      len >= LW_TEXT_MAX_DECODED ? " (it decodes past the 64 MiB limit)" : "");
    else if (trailing)
        ret = lw_fail("codec %s: %u bytes follow the end of the DEFLATE stream: not this codec's payload", codec,
                      z.avail_in);
    else
        ret = lw_text_from_bytes(codec, buf, len, text);
    free(buf);
    return ret;
}
