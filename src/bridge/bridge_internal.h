/* Internal: the bridge object, its tensors per recipe, shared by fit / apply / io. */
#ifndef LW_BRIDGE_INTERNAL_H
#define LW_BRIDGE_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "latentwire/bridge.h"

#define LW_BRIDGE_FORMAT "latentwire.bridge/1"
#define LW_BRIDGE_META_KEY "latentwire"
/* Dump flags for the fit record: 17 significant digits make every double round-trip. */
#define LW_BRIDGE_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(17))

/* Every tensor a bridge file can hold. */
typedef enum {
    LW_BT_MEAN_A = 0, /* [dA]  centering of source rows (zeros without centering) */
    LW_BT_MEAN_B,     /* [dB] */
    LW_BT_NORM_A,     /* [1]   divisor of centered source rows (1 without scaling) */
    LW_BT_NORM_B,     /* [1] */
    LW_BT_W,          /* ridge map: [dA,dB] (ridge), [r,dB] (pca-ridge), [r,r] (pca2-ridge) */
    LW_BT_PCA_A,      /* [dA,r] source principal axes */
    LW_BT_PCA_B,      /* [dB,r] target principal axes */
    LW_BT_ROTATION,   /* [r,r]  Procrustes rotation */
    LW_BT_CCA_A,      /* [dA,r] canonical directions */
    LW_BT_CCA_B,      /* [dB,r] */
    LW_BT_CCA_CORR,   /* [r]    canonical correlations */
    LW_BT_ANCHORS_A,  /* [k,dA] normalized anchor rows */
    LW_BT_ANCHORS_B,  /* [k,dB] */
    LW_BT_COUNT
} lw_bridge_tensor;

/* What a tensor axis measures. */
typedef enum { LW_AX_A, LW_AX_B, LW_AX_R, LW_AX_ONE } lw_bridge_axis;

typedef struct {
    lw_bridge_tensor id;
    int n_dims;
    lw_bridge_axis ax[2];
} lw_bridge_tspec;

struct lw_bridge {
    lw_bridge_recipe recipe;
    int dA, dB, out;
    int rank;               /* components (pca*, procrustes, cca) or anchors (relrep); 0 for ridge */
    bool center, scale;
    float *t[LW_BT_COUNT];  /* tensors of this recipe (NULL for the others) */
    float *anorm_a, *anorm_b; /* relrep: Euclidean norms of the anchor rows (derived) */
    json_t *rec;            /* the fit record */
    char *info;             /* its text, kept current */
};

const char *lw_bridge__tensor_name(lw_bridge_tensor id);
/* The recipe's tensors in file order (the four normalization tensors first). */
const lw_bridge_tspec *lw_bridge__specs(lw_bridge_recipe r, int *count);
/* Whether the recipe has a rank / anchor count, and its comparison-space width. */
bool lw_bridge__has_rank(lw_bridge_recipe r);
int lw_bridge__out_dim(lw_bridge_recipe r, int dA, int dB, int rank);
int64_t lw_bridge__axis(const lw_bridge *b, lw_bridge_axis ax);

/* A bridge with zeroed tensors for the recipe (means 0, norms 1), rec = NULL. */
lw_bridge *lw_bridge__new(lw_bridge_recipe r, int dA, int dB, int rank, bool center, bool scale);
/* Derived state (anchor norms) and the record's text; call after the tensors and rec are set. */
int lw_bridge__finish(lw_bridge *b);

/* Checks n rows of X (n x d) are finite; the error names `what`, the row and column. */
int lw_bridge__check_finite(const float *X, int64_t n, int d, const char *what);

#endif
