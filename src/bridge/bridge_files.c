/* `bridge fit` and `bridge apply` on activation files as library calls
 * (latentwire/bridge_files.h): the rows paired, the fit recorded with where it was made, and a
 * file's rows mapped after the bridge is checked against them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/compare.h"
#include "common/error.h"
#include "common/finite.h"
#include "common/jsonio.h"
#include "common/note.h"
#include "latentwire/bridge_files.h"
#include "latentwire/files.h"

lw_bridge_fit_files_params lw_bridge_fit_files_default_params(void) {
    return (lw_bridge_fit_files_params){.pairing = LW_JOIN_ROW_ID, .bridge = lw_bridge_default_params()};
}

/* One key of an activation file's metadata, copied into the bridge's record as PREFIX_KEY. */
static int copy_meta(lw_bridge *b, const char *prefix, const char *meta_json, const char *key) {
    if (!meta_json) return 0;
    json_t *m = json_loads(meta_json, 0, NULL);
    json_t *v = m ? json_object_get(m, key) : NULL;
    int rc = 0;
    if (v) {
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        char name[96];
        snprintf(name, sizeof name, "%s_%s", prefix, key);
        rc = text ? lw_bridge_set_meta(b, name, text) : lw_fail("bridge fit: out of memory");
        free(text);
    }
    json_decref(m);
    return rc;
}

static int set_string_meta(lw_bridge *b, const char *key, const char *value) {
    char *text = lw_json_quoted(value); /* a path that is not UTF-8 is not recorded */
    int rc = text ? lw_bridge_set_meta(b, key, text) : 0;
    free(text);
    return rc;
}

/* The calibration rows' ids as sorted inclusive ranges [[first, last], ...]: a few numbers for the
 * usual contiguous rows, whatever their count. A later retrieval on the same texts says from it
 * which of its queries the bridge saw. */
static int set_calibration_ranges(lw_bridge *br, const lw_act_tensor *A, const int64_t *ia, int64_t n) {
    int64_t *id = malloc(sizeof *id * (size_t)(n ? n : 1));
    json_t *ranges = json_array();
    if (!id || !ranges) {
        free(id);
        json_decref(ranges);
        return lw_fail("bridge fit: out of memory");
    }
    for (int64_t k = 0; k < n; k++) id[k] = A->row_id[ia[k]];
    qsort(id, (size_t)n, sizeof *id, lw_cmp_i64);
    for (int64_t k = 0; k < n;) {
        int64_t j = k;
        while (j + 1 < n && id[j + 1] <= id[j] + 1) j++;
        json_array_append_new(ranges, json_pack("[I, I]", (json_int_t)id[k], (json_int_t)id[j]));
        k = j + 1;
    }
    free(id);
    char *text = json_dumps(ranges, JSON_COMPACT);
    json_decref(ranges);
    int rc = text ? lw_bridge_set_meta(br, "calibration_row_ids", text) : lw_fail("bridge fit: out of memory");
    free(text);
    return rc;
}

/* Where the bridge was fitted, in its record: files, tensors, pairing, the models, pooling and
 * texts extract recorded, and the calibration rows. */
static int record_provenance(lw_bridge *br, const lw_bridge_fit_files_params *p, const lw_act_tensor *A,
                             const lw_act_tensor *B, const int64_t *ia, int64_t n) {
    int rc = set_string_meta(br, "source_file", p->source) | set_string_meta(br, "target_file", p->target) |
             set_string_meta(br, "source_tensor", p->source_tensor) |
             set_string_meta(br, "target_tensor", p->target_tensor) |
             set_string_meta(br, "paired_by", p->pairing == LW_JOIN_ROW_POSITION ? "row_id,position" : "row_id");
    /* in the order bridge files have always had them (a refit is byte-identical) */
    rc |= copy_meta(br, "source", A->meta, "model_sha256") | copy_meta(br, "target", B->meta, "model_sha256") |
          copy_meta(br, "source", A->meta, "pool") | copy_meta(br, "target", B->meta, "pool");
    rc |= copy_meta(br, "source", A->meta, "input_sha256") | copy_meta(br, "source", A->meta, "input_field") |
          copy_meta(br, "target", B->meta, "input_sha256") | copy_meta(br, "target", B->meta, "input_field");
    return rc == 0 ? set_calibration_ranges(br, A, ia, n) : -1;
}

/* Rows of two files extracted from different texts are still paired by row id: right for
 * translation or paraphrase pairs (the same ids, other texts), a silent mistake otherwise. */
static void note_other_texts(const lw_bridge_fit_files_params *p, const lw_act_tensor *A, const lw_act_tensor *B) {
    json_t *ma = A->meta ? json_loads(A->meta, 0, NULL) : NULL, *mb = B->meta ? json_loads(B->meta, 0, NULL) : NULL;
    const char *ha = json_string_value(json_object_get(ma, "input_sha256")),
               *hb = json_string_value(json_object_get(mb, "input_sha256"));
    if (ha && hb && strcmp(ha, hb) != 0)
        lw_notef(p->on_note, p->user,
             "%s and %s were extracted from different texts (their input_sha256 differ): row k of one is paired with "
             "row k of the other, as translation or paraphrase pairs want",
             p->source, p->target);
    json_decref(ma);
    json_decref(mb);
}

/* A rank or anchor count the data cannot support is lowered by the fit (rank_note in the record). */
static void note_rank_clamped(const lw_bridge_fit_files_params *p, const lw_bridge *br) {
    json_t *info = json_loads(lw_bridge_info_json(br), 0, NULL);
    const char *why = json_string_value(json_object_get(info, "rank_note"));
    if (why)
        lw_notef(p->on_note, p->user, "the bridge's %s was lowered to what the data allow: %s",
             lw_bridge_get_recipe(br) == LW_BRIDGE_RELREP ? "number of anchors" : "rank", why);
    json_decref(info);
}

/* The first NaN or infinity among rows x (n x t->d; row k is the file's row idx[k], or k when idx
 * is NULL), named by the option, the file, its tensor and the row's id: the fit and the maps said
 * "X row 20 column 0" or "source row 20", an index into the paired rows that names neither the
 * file nor a row the caller can find. 0 or -1 (message). */
static int check_rows_finite(const char *verb, const char *flag, const char *path, const char *tensor,
                             const lw_act_tensor *t, const float *x, const int64_t *idx, int64_t n) {
    int64_t at = lw_first_nonfinite(x, n * (int64_t)t->d);
    if (at < 0) return 0;
    int64_t row = idx ? idx[at / t->d] : at / t->d;
    return lw_fail("%s: %s %s: tensor \"%s\" row %lld (row_id %lld) column %d is %s", verb, flag, path, tensor,
                   (long long)row, (long long)t->row_id[row], (int)(at % t->d),
                   x[at] != x[at] ? "NaN" : "infinite");
}

int lw_bridge_fit_files(const lw_bridge_fit_files_params *p, lw_bridge_fit_files_result *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!p || !out) return lw_fail("bridge fit: no %s", !p ? "parameters" : "result");
    if (!p->source || !p->target || !p->source_tensor || !p->target_tensor)
        return lw_fail("bridge fit: --source, --source-tensor, --target and --target-tensor are required");
    if (p->pairing != LW_JOIN_ROW_ID && p->pairing != LW_JOIN_ROW_POSITION)
        return lw_fail("bridge fit: pairing %d is not a lw_join_mode", (int)p->pairing);
    if (p->out && lw_output_check("--out", p->out, LW_OUT_FILE,
                                  (const char *const[]){"--source", p->source, "--target", p->target, NULL}) != 0)
        return -1;
    lw_act_tensor A = {0}, B = {0};
    if (lw_act_open(p->source, p->source_tensor, &A) != 0) return -1;
    if (lw_act_open(p->target, p->target_tensor, &B) != 0) {
        lw_act_close(&A);
        return -1;
    }
    int64_t *ia = NULL, *ib = NULL;
    float *X = NULL, *Y = NULL;
    lw_bridge *br = NULL;
    int64_t n = lw_act_join_mode(&A, &B, p->pairing, &ia, &ib);
    int rc = n < 0 ? -1 : 0;
    if (rc == 0 && n < 2)
        rc = lw_fail("bridge fit: %s and %s share %lld row ids; at least 2 paired rows are needed", p->source,
                     p->target, (long long)n);
    if (rc == 0 && (n < A.n || n < B.n)) /* rows whose row id the other file lacks are left out */
        lw_notef(p->on_note, p->user, "the fit pairs %lld rows; %lld of %s and %lld of %s have no partner %s and are left out",
             (long long)n, (long long)(A.n - n), p->source, (long long)(B.n - n), p->target,
             p->pairing == LW_JOIN_ROW_POSITION ? "(row id, position)" : "row id");
    if (rc == 0 && (!(X = lw_act_gather(&A, ia, n)) || !(Y = lw_act_gather(&B, ib, n)))) rc = -1;
    if (rc == 0) rc = check_rows_finite("bridge fit", "--source", p->source, p->source_tensor, &A, X, ia, n);
    if (rc == 0) rc = check_rows_finite("bridge fit", "--target", p->target, p->target_tensor, &B, Y, ib, n);
    if (rc == 0 && !(br = lw_bridge_fit(X, Y, n, A.d, B.d, &p->bridge))) rc = -1;
    if (rc == 0) rc = record_provenance(br, p, &A, &B, ia, n);
    if (rc == 0 && p->out) rc = lw_bridge_save(br, p->out);
    if (rc == 0) {
        note_other_texts(p, &A, &B);
        note_rank_clamped(p, br);
        if (!A.meta)
            lw_notef(p->on_note, p->user, "%s has no latentwire metadata (it was not written by extract): the bridge "
                 "records no source model or pooling, so its uses cannot be checked", p->source);
        if (!B.meta)
            lw_notef(p->on_note, p->user, "%s has no latentwire metadata (it was not written by extract): the bridge "
                 "records no target model or pooling, so its uses cannot be checked", p->target);
        *out = (lw_bridge_fit_files_result){br, n, A.d, B.d};
        br = NULL;
    }
    lw_bridge_free(br);
    free(X), free(Y), free(ia), free(ib);
    lw_act_close(&A);
    lw_act_close(&B);
    return rc;
}

int lw_bridge_apply_file(const lw_bridge_apply_file_params *p, int64_t *n_rows, int *dim) {
    if (n_rows) *n_rows = 0;
    if (dim) *dim = 0;
    if (!p) return lw_fail("bridge apply: no parameters");
    if (!p->bridge || !p->input || !p->tensor || !p->out)
        return lw_fail("bridge apply: --bridge, --input, --tensor and --out are required");
    if (lw_output_check("--out", p->out, LW_OUT_FILE,
                        (const char *const[]){"--bridge", p->bridge, "--input", p->input, NULL}) != 0)
        return -1;
    lw_bridge *br = lw_bridge_load(p->bridge);
    if (!br) return -1;
    lw_act_tensor X = {0};
    if (lw_act_open(p->input, p->tensor, &X) != 0) {
        lw_bridge_free(br);
        return -1;
    }
    const char *side = p->target_side ? "target" : "source";
    int want = p->target_side ? lw_bridge_target_dim(br) : lw_bridge_source_dim(br), d = lw_bridge_out_dim(br), rc = 0;
    float *Z = NULL;
    char sha[65], pool[32];
    if (X.d != want)
        rc = lw_fail("bridge apply: %s: tensor \"%s\" has width %d but the bridge's %s side has width %d", p->input,
                     p->tensor, X.d, side, want);
    else if (X.n == 0) /* an empty result is refused, never written */
        rc = lw_fail("bridge apply: %s: tensor \"%s\" has no rows: nothing to map", p->input, p->tensor);
    else if (check_rows_finite("bridge apply", "--input", p->input, p->tensor, &X, X.x, NULL, X.n) != 0)
        rc = -1;
    else if (lw_bridge_check_fit(br, side, p->tensor, lw_act_model_sha256(&X, sha), lw_act_pool(&X, pool)) != 0)
        rc = lw_fail("bridge apply: %s: %s", p->bridge, lw_last_error());
    if (rc == 0 && !(Z = malloc(sizeof *Z * (size_t)X.n * (size_t)d))) rc = lw_fail("bridge apply: out of memory");
    if (rc == 0)
        rc = p->target_side ? lw_bridge_apply_target(br, X.x, X.n, Z) : lw_bridge_apply_source(br, X.x, X.n, Z);
    if (rc == 0) {
        lw_st_tensor_in t[2] = {{.name = "mapped", .dtype = LW_DT_F32, .n_dims = 2, .shape = {X.n, d}, .data = Z},
                                {.name = "row_id", .dtype = LW_DT_I64, .n_dims = 1, .shape = {X.n}, .data = X.row_id}};
        /* a path that is not UTF-8 is not recorded (safetensors metadata is JSON): it failed the
         * save, after the work, with a message about the output */
        const char *kv[6] = {"bridge", p->bridge, "input", p->input, "side", side}, *meta[6];
        rc = lw_st_save(p->out, t, 2, meta, lw_json_utf8_pairs(kv, 3, meta));
    }
    if (rc == 0 && !X.meta)
        lw_notef(p->on_note, p->user, "%s has no latentwire metadata (it was not written by extract): its rows' model and "
             "pooling were not checked against the bridge's fit", p->input);
    if (rc == 0 && n_rows) *n_rows = X.n;
    if (rc == 0 && dim) *dim = d;
    free(Z);
    lw_act_close(&X);
    lw_bridge_free(br);
    return rc;
}
