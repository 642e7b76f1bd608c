/* Internal: JSON results written the project's way (indented, newline, crash-safe). The
 * functions are public: latentwire/json.h. */
#ifndef LW_COMMON_JSONIO_H
#define LW_COMMON_JSONIO_H

#include <stdbool.h>

#include "latentwire/json.h"

/* A caller's settings_json for a results file: NULL (none) or the text of a JSON object. Anything
 * else is refused (-1, message naming fn): a save that parsed it and wrote {} in its place lost the
 * caller's settings without a word. 0 or -1. */
int lw_check_settings_object(const char *fn, const char *settings_json);

/* The JSON text of the string s ("\"...\"", escaped), malloc'd, for a set_meta call; NULL when s is
 * NULL or not UTF-8 (jansson refuses it: such a value is not recorded) or memory runs out. */
char *lw_json_quoted(const char *s);

/* s is text JSON can hold (valid UTF-8: jansson's own test, json_string refuses anything else).
 * A name or path that goes into a record must pass it before the work, not fail the save after. */
bool lw_json_utf8_ok(const char *s);

/* Copies into out (room for 2 * n_pairs) the key/value pairs of kv whose values JSON can hold, for
 * safetensors metadata: a path that is not UTF-8 is left out rather than failing the save after
 * the work. Returns the number of pairs copied. */
int lw_json_utf8_pairs(const char *const *kv, int n_pairs, const char **out);

#endif
