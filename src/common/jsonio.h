/* Internal: JSON results written the project's way (indented, newline, crash-safe). */
#ifndef LW_COMMON_JSONIO_H
#define LW_COMMON_JSONIO_H

#include <jansson.h>

/* Writes root to path through a temp file + rename. 0 or -1 (error set). */
int lw_json_save(const char *path, const json_t *root);

/* jansson's parse error as a user reads it: its messages name jansson's own flags
 * ("\\u0000 is not allowed without JSON_ALLOW_NUL"); those are said in plain words. */
const char *lw_json_error_text(const json_error_t *err);

#endif
