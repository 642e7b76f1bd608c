/* Dense linear algebra for the bridges (see linalg.h): thin wrappers over cblas and
 * LAPACKE plus the closed forms (GCV, k-fold, Procrustes, CCA) built from them. */
#include "linalg/linalg.h"

#include <cblas.h>
#include <float.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"

/* ------------------------------------------------------------ allocation ---- */

double *lw_la_dalloc(size_t n) {
    if (n > SIZE_MAX / sizeof(double)) {
        lw_fail("linalg: allocation of %zu doubles overflows", n);
        return NULL;
    }
    double *p = calloc(n ? n : 1, sizeof *p);
    if (!p) lw_fail("linalg: out of memory (%zu doubles)", n);
    return p;
}

float *lw_la_salloc(size_t n) {
    if (n > SIZE_MAX / sizeof(float)) {
        lw_fail("linalg: allocation of %zu floats overflows", n);
        return NULL;
    }
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) lw_fail("linalg: out of memory (%zu floats)", n);
    return p;
}

void lw_la_f2d(const float *src, double *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = (double)src[i];
}

void lw_la_d2f(const double *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = (float)src[i];
}

/* --------------------------------------------------------------- centering ---- */

void lw_la_col_means(const float *X, int64_t n, int d, double *mu) {
    for (int j = 0; j < d; j++) mu[j] = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float *row = X + (size_t)i * (size_t)d;
        for (int j = 0; j < d; j++) mu[j] += (double)row[j];
    }
    for (int j = 0; j < d; j++) mu[j] /= (double)n;
}

void lw_la_center_scale(const float *X, int64_t n, int d, const double *mu, double div, double *dst) {
    for (int64_t i = 0; i < n; i++) {
        const float *row = X + (size_t)i * (size_t)d;
        double *out = dst + (size_t)i * (size_t)d;
        for (int j = 0; j < d; j++) out[j] = ((double)row[j] - (mu ? mu[j] : 0.0)) / div;
    }
}

double lw_la_mean_row_norm(const double *X, int64_t n, int d) {
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) total += sqrt(lw_la_sumsq(X + (size_t)i * (size_t)d, (size_t)d));
    return n > 0 ? total / (double)n : 0.0;
}

double lw_la_sumsq(const double *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i] * x[i];
    return s;
}

/* ---------------------------------------------------------------- products ---- */

static int imax1(int a) { return a > 1 ? a : 1; }

void lw_la_dgemm(bool ta, bool tb, int m, int n, int k, double alpha, const double *A, const double *B, double beta,
                 double *C) {
    if (m <= 0 || n <= 0) return;
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, A,
                imax1(ta ? m : k), B, imax1(tb ? k : n), beta, C, n);
}

void lw_la_sgemm(bool ta, bool tb, int m, int n, int k, float alpha, const float *A, const float *B, float beta,
                 float *C) {
    if (m <= 0 || n <= 0) return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, A,
                imax1(ta ? m : k), B, imax1(tb ? k : n), beta, C, n);
}

/* dsyrk fills one triangle; callers want the whole matrix (eigensolvers and copies do
 * not care, but gemms with it and naive readers do). */
static void mirror_upper(double *S, int n) {
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) S[(size_t)j * n + i] = S[(size_t)i * n + j];
}

void lw_la_gram_cols(const double *X, int n, int d, double *G) {
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, n, 1.0, X, imax1(d), 0.0, G, imax1(d));
    mirror_upper(G, d);
}

void lw_la_gram_rows(const double *X, int n, int d, double *K) {
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, d, 1.0, X, imax1(d), 0.0, K, imax1(n));
    mirror_upper(K, n);
}

/* ---------------------------------------------------------- decompositions ---- */

int lw_la_eigh_top(double *A, int n, int k, double *w, double *V) {
    if (n < 1 || k < 1 || k > n) return lw_fail("linalg: eigh_top: invalid sizes n=%d k=%d", n, k);
    double *wa = lw_la_dalloc((size_t)n);
    if (!wa) return -1;
    int rc = 0;
    if (k == n) {
        /* Full spectrum: divide and conquer; vectors overwrite A (column j = vector j). */
        lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', n, A, n, wa);
        if (info != 0) rc = lw_fail("linalg: dsyevd failed (info %d) on a %d x %d matrix", (int)info, n, n);
        for (int j = 0; rc == 0 && j < k; j++) { /* ascending -> descending */
            w[j] = wa[n - 1 - j];
            for (int i = 0; i < n; i++) V[(size_t)i * k + j] = A[(size_t)i * n + (n - 1 - j)];
        }
    } else {
        /* Top k only: MRRR computes just those vectors (indices n-k+1 .. n, ascending). */
        double *Z = lw_la_dalloc((size_t)n * k);
        lapack_int *isuppz = calloc(2 * (size_t)k, sizeof *isuppz);
        lapack_int found = 0;
        if (!Z || !isuppz) rc = lw_fail("linalg: out of memory in eigh_top");
        if (rc == 0) {
            lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', n, A, n, 0.0, 0.0, n - k + 1, n, 0.0,
                                             &found, wa, Z, k, isuppz);
            if (info != 0 || found != k)
                rc = lw_fail("linalg: dsyevr failed (info %d, %d of %d eigenpairs) on a %d x %d matrix", (int)info,
                             (int)found, k, n, n);
        }
        for (int j = 0; rc == 0 && j < k; j++) {
            w[j] = wa[k - 1 - j];
            for (int i = 0; i < n; i++) V[(size_t)i * k + j] = Z[(size_t)i * k + (k - 1 - j)];
        }
        free(Z);
        free(isuppz);
    }
    free(wa);
    return rc;
}

int lw_la_svd_thin(double *A, int m, int n, double *U, double *s, double *Vt) {
    if (m < 1 || n < 1) return lw_fail("linalg: svd: invalid sizes %d x %d", m, n);
    int r = m < n ? m : n;
    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', m, n, A, n, s, U, r, Vt, n);
    if (info != 0) return lw_fail("linalg: dgesdd failed (info %d) on a %d x %d matrix", (int)info, m, n);
    return 0;
}

void lw_la_fix_signs(double *V, int rows, int k, double *U, int urows) {
    for (int j = 0; j < k; j++) {
        double best = 0.0;
        for (int i = 0; i < rows; i++) {
            double v = V[(size_t)i * k + j];
            if (fabs(v) > fabs(best)) best = v;
        }
        if (best >= 0.0) continue;
        for (int i = 0; i < rows; i++) V[(size_t)i * k + j] = -V[(size_t)i * k + j];
        for (int i = 0; U && i < urows; i++) U[(size_t)i * k + j] = -U[(size_t)i * k + j];
    }
}

double lw_la_gram_tol(double lam_max, int n, int d) {
    int big = n > d ? n : d;
    return lam_max > 0.0 ? 10.0 * (double)big * DBL_EPSILON * lam_max : 0.0;
}

/* Scales column j of M (rows x k) by f[j]. */
static void scale_cols(double *M, int rows, int k, const double *f) {
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < k; j++) M[(size_t)i * k + j] *= f[j];
}

int lw_la_data_svd(const double *X, int n, int d, int k, double *s, double *V, double *U, int *rank) {
    int mn = n < d ? n : d;
    if (n < 1 || d < 1 || k < 1 || k > mn) return lw_fail("linalg: data_svd: invalid sizes n=%d d=%d k=%d", n, d, k);
    bool primal = d <= n;
    int g = primal ? d : n;
    double *G = lw_la_dalloc((size_t)g * g), *lam = lw_la_dalloc((size_t)k), *inv = lw_la_dalloc((size_t)k);
    double *E = primal ? V : lw_la_dalloc((size_t)n * k); /* eigenvectors: V (primal) or U (dual) */
    int rc = (G && lam && inv && E) ? 0 : -1;
    if (rc == 0) {
        if (primal) lw_la_gram_cols(X, n, d, G);
        else lw_la_gram_rows(X, n, d, G);
        rc = lw_la_eigh_top(G, g, k, lam, E);
    }
    int r = 0;
    if (rc == 0) {
        double tol = lw_la_gram_tol(lam[0], n, d);
        for (int j = 0; j < k; j++) {
            bool keep = lam[j] > tol;
            if (keep) r = j + 1;
            s[j] = keep ? sqrt(lam[j]) : 0.0;
            inv[j] = keep ? 1.0 / s[j] : 0.0;
        }
        if (primal) {
            /* V are the eigenvectors of X'X; U = X V S^-1. */
            lw_la_fix_signs(V, d, k, NULL, 0);
            if (U) {
                lw_la_dgemm(false, false, n, k, d, 1.0, X, V, 0.0, U);
                scale_cols(U, n, k, inv);
            }
        } else {
            /* E are the eigenvectors of XX' (= U); V = X' U S^-1, undetermined past the rank. */
            lw_la_dgemm(true, false, d, k, n, 1.0, X, E, 0.0, V);
            scale_cols(V, d, k, inv);
            lw_la_fix_signs(V, d, k, E, n);
            if (U) {
                memcpy(U, E, sizeof(double) * (size_t)n * k);
                for (int i = 0; i < n; i++)
                    for (int j = r; j < k; j++) U[(size_t)i * k + j] = 0.0;
            }
        }
    }
    if (rank) *rank = r;
    free(G);
    free(lam);
    free(inv);
    if (!primal) free(E);
    return rc;
}

int lw_la_pca(const double *Xc, int n, int d, int r, double *comps, double *var, int *rank) {
    double *s = lw_la_dalloc((size_t)r);
    if (!s) return -1;
    int rc = lw_la_data_svd(Xc, n, d, r, s, comps, NULL, rank);
    for (int j = 0; rc == 0 && j < r; j++) var[j] = n > 1 ? s[j] * s[j] / (double)(n - 1) : 0.0;
    free(s);
    return rc;
}

/* ------------------------------------------------------------------- ridge ---- */

/* Factors A + alpha I (A: g x g, copied into F) by Cholesky and checks its reciprocal
 * condition number (1-norm estimate, dpocon): a system that factors but has
 * rcond < 10 g eps would return a solution dominated by rounding, which is what
 * "singular" means here. */
static int chol_shifted(const double *A, int g, double alpha, double *F, double *rcond) {
    memcpy(F, A, sizeof(double) * (size_t)g * g);
    for (int i = 0; i < g; i++) F[(size_t)i * g + i] += alpha;
    double anorm = LAPACKE_dlansy(LAPACK_ROW_MAJOR, '1', 'U', g, F, g);
    lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', g, F, g);
    if (info < 0) return lw_fail("linalg: dpotrf: illegal argument %d", (int)-info);
    if (rcond) *rcond = 0.0;
    if (info > 0 || !(anorm > 0.0) || !isfinite(anorm)) return LW_LA_SINGULAR;
    double rc = 0.0;
    info = LAPACKE_dpocon(LAPACK_ROW_MAJOR, 'U', g, F, g, anorm, &rc);
    if (info != 0) return lw_fail("linalg: dpocon failed (info %d)", (int)info);
    if (rcond) *rcond = rc;
    return rc < 10.0 * (double)g * DBL_EPSILON ? LW_LA_SINGULAR : 0;
}

int lw_la_ridge_primal_gram(const double *G, const double *XtY, int d, int m, double alpha, double *W,
                            double *rcond) {
    double *F = lw_la_dalloc((size_t)d * d);
    if (!F) return -1;
    int rc = chol_shifted(G, d, alpha, F, rcond);
    if (rc == 0) {
        memcpy(W, XtY, sizeof(double) * (size_t)d * m);
        lapack_int info = LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'U', d, m, F, d, W, m);
        if (info != 0) rc = lw_fail("linalg: dpotrs failed (info %d)", (int)info);
    }
    free(F);
    return rc;
}

int lw_la_ridge_dual_gram(const double *K, const double *X, const double *Y, int n, int d, int m, double alpha,
                          double *W, double *rcond) {
    double *F = lw_la_dalloc((size_t)n * n), *C = lw_la_dalloc((size_t)n * m);
    int rc = (F && C) ? chol_shifted(K, n, alpha, F, rcond) : -1;
    if (rc == 0) {
        /* C = (XX' + alpha I)^-1 Y, then W = X'C. */
        memcpy(C, Y, sizeof(double) * (size_t)n * m);
        lapack_int info = LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'U', n, m, F, n, C, m);
        if (info != 0) rc = lw_fail("linalg: dpotrs failed (info %d)", (int)info);
        else lw_la_dgemm(true, false, d, m, n, 1.0, X, C, 0.0, W);
    }
    free(F);
    free(C);
    return rc;
}

int lw_la_ridge_primal(const double *X, const double *Y, int n, int d, int m, double alpha, double *W, double *rcond) {
    double *G = lw_la_dalloc((size_t)d * d), *XtY = lw_la_dalloc((size_t)d * m);
    int rc = (G && XtY) ? 0 : -1;
    if (rc == 0) {
        lw_la_gram_cols(X, n, d, G);
        lw_la_dgemm(true, false, d, m, n, 1.0, X, Y, 0.0, XtY);
        rc = lw_la_ridge_primal_gram(G, XtY, d, m, alpha, W, rcond);
    }
    free(G);
    free(XtY);
    return rc;
}

int lw_la_ridge_dual(const double *X, const double *Y, int n, int d, int m, double alpha, double *W, double *rcond) {
    double *K = lw_la_dalloc((size_t)n * n);
    if (!K) return -1;
    lw_la_gram_rows(X, n, d, K);
    int rc = lw_la_ridge_dual_gram(K, X, Y, n, d, m, alpha, W, rcond);
    free(K);
    return rc;
}

/* ---------------------------------------------------------- alpha selection ---- */

void lw_la_spectrum_free(lw_la_spectrum *sp) {
    if (!sp) return;
    free(sp->lam);
    free(sp->py2);
    memset(sp, 0, sizeof *sp);
}

/* Keeps the components above the rounding level (lam sorted descending) and the energy
 * of Y outside X's column space. With a complete eigenbasis (dual: all n vectors of XX')
 * that energy is the sum over the dropped components, exact; otherwise (primal) it is
 * |Y|^2 minus the energy inside, which cancels when Y lies almost inside. */
static void spectrum_finish(lw_la_spectrum *sp, int n, int d, int r_all, double y2, bool complete) {
    double tol = lw_la_gram_tol(sp->lam[0], n, d), inside = 0.0, outside = 0.0;
    int r = 0;
    while (r < r_all && sp->lam[r] > tol) inside += sp->py2[r++];
    for (int i = r; i < r_all; i++) outside += sp->py2[i];
    sp->n = n;
    sp->r = r;
    sp->y2 = y2;
    sp->rest = complete ? outside : (y2 - inside > 0.0 ? y2 - inside : 0.0);
}

int lw_la_spectrum_primal(const double *G, const double *XtY, int n, int d, int m, double y2, lw_la_spectrum *sp) {
    memset(sp, 0, sizeof *sp);
    double *A = lw_la_dalloc((size_t)d * d), *V = lw_la_dalloc((size_t)d * d), *B = lw_la_dalloc((size_t)d * m);
    sp->lam = lw_la_dalloc((size_t)d);
    sp->py2 = lw_la_dalloc((size_t)d);
    int rc = (A && V && B && sp->lam && sp->py2) ? 0 : -1;
    if (rc == 0) {
        memcpy(A, G, sizeof(double) * (size_t)d * d);
        rc = lw_la_eigh_top(A, d, d, sp->lam, V);
    }
    if (rc == 0) {
        /* u_i'Y = v_i'X'Y / s_i, so |u_i'Y|^2 = |row i of V'X'Y|^2 / lam_i. */
        lw_la_dgemm(true, false, d, m, d, 1.0, V, XtY, 0.0, B);
        for (int i = 0; i < d; i++)
            sp->py2[i] = sp->lam[i] > 0.0 ? lw_la_sumsq(B + (size_t)i * m, (size_t)m) / sp->lam[i] : 0.0;
        spectrum_finish(sp, n, d, d, y2, false);
    }
    free(A);
    free(V);
    free(B);
    if (rc != 0) lw_la_spectrum_free(sp);
    return rc;
}

int lw_la_spectrum_dual(const double *K, const double *Y, int n, int m, lw_la_spectrum *sp) {
    memset(sp, 0, sizeof *sp);
    double *A = lw_la_dalloc((size_t)n * n), *U = lw_la_dalloc((size_t)n * n), *B = lw_la_dalloc((size_t)n * m);
    sp->lam = lw_la_dalloc((size_t)n);
    sp->py2 = lw_la_dalloc((size_t)n);
    int rc = (A && U && B && sp->lam && sp->py2) ? 0 : -1;
    if (rc == 0) {
        memcpy(A, K, sizeof(double) * (size_t)n * n);
        rc = lw_la_eigh_top(A, n, n, sp->lam, U);
    }
    if (rc == 0) {
        lw_la_dgemm(true, false, n, m, n, 1.0, U, Y, 0.0, B); /* U'Y */
        for (int i = 0; i < n; i++) sp->py2[i] = lw_la_sumsq(B + (size_t)i * m, (size_t)m);
        /* d only enters the rounding tolerance; n x n is the Gram that was decomposed. */
        spectrum_finish(sp, n, n, n, lw_la_sumsq(Y, (size_t)n * m), true);
    }
    free(A);
    free(U);
    free(B);
    if (rc != 0) lw_la_spectrum_free(sp);
    return rc;
}

int lw_la_spectrum_of(const double *X, const double *Y, int n, int d, int m, lw_la_spectrum *sp) {
    int rc;
    if (d <= n) {
        double *G = lw_la_dalloc((size_t)d * d), *XtY = lw_la_dalloc((size_t)d * m);
        rc = (G && XtY) ? 0 : -1;
        if (rc == 0) {
            lw_la_gram_cols(X, n, d, G);
            lw_la_dgemm(true, false, d, m, n, 1.0, X, Y, 0.0, XtY);
            rc = lw_la_spectrum_primal(G, XtY, n, d, m, lw_la_sumsq(Y, (size_t)n * m), sp);
        }
        free(G);
        free(XtY);
    } else {
        double *K = lw_la_dalloc((size_t)n * n);
        rc = K ? 0 : -1;
        if (rc == 0) {
            lw_la_gram_rows(X, n, d, K);
            rc = lw_la_spectrum_dual(K, Y, n, m, sp);
        }
        free(K);
    }
    return rc;
}

double lw_la_gcv(const lw_la_spectrum *sp, double alpha, double df_extra) {
    double rss = sp->rest, tr = 0.0;
    for (int i = 0; i < sp->r; i++) {
        double f = alpha / (sp->lam[i] + alpha);
        rss += f * f * sp->py2[i];
        tr += sp->lam[i] / (sp->lam[i] + alpha);
    }
    double denom = 1.0 - (df_extra + tr) / (double)sp->n;
    if (!(denom > 0.0)) return INFINITY;
    return (rss / (double)sp->n) / (denom * denom);
}

/* Copies the rows idx[0..cnt) of M (rows x cols) into out (cnt x cols). */
static void gather_rows(const double *M, int cols, const int64_t *idx, int cnt, double *out) {
    for (int i = 0; i < cnt; i++)
        memcpy(out + (size_t)i * cols, M + (size_t)idx[i] * cols, sizeof(double) * (size_t)cols);
}

/* One fold: held-out squared error for every alpha, added into err[]. The training fit
 * is written as W(a) = E diag(1/(lam + a)) B with E, B fixed, so the held-out prediction
 * is P diag(1/(lam + a)) B with P = Xte E (primal: E = V, B = V'Xtr'Ytr; dual: E = Xtr'U,
 * B = U'Ytr), and each alpha costs one gemm. */
static int kfold_one(const double *Xtr, const double *Ytr, int ntr, const double *Xte, const double *Yte, int nte,
                     int d, int m, const double *alphas, int n_alpha, double a_scale, double *err) {
    bool primal = d <= ntr;
    int g = primal ? d : ntr;
    double *G = lw_la_dalloc((size_t)g * g), *E = lw_la_dalloc((size_t)g * g), *lam = lw_la_dalloc((size_t)g);
    double *B = lw_la_dalloc((size_t)g * m), *P = lw_la_dalloc((size_t)nte * g), *DB = lw_la_dalloc((size_t)g * m);
    double *pred = lw_la_dalloc((size_t)nte * m);
    double *T = primal ? NULL : lw_la_dalloc((size_t)nte * ntr);
    int rc = (G && E && lam && B && P && DB && pred && (primal || T)) ? 0 : -1;
    if (rc == 0) {
        if (primal) lw_la_gram_cols(Xtr, ntr, d, G);
        else lw_la_gram_rows(Xtr, ntr, d, G);
        rc = lw_la_eigh_top(G, g, g, lam, E);
    }
    if (rc == 0) {
        if (primal) {
            double *XtY = G; /* G is spent; reuse it only if large enough */
            double *tmp = (size_t)g * g >= (size_t)d * m ? XtY : lw_la_dalloc((size_t)d * m);
            if (!tmp) rc = -1;
            if (rc == 0) {
                lw_la_dgemm(true, false, d, m, ntr, 1.0, Xtr, Ytr, 0.0, tmp);
                lw_la_dgemm(true, false, d, m, d, 1.0, E, tmp, 0.0, B);
                lw_la_dgemm(false, false, nte, d, d, 1.0, Xte, E, 0.0, P);
            }
            if (tmp != XtY) free(tmp);
        } else {
            lw_la_dgemm(true, false, ntr, m, ntr, 1.0, E, Ytr, 0.0, B);
            lw_la_dgemm(false, true, nte, ntr, d, 1.0, Xte, Xtr, 0.0, T);
            lw_la_dgemm(false, false, nte, ntr, ntr, 1.0, T, E, 0.0, P);
        }
    }
    double tol = rc == 0 ? lw_la_gram_tol(lam[0], ntr, d) : 0.0;
    for (int a = 0; rc == 0 && a < n_alpha; a++) {
        double alpha = alphas[a] * a_scale;
        for (int i = 0; i < g; i++) {
            double f = lam[i] > tol ? 1.0 / (lam[i] + alpha) : 0.0;
            for (int j = 0; j < m; j++) DB[(size_t)i * m + j] = f * B[(size_t)i * m + j];
        }
        lw_la_dgemm(false, false, nte, m, g, 1.0, P, DB, 0.0, pred);
        double e = 0.0;
        for (size_t i = 0; i < (size_t)nte * m; i++) e += (Yte[i] - pred[i]) * (Yte[i] - pred[i]);
        err[a] += e;
    }
    free(G);
    free(E);
    free(lam);
    free(B);
    free(P);
    free(DB);
    free(pred);
    free(T);
    return rc;
}

int lw_la_kfold_scores(const double *X, const double *Y, int n, int d, int m, int k, uint64_t seed,
                       const double *alphas, int n_alpha, double *scores) {
    if (k < 2 || k > n) return lw_fail("linalg: k-fold: %d folds for %d rows (need 2 <= k <= rows)", k, n);
    int64_t *perm = calloc((size_t)n, sizeof *perm), *tr_idx = calloc((size_t)n, sizeof *tr_idx);
    double *Xtr = lw_la_dalloc((size_t)n * d), *Ytr = lw_la_dalloc((size_t)n * m);
    double *Xte = lw_la_dalloc((size_t)n * d), *Yte = lw_la_dalloc((size_t)n * m);
    int rc = (perm && tr_idx && Xtr && Ytr && Xte && Yte) ? 0 : lw_fail("linalg: out of memory in k-fold");
    if (rc == 0) lw_la_permutation(n, seed, perm);
    for (int a = 0; a < n_alpha; a++) scores[a] = 0.0;
    for (int f = 0; rc == 0 && f < k; f++) {
        int lo = (int)((int64_t)f * n / k), hi = (int)((int64_t)(f + 1) * n / k);
        int nte = hi - lo, ntr = 0;
        for (int i = 0; i < n; i++)
            if (i < lo || i >= hi) tr_idx[ntr++] = perm[i];
        gather_rows(X, d, tr_idx, ntr, Xtr);
        gather_rows(Y, m, tr_idx, ntr, Ytr);
        gather_rows(X, d, perm + lo, nte, Xte);
        gather_rows(Y, m, perm + lo, nte, Yte);
        rc = kfold_one(Xtr, Ytr, ntr, Xte, Yte, nte, d, m, alphas, n_alpha, (double)ntr / (double)n, scores);
    }
    for (int a = 0; rc == 0 && a < n_alpha; a++) scores[a] /= (double)n * (double)m;
    free(perm);
    free(tr_idx);
    free(Xtr);
    free(Ytr);
    free(Xte);
    free(Yte);
    return rc;
}

/* ---------------------------------------------------------- maps between spaces ---- */

int lw_la_procrustes(const double *A, const double *B, int n, int k, double *R) {
    double *M = lw_la_dalloc((size_t)k * k), *U = lw_la_dalloc((size_t)k * k), *s = lw_la_dalloc((size_t)k);
    double *Vt = lw_la_dalloc((size_t)k * k);
    int rc = (M && U && s && Vt) ? 0 : -1;
    if (rc == 0) {
        lw_la_dgemm(true, false, k, k, n, 1.0, A, B, 0.0, M); /* A'B */
        rc = lw_la_svd_thin(M, k, k, U, s, Vt);
    }
    if (rc == 0) lw_la_dgemm(false, false, k, k, k, 1.0, U, Vt, 0.0, R);
    free(M);
    free(U);
    free(s);
    free(Vt);
    return rc;
}

/* One side of CCA: the data SVD X = U S V' (all min(n, d) components) and the whitening
 * factors: c_j = (s_j^2/(n-1) + eps)^-1/2 (the eigenvalues of (C + eps I)^-1/2 on V's
 * span) and D_j = s_j c_j / sqrt(n-1) (what the whitened cross-covariance core uses). */
typedef struct {
    int k, rank;
    double *s, *V, *U, *c, *D;
} cca_side;

static void cca_side_free(cca_side *sd) {
    free(sd->s);
    free(sd->V);
    free(sd->U);
    free(sd->c);
    free(sd->D);
}

static int cca_side_fit(const double *X, int n, int d, double reg, cca_side *sd, const char *which) {
    memset(sd, 0, sizeof *sd);
    sd->k = n < d ? n : d;
    sd->s = lw_la_dalloc((size_t)sd->k);
    sd->V = lw_la_dalloc((size_t)d * sd->k);
    sd->U = lw_la_dalloc((size_t)n * sd->k);
    sd->c = lw_la_dalloc((size_t)sd->k);
    sd->D = lw_la_dalloc((size_t)sd->k);
    if (!sd->s || !sd->V || !sd->U || !sd->c || !sd->D) return -1;
    if (lw_la_data_svd(X, n, d, sd->k, sd->s, sd->V, sd->U, &sd->rank) != 0) return -1;
    if (sd->rank == 0) return lw_fail("linalg: CCA: %s has zero variance", which);
    double total = 0.0; /* trace of C = sum s^2 / (n-1); eps = reg * trace / d */
    for (int j = 0; j < sd->rank; j++) total += sd->s[j] * sd->s[j];
    double nm1 = (double)(n - 1), eps = reg * total / nm1 / (double)d;
    for (int j = 0; j < sd->rank; j++) {
        double sigma = sd->s[j] * sd->s[j] / nm1;
        sd->c[j] = 1.0 / sqrt(sigma + eps);
        sd->D[j] = sd->s[j] * sd->c[j] / sqrt(nm1);
    }
    return 0;
}

/* W (d x r) = V diag(c) P[:, :r]: the canonical directions (C + eps I)^-1/2 (V p_l) of one
 * side, from the core's singular vectors P (left: k x q; right: stored transposed as
 * Qt, q x k). Rows past the side's rank are zero (c and the vectors are undetermined). */
static int cca_directions(const cca_side *sd, int d, const double *P, int q, bool transposed, int r, double *W) {
    double *T = lw_la_dalloc((size_t)sd->k * r);
    if (!T) return -1;
    for (int j = 0; j < sd->rank; j++)
        for (int l = 0; l < r; l++) {
            double p = transposed ? P[(size_t)l * sd->k + j] : P[(size_t)j * q + l];
            T[(size_t)j * r + l] = sd->c[j] * p;
        }
    lw_la_dgemm(false, false, d, r, sd->k, 1.0, sd->V, T, 0.0, W);
    free(T);
    return 0;
}

int lw_la_cca(const double *Xc, const double *Yc, int n, int dA, int dB, int r, double reg, double *Wa, double *Wb,
              double *corr, int *r_out) {
    if (n < 2 || r < 1) return lw_fail("linalg: CCA: need n >= 2 and r >= 1 (n=%d r=%d)", n, r);
    cca_side x, y;
    int rc = cca_side_fit(Xc, n, dA, reg, &x, "X");
    if (rc == 0) rc = cca_side_fit(Yc, n, dB, reg, &y, "Y");
    else memset(&y, 0, sizeof y);
    int q = 0, re = 0;
    double *core = NULL, *P = NULL, *S = NULL, *Qt = NULL;
    if (rc == 0) {
        q = x.k < y.k ? x.k : y.k;
        core = lw_la_dalloc((size_t)x.k * y.k);
        P = lw_la_dalloc((size_t)x.k * q);
        S = lw_la_dalloc((size_t)q);
        Qt = lw_la_dalloc((size_t)q * y.k);
        if (!core || !P || !S || !Qt) rc = -1;
    }
    if (rc == 0) {
        /* core = Dx (Ux'Uy) Dy: the whitened cross-covariance in the two singular bases. */
        lw_la_dgemm(true, false, x.k, y.k, n, 1.0, x.U, y.U, 0.0, core);
        for (int i = 0; i < x.k; i++)
            for (int j = 0; j < y.k; j++) core[(size_t)i * y.k + j] *= x.D[i] * y.D[j];
        rc = lw_la_svd_thin(core, x.k, y.k, P, S, Qt);
    }
    if (rc == 0) {
        re = r;
        if (re > x.rank) re = x.rank;
        if (re > y.rank) re = y.rank;
        if (re > q) re = q;
        memset(Wa, 0, sizeof(double) * (size_t)dA * r);
        memset(Wb, 0, sizeof(double) * (size_t)dB * r);
        double *Wa_e = lw_la_dalloc((size_t)dA * re), *Wb_e = lw_la_dalloc((size_t)dB * re);
        rc = (Wa_e && Wb_e) ? 0 : -1;
        if (rc == 0) rc = cca_directions(&x, dA, P, q, false, re, Wa_e);
        if (rc == 0) rc = cca_directions(&y, dB, Qt, q, true, re, Wb_e);
        for (int i = 0; rc == 0 && i < dA; i++)
            memcpy(Wa + (size_t)i * r, Wa_e + (size_t)i * re, sizeof(double) * (size_t)re);
        for (int i = 0; rc == 0 && i < dB; i++)
            memcpy(Wb + (size_t)i * r, Wb_e + (size_t)i * re, sizeof(double) * (size_t)re);
        for (int l = 0; rc == 0 && l < r; l++) corr[l] = l < re ? S[l] : 0.0;
        free(Wa_e);
        free(Wb_e);
    }
    if (r_out) *r_out = re;
    cca_side_free(&x);
    cca_side_free(&y);
    free(core);
    free(P);
    free(S);
    free(Qt);
    return rc;
}

/* -------------------------------------------------------------- randomness ---- */

void lw_la_permutation(int64_t n, uint64_t seed, int64_t *perm) {
    lw_rng r;
    lw_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)lw_rng_below(&r, (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

void openblas_set_num_threads(int num_threads); /* OpenBLAS's own API (its cblas.h), linked by the build */

void lw_la_set_threads(int n) {
    if (n > 0) openblas_set_num_threads(n);
}
