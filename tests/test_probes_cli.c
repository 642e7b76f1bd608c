/* latentwire panel probes from the command line: bad input is one clear line (an unknown probe,
 * a missing bridge file, a bridge whose widths do not match the models, a layer past the
 * model's blocks, an unknown panel), and one short run on a real model (SmolLM2 to itself at
 * block 15 through an identity bridge, skipped when the model is absent): the identity bridge
 * retrieves every sentence at hop 1, probes.json and records.jsonl hold together, and a plan
 * written before the run is decided by latentwire verdict. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/rng.h"
#include "latentwire/bridge.h"
#include "support/testutil.h"

/* A ridge bridge fitted (tiny penalty, no centering) on random rows to the identity, or to a
 * map of other widths (d_in -> d_out, the first min(d) coordinates copied). Saved to a temp file. */
static const char *bridge_with_meta(const char *name, int d_in, int d_out, const char *key, const char *value) {
    const int n = d_in + 100;
    float *X = malloc(sizeof *X * (size_t)n * d_in), *Y = calloc((size_t)n * d_out, sizeof *Y);
    lw_rng r;
    lw_rng_seed(&r, 5);
    for (int i = 0; i < n * d_in; i++) X[i] = (float)lw_rng_normal(&r);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < d_in && k < d_out; k++) Y[i * d_out + k] = X[i * d_in + k];
    lw_bridge_params bp = lw_bridge_default_params();
    bp.center = false;
    bp.alpha = 1e-9;
    lw_bridge *b = lw_bridge_fit(X, Y, n, d_in, d_out, &bp);
    if (!b) fail_msg("bridge fit: %s", lw_last_error());
    if (key) assert_int_equal(lw_bridge_set_meta(b, key, value), 0);
    const char *path = lw_test_tmpfile(name);
    assert_int_equal(lw_bridge_save(b, path), 0);
    lw_bridge_free(b);
    free(X);
    free(Y);
    return path;
}

static const char *identity_bridge(const char *name, int d_in, int d_out) {
    return bridge_with_meta(name, d_in, d_out, NULL, NULL);
}

static void refused(const char *args, const char *needle) {
    char *why = lw_test_cli_refusal(args, -1, needle);
    if (why) fail_msg("%s", why);
}

static void test_refusals(void **state) {
    (void)state;
    const char *toy = lw_test_shared_path("models/stories260K.gguf");
    if (!toy) {
        skip();
        return;
    }
    const char *wrong = identity_bridge("probes_wrong_width.bridge.safetensors", 10, 64);
    const char *dir = lw_test_fresh_dir("probes_refused");
    char args[8192], base[4096];
    snprintf(base, sizeof base, "panel probes --a %s --layer-a 0 --b %s --layer-b 0 --out %s", toy, toy, dir);
    snprintf(args, sizeof args, "%s --bridge %s --probes compositionality,telepathy", base, wrong);
    refused(args, "unknown probe 'telepathy'");
    snprintf(args, sizeof args, "%s --bridge %s/absent.safetensors", base, dir);
    refused(args, "absent.safetensors");
    snprintf(args, sizeof args, "%s --bridge %s", base, wrong);
    refused(args, "maps from width 10, but stories260K.gguf has width 64");
    /* fitted on another model's rows, or on rows of another pooling: refused (both were used) */
    const char *other = bridge_with_meta("probes_other_model.bridge.safetensors", 64, 64, "target_model_sha256",
                                         "\"0000000000000000000000000000000000000000000000000000000000000000\"");
    snprintf(args, sizeof args, "%s --bridge %s", base, other);
    refused(args, "fitted on another target model");
    const char *last = bridge_with_meta("probes_last_pool.bridge.safetensors", 64, 64, "source_pool", "\"last\"");
    snprintf(args, sizeof args, "%s --bridge %s", base, last);
    refused(args, "source_pool");
    snprintf(args, sizeof args, "panel probes --a %s --layer-a 99 --b %s --layer-b 0 --out %s --bridge %s", toy, toy,
             dir, wrong);
    refused(args, "--layer-a 99");
    refused("panel telepathy", "unknown panel 'telepathy'");
    /* a missing data directory is one line naming it, given or the default (once exit 1 and silent) */
    snprintf(args, sizeof args, "%s --bridge %s --data %s/no-data", base, wrong, dir);
    refused(args, "--data");
    char *saved = getenv("LW_SHARED_DIR") ? strdup(getenv("LW_SHARED_DIR")) : NULL;
    setenv("LW_SHARED_DIR", "/nonexistent-lw-shared", 1);
    snprintf(args, sizeof args, "%s --bridge %s", base, wrong);
    refused(args, "/nonexistent-lw-shared/data");
    if (saved) setenv("LW_SHARED_DIR", saved, 1);
    else unsetenv("LW_SHARED_DIR");
    free(saved);
    assert_int_equal(lw_test_dir_entries(dir), 0); /* nothing half-written */
}

static double stat_value(json_t *stats, const char *name, int *n) {
    json_t *s;
    size_t i;
    json_array_foreach(stats, i, s) {
        if (strcmp(json_string_value(json_object_get(s, "name")), name)) continue;
        json_t *ci = json_object_get(s, "ci");
        *n = (int)json_integer_value(json_object_get(ci, "n"));
        return json_number_value(json_object_get(ci, "mean"));
    }
    fail_msg("probes.json has no statistic %s", name);
    return NAN;
}

static void test_real_smollm2(void **state) {
    (void)state;
    const char *model = lw_test_real_model("smollm2-135m-instruct");
    const char *prov = lw_test_shared_path("data/mrpc/msr_paraphrase_test.txt");
    if (!model || !prov) {
        skip();
        return;
    }
    char data[2048];
    snprintf(data, sizeof data, "%s", prov);
    *strrchr(data, '/') = '\0';
    *strrchr(data, '/') = '\0';
    const char *bridge = identity_bridge("probes_identity.bridge.safetensors", 576, 576);
    const char *plan = lw_test_tmpfile("probes.plan.json");
    lw_test_write_text(plan, "{\"format\": \"latentwire.plan/1\", \"title\": \"probes smoke\", \"selection\": \"none\", "
                             "\"resamples\": 1000, \"hypotheses\": ["
                             "{\"id\": \"hop1\", \"metric\": \"top1\", \"a\": \"chaining:hop1\", \"direction\": "
                             "\"greater\", \"threshold\": 0.5, \"test\": \"exact\"},"
                             "{\"id\": \"bridge\", \"metric\": \"top1\", \"a\": \"compositionality:bridge\", "
                             "\"direction\": \"greater\", \"threshold\": 0.5, \"test\": \"exact\"}]}\n");
    const char *dir = lw_test_fresh_dir("probes_real");
    char args[8192], *out, *err;
    snprintf(args, sizeof args,
             "panel probes --a %s --layer-a 15 --b %s --layer-b 15 --bridge %s --out %s --probes "
             "compositionality,chaining --combos 30 --topsim 8 --natural 8 --calib 12 --hops 2 --resamples 200 "
             "--threads 1 --data %s --plan %s",
             model, model, bridge, dir, data, plan);
    if (lw_test_run_cli(args, &out, &err) != 0) fail_msg("panel probes: %s", err);
    assert_non_null(strstr(out, "hop2_top1"));
    free(out);
    free(err);
    assert_false(lw_test_file_exists(lw_test_join(dir, "probes.partial"))); /* removed once probes.json is written */
    /* --resume over a finished run: nothing left to take, the same statistics */
    char *before = lw_test_read_file(lw_test_join(dir, "probes.json"));
    strncat(args, " --resume", sizeof args - strlen(args) - 1);
    if (lw_test_run_cli(args, &out, &err) != 0) fail_msg("panel probes --resume: %s", err);
    free(out);
    free(err);
    char *after = lw_test_read_file(lw_test_join(dir, "probes.json"));
    assert_string_equal(before, after);
    free(before), free(after);
    json_t *root = json_load_file(lw_test_join(dir, "probes.json"), 0, NULL);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "format")), "latentwire.panel.probes/1");
    json_t *stats = json_object_get(root, "stats");
    int n;
    /* the identity bridge maps every sentence onto its own vector: retrieved every time */
    assert_true(stat_value(stats, "bridge_top1", &n) == 1.0);
    assert_int_equal(n, 30);
    assert_true(stat_value(stats, "hop1_top1", &n) == 1.0);
    assert_int_equal(n, 8);
    assert_true(stat_value(stats, "hop1_cosine", &n) > 0.9999);
    json_decref(root);
    /* records: one per item and condition; the verdict decides the plan on them */
    char *rec = lw_test_read_file(lw_test_join(dir, "records.jsonl"));
    assert_non_null(rec);
    assert_int_equal(lw_test_count_substr(rec, "\"condition\": \"chaining:hop1\"") +
                         lw_test_count_substr(rec, "\"condition\":\"chaining:hop1\""),
                     16); /* cosine and top1 for 8 sentences */
    free(rec);
    snprintf(args, sizeof args, "verdict %s %s", plan, lw_test_join(dir, "records.jsonl"));
    if (lw_test_run_cli(args, &out, &err) != 0) fail_msg("verdict: %s", err);
    assert_int_equal(lw_test_count_substr(out, "PASS"), 2);
    free(out);
    free(err);
}

/* panel probes and quantize print their usage on stdout and exit 0 for --help / -h (also after
 * other options). */
static void test_help(void **state) {
    (void)state;
    const char *verbs[] = {"panel probes", "quantize"};
    for (int i = 0; i < 2; i++)
        for (int h = 0; h < 3; h++) {
            char args[256], *o, *e;
            snprintf(args, sizeof args, "%s %s", verbs[i], h == 0 ? "--help" : h == 1 ? "-h" : "--seed 1 --help");
            int rc = lw_test_run_cli(args, &o, &e);
            if (rc != 0 || strncmp(o, "usage:", 6) != 0 || *e)
                fail_msg("`latentwire %s`: exit %d, stdout: %.80s, stderr: %s", args, rc, o, e);
            free(o);
            free(e);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_real_smollm2),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
