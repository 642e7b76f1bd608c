/* lw_records_check_range: the scores of a resumed or merged records file enter the statistics
 * as they are, so a record whose score is outside [lo, hi], not a number, missing, or null where
 * null is not allowed is refused with one message naming the file, the record's key and the
 * value; the bounds themselves and null (where allowed) pass. Each case is one file of one
 * record after a settings line, loaded with lw_records_load as channel, race and scan do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>
#include <zlib.h>

#include "latentwire/error.h"
#include "latentwire/records.h"
#include "support/testutil.h"

static const char *const KEY[] = {"condition", "id"};

/* The result of checking a file holding one record {"condition": "c", "id": "q7", "score": SCORE}
 * (SCORE: a JSON value). */
static int check_one(const char *score, bool allow_null, int *n_loaded) {
    const char *path = lw_test_tmpfile("records_range.jsonl");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"settings\": {\"x\": 1}}\n");
    if (score) fprintf(f, "{\"condition\": \"c\", \"id\": \"q7\", \"score\": %s}\n", score);
    else fprintf(f, "{\"condition\": \"c\", \"id\": \"q7\"}\n");
    fclose(f);
    lw_records r;
    assert_int_equal(lw_records_load(&r, path, NULL, KEY, 2, "score", "--resume", NULL), 0);
    *n_loaded = r.n;
    int rc = lw_records_check_range(&r, path, "score", 0, 1, allow_null, "--resume");
    lw_records_free(&r);
    return rc;
}

static void test_in_range_passes(void **state) {
    (void)state;
    static const char *const ok[] = {"0", "1", "0.0", "1.0", "0.5", "1e-300"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        int n;
        if (check_one(ok[i], false, &n) != 0) fail_msg("score %s refused: %s", ok[i], lw_last_error());
        assert_int_equal(n, 1);
    }
    int n;
    assert_int_equal(check_one("null", true, &n), 0); /* race: a not-applicable cell */
    assert_int_equal(n, 1);
}

static void test_out_of_range_refused(void **state) {
    (void)state;
    static const char *const bad[][2] = {{"7", "score 7,"},
                                         {"-0.5", "score -0.5,"},
                                         {"1.5", "score 1.5,"},
                                         {"\"0.5\"", "score \"0.5\","},
                                         {"true", "score true,"},
                                         {"[1]", "score [1],"},
                                         {"{}", "score {},"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int n;
        if (check_one(bad[i][0], true, &n) == 0) fail_msg("score %s accepted", bad[i][0]);
        const char *e = lw_last_error();
        if (!strstr(e, "--resume: ") || !strstr(e, "records_range.jsonl: the record of c q7 has ") ||
            !strstr(e, bad[i][1]) || !strstr(e, "not a number in [0, 1] or null") ||
            !strstr(e, "run without --resume to start over") || strchr(e, '\n'))
            fail_msg("score %s: message \"%s\"", bad[i][0], e);
    }
    int n;
    assert_int_not_equal(check_one("null", false, &n), 0); /* channel and scan scores are never null */
    assert_non_null(strstr(lw_last_error(), "has score null, not a number in [0, 1]: "));
}

/* Text after the last newline that is no whole record is a torn line, dropped; a whole line that
 * is not a record (not JSON, as a NaN score; the field missing) was edited, and is refused naming
 * its line (it was dropped as if torn, and a merge then asked for the record as missing). */
static void test_torn_and_broken_lines(void **state) {
    (void)state;
    static const char *const torn[] = {"{\"condition\": \"c\", \"id\": \"q8\", \"sco", "{\"condition\": \"c\", \"id\": \"q8\"}"};
    static const char *const broken[][2] = {
        {"{\"condition\": \"c\", \"id\": \"q8\", \"score\": NaN}\n", "line 3 is not a whole record (not JSON)"},
        {"{\"condition\": \"c\", \"id\": \"q8\"}\n", "line 3 is not a whole record (a field is missing)"},
        {"{\"id\": \"q8\", \"score\": 1}\n", "line 3 is not a whole record (its key fields are missing)"},
        {"[1]\n", "line 3 is not a whole record (not a JSON object)"},
        {"{\"condition\": \"c\", \"id\": \"q8\", \"sco\n{\"condition\": \"c\", \"id\": \"q9\", \"score\": 1}\n",
         "line 3 is not a whole record (not JSON)"},
        /* an empty line is a line (it was skipped, and every later line was named one too low) */
        {"\n{\"condition\": \"c\", \"id\": \"q8\", \"score\": 1}\n", "line 3 is not a whole record (not JSON)"}};
    const char *path = lw_test_tmpfile("records_torn.jsonl");
    size_t n_torn = sizeof torn / sizeof *torn, n_broken = sizeof broken / sizeof *broken;
    for (size_t i = 0; i < n_torn + n_broken; i++) {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f, "{\"settings\": {}}\n{\"condition\": \"c\", \"id\": \"q7\", \"score\": 1}\n");
        fputs(i < n_torn ? torn[i] : broken[i - n_torn][0], f); /* a torn line has no newline after it */
        fclose(f);
        lw_records r;
        int rc = lw_records_load(&r, path, NULL, KEY, 2, "score", "merge", NULL);
        if (i < n_torn) {
            if (rc != 0) fail_msg("torn line %zu refused: %s", i, lw_last_error());
            assert_int_equal(r.n, 1);
            lw_records_free(&r);
            continue;
        }
        const char *want = broken[i - n_torn][1], *e = lw_last_error();
        if (rc == 0) fail_msg("accepted: %s", broken[i - n_torn][0]);
        if (!strstr(e, want) || !strstr(e, "records_torn.jsonl: ") || !strstr(e, "run the work that wrote it again"))
            fail_msg("message \"%s\", wanted \"%s\"", e, want);
    }
}

/* A settings line torn by an interruption (the file's only text, no newline): no record was
 * finished, so the file loads as empty (it was refused as "from another version"); a settings
 * line that is whole but not one is still refused. */
static void test_torn_settings_line(void **state) {
    (void)state;
    const char *path = lw_test_tmpfile("records_torn_head.jsonl");
    lw_test_write_text(path, "{\"settings\": {\"x\"");
    lw_records r;
    json_t *head = NULL;
    if (lw_records_load(&r, path, NULL, KEY, 2, "score", "--resume", &head) != 0) fail_msg("%s", lw_last_error());
    assert_int_equal(r.n, 0);
    assert_null(head);
    lw_records_free(&r);
    lw_test_write_text(path, "{\"not settings\": 1}\n");
    assert_int_equal(lw_records_load(&r, path, NULL, KEY, 2, "score", "--resume", NULL), -1);
    assert_non_null(strstr(lw_last_error(), "line 1 is not a settings line"));
}

/* Outside --resume (race merge) the message says to redo the work, not to drop --resume. */
static void test_merge_message(void **state) {
    (void)state;
    lw_records r;
    const char *path = lw_test_tmpfile("records_merge.jsonl");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"settings\": {}}\n{\"condition\": \"c\", \"id\": \"q1\", \"score\": 2}\n");
    fclose(f);
    assert_int_equal(lw_records_load(&r, path, NULL, KEY, 2, "score", "merge", NULL), 0);
    assert_int_not_equal(lw_records_check_range(&r, path, "score", 0, 1, true, "merge"), 0);
    lw_records_free(&r);
    const char *e = lw_last_error();
    if (strncmp(e, path, strlen(path)) != 0 || !strstr(e, "run the work that wrote it again") || strstr(e, "--resume"))
        fail_msg("merge message \"%s\"", e);
}

/* Every written line carries its CRC-32: a file as written loads (the field taken off again), one
 * flipped bit in a score (0 -> 1, inside the range) is refused naming the line, and so is a line
 * whose fields were rewritten around an old checksum; the CRC is zlib's, recomputed here. */
static void test_checksum(void **state) {
    (void)state;
    const char *path = lw_test_tmpfile("records_crc.jsonl");
    json_t *settings = json_pack("{s:i}", "x", 1);
    lw_records none = {0};
    FILE *f = lw_records_open(path, settings, &none);
    assert_non_null(f);
    json_t *rec = json_pack("{s:s, s:s, s:i}", "condition", "c", "id", "q1", "score", 0);
    assert_int_equal(lw_records_write(f, rec), 0);
    json_decref(rec);
    fclose(f);
    char *text = lw_test_read_file(path);
    assert_non_null(text);
    /* the second line is {"condition":"c","id":"q1","score":0,"crc32":"xxxxxxxx"} with the CRC of the
     * line without its last field */
    char *line = strchr(text, '\n') + 1;
    const char *body = "{\"condition\":\"c\",\"id\":\"q1\",\"score\":0}";
    char want[200];
    snprintf(want, sizeof want, "{\"condition\":\"c\",\"id\":\"q1\",\"score\":0,\"crc32\":\"%08lx\"}\n",
             crc32(crc32(0L, Z_NULL, 0), (const Bytef *)body, (uInt)strlen(body)));
    assert_string_equal(line, want);
    lw_records r;
    assert_int_equal(lw_records_load(&r, path, settings, KEY, 2, "score", "--resume", NULL), 0);
    assert_int_equal(r.n, 1);
    assert_null(json_object_get(r.rec[0], "crc32"));
    lw_records_free(&r);
    /* one bit: '0' (0x30) -> '1' (0x31) */
    char *sc = strstr(line, "\"score\":0");
    sc[strlen("\"score\":")] = '1';
    lw_test_write_text(path, text);
    assert_int_equal(lw_records_load(&r, path, settings, KEY, 2, "score", "--resume", NULL), -1);
    if (!strstr(lw_last_error(), "records_crc.jsonl: line 2 does not match its checksum: the file was edited or damaged; "
                                 "run without --resume to start over"))
        fail_msg("%s", lw_last_error());
    /* rewritten by another JSON writer (spaces) with the old checksum kept: not the writer's form */
    lw_test_write_text(path, "{\"settings\": {\"x\": 1}}\n{\"condition\": \"c\", \"id\": \"q1\", \"score\": 0, "
                             "\"crc32\": \"00000000\"}\n");
    assert_int_equal(lw_records_load(&r, path, settings, KEY, 2, "score", "merge", NULL), -1);
    assert_non_null(strstr(lw_last_error(), "line 2 does not match its checksum"));
    assert_non_null(strstr(lw_last_error(), "run the work that wrote it again"));
    /* a checksum deleted from one line of a file whose lines carry them: refused too, not read as a
     * file from before checksums (deleting the field must not switch the check off) */
    char sealed_head[200], bare[400];
    const char *head = "{\"settings\":{\"x\":1}}";
    snprintf(sealed_head, sizeof sealed_head, "{\"settings\":{\"x\":1},\"crc32\":\"%08lx\"}\n",
             crc32(crc32(0L, Z_NULL, 0), (const Bytef *)head, (uInt)strlen(head)));
    snprintf(bare, sizeof bare, "%s%s\n", sealed_head, "{\"condition\":\"c\",\"id\":\"q1\",\"score\":1}");
    lw_test_write_text(path, bare);
    assert_int_equal(lw_records_load(&r, path, settings, KEY, 2, "score", "--resume", NULL), -1);
    assert_non_null(strstr(lw_last_error(), "line 2 does not match its checksum"));
    /* a file from before checksums (no line has one) still loads */
    lw_test_write_text(path, "{\"settings\":{\"x\":1}}\n{\"condition\":\"c\",\"id\":\"q1\",\"score\":1}\n");
    assert_int_equal(lw_records_load(&r, path, settings, KEY, 2, "score", "--resume", NULL), 0);
    assert_int_equal(r.n, 1);
    lw_records_free(&r);
    free(text);
    json_decref(settings);
}

/* A record written twice (a line pasted in again) is refused naming both lines: it would count
 * twice in every statistic. */
static void test_duplicate_refused(void **state) {
    (void)state;
    const char *path = lw_test_tmpfile("records_dup.jsonl");
    json_t *settings = json_pack("{s:i}", "x", 1);
    lw_records none = {0}, r;
    FILE *f = lw_records_open(path, settings, &none);
    assert_non_null(f);
    for (int k = 0; k < 3; k++) {
        json_t *rec = json_pack("{s:s, s:s, s:i}", "condition", "c", "id", k == 1 ? "q2" : "q1", "score", 1);
        assert_int_equal(lw_records_write(f, rec), 0);
        json_decref(rec);
    }
    fclose(f);
    assert_int_equal(lw_records_load(&r, path, settings, KEY, 2, "score", "--resume", NULL), -1);
    if (!strstr(lw_last_error(), "--resume: ") ||
        !strstr(lw_last_error(), "records_dup.jsonl: lines 2 and 4 hold the same record (c q1)"))
        fail_msg("%s", lw_last_error()); /* the key's fields apart by a space, not a tab shown as \x09 */
    json_decref(settings);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_range_passes),
        cmocka_unit_test(test_checksum),
        cmocka_unit_test(test_duplicate_refused),
        cmocka_unit_test(test_out_of_range_refused),
        cmocka_unit_test(test_torn_and_broken_lines),
        cmocka_unit_test(test_torn_settings_line),
        cmocka_unit_test(test_merge_message),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
