/* `latentwire panel patching` as one call (latentwire/panel_experiment.h): outputs checked, the
 * prompts drawn from the corpus, the settings fingerprinted for --resume, the panel run
 * (patching.c) and its files written (patching_io.c). Also the panel's model names. */
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "latentwire/files.h"
#include "latentwire/panel_experiment.h"

static const char *base_name(const char *path) {
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* Two paths name one model when they are one file; paths that cannot be read compare as strings
 * (the load reports them). */
static bool same_model(const char *a, const char *b) { return lw_same_file(a, b) || !strcmp(a, b); }

const char *lw_panel_model_name(const char *const *paths, int n, const char *path) {
    if (!path) return lw_fail("lw_panel_model_name: path is NULL"), NULL; /* a getter's NULL says why */
    for (int i = 0; paths && i < n; i++) /* one file by two paths has one name: its first path's */
        if (paths[i] && same_model(paths[i], path)) {
            path = paths[i];
            break;
        }
    for (int i = 0; paths && i < n; i++)
        if (paths[i] && !same_model(paths[i], path) && !strcmp(base_name(paths[i]), base_name(path))) return path;
    return base_name(path);
}

lw_panel_patching_experiment_params lw_panel_patching_experiment_default_params(void) {
    return (lw_panel_patching_experiment_params){.n_prompts = 40, .n_calib = 100,
                                                 .patching = lw_patching_default_params()};
}

static const char *const OUTPUTS[] = {"panel.json", "panel.csv", "records.jsonl", "panel.partial", "panel.cells.jsonl",
                                       NULL};

int lw_panel_patching_experiment_check(const lw_panel_patching_experiment_params *p) {
    if (!p) return lw_fail("panel patching: no parameters");
    if (!p->out_dir || !*p->out_dir) return lw_fail("panel patching: no output directory (--out)");
    const char *inputs[] = {"--plan", p->plan, NULL, NULL};
    char sha[65];
    return lw_output_dir_check("--out", p->out_dir, OUTPUTS, inputs) == 0 ? lw_plan_file_sha256(p->plan, sha) : -1;
}

int lw_panel_patching_experiment_run(const lw_panel_patching_experiment_params *p, lw_patching_result *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!p || !out) return lw_fail("panel patching: no %s", !p ? "parameters" : "result");
    if (!p->receivers || !p->donors || p->n_receivers < 1 || p->n_donors < 1)
        return lw_fail("panel patching: no %s (--%s)", !p->receivers || p->n_receivers < 1 ? "receivers" : "donors",
                       !p->receivers || p->n_receivers < 1 ? "receivers" : "donors");
    if (!p->data_dir || !*p->data_dir) return lw_fail("panel patching: no data directory (--data)");
    if (p->n_prompts < LW_PANEL_MIN_CELLS || p->n_calib < 1)
        return lw_fail("panel patching: %s %d: at least %d", p->n_calib < 1 ? "--calib" : "--prompts",
                       p->n_calib < 1 ? p->n_calib : p->n_prompts, p->n_calib < 1 ? 1 : LW_PANEL_MIN_CELLS);
    if (p->n_prompts > LW_PANEL_MAX_TEXTS || p->n_calib > LW_PANEL_MAX_TEXTS)
        return lw_fail("panel patching: %s %d: at most %d", p->n_calib > LW_PANEL_MAX_TEXTS ? "--calib" : "--prompts",
                       p->n_calib > LW_PANEL_MAX_TEXTS ? p->n_calib : p->n_prompts, LW_PANEL_MAX_TEXTS);
    char plan_sha[65];
    if (lw_panel_patching_experiment_check(p) != 0 || lw_plan_file_sha256(p->plan, plan_sha) != 0) return -1;

    /* the distinct models, for the prompts (a sentence one of them cannot tokenize is skipped) */
    int n_all = p->n_receivers + p->n_donors, n_models = 0;
    const lw_model **models = calloc((size_t)n_all, sizeof *models);
    if (!models) return lw_fail("panel patching: out of memory");
    for (int i = 0; i < n_all; i++) {
        const lw_panel_model *m = i < p->n_receivers ? &p->receivers[i] : &p->donors[i - p->n_receivers];
        if (!m->session) {
            free(models);
            return lw_fail("panel patching: %s %d has no session", i < p->n_receivers ? "receiver" : "donor",
                           i < p->n_receivers ? i : i - p->n_receivers);
        }
        const lw_model *model = lw_session_model(m->session);
        /* a model kept in OUT under an output's name (OUT/panel.json) was replaced by that output,
         * exit 0: the check above knows only --plan, the models' files are known here */
        lw_model_info info;
        lw_model_get_info(model, &info);
        const char *inputs[] = {i < p->n_receivers ? "--receivers" : "--donors", info.path, NULL, NULL};
        if (lw_output_dir_check("--out", p->out_dir, OUTPUTS, inputs) != 0) {
            free(models);
            return -1;
        }
        bool seen = false;
        for (int j = 0; j < n_models; j++) seen |= models[j] == model;
        if (!seen) models[n_models++] = model;
    }
    lw_panel_prompt_set set = {0};
    int rc = lw_panel_prompts_from_corpus(p->data_dir, p->n_prompts, p->n_calib, p->patching.seed, models, n_models,
                                          &set);
    free(models);

    /* the caller's part of the fingerprint (the panel adds the models, depths, texts' sha256) */
    char settings[512];
    snprintf(settings, sizeof settings,
             "{\"prompts\": %d, \"calib\": %d, \"continuation\": %d, \"seed\": %llu, \"data\": \"corpus test split\"}",
             p->n_prompts, p->n_calib, p->patching.continuation_tokens, (unsigned long long)p->patching.seed);
    size_t n_path = strlen(p->out_dir) + 32;
    char *partial = malloc(n_path), *cells = malloc(n_path), *created = NULL;
    if (rc == 0 && (!partial || !cells)) rc = lw_fail("panel patching: out of memory");
    lw_patching_params pp = p->patching;
    if (rc == 0) {
        snprintf(partial, n_path, "%s/panel.partial", p->out_dir);
        snprintf(cells, n_path, "%s/panel.cells.jsonl", p->out_dir);
        pp.records_path = partial, pp.settings_json = settings, pp.resume = p->resume;
        rc = lw_mkdir_p_created(p->out_dir, &created);
    }
    /* --resume after a finished run takes its cells (the partial, kept as panel.cells.jsonl) back as
     * the partial, as scan does, so a rerun (make experiments after make demo) runs no cell again;
     * cells made with other settings are then refused, naming the partial */
    if (rc == 0 && p->resume && access(partial, F_OK) != 0 && access(cells, F_OK) == 0 && rename(cells, partial) != 0)
        rc = lw_fail("panel patching: cannot rename %s to %s: %s", cells, partial, strerror(errno));
    if (rc == 0)
        rc = lw_panel_patching(p->receivers, p->n_receivers, p->donors, p->n_donors, set.prompts, set.n_prompts,
                               (const char *const *)set.calib, set.n_calib, &pp, out);
    if (rc == 0) rc = lw_patching_save(p->out_dir, p->receivers, p->donors, out, &pp, plan_sha[0] ? plan_sha : NULL,
                                       settings);
    /* every cell is in panel.json now, and its effects stay for a rerun with --resume; a failed run
     * keeps them in the partial */
    if (rc == 0 && rename(partial, cells) != 0)
        rc = lw_fail("panel patching: cannot rename %s to %s: %s", partial, cells, strerror(errno));
    if (rc != 0) {
        lw_patching_result_free(out);
        if (created) lw_rmdir_created(p->out_dir, created);
    }
    free(partial);
    free(cells);
    free(created);
    lw_panel_prompt_set_free(&set);
    return rc;
}
