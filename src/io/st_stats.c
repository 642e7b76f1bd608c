/* Row statistics of a 2-D F32 tensor (lw_st_row_stats_of): the numbers inspect shows, computed
 * by the library so a binding gets the very same ones. */
#include <math.h>

#include "common/error.h"
#include "latentwire/safetensors.h"

int lw_st_row_stats_of(const lw_st_tensor *t, lw_st_row_stats *out) {
    if (!t || !out) return lw_fail("lw_st_row_stats_of: %s is NULL", t ? "out" : "the tensor");
    if (t->dtype != LW_DT_F32 || t->n_dims != 2)
        return lw_fail("lw_st_row_stats_of: tensor \"%s\" is %s with %d dimension(s), not a 2-D F32 matrix",
                       t->name ? t->name : "", lw_dtype_name(t->dtype), t->n_dims);
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
    *out = (lw_st_row_stats){rows > 0 ? sum_norm / (double)rows : 0, rows > 0 ? min_norm : 0, max_norm, non_finite};
    return 0;
}
