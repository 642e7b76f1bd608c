/* The channel and debate experiments (`latentwire channel`, `latentwire debate`) as library calls,
 * so a C or Python program runs them as the CLI does: the same conditions, selection and
 * calibration splits, per-item records (resumable), statistics and JSON summary. The library
 * prints nothing: it returns the results and the caller prints its tables.
 *
 * Messages name the settings by the options that set them (`--k`, `--channel`, ...), as the
 * settings of the records and the JSON summary do.
 *
 * The channel experiment: every condition of `channels` runs on every reported item (lw_channel_run,
 * scored by lw_score). `ac` and `acw` make one condition per (k, j, op) of the lists; when a family
 * has several, each runs on `select` selection items and only the one with the best mean score there
 * (ties: the first listed) is reported. `acw` without `ac_bridge` fits one ridge map per (k, j)
 * (lw_channel_fit_ac_bridge) on the sender texts of `calib` calibration items. Selection,
 * calibration and reported items are drawn from one pool (lw_task_split, seed ^ 0x5e1ec7) so that no
 * sender text is in two parts. CIPHER between different vocabularies and AC between different widths
 * are rows "not applicable" (with the reason) while the others run. Accuracy per row: lw_ci_mean
 * (resamples, 0.95, seed); the paired difference of each row against `text` (else the first row that
 * ran): lw_ci_paired on the same items. */
#ifndef LATENTWIRE_CHANNEL_EXPERIMENT_H
#define LATENTWIRE_CHANNEL_EXPERIMENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "latentwire/channel.h"
#include "latentwire/retrieval.h"
#include "latentwire/runtime.h"
#include "latentwire/task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *sender, *receiver;  /* the models' names: the settings' --sender / --receiver when a
                                       model's sha256 cannot be read */
    const char *task;               /* the task's name in messages ("--task NAME has no items") */
    const char *channels;           /* comma list of none, context, text, cipher, ac, acw
                                       (default "none,text,ac") */
    const char *k_layers, *j_layers; /* ac / acw: the sender's and the receiver's layers, numbers
                                       (negative from the end) or mid (default "mid") */
    const char *ops;                /* ac / acw: replace, sum, mean (default "replace") */
    int select;                     /* selection items when a family sweeps settings (default 100) */
    int calib;                      /* acw: calibration items of the fitted maps (default 200) */
    const char *ac_bridge;          /* acw: this bridge file instead of fitted maps (NULL); fitted by bridge fit
                                       on last-token rows (--pool last) of the k and j of every acw
                                       condition and of these models, else refused */
    int message_tokens;             /* text / CIPHER message length (default 24) */
    int answer_tokens;              /* the receiver's answer length (default 8) */
    float temp;                     /* text: the sender's sampling temperature; CIPHER: the softmax
                                       temperature; < 0 (default): 0 for text, 1 for CIPHER */
    int top_k;                      /* CIPHER truncation (default 0: off) */
    float top_p;                    /* (default 1: off) */
    float onehot;                   /* CIPHER partial one-hot threshold (default 2: never) */
    bool chat;                      /* each side's input in its model's chat template */
    uint64_t seed;                  /* split, sampling, bootstrap (default 1) */
    int resamples;                  /* bootstrap resamples (default 1000) */
    const char *records;            /* per-item records (latentwire/records.h): a settings line, then one
                                       line per (split, condition, item), written as RECORDS.partial and
                                       renamed to RECORDS when complete; NULL: none */
    const char *summary;            /* the JSON summary (as lw_channel_experiment_save writes it), written
                                       at the end with the records as one group: both appear or neither
                                       (the records then stay in RECORDS.partial for resume); NULL: none */
    bool resume;                    /* keep the records of RECORDS.partial made with the same settings */
    void (*on_progress)(void *ctx, int done, int total); /* after each run (may be NULL) */
    void *progress_ctx;
} lw_channel_experiment_params;

lw_channel_experiment_params lw_channel_experiment_default_params(void);

/* One reported row: a condition that ran on the reported items, or one that is not applicable. */
typedef struct {
    char name[64];                  /* "text", "ac[k=2,j=4,replace]", ... */
    bool applicable;
    char reason[256];               /* not applicable: why */
    int n;                          /* items scored */
    lw_ci accuracy;
    lw_channel_cost total;          /* every cost summed over the items (the means: total / n) */
    bool compared;                  /* a paired difference against the reference row */
    lw_ci difference;               /* this row - the reference row, on the same items */
    double p_value;                 /* McNemar's exact p (lw_ci_paired) */
} lw_channel_experiment_row;

/* The setting chosen on the selection items for a family that swept several. */
typedef struct {
    char family[8];                 /* "ac" or "acw" */
    char chosen[64];                /* its row's name */
    double score;                   /* its mean score on the selection items */
    int n_items, n_settings;        /* selection items, settings swept */
} lw_channel_experiment_choice;

typedef struct {
    int n_report, n_select, n_calib; /* items of each part (0: no such part) */
    int n_rows;
    lw_channel_experiment_row *rows; /* every fixed channel and not-applicable row, then one row per
                                        AC family */
    int reference;                  /* the row the differences are against (-1: none ran) */
    int n_choices;
    lw_channel_experiment_choice choices[2];
    json_t *summary;                /* the JSON summary: settings, calibration (maps' records), selection
                                       (items, scores, choices), items, conditions, differences */
} lw_channel_experiment_result;

typedef struct lw_channel_experiment lw_channel_experiment;

/* The conditions of p for these sessions (they may be one session; the experiment borrows them):
 * the lists parsed (an empty list or item, an item listed twice, an unknown channel or op, a layer
 * the model has not are errors naming the option and item), layers resolved, the ac_bridge file
 * loaded, rows not applicable marked. Nothing applicable is an error saying why. The strings of p
 * are borrowed: they must outlive the experiment. NULL + message. */
lw_channel_experiment *lw_channel_experiment_new(lw_session *sender, lw_session *receiver,
                                                 const lw_channel_experiment_params *p);
void lw_channel_experiment_free(lw_channel_experiment *e);

/* The selection and calibration items the experiment needs besides the reported ones (0 when it
 * sweeps nothing / fits no map): the pool must hold them too. */
void lw_channel_experiment_needs(const lw_channel_experiment *e, int *n_select, int *n_calib);

/* Runs the experiment on a pool: split into selection, calibration and n_report reported items
 * (n_report < 0: every item left; with no selection or calibration part the whole pool is
 * reported). Records are written (and resumed) as p->records says. *out: the result
 * (lw_channel_experiment_result_free). 0 or -1 (message set; the partial records are kept). */
int lw_channel_experiment_run(lw_channel_experiment *e, const lw_task *pool, int n_report,
                              lw_channel_experiment_result **out);
void lw_channel_experiment_result_free(lw_channel_experiment_result *r);

/* Writes the JSON summary to path (indented, through a temporary file). 0 or -1. */
int lw_channel_experiment_save(const lw_channel_experiment_result *r, const char *path);

/* ---- the debate experiment ----
 * Every item's question (its sender text, a space, its receiver prompt) goes to lw_debate_run; the
 * majority vote and agent 0's round-1 answer are scored (lw_score); accuracy of both (lw_ci_mean)
 * and the paired difference vote - agent 0 (lw_ci_paired), with resamples, 0.95 and debate.seed. */
typedef struct {
    const char *agents;             /* "M1.gguf[:TEMP],M2.gguf[:TEMP],...": each model with its sampling
                                       temperature >= 0 after the last ':' (default 0.7; 0 greedy); at most
                                       16; an item listed twice, or one model greedy twice, is refused */
    lw_model_params model;          /* how each agent's model is loaded */
    lw_session_params session;
    lw_debate_params debate;        /* rounds, channel, answer length, seed, chat (numeric: per item) */
    int resamples;                  /* default 1000 */
    const char *records;            /* one line per item (question, answers, vote, scores, seconds) under a
                                       settings line, appended to RECORDS.partial as each item finishes and
                                       renamed when complete (a failed run keeps it for resume); NULL: none */
    bool resume;                    /* with records: keep the items RECORDS.partial holds from a run with the
                                       same settings (every agent's model by sha256 and temperature, rounds,
                                       channel, answer length, seed, chat, the task's items) and debate only
                                       the rest; the outputs are those of an uninterrupted run (an item's
                                       debate depends on no other item); a file of other settings is refused,
                                       naming the first that differs. Without it a run starts over */
    const char *summary;            /* the JSON summary (as lw_debate_experiment_save writes it), written at
                                       the end with the records as one group: both appear or neither; NULL: none */
    void (*on_progress)(void *ctx, int done, int total); /* after each item (may be NULL) */
    void *progress_ctx;
} lw_debate_experiment_params;

lw_debate_experiment_params lw_debate_experiment_default_params(void);

typedef struct {
    int n_agents, rounds, n_items;
    lw_channel_kind channel;
    lw_ci vote, solo;               /* the majority vote's and agent 0's (round 1) accuracy */
    lw_ci difference;               /* vote - solo, paired */
    double p_value;
    double wall_s;                  /* every item's debate, summed */
} lw_debate_experiment_result;

/* Parses the agents, loads their models, runs every item of t. 0 or -1 (message set). */
int lw_debate_experiment_run(const lw_debate_experiment_params *p, const lw_task *t, lw_debate_experiment_result *out);

/* Writes {"vote", "solo", "difference" (with "p_value")} to path. 0 or -1. */
int lw_debate_experiment_save(const lw_debate_experiment_result *r, const char *path);

#ifdef __cplusplus
}
#endif
#endif
