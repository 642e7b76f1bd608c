/* The API-argument tests' checks (test_api_args.c, test_api_null.c): a call refused with one line
 * naming what is wrong. Include after <cmocka.h> (and its <setjmp.h>, <stdarg.h>, <stddef.h>). */
#ifndef LW_TEST_REFUSED_H
#define LW_TEST_REFUSED_H

#include <string.h>

#include "latentwire/error.h"

/* The last call failed with a one-line message that holds `needle`. */
static inline void failed_with(const char *call, const char *needle) {
    const char *e = lw_last_error();
    if (!strstr(e, needle)) fail_msg("%s: \"%s\" lacks \"%s\"", call, e, needle);
    if (strchr(e, '\n')) fail_msg("%s: \"%s\" is more than one line", call, e);
}
#define REFUSED(call, needle)                                                                                          \
    do {                                                                                                               \
        lw_clear_error();                                                                                              \
        assert_true((call) < 0);                                                                                       \
        failed_with(#call, needle);                                                                                    \
    } while (0)
#define REFUSED_NULL(call, needle)                                                                                     \
    do {                                                                                                               \
        lw_clear_error();                                                                                              \
        assert_null(call);                                                                                             \
        failed_with(#call, needle);                                                                                    \
    } while (0)

#endif
