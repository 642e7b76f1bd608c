/* A finished race's per-item records as latentwire.items/1 (latentwire/verdict.h), so that a
 * plan written before the run decides its hypotheses: one record per scored item and cell,
 * condition "CHANNEL@K" ("act:pcaq@64"; "floor" and "ceiling" without a budget), metric
 * "exact_match". Written with race.json in one output group (race.c), or from a race.jsonl. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/error.h"
#include "common/fileio.h"
#include "latentwire/race.h"
#include "latentwire/records.h"
#include "latentwire/verdict.h"
#include "race/race_internal.h"

typedef struct {
    lw_item_record *rec;
    char **owned; /* each record's condition and item */
    int64_t n, cap;
} items;

static void items_free(items *it) {
    for (int64_t i = 0; i < 2 * it->n; i++) free(it->owned[i]);
    free(it->owned);
    free(it->rec);
}

/* Adds race record o (a channel, id, budget and score; a null score, not applicable, adds
 * nothing). 0, 1 when o is not a race record, -1 out of memory. */
static int items_add(items *it, const json_t *o) {
    const char *ch = json_string_value(json_object_get(o, "channel"));
    const char *id = json_string_value(json_object_get(o, "id"));
    json_t *b = json_object_get(o, "budget"), *s = json_object_get(o, "score");
    if (!ch || !id || !json_is_integer(b)) return 1;
    if (!json_is_number(s)) return 0;
    if (it->n == it->cap) {
        int64_t cap = it->cap ? 2 * it->cap : 1024;
        lw_item_record *g = realloc(it->rec, sizeof *g * (size_t)cap);
        if (g) it->rec = g;
        char **h = g ? realloc(it->owned, sizeof *h * (size_t)cap * 2) : NULL;
        if (h) it->owned = h;
        if (!h) return lw_fail("race: out of memory");
        it->cap = cap;
    }
    char cond[96];
    if (json_integer_value(b) > 0) snprintf(cond, sizeof cond, "%s@%lld", ch, (long long)json_integer_value(b));
    else snprintf(cond, sizeof cond, "%s", ch);
    char *c = strdup(cond), *i = strdup(id);
    it->owned[2 * it->n] = c;
    it->owned[2 * it->n + 1] = i;
    it->rec[it->n] = (lw_item_record){.condition = c, .item = i, .metric = "exact_match", .value = json_number_value(s)};
    it->n++;
    return c && i ? 0 : lw_fail("race: out of memory");
}

int lw_race_items_save(const char *path, const json_t *settings, json_t *const *rec, size_t n) {
    const char *ps = json_string_value(json_object_get(settings, "plan_sha256"));
    items it = {0};
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < n; k++)
        if ((rc = items_add(&it, rec[k])) > 0) rc = lw_fail("%s: record %zu is not a race record", path, k + 1);
    if (rc == 0) rc = lw_items_save(path, ps, "race", it.rec, it.n);
    items_free(&it);
    return rc;
}

int lw_race_write_items(const char *out_dir) {
    if (!out_dir) return lw_fail("lw_race_write_items: out_dir is NULL"); /* printf's %s of NULL is undefined */
    char path[4096];
    snprintf(path, sizeof path, "%s/race.jsonl", out_dir);
    size_t len;
    char *text = lw_read_text_file(path, &len, "race records file");
    if (!text) return -1;
    items it = {0};
    int rc = 0;
    int64_t line_no = 0;
    char *cursor = text, plan_sha256[65] = "";
    bool sealed = false;
    for (char *line; rc == 0 && (line = lw_next_line(&cursor));) {
        json_t *o = json_loads(line, 0, NULL);
        if (o && lw_records_check_line(line, o, &sealed) != 0) {
            rc = lw_fail("%s:%lld: the line does not match its checksum: the file was edited or damaged; run the race "
                         "again (--resume keeps what is sound)", path, (long long)line_no + 1);
            json_decref(o);
            break;
        }
        if (line_no++ == 0) { /* the settings line: the plan the run was made under */
            const char *ps = json_string_value(json_object_get(json_object_get(o, "settings"), "plan_sha256"));
            if (ps) snprintf(plan_sha256, sizeof plan_sha256, "%s", ps);
            json_decref(o);
            continue;
        }
        if ((rc = items_add(&it, o)) > 0) rc = lw_fail("%s:%lld: not a race record", path, (long long)line_no);
        json_decref(o);
    }
    snprintf(path, sizeof path, "%s/records.jsonl", out_dir);
    if (rc == 0) rc = lw_items_save(path, plan_sha256[0] ? plan_sha256 : NULL, "race", it.rec, it.n);
    items_free(&it);
    free(text);
    return rc;
}
