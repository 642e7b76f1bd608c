/* Internal: comma-separated lists as every list option and spec reads them (lw_list_split,
 * public in latentwire/textio.h). */
#ifndef LW_COMMON_STRLIST_H
#define LW_COMMON_STRLIST_H

#include "latentwire/textio.h"

#endif
