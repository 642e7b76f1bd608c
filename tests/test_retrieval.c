/* Retrieval metrics, the pessimistic tie rule, sgemm scoring against a naive reference, and
 * the candidate regimes. Expected numbers in the hand-computed cases are written out with
 * their arithmetic; metric columns with default params are
 * [top1, recall@1, recall@5, recall@10, mrr@10, ndcg@10]. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "latentwire/retrieval.h"
#include "support/testutil.h"

#define EPS 1e-12

enum { TOP1, R1, R5, R10, MRR, NDCG, NCOL };

static void expect_row(const double *got, const double *want, int n, const char *what) {
    for (int c = 0; c < n; c++) {
        if (fabs(got[c] - want[c]) > 1e-9) {
            fprintf(stderr, "%s: column %d: got %.12f, want %.12f\n", what, c, got[c], want[c]);
            fail();
        }
    }
}

/* The graded cases in this file were worked out with the exponential gain 2^rel - 1 (as is
 * naive_metrics), so they ask for it; test_ndcg.c checks the linear default (trec_eval's). */
static const lw_retrieval_params *exp_gain(void) {
    static lw_retrieval_params p;
    p = lw_retrieval_default_params();
    p.ndcg_gain = LW_NDCG_GAIN_EXP;
    return &p;
}

static void metrics(const double *scores, const int32_t *ids, int n, const int32_t *rel, const float *grade, int n_rel,
                    double *out) {
    lw_retrieval_metrics_from_scores(scores, ids, n, rel, grade, n_rel, exp_gain(), out);
}

/* ---- hand-computed rankings ---- */

static void test_params_and_names(void **state) {
    (void)state;
    lw_retrieval_params p = lw_retrieval_default_params();
    assert_int_equal(p.n_k, 3);
    assert_int_equal(p.k[0], 1);
    assert_int_equal(p.k[1], 5);
    assert_int_equal(p.k[2], 10);
    assert_int_equal(lw_retrieval_n_metrics(&p), NCOL);
    assert_int_equal(lw_retrieval_n_metrics(NULL), NCOL);
    char buf[32];
    const char *want[NCOL] = {"top1", "recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"};
    for (int c = 0; c < NCOL; c++) assert_string_equal(lw_retrieval_metric_name(&p, c, buf, sizeof buf), want[c]);
    assert_null(lw_retrieval_metric_name(&p, NCOL, buf, sizeof buf));
    assert_null(lw_retrieval_metric_name(&p, -1, buf, sizeof buf));
    p.n_k = 9;
    assert_int_equal(lw_retrieval_n_metrics(&p), -1);
    assert_non_null(strstr(lw_last_error(), "n_k"));
    p.n_k = 2;
    p.k[1] = 0;
    assert_int_equal(lw_retrieval_n_metrics(&p), -1);
    assert_non_null(strstr(lw_last_error(), "k[1]"));
}

static void test_single_relevant(void **state) {
    (void)state;
    /* scores 0.9 .. 0.5 for ids 0..4; id 2 is relevant and ranks 3rd.
     * top1 0, recall@1 0, recall@5 1, recall@10 1, MRR 1/3,
     * NDCG = [(2^1-1)/log2(3+1)] / [(2^1-1)/log2(1+1)] = (1/2) / 1 = 0.5 */
    double s[] = {0.9, 0.8, 0.7, 0.6, 0.5};
    int32_t ids[] = {0, 1, 2, 3, 4}, rel[] = {2};
    double out[NCOL], want[NCOL] = {0, 0, 1, 1, 1.0 / 3, 0.5};
    metrics(s, ids, 5, rel, NULL, 1, out);
    expect_row(out, want, NCOL, "single relevant");
}

static void test_graded_multiple(void **state) {
    (void)state;
    /* ids 10..15 with scores 0.1 0.9 0.5 0.7 0.3 0.8 -> ranking 11, 15, 13, 12, 14, 10.
     * Relevant: 13 (grade 2, rank 3), 11 (grade 1, rank 1), 10 (grade 3, rank 6).
     * top1 = 1 (11 first); recall@1 = 1/3; recall@5 = 2/3 (11, 13); recall@10 = 3/3; MRR = 1.
     * DCG  = (2^1-1)/log2(2) + (2^2-1)/log2(4) + (2^3-1)/log2(7) = 1 + 1.5 + 7/2.80735 = 4.99345
     * IDCG = grades sorted 3,2,1: 7/log2(2) + 3/log2(3) + 1/log2(4) = 7 + 1.89279 + 0.5 = 9.39279
     * NDCG = 4.99345 / 9.39279 = 0.531626 */
    double s[] = {0.1, 0.9, 0.5, 0.7, 0.3, 0.8};
    int32_t ids[] = {10, 11, 12, 13, 14, 15}, rel[] = {13, 11, 10};
    float g[] = {2, 1, 3};
    double out[NCOL];
    double ndcg = (1.0 + 1.5 + 7.0 / log2(7.0)) / (7.0 + 3.0 / log2(3.0) + 0.5);
    assert_true(fabs(ndcg - 0.531625928268338) < EPS);
    double want[NCOL] = {1, 1.0 / 3, 2.0 / 3, 1, 1, ndcg};
    metrics(s, ids, 6, rel, g, 3, out);
    expect_row(out, want, NCOL, "graded multiple");

    /* The candidate order in the input does not matter. */
    double s2[] = {0.8, 0.3, 0.7, 0.5, 0.9, 0.1};
    int32_t ids2[] = {15, 14, 13, 12, 11, 10};
    metrics(s2, ids2, 6, rel, g, 3, out);
    expect_row(out, want, NCOL, "graded multiple, permuted input");
}

static void test_ties_pessimistic(void **state) {
    (void)state;
    double out[NCOL];
    double s4[] = {0.5, 0.5, 0.5, 0.5};
    int32_t ids4[] = {3, 1, 2, 0};

    /* All four tied, relevant {2}: non-relevant first in ascending id (0, 1, 3), then 2:
     * rank 4. MRR 1/4, NDCG = (1/log2(5)) / 1 = 0.430677. (An id-only tie break would give rank 3.) */
    int32_t rel_a[] = {2};
    double want_a[NCOL] = {0, 0, 1, 1, 0.25, 1.0 / log2(5.0)};
    assert_true(fabs(want_a[NDCG] - 0.43067655807339306) < EPS);
    metrics(s4, ids4, 4, rel_a, NULL, 1, out);
    expect_row(out, want_a, NCOL, "all tied, one relevant");

    /* All tied, relevant {1 grade 2, 2 grade 1}: order 0, 3 (non-relevant), 2 (grade 1), 1 (grade 2).
     * ranks: 2 -> 3, 1 -> 4. MRR 1/3.
     * DCG  = (2^1-1)/log2(4) + (2^2-1)/log2(5) = 0.5 + 1.29203 = 1.79203
     * IDCG = (2^2-1)/log2(2) + (2^1-1)/log2(3) = 3 + 0.63093 = 3.63093 -> NDCG 0.493546 */
    int32_t rel_b[] = {1, 2};
    float g_b[] = {2, 1};
    double want_b[NCOL] = {0, 0, 1, 1, 1.0 / 3, (0.5 + 3.0 / log2(5.0)) / (3.0 + 1.0 / log2(3.0))};
    assert_true(fabs(want_b[NDCG] - 0.4935456744811716) < EPS);
    metrics(s4, ids4, 4, rel_b, g_b, 2, out);
    expect_row(out, want_b, NCOL, "all tied, graded relevant");

    /* All tied, relevant {3, 1} with equal grades: order 0, 2, then 1, 3 (ascending id):
     * ranks 3 and 4. DCG = 1/log2(4) + 1/log2(5) = 0.5 + 0.43068; IDCG = 1 + 1/log2(3) = 1.63093
     * -> NDCG 0.570642 */
    int32_t rel_c[] = {3, 1};
    double want_c[NCOL] = {0, 0, 1, 1, 1.0 / 3, (0.5 + 1.0 / log2(5.0)) / (1.0 + 1.0 / log2(3.0))};
    assert_true(fabs(want_c[NDCG] - 0.5706417189553201) < EPS);
    metrics(s4, ids4, 4, rel_c, NULL, 2, out);
    expect_row(out, want_c, NCOL, "all tied, equal grades");

    /* Partial tie: ids 5..8 scores 0.9 0.7 0.7 0.7, relevant {7}: 5 first, then the tied
     * non-relevant 6 and 8, then 7: rank 4 (not 3). */
    double s_d[] = {0.9, 0.7, 0.7, 0.7};
    int32_t ids_d[] = {5, 6, 7, 8}, rel_d[] = {7};
    double want_d[NCOL] = {0, 0, 1, 1, 0.25, 1.0 / log2(5.0)};
    metrics(s_d, ids_d, 4, rel_d, NULL, 1, out);
    expect_row(out, want_d, NCOL, "partial tie");

    /* A tie at the top never counts as a hit: ids 0, 1 both 1.0, relevant {0} -> rank 2.
     * top1 0, recall@1 0, MRR 1/2, NDCG = 1/log2(3) = 0.63093 */
    double s_e[] = {1.0, 1.0};
    int32_t ids_e[] = {0, 1}, rel_e[] = {0};
    double want_e[NCOL] = {0, 0, 1, 1, 0.5, 1.0 / log2(3.0)};
    metrics(s_e, ids_e, 2, rel_e, NULL, 1, out);
    expect_row(out, want_e, NCOL, "tie at the top");

    /* NaN scores rank last (as -inf): ids 0 (NaN, relevant), 1 (-5): rank 2. */
    double s_f[] = {NAN, -5.0};
    metrics(s_f, ids_e, 2, rel_e, NULL, 1, out);
    expect_row(out, want_e, NCOL, "NaN score");
}

static void test_beyond_rank_10(void **state) {
    (void)state;
    /* 15 candidates, id i has score 1 - 0.01 i, so id i ranks i + 1. Cut-offs k = 1, 10, 20. */
    double s[15];
    int32_t ids[15];
    for (int i = 0; i < 15; i++) {
        s[i] = 1.0 - 0.01 * i;
        ids[i] = i;
    }
    lw_retrieval_params p = lw_retrieval_default_params();
    p.k[1] = 10;
    p.k[2] = 20;
    double out[NCOL];

    /* relevant {11}: rank 12 > 10 -> top1 0, recall@1 0, recall@10 0, recall@20 1, MRR@10 0, NDCG@10 0 */
    int32_t rel_a[] = {11};
    double want_a[NCOL] = {0, 0, 0, 1, 0, 0};
    lw_retrieval_metrics_from_scores(s, ids, 15, rel_a, NULL, 1, &p, out);
    expect_row(out, want_a, NCOL, "rank 12");

    /* relevant {1, 11}: ranks 2 and 12 -> recall@10 = 1/2, recall@20 = 1, MRR = 1/2,
     * DCG = 1/log2(3) = 0.63093 (rank 12 contributes nothing), IDCG = 1 + 1/log2(3) = 1.63093
     * -> NDCG 0.386853 */
    int32_t rel_b[] = {1, 11};
    double want_b[NCOL] = {0, 0, 0.5, 1, 0.5, (1.0 / log2(3.0)) / (1.0 + 1.0 / log2(3.0))};
    assert_true(fabs(want_b[NDCG] - 0.38685280723454163) < EPS);
    lw_retrieval_metrics_from_scores(s, ids, 15, rel_b, NULL, 2, &p, out);
    expect_row(out, want_b, NCOL, "ranks 2 and 12");

    /* 11 relevant (ids 0..10, ranks 1..11): the ideal DCG@10 also stops at 10 positions, so
     * NDCG@10 = 1; recall@10 = 10/11. */
    int32_t rel_c[11];
    for (int i = 0; i < 11; i++) rel_c[i] = i;
    double want_c[NCOL] = {1, 1.0 / 11, 10.0 / 11, 1, 1, 1};
    lw_retrieval_metrics_from_scores(s, ids, 15, rel_c, NULL, 11, &p, out);
    expect_row(out, want_c, NCOL, "11 relevant");
}

static void test_relevant_missing_and_empty(void **state) {
    (void)state;
    /* ids 0, 1, 2 (scores .3 .2 .1); relevant {0, 99}: 99 is not among the candidates and
     * counts as never retrieved. recall = 1/2 everywhere; MRR 1;
     * NDCG = 1 / (1 + 1/log2(3)) = 0.613147 */
    double s[] = {0.3, 0.2, 0.1}, out[NCOL];
    int32_t ids[] = {0, 1, 2}, rel[] = {0, 99};
    double want[NCOL] = {1, 0.5, 0.5, 0.5, 1, 1.0 / (1.0 + 1.0 / log2(3.0))};
    assert_true(fabs(want[NDCG] - 0.6131471927654584) < EPS);
    metrics(s, ids, 3, rel, NULL, 2, out);
    expect_row(out, want, NCOL, "relevant missing");
    /* no relevant item: every metric is undefined (NaN), never silently 0 */
    metrics(s, ids, 3, rel, NULL, 0, out);
    for (int c = 0; c < NCOL; c++) assert_true(isnan(out[c]));
    /* a relevant item with grade <= 0 is ignored (here: the only one, so NaN again) */
    float g0[] = {0.0f};
    metrics(s, ids, 3, rel, g0, 1, out);
    assert_true(isnan(out[NDCG]));
    /* a tiny positive grade still has a positive gain: id 0 at rank 1 -> NDCG 1, not 0/0 */
    float tiny[] = {1e-30f};
    metrics(s, ids, 3, rel, tiny, 1, out);
    assert_true(out[NDCG] == 1.0 && out[TOP1] == 1.0);
}

/* ---- lw_retrieval_score on hand-computed geometry ---- */

/* Candidates in 2-D: c0 (1,0), c1 (0,1), c2 (1,1), c3 (-1,0), c4 (3,1).
 * q0 = (2,0): cos = 1, 0, 0.7071, -1, 0.9487 -> ranking c0, c4, c2, c1, c3.
 * q1 = (0,5): cos = 0, 1, 0.7071, 0, 0.3162 -> ranking c1, c2, c4, then c0/c3 tied at 0. */
static const float C5[] = {1, 0, 0, 1, 1, 1, -1, 0, 3, 1};
static const float Q2[] = {2, 0, 0, 5};

static void test_score_hand(void **state) {
    (void)state;
    /* q0: relevant {c2} ranks 3 in the bank -> top1 0, r@1 0, r@5 1, r@10 1, MRR 1/3, NDCG 0.5.
     * q1: relevant {c0 grade 2, c1 grade 1}: c1 rank 1; c0 ties with the non-relevant c3 at 0,
     *     so c3 goes first and c0 ranks 5. top1 1, recall@1 1/2, recall@5 1, MRR 1,
     *     DCG = 1/log2(2) + 3/log2(6) = 2.16056, IDCG = 3 + 1/log2(3) = 3.63093 -> NDCG 0.595043 */
    int64_t rel_off[] = {0, 1, 3};
    int32_t rel_ids[] = {2, 0, 1};
    float grade[] = {1, 2, 1};
    lw_retrieval_task t = {.n_queries = 2, .rel_off = rel_off, .rel_ids = rel_ids, .rel_grade = grade};
    double out[2 * NCOL];
    double want[2 * NCOL] = {0, 0, 1, 1, 1.0 / 3, 0.5, /* q0 */
                             1, 0.5, 1, 1, 1, (1.0 + 3.0 / log2(6.0)) / (3.0 + 1.0 / log2(3.0))};
    assert_true(fabs(want[NCOL + NDCG] - 0.5950427489208391) < EPS);
    assert_int_equal(lw_retrieval_score(Q2, C5, 5, 2, &t, exp_gain(), out), 0);
    expect_row(out, want, 2 * NCOL, "whole bank");

    /* The same with explicit candidate lists equal to the whole bank (shuffled). */
    int64_t cand_off[] = {0, 5, 10};
    int32_t cand_ids[] = {4, 2, 0, 3, 1, 1, 3, 0, 4, 2};
    t.cand_off = cand_off;
    t.cand_ids = cand_ids;
    assert_int_equal(lw_retrieval_score(Q2, C5, 5, 2, &t, exp_gain(), out), 0);
    expect_row(out, want, 2 * NCOL, "lists = whole bank");

    /* Restricted lists: q0 sees {c2, c1, c3} -> c2 ranks 1: every metric 1.
     * q1 sees {c0, c1, c3}: c1 rank 1, c0 rank 3 (after c3, tied) ->
     *     recall@1 1/2, MRR 1, DCG = 1 + 3/log2(4) = 2.5, NDCG = 2.5 / 3.63093 = 0.688528 */
    int64_t off2[] = {0, 3, 6};
    int32_t ids2[] = {2, 1, 3, 0, 1, 3};
    t.cand_off = off2;
    t.cand_ids = ids2;
    double want2[2 * NCOL] = {1, 1, 1, 1, 1, 1, /* q0 */
                              1, 0.5, 1, 1, 1, 2.5 / (3.0 + 1.0 / log2(3.0))};
    assert_int_equal(lw_retrieval_score(Q2, C5, 5, 2, &t, exp_gain(), out), 0);
    expect_row(out, want2, 2 * NCOL, "restricted lists");

    /* A relevant item the bank lacks (LW_RETRIEVAL_NOT_IN_BANK, e.g. a document the model could not
     * encode) is a miss that still counts: q0 relevant {c2, missing grade 1}: c2 ranks 3 ->
     * top1 0, recall@1 0, recall@5 1/2, recall@10 1/2, MRR 1/3, DCG = 1/log2(4) = 0.5,
     * IDCG = 1 + 1/log2(3) -> NDCG 0.5 / 1.63093. q1 relevant only a missing one (grade 2): 0 everywhere. */
    int64_t rel_off3[] = {0, 2, 3};
    int32_t rel_ids3[] = {2, LW_RETRIEVAL_NOT_IN_BANK, LW_RETRIEVAL_NOT_IN_BANK};
    float grade3[] = {1, 1, 2};
    lw_retrieval_task t3 = {.n_queries = 2, .rel_off = rel_off3, .rel_ids = rel_ids3, .rel_grade = grade3};
    double want3[2 * NCOL] = {0, 0, 0.5, 0.5, 1.0 / 3, 0.5 / (1.0 + 1.0 / log2(3.0)), 0, 0, 0, 0, 0, 0};
    assert_int_equal(lw_retrieval_score(Q2, C5, 5, 2, &t3, exp_gain(), out), 0);
    expect_row(out, want3, 2 * NCOL, "relevant items not in the bank");
    /* a grade whose exponential gain overflows (2^1100) is refused, not scored as NaN */
    grade3[0] = 1100;
    assert_int_equal(lw_retrieval_score(Q2, C5, 5, 2, &t3, exp_gain(), out), -1);
    assert_non_null(strstr(lw_last_error(), "is not a finite number (grades must stay below 1024)"));
    grade3[0] = 1024; /* the boundary: expm1 of the rounded 1024 ln 2 is finite, 2^1024 - 1 is not */
    assert_int_equal(lw_retrieval_score(Q2, C5, 5, 2, &t3, exp_gain(), out), -1);
    assert_true(isfinite(lw_ndcg_gain_value(LW_NDCG_GAIN_EXP, 1023.0f)));
    grade3[0] = 1, grade3[1] = 1100; /* also on an item the bank lacks */
    assert_int_equal(lw_retrieval_score(Q2, C5, 5, 2, &t3, exp_gain(), out), -1);
    assert_non_null(strstr(lw_last_error(), "must be > 0 with a finite gain"));
    rel_ids3[1] = -2; /* other negative ids stay errors */
    grade3[1] = 1;
    assert_int_equal(lw_retrieval_score(Q2, C5, 5, 2, &t3, exp_gain(), out), -1);
    assert_non_null(strstr(lw_last_error(), "is outside [0, 5)"));
}

/* --center by hand: the bank {(10,1), (10,-1), (12,0), (8,0)} has mean (10,0), which dominates
 * raw cosine. q0 = (10, 0.2) is c0's (centred: (0, 0.2) against (0, 1)), but raw cosine ranks
 * c2 and c3 (0.99980) above c0 (0.99683); q1 = (10.5, 0) is c2's (centred (0.5, 0) against
 * (2, 0)), but raw it ties with c3 at cosine 1 and the pessimistic rule puts c3 first. */
static void test_score_centered(void **state) {
    (void)state;
    const float Q[] = {10, 0.2f, 10.5f, 0};
    const float C[] = {10, 1, 10, -1, 12, 0, 8, 0};
    int64_t rel_off[] = {0, 1, 2};
    int32_t rel_ids[] = {0, 2};
    lw_retrieval_task t = {.n_queries = 2, .rel_off = rel_off, .rel_ids = rel_ids};
    lw_retrieval_params p = lw_retrieval_default_params();
    double out[2 * NCOL];
    assert_int_equal(lw_retrieval_score(Q, C, 4, 2, &t, &p, out), 0);
    assert_true(out[0] == 0 && out[NCOL] == 0); /* top1, raw */
    assert_true(fabs(out[MRR] - 1.0 / 3) < EPS && fabs(out[NCOL + MRR] - 0.5) < EPS);
    p.center = true;
    assert_int_equal(lw_retrieval_score(Q, C, 4, 2, &t, &p, out), 0);
    assert_true(out[0] == 1 && out[NCOL] == 1); /* top1, centred */
    assert_true(out[NDCG] == 1 && out[NCOL + NDCG] == 1);
    /* a raw zero row centres to -mean: fine; a non-finite bank entry is named as the bank's */
    const float Qz[] = {0, 0, 10.5f, 0};
    assert_int_equal(lw_retrieval_score(Qz, C, 4, 2, &t, &p, out), 0);
    float Cn[8];
    memcpy(Cn, C, sizeof Cn);
    Cn[5] = NAN;
    assert_int_equal(lw_retrieval_score(Q, Cn, 4, 2, &t, &p, out), -1);
    assert_non_null(strstr(lw_last_error(), "C (candidates) row 2 has a non-finite value"));
}

/* Equal bank rows must tie exactly, wherever they sit in the bank: sgemm's float similarity of
 * a column depends on the kernel the column lands in, so without the exact rescoring near a
 * relevant item's score a duplicate of the gold could land a rounding above or below it and
 * the pessimistic rule would hold only by chance (it failed so on an AMD EPYC's OpenBLAS).
 * Every query's gold has a twin elsewhere in the bank: top-1 0, MRR 1/2 for every query, raw
 * and centred, whole-bank, blocked and gathered. */
static void test_score_equal_rows_tie(void **state) {
    (void)state;
    enum { NQ = 40, NC = 203, D = 37 };
    float *Q = malloc(sizeof(float) * NQ * D), *C = malloc(sizeof(float) * NC * D);
    lw_rng r;
    lw_rng_seed(&r, 11);
    for (int i = 0; i < NQ * D; i++) Q[i] = (float)lw_rng_normal(&r);
    for (int i = 0; i < NC * D; i++) C[i] = (float)lw_rng_normal(&r) + 3.0f; /* a shared offset: cosines near 1 */
    int64_t rel_off[NQ + 1], cand_off[NQ + 1];
    int32_t rel_ids[NQ], cand_ids[NQ * 3];
    for (int q = 0; q < NQ; q++) {
        int gold = 5 * q, twin = gold + 1 + q % 4; /* each pair in its own window of 5 rows */
        memcpy(C + (size_t)twin * D, C + (size_t)gold * D, sizeof(float) * D);
        for (int j = 0; j < D; j++) Q[q * D + j] = C[gold * D + j] + 0.5f * Q[q * D + j]; /* gold (and twin) first */
        rel_off[q] = q, rel_ids[q] = gold;
        cand_off[q] = 3 * q, cand_ids[3 * q] = twin, cand_ids[3 * q + 1] = gold, cand_ids[3 * q + 2] = (gold + NC / 2) % NC;
    }
    rel_off[NQ] = NQ, cand_off[NQ] = 3 * NQ;
    lw_retrieval_task whole = {.n_queries = NQ, .rel_off = rel_off, .rel_ids = rel_ids};
    lw_retrieval_task gathered = whole;
    gathered.cand_off = cand_off, gathered.cand_ids = cand_ids;
    double *out = malloc(sizeof(double) * NQ * NCOL);
    for (int centre = 0; centre < 2; centre++)
        for (int v = 0; v < 4; v++) {
            lw_retrieval_params p = lw_retrieval_default_params();
            p.center = centre;
            const int blocks[] = {0, 1, 7, 0};
            assert_int_equal(lw_retrieval_score_blocked(Q, C, NC, D, v == 3 ? &gathered : &whole, &p, out, blocks[v]), 0);
            for (int q = 0; q < NQ; q++) {
                if (out[q * NCOL + TOP1] != 0.0 || out[q * NCOL + MRR] != 0.5)
                    fprintf(stderr, "centre %d variant %d query %d: top1 %g, mrr %g (want 0, 0.5)\n", centre, v, q,
                            out[q * NCOL + TOP1], out[q * NCOL + MRR]);
                assert_true(out[q * NCOL + TOP1] == 0.0 && out[q * NCOL + MRR] == 0.5);
            }
        }
    free(out), free(Q), free(C);
}

/* Rows one float apart are ordered as their exact cosines order them (a long double reference
 * here): a distractor one ulp closer to the query beats the gold, one ulp farther loses to it,
 * where float similarities would often tie or swap them. */
static void test_score_one_ulp_apart(void **state) {
    (void)state;
    enum { NQ = 64, D = 48, NC = 2 * NQ };
    float *Q = malloc(sizeof(float) * NQ * D), *C = malloc(sizeof(float) * NC * D);
    lw_rng r;
    lw_rng_seed(&r, 12);
    int64_t rel_off[NQ + 1];
    int32_t rel_ids[NQ];
    double want[NQ];
    for (int q = 0; q < NQ; q++) {
        float *g = C + (size_t)(2 * q) * D, *o = g + D, *x = Q + (size_t)q * D;
        for (int j = 0; j < D; j++) g[j] = (float)lw_rng_normal(&r) + 4.0f, x[j] = g[j] + 0.1f * (float)lw_rng_normal(&r);
        memcpy(o, g, sizeof(float) * D);
        int j = q % D;
        o[j] = nextafterf(g[j], (q & 1) ? INFINITY : -INFINITY);
        long double cg = 0, co = 0, gg = 0, oo = 0, xx = 0;
        for (int k = 0; k < D; k++)
            cg += (long double)x[k] * g[k], co += (long double)x[k] * o[k], gg += (long double)g[k] * g[k],
                oo += (long double)o[k] * o[k], xx += (long double)x[k] * x[k];
        long double sg = cg / sqrtl(gg * xx), so = co / sqrtl(oo * xx);
        assert_true(sg != so);
        want[q] = sg > so ? 1.0 : 0.0;
        rel_off[q] = q, rel_ids[q] = 2 * q;
    }
    rel_off[NQ] = NQ;
    lw_retrieval_task t = {.n_queries = NQ, .rel_off = rel_off, .rel_ids = rel_ids};
    double *out = malloc(sizeof(double) * NQ * NCOL);
    assert_int_equal(lw_retrieval_score(Q, C, NC, D, &t, NULL, out), 0);
    int wins = 0;
    for (int q = 0; q < NQ; q++) {
        wins += want[q] == 1.0;
        if (out[q * NCOL + TOP1] != want[q]) fprintf(stderr, "query %d: top1 %g, want %g\n", q, out[q * NCOL + TOP1], want[q]);
        assert_true(out[q * NCOL + TOP1] == want[q]);
    }
    assert_true(wins > 0 && wins < NQ); /* both directions occur */
    free(out), free(Q), free(C);
}

static void test_score_collapsed(void **state) {
    (void)state;
    /* Every row is a power-of-two multiple of (1,1,1,1): every cosine is exactly 1, so the
     * pessimistic rule must put each relevant candidate after all 4 or 5 non-relevant ones. */
    enum { NQ = 3, NC = 6, D = 4 };
    float Q[NQ * D], C[NC * D];
    for (int i = 0; i < NQ * D; i++) Q[i] = ldexpf(1.0f, (i / D) % 3 - 1);
    for (int i = 0; i < NC * D; i++) C[i] = ldexpf(1.0f, (i / D) % 4 - 2);
    /* q0: {4} -> rank 6: MRR 1/6, NDCG 1/log2(7).
     * q1: {0 grade 1, 5 grade 2} -> ranks 5 (grade 1 first), 6: MRR 1/5,
     *     DCG = 1/log2(6) + 3/log2(7), IDCG = 3 + 1/log2(3).
     * q2: {2, 3} -> ranks 5, 6: MRR 1/5, DCG = 1/log2(6) + 1/log2(7), IDCG = 1 + 1/log2(3). */
    int64_t rel_off[] = {0, 1, 3, 5};
    int32_t rel_ids[] = {4, 0, 5, 2, 3};
    float grade[] = {1, 1, 2, 1, 1};
    lw_retrieval_task t = {.n_queries = NQ, .rel_off = rel_off, .rel_ids = rel_ids, .rel_grade = grade};
    double out[NQ * NCOL];
    double want[NQ * NCOL] = {
        0, 0, 0, 1, 1.0 / 6, 1.0 / log2(7.0),
        0, 0, 0, 1, 1.0 / 5, (1.0 / log2(6.0) + 3.0 / log2(7.0)) / (3.0 + 1.0 / log2(3.0)),
        0, 0, 0, 1, 1.0 / 5, (1.0 / log2(6.0) + 1.0 / log2(7.0)) / (1.0 + 1.0 / log2(3.0)),
    };
    /* recall@5: q0 0 (rank 6); q1 1/2 (rank 5); q2 1/2 */
    want[NCOL + R5] = 0.5;
    want[2 * NCOL + R5] = 0.5;
    assert_int_equal(lw_retrieval_score(Q, C, NC, D, &t, exp_gain(), out), 0);
    expect_row(out, want, NQ * NCOL, "collapsed");
    assert_int_equal(lw_retrieval_score_blocked(Q, C, NC, D, &t, exp_gain(), out, 1), 0);
    expect_row(out, want, NQ * NCOL, "collapsed, block 1");
}

/* ---- lw_retrieval_score against a naive implementation on random data ---- */


/* Naive metrics of one ranked list: for each relevant item its rank = 1 + the number of
 * candidates placed before it under the rule, checked pair by pair. */
static void naive_metrics(const double *cs, const int32_t *cand, int n, const int32_t *rel, const float *grade,
                          int n_rel, double *out) {
    int rank[64];
    assert_true(n_rel <= 64);
    for (int r = 0; r < n_rel; r++) {
        int at = -1;
        for (int i = 0; i < n; i++)
            if (cand[i] == rel[r]) at = i;
        assert_true(at >= 0);
        int before = 0;
        for (int i = 0; i < n; i++) {
            if (i == at) continue;
            float gi = 0;
            for (int s = 0; s < n_rel; s++)
                if (rel[s] == cand[i]) gi = grade[s];
            bool first = cs[i] > cs[at] || (cs[i] == cs[at] && (gi < grade[r] || (gi == grade[r] && cand[i] < rel[r])));
            before += first;
        }
        rank[r] = before + 1;
    }
    int best = 1 << 30;
    for (int r = 0; r < n_rel; r++)
        if (rank[r] < best) best = rank[r];
    out[TOP1] = best == 1;
    const int ks[3] = {1, 5, 10};
    for (int k = 0; k < 3; k++) {
        int hits = 0;
        for (int r = 0; r < n_rel; r++) hits += rank[r] <= ks[k];
        out[R1 + k] = (double)hits / n_rel;
    }
    out[MRR] = best <= 10 ? 1.0 / best : 0.0;
    double dcg = 0, idcg = 0;
    for (int r = 0; r < n_rel; r++)
        if (rank[r] <= 10) dcg += (pow(2.0, grade[r]) - 1.0) / log2(rank[r] + 1.0);
    float g[64];
    memcpy(g, grade, sizeof(float) * (size_t)n_rel);
    for (int a = 0; a < n_rel; a++) /* selection sort, descending */
        for (int b = a + 1; b < n_rel; b++)
            if (g[b] > g[a]) {
                float tmp = g[a];
                g[a] = g[b];
                g[b] = tmp;
            }
    for (int r = 0; r < n_rel && r < 10; r++) idcg += (pow(2.0, g[r]) - 1.0) / log2(r + 2.0);
    out[NDCG] = dcg / idcg;
}

/* Naive cosines in double, then naive_metrics. Returns false when some other candidate's
 * cosine lies within 4e-6 of a relevant item's: the library's float32 cosines (sgemm over
 * d <= 24 terms, then a scale by 1/|c|) can be off by a few 1e-7, so such a pair could be
 * ordered either way and the query is not compared. */
static bool naive_query(const float *q, const float *C, int d, const int32_t *cand, int n, const int32_t *rel,
                        const float *grade, int n_rel, double *out) {
    double *cs = malloc(sizeof(double) * (size_t)n);
    double qq = 0;
    for (int j = 0; j < d; j++) qq += (double)q[j] * q[j];
    for (int i = 0; i < n; i++) {
        const float *c = C + (size_t)cand[i] * d;
        double dot = 0, cc = 0;
        for (int j = 0; j < d; j++) {
            dot += (double)q[j] * c[j];
            cc += (double)c[j] * c[j];
        }
        cs[i] = dot / sqrt(qq * cc);
    }
    bool clear = true;
    for (int r = 0; r < n_rel; r++)
        for (int i = 0; i < n; i++)
            if (cand[i] == rel[r])
                for (int j = 0; j < n; j++)
                    if (j != i && fabs(cs[j] - cs[i]) < 4e-6) clear = false;
    naive_metrics(cs, cand, n, rel, grade, n_rel, out);
    free(cs);
    return clear;
}

/* lw_retrieval_metrics_from_scores against naive_metrics on scores quantized to 6 levels
 * (ties everywhere), 1..40 graded relevant items (both counting strategies: <= 16 and more
 * relevant), shuffled ids. */
static void test_metrics_vs_naive_ties(void **state) {
    (void)state;
    lw_rng r;
    lw_rng_seed(&r, 17);
    enum { NCAND = 60 };
    double s[NCAND], out[NCOL], ref[NCOL];
    int32_t ids[NCAND], rel[40];
    float g[40];
    for (int rep = 0; rep < 300; rep++) {
        for (int i = 0; i < NCAND; i++) ids[i] = i * 3 + 7;
        for (int i = NCAND - 1; i > 0; i--) {
            int j = (int)lw_rng_below(&r, (uint64_t)i + 1);
            int32_t t = ids[i];
            ids[i] = ids[j];
            ids[j] = t;
        }
        for (int i = 0; i < NCAND; i++) s[i] = (double)lw_rng_below(&r, 6) / 5.0;
        int n_rel = 1 + (int)lw_rng_below(&r, 40);
        for (int i = 0; i < n_rel; i++) { /* the first n_rel shuffled ids, in a random order */
            rel[i] = ids[i];
            g[i] = (float)(1 + lw_rng_below(&r, 3));
        }
        naive_metrics(s, ids, NCAND, rel, g, n_rel, ref);
        metrics(s, ids, NCAND, rel, g, n_rel, out);
        char what[64];
        snprintf(what, sizeof what, "ties rep %d (%d relevant)", rep, n_rel);
        expect_row(out, ref, NCOL, what);
    }
}

typedef enum { WHOLE, DENSE, SPARSE } regime;

static void random_case(regime rg, int nq, int nc, int d, int max_rel, uint64_t seed) {
    lw_rng r;
    lw_rng_seed(&r, seed);
    float *Q = malloc(sizeof(float) * (size_t)nq * d), *C = malloc(sizeof(float) * (size_t)nc * d);
    for (int i = 0; i < nq * d; i++) Q[i] = (float)lw_rng_normal(&r);
    for (int i = 0; i < nc * d; i++) C[i] = (float)lw_rng_normal(&r);
    int64_t *rel_off = malloc(sizeof(int64_t) * (nq + 1)), *cand_off = malloc(sizeof(int64_t) * (nq + 1));
    int32_t *rel_ids = malloc(sizeof(int32_t) * nq * max_rel), *cand_ids = malloc(sizeof(int32_t) * (size_t)nq * nc);
    float *grade = malloc(sizeof(float) * nq * max_rel);
    int32_t *perm = malloc(sizeof(int32_t) * nc);
    int64_t nr = 0, ncand = 0;
    for (int q = 0; q < nq; q++) {
        for (int i = 0; i < nc; i++) perm[i] = i;
        for (int i = nc - 1; i > 0; i--) { /* shuffle: the first few are the relevant ones */
            int j = (int)lw_rng_below(&r, (uint64_t)i + 1);
            int32_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        int n_rel = 1 + (int)lw_rng_below(&r, (uint64_t)max_rel);
        rel_off[q] = nr;
        for (int i = 0; i < n_rel; i++) {
            rel_ids[nr] = perm[i];
            grade[nr++] = (float)(1 + lw_rng_below(&r, 3));
        }
        int n = rg == DENSE ? nc * 3 / 5 : max_rel + 2;
        cand_off[q] = ncand;
        for (int i = 0; i < n; i++) cand_ids[ncand++] = perm[i];
    }
    rel_off[nq] = nr;
    cand_off[nq] = ncand;
    lw_retrieval_task t = {.n_queries = nq, .rel_off = rel_off, .rel_ids = rel_ids, .rel_grade = grade};
    if (rg != WHOLE) {
        t.cand_off = cand_off;
        t.cand_ids = cand_ids;
    }
    double *ref = malloc(sizeof(double) * nq * NCOL), *out = malloc(sizeof(double) * nq * NCOL);
    bool *clear = malloc(sizeof(bool) * nq);
    int32_t *all = malloc(sizeof(int32_t) * nc);
    for (int i = 0; i < nc; i++) all[i] = i;
    int n_clear = 0;
    for (int q = 0; q < nq; q++) {
        const int32_t *cand = rg == WHOLE ? all : cand_ids + cand_off[q];
        int n = rg == WHOLE ? nc : (int)(cand_off[q + 1] - cand_off[q]);
        clear[q] = naive_query(Q + (size_t)q * d, C, d, cand, n, rel_ids + rel_off[q], grade + rel_off[q],
                               (int)(rel_off[q + 1] - rel_off[q]), ref + q * NCOL);
        n_clear += clear[q];
    }
    assert_true(n_clear >= nq * 80 / 100);
    const int blocks[] = {0, 1, 7, nq + 3};
    for (int b = 0; b < 4; b++) {
        memset(out, 0, sizeof(double) * nq * NCOL);
        assert_int_equal(lw_retrieval_score_blocked(Q, C, nc, d, &t, exp_gain(), out, blocks[b]), 0);
        for (int q = 0; q < nq; q++) {
            if (!clear[q]) continue;
            char what[96];
            snprintf(what, sizeof what, "regime %d, block %d, query %d", (int)rg, blocks[b], q);
            expect_row(out + q * NCOL, ref + q * NCOL, NCOL, what);
        }
    }
    /* the public entry point is the automatic block size */
    double *out2 = malloc(sizeof(double) * nq * NCOL);
    assert_int_equal(lw_retrieval_score(Q, C, nc, d, &t, exp_gain(), out2), 0);
    assert_int_equal(lw_retrieval_score_blocked(Q, C, nc, d, &t, exp_gain(), out, 0), 0);
    assert_memory_equal(out, out2, sizeof(double) * nq * NCOL);
    fprintf(stderr, "random regime %d: %d of %d queries compared (others have a near tie)\n", (int)rg, n_clear, nq);
    free(out2);
    free(Q);
    free(C);
    free(rel_off);
    free(cand_off);
    free(rel_ids);
    free(cand_ids);
    free(grade);
    free(perm);
    free(ref);
    free(out);
    free(clear);
    free(all);
}

static void test_score_vs_naive(void **state) {
    (void)state;
    random_case(WHOLE, 61, 150, 24, 4, 1);
    random_case(DENSE, 61, 150, 24, 4, 2);  /* lists over 60% of the bank: whole-bank sgemm, then picked */
    random_case(SPARSE, 61, 150, 24, 4, 3); /* 6 candidates each: gathered rows */
    random_case(WHOLE, 300, 40, 5, 4, 4);   /* low dimension, many blocks */
    random_case(WHOLE, 40, 150, 24, 40, 5); /* up to 40 relevant per query */
    random_case(DENSE, 40, 150, 24, 40, 6);
}

/* ---- bad input ---- */

static void expect_error(int rc, const char *a, const char *b) {
    assert_int_equal(rc, -1);
    const char *e = lw_last_error();
    if (!strstr(e, a) || (b && !strstr(e, b))) {
        fprintf(stderr, "error \"%s\" lacks \"%s\" / \"%s\"\n", e, a, b ? b : "");
        fail();
    }
}

static void test_score_bad_input(void **state) {
    (void)state;
    float Q[4], C[10];
    memcpy(Q, Q2, sizeof Q);
    memcpy(C, C5, sizeof C);
    int64_t rel_off[] = {0, 1, 3};
    int32_t rel_ids[] = {2, 0, 1};
    float grade[] = {1, 2, 1};
    lw_retrieval_task t = {.n_queries = 2, .rel_off = rel_off, .rel_ids = rel_ids, .rel_grade = grade};
    double out[2 * NCOL];
    assert_int_equal(lw_retrieval_score(Q, C, 5, 2, &t, exp_gain(), out), 0);

    Q[3] = NAN;
    expect_error(lw_retrieval_score(Q, C, 5, 2, &t, NULL, out), "Q (queries) row 1", "non-finite");
    Q[3] = 0;
    Q[2] = 0;
    expect_error(lw_retrieval_score(Q, C, 5, 2, &t, NULL, out), "Q (queries) row 1", "zero norm");
    memcpy(Q, Q2, sizeof Q);
    C[6] = C[7] = 0;
    expect_error(lw_retrieval_score(Q, C, 5, 2, &t, NULL, out), "C (candidates) row 3", "zero norm");
    C[6] = INFINITY;
    expect_error(lw_retrieval_score(Q, C, 5, 2, &t, NULL, out), "C (candidates) row 3", "non-finite");
    memcpy(C, C5, sizeof C);

    rel_ids[1] = 5;
    expect_error(lw_retrieval_score(Q, C, 5, 2, &t, NULL, out), "rel_ids[1] = 5", "outside");
    rel_ids[1] = 1;
    expect_error(lw_retrieval_score(Q, C, 5, 2, &t, NULL, out), "rel_ids[2] = 1", "duplicate");
    rel_ids[1] = 0;
    grade[2] = 0;
    expect_error(lw_retrieval_score(Q, C, 5, 2, &t, NULL, out), "rel_grade[2]", NULL);
    grade[2] = NAN;
    expect_error(lw_retrieval_score(Q, C, 5, 2, &t, NULL, out), "rel_grade[2]", NULL);
    grade[2] = 1;
    rel_off[1] = 0;
    expect_error(lw_retrieval_score(Q, C, 5, 2, &t, NULL, out), "query 0 has no relevant", NULL);
    rel_off[1] = 1;

    int64_t cand_off[] = {0, 2, 5};
    int32_t cand_ids[] = {1, 3, 0, 1, 4};
    t.cand_off = cand_off;
    t.cand_ids = cand_ids;
    expect_error(lw_retrieval_score(Q, C, 5, 2, &t, NULL, out), "rel_ids[0] = 2 (query 0)", "not among");
    cand_ids[0] = 2;
    assert_int_equal(lw_retrieval_score(Q, C, 5, 2, &t, exp_gain(), out), 0);
    cand_ids[4] = 0;
    expect_error(lw_retrieval_score(Q, C, 5, 2, &t, NULL, out), "cand_ids[4] = 0", "duplicate");
    cand_ids[4] = -1;
    expect_error(lw_retrieval_score(Q, C, 5, 2, &t, NULL, out), "cand_ids[4] = -1", "outside");
    cand_ids[4] = 4;
    cand_off[1] = 0;
    expect_error(lw_retrieval_score(Q, C, 5, 2, &t, NULL, out), "query 0 has no candidates", NULL);
    cand_off[1] = 2;
    t.cand_ids = NULL;
    expect_error(lw_retrieval_score(Q, C, 5, 2, &t, NULL, out), "cand_off", NULL);
    t.cand_ids = cand_ids;

    lw_retrieval_params p = lw_retrieval_default_params();
    p.k[0] = 0;
    expect_error(lw_retrieval_score(Q, C, 5, 2, &t, &p, out), "k[0]", NULL);
    expect_error(lw_retrieval_score(Q, C, 0, 2, &t, NULL, out), "nc = 0", NULL);
    expect_error(lw_retrieval_score(Q, C, 5, 0, &t, NULL, out), "d = 0", NULL);
    t.rel_off = NULL;
    expect_error(lw_retrieval_score(Q, C, 5, 2, &t, NULL, out), "rel_off", NULL);
    t.rel_off = rel_off;
    t.n_queries = 0; /* nothing to do */
    assert_int_equal(lw_retrieval_score(Q, C, 5, 2, &t, exp_gain(), out), 0);
}

/* ---- candidate regimes ---- */

static void check_lists(int32_t nq, const int32_t *gold, int32_t nc, const int64_t *off, const int32_t *ids) {
    bool *seen = calloc((size_t)nc, 1);
    assert_int_equal(off[0], 0);
    for (int32_t q = 0; q < nq; q++) {
        bool has_gold = false;
        for (int64_t i = off[q]; i < off[q + 1]; i++) {
            assert_true(ids[i] >= 0 && ids[i] < nc);
            assert_false(seen[ids[i]]); /* no duplicates */
            seen[ids[i]] = true;
            has_gold |= ids[i] == gold[q];
        }
        assert_true(has_gold);
        for (int64_t i = off[q]; i < off[q + 1]; i++) seen[ids[i]] = false;
    }
    free(seen);
}

static void test_candidates_random(void **state) {
    (void)state;
    enum { NQ = 40, NC = 200, D = 15 };
    int32_t gold[NQ];
    for (int q = 0; q < NQ; q++) gold[q] = (q * 37) % NC;
    int64_t *off, *off2;
    int32_t *ids, *ids2;
    assert_int_equal(lw_candidates_random(NQ, gold, NC, D, 7, &off, &ids), 0);
    check_lists(NQ, gold, NC, off, ids);
    for (int q = 0; q <= NQ; q++) assert_int_equal(off[q], (int64_t)q * (D + 1));
    /* same seed: same lists; another seed: different lists */
    assert_int_equal(lw_candidates_random(NQ, gold, NC, D, 7, &off2, &ids2), 0);
    assert_memory_equal(ids, ids2, sizeof(int32_t) * NQ * (D + 1));
    free(off2);
    free(ids2);
    assert_int_equal(lw_candidates_random(NQ, gold, NC, D, 8, &off2, &ids2), 0);
    assert_true(memcmp(ids, ids2, sizeof(int32_t) * NQ * (D + 1)) != 0);
    free(off2);
    free(ids2);
    free(off);
    free(ids);

    /* D = nc - 1: every candidate exactly once; D = 0: the target alone */
    assert_int_equal(lw_candidates_random(NQ, gold, NC, NC - 1, 1, &off, &ids), 0);
    check_lists(NQ, gold, NC, off, ids);
    assert_int_equal(off[1], NC);
    free(off);
    free(ids);
    assert_int_equal(lw_candidates_random(NQ, gold, NC, 0, 1, &off, &ids), 0);
    for (int q = 0; q < NQ; q++) assert_int_equal(ids[q], gold[q]);
    free(off);
    free(ids);

    /* Uniformity: 2000 queries with target 0 in a bank of 21, D = 5. Each other candidate is
     * expected 2000 * 5/20 = 500 times (sd sqrt(500 * 0.75) = 19.4); the target's position
     * in the list is uniform over 6 slots, 333.3 each (sd 16.7). Bands: +-6 sd. */
    enum { NQU = 2000 };
    int32_t *g0 = calloc(NQU, sizeof(int32_t));
    assert_int_equal(lw_candidates_random(NQU, g0, 21, 5, 99, &off, &ids), 0);
    int count[21] = {0}, pos[6] = {0};
    for (int q = 0; q < NQU; q++)
        for (int i = 0; i < 6; i++) {
            count[ids[q * 6 + i]]++;
            if (ids[q * 6 + i] == 0) pos[i]++;
        }
    assert_int_equal(count[0], NQU);
    for (int c = 1; c < 21; c++) assert_true(abs(count[c] - 500) < 117);
    for (int i = 0; i < 6; i++) assert_true(abs(pos[i] - 333) < 100);
    free(g0);
    free(off);
    free(ids);

    expect_error(lw_candidates_random(NQ, gold, NC, NC, 1, &off, &ids), "D = 200", "199 other");
    gold[3] = NC;
    expect_error(lw_candidates_random(NQ, gold, NC, D, 1, &off, &ids), "gold[3] = 200", NULL);
}

static void test_candidates_same_label(void **state) {
    (void)state;
    enum { NQ = 30, NC = 101 };
    int32_t labels[NC], gold[NQ];
    for (int c = 0; c < NC; c++) labels[c] = c == 100 ? -5 : c % 7; /* groups of 14 or 15, one singleton */
    for (int q = 0; q < NQ; q++) gold[q] = q == 0 ? 100 : (q * 13) % 100;
    int64_t *off, *off2;
    int32_t *ids, *ids2;
    assert_int_equal(lw_candidates_same_label(NQ, gold, NC, labels, 5, 3, &off, &ids), 0);
    check_lists(NQ, gold, NC, off, ids);
    assert_int_equal(off[1] - off[0], 1); /* singleton label: the target alone */
    for (int q = 1; q < NQ; q++) {
        assert_int_equal(off[q + 1] - off[q], 6);
        for (int64_t i = off[q]; i < off[q + 1]; i++) assert_int_equal(labels[ids[i]], labels[gold[q]]);
    }
    assert_int_equal(lw_candidates_same_label(NQ, gold, NC, labels, 5, 3, &off2, &ids2), 0);
    assert_memory_equal(ids, ids2, sizeof(int32_t) * off[NQ]);
    free(off);
    free(ids);
    free(off2);
    free(ids2);
    /* D <= 0 (and D beyond the group): the whole group */
    for (int D = 0; D <= 50; D += 50) {
        assert_int_equal(lw_candidates_same_label(NQ, gold, NC, labels, D, 3, &off, &ids), 0);
        check_lists(NQ, gold, NC, off, ids);
        for (int q = 1; q < NQ; q++) {
            int group = 0;
            for (int c = 0; c < NC; c++) group += labels[c] == labels[gold[q]];
            assert_int_equal(off[q + 1] - off[q], group);
        }
        free(off);
        free(ids);
    }
    expect_error(lw_candidates_same_label(NQ, gold, NC, NULL, 5, 3, &off, &ids), "labels", NULL);
}

static void test_candidates_clustered(void **state) {
    (void)state;
    /* Four tight, well-separated blobs around e0..e3 in 8-D (25 rows each, interleaved):
     * every distractor must come from the target's blob. */
    enum { NB = 100, DB = 8, NQ = 20 };
    lw_rng r;
    lw_rng_seed(&r, 5);
    float *C = malloc(sizeof(float) * NB * DB);
    for (int i = 0; i < NB; i++)
        for (int j = 0; j < DB; j++) C[i * DB + j] = (j == i % 4 ? 10.0f : 0.0f) + 0.3f * (float)lw_rng_normal(&r);
    int32_t gold[NQ];
    for (int q = 0; q < NQ; q++) gold[q] = (q * 7) % NB;
    int64_t *off, *off2;
    int32_t *ids, *ids2;
    assert_int_equal(lw_candidates_clustered(NQ, gold, C, NB, DB, 4, 10, 11, &off, &ids), 0);
    check_lists(NQ, gold, NB, off, ids);
    for (int q = 0; q < NQ; q++) {
        assert_int_equal(off[q + 1] - off[q], 11);
        for (int64_t i = off[q]; i < off[q + 1]; i++) assert_int_equal(ids[i] % 4, gold[q] % 4);
    }
    free(off);
    free(ids);
    /* D <= 0: the whole blob */
    assert_int_equal(lw_candidates_clustered(NQ, gold, C, NB, DB, 4, 0, 11, &off, &ids), 0);
    for (int q = 0; q < NQ; q++) assert_int_equal(off[q + 1] - off[q], 25);
    free(off);
    free(ids);

    /* k-means++ on a sample (n = 2000 > 64 k = 256 rows seeded from): the four blobs still
     * come out as the four clusters, each blob entirely in its own cluster. */
    enum { NL = 2000 };
    float *L = malloc(sizeof(float) * NL * DB);
    for (int i = 0; i < NL; i++)
        for (int j = 0; j < DB; j++) L[i * DB + j] = (j == i % 4 ? 10.0f : 0.0f) + 0.3f * (float)lw_rng_normal(&r);
    int32_t *la = malloc(sizeof(int32_t) * NL);
    int liters = -1;
    assert_int_equal(lw_eval_kmeans(L, NL, DB, 4, 3, LW_EVAL_KMEANS_MAX_ITER, la, &liters), 0);
    int blob_cluster[4] = {la[0], la[1], la[2], la[3]};
    for (int b = 0; b < 4; b++)
        for (int b2 = b + 1; b2 < 4; b2++) assert_int_not_equal(blob_cluster[b], blob_cluster[b2]);
    for (int i = 0; i < NL; i++) assert_int_equal(la[i], blob_cluster[i % 4]);
    fprintf(stderr, "k-means on 4 blobs x 500 rows: %d Lloyd iterations\n", liters);
    free(L);
    free(la);

    /* Random data: every distractor shares the target's k-means cluster (recomputed with the
     * documented seed), lists hold min(D, cluster size - 1) distractors, seeded determinism. */
    enum { N2 = 300, D2 = 16, K = 6 };
    float *X = malloc(sizeof(float) * N2 * D2);
    for (int i = 0; i < N2 * D2; i++) X[i] = (float)lw_rng_normal(&r);
    int32_t assign[N2], size[K] = {0};
    int iters = -1;
    assert_int_equal(lw_eval_kmeans(X, N2, D2, K, LW_EVAL_KMEANS_SEED(21), LW_EVAL_KMEANS_MAX_ITER, assign, &iters),
                     0);
    assert_true(iters >= 1 && iters <= LW_EVAL_KMEANS_MAX_ITER);
    for (int i = 0; i < N2; i++) {
        assert_true(assign[i] >= 0 && assign[i] < K);
        size[assign[i]]++;
    }
    for (int c = 0; c < K; c++) assert_true(size[c] > 0);
    int32_t gold2[NQ];
    for (int q = 0; q < NQ; q++) gold2[q] = (q * 31) % N2;
    assert_int_equal(lw_candidates_clustered(NQ, gold2, X, N2, D2, K, 8, 21, &off, &ids), 0);
    assert_int_equal(lw_candidates_clustered(NQ, gold2, X, N2, D2, K, 8, 21, &off2, &ids2), 0);
    check_lists(NQ, gold2, N2, off, ids);
    assert_memory_equal(off, off2, sizeof(int64_t) * (NQ + 1));
    assert_memory_equal(ids, ids2, sizeof(int32_t) * off[NQ]);
    for (int q = 0; q < NQ; q++) {
        int c = assign[gold2[q]];
        int64_t want = size[c] - 1 < 8 ? size[c] - 1 : 8;
        assert_int_equal(off[q + 1] - off[q], want + 1);
        for (int64_t i = off[q]; i < off[q + 1]; i++) assert_int_equal(assign[ids[i]], c);
    }
    free(off);
    free(ids);
    free(off2);
    free(ids2);

    expect_error(lw_candidates_clustered(NQ, gold2, X, N2, D2, N2 + 1, 8, 21, &off, &ids), "n_clusters = 301", NULL);
    expect_error(lw_candidates_clustered(NQ, gold2, X, N2, D2, 0, 8, 21, &off, &ids), "n_clusters = 0", NULL);
    memset(X + 17 * D2, 0, sizeof(float) * D2);
    expect_error(lw_candidates_clustered(NQ, gold2, X, N2, D2, K, 8, 21, &off, &ids), "row 17", "zero norm");
    free(X);
    free(C);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_and_names),
        cmocka_unit_test(test_single_relevant),
        cmocka_unit_test(test_graded_multiple),
        cmocka_unit_test(test_ties_pessimistic),
        cmocka_unit_test(test_beyond_rank_10),
        cmocka_unit_test(test_relevant_missing_and_empty),
        cmocka_unit_test(test_metrics_vs_naive_ties),
        cmocka_unit_test(test_score_hand),
        cmocka_unit_test(test_score_centered),
        cmocka_unit_test(test_score_equal_rows_tie),
        cmocka_unit_test(test_score_one_ulp_apart),
        cmocka_unit_test(test_score_collapsed),
        cmocka_unit_test(test_score_vs_naive),
        cmocka_unit_test(test_score_bad_input),
        cmocka_unit_test(test_candidates_random),
        cmocka_unit_test(test_candidates_same_label),
        cmocka_unit_test(test_candidates_clustered),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
