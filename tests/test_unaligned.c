/* Safetensors files whose tensor bytes are not aligned for their dtype: a header length that
 * is not a multiple of 8 (MLX writes such files) and a 3-byte U8 tensor placed first. The
 * files are written byte by byte here (our writer always aligns), then read through every
 * path: the library reader, `inspect`, `bridge fit`, `bridge apply` and `retrieval`. Under
 * UBSan a typed load through a misaligned pointer halts the CLI with a report. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/bridge.h"
#include "latentwire/safetensors.h"
#include "support/testutil.h"

enum { N = 16, D = 4 };

static float XS[N * D], XT[N * D];
static int64_t IDS[N];
static char ODD_HEADER[1200], U8_FIRST[1200];

/* Writes [u64 header length][header JSON, unpadded][data] exactly as given. */
static void write_raw(const char *path, const char *header, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t hl = strlen(header);
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(hl >> (8 * i));
    assert_int_equal(fwrite(le, 1, 8, f), 8);
    assert_int_equal(fwrite(header, 1, hl, f), hl);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state) {
    (void)state;
    for (int i = 0; i < N; i++) {
        IDS[i] = 100 + i;
        for (int j = 0; j < D; j++) {
            XS[i * D + j] = (float)sin(1.0 + i * 0.7 + j * 1.3) * (1.0f + j);
            XT[i * D + j] = 0.5f * XS[i * D + j] - 0.25f * XS[i * D + (j + 1) % D] + 0.125f * (float)(j + 1);
        }
    }
    /* 1: the header's length is 8k + 5, so every tensor starts at an odd address */
    snprintf(ODD_HEADER, sizeof ODD_HEADER, "%s", lw_test_tmpfile("odd_header.safetensors"));
    char header[512];
    int hl = snprintf(header, sizeof header,
                      "{\"x\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[0,%d]},"
                      "\"row_id\":{\"dtype\":\"I64\",\"shape\":[%d],\"data_offsets\":[%d,%d]}}",
                      N, D, N * D * 4, N, N * D * 4, N * D * 4 + N * 8);
    while ((hl + 8) % 8 != 5) header[hl++] = ' ', header[hl] = '\0';
    uint8_t blob[N * D * 4 + N * 8 + 3];
    memcpy(blob, XS, sizeof XS);
    memcpy(blob + sizeof XS, IDS, sizeof IDS);
    write_raw(ODD_HEADER, header, blob, sizeof XS + sizeof IDS);
    /* 2: a padded header, but a 3-byte U8 tensor first shifts the others by 3 */
    snprintf(U8_FIRST, sizeof U8_FIRST, "%s", lw_test_tmpfile("u8_first.safetensors"));
    hl = snprintf(header, sizeof header,
                  "{\"flag\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
                  "\"x\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[3,%d]},"
                  "\"row_id\":{\"dtype\":\"I64\",\"shape\":[%d],\"data_offsets\":[%d,%d]}}",
                  N, D, 3 + N * D * 4, N, 3 + N * D * 4, 3 + N * D * 4 + N * 8);
    while ((hl + 8) % 8 != 0) header[hl++] = ' ', header[hl] = '\0';
    blob[0] = 7, blob[1] = 8, blob[2] = 9;
    memcpy(blob + 3, XT, sizeof XT);
    memcpy(blob + 3 + sizeof XT, IDS, sizeof IDS);
    write_raw(U8_FIRST, header, blob, sizeof blob);
    return 0;
}

/* The tensor `name` of path: aligned for its dtype and holding exactly the written bytes. */
static void check_tensor(const lw_st_file *f, const char *name, const void *want, size_t n_bytes, size_t align) {
    const lw_st_tensor *t = lw_st_find(f, name);
    assert_non_null(t);
    assert_int_equal(t->n_bytes, n_bytes);
    if ((uintptr_t)t->data % align != 0) fail_msg("tensor %s at %p is not %zu-byte aligned", name, t->data, align);
    assert_memory_equal(t->data, want, n_bytes);
}

static void test_library_reads_aligned_copies(void **state) {
    (void)state;
    lw_st_file *f = lw_st_open(ODD_HEADER);
    assert_non_null(f);
    check_tensor(f, "x", XS, sizeof XS, 4);
    check_tensor(f, "row_id", IDS, sizeof IDS, 8);
    lw_st_close(f);
    f = lw_st_open(U8_FIRST);
    assert_non_null(f);
    check_tensor(f, "flag", (const uint8_t[]){7, 8, 9}, 3, 1);
    check_tensor(f, "x", XT, sizeof XT, 4);
    check_tensor(f, "row_id", IDS, sizeof IDS, 8);
    lw_st_close(f);
}

/* A CLI run that must succeed without a sanitizer report; returns its stdout. */
static char *run_clean(const char *args) {
    char *o, *e;
    int rc = lw_test_run_cli(args, &o, &e);
    if (rc != 0 || strstr(e, "runtime error") || strstr(e, "Sanitizer"))
        fail_msg("`latentwire %s`: exit %d, stderr: %s", args, rc, e);
    free(e);
    return o;
}

/* inspect prints each F32 matrix's row L2 norms: recomputed here from the written values. */
static void test_inspect(void **state) {
    (void)state;
    double mean = 0, mn = INFINITY, mx = 0;
    for (int i = 0; i < N; i++) {
        double ss = 0;
        for (int j = 0; j < D; j++) ss += (double)XS[i * D + j] * XS[i * D + j];
        double r = sqrt(ss);
        mean += r / N;
        mn = r < mn ? r : mn;
        mx = r > mx ? r : mx;
    }
    char want[256], args[1400];
    snprintf(want, sizeof want, "row L2 norm mean %.4g  min %.4g  max %.4g", mean, mn, mx);
    snprintf(args, sizeof args, "inspect %s", ODD_HEADER);
    char *out = run_clean(args);
    if (!strstr(out, want)) fail_msg("inspect printed:\n%sexpected \"%s\"", out, want);
    free(out);
    snprintf(args, sizeof args, "inspect %s", U8_FIRST);
    free(run_clean(args));
}

/* fit and apply from the misaligned files give what the library gives on the same values
 * held in ordinary (aligned) arrays. */
static void test_bridge_fit_apply_retrieval(void **state) {
    (void)state;
    const char *br = lw_test_tmpfile("unaligned.bridge.safetensors");
    char args[8192];
    snprintf(args, sizeof args,
             "bridge fit --source %s --source-tensor x --target %s --target-tensor x --alpha 0.01 --out %s", ODD_HEADER,
             U8_FIRST, br);
    free(run_clean(args));
    lw_bridge_params bp = lw_bridge_default_params();
    bp.alpha = 0.01;
    lw_bridge *ref = lw_bridge_fit(XS, XT, N, D, D, &bp), *got = lw_bridge_load(br);
    assert_non_null(ref);
    assert_non_null(got);
    int dim = lw_bridge_out_dim(ref);
    assert_int_equal(lw_bridge_out_dim(got), dim);
    float *want = malloc(sizeof(float) * N * dim), *z = malloc(sizeof(float) * N * dim);
    assert_int_equal(lw_bridge_apply_source(ref, XS, N, want), 0);
    assert_int_equal(lw_bridge_apply_source(got, XS, N, z), 0);
    assert_true(lw_test_max_abs_diff(z, want, (size_t)N * dim) < 1e-5);

    /* apply reads the misaligned input file */
    const char *mapped = lw_test_tmpfile("unaligned.mapped.safetensors");
    snprintf(args, sizeof args, "bridge apply --bridge %s --input %s --tensor x --out %s", br, ODD_HEADER, mapped);
    free(run_clean(args));
    lw_st_file *f = lw_st_open(mapped);
    assert_non_null(f);
    const lw_st_tensor *t = lw_st_find(f, "mapped");
    assert_non_null(t);
    assert_int_equal(t->n_bytes, sizeof(float) * N * dim);
    assert_true(lw_test_max_abs_diff(t->data, z, (size_t)N * dim) < 1e-6);
    assert_memory_equal(lw_st_find(f, "row_id")->data, IDS, sizeof IDS);
    lw_st_close(f);

    /* retrieval over both misaligned files (row ids, rows and the bridge's map) */
    snprintf(args, sizeof args,
             "retrieval --queries %s --query-tensor x --candidates %s --candidate-tensor x --bridge %s --resamples 100",
             ODD_HEADER, U8_FIRST, br);
    char *out = run_clean(args);
    assert_non_null(strstr(out, "16 queries, 16 candidates"));
    free(out);
    free(want);
    free(z);
    lw_bridge_free(ref);
    lw_bridge_free(got);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_reads_aligned_copies),
        cmocka_unit_test(test_inspect),
        cmocka_unit_test(test_bridge_fit_apply_retrieval),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, NULL));
}
