/* retrieval on a BEIR directory (see retrieval_runs.h): two models embed queries and documents
 * (through the resumable cache when asked), a bridge maps them, and every metric gets its CI;
 * moved from the CLI so that `retrieval --beir` is one library call. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "latentwire/bridge.h"
#include "latentwire/files.h"
#include "latentwire/retrieval_runs.h"

lw_retrieval_beir_params lw_retrieval_beir_default_params(void) {
    return (lw_retrieval_beir_params){
        .split = "test", .model = lw_model_default_params(), .resamples = 1000, .seed = 1, .sample_seed = 1};
}

static const char *layer_tensor(int layer, char *buf, size_t n) {
    if (layer == LW_EMBED_LAYER_POOLED) snprintf(buf, n, "pooled");
    else if (layer < 0) snprintf(buf, n, "embed");
    else snprintf(buf, n, "layer.%d", layer);
    return buf;
}

/* The bridge's widths against the models' (from their GGUF headers), and the tensors, models and
 * pooling it was fitted on against these, before embedding. 0 or -1. */
static int check_models(const lw_retrieval_beir_params *p, const lw_bridge *br) {
    int ws, wt;
    if (lw_model_peek_width(p->source_model, &ws) != 0 || lw_model_peek_width(p->target_model, &wt) != 0) return -1;
    if (br && (lw_bridge_source_dim(br) != ws || lw_bridge_target_dim(br) != wt))
        return lw_fail("%s maps %d -> %d but the models have widths %d and %d", p->bridge, lw_bridge_source_dim(br),
                       lw_bridge_target_dim(br), ws, wt);
    if (!br && ws != wt) return lw_fail("the models have widths %d and %d: give a --bridge", ws, wt);
    if (!br) return 0;
    char ts[32], tt[32], hs[65], ht[65];
    if (lw_sha256_file(p->source_model, hs) != 0 || lw_sha256_file(p->target_model, ht) != 0) return -1;
    /* the rows embedded here: mean-pooled, or the model's own pooling (extract's --pool model) */
    const char *ps = p->source_layer == LW_EMBED_LAYER_POOLED ? "model" : "mean",
               *pt = p->target_layer == LW_EMBED_LAYER_POOLED ? "model" : "mean";
    if (lw_bridge_check_fit(br, "source", layer_tensor(p->source_layer, ts, sizeof ts), hs, ps) == 0 &&
        lw_bridge_check_fit(br, "target", layer_tensor(p->target_layer, tt, sizeof tt), ht, pt) == 0)
        return 0;
    char why[512]; /* lw_fail writes the buffer lw_last_error reads */
    snprintf(why, sizeof why, "%s", lw_last_error());
    return lw_fail("%s: %s", p->bridge, why);
}

typedef struct {
    const lw_retrieval_beir_params *p;
    const char *texts;
} event_ctx;

static void forward_event(const lw_extract_event *e, void *user) {
    const event_ctx *c = user;
    if (c->p->on_event) c->p->on_event(c->texts, e, c->p->user);
}

/* Texts embedded by one model (lw_embed_texts), through the cache DIR/<name>.safetensors when
 * asked. Rows of texts it cannot encode are flagged in ok. */
static float *embed(const lw_retrieval_beir_params *p, const char *model_path, int layer, const char *name,
                    char *const *texts, int32_t n, bool *ok, int *d) {
    lw_model *m = lw_model_load(model_path, p->model);
    if (!m) return NULL;
    lw_model_info info;
    lw_model_get_info(m, &info);
    *d = info.n_embd;
    float *out = malloc(sizeof(float) * (size_t)(n ? n : 1) * info.n_embd);
    char cache[4096];
    snprintf(cache, sizeof cache, "%s/%s.safetensors", p->cache ? p->cache : "", name);
    event_ctx ctx = {p, name};
    lw_embed_texts_params ep = lw_embed_texts_default_params();
    ep.layer = layer;
    ep.n_threads = p->n_threads;
    ep.cache = p->cache ? cache : NULL;
    if (p->shard_texts > 0) ep.shard_texts = p->shard_texts;
    ep.on_event = forward_event;
    ep.user = &ctx;
    int rc = out ? lw_embed_texts(m, (const char *const *)texts, n, &ep, out, ok) : lw_fail("retrieval: out of memory");
    lw_model_free(m);
    if (rc != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* The scored task after the drops: kept queries' rows and relevance lists, documents renumbered. */
typedef struct {
    int32_t kept, n_docs;
    int64_t n_rel_missed;  /* qrels pairs whose document the target could not encode (misses) */
    int32_t *kept_q, *rel_ids;
    int64_t *rel_off;
    float *rel_g, *Qk;
} scored_set;

static void scored_free(scored_set *s) {
    free(s->kept_q), free(s->rel_ids), free(s->rel_off), free(s->rel_g), free(s->Qk);
}

/* Drops documents the target cannot encode (compacting Xd; their qrels stay, as misses) and
 * queries the source cannot encode. 0 or -1. */
static int drop_unencodable(const lw_beir *b, const bool *okq, const bool *okd, float *Xd, int dd, const float *Q,
                            int dim, scored_set *s) {
    int32_t *new_id = malloc(sizeof(int32_t) * (size_t)(b->n_docs ? b->n_docs : 1));
    s->rel_off = malloc(sizeof(int64_t) * (size_t)(b->n_queries + 1));
    s->Qk = malloc(sizeof(float) * (size_t)(b->n_queries ? b->n_queries : 1) * dim);
    s->kept_q = malloc(sizeof(int32_t) * (size_t)(b->n_queries ? b->n_queries : 1));
    s->rel_ids = malloc(sizeof(int32_t) * (size_t)(b->rel_off[b->n_queries] + 1));
    s->rel_g = malloc(sizeof(float) * (size_t)(b->rel_off[b->n_queries] + 1));
    if (!new_id || !s->rel_off || !s->Qk || !s->kept_q || !s->rel_ids || !s->rel_g) {
        free(new_id);
        return lw_fail("retrieval: out of memory");
    }
    s->n_docs = 0;
    for (int32_t i = 0; i < b->n_docs; i++) {
        new_id[i] = okd[i] ? s->n_docs : -1;
        if (okd[i]) memmove(Xd + (size_t)s->n_docs++ * dd, Xd + (size_t)i * dd, sizeof(float) * dd);
    }
    s->rel_off[0] = 0;
    s->kept = 0;
    int64_t nr = 0;
    for (int32_t q = 0; q < b->n_queries; q++) {
        if (!okq[q]) continue;
        int64_t start = nr;
        for (int64_t k = b->rel_off[q]; k < b->rel_off[q + 1]; k++) {
            /* a relevant document the target could not encode stays relevant and is never retrieved
             * (trec_eval's reading of a relevant document missing from a run): dropping it from the
             * qrels would raise recall and NDCG */
            s->rel_ids[nr] = new_id[b->rel_doc[k]] >= 0 ? new_id[b->rel_doc[k]] : LW_RETRIEVAL_NOT_IN_BANK;
            s->n_rel_missed += new_id[b->rel_doc[k]] < 0;
            s->rel_g[nr++] = b->rel_grade[k];
        }
        if (nr == start) continue; /* no relevant document in the qrels */
        memcpy(s->Qk + (size_t)s->kept * dim, Q + (size_t)q * dim, sizeof(float) * dim);
        s->kept_q[s->kept] = q;
        s->rel_off[++s->kept] = nr;
    }
    free(new_id);
    return 0;
}

/* The candidate set's name in the per-query records: the sha256 of the set's (or sample's)
 * document ids in order, one per line, before any drop (a document the target cannot encode stays
 * a candidate, missed), so two runs on the same set or the same sample share it; then, in words,
 * its size and whether it is a sample (which a paired comparison of two runs then shows). 0 or -1. */
enum { CORPUS_ID = 200 };
static int corpus_id(const lw_beir *b, const lw_retrieval_beir_params *p, int32_t of_queries, int32_t of_docs,
                     char out[CORPUS_ID]) {
    lw_sha256 *h = lw_sha256_begin();
    int rc = h ? 0 : lw_fail("retrieval: out of memory");
    for (int32_t i = 0; rc == 0 && i < b->n_docs; i++)
        if (lw_sha256_update(h, b->doc_id[i], strlen(b->doc_id[i])) != 0 || lw_sha256_update(h, "\n", 1) != 0) rc = -1;
    char hex[65];
    if (rc != 0) {
        lw_sha256_free(h);
        return rc;
    }
    if (lw_sha256_end(h, hex) != 0) return -1;
    if (b->n_docs < of_docs || b->n_queries < of_queries)
        snprintf(out, CORPUS_ID, "sha256:%s (a sample, seed %llu: %d of %d documents, %d of %d queries)", hex,
                 (unsigned long long)p->sample_seed, (int)b->n_docs, (int)of_docs, (int)b->n_queries, (int)of_queries);
    else snprintf(out, CORPUS_ID, "sha256:%s (%d documents)", hex, (int)b->n_docs);
    return 0;
}

json_t *lw_retrieval_beir_run(const lw_retrieval_beir_params *p) {
    if (!p || !p->beir || !p->source_model || !p->target_model) {
        lw_fail("lw_retrieval_beir_run: %s", !p ? "params is NULL" : "params need the BEIR directory and both models");
        return NULL;
    }
    lw_retrieval_params rp = lw_retrieval_default_params();
    rp.ndcg_gain = p->ndcg_gain;
    rp.center = p->center;
    if (lw_retrieval_n_metrics(&rp) < 0) return NULL; /* before a minute of embedding */
    lw_beir b;
    if (lw_beir_load(p->beir, p->split ? p->split : "test", &b) != 0) return NULL;
    int32_t of_queries = b.n_queries, of_docs = b.n_docs;
    bool sampled = p->sample_queries || p->sample_docs;
    if (sampled && lw_beir_subsample(&b, p->sample_queries, p->sample_docs, p->sample_seed) != 0) {
        lw_fail_prefix("%s: ", p->beir);
        lw_beir_free(&b);
        return NULL;
    }
    int rc = 0, dq = 0, dd = 0, dim = 0, dimc;
    bool *okq = calloc((size_t)(b.n_queries ? b.n_queries : 1), sizeof(bool)),
         *okd = calloc((size_t)(b.n_docs ? b.n_docs : 1), sizeof(bool));
    lw_bridge *br = NULL;
    float *Xq = NULL, *Xd = NULL, *Q = NULL, *C = NULL;
    double *m = NULL;
    json_t *root = NULL;
    scored_set s = {0};
    if (!okq || !okd) rc = lw_fail("retrieval: out of memory");
    for (int32_t q = 0; rc == 0 && p->ndcg_gain == LW_NDCG_GAIN_EXP && q < b.n_queries; q++)
        for (int64_t k = b.rel_off[q]; rc == 0 && k < b.rel_off[q + 1]; k++)
            if (!isfinite(lw_ndcg_gain_value(p->ndcg_gain, b.rel_grade[k]))) /* before any embedding */
                rc = lw_fail("%s/qrels/%s.tsv: query %s, document %s: grade %g makes the exponential NDCG gain 2^g - 1 "
                             "overflow (grades must stay below 1024); use --ndcg-gain linear", p->beir,
                             p->split ? p->split : "test", b.query_id[q], b.doc_id[b.rel_doc[k]], (double)b.rel_grade[k]);
    if (rc == 0 && p->bridge && !(br = lw_bridge_load(p->bridge))) rc = -1;
    if (rc == 0) rc = check_models(p, br);
    if (rc == 0 && !(Xq = embed(p, p->source_model, p->source_layer, "queries", b.query_text, b.n_queries, okq, &dq)))
        rc = -1;
    if (rc == 0 && !(Xd = embed(p, p->target_model, p->target_layer, "corpus", b.doc_text, b.n_docs, okd, &dd)))
        rc = -1;
    if (rc == 0 && !(Q = lw_bridge_map_rows(br, true, Xq, b.n_queries, dq, &dim))) rc = -1;
    if (rc == 0) rc = drop_unencodable(&b, okq, okd, Xd, dd, Q, dim, &s);
    if (rc == 0 && s.n_docs == 0) rc = lw_fail("%s: the target model cannot encode any document", p->beir);
    if (rc == 0 && s.kept == 0) rc = lw_fail("%s: no query is left to score", p->beir);
    if (rc == 0 && !(C = lw_bridge_map_rows(br, false, Xd, s.n_docs, dd, &dimc))) rc = -1;
    if (rc == 0 && !(m = malloc(sizeof(double) * (size_t)s.kept * lw_retrieval_n_metrics(&rp))))
        rc = lw_fail("retrieval: out of memory");
    lw_retrieval_task task = {.n_queries = s.kept, .rel_off = s.rel_off, .rel_ids = s.rel_ids, .rel_grade = s.rel_g};
    if (rc == 0) rc = lw_retrieval_score(s.Qk, C, s.n_docs, dim, &task, &rp, m);
    if (rc == 0 && p->per_query) {
        const char **ids = malloc(sizeof *ids * (size_t)s.kept);
        for (int32_t q = 0; ids && q < s.kept; q++) ids[q] = b.query_id[s.kept_q[q]];
        char corpus[CORPUS_ID];
        rc = ids ? corpus_id(&b, p, of_queries, of_docs, corpus) : lw_fail("retrieval: out of memory");
        if (rc == 0) rc = lw_retrieval_write_per_query_corpus(p->per_query, corpus, ids, s.kept, m, &rp);
        free(ids);
    }
    if (rc == 0) {
        json_t *metrics = lw_retrieval_summarize(m, s.kept, &rp, p->resamples, p->seed);
        root = metrics ? json_object() : NULL;
        json_object_set_new(root, "metrics", metrics);
        json_object_set_new(root, "condition", json_string(br ? "bridge" : "raw"));
        json_object_set_new(root, "n_queries", json_integer(s.kept));
        json_object_set_new(root, "n_queries_total", json_integer(b.n_queries));
        json_object_set_new(root, "n_queries_dropped", json_integer(b.n_queries - s.kept));
        json_object_set_new(root, "n_docs", json_integer(s.n_docs));
        json_object_set_new(root, "n_docs_total", json_integer(b.n_docs));
        json_object_set_new(root, "n_docs_untokenizable", json_integer(b.n_docs - s.n_docs));
        json_object_set_new(root, "n_relevant_unencoded", json_integer(s.n_rel_missed));
        json_object_set_new(root, "ndcg_gain", json_string(p->ndcg_gain == LW_NDCG_GAIN_EXP ? "exp" : "linear"));
        json_object_set_new(root, "center", json_boolean(p->center));
        json_object_set_new(root, "resamples", json_integer(p->resamples));
        json_object_set_new(root, "seed", json_integer((json_int_t)p->seed));
        json_object_set_new(root, "sample",
                            sampled ? json_pack("{s:i, s:i, s:i, s:i, s:I}", "queries", (int)b.n_queries, "docs",
                                                (int)b.n_docs, "of_queries", (int)of_queries, "of_docs", (int)of_docs,
                                                "seed", (json_int_t)p->sample_seed)
                                    : json_null());
    }
    scored_free(&s);
    free(okq), free(okd), free(Xq), free(Xd), free(Q), free(C), free(m);
    lw_bridge_free(br);
    lw_beir_free(&b);
    return root;
}
