/* "sae": a top-k sparse autoencoder trained in C on the calibration rows.
 *
 *   encode  pre = W_enc (x - b_dec) + b_enc          (L latents; W_enc is L x d)
 *           z   = the k largest entries of pre, kept as they are (ties to the lower index;
 *                 no ReLU), every other latent 0
 *   decode  x^  = W_dec z + b_dec                     (W_dec is d x L, untied from W_enc)
 *
 * A payload sends, for each vector (each position of an item), the k active latents as
 * (index in ceil(log2 L) bits, value in b bits) pairs in ascending index order; the value is
 * a uniform level over [lo, hi], calibration quantiles of the kept pre-activations.
 * Side information: W_enc (F32 [L, d]), b_enc [L], W_dec stored transposed as "sae.decoder"
 * [L, d] (row i = column i of W_dec, latent i's direction), b_dec [d], and [lo, hi].
 *
 * Training (deterministic from the seed): rows are divided by one scale s (the RMS of the
 * centered coordinates) so that the loss does not depend on the activations' units; W_dec's
 * columns start as random unit vectors (lw_rng normals), W_enc = W_dec' (Gao et al. 2024),
 * b_dec = the rows' mean, b_enc = 0; Adam (lr 1e-3 ... see TRAIN_* below) on the mean squared
 * error of minibatches of 32 rows in a seeded order per epoch, W_dec's columns renormalized to
 * unit length after every step. The scale is then folded into the weights (W_enc / s, W_dec
 * s, b_dec s), so the stored functions above work on raw activations. The loss curve (each
 * epoch's mean fraction of variance unexplained, FVU = |x - x^|^2 / |x - mean|^2 on the
 * training rows) is in the record, with the FVU before and after training.
 *
 * Budget search: for each k (powers of two up to the largest that fits, at most L / 2) the
 * largest b <= 8 that fits; an SAE trained on 80% of the calibration rows per k, the error
 * measured on the other 20%; the chosen shape is then trained again on every row. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/act_common.h"
#include "common/rng.h"
#include "linalg/linalg.h"

#define TRAIN_LR 1e-3
#define TRAIN_BATCH 32
#define TRAIN_BETA1 0.9
#define TRAIN_BETA2 0.999
#define TRAIN_EPS 1e-8

typedef struct {
    int d, L, k, bits, ib;
    float *W_enc, *b_enc, *dec, *b_dec; /* L x d, L, L x d (W_dec'), d */
    float range[2];                     /* value quantizer lo, hi */
} sae_state;

static void state_free(sae_state *s) {
    if (!s) return;
    free(s->W_enc), free(s->b_enc), free(s->dec), free(s->b_dec);
    free(s);
}

static sae_state *state_new(int d, int L, int k, int bits) {
    sae_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    *s = (sae_state){.d = d, .L = L, .k = k, .bits = bits, .ib = lw_bits_for(L)};
    s->W_enc = lw_la_salloc((size_t)L * d);
    s->b_enc = lw_la_salloc((size_t)L);
    s->dec = lw_la_salloc((size_t)L * d);
    s->b_dec = lw_la_salloc((size_t)d);
    if (!s->W_enc || !s->b_enc || !s->dec || !s->b_dec) {
        state_free(s);
        return NULL;
    }
    return s;
}

/* pre-activations of one vector (scratch: d + L floats, then L + k ints) */
static void pre_acts(const sae_state *s, const float *x, float *xc, float *pre) {
    for (int i = 0; i < s->d; i++) xc[i] = x[i] - s->b_dec[i];
    memcpy(pre, s->b_enc, sizeof(float) * (size_t)s->L);
    lw_la_sgemm(false, true, 1, s->L, s->d, 1.0f, xc, s->W_enc, 1.0f, pre);
}

static void sae_put(const void *st, const float *x, lw_bits *w, void *scratch) {
    const sae_state *s = st;
    float *xc = scratch, *pre = xc + s->d;
    int *idx = (int *)(pre + s->L), *heap = idx + s->k;
    pre_acts(s, x, xc, pre);
    lw_topk_select(pre, s->L, s->k, true, idx, heap);
    int levels = 1 << s->bits;
    for (int j = 0; j < s->k; j++) {
        lw_bits_put(w, (uint32_t)idx[j], s->ib);
        lw_bits_put(w, lw_uq_code(s->range[0], s->range[1], levels, pre[idx[j]]), s->bits);
    }
}

static int sae_get(const void *st, lw_bits *r, float *x, void *scratch) {
    const sae_state *s = st;
    memcpy(x, s->b_dec, sizeof(float) * (size_t)s->d);
    int levels = 1 << s->bits;
    for (int j = 0, prev = -1; j < s->k; j++) {
        uint32_t i = lw_bits_get(r, s->ib), code = lw_bits_get(r, s->bits);
        if (i >= (uint32_t)s->L) return lw_fail("latent index %u out of range (%d latents)", i, s->L);
        if ((int)i <= prev) /* the encoder writes each latent once, ascending (lw_topk_select) */
            return lw_fail("latent index %u after index %d: indices are written ascending, each once", i, prev);
        prev = (int)i;
        float z = lw_uq_value(s->range[0], s->range[1], levels, code);
        const float *u = s->dec + (size_t)i * s->d;
        for (int t = 0; t < s->d; t++) x[t] += z * u[t];
    }
    return 0;
}

static lw_act_layout layout_of(const lw_codec *c, const sae_state *s) {
    return (lw_act_layout){.width = s->d,
                           .vectors = c->T,
                           .vec_bits = (int64_t)s->k * (s->ib + s->bits),
                           .state = s,
                           .put = sae_put,
                           .get = sae_get,
                           .scratch_bytes = sizeof(float) * ((size_t)s->d + s->L) + sizeof(int) * ((size_t)s->L + s->k)};
}

/* ------------------------------------------------------------------ training */

typedef struct {
    float *p, *g, *m, *v;
    size_t n;
} adam_param;

static void adam_step(adam_param *a, int t) {
    double c1 = 1.0 - pow(TRAIN_BETA1, t), c2 = 1.0 - pow(TRAIN_BETA2, t);
    for (size_t i = 0; i < a->n; i++) {
        a->m[i] = (float)(TRAIN_BETA1 * a->m[i] + (1 - TRAIN_BETA1) * a->g[i]);
        a->v[i] = (float)(TRAIN_BETA2 * a->v[i] + (1 - TRAIN_BETA2) * (double)a->g[i] * a->g[i]);
        a->p[i] -= (float)(TRAIN_LR * (a->m[i] / c1) / (sqrt(a->v[i] / c2) + TRAIN_EPS));
    }
}

static void normalize_rows(float *M, int rows, int d) {
    for (int i = 0; i < rows; i++) {
        double n = 0;
        for (int t = 0; t < d; t++) n += (double)M[(size_t)i * d + t] * M[(size_t)i * d + t];
        n = sqrt(n);
        if (n > 0)
            for (int t = 0; t < d; t++) M[(size_t)i * d + t] = (float)(M[(size_t)i * d + t] / n);
    }
}

/* Squared error of a batch (B rows of X) with its gradients added to g_* (scaled by gscale). */
static double batch_pass(const sae_state *s, const float *X, const int64_t *rows, int B, float *Xc, float *Pre, int *idx,
                         int *heap, float *e, float gscale, float *gWe, float *gbe, float *gD, float *gbd) {
    int d = s->d, L = s->L, k = s->k;
    for (int r = 0; r < B; r++)
        for (int t = 0; t < d; t++) Xc[(size_t)r * d + t] = X[(size_t)rows[r] * d + t] - s->b_dec[t];
    for (int r = 0; r < B; r++) memcpy(Pre + (size_t)r * L, s->b_enc, sizeof(float) * (size_t)L);
    lw_la_sgemm(false, true, B, L, d, 1.0f, Xc, s->W_enc, 1.0f, Pre);
    double loss = 0;
    for (int r = 0; r < B; r++) {
        const float *x = X + (size_t)rows[r] * d, *xc = Xc + (size_t)r * d, *pre = Pre + (size_t)r * L;
        lw_topk_select(pre, L, k, true, idx, heap);
        for (int t = 0; t < d; t++) e[t] = s->b_dec[t] - x[t];
        for (int j = 0; j < k; j++) {
            const float *u = s->dec + (size_t)idx[j] * d;
            for (int t = 0; t < d; t++) e[t] += pre[idx[j]] * u[t];
        }
        for (int t = 0; t < d; t++) loss += (double)e[t] * e[t];
        if (!gWe) continue;
        /* d loss / d x^ = gscale e; through the decoder, the active latents and the encoder */
        for (int t = 0; t < d; t++) gbd[t] += gscale * e[t];
        for (int j = 0; j < k; j++) {
            int i = idx[j];
            const float *u = s->dec + (size_t)i * d, *we = s->W_enc + (size_t)i * d;
            float z = pre[i], dz = 0;
            for (int t = 0; t < d; t++) {
                gD[(size_t)i * d + t] += gscale * z * e[t];
                dz += gscale * e[t] * u[t];
            }
            gbe[i] += dz;
            for (int t = 0; t < d; t++) {
                gWe[(size_t)i * d + t] += dz * xc[t];
                gbd[t] -= dz * we[t]; /* b_dec also enters through x - b_dec */
            }
        }
    }
    return loss;
}

/* FVU of s on X (n x d) with total centered energy var_total. */
static double fvu(const sae_state *s, const float *X, int64_t n, double var_total, float *Xc, float *Pre, int *idx,
                  int *heap, float *e) {
    double loss = 0;
    int64_t rows[TRAIN_BATCH];
    for (int64_t a = 0; a < n; a += TRAIN_BATCH) {
        int B = (int)(n - a < TRAIN_BATCH ? n - a : TRAIN_BATCH);
        for (int r = 0; r < B; r++) rows[r] = a + r;
        loss += batch_pass(s, X, rows, B, Xc, Pre, idx, heap, e, 0, NULL, NULL, NULL, NULL);
    }
    return var_total > 0 ? loss / var_total : loss;
}

/* Trains an SAE of L latents and k active on rows (n x d); fills *out and, when rec is not
 * NULL, the loss curve and the training facts. */
static int sae_train(const float *rows, int64_t n, int d, int L, int k, int bits, int epochs, uint64_t seed,
                     sae_state **out, json_t *rec) {
    *out = NULL;
    sae_state *s = state_new(d, L, k, bits);
    size_t P = (size_t)L * d;
    float *X = lw_la_salloc((size_t)n * d), *Xc = lw_la_salloc((size_t)TRAIN_BATCH * d),
          *Pre = lw_la_salloc((size_t)TRAIN_BATCH * L), *e = lw_la_salloc((size_t)d);
    float *mem = lw_la_salloc(3 * (2 * P + L + d)); /* grad, m, v of every parameter */
    int *idx = malloc(sizeof(int) * ((size_t)L + k) * 2);
    int64_t *order = malloc(sizeof(int64_t) * (size_t)n);
    double *mu = lw_la_dalloc((size_t)d);
    int rc = 0;
    if (!s || !X || !Xc || !Pre || !e || !mem || !idx || !order || !mu) {
        rc = lw_fail("codec sae: out of memory training %d latents on %lld rows", L, (long long)n);
        goto done;
    }
    /* scale: the RMS of the centered coordinates */
    lw_la_col_means(rows, n, d, mu);
    double var_total = 0;
    for (int64_t i = 0; i < n; i++)
        for (int t = 0; t < d; t++) {
            double c = rows[(size_t)i * d + t] - mu[t];
            var_total += c * c;
        }
    double scale = sqrt(var_total / ((double)n * d));
    if (!(scale > 0)) scale = 1.0;
    for (size_t i = 0; i < (size_t)n * d; i++) X[i] = (float)(rows[i] / scale);
    var_total /= scale * scale;
    lw_rng rng;
    lw_rng_seed(&rng, seed);
    for (size_t i = 0; i < P; i++) s->dec[i] = (float)lw_rng_normal(&rng);
    normalize_rows(s->dec, L, d);
    memcpy(s->W_enc, s->dec, sizeof(float) * P);
    for (int t = 0; t < d; t++) s->b_dec[t] = (float)(mu[t] / scale);
    adam_param prm[4];
    float *params[4] = {s->W_enc, s->dec, s->b_enc, s->b_dec};
    size_t sizes[4] = {P, P, (size_t)L, (size_t)d};
    float *at = mem;
    for (int q = 0; q < 4; q++) {
        prm[q] = (adam_param){.p = params[q], .g = at, .m = at + sizes[q], .v = at + 2 * sizes[q], .n = sizes[q]};
        at += 3 * sizes[q];
    }
    double before = fvu(s, X, n, var_total, Xc, Pre, idx, idx + L + k, e);
    json_t *curve = json_array();
    int step = 0;
    for (int ep = 0; ep < epochs; ep++) {
        lw_la_permutation(n, seed + 1 + (uint64_t)ep, order);
        double loss = 0;
        for (int64_t a = 0; a < n; a += TRAIN_BATCH) {
            int B = (int)(n - a < TRAIN_BATCH ? n - a : TRAIN_BATCH);
            for (int q = 0; q < 4; q++) memset(prm[q].g, 0, sizeof(float) * prm[q].n);
            loss += batch_pass(s, X, order + a, B, Xc, Pre, idx, idx + L + k, e, 2.0f / ((float)B * d), prm[0].g,
                               prm[2].g, prm[1].g, prm[3].g);
            step++;
            for (int q = 0; q < 4; q++) adam_step(&prm[q], step);
            normalize_rows(s->dec, L, d);
        }
        json_array_append_new(curve, json_real(var_total > 0 ? loss / var_total : loss));
    }
    double after = fvu(s, X, n, var_total, Xc, Pre, idx, idx + L + k, e);
    /* fold the scale into the weights: the stored functions work on raw activations */
    for (size_t i = 0; i < P; i++) s->W_enc[i] = (float)(s->W_enc[i] / scale), s->dec[i] = (float)(s->dec[i] * scale);
    for (int t = 0; t < d; t++) s->b_dec[t] = (float)(s->b_dec[t] * scale);
    /* the value quantizer, on the kept pre-activations of the training rows */
    float *vals = malloc(sizeof(float) * (size_t)n * k);
    if (!vals) {
        json_decref(curve);
        rc = lw_fail("codec sae: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        pre_acts(s, rows + (size_t)i * d, Xc, Pre);
        lw_topk_select(Pre, L, k, true, idx, idx + L + k);
        for (int j = 0; j < k; j++) vals[(size_t)i * k + j] = Pre[idx[j]];
    }
    lw_uq_fit(vals, (size_t)n * k, 1 << bits, &s->range[0], &s->range[1]);
    free(vals);
    if (rec) {
        json_object_set_new(rec, "loss_curve", curve);
        json_object_set_new(rec, "loss_before_training", json_real(before));
        json_object_set_new(rec, "loss_after_training", json_real(after));
        json_object_set_new(rec, "loss", json_string("fraction of variance unexplained on the training rows"));
        json_object_set_new(rec, "training",
                            json_pack("{s:s, s:f, s:i, s:i, s:s, s:f, s:I}", "optimizer", "adam", "lr", TRAIN_LR,
                                      "batch", TRAIN_BATCH, "epochs", epochs, "decoder",
                                      "untied; columns renormalized to unit length after each step (before the "
                                      "scale is folded in)",
                                      "input_scale", scale, "rows", (json_int_t)n));
    } else {
        json_decref(curve);
    }
    *out = s;
    s = NULL;
done:
    state_free(s);
    free(X), free(Xc), free(Pre), free(e), free(mem), free(idx), free(order), free(mu);
    return rc;
}

/* ------------------------------------------------------------------ fit */

static int search(lw_codec *c, const float *rows, int64_t n, int d, int L, int epochs, int *k_out, int *b_out) {
    float *train = NULL, *held = NULL;
    int64_t nt, nh;
    int split = lw_act_split(rows, n, d, c->p.seed, &train, &nt, &held, &nh);
    if (split < 0) return -1;
    int ib = lw_bits_for(L), rc = 0;
    lw_act_search srch;
    lw_act_search_init(&srch, c);
    int kcap = c->p.k > 0 ? c->p.k : (L / 2 > 1 ? L / 2 : 1);
    for (int k = c->p.k > 0 ? c->p.k : 1; rc == 0 && k <= kcap; k *= 2) {
        int b = 0;
        for (int t = c->p.bits ? c->p.bits : 8; t >= (c->p.bits ? c->p.bits : 1) && !b; t--)
            if (lw_act_search_fits(&srch, lw_act_item_bits((int64_t)k * (ib + t), c->T))) b = t;
        if (!b) break; /* a larger k fits even less */
        sae_state *s;
        rc = sae_train(train, nt, d, L, k, b, epochs, c->p.seed, &s, NULL);
        if (rc != 0) break;
        lw_act_layout Lay = layout_of(c, s);
        double err[2];
        rc = lw_act_rel_err(&Lay, held, nh, err);
        if (rc == 0 && lw_act_search_add(&srch, json_pack("{s:i, s:i}", "k", k, "bits", b),
                                         lw_act_item_bits(Lay.vec_bits, c->T), err))
            *k_out = k, *b_out = b;
        state_free(s);
        if (c->p.k > 0) break;
    }
    if (rc == 0 && srch.best < 0)
        rc = lw_act_search_none(&srch, c->p.k > 0 || c->p.bits > 0 ? "with the shape fields given"
                                                                   : "k >= 1 latents of >= 1 bit");
    if (rc == 0) lw_act_search_record(c, &srch, split == 0 ? nh : 0);
    lw_act_search_free(&srch);
    free(train), free(held);
    return rc;
}

static int sae_fit(lw_codec *c, const float *rows, int64_t n, int d) {
    int L = c->p.sae_latents > 0 ? c->p.sae_latents : 4 * d;
    int epochs = c->p.sae_epochs > 0 ? c->p.sae_epochs : 10;
    if ((int64_t)L * d > (INT64_C(1) << 28) || L < 2)
        return lw_fail("codec sae: %d latents of width %d: the dictionary must have at least 2 latents and at most "
                       "2^28 weights",
                       L, d);
    if (lw_act_check_settings(c, "k", c->p.k, L, "bits", c->p.bits, 16, NULL) != 0) return -1;
    if (n > (1 << 30)) return lw_fail("codec sae: %lld calibration rows: at most 2^30", (long long)n);
    int k = c->p.k > 0 ? c->p.k : (L < 32 ? L : 32), b = c->p.bits > 0 ? c->p.bits : 8;
    if (c->p.budget_bits > 0 && search(c, rows, n, d, L, epochs, &k, &b) != 0) return -1;
    sae_state *s;
    if (sae_train(rows, n, d, L, k, b, epochs, c->p.seed, &s, lw_act_fit_obj(c)) != 0) return -1;
    c->state = s;
    c->p.k = k;
    c->p.bits = b;
    c->p.sae_latents = L;
    c->p.sae_epochs = epochs;
    lw_act_layout Lay = layout_of(c, s);
    return lw_act_record_fit(c, &Lay, rows, n, c->T) ? lw_act_count_side(c) : -1;
}

static int sae_encode(const lw_codec *c, const float *item, lw_payload *out) {
    lw_act_layout L = layout_of(c, c->state);
    return lw_act_encode(&L, item, out);
}

static int sae_decode(const lw_codec *c, const uint8_t *bytes, size_t n, float *item) {
    lw_act_layout L = layout_of(c, c->state);
    return lw_act_decode(c, &L, bytes, n, item);
}

static int sae_side(const lw_codec *c, lw_st_tensor_in *t, int cap) {
    const sae_state *s = c->state;
    if (cap < 5) return lw_fail("codec: no room for side tensors");
    t[0] = (lw_st_tensor_in){.name = "sae.W_enc", .dtype = LW_DT_F32, .n_dims = 2, .shape = {s->L, s->d}, .data = s->W_enc};
    t[1] = (lw_st_tensor_in){.name = "sae.b_enc", .dtype = LW_DT_F32, .n_dims = 1, .shape = {s->L}, .data = s->b_enc};
    t[2] = (lw_st_tensor_in){.name = "sae.decoder", .dtype = LW_DT_F32, .n_dims = 2, .shape = {s->L, s->d}, .data = s->dec};
    t[3] = (lw_st_tensor_in){.name = "sae.b_dec", .dtype = LW_DT_F32, .n_dims = 1, .shape = {s->d}, .data = s->b_dec};
    t[4] = (lw_st_tensor_in){.name = "sae.value_range", .dtype = LW_DT_F32, .n_dims = 1, .shape = {2}, .data = s->range};
    return 5;
}

static int sae_load(lw_codec *c, const lw_st_file *f) {
    int L = c->p.sae_latents;
    if (L < 2 || (int64_t)L * c->d > (INT64_C(1) << 28) || c->p.k < 1 || c->p.k > L || c->p.bits < 1 || c->p.bits > 16)
        return lw_fail("codec sae: record has %d latents, k = %d, bits = %d (latents >= 2, k in [1, latents], bits in "
                       "[1, 16])",
                       L, c->p.k, c->p.bits);
    sae_state *s = calloc(1, sizeof *s);
    if (!s) return lw_fail("codec: out of memory");
    *s = (sae_state){.d = c->d, .L = L, .k = c->p.k, .bits = c->p.bits, .ib = lw_bits_for(L)};
    c->state = s;
    float *r = NULL;
    if (!(s->W_enc = lw_act_load_f32(f, "sae.W_enc", L, s->d)) || !(s->b_enc = lw_act_load_f32(f, "sae.b_enc", L, -1)) ||
        !(s->dec = lw_act_load_f32(f, "sae.decoder", L, s->d)) || !(s->b_dec = lw_act_load_f32(f, "sae.b_dec", s->d, -1)) ||
        !(r = lw_act_load_f32(f, "sae.value_range", 2, -1)))
        return -1;
    s->range[0] = r[0];
    s->range[1] = r[1];
    free(r);
    if (!(s->range[0] <= s->range[1])) /* what the fit writes; quantizing assumes it */
        return lw_fail("codec sae: the value range [%g, %g] is not low to high: the file was edited; fit the codec again",
                       s->range[0], s->range[1]);
    return 0;
}

static void sae_free(lw_codec *c) {
    state_free(c->state);
    c->state = NULL;
}

const lw_codec_ops lw_codec_ops_sae = {
    .fit_act = sae_fit,
    .encode_act = sae_encode,
    .decode_act = sae_decode,
    .side_tensors = sae_side,
    .load = sae_load,
    .free_state = sae_free,
};
