/* Internal: a range coder (arithmetic coding with byte output, carries resolved as in LZMA's
 * rc: a cached byte plus a run of 0xFF bytes), written for the language-model prior of
 * lm-arith, whose totals reach 2^31 and whose alphabets reach 262,144 symbols.
 *
 * Precision: low holds 56 bits (plus a carry bit), the range is kept in [2^48, 2^56) by
 * shifting out whole bytes. A symbol with frequency f of a total T <= 2^31 narrows the range
 * to floor(range / T) * f, so the coding loss against -log2(f / T) is below
 * -log2(1 - T / range) <= 2^-16 bits per symbol; the flush adds at most 8 bytes and usually
 * 1-2 (the shortest value inside the final interval, trailing zero bytes dropped: the
 * decoder reads zeros past the end). The first output byte of LZMA's scheme is always zero
 * and is not written. */
#ifndef LW_CODEC_TEXT_RANGE_H
#define LW_CODEC_TEXT_RANGE_H

#include <stddef.h>
#include <stdint.h>

#define LW_RC_MAX_TOTAL (UINT64_C(1) << 31)

typedef struct {
    uint64_t low, range;
    uint8_t cache;
    uint64_t cache_run; /* bytes held back: the cache and the 0xFF bytes after it */
    int started;        /* the first (always zero) byte has been dropped */
    uint8_t *buf;
    size_t n, cap;
    int oom;
} lw_rc_enc;

void lw_rc_enc_init(lw_rc_enc *e);
/* Codes the symbol occupying [cum, cum + freq) of total (freq >= 1, cum + freq <= total <=
 * LW_RC_MAX_TOTAL). */
void lw_rc_encode(lw_rc_enc *e, uint64_t cum, uint64_t freq, uint64_t total);
/* Bytes written so far whose value is final (a lower bound on any later flush's length,
 * trailing zero bytes aside: see lw_rc_enc_last_nonzero). */
size_t lw_rc_enc_last_nonzero(const lw_rc_enc *e); /* 1 + index of the last non-zero byte written, or 0 */
/* The length finish would give now (trailing zero bytes dropped), without changing e: the
 * serialized size of the symbols coded so far. It never decreases as symbols are added (each
 * symbol's interval lies inside the last one, and the shortest value of an interval is no
 * longer than that of any interval inside it), so the first prefix whose size passes a budget
 * bounds every longer one. 0, or -1 out of memory. */
int lw_rc_enc_flushed_size(const lw_rc_enc *e, size_t *n);
/* Finishes: the bytes (owned by the caller, may be NULL when empty) and their count. -1 out of memory. */
int lw_rc_enc_finish(lw_rc_enc *e, uint8_t **bytes, size_t *n);
void lw_rc_enc_free(lw_rc_enc *e);

typedef struct {
    uint64_t code, range;
    const uint8_t *in;
    size_t n, pos;
} lw_rc_dec;

void lw_rc_dec_init(lw_rc_dec *d, const uint8_t *in, size_t n);
/* The target cumulative count in [0, total) the next symbol's interval contains. */
uint64_t lw_rc_decode_target(const lw_rc_dec *d, uint64_t total);
/* Consumes the symbol [cum, cum + freq) of total found for the target. */
void lw_rc_decode_symbol(lw_rc_dec *d, uint64_t cum, uint64_t freq, uint64_t total);
/* Bytes of input read so far (past-the-end reads count; they read zeros). */
size_t lw_rc_dec_consumed(const lw_rc_dec *d);

#endif
