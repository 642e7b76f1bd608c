/* Benchmark: retrieval scoring against a large bank, beside this machine's sgemm rate.
 *
 *   bench_retrieval [--nc 100000] [--d 1024] [--nq 1000] [--reps 3] [--distractors 100]
 *                   [--block ROWS]   query rows per sgemm block (default: the library's choice)
 *                   [--clusters 100] k of the clustered regime (0: skip it)
 *
 * Seeded random data: the bank C is uniform in [-1, 1)^d; query i is candidate gold[i] plus
 * uniform noise 8 times its size (cosine to the target about 0.12, against a spread of about
 * 0.03 over 100,000 others), so the ranking has something to find (the metrics are
 * printed as a sanity check). The similarity work is 2 * nq * nc * d FLOPs; the achieved
 * rate is that over the whole lw_retrieval_score call (norm checks, sgemm blocks, ranking,
 * metrics), compared with (a) one large square cblas_sgemm (the machine's rate) and (b) the
 * bare sgemm calls of the same product in the same blocks, timed alternately with the
 * retrieval so each repetition's ratio sees the same load. Also timed: the sparse candidate
 * path (target + D random distractors per query, gathered rows), and building the clustered
 * regime (k-means on the whole bank, then D distractors from the target's cluster). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval/eval.h"
#include "latentwire/error.h"
#include "latentwire/retrieval.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fill_uniform(float *x, size_t n, lw_rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(lw_rng_uniform(r) * 2.0 - 1.0);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Best GFLOP/s of `reps` calls of an m x n x k sgemm (after one warm-up call). */
static double sgemm_rate(int m, int n, int k, int reps, lw_rng *r) {
    float *A = malloc(sizeof(float) * (size_t)m * k), *B = malloc(sizeof(float) * (size_t)n * k);
    float *Cm = malloc(sizeof(float) * (size_t)m * n);
    if (!A || !B || !Cm) {
        fprintf(stderr, "out of memory for the sgemm reference\n");
        exit(1);
    }
    fill_uniform(A, (size_t)m * k, r);
    fill_uniform(B, (size_t)n * k, r);
    double best = 1e30;
    for (int i = 0; i <= reps; i++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, A, k, B, k, 0.0f, Cm, n);
        double dt = now() - t0;
        if (i > 0 && dt < best) best = dt;
    }
    free(A);
    free(B);
    free(Cm);
    return 2.0 * m * n * (double)k / best * 1e-9;
}

int main(int argc, char **argv) {
    int nc = 100000, d = 1024, nq = 1000, reps = 3, D = 100, block = 0, clusters = 100;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--nc")) nc = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--d")) d = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--nq")) nq = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--reps")) reps = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--distractors")) D = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--block")) block = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--clusters")) clusters = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--nc N] [--d D] [--nq Q] [--reps R] [--distractors D] [--block ROWS] "
                    "[--clusters K]\n",
                    argv[0]);
            return 2;
        }
    }
    if (nc < 2 || d < 1 || nq < 1 || reps < 1 || D < 0 || D >= nc) {
        fprintf(stderr, "bad sizes\n");
        return 2;
    }
    printf("bench_retrieval: bank %d x %d, %d queries, OpenBLAS %d threads (%s, core %s)\n", nc, d, nq,
           openblas_get_num_threads(), openblas_get_config(), openblas_get_corename());

    lw_rng r;
    lw_rng_seed(&r, 20240601);
    double t0 = now();
    float *C = malloc(sizeof(float) * (size_t)nc * d), *Q = malloc(sizeof(float) * (size_t)nq * d);
    int32_t *gold = malloc(sizeof(int32_t) * nq);
    int64_t *rel_off = malloc(sizeof(int64_t) * (nq + 1));
    double *out = malloc(sizeof(double) * (size_t)nq * 6);
    if (!C || !Q || !gold || !rel_off || !out) {
        fprintf(stderr, "out of memory for the bank\n");
        return 1;
    }
    fill_uniform(C, (size_t)nc * d, &r);
    for (int q = 0; q < nq; q++) {
        gold[q] = (int32_t)lw_rng_below(&r, (uint64_t)nc);
        rel_off[q] = q;
        for (int j = 0; j < d; j++)
            Q[(size_t)q * d + j] = C[(size_t)gold[q] * d + j] + (float)(lw_rng_uniform(&r) * 16.0 - 8.0);
    }
    rel_off[nq] = nq;
    printf("data: %.2f s to generate (%.0f MiB bank)\n", now() - t0, (double)nc * d * 4 / (1 << 20));

    /* Machine reference: one large square sgemm (best of 4 calls). */
    double peak = sgemm_rate(4096, 4096, 4096, 4, &r);
    int bq = block > 0 ? (block < nq ? block : nq) : lw_retrieval_auto_block_rows(nq, nc, d);
    printf("sgemm reference: 4096 x 4096 x 4096: %.1f GFLOP/s (best of 4)\n", peak);

    /* Whole-bank retrieval, alternating with the bare sgemm work it contains (the same
     * nq x nc x d product in blocks of bq query rows, nothing else), so that each repetition's
     * ratio compares the two under the same machine load. */
    lw_retrieval_task task = {.n_queries = nq, .rel_off = rel_off, .rel_ids = gold};
    double *t_ret = malloc(sizeof(double) * reps), *t_gemm = malloc(sizeof(double) * reps);
    double *ratio = malloc(sizeof(double) * reps);
    float *S = malloc(sizeof(float) * (size_t)bq * nc);
    if (!t_ret || !t_gemm || !ratio || !S) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (int i = 0; i < reps; i++) {
        double t1 = now();
        for (int q0 = 0; q0 < nq; q0 += bq) {
            int m = nq - q0 < bq ? nq - q0 : bq;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, nc, d, 1.0f, Q + (size_t)q0 * d, d, C, d, 0.0f, S,
                        nc);
        }
        t_gemm[i] = now() - t1;
        t1 = now();
        if (lw_retrieval_score_blocked(Q, C, nc, d, &task, NULL, out, block)) {
            fprintf(stderr, "lw_retrieval_score: %s\n", lw_last_error());
            return 1;
        }
        t_ret[i] = now() - t1;
        ratio[i] = t_gemm[i] / t_ret[i];
    }
    free(S);
    double flops = 2.0 * nq * (double)nc * d;
    qsort(t_ret, (size_t)reps, sizeof(double), cmp_double);
    qsort(t_gemm, (size_t)reps, sizeof(double), cmp_double);
    qsort(ratio, (size_t)reps, sizeof(double), cmp_double);
    double best = t_ret[0], med = t_ret[reps / 2];
    printf("bare blocked sgemm (%d x %d x %d blocks): best %.3f s = %.1f GFLOP/s\n", bq, nc, d, t_gemm[0],
           flops / t_gemm[0] * 1e-9);
    printf("lw_retrieval_score, whole bank: best %.3f s, median %.3f s of %d = %.1f GFLOP/s (best), %.1f (median)\n",
           best, med, reps, flops / best * 1e-9, flops / med * 1e-9);
    printf("ratio: %.2f of the square sgemm rate (best); %.2f of the bare blocked sgemm (median of per-repetition "
           "ratios, range %.2f-%.2f)\n",
           flops / best * 1e-9 / peak, ratio[reps / 2], ratio[0], ratio[reps - 1]);
    double mean[6] = {0};
    for (int q = 0; q < nq; q++)
        for (int c = 0; c < 6; c++) mean[c] += out[(size_t)q * 6 + c] / nq;
    printf("metrics (sanity): top1 %.3f recall@5 %.3f recall@10 %.3f mrr@10 %.3f ndcg@10 %.3f\n", mean[0], mean[2],
           mean[3], mean[4], mean[5]);

    /* Sparse candidate lists: target + D random distractors. */
    int64_t *off;
    int32_t *ids;
    if (lw_candidates_random(nq, gold, nc, D, 7, &off, &ids)) {
        fprintf(stderr, "lw_candidates_random: %s\n", lw_last_error());
        return 1;
    }
    task.cand_off = off;
    task.cand_ids = ids;
    double t2 = now();
    if (lw_retrieval_score(Q, C, nc, d, &task, NULL, out)) {
        fprintf(stderr, "lw_retrieval_score: %s\n", lw_last_error());
        return 1;
    }
    double dt = now() - t2;
    double top1 = 0;
    for (int q = 0; q < nq; q++) top1 += out[(size_t)q * 6] / nq;
    printf("candidate lists (target + %d random distractors): %.3f s (%.1f us per query), top1 %.3f\n", D, dt,
           dt / nq * 1e6, top1);
    free(off);
    free(ids);

    if (clusters > 0) {
        double t3 = now();
        if (lw_candidates_clustered(nq, gold, C, nc, d, clusters, D, 7, &off, &ids)) {
            fprintf(stderr, "lw_candidates_clustered: %s\n", lw_last_error());
            return 1;
        }
        double tk = now() - t3;
        task.cand_off = off;
        task.cand_ids = ids;
        t3 = now();
        if (lw_retrieval_score(Q, C, nc, d, &task, NULL, out)) {
            fprintf(stderr, "lw_retrieval_score: %s\n", lw_last_error());
            return 1;
        }
        double ts = now() - t3;
        top1 = 0;
        for (int q = 0; q < nq; q++) top1 += out[(size_t)q * 6] / nq;
        printf("clustered regime (k-means, k = %d, on the %d x %d bank; <= %d distractors from the target's cluster): "
               "%.2f s to build, %.3f s to score, %.1f candidates per query, top1 %.3f\n",
               clusters, nc, d, D, tk, ts, (double)off[nq] / nq, top1);
        free(off);
        free(ids);
    }
    free(t_ret);
    free(t_gemm);
    free(ratio);
    free(C);
    free(Q);
    free(gold);
    free(rel_off);
    free(out);
    return 0;
}
