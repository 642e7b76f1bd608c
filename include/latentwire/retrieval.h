/* Retrieval evaluation with honest statistics.
 *
 * Queries Q (nq x d) are ranked against candidates C (nc x d) by cosine similarity.
 * Each query has a candidate set (the whole bank, or an explicit list) and a set of
 * relevant candidates with graded relevance (> 0).
 *
 * Ties: candidates with equal cosine are ordered with the LESS relevant first, then by
 * ascending candidate id (a pessimistic rule: a tie never helps the score, so a collapsed
 * representation cannot look good).
 *
 * Metrics per query (then averaged): top-1 (the first-ranked candidate is relevant),
 * recall@k (share of the relevant candidates in the top k), MRR@10 (1 / rank of the first
 * relevant candidate, 0 beyond 10), NDCG@10 = sum gain(rel) / log2(rank + 1), normalized by the
 * ideal ordering of the query's relevant set, with trec_eval's (and so BEIR's) linear gain
 * gain(rel) = rel by default, or the exponential gain 2^rel - 1 (Burges et al.) on request;
 * the two agree on binary relevance and differ on graded qrels.
 *
 * Confidence intervals (lw_ci_mean): exact Clopper-Pearson for proportions (a metric whose
 * per-query values are all 0 or 1: top-1, accuracy, recall@k with one relevant item), BCa
 * bootstrap over queries (seeded) for other means; a paired BCa bootstrap for the difference
 * between two conditions scored on the same queries. */
#ifndef LATENTWIRE_RETRIEVAL_H
#define LATENTWIRE_RETRIEVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "latentwire/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LW_RETRIEVAL_NOT_IN_BANK (-1)

/* Candidate and relevance lists in CSR form: entries of query q are [off[q], off[q+1]). */
typedef struct {
    int32_t n_queries;
    /* candidates per query; NULL offsets = every query sees the whole bank */
    const int64_t *cand_off;
    const int32_t *cand_ids;
    /* relevant candidates per query (must be among its candidates) with grades > 0; an id of
     * LW_RETRIEVAL_NOT_IN_BANK is a relevant item the bank lacks (a document the model could not
     * encode): never retrieved, but in recall's denominator and the ideal DCG, as trec_eval
     * counts a relevant document missing from a run */
    const int64_t *rel_off;
    const int32_t *rel_ids;
    const float *rel_grade; /* NULL = all 1 */
} lw_retrieval_task;

#define LW_MAX_RECALL_K 8

/* NDCG's gain of a relevance grade. */
typedef enum {
    LW_NDCG_GAIN_LINEAR = 0, /* gain = rel: trec_eval's ndcg_cut, BEIR (the default) */
    LW_NDCG_GAIN_EXP = 1,    /* gain = 2^rel - 1 */
} lw_ndcg_gain;

/* The NDCG gain of relevance grade g under kind: g (linear), or 2^g - 1 (exp; inf when g >= 1024,
 * which a caller refuses before scoring). */
double lw_ndcg_gain_value(lw_ndcg_gain kind, float g);

typedef struct {
    int n_k;
    int k[LW_MAX_RECALL_K]; /* recall@k cut-offs (default 1, 5, 10) */
    lw_ndcg_gain ndcg_gain; /* default LW_NDCG_GAIN_LINEAR */
    /* Cosine after subtracting the candidate bank's mean (the mean of all nc rows of C, no
     * labels used) from queries and candidates. Mean-pooled residual streams share a large
     * passage-independent direction that dominates raw cosine; centring removes it. Default
     * false. */
    bool center;
} lw_retrieval_params;

lw_retrieval_params lw_retrieval_default_params(void);

/* Number of per-query metric columns: top1, recall@k..., mrr10, ndcg10. */
int lw_retrieval_n_metrics(const lw_retrieval_params *p);
/* Column name ("top1", "recall@5", "mrr@10", "ndcg@10"); the pointer is static or owned by p. */
const char *lw_retrieval_metric_name(const lw_retrieval_params *p, int col, char *buf, int buf_len);

/* Scores every query; out is nq x n_metrics (row-major). Uses sgemm for the similarities,
 * in blocks so memory stays bounded for large banks. 0 or -1 (bad ids, NaN rows...). */
int lw_retrieval_score(const float *Q, const float *C, int32_t nc, int d, const lw_retrieval_task *task,
                       const lw_retrieval_params *p, double *out);

/* Metrics from one query's ranked list, for tests and callers with their own scores:
 * scores[i] of candidate ids[i] (n of them), relevant ids with grades. Fills out[n_metrics];
 * every metric is NaN for bad arguments (n < 0, NULL arrays) or a NaN score. */
void lw_retrieval_metrics_from_scores(const double *scores, const int32_t *ids, int n, const int32_t *rel_ids,
                                      const float *rel_grade, int n_rel, const lw_retrieval_params *p, double *out);

typedef struct {
    double mean, lo, hi; /* point estimate and interval */
    int n;               /* number of queries */
    const char *method;  /* static: "clopper-pearson", "bca" or "percentile" */
    /* Items in clusters (lw_ci_mean_clustered, lw_ci_paired_clustered): how many clusters and
     * the design effect the interval was widened by (n / deff items' worth of evidence; for 0/1
     * values with Korn and Graubard's degrees-of-freedom factor folded in); 0 and 1 for
     * independent items. */
    int n_clusters;
    double design_effect;
} lw_ci;

/* The interval reports use for the mean of v[0..n): when every v[i] is exactly 0 or 1 it is
 * a proportion and gets lw_ci_binomial (exact, keeps its coverage at 0 and 1, where a
 * bootstrap collapses to a point); otherwise lw_bootstrap_bca_mean. A constant non-binary v
 * still gets the degenerate [v, v]: no resampling method can see variance that the sample
 * does not show. */
int lw_ci_mean(const double *v, int n, int n_resamples, double level, uint64_t seed, lw_ci *out);

/* Exact (Clopper-Pearson) interval of a binomial proportion with x successes in n trials:
 * coverage >= level for every true p. */
int lw_ci_binomial(int x, int n, double level, lw_ci *out);

/* BCa (bias-corrected and accelerated) bootstrap CI of the mean of v[0..n). */
int lw_bootstrap_bca_mean(const double *v, int n, int n_resamples, double level, uint64_t seed, lw_ci *out);

/* Plain percentile bootstrap CI of the mean (n_resamples >= 1000 recommended). Kept for
 * comparison: it collapses to a point for proportions at 0 or 1; reports use lw_ci_mean. */
int lw_bootstrap_mean(const double *v, int n, int n_resamples, double level, uint64_t seed, lw_ci *out);

/* Paired bootstrap of mean(a - b) over the same n queries, BCa interval; p_value is the
 * two-sided p that inverts that interval (p <= 1 - level exactly when it excludes 0, up to the
 * resampling grid), never below 2 / (n_resamples + 1) nor 2^(1 - n) (no test on n pairs can go
 * lower: 2 queries that differ the same way give 0.5, not 0). */
int lw_bootstrap_paired(const double *a, const double *b, int n, int n_resamples, double level, uint64_t seed,
                        lw_ci *diff, double *p_value);

/* The interval reports use for a paired difference mean(a - b) on the same n items: when every
 * a[i] and b[i] is 0 or 1 (accuracy, top-1) Newcombe's hybrid score interval for paired
 * proportions (his method 10: Wilson intervals of both proportions, combined with the pairs'
 * correlation), which keeps its coverage where every item differs the same way (a bootstrap
 * then collapses to a point), with McNemar's exact p (binomial test on the discordant pairs);
 * with no discordant pair at all (where Newcombe's interval can itself collapse to 0) at
 * least +-(the exact upper bound on the discordance rate, 1 - ((1 - level) / 2)^(1/n));
 * otherwise lw_bootstrap_paired (BCa, bootstrap p). */
int lw_ci_paired(const double *a, const double *b, int n, int n_resamples, double level, uint64_t seed, lw_ci *diff,
                 double *p_value);

/* Intervals for items that are not independent. cluster[i] names item i's cluster (any int;
 * equal ints, one cluster): a sentence and its role swap, which share every word; the tokens of
 * one text; the paraphrases of one target. Treating n correlated items as n independent ones
 * makes an interval too short. For 0/1 values the interval is the independent one (Clopper-
 * Pearson; Newcombe and McNemar for pairs) on the effective sample n / deff, where deff, Kish's
 * design effect, is the variance of the mean under cluster sampling (the linearized ratio
 * estimator over clusters) over its variance under independent sampling (Korn and Graubard
 * 1998), divided by their degrees-of-freedom factor (t_{e-1} / t_{k-1})^2 at the level (e =
 * n / deff, k clusters: the variance was estimated on k - 1 degrees of freedom; never past the
 * top below; since 2026-12-05). deff is clamped to [1, sum m^2 / sum m] (m:
 * cluster sizes): clustering never narrows an interval, and the upper end, deff when every
 * cluster's items agree, is taken where the sample shows no variance (a proportion at 0 or 1;
 * every pair differing the same way), so the boundaries keep their coverage as though each
 * cluster were one item (before the factor). For pairs deff is the largest of a's, b's and (a - b)'s. Other values
 * get a cluster bootstrap (whole clusters resampled; BCa interval, its acceleration from the
 * leave-one-cluster-out jackknife, method "cluster-bca"; for pairs the
 * two-sided p as lw_bootstrap_paired, its floor 2^(1 - clusters)). With every cluster of one item the intervals equal
 * lw_ci_mean's and lw_ci_paired's. */
int lw_ci_mean_clustered(const double *v, const int *cluster, int n, int n_resamples, double level, uint64_t seed,
                         lw_ci *out);
int lw_ci_paired_clustered(const double *a, const double *b, const int *cluster, int n, int n_resamples, double level,
                           uint64_t seed, lw_ci *diff, double *p_value);

/* Candidate regimes. Each builds CSR candidate lists (malloc'd *off, *ids; caller frees)
 * for nq queries whose target candidate is gold[q]; the target is always included. */
/* target + D distinct distractors drawn uniformly from the other candidates */
int lw_candidates_random(int32_t nq, const int32_t *gold, int32_t nc, int D, uint64_t seed, int64_t **off,
                         int32_t **ids);
/* target + up to D distractors drawn from candidates with the same label (all of them when D <= 0) */
int lw_candidates_same_label(int32_t nq, const int32_t *gold, int32_t nc, const int32_t *labels, int D, uint64_t seed,
                             int64_t **off, int32_t **ids);
/* target + up to D distractors from the target's k-means cluster of the candidate rows C */
int lw_candidates_clustered(int32_t nq, const int32_t *gold, const float *C, int32_t nc, int d, int n_clusters, int D,
                            uint64_t seed, int64_t **off, int32_t **ids);

/* Summary of CSR candidate lists (off[nq + 1], NULL = every query sees the whole bank of nc):
 * *mean_count = the mean list length; *n_alone = the queries whose list holds at most one
 * candidate (the target alone: ranked first for free, so a regime that leaves queries alone
 * inflates top-1), *first_alone = the first of them (-1 when none). */
void lw_candidates_summary(int32_t nq, const int64_t *off, int32_t nc, double *mean_count, int32_t *n_alone,
                           int32_t *first_alone);

/* A regime from its spec, the way `retrieval --regime` names it:
 *   bank          every candidate (*off = *ids = NULL)
 *   random:D      the target + D distinct random others
 *   cluster:K:D   the target + up to D others from its k-means cluster (K clusters of C)
 *   label:FILE    the candidates sharing the target's label (lines {"row_id": R, "label": L})
 *   hard:FILE     the target + its listed negatives (lines {"row_id": R, "negatives": [R1, ...]})
 *   para:FILE:D   the target + its listed negatives (e.g. its paraphrases) + D random others:
 *                 the paraphrase-adjacent regime
 * Files name rows by row id (queries' in query_row_id, candidates' in cand_row_id). A spec that
 * leaves a query with its target alone is refused (message names the file and the first such
 * query); *mean_candidates gets the mean list length. 0 or -1. */
typedef struct {
    int32_t nq;
    const int32_t *gold;          /* query q's target: a candidate position */
    const int64_t *query_row_id;  /* nq, for file regimes (else may be NULL) */
    int32_t nc;
    const int64_t *cand_row_id;   /* nc, for file regimes */
    const float *C;               /* nc x dim candidate vectors, for cluster: */
    int dim;
    uint64_t seed;
} lw_regime_input;

int lw_candidates_from_spec(const char *spec, const lw_regime_input *in, int64_t **off, int32_t **ids,
                            double *mean_candidates);
/* The same, with the option the spec came from (e.g. "--control") named in its errors instead
 * of "--regime". */
int lw_candidates_from_option(const char *option, const char *spec, const lw_regime_input *in, int64_t **off,
                              int32_t **ids, double *mean_candidates);
/* The file a label:/hard:/para: spec reads: 1 with its name in buf, 0 for other specs (and a NULL
 * spec; buf ""), -1 with the message set when buf is NULL or n too small for the whole name. */
int lw_regime_file(const char *spec, char *buf, size_t n);

/* BEIR layout: corpus.jsonl ({"_id","title","text"}), queries.jsonl ({"_id","text"}),
 * qrels/<split>.tsv (query-id, corpus-id, score; with or without a header line: a first
 * line whose score field is not a number is the header). Only queries that appear
 * in the qrels are kept. */
typedef struct {
    int32_t n_docs;
    char **doc_id, **doc_text;  /* title + " " + text */
    int32_t n_queries;
    char **query_id, **query_text;
    int64_t *rel_off;           /* per kept query, CSR into rel_doc / rel_grade */
    int32_t *rel_doc;
    float *rel_grade;
} lw_beir;

int lw_beir_load(const char *dir, const char *split, lw_beir *out);
void lw_beir_free(lw_beir *b);

/* A seeded subsample of b, in place, for a quick run (as NanoBEIR-style subsets are made):
 * max_queries queries drawn uniformly without replacement (0, or at least n_queries: all), then
 * every document the qrels judge for a kept query, then documents drawn uniformly from the rest
 * until the corpus holds max_docs (0, or at least n_docs: all). Kept queries and documents stay in
 * file order and the qrels follow them. The drawn distractors are easier than a full corpus's
 * nearest neighbours, so scores on a sample run higher than on the whole set: report it as a
 * sample. -1 (message) when the kept queries judge more than max_docs documents; b is unchanged
 * then. The same set, sizes and seed always give the same sample. */
int lw_beir_subsample(lw_beir *b, int32_t max_queries, int32_t max_docs, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif
