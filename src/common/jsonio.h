/* Internal: JSON results written the project's way (indented, newline, crash-safe). The
 * functions are public: latentwire/json.h. */
#ifndef LW_COMMON_JSONIO_H
#define LW_COMMON_JSONIO_H

#include "latentwire/json.h"

#endif
