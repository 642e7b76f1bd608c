/* Safetensors writer (streaming, crash-safe) and mmap reader (fully validating). */
#include "latentwire/safetensors.h"
#include "latentwire/textio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/error.h"
#include "common/jsonio.h"
#include "common/fileio.h"

/* A header larger than this is treated as corrupt rather than parsed (the reference
 * implementation uses the same bound). */
#define LW_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

/* --------------------------------------------------------------------- dtypes ---- */

static const struct {
    const char *name;
    size_t size;
} k_dtypes[] = {
    [LW_DT_F32] = {"F32", 4}, [LW_DT_F64] = {"F64", 8}, [LW_DT_F16] = {"F16", 2},
    [LW_DT_BF16] = {"BF16", 2}, [LW_DT_I64] = {"I64", 8}, [LW_DT_I32] = {"I32", 4},
    [LW_DT_I16] = {"I16", 2}, [LW_DT_I8] = {"I8", 1}, [LW_DT_U8] = {"U8", 1},
    [LW_DT_BOOL] = {"BOOL", 1},
};
#define N_DTYPES ((int)(sizeof k_dtypes / sizeof k_dtypes[0]))

static bool dtype_valid(lw_dtype dt) { return (int)dt >= 0 && (int)dt < N_DTYPES; }

size_t lw_dtype_size(lw_dtype dt) {
    return dtype_valid(dt) ? k_dtypes[dt].size : (lw_fail("lw_dtype_size: unknown dtype %d", (int)dt), 0);
}

const char *lw_dtype_name(lw_dtype dt) { return dtype_valid(dt) ? k_dtypes[dt].name : NULL; }

int lw_dtype_from_name(const char *name) {
    for (int i = 0; name && i < N_DTYPES; i++)
        if (strcmp(name, k_dtypes[i].name) == 0) return i;
    return -1;
}

/* Bytes of a tensor, or false when the element count or byte count overflows 63 bits
 * (the JSON offsets are signed 64-bit). */
static bool tensor_bytes(lw_dtype dt, int n_dims, const int64_t *shape, uint64_t *out) {
    uint64_t n = lw_dtype_size(dt);
    for (int i = 0; i < n_dims; i++)
        if (__builtin_mul_overflow(n, (uint64_t)shape[i], &n)) return false;
    if (n > (uint64_t)INT64_MAX) return false;
    *out = n;
    return true;
}

/* "[4, 8]" into buf. */
static const char *shape_str(char *buf, size_t cap, int n_dims, const int64_t *shape) {
    size_t off = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n_dims && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (off < cap) snprintf(buf + off, cap - off, "]");
    return buf;
}

/* --------------------------------------------------------------------- writer ---- */

typedef struct {
    char *name;
    lw_dtype dtype;
    int n_dims;
    int64_t shape[LW_ST_MAX_DIMS];
    uint64_t begin, end;
} wtensor;

struct lw_st_writer {
    char *path;
    lw_atomic_file af;
    json_t *meta;           /* object of strings */
    wtensor *tensors;
    int n_tensors, cap_tensors;
    uint64_t total;         /* declared data bytes */
    uint64_t written;       /* data bytes appended so far */
    uint64_t header_len;    /* N of the header already in the file, 0 = not yet written */
    bool meta_late;         /* metadata changed after the header went out */
    bool failed, finished;
};

lw_st_writer *lw_st_writer_new(const char *path) {
    if (!path || !*path) return lw_fail("lw_st_writer_new: no path"), NULL;
    lw_st_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path)) || !(w->meta = json_object())) {
        if (w) free(w->path);
        free(w);
        lw_fail("%s: out of memory", path);
        return NULL;
    }
    /* Open the temp file now so an unwritable destination is reported before the caller
     * spends time producing data. */
    if (lw_atomic_open(&w->af, path) != 0) {
        json_decref(w->meta);
        free(w->path);
        free(w);
        return NULL;
    }
    return w;
}

static int writer_check_open(lw_st_writer *w) {
    if (!w) return lw_fail("safetensors: the writer is NULL");
    if (w->finished) return lw_fail("%s: writer already finished", w->path);
    if (w->failed) return lw_fail("%s: writer is in a failed state after an earlier error", w->path);
    return 0;
}

int lw_st_writer_set_meta(lw_st_writer *w, const char *key, const char *value) {
    if (writer_check_open(w) != 0) return -1;
    if (!key || !value) return lw_fail("%s: metadata key and value must not be NULL", w->path);
    json_t *s = json_string(value);
    if (!s) return lw_fail("%s: metadata \"%s\": value is not valid UTF-8", w->path, key);
    if (json_object_set_new(w->meta, key, s) != 0)
        return lw_fail("%s: metadata key is not valid UTF-8", w->path);
    /* The header is already in the file: finish will rewrite the file with the new one. */
    if (w->header_len) w->meta_late = true;
    return 0;
}

int lw_st_writer_add(lw_st_writer *w, const char *name, lw_dtype dt, int n_dims, const int64_t *shape) {
    if (writer_check_open(w) != 0) return -1;
    if (w->header_len)
        return lw_fail("%s: tensor \"%s\" declared after data was written (declare all tensors first)",
                       w->path, name ? name : "");
    if (!name || !*name) return lw_fail("%s: tensor name must be non-empty", w->path);
    if (strcmp(name, "__metadata__") == 0)
        return lw_fail("%s: tensor name \"__metadata__\" is reserved", w->path);
    json_t *utf8_check = json_string(name); /* NULL unless valid UTF-8, as JSON keys must be */
    if (!utf8_check) return lw_fail("%s: tensor name is not valid UTF-8", w->path);
    json_decref(utf8_check);
    if (!dtype_valid(dt)) return lw_fail("%s: tensor \"%s\": invalid dtype %d", w->path, name, (int)dt);
    if (n_dims < 0 || n_dims > LW_ST_MAX_DIMS)
        return lw_fail("%s: tensor \"%s\": %d dims (must be 0..%d)", w->path, name, n_dims, LW_ST_MAX_DIMS);
    if (n_dims > 0 && !shape) return lw_fail("%s: tensor \"%s\": shape is NULL", w->path, name);
    for (int i = 0; i < n_dims; i++)
        if (shape[i] < 0)
            return lw_fail("%s: tensor \"%s\": shape[%d] = %lld is negative", w->path, name, i,
                           (long long)shape[i]);
    for (int i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return lw_fail("%s: tensor \"%s\" declared twice", w->path, name);
    uint64_t nb;
    if (!tensor_bytes(dt, n_dims, shape, &nb) || nb > (uint64_t)INT64_MAX - w->total)
        return lw_fail("%s: tensor \"%s\": size overflows", w->path, name);
    if (w->n_tensors == w->cap_tensors) {
        int nc = w->cap_tensors ? w->cap_tensors * 2 : 16;
        wtensor *t = realloc(w->tensors, (size_t)nc * sizeof *t);
        if (!t) return lw_fail("%s: out of memory", w->path);
        w->tensors = t;
        w->cap_tensors = nc;
    }
    wtensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return lw_fail("%s: out of memory", w->path);
    t->dtype = dt;
    t->n_dims = n_dims;
    for (int i = 0; i < n_dims; i++) t->shape[i] = shape[i];
    t->begin = w->total;
    t->end = w->total + nb;
    w->total = t->end;
    w->n_tensors++;
    return 0;
}

/* The header JSON, padded with spaces so that 8 + length is a multiple of 8 (keeps
 * every tensor's data as aligned as its offset within the data section). */
static char *build_header(lw_st_writer *w, size_t *len) {
    json_t *root = json_object();
    bool ok = root != NULL;
    if (ok && json_object_size(w->meta) > 0) ok = json_object_set(root, "__metadata__", w->meta) == 0;
    for (int i = 0; ok && i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        json_t *shape = json_array();
        for (int d = 0; shape && d < t->n_dims; d++)
            if (json_array_append_new(shape, json_integer(t->shape[d])) != 0) {
                json_decref(shape);
                shape = NULL;
            }
        /* Key order dtype, shape, data_offsets: the order the reference writer uses. */
        json_t *e = shape ? json_pack("{s:s, s:o, s:[I,I]}", "dtype", k_dtypes[t->dtype].name, "shape", shape,
                                      "data_offsets", (json_int_t)t->begin, (json_int_t)t->end)
                          : NULL;
        ok = e && json_object_set_new(root, t->name, e) == 0;
    }
    char *s = ok ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (!s) {
        lw_fail("%s: cannot build the header (out of memory or invalid UTF-8 in a tensor name)", w->path);
        return NULL;
    }
    size_t n = strlen(s), padded = (n + 7) & ~(size_t)7;
    char *p = realloc(s, padded + 1);
    if (!p) {
        free(s);
        lw_fail("%s: out of memory", w->path);
        return NULL;
    }
    memset(p + n, ' ', padded - n);
    p[padded] = '\0';
    *len = padded;
    return p;
}

static int write_header(lw_st_writer *w, FILE *fp, uint64_t *header_len) {
    size_t n;
    char *h = build_header(w, &n);
    if (!h) return -1;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)((uint64_t)n >> (8 * i));
    int rc = 0;
    if (fwrite(le, 1, 8, fp) != 8 || fwrite(h, 1, n, fp) != n)
        rc = lw_fail("%s: write failed: %s", w->path, strerror(errno));
    free(h);
    *header_len = n;
    return rc;
}

/* Marks the writer failed and drops the temp file, keeping the error message. */
static int writer_fail(lw_st_writer *w) {
    w->failed = true;
    lw_atomic_abort(&w->af);
    return -1;
}

int lw_st_writer_write(lw_st_writer *w, const void *data, size_t n_bytes) {
    if (writer_check_open(w) != 0) return -1;
    if (!w->header_len && write_header(w, w->af.fp, &w->header_len) != 0) return writer_fail(w);
    if (n_bytes == 0) return 0;
    if (!data) return lw_fail("%s: write of %zu bytes from a NULL buffer", w->path, n_bytes);
    if (n_bytes > w->total - w->written) {
        lw_fail("%s: %zu bytes written past the declared data (%llu of %llu bytes already written)",
                w->path, n_bytes, (unsigned long long)w->written, (unsigned long long)w->total);
        return writer_fail(w);
    }
    if (fwrite(data, 1, n_bytes, w->af.fp) != n_bytes) {
        lw_fail("%s: write failed: %s", w->path, strerror(errno));
        return writer_fail(w);
    }
    w->written += n_bytes;
    return 0;
}

/* Metadata arrived after the header was written: write a fresh file with the final
 * header and copy the data section across in bounded chunks. */
static int rewrite_with_late_meta(lw_st_writer *w) {
    if (fflush(w->af.fp) != 0) return lw_fail("%s: write failed: %s", w->path, strerror(errno));
    FILE *in = fopen(w->af.tmp_path, "rb");
    if (!in) return lw_fail("%s: cannot reopen temp file: %s", w->path, strerror(errno));
    lw_atomic_file out;
    if (lw_atomic_open(&out, w->path) != 0) {
        fclose(in);
        return -1;
    }
    uint64_t hl;
    int rc = write_header(w, out.fp, &hl);
    if (rc == 0 && fseeko(in, (off_t)(8 + w->header_len), SEEK_SET) != 0)
        rc = lw_fail("%s: seek failed: %s", w->path, strerror(errno));
    static const size_t chunk = 1 << 20;
    char *buf = rc == 0 ? malloc(chunk) : NULL;
    if (rc == 0 && !buf) rc = lw_fail("%s: out of memory", w->path);
    for (uint64_t left = w->total; rc == 0 && left > 0;) {
        size_t n = left < chunk ? (size_t)left : chunk;
        if (fread(buf, 1, n, in) != n) rc = lw_fail("%s: temp file read failed", w->path);
        else if (fwrite(buf, 1, n, out.fp) != n) rc = lw_fail("%s: write failed: %s", w->path, strerror(errno));
        left -= n;
    }
    free(buf);
    fclose(in);
    if (rc != 0) {
        lw_atomic_abort(&out);
        return rc;
    }
    /* Swap: the old temp goes, the new one is what gets committed. */
    lw_atomic_abort(&w->af);
    w->af = out;
    w->header_len = hl;
    return 0;
}

int lw_st_writer_finish(lw_st_writer *w) {
    if (writer_check_open(w) != 0) {
        if (w && !w->finished) lw_atomic_abort(&w->af);
        return -1;
    }
    if (w->written != w->total) {
        /* Name the first tensor that did not get all its bytes. */
        for (int i = 0; i < w->n_tensors; i++) {
            const wtensor *t = &w->tensors[i];
            if (w->written >= t->end) continue;
            uint64_t got = w->written > t->begin ? w->written - t->begin : 0;
            lw_fail("%s: tensor \"%s\" incomplete: %llu of %llu bytes written (%llu of %llu in total)",
                    w->path, t->name, (unsigned long long)got, (unsigned long long)(t->end - t->begin),
                    (unsigned long long)w->written, (unsigned long long)w->total);
            break;
        }
        return writer_fail(w);
    }
    if (!w->header_len && write_header(w, w->af.fp, &w->header_len) != 0) return writer_fail(w);
    if (w->meta_late && rewrite_with_late_meta(w) != 0) return writer_fail(w);
    if (lw_atomic_commit(&w->af) != 0) {
        w->failed = true;
        return -1;
    }
    w->finished = true;
    return 0;
}

void lw_st_writer_free(lw_st_writer *w) {
    if (!w) return;
    if (!w->finished) lw_atomic_abort(&w->af);
    for (int i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    json_decref(w->meta);
    free(w->path);
    free(w);
}

const char *lw_st_writer_temp_path(const lw_st_writer *w) {
    return w && !w->finished && !w->failed ? w->af.tmp_path : NULL;
}

int lw_st_save(const char *path, const lw_st_tensor_in *tensors, int n_tensors,
               const char *const *meta_kv, int n_meta) {
    if (n_tensors < 0 || n_meta < 0 || (n_tensors > 0 && !tensors) || (n_meta > 0 && !meta_kv))
        return lw_fail("%s: invalid arguments to lw_st_save", path);
    lw_st_writer *w = lw_st_writer_new(path);
    if (!w) return -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < n_meta; i++) rc = lw_st_writer_set_meta(w, meta_kv[2 * i], meta_kv[2 * i + 1]);
    for (int i = 0; rc == 0 && i < n_tensors; i++)
        rc = lw_st_writer_add(w, tensors[i].name, tensors[i].dtype, tensors[i].n_dims, tensors[i].shape);
    for (int i = 0; rc == 0 && i < n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        rc = lw_st_writer_write(w, tensors[i].data, (size_t)(t->end - t->begin));
    }
    if (rc == 0) rc = lw_st_writer_finish(w);
    lw_st_writer_free(w);
    return rc;
}

/* --------------------------------------------------------------------- reader ---- */

struct lw_st_file {
    char *label;
    void *map;              /* mmap of the whole file (lw_st_open only) */
    size_t map_len;
    lw_st_tensor *tensors;  /* ascending data offset; names owned */
    void **copies;          /* per tensor: an aligned copy of its bytes when the file's are not, else NULL */
    int n;
    char **meta_keys, **meta_vals;
    int n_meta;
};

void lw_st_close(lw_st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) {
        free((char *)f->tensors[i].name);
        if (f->copies) free(f->copies[i]);
    }
    free(f->tensors);
    free(f->copies);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_vals[i]);
    }
    free(f->meta_keys);
    free(f->meta_vals);
    if (f->map) munmap(f->map, f->map_len);
    free(f->label);
    free(f);
}

static int parse_metadata(lw_st_file *f, json_t *meta) {
    if (!json_is_object(meta)) return lw_fail("%s: \"__metadata__\" is not an object", f->label);
    size_t n = json_object_size(meta);
    f->meta_keys = calloc(n ? n : 1, sizeof *f->meta_keys);
    f->meta_vals = calloc(n ? n : 1, sizeof *f->meta_vals);
    if (!f->meta_keys || !f->meta_vals) return lw_fail("%s: out of memory", f->label);
    const char *key;
    json_t *v;
    json_object_foreach(meta, key, v) {
        if (!json_is_string(v))
            return lw_fail("%s: \"__metadata__\" key \"%s\": value is not a string", f->label, key);
        char *k = strdup(key), *s = strdup(json_string_value(v));
        f->meta_keys[f->n_meta] = k;
        f->meta_vals[f->n_meta] = s;
        if (k || s) f->n_meta++; /* owned from here on, even if one of the two failed */
        if (!k || !s) return lw_fail("%s: out of memory", f->label);
    }
    return 0;
}

/* A non-negative JSON integer (shape entries and offsets). */
static bool get_nonneg(json_t *v, int64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

/* Validates one tensor entry against the data section size and fills t / *begin. */
static int parse_tensor(lw_st_file *f, const char *name, json_t *e, uint64_t data_len, lw_st_tensor *t,
                        uint64_t *begin) {
    const char *L = f->label;
    if (!json_is_object(e)) return lw_fail("%s: tensor \"%s\": entry is not an object", L, name);
    json_t *jd = json_object_get(e, "dtype");
    if (!json_is_string(jd)) return lw_fail("%s: tensor \"%s\": \"dtype\" missing or not a string", L, name);
    int dt = lw_dtype_from_name(json_string_value(jd));
    if (dt < 0) return lw_fail("%s: tensor \"%s\": unknown dtype \"%s\"", L, name, json_string_value(jd));
    t->dtype = (lw_dtype)dt;

    json_t *js = json_object_get(e, "shape");
    if (!json_is_array(js)) return lw_fail("%s: tensor \"%s\": \"shape\" missing or not an array", L, name);
    if (json_array_size(js) > LW_ST_MAX_DIMS)
        return lw_fail("%s: tensor \"%s\": shape has %zu dims (at most %d supported)", L, name,
                       json_array_size(js), LW_ST_MAX_DIMS);
    t->n_dims = (int)json_array_size(js);
    for (int i = 0; i < t->n_dims; i++)
        if (!get_nonneg(json_array_get(js, (size_t)i), &t->shape[i]))
            return lw_fail("%s: tensor \"%s\": shape[%d] is not a non-negative integer", L, name, i);

    json_t *jo = json_object_get(e, "data_offsets");
    int64_t b, en;
    if (!json_is_array(jo) || json_array_size(jo) != 2)
        return lw_fail("%s: tensor \"%s\": \"data_offsets\" missing or not a [begin, end] pair", L, name);
    if (!get_nonneg(json_array_get(jo, 0), &b) || !get_nonneg(json_array_get(jo, 1), &en))
        return lw_fail("%s: tensor \"%s\": \"data_offsets\" are not non-negative integers", L, name);
    if (b > en)
        return lw_fail("%s: tensor \"%s\": data_offsets [%lld, %lld] begin after end", L, name,
                       (long long)b, (long long)en);
    if ((uint64_t)en > data_len)
        return lw_fail("%s: tensor \"%s\": data_offsets [%lld, %lld] beyond the %llu-byte data section", L,
                       name, (long long)b, (long long)en, (unsigned long long)data_len);

    char sb[32 * LW_ST_MAX_DIMS];
    uint64_t nb;
    if (!tensor_bytes(t->dtype, t->n_dims, t->shape, &nb))
        return lw_fail("%s: tensor \"%s\": shape %s x %s overflows", L, name,
                       shape_str(sb, sizeof sb, t->n_dims, t->shape), k_dtypes[dt].name);
    if ((uint64_t)(en - b) != nb)
        return lw_fail("%s: tensor \"%s\": data_offsets [%lld, %lld] do not match shape %s x %s (%llu bytes)",
                       L, name, (long long)b, (long long)en, shape_str(sb, sizeof sb, t->n_dims, t->shape),
                       k_dtypes[dt].name, (unsigned long long)nb);
    t->n_bytes = (size_t)nb;
    *begin = (uint64_t)b;
    return 0;
}

typedef struct {
    lw_st_tensor t;
    uint64_t begin;
} sort_item;

static int cmp_items(const void *pa, const void *pb) {
    const sort_item *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->t.n_bytes != b->t.n_bytes) return a->t.n_bytes < b->t.n_bytes ? -1 : 1;
    return strcmp(a->t.name, b->t.name);
}

/* Points tensor i at its bytes. A header length that is not a multiple of 8 (MLX writes
 * such files) or an odd-sized tensor before it leaves the bytes misaligned for the dtype,
 * and reading a float or int64 through such a pointer is undefined behaviour (and traps on
 * some CPUs): those tensors are copied once into malloc'd memory, which is aligned for
 * every dtype, so every reader can use `data` as a typed array. */
static int place_data(lw_st_file *f, int i, const uint8_t *bytes) {
    lw_st_tensor *t = &f->tensors[i];
    size_t align = lw_dtype_size(t->dtype);
    if (align <= 1 || (uintptr_t)bytes % align == 0) {
        t->data = bytes;
        return 0;
    }
    f->copies[i] = malloc(t->n_bytes ? t->n_bytes : 1);
    if (!f->copies[i])
        return lw_fail("%s: tensor \"%s\": out of memory copying %zu misaligned bytes", f->label, t->name,
                       t->n_bytes);
    memcpy(f->copies[i], bytes, t->n_bytes);
    t->data = f->copies[i];
    return 0;
}

/* Parses the header JSON (already known to lie inside the buffer) and the tensor table. */
static int parse_header(lw_st_file *f, const uint8_t *buf, size_t len, uint64_t hlen) {
    json_error_t jerr;
    /* Duplicate names would make "which one is meant" ambiguous: reject them. */
    json_t *root = json_loadb((const char *)buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return lw_fail("%s: header is not valid JSON: %s (at byte %d)", f->label, lw_json_error_text(&jerr), jerr.position);
    int rc = 0;
    if (!json_is_object(root)) {
        json_decref(root);
        return lw_fail("%s: header is not a JSON object", f->label);
    }
    const uint8_t *data = buf + 8 + hlen;
    uint64_t data_len = len - 8 - hlen;
    size_t n = json_object_size(root);
    sort_item *items = calloc(n ? n : 1, sizeof *items);
    if (!items) rc = lw_fail("%s: out of memory", f->label);
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (rc != 0) break;
        if (strcmp(key, "__metadata__") == 0) {
            rc = parse_metadata(f, v);
            continue;
        }
        if (!*key) {
            rc = lw_fail("%s: tensor with an empty name", f->label);
            break;
        }
        rc = parse_tensor(f, key, v, data_len, &items[k].t, &items[k].begin);
        if (rc == 0 && !(items[k].t.name = strdup(key))) rc = lw_fail("%s: out of memory", f->label);
        if (rc == 0) k++;
    }
    json_decref(root);
    if (rc == 0) qsort(items, k, sizeof *items, cmp_items);
    /* Sorted by offset, each tensor must start at or after the furthest end so far. */
    uint64_t max_end = 0;
    const char *max_name = NULL;
    for (size_t i = 0; rc == 0 && i < k; i++) {
        uint64_t b = items[i].begin, e = b + items[i].t.n_bytes;
        if (b < max_end)
            rc = lw_fail("%s: tensor \"%s\": data_offsets [%llu, %llu] overlap tensor \"%s\"", f->label,
                         items[i].t.name, (unsigned long long)b, (unsigned long long)e, max_name);
        if (e > max_end) max_end = e, max_name = items[i].t.name;
    }
    f->tensors = calloc(k ? k : 1, sizeof *f->tensors);
    f->copies = calloc(k ? k : 1, sizeof *f->copies);
    if (rc == 0 && (!f->tensors || !f->copies)) rc = lw_fail("%s: out of memory", f->label);
    for (size_t i = 0; i < k; i++) {
        if (rc != 0) {
            free((char *)items[i].t.name);
            continue;
        }
        f->tensors[i] = items[i].t;
        f->n = (int)i + 1;
        rc = place_data(f, (int)i, data + items[i].begin);
    }
    free(items);
    return rc;
}

lw_st_file *lw_st_parse(const void *buf, size_t len, const char *label) {
    if (!label) label = "<buffer>";
    lw_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->label = strdup(label))) {
        free(f);
        lw_fail("%s: out of memory", label);
        return NULL;
    }
    const uint8_t *b = buf;
    int rc = 0;
    uint64_t hlen = 0;
    if (!b && len > 0) rc = lw_fail("%s: NULL buffer", label);
    else if (len < 8) rc = lw_fail("%s: file too short (%zu bytes) for the 8-byte header length", label, len);
    if (rc == 0) {
        for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | b[i];
        bool json_next = len > 8 && b[8] == '{'; /* a safetensors header is a JSON object */
        if (hlen > len - 8 && !json_next)
            rc = lw_fail("%s: not a safetensors file (no JSON header after its first 8 bytes; %s); give the file "
                         "extract or bridge fit wrote", label,
                         len >= 4 && !memcmp(b, "GGUF", 4) ? "it is a GGUF model" : "a text or another format?");
        else if (hlen > len - 8)
            rc = lw_fail("%s: header length %llu exceeds the %zu bytes after it (a truncated file?)", label,
                         (unsigned long long)hlen, len - 8);
        else if (hlen > LW_ST_MAX_HEADER)
            rc = lw_fail("%s: header length %llu exceeds the %llu-byte limit", label, (unsigned long long)hlen,
                         (unsigned long long)LW_ST_MAX_HEADER);
    }
    if (rc == 0) rc = parse_header(f, b, len, hlen);
    if (rc != 0) {
        lw_st_close(f);
        return NULL;
    }
    return f;
}

lw_st_file *lw_st_open(const char *path) {
    int fd = lw_open_regular(path); /* never waits on a FIFO */
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        lw_fail("%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    /* mmap of an empty file fails with EINVAL; let the parser produce the real message. */
    void *map = NULL;
    if (len > 0) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            lw_fail("%s: mmap failed: %s", path, strerror(errno));
            close(fd);
            return NULL;
        }
    }
    close(fd);
    static const uint8_t empty[1];
    lw_st_file *f = lw_st_parse(map ? map : empty, len, path);
    if (!f) {
        if (map) munmap(map, len);
        return NULL;
    }
    f->map = map;
    f->map_len = len;
    return f;
}

int lw_st_count(const lw_st_file *f) { return f ? f->n : lw_fail("lw_st_count: the file is NULL"); }

const lw_st_tensor *lw_st_get(const lw_st_file *f, int i) {
    return f && i >= 0 && i < f->n ? &f->tensors[i] : NULL;
}

const lw_st_tensor *lw_st_find(const lw_st_file *f, const char *name) {
    for (int i = 0; f && name && i < f->n; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *lw_st_meta(const lw_st_file *f, const char *key) {
    for (int i = 0; f && key && i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_vals[i];
    return NULL;
}

int lw_st_meta_count(const lw_st_file *f) { return f ? f->n_meta : lw_fail("lw_st_meta_count: the file is NULL"); }

const char *lw_st_meta_key(const lw_st_file *f, int i) {
    return f && i >= 0 && i < f->n_meta ? f->meta_keys[i] : NULL;
}

int lw_st_matches_sha256(const lw_st_file *f, const char *sums, const char **bad) {
    if (bad) *bad = NULL;
    json_t *want = f && sums ? json_loads(sums, 0, NULL) : NULL;
    int ok = json_is_object(want) && json_object_size(want) == (size_t)lw_st_count(f);
    for (int i = 0; ok && i < lw_st_count(f); i++) {
        const lw_st_tensor *t = lw_st_get(f, i);
        const char *sum = json_string_value(json_object_get(want, t->name));
        char got[65];
        ok = sum && lw_sha256_buf(t->data, t->n_bytes, got) == 0 && strcmp(got, sum) == 0;
        if (!ok && bad) *bad = sum ? t->name : NULL; /* a tensor sums does not list: the lists differ */
    }
    json_decref(want);
    return ok;
}
