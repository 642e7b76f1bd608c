/* lw_beir_subsample on a BEIR directory written here (30 queries, 200 documents, shared and
 * multiple judgements): the sample's sizes, that each sampled query keeps exactly its judged
 * documents (checked by id against a second, untouched load), file order, determinism by seed,
 * uniform draws over many seeds, the refusal of a corpus too small for the judged documents (the
 * set left as it was), and SciFact's sample when ../shared is present. */
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
#include "latentwire/error.h"
#include "latentwire/retrieval.h"
#include "support/testutil.h"

enum { NQ = 30, ND = 200 };

/* DIR/NAME with the text (lw_test_write_text names the file it could not write) */
static void write_text(const char *dir, const char *name, const char *text) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    lw_test_write_text(path, text);
}

/* Query q judges documents 3q and, for odd q, 3q + 1 and 150 + q % 7 (shared by several queries);
 * q 29 also has a grade-0 line (judged not relevant: the loader leaves it out). */
static const char *make_set(void) {
    static char dir[1300];
    snprintf(dir, sizeof dir, "%s", lw_test_tmpfile("beir-sample"));
    char sub[1400];
    snprintf(sub, sizeof sub, "%s/qrels", dir);
    assert_int_equal(lw_mkdir_p(sub), 0);
    static char corpus[ND * 64], queries[NQ * 64], qrels[NQ * 96];
    size_t n = 0;
    for (int d = 0; d < ND; d++) n += snprintf(corpus + n, sizeof corpus - n, "{\"_id\": \"d%d\", \"text\": \"doc %d\"}\n", d, d);
    n = 0;
    for (int q = 0; q < NQ; q++) n += snprintf(queries + n, sizeof queries - n, "{\"_id\": \"q%d\", \"text\": \"query %d\"}\n", q, q);
    n = snprintf(qrels, sizeof qrels, "query-id\tcorpus-id\tscore\n");
    for (int q = 0; q < NQ; q++) {
        n += snprintf(qrels + n, sizeof qrels - n, "q%d\td%d\t1\n", q, 3 * q);
        if (q % 2) n += snprintf(qrels + n, sizeof qrels - n, "q%d\td%d\t2\nq%d\td%d\t1\n", q, 3 * q + 1, q, 150 + q % 7);
    }
    n += snprintf(qrels + n, sizeof qrels - n, "q29\td199\t0\n");
    write_text(dir, "corpus.jsonl", corpus);
    write_text(dir, "queries.jsonl", queries);
    write_text(dir, "qrels/test.tsv", qrels);
    return dir;
}

static int32_t find(char **ids, int32_t n, const char *id) {
    for (int32_t i = 0; i < n; i++)
        if (!strcmp(ids[i], id)) return i;
    return -1;
}

/* s is a sample of full: ids in full's order, texts with them, and each kept query's qrels equal
 * to full's (document ids and grades, in order). Returns the number of documents judged by the
 * kept queries. */
static int32_t check_sample_of(const lw_beir *s, const lw_beir *full) {
    int32_t prev = -1;
    for (int32_t i = 0; i < s->n_docs; i++) {
        int32_t j = find(full->doc_id, full->n_docs, s->doc_id[i]);
        assert_true(j > prev); /* present, distinct, in file order */
        assert_string_equal(s->doc_text[i], full->doc_text[j]);
        prev = j;
    }
    prev = -1;
    bool *judged = calloc((size_t)s->n_docs, sizeof(bool));
    int32_t n_judged = 0;
    for (int32_t q = 0; q < s->n_queries; q++) {
        int32_t j = find(full->query_id, full->n_queries, s->query_id[q]);
        assert_true(j > prev);
        assert_string_equal(s->query_text[q], full->query_text[j]);
        prev = j;
        assert_int_equal(s->rel_off[q + 1] - s->rel_off[q], full->rel_off[j + 1] - full->rel_off[j]);
        for (int64_t k = 0; k < s->rel_off[q + 1] - s->rel_off[q]; k++) {
            int32_t d = s->rel_doc[s->rel_off[q] + k];
            assert_true(d >= 0 && d < s->n_docs);
            assert_string_equal(s->doc_id[d], full->doc_id[full->rel_doc[full->rel_off[j] + k]]);
            assert_true(s->rel_grade[s->rel_off[q] + k] == full->rel_grade[full->rel_off[j] + k]);
            n_judged += !judged[d];
            judged[d] = true;
        }
    }
    assert_int_equal(s->rel_off[0], 0);
    free(judged);
    return n_judged;
}

static void test_sizes_and_judgements(void **state) {
    (void)state;
    const char *dir = make_set();
    lw_beir full, s;
    assert_int_equal(lw_beir_load(dir, "test", &full), 0);
    assert_int_equal(full.n_queries, NQ);
    assert_int_equal(full.n_docs, ND);
    assert_int_equal(lw_beir_load(dir, "test", &s), 0);
    assert_int_equal(lw_beir_subsample(&s, 8, 40, 7), 0);
    assert_int_equal(s.n_queries, 8);
    assert_int_equal(s.n_docs, 40);
    int32_t judged = check_sample_of(&s, &full);
    assert_true(judged >= 8 && judged < 40); /* the rest are distractors */
    lw_beir_free(&s);

    /* queries only: the whole corpus stays; documents only: every query stays, and all it judges */
    assert_int_equal(lw_beir_load(dir, "test", &s), 0);
    assert_int_equal(lw_beir_subsample(&s, 5, 0, 3), 0);
    assert_int_equal(s.n_queries, 5);
    assert_int_equal(s.n_docs, ND);
    check_sample_of(&s, &full);
    lw_beir_free(&s);
    assert_int_equal(lw_beir_load(dir, "test", &s), 0);
    int32_t all_judged = 30 + 15 + 7; /* 3q for every q, 3q + 1 for the 15 odd q, 150 + q % 7: 7 documents */
    assert_int_equal(lw_beir_subsample(&s, 0, all_judged + 10, 3), 0);
    assert_int_equal(s.n_queries, NQ);
    assert_int_equal(s.n_docs, all_judged + 10);
    assert_int_equal(check_sample_of(&s, &full), all_judged);
    lw_beir_free(&s);

    /* 0 or at least the set's size: everything, unchanged */
    assert_int_equal(lw_beir_load(dir, "test", &s), 0);
    assert_int_equal(lw_beir_subsample(&s, NQ + 5, ND, 9), 0);
    assert_int_equal(s.n_queries, NQ);
    assert_int_equal(s.n_docs, ND);
    check_sample_of(&s, &full);
    lw_beir_free(&s);
    lw_beir_free(&full);
}

static void test_refusals_leave_the_set(void **state) {
    (void)state;
    const char *dir = make_set();
    lw_beir s;
    assert_int_equal(lw_beir_load(dir, "test", &s), 0);
    /* all 30 queries judge 52 documents: 51 cannot hold them */
    assert_int_equal(lw_beir_subsample(&s, 0, 51, 1), -1);
    assert_non_null(strstr(lw_last_error(), "51 documents"));
    assert_non_null(strstr(lw_last_error(), "52 documents"));
    assert_int_equal(s.n_queries, NQ);
    assert_int_equal(s.n_docs, ND);
    assert_string_equal(s.doc_id[ND - 1], "d199");
    /* a query sample refused leaves every query too: 8 queries judge at least 8 documents */
    assert_int_equal(lw_beir_subsample(&s, 8, 7, 1), -1);
    assert_int_equal(s.n_queries, NQ);
    assert_int_equal(s.n_docs, ND);
    assert_string_equal(s.query_id[NQ - 1], "q29");
    assert_int_equal(s.rel_off[NQ], 30 + 2 * 15);
    assert_int_equal(lw_beir_subsample(&s, -1, 0, 1), -1);
    assert_int_equal(lw_beir_subsample(&s, 0, -3, 1), -1);
    assert_int_equal(s.n_docs, ND);
    assert_int_equal(lw_beir_subsample(NULL, 1, 1, 1), -1);
    lw_beir_free(&s);
}

/* The same seed, the same sample; over 3000 seeds each query is drawn about 8/30 of the time and
 * each non-judged document about as often as the others (a draw that favoured the file's first
 * entries fails here; one that reseeded the generator before the distractors would not, and is
 * harmless). */
static void test_seeded_and_uniform(void **state) {
    (void)state;
    const char *dir = make_set();
    lw_beir full;
    assert_int_equal(lw_beir_load(dir, "test", &full), 0);
    enum { SEEDS = 3000 };
    int q_hits[NQ] = {0}, d_hits[ND] = {0};
    int distinct = 0;
    char first[NQ * 8] = "";
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        lw_beir s, again;
        assert_int_equal(lw_beir_load(dir, "test", &s), 0);
        assert_int_equal(lw_beir_load(dir, "test", &again), 0);
        assert_int_equal(lw_beir_subsample(&s, 8, 60, seed), 0);
        assert_int_equal(lw_beir_subsample(&again, 8, 60, seed), 0);
        char ids[NQ * 8] = "";
        for (int32_t q = 0; q < s.n_queries; q++) {
            assert_string_equal(s.query_id[q], again.query_id[q]);
            strcat(ids, s.query_id[q]);
            q_hits[find(full.query_id, NQ, s.query_id[q])]++;
        }
        for (int32_t d = 0; d < s.n_docs; d++) {
            assert_string_equal(s.doc_id[d], again.doc_id[d]);
            d_hits[find(full.doc_id, ND, s.doc_id[d])]++;
        }
        if (seed == 1) snprintf(first, sizeof first, "%s", ids);
        else distinct += strcmp(ids, first) != 0;
        lw_beir_free(&s);
        lw_beir_free(&again);
    }
    assert_true(distinct > SEEDS * 9 / 10);
    /* each query: binomial(3000, 8/30), sd 24.2 around 800; 5 sd */
    int lo = SEEDS, hi = 0;
    for (int q = 0; q < NQ; q++) lo = q_hits[q] < lo ? q_hits[q] : lo, hi = q_hits[q] > hi ? q_hits[q] : hi;
    fprintf(stderr, "each query drawn %d to %d times (8/30 of 3000 = 800, sd 24.2)\n", lo, hi);
    for (int q = 0; q < NQ; q++) assert_true(fabs(q_hits[q] - SEEDS * 8.0 / 30) < 5 * 24.2);
    /* documents 160..199 are never judged (the shared ones are 150..156): each is a distractor with
     * the same chance; the 40 of them stay within 5 binomial sd of their mean */
    double mean = 0;
    for (int d = 160; d < ND; d++) mean += d_hits[d] / 40.0;
    double p = mean / SEEDS, sd = sqrt(SEEDS * p * (1 - p));
    fprintf(stderr, "the never-judged documents drawn %.1f times on average (sd %.1f)\n", mean, sd);
    assert_true(p > 0.05 && p < 0.5);
    for (int d = 160; d < ND; d++) assert_true(fabs(d_hits[d] - mean) < 5 * sd);
    lw_beir_free(&full);
}

static void test_scifact_sample(void **state) {
    (void)state;
    const char *corpus = lw_test_shared_path("data/scifact/beir_derived/corpus.jsonl");
    if (!corpus) return; /* lw_test_shared_path recorded the skip */
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", corpus);
    *strrchr(dir, '/') = '\0';
    lw_beir full, s;
    assert_int_equal(lw_beir_load(dir, "test", &full), 0);
    assert_int_equal(lw_beir_load(dir, "test", &s), 0);
    /* make demo's sample */
    assert_int_equal(lw_beir_subsample(&s, 100, 300, 1), 0);
    assert_int_equal(s.n_queries, 100);
    assert_int_equal(s.n_docs, 300);
    int32_t judged = check_sample_of(&s, &full);
    fprintf(stderr, "SciFact sample: 100 queries judging %d documents, %d distractors\n", judged, 300 - judged);
    lw_beir_free(&s);
    lw_beir_free(&full);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes_and_judgements),
        cmocka_unit_test(test_refusals_leave_the_set),
        cmocka_unit_test(test_seeded_and_uniform),
        cmocka_unit_test(test_scifact_sample),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
