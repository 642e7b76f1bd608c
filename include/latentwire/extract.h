/* latentwire: activations of a text corpus at hook sites, written to safetensors files,
 * sharded and resumable (what `latentwire extract` runs).
 *
 * Memory stays flat as the corpus grows: texts run in small batches, each batch's rows go
 * straight to one temporary file per output tensor ("<shard>.part<K>.tmp"), and a shard's
 * safetensors file is assembled from those files when the shard is complete. A shard is a
 * whole file of its own, so an interrupted run resumed with params.resume keeps every
 * finished shard whose settings fingerprint and content checksums match.
 *
 * The file: one F32 [rows, width] tensor per site (`embed`, `layer.L` for resid_post, the
 * TransformerLens name for other sites; `pooled` for LW_EXTRACT_POOL_MODEL), with the logit
 * lens `<tensor>.lens_ids` (I32) and `.lens_logprobs` (F32) [rows, K], then `row_id` and
 * `line` (I64 [rows]), and with LW_EXTRACT_POOL_TOKENS `position` and `token` (I32 [rows]).
 * Metadata: format = latentwire.activations/1, pool, latentwire (a JSON document: model,
 * input and every setting that changes the bytes, and the shard's text range) and
 * sha256 (a JSON object: tensor name -> hex sha256 of its data bytes, as numpy's
 * tensor.tobytes() gives them). */
#ifndef LATENTWIRE_EXTRACT_H
#define LATENTWIRE_EXTRACT_H

#include <stdbool.h>
#include <stdint.h>

#include "latentwire/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LW_EXTRACT_POOL_MEAN = 0,   /* mean over the text's tokens (a BOS the run added excluded) */
    LW_EXTRACT_POOL_LAST = 1,   /* the last token */
    LW_EXTRACT_POOL_TOKENS = 2, /* every token, one row each (`--pool none`) */
    LW_EXTRACT_POOL_MODEL = 3,  /* the model's own pooled sentence embedding (lw_embed_pooled), tensor `pooled` */
} lw_extract_pool;

/* What lw_extract_to_files reports as it goes (for progress lines; the library prints nothing). */
typedef enum {
    LW_EXTRACT_EV_PROGRESS = 0, /* texts done so far (done of total) */
    LW_EXTRACT_EV_KEPT = 1,     /* path: a finished shard of an earlier run, verified and kept (resume) */
    LW_EXTRACT_EV_WROTE = 2,    /* path: a shard written (texts first_text..last_text) */
    LW_EXTRACT_EV_REMOVED = 3,  /* path: a stale temporary or a superseded shard of the same output removed */
    LW_EXTRACT_EV_REDO = 4,     /* path: a shard of an earlier run that does not verify (reason), made again */
} lw_extract_event_kind;

typedef struct {
    lw_extract_event_kind kind;
    const char *path;           /* KEPT, WROTE, REMOVED */
    int shard, n_shards;        /* 0-based shard index */
    int64_t done, total;        /* texts */
    int64_t first_text, last_text;
    const char *reason;         /* REDO: "made with other settings", "... does not match its sha256 (corrupted)" */
} lw_extract_event;

typedef struct {
    /* comma list of sites: block indices (their resid_post; negative counts from the end), `all`,
     * `last`, `embed`, or TransformerLens names (lw_site_parse_list). NULL with LW_EXTRACT_POOL_MODEL. */
    const char *sites;
    lw_extract_pool pool;           /* default LW_EXTRACT_POOL_MEAN */
    const char *field;              /* string field of a .jsonl input (default "text") */
    int batch;                      /* sequences per forward batch, 1..256 (default 2) */
    int64_t shard_texts;            /* texts per shard; 0 = shards of about 1 GiB (default) */
    bool resume;                    /* keep finished shards of an earlier run that verify (default false) */
    bool truncate;                  /* cut texts longer than the context instead of failing */
    bool add_bos;                   /* default true */
    bool skip_untokenizable;        /* skip texts the vocabulary cannot encode (no rows) instead of failing */
    int logit_lens_k;               /* the logit lens's top K of every resid_post row; 0 = off */
    int n_threads;                  /* 0 = all cores */
    lw_precision precision;         /* default LW_PRECISION_EXACT */
    /* Install SIGINT/SIGTERM/SIGHUP handlers for the duration of the call (default true): on
     * such a signal the temporary files are removed (async-signal-safe unlink), the previous
     * disposition is restored and the signal raised again. When that disposition returns
     * (e.g. Python's handler), the call stops at its next batch and fails naming the signal. */
    bool handle_signals;
    void (*on_event)(const lw_extract_event *event, void *user); /* NULL: no reports */
    void *user;
} lw_extract_params;

lw_extract_params lw_extract_default_params(void);

typedef struct {
    int64_t n_texts;    /* texts in the input */
    int64_t n_skipped;  /* texts skipped as untokenizable */
    int64_t n_rows;     /* rows written (all shards) */
    int n_shards, n_kept;
    int n_sites, n_lens;
} lw_extract_result;

/* Runs every text of `input` (a regular .txt file, one text per non-blank line, or .jsonl
 * with params->field) through model and writes OUT (it must end in .safetensors), or, when
 * there are several shards, OUT-00001-of-0000K.safetensors ... Before any work, stale
 * temporaries of an earlier run to the same OUT are removed; after the last shard, shard
 * sets of the same OUT with another shard count (and a single OUT beside a new set) are
 * removed as superseded. Errors (one line: an empty text, a line of the input, a text the
 * vocabulary cannot encode, non-finite activations with the text's file:line and the first
 * site, an input whose every text is skipped...) leave no output and no temporary. 0 or -1;
 * *result (may be NULL) is filled on success. */
int lw_extract_to_files(lw_model *model, const char *input, const char *out, const lw_extract_params *params,
                        lw_extract_result *result);

/* lw_extract_to_files over texts held in memory (n_texts strings, e.g. a Python list): the
 * files are the same but for the metadata's input ("texts") and input_sha256 (over each
 * text's 8-byte little-endian length and bytes); `line` holds index + 1 and errors name a
 * text as "texts:<index + 1>". Every text must have tokens (none is skipped as blank). */
int lw_extract_texts_to_files(lw_model *model, const char *const *texts, int64_t n_texts, const char *out,
                              const lw_extract_params *params, lw_extract_result *result);

/* ---------------------------------------------------------------- one row per text */

/* lw_embed_texts_params.layer: the embedding layer (hook_embed), or the model's own pooled
 * sentence embedding (lw_embed_pooled); a value >= 0 is a block's mean-pooled resid_post. */
enum { LW_EMBED_LAYER_EMBED = -1, LW_EMBED_LAYER_POOLED = -3 };

typedef struct {
    int layer;              /* block index >= 0, LW_EMBED_LAYER_EMBED or LW_EMBED_LAYER_POOLED (default 0) */
    int n_threads;          /* 0 = all cores */
    /* NULL (default): computed in memory. Else OUT.safetensors of a sharded extraction
     * (lw_extract_texts_to_files with resume): the finished shards of an earlier call with the
     * same model, texts and settings are verified and read back instead of recomputed, so a
     * killed run resumes where it stopped; shards that differ are made again (on_event says why). */
    const char *cache;
    int64_t shard_texts;    /* texts per cache shard (default 256) */
    void (*on_event)(const lw_extract_event *event, void *user); /* the cache's extraction events; NULL: none */
    void *user;
} lw_embed_texts_params;

lw_embed_texts_params lw_embed_texts_default_params(void);

/* One row per text (out: caller-allocated, n x the model's width): mean-pooled over the
 * text's tokens at params->layer (a BOS the run added excluded; texts longer than the context
 * cut to it) or the model's own pooled embedding (texts cut keeping the closing special
 * token). A text the vocabulary cannot encode, or with no tokens of its own, gets ok[i] =
 * false and a NaN row. Texts are run one per batch (mean) or up to 16 per batch (the model's
 * pooling); with a cache the batches also break every 64 texts and at shard boundaries, so
 * cached rows of the model's pooling may differ from uncached ones in the last bits, and
 * rows of a resumed run equal an uninterrupted run's bit for bit. 0 or -1. */
int lw_embed_texts(lw_model *model, const char *const *texts, int64_t n, const lw_embed_texts_params *params,
                   float *out, bool *ok);

/* "acts.safetensors" -> "acts-00002-of-00005.safetensors" (shard 1 of 5; n_shards 1: out). A NULL
 * out or a shard outside [0, n_shards) writes "" (message set); a NULL buf writes nothing. */
void lw_extract_shard_path(const char *out, int shard, int n_shards, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
