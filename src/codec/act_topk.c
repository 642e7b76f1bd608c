/* "topk" and "token-sparse": the k largest-magnitude coordinates of a vector, each sent as
 * its index (ceil(log2 width) bits) and its value in b-bit sign-magnitude (1 sign bit, b - 1
 * bits of a uniform quantizer of |value|). The magnitude quantizer's range (lo, hi) is fitted
 * on the calibration rows' kept magnitudes and is the side information (2 floats, 64 bits);
 * no per-item scale is sent. topk codes an item (T x d) as one vector of width T x d (the k
 * largest of the whole item); token-sparse codes each of the T positions with its own k.
 *
 * Budget search: for each k of a geometric grid (ratio about sqrt 2, plus the largest k that
 * fits) the largest b <= 8 that fits; the error of each shape is measured on the calibration
 * rows (only the two-number magnitude quantizer is fitted on them). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/act_common.h"

typedef struct {
    int width, vectors; /* coded vector width and vectors per item */
    int k, bits, ib;    /* entries kept, value bits, index bits */
    float lo, hi;       /* magnitude quantizer range */
} sparse_state;

static void sparse_put(const void *st, const float *x, lw_bits *w, void *scratch) {
    const sparse_state *s = st;
    int *idx = scratch, *heap = idx + s->k;
    lw_topk_select(x, s->width, s->k, false, idx, heap);
    for (int j = 0; j < s->k; j++) {
        lw_bits_put(w, (uint32_t)idx[j], s->ib);
        lw_bits_put(w, lw_sm_code(s->lo, s->hi, s->bits, x[idx[j]]), s->bits);
    }
}

static int sparse_get(const void *st, lw_bits *r, float *x, void *scratch) {
    const sparse_state *s = st;
    memset(x, 0, sizeof(float) * (size_t)s->width);
    for (int j = 0, prev = -1; j < s->k; j++) {
        uint32_t i = lw_bits_get(r, s->ib), code = lw_bits_get(r, s->bits);
        if (i >= (uint32_t)s->width) return lw_fail("index %u out of range (width %d)", i, s->width);
        if ((int)i <= prev) /* the encoder writes each index once, ascending (lw_topk_select) */
            return lw_fail("index %u after index %d: indices are written ascending, each once", i, prev);
        prev = (int)i;
        x[i] = lw_sm_value(s->lo, s->hi, s->bits, code);
    }
    return 0;
}

static lw_act_layout layout_of(const sparse_state *s) {
    return (lw_act_layout){.width = s->width,
                           .vectors = s->vectors,
                           .vec_bits = (int64_t)s->k * (s->ib + s->bits),
                           .state = s,
                           .put = sparse_put,
                           .get = sparse_get,
                           .scratch_bytes = sizeof(int) * ((size_t)s->width + (size_t)s->k)};
}

/* The width and vectors per item of this kind at width d and T positions. */
static int shape_of(const lw_codec *c, sparse_state *s) {
    bool whole = c->p.kind == LW_CODEC_TOPK;
    if ((int64_t)c->d * c->T > (1 << 28))
        return lw_fail("codec %s: an item of %d x %d values is too large", lw_codec_name(c->p.kind), c->T, c->d);
    s->width = whole ? c->d * c->T : c->d;
    s->vectors = whole ? 1 : c->T;
    s->ib = lw_bits_for(s->width);
    return 0;
}

/* Each calibration vector's magnitudes sorted descending, the first kcap of them (n x kcap). */
static float *sorted_magnitudes(const float *vecs, int64_t n, int width, int kcap) {
    float *m = malloc(sizeof(float) * (size_t)n * kcap);
    int *idx = malloc(sizeof(int) * ((size_t)width + kcap));
    if (!m || !idx) {
        free(m), free(idx);
        lw_fail("codec: out of memory sorting calibration magnitudes");
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        const float *x = vecs + (size_t)i * width;
        float *out = m + (size_t)i * kcap;
        lw_topk_select(x, width, kcap, false, idx, idx + kcap);
        for (int j = 0; j < kcap; j++) out[j] = fabsf(x[idx[j]]);
        /* descending (insertion sort is enough for the few hundred kept at most) */
        for (int a = 1; a < kcap; a++) {
            float v = out[a];
            int b = a - 1;
            while (b >= 0 && out[b] < v) out[b + 1] = out[b], b--;
            out[b + 1] = v;
        }
    }
    free(idx);
    return m;
}

/* Fits the magnitude quantizer of shape (k, bits) on the kept magnitudes. */
static int fit_quantizer(sparse_state *s, const float *mags, int64_t n, int kcap) {
    float *v = malloc(sizeof(float) * (size_t)n * s->k);
    if (!v) return lw_fail("codec: out of memory fitting the magnitude quantizer");
    for (int64_t i = 0; i < n; i++) memcpy(v + (size_t)i * s->k, mags + (size_t)i * kcap, sizeof(float) * s->k);
    lw_uq_fit(v, (size_t)n * s->k, 1 << (s->bits - 1), &s->lo, &s->hi);
    free(v);
    return 0;
}

static json_t *shape_json(const sparse_state *s) { return json_pack("{s:i, s:i}", "k", s->k, "bits", s->bits); }

/* The largest b in [1, 8] (or exactly `fixed`) with which k entries per vector fit K; 0 if none. */
static int bits_that_fit(lw_act_search *srch, const sparse_state *s, int k, int fixed) {
    for (int b = fixed ? fixed : 8; b >= (fixed ? fixed : 1); b--)
        if (lw_act_search_fits(srch, lw_act_item_bits((int64_t)k * (s->ib + b), s->vectors))) return b;
    return 0;
}

static int search(lw_codec *c, sparse_state *s, const float *vecs, int64_t n) {
    int64_t kb = 8 * (c->p.budget_bits / 8);
    int64_t kmax = kb / ((int64_t)s->vectors * (s->ib + 1));
    if (kmax > s->width) kmax = s->width;
    if (c->p.k > 0) kmax = c->p.k <= s->width ? c->p.k : 0;
    lw_act_search srch;
    lw_act_search_init(&srch, c);
    int kcap = kmax > 0 ? (int)kmax : 1, rc = 0;
    float *mags = sorted_magnitudes(vecs, n, s->width, kcap);
    if (!mags) rc = -1;
    sparse_state best = *s;
    int k = c->p.k > 0 ? c->p.k : 1;
    for (double g = k; rc == 0 && k <= kcap;) {
        int b = bits_that_fit(&srch, s, k, c->p.bits);
        if (b > 0) {
            sparse_state t = *s;
            t.k = k, t.bits = b;
            lw_act_layout L = layout_of(&t);
            double err[2];
            if ((rc = fit_quantizer(&t, mags, n, kcap)) == 0 && (rc = lw_act_rel_err(&L, vecs, n, err)) == 0 &&
                lw_act_search_add(&srch, shape_json(&t), lw_act_item_bits(L.vec_bits, t.vectors), err))
                best = t;
        }
        if (c->p.k > 0 || k == kcap) break;
        while ((int)g <= k) g *= 1.41421356;
        k = (int)g < kcap ? (int)g : kcap;
    }
    if (rc == 0 && srch.best < 0)
        rc = lw_act_search_none(&srch, c->p.k > 0 || c->p.bits > 0 ? "with the shape fields given"
                                                                   : "k >= 1 entries of >= 1 bit each");
    if (rc == 0) {
        *s = best;
        lw_act_search_record(c, &srch, 0);
    }
    lw_act_search_free(&srch);
    free(mags);
    return rc;
}

int lw_sparse_fit_act(lw_codec *c, const float *rows, int64_t n, int d) {
    sparse_state *s = calloc(1, sizeof *s);
    if (!s) return lw_fail("codec: out of memory");
    c->state = s;
    int64_t items;
    if (shape_of(c, s) != 0 || lw_act_items(c, n, &items) != 0) return -1;
    int64_t nv = items * (int64_t)c->T * d / s->width; /* calibration vectors (whole items only) */
    if (lw_act_check_settings(c, "k", c->p.k, s->width, "bits", c->p.bits, 16, NULL) != 0) return -1;
    if (c->p.budget_bits > 0) {
        if (search(c, s, rows, nv) != 0) return -1;
    } else {
        int k_default = c->p.kind == LW_CODEC_TOPK ? 32 : 16;
        s->k = c->p.k > 0 ? c->p.k : (s->width < k_default ? s->width : k_default);
        s->bits = c->p.bits > 0 ? c->p.bits : 8;
        float *mags = sorted_magnitudes(rows, nv, s->width, s->k);
        int rc = mags ? fit_quantizer(s, mags, nv, s->k) : -1;
        free(mags);
        if (rc != 0) return -1;
    }
    c->p.k = s->k;
    c->p.bits = s->bits;
    lw_act_layout L = layout_of(s);
    json_t *fit = lw_act_record_fit(c, &L, rows, nv, s->vectors);
    if (!fit) return -1;
    json_object_set_new(fit, "magnitude_range", json_pack("[f, f]", (double)s->lo, (double)s->hi));
    json_object_set_new(fit, "value_coding", json_string("sign-magnitude, uniform magnitude levels fitted on "
                                                         "the calibration rows' kept magnitudes (side information)"));
    return lw_act_count_side(c);
}

int lw_sparse_encode_act(const lw_codec *c, const float *item, lw_payload *out) {
    lw_act_layout L = layout_of(c->state);
    return lw_act_encode(&L, item, out);
}

int lw_sparse_decode_act(const lw_codec *c, const uint8_t *bytes, size_t n, float *item) {
    lw_act_layout L = layout_of(c->state);
    return lw_act_decode(c, &L, bytes, n, item);
}

int lw_sparse_side_tensors(const lw_codec *c, lw_st_tensor_in *t, int cap) {
    const sparse_state *s = c->state;
    if (cap < 1) return lw_fail("codec: no room for side tensors");
    t[0] = (lw_st_tensor_in){.name = c->p.kind == LW_CODEC_TOPK ? "topk.magnitude_range" : "token-sparse.magnitude_range",
                             .dtype = LW_DT_F32,
                             .n_dims = 1,
                             .shape = {2},
                             .data = &s->lo};
    return 1;
}

int lw_sparse_load(lw_codec *c, const lw_st_file *f) {
    sparse_state *s = calloc(1, sizeof *s);
    if (!s) return lw_fail("codec: out of memory");
    c->state = s;
    if (shape_of(c, s) != 0) return -1;
    if (c->p.k < 1 || c->p.k > s->width || c->p.bits < 1 || c->p.bits > 16)
        return lw_fail("codec %s: record has k = %d, bits = %d (k must be in [1, %d], bits in [1, 16])",
                       lw_codec_name(c->p.kind), c->p.k, c->p.bits, s->width);
    s->k = c->p.k;
    s->bits = c->p.bits;
    lw_st_tensor_in t;
    lw_sparse_side_tensors(c, &t, 1);
    float *r = lw_act_load_f32(f, t.name, 2, -1);
    if (!r) return -1;
    s->lo = r[0];
    s->hi = r[1];
    free(r);
    if (!(0 <= s->lo && s->lo <= s->hi)) /* what the fit writes: magnitudes, low to high */
        return lw_fail("codec %s: the magnitude range [%g, %g] is not 0 <= low <= high: the file was edited; fit the "
                       "codec again", lw_codec_name(c->p.kind), s->lo, s->hi);
    return 0;
}

void lw_sparse_free_state(lw_codec *c) {
    free(c->state);
    c->state = NULL;
}

const lw_codec_ops lw_codec_ops_topk = {
    .fit_act = lw_sparse_fit_act,
    .encode_act = lw_sparse_encode_act,
    .decode_act = lw_sparse_decode_act,
    .side_tensors = lw_sparse_side_tensors,
    .load = lw_sparse_load,
    .free_state = lw_sparse_free_state,
};
