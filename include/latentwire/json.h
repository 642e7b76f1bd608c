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

/* jansson's parse error as a user reads it: its messages name jansson's own flags
 * ("\\u0000 is not allowed without JSON_ALLOW_NUL"); those are said in plain words. */
const char *lw_json_error_text(const json_error_t *err);

/* A confidence interval as the JSON object every report uses: {"mean", "lo", "hi", "n",
 * "method"} (new reference; "method" only when ci->method is set). */
json_t *lw_ci_json(const lw_ci *ci);

#ifdef __cplusplus
}
#endif
#endif
