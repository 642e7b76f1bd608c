#include "eval/ci_json.h"

#include <math.h>

#include "common/error.h"

json_t *lw_ci_json(const lw_ci *ci) {
    if (!ci) return lw_fail("lw_ci_json: the interval is NULL"), NULL;
    if (!isfinite(ci->mean) || !isfinite(ci->lo) || !isfinite(ci->hi))
        return lw_fail("lw_ci_json: the interval is not finite (mean %g, lo %g, hi %g): JSON has no NaN or Inf", ci->mean,
                       ci->lo, ci->hi),
               NULL;
    json_t *o = json_pack("{s:f, s:f, s:f, s:i}", "mean", ci->mean, "lo", ci->lo, "hi", ci->hi, "n", ci->n);
    if (o && ci->method) json_object_set_new(o, "method", json_string(ci->method)); /* how lo, hi were made */
    if (o && ci->n_clusters > 0) { /* items in clusters: the interval counts n / design_effect items */
        json_object_set_new(o, "n_clusters", json_integer(ci->n_clusters));
        json_object_set_new(o, "design_effect", json_real(ci->design_effect));
    }
    return o;
}
