/* Skill transfer items for the layer scan (lw_task_skill, lw_task_skill_from_function_vectors):
 * each item's sender is k "input: X\noutput: Y" lines whose Y is the skill applied to X
 * (recomputed here from X), none with the query's input; the receiver is "input: Q\noutput:"
 * alone; gold is the skill of Q; the context prompt is demonstrations, newline, query; the same
 * seed gives the same items; unknown skills and impossible k are one error each; the task-vector
 * reading withholds exactly the last answer. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/task.h"
#include "support/testutil.h"

/* Splits a skill sender into its k (input, output) pairs; returns k (asserts the format). */
static int demos(const char *sender, char in[][64], char out[][64], int cap) {
    int k = 0;
    const char *p = sender;
    while (*p) {
        assert_true(k < cap);
        assert_int_equal(strncmp(p, "input: ", 7), 0);
        p += 7;
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        snprintf(in[k], 64, "%.*s", (int)(nl - p), p);
        p = nl + 1;
        assert_int_equal(strncmp(p, "output: ", 8), 0);
        p += 8;
        nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        snprintf(out[k], 64, "%.*s", (int)len, p);
        p += len + (nl ? 1 : 0);
        k++;
    }
    return k;
}

static void check_skill(const char *name, void (*rule)(const char *, char *)) {
    lw_task t;
    assert_int_equal(lw_task_skill(name, 4, 20, 7, &t), 0);
    assert_int_equal(t.n, 20);
    for (int i = 0; i < t.n; i++) {
        const lw_task_item *it = &t.items[i];
        char in[8][64], out[8][64], want[64], q[64];
        assert_int_equal(demos(it->sender, in, out, 8), 4);
        assert_int_equal(sscanf(it->receiver, "input: %63[^\n]", q), 1);
        char rx[128];
        snprintf(rx, sizeof rx, "input: %s\noutput:", q);
        assert_string_equal(it->receiver, rx);
        rule(q, want);
        assert_string_equal(it->gold, want);
        assert_int_equal(it->scorer, LW_SCORE_EXACT);
        for (int d = 0; d < 4; d++) {
            rule(in[d], want);
            assert_string_equal(out[d], want);
            assert_string_not_equal(in[d], q);
        }
        char *ctx = lw_task_context_prompt(it);
        char *joined = malloc(strlen(it->sender) + strlen(it->receiver) + 2);
        sprintf(joined, "%s\n%s", it->sender, it->receiver);
        assert_string_equal(ctx, joined);
        free(ctx);
        free(joined);
    }
    /* the same seed, the same items; another seed, other queries */
    lw_task u, w;
    assert_int_equal(lw_task_skill(name, 4, 20, 7, &u), 0);
    assert_int_equal(lw_task_skill(name, 4, 20, 8, &w), 0);
    int same = 0;
    for (int i = 0; i < t.n; i++) {
        assert_string_equal(t.items[i].sender, u.items[i].sender);
        assert_string_equal(t.items[i].receiver, u.items[i].receiver);
        same += !strcmp(t.items[i].receiver, w.items[i].receiver);
    }
    assert_true(same < t.n);
    lw_task_free(&t);
    lw_task_free(&u);
    lw_task_free(&w);
}

static void r_first(const char *in, char *out) { sprintf(out, "%c", in[0]); }
static void r_last(const char *in, char *out) { sprintf(out, "%c", in[strlen(in) - 1]); }
static void r_repeat(const char *in, char *out) { sprintf(out, "%s %s", in, in); }
static void r_next(const char *in, char *out) { sprintf(out, "%ld", strtol(in, NULL, 10) + 1); }
static void r_prev(const char *in, char *out) { sprintf(out, "%ld", strtol(in, NULL, 10) - 1); }
static void r_double(const char *in, char *out) { sprintf(out, "%ld", 2 * strtol(in, NULL, 10)); }

static void test_templated_skills(void **state) {
    (void)state;
    check_skill("first_letter", r_first);
    check_skill("last_letter", r_last);
    check_skill("repeat_word", r_repeat);
    check_skill("next_number", r_next);
    check_skill("prev_number", r_prev);
    check_skill("double_number", r_double);
    assert_int_equal(lw_task_skill_count(), 6);
    const char *desc;
    assert_string_equal(lw_task_skill_name(0, &desc), "first_letter");
    assert_null(lw_task_skill_name(6, NULL));
}

static void test_every_pair_and_errors(void **state) {
    (void)state;
    lw_task t;
    assert_int_equal(lw_task_skill("double_number", 3, 0, 1, &t), 0);
    assert_int_equal(t.n, 49); /* inputs 1..49, each the query once */
    lw_task_free(&t);
    assert_int_equal(lw_task_skill("capitalise", 3, 5, 1, &t), -1);
    assert_non_null(strstr(lw_last_error(), "skill:capitalise: unknown skill"));
    assert_non_null(strstr(lw_last_error(), "first_letter"));
    assert_int_equal(t.n, 0);
    assert_int_equal(lw_task_skill("double_number", 49, 5, 1, &t), -1);
    assert_non_null(strstr(lw_last_error(), "skill:double_number: 49 pairs, need at least 50"));
    assert_int_equal(lw_task_skill("first_letter", -1, 5, 1, &t), -1);
    /* zero-shot: the sender is empty and the context prompt is the query */
    assert_int_equal(lw_task_skill("first_letter", 0, 2, 1, &t), 0);
    assert_string_equal(t.items[0].sender, "");
    char *ctx = lw_task_context_prompt(&t.items[0]);
    assert_string_equal(ctx, t.items[0].receiver);
    free(ctx);
    lw_task_free(&t);
}

static void test_function_vectors_skill_format(void **state) {
    (void)state;
    const char *path = lw_test_shared_path("data/function_vectors/abstractive/antonym.json");
    if (!path) return;
    lw_task s, f;
    assert_int_equal(lw_task_skill_from_function_vectors(path, 5, 10, 3, &s), 0);
    assert_int_equal(lw_task_from_function_vectors(path, 5, 10, 3, &f), 0);
    assert_int_equal(s.n, 10);
    for (int i = 0; i < s.n; i++) {
        /* the same draws in both formats: the same query, gold and demonstrations */
        assert_string_equal(s.items[i].id, f.items[i].id);
        assert_string_equal(s.items[i].gold, f.items[i].gold);
        char in[8][64], out[8][64], q[128];
        assert_int_equal(demos(s.items[i].sender, in, out, 8), 5);
        for (int d = 0; d < 5; d++) {
            char line[200];
            snprintf(line, sizeof line, "Q: %s\nA: %s\n\n", in[d], out[d]);
            assert_non_null(strstr(f.items[i].sender, line));
        }
        assert_int_equal(sscanf(s.items[i].receiver, "input: %127[^\n]", q), 1);
        char tail[200];
        snprintf(tail, sizeof tail, "Q: %s\nA:", q);
        size_t lr = strlen(f.items[i].receiver), lt = strlen(tail);
        assert_true(lr >= lt && !strcmp(f.items[i].receiver + lr - lt, tail));
    }
    lw_task_free(&s);
    lw_task_free(&f);
}

/* The task-vector reading withholds the last demonstration's answer: the text up to its last line
 * that starts "output:" ("output:" inside an input is no line start); every templated item's
 * sender is exactly the withheld text, a space and the last demonstration's answer; a text without
 * such a line is one error. */
static void test_withhold_last_answer(void **state) {
    (void)state;
    static const char *const cases[][2] = {
        {"input: hop\noutput: h\ninput: skip\noutput: s", "input: hop\noutput: h\ninput: skip\noutput:"},
        {"output: a", "output:"},
        {"input: output: x\noutput: y", "input: output: x\noutput:"},
        {"input: x\noutput: y\ninput: say output: z", "input: x\noutput:"},
        {"input: x\noutput:", "input: x\noutput:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *w = lw_task_withhold_last_answer(cases[i][0]);
        assert_non_null(w);
        assert_string_equal(w, cases[i][1]);
        free(w);
    }
    assert_null(lw_task_withhold_last_answer("Q: hop\nA: h\n\n"));
    assert_non_null(strstr(lw_last_error(), "no line starting \"output:\""));
    assert_null(lw_task_withhold_last_answer("input: say output: z"));
    lw_task t;
    assert_int_equal(lw_task_skill("first_letter", 3, 10, 7, &t), 0);
    for (int i = 0; i < t.n; i++) {
        char in[8][64], out[8][64];
        int k = demos(t.items[i].sender, in, out, 8);
        char *w = lw_task_withhold_last_answer(t.items[i].sender);
        assert_non_null(w);
        char whole[1024];
        snprintf(whole, sizeof whole, "%s %s", w, out[k - 1]);
        assert_string_equal(whole, t.items[i].sender);
        free(w);
    }
    lw_task_free(&t);
}

/* A mixture "first_letter+last_letter": the two skills' items interleaved, N in all, each item's
 * demonstrations and gold by its own skill (its id names it), the two skills' queries from one
 * word list; malformed mixtures are one error each. */
static void test_mixture(void **state) {
    (void)state;
    lw_task t;
    assert_int_equal(lw_task_skill("first_letter+last_letter", 3, 21, 7, &t), 0);
    assert_int_equal(t.n, 21);
    int firsts = 0;
    for (int i = 0; i < t.n; i++) {
        const lw_task_item *it = &t.items[i];
        bool first = !strncmp(it->id, "first_letter-", 13);
        assert_true(first || !strncmp(it->id, "last_letter-", 12));
        assert_int_equal(first, i % 2 == 0); /* interleaved */
        firsts += first;
        void (*rule)(const char *, char *) = first ? r_first : r_last;
        char in[8][64], out[8][64], want[64], q[64];
        assert_int_equal(demos(it->sender, in, out, 8), 3);
        for (int d = 0; d < 3; d++) {
            rule(in[d], want);
            assert_string_equal(out[d], want);
        }
        assert_int_equal(sscanf(it->receiver, "input: %63[^\n]", q), 1);
        rule(q, want);
        assert_string_equal(it->gold, want);
    }
    assert_int_equal(firsts, 11);
    lw_task_free(&t);
    assert_int_equal(lw_task_skill("first_letter+", 3, 10, 1, &t), -1);
    assert_non_null(strstr(lw_last_error(), "part 2 is empty"));
    assert_int_equal(lw_task_skill("first_letter+first_letter", 3, 10, 1, &t), -1);
    assert_non_null(strstr(lw_last_error(), "named twice"));
    assert_int_equal(lw_task_skill("first_letter+nope", 3, 10, 1, &t), -1);
    assert_non_null(strstr(lw_last_error(), "unknown skill"));
}

/* lw_task_exclude leaves out exactly the items sharing a sender text or a receiver prompt with the
 * other task, in order. */
static void test_exclude(void **state) {
    (void)state;
    lw_task a, b;
    assert_int_equal(lw_task_skill("first_letter", 3, 40, 1, &a), 0);
    assert_int_equal(lw_task_skill("first_letter", 3, 10, 2, &b), 0);
    int expect = 0;
    for (int i = 0; i < a.n; i++)
        for (int j = 0; j < b.n; j++)
            if (!strcmp(a.items[i].sender, b.items[j].sender) || !strcmp(a.items[i].receiver, b.items[j].receiver)) {
                expect++;
                break;
            }
    assert_true(expect > 0); /* 10 queries of 150 words against 40: some share one */
    char first_kept[64] = "";
    for (int i = 0; i < a.n && !first_kept[0]; i++) {
        bool shared = false;
        for (int j = 0; j < b.n; j++) shared |= !strcmp(a.items[i].receiver, b.items[j].receiver) ||
                                                !strcmp(a.items[i].sender, b.items[j].sender);
        if (!shared) snprintf(first_kept, sizeof first_kept, "%s", a.items[i].id);
    }
    int n = a.n;
    assert_int_equal(lw_task_exclude(&a, &b), expect);
    assert_int_equal(a.n, n - expect);
    assert_string_equal(a.items[0].id, first_kept);
    for (int i = 0; i < a.n; i++)
        for (int j = 0; j < b.n; j++) {
            assert_string_not_equal(a.items[i].sender, b.items[j].sender);
            assert_string_not_equal(a.items[i].receiver, b.items[j].receiver);
        }
    lw_task_free(&a);
    lw_task_free(&b);
    /* the same id with other texts (an fv: item a scan read in the skill format, a race in Q/A) */
    assert_int_equal(lw_task_skill("first_letter", 3, 5, 1, &a), 0);
    assert_int_equal(lw_task_skill("first_letter", 3, 5, 1, &b), 0);
    for (int j = 0; j < b.n; j++) {
        free(b.items[j].sender), free(b.items[j].receiver);
        b.items[j].sender = strdup("Q: other\nA: text");
        b.items[j].receiver = strdup("Q: another\nA:");
    }
    free(b.items[0].id);
    b.items[0].id = strdup("no such id");
    assert_int_equal(lw_task_exclude(&a, &b), 4);
    assert_int_equal(a.n, 1);
    lw_task_free(&a);
    lw_task_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_templated_skills),
        cmocka_unit_test(test_every_pair_and_errors),
        cmocka_unit_test(test_function_vectors_skill_format),
        cmocka_unit_test(test_withhold_last_answer),
        cmocka_unit_test(test_exclude),
        cmocka_unit_test(test_mixture),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
