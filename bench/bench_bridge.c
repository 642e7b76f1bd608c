/* Benchmark: bridge fitting time per recipe against the BLAS/LAPACK work it is made of.
 *
 *   bench_bridge [--n N] [--da D] [--db D] [--seed S] [--recipes ridge,cca,...] [--reps R] [--no-replay]
 *
 * Default: N = 3000 calibration rows, 4096 -> 4096, seeded synthetic data (a shared
 * 512-dimensional latent seen through a random linear map by each side, plus noise),
 * default parameters (GCV over the 17-point alpha grid, rank 256, 300 anchors).
 *
 * How the work is measured: this program defines cblas_sgemm/dgemm/dsyrk and the
 * LAPACKE routines the library calls (dsyevd, dsyevr, dgesdd, dpotrf, dpotrs, dpocon,
 * dlansy). The linker binds the library's calls to these definitions; each records the
 * call's shape, its nominal FLOP count and its time, and forwards to the real routine
 * (dlsym RTLD_NEXT: OpenBLAS/LAPACKE are shared libraries). No library code is changed.
 *
 * Reported per recipe: fit wall time, time inside BLAS/LAPACK, nominal GFLOP and GFLOP/s.
 * For ridge, the calls recorded during one fit (inputs snapshotted) are then replayed
 * alone, one by one on copies of the same inputs, alternating R times (default 2) with a
 * timed fit; "fit / alone" (median over the reps) is the fit's cost beyond its BLAS/LAPACK
 * calls (target: within 2x). The machine's sgemm and dgemm rates (2048^3) are printed for
 * comparison. Default run: about 2.5 minutes on 2 idle cores.
 *
 * Nominal FLOP counts: gemm 2mnk; syrk n(n+1)k; potrf n^3/3; potrs 2n^2 nrhs; pocon 4n^2;
 * lansy n^2; syevd with vectors 4/3 n^3 (tridiagonal reduction) + 4/3 n^3 (divide and
 * conquer, nominal) + 2 n^3 (back-transformation); syevr with k vectors 4/3 n^3 + 2 n^2 k;
 * gesdd with thin U and V (m >= n) 6 m n^2 + 11 n^3 (Golub & Van Loan's R-SVD count). */
#define _GNU_SOURCE
#include <cblas.h>
#include <dlfcn.h>
#include <lapacke.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "latentwire/bridge.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------ call records ---- */

typedef enum {
    C_SGEMM, C_DGEMM, C_DSYRK, C_SYEVD, C_SYEVR, C_GESDD, C_POTRF, C_POTRS, C_POCON, C_LANSY, C_KINDS
} ckind;
static const char *const k_kind[C_KINDS] = {"sgemm", "dgemm", "dsyrk", "dsyevd", "dsyevr",
                                           "dgesdd", "dpotrf", "dpotrs", "dpocon", "dlansy"};

typedef struct {
    ckind k;
    int order, t1, t2, uplo;     /* cblas enums */
    char c1, c2, c3, c4;         /* LAPACKE chars (jobz, range, uplo, norm) */
    int m, n, kk, lda, ldb, ldc; /* shapes and leading dimensions */
    int il, iu, nrhs;
    double alpha, beta, anorm;
    double flops, secs;
    void *snap[2];               /* input copies (replay only) */
} call_rec;

static struct {
    bool on, snapshot;
    call_rec *v;
    int n, cap;
} g_rec;

/* The real routine: the next definition after this program's (OpenBLAS, LAPACKE); when
 * the linker dropped liblapacke as unneeded (every LAPACKE call the library makes binds
 * here), it is opened by name. */
static void *real_sym(const char *name) {
    void *p = dlsym(RTLD_NEXT, name);
    static const char *const libs[] = {"liblapacke.so.3", "liblapacke.so", "libopenblas.so.0"};
    for (int i = 0; !p && i < 3; i++) {
        void *h = dlopen(libs[i], RTLD_NOW | RTLD_GLOBAL);
        if (h) p = dlsym(h, name);
    }
    if (!p) {
        fprintf(stderr, "bench_bridge: cannot find the real %s (are BLAS/LAPACKE linked as shared libraries?)\n", name);
        exit(1);
    }
    return p;
}
#define REAL(var, name)                                                                                        \
    do {                                                                                                       \
        if (!var) *(void **)(&var) = real_sym(name);                                                           \
    } while (0)

static call_rec *rec_begin(ckind k, double flops) {
    if (!g_rec.on) return NULL;
    if (g_rec.n == g_rec.cap) {
        g_rec.cap = g_rec.cap ? 2 * g_rec.cap : 256;
        g_rec.v = realloc(g_rec.v, sizeof *g_rec.v * (size_t)g_rec.cap);
        if (!g_rec.v) abort();
    }
    call_rec *r = &g_rec.v[g_rec.n++];
    memset(r, 0, sizeof *r);
    r->k = k;
    r->flops = flops;
    return r;
}

static void *snap(const void *p, size_t bytes) {
    if (!g_rec.snapshot) return NULL;
    void *c = malloc(bytes ? bytes : 1);
    if (!c) abort();
    memcpy(c, p, bytes);
    return c;
}

static void rec_clear(void) {
    for (int i = 0; i < g_rec.n; i++) free(g_rec.v[i].snap[0]), free(g_rec.v[i].snap[1]);
    g_rec.n = 0;
}

/* --------------------------------------------------- interposed BLAS/LAPACK ---- */

typedef void (*sgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint, blasint, blasint,
                         float, const float *, blasint, const float *, blasint, float, float *, blasint);
typedef void (*dgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint, blasint, blasint,
                         double, const double *, blasint, const double *, blasint, double, double *, blasint);
typedef void (*dsyrk_fn)(enum CBLAS_ORDER, enum CBLAS_UPLO, enum CBLAS_TRANSPOSE, blasint, blasint, double,
                         const double *, blasint, double, double *, blasint);
typedef lapack_int (*syevd_fn)(int, char, char, lapack_int, double *, lapack_int, double *);
typedef lapack_int (*syevr_fn)(int, char, char, char, lapack_int, double *, lapack_int, double, double, lapack_int,
                               lapack_int, double, lapack_int *, double *, double *, lapack_int, lapack_int *);
typedef lapack_int (*gesdd_fn)(int, char, lapack_int, lapack_int, double *, lapack_int, double *, double *,
                               lapack_int, double *, lapack_int);
typedef lapack_int (*potrf_fn)(int, char, lapack_int, double *, lapack_int);
typedef lapack_int (*potrs_fn)(int, char, lapack_int, lapack_int, const double *, lapack_int, double *, lapack_int);
typedef lapack_int (*pocon_fn)(int, char, lapack_int, const double *, lapack_int, double, double *);
typedef double (*lansy_fn)(int, char, char, lapack_int, const double *, lapack_int);

static sgemm_fn r_sgemm;
static dgemm_fn r_dgemm;
static dsyrk_fn r_dsyrk;
static syevd_fn r_syevd;
static syevr_fn r_syevr;
static gesdd_fn r_gesdd;
static potrf_fn r_potrf;
static potrs_fn r_potrs;
static pocon_fn r_pocon;
static lansy_fn r_lansy;

/* Row-major storage of `rows` rows with leading dimension ld (column-major: swap). */
static size_t mat_elems(int order, int rows, int cols, int ld) {
    return order == CblasRowMajor || order == LAPACK_ROW_MAJOR ? (size_t)rows * ld : (size_t)cols * ld;
}

static void gemm_rec(call_rec *r, int order, int ta, int tb, int M, int N, int K, double alpha, int lda, int ldb,
                     double beta, int ldc) {
    r->order = order, r->t1 = ta, r->t2 = tb, r->m = M, r->n = N, r->kk = K;
    r->alpha = alpha, r->beta = beta, r->lda = lda, r->ldb = ldb, r->ldc = ldc;
    if (beta != 0.0) {
        fprintf(stderr, "bench_bridge: gemm with beta != 0 is not replayable\n");
        exit(1);
    }
}

void cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER Order, OPENBLAS_CONST enum CBLAS_TRANSPOSE TransA,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE TransB, OPENBLAS_CONST blasint M, OPENBLAS_CONST blasint N,
                 OPENBLAS_CONST blasint K, OPENBLAS_CONST float alpha, OPENBLAS_CONST float *A,
                 OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *B, OPENBLAS_CONST blasint ldb,
                 OPENBLAS_CONST float beta, float *C, OPENBLAS_CONST blasint ldc) {
    REAL(r_sgemm, "cblas_sgemm");
    call_rec *r = rec_begin(C_SGEMM, 2.0 * M * N * K);
    if (r) {
        gemm_rec(r, Order, TransA, TransB, M, N, K, alpha, lda, ldb, beta, ldc);
        bool ta = TransA != CblasNoTrans, tb = TransB != CblasNoTrans;
        r->snap[0] = snap(A, sizeof(float) * mat_elems(Order, ta ? K : M, ta ? M : K, lda));
        r->snap[1] = snap(B, sizeof(float) * mat_elems(Order, tb ? N : K, tb ? K : N, ldb));
    }
    double t = now();
    r_sgemm(Order, TransA, TransB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (r) r->secs = now() - t;
}

void cblas_dgemm(OPENBLAS_CONST enum CBLAS_ORDER Order, OPENBLAS_CONST enum CBLAS_TRANSPOSE TransA,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE TransB, OPENBLAS_CONST blasint M, OPENBLAS_CONST blasint N,
                 OPENBLAS_CONST blasint K, OPENBLAS_CONST double alpha, OPENBLAS_CONST double *A,
                 OPENBLAS_CONST blasint lda, OPENBLAS_CONST double *B, OPENBLAS_CONST blasint ldb,
                 OPENBLAS_CONST double beta, double *C, OPENBLAS_CONST blasint ldc) {
    REAL(r_dgemm, "cblas_dgemm");
    call_rec *r = rec_begin(C_DGEMM, 2.0 * M * N * K);
    if (r) {
        gemm_rec(r, Order, TransA, TransB, M, N, K, alpha, lda, ldb, beta, ldc);
        bool ta = TransA != CblasNoTrans, tb = TransB != CblasNoTrans;
        r->snap[0] = snap(A, sizeof(double) * mat_elems(Order, ta ? K : M, ta ? M : K, lda));
        r->snap[1] = snap(B, sizeof(double) * mat_elems(Order, tb ? N : K, tb ? K : N, ldb));
    }
    double t = now();
    r_dgemm(Order, TransA, TransB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (r) r->secs = now() - t;
}

void cblas_dsyrk(OPENBLAS_CONST enum CBLAS_ORDER Order, OPENBLAS_CONST enum CBLAS_UPLO Uplo,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE Trans, OPENBLAS_CONST blasint N, OPENBLAS_CONST blasint K,
                 OPENBLAS_CONST double alpha, OPENBLAS_CONST double *A, OPENBLAS_CONST blasint lda,
                 OPENBLAS_CONST double beta, double *C, OPENBLAS_CONST blasint ldc) {
    REAL(r_dsyrk, "cblas_dsyrk");
    call_rec *r = rec_begin(C_DSYRK, (double)N * (N + 1) * K);
    if (r) {
        bool t = Trans != CblasNoTrans;
        r->order = Order, r->uplo = Uplo, r->t1 = Trans, r->n = N, r->kk = K, r->alpha = alpha, r->beta = beta;
        r->lda = lda, r->ldc = ldc;
        r->snap[0] = snap(A, sizeof(double) * mat_elems(Order, t ? K : N, t ? N : K, lda));
    }
    double t = now();
    r_dsyrk(Order, Uplo, Trans, N, K, alpha, A, lda, beta, C, ldc);
    if (r) r->secs = now() - t;
}

lapack_int LAPACKE_dsyevd(int layout, char jobz, char uplo, lapack_int n, double *a, lapack_int lda, double *w) {
    REAL(r_syevd, "LAPACKE_dsyevd");
    double n3 = (double)n * n * n;
    call_rec *r = rec_begin(C_SYEVD, jobz == 'V' || jobz == 'v' ? (4.0 / 3 + 4.0 / 3 + 2.0) * n3 : 4.0 / 3 * n3);
    if (r) {
        r->order = layout, r->c1 = jobz, r->c3 = uplo, r->n = n, r->lda = lda;
        r->snap[0] = snap(a, sizeof(double) * (size_t)n * lda);
    }
    double t = now();
    lapack_int info = r_syevd(layout, jobz, uplo, n, a, lda, w);
    if (r) r->secs = now() - t;
    return info;
}

lapack_int LAPACKE_dsyevr(int layout, char jobz, char range, char uplo, lapack_int n, double *a, lapack_int lda,
                          double vl, double vu, lapack_int il, lapack_int iu, double abstol, lapack_int *m,
                          double *w, double *z, lapack_int ldz, lapack_int *isuppz) {
    REAL(r_syevr, "LAPACKE_dsyevr");
    int k = range == 'I' || range == 'i' ? iu - il + 1 : n;
    call_rec *r = rec_begin(C_SYEVR, 4.0 / 3 * n * (double)n * n + 2.0 * n * (double)n * k);
    if (r) {
        r->order = layout, r->c1 = jobz, r->c2 = range, r->c3 = uplo, r->n = n, r->lda = lda;
        r->alpha = vl, r->beta = vu, r->anorm = abstol, r->il = il, r->iu = iu, r->ldc = ldz;
        r->snap[0] = snap(a, sizeof(double) * (size_t)n * lda);
    }
    double t = now();
    lapack_int info = r_syevr(layout, jobz, range, uplo, n, a, lda, vl, vu, il, iu, abstol, m, w, z, ldz, isuppz);
    if (r) r->secs = now() - t;
    return info;
}

lapack_int LAPACKE_dgesdd(int layout, char jobz, lapack_int m, lapack_int n, double *a, lapack_int lda, double *s,
                          double *u, lapack_int ldu, double *vt, lapack_int ldvt) {
    REAL(r_gesdd, "LAPACKE_dgesdd");
    double big = m > n ? m : n, sm = m > n ? n : m;
    call_rec *r = rec_begin(C_GESDD, 6.0 * big * sm * sm + 11.0 * sm * sm * sm);
    if (r) {
        r->order = layout, r->c1 = jobz, r->m = m, r->n = n, r->lda = lda, r->ldb = ldu, r->ldc = ldvt;
        r->snap[0] = snap(a, sizeof(double) * mat_elems(layout, m, n, lda));
    }
    double t = now();
    lapack_int info = r_gesdd(layout, jobz, m, n, a, lda, s, u, ldu, vt, ldvt);
    if (r) r->secs = now() - t;
    return info;
}

lapack_int LAPACKE_dpotrf(int layout, char uplo, lapack_int n, double *a, lapack_int lda) {
    REAL(r_potrf, "LAPACKE_dpotrf");
    call_rec *r = rec_begin(C_POTRF, (double)n * n * n / 3.0);
    if (r) {
        r->order = layout, r->c3 = uplo, r->n = n, r->lda = lda;
        r->snap[0] = snap(a, sizeof(double) * (size_t)n * lda);
    }
    double t = now();
    lapack_int info = r_potrf(layout, uplo, n, a, lda);
    if (r) r->secs = now() - t;
    return info;
}

lapack_int LAPACKE_dpotrs(int layout, char uplo, lapack_int n, lapack_int nrhs, const double *a, lapack_int lda,
                          double *b, lapack_int ldb) {
    REAL(r_potrs, "LAPACKE_dpotrs");
    call_rec *r = rec_begin(C_POTRS, 2.0 * n * (double)n * nrhs);
    if (r) {
        r->order = layout, r->c3 = uplo, r->n = n, r->nrhs = nrhs, r->lda = lda, r->ldb = ldb;
        r->snap[0] = snap(a, sizeof(double) * (size_t)n * lda);
        r->snap[1] = snap(b, sizeof(double) * mat_elems(layout, n, nrhs, ldb));
    }
    double t = now();
    lapack_int info = r_potrs(layout, uplo, n, nrhs, a, lda, b, ldb);
    if (r) r->secs = now() - t;
    return info;
}

lapack_int LAPACKE_dpocon(int layout, char uplo, lapack_int n, const double *a, lapack_int lda, double anorm,
                          double *rcond) {
    REAL(r_pocon, "LAPACKE_dpocon");
    call_rec *r = rec_begin(C_POCON, 4.0 * n * (double)n);
    if (r) {
        r->order = layout, r->c3 = uplo, r->n = n, r->lda = lda, r->anorm = anorm;
        r->snap[0] = snap(a, sizeof(double) * (size_t)n * lda);
    }
    double t = now();
    lapack_int info = r_pocon(layout, uplo, n, a, lda, anorm, rcond);
    if (r) r->secs = now() - t;
    return info;
}

double LAPACKE_dlansy(int layout, char norm, char uplo, lapack_int n, const double *a, lapack_int lda) {
    REAL(r_lansy, "LAPACKE_dlansy");
    call_rec *r = rec_begin(C_LANSY, (double)n * n);
    if (r) {
        r->order = layout, r->c4 = norm, r->c3 = uplo, r->n = n, r->lda = lda;
        r->snap[0] = snap(a, sizeof(double) * (size_t)n * lda);
    }
    double t = now();
    double v = r_lansy(layout, norm, uplo, n, a, lda);
    if (r) r->secs = now() - t;
    return v;
}

/* ------------------------------------------------------------------ replay ---- */

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "bench_bridge: out of memory\n");
        exit(1);
    }
    return p;
}

static void *copy_of(const void *p, size_t bytes) { return memcpy(xmalloc(bytes), p, bytes); }

/* Runs one recorded call alone on copies of its inputs; returns the seconds inside it. */
static double replay(const call_rec *r) {
    double t = 0.0, dt = 0.0;
    switch (r->k) {
    case C_SGEMM: {
        float *C = xmalloc(sizeof(float) * mat_elems(r->order, r->m, r->n, r->ldc));
        t = now();
        r_sgemm(r->order, r->t1, r->t2, r->m, r->n, r->kk, (float)r->alpha, r->snap[0], r->lda, r->snap[1], r->ldb,
                0.0f, C, r->ldc);
        dt = now() - t;
        free(C);
        break;
    }
    case C_DGEMM: {
        double *C = xmalloc(sizeof(double) * mat_elems(r->order, r->m, r->n, r->ldc));
        t = now();
        r_dgemm(r->order, r->t1, r->t2, r->m, r->n, r->kk, r->alpha, r->snap[0], r->lda, r->snap[1], r->ldb, 0.0, C,
                r->ldc);
        dt = now() - t;
        free(C);
        break;
    }
    case C_DSYRK: {
        double *C = xmalloc(sizeof(double) * (size_t)r->n * r->ldc);
        t = now();
        r_dsyrk(r->order, r->uplo, r->t1, r->n, r->kk, r->alpha, r->snap[0], r->lda, 0.0, C, r->ldc);
        dt = now() - t;
        free(C);
        break;
    }
    case C_SYEVD: {
        double *A = copy_of(r->snap[0], sizeof(double) * (size_t)r->n * r->lda), *w = xmalloc(sizeof(double) * r->n);
        t = now();
        r_syevd(r->order, r->c1, r->c3, r->n, A, r->lda, w);
        dt = now() - t;
        free(A), free(w);
        break;
    }
    case C_SYEVR: {
        double *A = copy_of(r->snap[0], sizeof(double) * (size_t)r->n * r->lda), *w = xmalloc(sizeof(double) * r->n);
        double *Z = xmalloc(sizeof(double) * (size_t)r->n * (r->ldc > r->n ? r->ldc : r->n));
        lapack_int *isuppz = xmalloc(sizeof(lapack_int) * 2 * (size_t)r->n), found = 0;
        t = now();
        r_syevr(r->order, r->c1, r->c2, r->c3, r->n, A, r->lda, r->alpha, r->beta, r->il, r->iu, r->anorm, &found, w,
                Z, r->ldc, isuppz);
        dt = now() - t;
        free(A), free(w), free(Z), free(isuppz);
        break;
    }
    case C_GESDD: {
        int mn = r->m < r->n ? r->m : r->n;
        double *A = copy_of(r->snap[0], sizeof(double) * mat_elems(r->order, r->m, r->n, r->lda));
        double *s = xmalloc(sizeof(double) * mn), *U = xmalloc(sizeof(double) * (size_t)r->m * r->ldb);
        double *Vt = xmalloc(sizeof(double) * (size_t)(mn > r->ldc ? mn : r->ldc) * (r->n > mn ? r->n : mn));
        t = now();
        r_gesdd(r->order, r->c1, r->m, r->n, A, r->lda, s, U, r->ldb, Vt, r->ldc);
        dt = now() - t;
        free(A), free(s), free(U), free(Vt);
        break;
    }
    case C_POTRF: {
        double *A = copy_of(r->snap[0], sizeof(double) * (size_t)r->n * r->lda);
        t = now();
        r_potrf(r->order, r->c3, r->n, A, r->lda);
        dt = now() - t;
        free(A);
        break;
    }
    case C_POTRS: {
        double *B = copy_of(r->snap[1], sizeof(double) * mat_elems(r->order, r->n, r->nrhs, r->ldb));
        t = now();
        r_potrs(r->order, r->c3, r->n, r->nrhs, r->snap[0], r->lda, B, r->ldb);
        dt = now() - t;
        free(B);
        break;
    }
    case C_POCON: {
        double rc;
        t = now();
        r_pocon(r->order, r->c3, r->n, r->snap[0], r->lda, r->anorm, &rc);
        dt = now() - t;
        break;
    }
    case C_LANSY:
        t = now();
        (void)r_lansy(r->order, r->c4, r->c3, r->n, r->snap[0], r->lda);
        dt = now() - t;
        break;
    case C_KINDS: break;
    }
    return dt;
}

/* -------------------------------------------------------------------- data ---- */

static uint64_t g_state;

static double gauss(void) {
    uint64_t a = (g_state += 0x9E3779B97F4A7C15ULL), b = (g_state += 0x9E3779B97F4A7C15ULL);
    a = (a ^ (a >> 30)) * 0xBF58476D1CE4E5B9ULL, a = (a ^ (a >> 27)) * 0x94D049BB133111EBULL, a ^= a >> 31;
    b = (b ^ (b >> 30)) * 0xBF58476D1CE4E5B9ULL, b = (b ^ (b >> 27)) * 0x94D049BB133111EBULL, b ^= b >> 31;
    double u = ((a >> 11) + 1) * 0x1.0p-53, v = (b >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static float *randn(size_t count, double scale) {
    float *p = xmalloc(sizeof(float) * count);
    for (size_t i = 0; i < count; i++) p[i] = (float)(scale * gauss());
    return p;
}

/* Side = Z M + noise: every row a view of the shared latent Z (n x L). */
static float *make_side(const float *Z, int n, int L, int d) {
    float *M = randn((size_t)L * d, 1.0 / sqrt((double)L)), *S = randn((size_t)n * d, 0.5);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, L, 1.0f, Z, L, M, d, 1.0f, S, d);
    free(M);
    return S;
}

/* --------------------------------------------------------------- measuring ---- */

/* Best of reps timings of a square gemm; GFLOP/s. */
static double gemm_rate(bool dbl, int n, int reps) {
    size_t e = (size_t)n * n, sz = dbl ? sizeof(double) : sizeof(float);
    void *A = xmalloc(e * sz), *B = xmalloc(e * sz), *C = xmalloc(e * sz);
    for (size_t i = 0; i < e; i++) {
        if (dbl) ((double *)A)[i] = gauss(), ((double *)B)[i] = gauss();
        else ((float *)A)[i] = (float)gauss(), ((float *)B)[i] = (float)gauss();
    }
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = now();
        if (dbl) cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, A, n, B, n, 0.0, C, n);
        else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
        t = now() - t;
        if (t < best) best = t;
    }
    free(A), free(B), free(C);
    return 2.0 * n * (double)n * n / best / 1e9;
}

typedef struct {
    double fit_s, blas_s, flops;
    int calls;
    double kind_flops[C_KINDS], kind_s[C_KINDS];
    int kind_calls[C_KINDS];
} fit_stats;

static void summarize(fit_stats *st) {
    memset(st->kind_flops, 0, sizeof st->kind_flops);
    memset(st->kind_s, 0, sizeof st->kind_s);
    memset(st->kind_calls, 0, sizeof st->kind_calls);
    st->blas_s = st->flops = 0.0;
    st->calls = g_rec.n;
    for (int i = 0; i < g_rec.n; i++) {
        const call_rec *r = &g_rec.v[i];
        st->blas_s += r->secs;
        st->flops += r->flops;
        st->kind_flops[r->k] += r->flops;
        st->kind_s[r->k] += r->secs;
        st->kind_calls[r->k]++;
    }
}

static lw_bridge *timed_fit(const float *X, const float *Y, int n, int dA, int dB, lw_bridge_recipe rec, bool snapshot,
                            fit_stats *st) {
    lw_bridge_params p = lw_bridge_default_params();
    p.recipe = rec;
    rec_clear();
    g_rec.on = true;
    g_rec.snapshot = snapshot;
    double t = now();
    lw_bridge *b = lw_bridge_fit(X, Y, n, dA, dB, &p);
    st->fit_s = now() - t;
    g_rec.on = false;
    if (!b) {
        fprintf(stderr, "bench_bridge: fit %s failed: %s\n", lw_bridge_recipe_name(rec), lw_last_error());
        exit(1);
    }
    summarize(st);
    return b;
}

/* The shape of a recorded call, for the replay listing. */
static void describe(const call_rec *c, char *buf, size_t cap) {
    switch (c->k) {
    case C_SGEMM:
    case C_DGEMM: snprintf(buf, cap, "%dx%dx%d (m n k)", c->m, c->n, c->kk); break;
    case C_DSYRK: snprintf(buf, cap, "n=%d k=%d", c->n, c->kk); break;
    case C_SYEVR: snprintf(buf, cap, "n=%d top %d", c->n, c->iu - c->il + 1); break;
    case C_GESDD: snprintf(buf, cap, "%dx%d", c->m, c->n); break;
    case C_POTRS: snprintf(buf, cap, "n=%d nrhs=%d", c->n, c->nrhs); break;
    default: snprintf(buf, cap, "n=%d", c->n); break;
    }
}

static void usage(void) {
    fprintf(stderr, "usage: bench_bridge [--n N] [--da D] [--db D] [--seed S] [--recipes a,b,...] [--reps R]\n"
                    "                    [--no-replay]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int n = 3000, dA = 4096, dB = 4096;
    uint64_t seed = 1;
    bool replay_ridge = true;
    int reps = 2;
    const char *recipes = "ridge,pca-ridge,pca2-ridge,procrustes,cca,relrep";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc) n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--da") && i + 1 < argc) dA = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--db") && i + 1 < argc) dB = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--recipes") && i + 1 < argc) recipes = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-replay")) replay_ridge = false;
        else usage();
    }
    if (n < 2 || dA < 1 || dB < 1 || reps < 1 || reps > 16) usage();
    g_state = seed;

    printf("bench_bridge: N = %d calibration rows, %d -> %d, seed %llu, OpenBLAS %d threads\n", n, dA, dB,
           (unsigned long long)seed, openblas_get_num_threads());
    double sg = gemm_rate(false, 2048, 3), dg = gemm_rate(true, 2048, 3);
    printf("machine: sgemm 2048^3 %.1f GFLOP/s, dgemm 2048^3 %.1f GFLOP/s (best of 3)\n\n", sg, dg);

    int L = 512;
    float *Z = randn((size_t)n * L, 1.0), *X = make_side(Z, n, L, dA), *Y = make_side(Z, n, L, dB);
    free(Z);

    printf("%-11s %7s %8s %6s %8s %8s %9s %6s\n", "recipe", "fit s", "calls s", "share", "GFLOP", "GFLOP/s",
           "in-calls", "calls");
    fit_stats all[6];
    bool ran[6] = {false};
    char list[256];
    snprintf(list, sizeof list, "%s", recipes);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int r = lw_bridge_recipe_from_name(tok);
        if (r < 0) {
            fprintf(stderr, "bench_bridge: unknown recipe \"%s\"\n", tok);
            return 2;
        }
        fit_stats *st = &all[r];
        lw_bridge_free(timed_fit(X, Y, n, dA, dB, (lw_bridge_recipe)r, false, st));
        ran[r] = true;
        printf("%-11s %7.2f %8.2f %5.0f%% %8.1f %8.1f %9.1f %6d\n", tok, st->fit_s, st->blas_s,
               100.0 * st->blas_s / st->fit_s, st->flops / 1e9, st->flops / st->fit_s / 1e9,
               st->blas_s > 0 ? st->flops / st->blas_s / 1e9 : 0.0, st->calls);
        fflush(stdout);
    }

    printf("(calls s: time inside BLAS/LAPACK; GFLOP: nominal count of those calls; GFLOP/s: GFLOP / fit s;\n"
           " in-calls: GFLOP / calls s)\n");
    printf("\nper routine: name x calls GFLOP/seconds/GFLOP/s\n");
    for (int r = 0; r < 6; r++) {
        if (!ran[r]) continue;
        printf("  %-11s", lw_bridge_recipe_name((lw_bridge_recipe)r));
        for (int k = 0; k < C_KINDS; k++)
            if (all[r].kind_calls[k])
                printf(" %s x%d %.1f/%.2fs/%.0f", k_kind[k], all[r].kind_calls[k], all[r].kind_flops[k] / 1e9,
                       all[r].kind_s[k], all[r].kind_s[k] > 0 ? all[r].kind_flops[k] / all[r].kind_s[k] / 1e9 : 0.0);
        printf("\n");
    }

    if (replay_ridge && ran[LW_BRIDGE_RIDGE]) {
        /* One fit with the inputs of every call snapshotted (not timed: the copies cost),
         * then reps x (a timed fit, each recorded call alone); the ratio is taken per rep,
         * so drift of a shared machine between the two halves stays small. */
        fit_stats st;
        lw_bridge_free(timed_fit(X, Y, n, dA, dB, LW_BRIDGE_RIDGE, true, &st));
        call_rec *calls = g_rec.v;
        int n_calls = g_rec.n;
        g_rec.v = NULL, g_rec.n = g_rec.cap = 0;
        double *alone_s = xmalloc(sizeof(double) * (size_t)n_calls), ratio[16];
        printf("\nridge: fit vs its %d BLAS/LAPACK calls replayed alone on the same inputs:\n", n_calls);
        for (int rep = 0; rep < reps; rep++) {
            lw_bridge_free(timed_fit(X, Y, n, dA, dB, LW_BRIDGE_RIDGE, false, &st));
            if (g_rec.n != n_calls) {
                fprintf(stderr, "bench_bridge: ridge made %d calls, then %d\n", n_calls, g_rec.n);
                return 1;
            }
            double alone = 0.0;
            for (int i = 0; i < n_calls; i++) alone += alone_s[i] = replay(&calls[i]);
            ratio[rep] = st.fit_s / alone;
            printf("  rep %d: fit %.2f s (%.2f s inside the calls), the calls alone %.2f s: %.2fx\n", rep + 1,
                   st.fit_s, st.blas_s, alone, ratio[rep]);
            fflush(stdout);
        }
        printf("  last rep, per call:\n");
        for (int i = 0; i < n_calls; i++) {
            const call_rec *c = &calls[i];
            char shape[64];
            describe(c, shape, sizeof shape);
            printf("    %-7s %-24s %7.1f GFLOP  in fit %6.2f s  alone %6.2f s  %6.1f GFLOP/s\n", k_kind[c->k], shape,
                   c->flops / 1e9, g_rec.v[i].secs, alone_s[i], alone_s[i] > 0 ? c->flops / alone_s[i] / 1e9 : 0.0);
        }
        for (int i = 1; i < reps; i++) /* median of the per-rep ratios */
            for (int j = i; j > 0 && ratio[j] < ratio[j - 1]; j--) {
                double t = ratio[j];
                ratio[j] = ratio[j - 1], ratio[j - 1] = t;
            }
        double med = reps % 2 ? ratio[reps / 2] : 0.5 * (ratio[reps / 2 - 1] + ratio[reps / 2]);
        printf("ridge: fit / its calls alone = %.2fx (median of %d; target <= 2x)\n", med, reps);
        rec_clear();
        for (int i = 0; i < n_calls; i++) free(calls[i].snap[0]), free(calls[i].snap[1]);
        free(calls);
        free(alone_s);
    }
    free(g_rec.v);
    free(X), free(Y);
    return 0;
}
