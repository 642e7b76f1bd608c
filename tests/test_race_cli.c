/* `latentwire race` and `race retrieval` as a user drives them.
 *  - bad input is one clear error line, non-zero exit, no output directory: budget 0 or negative,
 *    an unknown codec or channel, a codec of the other family, a bridge whose widths do not match
 *    the models, two different models without a bridge for act: channels (real model);
 *  - end to end on Gemma 3 270M (a skill task of 5 reported items, budget 256): every cell has its
 *    n, every payload is within the budget, the ceiling's payload is 8 x the demonstrations' bytes,
 *    the verdict is one of the three; two shards merged by `race merge` give the unsharded bytes;
 *  - race retrieval on 12 PTB passages: top-1's interval is the exact one of its count and PASS is
 *    lower bound >= 0.85.
 * The end-to-end cases SKIP (exit 77) while the patch primitive or the codecs are not built in
 * this tree ("not built" in the error or in a cell's reason); after the merge they run. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "latentwire/bridge.h"
#include "latentwire/records.h"
#include "latentwire/retrieval.h"
#include "support/testutil.h"

static bool g_skipped;

static int count_lines(const char *s) {
    int n = 0;
    for (; s && *s; s++) n += *s == '\n';
    return n;
}

static void expect_error(const char *args, const char *needle) {
    char *out = NULL, *err = NULL;
    int rc = lw_test_run_cli(args, &out, &err);
    if (rc == 0 || rc == -1 || count_lines(err) != 1 || !strstr(err, needle))
        fail_msg("`latentwire %s`: exit %d, stderr:\n%s(expected one line containing \"%s\")", args, rc, err, needle);
    free(out);
    free(err);
}

static json_t *load_json(const char *path) {
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j) fail_msg("%s: %s", path, e.text);
    return j;
}

static void test_bad_options(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("bad");
    char args[4096];
    const char *base = "race --sender /nonexistent.gguf --task t.jsonl --out";
    snprintf(args, sizeof args, "%s %s/o --budgets 0", base, dir);
    expect_error(args, "--budgets \"0\": \"0\" is not a budget: each must be a whole number of bits from 1 to 2^40");
    snprintf(args, sizeof args, "%s %s/o --budgets 16,-4", base, dir);
    expect_error(args, "\"-4\" is not a budget");
    snprintf(args, sizeof args, "%s %s/o --channel floor,act:bogus", base, dir);
    expect_error(args, "unknown codec 'bogus'");
    snprintf(args, sizeof args, "%s %s/o --channel text:topk", base, dir);
    expect_error(args, "topk is an activation codec: use act:topk");
    snprintf(args, sizeof args, "%s %s/o --channel telepathy", base, dir);
    expect_error(args, "channel \"telepathy\": use floor, ceiling, mean, act:CODEC");
    snprintf(args, sizeof args, "%s %s/o --calib 1", base, dir); /* one row: no codec can be fitted on it */
    expect_error(args, "--calib 1: must be an integer in [2, 1000000]");
    snprintf(args, sizeof args, "%s %s/o --shard 3/3", base, dir);
    expect_error(args, "--shard 3/3: must be I/N with 0 <= I < N");
    snprintf(args, sizeof args, "race merge --out %s/none", dir);
    expect_error(args, "No such file or directory");
    snprintf(args, sizeof args, "race retrieval --model /nonexistent.gguf --passages p.txt --out %s/o --budgets 0", dir);
    expect_error(args, "\"0\" is not a budget");
    snprintf(args, sizeof args, "race retrieval --model /nonexistent.gguf --passages p.txt --out %s/o --codecs zip", dir);
    expect_error(args, "unknown codec 'zip'");
    /* a bank of one passage scores top-1 = 1 whatever the decoding, and a threshold of 0 passes every row */
    snprintf(args, sizeof args, "race retrieval --model /nonexistent.gguf --passages p.txt --out %s/o --n 1", dir);
    expect_error(args, "--n 1: must be an integer in [2, 1000000]");
    snprintf(args, sizeof args, "race retrieval --model /nonexistent.gguf --passages p.txt --out %s/o --threshold 0", dir);
    expect_error(args, "--threshold 0: must be a number in (0, 1]");
    snprintf(args, sizeof args, "race retrieval --model /nonexistent.gguf --passages p.txt --out %s/o --budgets 64,064", dir);
    expect_error(args, "\"64\" and \"064\" are the same budget (64 bits)");
    /* the passages, or the model, as a file the run writes: refused before the model loads, the
     * file unchanged (retrieval.csv overwrote the passages with exit 0) */
    const char *rdir = lw_test_fresh_dir("bad_retrieval_out");
    char pass[1200], model_out[1200];
    snprintf(pass, sizeof pass, "%s", lw_test_join(rdir, "retrieval.csv"));
    snprintf(model_out, sizeof model_out, "%s", lw_test_join(rdir, "retrieval.json"));
    lw_test_write_text(pass, "one passage\nanother passage\n");
    lw_test_write_text(model_out, "not a model\n");
    snprintf(args, sizeof args, "race retrieval --model /nonexistent.gguf --passages %s --out %s", pass, rdir);
    expect_error(args, "is the same file as --passages");
    snprintf(args, sizeof args, "race retrieval --model %s --passages p.txt --out %s", model_out, rdir);
    expect_error(args, "is the same file as --model");
    char *kept = lw_test_read_file(pass), *kept_model = lw_test_read_file(model_out);
    assert_string_equal(kept, "one passage\nanother passage\n");
    assert_string_equal(kept_model, "not a model\n");
    free(kept), free(kept_model);
    assert_int_equal(lw_test_dir_entries(rdir), 2);
    /* a plan naming a cell the run will not write is refused before any model loads (it would fail
     * only at `verdict`, after the whole run); so is a metric races do not record */
    const char *plan = lw_test_tmpfile("race.plan.json");
    lw_test_write_text(plan, "{\"format\": \"latentwire.plan/1\", \"title\": \"t\", \"selection\": \"none\",\n"
                             " \"hypotheses\": [{\"id\": \"H1\", \"metric\": \"exact_match\", \"a\": \"cipher@64\",\n"
                             " \"b\": \"floor\", \"direction\": \"greater\", \"threshold\": 0}]}\n");
    snprintf(args, sizeof args, "%s %s/o --channel floor,text:zlib --budgets 64 --plan %s", base, dir, plan);
    expect_error(args, "hypothesis H1: condition 'cipher@64' is not a cell of this race");
    snprintf(args, sizeof args, "%s %s/o --channel floor,cipher --budgets 256 --plan %s", base, dir, plan);
    expect_error(args, "condition 'cipher@64' is not a cell of this race");
    lw_test_write_text(plan, "{\"format\": \"latentwire.plan/1\", \"title\": \"t\", \"selection\": \"none\",\n"
                             " \"hypotheses\": [{\"id\": \"H2\", \"metric\": \"top1\", \"a\": \"floor\",\n"
                             " \"direction\": \"greater\", \"threshold\": 0}]}\n");
    snprintf(args, sizeof args, "%s %s/o --channel floor --plan %s", base, dir, plan);
    expect_error(args, "hypothesis H2: metric 'top1' is not one a race records");
    /* the plan that matches the run passes this check: the next refusal is the missing model's */
    lw_test_write_text(plan, "{\"format\": \"latentwire.plan/1\", \"title\": \"t\", \"selection\": \"none\",\n"
                             " \"hypotheses\": [{\"id\": \"H3\", \"metric\": \"exact_match\", \"a\": \"cipher@64\",\n"
                             " \"b\": \"floor\", \"direction\": \"greater\", \"threshold\": 0}]}\n");
    snprintf(args, sizeof args, "%s %s/o --channel floor,cipher --budgets 64 --plan %s", base, dir, plan);
    expect_error(args, "/nonexistent.gguf");
    assert_int_equal(lw_test_dir_entries(dir), 0); /* nothing written */
    /* --task-vector on senders with no "output:" line is refused before any item is scored, naming one */
    const char *toy = lw_test_shared_path("models/stories260K.gguf");
    if (!toy) return;
    char toy_path[1024];
    snprintf(toy_path, sizeof toy_path, "%s", toy);
    const char *task = lw_test_tmpfile("no_output.jsonl");
    lw_test_write_text(task, "{\"id\": \"a\", \"sender\": \"input: x\\nanswer: y\", \"receiver\": \"input: z\\nanswer:\", \"gold\": \"w\", \"scorer\": \"exact\"}\n"
                             "{\"id\": \"b\", \"sender\": \"input: u\\nanswer: v\", \"receiver\": \"input: t\\nanswer:\", \"gold\": \"s\", \"scorer\": \"exact\"}\n"
                             "{\"id\": \"c\", \"sender\": \"input: r\\nanswer: q\", \"receiver\": \"input: p\\nanswer:\", \"gold\": \"o\", \"scorer\": \"exact\"}\n");
    snprintf(args, sizeof args, "race --sender %s --task %s --calib 2 --channel floor,act:topk --budgets 64 "
             "--answer-tokens 1 --threads 1 --task-vector --out %s/tv", toy_path, task, dir);
    expect_error(args, "--task-vector: reported item");
    assert_int_equal(lw_test_dir_entries(dir), 0);
    /* a task whose items have no sender text: every channel would be the floor (it ran, exit 0) */
    if (lw_test_shared_path("data/gsm8k")) {
        snprintf(args, sizeof args, "race --sender %s --task gsm8k:3 --calib 3 --channel floor,act:topk --budgets 64 "
                 "--answer-tokens 1 --threads 1 --out %s/g", toy_path, dir);
        expect_error(args, "no reported item has a sender text");
        assert_int_equal(lw_test_dir_entries(dir), 0);
    }
    /* --exclude is an input: a file the run would write may not be it */
    const char *odir = lw_test_fresh_dir("bad_exclude");
    char ex[1200];
    snprintf(ex, sizeof ex, "%s", lw_test_join(odir, "records.jsonl"));
    lw_test_write_text(ex, "{\"id\": \"a\", \"sender\": \"s\", \"receiver\": \"r\", \"gold\": \"g\", \"scorer\": \"exact\"}\n");
    snprintf(args, sizeof args, "race --sender %s --task %s --calib 2 --channel floor --answer-tokens 1 "
             "--threads 1 --exclude %s --out %s", toy_path, task, ex, odir);
    char *before = lw_test_read_file(ex), *out = NULL, *err = NULL;
    int rc = lw_test_run_cli(args, &out, &err);
    char *after = lw_test_read_file(ex);
    if (rc == 0 || !strstr(err, "--exclude")) fail_msg("`latentwire %s`: exit %d, stderr:\n%s", args, rc, err);
    assert_string_equal(before, after);
    free(before), free(after), free(out), free(err);
}

/* A skill task: the sender reads demonstrations, the receiver the query alone. */
static const char *write_task(void) {
    static const char *const w[][2] = {{"hop", "HOP"},   {"skip", "SKIP"}, {"jump", "JUMP"}, {"run", "RUN"},
                                       {"walk", "WALK"}, {"sing", "SING"}, {"read", "READ"}, {"swim", "SWIM"}};
    const char *path = lw_test_tmpfile("skill.jsonl");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int q = 0; q < 8; q++) {
        fprintf(f, "{\"id\": \"q%d\", \"sender\": \"", q);
        for (int k = 1; k <= 3; k++)
            fprintf(f, "input: %s\\noutput: %s%s", w[(q + k) % 8][0], w[(q + k) % 8][1], k < 3 ? "\\n" : "");
        fprintf(f, "\", \"receiver\": \"input: %s\\noutput:\", \"gold\": \"%s\", \"scorer\": \"exact\"}\n", w[q][0], w[q][1]);
    }
    fclose(f);
    return path;
}

static void test_bridge_widths(void **state) {
    (void)state;
    const char *gemma = lw_test_real_model("gemma-3-270m"), *smol = lw_test_real_model("smollm2-135m-instruct");
    if (!gemma || !smol) {
        g_skipped = true;
        return;
    }
    char g[1024], s[1024], args[8192];
    snprintf(g, sizeof g, "%s", gemma);
    snprintf(s, sizeof s, "%s", smol);
    float X[40 * 4], Y[40 * 3];
    for (int i = 0; i < 40 * 4; i++) X[i] = (float)sin(0.7 * i + 1);
    for (int i = 0; i < 40 * 3; i++) Y[i] = (float)cos(0.3 * i);
    lw_bridge_params bp = lw_bridge_default_params();
    lw_bridge *b = lw_bridge_fit(X, Y, 40, 4, 3, &bp);
    assert_non_null(b);
    char bridge[1024];
    snprintf(bridge, sizeof bridge, "%s", lw_test_tmpfile("small.bridge.safetensors"));
    assert_int_equal(lw_bridge_save(b, bridge), 0);
    lw_bridge_free(b);
    const char *task = write_task();
    const char *dir = lw_test_fresh_dir("widths");
    snprintf(args, sizeof args, "race --sender %s --receiver %s --task %s --calib 3 --bridge %s --out %s/o", g, s, task,
             bridge, dir);
    expect_error(args, "bridge maps 4-wide rows to 3-wide ones, but the sender is 640 wide and the receiver 576");
    snprintf(args, sizeof args, "race --sender %s --receiver %s --task %s --calib 3 --channel floor,act:topk --out %s/o",
             g, s, task, dir);
    expect_error(args, "different models: the act: and mean channels need a bridge");
    assert_int_equal(lw_test_dir_entries(dir), 0);
}

/* Runs the CLI; true when it succeeded, false (and a skip noted) when it failed because the patch
 * primitive or a codec is not built in this tree; any other failure fails the test. */
static bool run_or_skip(const char *args) {
    char *out = NULL, *err = NULL;
    int rc = lw_test_run_cli(args, &out, &err);
    bool ok = rc == 0;
    if (!ok && err && strstr(err, "not built")) {
        fprintf(stderr, "SKIP (not built in this tree): %s", err);
        g_skipped = true;
    } else if (!ok) {
        fail_msg("`latentwire %s`: exit %d, stderr:\n%s", args, rc, err);
    }
    free(out);
    free(err);
    return ok;
}

/* A cell whose reason says its codec is not built: the tree lacks it (a skip). */
static bool any_not_built(json_t *rows, const char *key) {
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(rows, key), i, c) {
        const char *why = json_string_value(json_object_get(c, "reason"));
        if (why && strstr(why, "not built")) {
            fprintf(stderr, "SKIP (not built in this tree): %s\n", why);
            return g_skipped = true;
        }
    }
    return false;
}

static void assert_same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    assert_non_null(fa);
    assert_non_null(fb);
    int ca, cb;
    long at = 0;
    do {
        ca = fgetc(fa), cb = fgetc(fb), at++;
    } while (ca == cb && ca != EOF);
    fclose(fa), fclose(fb);
    if (ca != cb) fail_msg("%s and %s differ at byte %ld", a, b, at);
}

static void test_end_to_end(void **state) {
    (void)state;
    const char *gemma = lw_test_real_model("gemma-3-270m");
    if (!gemma) {
        g_skipped = true;
        return;
    }
    char g[1024], one[1024], two[1024], args[8192];
    snprintf(g, sizeof g, "%s", gemma);
    const char *task = write_task();
    snprintf(one, sizeof one, "%s", lw_test_fresh_dir("e2e"));
    snprintf(two, sizeof two, "%s", lw_test_fresh_dir("e2e_shards"));
    const char *common = "--calib 3 --channel floor,ceiling,act:topk,text:zlib --budgets 256 --answer-tokens 4 --threads 2";
    snprintf(args, sizeof args, "race --sender %s --task %s %s --out %s", g, task, common, one);
    if (!run_or_skip(args)) return;
    json_t *r = load_json(lw_test_join(one, "race.json"));
    if (any_not_built(r, "cells")) {
        json_decref(r);
        return;
    }
    assert_int_equal(json_integer_value(json_object_get(r, "items")), 5);
    /* the ceiling's payload: 8 x the reported items' sender bytes, from the records */
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(r, "cells"), i, c) {
        const char *name = json_string_value(json_object_get(c, "channel"));
        json_t *acc = json_object_get(c, "accuracy");
        assert_non_null(acc);
        assert_int_equal(json_integer_value(json_object_get(acc, "n")), 5);
        assert_int_equal(json_integer_value(json_object_get(c, "n")), 5);
        double m = json_number_value(json_object_get(acc, "mean"));
        assert_true(json_number_value(json_object_get(acc, "lo")) <= m && m <= json_number_value(json_object_get(acc, "hi")));
        if (!strncmp(name, "act:", 4) || !strncmp(name, "text:", 5))
            assert_true(json_integer_value(json_object_get(c, "payload_bits_max")) <= 256);
        if (!strcmp(name, "floor")) assert_true(json_number_value(json_object_get(c, "payload_bits_mean")) == 0);
        if (!strcmp(name, "ceiling")) {
            /* every sender text here is 3 demonstrations "input: W\noutput: W'" joined by newlines */
            json_t *ids = json_object_get(r, "item_ids");
            double bytes = 0;
            size_t k;
            json_t *id;
            json_array_foreach(ids, k, id) {
                int q = atoi(json_string_value(id) + 1);
                static const char *const w[] = {"hop", "skip", "jump", "run", "walk", "sing", "read", "swim"};
                for (int d = 1; d <= 3; d++) bytes += 2 * strlen(w[(q + d) % 8]) + strlen("input: \noutput: ") + (d < 3);
            }
            assert_true(fabs(json_number_value(json_object_get(c, "payload_bits_mean")) - 8 * bytes / 5) < 1e-9);
        }
    }
    json_t *comp = json_array_get(json_object_get(r, "comparisons"), 0);
    assert_non_null(comp);
    const char *v = json_string_value(json_object_get(comp, "verdict"));
    assert_true(!strcmp(v, "text dominates") || !strcmp(v, "activation dominates") || !strcmp(v, "no difference shown"));
    assert_true(json_is_true(json_object_get(comp, "paired")));
    json_decref(r);
    /* two shards and a merge: the same bytes */
    for (int s = 0; s < 2; s++) {
        snprintf(args, sizeof args, "race --sender %s --task %s %s --out %s --shard %d/2", g, task, common, two, s);
        assert_true(run_or_skip(args));
    }
    snprintf(args, sizeof args, "race merge --out %s", two);
    assert_true(run_or_skip(args));
    const char *names[3] = {"race.json", "race.csv", "race.jsonl"};
    for (int k = 0; k < 3; k++) {
        char a[2048];
        snprintf(a, sizeof a, "%s", lw_test_join(one, names[k]));
        assert_same_file(a, lw_test_join(two, names[k]));
    }
    /* --exclude a file holding item q5's query: 7 items left, 3 calibration, 4 reported, none of them
     * q5; --task-vector is a setting of the run */
    const char *ex = lw_test_tmpfile("exclude.jsonl");
    FILE *f = fopen(ex, "w");
    assert_non_null(f);
    fputs("{\"id\": \"x\", \"sender\": \"something else\", \"receiver\": \"input: sing\\noutput:\", \"gold\": \"SING\", \"scorer\": \"exact\"}\n", f);
    fclose(f);
    snprintf(one, sizeof one, "%s", lw_test_fresh_dir("e2e_tv"));
    snprintf(args, sizeof args, "race --sender %s --task %s %s --task-vector --exclude %s --out %s", g, task, common, ex,
             one);
    assert_true(run_or_skip(args));
    r = load_json(lw_test_join(one, "race.json"));
    assert_int_equal(json_integer_value(json_object_get(r, "items")), 4);
    json_array_foreach(json_object_get(r, "item_ids"), i, c) assert_string_not_equal(json_string_value(c), "q5");
    json_t *set = json_object_get(r, "settings");
    assert_true(json_is_true(json_object_get(set, "--task-vector")));
    assert_true(json_is_string(json_object_get(set, "--exclude")));
    json_decref(r);
}

static json_t *retrieval_row(json_t *r, const char *codec, int budget);

/* race retrieval on 12 passages at 64 and 512 bits into a fresh DIR named name, with extra
 * options: its retrieval.json, or NULL when the run could not start (skipped). */
static json_t *run_retrieval(const char *model, const char *passages, const char *name, const char *extra) {
    char args[8192];
    const char *dir = lw_test_fresh_dir(name);
    snprintf(args, sizeof args,
             "race retrieval --model %s --passages %s --n 12 --calib 6 --budgets 64,512 --threads 2 %s --out %s",
             model, passages, extra, dir);
    return run_or_skip(args) ? load_json(lw_test_join(dir, "retrieval.json")) : NULL;
}

static void test_retrieval_cli(void **state) {
    (void)state;
    const char *gemma = lw_test_real_model("gemma-3-270m"), *ptb = lw_test_shared_path("data/ptb/ptb.test.txt");
    if (!gemma || !ptb) {
        g_skipped = true;
        return;
    }
    char g[1024], p[1024];
    snprintf(g, sizeof g, "%s", gemma);
    snprintf(p, sizeof p, "%s", ptb);
    json_t *r = run_retrieval(g, p, "retrieval", "--codecs topk,zlib");
    if (!r) return;
    if (any_not_built(r, "rows")) {
        json_decref(r);
        return;
    }
    assert_true(json_number_value(json_object_get(r, "threshold")) == 0.85);
    size_t i;
    json_t *row;
    assert_int_equal(json_array_size(json_object_get(r, "rows")), 4);
    json_array_foreach(json_object_get(r, "rows"), i, row) {
        if (!json_is_true(json_object_get(row, "applicable"))) { /* e.g. a budget too small: said why */
            assert_non_null(json_string_value(json_object_get(row, "reason")));
            continue;
        }
        json_t *t = json_object_get(row, "top1");
        int n = (int)json_integer_value(json_object_get(t, "n"));
        assert_int_equal(n, 12);
        double m = json_number_value(json_object_get(t, "mean"));
        int x = (int)lround(m * n);
        lw_ci want;
        assert_int_equal(lw_ci_binomial(x, n, 0.95, &want), 0);
        assert_true(fabs(json_number_value(json_object_get(t, "lo")) - want.lo) < 1e-12);
        assert_true(json_is_true(json_object_get(row, "pass")) == (want.lo >= 0.85));
        assert_true(json_number_value(json_object_get(row, "payload_bits_max")) <=
                    json_number_value(json_object_get(row, "budget_bits")));
    }
    /* the memo of decoded texts' activations, bounded to nothing beyond the passages (every
     * row trims what the rows before it added), changes no number */
    json_t *r0 = run_retrieval(g, p, "retrieval_memo0", "--codecs zlib,topk,truncate --memo-mib 0");
    if (!r0) {
        json_decref(r);
        return;
    }
    const char *const codecs[] = {"zlib", "topk"};
    for (int c = 0; c < 2; c++)
        for (int b = 64; b <= 512; b *= 8) {
            json_t *x = retrieval_row(r, codecs[c], b), *y = retrieval_row(r0, codecs[c], b);
            assert_non_null(x), assert_non_null(y);
            assert_true(json_equal(x, y));
        }
    json_decref(r0);
    json_decref(r);
}

/* The row of codec at budget in a retrieval result (borrowed), or NULL. */
static json_t *retrieval_row(json_t *r, const char *codec, int budget) {
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(r, "rows"), i, row)
        if (!strcmp(json_string_value(json_object_get(row, "codec")), codec) &&
            json_integer_value(json_object_get(row, "budget_bits")) == budget)
            return row;
    return NULL;
}

/* Rewrites a records file: the settings line, then its rows but the last; the row of
 * (codec, budget) gets top-1 mean `mean` (in [0, 1]: a count of the row's n with its exact
 * interval, so that the row is one a run could write; else as given). */
static void doctor_field(const char *path, const char *codec, int budget, const char *field, const char *value);

static void doctor_partial(const char *path, const char *codec, int budget, double mean) {
    char *text = lw_test_read_file(path);
    assert_non_null(text);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    char *save = NULL, *lines[64];
    int n = 0;
    for (char *l = strtok_r(text, "\n", &save); l && n < 64; l = strtok_r(NULL, "\n", &save)) lines[n++] = l;
    for (int i = 0; i < n - 1; i++) {
        json_t *o = json_loads(lines[i], 0, NULL);
        assert_non_null(o);
        if (json_is_string(json_object_get(o, "codec")) && !strcmp(json_string_value(json_object_get(o, "codec")), codec) &&
            json_integer_value(json_object_get(o, "budget_bits")) == budget) {
            json_t *t1 = json_object_get(o, "top1");
            int nn = (int)json_integer_value(json_object_get(t1, "n"));
            lw_ci ci;
            if (mean < 0) json_object_del(o, "top1");
            else json_object_set_new(t1, "mean", json_real(mean));
            if (mean >= 0 && mean <= 1 && lw_ci_binomial((int)lround(mean * nn), nn, 0.95, &ci) == 0) {
                json_object_set_new(t1, "lo", json_real(ci.lo));
                json_object_set_new(t1, "hi", json_real(ci.hi));
            }
        }
        assert_int_equal(lw_records_write(f, o), 0); /* sealed anew: a doctored row, not a damaged one */
        json_decref(o);
    }
    fclose(f);
    free(text);
}

/* Sets one field of the row (codec, budget) to a JSON value, the line sealed anew. */
static void doctor_field(const char *path, const char *codec, int budget, const char *field, const char *value) {
    char *text = lw_test_read_file(path);
    assert_non_null(text);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(l, 0, NULL);
        assert_non_null(o);
        if (json_is_string(json_object_get(o, "codec")) && !strcmp(json_string_value(json_object_get(o, "codec")), codec) &&
            json_integer_value(json_object_get(o, "budget_bits")) == budget)
            json_object_set_new(o, field, json_loads(value, JSON_DECODE_ANY, NULL));
        assert_int_equal(lw_records_write(f, o), 0);
        json_decref(o);
    }
    fclose(f);
    free(text);
}

/* --resume keeps the rows retrieval.partial holds (a row doctored there comes back as it is, so
 * it was not recomputed), recomputes the missing one to the same numbers, and refuses a file
 * made with other settings or holding an impossible top-1. */
static void test_retrieval_resume(void **state) {
    (void)state;
    const char *gemma = lw_test_real_model("gemma-3-270m"), *ptb = lw_test_shared_path("data/ptb/ptb.test.txt");
    if (!gemma || !ptb) {
        g_skipped = true;
        return;
    }
    char g[1024], p[1024], base[4096], args[8192];
    snprintf(g, sizeof g, "%s", gemma);
    snprintf(p, sizeof p, "%s", ptb);
    const char *dir = lw_test_fresh_dir("retrieval_resume");
    snprintf(base, sizeof base,
             "race retrieval --model %s --passages %s --calib 6 --codecs zlib,truncate --budgets 64,512 --threads 2 "
             "--out %s",
             g, p, dir);
    snprintf(args, sizeof args, "%s --n 10", base);
    if (!run_or_skip(args)) return;
    json_t *first = load_json(lw_test_join(dir, "retrieval.json"));
    char *partial = lw_test_join(dir, "retrieval.partial");
    doctor_partial(partial, "zlib", 64, 0.5); /* and drops truncate at 512 */
    snprintf(args, sizeof args, "%s --n 10 --resume", base);
    if (!run_or_skip(args)) return;
    json_t *second = load_json(lw_test_join(dir, "retrieval.json"));
    assert_true(json_number_value(json_object_get(json_object_get(retrieval_row(second, "zlib", 64), "top1"), "mean")) ==
                0.5);
    assert_true(json_equal(json_object_get(retrieval_row(first, "truncate", 512), "top1"),
                           json_object_get(retrieval_row(second, "truncate", 512), "top1")));
    assert_true(json_equal(retrieval_row(first, "zlib", 512), retrieval_row(second, "zlib", 512)));
    snprintf(args, sizeof args, "%s --n 9 --resume", base);
    char *why = lw_test_cli_refusal(args, -1, "passages");
    if (why) fail_msg("%s", why);
    /* the same passages by another path (a link): the same run, resumed (its path was refused) */
    char link[1200], linked[8192];
    snprintf(link, sizeof link, "%s/ptb-link.txt", dir);
    assert_int_equal(symlink(p, link), 0);
    snprintf(linked, sizeof linked,
             "race retrieval --model %s --passages %s --calib 6 --codecs zlib,truncate --budgets 64,512 --threads 2 "
             "--out %s --n 10 --resume",
             g, link, dir);
    if (!run_or_skip(linked)) return;
    unlink(link);
    /* layers offloaded to a GPU change the numbers: a run asking for them is another run
     * (requested even where no GPU backend is built, as here) */
    snprintf(args, sizeof args, "%s --n 10 --resume --gpu-layers 3", base);
    why = lw_test_cli_refusal(args, -1, "--gpu-layers");
    if (why) fail_msg("%s", why);
    /* a kept row's verdict, threshold and bits must be what the run would give (a doctored pass was
     * shown as PASS beside an interval far below 0.85) */
    snprintf(args, sizeof args, "%s --n 10 --resume", base);
    char *saved = lw_test_read_file(partial);
    assert_non_null(saved);
    static const char *const fields[][3] = {{"pass", "true", "a pass that its interval does not give"},
                                            {"threshold", "0.1", "another threshold"},
                                            {"payload_bits_max", "100000", "payload bits that are not within the budget"},
                                            {"side_bits", "-1", "side bits that are not a whole number >= 0"},
                                            /* relabelled: the row would be used for another budget */
                                            {"budget_bits", "128", "a codec fitted at another budget"}};
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
        doctor_field(partial, "zlib", 64, fields[k][0], fields[k][1]);
        why = lw_test_cli_refusal(args, -1, fields[k][2]);
        if (why) fail_msg("%s = %s: %s", fields[k][0], fields[k][1], why);
        FILE *w = fopen(partial, "w");
        assert_non_null(w);
        fputs(saved, w);
        fclose(w);
    }
    free(saved);
    doctor_partial(partial, "zlib", 512, 7);
    why = lw_test_cli_refusal(args, -1, "top-1 out of [0, 1]");
    if (why) fail_msg("%s", why);
    doctor_partial(partial, "zlib", 512, -1); /* -1: the row loses its top-1 altogether */
    why = lw_test_cli_refusal(args, -1, "no top-1");
    if (why) fail_msg("%s", why);
    /* the fingerprint holds the model whatever the passages file is called (a name that is not
     * UTF-8 once made it lose every caller setting, the model's among them) */
    char odd[2048], *head = NULL;
    snprintf(odd, sizeof odd, "%s/ptb\xff.txt", dir);
    assert_int_equal(symlink(p, odd), 0);
    snprintf(args, sizeof args,
             "race retrieval --model %s --passages '%s' --calib 6 --codecs zlib --budgets 64 --threads 2 --n 10 --out %s",
             g, odd, dir);
    if (!run_or_skip(args)) return;
    assert_non_null(head = lw_test_read_file(partial));
    *strchr(head, '\n') = '\0';
    json_t *line = json_loads(head, 0, NULL), *settings = json_object_get(line, "settings");
    assert_non_null(json_string_value(json_object_get(settings, "--model")));
    assert_non_null(json_string_value(json_object_get(settings, "--passages")));
    json_decref(line);
    free(head);
    json_decref(first);
    json_decref(second);
}

/* --resume refuses a kept row that contradicts itself, naming the line and what: a top-1 that is
 * not a count of the passages or not its exact interval, another method, more unusable passages
 * than it missed, a top-1 on a row that is not applicable, the wrong family, side bits per item
 * that are not side_bits / n (each was kept into retrieval.json). Toy model, 10 passages. */
static void test_retrieval_resume_self_contradicting_rows(void **state) {
    (void)state;
    const char *toy = lw_test_shared_path("models/stories260K.gguf"), *ptb = lw_test_shared_path("data/ptb/ptb.test.txt");
    if (!toy || !ptb) {
        g_skipped = true;
        return;
    }
    char m[1024], p[1024], args[8192], partial[4096];
    snprintf(m, sizeof m, "%s", toy);
    snprintf(p, sizeof p, "%s", ptb);
    const char *dir = lw_test_fresh_dir("retrieval_contradicting");
    snprintf(args, sizeof args,
             "race retrieval --model %s --passages %s --n 10 --calib 6 --codecs zlib,topk --budgets 64 --threads 2 "
             "--out %s",
             m, p, dir);
    if (!run_or_skip(args)) return;
    snprintf(partial, sizeof partial, "%s", lw_test_join(dir, "retrieval.partial"));
    json_t *r = load_json(lw_test_join(dir, "retrieval.json"));
    json_t *top1 = json_deep_copy(json_object_get(retrieval_row(r, "zlib", 64), "top1"));
    json_object_set_new(top1, "method", json_string("wald"));
    char *other_method = json_dumps(top1, JSON_COMPACT);
    json_decref(top1);
    json_decref(r);
    strcat(args, " --resume");
    char *saved = lw_test_read_file(partial);
    assert_non_null(saved);
    const struct {
        const char *codec, *field, *value, *want;
    } cases[] = {
        {"zlib", "top1", "{\"mean\": 0.35, \"lo\": 0.1, \"hi\": 0.7, \"n\": 10, \"method\": \"clopper-pearson\"}",
         "a top-1 mean that is not a whole count of the passages"},
        {"zlib", "top1", "{\"mean\": 0.3, \"lo\": 0.1, \"hi\": 0.7, \"n\": 10, \"method\": \"clopper-pearson\"}",
         "a top-1 interval that is not the exact one of its count"},
        {"zlib", "top1", other_method, "a top-1 method that is not the run's"},
        {"zlib", "unusable", "11", "an unusable count that is not a whole number"},
        {"zlib", "applicable", "false", "a top-1 on a row that is not applicable"},
        {"zlib", "family", "\"activation\"", "a family that is not its codec's"},
        {"topk", "side_bits_per_item", "1", "side_bits_per_item that is not side_bits / passages"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        doctor_field(partial, cases[k].codec, 64, cases[k].field, cases[k].value);
        char *why = lw_test_cli_refusal(args, -1, cases[k].want);
        if (!why) why = lw_test_cli_refusal(args, -1, "retrieval.partial:");
        if (why) fail_msg("%s = %s: %s", cases[k].field, cases[k].value, why);
        lw_test_write_text(partial, saved);
    }
    free(saved);
    free(other_method);
    assert_true(run_or_skip(args)); /* the rows as written are kept */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retrieval_resume_self_contradicting_rows),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_bridge_widths),
        cmocka_unit_test(test_end_to_end),
        cmocka_unit_test(test_retrieval_cli),
        cmocka_unit_test(test_retrieval_resume),
    };
    int failures = cmocka_run_group_tests(tests, NULL, NULL);
    if (failures == 0 && g_skipped) return 77;
    return lw_test_exit(failures);
}
