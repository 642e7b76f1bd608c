/* Bridges on activation files as library calls (latentwire/bridge_files.h), as `bridge fit` and
 * `bridge apply` use them: the fit pairs rows by row id and gives exactly lw_bridge_fit's bridge
 * on the joined rows; the record says where it was fitted (files, tensors, models, pooling,
 * texts, the calibration rows as id ranges) and lw_bridge_check_fit holds a later use to it; the
 * notes name rows left out, files of other texts and files without metadata; apply writes
 * exactly lw_bridge_apply_source's rows and refuses a width, a pooling or a model the bridge was
 * not fitted on, an empty input and an output that is an input, writing nothing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/rng.h"
#include "latentwire/bridge_files.h"
#include "support/refused.h"
#include "support/testutil.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* An extract-like file: tensor "layer.3" (n x d, Gaussian from seed) with row ids, and its
 * latentwire metadata (NULL: none). */
static const char *act_file(const char *name, const int64_t *ids, int n, int d, uint64_t seed, const char *meta) {
    float *x = malloc(sizeof *x * (size_t)n * d);
    lw_rng r;
    lw_rng_seed(&r, seed);
    for (int i = 0; i < n * d; i++) x[i] = (float)lw_rng_normal(&r);
    lw_st_tensor_in t[2] = {{.name = "layer.3", .dtype = LW_DT_F32, .n_dims = 2, .shape = {n, d}, .data = x},
                            {.name = "row_id", .dtype = LW_DT_I64, .n_dims = 1, .shape = {n}, .data = ids}};
    const char *kv[2] = {"latentwire", meta};
    static char paths[16][4096]; /* each file's own (lw_test_tmpfile's slots rotate) */
    static int used;
    char *path = paths[used++ % 16];
    snprintf(path, 4096, "%s", lw_test_tmpfile(name));
    assert_int_equal(lw_st_save(path, t, 2, meta ? kv : NULL, meta ? 1 : 0), 0);
    free(x);
    return path;
}

static char notes[4096];
static void keep_note(const char *note, void *user) {
    (void)user;
    snprintf(notes + strlen(notes), sizeof notes - strlen(notes), "%s\n", note);
}

/* The caller's part of a bridge's record ("meta"), a new reference. */
static json_t *record(const lw_bridge *b) {
    json_t *all = json_loads(lw_bridge_info_json(b), 0, NULL), *meta = json_incref(json_object_get(all, "meta"));
    json_decref(all);
    assert_non_null(meta);
    return meta;
}

static void test_fit_files(void **state) {
    (void)state;
    /* A: ids 0..9 less 3 and 4, plus 20; B: ids 0..9 and 30 (another text file) */
    const int64_t ida[] = {0, 1, 2, 5, 6, 7, 8, 9, 20}, idb[] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 30};
    const char *a = act_file("bf_a.safetensors", ida, 9, 6, 1,
                             "{\"model_sha256\": \"" SHA_A "\", \"pool\": \"mean\", \"input_sha256\": \"t1\"}");
    const char *b = act_file("bf_b.safetensors", idb, 11, 4, 2,
                             "{\"model_sha256\": \"" SHA_B "\", \"pool\": \"mean\", \"input_sha256\": \"t2\"}");
    char out[4096];
    snprintf(out, sizeof out, "%s", lw_test_tmpfile("bf.bridge.safetensors"));
    lw_bridge_fit_files_params p = lw_bridge_fit_files_default_params();
    p.source = a, p.source_tensor = "layer.3", p.target = b, p.target_tensor = "layer.3", p.out = out;
    p.bridge.alpha = 0.1;
    p.on_note = keep_note;
    notes[0] = '\0';
    lw_bridge_fit_files_result r;
    assert_int_equal(lw_bridge_fit_files(&p, &r), 0);
    assert_int_equal(r.n_paired, 8);
    assert_int_equal(r.d_source, 6);
    assert_int_equal(r.d_target, 4);
    assert_non_null(strstr(notes, "the fit pairs 8 rows; 1 of"));
    assert_non_null(strstr(notes, "extracted from different texts"));

    /* the same bridge as lw_bridge_fit on the rows joined by hand */
    lw_act_tensor A, B;
    assert_int_equal(lw_act_open(a, "layer.3", &A), 0);
    assert_int_equal(lw_act_open(b, "layer.3", &B), 0);
    float X[8 * 6], Y[8 * 4];
    int k = 0;
    for (int i = 0; i < 9; i++)
        for (int j = 0; j < 11; j++)
            if (ida[i] == idb[j]) {
                memcpy(X + k * 6, A.x + i * 6, sizeof(float) * 6);
                memcpy(Y + k * 4, B.x + j * 4, sizeof(float) * 4);
                k++;
            }
    assert_int_equal(k, 8);
    lw_bridge *want = lw_bridge_fit(X, Y, 8, 6, 4, &p.bridge);
    assert_non_null(want);
    float za[8 * 4], zb[8 * 4];
    assert_int_equal(lw_bridge_apply_source(r.bridge, X, 8, za), 0);
    assert_int_equal(lw_bridge_apply_source(want, X, 8, zb), 0);
    assert_memory_equal(za, zb, sizeof za);
    lw_bridge_free(r.bridge);

    /* where it was fitted, in the saved file's record */
    lw_bridge *saved = lw_bridge_load(out);
    assert_non_null(saved);
    json_t *rec = record(saved);
    assert_string_equal(json_string_value(json_object_get(rec, "source_tensor")), "layer.3");
    assert_string_equal(json_string_value(json_object_get(rec, "source_model_sha256")), SHA_A);
    assert_string_equal(json_string_value(json_object_get(rec, "target_model_sha256")), SHA_B);
    assert_string_equal(json_string_value(json_object_get(rec, "target_pool")), "mean");
    assert_string_equal(json_string_value(json_object_get(rec, "paired_by")), "row_id");
    char *ranges = json_dumps(json_object_get(rec, "calibration_row_ids"), JSON_COMPACT);
    assert_string_equal(ranges, "[[0,2],[5,9]]");
    free(ranges);
    json_decref(rec);
    assert_int_equal(lw_bridge_check_fit(saved, "source", "layer.3", SHA_A, "mean"), 0);
    REFUSED(lw_bridge_check_fit(saved, "source", "layer.3", SHA_B, "mean"), "another source model");
    lw_bridge_free(saved);

    /* an output that is an input: refused before anything is read, the input unchanged */
    char *before = lw_test_read_file(a);
    p.out = a;
    REFUSED(lw_bridge_fit_files(&p, &r), "--out");
    assert_null(r.bridge);
    char *after = lw_test_read_file(a);
    assert_string_equal(before, after); /* safetensors start with a length; compared as text up to a NUL */
    free(before), free(after);
    /* fewer than 2 shared ids */
    const int64_t far[] = {100, 101};
    p.target = act_file("bf_far.safetensors", far, 2, 4, 3, NULL);
    p.out = NULL;
    REFUSED(lw_bridge_fit_files(&p, &r), "share 0 row ids");
    /* a file without metadata is said to leave the bridge unchecked */
    const int64_t ids9[] = {0, 1, 2, 5, 6, 7, 8, 9, 20};
    p.target = act_file("bf_bare.safetensors", ids9, 9, 4, 4, NULL);
    notes[0] = '\0';
    lw_bridge_fit_files_result r2;
    assert_int_equal(lw_bridge_fit_files(&p, &r2), 0);
    assert_non_null(strstr(notes, "records no target model or pooling"));
    assert_null(strstr(notes, "left out"));
    lw_bridge_free(r2.bridge);
    REFUSED(lw_bridge_fit_files(NULL, &r2), "no parameters");
    REFUSED(lw_bridge_fit_files(&p, NULL), "no result");

    lw_bridge_free(want);
    lw_act_close(&A);
    lw_act_close(&B);
}

static void test_apply_file(void **state) {
    (void)state;
    const int64_t ida[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    const char *meta = "{\"model_sha256\": \"" SHA_A "\", \"pool\": \"mean\"}";
    const char *a = act_file("ba_a.safetensors", ida, 10, 6, 5, meta);
    const char *b = act_file("ba_b.safetensors", ida, 10, 4, 6, "{\"model_sha256\": \"" SHA_B "\", \"pool\": \"mean\"}");
    char bridge[4096], mapped[4096];
    snprintf(bridge, sizeof bridge, "%s", lw_test_tmpfile("ba.bridge.safetensors"));
    snprintf(mapped, sizeof mapped, "%s", lw_test_tmpfile("ba.mapped.safetensors"));
    lw_bridge_fit_files_params fp = lw_bridge_fit_files_default_params();
    fp.source = a, fp.source_tensor = "layer.3", fp.target = b, fp.target_tensor = "layer.3", fp.out = bridge;
    lw_bridge_fit_files_result fr;
    assert_int_equal(lw_bridge_fit_files(&fp, &fr), 0);

    lw_bridge_apply_file_params p = {.bridge = bridge, .input = a, .tensor = "layer.3", .out = mapped};
    int64_t n;
    int dim;
    assert_int_equal(lw_bridge_apply_file(&p, &n, &dim), 0);
    assert_int_equal(n, 10);
    assert_int_equal(dim, lw_bridge_out_dim(fr.bridge));
    lw_act_tensor A, M;
    assert_int_equal(lw_act_open(a, "layer.3", &A), 0);
    assert_int_equal(lw_act_open(mapped, "mapped", &M), 0);
    float *want = malloc(sizeof *want * 10 * (size_t)dim);
    assert_int_equal(lw_bridge_apply_source(fr.bridge, A.x, 10, want), 0);
    assert_memory_equal(M.x, want, sizeof *want * 10 * (size_t)dim);
    assert_memory_equal(M.row_id, ida, sizeof ida);
    free(want);
    lw_act_close(&M);
    lw_act_close(&A);

    /* refusals, each leaving no output */
    char fresh[4096];
    snprintf(fresh, sizeof fresh, "%s", lw_test_tmpfile("ba.refused.safetensors"));
    p.out = fresh;
    p.target_side = true; /* A's rows are 6 wide, the target side 4 */
    REFUSED(lw_bridge_apply_file(&p, &n, &dim), "has width 6 but the bridge's target side has width 4");
    p.target_side = false;
    p.input = act_file("ba_last.safetensors", ida, 10, 6, 7, "{\"model_sha256\": \"" SHA_A "\", \"pool\": \"last\"}");
    REFUSED(lw_bridge_apply_file(&p, &n, &dim), "pool");
    p.input = act_file("ba_other.safetensors", ida, 10, 6, 7, "{\"model_sha256\": \"" SHA_B "\", \"pool\": \"mean\"}");
    REFUSED(lw_bridge_apply_file(&p, &n, &dim), "another source model");
    p.input = act_file("ba_empty.safetensors", ida, 0, 6, 7, meta);
    REFUSED(lw_bridge_apply_file(&p, &n, &dim), "no rows");
    assert_false(lw_test_file_exists(fresh));
    p.input = a, p.out = a;
    REFUSED(lw_bridge_apply_file(&p, &n, &dim), "--out");
    p.out = bridge;
    REFUSED(lw_bridge_apply_file(&p, &n, &dim), "--out");
    REFUSED(lw_bridge_apply_file(NULL, &n, &dim), "no parameters");
    /* a bare input is mapped, and said to be unchecked */
    p.input = act_file("ba_bare.safetensors", ida, 10, 6, 8, NULL), p.out = fresh, p.on_note = keep_note;
    notes[0] = '\0';
    assert_int_equal(lw_bridge_apply_file(&p, NULL, NULL), 0);
    assert_non_null(strstr(notes, "were not checked against the bridge's fit"));
    lw_bridge_free(fr.bridge);
}

/* The rows at fault: a NaN or infinity is named by option, file and row_id (the fit and the map
 * named a row of the joined, reordered rows: "X row 0"), and nothing is written; a path that is
 * not UTF-8 is not recorded, where apply failed its save after the work. */
static void test_bad_rows_and_paths(void **state) {
    (void)state;
    const int d = 4, n = 12;
    int64_t ids[12], rev[12];
    for (int i = 0; i < n; i++) ids[i] = 50 + i, rev[i] = 50 + n - 1 - i;
    const char *src = act_file("bad_src.safetensors", ids, n, d, 1, NULL);
    /* the target's rows in reverse order, its row_id 60 (row 1) not finite */
    float *x = malloc(sizeof *x * (size_t)n * d);
    for (int i = 0; i < n * d; i++) x[i] = (float)((i * 37) % 11) - 5.0f;
    x[1 * d + 2] = NAN;
    lw_st_tensor_in t[2] = {{.name = "layer.3", .dtype = LW_DT_F32, .n_dims = 2, .shape = {n, d}, .data = x},
                            {.name = "row_id", .dtype = LW_DT_I64, .n_dims = 1, .shape = {n}, .data = rev}};
    char bad[4096], out[4096];
    snprintf(bad, sizeof bad, "%s", lw_test_tmpfile("bad_tgt.safetensors"));
    assert_int_equal(lw_st_save(bad, t, 2, NULL, 0), 0);
    snprintf(out, sizeof out, "%s", lw_test_tmpfile("bad.bridge.safetensors"));
    remove(out);
    lw_bridge_fit_files_params p = lw_bridge_fit_files_default_params();
    p.source = src, p.target = bad, p.source_tensor = p.target_tensor = "layer.3", p.out = out;
    lw_bridge_fit_files_result r;
    REFUSED(lw_bridge_fit_files(&p, &r), "--target");
    failed_with("fit", "bad_tgt.safetensors: tensor \"layer.3\" row 1 (row_id 60) column 2 is NaN");
    assert_false(lw_test_file_exists(out));
    assert_null(r.bridge);

    /* apply: the fitted bridge on the bad rows, as its target side */
    p.source = bad, p.target = src;
    REFUSED(lw_bridge_fit_files(&p, &r), "--source");
    failed_with("fit", "row_id 60");
    p.source = src;
    x[1 * d + 2] = INFINITY;
    assert_int_equal(lw_st_save(bad, t, 2, NULL, 0), 0);
    const char *good = act_file("good_tgt.safetensors", ids, n, d, 2, NULL);
    p.target = good;
    assert_int_equal(lw_bridge_fit_files(&p, &r), 0);
    lw_bridge_free(r.bridge);
    char mapped[4096];
    snprintf(mapped, sizeof mapped, "%s", lw_test_tmpfile("bad.mapped.safetensors"));
    remove(mapped);
    lw_bridge_apply_file_params ap = {.bridge = out, .input = bad, .tensor = "layer.3", .out = mapped};
    int64_t rows;
    REFUSED(lw_bridge_apply_file(&ap, &rows, NULL), "bridge apply: --input");
    failed_with("apply", "row 1 (row_id 60) column 2 is infinite");
    assert_false(lw_test_file_exists(mapped));

    /* paths that are not UTF-8 (a Latin-1 file name): mapped, the paths left out of the metadata */
    char latin[4096];
    snprintf(latin, sizeof latin, "%s", lw_test_tmpfile("br\xfc" "cke.safetensors"));
    FILE *f = fopen(out, "rb"), *g = fopen(latin, "wb");
    assert_non_null(f), assert_non_null(g);
    for (int ch; (ch = fgetc(f)) != EOF;) fputc(ch, g);
    fclose(f), fclose(g);
    ap.bridge = latin, ap.input = good;
    if (lw_bridge_apply_file(&ap, &rows, NULL) != 0) fail_msg("apply: %s", lw_last_error());
    assert_int_equal(rows, n);
    lw_act_tensor m;
    assert_int_equal(lw_act_open(mapped, "mapped", &m), 0);
    assert_int_equal(m.n, n);
    lw_act_close(&m);
    remove(latin), remove(mapped);
    free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_files),
        cmocka_unit_test(test_apply_file),
        cmocka_unit_test(test_bad_rows_and_paths),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
