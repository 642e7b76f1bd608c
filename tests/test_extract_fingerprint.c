/* extract --resume's settings fingerprint: --gpu-layers is part of it (layers offloaded to a
 * GPU run other kernels, so other floats), recorded as asked for even on a CPU-only build;
 * a shard made with another value is made again, and the line says which setting differs
 * and its two values. lw_model_get_info reports the value the model was loaded with. The texts
 * and the model count by their content, not their path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "latentwire/runtime.h"
#include "latentwire/safetensors.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static char MODEL[1200], CORPUS[1200], OUT[1200];

static int setup(void **state) {
    (void)state;
    lw_synth_params p = lw_synth_default_params();
    p.n_layer = 2;
    snprintf(MODEL, sizeof MODEL, "%s", lw_test_tmpfile("fingerprint_model.gguf"));
    if (lw_synth_write(MODEL, &p) != 0) return -1;
    snprintf(CORPUS, sizeof CORPUS, "%s", lw_test_tmpfile("fingerprint.txt"));
    FILE *f = fopen(CORPUS, "w");
    fputs("The cat sat.\nTom ran.\nA bird sang.\nThe dog ate.\n", f);
    fclose(f);
    snprintf(OUT, sizeof OUT, "%s", lw_test_tmpfile("fp.safetensors"));
    return 0;
}

/* extract into OUT (2 shards of 2 texts) with --resume and the given extra options; stderr. */
static char *extract(const char *extra) {
    char args[4096];
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out %s --shard-texts 2 --resume %s", MODEL,
             CORPUS, OUT, extra);
    char *err;
    int rc = lw_test_run_cli(args, NULL, &err);
    if (rc != 0) fail_msg("`%s` exited %d: %s", args, rc, err);
    return err;
}

/* The n_gpu_layers a shard's settings record holds (-1: none). */
static long long recorded_gpu_layers(const char *path) {
    lw_st_file *f = lw_st_open(path);
    assert_non_null(f);
    json_t *s = json_loads(lw_st_meta(f, "latentwire"), 0, NULL);
    assert_non_null(s);
    json_t *v = json_object_get(s, "n_gpu_layers");
    long long n = json_is_integer(v) ? json_integer_value(v) : -1;
    json_decref(s);
    lw_st_close(f);
    return n;
}

static void test_gpu_layers_in_fingerprint(void **state) {
    (void)state;
    char shard1[1300], shard2[1300];
    snprintf(shard1, sizeof shard1, "%.*s-00001-of-00002.safetensors", (int)strlen(OUT) - 12, OUT);
    snprintf(shard2, sizeof shard2, "%.*s-00002-of-00002.safetensors", (int)strlen(OUT) - 12, OUT);
    free(extract("--gpu-layers 0"));
    assert_int_equal(recorded_gpu_layers(shard1), 0);
    char *err = extract("--gpu-layers 0");
    assert_int_equal(lw_test_count_substr(err, "is complete, kept"), 2);
    free(err);
    err = extract("--gpu-layers 3");
    assert_int_equal(lw_test_count_substr(err, "is complete, kept"), 0);
    assert_int_equal(lw_test_count_substr(err, "made with other settings (n_gpu_layers was 0, now 3); made again"), 2);
    free(err);
    assert_int_equal(recorded_gpu_layers(shard1), 3);
    assert_int_equal(recorded_gpu_layers(shard2), 3);
    err = extract("--gpu-layers 3");
    assert_int_equal(lw_test_count_substr(err, "is complete, kept"), 2);
    free(err);
    /* ggml-cuda's fusion turned back on by the user (GGML_CUDA_DISABLE_FUSION=0) moves the captures
     * on a GPU: recorded with the GPU layers, and a change makes the shards again */
    setenv("GGML_CUDA_DISABLE_FUSION", "0", 1);
    err = extract("--gpu-layers 3");
    unsetenv("GGML_CUDA_DISABLE_FUSION");
    assert_int_equal(lw_test_count_substr(err, "is complete, kept"), 0);
    assert_int_equal(lw_test_count_substr(err, "ggml_cuda_disable_fusion"), 2);
    free(err);
    err = extract("--gpu-layers 3"); /* unset again: the library's default, "1" */
    assert_int_equal(lw_test_count_substr(err, "made with other settings (ggml_cuda_disable_fusion"), 2);
    free(err);
    /* another --batch names that setting */
    err = extract("--gpu-layers 3 --batch 1");
    assert_int_equal(lw_test_count_substr(err, "made with other settings (batch was 2, now 1); made again"), 2);
    free(err);
}

/* The texts are fingerprinted by content (input_sha256), not by path: the same corpus through a
 * link keeps every finished shard; another corpus at the same path makes them again. */
static void test_input_by_content_not_path(void **state) {
    (void)state;
    char link[1300];
    snprintf(link, sizeof link, "%s.link.txt", CORPUS);
    unlink(link);
    assert_int_equal(symlink(CORPUS, link), 0);
    free(extract(""));
    char args[4096], *err;
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out %s --shard-texts 2 --resume", MODEL,
             link, OUT);
    assert_int_equal(lw_test_run_cli(args, NULL, &err), 0);
    assert_int_equal(lw_test_count_substr(err, "is complete, kept"), 2);
    free(err);
    FILE *f = fopen(CORPUS, "w");
    fputs("The cat sat.\nTom ran.\nA bird sang.\nThe dog ate quickly.\n", f);
    fclose(f);
    err = extract("");
    assert_int_equal(lw_test_count_substr(err, "made with other settings (input_sha256 was"), 2);
    free(err);
}

/* The model too counts by its content (model_sha256), not its path: a copy elsewhere keeps every
 * finished shard; another model is named as such, before its other width and layers. */
static void test_model_by_content_not_path(void **state) {
    (void)state;
    free(extract(""));
    char copy[1300], other[1300], args[4096], *err;
    snprintf(copy, sizeof copy, "%s.copy.gguf", MODEL);
    snprintf(other, sizeof other, "%s.other.gguf", MODEL);
    lw_synth_params p = lw_synth_default_params();
    p.n_layer = 2;
    assert_int_equal(lw_synth_write(copy, &p), 0); /* the same bytes as MODEL */
    p.n_embd *= 2;
    p.seed += 1;
    assert_int_equal(lw_synth_write(other, &p), 0);
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out %s --shard-texts 2 --resume", copy,
             CORPUS, OUT);
    assert_int_equal(lw_test_run_cli(args, NULL, &err), 0);
    assert_int_equal(lw_test_count_substr(err, "is complete, kept"), 2);
    free(err);
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out %s --shard-texts 2 --resume", other,
             CORPUS, OUT);
    assert_int_equal(lw_test_run_cli(args, NULL, &err), 0);
    char want[1500];
    snprintf(want, sizeof want, "made with another model (%s, sha256 ", MODEL);
    assert_int_equal(lw_test_count_substr(err, want), 2);
    assert_int_equal(lw_test_count_substr(err, other), 2);
    free(err);
    unlink(copy);
    unlink(other);
}

static void test_model_info_gpu_layers(void **state) {
    (void)state;
    lw_model_params mp = lw_model_default_params();
    mp.n_gpu_layers = 2;
    lw_model *m = lw_model_load(MODEL, mp);
    assert_non_null(m);
    lw_model_info info;
    lw_model_get_info(m, &info);
    assert_int_equal(info.n_gpu_layers, 2);
    lw_model_free(m);
    m = lw_model_load(MODEL, lw_model_default_params());
    lw_model_get_info(m, &info);
    assert_int_equal(info.n_gpu_layers, 0);
    lw_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpu_layers_in_fingerprint),
        cmocka_unit_test(test_model_info_gpu_layers),
        cmocka_unit_test(test_input_by_content_not_path),
        cmocka_unit_test(test_model_by_content_not_path),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, NULL));
}
