#include "common/jsonio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"

int lw_json_save(const char *path, const json_t *root) {
    lw_atomic_file af;
    if (lw_atomic_open(&af, path) != 0) return -1;
    if (json_dumpf(root, af.fp, JSON_INDENT(1)) != 0 || fputc('\n', af.fp) == EOF) {
        int e = errno;
        lw_atomic_abort(&af);
        return lw_fail("%s: cannot write JSON: %s", path, strerror(e));
    }
    return lw_atomic_commit(&af);
}
