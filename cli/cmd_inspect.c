/* latentwire inspect FILE.safetensors: tensors, metadata, and row statistics of F32
 * matrices (the quick look a person wants before loading a file elsewhere). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "latentwire/safetensors.h"

static void row_stats(const lw_st_tensor *t) {
    int64_t rows = t->shape[0], cols = t->shape[1];
    const float *x = t->data;
    double sum_norm = 0, min_norm = INFINITY, max_norm = 0;
    int64_t non_finite = 0;
    for (int64_t r = 0; r < rows; r++) {
        double ss = 0;
        for (int64_t c = 0; c < cols; c++) {
            float v = x[r * cols + c];
            if (!isfinite(v)) non_finite++;
            ss += (double)v * v;
        }
        double n = sqrt(ss);
        sum_norm += n;
        if (n < min_norm) min_norm = n;
        if (n > max_norm) max_norm = n;
    }
    if (rows > 0)
        printf("   row L2 norm mean %.4g  min %.4g  max %.4g", sum_norm / (double)rows, min_norm, max_norm);
    if (non_finite) printf("  NON-FINITE VALUES: %lld", (long long)non_finite);
}

int cmd_inspect(int argc, char **argv) {
    if (argc != 2 || !strcmp(argv[1], "--help")) {
        fprintf(argc == 2 ? stdout : stderr, "usage: latentwire inspect FILE.safetensors\n");
        return argc == 2 ? 0 : 2;
    }
    lw_st_file *f = lw_st_open(argv[1]);
    if (!f) return cli_fail_lib("inspect");
    printf("%s: %d tensor(s)\n", argv[1], lw_st_count(f));
    for (int i = 0; i < lw_st_count(f); i++) {
        const lw_st_tensor *t = lw_st_get(f, i);
        printf("  %-12s %-4s [", t->name, lw_dtype_name(t->dtype));
        for (int k = 0; k < t->n_dims; k++) printf("%s%lld", k ? ", " : "", (long long)t->shape[k]);
        printf("]");
        if (t->dtype == LW_DT_F32 && t->n_dims == 2) row_stats(t);
        printf("\n");
    }
    for (int i = 0; i < lw_st_meta_count(f); i++) {
        const char *k = lw_st_meta_key(f, i);
        printf("  meta %s = %s\n", k, lw_st_meta(f, k));
    }
    lw_st_close(f);
    return 0;
}
