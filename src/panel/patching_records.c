/* The patching panel's per-cell records (patching_records.h): each finished cell's effects on every
 * prompt, appended as it finishes, so that an interrupted panel resumes without running its
 * finished cells again. The effects are what the statistics are computed from, stored exactly
 * (JSON's shortest round-trip form of a double), so a resumed panel's numbers are an
 * uninterrupted one's. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/error.h"
#include "latentwire/files.h"
#include "latentwire/json.h"
#include "panel/patching_records.h"

static const char *const KEY[] = {"cell"};

/* sha256 of every text the cells read (the prompts' three texts, then the calibration texts). */
static int texts_sha256(const lw_panel_prompt *prompts, int n_prompts, const char *const *calib, int n_calib,
                        char out[65]) {
    json_t *all = json_array();
    for (int i = 0; all && i < n_prompts; i++)
        json_array_append_new(all, json_pack("[s, s, s]", prompts[i].receiver_text, prompts[i].donor_text,
                                             prompts[i].decoy_text));
    for (int i = 0; all && i < n_calib; i++) json_array_append_new(all, json_string(calib[i]));
    char *text = all ? json_dumps(all, JSON_COMPACT) : NULL;
    json_decref(all);
    int rc = text ? lw_sha256_buf(text, strlen(text), out) : lw_fail("panel: out of memory");
    free(text);
    return rc;
}

static json_t *model_shas(const lw_panel_model *m, int n) {
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) json_array_append_new(a, json_pack("s?", lw_model_sha256(lw_session_model(m[i].session))));
    return a;
}

/* The caller's settings with the panel's own added: everything a cell's effects depend on. */
static json_t *settings_of(const lw_panel_model *receivers, int n_receivers, const lw_panel_model *donors, int n_donors,
                           const lw_panel_prompt *prompts, int n_prompts, const char *const *calib, int n_calib,
                           const lw_patching_params *p) {
    json_error_t err;
    json_t *s = p->settings_json ? json_loads(p->settings_json, 0, &err) : json_object();
    if (!json_is_object(s)) {
        json_decref(s);
        lw_fail("panel: the settings given for the records are not a JSON object");
        return NULL;
    }
    char sha[65];
    if (texts_sha256(prompts, n_prompts, calib, n_calib, sha) != 0) {
        json_decref(s);
        return NULL;
    }
    json_t *depths = json_array();
    for (int k = 0; depths && k < p->n_depths; k++) json_array_append_new(depths, json_real(p->depths[k]));
    json_t *own = json_pack("{s:o, s:o, s:o, s:i, s:i, s:b, s:b, s:s, s:i}", "receivers",
                            model_shas(receivers, n_receivers), "donors", model_shas(donors, n_donors), "depths",
                            depths, "continuation_tokens", p->continuation_tokens, "position", p->position, "add",
                            p->add, "reuse_prefix", p->reuse_prefix, "texts_sha256", sha, "n_prompts", n_prompts);
    if (!own || json_object_set_new(s, "panel", own) != 0) {
        json_decref(s);
        lw_fail("panel: out of memory");
        return NULL;
    }
    /* a GPU's kernels round differently: effects made on one are not a CPU run's */
    const lw_model **models = malloc(sizeof *models * (size_t)(n_receivers + n_donors));
    if (!models) {
        json_decref(s);
        lw_fail("panel: out of memory");
        return NULL;
    }
    for (int i = 0; i < n_receivers; i++) models[i] = lw_session_model(receivers[i].session);
    for (int i = 0; i < n_donors; i++) models[n_receivers + i] = lw_session_model(donors[i].session);
    lw_json_settings_gpu_layers(s, models, n_receivers + n_donors);
    free(models);
    return s;
}

int lw_patching_records_open(lw_patching_records *r, const lw_panel_model *receivers, int n_receivers,
                             const lw_panel_model *donors, int n_donors, const lw_panel_prompt *prompts, int n_prompts,
                             const char *const *calib, int n_calib, const lw_patching_params *p) {
    memset(r, 0, sizeof *r);
    if (!p->records_path) return p->resume ? lw_fail("panel: resume needs a records file (records_path)") : 0;
    json_t *settings =
        settings_of(receivers, n_receivers, donors, n_donors, prompts, n_prompts, calib, n_calib, p);
    if (!settings) return -1;
    int rc = p->resume ? lw_records_load(&r->past, p->records_path, settings, KEY, 1, "target", "--resume", NULL) : 0;
    /* a kept cell that is none of this panel's was never looked up, but copied into the new file */
    const int64_t n_cells = (int64_t)n_receivers * n_donors * p->n_depths;
    for (int j = 0; rc == 0 && j < r->past.n; j++) {
        json_t *c = json_object_get(r->past.rec[j], "cell");
        if (!json_is_integer(c) || json_integer_value(c) < 0 || json_integer_value(c) >= n_cells)
            rc = lw_fail("--resume: %s: record %d's cell is %s, not one of this panel's cells 0 to %lld: the file was "
                         "edited or made by another run; start over without --resume",
                         p->records_path, j + 1, json_is_integer(c) ? "out of range" : "not a whole number",
                         (long long)n_cells - 1);
    }
    if (rc != 0) lw_records_free(&r->past);
    if (rc == 0 && !(r->fp = lw_records_open(p->records_path, settings, &r->past))) rc = -1;
    json_decref(settings);
    return rc;
}

/* n finite numbers of a JSON array into out; false otherwise. */
static bool effects(json_t *a, int n, double *out) {
    if (!json_is_array(a) || json_array_size(a) != (size_t)n) return false;
    for (int i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_number(v) || !isfinite(json_number_value(v))) return false;
        out[i] = json_number_value(v);
    }
    return true;
}

static bool count_at(json_t *o, const char *key, int64_t *out) {
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

int lw_patching_records_take(const lw_patching_records *r, const lw_patching_params *p, lw_patching_result *res,
                             int cell, int n_prompts) {
    if (r->past.n == 0) return 0;
    char key[24];
    snprintf(key, sizeof key, "%d", cell);
    json_t *o = lw_records_find(&r->past, key);
    if (!o) return 0;
    const lw_patching_cell *c = &res->cells[cell];
    size_t at = (size_t)cell * n_prompts;
    int64_t runs = 0, reused = 0;
    json_t *depth = json_object_get(o, "depth");
    const char *why = NULL;
    if (json_integer_value(json_object_get(o, "receiver")) != c->receiver ||
        json_integer_value(json_object_get(o, "donor")) != c->donor || !json_is_number(depth) ||
        json_number_value(depth) != c->depth ||
        json_integer_value(json_object_get(o, "receiver_layer")) != c->receiver_layer ||
        json_integer_value(json_object_get(o, "donor_layer")) != c->donor_layer)
        why = "its receiver, donor, depth or layers are not this cell's";
    else if (!effects(json_object_get(o, "target"), n_prompts, res->e_target + at) ||
             !effects(json_object_get(o, "baseline"), n_prompts, res->e_baseline + at) ||
             !effects(json_object_get(o, "decoy"), n_prompts, res->e_decoy + at))
        why = "its effects are not one finite number per prompt";
    else if (!count_at(o, "receiver_runs", &runs) || !count_at(o, "prefix_tokens_reused", &reused))
        why = "its cost is not two whole counts >= 0";
    /* the counts a cell makes: four receiver runs per prompt, and a prefix reused by the last three
     * of them (each at most a context, an int) only with reuse_prefix. A count no run makes was
     * added to the totals, and 2^63 - 1 overflowed the next cell's count (undefined behaviour). */
    else if (runs != 4 * (int64_t)n_prompts)
        why = "its receiver_runs is not four per prompt, what a cell runs";
    else if (p->reuse_prefix ? reused > 3 * (int64_t)n_prompts * INT32_MAX : reused != 0)
        why = "its prefix_tokens_reused is more than its prompts' prefixes (or not 0 without prefix reuse)";
    if (why)
        return lw_fail("--resume: %s: cell %d: %s: the file was edited or made by another run; start over without "
                       "--resume", p->records_path, cell, why);
    res->receiver_runs += runs;
    res->prefix_tokens_reused += reused;
    return 1;
}

static json_t *effect_array(const double *v, int n) {
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

int lw_patching_records_add(lw_patching_records *r, const lw_patching_params *p, const lw_patching_result *res,
                            int cell, int n_prompts, int64_t runs, int64_t reused) {
    if (!r->fp) return 0;
    const lw_patching_cell *c = &res->cells[cell];
    size_t at = (size_t)cell * n_prompts;
    json_t *line = json_pack("{s:i, s:i, s:i, s:f, s:i, s:i, s:o, s:o, s:o, s:I, s:I}", "cell", cell, "receiver",
                             c->receiver, "donor", c->donor, "depth", c->depth, "receiver_layer", c->receiver_layer,
                             "donor_layer", c->donor_layer, "target", effect_array(res->e_target + at, n_prompts),
                             "baseline", effect_array(res->e_baseline + at, n_prompts), "decoy",
                             effect_array(res->e_decoy + at, n_prompts), "receiver_runs", (json_int_t)runs,
                             "prefix_tokens_reused", (json_int_t)reused);
    int rc = line && lw_records_write(r->fp, line) == 0 ? 0 : lw_fail("%s: cannot append cell %d", p->records_path, cell);
    json_decref(line);
    if (rc == 0) r->added++;
    return rc;
}

int lw_patching_records_close(lw_patching_records *r, const lw_patching_params *p, int rc) {
    if (r->fp && fclose(r->fp) != 0 && rc == 0) rc = lw_fail("%s: cannot write", p->records_path);
    if (r->fp && rc != 0 && r->added == 0 && r->past.n == 0) unlink(p->records_path);
    r->fp = NULL;
    lw_records_free(&r->past);
    return rc;
}
