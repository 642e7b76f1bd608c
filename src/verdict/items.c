/* Per-item records (latentwire.items/1): what a run writes so that a verdict can be decided
 * later on exactly the items it scored, tied to the plan it ran under by the plan's sha256. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/jsonio.h"
#include "common/records.h"
#include "verdict/verdict_internal.h"

#define ITEMS_FORMAT "latentwire.items/1"

static bool is_hex64(const char *s) {
    if (!s || strlen(s) != 64) return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

static int by_string(const void *x, const void *y) { return strcmp(*(const char *const *)x, *(const char *const *)y); }

/* The number of distinct strings among s[0..n) (sorted in place). */
static int64_t distinct_strings(const char **s, int64_t n) {
    if (n <= 0) return 0;
    qsort((void *)s, (size_t)n, sizeof *s, by_string);
    int64_t k = 1;
    for (int64_t i = 1; i < n; i++) k += strcmp(s[i - 1], s[i]) != 0;
    return k;
}

static int64_t distinct_items_of_records(const lw_item_record *r, int64_t n) {
    if (n <= 0) return 0;
    const char **s = malloc(sizeof *s * (size_t)n);
    if (!s) return lw_fail("items: out of memory");
    for (int64_t i = 0; i < n; i++) s[i] = r[i].item;
    int64_t k = distinct_strings(s, n);
    free((void *)s);
    return k;
}

/* Orders records by (condition, metric, reported or selection, item). */
static int by_key(const void *x, const void *y) {
    const lw_item_record *a = *(const lw_item_record *const *)x, *b = *(const lw_item_record *const *)y;
    int c = strcmp(a->condition, b->condition);
    if (!c) c = strcmp(a->metric, b->metric);
    if (!c) c = (a->split != NULL) - (b->split != NULL);
    return c ? c : strcmp(a->item, b->item);
}

/* A (condition, metric, item) recorded twice within the reported or the selection items: a
 * verdict refuses the file (it cannot tell which value is the item's), so it is not written. */
static int refuse_duplicates(const lw_item_record *r, int64_t n) {
    if (n < 2) return 0;
    const lw_item_record **v = malloc(sizeof *v * (size_t)n);
    if (!v) return lw_fail("items: out of memory");
    for (int64_t i = 0; i < n; i++) v[i] = &r[i];
    qsort((void *)v, (size_t)n, sizeof *v, by_key);
    int rc = 0;
    for (int64_t i = 1; i < n && rc == 0; i++)
        if (by_key(&v[i - 1], &v[i]) == 0)
            rc = lw_fail("items: item '%s' of condition '%s' (%s)%s is recorded twice: each item once per condition "
                         "and metric", v[i]->item, v[i]->condition, v[i]->metric,
                         v[i]->split ? " among the selection items" : "");
    free((void *)v);
    return rc;
}

int lw_items_save(const char *path, const char *plan_sha256, const char *source, const lw_item_record *r,
                  int64_t n) {
    if (plan_sha256 && !is_hex64(plan_sha256)) return lw_fail("items: plan sha256 '%s' is not 64 hex digits", plan_sha256);
    if (n < 0 || (n > 0 && !r)) return lw_fail("items: %lld records%s", (long long)n, n < 0 ? "" : " and none given");
    /* what lw_items_load refuses is refused here, before the file is written */
    for (int64_t i = 0; i < n; i++) {
        if (!r[i].condition || !*r[i].condition || !r[i].item || !*r[i].item || !r[i].metric || !*r[i].metric ||
            !isfinite(r[i].value))
            return lw_fail("items: record %lld has no condition, item or metric, or a value that is not finite",
                           (long long)i);
        if (r[i].split && strcmp(r[i].split, "selection") != 0)
            return lw_fail("items: record %lld has split \"%s\": a split is \"selection\" (an item a selection "
                           "was made on) or NULL (a reported item)", (long long)i, r[i].split);
        if (r[i].cluster && !*r[i].cluster) return lw_fail("items: record %lld has an empty cluster", (long long)i);
    }
    if (refuse_duplicates(r, n) != 0) return -1;
    int64_t n_items = distinct_items_of_records(r, n);
    if (n_items < 0) return -1;
    lw_atomic_file af;
    if (lw_atomic_open(&af, path) != 0) return -1;
    /* every line ends in its CRC-32 (lw_records_write), and the header counts the records and items
     * written: an edited value or a deleted line is refused by lw_items_load */
    json_t *h = json_pack("{s:s, s:s?, s:s, s:I, s:I}", "format", ITEMS_FORMAT, "plan_sha256", plan_sha256, "source",
                          source ? source : "", "records", (json_int_t)n, "items", (json_int_t)n_items);
    int rc = h && lw_records_write(af.fp, h) == 0 ? 0 : lw_fail("%s: cannot write the header", path);
    json_decref(h);
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:f}", "condition", r[i].condition, "item", r[i].item, "metric",
                              r[i].metric, "value", r[i].value);
        if (o && r[i].split) json_object_set_new(o, "split", json_string(r[i].split));
        if (o && r[i].cluster) json_object_set_new(o, "cluster", json_string(r[i].cluster));
        if (!o || lw_records_write(af.fp, o) != 0) rc = lw_fail("%s: cannot write a record", path);
        json_decref(o);
    }
    if (rc != 0) {
        lw_atomic_abort(&af);
        return -1;
    }
    return lw_atomic_commit(&af);
}

void lw_items_free(lw_items *it) {
    if (!it) return;
    for (int64_t i = 0; i < it->n; i++) {
        free(it->r[i].condition);
        free(it->r[i].item);
        free(it->r[i].metric);
        free(it->r[i].split);
        free(it->r[i].cluster);
    }
    free(it->r);
    free(it);
}

int64_t lw_items_count(const lw_items *it) { return it ? it->n : lw_fail("lw_items_count: the records are NULL"); }

/* What a header says: the plan's sha256 and, from files that carry checksums, the numbers of records
 * and distinct items written (-1: not given, a file from before the counts). */
typedef struct {
    char sha[65];
    bool have_sha;
    int64_t records, items;
} items_header;

/* A count in the header: absent (-1) or a whole number >= 0. */
static int header_count(const char *path, json_t *h, const char *key, int64_t *out) {
    json_t *v = json_object_get(h, key);
    *out = -1;
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return lw_fail("%s: line 1: field '%s' must be a whole number >= 0 (the %s the file holds)", path, key, key);
    *out = (int64_t)json_integer_value(v);
    return 0;
}

static int read_header(const char *path, json_t *h, items_header *hd) {
    int rc = 0;
    const char *fmt = json_string_value(json_object_get(h, "format"));
    if (!fmt || strcmp(fmt, ITEMS_FORMAT) != 0) {
        rc = lw_fail("%s: line 1: not a per-item record file (a header with format \"" ITEMS_FORMAT "\" expected)",
                     path);
    } else {
        const char *s = json_string_value(json_object_get(h, "plan_sha256"));
        hd->have_sha = s != NULL;
        if (s && !is_hex64(s)) rc = lw_fail("%s: line 1: plan_sha256 '%s' is not 64 hex digits", path, s);
        else if (s) memcpy(hd->sha, s, 65);
        if (rc == 0) rc = header_count(path, h, "records", &hd->records);
        if (rc == 0) rc = header_count(path, h, "items", &hd->items);
    }
    return rc;
}

/* o: the line parsed (NULL: not JSON, je says why), without its "crc32". */
static int read_record(const char *path, int64_t line_no, json_t *o, const json_error_t *je, lw_rec *r) {
    int rc = 0;
    if (!json_is_object(o)) {
        return lw_fail("%s: line %lld: not a JSON object%s%s", path, (long long)line_no, o ? "" : ": ",
                       o ? "" : je->text);
    }
    /* unknown fields are refused as in plans: a typo such as "spilt" would put a selection item
     * among the reported ones */
    static const char *const KNOWN[] = {"condition", "item", "metric", "value", "split", "cluster", NULL};
    const char *key;
    json_t *unused;
    json_object_foreach(o, key, unused) {
        bool known = false;
        for (int k = 0; KNOWN[k] && !known; k++) known = !strcmp(key, KNOWN[k]);
        if (!known)
            return lw_fail("%s: line %lld: unknown field '%s' (a record has condition, item, metric, value, and "
                           "optionally split and cluster)", path, (long long)line_no, key);
    }
    const char *c = json_string_value(json_object_get(o, "condition"));
    const char *item = json_string_value(json_object_get(o, "item"));
    const char *m = json_string_value(json_object_get(o, "metric"));
    json_t *v = json_object_get(o, "value");
    json_t *s = json_object_get(o, "split");
    if (!c || !*c || !item || !*item || !m || !*m)
        return lw_fail("%s: line %lld: a record needs non-empty string fields condition, item and metric", path,
                       (long long)line_no);
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return lw_fail("%s: line %lld: field 'value' must be a finite number", path, (long long)line_no);
    if (s && (!json_is_string(s) || strcmp(json_string_value(s), "selection") != 0))
        return lw_fail("%s: line %lld: field 'split' must be \"selection\" (an item a selection was made on) or "
                       "absent (a reported item)", path, (long long)line_no);
    json_t *cl = json_object_get(o, "cluster");
    if (cl && (!json_is_string(cl) || !*json_string_value(cl)))
        return lw_fail("%s: line %lld: field 'cluster' must be a non-empty string (the items it groups)", path,
                       (long long)line_no);
    r->condition = strdup(c);
    r->item = strdup(item);
    r->metric = strdup(m);
    r->split = s ? strdup(json_string_value(s)) : NULL;
    r->cluster = cl ? strdup(json_string_value(cl)) : NULL;
    r->value = json_number_value(v);
    if (!r->condition || !r->item || !r->metric || (s && !r->split) || (cl && !r->cluster)) {
        free(r->condition), free(r->item), free(r->metric), free(r->split), free(r->cluster);
        rc = lw_fail("%s: line %lld: out of memory", path, (long long)line_no);
    }
    return rc;
}

/* The header's counts against the records read (it->r[first..it->n)): a line deleted or added (an
 * item's records removed from every condition gave a verdict on fewer items) is refused. */
static int check_counts(const lw_items *it, int64_t first, const char *path, const items_header *hd) {
    int64_t n = it->n - first;
    if (hd->records >= 0 && n != hd->records)
        return lw_fail("%s: the header counts %lld records but the file holds %lld: lines were deleted or added; "
                       "run the work that wrote it again", path, (long long)hd->records, (long long)n);
    if (hd->items < 0) return 0;
    const char **s = n > 0 ? malloc(sizeof *s * (size_t)n) : NULL;
    if (n > 0 && !s) return lw_fail("%s: out of memory", path);
    for (int64_t i = 0; i < n; i++) s[i] = it->r[first + i].item;
    int64_t k = distinct_strings(s, n);
    free((void *)s);
    if (k != hd->items)
        return lw_fail("%s: the header counts %lld items but the file holds %lld: the file was edited; run the work "
                       "that wrote it again", path, (long long)hd->items, (long long)k);
    return 0;
}

static int load_one(lw_items *it, const char *path, int file_index, bool *have_sha) {
    size_t len;
    char *text = lw_read_text_file(path, &len, "records file");
    if (!text) return -1;
    int rc = 0;
    int64_t line_no = 0, first = it->n;
    /* sealed: a line so far carried a checksum (lw_records_check_line), from then on every line must;
     * head_sealed: the header did */
    bool header = true, sealed = false, head_sealed = false;
    items_header hd = {.sha = "", .have_sha = false, .records = -1, .items = -1};
    for (char *s = text, *nl; rc == 0 && s && *s; s = nl ? nl + 1 : NULL) {
        nl = strchr(s, '\n');
        if (nl) *nl = '\0';
        line_no++;
        if (strspn(s, " \t\r") == strlen(s)) continue;
        json_error_t je;
        /* a key written twice ("value": 0, "value": 1) would be read as its last value, unseen */
        json_t *o = json_loads(s, JSON_REJECT_DUPLICATES, &je);
        if (o && lw_records_check_line(s, o, &sealed) != 0) {
            json_decref(o);
            rc = lw_fail("%s: line %lld does not match its checksum: the file was edited or damaged; run the work "
                         "that wrote it again", path, (long long)line_no);
            break;
        }
        json_object_del(o, "crc32");
        if (header) {
            head_sealed = sealed;
            rc = read_header(path, o, &hd);
            json_decref(o);
            /* the counts come only with checksums: a header that has them without its checksum lost it */
            if (rc == 0 && !head_sealed && (hd.records >= 0 || hd.items >= 0))
                rc = lw_fail("%s: line 1 does not match its checksum: the file was edited or damaged; run the "
                             "work that wrote it again", path);
            else if (rc == 0 && head_sealed && hd.records < 0)
                rc = lw_fail("%s: line 1: the header has a checksum but no record count (\"records\"): the file "
                             "was not written by latentwire; run the work that wrote it again", path);
            if (rc == 0 && file_index > 0 && (hd.have_sha != *have_sha || strcmp(hd.sha, it->plan_sha256) != 0))
                rc = lw_fail("%s: made under another plan than the first record file (plan sha256 %s vs %s)", path,
                             hd.have_sha ? hd.sha : "none", *have_sha ? it->plan_sha256 : "none");
            if (rc == 0 && file_index == 0) {
                *have_sha = hd.have_sha;
                memcpy(it->plan_sha256, hd.sha, 65);
            }
            header = false;
            continue;
        }
        if (it->n % 1024 == 0) {
            lw_rec *g = realloc(it->r, sizeof *g * (size_t)(it->n + 1024));
            if (!g) {
                json_decref(o);
                rc = lw_fail("%s: out of memory", path);
                break;
            }
            it->r = g;
        }
        rc = read_record(path, line_no, o, &je, &it->r[it->n]);
        json_decref(o);
        if (rc == 0) it->r[it->n++].file = file_index;
    }
    if (rc == 0 && header) rc = lw_fail("%s: empty (no header line)", path);
    /* the sealed rule runs forward only: a header stripped of its checksum (and counts) above lines
     * that carry theirs is refused here */
    if (rc == 0 && sealed && !head_sealed)
        rc = lw_fail("%s: line 1 does not match its checksum: the file was edited or damaged; run the work that "
                     "wrote it again", path);
    if (rc == 0) rc = check_counts(it, first, path, &hd);
    free(text);
    return rc;
}

/* Orders pointers to records by condition, then file. */
static int by_condition_then_file(const void *x, const void *y) {
    const lw_rec *a = *(const lw_rec *const *)x, *b = *(const lw_rec *const *)y;
    int c = strcmp(a->condition, b->condition);
    return c ? c : (a->file > b->file) - (a->file < b->file);
}

lw_items *lw_items_load(const char *const *paths, int n_paths) {
    if (n_paths < 1) {
        lw_fail("items: no record files");
        return NULL;
    }
    if (!paths) return lw_fail("items: paths is NULL"), NULL;
    for (int i = 0; i < n_paths; i++)
        if (!paths[i]) return lw_fail("items: paths[%d] is NULL", i), NULL;
    /* one file twice (or by two names) would double every record; it was called two runs */
    int a, b, twice = lw_first_repeated_file(paths, n_paths, &a, &b);
    if (twice < 0) return NULL;
    if (twice) return lw_fail("%s is given twice (also as %s): give each records file once", paths[b], paths[a]), NULL;
    lw_items *it = calloc(1, sizeof *it);
    if (!it) return NULL;
    bool have_sha = false;
    for (int i = 0; i < n_paths; i++)
        if (load_one(it, paths[i], i, &have_sha) != 0) {
            lw_items_free(it);
            return NULL;
        }
    /* One condition is one run's: records of a condition in two files are two runs pooled into one
     * sample (a first_letter and a last_letter race under one plan turned INCONCLUSIVE into PASS),
     * which no plan's test describes. Several files give several conditions (a race and a panel). */
    if (n_paths > 1 && it->n > 1) {
        const lw_rec **ord = malloc(sizeof *ord * (size_t)it->n);
        if (!ord) {
            lw_items_free(it);
            return lw_fail("items: out of memory"), NULL;
        }
        for (int64_t j = 0; j < it->n; j++) ord[j] = &it->r[j];
        qsort(ord, (size_t)it->n, sizeof *ord, by_condition_then_file);
        for (int64_t j = 1; j < it->n; j++) {
            const lw_rec *a = ord[j - 1], *b = ord[j];
            if (a->file == b->file || strcmp(a->condition, b->condition) != 0) continue;
            lw_fail("condition '%s' has records in %s and in %s: a condition's records come from one run (merge a "
                    "sharded race with race merge first; give different runs different plans)",
                    a->condition, paths[a->file], paths[b->file]);
            free((void *)ord);
            lw_items_free(it);
            return NULL;
        }
        free((void *)ord);
    }
    return it;
}
