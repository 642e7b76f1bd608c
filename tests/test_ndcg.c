/* NDCG@10's gain: trec_eval's linear gain (gain = relevance grade, as BEIR reports through
 * pytrec_eval) by default, the exponential 2^rel - 1 on request, on a hand-computed graded
 * example. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "latentwire/retrieval.h"

enum { NDCG = 5, NCOL = 6 }; /* default columns: top1, recall@1, @5, @10, mrr@10, ndcg@10 */

/* One query, candidates A..F (ids 0..5) ranked in that order by score; qrels grades
 * A 3, C 2, E 1, and G (id 6, grade 2) which is not among the candidates (never retrieved).
 * trec_eval ndcg_cut.10, gain = grade, discount log2(rank + 1):
 *   DCG  = 3/log2(2) + 2/log2(4) + 1/log2(6)               = 3 + 1 + 0.3868528 = 4.3868528
 *   IDCG = grades sorted 3, 2, 2, 1:
 *          3/log2(2) + 2/log2(3) + 2/log2(4) + 1/log2(5)  = 3 + 1.2618595 + 1 + 0.4306766 = 5.6925361
 *   NDCG = 4.3868528 / 5.6925361 = 0.7706324
 * Exponential gain 2^g - 1 (gains 7, 3, 3, 1):
 *   DCG  = 7 + 3/2 + 1/log2(6) = 8.8868528; IDCG = 7 + 3/log2(3) + 3/2 + 1/log2(5) = 10.8234658
 *   NDCG = 0.8210727 */
static const double SCORES[] = {0.9, 0.8, 0.7, 0.6, 0.5, 0.4};
static const int32_t IDS[] = {0, 1, 2, 3, 4, 5}, REL[] = {0, 2, 4, 6};
static const float GRADE[] = {3, 2, 1, 2};

static void test_linear_is_default(void **state) {
    (void)state;
    lw_retrieval_params p = lw_retrieval_default_params();
    assert_int_equal(p.ndcg_gain, LW_NDCG_GAIN_LINEAR);
    double out[NCOL];
    lw_retrieval_metrics_from_scores(SCORES, IDS, 6, REL, GRADE, 4, NULL, out);
    double want = (3 + 1 + 1 / log2(6.0)) / (3 + 2 / log2(3.0) + 1 + 1 / log2(5.0));
    assert_true(fabs(want - 0.7706324135634347) < 1e-12);
    assert_true(fabs(out[NDCG] - want) < 1e-12);
    lw_retrieval_metrics_from_scores(SCORES, IDS, 6, REL, GRADE, 4, &p, out);
    assert_true(fabs(out[NDCG] - want) < 1e-12);
}

static void test_exp_on_request(void **state) {
    (void)state;
    lw_retrieval_params p = lw_retrieval_default_params();
    p.ndcg_gain = LW_NDCG_GAIN_EXP;
    double out[NCOL];
    lw_retrieval_metrics_from_scores(SCORES, IDS, 6, REL, GRADE, 4, &p, out);
    double want = (7 + 1.5 + 1 / log2(6.0)) / (7 + 3 / log2(3.0) + 1.5 + 1 / log2(5.0));
    assert_true(fabs(want - 0.8210727465696264) < 1e-12);
    assert_true(fabs(out[NDCG] - want) < 1e-12);
}

static void test_binary_relevance_agrees(void **state) {
    (void)state;
    /* grade 1 everywhere: 2^1 - 1 = 1, both gains give the same NDCG: A at rank 1, E at rank 5,
     * G missing: (1 + 1/log2(6)) / (1 + 1/log2(3) + 1/log2(4)) */
    const int32_t rel[] = {0, 4, 6};
    double lin[NCOL], ex[NCOL];
    lw_retrieval_params p = lw_retrieval_default_params();
    lw_retrieval_metrics_from_scores(SCORES, IDS, 6, rel, NULL, 3, &p, lin);
    p.ndcg_gain = LW_NDCG_GAIN_EXP;
    lw_retrieval_metrics_from_scores(SCORES, IDS, 6, rel, NULL, 3, &p, ex);
    double want = (1 + 1 / log2(6.0)) / (1 + 1 / log2(3.0) + 0.5);
    assert_true(fabs(lin[NDCG] - want) < 1e-12 && fabs(ex[NDCG] - want) < 1e-12);
}

static void test_bad_gain(void **state) {
    (void)state;
    lw_retrieval_params p = lw_retrieval_default_params();
    p.ndcg_gain = (lw_ndcg_gain)7;
    assert_int_equal(lw_retrieval_n_metrics(&p), -1);
    assert_non_null(strstr(lw_last_error(), "ndcg_gain = 7"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_is_default),
        cmocka_unit_test(test_exp_on_request),
        cmocka_unit_test(test_binary_relevance_agrees),
        cmocka_unit_test(test_bad_gain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
