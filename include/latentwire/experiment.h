/* Experiment protocols.
 *
 * The alignment experiment (`latentwire align`): the same sentences through two models,
 * a linear bridge fitted from model A's activations at one layer to model B's on a
 * calibration split, and retrieval of each bridged A-activation among B-activations of a
 * held-out bank, under several candidate regimes, with bootstrap CIs, a depth curve, a
 * calibration-size curve (with an oracle fit on the test bank), a recipe comparison and a
 * corpus-shift check (leave one domain out). */
#ifndef LATENTWIRE_EXPERIMENT_H
#define LATENTWIRE_EXPERIMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "latentwire/bridge.h"
#include "latentwire/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A multi-domain sentence set built from ../shared/data: news (PTB), encyclopedic
 * (WikiText-2), conversation (DailyDialog), science (SciFact abstracts), math (GSM8K
 * questions) and minimal pairs (BLiMP, good/bad twins kept in the same split, the
 * hard negatives of each other). Sentences are ASCII, 6 to 40 words, de-duplicated, drawn
 * by a seeded shuffle; each domain is split into calibration and test. */
typedef struct {
    int64_t n;
    char **text;
    int32_t *domain;        /* index into domain_names */
    int32_t *twin;          /* index of the minimal-pair twin, or -1 */
    bool *calib;            /* calibration split (else test) */
    int n_domains;
    char **domain_names;
} lw_mdcorpus;

int lw_mdcorpus_build(const char *data_dir, int per_domain, int n_pairs, double calib_share, uint64_t seed,
                      lw_mdcorpus *out);
void lw_mdcorpus_free(lw_mdcorpus *c);

typedef struct {
    const char *source_model;   /* model A (queries) */
    const char *target_model;   /* model B (candidates) */
    const char *data_dir;       /* ../shared/data */
    const char *out_dir;        /* results (JSON, CSV) and cached activations */
    int per_domain;             /* sentences per domain (default 200) */
    int n_pairs;                /* BLiMP minimal pairs (default 100) */
    double calib_share;         /* share of each domain used for calibration (default 0.6) */
    uint64_t seed;              /* corpus draw, distractors, bootstrap (default 1) */
    int resamples;              /* bootstrap resamples (default 1000) */
    int threads;                /* 0 = all cores */
    int n_gpu_layers;           /* layers offloaded to a GPU backend when one is built (default 0) */
    lw_bridge_recipe recipe;    /* recipe of the depth, calibration and shift experiments (default ridge) */
    bool quick;                 /* fewer conditions (tests) */
} lw_align_params;

lw_align_params lw_align_default_params(void);

/* Runs the experiment: prints tables to stdout, writes <out_dir>/align.json and
 * <out_dir>/align.csv (one row per condition and metric). Activations are cached in
 * out_dir and reused when the corpus and models are unchanged. The output directory and the
 * model files are checked before any work; a run that fails removes the files and folders it
 * created (only those), and a corpus that leaves no rows both models encode is an error,
 * never an empty result. 0 or -1. */
int lw_align_run(const lw_align_params *p);

#ifdef __cplusplus
}
#endif
#endif
