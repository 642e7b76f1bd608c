/* A seeded subsample of a loaded BEIR set (lw_beir_subsample; see latentwire/retrieval.h): the
 * queries drawn first, then every document they judge, then random others up to the corpus size.
 * A quick run over the sample keeps each sampled query's whole judged set, so its metrics mean
 * what they mean on the full set, against a smaller (and easier) pool of distractors. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"
#include "latentwire/retrieval.h"

/* keep[i] for n items: `want` of them drawn uniformly without replacement from those not yet kept
 * (Fisher-Yates on their indices); the rest stay as they are. */
static int draw(bool *keep, int32_t n, int32_t want, lw_rng *rng) {
    int32_t *free_idx = malloc(sizeof(int32_t) * (size_t)(n ? n : 1)), m = 0;
    if (!free_idx) return lw_fail("lw_beir_subsample: out of memory");
    for (int32_t i = 0; i < n; i++)
        if (!keep[i]) free_idx[m++] = i;
    lw_rng_shuffle_i32(rng, free_idx, m);
    for (int32_t k = 0; k < want && k < m; k++) keep[free_idx[k]] = true;
    free(free_idx);
    return 0;
}

/* Moves the kept strings of a[] to the front (file order), frees the others; the new count. */
static int32_t compact_strings(char **a, const bool *keep, int32_t n) {
    int32_t w = 0;
    for (int32_t i = 0; i < n; i++) {
        if (keep[i]) a[w++] = a[i];
        else free(a[i]);
    }
    return w;
}

int lw_beir_subsample(lw_beir *b, int32_t max_queries, int32_t max_docs, uint64_t seed) {
    if (!b) return lw_fail("lw_beir_subsample: the BEIR set is NULL");
    if (max_queries < 0 || max_docs < 0)
        return lw_fail("lw_beir_subsample: sizes %d and %d must be >= 0 (0: all)", (int)max_queries, (int)max_docs);
    lw_rng rng;
    lw_rng_seed(&rng, seed);
    bool *keep_q = calloc((size_t)(b->n_queries ? b->n_queries : 1), sizeof(bool)),
         *keep_d = calloc((size_t)(b->n_docs ? b->n_docs : 1), sizeof(bool));
    int32_t *new_doc = malloc(sizeof(int32_t) * (size_t)(b->n_docs ? b->n_docs : 1));
    int rc = keep_q && keep_d && new_doc ? 0 : lw_fail("lw_beir_subsample: out of memory");
    bool all_q = max_queries == 0 || max_queries >= b->n_queries;
    if (rc == 0 && all_q)
        for (int32_t q = 0; q < b->n_queries; q++) keep_q[q] = true;
    if (rc == 0 && !all_q) rc = draw(keep_q, b->n_queries, max_queries, &rng);
    int32_t judged = 0;
    for (int32_t q = 0; rc == 0 && q < b->n_queries; q++)
        for (int64_t k = keep_q[q] ? b->rel_off[q] : 0; keep_q[q] && k < b->rel_off[q + 1]; k++) {
            judged += !keep_d[b->rel_doc[k]];
            keep_d[b->rel_doc[k]] = true;
        }
    bool all_d = max_docs == 0 || max_docs >= b->n_docs;
    if (rc == 0 && !all_d && judged > max_docs)
        rc = lw_fail("a corpus of %d documents is smaller than the %d documents the %d %s judge (every one is "
                     "kept): sample at least %d documents, or fewer queries",
                     (int)max_docs, (int)judged, (int)(all_q ? b->n_queries : max_queries),
                     all_q ? "queries" : "sampled queries", (int)judged);
    if (rc == 0 && all_d)
        for (int32_t i = 0; i < b->n_docs; i++) keep_d[i] = true;
    if (rc == 0 && !all_d) rc = draw(keep_d, b->n_docs, max_docs - judged, &rng);
    if (rc == 0) {
        /* documents first (the qrels are renumbered into the kept corpus), then queries and their qrels */
        int32_t nd = 0;
        for (int32_t i = 0; i < b->n_docs; i++) new_doc[i] = keep_d[i] ? nd++ : -1;
        compact_strings(b->doc_id, keep_d, b->n_docs);
        b->n_docs = compact_strings(b->doc_text, keep_d, b->n_docs);
        int64_t w = 0;
        int32_t nq = 0;
        for (int32_t q = 0; q < b->n_queries; q++) {
            int64_t start = b->rel_off[q], end = b->rel_off[q + 1];
            if (!keep_q[q]) continue;
            b->rel_off[nq++] = w;
            for (int64_t k = start; k < end; k++) {
                b->rel_doc[w] = new_doc[b->rel_doc[k]]; /* kept: every judged document of a kept query is */
                b->rel_grade[w++] = b->rel_grade[k];
            }
        }
        compact_strings(b->query_id, keep_q, b->n_queries);
        b->n_queries = compact_strings(b->query_text, keep_q, b->n_queries);
        b->rel_off[nq] = w;
    }
    free(keep_q), free(keep_d), free(new_doc);
    return rc;
}
