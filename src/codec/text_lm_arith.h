/* Internal: lm-arith's payload of given tokens, for the tests and the benchmark. */
#ifndef LW_CODEC_TEXT_LM_ARITH_H
#define LW_CODEC_TEXT_LM_ARITH_H

#include "codec/codec_internal.h"

/* The payload of exactly tokens[0..m) (no budget, no check that they spell a text), and,
 * when model_bits is not NULL, the model's cross-entropy of those tokens in bits (the sum of
 * -log2 p(token | context) from the same logits the coder's tables come from). 0 or -1. */
int lw_lm_arith_encode_tokens(const lw_codec *c, const int32_t *tokens, int m, lw_payload *out, double *model_bits);

/* The same payload from logits computed elsewhere: row i of logits (m x n_vocab) is the
 * distribution token i is coded under (row 0 unused when first_uniform: no BOS context). The
 * coder's work alone, without the model (the benchmark times it). 0 or -1. */
int lw_lm_arith_encode_logits(int n_vocab, const float *logits, const int32_t *tokens, int m, bool first_uniform,
                              lw_payload *out);

/* lm-arith's encode (the codec's encode_text, budget from c) and the number of text tokens it
 * ran the model for (their tables computed): at a budget, the longest fitting prefix plus the
 * one token that showed the next prefix does not fit (fewer when the text ends first). */
int lw_lm_arith_encode_counted(const lw_codec *c, const char *text, lw_payload *out, int *model_steps);

#endif
