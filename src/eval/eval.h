/* Internal to src/eval: hooks the tests use (block size of the similarity computation,
 * k-means) and the row-norm check. Randomness comes from common/rng.h (lw_rng). */
#ifndef LW_EVAL_EVAL_H
#define LW_EVAL_EVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/rng.h" /* lw_rng: the project's seeded xoshiro256** (splitmix64 seeding) */
#include "latentwire/retrieval.h"

/* lw_retrieval_score with an explicit number of query rows per sgemm block (<= 0: the
 * automatic choice, lw_retrieval_auto_block_rows). */
int lw_retrieval_score_blocked(const float *Q, const float *C, int32_t nc, int d, const lw_retrieval_task *task,
                               const lw_retrieval_params *p, double *out, int block_rows);

/* Query rows per block that lw_retrieval_score uses for a whole-bank (or dense) task: at most
 * 128 MiB of similarities (rows x nc floats) and of normalized queries, at least 1, at most nq. */
int lw_retrieval_auto_block_rows(int32_t nq, int32_t nc, int d);

/* The seed and iteration bound lw_candidates_clustered gives its k-means (its draws of
 * distractors use `seed` itself). */
#define LW_EVAL_KMEANS_SEED(seed) ((uint64_t)(seed) ^ 0x6b6d65616e73ull)
#define LW_EVAL_KMEANS_MAX_ITER 25 /* as faiss's k-means default (niter = 25) */

/* k-means on the L2-normalized rows of X (n x d): seeded k-means++ initialization (on a
 * uniform sample of max(k, min(64 k, 32768)) rows when n is larger), then at most max_iter
 * Lloyd iterations over every row (stops early when no assignment changes); an emptied
 * cluster restarts at the row farthest from its center. assign[n] gets each row's cluster
 * in [0, k). *iters (may be NULL) gets the iterations run. 0 or -1. */
int lw_eval_kmeans(const float *X, int32_t n, int d, int k, uint64_t seed, int max_iter, int32_t *assign, int *iters);

/* Checks that every row of X (n x d) is finite with non-zero norm and fills inv_norm[n]
 * with 1 / ||row|| (computed in double). `what` names the matrix in the error. 0 or -1. */
int lw_eval_row_inv_norms(const float *X, int64_t n, int d, const char *what, float *inv_norm);

/* Regularized incomplete beta function I_z(a, b) (a, b > 0): interval.c's Clopper-Pearson
 * bounds invert it. */
double lw_beta_inc(double a, double b, double z);
/* The z in (0, 1) with I_z(a, b) = target, by bisection (interval.c). */
double lw_beta_inc_inverse(double a, double b, double target);

/* Clopper-Pearson interval of x successes in n trials, where x and n may be fractional (an
 * effective sample: lw_ci_mean_clustered); lw_ci_binomial is this with integers. 0 or -1. */
int lw_ci_binomial_eff(double x, double n, double level, lw_ci *out);

/* lw_ci_paired's interval and exact McNemar p for 0/1 pairs from the four cell counts (both right,
 * only a, only b, neither), which may be fractional (an effective sample). 0 or -1. */
int lw_ci_paired_counts(double both, double only_a, double only_b, double neither, double level, lw_ci *diff,
                        double *p_value);

/* Difference of two proportions from independent samples (x1 of n1 minus x2 of n2):
 * Newcombe's hybrid score interval (method 10, unpaired); diff->n = min(n1, n2). 0 or -1. */
int lw_ci_diff_independent(int x1, int n1, int x2, int n2, double level, lw_ci *diff);

/* Quantile q of sorted x[0..n), interpolated linearly between order statistics (bootstrap.c). */
double lw_eval_quantile_sorted(const double *x, int n, double q);

/* Every value a bootstrap sums is at most this in magnitude (the verdict's and the report's bound). */
#define LW_EVAL_MAX_VALUE 1e100
/* The shared argument checks of the bootstraps (fn names the caller in the message): a level
 * in (0, 1) with enough resamples for both tails; values finite and within LW_EVAL_MAX_VALUE. */
int lw_eval_check_resampling(const char *fn, int n_resamples, double level);
int lw_eval_check_values(const char *fn, const char *vname, const double *v, int n);

/* BCa (Efron 1987) for a statistic other than a plain mean, whose resamples are not cheap to
 * correct in closed form. lw_eval_jackknife_accel: the acceleration a from the n leave-one-out
 * estimates jack[] (a = sum(d^3) / (6 sum(d^2)^1.5), d = mean(jack) - jack[i]; 0 when they do
 * not vary). lw_eval_bca_bounds: the interval's ends at `level` from the sorted resampled
 * estimates, the full-sample estimate (z0 from the share of resamples below it, ties half) and
 * a, its nominal quantile expanded over `units` (below) (bootstrap.c). */
double lw_eval_jackknife_accel(const double *jack, int n);
void lw_eval_bca_bounds(const double *sorted, int n_resamples, double estimate, double accel, double level,
                        int units, double *lo, double *hi);
/* Every BCa end and p here takes its nominal quantiles from Hesterberg's expanded levels over
 * `units` resampled units (items, or clusters): the quantile for the one-sided level q is
 * sqrt(n / (n - 1)) t_{n-1}^-1(q) instead of the normal one, which undercovers at few units;
 * lw_eval_expanded_cdf is its inverse. Fewer than 2 units: the normal quantile (bootstrap.c). */
double lw_eval_expanded_quantile(double q, int units);
double lw_eval_expanded_cdf(double z, int units);
/* Student's t quantile t_df^-1(q), df > 0, q in (0, 1) (the incomplete beta's inverse). */
double lw_eval_t_quantile(double q, double df);
/* The acceleration of a mean of v[0..n): the jackknife in closed form (leaving v[i] out moves the
 * mean by (mean - v[i]) / (n - 1)), a = sum(d^3) / (6 sum(d^2)^1.5) with d = v - mean; 0 when v
 * does not vary (bootstrap.c). */
double lw_eval_mean_accel(const double *v, int n);
/* The acceleration of a ratio mean over k clusters (sums sum[c] of sizes size[c], resampled
 * whole): the leave-one-cluster-out jackknife of sum / size; 0 with one cluster (clustered.c). */
double lw_eval_cluster_mean_accel(const double *sum, const double *size, int k);
/* The resamples the intervals draw, for a caller that needs them (the verdict's inverted p), sorted
 * into means[n_resamples]: n items drawn with replacement from lw_rng seeded with seed
 * (bootstrap.c); and whole clusters, their ratio means, with the clusters' acceleration into
 * *accel (0, or -1 when out of memory; clustered.c). The same draws as lw_ci_mean /
 * lw_ci_mean_clustered / the paired versions with that seed. */
void lw_eval_resample_means(const double *v, int n, int n_resamples, uint64_t seed, double *means);
int lw_eval_cluster_resample_means(const double *v, const int *cluster, int n, int n_resamples, uint64_t seed,
                                   double *theta, double *accel, int *n_clusters);
/* The one-sided p-value that inverts the BCa interval lw_eval_bca_bounds draws from the same
 * sorted resamples, estimate and acceleration: of the claim theta > threshold (greater) or
 * theta < threshold. p <= alpha exactly when the one-sided (1 - alpha) BCa end lies on the
 * claim's side of the threshold, up to the resampling grid (the share of resamples on the null's
 * side of the threshold, those equal to it included, stands in for the interpolated quantile).
 * Unfloored: the caller adds what no finite sample can beat (bootstrap.c). */
double lw_eval_bca_p(const double *sorted, int n_resamples, double estimate, double accel, double threshold,
                     int units, bool greater);
/* The two-sided p of a paired difference against 0 that inverts its BCa interval (twice the
 * smaller of lw_eval_bca_p's two one-sided p-values at 0: p <= 1 - level exactly when the level
 * interval excludes 0, up to the resampling grid), never below 2 / (n_resamples + 1) (verdict's
 * 1 / (1 + B), two-sided) nor 2^(1 - differ), `differ` the items or clusters whose difference
 * is not 0 of the `units` resampled (an exact sign-flip test's smallest two-sided p: units
 * without a difference flip nothing); 1 when none differs, at most 1 (bootstrap.c). Replaced, on 2026-12-05, twice the
 * smaller share of resampled means at or beyond 0, which could disagree with the interval. */
double lw_eval_bca_p_two_sided(const double *sorted, int n_resamples, double estimate, double accel, int units,
                               int differ);
/* Stretches ci to reach 0 where the two-sided p beside it is above 1 - level (its floor binds at few
 * units), so that the interval never excludes 0 beside a p that cannot reject. */
void lw_eval_reach_zero(lw_ci *ci, double p, double level);

/* BCa interval of the ratio of sums sum(num) / sum(den) over n units (units resampled whole,
 * lw_rng seeded with seed; the acceleration from the leave-one-unit-out ratios, 0 when one of
 * them has no positive denominator). A resample whose denominators sum to 0 or less has no
 * ratio; when more of them than one tail holds ((1 - level) / 2 of the resamples) have none,
 * an end is unbounded and both ends are left NaN rather than computed on the resamples that
 * happen to be defined. -1 (no message: NaN ends) also when n < 2, sum(den) <= 0 or memory
 * runs out; else 0 (bootstrap.c). */
int lw_eval_ratio_bca(const double *num, const double *den, int n, int n_resamples, double level, uint64_t seed,
                      double *lo, double *hi);

/* The divisor of n that the clustered 0/1 intervals at two-sided `level` use (lw_ci_mean_clustered
 * with b NULL, lw_ci_paired_clustered's for a - b), in two parts: the level-free design (Kish's
 * design effect over the clusters, their count k and the top sum m^2 / sum m), computed once
 * (lw_eval_clustered_design: a and b must hold 0/1 values; cluster ids are any ints), and the
 * divisor at a level, that deff over Korn and Graubard's degrees-of-freedom factor at it, at most
 * the top (lw_eval_design_divisor: it grows with the level; clustered.c). */
typedef struct {
    double deff, top;
    int n, k;
} lw_eval_cluster_design;
int lw_eval_clustered_design(const double *a, const double *b, const int *cluster, int n,
                             lw_eval_cluster_design *design);
double lw_eval_design_divisor(const lw_eval_cluster_design *design, double level);

/* Standard normal quantile for q in (0, 1), to double precision (bootstrap.c). */
double lw_norm_quantile(double q);

#endif
