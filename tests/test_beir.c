/* BEIR reader: a tiny directory written here (graded qrels, unjudged queries, CRLF, numeric
 * ids), broken files whose errors must name the file and line, and the real SciFact split
 * when ../shared is present. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "latentwire/retrieval.h"
#include "latentwire/textio.h"
#include "support/testutil.h"

static void write_file(const char *dir, const char *name, const char *text) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
    assert_int_equal(fclose(fp), 0);
}

static const char *CORPUS = "{\"_id\": \"d1\", \"title\": \"Alpha\", \"text\": \"first doc\"}\n"
                            "{\"_id\": \"d2\", \"title\": \"\", \"text\": \"second doc\"}\n"
                            "\n"
                            "{\"_id\": \"d3\", \"text\": \"third, no title\", \"metadata\": {}}\n"
                            "{\"_id\": 4, \"title\": null, \"text\": \"numeric id\"}\n";
static const char *QUERIES = "{\"_id\": \"q1\", \"text\": \"what is alpha\"}\n"
                             "{\"_id\": \"q2\", \"text\": \"unjudged query\", \"metadata\": {}}\n"
                             "{\"_id\": \"q3\", \"text\": \"graded query\"}\n";
static const char *QRELS = "query-id\tcorpus-id\tscore\n"
                           "q3\td2\t2\n"
                           "q1\td1\t1\n"
                           "q3\td1\t1\n"
                           "q3\td3\t0\n"
                           "q3\t4\t1\n";

/* A fresh BEIR directory with the given files (NULL: the good default). */
static const char *make_dir(const char *name, const char *corpus, const char *queries, const char *qrels) {
    static char dirs[4][1300];
    static int slot;
    char *dir = dirs[slot++ % 4];
    snprintf(dir, sizeof dirs[0], "%s", lw_test_tmpfile(name));
    char q[1400];
    snprintf(q, sizeof q, "%s/qrels", dir);
    assert_int_equal(lw_mkdir_p(q), 0);
    write_file(dir, "corpus.jsonl", corpus ? corpus : CORPUS);
    write_file(dir, "queries.jsonl", queries ? queries : QUERIES);
    write_file(dir, "qrels/test.tsv", qrels ? qrels : QRELS);
    return dir;
}

static void test_tiny(void **state) {
    (void)state;
    const char *dir = make_dir("tiny", NULL, NULL, NULL);
    /* a second split with CRLF line endings and space-separated fields */
    write_file(dir, "qrels/dev.tsv", "query-id corpus-id score\r\nq2 d3 1\r\n\r\n");
    lw_beir b;
    assert_int_equal(lw_beir_load(dir, "test", &b), 0);
    assert_int_equal(b.n_docs, 4);
    assert_string_equal(b.doc_id[0], "d1");
    assert_string_equal(b.doc_text[0], "Alpha first doc"); /* title + " " + text */
    assert_string_equal(b.doc_text[1], "second doc");      /* empty title: the text alone */
    assert_string_equal(b.doc_text[2], "third, no title"); /* no title field */
    assert_string_equal(b.doc_id[3], "4");                 /* an integer _id is accepted */
    assert_string_equal(b.doc_text[3], "numeric id");
    /* q2 has no qrels and is dropped; q1, q3 keep the queries.jsonl order */
    assert_int_equal(b.n_queries, 2);
    assert_string_equal(b.query_id[0], "q1");
    assert_string_equal(b.query_text[0], "what is alpha");
    assert_string_equal(b.query_id[1], "q3");
    /* q1: d1 (grade 1). q3, in qrels order: d2 (2), d1 (1), 4 (1); d3 has score 0 (judged not
     * relevant) and is left out. */
    assert_int_equal(b.rel_off[0], 0);
    assert_int_equal(b.rel_off[1], 1);
    assert_int_equal(b.rel_off[2], 4);
    const int32_t want_doc[] = {0, 1, 0, 3};
    const float want_grade[] = {1, 2, 1, 1};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(b.rel_doc[i], want_doc[i]);
        assert_true(b.rel_grade[i] == want_grade[i]);
    }

    /* The loaded relevance plugs straight into a retrieval task: made-up 3-d embeddings
     * d1 (1,0,0), d2 (0,1,0), d3 (1,0,0.5), 4 (0,1,1). q1 = (1,0,0): d1 has cosine 1 -> top1.
     * q3 = (0,1,0): cosines d1 0, d2 1, d3 0, 4 0.7071 -> d2, 4, then d3 (non-relevant) before
     * its tie d1: relevant ranks 1, 2, 4 -> top1 1, recall@1 1/3, recall@5 1. */
    float Q[] = {1, 0, 0, 0, 1, 0};
    float C[] = {1, 0, 0, 0, 1, 0, 1, 0, 0.5f, 0, 1, 1};
    lw_retrieval_task t = {
        .n_queries = b.n_queries, .rel_off = b.rel_off, .rel_ids = b.rel_doc, .rel_grade = b.rel_grade};
    double out[2 * 6];
    assert_int_equal(lw_retrieval_score(Q, C, b.n_docs, 3, &t, NULL, out), 0);
    assert_true(out[0] == 1.0);                     /* q1 top1 */
    assert_true(out[6] == 1.0);                     /* q3 top1 (d2) */
    assert_true(fabs(out[7] - 1.0 / 3) < 1e-12);    /* q3 recall@1 */
    assert_true(fabs(out[8] - 1.0) < 1e-12);        /* q3 recall@5: ranks 1, 2, 4 */
    lw_beir_free(&b);
    lw_beir_free(&b); /* freeing twice is harmless: the struct is zeroed */

    assert_int_equal(lw_beir_load(dir, "dev", &b), 0);
    assert_int_equal(b.n_queries, 1);
    assert_string_equal(b.query_id[0], "q2");
    assert_int_equal(b.rel_doc[0], 2);
    lw_beir_free(&b);
}

static void expect_load_error(const char *name, const char *corpus, const char *queries, const char *qrels,
                              const char *split, const char *must1, const char *must2) {
    const char *dir = make_dir(name, corpus, queries, qrels);
    lw_beir b;
    memset(&b, 0x5a, sizeof b);
    assert_int_equal(lw_beir_load(dir, split, &b), -1);
    const char *e = lw_last_error();
    fprintf(stderr, "%s: %s\n", name, e);
    if (!strstr(e, must1) || (must2 && !strstr(e, must2))) {
        fprintf(stderr, "error lacks \"%s\" / \"%s\"\n", must1, must2 ? must2 : "");
        fail();
    }
    assert_null(strchr(e, '\n'));
    assert_int_equal(b.n_docs, 0); /* the output is left empty */
    assert_int_equal(b.n_queries, 0);
    assert_null(b.doc_id);
    assert_null(b.rel_off);
    lw_beir_free(&b);
}

/* The same qrels with BEIR's header line, without it, and with another header text give the
 * same relevance (q1: d1 grade 1; q3: d2 2, d1 1, 4 1). */
static void test_qrels_header_optional(void **state) {
    (void)state;
    const char *bodies[] = {QRELS, QRELS + strlen("query-id\tcorpus-id\tscore\n"),
                            "qid docid relevance\nq3 d2 2\nq1 d1 1\nq3 d1 1\nq3 d3 0\nq3 4 1\n",
                            /* TREC's own four columns, iteration 0 (or Q0), no header */
                            "q3 0 d2 2\nq1 0 d1 1\nq3 Q0 d1 1\nq3 0 d3 0\nq3\t0\t4\t1\n"};
    const int32_t want_doc[] = {0, 1, 0, 3};
    const float want_grade[] = {1, 2, 1, 1};
    for (int k = 0; k < 4; k++) {
        char name[32];
        snprintf(name, sizeof name, "header%d", k);
        const char *dir = make_dir(name, NULL, NULL, bodies[k]);
        lw_beir b;
        if (lw_beir_load(dir, "test", &b) != 0) fail_msg("qrels form %d: %s", k, lw_last_error());
        assert_int_equal(b.n_queries, 2);
        assert_string_equal(b.query_id[0], "q1");
        assert_string_equal(b.query_id[1], "q3");
        assert_int_equal(b.rel_off[2], 4);
        for (int i = 0; i < 4; i++) {
            assert_int_equal(b.rel_doc[i], want_doc[i]);
            assert_true(b.rel_grade[i] == want_grade[i]);
        }
        lw_beir_free(&b);
    }
}

static void test_broken(void **state) {
    (void)state;
    const char *H = "query-id\tcorpus-id\tscore\n";
    char qrels[512];

    expect_load_error("bad_json", "{\"_id\": \"d1\", \"text\": \"a\"}\n\n{\"_id\": \"d2\", \"text\": }\n", NULL, H,
                      "test", "corpus.jsonl:3:", "invalid JSON");
    expect_load_error("no_text", "{\"_id\": \"d1\", \"text\": \"a\"}\n{\"_id\": \"d2\", \"title\": \"t\"}\n", NULL, H,
                      "test", "corpus.jsonl:2:", "\"text\" is missing");
    expect_load_error("text_not_string", "{\"_id\": \"d1\", \"text\": 5}\n", NULL, H, "test", "corpus.jsonl:1:",
                      "\"text\" is not a string");
    expect_load_error("dup_doc", "{\"_id\": \"d1\", \"text\": \"a\"}\n{\"_id\": \"d1\", \"text\": \"b\"}\n", NULL, H,
                      "test", "corpus.jsonl:2:", "duplicate _id \"d1\"");
    expect_load_error("query_array", NULL, "{\"_id\": \"q1\", \"text\": \"a\"}\n[1, 2]\n", H, "test",
                      "queries.jsonl:2:", "not a JSON object");
    expect_load_error("query_no_id", NULL, "{\"text\": \"a\"}\n", H, "test", "queries.jsonl:1:", "\"_id\" is missing");

    snprintf(qrels, sizeof qrels, "%sq1\td1\t1\nq3\tzz\t1\n", H);
    expect_load_error("unknown_doc", NULL, NULL, qrels, "test", "test.tsv:3:", "unknown corpus id \"zz\"");
    snprintf(qrels, sizeof qrels, "%sqx\td1\t1\n", H);
    expect_load_error("unknown_query", NULL, NULL, qrels, "test", "test.tsv:2:", "unknown query id \"qx\"");
    expect_load_error("empty_qrels", NULL, NULL, "", "test", "test.tsv", "empty");
    /* without a header, a bad score on the first line is taken as the header; on the second
     * it is an error */
    expect_load_error("bad_score_no_header", NULL, NULL, "q1\td1\t1\nq3\td2\tx\n", "test", "test.tsv:2:",
                      "score \"x\"");
    /* a first line with the wrong field count is neither header nor data */
    expect_load_error("two_field_first", NULL, NULL, "query-id\tcorpus-id\nq1\td1\t1\n", "test", "test.tsv:1:",
                      "3 fields");
    snprintf(qrels, sizeof qrels, "%sq1\td1\tabc\n", H);
    expect_load_error("bad_score", NULL, NULL, qrels, "test", "test.tsv:2:", "score \"abc\"");
    snprintf(qrels, sizeof qrels, "%sq1\td1\n", H);
    expect_load_error("two_fields", NULL, NULL, qrels, "test", "test.tsv:2:", "3 fields");
    snprintf(qrels, sizeof qrels, "%sq1\td1\t1\n\nq1\td1\t2\n", H);
    expect_load_error("dup_pair", NULL, NULL, qrels, "test", "test.tsv:4:", "duplicate pair");
    /* grades are whole numbers within 32 bits, as trec_eval reads them; ids are never empty */
    snprintf(qrels, sizeof qrels, "%sq1\td1\t0.5\n", H);
    expect_load_error("fractional_grade", NULL, NULL, qrels, "test", "test.tsv:2:", "\"0.5\" is not a whole number");
    snprintf(qrels, sizeof qrels, "%sq1\td1\t1e12\n", H);
    expect_load_error("huge_grade", NULL, NULL, qrels, "test", "test.tsv:2:", "out of range");
    snprintf(qrels, sizeof qrels, "%sq1\t\t1\n", H);
    expect_load_error("empty_doc_id", NULL, NULL, qrels, "test", "test.tsv:2:", "corpus-id field is empty");
    snprintf(qrels, sizeof qrels, "%s\td1\t1\n", H);
    expect_load_error("empty_query_id", NULL, NULL, qrels, "test", "test.tsv:2:", "query-id field is empty");
    /* four columns whose second is not TREC's iteration are not guessed at */
    snprintf(qrels, sizeof qrels, "%sq1\td1\t1\t7\n", H);
    expect_load_error("four_fields", NULL, NULL, qrels, "test", "test.tsv:2:", "found 4");
    snprintf(qrels, sizeof qrels, "%sq1\td1\t0\n", H);
    expect_load_error("nothing_relevant", NULL, NULL, qrels, "test", "test.tsv", "score > 0");
    expect_load_error("missing_split", NULL, NULL, NULL, "train", "qrels/train.tsv", "cannot open");
    expect_load_error("empty_corpus", "\n", NULL, NULL, "test", "corpus.jsonl", "no documents");
    expect_load_error("empty_queries", NULL, "\n", NULL, "test", "queries.jsonl", "no queries");
    /* a line past LW_MAX_LINE_BYTES (once read whole by getline, however long): refused, naming it */
    size_t big_n = LW_MAX_LINE_BYTES + 64;
    char *big = malloc(big_n + 64);
    assert_non_null(big);
    int k = snprintf(big, 64, "{\"_id\": \"d1\", \"text\": \"");
    memset(big + k, 'x', big_n - (size_t)k);
    strcpy(big + big_n, "\"}\n");
    expect_load_error("long_line", big, NULL, NULL, "test", "corpus.jsonl:1:", "longer than");
    free(big);

    lw_beir b;
    assert_int_equal(lw_beir_load("/nonexistent/beir", "test", &b), -1);
    assert_non_null(strstr(lw_last_error(), "/nonexistent/beir/corpus.jsonl"));
}

/* A score finite as a double but past float's range would become an infinite grade (and
 * later an internal "rel_grade = inf" error): refused by the reader, naming file and line. */
static void test_score_overflow(void **state) {
    (void)state;
    expect_load_error("score_1e39", NULL, NULL, "query-id\tcorpus-id\tscore\nq1\td1\t1e39\n", "test", "test.tsv:2:",
                      "score \"1e39\"");
    expect_load_error("score_neg_1e39", NULL, NULL, "query-id\tcorpus-id\tscore\nq1\td1\t1\nq3\td1\t-1e39\n", "test",
                      "test.tsv:3:", "score \"-1e39\"");
}

static void test_scifact(void **state) {
    (void)state;
    const char *corpus = lw_test_shared_path("data/scifact/beir_derived/corpus.jsonl");
    if (!corpus) {
        fprintf(stderr, "SKIP (no ../shared): SciFact BEIR test split not checked\n");
        return;
    }
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", corpus);
    *strrchr(dir, '/') = '\0';
    lw_beir b;
    assert_int_equal(lw_beir_load(dir, "test", &b), 0);
    fprintf(stderr, "SciFact: %d docs, %d test queries, %lld pairs\n", b.n_docs, b.n_queries,
            (long long)b.rel_off[b.n_queries]);
    assert_int_equal(b.n_docs, 5183);
    assert_int_equal(b.n_queries, 300);
    assert_int_equal(b.rel_off[b.n_queries], 339);
    assert_string_equal(b.doc_id[0], "4983");
    assert_true(strncmp(b.doc_text[0], "Microstructural development of human newborn cerebral white matter", 66) == 0);
    for (int32_t q = 0; q < b.n_queries; q++) assert_true(b.rel_off[q + 1] > b.rel_off[q]);
    for (int64_t i = 0; i < b.rel_off[b.n_queries]; i++) {
        assert_true(b.rel_doc[i] >= 0 && b.rel_doc[i] < b.n_docs);
        assert_true(b.rel_grade[i] == 1.0f);
    }
    lw_beir_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny),
        cmocka_unit_test(test_qrels_header_optional),
        cmocka_unit_test(test_broken),
        cmocka_unit_test(test_score_overflow),
        cmocka_unit_test(test_scifact),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
