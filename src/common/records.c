/* Per-record files of resumable runs (see records.h): moved here from the channel verb so that
 * channel and race share one implementation. */
#include "common/records.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "common/error.h"
#include "common/fileio.h"

/* Every line lw_records_write writes ends in ,"crc32":"xxxxxxxx"}: the CRC-32 of the line's compact
 * JSON without that field. A resumed or merged file enters the statistics as it is, and one flipped
 * bit turns a score of 0 into 1 ("0" and "1" differ in one bit) inside the range
 * lw_records_check_range allows; the checksum catches it. */
#define CRC_FIELD "\"crc32\":\""

static unsigned long crc_of(const char *s, size_t n) { return crc32(crc32(0L, Z_NULL, 0), (const Bytef *)s, (uInt)n); }

/* The line's checksum checks out (or it has none in a file written before checksums). 0, or -1 when
 * the record carries one that does not match the text before it, or lost the one its file's lines
 * carry. */
int lw_records_check_line(const char *line, json_t *o, bool *sealed) {
    if (!line || !sealed) return lw_fail("lw_records_check_line: %s is NULL", line ? "sealed" : "the line");
    if (!json_object_get(o, "crc32")) return *sealed ? -1 : 0;
    *sealed = true;
    const char *at = NULL;
    for (const char *p = strstr(line, CRC_FIELD); p; p = strstr(p + 1, CRC_FIELD)) at = p;
    size_t len = strlen(line);
    char hex[9];
    if (!at || len < 11 || (size_t)(at - line) + strlen(CRC_FIELD) + 10 != len || strcmp(line + len - 2, "\"}") != 0)
        return -1; /* not the form the writer gives: the line was rewritten */
    memcpy(hex, at + strlen(CRC_FIELD), 8);
    hex[8] = '\0';
    char *end;
    unsigned long want = strtoul(hex, &end, 16);
    if (*end) return -1;
    size_t body = (size_t)(at - line); /* "{...," or "{" */
    char *s = malloc(body + 2);
    if (!s) return -1;
    memcpy(s, line, body);
    if (body > 1 && s[body - 1] == ',') body--;
    s[body] = '}';
    unsigned long got = crc_of(s, body + 1);
    free(s);
    return got == want ? 0 : -1;
}

char *lw_records_key(json_t *rec, const char *const *fields, int n_fields) {
    if (n_fields < 0) return lw_fail("lw_records_key: the field count %d is negative", n_fields), NULL;
    if (!fields && n_fields > 0) return lw_fail("lw_records_key: fields is NULL"), NULL;
    size_t len = 1;
    char num[32];
    for (int f = 0; f < n_fields; f++) {
        json_t *v = json_object_get(rec, fields[f]);
        if (json_is_string(v)) len += 2 * strlen(json_string_value(v)) + 1; /* each byte escaped at most to 2 */
        else if (json_is_integer(v)) len += sizeof num;
        else return NULL;
    }
    char *k = malloc(len), *w = k;
    if (!k) return NULL;
    *w = '\0';
    for (int f = 0; f < n_fields; f++) {
        json_t *v = json_object_get(rec, fields[f]);
        const char *s = json_string_value(v);
        if (!s) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
            s = num;
        }
        if (f) *w++ = '\t';
        /* a tab or backslash inside a value is escaped, so that the tab between fields stays the
         * only one: {"a":"x\ty","b":"z"} and {"a":"x","b":"y\tz"} had the same key */
        for (; *s; s++)
            if (*s == '\t') *w++ = '\\', *w++ = 't';
            else if (*s == '\\') *w++ = '\\', *w++ = '\\';
            else *w++ = *s;
        *w = '\0';
    }
    return k;
}

const char *lw_records_key_shown(const char *key, char *buf, size_t n) {
    if (!buf || n == 0) return "";
    snprintf(buf, n, "%s", key ? key : "");
    for (char *t = buf; *t; t++) *t = *t == '\t' ? ' ' : *t; /* the key's fields, tab-joined */
    return buf;
}

const char *lw_settings_differ(json_t *want, json_t *have) {
    const char *k;
    json_t *v;
    json_object_foreach(want, k, v) {
        if (!json_equal(v, json_object_get(have, k))) return k;
    }
    json_object_foreach(have, k, v) {
        if (!json_object_get(want, k)) return k;
    }
    return NULL;
}

static int records_add(lw_records *r, char *key, json_t *o) {
    char **k = realloc(r->key, sizeof *k * (size_t)(r->n + 1));
    if (k) r->key = k;
    json_t **v = k ? realloc(r->rec, sizeof *v * (size_t)(r->n + 1)) : NULL;
    if (v) r->rec = v;
    if (!k || !v) {
        free(key);
        json_decref(o);
        return lw_fail("records: out of memory");
    }
    r->key[r->n] = key;
    r->rec[r->n++] = o;
    return 0;
}

static const lw_records *g_sorting;
static int by_key(const void *a, const void *b) {
    return strcmp(g_sorting->key[*(const int *)a], g_sorting->key[*(const int *)b]);
}

/* r->by_key: the indices of the records in key order. A unit of work recorded twice is refused: a
 * run writes each once, so a repeat was pasted in, and it would count twice in every statistic
 * (line[i] is record i's line number, for the message). */
static int index_by_key(lw_records *r, const int *line, const char *path, const char *what) {
    r->by_key = malloc(sizeof(int) * (size_t)(r->n ? r->n : 1));
    if (!r->by_key) return lw_fail("records: out of memory");
    for (int i = 0; i < r->n; i++) r->by_key[i] = i;
    g_sorting = r;
    qsort(r->by_key, (size_t)r->n, sizeof(int), by_key);
    for (int i = 1; i < r->n; i++) {
        int a = r->by_key[i - 1], b = r->by_key[i];
        if (strcmp(r->key[a], r->key[b]) != 0) continue;
        bool resume = what && !strcmp(what, "--resume");
        char shown[256]; /* the key's fields apart by spaces (its tabs were shown as \x09) */
        return lw_fail("%s%s%s: lines %d and %d hold the same record (%s): the file was edited; %s", resume ? what : "",
                       resume ? ": " : "", path, line[a < b ? a : b], line[a < b ? b : a],
                       lw_records_key_shown(r->key[a], shown, sizeof shown),
                       resume ? "run without --resume to start over" : "run the work that wrote it again");
    }
    return 0;
}

int lw_records_load(lw_records *r, const char *path, json_t *settings, const char *const *fields, int n_fields,
                    const char *required, const char *what, json_t **head_settings) {
    if (!r) return lw_fail("records: r is NULL");
    memset(r, 0, sizeof *r);
    if (head_settings) *head_settings = NULL;
    if (!path) return lw_fail("records: the path is NULL");
    if (n_fields < 1) /* with no key field every record has the same key, "" */
        return lw_fail("records: %d key fields: name at least one", n_fields);
    if (!fields) return lw_fail("records: fields is NULL");
    if (!what) what = "records"; /* names the operation in messages */
    size_t len;
    if (access(path, F_OK) != 0) return 0;
    char *text = lw_read_text_file(path, &len, "records file");
    if (!text) return -1;
    char *cursor = text;
    int line_no = 0, rc = 0, line_cap = 0, *line_of = NULL; /* each record's line number */
    bool sealed = false, ends_in_newline = len > 0 && text[len - 1] == '\n';
    for (char *line; rc == 0 && (line = lw_next_line(&cursor));) { /* an empty line is not a record */
        /* the settings line torn by an interruption (no newline after it, nothing else): the run
         * finished no record, and the file is as good as absent (it was "from another version") */
        if (line_no == 0 && !ends_in_newline && line + strlen(line) == text + len) break;
        json_t *o = json_loads(line, 0, NULL);
        if (o && lw_records_check_line(line, o, &sealed) != 0) {
            bool resume = what && !strcmp(what, "--resume");
            rc = lw_fail("%s%s%s: line %d does not match its checksum: the file was edited or damaged; %s",
                         resume ? what : "", resume ? ": " : "", path, line_no + 1,
                         resume ? "run without --resume to start over" : "run the work that wrote it again");
            json_decref(o);
            break;
        }
        json_object_del(o, "crc32");
        if (line_no++ == 0) {
            json_t *have = json_object_get(o, "settings");
            const char *d = json_is_object(have) && settings ? lw_settings_differ(settings, have) : NULL;
            bool resume = what && !strcmp(what, "--resume");
            if (!json_is_object(have)) /* not the writer's first line (another version, or an edit: a BOM, say) */
                rc = lw_fail("%s%s%s: line 1 is not a settings line: the file is from another version or was edited; %s",
                             resume ? what : "", resume ? ": " : "", path,
                             resume ? "run without --resume to start over" : "run the work that wrote it again");
            else if (d)
                rc = lw_fail("%s: %s was made with another %s; run without --resume to start over, or with the same "
                             "settings", what, path, d);
            else if (head_settings) *head_settings = json_incref(have);
            json_decref(o);
            continue;
        }
        char *key = json_is_object(o) ? lw_records_key(o, fields, n_fields) : NULL;
        if (!key || (required && !json_object_get(o, required))) { /* NULL: no field required */
            const char *why = !o ? "not JSON" : !json_is_object(o) ? "not a JSON object"
                            : !key ? "its key fields are missing" : "a field is missing";
            free(key);
            json_decref(o);
            /* The writer ends every record in a newline and rewrites the file on resume, so only the
             * text after the last newline can be torn by an interruption; any other line that is not
             * a whole record (not JSON, as a NaN score; a field missing) was edited. */
            if (!ends_in_newline && line + strlen(line) == text + len) continue;
            bool resume = what && !strcmp(what, "--resume");
            rc = lw_fail("%s%s%s: line %d is not a whole record (%s): the file was edited or damaged; %s",
                         resume ? what : "", resume ? ": " : "", path, line_no, why, resume ? "run without --resume to start over" : "run the work that wrote it again");
            break;
        }
        rc = records_add(r, key, o);
        if (rc == 0 && r->n > line_cap) {
            line_cap = 2 * r->n;
            int *g = realloc(line_of, sizeof(int) * (size_t)line_cap);
            if (g) line_of = g;
            else rc = lw_fail("records: out of memory");
        }
        if (rc == 0) line_of[r->n - 1] = line_no;
    }
    free(text);
    if (rc == 0) rc = index_by_key(r, line_of, path, what);
    free(line_of);
    if (rc != 0) {
        lw_records_free(r);
        if (head_settings && *head_settings) json_decref(*head_settings), *head_settings = NULL;
    }
    return rc;
}

json_t *lw_records_find(const lw_records *r, const char *key) {
    if (!r) return lw_fail("lw_records_find: r is NULL"), NULL;
    int lo = 0, hi = key && r->by_key ? r->n - 1 : -1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(r->key[r->by_key[mid]], key);
        if (c == 0) return r->rec[r->by_key[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

void lw_records_free(lw_records *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) {
        free(r->key[i]);
        json_decref(r->rec[i]);
    }
    free(r->key);
    free(r->rec);
    free(r->by_key);
    memset(r, 0, sizeof *r);
}

int lw_records_write(FILE *f, json_t *line) {
    if (!f || !line) return errno = EINVAL, lw_fail("lw_records_write: %s is NULL", f ? "the line" : "the file");
    json_object_del(line, "crc32"); /* a record loaded from a file: its checksum is made anew */
    char *s = json_dumps(line, JSON_COMPACT);
    size_t n = s ? strlen(s) : 0;
    int rc = s && n >= 2 && s[n - 1] == '}' ? 0 : -1;
    if (rc == 0)
        rc = fprintf(f, "%.*s%s" CRC_FIELD "%08lx\"}\n", (int)(n - 1), s, n > 2 ? "," : "", crc_of(s, n)) > 0 &&
             fflush(f) == 0 ? 0 : -1;
    free(s);
    return rc;
}

FILE *lw_records_open(const char *path, json_t *settings, const lw_records *r) {
    if (!path || !settings) return lw_fail("lw_records_open: %s is NULL", path ? "settings" : "the path"), NULL;
    size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    if (!tmp) return lw_fail("records: out of memory"), NULL;
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        lw_fail("cannot write %s: %s", tmp, strerror(errno));
        free(tmp);
        return NULL;
    }
    json_t *head = json_pack("{s:O}", "settings", settings);
    int rc = lw_records_write(f, head);
    json_decref(head);
    for (int i = 0; rc == 0 && r && i < r->n; i++) rc = lw_records_write(f, r->rec[i]);
    if (fclose(f) != 0) rc = -1;
    if (rc != 0 || rename(tmp, path) != 0) {
        lw_fail("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return NULL;
    }
    free(tmp);
    f = fopen(path, "a");
    if (!f) lw_fail("cannot write %s: %s", path, strerror(errno));
    return f;
}

int lw_records_check_range(const lw_records *r, const char *path, const char *field, double lo, double hi,
                           bool allow_null, const char *what) {
    if (!r || !field) return lw_fail("lw_records_check_range: %s is NULL", r ? "field" : "r");
    if (!path) path = "(records)";
    for (int i = 0; i < r->n; i++) {
        json_t *v = json_object_get(r->rec[i], field);
        double x = json_is_number(v) ? json_number_value(v) : NAN;
        if ((allow_null && json_is_null(v)) || (x >= lo && x <= hi)) continue;
        char *shown = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL, key[160];
        lw_records_key_shown(r->key[i], key, sizeof key);
        bool resume = what && !strcmp(what, "--resume");
        int rc = lw_fail("%s%s%s: the record of %s has %s %s, not a number in [%g, %g]%s: the file was edited or "
                         "damaged; %s",
                         resume ? what : "", resume ? ": " : "", path, key, field, shown ? shown : "(none)", lo, hi,
                         allow_null ? " or null" : "",
                         resume ? "run without --resume to start over" : "run the work that wrote it again");
        free(shown);
        return rc;
    }
    return 0;
}
