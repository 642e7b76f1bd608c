/* libFuzzer entry point for the hook spec parser (src/runtime/hookspec.c):
 * SITE:OP:POSITIONS:VECTORS[:SCALE] as `generate --hook` takes it. Any input must either
 * parse into a consistent lw_hook_spec or be refused with one error line, never crash; a
 * parsed spec written back in canonical form must parse to the same spec. Build with clang
 * -fsanitize=fuzzer,address,undefined. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latentwire/error.h"
#include "latentwire/hookspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *op_name(lw_op op) {
    return op == LW_OP_REPLACE ? "replace" : op == LW_OP_ADD ? "add" : op == LW_OP_MEAN ? "mean" : NULL;
}

/* Every field a parsed spec hands out is what the grammar allows. */
static void check(const lw_hook_spec *s) {
    if (!s->site || !*s->site || strchr(s->site, ':')) abort();
    if (!op_name(s->op)) abort();
    if (!s->vectors || !*s->vectors || strchr(s->vectors, ':')) abort();
    if (s->tensor && strchr(s->tensor, ':')) abort();
    if (!isfinite(s->scale)) abort();
    if (s->pos_mode == LW_POS_LIST) {
        if (s->n_positions < 1 || !s->positions) abort();
        for (int i = 0; i < s->n_positions; i++) {
            if (s->positions[i] < 0 || s->positions[i] > (1 << 30)) abort();
            for (int k = 0; k < i; k++)
                if (s->positions[k] == s->positions[i]) abort(); /* an item listed twice is refused */
        }
    } else if (s->pos_mode != LW_POS_ALL && s->pos_mode != LW_POS_LAST) {
        abort();
    } else if (s->positions || s->n_positions) {
        abort();
    }
}

/* The canonical text of a parsed spec: its fields as parsed, positions as plain integers,
 * the scale written back exactly for add (%.9g round-trips a float; replace and mean take none). */
static char *canonical(const lw_hook_spec *s) {
    size_t n = strlen(s->site) + strlen(s->vectors) + (s->tensor ? strlen(s->tensor) : 0) + 64 +
               (size_t)s->n_positions * 12;
    char *out = malloc(n);
    if (!out) abort();
    int w = snprintf(out, n, "%s:%s:", s->site, op_name(s->op));
    if (s->pos_mode == LW_POS_ALL) w += snprintf(out + w, n - (size_t)w, "all");
    else if (s->pos_mode == LW_POS_LAST) w += snprintf(out + w, n - (size_t)w, "last");
    else
        for (int i = 0; i < s->n_positions; i++) w += snprintf(out + w, n - (size_t)w, "%s%d", i ? "," : "", s->positions[i]);
    w += snprintf(out + w, n - (size_t)w, ":%s%s%s", s->vectors, s->tensor ? "#" : "", s->tensor ? s->tensor : "");
    if (s->op == LW_OP_ADD) snprintf(out + w, n - (size_t)w, ":%.9g", (double)s->scale); /* SCALE is add's alone */
    return out;
}

static void same(const lw_hook_spec *a, const lw_hook_spec *b) {
    if (strcmp(a->site, b->site) || a->op != b->op || a->pos_mode != b->pos_mode || a->n_positions != b->n_positions ||
        strcmp(a->vectors, b->vectors) || (!a->tensor != !b->tensor) || (a->tensor && strcmp(a->tensor, b->tensor)) ||
        a->scale != b->scale)
        abort();
    for (int i = 0; i < a->n_positions; i++)
        if (a->positions[i] != b->positions[i]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *spec = malloc(size + 1);
    if (!spec) return 0;
    memcpy(spec, data, size);
    spec[size] = '\0';
    lw_hook_spec s;
    if (lw_hook_spec_parse(spec, &s) == 0) {
        check(&s);
        char *text = canonical(&s);
        lw_hook_spec again;
        if (lw_hook_spec_parse(text, &again) != 0) abort();
        same(&s, &again);
        lw_hook_spec_free(&again);
        free(text);
    } else {
        const char *e = lw_last_error();
        if (!*e || strchr(e, '\n')) abort(); /* one line, never empty */
    }
    lw_hook_spec_free(&s);
    free(spec);
    return 0;
}
