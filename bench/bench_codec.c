/* Benchmark: encode and decode rates of the activation codecs (items per second).
 *
 *   bench_codec [--d D] [--n N] [--items M] [--budget K] [--kinds topk,pcaq,...] [--epochs E] [--latents L]
 *
 * Default: width 2048, N = 1000 seeded calibration rows (Gaussian with unequal coordinate
 * scales), M = 2000 items, budget K = 1024 bits, every activation kind; the SAE is trained
 * for E = 2 epochs with L = 4096 latents so that the fit stays short (the rates do not depend
 * on how well it is trained). Fit time (with the budget search) is printed too, and the shape
 * the search chose. The SAE's shape is pinned to fill the budget (k latents of 4 bits) so that its
 * fit trains once, not once per k (--sae-search lets it search). The rows are drawn from seeds of
 * their own: drawn from the codecs' seed (1), they were the very normals the SAE initializes its
 * dictionary with, its atoms were the calibration rows, and k = 1 "reconstructed" them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/rng.h"
#include "latentwire/codec.h"
#include "latentwire/error.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *rows(int64_t n, int d, uint64_t seed) {
    lw_rng r;
    lw_rng_seed(&r, seed);
    float *x = malloc(sizeof(float) * (size_t)n * d);
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < d; j++) x[i * d + j] = (float)((0.2 + 2.8 * ((j * 37) % d) / (double)d) * lw_rng_normal(&r));
    return x;
}

int main(int argc, char **argv) {
    int d = 2048, epochs = 2, latents = 4096, sae_search = 0;
    int64_t n = 1000, m = 2000, K = 1024;
    const char *kinds = "topk,pcaq,token-sparse,sae,pq";
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "--sae-search")) {
            sae_search = 1, i--;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_codec: %s needs a value\n", argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--d")) d = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--n")) n = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--items")) m = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--budget")) K = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--kinds")) kinds = argv[i + 1];
        else if (!strcmp(argv[i], "--epochs")) epochs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--latents")) latents = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench_codec: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (d < 1 || n < 2 || m < 1 || K < 8) {
        fprintf(stderr, "bench_codec: need --d >= 1, --n >= 2, --items >= 1, --budget >= 8\n");
        return 2;
    }
    float *calib = rows(n, d, 1001), *items = rows(m, d, 1002), *back = malloc(sizeof(float) * (size_t)d);
    lw_payload *pl = calloc((size_t)m, sizeof *pl);
    printf("activation codecs at width %d, budget %lld bits, %lld calibration rows, %lld items\n", d, (long long)K,
           (long long)n, (long long)m);
    printf("%-13s %9s %12s %14s %14s  %s\n", "codec", "fit s", "payload bits", "encode items/s", "decode items/s",
           "shape");
    char list[256];
    snprintf(list, sizeof list, "%s", kinds);
    for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
        int kind = lw_codec_from_name(name);
        if (kind < 0) {
            fprintf(stderr, "bench_codec: %s\n", lw_last_error());
            return 2;
        }
        lw_codec_params p = lw_codec_default_params((lw_codec_kind)kind);
        p.budget_bits = K;
        p.sae_epochs = epochs;
        p.sae_latents = latents;
        if (kind == LW_CODEC_SAE && !sae_search) {
            int ib = 0;
            while ((1L << ib) < latents) ib++;
            int64_t k = K / (ib + 4);
            if (k < 1 || k > latents) {
                fprintf(stderr, "bench_codec: a budget of %lld bits pins the SAE to k = %lld latents of 4 bits, "
                        "outside 1..%d: use --sae-search or another --budget/--latents\n", (long long)K, (long long)k,
                        latents);
                return 2;
            }
            p.bits = 4;
            p.k = (int)k;
        }
        double t0 = now();
        lw_codec *c = lw_codec_fit_act(&p, calib, n, d);
        double fit_s = now() - t0;
        if (!c) {
            printf("%-13s fit failed: %s\n", name, lw_last_error());
            continue;
        }
        /* token-sparse with the default T = 1 codes one position per item, like the others */
        t0 = now();
        for (int64_t i = 0; i < m; i++)
            if (lw_codec_encode_act(c, items + (size_t)i * d, &pl[i]) != 0) return fprintf(stderr, "%s\n", lw_last_error()), 1;
        double enc = now() - t0;
        t0 = now();
        for (int64_t i = 0; i < m; i++)
            if (lw_codec_decode_act(c, pl[i].bytes, pl[i].n, back) != 0) return fprintf(stderr, "%s\n", lw_last_error()), 1;
        double dec = now() - t0;
        json_t *rec = json_loads(lw_codec_record_json(c), 0, NULL), *srch = json_object_get(json_object_get(rec, "fit"), "search");
        json_t *shape = json_array_get(json_object_get(srch, "candidates"), (size_t)json_integer_value(json_object_get(srch, "chosen")));
        char *shape_text = shape ? json_dumps(shape, JSON_COMPACT) : NULL;
        printf("%-13s %9.2f %12zu %14.0f %14.0f  %s\n", name, fit_s, pl[0].n * 8, (double)m / enc, (double)m / dec,
               shape_text ? shape_text : "");
        free(shape_text);
        json_decref(rec);
        for (int64_t i = 0; i < m; i++) free(pl[i].bytes);
        lw_codec_free(c);
    }
    free(calib), free(items), free(back), free(pl);
    return 0;
}
