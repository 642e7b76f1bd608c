/* Layer lists ("0,3,-1", "all", "last", "embed") into sorted block indices (latentwire/runtime.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "latentwire/runtime.h"
#include "latentwire/textio.h"

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* Layer -1 stands for the embed site ("embed"); "all" is every block output. Negative
 * numbers count from the end (-1 = last block), as in Python. A layer named twice
 * ("3,-1" in a 4-layer model, or "all,2") is an error, like any repeated list item. */
int lw_layer_list_parse(const char *spec, int n_layer, int **out) {
    if (!out) return lw_fail("lw_layer_list_parse: no output pointer");
    *out = NULL;
    /* the model's block count, from lw_model_get_info: at least one, and no model has a million */
    if (n_layer < 1 || n_layer > 1000000)
        return lw_fail("lw_layer_list_parse: a model of %d layers (expected 1 to 1000000)", n_layer);
    char **item;
    int n_items = lw_list_split("layer list", spec, &item);
    if (n_items < 0) return -1;
    int *v = malloc(sizeof(int) * (size_t)(n_layer + 2));
    const char **named_by = calloc((size_t)n_layer + 1, sizeof(char *)); /* which item named layer l (l + 1) */
    int n = 0;
    if (!v || !named_by) {
        lw_fail("layer list: out of memory");
        goto fail;
    }
    for (int k = 0; k < n_items; k++) {
        const char *tok = item[k];
        long first, last;
        if (!strcmp(tok, "all")) first = 0, last = n_layer - 1;
        else if (!strcmp(tok, "embed")) first = last = -1;
        else if (!strcmp(tok, "last")) first = last = n_layer - 1;
        else {
            char *end;
            errno = 0;
            long l = strtol(tok, &end, 10);
            if (end == tok || *end) {
                lw_fail("layer \"%s\" is not a layer number or name (use 0..%d, negative from the end, all, last, "
                        "embed)", tok, n_layer - 1);
                goto fail;
            }
            if (errno || lw_layer_index(l, n_layer) < 0) {
                lw_fail("layer \"%s\" is out of range: the model has layers 0..%d (negative counts from the end)", tok,
                        n_layer - 1);
                goto fail;
            }
            first = last = lw_layer_index(l, n_layer);
        }
        for (long l = first; l <= last; l++) {
            if (named_by[l + 1]) {
                lw_fail("layer list \"%s\": layer %ld is named twice (by \"%s\" and \"%s\")", spec, l, named_by[l + 1],
                        tok);
                goto fail;
            }
            named_by[l + 1] = tok;
            v[n++] = (int)l;
        }
    }
    free(named_by);
    free(item);
    qsort(v, (size_t)n, sizeof(int), cmp_int);
    *out = v;
    return n;
fail:
    free(named_by);
    free(item);
    free(v);
    return -1;
}
