/* The channel race: does an activation channel ever beat text, bit for bit?
 *
 * A sender reads an item's demonstrations; what reaches the receiver is squeezed through a codec
 * into at most K bits; the receiver answers the item's query. Channels:
 *   floor        no message: the receiver reads the query alone (one row, no budget);
 *   ceiling      the receiver reads the full demonstrations, then the query (one row, no budget;
 *                its payload is 8 x the demonstrations' UTF-8 bytes);
 *   act:CODEC    the sender's residual at its layer (lw_patch_read), an activation codec fitted
 *                at budget K on calibration rows, encode -> decode -> (bridge) -> written into the
 *                receiver at its layer while it reads the query (lw_patch_answer);
 *   text:CODEC   a text codec at K on the demonstrations -> decode -> the receiver reads the
 *                decoded text, then the query (lw_race_prompt: the same join as the ceiling).
 *   cipher       CIPHER (Pham et al., ICLR 2024) quantized to the budget: the sender reads the
 *                demonstrations and continues them greedily for G steps (lw_race_setup.cipher_steps;
 *                0: as many as fit one token id each, at most 24), keeping each step's distribution
 *                as its top m (token id, weight) entries: the payload is those entries serialized
 *                (ids in max(8, ceil(log2 V)) bits, weights in 4 bits when m >= 2, renormalized over
 *                the m; m the most that fit K / G bits per step, at most 8); the receiver reads
 *                [BOS], the soft tokens (sum of weight x its own embedding row per step) as one
 *                piece, then the query, and answers. With m = 1 the soft tokens are the embedding
 *                rows of the sender's greedy tokens: the receiver reads the hard tokens. A budget
 *                that does not hold G token ids makes the cell "not applicable" (the reason says
 *                which budget would). Sender and receiver must share the vocabulary (refused up
 *                front otherwise). Side bits 0 (the receiver's own embeddings).
 * text:summary is a reference row: reported, never compared as a competitor. "AC quantized to the
 * budget" (issue 9) is act:CODEC at --positions 1: the sender's last-token residual at its layer
 * through a budgeted activation codec into the receiver's layer; it has no channel of its own.
 *
 * The engine (lw_race_run) knows nothing of models: it asks a per-item evaluation callback for
 * (channel, budget, item) -> score, payload bits, side bits, so its statistics, verdicts,
 * outputs, resume and sharding are tested with synthetic scores. lw_race_evaluator_* is the
 * callback on real models.
 *
 * Statistics (race.json, race.csv), per channel and budget: accuracy (mean score) with its 95%
 * interval (lw_ci_mean: exact Clopper-Pearson for 0/1 scores) and n, mean and maximum payload
 * bits, side bits and side bits amortized over the items scored. Per budget, every competing
 * latent channel (act:CODEC, cipher) against every competing text channel (race.json names the
 * latent one under "activation"): the difference (activation - text)
 * on the same items with lw_ci_paired's interval (Newcombe's hybrid score interval for paired
 * 0/1 outcomes, McNemar's exact p; a BCa paired bootstrap for non-binary scores) and the
 * verdict: "text dominates" when the upper bound < 0, "activation dominates" when the lower
 * bound > 0, else "no difference shown". Two cells not scored on the same items are compared
 * unpaired (Newcombe's independent-proportions interval, or a normal interval for non-binary
 * scores) and labelled "unpaired". */
#ifndef LATENTWIRE_RACE_H
#define LATENTWIRE_RACE_H

#include <stdbool.h>
#include <stdint.h>

#include "latentwire/bridge.h"
#include "latentwire/codec.h"
#include "latentwire/error.h"
#include "latentwire/patch.h"
#include "latentwire/runtime.h"
#include "latentwire/task.h"
#include "latentwire/verdict.h"

#ifdef __cplusplus
extern "C" {
#endif

/* LW_RACE_MEAN, "mean": the zero-payload control. The receiver's query gets the mean of the sender's
 * calibration activations (mapped through the bridge), the same for every item: what side
 * information alone (a fitted mean, which pcaq and the other fitted codecs also hold) carries
 * without a single payload bit. An act: row not above it has not shown that its payload matters. */
typedef enum { LW_RACE_FLOOR = 0, LW_RACE_CEILING, LW_RACE_ACT, LW_RACE_TEXT, LW_RACE_CIPHER, LW_RACE_MEAN } lw_race_family;

typedef struct {
    char name[40];          /* "floor", "ceiling", "act:topk", "text:zlib", ... */
    lw_race_family family;
    lw_codec_kind codec;    /* act / text */
    bool competes;          /* false for floor, ceiling, mean and the summary reference */
} lw_race_channel;

/* "floor", "ceiling", "mean", "act:CODEC" (an activation codec), "text:CODEC" (a text codec), "cipher". 0, or -1
 * with a message naming the spec and what is accepted. */
int lw_race_channel_parse(const char *spec, lw_race_channel *out);
/* Whether a channel has one row per budget (act, text, cipher) or one row in all (floor, ceiling, mean). */
bool lw_race_channel_budgeted(const lw_race_channel *ch);

/* What one evaluation gives back. */
typedef struct {
    double score;           /* lw_score of the receiver's answer, in [0, 1] */
    int64_t payload_bits;   /* 8 x the serialized payload's bytes (floor 0) */
    int64_t side_bits;      /* the codec's side information (the same for every item of a cell) */
    char *output;           /* the receiver's answer (malloc'd, may be NULL; the engine frees it) */
    char na[1024];          /* non-empty: this item is not applicable to this channel (why); not scored.
                             * As long as a library message, so a reason taken from one is whole */
} lw_race_outcome;

/* The per-item evaluation: channel, budget (0 for floor / ceiling), the item's index in the
 * race's item list. 0, or -1 (message set: the run stops; finished records are kept). */
typedef int (*lw_race_eval_fn)(void *ctx, const lw_race_channel *ch, int64_t budget_bits, int item,
                               lw_race_outcome *out);

typedef struct {
    const char *out_dir;            /* race.partial (or race-shard-I-of-N.partial), race.jsonl, race.json, race.csv */
    const char *settings_json;      /* the caller's settings (a JSON object as text): part of the resume
                                       fingerprint and of race.json; NULL = {} */
    const lw_race_channel *channels;
    int n_channels;
    const int64_t *budgets;         /* K > 0 each, distinct */
    int n_budgets;
    const char *const *item_ids;    /* distinct */
    int n_items;
    int shard, n_shards;            /* this process scores items i with i % n_shards == shard (default 0 / 1) */
    bool resume;                    /* keep the records of an interrupted run with the same settings */
    int resamples;                  /* bootstrap resamples where one is used (default 1000) */
    double level;                   /* interval level (default 0.95) */
    uint64_t seed;
    lw_race_eval_fn eval;
    void *eval_ctx;
    void (*on_progress)(void *ctx, int done, int total); /* after each record (may be NULL) */
    void *progress_ctx;
} lw_race_params;

lw_race_params lw_race_default_params(void);

/* Scores this shard's items on every channel and budget, appending each record to the shard's
 * partial file as it finishes (resuming from an earlier one when asked). An unsharded run then
 * writes the outputs (lw_race_merge of its partial); a shard stops with its partial complete.
 * Each evaluation's wall time goes to out_dir/timing.json (timing-shard-I-of-N.json): per cell the
 * items timed, total seconds, mean, median and first item's ms, one entry per process (a resumed
 * run adds its own); kept apart because a clock is not deterministic. 0 or -1 (message set). */
int lw_race_run(const lw_race_params *p);

/* The partial file a run of shard `shard` of n_shards writes in out_dir (malloc'd); NULL (message
 * set) unless 0 <= shard < n_shards. */
char *lw_race_partial_path(const char *out_dir, int shard, int n_shards);

/* Merges the complete partials of every shard of a run in out_dir (race.partial, or the N
 * files race-shard-I-of-N.partial, whose settings must agree but for the shard) into
 * race.jsonl (records in item, channel, budget order, with the settings line), race.json,
 * race.csv and records.jsonl (lw_race_write_items), the same bytes as an unsharded run gives;
 * the four appear together or not at all. A missing shard, a missing or duplicate
 * record is an error naming it. report_json (may be NULL) gets race.json's text (malloc'd).
 * 0 or -1. */
int lw_race_merge(const char *out_dir, char **report_json);

/* Writes out_dir/records.jsonl (latentwire.items/1, for `latentwire verdict`) from a finished
 * race's race.jsonl (lw_race_merge, and so an unsharded lw_race_run, writes it already): one record per scored item and cell, condition "CHANNEL@K" ("act:pcaq@64",
 * "text:zlib@64"; "floor" and "ceiling" without a budget), metric "exact_match", tied to the
 * plan whose sha256 the run's settings hold ("plan_sha256"; none: records no verdict accepts).
 * 0 or -1. */
int lw_race_write_items(const char *out_dir);

/* Before a run under a plan: every condition the plan's hypotheses name must be a cell this race
 * writes ("floor", "ceiling", or CHANNEL@K for a coded channel and a budget K of the run) and every
 * metric "exact_match" (what lw_race_write_items records); else -1 with one message naming the plan
 * file, the hypothesis and the condition (a plan naming cipher@64 for a run with --budgets 256 would
 * otherwise fail only at `verdict`, after the whole run). plan_path names the plan in messages. */
int lw_race_check_plan(const lw_plan *plan, const char *plan_path, const lw_race_channel *channels,
                       int n_channels, const int64_t *budgets, int n_budgets);

/* The receiver's prompt for a message (the ceiling's demonstrations, a decoded text) and the
 * query: message, then the query, separated by a newline unless the message is empty or ends
 * with one. malloc'd. */
char *lw_race_prompt(const char *message, const char *query);

/* An item's query alone: when its receiver prompt begins with its sender text (fv: tasks
 * write the demonstrations before the query), what follows; else the receiver prompt. Borrowed.
 * NULL (message set) for a NULL item or receiver. */
const char *lw_race_query(const lw_task_item *item);

/* ---- the evaluation on real models ---- */

typedef struct {
    lw_session *sender, *receiver;  /* may be one session */
    const lw_bridge *bridge;        /* sender -> receiver space (its source width the sender's, its
                                       output width the receiver's); NULL: the same model on both sides */
    int sender_layer, receiver_layer; /* negative: from the end */
    lw_patch_params patch;          /* positions T / pooled, op, answer length, chat, task vector (act:
                                       channels only: text channels send the sender text whole) */
    bool activations;               /* act: or mean channels will run: the bridge (or its absence) is checked */
    uint64_t seed;
    int threads;
    bool cipher;                    /* the cipher channel will run: the vocabularies are checked */
    int cipher_steps;               /* G, the cipher sender's steps (0: as many as fit, at most 24) */
    bool texts;                     /* a channel reads the sender's text before the query (ceiling,
                                       text:): that prompt and the answer must fit the receiver's
                                       context too (the query alone is always checked) */
    bool text_codecs;               /* a text: channel other than summary runs: its decoded text, a prefix
                                       of the sender text that a cut mid-word can make re-tokenize to
                                       more tokens than the text's own, is bounded by the text's bytes */
    bool summary;                   /* text:summary runs: the receiver's summary (up to the codec's
                                       summary_tokens) precedes the query */
} lw_race_setup;

typedef struct lw_race_evaluator lw_race_evaluator;

/* The evaluation callback's context: the reported items (scored), the calibration items (the
 * codecs are fitted on their sender texts / sender activations; disjoint from the reported
 * ones: lw_task_split). Checks up front that the bridge fits the two models' widths and that
 * two different models have one, (cipher) that the two share a vocabulary, and that every reported
 * item's longest receiver prompt and patch.answer_tokens fit the receiver's context (an answer
 * cut short by a full context would be scored as if whole). NULL + message. The tasks must outlive the evaluator. */
lw_race_evaluator *lw_race_evaluator_new(const lw_race_setup *s, const lw_task *report, const lw_task *calib);
void lw_race_evaluator_free(lw_race_evaluator *e);
/* The lw_race_eval_fn over an lw_race_evaluator (ctx). */
int lw_race_evaluate(void *ctx, const lw_race_channel *ch, int64_t budget_bits, int item, lw_race_outcome *out);
/* The fit records of the codecs fitted so far: {"act:topk@64": {...}, ...} (malloc'd JSON). */
char *lw_race_evaluator_fits_json(const lw_race_evaluator *e);

/* A bridge between widths: refuses (one message naming both widths) a bridge whose source width
 * is not d_sender or whose output width is not d_receiver. 0 or -1. */
int lw_race_check_bridge(const lw_bridge *b, int d_sender, int d_receiver);

/* ---- the codec retrieval test ----
 * One model, passages, mean-pooled activations at a layer. Every codec at every budget encodes
 * each scored passage (activation codecs its activation; text codecs its text, whose decoded
 * text goes through the same model to get its activation) and the decoded item must retrieve
 * its own passage among the bank of the scored passages' original activations by cosine
 * (lw_retrieval_score, the pessimistic tie rule). Top-1 with its exact (Clopper-Pearson) 95%
 * interval: a codec passes at a budget when the lower bound >= the pre-registered threshold.
 * Codecs are fitted on calibration passages disjoint from the scored ones. */
typedef struct {
    int layer;              /* negative: from the end; default -1000000: the middle layer, n_layer / 2 */
    double threshold;       /* pass: lower bound >= this (default 0.85) */
    double level;           /* default 0.95 */
    uint64_t seed;
    void (*on_progress)(void *ctx, const char *what, int done, int total);
    void *progress_ctx;
    /* Records (latentwire/records.h): when set, each finished row (codec, budget) is appended to
     * this file as it finishes, under a settings line (settings_json, the caller's part, e.g. the
     * model's sha256, plus the test's own: layer, counts, seed, threshold, level and the sha256 of
     * the drawn passages). With resume, the rows of an earlier run with the same settings are kept
     * and not recomputed; a file made with other settings is refused, naming what differs. */
    const char *records_path;
    const char *settings_json;
    bool resume;
    /* Each distinct text goes through the model once: its activation is kept for reuse by later
     * codecs and budgets, up to this many bytes of activations (default 1 GiB); past it the
     * decodings kept are dropped, the scored passages' own always stay. A decoding computed again
     * goes through the model in another batch, which can change the last bits of its activation,
     * so a run's numbers could differ at a near tie; test_retrieval_cli finds the same rows with
     * no memo beyond the passages. */
    int64_t memo_bytes;
} lw_codec_retrieval_params;

lw_codec_retrieval_params lw_codec_retrieval_default_params(void);

/* Runs the test: of the distinct texts among texts[0..n_texts), a seeded permutation's first
 * n_scored are scored (they form the bank) and the next n_calib calibrate the codecs (disjoint:
 * no text in both); too few distinct texts is an error saying how many there are. codecs[n_codecs]
 * kinds, budgets[n_budgets] > 0. *result_json: the whole result (settings, per codec and budget
 * top-1 {mean, lo, hi, n, method}, payload and side bits, pass), malloc'd. A codec that cannot be
 * built at a budget (too small, not built) is a row with "applicable": false and the reason; a
 * decoded item with no usable activation (an empty decoded text, a zero vector) counts as a miss.
 * 0 or -1. */
int lw_codec_retrieval(lw_session *session, const char *const *texts, int n_texts, int n_scored, int n_calib,
                       const lw_codec_kind *codecs, int n_codecs, const int64_t *budgets, int n_budgets,
                       const lw_codec_retrieval_params *p, char **result_json);

/* The CSV of a result (codec, budget, payload_bits, side_bits, top1, lo, hi, n, pass), malloc'd;
 * NULL (message set) for NULL, or for a document that is not such a result (a row mistyped). */
char *lw_codec_retrieval_csv(const char *result_json);

#ifdef __cplusplus
}
#endif
#endif
