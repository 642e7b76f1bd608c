/* The race engine: channels, the per-record run (resumable, sharded), the merge of shard
 * partials into race.jsonl, race.json and race.csv. Models enter only through the evaluation
 * callback (race_eval.c on real models). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eval/eval.h"
#include "common/error.h"
#include "common/fileio.h"
#include "latentwire/json.h"
#include "common/jsonio.h"
#include "common/records.h"
#include "race/race_internal.h"

static const char *const RECORD_KEY[] = {"channel", "budget", "id"};

int lw_race_channel_parse(const char *spec, lw_race_channel *out) {
    if (!out) return lw_fail("lw_race_channel_parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (!spec) spec = "";
    if (!strcmp(spec, "floor") || !strcmp(spec, "ceiling") || !strcmp(spec, "mean")) {
        out->family = spec[0] == 'f' ? LW_RACE_FLOOR : spec[0] == 'c' ? LW_RACE_CEILING : LW_RACE_MEAN;
        snprintf(out->name, sizeof out->name, "%s", spec);
        return 0;
    }
    if (!strcmp(spec, "cipher")) {
        out->family = LW_RACE_CIPHER;
        out->competes = true;
        snprintf(out->name, sizeof out->name, "%s", spec);
        return 0;
    }
    bool act = !strncmp(spec, "act:", 4), text = !strncmp(spec, "text:", 5);
    if (!act && !text)
        return lw_fail("channel \"%s\": use floor, ceiling, mean, act:CODEC (topk, pcaq, token-sparse, sae, pq), "
                       "text:CODEC (zlib, brotli, brotli-dict, zstd, zstd-dict, truncate, lm-arith, summary) or cipher",
                       spec);
    const char *name = spec + (act ? 4 : 5);
    int k = lw_codec_from_name(name);
    if (k < 0) return lw_fail_prefix("channel \"%s\": ", spec);
    if (lw_codec_kind_is_text((lw_codec_kind)k) == act)
        return lw_fail("channel \"%s\": %s is a%s codec: use %s:%s", spec, name, act ? " text" : "n activation",
                       act ? "text" : "act", name);
    out->family = act ? LW_RACE_ACT : LW_RACE_TEXT;
    out->codec = (lw_codec_kind)k;
    out->competes = lw_codec_kind_competes((lw_codec_kind)k);
    snprintf(out->name, sizeof out->name, "%s", spec);
    return 0;
}

bool lw_race_channel_budgeted(const lw_race_channel *ch) {
    if (!ch) return lw_fail("lw_race_channel_budgeted: the channel is NULL"), false;
    return ch->family == LW_RACE_ACT || ch->family == LW_RACE_TEXT || ch->family == LW_RACE_CIPHER;
}

lw_race_params lw_race_default_params(void) {
    lw_race_params p;
    memset(&p, 0, sizeof p);
    p.n_shards = 1;
    p.resamples = 1000;
    p.level = 0.95;
    p.seed = 1;
    return p;
}

/* DIR/STEM.EXT, or DIR/STEM-shard-I-of-N.EXT for a shard of N > 1 (malloc'd). */
char *lw_race_shard_path(const char *out_dir, const char *stem, const char *ext, int shard, int n_shards) {
    size_t n = strlen(out_dir) + strlen(stem) + strlen(ext) + 64;
    char *p = malloc(n);
    if (!p) return NULL;
    if (n_shards <= 1) snprintf(p, n, "%s/%s.%s", out_dir, stem, ext);
    else snprintf(p, n, "%s/%s-shard-%d-of-%d.%s", out_dir, stem, shard, n_shards, ext);
    return p;
}

char *lw_race_partial_path(const char *out_dir, int shard, int n_shards) {
    if (!out_dir) return lw_fail("lw_race_partial_path: out_dir is NULL"), NULL;
    if (n_shards < 1 || shard < 0 || shard >= n_shards)
        return lw_fail("lw_race_partial_path: shard %d of %d is not one of [0, %d)", shard, n_shards, n_shards), NULL;
    return lw_race_shard_path(out_dir, "race", "partial", shard, n_shards);
}

char *lw_race_prompt(const char *message, const char *query) {
    if (!message || !query) return lw_fail("lw_race_prompt: %s is NULL", message ? "the query" : "the message"), NULL;
    size_t m = strlen(message), q = strlen(query);
    bool sep = m > 0 && message[m - 1] != '\n';
    char *s = malloc(m + q + 2);
    if (s) snprintf(s, m + q + 2, "%s%s%s", message, sep ? "\n" : "", query);
    return s;
}

const char *lw_race_query(const lw_task_item *item) {
    if (!item || !item->receiver) return lw_fail("lw_race_query: %s is NULL", item ? "the item's receiver" : "the item"), NULL;
    if (!item->sender) return item->receiver;
    size_t m = strlen(item->sender);
    if (m > 0 && !strncmp(item->receiver, item->sender, m) && item->receiver[m]) return item->receiver + m;
    return item->receiver;
}

/* ------------------------------------------------------------------ the run */

static int by_string(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The parameters a run is checked against before anything is written. */
static int check_params(const lw_race_params *p) {
    if (!p->out_dir) return lw_fail("race: no output directory");
    if (!p->eval) return lw_fail("race: no evaluation callback");
    if (p->n_channels < 1 || !p->channels) return lw_fail("race: no channels");
    if (p->n_items < 1 || !p->item_ids) return lw_fail("race: no items");
    if (p->n_shards < 1 || p->shard < 0 || p->shard >= p->n_shards)
        return lw_fail("race: shard %d/%d: the shard must lie in 0..%d", p->shard, p->n_shards, p->n_shards - 1);
    if (!(p->level > 0 && p->level < 1)) return lw_fail("race: level %g must lie in (0, 1)", p->level);
    if (lw_eval_check_resampling("race", p->resamples, p->level) != 0) return -1; /* before the work, not after */
    if (p->resamples > LW_RACE_MAX_RESAMPLES) /* the merge refuses more: a settings line no run writes */
        return lw_fail("race: resamples must be at most %d (got %d)", LW_RACE_MAX_RESAMPLES, p->resamples);
    bool budgeted = false;
    for (int c = 0; c < p->n_channels; c++) {
        budgeted |= lw_race_channel_budgeted(&p->channels[c]);
        for (int e = 0; e < c; e++)
            if (!strcmp(p->channels[c].name, p->channels[e].name))
                return lw_fail("race: channel %s is listed twice", p->channels[c].name);
    }
    if (budgeted && p->n_budgets < 1) return lw_fail("race: act:, text: and cipher channels need at least one budget");
    if (p->n_budgets > 0 && !p->budgets) return lw_fail("race: budgets is NULL with n_budgets = %d", p->n_budgets);
    for (int b = 0; b < p->n_budgets; b++) {
        if (p->budgets[b] <= 0 || p->budgets[b] > LW_RACE_MAX_BUDGET)
            return lw_fail("race: budget %lld bits: a budget must be a positive number of bits, at most 2^40",
                           (long long)p->budgets[b]);
        for (int e = 0; e < b; e++)
            if (p->budgets[e] == p->budgets[b])
                return lw_fail("race: budget %lld bits is listed twice", (long long)p->budgets[b]);
    }
    for (int i = 0; i < p->n_items; i++)
        if (!p->item_ids[i]) return lw_fail("race: item %d has no id", i);
    /* records are found by id: a second item of one id was never run, the first one's record
     * standing for both (the merge refused the file only after the whole run) */
    char **ids = malloc(sizeof *ids * (size_t)p->n_items);
    if (!ids) return lw_fail("race: out of memory");
    memcpy(ids, p->item_ids, sizeof *ids * (size_t)p->n_items);
    qsort(ids, (size_t)p->n_items, sizeof *ids, by_string);
    int rc = 0;
    for (int i = 1; rc == 0 && i < p->n_items; i++)
        if (!strcmp(ids[i - 1], ids[i])) rc = lw_fail("race: item id %s is listed twice (ids must be distinct)", ids[i]);
    free(ids);
    return rc;
}

/* The fingerprint: the caller's settings, the race's own (channels, budgets, item ids, interval
 * settings) and the shard. NULL (message set) when settings_json is not a JSON object. */
static json_t *run_settings(const lw_race_params *p) {
    json_t *user = p->settings_json ? json_loads(p->settings_json, 0, NULL) : json_object();
    if (!json_is_object(user)) {
        json_decref(user);
        lw_fail("race: the settings are not a JSON object");
        return NULL;
    }
    json_t *ch = json_array(), *bu = json_array(), *it = json_array();
    for (int c = 0; c < p->n_channels; c++) json_array_append_new(ch, json_string(p->channels[c].name));
    for (int b = 0; b < p->n_budgets; b++) json_array_append_new(bu, json_integer(p->budgets[b]));
    for (int i = 0; i < p->n_items; i++) json_array_append_new(it, json_string(p->item_ids[i]));
    char shard[48];
    snprintf(shard, sizeof shard, "%d/%d", p->shard, p->n_shards);
    json_object_set_new(user, "race",
                        json_pack("{s:o, s:o, s:o, s:i, s:f, s:I, s:s}", "channels", ch, "budgets", bu, "items", it,
                                  "resamples", p->resamples, "level", p->level, "seed", (json_int_t)p->seed, "shard",
                                  shard));
    return user;
}

/* The first setting that differs, as "race.budgets" for the race's own. */
static void settings_difference(json_t *want, json_t *have, char *out, size_t cap) {
    const char *d = lw_settings_differ(want, have);
    const char *sub = d && !strcmp(d, "race") && json_is_object(json_object_get(have, "race"))
                          ? lw_settings_differ(json_object_get(want, "race"), json_object_get(have, "race"))
                          : NULL;
    snprintf(out, cap, "%s%s%s", d ? d : "", sub ? "." : "", sub ? sub : "");
}

static json_t *record_json(const lw_race_channel *ch, int64_t budget, const char *id, const lw_race_outcome *o) {
    json_t *r = json_pack("{s:s, s:I, s:s}", "channel", ch->name, "budget", (json_int_t)budget, "id", id);
    if (o->na[0]) {
        json_object_set_new(r, "score", json_null());
        /* whole characters: a reason holding a path's bytes that are not UTF-8 gave json_string NULL,
         * and the record had neither a score nor a reason */
        json_object_set_new(r, "na", lw_json_text(o->na));
        return r;
    }
    json_object_set_new(r, "score", json_real(o->score));
    json_object_set_new(r, "payload_bits", json_integer(o->payload_bits));
    json_object_set_new(r, "side_bits", json_integer(o->side_bits));
    json_object_set_new(r, "output", json_string(o->output ? o->output : ""));
    if (!json_object_get(r, "output")) json_object_set_new(r, "output", json_string("")); /* not UTF-8 */
    return r;
}

/* Runs one (channel, budget, item) unless the records have it; appends its record. */
static int run_one(const lw_race_params *p, const lw_race_channel *ch, int64_t budget, int item,
                   const lw_records *past, FILE *f, double *seconds) {
    json_t *probe = json_pack("{s:s, s:I, s:s}", "channel", ch->name, "budget", (json_int_t)budget, "id",
                              p->item_ids[item]);
    char *key = lw_records_key(probe, RECORD_KEY, 3);
    json_decref(probe);
    bool have = lw_records_find(past, key) != NULL;
    free(key);
    if (have) return 0;
    lw_race_outcome o;
    memset(&o, 0, sizeof o);
    double t0 = lw_race_clock();
    int erc = p->eval(p->eval_ctx, ch, budget, item, &o);
    *seconds = lw_race_clock() - t0;
    if (erc != 0) {
        free(o.output);
        return lw_fail_prefix("item %s, %s at %lld bits: ", p->item_ids[item], ch->name, (long long)budget);
    }
    o.na[sizeof o.na - 1] = '\0'; /* a callback that filled na to its last byte: read no further */
    int rc = 0;
    if (!o.na[0] && !(o.score >= 0 && o.score <= 1))
        rc = lw_fail("item %s, %s: score %g is not in [0, 1]", p->item_ids[item], ch->name, o.score);
    /* the merge sums them as counts: a negative one passed into the means and the summary */
    else if (!o.na[0] && (o.payload_bits < 0 || o.side_bits < 0))
        rc = lw_fail("item %s, %s: payload_bits %lld and side_bits %lld must be >= 0 (the evaluator's answer)",
                     p->item_ids[item], ch->name, (long long)o.payload_bits, (long long)o.side_bits);
    json_t *r = rc == 0 ? record_json(ch, budget, p->item_ids[item], &o) : NULL;
    if (r && lw_records_write(f, r) != 0) rc = lw_fail("cannot append to the race's records: %s", strerror(errno));
    json_decref(r);
    free(o.output);
    return rc;
}

static int merge_files(const char *out_dir, char *const *paths, int n_paths, char **report_json);

static int check_kept_bits(const lw_records *past, const char *path);

static int check_kept_belong(const lw_records *past, const char *path, const lw_race_params *p);

int lw_race_run(const lw_race_params *p) {
    if (!p) return lw_fail("race: no parameters");
    if (check_params(p) != 0) return -1;
    if (lw_mkdir_p(p->out_dir) != 0) return -1;
    json_t *settings = run_settings(p);
    if (!settings) return -1;
    char *path = lw_race_partial_path(p->out_dir, p->shard, p->n_shards);
    lw_records past = {0};
    FILE *f = NULL;
    int rc = 0;
    if (p->resume) { /* the records of a run with these very settings (the first that differs is named) */
        json_t *head = NULL;
        rc = lw_records_load(&past, path, NULL, RECORD_KEY, 3, "score", "--resume", &head);
        char diff[128] = "";
        if (rc == 0 && head) settings_difference(settings, head, diff, sizeof diff);
        if (diff[0])
            rc = lw_fail("--resume: %s was made with another %s; run without --resume to start over, or with the "
                         "same settings", path, diff);
        else if (rc == 0) rc = lw_records_check_range(&past, path, "score", 0, 1, true, "--resume");
        if (rc == 0) rc = check_kept_bits(&past, path);
        if (rc == 0) rc = check_kept_belong(&past, path, p);
        if (rc != 0) lw_records_free(&past);
        json_decref(head);
    }
    if (rc == 0 && !(f = lw_records_open(path, settings, &past))) rc = -1;
    lw_race_timing timing = {0};
    if (rc == 0) rc = lw_race_timing_init(&timing, p->n_channels, p->n_budgets, p->n_items);
    int per_item = 0, mine = 0, done = 0;
    for (int c = 0; c < p->n_channels; c++) per_item += lw_race_channel_budgeted(&p->channels[c]) ? p->n_budgets : 1;
    for (int i = p->shard; i < p->n_items; i += p->n_shards) mine++;
    for (int i = p->shard; rc == 0 && i < p->n_items; i += p->n_shards)
        for (int c = 0; rc == 0 && c < p->n_channels; c++) {
            const lw_race_channel *ch = &p->channels[c];
            int nb = lw_race_channel_budgeted(ch) ? p->n_budgets : 1;
            for (int b = 0; rc == 0 && b < nb; b++) {
                double sec = -1;
                rc = run_one(p, ch, lw_race_channel_budgeted(ch) ? p->budgets[b] : 0, i, &past, f, &sec);
                if (rc == 0 && sec >= 0) lw_race_timing_add(&timing, c, b, sec);
                if (rc == 0 && p->on_progress) p->on_progress(p->progress_ctx, ++done, mine * per_item);
            }
        }
    if (f && fclose(f) != 0 && rc == 0) rc = lw_fail("cannot write %s: %s", path, strerror(errno));
    if (rc == 0 && p->n_shards == 1) rc = merge_files(p->out_dir, &path, 1, NULL);
    /* after the results: timing is a by-product, and its failure must not cost the merge */
    char *tpath = rc == 0 ? lw_race_timing_path(p->out_dir, p->shard, p->n_shards) : NULL;
    if (rc == 0)
        rc = tpath ? lw_race_timing_write(&timing, p->channels, p->budgets, p->n_budgets, tpath, p->resume)
                   : lw_fail("race: out of memory");
    free(tpath);
    lw_race_timing_free(&timing);
    lw_records_free(&past);
    json_decref(settings);
    free(path);
    return rc;
}

/* ------------------------------------------------------------------ merge */

typedef struct {
    const char *id;
    int index;
} id_slot;

static int cmp_slot(const void *a, const void *b) {
    return strcmp(((const id_slot *)a)->id, ((const id_slot *)b)->id);
}

static int find_item(const id_slot *ids, int n, const char *id) {
    id_slot key = {id, 0};
    const id_slot *s = id ? bsearch(&key, ids, (size_t)n, sizeof *ids, cmp_slot) : NULL;
    return s ? s->index : -1;
}

/* Why a record's null score is not one a run writes (NULL: it is, or the score is a number): a
 * channel not applicable to an item is recorded with its reason, and a null without one was an
 * edit that took the item out of its cell's n. */
static const char *record_na_problem(json_t *o) {
    if (!json_is_null(json_object_get(o, "score"))) return NULL;
    const char *na = json_string_value(json_object_get(o, "na"));
    return na && *na ? NULL : "a null score without the reason (na) a run records";
}

/* Every kept record must be a unit of this run: one of its channels at one of its budgets (0 for
 * a channel without one), one of this shard's items. A record of another one is never looked up,
 * but lw_records_open copies it into the partial, and the merge then refused the file after the
 * whole run, at every later --resume too. Refused before any work instead. 0 or -1. */
static int check_kept_belong(const lw_records *past, const char *path, const lw_race_params *p) {
    if (past->n == 0) return 0;
    id_slot *ids = malloc(sizeof *ids * (size_t)p->n_items);
    if (!ids) return lw_fail("race: out of memory");
    for (int i = 0; i < p->n_items; i++) ids[i] = (id_slot){p->item_ids[i], i};
    qsort(ids, (size_t)p->n_items, sizeof *ids, cmp_slot);
    int rc = 0;
    for (int j = 0; rc == 0 && j < past->n; j++) {
        json_t *o = past->rec[j];
        const char *name = json_string_value(json_object_get(o, "channel")), *id = json_string_value(json_object_get(o, "id"));
        const int64_t budget = json_integer_value(json_object_get(o, "budget"));
        const lw_race_channel *ch = NULL;
        for (int c = 0; name && !ch && c < p->n_channels; c++)
            if (!strcmp(p->channels[c].name, name)) ch = &p->channels[c];
        bool at_budget = false;
        for (int b = 0; ch && lw_race_channel_budgeted(ch) && !at_budget && b < p->n_budgets; b++)
            at_budget = p->budgets[b] == budget;
        if (ch && !lw_race_channel_budgeted(ch)) at_budget = budget == 0;
        const int item = find_item(ids, p->n_items, id);
        char shard[64] = "";
        if (item >= 0 && item % p->n_shards != p->shard)
            snprintf(shard, sizeof shard, "an item of shard %d, not %d", item % p->n_shards, p->shard);
        const char *why = !ch ? "no such channel" : !at_budget ? "no such budget for that channel"
                          : item < 0 ? "no such item" : shard[0] ? shard : record_na_problem(o);
        if (why)
            rc = lw_fail("--resume: %s: the record of %s at %lld bits, item %s, is not one this run makes (%s): the file "
                         "was edited or damaged; run without --resume to start over",
                         path, name ? name : "?", (long long)budget, id ? id : "?", why);
    }
    free(ids);
    return rc;
}

/* -1 after "path:1: the settings line's FIELD VALUE is not WANT". */
static int settings_field_error(const char *path, const char *field, json_t *v, const char *want) {
    char *shown = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    int rc = lw_fail("%s:1: the settings line's %s %.40s is not %s: the file was edited or damaged; run the work that "
                     "wrote it again", path, field, shown ? shown : "(missing)", want);
    free(shown);
    return rc;
}

/* The race's part of the settings back: channels, budgets, items into d and ids. */
static int settings_to_data(json_t *race, lw_race_data *d, id_slot **ids_out, const char *path) {
    json_t *ch = json_object_get(race, "channels"), *bu = json_object_get(race, "budgets"),
           *it = json_object_get(race, "items");
    if (!json_is_array(ch) || !json_is_array(bu) || !json_is_array(it) || json_array_size(it) == 0)
        return lw_fail("%s: the settings line has no race channels, budgets and items", path);
    d->n_channels = (int)json_array_size(ch);
    d->n_budgets = (int)json_array_size(bu);
    d->n_items = (int)json_array_size(it);
    d->channels = calloc((size_t)d->n_channels, sizeof *d->channels);
    d->budgets = calloc((size_t)d->n_budgets + 1, sizeof *d->budgets);
    id_slot *ids = calloc((size_t)d->n_items, sizeof *ids);
    *ids_out = ids;
    if (!d->channels || !d->budgets || !ids) return lw_fail("race: out of memory");
    for (int c = 0; c < d->n_channels; c++)
        if (lw_race_channel_parse(json_string_value(json_array_get(ch, (size_t)c)), &d->channels[c]) != 0)
            return lw_fail_prefix("%s: ", path);
    /* The settings line is checked as a run checks its parameters: a level, resamples or budget
     * edited by hand gave cells without an interval ("not applicable: (null)") or n = 0. */
    for (int c = 0; c < d->n_channels; c++)
        for (int e = 0; e < c; e++)
            if (!strcmp(d->channels[c].name, d->channels[e].name))
                return lw_fail("%s:1: the settings line is malformed: race.channels lists %s twice; the file was "
                               "edited or damaged: run the work that wrote it again", path, d->channels[c].name);
    for (int b = 0; b < d->n_budgets; b++) {
        json_t *v = json_array_get(bu, (size_t)b);
        d->budgets[b] = json_integer_value(v);
        if (!json_is_integer(v) || d->budgets[b] < 1 || d->budgets[b] > LW_RACE_MAX_BUDGET)
            return settings_field_error(path, "race.budgets", v, "a whole number of bits from 1 to 2^40");
        for (int e = 0; e < b; e++)
            if (d->budgets[e] == d->budgets[b])
                return lw_fail("%s:1: the settings line is malformed: race.budgets lists %lld twice; the file was "
                               "edited or damaged: run the work that wrote it again", path, (long long)d->budgets[b]);
    }
    json_t *rs = json_object_get(race, "resamples"), *lv = json_object_get(race, "level"),
           *sd = json_object_get(race, "seed");
    if (!json_is_integer(rs) || json_integer_value(rs) < 1 || json_integer_value(rs) > LW_RACE_MAX_RESAMPLES)
        return settings_field_error(path, "race.resamples", rs, "a whole number from 1 to 10000000");
    if (!json_is_number(lv) || !(json_number_value(lv) > 0 && json_number_value(lv) < 1))
        return settings_field_error(path, "race.level", lv, "a number in (0, 1)");
    if (lw_eval_check_resampling("race merge", (int)json_integer_value(rs), json_number_value(lv)) != 0)
        return lw_fail_prefix("%s:1: the settings line: ", path);
    if (!json_is_integer(sd) || json_integer_value(sd) < 0)
        return settings_field_error(path, "race.seed", sd, "a whole number >= 0");
    for (int i = 0; i < d->n_items; i++) {
        ids[i].id = json_string_value(json_array_get(it, (size_t)i));
        ids[i].index = i;
        if (!ids[i].id) return lw_fail("%s: item %d of the settings has no id", path, i);
    }
    qsort(ids, (size_t)d->n_items, sizeof *ids, cmp_slot);
    for (int i = 1; i < d->n_items; i++)
        if (!strcmp(ids[i - 1].id, ids[i].id)) return lw_fail("%s: item id %s is listed twice", path, ids[i].id);
    d->resamples = (int)json_integer_value(json_object_get(race, "resamples"));
    d->level = json_number_value(json_object_get(race, "level"));
    d->seed = (uint64_t)json_integer_value(json_object_get(race, "seed"));
    return lw_race_make_cells(d);
}

static int find_cell(const lw_race_data *d, const char *channel, int64_t budget) {
    for (int k = 0; channel && k < d->n_cells; k++)
        if (!strcmp(d->channels[d->cells[k].channel].name, channel) && d->cells[k].budget == budget) return k;
    return -1;
}

/* Why a scored record's bits cannot be what the run counted (NULL: they can). A payload never
 * exceeds its budget and floor and mean send nothing: a record that says otherwise was edited, and
 * its bits would enter the curve (3e9 entered race.json as 0). */
static const char *record_bits_problem(json_t *o) {
    const char *ch = json_string_value(json_object_get(o, "channel"));
    const int64_t budget = json_integer_value(json_object_get(o, "budget"));
    json_t *pb = json_object_get(o, "payload_bits"), *sb = json_object_get(o, "side_bits");
    const int64_t payload = json_integer_value(pb), side = json_integer_value(sb);
    const bool sends_nothing = ch && (!strcmp(ch, "floor") || !strcmp(ch, "mean"));
    return !json_is_integer(pb) || payload < 0 ? "payload_bits is not a whole number >= 0"
           : budget > 0 && payload > budget    ? "payload_bits exceeds the budget"
           : sends_nothing && payload != 0     ? "payload_bits is not 0 for a channel that sends nothing"
           : !json_is_integer(sb) || side < 0  ? "side_bits is not a whole number >= 0"
                                               : NULL;
}

/* The same on resume, before any work: every scored record kept. */
static int check_kept_bits(const lw_records *past, const char *path) {
    for (int j = 0; j < past->n; j++) {
        json_t *o = past->rec[j];
        const char *bad = !json_is_integer(json_object_get(o, "budget")) ? "budget is not a whole number"
                          : json_is_null(json_object_get(o, "score")) ? NULL
                                                                       : record_bits_problem(o);
        if (bad)
            return lw_fail("--resume: %s: the record of %s at %lld bits, item %s: %s: the file was edited or damaged; run "
                           "without --resume to start over",
                           path, json_string_value(json_object_get(o, "channel")),
                           (long long)json_integer_value(json_object_get(o, "budget")),
                           json_string_value(json_object_get(o, "id")), bad);
    }
    return 0;
}

/* Places every record of one shard's file into d (rec[] keeps them for race.jsonl). */
static int place_records(lw_race_data *d, const id_slot *ids, const lw_records *r, int shard, int n_shards,
                         const char *path, json_t **rec) {
    for (int j = 0; j < r->n; j++) {
        json_t *o = r->rec[j];
        const char *ch = json_string_value(json_object_get(o, "channel"));
        int64_t budget = json_integer_value(json_object_get(o, "budget"));
        if (!json_is_integer(json_object_get(o, "budget"))) /* "0" keys as 0, and race.jsonl then read as no record */
            return lw_fail("%s:%d: the record's budget is not a whole number: the file was edited or damaged; run the "
                           "work that wrote it again", path, j + 2); /* record j is line j + 2: after the settings */
        int k = find_cell(d, ch, budget), i = find_item(ids, d->n_items, json_string_value(json_object_get(o, "id")));
        if (k < 0 || i < 0)
            return lw_fail("%s: a record of %s at %lld bits, item %s, is not part of this race's settings", path,
                           ch ? ch : "?", (long long)budget, json_string_value(json_object_get(o, "id")));
        if (i % n_shards != shard)
            return lw_fail("%s: item %s belongs to shard %d, not %d", path, json_string_value(json_object_get(o, "id")),
                           i % n_shards, shard);
        size_t at = (size_t)k * d->n_items + i;
        if (rec[at]) return lw_fail("%s: two records for %s at %lld bits, item %s", path, ch, (long long)budget,
                                    json_string_value(json_object_get(o, "id")));
        rec[at] = o;
        json_t *s = json_object_get(o, "score");
        if (record_na_problem(o))
            return lw_fail("%s: the record of %s at %lld bits, item %s: %s: the file was edited or damaged; run the work "
                           "that wrote it again",
                           path, ch, (long long)budget, json_string_value(json_object_get(o, "id")), record_na_problem(o));
        if (json_is_null(s)) {
            d->score[at] = NAN;
            if (!d->na[k]) d->na[k] = json_string_value(json_object_get(o, "na"));
            continue;
        }
        d->score[at] = json_number_value(s);
        const char *bad = record_bits_problem(o);
        if (bad)
            return lw_fail("%s: the record of %s at %lld bits, item %s: %s: the file was edited or damaged; run the work "
                           "that wrote it again",
                           path, ch, (long long)budget, json_string_value(json_object_get(o, "id")), bad);
        d->payload_bits[at] = json_integer_value(json_object_get(o, "payload_bits"));
        d->side_bits[at] = json_integer_value(json_object_get(o, "side_bits"));
    }
    return 0;
}

/* race.jsonl: the settings line (without the shard), then the records in item, channel, budget order. */
static int write_jsonl(const char *path, json_t *settings, const lw_race_data *d, json_t **rec) {
    lw_atomic_file af;
    if (lw_atomic_open(&af, path) != 0) return -1;
    json_t *head = json_pack("{s:O}", "settings", settings);
    int rc = lw_records_write(af.fp, head);
    json_decref(head);
    for (int i = 0; rc == 0 && i < d->n_items; i++)
        for (int k = 0; rc == 0 && k < d->n_cells; k++) rc = lw_records_write(af.fp, rec[(size_t)k * d->n_items + i]);
    if (rc != 0) {
        lw_atomic_abort(&af);
        return lw_fail("%s: cannot write: %s", path, strerror(errno));
    }
    return lw_atomic_commit(&af);
}

static char *out_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* The report from complete records and its three files. */
static int write_outputs(const char *out_dir, json_t *settings, lw_race_data *d, json_t **rec, const id_slot *ids,
                         char **report_json) {
    json_t *report = lw_race_report(d);
    if (!report) return -1;
    json_t *item_ids = json_array(), *root = json_object();
    for (int i = 0; i < d->n_items; i++) json_array_append_new(item_ids, json_string(""));
    for (int i = 0; i < d->n_items; i++) json_array_set_new(item_ids, (size_t)ids[i].index, json_string(ids[i].id));
    json_object_set_new(root, "format", json_string("latentwire.race/1"));
    json_t *run = json_deep_copy(settings);
    json_object_del(run, "race");
    json_object_set_new(root, "settings", run);
    json_object_set_new(
        root, "method",
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "accuracy",
                  "mean exact-match score per channel and budget; interval: exact Clopper-Pearson for 0/1 scores "
                  "(lw_ci_mean), BCa bootstrap over items otherwise",
                  "difference",
                  "activation - text on the same items: Newcombe's hybrid score interval for paired proportions with "
                  "McNemar's exact p (lw_ci_paired), chosen over the paired bootstrap the issue names because a "
                  "bootstrap of 0/1 pairs collapses to a point when every item differs the same way (e.g. text always "
                  "right, activation always wrong); a BCa paired bootstrap for non-binary scores. Cells not scored on "
                  "the same items: the same, on the items both scored (labelled paired on the common items); "
                  "Newcombe's independent-proportions interval (normal for non-binary), labelled unpaired, only "
                  "where they share no item",
                  "verdict",
                  "text dominates: upper bound < 0; activation dominates: lower bound > 0; else no difference shown. "
                  "One verdict per (activation, text) pair and budget, not corrected for multiple comparisons",
                  "bits",
                  "payload bits: 8 x the serialized payload's bytes (ceiling: 8 x the demonstrations' UTF-8 bytes; "
                  "floor 0); side bits: what the receiver must hold besides the payload (the codec's), also amortized "
                  "over the items scored",
                  "summary", "text:summary is a reference row: never compared as a competitor"));
    json_object_set_new(root, "level", json_real(d->level));
    json_object_set_new(root, "items", json_integer(d->n_items));
    json_object_set_new(root, "item_ids", item_ids);
    json_object_update(root, report);
    json_decref(report);
    char *pj = out_path(out_dir, "race.jsonl"), *pr = out_path(out_dir, "race.json"), *pc = out_path(out_dir, "race.csv");
    char *pi = out_path(out_dir, "records.jsonl"), *csv = lw_race_report_csv(root);
    size_t n_rec = (size_t)d->n_items * (size_t)d->n_cells;
    json_t **by_item = malloc(sizeof *by_item * (n_rec ? n_rec : 1)); /* race.jsonl's order */
    for (int i = 0; by_item && i < d->n_items; i++)
        for (int k = 0; k < d->n_cells; k++) by_item[(size_t)i * d->n_cells + k] = rec[(size_t)k * d->n_items + i];
    /* the four files appear together or not at all (lw_atomic_group_begin): a verdict must not
     * read the records of another run beside this one's report */
    int rc = pj && pr && pc && pi && csv && by_item ? lw_atomic_group_begin() : lw_fail("race: out of memory");
    if (rc == 0) {
        rc = write_jsonl(pj, settings, d, rec);
        if (rc == 0) rc = lw_json_save(pr, root);
        if (rc == 0) rc = lw_write_text_file(pc, csv);
        if (rc == 0) rc = lw_race_items_save(pi, settings, by_item, n_rec);
        rc = lw_atomic_group_finish(rc);
    }
    if (rc == 0 && report_json) *report_json = json_dumps(root, JSON_INDENT(1));
    free(pj), free(pr), free(pc), free(pi), free(csv), free(by_item);
    json_decref(root);
    return rc;
}

static void data_free(lw_race_data *d) {
    free(d->channels), free(d->budgets), free(d->cells), free(d->score), free(d->payload_bits), free(d->side_bits);
    free((void *)d->na);
}

static int merge_files(const char *out_dir, char *const *paths, int n_paths, char **report_json) {
    lw_records *rs = calloc((size_t)n_paths, sizeof *rs);
    json_t *ref = NULL, **rec = NULL;
    lw_race_data d;
    memset(&d, 0, sizeof d);
    id_slot *ids = NULL;
    int rc = rs ? 0 : lw_fail("race: out of memory");
    for (int s = 0; rc == 0 && s < n_paths; s++) {
        json_t *head = NULL;
        if (lw_records_load(&rs[s], paths[s], NULL, RECORD_KEY, 3, "score", "merge", &head) != 0 ||
            lw_records_check_range(&rs[s], paths[s], "score", 0, 1, true, "merge") != 0) {
            json_decref(head);
            rc = -1;
            break;
        }
        if (!head) {
            rc = lw_fail("%s is missing or has no settings line", paths[s]);
            break;
        }
        char want[48];
        snprintf(want, sizeof want, "%d/%d", s, n_paths);
        json_t *race = json_object_get(head, "race");
        const char *shard = json_string_value(json_object_get(race, "shard"));
        if (!shard || strcmp(shard, want)) rc = lw_fail("%s is shard %s, expected %s", paths[s], shard ? shard : "?", want);
        json_t *plain = json_deep_copy(head);
        json_object_del(json_object_get(plain, "race"), "shard");
        char diff[128] = "";
        if (rc == 0 && ref) settings_difference(ref, plain, diff, sizeof diff);
        if (diff[0]) rc = lw_fail("%s was made with another %s than %s", paths[s], diff, paths[0]);
        if (!ref) ref = plain;
        else json_decref(plain);
        json_decref(head);
    }
    if (rc == 0 && settings_to_data(json_object_get(ref, "race"), &d, &ids, paths[0]) != 0) rc = -1;
    size_t n = rc == 0 ? (size_t)d.n_cells * d.n_items : 0;
    if (rc == 0) {
        d.score = malloc(sizeof *d.score * (n ? n : 1));
        d.payload_bits = calloc(n ? n : 1, sizeof *d.payload_bits);
        d.side_bits = calloc(n ? n : 1, sizeof *d.side_bits);
        d.na = calloc((size_t)d.n_cells + 1, sizeof *d.na);
        rec = calloc(n ? n : 1, sizeof *rec);
        if (!d.score || !d.payload_bits || !d.side_bits || !d.na || !rec) rc = lw_fail("race: out of memory");
    }
    for (int s = 0; rc == 0 && s < n_paths; s++) rc = place_records(&d, ids, &rs[s], s, n_paths, paths[s], rec);
    for (size_t at = 0; rc == 0 && at < n; at++)
        if (!rec[at]) {
            int k = (int)(at / (size_t)d.n_items), i = (int)(at % (size_t)d.n_items), s = i % n_paths;
            const char *id = "?";
            for (int j = 0; j < d.n_items; j++)
                if (ids[j].index == i) id = ids[j].id;
            rc = lw_fail("%s has no record of %s at %lld bits for item %s: finish that run with --resume%s",
                         paths[s], d.channels[d.cells[k].channel].name, (long long)d.cells[k].budget, id,
                         n_paths > 1 ? " and its --shard" : "");
        }
    if (rc == 0) rc = write_outputs(out_dir, ref, &d, rec, ids, report_json);
    for (int s = 0; rs && s < n_paths; s++) lw_records_free(&rs[s]);
    free(rs);
    free(rec);
    free(ids);
    data_free(&d);
    json_decref(ref);
    return rc;
}

int lw_race_merge(const char *out_dir, char **report_json) {
    if (report_json) *report_json = NULL;
    if (!out_dir) return lw_fail("race merge: the output directory is NULL");
    /* every output writable before the first is written: none new beside others old */
    static const char *const outputs[] = {"race.jsonl", "race.json", "race.csv", "records.jsonl", NULL};
    if (lw_output_dir_check("race merge: --out", out_dir, outputs, NULL) != 0) return -1;
    DIR *dir = opendir(out_dir);
    if (!dir) return lw_fail("%s: %s", out_dir, strerror(errno));
    int n_shards = 0, rc = 0, found = 0;
    struct dirent *e;
    while ((e = readdir(dir)) && rc == 0) {
        int i, n, len = 0;
        if (sscanf(e->d_name, "race-shard-%d-of-%d.partial%n", &i, &n, &len) == 2 && e->d_name[len] == '\0') {
            found++;
            if (n_shards && n != n_shards)
                rc = lw_fail("%s holds shards of %d and of %d: remove the set that is not wanted", out_dir,
                             n_shards, n);
            n_shards = n;
        }
    }
    closedir(dir);
    if (rc != 0) return -1;
    if (n_shards < 1) n_shards = 1;
    /* fewer shard files than N: name the first missing one without a table of N paths (a stray
     * race-shard-0-of-2147483647.partial held 2 GB for 82 s before saying shard 1 was missing) */
    for (int s = 0; found < n_shards && n_shards > 1 && s < n_shards; s++) {
        char *path = lw_race_partial_path(out_dir, s, n_shards);
        struct stat st;
        bool have = path && stat(path, &st) == 0;
        if (!have) rc = path ? lw_fail("%s is missing: run that shard (--shard %d/%d)", path, s, n_shards)
                             : lw_fail("race: out of memory");
        free(path);
        if (rc != 0) return -1;
    }
    char **paths = calloc((size_t)n_shards, sizeof *paths);
    for (int s = 0; paths && s < n_shards && rc == 0; s++) {
        paths[s] = lw_race_partial_path(out_dir, s, n_shards);
        struct stat st;
        if (!paths[s]) rc = lw_fail("race: out of memory");
        else if (stat(paths[s], &st) != 0)
            rc = n_shards > 1 ? lw_fail("%s is missing: run that shard (--shard %d/%d)", paths[s], s, n_shards)
                 : found      ? lw_fail("%s holds race-shard-0-of-1.partial, a name no run writes: a run of one shard "
                                        "writes %s, and shards are race-shard-I-of-N.partial with N >= 2; rename it "
                                        "to %s to merge it", out_dir, paths[s], paths[s])
                              : lw_fail("%s has no race records (%s, nor race-shard-I-of-N.partial files)",
                                        out_dir, paths[s]);
    }
    if (!paths) rc = lw_fail("race: out of memory");
    if (rc == 0) rc = merge_files(out_dir, paths, n_shards, report_json);
    for (int s = 0; paths && s < n_shards; s++) free(paths[s]);
    free(paths);
    return rc;
}
