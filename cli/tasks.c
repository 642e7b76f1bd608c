/* Where a verb's task items come from: the library parses and loads the spec
 * (lw_task_from_spec, latentwire/task.h); these wrappers give it the verb's data directory and seed. */
#include "cli.h"

static lw_task_spec_params spec_params(const char *data_dir, uint64_t seed) {
    lw_task_spec_params p = lw_task_spec_default_params();
    p.data_dir = data_dir;
    p.seed = seed;
    return p;
}

int cli_load_task(const char *spec, const char *data_dir, uint64_t seed, lw_task *out) {
    lw_task_spec_params p = spec_params(data_dir, seed);
    return lw_task_from_spec(spec, &p, out);
}

int cli_load_task_pool(const char *spec, const char *data_dir, uint64_t seed, int extra, lw_task *out, int *n_report) {
    lw_task_spec_params p = spec_params(data_dir, seed);
    return lw_task_pool_from_spec(spec, &p, extra, out, n_report);
}

void cli_task_hash(const lw_task *parts, int n_parts, char out[65]) {
    lw_task_parts_sha256(parts, n_parts, out);
}
