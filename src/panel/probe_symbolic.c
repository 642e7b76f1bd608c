/* Symbolic operations through the bridge: negation minimal pairs, aggregation with the
 * additive-lift control, quantification with a template control. Retrieval among B's own
 * vectors of the same set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "panel/probe_internal.h"

#define P "symbolic"

/* A's and B's vectors of a set and A's mapped into B. */
typedef struct {
    float *X, *Y, *M;
} vecs;

static int vecs_of(lw_probe_ctx *c, const lw_probe_texts *t, vecs *v) {
    memset(v, 0, sizeof *v);
    if (lw_probe_embed(c, 0, t, &v->X) != 0 || lw_probe_embed(c, 1, t, &v->Y) != 0) return -1;
    return (v->M = lw_probe_map(c->pair->bridge, v->X, t->n)) ? 0 : -1;
}

static void vecs_free(vecs *v) { free(v->X), free(v->Y), free(v->M); }

static int negation(lw_probe_ctx *c) {
    lw_probe_texts t;
    if (lw_probe_negation_set(c->p->n_symbolic, c->p->seed, &t) != 0) return -1;
    int n = t.n, d = c->pair->dim_b;
    vecs v;
    lw_probe_progress(c, "symbolic: negation");
    int rc = vecs_of(c, &t, &v);
    double *cons = malloc(sizeof *cons * (size_t)n), *hit = malloc(sizeof *hit * (size_t)n);
    int32_t *gold = malloc(sizeof *gold * (size_t)n);
    if (rc == 0 && !(cons && hit && gold)) rc = lw_fail("probes: out of memory");
    for (int q = 0; rc == 0 && q < n; q++) {
        int other = q ^ 1; /* the same sentence with the other polarity */
        const float *m = v.M + (size_t)q * d;
        cons[q] = lw_probe_cosine(m, v.Y + (size_t)q * d, d) > lw_probe_cosine(m, v.Y + (size_t)other * d, d);
        gold[q] = q;
    }
    if (rc == 0) rc = lw_probe_top1(v.M, n, v.Y, n, d, gold, NULL, NULL, hit);
    if (rc == 0)
        rc = lw_probe_stat_mean(c, P, "negation_consistency", P ":negation_pair", "correct", cons, n, NULL,
                                "mapped vector closer to B's same-polarity sentence than to its negation (chance 0.5)");
    if (rc == 0)
        rc = lw_probe_stat_mean(c, P, "negation_top1", P ":negation", "top1", hit, n, NULL,
                                "top-1 among both polarities of every item (B)");
    vecs_free(&v);
    free(cons), free(hit), free(gold);
    lw_probe_texts_free(&t);
    return rc;
}

static int aggregation(lw_probe_ctx *c) {
    lw_probe_texts t;
    if (lw_probe_aggregation_set(c->p->n_symbolic, c->p->seed, &t) != 0) return -1;
    int n = t.n / 3, dA = c->pair->dim_a, d = c->pair->dim_b;
    vecs v;
    lw_probe_progress(c, "symbolic: aggregation");
    int rc = vecs_of(c, &t, &v);
    float *S = malloc(sizeof *S * (size_t)n * dA), *Yc = malloc(sizeof *Yc * (size_t)n * d),
          *Q1 = malloc(sizeof *Q1 * (size_t)n * d), *Q2 = malloc(sizeof *Q2 * (size_t)n * d), *MS = NULL;
    double *hs = malloc(sizeof *hs * (size_t)n), *h1 = malloc(sizeof *h1 * (size_t)n), *h2 = malloc(sizeof *h2 * (size_t)n),
           *best = malloc(sizeof *best * (size_t)n), *diff = malloc(sizeof *diff * (size_t)n);
    int32_t *gold = malloc(sizeof *gold * (size_t)n);
    if (rc == 0 && !(S && Yc && Q1 && Q2 && hs && h1 && h2 && best && diff && gold)) rc = lw_fail("probes: out of memory");
    for (int i = 0; rc == 0 && i < n; i++) {
        for (int k = 0; k < dA; k++) /* the mean of the parts (the bridge is affine: mean of the maps) */
            S[(size_t)i * dA + k] = 0.5f * (v.X[(size_t)(3 * i) * dA + k] + v.X[(size_t)(3 * i + 1) * dA + k]);
        memcpy(Yc + (size_t)i * d, v.Y + (size_t)(3 * i + 2) * d, sizeof *Yc * (size_t)d);
        memcpy(Q1 + (size_t)i * d, v.M + (size_t)(3 * i) * d, sizeof *Q1 * (size_t)d);
        memcpy(Q2 + (size_t)i * d, v.M + (size_t)(3 * i + 1) * d, sizeof *Q2 * (size_t)d);
        gold[i] = i;
    }
    if (rc == 0 && !(MS = lw_probe_map(c->pair->bridge, S, n))) rc = -1;
    if (rc == 0) rc = lw_probe_top1(MS, n, Yc, n, d, gold, NULL, NULL, hs);
    if (rc == 0) rc = lw_probe_top1(Q1, n, Yc, n, d, gold, NULL, NULL, h1);
    if (rc == 0) rc = lw_probe_top1(Q2, n, Yc, n, d, gold, NULL, NULL, h2);
    if (rc == 0) lw_probe_additive_lift(hs, h1, h2, n, best, diff);
    if (rc == 0)
        rc = lw_probe_stat_compare(
            c, P, "top1",
            (lw_probe_side){"aggregation_sum_top1", P ":agg_sum", hs,
                            "\"P and Q\" retrieved (among every composite, B) from the mean of P's and Q's A vectors"},
            (lw_probe_side){"aggregation_best_part_top1", P ":agg_best_part", best,
                            "control: the better of P alone and Q alone"},
            n, NULL, "aggregation_lift", "additive lift: the sum must beat its best single part");
    vecs_free(&v);
    free(S), free(Yc), free(Q1), free(Q2), free(MS), free(hs), free(h1), free(h2), free(best), free(diff), free(gold);
    lw_probe_texts_free(&t);
    return rc;
}

static int quantification(lw_probe_ctx *c) {
    lw_probe_texts t;
    if (lw_probe_quantifier_set(c->p->n_symbolic, c->p->seed, &t) != 0) return -1;
    int n = t.n, d = c->pair->dim_b, half = n / 2;
    vecs v;
    lw_probe_progress(c, "symbolic: quantification");
    int rc = vecs_of(c, &t, &v);
    int64_t *off = malloc(sizeof *off * (size_t)(n + 1));
    int32_t *ids = malloc(sizeof *ids * (size_t)n * 4), *gold = malloc(sizeof *gold * (size_t)n);
    double *hit = malloc(sizeof *hit * (size_t)n);
    char(*id)[16] = malloc(sizeof *id * (size_t)half);
    const char **idp = malloc(sizeof *idp * (size_t)half);
    /* the 4 variants of one template are one 4-way retrieval among each other: one cluster */
    int *tmpl = malloc(sizeof *tmpl * (size_t)(half ? half : 1));
    if (rc == 0 && !(off && ids && gold && hit && id && idp && tmpl)) rc = lw_fail("probes: out of memory");
    for (int q = 0; rc == 0 && q < n; q++) { /* candidates: the 4 variants of the query's template */
        off[q] = (int64_t)q * 4;
        for (int k = 0; k < 4; k++) ids[q * 4 + k] = q / 4 * 4 + k;
        gold[q] = q;
        if (q < half) snprintf(id[q], sizeof id[q], "t%d.%d", q / 4, q % 4), idp[q] = id[q], tmpl[q] = q / 4;
    }
    if (rc == 0) off[n] = (int64_t)n * 4, rc = lw_probe_top1(v.M, n, v.Y, n, d, gold, off, ids, hit);
    if (rc == 0)
        rc = lw_probe_stat_compare_clustered(
            c, P, "top1",
            (lw_probe_side){"quantifier_top1", P ":quantifier", hit,
                            "among the 4 sentences differing only in the quantifier (All/Some/None/Most), B"},
            (lw_probe_side){"quantifier_template_control_top1", P ":quantifier_control", hit + half,
                            "template control: among 4 sentences differing only in the noun"},
            half, idp, tmpl, "quantifier_minus_control_top1", "< 0: quantifiers carried worse than content words");
    vecs_free(&v);
    free(off), free(ids), free(gold), free(hit), free(id), free(idp), free(tmpl);
    lw_probe_texts_free(&t);
    return rc;
}

int lw_probe_symbolic(lw_probe_ctx *c) {
    int rc = negation(c);
    if (rc == 0) rc = aggregation(c);
    if (rc == 0) rc = quantification(c);
    return rc;
}
