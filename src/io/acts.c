#include "latentwire/acts.h"

#include <jansson.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "latentwire/error.h"
#include "latentwire/extract.h"

/* An I32 [rows] tensor (the --pool none keys), or NULL when absent or of another shape. */
static const int32_t *i32_rows(const lw_st_file *f, const char *name, int64_t rows) {
    const lw_st_tensor *t = lw_st_find(f, name);
    return t && t->dtype == LW_DT_I32 && t->n_dims == 1 && t->shape[0] == rows ? t->data : NULL;
}

/* The shard count K of the set PATH-00001-of-K.safetensors when exactly one such set exists;
 * 0 when none; -1 (message set) when several. The directory is listed and names compared
 * exactly: a path may hold characters a glob pattern would read as patterns ([, *, ?). */
int lw_acts_shard_count(const char *path) {
    if (!path) return lw_fail("lw_acts_shard_count: the path is NULL");
    size_t len = strlen(path), sl = strlen(".safetensors");
    if (len <= sl || strcmp(path + len - sl, ".safetensors")) return 0;
    const char *slash = strrchr(path, '/');
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    if (slash == path) snprintf(dir, sizeof dir, "/");
    const char *base = slash ? slash + 1 : path;
    size_t stem = strlen(base) - sl;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int k = 0, sets = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int kk, end = 0;
        if (strncmp(e->d_name, base, stem) || sscanf(e->d_name + stem, "-00001-of-%d.safetensors%n", &kk, &end) != 1 ||
            e->d_name[stem + (size_t)end] != '\0' || kk < 1)
            continue;
        if (sets++ && kk != k) {
            closedir(d);
            return lw_fail("%s: no such file, and more than one shard set of it (-of-%05d and -of-%05d): give "
                           "one shard's path or remove the stale set", path, k, kk);
        }
        k = kk;
    }
    closedir(d);
    return k;
}

static int open_one(const char *path, const char *tensor, lw_act_tensor *out);

/* A shard set's rows joined into owned arrays. */
static int open_shards(const char *path, const char *tensor, int k, lw_act_tensor *out) {
    memset(out, 0, sizeof *out);
    out->shards = calloc((size_t)k, sizeof *out->shards);
    lw_act_tensor *part = calloc((size_t)k, sizeof *part);
    char (*names)[4096] = malloc(sizeof *names * (size_t)k);
    int rc = out->shards && part && names ? 0 : lw_fail("%s: out of memory", path);
    int64_t n = 0;
    bool keys = true;
    for (int s = 0; rc == 0 && s < k; s++) {
        lw_extract_shard_path(path, s, k, names[s], sizeof names[s]);
        if (open_one(names[s], tensor, &part[s]) != 0) rc = lw_fail_prefix("shard %d of %d of %s: ", s + 1, k, path);
        else if (s > 0 && part[s].d != part[0].d)
            rc = lw_fail("%s: tensor \"%s\" has width %d, shard 1 has %d", names[s], tensor, part[s].d, part[0].d);
        if (rc == 0) n += part[s].n, keys = keys && part[s].position && part[s].token;
    }
    int d = rc == 0 ? part[0].d : 0;
    float *x = rc == 0 ? malloc(sizeof *x * (size_t)(n ? n : 1) * (size_t)d) : NULL;
    int64_t *ids = rc == 0 ? malloc(sizeof *ids * (size_t)(n ? n : 1)) : NULL;
    int32_t *pos = rc == 0 && keys ? malloc(sizeof *pos * (size_t)(n ? n : 1)) : NULL,
            *tok = rc == 0 && keys ? malloc(sizeof *tok * (size_t)(n ? n : 1)) : NULL;
    if (rc == 0 && (!x || !ids || (keys && (!pos || !tok)))) rc = lw_fail("%s: out of memory joining %d shards", path, k);
    for (int s = 0, at = 0; rc == 0 && s < k; at += (int)part[s].n, s++) {
        memcpy(x + (size_t)at * d, part[s].x, sizeof *x * (size_t)part[s].n * (size_t)d);
        memcpy(ids + at, part[s].row_id, sizeof *ids * (size_t)part[s].n);
        if (keys) memcpy(pos + at, part[s].position, sizeof *pos * (size_t)part[s].n),
                  memcpy(tok + at, part[s].token, sizeof *tok * (size_t)part[s].n);
    }
    for (int s = 0; part && out->shards && s < k; s++) { /* keep the files open for the first shard's metadata */
        out->shards[s] = part[s].f;
        part[s].f = NULL;
    }
    out->n_shards = k;
    out->own_x = x, out->own_row_id = ids, out->own_position = pos, out->own_token = tok;
    if (rc == 0) {
        out->path = path;
        out->x = x, out->row_id = ids, out->position = pos, out->token = tok;
        out->n = n, out->d = d;
        out->meta = lw_st_meta(out->shards[0], "latentwire");
    }
    free(part), free(names);
    if (rc != 0) lw_act_close(out);
    return rc;
}

int lw_act_open(const char *path, const char *tensor, lw_act_tensor *out) {
    if (!out) return lw_fail("lw_act_open: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path || !*path || !tensor) return lw_fail("lw_act_open: no %s", !tensor ? "tensor name" : "path");
    if (access(path, F_OK) != 0) {
        int k = lw_acts_shard_count(path);
        if (k < 0) return -1;
        if (k > 0) return open_shards(path, tensor, k, out);
    }
    return open_one(path, tensor, out);
}

static int open_one(const char *path, const char *tensor, lw_act_tensor *out) {
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
        lw_act_close(out);
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

void lw_act_close(lw_act_tensor *t) {
    if (!t) return;
    if (t->f) lw_st_close(t->f);
    for (int s = 0; t->shards && s < t->n_shards; s++)
        if (t->shards[s]) lw_st_close(t->shards[s]);
    free(t->shards);
    free(t->own_x), free(t->own_row_id), free(t->own_position), free(t->own_token);
    memset(t, 0, sizeof *t);
}

static lw_row_keys keys_of(const lw_act_tensor *t) {
    return (lw_row_keys){.label = t->path, .row_id = t->row_id, .position = t->position, .token = t->token, .n = t->n};
}

int64_t lw_act_join_mode(const lw_act_tensor *a, const lw_act_tensor *b, lw_join_mode mode, int64_t **ia, int64_t **ib) {
    if (!a || !b) {
        if (ia) *ia = NULL;
        if (ib) *ib = NULL;
        return lw_fail("lw_act_join: tensor %s is NULL", !a ? "a" : "b");
    }
    lw_row_keys ka = keys_of(a), kb = keys_of(b);
    return lw_join_rows(&ka, &kb, mode, ia, ib);
}

int64_t lw_act_join(const lw_act_tensor *a, const lw_act_tensor *b, int64_t **ia, int64_t **ib) {
    return lw_act_join_mode(a, b, LW_JOIN_ROW_ID, ia, ib);
}

float *lw_act_gather(const lw_act_tensor *t, const int64_t *idx, int64_t n) {
    if (!t || (n > 0 && !idx)) {
        lw_fail("lw_act_gather: no %s", !t ? "tensor" : "row indices");
        return NULL;
    }
    if (n < 0 || (t->d > 0 && (uint64_t)n > SIZE_MAX / sizeof(float) / (uint64_t)t->d)) {
        lw_fail("lw_act_gather: %lld rows cannot be gathered", (long long)n);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= t->n) {
            lw_fail("lw_act_gather: row index %lld (entry %lld) is outside the tensor's %lld rows", (long long)idx[i],
                    (long long)i, (long long)t->n);
            return NULL;
        }
    float *out = malloc(sizeof(float) * (size_t)(n ? n : 1) * (size_t)t->d);
    if (!out) {
        lw_fail("lw_act_gather: out of memory for %lld rows", (long long)n);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) memcpy(out + i * t->d, t->x + idx[i] * t->d, sizeof(float) * (size_t)t->d);
    return out;
}

const char *lw_act_model_sha256(const lw_act_tensor *t, char out[65]) {
    if (!t || !out) return lw_fail("lw_act_model_sha256: %s is NULL", t ? "out" : "the tensor"), NULL;
    json_t *m = t->meta ? json_loads(t->meta, 0, NULL) : NULL;
    const char *sha = json_string_value(json_object_get(m, "model_sha256"));
    if (sha && strlen(sha) != 64) sha = NULL; /* not a sha256: cut to 64 characters it would pass for one */
    if (sha) snprintf(out, 65, "%s", sha);
    json_decref(m);
    return sha ? out : NULL;
}

const char *lw_act_pool(const lw_act_tensor *t, char out[32]) {
    if (!t || !out) return lw_fail("lw_act_pool: %s is NULL", t ? "out" : "the tensor"), NULL;
    json_t *m = t->meta ? json_loads(t->meta, 0, NULL) : NULL;
    const char *pool = json_string_value(json_object_get(m, "pool"));
    if (pool && strlen(pool) >= 32) pool = NULL; /* no pooling has so long a name; cut, it could match one */
    if (pool) snprintf(out, 32, "%s", pool);
    json_decref(m);
    return pool ? out : NULL;
}
