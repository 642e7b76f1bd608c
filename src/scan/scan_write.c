/* The scan's report files: scan.json (every number with its interval and n) and scan.csv. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/jsonio.h"
#include "eval/ci_json.h"
#include "latentwire/scan.h"

static json_t *ids(const lw_task *t) {
    json_t *a = json_array();
    for (int i = 0; i < t->n; i++) json_array_append_new(a, json_string(t->items[i].id));
    return a;
}

static json_t *scan_json(const lw_scan_result *r) {
    json_t *root = json_object();
    json_t *settings = r->settings_json ? json_loads(r->settings_json, 0, NULL) : NULL;
    json_object_set_new(root, "settings", settings ? settings : json_object());
    json_object_set_new(root, "splits", json_pack("{s:o, s:o}", "select", ids(&r->select), "held_out", ids(&r->held_out)));
    json_t *layers = json_array();
    for (int k = 0; k < r->n_layers; k++) {
        const lw_scan_layer *l = &r->layers[k];
        json_array_append_new(layers, json_pack("{s:i, s:i, s:o, s:o}", "layer", l->layer, "receiver_layer",
                                                l->receiver_layer, "select", lw_ci_json(&l->select), "held_out",
                                                lw_ci_json(&l->held_out)));
    }
    json_object_set_new(root, "layers", layers);
    json_object_set_new(root, "floor", json_pack("{s:o, s:o}", "select", lw_ci_json(&r->floor_select), "held_out",
                                                 lw_ci_json(&r->floor)));
    json_object_set_new(root, "ceiling", json_pack("{s:o, s:o}", "select", lw_ci_json(&r->ceiling_select), "held_out",
                                                   lw_ci_json(&r->ceiling)));
    const lw_scan_layer *c = &r->layers[r->chosen];
    const lw_ci *d = &r->chosen_minus_floor;
    json_t *diff = json_pack("{s:f, s:f, s:f, s:i, s:f, s:s}", "mean", d->mean, "lo", d->lo, "hi", d->hi, "n", d->n,
                             "p_value", r->chosen_p_value, "method", d->method ? d->method : "");
    json_object_set_new(root, "chosen",
                        json_pack("{s:i, s:i, s:s, s:o, s:o, s:o}", "layer", c->layer, "receiver_layer",
                                  c->receiver_layer, "rule", "highest selection exact match; ties: the first layer listed",
                                  "select", lw_ci_json(&c->select), "held_out", lw_ci_json(&c->held_out),
                                  "minus_floor", diff));
    return root;
}

static void csv_row(FILE *f, const char *split, const char *cond, int layer, int rlayer, const lw_ci *ci) {
    char l[16] = "", rl[16] = "";
    if (layer >= 0) snprintf(l, sizeof l, "%d", layer);
    if (rlayer >= 0) snprintf(rl, sizeof rl, "%d", rlayer);
    fprintf(f, "%s,%s,%s,%s,%.6f,%.6f,%.6f,%d,%s\n", split, cond, l, rl, ci->mean, ci->lo, ci->hi, ci->n,
            ci->method ? ci->method : "");
}

static int write_csv(const lw_scan_result *r, const char *path) {
    lw_atomic_file af;
    if (lw_atomic_open(&af, path) != 0) return -1;
    FILE *f = af.fp;
    fprintf(f, "split,condition,layer,receiver_layer,mean,lo,hi,n,method\n");
    const char *splits[2] = {"select", "held_out"};
    for (int s = 0; s < 2; s++) {
        csv_row(f, splits[s], "floor", -1, -1, s ? &r->floor : &r->floor_select);
        csv_row(f, splits[s], "ceiling", -1, -1, s ? &r->ceiling : &r->ceiling_select);
        for (int k = 0; k < r->n_layers; k++)
            csv_row(f, splits[s], "layer", r->layers[k].layer, r->layers[k].receiver_layer,
                    s ? &r->layers[k].held_out : &r->layers[k].select);
    }
    const lw_scan_layer *c = &r->layers[r->chosen];
    csv_row(f, "held_out", "chosen", c->layer, c->receiver_layer, &c->held_out);
    csv_row(f, "held_out", "chosen-floor", c->layer, c->receiver_layer, &r->chosen_minus_floor);
    return lw_atomic_commit(&af);
}

int lw_scan_write(const lw_scan_result *r, const char *dir) {
    if (!r || !dir || r->n_layers < 1) return lw_fail("scan: nothing to write");
    /* the three files appear together or not at all: a failure between them left a mix of this
     * run's and the previous run's */
    if (lw_atomic_group_begin() != 0) return -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/scan.csv", dir);
    int rc = write_csv(r, path);
    /* the items the layer was chosen on, as a task file: a later run on the chosen layer
     * (race --exclude) leaves them out, so it reports on none of them */
    snprintf(path, sizeof path, "%s/scan.select.jsonl", dir);
    if (rc == 0) rc = lw_task_save(path, &r->select);
    snprintf(path, sizeof path, "%s/scan.json", dir);
    json_t *root = rc == 0 ? scan_json(r) : NULL;
    if (rc == 0) rc = lw_json_save(path, root);
    json_decref(root);
    return lw_atomic_group_finish(rc);
}
