/* `latentwire channel` / `debate` / `generate --hook` as a user drives them, on the toy
 * models in ../shared/models (exit 77 without them):
 *  - list options: an empty list, an empty item and an item listed twice are one-line errors
 *    naming the option and item, with no output left (issue 8, items 1 and 11);
 *  - debate agents with a negative or non-numeric temperature, a hook spec with a sixth field;
 *  - CIPHER between different vocabularies and AC between different widths are reported as
 *    not applicable, with the reason, while the other channels run;
 *  - --resume refuses a partial made with another sender or another item count, and a
 *    resumed run with the same settings gives the records of an uninterrupted one;
 *  - the AC setting reported is chosen on selection items disjoint (by id and by sender
 *    text) from the reported items, and it is the one with the best selection score,
 *    recomputed here from the records; acw is calibrated on items disjoint from both;
 *  - lw_task_split itself: sizes, disjoint texts, determinism, the "rest" part. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/task.h"
#include "support/synth_model.h"
#include "support/records_edit.h"
#include "support/testutil.h"

static char S260[1200], S656[1200], DATA[1200];

/* Runs the CLI; fails unless it exits non-zero with one stderr line containing needle. */
static void expect_error(const char *args, const char *needle) {
    char *why = lw_test_cli_refusal(args, -1, needle);
    if (why) fail_msg("%s", why);
}

static void expect_ok(const char *args) {
    char *out, *err;
    int rc = lw_test_run_cli(args, &out, &err);
    if (rc != 0) fail_msg("`latentwire %s`: exit %d, stderr:\n%s", args, rc, err);
    free(out);
    free(err);
}

static json_t *load_json(const char *path) {
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j) fail_msg("%s: %s", path, e.text);
    return j;
}

/* The records of an --out file: every line after the settings line. */
static json_t *load_records(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    json_t *a = json_array();
    char line[1 << 16];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o) fail_msg("%s: line %d is not JSON", path, n + 1);
        if (n++ == 0) assert_non_null(json_object_get(o, "settings"));
        else json_array_append(a, o);
        json_decref(o);
    }
    fclose(f);
    return a;
}

/* A task file whose sender texts repeat: story items, some copied under another id. */
static const char *write_task(const char *name, int n_items, lw_task *kept) {
    lw_task t;
    assert_int_equal(lw_task_story(n_items, 3, &t), 0);
    FILE *f = fopen(lw_test_tmpfile(name), "w");
    assert_non_null(f);
    for (int i = 0; i < t.n; i++)
        for (int copy = 0; copy < 1 + (i % 4 == 0); copy++) {
            /* gold "was", scored by containment: a word the answers often have, so the AC
             * settings score differently and the selection has something to choose */
            json_t *o = json_pack("{s:s+, s:s, s:s, s:s, s:s}", "id", t.items[i].id, copy ? "-copy" : "", "sender",
                                  t.items[i].sender, "receiver", t.items[i].receiver, "gold", "was", "scorer",
                                  "contains");
            char *s = json_dumps(o, JSON_COMPACT);
            fprintf(f, "%s\n", s);
            free(s);
            json_decref(o);
        }
    fclose(f);
    if (kept) *kept = t;
    else lw_task_free(&t);
    return lw_test_tmpfile(name);
}

static int setup(void **state) {
    const char *a = lw_test_shared_path("models/stories260K.gguf"), *b = lw_test_shared_path("models/tinystories656K.gguf");
    const char *d = lw_test_shared_path("data");
    if (!a || !b || !d) return -1;
    snprintf(S260, sizeof S260, "%s", a);
    snprintf(S656, sizeof S656, "%s", b);
    snprintf(DATA, sizeof DATA, "%s", d);
    return 0;
}

/* ------------------------------------------------------------------ bad lists */

static void test_list_items_refused(void **state) {
    char args[8192];
    const char *out = lw_test_tmpfile("lists.jsonl");
    const struct {
        const char *opt, *value, *needle;
    } cases[] = {
        {"--channel", "''", "--channel: the list is empty"},
        {"--channel", ",", "--channel \",\": item 1 is empty"},
        {"--channel", "none,,text", "item 2 is empty"},
        {"--channel", "none,none", "\"none\" is listed twice"},
        {"--channel", "none,bogus", "--channel \"bogus\""},
        {"--op", "''", "--op: the list is empty"},
        {"--op", "sum,sum", "\"sum\" is listed twice"},
        {"--k", "0,,1", "--k \"0,,1\": item 2 is empty"},
        {"--k", "1,1", "\"1\" is listed twice"},
        {"--k", "abc", "\"abc\" is not a layer"},
        {"--j", "mid,2", "are the same layer"}, /* stories260K has 5 layers: mid is 2 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *v = cases[i].value;
        snprintf(args, sizeof args, "channel --sender %s --receiver %s --task story:2 --data %s --out %s %s %s", S260,
                 S260, DATA, out, cases[i].opt, v);
        expect_error(args, cases[i].needle);
        assert_false(lw_test_file_exists(out));
    }
    /* debate agents */
    const struct {
        const char *agents, *needle;
    } ag[] = {
        {"%s:-1", "must be a number >= 0"},
        {"%s:abc", "must be a number >= 0"},
        {"%s:0,,%s:1", "item 2 is empty"},
        {"%s:0,%s:0.0", "listed twice"},
        {"''", "--agents: the list is empty"},
    };
    for (size_t i = 0; i < sizeof ag / sizeof *ag; i++) {
        char spec[3000];
        snprintf(spec, sizeof spec, ag[i].agents, S260, S260);
        snprintf(args, sizeof args, "debate --agents %s --task story:1 --rounds 1 --data %s --out %s", spec, DATA, out);
        expect_error(args, ag[i].needle);
        assert_false(lw_test_file_exists(out));
    }
    /* generate: a hook spec with a sixth or an empty field */
    const char *vec = lw_test_tmpfile("hook.txt");
    FILE *f = fopen(vec, "w");
    for (int i = 0; i < 64; i++) fprintf(f, "0.5 ");
    fprintf(f, "\n");
    fclose(f);
    snprintf(args, sizeof args, "generate --model %s --prompt Hi --hook 1:add:last:%s:2:extra", S260, vec);
    expect_error(args, "got 6 fields");
    snprintf(args, sizeof args, "generate --model %s --prompt Hi --hook 1:add::%s", S260, vec);
    expect_error(args, "an empty field");
    snprintf(args, sizeof args, "generate --model %s --prompt Hi --max-tokens 2 --hook 1:add:last:%s:2", S260, vec);
    expect_ok(args);
}

/* ------------------------------------------------------------------ not applicable */

static void test_not_applicable_rows(void **state) {
    char args[4096];
    const char *js = lw_test_tmpfile("na.json");
    snprintf(args, sizeof args,
             "channel --sender %s --receiver %s --task story:3 --data %s --channel none,cipher,ac,text --json %s", S260,
             S656, DATA, js);
    expect_ok(args);
    json_t *root = load_json(js), *conds = json_object_get(root, "conditions");
    json_t *cipher = json_object_get(conds, "cipher"), *ac = json_object_get(conds, "ac");
    assert_true(json_is_false(json_object_get(cipher, "applicable")));
    assert_non_null(strstr(json_string_value(json_object_get(cipher, "reason")), "vocabularies differ"));
    assert_true(json_is_false(json_object_get(ac, "applicable")));
    assert_non_null(strstr(json_string_value(json_object_get(ac, "reason")), "use acw"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(conds, "text"), "accuracy"), "n")), 3);
    assert_non_null(json_object_get(json_object_get(conds, "none"), "accuracy"));
    assert_null(json_object_get(json_object_get(root, "differences"), "cipher"));
    json_decref(root);
    /* nothing left to run is an error */
    snprintf(args, sizeof args, "channel --sender %s --receiver %s --task story:3 --data %s --channel cipher", S260,
             S656, DATA);
    expect_error(args, "nothing to run: cipher");
}

/* ------------------------------------------------------------------ resume */

static void test_resume_checks_settings(void **state) {
    char args[4096], cmd[5000];
    const char *out = lw_test_tmpfile("resume.jsonl"), *ref = lw_test_tmpfile("resume-ref.jsonl");
    char partial[1300];
    snprintf(partial, sizeof partial, "%s.partial", out);
    const char *common = "--task story:3 --channel none,text,ac --data";
    snprintf(args, sizeof args, "channel --sender %s --receiver %s %s %s --out %s", S260, S260, common, DATA, ref);
    expect_ok(args);
    json_t *want = load_records(ref);
    assert_int_equal(json_array_size(want), 9);
    /* an interrupted run: the settings line and the first 5 records, then a torn line */
    snprintf(cmd, sizeof cmd, "head -n 6 %s > %s && printf '{\"split\":\"report\",\"cond' >> %s", ref, partial, partial);
    assert_int_equal(system(cmd), 0);
    /* another sender, another item count: refused, the partial kept */
    snprintf(args, sizeof args, "channel --sender %s --receiver %s %s %s --out %s --resume", S656, S260, common, DATA,
             out);
    expect_error(args, "was made with another --sender");
    snprintf(args, sizeof args,
             "channel --sender %s --receiver %s --task story:2 --channel none,text,ac --data %s --out %s --resume", S260,
             S260, DATA, out);
    expect_error(args, "was made with another --task");
    snprintf(args, sizeof args, "channel --sender %s --receiver %s %s %s --out %s --resume --answer-tokens 4", S260,
             S260, common, DATA, out);
    expect_error(args, "was made with another --answer-tokens");
    assert_true(lw_test_file_exists(partial));
    assert_false(lw_test_file_exists(out));
    /* a kept record whose cost is not what a run writes (1e300 forwarded tokens was summed into an
     * int64 and shown as a negative count): refused, naming the field */
    const char *out2 = lw_test_tmpfile("resume-cost.jsonl");
    snprintf(cmd, sizeof cmd, "cp %s %s.partial", partial, out2);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s.partial", out2);
    static const char *const key[3] = {"split", "condition", "id"};
    lw_test_edit_record(cmd, key, 3, "score", NULL, NULL, "cost",
                        "{\"a_forwarded\": 1, \"a_generated\": 0, \"b_forwarded\": 1e300, \"b_generated\": 0, "
                        "\"a_passes\": 1, \"b_passes\": 1, \"message_floats\": 0, \"message_bytes\": 0, \"wall_s\": 0.1}");
    snprintf(args, sizeof args, "channel --sender %s --receiver %s %s %s --out %s --resume", S260, S260, common, DATA,
             out2);
    expect_error(args, "has a bad cost field b_forwarded");
    /* a kept score of 0.5 where the scorer gives right or wrong (it entered the accuracy as half
     * an answer): refused, naming the record and the scorer */
    const char *out3 = lw_test_tmpfile("resume-half.jsonl");
    snprintf(cmd, sizeof cmd, "cp %s %s.partial", partial, out3);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s.partial", out3);
    lw_test_edit_record(cmd, key, 3, "score", NULL, NULL, "score", "0.5");
    snprintf(args, sizeof args, "channel --sender %s --receiver %s %s %s --out %s --resume", S260, S260, common, DATA,
             out3);
    expect_error(args, "has score 0.5, but its scorer");
    /* the same settings: the records of the uninterrupted run, each once */
    snprintf(args, sizeof args, "channel --sender %s --receiver %s %s %s --out %s --resume", S260, S260, common, DATA,
             out);
    expect_ok(args);
    json_t *got = load_records(out);
    assert_int_equal(json_array_size(got), 9);
    for (size_t i = 0; i < 9; i++) {
        json_t *g = json_array_get(got, i);
        bool found = false;
        for (size_t k = 0; k < 9 && !found; k++) {
            json_t *w = json_array_get(want, k);
            if (!json_equal(json_object_get(g, "condition"), json_object_get(w, "condition")) ||
                !json_equal(json_object_get(g, "id"), json_object_get(w, "id")))
                continue;
            found = true;
            assert_true(json_equal(json_object_get(g, "output"), json_object_get(w, "output")));
            assert_true(json_equal(json_object_get(g, "score"), json_object_get(w, "score")));
        }
        assert_true(found);
    }
    json_decref(got);
    json_decref(want);
}

/* ------------------------------------------------------------------ selection and calibration */

static json_t *id_set(json_t *ids) {
    json_t *set = json_object();
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) json_object_set_new(set, json_string_value(v), json_true());
    return set;
}

/* The sender text of an id of the task file (copies share it). */
static const char *sender_of(const lw_task *t, const char *id) {
    for (int i = 0; i < t->n; i++)
        if (!strncmp(id, t->items[i].id, strlen(t->items[i].id)) &&
            (!id[strlen(t->items[i].id)] || !strcmp(id + strlen(t->items[i].id), "-copy")))
            return t->items[i].sender;
    fail_msg("unknown id %s", id);
    return NULL;
}

/* No id and no sender text in both lists. */
static void expect_disjoint(const lw_task *t, json_t *a, json_t *b) {
    size_t i, k;
    json_t *x, *y;
    json_array_foreach(a, i, x) json_array_foreach(b, k, y) {
        assert_string_not_equal(json_string_value(x), json_string_value(y));
        assert_string_not_equal(sender_of(t, json_string_value(x)), sender_of(t, json_string_value(y)));
    }
}

static void test_selection_split(void **state) {
    lw_task t;
    const char *task = write_task("select-task.jsonl", 24, &t);
    const char *out = lw_test_tmpfile("select.jsonl"), *js = lw_test_tmpfile("select.json");
    char args[4096];
    snprintf(args, sizeof args,
             "channel --sender %s --receiver %s --task %s --channel none,ac --k 0,2 --j 1,3 --select 6 "
             "--answer-tokens 6 --out %s --json %s",
             S260, S260, task, out, js);
    expect_ok(args);
    json_t *root = load_json(js), *sel = json_object_get(root, "selection");
    json_t *sel_items = json_object_get(sel, "items"), *items = json_object_get(root, "items");
    assert_int_equal(json_array_size(sel_items), 6);
    /* every item of the file is reported or selected, except copies of a selected text */
    assert_true(json_array_size(items) >= 16 && json_array_size(items) + 6 <= 30);
    expect_disjoint(&t, sel_items, items);
    /* the settings' selection scores, recomputed from the records */
    const char *order[4] = {"ac[k=0,j=1,replace]", "ac[k=0,j=3,replace]", "ac[k=2,j=1,replace]", "ac[k=2,j=3,replace]"};
    double sum[4] = {0};
    int cnt[4] = {0};
    json_t *recs = load_records(out), *sel_ids = id_set(sel_items), *rep_ids = id_set(items);
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r) {
        const char *split = json_string_value(json_object_get(r, "split"));
        const char *id = json_string_value(json_object_get(r, "id"));
        const char *cond = json_string_value(json_object_get(r, "condition"));
        assert_non_null(json_object_get(!strcmp(split, "select") ? sel_ids : rep_ids, id));
        if (strcmp(split, "select")) continue;
        for (int k = 0; k < 4; k++)
            if (!strcmp(cond, order[k])) sum[k] += json_number_value(json_object_get(r, "score")), cnt[k]++;
    }
    int best = 0, distinct = 0;
    for (int k = 0; k < 4; k++) {
        assert_int_equal(cnt[k], 6);
        if (sum[k] > sum[best]) best = k; /* ties: the first listed */
        distinct += k > 0 && sum[k] != sum[0];
    }
    json_t *chosen = json_object_get(json_object_get(sel, "chosen"), "ac");
    print_message("selection: chosen %s (recomputed best %s, %.0f/6)\n",
                  json_string_value(json_object_get(chosen, "chosen")), order[best], sum[best]);
    assert_string_equal(json_string_value(json_object_get(chosen, "chosen")), order[best]);
    assert_true(distinct > 0); /* the scores differ, so the choice is a real argmax */
    /* reported rows: none and the chosen setting only, on the reported items */
    json_t *conds = json_object_get(root, "conditions");
    assert_int_equal(json_object_size(conds), 2);
    assert_non_null(json_object_get(conds, order[best]));
    json_decref(recs);
    json_decref(sel_ids);
    json_decref(rep_ids);
    json_decref(root);

    /* acw: calibrated on items disjoint from the reported and the selection items */
    snprintf(args, sizeof args,
             "channel --sender %s --receiver %s --task %s --channel acw --k 1 --j 1,3 --select 3 --calib 6 "
             "--answer-tokens 4 --json %s",
             S260, S260, task, js);
    expect_ok(args);
    root = load_json(js);
    json_t *cal = json_object_get(root, "calibration");
    json_t *cal_items = json_object_get(cal, "items");
    sel_items = json_object_get(json_object_get(root, "selection"), "items");
    items = json_object_get(root, "items");
    assert_int_equal(json_array_size(cal_items), 6);
    assert_int_equal(json_array_size(sel_items), 3);
    expect_disjoint(&t, cal_items, items);
    expect_disjoint(&t, cal_items, sel_items);
    expect_disjoint(&t, sel_items, items);
    /* the maps: the bridge ridge, centered, alpha chosen by GCV */
    json_t *map = json_object_get(json_object_get(cal, "maps"), "k=1,j=3");
    assert_non_null(map);
    char *text = json_dumps(map, JSON_COMPACT);
    assert_non_null(strstr(text, "\"gcv\""));
    assert_non_null(strstr(text, "\"center\":true"));
    free(text);
    json_decref(root);
    lw_task_free(&t);
}

/* --ac-bridge is used where it was fitted: last-token rows of A's block k and B's block j of these
 * models (a map fitted elsewhere is refused naming the condition), and by an acw channel (given
 * without one, it is refused rather than ignored). */
static void test_ac_bridge_checked(void **state) {
    (void)state;
    const char *task = write_task("acb-task.jsonl", 8, NULL);
    char texts[1200], args[8192], xa[1200], xb[1200], br[1200], mean[1200];
    snprintf(texts, sizeof texts, "%s", lw_test_tmpfile("acb-texts.txt"));
    lw_test_write_text(texts, "Once upon a time there was a cat.\nThe dog ran to the park.\nLily had a red ball.\n"
                              "Tom saw a big tree.\nThe sun was hot and bright.\nA bird sang a song.\n");
    snprintf(xa, sizeof xa, "%s", lw_test_tmpfile("acb-a.safetensors"));
    snprintf(xb, sizeof xb, "%s", lw_test_tmpfile("acb-b.safetensors"));
    snprintf(br, sizeof br, "%s", lw_test_tmpfile("acb.bridge.safetensors"));
    snprintf(mean, sizeof mean, "%s", lw_test_tmpfile("acb-mean.bridge.safetensors"));
    snprintf(args, sizeof args, "extract --model %s --layers 1 --pool last --input %s --out %s", S260, texts, xa);
    expect_ok(args);
    snprintf(args, sizeof args, "extract --model %s --layers 1 --pool last --input %s --out %s", S656, texts, xb);
    expect_ok(args);
    snprintf(args, sizeof args, "bridge fit --source %s --source-tensor layer.1 --target %s --target-tensor layer.1 --out %s",
             xa, xb, br);
    expect_ok(args);
    const char *base = "channel --sender %s --receiver %s --task %s --answer-tokens 2 --ac-bridge %s --channel %s";
    snprintf(args, sizeof args, base, S260, S656, task, br, "acw --k 1 --j 1");
    expect_ok(args);
    snprintf(args, sizeof args, base, S260, S656, task, br, "none,text");
    expect_error(args, "--ac-bridge with --channel none,text: only acw reads it");
    /* options only other channels read (each was accepted and changed nothing) */
    static const char *const unused[][2] = {{"text --onehot 0.5", "--onehot with --channel text: only cipher reads it"},
                                            {"text --op sum", "--op with --channel text: only ac acw read it"},
                                            {"none --temp 0.5", "--temp with --channel none: only text cipher read it"},
                                            {"ac --calib 5", "--calib with --channel ac: only acw reads it"}};
    /* --chat on a model without a template: refused before the first item, with no records begun */
    const char *rec = lw_test_tmpfile("chat-none.jsonl");
    char partial[1400];
    snprintf(partial, sizeof partial, "%s.partial", rec);
    snprintf(args, sizeof args, "channel --sender %s --receiver %s --task story:2 --chat --out %s", S260, S260, rec);
    expect_error(args, "--chat: the sender: ");
    assert_false(lw_test_file_exists(partial));
    /* a task without sender texts: refused before the first item, naming it and what to use */
    if (lw_test_shared_path("data/gsm8k")) {
        snprintf(args, sizeof args, "channel --sender %s --receiver %s --task gsm8k:2 --channel text", S260, S260);
        expect_error(args, "item gsm8k-0 has no sender text, which channel text reads");
    }
    /* list items are trimmed as the library trims them: "none, text" has text, which reads --temp */
    snprintf(args, sizeof args, "channel --sender %s --receiver %s --task story:1 --answer-tokens 1 --channel 'none, "
             "text' --temp 0.5 --message-tokens 2", S260, S260);
    expect_ok(args);
    for (size_t k = 0; k < sizeof unused / sizeof unused[0]; k++) {
        snprintf(args, sizeof args, "channel --sender %s --receiver %s --task %s --answer-tokens 2 --channel %s", S260,
                 S260, task, unused[k][0]);
        expect_error(args, unused[k][1]);
    }
    snprintf(args, sizeof args, base, S260, S656, task, br, "acw --k 1 --j 0");
    expect_error(args, "for acw[k=1,j=0,replace]: fitted on the target's layer.1");
    snprintf(args, sizeof args, base, S656, S260, task, br, "acw --k 1 --j 1");
    expect_error(args, "fitted on another source model");
    /* fitted on mean-pooled rows: acw reads last-token ones */
    snprintf(xa, sizeof xa, "%s", lw_test_tmpfile("acb-a-mean.safetensors"));
    snprintf(args, sizeof args, "extract --model %s --layers 1 --input %s --out %s", S260, texts, xa);
    expect_ok(args);
    snprintf(args, sizeof args, "bridge fit --source %s --source-tensor layer.1 --target %s --target-tensor layer.1 --out %s",
             xa, xb, mean);
    expect_ok(args);
    snprintf(args, sizeof args, base, S260, S656, task, mean, "acw --k 1 --j 1");
    expect_error(args, "not --pool last rows");
}

/* ------------------------------------------------------------------ lw_task_split */

static void test_task_split(void **state) {
    lw_task pool;
    assert_int_equal(lw_task_story(300, 9, &pool), 0);
    int sizes[3] = {20, 30, 100};
    lw_task a[3], b[3];
    assert_int_equal(lw_task_split(&pool, sizes, 3, 4, a), 0);
    assert_int_equal(lw_task_split(&pool, sizes, 3, 4, b), 0);
    for (int p = 0; p < 3; p++) {
        assert_int_equal(a[p].n, sizes[p]);
        for (int i = 0; i < a[p].n; i++) assert_string_equal(a[p].items[i].id, b[p].items[i].id); /* deterministic */
        for (int q = 0; q < p; q++)
            for (int i = 0; i < a[p].n; i++)
                for (int k = 0; k < a[q].n; k++) assert_string_not_equal(a[p].items[i].sender, a[q].items[k].sender);
    }
    /* another seed draws other items */
    lw_task c[3];
    assert_int_equal(lw_task_split(&pool, sizes, 3, 5, c), 0);
    bool same = true;
    for (int i = 0; i < 20; i++) same &= !strcmp(a[0].items[i].id, c[0].items[i].id);
    assert_false(same);
    /* the rest: everything else whose text is not taken */
    int rest[2] = {10, -1};
    lw_task d[2];
    assert_int_equal(lw_task_split(&pool, rest, 2, 4, d), 0);
    assert_int_equal(d[0].n, 10);
    int taken = 0;
    for (int i = 0; i < pool.n; i++) {
        bool in0 = false;
        for (int k = 0; k < d[0].n; k++) in0 |= !strcmp(pool.items[i].sender, d[0].items[k].sender);
        taken += in0;
    }
    assert_int_equal(d[1].n, pool.n - taken);
    /* too few distinct texts */
    int huge[2] = {200, 400};
    lw_task e[2];
    assert_int_equal(lw_task_split(&pool, huge, 2, 4, e), -1);
    assert_non_null(strstr(lw_last_error(), "larger task"));
    for (int p = 0; p < 3; p++) lw_task_free(&a[p]), lw_task_free(&b[p]), lw_task_free(&c[p]);
    lw_task_free(&d[0]);
    lw_task_free(&d[1]);
    lw_task_free(&pool);
}

/* A model whose greedy answers are byte tokens that cut UTF-8 characters (the synthetic model
 * with seed 1 and an untied output matrix answers such bytes): the records still hold valid
 * JSON strings (whole characters, U+FFFD for the rest), as they do for SmolLM2's byte-level
 * answers; before, json_pack refused the line and the run failed ("cannot write the records"). */
static void test_records_of_partial_characters(void **state) {
    (void)state;
    lw_synth_params sp = lw_synth_default_params();
    sp.seed = 1;
    sp.tied = false;
    const char *model = lw_test_tmpfile("bytes.gguf");
    assert_int_equal(lw_synth_write(model, &sp), 0);
    const char *task = write_task("bytes_task.jsonl", 6, NULL);
    const char *out = lw_test_tmpfile("bytes_records.jsonl");
    remove(out);
    char args[8192];
    snprintf(args, sizeof args, "channel --sender %s --receiver %s --task %s --channel none,context --answer-tokens 16 --out %s",
             model, model, task, out);
    expect_ok(args);
    json_t *recs = load_records(out);
    size_t i;
    json_t *r;
    int replaced = 0;
    assert_true(json_array_size(recs) > 0);
    json_array_foreach(recs, i, r) {
        assert_true(json_is_string(json_object_get(r, "output")));
        replaced += strstr(json_string_value(json_object_get(r, "output")), "\xef\xbf\xbd") != NULL;
    }
    assert_true(replaced > 0); /* the case this test is about did occur */
    json_decref(recs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_task_split),
        cmocka_unit_test(test_records_of_partial_characters),
        cmocka_unit_test(test_list_items_refused),
        cmocka_unit_test(test_not_applicable_rows),
        cmocka_unit_test(test_resume_checks_settings),
        cmocka_unit_test(test_selection_split),
        cmocka_unit_test(test_ac_bridge_checked),
    };
    if (!lw_test_shared_path("models/stories260K.gguf") || !lw_test_shared_path("models/tinystories656K.gguf") ||
        !lw_test_shared_path("data")) {
        fprintf(stderr, "skipped: the toy models or data in ../shared are not there (set LW_SHARED_DIR)\n");
        return 77;
    }
    return lw_test_exit(cmocka_run_group_tests(tests, setup, NULL));
}
