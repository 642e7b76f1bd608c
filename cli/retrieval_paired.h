/* Per-query retrieval records (JSONL) and the paired comparison of two runs. */
#ifndef LW_CLI_RETRIEVAL_PAIRED_H
#define LW_CLI_RETRIEVAL_PAIRED_H

#include <stdint.h>

#include "latentwire/retrieval.h"

/* One line per scored query: {"query": ID, "metrics": {"recall@1": x, ...}}; atomic. 0 or -1. */
int retrieval_write_per_query(const char *path, char *const *query_ids, const int32_t *kept_q, int n_kept,
                              const double *m, const lw_retrieval_params *rp);

/* Joins two per-query files by query id, prints and (json_out) saves every shared metric's
 * mean with its CI for each run and the paired bootstrap CI of A - B, with n. 0 or -1. */
int retrieval_paired(const char *path_a, const char *path_b, int resamples, uint64_t seed, const char *json_out);

#endif
