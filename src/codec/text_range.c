/* The range coder of lm-arith (see text_range.h for its precision and format). */
#include <stdlib.h>

#include "codec/text_range.h"

#define RC_BITS 56
#define RC_MASK ((UINT64_C(1) << RC_BITS) - 1)
#define RC_BOTTOM (UINT64_C(1) << 48) /* renormalize below this range */

void lw_rc_enc_init(lw_rc_enc *e) {
    *e = (lw_rc_enc){0};
    e->range = RC_MASK;
    e->cache_run = 1;
}

static void put_byte(lw_rc_enc *e, uint8_t b) {
    if (!e->started) { /* the leading byte is the integer part of a value in [0, 1): always 0 */
        e->started = 1;
        return;
    }
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 64;
        uint8_t *nb = realloc(e->buf, cap);
        if (!nb) {
            e->oom = 1;
            return;
        }
        e->buf = nb;
        e->cap = cap;
    }
    e->buf[e->n++] = b;
}

/* Moves low's top byte out. A byte below 0xFF is final once no carry can reach it, so the
 * last such byte is held (cache) with the 0xFF bytes after it until the next carry-free byte
 * (or a carry) decides them: LZMA's ShiftLow at 56 bits. */
static void shift_low(lw_rc_enc *e) {
    if ((e->low & RC_MASK) < (UINT64_C(0xFF) << (RC_BITS - 8)) || (e->low >> RC_BITS) != 0) {
        uint8_t carry = (uint8_t)(e->low >> RC_BITS);
        uint8_t b = e->cache;
        do {
            put_byte(e, (uint8_t)(b + carry));
            b = 0xFF;
        } while (--e->cache_run != 0);
        e->cache = (uint8_t)(e->low >> (RC_BITS - 8));
    }
    e->cache_run++;
    e->low = (e->low << 8) & RC_MASK;
}

void lw_rc_encode(lw_rc_enc *e, uint64_t cum, uint64_t freq, uint64_t total) {
    uint64_t r = e->range / total;
    e->low += r * cum;
    e->range = r * freq;
    while (e->range < RC_BOTTOM) {
        e->range <<= 8;
        shift_low(e);
    }
}

size_t lw_rc_enc_last_nonzero(const lw_rc_enc *e) {
    size_t n = e->n;
    while (n > 0 && e->buf[n - 1] == 0) n--;
    return n;
}

int lw_rc_enc_finish(lw_rc_enc *e, uint8_t **bytes, size_t *n) {
    /* the value in [low, low + range) with the most trailing zero bits: fewest bytes to send */
    uint64_t hi = e->low + e->range - 1, v = e->low;
    for (int k = RC_BITS; k >= 0; k--) {
        uint64_t mask = k == 64 ? ~UINT64_C(0) : (UINT64_C(1) << k) - 1;
        uint64_t cand = (e->low + mask) & ~mask;
        if (cand >= e->low && cand <= hi) {
            v = cand;
            break;
        }
    }
    e->low = v;
    for (int i = 0; i < RC_BITS / 8 + 1; i++) shift_low(e);
    if (e->oom) return -1;
    e->n = lw_rc_enc_last_nonzero(e); /* the decoder reads zeros past the end */
    *bytes = e->buf;
    *n = e->n;
    e->buf = NULL;
    e->n = e->cap = 0;
    return 0;
}

int lw_rc_enc_flushed_size(const lw_rc_enc *e, size_t *n) {
    /* flush a copy whose buffer holds only what the flush adds after e's final bytes */
    lw_rc_enc t = *e;
    t.buf = NULL;
    t.n = t.cap = 0;
    t.oom = 0;
    uint8_t *tail = NULL;
    size_t nt = 0;
    if (lw_rc_enc_finish(&t, &tail, &nt) != 0) {
        lw_rc_enc_free(&t);
        return -1;
    }
    free(tail);
    /* the tail trimmed to nothing: trailing zeros of e's own bytes go too */
    *n = nt > 0 ? e->n + nt : lw_rc_enc_last_nonzero(e);
    return 0;
}

void lw_rc_enc_free(lw_rc_enc *e) {
    free(e->buf);
    e->buf = NULL;
}

static uint8_t next_byte(lw_rc_dec *d) {
    uint8_t b = d->pos < d->n ? d->in[d->pos] : 0;
    d->pos++;
    return b;
}

void lw_rc_dec_init(lw_rc_dec *d, const uint8_t *in, size_t n) {
    *d = (lw_rc_dec){0};
    d->in = in;
    d->n = n;
    d->range = RC_MASK;
    for (int i = 0; i < RC_BITS / 8; i++) d->code = (d->code << 8) | next_byte(d);
}

uint64_t lw_rc_decode_target(const lw_rc_dec *d, uint64_t total) {
    uint64_t t = d->code / (d->range / total);
    return t < total ? t : total - 1; /* only a corrupt payload lands past the end */
}

void lw_rc_decode_symbol(lw_rc_dec *d, uint64_t cum, uint64_t freq, uint64_t total) {
    uint64_t r = d->range / total;
    d->code -= r * cum;
    d->range = r * freq;
    while (d->range < RC_BOTTOM) {
        d->range <<= 8;
        d->code = (d->code << 8) | next_byte(d);
    }
}

size_t lw_rc_dec_consumed(const lw_rc_dec *d) { return d->pos; }
