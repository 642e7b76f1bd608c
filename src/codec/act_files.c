/* Activation payload files: what `latentwire codec encode` writes and `codec decode` reads
 * (layout in latentwire/codec.h). A payload file names its codec by the sha256 of the codec's
 * record, which holds the kind, the shape, the budget, the side-information sizes and the fit
 * statistics: another codec (even one of the same kind and shape) is refused. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_internal.h"
#include "common/compare.h"
#include "common/fileio.h"

static int fingerprint(const lw_codec *c, char out[65]) {
    const char *rec = lw_codec_record_json(c);
    return lw_sha256_buf(rec, strlen(rec), out);
}

static void add_item(lw_codec_file_stats *st, size_t n) {
    int64_t bits = (int64_t)n * 8;
    st->items++;
    st->payload_bits_total += bits;
    if (bits > st->payload_bits_max) st->payload_bits_max = bits;
}

/* Each row_id once: a repeated one makes two decoded rows for one source row, which the verbs
 * joining on row_id refuse later. 1 with *dup set, 0 when all differ, -1 out of memory. */
static int repeated_row_id(const void *data, int64_t n, int64_t *dup) {
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
    if (!ids) return lw_fail("codec: out of memory");
    memcpy(ids, data, sizeof(int64_t) * (size_t)n);
    qsort(ids, (size_t)n, sizeof *ids, lw_cmp_i64);
    int found = 0;
    for (int64_t i = 1; !found && i < n; i++)
        if (ids[i] == ids[i - 1]) found = 1, *dup = ids[i];
    free(ids);
    return found;
}

/* A payload file's row ids, each once (encode writes them so). 0 or -1 naming path. */
static int check_row_ids_unique(const void *data, int64_t n, const char *path) {
    int64_t dup;
    int found = repeated_row_id(data, n, &dup);
    return found == 0 ? 0
           : found < 0 ? -1
                       : lw_fail("%s: row_id %lld appears twice: the file was edited; encode the activations again",
                                 path, (long long)dup);
}

static char *summary_json(const lw_codec *c, const lw_codec_file_stats *st) {
    json_t *j = json_pack("{s:s, s:i, s:i, s:I, s:I, s:I, s:f, s:I}", "kind", lw_codec_name(c->p.kind), "width", c->d,
                          "positions", c->T, "budget_bits", (json_int_t)c->p.budget_bits, "side_bits",
                          (json_int_t)c->side_bits, "items", (json_int_t)st->items, "payload_bits_mean",
                          st->items ? (double)st->payload_bits_total / (double)st->items : 0.0, "payload_bits_max",
                          (json_int_t)st->payload_bits_max);
    char *s = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

int lw_codec_encode_act_file(const lw_codec *c, const float *items, const int64_t *row_id, int64_t n_items,
                             const char *out, lw_codec_file_stats *st) {
    lw_codec_file_stats unused; /* the stats are optional */
    if (!st) st = &unused;
    memset(st, 0, sizeof *st);
    if (!c) return lw_fail("codec: the codec is NULL");
    if (!items || !row_id || !out) return lw_fail("codec %s: items, row_id and out are required", lw_codec_name(c->p.kind));
    st->side_bits = c->side_bits;
    if (n_items <= 0) return lw_fail("codec %s: no items to encode", lw_codec_name(c->p.kind));
    if ((uint64_t)n_items > (SIZE_MAX / sizeof(int64_t)) - 1) /* the offsets table would overflow */
        return lw_fail("codec %s: %lld items are more than memory can index", lw_codec_name(c->p.kind), (long long)n_items);
    int64_t dup;
    int found = repeated_row_id(row_id, n_items, &dup); /* else decode refuses the file it writes */
    if (found != 0)
        return found < 0 ? -1
                         : lw_fail("codec %s: row_id %lld is given to two items: a payload file holds one item per "
                                   "row id", lw_codec_name(c->p.kind), (long long)dup);
    int64_t *off = malloc(sizeof(int64_t) * (size_t)(n_items + 1));
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0;
    char fp[65], *summary = NULL;
    int rc = off ? 0 : lw_fail("codec: out of memory");
    size_t item_floats = (size_t)c->T * c->d;
    for (int64_t i = 0; rc == 0 && i < n_items; i++) {
        lw_payload p;
        if ((rc = lw_codec_encode_act(c, items + (size_t)i * item_floats, &p)) != 0) {
            lw_fail_prefix("item %lld (row_id %lld): ", (long long)i, (long long)row_id[i]);
            break;
        }
        if (len + p.n > cap) {
            size_t nc = cap ? cap * 2 : 4096;
            while (nc < len + p.n) nc *= 2;
            uint8_t *nb = realloc(buf, nc);
            if (!nb) {
                free(p.bytes);
                rc = lw_fail("codec: out of memory for %zu payload bytes", nc);
                break;
            }
            buf = nb, cap = nc;
        }
        off[i] = (int64_t)len;
        memcpy(buf + len, p.bytes, p.n);
        len += p.n;
        add_item(st, p.n);
        free(p.bytes);
    }
    if (rc == 0) {
        off[n_items] = (int64_t)len;
        rc = fingerprint(c, fp);
        summary = rc == 0 ? summary_json(c, st) : NULL;
        if (rc == 0 && !summary) rc = lw_fail("codec: cannot write the payload summary");
    }
    if (rc == 0) {
        lw_st_tensor_in t[3] = {
            {.name = "payload", .dtype = LW_DT_U8, .n_dims = 1, .shape = {(int64_t)len}, .data = buf},
            {.name = "offsets", .dtype = LW_DT_I64, .n_dims = 1, .shape = {n_items + 1}, .data = off},
            {.name = "row_id", .dtype = LW_DT_I64, .n_dims = 1, .shape = {n_items}, .data = row_id},
        };
        const char *meta[] = {"format", "latentwire.payloads/1", "codec", fp, "latentwire", summary};
        rc = lw_st_save(out, t, 3, meta, 3);
    }
    free(off), free(buf), free(summary);
    return rc;
}

int lw_codec_decode_act_file(const lw_codec *c, const char *path, float **items, int64_t **row_id, int64_t *n_items,
                             lw_codec_file_stats *st) {
    if (!items || !row_id || !n_items) return lw_fail("codec: decode needs items, row_id and n_items to write to");
    *items = NULL;
    *row_id = NULL;
    *n_items = 0;
    lw_codec_file_stats unused; /* the stats are optional */
    if (!st) st = &unused;
    memset(st, 0, sizeof *st);
    if (!c) return lw_fail("codec: the codec is NULL");
    if (!path) return lw_fail("codec %s: the payload path is NULL", lw_codec_name(c->p.kind));
    st->side_bits = c->side_bits;
    lw_st_file *f = lw_st_open(path);
    if (!f) return -1;
    char fp[65];
    const char *fmt = lw_st_meta(f, "format"), *who = lw_st_meta(f, "codec");
    const lw_st_tensor *pay = lw_st_find(f, "payload"), *off = lw_st_find(f, "offsets"), *ids = lw_st_find(f, "row_id");
    int rc = fingerprint(c, fp);
    int64_t n = ids && ids->n_dims == 1 ? ids->shape[0] : -1;
    if (rc != 0) {
    } else if (!fmt || strcmp(fmt, "latentwire.payloads/1") != 0) {
        rc = lw_fail("%s: not a payload file (metadata format is '%s', expected latentwire.payloads/1)", path,
                     fmt ? fmt : "missing");
    } else if (!who || strcmp(who, fp) != 0) {
        rc = lw_fail("%s: these payloads were written by another codec (codec %.12s..., this %s codec is %.12s...)", path,
                     who ? who : "missing", lw_codec_name(c->p.kind), fp);
    } else if (!pay || pay->dtype != LW_DT_U8 || pay->n_dims != 1 || !off || off->dtype != LW_DT_I64 ||
               off->n_dims != 1 || n < 1 || ids->dtype != LW_DT_I64 || off->shape[0] != n + 1) {
        rc = lw_fail("%s: tensors payload (U8 [bytes]), offsets (I64 [items + 1]) and row_id (I64 [items]) expected",
                     path);
    }
    const int64_t *o = rc == 0 ? off->data : NULL;
    for (int64_t i = 0; rc == 0 && i < n; i++)
        if (o[0] != 0 || o[i + 1] < o[i] || o[n] != pay->shape[0])
            rc = lw_fail("%s: offsets are not increasing from 0 to the payload's %lld bytes (item %lld)", path,
                         (long long)pay->shape[0], (long long)i);
    if (rc == 0) rc = check_row_ids_unique(ids->data, n, path);
    size_t item_floats = (size_t)c->T * c->d;
    if (rc == 0) {
        *items = malloc(sizeof(float) * item_floats * (size_t)n);
        *row_id = malloc(sizeof(int64_t) * (size_t)n);
        if (!*items || !*row_id) rc = lw_fail("codec: out of memory decoding %lld items", (long long)n);
    }
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        size_t len = (size_t)(o[i + 1] - o[i]);
        if (lw_codec_decode_act(c, (const uint8_t *)pay->data + o[i], len, *items + (size_t)i * item_floats) != 0)
            rc = lw_fail_prefix("%s: item %lld: ", path, (long long)i);
        add_item(st, len);
    }
    if (rc == 0) {
        memcpy(*row_id, ids->data, sizeof(int64_t) * (size_t)n);
        *n_items = n;
    } else {
        free(*items), free(*row_id);
        *items = NULL;
        *row_id = NULL;
    }
    lw_st_close(f);
    return rc;
}
