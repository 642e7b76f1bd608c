/* A finished race's per-item records as latentwire.items/1 (latentwire/verdict.h), so that a
 * plan written before the run decides its hypotheses: one record per item and cell, condition
 * "CHANNEL@K" ("act:pcaq@64"; "floor" and "ceiling" without a budget), metric "exact_match". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/error.h"
#include "common/fileio.h"
#include "latentwire/race.h"
#include "latentwire/records.h"
#include "latentwire/verdict.h"

int lw_race_write_items(const char *out_dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/race.jsonl", out_dir);
    size_t len;
    char *text = lw_read_text_file(path, &len, "race records file");
    if (!text) return -1;
    int64_t cap = 1024, n = 0;
    lw_item_record *rec = malloc(sizeof *rec * (size_t)cap);
    char **owned = malloc(sizeof(char *) * (size_t)cap * 2);
    int rc = rec && owned ? 0 : lw_fail("race: out of memory");
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
        const char *ch = json_string_value(json_object_get(o, "channel"));
        const char *id = json_string_value(json_object_get(o, "id"));
        json_t *b = json_object_get(o, "budget"), *s = json_object_get(o, "score");
        if (!ch || !id || !json_is_integer(b)) {
            rc = lw_fail("%s:%lld: not a race record", path, (long long)line_no);
        } else if (json_is_number(s)) { /* null: not applicable to this channel, not scored */
            if (n == cap) {
                cap *= 2;
                lw_item_record *g = realloc(rec, sizeof *rec * (size_t)cap);
                char **h = realloc(owned, sizeof(char *) * (size_t)cap * 2);
                if (g) rec = g;
                if (h) owned = h;
                if (!g || !h) rc = lw_fail("race: out of memory");
            }
            if (rc == 0) {
                char cond[96];
                if (json_integer_value(b) > 0) snprintf(cond, sizeof cond, "%s@%lld", ch, (long long)json_integer_value(b));
                else snprintf(cond, sizeof cond, "%s", ch);
                owned[2 * n] = strdup(cond);
                owned[2 * n + 1] = strdup(id);
                rec[n] = (lw_item_record){.condition = owned[2 * n], .item = owned[2 * n + 1], .metric = "exact_match",
                                          .value = json_number_value(s)};
                n++;
                if (!rec[n - 1].condition || !rec[n - 1].item) rc = lw_fail("race: out of memory");
            }
        }
        json_decref(o);
    }
    snprintf(path, sizeof path, "%s/records.jsonl", out_dir);
    if (rc == 0) rc = lw_items_save(path, plan_sha256[0] ? plan_sha256 : NULL, "race", rec, n);
    for (int64_t i = 0; i < 2 * n; i++) free(owned[i]);
    free(owned);
    free(rec);
    free(text);
    return rc;
}
