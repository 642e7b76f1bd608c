/* Internal: what every codec kind implements, and the handle they share.
 *
 * codec.c owns the handle, the accounting and the file format; each kind (one file each:
 * act_topk.c, act_pcaq.c, ..., text_zlib.c, text_lm_arith.c, ...) fills an lw_codec_ops and
 * registers it in the table of codec.c. A kind fills only the functions of its family. */
#ifndef LW_CODEC_INTERNAL_H
#define LW_CODEC_INTERNAL_H

#include <jansson.h>

#include "common/error.h"
#include "latentwire/codec.h"
#include "latentwire/safetensors.h"

#define LW_CODEC_MAX_SIDE_TENSORS 16

typedef struct {
    /* fit: set c->state, c->p's chosen shape (fields left 0 by the caller), c->side_bits
     * (bytes of side information x 8), and add the kind's facts to c->record (under "fit").
     * A budget search that chooses the positions sets c->p.positions and c->T together. */
    int (*fit_act)(lw_codec *c, const float *rows, int64_t n, int d);
    int (*fit_text)(lw_codec *c, const char *const *texts, int n);
    int (*encode_act)(const lw_codec *c, const float *item, lw_payload *out);
    int (*decode_act)(const lw_codec *c, const uint8_t *bytes, size_t n, float *item);
    int (*encode_text)(const lw_codec *c, const char *text, lw_payload *out);
    int (*decode_text)(const lw_codec *c, const uint8_t *bytes, size_t n, char **text);
    /* the side information as tensors pointing into the state (for lw_codec_save); the count */
    int (*side_tensors)(const lw_codec *c, lw_st_tensor_in *t, int cap);
    /* rebuilds the state from a saved file (c->p, c->d, c->T and c->record already restored);
     * copy what is kept: the file is closed after load. Check shapes: a file is untrusted. */
    int (*load)(lw_codec *c, const lw_st_file *f);
    void (*free_state)(lw_codec *c);
} lw_codec_ops;

struct lw_codec {
    lw_codec_params p;      /* as fitted: the chosen shape filled in; p.lm not owned */
    const lw_codec_ops *ops;
    int d, T;               /* activation codecs: width and positions per item */
    int64_t side_bits;
    int64_t n_calib;        /* calibration rows or texts */
    json_t *record;         /* the fit record (kind facts under "fit") */
    char *record_text;      /* its serialization, made when the fit or load completes */
    void *state;
};

/* The kinds' operation tables (NULL where a kind is not built yet). */
const lw_codec_ops *lw_codec_ops_of(lw_codec_kind k);

extern const lw_codec_ops lw_codec_ops_topk, lw_codec_ops_pcaq, lw_codec_ops_token_sparse, lw_codec_ops_sae,
    lw_codec_ops_pq, lw_codec_ops_zlib, lw_codec_ops_brotli, lw_codec_ops_brotli_dict, lw_codec_ops_zstd,
    lw_codec_ops_zstd_dict, lw_codec_ops_truncate, lw_codec_ops_lm_arith, lw_codec_ops_summary;

/* Payload helpers: an owned copy of n bytes (0 or -1). */
int lw_payload_set(lw_payload *out, const void *bytes, size_t n);

#endif
