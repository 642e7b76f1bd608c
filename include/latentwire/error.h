/* latentwire: error reporting.
 *
 * Every fallible lw_ function returns NULL, a negative number or false on failure and
 * leaves one human-readable line (naming the file, field or value at fault) that
 * lw_last_error() returns. The message is per thread and stays valid until the next
 * failing lw_ call on that thread. Read it after a failure only: a call that succeeds may have
 * set it too (a text skipped with ok[i] = false leaves why it was skipped). */
#ifndef LATENTWIRE_ERROR_H
#define LATENTWIRE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* The last error message on this thread ("" when none). */
const char *lw_last_error(void);

/* Forget the last error on this thread. */
void lw_clear_error(void);

#if defined(__GNUC__)
#define LW_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LW_PRINTF(a, b)
#endif

/* Sets this thread's last error (printf format; one line, no trailing newline), as the
 * library's own failures do, so a program (the CLI, a callback) reports through the same
 * slot. An argument may be lw_last_error() itself ("while loading: %s"). Always returns -1:
 * `return lw_fail("...")`. */
int lw_fail(const char *fmt, ...) LW_PRINTF(1, 2);

/* Like lw_fail, but prefixes the existing message with a context ("file.txt: " + old). */
int lw_fail_prefix(const char *fmt, ...) LW_PRINTF(1, 2);

#ifdef __cplusplus
}
#endif
#endif
