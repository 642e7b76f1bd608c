/* TEMPORARY STUB (h-race): lets the race link before the patch implementation is merged.
 * THE LEAD DELETES THIS FILE AT MERGE (the scan helper's src/patch/ implements latentwire/patch.h).
 * Every call fails with "patch is not built in this version", which the race's real-model tests
 * read as a skip. */
#include <string.h>

#include "common/error.h"
#include "latentwire/patch.h"

lw_patch_params lw_patch_default_params(void) {
    lw_patch_params p;
    memset(&p, 0, sizeof p);
    p.positions = 1;
    p.scale = 1.0f;
    p.answer_tokens = 8;
    return p;
}

int lw_patch_read(lw_session *sender, const char *text, int layer, const lw_patch_params *p, float *out) {
    (void)sender, (void)text, (void)layer, (void)p, (void)out;
    return lw_fail("patch is not built in this version (race stub)");
}

int lw_patch_answer(lw_session *receiver, const char *prompt, int layer, const float *vecs, int n_vecs,
                    const lw_patch_params *p, char **answer) {
    (void)receiver, (void)prompt, (void)layer, (void)vecs, (void)n_vecs, (void)p;
    *answer = NULL;
    return lw_fail("patch is not built in this version (race stub)");
}
