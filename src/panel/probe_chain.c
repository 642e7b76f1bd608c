/* Chaining: a message relayed A -> B -> A -> ... through the bridge and its inverse. Per hop,
 * the cosine to the original sentence's own vector in that hop's space and top-1 among every
 * sentence's vector there: raw cosine between mean-pooled residuals is high for any two
 * sentences (the cosine between two different sentences is reported as its floor), so identity
 * is judged by retrieval. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "panel/probe_internal.h"

#define P "chaining"

static int floor_cosine(lw_probe_ctx *c, const float *V, int n, int d, char side) {
    double *co = malloc(sizeof *co * (size_t)n);
    if (!co) return lw_fail("probes: out of memory");
    for (int i = 0; i < n; i++) co[i] = lw_probe_cosine(V + (size_t)i * d, V + (size_t)((i + 1) % n) * d, d);
    char name[32], cond[48];
    snprintf(name, sizeof name, "other_cosine_%c", side);
    snprintf(cond, sizeof cond, P ":other_%c", side);
    int rc = lw_probe_stat_mean(c, P, name, cond, "cosine", co, n, NULL,
                                "floor: cosine between two different sentences in this space");
    free(co);
    return rc;
}

static int hop_stats(lw_probe_ctx *c, int hop, const float *cur, const float *own, int n, int d, double *cs,
                     double *hit, int32_t *gold) {
    for (int i = 0; i < n; i++) cs[i] = lw_probe_cosine(cur + (size_t)i * d, own + (size_t)i * d, d);
    if (lw_probe_top1(cur, n, own, n, d, gold, NULL, NULL, hit) != 0) return -1;
    char name[32], cond[32];
    snprintf(cond, sizeof cond, P ":hop%d", hop);
    snprintf(name, sizeof name, "hop%d_cosine", hop);
    if (lw_probe_stat_mean(c, P, name, cond, "cosine", cs, n, NULL,
                           hop % 2 ? "cosine to the original's own vector (B)" : "cosine to the original's own vector (A)") != 0)
        return -1;
    snprintf(name, sizeof name, "hop%d_top1", hop);
    return lw_probe_stat_mean(c, P, name, cond, "top1", hit, n, NULL,
                              "the original retrieved among every sentence of the pool in this hop's space");
}

int lw_probe_chaining(lw_probe_ctx *c) {
    lw_probe_texts t;
    if (lw_probe_natural(c, &t) != 0) return -1;
    int n = t.n, dA = c->pair->dim_a, dB = c->pair->dim_b;
    float *X = NULL, *Y = NULL, *cur = NULL;
    double *cs = malloc(sizeof *cs * (size_t)n), *hit = malloc(sizeof *hit * (size_t)n);
    int32_t *gold = malloc(sizeof *gold * (size_t)n);
    int rc = cs && hit && gold ? 0 : lw_fail("probes: out of memory");
    for (int i = 0; rc == 0 && i < n; i++) gold[i] = i;
    lw_probe_progress(c, "chaining: embedding MRPC test sentences");
    if (rc == 0) rc = lw_probe_embed(c, 0, &t, &X);
    if (rc == 0) rc = lw_probe_embed(c, 1, &t, &Y);
    if (rc == 0) rc = floor_cosine(c, X, n, dA, 'A');
    if (rc == 0) rc = floor_cosine(c, Y, n, dB, 'B');
    const float *from = X;
    for (int hop = 1; rc == 0 && hop <= c->p->hops; hop++) {
        bool to_b = hop % 2 == 1;
        float *next = lw_probe_map(to_b ? c->pair->bridge : c->inverse, from, n);
        free(cur);
        cur = next;
        from = cur;
        if (!cur) rc = -1;
        else rc = hop_stats(c, hop, cur, to_b ? Y : X, n, to_b ? dB : dA, cs, hit, gold);
    }
    free(X), free(Y), free(cur), free(cs), free(hit), free(gold);
    lw_probe_texts_free(&t);
    return rc;
}
