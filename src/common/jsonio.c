#include "common/jsonio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"

int lw_json_save(const char *path, const json_t *root) {
    lw_atomic_file af;
    if (lw_atomic_open(&af, path) != 0) return -1;
    errno = 0;
    if (json_dumpf(root, af.fp, JSON_INDENT(1)) != 0 || fputc('\n', af.fp) == EOF) {
        int e = errno;
        lw_atomic_abort(&af);
        return lw_fail("%s: cannot write JSON: %s", path, e ? strerror(e) : "write error");
    }
    return lw_atomic_commit(&af);
}

const char *lw_json_error_text(const json_error_t *err) {
    if (!err) return "(no parse error: err is NULL)";
    if (strstr(err->text, "JSON_ALLOW_NUL"))
        return "a string contains \\u0000 (the NUL character), which is not accepted: remove it";
    if (strstr(err->text, "NUL byte in object key")) return "an object key contains a NUL character: remove it";
    return err->text;
}

int lw_check_settings_object(const char *fn, const char *settings_json) {
    if (!settings_json) return 0;
    json_error_t err;
    json_t *s = json_loads(settings_json, 0, &err);
    int rc = s && json_is_object(s) ? 0
             : s ? lw_fail("%s: settings_json is not a JSON object: give an object {...}, or NULL for none", fn)
                 : lw_fail("%s: settings_json is not JSON (%s): give an object {...}, or NULL for none", fn,
                           lw_json_error_text(&err));
    json_decref(s);
    return rc;
}

char *lw_json_quoted(const char *s) {
    json_t *j = s ? json_string(s) : NULL;
    char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return text;
}

bool lw_json_utf8_ok(const char *s) {
    json_t *j = s ? json_string(s) : NULL;
    bool ok = j != NULL;
    json_decref(j);
    return ok;
}

int lw_json_utf8_pairs(const char *const *kv, int n_pairs, const char **out) {
    int n = 0;
    for (int k = 0; k < n_pairs; k++)
        if (lw_json_utf8_ok(kv[2 * k + 1])) out[2 * n] = kv[2 * k], out[2 * n + 1] = kv[2 * k + 1], n++;
    return n;
}
