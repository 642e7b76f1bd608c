/* Deciding a plan's hypotheses on per-item records: one-sided p-values (exact or score-based
 * where the data are 0/1, the inverted BCa bootstrap otherwise), Holm's correction across the plan, and the
 * PASS / FAIL / INCONCLUSIVE rule of latentwire/verdict.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "eval/eval.h"
#include "verdict/verdict_internal.h"

const char *lw_verdict_name(lw_verdict_kind v) {
    return v == LW_VERDICT_PASS ? "PASS" : v == LW_VERDICT_FAIL ? "FAIL" : "INCONCLUSIVE";
}

/* ------------------------------------------------------------------ Holm */

static const double *g_sort_p;
static int by_p(const void *x, const void *y) {
    double a = g_sort_p[*(const int *)x], b = g_sort_p[*(const int *)y];
    return (a > b) - (a < b);
}

void lw_holm_adjust(const double *p, int m, double *adj) {
    if (!p || !adj || m < 1) return; /* nothing to adjust (void: no error to return) */
    /* a NaN p sorted inconsistently and broke the step-down (later p-values were no longer raised
     * to it); a p outside [0, 1] is no p-value: every adjusted value NaN, and a message */
    for (int i = 0; i < m; i++)
        if (!(p[i] >= 0 && p[i] <= 1)) {
            lw_fail("lw_holm_adjust: p[%d] = %g is not a p-value in [0, 1]", i, p[i]);
            for (int k = 0; k < m; k++) adj[k] = NAN;
            return;
        }
    int *ord = malloc(sizeof(int) * (size_t)(m > 0 ? m : 1));
    if (!ord) {
        for (int i = 0; i < m; i++) adj[i] = 1.0; /* no memory: the conservative answer */
        return;
    }
    for (int i = 0; i < m; i++) ord[i] = i;
    g_sort_p = p;
    qsort(ord, (size_t)m, sizeof *ord, by_p);
    double run = 0;
    for (int j = 0; j < m; j++) {
        double v = (double)(m - j) * p[ord[j]];
        if (v > 1) v = 1;
        if (v < run) v = run; /* step-down: adjusted p-values never decrease */
        run = v;
        adj[ord[j]] = v;
    }
    free(ord);
}

/* ------------------------------------------------------------------ the items of a condition */

typedef struct {
    const lw_rec *r;
} ref;

static int by_item(const void *x, const void *y) {
    return strcmp(((const ref *)x)->r->item, ((const ref *)y)->r->item);
}

/* The reported records of (condition, metric), sorted by item; duplicates refused. */
static int collect(const lw_items *it, const char *cond, const char *metric, ref **out, int *n, const char *hid) {
    *out = NULL;
    *n = 0;
    ref *v = malloc(sizeof *v * (size_t)(it->n > 0 ? it->n : 1));
    if (!v) return lw_fail("verdict: out of memory");
    int k = 0;
    for (int64_t i = 0; i < it->n; i++) {
        const lw_rec *r = &it->r[i];
        if (strcmp(r->condition, cond) != 0 || strcmp(r->metric, metric) != 0) continue;
        if (r->split && strcmp(r->split, "selection") == 0) continue;
        v[k++].r = r;
    }
    if (k == 0) {
        free(v);
        return lw_fail("hypothesis %s: no reported records of condition '%s' with metric '%s'", hid, cond, metric);
    }
    qsort(v, (size_t)k, sizeof *v, by_item);
    for (int i = 1; i < k; i++)
        if (strcmp(v[i].r->item, v[i - 1].r->item) == 0) {
            lw_fail("hypothesis %s: item '%s' of condition '%s' (%s) is recorded twice", hid, v[i].r->item, cond,
                    metric);
            free(v);
            return -1;
        }
    *out = v;
    *n = k;
    return 0;
}

static bool all_binary(const double *v, int n) {
    for (int i = 0; i < n; i++)
        if (v[i] != 0.0 && v[i] != 1.0) return false;
    return true;
}

/* ------------------------------------------------------------------ one-sided p-values */

/* P(X >= x) and P(X <= x) for X ~ Binomial(n, t); x and n may be fractional (effective counts). */
static double binom_upper(double x, double n, double t) {
    if (x <= 0) return 1.0;
    if (t <= 0) return 0.0;
    if (t >= 1) return 1.0;
    return lw_beta_inc(x, n - x + 1, t);
}
static double binom_lower(double x, double n, double t) {
    if (x >= n) return 1.0;
    if (t >= 1) return 0.0;
    if (t <= 0) return 1.0;
    return 1.0 - lw_beta_inc(x + 1, n - x, t);
}

/* One-sided p of the claim (theta > threshold when greater, else <) that inverts the BCa interval
 * the verdict reports: the same resamples (lw_eval_resample_means / lw_eval_cluster_resample_means,
 * what lw_ci_mean and lw_ci_mean_clustered draw with this seed), the same estimate and
 * acceleration. So p <= alpha exactly when the interval's one-sided end at 1 - alpha lies on the
 * claim's side, up to the resampling grid: the percentile p used before could say PASS while the
 * reported interval covered the threshold (skewed values). d holds the per-item values (a - b
 * for pairs); with cluster (else NULL) theta is the resampled clusters' ratio mean. At least
 * 1 / (1 + resamples); 1 when memory runs out (the conservative answer). */
static double bootstrap_p(const double *d, const int *cluster, int n, double threshold, bool greater, int resamples,
                          uint64_t seed) {
    double *theta = malloc(sizeof *theta * (size_t)resamples), accel = 0, mean = 0;
    int rc = theta ? 0 : -1, units = n; /* the expansion's units: items, or clusters */
    if (rc == 0 && cluster) rc = lw_eval_cluster_resample_means(d, cluster, n, resamples, seed, theta, &accel, &units);
    else if (rc == 0) lw_eval_resample_means(d, n, resamples, seed, theta), accel = lw_eval_mean_accel(d, n);
    for (int i = 0; i < n; i++) mean += d[i];
    double p = rc == 0 ? fmax(lw_eval_bca_p(theta, resamples, mean / n, accel, threshold, units, greater), 1.0 / (1.0 + resamples))
                       : 1.0;
    free(theta);
    return p;
}

/* One-sided p of a paired difference of 0/1 outcomes against a nonzero threshold, by inverting
 * Newcombe's paired score interval (lw_ci_paired_counts, on counts that may be effective ones):
 * for "greater", (1 - L) / 2 at the two-sided level L where the lower bound meets the threshold,
 * and (1 + L) / 2 at the level where the upper bound meets it when the estimate is below it. So
 * p <= alpha exactly when the (1 - 2 alpha) interval lies above the threshold. Why not the
 * bootstrap: resampled 0/1 pairs with few discordant ones collapse onto the estimate (every pair
 * tied gives p = 1 / (1 + resamples) at any n), the failure the exact intervals were chosen to avoid. */
static double newcombe_p(double both, double only_a, double only_b, double neither, double threshold, bool greater) {
    const double n = both + only_a + only_b + neither, est = (only_a - only_b) / n;
    const double t = greater ? threshold : -threshold, e = greater ? est : -est; /* claim: e > t */
    if (e == t) return 0.5;
    const bool above = e > t; /* find L where the bound on t's side meets t */
    double lo = 1e-12, hi = 1.0 - 1e-12;
    for (int it = 0; it < 100; it++) {
        double mid = 0.5 * (lo + hi), unused;
        lw_ci ci;
        if (lw_ci_paired_counts(both, greater ? only_a : only_b, greater ? only_b : only_a, neither, mid, &ci,
                                &unused) != 0)
            return 1.0; /* cannot happen for valid counts: the conservative answer */
        const bool excludes = above ? ci.lo > t : ci.hi < t;
        if (excludes) lo = mid; else hi = mid;
    }
    const double level = 0.5 * (lo + hi);
    return above ? (1.0 - level) / 2.0 : (1.0 + level) / 2.0;
}

/* A one-sided test on 0/1 values: the exact binomial (one condition), exact McNemar (a pair against
 * 0) or Newcombe's score interval inverted (a pair against a margin, exact false); its counts,
 * which do not depend on the divisor, and the values the clusters' design is computed from. */
typedef struct {
    const lw_hypothesis *h;
    const double *a, *b;
    int n;
    bool exact;
    double cell[4]; /* both right, only a, only b, neither (one condition: a right, -, -, a wrong) */
} exact_case;

static exact_case exact_counts(const lw_hypothesis *h, const double *a, const double *b, int n, bool exact) {
    exact_case c = {.h = h, .a = a, .b = b, .n = n, .exact = exact};
    for (int i = 0; i < n; i++) {
        const bool right_b = !h->b || b[i] == 1.0; /* one condition: a alone decides */
        c.cell[a[i] == 1.0 ? (right_b ? 0 : 1) : (right_b && h->b ? 2 : 3)] += 1.0;
    }
    return c;
}

/* The test's p on counts divided by deff: n / deff items' worth of evidence, as the clustered
 * interval counts (1 without clusters). */
static double exact_p(const exact_case *c, double deff) {
    const lw_hypothesis *h = c->h;
    const double *k = c->cell;
    if (c->exact && !h->b)
        return h->greater ? binom_upper(k[0] / deff, c->n / deff, h->threshold)
                          : binom_lower(k[0] / deff, c->n / deff, h->threshold);
    /* discordant pairs: a right and b wrong (won, for "greater"), and the reverse */
    const double won = (h->greater ? k[1] : k[2]) / deff, lost = (h->greater ? k[2] : k[1]) / deff;
    if (c->exact) return binom_upper(won, won + lost, 0.5);
    /* signed so that the claim reads "theta > t" whatever the direction */
    const double t = h->greater ? h->threshold : -h->threshold, n_eff = c->n / deff;
    double pv = newcombe_p(k[0] / deff, k[1] / deff, k[2] / deff, k[3] / deff, h->threshold, h->greater);
    /* No test can do better than ((1 + t) / 2)^n: under the null theta <= t every pair goes the
     * claim's way with probability at most (1 + t) / 2. The score interval is bounded (it may never
     * reach a far threshold at any level), and without this floor 1 pair could pass at 5e-13. */
    pv = fmax(pv, pow((1.0 + t) / 2.0, n_eff));
    /* A margin above 0 is a stronger claim than "better", so its p is never below McNemar's for
     * "better": otherwise writing 1e-12 instead of 0 could turn INCONCLUSIVE into PASS. */
    if (t > 0) pv = fmax(pv, binom_upper(won, won + lost, 0.5));
    return fmin(1.0, pv);
}

/* With clusters the divisor carries Korn and Graubard's degrees-of-freedom factor, which depends
 * on the level (lw_eval_design_divisor): the test at one-sided level alpha' counts n / D(alpha')
 * items, D at the two-sided level 1 - 2 alpha'. Its p is the smallest alpha' at which that test
 * rejects: the root of exact_p(D(alpha')) = alpha' (as alpha' grows D shrinks and the test's p
 * with it). One divisor at the reported interval's level (1 - alpha, a one-sided alpha / 2) was
 * conservative at alpha and bold at Holm's smaller levels (alpha / m). Above 0.495 the p at
 * D(0.495) is reported, below 1e-12 the p at D(1e-12). A plan's alpha may be anything below 0.5:
 * with top 0.45 a plan at alpha 0.48 was INCONCLUSIVE where the test at 0.48 rejected
 * (test_clustered_exact_p_above_045). Not nearer 0.5: the t quantiles' ratio at q = 0.5 + 1e-4
 * and closer loses its precision and D stops falling (12 clusters of 69 items: D rose by 1e-6
 * relative at a' = 0.4998; at a' = 0.5 - 1e-9 it jumped to the cap). */
static double clustered_exact_p(const exact_case *c, const int *cl) {
    const double top = 0.495, bottom = 1e-12;
    lw_eval_cluster_design design; /* the level-free part, once: only the factor depends on the level */
    if (lw_eval_clustered_design(c->a, c->h->b ? c->b : NULL, cl, c->n, &design) != 0) return 1.0; /* out of memory */
    double lo = log(bottom), hi = log(top), p;
    if ((p = exact_p(c, lw_eval_design_divisor(&design, 1.0 - 2.0 * top))) > top) return p;
    if ((p = exact_p(c, lw_eval_design_divisor(&design, 1.0 - 2.0 * bottom))) <= bottom)
        return p; /* the root lies lower still, where no plan decides */
    for (int it = 0; it < 80; it++) {
        const double mid = 0.5 * (lo + hi), alpha = exp(mid);
        if (exact_p(c, lw_eval_design_divisor(&design, 1.0 - 2.0 * alpha)) <= alpha) hi = mid;
        else lo = mid;
    }
    return exp(hi);
}

/* ------------------------------------------------------------------ clusters */

static const ref *g_sort_refs;
static int by_cluster_name(const void *x, const void *y) {
    return strcmp(g_sort_refs[*(const int *)x].r->cluster, g_sort_refs[*(const int *)y].r->cluster);
}

/* The items' clusters as ids 0 .. k-1 into *out (malloc'd), or *out = NULL when no record names
 * one. Refuses a condition where some records name a cluster and others do not, and an item
 * whose cluster differs between the two conditions of a pair. */
static int cluster_ids(const ref *ra, const ref *rb, int n, const lw_hypothesis *h, int **out) {
    *out = NULL;
    int named = 0, named_b = 0;
    for (int i = 0; i < n; i++) named += ra[i].r->cluster != NULL, named_b += rb && rb[i].r->cluster != NULL;
    if (rb && named_b > 0 && named_b < n)
        return lw_fail("hypothesis %s: %d of the %d records of condition '%s' (%s) name a cluster; either every "
                       "record names its cluster or none does", h->id, named_b, n, h->b, h->metric);
    if (named > 0 && named < n)
        return lw_fail("hypothesis %s: %d of the %d records of condition '%s' (%s) name a cluster; either every "
                       "record names its cluster or none does", h->id, named, n, h->a, h->metric);
    for (int i = 0; rb && i < n; i++) {
        const char *x = ra[i].r->cluster, *y = rb[i].r->cluster;
        if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0))
            return lw_fail("hypothesis %s: item '%s' is in cluster '%s' under '%s' and '%s' under '%s'; an item keeps "
                           "its cluster across conditions", h->id, ra[i].r->item, x ? x : "(none)", h->a,
                           y ? y : "(none)", h->b);
    }
    if (named == 0) return 0;
    int *ord = malloc(sizeof *ord * (size_t)n), *id = malloc(sizeof *id * (size_t)n);
    if (!ord || !id) {
        free(ord), free(id);
        return lw_fail("verdict: out of memory");
    }
    for (int i = 0; i < n; i++) ord[i] = i;
    g_sort_refs = ra;
    qsort(ord, (size_t)n, sizeof *ord, by_cluster_name);
    for (int j = 0, k = -1; j < n; j++) {
        if (j == 0 || strcmp(ra[ord[j]].r->cluster, ra[ord[j - 1]].r->cluster) != 0) k++;
        id[ord[j]] = k;
    }
    free(ord);
    *out = id;
    return 0;
}

/* ------------------------------------------------------------------ one hypothesis */

/* The units the bootstrap resamples (items, or clusters when cl is not NULL; cluster ids 0 .. k-1)
 * into *units, and whether their values are all the same (one unit always is): the resamples then
 * all give the same mean, and the bootstrap sees no sampling error at all. */
static bool units_without_spread(const double *d, const int *cl, int n, int *units) {
    if (!cl) {
        *units = n;
        for (int i = 1; i < n; i++)
            if (d[i] != d[0]) return false;
        return true;
    }
    int k = 0;
    for (int i = 0; i < n; i++) k = cl[i] + 1 > k ? cl[i] + 1 : k;
    *units = k;
    double *sum = calloc((size_t)k, sizeof *sum), *size = calloc((size_t)k, sizeof *size);
    bool same = true;
    if (!sum || !size) same = false; /* no memory: let the bootstrap decide */
    for (int i = 0; same && i < n; i++) sum[cl[i]] += d[i], size[cl[i]] += 1.0;
    for (int c = 1; same && c < k; c++) { /* equal up to rounding: {0.1, 0.2} against {0.15} */
        const double m0 = sum[0] / size[0], mc = sum[c] / size[c];
        same = fabs(mc - m0) <= 1e-12 * fmax(1.0, fabs(m0));
    }
    free(sum), free(size);
    return same;
}

#define LW_VERDICT_MAX_VALUE 1e100

static int evaluate_one(const lw_plan *plan, const lw_hypothesis *h, const lw_items *it, int index, lw_verdict *v) {
    memset(v, 0, sizeof *v);
    /* both fit whole: lw_plan_load refuses longer ids and names */
    snprintf(v->id, sizeof v->id, "%s", h->id);
    if (h->b)
        snprintf(v->claim, sizeof v->claim, "mean(%s - %s) of %s %s %.10g", h->a, h->b, h->metric,
                 h->greater ? ">" : "<", h->threshold);
    else
        snprintf(v->claim, sizeof v->claim, "mean(%s) of %s %s %.10g", h->a, h->metric, h->greater ? ">" : "<",
                 h->threshold);
    ref *ra = NULL, *rb = NULL;
    int na = 0, nb = 0, rc = -1;
    double *a = NULL, *b = NULL, *d = NULL;
    int *cl = NULL;
    if (collect(it, h->a, h->metric, &ra, &na, h->id) != 0) goto done;
    if (h->b) {
        if (collect(it, h->b, h->metric, &rb, &nb, h->id) != 0) goto done;
        for (int i = 0; i < na || i < nb; i++)
            if (i >= na || i >= nb || strcmp(ra[i].r->item, rb[i].r->item) != 0) {
                /* both lists are sorted by item: the smaller of the two differing ids is the one the
                 * other condition lacks (the larger one may well be in both) */
                const bool in_a = i < na && (i >= nb || strcmp(ra[i].r->item, rb[i].r->item) < 0);
                lw_fail("hypothesis %s: conditions '%s' (%d items) and '%s' (%d items) are not on the same items "
                        "(item '%s' is in '%s' but not in '%s'); a paired comparison needs the same items", h->id,
                        h->a, na, h->b, nb, in_a ? ra[i].r->item : rb[i].r->item, in_a ? h->a : h->b,
                        in_a ? h->b : h->a);
                goto done;
            }
    }
    a = malloc(sizeof(double) * (size_t)na);
    b = malloc(sizeof(double) * (size_t)na);
    d = malloc(sizeof(double) * (size_t)na);
    if (!a || !b || !d) {
        lw_fail("verdict: out of memory");
        goto done;
    }
    for (int i = 0; i < na; i++) {
        a[i] = ra[i].r->value;
        b[i] = h->b ? rb[i].r->value : 0.0;
        d[i] = a[i] - b[i];
    }
    /* One 1e308 among ordinary values left the interval [0.26, 0.26] beside an estimate of 1e307:
     * its square overflows inside the bootstrap. No metric a run writes comes near 1e100. */
    for (int i = 0; i < na; i++)
        if (!(fabs(a[i]) <= LW_VERDICT_MAX_VALUE && fabs(b[i]) <= LW_VERDICT_MAX_VALUE)) {
            rc = lw_fail("hypothesis %s: item '%s' has %s = %g, beyond +-%g, where sums of squares overflow: rescale the "
                         "metric", h->id, ra[i].r->item, h->metric, fabs(a[i]) > LW_VERDICT_MAX_VALUE ? a[i] : b[i],
                         LW_VERDICT_MAX_VALUE);
            goto done;
        }
    v->n = na;
    bool binary = all_binary(a, na) && (!h->b || all_binary(b, na));
    /* exact match is 0 or 1 by definition: a 2.0 or 0.5 edited in silently moved the test to a bootstrap */
    if (!binary && !strcmp(h->metric, "exact_match")) {
        for (int i = 0; i < na; i++)
            if (!((a[i] == 0.0 || a[i] == 1.0) && (!h->b || b[i] == 0.0 || b[i] == 1.0))) {
                rc = lw_fail("hypothesis %s: item '%s' has exact_match %g, which is only ever 0 or 1: the records were "
                             "edited or damaged", h->id, ra[i].r->item, (a[i] == 0.0 || a[i] == 1.0) ? b[i] : a[i]);
                goto done;
            }
    }
    /* a metric bounded by definition holds values in [0, 1]: "correct" 0 and 5 alternating passed
     * "> 0.5" by bootstrap with the mean 2.5 (an edited record) */
    if (!binary && lw_metric_in_unit_interval(h->metric)) {
        for (int i = 0; i < na; i++)
            if (!(a[i] >= 0.0 && a[i] <= 1.0 && b[i] >= 0.0 && b[i] <= 1.0)) {
                bool bad_a = !(a[i] >= 0.0 && a[i] <= 1.0);
                rc = lw_fail("hypothesis %s: item '%s' has %s = %g, outside [0, 1], where %s lies by definition: the "
                             "records were edited or damaged", h->id, ra[i].r->item, h->metric, bad_a ? a[i] : b[i],
                             h->metric);
                goto done;
            }
    }
    /* a 0/1 metric's mean lies in [0, 1] and a difference of two in [-1, 1]: a threshold outside
     * decides nothing about the data ("> -0.5" was INCONCLUSIVE at p = 1, "< 2" PASS at p = 0) */
    if (binary && (h->b ? fabs(h->threshold) > 1.0 : h->threshold < 0.0 || h->threshold > 1.0)) {
        rc = lw_fail("hypothesis %s: threshold %g is outside [%d, 1], where %s of these values (%s, all 0 or 1) lies: "
                     "fix the plan",
                     h->id, h->threshold, h->b ? -1 : 0, h->b ? "a difference of means" : "a mean", h->metric);
        goto done;
    }
    bool exact_applies = binary && (!h->b || h->threshold == 0.0);
    if (strcmp(h->test, "exact") == 0 && !binary) { /* a paired exact test with a margin is refused at load */
        lw_fail("hypothesis %s: test 'exact' needs 0/1 values (%s has others); use 'bootstrap' or 'auto'", h->id,
                h->metric);
        goto done;
    }
    /* 0/1 values never get the percentile bootstrap, whatever the plan asks: it collapses at the
     * boundaries (an all-correct or all-tied sample gives p = 1 / (1 + resamples) at any n) */
    bool exact = exact_applies;
    double level = 1.0 - plan->alpha;
    uint64_t seed = plan->seed + (uint64_t)index;
    double unused_p;
    rc = cluster_ids(ra, rb, na, h, &cl);
    if (rc == 0 && cl && h->b)
        rc = lw_ci_paired_clustered(a, b, cl, na, plan->resamples, level, seed, &v->ci, &unused_p);
    else if (rc == 0 && cl)
        rc = lw_ci_mean_clustered(a, cl, na, plan->resamples, level, seed, &v->ci);
    else if (rc == 0 && h->b)
        rc = lw_ci_paired(a, b, na, plan->resamples, level, seed, &v->ci, &unused_p);
    else if (rc == 0)
        rc = lw_ci_mean(a, na, plan->resamples, level, seed, &v->ci);
    if (rc != 0) goto done;
    if (!isfinite(v->ci.mean) || !isfinite(v->ci.lo) || !isfinite(v->ci.hi)) { /* 1e308 + 1e308 */
        rc = lw_fail("hypothesis %s: the mean or interval of '%s' is not finite (values so large that their sum "
                     "overflows): rescale the metric", h->id, h->metric);
        goto done;
    }
    v->estimate = v->ci.mean;
    if (binary) {
        const exact_case c = exact_counts(h, a, b, na, exact);
        v->p = cl ? clustered_exact_p(&c, cl) : exact_p(&c, 1.0);
        v->test = !exact  ? (cl ? "Newcombe score, inverted, clustered" : "Newcombe score, inverted")
                  : h->b ? (cl ? "exact McNemar, clustered" : "exact McNemar")
                         : (cl ? "exact binomial, clustered" : "exact binomial");
    } else {
        int units = 0;
        v->no_spread = units_without_spread(d, cl, na, &units);
        v->p = v->no_spread ? 1.0 : bootstrap_p(d, cl, na, h->threshold, h->greater, plan->resamples, seed);
        /* No test can do better than 2^-units: with the null's mean at the threshold and values spread
         * evenly about it, every unit lands on the claim's side that often. The bootstrap, which sees
         * only the sample, gave 2 items (or 2 clusters) above the threshold p = 1 / (1 + resamples). */
        v->p = fmax(v->p, pow(0.5, units));
        v->test = v->no_spread ? (cl ? "none (the cluster means do not vary)" : "none (the values do not vary)")
                  : cl         ? "BCa bootstrap, inverted, clustered"
                               : "BCa bootstrap, inverted";
    }
    if (cl && binary) {
        /* The exact tests count n / deff items, and deff comes from the sample: 2 clusters whose means
         * agree gave deff 1 and 20 items' worth of evidence. Whatever the correlation inside a cluster,
         * k clusters cannot show more than k items of one cluster each could: with every item of a
         * cluster alike, all k go the claim's way with probability t^k (one condition, "greater"),
         * (1 - t)^k ("less"), 2^-k (McNemar) or ((1 + t) / 2)^k (a margin t) under the null. */
        const double k = (double)v->ci.n_clusters, t = h->greater ? h->threshold : -h->threshold;
        const double floor_p = !h->b ? pow(h->greater ? h->threshold : 1.0 - h->threshold, k)
                               : exact ? pow(0.5, k)
                                       : pow((1.0 + t) / 2.0, k);
        v->p = fmin(1.0, fmax(v->p, floor_p));
    }
    rc = 0;
done:
    free(cl);
    free(ra);
    free(rb);
    free(a);
    free(b);
    free(d);
    return rc;
}

int lw_verdict_evaluate(const lw_plan *plan, const lw_items *it, lw_verdict **out) {
    if (!plan || !it || !out)
        return lw_fail("lw_verdict_evaluate: %s is NULL", !plan ? "the plan" : !it ? "the records" : "out");
    *out = NULL;
    if (!it->plan_sha256[0])
        return lw_fail("the records carry no plan sha256: they were not produced under a plan, so no pre-registered "
                       "verdict can be given on them (rerun with --plan %s)", plan->path);
    if (strcmp(it->plan_sha256, plan->sha256) != 0)
        return lw_fail("the records were produced under plan sha256 %s, but %s has sha256 %s: another plan, or this "
                       "plan edited after the run; a verdict is given only under the plan the run was made with",
                       it->plan_sha256, plan->path, plan->sha256);
    lw_verdict *v = calloc((size_t)plan->n, sizeof *v);
    double *p = malloc(sizeof(double) * (size_t)plan->n), *adj = malloc(sizeof(double) * (size_t)plan->n);
    if (!v || !p || !adj) {
        free(v);
        free(p);
        free(adj);
        return lw_fail("verdict: out of memory");
    }
    for (int i = 0; i < plan->n; i++) {
        if (evaluate_one(plan, &plan->h[i], it, i, &v[i]) != 0) {
            free(v);
            free(p);
            free(adj);
            return -1;
        }
        p[i] = v[i].p;
    }
    if (strcmp(plan->correction, "holm") == 0)
        lw_holm_adjust(p, plan->n, adj);
    else
        memcpy(adj, p, sizeof(double) * (size_t)plan->n);
    for (int i = 0; i < plan->n; i++) {
        const lw_hypothesis *h = &plan->h[i];
        v[i].p_adjusted = adj[i];
        bool null_side = h->greater ? v[i].ci.hi <= h->threshold : v[i].ci.lo >= h->threshold;
        v[i].verdict = v[i].no_spread         ? LW_VERDICT_INCONCLUSIVE
                       : adj[i] <= plan->alpha ? LW_VERDICT_PASS
                       : null_side             ? LW_VERDICT_FAIL
                                               : LW_VERDICT_INCONCLUSIVE;
    }
    free(p);
    free(adj);
    *out = v;
    return 0;
}
