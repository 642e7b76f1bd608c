/* Internal: the one log-sum-exp behind every softmax of logits in the library (lw_log_softmax,
 * the logit lens's top-k log-probabilities, the patching panel's continuation scores, the
 * cipher channel's distribution), so they subtract the same maximum in the same precision and
 * agree to the bit where they compute the same quantity.
 *
 * Not used by the lm-arith text codec (codec/text_lm_arith.c): its table is built with float
 * expf over the logits above a cut and must stay exactly as it is, because encoder and decoder
 * rebuild the same integer frequencies from it; a change there changes every payload. */
#ifndef LW_COMMON_LOGSUMEXP_H
#define LW_COMMON_LOGSUMEXP_H

typedef struct {
    double max; /* the largest x_i / t (NaN ignored; -inf when every term is -inf or n <= 0) */
    double sum; /* sum_i exp(x_i / t - max), in double: in [1, n] for finite input */
} lw_lse_terms;

/* log sum_i exp(x_i / t) as its two parts, max-subtracted (no overflow at large logits, no
 * underflow to log 0 at very negative ones), accumulated in double in index order. t is a
 * temperature dividing each logit; 1 leaves them as given (x / 1.0 is x exactly). A NaN or +inf
 * term, or every term -inf, makes sum NaN, so whatever is computed from it is NaN. The
 * log-sum-exp itself is max + log(sum) (lw_lse_value); callers that subtract the parts one at
 * a time (x - max - log(sum)) keep their own rounding. */
lw_lse_terms lw_lse_terms_of(const float *x, int n, double t);

/* max + log(sum): the log-sum-exp of lw_lse_terms_of's terms. */
double lw_lse_value(lw_lse_terms e);

#endif
