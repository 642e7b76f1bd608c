/* Paraphrase sets: targets with generated paraphrases, the hard negatives of the
 * paraphrase-adjacent retrieval regime (`retrieval --regime para:FILE:D`).
 *
 * The file (latentwire.paraphrases/1) is JSONL, one line per target, in row-id order:
 *   {"row_id": i, "mrpc_id": "702876", "target": "...", "paraphrases": ["...", ...],
 *    "negatives": [r, ...]}
 * Row ids number every text of the set: target i is row i (its line, 0-based), then the
 * paraphrases follow in file order (line 0's first, then its second, ..., then line 1's), so
 * line i's "negatives" are the row ids of its own paraphrases. That is the format para:FILE:D
 * reads, so the file is a regime file as it stands; its texts in row-id order
 * (lw_paraphrase_set_write_texts) are what `extract` embeds for the candidates, and
 * `extract --input FILE --field target` embeds the targets (row id = line) for the queries. */
#ifndef LATENTWIRE_PARAPHRASE_H
#define LATENTWIRE_PARAPHRASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "latentwire/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t n;          /* targets (lines) */
    char **source_id;   /* the target's id in its source (MRPC's #1 ID) */
    char **target;
    int32_t *para_off;  /* n + 1: target i's paraphrases are para[para_off[i] .. para_off[i + 1]) */
    char **para;        /* row id of para[j] is n + j */
} lw_paraphrase_set;

/* Reads and validates a paraphrase file: every line an object with row_id equal to its
 * 0-based line, a non-empty string mrpc_id and target, paraphrases a list of non-empty
 * one-line strings, and negatives exactly the row ids its paraphrases have under the
 * numbering above. A bad line is one error naming the file, the line and the field. 0 or -1. */
int lw_paraphrase_set_load(const char *path, lw_paraphrase_set *out);
void lw_paraphrase_set_free(lw_paraphrase_set *s);

/* Every text of the set, one per line, in row-id order (targets, then paraphrases), written
 * atomically: the input `extract` embeds so that its row ids are the set's. 0 or -1. */
int lw_paraphrase_set_write_texts(const lw_paraphrase_set *s, const char *path);

/* ---------------------------------------------------------------- the filter */

/* Why a sampled output was kept or dropped (lw_paraphrase_filter). */
typedef enum {
    LW_PARA_KEPT = 0,
    LW_PARA_EMPTY,        /* nothing on the output's first line */
    LW_PARA_NOT_SENTENCE, /* not one sentence: no capital/digit/quote first, no . ! ? last, non-ASCII */
    LW_PARA_META,         /* talks about the task ("paraphrase", "rewrite", "sentence", "translat...") */
    LW_PARA_TOO_SHORT,    /* fewer than max(4, half the target's) words */
    LW_PARA_TOO_LONG,     /* more than twice the target's words */
    LW_PARA_OFF_TOPIC,    /* shares under 30% of the target's distinct words of 3+ letters */
    LW_PARA_IDENTICAL,    /* the target again (compared lower-cased, letters and digits only) */
    LW_PARA_DUPLICATE,    /* an output kept before for this target (compared the same way) */
    LW_PARA_N_REASONS
} lw_paraphrase_reason;

const char *lw_paraphrase_reason_name(lw_paraphrase_reason r);

/* Cleans a raw model output into *clean (cap bytes; 0 keeps nothing: LW_PARA_EMPTY): its first line, spaces trimmed, one pair
 * of wrapping double quotes removed; then judges it against the target and the outputs
 * already kept for it (kept[0..n_kept), cleaned). Returns the reason (LW_PARA_KEPT: keep it), or
 * (lw_paraphrase_reason)-1 (compare as int; message set) when target, raw, clean or kept is NULL. */
lw_paraphrase_reason lw_paraphrase_filter(const char *target, const char *raw, const char *const *kept, int n_kept,
                                          char *clean, size_t cap);

/* ---------------------------------------------------------------- generation */

/* The instruction given to the model, with %s for the target (a user turn in its chat template). */
#define LW_PARAPHRASE_PROMPT                                                                                         \
    "Rewrite the following sentence in different words, keeping its meaning. Reply with the rewritten sentence " \
    "only.\n\n%s"

typedef enum {
    LW_PARA_EV_SAMPLE = 0,   /* one sampled output judged: target, sample, raw, clean, reason */
    LW_PARA_EV_TARGET = 1,   /* a target finished: kept (bool), n_kept paraphrases, samples tried */
} lw_paraphrase_event_kind;

typedef struct {
    lw_paraphrase_event_kind kind;
    int target_index;         /* position in the seeded draw of MRPC targets */
    const char *source_id, *target;
    int sample;               /* LW_PARA_EV_SAMPLE: 0-based sample of this target */
    const char *raw, *clean;  /* LW_PARA_EV_SAMPLE */
    lw_paraphrase_reason reason;
    bool kept;                /* LW_PARA_EV_TARGET: the target made the file */
    int n_kept, n_samples;    /* LW_PARA_EV_TARGET */
    int done, wanted;         /* targets written so far, targets wanted */
} lw_paraphrase_event;

typedef struct {
    const char *model;        /* an instruct GGUF */
    const char *mrpc_file;    /* msr_paraphrase_train.txt (Quality, #1 ID, #2 ID, #1 String, #2 String) */
    const char *out;          /* the paraphrase file (written atomically) */
    const char *provenance;   /* its provenance record (JSON, atomically); NULL: none */
    int n_targets;            /* targets written (default 100) */
    int per_target;           /* paraphrases kept per target (default 10) */
    int min_kept;             /* a target with fewer kept after max_samples is left out (default per_target) */
    int max_samples;          /* samples drawn per target at most (default 40) */
    int max_tokens;           /* tokens per sample at most (default 80) */
    float temperature;        /* default 0.8 */
    float top_p;              /* default 0.95 */
    int top_k;                /* default 0 (off) */
    uint64_t seed;            /* the draw of targets and every sample's seed (default 1) */
    bool chat;                /* the prompt as a user turn in the model's chat template (default true) */
    int n_threads;            /* 0: all cores */
    int n_gpu_layers;
    void (*on_event)(const lw_paraphrase_event *e, void *user); /* NULL: silent */
    void *user;
    /* OUT.partial (latentwire/records.h) gets each target's result as it finishes: its place in
     * the draw, MRPC id, kept paraphrases, samples drawn and why each was dropped. With resume,
     * the targets a run with the same settings (model and MRPC file by sha256, prompt, chat,
     * sampling, seed, per_target, max_samples) finished are taken from it and not sampled again,
     * so an interrupted run continues where it stopped and writes the file an uninterrupted run
     * writes (a file of other settings is refused, naming the first setting that differs).
     * Without it a run starts over. OUT.partial is removed once OUT is written. */
    bool resume;
} lw_paraphrase_params;

lw_paraphrase_params lw_paraphrase_default_params(void);

/* Targets are the first strings (#1) of the MRPC pairs a person judged paraphrases (Quality 1),
 * ASCII and 6 to 40 words, de-duplicated, in a seeded shuffle; each gets samples (temperature,
 * top-p, top-k; sample k's seed derived from seed, the target's place in the draw and k) until
 * per_target pass lw_paraphrase_filter or max_samples are drawn; targets with at least
 * min_kept are written (their first per_target) until n_targets are. The same parameters,
 * model and data give the same file. Fewer than n_targets available is an error. Both files are
 * written through a temporary and a rename, out first: on an error out and provenance are as
 * they were, except when only the record's write fails (out is then new and the message says
 * so); OUT.partial keeps the finished targets for resume. 0 or -1. */
int lw_paraphrase_generate(const lw_paraphrase_params *p);

#ifdef __cplusplus
}
#endif
#endif
