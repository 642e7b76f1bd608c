/* Codecs on files as library calls (latentwire/codec_files.h), as `codec fit | encode | decode`
 * use them: items are each text's last T rows (checked by hand on a --pool none-like file), the
 * fit equals lw_codec_fit_act on those items and records where its rows came from, encode and
 * decode give exactly lw_codec_encode_act / lw_codec_decode_act of each item under the fitted
 * tensor's name, and a width, a model, a pooling, a text codec, an activation codec given texts,
 * a codec that needs a language model and an output over an input are refused with nothing
 * written. */
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
#include "latentwire/codec_files.h"
#include "support/refused.h"
#include "support/testutil.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define D 8

/* A --pool none-like file: row ids with one row per token (ids as given, in order), tensor
 * "layer.2", Gaussian rows from seed; metadata meta (NULL: none). The path is the call's own. */
static const char *act_file(const char *name, const int64_t *ids, int n, uint64_t seed, const char *meta, float *rows) {
    lw_rng r;
    lw_rng_seed(&r, seed);
    for (int i = 0; i < n * D; i++) rows[i] = (float)lw_rng_normal(&r);
    lw_st_tensor_in t[2] = {{.name = "layer.2", .dtype = LW_DT_F32, .n_dims = 2, .shape = {n, D}, .data = rows},
                            {.name = "row_id", .dtype = LW_DT_I64, .n_dims = 1, .shape = {n}, .data = ids}};
    const char *kv[2] = {"latentwire", meta};
    static char paths[16][4096];
    static int used;
    char *path = paths[used++ % 16];
    snprintf(path, 4096, "%s", lw_test_tmpfile(name));
    assert_int_equal(lw_st_save(path, t, 2, meta ? kv : NULL, meta ? 1 : 0), 0);
    return path;
}

static char notes[2048];
static void keep_note(const char *note, void *user) {
    (void)user;
    snprintf(notes + strlen(notes), sizeof notes - strlen(notes), "%s\n", note);
}

static void test_gather_items(void **state) {
    (void)state;
    /* texts 7 (3 tokens), 8 (2 tokens), 9 (4 tokens) */
    const int64_t ids[] = {7, 7, 7, 8, 8, 9, 9, 9, 9};
    float rows[9 * D];
    lw_act_tensor A;
    assert_int_equal(lw_act_open(act_file("g.safetensors", ids, 9, 1, NULL, rows), "layer.2", &A), 0);
    float *items;
    int64_t *got;
    assert_int_equal(lw_codec_gather_items(&A, 2, true, &items, &got), 3);
    const int last_two[3][2] = {{1, 2}, {3, 4}, {7, 8}}; /* each text's last two rows */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(got[i], 7 + i);
        for (int t = 0; t < 2; t++) assert_memory_equal(items + (i * 2 + t) * D, rows + last_two[i][t] * D, sizeof(float) * D);
    }
    free(items), free(got);
    assert_int_equal(lw_codec_gather_items(&A, 1, false, &items, &got), 9); /* fitting: every token's row */
    assert_memory_equal(items, rows, sizeof rows);
    free(items), free(got);
    REFUSED(lw_codec_gather_items(&A, 1, true, &items, &got), "row_id 7 has several rows");
    assert_null(items);
    REFUSED(lw_codec_gather_items(&A, 3, false, &items, &got), "row_id 8 has 2 positions, fewer than --positions 3");
    REFUSED(lw_codec_gather_items(&A, 0, false, &items, &got), "positions 0");
    REFUSED(lw_codec_gather_items(NULL, 1, false, &items, &got), "rows is NULL");
    lw_act_close(&A);
    const int64_t apart[] = {7, 8, 7};
    float r3[3 * D];
    assert_int_equal(lw_act_open(act_file("apart.safetensors", apart, 3, 2, NULL, r3), "layer.2", &A), 0);
    REFUSED(lw_codec_gather_items(&A, 1, true, &items, &got), "row_id 7 has several rows");
    lw_act_close(&A);
}

static void test_fit_encode_decode(void **state) {
    (void)state;
    enum { N = 40 };
    int64_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = 100 + i;
    float rows[N * D];
    const char *meta = "{\"model_sha256\": \"" SHA_A "\", \"pool\": \"mean\"}";
    const char *in = act_file("c_rows.safetensors", ids, N, 3, meta, rows);
    char codec[4096], payloads[4096], decoded[4096];
    snprintf(codec, sizeof codec, "%s", lw_test_tmpfile("c.codec.safetensors"));
    snprintf(payloads, sizeof payloads, "%s", lw_test_tmpfile("c.payloads.safetensors"));
    snprintf(decoded, sizeof decoded, "%s", lw_test_tmpfile("c.decoded.safetensors"));

    lw_codec_fit_file_params fp = lw_codec_fit_file_default_params(LW_CODEC_PCAQ);
    fp.codec.budget_bits = 64, fp.input = in, fp.tensor = "layer.2", fp.out = codec;
    lw_codec *c = lw_codec_fit_file(&fp);
    assert_non_null(c);
    lw_codec *want = lw_codec_fit_act(&fp.codec, rows, N, D);
    assert_non_null(want);
    json_t *rec = json_loads(lw_codec_record_json(c), 0, NULL), *meta_rec = json_object_get(rec, "meta");
    assert_string_equal(json_string_value(json_object_get(meta_rec, "tensor")), "layer.2");
    assert_string_equal(json_string_value(json_object_get(meta_rec, "model_sha256")), SHA_A);
    assert_string_equal(json_string_value(json_object_get(meta_rec, "pool")), "mean");
    json_decref(rec);

    lw_codec_file_params p = {.codec = codec, .input = in, .tensor = "layer.2", .out = payloads};
    lw_codec_file_stats st;
    assert_int_equal(lw_codec_encode_file(&p, &st), 0);
    assert_int_equal(st.items, N);
    p.input = payloads, p.tensor = NULL, p.out = decoded;
    assert_int_equal(lw_codec_decode_file(&p, &st), 0);
    lw_act_tensor X;
    assert_int_equal(lw_act_open(decoded, "layer.2", &X), 0); /* under the fitted tensor's name */
    assert_int_equal(X.n, N);
    for (int i = 0; i < N; i++) { /* each item through the codec fitted by hand */
        lw_payload pl;
        float back[D];
        assert_int_equal(lw_codec_encode_act(want, rows + i * D, &pl), 0);
        assert_int_equal(lw_codec_decode_act(want, pl.bytes, pl.n, back), 0);
        assert_memory_equal(X.x + i * D, back, sizeof back);
        assert_int_equal(X.row_id[i], ids[i]);
        free(pl.bytes);
    }
    lw_act_close(&X);

    /* refusals, nothing written */
    char fresh[4096];
    snprintf(fresh, sizeof fresh, "%s", lw_test_tmpfile("c.refused.safetensors"));
    float other[N * D];
    p.tensor = "layer.2", p.out = fresh;
    p.input = act_file("c_last.safetensors", ids, N, 4, "{\"model_sha256\": \"" SHA_A "\", \"pool\": \"last\"}", other);
    REFUSED(lw_codec_encode_file(&p, &st), "pool");
    p.input = in, p.tensor = "row_id";
    REFUSED(lw_codec_encode_file(&p, &st), "row_id");
    p.tensor = "layer.2", p.out = in;
    REFUSED(lw_codec_encode_file(&p, &st), "--out");
    p.out = codec;
    REFUSED(lw_codec_encode_file(&p, &st), "--out");
    p.out = fresh, p.codec = in;
    REFUSED(lw_codec_encode_file(&p, &st), "c_rows.safetensors");
    assert_false(lw_test_file_exists(fresh));
    REFUSED(lw_codec_encode_file(NULL, &st), "no parameters");
    lw_codec_file_params none = {0};
    REFUSED(lw_codec_decode_file(&none, &st), "--codec, --input and --out are required");

    fp.out = NULL;
    fp.texts = in; /* an activation codec given texts as well */
    REFUSED_NULL(lw_codec_fit_file(&fp), "is an activation codec");
    fp = lw_codec_fit_file_default_params(LW_CODEC_ZLIB);
    fp.input = in, fp.tensor = "layer.2";
    REFUSED_NULL(lw_codec_fit_file(&fp), "is a text codec");
    fp = lw_codec_fit_file_default_params(LW_CODEC_LM_ARITH);
    fp.texts = in;
    REFUSED_NULL(lw_codec_fit_file(&fp), "codes with a language model");
    fp = lw_codec_fit_file_default_params(LW_CODEC_PCAQ);
    fp.codec.budget_bits = 64, fp.input = in, fp.tensor = "layer.2", fp.out = in;
    REFUSED_NULL(lw_codec_fit_file(&fp), "--out");
    REFUSED_NULL(lw_codec_fit_file(NULL), "no parameters");

    /* a text codec on a text file, and a file without metadata said to leave the codec unchecked */
    const char *texts = lw_test_tmpfile("c.texts.txt");
    lw_test_write_text(texts, "one line of text\nanother line\n");
    fp = lw_codec_fit_file_default_params(LW_CODEC_ZLIB);
    fp.codec.budget_bits = 256, fp.texts = texts;
    lw_codec *z = lw_codec_fit_file(&fp);
    assert_non_null(z);
    assert_int_equal(lw_codec_kind_of(z), LW_CODEC_ZLIB);
    lw_codec_free(z);
    float bare_rows[N * D];
    fp = lw_codec_fit_file_default_params(LW_CODEC_PCAQ);
    fp.codec.budget_bits = 64, fp.tensor = "layer.2", fp.on_note = keep_note;
    fp.input = act_file("c_bare.safetensors", ids, N, 5, NULL, bare_rows);
    notes[0] = '\0';
    z = lw_codec_fit_file(&fp);
    assert_non_null(z);
    assert_non_null(strstr(notes, "the codec records no model or pooling"));
    lw_codec_free(z);
    lw_codec_free(want);
    lw_codec_free(c);
}

/* What a binding or an adversary hands over: rows filled in by hand without data (a NULL passed to
 * memcpy), a NaN in the rows to encode (named by file), a codec fitted on a tensor whose name is
 * longer than 255 bytes (decoded under a cut name, which no bridge finds), and paths that are not
 * UTF-8 (decode failed its save after the work). */
static void test_adversarial_inputs(void **state) {
    (void)state;
    lw_act_tensor A = {0};
    float *items;
    int64_t *got;
    A.n = 3, A.d = 4;
    REFUSED(lw_codec_gather_items(&A, 1, true, &items, &got), "no data");
    assert_null(items);
    A.n = -1;
    REFUSED(lw_codec_gather_items(&A, 1, true, &items, &got), "-1 x 4");
    A.n = 0, A.d = 0;
    REFUSED(lw_codec_gather_items(&A, 1, true, &items, &got), "0 x 0");

    enum { N = 24 };
    int64_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = 10 + i;
    char tensor[300];
    memset(tensor, 'w', sizeof tensor - 1);
    tensor[sizeof tensor - 1] = '\0';
    float rows[N * D];
    lw_rng r;
    lw_rng_seed(&r, 8);
    for (int i = 0; i < N * D; i++) rows[i] = (float)lw_rng_normal(&r);
    lw_st_tensor_in t[2] = {{.name = tensor, .dtype = LW_DT_F32, .n_dims = 2, .shape = {N, D}, .data = rows},
                            {.name = "row_id", .dtype = LW_DT_I64, .n_dims = 1, .shape = {N}, .data = ids}};
    char in[4096], codec[4096], payloads[4096], decoded[4096];
    snprintf(in, sizeof in, "%s", lw_test_tmpfile("adv_rows.safetensors"));
    assert_int_equal(lw_st_save(in, t, 2, NULL, 0), 0);
    snprintf(codec, sizeof codec, "%s", lw_test_tmpfile("adv\xe9.codec.safetensors")); /* Latin-1 */
    snprintf(payloads, sizeof payloads, "%s", lw_test_tmpfile("adv\xe9.payloads.safetensors"));
    snprintf(decoded, sizeof decoded, "%s", lw_test_tmpfile("adv.decoded.safetensors"));
    lw_codec_fit_file_params fp = lw_codec_fit_file_default_params(LW_CODEC_PCAQ);
    fp.codec.budget_bits = 64, fp.input = in, fp.tensor = tensor, fp.out = codec;
    lw_codec *c = lw_codec_fit_file(&fp);
    if (!c) fail_msg("fit: %s", lw_last_error());
    lw_codec_free(c);
    lw_codec_file_params p = {.codec = codec, .input = in, .tensor = tensor, .out = payloads};
    if (lw_codec_encode_file(&p, NULL) != 0) fail_msg("encode: %s", lw_last_error());
    p.input = payloads, p.tensor = NULL, p.out = decoded;
    if (lw_codec_decode_file(&p, NULL) != 0) fail_msg("decode: %s", lw_last_error());
    lw_act_tensor X;
    if (lw_act_open(decoded, tensor, &X) != 0) fail_msg("decoded: %s", lw_last_error());
    assert_int_equal(X.n, N);
    lw_act_close(&X);

    /* a NaN in the rows to encode: the message names the file, nothing is written */
    rows[5 * D + 3] = NAN;
    char nan_in[4096], fresh[4096];
    snprintf(nan_in, sizeof nan_in, "%s", lw_test_tmpfile("adv_nan.safetensors"));
    assert_int_equal(lw_st_save(nan_in, t, 2, NULL, 0), 0);
    snprintf(fresh, sizeof fresh, "%s", lw_test_tmpfile("adv_nan.payloads.safetensors"));
    remove(fresh);
    p.input = nan_in, p.tensor = tensor, p.out = fresh;
    REFUSED(lw_codec_encode_file(&p, NULL), "adv_nan.safetensors");
    failed_with("encode", "row_id 15");
    assert_false(lw_test_file_exists(fresh));
    remove(codec), remove(payloads), remove(decoded);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gather_items),
        cmocka_unit_test(test_fit_encode_decode),
        cmocka_unit_test(test_adversarial_inputs),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
