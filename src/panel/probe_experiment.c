/* `latentwire panel probes` as one call (latentwire/panel_experiment.h): outputs and plan checked,
 * the bridges loaded and checked against the pair's models and blocks, the probes run
 * (probes.h) on mean-pooled block outputs, and probes.json and records.jsonl written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/error.h"
#include "common/jsonio.h"
#include "latentwire/bridge.h"
#include "latentwire/files.h"
#include "latentwire/json.h"
#include "latentwire/panel_experiment.h"

lw_probe_experiment_params lw_probe_experiment_default_params(void) {
    return (lw_probe_experiment_params){.probes = lw_probe_default_params()};
}

static const char *const OUTPUTS[] = {"probes.json", "records.jsonl", "probes.partial", NULL};

static const char *base_name(const char *path) {
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

int lw_probe_experiment_check(const lw_probe_experiment_params *p) {
    if (!p) return lw_fail("panel probes: no parameters");
    if (!p->out_dir || !*p->out_dir) return lw_fail("panel probes: no output directory (--out)");
    if (!p->bridge) return lw_fail("panel probes: no bridge (--bridge A2B.safetensors)");
    const char *inputs[] = {"--plan", p->plan, "--bridge", p->bridge, "--inverse", p->inverse, NULL, NULL};
    char sha[65];
    if (lw_output_dir_check("--out", p->out_dir, OUTPUTS, inputs) != 0 || lw_plan_file_sha256(p->plan, sha) != 0)
        return -1;
    /* the bridge files read whole once here, so that a bad one is named before models load */
    for (int i = 0; i < 2; i++) {
        const char *path = i ? p->inverse : p->bridge;
        lw_bridge *b = path ? lw_bridge_load(path) : NULL;
        if (path && !b) return -1;
        lw_bridge_free(b);
    }
    return 0;
}

/* The block exists in the model; its width into *width. 0 or -1 (message). */
static int check_layer(lw_model *m, const char *name, int layer, const char *flag, int *width) {
    lw_model_info info;
    lw_model_get_info(m, &info);
    if (layer < 0 || layer >= info.n_layer)
        return lw_fail("panel probes: %s %d: %s has blocks 0..%d", flag, layer, name, info.n_layer - 1);
    *width = info.n_embd;
    return 0;
}

/* A bridge where it was fitted: these blocks of these models, mean-pooled rows; a bridge of
 * another model pair maps rows from a space it never saw. */
static int check_fit(const char *path, const lw_bridge *b, int layer_src, const lw_model *src, int layer_dst,
                     const lw_model *dst) {
    char ls[32], ld[32];
    snprintf(ls, sizeof ls, "layer.%d", layer_src);
    snprintf(ld, sizeof ld, "layer.%d", layer_dst);
    if (lw_bridge_check_fit(b, "source", ls, lw_model_sha256(src), "mean") != 0 ||
        lw_bridge_check_fit(b, "target", ld, lw_model_sha256(dst), "mean") != 0)
        return lw_fail("panel probes: %s: %s", path, lw_last_error());
    return 0;
}

/* What the embeddings depend on (the records' settings; the panel adds its parameters): the
 * models by sha256 (a model's name when it has none), their blocks, GPU offload. */
static char *records_settings(const lw_probe_experiment_params *p, const lw_probe_pair *pair) {
    const char *sa = lw_model_sha256(p->model_a), *sb = lw_model_sha256(p->model_b);
    json_t *s = json_pack("{s:s, s:i, s:s, s:i}", "a", sa ? sa : pair->name_a, "layer_a", p->layer_a, "b",
                          sb ? sb : pair->name_b, "layer_b", p->layer_b);
    const lw_model *models[2] = {p->model_a, p->model_b};
    if (s) lw_json_settings_gpu_layers(s, models, 2);
    char *text = s ? json_dumps(s, JSON_COMPACT) : NULL;
    json_decref(s);
    return text;
}

static char *settings_text(const lw_probe_experiment_params *p, const lw_probe_pair *pair) {
    json_t *sj = json_pack("{s:s, s:i, s:s, s:i, s:s, s:s}", "a", pair->name_a, "layer_a", p->layer_a, "b",
                           pair->name_b, "layer_b", p->layer_b, "bridge", base_name(p->bridge), "inverse",
                           p->inverse ? base_name(p->inverse) : "fitted");
    char *text = sj ? json_dumps(sj, JSON_COMPACT) : NULL;
    json_decref(sj);
    return text;
}

int lw_probe_experiment_run(const lw_probe_experiment_params *p, lw_probe_result *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!p || !out) return lw_fail("panel probes: no %s", !p ? "parameters" : "result");
    if (!p->model_a || !p->model_b) return lw_fail("panel probes: no model %s", !p->model_a ? "A (--a)" : "B (--b)");
    /* "" read the MRPC files of /mrpc */
    if (!p->data_dir || !*p->data_dir) return lw_fail("panel probes: no data directory (--data)");
    char plan_sha[65];
    if (lw_probe_experiment_check(p) != 0 || lw_plan_file_sha256(p->plan, plan_sha) != 0) return -1;
    /* a model kept in OUT under an output's name (OUT/probes.json) was replaced by that output, exit
     * 0: the check above knows the plan and the bridges, the models' files are known here */
    for (int i = 0; i < 2; i++) {
        lw_model_info info;
        lw_model_get_info(i ? p->model_b : p->model_a, &info);
        const char *inputs[] = {i ? "--b" : "--a", info.path, NULL, NULL};
        if (lw_output_dir_check("--out", p->out_dir, OUTPUTS, inputs) != 0) return -1;
    }
    /* the names and the bridges' file names go into probes.json: one that is not UTF-8 failed
     * after every probe had run, as "out of memory" */
    const char *named[4][2] = {{"name_a", p->name_a}, {"name_b", p->name_b},
                               {"--bridge", p->bridge ? base_name(p->bridge) : NULL},
                               {"--inverse", p->inverse ? base_name(p->inverse) : NULL}};
    for (int i = 0; i < 4; i++)
        if (named[i][1] && !lw_json_utf8_ok(named[i][1]))
            return lw_fail("panel probes: %s: %s is not UTF-8, and probes.json records it: %s", named[i][0],
                           i < 2 ? "the name" : "the file name", i < 2 ? "give another name" : "rename the file");
    lw_probe_models models = {.model = {p->model_a, p->model_b}, .layer = {p->layer_a, p->layer_b},
                              .n_threads = p->n_threads};
    lw_probe_pair pair = {.name_a = p->name_a ? p->name_a : "A", .name_b = p->name_b ? p->name_b : "B",
                          .embed = lw_probe_embed_models, .user = &models};
    if (check_layer(p->model_a, pair.name_a, p->layer_a, "--layer-a", &pair.dim_a) != 0 ||
        check_layer(p->model_b, pair.name_b, p->layer_b, "--layer-b", &pair.dim_b) != 0)
        return -1;
    lw_bridge *bridge = lw_bridge_load(p->bridge), *inverse = NULL;
    int rc = bridge ? 0 : -1;
    if (rc == 0 && p->inverse && !(inverse = lw_bridge_load(p->inverse))) rc = -1;
    if (rc == 0) rc = check_fit(p->bridge, bridge, p->layer_a, p->model_a, p->layer_b, p->model_b);
    if (rc == 0 && inverse) rc = check_fit(p->inverse, inverse, p->layer_b, p->model_b, p->layer_a, p->model_a);
    pair.bridge = bridge, pair.inverse = inverse;
    size_t n_mrpc = strlen(p->data_dir) + 8, n_partial = strlen(p->out_dir) + 32;
    char *mrpc = malloc(n_mrpc), *partial = malloc(n_partial), *settings = NULL, *rec_settings = NULL, *created = NULL;
    if (rc == 0 && (!mrpc || !partial || !(rec_settings = records_settings(p, &pair))))
        rc = lw_fail("panel probes: out of memory");
    lw_probe_params pp = p->probes;
    if (rc == 0) {
        snprintf(mrpc, n_mrpc, "%s/mrpc", p->data_dir);
        snprintf(partial, n_partial, "%s/probes.partial", p->out_dir);
        pp.mrpc_dir = mrpc, pp.records_path = partial, pp.settings_json = rec_settings, pp.resume = p->resume;
        rc = lw_mkdir_p_created(p->out_dir, &created);
    }
    if (rc == 0) rc = lw_probe_panel(&pair, &pp, out);
    if (rc == 0 && !(settings = settings_text(p, &pair))) rc = lw_fail("panel probes: out of memory");
    if (rc == 0) rc = lw_probe_save(p->out_dir, &pair, &pp, out, plan_sha[0] ? plan_sha : NULL, settings);
    if (rc == 0) remove(partial); /* every number is in probes.json now; a failed run keeps the embeddings */
    else {
        lw_probe_result_free(out);
        if (created) lw_rmdir_created(p->out_dir, created);
    }
    free(settings), free(rec_settings), free(created), free(partial);
    free(mrpc);
    lw_bridge_free(bridge);
    lw_bridge_free(inverse);
    return rc;
}
