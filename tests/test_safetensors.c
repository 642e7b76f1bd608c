/* Safetensors writer and reader: layout pinned byte for byte, round trips, streaming,
 * writer misuse, and a reader that rejects every kind of corrupt input without crashing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "latentwire/error.h"
#include "latentwire/safetensors.h"
#include "support/testutil.h"

/* ------------------------------------------------------------------ helpers ---- */

static void write_bytes(const char *path, const void *buf, size_t len) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* An exact-size heap copy, so ASan flags any read past the end of the input. */
static uint8_t *heap_copy(const void *src, size_t len) {
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    if (len) memcpy(p, src, len);
    return p;
}

/* A file image: 8-byte LE length, the header text verbatim, then data_len bytes (0x5A). */
static uint8_t *make_image(const char *header, size_t data_len, size_t *len) {
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    uint8_t *p = malloc(*len);
    assert_non_null(p);
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(p + 8, header, h);
    memset(p + 8 + h, 0x5A, data_len);
    return p;
}

/* The header must be rejected with an error containing `expect` (and the label). */
static void expect_reject(const char *header, size_t data_len, const char *expect) {
    size_t len;
    uint8_t *img = make_image(header, data_len, &len);
    lw_clear_error();
    lw_st_file *f = lw_st_parse(img, len, "bad.safetensors");
    if (f || !strstr(lw_last_error(), expect) || strncmp(lw_last_error(), "bad.safetensors: ", 17) != 0) {
        fprintf(stderr, "header: %s\nexpected error containing: %s\ngot: %s (file %s)\n", header, expect,
                lw_last_error(), f ? "accepted" : "rejected");
        fail();
    }
    free(img);
}

static void expect_accept(const char *header, size_t data_len, int n_tensors) {
    size_t len;
    uint8_t *img = make_image(header, data_len, &len);
    lw_st_file *f = lw_st_parse(img, len, "ok.safetensors");
    if (!f) fprintf(stderr, "header: %s\nunexpected error: %s\n", header, lw_last_error());
    assert_non_null(f);
    assert_int_equal(lw_st_count(f), n_tensors);
    lw_st_close(f);
    free(img);
}

/* Deterministic PRNG for the data and the mini-fuzz. */
static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Reads every byte a tensor claims, so ASan sees any out-of-bounds pointer. */
static unsigned touch(const lw_st_file *f) {
    unsigned sum = 0;
    for (int i = 0; i < lw_st_count(f); i++) {
        const lw_st_tensor *t = lw_st_get(f, i);
        for (size_t j = 0; j < t->n_bytes; j++) sum += ((const uint8_t *)t->data)[j];
        assert_ptr_equal(lw_st_find(f, t->name), t);
    }
    for (int i = 0; i < lw_st_meta_count(f); i++) sum += (unsigned)strlen(lw_st_meta(f, lw_st_meta_key(f, i)));
    return sum;
}

/* ------------------------------------------------------------------- dtypes ---- */

static void test_dtypes(void **state) {
    (void)state;
    static const char *names[] = {"F32", "F64", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"};
    static const size_t sizes[] = {4, 8, 2, 2, 8, 4, 2, 1, 1, 1};
    for (int i = 0; i < 10; i++) {
        assert_string_equal(lw_dtype_name((lw_dtype)i), names[i]);
        assert_int_equal(lw_dtype_size((lw_dtype)i), sizes[i]);
        assert_int_equal(lw_dtype_from_name(names[i]), i);
    }
    assert_int_equal(lw_dtype_from_name("f32"), -1);
    assert_int_equal(lw_dtype_from_name("U16"), -1);
    assert_int_equal(lw_dtype_from_name(NULL), -1);
    assert_int_equal(lw_dtype_size((lw_dtype)99), 0);
    assert_null(lw_dtype_name((lw_dtype)-1));
}

/* -------------------------------------------------------------- byte layout ---- */

static void test_byte_exact(void **state) {
    (void)state;
    const char *path = lw_test_tmpfile("exact.safetensors");
    const float a[2] = {1.0f, 2.0f};
    const uint8_t b[3] = {1, 2, 3};
    lw_st_tensor_in t[2] = {
        {.name = "a", .dtype = LW_DT_F32, .n_dims = 1, .shape = {2}, .data = a},
        {.name = "b", .dtype = LW_DT_U8, .n_dims = 1, .shape = {3}, .data = b},
    };
    const char *meta[] = {"k", "v"};
    assert_int_equal(lw_st_save(path, t, 2, meta, 1), 0);

    /* 132 bytes of JSON padded with 4 spaces to N = 136 (0x88): 8 + 136 = 144 = 18 * 8. */
    static const char expected_json[] =
        "{\"__metadata__\":{\"k\":\"v\"},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[8,11]}}    ";
    static const uint8_t expected_len[8] = {0x88, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t expected_data[11] = {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40, 1, 2, 3};
    assert_int_equal(sizeof expected_json - 1, 136);
    uint8_t expected[8 + 136 + 11];
    memcpy(expected, expected_len, 8);
    memcpy(expected + 8, expected_json, 136);
    memcpy(expected + 144, expected_data, 11);

    size_t len;
    char *got = lw_read_file(path, &len);
    assert_non_null(got);
    assert_int_equal(len, sizeof expected);
    assert_memory_equal(got, expected, sizeof expected);
    free(got);
}

static void test_empty_file_layout(void **state) {
    (void)state;
    /* No tensors, no metadata: "{}" padded to 8 bytes. */
    const char *path = lw_test_tmpfile("empty.safetensors");
    assert_int_equal(lw_st_save(path, NULL, 0, NULL, 0), 0);
    size_t len;
    char *got = lw_read_file(path, &len);
    assert_non_null(got);
    assert_int_equal(len, 16);
    assert_memory_equal(got, "\x08\0\0\0\0\0\0\0{}      ", 16);
    free(got);
    lw_st_file *f = lw_st_open(path);
    assert_non_null(f);
    assert_int_equal(lw_st_count(f), 0);
    assert_int_equal(lw_st_meta_count(f), 0);
    assert_null(lw_st_get(f, 0));
    assert_null(lw_st_find(f, "x"));
    assert_null(lw_st_meta(f, "x"));
    lw_st_close(f);
}

/* --------------------------------------------------------------- round trip ---- */

#define N_RT 12
static void test_round_trip(void **state) {
    (void)state;
    const char *path = lw_test_tmpfile("rt.safetensors");
    struct {
        const char *name;
        lw_dtype dt;
        int n_dims;
        int64_t shape[LW_ST_MAX_DIMS];
    } spec[N_RT] = {
        {"f32.mat", LW_DT_F32, 2, {3, 4}},      {"f64.vec", LW_DT_F64, 1, {2}},
        {"f16.empty", LW_DT_F16, 2, {0, 5}},    {"bf16", LW_DT_BF16, 2, {2, 3}},
        {"i64", LW_DT_I64, 1, {3}},             {"i32.3d", LW_DT_I32, 3, {1, 1, 2}},
        {"u8.odd", LW_DT_U8, 1, {7}},           {"i16", LW_DT_I16, 1, {2}},
        {"i8", LW_DT_I8, 1, {5}},               {"bool", LW_DT_BOOL, 1, {3}},
        {"scalar", LW_DT_F32, 0, {0}},          {"eight.dims", LW_DT_U8, 8, {1, 2, 1, 2, 1, 2, 1, 2}},
    };
    lw_st_tensor_in in[N_RT];
    uint8_t *bufs[N_RT];
    for (int i = 0; i < N_RT; i++) {
        size_t nb = lw_dtype_size(spec[i].dt);
        for (int d = 0; d < spec[i].n_dims; d++) nb *= (size_t)spec[i].shape[d];
        bufs[i] = malloc(nb + 1);
        for (size_t j = 0; j < nb; j++) bufs[i][j] = (uint8_t)rng();
        in[i] = (lw_st_tensor_in){.name = spec[i].name, .dtype = spec[i].dt, .n_dims = spec[i].n_dims, .data = bufs[i]};
        memcpy(in[i].shape, spec[i].shape, sizeof in[i].shape);
    }
    const char *meta[] = {"format", "latentwire.acts/1", "config", "{\"layers\": [1, 2], \"name\": \"\xc3\xa9t\xc3\xa9\"}",
                          "empty", ""};
    assert_int_equal(lw_st_save(path, in, N_RT, meta, 3), 0);

    lw_st_file *f = lw_st_open(path);
    if (!f) fprintf(stderr, "%s\n", lw_last_error());
    assert_non_null(f);
    assert_int_equal(lw_st_count(f), N_RT);
    /* File order is ascending offset = declaration order for our writer (the 0-byte
     * tensor shares its offset with the next one and sorts first). */
    for (int i = 0; i < N_RT; i++) {
        const lw_st_tensor *t = lw_st_find(f, spec[i].name);
        assert_non_null(t);
        assert_ptr_equal(lw_st_get(f, i), t);
        assert_string_equal(t->name, spec[i].name);
        assert_int_equal(t->dtype, spec[i].dt);
        assert_int_equal(t->n_dims, spec[i].n_dims);
        size_t nb = lw_dtype_size(spec[i].dt);
        for (int d = 0; d < spec[i].n_dims; d++) {
            assert_int_equal(t->shape[d], spec[i].shape[d]);
            nb *= (size_t)spec[i].shape[d];
        }
        assert_int_equal(t->n_bytes, nb);
        if (nb) assert_memory_equal(t->data, bufs[i], nb);
    }
    assert_null(lw_st_find(f, "missing"));
    assert_null(lw_st_get(f, N_RT));
    assert_null(lw_st_get(f, -1));
    assert_int_equal(lw_st_meta_count(f), 3);
    assert_string_equal(lw_st_meta_key(f, 0), "format");
    assert_string_equal(lw_st_meta(f, "format"), "latentwire.acts/1");
    assert_string_equal(lw_st_meta(f, "config"), meta[3]);
    assert_string_equal(lw_st_meta(f, "empty"), "");
    assert_null(lw_st_meta(f, "nope"));
    assert_null(lw_st_meta_key(f, 3));
    lw_st_close(f);
    for (int i = 0; i < N_RT; i++) free(bufs[i]);
}

/* ---------------------------------------------------------------- streaming ---- */

static void test_streaming_odd_chunks(void **state) {
    (void)state;
    const char *ref_path = lw_test_tmpfile("stream_ref.safetensors");
    const char *path = lw_test_tmpfile("stream.safetensors");
    float a[5 * 7];
    uint8_t b[13];
    int64_t c[3 * 3];
    for (int i = 0; i < 35; i++) a[i] = (float)i * 0.5f - 3.0f;
    for (int i = 0; i < 13; i++) b[i] = (uint8_t)(200 + i);
    for (int i = 0; i < 9; i++) c[i] = -((int64_t)1 << 40) + i;
    lw_st_tensor_in in[3] = {
        {.name = "a", .dtype = LW_DT_F32, .n_dims = 2, .shape = {5, 7}, .data = a},
        {.name = "b", .dtype = LW_DT_U8, .n_dims = 1, .shape = {13}, .data = b},
        {.name = "c", .dtype = LW_DT_I64, .n_dims = 2, .shape = {3, 3}, .data = c},
    };
    const char *meta[] = {"m", "1"};
    assert_int_equal(lw_st_save(ref_path, in, 3, meta, 1), 0);

    /* The same bytes, streamed in chunks of 1, 3, 7, 13, ... that straddle tensor ends. */
    uint8_t all[sizeof a + sizeof b + sizeof c];
    memcpy(all, a, sizeof a);
    memcpy(all + sizeof a, b, sizeof b);
    memcpy(all + sizeof a + sizeof b, c, sizeof c);
    lw_st_writer *w = lw_st_writer_new(path);
    assert_non_null(w);
    assert_int_equal(lw_st_writer_set_meta(w, "m", "1"), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(lw_st_writer_add(w, in[i].name, in[i].dtype, in[i].n_dims, in[i].shape), 0);
    static const size_t chunks[] = {1, 3, 7, 13, 0, 29, 2};
    size_t off = 0;
    for (int k = 0; off < sizeof all; k++) {
        size_t n = chunks[k % 7];
        if (n > sizeof all - off) n = sizeof all - off;
        assert_int_equal(lw_st_writer_write(w, all + off, n), 0);
        off += n;
    }
    assert_false(lw_test_file_exists(path)); /* not visible before finish */
    assert_int_equal(lw_st_writer_finish(w), 0);
    lw_st_writer_free(w);

    size_t l1, l2;
    char *r1 = lw_read_file(ref_path, &l1), *r2 = lw_read_file(path, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(r1, r2, l1);
    free(r1);
    free(r2);

    lw_st_file *f = lw_st_open(path);
    assert_non_null(f);
    assert_memory_equal(lw_st_find(f, "c")->data, c, sizeof c);
    lw_st_close(f);
}

/* Metadata set after data went out must still land in the file (the writer rewrites). */
static void test_late_metadata(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("late_meta");
    const char *path = lw_test_join(dir, "late.safetensors");
    const char *ref = lw_test_join(dir, "ref.safetensors");
    float x[6] = {1, 2, 3, 4, 5, 6};
    lw_st_tensor_in in = {.name = "x", .dtype = LW_DT_F32, .n_dims = 2, .shape = {2, 3}, .data = x};
    const char *meta[] = {"early", "1", "late", "a much longer value that changes the header length"};
    assert_int_equal(lw_st_save(ref, &in, 1, meta, 2), 0);

    lw_st_writer *w = lw_st_writer_new(path);
    assert_non_null(w);
    assert_int_equal(lw_st_writer_set_meta(w, "early", "1"), 0);
    assert_int_equal(lw_st_writer_add(w, "x", LW_DT_F32, 2, in.shape), 0);
    assert_int_equal(lw_st_writer_write(w, x, 10), 0);
    assert_int_equal(lw_st_writer_set_meta(w, "late", meta[3]), 0);
    assert_int_equal(lw_st_writer_write(w, (const char *)x + 10, sizeof x - 10), 0);
    assert_int_equal(lw_st_writer_finish(w), 0);
    lw_st_writer_free(w);

    size_t l1, l2;
    char *r1 = lw_read_file(ref, &l1), *r2 = lw_read_file(path, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(r1, r2, l1);
    free(r1);
    free(r2);
    assert_int_equal(lw_test_dir_entries(dir), 2); /* no temp files left behind */
}

/* ------------------------------------------------------------ writer errors ---- */

static void test_writer_too_many_bytes(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("w_more");
    const char *path = lw_test_join(dir, "out.safetensors");
    lw_st_writer *w = lw_st_writer_new(path);
    assert_non_null(w);
    int64_t shape[1] = {3};
    assert_int_equal(lw_st_writer_add(w, "t", LW_DT_F32, 1, shape), 0);
    uint8_t buf[16] = {0};
    assert_int_equal(lw_st_writer_write(w, buf, 8), 0);
    assert_int_equal(lw_st_writer_write(w, buf, 5), -1);
    assert_non_null(strstr(lw_last_error(), "out.safetensors"));
    assert_non_null(strstr(lw_last_error(), "past the declared"));
    assert_int_equal(lw_st_writer_finish(w), -1);
    lw_st_writer_free(w);
    assert_false(lw_test_file_exists(path));
    assert_int_equal(lw_test_dir_entries(dir), 0);
}

static void test_writer_too_few_bytes(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("w_less");
    const char *path = lw_test_join(dir, "out.safetensors");
    lw_st_writer *w = lw_st_writer_new(path);
    assert_non_null(w);
    int64_t s1[2] = {2, 2}, s2[1] = {4};
    assert_int_equal(lw_st_writer_add(w, "first", LW_DT_F32, 2, s1), 0);
    assert_int_equal(lw_st_writer_add(w, "second", LW_DT_I16, 1, s2), 0);
    uint8_t buf[20] = {0};
    assert_int_equal(lw_st_writer_write(w, buf, 20), 0);
    assert_int_equal(lw_st_writer_finish(w), -1);
    assert_non_null(strstr(lw_last_error(), "tensor \"second\" incomplete: 4 of 8 bytes"));
    /* The temp file is gone as soon as finish fails, not only after free. */
    assert_int_equal(lw_test_dir_entries(dir), 0);
    lw_st_writer_free(w);
    assert_false(lw_test_file_exists(path));
    assert_int_equal(lw_test_dir_entries(dir), 0);

    /* Nothing written at all, tensors declared. */
    w = lw_st_writer_new(path);
    assert_int_equal(lw_st_writer_add(w, "first", LW_DT_F32, 2, s1), 0);
    assert_int_equal(lw_st_writer_finish(w), -1);
    assert_non_null(strstr(lw_last_error(), "tensor \"first\" incomplete: 0 of 16 bytes"));
    lw_st_writer_free(w);
    assert_int_equal(lw_test_dir_entries(dir), 0);
}

static void test_writer_misuse(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("w_misuse");
    const char *path = lw_test_join(dir, "out.safetensors");
    lw_st_writer *w = lw_st_writer_new(path);
    assert_non_null(w);
    int64_t ok[2] = {2, 2}, neg[2] = {2, -1}, huge[3] = {INT64_C(1) << 32, INT64_C(1) << 32, 16};
    assert_int_equal(lw_st_writer_add(w, "t", LW_DT_F32, 2, neg), -1);
    assert_non_null(strstr(lw_last_error(), "shape[1] = -1"));
    assert_int_equal(lw_st_writer_add(w, "t", LW_DT_F32, 3, huge), -1);
    assert_non_null(strstr(lw_last_error(), "overflows"));
    assert_int_equal(lw_st_writer_add(w, "t", LW_DT_F32, LW_ST_MAX_DIMS + 1, ok), -1);
    assert_int_equal(lw_st_writer_add(w, "t", LW_DT_F32, -1, ok), -1);
    assert_int_equal(lw_st_writer_add(w, "t", (lw_dtype)42, 2, ok), -1);
    assert_int_equal(lw_st_writer_add(w, "", LW_DT_F32, 2, ok), -1);
    assert_int_equal(lw_st_writer_add(w, "__metadata__", LW_DT_F32, 2, ok), -1);
    assert_int_equal(lw_st_writer_add(w, "bad\xff", LW_DT_F32, 2, ok), -1);
    assert_int_equal(lw_st_writer_set_meta(w, "k", "bad\xc3"), -1);
    assert_int_equal(lw_st_writer_add(w, "t", LW_DT_F32, 2, ok), 0);
    assert_int_equal(lw_st_writer_add(w, "t", LW_DT_F32, 2, ok), -1);
    assert_non_null(strstr(lw_last_error(), "declared twice"));
    assert_int_equal(lw_st_writer_write(w, ok, 8), 0);
    assert_int_equal(lw_st_writer_add(w, "late", LW_DT_F32, 2, ok), -1);
    assert_non_null(strstr(lw_last_error(), "after data was written"));
    assert_int_equal(lw_st_writer_write(w, NULL, 4), -1);
    float rest[2] = {0};
    assert_int_equal(lw_st_writer_write(w, rest, 8), 0);
    assert_int_equal(lw_st_writer_finish(w), 0);
    assert_int_equal(lw_st_writer_finish(w), -1); /* twice */
    assert_int_equal(lw_st_writer_write(w, rest, 1), -1);
    lw_st_writer_free(w);
    assert_true(lw_test_file_exists(path));
    assert_int_equal(lw_test_dir_entries(dir), 1);

    /* Freed without finish: nothing at all remains. */
    const char *path2 = lw_test_join(dir, "abandoned.safetensors");
    w = lw_st_writer_new(path2);
    assert_int_equal(lw_st_writer_add(w, "t", LW_DT_F32, 2, ok), 0);
    assert_int_equal(lw_st_writer_write(w, rest, 8), 0);
    lw_st_writer_free(w);
    assert_false(lw_test_file_exists(path2));
    assert_int_equal(lw_test_dir_entries(dir), 1);

    /* lw_st_save with a bad tensor leaves nothing either. */
    lw_st_tensor_in bad = {.name = "x", .dtype = LW_DT_F32, .n_dims = 1, .shape = {-3}, .data = rest};
    assert_int_equal(lw_st_save(path2, &bad, 1, NULL, 0), -1);
    assert_int_equal(lw_test_dir_entries(dir), 1);

    /* Unwritable destination is reported at creation, naming the path. */
    assert_null(lw_st_writer_new(lw_test_join(dir, "no/such/dir/x.safetensors")));
    assert_non_null(strstr(lw_last_error(), "no/such/dir/x.safetensors"));
}

/* ------------------------------------------------------------ reader errors ---- */

static void test_reader_truncated(void **state) {
    (void)state;
    const char *path = lw_test_tmpfile("trunc_src.safetensors");
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint8_t b[5] = {9, 8, 7, 6, 5};
    lw_st_tensor_in in[3] = {
        {.name = "a", .dtype = LW_DT_F32, .n_dims = 2, .shape = {2, 3}, .data = a},
        {.name = "z", .dtype = LW_DT_F32, .n_dims = 2, .shape = {0, 3}, .data = NULL},
        {.name = "b", .dtype = LW_DT_U8, .n_dims = 1, .shape = {5}, .data = b},
    };
    const char *meta[] = {"k", "v"};
    assert_int_equal(lw_st_save(path, in, 3, meta, 1), 0);
    size_t len;
    char *full = lw_read_file(path, &len);
    assert_non_null(full);

    /* Every strict prefix loses header or data bytes and must be rejected cleanly. */
    for (size_t n = 0; n < len; n++) {
        uint8_t *p = heap_copy(full, n);
        lw_clear_error();
        lw_st_file *f = lw_st_parse(p, n, "trunc");
        if (f) fprintf(stderr, "prefix of %zu bytes accepted\n", n);
        assert_null(f);
        assert_true(strncmp(lw_last_error(), "trunc: ", 7) == 0);
        free(p);
    }
    uint8_t *p = heap_copy(full, len);
    lw_st_file *f = lw_st_parse(p, len, "full");
    assert_non_null(f);
    assert_int_equal(lw_st_count(f), 3);
    lw_st_close(f);
    free(p);

    /* Through the mmap path as well, including the empty file. */
    static const size_t cuts[] = {0, 1, 7, 8, 9, 20};
    const char *tpath = lw_test_tmpfile("trunc.safetensors");
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_bytes(tpath, full, cuts[i]);
        assert_null(lw_st_open(tpath));
        assert_non_null(strstr(lw_last_error(), "trunc.safetensors"));
    }
    write_bytes(tpath, full, len - 1);
    assert_null(lw_st_open(tpath));
    assert_non_null(strstr(lw_last_error(), "tensor \"b\""));
    free(full);

    assert_null(lw_st_open(lw_test_tmpfile("does-not-exist.safetensors")));
    assert_non_null(strstr(lw_last_error(), "does-not-exist.safetensors"));
    assert_null(lw_st_open(lw_test_tmpdir())); /* a directory */
    assert_null(lw_st_parse(NULL, 0, NULL));

    /* a text or a GGUF given as safetensors is said to be one, not a header length of 10^18 */
    static const char text[] = "the cat sat on the mat\nthe dog ran\n";
    assert_null(lw_st_parse(text, sizeof text - 1, "notes.txt"));
    assert_non_null(strstr(lw_last_error(), "notes.txt: not a safetensors file"));
    static const char gguf[] = "GGUF\3\0\0\0\1\0\0\0\0\0\0\0\5\0\0\0\0\0\0\0";
    assert_null(lw_st_parse(gguf, sizeof gguf - 1, "m.gguf"));
    assert_non_null(strstr(lw_last_error(), "m.gguf: not a safetensors file (no JSON header after its first 8 bytes; "
                                            "it is a GGUF model)"));
}

static void test_reader_header_length(void **state) {
    (void)state;
    size_t len;
    uint8_t *img = make_image("{}", 0, &len);
    /* One byte more than the file holds. */
    img[0] = 3;
    assert_null(lw_st_parse(img, len, "hl"));
    assert_non_null(strstr(lw_last_error(), "hl: header length 3 exceeds"));
    /* Lengths that would overflow a naive "8 + N <= size" check. */
    memset(img, 0xFF, 8);
    assert_null(lw_st_parse(img, len, "hl"));
    assert_non_null(strstr(lw_last_error(), "header length 18446744073709551615 exceeds"));
    memset(img, 0, 8);
    img[7] = 0x80;
    assert_null(lw_st_parse(img, len, "hl"));
    /* Zero-length header: not JSON. */
    memset(img, 0, 8);
    assert_null(lw_st_parse(img, len, "hl"));
    assert_non_null(strstr(lw_last_error(), "not valid JSON"));
    free(img);

    /* Header above the 100 MB bound, with the bytes actually there. */
    size_t big = (size_t)100 * 1000 * 1000 + 1;
    uint8_t *huge = calloc(1, 8 + big);
    assert_non_null(huge);
    for (int i = 0; i < 8; i++) huge[i] = (uint8_t)((uint64_t)big >> (8 * i));
    assert_null(lw_st_parse(huge, 8 + big, "hl"));
    assert_non_null(strstr(lw_last_error(), "exceeds the 100000000-byte limit"));
    free(huge);
}

static void test_reader_rejects(void **state) {
    (void)state;
    expect_reject("not json at all", 0, "header is not valid JSON");
    expect_reject("{\"a\":", 0, "header is not valid JSON");
    expect_reject("{} trailing", 0, "header is not valid JSON");
    expect_reject("[1, 2]", 0, "header is not a JSON object");
    expect_reject("{\"t\": 5}", 0, "tensor \"t\": entry is not an object");
    expect_reject("{\"t\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "tensor \"t\": \"dtype\" missing");
    expect_reject("{\"t\": {\"dtype\": \"F8_E4M3\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 1,
                  "tensor \"t\": unknown dtype \"F8_E4M3\"");
    expect_reject("{\"t\": {\"dtype\": 4, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "\"dtype\" missing or not a string");
    expect_reject("{\"t\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, "\"shape\" missing or not an array");
    expect_reject("{\"t\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4,
                  "tensor \"t\": shape[0] is not a non-negative integer");
    expect_reject("{\"t\": {\"dtype\": \"F32\", \"shape\": [1.0], \"data_offsets\": [0, 4]}}", 4, "shape[0]");
    expect_reject("{\"t\": {\"dtype\": \"F32\", \"shape\": [\"1\"], \"data_offsets\": [0, 4]}}", 4, "shape[0]");
    expect_reject("{\"t\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 1]}}", 1,
                  "shape has 9 dims");
    expect_reject("{\"t\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "\"data_offsets\" missing");
    expect_reject("{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", 8, "\"data_offsets\" missing");
    expect_reject("{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4, "not non-negative");
    expect_reject("{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}", 8,
                  "data_offsets [8, 4] begin after end");
    expect_reject("{\"t\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8,
                  "tensor \"t\": data_offsets [0, 16] beyond the 8-byte data section");
    expect_reject("{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 99999999999999999999]}}", 4,
                  "not valid JSON"); /* integer too big for jansson */
    expect_reject("{\"t\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 16], \"data_offsets\": [0, 0]}}", 0,
                  "shape [4294967296, 4294967296, 16] x F32 overflows");
    expect_reject("{\"t\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8,
                  "data_offsets [0, 8] do not match shape [3] x F32 (12 bytes)");
    expect_reject("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                  " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
                  12, "tensor \"b\": data_offsets [4, 12] overlap tensor \"a\"");
    /* Overlap found regardless of header order. */
    expect_reject("{\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]},"
                  " \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
                  12, "overlap");
    /* An empty range inside another tensor is corrupt too. */
    expect_reject("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                  " \"e\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [4, 4]}}",
                  8, "tensor \"e\": data_offsets [4, 4] overlap tensor \"a\"");
    expect_reject("{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]},"
                  " \"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [1, 2]}}",
                  2, "not valid JSON"); /* duplicate key */
    expect_reject("{\"\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 1, "empty name");
    expect_reject("{\"__metadata__\": [\"x\"]}", 0, "\"__metadata__\" is not an object");
    expect_reject("{\"__metadata__\": {\"k\": 1}}", 0, "\"__metadata__\" key \"k\": value is not a string");
    expect_reject("{\"__metadata__\": {\"k\": \"a\\u0000b\"}}", 0, "not valid JSON"); /* NUL in a string */

    /* The exact message format promised to users. */
    size_t len;
    uint8_t *img = make_image("{\"layer.3\":{\"dtype\":\"F32\",\"shape\":[4,8],\"data_offsets\":[0,100]}}", 100, &len);
    assert_null(lw_st_parse(img, len, "acts.safetensors"));
    assert_string_equal(lw_last_error(),
                        "acts.safetensors: tensor \"layer.3\": data_offsets [0, 100] do not match shape [4, 8] x F32 "
                        "(128 bytes)");
    free(img);
}

static void test_reader_accepts(void **state) {
    (void)state;
    /* Written by other tools: pretty-printed, unaligned header, unknown extra fields,
     * gaps and trailing bytes, header order different from data order, scalars. */
    expect_accept("{\n  \"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [4, 6], \"extra\": 1},\n"
                  "  \"a\": {\"dtype\": \"I32\", \"shape\": [], \"data_offsets\": [0, 4]}\n}",
                  10, 2);
    expect_accept("{\"__metadata__\": {}}", 0, 0);
    expect_accept("{}", 3, 0);
    expect_accept("{\"z1\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [0, 0]},"
                  " \"z2\": {\"dtype\": \"F32\", \"shape\": [0, 7], \"data_offsets\": [0, 0]},"
                  " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                  " \"z3\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [4, 4]}}",
                  4, 4);

    /* File order is by offset, not header order. */
    size_t len;
    uint8_t *img = make_image("{\"second\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [1, 2]},"
                              " \"first\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}}",
                              2, &len);
    lw_st_file *f = lw_st_parse(img, len, "order");
    assert_non_null(f);
    assert_string_equal(lw_st_get(f, 0)->name, "first");
    assert_string_equal(lw_st_get(f, 1)->name, "second");
    assert_ptr_equal(lw_st_get(f, 1)->data, img + len - 1);
    lw_st_close(f);
    free(img);
}

/* ---------------------------------------------------------------- mini-fuzz ---- */

static void test_mini_fuzz(void **state) {
    (void)state;
    const char *path = lw_test_tmpfile("fuzz_src.safetensors");
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint8_t b[5] = {9, 8, 7, 6, 5};
    int64_t c[2] = {7, 8};
    lw_st_tensor_in in[4] = {
        {.name = "a", .dtype = LW_DT_F32, .n_dims = 2, .shape = {2, 3}, .data = a},
        {.name = "z", .dtype = LW_DT_BF16, .n_dims = 2, .shape = {0, 3}, .data = NULL},
        {.name = "b", .dtype = LW_DT_U8, .n_dims = 1, .shape = {5}, .data = b},
        {.name = "c", .dtype = LW_DT_I64, .n_dims = 1, .shape = {2}, .data = c},
    };
    const char *meta[] = {"k", "v", "json", "{\"x\": [1, 2]}"};
    assert_int_equal(lw_st_save(path, in, 4, meta, 2), 0);
    size_t len;
    uint8_t *orig = (uint8_t *)lw_read_file(path, &len);
    assert_non_null(orig);
    size_t header_end = 8 + (size_t)orig[0] + ((size_t)orig[1] << 8);

    /* Bytes that steer mutations toward interesting JSON rather than plain garbage. */
    static const char interesting[] = "\"[]{},:-0123456789e.\\ \x00\xff";
    rng_state = 12345;
    int accepted = 0;
    unsigned sink = 0;
    for (int iter = 0; iter < 5000; iter++) {
        uint8_t *buf = heap_copy(orig, len);
        size_t n = len;
        int muts = 1 + (int)(rng() % 6);
        for (int m = 0; m < muts; m++) {
            uint64_t r = rng();
            /* Mostly inside the header: that is where the parser's decisions are. */
            size_t pos = (r & 3) ? (size_t)(rng() % header_end) : (size_t)(rng() % n);
            switch ((r >> 2) % 4) {
            case 0: buf[pos] = (uint8_t)rng(); break;
            case 1: buf[pos] = (uint8_t)interesting[rng() % (sizeof interesting - 1)]; break;
            case 2: buf[pos] ^= (uint8_t)(1u << (rng() % 8)); break;
            default: if (pos < 8) buf[pos] = (uint8_t)rng(); else buf[pos] = (uint8_t)('0' + rng() % 10); break;
            }
        }
        if (rng() % 8 == 0) n = (size_t)(rng() % (n + 1)); /* and sometimes truncate */
        uint8_t *exact = heap_copy(buf, n);
        lw_st_file *f = lw_st_parse(exact, n, "fuzz");
        if (f) {
            accepted++;
            sink += touch(f);
            lw_st_close(f);
        } else {
            assert_true(strncmp(lw_last_error(), "fuzz: ", 6) == 0);
            assert_null(strchr(lw_last_error(), '\n'));
        }
        free(exact);
        free(buf);
    }
    (void)sink;
    /* Some mutations (inside data, or harmless whitespace) keep the file valid. */
    assert_true(accepted > 0);
    assert_true(accepted < 5000);
    free(orig);
}

/* Row L2 norms and the NaN/Inf count of a 2-D F32 tensor (what inspect prints, from the library). */
static void test_row_stats(void **state) {
    (void)state;
    const float x[9] = {3, 4, 0, 0, 0, 0, 1, 2, 2};
    lw_st_tensor t = {.name = "acts", .dtype = LW_DT_F32, .n_dims = 2, .shape = {3, 3}, .data = x,
                      .n_bytes = sizeof x};
    lw_st_row_stats st;
    assert_int_equal(lw_st_row_stats_of(&t, &st), 0);
    assert_true(st.norm_mean == 8.0 / 3.0 && st.norm_min == 0.0 && st.norm_max == 5.0);
    assert_int_equal(st.non_finite, 0);
    /* a NaN row: counted; its norm is NaN, which the mean carries and min/max skip */
    const float y[6] = {NAN, 1, INFINITY, 0, 0, 2};
    t.data = y, t.shape[0] = 3, t.shape[1] = 2;
    assert_int_equal(lw_st_row_stats_of(&t, &st), 0);
    assert_int_equal(st.non_finite, 2);
    assert_true(isnan(st.norm_mean) && st.norm_min == 2.0 && isinf(st.norm_max));
    /* no rows: zeros */
    t.shape[0] = 0;
    assert_int_equal(lw_st_row_stats_of(&t, &st), 0);
    assert_true(st.norm_mean == 0 && st.norm_min == 0 && st.norm_max == 0 && st.non_finite == 0);
    /* not a 2-D F32 matrix, or NULL: refused with a message */
    t.n_dims = 1;
    assert_int_equal(lw_st_row_stats_of(&t, &st), -1);
    assert_non_null(strstr(lw_last_error(), "not a 2-D F32 matrix"));
    t.n_dims = 2, t.dtype = LW_DT_I64;
    assert_int_equal(lw_st_row_stats_of(&t, &st), -1);
    assert_int_equal(lw_st_row_stats_of(NULL, &st), -1);
    assert_int_equal(lw_st_row_stats_of(&t, NULL), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes),
        cmocka_unit_test(test_byte_exact),
        cmocka_unit_test(test_empty_file_layout),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_streaming_odd_chunks),
        cmocka_unit_test(test_late_metadata),
        cmocka_unit_test(test_writer_too_many_bytes),
        cmocka_unit_test(test_writer_too_few_bytes),
        cmocka_unit_test(test_writer_misuse),
        cmocka_unit_test(test_reader_truncated),
        cmocka_unit_test(test_reader_header_length),
        cmocka_unit_test(test_reader_rejects),
        cmocka_unit_test(test_reader_accepts),
        cmocka_unit_test(test_mini_fuzz),
        cmocka_unit_test(test_row_stats),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
