/* Pre-registered verdicts: hypotheses written in a plan file before a run, decided afterwards
 * from the run's per-item records, with a multiple-comparison correction across the plan.
 *
 * A plan (JSON, format latentwire.plan/1; schema in README "Pre-registration"):
 *   {"format": "latentwire.plan/1", "title": "...", "alpha": 0.05, "correction": "holm" | "none",
 *    "resamples": 10000, "seed": 1,
 *    "selection": "how anything selected (a layer, a recipe) was chosen, on which items",
 *    "hypotheses": [
 *      {"id": "H1", "metric": "exact_match", "a": "act:pcaq@64", "b": "text:zstd@64",
 *       "direction": "greater", "threshold": 0.0, "test": "auto"},
 *      {"id": "H2", "metric": "top1", "a": "pcaq@128", "direction": "greater", "threshold": 0.85}]}
 * A hypothesis with "b" compares a and b on the same items (theta = mean of a - b over the
 * items both have; the item sets must be equal); without "b" it is about a alone (theta =
 * mean of a). "direction" greater claims theta > threshold, less claims theta < threshold.
 *
 * Per-item records (JSONL, format latentwire.items/1), written by a run under a plan: a header
 *   {"format": "latentwire.items/1", "plan_sha256": "<hex of the plan file's bytes>", "source": "race",
 *    "records": <record lines that follow>, "items": <distinct items among them>}
 * then one record per line {"condition": C, "item": ID, "metric": M, "value": x, "split": S}
 * (split optional: records marked "selection" are never used for a verdict; the others are
 * the reported items). Every line ends in its "crc32" (lw_records_write, latentwire/records.h).
 * A verdict on records made under another plan, or under a plan edited since (its sha256
 * differs), is refused.
 *
 * Tests ("test"): "exact" (0/1 values only): one condition, the exact binomial test of
 * H0: p <= threshold (greater) / p >= threshold (less); two conditions with threshold 0,
 * McNemar's exact test (one-sided binomial on the discordant pairs). "bootstrap": the p that
 * inverts the reported BCa interval (the same resamples; p <= alpha exactly when the one-sided
 * (1 - alpha) BCa end lies beyond the threshold; at least 1 / (1 + resamples)); resampling items
 * (pairs for two conditions). "auto": exact
 * where it applies, else bootstrap. 0/1 values are never bootstrapped, whatever "test" says (a
 * resample of all-right items or all-tied pairs equals the estimate, so the bootstrap p would be
 * 1 / (1 + resamples) at any n): one condition gets the exact binomial, two conditions with
 * threshold 0 McNemar, and two with another threshold (a margin) the one-sided p of Newcombe's
 * paired score interval inverted ((1 - L) / 2 at the two-sided level L where its bound meets the
 * threshold), floored at ((1 + t) / 2)^n (no test can give n pairs less against a margin t; the
 * interval is bounded and may never reach a far threshold) and, for a margin above 0, at McNemar's p
 * for the weaker claim "better". Records with a "cluster" (items that are not independent):
 * the exact tests run on the effective counts (counts / design effect, the interval's
 * lw_ci_mean_clustered / lw_ci_paired_clustered) and the bootstrap resamples whole clusters. The p-values of all hypotheses are adjusted by Holm's
 * step-down method (correction "holm", the default). Values that are not 0/1 and do not vary (one
 * item, or every value, or for two conditions every difference, equal) are not tested: a bootstrap
 * sees no sampling error in them (lw_verdict.no_spread; p = 1, INCONCLUSIVE). Otherwise a hypothesis
 *   PASSES        when its adjusted p <= alpha;
 *   FAILS         otherwise, when its (1 - alpha) two-sided interval lies entirely on the
 *                 null side of the threshold (lw_ci_mean / lw_ci_paired: exact for 0/1
 *                 values, BCa otherwise);
 *   INCONCLUSIVE  otherwise. */
#ifndef LATENTWIRE_VERDICT_H
#define LATENTWIRE_VERDICT_H

#include <stdbool.h>
#include <stdint.h>

#include "latentwire/error.h"
#include "latentwire/retrieval.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lw_plan lw_plan;

/* Reads and validates a plan: unknown fields, a missing threshold, an unknown metric name
 * form, test or direction, duplicate ids are one error naming the file and the field. */
lw_plan *lw_plan_load(const char *path);
void lw_plan_free(lw_plan *plan);
const char *lw_plan_sha256(const lw_plan *plan);   /* of the file's bytes */
/* A run tied to a plan: the plan at path read and validated (lw_plan_load), its sha256 into
 * sha (65 bytes); path NULL: sha = "" (no plan). 0 or -1 (message). */
int lw_plan_file_sha256(const char *path, char sha[65]);
const char *lw_plan_title(const lw_plan *plan);
const char *lw_plan_correction(const lw_plan *plan); /* "holm" or "none" */
int lw_plan_n_hypotheses(const lw_plan *plan);
double lw_plan_alpha(const lw_plan *plan);
/* Hypothesis i (0 .. lw_plan_n_hypotheses - 1): its id, its metric, and the conditions it compares
 * (side 0: "a"; side 1: "b", NULL for a one-condition hypothesis). Owned by the plan; NULL for an i
 * out of range. A run can check before it starts that it will write every condition its plan names.
 * Every getter on a NULL plan answers NULL (-1 for the count, NaN for alpha) with the message set. */
const char *lw_plan_hypothesis_id(const lw_plan *plan, int i);
const char *lw_plan_hypothesis_metric(const lw_plan *plan, int i);
const char *lw_plan_hypothesis_condition(const lw_plan *plan, int i, int side);

/* One per-item record, as a run writes it. */
typedef struct {
    const char *condition, *item, *metric;
    const char *split;      /* NULL: a reported item */
    double value;
    /* NULL: the item is independent of the others. Otherwise the cluster it shares with items
     * that are not (a sentence and its role swap): a verdict then widens its interval and
     * test by the design effect (lw_ci_mean_clustered). Every record of a condition names one,
     * or none does; an item keeps its cluster across conditions. */
    const char *cluster;
} lw_item_record;

/* Writes records with the header (plan_sha256 may be NULL: a run without a plan, on which no
 * verdict can be given), which counts the records and distinct items; every line ends in its
 * CRC-32 ("crc32", as lw_records_write writes it). Atomic (temp + rename). 0 or -1. */
int lw_items_save(const char *path, const char *plan_sha256, const char *source, const lw_item_record *records,
                  int64_t n);

typedef struct lw_items lw_items;
/* Reads one or more record files; every file must carry the same plan_sha256, and a condition's
 * records must all be in one file (one run's; two runs pooled are refused). A line whose "crc32"
 * does not match its text, or that lacks one in a file whose lines carry them, and a file holding
 * more or fewer records or items than its header counts are refused, naming the file (and line):
 * it was edited or damaged. Files from before checksums (none on any line, no counts) load as
 * they are. */
lw_items *lw_items_load(const char *const *paths, int n_paths);
void lw_items_free(lw_items *items);
int64_t lw_items_count(const lw_items *items);

typedef enum { LW_VERDICT_PASS = 0, LW_VERDICT_FAIL, LW_VERDICT_INCONCLUSIVE } lw_verdict_kind;
const char *lw_verdict_name(lw_verdict_kind v);    /* "PASS", "FAIL", "INCONCLUSIVE" */

typedef struct {
    char id[64];
    char claim[256];        /* "mean(act:pcaq@64 - text:zstd@64) of exact_match > 0" */
    lw_verdict_kind verdict;
    double estimate;        /* theta on the reported items */
    lw_ci ci;               /* (1 - alpha) two-sided interval of theta */
    double p, p_adjusted;   /* one-sided p of the null, and after the correction */
    int n;                  /* items (pairs) */
    const char *test;       /* static: "exact binomial", "exact McNemar", "Newcombe score, inverted",
                               "BCa bootstrap, inverted", each with ", clustered" when the records name
                               clusters (ci.n_clusters, ci.design_effect); "none (the values do not vary)" */
    /* Values that are not 0/1 and do not vary (one item, or every value equal; for two conditions every
     * difference a - b equal): a bootstrap sees no
     * sampling error in them, so its interval collapses to a point and its p to 1 / (1 + resamples)
     * whatever n is. Nothing is tested: p = 1 and the verdict is INCONCLUSIVE. */
    bool no_spread;
} lw_verdict;

/* Decides every hypothesis of the plan on the records. Refuses records whose plan_sha256 is
 * missing or not this plan's, a condition or metric with no reported records, and two
 * conditions whose item sets differ. *out: malloc'd array of lw_plan_n_hypotheses. 0 or -1. */
int lw_verdict_evaluate(const lw_plan *plan, const lw_items *items, lw_verdict **out);

/* Holm's step-down adjustment of m p-values (adj[i] for p[i]; monotone, capped at 1). m < 1 or a
 * NULL array: nothing is written. */
void lw_holm_adjust(const double *p, int m, double *adj);

#ifdef __cplusplus
}
#endif
#endif
