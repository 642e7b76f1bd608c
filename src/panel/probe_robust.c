/* Adversarial robustness: Gaussian noise on the A vectors before the bridge (a sweep of sigma
 * relative to the RMS entry), near-identical distractors (grammar combinations one word away)
 * against random ones, and MRPC high-overlap non-paraphrases as confusers against a random
 * sentence in their place; retrieval always among B's own vectors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"
#include "panel/probe_internal.h"

#define P "robustness"

static int noise_sweep(lw_probe_ctx *c) {
    lw_probe_texts t;
    if (lw_probe_natural(c, &t) != 0) return -1;
    int n = t.n, dA = c->pair->dim_a, dB = c->pair->dim_b;
    float *X = NULL, *Y = NULL, *Xn = malloc(sizeof *Xn * (size_t)n * (size_t)dA);
    double *hit = malloc(sizeof *hit * (size_t)n);
    int32_t *gold = malloc(sizeof *gold * (size_t)n);
    int rc = Xn && hit && gold ? 0 : lw_fail("probes: out of memory");
    for (int i = 0; rc == 0 && i < n; i++) gold[i] = i;
    lw_probe_progress(c, "robustness: noise sweep");
    if (rc == 0) rc = lw_probe_embed(c, 0, &t, &X);
    if (rc == 0) rc = lw_probe_embed(c, 1, &t, &Y);
    double ss = 0;
    for (size_t k = 0; rc == 0 && k < (size_t)n * dA; k++) ss += (double)X[k] * X[k];
    double rms = rc == 0 ? sqrt(ss / ((double)n * dA)) : 0;
    for (int s = 0; rc == 0 && s < c->p->n_sigmas; s++) {
        double sigma = c->p->sigmas[s] * rms;
        lw_rng rng;
        lw_rng_seed(&rng, c->p->seed ^ (0x6e6f697365ull + (uint64_t)s));
        for (size_t k = 0; k < (size_t)n * dA; k++) Xn[k] = (float)(X[k] + sigma * lw_rng_normal(&rng));
        float *M = lw_probe_map(c->pair->bridge, Xn, n);
        rc = M ? lw_probe_top1(M, n, Y, n, dB, gold, NULL, NULL, hit) : -1;
        char name[48], cond[64], note[160];
        snprintf(name, sizeof name, "noise_top1@%g", c->p->sigmas[s]);
        snprintf(cond, sizeof cond, P ":noise@%g", c->p->sigmas[s]);
        snprintf(note, sizeof note, "Gaussian noise sigma = %g x RMS entry (%.4g) on A, top-1 among %d sentences (B)",
                 c->p->sigmas[s], rms, n);
        if (rc == 0) rc = lw_probe_stat_mean(c, P, name, cond, "top1", hit, n, NULL, note);
        free(M);
    }
    free(X), free(Y), free(Xn), free(hit), free(gold);
    lw_probe_texts_free(&t);
    return rc;
}

/* CSR lists for n queries: query q's target q first, then its k_q others. */
typedef struct {
    int64_t *off;
    int32_t *ids;
} lists;

static void lists_free(lists *l) { free(l->off), free(l->ids); }

static int one_word_apart(const int *a, const int *b) {
    int h = 0;
    for (int k = 0; k < LW_PROBE_N_ATTR; k++) h += a[k] != b[k];
    return h == 1;
}

/* Top-1 of each combination with its one-word neighbours as distractors against as many random
 * non-neighbours, paired over the combinations that have a neighbour in the set. */
static int near_identical(lw_probe_ctx *c) {
    lw_probe_texts g;
    if (lw_probe_grammar(c->p->n_combos, c->p->seed, &g) != 0) return -1;
    int n = g.n, dB = c->pair->dim_b;
    float *X = NULL, *Y = NULL, *M = NULL;
    lw_probe_progress(c, "robustness: near-identical distractors");
    int rc = lw_probe_embed(c, 0, &g, &X);
    if (rc == 0) rc = lw_probe_embed(c, 1, &g, &Y);
    if (rc == 0 && !(M = lw_probe_map(c->pair->bridge, X, n))) rc = -1;
    lists near = {0}, rnd = {0};
    int32_t *gold = malloc(sizeof *gold * (size_t)n);
    int32_t *others = malloc(sizeof *others * (size_t)n);
    near.off = malloc(sizeof *near.off * (size_t)(n + 1)), rnd.off = malloc(sizeof *rnd.off * (size_t)(n + 1));
    near.ids = malloc(sizeof *near.ids * (size_t)n * (size_t)n), rnd.ids = malloc(sizeof *rnd.ids * (size_t)n * (size_t)n);
    float *Q = malloc(sizeof *Q * (size_t)n * (size_t)dB);
    double *hn = malloc(sizeof *hn * (size_t)n), *hr = malloc(sizeof *hr * (size_t)n);
    char(*id)[16] = malloc(sizeof *id * (size_t)n);
    const char **ids = malloc(sizeof *ids * (size_t)n);
    if (rc == 0 && !(gold && others && near.off && rnd.off && near.ids && rnd.ids && Q && hn && hr && id && ids))
        rc = lw_fail("probes: out of memory");
    int nq = 0;
    lw_rng rng;
    lw_rng_seed(&rng, c->p->seed ^ 0x6e656172ull);
    if (rc == 0) near.off[0] = rnd.off[0] = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        int k = 0, no = 0;
        int64_t o = near.off[nq];
        near.ids[o] = i;
        for (int j = 0; j < n; j++) {
            if (j == i) continue;
            if (one_word_apart(g.attr[i], g.attr[j])) near.ids[o + 1 + k++] = j;
            else others[no++] = j;
        }
        if (k == 0 || no < k) continue;
        lw_rng_shuffle_i32(&rng, others, no);
        rnd.ids[rnd.off[nq]] = i;
        for (int j = 0; j < k; j++) rnd.ids[rnd.off[nq] + 1 + j] = others[j];
        near.off[nq + 1] = o + 1 + k;
        rnd.off[nq + 1] = rnd.off[nq] + 1 + k;
        memcpy(Q + (size_t)nq * dB, M + (size_t)i * dB, sizeof *Q * (size_t)dB);
        gold[nq] = i;
        const int *a = g.attr[i];
        snprintf(id[nq], sizeof id[nq], "g%d%d%d%d", a[0], a[1], a[2], a[3]);
        ids[nq] = id[nq];
        nq++;
    }
    if (rc == 0 && nq < 2) rc = lw_fail("probes: fewer than 2 combinations with a one-word neighbour (raise --combos)");
    if (rc == 0) rc = lw_probe_top1(Q, nq, Y, n, dB, gold, near.off, near.ids, hn);
    if (rc == 0) rc = lw_probe_top1(Q, nq, Y, n, dB, gold, rnd.off, rnd.ids, hr);
    if (rc == 0)
        rc = lw_probe_stat_compare(
            c, P, "top1",
            (lw_probe_side){"near_identical_top1", P ":near", hn, "distractors: the combinations one word away (B)"},
            (lw_probe_side){"random_distractor_top1", P ":near_control", hr,
                            "control: as many random combinations as distractors"},
            nq, ids, "near_minus_random_top1", "how much one-word edits confuse the channel beyond random distractors");
    free(X), free(Y), free(M), free(gold), free(others), free(Q), free(hn), free(hr), free(id), free(ids);
    lists_free(&near), lists_free(&rnd);
    lw_probe_texts_free(&g);
    return rc;
}

#define CONFUSER_DISTRACTORS 8

/* Each sentence of an MRPC high-overlap non-paraphrase pair retrieved among its partner (the
 * confuser) and random others, against a random sentence in the partner's place. */
static int confusers(lw_probe_ctx *c) {
    lw_probe_texts t;
    if (lw_probe_mrpc_confusers(c->p->mrpc_dir, c->p->n_confusers, 0.5, c->p->seed, &t) != 0) return -1;
    int n = t.n, dB = c->pair->dim_b, D = CONFUSER_DISTRACTORS;
    float *X = NULL, *Y = NULL, *M = NULL;
    lw_probe_progress(c, "robustness: MRPC confusers");
    int rc = n >= 2 * (D + 2) ? 0 : lw_fail("probes: only %d MRPC high-overlap non-paraphrase pairs (need %d)", n / 2, D + 2);
    if (rc == 0) rc = lw_probe_embed(c, 0, &t, &X);
    if (rc == 0) rc = lw_probe_embed(c, 1, &t, &Y);
    if (rc == 0 && !(M = lw_probe_map(c->pair->bridge, X, n))) rc = -1;
    lists conf = {0}, rnd = {0};
    conf.off = malloc(sizeof *conf.off * (size_t)(n + 1)), rnd.off = malloc(sizeof *rnd.off * (size_t)(n + 1));
    conf.ids = malloc(sizeof *conf.ids * (size_t)n * (D + 2)), rnd.ids = malloc(sizeof *rnd.ids * (size_t)n * (D + 2));
    int32_t *gold = malloc(sizeof *gold * (size_t)n), *others = malloc(sizeof *others * (size_t)n);
    double *hc = malloc(sizeof *hc * (size_t)n), *hr = malloc(sizeof *hr * (size_t)n);
    char(*id)[24] = malloc(sizeof *id * (size_t)n);
    const char **ids = malloc(sizeof *ids * (size_t)n);
    if (rc == 0 && !(conf.off && rnd.off && conf.ids && rnd.ids && gold && others && hc && hr && id && ids))
        rc = lw_fail("probes: out of memory");
    lw_rng rng;
    lw_rng_seed(&rng, c->p->seed ^ 0x636f6e66ull);
    for (int q = 0; rc == 0 && q < n; q++) {
        int partner = q ^ 1, no = 0;
        for (int j = 0; j < n; j++)
            if (j != q && j != partner) others[no++] = j;
        lw_rng_shuffle_i32(&rng, others, no);
        int64_t o = (int64_t)q * (D + 2);
        conf.off[q] = rnd.off[q] = o;
        conf.ids[o] = rnd.ids[o] = q;
        conf.ids[o + 1] = partner;
        rnd.ids[o + 1] = others[D]; /* a random sentence in the confuser's place */
        for (int j = 0; j < D; j++) conf.ids[o + 2 + j] = rnd.ids[o + 2 + j] = others[j];
        conf.off[q + 1] = rnd.off[q + 1] = o + D + 2;
        gold[q] = q;
        snprintf(id[q], sizeof id[q], "p%d.%d", q / 2, q % 2);
        ids[q] = id[q];
    }
    if (rc == 0) rc = lw_probe_top1(M, n, Y, n, dB, gold, conf.off, conf.ids, hc);
    if (rc == 0) rc = lw_probe_top1(M, n, Y, n, dB, gold, rnd.off, rnd.ids, hr);
    if (rc == 0)
        rc = lw_probe_stat_compare(
            c, P, "top1",
            (lw_probe_side){"confuser_top1", P ":confuser", hc,
                            "MRPC high-overlap non-paraphrase partner + 8 random sentences as distractors (B)"},
            (lw_probe_side){"confuser_control_top1", P ":confuser_control", hr,
                            "control: a random sentence in the partner's place"},
            n, ids, "confuser_minus_control_top1", "< 0: surface overlap confuses the channel");
    free(X), free(Y), free(M), free(gold), free(others), free(hc), free(hr), free(id), free(ids);
    lists_free(&conf), lists_free(&rnd);
    lw_probe_texts_free(&t);
    return rc;
}

int lw_probe_robustness(lw_probe_ctx *c) {
    int rc = noise_sweep(c);
    if (rc == 0) rc = near_identical(c);
    if (rc == 0) rc = confusers(c);
    return rc;
}
