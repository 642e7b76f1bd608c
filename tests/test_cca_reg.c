/* CCA's regularization is chosen on held-out calibration rows and recorded. With n < d the
 * sample covariances are singular: a fixed tiny ridge gives canonical correlations ~1 on
 * unrelated data. Here: that failure shown with the old fixed 1e-3, the held-out correlation
 * of the chosen fit near 0 on unrelated data and high on related data, the selection rule
 * re-applied to the recorded grid, and `bridge info` showing the choice. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>

#include "common/rng.h"
#include "linalg/linalg.h" /* lw_la_cca, lw_la_permutation: the held-out rule recomputed */
#include "latentwire/bridge.h"
#include "support/testutil.h"

static float *randn(lw_rng *r, int n, int d) {
    float *x = malloc(sizeof(float) * (size_t)n * d);
    assert_non_null(x);
    for (int i = 0; i < n * d; i++) x[i] = (float)lw_rng_normal(r);
    return x;
}

static json_t *record(const lw_bridge *b) {
    json_t *r = json_loads(lw_bridge_info_json(b), 0, NULL);
    assert_non_null(r);
    return r;
}

static double num(json_t *o, const char *a, const char *b) {
    json_t *v = json_object_get(json_object_get(o, a), b);
    if (!json_is_number(v)) fail_msg("record has no number %s.%s", a, b);
    return json_number_value(v);
}

static lw_bridge *fit_cca(const float *X, const float *Y, int n, int dA, int dB, double reg) {
    lw_bridge_params p = lw_bridge_default_params();
    p.recipe = LW_BRIDGE_CCA;
    p.cca_reg = reg;
    lw_bridge *b = lw_bridge_fit(X, Y, n, dA, dB, &p);
    if (!b) fail_msg("fit: %s", lw_last_error());
    return b;
}

/* The recorded grid is the decades 1e-4 .. 1e2, and the chosen index is the largest whose
 * mean held-out correlation is within one standard error of the best (re-applied here). */
static void check_rule(json_t *rec) {
    json_t *cr = json_object_get(rec, "cca_reg");
    assert_true(json_is_true(json_object_get(cr, "selected")));
    json_t *grid = json_object_get(cr, "grid"), *m = json_object_get(cr, "heldout_correlation"),
           *se = json_object_get(cr, "heldout_correlation_se");
    assert_int_equal(json_array_size(grid), 7);
    int best = 0, chosen = 0;
    for (int g = 0; g < 7; g++) {
        assert_true(fabs(json_real_value(json_array_get(grid, g)) / pow(10.0, g - 4) - 1) < 1e-12);
        if (json_real_value(json_array_get(m, g)) > json_real_value(json_array_get(m, best))) best = g;
    }
    double floor = json_real_value(json_array_get(m, best)) - json_real_value(json_array_get(se, best));
    for (int g = 0; g < 7; g++)
        if (json_real_value(json_array_get(m, g)) >= floor) chosen = g;
    assert_int_equal(json_integer_value(json_object_get(cr, "index")), chosen);
    assert_int_equal(json_integer_value(json_object_get(cr, "best_index")), best);
    assert_true(num(rec, "cca_reg", "value") == json_real_value(json_array_get(grid, chosen)));
    assert_true(num(rec, "stats", "heldout_mean_canonical_correlation") == json_real_value(json_array_get(m, chosen)));
}

static void test_unrelated_n_below_d(void **state) {
    (void)state;
    enum { N = 60, DA = 100, DB = 80 };
    lw_rng r;
    lw_rng_seed(&r, 12);
    float *X = randn(&r, N, DA), *Y = randn(&r, N, DB);
    /* the old fixed ridge: the first canonical correlation on the fitting rows is ~1 */
    lw_bridge *fixed = fit_cca(X, Y, N, DA, DB, 1e-3);
    json_t *rf = record(fixed);
    double c0 = json_real_value(json_array_get(json_object_get(json_object_get(rf, "stats"), "canonical_correlations"), 0));
    double h_fixed = num(rf, "stats", "heldout_mean_canonical_correlation");
    fprintf(stderr, "fixed 1e-3: first canonical correlation %.4f on the fitting rows, held-out %.4f\n", c0, h_fixed);
    assert_true(c0 > 0.99);
    assert_false(json_is_true(json_object_get(json_object_get(rf, "cca_reg"), "selected")));
    assert_true(num(rf, "cca_reg", "value") == 1e-3);
    json_decref(rf);
    lw_bridge_free(fixed);

    /* chosen on held-out rows: unrelated data show no held-out correlation */
    lw_bridge *b = fit_cca(X, Y, N, DA, DB, 0.0);
    json_t *rec = record(b);
    double h = num(rec, "stats", "heldout_mean_canonical_correlation");
    double c1 = json_real_value(json_array_get(json_object_get(json_object_get(rec, "stats"), "canonical_correlations"), 0));
    fprintf(stderr, "chosen %g: held-out correlation %.4f, first canonical correlation %.4f\n",
            num(rec, "cca_reg", "value"), h, c1);
    assert_true(fabs(h) < 0.3);
    assert_true(c1 < 0.5); /* the reported correlations no longer go to 1 */
    check_rule(rec);
    json_decref(rec);

    /* the choice travels with the file and `bridge info` shows it */
    const char *path = lw_test_tmpfile("cca_reg.bridge.safetensors");
    assert_int_equal(lw_bridge_save(b, path), 0);
    lw_bridge_free(b);
    lw_bridge *back = lw_bridge_load(path);
    assert_non_null(back);
    json_t *rb = record(back);
    assert_true(json_is_true(json_object_get(json_object_get(rb, "cca_reg"), "selected")));
    json_decref(rb);
    lw_bridge_free(back);
    char args[1400], *out, *err;
    snprintf(args, sizeof args, "bridge info %s", path);
    if (lw_test_run_cli(args, &out, &err) != 0) fail_msg("bridge info: %s", err);
    assert_non_null(strstr(out, "\"cca_reg\": {"));
    assert_non_null(strstr(out, "heldout_mean_canonical_correlation"));
    free(out);
    free(err);
    free(X);
    free(Y);
}

static void test_related_data(void **state) {
    (void)state;
    /* Y = X W + noise (n = 200 > d): real canonical structure survives held-out rows. */
    enum { N = 200, DA = 12, DB = 10 };
    lw_rng r;
    lw_rng_seed(&r, 13);
    float *X = randn(&r, N, DA), *W = randn(&r, DA, DB), *Y = calloc((size_t)N * DB, sizeof(float));
    for (int i = 0; i < N; i++)
        for (int j = 0; j < DB; j++) {
            double s = 0.3 * lw_rng_normal(&r);
            for (int k = 0; k < DA; k++) s += X[i * DA + k] * W[k * DB + j];
            Y[i * DB + j] = (float)s;
        }
    lw_bridge *b = fit_cca(X, Y, N, DA, DB, 0.0);
    json_t *rec = record(b);
    double h = num(rec, "stats", "heldout_mean_canonical_correlation");
    fprintf(stderr, "related: chosen %g, held-out correlation %.4f\n", num(rec, "cca_reg", "value"), h);
    assert_true(h > 0.8);
    check_rule(rec);
    /* the same rows moved far from the origin: a centring fit's held-out correlations are the same up
     * to the float rounding of the moved rows */
    for (int i = 0; i < N * DA; i++) X[i] += 50.0f;
    for (int i = 0; i < N * DB; i++) Y[i] -= 30.0f;
    lw_bridge *moved = fit_cca(X, Y, N, DA, DB, 0.0);
    json_t *mrec = record(moved);
    json_t *m0 = json_object_get(json_object_get(rec, "cca_reg"), "heldout_correlation"),
           *m1 = json_object_get(json_object_get(mrec, "cca_reg"), "heldout_correlation");
    assert_int_equal(json_array_size(m0), json_array_size(m1));
    for (size_t g = 0; g < json_array_size(m0); g++) {
        double a = json_real_value(json_array_get(m0, g)), c = json_real_value(json_array_get(m1, g));
        if (fabs(a - c) > 1e-3) fail_msg("held-out correlation at grid %zu: %.6f, moved %.6f", g, a, c);
    }
    json_decref(mrec);
    lw_bridge_free(moved);
    json_decref(rec);
    lw_bridge_free(b);
    free(X);
    free(W);
    free(Y);
}

/* The recorded held-out correlations and their standard errors, recomputed here from the rule in
 * bridge_fit.c: rows centred by their (float-rounded) means, the seeded permutation cut into 5
 * folds, each fold's fit rows and held-out rows centred by the fit rows' means, CCA of rank 3 on
 * the fit rows (lw_la_cca), the mean cosine of the held-out canonical variate pairs; the mean over
 * folds and its standard error sd / sqrt(5). Mutants that left held-out rows centred by all rows'
 * means, or dropped the sqrt(5), went unnoticed by the rule check above. */
static void test_heldout_correlation_recomputed(void **state) {
    (void)state;
    enum { N = 60, DA = 6, DB = 5, R = 3, K = 5 };
    lw_rng r;
    lw_rng_seed(&r, 17);
    float *X = randn(&r, N, DA), *W = randn(&r, DA, DB), *Y = calloc((size_t)N * DB, sizeof(float));
    for (int i = 0; i < N; i++)
        for (int j = 0; j < DB; j++) {
            double s = 1.0 * lw_rng_normal(&r) + 3.0 * (j == 0); /* an offset: the means matter */
            for (int k = 0; k < DA; k++) s += X[i * DA + k] * W[k * DB + j];
            Y[i * DB + j] = (float)s;
        }
    lw_bridge_params p = lw_bridge_default_params();
    p.recipe = LW_BRIDGE_CCA, p.rank = R, p.cca_reg = 0.0;
    lw_bridge *b = lw_bridge_fit(X, Y, N, DA, DB, &p);
    if (!b) fail_msg("fit: %s", lw_last_error());
    json_t *rec = record(b), *cr = json_object_get(rec, "cca_reg");
    assert_int_equal(json_integer_value(json_object_get(cr, "folds")), K);
    double *xn = malloc(sizeof(double) * N * DA), *yn = malloc(sizeof(double) * N * DB);
    const float *src[2] = {X, Y};
    double *dst[2] = {xn, yn};
    const int dim[2] = {DA, DB};
    for (int s = 0; s < 2; s++)
        for (int j = 0; j < dim[s]; j++) {
            double m = 0;
            for (int i = 0; i < N; i++) m += (double)src[s][i * dim[s] + j];
            m = (double)(float)(m / N);
            for (int i = 0; i < N; i++) dst[s][i * dim[s] + j] = (double)src[s][i * dim[s] + j] - m;
        }
    int64_t perm[N];
    lw_la_permutation(N, p.seed, perm);
    json_t *grid = json_object_get(cr, "grid");
    for (size_t g = 0; g < json_array_size(grid); g++) {
        double reg = json_real_value(json_array_get(grid, g)), s1 = 0, s2 = 0;
        for (int k = 0; k < K; k++) {
            int lo = N * k / K, hi = N * (k + 1) / K, nh = hi - lo, nf = N - nh;
            double fit[2][N * DA], held[2][N * DA], mu[2][DA];
            memset(mu, 0, sizeof mu);
            for (int s = 0; s < 2; s++)
                for (int i = 0, f = 0, h = 0; i < N; i++) {
                    bool out = i >= lo && i < hi;
                    double *row = out ? held[s] + h++ * dim[s] : fit[s] + f++ * dim[s];
                    memcpy(row, dst[s] + perm[i] * dim[s], sizeof(double) * (size_t)dim[s]);
                    for (int j = 0; !out && j < dim[s]; j++) mu[s][j] += row[j] / nf;
                }
            for (int s = 0; s < 2; s++) {
                for (int i = 0; i < nf * dim[s]; i++) fit[s][i] -= mu[s][i % dim[s]];
                for (int i = 0; i < nh * dim[s]; i++) held[s][i] -= mu[s][i % dim[s]];
            }
            double Wa[DA * R], Wb[DB * R], corr[R];
            int re = 0;
            assert_int_equal(lw_la_cca(fit[0], fit[1], nf, DA, DB, R, reg, Wa, Wb, corr, &re), 0);
            double h = 0;
            for (int j = 0; j < re; j++) {
                double aa = 0, bb = 0, ab = 0;
                for (int i = 0; i < nh; i++) {
                    double a = 0, c = 0;
                    for (int t = 0; t < DA; t++) a += held[0][i * DA + t] * Wa[t * R + j];
                    for (int t = 0; t < DB; t++) c += held[1][i * DB + t] * Wb[t * R + j];
                    aa += a * a, bb += c * c, ab += a * c;
                }
                h += ab / sqrt(aa * bb) / re;
            }
            s1 += h, s2 += h * h;
        }
        double mean = s1 / K, se = sqrt((s2 - s1 * s1 / K) / (K - 1) / K);
        double got_m = json_real_value(json_array_get(json_object_get(cr, "heldout_correlation"), g));
        double got_se = json_real_value(json_array_get(json_object_get(cr, "heldout_correlation_se"), g));
        if (fabs(got_m - mean) > 1e-9 || fabs(got_se - se) > 1e-9)
            fail_msg("grid %zu (reg %g): recorded %.12f +- %.12f, recomputed %.12f +- %.12f", g, reg, got_m, got_se,
                     mean, se);
    }
    json_decref(rec);
    lw_bridge_free(b);
    free(xn), free(yn), free(X), free(W), free(Y);
}

static void test_too_few_rows(void **state) {
    (void)state;
    /* 5 rows cannot make two held-out folds of 3: the default is used and said to be unvalidated */
    lw_rng r;
    lw_rng_seed(&r, 14);
    float *X = randn(&r, 5, 4), *Y = randn(&r, 5, 3);
    lw_bridge *b = fit_cca(X, Y, 5, 4, 3, 0.0);
    json_t *rec = record(b);
    assert_false(json_is_true(json_object_get(json_object_get(rec, "cca_reg"), "selected")));
    assert_non_null(strstr(json_string_value(json_object_get(json_object_get(rec, "cca_reg"), "note")), "too few rows"));
    json_decref(rec);
    lw_bridge_free(b);
    free(X);
    free(Y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unrelated_n_below_d),
        cmocka_unit_test(test_related_data),
        cmocka_unit_test(test_heldout_correlation_recomputed),
        cmocka_unit_test(test_too_few_rows),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
