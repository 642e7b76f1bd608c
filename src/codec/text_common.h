/* Internal: what the text codecs share.
 *
 * Conventions every text codec follows (README, "Text codecs"):
 *   - the empty payload (0 bytes) is the empty text, for every kind: at any budget the empty
 *     prefix fits, so a budget smaller than a library's smallest stream still sends something
 *     well defined (nothing);
 *   - at a budget K the payload is the encoding of the longest prefix of the text, cut at a
 *     character boundary (whole UTF-8 characters), whose payload fits K / 8 bytes: the search
 *     keeps "prefix fits, prefix one character longer does not" (lw_text_encode_prefix);
 *   - a decoded text is NUL-terminated and must not contain a NUL byte (a payload that
 *     decodes to one is not a codec's and is refused), and is at most LW_TEXT_MAX_DECODED bytes. */
#ifndef LW_CODEC_TEXT_COMMON_H
#define LW_CODEC_TEXT_COMMON_H

#include "codec/codec_internal.h"

/* A decoded text larger than this is refused (a hostile payload cannot make decode allocate
 * without bound: compressors expand by up to ~1000x). */
#define LW_TEXT_MAX_DECODED ((size_t)64 << 20)

/* Encodes text[0..n) (n at a character boundary) as one payload, no budget applied. */
typedef int (*lw_text_encode_bytes_fn)(const lw_codec *c, const char *text, size_t n, lw_payload *out);

/* The kind's payload of the whole text (budget 0) or of its longest fitting prefix (budget K). */
int lw_text_encode_prefix(const lw_codec *c, const char *text, lw_text_encode_bytes_fn enc, lw_payload *out);

/* Whether byte i of s (length n) starts a character, or is the end (i == n): the prefix
 * s[0..i) then holds whole characters. */
int lw_text_is_char_boundary(const char *s, size_t n, size_t i);

/* A malloc'd NUL-terminated copy of bytes[0..n); refuses an embedded NUL (naming the codec). */
int lw_text_from_bytes(const char *codec, const uint8_t *bytes, size_t n, char **text);

/* The "fit" object of the record (created on first use), to which a kind adds its facts. */
json_t *lw_text_fit_record(lw_codec *c);

/* Raw DEFLATE (zlib's deflate without the 2-byte header and 4-byte Adler-32: the receiver
 * knows the codec, and the empty text is the empty payload anyway). level -1: zlib's default. */
int lw_text_deflate(int level, const char *text, size_t n, lw_payload *out);
int lw_text_inflate(const char *codec, const uint8_t *bytes, size_t n, char **text);

/* zstd without the frame's magic number, checksum, content size and dictionary id (the
 * receiver knows the codec and holds the dictionary). dict may be NULL. */
int lw_text_zstd_compress(int level, const void *dict, size_t dict_n, const char *text, size_t n, lw_payload *out);
int lw_text_zstd_decompress(const char *codec, const void *dict, size_t dict_n, const uint8_t *bytes, size_t n,
                            char **text);
/* -1 (zstd's maximum, 22) or 0..22; an error naming the kind otherwise. */
int lw_text_zstd_check_level(const lw_codec *c);

#endif
