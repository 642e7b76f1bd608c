/* Reading activation files written by `extract`: one F32 [rows, width] tensor with its
 * row ids (a shard set read as one file), and joining two files on row id (the same sentence
 * through two models). What `bridge`, `retrieval` and `codec` read their rows with; a C or
 * Python caller reads the same files the same way. */
#ifndef LATENTWIRE_ACTS_H
#define LATENTWIRE_ACTS_H

#include <stdint.h>

#include "latentwire/rows.h"
#include "latentwire/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    lw_st_file *f;
    const char *path;       /* as given to lw_act_open */
    const float *x;         /* n x d */
    const int64_t *row_id;  /* n */
    const int32_t *position, *token; /* n each, in --pool none files; else NULL */
    int64_t n;
    int d;
    const char *meta;       /* the file's "latentwire" JSON metadata, or NULL */
    /* a shard set (OUT-00001-of-0000K.safetensors ...): its rows joined in shard order, owned */
    lw_st_file **shards;
    int n_shards;
    void *own_x, *own_row_id, *own_position, *own_token;
} lw_act_tensor;

/* The shard count K when path does not exist and exactly one set PATH-00001-of-K.safetensors
 * ... sits beside it (what lw_acts_open reads in its place); 0 when none; -1 (message set) when
 * several. */
int lw_acts_shard_count(const char *path);

/* Opens path and finds `tensor` (F32, 2-D) and `row_id` (I64, same rows); errors name the
 * file and tensor. When path does not exist but the shard set `extract --shard-texts` writes for
 * it does (PATH-00001-of-0000K.safetensors ...), every shard is read and their rows joined in
 * shard order (each shard must hold the tensor at the same width; a missing shard is an error
 * naming it). 0 or -1. */
int lw_act_open(const char *path, const char *tensor, lw_act_tensor *out);
void lw_act_close(lw_act_tensor *t);

/* Rows present in both (same row id), in a's order: fills malloc'd index arrays. A row id
 * twice in a file is an error (lw_join_rows). Returns the count (>= 0) or -1. */
int64_t lw_act_join(const lw_act_tensor *a, const lw_act_tensor *b, int64_t **ia, int64_t **ib);
/* The same with the pairing mode (LW_JOIN_ROW_POSITION: two --pool none files of one tokenizer). */
int64_t lw_act_join_mode(const lw_act_tensor *a, const lw_act_tensor *b, lw_join_mode mode, int64_t **ia, int64_t **ib);

/* The model_sha256 that extract recorded in t's metadata, into out; NULL when there is none
 * (or, with a message, when t or out is NULL). */
const char *lw_act_model_sha256(const lw_act_tensor *t, char out[65]);

/* The pooling extract recorded in t's metadata ("mean", "last", "none", ...), into out[32]; NULL
 * when there is none (or, with a message, when t or out is NULL). */
const char *lw_act_pool(const lw_act_tensor *t, char out[32]);

/* Copies the rows idx[0..n) into a malloc'd n x d matrix; NULL (lw_last_error) when an index is
 * outside [0, t->n), n < 0, or memory runs out. */
float *lw_act_gather(const lw_act_tensor *t, const int64_t *idx, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
