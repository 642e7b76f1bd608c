/* How bold the one-sided bootstrap test of a mean is at few items: the rejection rate of the
 * library's expanded-BCa test (lw_eval_bca_p, what `verdict` and the paired p-values use) on each
 * side at alpha = 0.05 when the null holds exactly (the threshold is the population's mean), its
 * two-sided 95% coverage, and Student's t beside it, on the same samples.
 *
 *   build/bench/bench_bca_size [--samples S] [--resamples B] [--n N1,N2,...] [--values FILE] [POP ...]
 *
 * POP: normal, exp, lognormal (default: all three). --values FILE: the numbers in FILE (one per
 * line) are the population, drawn with replacement, e.g. one patching cell's per-prompt values
 * (README, "Pre-registered verdicts"). For right-skewed values the bold side is H1: mu < mu0.
 * Seeds are fixed: a run reproduces its table exactly. Monte Carlo SE of a rate r: sqrt(r(1-r)/S). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "eval/eval.h"

enum { MAX_VALUES = 100000, MAX_N = 1000 };

static double *g_values;
static int g_n_values;

static double draw(const char *pop, lw_rng *r) {
    if (!strcmp(pop, "normal")) return lw_rng_normal(r);
    if (!strcmp(pop, "exp")) return -log1p(-lw_rng_uniform(r));
    if (!strcmp(pop, "lognormal")) return exp(lw_rng_normal(r));
    return g_values[lw_rng_below(r, (uint64_t)g_n_values)];
}

static double population_mean(const char *pop) {
    if (!strcmp(pop, "normal")) return 0.0;
    if (!strcmp(pop, "exp")) return 1.0;
    if (!strcmp(pop, "lognormal")) return exp(0.5);
    double s = 0;
    for (int i = 0; i < g_n_values; i++) s += g_values[i];
    return s / g_n_values;
}

static int read_values(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return fprintf(stderr, "bench_bca_size: cannot open %s\n", path), -1;
    g_values = malloc(sizeof *g_values * MAX_VALUES);
    char line[256];
    int lineno = 0;
    while (g_values && fgets(line, sizeof line, f)) {
        if (++lineno > MAX_VALUES) {
            fprintf(stderr, "bench_bca_size: %s holds more than %d values\n", path, MAX_VALUES);
            fclose(f);
            return -1;
        }
        char *end;
        double v = strtod(line, &end);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n') end++;
        if (end == line || *end || !isfinite(v)) {
            fprintf(stderr, "bench_bca_size: %s line %d is not one finite number\n", path, lineno);
            fclose(f);
            return -1;
        }
        g_values[g_n_values++] = v;
    }
    fclose(f);
    if (g_n_values < 2) return fprintf(stderr, "bench_bca_size: %s holds fewer than 2 values\n", path), -1;
    return 0;
}

/* One population at n items: S samples, each tested against the population's mean. */
static void run(const char *pop, int n, int S, int B) {
    const double mu = population_mean(pop), alpha = 0.05;
    const double t1 = lw_eval_t_quantile(1.0 - alpha, n - 1.0), t2 = lw_eval_t_quantile(0.975, n - 1.0);
    double *x = malloc(sizeof *x * (size_t)n), *means = malloc(sizeof *means * (size_t)B);
    long bca_gt = 0, bca_lt = 0, bca_cover = 0, t_gt = 0, t_lt = 0, t_cover = 0;
    lw_rng dr;
    lw_rng_seed(&dr, 1000003ull * (uint64_t)n + 17);
    for (int s = 0; s < S; s++) {
        double sum = 0, ss = 0;
        for (int i = 0; i < n; i++) x[i] = draw(pop, &dr), sum += x[i];
        const double m = sum / n;
        for (int i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
        lw_eval_resample_means(x, n, B, (uint64_t)s * 7919u + (uint64_t)n, means);
        const double accel = lw_eval_mean_accel(x, n);
        bca_gt += lw_eval_bca_p(means, B, m, accel, mu, n, true) <= alpha;
        bca_lt += lw_eval_bca_p(means, B, m, accel, mu, n, false) <= alpha;
        double lo, hi;
        lw_eval_bca_bounds(means, B, m, accel, 0.95, n, &lo, &hi);
        bca_cover += lo <= mu && mu <= hi;
        const double se = sqrt(ss / (n - 1.0) / n);
        if (se > 0) {
            const double t = (m - mu) / se;
            t_gt += t > t1, t_lt += t < -t1, t_cover += fabs(t) <= t2;
        } else { /* a sample without spread: t is infinite, unless the mean is the threshold */
            t_gt += m > mu, t_lt += m < mu, t_cover += m == mu;
        }
    }
    printf("%-12s %4d %8.3f %8.3f %8.3f   %8.3f %8.3f %8.3f\n", pop, n, (double)bca_gt / S, (double)bca_lt / S,
           (double)bca_cover / S, (double)t_gt / S, (double)t_lt / S, (double)t_cover / S);
    fflush(stdout);
    free(x), free(means);
}

int main(int argc, char **argv) {
    int S = 20000, B = 1000, ns[64], n_ns = 0;
    const char *values = NULL, *pops[16];
    int n_pops = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--samples") && i + 1 < argc) S = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--resamples") && i + 1 < argc) B = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--values") && i + 1 < argc) values = argv[++i];
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) {
            for (char *tok = strtok(argv[++i], ","); tok; tok = strtok(NULL, ",")) {
                if (n_ns == 64) return fprintf(stderr, "bench_bca_size: --n takes at most 64 sizes\n"), 2;
                ns[n_ns++] = atoi(tok);
            }
        } else if (argv[i][0] != '-' && n_pops < 16) pops[n_pops++] = argv[i];
        else return fprintf(stderr, "bench_bca_size: unknown or incomplete option %s\n", argv[i]), 2;
    }
    if (S < 1 || B < 40) return fprintf(stderr, "bench_bca_size: need --samples >= 1 and --resamples >= 40\n"), 2;
    for (int k = 0; k < n_ns; k++)
        if (ns[k] < 3 || ns[k] > MAX_N) return fprintf(stderr, "bench_bca_size: --n %d is outside 3..%d\n", ns[k], MAX_N), 2;
    if (n_ns == 0) ns[0] = 6, ns[1] = 10, ns[2] = 20, ns[3] = 40, n_ns = 4;
    for (int k = 0; k < n_pops; k++)
        if (strcmp(pops[k], "normal") && strcmp(pops[k], "exp") && strcmp(pops[k], "lognormal"))
            return fprintf(stderr, "bench_bca_size: unknown population %s (normal, exp, lognormal)\n", pops[k]), 2;
    if (values && read_values(values) != 0) return 1;
    if (values) pops[0] = "values", n_pops = 1;
    else if (n_pops == 0) pops[0] = "normal", pops[1] = "exp", pops[2] = "lognormal", n_pops = 3;
    printf("# one-sided tests at alpha 0.05 against the population's mean; %d samples (Monte Carlo SE %.4f at "
           "0.05), %d resamples%s%s\n",
           S, sqrt(0.05 * 0.95 / S), B, values ? "; population: the values of " : "", values ? values : "");
    printf("%-12s %4s %8s %8s %8s   %8s %8s %8s\n", "population", "n", "BCa >", "BCa <", "BCa 95%", "t >", "t <",
           "t 95%");
    for (int k = 0; k < n_pops; k++)
        for (int j = 0; j < n_ns; j++) run(pops[k], ns[j], S, B);
    free(g_values);
    return 0;
}
