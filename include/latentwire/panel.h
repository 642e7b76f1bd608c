/* Protocol panels with controls. The patching panel: does a donor model's residual stream,
 * patched into a receiver, move the receiver toward the donor's content more than controls do?
 *
 * Cells are (receiver, donor, depth): receivers x donors (the same model, or across models
 * through a ridge bridge fitted on the calibration texts), at relative depths f (each model's
 * block round(f (n_layer - 1))). Prompts are triples from matched genres: the receiver's text r
 * and the donor's text d from one domain, and a decoy text from another domain. For each prompt:
 *   - the donor reads d and continues it greedily for m tokens: c, the donor's content;
 *   - the effect of a patch v is the change it makes in the receiver's mean log-probability
 *     (nats per token) of c after r (teacher-forced):
 *         e(v) = mean_j log p_R(c_j | r, c_<j; v written at the patch position, layer)
 *              - mean_j log p_R(c_j | r, c_<j)                     (no patch)
 *     c is re-tokenized with the receiver's tokenizer when the vocabularies differ;
 *   - targeted patch: the donor's residual (resid_post, the last position of d) at its layer,
 *     mapped into the receiver's space when the models differ;
 *   - fitted-baseline patch: the mean of the receiver's own residuals at that layer and position
 *     (its last position) over the calibration texts;
 *   - decoy patch: the donor's residual for the decoy text.
 * Per cell: the paired difference e(target) - e(baseline) over prompts (mean with its 95% CI)
 * and the mean effects. Over cells: D = the mean of the cells' differences with a 95% CI over
 * cells (BCa bootstrap), judged against the pre-registered threshold (default 0.05): PASS when
 * the interval's lower bound is >= the threshold, FAIL when its upper bound is below it,
 * INCONCLUSIVE otherwise (a plan file and `latentwire verdict` add Holm across hypotheses), and
 * the decoy ratio = mean e(target) / mean
 * e(decoy) over all cells' prompts (a working channel exceeds 1.5), with a BCa bootstrap
 * interval over cells (a ratio is skewed: a percentile interval of it is shifted).
 *
 * The receiver's prompt prefix before the patch position is computed once per prompt and
 * kept resident while the unpatched run and the three patches are scored after it
 * (lw_session_truncate); reuse_prefix = false recomputes it for every patch (the benchmark). */
#ifndef LATENTWIRE_PANEL_H
#define LATENTWIRE_PANEL_H

#include <stdbool.h>
#include <stdint.h>

#include "latentwire/retrieval.h"
#include "latentwire/runtime.h"
#include "latentwire/verdict.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *name;        /* for reports */
    lw_session *session;     /* n_seq_max >= 1; the same session may serve several roles */
} lw_panel_model;

typedef struct {
    const char *receiver_text, *donor_text, *decoy_text;
} lw_panel_prompt;

typedef struct {
    const double *depths;    /* relative depths in [0, 1] (default {0.5}) */
    int n_depths;
    int continuation_tokens; /* m (default 4) */
    int position;            /* the receiver position patched: -1 = its last prompt position
                                (default); k >= 0 = position k (0 is BOS where one is added) */
    bool add;                /* add the patch to the receiver's residual instead of replacing it */
    bool reuse_prefix;       /* default true */
    double threshold;        /* D's pass threshold (default 0.05) */
    int resamples;           /* bootstrap resamples (default 2000) */
    uint64_t seed;
    void (*on_progress)(int done, int total, void *user);
    void *user;
    /* Records (latentwire/records.h): when set, each finished cell's per-prompt effects are
     * appended to this file as the cell finishes, under a settings line (settings_json, the
     * caller's part, plus the panel's own: every receiver's and donor's model sha256, the depths,
     * continuation tokens, position, add, prefix reuse, and the sha256 of the prompts' and the
     * calibration texts). With resume, the cells of an earlier run with the same settings are
     * taken from it and not run again, and the result is an uninterrupted run's (the effects are
     * kept exactly); a file of other settings is refused, naming the first setting that differs.
     * Without resume the file is begun anew. */
    const char *records_path;
    const char *settings_json;
    bool resume;
} lw_patching_params;

lw_patching_params lw_patching_default_params(void);

/* Cells below which D's interval is over prompts, not over cells (too few to see how cells vary). */
#define LW_PANEL_MIN_CELLS 5

typedef struct {
    int receiver, donor;     /* indices into the lists given */
    double depth;
    int receiver_layer, donor_layer;
    int n;                   /* prompts */
    double mean_target, mean_baseline, mean_decoy; /* mean effects (nats per token) */
    lw_ci diff;              /* e(target) - e(baseline), paired over the prompts */
    double p_value;          /* of the paired difference (two-sided) */
} lw_patching_cell;

typedef struct {
    lw_patching_cell *cells;
    int n_cells;
    lw_ci D;                 /* mean over cells of diff.mean; 95% BCa CI over cells, or with fewer than
                                LW_PANEL_MIN_CELLS cells over prompts (D.method says which) */
    lw_verdict_kind verdict; /* against the threshold (above) */
    double decoy_ratio;      /* mean target effect / mean decoy effect */
    double decoy_ratio_lo, decoy_ratio_hi; /* 95% BCa bootstrap over D's units (cells, or prompts
                                              below LW_PANEL_MIN_CELLS); NaN when undefined */
    /* per cell and prompt: the effects, n_cells x n_prompts each (for records and tests) */
    double *e_target, *e_baseline, *e_decoy;
    int n_prompts;
    int64_t receiver_runs, prefix_tokens_reused;   /* cost accounting */
} lw_patching_result;

/* Runs the panel. calib_texts (disjoint from the prompts' texts) fit the baselines and the
 * bridges. 0, or -1 with a message (a depth outside [0, 1], a prompt whose continuation is
 * empty, a patch position past a receiver prompt, no calibration texts...). */
int lw_panel_patching(const lw_panel_model *receivers, int n_receivers, const lw_panel_model *donors, int n_donors,
                      const lw_panel_prompt *prompts, int n_prompts, const char *const *calib_texts, int n_calib,
                      const lw_patching_params *p, lw_patching_result *out);
void lw_patching_result_free(lw_patching_result *r);

/* Writes dir/panel.json (format latentwire.panel.patching/1: every cell with its CI and n, the
 * summary D / pass / decoy ratio, the cost, the parameters, settings_json as given), dir/panel.csv
 * (one row per cell) and dir/records.jsonl (latentwire.items/1, one record per cell: condition
 * "target-minus-baseline", item "receiver<-donor@depth", metric "logp_shift") tied to
 * plan_sha256 (NULL: no plan). dir is created when missing (and removed again when this call
 * made it and then fails). 0 or -1. */
int lw_patching_save(const char *dir, const lw_panel_model *receivers, const lw_panel_model *donors,
                     const lw_patching_result *r, const lw_patching_params *p, const char *plan_sha256,
                     const char *settings_json);

/* The fitted baseline alone: the mean of the model's residual at layer over the texts' last
 * positions (BOS added as the model's tokenizer does). out: n_embd floats. 0 or -1. */
int lw_panel_fit_baseline(lw_session *s, int layer, const char *const *texts, int n, float *out);

/* The effect of one patch (see above) on one prompt: vec NULL = the unpatched score itself
 * (mean log-probability of the continuation). 0 or -1. For tests and custom panels. */
int lw_panel_score(lw_session *receiver, const int32_t *prompt, int n_prompt, const int32_t *cont, int n_cont,
                   int layer, int position, const float *vec, bool add, double *score);

/* Prompts from matched genres for the panel, drawn from the multi-domain corpus (news,
 * encyclopedic, conversation, science, math; latentwire/experiment.h) in data_dir: prompt i's
 * receiver and donor texts are two sentences of one domain (domains taken in turn), its decoy a
 * sentence of another; all from the corpus's test split. The calibration texts (n_calib, for
 * baselines and bridges) come from its calibration split: no text is in both. Sentences one of
 * the models cannot tokenize (a vocabulary without byte fallback) are skipped. Strings are
 * owned by *set. 0 or -1 (also for more than LW_PANEL_MAX_TEXTS prompts or calibration texts). */
#define LW_PANEL_MAX_TEXTS (1 << 24)
typedef struct {
    lw_panel_prompt *prompts;
    int n_prompts;
    char **calib;
    int n_calib;
    char **domain_of_prompt; /* n_prompts domain names (borrowed pointers into names) */
    char **names;
    int n_names;
    char **owned;            /* every string, for freeing */
    int n_owned;
} lw_panel_prompt_set;

int lw_panel_prompts_from_corpus(const char *data_dir, int n_prompts, int n_calib, uint64_t seed,
                                 const lw_model *const *models, int n_models, lw_panel_prompt_set *set);
void lw_panel_prompt_set_free(lw_panel_prompt_set *set);

#ifdef __cplusplus
}
#endif
#endif
