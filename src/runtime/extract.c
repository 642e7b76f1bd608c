/* Pooled extraction in memory: many texts, several sites, one pooled row per text. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "runtime/internal.h"

/* Pools one sequence's captured rows (in position order within each micro-batch, but
 * interleaved with other sequences) into dst. */
static void pool_rows(const float *rows, const int32_t *seqs, const int32_t *pos, int n_rows, int seq, int d,
                      lw_pool pool, bool skip_bos, float *dst) {
    if (pool == LW_POOL_LAST) {
        int best = -1;
        for (int r = 0; r < n_rows; r++)
            if (seqs[r] == seq && (best < 0 || pos[r] > pos[best])) best = r;
        memcpy(dst, rows + (size_t)best * d, sizeof(float) * (size_t)d);
        return;
    }
    double *acc = calloc((size_t)d, sizeof(double));
    int used = 0;
    for (int r = 0; r < n_rows; r++) {
        if (seqs[r] != seq || (skip_bos && pos[r] == 0)) continue;
        const float *x = rows + (size_t)r * d;
        for (int c = 0; c < d; c++) acc[c] += x[c];
        used++;
    }
    for (int c = 0; c < d; c++) dst[c] = (float)(acc[c] / used);
    free(acc);
}

int lw_extract_pooled(lw_session *s, const char *const *texts, int64_t n, bool add_bos, bool truncate,
                      const int *layers, int n_layers, lw_pool pool, float *const *out, bool *ok) {
    if (!s) return lw_fail("extract: the session is NULL");
    if (n_layers < 1) return lw_fail("extract: n_layers = %d (need at least one layer to read)", n_layers);
    if (!layers) return lw_fail("extract: layers is NULL");
    for (int k = 0; k < n_layers; k++)
        if (layers[k] < -1 || layers[k] >= s->n_layer)
            return lw_fail("extract: layer %d is out of range (model has layers 0..%d)", layers[k], s->n_layer - 1);
    lw_site_ref *sites = malloc(sizeof *sites * (size_t)(n_layers > 0 ? n_layers : 1));
    if (!sites) return lw_fail("out of memory");
    for (int k = 0; k < n_layers; k++)
        sites[k] = layers[k] < 0 ? (lw_site_ref){LW_SITE_EMBED, -1} : (lw_site_ref){LW_SITE_RESID_POST, layers[k]};
    int rc = lw_extract_pooled_sites(s, texts, n, add_bos, truncate, sites, n_layers, pool, out, ok);
    free(sites);
    return rc;
}

int lw_extract_pooled_sites(lw_session *s, const char *const *texts, int64_t n, bool add_bos, bool truncate,
                            const lw_site_ref *sites, int n_layers, lw_pool pool, float *const *out, bool *ok) {
    if (!s) return lw_fail("extract: the session is NULL");
    /* a count below 0, no site or a pool outside its enum returned 0 with nothing computed */
    if (n < 0) return lw_fail("extract: n = %lld texts (need 0 or more)", (long long)n);
    if (n_layers < 1) return lw_fail("extract: n_sites = %d (need at least one site to read)", n_layers);
    if (pool != LW_POOL_MEAN && pool != LW_POOL_LAST)
        return lw_fail("extract: pool %d is neither LW_POOL_MEAN nor LW_POOL_LAST", (int)pool);
    if (!sites && n_layers > 0) return lw_fail("extract: sites is NULL");
    if (!texts && n > 0) return lw_fail("extract: texts is NULL");
    if (!out && n_layers > 0) return lw_fail("extract: out is NULL");
    for (int k = 0; k < n_layers && n > 0; k++)
        if (!out[k]) return lw_fail("extract: out[%d] is NULL", k);
    if (s->n_hooks) return lw_fail("extract: the session already has hooks installed");
    for (int k = 0; k < n_layers; k++) {
        lw_hook h = lw_hook_default();
        h.site = sites[k].site;
        h.layer = sites[k].site == LW_SITE_EMBED ? 0 : sites[k].layer;
        h.pos_mode = pool == LW_POOL_LAST ? LW_POS_LAST : LW_POS_ALL;
        if (lw_session_add_hook(s, &h) != k) {
            lw_fail_prefix("extract: ");
            lw_session_clear_hooks(s);
            return -1;
        }
    }
    const int batch = s->params.n_seq_max;
    /* position 0 is dropped from mean pooling only when it is a BOS this call added: a
     * tokenizer that adds none (SmolLM2, Qwen) keeps its first content token */
    const bool bos_added = add_bos && llama_vocab_get_add_bos(s->model->vocab) && llama_vocab_bos(s->model->vocab) >= 0;
    int32_t **tok = calloc((size_t)batch, sizeof *tok);
    int64_t *idx = calloc((size_t)batch, sizeof *idx);
    lw_span *spans = calloc((size_t)batch, sizeof *spans);
    lw_seq_input *in = calloc((size_t)batch, sizeof *in);
    int rc = tok && idx && spans && in ? 0 : lw_fail("out of memory");
    for (int64_t t = 0; rc == 0 && t < n;) {
        int nb = 0, used = 0;
        while (rc == 0 && t < n && nb < batch) {
            int32_t len = lw_tokenize_alloc(s->model, texts[t], add_bos, &tok[nb]);
            bool empty = len >= 0 && len <= (bos_added ? 1 : 0);
            if (empty) lw_fail("extract: text %lld is empty (no tokens to pool)", (long long)t);
            if (truncate && len > s->n_ctx) len = s->n_ctx;
            bool bad = empty || len < 0 || len > s->n_ctx;
            if (bad && !ok) {
                free(tok[nb]);
                tok[nb] = NULL;
                rc = empty    ? -1
                     : len < 0 ? lw_fail_prefix("extract: text %lld: ", (long long)t)
                               : lw_fail("extract: text %lld has %d tokens, more than the context (%d)", (long long)t,
                                         len, s->n_ctx);
                break;
            }
            if (bad) {
                ok[t] = false;
                for (int k = 0; k < n_layers; k++)
                    for (int c = 0, d = s->hooks[k].width; c < d; c++) out[k][t * d + c] = NAN;
                free(tok[nb]);
                tok[nb] = NULL;
                t++;
                continue;
            }
            if (nb > 0 && used + len > s->n_ctx) { /* does not fit with the others: next batch */
                free(tok[nb]);
                tok[nb] = NULL;
                break;
            }
            if (ok) ok[t] = true;
            spans[nb] = (lw_span){.tokens = tok[nb], .n = len};
            in[nb] = (lw_seq_input){.seq = nb, .spans = &spans[nb], .n_spans = 1, .logits = LW_LOGITS_NONE};
            idx[nb++] = t++;
            used += len;
        }
        if (rc == 0 && nb > 0 && lw_session_run(s, in, nb) != 0) rc = -1;
        for (int k = 0; rc == 0 && k < n_layers; k++) {
            const float *rows;
            const int32_t *seqs, *pos;
            int n_rows = lw_session_capture(s, k, &rows, &seqs, &pos);
            const int d = s->hooks[k].width;
            for (int q = 0; q < nb; q++)
                pool_rows(rows, seqs, pos, n_rows, q, d, pool, bos_added, out[k] + idx[q] * d);
        }
        lw_session_clear_captures(s);
        for (int q = 0; q < nb; q++) {
            free(tok[q]);
            tok[q] = NULL;
        }
    }
    free(tok);
    free(idx);
    free(spans);
    free(in);
    lw_session_clear_hooks(s);
    return rc;
}
