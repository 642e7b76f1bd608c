/* Role binding, part of the compositionality probe. "The girl gave the box to the teacher." and
 * "The teacher gave the box to the girl." have the same words and different meanings: a bag of
 * words cannot tell them apart, a language must. The attribute grammar's held-out combinations
 * (probe_compose.c) are additive, which a linear bridge composes by construction; these are not.
 *  - roles_pair: through the pair's own bridge, is a sentence's mapped vector closer (cosine) to
 *    B's vector of the same sentence than to B's vector of its role swap? Chance is 0.5; a tie
 *    counts as wrong, so a representation that ignores order scores 0.
 *  - roles_newpair_heldout against roles_newpair_insample: the five people sit on a circle; a probe
 *    bridge fitted on the sentences whose two people are two steps apart (10 ordered pairs x 5
 *    objects) retrieves those whose people are neighbours (the other 10 x 5 = 50) among all 100 of
 *    B, against a bridge fitted on all of them, on the same sentences. A pair and its swap are
 *    equally far apart: no held-out pair of people was seen together, in either order, while every
 *    person was seen as giver and as receiver. The training pairs link every giver to every
 *    receiver through a chain of shared people (a 5-cycle), so a model that adds a giver's part and
 *    a receiver's part can be mapped onto held-out pairs by a linear bridge; splitting by the
 *    parity of the two indices would not allow that (giver parity would always equal receiver
 *    parity in training). The 50 items are 25 swap pairs sharing their words: every interval
 *    here counts swap pairs as clusters (lw_ci_mean_clustered), not sentences as independent.
 *  - roles_newgiver_heldout against roles_newgiver_insample: harder. For each person P, a probe
 *    bridge fitted on the 80 sentences whose giver is someone else retrieves the 20 where P gives
 *    (among all 100 of B); P was seen only as a receiver, and each test sentence's role swap (P
 *    receives) was in the fit. A space where a person is one thing whatever its role, with the
 *    role carried apart, maps P-as-giver from what it saw; one that codes each (person, role)
 *    separately cannot, and a bag of words confuses the sentence with its swap. Five folds, all
 *    100 sentences held out once; the in-sample baseline is the bridge fitted on all 100. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "panel/probe_internal.h"

#define P "compositionality"

/* The index of sentence i's role swap (giver and receiver exchanged). */
static int swap_of(const lw_probe_texts *t, int i) {
    const int *a = t->attr[i];
    for (int j = 0; j < t->n; j++)
        if (t->attr[j][0] == a[2] && t->attr[j][1] == a[1] && t->attr[j][2] == a[0]) return j;
    return -1;
}

/* The swap-pair clusters of the sentences sub[0..m): cluster[q] is the position in sub of the first
 * of sentence sub[q] and its role swap. The two share every word, so their outcomes are not
 * independent: the intervals count pairs (lw_ci_mean_clustered), not sentences. */
static int swap_clusters(const lw_probe_texts *t, const int *sub, int m, int *cluster) {
    for (int q = 0; q < m; q++) {
        int j = swap_of(t, sub[q]), at = -1;
        for (int r = 0; r < m && at < 0; r++)
            if (sub[r] == j) at = r;
        if (at < 0) return lw_fail("probes: role sentence %d's swap is not among the items scored with it", sub[q]);
        cluster[q] = at < q ? at : q;
    }
    return 0;
}

static int pair_consistency(lw_probe_ctx *c, const lw_probe_texts *t, const float *X, const float *Y,
                            const char *const *ids, const int *cluster) {
    int n = t->n, d = c->pair->dim_b;
    float *M = lw_probe_map(c->pair->bridge, X, n);
    double *ok = malloc(sizeof *ok * (size_t)n);
    int rc = M && ok ? 0 : lw_fail("probes: out of memory");
    for (int i = 0; rc == 0 && i < n; i++) {
        int j = swap_of(t, i);
        if (j < 0) {
            rc = lw_fail("probes: role sentence %d has no swap", i);
            break;
        }
        const float *m = M + (size_t)i * d;
        ok[i] = lw_probe_cosine(m, Y + (size_t)i * d, d) > lw_probe_cosine(m, Y + (size_t)j * d, d);
    }
    if (rc == 0)
        rc = lw_probe_stat_mean_clustered(c, P, "roles_pair_consistency", P ":roles_pair", "correct", ok, n, ids, cluster,
                                "the pair's own bridge: the mapped sentence closer to B's same sentence than to "
                                "B's role swap (same words); chance 0.5, a tie counts as wrong");
    free(M), free(ok);
    return rc;
}

/* The held-out hits of a role split against the in-sample baseline on the same sentences:
 * roles_SPLIT_heldout_top1, roles_SPLIT_insample_top1 and their paired difference. */
static int compare_to_insample(lw_probe_ctx *c, const char *split, double *held, double *ins, int n,
                               const char *const *ids, const int *cluster, const char *held_what,
                               const char *diff_what) {
    char hn[64], hc[64], in[64], ic[64], dn[80];
    snprintf(hn, sizeof hn, "roles_%s_heldout_top1", split);
    snprintf(hc, sizeof hc, P ":roles_%s_heldout", split);
    snprintf(in, sizeof in, "roles_%s_insample_top1", split);
    snprintf(ic, sizeof ic, P ":roles_%s_insample", split);
    snprintf(dn, sizeof dn, "roles_%s_heldout_minus_insample_top1", split);
    return lw_probe_stat_compare_clustered(c, P, "top1", (lw_probe_side){hn, hc, held, held_what},
                                 (lw_probe_side){in, ic, ins,
                                                 "the same sentences, probe bridge fitted on all 100 (in-sample "
                                                 "baseline)"},
                                 n, ids, cluster, dn, diff_what);
}

static int heldout_roles(lw_probe_ctx *c, const lw_probe_texts *t, const float *X, const float *Y,
                         const char *const *ids) {
    int n = t->n, n_fit = 0, n_test = 0;
    int *fit = malloc(sizeof *fit * (size_t)n), *test = malloc(sizeof *test * (size_t)n),
        *all = malloc(sizeof *all * (size_t)n);
    double *held = malloc(sizeof *held * (size_t)n), *ins = malloc(sizeof *ins * (size_t)n);
    const char **test_ids = malloc(sizeof *test_ids * (size_t)n);
    int *cluster = malloc(sizeof *cluster * (size_t)n);
    int rc = fit && test && all && held && ins && test_ids && cluster ? 0 : lw_fail("probes: out of memory");
    for (int i = 0; rc == 0 && i < n; i++) {
        all[i] = i;
        int apart = (t->attr[i][0] - t->attr[i][2] + LW_PROBE_N_VALUES) % LW_PROBE_N_VALUES;
        if (apart == 2 || apart == 3) fit[n_fit++] = i; /* two steps apart on the circle; else neighbours */
        else test_ids[n_test] = ids[i], test[n_test++] = i;
    }
    if (rc == 0) rc = swap_clusters(t, test, n_test, cluster);
    if (rc == 0) rc = lw_probe_heldout_hits(c, X, Y, n, fit, n_fit, test, n_test, held);
    if (rc == 0) rc = lw_probe_heldout_hits(c, X, Y, n, all, n, test, n_test, ins);
    if (rc == 0)
        rc = compare_to_insample(c, "newpair", held, ins, n_test, test_ids, cluster,
                                 "probe bridge fitted on the sentences whose two people are two steps apart on a "
                                 "circle of the five; the neighbours' sentences (pairs of people never seen "
                                 "together, in either order; every person seen in both roles) retrieved among all "
                                 "100 (B)",
                                 "near 0: binds roles in new combinations as well as it memorizes them");
    free(fit), free(test), free(all), free(held), free(ins), free(test_ids), free(cluster);
    return rc;
}

static int newgiver_roles(lw_probe_ctx *c, const lw_probe_texts *t, const float *X, const float *Y,
                          const char *const *ids, const int *cluster) {
    int n = t->n;
    int *fit = malloc(sizeof *fit * (size_t)n), *test = malloc(sizeof *test * (size_t)n),
        *all = malloc(sizeof *all * (size_t)n);
    double *held = malloc(sizeof *held * (size_t)n), *ins = malloc(sizeof *ins * (size_t)n),
           *fold = malloc(sizeof *fold * (size_t)n);
    int rc = fit && test && all && held && ins && fold ? 0 : lw_fail("probes: out of memory");
    for (int i = 0; rc == 0 && i < n; i++) all[i] = i;
    for (int giver = 0; rc == 0 && giver < LW_PROBE_N_VALUES; giver++) {
        int n_fit = 0, n_test = 0;
        for (int i = 0; i < n; i++)
            if (t->attr[i][0] == giver) test[n_test++] = i;
            else fit[n_fit++] = i;
        rc = lw_probe_heldout_hits(c, X, Y, n, fit, n_fit, test, n_test, fold);
        for (int q = 0; rc == 0 && q < n_test; q++) held[test[q]] = fold[q];
    }
    if (rc == 0) rc = lw_probe_heldout_hits(c, X, Y, n, all, n, all, n, ins);
    if (rc == 0)
        rc = compare_to_insample(c, "newgiver", held, ins, n, ids, cluster,
                                 "for each person, a probe bridge fitted on the 80 sentences where someone else "
                                 "gives; the 20 where that person gives (seen only as receiver, each sentence's "
                                 "swap in the fit) retrieved among all 100 (B); five folds",
                                 "near 0: a person in a role it was never seen in is still found; strongly "
                                 "negative: each person-role pair is its own code");
    free(fit), free(test), free(all), free(held), free(ins), free(fold);
    return rc;
}

int lw_probe_roles(lw_probe_ctx *c) {
    lw_probe_texts t;
    if (lw_probe_roles_texts(&t) != 0) return -1;
    float *X = NULL, *Y = NULL;
    char(*id)[16] = malloc(sizeof *id * (size_t)t.n);
    const char **ids = malloc(sizeof *ids * (size_t)t.n);
    int *all = malloc(sizeof *all * (size_t)t.n), *cluster = malloc(sizeof *cluster * (size_t)t.n);
    int rc = id && ids && all && cluster ? 0 : lw_fail("probes: out of memory");
    for (int i = 0; rc == 0 && i < t.n; i++) {
        snprintf(id[i], sizeof id[i], "r%d%d%d", t.attr[i][0], t.attr[i][1], t.attr[i][2]);
        ids[i] = id[i];
        all[i] = i;
    }
    if (rc == 0) rc = swap_clusters(&t, all, t.n, cluster);
    lw_probe_progress(c, "compositionality: embedding the role-binding sentences");
    if (rc == 0) rc = lw_probe_embed(c, 0, &t, &X);
    if (rc == 0) rc = lw_probe_embed(c, 1, &t, &Y);
    if (rc == 0) rc = pair_consistency(c, &t, X, Y, ids, cluster);
    if (rc == 0) rc = heldout_roles(c, &t, X, Y, ids);
    if (rc == 0) rc = newgiver_roles(c, &t, X, Y, ids, cluster);
    free(X), free(Y), free(id), free(ids), free(all), free(cluster);
    lw_probe_texts_free(&t);
    return rc;
}
