/* `latentwire scan` end to end on synthetic llama models (no ../shared needed): the files it
 * writes (scan.json with every condition's interval and n, scan.csv, the records renamed to
 * scan.records.jsonl with one line per split x condition x item after the settings line), and
 * its bad input, each one stderr line with a non-zero exit and no output directory left: a
 * layer out of range, embed, T longer than the texts, unknown tasks, --positions with
 * --pooled, no held-out item, a receiver of another width without a bridge, --receiver-layers
 * of the wrong length. */
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

#include "latentwire/error.h"
#include "latentwire/records.h"
#include "latentwire/runtime.h"
#include "latentwire/scan.h"
#include "support/synth_model.h"
#include "support/testutil.h"

/* Rewrites a records file with every line's checksum made anew (lw_records_write). */
static void reseal(const char *path) {
    char *text = lw_test_read_file(path), *save = NULL;
    assert_non_null(text);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *o = json_loads(l, 0, NULL);
        assert_non_null(o);
        assert_int_equal(lw_records_write(f, o), 0);
        json_decref(o);
    }
    fclose(f);
    free(text);
}

static char MODEL[1024], WIDE[1024];

static int setup(void **state) {
    (void)state;
    lw_synth_params p = lw_synth_default_params();
    snprintf(MODEL, sizeof MODEL, "%s", lw_test_tmpfile("scan_cli.gguf"));
    if (lw_synth_write(MODEL, &p) != 0) return -1;
    p.n_embd = 96;
    p.n_head = 4;
    p.n_head_kv = 2;
    p.n_layer = 3;
    snprintf(WIDE, sizeof WIDE, "%s", lw_test_tmpfile("scan_cli_wide.gguf"));
    return lw_synth_write(WIDE, &p);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; s && *s; s++) n += *s == '\n';
    return n;
}

static int file_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

static void expect_fail(const char *extra, const char *needle) {
    const char *dir = lw_test_join(lw_test_tmpdir(), "scan_bad");
    char base[4096], args[8192];
    snprintf(base, sizeof base, "scan --sender %s --task skill:next_number --k-shot 2 --items 5 --select-items 2 "
             "--answer-tokens 2 --threads 2 --out %s", MODEL, dir);
    snprintf(args, sizeof args, "%s", lw_test_args_with(base, extra));
    char *out, *err;
    int rc = lw_test_run_cli(args, &out, &err);
    if (rc == 0 || rc == -1 || count_lines(err) != 1 || !strstr(err, needle) || strncmp(err, "latentwire", 10))
        fail_msg("`latentwire %s`: exit %d, stderr:\n%s(expected one line containing \"%s\")", args, rc, err, needle);
    if (access(dir, F_OK) == 0) fail_msg("`latentwire %s` left %s behind", args, dir);
    free(out);
    free(err);
}

static void test_end_to_end(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("scan_ok");
    char args[4096];
    snprintf(args, sizeof args, "scan --sender %s --task skill:next_number --k-shot 2 --items 5 --select-items 2 "
             "--layers 0,-1 --positions 2 --answer-tokens 2 --threads 2 --out %s", MODEL, dir);
    char *out, *err;
    int rc = lw_test_run_cli(args, &out, &err);
    if (rc != 0) fail_msg("`latentwire %s`: exit %d, stderr:\n%s", args, rc, err);
    assert_non_null(strstr(out, "chosen - floor"));
    free(out);
    free(err);
    assert_false(lw_test_file_exists(lw_test_join(dir, "scan.partial")));
    /* settings line + 5 items x (floor, ceiling, 2 layers) */
    assert_int_equal(file_lines(lw_test_join(dir, "scan.records.jsonl")), 1 + 5 * 4);
    assert_int_equal(file_lines(lw_test_join(dir, "scan.csv")), 1 + 2 * 4 + 2);
    json_error_t e;
    json_t *root = json_load_file(lw_test_join(dir, "scan.json"), 0, &e);
    assert_non_null(root);
    json_t *layers = json_object_get(root, "layers");
    assert_int_equal(json_array_size(layers), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(layers, 1), "layer")), 1);
    json_t *held = json_object_get(json_object_get(root, "floor"), "held_out");
    assert_int_equal(json_integer_value(json_object_get(held, "n")), 3);
    assert_true(json_is_number(json_object_get(held, "lo")) && json_is_number(json_object_get(held, "hi")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "settings"), "--positions")), 2);
    json_decref(root);
    /* --resume after a finished run reuses its records: one held-out floor record edited to score 1
     * shows up in the floor's held-out mean (1 of 3), so nothing was scored again. The edit is first
     * refused (the line's checksum no longer matches); with the checksum taken off (the form of files
     * written before checksums) it is read as it is */
    {
        const char *rec = lw_test_join(dir, "scan.records.jsonl");
        char *text = lw_test_read_file(rec);
        assert_non_null(text);
        char *hit = strstr(text, "\"split\":\"held_out\",\"condition\":\"floor\"");
        if (!hit) fail_msg("no held-out floor record in %s", rec);
        char *sc = strstr(hit, "\"score\":0");
        assert_non_null(sc);
        sc[strlen("\"score\":")] = '1';
        lw_test_write_text(rec, text);
        snprintf(args, sizeof args, "scan --sender %s --task skill:next_number --k-shot 2 --items 5 --select-items 2 "
                 "--layers 0,-1 --positions 2 --answer-tokens 2 --threads 2 --resume --out %s", MODEL, dir);
        char *why = lw_test_cli_refusal(args, 1, "does not match its checksum: the file was edited or damaged");
        if (why) fail_msg("%s", why);
        char *crc = strstr(sc, ",\"crc32\":\""); /* this line's: ,"crc32":"xxxxxxxx"} */
        assert_non_null(crc);
        memmove(crc, crc + strlen(",\"crc32\":\"xxxxxxxx\""), strlen(crc + strlen(",\"crc32\":\"xxxxxxxx\"")) + 1);
        lw_test_write_text(rec, text);
        free(text);
        /* the checksum deleted as well: still refused (the other lines carry theirs) */
        why = lw_test_cli_refusal(args, 1, "does not match its checksum: the file was edited or damaged");
        if (why) fail_msg("%s", why);
        reseal(rec); /* the doctored score sealed anew, as a run would have written it */
        snprintf(args, sizeof args, "scan --sender %s --task skill:next_number --k-shot 2 --items 5 --select-items 2 "
                 "--layers 0,-1 --positions 2 --answer-tokens 2 --threads 2 --resume --out %s", MODEL, dir);
        rc = lw_test_run_cli(args, &out, &err);
        if (rc != 0) fail_msg("`latentwire %s`: exit %d, stderr:\n%s", args, rc, err);
        free(out);
        free(err);
        json_t *again = json_load_file(lw_test_join(dir, "scan.json"), 0, &e);
        assert_non_null(again);
        json_t *fl = json_object_get(json_object_get(again, "floor"), "held_out");
        assert_true(fabs(json_number_value(json_object_get(fl, "mean")) - 1.0 / 3.0) < 1e-12);
        json_decref(again);
        assert_false(lw_test_file_exists(lw_test_join(dir, "scan.partial")));
        /* --resume of that finished run with other settings: refused naming the file the records are
         * in (not a partial the user never made), which stays as it was */
        char *before = lw_test_read_file(rec);
        snprintf(args, sizeof args, "scan --sender %s --task skill:next_number --k-shot 2 --items 5 --select-items 2 "
                 "--layers 0,-1 --positions 2 --answer-tokens 3 --threads 2 --resume --out %s", MODEL, dir);
        why = lw_test_cli_refusal(args, 1, "scan.records.jsonl");
        if (why) fail_msg("%s", why);
        char *after = lw_test_read_file(rec);
        assert_non_null(after);
        assert_string_equal(before, after);
        free(before);
        free(after);
        assert_false(lw_test_file_exists(lw_test_join(dir, "scan.partial")));
    }
    /* the task-vector readout runs end to end and is a setting of the records */
    const char *tv = lw_test_fresh_dir("scan_tv");
    snprintf(args, sizeof args, "scan --sender %s --task skill:next_number --k-shot 2 --items 5 --select-items 2 "
             "--layers 0 --task-vector --answer-tokens 2 --threads 2 --out %s", MODEL, tv);
    rc = lw_test_run_cli(args, &out, &err);
    if (rc != 0) fail_msg("`latentwire %s`: exit %d, stderr:\n%s", args, rc, err);
    assert_non_null(strstr(out, "last answer withheld"));
    free(out);
    free(err);
    root = json_load_file(lw_test_join(tv, "scan.json"), 0, &e);
    assert_non_null(root);
    assert_true(json_is_true(json_object_get(json_object_get(root, "settings"), "--task-vector")));
    json_decref(root);
    /* --pooled and add run too */
    snprintf(args, sizeof args, "scan --sender %s --task skill:first_letter --k-shot 2 --items 4 --select-items 1 "
             "--layers 1 --pooled --op add --scale 0.5 --answer-tokens 1 --threads 2 --out %s", MODEL, dir);
    rc = lw_test_run_cli(args, &out, &err);
    if (rc != 0) fail_msg("`latentwire %s`: exit %d, stderr:\n%s", args, rc, err);
    free(out);
    free(err);
}

/* lw_scan_experiment_run, the call a C or Python program makes, writes the scan.json the verb
 * writes on the same settings, byte for byte, and its records under the same name. */
static void test_library_call(void **state) {
    (void)state;
    char by_verb[1024], args[4096], *out, *err;
    snprintf(by_verb, sizeof by_verb, "%s", lw_test_fresh_dir("scan_verb"));
    snprintf(args, sizeof args, "scan --sender %s --task skill:next_number --k-shot 2 --items 5 --select-items 2 "
             "--layers 0,-1 --answer-tokens 2 --out %s", MODEL, by_verb);
    if (lw_test_run_cli(args, &out, &err) != 0) fail_msg("`latentwire %s`: %s", args, err);
    free(out), free(err);
    lw_model *m = lw_model_load(MODEL, lw_model_default_params());
    assert_non_null(m);
    lw_session *s = lw_session_new(m, lw_session_default_params());
    lw_task pool = {0};
    if (lw_scan_task_load("skill:next_number", NULL, 2, 5, 1, &pool) != 0) fail_msg("%s", lw_last_error());
    const char *dir = lw_test_fresh_dir("scan_call");
    lw_scan_experiment_params p = lw_scan_experiment_default_params();
    p.sender = p.receiver = s, p.sender_name = p.receiver_name = MODEL;
    p.task = "skill:next_number", p.pool = &pool, p.k_shot = 2, p.layers = "0,-1";
    p.n_select = 2, p.n_report = 3, p.patch.answer_tokens = 2, p.out_dir = dir;
    lw_scan_result r;
    if (lw_scan_experiment_run(&p, &r) != 0) fail_msg("%s", lw_last_error());
    assert_int_equal(r.n_layers, 2);
    assert_int_equal(r.held_out.n, 3);
    char *a = lw_test_read_file(lw_test_join(by_verb, "scan.json")), *b = lw_test_read_file(lw_test_join(dir, "scan.json"));
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
    assert_true(lw_test_file_exists(lw_test_join(dir, "scan.records.jsonl")));
    assert_false(lw_test_file_exists(lw_test_join(dir, "scan.partial")));
    free(a), free(b);
    /* a layer list the model has not: refused naming the option, nothing left in a new directory */
    lw_scan_result_free(&r);
    const char *bad = lw_test_join(lw_test_tmpdir(), "scan_call_bad");
    p.out_dir = bad, p.layers = "0,7";
    assert_int_equal(lw_scan_experiment_run(&p, &r), -1);
    assert_non_null(strstr(lw_last_error(), "--layers 0,7: "));
    assert_false(lw_test_file_exists(bad));
    lw_scan_result_free(&r);
    lw_task_free(&pool);
    lw_session_free(s);
    lw_model_free(m);
}

static void test_help(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(lw_test_run_cli("scan --help", &out, &err), 0);
    assert_non_null(strstr(out, "usage: latentwire scan"));
    assert_string_equal(err, "");
    free(out);
    free(err);
}

static void run_ok(const char *args) {
    char *out, *err;
    int rc = lw_test_run_cli(args, &out, &err);
    if (rc != 0) fail_msg("`latentwire %s`: exit %d, stderr:\n%s", args, rc, err);
    free(out);
    free(err);
}

/* Both models' pooled block-`layer` rows of corpus, and ridge bridges between them at that block:
 * sender -> receiver into ab, receiver -> sender (the wrong direction) into ba when it is not NULL. */
static void fit_bridges(const char *corpus, int layer, char ab[1024], char ba[1024]) {
    char a[1024], b[1024], name[64], args[8192];
    snprintf(name, sizeof name, "scan_a%d.safetensors", layer);
    snprintf(a, sizeof a, "%s", lw_test_tmpfile(name));
    snprintf(name, sizeof name, "scan_b%d.safetensors", layer);
    snprintf(b, sizeof b, "%s", lw_test_tmpfile(name));
    for (int side = 0; side < 2; side++) {
        snprintf(args, sizeof args, "extract --model %s --layers %d --input %s --out %s --pool mean --threads 2",
                 side ? WIDE : MODEL, layer, corpus, side ? b : a);
        run_ok(args);
    }
    for (int dir = 0; dir < (ba ? 2 : 1); dir++) {
        char *out = dir ? ba : ab;
        snprintf(name, sizeof name, "scan_%s%d.bridge.safetensors", dir ? "ba" : "ab", layer);
        snprintf(out, 1024, "%s", lw_test_tmpfile(name));
        snprintf(args, sizeof args,
                 "bridge fit --source %s --source-tensor layer.%d --target %s --target-tensor layer.%d --out %s",
                 dir ? b : a, layer, dir ? a : b, layer, out);
        run_ok(args);
    }
}

/* Across widths: a ridge bridge fitted by `bridge fit` on both models' pooled block-1 rows maps
 * the 64-wide sender's vectors into the 96-wide receiver; given once it serves both layers, and
 * one per layer works too; a bridge of the wrong direction is refused naming its dimensions. */
static void test_across_widths_with_bridge(void **state) {
    (void)state;
    char corpus[1024]; /* lw_test_tmpfile's slots rotate: a copy */
    snprintf(corpus, sizeof corpus, "%s", lw_test_tmpfile("scan_corpus.txt"));
    FILE *f = fopen(corpus, "w");
    for (int i = 0; i < 40; i++) fprintf(f, "input: word %d\noutput: %c and more %d\n", i, 'a' + i % 26, i * 7);
    fclose(f);
    char br[1024], rb[1024], br0[1024], args[8192];
    fit_bridges(corpus, 1, br, rb);
    fit_bridges(corpus, 0, br0, NULL);
    const char *dir = lw_test_fresh_dir("scan_wide");
    snprintf(args, sizeof args, "scan --sender %s --receiver %s --bridge %s --task skill:next_number --k-shot 2 --items 4 "
             "--select-items 1 --layers 0,1 --receiver-layers 1,2 --answer-tokens 1 --threads 2 --out %s", MODEL, WIDE, br, dir);
    run_ok(args);
    json_error_t e;
    json_t *root = json_load_file(lw_test_join(dir, "scan.json"), 0, &e);
    assert_non_null(root);
    json_t *l1 = json_array_get(json_object_get(root, "layers"), 1);
    assert_int_equal(json_integer_value(json_object_get(l1, "layer")), 1);
    assert_int_equal(json_integer_value(json_object_get(l1, "receiver_layer")), 2);
    assert_int_equal(json_array_size(json_object_get(json_object_get(root, "settings"), "--bridge")), 1);
    json_decref(root);
    /* one bridge per layer: each must be fitted at its layer (block 0 -> 0, block 1 -> 1 here) */
    snprintf(args, sizeof args, "scan --sender %s --receiver %s --bridge %s --bridge %s --task skill:next_number --k-shot 2 "
             "--items 4 --select-items 1 --layers 0,1 --receiver-layers 0,1 --answer-tokens 1 --threads 2 --out %s", MODEL,
             WIDE, br0, br, dir);
    run_ok(args);
    /* the block-1 bridge given for block 0: refused, naming the layer it was fitted on */
    snprintf(args, sizeof args, "--receiver %s --bridge %s --bridge %s --layers 0,1 --receiver-layers 0,1", WIDE, br, br);
    expect_fail(args, "fitted on the source's layer.1 (its record's source_tensor), not layer.0");
    snprintf(args, sizeof args, "--receiver %s --bridge %s", WIDE, rb);
    expect_fail(args, "maps 96 -> 64, the models are 64 and 96 wide");
    snprintf(args, sizeof args, "--receiver %s --bridge %s --bridge %s --bridge %s --layers 0,1", WIDE, br, br, br);
    expect_fail(args, "--bridge: 3 bridges for the 2 layers");
}

static void test_bad_input(void **state) {
    (void)state;
    expect_fail("--bogus", "unknown option --bogus");
    expect_fail("--k-shot 0", "--k-shot 0: must be an integer in [1, 1000]");
    expect_fail("--op mean", "--op mean: must be one of replace, add");
    expect_fail("--layers", "option --layers needs a value");
    expect_fail("--layers 7", "out of range");
    expect_fail("--layers embed", "embed is not one");
    expect_fail("--positions 500", "T = 500 positions, but item");
    expect_fail("--task skill:nope", "skill:nope: unknown skill");
    expect_fail("--task fv:nope --data /nonexistent", "no nope.json");
    expect_fail("--task bogus:thing", "--task bogus:thing: unknown task");
    expect_fail("--positions 2 --pooled", "exclude each other");
    expect_fail("--task-vector --k-shot 1", "give --k-shot 2 or more");
    expect_fail("--select-items 5", "leaves no held-out item");
    expect_fail("--layers 0,1 --receiver-layers 0", "1 layers for the 2 of --layers"); /* wrong length, named */
    char extra[2048];
    snprintf(extra, sizeof extra, "--receiver %s", WIDE);
    expect_fail(extra, "needs a bridge");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_end_to_end),
        cmocka_unit_test(test_library_call),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_across_widths_with_bridge),
        cmocka_unit_test(test_bad_input),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, NULL));
}
