/* The second adversarial pass (issue 8): inputs and option combinations that were accepted and
 * gave a wrong result or clobbered a file, each now refused with one line naming the file,
 * field or option, a non-zero exit and nothing written. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sys/stat.h>

#include "latentwire/error.h"
#include "latentwire/files.h"
#include "support/testutil.h"

static void expect_refusal(const char *args, const char *needle) {
    char *why = lw_test_cli_refusal(args, -1, needle);
    if (why) fail_msg("%s", why);
    free(why);
}

/* ---- report: the numbers of a result file, the same file twice, -o - ---- */

/* A scan curve document with one point: accuracy y in [lo, hi] over n items. */
static const char *curve_doc(const char *name, const char *point) {
    char text[600];
    snprintf(text, sizeof text,
             "{\"format\": \"latentwire.scan/1\", \"series\": [{\"name\": \"held-out\", \"points\": [%s]}]}\n", point);
    const char *path = lw_test_tmpfile(name);
    lw_test_write_text(path, text);
    return path;
}

/* A channel summary (channel --json) whose text condition has the given accuracy object. */
static const char *channel_doc(const char *name, const char *accuracy, const char *difference) {
    char text[1200]; /* as the channel writes them: every applicable row with its mean cost */
    snprintf(text, sizeof text,
             "{\"settings\": {}, \"conditions\": {\"text\": {\"applicable\": true, \"accuracy\": %s, "
             "\"mean_cost\": {\"message_bytes\": 40, \"wall_s\": 0.2}}, "
             "\"none\": {\"applicable\": true, \"accuracy\": {\"mean\": 0.1, \"lo\": 0.0, \"hi\": 0.3, \"n\": 20}, "
             "\"mean_cost\": {\"message_bytes\": 0, \"wall_s\": 0.1}}}, "
             "\"differences\": {\"none - text\": %s}}\n",
             accuracy, difference);
    const char *path = lw_test_tmpfile(name);
    lw_test_write_text(path, text);
    return path;
}

static void report_refused(const char *input, const char *needle) {
    const char *out = lw_test_tmpfile("robust2-report.html");
    unlink(out);
    char args[2600];
    snprintf(args, sizeof args, "report '%s' -o '%s'", input, out);
    expect_refusal(args, needle);
    if (lw_test_file_exists(out)) fail_msg("report wrote %s from %s", out, input);
}

static void test_report_nonsense_numbers(void **state) {
    (void)state;
    static const char *ok_diff = "{\"mean\": -0.2, \"lo\": -0.4, \"hi\": 0.0, \"n\": 20, \"p_value\": 0.1}";
    static const char *ok_acc = "{\"mean\": 0.3, \"lo\": 0.1, \"hi\": 0.5, \"n\": 20}";
    /* the valid ones are drawn (the refusals below are not about the files' shapes) */
    const char *good = channel_doc("robust2-good.json", ok_acc, ok_diff);
    const char *good_curve = curve_doc("robust2-good-curve.json", "{\"x\": 3, \"y\": 0.5, \"lo\": 0.3, \"hi\": 0.7, \"n\": 12}");
    char args[2600];
    snprintf(args, sizeof args, "report '%s' '%s' -o '%s'", good, good_curve, lw_test_tmpfile("robust2-good.html"));
    char *err = NULL;
    int rc = lw_test_run_cli(args, NULL, &err);
    if (rc != 0) fail_msg("valid files refused: %s", err);
    free(err);

    report_refused(channel_doc("robust2-acc73.json", "{\"mean\": 7.3, \"lo\": 0.1, \"hi\": 0.5, \"n\": 20}", ok_diff),
                   "conditions.text.accuracy.mean = 7.3 is not a proportion");
    report_refused(channel_doc("robust2-accneg.json", "{\"mean\": -1, \"lo\": -1, \"hi\": 0.5, \"n\": 20}", ok_diff),
                   "conditions.text.accuracy.mean = -1 is not a proportion");
    report_refused(channel_doc("robust2-lohi.json", "{\"mean\": 0.3, \"lo\": 0.5, \"hi\": 0.1, \"n\": 20}", ok_diff),
                   "conditions.text.accuracy: interval lo = 0.5 is above hi = 0.1");
    report_refused(channel_doc("robust2-n0.json", "{\"mean\": 0.3, \"lo\": 0.1, \"hi\": 0.5, \"n\": 0}", ok_diff),
                   "conditions.text.accuracy.n = 0");
    report_refused(channel_doc("robust2-nneg.json", "{\"mean\": 0.3, \"lo\": 0.1, \"hi\": 0.5, \"n\": -4}", ok_diff),
                   "conditions.text.accuracy.n = -4");
    report_refused(channel_doc("robust2-diff.json", ok_acc, "{\"mean\": -1.5, \"lo\": -2, \"hi\": 0.0, \"n\": 20}"),
                   "differences.none - text.mean = -1.5 is not a difference of proportions");
    report_refused(curve_doc("robust2-curve-y.json", "{\"x\": 3, \"y\": 1.5, \"lo\": 0.3, \"hi\": 0.7, \"n\": 12}"),
                   "series[0].points[0].y = 1.5 is not a proportion");
    report_refused(curve_doc("robust2-curve-lohi.json", "{\"x\": 3, \"y\": 0.5, \"lo\": 0.7, \"hi\": 0.3, \"n\": 12}"),
                   "series[0].points[0]: interval lo = 0.7 is above hi = 0.3");
    report_refused(curve_doc("robust2-curve-n.json", "{\"x\": 3, \"y\": 0.5, \"lo\": 0.3, \"hi\": 0.7, \"n\": 0}"),
                   "series[0].points[0].n = 0");
    /* NaN is no JSON number: the file is not JSON (named) */
    report_refused(curve_doc("robust2-curve-nan.json", "{\"x\": 3, \"y\": NaN, \"n\": 12}"), "robust2-curve-nan.json");

    /* per-item records: a score outside [0, 1] */
    const char *rec = lw_test_tmpfile("robust2-records.jsonl");
    lw_test_write_text(rec, "{\"condition\": \"text\", \"id\": \"a\", \"score\": 1}\n"
                            "{\"condition\": \"text\", \"id\": \"b\", \"score\": 7.3}\n");
    report_refused(rec, "record 2.score = 7.3 is not a proportion");
}

static void test_report_same_file_twice(void **state) {
    (void)state;
    const char *a = curve_doc("robust2-twice.json", "{\"x\": 3, \"y\": 0.5, \"lo\": 0.3, \"hi\": 0.7, \"n\": 12}");
    const char *out = lw_test_tmpfile("robust2-twice.html");
    char args[3000];
    snprintf(args, sizeof args, "report '%s' '%s' -o '%s'", a, a, out);
    expect_refusal(args, "robust2-twice.json: given twice");
    /* another spelling and a symlink are the same file too */
    const char *link = lw_test_tmpfile("robust2-twice-link.json");
    unlink(link);
    if (symlink(a, link) != 0) fail_msg("symlink");
    snprintf(args, sizeof args, "report '%s' '%s/./robust2-twice.json' -o '%s'", a, lw_test_tmpdir(), out);
    expect_refusal(args, "given twice");
    snprintf(args, sizeof args, "report '%s' '%s' -o '%s'", link, a, out);
    expect_refusal(args, "given twice");
    if (lw_test_file_exists(out)) fail_msg("report wrote %s", out);
    /* -o onto one of the results */
    snprintf(args, sizeof args, "report '%s' -o '%s'", a, link);
    expect_refusal(args, "is the same file as result");
}

/* -o - writes the page to stdout (nothing else there) and no file named "-". */
static void test_report_stdout(void **state) {
    (void)state;
    const char *a = curve_doc("robust2-stdout.json", "{\"x\": 3, \"y\": 0.5, \"lo\": 0.3, \"hi\": 0.7, \"n\": 12}");
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    const char *dir = lw_test_fresh_dir("robust2-stdout");
    assert_int_equal(chdir(dir), 0);
    char args[2600], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "report '%s' -o -", a);
    int rc = lw_test_run_cli(args, &out, &err);
    int left = lw_test_dir_entries(dir);
    assert_int_equal(chdir(cwd), 0);
    if (rc != 0) fail_msg("report -o -: exit %d: %s", rc, err);
    if (strncmp(out, "<!DOCTYPE html>", 15) != 0) fail_msg("stdout does not start with the page: %.80s", out);
    if (!strstr(out, "</html>\n") || strlen(strstr(out, "</html>\n")) != 8) fail_msg("stdout holds more than the page");
    assert_string_equal(err, "");
    if (left != 0) fail_msg("report -o - left %d file(s) in the current directory (a file named \"-\"?)", left);
    free(out);
    free(err);
}

/* ---- race --answer-tokens past the receiver's context ---- */

/* Tokens of text as `latentwire tokenize` counts them (with BOS): the race's own counting is not
 * used to check itself. */
static int tokenize_count(const char *model, const char *text) {
    const char *path = lw_test_tmpfile("robust2-tok.txt");
    lw_test_write_text(path, text);
    char args[2600], *out = NULL;
    snprintf(args, sizeof args, "tokenize '%s' \"$(cat '%s')\" --json", model, path);
    if (lw_test_run_cli(args, &out, NULL) != 0) fail_msg("tokenize failed");
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    if (!j) fail_msg("tokenize --json is not JSON");
    int n = (int)json_array_size(json_object_get(j, "ids"));
    json_decref(j);
    return n;
}

/* A task file of 6 items whose demonstrations grow (the last one's is the longest prompt), all
 * with the query "The cat"; longest gets that item's demonstrations, a newline and the query (as
 * lw_race_prompt and lw_task_context_prompt join them). Returns the file's path. */
static const char *growing_task(const char *name, char *longest, size_t cap) {
    const char *task = lw_test_tmpfile(name);
    char line[2000], text[16000] = "";
    for (int i = 0; i < 6; i++) {
        char demo[1500] = "";
        for (int r = 0; r < 3 + i; r++) strcat(demo, "Once upon a time there was a cat. ");
        snprintf(line, sizeof line,
                 "{\"id\": \"i%d\", \"sender\": \"%s\", \"receiver\": \"The cat\", \"gold\": \"sat\", "
                 "\"scorer\": \"exact\"}\n",
                 i, demo);
        strcat(text, line);
        snprintf(longest, cap, "%s\nThe cat", demo);
    }
    lw_test_write_text(task, text);
    return task;
}

/* What both context checks start from: the toy model (context 512), the growing task, the
 * longest ceiling prompt's token count (by `latentwire tokenize`) and the most answer tokens
 * that fit after it (the last answer token is never fed back), a fresh output path. false: the
 * model is missing (skip). */
typedef struct {
    char model[1200], longest[1800], out[1300];
    const char *task;
    int ctx, with_text, most;
} past_context;

static bool past_context_setup(past_context *f, const char *name) {
    const char *model = lw_test_shared_path("models/stories260K.gguf");
    if (!model) return false;
    char file[64];
    snprintf(f->model, sizeof f->model, "%s", model);
    snprintf(file, sizeof file, "robust2-%s.jsonl", name);
    f->task = growing_task(file, f->longest, sizeof f->longest);
    f->ctx = 512;
    f->with_text = tokenize_count(f->model, f->longest);
    f->most = f->ctx - f->with_text + 1;
    snprintf(file, sizeof file, "robust2-%s", name);
    snprintf(f->out, sizeof f->out, "%s/o", lw_test_fresh_dir(file));
    return true;
}

static void expect_runs(const char *args, const char *what) {
    char *err = NULL;
    int rc = lw_test_run_cli(args, NULL, &err);
    if (rc != 0) fail_msg("%s refused: %s", what, err);
    free(err);
}

static void test_race_answer_past_context(void **state) {
    (void)state;
    past_context f;
    if (!past_context_setup(&f, "race")) skip();
    int query = tokenize_count(f.model, "The cat"), most_floor = f.ctx - query + 1;
    char args[4000], want[256], common[3000];
    snprintf(common, sizeof common, "race --sender '%s' --task '%s' --out '%s' --calib 2 --threads 1",
             f.model, f.task, f.out);
    snprintf(args, sizeof args, "%s --channel floor,ceiling --answer-tokens %d", common, f.most + 1);
    snprintf(want, sizeof want, "--answer-tokens %d: the receiver's context holds %d tokens and item i5's prompt "
             "(demonstrations and query) is %d: use --answer-tokens %d or less", f.most + 1, f.ctx, f.with_text, f.most);
    expect_refusal(args, want);
    struct stat st;
    if (stat(f.out, &st) == 0) fail_msg("the refused race left %s", f.out);
    /* the query alone when no channel reads the demonstrations */
    snprintf(args, sizeof args, "%s --channel floor --answer-tokens %d", common, most_floor + 1);
    snprintf(want, sizeof want, "--answer-tokens %d: the receiver's context holds %d tokens and item i0's prompt is %d",
             most_floor + 1, f.ctx, query);
    expect_refusal(args, want);
    /* the largest that fits runs */
    snprintf(args, sizeof args, "%s --channel floor,ceiling --answer-tokens %d", common, f.most);
    expect_runs(args, "race --answer-tokens at the most that fits");
}

/* scan: the same check against the ceiling's prompt (demonstrations, newline, query), before any
 * forward pass; the limit computed here with the tokenizer, not the scan's own counting. */
static void test_scan_answer_past_context(void **state) {
    (void)state;
    past_context f;
    if (!past_context_setup(&f, "scan")) skip();
    char args[4000], want[300];
    const char *base = "scan --sender '%s' --task '%s' --out '%s' --items 6 --select-items 2 --layers 0 --threads 1 "
                       "--answer-tokens %d";
    snprintf(args, sizeof args, base, f.model, f.task, f.out, f.most + 1);
    snprintf(want, sizeof want, "--answer-tokens %d: the receiver's context holds %d tokens and item i5's ceiling "
             "prompt (demonstrations and query) is %d: use --answer-tokens %d or less", f.most + 1, f.ctx, f.with_text, f.most);
    expect_refusal(args, want);
    snprintf(args, sizeof args, base, f.model, f.task, f.out, f.most);
    expect_runs(args, "scan --answer-tokens at the most that fits");
}

/* ---- codec fit / info for text kinds: no "payload -1 bits", no width or positions ---- */

static void expect_stdout(const char *args, const char *want) {
    char *out = NULL, *err = NULL;
    int rc = lw_test_run_cli(args, &out, &err);
    if (rc != 0) fail_msg("`latentwire %s`: exit %d: %s", args, rc, err);
    if (!out || strncmp(out, want, strlen(want)) != 0) fail_msg("`latentwire %s` printed\n%s\nwant\n%s", args, out, want);
    free(out);
    free(err);
}

static void test_codec_text_summary(void **state) {
    (void)state;
    const char *texts = lw_test_tmpfile("robust2-texts.txt");
    lw_test_write_text(texts, "hello world this is text\nanother line of text here\n");
    /* side bits: zlib needs nothing; brotli its built-in dictionary, 122,784 bytes (RFC 7932) */
    static const struct {
        const char *kind;
        long long side;
    } K[] = {{"zlib", 0}, {"brotli", 8LL * 122784}, {"truncate", 0}};
    for (size_t k = 0; k < sizeof K / sizeof K[0]; k++) {
        char codec[1300], args[4000], want[2000];
        snprintf(codec, sizeof codec, "%s", lw_test_tmpfile("robust2-text.codec.safetensors"));
        unlink(codec);
        snprintf(args, sizeof args, "codec fit --kind %s --texts '%s' --budget 64 --out '%s'", K[k].kind, texts, codec);
        snprintf(want, sizeof want,
                 "fitted %s codec (budget 64 bits): payload depends on the text (at most 64 bits), side information "
                 "%lld bits: %s\n",
                 K[k].kind, K[k].side, codec);
        expect_stdout(args, want);
        snprintf(args, sizeof args, "codec info '%s'", codec);
        snprintf(want, sizeof want,
                 "%s: %s codec, budget 64 bits, payload depends on the text (at most 64 bits per item), side "
                 "information %lld bits\n",
                 codec, K[k].kind, K[k].side);
        expect_stdout(args, want);
        /* the record: no payload size for a text codec (absent, never -1), the side bits as printed */
        char *out = NULL;
        snprintf(args, sizeof args, "codec info '%s' --json", codec);
        assert_int_equal(lw_test_run_cli(args, &out, NULL), 0);
        json_t *j = json_loads(out, 0, NULL);
        free(out);
        assert_non_null(j);
        assert_null(json_object_get(json_object_get(j, "fit"), "payload_bits"));
        assert_int_equal(json_integer_value(json_object_get(j, "side_bits")), K[k].side);
        json_decref(j);
    }
}

/* ---- outputs that collide with another output or the files it writes beside itself ---- */

static void expect_outputs_refused(const lw_output_spec *outs, int n, const char *needle) {
    if (lw_outputs_distinct(outs, n) == 0) fail_msg("accepted; want an error containing \"%s\"", needle);
    if (!strstr(lw_last_error(), needle)) fail_msg("error \"%s\"; want \"%s\"", lw_last_error(), needle);
}

static void test_outputs_distinct(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("robust2-outs");
    char x[1300], xp[1300], xt[1300], dotx[1400], other[1300], sh[1300];
    snprintf(x, sizeof x, "%s/X.jsonl", dir);
    snprintf(xp, sizeof xp, "%s/X.jsonl.partial", dir);
    snprintf(xt, sizeof xt, "%s/X.jsonl.tmp.AbC123", dir);
    snprintf(dotx, sizeof dotx, "%s/./X.jsonl", dir);
    snprintf(other, sizeof other, "%s/Y.json", dir);
    snprintf(sh, sizeof sh, "%s/A-00001-of-00002.safetensors", dir);
    /* distinct outputs, and outputs not given */
    lw_output_spec ok[] = {{"--out", x, LW_OUT_PARTIAL}, {"--json", other, LW_OUT_FILE}, {"--per-query", NULL, 0}};
    assert_int_equal(lw_outputs_distinct(ok, 3), 0);
    /* X.partial of a FILE output is no sibling of it (only a .partial writer makes one) */
    lw_output_spec ok2[] = {{"--json", x, LW_OUT_FILE}, {"--out", xp, LW_OUT_PARTIAL}};
    assert_int_equal(lw_outputs_distinct(ok2, 2), 0);
    lw_output_spec partial[] = {{"--out", x, LW_OUT_PARTIAL}, {"--json", xp, LW_OUT_FILE}};
    expect_outputs_refused(partial, 2, "--json ");
    expect_outputs_refused(partial, 2, "X.jsonl.partial is the .partial that --out ");
    lw_output_spec partial_rev[] = {{"--json", xp, LW_OUT_FILE}, {"--out", x, LW_OUT_PARTIAL}};
    expect_outputs_refused(partial_rev, 2, "give --json another path");
    lw_output_spec tmp[] = {{"--out", x, LW_OUT_PARTIAL}, {"--json", xt, LW_OUT_FILE}};
    expect_outputs_refused(tmp, 2, "X.jsonl.tmp.AbC123 is a temporary that --out ");
    lw_output_spec same[] = {{"--json", x, LW_OUT_FILE}, {"--per-query", dotx, LW_OUT_FILE}};
    expect_outputs_refused(same, 2, "are the same file");
    char stem[1300];
    snprintf(stem, sizeof stem, "%s/A.safetensors", dir);
    lw_output_spec shard[] = {{"--out", stem, LW_OUT_SHARDS}, {"--json", sh, LW_OUT_FILE}};
    expect_outputs_refused(shard, 2, "is a shard that --out ");
}

static void test_cli_outputs_collide(void **state) {
    (void)state;
    const char *model = lw_test_shared_path("models/stories260K.gguf");
    if (!model) skip();
    char m[1200];
    snprintf(m, sizeof m, "%s", model);
    const char *dir = lw_test_fresh_dir("robust2-collide");
    const char *task = lw_test_join(dir, "t.jsonl");
    lw_test_write_text(task, "{\"id\": \"a\", \"sender\": \"Tom had a kite.\", \"receiver\": \"Tom\", "
                             "\"gold\": \"kite\", \"scorer\": \"exact\"}\n");
    char t[1300], args[6000];
    snprintf(t, sizeof t, "%s", task);
    snprintf(args, sizeof args,
             "channel --sender '%s' --receiver '%s' --task '%s' --channel none --out '%s/X' --json '%s/X.partial'", m, m,
             t, dir, dir);
    expect_refusal(args, "--json ");
    expect_refusal(args, "X.partial is the .partial that --out ");
    snprintf(args, sizeof args, "debate --agents '%s' --task '%s' --out '%s/Y' --json '%s/Y.partial'", m, t, dir, dir);
    expect_refusal(args, "Y.partial is the .partial that --out ");
    snprintf(args, sizeof args,
             "retrieval --queries '%s/q.safetensors' --candidates '%s/c.safetensors' --json '%s/r.json' "
             "--per-query '%s/r.json.tmp.x1'",
             dir, dir, dir, dir);
    expect_refusal(args, "r.json.tmp.x1 is a temporary that --json ");
    /* nothing was written: only the task is in the directory */
    assert_int_equal(lw_test_dir_entries(dir), 1);
}

/* ---- --task specs through the library's one parser: the same refusals in every verb ---- */

static void test_cli_task_specs(void **state) {
    (void)state;
    const char *model = lw_test_shared_path("models/stories260K.gguf");
    if (!model) skip();
    char m[1200], args[4000];
    snprintf(m, sizeof m, "%s", model);
    const char *dir = lw_test_fresh_dir("robust2-specs");
    /* a name that leaves the data directory (race and channel read ../x.json before) */
    snprintf(args, sizeof args, "race --sender '%s' --task fv:../x --out '%s/r' --threads 1", m, dir);
    expect_refusal(args, "--task fv:../x: '../x' is not a task name");
    snprintf(args, sizeof args, "channel --sender '%s' --receiver '%s' --task fv:../x --channel none --threads 1", m, m);
    expect_refusal(args, "--task fv:../x: '../x' is not a task name");
    snprintf(args, sizeof args, "scan --sender '%s' --task fv:a/b --out '%s/s' --threads 1", m, dir);
    expect_refusal(args, "--task fv:a/b: 'a/b' is not a task name");
    /* an unknown kind is named as one (it was "bogus:3: No such file or directory") */
    snprintf(args, sizeof args, "debate --agents '%s' --task bogus:3 --threads 1", m);
    expect_refusal(args, "--task bogus:3: unknown task kind 'bogus'");
    /* scan takes skill:, fv: and files only */
    snprintf(args, sizeof args, "scan --sender '%s' --task story:4 --out '%s/s' --threads 1", m, dir);
    expect_refusal(args, "--task story:4: this takes fv:NAME[:N], skill:NAME[:N] or a task FILE.jsonl");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_nonsense_numbers),
        cmocka_unit_test(test_report_same_file_twice),
        cmocka_unit_test(test_report_stdout),
        cmocka_unit_test(test_race_answer_past_context),
        cmocka_unit_test(test_scan_answer_past_context),
        cmocka_unit_test(test_codec_text_summary),
        cmocka_unit_test(test_outputs_distinct),
        cmocka_unit_test(test_cli_outputs_collide),
        cmocka_unit_test(test_cli_task_specs),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
