/* Internal: set the thread's last error. Messages are one line, no trailing newline. */
#ifndef LW_COMMON_ERROR_H
#define LW_COMMON_ERROR_H
#include "latentwire/error.h"

#if defined(__GNUC__)
#define LW_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LW_PRINTF(a, b)
#endif

/* Formats the message into the thread's error slot. Always returns -1 so callers can
 * write `return lw_fail("...")`. */
int lw_fail(const char *fmt, ...) LW_PRINTF(1, 2);

/* Like lw_fail, but prefixes the existing message with a context ("file.txt: " + old). */
int lw_fail_prefix(const char *fmt, ...) LW_PRINTF(1, 2);

#endif
