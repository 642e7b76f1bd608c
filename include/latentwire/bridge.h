/* Bridges: linear maps between two models' activation spaces.
 *
 * Fit on paired rows X (n x dA, model A) and Y (n x dB, model B), float32 row-major.
 * Every recipe maps A-rows and B-rows into one comparison space where retrieval ranks by
 * cosine:
 *   RIDGE         B's raw space: apply_source predicts B rows (bias, centering and scaling
 *                 undone), apply_target is the identity. Y ~ X W (+ bias). Closed form; primal (dA x dA system) when
 *                 n >= dA, dual/kernel (n x n system) when n < dA; alpha by GCV or k-fold on
 *                 a log grid unless given.
 *   PCA_RIDGE     source PCA of X to `rank` components, then ridge (dual when n < rank).
 *   PCA2_RIDGE    PCA on both sides to `rank` components, ridge between the coordinates,
 *                 mapped back to B's space.
 *   PROCRUSTES    both sides reduced by PCA to a common dimension k = min(rank, dA, dB),
 *                 then the orthogonal map R minimizing |XR - Y|_F; comparison space is
 *                 B's PCA coordinates.
 *   CCA           regularized CCA; comparison space: the first `rank` canonical variates.
 *   RELREP        relative representations: cosine to k anchor rows (A-rows for queries,
 *                 the paired B-rows for candidates); nothing fitted.
 * Centering (default on) subtracts column means fitted on the calibration rows; scaling
 * (default off) divides each side by its average row norm. Both are recorded.
 *
 * Precision: data and maps are stored in float32; covariance / Gram matrices, solves,
 * SVDs and eigendecompositions are float64 (LAPACK), since ridge with small alpha and CCA
 * whitening are ill-conditioned in float32.
 *
 * A bridge file is safetensors: the matrices as F32 tensors plus metadata "latentwire" (a
 * JSON document: recipe, hyperparameters, chosen alpha and how, centering/scaling, fit
 * statistics, calibration size, and whatever the caller adds: model sha256s, layers,
 * pooling). */
#ifndef LATENTWIRE_BRIDGE_H
#define LATENTWIRE_BRIDGE_H

#include <stdbool.h>
#include <stdint.h>

#include "latentwire/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LW_BRIDGE_RIDGE = 0,
    LW_BRIDGE_PCA_RIDGE,
    LW_BRIDGE_PCA2_RIDGE,
    LW_BRIDGE_PROCRUSTES,
    LW_BRIDGE_CCA,
    LW_BRIDGE_RELREP,
} lw_bridge_recipe;

const char *lw_bridge_recipe_name(lw_bridge_recipe r);      /* "ridge", "pca-ridge", ... */
int lw_bridge_recipe_from_name(const char *name);           /* -1 if unknown */

typedef enum { LW_ALPHA_GCV = 0, LW_ALPHA_KFOLD = 1 } lw_alpha_select;

typedef struct {
    lw_bridge_recipe recipe;
    bool center;            /* default true */
    bool scale;             /* default false */
    double alpha;           /* ridge penalty, relative like the grid (times trace(X'X)/d);
                               <= 0: select on the grid (default 0) */
    lw_alpha_select alpha_select; /* default GCV */
    int kfold;              /* folds for LW_ALPHA_KFOLD (default 5) */
    double alpha_min, alpha_max; /* log grid bounds (default 1e-3 .. 1e5), relative to the
                                    mean eigenvalue of X'X / n so the grid is scale-free */
    int alpha_steps;        /* grid points (default 17) */
    int rank;               /* PCA components / Procrustes dim / CCA components; 0 = auto
                               (min(n - 1, dA, dB, 256)) */
    double cca_reg;         /* CCA ridge on each covariance, relative to its mean eigenvalue; <= 0: chosen
                               on held-out folds of the calibration rows (kfold, seed) on a decade grid
                               1e-4 .. 1e2 (default 0); recorded under "cca_reg" in the fit record */
    int n_anchors;          /* RELREP anchors; 0 = min(n, 300) */
    uint64_t seed;          /* k-fold shuffle and anchor choice (default 1) */
} lw_bridge_params;

lw_bridge_params lw_bridge_default_params(void);

typedef struct lw_bridge lw_bridge;

/* Fits a bridge. Errors: n < 2, dims < 1, NaN/Inf values (naming the row), recipe
 * constraints. A singular system falls back to the smallest alpha on the grid that makes it
 * solvable (documented in the fit statistics), never to garbage. */
lw_bridge *lw_bridge_fit(const float *X, const float *Y, int64_t n, int dA, int dB, const lw_bridge_params *p);
void lw_bridge_free(lw_bridge *b);

int lw_bridge_source_dim(const lw_bridge *b);
int lw_bridge_target_dim(const lw_bridge *b);
/* Dimension of the comparison space both sides are mapped into. */
int lw_bridge_out_dim(const lw_bridge *b);
lw_bridge_recipe lw_bridge_get_recipe(const lw_bridge *b); /* NULL: (lw_bridge_recipe)-1, message set */

/* Maps n source rows (n x dA) into the comparison space (n x out_dim). 0 or -1. */
int lw_bridge_apply_source(const lw_bridge *b, const float *X, int64_t n, float *out);
/* Maps n target rows (n x dB) into the comparison space (n x out_dim). 0 or -1. */
int lw_bridge_apply_target(const lw_bridge *b, const float *Y, int64_t n, float *out);

/* n rows of width d mapped by the source (or target) side of b into a new n x *dim matrix (the
 * caller frees it); b NULL: a copy (*dim = d), for the raw comparison without a bridge. NULL
 * (message set) on failure, and when d is not the width of that side of b. */
float *lw_bridge_map_rows(const lw_bridge *b, bool source, const float *x, int64_t n, int d, int *dim);

/* The fit record as a JSON document (recipe, hyperparameters, alpha and its selection,
 * statistics such as train R^2). Owned by the bridge. NULL (message set) for a NULL bridge. */
const char *lw_bridge_info_json(const lw_bridge *b);

/* Adds caller metadata (a JSON value as text, e.g. "\"abc\"" or "[3, 4]") under key in the
 * fit record: model sha256s, layers, pooling. 0 or -1 (invalid JSON). */
int lw_bridge_set_meta(lw_bridge *b, const char *key, const char *json_value);

/* A bridge is used where it was fitted: when its record names the tensor of `side` ("source" or
 * "target"; bridge fit records source_tensor / target_tensor, e.g. "layer.9"), that side's model
 * (source_model_sha256 ...) or its rows' pooling (source_pool: "mean", "last", "none"), `tensor`,
 * `model_sha256` and `pool` must equal them (any may be NULL: not checked; a record that names
 * none passes). A bridge fitted at block 9, or on mean-pooled rows, and applied at block 4, or to
 * last-token rows, maps rows from a space it never saw. 0, or -1 (message naming both, without the
 * file). */
int lw_bridge_check_fit(const lw_bridge *b, const char *side, const char *tensor, const char *model_sha256,
                        const char *pool);

int lw_bridge_save(const lw_bridge *b, const char *path);
/* Loads and validates a bridge file (shapes consistent with the recorded recipe). */
lw_bridge *lw_bridge_load(const char *path);

#ifdef __cplusplus
}
#endif
#endif
