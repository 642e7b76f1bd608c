/* Tasks: scorers on hand-made cases, JSONL round trip and errors, readers on small
 * written files and on ../shared/data when present. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latentwire/error.h"
#include "latentwire/task.h"
#include "support/testutil.h"

static lw_task_item item(const char *gold, lw_scorer s) {
    lw_task_item it = {.id = "x", .sender = "", .receiver = "q", .gold = (char *)gold, .scorer = s};
    return it;
}

static double score(const char *gold, lw_scorer s, const char *pred) {
    lw_task_item it = item(gold, s);
    return lw_score(&it, pred);
}

static void assert_number(const char *s, double want) {
    double got = NAN;
    if (!lw_last_number(s, &got)) fail_msg("no number found in \"%s\"", s);
    if (fabs(got - want) > 1e-9) fail_msg("\"%s\": got %.10g, want %.10g", s, got, want);
}

/* ---------------------------------------------------------------- numbers ---- */

static void test_last_number(void **state) {
    (void)state;
    assert_number("18", 18);
    assert_number("She makes $18 every day.", 18);
    assert_number("The total is 1,234 apples.", 1234);
    assert_number("1,450,000", 1450000);
    assert_number("It costs $12.50.", 12.5);
    assert_number("The answer is 3.", 3);
    assert_number("x = -5", -5);
    assert_number("He lost -$7 today", -7);
    assert_number("7 apples and then 9 pears", 9);
    assert_number("5-3 = 2", 2);
    assert_number("10 - 3", 3);         /* a spaced minus is subtraction, not a sign */
    assert_number("in 2021 he had 1,5 things", 5); /* "1,5" is no thousands group */
    assert_number("0.5 and .25", 0.25);
    assert_number("#### 18", 18);
    double v = 42;
    assert_false(lw_last_number("no numbers here.", &v));
    assert_true(v == 42); /* untouched */
    assert_false(lw_last_number("", &v));
    assert_false(lw_last_number(NULL, &v));
}

static void test_numeric_scorer(void **state) {
    (void)state;
    assert_true(score("18", LW_SCORE_NUMERIC, " Janet makes 9 * 2 = $18.") == 1);
    assert_true(score("1600", LW_SCORE_NUMERIC, "The answer is 1,600 dollars") == 1);
    assert_true(score("-10", LW_SCORE_NUMERIC, "The change is -10.") == 1);
    assert_true(score("12.5", LW_SCORE_NUMERIC, "$12.50") == 1);
    assert_true(score("3", LW_SCORE_NUMERIC, "3.") == 1);
    assert_true(score("18", LW_SCORE_NUMERIC, "18 at first, but then 20 eggs") == 0); /* last number counts */
    assert_true(score("18", LW_SCORE_NUMERIC, "eighteen") == 0);
    assert_true(score("18", LW_SCORE_NUMERIC, "") == 0);
    assert_true(score("18", LW_SCORE_NUMERIC, "18.0000001") == 1); /* within 1e-6 */
    assert_true(score("18", LW_SCORE_NUMERIC, "18.01") == 0);
}

/* ---------------------------------------------------------- normalization ---- */

static void test_normalize(void **state) {
    (void)state;
    char *s = lw_normalize_answer("  The  Quick, brown FOX!! ");
    assert_string_equal(s, "quick brown fox");
    free(s);
    s = lw_normalize_answer("An apple a day");
    assert_string_equal(s, "apple day");
    free(s);
    s = lw_normalize_answer("Tom's \xE2\x80\x9Ckite\xE2\x80\x9D\xE2\x80\xA6");
    assert_string_equal(s, "tom s kite");
    free(s);
    s = lw_normalize_answer("d\xC3\xA9pendant");
    assert_string_equal(s, "d\xC3\xA9pendant");
    free(s);
    s = lw_normalize_answer("");
    assert_string_equal(s, "");
    free(s);
}

/* ------------------------------------------------------------------ exact ---- */

static void test_exact_scorer(void **state) {
    (void)state;
    assert_true(score("Tom", LW_SCORE_EXACT, "Tom") == 1);
    assert_true(score("Tom", LW_SCORE_EXACT, "tom.") == 1);
    assert_true(score("Tom", LW_SCORE_EXACT, " Tom went to the park with his mom.") == 1); /* trailing text */
    assert_true(score("Tom", LW_SCORE_EXACT, "Tom's mom said") == 1);
    assert_true(score("Tom", LW_SCORE_EXACT, "Tommy went") == 0);
    assert_true(score("Tom", LW_SCORE_EXACT, "Then Tom went") == 0); /* the answer must come first */
    assert_true(score("kite", LW_SCORE_EXACT, " the kite and") == 1); /* article dropped */
    assert_true(score("the Eiffel Tower", LW_SCORE_EXACT, "Eiffel tower, in Paris") == 1);
    assert_true(score("New York", LW_SCORE_EXACT, "New Jersey") == 0);
    assert_true(score("perfect", LW_SCORE_EXACT, "\n\nPerfect!\nQ: next") == 1);
    /* aliases */
    char *aliases[] = {"his kite", "her kite"};
    lw_task_item it = item("kite", LW_SCORE_EXACT);
    it.aliases = aliases;
    it.n_aliases = 2;
    assert_true(lw_score(&it, " his kite. He") == 1);
    assert_true(lw_score(&it, " her kite") == 1);
    assert_true(lw_score(&it, " his ball") == 0);
    /* an answer made of articles only keeps them (multiple choice "a") */
    assert_true(score("a", LW_SCORE_EXACT, " a") == 1);
    assert_true(score("a", LW_SCORE_EXACT, " b") == 0);
    assert_true(score("a", LW_SCORE_EXACT, "A: yes") == 1);
    /* empty predictions */
    assert_true(score("Tom", LW_SCORE_EXACT, "") == 0);
    assert_true(score("Tom", LW_SCORE_EXACT, "   \n") == 0);
    assert_true(score("Tom", LW_SCORE_EXACT, NULL) == 0);
    assert_true(score("Tom", LW_SCORE_EXACT, "...") == 0);
}

static void test_contains_scorer(void **state) {
    (void)state;
    assert_true(score("Paris", LW_SCORE_CONTAINS, "I think it is paris, France") == 1);
    assert_true(score("the cat", LW_SCORE_CONTAINS, "a big CAT sat") == 1);
    assert_true(score("cat", LW_SCORE_CONTAINS, "concatenate") == 0); /* whole words only */
    assert_true(score("New York", LW_SCORE_CONTAINS, "york new") == 0);
    assert_true(score("cat", LW_SCORE_CONTAINS, "") == 0);
}

/* ------------------------------------------------------------------ facts ---- */

static void test_facts_scorer(void **state) {
    (void)state;
    const char *gold = "- Ada Lovelace was an English mathematician and writer\n"
                       "- She worked on Charles Babbage's Analytical Engine\n"
                       "\n"
                       "\xE2\x80\xA2 She published the first computer program\n"
                       "- She was born in London in 1815";
    /* key terms: {lovelace, english, mathematician, writer}, {worked, charles, babbage,
     * analytical, engine}, {published, first, computer, program}, {london, 1815} */
    assert_true(score(gold, LW_SCORE_FACTS, "") == 0);
    assert_true(score(gold, LW_SCORE_FACTS, "She liked cats.") == 0);
    /* fact 1: lovelace, english (2/4 = half) -> stated; fact 4: london (1/2) -> stated */
    double s = score(gold, LW_SCORE_FACTS, "Lovelace was English. She lived in London.");
    assert_true(fabs(s - 0.5) < 1e-12);
    /* fact 2: charles, babbage (2/5 < half) -> not stated; worked, charles, babbage, engine (4/5) -> stated */
    s = score(gold, LW_SCORE_FACTS, "Charles Babbage");
    assert_true(s == 0);
    s = score(gold, LW_SCORE_FACTS, "- Worked with Charles Babbage on his engine.");
    assert_true(fabs(s - 0.25) < 1e-12);
    s = score(gold, LW_SCORE_FACTS,
              "Ada Lovelace, English mathematician and writer, worked on the Analytical Engine of Charles "
              "Babbage, published the first computer program, born in London in 1815.");
    assert_true(s == 1);
    /* a gold with no key terms at all */
    assert_true(score("- a b c\n- it is", LW_SCORE_FACTS, "a b c it is") == 0);
}

static void test_scorer_names(void **state) {
    (void)state;
    for (int s = 0; s < 4; s++) assert_int_equal(lw_scorer_from_name(lw_scorer_name((lw_scorer)s)), s);
    assert_string_equal(lw_scorer_name(LW_SCORE_NUMERIC), "numeric");
    assert_int_equal(lw_scorer_from_name("bleu"), -1);
    assert_int_equal(lw_scorer_from_name(NULL), -1);
}

/* -------------------------------------------------------------------- JSONL ---- */

/* t holds exactly items[0..n), field by field. */
static void expect_items(const lw_task *t, const lw_task_item *items, int n) {
    assert_int_equal(t->n, n);
    for (int i = 0; i < n; i++) {
        assert_string_equal(t->items[i].id, items[i].id);
        assert_string_equal(t->items[i].sender, items[i].sender);
        assert_string_equal(t->items[i].receiver, items[i].receiver);
        assert_string_equal(t->items[i].gold, items[i].gold);
        assert_int_equal(t->items[i].scorer, items[i].scorer);
        assert_int_equal(t->items[i].n_aliases, items[i].n_aliases);
        for (int k = 0; k < items[i].n_aliases; k++) assert_string_equal(t->items[i].aliases[k], items[i].aliases[k]);
    }
}

static void test_roundtrip(void **state) {
    (void)state;
    char *al[] = {"his kite", "her kite \xE2\x9C\x93"};
    lw_task_item items[3] = {
        {.id = "a", .sender = "Once upon a time.\nNew line \"quoted\"", .receiver = "Tom picked up", .gold = "kite",
         .aliases = al, .n_aliases = 2, .scorer = LW_SCORE_EXACT},
        {.id = "b", .sender = "", .receiver = "Question: 2+2?\nAnswer:", .gold = "4", .scorer = LW_SCORE_NUMERIC},
        {.id = "c", .sender = "", .receiver = "bio", .gold = "fact one\nfact two", .scorer = LW_SCORE_FACTS},
    };
    lw_task t = {.items = items, .n = 3};
    const char *path = lw_test_tmpfile("roundtrip.jsonl");
    assert_int_equal(lw_task_save(path, &t), 0);
    lw_task r;
    if (lw_task_load(path, &r) != 0) fail_msg("%s", lw_last_error());
    assert_int_equal(r.n, 3);
    expect_items(&r, items, 3);
    /* saving again gives the same bytes */
    const char *path2 = lw_test_tmpfile("roundtrip2.jsonl");
    assert_int_equal(lw_task_save(path2, &r), 0);
    size_t n1 = 0, n2 = 0;
    FILE *f1 = fopen(path, "rb"), *f2 = fopen(path2, "rb");
    char b1[4096], b2[4096];
    n1 = fread(b1, 1, sizeof b1, f1);
    n2 = fread(b2, 1, sizeof b2, f2);
    fclose(f1);
    fclose(f2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    /* lw_task_copy: every field, in new memory (freeing the original leaves the copy whole) */
    lw_task c;
    assert_int_equal(lw_task_copy(&r, &c), 0);
    lw_task_free(&r);
    assert_int_equal(c.n, 3);
    expect_items(&c, items, 3);
    lw_task_free(&c);
    assert_null(c.items);
    assert_int_equal(c.n, 0);
    lw_task_free(NULL);
}

static void test_save_errors(void **state) {
    (void)state;
    lw_task_item items[2] = {
        {.id = "a", .sender = "", .receiver = "r", .gold = "g", .scorer = LW_SCORE_EXACT},
        {.id = "a", .sender = "", .receiver = "r", .gold = "g", .scorer = LW_SCORE_EXACT},
    };
    lw_task t = {.items = items, .n = 2};
    const char *path = lw_test_tmpfile("dup_save.jsonl");
    remove(path);
    assert_int_equal(lw_task_save(path, &t), -1);
    assert_non_null(strstr(lw_last_error(), "duplicate id"));
    assert_false(lw_test_file_exists(path)); /* nothing under the name */
    items[1].id = "b";
    items[1].gold = NULL;
    assert_int_equal(lw_task_save(path, &t), -1);
    assert_non_null(strstr(lw_last_error(), "gold"));
    assert_false(lw_test_file_exists(path));
    lw_task empty = {0};
    assert_int_equal(lw_task_save(path, &empty), -1);
}

/* Loads text and expects failure whose message contains every given fragment. */
static void expect_load_error(const char *name, const char *text, const char *frag1, const char *frag2) {
    const char *path = lw_test_tmpfile(name);
    lw_test_write_text(path, text);
    lw_task t = {.n = 99};
    assert_int_equal(lw_task_load(path, &t), -1);
    assert_null(t.items);
    assert_int_equal(t.n, 0);
    const char *e = lw_last_error();
    if (!strstr(e, path)) fail_msg("error does not name the file: %s", e);
    if (frag1 && !strstr(e, frag1)) fail_msg("error lacks \"%s\": %s", frag1, e);
    if (frag2 && !strstr(e, frag2)) fail_msg("error lacks \"%s\": %s", frag2, e);
}

#define GOOD "{\"id\":\"1\",\"sender\":\"\",\"receiver\":\"r\",\"gold\":\"g\",\"scorer\":\"exact\"}\n"

static void test_load_errors(void **state) {
    (void)state;
    expect_load_error("broken.jsonl", GOOD "\n{\"id\": \"2\", \"sender\": \n" GOOD, ":3:", "invalid JSON");
    expect_load_error("notobj.jsonl", GOOD "[1, 2]\n", ":2:", "not a JSON object");
    expect_load_error("nogold.jsonl",
                      GOOD "{\"id\":\"2\",\"sender\":\"\",\"receiver\":\"r\",\"scorer\":\"exact\"}\n", ":2:",
                      "\"gold\"");
    expect_load_error("nosender.jsonl", "{\"id\":\"2\",\"receiver\":\"r\",\"gold\":\"g\",\"scorer\":\"exact\"}\n",
                      ":1:", "\"sender\"");
    expect_load_error("noid.jsonl", "{\"sender\":\"\",\"receiver\":\"r\",\"gold\":\"g\",\"scorer\":\"exact\"}\n", ":1:",
                      "\"id\"");
    expect_load_error("numgold.jsonl",
                      "{\"id\":\"2\",\"sender\":\"\",\"receiver\":\"r\",\"gold\":18,\"scorer\":\"numeric\"}\n", ":1:",
                      "must be a string");
    expect_load_error("badscorer.jsonl",
                      "{\"id\":\"2\",\"sender\":\"\",\"receiver\":\"r\",\"gold\":\"g\",\"scorer\":\"bleu\"}\n", ":1:",
                      "bleu");
    expect_load_error("badalias.jsonl",
                      "{\"id\":\"2\",\"sender\":\"\",\"receiver\":\"r\",\"gold\":\"g\",\"scorer\":\"exact\","
                      "\"aliases\":[\"x\",3]}\n",
                      ":1:", "aliases");
    expect_load_error("dupid.jsonl", GOOD GOOD, ":2:", "duplicate id");
    expect_load_error("empty.jsonl", "\n  \n", "no items", NULL);
    /* refused at load, naming the line: what failed after a whole run (an empty id in the records),
     * failed late with another hint (an empty prompt), or scored 0 on every channel (a gold no
     * answer can match) */
#define ITEM(id, recv, gold, scorer) \
    "{\"id\":\"" id "\",\"sender\":\"s\",\"receiver\":\"" recv "\",\"gold\":\"" gold "\",\"scorer\":\"" scorer "\"}\n"
    expect_load_error("emptyid.jsonl", GOOD ITEM("", "r", "g", "exact"), ":2:", "field \"id\" is empty");
    expect_load_error("blankid.jsonl", ITEM(" ", "r", "g", "exact"), ":1:", "field \"id\" is empty");
    expect_load_error("emptyrecv.jsonl", ITEM("2", " \\n", "g", "exact"), ":1:", "field \"receiver\" is empty");
    static const char *const unmatchable[][3] = {{"", "exact", "has no letter or digit"},
                                                 {"   ", "contains", "has no letter or digit"},
                                                 {"!!!", "exact", "has no letter or digit"},
                                                 {"about twelve", "numeric", "holds no number"},
                                                 {"- is\\n- was", "facts", "states no fact with a key term"}};
    for (int i = 0; i < 5; i++) {
        char text[300];
        snprintf(text, sizeof text, "{\"id\":\"2\",\"sender\":\"\",\"receiver\":\"r\",\"gold\":\"%s\",\"scorer\":\"%s\"}\n",
                 unmatchable[i][0], unmatchable[i][1]);
        expect_load_error("unmatchable.jsonl", text, ":1: field \"gold\"", unmatchable[i][2]);
    }
    /* still loaded: a gold of articles only is matched with its articles; a number among words */
    const char *ok = lw_test_tmpfile("matchable.jsonl");
    lw_test_write_text(ok, ITEM("1", "r", "the", "exact") ITEM("2", "r", "#### 18", "numeric") ITEM("3", "r", "a", "contains")
                               "{\"id\":\"4\",\"sender\":\"\",\"receiver\":\"r\",\"gold\":\"-\",\"scorer\":\"exact\","
                               "\"aliases\":[\"dash\"]}\n"); /* an alias an answer can match */
#undef ITEM
    lw_task m;
    if (lw_task_load(ok, &m) != 0) fail_msg("%s", lw_last_error());
    lw_task_item it = m.items[0];
    assert_true(lw_score(&it, "the") == 1.0);
    lw_task_free(&m);
    lw_task t;
    assert_int_equal(lw_task_load(lw_test_tmpfile("does-not-exist.jsonl"), &t), -1);
    assert_non_null(strstr(lw_last_error(), "does-not-exist.jsonl"));
}

static void test_load_tolerant(void **state) {
    (void)state;
    /* BOM, CRLF, blank lines, meta and unknown keys ignored, null aliases */
    const char *path = lw_test_tmpfile("tolerant.jsonl");
    lw_test_write_text(path, "\xEF\xBB\xBF" GOOD "\r\n\r\n"
                     "{\"id\":\"2\",\"sender\":\"s\",\"receiver\":\"r\",\"gold\":\"- born in Paris\",\"scorer\":\"facts\","
                     "\"meta\":{\"k\":[1,2]},\"extra\":1,\"aliases\":null}\r\n");
    lw_task t;
    if (lw_task_load(path, &t) != 0) fail_msg("%s", lw_last_error());
    assert_int_equal(t.n, 2);
    assert_string_equal(t.items[0].id, "1");
    assert_string_equal(t.items[1].sender, "s");
    assert_int_equal(t.items[1].scorer, LW_SCORE_FACTS);
    assert_int_equal(t.items[1].n_aliases, 0);
    lw_task_free(&t);
}

/* ------------------------------------------------------------ small readers ---- */

static void test_function_vectors_small(void **state) {
    (void)state;
    const char *path = lw_test_tmpfile("antonym_small.json");
    lw_test_write_text(path, "[{\"input\":\"hot\",\"output\":\"cold\"},{\"input\":\"up\",\"output\":\"down\"},"
                     "{\"input\":\"big\",\"output\":\"small\"},{\"input\":\"fast\",\"output\":\"slow\"},"
                     "{\"input\":\"hot\",\"output\":\"cold\"}]");
    lw_task t, t2, t3;
    if (lw_task_from_function_vectors(path, 2, 0, 5, &t) != 0) fail_msg("%s", lw_last_error());
    assert_int_equal(t.n, 5);
    for (int i = 0; i < t.n; i++) {
        const lw_task_item *it = &t.items[i];
        assert_int_equal(it->scorer, LW_SCORE_EXACT);
        assert_int_equal(strncmp(it->id, "antonym_small-", 14), 0);
        /* receiver = sender + "Q: query\nA:" */
        size_t ns = strlen(it->sender);
        assert_int_equal(strncmp(it->receiver, it->sender, ns), 0);
        const char *q = it->receiver + ns;
        assert_int_equal(strncmp(q, "Q: ", 3), 0);
        assert_string_equal(q + strlen(q) - 3, "\nA:");
        /* two demonstrations, none with the query's input */
        int demos = 0;
        for (const char *p = strstr(it->sender, "Q: "); p; p = strstr(p + 1, "Q: ")) demos++;
        assert_int_equal(demos, 2);
        char query[64];
        snprintf(query, sizeof query, "%.*s\n", (int)(strlen(q) - 6), q + 3);
        char needle[80];
        snprintf(needle, sizeof needle, "Q: %s", query);
        assert_null(strstr(it->sender, needle));
        /* gold is the query's output */
        if (!strcmp(query, "hot\n")) assert_string_equal(it->gold, "cold");
        if (!strcmp(query, "up\n")) assert_string_equal(it->gold, "down");
    }
    /* deterministic for a seed, different for another, max_items respected */
    assert_int_equal(lw_task_from_function_vectors(path, 2, 0, 5, &t2), 0);
    for (int i = 0; i < t.n; i++) assert_string_equal(t.items[i].receiver, t2.items[i].receiver);
    lw_task_free(&t2);
    assert_int_equal(lw_task_from_function_vectors(path, 0, 3, 6, &t3), 0);
    assert_int_equal(t3.n, 3);
    assert_string_equal(t3.items[0].sender, "");
    lw_task_free(&t3);
    lw_task_free(&t);
    /* a pair whose output no answer can match ("x-ray" -> "-", as in capitalize_second_letter) is no
     * query (it refused the whole task) but may be a demonstration */
    const char *dash = lw_test_tmpfile("dash.json");
    lw_test_write_text(dash, "[{\"input\":\"x-ray\",\"output\":\"-\"},{\"input\":\"up\",\"output\":\"down\"},"
                             "{\"input\":\"big\",\"output\":\"small\"},{\"input\":\"fast\",\"output\":\"slow\"}]");
    if (lw_task_from_function_vectors(dash, 3, 0, 5, &t) != 0) fail_msg("%s", lw_last_error());
    assert_int_equal(t.n, 3);
    for (int i = 0; i < t.n; i++) {
        assert_string_not_equal(t.items[i].gold, "-");
        assert_non_null(strstr(t.items[i].sender, "x-ray")); /* 3 demonstrations of 3 other pairs */
    }
    lw_task_free(&t);
    assert_int_equal(lw_task_from_function_vectors(dash, 0, 2, 5, &t), 0); /* max_items counts queries kept */
    assert_int_equal(t.n, 2);
    lw_task_free(&t);
    /* errors */
    assert_int_equal(lw_task_from_function_vectors(path, 5, 0, 1, &t), -1); /* 5 pairs, 6 needed */
    assert_non_null(strstr(lw_last_error(), path));
    const char *bad = lw_test_tmpfile("fv_bad.json");
    lw_test_write_text(bad, "[{\"input\":\"hot\",\"output\":\"cold\"},\n{\"input\":\"up\"}]");
    assert_int_equal(lw_task_from_function_vectors(bad, 0, 0, 1, &t), -1);
    assert_non_null(strstr(lw_last_error(), "element 1"));
    lw_test_write_text(bad, "[{\"input\":\"hot\",\n\"output\":}]");
    assert_int_equal(lw_task_from_function_vectors(bad, 0, 0, 1, &t), -1);
    assert_non_null(strstr(lw_last_error(), ":2:"));
    assert_null(t.items);
}

static void test_gsm8k_small(void **state) {
    (void)state;
    const char *path = lw_test_tmpfile("gsm_small.jsonl");
    lw_test_write_text(path, "{\"question\":\"How many?\",\"answer\":\"2+2=<<2+2=4>>4\\n#### 4\"}\n"
                     "\n"
                     "{\"question\":\"How much?\",\"answer\":\"big\\n#### 1,450,000\"}\n"
                     "{\"question\":\"Debt?\",\"answer\":\"#### -10\"}\n");
    lw_task t;
    if (lw_task_from_gsm8k(path, 0, &t) != 0) fail_msg("%s", lw_last_error());
    assert_int_equal(t.n, 3);
    assert_string_equal(t.items[0].gold, "4");
    assert_string_equal(t.items[1].gold, "1450000");
    assert_string_equal(t.items[2].gold, "-10");
    assert_string_equal(t.items[0].receiver, "Question: How many?\nAnswer:");
    assert_string_equal(t.items[0].sender, "");
    assert_string_equal(t.items[2].id, "gsm8k-2");
    assert_int_equal(t.items[0].scorer, LW_SCORE_NUMERIC);
    assert_true(lw_score(&t.items[1], "so the answer is $1,450,000.") == 1);
    lw_task_free(&t);
    assert_int_equal(lw_task_from_gsm8k(path, 2, &t), 0);
    assert_int_equal(t.n, 2);
    lw_task_free(&t);
    lw_test_write_text(path, "{\"question\":\"How many?\",\"answer\":\"#### 4\"}\n{\"question\":\"q\",\"answer\":\"no mark\"}\n");
    assert_int_equal(lw_task_from_gsm8k(path, 0, &t), -1);
    assert_non_null(strstr(lw_last_error(), ":2:"));
    assert_null(t.items);
    lw_test_write_text(path, "{\"question\":\"How many?\",\"answer\":\"#### 4\"}\n{\"question\": 1}\n");
    assert_int_equal(lw_task_from_gsm8k(path, 0, &t), -1);
    assert_non_null(strstr(lw_last_error(), ":2:"));
    lw_test_write_text(path, "{\"question\":\"How many?\",\"answer\":\"#### 4\"}\n{oops\n");
    assert_int_equal(lw_task_from_gsm8k(path, 0, &t), -1);
    assert_non_null(strstr(lw_last_error(), ":2: invalid JSON"));
}

static void test_biographies_small(void **state) {
    (void)state;
    const char *path = lw_test_tmpfile("bio_small.json");
    lw_test_write_text(path, "{\"Ada Lovelace\": \"- Wrote the first program\\n- Worked with Babbage\\n\","
                     " \"Alan Kay (computer scientist)\": \"\\n\\n\\u2022 Invented Smalltalk \\n\\n\\u2022 Won the "
                     "Turing Award\"}");
    lw_task t;
    if (lw_task_from_biographies(path, 0, &t) != 0) fail_msg("%s", lw_last_error());
    assert_int_equal(t.n, 2);
    assert_string_equal(t.items[0].gold, "Wrote the first program\nWorked with Babbage");
    assert_string_equal(t.items[1].gold, "Invented Smalltalk\nWon the Turing Award");
    assert_non_null(strstr(t.items[0].receiver, "biography of Ada Lovelace highlighting"));
    assert_non_null(strstr(t.items[1].receiver, "biography of Alan Kay highlighting"));
    assert_int_equal(t.items[1].scorer, LW_SCORE_FACTS);
    assert_true(lw_score(&t.items[1], "- Alan Kay invented Smalltalk.") == 0.5);
    lw_task_free(&t);
    assert_int_equal(lw_task_from_biographies(path, 1, &t), 0);
    assert_int_equal(t.n, 1);
    lw_task_free(&t);
    lw_test_write_text(path, "{\"Ada\": 3}");
    assert_int_equal(lw_task_from_biographies(path, 0, &t), -1);
    assert_non_null(strstr(lw_last_error(), "Ada"));
    lw_test_write_text(path, "[\"not a map\"]");
    assert_int_equal(lw_task_from_biographies(path, 0, &t), -1);
}

/* ------------------------------------------------------- real shared data ---- */

static void test_readers_real(void **state) {
    (void)state;
    const char *ant = lw_test_shared_path("data/function_vectors/abstractive/antonym.json");
    if (ant) {
        lw_task t;
        if (lw_task_from_function_vectors(ant, 5, 50, 1, &t) != 0) fail_msg("%s", lw_last_error());
        assert_int_equal(t.n, 50);
        assert_int_equal(strncmp(t.items[0].id, "antonym-", 8), 0);
        lw_task_free(&t);
        assert_int_equal(lw_task_from_function_vectors(ant, 3, 0, 1, &t), 0);
        assert_int_equal(t.n, 2398);
        int flawed = -1;
        for (int i = 0; i < t.n; i++)
            if (!strcmp(t.items[i].id, "antonym-0")) flawed = i;
        assert_true(flawed >= 0);
        assert_string_equal(t.items[flawed].gold, "perfect");
        assert_non_null(strstr(t.items[flawed].receiver, "Q: flawed\nA:"));
        lw_task_free(&t);
    }
    const char *ex = lw_test_shared_path("data/function_vectors/extractive/choose_first_of_3.json");
    if (ex) {
        lw_task t;
        assert_int_equal(lw_task_from_function_vectors(ex, 4, 20, 9, &t), 0);
        assert_int_equal(t.n, 20);
        lw_task_free(&t);
    }
    const char *gsm = lw_test_shared_path("data/gsm8k/test.jsonl");
    if (gsm) {
        lw_task t;
        if (lw_task_from_gsm8k(gsm, 0, &t) != 0) fail_msg("%s", lw_last_error());
        assert_int_equal(t.n, 1319);
        assert_string_equal(t.items[0].gold, "18");
        assert_string_equal(t.items[0].id, "gsm8k-0");
        assert_non_null(strstr(t.items[0].receiver, "Janet"));
        int commas = 0;
        for (int i = 0; i < t.n; i++) commas += strchr(t.items[i].gold, ',') != NULL;
        assert_int_equal(commas, 0);
        lw_task_free(&t);
    }
    const char *bio = lw_test_shared_path("data/multiagent_debate_biography/article.json");
    if (bio) {
        lw_task t;
        if (lw_task_from_biographies(bio, 0, &t) != 0) fail_msg("%s", lw_last_error());
        assert_int_equal(t.n, 524);
        assert_non_null(strstr(t.items[0].receiver, "Aaron Sloman"));
        assert_int_equal(strncmp(t.items[0].gold, "Aaron Sloman is a philosopher", 29), 0);
        int lines = 1;
        for (const char *p = t.items[0].gold; *p; p++) lines += *p == '\n';
        assert_int_equal(lines, 7);
        /* the gold itself states all of its facts */
        assert_true(lw_score(&t.items[0], t.items[0].gold) == 1);
        lw_task_free(&t);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_number),         cmocka_unit_test(test_numeric_scorer),
        cmocka_unit_test(test_normalize),           cmocka_unit_test(test_exact_scorer),
        cmocka_unit_test(test_contains_scorer),     cmocka_unit_test(test_facts_scorer),
        cmocka_unit_test(test_scorer_names),        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_save_errors),         cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_tolerant),       cmocka_unit_test(test_function_vectors_small),
        cmocka_unit_test(test_gsm8k_small),         cmocka_unit_test(test_biographies_small),
        cmocka_unit_test(test_readers_real),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
