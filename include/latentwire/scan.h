/* The layer scan: in-context skill transfer through patched activations, layer by layer.
 *
 * For every item of a task (sender text = k demonstrations of a skill, receiver prompt = the
 * query alone, see lw_task_skill) and every scanned layer L, the sender reads its text and its
 * residual stream at L (the last T positions, or the mean over the text: lw_patch_read) is
 * written into the receiver's prompt at the receiver's layer for L (replace, or add times a
 * scale: lw_patch_answer); the receiver answers greedily and the answer is scored. Two
 * conditions frame the layers: the prompt-only floor (the receiver reads the query alone) and
 * the text ceiling (the receiver reads the demonstrations, then the query).
 *
 * The items are split (lw_task_split, disjoint by text) into a selection split, on which the
 * layer is chosen (highest exact match; ties: the first layer listed), and a held-out split,
 * on which everything is reported: each layer's exact match, the floor and the ceiling with
 * their 95% intervals (Clopper-Pearson for 0/1 scores, lw_ci_mean) and n, and the chosen
 * layer's accuracy with its paired difference against the floor on the same held-out items
 * (lw_ci_paired: Newcombe's interval, McNemar's exact p). Every layer is also reported on the
 * selection split, for reading, never for the choice's report.
 *
 * Records: every (split, condition, item) result is appended to a records file after a
 * settings line (the caller's settings plus a hash of the items of both splits); a run with
 * resume reuses the records of an interrupted one with the same settings and refuses one made
 * with others, naming the first setting that differs. */
#ifndef LATENTWIRE_SCAN_H
#define LATENTWIRE_SCAN_H

#include <stdbool.h>
#include <stdint.h>

#include "latentwire/bridge.h"
#include "latentwire/patch.h"
#include "latentwire/retrieval.h"
#include "latentwire/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Conditions an evaluator is asked for: LW_SCAN_FLOOR, LW_SCAN_CEILING, or a layer's index
 * k (0..n_layers-1) into lw_scan_params.layers. */
#define LW_SCAN_FLOOR (-1)
#define LW_SCAN_CEILING (-2)

/* Scores one item under one condition: *score in [0, 1], *output (malloc'd, may stay NULL)
 * the receiver's answer. 0 or -1 (message set; the scan stops, its records kept). */
typedef int (*lw_scan_eval_fn)(void *ctx, const lw_task_item *item, int condition, double *score, char **output);

typedef struct {
    const int *layers;          /* the sender's blocks to scan (resolved, 0..n_layer-1) */
    int n_layers;
    const int *receiver_layers; /* the receiver's block for each; NULL: the same numbers */
    int n_select;               /* items in the selection split (>= 1) */
    int n_report;               /* held-out items; < 0: every item left */
    uint64_t seed;              /* the split's seed */
    const char *records;        /* records file (e.g. OUT/scan.partial) or NULL */
    bool resume;
    const char *resume_from;    /* with resume: the records file to reuse when it is not `records` (a
                                   finished run's OUT/scan.records.jsonl); NULL: `records`. Only read:
                                   the kept records are written to `records`, and a refusal names this file */
    const char *settings_json;  /* a JSON object: every setting that changes a record, or NULL */
    int resamples;              /* bootstrap resamples for scores that are not 0/1 (default 1000) */
    void (*progress)(void *ctx, int done, int total); /* or NULL */
    void *progress_ctx;
} lw_scan_params;

lw_scan_params lw_scan_default_params(void);

typedef struct {
    int layer, receiver_layer;
    lw_ci select, held_out;     /* mean score (exact match) with its interval and n */
} lw_scan_layer;

typedef struct {
    lw_task select, held_out;   /* the splits */
    int n_layers;
    lw_scan_layer *layers;
    lw_ci floor, ceiling;       /* held-out */
    lw_ci floor_select, ceiling_select;
    int chosen;                 /* index into layers, chosen on the selection split */
    lw_ci chosen_minus_floor;   /* paired, held-out items */
    double chosen_p_value;      /* McNemar's exact p (or the bootstrap's) */
    double *scores;             /* per split (0 select, 1 held-out), condition (floor, ceiling,
                                   layers...), item: see lw_scan_score */
    char *settings_json;        /* the settings line's object (with the items' hash) */
} lw_scan_result;

/* The score of item i of split (0 selection, 1 held-out) under condition. */
double lw_scan_score(const lw_scan_result *r, int split, int condition, int i);

/* The selection (parts[0]) and held-out (parts[1]) items lw_scan_run_eval draws from pool
 * (lw_task_split, seeded by p->seed, sizes p->n_select and p->n_report). 0, or -1 (message set:
 * too few distinct texts; nothing returned). */
int lw_scan_split(const lw_task *pool, const lw_scan_params *p, lw_task parts[2]);

/* Splits pool, runs every condition on both splits through eval (records reused on resume)
 * and summarizes. The records file is left in place (the caller renames it when done).
 * 0 or -1 (message set: too few distinct texts for the splits, a records file made with
 * other settings, an evaluator error...). */
int lw_scan_run_eval(const lw_task *pool, const lw_scan_params *p, lw_scan_eval_fn eval, void *eval_ctx,
                     lw_scan_result *out);

/* The scan through models: sender and receiver sessions (may be one), patch settings, and
 * per scanned layer an optional bridge mapping the sender's vectors to the receiver's width
 * (NULL array or entry: the vectors go as they are, which needs equal widths). */
typedef struct {
    lw_session *sender, *receiver;
    lw_patch_params patch;
    const lw_bridge *const *bridges;
} lw_scan_models;

/* lw_scan_run_eval with the patching evaluator of models. Checks before any work: layers in
 * range on both models, T >= 1, equal widths or a bridge of the right dimensions. */
int lw_scan_run(const lw_task *pool, const lw_scan_params *p, const lw_scan_models *m, lw_scan_result *out);

/* Writes DIR/scan.json (settings, the splits' item ids, every number with its interval and
 * n) and DIR/scan.csv (split, condition, layer, receiver_layer, mean, lo, hi, n, method),
 * each atomically. 0 or -1. */
int lw_scan_write(const lw_scan_result *r, const char *dir);

void lw_scan_result_free(lw_scan_result *r);

/* ---- the scan as `latentwire scan` runs it: one call ----
 * Items: lw_scan_task_load (skill:NAME, fv:NAME in the skill format, or a task FILE.jsonl: n_items
 * of them, k_shot demonstrations each). Then lw_scan_experiment_run: the layer lists resolved on
 * both models (the receiver's: listed, the same numbers with one model, the same relative depth
 * across two), the bridges checked (one for every layer, or one per layer; each against the models
 * it was fitted on, and its layers when it serves one pair), the settings fingerprinted under the
 * CLI's option names, the records kept in OUT/scan.partial and renamed to OUT/scan.records.jsonl
 * when done (with resume, an interrupted run's partial or a finished run's records are reused),
 * scan.json and scan.csv written. A failed run leaves its records and nothing else it made. */
int lw_scan_task_load(const char *spec, const char *data_dir, int k_shot, int n_items, uint64_t seed, lw_task *out);

typedef struct {
    lw_session *sender, *receiver;        /* borrowed; one session when a model scans itself */
    const char *sender_name, *receiver_name; /* the settings' names when a model's sha256 cannot be read */
    const char *task;                     /* the spec the items came from (recorded) */
    const lw_task *pool;                  /* lw_scan_task_load */
    int k_shot;                           /* what the items were made with (recorded; default 5) */
    const char *layers;                   /* sender layers (lw_layer_list_parse; default "all") */
    const char *receiver_layers;          /* one per sender layer, or NULL */
    const lw_bridge *const *bridges;      /* n_bridges: 0, 1 (every layer) or one per layer */
    const char *const *bridge_paths;      /* their files (sha256 recorded; named in messages) */
    int n_bridges;
    lw_patch_params patch;
    int n_select, n_report;               /* the splits (default 20 and 40) */
    uint64_t seed;                        /* default 1 */
    int resamples;                        /* default 1000 */
    bool resume;
    const char *out_dir;
    const char *const *inputs;            /* ("--option", path) pairs ended by NULL that no output may be */
    void (*progress)(void *ctx, int done, int total);
    void *progress_ctx;
} lw_scan_experiment_params;

lw_scan_experiment_params lw_scan_experiment_default_params(void);

/* 0 or -1 (message naming the option: --layers, --receiver-layers, --bridge, --out). */
int lw_scan_experiment_run(const lw_scan_experiment_params *p, lw_scan_result *out);

#ifdef __cplusplus
}
#endif
#endif
