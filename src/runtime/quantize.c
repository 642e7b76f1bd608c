/* A re-quantized copy of a GGUF model (lw_model_quantize): the versioning probe's second
 * "version" of a model is the same weights at another quantization, labelled as quantization
 * drift. llama_model_quantize with allow_requantize: a model that is already quantized (the
 * fetched Gemma 3 270M is Q4_K_M, SmolLM2 Q4_1) is requantized from its quantized weights. Written to a temporary name in
 * the output's directory and renamed, so a failed run leaves nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "latentwire/files.h"
#include "latentwire/runtime.h"
#include "ggml.h"
#include "gguf.h"
#include "llama.h"
#include "runtime/internal.h"

static const struct {
    const char *name;
    enum llama_ftype ftype;
    enum ggml_type main; /* the type most weights get (k-quant mixes put some in q6_K on purpose) */
} TYPES[] = {{"f16", LLAMA_FTYPE_MOSTLY_F16, GGML_TYPE_F16},       {"q8_0", LLAMA_FTYPE_MOSTLY_Q8_0, GGML_TYPE_Q8_0},
             {"q5_k_m", LLAMA_FTYPE_MOSTLY_Q5_K_M, GGML_TYPE_Q5_K}, {"q4_k_m", LLAMA_FTYPE_MOSTLY_Q4_K_M, GGML_TYPE_Q4_K},
             {"q4_0", LLAMA_FTYPE_MOSTLY_Q4_0, GGML_TYPE_Q4_0}};
#define N_TYPES (int)(sizeof TYPES / sizeof TYPES[0])

/* general.file_type of a GGUF (a llama_ftype), or -1 when the header has none or is unreadable. */
static long file_type(const char *path) {
    struct gguf_init_params gp = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *g = gguf_init_from_file(path, gp);
    if (!g) return -1;
    int64_t k = gguf_find_key(g, "general.file_type");
    long t = k >= 0 && gguf_get_kv_type(g, k) == GGUF_TYPE_UINT32 ? (long)gguf_get_val_u32(g, k) : -1;
    gguf_free(g);
    return t;
}

/* The first non-finite value of the input's f32 and f16 tensors, refused with one message: llama.cpp
 * found it while quantizing and printed "ggml_validate_row_data: found nan value ..." on stderr
 * itself, above our line. Data past the file's end is left to llama.cpp ("not within the file
 * bounds"). 0 or -1 (message). */
static int check_finite_weights(const char *path) {
    struct gguf_init_params gp = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *g = gguf_init_from_file(path, gp);
    FILE *f = g ? fopen(path, "rb") : NULL;
    if (!f) {
        if (g) gguf_free(g);
        return 0; /* the header check before said what was wrong, or llama.cpp will */
    }
    float buf[4096]; /* on the stack: the library may quantize on several threads at once */
    int rc = 0;
    for (int64_t t = 0; rc == 0 && t < gguf_get_n_tensors(g); t++) {
        enum ggml_type type = gguf_get_tensor_type(g, t);
        size_t width = type == GGML_TYPE_F32 ? 4 : type == GGML_TYPE_F16 ? 2 : 0;
        if (!width || fseeko(f, (off_t)(gguf_get_data_offset(g) + gguf_get_tensor_offset(g, t)), SEEK_SET) != 0) continue;
        size_t n = gguf_get_tensor_size(g, t) / width, done = 0;
        while (rc == 0 && done < n) {
            size_t want = n - done < sizeof buf / 4 ? n - done : sizeof buf / 4;
            size_t got = fread(buf, width, want, f);
            for (size_t i = 0; rc == 0 && i < got; i++) {
                float v = width == 4 ? buf[i] : ggml_fp16_to_fp32(((const ggml_fp16_t *)buf)[i]);
                if (!isfinite(v))
                    rc = lw_fail("%s: tensor '%s' holds %s at element %zu: a model with such weights computes no "
                                 "numbers, and its copy would not either", path, gguf_get_tensor_name(g, t),
                                 isnan(v) ? "NaN" : "Inf", done + i);
            }
            if (got < want) break;
            done += got;
        }
    }
    fclose(f);
    gguf_free(g);
    return rc;
}

static int by_count(const void *a, const void *b) {
    const int na = ((const int *)a)[0], nb = ((const int *)b)[0];
    return (nb > na) - (nb < na);
}

/* The tensor types of the written copy, counted. 0 or -1. */
static int count_types(const char *path, enum ggml_type asked, lw_quantize_report *r) {
    struct gguf_init_params gp = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *g = gguf_init_from_file(path, gp);
    if (!g) return lw_fail("%s: the written copy cannot be read back", path);
    int count[GGML_TYPE_COUNT][2] = {{0}}; /* {n, type}, sorted by n below */
    for (int t = 0; t < GGML_TYPE_COUNT; t++) count[t][1] = t;
    memset(r, 0, sizeof *r);
    r->n_tensors = (int)gguf_get_n_tensors(g);
    for (int64_t i = 0; i < r->n_tensors; i++) {
        enum ggml_type t = gguf_get_tensor_type(g, i);
        if ((int)t >= 0 && t < GGML_TYPE_COUNT) count[t][0]++;
        r->n_asked += t == asked;
    }
    gguf_free(g);
    qsort(count, GGML_TYPE_COUNT, sizeof count[0], by_count);
    for (int k = 0; k < GGML_TYPE_COUNT && count[k][0] > 0 && r->n_types < 32; k++, r->n_types++) {
        snprintf(r->types[r->n_types].name, sizeof r->types[0].name, "%s", ggml_type_name((enum ggml_type)count[k][1]));
        r->types[r->n_types].n = count[k][0];
    }
    return 0;
}

int lw_model_quantize(const char *in_path, const char *out_path, const char *type, int n_threads,
                      lw_quantize_report *report) {
    int t = -1;
    for (int k = 0; type && k < N_TYPES; k++)
        if (!strcmp(type, TYPES[k].name)) t = k;
    if (t < 0) return lw_fail("unknown type '%s' (f16, q8_0, q5_k_m, q4_k_m or q4_0)", type ? type : "");
    if (!in_path || !out_path) return lw_fail("lw_model_quantize: no %s path", !in_path ? "input" : "output");
    bool has_output;
    /* llama.cpp's logger first: the header check below runs gguf's reader, whose lines about a
     * corrupt file ("gguf_init_from_reader: ...") went to stderr above our own one */
    lw_backend_init_once();
    if (lw_model__check_file(in_path, &has_output) != 0) return -1; /* one line, not llama.cpp's log */
    const char *inputs[] = {"MODEL", in_path, NULL, NULL};
    if (lw_output_check("OUT", out_path, LW_OUT_FILE, inputs) != 0) return -1;
    if (check_finite_weights(in_path) != 0) return -1;
    if (file_type(in_path) == (long)TYPES[t].ftype)
        return lw_fail("%s is already %s (its general.file_type): a copy at the same type differs from it by no "
                       "quantization drift; give another --type", in_path, type);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.quantize-%ld.tmp", out_path, (long)getpid());
    llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.ftype = TYPES[t].ftype;
    qp.allow_requantize = true;
    qp.nthread = n_threads;
    lw_llama_log_reset();
    if (llama_model_quantize(in_path, tmp, &qp) != 0) {
        remove(tmp);
        const char *why = lw_llama_last_log_error();
        return lw_fail("llama.cpp could not quantize %s to %s%s%s", in_path, type, why[0] ? ": " : "", why);
    }
    lw_quantize_report rep;
    if (count_types(tmp, TYPES[t].main, &rep) != 0) {
        remove(tmp);
        return -1;
    }
    if (report) *report = rep;
    if (rename(tmp, out_path) != 0) {
        remove(tmp);
        return lw_fail("cannot rename %s to %s", tmp, out_path);
    }
    return 0;
}
