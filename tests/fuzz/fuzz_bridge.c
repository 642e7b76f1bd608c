/* libFuzzer entry point for bridge files: any byte string, written to a file, must either
 * load as a bridge whose dimensions are consistent and whose maps apply, or be rejected
 * with an error message; never crash, leak or read out of bounds. lw_bridge_load takes a
 * path (it maps the file), so each input goes through one scratch file per process.
 * Build with clang -fsanitize=fuzzer,address,undefined. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "latentwire/bridge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_path[1024];

static void remove_scratch(void) {
    if (g_path[0]) remove(g_path);
}

static const char *scratch_path(void) {
    if (!g_path[0]) {
        const char *dir = getenv("TMPDIR");
        if (!dir || !*dir) dir = "/tmp";
        snprintf(g_path, sizeof g_path, "%s/lw-fuzz-bridge-%ld.safetensors", dir, (long)getpid());
        atexit(remove_scratch);
    }
    return g_path;
}

/* Maps one all-zero row through each side; a loaded bridge must accept it. */
static void exercise(const lw_bridge *b) {
    int dA = lw_bridge_source_dim(b), dB = lw_bridge_target_dim(b), out = lw_bridge_out_dim(b);
    if (dA < 1 || dB < 1 || out < 1) __builtin_trap();
    if (lw_bridge_recipe_name(lw_bridge_get_recipe(b)) == NULL) __builtin_trap();
    (void)strlen(lw_bridge_info_json(b));
    size_t w = (size_t)(dA > dB ? dA : dB);
    float *in = calloc(w, sizeof *in), *res = calloc((size_t)out, sizeof *res);
    if (in && res) {
        if (lw_bridge_apply_source(b, in, 1, res) != 0) __builtin_trap();
        if (lw_bridge_apply_target(b, in, 1, res) != 0) __builtin_trap();
    }
    free(in);
    free(res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = scratch_path();
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    size_t wrote = size ? fwrite(data, 1, size, fp) : 0;
    if (fclose(fp) != 0 || wrote != size) return 0;
    lw_clear_error();
    lw_bridge *b = lw_bridge_load(path);
    if (!b) {
        if (!lw_last_error()[0]) __builtin_trap(); /* a refusal always says why */
        return 0;
    }
    exercise(b);
    lw_bridge_free(b);
    return 0;
}
