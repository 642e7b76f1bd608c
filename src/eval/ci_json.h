/* Internal: a confidence interval as the JSON object every report uses (lw_ci_json, public
 * in latentwire/json.h). */
#ifndef LW_EVAL_CI_JSON_H
#define LW_EVAL_CI_JSON_H

#include "latentwire/json.h"

#endif
