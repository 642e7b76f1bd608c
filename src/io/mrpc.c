/* The MRPC reader (src/io/mrpc.h): line splitting and field checks in one place. */
#include "io/mrpc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"

#define MRPC_N_FIELDS 5
static const char *const FIELD_NAME[MRPC_N_FIELDS] = {"Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"};
#define MRPC_LAYOUT "an MRPC line is Quality, #1 ID, #2 ID, #1 String, #2 String separated by tabs"

/* One error wording for every departure: the file, the line, the field (1-based) and its name. */
#define mrpc_fail(path, line_no, k, what, ...)                                                                 \
    lw_fail("%s:%ld: field %d (%s) " what " (" MRPC_LAYOUT ")", path, line_no, (k) + 1,                       \
            (k) < MRPC_N_FIELDS ? FIELD_NAME[k] : "extra", __VA_ARGS__)

/* An ID: decimal digits, a leading '-' allowed (the train file's last four pairs, added to the
 * original release, have ID -1). */
static bool is_integer(const char *s) {
    if (*s == '-') s++;
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

/* The field (0-based) that byte pos of line falls in: the tabs before it. */
static int field_at(const char *line, size_t pos) {
    int k = 0;
    for (size_t i = 0; i < pos; i++) k += line[i] == '\t';
    return k;
}

/* Splits line (its ending already removed, len bytes) at tabs into f[]: exactly 5 fields, no
 * NUL byte or carriage return inside. */
static int split_fields(const char *path, long line_no, char *line, size_t len, char *f[MRPC_N_FIELDS]) {
    const char *nul = memchr(line, '\0', len), *cr = memchr(line, '\r', len);
    if (nul) return mrpc_fail(path, line_no, field_at(line, (size_t)(nul - line)), "%s", "holds a NUL byte");
    if (cr)
        return mrpc_fail(path, line_no, field_at(line, (size_t)(cr - line)), "%s",
                         "holds a carriage return inside the line (lines end in \\n or \\r\\n)");
    if (len == 0) return mrpc_fail(path, line_no, 0, "%s", "is missing: the line is blank");
    int nf = 0;
    for (char *p = line;;) {
        if (nf == MRPC_N_FIELDS) return mrpc_fail(path, line_no, nf, "%s", "is one more than the 5 of MRPC");
        f[nf++] = p;
        char *tab = strchr(p, '\t');
        if (!tab) break;
        *tab = '\0';
        p = tab + 1;
    }
    if (nf < MRPC_N_FIELDS)
        return mrpc_fail(path, line_no, nf, "is missing (the line has %d field%s)", nf, nf == 1 ? "" : "s");
    return 0;
}

/* The header line, or the error naming the first field that is not the header's. */
static int check_header(const char *path, char *f[MRPC_N_FIELDS]) {
    for (int k = 0; k < MRPC_N_FIELDS; k++)
        if (strcmp(f[k], FIELD_NAME[k]) != 0)
            return mrpc_fail(path, 1L, k, "is \"%.40s\" where the header line has \"%s\": the header line is missing",
                             f[k], FIELD_NAME[k]);
    return 0;
}

static int check_pair(const char *path, long line_no, char *f[MRPC_N_FIELDS], lw_mrpc_pair *p) {
    if (strcmp(f[0], "0") != 0 && strcmp(f[0], "1") != 0) return mrpc_fail(path, line_no, 0, "is \"%.40s\", not 0 or 1", f[0]);
    for (int k = 1; k <= 2; k++)
        if (!is_integer(f[k])) return mrpc_fail(path, line_no, k, "is \"%.40s\", not an integer", f[k]);
    for (int k = 3; k <= 4; k++)
        if (!*f[k]) return mrpc_fail(path, line_no, k, "%s", "is empty");
    *p = (lw_mrpc_pair){.quality = f[0][0] - '0', .id1 = f[1], .id2 = f[2], .s1 = f[3], .s2 = f[4], .line_no = line_no};
    return 0;
}

typedef struct {
    const char *path;
    lw_mrpc_fn fn;
    void *ud;
    long n_pairs;
} mrpc_reader;

static int mrpc_line(void *ud, char *line, size_t len, int64_t line_no) {
    mrpc_reader *r = ud;
    char *f[MRPC_N_FIELDS];
    lw_mrpc_pair pair;
    if (split_fields(r->path, (long)line_no, line, len, f) != 0) return -1;
    if (line_no == 1) return check_header(r->path, f);
    if (check_pair(r->path, (long)line_no, f, &pair) != 0) return -1;
    r->n_pairs++;
    return r->fn(&pair, r->ud) != 0 ? -1 : 0;
}

int lw_mrpc_each(const char *path, lw_mrpc_fn fn, void *ud) {
    mrpc_reader r = {.path = path, .fn = fn, .ud = ud};
    int64_t n_lines = 0;
    if (lw_each_line(path, mrpc_line, &r, &n_lines) != 0) return -1;
    if (n_lines == 0) return mrpc_fail(path, 1L, 0, "%s", "is missing: the file is empty, the header line is missing");
    if (r.n_pairs == 0) return lw_fail("%s: no pairs after the header line (" MRPC_LAYOUT ")", path);
    return 0;
}
