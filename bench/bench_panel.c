/* Benchmark: the patching panel with the receiver's prompt prefix kept resident across the
 * unpatched run and the three patches (reuse) against recomputing it for every patch, side by
 * side in one process, alternating, on the same prompts.
 *
 *   bench_panel MODEL DATA_DIR [--prompts N] [--reps R] [--depth F] [--continuation M] [--threads T]
 *
 * One receiver = donor = MODEL (a same-model cell: no bridge to fit), prompts from the corpus in
 * DATA_DIR (../shared/data). Prints each rep's wall time per prompt for both, the median ratio
 * recompute / reuse, and checks that both give the same effects (max difference). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "latentwire/panel.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_panel MODEL DATA_DIR [--prompts N] [--reps R] [--depth F] [--continuation M] "
                        "[--threads T]\n");
        return 2;
    }
    int n_prompts = 20, reps = 3, cont = 4, threads = 0;
    double depth = 0.5;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--prompts")) n_prompts = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--depth")) depth = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--continuation")) cont = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    }
    lw_model *m = lw_model_load(argv[1], lw_model_default_params());
    if (!m) {
        fprintf(stderr, "bench_panel: %s\n", lw_last_error());
        return 1;
    }
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = threads;
    lw_session *s = lw_session_new(m, sp);
    lw_panel_prompt_set set;
    const lw_model *models[1] = {m};
    if (!s || lw_panel_prompts_from_corpus(argv[2], n_prompts, 20, 1, models, 1, &set) != 0) {
        fprintf(stderr, "bench_panel: %s\n", lw_last_error());
        return 1;
    }
    lw_panel_model pm = {"model", s};
    lw_patching_params p = lw_patching_default_params();
    p.depths = &depth;
    p.continuation_tokens = cont;
    double *ratio = malloc(sizeof(double) * (size_t)reps), max_diff = 0;
    printf("bench_panel: %s, %d prompts, continuation %d, depth %g, %d reps\n", argv[1], n_prompts, cont, depth, reps);
    for (int r = 0; r < reps; r++) {
        lw_patching_result a, b;
        p.reuse_prefix = true;
        double t0 = bench_now();
        if (lw_panel_patching(&pm, 1, &pm, 1, set.prompts, set.n_prompts, (const char *const *)set.calib, set.n_calib,
                              &p, &a) != 0)
            return fprintf(stderr, "bench_panel: %s\n", lw_last_error()), 1;
        double t1 = bench_now();
        p.reuse_prefix = false;
        if (lw_panel_patching(&pm, 1, &pm, 1, set.prompts, set.n_prompts, (const char *const *)set.calib, set.n_calib,
                              &p, &b) != 0)
            return fprintf(stderr, "bench_panel: %s\n", lw_last_error()), 1;
        double t2 = bench_now();
        for (int i = 0; i < set.n_prompts; i++) {
            double d = fabs(a.e_target[i] - b.e_target[i]);
            if (d > max_diff) max_diff = d;
        }
        ratio[r] = (t2 - t1) / (t1 - t0);
        printf("  rep %d: reuse %.1f ms/prompt (%lld prefix tokens reused), recompute %.1f ms/prompt: %.2fx\n", r,
               1e3 * (t1 - t0) / set.n_prompts, (long long)a.prefix_tokens_reused, 1e3 * (t2 - t1) / set.n_prompts,
               ratio[r]);
        lw_patching_result_free(&a);
        lw_patching_result_free(&b);
    }
    qsort(ratio, (size_t)reps, sizeof *ratio, bench_cmp_double);
    printf("median recompute / reuse = %.2fx; max |effect difference| = %.2e\n", ratio[reps / 2], max_diff);
    free(ratio);
    lw_panel_prompt_set_free(&set);
    lw_session_free(s);
    lw_model_free(m);
    return 0;
}
