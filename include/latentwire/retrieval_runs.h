/* Per-query retrieval records and the paired comparison of two runs on the same queries (e.g. a
 * sentence encoder against a bridged language model on one BEIR set): what `retrieval --beir
 * --per-query FILE` writes and `retrieval --paired A B` reads. */
#ifndef LATENTWIRE_RETRIEVAL_RUNS_H
#define LATENTWIRE_RETRIEVAL_RUNS_H

#include <stdint.h>

#include <jansson.h>

#include "latentwire/retrieval.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One JSON line per scored query, {"metrics": {"recall@1": x, ...}, "query": ID}: row q of m (n x
 * lw_retrieval_n_metrics(rp), as lw_retrieval_score fills it) for query_ids[q]. Written whole or
 * not at all (a temporary, then a rename). 0 or -1 (message set). */
int lw_retrieval_write_per_query(const char *path, const char *const *query_ids, int n, const double *m,
                                 const lw_retrieval_params *rp);

/* Joins two per-query files by query id and compares every metric both carry on the shared
 * queries: each run's mean with its 95% bootstrap CI and the paired bootstrap CI of A - B with
 * its p (lw_ci_mean, lw_ci_paired; `resamples`, `seed`). A new object, the caller's to
 * json_decref: {"a": path_a, "b": path_b, "n_paired", "n_only_a", "n_only_b", "resamples",
 * "metrics": {NAME: {"a": CI, "b": CI, "a_minus_b": CI + "p"}}} (metrics in A's order); NULL
 * (message naming the file and line) for an unreadable file, a line that is not a per-query
 * record, a query id given twice in one file, or no shared query. */
json_t *lw_retrieval_paired(const char *path_a, const char *path_b, int resamples, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif
