#include "acts.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

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
    out->x = t->data;
    out->row_id = ids->data;
    out->n = t->shape[0];
    out->d = (int)t->shape[1];
    out->meta = lw_st_meta(out->f, "latentwire");
    return 0;
}

void act_close(act_tensor *t) {
    if (t->f) lw_st_close(t->f);
    memset(t, 0, sizeof *t);
}

static int cmp_pair(const void *a, const void *b) {
    const int64_t *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

int64_t act_join(const act_tensor *a, const act_tensor *b, int64_t **ia, int64_t **ib) {
    /* sort b's (row id, index) pairs once, then binary-search each of a's ids */
    int64_t *bs = malloc(sizeof(int64_t) * 2 * (size_t)(b->n ? b->n : 1));
    *ia = malloc(sizeof(int64_t) * (size_t)(a->n ? a->n : 1));
    *ib = malloc(sizeof(int64_t) * (size_t)(a->n ? a->n : 1));
    if (!bs || !*ia || !*ib) return lw_fail("out of memory");
    for (int64_t i = 0; i < b->n; i++) bs[2 * i] = b->row_id[i], bs[2 * i + 1] = i;
    qsort(bs, (size_t)b->n, 2 * sizeof(int64_t), cmp_pair);
    int64_t n = 0;
    for (int64_t i = 0; i < a->n; i++) {
        int64_t key[2] = {a->row_id[i], 0};
        const int64_t *hit = bsearch(key, bs, (size_t)b->n, 2 * sizeof(int64_t), cmp_pair);
        if (!hit) continue;
        (*ia)[n] = i;
        (*ib)[n] = hit[1];
        n++;
    }
    free(bs);
    return n;
}

float *act_gather(const act_tensor *t, const int64_t *idx, int64_t n) {
    float *out = malloc(sizeof(float) * (size_t)(n ? n : 1) * (size_t)t->d);
    if (!out) return NULL;
    for (int64_t i = 0; i < n; i++) memcpy(out + i * t->d, t->x + idx[i] * t->d, sizeof(float) * (size_t)t->d);
    return out;
}
