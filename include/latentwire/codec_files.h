/* Codecs on files (`latentwire codec fit | encode | decode` as library calls): a codec fitted on
 * an extract file's rows (or a text file) and saved with where its rows came from (tensor, model
 * sha256, pooling), so that encoding rows of another layer, model or pooling is refused
 * (lw_codec_check_fit); an activation file encoded into a payload file, and a payload file
 * decoded back into an activation file that bridges and retrieval read under the fitted tensor's
 * name. Items are a text's last T rows (the codec's positions; rows of one row_id consecutive, as
 * `extract --pool none` writes them), or every row for T = 1. Messages name the options. */
#ifndef LATENTWIRE_CODEC_FILES_H
#define LATENTWIRE_CODEC_FILES_H

#include <stdint.h>

#include "latentwire/acts.h"
#include "latentwire/codec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A note beside the result (a file without latentwire metadata, whose rows cannot be checked):
 * one line, without "note: ". */
typedef void (*lw_codec_note_fn)(const char *note, void *user);

typedef struct {
    lw_codec_params codec;        /* kind, budget and shape (lw_codec_default_params) */
    const char *input, *tensor;   /* an activation codec's rows */
    const char *texts, *field;    /* a text codec's calibration texts (field: .jsonl's, default "text") */
    const char *out;              /* the codec file (checked first: none of the inputs); NULL: not saved */
    lw_codec_note_fn on_note;
    void *user;
} lw_codec_fit_file_params;

lw_codec_fit_file_params lw_codec_fit_file_default_params(lw_codec_kind kind);

/* The fitted codec (the caller's, lw_codec_free), saved when p->out; NULL with one message (an
 * activation codec given texts or a text codec rows, a codec that needs a language model, fewer
 * than T rows under a row_id...), nothing written. */
lw_codec *lw_codec_fit_file(const lw_codec_fit_file_params *p);

/* The items of an activation file for a codec of T positions (see above), n x T x d floats and
 * their row ids, malloc'd; distinct: each row_id once (encoding; fitting may take every token's
 * row). The count, or -1 (message). */
int64_t lw_codec_gather_items(const lw_act_tensor *rows, int T, bool distinct, float **items, int64_t **row_ids);

typedef struct {
    const char *codec;            /* the codec file (an activation codec) */
    const char *input, *tensor;   /* encode: the activation file; decode: input is the payload file */
    const char *out;              /* the payload file (encode) or the activation file (decode) */
    lw_codec_note_fn on_note;
    void *user;
} lw_codec_file_params;

/* Encodes the tensor's items after checking its width and where the codec was fitted. *st (may
 * be NULL) gets the payload and side bits. 0 or -1 (message; nothing written). */
int lw_codec_encode_file(const lw_codec_file_params *p, lw_codec_file_stats *st);

/* Decodes a payload file written by this codec into an activation file: the rows (n x T) under
 * the tensor name the codec was fitted on ("decoded" when it records none) with their row ids.
 * 0 or -1 (message; nothing written). */
int lw_codec_decode_file(const lw_codec_file_params *p, lw_codec_file_stats *st);

#ifdef __cplusplus
}
#endif
#endif
