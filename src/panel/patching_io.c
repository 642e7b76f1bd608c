/* The patching panel's files: panel.json (every cell with its CI and n, D, the decoy ratio, the
 * cost), panel.csv (one row per cell) and records.jsonl (per cell, for a pre-registered verdict),
 * each written through a temporary file and a rename. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/jsonio.h"
#include "latentwire/files.h"
#include "eval/ci_json.h"
#include "latentwire/panel.h"
#include "latentwire/verdict.h"

static json_t *number_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* "receiver<-donor@depth": a cell's name in the CSV and the records. */
static void cell_name(const lw_panel_model *R, const lw_panel_model *D, const lw_patching_cell *x, char *buf, size_t n) {
    snprintf(buf, n, "%s<-%s@%g", R[x->receiver].name, D[x->donor].name, x->depth);
}

static int write_csv(const char *path, const lw_panel_model *R, const lw_panel_model *D, const lw_patching_result *r) {
    lw_atomic_file af;
    if (lw_atomic_open(&af, path) != 0) return -1;
    fprintf(af.fp, "receiver,donor,depth,receiver_layer,donor_layer,n,mean_target,mean_baseline,mean_decoy,"
                   "target_minus_baseline,lo,hi\n");
    for (int c = 0; c < r->n_cells; c++) {
        const lw_patching_cell *x = &r->cells[c];
        fprintf(af.fp, "%s,%s,%g,%d,%d,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f\n", R[x->receiver].name, D[x->donor].name,
                x->depth, x->receiver_layer, x->donor_layer, x->n, x->mean_target, x->mean_baseline, x->mean_decoy,
                x->diff.mean, x->diff.lo, x->diff.hi);
    }
    return lw_atomic_commit(&af);
}

static json_t *result_json(const lw_panel_model *R, const lw_panel_model *D, const lw_patching_result *r,
                           const lw_patching_params *p, const char *plan_sha, const char *settings_json) {
    json_t *cells = json_array();
    for (int c = 0; c < r->n_cells; c++) {
        const lw_patching_cell *x = &r->cells[c];
        json_array_append_new(
            cells, json_pack("{s:s, s:s, s:f, s:i, s:i, s:i, s:f, s:f, s:f, s:o, s:f}", "receiver", R[x->receiver].name,
                             "donor", D[x->donor].name, "depth", x->depth, "receiver_layer", x->receiver_layer,
                             "donor_layer", x->donor_layer, "n", x->n, "mean_target", x->mean_target, "mean_baseline",
                             x->mean_baseline, "mean_decoy", x->mean_decoy, "target_minus_baseline",
                             lw_ci_json(&x->diff), "p_value", x->p_value));
    }
    json_t *settings = settings_json ? json_loads(settings_json, 0, NULL) : NULL;
    json_t *depths = json_array();
    for (int k = 0; k < p->n_depths; k++) json_array_append_new(depths, json_real(p->depths[k]));
    return json_pack("{s:s, s:o, s:{s:o, s:s, s:f, s:o, s:o, s:o, s:i}, s:{s:I, s:I, s:b}, s:o, s:{s:o, s:i, s:i, "
                     "s:b, s:I, s:i}, s:o}",
                     "format", "latentwire.panel.patching/1", "cells", cells, "summary", "D", lw_ci_json(&r->D),
                     "verdict", lw_verdict_name(r->verdict), "threshold", p->threshold, "decoy_ratio", number_or_null(r->decoy_ratio),
                     "decoy_ratio_lo", number_or_null(r->decoy_ratio_lo), "decoy_ratio_hi",
                     number_or_null(r->decoy_ratio_hi), "n_cells", r->n_cells, "cost", "receiver_runs",
                     (json_int_t)r->receiver_runs, "prefix_tokens_reused", (json_int_t)r->prefix_tokens_reused,
                     "reuse_prefix", p->reuse_prefix, "plan_sha256", plan_sha ? json_string(plan_sha) : json_null(),
                     "params", "depths", depths, "continuation_tokens", p->continuation_tokens, "position",
                     p->position, "add", p->add, "seed", (json_int_t)p->seed, "resamples", p->resamples, "settings",
                     settings ? settings : json_object());
}

/* The files, in dir (which exists). */
static int write_files(const char *dir, const lw_panel_model *R, const lw_panel_model *D, const lw_patching_result *r,
                       const lw_patching_params *p, const char *plan_sha256, const char *settings_json) {
    char path[4096];
    /* panel.csv, panel.json and records.jsonl appear together or not at all (a verdict read with
     * another run's panel.json was possible after a failure between them) */
    if (lw_atomic_group_begin() != 0) return -1;
    snprintf(path, sizeof path, "%s/panel.csv", dir);
    int rc = write_csv(path, R, D, r);
    json_t *root = rc == 0 ? result_json(R, D, r, p, plan_sha256, settings_json) : NULL;
    snprintf(path, sizeof path, "%s/panel.json", dir);
    if (rc == 0) rc = root ? lw_json_save(path, root) : lw_fail("panel: cannot build the result document");
    json_decref(root);
    /* One record per cell and prompt (target - baseline), clustered as D's interval is: by cell with
     * LW_PANEL_MIN_CELLS cells or more, else by prompt. A verdict then resamples the units D's interval
     * resamples, and its mean is D. (One record per cell let a verdict bootstrap 4 cells to p = 1e-4.) */
    const int nc = r->n_cells, np = r->n_prompts, n = nc * np;
    const bool by_cell = nc >= LW_PANEL_MIN_CELLS;
    lw_item_record *rec = calloc((size_t)n, sizeof *rec);
    char(*cells)[512] = calloc((size_t)nc, sizeof *cells), (*items)[560] = calloc((size_t)n, sizeof *items);
    char(*prompts)[32] = calloc((size_t)np, sizeof *prompts);
    if (rc == 0 && (!rec || !cells || !items || !prompts)) rc = lw_fail("panel: out of memory");
    for (int j = 0; rc == 0 && j < np; j++) snprintf(prompts[j], sizeof prompts[j], "prompt %d", j + 1);
    for (int c = 0; rc == 0 && c < nc; c++) {
        cell_name(R, D, &r->cells[c], cells[c], sizeof cells[c]);
        for (int j = 0; j < np; j++) {
            const size_t k = (size_t)c * np + j;
            snprintf(items[k], sizeof items[k], "%s #%d", cells[c], j + 1);
            rec[k] = (lw_item_record){.condition = "target-minus-baseline", .item = items[k], .metric = "logp_shift",
                                      .value = r->e_target[k] - r->e_baseline[k],
                                      .cluster = by_cell ? cells[c] : prompts[j]};
        }
    }
    snprintf(path, sizeof path, "%s/records.jsonl", dir);
    if (rc == 0) rc = lw_items_save(path, plan_sha256, "panel patching", rec, n);
    free(rec);
    free(cells);
    free(items);
    free(prompts);
    return lw_atomic_group_finish(rc);
}

int lw_patching_save(const char *dir, const lw_panel_model *R, const lw_panel_model *D, const lw_patching_result *r,
                     const lw_patching_params *p, const char *plan_sha256, const char *settings_json) {
    /* before the directory is made: NULL arguments were dereferenced after it */
    if (!dir || !R || !D || !r || !p)
        return lw_fail("lw_patching_save: %s is NULL", !dir ? "dir" : !R ? "the receivers" : !D ? "the donors" : !r ? "the result" : "the params");
    if (lw_check_settings_object("lw_patching_save", settings_json) != 0) return -1;
    /* a directory made here and left empty by a failure goes again */
    char *created = NULL;
    if (lw_mkdir_p_created(dir, &created) != 0) return -1;
    int rc = write_files(dir, R, D, r, p, plan_sha256, settings_json);
    if (rc != 0 && created) lw_rmdir_created(dir, created);
    free(created);
    return rc;
}
