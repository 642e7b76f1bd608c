#include "common/note.h"

#include <stdarg.h>
#include <stdio.h>

void lw_notef(void (*fn)(const char *note, void *user), void *user, const char *fmt, ...) {
    if (!fn) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fn(buf, user);
}
