/* latentwire: error reporting.
 *
 * Every fallible lw_ function returns NULL, a negative number or false on failure and
 * leaves one human-readable line (naming the file, field or value at fault) that
 * lw_last_error() returns. The message is per thread and stays valid until the next
 * failing lw_ call on that thread. */
#ifndef LATENTWIRE_ERROR_H
#define LATENTWIRE_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* The last error message on this thread ("" when none). */
const char *lw_last_error(void);

/* Forget the last error on this thread. */
void lw_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
