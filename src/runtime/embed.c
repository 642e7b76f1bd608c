/* The model's own pooled sentence embedding (llama.cpp's pooling), for encoders such as
 * BERT that have no residual-stream `l_out` nodes to hook.
 *
 * llama.cpp pools per llama_decode call and forgets the previous call's pooled rows, and
 * an encoder cannot split a sequence over micro-batches, so every run here is one
 * micro-batch: the texts of a batch fit n_ubatch (and the context) together. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "runtime/internal.h"

const char *lw_model_pooling(const lw_model *m) {
    if (!m) return lw_fail("lw_model_pooling: the model is NULL"), NULL;
    char arch[64] = "", key[96], val[32] = "";
    if (llama_model_meta_val_str(m->llama, "general.architecture", arch, sizeof arch) < 0) return "none";
    snprintf(key, sizeof key, "%s.pooling_type", arch);
    if (llama_model_meta_val_str(m->llama, key, val, sizeof val) < 0) return "none";
    switch (atoi(val)) {
    case LLAMA_POOLING_TYPE_MEAN: return "mean";
    case LLAMA_POOLING_TYPE_CLS: return "cls";
    case LLAMA_POOLING_TYPE_LAST: return "last";
    case LLAMA_POOLING_TYPE_RANK: return "rank";
    default: return "none";
    }
}

/* Tokens of text t with the tokenizer's special tokens, cut to at most limit when truncate
 * (the content is cut, the special tokens around it stay). Returns the count (0 after
 * failing with a message), *tok malloc'd. */
static int32_t tokenize_text(const lw_session *s, const char *text, int64_t t, bool truncate, int32_t limit,
                             int32_t **tok) {
    *tok = NULL;
    int32_t *inner = NULL;
    int32_t n_inner = lw_tokenize_alloc(s->model, text, false, &inner);
    if (n_inner < 0) {
        lw_fail_prefix("embed: text %lld: ", (long long)t);
        return 0;
    }
    if (n_inner == 0) {
        free(inner);
        lw_fail("embed: text %lld is empty (no tokens besides the special ones)", (long long)t);
        return 0;
    }
    int32_t n = lw_tokenize_alloc(s->model, text, true, tok);
    if (n < 0) {
        free(inner);
        lw_fail_prefix("embed: text %lld: ", (long long)t);
        return 0;
    }
    if (n > limit && truncate) {
        /* full = prefix + inner + suffix (e.g. [CLS] ... [SEP]); keep prefix and suffix */
        int32_t p = -1;
        for (int32_t c = 0; c + n_inner <= n && p < 0; c++)
            if (!memcmp(*tok + c, inner, sizeof(int32_t) * (size_t)n_inner)) p = c;
        int32_t suffix = p < 0 ? 0 : n - p - n_inner;
        if (p < 0 || limit - p - suffix < 1) {
            n = limit; /* no recognizable frame: plain cut */
        } else {
            memmove(*tok + limit - suffix, *tok + n - suffix, sizeof(int32_t) * (size_t)suffix);
            n = limit;
        }
    }
    free(inner);
    if (n > limit) {
        lw_fail("embed: text %lld has %d tokens, more than fit one batch (%d); truncate to cut it", (long long)t, n,
                limit);
        free(*tok);
        *tok = NULL;
        return 0;
    }
    return n;
}

int lw_embed_pooled(lw_session *s, const char *const *texts, int64_t n, bool truncate, float *out, bool *ok) {
    if (!s) return lw_fail("embed: the session is NULL");
    if (n > 0 && (!texts || !out)) return lw_fail("embed: %s is NULL", texts ? "out" : "texts");
    if (!s->params.embeddings)
        return lw_fail("embed: the session was created without embeddings (lw_session_params.embeddings)");
    if (s->n_hooks) return lw_fail("embed: the session has hooks installed");
    for (int q = 0; q < s->params.n_seq_max; q++)
        if (s->seq_len[q] > 0) return lw_fail("embed: sequence %d of the session is not empty", q);
    enum llama_pooling_type pt = llama_pooling_type(s->ctx);
    if (pt != LLAMA_POOLING_TYPE_MEAN && pt != LLAMA_POOLING_TYPE_CLS && pt != LLAMA_POOLING_TYPE_LAST)
        return lw_fail("%s: the model declares no sentence-embedding pooling (%s); it has no pooled embedding",
                       s->model->path, lw_model_pooling(s->model));
    const int d = s->n_embd;
    if (llama_model_n_embd_out(s->model->llama) != d)
        return lw_fail("%s: pooled embeddings have width %d, not the model's width %d", s->model->path,
                       llama_model_n_embd_out(s->model->llama), d);
    const int batch = s->params.n_seq_max;
    const int32_t limit = s->n_ctx < s->params.n_ubatch ? s->n_ctx : s->params.n_ubatch;
    int32_t **tok = calloc((size_t)batch, sizeof *tok);
    int64_t *idx = calloc((size_t)batch, sizeof *idx);
    lw_span *spans = calloc((size_t)batch, sizeof *spans);
    lw_seq_input *in = calloc((size_t)batch, sizeof *in);
    int32_t *pending = NULL; /* a text tokenized that did not fit the last batch */
    int32_t pending_len = 0;
    int rc = tok && idx && spans && in ? 0 : lw_fail("out of memory");
    for (int64_t t = 0; rc == 0 && (t < n || pending);) {
        int nb = 0, used = 0;
        while (rc == 0 && (t < n || pending) && nb < batch) {
            int32_t len;
            int32_t *tk;
            if (pending) {
                tk = pending, len = pending_len, pending = NULL;
            } else {
                len = tokenize_text(s, texts[t], t, truncate, limit, &tk);
                if (len == 0) {
                    if (!ok) {
                        rc = -1;
                        break;
                    }
                    ok[t] = false;
                    for (int c = 0; c < d; c++) out[t * d + c] = NAN;
                    t++;
                    continue;
                }
            }
            if (nb > 0 && used + len > limit) { /* does not fit with the others: next batch */
                pending = tk, pending_len = len;
                break;
            }
            if (ok) ok[t] = true;
            tok[nb] = tk;
            spans[nb] = (lw_span){.tokens = tk, .n = len};
            in[nb] = (lw_seq_input){.seq = nb, .spans = &spans[nb], .n_spans = 1, .logits = LW_LOGITS_NONE};
            idx[nb++] = t++;
            used += len;
        }
        if (rc == 0 && nb > 0) {
            if (lw_session_run(s, in, nb) != 0) rc = -1;
            for (int q = 0; rc == 0 && q < nb; q++) {
                const float *e = llama_get_embeddings_seq(s->ctx, q);
                if (!e) rc = lw_fail("embed: llama.cpp returned no pooled embedding for text %lld", (long long)idx[q]);
                else memcpy(out + idx[q] * d, e, sizeof(float) * (size_t)d);
            }
            if (!s->no_memory) lw_session_clear(s, -1);
        }
        for (int q = 0; q < nb; q++) {
            free(tok[q]);
            tok[q] = NULL;
        }
    }
    free(pending);
    free(tok);
    free(idx);
    free(spans);
    free(in);
    return rc;
}
