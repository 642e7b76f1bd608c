#include "common/logsumexp.h"

#include <math.h>

lw_lse_terms lw_lse_terms_of(const float *x, int n, double t) {
    lw_lse_terms e = {-INFINITY, 0};
    /* a NaN compares false, so it is skipped here and turns the sum NaN below */
    for (int i = 0; i < n; i++) {
        double v = (double)x[i] / t;
        if (v > e.max) e.max = v;
    }
    for (int i = 0; i < n; i++) e.sum += exp((double)x[i] / t - e.max);
    return e;
}

double lw_lse_value(lw_lse_terms e) { return e.max + log(e.sum); }
