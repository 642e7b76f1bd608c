/* Bridges: names, parameters, the object, applying a fitted map, the fit record.
 * Fitting is in bridge_fit.c, files in bridge_io.c. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge_internal.h"
#include "common/error.h"
#include "common/jsonio.h"
#include "linalg/linalg.h"

/* ------------------------------------------------------------ names, params ---- */

static const char *const k_recipe_names[] = {"ridge", "pca-ridge", "pca2-ridge", "procrustes", "cca", "relrep"};
#define N_RECIPES ((int)(sizeof k_recipe_names / sizeof k_recipe_names[0]))

const char *lw_bridge_recipe_name(lw_bridge_recipe r) {
    return (int)r >= 0 && (int)r < N_RECIPES ? k_recipe_names[r] : NULL;
}

int lw_bridge_recipe_from_name(const char *name) {
    for (int i = 0; name && i < N_RECIPES; i++)
        if (strcmp(name, k_recipe_names[i]) == 0) return i;
    return -1;
}

lw_bridge_params lw_bridge_default_params(void) {
    return (lw_bridge_params){
        .recipe = LW_BRIDGE_RIDGE,
        .center = true,
        .scale = false,
        .alpha = 0.0,
        .alpha_select = LW_ALPHA_GCV,
        .kfold = 5,
        .alpha_min = 1e-3,
        .alpha_max = 1e5,
        .alpha_steps = 17,
        .rank = 0,
        .cca_reg = 0.0, /* chosen on held-out rows */
        .n_anchors = 0,
        .seed = 1,
    };
}

/* ------------------------------------------------------- tensors per recipe ---- */

static const char *const k_tensor_names[LW_BT_COUNT] = {
    [LW_BT_MEAN_A] = "mean_a",       [LW_BT_MEAN_B] = "mean_b",       [LW_BT_NORM_A] = "norm_a",
    [LW_BT_NORM_B] = "norm_b",       [LW_BT_W] = "w",                 [LW_BT_PCA_A] = "pca_a",
    [LW_BT_PCA_B] = "pca_b",         [LW_BT_ROTATION] = "rotation",   [LW_BT_CCA_A] = "cca_a",
    [LW_BT_CCA_B] = "cca_b",         [LW_BT_CCA_CORR] = "cca_corr",   [LW_BT_ANCHORS_A] = "anchors_a",
    [LW_BT_ANCHORS_B] = "anchors_b",
};

const char *lw_bridge__tensor_name(lw_bridge_tensor id) { return k_tensor_names[id]; }

#define NORMS                                                                                                  \
    {LW_BT_MEAN_A, 1, {LW_AX_A}}, {LW_BT_MEAN_B, 1, {LW_AX_B}}, {LW_BT_NORM_A, 1, {LW_AX_ONE}},                \
        {LW_BT_NORM_B, 1, { LW_AX_ONE }}
static const lw_bridge_tspec k_ridge[] = {NORMS, {LW_BT_W, 2, {LW_AX_A, LW_AX_B}}};
static const lw_bridge_tspec k_pca_ridge[] = {NORMS, {LW_BT_PCA_A, 2, {LW_AX_A, LW_AX_R}},
                                              {LW_BT_W, 2, {LW_AX_R, LW_AX_B}}};
static const lw_bridge_tspec k_pca2_ridge[] = {NORMS, {LW_BT_PCA_A, 2, {LW_AX_A, LW_AX_R}},
                                               {LW_BT_W, 2, {LW_AX_R, LW_AX_R}},
                                               {LW_BT_PCA_B, 2, {LW_AX_B, LW_AX_R}}};
static const lw_bridge_tspec k_procrustes[] = {NORMS, {LW_BT_PCA_A, 2, {LW_AX_A, LW_AX_R}},
                                               {LW_BT_PCA_B, 2, {LW_AX_B, LW_AX_R}},
                                               {LW_BT_ROTATION, 2, {LW_AX_R, LW_AX_R}}};
static const lw_bridge_tspec k_cca[] = {NORMS, {LW_BT_CCA_A, 2, {LW_AX_A, LW_AX_R}},
                                        {LW_BT_CCA_B, 2, {LW_AX_B, LW_AX_R}},
                                        {LW_BT_CCA_CORR, 1, {LW_AX_R}}};
static const lw_bridge_tspec k_relrep[] = {NORMS, {LW_BT_ANCHORS_A, 2, {LW_AX_R, LW_AX_A}},
                                           {LW_BT_ANCHORS_B, 2, {LW_AX_R, LW_AX_B}}};

const lw_bridge_tspec *lw_bridge__specs(lw_bridge_recipe r, int *count) {
#define RET(a) return (*count = (int)(sizeof a / sizeof a[0]), a)
    switch (r) {
    case LW_BRIDGE_RIDGE: RET(k_ridge);
    case LW_BRIDGE_PCA_RIDGE: RET(k_pca_ridge);
    case LW_BRIDGE_PCA2_RIDGE: RET(k_pca2_ridge);
    case LW_BRIDGE_PROCRUSTES: RET(k_procrustes);
    case LW_BRIDGE_CCA: RET(k_cca);
    case LW_BRIDGE_RELREP: RET(k_relrep);
    }
#undef RET
    *count = 0;
    return NULL;
}

bool lw_bridge__has_rank(lw_bridge_recipe r) { return r != LW_BRIDGE_RIDGE; }

int lw_bridge__out_dim(lw_bridge_recipe r, int dA, int dB, int rank) {
    switch (r) {
    case LW_BRIDGE_RIDGE:
    case LW_BRIDGE_PCA_RIDGE:
    case LW_BRIDGE_PCA2_RIDGE: return dB;          /* B's (normalized) space */
    case LW_BRIDGE_PROCRUSTES:                      /* B's PCA coordinates */
    case LW_BRIDGE_CCA:                             /* canonical variates */
    case LW_BRIDGE_RELREP: return rank;             /* cosines to the anchors */
    }
    return 0;
}

int64_t lw_bridge__axis(const lw_bridge *b, lw_bridge_axis ax) {
    switch (ax) {
    case LW_AX_A: return b->dA;
    case LW_AX_B: return b->dB;
    case LW_AX_R: return b->rank;
    case LW_AX_ONE: return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ object ---- */

lw_bridge *lw_bridge__new(lw_bridge_recipe r, int dA, int dB, int rank, bool center, bool scale) {
    lw_bridge *b = calloc(1, sizeof *b);
    if (!b) {
        lw_fail("bridge: out of memory");
        return NULL;
    }
    b->recipe = r;
    b->dA = dA;
    b->dB = dB;
    b->rank = lw_bridge__has_rank(r) ? rank : 0;
    b->out = lw_bridge__out_dim(r, dA, dB, b->rank);
    b->center = center;
    b->scale = scale;
    int n;
    const lw_bridge_tspec *sp = lw_bridge__specs(r, &n);
    for (int i = 0; i < n; i++) {
        size_t cnt = 1;
        for (int k = 0; k < sp[i].n_dims; k++) cnt *= (size_t)lw_bridge__axis(b, sp[i].ax[k]);
        if (!(b->t[sp[i].id] = lw_la_salloc(cnt))) {
            lw_bridge_free(b);
            return NULL;
        }
    }
    b->t[LW_BT_NORM_A][0] = 1.0f;
    b->t[LW_BT_NORM_B][0] = 1.0f;
    return b;
}

/* Euclidean norm of each row of M (rows x d), in double. */
static float *row_norms(const float *M, int rows, int d) {
    float *out = lw_la_salloc((size_t)rows);
    for (int i = 0; out && i < rows; i++) {
        double s = 0.0;
        for (int j = 0; j < d; j++) s += (double)M[(size_t)i * d + j] * M[(size_t)i * d + j];
        out[i] = (float)sqrt(s);
    }
    return out;
}

int lw_bridge__finish(lw_bridge *b) {
    if (b->recipe == LW_BRIDGE_RELREP && !b->anorm_a) {
        b->anorm_a = row_norms(b->t[LW_BT_ANCHORS_A], b->rank, b->dA);
        b->anorm_b = row_norms(b->t[LW_BT_ANCHORS_B], b->rank, b->dB);
        if (!b->anorm_a || !b->anorm_b) return -1;
    }
    if (!b->rec) return 0;
    char *s = json_dumps(b->rec, LW_BRIDGE_JSON_FLAGS);
    if (!s) return lw_fail("bridge: cannot serialize the fit record");
    free(b->info);
    b->info = s;
    return 0;
}

void lw_bridge_free(lw_bridge *b) {
    if (!b) return;
    for (int i = 0; i < LW_BT_COUNT; i++) free(b->t[i]);
    free(b->anorm_a);
    free(b->anorm_b);
    json_decref(b->rec);
    free(b->info);
    free(b);
}

static int no_bridge(const char *fn) { return lw_fail("%s: the bridge is NULL", fn); }
int lw_bridge_source_dim(const lw_bridge *b) { return b ? b->dA : no_bridge(__func__); }
int lw_bridge_target_dim(const lw_bridge *b) { return b ? b->dB : no_bridge(__func__); }
int lw_bridge_out_dim(const lw_bridge *b) { return b ? b->out : no_bridge(__func__); }
lw_bridge_recipe lw_bridge_get_recipe(const lw_bridge *b) { return b ? b->recipe : (lw_bridge_recipe)no_bridge(__func__); }
const char *lw_bridge_info_json(const lw_bridge *b) {
    if (!b) return lw_fail("lw_bridge_info_json: the bridge is NULL"), NULL;
    return b->info ? b->info : "{}";
}

int lw_bridge_check_fit(const lw_bridge *b, const char *side, const char *tensor, const char *model_sha256,
                        const char *pool) {
    if (!b) return lw_fail("lw_bridge_check_fit: the bridge is NULL");
    /* the record's keys are "source_..." and "target_...": another side would find none and pass */
    if (!side || (strcmp(side, "source") && strcmp(side, "target")))
        return lw_fail("lw_bridge_check_fit: side \"%s\" is neither \"source\" nor \"target\"", side ? side : "(NULL)");
    json_t *all = json_loads(lw_bridge_info_json(b), 0, NULL), *rec = json_object_get(all, "meta");
    char key[64];
    snprintf(key, sizeof key, "%s_tensor", side);
    const char *had = json_string_value(json_object_get(rec, key));
    int rc = 0;
    if (tensor && had && strcmp(had, tensor) != 0)
        rc = lw_fail("fitted on the %s's %s (its record's %s), not %s: fit a bridge on %s, or use %s", side, had, key,
                     tensor, tensor, had);
    snprintf(key, sizeof key, "%s_model_sha256", side);
    const char *sha = json_string_value(json_object_get(rec, key));
    if (rc == 0 && model_sha256 && sha && strcmp(sha, model_sha256) != 0)
        rc = lw_fail("fitted on another %s model (its record's %s is %.12s..., this model's %.12s...)", side, key, sha,
                     model_sha256);
    snprintf(key, sizeof key, "%s_pool", side);
    const char *had_pool = json_string_value(json_object_get(rec, key));
    if (rc == 0 && pool && had_pool && strcmp(had_pool, pool) != 0)
        rc = lw_fail("fitted on the %s's --pool %s rows (its record's %s), not --pool %s rows: extract with --pool %s, "
                     "or fit a bridge on these", side, had_pool, key, pool, had_pool);
    json_decref(all);
    return rc;
}

int lw_bridge__check_finite(const float *X, int64_t n, int d, const char *what) {
    for (int64_t i = 0; i < n; i++) {
        const float *row = X + (size_t)i * (size_t)d;
        for (int j = 0; j < d; j++)
            if (!isfinite(row[j]))
                return lw_fail("%s row %lld column %d: %s value", what, (long long)i, j,
                               isnan(row[j]) ? "NaN" : "infinite");
    }
    return 0;
}

/* ------------------------------------------------------------------- apply ---- */

/* Rows are mapped in blocks so the scratch memory stays bounded for any n. */
#define APPLY_BLOCK 256

/* One stage of a map: rows (width k) times op(M) -> width n; M stored k x n, or n x k
 * when trans. */
typedef struct {
    const float *M;
    int k, n;
    bool trans;
} stage;

/* A side's normalization x -> (x - mean) / norm; mean NULL: none (norm 1). */
typedef struct {
    const float *mean;
    float norm;
} affine;

static const affine k_identity = {NULL, 1.0f};

/* (x - mean) / norm for nb rows of width d, in float (what the stored map expects). */
static void normalize_rows(const float *X, int nb, int d, affine a, float *dst) {
    for (int i = 0; i < nb; i++)
        for (int j = 0; j < d; j++)
            dst[(size_t)i * d + j] = (X[(size_t)i * d + j] - (a.mean ? a.mean[j] : 0.0f)) / a.norm;
}

/* Normalizes and pushes the rows through the stages by sgemm, out = norm(X) S1 S2 ...,
 * then undoes the target side's normalization when `denorm` has a mean (ridge recipes
 * predict B's rows themselves: out * norm_b + mean_b). */
static int apply_stages(const float *X, int64_t n, int d, affine in, const stage *st, int ns, affine denorm,
                        float *out, int out_dim) {
    int width = d;
    for (int s = 0; s < ns; s++)
        if (st[s].n > width) width = st[s].n;
    float *buf[2] = {lw_la_salloc((size_t)APPLY_BLOCK * width), lw_la_salloc((size_t)APPLY_BLOCK * width)};
    if (!buf[0] || !buf[1]) {
        free(buf[0]);
        free(buf[1]);
        return -1;
    }
    for (int64_t i0 = 0; i0 < n; i0 += APPLY_BLOCK) {
        int nb = (int)(n - i0 < APPLY_BLOCK ? n - i0 : APPLY_BLOCK);
        float *o = out + (size_t)i0 * out_dim;
        float *cur = ns == 0 ? o : buf[0];
        normalize_rows(X + (size_t)i0 * d, nb, d, in, cur);
        for (int s = 0; s < ns; s++) {
            float *dst = s == ns - 1 ? o : buf[(s + 1) % 2];
            lw_la_sgemm(false, st[s].trans, nb, st[s].n, st[s].k, 1.0f, cur, st[s].M, 0.0f, dst);
            cur = dst;
        }
        for (int i = 0; denorm.mean && i < nb; i++)
            for (int j = 0; j < out_dim; j++)
                o[(size_t)i * out_dim + j] = o[(size_t)i * out_dim + j] * denorm.norm + denorm.mean[j];
    }
    free(buf[0]);
    free(buf[1]);
    return 0;
}

/* Relative representation: cosine of each normalized row to each anchor (k x d), by one
 * sgemm per block; a zero row or zero anchor has cosine 0 (no direction to compare). */
static int apply_relrep(const float *X, int64_t n, int d, affine in, const float *anchors, const float *anorm, int k,
                        float *out) {
    float *buf = lw_la_salloc((size_t)APPLY_BLOCK * d);
    if (!buf) return -1;
    for (int64_t i0 = 0; i0 < n; i0 += APPLY_BLOCK) {
        int nb = (int)(n - i0 < APPLY_BLOCK ? n - i0 : APPLY_BLOCK);
        float *o = out + (size_t)i0 * k;
        normalize_rows(X + (size_t)i0 * d, nb, d, in, buf);
        lw_la_sgemm(false, true, nb, k, d, 1.0f, buf, anchors, 0.0f, o);
        for (int i = 0; i < nb; i++) {
            double s = 0.0;
            for (int j = 0; j < d; j++) s += (double)buf[(size_t)i * d + j] * buf[(size_t)i * d + j];
            double xn = sqrt(s);
            for (int j = 0; j < k; j++) {
                double den = xn * (double)anorm[j];
                o[(size_t)i * k + j] = den > 0.0 ? (float)((double)o[(size_t)i * k + j] / den) : 0.0f;
            }
        }
    }
    free(buf);
    return 0;
}

static int apply_check(const lw_bridge *b, const float *X, int64_t n, const float *out, const char *fn) {
    if (!b) return lw_fail("%s: NULL bridge", fn);
    if (n < 0) return lw_fail("%s: negative row count %lld", fn, (long long)n);
    if (n > 0 && (!X || !out)) return lw_fail("%s: NULL %s", fn, X ? "output" : "input");
    return 0;
}

/* Comparison spaces: ridge recipes predict B's rows (B's own space, bias included; B rows
 * pass unchanged), Procrustes uses B's PCA coordinates, CCA the canonical variates,
 * relrep the cosines to the anchors; the last three work on normalized rows. */
int lw_bridge_apply_source(const lw_bridge *b, const float *X, int64_t n, float *out) {
    if (apply_check(b, X, n, out, "lw_bridge_apply_source") != 0) return -1;
    if (lw_bridge__check_finite(X, n, b->dA, "lw_bridge_apply_source: source") != 0) return -1;
    affine in = {b->t[LW_BT_MEAN_A], b->t[LW_BT_NORM_A][0]}, to_b = {b->t[LW_BT_MEAN_B], b->t[LW_BT_NORM_B][0]};
    float *const *t = b->t;
    int r = b->rank, dA = b->dA, dB = b->dB;
    switch (b->recipe) {
    case LW_BRIDGE_RIDGE: {
        stage s[] = {{t[LW_BT_W], dA, dB, false}};
        return apply_stages(X, n, dA, in, s, 1, to_b, out, b->out);
    }
    case LW_BRIDGE_PCA_RIDGE: {
        stage s[] = {{t[LW_BT_PCA_A], dA, r, false}, {t[LW_BT_W], r, dB, false}};
        return apply_stages(X, n, dA, in, s, 2, to_b, out, b->out);
    }
    case LW_BRIDGE_PCA2_RIDGE: {
        stage s[] = {{t[LW_BT_PCA_A], dA, r, false}, {t[LW_BT_W], r, r, false}, {t[LW_BT_PCA_B], r, dB, true}};
        return apply_stages(X, n, dA, in, s, 3, to_b, out, b->out);
    }
    case LW_BRIDGE_PROCRUSTES: {
        stage s[] = {{t[LW_BT_PCA_A], dA, r, false}, {t[LW_BT_ROTATION], r, r, false}};
        return apply_stages(X, n, dA, in, s, 2, k_identity, out, b->out);
    }
    case LW_BRIDGE_CCA: {
        stage s[] = {{t[LW_BT_CCA_A], dA, r, false}};
        return apply_stages(X, n, dA, in, s, 1, k_identity, out, b->out);
    }
    case LW_BRIDGE_RELREP: return apply_relrep(X, n, dA, in, t[LW_BT_ANCHORS_A], b->anorm_a, r, out);
    }
    return lw_fail("lw_bridge_apply_source: unknown recipe %d", (int)b->recipe);
}

float *lw_bridge_map_rows(const lw_bridge *b, bool source, const float *x, int64_t n, int d, int *dim) {
    if (!dim || (!x && n > 0)) return lw_fail("lw_bridge_map_rows: no %s", !dim ? "dim pointer" : "rows"), NULL;
    if (n < 0 || d < 1) return lw_fail("lw_bridge_map_rows: %lld rows of width %d", (long long)n, d), NULL;
    int want = b ? (source ? b->dA : b->dB) : d;
    if (d != want) /* the rows would be read at the bridge's width, past their end */
        return lw_fail("lw_bridge_map_rows: rows of width %d, but the bridge's %s side takes width %d", d,
                       source ? "source" : "target", want),
               NULL;
    int od = b ? lw_bridge_out_dim(b) : d;
    if ((uint64_t)n > SIZE_MAX / sizeof(float) / (uint64_t)(od > 0 ? od : 1))
        return lw_fail("lw_bridge_map_rows: %lld rows are too many", (long long)n), NULL;
    *dim = b ? lw_bridge_out_dim(b) : d;
    float *out = malloc(sizeof(float) * (size_t)(n ? n : 1) * (size_t)*dim);
    if (!out) return lw_fail("bridge: out of memory"), NULL;
    int rc = !b ? (memcpy(out, x, sizeof(float) * (size_t)n * d), 0)
                : source ? lw_bridge_apply_source(b, x, n, out) : lw_bridge_apply_target(b, x, n, out);
    if (rc != 0) {
        free(out);
        return NULL;
    }
    return out;
}

int lw_bridge_apply_target(const lw_bridge *b, const float *Y, int64_t n, float *out) {
    if (apply_check(b, Y, n, out, "lw_bridge_apply_target") != 0) return -1;
    if (lw_bridge__check_finite(Y, n, b->dB, "lw_bridge_apply_target: target") != 0) return -1;
    affine in = {b->t[LW_BT_MEAN_B], b->t[LW_BT_NORM_B][0]};
    float *const *t = b->t;
    int r = b->rank, dB = b->dB;
    switch (b->recipe) {
    case LW_BRIDGE_RIDGE:
    case LW_BRIDGE_PCA_RIDGE:
    case LW_BRIDGE_PCA2_RIDGE: return apply_stages(Y, n, dB, k_identity, NULL, 0, k_identity, out, b->out);
    case LW_BRIDGE_PROCRUSTES: {
        stage s[] = {{t[LW_BT_PCA_B], dB, r, false}};
        return apply_stages(Y, n, dB, in, s, 1, k_identity, out, b->out);
    }
    case LW_BRIDGE_CCA: {
        stage s[] = {{t[LW_BT_CCA_B], dB, r, false}};
        return apply_stages(Y, n, dB, in, s, 1, k_identity, out, b->out);
    }
    case LW_BRIDGE_RELREP: return apply_relrep(Y, n, dB, in, t[LW_BT_ANCHORS_B], b->anorm_b, r, out);
    }
    return lw_fail("lw_bridge_apply_target: unknown recipe %d", (int)b->recipe);
}

/* ---------------------------------------------------------------- metadata ---- */

int lw_bridge_set_meta(lw_bridge *b, const char *key, const char *json_value) {
    if (!b || !key || !*key) return lw_fail("lw_bridge_set_meta: %s", !b ? "NULL bridge" : "empty or NULL key");
    if (!json_value) return lw_fail("lw_bridge_set_meta: key \"%s\": NULL value", key);
    json_error_t err;
    json_t *v = json_loads(json_value, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    if (!v) return lw_fail("lw_bridge_set_meta: key \"%s\": value is not valid JSON: %s", key, lw_json_error_text(&err));
    json_t *meta = json_object_get(b->rec, "meta");
    if (!json_is_object(meta)) {
        meta = json_object();
        if (!meta || json_object_set_new(b->rec, "meta", meta) != 0) {
            json_decref(v);
            return lw_fail("lw_bridge_set_meta: out of memory");
        }
    }
    if (json_object_set_new(meta, key, v) != 0) return lw_fail("lw_bridge_set_meta: key \"%s\": cannot store", key);
    return lw_bridge__finish(b);
}
