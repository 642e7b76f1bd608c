/* "pcaq": PCA-quantization. A vector x (each position of an item) is projected on the r
 * leading principal axes of the calibration rows, z_j = u_j . (x - mean), and each z_j is sent
 * in b bits: uniform levels over [lo_j, hi_j] (calibration quantiles of z_j, see
 * act_common.h) or, with lloyd_max, a Lloyd-Max codebook of 2^b levels per component fitted
 * on the calibration coordinates. Decode: x^ = mean + sum_j q(z_j) u_j.
 * Side information: the mean (d floats), the basis (r x d) and the quantizer tables (r x 2
 * ranges, or r x 2^b codebooks), all F32. Payload: T x r x b bits, padded to a byte.
 *
 * Budget search: for each b (1..12 uniform, 1..8 Lloyd-Max) the largest r that fits (at most
 * d and the training rows' rank); PCA and quantizers fitted on 80% of the calibration rows,
 * the error measured on the other 20%; the chosen shape is then refitted on every row. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/act_common.h"
#include "linalg/linalg.h"

typedef struct {
    int d, r, bits, levels;
    bool lloyd;
    float *mean;   /* d */
    float *basis;  /* r x d, rows = principal axes */
    float *table;  /* r x 2 (lo, hi) uniform, or r x levels Lloyd-Max codebooks */
} pcaq_state;

static void state_free(pcaq_state *s) {
    if (!s) return;
    free(s->mean), free(s->basis), free(s->table);
    free(s);
}

static size_t table_len(const pcaq_state *s) { return (size_t)s->r * (s->lloyd ? (size_t)s->levels : 2); }

/* One BLAS product each way: z = basis (x - mean), x^ = mean + basis' q (scratch: d + r floats). */
static void pcaq_put(const void *st, const float *x, lw_bits *w, void *scratch) {
    const pcaq_state *s = st;
    float *xc = scratch, *z = xc + s->d;
    for (int i = 0; i < s->d; i++) xc[i] = x[i] - s->mean[i];
    lw_la_sgemm(false, true, 1, s->r, s->d, 1.0f, xc, s->basis, 0.0f, z);
    for (int j = 0; j < s->r; j++) {
        const float *t = s->table + (size_t)j * (s->lloyd ? s->levels : 2);
        uint32_t code = s->lloyd ? lw_lloyd_code(t, s->levels, z[j]) : lw_uq_code(t[0], t[1], s->levels, z[j]);
        lw_bits_put(w, code, s->bits);
    }
}

static int pcaq_get(const void *st, lw_bits *r, float *x, void *scratch) {
    const pcaq_state *s = st;
    float *q = (float *)scratch + s->d;
    for (int j = 0; j < s->r; j++) {
        uint32_t code = lw_bits_get(r, s->bits);
        const float *t = s->table + (size_t)j * (s->lloyd ? s->levels : 2);
        q[j] = s->lloyd ? t[code] : lw_uq_value(t[0], t[1], s->levels, code);
    }
    memcpy(x, s->mean, sizeof(float) * (size_t)s->d);
    lw_la_sgemm(false, false, 1, s->d, s->r, 1.0f, q, s->basis, 1.0f, x);
    return 0;
}

static lw_act_layout layout_of(const lw_codec *c, const pcaq_state *s) {
    return (lw_act_layout){.width = s->d,
                           .vectors = c->T,
                           .vec_bits = (int64_t)s->r * s->bits,
                           .state = s,
                           .put = pcaq_put,
                           .get = pcaq_get,
                           .scratch_bytes = sizeof(float) * ((size_t)s->d + s->r)};
}

/* PCA of rows (n x d) with r axes: mean, basis (r x d), coordinates Z (n x r), rank. */
typedef struct {
    int r, rank;
    float *mean, *basis, *Z;
} pca_fit;

static void pca_free(pca_fit *p) {
    free(p->mean), free(p->basis), free(p->Z);
    p->mean = p->basis = p->Z = NULL;
}

static int pca_run(const float *rows, int64_t n, int d, int r, pca_fit *p) {
    memset(p, 0, sizeof *p);
    if (n > (1 << 30)) return lw_fail("codec pcaq: %lld calibration rows: at most 2^30", (long long)n);
    double *mu = lw_la_dalloc((size_t)d), *Xc = lw_la_dalloc((size_t)n * d), *comps = lw_la_dalloc((size_t)d * r),
           *var = lw_la_dalloc((size_t)r);
    float *xc = lw_la_salloc((size_t)n * d);
    p->mean = lw_la_salloc((size_t)d);
    p->basis = lw_la_salloc((size_t)r * d);
    p->Z = lw_la_salloc((size_t)n * r);
    int rc = (mu && Xc && comps && var && xc && p->mean && p->basis && p->Z) ? 0 : -1;
    if (rc == 0) {
        lw_la_col_means(rows, n, d, mu);
        lw_la_center_scale(rows, n, d, mu, 1.0, Xc);
        rc = lw_la_pca(Xc, (int)n, d, r, comps, var, &p->rank);
    }
    if (rc == 0) {
        lw_la_d2f(mu, p->mean, (size_t)d);
        lw_la_d2f(Xc, xc, (size_t)n * d);
        for (int j = 0; j < r; j++)
            for (int i = 0; i < d; i++) p->basis[(size_t)j * d + i] = (float)comps[(size_t)i * r + j];
        lw_la_sgemm(false, true, (int)n, r, d, 1.0f, xc, p->basis, 0.0f, p->Z);
        p->r = r;
    }
    free(mu), free(Xc), free(comps), free(var), free(xc);
    if (rc != 0) {
        pca_free(p);
        return lw_fail_prefix("codec pcaq: PCA of %lld rows: ", (long long)n);
    }
    return 0;
}

/* A state of r axes and b bits from a PCA (its first r axes) with quantizers fitted on its
 * coordinates of n rows. NULL + message on failure. */
static pcaq_state *state_from(const pca_fit *p, int64_t n, int d, int r, int bits, bool lloyd) {
    pcaq_state *s = calloc(1, sizeof *s);
    float *col = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!s || !col) goto oom;
    *s = (pcaq_state){.d = d, .r = r, .bits = bits, .levels = 1 << bits, .lloyd = lloyd};
    s->mean = malloc(sizeof(float) * (size_t)d);
    s->basis = malloc(sizeof(float) * (size_t)r * d);
    s->table = malloc(sizeof(float) * table_len(s));
    if (!s->mean || !s->basis || !s->table) goto oom;
    memcpy(s->mean, p->mean, sizeof(float) * (size_t)d);
    memcpy(s->basis, p->basis, sizeof(float) * (size_t)r * d);
    for (int j = 0; j < r; j++) {
        for (int64_t i = 0; i < n; i++) col[i] = p->Z[(size_t)i * p->r + j];
        if (lloyd) {
            if (lw_lloyd_fit(col, (size_t)n, s->levels, s->table + (size_t)j * s->levels) != 0) goto fail;
        } else {
            lw_uq_fit(col, (size_t)n, s->levels, &s->table[2 * j], &s->table[2 * j + 1]);
        }
    }
    free(col);
    return s;
oom:
    lw_fail("codec pcaq: out of memory");
fail:
    free(col);
    state_free(s);
    return NULL;
}

static int search(lw_codec *c, const float *rows, int64_t n, int d, int *r_out, int *b_out) {
    float *train = NULL, *held = NULL;
    int64_t nt, nh;
    int split = lw_act_split(rows, n, d, c->p.seed, &train, &nt, &held, &nh);
    if (split < 0) return -1;
    int64_t kb = 8 * (c->p.budget_bits / 8), per_bit = kb / c->T;
    int rmax = (int)(per_bit < d ? per_bit : d);
    if (nt - 1 < rmax) rmax = (int)(nt > 1 ? nt - 1 : 1);
    if (c->p.rank > 0) rmax = c->p.rank;
    if (rmax < 1) rmax = 1;
    lw_act_search srch;
    lw_act_search_init(&srch, c);
    pca_fit p;
    int rc = pca_run(train, nt, d, rmax, &p);
    int top = c->p.lloyd_max ? 8 : 12;
    for (int b = c->p.bits ? c->p.bits : 1; rc == 0 && b <= (c->p.bits ? c->p.bits : top); b++) {
        int r = c->p.rank > 0 ? c->p.rank : (int)(per_bit / b < rmax ? per_bit / b : rmax);
        if (c->p.rank <= 0 && r > (p.rank > 0 ? p.rank : 1)) r = p.rank > 0 ? p.rank : 1;
        if (r < 1) r = 1;
        if (!lw_act_search_fits(&srch, lw_act_item_bits((int64_t)r * b, c->T))) continue;
        pcaq_state *s = state_from(&p, nt, d, r, b, c->p.lloyd_max);
        if (!s) {
            rc = -1;
            break;
        }
        lw_act_layout L = layout_of(c, s);
        double err[2];
        rc = lw_act_rel_err(&L, held, nh, err);
        if (rc == 0 && lw_act_search_add(&srch, json_pack("{s:i, s:i}", "rank", r, "bits", b),
                                         lw_act_item_bits(L.vec_bits, c->T), err))
            *r_out = r, *b_out = b;
        state_free(s);
    }
    if (rc == 0 && srch.best < 0)
        rc = lw_act_search_none(&srch, c->p.rank > 0 || c->p.bits > 0 ? "with the shape fields given"
                                                                       : "rank >= 1 at >= 1 bit");
    if (rc == 0) lw_act_search_record(c, &srch, split == 0 ? nh : 0);
    lw_act_search_free(&srch);
    pca_free(&p);
    free(train), free(held);
    return rc;
}

static int pcaq_fit(lw_codec *c, const float *rows, int64_t n, int d) {
    int top = c->p.lloyd_max ? 12 : 16;
    if (lw_act_check_settings(c, "rank", c->p.rank, d, "bits", c->p.bits, top, c->p.lloyd_max ? " with Lloyd-Max" : NULL) != 0)
        return -1;
    /* the PCA's rows: the budget search fits on lw_act_split's 80% (from 10 rows on); n - 1 centered
     * rows span at most n - 1 axes (a larger rank failed inside the SVD, naming none of this) */
    int64_t n_pca = c->p.budget_bits > 0 && n >= 10 ? n - n / 5 : n;
    if (c->p.rank > 0 && c->p.rank > n_pca - 1)
        return lw_fail("codec pcaq: rank %d (--rank) needs more calibration rows: the PCA is fitted on %lld of the %lld "
                       "rows%s, which span at most %lld axes; give a rank of at most %lld, or more rows",
                       c->p.rank, (long long)n_pca, (long long)n, n_pca < n ? " (the rest held out)" : "",
                       (long long)(n_pca - 1), (long long)(n_pca - 1));
    int r = c->p.rank > 0 ? c->p.rank : (d < 64 ? d : 64), b = c->p.bits > 0 ? c->p.bits : 8;
    if (c->p.budget_bits > 0 && search(c, rows, n, d, &r, &b) != 0) return -1;
    pca_fit p;
    if (pca_run(rows, n, d, r, &p) != 0) return -1;
    pcaq_state *s = state_from(&p, n, d, r, b, c->p.lloyd_max);
    int rank = p.rank;
    pca_free(&p);
    if (!s) return -1;
    c->state = s;
    c->p.rank = r;
    c->p.bits = b;
    lw_act_layout L = layout_of(c, s);
    json_t *fit = lw_act_record_fit(c, &L, rows, n, c->T);
    if (!fit) return -1;
    json_object_set_new(fit, "calibration_rank", json_integer(rank));
    json_object_set_new(fit, "quantizer", json_string(s->lloyd ? "lloyd-max" : "uniform"));
    return lw_act_count_side(c);
}

static int pcaq_encode(const lw_codec *c, const float *item, lw_payload *out) {
    lw_act_layout L = layout_of(c, c->state);
    return lw_act_encode(&L, item, out);
}

static int pcaq_decode(const lw_codec *c, const uint8_t *bytes, size_t n, float *item) {
    lw_act_layout L = layout_of(c, c->state);
    return lw_act_decode(c, &L, bytes, n, item);
}

static int pcaq_side(const lw_codec *c, lw_st_tensor_in *t, int cap) {
    const pcaq_state *s = c->state;
    if (cap < 3) return lw_fail("codec: no room for side tensors");
    t[0] = (lw_st_tensor_in){.name = "pcaq.mean", .dtype = LW_DT_F32, .n_dims = 1, .shape = {s->d}, .data = s->mean};
    t[1] = (lw_st_tensor_in){
        .name = "pcaq.basis", .dtype = LW_DT_F32, .n_dims = 2, .shape = {s->r, s->d}, .data = s->basis};
    t[2] = (lw_st_tensor_in){.name = s->lloyd ? "pcaq.codebooks" : "pcaq.ranges",
                             .dtype = LW_DT_F32,
                             .n_dims = 2,
                             .shape = {s->r, s->lloyd ? s->levels : 2},
                             .data = s->table};
    return 3;
}

static int pcaq_load(lw_codec *c, const lw_st_file *f) {
    int top = c->p.lloyd_max ? 12 : 16;
    if (c->p.rank < 1 || c->p.rank > c->d || c->p.bits < 1 || c->p.bits > top)
        return lw_fail("codec pcaq: record has rank %d, bits %d (rank in [1, %d], bits in [1, %d])", c->p.rank,
                       c->p.bits, c->d, top);
    pcaq_state *s = calloc(1, sizeof *s);
    if (!s) return lw_fail("codec: out of memory");
    *s = (pcaq_state){.d = c->d, .r = c->p.rank, .bits = c->p.bits, .levels = 1 << c->p.bits, .lloyd = c->p.lloyd_max};
    c->state = s;
    s->mean = lw_act_load_f32(f, "pcaq.mean", s->d, -1);
    s->basis = s->mean ? lw_act_load_f32(f, "pcaq.basis", s->r, s->d) : NULL;
    s->table = s->basis ? lw_act_load_f32(f, s->lloyd ? "pcaq.codebooks" : "pcaq.ranges", s->r,
                                          s->lloyd ? s->levels : 2)
                        : NULL;
    if (!s->table) return -1;
    /* a component's range low to high, its codebook in ascending order: what the fit writes, and
     * what quantizing to the nearest level assumes (swapped ranges were read as they were) */
    for (int j = 0; j < s->r; j++) {
        const float *t = s->table + (size_t)j * (s->lloyd ? s->levels : 2);
        for (int l = 1; l < (s->lloyd ? s->levels : 2); l++)
            if (!(t[l - 1] <= t[l]))
                return lw_fail("codec pcaq: component %d's %s is not in ascending order (%g before %g): the file was "
                               "edited; fit the codec again",
                               j, s->lloyd ? "codebook" : "range", t[l - 1], t[l]);
    }
    return 0;
}

static void pcaq_free(lw_codec *c) {
    state_free(c->state);
    c->state = NULL;
}

const lw_codec_ops lw_codec_ops_pcaq = {
    .fit_act = pcaq_fit,
    .encode_act = pcaq_encode,
    .decode_act = pcaq_decode,
    .side_tensors = pcaq_side,
    .load = pcaq_load,
    .free_state = pcaq_free,
};
