/* Generation: prompt prefill, then one token per step through the KV cache, sampling with
 * llama.cpp's samplers. Hooks stay installed, so they act at every step. */
#include <math.h>
#include <stdlib.h>

#include "common/error.h"
#include "common/logsumexp.h"
#include "runtime/internal.h"

lw_gen_params lw_gen_default_params(void) {
    lw_gen_params p = {
        .max_tokens = 64, .temperature = 0.0f, .top_p = 1.0f, .top_k = 0, .seed = 42, .stop_at_eos = true};
    return p;
}

void lw_log_softmax(const float *logits, int n, float *out) {
    if (!logits || !out) return; /* void: nothing to report to */
    const double lse = lw_lse_value(lw_lse_terms_of(logits, n, 1.0));
    for (int i = 0; i < n; i++) out[i] = (float)((double)logits[i] - lse);
}

int lw_layer_middle(int n_layer) { return n_layer > 1 ? n_layer / 2 : 0; }

int lw_layer_index(long layer, int n_layer) {
    if (layer < -(long)n_layer || layer >= n_layer) return -1;
    return (int)(layer < 0 ? layer + n_layer : layer);
}

/* Greedy: the highest logit, the lowest token id among ties (documented rule). A NaN never wins:
 * it compares false both ways, so left in place at v[0] it would win every comparison. */
int32_t lw_argmax(const float *v, int n) {
    if (!v && n > 0) return lw_fail("lw_argmax: v is NULL");
    if (n < 1) return 0;
    int32_t best = -1;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i]) && (best < 0 || v[i] > v[best])) best = i;
    if (best < 0) return lw_fail("lw_argmax: all %d values are NaN", n);
    return best;
}

/* Temperature first, then top-k, then top-p, then a seeded draw: the order PyTorch/HF
 * users expect (llama.cpp's own CLI applies temperature last). */
static struct llama_sampler *make_sampler(const lw_gen_params *p) {
    struct llama_sampler *chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
    llama_sampler_chain_add(chain, llama_sampler_init_temp(p->temperature));
    if (p->top_k > 0) llama_sampler_chain_add(chain, llama_sampler_init_top_k(p->top_k));
    if (p->top_p < 1.0f) llama_sampler_chain_add(chain, llama_sampler_init_top_p(p->top_p, 1));
    llama_sampler_chain_add(chain, llama_sampler_init_dist(p->seed));
    return chain;
}

static int32_t sample(struct llama_sampler *smpl, const float *logits, int n_vocab, llama_token_data *buf) {
    for (int i = 0; i < n_vocab; i++) buf[i] = (llama_token_data){i, logits[i], 0.0f};
    llama_token_data_array arr = {buf, (size_t)n_vocab, -1, false};
    llama_sampler_apply(smpl, &arr);
    return arr.data[arr.selected].id;
}

static int check_params(const lw_session *s, int seq, const lw_gen_params *p, int cap, const int32_t *out) {
    if (!s) return lw_fail("generate: the session is NULL");
    if (!p) return lw_fail("generate: params is NULL");
    if (seq < 0 || seq >= s->params.n_seq_max)
        return lw_fail("generate: sequence id %d is out of range [0, %d)", seq, s->params.n_seq_max);
    if (p->max_tokens < 0) return lw_fail("generate: max_tokens must be >= 0 (got %d)", p->max_tokens);
    if (cap < 0) return lw_fail("generate: output capacity must be >= 0");
    if (cap > 0 && !out) return lw_fail("generate: out is NULL");
    if (!(p->temperature >= 0.0f) && !(p->temperature < 0.0f)) return lw_fail("generate: temperature is NaN");
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f)) return lw_fail("generate: top_p must be in (0, 1] (got %g)", p->top_p);
    if (p->top_k < 0) return lw_fail("generate: top_k must be >= 0 (got %d)", p->top_k);
    return 0;
}

int lw_generate(lw_session *s, int seq, const lw_span *prompt, int n_spans, const lw_gen_params *params,
                int32_t *out, int cap) {
    if (s) s->gen_stop = LW_GEN_STOP_NONE;
    if (check_params(s, seq, params, cap, out) != 0) return -1;
    if (n_spans < 0 || (n_spans > 0 && !prompt)) /* else "no logits for the last position" later */
        return lw_fail("generate: %s", n_spans < 0 ? "the span count is negative" : "prompt is NULL with spans to read");
    int limit = params->max_tokens < cap ? params->max_tokens : cap;
    /* hooks may name positions the generated tokens will reach; the last sampled token
     * is never forwarded, hence limit - 1 */
    s->horizon = limit > 0 ? limit - 1 : 0;
    lw_seq_input in = {.seq = seq, .spans = prompt, .n_spans = n_spans, .logits = LW_LOGITS_LAST};
    if (n_spans > 0 && lw_session_run(s, &in, 1) != 0) {
        s->horizon = 0;
        return -1;
    }
    bool greedy = params->temperature <= 0.0f;
    struct llama_sampler *smpl = greedy ? NULL : make_sampler(params);
    llama_token_data *buf = greedy ? NULL : malloc(sizeof(llama_token_data) * (size_t)s->n_vocab);
    if (!greedy && !buf) {
        llama_sampler_free(smpl);
        s->horizon = 0;
        return lw_fail("out of memory");
    }
    int n = 0, rc = 0;
    lw_gen_stop why = LW_GEN_STOP_LENGTH;
    while (n < limit) {
        const float *logits = lw_session_logits(s, seq, s->seq_len[seq] - 1);
        if (!logits) {
            rc = lw_fail("generate: no logits for the last position of sequence %d (run its prompt with logits, "
                         "or pass the prompt)", seq);
            break;
        }
        /* Every logit equal leaves nothing to decode (greedy took token 0, with exit 0). A real model
         * never gives it; a residual past float32's range does (its square overflows in the final
         * norm and the normalized row becomes 0, e.g. two hooks each under the per-write limit), and
         * so does a zeroed last block. Reading such logits (a lens, a panel's log-probs) stays allowed. */
        float lo = logits[0], hi = logits[0];
        for (int i = 1; i < s->n_vocab; i++) lo = fminf(lo, logits[i]), hi = fmaxf(hi, logits[i]);
        if (s->n_vocab > 1 && lo == hi) {
            rc = lw_fail("generate: the logits at position %d of sequence %d are all equal (%g), so there is no token "
                         "to choose: the residual stream overflowed float32 in the final norm (a hook's vectors, or "
                         "what the layers made of them, beyond about 1.8e19) or the last block's output was zeroed",
                         s->seq_len[seq] - 1, seq, (double)lo);
            break;
        }
        int32_t tok = greedy ? lw_argmax(logits, s->n_vocab) : sample(smpl, logits, s->n_vocab, buf);
        if (params->stop_at_eos && llama_vocab_is_eog(s->model->vocab, tok)) {
            why = LW_GEN_STOP_EOS;
            break;
        }
        out[n++] = tok;
        if (n == limit) break;
        if (s->seq_len[seq] + 1 > s->n_ctx) { /* the context is full: the caller can tell (lw_generate_stop_reason) */
            why = LW_GEN_STOP_CONTEXT;
            break;
        }
        s->horizon = limit - n - 1;
        lw_span sp = {.tokens = &tok, .n = 1};
        lw_seq_input step = {.seq = seq, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_LAST};
        if (lw_session_run(s, &step, 1) != 0) {
            rc = -1;
            break;
        }
    }
    s->horizon = 0;
    free(buf);
    if (smpl) llama_sampler_free(smpl);
    s->gen_stop = rc == 0 ? why : LW_GEN_STOP_NONE;
    return rc == 0 ? n : -1;
}

lw_gen_stop lw_generate_stop_reason(const lw_session *s) { return s ? s->gen_stop : LW_GEN_STOP_NONE; }
