/* Per-query retrieval records and the paired comparison of two runs on the same queries (e.g. a
 * sentence encoder against a bridged language model on one BEIR set): what `retrieval --beir
 * --per-query FILE` writes and `retrieval --paired A B` reads. */
#ifndef LATENTWIRE_RETRIEVAL_RUNS_H
#define LATENTWIRE_RETRIEVAL_RUNS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "latentwire/extract.h"
#include "latentwire/retrieval.h"
#include "latentwire/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One JSON line per scored query, {"metrics": {"recall@1": x, ...}, "query": ID}: row q of m (n x
 * lw_retrieval_n_metrics(rp), as lw_retrieval_score fills it) for query_ids[q]. Written whole or
 * not at all (a temporary, then a rename). What lw_retrieval_paired would refuse to read is refused
 * before anything is written: no queries, a metric outside [0, 1] (NaN too), a missing or empty id,
 * an id twice. 0 or -1 (message set). */
int lw_retrieval_write_per_query(const char *path, const char *const *query_ids, int n, const double *m,
                                 const lw_retrieval_params *rp);
/* The same, each record also naming the candidate set its query was ranked in ("corpus": an id up
 * to its first space, then words; lw_retrieval_beir_run writes "sha256:HEX (...)", the sha256 of
 * the set's or sample's document ids and its sizes; NULL: none), so that lw_retrieval_paired
 * refuses two runs ranked in different sets (another sample, another corpus), whose queries share
 * ids but not a task. */
int lw_retrieval_write_per_query_corpus(const char *path, const char *corpus, const char *const *query_ids, int n,
                                        const double *m, const lw_retrieval_params *rp);

/* Joins two per-query files by query id and compares every metric both carry on the shared
 * queries: each run's mean with its 95% bootstrap CI and the paired bootstrap CI of A - B with
 * its p (lw_ci_mean, lw_ci_paired; `resamples`, `seed`). Files whose records name different
 * candidate sets ("corpus", lw_retrieval_write_per_query_corpus) are refused; the object's "corpus"
 * is the shared one, or null when either file names none. A new object, the caller's to
 * json_decref: {"a": path_a, "b": path_b, "n_paired", "n_only_a", "n_only_b", "resamples",
 * "metrics": {NAME: {"a": CI, "b": CI, "a_minus_b": CI + "p"}}} (metrics in A's order); NULL
 * (message naming the file and line) for an unreadable file, a line that is not a per-query
 * record, a query id given twice in one file, or no shared query. */
json_t *lw_retrieval_paired(const char *path_a, const char *path_b, int resamples, uint64_t seed);

/* The metrics of n scored queries (m: n x lw_retrieval_n_metrics(rp), as lw_retrieval_score fills
 * it) summarized: {METRIC: CI} in column order, each lw_ci_mean's 95% interval (Clopper-Pearson for
 * proportions, else BCa with `resamples`, `seed`). A new object; NULL (message naming the metric)
 * when a metric cannot be summarized (a value that is not finite), for n < 1 or m NULL, or out of
 * memory. */
json_t *lw_retrieval_summarize(const double *m, int64_t n, const lw_retrieval_params *rp, int resamples, uint64_t seed);

/* `retrieval --queries ... --candidates ...`: activation files scored as a retrieval task. */
typedef struct {
    const char *queries, *query_tensor;        /* extract's files (or shard sets) and tensors */
    const char *candidates, *candidate_tensor; /* a query's target is the candidate of its row id */
    const char *bridge;  /* NULL: raw cosine (same width); else queries by its source side, candidates by its target */
    const char *compare; /* a second bridge scored on the same queries, paired (NULL: none) */
    const char *regime;  /* candidate lists (lw_candidates_from_spec; default "bank") */
    const char *control; /* a second regime on the same queries and vectors, paired (NULL: none) */
    lw_ndcg_gain ndcg_gain;
    bool center;   /* cosine after removing the candidate bank's mean */
    int resamples; /* bootstrap resamples (default 1000) */
    uint64_t seed; /* default 1 */
    int threads;   /* BLAS threads of the scoring (process-wide in OpenBLAS); 0: every core */
} lw_retrieval_files_params;

lw_retrieval_files_params lw_retrieval_files_default_params(void);

/* Joins the two files' rows by row id, maps them through the bridge(s) after checking that each
 * was fitted on these tensors, models and pooling (lw_bridge_check_fit), draws the regime's
 * candidate lists and scores every metric with 95% CIs. A new object (json_decref it):
 * {"raw" or "bridge": {METRIC: CI}, "compare" and "control": the same for those conditions,
 * "difference": {METRIC: CI + "p_value"} (condition minus compare or control, paired),
 * "queries_in_bridge_calibration": how many queries are rows the bridge was fitted on (when its
 * record says, for these texts), "unchecked_files": the files a bridge was used on that carry no
 * latentwire metadata (nothing to check), "regime", "control_regime",
 * "control_mean_candidates_per_query", "n_queries", "n_query_rows_without_target" (query rows no candidate shares a row id with: not
 * scored), "n_candidates", "mean_candidates_per_query",
 * "ndcg_gain", "center", "resamples", "seed"}. NULL (message naming the file or option) on error. */
json_t *lw_retrieval_files_run(const lw_retrieval_files_params *p);

/* `retrieval --beir DIR`: a model pair as a retriever on a BEIR directory (lw_beir_load). */
typedef struct {
    const char *beir, *split;                 /* the directory and its qrels split (default "test") */
    const char *source_model, *target_model;  /* GGUF files: queries by the source, documents by the target */
    int source_layer, target_layer;           /* lw_embed_texts_params.layer (a block, EMBED or POOLED) */
    const char *bridge;                       /* NULL: raw cosine (same width) */
    lw_model_params model;                    /* how both models load (n_gpu_layers ...) */
    int n_threads;                            /* 0 = all cores */
    const char *cache;                        /* DIR for resumable embeddings (queries/corpus.safetensors), or NULL */
    int64_t shard_texts;                      /* texts per cache shard (0: lw_embed_texts' default) */
    const char *per_query;                    /* lw_retrieval_write_per_query's file, or NULL */
    lw_ndcg_gain ndcg_gain;
    bool center;
    int resamples;                            /* default 1000 */
    uint64_t seed;                            /* default 1 */
    /* a seeded subsample of the set before any embedding (lw_beir_subsample): at most
     * sample_queries queries and sample_docs documents (0: all, the default), drawn with sample_seed */
    int32_t sample_queries, sample_docs;
    uint64_t sample_seed;                     /* default 1 */
    /* the embedding's reports (progress, cache shards kept, made again, removed); texts is
     * "queries" or "corpus"; NULL: none */
    void (*on_event)(const char *texts, const lw_extract_event *event, void *user);
    void *user;
} lw_retrieval_beir_params;

lw_retrieval_beir_params lw_retrieval_beir_default_params(void);

/* Checks the bridge against the models (widths from their headers, then the tensors, files'
 * sha256 and pooling it was fitted on) before any embedding; embeds queries and documents;
 * documents the target model cannot encode leave the corpus but stay in the qrels, as relevant
 * documents never retrieved (LW_RETRIEVAL_NOT_IN_BANK: recall and NDCG count them, as trec_eval
 * counts a relevant document missing from a run), and a query the source cannot encode is dropped
 * (counted). A new object: {"metrics": {METRIC: CI}, "condition": "bridge" | "raw", "n_queries"
 * (scored), "n_queries_total", "n_queries_dropped", "n_docs", "n_docs_total",
 * "n_docs_untokenizable", "n_relevant_unencoded" (qrels pairs scored as misses that way),
 * "ndcg_gain", "center", "resamples", "seed", "sample": null, or {"queries", "docs" (the sample's
 * sizes, which the _total counts then are), "of_queries", "of_docs" (the whole set's), "seed"}};
 * NULL (message) on error. */
json_t *lw_retrieval_beir_run(const lw_retrieval_beir_params *p);

#ifdef __cplusplus
}
#endif
#endif
