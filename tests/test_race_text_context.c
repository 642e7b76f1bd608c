/* race --answer-tokens against the receiver's context for the text channels: the prompt a
 * text: codec's decoded text makes is bounded, not taken as the whole text's. A truncation that
 * cuts "there" to "ther" re-tokenizes to one token more than the whole text, so the old check
 * (the whole text's prompt) let an answer run past the context; text:summary's summary (up to 32
 * tokens) may be longer than a short sender text. The limits are computed here with the
 * tokenizer and the bound written out (query prompt + bytes + 2; query prompt + 32 + 2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/runtime.h"
#include "support/testutil.h"

#define CTX 512            /* stories260K's context, the race session's */
#define SUMMARY_TOKENS 32  /* the summary codec's default length limit */

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

/* Tokens of text with BOS, as the race's receiver reads a prompt without a chat template. */
static int tokens(const char *text) {
    int n = lw_test_count_tokens(model, text);
    if (n < 0) fail_msg("tokenize: %s", lw_last_error());
    return n;
}

static void expect_refusal(const char *args, const char *needle) {
    char *why = lw_test_cli_refusal(args, -1, needle);
    if (why) fail_msg("%s", why);
}

/* Six items (ids i0..i5; --calib 2 reports i5 among others), item i's sender text the sentence
 * repeated 1 + i times and then tail, the query "The cat". The last item's text into longest. */
static const char *task_file(const char *name, const char *sentence, const char *tail, char *longest, size_t cap) {
    const char *task = lw_test_tmpfile(name);
    char text[8000] = "", line[1200];
    for (int i = 0; i < 6; i++) {
        char sender[900] = "";
        for (int r = 0; r < 1 + i; r++) strcat(sender, sentence);
        strcat(sender, tail);
        snprintf(line, sizeof line,
                 "{\"id\": \"i%d\", \"sender\": \"%s\", \"receiver\": \"The cat\", \"gold\": \"sat\", "
                 "\"scorer\": \"exact\"}\n",
                 i, sender);
        strcat(text, line);
        snprintf(longest, cap, "%s", sender);
    }
    lw_test_write_text(task, text);
    return task;
}

static void test_truncate_cut_word(void **state) {
    (void)state;
    if (!model) skip();
    char longest[900], prompt[1000], cut[1000];
    const char *task = task_file("rtc-trunc.jsonl", "Once upon a time there was a cat. ", "It was there", longest,
                                 sizeof longest);
    size_t bytes = strlen(longest);
    /* truncate at 8 * (bytes - 1) bits keeps all but the last byte of i5's text: "...It was ther" */
    long budget = 8 * (long)(bytes - 1);
    snprintf(prompt, sizeof prompt, "%s\nThe cat", longest);
    snprintf(cut, sizeof cut, "%.*s\nThe cat", (int)(bytes - 1), longest);
    int whole = tokens(prompt), decoded = tokens(cut), query = tokens("The cat");
    if (decoded <= whole) fail_msg("the cut prompt is %d tokens, the whole one %d: the case needs more", decoded, whole);
    int old_most = CTX - whole + 1; /* what the whole text's prompt allowed */
    if (decoded + old_most - 1 <= CTX) fail_msg("the case does not run past the context");
    int bound = query + (int)bytes + 2, most = CTX - bound + 1;
    assert_true(most >= 1 && most < old_most);

    const char *dir = lw_test_fresh_dir("rtc-trunc");
    char args[4000], want[400];
    snprintf(args, sizeof args,
             "race --sender '%s' --task '%s' --out '%s/o' --calib 2 --budgets %ld --threads 1 "
             "--channel floor,text:truncate --answer-tokens %d",
             model_path, task, dir, budget, old_most);
    snprintf(want, sizeof want,
             "--answer-tokens %d: the receiver's context holds %d tokens and item i5's prompt (a text: channel's "
             "decoded text, at most its %zu bytes, and the query) can be %d: use --answer-tokens %d or less",
             old_most, CTX, bytes, bound, most);
    expect_refusal(args, want);
    if (lw_test_file_exists(lw_test_join(dir, "o"))) fail_msg("the refused race left its output folder");
    /* the bound itself is the limit: one more is refused, it runs */
    snprintf(args, sizeof args,
             "race --sender '%s' --task '%s' --out '%s/o' --calib 2 --budgets %ld --threads 1 "
             "--channel floor,text:truncate --answer-tokens %d",
             model_path, task, dir, budget, most + 1);
    expect_refusal(args, "use --answer-tokens");
    snprintf(args, sizeof args,
             "race --sender '%s' --task '%s' --out '%s/o' --calib 2 --budgets %ld --threads 1 "
             "--channel floor,text:truncate --answer-tokens %d",
             model_path, task, dir, budget, most);
    char *err = NULL;
    int rc = lw_test_run_cli(args, NULL, &err);
    if (rc != 0) fail_msg("--answer-tokens %d (within the bound) refused: %s", most, err);
    free(err);
}

/* The summary (up to 32 tokens) is longer than these short sender texts: the old check counted
 * the sender text's prompt and let the answer take the summary's room. */
static void test_summary_bound(void **state) {
    (void)state;
    if (!model) skip();
    char longest[900], prompt[1000];
    const char *task = task_file("rtc-sum.jsonl", "Hi. ", "Go.", longest, sizeof longest);
    snprintf(prompt, sizeof prompt, "%s\nThe cat", longest);
    int whole = tokens(prompt), query = tokens("The cat");
    int bound = query + SUMMARY_TOKENS + 2, most = CTX - bound + 1, old_most = CTX - whole + 1;
    if (old_most <= most) fail_msg("the sender texts (%d tokens with the query) are not shorter than the summary", whole);
    const char *dir = lw_test_fresh_dir("rtc-sum");
    char args[4000], want[400];
    snprintf(args, sizeof args,
             "race --sender '%s' --task '%s' --out '%s/o' --calib 2 --budgets 256 --threads 1 "
             "--channel floor,text:summary --answer-tokens %d",
             model_path, task, dir, old_most);
    snprintf(want, sizeof want,
             "--answer-tokens %d: the receiver's context holds %d tokens and item i0's prompt (text:summary's summary, "
             "at most %d tokens, and the query) can be %d: use --answer-tokens %d or less",
             old_most, CTX, SUMMARY_TOKENS, bound, most);
    expect_refusal(args, want);
    if (lw_test_file_exists(lw_test_join(dir, "o"))) fail_msg("the refused race left its output folder");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncate_cut_word),
        cmocka_unit_test(test_summary_bound),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
