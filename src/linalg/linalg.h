/* Internal dense linear algebra for the bridges, over OpenBLAS (cblas) + LAPACKE.
 *
 * Conventions: every matrix is row-major and contiguous (leading dimension = its column
 * count). Data arrive and leave as float32; everything that squares the data or solves
 * with it (Gram and covariance matrices, Cholesky solves, eigendecompositions, SVDs) is
 * float64, because ridge with a small alpha, whitening and the squared condition number
 * of a Gram matrix lose all accuracy in float32. Products that only apply a finished map
 * (lw_la_sgemm) stay in float32.
 *
 * No matrix product, solve or decomposition here is hand-written: each is one BLAS or
 * LAPACK call; the code around them only copies, scales rows/columns and sums squares.
 *
 * Return values: 0 success, LW_LA_SINGULAR (1) for a system that is numerically singular
 * (no error message set: the caller decides whether that is an error or a reason to move
 * up the alpha grid), -1 for an error with lw_fail's message set (out of memory, LAPACK
 * reporting an illegal argument or non-convergence). */
#ifndef LW_LINALG_H
#define LW_LINALG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LW_LA_SINGULAR 1

/* BLAS threads for what follows in this process (OpenBLAS's pool is process-wide); n <= 0 leaves
 * OpenBLAS's own choice (every core, or OPENBLAS_NUM_THREADS). */
void lw_la_set_threads(int n);

/* ---- allocation, conversion, centering ---- */

/* Zeroed array of n doubles (n == 0 gives a valid 1-element block); NULL + error on OOM. */
double *lw_la_dalloc(size_t n);
float *lw_la_salloc(size_t n);

void lw_la_f2d(const float *src, double *dst, size_t n);
void lw_la_d2f(const double *src, float *dst, size_t n);

/* Column means of X (n x d float) accumulated in double: the mean of 10^6 rows must not
 * lose digits to float accumulation. */
void lw_la_col_means(const float *X, int64_t n, int d, double *mu);

/* dst (n x d double) = (X - mu) / div: the centered, scaled double copy every fit works on.
 * mu may be NULL (no centering); div must be > 0. */
void lw_la_center_scale(const float *X, int64_t n, int d, const double *mu, double div, double *dst);

/* Mean Euclidean row norm of X (n x d): the scale a side is divided by under `scale`. */
double lw_la_mean_row_norm(const double *X, int64_t n, int d);

/* Sum of squares of n values (squared Frobenius norm). */
double lw_la_sumsq(const double *x, size_t n);

/* ---- products (thin wrappers that fix row-major and natural leading dimensions) ---- */

/* C (m x n) = alpha op(A) op(B) + beta C, op(A) m x k, op(B) k x n; A stored m x k, or
 * k x m when ta; B stored k x n, or n x k when tb. */
void lw_la_dgemm(bool ta, bool tb, int m, int n, int k, double alpha, const double *A, const double *B, double beta,
                 double *C);
void lw_la_sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *A, const float *B, float beta,
                 float *C);

/* Full symmetric Gram matrices by dsyrk (half the flops of a gemm), mirrored to both
 * triangles: G = X'X (d x d) and K = XX' (n x n) of X (n x d). */
void lw_la_gram_cols(const double *X, int n, int d, double *G);
void lw_la_gram_rows(const double *X, int n, int d, double *K);

/* ---- decompositions ---- */

/* The k largest eigenpairs of symmetric A (n x n, destroyed), eigenvalues descending in
 * w[k], eigenvectors as the columns of V (n x k). dsyevd (divide and conquer) for the full
 * spectrum; dsyevr (MRRR, only the wanted vectors) when k < n, which skips most of the
 * back-transformation. */
int lw_la_eigh_top(double *A, int n, int k, double *w, double *V);

/* Thin SVD by dgesdd: A (m x n, destroyed) = U diag(s) Vt, r = min(m, n); U m x r, s r
 * (descending), Vt r x n. */
int lw_la_svd_thin(double *A, int m, int n, double *U, double *s, double *Vt);

/* Flips each column of V (rows x k) so its largest-magnitude entry is positive: eigen and
 * singular vectors are defined up to sign, and a fixed rule makes fits reproducible. Also
 * flips the matching column of U (urows x k) when U is not NULL, keeping U S V' intact. */
void lw_la_fix_signs(double *V, int rows, int k, double *U, int urows);

/* Numerical-rank cut-off for eigenvalues of a Gram matrix of an n x d matrix: eigenvalues
 * at or below it are rounding noise (the Gram's absolute error is ~eps * largest). */
double lw_la_gram_tol(double lam_max, int n, int d);

/* Top-k singular triplets of a data matrix X (n x d) through the eigendecomposition of
 * its smaller Gram matrix (X'X when d <= n, else XX'): one dsyrk plus a (partial)
 * symmetric eigensolver instead of a dgesdd of the whole n x d matrix, which for
 * k << min(n, d) (PCA) is several times cheaper; squaring the condition number only
 * blurs singular values far below the largest ones, which the callers drop (rank).
 * Outputs: s[k] descending; V (d x k, right vectors), U (n x k, left vectors; may be
 * NULL). *rank = number of singular values above the rounding level; columns past it are
 * zero in U and s, and zero in V too when they could not be determined (d > n). Signs
 * follow lw_la_fix_signs on V. */
int lw_la_data_svd(const double *X, int n, int d, int k, double *s, double *V, double *U, int *rank);

/* PCA of centered X (n x d): the top r principal axes as orthonormal columns of comps
 * (d x r), variances var[r] = s^2 / (n - 1). *rank as in lw_la_data_svd (components past
 * it are not determined by the data). */
int lw_la_pca(const double *Xc, int n, int d, int r, double *comps, double *var, int *rank);

/* ---- ridge regression: W (d x m) minimizing |Y - XW|^2 + alpha |W|^2 ---- */

/* Primal: (X'X + alpha I) W = X'Y, a d x d Cholesky solve (dpotrf/dpocon/dpotrs); the
 * right form when n >= d. Singular: Cholesky fails or the reciprocal condition number
 * is below 10 d eps, where the solution would be rounding noise. *rcond may be NULL. */
int lw_la_ridge_primal(const double *X, const double *Y, int n, int d, int m, double alpha, double *W, double *rcond);
/* Dual (kernel): W = X' (XX' + alpha I)^-1 Y, an n x n Cholesky solve; the right form
 * when n < d. Same singularity rule with n. */
int lw_la_ridge_dual(const double *X, const double *Y, int n, int d, int m, double alpha, double *W, double *rcond);
/* The same solves with the Gram matrix (G = X'X, or K = XX') and X'Y precomputed, so a fit
 * that already formed them for alpha selection does not form them twice. G/K untouched. */
int lw_la_ridge_primal_gram(const double *G, const double *XtY, int d, int m, double alpha, double *W,
                            double *rcond);
int lw_la_ridge_dual_gram(const double *K, const double *X, const double *Y, int n, int d, int m, double alpha,
                          double *W, double *rcond);

/* ---- alpha selection ---- */

/* What GCV needs from X = U S V' and Y, for every alpha at once: lam_i = s_i^2, the
 * energy of Y along each left singular vector py2_i = |u_i'Y|^2, and the energy of Y
 * outside X's column space. Built from one eigendecomposition. */
typedef struct {
    int n;         /* rows */
    int r;         /* components */
    double *lam;   /* eigenvalues of X'X (r), descending */
    double *py2;   /* |u_i' Y|^2 (r) */
    double y2;     /* |Y|_F^2 */
    double rest;   /* energy of Y outside X's column space (incl. dropped components) */
} lw_la_spectrum;

/* From G = X'X (d x d) and X'Y (d x m): eigen of G, u_i'Y = v_i'X'Y / s_i. */
int lw_la_spectrum_primal(const double *G, const double *XtY, int n, int d, int m, double y2, lw_la_spectrum *sp);
/* From K = XX' (n x n) and Y (n x m): eigen of K gives u_i directly. */
int lw_la_spectrum_dual(const double *K, const double *Y, int n, int m, lw_la_spectrum *sp);
/* Picks the smaller Gram of X (n x d) and builds the spectrum (tests, one-off use). */
int lw_la_spectrum_of(const double *X, const double *Y, int n, int d, int m, lw_la_spectrum *sp);
void lw_la_spectrum_free(lw_la_spectrum *sp);

/* GCV(alpha) = (RSS/n) / (1 - (df_extra + tr H)/n)^2 with H = X (X'X + alpha I)^-1 X',
 * RSS = sum_i (alpha / (lam_i + alpha))^2 py2_i + rest, tr H = sum_i lam_i / (lam_i + alpha).
 * df_extra counts parameters fitted outside H (1 for the intercept removed by centering).
 * +inf when the effective degrees of freedom reach n. */
double lw_la_gcv(const lw_la_spectrum *sp, double alpha, double df_extra);

/* k-fold cross-validation of ridge over the absolute alphas: mean squared held-out error
 * per alpha (scores[n_alpha]). Folds are a seeded shuffle; each training fold gets one
 * eigendecomposition of its smaller Gram, after which every alpha costs one gemm, with
 * the penalty scaled by n_train / n so a relative alpha means the same on each fold.
 * X, Y are used as given (the caller centers them once on all rows). */
int lw_la_kfold_scores(const double *X, const double *Y, int n, int d, int m, int k, uint64_t seed,
                       const double *alphas, int n_alpha, double *scores);

/* ---- maps between two spaces ---- */

/* Orthogonal Procrustes: R (k x k) orthogonal minimizing |A R - B|_F for A, B (n x k):
 * the SVD A'B = U S V' gives R = U V' (Schoenemann). */
int lw_la_procrustes(const double *A, const double *B, int n, int k, double *R);

/* Regularized CCA of centered Xc (n x dA), Yc (n x dB): whitening by (C + eps I)^-1/2 with
 * eps = reg * (mean eigenvalue of C), then the SVD of the whitened cross-covariance.
 * The eigendecomposition of each covariance C = V (S^2/(n-1)) V' comes from the data's SVD
 * (lw_la_data_svd), so the whitened cross-covariance is Vx [Dx Ux'Uy Dy] Vy' and only its
 * small core needs a dgesdd: exact, and the d x d whitening matrices are never formed.
 * Outputs the top r directions Wa (dA x r), Wb (dB x r) with Wa'(Cxx + eps I)Wa = I, and
 * the regularized canonical correlations corr[r], descending. *r_out = min(r, numerical
 * ranks of both sides) (columns past it are zero). */
int lw_la_cca(const double *Xc, const double *Yc, int n, int dA, int dB, int r, double reg, double *Wa, double *Wb,
              double *corr, int *r_out);

/* ---- seeded randomness (fold shuffles, anchor choice): the project's lw_rng ---- */
/* perm[0..n) = a seeded uniform permutation of 0..n-1 (Fisher-Yates over lw_rng, unbiased). */
void lw_la_permutation(int64_t n, uint64_t seed, int64_t *perm);

#endif
