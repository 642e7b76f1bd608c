/* Internal: JSON results written the project's way (indented, newline, crash-safe). The
 * functions are public: latentwire/json.h. */
#ifndef LW_COMMON_JSONIO_H
#define LW_COMMON_JSONIO_H

#include "latentwire/json.h"

/* A caller's settings_json for a results file: NULL (none) or the text of a JSON object. Anything
 * else is refused (-1, message naming fn): a save that parsed it and wrote {} in its place lost the
 * caller's settings without a word. 0 or -1. */
int lw_check_settings_object(const char *fn, const char *settings_json);

/* The JSON text of the string s ("\"...\"", escaped), malloc'd, for a set_meta call; NULL when s is
 * NULL or not UTF-8 (jansson refuses it: such a value is not recorded) or memory runs out. */
char *lw_json_quoted(const char *s);

#endif
