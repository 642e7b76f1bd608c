#include "common/strlist.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* The item s[0..n) with the spaces at both ends removed, as a pointer and length. */
static const char *trim(const char *s, size_t *n) {
    while (*n > 0 && isspace((unsigned char)s[0])) s++, (*n)--;
    while (*n > 0 && isspace((unsigned char)s[*n - 1])) (*n)--;
    return s;
}

int lw_list_split(const char *what, const char *spec, char ***items) {
    if (!items) return lw_fail("lw_list_split: items is NULL");
    *items = NULL;
    if (!what) what = "list";
    if (!spec) spec = "";
    size_t len = strlen(spec);
    int n = 1;
    for (const char *p = spec; *p; p++) n += *p == ',';
    /* one block: n pointers, then the items' text (never longer than the spec) */
    char **v = malloc(sizeof(char *) * (size_t)n + len + (size_t)n);
    if (!v) return lw_fail("out of memory");
    char *text = (char *)(v + n);
    const char *start = spec;
    for (int k = 0; k < n; k++) {
        const char *comma = strchr(start, ',');
        size_t m = comma ? (size_t)(comma - start) : strlen(start);
        const char *item = trim(start, &m);
        if (m == 0) {
            free(v);
            if (n == 1) return lw_fail("%s: the list is empty", what);
            return lw_fail("%s \"%s\": item %d is empty (write items separated by single commas)", what, spec, k + 1);
        }
        memcpy(text, item, m);
        text[m] = '\0';
        for (int j = 0; j < k; j++)
            if (!strcmp(v[j], text)) {
                lw_fail("%s \"%s\": \"%s\" is listed twice", what, spec, text);
                free(v);
                return -1;
            }
        v[k] = text;
        text += m + 1;
        start = comma ? comma + 1 : start + m;
    }
    *items = v;
    return n;
}
