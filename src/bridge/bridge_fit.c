/* Fitting bridges (lw_bridge_fit): input checks, normalization, one function per recipe,
 * the ridge core with alpha selection, and the fit record.
 *
 * Precision: the calibration rows are normalized into float64 copies and every fit
 * (Gram matrices, solves, PCA, Procrustes and CCA decompositions) runs in float64 through
 * src/linalg; only the finished maps are rounded to float32. The means and norms are
 * rounded to float32 *before* the data are normalized with them, so the training rows
 * are normalized exactly as lw_bridge_apply_* will normalize new rows.
 *
 * alpha, given or on the grid, is relative: the penalty added to X'X is
 * alpha * trace(X'X) / d, alpha times the mean eigenvalue of X'X (the grid's definition in
 * bridge.h: relative to the mean eigenvalue of X'X/n, with the penalty on X'X/n), so one
 * number means the same regularization at any activation scale. X is the ridge's design:
 * the normalized source rows (ridge) or their PCA coordinates (pca-ridge, pca2-ridge).
 *
 * Fallbacks, all recorded in the fit record:
 *   - alpha selected on the grid (alpha <= 0) whose system turns out numerically singular
 *     (Cholesky fails or rcond < 10 d eps): the next larger grid alpha is tried, up to the
 *     top of the grid ("alpha.fallback": true, "alpha.best_index" vs "alpha.index");
 *     singular at every grid point is an error.
 *   - alpha given explicitly and singular: an error (never a silent change of the model).
 *   - rank larger than the data allow: clamped to min(n-1 (n without centering), dA[, dB])
 *     and then to the numerical rank of each side ("rank_clamped", "rank_note").
 *   - relrep anchors beyond n: clamped to n. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge_internal.h"
#include "common/compare.h"
#include "common/error.h"
#include "linalg/linalg.h"

#define FIT "bridge fit" /* messages name the verb and its options, as a user gave them */

/* ------------------------------------------------------------- JSON helpers ---- */

/* JSON has no inf/NaN: those become null (e.g. a GCV score with no degrees of freedom left). */
static json_t *jreal(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static json_t *jreal_array(const double *x, int n) {
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) json_array_append_new(a, jreal(x[i]));
    return a;
}

static const char *select_name(lw_alpha_select s) { return s == LW_ALPHA_KFOLD ? "kfold" : "gcv"; }

/* The parameters as requested (before any clamping). */
static json_t *params_record(const lw_bridge_params *p) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "alpha", jreal(p->alpha));
    json_object_set_new(o, "alpha_select", json_string(select_name(p->alpha_select)));
    json_object_set_new(o, "kfold", json_integer(p->kfold));
    json_object_set_new(o, "alpha_min", jreal(p->alpha_min));
    json_object_set_new(o, "alpha_max", jreal(p->alpha_max));
    json_object_set_new(o, "alpha_steps", json_integer(p->alpha_steps));
    json_object_set_new(o, "rank", json_integer(p->rank));
    json_object_set_new(o, "cca_reg", jreal(p->cca_reg));
    json_object_set_new(o, "n_anchors", json_integer(p->n_anchors));
    /* JSON integers are signed 64-bit: larger seeds are kept exactly as text. */
    if (p->seed <= (uint64_t)INT64_MAX) json_object_set_new(o, "seed", json_integer((json_int_t)p->seed));
    else {
        char buf[32];
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)p->seed);
        json_object_set_new(o, "seed", json_string(buf));
    }
    return o;
}

/* ---------------------------------------------------------------- context ---- */

typedef struct {
    lw_bridge_params p;
    int n, dA, dB;
    double *Xn, *Yn;       /* normalized float64 copies of the calibration rows */
    double ssx, ssy;       /* their squared Frobenius norms */
    float *mean_a, *mean_b, norm_a, norm_b;
    int rank;              /* after structural clamping; recipes may lower it further */
    bool rank_clamped;
    char rank_note[256];
    json_t *stats;         /* fit statistics, filled by the recipe */
    json_t *alpha;         /* alpha record (ridge recipes) */
    json_t *extra;         /* extra top-level fields (relrep anchor rows) */
} fit_ctx;

static void clamp_rank(fit_ctx *c, int limit, const char *why) {
    if (c->rank <= limit) return;
    c->rank_clamped = true;
    size_t len = strlen(c->rank_note);
    snprintf(c->rank_note + len, sizeof c->rank_note - len, "%s%d -> %d (%s)", len ? "; " : "", c->rank, limit, why);
    c->rank = limit;
}

/* Means (rounded to float) and the float64 normalized copy of one side. */
static int normalize_side(const float *X, int n, int d, const fit_ctx *c, float *mean_f, float *norm_f, double **out,
                          double *ss, const char *which) {
    double *mu = lw_la_dalloc((size_t)d), *Xn = lw_la_dalloc((size_t)n * d);
    if (!mu || !Xn) {
        free(mu);
        free(Xn);
        return -1;
    }
    if (c->p.center) {
        lw_la_col_means(X, n, d, mu);
        for (int j = 0; j < d; j++) mu[j] = (double)(mean_f[j] = (float)mu[j]);
    }
    lw_la_center_scale(X, n, d, mu, 1.0, Xn);
    *norm_f = 1.0f;
    if (c->p.scale) {
        *norm_f = (float)lw_la_mean_row_norm(Xn, n, d);
        if (!(*norm_f > 0.0f) || !isfinite(*norm_f)) {
            free(mu);
            free(Xn);
            return lw_fail(FIT ": %s: cannot scale: every row is zero%s", which, c->p.center ? " after centering" : "");
        }
        for (size_t i = 0; i < (size_t)n * d; i++) Xn[i] /= (double)*norm_f;
    }
    *ss = lw_la_sumsq(Xn, (size_t)n * d);
    free(mu);
    *out = Xn;
    return 0;
}

/* ------------------------------------------------------------- statistics ---- */

/* Fit of predictions P to targets T (n x m), both normalized: train R^2 (against the column
 * means of T) and relative residual |T - P| / |T| there, and the mean cosine of paired rows
 * in the comparison space (what retrieval ranks by): with `mean` (ridge recipes, whose
 * comparison space is B's own), rows are first mapped back by x * norm + mean.
 * with_r2 = false keeps only the cosine (CCA, relrep). */
static void put_fit_stats(json_t *stats, const double *P, const double *T, int n, int m, bool with_r2,
                          const float *mean, double norm) {
    double rss = 0.0, t2 = 0.0, tss = 0.0, cos_sum = 0.0;
    double *mu = lw_la_dalloc((size_t)m);
    if (!mu) return;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) mu[j] += T[(size_t)i * m + j] / n;
    for (int i = 0; i < n; i++) {
        const double *p = P + (size_t)i * m, *t = T + (size_t)i * m;
        double pp = 0.0, tt = 0.0, pt = 0.0;
        for (int j = 0; j < m; j++) {
            rss += (t[j] - p[j]) * (t[j] - p[j]);
            tss += (t[j] - mu[j]) * (t[j] - mu[j]);
            t2 += t[j] * t[j];
            double pj = mean ? p[j] * norm + mean[j] : p[j], tj = mean ? t[j] * norm + mean[j] : t[j];
            pp += pj * pj;
            tt += tj * tj;
            pt += pj * tj;
        }
        cos_sum += pp > 0.0 && tt > 0.0 ? pt / sqrt(pp * tt) : 0.0;
    }
    free(mu);
    if (with_r2) {
        json_object_set_new(stats, "train_r2", tss > 0.0 ? jreal(1.0 - rss / tss) : json_null());
        json_object_set_new(stats, "relative_residual", t2 > 0.0 ? jreal(sqrt(rss / t2)) : json_null());
    }
    json_object_set_new(stats, "train_cosine", jreal(cos_sum / n));
}

/* --------------------------------------------------------------- ridge core ---- */

typedef struct {
    double *W;                 /* d x m */
    double alpha_rel, alpha_abs, scale, rcond;
    bool dual, fallback;
    int best, index, steps;
    double *grid, *scores;
    const char *selection;
} ridge_fit;

static void ridge_fit_free(ridge_fit *o) {
    free(o->W);
    free(o->grid);
    free(o->scores);
}

/* The final solve at one absolute alpha, reusing the Gram matrices formed for selection. */
static int ridge_solve(ridge_fit *o, const double *G, const double *XtY, const double *K, const double *X,
                       const double *Y, int n, int d, int m, double alpha) {
    if (o->dual) return lw_la_ridge_dual_gram(K, X, Y, n, d, m, alpha, o->W, &o->rcond);
    return lw_la_ridge_primal_gram(G, XtY, d, m, alpha, o->W, &o->rcond);
}

/* Scores of every grid alpha: GCV from one eigendecomposition of the Gram already formed,
 * or k-fold CV. */
static int ridge_scores(const lw_bridge_params *p, ridge_fit *o, const double *G, const double *XtY,
                        const double *K, const double *X, const double *Y, int n, int d, int m, double df_extra) {
    double *abs_grid = lw_la_dalloc((size_t)o->steps);
    if (!abs_grid) return -1;
    for (int i = 0; i < o->steps; i++) abs_grid[i] = o->grid[i] * o->scale;
    int rc;
    if (p->alpha_select == LW_ALPHA_KFOLD) {
        rc = lw_la_kfold_scores(X, Y, n, d, m, p->kfold, p->seed, abs_grid, o->steps, o->scores);
    } else {
        lw_la_spectrum sp;
        rc = o->dual ? lw_la_spectrum_dual(K, Y, n, m, &sp)
                     : lw_la_spectrum_primal(G, XtY, n, d, m, lw_la_sumsq(Y, (size_t)n * m), &sp);
        for (int i = 0; rc == 0 && i < o->steps; i++) o->scores[i] = lw_la_gcv(&sp, abs_grid[i], df_extra);
        if (rc == 0) lw_la_spectrum_free(&sp);
    }
    free(abs_grid);
    return rc;
}

/* Ridge from design X (n x d) to targets Y (n x m), primal when n >= d, dual otherwise;
 * alpha given (relative) or selected on the grid, with the documented fallback. */
static int ridge_fit_run(const lw_bridge_params *p, const double *X, const double *Y, int n, int d, int m,
                         double df_extra, ridge_fit *o) {
    memset(o, 0, sizeof *o);
    /* alpha is relative to the mean eigenvalue of X'X/n; (X'X + alpha_abs I) with
     * alpha_abs = alpha * trace(X'X) / d is the same penalty. */
    o->scale = lw_la_sumsq(X, (size_t)n * d) / (double)d;
    if (!(o->scale > 0.0)) return lw_fail(FIT ": ridge: the design matrix is zero (no variance to regress on)");
    o->dual = n < d;
    o->steps = p->alpha > 0.0 ? 1 : p->alpha_steps;
    o->W = lw_la_dalloc((size_t)d * m);
    o->grid = lw_la_dalloc((size_t)o->steps);
    o->scores = lw_la_dalloc((size_t)o->steps);
    double *G = NULL, *XtY = NULL, *K = NULL;
    if (!o->W || !o->grid || !o->scores) return -1;
    if (o->dual) K = lw_la_dalloc((size_t)n * n);
    else G = lw_la_dalloc((size_t)d * d), XtY = lw_la_dalloc((size_t)d * m);
    int rc = (o->dual ? K != NULL : (G && XtY)) ? 0 : -1;
    if (rc == 0) {
        if (o->dual) lw_la_gram_rows(X, n, d, K);
        else {
            lw_la_gram_cols(X, n, d, G);
            lw_la_dgemm(true, false, d, m, n, 1.0, X, Y, 0.0, XtY);
        }
    }
    if (rc == 0 && p->alpha > 0.0) {
        o->selection = "given";
        o->grid[0] = o->alpha_rel = p->alpha;
        o->alpha_abs = p->alpha * o->scale;
        o->scores[0] = NAN;
        rc = ridge_solve(o, G, XtY, K, X, Y, n, d, m, o->alpha_abs);
        if (rc == LW_LA_SINGULAR)
            rc = lw_fail(FIT ": ridge: the %s system is numerically singular at the given alpha %g (%g absolute, "
                              "rcond %.3g); give a larger alpha, or none (alpha <= 0 in the library's params) to select one on "
                              "the grid",
                         o->dual ? "dual" : "primal", p->alpha, o->alpha_abs, o->rcond);
    } else if (rc == 0) {
        o->selection = select_name(p->alpha_select);
        for (int i = 0; i < o->steps; i++)
            o->grid[i] = o->steps == 1 ? p->alpha_min
                                       : p->alpha_min * pow(p->alpha_max / p->alpha_min, (double)i / (o->steps - 1));
        rc = ridge_scores(p, o, G, XtY, K, X, Y, n, d, m, df_extra);
        /* Best = lowest finite score (ties: the smaller alpha); none finite: the largest alpha. */
        o->best = -1;
        for (int i = 0; rc == 0 && i < o->steps; i++)
            if (isfinite(o->scores[i]) && (o->best < 0 || o->scores[i] < o->scores[o->best])) o->best = i;
        if (o->best < 0) o->best = o->steps - 1;
        int i = o->best;
        for (; rc == 0 && i < o->steps; i++) {
            rc = ridge_solve(o, G, XtY, K, X, Y, n, d, m, o->grid[i] * o->scale);
            if (rc != LW_LA_SINGULAR) break;
            o->fallback = true;
            rc = 0;
        }
        if (rc == 0 && i == o->steps)
            rc = lw_fail(FIT ": ridge: the %s system is numerically singular at every grid alpha from %g up to %g",
                         o->dual ? "dual" : "primal", o->grid[o->best], o->grid[o->steps - 1]);
        if (rc == 0) {
            o->index = i;
            o->alpha_rel = o->grid[i];
            o->alpha_abs = o->grid[i] * o->scale;
        }
    }
    free(G);
    free(XtY);
    free(K);
    return rc;
}

static json_t *ridge_record(const ridge_fit *o) {
    json_t *a = json_object();
    if (!a) return NULL;
    json_object_set_new(a, "selection", json_string(o->selection));
    json_object_set_new(a, "value", jreal(o->alpha_rel));
    json_object_set_new(a, "absolute", jreal(o->alpha_abs));
    json_object_set_new(a, "scale", jreal(o->scale));
    json_object_set_new(a, "solver", json_string(o->dual ? "dual" : "primal"));
    json_object_set_new(a, "rcond", jreal(o->rcond));
    if (strcmp(o->selection, "given") != 0) {
        json_object_set_new(a, "grid", jreal_array(o->grid, o->steps));
        json_object_set_new(a, "scores", jreal_array(o->scores, o->steps));
        json_object_set_new(a, "best_index", json_integer(o->best));
        json_object_set_new(a, "index", json_integer(o->index));
    }
    json_object_set_new(a, "fallback", json_boolean(o->fallback));
    return a;
}

/* ------------------------------------------------------------ PCA helpers ---- */

/* Keeps the first r2 of r columns of M (rows x r), in place. */
static void keep_cols(double *M, int rows, int r, int r2) {
    if (r2 == r) return;
    for (int i = 0; i < rows; i++) memmove(M + (size_t)i * r2, M + (size_t)i * r, sizeof(double) * (size_t)r2);
}

/* PCA of one normalized side to c->rank components (P: d x rank) and its numerical rank. */
static int pca_side(fit_ctx *c, const double *Xn, int d, double **P_out, int *rk_out) {
    int r = c->rank, rk = 0;
    double *P = lw_la_dalloc((size_t)d * r), *var = lw_la_dalloc((size_t)r);
    int rc = (P && var) ? lw_la_pca(Xn, c->n, d, r, P, var, &rk) : -1;
    free(var);
    if (rc != 0) {
        free(P);
        return -1;
    }
    *P_out = P;
    *rk_out = rk;
    return 0;
}

/* Share of a side's (normalized) energy its kept PCA coordinates Z (n x r) hold. */
static void put_explained(fit_ctx *c, const char *key, const double *Z, int r, double ss) {
    double kept = lw_la_sumsq(Z, (size_t)c->n * r);
    json_object_set_new(c->stats, key, jreal(ss > 0.0 ? kept / ss : 0.0));
}

static double *project(const double *Xn, int n, int d, const double *P, int r) {
    double *Z = lw_la_dalloc((size_t)n * r);
    if (Z) lw_la_dgemm(false, false, n, r, d, 1.0, Xn, P, 0.0, Z);
    return Z;
}

/* Lowers the rank to the numerical ranks found and compacts the component matrices. */
static void settle_rank(fit_ctx *c, double *Pa, int rka, double *Pb, int rkb) {
    int r = c->rank;
    char why[64];
    if (rka < c->rank) {
        snprintf(why, sizeof why, "numerical rank of X is %d", rka);
        clamp_rank(c, rka, why);
    }
    if (Pb && rkb < c->rank) {
        snprintf(why, sizeof why, "numerical rank of Y is %d", rkb);
        clamp_rank(c, rkb, why);
    }
    keep_cols(Pa, c->dA, r, c->rank);
    if (Pb) keep_cols(Pb, c->dB, r, c->rank);
}

/* ---------------------------------------------------------------- recipes ---- */

static lw_bridge *new_bridge(const fit_ctx *c, lw_bridge_recipe r) {
    lw_bridge *b = lw_bridge__new(r, c->dA, c->dB, c->rank, c->p.center, c->p.scale);
    if (!b) return NULL;
    memcpy(b->t[LW_BT_MEAN_A], c->mean_a, sizeof(float) * (size_t)c->dA);
    memcpy(b->t[LW_BT_MEAN_B], c->mean_b, sizeof(float) * (size_t)c->dB);
    b->t[LW_BT_NORM_A][0] = c->norm_a;
    b->t[LW_BT_NORM_B][0] = c->norm_b;
    return b;
}

static double df_extra(const fit_ctx *c) { return c->p.center ? 1.0 : 0.0; }

static lw_bridge *fit_ridge(fit_ctx *c) {
    ridge_fit rf;
    lw_bridge *b = NULL;
    if (ridge_fit_run(&c->p, c->Xn, c->Yn, c->n, c->dA, c->dB, df_extra(c), &rf) == 0 &&
        (b = new_bridge(c, LW_BRIDGE_RIDGE))) {
        lw_la_d2f(rf.W, b->t[LW_BT_W], (size_t)c->dA * c->dB);
        c->alpha = ridge_record(&rf);
        double *P = project(c->Xn, c->n, c->dA, rf.W, c->dB);
        if (P) put_fit_stats(c->stats, P, c->Yn, c->n, c->dB, true, c->mean_b, c->norm_b);
        free(P);
    }
    ridge_fit_free(&rf);
    return b;
}

static lw_bridge *fit_pca_ridge(fit_ctx *c, bool both) {
    double *Pa = NULL, *Pb = NULL, *Za = NULL, *Zb = NULL, *P = NULL, *Q = NULL;
    int rka = 0, rkb = 0;
    ridge_fit rf;
    memset(&rf, 0, sizeof rf);
    lw_bridge *b = NULL;
    if (pca_side(c, c->Xn, c->dA, &Pa, &rka) != 0) goto done;
    if (both && pca_side(c, c->Yn, c->dB, &Pb, &rkb) != 0) goto done;
    settle_rank(c, Pa, rka, Pb, rkb);
    int r = c->rank, n = c->n;
    if (!(Za = project(c->Xn, n, c->dA, Pa, r))) goto done;
    if (both && !(Zb = project(c->Yn, n, c->dB, Pb, r))) goto done;
    put_explained(c, "explained_variance_a", Za, r, c->ssx);
    if (both) put_explained(c, "explained_variance_b", Zb, r, c->ssy);
    /* Ridge from the source coordinates to B's space (pca-ridge) or B's coordinates. */
    int m = both ? r : c->dB;
    if (ridge_fit_run(&c->p, Za, both ? Zb : c->Yn, n, r, m, df_extra(c), &rf) != 0) goto done;
    if (!(b = new_bridge(c, both ? LW_BRIDGE_PCA2_RIDGE : LW_BRIDGE_PCA_RIDGE))) goto done;
    lw_la_d2f(Pa, b->t[LW_BT_PCA_A], (size_t)c->dA * r);
    lw_la_d2f(rf.W, b->t[LW_BT_W], (size_t)r * m);
    if (both) lw_la_d2f(Pb, b->t[LW_BT_PCA_B], (size_t)c->dB * r);
    c->alpha = ridge_record(&rf);
    /* Statistics in B's full normalized space: predictions Za W (Pb') against Yn. */
    if ((P = project(Za, n, r, rf.W, m))) {
        if (both && (Q = lw_la_dalloc((size_t)n * c->dB))) {
            lw_la_dgemm(false, true, n, c->dB, r, 1.0, P, Pb, 0.0, Q);
            put_fit_stats(c->stats, Q, c->Yn, n, c->dB, true, c->mean_b, c->norm_b);
        } else if (!both) put_fit_stats(c->stats, P, c->Yn, n, c->dB, true, c->mean_b, c->norm_b);
    }
done:
    ridge_fit_free(&rf);
    free(Pa);
    free(Pb);
    free(Za);
    free(Zb);
    free(P);
    free(Q);
    return b;
}

static lw_bridge *fit_procrustes(fit_ctx *c) {
    double *Pa = NULL, *Pb = NULL, *Za = NULL, *Zb = NULL, *R = NULL, *P = NULL;
    int rka = 0, rkb = 0;
    lw_bridge *b = NULL;
    if (pca_side(c, c->Xn, c->dA, &Pa, &rka) != 0) goto done;
    if (pca_side(c, c->Yn, c->dB, &Pb, &rkb) != 0) goto done;
    settle_rank(c, Pa, rka, Pb, rkb);
    int k = c->rank, n = c->n;
    if (!(Za = project(c->Xn, n, c->dA, Pa, k)) || !(Zb = project(c->Yn, n, c->dB, Pb, k))) goto done;
    put_explained(c, "explained_variance_a", Za, k, c->ssx);
    put_explained(c, "explained_variance_b", Zb, k, c->ssy);
    if (!(R = lw_la_dalloc((size_t)k * k)) || lw_la_procrustes(Za, Zb, n, k, R) != 0) goto done;
    if (!(b = new_bridge(c, LW_BRIDGE_PROCRUSTES))) goto done;
    lw_la_d2f(Pa, b->t[LW_BT_PCA_A], (size_t)c->dA * k);
    lw_la_d2f(Pb, b->t[LW_BT_PCA_B], (size_t)c->dB * k);
    lw_la_d2f(R, b->t[LW_BT_ROTATION], (size_t)k * k);
    if ((P = project(Za, n, k, R, k))) put_fit_stats(c->stats, P, Zb, n, k, true, NULL, 1.0);
done:
    free(Pa);
    free(Pb);
    free(Za);
    free(Zb);
    free(R);
    free(P);
    return b;
}

/* ---- CCA's regularization, chosen on held-out rows ----
 * With n < d (and barely above) the sample covariances are singular: whitening with a tiny
 * ridge makes the first canonical correlations ~1 on ANY data, related or not. The ridge
 * (relative to each covariance's mean eigenvalue) is therefore chosen on rows the fit did not
 * see: k folds of the calibration rows (seeded split), a decade grid CCA_REG_MIN..CCA_REG_MAX,
 * and for each value the mean over folds of the held-out correlation of the canonical variate
 * pairs. The chosen value is the largest whose mean lies within one standard error (over
 * folds) of the best one (the one-standard-error rule of Hastie, Tibshirani & Friedman, 7.10):
 * when nothing beats noise, the heaviest regularization wins and the reported correlations
 * shrink, instead of a tiny ridge winning by chance. A given cca_reg > 0 is used as is; its
 * held-out correlation is still measured and recorded. */
#define CCA_REG_MIN 1e-4
#define CCA_REG_MAX 1e2
#define CCA_REG_STEPS 7   /* decades */
#define CCA_MIN_HELDOUT 3 /* rows per held-out fold, or no selection */

typedef struct {
    double *Xf, *Yf, *Xh, *Yh; /* fit and held-out rows, centered by the fit rows' means */
    int nf, nh;
} cca_fold;

static void cca_fold_free(cca_fold *f) {
    free(f->Xf);
    free(f->Yf);
    free(f->Xh);
    free(f->Yh);
    memset(f, 0, sizeof *f);
}

/* Rows of M (n x d) into fit (not in [lo, hi) of perm) and held-out (in it), both centered by
 * the fit rows' column means (centering only when the bridge centers). */
static int split_side(const double *M, int n, int d, const int64_t *perm, int lo, int hi, bool center, double *fit,
                      double *held) {
    double *mu = lw_la_dalloc((size_t)d);
    if (!mu) return -1;
    for (int i = 0, f = 0, h = 0; i < n; i++) {
        const double *row = M + (size_t)perm[i] * d;
        bool out = i >= lo && i < hi;
        memcpy(out ? held + (size_t)h++ * d : fit + (size_t)f++ * d, row, sizeof(double) * (size_t)d);
        if (!out && center)
            for (int j = 0; j < d; j++) mu[j] += row[j];
    }
    int nf = n - (hi - lo);
    for (int j = 0; j < d; j++) mu[j] /= nf;
    for (int i = 0; i < nf; i++)
        for (int j = 0; j < d; j++) fit[(size_t)i * d + j] -= mu[j];
    for (int i = 0; i < hi - lo; i++)
        for (int j = 0; j < d; j++) held[(size_t)i * d + j] -= mu[j];
    free(mu);
    return 0;
}

static int cca_fold_make(const fit_ctx *c, const int64_t *perm, int k, int folds, cca_fold *f) {
    int lo = (int)((int64_t)c->n * k / folds), hi = (int)((int64_t)c->n * (k + 1) / folds);
    f->nh = hi - lo;
    f->nf = c->n - f->nh;
    f->Xf = lw_la_dalloc((size_t)f->nf * c->dA);
    f->Yf = lw_la_dalloc((size_t)f->nf * c->dB);
    f->Xh = lw_la_dalloc((size_t)f->nh * c->dA);
    f->Yh = lw_la_dalloc((size_t)f->nh * c->dB);
    if (!f->Xf || !f->Yf || !f->Xh || !f->Yh) return -1;
    if (split_side(c->Xn, c->n, c->dA, perm, lo, hi, c->p.center, f->Xf, f->Xh) != 0) return -1;
    return split_side(c->Yn, c->n, c->dB, perm, lo, hi, c->p.center, f->Yf, f->Yh);
}

/* Mean over the first re variate pairs of their correlation on the held-out rows:
 * sum(a b) / sqrt(sum a^2 sum b^2) (the rows are centered by the fit rows' means, as the
 * bridge would center them). Pairs with no variance there count as 0. */
static double heldout_corr(const cca_fold *f, int dA, int dB, const double *Wa, const double *Wb, int r, int re) {
    double *Sa = project(f->Xh, f->nh, dA, Wa, r), *Sb = project(f->Yh, f->nh, dB, Wb, r);
    double mean = 0.0;
    for (int j = 0; Sa && Sb && j < re; j++) {
        double aa = 0, bb = 0, ab = 0;
        for (int i = 0; i < f->nh; i++) {
            double a = Sa[(size_t)i * r + j], b = Sb[(size_t)i * r + j];
            aa += a * a, bb += b * b, ab += a * b;
        }
        mean += aa > 0 && bb > 0 ? ab / sqrt(aa * bb) / re : 0.0;
    }
    free(Sa);
    free(Sb);
    return mean;
}

/* Held-out correlation of CCA with ridge `reg` fitted on each fold's other rows: mean over
 * folds into *mean, its standard error into *se. 0 or -1. */
static int cca_cv(const fit_ctx *c, const cca_fold *folds, int n_folds, double reg, double *mean, double *se) {
    int r = c->rank;
    double *Wa = lw_la_dalloc((size_t)c->dA * r), *Wb = lw_la_dalloc((size_t)c->dB * r), *corr = lw_la_dalloc((size_t)r);
    double s = 0, s2 = 0;
    int rc = Wa && Wb && corr ? 0 : -1;
    for (int k = 0; rc == 0 && k < n_folds; k++) {
        int re = 0;
        rc = lw_la_cca(folds[k].Xf, folds[k].Yf, folds[k].nf, c->dA, c->dB, r, reg, Wa, Wb, corr, &re);
        double h = rc == 0 ? heldout_corr(&folds[k], c->dA, c->dB, Wa, Wb, r, re) : 0.0;
        s += h, s2 += h * h;
    }
    free(Wa);
    free(Wb);
    free(corr);
    if (rc != 0) return -1;
    *mean = s / n_folds;
    double var = n_folds > 1 ? (s2 - s * s / n_folds) / (n_folds - 1) : 0.0;
    *se = sqrt(var > 0 ? var / n_folds : 0.0);
    return 0;
}

/* Sets *reg (the given cca_reg, or the one chosen on the grid) and records the choice under
 * "cca_reg" in the fit record, with the held-out correlation in stats. 0 or -1. */
static int choose_cca_reg(fit_ctx *c, double *reg) {
    bool select = !(c->p.cca_reg > 0.0);
    int n_folds = c->p.kfold >= 2 ? c->p.kfold : 5;
    if (n_folds > c->n / CCA_MIN_HELDOUT) n_folds = c->n / CCA_MIN_HELDOUT;
    json_t *rec = json_object();
    json_object_set_new(c->extra, "cca_reg", rec);
    if (n_folds < 2) { /* too few rows to hold any out: the fixed default, said so */
        *reg = select ? 1e-3 : c->p.cca_reg;
        json_object_set_new(rec, "value", jreal(*reg));
        json_object_set_new(rec, "selected", json_false());
        json_object_set_new(rec, "note", json_string("too few rows to hold out (need 6): not validated"));
        return 0;
    }
    int64_t *perm = calloc((size_t)c->n, sizeof *perm);
    cca_fold *folds = calloc((size_t)n_folds, sizeof *folds);
    double grid[CCA_REG_STEPS], mean[CCA_REG_STEPS], se[CCA_REG_STEPS];
    int n_grid = select ? CCA_REG_STEPS : 1, rc = perm && folds ? 0 : -1;
    if (rc == 0) lw_la_permutation(c->n, c->p.seed, perm);
    for (int k = 0; rc == 0 && k < n_folds; k++) rc = cca_fold_make(c, perm, k, n_folds, &folds[k]);
    for (int g = 0; rc == 0 && g < n_grid; g++) {
        grid[g] = select ? CCA_REG_MIN * pow(CCA_REG_MAX / CCA_REG_MIN, (double)g / (CCA_REG_STEPS - 1)) : c->p.cca_reg;
        rc = cca_cv(c, folds, n_folds, grid[g], &mean[g], &se[g]);
    }
    int best = 0, chosen = 0;
    if (rc == 0) {
        for (int g = 1; g < n_grid; g++)
            if (mean[g] > mean[best]) best = g;
        for (int g = 0; g < n_grid; g++)
            if (mean[g] >= mean[best] - se[best]) chosen = g; /* the grid ascends: the largest within 1 SE */
        *reg = grid[chosen];
        json_object_set_new(rec, "value", jreal(*reg));
        json_object_set_new(rec, "selected", json_boolean(select));
        json_object_set_new(rec, "folds", json_integer(n_folds));
        if (select) {
            json_object_set_new(rec, "rule", json_string("largest value within one standard error of the best mean "
                                                          "held-out canonical correlation"));
            json_object_set_new(rec, "grid", jreal_array(grid, n_grid));
            json_object_set_new(rec, "heldout_correlation", jreal_array(mean, n_grid));
            json_object_set_new(rec, "heldout_correlation_se", jreal_array(se, n_grid));
            json_object_set_new(rec, "best_index", json_integer(best));
            json_object_set_new(rec, "index", json_integer(chosen));
        }
        json_object_set_new(c->stats, "heldout_mean_canonical_correlation", jreal(mean[chosen]));
    } else {
        lw_fail_prefix(FIT ": CCA regularization: ");
    }
    for (int k = 0; folds && k < n_folds; k++) cca_fold_free(&folds[k]);
    free(folds);
    free(perm);
    return rc;
}

static lw_bridge *fit_cca(fit_ctx *c) {
    int r = c->rank, re = 0, n = c->n;
    double *Wa = lw_la_dalloc((size_t)c->dA * r), *Wb = lw_la_dalloc((size_t)c->dB * r);
    double *corr = lw_la_dalloc((size_t)r), *Sa = NULL, *Sb = NULL, reg = 0.0;
    lw_bridge *b = NULL;
    if (!Wa || !Wb || !corr) goto done;
    if (choose_cca_reg(c, &reg) != 0) goto done;
    if (lw_la_cca(c->Xn, c->Yn, n, c->dA, c->dB, r, reg, Wa, Wb, corr, &re) != 0) {
        lw_fail_prefix(FIT ": ");
        goto done;
    }
    if (re < r) {
        clamp_rank(c, re, "numerical rank of X or Y");
        keep_cols(Wa, c->dA, r, re);
        keep_cols(Wb, c->dB, r, re);
        r = re;
    }
    if (!(b = new_bridge(c, LW_BRIDGE_CCA))) goto done;
    lw_la_d2f(Wa, b->t[LW_BT_CCA_A], (size_t)c->dA * r);
    lw_la_d2f(Wb, b->t[LW_BT_CCA_B], (size_t)c->dB * r);
    lw_la_d2f(corr, b->t[LW_BT_CCA_CORR], (size_t)r);
    json_object_set_new(c->stats, "canonical_correlations", jreal_array(corr, r));
    double mean = 0.0;
    for (int j = 0; j < r; j++) mean += corr[j] / r;
    json_object_set_new(c->stats, "mean_canonical_correlation", jreal(mean));
    if ((Sa = project(c->Xn, n, c->dA, Wa, r)) && (Sb = project(c->Yn, n, c->dB, Wb, r)))
        put_fit_stats(c->stats, Sa, Sb, n, r, false, NULL, 1.0);
done:
    free(Wa);
    free(Wb);
    free(corr);
    free(Sa);
    free(Sb);
    return b;
}

/* Relative representations: k anchors drawn by a seeded shuffle (kept in row order),
 * stored normalized so applying is one sgemm plus norms. */
static lw_bridge *fit_relrep(fit_ctx *c, const float *X, const float *Y) {
    int n = c->n, k = c->rank;
    int64_t *perm = calloc((size_t)n, sizeof *perm);
    float *Sa = NULL, *Sb = NULL;
    double *Da = NULL, *Db = NULL;
    lw_bridge *b = NULL;
    if (!perm) {
        lw_fail(FIT ": out of memory");
        goto done;
    }
    lw_la_permutation(n, c->p.seed, perm);
    qsort(perm, (size_t)k, sizeof *perm, lw_cmp_i64);
    if (!(b = new_bridge(c, LW_BRIDGE_RELREP))) goto done;
    json_t *rows = json_array();
    for (int i = 0; i < k; i++) {
        int64_t row = perm[i];
        lw_la_d2f(c->Xn + (size_t)row * c->dA, b->t[LW_BT_ANCHORS_A] + (size_t)i * c->dA, (size_t)c->dA);
        lw_la_d2f(c->Yn + (size_t)row * c->dB, b->t[LW_BT_ANCHORS_B] + (size_t)i * c->dB, (size_t)c->dB);
        json_array_append_new(rows, json_integer(row));
    }
    json_object_set_new(c->extra, "anchor_rows", rows);
    /* Train agreement: cosine between the two sides' relative representations. */
    if (lw_bridge__finish(b) == 0 && (Sa = lw_la_salloc((size_t)n * k)) && (Sb = lw_la_salloc((size_t)n * k)) &&
        (Da = lw_la_dalloc((size_t)n * k)) && (Db = lw_la_dalloc((size_t)n * k)) &&
        lw_bridge_apply_source(b, X, n, Sa) == 0 && lw_bridge_apply_target(b, Y, n, Sb) == 0) {
        lw_la_f2d(Sa, Da, (size_t)n * k);
        lw_la_f2d(Sb, Db, (size_t)n * k);
        put_fit_stats(c->stats, Da, Db, n, k, false, NULL, 1.0);
    }
done:
    free(perm);
    free(Sa);
    free(Sb);
    free(Da);
    free(Db);
    return b;
}

/* ------------------------------------------------------------------ checks ---- */

static int check_inputs(const float *X, const float *Y, int64_t n, int dA, int dB, const lw_bridge_params *p) {
    if ((int)p->recipe < 0 || !lw_bridge_recipe_name(p->recipe))
        return lw_fail(FIT ": unknown recipe %d", (int)p->recipe);
    if (!X || !Y) return lw_fail(FIT ": %s is NULL", !X ? "X" : "Y");
    if (n < 2) return lw_fail(FIT ": n = %lld calibration rows; at least 2 are needed", (long long)n);
    if (n > 0x7fffffff) return lw_fail(FIT ": n = %lld calibration rows exceeds 2^31 - 1", (long long)n);
    if (dA < 1 || dB < 1) return lw_fail(FIT ": dimensions dA = %d, dB = %d; both must be >= 1", dA, dB);
    if (isnan(p->alpha) || isinf(p->alpha)) return lw_fail(FIT ": --alpha %g is not finite", p->alpha);
    if (p->alpha_select != LW_ALPHA_GCV && p->alpha_select != LW_ALPHA_KFOLD)
        return lw_fail(FIT ": unknown alpha_select %d", (int)p->alpha_select);
    if (!(p->alpha_min > 0.0) || !isfinite(p->alpha_min) || !(p->alpha_max >= p->alpha_min) || !isfinite(p->alpha_max))
        return lw_fail(FIT ": alpha grid [%g, %g]: need 0 < alpha_min <= alpha_max, finite", p->alpha_min,
                       p->alpha_max);
    if (p->alpha_steps < 1 || p->alpha_steps > 1000)
        return lw_fail(FIT ": alpha_steps = %d; need 1..1000", p->alpha_steps);
    bool ridge = p->recipe == LW_BRIDGE_RIDGE || p->recipe == LW_BRIDGE_PCA_RIDGE || p->recipe == LW_BRIDGE_PCA2_RIDGE;
    if (ridge && p->alpha <= 0.0 && p->alpha_select == LW_ALPHA_KFOLD && (p->kfold < 2 || p->kfold > n))
        return lw_fail(FIT ": --kfold %d: need 2 <= --kfold <= n = %lld paired rows", p->kfold, (long long)n);
    if (p->recipe == LW_BRIDGE_CCA && !(p->cca_reg > 0.0) && (p->kfold < 2 || p->kfold > n)) /* cca_reg chosen on folds */
        return lw_fail(FIT ": --kfold %d: need 2 <= --kfold <= n = %lld paired rows", p->kfold, (long long)n);
    if (p->rank < 0) return lw_fail(FIT ": --rank %d is negative", p->rank);
    if (!(p->cca_reg >= 0.0) || !isfinite(p->cca_reg))
        return lw_fail(FIT ": --cca-reg %g: need a finite value >= 0", p->cca_reg);
    if (p->n_anchors < 0) return lw_fail(FIT ": --anchors %d is negative", p->n_anchors);
    return 0;
}

/* The rank before looking at the data: auto = min(n-1, dA, dB, 256); a requested rank is
 * clamped to what the shapes allow (n-1 centered rows span at most n-1 dimensions). */
static void structural_rank(fit_ctx *c) {
    const lw_bridge_params *p = &c->p;
    int n = c->n, n_eff = p->center ? n - 1 : n;
    char why[96];
    if (p->recipe == LW_BRIDGE_RELREP) {
        c->rank = p->n_anchors > 0 ? p->n_anchors : (n < 300 ? n : 300);
        snprintf(why, sizeof why, "only n = %d calibration rows", n);
        clamp_rank(c, n, why);
        return;
    }
    if (p->recipe == LW_BRIDGE_RIDGE) return;
    int lim = p->recipe == LW_BRIDGE_PCA_RIDGE ? (n_eff < c->dA ? n_eff : c->dA)
                                               : (n_eff < c->dA ? (n_eff < c->dB ? n_eff : c->dB)
                                                                : (c->dA < c->dB ? c->dA : c->dB));
    if (p->rank == 0) {
        int a = n - 1;
        if (c->dA < a) a = c->dA;
        if (c->dB < a) a = c->dB;
        c->rank = a < 256 ? a : 256;
        if (c->rank > lim) c->rank = lim; /* only when not centering: n_eff = n >= n - 1 */
        return;
    }
    c->rank = p->rank;
    char db[24] = "";
    if (p->recipe != LW_BRIDGE_PCA_RIDGE) snprintf(db, sizeof db, ", dB = %d", c->dB);
    snprintf(why, sizeof why, "the data allow at most %d components (n%s = %d, dA = %d%s)", lim,
             p->center ? " - 1" : "", n_eff, c->dA, db);
    clamp_rank(c, lim, why);
}

/* ---------------------------------------------------------------- the fit ---- */

static json_t *fit_record(const fit_ctx *c, const lw_bridge *b, int64_t n) {
    json_t *r = json_object();
    if (!r) return NULL;
    json_object_set_new(r, "format", json_string(LW_BRIDGE_FORMAT));
    json_object_set_new(r, "recipe", json_string(lw_bridge_recipe_name(b->recipe)));
    json_object_set_new(r, "source_dim", json_integer(b->dA));
    json_object_set_new(r, "target_dim", json_integer(b->dB));
    json_object_set_new(r, "out_dim", json_integer(b->out));
    json_object_set_new(r, "n_calibration", json_integer((json_int_t)n));
    json_object_set_new(r, "center", json_boolean(b->center));
    json_object_set_new(r, "scale", json_boolean(b->scale));
    if (b->recipe == LW_BRIDGE_RELREP) json_object_set_new(r, "n_anchors", json_integer(b->rank));
    else if (lw_bridge__has_rank(b->recipe)) json_object_set_new(r, "rank", json_integer(b->rank));
    if (lw_bridge__has_rank(b->recipe)) {
        json_object_set_new(r, "rank_clamped", json_boolean(c->rank_clamped));
        if (c->rank_clamped) json_object_set_new(r, "rank_note", json_string(c->rank_note));
    }
    json_object_set_new(r, "params", params_record(&c->p));
    if (c->alpha) json_object_set_new(r, "alpha", json_incref(c->alpha));
    json_object_set_new(r, "stats", json_incref(c->stats));
    json_object_update(r, c->extra);
    json_object_set_new(r, "meta", json_object());
    return r;
}

static bool rows_all_equal(const float *X, int64_t n, int d) {
    for (int64_t i = 1; i < n; i++)
        if (memcmp(X, X + (size_t)i * (size_t)d, sizeof(float) * (size_t)d) != 0) return false;
    return true;
}

static lw_bridge *fit_dispatch(fit_ctx *c, const float *X, const float *Y) {
    const char *zero = NULL;
    lw_bridge_recipe r = c->p.recipe;
    if (r != LW_BRIDGE_RELREP && c->ssx == 0.0) zero = "X (the source rows)";
    else if ((r == LW_BRIDGE_PCA2_RIDGE || r == LW_BRIDGE_PROCRUSTES || r == LW_BRIDGE_CCA) && c->ssy == 0.0)
        zero = "Y (the target rows)";
    if (zero) {
        lw_fail(FIT ": %s has zero variance (every row %s); nothing to fit", zero,
                c->p.center ? "equal after centering" : "zero");
        return NULL;
    }
    /* relative representations of identical rows are identical: every query would map to one point */
    const char *same = r != LW_BRIDGE_RELREP ? NULL : rows_all_equal(X, c->n, c->dA) ? "X (the source rows)"
                                                  : rows_all_equal(Y, c->n, c->dB) ? "Y (the target rows)" : NULL;
    if (same) {
        lw_fail(FIT ": %s has zero variance (every row the same): relative representations would map every row to "
                "one point; nothing to fit", same);
        return NULL;
    }
    switch (r) {
    case LW_BRIDGE_RIDGE: return fit_ridge(c);
    case LW_BRIDGE_PCA_RIDGE: return fit_pca_ridge(c, false);
    case LW_BRIDGE_PCA2_RIDGE: return fit_pca_ridge(c, true);
    case LW_BRIDGE_PROCRUSTES: return fit_procrustes(c);
    case LW_BRIDGE_CCA: return fit_cca(c);
    case LW_BRIDGE_RELREP: return fit_relrep(c, X, Y);
    }
    return NULL;
}

lw_bridge *lw_bridge_fit(const float *X, const float *Y, int64_t n, int dA, int dB, const lw_bridge_params *pp) {
    fit_ctx c;
    memset(&c, 0, sizeof c);
    c.p = pp ? *pp : lw_bridge_default_params();
    if (check_inputs(X, Y, n, dA, dB, &c.p) != 0) return NULL;
    if (lw_bridge__check_finite(X, n, dA, FIT ": X") != 0 || lw_bridge__check_finite(Y, n, dB, FIT ": Y") != 0)
        return NULL;
    c.n = (int)n;
    c.dA = dA;
    c.dB = dB;
    lw_bridge *b = NULL;
    c.stats = json_object();
    c.extra = json_object();
    c.mean_a = lw_la_salloc((size_t)dA);
    c.mean_b = lw_la_salloc((size_t)dB);
    if (!c.stats || !c.extra || !c.mean_a || !c.mean_b) {
        lw_fail(FIT ": out of memory");
        goto done;
    }
    if (normalize_side(X, c.n, dA, &c, c.mean_a, &c.norm_a, &c.Xn, &c.ssx, "X") != 0 ||
        normalize_side(Y, c.n, dB, &c, c.mean_b, &c.norm_b, &c.Yn, &c.ssy, "Y") != 0)
        goto done;
    structural_rank(&c);
    b = fit_dispatch(&c, X, Y);
    if (!b) goto done;
    /* The rank may have been lowered inside the recipe; the bridge was built with it. */
    if (!(b->rec = fit_record(&c, b, n)) || lw_bridge__finish(b) != 0) {
        if (!b->rec) lw_fail(FIT ": out of memory");
        lw_bridge_free(b);
        b = NULL;
    }
done:
    free(c.Xn);
    free(c.Yn);
    free(c.mean_a);
    free(c.mean_b);
    json_decref(c.stats);
    json_decref(c.alpha);
    json_decref(c.extra);
    return b;
}
