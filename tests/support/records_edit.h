/* Doctoring a records file the way an adversary would: one record's field set to another JSON
 * value and its line sealed anew (a valid checksum), so that what a test then sees refused is the
 * value, not a damaged line. */
#ifndef LW_TEST_RECORDS_EDIT_H
#define LW_TEST_RECORDS_EDIT_H

#include <stdbool.h>

#include <jansson.h>

/* Which record to edit: true for the one wanted (ctx: the caller's). */
typedef bool (*lw_test_record_pick)(json_t *record, void *ctx);

/* Sets `field` of the first record of path (records.h's key fields key[0 .. n_key - 1] and
 * `required`) that pick accepts (pick NULL: the first record) to the JSON text value, rewriting the
 * file with every line's checksum made anew. Fails the test when the file cannot be read, no record
 * is picked or value is not JSON. */
void lw_test_edit_record(const char *path, const char *const *key, int n_key, const char *required,
                         lw_test_record_pick pick, void *ctx, const char *field, const char *value);

#endif
