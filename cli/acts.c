#include "acts.h"

#include <stdlib.h>
#include <string.h>

#include "latentwire/error.h"

/* An I32 [rows] tensor (the --pool none keys), or NULL when absent or of another shape. */
static const int32_t *i32_rows(const lw_st_file *f, const char *name, int64_t rows) {
    const lw_st_tensor *t = lw_st_find(f, name);
    return t && t->dtype == LW_DT_I32 && t->n_dims == 1 && t->shape[0] == rows ? t->data : NULL;
}

int act_open(const char *path, const char *tensor, act_tensor *out) {
    memset(out, 0, sizeof *out);
    out->f = lw_st_open(path);
    if (!out->f) return -1;
    const lw_st_tensor *t = lw_st_find(out->f, tensor), *ids = lw_st_find(out->f, "row_id");
    int rc = 0;
    if (!t) rc = lw_fail("%s: no tensor \"%s\"", path, tensor);
    else if (t->dtype != LW_DT_F32 || t->n_dims != 2)
        rc = lw_fail("%s: tensor \"%s\" must be F32 [rows, width]", path, tensor);
    else if (!ids || ids->dtype != LW_DT_I64 || ids->n_dims != 1 || ids->shape[0] != t->shape[0])
        rc = lw_fail("%s: tensor \"row_id\" must be I64 [%lld]", path, (long long)t->shape[0]);
    if (rc != 0) {
        act_close(out);
        return -1;
    }
    out->path = path;
    out->x = t->data;
    out->row_id = ids->data;
    out->position = i32_rows(out->f, "position", t->shape[0]);
    out->token = i32_rows(out->f, "token", t->shape[0]);
    out->n = t->shape[0];
    out->d = (int)t->shape[1];
    out->meta = lw_st_meta(out->f, "latentwire");
    return 0;
}

void act_close(act_tensor *t) {
    if (t->f) lw_st_close(t->f);
    memset(t, 0, sizeof *t);
}

static lw_row_keys keys_of(const act_tensor *t) {
    return (lw_row_keys){.label = t->path, .row_id = t->row_id, .position = t->position, .token = t->token, .n = t->n};
}

int64_t act_join_mode(const act_tensor *a, const act_tensor *b, lw_join_mode mode, int64_t **ia, int64_t **ib) {
    lw_row_keys ka = keys_of(a), kb = keys_of(b);
    return lw_join_rows(&ka, &kb, mode, ia, ib);
}

int64_t act_join(const act_tensor *a, const act_tensor *b, int64_t **ia, int64_t **ib) {
    return act_join_mode(a, b, LW_JOIN_ROW_ID, ia, ib);
}

float *act_gather(const act_tensor *t, const int64_t *idx, int64_t n) {
    float *out = malloc(sizeof(float) * (size_t)(n ? n : 1) * (size_t)t->d);
    if (!out) return NULL;
    for (int64_t i = 0; i < n; i++) memcpy(out + i * t->d, t->x + idx[i] * t->d, sizeof(float) * (size_t)t->d);
    return out;
}
