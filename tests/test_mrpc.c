/* The one MRPC reader (src/io/mrpc.h) and its three users: the probes' MRPC sentences, the
 * targets of `paraphrase generate` and the paraphrase domain of the alignment corpus. A malformed
 * file (missing field, bad Quality, blank line, a carriage return inside a line, no header, ...)
 * gets the same one-line error naming file, line and field from each of them; LF and CRLF files
 * read to the same pairs; the real files read to as many pairs as a naive count of their lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/mrpc.h"
#include "latentwire/error.h"
#include "latentwire/experiment.h"
#include "latentwire/paraphrase.h"
#include "panel/probe_internal.h"
#include "support/testutil.h"

#define HEADER "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
#define GOOD1 "1\t702876\t702977\tAmrozi accused his brother of deliberately distorting his evidence today.\tReferring to him as the witness, Amrozi accused his brother of distorting evidence.\n"
#define GOOD0 "0\t2108705\t2108831\tYucaipa owned the chain before selling it to Safeway in 1998.\tYucaipa bought the chain in 1995 and sold it to Safeway in 1998.\n"

/* ------------------------------------------------------------------ collecting pairs */

typedef struct {
    char buf[1 << 14];
    size_t len;
    long n, n_quality1;
} pairs_text;

/* Every pair as one line "Q|ID1|ID2|S1|S2", to compare two readings byte for byte. */
static int collect(const lw_mrpc_pair *p, void *ud) {
    pairs_text *t = ud;
    t->n++;
    t->n_quality1 += p->quality == 1;
    if (t->len < sizeof t->buf)
        t->len += (size_t)snprintf(t->buf + t->len, sizeof t->buf - t->len, "%d|%s|%s|%s|%s\n", p->quality, p->id1,
                                   p->id2, p->s1, p->s2);
    return 0;
}

static int count_only(const lw_mrpc_pair *p, void *ud) {
    long *n = ud;
    n[0]++;
    n[1] += p->quality == 1;
    return 0;
}

/* ------------------------------------------------------------------ the three users */

/* Writes text as DIR/msr_paraphrase_train.txt (DIR fresh) and returns DIR. */
static const char *mrpc_dir_with(const char *name, const char *text) {
    const char *dir = lw_test_fresh_dir(name);
    lw_test_write_text(lw_test_join(dir, "msr_paraphrase_train.txt"), text);
    return dir;
}

/* The probes' reading of DIR/msr_paraphrase_train.txt: its error, or "" when it succeeded. */
static char *probe_error(const char *dir) {
    lw_probe_texts t;
    lw_clear_error();
    int rc = lw_probe_mrpc_sentences(dir, "train", 10, 1, &t);
    if (rc == 0) lw_probe_texts_free(&t);
    return strdup(rc == 0 ? "" : lw_last_error());
}

/* `paraphrase generate`'s reading: the targets are read before the model is loaded, so a path
 * that names no model reaches the reader; nothing may be written. */
static char *paraphrase_error(const char *path) {
    lw_paraphrase_params p = lw_paraphrase_default_params();
    const char *out = lw_test_tmpfile("para_out.jsonl");
    unlink(out);
    p.model = "/nonexistent/model.gguf";
    p.mrpc_file = path;
    p.out = out;
    lw_clear_error();
    int rc = lw_paraphrase_generate(&p);
    assert_false(lw_test_file_exists(out));
    return strdup(rc == 0 ? "" : lw_last_error());
}

/* The alignment corpus's reading: a data directory whose other domains are ../shared/data's and
 * whose mrpc/ is dir; NULL when ../shared/data is absent. */
static char *corpus_error(const char *name, const char *dir) {
    const char *shared = lw_test_shared_dir("the alignment corpus's other domains");
    if (!shared) return NULL;
    char data[2048], link_path[4096], target[4096];
    snprintf(target, sizeof target, "corpus_%s", name);
    snprintf(data, sizeof data, "%s", lw_test_fresh_dir(target));
    static const char *DOMAINS[] = {"ptb", "wikitext2_raw", "dailydialog", "scifact", "gsm8k"};
    for (size_t k = 0; k < sizeof DOMAINS / sizeof DOMAINS[0]; k++) {
        snprintf(link_path, sizeof link_path, "%s/%s", data, DOMAINS[k]);
        snprintf(target, sizeof target, "%s/data/%s", shared, DOMAINS[k]);
        assert_int_equal(symlink(target, link_path), 0);
    }
    snprintf(link_path, sizeof link_path, "%s/mrpc", data);
    assert_int_equal(symlink(dir, link_path), 0);
    lw_mdcorpus c;
    lw_clear_error();
    int rc = lw_mdcorpus_build(data, 2, 0, 1, 0.5, 1, &c);
    if (rc == 0) lw_mdcorpus_free(&c);
    return strdup(rc == 0 ? "" : lw_last_error());
}

/* ------------------------------------------------------------------ malformed files */

typedef struct {
    const char *name, *text;
    const char *want; /* what the error says after "PATH" */
} bad_case;

static const bad_case BAD[] = {
    {"missing_field", HEADER GOOD1 "1\t1\t2\tOnly the first string of this pair is here at all.\n",
     ":3: field 5 (#2 String) is missing (the line has 4 fields)"},
    {"bad_quality", HEADER "2\t1\t2\tThe first string of the pair is right here.\tThe second string of the pair is here.\n",
     ":2: field 1 (Quality) is \"2\", not 0 or 1"},
    {"blank_line", HEADER GOOD1 "\n" GOOD0, ":3: field 1 (Quality) is missing: the line is blank"},
    {"blank_line_crlf", HEADER GOOD1 "\r\n" GOOD0, ":3: field 1 (Quality) is missing: the line is blank"},
    {"cr_inside", HEADER GOOD0 "1\t1\t2\tThe first string has a break\rin the middle of it.\tAnd the second does not have one.\n",
     ":3: field 4 (#1 String) holds a carriage return inside the line"},
    {"cr_only_endings", "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\r" GOOD0,
     ":1: field 5 (#2 String) holds a carriage return inside the line"},
    {"no_header", GOOD1 GOOD0, ":1: field 1 (Quality) is \"1\" where the header line has \"Quality\""},
    {"bad_id", HEADER "1\t12a\t2\tThe first string of the pair is right here.\tThe second string of the pair is here.\n",
     ":2: field 2 (#1 ID) is \"12a\", not an integer"},
    {"empty_string", HEADER GOOD0 "0\t1\t2\t\tThe second string of the pair is here.\n", ":3: field 4 (#1 String) is empty"},
    {"extra_field", HEADER "1\t1\t2\tThe first string of the pair is right here.\tThe second one is here.\tmore\n",
     ":2: field 6 (extra) is one more than the 5 of MRPC"},
    {"empty_file", "", ":1: field 1 (Quality) is missing: the file is empty"},
};

static void test_malformed_same_error_everywhere(void **state) {
    (void)state;
    bool corpus_skipped = false;
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        const bad_case *b = &BAD[i];
        char dir[2048], path[4096], want[4096];
        snprintf(dir, sizeof dir, "%s", mrpc_dir_with(b->name, b->text));
        snprintf(path, sizeof path, "%s/msr_paraphrase_train.txt", dir);
        snprintf(want, sizeof want, "%s%s", path, b->want);
        long n[2] = {0, 0};
        lw_clear_error();
        if (lw_mrpc_each(path, count_only, n) == 0) fail_msg("%s: read without an error", b->name);
        const char *e = lw_last_error();
        if (strncmp(e, want, strlen(want)) != 0) fail_msg("%s: error\n  %s\nexpected it to start\n  %s", b->name, e, want);
        if (strchr(e, '\n')) fail_msg("%s: the error is more than one line: %s", b->name, e);
        if (!strstr(e, "Quality, #1 ID, #2 ID, #1 String, #2 String separated by tabs"))
            fail_msg("%s: the error does not say what an MRPC line is: %s", b->name, e);
        char *reader = strdup(e), *probes = probe_error(dir), *para = paraphrase_error(path), *corpus = corpus_error(b->name, dir);
        if (strcmp(probes, reader)) fail_msg("%s: the probes say\n  %s\nthe reader\n  %s", b->name, probes, reader);
        if (strcmp(para, reader)) fail_msg("%s: paraphrase generate says\n  %s\nthe reader\n  %s", b->name, para, reader);
        /* the corpus reads DATA/mrpc/msr_paraphrase_train.txt (DATA/mrpc a link to dir): the same after the path */
        const char *tail = reader + strlen(path), *corpus_tail = corpus ? strstr(corpus, "/mrpc/msr_paraphrase_train.txt:") : NULL;
        if (corpus && (!corpus_tail || strcmp(corpus_tail + strlen("/mrpc/msr_paraphrase_train.txt"), tail)))
            fail_msg("%s: the alignment corpus says\n  %s\nthe reader\n  %s", b->name, corpus, reader);
        corpus_skipped = corpus_skipped || !corpus;
        free(reader), free(probes), free(para), free(corpus);
    }
    if (corpus_skipped) skip();
}

/* LF and CRLF endings (the real files are CRLF), and a last line without its ending, read to the
 * same pairs; the strings never keep a '\r'. */
static void test_line_endings(void **state) {
    (void)state;
    const char *lf = HEADER GOOD1 GOOD0;
    const char *crlf = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\r\n"
                       "1\t702876\t702977\tAmrozi accused his brother of deliberately distorting his evidence today.\tReferring to him as the witness, Amrozi accused his brother of distorting evidence.\r\n"
                       "0\t2108705\t2108831\tYucaipa owned the chain before selling it to Safeway in 1998.\tYucaipa bought the chain in 1995 and sold it to Safeway in 1998.\r\n";
    char unterminated[2048];
    snprintf(unterminated, sizeof unterminated, "%s", lf);
    unterminated[strlen(unterminated) - 1] = '\0';
    const char *texts[] = {lf, crlf, unterminated};
    pairs_text got[3];
    for (int k = 0; k < 3; k++) {
        const char *path = lw_test_tmpfile("endings.txt");
        lw_test_write_text(path, texts[k]);
        memset(&got[k], 0, sizeof got[k]);
        if (lw_mrpc_each(path, collect, &got[k]) != 0) fail_msg("ending %d: %s", k, lw_last_error());
    }
    const char *want = "1|702876|702977|Amrozi accused his brother of deliberately distorting his evidence today.|"
                       "Referring to him as the witness, Amrozi accused his brother of distorting evidence.\n"
                       "0|2108705|2108831|Yucaipa owned the chain before selling it to Safeway in 1998.|"
                       "Yucaipa bought the chain in 1995 and sold it to Safeway in 1998.\n";
    for (int k = 0; k < 3; k++) {
        assert_int_equal(got[k].n, 2);
        assert_string_equal(got[k].buf, want);
    }
    /* a header and nothing else: no pairs is an error too */
    const char *path = lw_test_tmpfile("header_only.txt");
    lw_test_write_text(path, HEADER);
    long n[2] = {0, 0};
    assert_int_not_equal(lw_mrpc_each(path, count_only, n), 0);
    assert_non_null(strstr(lw_last_error(), "no pairs after the header line"));
}

/* ------------------------------------------------------------------ the real files */

/* Naive counts of a real file: lines ending in '\n' after the first, and those starting "1\t". */
static void naive_counts(const char *text, long *n_lines, long *n_quality1) {
    *n_lines = *n_quality1 = 0;
    const char *first_nl = strchr(text, '\n');
    for (const char *p = first_nl ? first_nl + 1 : text + strlen(text); *p;) {
        const char *nl = strchr(p, '\n');
        ++*n_lines;
        *n_quality1 += p[0] == '1' && p[1] == '\t';
        p = nl ? nl + 1 : p + strlen(p);
    }
}

/* The probes' rule (probe_data.c), written again: ASCII without control bytes but tabs, 6 to 40
 * space-separated words. */
static bool probe_usable(const char *s) {
    int words = 0;
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p >= 0x80 || ((unsigned char)*p < 0x20 && *p != '\t')) return false;
        bool sp = *p == ' ' || *p == '\t' || *p == '\n' || *p == '\v' || *p == '\f' || *p == '\r';
        bool prev_sp = p == s || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n' || p[-1] == '\v' || p[-1] == '\f' ||
                       p[-1] == '\r';
        words += !sp && prev_sp;
    }
    return words >= 6 && words <= 40;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Distinct probe-usable sentences of a real file, counted by splitting its lines here. */
static int naive_probe_sentences(char *text) {
    int n = 0, cap = 16384;
    char **s = malloc(sizeof *s * (size_t)cap);
    char *save = NULL;
    int line = 0;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (line++ == 0) continue;
        l[strcspn(l, "\r")] = '\0';
        char *f[5] = {l};
        for (int k = 1; k < 5; k++) {
            f[k] = strchr(f[k - 1], '\t');
            assert_non_null(f[k]);
            *f[k]++ = '\0';
        }
        for (int k = 3; k < 5; k++)
            if (probe_usable(f[k])) {
                assert_true(n < cap);
                s[n++] = f[k];
            }
    }
    qsort(s, (size_t)n, sizeof *s, cmp_str);
    int distinct = 0;
    for (int i = 0; i < n; i++) distinct += i == 0 || strcmp(s[i], s[i - 1]) != 0;
    free(s);
    return distinct;
}

static void test_real_files(void **state) {
    (void)state;
    const char *shared = lw_test_shared_dir("the MRPC files");
    if (!shared) skip();
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/data/mrpc", shared);
    const char *files[] = {"train", "test"};
    for (int i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/msr_paraphrase_%s.txt", dir, files[i]);
        char *text = lw_test_read_file(path);
        if (!text) skip();
        long n_lines, n_q1, n[2] = {0, 0};
        naive_counts(text, &n_lines, &n_q1);
        if (lw_mrpc_each(path, count_only, n) != 0) fail_msg("%s", lw_last_error());
        assert_int_equal(n[0], n_lines);
        assert_int_equal(n[1], n_q1);
        /* the probes' sentences: every distinct usable sentence can be drawn, and one more is
         * refused (it was cut to what the file has while the asked count was recorded) */
        int want = naive_probe_sentences(text);
        lw_probe_texts t;
        if (lw_probe_mrpc_sentences(dir, files[i], want, 1, &t) != 0) fail_msg("%s", lw_last_error());
        assert_int_equal(t.n, want);
        lw_probe_texts_free(&t);
        assert_int_not_equal(lw_probe_mrpc_sentences(dir, files[i], want + 1, 1, &t), 0);
        char has[64];
        snprintf(has, sizeof has, "has %d distinct usable sentences", want);
        if (!strstr(lw_last_error(), has)) fail_msg("\"%s\"", lw_last_error());
        free(text);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_same_error_everywhere),
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_real_files),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
