#include "support/records_edit.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "latentwire/error.h"
#include "latentwire/records.h"

void lw_test_edit_record(const char *path, const char *const *key, int n_key, const char *required,
                         lw_test_record_pick pick, void *ctx, const char *field, const char *value) {
    lw_records r;
    json_t *head = NULL;
    if (lw_records_load(&r, path, NULL, key, n_key, required, "edit", &head) != 0)
        fail_msg("%s: %s", path, lw_last_error());
    int j = 0;
    while (j < r.n && pick && !pick(r.rec[j], ctx)) j++;
    if (j == r.n) fail_msg("%s: no record to edit", path);
    json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);
    if (!v) fail_msg("%s is not JSON", value);
    json_object_set_new(r.rec[j], field, v);
    FILE *f = lw_records_open(path, head, &r);
    if (!f) fail_msg("%s: %s", path, lw_last_error());
    fclose(f);
    lw_records_free(&r);
    json_decref(head);
}
