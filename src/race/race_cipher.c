/* The race's cipher channel: CIPHER's soft tokens (Pham et al., ICLR 2024) quantized to a bit
 * budget (see race.h). The payload's shape at a budget, its serialization, the sender (greedy
 * continuation, each step's top-m distribution kept) and the receiver (soft tokens before the
 * query). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel_internal.h"
#include "codec/act_common.h"
#include "common/error.h"
#include "common/logsumexp.h"
#include "race/race_internal.h"

int lw_race_cipher_shape_for(int64_t budget, int n_vocab, int steps, lw_race_cipher_shape *out) {
    memset(out, 0, sizeof *out);
    if (budget <= 0) return lw_fail("cipher: budget %lld bits: must be positive", (long long)budget);
    if (n_vocab < 2) return lw_fail("cipher: a vocabulary of %d tokens", n_vocab);
    if (steps < 0) return lw_fail("cipher: %d steps: must be 0 (as many as fit) or positive", steps);
    int id_bits = lw_bits_for(n_vocab) > 8 ? lw_bits_for(n_vocab) : 8; /* a step of at least a byte */
    int g = steps > 0 ? steps : (int)(budget / id_bits < LW_RACE_CIPHER_AUTO_STEPS ? budget / id_bits
                                                                                     : LW_RACE_CIPHER_AUTO_STEPS);
    if (g < 1 || (int64_t)g * id_bits > budget)
        return lw_fail("cipher: %lld bits do not fit %d step%s of one %d-bit token id (the vocabulary has %d tokens): "
                       "the smallest budget that fits is %lld bits",
                       (long long)budget, g < 1 ? 1 : g, g > 1 ? "s" : "", id_bits, n_vocab,
                       (long long)(g < 1 ? 1 : g) * id_bits);
    int64_t per_step = budget / g; /* whole bits per step; padding to a byte only shrinks what is used */
    int top = (int)(per_step / (id_bits + LW_RACE_CIPHER_WEIGHT_BITS));
    if (top > LW_RACE_CIPHER_MAX_TOP) top = LW_RACE_CIPHER_MAX_TOP;
    if (top > n_vocab) top = n_vocab;
    out->steps = g;
    out->id_bits = id_bits;
    out->top = top >= 2 ? top : 1;
    out->weight_bits = top >= 2 ? LW_RACE_CIPHER_WEIGHT_BITS : 0; /* one entry: its weight is 1 */
    out->step_bits = out->top * (id_bits + out->weight_bits);
    return 0;
}

int lw_race_cipher_encode(const lw_race_cipher_shape *sh, const int32_t *ids, const float *weights, int n_steps,
                          uint8_t **bytes, size_t *n) {
    *bytes = NULL;
    *n = 0;
    if (n_steps < 0 || n_steps > sh->steps) return lw_fail("cipher: %d steps, the shape holds %d", n_steps, sh->steps);
    size_t nb = ((size_t)n_steps * (size_t)sh->step_bits + 7) / 8;
    uint8_t *buf = calloc(nb ? nb : 1, 1);
    if (!buf) return lw_fail("cipher: out of memory");
    lw_bits w = {buf, nb, 0};
    uint32_t levels = (1u << sh->weight_bits) - 1;
    for (int t = 0; t < n_steps; t++)
        for (int j = 0; j < sh->top; j++) {
            size_t k = (size_t)t * sh->top + j;
            lw_bits_put(&w, (uint32_t)ids[k], sh->id_bits);
            if (sh->weight_bits) {
                float x = weights[k] < 0 ? 0 : weights[k] > 1 ? 1 : weights[k];
                lw_bits_put(&w, (uint32_t)lrintf(x * (float)levels), sh->weight_bits);
            }
        }
    *bytes = buf;
    *n = nb;
    return 0;
}

int lw_race_cipher_decode(const lw_race_cipher_shape *sh, int n_vocab, const uint8_t *bytes, size_t n, int32_t *ids,
                          float *weights, int *n_steps) {
    *n_steps = 0;
    /* the step count from the length: the padding is under 8 bits and a step at least 8 (id_bits >= 8) */
    int64_t g = (int64_t)n * 8 / sh->step_bits;
    if (g > sh->steps || ((size_t)g * (size_t)sh->step_bits + 7) / 8 != n)
        return lw_fail("cipher: a %zu-byte payload is not a whole number of %d-bit steps (at most %d): not this "
                       "shape's payload", n, sh->step_bits, sh->steps);
    lw_bits r = {(uint8_t *)bytes, n, 0};
    uint32_t levels = (1u << sh->weight_bits) - 1;
    for (int t = 0; t < (int)g; t++) {
        double sum = 0;
        for (int j = 0; j < sh->top; j++) {
            size_t k = (size_t)t * sh->top + j;
            uint32_t id = lw_bits_get(&r, sh->id_bits);
            if (id >= (uint32_t)n_vocab)
                return lw_fail("cipher: token id %u is past the vocabulary (%d tokens): not this model's payload", id,
                               n_vocab);
            ids[k] = (int32_t)id;
            weights[k] = sh->weight_bits ? (float)lw_bits_get(&r, sh->weight_bits) / (float)levels : 1.0f;
            sum += weights[k];
        }
        for (int j = 0; j < sh->top; j++) { /* renormalized; all weights 0: the first entry alone */
            size_t k = (size_t)t * sh->top + j;
            weights[k] = sum > 0 ? (float)(weights[k] / sum) : (j == 0 ? 1.0f : 0.0f);
        }
    }
    if (lw_bits_get(&r, (int)(n * 8 - r.pos)) != 0)
        return lw_fail("cipher: the payload's padding bits are not zero: not this shape's payload");
    *n_steps = (int)g;
    return 0;
}

void lw_race_cipher_rows(const float *E, int d, const int32_t *ids, const float *weights, int n_steps, int top,
                         float *rows) {
    for (int t = 0; t < n_steps; t++) {
        float *r = rows + (size_t)t * d;
        const int32_t *id = ids + (size_t)t * top;
        const float *w = weights + (size_t)t * top;
        for (int c = 0; c < d; c++) r[c] = w[0] * E[(size_t)id[0] * d + c]; /* m = 1: the embedding row itself */
        for (int j = 1; j < top; j++)
            for (int c = 0; c < d; c++) r[c] += w[j] * E[(size_t)id[j] * d + c];
    }
}

/* The m most probable tokens of softmax(logits) (ties: the lower id), their probabilities
 * renormalized over the m. ids[0] is the greedy token. */
static void top_m(const float *logits, int V, int m, int32_t *ids, float *weights) {
    const lw_lse_terms e = lw_lse_terms_of(logits, V, 1.0);
    const double mx = e.max, z = e.sum;
    for (int j = 0; j < m; j++) ids[j] = -1;
    for (int i = 0; i < V; i++) { /* insertion into the kept m, highest logit first */
        int at = m;
        while (at > 0 && (ids[at - 1] < 0 || logits[i] > logits[ids[at - 1]])) at--;
        if (at == m) continue;
        memmove(ids + at + 1, ids + at, sizeof *ids * (size_t)(m - at - 1));
        ids[at] = i;
    }
    double kept = 0;
    for (int j = 0; j < m; j++) kept += exp((double)logits[ids[j]] - mx) / z;
    for (int j = 0; j < m; j++) weights[j] = (float)(exp((double)logits[ids[j]] - mx) / z / kept);
}

int lw_race_cipher_send(lw_session *sender, bool chat, const char *text, const lw_race_cipher_shape *sh,
                        int32_t *ids, float *weights, int *n_steps) {
    *n_steps = 0;
    int64_t fwd = 0, passes = 0;
    side a = lw_ch_make_side(sender, &fwd, &passes);
    const lw_model *m = lw_session_model(sender);
    lw_session_clear(sender, 0);
    affixes af;
    int rc = lw_ch_get_affixes(&a, chat, &af);
    if (rc == 0) rc = lw_ch_open_input(&a, &af);
    if (rc == 0) rc = lw_ch_feed_text_tail(&a, text, af.suffix);
    free(af.prefix);
    free(af.suffix);
    for (int t = 0; rc == 0 && t < sh->steps; t++) {
        const float *logits = lw_ch_last_logits(&a);
        if (!logits) {
            rc = lw_fail("cipher: the sender returned no logits");
            break;
        }
        int32_t *id = ids + (size_t)t * sh->top;
        top_m(logits, a.info.n_vocab, sh->top, id, weights + (size_t)t * sh->top);
        if (lw_token_is_eog(m, id[0])) break; /* the greedy continuation ends */
        *n_steps = t + 1;
        if (t + 1 < sh->steps) rc = lw_ch_feed(&a, id, NULL, 1); /* greedy: the top token is fed back */
    }
    lw_session_clear(sender, 0);
    return rc;
}

int lw_race_cipher_receive(lw_session *receiver, bool chat, const float *rows, int n_rows, const char *query,
                           int answer_tokens, char **answer) {
    *answer = NULL;
    int64_t fwd = 0, passes = 0;
    side b = lw_ch_make_side(receiver, &fwd, &passes);
    lw_session_clear(receiver, 0);
    affixes af;
    int rc = lw_ch_get_affixes(&b, chat, &af), n = 0;
    if (rc == 0) rc = lw_ch_open_input(&b, &af);
    if (rc == 0 && n_rows > 0) rc = lw_ch_feed(&b, NULL, rows, n_rows);
    if (rc == 0) rc = lw_ch_feed_text_tail(&b, query, af.suffix);
    if (rc == 0) rc = lw_ch_answer(&b, answer_tokens, answer, &n, NULL);
    free(af.prefix);
    free(af.suffix);
    lw_session_clear(receiver, 0);
    return rc;
}
