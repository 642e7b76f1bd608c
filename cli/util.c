/* Small helpers shared by the verbs: error lines, strict number parsing, layer lists. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common/error.h"

int cli_fail(const char *verb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "latentwire %s: ", verb);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_fail_lib(const char *verb) { return cli_fail(verb, "%s", lw_last_error()); }

bool cli_parse_int(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool cli_parse_float(const char *s, double *out) {
    if (!s || !*s) return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* Layer -1 stands for the embed site ("embed"); "all" is every block output. Negative
 * numbers count from the end (-1 = last block), as in Python. */
int cli_parse_layers(const char *spec, int n_layer, int **out) {
    *out = NULL;
    if (!spec || !*spec) {
        return lw_fail("empty layer list");
    }
    int *v = malloc(sizeof(int) * (size_t)(n_layer + 2));
    int n = 0;
    char *copy = strdup(spec), *save = NULL;
    bool seen[1 + 4096] = {false};
    if (n_layer > 4096) n_layer = 4096;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long l;
        if (!strcmp(tok, "all")) {
            for (int i = 0; i < n_layer; i++)
                if (!seen[i + 1]) seen[i + 1] = true, v[n++] = i;
            continue;
        }
        if (!strcmp(tok, "embed")) {
            l = -1;
        } else if (!strcmp(tok, "last")) {
            l = n_layer - 1;
        } else if (cli_parse_int(tok, -n_layer, n_layer - 1, &l)) {
            if (l < 0) l += n_layer;
        } else {
            lw_fail("layer \"%s\" is out of range: the model has layers 0..%d (also: all, last, embed)", tok, n_layer - 1);
            free(copy);
            free(v);
            return -1;
        }
        if (!seen[l + 1]) seen[l + 1] = true, v[n++] = (int)l;
    }
    free(copy);
    qsort(v, (size_t)n, sizeof(int), cmp_int);
    *out = v;
    return n;
}

bool cli_is_tty(void) { return isatty(STDERR_FILENO) == 1; }

/* One allocation: the pointer array (NULL-terminated), then a copy of the text the items
 * point into, so the caller frees it with one free(). */
int cli_split_list(const char *option, const char *spec, char ***items) {
    *items = NULL;
    if (!spec || !*spec) return lw_fail("%s is empty: give a comma-separated list", option);
    int n = 1;
    for (const char *s = spec; *s; s++) n += *s == ',';
    size_t len = strlen(spec) + 1;
    char **v = malloc(sizeof(char *) * (size_t)(n + 1) + len);
    if (!v) return lw_fail("out of memory");
    char *copy = (char *)(v + n + 1);
    memcpy(copy, spec, len);
    int k = 0;
    for (char *t = copy;; t++) {
        char *end = strchr(t, ',');
        if (end) *end = '\0';
        v[k] = t;
        if (!*t) {
            free(v);
            return lw_fail("%s \"%s\": item %d is empty", option, spec, k + 1);
        }
        for (int j = 0; j < k; j++)
            if (!strcmp(v[j], t)) {
                lw_fail("%s \"%s\": \"%s\" is listed twice", option, spec, t);
                free(v);
                return -1;
            }
        k++;
        if (!end) break;
        t = end;
    }
    v[k] = NULL;
    *items = v;
    return k;
}
