/* Compositionality: does the bridge carry the parts of a sentence's meaning, so that attribute
 * combinations it never saw map as well as the ones it was fitted on? Plus topographic
 * similarity (meaning distance against vector distance) and the cosine of word-shuffled
 * (ungrammatical) reorderings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "panel/probe_internal.h"

#define P "compositionality"

/* Held-out split: the last round(share n) combinations (the set is already in seeded random
 * order), less any whose attribute value occurs in no training combination (a value never seen
 * cannot be composed). train/test get positions; returns the number held out. */
static int split(const lw_probe_texts *g, double share, int *train, int *n_train, int *test) {
    int n = g->n, h = (int)(share * n + 0.5), n_test = 0;
    if (h < 1) h = 1;
    if (h > n - 2) h = n - 2;
    bool seen[LW_PROBE_N_ATTR][LW_PROBE_N_VALUES] = {{false}};
    *n_train = 0;
    for (int i = 0; i < n - h; i++) {
        train[(*n_train)++] = i;
        for (int k = 0; k < LW_PROBE_N_ATTR; k++) seen[k][g->attr[i][k]] = true;
    }
    for (int i = n - h; i < n; i++) {
        bool ok = true;
        for (int k = 0; k < LW_PROBE_N_ATTR; k++) ok = ok && seen[k][g->attr[i][k]];
        if (ok) test[n_test++] = i;
        else train[(*n_train)++] = i;
    }
    return n_test;
}

static float *gather(const float *X, int d, const int *rows, int n) {
    float *out = malloc(sizeof *out * (size_t)n * (size_t)d);
    for (int i = 0; out && i < n; i++) memcpy(out + (size_t)i * d, X + (size_t)rows[i] * d, sizeof *out * (size_t)d);
    if (!out) lw_fail("probes: out of memory");
    return out;
}

int lw_probe_heldout_hits(lw_probe_ctx *c, const float *X, const float *Y, int n, const int *fit, int n_fit,
                        const int *test, int n_test, double *hit) {
    int dA = c->pair->dim_a, dB = c->pair->dim_b;
    float *Xf = gather(X, dA, fit, n_fit), *Yf = gather(Y, dB, fit, n_fit), *Xt = gather(X, dA, test, n_test);
    lw_bridge_params bp = lw_bridge_default_params();
    lw_bridge *b = Xf && Yf && Xt ? lw_bridge_fit(Xf, Yf, n_fit, dA, dB, &bp) : NULL;
    float *M = b ? lw_probe_map(b, Xt, n_test) : NULL;
    int32_t *gold = malloc(sizeof *gold * (size_t)n_test);
    int rc = M && gold ? 0 : -1;
    for (int q = 0; rc == 0 && q < n_test; q++) gold[q] = test[q];
    if (rc == 0) rc = lw_probe_top1(M, n_test, Y, n, dB, gold, NULL, NULL, hit);
    lw_bridge_free(b);
    free(Xf), free(Yf), free(Xt), free(M), free(gold);
    return rc;
}

static int retrieval(lw_probe_ctx *c, const lw_probe_texts *g, const float *X, const float *Y) {
    int n = g->n;
    int *train = malloc(sizeof *train * (size_t)n), *test = malloc(sizeof *test * (size_t)n), *all = malloc(sizeof *all * (size_t)n);
    double *held = malloc(sizeof *held * (size_t)n), *ins = malloc(sizeof *ins * (size_t)n);
    char(*id)[16] = malloc(sizeof *id * (size_t)n);
    const char **ids = malloc(sizeof *ids * (size_t)n);
    if (!train || !test || !all || !held || !ins || !id || !ids) {
        free(train), free(test), free(all), free(held), free(ins), free(id), free(ids);
        return lw_fail("probes: out of memory");
    }
    int n_train, n_test = split(g, c->p->heldout_share, train, &n_train, test);
    for (int i = 0; i < n; i++) all[i] = i;
    for (int q = 0; q < n_test; q++) {
        const int *a = g->attr[test[q]];
        snprintf(id[q], sizeof id[q], "g%d%d%d%d", a[0], a[1], a[2], a[3]);
        ids[q] = id[q];
    }
    int rc = n_test > 0 ? 0 : lw_fail("probes: no held-out combination whose every value was seen in training");
    if (rc == 0) rc = lw_probe_heldout_hits(c, X, Y, n, train, n_train, test, n_test, held);
    if (rc == 0) rc = lw_probe_heldout_hits(c, X, Y, n, all, n, test, n_test, ins);
    if (rc == 0)
        rc = lw_probe_stat_compare(c, P, "top1",
                                   (lw_probe_side){"heldout_top1", P ":heldout", held,
                                                   "probe bridge fitted on the training combinations; held-out "
                                                   "combinations retrieved among every combination (B)"},
                                   (lw_probe_side){"insample_top1", P ":insample", ins,
                                                   "the same combinations, probe bridge fitted on all of them "
                                                   "(in-sample baseline)"},
                                   n_test, ids, "heldout_minus_insample_top1",
                                   "near 0: composes as well as it memorizes; strongly negative: a code");
    free(train), free(test), free(all), free(held), free(ins), free(id), free(ids);
    return rc;
}

/* The pair's own bridge on every combination (it was fitted elsewhere, e.g. on PTB). */
static int given_bridge(lw_probe_ctx *c, const lw_probe_texts *g, const float *X, const float *Y) {
    int n = g->n;
    float *M = lw_probe_map(c->pair->bridge, X, n);
    int32_t *gold = malloc(sizeof *gold * (size_t)n);
    double *hit = malloc(sizeof *hit * (size_t)n);
    int rc = M && gold && hit ? 0 : lw_fail("probes: out of memory");
    for (int i = 0; rc == 0 && i < n; i++) gold[i] = i;
    if (rc == 0) rc = lw_probe_top1(M, n, Y, n, c->pair->dim_b, gold, NULL, NULL, hit);
    if (rc == 0)
        rc = lw_probe_stat_mean(c, P, "bridge_top1", P ":bridge", "top1", hit, n, NULL,
                                "the pair's own bridge: each combination among all of them (B)");
    int m = n < c->p->n_topsim ? n : c->p->n_topsim;
    const float *space[3] = {X, Y, M};
    const int dims[3] = {c->pair->dim_a, c->pair->dim_b, c->pair->dim_b};
    static const char *const NAME[3] = {"topsim_A", "topsim_B", "topsim_mapped"};
    static const char *const NOTE[3] = {
        "Spearman rho, attribute Hamming distance vs cosine distance, model A's vectors",
        "the same on model B's vectors", "the same on A's vectors mapped by the bridge into B"};
    for (int s = 0; rc == 0 && s < 3; s++) {
        lw_ci ci;
        lw_probe_progress(c, "topographic similarity");
        rc = lw_probe_topsim(space[s], m, dims[s], (const int(*)[LW_PROBE_N_ATTR])g->attr, c->p->resamples,
                             c->p->seed, &ci);
        if (rc == 0) rc = lw_probe_stat_ci(c, P, NAME[s], &ci, NOTE[s]);
    }
    free(M), free(gold), free(hit);
    return rc;
}

/* Cosine of each sentence to its word-shuffled self against the cosine to another sentence of
 * the set, per model. */
static int shuffled(lw_probe_ctx *c, const lw_probe_texts *g, const float *X, const float *Y) {
    int m = g->n < c->p->n_topsim ? g->n : c->p->n_topsim;
    lw_probe_texts sh = {0};
    sh.text = calloc((size_t)m, sizeof *sh.text);
    double *cs = malloc(sizeof *cs * (size_t)m), *co = malloc(sizeof *co * (size_t)m);
    int rc = sh.text && cs && co ? 0 : lw_fail("probes: out of memory");
    char buf[512];
    for (int i = 0; rc == 0 && i < m; i++) {
        rc = lw_probe_shuffle_words(g->text[i], c->p->seed + (uint64_t)i, buf, sizeof buf);
        if (rc == 0 && !(sh.text[sh.n++] = strdup(buf))) rc = lw_fail("probes: out of memory");
    }
    for (int side = 0; rc == 0 && side < 2; side++) {
        const float *V = side ? Y : X;
        int d = side ? c->pair->dim_b : c->pair->dim_a;
        float *S = NULL;
        lw_probe_progress(c, "shuffled reorderings");
        rc = lw_probe_embed(c, side, &sh, &S);
        for (int i = 0; rc == 0 && i < m; i++) {
            cs[i] = lw_probe_cosine(V + (size_t)i * d, S + (size_t)i * d, d);
            co[i] = lw_probe_cosine(V + (size_t)i * d, V + (size_t)((i + 1) % m) * d, d);
        }
        char name[64], cond[64], cond2[64];
        snprintf(name, sizeof name, "shuffle_cosine_%c", side ? 'B' : 'A');
        snprintf(cond, sizeof cond, P ":shuffle_%c", side ? 'B' : 'A');
        snprintf(cond2, sizeof cond2, P ":other_%c", side ? 'B' : 'A');
        if (rc == 0)
            rc = lw_probe_stat_mean(c, P, name, cond, "cosine", cs, m, NULL,
                                    "cosine of a sentence to its word-shuffled (ungrammatical) self");
        snprintf(name, sizeof name, "other_cosine_%c", side ? 'B' : 'A');
        if (rc == 0)
            rc = lw_probe_stat_mean(c, P, name, cond2, "cosine", co, m, NULL,
                                    "control: cosine to another sentence of the grammar");
        snprintf(name, sizeof name, "shuffle_minus_other_%c", side ? 'B' : 'A');
        if (rc == 0)
            rc = lw_probe_stat_paired(c, P, name, cond, cond2, "cosine", cs, co, m,
                                      "> 0: word order matters less than which words (bag-of-words-like)");
        free(S);
    }
    lw_probe_texts_free(&sh);
    free(cs), free(co);
    return rc;
}

int lw_probe_compositionality(lw_probe_ctx *c) {
    lw_probe_texts g;
    if (lw_probe_grammar(c->p->n_combos, c->p->seed, &g) != 0) return -1;
    float *X = NULL, *Y = NULL;
    lw_probe_progress(c, "compositionality: embedding the grammar's sentences");
    int rc = lw_probe_embed(c, 0, &g, &X);
    if (rc == 0) rc = lw_probe_embed(c, 1, &g, &Y);
    if (rc == 0) rc = retrieval(c, &g, X, Y);
    if (rc == 0) rc = given_bridge(c, &g, X, Y);
    if (rc == 0) rc = shuffled(c, &g, X, Y);
    if (rc == 0) rc = lw_probe_roles(c);
    free(X), free(Y);
    lw_probe_texts_free(&g);
    return rc;
}
