#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_err[1024];

const char *lw_last_error(void) { return g_err; }

void lw_clear_error(void) { g_err[0] = '\0'; }

int lw_fail(const char *fmt, ...) {
    if (!fmt) fmt = "(no message)"; /* a NULL format is a caller's slip, not a crash */
    /* Formatted apart first: an argument may be lw_last_error() itself ("while loading: %s"), and
     * vsnprintf from a buffer into that same buffer is undefined. */
    char msg[sizeof g_err];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(g_err, msg, sizeof g_err);
    /* Keep the promise of one line. */
    for (char *p = g_err; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return -1;
}

int lw_fail_prefix(const char *fmt, ...) {
    char prefix[512];
    if (!fmt) fmt = "(no message): ";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    return lw_fail("%s%s", prefix, g_err);
}
