#include "support/testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileio.h"
#include "latentwire/runtime.h"
#include "latentwire/error.h"

/* Set when a case could not run for want of ../shared or a fetched model: the process then
 * exits LW_TEST_SKIP instead of 0, so ctest shows "Skipped", never "Passed". */
static bool skipped;

int lw_test_exit(int failures) {
    if (failures) return failures;
    if (skipped) fprintf(stderr, "some cases could not run (see SKIP lines): reported as skipped\n");
    return skipped ? LW_TEST_SKIP : 0;
}

const char *lw_test_shared_dir(const char *what) {
    static char dir[1024];
    const char *d = getenv("LW_SHARED_DIR");
    if (!d || !*d) d = getenv("LW_SHARED_DIR_DEFAULT");
    struct stat st;
    if (!d || stat(d, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "SKIP (no ../shared): %s\n", what ? what : "real-model test");
        skipped = true;
        return NULL;
    }
    snprintf(dir, sizeof dir, "%s", d);
    return dir;
}

struct lw_model *lw_test_load_shared_model(const char *rel, char *path, size_t n) {
    const char *m = lw_test_shared_path(rel);
    if (!m) return NULL;
    snprintf(path, n, "%s", m);
    return lw_model_load(path, lw_model_default_params());
}

int lw_test_count_tokens(const struct lw_model *m, const char *text) {
    int32_t *ids = NULL;
    int n = lw_tokenize_alloc(m, text, true, &ids);
    free(ids);
    return n;
}

const char *lw_test_shared_path(const char *rel) {
    static char slots[8][1024];
    static int next;
    const char *d = lw_test_shared_dir(rel);
    if (!d) return NULL;
    char *p = slots[next++ % 8];
    snprintf(p, 1024, "%s/%s", d, rel);
    if (!lw_test_file_exists(p)) {
        fprintf(stderr, "SKIP (missing in ../shared): %s\n", rel);
        skipped = true;
        return NULL;
    }
    return p;
}

/* NAME.gguf in the model cache, or NULL (a SKIP line; with `required`, the test is then
 * reported as skipped). */
static const char *cached_model(const char *name, bool required) {
    static char slots[4][1200];
    static int next;
    char dir[1024];
    const char *c = getenv("LW_CACHE_DIR");
    const char *x = getenv("XDG_CACHE_HOME");
    const char *h = getenv("HOME");
    if (c && *c) snprintf(dir, sizeof dir, "%s/models", c);
    else if (x && *x) snprintf(dir, sizeof dir, "%s/latentwire/models", x);
    else snprintf(dir, sizeof dir, "%s/.cache/latentwire/models", h ? h : "");
    char *p = slots[next++ % 4];
    snprintf(p, 1200, "%s/%s.gguf", dir, name);
    if (!lw_test_file_exists(p)) {
        if (required) {
            fprintf(stderr, "SKIP: %s not in %s; run scripts/fetch-models.sh\n", name, dir);
            skipped = true;
        } else {
            fprintf(stderr, "SKIP (its checks only): the optional %s is not in %s; make models-optional\n", name, dir);
        }
        return NULL;
    }
    return p;
}

const char *lw_test_real_model(const char *name) { return cached_model(name, true); }

const char *lw_test_optional_model(const char *name) { return cached_model(name, false); }

const char *lw_test_tmpdir(void) {
    static char dir[1024];
    if (dir[0]) return dir;
    const char *base = getenv("LW_TMPDIR");
    if (!base || !*base) base = "/tmp";
    lw_mkdir_p(base);
    snprintf(dir, sizeof dir, "%s/lwtest.XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
    return dir;
}

const char *lw_test_tmpfile(const char *name) {
    static char slots[8][1200];
    static int next;
    char *p = slots[next++ % 8];
    snprintf(p, 1200, "%s/%s", lw_test_tmpdir(), name);
    return p;
}

static char *slurp(const char *path) {
    size_t len;
    char *s = lw_read_file(path, &len);
    if (!s) s = strdup("");
    return s;
}

int lw_test_run_cli(const char *args, char **out, char **err) {
    const char *cli = getenv("LW_CLI");
    if (!cli) cli = "latentwire";
    char o[1300], e[1300];
    static int n;
    snprintf(o, sizeof o, "%s/cli.%d.out", lw_test_tmpdir(), n);
    snprintf(e, sizeof e, "%s/cli.%d.err", lw_test_tmpdir(), n++);
    size_t len = strlen(cli) + strlen(args) + 2 * sizeof o + 64;
    char *cmd = malloc(len);
    snprintf(cmd, len, "%s %s </dev/null >%s 2>%s", cli, args, o, e);
    int st = system(cmd);
    free(cmd);
    if (out) *out = slurp(o);
    if (err) *err = slurp(e);
    unlink(o);
    unlink(e);
    if (st == -1 || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Per coordinate, never over the tensor's maximum: a model with massive activations (a few
 * coordinates hundreds of times the rest) would otherwise set a scale under which every
 * ordinary coordinate's error vanishes. A coordinate smaller than the tensor's typical size
 * (median |b|) is measured in units of that typical size, so near-zero values do not blow up. */
double lw_test_max_row_rel_err(const float *a, const float *b, size_t rows, size_t w, double floor) {
    double worst = 0;
    for (size_t r = 0; r < rows; r++) {
        double num = 0, den = 0;
        for (size_t i = r * w; i < (r + 1) * w; i++) {
            if (isnan(a[i]) || isnan(b[i])) return INFINITY;
            num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
            den += (double)b[i] * b[i];
        }
        double e = sqrt(num) / fmax(sqrt(den), floor);
        if (e > worst) worst = e;
    }
    return worst;
}

double lw_test_max_rel_err(const float *a, const float *b, size_t n, double floor) {
    if (n == 0) return 0;
    double *mag = malloc(sizeof(double) * n);
    if (!mag) abort();
    for (size_t i = 0; i < n; i++) mag[i] = fabs((double)b[i]);
    qsort(mag, n, sizeof(double), cmp_double);
    double typical = n % 2 ? mag[n / 2] : 0.5 * (mag[n / 2 - 1] + mag[n / 2]);
    free(mag);
    if (typical < floor) typical = floor;
    double mx = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) return INFINITY;
        double scale = fabs((double)b[i]) > typical ? fabs((double)b[i]) : typical;
        double e = fabs((double)a[i] - (double)b[i]) / scale;
        if (e > mx) mx = e;
    }
    return mx;
}

double lw_test_max_abs_diff(const float *a, const float *b, size_t n) {
    double mx = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(a[i]) != isnan(b[i])) return INFINITY;
        if (d > mx) mx = d;
    }
    return mx;
}

bool lw_test_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

const char *lw_test_fresh_dir(const char *name) {
    const char *d = lw_test_tmpfile(name);
    if (lw_mkdir_p(d) != 0) {
        fprintf(stderr, "cannot create %s: %s\n", d, lw_last_error());
        abort();
    }
    return d;
}

char *lw_test_join(const char *dir, const char *file) {
    static char buf[4][1400];
    static int slot;
    char *p = buf[slot++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, file);
    return p;
}

int lw_test_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

void lw_test_write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

char *lw_test_read_file(const char *path) {
    size_t len;
    char *s = lw_read_file(path, &len);
    lw_clear_error();
    return s;
}

int lw_test_count_lines(const char *s) {
    int n = 0;
    for (; s && *s; s++) n += *s == '\n';
    return n;
}

int lw_test_count_substr(const char *s, const char *what) {
    int n = 0;
    for (const char *p = s; p && *what && (p = strstr(p, what)); p++) n++;
    return n;
}

char *lw_test_cli_refusal(const char *args, int want_rc, const char *needle) {
    char *out, *err;
    int rc = lw_test_run_cli(args, &out, &err);
    bool status_ok = want_rc < 0 ? rc != 0 && rc != -1 : rc == want_rc;
    char *why = NULL;
    if (!status_ok || lw_test_count_lines(err) != 1 || !strstr(err, needle)) {
        char want[16] = "non-zero";
        if (want_rc >= 0) snprintf(want, sizeof want, "%d", want_rc);
        size_t n = strlen(args) + strlen(err) + strlen(needle) + 160;
        why = malloc(n);
        if (!why) abort();
        snprintf(why, n, "`latentwire %s`: exit %d (want %s), stderr:\n%s(want one line containing \"%s\")", args, rc,
                 want, err, needle);
    }
    free(out);
    free(err);
    return why;
}

/* Splits s at spaces into at most max words of buf (which it writes into). */
static int split_words(char *buf, char **w, int max) {
    int n = 0;
    for (char *t = strtok(buf, " "); t && n < max; t = strtok(NULL, " ")) w[n++] = t;
    return n;
}

const char *lw_test_args_with(const char *base, const char *extra) {
    static char out[16384];
    char b[8192], e[8192], *bw[512], *ew[512];
    snprintf(b, sizeof b, "%s", base);
    snprintf(e, sizeof e, "%s", extra);
    int nb = split_words(b, bw, 512), ne = split_words(e, ew, 512);
    for (int i = 0; i < ne; i++) {
        int times = 0; /* an option extra gives twice is a repeatable one: every copy is appended */
        for (int k = 0; k < ne; k++) times += !strcmp(ew[k], ew[i]);
        if (times > 1 && !strncmp(ew[i], "--", 2)) {
            if (nb < 512) bw[nb++] = ew[i];
            continue;
        }
        int j = 0;
        while (j < nb && (strncmp(ew[i], "--", 2) != 0 || strcmp(bw[j], ew[i]) != 0)) j++;
        bool takes_value = i + 1 < ne && strncmp(ew[i + 1], "--", 2) != 0;
        if (j < nb && takes_value && j + 1 < nb && strncmp(bw[j + 1], "--", 2) != 0) bw[j + 1] = ew[++i];
        else if (j < nb && !takes_value) continue; /* a flag base already has */
        else if (nb < 512) bw[nb++] = ew[i];
    }
    out[0] = '\0';
    for (int k = 0; k < nb; k++)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", k ? " " : "", bw[k]);
    return out;
}

int lw_test_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double lw_test_quantile_sorted(const double *s, int n, double q) {
    double h = (n - 1) * q;
    int i = (int)floor(h);
    if (i >= n - 1) return s[n - 1];
    if (i < 0) return s[0];
    return s[i] + (h - i) * (s[i + 1] - s[i]);
}

static double phi(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

static double phi_inv(double q) { /* bisection: slow and obviously right */
    double lo = -40, hi = 40;
    for (int i = 0; i < 200; i++) {
        double m = 0.5 * (lo + hi);
        if (phi(m) < q) lo = m;
        else hi = m;
    }
    return 0.5 * (lo + hi);
}

/* Student's t CDF for an integer df, from the closed forms of Abramowitz & Stegun 26.7.3-4 in
 * theta = atan(|t| / sqrt(df)), not the incomplete beta the library uses. */
static double t_cdf_closed(double t, double dfd) {
    const int df = (int)dfd;
    double th = atan(fabs(t) / sqrt(df)), c2 = cos(th) * cos(th), a;
    if (df % 2) { /* (2 / pi) (theta + sin cos (1 + 2/3 cos^2 + 2*4/(3*5) cos^4 ...)) */
        double sum = 0, term = cos(th);
        if (df > 1) sum = term;
        for (int k = 3; k <= df - 2; k += 2) term *= c2 * (k - 1) / k, sum += term;
        a = 2 / M_PI * (th + sin(th) * sum);
    } else { /* sin (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 ...) */
        double sum = 1, term = 1;
        for (int k = 2; k <= df - 2; k += 2) term *= c2 * (k - 1) / k, sum += term;
        a = sin(th) * sum;
    }
    return t >= 0 ? 0.5 + a / 2 : 0.5 - a / 2;
}

/* Student's t CDF for any df > 0: 1/2 + Gamma((df+1)/2) / (sqrt(pi) Gamma(df/2)) times the integral
 * of cos^(df-1) over [0, atan(t / sqrt(df))] (t = sqrt(df) tan u), by Simpson's rule on 4000
 * intervals. */
static double t_cdf_numeric(double t, double df) {
    enum { M = 4000 };
    const double th = atan(fabs(t) / sqrt(df)), h = th / M;
    double sum = 0;
    for (int i = 0; i <= M; i++) sum += (i == 0 || i == M ? 1 : i % 2 ? 4 : 2) * pow(cos(i * h), df - 1);
    const double area = exp(lgamma((df + 1) / 2) - lgamma(df / 2)) / sqrt(M_PI) * sum * h / 3;
    return t >= 0 ? 0.5 + area : 0.5 - area;
}

/* The t with cdf(t, df) = q, by bisection on [-range, range]. */
static double t_quantile_by(double (*cdf)(double, double), double q, double df, double range, int iters) {
    double lo = -range, hi = range;
    for (int i = 0; i < iters; i++) {
        double m = 0.5 * (lo + hi);
        if (cdf(m, df) < q) lo = m;
        else hi = m;
    }
    return 0.5 * (lo + hi);
}

double lw_test_t_quantile(double q, double df) { return t_quantile_by(t_cdf_numeric, q, df, 1e4, 100); }

double lw_test_expanded_z(double q, int n) {
    if (n < 2) return phi_inv(q);
    return sqrt(n / (n - 1.0)) * t_quantile_by(t_cdf_closed, q, n - 1.0, 1e7, 300);
}

double lw_test_bca_end(const double *sorted, int B, double estimate, const double *jack, int n, double q) {
    double below = 0, jbar = 0, num = 0, den = 0;
    for (int b = 0; b < B; b++) below += sorted[b] < estimate ? 1 : sorted[b] == estimate ? 0.5 : 0;
    for (int i = 0; i < n; i++) jbar += jack[i] / n;
    for (int i = 0; i < n; i++) num += pow(jbar - jack[i], 3), den += pow(jbar - jack[i], 2);
    double a = den > 0 ? num / (6 * pow(den, 1.5)) : 0, z0 = phi_inv(below / B),
           w = z0 + lw_test_expanded_z(q, n);
    if (1 - a * w <= 0) return w < 0 ? sorted[0] : sorted[B - 1]; /* past the pole: the limit */
    return lw_test_quantile_sorted(sorted, B, phi(z0 + w / (1 - a * w)));
}

void lw_test_bca_naive(const double *sorted, int B, double estimate, const double *jack, int n, double level,
                       double *lo, double *hi) {
    *lo = lw_test_bca_end(sorted, B, estimate, jack, n, (1 - level) / 2);
    *hi = lw_test_bca_end(sorted, B, estimate, jack, n, 1 - (1 - level) / 2);
}
