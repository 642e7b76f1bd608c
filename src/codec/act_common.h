/* Internal: what the activation codecs (act_*.c) share.
 *
 * Payload layout. Every activation payload is one bit stream: bit i of the stream is bit
 * (i mod 8) of byte i / 8, and each field is written least-significant bit first. An item
 * of T positions is T codes of one vector each, back to back (topk codes its T x d item as
 * one vector of width T x d); the stream is padded with zero bits to a whole byte, so a
 * payload is ceil(T x vector_bits / 8) bytes, the same for every item of a codec. A decoder
 * refuses a payload of any other length, nonzero padding and out-of-range indices: a payload
 * that is not this codec's is an error, never a crash.
 *
 * Scalar quantizers (shared by topk, token-sparse, pcaq and sae):
 *   uniform   L levels lo + i (hi - lo) / (L - 1); a value is sent as the nearest level's
 *             index (values outside [lo, hi] clip to the end levels); with L = 1 the single
 *             level is lo = hi = the calibration values' mean. lo and hi are calibration
 *             quantiles (q, 1 - q), q chosen from a small grid by the lowest squared error
 *             on the calibration values themselves (small L clips, large L covers the tails).
 *   Lloyd-Max L levels fitted to the calibration values (1-D k-means from quantiles).
 *   sign-magnitude (topk, token-sparse): b bits = 1 sign bit + a (b - 1)-bit uniform
 *             quantizer of |value| fitted on the kept magnitudes.
 *
 * The budget search (budget_bits K > 0): each kind lists the shapes whose payload,
 * 8 x ceil(T x vector_bits / 8) bits, is at most K, measures each one's relative L2
 * reconstruction error sum |x - x^|^2 / sum |x|^2 through its own encoder and decoder, on
 * calibration rows held out from what the shape's fit trained on (kinds that learn more than
 * a scalar quantizer) or on the calibration rows (topk, token-sparse), and keeps the lowest.
 * Every candidate and the choice are in the record under fit.search. */
#ifndef LW_CODEC_ACT_COMMON_H
#define LW_CODEC_ACT_COMMON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/codec_internal.h"

/* ---- bit streams ---- */
typedef struct {
    uint8_t *buf;
    size_t n_bytes;
    size_t pos; /* bits written / read */
} lw_bits;

/* Writes the low nbits (0..32) of v; the caller sized buf for every field. */
void lw_bits_put(lw_bits *b, uint32_t v, int nbits);
/* Reads nbits (0..32); the caller checked the stream length beforehand. */
uint32_t lw_bits_get(lw_bits *b, int nbits);
/* ceil(log2 n): the bits an index below n takes (0 for n <= 1). */
int lw_bits_for(int64_t n);

/* ---- scalar quantizers ---- */
/* Uniform quantizer range for L levels fitted on v[0..n) (see above). */
void lw_uq_fit(const float *v, size_t n, int levels, float *lo, float *hi);
uint32_t lw_uq_code(float lo, float hi, int levels, float x);
float lw_uq_value(float lo, float hi, int levels, uint32_t code);
/* Lloyd-Max codebook (ascending, levels values) fitted on v[0..n). 0 or -1 (out of memory). */
int lw_lloyd_fit(const float *v, size_t n, int levels, float *codebook);
uint32_t lw_lloyd_code(const float *codebook, int levels, float x);
/* Sign-magnitude with b >= 1 bits: 1 sign bit, then a (b - 1)-bit uniform code of |x|. */
uint32_t lw_sm_code(float lo, float hi, int bits, float x);
float lw_sm_value(float lo, float hi, int bits, uint32_t code);

/* ---- top-k selection ---- */
/* The k (1..n) coordinates of x[0..n) with the largest |x| (by_value: the largest x), ties to
 * the lower index, written to idx in ascending index order. tmp: n ints of scratch. */
void lw_topk_select(const float *x, int n, int k, bool by_value, int *idx, int *tmp);

/* ---- one vector's code and the item around it ---- */
typedef struct {
    int width;          /* floats per coded vector */
    int vectors;        /* vectors per item */
    int64_t vec_bits;   /* bits of one vector's code */
    const void *state;  /* the kind's fitted state */
    /* writes x's code (exactly vec_bits bits); scratch has room for the kind's needs */
    void (*put)(const void *state, const float *x, lw_bits *w, void *scratch);
    /* reads one code into x; 0, or -1 with a message (an index out of range) */
    int (*get)(const void *state, lw_bits *r, float *x, void *scratch);
    size_t scratch_bytes;
} lw_act_layout;

size_t lw_act_payload_bytes(const lw_act_layout *L);
int lw_act_encode(const lw_act_layout *L, const float *item, lw_payload *out);
int lw_act_decode(const lw_codec *c, const lw_act_layout *L, const uint8_t *bytes, size_t n, float *item);
/* Relative L2 error through put and get over n vectors (rows of width L->width):
 * err[0] = sum |x - dec(enc(x))|^2 / sum |x|^2 (the budget search's criterion), err[1] = the
 * same over sum |x - mean|^2 (the rows' own mean), which a few massive coordinates do not
 * dominate. 0 or -1. */
int lw_act_rel_err(const lw_act_layout *L, const float *rows, int64_t n, double err[2]);

/* ---- the budget search ---- */
typedef struct {
    const lw_codec *c;
    json_t *candidates;   /* one object per shape tried */
    int best;             /* index of the lowest error so far, -1 none */
    double best_err;
    int64_t smallest_bits; /* the smallest payload of any shape considered (fitting or not) */
} lw_act_search;

void lw_act_search_init(lw_act_search *s, const lw_codec *c);
/* The budget a payload of vec_bits per vector over T vectors needs: 8 x ceil(T vec_bits / 8). */
int64_t lw_act_item_bits(int64_t vec_bits, int vectors);
/* Whether an item of this many bits fits K (notes the smallest payload considered). */
bool lw_act_search_fits(lw_act_search *s, int64_t item_bits);
/* Adds a measured candidate (shape: a JSON object, stolen; err as lw_act_rel_err gives it);
 * true when its err[0] is the new lowest. */
bool lw_act_search_add(lw_act_search *s, json_t *shape, int64_t item_bits, const double err[2]);
/* The fitted codec measured on its calibration rows (lw_act_rel_err) into its fit object:
 * rel_err_calibration, rel_err_calibration_centered and payload_bits (an item of `vectors`
 * vectors). The fit object (borrowed), or NULL (message set). */
json_t *lw_act_record_fit(lw_codec *c, const lw_act_layout *L, const float *rows, int64_t n, int vectors);
/* No shape fitted: the error naming the smallest budget that works (shape_hint says which). */
int lw_act_search_none(lw_act_search *s, const char *shape_hint);
/* Puts the search (candidates, chosen index, held-out rows) into fit.search; frees s. */
void lw_act_search_record(lw_codec *c, lw_act_search *s, int64_t held_out);
void lw_act_search_free(lw_act_search *s);

/* ---- calibration rows ---- */
/* A seeded 80/20 split of n rows of width w into train and held-out copies (malloc'd). With
 * fewer than 10 rows both are all rows (n_held = 0 is recorded). 0 or -1. */
int lw_act_split(const float *rows, int64_t n, int w, uint64_t seed, float **train, int64_t *n_train, float **held,
                 int64_t *n_held);

/* ---- fit record and side information ---- */
/* The kind's fit object (created on first use) inside c->record. */
json_t *lw_act_fit_obj(lw_codec *c);
/* c->side_bits = 8 x the bytes of every side tensor; fit.side lists them. 0 or -1. */
int lw_act_count_side(lw_codec *c);
/* The bits a side tensor holds (its elements x its dtype's size x 8). */
int64_t lw_act_tensor_bits(const lw_st_tensor_in *t);
/* A saved F32 tensor of exactly this shape (n1 < 0: one dimension), copied into a malloc'd
 * array; NULL + message naming it otherwise. */
float *lw_act_load_f32(const lw_st_file *f, const char *name, int64_t n0, int64_t n1);

/* Items of T rows: n / T whole items of c's calibration (n must be >= T). */
int lw_act_items(const lw_codec *c, int64_t n_rows, int64_t *n_items);

/* Checks an activation codec's two shape settings (k and bits, rank and bits, ...): each in
 * [0, its max], 0 meaning "chosen" (by the budget search, or the default). The error names only
 * the setting out of range, as "codec KIND: NAME = V must be in [1, MAX] (or 0: chosen by the
 * budget search or the default)", note (or NULL) after the second setting's range. 0 or -1. */
int lw_act_check_settings(const lw_codec *c, const char *name_a, int a, int max_a, const char *name_b, int b,
                          int max_b, const char *note);

/* ---- sparse coordinates: topk and token-sparse share one implementation (act_topk.c) ----
 * topk codes an item (T x d) as one vector of width T x d; token-sparse codes each of its T
 * positions as a vector of width d. A vector's code: k (index, value) pairs in ascending
 * index order, the index in ceil(log2 width) bits, the value in b-bit sign-magnitude. */
int lw_sparse_fit_act(lw_codec *c, const float *rows, int64_t n, int d);
int lw_sparse_encode_act(const lw_codec *c, const float *item, lw_payload *out);
int lw_sparse_decode_act(const lw_codec *c, const uint8_t *bytes, size_t n, float *item);
int lw_sparse_side_tensors(const lw_codec *c, lw_st_tensor_in *t, int cap);
int lw_sparse_load(lw_codec *c, const lw_st_file *f);
void lw_sparse_free_state(lw_codec *c);

#endif
