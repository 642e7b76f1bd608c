/* The probe panel's files: probes.json (every statistic with its interval and n) and records.jsonl
 * (latentwire.items/1, for a pre-registered verdict), each through a temporary file and a rename. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/jsonio.h"
#include "latentwire/files.h"
#include "eval/ci_json.h"
#include "latentwire/probes.h"
#include "panel/probe_internal.h"

static json_t *stat_json(const lw_probe_stat *s) {
    json_t *o = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s}", "probe", s->probe, "name", s->name, "ci", lw_ci_json(&s->ci),
                          "condition", s->condition, "metric", s->metric, "note", s->note);
    if (o) json_object_set_new(o, "p_value", isfinite(s->p_value) ? json_real(s->p_value) : json_null());
    return o;
}

json_t *lw_probe_params_json(const lw_probe_params *p) {
    json_t *sig = json_array();
    for (int k = 0; k < p->n_sigmas; k++) json_array_append_new(sig, json_real(p->sigmas[k]));
    return json_pack("{s:i, s:f, s:i, s:i, s:i, s:i, s:o, s:i, s:i, s:i, s:I}", "combos", p->n_combos,
                     "heldout_share", p->heldout_share, "topsim", p->n_topsim, "natural", p->n_natural, "calib",
                     p->n_calib, "hops", p->hops, "sigmas", sig, "confusers", p->n_confusers, "symbolic",
                     p->n_symbolic, "resamples", p->resamples, "seed", (json_int_t)p->seed);
}

/* The files, in dir (which exists). */
static int write_files(const char *dir, const lw_probe_pair *pair, const lw_probe_params *p, const lw_probe_result *r,
                       const char *plan_sha256, const char *settings_json) {
    json_t *stats = json_array();
    for (int i = 0; i < r->n_stats; i++) json_array_append_new(stats, stat_json(&r->stats[i]));
    json_t *settings = settings_json ? json_loads(settings_json, 0, NULL) : NULL;
    json_t *inv = r->inverse_info ? json_loads(r->inverse_info, 0, NULL) : NULL;
    json_t *root = json_pack("{s:s, s:{s:s, s:s, s:i, s:i, s:o, s:o}, s:o, s:o, s:o, s:o}", "format",
                             "latentwire.panel.probes/1", "pair", "a", pair->name_a ? pair->name_a : "A", "b",
                             pair->name_b ? pair->name_b : "B", "dim_a", pair->dim_a, "dim_b", pair->dim_b, "bridge",
                             json_string(lw_bridge_recipe_name(lw_bridge_get_recipe(pair->bridge))), "inverse",
                             inv ? inv : json_string("given"), "stats", stats, "plan_sha256",
                             plan_sha256 ? json_string(plan_sha256) : json_null(), "params", lw_probe_params_json(p),
                             "settings", settings ? settings : json_object());
    char path[4096];
    snprintf(path, sizeof path, "%s/probes.json", dir);
    /* probes.json and records.jsonl appear together or not at all */
    if (lw_atomic_group_begin() != 0) {
        json_decref(root);
        return -1;
    }
    int rc = root ? lw_json_save(path, root) : lw_fail("probes: cannot build the result document");
    json_decref(root);
    snprintf(path, sizeof path, "%s/records.jsonl", dir);
    if (rc == 0) rc = lw_items_save(path, plan_sha256, "panel probes", r->records, r->n_records);
    return lw_atomic_group_finish(rc);
}

int lw_probe_save(const char *dir, const lw_probe_pair *pair, const lw_probe_params *p, const lw_probe_result *r,
                  const char *plan_sha256, const char *settings_json) {
    /* before the directory is made: NULL arguments were dereferenced after it */
    if (!dir || !pair || !p || !r)
        return lw_fail("lw_probe_save: %s is NULL", !dir ? "dir" : !pair ? "the pair" : !p ? "the params" : "the result");
    if (lw_check_settings_object("lw_probe_save", settings_json) != 0) return -1;
    /* a directory made here and left empty by a failure goes again */
    char *created = NULL;
    if (lw_mkdir_p_created(dir, &created) != 0) return -1;
    int rc = write_files(dir, pair, p, r, plan_sha256, settings_json);
    if (rc != 0 && created) lw_rmdir_created(dir, created);
    free(created);
    return rc;
}
