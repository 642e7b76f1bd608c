/* Internal: the plan and the records as the verdict code reads them. */
#ifndef LW_VERDICT_INTERNAL_H
#define LW_VERDICT_INTERNAL_H

#include <stdbool.h>

#include "latentwire/verdict.h"

typedef struct {
    char *id, *metric, *a, *b;  /* b NULL: a one-condition hypothesis */
    bool greater;               /* claim: theta > threshold (else theta < threshold) */
    double threshold;
    char *test;                 /* "auto", "exact" or "bootstrap" */
} lw_hypothesis;

struct lw_plan {
    char sha256[65];
    char *path, *title, *selection, *correction;
    double alpha;
    int resamples;
    uint64_t seed;
    lw_hypothesis *h;
    int n;
};

typedef struct {
    char *condition, *item, *metric, *split;
    double value;
    char *cluster;              /* NULL: independent */
    int file;                   /* which of the loaded files holds it */
} lw_rec;

struct lw_items {
    char plan_sha256[65];       /* "" when the files carry none */
    lw_rec *r;
    int64_t n;
};

/* Whether every value of metric m lies in [0, 1] by definition (exact_match, correct, top1,
 * bridge_top1, negation_top1, recall@k, mrr@k, ndcg@k). */
bool lw_metric_in_unit_interval(const char *m);

#endif
