/* "pq": product quantization. The d coordinates are cut into m contiguous subspaces
 * (subspace j holds coordinates [j d / m, (j + 1) d / m)), each with 2^b centroids fitted by
 * k-means on the calibration rows (k-means++ initialization seeded from the codec's seed by
 * the project's lw_rng, then at most 25 Lloyd iterations; an emptied cluster takes the point
 * farthest from its centroid). A vector (each position of an item) is sent as the index of
 * its nearest centroid in each subspace (ties to the lower index): m x b bits. Decode: the
 * chosen centroids side by side.
 * Side information: the centroids, stored as one F32 [2^b, d] tensor whose row i is the i-th
 * centroid of every subspace, each in its own columns.
 *
 * Budget search: for each b in 1..8 with 2^b at most the training rows, the largest m that
 * fits (at most d); k-means on 80% of the calibration rows, the error measured on the other
 * 20%; the chosen shape is then refitted on every row. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/act_common.h"
#include "common/rng.h"
#include "linalg/linalg.h"

typedef struct {
    int d, m, bits, levels;
    float *C; /* levels x d */
} pq_state;

static int sub_lo(const pq_state *s, int j) { return (int)((int64_t)j * s->d / s->m); }

static void state_free(pq_state *s) {
    if (s) free(s->C);
    free(s);
}

static void pq_put(const void *st, const float *x, lw_bits *w, void *scratch) {
    const pq_state *s = st;
    for (int j = 0; j < s->m; j++) {
        int a = sub_lo(s, j), b = sub_lo(s, j + 1);
        double best = INFINITY;
        uint32_t code = 0;
        for (int l = 0; l < s->levels; l++) {
            const float *c = s->C + (size_t)l * s->d;
            double dist = 0;
            for (int i = a; i < b; i++) dist += ((double)x[i] - c[i]) * ((double)x[i] - c[i]);
            if (dist < best) best = dist, code = (uint32_t)l;
        }
        lw_bits_put(w, code, s->bits);
    }
}

static int pq_get(const void *st, lw_bits *r, float *x, void *scratch) {
    const pq_state *s = st;
    for (int j = 0; j < s->m; j++) {
        int a = sub_lo(s, j), b = sub_lo(s, j + 1);
        uint32_t code = lw_bits_get(r, s->bits); /* < 2^bits = levels */
        memcpy(x + a, s->C + (size_t)code * s->d + a, sizeof(float) * (size_t)(b - a));
    }
    return 0;
}

static lw_act_layout layout_of(const lw_codec *c, const pq_state *s) {
    return (lw_act_layout){.width = s->d,
                           .vectors = c->T,
                           .vec_bits = (int64_t)s->m * s->bits,
                           .state = s,
                           .put = pq_put,
                           .get = pq_get};
}

/* k-means of X (n x w, contiguous) into L centroids (L x w). 0 or -1. */
static int kmeans(const float *X, int n, int w, int L, lw_rng *rng, float *cent) {
    float *G = lw_la_salloc((size_t)n * L), *cn = lw_la_salloc((size_t)L);
    double *d2 = lw_la_dalloc((size_t)n), *sum = lw_la_dalloc((size_t)L * w);
    int *assign = malloc(sizeof(int) * (size_t)n), *count = malloc(sizeof(int) * (size_t)L);
    if (!G || !cn || !d2 || !sum || !assign || !count) {
        free(G), free(cn), free(d2), free(sum), free(assign), free(count);
        return lw_fail("codec pq: out of memory in k-means");
    }
    /* k-means++: each next centroid drawn with probability proportional to D^2 */
    int first = (int)lw_rng_below(rng, (uint64_t)n);
    memcpy(cent, X + (size_t)first * w, sizeof(float) * (size_t)w);
    for (int i = 0; i < n; i++) d2[i] = INFINITY;
    for (int l = 1; l < L; l++) {
        const float *prev = cent + (size_t)(l - 1) * w;
        double total = 0;
        for (int i = 0; i < n; i++) {
            double e = 0;
            for (int k = 0; k < w; k++) e += ((double)X[(size_t)i * w + k] - prev[k]) * ((double)X[(size_t)i * w + k] - prev[k]);
            if (e < d2[i]) d2[i] = e;
            total += d2[i];
        }
        int pick = n - 1;
        if (total > 0) {
            double u = lw_rng_uniform(rng) * total, acc = 0;
            for (int i = 0; i < n; i++)
                if ((acc += d2[i]) > u) {
                    pick = i;
                    break;
                }
        } else {
            pick = (int)lw_rng_below(rng, (uint64_t)n);
        }
        memcpy(cent + (size_t)l * w, X + (size_t)pick * w, sizeof(float) * (size_t)w);
    }
    /* Lloyd: distances |x|^2 - 2 x.c + |c|^2 through one sgemm per iteration */
    for (int i = 0; i < n; i++) assign[i] = -1;
    for (int it = 0; it < 25; it++) {
        for (int l = 0; l < L; l++) {
            double e = 0;
            for (int k = 0; k < w; k++) e += (double)cent[(size_t)l * w + k] * cent[(size_t)l * w + k];
            cn[l] = (float)e;
        }
        lw_la_sgemm(false, true, n, L, w, 1.0f, X, cent, 0.0f, G);
        int changed = 0;
        for (int i = 0; i < n; i++) {
            int best = 0;
            float bd = FLT_MAX;
            for (int l = 0; l < L; l++) {
                float v = cn[l] - 2.0f * G[(size_t)i * L + l];
                if (v < bd) bd = v, best = l;
            }
            changed += best != assign[i];
            assign[i] = best;
        }
        if (!changed) break;
        memset(sum, 0, sizeof(double) * (size_t)L * w);
        memset(count, 0, sizeof(int) * (size_t)L);
        for (int i = 0; i < n; i++) {
            count[assign[i]]++;
            for (int k = 0; k < w; k++) sum[(size_t)assign[i] * w + k] += X[(size_t)i * w + k];
        }
        for (int l = 0; l < L; l++) {
            if (count[l] > 0) {
                for (int k = 0; k < w; k++) cent[(size_t)l * w + k] = (float)(sum[(size_t)l * w + k] / count[l]);
                continue;
            }
            /* an empty cluster restarts at the point farthest from its own centroid */
            int far = 0;
            double fd = -1;
            for (int i = 0; i < n; i++) {
                double e = 0;
                for (int k = 0; k < w; k++) {
                    double t = (double)X[(size_t)i * w + k] - cent[(size_t)assign[i] * w + k];
                    e += t * t;
                }
                if (e > fd) fd = e, far = i;
            }
            memcpy(cent + (size_t)l * w, X + (size_t)far * w, sizeof(float) * (size_t)w);
        }
    }
    free(G), free(cn), free(d2), free(sum), free(assign), free(count);
    return 0;
}

/* Fits m subspaces x 2^bits centroids on rows (n x d). NULL + message on failure. */
static pq_state *pq_train(const float *rows, int64_t n, int d, int m, int bits, uint64_t seed) {
    pq_state *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    *s = (pq_state){.d = d, .m = m, .bits = bits, .levels = 1 << bits};
    s->C = malloc(sizeof(float) * (size_t)s->levels * d);
    float *X = malloc(sizeof(float) * (size_t)n * (size_t)(d / m + 1)), *cent = malloc(sizeof(float) * (size_t)s->levels * (size_t)(d / m + 1));
    if (!s->C || !X || !cent) {
        free(X), free(cent);
        goto oom;
    }
    int rc = 0;
    for (int j = 0; rc == 0 && j < m; j++) {
        int a = sub_lo(s, j), w = sub_lo(s, j + 1) - a;
        for (int64_t i = 0; i < n; i++) memcpy(X + (size_t)i * w, rows + (size_t)i * d + a, sizeof(float) * (size_t)w);
        lw_rng rng;
        lw_rng_seed(&rng, seed + 0x9E3779B97F4A7C15ull * (uint64_t)(j + 1));
        rc = kmeans(X, (int)n, w, s->levels, &rng, cent);
        for (int l = 0; rc == 0 && l < s->levels; l++)
            memcpy(s->C + (size_t)l * d + a, cent + (size_t)l * w, sizeof(float) * (size_t)w);
    }
    free(X), free(cent);
    if (rc == 0) return s;
    state_free(s);
    return NULL;
oom:
    lw_fail("codec pq: out of memory");
    state_free(s);
    return NULL;
}

static int search(lw_codec *c, const float *rows, int64_t n, int d, int *m_out, int *b_out) {
    float *train = NULL, *held = NULL;
    int64_t nt, nh;
    int split = lw_act_split(rows, n, d, c->p.seed, &train, &nt, &held, &nh);
    if (split < 0) return -1;
    int64_t per = 8 * (c->p.budget_bits / 8) / c->T;
    lw_act_search srch;
    lw_act_search_init(&srch, c);
    int rc = 0;
    for (int b = c->p.bits ? c->p.bits : 1; rc == 0 && b <= (c->p.bits ? c->p.bits : 8); b++) {
        if ((INT64_C(1) << b) > nt) break;
        int m = c->p.pq_subspaces > 0 ? c->p.pq_subspaces : (int)(per / b < d ? per / b : d);
        if (m < 1) m = 1;
        if (!lw_act_search_fits(&srch, lw_act_item_bits((int64_t)m * b, c->T))) continue;
        pq_state *s = pq_train(train, nt, d, m, b, c->p.seed);
        if (!s) {
            rc = -1;
            break;
        }
        lw_act_layout L = layout_of(c, s);
        double err[2];
        rc = lw_act_rel_err(&L, held, nh, err);
        if (rc == 0 && lw_act_search_add(&srch, json_pack("{s:i, s:i}", "subspaces", m, "bits", b),
                                         lw_act_item_bits(L.vec_bits, c->T), err))
            *m_out = m, *b_out = b;
        state_free(s);
    }
    if (rc == 0 && srch.best < 0) {
        if (srch.smallest_bits == INT64_MAX)
            rc = lw_fail("codec pq: %lld training rows are fewer than the 2^b centroids of any shape tried",
                         (long long)nt);
        else
            rc = lw_act_search_none(&srch, c->p.pq_subspaces > 0 || c->p.bits > 0 ? "with the shape fields given"
                                                                                  : "m >= 1 subspaces of >= 1 bit");
    }
    if (rc == 0) lw_act_search_record(c, &srch, split == 0 ? nh : 0);
    lw_act_search_free(&srch);
    free(train), free(held);
    return rc;
}

static int pq_fit(lw_codec *c, const float *rows, int64_t n, int d) {
    if (lw_act_check_settings(c, "subspaces", c->p.pq_subspaces, d, "bits", c->p.bits, 16, NULL) != 0) return -1;
    if (n > (1 << 30)) return lw_fail("codec pq: %lld calibration rows: at most 2^30", (long long)n);
    int m = c->p.pq_subspaces > 0 ? c->p.pq_subspaces : (d < 16 ? d : 16);
    int b = c->p.bits > 0 ? c->p.bits : 8;
    if (c->p.budget_bits > 0) {
        if (search(c, rows, n, d, &m, &b) != 0) return -1;
    } else {
        while (c->p.bits == 0 && b > 1 && (INT64_C(1) << b) > n) b--;
    }
    if ((INT64_C(1) << b) > n)
        return lw_fail("codec pq: 2^%d = %lld centroids per subspace need at least that many calibration rows (got "
                       "%lld)",
                       b, (long long)(INT64_C(1) << b), (long long)n);
    pq_state *s = pq_train(rows, n, d, m, b, c->p.seed);
    if (!s) return -1;
    c->state = s;
    c->p.pq_subspaces = m;
    c->p.bits = b;
    lw_act_layout L = layout_of(c, s);
    return lw_act_record_fit(c, &L, rows, n, c->T) ? lw_act_count_side(c) : -1;
}

static int pq_encode(const lw_codec *c, const float *item, lw_payload *out) {
    lw_act_layout L = layout_of(c, c->state);
    return lw_act_encode(&L, item, out);
}

static int pq_decode(const lw_codec *c, const uint8_t *bytes, size_t n, float *item) {
    lw_act_layout L = layout_of(c, c->state);
    return lw_act_decode(c, &L, bytes, n, item);
}

static int pq_side(const lw_codec *c, lw_st_tensor_in *t, int cap) {
    const pq_state *s = c->state;
    if (cap < 1) return lw_fail("codec: no room for side tensors");
    t[0] = (lw_st_tensor_in){
        .name = "pq.centroids", .dtype = LW_DT_F32, .n_dims = 2, .shape = {s->levels, s->d}, .data = s->C};
    return 1;
}

static int pq_load(lw_codec *c, const lw_st_file *f) {
    if (c->p.pq_subspaces < 1 || c->p.pq_subspaces > c->d || c->p.bits < 1 || c->p.bits > 16)
        return lw_fail("codec pq: record has %d subspaces, bits %d (subspaces in [1, %d], bits in [1, 16])",
                       c->p.pq_subspaces, c->p.bits, c->d);
    pq_state *s = calloc(1, sizeof *s);
    if (!s) return lw_fail("codec: out of memory");
    *s = (pq_state){.d = c->d, .m = c->p.pq_subspaces, .bits = c->p.bits, .levels = 1 << c->p.bits};
    c->state = s;
    s->C = lw_act_load_f32(f, "pq.centroids", s->levels, s->d);
    return s->C ? 0 : -1;
}

static void pq_free(lw_codec *c) {
    state_free(c->state);
    c->state = NULL;
}

const lw_codec_ops lw_codec_ops_pq = {
    .fit_act = pq_fit,
    .encode_act = pq_encode,
    .decode_act = pq_decode,
    .side_tensors = pq_side,
    .load = pq_load,
    .free_state = pq_free,
};
