/* `latentwire scan` as one call (lw_scan_experiment_run in latentwire/scan.h): the layer lists,
 * the bridges' checks, the settings fingerprint and the records' life (partial, then renamed)
 * around lw_scan_run, which does the scan itself. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/error.h"
#include "latentwire/files.h"
#include "latentwire/json.h"
#include "latentwire/scan.h"
#include "latentwire/textio.h"

int lw_scan_task_load(const char *spec, const char *data_dir, int k_shot, int n_items, uint64_t seed, lw_task *out) {
    lw_task_spec_params p = lw_task_spec_default_params();
    p.data_dir = data_dir;
    p.k_shot = k_shot;
    p.n = n_items;
    p.seed = seed;
    p.fv_format = LW_TASK_FV_SKILL;
    p.kinds = LW_TASK_SPEC_SKILL | LW_TASK_SPEC_FV | LW_TASK_SPEC_FILE;
    return lw_task_from_spec(spec, &p, out);
}

lw_scan_experiment_params lw_scan_experiment_default_params(void) {
    return (lw_scan_experiment_params){.k_shot = 5, .layers = "all", .patch = lw_patch_default_params(),
                                       .n_select = 20, .n_report = 40, .seed = 1, .resamples = 1000};
}

/* Sender layers, and the receiver's for each: listed, the same numbers (one model), or the
 * same relative depth (two models). The count, or -1 (message set). */
static int layer_lists(const lw_scan_experiment_params *p, int nA, int nB, int **la, int **lb) {
    *la = *lb = NULL;
    const char *layers = p->layers ? p->layers : "all";
    int n = lw_layer_list_parse(layers, nA, la);
    if (n < 0) return lw_fail_prefix("--layers %s: ", layers);
    for (int k = 0; k < n; k++)
        if ((*la)[k] < 0) return lw_fail("--layers %s: the scan patches block outputs; embed is not one", layers);
    *lb = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!*lb) return lw_fail("out of memory");
    if (p->receiver_layers) {
        char **item;
        int m = lw_list_split("--receiver-layers", p->receiver_layers, &item);
        if (m < 0) return -1;
        int rc = m == n ? 0 : lw_fail("--receiver-layers %s: %d layers for the %d of --layers", p->receiver_layers, m, n);
        for (int k = 0; rc == 0 && k < n; k++) {
            char *end;
            errno = 0;
            long v = strtol(item[k], &end, 10);
            if (end == item[k] || *end || errno || v < -4096 || v > 4095 || lw_layer_index(v, nB) < 0)
                rc = lw_fail("--receiver-layers %s: layer \"%s\" is out of range: the receiver has layers 0..%d "
                             "(negative counts from the end)", p->receiver_layers, item[k], nB - 1);
            else (*lb)[k] = lw_layer_index(v, nB);
        }
        free(item);
        return rc == 0 ? n : -1;
    }
    for (int k = 0; k < n; k++) /* relative depth: 0 -> 0, last -> last */
        (*lb)[k] = nA == nB || nA == 1 ? (*la)[k] : (int)lround((double)(*la)[k] * (nB - 1) / (nA - 1));
    return n;
}

/* Each bridge against the models it was fitted on, and its layers when it serves one pair of them
 * (one bridge given for several layers is used at each). A bridge of the wrong widths passes here:
 * lw_scan_run's refusal names both widths, which says more. */
static int check_bridges(const lw_scan_experiment_params *p, const int *la, const int *lb, int n_layers,
                         const lw_model_info *ia, const lw_model_info *ib) {
    if (p->n_bridges > 1 && p->n_bridges != n_layers)
        return lw_fail("--bridge: %d bridges for the %d layers of --layers %s (give one, or one per layer)",
                       p->n_bridges, n_layers, p->layers ? p->layers : "all");
    const char *sa = lw_model_sha256(lw_session_model(p->sender)), *sb = lw_model_sha256(lw_session_model(p->receiver));
    bool one_site = p->n_bridges > 1 || n_layers == 1;
    for (int k = 0; k < p->n_bridges; k++) {
        const lw_bridge *b = p->bridges[k];
        if (lw_bridge_source_dim(b) != ia->n_embd || lw_bridge_target_dim(b) != ib->n_embd) continue;
        char ta[32], tb[32];
        snprintf(ta, sizeof ta, "layer.%d", la[k < n_layers ? k : 0]);
        snprintf(tb, sizeof tb, "layer.%d", lb[k < n_layers ? k : 0]);
        if (lw_bridge_check_fit(b, "source", one_site ? ta : NULL, sa, NULL) != 0 ||
            lw_bridge_check_fit(b, "target", one_site ? tb : NULL, sb, NULL) != 0)
            return lw_fail_prefix("%s: ", p->bridge_paths && p->bridge_paths[k] ? p->bridge_paths[k] : "--bridge");
    }
    return 0;
}

/* The settings a resumed run must share (recorded in scan.json), named by the CLI's options. */
static json_t *settings(const lw_scan_experiment_params *p) {
    json_t *bridges = json_array();
    for (int k = 0; k < p->n_bridges; k++) {
        char bh[65];
        const char *path = p->bridge_paths ? p->bridge_paths[k] : NULL;
        json_array_append_new(bridges, json_string(path && lw_sha256_file(path, bh) == 0 ? bh : path ? path : ""));
    }
    const lw_model *ma = lw_session_model(p->sender), *mb = lw_session_model(p->receiver);
    const char *sa = lw_model_sha256(ma), *sb = lw_model_sha256(mb);
    const lw_patch_params *pt = &p->patch;
    json_t *s = json_object();
    json_object_set_new(s, "--sender", json_string(sa ? sa : p->sender_name ? p->sender_name : ""));
    json_object_set_new(s, "--receiver", json_string(sb ? sb : p->receiver_name ? p->receiver_name : ""));
    json_object_set_new(s, "--task", json_string(p->task ? p->task : ""));
    json_object_set_new(s, "--k-shot", json_integer(p->k_shot));
    json_object_set_new(s, "--positions", pt->pooled ? json_string("pooled") : json_integer(pt->positions));
    json_object_set_new(s, "--op", json_string(pt->op == LW_PATCH_ADD ? "add" : "replace"));
    json_object_set_new(s, "--scale", json_real((double)pt->scale));
    json_object_set_new(s, "--answer-tokens", json_integer(pt->answer_tokens));
    json_object_set_new(s, "--chat", json_boolean(pt->chat));
    if (pt->task_vector) /* only when set: the records of runs without it keep resuming */
        json_object_set_new(s, "--task-vector", json_true());
    json_object_set_new(s, "--seed", json_integer((json_int_t)p->seed));
    json_object_set_new(s, "--bridge", bridges);
    const lw_model *models[2] = {ma, mb};
    lw_json_settings_gpu_layers(s, models, 2);
    return s;
}

static int check_outputs(const lw_scan_experiment_params *p) {
    static const char *const outputs[] = {"scan.json", "scan.csv", "scan.partial", "scan.records.jsonl",
                                          "scan.select.jsonl", NULL};
    if (!p->out_dir || !*p->out_dir) return lw_fail("scan: no output directory (--out)");
    return lw_output_dir_check("--out", p->out_dir, outputs, p->inputs);
}

int lw_scan_experiment_run(const lw_scan_experiment_params *p, lw_scan_result *out) {
    if (!p || !out) return lw_fail("lw_scan_experiment_run: %s is NULL", !p ? "params" : "out");
    memset(out, 0, sizeof *out);
    if (!p->sender || !p->receiver || !p->pool) return lw_fail("scan: the sender, the receiver and the items are required");
    if (p->n_bridges < 0 || (p->n_bridges > 0 && !p->bridges)) return lw_fail("scan: n_bridges without bridges");
    /* a NULL entry (a bridge that failed to load) ran the scan unmapped while the settings recorded
     * its file: refused, not read as "no bridge" */
    for (int k = 0; k < p->n_bridges; k++)
        if (!p->bridges[k])
            return lw_fail("--bridge %s: bridge %d is NULL (load it first, or give no bridge)",
                           p->bridge_paths && p->bridge_paths[k] ? p->bridge_paths[k] : "?", k);
    if (check_outputs(p) != 0) return -1;
    lw_model_info ia, ib;
    lw_model_get_info(lw_session_model(p->sender), &ia);
    lw_model_get_info(lw_session_model(p->receiver), &ib);
    int *la = NULL, *lb = NULL, rc = -1;
    const lw_bridge **per_layer = NULL;
    json_t *set = NULL;
    char *set_text = NULL, *created = NULL, partial[4200], done_path[4200];
    bool made_dir = false;
    int n_layers = layer_lists(p, ia.n_layer, ib.n_layer, &la, &lb);
    if (n_layers < 0 || check_bridges(p, la, lb, n_layers, &ia, &ib) != 0) goto done;
    if (p->n_bridges) {
        if (!(per_layer = malloc(sizeof *per_layer * (size_t)n_layers))) {
            lw_fail("out of memory");
            goto done;
        }
        for (int k = 0; k < n_layers; k++) per_layer[k] = p->bridges[p->n_bridges == 1 ? 0 : k];
    }
    set = settings(p);
    if (!set || !(set_text = json_dumps(set, JSON_COMPACT))) {
        lw_fail("scan: out of memory");
        goto done;
    }
    if (lw_mkdir_p_created(p->out_dir, &created) != 0) goto done;
    made_dir = true;
    snprintf(partial, sizeof partial, "%s/scan.partial", p->out_dir);
    snprintf(done_path, sizeof done_path, "%s/scan.records.jsonl", p->out_dir);
    lw_scan_params sp = lw_scan_default_params();
    sp.layers = la;
    sp.receiver_layers = lb;
    sp.n_layers = n_layers;
    sp.n_select = p->n_select;
    sp.n_report = p->n_report;
    sp.seed = p->seed;
    sp.records = partial;
    sp.resume = p->resume;
    sp.settings_json = set_text;
    sp.resamples = p->resamples;
    sp.progress = p->progress;
    sp.progress_ctx = p->progress_ctx;
    /* --resume after a finished run reads its records (scan.records.jsonl) in place, so a rerun (make
     * demo again) reuses them instead of scoring every item again; they are copied into the partial,
     * and records made with other settings are refused naming the file they are in */
    if (p->resume && access(partial, F_OK) != 0 && access(done_path, F_OK) == 0) sp.resume_from = done_path;
    lw_scan_models m = {.sender = p->sender, .receiver = p->receiver, .patch = p->patch, .bridges = per_layer};
    if (lw_scan_run(p->pool, &sp, &m, out) != 0 || lw_scan_write(out, p->out_dir) != 0) goto done;
    if (rename(partial, done_path) != 0) {
        lw_fail("scan: cannot rename %s to %s: %s", partial, done_path, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    /* a failed run leaves its records (for --resume) and nothing else it made */
    if (rc != 0 && made_dir && access(partial, F_OK) != 0) lw_rmdir_created(p->out_dir, created);
    free(created);
    free(set_text);
    json_decref(set);
    free(per_layer);
    free(la);
    free(lb);
    return rc;
}
