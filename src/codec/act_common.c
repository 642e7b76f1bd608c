/* What the activation codecs share: bit streams, scalar quantizers, top-k selection, the
 * item layout around one vector's code, the budget search's bookkeeping, calibration splits
 * and side-information accounting. See act_common.h for the payload layout. */
#include "codec/act_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linalg/linalg.h"

/* ------------------------------------------------------------------ bits */

void lw_bits_put(lw_bits *b, uint32_t v, int nbits) {
    for (int i = 0; i < nbits; i++, b->pos++)
        if ((v >> i) & 1u) b->buf[b->pos >> 3] |= (uint8_t)(1u << (b->pos & 7));
}

uint32_t lw_bits_get(lw_bits *b, int nbits) {
    uint32_t v = 0;
    for (int i = 0; i < nbits; i++, b->pos++) v |= (uint32_t)((b->buf[b->pos >> 3] >> (b->pos & 7)) & 1u) << i;
    return v;
}

int lw_bits_for(int64_t n) {
    int b = 0;
    while (b < 62 && (INT64_C(1) << b) < n) b++;
    return b;
}

/* ------------------------------------------------------------------ scalar quantizers */

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* A sorted sample of at most 65536 of the values (every stride-th): quantiles and Lloyd
 * iterations on it cost the same whatever the calibration size. NULL on out of memory. */
static float *sorted_sample(const float *v, size_t n, size_t *m) {
    size_t stride = n > 65536 ? (n + 65535) / 65536 : 1;
    *m = (n + stride - 1) / stride;
    float *s = malloc(sizeof(float) * (*m ? *m : 1));
    if (!s) return NULL;
    for (size_t i = 0; i < *m; i++) s[i] = v[i * stride];
    qsort(s, *m, sizeof(float), cmp_float);
    return s;
}

uint32_t lw_uq_code(float lo, float hi, int levels, float x) {
    if (levels <= 1 || !(hi > lo)) return 0;
    double t = ((double)x - lo) / ((double)hi - lo) * (levels - 1);
    if (!(t > 0)) return 0; /* also NaN */
    if (t >= levels - 1) return (uint32_t)(levels - 1);
    return (uint32_t)lround(t);
}

float lw_uq_value(float lo, float hi, int levels, uint32_t code) {
    if (levels <= 1) return lo;
    return (float)((double)lo + (double)code * ((double)hi - lo) / (levels - 1));
}

void lw_uq_fit(const float *v, size_t n, int levels, float *lo, float *hi) {
    *lo = *hi = 0.0f;
    if (n == 0) return;
    if (levels <= 1) {
        double s = 0;
        for (size_t i = 0; i < n; i++) s += v[i];
        *lo = *hi = (float)(s / (double)n);
        return;
    }
    size_t m;
    float *s = sorted_sample(v, n, &m);
    if (!s) { /* out of memory: the full range, still a valid quantizer */
        for (size_t i = 0; i < n; i++) {
            if (i == 0 || v[i] < *lo) *lo = v[i];
            if (i == 0 || v[i] > *hi) *hi = v[i];
        }
        return;
    }
    static const double Q[] = {0, 1e-4, 1e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2};
    double best = INFINITY;
    for (size_t g = 0; g < sizeof Q / sizeof Q[0]; g++) {
        size_t a = (size_t)floor(Q[g] * (double)(m - 1)), b = m - 1 - a;
        if (a > b) break;
        float l = s[a], h = s[b];
        double err = 0;
        for (size_t i = 0; i < m; i++) {
            double e = (double)s[i] - lw_uq_value(l, h, levels, lw_uq_code(l, h, levels, s[i]));
            err += e * e;
        }
        if (err < best) best = err, *lo = l, *hi = h;
    }
    free(s);
}

int lw_lloyd_fit(const float *v, size_t n, int levels, float *cb) {
    size_t m;
    float *s = n ? sorted_sample(v, n, &m) : NULL;
    double *pre = s ? lw_la_dalloc(m + 1) : NULL;
    size_t *cut = s ? malloc(sizeof(size_t) * (size_t)(levels + 1)) : NULL;
    if (n == 0) {
        for (int i = 0; i < levels; i++) cb[i] = 0.0f;
        return 0;
    }
    if (!s || !pre || !cut) {
        free(s), free(pre), free(cut);
        return lw_fail("codec: out of memory fitting a Lloyd-Max quantizer");
    }
    for (size_t i = 0; i < m; i++) pre[i + 1] = pre[i] + s[i];
    for (int i = 0; i < levels; i++) cb[i] = s[(size_t)(((double)i + 0.5) / levels * (double)(m - 1))];
    /* On sorted values each cell is a contiguous run: its centroid comes from prefix sums. */
    for (int it = 0; it < 100; it++) {
        cut[0] = 0;
        cut[levels] = m;
        for (int i = 1; i < levels; i++) {
            float t = 0.5f * (cb[i - 1] + cb[i]);
            size_t a = cut[i - 1], b = m; /* first index with s >= t */
            while (a < b) {
                size_t mid = a + (b - a) / 2;
                if (s[mid] < t) a = mid + 1;
                else b = mid;
            }
            cut[i] = a;
        }
        bool moved = false;
        for (int i = 0; i < levels; i++) {
            if (cut[i + 1] <= cut[i]) continue; /* an empty cell keeps its level */
            float c = (float)((pre[cut[i + 1]] - pre[cut[i]]) / (double)(cut[i + 1] - cut[i]));
            moved |= c != cb[i];
            cb[i] = c;
        }
        if (!moved) break;
    }
    qsort(cb, (size_t)levels, sizeof(float), cmp_float);
    free(s), free(pre), free(cut);
    return 0;
}

uint32_t lw_lloyd_code(const float *cb, int levels, float x) {
    int a = 0, b = levels - 1; /* the first level whose upper midpoint is above x */
    while (a < b) {
        int mid = a + (b - a) / 2;
        if (x < 0.5f * (cb[mid] + cb[mid + 1])) b = mid;
        else a = mid + 1;
    }
    return (uint32_t)a;
}

uint32_t lw_sm_code(float lo, float hi, int bits, float x) {
    uint32_t mag = lw_uq_code(lo, hi, 1 << (bits - 1), fabsf(x));
    return mag | (x < 0 ? 1u << (bits - 1) : 0u);
}

float lw_sm_value(float lo, float hi, int bits, uint32_t code) {
    float m = lw_uq_value(lo, hi, 1 << (bits - 1), code & ((1u << (bits - 1)) - 1u));
    return (code >> (bits - 1)) & 1u ? -m : m;
}

/* ------------------------------------------------------------------ top-k */

/* Whether coordinate i ranks before j: larger key, ties to the lower index. NaN ranks last. */
static bool ranks_before(const float *x, bool by_value, int i, int j) {
    float a = by_value ? x[i] : fabsf(x[i]), b = by_value ? x[j] : fabsf(x[j]);
    if (isnan(a)) return false;
    if (isnan(b)) return true;
    return a > b || (a == b && i < j);
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

void lw_topk_select(const float *x, int n, int k, bool by_value, int *idx, int *heap) {
    /* a heap of the k best so far with the worst of them at the root */
    int size = 0;
    for (int i = 0; i < n; i++) {
        int pos;
        if (size < k) {
            pos = size++;
            while (pos > 0 && ranks_before(x, by_value, heap[(pos - 1) / 2], i)) {
                heap[pos] = heap[(pos - 1) / 2];
                pos = (pos - 1) / 2;
            }
            heap[pos] = i;
            continue;
        }
        if (!ranks_before(x, by_value, i, heap[0])) continue;
        pos = 0;
        for (;;) {
            int c = 2 * pos + 1;
            if (c >= size) break;
            if (c + 1 < size && ranks_before(x, by_value, heap[c], heap[c + 1])) c++;
            if (!ranks_before(x, by_value, i, heap[c])) break;
            heap[pos] = heap[c];
            pos = c;
        }
        heap[pos] = i;
    }
    memcpy(idx, heap, sizeof(int) * (size_t)size);
    qsort(idx, (size_t)size, sizeof(int), cmp_int);
}

/* ------------------------------------------------------------------ items */

size_t lw_act_payload_bytes(const lw_act_layout *L) {
    return (size_t)((L->vec_bits * L->vectors + 7) / 8);
}

int lw_act_encode(const lw_act_layout *L, const float *item, lw_payload *out) {
    size_t n = lw_act_payload_bytes(L);
    lw_bits w = {.buf = calloc(n ? n : 1, 1), .n_bytes = n};
    void *scratch = malloc(L->scratch_bytes ? L->scratch_bytes : 1);
    if (!w.buf || !scratch) {
        free(w.buf), free(scratch);
        return lw_fail("codec: out of memory for a %zu-byte payload", n);
    }
    for (int t = 0; t < L->vectors; t++) L->put(L->state, item + (size_t)t * L->width, &w, scratch);
    free(scratch);
    out->bytes = w.buf;
    out->n = n;
    return 0;
}

int lw_act_decode(const lw_codec *c, const lw_act_layout *L, const uint8_t *bytes, size_t n, float *item) {
    size_t want = lw_act_payload_bytes(L);
    if (!bytes || n != want)
        return lw_fail("codec %s: a payload of %zu bytes; this codec's payloads are %zu bytes: not this codec's",
                       lw_codec_name(c->p.kind), bytes ? n : 0, want);
    lw_bits r = {.buf = (uint8_t *)bytes, .n_bytes = n};
    void *scratch = malloc(L->scratch_bytes ? L->scratch_bytes : 1);
    if (!scratch) return lw_fail("codec: out of memory");
    int rc = 0;
    for (int t = 0; rc == 0 && t < L->vectors; t++) rc = L->get(L->state, &r, item + (size_t)t * L->width, scratch);
    free(scratch);
    if (rc != 0) return lw_fail_prefix("codec %s: not this codec's payload: ", lw_codec_name(c->p.kind));
    if (lw_bits_get(&r, (int)(n * 8 - r.pos)) != 0)
        return lw_fail("codec %s: the payload's padding bits are not zero: not this codec's payload",
                       lw_codec_name(c->p.kind));
    /* finite side tensors can still overflow (a basis of 3e38 times a code): a decoded inf was written
     * out with exit 0, and every later verb refused the file */
    for (size_t j = 0; j < (size_t)L->vectors * (size_t)L->width; j++)
        if (!isfinite(item[j]))
            return lw_fail("codec %s: decoding gives a non-finite value (%g at %zu): the codec's side tensors are "
                           "not a fit's; the codec file was edited: fit the codec again",
                           lw_codec_name(c->p.kind), (double)item[j], j);
    return 0;
}

int lw_act_rel_err(const lw_act_layout *L, const float *rows, int64_t n, double err[2]) {
    size_t nb = (size_t)((L->vec_bits + 7) / 8);
    uint8_t *buf = malloc(nb ? nb : 1);
    float *y = malloc(sizeof(float) * (size_t)L->width);
    double *mu = lw_la_dalloc((size_t)L->width);
    void *scratch = malloc(L->scratch_bytes ? L->scratch_bytes : 1);
    int rc = 0;
    if (!buf || !y || !mu || !scratch) rc = lw_fail("codec: out of memory measuring reconstruction error");
    if (rc == 0 && n > 0) lw_la_col_means(rows, n, L->width, mu);
    double num = 0, den = 0, den_c = 0;
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        const float *x = rows + (size_t)i * L->width;
        memset(buf, 0, nb ? nb : 1);
        lw_bits w = {.buf = buf, .n_bytes = nb};
        L->put(L->state, x, &w, scratch);
        w.pos = 0;
        rc = L->get(L->state, &w, y, scratch);
        for (int j = 0; rc == 0 && j < L->width; j++) {
            double e = (double)x[j] - y[j], c = (double)x[j] - mu[j];
            num += e * e;
            den += (double)x[j] * x[j];
            den_c += c * c;
        }
    }
    err[0] = den > 0 ? num / den : num;
    err[1] = den_c > 0 ? num / den_c : num;
    free(buf), free(y), free(mu), free(scratch);
    return rc;
}

json_t *lw_act_record_fit(lw_codec *c, const lw_act_layout *L, const float *rows, int64_t n, int vectors) {
    double err[2];
    if (lw_act_rel_err(L, rows, n, err) != 0) return NULL;
    json_t *fit = lw_act_fit_obj(c);
    json_object_set_new(fit, "rel_err_calibration", json_real(err[0]));
    json_object_set_new(fit, "rel_err_calibration_centered", json_real(err[1]));
    json_object_set_new(fit, "payload_bits", json_integer(lw_act_item_bits(L->vec_bits, vectors)));
    return fit;
}

/* ------------------------------------------------------------------ the budget search */

void lw_act_search_init(lw_act_search *s, const lw_codec *c) {
    s->c = c;
    s->candidates = json_array();
    s->best = -1;
    s->best_err = INFINITY;
    s->smallest_bits = INT64_MAX;
}

int64_t lw_act_item_bits(int64_t vec_bits, int vectors) { return 8 * ((vec_bits * vectors + 7) / 8); }

bool lw_act_search_fits(lw_act_search *s, int64_t item_bits) {
    if (item_bits < s->smallest_bits) s->smallest_bits = item_bits;
    return item_bits <= s->c->p.budget_bits;
}

bool lw_act_search_add(lw_act_search *s, json_t *shape, int64_t item_bits, const double err[2]) {
    json_object_set_new(shape, "payload_bits", json_integer(item_bits));
    json_object_set_new(shape, "rel_err", json_real(err[0]));
    json_object_set_new(shape, "rel_err_centered", json_real(err[1]));
    json_array_append_new(s->candidates, shape);
    if (!(err[0] < s->best_err) && s->best >= 0) return false;
    s->best_err = err[0];
    s->best = (int)json_array_size(s->candidates) - 1;
    return true;
}

int lw_act_search_none(lw_act_search *s, const char *shape_hint) {
    const lw_codec *c = s->c;
    if (s->smallest_bits == INT64_MAX)
        return lw_fail("codec %s: no shape to search (%s)", lw_codec_name(c->p.kind), shape_hint);
    return lw_fail("codec %s: a budget of %lld bits fits no shape (%s; width %d, %d position%s): the smallest "
                   "payload is %lld bits, so the smallest budget that works is %lld bits",
                   lw_codec_name(c->p.kind), (long long)c->p.budget_bits, shape_hint, c->d, c->T, c->T == 1 ? "" : "s",
                   (long long)s->smallest_bits, (long long)s->smallest_bits);
}

void lw_act_search_record(lw_codec *c, lw_act_search *s, int64_t held_out) {
    json_t *o = json_pack("{s:I, s:o, s:i, s:I}", "budget_bits", (json_int_t)c->p.budget_bits, "candidates",
                          s->candidates, "chosen", s->best, "held_out_rows", (json_int_t)held_out);
    s->candidates = NULL;
    json_object_set_new(lw_act_fit_obj(c), "search", o);
}

void lw_act_search_free(lw_act_search *s) {
    json_decref(s->candidates);
    s->candidates = NULL;
}

/* ------------------------------------------------------------------ calibration rows */

int lw_act_split(const float *rows, int64_t n, int w, uint64_t seed, float **train, int64_t *n_train, float **held,
                 int64_t *n_held) {
    bool split = n >= 10;
    int64_t nh = split ? n / 5 : n, nt = split ? n - nh : n;
    *train = malloc(sizeof(float) * (size_t)nt * w);
    *held = malloc(sizeof(float) * (size_t)nh * w);
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)n);
    if (!*train || !*held || !perm) {
        free(*train), free(*held), free(perm);
        *train = *held = NULL;
        return lw_fail("codec: out of memory splitting %lld calibration rows", (long long)n);
    }
    if (split) lw_la_permutation(n, seed, perm);
    else
        for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = 0; i < nt; i++) memcpy(*train + (size_t)i * w, rows + (size_t)perm[i] * w, sizeof(float) * w);
    for (int64_t i = 0; i < nh; i++)
        memcpy(*held + (size_t)i * w, rows + (size_t)perm[split ? nt + i : i] * w, sizeof(float) * w);
    free(perm);
    *n_train = nt;
    *n_held = nh;
    return split ? 0 : 1;
}

int lw_act_items(const lw_codec *c, int64_t n_rows, int64_t *n_items) {
    *n_items = n_rows / c->T;
    if (*n_items < 1)
        return lw_fail("codec %s: %lld calibration rows make no item of %d positions", lw_codec_name(c->p.kind),
                       (long long)n_rows, c->T);
    return 0;
}

/* ------------------------------------------------------------------ record, side info */

json_t *lw_act_fit_obj(lw_codec *c) {
    json_t *f = json_object_get(c->record, "fit");
    if (!f) {
        f = json_object();
        json_object_set_new(c->record, "fit", f);
    }
    return f;
}

int64_t lw_act_tensor_bits(const lw_st_tensor_in *t) {
    int64_t e = 1;
    for (int k = 0; k < t->n_dims; k++) e *= t->shape[k];
    return e * (int64_t)lw_dtype_size(t->dtype) * 8;
}

int lw_act_count_side(lw_codec *c) {
    lw_st_tensor_in t[LW_CODEC_MAX_SIDE_TENSORS];
    int n = c->ops->side_tensors(c, t, LW_CODEC_MAX_SIDE_TENSORS);
    if (n < 0) return -1;
    json_t *side = json_object();
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        int64_t bits = lw_act_tensor_bits(&t[i]);
        json_object_set_new(side, t[i].name, json_integer(bits));
        total += bits;
    }
    c->side_bits = total;
    json_object_set_new(lw_act_fit_obj(c), "side_bits_by_tensor", side);
    return 0;
}

float *lw_act_load_f32(const lw_st_file *f, const char *name, int64_t n0, int64_t n1) {
    const lw_st_tensor *t = lw_st_find(f, name);
    int dims = n1 < 0 ? 1 : 2;
    if (!t || t->dtype != LW_DT_F32 || t->n_dims != dims || t->shape[0] != n0 || (dims == 2 && t->shape[1] != n1)) {
        if (dims == 1) lw_fail("codec tensor \"%s\" missing or not F32 [%lld]", name, (long long)n0);
        else lw_fail("codec tensor \"%s\" missing or not F32 [%lld, %lld]", name, (long long)n0, (long long)n1);
        return NULL;
    }
    size_t bytes = sizeof(float) * (size_t)n0 * (size_t)(dims == 2 ? n1 : 1);
    float *x = malloc(bytes ? bytes : 1);
    if (!x) {
        lw_fail("codec: out of memory loading \"%s\"", name);
        return NULL;
    }
    memcpy(x, t->data, bytes);
    for (size_t i = 0; i < bytes / sizeof(float); i++)
        if (!isfinite(x[i])) {
            free(x);
            lw_fail("codec tensor \"%s\" holds a non-finite value", name);
            return NULL;
        }
    return x;
}

int lw_act_check_settings(const lw_codec *c, const char *name_a, int a, int max_a, const char *name_b, int b,
                          int max_b, const char *note) {
    const char *name = a < 0 || a > max_a ? name_a : b < 0 || b > max_b ? name_b : NULL;
    if (!name) return 0;
    int v = name == name_a ? a : b, max = name == name_a ? max_a : max_b;
    return lw_fail("codec %s: %s = %d must be in [1, %d]%s (or 0: chosen by the budget search, or the default)",
                   lw_codec_name(c->p.kind), name, v, max, note && name == name_b ? note : "");
}
