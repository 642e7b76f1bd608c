/* A hook from its spec on a model (lw_hook_from_spec, latentwire/hookspec.h): apart from
 * hookspec.c, which parses without a model (and is fuzzed alone). */
#include <stdlib.h>

#include "common/error.h"
#include "latentwire/hookspec.h"

int lw_hook_from_spec(const lw_model *m, const char *spec, lw_hook *h) {
    if (!h) return lw_fail("lw_hook_from_spec: out is NULL");
    *h = lw_hook_default();
    if (!m || !spec) return lw_fail("lw_hook_from_spec: %s is NULL", !m ? "the model" : "the spec");
    lw_model_info mi;
    lw_model_get_info(m, &mi);
    lw_hook_spec hs;
    lw_site_ref site;
    int width = -1, nv = 0;
    float *vec = NULL;
    /* a field's message does not name the spec (the caller may have several): this one does */
    if (lw_hook_spec_parse(spec, &hs) != 0 || lw_site_parse(hs.site, mi.n_layer, &site) != 0 ||
        (width = lw_site_width(m, site.site)) < 0) {
        lw_hook_spec_free(&hs);
        return lw_fail_prefix("--hook \"%s\": ", spec);
    }
    if (!(vec = lw_hook_vectors_load(hs.vectors, hs.tensor, width, &nv))) {
        lw_hook_spec_free(&hs);
        return -1; /* the message names the file */
    }
    h->site = site.site;
    h->layer = site.layer < 0 ? 0 : site.layer;
    h->op = hs.op;
    h->pos_mode = hs.pos_mode;
    h->positions = hs.positions; /* the hook owns them from here */
    h->n_positions = hs.n_positions;
    hs.positions = NULL;
    h->vectors = vec;
    h->n_vectors = nv;
    h->scale = hs.scale;
    lw_hook_spec_free(&hs);
    return 0;
}

void lw_hook_from_spec_free(lw_hook *h) {
    if (!h) return;
    free((void *)h->positions);
    free((void *)h->vectors);
    h->positions = NULL, h->vectors = NULL;
    h->n_positions = h->n_vectors = 0;
}
