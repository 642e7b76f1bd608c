/* scan --answer-tokens is checked against the items the scan draws (selection and held-out),
 * not every item of the task file: an item that is never drawn, however long its text, cannot
 * refuse the run, and the refusal names a drawn item and its split. Which items are drawn is read
 * from the scan's own records (scan.records.jsonl), the limits from the tokenizer. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/runtime.h"
#include "support/testutil.h"

#define CTX 512 /* stories260K's context */
#define N_ITEMS 8

static lw_model *model;
static char model_path[1200];

static int setup(void **state) {
    (void)state;
    model = lw_test_load_shared_model("models/stories260K.gguf", model_path, sizeof model_path);
    return model || !lw_test_shared_path("models/stories260K.gguf") ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    lw_model_free(model);
    return 0;
}

/* Tokens of text with BOS, as the receiver reads a prompt without a chat template. */
static int tokens(const char *text) {
    int n = lw_test_count_tokens(model, text);
    if (n < 0) fail_msg("tokenize: %s", lw_last_error());
    return n;
}

static char sender[N_ITEMS][2000];

/* Item i's sender: the sentence repeated reps[i] times (distinct texts: a number each); reps[i]
 * < 0: an empty sender text. */
static const char *write_task(const int reps[N_ITEMS]) {
    const char *task = lw_test_tmpfile("drawn.jsonl");
    static char text[N_ITEMS * 2200];
    text[0] = '\0';
    for (int i = 0; i < N_ITEMS; i++) {
        snprintf(sender[i], sizeof sender[i], reps[i] < 0 ? "" : "Cat %d. ", i);
        for (int r = 0; r < reps[i]; r++) strcat(sender[i], "Once upon a time there was a cat. ");
        char line[2400];
        snprintf(line, sizeof line,
                 "{\"id\": \"i%d\", \"sender\": \"%s\", \"receiver\": \"The cat\", \"gold\": \"sat\", \"scorer\": "
                 "\"exact\"}\n",
                 i, sender[i]);
        strcat(text, line);
    }
    lw_test_write_text(task, text);
    return task;
}

/* Runs the scan (4 items: 2 selection, 2 held-out) with n answer tokens; on success the split
 * of each item ('s', 'h', or 0 when not drawn) from the records. Returns the exit status. */
static int run_scan(const char *task, int n, char split_of[N_ITEMS], char **err) {
    const char *dir = lw_test_fresh_dir("drawn-scan");
    char args[4000];
    snprintf(args, sizeof args,
             "scan --sender '%s' --task '%s' --out '%s/o%d' --items 4 --select-items 2 --layers 0 --threads 1 "
             "--resamples 100 --answer-tokens %d",
             model_path, task, dir, n, n);
    int rc = lw_test_run_cli(args, NULL, err);
    if (rc != 0) return rc;
    char path[1400];
    snprintf(path, sizeof path, "%s/o%d/scan.records.jsonl", dir, n);
    char *text = lw_test_read_file(path);
    if (!text) fail_msg("no %s", path);
    memset(split_of, 0, N_ITEMS);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "id")), *split = json_string_value(json_object_get(o, "split"));
        if (id && split && id[0] == 'i') split_of[atoi(id + 1)] = !strcmp(split, "select") ? 's' : 'h';
        json_decref(o);
    }
    free(text);
    return 0;
}

static void test_undrawn_item_does_not_refuse(void **state) {
    (void)state;
    if (!model) skip();
    int reps[N_ITEMS] = {1, 2, 3, 4, 5, 6, 7, 8}; /* distinct lengths: one longest drawn item */
    const char *task = write_task(reps);
    char drawn[N_ITEMS], *err = NULL;
    if (run_scan(task, 1, drawn, &err) != 0) fail_msg("scan: %s", err);
    int n_drawn = 0, undrawn = -1;
    for (int i = 0; i < N_ITEMS; i++) {
        n_drawn += drawn[i] != 0;
        if (!drawn[i] && undrawn < 0) undrawn = i;
    }
    assert_int_equal(n_drawn, 4);
    /* the same number of items, all texts distinct: the same items are drawn with a longer one */
    reps[undrawn] = 20;
    task = write_task(reps);
    int longest = 0, which = -1;
    for (int i = 0; i < N_ITEMS; i++) {
        char prompt[2200];
        snprintf(prompt, sizeof prompt, "%s\nThe cat", sender[i]);
        int n = tokens(prompt);
        if (drawn[i] && n > longest) longest = n, which = i;
    }
    char prompt[2200];
    snprintf(prompt, sizeof prompt, "%s\nThe cat", sender[undrawn]);
    int undrawn_tokens = tokens(prompt), most = CTX - longest + 1;
    assert_true(undrawn_tokens > longest); /* the whole file's check would refuse most */
    char again[N_ITEMS];
    free(err);
    err = NULL;
    if (run_scan(task, most, again, &err) != 0)
        fail_msg("--answer-tokens %d fits every drawn item but was refused: %s", most, err);
    assert_memory_equal(again, drawn, N_ITEMS);
    /* one more is refused, naming the drawn item with the longest prompt and its split */
    char args[4000], want[600];
    snprintf(args, sizeof args,
             "scan --sender '%s' --task '%s' --out '%s/refused' --items 4 --select-items 2 --layers 0 --threads 1 "
             "--answer-tokens %d",
             model_path, task, lw_test_fresh_dir("drawn-scan"), most + 1);
    snprintf(want, sizeof want,
             "--answer-tokens %d: the receiver's context holds %d tokens and item i%d's ceiling prompt (demonstrations "
             "and query) is %d: use --answer-tokens %d or less (item i%d is a %s item, of the 2 selection and 2 "
             "held-out drawn)",
             most + 1, CTX, which, longest, most, which, drawn[which] == 's' ? "selection" : "held-out");
    char *why = lw_test_cli_refusal(args, -1, want);
    if (why) fail_msg("%s", why);
    free(err);
}

/* The other per-item checks (an empty sender text, fewer tokens than --positions) also read only
 * the drawn items: an undrawn item with an empty sender text used to refuse the run; a drawn one
 * is still refused, by name. */
static void test_undrawn_empty_sender_does_not_refuse(void **state) {
    (void)state;
    if (!model) skip();
    int reps[N_ITEMS] = {1, 1, 1, 1, 1, 1, 1, 1};
    const char *task = write_task(reps);
    char drawn[N_ITEMS], again[N_ITEMS], *err = NULL;
    if (run_scan(task, 1, drawn, &err) != 0) fail_msg("scan: %s", err);
    int undrawn = -1, first_drawn = -1;
    for (int i = N_ITEMS - 1; i >= 0; i--) {
        if (!drawn[i]) undrawn = i;
        else first_drawn = i;
    }
    assert_true(undrawn >= 0 && first_drawn >= 0);
    reps[undrawn] = -1;
    task = write_task(reps);
    free(err);
    err = NULL;
    if (run_scan(task, 1, again, &err) != 0) fail_msg("an undrawn item's empty sender refused the run: %s", err);
    assert_memory_equal(again, drawn, N_ITEMS);
    reps[undrawn] = 1, reps[first_drawn] = -1;
    task = write_task(reps);
    char args[4000], want[200];
    snprintf(args, sizeof args,
             "scan --sender '%s' --task '%s' --out '%s/empty' --items 4 --select-items 2 --layers 0 --threads 1",
             model_path, task, lw_test_fresh_dir("drawn-scan"));
    snprintf(want, sizeof want, "item i%d has an empty sender text", first_drawn);
    char *why = lw_test_cli_refusal(args, -1, want);
    if (why) fail_msg("%s", why);
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_undrawn_item_does_not_refuse),
        cmocka_unit_test(test_undrawn_empty_sender_does_not_refuse),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
