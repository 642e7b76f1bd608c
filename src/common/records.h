/* Internal alias: the records API is public (latentwire/records.h). */
#ifndef LW_COMMON_RECORDS_H
#define LW_COMMON_RECORDS_H
#include "latentwire/records.h"
#endif
