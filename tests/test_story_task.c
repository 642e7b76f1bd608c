/* The templated story task: deterministic from the seed, gold in the sender and not in
 * the receiver, both kinds present. (Its measured oracle/floor accuracies on the real
 * models are recorded in src/task/story.c.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latentwire/error.h"
#include "latentwire/task.h"
#include "support/testutil.h"

/* Whether word occurs in text as a whole word, case-insensitively. */
static bool has_word(const char *text, const char *word) {
    size_t n = strlen(word);
    for (const char *p = text; *p; p++) {
        if (strncasecmp(p, word, n) != 0) continue;
        bool left = p == text || !isalnum((unsigned char)p[-1]);
        bool right = !isalnum((unsigned char)p[n]);
        if (left && right) return true;
    }
    return false;
}

static void test_deterministic(void **state) {
    (void)state;
    lw_task a, b;
    assert_int_equal(lw_task_story(50, 123, &a), 0);
    assert_int_equal(lw_task_story(50, 123, &b), 0);
    assert_int_equal(a.n, 50);
    assert_int_equal(b.n, 50);
    for (int i = 0; i < a.n; i++) {
        assert_string_equal(a.items[i].id, b.items[i].id);
        assert_string_equal(a.items[i].sender, b.items[i].sender);
        assert_string_equal(a.items[i].receiver, b.items[i].receiver);
        assert_string_equal(a.items[i].gold, b.items[i].gold);
        assert_int_equal(a.items[i].n_aliases, b.items[i].n_aliases);
    }
    lw_task_free(&a);
    lw_task_free(&b);
}

static void test_seeds_differ(void **state) {
    (void)state;
    lw_task a, b;
    assert_int_equal(lw_task_story(20, 1, &a), 0);
    assert_int_equal(lw_task_story(20, 2, &b), 0);
    int same = 0;
    for (int i = 0; i < a.n; i++)
        same += !strcmp(a.items[i].sender, b.items[i].sender) && !strcmp(a.items[i].receiver, b.items[i].receiver);
    assert_true(same < a.n / 2);
    lw_task_free(&a);
    lw_task_free(&b);
}

static void test_gold_placement_and_kinds(void **state) {
    (void)state;
    lw_task t;
    assert_int_equal(lw_task_story(200, 7, &t), 0);
    int kinds[2] = {0, 0};
    for (int i = 0; i < t.n; i++) {
        const lw_task_item *it = &t.items[i];
        assert_int_equal(it->scorer, LW_SCORE_EXACT);
        assert_true(strlen(it->sender) > 0);
        if (!has_word(it->sender, it->gold)) fail_msg("%s: gold \"%s\" not in sender: %s", it->id, it->gold, it->sender);
        if (has_word(it->receiver, it->gold)) fail_msg("%s: gold \"%s\" in receiver: %s", it->id, it->gold, it->receiver);
        assert_false(has_word(it->gold, "Lily")); /* the models' default name is never the answer */
        bool object = strstr(it->id, "-object") != NULL;
        assert_true(object || strstr(it->id, "-name") != NULL);
        kinds[object]++;
        /* a receiver never ends in a space (see story.c) */
        size_t n = strlen(it->receiver);
        assert_true(n > 0 && it->receiver[n - 1] != ' ');
        /* the oracle answer scores 1, the default guesses 0 */
        char cont[128];
        snprintf(cont, sizeof cont, object ? " his %s. He" : "%s was very happy.", it->gold);
        assert_true(lw_score(it, cont) == 1);
        assert_true(lw_score(it, object ? " a big box" : "Lily was") == 0);
        for (int k = 0; k < it->n_aliases; k++) assert_true(has_word(it->aliases[k], it->gold));
    }
    assert_true(kinds[0] >= 90 && kinds[1] >= 90);
    /* ids are unique (a task file round-trips) */
    for (int i = 0; i < t.n; i++)
        for (int j = i + 1; j < t.n; j++) assert_string_not_equal(t.items[i].id, t.items[j].id);
    lw_task_free(&t);
}

static void test_small_and_bad_counts(void **state) {
    (void)state;
    lw_task t;
    assert_int_equal(lw_task_story(2, 0, &t), 0);
    assert_int_equal(t.n, 2);
    assert_non_null(strstr(t.items[0].id, "-name"));
    assert_non_null(strstr(t.items[1].id, "-object"));
    lw_task_free(&t);
    assert_int_equal(lw_task_story(0, 0, &t), -1);
    assert_non_null(strstr(lw_last_error(), "n_items"));
    assert_null(t.items);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_seeds_differ),
        cmocka_unit_test(test_gold_placement_and_kinds),
        cmocka_unit_test(test_small_and_bad_counts),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
