/* Pre-registered verdicts: Holm's adjustment on a hand-computed case, the exact tests against
 * binomial sums written out here, the PASS / FAIL / INCONCLUSIVE rule on synthetic records with
 * a known answer, plans tied to records by sha256, and bad plans refused with one line. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "common/fileio.h"
#include "common/rng.h"
#include "latentwire/verdict.h"
#include "support/testutil.h"

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A plan with the given hypotheses (a JSON array body) and correction. */
static const char *write_plan(const char *name, const char *hypotheses, const char *correction) {
    const char *path = lw_test_tmpfile(name);
    char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"format\": \"latentwire.plan/1\", \"title\": \"test plan\", \"alpha\": 0.05, \"correction\": "
             "\"%s\", \"resamples\": 2000, \"seed\": 3, \"selection\": \"none: nothing selected\", "
             "\"hypotheses\": [%s]}\n",
             correction, hypotheses);
    write_text(path, buf);
    return path;
}

/* A plan of one hypothesis H, "mean(A) of metric > (or <) threshold", without correction. */
static const char *single_plan(const char *name, const char *metric, const char *direction, const char *threshold) {
    char h[256];
    snprintf(h, sizeof h,
             "{\"id\": \"H\", \"metric\": \"%s\", \"a\": \"A\", \"direction\": \"%s\", \"threshold\": %s}",
             metric, direction, threshold);
    return write_plan(name, h, "none");
}

static const char *greater_plan(const char *name, const char *metric, const char *threshold) {
    return single_plan(name, metric, "greater", threshold);
}

/* Records of conditions A and B on n items: A right on the first na items, B on the first nb. */
static const char *write_records(const char *name, const lw_plan *plan, int n, int na, int nb) {
    const char *path = lw_test_tmpfile(name);
    lw_item_record *r = calloc((size_t)(2 * n + 2), sizeof *r);
    char(*ids)[16] = calloc((size_t)n, sizeof *ids);
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "item%03d", i);
        r[2 * i] = (lw_item_record){.condition = "A", .item = ids[i], .metric = "em", .value = i < na};
        r[2 * i + 1] = (lw_item_record){.condition = "B", .item = ids[i], .metric = "em", .value = i < nb};
    }
    /* selection-split records must be ignored: make them contradict everything */
    r[2 * n] = (lw_item_record){.condition = "A", .item = "sel0", .metric = "em", .split = "selection", .value = 0};
    r[2 * n + 1] = (lw_item_record){.condition = "B", .item = "sel0", .metric = "em", .split = "selection", .value = 1};
    assert_int_equal(lw_items_save(path, plan ? lw_plan_sha256(plan) : NULL, "test", r, 2 * n + 2), 0);
    free(r);
    free(ids);
    return path;
}

static lw_verdict *decide(const char *plan_path, const char *records, int *n) {
    lw_plan *plan = lw_plan_load(plan_path);
    assert_non_null(plan);
    lw_items *items = lw_items_load(&records, 1);
    assert_non_null(items);
    lw_verdict *v = NULL;
    int rc = lw_verdict_evaluate(plan, items, &v);
    if (rc != 0) fprintf(stderr, "%s\n", lw_last_error());
    assert_int_equal(rc, 0);
    *n = lw_plan_n_hypotheses(plan);
    lw_items_free(items);
    lw_plan_free(plan);
    return v;
}

static void test_holm_hand_computed(void **state) {
    (void)state;
    /* sorted: 0.005 x4 = 0.02; 0.01 x3 = 0.03; 0.03 x2 = 0.06; 0.04 x1 = 0.04 -> raised to 0.06 */
    const double p[4] = {0.01, 0.04, 0.03, 0.005};
    double adj[4];
    lw_holm_adjust(p, 4, adj);
    const double want[4] = {0.03, 0.06, 0.06, 0.02};
    for (int i = 0; i < 4; i++) assert_true(fabs(adj[i] - want[i]) < 1e-15);
    const double big[2] = {0.7, 0.9};
    lw_holm_adjust(big, 2, adj);
    assert_true(adj[0] == 1.0 && adj[1] == 1.0); /* capped at 1 */
}

/* P(X >= x), X ~ Binomial(n, t), summed term by term. */
static double binom_tail_naive(int x, int n, double t) {
    double s = 0;
    for (int k = x; k <= n; k++) s += exp(lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0)) * pow(t, k) * pow(1 - t, n - k);
    return s;
}

static void test_known_answers(void **state) {
    (void)state;
    const char *hyp =
        "{\"id\": \"better\", \"metric\": \"em\", \"a\": \"A\", \"b\": \"B\", \"direction\": \"greater\", "
        "\"threshold\": 0},"
        "{\"id\": \"worse\", \"metric\": \"em\", \"a\": \"B\", \"b\": \"A\", \"direction\": \"greater\", "
        "\"threshold\": 0},"
        "{\"id\": \"level\", \"metric\": \"em\", \"a\": \"A\", \"direction\": \"greater\", \"threshold\": 0.6}";
    const char *pp = write_plan("known.plan.json", hyp, "holm");
    lw_plan *plan = lw_plan_load(pp);
    assert_non_null(plan);
    /* 40 items: A right on 36, B right on 10 (B's right items are a subset of A's) */
    const char *rec = write_records("known.items.jsonl", plan, 40, 36, 10);
    lw_plan_free(plan);
    int n;
    lw_verdict *v = decide(pp, rec, &n);
    assert_int_equal(n, 3);
    /* A - B: 26 discordant pairs all in A's favour: McNemar p = 0.5^26 */
    assert_int_equal(v[0].verdict, LW_VERDICT_PASS);
    assert_true(fabs(v[0].p - pow(0.5, 26)) < 1e-15);
    assert_string_equal(v[0].test, "exact McNemar");
    assert_int_equal(v[0].n, 40); /* the selection-split item is not counted */
    assert_true(fabs(v[0].estimate - 26.0 / 40) < 1e-12);
    /* B - A > 0: the interval lies below 0: FAIL */
    assert_int_equal(v[1].verdict, LW_VERDICT_FAIL);
    assert_true(v[1].ci.hi < 0);
    /* mean(A) = 0.9 > 0.6: exact binomial tail P(X >= 36 | 40, 0.6) */
    assert_string_equal(v[2].test, "exact binomial");
    assert_true(fabs(v[2].p - binom_tail_naive(36, 40, 0.6)) < 1e-12);
    assert_int_equal(v[2].verdict, LW_VERDICT_PASS);
    /* Holm: the largest p (worse: 1.0) stays 1; the others are multiplied */
    assert_true(fabs(v[1].p_adjusted - 1.0) < 1e-15);
    free(v);
}

static void test_no_difference_is_inconclusive(void **state) {
    (void)state;
    const char *pp = write_plan("same.plan.json",
                                "{\"id\": \"H\", \"metric\": \"em\", \"a\": \"A\", \"b\": \"B\", \"direction\": "
                                "\"greater\", \"threshold\": 0}",
                                "holm");
    lw_plan *plan = lw_plan_load(pp);
    const char *rec = write_records("same.items.jsonl", plan, 30, 15, 15);
    lw_plan_free(plan);
    int n;
    lw_verdict *v = decide(pp, rec, &n);
    assert_int_equal(v[0].verdict, LW_VERDICT_INCONCLUSIVE);
    assert_true(v[0].p == 1.0); /* no discordant pair */
    assert_true(v[0].ci.lo < 0 && v[0].ci.hi > 0);
    free(v);
}

/* Two hypotheses each at p = 0.5^5 = 0.03125: each passes alone, neither after Holm's x2. */
static void test_holm_changes_the_verdict(void **state) {
    (void)state;
    const char *hyp = "{\"id\": \"H1\", \"metric\": \"em\", \"a\": \"A\", \"b\": \"B\", \"direction\": \"greater\", "
                      "\"threshold\": 0, \"test\": \"exact\"},"
                      "{\"id\": \"H2\", \"metric\": \"em\", \"a\": \"A\", \"b\": \"B\", \"direction\": \"greater\", "
                      "\"threshold\": 0, \"test\": \"exact\"}";
    for (int holm = 0; holm <= 1; holm++) {
        const char *pp = write_plan(holm ? "holm.plan.json" : "none.plan.json", hyp, holm ? "holm" : "none");
        lw_plan *plan = lw_plan_load(pp);
        const char *rec = write_records(holm ? "holm.items.jsonl" : "none.items.jsonl", plan, 10, 5, 0);
        lw_plan_free(plan);
        int n;
        lw_verdict *v = decide(pp, rec, &n);
        assert_true(fabs(v[0].p - 0.03125) < 1e-15);
        assert_int_equal(v[0].verdict, holm ? LW_VERDICT_INCONCLUSIVE : LW_VERDICT_PASS);
        assert_true(fabs(v[0].p_adjusted - (holm ? 0.0625 : 0.03125)) < 1e-15);
        free(v);
    }
}

/* "less" on 0/1 values: the exact lower tail P(X <= x), here P(X <= 2 | 10, 0.5) = 56 / 1024. A
 * mutant giving P(X <= x - 1) = 11 / 1024, anti-conservative, went unnoticed. */
static void test_exact_lower_tail(void **state) {
    (void)state;
    const char *pp = single_plan("lower.plan.json", "em", "less", "0.5");
    lw_plan *plan = lw_plan_load(pp);
    const char *rec = write_records("lower.items.jsonl", plan, 10, 2, 0);
    lw_plan_free(plan);
    int n;
    lw_verdict *v = decide(pp, rec, &n);
    assert_string_equal(v[0].test, "exact binomial");
    assert_true(fabs(v[0].p - 56.0 / 1024.0) < 1e-12);
    assert_true(fabs(v[0].p - (1.0 - binom_tail_naive(3, 10, 0.5))) < 1e-12);
    free(v);
}

/* The bootstrap p counts a resample whose mean equals the threshold as on the null side. Values 0,
 * 0.5, 1 (one item each), "greater" than 0.5: of the 27 equally likely resamples, 17 have a mean at
 * or below 0.5 (sums of 0..2 half-units at most 3), so p = 17/27 = 0.63 up to Monte Carlo error (SE
 * 0.011 at 2000 resamples); a mutant counting only means below it gives 10/27 = 0.37. */
static void test_bootstrap_ties_at_the_threshold(void **state) {
    (void)state;
    const char *pp = greater_plan("ties.plan.json", "ndcg", "0.5");
    lw_plan *plan = lw_plan_load(pp);
    lw_item_record r[3] = {{.condition = "A", .item = "q0", .metric = "ndcg", .value = 0.0},
                           {.condition = "A", .item = "q1", .metric = "ndcg", .value = 0.5},
                           {.condition = "A", .item = "q2", .metric = "ndcg", .value = 1.0}};
    const char *rec = lw_test_tmpfile("ties.items.jsonl");
    assert_int_equal(lw_items_save(rec, lw_plan_sha256(plan), "test", r, 3), 0);
    lw_plan_free(plan);
    int n;
    lw_verdict *v = decide(pp, rec, &n);
    assert_string_equal(v[0].test, "BCa bootstrap, inverted");
    if (fabs(v[0].p - 17.0 / 27.0) > 0.05) fail_msg("p = %g, expected 17/27 = %g", v[0].p, 17.0 / 27.0);
    free(v);
}

/* Non-binary values: the inverted BCa bootstrap; a clear shift passes, p >= 1 / (1 + resamples). */
static void test_bootstrap_on_real_values(void **state) {
    (void)state;
    const char *pp = write_plan("boot.plan.json",
                                "{\"id\": \"H\", \"metric\": \"ndcg\", \"a\": \"A\", \"direction\": \"greater\", "
                                "\"threshold\": 0.5}",
                                "holm");
    lw_plan *plan = lw_plan_load(pp);
    lw_item_record r[50];
    char ids[50][8];
    for (int i = 0; i < 50; i++) {
        snprintf(ids[i], sizeof ids[i], "q%d", i);
        r[i] = (lw_item_record){.condition = "A", .item = ids[i], .metric = "ndcg", .value = 0.7 + 0.004 * (i % 10)};
    }
    const char *rec = lw_test_tmpfile("boot.items.jsonl");
    assert_int_equal(lw_items_save(rec, lw_plan_sha256(plan), "test", r, 50), 0);
    lw_plan_free(plan);
    int n;
    lw_verdict *v = decide(pp, rec, &n);
    assert_string_equal(v[0].test, "BCa bootstrap, inverted");
    /* no resample at or below 0.5: the share is clamped half a resample inside (0, 1), and p is
     * that clamp's level with the expansion over 50 items, a little above 1 / (1 + 2000) */
    assert_true(v[0].p > 1.0 / 2001.0 && v[0].p < 0.001);
    assert_int_equal(v[0].verdict, LW_VERDICT_PASS);
    free(v);
}

/* Values that are not 0/1: the p inverts the BCa interval the verdict reports. On skewed values
 * (exponential quantiles) a threshold just inside the one-sided 95% BCa end (the 90% interval's)
 * does not pass and one just outside does, either direction, with and without clusters (pairs of
 * items). Before, the p was the percentile bootstrap's: between the percentile's 5% quantile and
 * the BCa end it said INCONCLUSIVE (p above 0.05) while the interval excluded the threshold. */
static void test_bootstrap_p_agrees_with_the_interval(void **state) {
    (void)state;
    enum { N = 40, B = 2000 };
    double v[N];
    int cl[N];
    char ids[N][8], cls[N][8];
    for (int i = 0; i < N; i++) {
        v[i] = -log(1.0 - (i + 0.5) / N); /* right-skewed */
        cl[i] = i / 2;
        snprintf(ids[i], sizeof ids[i], "q%02d", i); /* the verdict orders items by name: this order */
        snprintf(cls[i], sizeof cls[i], "c%02d", i / 2);
    }
    for (int clustered = 0; clustered < 2; clustered++) {
        lw_ci ci;
        if (clustered) assert_int_equal(lw_ci_mean_clustered(v, cl, N, B, 0.90, 3, &ci), 0);
        else assert_int_equal(lw_ci_mean(v, N, B, 0.90, 3, &ci), 0); /* seed: the plan's 3 + hypothesis 0 */
        const double delta = 0.01 * (ci.hi - ci.lo);
        for (int k = 0; k < 4; k++) {
            const bool greater = k < 2, inside = k % 2;
            const double t = greater ? ci.lo + (inside ? delta : -delta) : ci.hi + (inside ? -delta : delta);
            char th[32];
            snprintf(th, sizeof th, "%.17g", t);
            const char *pp = single_plan("agree.plan.json", "score", greater ? "greater" : "less", th);
            lw_plan *plan = lw_plan_load(pp);
            assert_non_null(plan);
            lw_item_record r[N];
            for (int i = 0; i < N; i++)
                r[i] = (lw_item_record){.condition = "A", .item = ids[i], .metric = "score", .value = v[i],
                                        .cluster = clustered ? cls[i] : NULL};
            const char *rec = lw_test_tmpfile("agree.items.jsonl");
            assert_int_equal(lw_items_save(rec, lw_plan_sha256(plan), "test", r, N), 0);
            lw_plan_free(plan);
            int n;
            lw_verdict *vd = decide(pp, rec, &n);
            assert_string_equal(vd[0].test, clustered ? "BCa bootstrap, inverted, clustered" : "BCa bootstrap, inverted");
            if ((vd[0].p <= 0.05) == inside)
                fail_msg("%s, %s %g (%s the one-sided 95%% end %g): p = %g", clustered ? "clustered" : "plain",
                         greater ? ">" : "<", t, inside ? "inside" : "outside", greater ? ci.lo : ci.hi, vd[0].p);
            free(vd);
        }
    }
    /* where the old p disagreed: between the resamples' 5% quantile and the BCa end */
    lw_ci bca, pct;
    assert_int_equal(lw_ci_mean(v, N, B, 0.90, 3, &bca), 0);
    assert_int_equal(lw_bootstrap_mean(v, N, B, 0.90, 3, &pct), 0);
    assert_true(bca.lo > pct.lo); /* right skew moves the BCa end up */
    const double t = 0.5 * (bca.lo + pct.lo);
    lw_rng g; /* the same resamples, to compute the old p = (1 + resampled means <= t) / (1 + B) */
    lw_rng_seed(&g, 3);
    int null_side = 0;
    for (int b = 0; b < B; b++) {
        double s = 0;
        for (int i = 0; i < N; i++) s += v[lw_rng_below(&g, N)];
        null_side += s / N <= t;
    }
    const double old_p = (1.0 + null_side) / (1.0 + B);
    char th[32];
    snprintf(th, sizeof th, "%.17g", t);
    const char *pp = greater_plan("disagree.plan.json", "score", th);
    lw_plan *plan = lw_plan_load(pp);
    lw_item_record r[N];
    for (int i = 0; i < N; i++) r[i] = (lw_item_record){.condition = "A", .item = ids[i], .metric = "score", .value = v[i]};
    const char *rec = lw_test_tmpfile("disagree.items.jsonl");
    assert_int_equal(lw_items_save(rec, lw_plan_sha256(plan), "test", r, N), 0);
    lw_plan_free(plan);
    int n;
    lw_verdict *vd = decide(pp, rec, &n);
    fprintf(stderr, "threshold %g between the percentile end %g and the BCa end %g: p %g (percentile p %g)\n", t,
            pct.lo, bca.lo, vd[0].p, old_p);
    assert_true(old_p > 0.05);
    assert_true(vd[0].p <= 0.05);
    assert_int_equal(vd[0].verdict, LW_VERDICT_PASS);
    free(vd);
}

static void expect_evaluate_error(const char *plan_path, const char *rec, const char *needle) {
    lw_plan *plan = lw_plan_load(plan_path);
    assert_non_null(plan);
    lw_items *items = lw_items_load(&rec, 1);
    lw_verdict *v = NULL;
    int rc = items ? lw_verdict_evaluate(plan, items, &v) : -1;
    assert_int_equal(rc, -1);
    if (!strstr(lw_last_error(), needle)) fail_msg("error '%s' lacks '%s'", lw_last_error(), needle);
    lw_items_free(items);
    lw_plan_free(plan);
}

static void test_records_tied_to_the_plan(void **state) {
    (void)state;
    const char *hyp = "{\"id\": \"H\", \"metric\": \"em\", \"a\": \"A\", \"direction\": \"greater\", \"threshold\": 0.5}";
    const char *pp = write_plan("tied.plan.json", hyp, "holm");
    const char *without = write_records("noplan.items.jsonl", NULL, 10, 5, 5);
    expect_evaluate_error(pp, without, "not produced under a plan");
    lw_plan *plan = lw_plan_load(pp);
    const char *rec = write_records("tied.items.jsonl", plan, 10, 5, 5);
    lw_plan_free(plan);
    /* the plan edited after the run (one space more): refused */
    FILE *f = fopen(pp, "a");
    fputc(' ', f);
    fclose(f);
    expect_evaluate_error(pp, rec, "edited after the run");
    /* a different item set in a paired comparison: refused */
    const char *pp2 = write_plan("pairs.plan.json",
                                 "{\"id\": \"H\", \"metric\": \"em\", \"a\": \"A\", \"b\": \"C\", \"direction\": "
                                 "\"greater\", \"threshold\": 0}",
                                 "holm");
    plan = lw_plan_load(pp2);
    lw_item_record r[3] = {{.condition = "A", .item = "x", .metric = "em", .value = 1},
                           {.condition = "A", .item = "y", .metric = "em", .value = 1},
                           {.condition = "C", .item = "x", .metric = "em", .value = 0}};
    const char *rec2 = lw_test_tmpfile("pairs.items.jsonl");
    assert_int_equal(lw_items_save(rec2, lw_plan_sha256(plan), "test", r, 3), 0);
    lw_plan_free(plan);
    expect_evaluate_error(pp2, rec2, "not on the same items");
    /* the item named is the one missing: y is in A but not in C (it named the smaller id of the
     * two lists at the first difference whichever list lacked it: a present item, once) */
    expect_evaluate_error(pp2, rec2, "item 'y' is in 'A' but not in 'C'");
    plan = lw_plan_load(pp2);
    lw_item_record r2[4] = {{.condition = "A", .item = "b", .metric = "em", .value = 1},
                            {.condition = "A", .item = "c", .metric = "em", .value = 1},
                            {.condition = "C", .item = "a", .metric = "em", .value = 0},
                            {.condition = "C", .item = "c", .metric = "em", .value = 0}};
    assert_int_equal(lw_items_save(rec2, lw_plan_sha256(plan), "test", r2, 4), 0);
    lw_plan_free(plan);
    expect_evaluate_error(pp2, rec2, "item 'a' is in 'C' but not in 'A'");
    /* one condition drawn from two runs (two files under the same plan) is two samples pooled:
     * refused at load; different conditions in different files are fine */
    plan = lw_plan_load(pp2);
    const char *run1 = lw_test_tmpfile("run1.items.jsonl"), *run2 = lw_test_tmpfile("run2.items.jsonl");
    lw_item_record a1[2] = {{.condition = "A", .item = "x", .metric = "em", .value = 1},
                            {.condition = "C", .item = "x", .metric = "em", .value = 0}};
    lw_item_record a2[2] = {{.condition = "A", .item = "y", .metric = "em", .value = 1},
                            {.condition = "C", .item = "y", .metric = "em", .value = 0}};
    assert_int_equal(lw_items_save(run1, lw_plan_sha256(plan), "test", a1, 2), 0);
    assert_int_equal(lw_items_save(run2, lw_plan_sha256(plan), "test", a2, 2), 0);
    const char *both[2] = {run1, run2};
    lw_clear_error();
    assert_null(lw_items_load(both, 2));
    assert_non_null(strstr(lw_last_error(), "condition 'A' has records in"));
    assert_int_equal(lw_items_save(run2, lw_plan_sha256(plan), "test", a2 + 1, 1), 0); /* C only: still C twice */
    assert_null(lw_items_load(both, 2));
    assert_int_equal(lw_items_save(run1, lw_plan_sha256(plan), "test", a1, 1), 0); /* A in one, C in the other */
    lw_items *ok = lw_items_load(both, 2);
    assert_non_null(ok);
    lw_items_free(ok);
    /* one file given twice: named as such (it was "condition 'A' has records in F and in F") */
    const char *twice[2] = {run1, run1};
    assert_null(lw_items_load(twice, 2));
    if (!strstr(lw_last_error(), "is given twice (also as")) fail_msg("%s", lw_last_error());
    lw_plan_free(plan);
}

/* A threshold a 0/1 metric's mean (or difference) cannot reach decides nothing about the data:
 * "> -0.5" was INCONCLUSIVE at p = 1 and "< 2" PASS at p = 0. Refused, naming the hypothesis. An
 * exact_match of 2 (an edited file) silently moved the test to a bootstrap: refused too. */
static void test_threshold_within_the_metric(void **state) {
    (void)state;
    static const char *const bad[] = {"-0.5", "5", "1.0001"};
    for (int k = 0; k < 3; k++) {
        const char *pp = greater_plan("range.plan.json", "em", bad[k]);
        lw_plan *plan = lw_plan_load(pp);
        const char *rec = write_records("range.items.jsonl", plan, 10, 5, 5);
        lw_plan_free(plan);
        expect_evaluate_error(pp, rec, "is outside [0, 1], where a mean of these values (em, all 0 or 1) lies");
    }
    const char *pp = write_plan("range2.plan.json",
                                "{\"id\": \"D\", \"metric\": \"em\", \"a\": \"A\", \"b\": \"B\", \"direction\": "
                                "\"greater\", \"threshold\": -1.5}",
                                "none");
    lw_plan *plan = lw_plan_load(pp);
    const char *rec = write_records("range2.items.jsonl", plan, 10, 5, 5);
    lw_plan_free(plan);
    expect_evaluate_error(pp, rec, "threshold -1.5 is outside [-1, 1]");
    pp = greater_plan("em.plan.json", "exact_match", "0.5");
    plan = lw_plan_load(pp);
    lw_item_record r[2] = {{.condition = "A", .item = "x", .metric = "exact_match", .value = 1},
                           {.condition = "A", .item = "y", .metric = "exact_match", .value = 2}};
    const char *rec2 = lw_test_tmpfile("em.items.jsonl");
    assert_int_equal(lw_items_save(rec2, lw_plan_sha256(plan), "test", r, 2), 0);
    lw_plan_free(plan);
    expect_evaluate_error(pp, rec2, "item 'y' has exact_match 2, which is only ever 0 or 1");
    /* a metric bounded by definition (correct, top1, recall@k, ...) holds values in [0, 1]: "correct"
     * 0 and 5 alternating passed "> 0.5" by bootstrap with the mean 2.5 (an edited record) */
    pp = greater_plan("c5.plan.json", "correct", "0.5");
    plan = lw_plan_load(pp);
    lw_item_record c5[4] = {{.condition = "A", .item = "w", .metric = "correct", .value = 0},
                            {.condition = "A", .item = "x", .metric = "correct", .value = 5},
                            {.condition = "A", .item = "y", .metric = "correct", .value = 0},
                            {.condition = "A", .item = "z", .metric = "correct", .value = 5}};
    const char *rec3 = lw_test_tmpfile("c5.items.jsonl");
    assert_int_equal(lw_items_save(rec3, lw_plan_sha256(plan), "test", c5, 4), 0);
    lw_plan_free(plan);
    expect_evaluate_error(pp, rec3, "item 'x' has correct = 5, outside [0, 1]");
    /* within the range every threshold still decides (the edges included) */
    int n;
    pp = greater_plan("edge.plan.json", "em", "0");
    plan = lw_plan_load(pp);
    rec = write_records("edge.items.jsonl", plan, 10, 5, 5);
    lw_plan_free(plan);
    free(decide(pp, rec, &n));
}

static void expect_plan_error(const char *name, const char *text, const char *needle) {
    const char *path = lw_test_tmpfile(name);
    write_text(path, text);
    assert_null(lw_plan_load(path));
    if (!strstr(lw_last_error(), needle) || !strstr(lw_last_error(), path))
        fail_msg("error '%s' lacks '%s' or the path", lw_last_error(), needle);
}

static void test_bad_plans(void **state) {
    (void)state;
    const char *head = "{\"format\": \"latentwire.plan/1\", \"title\": \"t\", \"selection\": \"s\", \"hypotheses\": [";
    char buf[1024];
    snprintf(buf, sizeof buf, "%s{\"id\": \"H\", \"metric\": \"em\", \"a\": \"A\", \"direction\": \"greater\"}]}", head);
    expect_plan_error("nothr.json", buf, "'threshold' is missing");
    snprintf(buf, sizeof buf, "%s{\"id\": \"H\", \"metric\": \"em\", \"a\": \"A\", \"direction\": \"greater\", "
                              "\"threshold\": 0.5, \"treshold\": 0.6}]}", head);
    expect_plan_error("typo.json", buf, "unknown field 'treshold'");
    snprintf(buf, sizeof buf, "%s{\"id\": \"H\", \"metric\": \"em\", \"a\": \"A\", \"direction\": \"up\", "
                              "\"threshold\": 0.5}]}", head);
    expect_plan_error("dir.json", buf, "direction");
    /* a metric bounded by definition: a threshold it cannot reach is refused when the plan loads,
     * before any records (with fractional scores the check at evaluation never fired) */
    snprintf(buf, sizeof buf, "%s{\"id\": \"H\", \"metric\": \"correct\", \"a\": \"A\", \"direction\": \"greater\", "
                              "\"threshold\": 1.5}]}", head);
    expect_plan_error("correct.json", buf, "hypothesis H: threshold 1.5 is outside [0, 1], where a mean of metric correct lies");
    snprintf(buf, sizeof buf, "%s{\"id\": \"H\", \"metric\": \"ndcg@10\", \"a\": \"A\", \"b\": \"B\", "
                              "\"direction\": \"greater\", \"threshold\": -2}]}", head);
    expect_plan_error("ndcg.json", buf, "threshold -2 is outside [-1, 1], where a difference of means of metric ndcg@10");
    snprintf(buf, sizeof buf, "%s{\"id\": \"H\", \"metric\": \"score\", \"a\": \"A\", \"direction\": "
                              "\"greater\", \"threshold\": 3}]}", head);
    const char *unbounded = lw_test_tmpfile("logp.json");
    write_text(unbounded, buf);
    lw_plan *ok = lw_plan_load(unbounded); /* a metric of the user's own scale takes any threshold */
    assert_non_null(ok);
    lw_plan_free(ok);
    snprintf(buf, sizeof buf, "%s{\"id\": \"H\", \"metric\": \"em\", \"a\": \"A\", \"direction\": \"greater\", "
                              "\"threshold\": 0.5, \"test\": \"t-test\"}]}", head);
    expect_plan_error("test.json", buf, "test 't-test'");
    snprintf(buf, sizeof buf, "%s{\"id\": \"H\", \"metric\": \"em\", \"a\": \"A\", \"direction\": \"greater\", "
                              "\"threshold\": 0.5}, {\"id\": \"H\", \"metric\": \"em\", \"a\": \"B\", \"direction\": "
                              "\"greater\", \"threshold\": 0.5}]}", head);
    expect_plan_error("dup.json", buf, "appears twice");
    snprintf(buf, sizeof buf, "%s{\"id\": \"H\", \"metric\": \"em\", \"a\": \"A\", \"b\": \"B\", \"direction\": "
                              "\"greater\", \"threshold\": -0.1, \"test\": \"exact\"}]}", head);
    expect_plan_error("margin.json", buf, "needs test 'auto'");
    snprintf(buf, sizeof buf, "%s{\"id\": \"H\", \"metric\": \"em\", \"a\": \"A\", \"direction\": \"greater\", "
                              "\"threshold\": 0.9, \"threshold\": 0.1}]}", head);
    expect_plan_error("twice.json", buf, "duplicate");
    snprintf(buf, sizeof buf, "{\"format\": \"latentwire.plan/1\", \"title\": \"t\", \"selection\": \"s\", "
                              "\"resamples\": 4294968296, \"hypotheses\": [{\"id\": \"H\", \"metric\": \"em\", "
                              "\"a\": \"A\", \"direction\": \"greater\", \"threshold\": 0.5}]}");
    expect_plan_error("wrap.json", buf, "'resamples' must be an integer in [1000, 1000000]");
    expect_plan_error("empty.json", "{\"format\": \"latentwire.plan/1\", \"title\": \"t\", \"selection\": \"s\", "
                                    "\"hypotheses\": []}", "non-empty array");
    expect_plan_error("broken.json", "{\"format\": ", "not valid JSON");
    expect_plan_error("noformat.json", "{\"title\": \"t\"}", "format");
}

static void test_cli(void **state) {
    (void)state;
    const char *hyp = "{\"id\": \"H1\", \"metric\": \"em\", \"a\": \"A\", \"b\": \"B\", \"direction\": \"greater\", "
                      "\"threshold\": 0}";
    const char *pp = write_plan("cli.plan.json", hyp, "holm");
    lw_plan *plan = lw_plan_load(pp);
    const char *rec = write_records("cli.items.jsonl", plan, 20, 18, 2);
    lw_plan_free(plan);
    char args[2048], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "verdict %s %s", pp, rec);
    assert_int_equal(lw_test_run_cli(args, &out, &err), 0);
    assert_non_null(strstr(out, "PASS"));
    assert_non_null(strstr(out, "exact McNemar"));
    free(out);
    free(err);
    snprintf(args, sizeof args, "verdict %s %s --json", pp, rec);
    assert_int_equal(lw_test_run_cli(args, &out, &err), 0);
    assert_non_null(strstr(out, "\"verdict\": \"PASS\""));
    assert_non_null(strstr(out, "\"p_adjusted\""));
    assert_non_null(strstr(out, "\"alpha\": 0.05"));
    assert_non_null(strstr(out, "\"correction\": \"holm\""));
    free(out);
    free(err);
    snprintf(args, sizeof args, "verdict %s", pp);
    assert_int_equal(lw_test_run_cli(args, &out, &err), 2);
    free(out);
    free(err);
    /* values near the bound 1e100 print in scientific notation, not as a 100-digit cell */
    const char *pb = greater_plan("big.plan.json", "gain", "0");
    plan = lw_plan_load(pb);
    assert_non_null(plan);
    lw_item_record big[20];
    char big_ids[20][8];
    for (int i = 0; i < 20; i++) {
        snprintf(big_ids[i], sizeof big_ids[i], "b%d", i);
        big[i] = (lw_item_record){.condition = "A", .item = big_ids[i], .metric = "gain", .value = -1e99 * (1 + i % 3)};
    }
    rec = lw_test_tmpfile("big.items.jsonl");
    assert_int_equal(lw_items_save(rec, lw_plan_sha256(plan), "test", big, 20), 0);
    lw_plan_free(plan);
    snprintf(args, sizeof args, "verdict %s %s", pb, rec);
    assert_int_equal(lw_test_run_cli(args, &out, &err), 0);
    assert_non_null(strstr(out, "e+99"));
    for (const char *line = out; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *end = strchr(line, '\n');
        assert_true((end ? (size_t)(end - line) : strlen(line)) < 200);
    }
    free(out);
    free(err);
    /* the plan's title and ids are the file's text: control bytes print escaped (ESC[2J in an
     * id cleared the terminal) */
    const char *hyp_esc = "{\"id\": \"H\\u001b[2J\", \"metric\": \"em\", \"a\": \"A\", \"b\": \"B\", "
                          "\"direction\": \"greater\", \"threshold\": 0}";
    const char *pe = write_plan("esc.plan.json", hyp_esc, "holm");
    plan = lw_plan_load(pe);
    assert_non_null(plan);
    rec = write_records("esc.items.jsonl", plan, 20, 18, 2);
    lw_plan_free(plan);
    snprintf(args, sizeof args, "verdict %s %s", pe, rec);
    assert_int_equal(lw_test_run_cli(args, &out, &err), 0);
    assert_null(strchr(out, 0x1b));
    assert_non_null(strstr(out, "H\\x1b[2J"));
    free(out);
    free(err);
}

/* Records in clusters: every item of the 40 above written twice, the copies one cluster. The
 * duplicates add no evidence, so the verdict's tests and intervals must be those of the 40
 * (exact binomial and McNemar on the effective counts); through a save and a load, since the
 * cluster field travels in the record file. A condition where only some records name a
 * cluster, or an item whose cluster differs between the two conditions, is refused. */
static const char *write_clustered(const char *name, const lw_plan *plan, int n, int na, int nb, int mode) {
    const char *path = lw_test_tmpfile(name);
    lw_item_record *r = calloc((size_t)(4 * n), sizeof *r);
    char(*ids)[24] = calloc((size_t)(2 * n), sizeof *ids), (*cl)[16] = calloc((size_t)n, sizeof *cl);
    for (int i = 0; i < n; i++) {
        snprintf(cl[i], sizeof cl[i], "pair%03d", i);
        for (int copy = 0; copy < 2; copy++) {
            int k = 2 * i + copy;
            snprintf(ids[k], sizeof ids[k], "item%03d.%d", i, copy);
            const char *ca = cl[i], *cb = cl[i];
            if (mode == 1 && k == 5) ca = NULL;         /* one record of A without a cluster */
            if (mode == 2 && k == 7) cb = cl[(i + 1) % n]; /* item 7 in another cluster under B */
            r[2 * k] = (lw_item_record){.condition = "A", .item = ids[k], .metric = "em", .value = i < na, .cluster = ca};
            r[2 * k + 1] =
                (lw_item_record){.condition = "B", .item = ids[k], .metric = "em", .value = i < nb, .cluster = cb};
        }
    }
    assert_int_equal(lw_items_save(path, lw_plan_sha256(plan), "test", r, 4 * n), 0);
    free(r), free(ids), free(cl);
    return path;
}

static void test_clusters(void **state) {
    (void)state;
    const char *hyp =
        "{\"id\": \"better\", \"metric\": \"em\", \"a\": \"A\", \"b\": \"B\", \"direction\": \"greater\", "
        "\"threshold\": 0},"
        "{\"id\": \"level\", \"metric\": \"em\", \"a\": \"A\", \"direction\": \"greater\", \"threshold\": 0.6}";
    const char *pp = write_plan("clusters.plan.json", hyp, "none");
    lw_plan *plan = lw_plan_load(pp);
    assert_non_null(plan);
    const char *plain = write_records("clusters.plain.jsonl", plan, 40, 36, 10);
    const char *twice = write_clustered("clusters.twice.jsonl", plan, 40, 36, 10, 0);
    const char *mixed = write_clustered("clusters.mixed.jsonl", plan, 40, 36, 10, 1);
    const char *moved = write_clustered("clusters.moved.jsonl", plan, 40, 36, 10, 2);
    int n;
    lw_verdict *v = decide(pp, plain, &n), *w = decide(pp, twice, &n);
    for (int h = 0; h < 2; h++) {
        assert_int_equal(w[h].n, 80);
        assert_int_equal(w[h].ci.n_clusters, 40);
        assert_true(fabs(w[h].ci.design_effect - 2.0) < 1e-12);
        assert_true(fabs(w[h].p - v[h].p) < 1e-12 * fmax(1.0, 1.0 / v[h].p) * v[h].p + 1e-300);
        assert_true(fabs(w[h].ci.lo - v[h].ci.lo) < 1e-12 && fabs(w[h].ci.hi - v[h].ci.hi) < 1e-12);
        assert_int_equal(w[h].verdict, v[h].verdict);
    }
    assert_string_equal(w[0].test, "exact McNemar, clustered");
    assert_string_equal(w[1].test, "exact binomial, clustered");
    assert_true(fabs(w[1].p - binom_tail_naive(36, 40, 0.6)) < 1e-12);
    free(v), free(w);
    lw_items *items = lw_items_load(&mixed, 1);
    assert_non_null(items);
    assert_int_equal(lw_verdict_evaluate(plan, items, &v), -1);
    assert_non_null(strstr(lw_last_error(), "name a cluster"));
    lw_items_free(items);
    items = lw_items_load(&moved, 1);
    assert_non_null(items);
    assert_int_equal(lw_verdict_evaluate(plan, items, &v), -1);
    assert_non_null(strstr(lw_last_error(), "keeps its cluster"));
    lw_items_free(items);
    /* a cluster that is not a non-empty string is one error naming file, line and field */
    const char *bad = lw_test_tmpfile("clusters.bad.jsonl");
    char text[512];
    snprintf(text, sizeof text,
             "{\"format\": \"latentwire.items/1\", \"plan_sha256\": \"%s\"}\n"
             "{\"condition\": \"A\", \"item\": \"x\", \"metric\": \"em\", \"value\": 1, \"cluster\": 3}\n",
             lw_plan_sha256(plan));
    write_text(bad, text);
    assert_null(lw_items_load(&bad, 1));
    assert_non_null(strstr(lw_last_error(), "line 2: field 'cluster'"));
    lw_plan_free(plan);
}

/* 0/1 values never get the percentile bootstrap, even where the plan asks for it: all pairs tied
 * (or all items right) make every resample equal the estimate, so the bootstrap p is
 * 1 / (1 + resamples) at any n. A non-inferiority margin on paired 0/1 outcomes inverts Newcombe's
 * score interval instead. With every pair right under both conditions its lower bound at level L
 * is minus the larger of z^2 / (n + z^2) (Wilson's, margins constant so phi = 0) and the one-sided
 * Clopper-Pearson bound on the discordance rate, 1 - ((1 - L) / 2)^(1/n) (z = the normal quantile
 * at (1 + L) / 2). It meets -0.1 where z^2 = n / 9 and where (1 - L) / 2 = 0.9^n, so the p of
 * "A - B > -0.1", (1 - L) / 2 at the later of the two, is min(0.5, max(0.9^n, Phi(-sqrt(n / 9))))
 * in closed form (0.5: an interval inverted at level 0 still reaches below -0.1). One condition
 * gets the exact binomial. */
static double tied_margin_p(int n) {
    return fmin(0.5, fmax(pow(0.9, n), 0.5 * erfc(sqrt(n / 9.0) / sqrt(2.0))));
}
static void test_binary_never_bootstrapped(void **state) {
    (void)state;
    const char *hyp =
        "{\"id\": \"margin\", \"metric\": \"em\", \"a\": \"A\", \"b\": \"B\", \"direction\": \"greater\", "
        "\"threshold\": -0.1, \"test\": \"bootstrap\"},"
        "{\"id\": \"level\", \"metric\": \"em\", \"a\": \"A\", \"direction\": \"greater\", \"threshold\": 0.85, "
        "\"test\": \"bootstrap\"},"
        "{\"id\": \"below\", \"metric\": \"em\", \"a\": \"B\", \"b\": \"A\", \"direction\": \"less\", "
        "\"threshold\": 0.1, \"test\": \"auto\"}";
    const char *pp = write_plan("binary.plan.json", hyp, "none");
    lw_plan *plan = lw_plan_load(pp);
    assert_non_null(plan);
    const char *five = write_records("binary.5.jsonl", plan, 5, 5, 5);
    const char *fifty = write_records("binary.50.jsonl", plan, 50, 50, 50);
    const char *pairs = write_clustered("binary.25x2.jsonl", plan, 25, 25, 25, 0);
    int n;
    lw_verdict *v = decide(pp, five, &n);
    assert_string_equal(v[0].test, "Newcombe score, inverted");
    assert_true(fabs(v[0].p - 0.5) < 1e-9 && fabs(tied_margin_p(5) - 0.5) < 1e-15);
    assert_int_equal(v[0].verdict, LW_VERDICT_INCONCLUSIVE); /* the bootstrap said p = 1 / 2001: PASS */
    assert_string_equal(v[1].test, "exact binomial");
    assert_true(fabs(v[1].p - pow(0.85, 5)) < 1e-12);
    assert_int_equal(v[1].verdict, LW_VERDICT_INCONCLUSIVE);
    assert_true(fabs(v[2].p - v[0].p) < 1e-12); /* B - A < 0.1 mirrors A - B > -0.1 */
    free(v);
    v = decide(pp, fifty, &n);
    assert_true(fabs(v[0].p - tied_margin_p(50)) < 1e-9); /* 0.0092: Wilson's bound binds */
    assert_int_equal(v[0].verdict, LW_VERDICT_PASS);
    free(v);
    v = decide(pp, pairs, &n); /* 25 clusters of two identical items: 25 items' worth */
    assert_string_equal(v[0].test, "Newcombe score, inverted, clustered");
    assert_true(fabs(v[0].p - tied_margin_p(25)) < 1e-9); /* 0.0718: Clopper-Pearson's binds */
    assert_int_equal(v[0].verdict, LW_VERDICT_INCONCLUSIVE);
    free(v);
    /* with discordant pairs: at level 1 - 2p the interval's lower bound is the threshold */
    const char *mixed = write_records("binary.mixed.jsonl", plan, 40, 36, 30);
    v = decide(pp, mixed, &n);
    double a[40], b[40], unused;
    for (int i = 0; i < 40; i++) a[i] = i < 36, b[i] = i < 30;
    lw_ci ci;
    assert_true(v[0].p > 0 && v[0].p < 0.5);
    assert_int_equal(lw_ci_paired(a, b, 40, 100, 1.0 - 2.0 * v[0].p, 1, &ci, &unused), 0);
    assert_true(fabs(ci.lo - (-0.1)) < 1e-6);
    free(v);
    lw_plan_free(plan);
}

/* Records a verdict must not read past or around: a NUL byte (the line split stopped there and the
 * records after it were never counted), a key written twice, an unknown field (a typo "spilt"), a
 * split other than "selection", and values whose mean overflows (PASS at +inf before). */
static void test_bad_records(void **state) {
    (void)state;
    const char *pp = write_plan("bad_records.plan.json",
                                "{\"id\": \"h\", \"metric\": \"em\", \"a\": \"A\", \"direction\": \"greater\", "
                                "\"threshold\": 0.5}",
                                "holm");
    lw_plan *plan = lw_plan_load(pp);
    assert_non_null(plan);
    char head[200], text[1024];
    snprintf(head, sizeof head, "{\"format\": \"latentwire.items/1\", \"plan_sha256\": \"%s\"}\n", lw_plan_sha256(plan));
    static const char *const bodies[][2] = {
        {"{\"condition\": \"A\", \"item\": \"i\", \"metric\": \"em\", \"value\": 0, \"value\": 1}\n", "duplicate"},
        {"{\"condition\": \"A\", \"item\": \"i\", \"metric\": \"em\", \"value\": 1, \"spilt\": \"selection\"}\n",
         "unknown field 'spilt'"},
        {"{\"condition\": \"A\", \"item\": \"i\", \"metric\": \"em\", \"value\": 1, \"split\": \"select\"}\n",
         "field 'split' must be \"selection\""},
    };
    for (size_t k = 0; k < sizeof bodies / sizeof bodies[0]; k++) {
        const char *path = lw_test_tmpfile("bad_records.jsonl");
        snprintf(text, sizeof text, "%s%s", head, bodies[k][0]);
        write_text(path, text);
        assert_null(lw_items_load(&path, 1));
        if (!strstr(lw_last_error(), bodies[k][1])) fail_msg("%s: expected \"%s\"", lw_last_error(), bodies[k][1]);
    }
    /* a NUL byte after the first record */
    const char *nul = lw_test_tmpfile("nul.jsonl");
    FILE *f = fopen(nul, "wb");
    fputs(head, f);
    fputs("{\"condition\": \"A\", \"item\": \"i1\", \"metric\": \"em\", \"value\": 1}\n", f);
    fputc('\0', f);
    fputs("junk\n{\"condition\": \"A\", \"item\": \"i2\", \"metric\": \"em\", \"value\": 0}\n", f);
    fclose(f);
    assert_null(lw_items_load(&nul, 1));
    assert_non_null(strstr(lw_last_error(), "line 3 contains a NUL byte"));
    /* finite values whose sum is not */
    const char *big = lw_test_tmpfile("big.jsonl");
    snprintf(text, sizeof text, "%s", head);
    for (int i = 0; i < 3; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text),
                 "{\"condition\": \"A\", \"item\": \"i%d\", \"metric\": \"em\", \"value\": 1e308}\n", i);
    write_text(big, text);
    lw_items *items = lw_items_load(&big, 1);
    assert_non_null(items);
    lw_verdict *v = NULL;
    assert_int_equal(lw_verdict_evaluate(plan, items, &v), -1);
    assert_non_null(strstr(lw_last_error(), "has em = 1e+308, beyond +-1e+100"));
    lw_items_free(items);
    lw_plan_free(plan);
}

/* The file's lines (text split at newlines, each without it), n of them; malloc'd copies. */
static char **split_lines(const char *text, int *n) {
    char **l = NULL;
    *n = 0;
    for (const char *s = text; *s;) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        l = realloc(l, sizeof *l * (size_t)(*n + 1));
        l[*n] = strndup(s, len);
        (*n)++;
        s += len + (nl ? 1 : 0);
    }
    return l;
}

/* Writes lines[0..n) but line `skip` (-1: none), with line `swap` (-1: none) replaced by `with`. */
static void write_lines(const char *path, char **l, int n, int skip, int swap, const char *with) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < n; i++)
        if (i != skip) fprintf(f, "%s\n", i == swap ? with : l[i]);
    fclose(f);
}

static unsigned long zcrc(const char *s) { return crc32(crc32(0L, Z_NULL, 0), (const Bytef *)s, (uInt)strlen(s)); }

/* body (a compact JSON object) as lw_items_save writes it: ending in ,"crc32":"<CRC-32 of body>"}. */
static void sealed(char *out, size_t n, const char *body) {
    snprintf(out, n, "%.*s,\"crc32\":\"%08lx\"}", (int)strlen(body) - 1, body, zcrc(body));
}

/* loading path is refused with a message containing want */
static void items_refused(const char *path, const char *want) {
    lw_items *it = lw_items_load(&path, 1);
    if (it) fail_msg("%s loaded; expected \"%s\"", path, want);
    if (!strstr(lw_last_error(), want)) fail_msg("%s: expected \"%s\"", lw_last_error(), want);
}

/* Every line of records.jsonl (latentwire.items/1) ends in its CRC-32, as every records line of every
 * verb does, and the header counts the records and items written: a value edited with sed (0.0 ->
 * 1.0 flipped verdicts), a record line deleted (an item dropped from every condition gave a verdict
 * on fewer items), a checksum deleted from one line, and a header stripped of its checksum are
 * refused, naming the file and line; a file from before checksums (none on any line, no counts)
 * still loads. */
static void test_items_checksum(void **state) {
    (void)state;
    const char *pp = write_plan("crc.plan.json",
                                "{\"id\": \"H\", \"metric\": \"em\", \"a\": \"A\", \"b\": \"B\", \"direction\": "
                                "\"greater\", \"threshold\": 0}",
                                "none");
    lw_plan *plan = lw_plan_load(pp);
    assert_non_null(plan);
    const char *sha = lw_plan_sha256(plan);
    enum { ITEMS = 6 };
    lw_item_record r[2 * ITEMS];
    char ids[ITEMS][16];
    for (int i = 0; i < ITEMS; i++) {
        snprintf(ids[i], sizeof ids[i], "q%d", i);
        r[i] = (lw_item_record){.condition = "A", .item = ids[i], .metric = "em", .value = 0};
        r[ITEMS + i] = (lw_item_record){.condition = "B", .item = ids[i], .metric = "em", .value = 0};
    }
    r[0].split = "selection";
    r[ITEMS].split = "selection";
    r[1].cluster = r[ITEMS + 1].cluster = "c1";
    r[2].cluster = r[ITEMS + 2].cluster = "c1";
    for (int i = 3; i < ITEMS; i++) r[i].cluster = r[ITEMS + i].cluster = ids[i];
    const char *path = lw_test_tmpfile("crc.items.jsonl");
    assert_int_equal(lw_items_save(path, sha, "test", r, 2 * ITEMS), 0);
    char *text = lw_test_read_file(path);
    assert_non_null(text);
    int n;
    char **l = split_lines(text, &n);
    assert_int_equal(n, 1 + 2 * ITEMS);
    /* the exact lines: the compact object, then its CRC-32 (zlib's, of the line without the field) */
    char body[512], want[600];
    snprintf(body, sizeof body,
             "{\"format\":\"latentwire.items/1\",\"plan_sha256\":\"%s\",\"source\":\"test\",\"records\":%d,"
             "\"items\":%d}", sha, 2 * ITEMS, ITEMS);
    sealed(want, sizeof want, body);
    assert_string_equal(l[0], want);
    sealed(want, sizeof want, "{\"condition\":\"A\",\"item\":\"q0\",\"metric\":\"em\",\"value\":0.0,\"split\":"
                              "\"selection\"}");
    assert_string_equal(l[1], want);
    sealed(want, sizeof want, "{\"condition\":\"A\",\"item\":\"q1\",\"metric\":\"em\",\"value\":0.0,\"cluster\":"
                              "\"c1\"}");
    assert_string_equal(l[2], want);
    for (int i = 0; i < n; i++) { /* every line: its last field is the CRC of the rest */
        char *at = strstr(l[i], ",\"crc32\":\"");
        assert_non_null(at);
        assert_int_equal(strlen(at), strlen(",\"crc32\":\"00000000\"}"));
        char *rest = strndup(l[i], (size_t)(at - l[i]) + 1);
        rest[at - l[i]] = '}';
        char hex[9];
        snprintf(hex, sizeof hex, "%08lx", zcrc(rest));
        assert_memory_equal(at + strlen(",\"crc32\":\""), hex, 8);
        free(rest);
    }
    lw_items *it = lw_items_load(&path, 1);
    assert_non_null(it);
    assert_int_equal(lw_items_count(it), 2 * ITEMS);
    lw_verdict *v = NULL;
    assert_int_equal(lw_verdict_evaluate(plan, it, &v), 0);
    assert_int_equal(v[0].n, ITEMS - 1);
    assert_int_equal(v[0].verdict, LW_VERDICT_INCONCLUSIVE); /* all pairs tied */
    free(v);
    lw_items_free(it);

    /* sed 's/"value":0.0,/"value":1.0,/' on A's q2 (line 4): refused naming the line */
    const char *edited = lw_test_tmpfile("crc.edited.jsonl");
    char line[600];
    snprintf(line, sizeof line, "%s", l[3]);
    char *val = strstr(line, "\"value\":0.0");
    assert_non_null(val);
    val[strlen("\"value\":")] = '1';
    write_lines(edited, l, n, -1, 3, line);
    items_refused(edited, "crc.edited.jsonl: line 4 does not match its checksum: the file was edited or damaged; "
                          "run the work that wrote it again");
    /* and through the CLI: exit 1, one line, no verdict */
    char args[2048], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "verdict %s %s", pp, edited);
    assert_int_not_equal(lw_test_run_cli(args, &out, &err), 0);
    assert_null(strstr(out, "PASS"));
    assert_non_null(strstr(err, "line 4 does not match its checksum"));
    free(out);
    free(err);

    /* one record line deleted: the header's count names both numbers */
    const char *deleted = lw_test_tmpfile("crc.deleted.jsonl");
    write_lines(deleted, l, n, 5, -1, NULL);
    items_refused(deleted, "crc.deleted.jsonl: the header counts 12 records but the file holds 11");
    /* an item's records deleted from every condition (A's q4 on line 6, B's on line 12) */
    FILE *f = fopen(deleted, "w");
    for (int i = 0; i < n; i++)
        if (i != 5 && i != 5 + ITEMS) fprintf(f, "%s\n", l[i]);
    fclose(f);
    items_refused(deleted, "the header counts 12 records but the file holds 10");
    /* a line pasted in twice: one more than counted */
    f = fopen(deleted, "w");
    for (int i = 0; i < n; i++) fprintf(f, "%s\n", l[i]);
    fprintf(f, "%s\n", l[n - 1]);
    fclose(f);
    items_refused(deleted, "the header counts 12 records but the file holds 13");
    /* the item count: a header claiming 5 items, with its CRC made anew */
    snprintf(body, sizeof body,
             "{\"format\":\"latentwire.items/1\",\"plan_sha256\":\"%s\",\"source\":\"test\",\"records\":%d,"
             "\"items\":5}", sha, 2 * ITEMS);
    sealed(want, sizeof want, body);
    write_lines(deleted, l, n, -1, 0, want);
    items_refused(deleted, "the header counts 5 items but the file holds 6");

    /* the crc32 field deleted from one record line: not read as a file from before checksums */
    const char *stripped = lw_test_tmpfile("crc.stripped.jsonl");
    snprintf(line, sizeof line, "%s", l[3]);
    char *at = strstr(line, ",\"crc32\":");
    strcpy(at, "}");
    write_lines(stripped, l, n, -1, 3, line);
    items_refused(stripped, "crc.stripped.jsonl: line 4 does not match its checksum");
    /* ... from the header (its counts kept, or removed too): the later lines still carry theirs */
    snprintf(line, sizeof line, "%s", l[0]);
    at = strstr(line, ",\"crc32\":");
    strcpy(at, "}");
    write_lines(stripped, l, n, -1, 0, line);
    items_refused(stripped, "crc.stripped.jsonl: line 1 does not match its checksum");
    snprintf(line, sizeof line, "{\"format\":\"latentwire.items/1\",\"plan_sha256\":\"%s\",\"source\":\"test\"}",
             sha);
    write_lines(stripped, l, n, -1, 0, line);
    items_refused(stripped, "crc.stripped.jsonl: line 1 does not match its checksum");
    /* a checksummed header without the counts no writer leaves out */
    sealed(want, sizeof want, line);
    write_lines(stripped, l, n, -1, 0, want);
    items_refused(stripped, "no record count");

    /* a file from before checksums: no crc32 on any line, no counts in the header; loads as it is */
    const char *old = lw_test_tmpfile("crc.old.jsonl");
    f = fopen(old, "w");
    fprintf(f, "{\"format\": \"latentwire.items/1\", \"plan_sha256\": \"%s\", \"source\": \"test\"}\n", sha);
    for (int i = 1; i < n; i++) {
        snprintf(line, sizeof line, "%s", l[i]);
        strcpy(strstr(line, ",\"crc32\":"), "}");
        fprintf(f, "%s\n", line);
    }
    fclose(f);
    it = lw_items_load(&old, 1);
    if (!it) fail_msg("%s", lw_last_error());
    assert_int_equal(lw_items_count(it), 2 * ITEMS);
    assert_int_equal(lw_verdict_evaluate(plan, it, &v), 0);
    assert_int_equal(v[0].n, ITEMS - 1);
    free(v);
    lw_items_free(it);
    /* an empty run: a header counting 0 records, and nothing after it */
    assert_int_equal(lw_items_save(path, sha, "test", r, 0), 0);
    it = lw_items_load(&path, 1);
    assert_non_null(it);
    assert_int_equal(lw_items_count(it), 0);
    lw_items_free(it);

    for (int i = 0; i < n; i++) free(l[i]);
    free(l);
    free(text);
    lw_plan_free(plan);
}

/* The margin test's floor and its order with McNemar's test. One pair going A's way cannot show
 * "A - B > -0.5" at p below 0.25 (under the null theta <= t a pair goes A's way with probability at
 * most (1 + t) / 2 = 0.25), nor two pairs below 0.0625, though Newcombe's bounded interval never
 * reaches -0.5 and its inversion alone said 5e-13. And "A - B > 1e-12" or "> 0.19" is a stronger claim than "A - B > 0": its p is never
 * below McNemar's 0.0625 for 4 of 5 pairs in A's favour. */
static void test_margin_floor_and_order(void **state) {
    (void)state;
    const char *hyp =
        "{\"id\": \"far\", \"metric\": \"em\", \"a\": \"A\", \"b\": \"B\", \"direction\": \"greater\", "
        "\"threshold\": -0.5},"
        "{\"id\": \"better\", \"metric\": \"em\", \"a\": \"A\", \"b\": \"B\", \"direction\": \"greater\", "
        "\"threshold\": 0},"
        "{\"id\": \"tiny\", \"metric\": \"em\", \"a\": \"A\", \"b\": \"B\", \"direction\": \"greater\", "
        "\"threshold\": 1e-12},"
        "{\"id\": \"margin\", \"metric\": \"em\", \"a\": \"A\", \"b\": \"B\", \"direction\": \"greater\", "
        "\"threshold\": 0.19},"
        "{\"id\": \"mirror\", \"metric\": \"em\", \"a\": \"B\", \"b\": \"A\", \"direction\": \"less\", "
        "\"threshold\": 0.5}";
    const char *pp = write_plan("floor.plan.json", hyp, "none");
    lw_plan *plan = lw_plan_load(pp);
    assert_non_null(plan);
    const char *one = write_records("floor.1.jsonl", plan, 1, 1, 0);
    const char *two = write_records("floor.2.jsonl", plan, 2, 2, 0);
    const char *five = write_records("floor.5.jsonl", plan, 5, 4, 0);
    lw_plan_free(plan);
    int n;
    lw_verdict *v = decide(pp, one, &n);
    assert_true(fabs(v[0].p - 0.25) < 1e-12);
    assert_true(fabs(v[4].p - 0.25) < 1e-12);
    assert_int_equal(v[0].verdict, LW_VERDICT_INCONCLUSIVE);
    free(v);
    v = decide(pp, two, &n);
    assert_true(fabs(v[0].p - 0.0625) < 1e-12);
    assert_int_equal(v[0].verdict, LW_VERDICT_INCONCLUSIVE);
    free(v);
    v = decide(pp, five, &n);
    assert_true(fabs(v[1].p - 0.0625) < 1e-12); /* McNemar: 4 discordant pairs, all A's */
    assert_int_equal(v[1].verdict, LW_VERDICT_INCONCLUSIVE);
    for (int h = 2; h <= 3; h++) {
        assert_true(v[h].p >= v[1].p);
        assert_int_equal(v[h].verdict, LW_VERDICT_INCONCLUSIVE);
    }
    free(v);
}

/* One non-0/1 value, or many equal ones, give the bootstrap no sampling error: its interval is a
 * point and its p 1 / (1 + resamples) at any n, so a single item "passed" at p 0.0005. Nothing is
 * tested then: INCONCLUSIVE with p 1, on either side of the threshold, alone or paired. */
static void no_spread_case(int n, double a, const char *threshold, const char *b_field, double b) {
    char h[256];
    snprintf(h, sizeof h,
             "{\"id\": \"H\", \"metric\": \"ndcg\", \"a\": \"A\", %s\"direction\": \"greater\", "
             "\"threshold\": %s}",
             b_field, threshold);
    const char *pp = write_plan("spread.plan.json", h, "none");
    lw_plan *plan = lw_plan_load(pp);
    assert_non_null(plan);
    lw_item_record r[20];
    char ids[10][16];
    int m = 0;
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "q%d", i);
        r[m++] = (lw_item_record){.condition = "A", .item = ids[i], .metric = "ndcg", .value = a};
        if (*b_field) r[m++] = (lw_item_record){.condition = "B", .item = ids[i], .metric = "ndcg", .value = b};
    }
    const char *rec = lw_test_tmpfile("spread.items.jsonl");
    assert_int_equal(lw_items_save(rec, lw_plan_sha256(plan), "test", r, m), 0);
    lw_plan_free(plan);
    int k;
    lw_verdict *v = decide(pp, rec, &k);
    assert_true(v[0].no_spread);
    assert_int_equal(v[0].verdict, LW_VERDICT_INCONCLUSIVE);
    assert_true(v[0].p == 1.0);
    assert_int_equal(v[0].n, n);
    free(v);
}

/* Few units: n values spread above the threshold, each its own item (cluster NULL) or all in
 * clusters of `per` items. The bootstrap alone gave p = 1 / (1 + resamples) to 2 items or 2
 * clusters; no test can do better than 2^-units (the values evenly about a null mean at the
 * threshold), and one cluster is one unit with no spread at all. */
static lw_verdict *few_units(int n, int per, double big, int *k) {
    const char *pp = greater_plan("few.plan.json", "ndcg", "0.3");
    lw_plan *plan = lw_plan_load(pp);
    assert_non_null(plan);
    lw_item_record r[40];
    char ids[40][16], cls[40][16];
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "q%d", i);
        snprintf(cls[i], sizeof cls[i], "c%d", per ? i / per : i);
        r[i] = (lw_item_record){.condition = "A", .item = ids[i], .metric = "ndcg", .value = 0.4 + 0.05 * (i % 11),
                                .cluster = per ? cls[i] : NULL};
    }
    if (big != 0) r[0].value = big;
    const char *rec = lw_test_tmpfile("few.items.jsonl");
    assert_int_equal(lw_items_save(rec, lw_plan_sha256(plan), "test", r, n), 0);
    lw_plan_free(plan);
    if (big != 0) {
        expect_evaluate_error(pp, rec, "item 'q0' has ndcg = 1e+308, beyond +-1e+100");
        return NULL;
    }
    return decide(pp, rec, k);
}

static void test_few_units(void **state) {
    (void)state;
    int k;
    lw_verdict *v = few_units(2, 0, 0, &k); /* 2 items: p >= 1/4 */
    assert_true(v[0].p >= 0.25);
    assert_int_not_equal(v[0].verdict, LW_VERDICT_PASS);
    free(v);
    v = few_units(20, 10, 0, &k); /* 2 clusters of 10 */
    assert_true(v[0].p >= 0.25);
    assert_int_not_equal(v[0].verdict, LW_VERDICT_PASS);
    free(v);
    v = few_units(10, 10, 0, &k); /* 1 cluster: a point interval, nothing tested */
    assert_true(v[0].no_spread);
    assert_true(v[0].p == 1.0);
    assert_int_equal(v[0].verdict, LW_VERDICT_INCONCLUSIVE);
    free(v);
    v = few_units(20, 0, 0, &k); /* 20 items: the floor 2^-20 is below the bootstrap's own p */
    assert_true(v[0].p >= 1.0 / 2001.0 && v[0].p < 0.01 && v[0].p > pow(2.0, -20)); /* the expanded clamp */
    assert_int_equal(v[0].verdict, LW_VERDICT_PASS);
    free(v);
    assert_null(few_units(10, 0, 1e308, &k)); /* one huge value: refused, not an interval beside the mean */
}

/* The same floor for the exact tests on clusters: 2 clusters of 10 items, 18 right, counted as 20
 * items (the clusters' means agree, so deff was 1) passed "> 0.5" at p = 2e-4; no test can take 2
 * clusters below 0.5^2. Clusters whose means agree up to rounding are no spread. */
static void test_clustered_floor_and_equal_means(void **state) {
    (void)state;
    const char *pp = greater_plan("cl2.plan.json", "em", "0.5");
    lw_plan *plan = lw_plan_load(pp);
    assert_non_null(plan);
    lw_item_record r[20];
    char ids[20][8];
    for (int i = 0; i < 20; i++) {
        snprintf(ids[i], sizeof ids[i], "q%d", i);
        r[i] = (lw_item_record){.condition = "A", .item = ids[i], .metric = "em", .value = i % 10 == 9 ? 0.0 : 1.0,
                                .cluster = i < 10 ? "c0" : "c1"};
    }
    const char *rec = lw_test_tmpfile("cl2.items.jsonl");
    assert_int_equal(lw_items_save(rec, lw_plan_sha256(plan), "test", r, 20), 0);
    lw_plan_free(plan);
    int n;
    lw_verdict *v = decide(pp, rec, &n);
    assert_true(v[0].p >= 0.25);
    assert_int_not_equal(v[0].verdict, LW_VERDICT_PASS);
    free(v);
    /* {0.1, 0.2} and {0.15}: the same mean but for rounding */
    pp = greater_plan("eq.plan.json", "ndcg", "0.01");
    plan = lw_plan_load(pp);
    assert_non_null(plan);
    const double vals[3] = {0.1, 0.2, 0.15};
    const char *cls[3] = {"c0", "c0", "c1"};
    for (int i = 0; i < 3; i++)
        r[i] = (lw_item_record){.condition = "A", .item = ids[i], .metric = "ndcg", .value = vals[i], .cluster = cls[i]};
    rec = lw_test_tmpfile("eq.items.jsonl");
    assert_int_equal(lw_items_save(rec, lw_plan_sha256(plan), "test", r, 3), 0);
    lw_plan_free(plan);
    v = decide(pp, rec, &n);
    assert_true(v[0].no_spread);
    assert_string_equal(v[0].test, "none (the cluster means do not vary)");
    assert_int_equal(v[0].verdict, LW_VERDICT_INCONCLUSIVE);
    free(v);
}

/* The exact tests on clusters count n / D items, and D (Kish's deff over Korn and Graubard's
 * degrees-of-freedom factor) grows with the level. The binomial test at one-sided level a' and the
 * clustered Clopper-Pearson interval at two-sided 1 - 2 a' are one test: p <= a' exactly when the
 * interval's lower end clears the threshold, at every a' from 1e-5 to 0.4, Holm's small levels
 * included; so are the inverted Newcombe test of a margin and the clustered Newcombe interval.
 * With one divisor taken at the reported interval's level (0.95) they parted below 0.025: the
 * test rejected where the interval at that level did not. b NULL: one condition. */
static void check_every_level(const double *a, const double *b, const int *cl, int n, double threshold, double p) {
    int checked = 0;
    for (int i = 0; i <= 400; i++) {
        const double level = exp(log(1e-5) + i * (log(0.4) - log(1e-5)) / 400);
        if (fabs(level - p) < 1e-6 * p) continue; /* the root itself, to the bisection's precision */
        lw_ci ci;
        double unused;
        if (b) assert_int_equal(lw_ci_paired_clustered(a, b, cl, n, 1000000, 1.0 - 2.0 * level, 1, &ci, &unused), 0);
        else assert_int_equal(lw_ci_mean_clustered(a, cl, n, 1000000, 1.0 - 2.0 * level, 1, &ci), 0);
        if ((p <= level) != (ci.lo > threshold))
            fail_msg("%s: at one-sided level %g the test says p = %g, the interval's lower end %g (threshold %g)",
                     b ? "margin" : "level", level, p, ci.lo, threshold);
        checked++;
    }
    assert_true(checked >= 400);
}

/* The data of the two tests below: 69 items in 12 clusters of 4-8 items, A right on a varying
 * share of each cluster, B the same but for one item fewer in every third cluster; records of A
 * (and of B with both). */
enum { K12 = 12, MAX12 = 12 * 8 };
typedef struct {
    double va[MAX12], vb[MAX12];
    int cl[MAX12], n, n_records;
    lw_item_record r[2 * MAX12];
    char ids[MAX12][16], names[K12][16];
} twelve_clusters;

static void make_twelve_clusters(twelve_clusters *t, bool both) {
    const double share[K12] = {0.2, 0.5, 0.8, 0.6, 0.4, 0.9, 0.7, 0.3, 1.0, 0.5, 0.6, 0.8};
    t->n = t->n_records = 0;
    for (int c = 0; c < K12; c++) {
        const int size = 4 + c % 5, ones = (int)lround(share[c] * size);
        snprintf(t->names[c], sizeof t->names[c], "c%d", c);
        for (int j = 0; j < size; j++, t->n++) {
            const int i = t->n;
            t->va[i] = j < ones, t->vb[i] = c % 3 == 0 ? j < ones - 1 : j < ones, t->cl[i] = c;
            snprintf(t->ids[i], sizeof t->ids[i], "q%d", i);
            t->r[t->n_records++] = (lw_item_record){
                .condition = "A", .item = t->ids[i], .metric = "em", .value = t->va[i], .cluster = t->names[c]};
            if (both)
                t->r[t->n_records++] = (lw_item_record){
                    .condition = "B", .item = t->ids[i], .metric = "em", .value = t->vb[i], .cluster = t->names[c]};
        }
    }
}

/* The verdicts of the plan at plan_path on t's records, saved under the plan's sha256. */
static lw_verdict *decide_twelve(const char *plan_path, const char *records_name, const twelve_clusters *t) {
    lw_plan *plan = lw_plan_load(plan_path);
    assert_non_null(plan);
    const char *rec = lw_test_tmpfile(records_name);
    assert_int_equal(lw_items_save(rec, lw_plan_sha256(plan), "test", t->r, t->n_records), 0);
    lw_plan_free(plan);
    int m;
    return decide(plan_path, rec, &m);
}

static void test_clustered_exact_p_at_every_level(void **state) {
    (void)state;
    static twelve_clusters t;
    make_twelve_clusters(&t, true);
    const int n = t.n;
    const char *pp = write_plan("levels.plan.json",
                                "{\"id\": \"level\", \"metric\": \"em\", \"a\": \"A\", \"direction\": \"greater\", "
                                "\"threshold\": 0.35},"
                                "{\"id\": \"margin\", \"metric\": \"em\", \"a\": \"A\", \"b\": \"B\", "
                                "\"direction\": \"greater\", \"threshold\": -0.05}",
                                "none");
    lw_verdict *vd = decide_twelve(pp, "levels.items.jsonl", &t);
    assert_string_equal(vd[0].test, "exact binomial, clustered");
    assert_string_equal(vd[1].test, "Newcombe score, inverted, clustered");
    lw_ci ci;
    assert_int_equal(lw_ci_mean_clustered(t.va, t.cl, n, 1000000, 0.95, 1, &ci), 0);
    print_message("n = %d in %d clusters, design effect at 95%% %.3f, p = %.6g (level), %.6g (margin)\n", n, K12,
                  ci.design_effect, vd[0].p, vd[1].p);
    assert_true(ci.design_effect > 1.2 && n / ci.design_effect > K12); /* the factor applies */
    for (int h = 0; h < 2; h++) assert_true(vd[h].p > 1e-4 && vd[h].p < 0.01); /* levels only Holm asks about */
    check_every_level(t.va, NULL, t.cl, n, 0.35, vd[0].p);
    check_every_level(t.va, t.vb, t.cl, n, -0.05, vd[1].p);
    free(vd);
}

/* A plan may set alpha anywhere in (0, 0.5): the duality must hold above 0.45 too. With alpha 0.48
 * and the threshold just below the clustered interval's lower end at 1 - 2 * 0.48, the exact
 * binomial test at 0.48 rejects; the p was taken at D(0.45), 4e-5 above 0.48 here (helper-67). */
static void test_clustered_exact_p_above_045(void **state) {
    (void)state;
    static twelve_clusters t;
    make_twelve_clusters(&t, false);
    lw_ci ci;
    assert_int_equal(lw_ci_mean_clustered(t.va, t.cl, t.n, 2000, 1.0 - 2.0 * 0.48, 1, &ci), 0);
    const double threshold = ci.lo - 1e-7;
    const char *pp = lw_test_tmpfile("alpha048.plan.json");
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"format\": \"latentwire.plan/1\", \"title\": \"test plan\", \"alpha\": 0.48, \"correction\": "
             "\"none\", \"resamples\": 2000, \"seed\": 3, \"selection\": \"none: nothing selected\", "
             "\"hypotheses\": [{\"id\": \"level\", \"metric\": \"em\", \"a\": \"A\", \"direction\": \"greater\", "
             "\"threshold\": %.17g}]}\n",
             threshold);
    write_text(pp, buf);
    lw_verdict *vd = decide_twelve(pp, "alpha048.items.jsonl", &t);
    print_message("alpha 0.48, threshold %.9f (interval's lower end at 0.04: %.9f): p = %.9g\n", threshold, ci.lo, vd[0].p);
    assert_true(vd[0].p <= 0.48);
    assert_int_equal(vd[0].verdict, LW_VERDICT_PASS);
    free(vd);
}

static void test_no_spread_is_inconclusive(void **state) {
    (void)state;
    no_spread_case(1, 0.9, "0.5", "", 0);  /* one item well above the threshold */
    no_spread_case(10, 0.9, "0.5", "", 0); /* ten equal values */
    no_spread_case(10, 0.2, "0.5", "", 0); /* below: not FAIL either */
    no_spread_case(10, 0.7, "0.0", "\"b\": \"B\", ", 0.4); /* every pair differs by the same 0.3 */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_holm_hand_computed),     cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_exact_lower_tail), cmocka_unit_test(test_bootstrap_ties_at_the_threshold),
        cmocka_unit_test(test_no_difference_is_inconclusive), cmocka_unit_test(test_holm_changes_the_verdict),
        cmocka_unit_test(test_bootstrap_on_real_values), cmocka_unit_test(test_bootstrap_p_agrees_with_the_interval), cmocka_unit_test(test_records_tied_to_the_plan), cmocka_unit_test(test_threshold_within_the_metric),
        cmocka_unit_test(test_bad_plans),              cmocka_unit_test(test_cli),
        cmocka_unit_test(test_clusters),              cmocka_unit_test(test_binary_never_bootstrapped),
        cmocka_unit_test(test_margin_floor_and_order),
        cmocka_unit_test(test_bad_records),            cmocka_unit_test(test_items_checksum),
                   cmocka_unit_test(test_no_spread_is_inconclusive),
        cmocka_unit_test(test_few_units),
        cmocka_unit_test(test_clustered_floor_and_equal_means),
        cmocka_unit_test(test_clustered_exact_p_at_every_level),
        cmocka_unit_test(test_clustered_exact_p_above_045),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
