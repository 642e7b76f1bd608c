/* Per-record files of resumable runs (channel --out, race, scan). A records file is JSONL:
 * a first line {"settings": {...}} (the run's fingerprint: every setting that changes a record),
 * then one JSON object per finished unit of work, appended and flushed as each finishes, so an
 * interrupted run loses at most the line it was writing. A resumed run keeps the records of a
 * file whose settings equal its own (a torn last line is dropped) and refuses one made with other
 * settings, naming the first setting that differs. Records are found by a key made of some of
 * their fields (strings as they are, integers in decimal) joined by tabs. */
#ifndef LATENTWIRE_RECORDS_H
#define LATENTWIRE_RECORDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char **key;
    json_t **rec;
    int n;              /* records in file order */
    int *by_key;        /* their indices sorted by key (lw_records_find searches it) */
} lw_records;

/* The key of a record: its fields named in fields[0..n_fields) joined by tabs (a tab or a
 * backslash inside a string escaped as \t, \\, so two records have one key only when every
 * field is equal); NULL when one is missing or neither a string nor an integer. malloc'd. */
char *lw_records_key(json_t *rec, const char *const *fields, int n_fields);

/* A record key as a message shows it: its fields joined by spaces instead of tabs, into buf[n]
 * (cut to n - 1 bytes). "" (a constant) when buf is NULL or n 0, so that a message still prints. */
const char *lw_records_key_shown(const char *key, char *buf, size_t n);

/* The first setting whose value differs between two settings objects (NULL: none). */
const char *lw_settings_differ(json_t *want, json_t *have);

/* Loads the records of path (absent: none, 0) whose first line's settings equal `settings`
 * (settings NULL: any; the first line's settings then go to *head_settings, a new
 * reference, when head_settings is not NULL). Text after the file's last newline that is not a
 * whole record is a line torn by an interruption and dropped; any other line that is not a whole
 * record (not JSON, such as a NaN score; a key field or `required`, unless NULL, missing) is refused, naming the
 * line (it was dropped unseen, and the merge then asked for a "missing" record). A line whose "crc32" (lw_records_write's checksum) does not
 * match its text is refused, naming the line: one flipped bit turns a score of 0 into 1, which the
 * range check cannot see (lines without a checksum, from older files, are read as they are). The
 * records come back without the "crc32" field. 0 or -1 (message set, naming path and what differs;
 * `what` names the operation in the message, e.g. "--resume"). */
int lw_records_load(lw_records *r, const char *path, json_t *settings, const char *const *fields, int n_fields,
                    const char *required, const char *what, json_t **head_settings);

/* Checks every record of r (loaded from path) for a number in [lo, hi] at `field` (JSON null
 * too when allow_null): the scores of a resumed or merged file enter the statistics as they
 * are, so a file edited or damaged by hand (a score of 7 gave an accuracy of 1.4) is refused.
 * 0 or -1 (message naming path, the record's key and value; `what` "--resume" adds how to start over). */
int lw_records_check_range(const lw_records *r, const char *path, const char *field, double lo, double hi,
                           bool allow_null, const char *what);

/* The record with this key, or NULL (borrowed; a NULL r also sets a message). A binary search:
 * resumed runs look up every unit of work. */
json_t *lw_records_find(const lw_records *r, const char *key);

void lw_records_free(lw_records *r);

/* line (one line of a records file, as read) parsed as o: 0 when its "crc32" matches the text, or
 * when it has none and no earlier line of the file had one (*sealed, false before the first line,
 * is set once a line carries a checksum: deleting a checksum must not switch the check off, and
 * only files written before checksums have none); -1 otherwise (no message: the caller names the
 * file and line). For readers of a finished file (race.jsonl) that do not go through
 * lw_records_load. A NULL line or sealed: -1 with a message. */
int lw_records_check_line(const char *line, json_t *o, bool *sealed);

/* One record as a compact line ending in its checksum, "crc32": the CRC-32 (zlib) of the compact line
 * without it, as 8 hex digits; flushed. A "crc32" the object already has is dropped first. 0 or -1
 * (errno set). */
int lw_records_write(FILE *f, json_t *line);

/* Opens path for appending records: it is (re)written to hold the settings line and then the
 * records of r (those kept from an interrupted run), through path.tmp and a rename. NULL
 * (message set) on failure. */
FILE *lw_records_open(const char *path, json_t *settings, const lw_records *r);

#ifdef __cplusplus
}
#endif
#endif
