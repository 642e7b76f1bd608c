/* The probe panel (`latentwire panel probes`): on an aligned pair (model A at a layer, model B
 * at a layer, a bridge A -> B), does the aligned space behave like a language (compositional,
 * chainable, robust, with symbolic structure) or like a code (a lookup table of whole
 * messages)?
 *
 * Sentence vectors are whatever pair->embed returns: for real models the mean-pooled block
 * output (lw_probe_embed_models, lw_embed_texts at each model's layer); tests plant structure
 * with their own embedder. Retrieval is top-1 by cosine (lw_retrieval_score: a tie never counts
 * as a hit). Every statistic comes with a 95% interval: exact Clopper-Pearson for proportions,
 * BCa bootstrap for means (lw_ci_mean), Newcombe's paired interval / paired BCa bootstrap for
 * paired differences (lw_ci_paired), a bootstrap over sentences for Spearman's rho. Every
 * per-item value also becomes a latentwire.items/1 record (condition "probe:quantity", the
 * item's id, a metric), so a plan written before the run decides hypotheses on them.
 *
 * Probes (each on deterministic sentence sets built here from a seed; the sentences the probes
 * evaluate are never among the calibration texts of a bridge fitted here):
 *   compositionality  a probe bridge (ridge, lw_bridge_fit) fitted on the A/B vectors of the
 *                     training attribute combinations of a grammar (subject x colour x object
 *                     x place); top-1 of the mapped A vector among every combination's B
 *                     vector, for the held-out combinations ("heldout") against the same
 *                     combinations when the bridge was fitted on all of them ("insample"),
 *                     paired; topographic similarity: Spearman rho between the attribute
 *                     Hamming distance and the cosine distance over sentence pairs (A, B and
 *                     mapped A), bootstrap over sentences; cosine of a word-shuffled sentence
 *                     to its original, per model, against the cosine to another sentence.
 *   chaining          relay through the bridge and its inverse for `hops` hops (A -> B -> A...)
 *                     on natural sentences (MRPC test file): per hop the cosine to the
 *                     original sentence's own vector in that hop's space and top-1 among the
 *                     pool of every sentence's vector there (cosine can stay near 1 while
 *                     identity is lost: both are reported).
 *   robustness        Gaussian noise of sigma x RMS(A vectors' entries) added before mapping,
 *                     top-1 per sigma; near-identical distractors (the grammar combinations
 *                     one word away) against as many random ones, paired; MRPC high-overlap
 *                     non-paraphrases (word Jaccard >= 0.5) as confusers in the pool against
 *                     a random sentence in their place, paired.
 *   symbolic          negation minimal pairs (pairwise consistency: the mapped vector is
 *                     closer to B's vector of the same polarity than to its negation; top-1
 *                     among both polarities of every item); aggregation: top-1 of "P and Q"
 *                     from the mean of P's and Q's A vectors against the best single part
 *                     (the additive-lift control), paired; quantification: top-1 among
 *                     sentences differing only in the quantifier against the template control
 *                     (the same template differing only in the noun), paired.
 * The bridge must map into B's raw space (ridge, pca-ridge, pca2-ridge: lw_bridge_apply_source
 * predicts B's vectors); the inverse (B -> A), when not given, is a ridge bridge fitted here on
 * n_calib MRPC training-file sentences. */
#ifndef LATENTWIRE_PROBES_H
#define LATENTWIRE_PROBES_H

#include <stdbool.h>
#include <stdint.h>

#include "latentwire/bridge.h"
#include "latentwire/retrieval.h"
#include "latentwire/runtime.h"
#include "latentwire/verdict.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sentence vectors of side 0 (model A) or 1 (model B): out n x that side's width. 0 or -1. */
typedef int (*lw_probe_embed_fn)(void *user, int side, const char *const *texts, int n, float *out);

typedef struct {
    const char *name_a, *name_b;
    int dim_a, dim_b;
    lw_probe_embed_fn embed;
    void *user;
    const lw_bridge *bridge;   /* A -> B (required) */
    const lw_bridge *inverse;  /* B -> A; NULL: fitted on calibration texts */
} lw_probe_pair;

/* The embedder for real models: user points at this; mean-pooled resid_post at each layer. */
typedef struct {
    lw_model *model[2];
    int layer[2];
    int n_threads;
} lw_probe_models;
int lw_probe_embed_models(void *user, int side, const char *const *texts, int n, float *out);

enum {
    LW_PROBE_COMPOSITIONALITY = 1 << 0,
    LW_PROBE_CHAINING = 1 << 1,
    LW_PROBE_ROBUSTNESS = 1 << 2,
    LW_PROBE_SYMBOLIC = 1 << 3,
    LW_PROBE_ALL = 0xf,
};
/* "compositionality", "chaining", "robustness", "symbolic" -> its bit; 0 with a message if unknown or NULL. */
unsigned lw_probe_from_name(const char *name);
/* A comma list of names (or "all") -> bits, read as lw_list_split reads lists; 0 with a message
 * naming the unknown name, the empty item, or the probe listed twice ("a,a", or "all,a"). */
unsigned lw_probe_parse_list(const char *list);

typedef struct {
    unsigned probes;        /* LW_PROBE_* bits (default LW_PROBE_ALL) */
    int n_combos;           /* grammar combinations evaluated (default 160, at most 625) */
    double heldout_share;   /* of the combinations held out of the probe bridge (default 0.25) */
    int n_topsim;           /* sentences for topographic similarity (default 80) */
    int n_natural;          /* MRPC test-file sentences for chaining and noise (default 100) */
    int n_calib;            /* MRPC training-file sentences fitting the inverse (default 200) */
    int hops;               /* chaining hops (default 4) */
    double sigmas[16];      /* noise levels, relative to the RMS entry, each once (default 0 .1 .2 .5 1 2) */
    int n_sigmas;
    int n_confusers;        /* MRPC high-overlap non-paraphrase pairs (default 60) */
    int n_symbolic;         /* items per symbolic probe (default 40) */
    const char *mrpc_dir;   /* the directory with msr_paraphrase_{train,test}.txt (required for
                               chaining, robustness and a fitted inverse) */
    int resamples;          /* bootstrap resamples (default 2000) */
    uint64_t seed;          /* sentence sets, splits, noise, distractors (default 1) */
    void (*on_progress)(const char *what, void *user);
    void *user;
    /* Resumable embeddings (latentwire/records.h): when set, every embedding call's new texts and
     * their vectors (exactly: the bits of each float) are appended to this file as the call
     * finishes, under a settings line (settings_json, the caller's part: the models, layers and
     * GPU offload; the panel adds these parameters, the probes, the widths and whether an inverse
     * was given). With resume, an earlier run's calls with the same settings are taken from it
     * instead of running the models again; the calls that remain embed what an uninterrupted run
     * would, in the same batches, so every number is that run's. A file of other settings is
     * refused, naming the first setting that differs. Without resume the file is begun anew. */
    const char *records_path;
    const char *settings_json;
    bool resume;
} lw_probe_params;

lw_probe_params lw_probe_default_params(void);

typedef struct {
    char probe[24];         /* "compositionality" ... */
    char name[64];          /* "heldout_top1", "hop2_cosine", "noise_top1@0.5" ... */
    lw_ci ci;               /* statistic (ci.mean), 95% interval, n */
    double p_value;         /* of a paired difference (two-sided); NaN otherwise */
    char condition[96];     /* its records' condition ("" when it has none) */
    char metric[24];        /* its records' metric */
    char note[400];         /* what it measures (the report's last column) */
} lw_probe_stat;

typedef struct {
    lw_probe_stat *stats;
    int n_stats, cap_stats;
    lw_item_record *records; /* strings owned by the result */
    int64_t n_records, cap_records;
    char *inverse_info;      /* the inverse's fit record (JSON), or NULL when given */
} lw_probe_result;

/* Runs the probes selected in p->probes. 0, or -1 with one message (a bridge whose widths do
 * not match the pair, a recipe that does not predict B's raw space, a missing MRPC file...). */
int lw_probe_panel(const lw_probe_pair *pair, const lw_probe_params *p, lw_probe_result *out);
void lw_probe_result_free(lw_probe_result *r);

/* Writes dir/probes.json (format latentwire.panel.probes/1: every statistic with its interval
 * and n, the pair, the parameters, plan_sha256, settings_json as given) and dir/records.jsonl
 * (latentwire.items/1, source "panel probes"). dir is created when missing (and removed again when
 * this call made it and then fails). 0 or -1. */
int lw_probe_save(const char *dir, const lw_probe_pair *pair, const lw_probe_params *p, const lw_probe_result *r,
                  const char *plan_sha256, const char *settings_json);

/* Family universality: the same probes across pairs (model families, layers, bridge recipes).
 * Merges the probes.json of n_runs runs (each a directory holding probes.json, or the file
 * itself) into out_dir/universality.json (format latentwire.panel.universality/1): the pairs
 * (models, layers, bridge file from each run's settings, recipe from its pair), and per
 * statistic one row per pair (value, 95% interval, n) with a descriptive spread: min and max
 * of the values across pairs and whether every pair's interval overlaps every other's
 * (equivalently max(lo) <= min(hi)); descriptive only, not a test of equality. Runs made
 * with different probe settings (any member of "params": item counts, sigmas, seed...) are
 * refused with one message naming both runs and the field. 0 or -1. */
int lw_probe_merge(const char *const *runs, int n_runs, const char *out_dir);

/* ---- the statistics, for tests and custom probes ---- */

/* Spearman's rank correlation (average ranks for ties; NaN when a side is constant; NaN and a
 * message when x or y is NULL or holds a NaN). */
double lw_probe_spearman(const double *x, const double *y, int64_t n);

/* Top-1 hits: query q (Q row) against the pool P (np x d rows; cand_off / cand_ids CSR lists,
 * NULL = the whole pool), correct when P row gold[q] has the strictly highest cosine.
 * hit[nq] gets 1 or 0. 0 or -1. */
int lw_probe_top1(const float *Q, int nq, const float *P, int np, int d, const int32_t *gold,
                  const int64_t *cand_off, const int32_t *cand_ids, double *hit);

/* The additive-lift comparison: per item, sum_hit (top-1 of the composite from the sum of its
 * parts) minus the best single part (max of part1_hit, part2_hit): diff[i] in {-1, 0, 1}. */
void lw_probe_additive_lift(const double *sum_hit, const double *part1_hit, const double *part2_hit, int n,
                            double *best_part, double *diff);

#ifdef __cplusplus
}
#endif
#endif
