/* Codecs at a bit budget: what a sender may pass to a receiver, squeezed into K bits.
 *
 * Two families share one handle and one accounting:
 *   activation codecs   an item is T x d floats (one vector: T = 1; or the last T positions)
 *                       top-k magnitude, PCA-quantization, per-token sparse, sparse
 *                       autoencoder (top-k SAE), product quantization;
 *   text codecs         an item is a UTF-8 text
 *                       zlib, brotli (built-in dictionary; dictionary trained on the
 *                       calibration texts), zstd (with a ZDICT-trained dictionary), byte
 *                       truncation, arithmetic coding under a language model's next-token
 *                       distribution, and the oracle summary (a reference row, never a winner).
 *
 * Every bit is counted:
 *   payload bits   8 x the length of the serialized payload an encode returned (the bytes a
 *                  channel would carry), never a formula;
 *   side bits      8 x the bytes the receiver must hold that no payload carries: bases, means,
 *                  codebooks, scales, dictionaries (brotli's built-in one too), a learned
 *                  codec's weights, the language model of the arithmetic coder (its GGUF file
 *                  size: the receiver must have the very same model). Reported as is and
 *                  amortized over the items a run encodes, so nothing hides in fixed overhead.
 *
 * A budget K (budget_bits > 0) bounds every payload: encode returns at most K / 8 bytes or
 * fails. Activation codecs choose their shape (k, bits, rank, T, ...) to fit K at fit time,
 * on the calibration rows only (the budget search; the choice is in the record). Text codecs
 * at a budget send the longest prefix of the text (whole UTF-8 characters; whole tokens for
 * the arithmetic coder) whose payload fits, and the decoded text is that prefix; lossless
 * codecs without a budget round-trip exactly.
 *
 * Fitting uses calibration data only: rows / texts disjoint from the items a report scores
 * (see lw_task_split). A fitted codec is saved as safetensors (its side information as tensors,
 * a JSON record in the metadata) and loaded back bit-identically. */
#ifndef LATENTWIRE_CODEC_H
#define LATENTWIRE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "latentwire/error.h"
#include "latentwire/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    /* activation codecs */
    LW_CODEC_TOPK = 0,       /* "topk": the k largest-magnitude coordinates: indices + b-bit values */
    LW_CODEC_PCAQ,           /* "pcaq": r principal components (fitted), each quantized to b bits,
                                uniform or Lloyd-Max */
    LW_CODEC_TOKEN_SPARSE,   /* "token-sparse": the budget spread over the last T positions, k
                                sparse entries per position */
    LW_CODEC_SAE,            /* "sae": a top-k sparse autoencoder trained on the calibration rows;
                                payload = the k active latents' indices + quantized values */
    LW_CODEC_PQ,             /* "pq": product quantization, m subspaces x 2^b k-means centroids */
    /* text codecs */
    LW_CODEC_ZLIB,           /* "zlib" */
    LW_CODEC_BROTLI,         /* "brotli": its built-in dictionary (counted as side information) */
    LW_CODEC_BROTLI_DICT,    /* "brotli-dict": a dictionary trained on the calibration texts */
    LW_CODEC_ZSTD,           /* "zstd" */
    LW_CODEC_ZSTD_DICT,      /* "zstd-dict": a ZDICT-trained dictionary */
    LW_CODEC_TRUNCATE,       /* "truncate": the text's first K / 8 bytes (whole characters) */
    LW_CODEC_LM_ARITH,       /* "lm-arith": arithmetic coding under a model's next-token distribution */
    LW_CODEC_SUMMARY,        /* "summary": a model writes a summary of the text, then zlib; lossy,
                                asymmetric: a reference row, never counted as a winner */
    LW_CODEC_COUNT
} lw_codec_kind;

const char *lw_codec_name(lw_codec_kind k);          /* the quoted names above */
int lw_codec_from_name(const char *name);            /* -1 (message set) if unknown */
bool lw_codec_kind_is_text(lw_codec_kind k);
/* Whether a row of this kind may be named a winner (false for the summary reference). */
bool lw_codec_kind_competes(lw_codec_kind k);

typedef struct {
    lw_codec_kind kind;
    int64_t budget_bits;  /* K > 0: every payload at most K bits (the budget search picks the
                             shape); 0: no bound, the shape fields below are used as given */
    /* activation codecs (0 = choose by the budget search, or the kind's default) */
    int k;                /* topk / token-sparse: entries kept (per position); sae: active latents */
    int bits;             /* bits per quantized value */
    int rank;             /* pcaq: components r */
    int positions;        /* T: positions per item (1 = one vector) */
    bool lloyd_max;       /* pcaq: Lloyd-Max quantizer per component instead of uniform */
    int sae_latents;      /* sae: dictionary size (default 4 x d) */
    int sae_epochs;       /* sae: passes over the calibration rows */
    int pq_subspaces;     /* pq: m */
    /* text codecs */
    int level;            /* compression level (-1: the library's default; max for brotli/zstd) */
    int dict_bytes;       /* brotli-dict / zstd-dict: trained dictionary size (default 4096) */
    lw_session *lm;       /* lm-arith: the model whose next-token distribution codes the text;
                             summary: the model that writes the summary. Not owned; must outlive
                             the codec and be the same model at encode and decode. Encode and
                             decode run (and clear) its sequence 0; lm-arith's decoder needs the
                             encoder's session settings too (threads, precision: same logits). */
    int summary_tokens;   /* summary: the summary's length limit in tokens */
    uint64_t seed;
    int threads;          /* BLAS / training threads (0 = all) */
} lw_codec_params;

/* Defaults for a kind (budget 0, the kind's documented shape). */
lw_codec_params lw_codec_default_params(lw_codec_kind kind);

typedef struct lw_codec lw_codec;

/* Fits an activation codec on calibration rows: n rows of width d (each row one position's
 * vector; for positions T > 1 the codec is applied to each item's T rows, so n must be a multiple
 * of T). NULL + message on bad parameters (budget too small for any shape: the smallest budget
 * that works is named; positions < 0), fewer than 2 rows, or a NaN or Inf value (its row named). */
lw_codec *lw_codec_fit_act(const lw_codec_params *p, const float *rows, int64_t n, int d);
/* Fits a text codec on calibration texts (dictionaries are trained on them; other kinds keep
 * nothing from them). n may be 0 for kinds that train nothing. */
lw_codec *lw_codec_fit_text(const lw_codec_params *p, const char *const *texts, int n);
void lw_codec_free(lw_codec *c);

/* The getters on a NULL codec answer -1 (lw_codec_kind_of: (lw_codec_kind)-1, compare as int;
 * lw_codec_record_json: NULL) with the message set. */
lw_codec_kind lw_codec_kind_of(const lw_codec *c);
int lw_codec_width(const lw_codec *c);               /* d (0 for text codecs) */
int lw_codec_positions(const lw_codec *c);           /* T (0 for text codecs) */
int64_t lw_codec_budget_bits(const lw_codec *c);     /* K, 0 = unbounded */
int64_t lw_codec_side_bits(const lw_codec *c);
/* The fit record: kind, budget, the chosen shape and why, side-information breakdown,
 * calibration size, fit statistics (reconstruction error on the calibration rows, SAE loss
 * curve, ...). A JSON document owned by the codec. */
const char *lw_codec_record_json(const lw_codec *c);

/* Adds caller metadata (a JSON value as text) under key in the record's "meta" object: codec fit
 * records the rows' tensor ("tensor": "layer.9") and model ("model_sha256"). 0 or -1. */
int lw_codec_set_meta(lw_codec *c, const char *key, const char *json_value);
/* A codec is used on the rows it was fitted on: when its record's meta names a tensor, a model or
 * the rows' pooling ("pool"), `tensor`, `model_sha256` and `pool` (any may be NULL: not checked)
 * must equal them. 0, or -1 (message naming both). */
int lw_codec_check_fit(const lw_codec *c, const char *tensor, const char *model_sha256, const char *pool);

/* A payload: bytes owned by the caller (free(bytes)); {NULL, 0} after a failed call. */
typedef struct {
    uint8_t *bytes;
    size_t n;
} lw_payload;

/* Encodes one item (T x d floats, row-major). 0, or -1 with a message. */
int lw_codec_encode_act(const lw_codec *c, const float *item, lw_payload *out);
/* Decodes into item (T x d floats). A payload that is not this codec's is an error, never a crash. */
int lw_codec_decode_act(const lw_codec *c, const uint8_t *bytes, size_t n, float *item);

/* Encodes a text (at a budget: its longest fitting prefix, see above). */
int lw_codec_encode_text(const lw_codec *c, const char *text, lw_payload *out);
/* Decodes a payload into a malloc'd NUL-terminated text. */
int lw_codec_decode_text(const lw_codec *c, const uint8_t *bytes, size_t n, char **text);

/* Saves / loads a fitted codec (safetensors: side information as tensors, metadata
 * format = latentwire.codec/1 and the record). Loading a text codec that needs a model
 * (lm-arith, summary) takes it in lm and refuses one whose sha256 differs from the fit's. */
int lw_codec_save(const lw_codec *c, const char *path);
lw_codec *lw_codec_load(const char *path, lw_session *lm);

/* Activation payload files (`latentwire codec encode / decode`): safetensors with "payload" (U8,
 * every item's payload back to back), "offsets" (I64 [items + 1], item i is bytes
 * offsets[i]..offsets[i+1]) and "row_id" (I64 [items]); metadata format =
 * latentwire.payloads/1, codec = the sha256 of the codec's record (a payload file is decoded
 * only by the codec that wrote it), and latentwire = a JSON summary (kind, width, positions,
 * budget, side bits, items, payload bits mean and max). */
typedef struct {
    int64_t items;
    int64_t payload_bits_total; /* sum over the items of 8 x payload bytes */
    int64_t payload_bits_max;
    int64_t side_bits;          /* the codec's; amortized: side_bits / items */
} lw_codec_file_stats;

/* Encodes n_items items (each T x d floats, consecutive, row_id[i] each one's own: a repeated
 * one is refused) to `out`; *st (may be NULL) gets the payload statistics. 0 or -1. */
int lw_codec_encode_act_file(const lw_codec *c, const float *items, const int64_t *row_id, int64_t n_items,
                             const char *out, lw_codec_file_stats *st);
/* Decodes a payload file written by this codec: *items (n x T x d floats) and *row_id
 * malloc'd; *st as for encoding (may be NULL). A file that is not this codec's, or whose tensors
 * disagree, is an error. 0 or -1. */
int lw_codec_decode_act_file(const lw_codec *c, const char *path, float **items, int64_t **row_id, int64_t *n_items,
                             lw_codec_file_stats *st);

#ifdef __cplusplus
}
#endif
#endif
