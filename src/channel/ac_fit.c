/* AC(W): the project's ridge bridge between last-token activations.
 *
 * Ramesh & Li train W with Adam on the MSE |W a - b|^2. With fewer calibration texts than
 * dimensions that problem interpolates; the bridge's ridge centers both sides and chooses
 * its penalty by GCV, so the map here is exactly what `bridge fit --recipe ridge` would fit
 * on the same pairs. */
#include <stdlib.h>

#include "common/error.h"
#include "latentwire/channel.h"

/* Last-token residual of each text at `layer` (early-stopped capture runs), n x d. */
static float *last_token_rows(lw_session *s, int layer, const char *const *texts, int n, int *d_out) {
    lw_model_info info;
    lw_model_get_info(lw_session_model(s), &info);
    int l = lw_channel_resolve_layer(layer, info.n_layer);
    if (l < 0) return NULL;
    float *rows = malloc(sizeof(float) * (size_t)n * info.n_embd);
    if (!rows) {
        lw_fail("ac map: out of memory");
        return NULL;
    }
    lw_session_clear(s, -1);
    if (lw_extract_pooled(s, texts, n, true, true, &l, 1, LW_POOL_LAST, &rows, NULL) != 0) {
        free(rows);
        return NULL;
    }
    *d_out = info.n_embd;
    return rows;
}

lw_bridge *lw_channel_fit_ac_bridge(lw_session *sender, lw_session *receiver, int k, int j, const char *const *texts,
                                    int n_texts, const lw_bridge_params *bp) {
    if (!sender || !receiver || !texts)
        return lw_fail("ac map: %s is NULL", !sender ? "the sender" : !receiver ? "the receiver" : "texts"), NULL;
    if (n_texts < 2) {
        lw_fail("ac map: at least 2 calibration texts are needed (got %d)", n_texts);
        return NULL;
    }
    int dA = 0, dB = 0;
    float *A = last_token_rows(sender, k, texts, n_texts, &dA);
    float *B = A ? last_token_rows(receiver, j, texts, n_texts, &dB) : NULL;
    lw_bridge *b = NULL;
    if (A && B) {
        lw_bridge_params p = bp ? *bp : lw_bridge_default_params();
        p.recipe = LW_BRIDGE_RIDGE; /* apply_source must land in B's raw space */
        b = lw_bridge_fit(A, B, n_texts, dA, dB, &p);
    }
    free(A);
    free(B);
    return b;
}
