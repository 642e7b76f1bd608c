/* lw_candidates_from_spec: every regime spec built from row ids (not positions), checked list by
 * list against what the spec says, including the paraphrase-adjacent para:FILE:D. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/retrieval.h"
#include "support/testutil.h"

/* 6 queries, 40 candidates; row ids are scrambled so positions and ids differ. */
#define NQ 6
#define NC 40
static int64_t qid[NQ], cid[NC];
static int32_t gold[NQ];

static void setup_ids(void) {
    for (int c = 0; c < NC; c++) cid[c] = 1000 + (c * 17) % NC; /* a permutation of 1000..1039 */
    for (int q = 0; q < NQ; q++) {
        gold[q] = 3 * q + 1;
        qid[q] = cid[gold[q]]; /* a query's row id is its target's */
    }
}

static int32_t pos_of(int64_t id) {
    for (int c = 0; c < NC; c++)
        if (cid[c] == id) return c;
    return -1;
}

static lw_regime_input input(void) {
    setup_ids();
    return (lw_regime_input){.nq = NQ, .gold = gold, .query_row_id = qid, .nc = NC, .cand_row_id = cid, .seed = 5};
}

static const char *write_file(const char *name, const char *text) {
    const char *path = lw_test_tmpfile(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_para_lists(void **state) {
    (void)state;
    lw_regime_input in = input();
    /* query q's negatives: the candidates with row ids qid[q] + 1 and + 2 (wrapping in 1000..1039) */
    char text[2048] = "";
    for (int q = 0; q < NQ; q++) {
        int64_t a = 1000 + (qid[q] - 1000 + 1) % NC, b = 1000 + (qid[q] - 1000 + 2) % NC;
        snprintf(text + strlen(text), sizeof text - strlen(text), "{\"row_id\": %lld, \"negatives\": [%lld, %lld]}\n",
                 (long long)qid[q], (long long)a, (long long)b);
    }
    /* a path with a colon in it: D is after the last colon */
    const char *path = write_file("para:negs.jsonl", text);
    char spec[4200];
    snprintf(spec, sizeof spec, "para:%s:7", path);
    int64_t *off;
    int32_t *ids;
    double mean;
    assert_int_equal(lw_candidates_from_spec(spec, &in, &off, &ids, &mean), 0);
    assert_true(mean == 10.0);
    for (int q = 0; q < NQ; q++) {
        assert_int_equal(off[q + 1] - off[q], 1 + 2 + 7);
        const int32_t *l = ids + off[q];
        assert_int_equal(l[0], gold[q]);
        assert_int_equal(l[1], pos_of(1000 + (qid[q] - 1000 + 1) % NC));
        assert_int_equal(l[2], pos_of(1000 + (qid[q] - 1000 + 2) % NC));
        for (int i = 0; i < 10; i++)
            for (int j = i + 1; j < 10; j++) assert_int_not_equal(l[i], l[j]); /* distinct */
    }
    free(off);
    free(ids);
    char buf[4200];
    assert_int_equal(lw_regime_file(spec, buf, sizeof buf), 1);
    assert_string_equal(buf, path);
    /* a buffer one byte short of the name is refused, never filled with a shorter name */
    assert_int_equal(lw_regime_file(spec, buf, strlen(path)), -1);
    assert_non_null(strstr(lw_last_error(), "longer than"));
    assert_int_equal(lw_regime_file(spec, buf, strlen(path) + 1), 1);
    assert_int_equal(lw_regime_file("random:5", buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(lw_regime_file(spec, NULL, 8), -1);
    snprintf(spec, sizeof spec, "para:%s:3", path);
    assert_int_equal(lw_regime_file(spec, buf, sizeof buf), 1);
    assert_string_equal(buf, path);
    /* hard: the same file, no random others */
    snprintf(spec, sizeof spec, "hard:%s", path);
    assert_int_equal(lw_candidates_from_spec(spec, &in, &off, &ids, &mean), 0);
    assert_true(mean == 3.0);
    free(off);
    free(ids);
}

static void expect_error(const char *spec, const lw_regime_input *in, const char *needle) {
    int64_t *off;
    int32_t *ids;
    double mean;
    assert_int_equal(lw_candidates_from_spec(spec, in, &off, &ids, &mean), -1);
    assert_null(off);
    if (!strstr(lw_last_error(), needle)) fail_msg("'%s': error '%s' lacks '%s'", spec, lw_last_error(), needle);
}

static void test_bad_specs(void **state) {
    (void)state;
    lw_regime_input in = input();
    expect_error("random:0", &in, "use bank, random:D");
    expect_error("random:x", &in, "use bank, random:D");
    expect_error("cluster:3", &in, "use bank, random:D");
    expect_error("nearest:3", &in, "use bank, random:D");
    const char *one = write_file("one.jsonl", "{\"row_id\": 1004, \"negatives\": [1001]}\n");
    char spec[4200];
    snprintf(spec, sizeof spec, "para:%s", one);
    expect_error(spec, &in, "needs a count");
    /* only one query covered by hard: -> refused, naming the file */
    snprintf(spec, sizeof spec, "hard:%s", one);
    expect_error(spec, &in, "queries have no candidate besides their target");
    const char *unknown = write_file("unknown.jsonl", "{\"row_id\": 1004, \"negatives\": [77]}\n");
    snprintf(spec, sizeof spec, "hard:%s", unknown);
    expect_error(spec, &in, ":1: negative row id 77 is not among the candidates");
    /* a query's second line was merged into its first, and its own target dropped from its
     * negatives, both without a word */
    const char *twice = write_file("twice.jsonl", "{\"row_id\": 1017, \"negatives\": [1001]}\n"
                                                  "{\"row_id\": 1017, \"negatives\": [1002]}\n");
    snprintf(spec, sizeof spec, "hard:%s", twice);
    expect_error(spec, &in, ":2: row_id 1017 is listed again (first on line 1)");
    const char *self = write_file("self.jsonl", "{\"row_id\": 1017, \"negatives\": [1001, 1017]}\n");
    snprintf(spec, sizeof spec, "hard:%s", self);
    expect_error(spec, &in, ":1: row_id 1017 lists its own target among its negatives");
    /* more distractors (or clusters) than the bank has: refused alike by every regime, in the user's
     * terms (the spec, and the largest D that fits), never capped for one regime and refused for another */
    expect_error("random:1000", &in, "--regime \"random:1000\": 1000 distractors, but each query has only 39 other "
                                     "candidates: give D <= 39");
    expect_error("cluster:3:1000", &in, "1000 distractors, but each query has only 39 other candidates");
    expect_error("cluster:41:2", &in, "41 clusters of 40 candidates: give K <= 40");
    snprintf(spec, sizeof spec, "para:%s:1000", one);
    expect_error(spec, &in, "1000 distractors, but each query has only 39 other candidates: give D <= 39");
    /* two candidates with one row id: which one a file means is unknown */
    cid[5] = cid[6];
    snprintf(spec, sizeof spec, "hard:%s", one);
    expect_error(spec, &in, "appears twice among the candidates");
}

static void test_label_groups(void **state) {
    (void)state;
    lw_regime_input in = input();
    /* labels by row id parity: even ids "a", odd ids "b" */
    char text[4096] = "";
    for (int c = 0; c < NC; c++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "{\"row_id\": %lld, \"label\": \"%s\"}\n",
                 (long long)cid[c], cid[c] % 2 ? "b" : "a");
    const char *path = write_file("labels.jsonl", text);
    char spec[4200];
    snprintf(spec, sizeof spec, "label:%s", path);
    int64_t *off;
    int32_t *ids;
    double mean;
    assert_int_equal(lw_candidates_from_spec(spec, &in, &off, &ids, &mean), 0);
    for (int q = 0; q < NQ; q++) {
        assert_int_equal(off[q + 1] - off[q], NC / 2);
        for (int64_t k = off[q]; k < off[q + 1]; k++) assert_int_equal(cid[ids[k]] % 2, qid[q] % 2);
    }
    free(off);
    free(ids);
    assert_int_equal(lw_candidates_from_spec("bank", &in, &off, &ids, &mean), 0);
    assert_null(off);
    assert_true(mean == NC);
    /* a row given a second, different label is refused naming both lines (the later line silently
     * won); the same label again and a row that is not a candidate are fine */
    char again[4400];
    snprintf(again, sizeof again, "%s{\"row_id\": %lld, \"label\": \"a\"}\n{\"row_id\": 999999, \"label\": \"a\"}\n", text,
             (long long)cid[0]);
    snprintf(spec, sizeof spec, "label:%s", write_file("labels_again.jsonl", again));
    assert_int_equal(lw_candidates_from_spec(spec, &in, &off, &ids, &mean), 0);
    free(off);
    free(ids);
    char twice[4400];
    snprintf(twice, sizeof twice, "%s{\"row_id\": %lld, \"label\": \"b\"}\n", text, (long long)cid[0]);
    snprintf(spec, sizeof spec, "label:%s", write_file("labels_twice.jsonl", twice));
    char want[128];
    snprintf(want, sizeof want, ":%d: row_id %lld already has another label (line 1)", NC + 1, (long long)cid[0]);
    expect_error(spec, &in, want);
    /* blank lines are skipped but counted: the lines named are the file's own */
    char blank[4400];
    snprintf(blank, sizeof blank, "\n%s\n{\"row_id\": %lld, \"label\": \"b\"}\n", text, (long long)cid[0]);
    snprintf(spec, sizeof spec, "label:%s", write_file("labels_blank.jsonl", blank));
    snprintf(want, sizeof want, ":%d: row_id %lld already has another label (line 2)", NC + 3, (long long)cid[0]);
    expect_error(spec, &in, want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_para_lists),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_label_groups),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
