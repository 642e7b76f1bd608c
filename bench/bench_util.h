/* Pieces the benchmarks share: a monotonic clock, the median of repetitions, and the
 * benchmark text (PTB lines joined until it tokenizes to at least N tokens). Header-only: each
 * bench_*.c is its own executable (bench/CMakeLists.txt). */
#ifndef LW_BENCH_UTIL_H
#define LW_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "latentwire/runtime.h"

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v in place. */
static inline double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The default text file: $LW_SHARED_DIR/data/ptb/ptb.test.txt, else ../shared's. */
static inline const char *bench_default_text(char *buf, size_t size) {
    const char *sh = getenv("LW_SHARED_DIR");
    snprintf(buf, size, "%s/data/ptb/ptb.test.txt", sh ? sh : "../shared");
    return buf;
}

/* Lines of the file joined by spaces until the text tokenizes (no BOS) to at least want tokens
 * (malloc'd; NULL when the file cannot be read). *tok / *n: that text's tokens (all of them). */
static inline char *bench_read_text(const char *path, const lw_model *m, int want, int32_t **tok, int *n) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *text = calloc(cap, 1), line[8192];
    *tok = NULL;
    *n = 0;
    while (text && fgets(line, sizeof line, f)) {
        char *b = line, *e = line + strlen(line);
        while (*b == ' ') b++;
        while (e > b && (e[-1] == '\n' || e[-1] == ' ')) e--;
        *e = '\0';
        if (!*b || len + strlen(b) + 2 >= cap) continue;
        len += (size_t)sprintf(text + len, "%s%s", len ? " " : "", b);
        free(*tok);
        *tok = NULL;
        *n = lw_tokenize_alloc(m, text, false, tok);
        if (*n >= want) break;
    }
    fclose(f);
    return text;
}

#endif
