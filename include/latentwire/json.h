/* latentwire: JSON results written the project's way, for programs that use jansson as the
 * library does (the CLI among them). */
#ifndef LATENTWIRE_JSON_H
#define LATENTWIRE_JSON_H

#include <jansson.h>

#include "latentwire/retrieval.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes root to path (indented, a final newline) through a temp file + rename. 0 or -1 (error set). */
int lw_json_save(const char *path, const json_t *root);

/* A JSON string of s as whole UTF-8 characters: generated text can end inside a character
 * (byte-level tokens); bytes that form none become U+FFFD, which a strict decoder accepts. NULL
 * is "". New reference. */
json_t *lw_json_text(const char *s);

typedef struct lw_model lw_model; /* latentwire/runtime.h */

/* Adds "--gpu-layers" to a resumable run's settings fingerprint when any of the n models was
 * loaded with layers offloaded ([n values], one per model): a GPU backend's kernels round
 * differently, so records made on it must not be resumed as a CPU run's, nor the reverse. A
 * CPU-only run adds nothing, so its fingerprint is the one earlier runs recorded. NULL settings or
 * models: nothing is added; a NULL model counts as CPU-only. */
void lw_json_settings_gpu_layers(json_t *settings, const lw_model *const *models, int n);

/* jansson's parse error as a user reads it: its messages name jansson's own flags
 * ("\\u0000 is not allowed without JSON_ALLOW_NUL"); those are said in plain words. */
const char *lw_json_error_text(const json_error_t *err);

/* A confidence interval as the JSON object every report uses: {"mean", "lo", "hi", "n",
 * "method"} (new reference; "method" only when ci->method is set). NULL (error set) for a NULL or
 * non-finite interval. */
json_t *lw_ci_json(const lw_ci *ci);

#ifdef __cplusplus
}
#endif
#endif
