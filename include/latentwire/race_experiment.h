/* The channel race (`latentwire race`) as one library call, so a C or Python program runs it as
 * the CLI does: layers resolved, the bridge checked against both models, the task's items split
 * into calibration and reported parts, the settings fingerprinted for --resume, the records
 * written, the codecs' fit records kept beside them. The library prints nothing: the caller prints
 * race.json's table (lw_race_experiment_result.report_json).
 *
 * Messages name the settings by the options that set them (`--layer`, `--bridge`, `--task`, ...),
 * as the settings recorded in race.json do. */
#ifndef LATENTWIRE_RACE_EXPERIMENT_H
#define LATENTWIRE_RACE_EXPERIMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "latentwire/bridge.h"
#include "latentwire/patch.h"
#include "latentwire/race.h"
#include "latentwire/runtime.h"
#include "latentwire/task.h"

#ifdef __cplusplus
extern "C" {
#endif

struct lw_race_experiment_result;

typedef struct {
    lw_session *sender, *receiver;    /* borrowed; one session when a model races itself */
    const char *sender_name, *receiver_name; /* the settings' --sender / --receiver when a model's
                                         sha256 cannot be read (and in messages) */
    const lw_bridge *bridge;          /* sender -> receiver map, or NULL (borrowed) */
    const char *bridge_path;          /* its file: its sha256 joins the settings; named in messages */
    const char *layer;                /* the sender's layer: "mid" or a block, negative from the end
                                         (default "mid") */
    const char *receiver_layer;       /* NULL: the same as layer, resolved on the receiver */
    const lw_race_channel *channels;  /* lw_race_channel_parse */
    int n_channels;
    const int64_t *budgets;           /* K > 0 each, distinct */
    int n_budgets;
    const char *task;                 /* the task's spec or file, as named in the settings and messages */
    const lw_task *pool;              /* its items: lw_task_pool_from_spec(task, ..., calib, ...) */
    int n_report;                     /* items reported from the pool (what lw_task_pool_from_spec says) */
    int calib;                        /* calibration items, disjoint from the reported (default 100) */
    const char *exclude;              /* FILE.jsonl: pool items sharing an id or a text with its items
                                         are left out before the split; NULL: none */
    lw_patch_params patch;            /* positions / pooled, op, scale, answer tokens, chat, task vector */
    int cipher_steps;                 /* the cipher sender's steps (0: as many as fit) */
    const char *plan_sha256;          /* the pre-registration plan the run is under, or NULL */
    const char *out_dir;
    const char *const *inputs;        /* ("--option", path) pairs ended by NULL: files no output may be
                                         (lw_output_dir_check); NULL: none */
    int shard, n_shards;              /* default 0 / 1 */
    bool resume;
    int resamples;                    /* default 1000 */
    uint64_t seed;                    /* default 1 */
    int threads;                      /* 0: all cores */
    void (*on_progress)(void *ctx, int done, int total);
    /* once the layers are resolved and the items split, before any evaluation (may be NULL): the
     * result's layers and counts are filled */
    void (*on_ready)(void *ctx, const struct lw_race_experiment_result *so_far);
    void *progress_ctx;               /* both callbacks' ctx */
} lw_race_experiment_params;

lw_race_experiment_params lw_race_experiment_default_params(void);

typedef struct lw_race_experiment_result {
    int sender_layer, receiver_layer; /* resolved */
    int n_report, n_calib;            /* items of each part */
    int n_in_shard;                   /* reported items this shard scores */
    int n_pool, n_excluded;           /* the pool before --exclude, and what it left out */
    char *report_json;                /* race.json's text (an unsharded run), or NULL (a shard) */
} lw_race_experiment_result;

/* Only the output checks of a run (out_dir, this shard's files, none of them one of p->inputs),
 * for a caller that wants them before loading models. 0 or -1 (message). */
int lw_race_experiment_check_outputs(const lw_race_experiment_params *p);

/* Runs the race: outputs checked, layers resolved, the bridge checked against the two models
 * (lw_bridge_check_fit, then lw_race_check_bridge), the pool less --exclude split into calib and
 * n_report items (lw_task_split, seed ^ 0x7ace, no sender text in both), the evaluator built, the
 * records written by lw_race_run (resumed as p->resume says), fits.json (fits-shard-I-of-N.json)
 * updated with the codecs fitted, and an unsharded run's race.json, race.csv, race.jsonl and
 * records.jsonl written. *out filled (lw_race_experiment_result_free). 0 or -1 (message set;
 * the partial records are kept). */
int lw_race_experiment_run(const lw_race_experiment_params *p, lw_race_experiment_result *out);
void lw_race_experiment_result_free(lw_race_experiment_result *r);

/* ---- the codec retrieval test (`latentwire race retrieval`) as one call ----
 * lw_codec_retrieval (latentwire/race.h) on the passages of a file, with what the verb adds: the
 * output directory checked before any forward pass (none of its files may be the passages or one
 * of p->inputs: the passages file was overwritten by retrieval.csv with exit 0), the settings
 * fingerprinted for --resume (the model's and the passages' sha256, the field, GPU offload), the
 * rows appended to OUT/retrieval.partial as they finish, and OUT/retrieval.json and
 * OUT/retrieval.csv written whole. Messages name settings by their options (--layer, --passages). */
typedef struct {
    lw_session *session;              /* borrowed */
    const char *model_name;           /* the settings' --model when the model's sha256 cannot be read */
    const char *passages;             /* .txt (one passage per non-blank line) or .jsonl / .json */
    const char *field;                /* the .jsonl field (default "text") */
    const char *layer;                /* "mid" (default) or a block, negative from the end */
    int n_scored, n_calib;            /* default 1000 and 200 */
    const lw_codec_kind *codecs;      /* distinct */
    int n_codecs;
    const int64_t *budgets;           /* K > 0 each, distinct */
    int n_budgets;
    lw_codec_retrieval_params test;   /* threshold, level, seed, memo_bytes, progress; its layer,
                                         records_path, settings_json and resume are set by the run */
    const char *out_dir;
    const char *const *inputs;        /* more ("--option", path) pairs no output may be, ended by NULL
                                         (the passages are always checked); NULL: none */
    bool resume;                      /* keep the rows of OUT/retrieval.partial made with the same settings */
} lw_codec_retrieval_experiment_params;

lw_codec_retrieval_experiment_params lw_codec_retrieval_experiment_default_params(void);

/* Only the output checks (out_dir, its three files, none of them the passages or an input), for a
 * caller that wants them before loading the model. 0 or -1 (message). */
int lw_codec_retrieval_experiment_check_outputs(const lw_codec_retrieval_experiment_params *p);

/* Runs the test and writes its files. *result_json and *csv (may be NULL) get retrieval.json's and
 * retrieval.csv's text, malloc'd. 0 or -1 (message set; the finished rows stay in
 * OUT/retrieval.partial for --resume). */
int lw_codec_retrieval_experiment_run(const lw_codec_retrieval_experiment_params *p, char **result_json, char **csv);

#ifdef __cplusplus
}
#endif
#endif
