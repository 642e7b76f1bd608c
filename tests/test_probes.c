/* The probe panel's statistics on hand-computed cases (Spearman with ties against a naive
 * implementation, top-1 with the tie rule, the additive-lift comparison), chaining through an
 * exact inverse (identity kept at every hop) against a wrong one, and compositionality on a
 * planted structure (sums of attribute embeddings through a known linear map: held-out
 * combinations retrieved) against random vectors per combination (nothing to compose). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/rng.h"
#include "latentwire/probes.h"
#include "latentwire/report.h"
#include "panel/probe_internal.h"
#include "support/refused.h"
#include "support/testutil.h"

/* ---------------------------------------------------------------- statistics */

/* Spearman the slow way: rank = 1 + #smaller + (#equal - 1) / 2, then Pearson on the ranks. */
static double naive_spearman(const double *x, const double *y, int n) {
    double rx[64], ry[64], mx = 0, my = 0;
    for (int i = 0; i < n; i++) {
        int lx = 0, ex = 0, ly = 0, ey = 0;
        for (int j = 0; j < n; j++) {
            lx += x[j] < x[i], ex += x[j] == x[i];
            ly += y[j] < y[i], ey += y[j] == y[i];
        }
        rx[i] = 1 + lx + (ex - 1) / 2.0, ry[i] = 1 + ly + (ey - 1) / 2.0;
        mx += rx[i] / n, my += ry[i] / n;
    }
    double sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) sxy += (rx[i] - mx) * (ry[i] - my), sxx += (rx[i] - mx) * (rx[i] - mx), syy += (ry[i] - my) * (ry[i] - my);
    return sxy / sqrt(sxx * syy);
}

static void test_spearman(void **state) {
    (void)state;
    /* by hand: ranks x = 1, 2.5, 2.5, 4 and y = 1, 3, 2, 4: rho = 4.5 / sqrt(4.5 * 5) */
    const double x[] = {1, 2, 2, 3}, y[] = {1, 3, 2, 4};
    assert_true(fabs(lw_probe_spearman(x, y, 4) - 4.5 / sqrt(22.5)) < 1e-12);
    /* many ties (values 0..3, like Hamming distances) against the naive ranks */
    lw_rng rng;
    lw_rng_seed(&rng, 7);
    for (int trial = 0; trial < 50; trial++) {
        double a[40], b[40];
        for (int i = 0; i < 40; i++) a[i] = (double)lw_rng_below(&rng, 4), b[i] = (double)lw_rng_below(&rng, 6) + 0.1 * a[i];
        assert_true(fabs(lw_probe_spearman(a, b, 40) - naive_spearman(a, b, 40)) < 1e-12);
    }
    const double c[] = {2, 2, 2};
    assert_true(isnan(lw_probe_spearman(c, x, 3))); /* a constant side has no ranks to correlate */
}

/* Topographic similarity of the sentences idx[0..m) the slow way: every pair of distinct
 * sentences, Hamming distance of attributes against 1 - cosine (in double), naive Spearman. */
static double naive_topsim(const float *X, int d, const int (*attr)[LW_PROBE_N_ATTR], const int *idx, int m) {
    double md[64], ad[64];
    int k = 0;
    for (int a = 0; a < m; a++)
        for (int b = a + 1; b < m; b++) {
            if (idx[a] == idx[b]) continue;
            const float *x = X + (size_t)idx[a] * d, *y = X + (size_t)idx[b] * d;
            double xy = 0, xx = 0, yy = 0;
            for (int j = 0; j < d; j++) xy += (double)x[j] * y[j], xx += (double)x[j] * x[j], yy += (double)y[j] * y[j];
            int h = 0;
            for (int t = 0; t < LW_PROBE_N_ATTR; t++) h += attr[idx[a]][t] != attr[idx[b]][t];
            md[k] = h, ad[k++] = 1.0 - xy / sqrt(xx * yy);
        }
    return naive_spearman(md, ad, k);
}

/* lw_probe_topsim's interval is BCa (Efron & Tibshirani 1993, ch. 14) written out here: the
 * same resamples of sentences (lw_rng seeded with `seed`, n draws of lw_rng_below(n) each), z0
 * from the share below the estimate, the acceleration from the leave-one-sentence-out rhos. A
 * percentile interval (what it was) fails this on a skewed rho near 1. */
static void test_topsim_bca(void **state) {
    (void)state;
    enum { N = 10, D = 12, B = 1000 };
    int attr[N][LW_PROBE_N_ATTR], idx[N];
    float X[N * D];
    lw_rng rng;
    lw_rng_seed(&rng, 5);
    for (int i = 0; i < N; i++) /* attributes one-hot in the first 12 coordinates, plus noise */
        for (int t = 0; t < LW_PROBE_N_ATTR; t++) attr[i][t] = (int)lw_rng_below(&rng, 3);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            X[i * D + j] = (float)((attr[i][j / 3] == j % 3) + 0.3 * lw_rng_uniform(&rng));
    lw_ci ci;
    assert_int_equal(lw_probe_topsim(X, N, D, (const int(*)[LW_PROBE_N_ATTR])attr, B, 42, &ci), 0);
    for (int i = 0; i < N; i++) idx[i] = i;
    double rho = naive_topsim(X, D, (const int(*)[LW_PROBE_N_ATTR])attr, idx, N), boot[B], jack[N];
    int kept = 0;
    lw_rng_seed(&rng, 42);
    for (int r = 0; r < B; r++) {
        for (int i = 0; i < N; i++) idx[i] = (int)lw_rng_below(&rng, N);
        double v = naive_topsim(X, D, (const int(*)[LW_PROBE_N_ATTR])attr, idx, N);
        if (isfinite(v)) boot[kept++] = v;
    }
    qsort(boot, (size_t)kept, sizeof *boot, lw_test_cmp_double);
    for (int i = 0; i < N; i++) {
        for (int j = 0, m = 0; j < N; j++)
            if (j != i) idx[m++] = j;
        jack[i] = naive_topsim(X, D, (const int(*)[LW_PROBE_N_ATTR])attr, idx, N - 1);
    }
    double lo, hi;
    lw_test_bca_naive(boot, kept, rho, jack, N, 0.95, &lo, &hi);
    fprintf(stderr, "topsim %.6f [%.6f, %.6f], naive BCa %.6f [%.6f, %.6f] (%d resamples), percentile [%.6f, %.6f]\n",
            ci.mean, ci.lo, ci.hi, rho, lo, hi, kept, lw_test_quantile_sorted(boot, kept, 0.025), lw_test_quantile_sorted(boot, kept, 0.975));
    assert_true(rho > 0.3);
    assert_true(fabs(ci.mean - rho) < 1e-9);
    assert_true(fabs(ci.lo - lo) < 1e-6 && fabs(ci.hi - hi) < 1e-6);
    assert_string_equal(ci.method, "bca");
    assert_int_equal(ci.n, N);
}

static void test_top1(void **state) {
    (void)state;
    const float P[] = {1, 0, /* 0 */ 0, 1, /* 1 */ 1, 1, /* 2 */ 2, 2 /* 3: same direction as 2 */};
    const float Q[] = {1, 0.2f, 1, 1, 1, 0, 1, 1};
    const int32_t gold[] = {0, 0, 2, 2};
    double hit[4];
    /* whole pool: q0 nearest P0 (0.98 vs 0.83): hit; q1 nearest P2/P3: miss; q2 = (1, 0) nearest P0: miss;
       q3 ties P2 with P3 (cosine 1 both): a tie never counts as a hit */
    assert_int_equal(lw_probe_top1(Q, 4, P, 4, 2, gold, NULL, NULL, hit), 0);
    assert_true(hit[0] == 1 && hit[1] == 0 && hit[2] == 0 && hit[3] == 0);
    /* candidate lists: q2 among {2, 1} (0.71 vs 0): hit; q3 among {2, 0, 1}: hit */
    const int64_t off[] = {0, 2, 4, 6, 9};
    const int32_t ids[] = {0, 1, 0, 2, 2, 1, 2, 0, 1};
    assert_int_equal(lw_probe_top1(Q, 4, P, 4, 2, gold, off, ids, hit), 0);
    assert_true(hit[0] == 1 && hit[1] == 0 && hit[2] == 1 && hit[3] == 1);
}

static void test_additive_lift(void **state) {
    (void)state;
    const double sum[] = {1, 1, 0, 0, 1}, p1[] = {0, 1, 1, 0, 0}, p2[] = {0, 0, 0, 1, 1};
    double best[5], diff[5];
    lw_probe_additive_lift(sum, p1, p2, 5, best, diff);
    const double want_best[] = {0, 1, 1, 1, 1}, want_diff[] = {1, 0, -1, -1, 0};
    for (int i = 0; i < 5; i++) {
        assert_true(best[i] == want_best[i]);
        assert_true(diff[i] == want_diff[i]);
    }
}

static void test_shuffle_words(void **state) {
    (void)state;
    char buf[256];
    assert_int_equal(lw_probe_shuffle_words("The girl put the red box in the kitchen.", 3, buf, sizeof buf), 0);
    assert_string_not_equal(buf, "The girl put the red box in the kitchen.");
    assert_int_equal(strlen(buf), strlen("The girl put the red box in the kitchen."));
    assert_true(buf[strlen(buf) - 1] == '.');
    assert_non_null(strstr(buf, "kitchen"));
    assert_int_equal(lw_probe_shuffle_words("go go.", 3, buf, sizeof buf), -1); /* nothing to reorder */
}

/* ---------------------------------------------------------------- synthetic embedders */

#define DA 24
#define DB 20

static uint64_t text_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void gaussian(uint64_t seed, float *v, int d) {
    lw_rng r;
    lw_rng_seed(&r, seed);
    for (int k = 0; k < d; k++) v[k] = (float)lw_rng_normal(&r);
}

typedef struct {
    bool planted;       /* compositional: x = sum of attribute embeddings; else random per text */
    float E[4][5][DA];  /* attribute embeddings (A) */
    float L[DB][DA];    /* B = L x */
    float Q[DA][DA];    /* chaining: B = Q x, Q orthogonal (dim_b = DA) */
    bool chain;
} synth;

static const char *const WORDS[4][5] = {{"girl", "man", "teacher", "farmer", "doctor"},
                                        {"red", "blue", "green", "yellow", "black"},
                                        {"box", "cup", "ball", "hat", "book"},
                                        {"kitchen", "garden", "office", "car ", "library"}};

static void synth_a(const synth *s, const char *text, float *x) {
    if (!s->planted) {
        gaussian(text_hash(text), x, DA);
        return;
    }
    gaussian(text_hash(text), x, DA); /* small text-specific noise on top of the planted sum */
    for (int k = 0; k < DA; k++) x[k] *= 0.05f;
    char t[256];
    snprintf(t, sizeof t, "%s ", text); /* "car " must not match inside another word */
    for (char *p = t; *p; p++)
        if (*p == '.') *p = ' ';
    for (int a = 0; a < 4; a++)
        for (int v = 0; v < 5; v++)
            if (strstr(t, WORDS[a][v]))
                for (int k = 0; k < DA; k++) x[k] += s->E[a][v][k];
}

static int synth_embed(void *user, int side, const char *const *texts, int n, float *out) {
    const synth *s = user;
    int d = side == 0 || s->chain ? DA : DB;
    for (int i = 0; i < n; i++) {
        float x[DA];
        synth_a(s, texts[i], x);
        float *y = out + (size_t)i * d;
        if (side == 0) memcpy(y, x, sizeof x);
        else if (s->chain)
            for (int r = 0; r < DA; r++) {
                y[r] = 0;
                for (int k = 0; k < DA; k++) y[r] += s->Q[r][k] * x[k];
            }
        else if (s->planted)
            for (int r = 0; r < DB; r++) {
                y[r] = 0;
                for (int k = 0; k < DA; k++) y[r] += s->L[r][k] * x[k];
            }
        else gaussian(text_hash(texts[i]) ^ 0x5eedull, y, DB); /* B unrelated to A: nothing to compose */
    }
    return 0;
}

/* A random orthogonal matrix (Gram-Schmidt of Gaussian rows). */
static void orthogonal(uint64_t seed, float M[DA][DA]) {
    double G[DA][DA];
    lw_rng r;
    lw_rng_seed(&r, seed);
    for (int i = 0; i < DA; i++)
        for (int k = 0; k < DA; k++) G[i][k] = lw_rng_normal(&r);
    for (int i = 0; i < DA; i++) {
        for (int j = 0; j < i; j++) {
            double dot = 0;
            for (int k = 0; k < DA; k++) dot += G[i][k] * G[j][k];
            for (int k = 0; k < DA; k++) G[i][k] -= dot * G[j][k];
        }
        double nn = 0;
        for (int k = 0; k < DA; k++) nn += G[i][k] * G[i][k];
        for (int k = 0; k < DA; k++) G[i][k] /= sqrt(nn), M[i][k] = (float)G[i][k];
    }
}

/* A ridge bridge fitted (tiny penalty, no centering) on random rows x -> M x: M itself. */
static lw_bridge *exact_bridge(const float *M, int d_in, int d_out, uint64_t seed) {
    const int n = 400;
    float *X = malloc(sizeof *X * n * d_in), *Y = malloc(sizeof *Y * n * d_out);
    gaussian(seed, X, n * d_in);
    for (int i = 0; i < n; i++)
        for (int r = 0; r < d_out; r++) {
            double acc = 0;
            for (int k = 0; k < d_in; k++) acc += (double)M[r * d_in + k] * X[i * d_in + k];
            Y[i * d_out + r] = (float)acc;
        }
    lw_bridge_params bp = lw_bridge_default_params();
    bp.center = false;
    bp.alpha = 1e-9;
    lw_bridge *b = lw_bridge_fit(X, Y, n, d_in, d_out, &bp);
    if (!b) fail_msg("bridge fit: %s", lw_last_error());
    free(X);
    free(Y);
    return b;
}

static const lw_probe_stat *find_stat(const lw_probe_result *r, const char *name) {
    for (int i = 0; i < r->n_stats; i++)
        if (!strcmp(r->stats[i].name, name)) return &r->stats[i];
    fail_msg("no statistic %s", name);
    return NULL;
}

static const char *mrpc_dir(void) {
    static char dir[2048];
    const char *f = lw_test_shared_path("data/mrpc/msr_paraphrase_test.txt");
    if (!f) return NULL;
    snprintf(dir, sizeof dir, "%s", f);
    *strrchr(dir, '/') = '\0';
    return dir;
}

/* ---------------------------------------------------------------- chaining */

static void test_chaining_exact_inverse(void **state) {
    (void)state;
    const char *dir = mrpc_dir();
    if (!dir) {
        skip();
        return;
    }
    synth *s = calloc(1, sizeof *s);
    s->chain = true;
    orthogonal(11, s->Q);
    float QT[DA][DA], P[DA][DA], WRONG[DA][DA];
    for (int i = 0; i < DA; i++)
        for (int k = 0; k < DA; k++) QT[i][k] = s->Q[k][i];
    orthogonal(12, P);
    for (int i = 0; i < DA; i++) /* a wrong inverse: Q^T followed by another rotation */
        for (int k = 0; k < DA; k++) {
            double acc = 0;
            for (int j = 0; j < DA; j++) acc += P[i][j] * QT[j][k];
            WRONG[i][k] = (float)acc;
        }
    lw_bridge *fwd = exact_bridge(&s->Q[0][0], DA, DA, 1), *inv = exact_bridge(&QT[0][0], DA, DA, 2),
              *wrong = exact_bridge(&WRONG[0][0], DA, DA, 3);
    lw_probe_pair pair = {"A", "B", DA, DA, synth_embed, s, fwd, inv};
    lw_probe_params p = lw_probe_default_params();
    p.probes = LW_PROBE_CHAINING;
    p.mrpc_dir = dir;
    p.n_natural = 40;
    p.hops = 5;
    p.resamples = 200;
    lw_probe_result r;
    assert_int_equal(lw_probe_panel(&pair, &p, &r), 0);
    for (int hop = 1; hop <= 5; hop++) {
        char name[32];
        snprintf(name, sizeof name, "hop%d_top1", hop);
        const lw_probe_stat *t = find_stat(&r, name);
        assert_int_equal(t->ci.n, 40);
        assert_true(t->ci.mean == 1.0); /* identity kept at every hop */
        snprintf(name, sizeof name, "hop%d_cosine", hop);
        assert_true(find_stat(&r, name)->ci.mean > 0.9999);
    }
    lw_probe_result_free(&r);
    pair.inverse = wrong; /* the same forward map, an inverse that is not one: identity lost at hop 2 */
    assert_int_equal(lw_probe_panel(&pair, &p, &r), 0);
    assert_true(find_stat(&r, "hop1_top1")->ci.mean == 1.0);
    assert_true(find_stat(&r, "hop2_top1")->ci.mean < 0.3);
    assert_true(find_stat(&r, "hop2_cosine")->ci.mean < 0.5);
    lw_probe_result_free(&r);
    lw_bridge_free(fwd);
    lw_bridge_free(inv);
    lw_bridge_free(wrong);
    free(s);
}

/* ---------------------------------------------------------------- compositionality */

/* The compositionality probe on a synthetic pair whose B = L x, through the exact bridge L. */
static lw_probe_result compositionality_panel(lw_probe_embed_fn embed, void *user, const float *L, uint64_t seed,
                                              int n_combos, int n_topsim) {
    lw_bridge *b = exact_bridge(L, DA, DB, seed);
    lw_probe_pair pair = {"A", "B", DA, DB, embed, user, b, NULL};
    lw_probe_params p = lw_probe_default_params();
    p.probes = LW_PROBE_COMPOSITIONALITY;
    p.n_combos = n_combos;
    p.n_topsim = n_topsim;
    p.resamples = 300;
    lw_probe_result r;
    assert_int_equal(lw_probe_panel(&pair, &p, &r), 0);
    lw_bridge_free(b);
    return r;
}

static lw_probe_result run_compositionality(bool planted) {
    synth *s = calloc(1, sizeof *s);
    s->planted = planted;
    gaussian(21, &s->E[0][0][0], 4 * 5 * DA);
    gaussian(22, &s->L[0][0], DB * DA);
    for (int r = 0; r < DB; r++)
        for (int k = 0; k < DA; k++) s->L[r][k] /= sqrtf(DA);
    lw_probe_result r = compositionality_panel(synth_embed, s, &s->L[0][0], 4, 120, 40);
    free(s);
    return r;
}

static void test_compositionality_planted_vs_random(void **state) {
    (void)state;
    lw_probe_result good = run_compositionality(true), bad = run_compositionality(false);
    const lw_probe_stat *gh = find_stat(&good, "heldout_top1"), *bh = find_stat(&bad, "heldout_top1");
    for (int i = 0; i < good.n_stats; i++)
        print_message("%-32s planted %+.3f [%+.3f, %+.3f]  random %+.3f [%+.3f, %+.3f]\n", good.stats[i].name,
                      good.stats[i].ci.mean, good.stats[i].ci.lo, good.stats[i].ci.hi, bad.stats[i].ci.mean,
                      bad.stats[i].ci.lo, bad.stats[i].ci.hi);
    assert_true(gh->ci.n >= 20 && gh->ci.n == bh->ci.n);
    /* planted: held-out combinations come back as well as in-sample ones */
    assert_true(gh->ci.lo > 0.8);
    assert_true(find_stat(&good, "heldout_minus_insample_top1")->ci.lo > -0.2);
    assert_true(find_stat(&good, "topsim_A")->ci.lo > 0.5);
    assert_true(find_stat(&good, "topsim_mapped")->ci.lo > 0.3); /* B = L x: a 24 -> 20 projection blurs it */
    /* random: nothing to compose, held-out at chance (1 / 120), the meaning distances unrelated */
    assert_true(bh->ci.hi < 0.2);
    assert_true(find_stat(&bad, "heldout_minus_insample_top1")->ci.mean <= 0);
    const lw_probe_stat *rt = find_stat(&bad, "topsim_B");
    assert_true(rt->ci.lo < 0.15 && rt->ci.hi > -0.15);
    /* the panels are told apart: their held-out intervals do not overlap */
    assert_true(bh->ci.hi < gh->ci.lo);
    /* every held-out item has a record under each condition, on the same item ids */
    int64_t held = 0, ins = 0;
    for (int64_t i = 0; i < good.n_records; i++) {
        held += !strcmp(good.records[i].condition, "compositionality:heldout");
        ins += !strcmp(good.records[i].condition, "compositionality:insample");
    }
    assert_int_equal(held, gh->ci.n);
    assert_int_equal(ins, gh->ci.n);
    lw_probe_result_free(&good);
    lw_probe_result_free(&bad);
}

/* ---------------------------------------------------------------- role binding */

static const char *const PEOPLE[5] = {"girl", "old man", "teacher", "farmer", "doctor"};
static const char *const THINGS[5] = {"box", "cup", "ball", "hat", "book"};

typedef struct {
    bool order_aware;    /* giver and receiver embedded by different tables; else one table (bag of words) */
    float G[5][DA], R[5][DA], O[5][DA];
    float E[5][3], Wg[DA][3], Wr[DA][3]; /* shared persons: G[p] = Wg e_p, R[p] = Wr e_p, e_p in 3 dimensions */
    float L[DB][DA];
} roles_synth;

static int index_in(const char *const *list, const char *seg) {
    for (int i = 0; i < 5; i++)
        if (strstr(seg, list[i])) return i;
    return -1;
}

/* A: "The G gave the O to the R." -> G-table[G] + O[O] + R-table[R] (no text-specific part, so a
 * role swap is the same vector when one table serves both roles); B = L x; other texts random. */
static int roles_embed(void *user, int side, const char *const *texts, int n, float *out) {
    const roles_synth *s = user;
    int d = side == 0 ? DA : DB;
    for (int i = 0; i < n; i++) {
        float x[DA];
        const char *gave = strstr(texts[i], " gave the "), *to = gave ? strstr(gave, " to the ") : NULL;
        if (!to) {
            gaussian(text_hash(texts[i]) ^ (uint64_t)side, out + (size_t)i * d, d);
            continue;
        }
        char giver[64], thing[64];
        snprintf(giver, sizeof giver, "%.*s", (int)(gave - texts[i]), texts[i]);
        snprintf(thing, sizeof thing, "%.*s", (int)(to - gave), gave);
        int g = index_in(PEOPLE, giver), o = index_in(THINGS, thing), r = index_in(PEOPLE, to);
        assert_true(g >= 0 && o >= 0 && r >= 0);
        if (!s->order_aware && g > r) { /* one table: sum in one order, so a swap is the very same floats */
            int t = g;
            g = r, r = t;
        }
        for (int k = 0; k < DA; k++) x[k] = s->G[g][k] + s->O[o][k] + (s->order_aware ? s->R : s->G)[r][k];
        float *y = out + (size_t)i * d;
        if (side == 0) memcpy(y, x, sizeof x);
        else
            for (int q = 0; q < DB; q++) {
                y[q] = 0;
                for (int k = 0; k < DA; k++) y[q] += s->L[q][k] * x[k];
            }
    }
    return 0;
}

/* shared_persons: one person vector per person (in 3 dimensions, so each is a combination of
 * the others), read by a giver map and a receiver map: role-bound, and a person's giver part
 * follows from what the others' show. Otherwise independent giver and receiver tables. */
static lw_probe_result run_roles(bool order_aware, bool shared_persons) {
    roles_synth *s = calloc(1, sizeof *s);
    s->order_aware = order_aware;
    gaussian(31, &s->G[0][0], 5 * DA);
    gaussian(32, &s->R[0][0], 5 * DA);
    gaussian(33, &s->O[0][0], 5 * DA);
    gaussian(34, &s->L[0][0], DB * DA);
    if (shared_persons) {
        gaussian(35, &s->E[0][0], 5 * 3);
        gaussian(36, &s->Wg[0][0], DA * 3);
        gaussian(37, &s->Wr[0][0], DA * 3);
        for (int p = 0; p < 5; p++)
            for (int k = 0; k < DA; k++) {
                s->G[p][k] = s->R[p][k] = 0;
                for (int j = 0; j < 3; j++) s->G[p][k] += s->Wg[k][j] * s->E[p][j], s->R[p][k] += s->Wr[k][j] * s->E[p][j];
            }
    }
    lw_probe_result r = compositionality_panel(roles_embed, s, &s->L[0][0], 5, 40, 20);
    free(s);
    return r;
}

/* Role binding tells a representation that binds roles from a bag of words: with a giver table
 * and a receiver table every sentence is closer to itself than to its swap and held-out role
 * combinations come back; with one table for both roles a sentence and its swap are the same
 * vector, so consistency is 0 (a tie counts as wrong) and no held-out sentence is retrieved first
 * (its swap ties with it and the pessimistic rule ranks the swap above). */
static void test_roles_bound_vs_bag_of_words(void **state) {
    (void)state;
    lw_probe_result good = run_roles(true, false), bad = run_roles(false, false), shared = run_roles(true, true);
    const char *const show[] = {"roles_pair_consistency", "roles_newpair_heldout_top1", "roles_newgiver_heldout_top1",
                                "roles_newgiver_insample_top1"};
    for (int i = 0; i < 4; i++)
        print_message("%-30s bound %.3f  bag %.3f  bound, shared persons %.3f\n", show[i], find_stat(&good, show[i])->ci.mean,
                      find_stat(&bad, show[i])->ci.mean, find_stat(&shared, show[i])->ci.mean);
    const lw_probe_stat *gp = find_stat(&good, "roles_pair_consistency"), *bp = find_stat(&bad, "roles_pair_consistency");
    const lw_probe_stat *gh = find_stat(&good, "roles_newpair_heldout_top1"),
                        *bh = find_stat(&bad, "roles_newpair_heldout_top1");
    /* the notes say what is measured to the end (a 200-byte field cut this one at "every person seen i") */
    assert_non_null(strstr(gh->note, "every person seen in both roles) retrieved among all 100 (B)"));
    assert_int_equal(gp->ci.n, 100);
    assert_int_equal(gh->ci.n, 50); /* the 10 ordered pairs of neighbours on the circle, x 5 objects */
    assert_true(gp->ci.mean == 1.0 && bp->ci.mean == 0.0);
    assert_true(gh->ci.mean == 1.0 && bh->ci.mean == 0.0);
    assert_true(find_stat(&bad, "roles_newpair_insample_top1")->ci.mean == 0.0);
    /* the harder split tells the two bound spaces apart, which newpair (1.000 for both) does not:
     * a person never seen giving is found when persons are shared across roles, not when each
     * (person, role) has its own vector; the bag of words still ties with the swap */
    const lw_probe_stat *ng = find_stat(&good, "roles_newgiver_heldout_top1"),
                        *ns = find_stat(&shared, "roles_newgiver_heldout_top1");
    assert_int_equal(ng->ci.n, 100);
    assert_true(ns->ci.mean == 1.0 && find_stat(&shared, "roles_newgiver_insample_top1")->ci.mean == 1.0);
    assert_true(find_stat(&good, "roles_newgiver_insample_top1")->ci.mean == 1.0);
    assert_true(ng->ci.hi < ns->ci.lo);
    assert_true(find_stat(&bad, "roles_newgiver_heldout_top1")->ci.mean == 0.0);
    assert_true(find_stat(&shared, "roles_newpair_heldout_top1")->ci.mean == 1.0);
    /* a sentence and its role swap share every word: the intervals count swap pairs, and at the
     * boundary (all right) that is Clopper-Pearson on the pairs, 0.025^(1/pairs) */
    assert_int_equal(gp->ci.n_clusters, 50);
    assert_int_equal(gh->ci.n_clusters, 25);
    assert_int_equal(ng->ci.n_clusters, 50);
    assert_true(fabs(gp->ci.lo - pow(0.025, 1.0 / 50)) < 1e-12);
    assert_true(fabs(gh->ci.lo - pow(0.025, 1.0 / 25)) < 1e-12);
    assert_int_equal(find_stat(&good, "roles_newgiver_heldout_minus_insample_top1")->ci.n_clusters, 50);
    int64_t roles = 0;
    for (int64_t i = 0; i < good.n_records; i++) {
        const lw_item_record *x = &good.records[i];
        if (strncmp(x->condition, "compositionality:roles_", 23) != 0) continue;
        roles++;
        assert_non_null(x->cluster);
        /* item rGOR (giver, object, receiver) and its swap rROG name one cluster: one of the two */
        char swap[8];
        snprintf(swap, sizeof swap, "r%c%c%c", x->item[3], x->item[2], x->item[1]);
        assert_true(!strcmp(x->cluster, x->item) || !strcmp(x->cluster, swap));
    }
    assert_int_equal(roles, 100 + 2 * 50 + 2 * 100);
    int64_t held = 0;
    for (int64_t i = 0; i < good.n_records; i++) held += !strcmp(good.records[i].condition, "compositionality:roles_newpair_heldout");
    assert_int_equal(held, 50);
    held = 0;
    for (int64_t i = 0; i < good.n_records; i++) held += !strcmp(good.records[i].condition, "compositionality:roles_newgiver_heldout");
    assert_int_equal(held, 100);
    lw_probe_result_free(&good);
    lw_probe_result_free(&bad);
    lw_probe_result_free(&shared);
}

static void test_bad_pair(void **state) {
    (void)state;
    float I[DB * DA] = {0};
    lw_bridge *b = exact_bridge(I, DA, DB, 5);
    synth s = {0};
    lw_probe_pair pair = {"A", "B", DA + 1, DB, synth_embed, &s, b, NULL};
    lw_probe_params p = lw_probe_default_params();
    lw_probe_result r;
    assert_int_equal(lw_probe_panel(&pair, &p, &r), -1);
    assert_non_null(strstr(lw_last_error(), "maps from width 24, but A has width 25"));
    pair.dim_a = DA, pair.bridge = NULL;
    assert_int_equal(lw_probe_panel(&pair, &p, &r), -1);
    assert_non_null(strstr(lw_last_error(), "no bridge"));
    assert_int_equal(lw_probe_parse_list("chaining,telepathy"), 0);
    assert_non_null(strstr(lw_last_error(), "unknown probe 'telepathy'"));
    assert_int_equal(lw_probe_parse_list("all"), LW_PROBE_ALL);
    lw_bridge_free(b);
}

/* probes.json through lw_probe_save, rendered by the report as a probe table; names escaped. */
static void test_save_and_report(void **state) {
    (void)state;
    float I[DB * DA] = {0};
    lw_bridge *b = exact_bridge(I, DA, DB, 6);
    lw_probe_pair pair = {"gemma <b>", "smol", DA, DB, synth_embed, NULL, b, NULL};
    lw_probe_stat st[2] = {{"chaining", "hop1_top1", {0.25, 0.1, 0.5, 40, "clopper-pearson", 0, 1.0}, NAN, "chaining:hop1",
                            "top1", "retrieved"},
                           {"symbolic", "aggregation_lift", {-0.125, -0.3, 0.05, 16, "newcombe", 0, 1.0}, 0.042, "", "top1",
                            "lift"}};
    lw_item_record rec[1] = {{"chaining:hop1", "i0", "top1", NULL, 1, NULL}};
    lw_probe_result r = {.stats = st, .n_stats = 2, .records = rec, .n_records = 1};
    lw_probe_params p = lw_probe_default_params();
    const char *dir = lw_test_fresh_dir("probes_save");
    assert_int_equal(lw_probe_save(dir, &pair, &p, &r, NULL, "{\"a\": \"x\"}"), 0);
    const char *in[] = {lw_test_join(dir, "probes.json")};
    char *page = lw_report_html(in, 1, NULL);
    if (!page) fail_msg("report: %s", lw_last_error());
    assert_non_null(strstr(page, "<h3>chaining</h3>"));
    assert_non_null(strstr(page, "<td>hop1_top1</td><td>40</td><td>+0.250 [+0.100, +0.500]</td><td>-</td>"));
    assert_non_null(strstr(page, "<td>aggregation_lift</td><td>16</td><td>-0.125 [-0.300, +0.050]</td><td>0.042</td>"));
    assert_non_null(strstr(page, "gemma &lt;b&gt;"));
    assert_null(strstr(page, "<b>"));
    free(page);
    char *recs = lw_test_read_file(lw_test_join(dir, "records.jsonl"));
    assert_non_null(strstr(recs, "latentwire.items/1"));
    assert_non_null(strstr(recs, "chaining:hop1"));
    free(recs);
    lw_bridge_free(b);
}

/* The quantifier probe's 4 variants of one template are one 4-way retrieval among each other:
 * its statistics count templates (clusters of 4), not sentences. */
static void test_quantifier_clusters(void **state) {
    (void)state;
    synth *s = calloc(1, sizeof *s);
    s->chain = true;
    orthogonal(11, s->Q);
    lw_bridge *fwd = exact_bridge(&s->Q[0][0], DA, DA, 1);
    lw_probe_pair pair = {"A", "B", DA, DA, synth_embed, s, fwd, NULL};
    lw_probe_params p = lw_probe_default_params();
    p.probes = LW_PROBE_SYMBOLIC;
    p.n_symbolic = 8;
    p.resamples = 200;
    lw_probe_result r;
    if (lw_probe_panel(&pair, &p, &r) != 0) fail_msg("probes: %s", lw_last_error());
    const char *names[] = {"quantifier_top1", "quantifier_template_control_top1", "quantifier_minus_control_top1"};
    for (int i = 0; i < 3; i++) {
        const lw_probe_stat *t = find_stat(&r, names[i]);
        assert_true(t->ci.n >= 8 && t->ci.n % 4 == 0);
        assert_int_equal(t->ci.n_clusters, t->ci.n / 4);
        assert_true(t->ci.design_effect >= 1.0);
    }
    lw_probe_result_free(&r);
    lw_bridge_free(fwd);
    free(s);
}


/* ---------------------------------------------------------------- resume */

/* An embedder whose vectors depend on which texts are embedded together (as a real model's do in
 * their last bits: kernels change with the batch): the synthetic vector plus 1e-3 x the batch size
 * in its first coordinate. It counts its calls. */
typedef struct {
    synth *s;
    int calls;
} batchy;

static int batchy_embed(void *user, int side, const char *const *texts, int n, float *out) {
    batchy *b = user;
    b->calls++;
    int rc = synth_embed(b->s, side, texts, n, out);
    int d = side == 0 || b->s->chain ? DA : DB;
    for (int i = 0; i < n; i++) out[(size_t)i * d] += 1e-3f * (float)n;
    return rc;
}

/* The first `keep` lines of a file (its settings line and keep - 1 records) written to another. */
static void head_lines(const char *from, const char *to, int keep) {
    char *text = lw_test_read_file(from);
    assert_non_null(text);
    char *p = text;
    for (int i = 0; i < keep && p; i++) {
        p = strchr(p, '\n');
        if (p) p++;
    }
    assert_non_null(p);
    *p = '\0';
    lw_test_write_text(to, text);
    free(text);
}

static void assert_same_result(const lw_probe_result *a, const lw_probe_result *b) {
    assert_int_equal(a->n_stats, b->n_stats);
    for (int i = 0; i < a->n_stats; i++) {
        assert_string_equal(a->stats[i].name, b->stats[i].name);
        assert_true(a->stats[i].ci.mean == b->stats[i].ci.mean);
        assert_true(a->stats[i].ci.lo == b->stats[i].ci.lo && a->stats[i].ci.hi == b->stats[i].ci.hi);
    }
    assert_int_equal(a->n_records, b->n_records);
    for (int64_t i = 0; i < a->n_records; i++) assert_true(a->records[i].value == b->records[i].value);
}

/* A panel interrupted after half its embedding calls and resumed runs only the other half and
 * gives every number of the uninterrupted run, although its embedder's vectors depend on the
 * batch; a file of other settings is refused. */
static void test_resume_exact(void **state) {
    (void)state;
    const char *dir = mrpc_dir();
    if (!dir) {
        skip();
        return;
    }
    synth *s = calloc(1, sizeof *s);
    s->chain = true;
    orthogonal(11, s->Q);
    lw_bridge *fwd = exact_bridge(&s->Q[0][0], DA, DA, 1);
    batchy b = {s, 0};
    lw_probe_pair pair = {"A", "B", DA, DA, batchy_embed, &b, fwd, NULL};
    lw_probe_params p = lw_probe_default_params();
    p.mrpc_dir = dir;
    p.n_combos = 40, p.n_topsim = 20, p.n_natural = 30, p.n_calib = 40, p.hops = 2, p.n_confusers = 10;
    p.n_symbolic = 8, p.resamples = 200;
    char full[4096], part[4096];
    snprintf(full, sizeof full, "%s", lw_test_tmpfile("probes_full.partial"));
    snprintf(part, sizeof part, "%s", lw_test_tmpfile("probes_half.partial"));
    p.records_path = full;
    p.settings_json = "{\"a\": \"synthetic\"}";
    lw_probe_result want, got;
    if (lw_probe_panel(&pair, &p, &want) != 0) fail_msg("probes: %s", lw_last_error());
    int calls = b.calls;
    assert_true(calls >= 6);
    head_lines(full, part, 1 + calls / 2);

    b.calls = 0;
    p.records_path = part, p.resume = true;
    if (lw_probe_panel(&pair, &p, &got) != 0) fail_msg("resumed probes: %s", lw_last_error());
    assert_int_equal(b.calls, calls - calls / 2);
    assert_same_result(&want, &got);
    lw_probe_result_free(&got);
    /* the file now holds every call: nothing is embedded again */
    b.calls = 0;
    if (lw_probe_panel(&pair, &p, &got) != 0) fail_msg("resumed probes: %s", lw_last_error());
    assert_int_equal(b.calls, 0);
    assert_same_result(&want, &got);
    lw_probe_result_free(&got);

    p.n_natural = 31; /* other settings: refused, the file kept */
    assert_int_equal(lw_probe_panel(&pair, &p, &got), -1);
    assert_non_null(strstr(lw_last_error(), "--resume"));
    assert_true(lw_test_file_exists(part));
    lw_probe_result_free(&want);
    lw_bridge_free(fwd);
    free(s);
}

/* The records file as an adversary leaves it: a directory, one of the MRPC files the panel reads
 * (by another path), a torn last line, a record pasted twice, settings that are no JSON object.
 * Each is refused with one line naming the file, the input is left as it was, or (a torn line)
 * the resumed run gives the uninterrupted run's numbers. */
static void test_resume_adversarial(void **state) {
    (void)state;
    const char *dir = mrpc_dir();
    if (!dir) {
        skip();
        return;
    }
    synth *s = calloc(1, sizeof *s);
    s->chain = true;
    orthogonal(11, s->Q);
    lw_bridge *fwd = exact_bridge(&s->Q[0][0], DA, DA, 1);
    batchy b = {s, 0};
    lw_probe_pair pair = {"A", "B", DA, DA, batchy_embed, &b, fwd, NULL};
    lw_probe_params p = lw_probe_default_params();
    p.probes = LW_PROBE_CHAINING;
    p.n_natural = 30, p.n_calib = 40, p.hops = 2, p.resamples = 200;
    p.settings_json = "{\"a\": \"synthetic\"}";
    lw_probe_result got;

    /* a directory: refused, resumed or not, and left alone */
    const char *work = lw_test_fresh_dir("probes_resume_adv");
    char sub[4096], data[4096], train[8192], link[8192], full[4096], part[4096];
    snprintf(sub, sizeof sub, "%s/records.d", work);
    assert_int_equal(mkdir(sub, 0755), 0);
    p.mrpc_dir = dir, p.records_path = sub;
    REFUSED(lw_probe_panel(&pair, &p, &got), "records.d");
    p.resume = true;
    REFUSED(lw_probe_panel(&pair, &p, &got), "records.d");
    assert_int_equal(lw_test_dir_entries(sub), 0);
    assert_int_equal(lw_test_dir_entries(work), 1); /* no temporary left beside it */

    /* an input of the panel (an MRPC file, named through a link): refused, the file unchanged */
    snprintf(data, sizeof data, "%s/mrpc", work);
    assert_int_equal(mkdir(data, 0755), 0);
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "msr_paraphrase_test.txt" : "msr_paraphrase_train.txt";
        char from[4096];
        snprintf(from, sizeof from, "%s/%s", dir, name);
        char *text = lw_test_read_file(from);
        assert_non_null(text);
        lw_test_write_text(lw_test_join(data, name), text);
        free(text);
    }
    snprintf(train, sizeof train, "%s/msr_paraphrase_train.txt", data);
    snprintf(link, sizeof link, "%s/records.jsonl", work);
    assert_int_equal(symlink(train, link), 0);
    char *before = lw_test_read_file(train);
    p.mrpc_dir = data, p.resume = false;
    for (int i = 0; i < 2; i++) {
        p.records_path = i ? link : train;
        REFUSED(lw_probe_panel(&pair, &p, &got), p.records_path);
        char *after = lw_test_read_file(train);
        assert_non_null(after);
        assert_string_equal(after, before);
        free(after);
    }
    free(before);

    /* a last line torn mid-record: dropped, and the resumed run is the uninterrupted one */
    snprintf(full, sizeof full, "%s/full.partial", work);
    snprintf(part, sizeof part, "%s/torn.partial", work);
    p.records_path = full, p.resume = false;
    lw_probe_result want;
    if (lw_probe_panel(&pair, &p, &want) != 0) fail_msg("probes: %s", lw_last_error());
    int calls = b.calls;
    assert_true(calls >= 3);
    char *text = lw_test_read_file(full);
    assert_non_null(text);
    char *second = strchr(strchr(text, '\n') + 1, '\n') + 1; /* after the settings line and one record */
    second[(strchr(second, '\n') - second) / 2] = '\0'; /* the second record, half written */
    lw_test_write_text(part, text);
    b.calls = 0;
    p.records_path = part, p.resume = true;
    if (lw_probe_panel(&pair, &p, &got) != 0) fail_msg("resumed probes: %s", lw_last_error());
    assert_int_equal(b.calls, calls - 1);
    assert_same_result(&want, &got);
    lw_probe_result_free(&got);

    /* a record pasted twice: refused, naming both lines; the file kept */
    free(text);
    text = lw_test_read_file(full);
    assert_non_null(text);
    char *nl = strchr(text, '\n'), *rec_end = strchr(nl + 1, '\n');
    size_t n_rec = (size_t)(rec_end - nl);
    char *twice = malloc((size_t)(rec_end - text) + n_rec + 2);
    memcpy(twice, text, (size_t)(rec_end - text) + 1);
    memcpy(twice + (rec_end - text) + 1, nl + 1, n_rec);
    twice[(rec_end - text) + 1 + n_rec] = '\0';
    lw_test_write_text(part, twice);
    REFUSED(lw_probe_panel(&pair, &p, &got), "lines 2 and 3 hold the same record");
    assert_true(lw_test_file_exists(part));
    free(twice);
    free(text);

    /* settings that are no JSON object, and resume without a file */
    p.settings_json = "[1]";
    REFUSED(lw_probe_panel(&pair, &p, &got), "not a JSON object");
    p.settings_json = "{\"a\": \"synthetic\"}", p.records_path = NULL;
    REFUSED(lw_probe_panel(&pair, &p, &got), "records_path");
    lw_probe_result_free(&want);
    lw_bridge_free(fwd);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spearman),
        cmocka_unit_test(test_topsim_bca),
        cmocka_unit_test(test_top1),
        cmocka_unit_test(test_additive_lift),
        cmocka_unit_test(test_shuffle_words),
        cmocka_unit_test(test_chaining_exact_inverse),
        cmocka_unit_test(test_compositionality_planted_vs_random),
        cmocka_unit_test(test_roles_bound_vs_bag_of_words),
        cmocka_unit_test(test_quantifier_clusters),
        cmocka_unit_test(test_bad_pair),
        cmocka_unit_test(test_save_and_report),
        cmocka_unit_test(test_resume_exact),
        cmocka_unit_test(test_resume_adversarial),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
