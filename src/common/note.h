/* Internal: notes a library call gives its caller beside the result (a file without metadata,
 * rows left out), through the caller's callback: one line, formatted here. */
#ifndef LW_COMMON_NOTE_H
#define LW_COMMON_NOTE_H

#include "latentwire/error.h"

/* Formats the note and calls fn(note, user); nothing when fn is NULL. */
void lw_notef(void (*fn)(const char *note, void *user), void *user, const char *fmt, ...) LW_PRINTF(3, 4);

#endif
