/* Closed-form AC(W): least squares on paired last-token activations.
 *
 * Ramesh & Li train W with Adam on the MSE |W a - b|^2; the minimizer has a closed form,
 * W^T = (A^T A + lambda I)^-1 A^T B, solved here in float64 by Cholesky (LAPACK dposv)
 * with a tiny ridge (1e-6 x mean diagonal) so a rank-deficient A (fewer texts than
 * dimensions) still has the minimum-norm-like stable solution. */
#include <cblas.h>
#include <lapacke.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "latentwire/channel.h"

/* Last-token residual of each text at `layer` (early-stopped capture runs). */
static double *last_token_rows(lw_session *s, int layer, const char *const *texts, int n, int *d_out) {
    lw_model_info info;
    lw_model_get_info(lw_session_model(s), &info);
    int l = layer < 0 ? layer + info.n_layer : layer;
    if (l < 0 || l >= info.n_layer) {
        lw_fail("ac map: layer %d is out of range (model has layers 0..%d)", layer, info.n_layer - 1);
        return NULL;
    }
    const int d = info.n_embd;
    float *rows = malloc(sizeof(float) * (size_t)n * d);
    lw_session_clear(s, -1);
    if (lw_extract_pooled(s, texts, n, true, true, &l, 1, LW_POOL_LAST, &rows, NULL) != 0) {
        free(rows);
        return NULL;
    }
    double *out = malloc(sizeof(double) * (size_t)n * d);
    for (size_t i = 0; i < (size_t)n * d; i++) out[i] = rows[i];
    free(rows);
    *d_out = d;
    return out;
}

float *lw_channel_fit_ac_map(lw_session *sender, lw_session *receiver, int k, int j, const char *const *texts,
                             int n_texts, int *dA_out, int *dB_out) {
    if (n_texts < 2) {
        lw_fail("ac map: at least 2 calibration texts are needed (got %d)", n_texts);
        return NULL;
    }
    int dA, dB;
    double *A = last_token_rows(sender, k, texts, n_texts, &dA);
    double *B = A ? last_token_rows(receiver, j, texts, n_texts, &dB) : NULL;
    if (!A || !B) {
        free(A);
        return NULL;
    }
    double *G = malloc(sizeof(double) * (size_t)dA * dA), *R = malloc(sizeof(double) * (size_t)dA * dB);
    /* G = A^T A (dA x dA), R = A^T B (dA x dB) */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dA, dA, n_texts, 1.0, A, dA, A, dA, 0.0, G, dA);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dA, dB, n_texts, 1.0, A, dA, B, dB, 0.0, R, dB);
    double tr = 0;
    for (int i = 0; i < dA; i++) tr += G[(size_t)i * dA + i];
    double lambda = 1e-6 * (tr > 0 ? tr / dA : 1.0);
    for (int i = 0; i < dA; i++) G[(size_t)i * dA + i] += lambda;
    float *W = NULL;
    lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', dA, dB, G, dA, R, dB);
    if (info != 0) {
        lw_fail("ac map: the normal equations are not positive definite (LAPACK dposv info %d)", (int)info);
    } else {
        /* R now holds W^T (dA x dB); return W (dB x dA) */
        W = malloc(sizeof(float) * (size_t)dB * dA);
        for (int r = 0; r < dB; r++)
            for (int c = 0; c < dA; c++) W[(size_t)r * dA + c] = (float)R[(size_t)c * dB + r];
        *dA_out = dA;
        *dB_out = dB;
    }
    free(A);
    free(B);
    free(G);
    free(R);
    return W;
}
