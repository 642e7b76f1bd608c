/* The activation codecs (topk, pcaq, token-sparse, sae, pq): every payload within its budget
 * on the serialized bytes, top-k against a naive sort, PCA-quantization against theory, the
 * SAE's training and decode against a naive W_dec z + b_dec, PQ decoding to centroids, files
 * round-tripping bit-identically, malformed codec files and payloads refused. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/rng.h"
#include "latentwire/codec.h"
#include "latentwire/files.h"
#include "latentwire/safetensors.h"
#include "support/testutil.h"

/* n rows of width d: Gaussian with per-coordinate scales from 0.2 to 3 (some coordinates
 * dominate, as in real activations), plus a shared offset. */
static float *random_rows(int64_t n, int d, uint64_t seed) {
    lw_rng r;
    lw_rng_seed(&r, seed);
    float *x = malloc(sizeof(float) * (size_t)n * d);
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) x[i * d + j] = (float)(0.5 + (0.2 + 2.8 * ((j * 37) % d) / (double)d) * lw_rng_normal(&r));
    return x;
}

static lw_codec_params small_params(lw_codec_kind kind, int64_t budget) {
    lw_codec_params p = lw_codec_default_params(kind);
    p.budget_bits = budget;
    p.sae_latents = 64;
    p.sae_epochs = 1;
    if (kind == LW_CODEC_TOKEN_SPARSE) p.positions = 4;
    return p;
}

static int64_t record_int(const lw_codec *c, const char *a, const char *b) {
    json_t *r = json_loads(lw_codec_record_json(c), 0, NULL);
    json_t *v = json_object_get(json_object_get(r, a), b);
    int64_t x = json_is_integer(v) ? json_integer_value(v) : -1;
    json_decref(r);
    return x;
}

static double record_real(const lw_codec *c, const char *a, const char *b) {
    json_t *r = json_loads(lw_codec_record_json(c), 0, NULL);
    json_t *v = json_object_get(json_object_get(r, a), b);
    double x = json_is_number(v) ? json_number_value(v) : NAN;
    json_decref(r);
    return x;
}

/* The budget named by "the smallest budget that works is N bits", or -1. */
static int64_t named_budget(const char *msg) {
    const char *p = strstr(msg, "smallest budget that works is ");
    return p ? strtoll(p + strlen("smallest budget that works is "), NULL, 10) : -1;
}

/* Fits at K (or, when nothing fits, checks the error names a larger budget that does fit),
 * encodes items and checks every serialized payload against K and the recorded size. */
static void check_budget(lw_codec_kind kind, int d, int64_t K, const float *calib, int64_t n, const float *items,
                         int n_items) {
    lw_codec_params p = small_params(kind, K);
    lw_codec *c = lw_codec_fit_act(&p, calib, n, d);
    if (!c) {
        const char *msg = lw_last_error();
        int64_t need = named_budget(msg);
        if (need <= K) fail_msg("%s d=%d K=%lld: %s", lw_codec_name(kind), d, (long long)K, msg);
        p.budget_bits = need;
        c = lw_codec_fit_act(&p, calib, n, d);
        if (!c) fail_msg("%s d=%d at the named budget %lld: %s", lw_codec_name(kind), d, (long long)need, lw_last_error());
        K = need;
    }
    int T = lw_codec_positions(c);
    int64_t recorded = record_int(c, "fit", "payload_bits");
    float *back = malloc(sizeof(float) * (size_t)T * d);
    for (int i = 0; i < n_items; i++) {
        lw_payload pl;
        if (lw_codec_encode_act(c, items + (size_t)i * T * d, &pl) != 0)
            fail_msg("%s d=%d K=%lld: %s", lw_codec_name(kind), d, (long long)K, lw_last_error());
        if ((int64_t)pl.n * 8 > K || (int64_t)pl.n * 8 != recorded)
            fail_msg("%s d=%d K=%lld: payload %zu bytes, recorded %lld bits", lw_codec_name(kind), d, (long long)K, pl.n,
                     (long long)recorded);
        assert_int_equal(lw_codec_decode_act(c, pl.bytes, pl.n, back), 0);
        for (int j = 0; j < T * d; j++) assert_true(isfinite(back[j]));
        free(pl.bytes);
    }
    free(back);
    lw_codec_free(c);
}

static void test_payload_within_budget(void **state) {
    static const int64_t BUDGETS[] = {16, 32, 64, 128, 256, 512, 1024, 2048, 8192};
    static const int WIDTHS[] = {64, 640};
    static const lw_codec_kind KINDS[] = {LW_CODEC_TOPK, LW_CODEC_PCAQ, LW_CODEC_TOKEN_SPARSE, LW_CODEC_SAE, LW_CODEC_PQ};
    for (int w = 0; w < 2; w++) {
        int d = WIDTHS[w];
        int64_t n = 120;
        float *calib = random_rows(n, d, 11 + w), *items = random_rows(4 * 6, d, 99 + w);
        for (size_t k = 0; k < sizeof KINDS / sizeof KINDS[0]; k++) {
            clock_t t0 = clock();
            for (size_t b = 0; b < sizeof BUDGETS / sizeof BUDGETS[0]; b++)
                check_budget(KINDS[k], d, BUDGETS[b], calib, n, items, 6);
            print_message("%s d=%d: %.1f s CPU\n", lw_codec_name(KINDS[k]), d, (double)(clock() - t0) / CLOCKS_PER_SEC);
        }
        free(calib);
        free(items);
    }
}

/* One calibration row is its own mean and spans no direction: every activation codec refuses to be
 * fitted on it (a pcaq "fit" on one row had rank 0 and reconstructed that row exactly). */
static void test_one_row_refused(void **state) {
    (void)state;
    float *calib = random_rows(2, 64, 5);
    static const lw_codec_kind KINDS[] = {LW_CODEC_TOPK, LW_CODEC_PCAQ};
    for (size_t k = 0; k < sizeof KINDS / sizeof KINDS[0]; k++) {
        lw_codec_params p = small_params(KINDS[k], 256);
        assert_null(lw_codec_fit_act(&p, calib, 1, 64));
        if (!strstr(lw_last_error(), "1 calibration rows of width 64; a fit needs at least 2"))
            fail_msg("%s: %s", lw_codec_name(KINDS[k]), lw_last_error());
        lw_codec *c = lw_codec_fit_act(&p, calib, 2, 64);
        if (!c) fail_msg("%s on 2 rows: %s", lw_codec_name(KINDS[k]), lw_last_error());
        lw_codec_free(c);
    }
    free(calib);
}

/* A budget that fits nothing: one error naming the smallest budget, which then works. */
static void test_budget_too_small(void **state) {
    float *calib = random_rows(200, 640, 3);
    lw_codec_params p = small_params(LW_CODEC_TOPK, 8); /* one index (10 bits) + 1 bit = 2 bytes */
    assert_null(lw_codec_fit_act(&p, calib, 200, 640));
    assert_int_equal(named_budget(lw_last_error()), 16);
    p = small_params(LW_CODEC_TOKEN_SPARSE, 16); /* 4 positions x (10 + 1) bits = 44 -> 48 */
    assert_null(lw_codec_fit_act(&p, calib, 200, 640));
    assert_int_equal(named_budget(lw_last_error()), 48);
    p.budget_bits = 48;
    lw_codec *c = lw_codec_fit_act(&p, calib, 200, 640);
    assert_non_null(c);
    lw_codec_free(c);
    p = small_params(LW_CODEC_PCAQ, 7);
    assert_null(lw_codec_fit_act(&p, calib, 200, 640));
    assert_int_equal(named_budget(lw_last_error()), 8);
    p = small_params(LW_CODEC_SAE, 16);
    p.k = 2; /* 2 x (6 + 1) bits = 14 fits; with bits fixed at 8: 28 -> 32 */
    p.bits = 8;
    assert_null(lw_codec_fit_act(&p, calib, 200, 640));
    assert_int_equal(named_budget(lw_last_error()), 32);
    free(calib);
}

/* The naive top k: indices sorted by |x| descending (ties to the lower index), first k. */
static void naive_topk(const float *x, int n, int k, int *out) {
    int *ord = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) ord[i] = i;
    for (int i = 0; i < n; i++) /* selection sort: plain and obviously right */
        for (int j = i + 1; j < n; j++)
            if (fabsf(x[ord[j]]) > fabsf(x[ord[i]]) || (fabsf(x[ord[j]]) == fabsf(x[ord[i]]) && ord[j] < ord[i])) {
                int t = ord[i];
                ord[i] = ord[j];
                ord[j] = t;
            }
    memcpy(out, ord, sizeof(int) * k);
    free(ord);
}

static void check_topk_vector(const float *x, const float *y, int n, int k) {
    int top[64];
    naive_topk(x, n, k, top);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        bool in = false;
        for (int j = 0; j < k; j++) in |= top[j] == i;
        if (!in) {
            assert_true(y[i] == 0.0f);
            continue;
        }
        kept++;
        assert_true(y[i] != 0.0f);
        assert_true((y[i] < 0) == (x[i] < 0));
        assert_true(fabsf(y[i] - x[i]) < 0.05f * fabsf(x[i]) + 0.05f); /* 8-bit sign-magnitude */
    }
    assert_int_equal(kept, k);
}

static void test_topk_keeps_the_k_largest(void **state) {
    int d = 64;
    float *calib = random_rows(300, d, 5), *items = random_rows(3 * 10, d, 6);
    lw_codec_params p = lw_codec_default_params(LW_CODEC_TOPK);
    p.k = 5;
    p.bits = 8;
    lw_codec *c = lw_codec_fit_act(&p, calib, 300, d);
    assert_non_null(c);
    /* the record's two errors share the numerator: their ratio is sum |x|^2 / sum |x - mean|^2 */
    double mu[64] = {0}, raw = 0, cen = 0;
    for (int i = 0; i < 300 * d; i++) mu[i % d] += calib[i] / 300.0;
    for (int i = 0; i < 300 * d; i++)
        raw += (double)calib[i] * calib[i], cen += (calib[i] - mu[i % d]) * (calib[i] - mu[i % d]);
    double ratio = record_real(c, "fit", "rel_err_calibration_centered") / record_real(c, "fit", "rel_err_calibration");
    assert_true(fabs(ratio - raw / cen) < 1e-6 * (raw / cen));
    float y[3 * 64];
    for (int i = 0; i < 10; i++) {
        lw_payload pl;
        assert_int_equal(lw_codec_encode_act(c, items + i * d, &pl), 0);
        assert_int_equal(pl.n, (5 * (6 + 8) + 7) / 8);
        assert_int_equal(lw_codec_decode_act(c, pl.bytes, pl.n, y), 0);
        check_topk_vector(items + i * d, y, d, 5);
        free(pl.bytes);
    }
    lw_codec_free(c);
    /* token-sparse: k per position, each position's own top k */
    p = lw_codec_default_params(LW_CODEC_TOKEN_SPARSE);
    p.k = 4;
    p.bits = 8;
    p.positions = 3;
    c = lw_codec_fit_act(&p, calib, 300, d);
    assert_non_null(c);
    for (int i = 0; i < 10; i += 3) {
        lw_payload pl;
        assert_int_equal(lw_codec_encode_act(c, items + i * d, &pl), 0);
        assert_int_equal(pl.n, (3 * 4 * (6 + 8) + 7) / 8);
        assert_int_equal(lw_codec_decode_act(c, pl.bytes, pl.n, y), 0);
        for (int t = 0; t < 3; t++) check_topk_vector(items + (i + t) * d, y + t * d, d, 4);
        free(pl.bytes);
    }
    lw_codec_free(c);
    /* topk over T positions: the k largest of the whole T x d item (indices of width T d) */
    p = lw_codec_default_params(LW_CODEC_TOPK);
    p.k = 7;
    p.bits = 8;
    p.positions = 3;
    c = lw_codec_fit_act(&p, calib, 300, d);
    assert_non_null(c);
    for (int i = 0; i < 10; i += 3) {
        lw_payload pl;
        assert_int_equal(lw_codec_encode_act(c, items + i * d, &pl), 0);
        assert_int_equal(pl.n, (7 * (8 + 8) + 7) / 8); /* ceil(log2 192) = 8 index bits */
        assert_int_equal(lw_codec_decode_act(c, pl.bytes, pl.n, y), 0);
        check_topk_vector(items + i * d, y, 3 * d, 7);
        free(pl.bytes);
    }
    lw_codec_free(c);
    free(calib);
    free(items);
}

/* ------------------------------------------------------------------ PCA-quantization */

/* Zero-mean Gaussian rows with covariance Q diag(lam) Q' (Q a random orthogonal matrix). */
static float *gaussian_rows(int64_t n, int d, const double *lam, uint64_t seed) {
    lw_rng r;
    lw_rng_seed(&r, 1000);
    double *Q = malloc(sizeof(double) * d * d);
    for (int i = 0; i < d * d; i++) Q[i] = lw_rng_normal(&r);
    for (int j = 0; j < d; j++) { /* Gram-Schmidt on the columns */
        for (int k = 0; k < j; k++) {
            double dot = 0;
            for (int i = 0; i < d; i++) dot += Q[i * d + j] * Q[i * d + k];
            for (int i = 0; i < d; i++) Q[i * d + j] -= dot * Q[i * d + k];
        }
        double nn = 0;
        for (int i = 0; i < d; i++) nn += Q[i * d + j] * Q[i * d + j];
        for (int i = 0; i < d; i++) Q[i * d + j] /= sqrt(nn);
    }
    lw_rng_seed(&r, seed);
    float *x = malloc(sizeof(float) * n * d);
    double *g = malloc(sizeof(double) * d);
    for (int64_t a = 0; a < n; a++) {
        for (int j = 0; j < d; j++) g[j] = sqrt(lam[j]) * lw_rng_normal(&r);
        for (int i = 0; i < d; i++) {
            double v = 0;
            for (int j = 0; j < d; j++) v += Q[i * d + j] * g[j];
            x[a * d + i] = (float)v;
        }
    }
    free(Q);
    free(g);
    return x;
}

/* Relative L2 error of c over n rows through encode and decode. */
static double rel_err(const lw_codec *c, const float *rows, int64_t n, int d) {
    double num = 0, den = 0;
    float *y = malloc(sizeof(float) * d);
    for (int64_t i = 0; i < n; i++) {
        lw_payload pl;
        assert_int_equal(lw_codec_encode_act(c, rows + i * d, &pl), 0);
        assert_int_equal(lw_codec_decode_act(c, pl.bytes, pl.n, y), 0);
        free(pl.bytes);
        for (int j = 0; j < d; j++) {
            num += (rows[i * d + j] - y[j]) * (double)(rows[i * d + j] - y[j]);
            den += (double)rows[i * d + j] * rows[i * d + j];
        }
    }
    free(y);
    return num / den;
}

static lw_codec *fit_pcaq(const float *x, int64_t n, int d, int r, int bits, bool lloyd) {
    lw_codec_params p = lw_codec_default_params(LW_CODEC_PCAQ);
    p.rank = r;
    p.bits = bits;
    p.lloyd_max = lloyd;
    lw_codec *c = lw_codec_fit_act(&p, x, n, d);
    if (!c) fail_msg("pcaq: %s", lw_last_error());
    return c;
}

static void test_pcaq_matches_theory(void **state) {
    enum { D = 12 };
    double lam[D], total = 0;
    for (int j = 0; j < D; j++) total += lam[j] = pow(0.6, j) * 4.0;
    int64_t n = 4000, nt = 3000;
    float *calib = gaussian_rows(n, D, lam, 1), *test = gaussian_rows(nt, D, lam, 2);
    /* r = d, 12 bits: nearly lossless */
    lw_codec *c = fit_pcaq(calib, n, D, D, 12, false);
    double e = rel_err(c, test, nt, D);
    print_message("pcaq r=d b=12: rel err %.3g\n", e);
    assert_true(e < 1e-4);
    lw_codec_free(c);
    /* r < d: the discarded eigenvalue mass */
    for (int r = 2; r <= 8; r += 3) {
        double tail = 0;
        for (int j = r; j < D; j++) tail += lam[j];
        c = fit_pcaq(calib, n, D, r, 12, false);
        e = rel_err(c, test, nt, D);
        print_message("pcaq r=%d b=12: rel err %.4f, discarded eigenvalue mass %.4f\n", r, e, tail / total);
        assert_true(fabs(e - tail / total) < 0.06 * tail / total);
        lw_codec_free(c);
    }
    /* Lloyd-Max on Gaussian coordinates: Max's MSE 0.3634 (1 bit) and 0.1175 (2 bits) of the variance */
    static const double MAX_MSE[] = {0, 0.3634, 0.1175};
    for (int b = 1; b <= 2; b++) {
        c = fit_pcaq(calib, n, D, D, b, true);
        e = rel_err(c, test, nt, D);
        print_message("pcaq lloyd b=%d: rel err %.4f (Max: %.4f)\n", b, e, MAX_MSE[b]);
        assert_true(fabs(e - MAX_MSE[b]) < 0.06 * MAX_MSE[b]);
        lw_codec_free(c);
    }
    /* uniform quantizer: step^2 / 12 inside the range, the clipping error outside, computed
     * from the saved basis and ranges */
    c = fit_pcaq(calib, n, D, D, 5, false);
    const char *path = lw_test_tmpfile("pcaq5.safetensors");
    assert_int_equal(lw_codec_save(c, path), 0);
    lw_st_file *f = lw_st_open(path);
    assert_non_null(f);
    const float *mean = lw_st_find(f, "pcaq.mean")->data, *basis = lw_st_find(f, "pcaq.basis")->data,
                *range = lw_st_find(f, "pcaq.ranges")->data;
    double expect = 0, got = 0;
    float y[D];
    for (int64_t i = 0; i < nt; i++) {
        const float *x = test + i * D;
        for (int j = 0; j < D; j++) {
            double z = 0, lo = range[2 * j], hi = range[2 * j + 1], step = (hi - lo) / 31;
            for (int t = 0; t < D; t++) z += basis[j * D + t] * (double)(x[t] - mean[t]);
            expect += z < lo ? (z - lo) * (z - lo) : z > hi ? (z - hi) * (z - hi) : step * step / 12;
        }
        lw_payload pl;
        assert_int_equal(lw_codec_encode_act(c, x, &pl), 0);
        assert_int_equal(lw_codec_decode_act(c, pl.bytes, pl.n, y), 0);
        free(pl.bytes);
        for (int t = 0; t < D; t++) got += (x[t] - y[t]) * (double)(x[t] - y[t]);
    }
    print_message("pcaq uniform b=5: squared error %.4f, step^2/12 + clipping %.4f\n", got / nt, expect / nt);
    assert_true(fabs(got - expect) < 0.05 * expect);
    lw_st_close(f);
    lw_codec_free(c);
    /* rows far from the origin: the components are those of the centred rows, so the squared error
     * per row stays the discarded eigenvalue mass (a fit on the raw rows spends its first component
     * on the mean and loses the largest direction instead) */
    for (int64_t i = 0; i < n * D; i++) calib[i] += 50.0f;
    for (int64_t i = 0; i < nt * D; i++) test[i] += 50.0f;
    double tail2 = 0;
    for (int j = 2; j < D; j++) tail2 += lam[j];
    c = fit_pcaq(calib, n, D, 2, 12, false);
    got = 0;
    for (int64_t i = 0; i < nt; i++) {
        lw_payload pl;
        assert_int_equal(lw_codec_encode_act(c, test + i * D, &pl), 0);
        assert_int_equal(lw_codec_decode_act(c, pl.bytes, pl.n, y), 0);
        free(pl.bytes);
        for (int t = 0; t < D; t++) got += (test[i * D + t] - y[t]) * (double)(test[i * D + t] - y[t]);
    }
    print_message("pcaq r=2 b=12, mean 50: squared error per row %.4f, discarded mass %.4f\n", got / nt, tail2);
    assert_true(fabs(got / nt - tail2) < 0.06 * tail2);
    lw_codec_free(c);
    free(calib);
    free(test);
}

/* The uniform quantizer clips symmetric data symmetrically: on heavy-tailed (Laplace) coordinates
 * at 2 bits the best range lies well inside the sample's extremes on both sides (a mutant that
 * clipped only the low end kept the maximum as its top). Coordinates of scales 3 and 1, so the
 * components are the axes. */
static void test_uniform_range_is_symmetric(void **state) {
    (void)state;
    enum { N = 4000, D = 2 };
    float *x = malloc(sizeof *x * N * D);
    assert_non_null(x);
    lw_rng r;
    lw_rng_seed(&r, 11);
    for (int i = 0; i < N * D; i++) {
        double u = lw_rng_uniform(&r) - 0.5; /* Laplace by inversion */
        double lap = (u < 0 ? 1 : -1) * log(1 - 2 * fmin(fabs(u), 0.4999999));
        x[i] = (float)(lap * (i % D == 0 ? 3.0 : 1.0));
    }
    lw_codec *c = fit_pcaq(x, N, D, D, 2, false);
    const char *path = lw_test_tmpfile("pcaq-laplace.safetensors");
    assert_int_equal(lw_codec_save(c, path), 0);
    lw_st_file *f = lw_st_open(path);
    assert_non_null(f);
    const float *range = lw_st_find(f, "pcaq.ranges")->data;
    for (int j = 0; j < D; j++) {
        double lo = range[2 * j], hi = range[2 * j + 1];
        print_message("laplace component %d: range [%.3f, %.3f]\n", j, lo, hi);
        assert_true(lo < 0 && hi > 0);
        assert_true(fabs(lo + hi) < 0.1 * (hi - lo));
    }
    lw_st_close(f);
    lw_codec_free(c);
    free(x);
}

/* ------------------------------------------------------------------ SAE */

/* Rows that are sparse combinations of a hidden dictionary (what an SAE can learn). */
static float *sparse_rows(int64_t n, int d, int atoms, uint64_t seed) {
    lw_rng r;
    lw_rng_seed(&r, 77);
    float *A = malloc(sizeof(float) * atoms * d), *x = calloc((size_t)n * d, sizeof(float));
    for (int i = 0; i < atoms * d; i++) A[i] = (float)lw_rng_normal(&r);
    lw_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++)
        for (int t = 0; t < 3; t++) {
            int a = (int)lw_rng_below(&r, atoms);
            float s = (float)(1 + lw_rng_uniform(&r));
            for (int j = 0; j < d; j++) x[i * d + j] += s * A[a * d + j];
        }
    free(A);
    return x;
}

static void put_bits(uint8_t *buf, size_t *pos, uint32_t v, int n) {
    for (int i = 0; i < n; i++, (*pos)++)
        if ((v >> i) & 1) buf[*pos / 8] |= (uint8_t)(1 << (*pos % 8));
}

static void test_sae_trains_and_decodes(void **state) {
    enum { D = 32, L = 64, K = 4, N = 512 };
    float *x = sparse_rows(N, D, 48, 1);
    lw_codec_params p = lw_codec_default_params(LW_CODEC_SAE);
    p.sae_latents = L;
    p.sae_epochs = 20;
    p.k = K;
    p.bits = 8;
    lw_codec *c = lw_codec_fit_act(&p, x, N, D);
    assert_non_null(c);
    /* training lowered the loss */
    double before = record_real(c, "fit", "loss_before_training"), after = record_real(c, "fit", "loss_after_training");
    json_t *r = json_loads(lw_codec_record_json(c), 0, NULL);
    json_t *curve = json_object_get(json_object_get(r, "fit"), "loss_curve");
    assert_int_equal(json_array_size(curve), 20);
    double first = json_real_value(json_array_get(curve, 0)), last = json_real_value(json_array_get(curve, 19));
    print_message("sae: FVU %.3f before training, %.3f after; epoch 1 %.3f, epoch 20 %.3f\n", before, after, first, last);
    assert_true(after < 0.7 * before);
    assert_true(last < first);
    json_decref(r);
    /* decode = W_dec z + b_dec computed naively from the saved tensors */
    const char *path = lw_test_tmpfile("sae.safetensors");
    assert_int_equal(lw_codec_save(c, path), 0);
    lw_st_file *f = lw_st_open(path);
    assert_non_null(f);
    const float *We = lw_st_find(f, "sae.W_enc")->data, *be = lw_st_find(f, "sae.b_enc")->data,
                *dec = lw_st_find(f, "sae.decoder")->data, *bd = lw_st_find(f, "sae.b_dec")->data,
                *range = lw_st_find(f, "sae.value_range")->data;
    /* a hand-made payload: latents 3, 17, 40, 63 with codes 0, 255, 100, 7 (6 + 8 bits each) */
    uint8_t buf[7] = {0};
    size_t pos = 0;
    int lat[K] = {3, 17, 40, 63};
    uint32_t code[K] = {0, 255, 100, 7};
    for (int j = 0; j < K; j++) put_bits(buf, &pos, (uint32_t)lat[j], 6), put_bits(buf, &pos, code[j], 8);
    float y[D];
    assert_int_equal(lw_codec_decode_act(c, buf, sizeof buf, y), 0);
    for (int t = 0; t < D; t++) {
        double want = bd[t];
        for (int j = 0; j < K; j++) want += (range[0] + code[j] * ((double)range[1] - range[0]) / 255) * dec[lat[j] * D + t];
        assert_true(fabs(y[t] - want) < 1e-4 * (1 + fabs(want)));
    }
    /* an encoded row: z from a naive encoder (sorted pre-activations), quantized, decoded */
    for (int i = 0; i < 5; i++) {
        const float *xi = x + i * D;
        double pre[L];
        int ord[L];
        for (int l = 0; l < L; l++) {
            pre[l] = be[l];
            for (int t = 0; t < D; t++) pre[l] += We[l * D + t] * (double)(xi[t] - bd[t]);
            ord[l] = l;
        }
        for (int a = 0; a < L; a++)
            for (int b = a + 1; b < L; b++)
                if (pre[ord[b]] > pre[ord[a]]) {
                    int tmp = ord[a];
                    ord[a] = ord[b];
                    ord[b] = tmp;
                }
        double want[D];
        for (int t = 0; t < D; t++) want[t] = bd[t];
        double step = ((double)range[1] - range[0]) / 255;
        for (int j = 0; j < K; j++) {
            double q = round((pre[ord[j]] - range[0]) / step);
            q = q < 0 ? 0 : q > 255 ? 255 : q;
            for (int t = 0; t < D; t++) want[t] += (range[0] + q * step) * dec[ord[j] * D + t];
        }
        lw_payload pl;
        assert_int_equal(lw_codec_encode_act(c, xi, &pl), 0);
        assert_int_equal(lw_codec_decode_act(c, pl.bytes, pl.n, y), 0);
        free(pl.bytes);
        for (int t = 0; t < D; t++) assert_true(fabs(y[t] - want[t]) < 1e-3 * (1 + fabs(want[t])));
    }
    lw_st_close(f);
    lw_codec_free(c);
    free(x);
}

/* ------------------------------------------------------------------ PQ */

static void test_pq_decodes_to_nearest_centroids(void **state) {
    enum { D = 16, M = 4, B = 3 };
    float *calib = random_rows(300, D, 8), *items = random_rows(20, D, 9);
    lw_codec_params p = lw_codec_default_params(LW_CODEC_PQ);
    p.pq_subspaces = M;
    p.bits = B;
    lw_codec *c = lw_codec_fit_act(&p, calib, 300, D);
    assert_non_null(c);
    const char *path = lw_test_tmpfile("pq.safetensors");
    assert_int_equal(lw_codec_save(c, path), 0);
    lw_st_file *f = lw_st_open(path);
    const lw_st_tensor *t = lw_st_find(f, "pq.centroids");
    assert_non_null(t);
    assert_int_equal(t->shape[0], 1 << B);
    const float *C = t->data;
    float y[D];
    for (int i = 0; i < 20; i++) {
        const float *x = items + i * D;
        lw_payload pl;
        assert_int_equal(lw_codec_encode_act(c, x, &pl), 0);
        assert_int_equal(pl.n, (M * B + 7) / 8);
        assert_int_equal(lw_codec_decode_act(c, pl.bytes, pl.n, y), 0);
        free(pl.bytes);
        for (int j = 0; j < M; j++) {
            int a = j * D / M, b = (j + 1) * D / M, near = 0;
            double best = INFINITY;
            for (int l = 0; l < (1 << B); l++) {
                double e = 0;
                for (int k = a; k < b; k++) e += (x[k] - C[l * D + k]) * (double)(x[k] - C[l * D + k]);
                if (e < best) best = e, near = l;
            }
            assert_memory_equal(y + a, C + near * D + a, sizeof(float) * (b - a));
        }
    }
    lw_st_close(f);
    lw_codec_free(c);
    free(calib);
    free(items);
}

/* ------------------------------------------------------------------ files */

/* Changes the first digit of the first number after "key": in a saved codec's header (the record
 * is a JSON string there, so its quotes are escaped), keeping the header's length. */
static void edit_header_digit(const char *path, const char *key) {
    FILE *w = fopen(path, "r+b");
    assert_non_null(w);
    uint64_t hlen = 0;
    assert_int_equal(fread(&hlen, 8, 1, w), 1); /* little-endian, as this machine */
    char *header = calloc(hlen + 1, 1), *at = NULL, pattern[64];
    assert_non_null(header);
    assert_int_equal(fread(header, 1, hlen, w), hlen);
    snprintf(pattern, sizeof pattern, "\"%s\\\":", key);
    for (char *q = strstr(header, pattern); q && !at; q = strstr(q + 1, pattern)) at = q + strlen(pattern);
    assert_non_null(at);
    *at = *at == '9' ? '8' : (char)(*at + 1);
    assert_int_equal(fseek(w, 8, SEEK_SET), 0);
    assert_int_equal(fwrite(header, 1, hlen, w), hlen);
    fclose(w);
    free(header);
}

static void test_save_load_bit_identical(void **state) {
    static const lw_codec_kind KINDS[] = {LW_CODEC_TOPK, LW_CODEC_PCAQ, LW_CODEC_TOKEN_SPARSE, LW_CODEC_SAE, LW_CODEC_PQ};
    int d = 48;
    float *calib = random_rows(240, d, 21), *items = random_rows(4 * 5, d, 22);
    for (size_t k = 0; k < sizeof KINDS / sizeof KINDS[0]; k++) {
        lw_codec_params p = small_params(KINDS[k], 256);
        p.lloyd_max = KINDS[k] == LW_CODEC_PCAQ;
        lw_codec *a = lw_codec_fit_act(&p, calib, 240, d);
        assert_non_null(a);
        const char *path = lw_test_tmpfile("roundtrip.safetensors");
        assert_int_equal(lw_codec_save(a, path), 0);
        lw_codec *b = lw_codec_load(path, NULL);
        if (!b) fail_msg("%s: %s", lw_codec_name(KINDS[k]), lw_last_error());
        assert_string_equal(lw_codec_record_json(a), lw_codec_record_json(b));
        assert_int_equal(lw_codec_side_bits(a), lw_codec_side_bits(b));
        assert_true(lw_codec_side_bits(a) > 0);
        int T = lw_codec_positions(a);
        float ya[4 * 48], yb[4 * 48];
        for (int i = 0; i + T <= 20; i += T) {
            lw_payload pa, pb;
            assert_int_equal(lw_codec_encode_act(a, items + i * d, &pa), 0);
            assert_int_equal(lw_codec_encode_act(b, items + i * d, &pb), 0);
            assert_int_equal(pa.n, pb.n);
            assert_memory_equal(pa.bytes, pb.bytes, pa.n);
            assert_int_equal(lw_codec_decode_act(a, pa.bytes, pa.n, ya), 0);
            assert_int_equal(lw_codec_decode_act(b, pa.bytes, pa.n, yb), 0);
            assert_memory_equal(ya, yb, sizeof(float) * T * d);
            free(pa.bytes);
            free(pb.bytes);
        }
        lw_codec_free(b);
        /* the record's side_bits or fit.payload_bits edited (one digit, the header's length kept):
         * refused, since codec info, encode and decode report them as measured */
        static const char *const KEYS[] = {"side_bits", "payload_bits"};
        for (int e = 0; e < 2; e++) {
            assert_int_equal(lw_codec_save(a, path), 0);
            edit_header_digit(path, KEYS[e]);
            assert_null(lw_codec_load(path, NULL));
            if (!strstr(lw_last_error(), KEYS[e]) || !strstr(lw_last_error(), "the file was edited; fit the codec again"))
                fail_msg("%s, %s: \"%s\"", lw_codec_name(KINDS[k]), KEYS[e], lw_last_error());
        }
        lw_codec_free(a);
    }
    free(calib);
    free(items);
}

/* Rewrites a saved codec with one change: a tensor renamed / reshaped / poisoned / its first two
 * values swapped, or the record edited. */
static const char *mutated(const char *src, const char *drop, const char *reshape, bool nan, const char *rec_key,
                           int rec_value, const char *swap) {
    static char out[1200];
    snprintf(out, sizeof out, "%s", lw_test_tmpfile("mutated.safetensors"));
    lw_st_file *f = lw_st_open(src);
    assert_non_null(f);
    lw_st_tensor_in t[16];
    void *copies[16] = {0};
    int n = 0;
    for (int i = 0; i < lw_st_count(f); i++) {
        const lw_st_tensor *s = lw_st_get(f, i);
        if (drop && !strcmp(s->name, drop)) continue;
        t[n] = (lw_st_tensor_in){.name = s->name, .dtype = s->dtype, .n_dims = s->n_dims, .data = s->data};
        memcpy(t[n].shape, s->shape, sizeof s->shape);
        if (reshape && !strcmp(s->name, reshape) && s->n_dims == 2) t[n].shape[0] -= 1, t[n].shape[1] += 0;
        if (reshape && !strcmp(s->name, reshape) && s->n_dims == 1) t[n].shape[0] -= 1;
        if ((nan && i == 0) || (swap && !strcmp(s->name, swap))) {
            float *c = malloc(s->n_bytes);
            memcpy(c, s->data, s->n_bytes);
            if (nan && i == 0) c[0] = NAN;
            else {
                float x = c[0];
                c[0] = c[1], c[1] = x;
            }
            t[n].data = copies[n] = c;
        }
        n++;
    }
    json_t *rec = json_loads(lw_st_meta(f, "latentwire"), 0, NULL);
    if (rec_key) json_object_set_new(json_object_get(rec, "params"), rec_key, json_integer(rec_value));
    char *text = json_dumps(rec, JSON_COMPACT);
    /* the side tensors' sha256 made anew, as a careful editor would: the checks behind it are reached */
    json_t *sums = json_object();
    for (int i = 0; i < n; i++) {
        size_t bytes = lw_dtype_size(t[i].dtype);
        for (int k = 0; k < t[i].n_dims; k++) bytes *= (size_t)t[i].shape[k];
        char hex[65];
        assert_int_equal(lw_sha256_buf(t[i].data, bytes, hex), 0);
        json_object_set_new(sums, t[i].name, json_string(hex));
    }
    char *sums_text = json_dumps(sums, JSON_COMPACT);
    const char *meta[] = {"format", "latentwire.codec/1", "latentwire", text, "side_sha256", sums_text};
    assert_int_equal(lw_st_save(out, t, n, meta, 3), 0);
    free(sums_text);
    json_decref(sums);
    free(text);
    json_decref(rec);
    for (int i = 0; i < 16; i++) free(copies[i]);
    lw_st_close(f);
    return out;
}

static void test_malformed_files_and_payloads(void **state) {
    int d = 40; /* index bits 6: indices 40..63 are out of range */
    float *calib = random_rows(200, d, 31);
    char good[1200]; /* a copy: lw_test_tmpfile's buffers rotate, and mutated() calls it */
    snprintf(good, sizeof good, "%s", lw_test_tmpfile("good.safetensors"));
    static const lw_codec_kind KINDS[] = {LW_CODEC_TOPK, LW_CODEC_PCAQ, LW_CODEC_TOKEN_SPARSE, LW_CODEC_SAE, LW_CODEC_PQ};
    static const char *const FIRST[] = {"topk.magnitude_range", "pcaq.basis", "token-sparse.magnitude_range",
                                        "sae.decoder", "pq.centroids"};
    static const char *const SHAPE_KEY[] = {"k", "rank", "k", "sae_latents", "pq_subspaces"};
    for (size_t k = 0; k < 5; k++) {
        lw_codec_params p = small_params(KINDS[k], 0);
        p.sae_latents = 40;
        lw_codec *c = lw_codec_fit_act(&p, calib, 200, d);
        assert_non_null(c);
        assert_int_equal(lw_codec_save(c, good), 0);
        /* files: a side tensor's value edited (the record, which payloads name, unchanged) decoded
         * without a word; the hashes saved beside the record catch it, and their absence too */
        {
            lw_st_file *f = lw_st_open(good);
            assert_non_null(f);
            lw_st_tensor_in t[16];
            void *copy = NULL;
            int n = lw_st_count(f);
            for (int i = 0; i < n; i++) {
                const lw_st_tensor *s = lw_st_get(f, i);
                t[i] = (lw_st_tensor_in){.name = s->name, .dtype = s->dtype, .n_dims = s->n_dims, .data = s->data};
                memcpy(t[i].shape, s->shape, sizeof s->shape);
                if (i == 0) {
                    copy = malloc(s->n_bytes);
                    memcpy(copy, s->data, s->n_bytes);
                    ((float *)copy)[0] = 3e38f;
                    t[i].data = copy;
                }
            }
            const char *edited = lw_test_tmpfile("edited.safetensors");
            const char *meta[] = {"format", "latentwire.codec/1", "latentwire", lw_st_meta(f, "latentwire"),
                                  "side_sha256", lw_st_meta(f, "side_sha256")};
            assert_int_equal(lw_st_save(edited, t, n, meta, 3), 0);
            assert_null(lw_codec_load(edited, NULL));
            if (!strstr(lw_last_error(), "does not match its sha256")) fail_msg("%s", lw_last_error());
            assert_int_equal(lw_st_save(edited, t, n, meta, 2), 0); /* the hashes left out */
            assert_null(lw_codec_load(edited, NULL));
            if (!strstr(lw_last_error(), "has no side_sha256")) fail_msg("%s", lw_last_error());
            free(copy);
            lw_st_close(f);
        }
        assert_null(lw_codec_load(mutated(good, FIRST[k], NULL, false, NULL, 0, NULL), NULL));
        assert_non_null(strstr(lw_last_error(), FIRST[k]));
        assert_null(lw_codec_load(mutated(good, NULL, FIRST[k], false, NULL, 0, NULL), NULL));
        assert_null(lw_codec_load(mutated(good, NULL, NULL, true, NULL, 0, NULL), NULL));
        assert_null(lw_codec_load(mutated(good, NULL, NULL, false, SHAPE_KEY[k], 100000, NULL), NULL));
        assert_null(lw_codec_load(mutated(good, NULL, NULL, false, "bits", 0, NULL), NULL));
        /* a budget edited below what the payloads take (it failed at the first encode, as "a codec bug") */
        assert_null(lw_codec_load(mutated(good, NULL, NULL, false, "budget_bits", 8, NULL), NULL));
        if (!strstr(lw_last_error(), "budget_bits 8 is below its payloads'")) fail_msg("%s", lw_last_error());
        if (KINDS[k] == LW_CODEC_PCAQ) { /* a component's range high to low: an edit, not a fit */
            assert_null(lw_codec_load(mutated(good, NULL, NULL, false, NULL, 0, "pcaq.ranges"), NULL));
            if (!strstr(lw_last_error(), "component 0's range is not in ascending order")) fail_msg("%s", lw_last_error());
        }
        /* payloads */
        int T = lw_codec_positions(c);
        lw_payload pl;
        float *y = malloc(sizeof(float) * T * d);
        assert_int_equal(lw_codec_encode_act(c, calib, &pl), 0);
        assert_int_equal(lw_codec_decode_act(c, pl.bytes, pl.n, y), 0);
        assert_int_equal(lw_codec_decode_act(c, pl.bytes, pl.n - 1, y), -1);
        uint8_t *big = calloc(pl.n + 1, 1);
        assert_int_equal(lw_codec_decode_act(c, big, pl.n + 1, y), -1);
        assert_int_equal(lw_codec_decode_act(c, NULL, 0, y), -1);
        /* every byte 0xff: an index past the width (topk, token-sparse, sae), or nonzero padding */
        memset(big, 0xff, pl.n);
        int rc = lw_codec_decode_act(c, big, pl.n, y);
        if (KINDS[k] != LW_CODEC_PCAQ && KINDS[k] != LW_CODEC_PQ) assert_int_equal(rc, -1);
        if (rc != 0) print_message("%s: %s\n", lw_codec_name(KINDS[k]), lw_last_error());
        free(big);
        free(pl.bytes);
        free(y);
        lw_codec_free(c);
    }
    /* a truncated file and a file that is no codec */
    FILE *fp = fopen(good, "r+b");
    assert_non_null(fp);
    assert_int_equal(ftruncate(fileno(fp), 20), 0);
    fclose(fp);
    assert_null(lw_codec_load(good, NULL));
    lw_st_tensor_in t = {.name = "x", .dtype = LW_DT_F32, .n_dims = 1, .shape = {1}, .data = calib};
    assert_int_equal(lw_st_save(good, &t, 1, NULL, 0), 0);
    assert_null(lw_codec_load(good, NULL));
    assert_non_null(strstr(lw_last_error(), "not a latentwire codec"));
    free(calib);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk_keeps_the_k_largest),
        cmocka_unit_test(test_pcaq_matches_theory),
        cmocka_unit_test(test_uniform_range_is_symmetric),
        cmocka_unit_test(test_sae_trains_and_decodes),
        cmocka_unit_test(test_pq_decodes_to_nearest_centroids),
        cmocka_unit_test(test_save_load_bit_identical),
        cmocka_unit_test(test_malformed_files_and_payloads),
        cmocka_unit_test(test_one_row_refused), cmocka_unit_test(test_budget_too_small),
        cmocka_unit_test(test_payload_within_budget),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
