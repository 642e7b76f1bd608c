/* Generated text as a JSON string (lw_json_text in latentwire/json.h). */
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
