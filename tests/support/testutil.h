/* Shared test helpers: where the real models are, scratch files, running the CLI. */
#ifndef LW_TESTUTIL_H
#define LW_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Directory of ../shared (LW_SHARED_DIR, else the build's default), or NULL when it is
 * absent; prints one loud "SKIP (no ../shared): <what>" line to stderr in that case. */
const char *lw_test_shared_dir(const char *what);

/* Path of a file under ../shared (static buffer per call slot, 8 slots), or NULL + loud skip
 * message if missing. Example: lw_test_shared_path("models/stories260K.gguf"). */
const char *lw_test_shared_path(const char *rel);

/* The toy model at rel in ../shared (e.g. "models/stories260K.gguf") loaded with default params,
 * its path copied into path[n]; NULL when ../shared lacks it (reported as a skip by
 * lw_test_shared_path) or it does not load. Free with lw_model_free. */
struct lw_model;
struct lw_model *lw_test_load_shared_model(const char *rel, char *path, size_t n);
/* The tokens of text with BOS, as a receiver reads a prompt without a chat template; -1 on error. */
int lw_test_count_tokens(const struct lw_model *m, const char *text);

/* Exit status ctest reads as "skipped" (SKIP_RETURN_CODE): a test that cannot run says so. */
#define LW_TEST_SKIP 77

/* A test's exit status from cmocka's failure count: the failures, else LW_TEST_SKIP when any
 * case skipped for want of ../shared or a fetched model (the lookups below record that), else 0.
 * Every test main ends with `return lw_test_exit(cmocka_run_group_tests(...));`. */
int lw_test_exit(int failures);

/* Path of a real model fetched by scripts/fetch-models.sh:
 * ${LW_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/latentwire}/models/NAME.gguf (static buffer,
 * 4 slots), or NULL after printing "SKIP: NAME not in DIR; run scripts/fetch-models.sh". */
const char *lw_test_real_model(const char *name);
/* An optional model (make models-optional): NULL when absent, without marking the test skipped. */
const char *lw_test_optional_model(const char *name);

/* A fresh scratch directory for this test process (under LW_TMPDIR or /tmp); created once. */
const char *lw_test_tmpdir(void);

/* Path "<tmpdir>/<name>" in a static buffer (8 rotating slots). */
const char *lw_test_tmpfile(const char *name);

/* Runs the latentwire CLI (LW_CLI) with a shell command line of arguments; captures
 * stdout and stderr (malloc'd, caller frees; either out-pointer may be NULL) and returns
 * the exit status (or -1 if it did not exit normally). */
int lw_test_run_cli(const char *args, char **out, char **err);

/* Relative error of a against a reference b, per coordinate: max_i |a_i-b_i| / max(|b_i|, m, floor)
 * with m the median |b| (never divided by the tensor's maximum, which massive activations inflate). */
double lw_test_max_rel_err(const float *a, const float *b, size_t n, double floor);
/* Worst row's relative L2 error: max_r ||a_r - b_r||_2 / max(||b_r||_2, floor) over rows of width w.
 * Each row (one position's vector, one logit row) is measured on its own scale, so a row with
 * massive activations (a BOS row) sets no scale for the others. */
double lw_test_max_row_rel_err(const float *a, const float *b, size_t rows, size_t w, double floor);
double lw_test_max_abs_diff(const float *a, const float *b, size_t n);

bool lw_test_file_exists(const char *path);

/* A fresh directory "<tmpdir>/<name>" (created; aborts the test process on failure). */
const char *lw_test_fresh_dir(const char *name);
/* "<dir>/<file>" in a static buffer (4 rotating slots). */
char *lw_test_join(const char *dir, const char *file);
/* Entries of dir other than . and .. (left-behind temporary files show up here); -1 if unreadable. */
int lw_test_dir_entries(const char *dir);

/* Writes text to path (replacing it); aborts the test process when the file cannot be written. */
void lw_test_write_text(const char *path, const char *text);
/* The whole file as a malloc'd NUL-terminated string, or NULL when it cannot be read. */
char *lw_test_read_file(const char *path);
/* Newlines in s (the lines of a complete output). */
int lw_test_count_lines(const char *s);
/* Occurrences of what in s (overlapping ones counted). */
int lw_test_count_substr(const char *s, const char *what);

/* Runs the CLI with args (lw_test_run_cli) expecting a refusal: exit status want_rc (any
 * non-zero status for -1) and exactly one stderr line that contains needle. NULL when so,
 * otherwise a malloc'd description of what happened instead, for fail_msg:
 *   char *why = lw_test_cli_refusal(args, -1, "width"); if (why) fail_msg("%s", why); */
char *lw_test_cli_refusal(const char *args, int want_rc, const char *needle);

/* The command line base with extra's words: an option base already has takes extra's value (the CLI
 * refuses an option given twice), anything else (an option extra itself repeats too) is appended. Words are split at spaces. A static
 * buffer, overwritten by the next call. */
const char *lw_test_args_with(const char *base, const char *extra);

/* ---- BCa written out, the tests' own reference (Efron & Tibshirani 1993, ch. 14) ---- */
/* qsort's order of doubles, ascending. */
int lw_test_cmp_double(const void *a, const void *b);
/* Quantile q of sorted s[0..n), linear between order statistics. */
double lw_test_quantile_sorted(const double *s, int n, double q);
/* The BCa interval at `level` from the sorted resampled statistics sorted[0..B), the full-sample
 * estimate (z0 from the share below it, ties half) and the n leave-one-out values jack[]
 * (a = sum(d^3) / (6 sum(d^2)^1.5), d = mean(jack) - jack[i]); the normal quantile by bisection on
 * erfc, independent of the library's approximation, expanded as below. */
void lw_test_bca_naive(const double *sorted, int B, double estimate, const double *jack, int n, double level,
                       double *lo, double *hi);
/* Hesterberg's expanded nominal quantile over n units: sqrt(n / (n - 1)) t_{n-1}^-1(q) (the normal
 * quantile when n < 2), the t distribution from its closed forms (Abramowitz & Stegun 26.7.3-4)
 * and bisection. lw_test_bca_naive's ends use it with n the jackknife's count. */
double lw_test_expanded_z(double q, int n);
/* Student's t quantile for any df > 0 (not only integers), by bisection on the CDF integrated
 * numerically (Simpson's rule in u = atan(t / sqrt(df))): slow, for a few calls. */
double lw_test_t_quantile(double q, double df);
/* One end of that interval: the BCa quantile at the nominal one-sided level q (q < 0.5: a lower
 * end, q > 0.5: an upper one); lw_test_bca_naive's ends are q = (1 - level) / 2 and its complement. */
double lw_test_bca_end(const double *sorted, int B, double estimate, const double *jack, int n, double q);

#endif
