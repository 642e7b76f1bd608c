/* Internal: a confidence interval as the JSON object every report uses. */
#ifndef LW_EVAL_CI_JSON_H
#define LW_EVAL_CI_JSON_H

#include <jansson.h>

#include "latentwire/retrieval.h"

/* {"mean", "lo", "hi", "n", "method"} (new reference; "method" only when ci->method is set). */
json_t *lw_ci_json(const lw_ci *ci);

#endif
