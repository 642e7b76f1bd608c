/* A fingerprint of a task's parts (lw_task_parts_sha256 in task.h): what resumed runs compare. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latentwire/files.h"
#include "task/task_internal.h"

void lw_task_parts_sha256(const lw_task *parts, int n_parts, char out[65]) {
    if (!out) return; /* void: nothing to report to */
    if (!parts && n_parts > 0) return (void)(out[0] = '\0'); /* no parts: no fingerprint */
    size_t len = 0;
    for (int p = 0; p < n_parts; p++)
        for (int i = 0; i < parts[p].n; i++) {
            const lw_task_item *it = &parts[p].items[i];
            len += strlen(it->id) + strlen(it->sender) + strlen(it->receiver) + strlen(it->gold) + 16;
        }
    char *buf = malloc(len + 1), *w = buf;
    if (!buf) {
        snprintf(out, 65, "%s", "out-of-memory");
        return;
    }
    for (int p = 0; p < n_parts; p++)
        for (int i = 0; i < parts[p].n; i++) {
            const lw_task_item *it = &parts[p].items[i];
            w += sprintf(w, "%s\x1f%s\x1f%s\x1f%s\x1f%d", it->id, it->sender, it->receiver, it->gold, p);
        }
    lw_sha256_buf(buf, (size_t)(w - buf), out);
    free(buf);
}
