/* Whole UTF-8 characters out of token pieces: a byte-level token can end in the middle of a
 * character, and a sampled sequence of byte tokens need not be valid UTF-8 at all. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "latentwire/runtime.h"

/* Length of the well-formed character starting at s[0..n) (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF); 0 when the bytes there can never form one; -k when
 * all n (< k) bytes are a valid beginning of a k-byte character that is cut off. */
static int char_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int k;
    unsigned lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) k = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    for (int i = 1; i < k; i++) {
        if ((size_t)i >= n) return -k;
        unsigned b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
    }
    return k;
}

size_t lw_utf8_complete_prefix(const char *s, size_t n) {
    if (!s) return lw_fail("lw_utf8_complete_prefix: s is NULL"), 0;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        int k = char_len(u + i, n - i);
        if (k < 0) return i; /* a character the next piece may complete */
        i += k > 0 ? (size_t)k : 1;
    }
    return n;
}

size_t lw_utf8_sanitize(const char *s, size_t n, char *out) {
    if (!out) return lw_fail("lw_utf8_sanitize: out is NULL"), 0;
    if (!s && n > 0) return out[0] = '\0', lw_fail("lw_utf8_sanitize: s is NULL"), 0;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, w = 0;
    while (i < n) {
        int k = char_len(u + i, n - i);
        if (k > 0) {
            for (int j = 0; j < k; j++) out[w++] = s[i + j];
            i += (size_t)k;
        } else { /* one U+FFFD per byte that starts no character */
            out[w++] = (char)0xEF, out[w++] = (char)0xBF, out[w++] = (char)0xBD;
            i++;
        }
    }
    out[w] = '\0';
    return w;
}
