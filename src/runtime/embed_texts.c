/* One row per text, in memory or through a resumable cache (lw_embed_texts; see
 * latentwire/extract.h). The cache is an ordinary sharded extraction
 * (lw_extract_texts_to_files with resume), so a killed run keeps every finished shard and
 * redoes only the rest, and its rows are read back from the shards' files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "latentwire/extract.h"
#include "latentwire/safetensors.h"

enum { BATCH_POOLED = 16 }; /* the model's pooling: short texts share a micro-batch */

lw_embed_texts_params lw_embed_texts_default_params(void) {
    lw_embed_texts_params p = {.layer = 0, .shard_texts = 256};
    return p;
}

static bool model_pooling(const lw_embed_texts_params *p) { return p->layer == LW_EMBED_LAYER_POOLED; }

static int embed_in_memory(lw_model *m, const char *const *texts, int64_t n, const lw_embed_texts_params *p,
                           float *out, bool *ok) {
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = p->n_threads;
    if (model_pooling(p)) {
        sp.embeddings = true;
        sp.n_seq_max = BATCH_POOLED;
    }
    lw_session *s = lw_session_new(m, sp);
    if (!s) return -1;
    int layer = p->layer;
    int rc = model_pooling(p) ? lw_embed_pooled(s, texts, n, true, out, ok)
                              : lw_extract_pooled(s, texts, n, true, true, &layer, 1, LW_POOL_MEAN, &out, ok);
    lw_session_free(s);
    return rc;
}

/* The rows of one cache shard into out (row_id r is kept text r, text index idx[r]). */
static int read_shard(const char *path, const char *tensor, int width, const int64_t *idx, int64_t n_kept,
                      float *out, bool *ok) {
    lw_st_file *f = lw_st_open(path);
    if (!f) return lw_fail_prefix("embedding cache: ");
    const lw_st_tensor *x = lw_st_find(f, tensor), *rid = lw_st_find(f, "row_id");
    int rc = 0;
    if (!x || !rid || x->dtype != LW_DT_F32 || x->n_dims != 2 || x->shape[1] != width || rid->dtype != LW_DT_I64 ||
        rid->n_dims != 1 || rid->shape[0] != x->shape[0])
        rc = lw_fail("embedding cache %s: no F32 [rows, %d] tensor %s with an I64 row_id of as many rows", path, width,
                     tensor);
    const int64_t *ids = rc == 0 ? rid->data : NULL;
    const float *rows = rc == 0 ? x->data : NULL;
    for (int64_t r = 0; rc == 0 && r < x->shape[0]; r++) {
        if (ids[r] < 0 || ids[r] >= n_kept) {
            rc = lw_fail("embedding cache %s: row_id %lld is not one of the %lld texts", path, (long long)ids[r],
                         (long long)n_kept);
            break;
        }
        memcpy(out + (size_t)idx[ids[r]] * width, rows + (size_t)r * width, sizeof(float) * (size_t)width);
        ok[idx[ids[r]]] = true;
    }
    lw_st_close(f);
    return rc;
}

/* The cache file's directory, created when missing (mkdir -p). */
static int make_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    return lw_mkdir_p(dir) == 0 ? 0 : lw_fail_prefix("embedding cache: ");
}

static int embed_cached(lw_model *m, const char *const *texts, int64_t n, const lw_embed_texts_params *p, float *out,
                        bool *ok) {
    lw_model_info info;
    lw_model_get_info(m, &info);
    /* a text with no tokens of its own is an error to the extraction, a missing row here */
    const char **kept = malloc(sizeof *kept * (size_t)(n ? n : 1));
    int64_t *idx = malloc(sizeof *idx * (size_t)(n ? n : 1)), n_kept = 0;
    if (!kept || !idx) {
        free(kept);
        free(idx);
        return lw_fail("out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        ok[i] = false;
        for (int c = 0; c < info.n_embd; c++) out[(size_t)i * info.n_embd + c] = NAN;
        if (lw_tokenize(m, texts[i], false, NULL, 0) != 0) kept[n_kept] = texts[i], idx[n_kept++] = i;
    }
    lw_extract_params ep = lw_extract_default_params();
    char site[32], tensor[32];
    if (model_pooling(p)) {
        ep.pool = LW_EXTRACT_POOL_MODEL;
        ep.batch = BATCH_POOLED;
        snprintf(tensor, sizeof tensor, "pooled");
    } else {
        /* "-1" in a site list is the last block: the embedding layer is named */
        snprintf(site, sizeof site, p->layer < 0 ? "embed" : "%d", p->layer);
        snprintf(tensor, sizeof tensor, p->layer < 0 ? "embed" : "layer.%d", p->layer);
        ep.sites = site;
        ep.batch = 1; /* as in memory: one text per batch, the same floats */
    }
    ep.shard_texts = p->shard_texts;
    ep.resume = true;
    ep.truncate = true;
    ep.skip_untokenizable = true;
    ep.n_threads = p->n_threads;
    ep.on_event = p->on_event;
    ep.user = p->user;
    lw_extract_result r;
    int rc = make_parent_dir(p->cache);
    if (rc == 0) rc = n_kept == 0 ? 0 : lw_extract_texts_to_files(m, kept, n_kept, p->cache, &ep, &r);
    for (int sh = 0; rc == 0 && n_kept > 0 && sh < r.n_shards; sh++) {
        char path[4096];
        lw_extract_shard_path(p->cache, sh, r.n_shards, path, sizeof path);
        rc = read_shard(path, tensor, info.n_embd, idx, n_kept, out, ok);
    }
    free(kept);
    free(idx);
    return rc;
}

int lw_embed_texts(lw_model *model, const char *const *texts, int64_t n, const lw_embed_texts_params *params,
                   float *out, bool *ok) {
    if (!model || !params || n < 0 || (n > 0 && (!texts || !out || !ok)))
        return lw_fail("embed: model, params, texts, out and ok are required");
    if (params->layer < LW_EMBED_LAYER_EMBED && params->layer != LW_EMBED_LAYER_POOLED)
        return lw_fail("embed: layer %d is neither a block index, the embedding layer (-1) nor the model's pooling",
                       params->layer);
    if (params->cache && params->shard_texts < 1)
        return lw_fail("embed: texts per cache shard %lld must be >= 1", (long long)params->shard_texts);
    return params->cache ? embed_cached(model, texts, n, params, out, ok) : embed_in_memory(model, texts, n, params, out, ok);
}
