/* The two protocol panels as one call each, with what the verbs add to lw_panel_patching and
 * lw_probe_panel (latentwire/panel.h, latentwire/probes.h): the outputs checked before any
 * forward pass (none may be an input), the prompts or MRPC sentences found under a data
 * directory, the plan's sha256 recorded, the bridges checked against the models, the settings
 * fingerprinted for --resume, and the result files written as one group. `latentwire panel
 * patching` and `latentwire panel probes` only parse options, load the models and print the
 * tables; a C or Python caller gets the same files from these calls. Messages name settings
 * by their options (--out, --plan, --bridge). */
#ifndef LATENTWIRE_PANEL_EXPERIMENT_H
#define LATENTWIRE_PANEL_EXPERIMENT_H

#include <stdbool.h>

#include "latentwire/panel.h"
#include "latentwire/probes.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A model's name in a panel's tables and records: the file name of path, or path as given when
 * another of the n paths is a different file with the same file name (a/m.gguf, b/m.gguf), so
 * that no two cells share a name; one file given by two paths (a/m.gguf, ./a/m.gguf) gets the
 * name of its first path. The result points into paths[i] for some i, or into path (borrowed);
 * NULL (message) when path is NULL. */
const char *lw_panel_model_name(const char *const *paths, int n, const char *path);

/* ---- the patching panel (`latentwire panel patching`) ---- */
typedef struct {
    const lw_panel_model *receivers;  /* borrowed sessions, with their names */
    int n_receivers;
    const lw_panel_model *donors;
    int n_donors;
    const char *data_dir;             /* the multi-domain corpus (lw_panel_prompts_from_corpus) */
    int n_prompts;                    /* prompt triples (default 40, at least LW_PANEL_MIN_CELLS, at
                                         most LW_PANEL_MAX_TEXTS) */
    int n_calib;                      /* calibration texts (default 100, at most LW_PANEL_MAX_TEXTS) */
    lw_patching_params patching;      /* depths, continuation, position, add, threshold, resamples,
                                         seed (also the prompts' draw), progress; its records_path,
                                         settings_json and resume are set by the run */
    bool resume;                      /* keep the cells of OUT/panel.partial made with the same settings */
    const char *plan;                 /* a plan file (latentwire/verdict.h) whose sha256 the records carry; NULL: none */
    const char *out_dir;              /* panel.json, panel.csv, records.jsonl (and panel.partial while running) */
} lw_panel_patching_experiment_params;

lw_panel_patching_experiment_params lw_panel_patching_experiment_default_params(void);

/* The checks that need no model, for a caller that wants them before loading models: out_dir
 * and its files (none of them the plan), and the plan file itself. 0 or -1 (message). */
int lw_panel_patching_experiment_check(const lw_panel_patching_experiment_params *p);

/* Runs the panel and writes its files; *out filled (lw_patching_result_free). The finished cells
 * go to OUT/panel.partial as they finish, which is removed once the files are written; a failed
 * run keeps it for resume, and removes a directory it made and left empty. 0 or -1 (message). */
int lw_panel_patching_experiment_run(const lw_panel_patching_experiment_params *p, lw_patching_result *out);

/* ---- the probe panel on one aligned pair (`latentwire panel probes`) ---- */
typedef struct {
    lw_model *model_a, *model_b;      /* borrowed */
    const char *name_a, *name_b;      /* for the tables (NULL: "A", "B") */
    int layer_a, layer_b;             /* blocks, checked against the models */
    const char *bridge;               /* A -> B bridge file (required), fitted on these blocks of these
                                         models with mean pooling, else refused */
    const char *inverse;              /* B -> A bridge file; NULL: fitted on MRPC training sentences */
    const char *data_dir;             /* holds mrpc/ (chaining, robustness, a fitted inverse) */
    lw_probe_params probes;           /* its mrpc_dir, records_path, settings_json and resume are set by the run */
    bool resume;                      /* keep the embeddings of OUT/probes.partial made with the same settings */
    int n_threads;                    /* 0: the library's default */
    const char *plan;                 /* as above; NULL: none */
    const char *out_dir;              /* probes.json, records.jsonl (and probes.partial while running) */
} lw_probe_experiment_params;

lw_probe_experiment_params lw_probe_experiment_default_params(void);

/* The checks that need no model: the outputs (none may be the plan or a bridge), the plan file
 * and the bridge files. 0 or -1 (message). */
int lw_probe_experiment_check(const lw_probe_experiment_params *p);

/* Runs the probes and writes their files; *out filled (lw_probe_result_free). Every embedding call
 * goes to OUT/probes.partial as it finishes (removed once the files are written; a failed run
 * keeps it for resume, and removes a directory it made and left empty). 0 or -1 (message). */
int lw_probe_experiment_run(const lw_probe_experiment_params *p, lw_probe_result *out);

#ifdef __cplusplus
}
#endif
#endif
