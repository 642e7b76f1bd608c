/* Bridges through the public API: exact recovery of a known linear map by ridge (primal
 * and dual regimes), held-out error that shrinks with N, Procrustes recovering a planted
 * rotation, every recipe round-tripping through save/load with identical outputs, output
 * dimensions, bad input, truncated and corrupted bridge files (every prefix, random byte
 * flips), and relative representations against a naive cosine computation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "latentwire/bridge.h"
#include "latentwire/safetensors.h"
#include "support/testutil.h"

/* ------------------------------------------------------------------ helpers ---- */

static uint64_t g_rng = 777;

static uint64_t rng_u64(void) {
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double gauss(void) {
    double u = ((rng_u64() >> 11) + 1) * 0x1.0p-53, v = (rng_u64() >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static float *randn(int64_t rows, int cols) {
    float *M = malloc(sizeof(float) * (size_t)(rows * cols > 0 ? rows * cols : 1));
    assert_non_null(M);
    for (int64_t i = 0; i < rows * cols; i++) M[i] = (float)gauss();
    return M;
}

/* C = A B + bias (A rows x k, B k x cols), accumulated in double. */
static float *affine(const float *A, const float *B, const float *bias, int64_t rows, int k, int cols) {
    float *C = malloc(sizeof(float) * (size_t)(rows * cols));
    assert_non_null(C);
    for (int64_t i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            double s = bias ? bias[j] : 0.0;
            for (int l = 0; l < k; l++) s += (double)A[i * k + l] * B[(int64_t)l * cols + j];
            C[i * cols + j] = (float)s;
        }
    return C;
}

static float *apply_src(const lw_bridge *b, const float *X, int64_t n) {
    float *out = malloc(sizeof(float) * (size_t)(n * lw_bridge_out_dim(b) + 1));
    assert_non_null(out);
    if (lw_bridge_apply_source(b, X, n, out) != 0) fail_msg("apply_source: %s", lw_last_error());
    return out;
}

static float *apply_tgt(const lw_bridge *b, const float *Y, int64_t n) {
    float *out = malloc(sizeof(float) * (size_t)(n * lw_bridge_out_dim(b) + 1));
    assert_non_null(out);
    if (lw_bridge_apply_target(b, Y, n, out) != 0) fail_msg("apply_target: %s", lw_last_error());
    return out;
}

static lw_bridge *fit_ok(const float *X, const float *Y, int64_t n, int dA, int dB, const lw_bridge_params *p) {
    lw_bridge *b = lw_bridge_fit(X, Y, n, dA, dB, p);
    if (!b) fail_msg("fit (%s): %s", lw_bridge_recipe_name(p->recipe), lw_last_error());
    return b;
}

/* The fit must fail with a one-line error containing `expect`. */
static void fit_fails(const float *X, const float *Y, int64_t n, int dA, int dB, const lw_bridge_params *p,
                      const char *expect) {
    lw_clear_error();
    lw_bridge *b = lw_bridge_fit(X, Y, n, dA, dB, p);
    if (b) {
        lw_bridge_free(b);
        fail_msg("fit accepted bad input (expected an error containing \"%s\")", expect);
    }
    const char *e = lw_last_error();
    if (!strstr(e, expect) || strchr(e, '\n')) fail_msg("error \"%s\" lacks \"%s\"", e, expect);
}

/* The fit record, parsed; the caller decrefs. */
static json_t *record(const lw_bridge *b) {
    json_error_t err;
    json_t *r = json_loads(lw_bridge_info_json(b), 0, &err);
    if (!json_is_object(r)) fail_msg("info_json is not a JSON object: %s", err.text);
    return r;
}

static json_t *path_get(json_t *r, const char *a, const char *b) {
    json_t *v = json_object_get(r, a);
    return b ? json_object_get(v, b) : v;
}

static double rel_err(const float *a, const float *b, size_t n) { return lw_test_max_rel_err(a, b, n, 1e-6); }

/* ------------------------------------------------------ ridge: exact recovery ---- */

/* Y = X W0 + b0 exactly; a tiny explicit alpha must reproduce held-out targets. */
static void recovery_case(int n, int dA, int dB, int latent, const char *solver) {
    int nt = 40;
    /* X = Z M: rows in a latent-dimensional subspace, so held-out rows are determined
     * even when n < dA (the dual regime). */
    float *Z = randn(n + nt, latent), *M = randn(latent, dA), *W0 = randn(dA, dB), *b0 = randn(1, dB);
    float *X = affine(Z, M, NULL, n + nt, latent, dA), *Y = affine(X, W0, b0, n + nt, dA, dB);
    lw_bridge_params p = lw_bridge_default_params();
    p.alpha = 1e-9;
    lw_bridge *b = fit_ok(X, Y, n, dA, dB, &p);
    json_t *r = record(b);
    assert_string_equal(json_string_value(path_get(r, "alpha", "solver")), solver);
    assert_string_equal(json_string_value(path_get(r, "alpha", "selection")), "given");
    assert_true(json_real_value(path_get(r, "stats", "train_r2")) > 1.0 - 1e-8);
    const float *Xt = X + (size_t)n * dA, *Yt = Y + (size_t)n * dB;
    float *ps = apply_src(b, Xt, nt), *pt = apply_tgt(b, Yt, nt);
    double e = rel_err(ps, pt, (size_t)nt * dB);
    if (!(e < 2e-4)) fail_msg("%s: held-out relative error %.3g", solver, e);
    json_decref(r);
    lw_bridge_free(b);
    free(Z), free(M), free(W0), free(b0), free(X), free(Y), free(ps), free(pt);
}

static void test_ridge_recovers_noise_free_map(void **state) {
    (void)state;
    recovery_case(200, 20, 12, 20, "primal"); /* n >= dA: full-rank X */
    recovery_case(40, 100, 12, 10, "dual");   /* n < dA: X of rank 10 */
}

/* The same noise-free data under GCV: the smallest grid alpha is chosen. */
static void test_gcv_noise_free_picks_smallest(void **state) {
    (void)state;
    int n = 150, dA = 10, dB = 6;
    float *X = randn(n, dA), *W0 = randn(dA, dB), *Y = affine(X, W0, NULL, n, dA, dB);
    lw_bridge_params p = lw_bridge_default_params();
    p.alpha_min = 1e-8;
    p.alpha_max = 1e2;
    p.alpha_steps = 11;
    for (int sel = 0; sel < 2; sel++) {
        p.alpha_select = sel ? LW_ALPHA_KFOLD : LW_ALPHA_GCV;
        lw_bridge *b = fit_ok(X, Y, n, dA, dB, &p);
        json_t *r = record(b);
        assert_string_equal(json_string_value(path_get(r, "alpha", "selection")), sel ? "kfold" : "gcv");
        assert_int_equal(json_integer_value(path_get(r, "alpha", "index")), 0);
        assert_int_equal(json_array_size(path_get(r, "alpha", "scores")), 11);
        assert_false(json_is_true(path_get(r, "alpha", "fallback")));
        json_decref(r);
        lw_bridge_free(b);
    }
    free(X), free(W0), free(Y);
}

/* The GCV scores of a centred ridge, computed here from their definition: for each grid alpha (alpha_min
 * (alpha_max / alpha_min)^(i / (steps - 1)), relative to trace(Xc'Xc) / d), with Xc, Yc the centred
 * rows and H = Xc (Xc'Xc + alpha I)^-1 Xc', GCV = (|Yc - H Yc|^2 / n) / (1 - (1 + tr H) / n)^2: the
 * 1 counts the intercept that centring fitted. Mutants that dropped it, or stopped the grid short of
 * alpha_max, went unnoticed. d = 2, so (Xc'Xc + alpha I)^-1 is written out. */
static void test_gcv_scores_by_hand(void **state) {
    (void)state;
    enum { N = 9, DA = 2, DB = 2, STEPS = 5 };
    float *X = randn(N, DA), *W0 = randn(DA, DB), *Y = affine(X, W0, NULL, N, DA, DB);
    for (int i = 0; i < N * DB; i++) Y[i] += (float)(0.5 * gauss());
    lw_bridge_params p = lw_bridge_default_params();
    p.alpha_min = 1e-3, p.alpha_max = 10, p.alpha_steps = STEPS, p.alpha_select = LW_ALPHA_GCV;
    lw_bridge *b = fit_ok(X, Y, N, DA, DB, &p);
    json_t *r = record(b);
    double xc[N][DA], yc[N][DB], mx[DA] = {0}, my[DB] = {0}, scale = 0;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < DA; j++) mx[j] += X[i * DA + j] / (double)N;
        for (int j = 0; j < DB; j++) my[j] += Y[i * DB + j] / (double)N;
    }
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < DA; j++) {
            xc[i][j] = X[i * DA + j] - mx[j];
            scale += xc[i][j] * xc[i][j] / DA;
        }
        for (int j = 0; j < DB; j++) yc[i][j] = Y[i * DB + j] - my[j];
    }
    assert_true(fabs(json_real_value(path_get(r, "alpha", "scale")) / scale - 1) < 1e-6); /* its means are rounded to float */
    json_t *grid = path_get(r, "alpha", "grid"), *scores = path_get(r, "alpha", "scores");
    assert_int_equal(json_array_size(grid), STEPS);
    for (int s = 0; s < STEPS; s++) {
        double g = 1e-3 * pow(10 / 1e-3, (double)s / (STEPS - 1)), a = g * scale;
        assert_true(fabs(json_real_value(json_array_get(grid, s)) / g - 1) < 1e-12);
        double A[2][2] = {{a, 0}, {0, a}};
        for (int i = 0; i < N; i++)
            for (int j = 0; j < 2; j++)
                for (int k = 0; k < 2; k++) A[j][k] += xc[i][j] * xc[i][k];
        double det = A[0][0] * A[1][1] - A[0][1] * A[1][0];
        double Ai[2][2] = {{A[1][1] / det, -A[0][1] / det}, {-A[1][0] / det, A[0][0] / det}};
        double tr = 0, rss = 0;
        for (int i = 0; i < N; i++) {
            for (int m = 0; m < DB; m++) {
                double fit = 0; /* (H Yc)[i][m] */
                for (int t = 0; t < N; t++) {
                    double h = 0;
                    for (int j = 0; j < 2; j++)
                        for (int k = 0; k < 2; k++) h += xc[i][j] * Ai[j][k] * xc[t][k];
                    if (t == i && m == 0) tr += h;
                    fit += h * yc[t][m];
                }
                rss += (yc[i][m] - fit) * (yc[i][m] - fit);
            }
        }
        double denom = 1 - (1 + tr) / N, want = (rss / N) / (denom * denom);
        double got = json_real_value(json_array_get(scores, s));
        if (fabs(got / want - 1) > 1e-6) fail_msg("GCV at grid %d: %.10g, by hand %.10g", s, got, want);
    }
    json_decref(r);
    lw_bridge_free(b);
    free(X), free(W0), free(Y);
}

/* --------------------------------------------- ridge: error shrinks with N ---- */

static void test_heldout_error_shrinks_with_n(void **state) {
    (void)state;
    int dA = 30, dB = 10, nt = 400, sizes[3] = {50, 200, 800};
    float *W0 = randn(dA, dB), *b0 = randn(1, dB);
    float *Xt = randn(nt, dA), *Tt = affine(Xt, W0, b0, nt, dA, dB); /* noise-free truth */
    double err[3];
    for (int s = 0; s < 3; s++) {
        int n = sizes[s];
        float *X = randn(n, dA), *Y = affine(X, W0, b0, n, dA, dB);
        for (int i = 0; i < n * dB; i++) Y[i] += (float)(2.0 * gauss());
        lw_bridge_params p = lw_bridge_default_params();
        lw_bridge *b = fit_ok(X, Y, n, dA, dB, &p);
        float *ps = apply_src(b, Xt, nt), *pt = apply_tgt(b, Tt, nt);
        double e = 0.0;
        for (int i = 0; i < nt * dB; i++) e += (double)(ps[i] - pt[i]) * (ps[i] - pt[i]);
        err[s] = e / (nt * dB);
        lw_bridge_free(b);
        free(X), free(Y), free(ps), free(pt);
    }
    if (!(err[0] > err[1] && err[1] > err[2]))
        fail_msg("held-out MSE does not shrink: N=50 %.4g, N=200 %.4g, N=800 %.4g", err[0], err[1], err[2]);
    free(W0), free(b0), free(Xt), free(Tt);
}

/* ------------------------------------------------------ Procrustes rotation ---- */

static void test_procrustes_recovers_rotation(void **state) {
    (void)state;
    int n = 100, d = 8;
    double Q[64], tau[8];
    for (int i = 0; i < d * d; i++) Q[i] = gauss();
    assert_int_equal(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, d, d, Q, d, tau), 0);
    assert_int_equal(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, d, d, d, Q, d, tau), 0);
    float Qf[64];
    for (int i = 0; i < d * d; i++) Qf[i] = (float)Q[i];
    float *X = randn(n, d), *Y = affine(X, Qf, NULL, n, d, d);
    lw_bridge_params p = lw_bridge_default_params();
    p.recipe = LW_BRIDGE_PROCRUSTES;
    lw_bridge *b = fit_ok(X, Y, n, d, d, &p);
    assert_int_equal(lw_bridge_out_dim(b), d);
    float *ps = apply_src(b, X, n), *pt = apply_tgt(b, Y, n);
    double e = rel_err(ps, pt, (size_t)n * d);
    if (!(e < 1e-5)) fail_msg("Procrustes: relative error %.3g", e);
    lw_bridge_free(b);
    free(X), free(Y), free(ps), free(pt);
}

/* ------------------------------------------------------- round trips, dims ---- */

typedef struct {
    lw_bridge_recipe recipe;
    bool center, scale;
    int rank;
    int expect_out; /* -1: dB */
} recipe_case;

static const recipe_case k_cases[] = {
    {LW_BRIDGE_RIDGE, true, false, 0, -1},       {LW_BRIDGE_RIDGE, false, true, 0, -1},
    {LW_BRIDGE_PCA_RIDGE, true, false, 5, -1},   {LW_BRIDGE_PCA2_RIDGE, true, true, 4, -1},
    {LW_BRIDGE_PROCRUSTES, true, false, 6, 6},   {LW_BRIDGE_CCA, true, false, 3, 3},
    {LW_BRIDGE_CCA, false, true, 0, 12},         {LW_BRIDGE_RELREP, true, false, 7, 7},
    {LW_BRIDGE_RELREP, false, false, 0, 60},
};
#define N_CASES ((int)(sizeof k_cases / sizeof k_cases[0]))

/* Correlated sides: Y = X W0 + noise, n = 60, dA = 16, dB = 12. */
static void make_pair(float **X, float **Y, int n, int dA, int dB) {
    float *W0 = randn(dA, dB), *b0 = randn(1, dB);
    *X = randn(n, dA);
    *Y = affine(*X, W0, b0, n, dA, dB);
    for (int i = 0; i < n * dB; i++) (*Y)[i] += (float)(0.3 * gauss());
    free(W0), free(b0);
}

static lw_bridge *fit_case(const recipe_case *c, const float *X, const float *Y, int n, int dA, int dB) {
    lw_bridge_params p = lw_bridge_default_params();
    p.recipe = c->recipe;
    p.center = c->center;
    p.scale = c->scale;
    if (c->recipe == LW_BRIDGE_RELREP) p.n_anchors = c->rank;
    else p.rank = c->rank;
    return fit_ok(X, Y, n, dA, dB, &p);
}

static void test_roundtrip_every_recipe(void **state) {
    (void)state;
    int n = 60, dA = 16, dB = 12, nt = 9;
    float *X, *Y;
    make_pair(&X, &Y, n, dA, dB);
    float *Xt = randn(nt, dA), *Yt = randn(nt, dB);
    for (int c = 0; c < N_CASES; c++) {
        lw_bridge *b = fit_case(&k_cases[c], X, Y, n, dA, dB);
        int out = k_cases[c].expect_out < 0 ? dB : k_cases[c].expect_out;
        assert_int_equal(lw_bridge_out_dim(b), out);
        assert_int_equal(lw_bridge_source_dim(b), dA);
        assert_int_equal(lw_bridge_target_dim(b), dB);
        assert_int_equal(lw_bridge_get_recipe(b), k_cases[c].recipe);
        assert_int_equal(lw_bridge_set_meta(b, "model_a_sha256", "\"abc123\""), 0);
        assert_int_equal(lw_bridge_set_meta(b, "layers", "[3, 4]"), 0);
        const char *path = lw_test_tmpfile("roundtrip.safetensors");
        if (lw_bridge_save(b, path) != 0) fail_msg("save: %s", lw_last_error());
        lw_bridge *l = lw_bridge_load(path);
        if (!l) fail_msg("load (%s): %s", lw_bridge_recipe_name(k_cases[c].recipe), lw_last_error());
        assert_string_equal(lw_bridge_info_json(l), lw_bridge_info_json(b));
        assert_int_equal(lw_bridge_out_dim(l), out);
        assert_int_equal(lw_bridge_get_recipe(l), k_cases[c].recipe);
        float *s1 = apply_src(b, Xt, nt), *s2 = apply_src(l, Xt, nt);
        float *t1 = apply_tgt(b, Yt, nt), *t2 = apply_tgt(l, Yt, nt);
        assert_memory_equal(s1, s2, sizeof(float) * nt * out);
        assert_memory_equal(t1, t2, sizeof(float) * nt * out);
        for (int i = 0; i < nt * out; i++) assert_true(isfinite(s1[i]) && isfinite(t1[i]));
        /* The record holds what the lead asked for. */
        json_t *r = record(l);
        assert_string_equal(json_string_value(json_object_get(r, "recipe")), lw_bridge_recipe_name(k_cases[c].recipe));
        assert_int_equal(json_integer_value(json_object_get(r, "n_calibration")), n);
        assert_string_equal(json_string_value(path_get(r, "meta", "model_a_sha256")), "abc123");
        assert_int_equal(json_array_size(path_get(r, "meta", "layers")), 2);
        assert_true(json_is_object(json_object_get(r, "params")));
        assert_true(json_is_object(json_object_get(r, "stats")));
        assert_true(json_is_number(path_get(r, "stats", "train_cosine")));
        if (k_cases[c].recipe <= LW_BRIDGE_PCA2_RIDGE) {
            assert_true(json_is_number(path_get(r, "alpha", "value")));
            assert_true(json_is_number(path_get(r, "stats", "train_r2")));
            assert_true(json_is_number(path_get(r, "stats", "relative_residual")));
        }
        json_decref(r);
        /* Fitting again gives the same bridge (seeded, deterministic). */
        lw_bridge *b2 = fit_case(&k_cases[c], X, Y, n, dA, dB);
        float *s3 = apply_src(b2, Xt, nt);
        assert_memory_equal(s1, s3, sizeof(float) * nt * out);
        lw_bridge_free(b2);
        free(s1), free(s2), free(s3), free(t1), free(t2);
        lw_bridge_free(b);
        lw_bridge_free(l);
    }
    free(X), free(Y), free(Xt), free(Yt);
}

static void test_apply_edges(void **state) {
    (void)state;
    int n = 30, dA = 6, dB = 5;
    float *X, *Y;
    make_pair(&X, &Y, n, dA, dB);
    lw_bridge_params p = lw_bridge_default_params();
    lw_bridge *b = fit_ok(X, Y, n, dA, dB, &p);
    float out[64];
    /* Ridge compares in B's own space: target rows pass unchanged. */
    assert_int_equal(lw_bridge_apply_target(b, Y, 3, out), 0);
    assert_memory_equal(out, Y, sizeof(float) * 3 * dB);
    assert_int_equal(lw_bridge_apply_source(b, X, 0, out), 0); /* nothing to do */
    assert_int_equal(lw_bridge_apply_source(b, X, -1, out), -1);
    assert_int_equal(lw_bridge_apply_source(NULL, X, 1, out), -1);
    assert_int_equal(lw_bridge_apply_target(b, NULL, 1, out), -1);
    float bad[12];
    memcpy(bad, X, sizeof bad);
    bad[dA + 2] = NAN;
    assert_int_equal(lw_bridge_apply_source(b, bad, 2, out), -1);
    assert_non_null(strstr(lw_last_error(), "row 1"));
    assert_int_equal(lw_bridge_set_meta(b, "k", "{not json"), -1);
    assert_int_equal(lw_bridge_set_meta(b, "", "1"), -1);
    assert_int_equal(lw_bridge_recipe_from_name("pca2-ridge"), LW_BRIDGE_PCA2_RIDGE);
    assert_int_equal(lw_bridge_recipe_from_name("nope"), -1);
    for (int r = 0; r <= LW_BRIDGE_RELREP; r++)
        assert_int_equal(lw_bridge_recipe_from_name(lw_bridge_recipe_name((lw_bridge_recipe)r)), r);
    /* Rows far beyond one internal block map like the same rows one at a time. */
    int big = 600;
    float *Xb = randn(big, dA), *all = apply_src(b, Xb, big);
    for (int i = 0; i < big; i += 97) {
        float one[5];
        assert_int_equal(lw_bridge_apply_source(b, Xb + (size_t)i * dA, 1, one), 0);
        assert_true(rel_err(one, all + (size_t)i * dB, 5) < 1e-6);
    }
    lw_bridge_free(b);
    free(X), free(Y), free(Xb), free(all);
}

/* ---------------------------------------------------------------- bad input ---- */

static void test_bad_input(void **state) {
    (void)state;
    int n = 40, dA = 8, dB = 5;
    float *X, *Y;
    make_pair(&X, &Y, n, dA, dB);
    lw_bridge_params p = lw_bridge_default_params();
    fit_fails(X, Y, 1, dA, dB, &p, "at least 2");
    fit_fails(X, Y, 0, dA, dB, &p, "at least 2");
    fit_fails(X, Y, n, 0, dB, &p, "dA = 0");
    fit_fails(NULL, Y, n, dA, dB, &p, "X is NULL");
    fit_fails(X, NULL, n, dA, dB, &p, "Y is NULL");

    float v = X[3 * dA + 2];
    X[3 * dA + 2] = NAN;
    fit_fails(X, Y, n, dA, dB, &p, "X row 3 column 2: NaN");
    X[3 * dA + 2] = v;
    v = Y[5 * dB + 1];
    Y[5 * dB + 1] = -INFINITY;
    fit_fails(X, Y, n, dA, dB, &p, "Y row 5 column 1: infinite");
    Y[5 * dB + 1] = v;

    lw_bridge_params q = p;
    q.recipe = (lw_bridge_recipe)99;
    fit_fails(X, Y, n, dA, dB, &q, "unknown recipe");
    q = p, q.alpha = NAN;
    fit_fails(X, Y, n, dA, dB, &q, "not finite");
    q = p, q.alpha_steps = 0;
    fit_fails(X, Y, n, dA, dB, &q, "alpha_steps");
    q = p, q.alpha_min = 0;
    fit_fails(X, Y, n, dA, dB, &q, "alpha grid");
    q = p, q.alpha_select = LW_ALPHA_KFOLD, q.kfold = 1;
    fit_fails(X, Y, n, dA, dB, &q, "--kfold 1: need 2 <= --kfold");
    q = p, q.rank = -2;
    fit_fails(X, Y, n, dA, dB, &q, "--rank -2 is negative");

    /* Constant X: nothing to regress on. */
    float *C = malloc(sizeof(float) * n * dA);
    for (int i = 0; i < n; i++) memcpy(C + (size_t)i * dA, X, sizeof(float) * dA);
    fit_fails(C, Y, n, dA, dB, &p, "X (the source rows) has zero variance");
    q = p, q.recipe = LW_BRIDGE_CCA;
    fit_fails(X, C, n, dA, dA, &q, "Y (the target rows) has zero variance");
    q = p, q.recipe = LW_BRIDGE_RELREP; /* relative representations too: every row would map to one point */
    fit_fails(C, Y, n, dA, dB, &q, "X (the source rows) has zero variance (every row the same)");
    fit_fails(X, C, n, dA, dA, &q, "Y (the target rows) has zero variance (every row the same)");
    free(C);

    /* Rank-deficient X (two equal columns), noise-free target. */
    float *Xr = randn(n, dA);
    for (int i = 0; i < n; i++) Xr[(size_t)i * dA + 1] = Xr[(size_t)i * dA];
    float *W0 = randn(dA, dB), *Yr = affine(Xr, W0, NULL, n, dA, dB);
    q = p, q.alpha = 1e-30;
    fit_fails(Xr, Yr, n, dA, dB, &q, "singular at the given alpha");
    /* Selected on a grid reaching into the singular range: falls back up the grid. */
    q = p, q.alpha_min = 1e-30, q.alpha_max = 1e-6, q.alpha_steps = 7;
    lw_bridge *b = fit_ok(Xr, Yr, n, dA, dB, &q);
    json_t *r = record(b);
    assert_true(json_is_true(path_get(r, "alpha", "fallback")));
    assert_true(json_integer_value(path_get(r, "alpha", "index")) >
                json_integer_value(path_get(r, "alpha", "best_index")));
    assert_true(json_real_value(path_get(r, "stats", "train_r2")) > 0.999);
    json_decref(r);
    lw_bridge_free(b);

    /* Rank beyond what the data allow: clamped and recorded. */
    q = p, q.recipe = LW_BRIDGE_PCA_RIDGE, q.rank = 1000;
    b = fit_ok(X, Y, 6, dA, dB, &q);
    r = record(b);
    assert_int_equal(json_integer_value(json_object_get(r, "rank")), 5);
    assert_true(json_is_true(json_object_get(r, "rank_clamped")));
    assert_non_null(json_string_value(json_object_get(r, "rank_note")));
    json_decref(r);
    lw_bridge_free(b);
    q = p, q.recipe = LW_BRIDGE_CCA, q.rank = 8; /* Xr has numerical rank 7 */
    b = fit_ok(Xr, Y, n, dA, dB, &q);
    assert_int_equal(lw_bridge_out_dim(b), 5);      /* min(n-1, dA, dB) = 5 */
    lw_bridge_free(b);
    q.rank = 0;
    float *Yw = randn(n, 12);
    b = fit_ok(Xr, Yw, n, dA, 12, &q);
    assert_int_equal(lw_bridge_out_dim(b), 7);      /* auto 8, numerical rank of X is 7 */
    r = record(b);
    assert_true(json_is_true(json_object_get(r, "rank_clamped")));
    json_decref(r);
    lw_bridge_free(b);
    q = p, q.recipe = LW_BRIDGE_RELREP, q.n_anchors = 500;
    b = fit_ok(X, Y, n, dA, dB, &q);
    assert_int_equal(lw_bridge_out_dim(b), n);
    lw_bridge_free(b);

    free(X), free(Y), free(Xr), free(W0), free(Yr), free(Yw);
}

/* ---------------------------------------------------- corrupted bridge files ---- */

static void write_bytes(const char *path, const void *buf, size_t len) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    if (len) assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* Loading must either fail with one error line or give a bridge like the original. */
static void load_checked(const char *path, const lw_bridge *orig, bool must_fail, const float *X, const float *Y) {
    lw_clear_error();
    lw_bridge *l = lw_bridge_load(path);
    if (!l) {
        const char *e = lw_last_error();
        if (!*e || strchr(e, '\n')) fail_msg("load failed without a one-line error: \"%s\"", e);
        return;
    }
    if (must_fail) fail_msg("a truncated bridge file loaded");
    assert_int_equal(lw_bridge_get_recipe(l), lw_bridge_get_recipe(orig));
    assert_int_equal(lw_bridge_source_dim(l), lw_bridge_source_dim(orig));
    assert_int_equal(lw_bridge_target_dim(l), lw_bridge_target_dim(orig));
    assert_int_equal(lw_bridge_out_dim(l), lw_bridge_out_dim(orig));
    float out[64];
    assert_int_equal(lw_bridge_apply_source(l, X, 2, out), 0);
    assert_int_equal(lw_bridge_apply_target(l, Y, 2, out), 0);
    json_decref(record(l));
    lw_bridge_free(l);
}

/* Scratch path for the thousands of rewrites below: tmpfs when there is one (truncating
 * a file on a disk file system can cost a millisecond per rewrite), else the test dir. */
static const char *scratch_path(char *buf, size_t cap) {
    snprintf(buf, cap, "/dev/shm/lw-test-bridge-%ld.safetensors", (long)getpid());
    FILE *fp = fopen(buf, "wb");
    if (fp) {
        fclose(fp);
        return buf;
    }
    snprintf(buf, cap, "%s", lw_test_tmpfile("bad.safetensors"));
    return buf;
}

static void test_corrupted_files(void **state) {
    (void)state;
    int n = 5, dA = 3, dB = 2;
    float *X, *Y;
    make_pair(&X, &Y, n, dA, dB);
    char bad_buf[1200];
    const char *good = lw_test_tmpfile("good.safetensors"), *bad = scratch_path(bad_buf, sizeof bad_buf);
    /* LW_FUZZ_SEED_DIR (optional): where to leave these small valid files as a fuzzing corpus. */
    const char *seed_dir = getenv("LW_FUZZ_SEED_DIR");
    for (int c = 0; c <= LW_BRIDGE_RELREP; c++) {
        lw_bridge_params p = lw_bridge_default_params();
        p.recipe = (lw_bridge_recipe)c;
        p.scale = c % 2 == 1;
        lw_bridge *b = fit_ok(X, Y, n, dA, dB, &p);
        assert_int_equal(lw_bridge_save(b, good), 0);
        if (seed_dir && *seed_dir) {
            char seed[1200];
            snprintf(seed, sizeof seed, "%s/seed-%s.safetensors", seed_dir, lw_bridge_recipe_name(p.recipe));
            assert_int_equal(lw_mkdir_p(seed_dir), 0);
            if (lw_bridge_save(b, seed) != 0) fail_msg("seed: %s", lw_last_error());
        }
        size_t len;
        char *img = lw_read_file(good, &len);
        assert_non_null(img);
        for (size_t k = 0; k < len; k++) { /* every proper prefix */
            write_bytes(bad, img, k);
            load_checked(bad, b, true, X, Y);
        }
        for (int t = 0; t < 400; t++) { /* random byte flips, 1 to 3 per file */
            char *m = malloc(len);
            memcpy(m, img, len);
            int flips = 1 + (int)(rng_u64() % 3);
            for (int f = 0; f < flips; f++) m[rng_u64() % len] ^= (char)(1 + rng_u64() % 255);
            write_bytes(bad, m, len);
            load_checked(bad, b, false, X, Y);
            free(m);
        }
        free(img);
        lw_bridge_free(b);
    }
    /* Files that are valid safetensors but not valid bridges. */
    lw_st_tensor_in t = {.name = "w", .dtype = LW_DT_F32, .n_dims = 2, .shape = {3, 2}, .data = X};
    const char *meta1[] = {"latentwire", "{\"format\": \"latentwire.bridge/1\", \"recipe\": \"warp\"}"};
    assert_int_equal(lw_st_save(bad, &t, 1, meta1, 1), 0);
    assert_null(lw_bridge_load(bad));
    assert_non_null(strstr(lw_last_error(), "recipe"));
    assert_int_equal(lw_st_save(bad, &t, 1, NULL, 0), 0);
    assert_null(lw_bridge_load(bad));
    assert_non_null(strstr(lw_last_error(), "not a bridge file"));
    assert_null(lw_bridge_load(lw_test_tmpfile("does-not-exist.safetensors")));
    remove(bad);
    free(X), free(Y);
}

/* ---------------------------------------------------------------- relrep ---- */

static void test_relrep_matches_naive(void **state) {
    (void)state;
    int n = 30, dA = 8, dB = 6, k = 10, nt = 7;
    float *X, *Y;
    make_pair(&X, &Y, n, dA, dB);
    lw_bridge_params p = lw_bridge_default_params();
    p.recipe = LW_BRIDGE_RELREP;
    p.n_anchors = k;
    lw_bridge *b = fit_ok(X, Y, n, dA, dB, &p);
    json_t *r = record(b);
    json_t *rows = json_object_get(r, "anchor_rows");
    assert_int_equal(json_array_size(rows), k);
    float *Xt = randn(nt, dA), *Yt = randn(nt, dB);
    for (int side = 0; side < 2; side++) {
        const float *C = side ? Y : X, *Q = side ? Yt : Xt;
        int d = side ? dB : dA;
        double mu[8] = {0};
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) mu[j] += C[i * d + j] / (double)n;
        float *got = side ? apply_tgt(b, Q, nt) : apply_src(b, Q, nt);
        for (int i = 0; i < nt; i++)
            for (int a = 0; a < k; a++) {
                int64_t row = json_integer_value(json_array_get(rows, a));
                assert_true(row >= 0 && row < n);
                double qa = 0, qq = 0, aa = 0;
                for (int j = 0; j < d; j++) {
                    double q = Q[i * d + j] - mu[j], an = C[row * d + j] - mu[j];
                    qa += q * an, qq += q * q, aa += an * an;
                }
                double want = qa / sqrt(qq * aa);
                if (fabs(got[i * k + a] - want) > 2e-5)
                    fail_msg("relrep side %d row %d anchor %d: %.7g vs naive %.7g", side, i, a, got[i * k + a], want);
            }
        free(got);
    }
    /* Anchors are distinct rows in increasing order. */
    for (int a = 1; a < k; a++)
        assert_true(json_integer_value(json_array_get(rows, a)) > json_integer_value(json_array_get(rows, a - 1)));
    json_decref(r);
    lw_bridge_free(b);
    free(X), free(Y), free(Xt), free(Yt);
}

/* CCA through the bridge: the comparison space holds canonical variates whose paired
 * correlation on the calibration rows is the reported one. */
static void test_cca_bridge_variates(void **state) {
    (void)state;
    int n = 400, dA = 6, dB = 5;
    float *X, *Y;
    make_pair(&X, &Y, n, dA, dB);
    lw_bridge_params p = lw_bridge_default_params();
    p.recipe = LW_BRIDGE_CCA;
    p.rank = 3;
    p.cca_reg = 1e-9; /* the regularized correlation is slightly below the sample one */
    lw_bridge *b = fit_ok(X, Y, n, dA, dB, &p);
    float *Sa = apply_src(b, X, n), *Sb = apply_tgt(b, Y, n);
    json_t *r = record(b);
    json_t *corr = path_get(r, "stats", "canonical_correlations");
    assert_int_equal(json_array_size(corr), 3);
    for (int j = 0; j < 3; j++) {
        double aa = 0, bb = 0, ab = 0;
        for (int i = 0; i < n; i++) {
            double a = Sa[i * 3 + j], c = Sb[i * 3 + j];
            aa += a * a, bb += c * c, ab += a * c;
        }
        double want = json_real_value(json_array_get(corr, j));
        if (fabs(ab / sqrt(aa * bb) - want) > 1e-3)
            fail_msg("variate %d: corr %.6g, reported %.6g", j, ab / sqrt(aa * bb), want);
    }
    json_decref(r);
    lw_bridge_free(b);
    free(X), free(Y), free(Sa), free(Sb);
}

/* lw_bridge_map_rows reads rows at the bridge's width: rows of another width are refused
 * (width 5 into a 4-wide source side read past the rows' end), and so are n < 0 and NULL rows;
 * rows of the right width map as lw_bridge_apply_source does. */
static void test_map_rows_checks_width(void **state) {
    (void)state;
    const int64_t n = 40;
    float *X = randn(n, 4), *Y = randn(n, 3);
    lw_bridge_params p = lw_bridge_default_params();
    lw_bridge *b = fit_ok(X, Y, n, 4, 3, &p);
    int dim = -1;
    float *m = lw_bridge_map_rows(b, true, X, 2, 4, &dim);
    assert_non_null(m);
    float *ref = apply_src(b, X, 2);
    assert_int_equal(dim, lw_bridge_out_dim(b));
    assert_memory_equal(m, ref, sizeof(float) * 2 * (size_t)dim);
    free(m), free(ref);
    struct {
        bool source;
        const float *x;
        int64_t n;
        int d;
        const char *expect;
    } bad[] = {{true, X, 2, 5, "rows of width 5, but the bridge's source side takes width 4"},
               {false, Y, 2, 4, "rows of width 4, but the bridge's target side takes width 3"},
               {true, X, -1, 4, "-1 rows of width 4"},
               {true, NULL, 2, 4, "no rows"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_null(lw_bridge_map_rows(b, bad[k].source, bad[k].x, bad[k].n, bad[k].d, &dim));
        if (!strstr(lw_last_error(), bad[k].expect)) fail_msg("case %zu: \"%s\"", k, lw_last_error());
    }
    assert_null(lw_bridge_map_rows(NULL, true, X, -1, 4, &dim)); /* no bridge: a copy, same checks */
    lw_bridge_free(b);
    free(X), free(Y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_rows_checks_width),
        cmocka_unit_test(test_ridge_recovers_noise_free_map),
        cmocka_unit_test(test_gcv_noise_free_picks_smallest),
        cmocka_unit_test(test_gcv_scores_by_hand),
        cmocka_unit_test(test_heldout_error_shrinks_with_n),
        cmocka_unit_test(test_procrustes_recovers_rotation),
        cmocka_unit_test(test_roundtrip_every_recipe),
        cmocka_unit_test(test_apply_edges),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_corrupted_files),
        cmocka_unit_test(test_relrep_matches_naive),
        cmocka_unit_test(test_cca_bridge_variates),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
