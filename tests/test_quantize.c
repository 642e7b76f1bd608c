/* latentwire quantize / lw_model_quantize: the toy model re-quantized to q8_0 is a GGUF whose file
 * type and 2-D weights say Q8_0, which loads, and whose token embeddings are the original's within
 * Q8_0's rounding bound per 32-value block; bad input (an
 * unknown type, the input as the output, a missing input, a corrupt header, NaN weights) is one
 * line and writes nothing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ggml.h"
#include "gguf.h"
#include "latentwire/runtime.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static void test_q8_0_copy(void **state) {
    (void)state;
    const char *toy = lw_test_shared_path("models/stories260K.gguf");
    if (!toy) {
        skip();
        return;
    }
    const char *dir = lw_test_fresh_dir("quantize_q8");
    const char *out = lw_test_join(dir, "toy-q8_0.gguf");
    lw_quantize_report rep;
    if (lw_model_quantize(toy, out, "q8_0", 1, &rep) != 0) fail_msg("%s", lw_last_error());
    struct gguf_init_params gp = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *g = gguf_init_from_file(out, gp);
    assert_non_null(g);
    /* the report counts the file's tensor types: the total, the Q8_0 ones, the histogram's sum */
    int n_q8 = 0, sum = 0;
    for (int64_t i = 0; i < gguf_get_n_tensors(g); i++) n_q8 += gguf_get_tensor_type(g, i) == GGML_TYPE_Q8_0;
    assert_int_equal(rep.n_tensors, (int)gguf_get_n_tensors(g));
    assert_int_equal(rep.n_asked, n_q8);
    assert_true(n_q8 > 0);
    for (int k = 0; k < rep.n_types; k++) {
        sum += rep.types[k].n;
        if (k) assert_true(rep.types[k].n <= rep.types[k - 1].n);
        if (!strcmp(rep.types[k].name, "q8_0")) assert_int_equal(rep.types[k].n, n_q8);
    }
    assert_int_equal(sum, rep.n_tensors);
    int64_t k = gguf_find_key(g, "general.file_type");
    assert_true(k >= 0);
    assert_int_equal(gguf_get_val_u32(g, k), 7); /* LLAMA_FTYPE_MOSTLY_Q8_0 */
    int64_t t = gguf_find_tensor(g, "blk.0.attn_q.weight");
    assert_true(t >= 0);
    assert_int_equal(gguf_get_tensor_type(g, t), GGML_TYPE_Q8_0);
    gguf_free(g);
    lw_model *a = lw_model_load(toy, lw_model_default_params()), *b = lw_model_load(out, lw_model_default_params());
    assert_non_null(a);
    assert_non_null(b);
    int va, da, vb, db;
    float *ea = lw_model_token_embeddings(a, &va, &da), *eb = lw_model_token_embeddings(b, &vb, &db);
    assert_non_null(ea);
    assert_non_null(eb);
    assert_int_equal(va, vb);
    assert_int_equal(da, db);
    /* Q8_0: q = round(x / d), d = amax / 127 stored as fp16 (relative error <= 2^-11), x' = d q:
       |x - x'| <= d / 2 + 127 d 2^-11 */
    for (size_t blk = 0; blk < (size_t)va * da / 32; blk++) {
        double amax = 0;
        for (int j = 0; j < 32; j++) amax = fmax(amax, fabs(ea[blk * 32 + j]));
        for (int j = 0; j < 32; j++)
            assert_true(fabs(ea[blk * 32 + j] - eb[blk * 32 + j]) <= amax / 127 * (0.5 + 127.0 / 2048) + 1e-7);
    }
    free(ea);
    free(eb);
    lw_model_free(a);
    lw_model_free(b);
}

static void test_refusals(void **state) {
    (void)state;
    const char *toy = lw_test_shared_path("models/stories260K.gguf");
    if (!toy) {
        skip();
        return;
    }
    const char *dir = lw_test_fresh_dir("quantize_bad");
    char args[4096];
    snprintf(args, sizeof args, "quantize %s %s/x.gguf --type q3_x", toy, dir);
    char *why = lw_test_cli_refusal(args, 2, "--type q3_x: must be one of f16, q8_0, q5_k_m, q4_k_m, q4_0");
    if (why) fail_msg("%s", why);
    snprintf(args, sizeof args, "quantize %s %s/x.gguf", toy, dir); /* no --type: one line, exit 2 */
    why = lw_test_cli_refusal(args, 2, "give IN.gguf, OUT.gguf and --type T");
    if (why) fail_msg("%s", why);
    snprintf(args, sizeof args, "quantize %s %s --type q8_0", toy, toy);
    why = lw_test_cli_refusal(args, -1, toy);
    if (why) fail_msg("%s", why);
    snprintf(args, sizeof args, "quantize %s/absent.gguf %s/x.gguf --type q8_0", dir, dir);
    why = lw_test_cli_refusal(args, -1, "absent.gguf");
    if (why) fail_msg("%s", why);
    assert_int_equal(lw_test_dir_entries(dir), 0);
    /* an input already of the type asked for: refused (the copy would have no drift), nothing written */
    const char *q8 = lw_test_join(dir, "q8.gguf");
    assert_int_equal(lw_model_quantize(toy, q8, "q8_0", 1, NULL), 0);
    snprintf(args, sizeof args, "quantize %s %s/again.gguf --type q8_0", q8, dir);
    why = lw_test_cli_refusal(args, 1, "is already q8_0 (its general.file_type)");
    if (why) fail_msg("%s", why);
    assert_int_equal(lw_test_dir_entries(dir), 1);
}

/* The toy's rows (64 wide) do not fit q4_K's 256-value blocks: llama.cpp falls back, and the
 * command says so instead of printing only the type asked for. */
static void test_fallback_said(void **state) {
    (void)state;
    const char *toy = lw_test_shared_path("models/stories260K.gguf");
    if (!toy) {
        skip();
        return;
    }
    const char *dir = lw_test_fresh_dir("quantize_fallback");
    char args[4096], *out, *err;
    snprintf(args, sizeof args, "quantize %s %s/k.gguf --type q4_k_m --threads 1", toy, dir);
    int rc = lw_test_run_cli(args, &out, &err);
    if (rc != 0) fail_msg("`latentwire %s`: exit %d: %s", args, rc, err);
    assert_non_null(strstr(out, "tensors:"));
    assert_null(strstr(out, " q4_K")); /* no tensor could be q4_K */
    assert_non_null(strstr(err, "not the q4_k_m asked for"));
    free(out);
    free(err);
}

/* One weight of the tensor whose name holds ctx set to NaN. */
static void put_nan(void *ctx, const char *name, int64_t ne0, int64_t ne1, float *values) {
    (void)ne1;
    if (strstr(name, (const char *)ctx)) values[ne0 - 1] = NAN;
}

/* Corrupt inputs are one line naming the file: the header check ran gguf's reader before
 * llama.cpp's logger was set, so its lines ("gguf_init_from_reader: ...") came first, and a NaN
 * weight was found by llama.cpp mid-quantization, which printed "ggml_validate_row_data: found nan
 * value" itself. Nothing is written. */
static void test_corrupt_inputs(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("quantize_corrupt");
    char nan32[4096], nan16[4096], cut[4096], args[8192];
    snprintf(nan32, sizeof nan32, "%s", lw_test_join(dir, "nan32.gguf"));
    snprintf(nan16, sizeof nan16, "%s", lw_test_join(dir, "nan16.gguf"));
    snprintf(cut, sizeof cut, "%s", lw_test_join(dir, "cut.gguf"));
    lw_synth_params p = lw_synth_default_params();
    p.fill = put_nan, p.fill_ctx = (void *)"blk.1.attn_norm"; /* an f32 norm */
    assert_int_equal(lw_synth_write(nan32, &p), 0);
    p.wtype = GGML_TYPE_F16, p.fill_ctx = (void *)"blk.0.ffn_up"; /* an f16 matrix */
    assert_int_equal(lw_synth_write(nan16, &p), 0);
    char *whole = lw_test_read_file(nan32); /* its first 200 bytes: a header cut short */
    assert_non_null(whole);
    FILE *f = fopen(cut, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(whole, 1, 200, f), 200);
    fclose(f);
    free(whole);
    const char *cases[][2] = {{nan32, "tensor 'blk.1.attn_norm.weight' holds NaN"},
                              {nan16, "tensor 'blk.0.ffn_up.weight' holds NaN"},
                              {cut, "cut.gguf: truncated or corrupt GGUF header"}};
    for (int k = 0; k < 3; k++) {
        snprintf(args, sizeof args, "quantize %s %s/out.gguf --type q8_0", cases[k][0], dir);
        char *why = lw_test_cli_refusal(args, 1, cases[k][1]);
        if (why) fail_msg("%s", why);
    }
    assert_int_equal(lw_test_dir_entries(dir), 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q8_0_copy),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_fallback_said),
        cmocka_unit_test(test_corrupt_inputs),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
