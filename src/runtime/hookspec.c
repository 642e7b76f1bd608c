/* The hook spec SITE:OP:POSITIONS:VECTORS[:SCALE] and the vectors file it names
 * (latentwire/hookspec.h). Needs no model, so it is fuzzed on its own (tests/fuzz/fuzz_hook_spec.c). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/strlist.h"
#include "latentwire/hookspec.h"
#include "latentwire/safetensors.h"

enum { MAX_FIELDS = 6, MAX_POSITION = 1 << 30 };

static bool only_spaces(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    return *s == '\0';
}

void lw_hook_spec_free(lw_hook_spec *spec) {
    if (!spec) return;
    free(spec->site);
    free(spec->positions);
    free(spec->vectors);
    free(spec->tensor);
    memset(spec, 0, sizeof *spec);
}

/* A position: a whole integer in [0, MAX_POSITION], spaces around it allowed. */
static bool parse_position(const char *s, int32_t *out) {
    if (only_spaces(s)) return false;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || !only_spaces(end) || errno || v < 0 || v > MAX_POSITION) return false;
    *out = (int32_t)v;
    return true;
}

static int parse_positions(const char *field, lw_hook_spec *out) {
    if (!strcmp(field, "all")) out->pos_mode = LW_POS_ALL;
    else if (!strcmp(field, "last")) out->pos_mode = LW_POS_LAST;
    if (out->pos_mode != LW_POS_LIST) return 0;
    char **item;
    int np = lw_list_split("positions", field, &item);
    if (np < 0) return -1;
    out->positions = malloc(sizeof(int32_t) * (size_t)np);
    int rc = out->positions ? 0 : lw_fail("out of memory");
    for (int k = 0; rc == 0 && k < np; k++) {
        if (!parse_position(item[k], &out->positions[k])) {
            rc = lw_fail("position \"%s\" is not a non-negative integer", item[k]);
            break;
        }
        /* the list refuses an item written twice; this, one position written two ways ("0,-0", "3,03") */
        for (int i = 0; i < k && rc == 0; i++)
            if (out->positions[i] == out->positions[k])
                rc = lw_fail("positions \"%s\": \"%s\" and \"%s\" are both position %d", field, item[i], item[k],
                             (int)out->positions[k]);
    }
    free(item);
    out->n_positions = rc == 0 ? np : 0;
    return rc;
}

/* VECTORS: FILE, or FILE.safetensors#NAME (the last '#', when ".safetensors#" occurs). */
static int parse_vectors(const char *field, lw_hook_spec *out) {
    if (!(out->vectors = strdup(field))) return lw_fail("out of memory");
    char *hash = strrchr(out->vectors, '#');
    if (hash && strstr(out->vectors, ".safetensors#")) {
        *hash = '\0';
        if (!(out->tensor = strdup(hash + 1))) return lw_fail("out of memory");
    }
    return 0;
}

static int parse_scale(const char *field, float *scale) {
    errno = 0;
    char *end;
    double v = strtod(field, &end);
    if (only_spaces(field) || end == field || !only_spaces(end) || errno || !isfinite(v) || !isfinite((float)v))
        return lw_fail("scale \"%s\" is not a number", field);
    *scale = (float)v;
    return 0;
}

int lw_hook_spec_parse(const char *spec, lw_hook_spec *out) {
    if (!out) return lw_fail("lw_hook_spec_parse: out is NULL");
    memset(out, 0, sizeof *out);
    out->scale = 1.0f;
    out->pos_mode = LW_POS_LIST;
    if (!spec) return lw_fail("no hook spec given");
    char *buf = strdup(spec);
    if (!buf) return lw_fail("out of memory");
    char *field[MAX_FIELDS] = {0};
    int nf = 0;
    /* fields are separated by ":", so a vectors path cannot contain one (documented); every
     * field is counted, so an empty or a sixth field is an error, not silently dropped */
    for (char *t = buf; t && nf < MAX_FIELDS; nf++) {
        field[nf] = t;
        t = strchr(t, ':');
        if (t) *t++ = '\0';
    }
    bool empty = false;
    for (int k = 0; k < nf; k++) empty |= !*field[k];
    int rc = 0;
    if (nf < 4 || nf > 5 || empty)
        rc = lw_fail("expected SITE:OP:POSITIONS:VECTORS[:SCALE], got %s%d field%s (a vectors path cannot contain ':')",
                     empty ? "an empty field among " : "", nf, nf == 1 ? "" : "s");
    if (rc == 0 && !(out->site = strdup(field[0]))) rc = lw_fail("out of memory");
    if (rc == 0) {
        if (!strcmp(field[1], "replace")) out->op = LW_OP_REPLACE;
        else if (!strcmp(field[1], "add")) out->op = LW_OP_ADD;
        else if (!strcmp(field[1], "mean")) out->op = LW_OP_MEAN;
        else rc = lw_fail("op \"%s\" must be replace, add or mean", field[1]);
    }
    if (rc == 0) rc = parse_positions(field[2], out);
    if (rc == 0) rc = parse_vectors(field[3], out);
    if (rc == 0 && nf == 5) rc = parse_scale(field[4], &out->scale);
    if (rc == 0 && nf == 5 && out->op != LW_OP_ADD) /* replace and mean write the vectors as they are */
        rc = lw_fail("SCALE \"%s\" applies to add only: %s writes the vectors as they are (leave SCALE out, or "
                     "scale the vectors)",
                     field[4], field[1]);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ vectors ---- */

static float *vectors_from_safetensors(const char *path, const char *tensor, int width, int *n_vectors) {
    lw_st_file *f = lw_st_open(path);
    if (!f) return NULL;
    const lw_st_tensor *t = tensor ? lw_st_find(f, tensor) : (lw_st_count(f) > 0 ? lw_st_get(f, 0) : NULL);
    float *out = NULL;
    if (!t)
        lw_fail("%s: no tensor %s%s%s", path, tensor ? "\"" : "", tensor ? tensor : "in file", tensor ? "\"" : "");
    else if (t->dtype != LW_DT_F32 || t->n_dims < 1 || t->n_dims > 2 || t->shape[t->n_dims - 1] != width)
        lw_fail("%s: tensor \"%s\" must be F32 [k, %d] or [%d] (the site's width)", path, t->name, width, width);
    else if (t->n_dims == 2 && t->shape[0] == 0)
        lw_fail("%s: tensor \"%s\" has no rows", path, t->name);
    else if (t->n_dims == 2 && t->shape[0] > INT32_MAX)
        lw_fail("%s: tensor \"%s\" has too many rows", path, t->name);
    else if (!(out = malloc(t->n_bytes)))
        lw_fail("out of memory");
    else {
        memcpy(out, t->data, t->n_bytes);
        *n_vectors = t->n_dims == 2 ? (int)t->shape[0] : 1;
    }
    lw_st_close(f);
    return out;
}

static float *vectors_from_text(const char *path, int width, int *n_vectors) {
    size_t n;
    char *text = lw_read_text_file(path, &n, "vector file");
    if (!text) return NULL;
    int cap = 1, rows = 0, line_no = 0; /* grown as lines come: width alone sized 16 rows before any was read */
    float *out = malloc(sizeof(float) * (size_t)cap * (size_t)width);
    int rc = out ? 0 : lw_fail("out of memory");
    char *cursor = text;
    for (char *line; rc == 0 && (line = lw_next_line(&cursor));) {
        line_no++; /* blank lines counted too, so that messages name the file's own line */
        if (strspn(line, " \t\r") == strlen(line)) continue;
        if (rows == cap) {
            float *grown = cap < (1 << 24) ? realloc(out, sizeof(float) * (size_t)cap * 2 * (size_t)width) : NULL;
            if (!grown) {
                rc = lw_fail("%s: out of memory at line %d", path, line_no);
                break;
            }
            out = grown;
            cap *= 2;
        }
        int k = 0;
        char *p = line, *end;
        for (;;) {
            float v = strtof(p, &end);
            if (end == p) break;
            if (!isfinite(v)) { /* "nan", "inf", 1e40: the hook refused them later, far from the file */
                p += strspn(p, " \t");
                rc = lw_fail("%s:%d: value %d is not a finite float (%.*s)", path, line_no, k + 1, (int)(end - p > 40 ? 40 : end - p), p);
                break;
            }
            if (k < width) out[(size_t)rows * width + k] = v;
            k++;
            p = end;
        }
        if (rc != 0) break;
        bool garbage = strspn(p, " \t\r") != strlen(p);
        if (garbage || k != width)
            rc = lw_fail("%s:%d: vector has %d values%s, the site's width is %d", path, line_no, k,
                         garbage ? " and trailing garbage" : "", width);
        else rows++;
    }
    free(text);
    if (rc == 0 && rows == 0) rc = lw_fail("%s: no vectors", path);
    if (rc != 0) {
        free(out);
        return NULL;
    }
    *n_vectors = rows;
    return out;
}

float *lw_hook_vectors_load(const char *path, const char *tensor, int width, int *n_vectors) {
    if (!path || !n_vectors || width < 1) {
        lw_fail("lw_hook_vectors_load: a path, a width >= 1 and n_vectors are required");
        return NULL;
    }
    if (width > (1 << 24)) { /* no site is this wide; a row of it alone is 64 MiB */
        lw_fail("lw_hook_vectors_load: width %d is beyond any site's (at most %d)", width, 1 << 24);
        return NULL;
    }
    size_t len = strlen(path);
    if (len > 12 && !strcmp(path + len - 12, ".safetensors")) {
        float *v = vectors_from_safetensors(path, tensor, width, n_vectors);
        for (int64_t i = 0; v && i < (int64_t)*n_vectors * width; i++)
            if (!isfinite(v[i])) {
                lw_fail("%s: vector %lld, coordinate %lld is not finite (%g)", path, (long long)(i / width),
                        (long long)(i % width), (double)v[i]);
                free(v);
                return NULL;
            }
        return v;
    }
    if (tensor) { /* it would have been ignored */
        lw_fail("%s: a text file of vectors has no tensors: drop the tensor name \"%s\" (it names one in a .safetensors file)",
                path, tensor);
        return NULL;
    }
    return vectors_from_text(path, width, n_vectors);
}
