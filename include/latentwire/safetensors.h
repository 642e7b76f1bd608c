/* Safetensors files (https://huggingface.co/docs/safetensors), readable by Python's
 * `safetensors` unchanged.
 *
 * Layout written: 8-byte little-endian header length N, then N bytes of JSON
 *   {"__metadata__": {"key": "string", ...},
 *    "name": {"dtype": "F32", "shape": [rows, cols], "data_offsets": [begin, end]}, ...}
 * padded with spaces so the data section starts at an 8-byte aligned offset; then the
 * tensors' bytes, little-endian, row-major, in the order they were added, contiguous.
 * Metadata values are strings (the format requires it); structured metadata is stored as
 * a JSON document inside a string.
 *
 * Writing is streaming and crash-safe: tensors are declared first, data is appended in
 * declaration order in any number of chunks, and the file appears under its final name
 * only when lw_st_writer_finish succeeds (temp file + rename). */
#ifndef LATENTWIRE_SAFETENSORS_H
#define LATENTWIRE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "latentwire/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LW_DT_F32 = 0,
    LW_DT_F64,
    LW_DT_F16,
    LW_DT_BF16,
    LW_DT_I64,
    LW_DT_I32,
    LW_DT_I16,
    LW_DT_I8,
    LW_DT_U8,
    LW_DT_BOOL,
} lw_dtype;

/* Bytes per element (0, message set, for an unknown dtype); the safetensors dtype name ("F32", ...;
 * NULL if unknown); parse a name (-1 if unknown). */
size_t lw_dtype_size(lw_dtype dt);
const char *lw_dtype_name(lw_dtype dt);
int lw_dtype_from_name(const char *name);

#define LW_ST_MAX_DIMS 8

/* ---- writer ---- */
typedef struct lw_st_writer lw_st_writer;

lw_st_writer *lw_st_writer_new(const char *path);
/* Adds a string metadata entry (before finish). */
int lw_st_writer_set_meta(lw_st_writer *w, const char *key, const char *value);
/* Declares a tensor; its data must be supplied with lw_st_writer_write in declaration order. */
int lw_st_writer_add(lw_st_writer *w, const char *name, lw_dtype dt, int n_dims, const int64_t *shape);
/* Appends raw bytes of the current tensor(s), in declaration order; may be called many times. */
int lw_st_writer_write(lw_st_writer *w, const void *data, size_t n_bytes);
/* Checks every declared byte was written, writes the file and renames it into place. */
int lw_st_writer_finish(lw_st_writer *w);
/* Frees the writer; if finish did not succeed, removes every temporary file. */
void lw_st_writer_free(lw_st_writer *w);

/* Where the data goes until finish ("<path>.tmp.XXXXXX"), so a caller can register it for
 * removal from a signal handler; NULL once finished or failed. */
const char *lw_st_writer_temp_path(const lw_st_writer *w);

/* Convenience: write tensors held in memory in one call. */
typedef struct {
    const char *name;
    lw_dtype dtype;
    int n_dims;
    int64_t shape[LW_ST_MAX_DIMS];
    const void *data;
} lw_st_tensor_in;
int lw_st_save(const char *path, const lw_st_tensor_in *tensors, int n_tensors,
               const char *const *meta_kv, int n_meta /* pairs: key0, value0, key1, ... */);

/* ---- reader (mmap) ---- */
typedef struct lw_st_file lw_st_file;

typedef struct {
    const char *name;
    lw_dtype dtype;
    int n_dims;
    int64_t shape[LW_ST_MAX_DIMS];
    const void *data;       /* aligned for the dtype: into the mapping, or a copy when the file's bytes are not */
    size_t n_bytes;
} lw_st_tensor;

/* Opens and validates a file: header length within the file, JSON well-formed, every
 * tensor's dtype known, offsets in bounds, non-overlapping and matching shape x dtype.
 * Errors name the file and the field at fault. */
lw_st_file *lw_st_open(const char *path);
void lw_st_close(lw_st_file *f);

int lw_st_count(const lw_st_file *f); /* -1 (message set) for a NULL file; so lw_st_meta_count */
/* i-th tensor in file order (ascending data offset). */
const lw_st_tensor *lw_st_get(const lw_st_file *f, int i);
/* Tensor by name, or NULL (no error set). */
const lw_st_tensor *lw_st_find(const lw_st_file *f, const char *name);
/* Metadata value by key, or NULL. */
const char *lw_st_meta(const lw_st_file *f, const char *key);
/* Whether every tensor of f hashes to the sha256 that sums (JSON object text {"name": "hex", ...},
 * one entry per tensor, as extract's shards and codec files store it) gives for its name: 1 when all
 * do; 0 otherwise, with *bad (may be NULL) the first tensor that does not, or NULL when sums is
 * not such an object or lists other tensors. */
int lw_st_matches_sha256(const lw_st_file *f, const char *sums, const char **bad);
int lw_st_meta_count(const lw_st_file *f);
const char *lw_st_meta_key(const lw_st_file *f, int i);

/* Row statistics of a 2-D F32 tensor (rows x columns), as `latentwire inspect` shows them: the
 * mean, smallest and largest L2 norm of its rows (each accumulated in double; a row holding a
 * NaN has a NaN norm, which the mean carries and min/max skip) and its count of NaN/Inf values.
 * No rows: mean, min and max are 0. */
typedef struct {
    double norm_mean, norm_min, norm_max;
    int64_t non_finite;
} lw_st_row_stats;
/* 0, or -1 with the message set: a NULL argument, or a tensor that is not 2-D F32. */
int lw_st_row_stats_of(const lw_st_tensor *t, lw_st_row_stats *out);

/* Parses an in-memory buffer (used by the fuzzer and tests); the buffer must outlive f. */
lw_st_file *lw_st_parse(const void *buf, size_t len, const char *label);

#ifdef __cplusplus
}
#endif
#endif
