/* Internal: JSON results written the project's way (indented, newline, crash-safe). */
#ifndef LW_COMMON_JSONIO_H
#define LW_COMMON_JSONIO_H

#include <jansson.h>

/* Writes root to path through a temp file + rename. 0 or -1 (error set). */
int lw_json_save(const char *path, const json_t *root);

#endif
