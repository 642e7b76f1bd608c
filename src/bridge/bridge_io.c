/* Bridge files: safetensors with the recipe's F32 tensors and metadata "latentwire" (the
 * JSON fit record) plus "format". Loading trusts nothing: every field the maps depend on
 * is checked against the record and the tensors before anything is allocated from it,
 * and every value must be finite, so a truncated or corrupted file is refused with one
 * line naming the file and field. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge_internal.h"
#include "common/error.h"
#include "common/jsonio.h"
#include "latentwire/safetensors.h"

/* Widest dimension a record may claim (the tensors then bound the memory anyway). */
#define MAX_DIM (1 << 30)

int lw_bridge_save(const lw_bridge *b, const char *path) {
    if (!b || !path) return lw_fail("lw_bridge_save: NULL %s", !b ? "bridge" : "path");
    if (!b->info) return lw_fail("%s: bridge has no fit record", path);
    int n;
    const lw_bridge_tspec *sp = lw_bridge__specs(b->recipe, &n);
    lw_st_tensor_in t[LW_BT_COUNT];
    memset(t, 0, sizeof t);
    for (int i = 0; i < n; i++) {
        t[i].name = lw_bridge__tensor_name(sp[i].id);
        t[i].dtype = LW_DT_F32;
        t[i].n_dims = sp[i].n_dims;
        for (int k = 0; k < sp[i].n_dims; k++) t[i].shape[k] = lw_bridge__axis(b, sp[i].ax[k]);
        t[i].data = b->t[sp[i].id];
    }
    const char *meta[] = {"format", LW_BRIDGE_FORMAT, LW_BRIDGE_META_KEY, b->info};
    return lw_st_save(path, t, n, meta, 2);
}

/* ------------------------------------------------------------------- load ---- */

static int get_int(const char *path, json_t *rec, const char *key, long long lo, long long hi, long long *out) {
    json_t *v = json_object_get(rec, key);
    if (!v) return lw_fail("%s: bridge record: field \"%s\" missing", path, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return lw_fail("%s: bridge record: field \"%s\": expected an integer in [%lld, %lld]", path, key, lo, hi);
    *out = (long long)json_integer_value(v);
    return 0;
}

static int get_bool(const char *path, json_t *rec, const char *key, bool *out) {
    json_t *v = json_object_get(rec, key);
    if (!json_is_boolean(v))
        return lw_fail("%s: bridge record: field \"%s\" %s", path, key, v ? "is not true/false" : "missing");
    *out = json_is_true(v);
    return 0;
}

/* Informational sub-records are optional, but when present they must be objects. */
static int check_object(const char *path, json_t *rec, const char *key) {
    json_t *v = json_object_get(rec, key);
    if (v && !json_is_object(v)) return lw_fail("%s: bridge record: field \"%s\" is not an object", path, key);
    return 0;
}

static void shape_text(char *buf, size_t cap, int n_dims, const int64_t *shape) {
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n_dims && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* The record's scalar fields: everything the tensor shapes are checked against. */
typedef struct {
    lw_bridge_recipe recipe;
    int dA, dB, out, rank;
    long long n_cal;
    bool center, scale;
} header;

static int parse_record(const char *path, json_t *rec, header *h) {
    json_t *fmt = json_object_get(rec, "format");
    if (!json_is_string(fmt) || strcmp(json_string_value(fmt), LW_BRIDGE_FORMAT) != 0)
        return lw_fail("%s: bridge record: field \"format\" is %s%s%s, expected \"" LW_BRIDGE_FORMAT "\"", path,
                       json_is_string(fmt) ? "\"" : "", json_is_string(fmt) ? json_string_value(fmt) : "missing",
                       json_is_string(fmt) ? "\"" : "");
    json_t *jr = json_object_get(rec, "recipe");
    int r = json_is_string(jr) ? lw_bridge_recipe_from_name(json_string_value(jr)) : -1;
    if (r < 0)
        return lw_fail("%s: bridge record: field \"recipe\": %s%s%s", path,
                       json_is_string(jr) ? "unknown recipe \"" : "",
                       json_is_string(jr) ? json_string_value(jr) : "missing or not a string",
                       json_is_string(jr) ? "\"" : "");
    h->recipe = (lw_bridge_recipe)r;
    long long v = 0;
    if (get_int(path, rec, "source_dim", 1, MAX_DIM, &v) != 0) return -1;
    h->dA = (int)v;
    if (get_int(path, rec, "target_dim", 1, MAX_DIM, &v) != 0) return -1;
    h->dB = (int)v;
    if (get_int(path, rec, "n_calibration", 2, LLONG_MAX, &h->n_cal) != 0) return -1;
    if (get_bool(path, rec, "center", &h->center) != 0 || get_bool(path, rec, "scale", &h->scale) != 0) return -1;
    h->rank = 0;
    if (lw_bridge__has_rank(h->recipe)) {
        const char *key = h->recipe == LW_BRIDGE_RELREP ? "n_anchors" : "rank";
        /* Components and anchors are limited by the calibration rows and the widths. */
        long long hi = h->n_cal < MAX_DIM ? h->n_cal : MAX_DIM;
        if (h->recipe != LW_BRIDGE_RELREP && h->dA < hi) hi = h->dA;
        if (h->recipe != LW_BRIDGE_RELREP && h->recipe != LW_BRIDGE_PCA_RIDGE && h->dB < hi) hi = h->dB;
        if (get_int(path, rec, key, 1, hi, &v) != 0) return -1;
        h->rank = (int)v;
    }
    long long want = lw_bridge__out_dim(h->recipe, h->dA, h->dB, h->rank);
    if (get_int(path, rec, "out_dim", want, want, &v) != 0) return -1;
    h->out = (int)v;
    if (check_object(path, rec, "params") != 0 || check_object(path, rec, "alpha") != 0 ||
        check_object(path, rec, "stats") != 0 || check_object(path, rec, "meta") != 0)
        return -1;
    return 0;
}

/* Every tensor of the file is one the recipe expects, and each expected one is present
 * as F32 with exactly the shape the record implies. */
static int check_tensors(const char *path, const lw_st_file *f, const lw_bridge *shape_of, const header *h) {
    int n;
    const lw_bridge_tspec *sp = lw_bridge__specs(h->recipe, &n);
    const char *rname = lw_bridge_recipe_name(h->recipe);
    for (int i = 0; i < lw_st_count(f); i++) {
        const char *name = lw_st_get(f, i)->name;
        bool known = false;
        for (int k = 0; k < n && !known; k++) known = strcmp(name, lw_bridge__tensor_name(sp[k].id)) == 0;
        if (!known) return lw_fail("%s: tensor \"%s\": not part of a %s bridge", path, name, rname);
    }
    for (int k = 0; k < n; k++) {
        const char *name = lw_bridge__tensor_name(sp[k].id);
        const lw_st_tensor *t = lw_st_find(f, name);
        if (!t) return lw_fail("%s: tensor \"%s\" missing (recipe %s)", path, name, rname);
        if (t->dtype != LW_DT_F32)
            return lw_fail("%s: tensor \"%s\": dtype %s, expected F32", path, name, lw_dtype_name(t->dtype));
        int64_t want[2] = {0, 0};
        for (int a = 0; a < sp[k].n_dims; a++) want[a] = lw_bridge__axis(shape_of, sp[k].ax[a]);
        bool ok = t->n_dims == sp[k].n_dims;
        for (int a = 0; ok && a < sp[k].n_dims; a++) ok = t->shape[a] == want[a];
        if (!ok) {
            char got[160], exp[64];
            shape_text(got, sizeof got, t->n_dims, t->shape);
            shape_text(exp, sizeof exp, sp[k].n_dims, want);
            return lw_fail("%s: tensor \"%s\": shape %s does not match %s (recipe %s, source_dim %d, target_dim %d%s)",
                           path, name, got, exp, rname, h->dA, h->dB,
                           h->rank ? (h->recipe == LW_BRIDGE_RELREP ? ", n_anchors" : ", rank") : "");
        }
    }
    return 0;
}

/* Copies the tensors (the mapping may be unaligned) and checks their values. */
static int read_values(const char *path, const lw_st_file *f, lw_bridge *b) {
    int n;
    const lw_bridge_tspec *sp = lw_bridge__specs(b->recipe, &n);
    for (int k = 0; k < n; k++) {
        const char *name = lw_bridge__tensor_name(sp[k].id);
        const lw_st_tensor *t = lw_st_find(f, name);
        float *dst = b->t[sp[k].id];
        memcpy(dst, t->data, t->n_bytes);
        size_t cnt = t->n_bytes / sizeof(float);
        for (size_t i = 0; i < cnt; i++)
            if (!isfinite(dst[i])) return lw_fail("%s: tensor \"%s\": non-finite value at index %zu", path, name, i);
    }
    for (int side = 0; side < 2; side++) {
        const char *nn = side ? "norm_b" : "norm_a", *mn = side ? "mean_b" : "mean_a";
        float norm = b->t[side ? LW_BT_NORM_B : LW_BT_NORM_A][0];
        const float *mean = b->t[side ? LW_BT_MEAN_B : LW_BT_MEAN_A];
        int d = side ? b->dB : b->dA;
        if (!(norm > 0.0f)) return lw_fail("%s: tensor \"%s\": %g is not positive", path, nn, (double)norm);
        if (!b->scale && norm != 1.0f)
            return lw_fail("%s: tensor \"%s\": %g but the record says scale = false (expected 1)", path, nn,
                           (double)norm);
        for (int j = 0; !b->center && j < d; j++)
            if (mean[j] != 0.0f)
                return lw_fail("%s: tensor \"%s\": nonzero entry %d but the record says center = false", path, mn, j);
    }
    if (b->recipe == LW_BRIDGE_CCA)
        for (int j = 0; j < b->rank; j++) {
            float c = b->t[LW_BT_CCA_CORR][j];
            if (c < 0.0f || c > 1.0001f)
                return lw_fail("%s: tensor \"cca_corr\": entry %d = %g is not a correlation in [0, 1]", path, j,
                               (double)c);
        }
    return 0;
}

lw_bridge *lw_bridge_load(const char *path) {
    if (!path) {
        lw_fail("lw_bridge_load: NULL path");
        return NULL;
    }
    lw_st_file *f = lw_st_open(path);
    if (!f) return NULL;
    json_t *rec = NULL;
    lw_bridge *b = NULL;
    header h;
    memset(&h, 0, sizeof h);
    const char *doc = lw_st_meta(f, LW_BRIDGE_META_KEY);
    json_error_t err;
    if (!doc) {
        lw_fail("%s: metadata \"" LW_BRIDGE_META_KEY "\" missing (not a bridge file)", path);
        goto fail;
    }
    rec = json_loads(doc, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(rec)) {
        lw_fail("%s: metadata \"" LW_BRIDGE_META_KEY "\": %s%s", path, rec ? "not a JSON object" : "invalid JSON: ",
                rec ? "" : lw_json_error_text(&err));
        goto fail;
    }
    if (parse_record(path, rec, &h) != 0) goto fail;
    /* Shapes first (a bridge shell with no tensors yet carries the dims), then allocate. */
    lw_bridge shell;
    memset(&shell, 0, sizeof shell);
    shell.dA = h.dA;
    shell.dB = h.dB;
    shell.rank = h.rank;
    if (check_tensors(path, f, &shell, &h) != 0) goto fail;
    if (!(b = lw_bridge__new(h.recipe, h.dA, h.dB, h.rank, h.center, h.scale))) goto fail;
    if (read_values(path, f, b) != 0) goto fail;
    b->rec = rec;
    rec = NULL;
    if (lw_bridge__finish(b) != 0) goto fail;
    lw_st_close(f);
    return b;
fail:
    json_decref(rec);
    lw_bridge_free(b);
    lw_st_close(f);
    return NULL;
}
