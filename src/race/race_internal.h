/* Internal to src/race: the data a report is computed from, and the report. */
#ifndef LW_RACE_INTERNAL_H
#define LW_RACE_INTERNAL_H

#include <jansson.h>

#include "latentwire/race.h"

/* The largest budget and resample count a run takes (the CLI's --budgets and --resamples bounds);
 * the merge refuses a settings line past them. */
#define LW_RACE_MAX_BUDGET ((int64_t)1 << 40)
#define LW_RACE_MAX_RESAMPLES 10000000

/* Writes path (records.jsonl, latentwire.items/1: lw_race_write_items) from the run's n records
 * in memory, tied to settings' plan_sha256. 0 or -1. */
int lw_race_items_save(const char *path, const json_t *settings, json_t *const *rec, size_t n);

/* A layer option's value: "mid" (lw_layer_middle) or a block, negative from the end, into *out. 0, or
 * -1 with "OPTION V: must be mid or a layer in -N..N-1". */
int lw_race_resolve_layer(const char *option, const char *v, int n_layer, int *out);

/* One row of the curve: a channel at a budget (budget 0 for floor / ceiling). */
typedef struct {
    int channel;
    int64_t budget;
} lw_race_cell;

/* Every record of a run, by cell and item: score NaN where the item was not applicable
 * (na[cell * n_items + item] holds the first such reason of a cell, or NULL). */
typedef struct {
    lw_race_channel *channels;
    int n_channels;
    int64_t *budgets;
    int n_budgets;
    int n_items;
    lw_race_cell *cells;
    int n_cells;
    double *score;          /* n_cells x n_items */
    int64_t *payload_bits;  /* n_cells x n_items */
    int64_t *side_bits;     /* n_cells x n_items */
    const char **na;        /* n_cells: why a cell has no scored item (borrowed from the records) */
    int resamples;
    double level;
    uint64_t seed;
} lw_race_data;

/* The cells of channels x budgets in report order: each channel's budgets ascending (floor and
 * ceiling one cell). Sets d->cells, d->n_cells. 0 or -1. */
int lw_race_make_cells(lw_race_data *d);

/* "text dominates" (hi < 0), "activation dominates" (lo > 0), else "no difference shown". */
const char *lw_race_verdict(double lo, double hi);

/* race.json's content (without settings and item ids, which the caller adds). New reference
 * or NULL (message set). */
json_t *lw_race_report(const lw_race_data *d);

/* race.csv's text from a report (malloc'd). */
char *lw_race_report_csv(json_t *report);

/* One row of the codec retrieval test from the bank (n x d: the originals) and the decoded items Q
 * (n x d; row i is passage i's, used only where usable[i] and finite with non-zero norm, else a
 * miss): {"top1": {mean, lo, hi, n, method: clopper-pearson}, "pass": lo >= threshold,
 * "unusable", "threshold"}. NULL + message. */
json_t *lw_race_retrieval_row(const float *bank, int n, int d, const float *Q, const bool *usable, double threshold,
                              double level);

/* ---- wall time per cell (race_timing.c): DIR/timing.json, apart from the deterministic outputs ---- */

typedef struct {
    int n_channels, n_budgets, n_items;
    double *seconds; /* n_channels x n_budgets x n_items: each evaluation's wall time, in run order */
    int *count;      /* n_channels x n_budgets */
} lw_race_timing;

/* DIR/STEM.EXT, or DIR/STEM-shard-I-of-N.EXT for a shard of N > 1 (malloc'd). */
char *lw_race_shard_path(const char *out_dir, const char *stem, const char *ext, int shard, int n_shards);
double lw_race_clock(void); /* monotonic seconds */
int lw_race_timing_init(lw_race_timing *t, int n_channels, int n_budgets, int n_items);
void lw_race_timing_add(lw_race_timing *t, int channel, int budget, double seconds);
/* timing.json, or timing-shard-I-of-N.json (malloc'd). */
char *lw_race_timing_path(const char *out_dir, int shard, int n_shards);
/* Writes this process's cells (count, total, mean, median and first item's ms) as one entry of
 * "runs"; with resume the earlier entries of path are kept before it. 0 or -1. */
int lw_race_timing_write(lw_race_timing *t, const lw_race_channel *channels, const int64_t *budgets, int n_budgets,
                         const char *path, bool resume);
void lw_race_timing_free(lw_race_timing *t);

/* ---- the cipher channel (race_cipher.c; see race.h) ---- */

#define LW_RACE_CIPHER_AUTO_STEPS 24 /* steps 0: as many as fit one token id each, at most this */
#define LW_RACE_CIPHER_MAX_TOP 8     /* entries per step */
#define LW_RACE_CIPHER_WEIGHT_BITS 4 /* a weight's bits when a step has two entries or more */

typedef struct {
    int steps;        /* G: the most steps a payload holds */
    int top;          /* m entries per step */
    int weight_bits;  /* b per entry (0 when m = 1: the weight is 1) */
    int id_bits;      /* max(8, ceil(log2 V)) */
    int step_bits;    /* m x (id_bits + b) */
} lw_race_cipher_shape;

/* The shape at a budget: G = steps (0: min(24, K / id_bits)), then m = the most entries of
 * (id_bits + 4) bits that fit K / G bits per step (at most 8; fewer than 2: m = 1 with no
 * weight bits). A budget that does not hold G token ids is an error naming the smallest one. */
int lw_race_cipher_shape_for(int64_t budget, int n_vocab, int steps, lw_race_cipher_shape *out);
/* The payload of n_steps steps (ids and weights n_steps x top, weights in [0, 1], quantized to
 * round(w (2^b - 1))): bit stream least-significant first, each step its m (id, weight) pairs,
 * zero-padded to a byte; ceil(n_steps x step_bits / 8) bytes (malloc'd). 0 or -1. */
int lw_race_cipher_encode(const lw_race_cipher_shape *sh, const int32_t *ids, const float *weights, int n_steps,
                          uint8_t **bytes, size_t *n);
/* Back: the step count from the length, ids (checked < n_vocab) and weights renormalized to
 * sum 1 per step (all zero: the first entry alone); ids / weights sized steps x top. Refuses a
 * length that is not a whole number of steps, an id past the vocabulary, nonzero padding. */
int lw_race_cipher_decode(const lw_race_cipher_shape *sh, int n_vocab, const uint8_t *bytes, size_t n, int32_t *ids,
                          float *weights, int *n_steps);
/* Soft tokens: row t = sum_j w_tj E[id_tj] (E: n_vocab x d); with m = 1 exactly the embedding row. */
void lw_race_cipher_rows(const float *E, int d, const int32_t *ids, const float *weights, int n_steps, int top,
                         float *rows);
/* The sender: [BOS] (+ chat opening) + text, then up to sh->steps greedy steps, each step's
 * top-m tokens (ids[0] the greedy one, fed back) and their probabilities renormalized over the m;
 * stops before an end-of-generation token. The session's sequence 0 is cleared before and after. */
int lw_race_cipher_send(lw_session *sender, bool chat, const char *text, const lw_race_cipher_shape *sh,
                        int32_t *ids, float *weights, int *n_steps);
/* The receiver: [BOS] (+ chat opening), the soft-token rows as one piece, then the query (one space
 * between pieces where the tokenizer does not add it: the channel command's join) and its greedy
 * answer of at most answer_tokens (malloc'd). */
int lw_race_cipher_receive(lw_session *receiver, bool chat, const float *rows, int n_rows, const char *query,
                           int answer_tokens, char **answer);

#endif
