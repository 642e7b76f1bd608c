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
#include "latentwire/retrieval.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A multi-domain sentence set built from ../shared/data: news (PTB), encyclopedic
 * (WikiText-2), conversation (DailyDialog), science (SciFact abstracts), math (GSM8K
 * questions), minimal pairs (BLiMP, good/bad twins kept in the same split, the hard
 * negatives of each other) and paraphrases (MRPC pairs a person judged paraphrases, twins
 * likewise). Sentences are ASCII, 6 to 40 words, de-duplicated, drawn by a seeded shuffle;
 * each domain is split into calibration and test. */
typedef struct {
    int64_t n;
    char **text;
    int32_t *domain;        /* index into domain_names */
    int32_t *twin;          /* index of the twin (minimal pair or paraphrase: see the domain), or -1 */
    bool *calib;            /* calibration split (else test) */
    int n_domains;
    char **domain_names;
} lw_mdcorpus;

/* n_pairs BLiMP minimal pairs and n_para MRPC paraphrase pairs (0: no such domain). */
int lw_mdcorpus_build(const char *data_dir, int per_domain, int n_pairs, int n_para, double calib_share,
                      uint64_t seed, lw_mdcorpus *out);
void lw_mdcorpus_free(lw_mdcorpus *c);

/* What lw_align_run reports as it goes (the library prints nothing; `latentwire align` prints
 * these as its tables). Pointers are valid during the call only. */
typedef enum {
    LW_ALIGN_EV_PROGRESS = 0,   /* text: what is being computed (activations extracted or reused) */
    LW_ALIGN_EV_INFO = 1,       /* text: a line describing the run (models, corpus, metrics) */
    LW_ALIGN_EV_SECTION = 2,    /* text: the title of the experiment whose rows follow */
    LW_ALIGN_EV_ROW = 3,        /* one scored condition (row) */
    LW_ALIGN_EV_COMPARISON = 4, /* one paired comparison of top-1 (comparison) */
    LW_ALIGN_EV_WROTE = 5,      /* text: the results file written (once per file) */
} lw_align_event_kind;

typedef struct {
    const char *experiment, *recipe, *site_a, *site_b, *regime;
    const char *note;           /* "" or a remark */
    int n_calib, n_queries;
    double mean_candidates;
    int n_metrics;
    const char *const *metric_names; /* top1, recall@5, recall@10, mrr@10, ndcg@10 */
    const lw_ci *metrics;       /* 95% CI per metric */
} lw_align_row;

typedef struct {
    const char *experiment, *a, *b; /* top-1 of a minus top-1 of b on the same queries */
    lw_ci difference;
    double p_value;
    int n;
} lw_align_comparison;

typedef struct {
    lw_align_event_kind kind;
    const char *text;
    const lw_align_row *row;
    const lw_align_comparison *comparison;
} lw_align_event;

typedef struct {
    const char *source_model;   /* model A (queries) */
    const char *target_model;   /* model B (candidates) */
    const char *data_dir;       /* ../shared/data */
    const char *out_dir;        /* results (JSON, CSV) and cached activations */
    int per_domain;             /* sentences per domain (default 200) */
    int n_pairs;                /* BLiMP minimal pairs (default 100) */
    int n_para;                 /* MRPC paraphrase pairs (default 100): the paraphrase-adjacent regime */
    double calib_share;         /* share of each domain used for calibration (default 0.6) */
    uint64_t seed;              /* corpus draw, distractors, bootstrap (default 1) */
    int resamples;              /* bootstrap resamples (default 1000) */
    int threads;                /* 0 = all cores */
    int n_gpu_layers;           /* layers offloaded to a GPU backend when one is built (default 0) */
    lw_bridge_recipe recipe;    /* recipe of the depth, calibration and shift experiments (default ridge) */
    bool quick;                 /* fewer conditions (tests) */
    void (*on_event)(const lw_align_event *e, void *user); /* NULL: silent */
    void *user;
} lw_align_params;

lw_align_params lw_align_default_params(void);

/* Runs the experiment: reports its rows through p->on_event, writes <out_dir>/align.json and
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
