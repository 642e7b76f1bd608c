/* Generated text as a JSON string (lw_json_text in latentwire/json.h). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "latentwire/json.h"
#include "latentwire/runtime.h"

json_t *lw_json_text(const char *s) {
    size_t n = s ? strlen(s) : 0;
    char *clean = malloc(3 * n + 1);
    if (!clean) return NULL;
    lw_utf8_sanitize(s ? s : "", n, clean);
    json_t *j = json_string(clean);
    free(clean);
    return j;
}

void lw_json_settings_gpu_layers(json_t *settings, const lw_model *const *models, int n) {
    if (!settings || !models) return; /* void: nothing to report to */
    json_t *a = json_array();
    bool any = false;
    for (int i = 0; i < n; i++) {
        lw_model_info info = {0};
        if (models[i]) lw_model_get_info(models[i], &info); /* a NULL model counts as CPU-only */
        any |= info.n_gpu_layers != 0;
        json_array_append_new(a, json_integer(info.n_gpu_layers));
    }
    if (any) {
        json_object_set_new(settings, "--gpu-layers", a);
        /* ggml-cuda's fusion changes what a hook captures (lw_model_load turns it off unless the
         * user set it), so a resumed run must have it as the records were made */
        const char *fusion = getenv("GGML_CUDA_DISABLE_FUSION");
        json_object_set_new(settings, "GGML_CUDA_DISABLE_FUSION", json_string(fusion ? fusion : "unset"));
    } else {
        json_decref(a);
    }
}
