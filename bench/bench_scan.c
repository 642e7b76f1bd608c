/* Benchmark: the layer scan reading the sender once per item at every scanned layer
 * (lw_scan_run, lw_patch_read_layers) against a sender run per item and layer (an evaluator
 * calling lw_patch_read for each, as the scan did before), side by side in one process,
 * alternating, on the same items; the per-item scores of both must be equal.
 *
 *   bench_scan MODEL DATA_DIR [--skill NAME] [--items N] [--reps R] [--threads T]
 *
 * MODEL scans itself (sender = receiver), every block, skill:NAME (default first_letter) items
 * from DATA_DIR (../shared/data), a quarter of them for selection. Prints each rep's wall time per
 * item for both, the median ratio per-layer / one-run, and the number of differing scores. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "latentwire/scan.h"

/* The scan's evaluator as it was: a sender run for every (item, layer). */
typedef struct {
    lw_session *s;
    lw_patch_params patch;
    const int *layers;
    float *v;
} per_layer;

static int eval_per_layer(void *ctx, const lw_task_item *it, int condition, double *score, char **output) {
    per_layer *e = ctx;
    *output = NULL;
    const char *prompt = it->receiver;
    char *ceiling = condition == LW_SCAN_CEILING ? lw_task_context_prompt(it) : NULL;
    int rc = 0;
    if (condition >= 0) rc = lw_patch_read(e->s, it->sender, e->layers[condition], &e->patch, e->v);
    if (rc == 0)
        rc = lw_patch_answer(e->s, ceiling ? ceiling : prompt, condition >= 0 ? e->layers[condition] : 0,
                             condition >= 0 ? e->v : NULL, condition >= 0 ? 1 : 0, &e->patch, output);
    if (rc == 0) *score = lw_score(it, *output);
    free(ceiling);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_scan MODEL DATA_DIR [--skill NAME] [--items N] [--reps R] [--threads T]\n");
        return 2;
    }
    int n_items = 12, reps = 3, threads = 0;
    const char *skill = "first_letter";
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--items")) n_items = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--skill")) skill = argv[i + 1];
    }
    lw_model *m = lw_model_load(argv[1], lw_model_default_params());
    if (!m) return fprintf(stderr, "bench_scan: %s\n", lw_last_error()), 1;
    lw_model_info info;
    lw_model_get_info(m, &info);
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = threads;
    lw_session *s = lw_session_new(m, sp);
    char spec[128];
    snprintf(spec, sizeof spec, "skill:%s", skill);
    lw_task pool;
    if (!s || lw_scan_task_load(spec, argv[2], 5, n_items, 1, &pool) != 0)
        return fprintf(stderr, "bench_scan: %s\n", lw_last_error()), 1;
    int *layers = malloc(sizeof(int) * (size_t)info.n_layer);
    for (int l = 0; l < info.n_layer; l++) layers[l] = l;
    lw_scan_params p = lw_scan_default_params();
    p.layers = layers;
    p.n_layers = info.n_layer;
    p.n_select = n_items / 4 > 0 ? n_items / 4 : 1;
    lw_scan_models sm = {.sender = s, .receiver = s, .patch = lw_patch_default_params()};
    per_layer pl = {.s = s, .patch = sm.patch, .layers = layers, .v = malloc(sizeof(float) * (size_t)info.n_embd)};
    double *ratio = malloc(sizeof(double) * (size_t)reps);
    int differ = 0;
    printf("bench_scan: %s, skill %s, %d items, %d layers, %d reps\n", argv[1], skill, n_items, info.n_layer, reps);
    for (int r = 0; r < reps; r++) {
        lw_scan_result a, b;
        double t0 = bench_now();
        if (lw_scan_run(&pool, &p, &sm, &a) != 0) return fprintf(stderr, "bench_scan: %s\n", lw_last_error()), 1;
        double t1 = bench_now();
        if (lw_scan_run_eval(&pool, &p, eval_per_layer, &pl, &b) != 0)
            return fprintf(stderr, "bench_scan: %s\n", lw_last_error()), 1;
        double t2 = bench_now();
        size_t n_scores = (size_t)(p.n_layers + 2) * (size_t)(a.select.n + a.held_out.n);
        for (size_t i = 0; i < n_scores; i++) differ += a.scores[i] != b.scores[i];
        ratio[r] = (t2 - t1) / (t1 - t0);
        printf("  rep %d: one run %.0f ms / item, per layer %.0f ms / item, ratio %.2fx\n", r + 1,
               1e3 * (t1 - t0) / n_items, 1e3 * (t2 - t1) / n_items, ratio[r]);
        lw_scan_result_free(&a);
        lw_scan_result_free(&b);
    }
    qsort(ratio, (size_t)reps, sizeof *ratio, bench_cmp_double);
    printf("median per-layer / one-run: %.2fx; scores that differ: %d\n", ratio[reps / 2], differ);
    free(ratio);
    free(pl.v);
    free(layers);
    lw_task_free(&pool);
    lw_session_free(s);
    lw_model_free(m);
    return differ ? 1 : 0;
}
