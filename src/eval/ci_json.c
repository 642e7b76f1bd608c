#include "eval/ci_json.h"

json_t *lw_ci_json(const lw_ci *ci) {
    return json_pack("{s:f, s:f, s:f, s:i}", "mean", ci->mean, "lo", ci->lo, "hi", ci->hi, "n", ci->n);
}
