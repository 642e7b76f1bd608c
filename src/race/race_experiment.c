/* `latentwire race` as one call (latentwire/race_experiment.h): what the verb did between parsing
 * its options and printing the table. The engine (lw_race_run) and the evaluation on real models
 * (lw_race_evaluator) stay where they are; this file only puts them together. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "eval/eval.h"
#include "common/error.h"
#include "latentwire/files.h"
#include "latentwire/json.h"
#include "latentwire/race_experiment.h"
#include "race/race_internal.h"

lw_race_experiment_params lw_race_experiment_default_params(void) {
    return (lw_race_experiment_params){.layer = "mid", .patch = lw_patch_default_params(), .calib = 100,
                                       .n_shards = 1, .resamples = 1000, .seed = 1};
}

int lw_race_experiment_check_outputs(const lw_race_experiment_params *p) {
    if (!p) return lw_fail("race: no parameters");
    if (!p->out_dir || !*p->out_dir) return lw_fail("race: no output directory (--out)");
    char partial[64], fits[64], timing[64];
    if (p->n_shards > 1) {
        snprintf(partial, sizeof partial, "race-shard-%d-of-%d.partial", p->shard, p->n_shards);
        snprintf(fits, sizeof fits, "fits-shard-%d-of-%d.json", p->shard, p->n_shards);
        snprintf(timing, sizeof timing, "timing-shard-%d-of-%d.json", p->shard, p->n_shards);
    } else {
        snprintf(partial, sizeof partial, "race.partial");
        snprintf(fits, sizeof fits, "fits.json");
        snprintf(timing, sizeof timing, "timing.json");
    }
    const char *const names[] = {"race.json", "race.csv", "race.jsonl", "records.jsonl", partial, fits, timing, NULL};
    return lw_output_dir_check("--out", p->out_dir, names, p->inputs);
}

int lw_race_resolve_layer(const char *option, const char *v, int n_layer, int *out) {
    long l = 0;
    char *end = NULL;
    errno = 0;
    if (!strcmp(v, "mid")) l = lw_layer_middle(n_layer);
    else if (!*v || (l = strtol(v, &end, 10), errno != 0 || *end) || l < -n_layer || l > n_layer - 1)
        return lw_fail("%s %s: must be mid or a layer in -%d..%d", option, v, n_layer, n_layer - 1);
    *out = lw_layer_index(l, n_layer);
    return 0;
}

/* The bridge is used at the layers and on the models it was fitted on. */
static int check_bridge(const lw_race_experiment_params *p, int layer, int rlayer) {
    char ta[32], tb[32];
    snprintf(ta, sizeof ta, "layer.%d", layer);
    snprintf(tb, sizeof tb, "layer.%d", rlayer);
    const char *path = p->bridge_path ? p->bridge_path : "--bridge";
    if (lw_bridge_check_fit(p->bridge, "source", ta, lw_model_sha256(lw_session_model(p->sender)), NULL) != 0 ||
        lw_bridge_check_fit(p->bridge, "target", tb, lw_model_sha256(lw_session_model(p->receiver)), NULL) != 0)
        return lw_fail_prefix("race: %s: ", path);
    return 0;
}

/* The reported and calibration items: the pool less --exclude, split with no sender text in both. */
static int split_items(const lw_race_experiment_params *p, lw_task *report, lw_task *calib,
                       lw_race_experiment_result *r) {
    lw_task pool = {0}, parts[2] = {{0}};
    if (lw_task_copy(p->pool, &pool) != 0) return -1;
    r->n_pool = pool.n;
    if (p->exclude) {
        lw_task other = {0};
        int removed = lw_task_load(p->exclude, &other) == 0 ? lw_task_exclude(&pool, &other) : -1;
        lw_task_free(&other);
        if (removed < 0) {
            lw_task_free(&pool);
            return lw_fail_prefix("race: --exclude %s: ", p->exclude);
        }
        r->n_excluded = removed;
    }
    int sizes[2] = {p->calib, p->n_report}, rc = 0;
    char left[160] = ""; /* what --exclude took, said where the rest is too small */
    if (p->exclude)
        snprintf(left, sizeof left, " (--exclude removed %d of the task's %d items, leaving %d)", r->n_excluded, r->n_pool,
                 pool.n);
    if (lw_task_split(&pool, sizes, 2, p->seed ^ 0x7ace, parts) != 0)
        rc = lw_fail_prefix("race: --task %s%s: ", p->task, left);
    lw_task_free(&pool);
    *calib = parts[0];
    *report = parts[1];
    if (rc == 0 && report->n == 0) rc = lw_fail("race: --task %s has no items to report", p->task);
    int with_text = 0;
    for (int i = 0; rc == 0 && i < report->n; i++) with_text += report->items[i].sender && *report->items[i].sender;
    if (rc == 0 && with_text == 0) /* every channel would be the floor (gsm8k, bio: one model answers alone) */
        rc = lw_fail("race: --task %s: no reported item has a sender text, so no channel has anything to carry "
                     "(gsm8k and bio are tasks one model answers alone: use debate)",
                     p->task);
    return rc;
}

/* The settings a resumed run must share (and race.json records), named by the CLI's options. */
static json_t *settings_json(const lw_race_experiment_params *p, const lw_task *parts, int layer, int rlayer) {
    char th[65], bh[65] = "";
    lw_task_parts_sha256(parts, 2, th);
    if (p->bridge_path && lw_sha256_file(p->bridge_path, bh) != 0) bh[0] = '\0';
    const lw_model *ms = lw_session_model(p->sender), *mr = lw_session_model(p->receiver);
    const char *hs = lw_model_sha256(ms), *hr = lw_model_sha256(mr);
    const lw_patch_params *pt = &p->patch;
    json_t *s = json_pack("{s:s, s:s, s:s, s:s, s:o, s:i, s:i, s:i, s:b, s:s, s:f, s:i, s:b, s:i, s:I}", "--sender",
                          hs ? hs : p->sender_name, "--receiver", hr ? hr : p->receiver_name, "--task", p->task,
                          "items_sha256", th, "--bridge", p->bridge ? json_string(bh) : json_null(), "--layer", layer,
                          "--receiver-layer", rlayer, "--positions", pt->positions, "--pooled", pt->pooled, "--op",
                          pt->op == LW_PATCH_ADD ? "add" : "replace", "--scale", (double)pt->scale,
                          "--answer-tokens", pt->answer_tokens, "--chat", pt->chat, "--calib", p->calib, "--seed",
                          (json_int_t)p->seed);
    if (!s) return NULL;
    if (p->plan_sha256) json_object_set_new(s, "plan_sha256", json_string(p->plan_sha256));
    if (p->cipher_steps) json_object_set_new(s, "--cipher-steps", json_integer(p->cipher_steps));
    if (pt->task_vector) json_object_set_new(s, "--task-vector", json_true()); /* only when set: older records resume */
    char eh[65];
    if (p->exclude && lw_sha256_file(p->exclude, eh) == 0) json_object_set_new(s, "--exclude", json_string(eh));
    const lw_model *models[2] = {ms, mr};
    lw_json_settings_gpu_layers(s, models, 2);
    return s;
}

/* The codecs' fit records beside the outputs; a resumed run fits only what it still needs, so
 * what it fitted joins the earlier file's records. */
static int write_fits(const lw_race_experiment_params *p, const lw_race_evaluator *ev) {
    char path[4096], *text = lw_race_evaluator_fits_json(ev);
    if (p->n_shards > 1) snprintf(path, sizeof path, "%s/fits-shard-%d-of-%d.json", p->out_dir, p->shard, p->n_shards);
    else snprintf(path, sizeof path, "%s/fits.json", p->out_dir);
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    /* A resumed run fits only what it still needs and adds to the fits of the run it resumes; any
     * other run starts the file afresh (an earlier run's fits, made with other settings, stayed) */
    if (!p->resume) {
        int rc = j ? lw_json_save(path, j) : lw_fail("race: the codecs' fit records are not JSON");
        json_decref(j);
        return rc;
    }
    if (j && json_object_size(j) == 0 && access(path, F_OK) == 0) { /* fitted nothing: the earlier file stays */
        json_decref(j);
        return 0;
    }
    json_t *old = json_load_file(path, 0, NULL);
    if (json_is_object(old) && j) {
        json_object_update(old, j);
        json_decref(j);
        j = json_incref(old);
    }
    json_decref(old);
    int rc = j ? lw_json_save(path, j) : lw_fail("race: the codecs' fit records are not JSON");
    json_decref(j);
    return rc;
}

static void families(const lw_race_experiment_params *p, lw_race_setup *s) {
    for (int c = 0; c < p->n_channels; c++) {
        const lw_race_channel *ch = &p->channels[c];
        s->activations |= ch->family == LW_RACE_ACT || ch->family == LW_RACE_MEAN;
        s->cipher |= ch->family == LW_RACE_CIPHER;
        s->texts |= ch->family == LW_RACE_CEILING || ch->family == LW_RACE_TEXT;
        s->text_codecs |= ch->family == LW_RACE_TEXT && ch->codec != LW_CODEC_SUMMARY;
        s->summary |= ch->family == LW_RACE_TEXT && ch->codec == LW_CODEC_SUMMARY;
    }
}

int lw_race_experiment_run(const lw_race_experiment_params *p, lw_race_experiment_result *out) {
    if (!p || !out) return lw_fail("race: no %s", !p ? "parameters" : "result to fill");
    memset(out, 0, sizeof *out);
    if (!p->sender || !p->receiver || !p->pool || !p->task)
        return lw_fail("race: the sender, the receiver and the task's items are required");
    /* else every cell's interval fails after the whole run, and race.json holds none */
    if (lw_eval_check_resampling("race: --resamples", p->resamples, 0.95) != 0) return -1;
    /* JSON has no NaN: the settings record could not be written (it said "out of memory") */
    if (!isfinite(p->patch.scale)) return lw_fail("race: the patch scale %g is not a finite number (--scale)", (double)p->patch.scale);
    if (lw_race_experiment_check_outputs(p) != 0) return -1;
    lw_model_info is, ir;
    lw_model_get_info(lw_session_model(p->sender), &is);
    lw_model_get_info(lw_session_model(p->receiver), &ir);
    const char *layer = p->layer ? p->layer : "mid";
    if (lw_race_resolve_layer("--layer", layer, is.n_layer, &out->sender_layer) != 0 ||
        lw_race_resolve_layer("--receiver-layer", p->receiver_layer ? p->receiver_layer : layer, ir.n_layer,
                      &out->receiver_layer) != 0)
        return -1;
    if (p->bridge && check_bridge(p, out->sender_layer, out->receiver_layer) != 0) return -1;
    lw_task parts[2] = {{0}}; /* calibration, reported */
    if (split_items(p, &parts[1], &parts[0], out) != 0) {
        lw_task_free(&parts[0]);
        lw_task_free(&parts[1]);
        return -1;
    }
    out->n_calib = parts[0].n;
    out->n_report = parts[1].n;
    int n_shards = p->n_shards > 0 ? p->n_shards : 1;
    if (n_shards > parts[1].n) { /* a shard with no item does nothing, and N near 2^31 overflowed below */
        lw_fail("race: %d shards for %d reported items: give N at most %d in --shard I/N", n_shards, parts[1].n,
                parts[1].n);
        lw_task_free(&parts[0]);
        lw_task_free(&parts[1]);
        return -1;
    }
    out->n_in_shard = (int)(((int64_t)parts[1].n - p->shard + n_shards - 1) / n_shards);
    lw_race_setup s = {.sender = p->sender, .receiver = p->receiver, .bridge = p->bridge,
                       .sender_layer = out->sender_layer, .receiver_layer = out->receiver_layer, .patch = p->patch,
                       .seed = p->seed, .threads = p->threads, .cipher_steps = p->cipher_steps};
    families(p, &s);
    int rc = -1;
    json_t *settings = NULL;
    char *settings_text = NULL, **ids = NULL;
    lw_race_evaluator *ev = lw_race_evaluator_new(&s, &parts[1], &parts[0]);
    if (!ev) goto done;
    if (p->on_ready) p->on_ready(p->progress_ctx, out);
    settings = settings_json(p, parts, out->sender_layer, out->receiver_layer);
    settings_text = settings ? json_dumps(settings, JSON_COMPACT) : NULL;
    ids = malloc(sizeof *ids * (size_t)(parts[1].n > 0 ? parts[1].n : 1));
    if (!settings_text || !ids) {
        lw_fail("race: out of memory");
        goto done;
    }
    for (int i = 0; i < parts[1].n; i++) ids[i] = parts[1].items[i].id;
    lw_race_params rp = lw_race_default_params();
    rp.out_dir = p->out_dir;
    rp.settings_json = settings_text;
    rp.channels = p->channels;
    rp.n_channels = p->n_channels;
    rp.budgets = p->budgets;
    rp.n_budgets = p->n_budgets;
    rp.item_ids = (const char *const *)ids;
    rp.n_items = parts[1].n;
    rp.shard = p->shard;
    rp.n_shards = n_shards;
    rp.resume = p->resume;
    rp.resamples = p->resamples;
    rp.seed = p->seed;
    rp.eval = lw_race_evaluate;
    rp.eval_ctx = ev;
    rp.on_progress = p->on_progress;
    rp.progress_ctx = p->progress_ctx;
    if (lw_race_run(&rp) != 0 || write_fits(p, ev) != 0) goto done;
    if (n_shards == 1) {
        char path[4096];
        size_t len;
        snprintf(path, sizeof path, "%s/race.json", p->out_dir);
        if (!(out->report_json = lw_read_file(path, &len))) goto done;
    }
    rc = 0;
done:
    lw_race_evaluator_free(ev);
    free(ids);
    free(settings_text);
    json_decref(settings);
    lw_task_free(&parts[0]);
    lw_task_free(&parts[1]);
    return rc;
}

void lw_race_experiment_result_free(lw_race_experiment_result *r) {
    if (!r) return;
    free(r->report_json);
    r->report_json = NULL;
}
