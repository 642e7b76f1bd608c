/* Internal: set the thread's last error. Messages are one line, no trailing newline.
 * lw_fail and lw_fail_prefix are public (latentwire/error.h), for programs that report
 * through the same slot; this header stays for the library's sources. */
#ifndef LW_COMMON_ERROR_H
#define LW_COMMON_ERROR_H
#include "latentwire/error.h"

#endif
