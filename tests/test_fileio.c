/* File helpers: atomic output, sha256, whole-file reads, mkdir -p, corpus loading. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/fileio.h"
#include "latentwire/error.h"
#include "support/testutil.h"

static void write_text(const char *path, const char *text, size_t len) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}
#define WRITE_LIT(path, lit) write_text(path, lit, sizeof(lit) - 1)

/* ------------------------------------------------------------------- atomic ---- */

static void test_atomic_commit(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("atomic_commit");
    const char *path = lw_test_join(dir, "out.txt");
    lw_atomic_file af;
    assert_int_equal(lw_atomic_open(&af, path), 0);
    assert_non_null(af.fp);
    assert_non_null(strstr(af.tmp_path, "out.txt.tmp."));
    assert_int_equal(strlen(af.tmp_path), strlen(path) + 11);
    fputs("hello\n", af.fp);
    /* Until commit only the temp file exists. */
    assert_false(lw_test_file_exists(path));
    assert_true(lw_test_file_exists(af.tmp_path));
    assert_int_equal(lw_atomic_commit(&af), 0);
    assert_null(af.fp);
    assert_null(af.tmp_path);
    size_t len;
    char *s = lw_read_file(path, &len);
    assert_non_null(s);
    assert_string_equal(s, "hello\n");
    free(s);
    assert_int_equal(lw_test_dir_entries(dir), 1);

    /* Replaces an existing file. */
    assert_int_equal(lw_atomic_open(&af, path), 0);
    fputs("second", af.fp);
    assert_int_equal(lw_atomic_commit(&af), 0);
    s = lw_read_file(path, &len);
    assert_string_equal(s, "second");
    free(s);
    assert_int_equal(lw_test_dir_entries(dir), 1);

    /* Ordinary permissions, not mkstemp's 0600. */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    mode_t um = umask(022);
    umask(um);
    assert_int_equal(st.st_mode & 0777, 0666 & ~um);

    /* Two open at once to the same path get different temp names. */
    lw_atomic_file a1, a2;
    assert_int_equal(lw_atomic_open(&a1, path), 0);
    assert_int_equal(lw_atomic_open(&a2, path), 0);
    assert_string_not_equal(a1.tmp_path, a2.tmp_path);
    lw_atomic_abort(&a1);
    lw_atomic_abort(&a2);
    assert_int_equal(lw_test_dir_entries(dir), 1);
}

static void test_atomic_abort(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("atomic_abort");
    const char *path = lw_test_join(dir, "never.bin");
    lw_atomic_file af;
    assert_int_equal(lw_atomic_open(&af, path), 0);
    fputs("partial", af.fp);
    lw_atomic_abort(&af);
    assert_false(lw_test_file_exists(path));
    assert_int_equal(lw_test_dir_entries(dir), 0);
    lw_atomic_abort(&af); /* harmless twice */
    assert_int_equal(lw_atomic_commit(&af), -1);

    /* An abort must leave a previous version untouched. */
    WRITE_LIT(path, "old");
    assert_int_equal(lw_atomic_open(&af, path), 0);
    fputs("new", af.fp);
    lw_atomic_abort(&af);
    char *s = lw_read_file(path, NULL);
    assert_string_equal(s, "old");
    free(s);
    assert_int_equal(lw_test_dir_entries(dir), 1);

    assert_int_equal(lw_atomic_open(&af, lw_test_join(dir, "missing/dir/x")), -1);
    assert_non_null(strstr(lw_last_error(), "missing/dir/x"));
    assert_null(af.path);
}

/* ------------------------------------------------------------------- sha256 ---- */

/* A group of outputs appears together or not at all: nothing under a final name before the group
 * ends; end(true) renames all; end(false), as after a failure between two outputs, leaves the
 * previous file whole and no temporary behind; a kept file is renamed with them or left alone. */
static void test_atomic_group(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("atomic_group");
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s", lw_test_join(dir, "a.txt"));
    snprintf(b, sizeof b, "%s", lw_test_join(dir, "b.txt"));
    lw_test_write_text(a, "old a\n");
    assert_int_equal(lw_atomic_group_begin(), 0);
    assert_int_equal(lw_atomic_group_begin(), -1); /* one at a time */
    lw_atomic_file af;
    assert_int_equal(lw_atomic_open(&af, a), 0);
    fputs("new a\n", af.fp);
    assert_int_equal(lw_atomic_commit(&af), 0);
    assert_int_equal(lw_atomic_open(&af, b), 0);
    fputs("new b\n", af.fp);
    assert_int_equal(lw_atomic_commit(&af), 0);
    char *text = lw_test_read_file(a);
    assert_string_equal(text, "old a\n"); /* not yet */
    free(text);
    assert_false(lw_test_file_exists(b));
    assert_int_equal(lw_test_dir_entries(dir), 3); /* a.txt and two temporaries */
    assert_int_equal(lw_atomic_group_end(true), 0);
    text = lw_test_read_file(a);
    assert_string_equal(text, "new a\n");
    free(text);
    text = lw_test_read_file(b);
    assert_string_equal(text, "new b\n");
    free(text);
    assert_int_equal(lw_test_dir_entries(dir), 2);
    /* a failure after the first output: the group is dropped, the old set stays */
    assert_int_equal(lw_atomic_group_begin(), 0);
    assert_int_equal(lw_atomic_open(&af, a), 0);
    fputs("newer a\n", af.fp);
    assert_int_equal(lw_atomic_commit(&af), 0);
    assert_int_equal(lw_atomic_open(&af, lw_test_join(dir, "missing/b.txt")), -1);
    assert_int_equal(lw_atomic_group_end(false), 0);
    text = lw_test_read_file(a);
    assert_string_equal(text, "new a\n");
    free(text);
    assert_int_equal(lw_test_dir_entries(dir), 2);
    assert_int_equal(lw_atomic_group_end(true), -1); /* none open */
    /* outside a group a commit renames at once, as before */
    assert_int_equal(lw_atomic_open(&af, b), 0);
    fputs("b again\n", af.fp);
    assert_int_equal(lw_atomic_commit(&af), 0);
    text = lw_test_read_file(b);
    assert_string_equal(text, "b again\n");
    free(text);
    /* a kept file (a resumable run's RECORDS.partial) joins the group: renamed on commit, left
     * under its own name, not removed, when the group is dropped */
    char partial[1100];
    snprintf(partial, sizeof partial, "%s.partial", b);
    lw_test_write_text(partial, "records\n");
    assert_int_equal(lw_atomic_group_add_kept(partial, b), -1); /* no group open */
    assert_int_equal(lw_atomic_group_begin(), 0);
    assert_int_equal(lw_atomic_group_add_kept(partial, b), 0);
    assert_int_equal(lw_atomic_group_end(false), 0);
    text = lw_test_read_file(partial);
    assert_string_equal(text, "records\n");
    free(text);
    assert_int_equal(lw_atomic_group_begin(), 0);
    assert_int_equal(lw_atomic_group_add_kept(partial, b), 0);
    assert_int_equal(lw_atomic_open(&af, a), 0);
    fputs("with records\n", af.fp);
    assert_int_equal(lw_atomic_commit(&af), 0);
    assert_int_equal(lw_atomic_group_finish(0), 0);
    assert_false(lw_test_file_exists(partial));
    text = lw_test_read_file(b);
    assert_string_equal(text, "records\n");
    free(text);
    text = lw_test_read_file(a);
    assert_string_equal(text, "with records\n");
    free(text);
    assert_int_equal(lw_test_dir_entries(dir), 2);
}

/* The temporary of an open atomic file is registered for removal on a signal (lw_cleanup_add),
 * from open until it is renamed or removed: not before, not after. */
static void test_atomic_temp_registered(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("atomic_registered");
    char path[1024], tmp[1100];
    snprintf(path, sizeof path, "%s", lw_test_join(dir, "out.txt"));
    lw_atomic_file af;
    assert_int_equal(lw_atomic_open(&af, path), 0);
    snprintf(tmp, sizeof tmp, "%s", af.tmp_path);
    assert_true(lw_cleanup_registered(tmp));
    fputs("x\n", af.fp);
    assert_int_equal(lw_atomic_commit(&af), 0);
    assert_false(lw_cleanup_registered(tmp));
    assert_int_equal(lw_atomic_open(&af, path), 0);
    snprintf(tmp, sizeof tmp, "%s", af.tmp_path);
    assert_true(lw_cleanup_registered(tmp));
    lw_atomic_abort(&af);
    assert_false(lw_cleanup_registered(tmp));
    /* in a group a committed temp waits for the group's end: registered until then */
    for (int commit = 0; commit < 2; commit++) {
        assert_int_equal(lw_atomic_group_begin(), 0);
        assert_int_equal(lw_atomic_open(&af, path), 0);
        snprintf(tmp, sizeof tmp, "%s", af.tmp_path);
        assert_int_equal(lw_atomic_commit(&af), 0);
        assert_true(lw_cleanup_registered(tmp));
        assert_int_equal(lw_atomic_group_end(commit), 0);
        assert_false(lw_cleanup_registered(tmp));
    }
    /* every slot handed back: more opens than there are slots all succeed */
    for (int i = 0; i < LW_CLEANUP_SLOTS + 100; i++) {
        if (lw_atomic_open(&af, path) != 0) fail_msg("open %d: %s", i, lw_last_error());
        lw_atomic_abort(&af);
    }
    assert_int_equal(lw_test_dir_entries(dir), 1);
}

static volatile sig_atomic_t g_handler_ran;
static void returning_handler(int sig) { g_handler_ran = sig; }

/* SIGTERM mid-write under lw_signal_cleanup_begin (the CLI's bracket) removes the temporary
 * before the previous disposition runs; here that is a handler that returns (as an embedding
 * interpreter's does), so the commit that follows fails naming the signal and leaves nothing. */
static void test_atomic_temp_removed_on_signal(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("atomic_signal");
    char path[1024];
    snprintf(path, sizeof path, "%s", lw_test_join(dir, "out.txt"));
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = returning_handler;
    assert_int_equal(sigaction(SIGTERM, &sa, &old), 0);
    g_handler_ran = 0;
    lw_signal_cleanup_begin();
    lw_atomic_file af;
    assert_int_equal(lw_atomic_open(&af, path), 0);
    fputs("half a file\n", af.fp);
    assert_int_equal(lw_test_dir_entries(dir), 1);
    raise(SIGTERM);
    assert_int_equal(g_handler_ran, SIGTERM);
    assert_int_equal(lw_test_dir_entries(dir), 0); /* the temporary went with the signal */
    assert_int_equal(lw_atomic_commit(&af), -1);
    assert_non_null(strstr(lw_last_error(), "interrupted by signal 15"));
    lw_signal_cleanup_end();
    assert_false(lw_test_file_exists(path));
    assert_int_equal(lw_test_dir_entries(dir), 0);
    struct sigaction now;
    sigaction(SIGTERM, NULL, &now);
    assert_true(now.sa_handler == returning_handler); /* the caller's disposition is back */
    sigaction(SIGTERM, &old, NULL);
}

static void test_sha256(void **state) {
    (void)state;
    char hex[65];
    const char *p = lw_test_tmpfile("abc.txt");
    WRITE_LIT(p, "abc");
    assert_int_equal(lw_sha256_file(p, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    p = lw_test_tmpfile("empty.txt");
    write_text(p, "", 0);
    assert_int_equal(lw_sha256_file(p, hex), 0);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    /* One million 'a' (FIPS 180-2 test vector) spans many read chunks. */
    size_t n = 1000000;
    char *big = malloc(n);
    memset(big, 'a', n);
    p = lw_test_tmpfile("million.txt");
    write_text(p, big, n);
    free(big);
    assert_int_equal(lw_sha256_file(p, hex), 0);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    assert_int_equal(lw_sha256_file(lw_test_tmpfile("nope.txt"), hex), -1);
    assert_non_null(strstr(lw_last_error(), "nope.txt"));
}

/* ---------------------------------------------------------------- read file ---- */

static void test_read_file(void **state) {
    (void)state;
    const char *p = lw_test_tmpfile("read.bin");
    write_text(p, "a\0b", 3);
    size_t len = 99;
    char *s = lw_read_file(p, &len);
    assert_non_null(s);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 4); /* NUL-terminated too */
    free(s);

    write_text(p, "", 0);
    s = lw_read_file(p, &len);
    assert_non_null(s);
    assert_int_equal(len, 0);
    assert_string_equal(s, "");
    free(s);

    /* Exactly the initial buffer size and just past it. */
    for (size_t n = 65535; n <= 65537 * 3; n += 65537) {
        char *big = malloc(n);
        for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
        write_text(p, big, n);
        s = lw_read_file(p, &len);
        assert_int_equal(len, n);
        assert_memory_equal(s, big, n);
        assert_int_equal(s[n], '\0');
        free(s);
        free(big);
    }

    assert_null(lw_read_file(lw_test_tmpfile("absent.bin"), &len));
    assert_non_null(strstr(lw_last_error(), "absent.bin"));
}

/* ------------------------------------------------------------------ mkdir -p ---- */

static void test_mkdir_p(void **state) {
    (void)state;
    const char *base = lw_test_tmpfile("mk");
    char path[1400];
    snprintf(path, sizeof path, "%s/a/b//c/", base);
    assert_int_equal(lw_mkdir_p(path), 0);
    snprintf(path, sizeof path, "%s/a/b/c", base);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(lw_mkdir_p(path), 0); /* already there */

    snprintf(path, sizeof path, "%s/a/file", base);
    WRITE_LIT(path, "x");
    char below[1500];
    snprintf(below, sizeof below, "%s/sub", path);
    assert_int_equal(lw_mkdir_p(below), -1);
    assert_non_null(strstr(lw_last_error(), "not a directory"));
    assert_int_equal(lw_mkdir_p(path), -1);
    assert_int_equal(lw_mkdir_p(""), -1);
}

/* -------------------------------------------------------------------- corpus ---- */

static void test_corpus_txt(void **state) {
    (void)state;
    const char *p = lw_test_tmpfile("corpus.txt");
    /* BOM, blank and whitespace-only lines, CRLF, leading spaces kept, no final newline. */
    WRITE_LIT(p, "\xEF\xBB\xBF" "first line\n\n   \t\nsecond\r\n  indented \r\n\r\nlast");
    lw_corpus c;
    assert_int_equal(lw_corpus_load(&c, p, NULL), 0);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.texts[0], "first line");
    assert_string_equal(c.texts[1], "second");
    assert_string_equal(c.texts[2], "  indented ");
    assert_string_equal(c.texts[3], "last");
    assert_int_equal(c.line_no[0], 1);
    assert_int_equal(c.line_no[1], 4);
    assert_int_equal(c.line_no[2], 5);
    assert_int_equal(c.line_no[3], 7);
    lw_corpus_free(&c);
    assert_int_equal(c.n, 0);
    assert_null(c.texts);

    /* Empty file: an empty corpus, not an error (the caller decides). */
    write_text(p, "", 0);
    assert_int_equal(lw_corpus_load(&c, p, NULL), 0);
    assert_int_equal(c.n, 0);
    lw_corpus_free(&c);

    /* Many lines: the arrays grow. */
    FILE *fp = fopen(p, "wb");
    for (int i = 0; i < 1000; i++) fprintf(fp, "line %d\n%s", i, i % 3 ? "" : "\n");
    fclose(fp);
    assert_int_equal(lw_corpus_load(&c, p, "ignored for txt"), 0);
    assert_int_equal(c.n, 1000);
    assert_string_equal(c.texts[999], "line 999");
    lw_corpus_free(&c);

    assert_int_equal(lw_corpus_load(&c, lw_test_tmpfile("nope.txt"), NULL), -1);
    assert_non_null(strstr(lw_last_error(), "nope.txt"));
    lw_corpus_free(&c); /* safe after failure */
}

static void test_corpus_jsonl(void **state) {
    (void)state;
    const char *p = lw_test_tmpfile("data.jsonl");
    WRITE_LIT(p, "{\"text\": \"hello\", \"id\": 1}\n"
                 "\n"
                 "  {\"text\": \"caf\\u00e9\\nline two\", \"prompt\": \"p2\"}  \r\n"
                 "{\"prompt\": \"p3\", \"text\": \"\"}\n");
    lw_corpus c;
    assert_int_equal(lw_corpus_load(&c, p, NULL), 0);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.texts[0], "hello");
    assert_string_equal(c.texts[1], "caf\xc3\xa9\nline two");
    assert_string_equal(c.texts[2], "");
    assert_int_equal(c.line_no[1], 3);
    assert_int_equal(c.line_no[2], 4);
    lw_corpus_free(&c);

    /* Another field: line 1 lacks it -> error naming file, line and field. */
    assert_int_equal(lw_corpus_load(&c, p, "prompt"), -1);
    assert_non_null(strstr(lw_last_error(), "data.jsonl:1: no string field \"prompt\""));
    assert_int_equal(c.n, 0);
    assert_null(c.texts);

    /* The error names the first bad line. */
    WRITE_LIT(p, "{\"text\": \"ok\"}\n\n{\"text\": 17}\n{\"text\": \"ok\"}\n");
    assert_int_equal(lw_corpus_load(&c, p, NULL), -1);
    assert_non_null(strstr(lw_last_error(), "data.jsonl:3: no string field \"text\""));

    WRITE_LIT(p, "{\"text\": \"ok\"}\n{\"text\": \"unterminated}\n");
    assert_int_equal(lw_corpus_load(&c, p, NULL), -1);
    assert_non_null(strstr(lw_last_error(), "data.jsonl:2: invalid JSON"));

    WRITE_LIT(p, "[\"text\"]\n");
    assert_int_equal(lw_corpus_load(&c, p, NULL), -1);
    assert_non_null(strstr(lw_last_error(), "data.jsonl:1: not a JSON object"));

    WRITE_LIT(p, "\"just a string\"\n");
    assert_int_equal(lw_corpus_load(&c, p, NULL), -1);
    assert_non_null(strstr(lw_last_error(), "data.jsonl:1:"));

    WRITE_LIT(p, "{\"text\": \"a\"} {\"text\": \"b\"}\n");
    assert_int_equal(lw_corpus_load(&c, p, NULL), -1);
    assert_non_null(strstr(lw_last_error(), "data.jsonl:1: invalid JSON"));

    WRITE_LIT(p, "{\"text\": \"a\\u0000b\"}\n");
    assert_int_equal(lw_corpus_load(&c, p, NULL), -1);
    assert_non_null(strstr(lw_last_error(), "data.jsonl:1:"));

    /* .json is read the same way. */
    const char *pj = lw_test_tmpfile("data.json");
    WRITE_LIT(pj, "{\"body\": \"x\"}\n{\"body\": \"y\"}\n");
    assert_int_equal(lw_corpus_load(&c, pj, "body"), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.texts[1], "y");
    lw_corpus_free(&c);

    /* A .txt file with JSON in it is plain text. */
    const char *pt = lw_test_tmpfile("looks_like.txt");
    WRITE_LIT(pt, "{\"text\": \"x\"}\n");
    assert_int_equal(lw_corpus_load(&c, pt, NULL), 0);
    assert_string_equal(c.texts[0], "{\"text\": \"x\"}");
    lw_corpus_free(&c);
}

/* ---------------------------------------------------------------- each line ---- */

typedef struct {
    char got[8][32];
    int64_t no[8];
    int n, stop_after;
} lines_seen;

static int see_line(void *ud, char *line, size_t len, int64_t line_no) {
    lines_seen *l = ud;
    assert_int_equal(strlen(line), len); /* NUL-terminated at len */
    snprintf(l->got[l->n], sizeof l->got[0], "%s", line);
    l->no[l->n++] = line_no;
    return l->stop_after && l->n == l->stop_after ? 1 : 0;
}

static int fail_on_second(void *ud, char *line, size_t len, int64_t line_no) {
    (void)ud, (void)line, (void)len;
    return line_no == 2 ? lw_fail("second line refused") : 0;
}

/* The one line reader of the text formats (corpus, task, GSM8K, MRPC): line ends and the first
 * line's byte-order mark taken off, blank lines passed on, early stop, the caller's error and
 * a line over the bound each kept apart. */
static void test_each_line(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("each_line");
    char *path = lw_test_join(dir, "lines.txt");
    WRITE_LIT(path, "\xEF\xBB\xBF" "one\r\n\ntwo\r\r\nthree");
    lines_seen l = {0};
    int64_t n = -1;
    assert_int_equal(lw_each_line(path, see_line, &l, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.got[0], "one");
    assert_string_equal(l.got[1], "");
    assert_string_equal(l.got[2], "two\r"); /* one CR is the line end's, a second is the line's */
    assert_string_equal(l.got[3], "three"); /* no final newline */
    assert_true(l.no[0] == 1 && l.no[3] == 4);
    lines_seen early = {.stop_after = 2};
    assert_int_equal(lw_each_line(path, see_line, &early, &n), 0);
    assert_int_equal(early.n, 2);
    assert_int_equal(n, 2);
    assert_int_equal(lw_each_line(path, fail_on_second, NULL, NULL), -1);
    assert_string_equal(lw_last_error(), "second line refused");
    /* a line over LW_MAX_LINE_BYTES: the error names the file and the line */
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs("short\n", fp);
    for (size_t i = 0; i <= LW_MAX_LINE_BYTES; i++) fputc('x', fp);
    fputc('\n', fp);
    assert_int_equal(fclose(fp), 0);
    lines_seen big = {0};
    assert_int_equal(lw_each_line(path, see_line, &big, NULL), -1);
    assert_int_equal(big.n, 1);
    char want[4200];
    snprintf(want, sizeof want, "%s:2: line is longer than", path);
    assert_non_null(strstr(lw_last_error(), want));
    /* not a regular file */
    assert_int_equal(lw_each_line(dir, see_line, &big, &n), -1);
    assert_non_null(strstr(lw_last_error(), dir));
    assert_int_equal(n, -1); /* not opened: callers can say so (BEIR's "cannot open") */
}

/* lw_read_text_file reads a text file as lw_read_file does, and refuses one holding a NUL byte,
 * naming the line of the first and what the file should have been. */
static void test_refuse_nul(void **state) {
    (void)state;
    const char *ok = lw_test_tmpfile("ok.jsonl"), *bad = lw_test_tmpfile("nul.jsonl");
    static const char good[] = "a\nb\n", nul[] = "a\nb\nc\0d\n";
    FILE *f = fopen(ok, "wb");
    fwrite(good, 1, sizeof good - 1, f);
    fclose(f);
    f = fopen(bad, "wb");
    fwrite(nul, 1, sizeof nul - 1, f);
    fclose(f);
    size_t len;
    char *text = lw_read_text_file(ok, &len, "records file");
    assert_non_null(text);
    assert_int_equal(len, sizeof good - 1);
    free(text);
    assert_null(lw_read_text_file(bad, &len, "records file"));
    char want[1200];
    snprintf(want, sizeof want, "%s: line 3 contains a NUL byte (not a records file)", bad);
    assert_string_equal(lw_last_error(), want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_atomic_commit),
        cmocka_unit_test(test_atomic_abort),
        cmocka_unit_test(test_atomic_group),
        cmocka_unit_test(test_atomic_temp_registered),
        cmocka_unit_test(test_atomic_temp_removed_on_signal),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_mkdir_p),
        cmocka_unit_test(test_corpus_txt),
        cmocka_unit_test(test_corpus_jsonl),
        cmocka_unit_test(test_each_line),
        cmocka_unit_test(test_refuse_nul),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
