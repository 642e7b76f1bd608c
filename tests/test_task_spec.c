/* Task specs (lw_task_from_spec, lw_task_pool_from_spec; latentwire/task.h), the one parser every
 * verb's --task goes through: bad specs are one error line naming the option and the spec and
 * return no items (an unknown kind, an empty name, a count <= 0 or not a number, a name that
 * would leave the data directory, a kind the caller does not take); valid specs give the item
 * counts the header documents, in the format asked for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/error.h"
#include "latentwire/task.h"
#include "support/testutil.h"

static void expect_refused(const char *spec, const lw_task_spec_params *p, const char *needle) {
    lw_task t = {(lw_task_item *)&t, 12345}; /* garbage: a refusal must leave it empty */
    if (lw_task_from_spec(spec, p, &t) == 0) fail_msg("%s: accepted (%d items); want \"%s\"", spec, t.n, needle);
    const char *e = lw_last_error();
    if (!strstr(e, needle)) fail_msg("%s: error \"%s\"; want \"%s\"", spec, e, needle);
    if (strchr(e, '\n')) fail_msg("%s: error of more than one line: \"%s\"", spec, e);
    char named[300];
    snprintf(named, sizeof named, "%s %s", p && p->option ? p->option : "--task", spec);
    if (!strstr(e, named) && !strstr(e, spec)) fail_msg("%s: the error does not name the spec: \"%s\"", spec, e);
    assert_int_equal(t.n, 0);
    assert_null(t.items);
}

static void test_refusals(void **state) {
    (void)state;
    lw_task_spec_params p = lw_task_spec_default_params();
    p.data_dir = "/nonexistent-lw-data"; /* every refusal below comes before any file is read */
    expect_refused("bogus:3", &p, "unknown task kind 'bogus'");
    expect_refused("Story:3", &p, "unknown task kind 'Story'");
    expect_refused("", &p, "--task is empty");
    /* empty names */
    expect_refused("fv:", &p, "fv:NAME needs a name");
    expect_refused("fv::5", &p, "fv:NAME needs a name");
    expect_refused("skill:", &p, "skill:NAME needs a name");
    /* counts: <= 0, not a number, too large */
    expect_refused("story:0", &p, "story:N needs a count");
    expect_refused("story:-2", &p, "story:N needs a count");
    expect_refused("story:", &p, "story:N needs a count");
    expect_refused("gsm8k:x", &p, "gsm8k:N needs a count");
    expect_refused("bio:1000001", &p, "bio:N needs a count");
    expect_refused("fv:antonym:0", &p, "fv:NAME:N needs a count");
    expect_refused("skill:first_letter:-1", &p, "skill:NAME:N needs a count");
    expect_refused("skill:first_letter:3x", &p, "skill:NAME:N needs a count");
    /* names that would leave DATA/function_vectors/{abstractive,extractive} */
    expect_refused("fv:../x", &p, "'../x' is not a task name");
    expect_refused("fv:a/b:4", &p, "'a/b' is not a task name");
    expect_refused("fv:..", &p, "'..' is not a task name");
    expect_refused("fv:.", &p, "'.' is not a task name");
    expect_refused("skill:../../etc/passwd", &p, "is not a task name");
    /* a kind the caller does not take (scan: skill:, fv: and files) */
    lw_task_spec_params scan = p;
    scan.kinds = LW_TASK_SPEC_SKILL | LW_TASK_SPEC_FV | LW_TASK_SPEC_FILE;
    expect_refused("story:4", &scan, "this takes fv:NAME[:N], skill:NAME[:N] or a task FILE.jsonl");
    expect_refused("gsm8k:4", &scan, "this takes");
    /* another option name in the messages */
    lw_task_spec_params other = p;
    other.option = "--probe-task";
    expect_refused("story:0", &other, "--probe-task story:0: story:N needs a count");
    /* a named source whose file is missing: the path and the data directory looked in */
    expect_refused("gsm8k:2", &p, "reads /nonexistent-lw-data/gsm8k/test.jsonl");
    expect_refused("fv:antonym", &p, "no antonym.json in /nonexistent-lw-data/function_vectors/abstractive or extractive");
    /* a task file that is not there (a path, not a kind: it has a '/') */
    expect_refused("/nonexistent-lw/x:1.jsonl", &p, "No such file");
    /* a pool: the same refusals */
    lw_task t;
    int n_report = 7;
    assert_int_equal(lw_task_pool_from_spec("story:0", &p, 10, &t, &n_report), -1);
    assert_non_null(strstr(lw_last_error(), "story:N needs a count"));
    assert_int_equal(t.n, 0);
}

/* Every item of a skill-format task: "input: X\noutput: Y" demonstrations, the receiver the query. */
static void expect_skill_format(const lw_task *t, int k_shot) {
    for (int i = 0; i < t->n; i++) {
        assert_int_equal(strncmp(t->items[i].receiver, "input: ", 7), 0);
        size_t rl = strlen(t->items[i].receiver);
        assert_true(rl > 8 && !strcmp(t->items[i].receiver + rl - 7, "output:"));
        assert_int_equal(lw_test_count_substr(t->items[i].sender, "input: "), k_shot);
    }
}

static void test_counts(void **state) {
    (void)state;
    lw_task_spec_params p = lw_task_spec_default_params();
    lw_task t;
    assert_int_equal(lw_task_from_spec("story:7", &p, &t), 0);
    assert_int_equal(t.n, 7);
    lw_task_free(&t);
    assert_int_equal(lw_task_from_spec(" story: 3 ", &p, &t), -1); /* the kind is not padded */
    assert_int_equal(lw_task_from_spec("story: 3 ", &p, &t), 0);   /* the count may be */
    assert_int_equal(t.n, 3);
    lw_task_free(&t);
    /* skill: N from the spec, else p->n; p->k_shot demonstrations each */
    p.k_shot = 3;
    assert_int_equal(lw_task_from_spec("skill:first_letter:9", &p, &t), 0);
    assert_int_equal(t.n, 9);
    expect_skill_format(&t, 3);
    lw_task_free(&t);
    p.n = 12;
    assert_int_equal(lw_task_from_spec("skill:next_number", &p, &t), 0);
    assert_int_equal(t.n, 12);
    expect_skill_format(&t, 3);
    lw_task_free(&t);
    /* the same as the skill reader called directly (the spec adds nothing to the items) */
    lw_task direct;
    assert_int_equal(lw_task_skill("repeat_word", 3, 5, 42, &direct), 0);
    p.seed = 42;
    assert_int_equal(lw_task_from_spec("skill:repeat_word:5", &p, &t), 0);
    char ha[65], hb[65];
    lw_task_parts_sha256(&direct, 1, ha);
    lw_task_parts_sha256(&t, 1, hb);
    assert_string_equal(ha, hb);
    lw_task_free(&t);
    lw_task_free(&direct);
    /* a task file, whatever ':' its name has */
    const char *file = lw_test_tmpfile("spec:items.jsonl");
    lw_test_write_text(file, "{\"id\": \"a\", \"sender\": \"s\", \"receiver\": \"r\", \"gold\": \"g\", \"scorer\": \"exact\"}\n"
                             "{\"id\": \"b\", \"sender\": \"s2\", \"receiver\": \"r2\", \"gold\": \"g\", \"scorer\": \"exact\"}\n");
    assert_int_equal(lw_task_from_spec(file, &p, &t), 0);
    assert_int_equal(t.n, 2);
    lw_task_free(&t);
    /* pools: 4 x (N + extra) items of a counted source, N reported; a file whole, -1 reported */
    int n_report;
    p = lw_task_spec_default_params();
    assert_int_equal(lw_task_pool_from_spec("story:5", &p, 10, &t, &n_report), 0);
    assert_int_equal(n_report, 5);
    assert_int_equal(t.n, 4 * (5 + 10));
    lw_task_free(&t);
    assert_int_equal(lw_task_pool_from_spec("story:5", &p, 0, &t, &n_report), 0);
    assert_int_equal(n_report, 5);
    assert_int_equal(t.n, 5);
    lw_task_free(&t);
    assert_int_equal(lw_task_pool_from_spec(file, &p, 3, &t, &n_report), 0);
    assert_int_equal(n_report, -1);
    assert_int_equal(t.n, 2);
    lw_task_free(&t);
}

/* The named sources of ../shared/data. */
static void test_data_sources(void **state) {
    (void)state;
    const char *shared = lw_test_shared_dir("task specs over ../shared/data");
    if (!shared) skip();
    char data[1200];
    snprintf(data, sizeof data, "%s/data", shared);
    lw_task_spec_params p = lw_task_spec_default_params();
    p.data_dir = data;
    lw_task t;
    assert_int_equal(lw_task_from_spec("gsm8k:3", &p, &t), 0);
    assert_int_equal(t.n, 3);
    for (int i = 0; i < t.n; i++) assert_int_equal(t.items[i].scorer, LW_SCORE_NUMERIC);
    lw_task_free(&t);
    assert_int_equal(lw_task_from_spec("bio:2", &p, &t), 0);
    assert_int_equal(t.n, 2);
    for (int i = 0; i < t.n; i++) assert_int_equal(t.items[i].scorer, LW_SCORE_FACTS);
    lw_task_free(&t);
    /* fv: as Q/A prompts (the receiver ends "A:" and begins with the demonstrations) ... */
    assert_int_equal(lw_task_from_spec("fv:antonym:6", &p, &t), 0);
    assert_int_equal(t.n, 6);
    for (int i = 0; i < t.n; i++) {
        size_t rl = strlen(t.items[i].receiver);
        assert_true(rl >= 2 && !strcmp(t.items[i].receiver + rl - 2, "A:"));
        assert_int_equal(lw_test_count_substr(t.items[i].receiver, "Q: "), 5 + 1);
    }
    lw_task_free(&t);
    /* ... or in the skill format, p->n items when no count is given */
    p.fv_format = LW_TASK_FV_SKILL;
    p.n = 4;
    p.k_shot = 2;
    assert_int_equal(lw_task_from_spec("fv:antonym", &p, &t), 0);
    assert_int_equal(t.n, 4);
    expect_skill_format(&t, 2);
    lw_task_free(&t);
    /* an extractive task (not in abstractive/) */
    assert_int_equal(lw_task_from_spec("fv:choose_first_of_3:3", &p, &t), 0);
    assert_int_equal(t.n, 3);
    lw_task_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_data_sources),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
