/* src/linalg against references computed another way: PCA vs dgesdd, ridge primal vs
 * dual vs an augmented least-squares QR solve (dgels), GCV vs the brute-force hat-matrix
 * formula, k-fold vs an explicit per-fold refit, Procrustes recovering a planted rotation,
 * CCA recovering planted canonical correlations and matching the textbook construction
 * with explicit (C + eps I)^-1/2 matrices. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "linalg/linalg.h"
#include "support/testutil.h"

/* ------------------------------------------------------------------ helpers ---- */

static lw_rng g_rng;

static double unif(void) { return lw_rng_uniform(&g_rng); } /* seeded in main */

static double gauss(void) {
    double u = unif(), v = unif();
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static double *randn(int rows, int cols) {
    double *M = malloc(sizeof(double) * (size_t)rows * cols);
    assert_non_null(M);
    for (size_t i = 0; i < (size_t)rows * cols; i++) M[i] = gauss();
    return M;
}

static double *dup(const double *a, size_t n) {
    double *p = malloc(sizeof(double) * (n ? n : 1));
    assert_non_null(p);
    memcpy(p, a, sizeof(double) * n);
    return p;
}

/* Naive triple loop: C = A B (A m x k, B k x n), the independent reference product. */
static double *naive_mul(const double *A, const double *B, int m, int k, int n) {
    double *C = calloc((size_t)m * n, sizeof(double));
    assert_non_null(C);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int l = 0; l < k; l++) s += A[(size_t)i * k + l] * B[(size_t)l * n + j];
            C[(size_t)i * n + j] = s;
        }
    return C;
}

static double *naive_t(const double *A, int m, int n) {
    double *T = malloc(sizeof(double) * (size_t)m * n);
    assert_non_null(T);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) T[(size_t)j * m + i] = A[(size_t)i * n + j];
    return T;
}

static void center_cols(double *X, int n, int d) {
    for (int j = 0; j < d; j++) {
        double mu = 0.0;
        for (int i = 0; i < n; i++) mu += X[(size_t)i * d + j];
        mu /= n;
        for (int i = 0; i < n; i++) X[(size_t)i * d + j] -= mu;
    }
}

static double max_abs_diff(const double *a, const double *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > m) m = fabs(a[i] - b[i]);
    return m;
}

static double max_abs(const double *a, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}

static void assert_close(double got, double want, double rel, const char *what) {
    if (isinf(want) && got == want) return;
    double err = fabs(got - want) / fmax(fabs(want), 1e-300);
    if (!(err <= rel)) fail_msg("%s: got %.17g want %.17g (rel err %.3g > %.3g)", what, got, want, err, rel);
}

/* Column j of V (rows x k) equals column j of R (rows x kr) up to sign. */
static void assert_col_match(const double *V, int k, const double *R, int kr, int rows, int j, double tol,
                             const char *what) {
    double dot = 0.0;
    for (int i = 0; i < rows; i++) dot += V[(size_t)i * k + j] * R[(size_t)i * kr + j];
    double sgn = dot < 0 ? -1.0 : 1.0, err = 0.0;
    for (int i = 0; i < rows; i++) err = fmax(err, fabs(V[(size_t)i * k + j] - sgn * R[(size_t)i * kr + j]));
    if (!(err <= tol)) fail_msg("%s: column %d differs by %.3g (tol %.3g)", what, j, err, tol);
}

/* X (n x d) with well separated singular values: Gaussian columns times decaying scales. */
static double *spread_matrix(int n, int d) {
    double *X = randn(n, d);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) X[(size_t)i * d + j] *= pow(0.85, j);
    return X;
}

/* ---------------------------------------------------------------------- PCA ---- */

static void pca_case(int n, int d, int r) {
    double *X = spread_matrix(n, d);
    center_cols(X, n, d);
    double *comps = calloc((size_t)d * r, sizeof(double)), *var = calloc((size_t)r, sizeof(double));
    int rank = -1;
    assert_int_equal(lw_la_pca(X, n, d, r, comps, var, &rank), 0);
    int mn = n < d ? n : d;
    assert_int_equal(rank, r);

    /* Reference: dgesdd of the centered data. */
    double *A = dup(X, (size_t)n * d), *U = malloc(sizeof(double) * (size_t)n * mn), *s = malloc(sizeof(double) * mn);
    double *Vt = malloc(sizeof(double) * (size_t)mn * d);
    assert_int_equal(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', n, d, A, d, s, U, mn, Vt, d), 0);
    double *V = naive_t(Vt, mn, d); /* d x mn */
    for (int j = 0; j < r; j++) {
        /* The Gram route's error is absolute, ~eps * largest eigenvalue. */
        if (!(fabs(var[j] - s[j] * s[j] / (n - 1)) < 1e-12 * var[0])) fail_msg("PCA variance %d", j);
        assert_col_match(comps, r, V, mn, d, j, 1e-9, "PCA axis vs dgesdd");
    }
    /* Orthonormal axes, and data_svd's U satisfies X V = U S. */
    double *Ct = naive_t(comps, d, r), *CtC = naive_mul(Ct, comps, r, d, r);
    for (int i = 0; i < r; i++)
        for (int j = 0; j < r; j++) assert_true(fabs(CtC[i * r + j] - (i == j)) < 1e-12);
    double *s2 = calloc((size_t)r, sizeof(double)), *V2 = calloc((size_t)d * r, sizeof(double));
    double *U2 = calloc((size_t)n * r, sizeof(double));
    assert_int_equal(lw_la_data_svd(X, n, d, r, s2, V2, U2, &rank), 0);
    double *XV = naive_mul(X, V2, n, d, r);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < r; j++) assert_true(fabs(XV[(size_t)i * r + j] - U2[(size_t)i * r + j] * s2[j]) < 1e-9);
    free(X), free(comps), free(var), free(A), free(U), free(s), free(Vt), free(V), free(Ct), free(CtC);
    free(s2), free(V2), free(U2), free(XV);
}

static void test_pca_matches_svd(void **state) {
    (void)state;
    pca_case(60, 12, 5);  /* tall: eigen of the covariance */
    pca_case(12, 40, 5);  /* wide: eigen of the Gram matrix */
    pca_case(30, 30, 29); /* square, every centered component */
}

/* A partial eigendecomposition (dsyevr) equals the top of the full one (dsyevd). */
static void test_eigh_partial_vs_full(void **state) {
    (void)state;
    int n = 25, k = 6;
    double *X = spread_matrix(40, n), *G = calloc((size_t)n * n, sizeof(double));
    lw_la_gram_cols(X, 40, n, G);
    double *A1 = dup(G, (size_t)n * n), *A2 = dup(G, (size_t)n * n);
    double *w1 = calloc(n, sizeof(double)), *V1 = calloc((size_t)n * n, sizeof(double));
    double *w2 = calloc(k, sizeof(double)), *V2 = calloc((size_t)n * k, sizeof(double));
    assert_int_equal(lw_la_eigh_top(A1, n, n, w1, V1), 0);
    assert_int_equal(lw_la_eigh_top(A2, n, k, w2, V2), 0);
    for (int j = 0; j < k; j++) {
        assert_close(w2[j], w1[j], 1e-12, "partial eigenvalue");
        assert_col_match(V2, k, V1, n, n, j, 1e-9, "partial eigenvector");
    }
    for (int j = 1; j < n; j++) assert_true(w1[j] <= w1[j - 1]);
    free(X), free(G), free(A1), free(A2), free(w1), free(V1), free(w2), free(V2);
}

/* -------------------------------------------------------------------- ridge ---- */

/* Reference ridge: least squares on [X; sqrt(alpha) I] W = [Y; 0] by Householder QR. */
static double *ridge_dgels(const double *X, const double *Y, int n, int d, int m, double alpha) {
    int rows = n + d;
    double *A = calloc((size_t)rows * d, sizeof(double)), *B = calloc((size_t)rows * m, sizeof(double));
    memcpy(A, X, sizeof(double) * (size_t)n * d);
    memcpy(B, Y, sizeof(double) * (size_t)n * m);
    for (int i = 0; i < d; i++) A[(size_t)(n + i) * d + i] = sqrt(alpha);
    assert_int_equal(LAPACKE_dgels(LAPACK_ROW_MAJOR, 'N', rows, d, m, A, d, B, m), 0);
    double *W = dup(B, (size_t)d * m); /* the first d rows hold the solution */
    free(A), free(B);
    return W;
}

/* Condition number of the symmetric positive semi-definite S (g x g) shifted by alpha. */
static double shifted_cond(const double *S, int g, double alpha) {
    double *E = dup(S, (size_t)g * g), *w = calloc(g, sizeof(double));
    assert_int_equal(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', g, E, g, w), 0);
    double c = (w[g - 1] + alpha) / (fmax(w[0], 0.0) + alpha);
    free(E), free(w);
    return c;
}

static void ridge_case(int n, int d, int m, double alpha) {
    double *X = randn(n, d), *Y = randn(n, m);
    double *Wp = calloc((size_t)d * m, sizeof(double)), *Wd = calloc((size_t)d * m, sizeof(double));
    double rc1 = 0, rc2 = 0;
    assert_int_equal(lw_la_ridge_primal(X, Y, n, d, m, alpha, Wp, &rc1), 0);
    assert_int_equal(lw_la_ridge_dual(X, Y, n, d, m, alpha, Wd, &rc2), 0);
    assert_true(rc1 > 0 && rc2 > 0);
    double *Wr = ridge_dgels(X, Y, n, d, m, alpha);
    /* Each form is as accurate as its own system is conditioned: the primal one is ill
     * conditioned for n < d and small alpha, the dual one for n > d. */
    double *Xt = naive_t(X, n, d), *G = naive_mul(Xt, X, d, n, d), *K = naive_mul(X, Xt, n, d, n);
    double kp = shifted_cond(G, d, alpha), kd = shifted_cond(K, n, alpha);
    double scale = max_abs(Wr, (size_t)d * m), ep = max_abs_diff(Wp, Wr, (size_t)d * m) / scale;
    double ed = max_abs_diff(Wd, Wr, (size_t)d * m) / scale;
    if (!(ep < 1e-13 * kp + 1e-12)) fail_msg("primal vs dgels (n=%d d=%d): %.3g, cond %.3g", n, d, ep, kp);
    if (!(ed < 1e-13 * kd + 1e-12)) fail_msg("dual vs dgels (n=%d d=%d): %.3g, cond %.3g", n, d, ed, kd);
    /* And with each other, to the accuracy of the worse-conditioned form (1e-12 when
     * alpha is moderate). */
    if (!(max_abs_diff(Wp, Wd, (size_t)d * m) / scale < 2e-13 * (kp > kd ? kp : kd) + 1e-12))
        fail_msg("primal vs dual (n=%d d=%d)", n, d);
    free(X), free(Y), free(Wp), free(Wd), free(Wr), free(Xt), free(G), free(K);
}

static void test_ridge_primal_dual_qr(void **state) {
    (void)state;
    ridge_case(15, 40, 3, 0.7); /* n < d */
    ridge_case(60, 10, 4, 0.7); /* n > d */
    ridge_case(60, 10, 4, 1e-6);
    ridge_case(8, 30, 2, 1e-4);
}

/* A numerically singular system is reported as such, not solved into noise. */
static void test_ridge_singular(void **state) {
    (void)state;
    int n = 30, d = 10, m = 2;
    double *X = randn(n, d), *Y = randn(n, m), *W = calloc((size_t)d * m, sizeof(double));
    for (int i = 0; i < n; i++) X[(size_t)i * d + 3] = X[(size_t)i * d + 2]; /* rank d - 1 */
    double rc = 1;
    assert_int_equal(lw_la_ridge_primal(X, Y, n, d, m, 1e-30, W, &rc), LW_LA_SINGULAR);
    assert_true(rc < 1e-12);
    assert_int_equal(lw_la_ridge_primal(X, Y, n, d, m, 1e-3, W, &rc), 0);
    free(X), free(Y), free(W);
}

/* ---------------------------------------------------------------------- GCV ---- */

/* GCV written out from the hat matrix, in the well-conditioned form I - H = a (XX' + aI)^-1:
 * RSS = a^2 |(XX' + aI)^-1 Y|^2 and tr H = n - a tr (XX' + aI)^-1, with XX' by loops and
 * the inverse by dposv (forming Y - HY directly would cancel away every digit of a small
 * residual). */
static double gcv_naive(const double *X, const double *Y, int n, int d, int m, double alpha, double df_extra) {
    double *Xt = naive_t(X, n, d), *A = naive_mul(X, Xt, n, d, n);
    for (int i = 0; i < n; i++) A[(size_t)i * n + i] += alpha;
    int w = m + n;
    double *Z = calloc((size_t)n * w, sizeof(double)); /* [Y | I] */
    for (int i = 0; i < n; i++) {
        memcpy(Z + (size_t)i * w, Y + (size_t)i * m, sizeof(double) * m);
        Z[(size_t)i * w + m + i] = 1.0;
    }
    assert_int_equal(LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', n, w, A, n, Z, w), 0);
    double rss = 0.0, trinv = 0.0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < m; j++) rss += Z[(size_t)i * w + j] * Z[(size_t)i * w + j];
        trinv += Z[(size_t)i * w + m + i];
    }
    rss *= alpha * alpha;
    double tr = n - alpha * trinv, den = 1.0 - (tr + df_extra) / n;
    free(Xt), free(A), free(Z);
    return den > 0.0 ? (rss / n) / (den * den) : INFINITY; /* no degrees of freedom left */
}

static void test_gcv_matches_bruteforce(void **state) {
    (void)state;
    int shapes[2][3] = {{30, 8, 3}, {10, 25, 2}};
    for (int c = 0; c < 2; c++) {
        int n = shapes[c][0], d = shapes[c][1], m = shapes[c][2];
        double *X = randn(n, d), *Y = randn(n, m);
        lw_la_spectrum sp;
        assert_int_equal(lw_la_spectrum_of(X, Y, n, d, m, &sp), 0);
        double alphas[] = {1e-3, 0.5, 3.0, 100.0};
        for (int a = 0; a < 4; a++)
            for (int df = 0; df < 2; df++)
                {
                    char what[96];
                    snprintf(what, sizeof what, "GCV vs brute force (n=%d d=%d alpha=%g df=%d)", n, d, alphas[a], df);
                    assert_close(lw_la_gcv(&sp, alphas[a], df), gcv_naive(X, Y, n, d, m, alphas[a], df), 1e-8, what);
                }
        lw_la_spectrum_free(&sp);
        free(X), free(Y);
    }
}

/* Index of the lowest score. */
static int argmin(const double *s, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (s[i] < s[b]) b = i;
    return b;
}

/* Y = X W0 (+ noise): returns the best grid index by GCV and by 5-fold CV. */
static void select_case(double noise, int *gcv_best, int *cv_best, double *grid, int steps) {
    int n = 60, d = 20, m = 5;
    double *X = randn(n, d), *W0 = randn(d, m);
    double *Y = naive_mul(X, W0, n, d, m);
    for (size_t i = 0; i < (size_t)n * m; i++) Y[i] = 0.2 * Y[i] + noise * gauss();
    double scale = lw_la_sumsq(X, (size_t)n * d) / d, abs_grid[32], s1[32], s2[32];
    for (int i = 0; i < steps; i++) abs_grid[i] = grid[i] * scale;
    lw_la_spectrum sp;
    assert_int_equal(lw_la_spectrum_of(X, Y, n, d, m, &sp), 0);
    for (int i = 0; i < steps; i++) s1[i] = lw_la_gcv(&sp, abs_grid[i], 0);
    lw_la_spectrum_free(&sp);
    assert_int_equal(lw_la_kfold_scores(X, Y, n, d, m, 5, 7, abs_grid, steps, s2), 0);
    *gcv_best = argmin(s1, steps);
    *cv_best = argmin(s2, steps);
    free(X), free(W0), free(Y);
}

static void test_gcv_selects_sensible_alpha(void **state) {
    (void)state;
    double grid[13];
    for (int i = 0; i < 13; i++) grid[i] = 1e-6 * pow(10.0, i * 0.75);
    int g0, c0, g1, c1;
    select_case(0.0, &g0, &c0, grid, 13);
    select_case(2.0, &g1, &c1, grid, 13);
    /* Noise-free: the least penalty is best. Noisy: a clearly larger one. */
    assert_int_equal(g0, 0);
    assert_int_equal(c0, 0);
    if (!(g1 >= 6 && c1 >= 6)) fail_msg("noisy data: GCV picked %g, k-fold %g", grid[g1], grid[c1]);
}

/* k-fold scores equal an explicit refit on each fold (same seeded permutation). */
static void test_kfold_matches_refit(void **state) {
    (void)state;
    int n = 23, d = 6, m = 2, k = 4;
    double *X = randn(n, d), *Y = randn(n, m);
    double alphas[2] = {0.3, 4.0}, scores[2];
    assert_int_equal(lw_la_kfold_scores(X, Y, n, d, m, k, 99, alphas, 2, scores), 0);
    int64_t perm[23];
    lw_la_permutation(n, 99, perm);
    for (int a = 0; a < 2; a++) {
        double err = 0.0;
        for (int f = 0; f < k; f++) {
            int lo = f * n / k, hi = (f + 1) * n / k, ntr = 0;
            double Xtr[23 * 6], Ytr[23 * 2], W[6 * 2];
            for (int i = 0; i < n; i++) {
                if (i >= lo && i < hi) continue;
                memcpy(Xtr + ntr * d, X + perm[i] * d, sizeof(double) * d);
                memcpy(Ytr + ntr * m, Y + perm[i] * m, sizeof(double) * m);
                ntr++;
            }
            assert_int_equal(lw_la_ridge_primal(Xtr, Ytr, ntr, d, m, alphas[a] * ntr / n, W, NULL), 0);
            for (int i = lo; i < hi; i++)
                for (int j = 0; j < m; j++) {
                    double p = 0.0;
                    for (int l = 0; l < d; l++) p += X[perm[i] * d + l] * W[l * m + j];
                    err += (Y[perm[i] * m + j] - p) * (Y[perm[i] * m + j] - p);
                }
        }
        assert_close(scores[a], err / (n * m), 1e-9, "k-fold vs refit");
    }
    free(X), free(Y);
}

/* --------------------------------------------------------------- Procrustes ---- */

static double *random_orthogonal(int k) {
    double *Q = randn(k, k), tau[64];
    assert_int_equal(LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, k, k, Q, k, tau), 0);
    assert_int_equal(LAPACKE_dorgqr(LAPACK_ROW_MAJOR, k, k, k, Q, k, tau), 0);
    return Q;
}

static void test_procrustes_recovers_rotation(void **state) {
    (void)state;
    int n = 50, k = 7;
    double *A = randn(n, k), *Q = random_orthogonal(k), *B = naive_mul(A, Q, n, k, k);
    double *R = calloc((size_t)k * k, sizeof(double));
    assert_int_equal(lw_la_procrustes(A, B, n, k, R), 0);
    if (!(max_abs_diff(R, Q, (size_t)k * k) < 1e-12)) fail_msg("rotation not recovered");
    /* With noise the answer stays orthogonal. */
    for (size_t i = 0; i < (size_t)n * k; i++) B[i] += 0.3 * gauss();
    assert_int_equal(lw_la_procrustes(A, B, n, k, R), 0);
    double *Rt = naive_t(R, k, k), *RtR = naive_mul(Rt, R, k, k, k);
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) assert_true(fabs(RtR[i * k + j] - (i == j)) < 1e-12);
    free(A), free(Q), free(B), free(R), free(Rt), free(RtR);
}

/* ---------------------------------------------------------------------- CCA ---- */

/* Textbook regularized CCA: explicit covariances, (C + eps I)^-1/2 by dsyevd, dgesdd of
 * the whitened cross-covariance. Returns corr[r], Wa (dA x r), Wb (dB x r). */
static void cca_naive(const double *X, const double *Y, int n, int dA, int dB, int r, double reg, double *corr,
                      double *Wa, double *Wb) {
    double *Xt = naive_t(X, n, dA), *Yt = naive_t(Y, n, dB);
    double *Cxx = naive_mul(Xt, X, dA, n, dA), *Cyy = naive_mul(Yt, Y, dB, n, dB), *Cxy = naive_mul(Xt, Y, dA, n, dB);
    for (size_t i = 0; i < (size_t)dA * dA; i++) Cxx[i] /= n - 1;
    for (size_t i = 0; i < (size_t)dB * dB; i++) Cyy[i] /= n - 1;
    for (size_t i = 0; i < (size_t)dA * dB; i++) Cxy[i] /= n - 1;
    double *Ix[2] = {NULL, NULL};
    double *C[2] = {Cxx, Cyy};
    int dims[2] = {dA, dB};
    for (int s = 0; s < 2; s++) {
        int d = dims[s];
        double tr = 0.0, *w = calloc(d, sizeof(double)), *E = dup(C[s], (size_t)d * d);
        for (int i = 0; i < d; i++) tr += C[s][(size_t)i * d + i];
        assert_int_equal(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', d, E, d, w), 0);
        double eps = reg * tr / d;
        Ix[s] = calloc((size_t)d * d, sizeof(double));
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) {
                double v = 0.0;
                for (int l = 0; l < d; l++) v += E[i * d + l] * E[j * d + l] / sqrt(fmax(w[l], 0.0) + eps);
                Ix[s][(size_t)i * d + j] = v;
            }
        free(w), free(E);
    }
    double *T = naive_mul(Ix[0], Cxy, dA, dA, dB), *M = naive_mul(T, Ix[1], dA, dB, dB);
    int q = dA < dB ? dA : dB;
    double *U = calloc((size_t)dA * q, sizeof(double)), *S = calloc(q, sizeof(double));
    double *Vt = calloc((size_t)q * dB, sizeof(double));
    assert_int_equal(LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', dA, dB, M, dB, S, U, q, Vt, dB), 0);
    double *V = naive_t(Vt, q, dB);
    double *Wa_all = naive_mul(Ix[0], U, dA, dA, q), *Wb_all = naive_mul(Ix[1], V, dB, dB, q);
    for (int j = 0; j < r; j++) corr[j] = S[j];
    for (int i = 0; i < dA; i++)
        for (int j = 0; j < r; j++) Wa[(size_t)i * r + j] = Wa_all[(size_t)i * q + j];
    for (int i = 0; i < dB; i++)
        for (int j = 0; j < r; j++) Wb[(size_t)i * r + j] = Wb_all[(size_t)i * q + j];
    free(Xt), free(Yt), free(Cxx), free(Cyy), free(Cxy), free(Ix[0]), free(Ix[1]), free(T), free(M), free(U), free(S),
        free(Vt), free(V), free(Wa_all), free(Wb_all);
}

static void cca_vs_naive_case(int n, int dA, int dB, int r, double reg) {
    double *X = spread_matrix(n, dA), *Y = randn(n, dB);
    for (int i = 0; i < n; i++) /* correlate the two sides */
        for (int j = 0; j < dB && j < dA; j++) Y[(size_t)i * dB + j] += 0.8 * X[(size_t)i * dA + j];
    center_cols(X, n, dA);
    center_cols(Y, n, dB);
    double c1[16], c2[16];
    double *Wa1 = calloc((size_t)dA * r, sizeof(double)), *Wb1 = calloc((size_t)dB * r, sizeof(double));
    double *Wa2 = calloc((size_t)dA * r, sizeof(double)), *Wb2 = calloc((size_t)dB * r, sizeof(double));
    int re = 0;
    assert_int_equal(lw_la_cca(X, Y, n, dA, dB, r, reg, Wa1, Wb1, c1, &re), 0);
    assert_int_equal(re, r);
    cca_naive(X, Y, n, dA, dB, r, reg, c2, Wa2, Wb2);
    for (int j = 0; j < r; j++) {
        assert_close(c1[j], c2[j], 1e-9, "canonical correlation vs textbook");
        double sa = max_abs(Wa2, (size_t)dA * r);
        assert_col_match(Wa1, r, Wa2, r, dA, j, 1e-7 * sa, "CCA direction a");
        assert_col_match(Wb1, r, Wb2, r, dB, j, 1e-7 * max_abs(Wb2, (size_t)dB * r), "CCA direction b");
    }
    free(X), free(Y), free(Wa1), free(Wb1), free(Wa2), free(Wb2);
}

static void test_cca_matches_textbook(void **state) {
    (void)state;
    cca_vs_naive_case(40, 8, 6, 4, 0.1);   /* n > d */
    cca_vs_naive_case(12, 15, 10, 4, 0.1); /* n < d: rank-deficient covariances */
    cca_vs_naive_case(200, 5, 5, 5, 1e-3);
}

static void test_cca_recovers_planted(void **state) {
    (void)state;
    int n = 20000, dA = 6, dB = 5, r = 3;
    const double rho[3] = {0.9, 0.6, 0.3};
    double *x = randn(n, dA), *y = randn(n, dB);
    for (int i = 0; i < n; i++) /* y_j = rho_j z_j + sqrt(1 - rho_j^2) e_j with z_j = x_j */
        for (int j = 0; j < r; j++)
            y[(size_t)i * dB + j] = rho[j] * x[(size_t)i * dA + j] + sqrt(1 - rho[j] * rho[j]) * y[(size_t)i * dB + j];
    /* Invertible mixing: CCA is invariant to it. */
    double *A = randn(dA, dA), *B = randn(dB, dB);
    for (int i = 0; i < dA; i++) A[i * dA + i] += 3.0;
    for (int i = 0; i < dB; i++) B[i * dB + i] += 3.0;
    double *X = naive_mul(x, A, n, dA, dA), *Y = naive_mul(y, B, n, dB, dB);
    center_cols(X, n, dA);
    center_cols(Y, n, dB);
    double corr[3], *Wa = calloc((size_t)dA * r, sizeof(double)), *Wb = calloc((size_t)dB * r, sizeof(double));
    int re = 0;
    assert_int_equal(lw_la_cca(X, Y, n, dA, dB, r, 1e-8, Wa, Wb, corr, &re), 0);
    assert_int_equal(re, r);
    for (int j = 0; j < r; j++)
        if (fabs(corr[j] - rho[j]) > 0.02) fail_msg("canonical correlation %d: %g, planted %g", j, corr[j], rho[j]);
    /* The canonical variates have unit variance and the reported correlation. */
    double *Sa = naive_mul(X, Wa, n, dA, r), *Sb = naive_mul(Y, Wb, n, dB, r);
    for (int j = 0; j < r; j++) {
        double aa = 0, bb = 0, ab = 0;
        for (int i = 0; i < n; i++) {
            double a = Sa[(size_t)i * r + j], b = Sb[(size_t)i * r + j];
            aa += a * a, bb += b * b, ab += a * b;
        }
        assert_close(aa / (n - 1), 1.0, 1e-6, "variate variance");
        assert_close(ab / sqrt(aa * bb), corr[j], 1e-6, "variate correlation");
    }
    free(x), free(y), free(A), free(B), free(X), free(Y), free(Wa), free(Wb), free(Sa), free(Sb);
}

/* ---------------------------------------------------------------------- misc ---- */

static void test_permutation(void **state) {
    (void)state;
    int64_t p1[100], p2[100];
    lw_la_permutation(100, 5, p1);
    lw_la_permutation(100, 5, p2);
    assert_memory_equal(p1, p2, sizeof p1);
    int seen[100] = {0};
    for (int i = 0; i < 100; i++) seen[p1[i]]++;
    for (int i = 0; i < 100; i++) assert_int_equal(seen[i], 1);
}

int main(void) {
    lw_rng_seed(&g_rng, 12345);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pca_matches_svd),
        cmocka_unit_test(test_eigh_partial_vs_full),
        cmocka_unit_test(test_ridge_primal_dual_qr),
        cmocka_unit_test(test_ridge_singular),
        cmocka_unit_test(test_gcv_matches_bruteforce),
        cmocka_unit_test(test_gcv_selects_sensible_alpha),
        cmocka_unit_test(test_kfold_matches_refit),
        cmocka_unit_test(test_procrustes_recovers_rotation),
        cmocka_unit_test(test_cca_matches_textbook),
        cmocka_unit_test(test_cca_recovers_planted),
        cmocka_unit_test(test_permutation),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
