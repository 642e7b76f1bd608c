/* The bridge, retrieval and align verbs end to end: files in, files out, bad input out. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/fileio.h"
#include "latentwire/bridge.h"
#include "latentwire/experiment.h"
#include "latentwire/retrieval.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static char MA[1200], MB[1200], CORPUS[1200], XA[1200], XB[1200];

static void run_ok(const char *args, char **out) {
    char *o, *e;
    int rc = lw_test_run_cli(args, &o, &e);
    if (rc != 0) fail_msg("`latentwire %s` failed (%d): %s", args, rc, e);
    if (out) *out = o;
    else free(o);
    free(e);
}

static void run_fails(const char *args, const char *needle) {
    char *why = lw_test_cli_refusal(args, -1, needle);
    if (why) fail_msg("%s", why);
}

static int setup(void **state) {
    lw_synth_params p = lw_synth_default_params();
    snprintf(MA, sizeof MA, "%s", lw_test_tmpfile("bridge_a.gguf"));
    if (lw_synth_write(MA, &p) != 0) return -1;
    p.n_embd = 96;
    p.n_head = 6;
    p.n_head_kv = 3;
    p.n_layer = 3;
    p.seed = 7;
    snprintf(MB, sizeof MB, "%s", lw_test_tmpfile("bridge_b.gguf"));
    if (lw_synth_write(MB, &p) != 0) return -1;
    snprintf(CORPUS, sizeof CORPUS, "%s", lw_test_tmpfile("bridge_corpus.txt"));
    FILE *f = fopen(CORPUS, "w");
    const char *words[] = {"cat", "dog", "sun", "tree", "ball", "red", "big", "ran", "sat", "saw", "park", "home"};
    for (int i = 0; i < 120; i++) /* 120 distinct short sentences */
        fprintf(f, "the %s %s the %s and the %s\n", words[i % 12], words[(i / 12) % 12], words[(i * 7 + 3) % 12],
                words[(i * 5 + 1) % 12]);
    fclose(f);
    snprintf(XA, sizeof XA, "%s", lw_test_tmpfile("xa.safetensors"));
    snprintf(XB, sizeof XB, "%s", lw_test_tmpfile("xb.safetensors"));
    char args[4096];
    snprintf(args, sizeof args, "extract --model %s --layers all --input %s --out %s", MA, CORPUS, XA);
    run_ok(args, NULL);
    snprintf(args, sizeof args, "extract --model %s --layers all --input %s --out %s", MB, CORPUS, XB);
    run_ok(args, NULL);
    return 0;
}

static void test_fit_info_apply_retrieval(void **state) {
    char args[8192], *out;
    const char *br = lw_test_tmpfile("ab.bridge.safetensors"), *br2 = lw_test_tmpfile("ab.cca.safetensors");
    snprintf(args, sizeof args,
             "bridge fit --source %s --source-tensor layer.1 --target %s --target-tensor layer.2 --out %s", XA, XB, br);
    run_ok(args, NULL);
    snprintf(args, sizeof args,
             "bridge fit --source %s --source-tensor layer.1 --target %s --target-tensor layer.2 --recipe cca --out %s",
             XA, XB, br2);
    run_ok(args, NULL);
    /* the record names both models and the calibration size */
    lw_bridge *b = lw_bridge_load(br);
    assert_non_null(b);
    assert_int_equal(lw_bridge_source_dim(b), 64);
    assert_int_equal(lw_bridge_target_dim(b), 96);
    json_t *rec = json_loads(lw_bridge_info_json(b), 0, NULL);
    assert_non_null(rec);
    char *text = json_dumps(rec, JSON_COMPACT);
    assert_non_null(strstr(text, "source_model_sha256"));
    assert_non_null(strstr(text, "120"));
    free(text);
    json_decref(rec);
    lw_bridge_free(b);
    snprintf(args, sizeof args, "bridge info %s", br);
    run_ok(args, &out);
    assert_non_null(strstr(out, "ridge bridge, 64 -> 96"));
    free(out);

    const char *mapped = lw_test_tmpfile("mapped.safetensors");
    snprintf(args, sizeof args, "bridge apply --bridge %s --input %s --tensor layer.1 --out %s", br, XA, mapped);
    run_ok(args, NULL);
    snprintf(args, sizeof args, "inspect %s", mapped);
    run_ok(args, &out);
    assert_non_null(strstr(out, "mapped       F32  [120, 96]"));
    free(out);

    const char *js = lw_test_tmpfile("retrieval.json");
    snprintf(args, sizeof args,
             "retrieval --queries %s --query-tensor layer.1 --candidates %s --candidate-tensor layer.2 --bridge %s "
             "--compare %s --regime random:9 --resamples 200 --json %s",
             XA, XB, br, br2, js);
    run_ok(args, &out);
    free(out);
    json_t *r = json_load_file(js, 0, NULL);
    assert_non_null(r);
    json_t *top1 = json_object_get(json_object_get(r, "bridge"), "top1");
    assert_non_null(top1);
    double m = json_number_value(json_object_get(top1, "mean")), lo = json_number_value(json_object_get(top1, "lo")),
           hi = json_number_value(json_object_get(top1, "hi"));
    assert_true(lo <= m && m <= hi);
    assert_int_equal(json_integer_value(json_object_get(top1, "n")), 120);
    assert_non_null(json_object_get(json_object_get(r, "difference"), "top1"));
    json_decref(r);
}

/* Fits layer.1 -> layer.2 with OPTIONS; NOTE is a line stderr must hold, or NULL for none. */
static void fit_with_note(const char *options, const char *note) {
    char args[8192], *o, *e;
    snprintf(args, sizeof args,
             "bridge fit --source %s --source-tensor layer.1 --target %s --target-tensor layer.2 %s --out %s", XA, XB, options, lw_test_tmpfile("clamped.bridge.safetensors"));
    assert_int_equal(lw_test_run_cli(args, &o, &e), 0);
    if (note && !strstr(e, note)) fail_msg("`%s`: stderr lacks \"%s\": %s", args, note, e);
    if (!note && strstr(e, "lowered")) fail_msg("`%s`: an unexpected note: %s", args, e);
    free(o), free(e);
}

/* Rows whose row id the other file lacks are left out of the fit, and said: a corpus of the first
 * 100 lines against the 120-line one leaves 20 of the latter without a partner. */
static void test_unpaired_rows_noted(void **state) {
    (void)state;
    char part[1200], xp[1200], args[8192], *o, *e;
    snprintf(part, sizeof part, "%s", lw_test_tmpfile("bridge_corpus100.txt"));
    char *text = lw_test_read_file(CORPUS), *cut = text;
    for (int k = 0; k < 100 && cut; k++) cut = strchr(cut, '\n') ? strchr(cut, '\n') + 1 : NULL;
    assert_non_null(cut);
    *cut = '\0';
    lw_test_write_text(part, text);
    free(text);
    snprintf(xp, sizeof xp, "%s", lw_test_tmpfile("xb100.safetensors"));
    snprintf(args, sizeof args, "extract --model %s --layers 2 --input %s --out %s", MB, part, xp);
    run_ok(args, NULL);
    snprintf(args, sizeof args,
             "bridge fit --source %s --source-tensor layer.1 --target %s --target-tensor layer.2 --out %s", XA, xp,
             lw_test_tmpfile("unpaired.bridge.safetensors"));
    assert_int_equal(lw_test_run_cli(args, &o, &e), 0);
    char want[2600];
    snprintf(want, sizeof want, "note: the fit pairs 100 rows; 20 of %s and 0 of %s have no partner row id", XA, xp);
    if (!strstr(e, want)) fail_msg("stderr lacks \"%s\": %s", want, e);
    free(o), free(e);
}

/* A rank or anchor count above what 120 rows of width 64 allow is lowered, and said on stderr. */
static void test_rank_clamp_noted(void **state) {
    fit_with_note("--recipe pca-ridge --rank 500", "note: the bridge's rank was lowered to what the data allow: 500 -> 64");
    fit_with_note("--recipe relrep --anchors 500",
                  "note: the bridge's number of anchors was lowered to what the data allow: 500 -> 120");
    fit_with_note("--recipe pca-ridge --rank 8", NULL); /* a rank the data allow */
}

static double top1_of(const char *json_path, const char *key) {
    json_t *r = json_load_file(json_path, 0, NULL);
    assert_non_null(r);
    double v = json_number_value(json_object_get(json_object_get(json_object_get(r, key), "top1"), "mean"));
    json_decref(r);
    return v;
}

/* Fewer distractors around the same target can only move it up: every restricted regime's
 * top-1 is at least the whole bank's. */
static void test_regimes(void **state) {
    char args[8192];
    const char *br = lw_test_tmpfile("reg.bridge.safetensors"), *js = lw_test_tmpfile("reg.json");
    /* a deliberately weak bridge (3 anchors), so the bank's top-1 is far from 1 */
    snprintf(args, sizeof args,
             "bridge fit --source %s --source-tensor layer.0 --target %s --target-tensor layer.1 --recipe relrep "
             "--anchors 3 --out %s",
             XA, XB, br);
    run_ok(args, NULL);
    const char *labels = lw_test_tmpfile("labels.jsonl"), *hard = lw_test_tmpfile("hard.jsonl");
    FILE *f = fopen(labels, "w"), *g = fopen(hard, "w");
    for (int i = 0; i < 120; i++) {
        fprintf(f, "{\"row_id\": %d, \"label\": \"topic%d\"}\n", i, i % 4);
        fprintf(g, "{\"row_id\": %d, \"negatives\": [%d, %d]}\n", i, (i + 1) % 120, (i + 2) % 120);
    }
    fclose(f);
    fclose(g);
    const char *regimes[4] = {"bank", "label:", "hard:", "random:5"};
    const char *files[4] = {"", labels, hard, ""};
    double top1[4];
    for (int k = 0; k < 4; k++) {
        snprintf(args, sizeof args,
                 "retrieval --queries %s --query-tensor layer.0 --candidates %s --candidate-tensor layer.1 --bridge %s "
                 "--regime %s%s --resamples 200 --json %s",
                 XA, XB, br, regimes[k], files[k], js);
        run_ok(args, NULL);
        top1[k] = top1_of(js, "bridge");
    }
    assert_true(top1[0] < 0.5);
    for (int k = 1; k < 4; k++)
        if (top1[k] + 1e-12 < top1[0]) fail_msg("regime %s: top-1 %.3f below the bank's %.3f", regimes[k], top1[k], top1[0]);
    /* a label file with a broken line names the file and line */
    f = fopen(labels, "a");
    fputs("{\"row_id\": \"x\"}\n", f);
    fclose(f);
    snprintf(args, sizeof args,
             "retrieval --queries %s --query-tensor layer.0 --candidates %s --candidate-tensor layer.1 --bridge %s "
             "--regime label:%s",
             XA, XB, br, labels);
    char needle[1300];
    snprintf(needle, sizeof needle, "%s:121", labels);
    run_fails(args, needle);
}

/* A bridge is used where it was fitted: another layer is refused (retrieval, bridge apply), and a
 * retrieval on the texts it was fitted on says how many of its queries are in-sample: fitted on
 * rows 0..59 of the corpus (the target file holds only those), 60 of the 120 queries are. */
static void test_fit_site_and_in_sample(void **state) {
    (void)state;
    char args[8192], *out;
    const char *half = lw_test_tmpfile("half_corpus.txt"), *xb60 = lw_test_tmpfile("xb60.safetensors");
    char *text = lw_test_read_file(CORPUS);
    assert_non_null(text);
    char *cut = text;
    for (int i = 0; i < 60; i++) cut = strchr(cut, '\n') + 1;
    *cut = '\0';
    lw_test_write_text(half, text);
    free(text);
    snprintf(args, sizeof args, "extract --model %s --layers 2 --input %s --out %s", MB, half, xb60);
    run_ok(args, NULL);
    char br[1200], js[1200]; /* copied: lw_test_tmpfile's slots rotate */
    snprintf(br, sizeof br, "%s", lw_test_tmpfile("half.bridge.safetensors"));
    snprintf(js, sizeof js, "%s", lw_test_tmpfile("half.json"));
    snprintf(args, sizeof args,
             "bridge fit --source %s --source-tensor layer.1 --target %s --target-tensor layer.2 --alpha 1 --out %s",
             XA, xb60, br);
    char *err = NULL;
    if (lw_test_run_cli(args, &out, &err) != 0) fail_msg("`latentwire %s`: %s", args, err);
    /* the two files hold other texts (all 120 lines, the first 60): fitted, and said */
    if (!strstr(err, "extracted from different texts")) fail_msg("no note on the texts: %s", err);
    free(out);
    free(err);
    snprintf(args, sizeof args, "retrieval --queries %s --query-tensor layer.1 --candidates %s --candidate-tensor layer.2 "
             "--bridge %s --resamples 100 --json %s", XA, XB, br, js);
    run_ok(args, &out);
    assert_non_null(strstr(out, "note: 60 of 120 queries are rows the bridge was fitted on"));
    free(out);
    json_t *r = json_load_file(js, 0, NULL);
    assert_non_null(r);
    assert_int_equal(json_integer_value(json_object_get(r, "queries_in_bridge_calibration")), 60);
    json_decref(r);
    /* --control bank (the whole bank, no candidate lists) was skipped without a word; the regime
     * as its own control is a difference of 0 by construction: refused */
    snprintf(args, sizeof args, "retrieval --queries %s --query-tensor layer.1 --candidates %s --candidate-tensor layer.2 "
             "--bridge %s --resamples 100 --regime random:5 --control bank --json %s", XA, XB, br, js);
    run_ok(args, &out);
    assert_non_null(strstr(out, "control: regime bank (120.0 candidates per query)"));
    free(out);
    r = json_load_file(js, 0, NULL);
    assert_non_null(json_object_get(r, "control"));
    assert_non_null(json_object_get(r, "difference"));
    assert_string_equal(json_string_value(json_object_get(r, "control_regime")), "bank");
    json_decref(r);
    snprintf(args, sizeof args, "retrieval --queries %s --query-tensor layer.1 --candidates %s --candidate-tensor layer.2 "
             "--bridge %s --resamples 100 --regime random:5 --control random:5", XA, XB, br);
    run_fails(args, "--control random:5 is the regime itself");
    /* at another block than it was fitted on: refused, naming both */
    snprintf(args, sizeof args, "retrieval --queries %s --query-tensor layer.0 --candidates %s --candidate-tensor layer.2 "
             "--bridge %s --resamples 100", XA, XB, br);
    run_fails(args, "fitted on the source's layer.1 (its record's source_tensor), not layer.0");
    snprintf(args, sizeof args, "bridge apply --bridge %s --input %s --tensor layer.0 --out %s", br, XA,
             lw_test_tmpfile("never.safetensors"));
    run_fails(args, "not layer.0");
    assert_false(lw_test_file_exists(lw_test_tmpfile("never.safetensors")));
    /* rows pooled otherwise than the fit's (its files are --pool mean): refused, naming both */
    const char *xl = lw_test_tmpfile("xa_last.safetensors");
    snprintf(args, sizeof args, "extract --model %s --layers 1 --pool last --input %s --out %s", MA, CORPUS, xl);
    run_ok(args, NULL);
    snprintf(args, sizeof args, "bridge apply --bridge %s --input %s --tensor layer.1 --out %s", br, xl,
             lw_test_tmpfile("never.safetensors"));
    run_fails(args, "fitted on the source's --pool mean rows (its record's source_pool), not --pool last rows");
    snprintf(args, sizeof args, "retrieval --queries %s --query-tensor layer.1 --candidates %s --candidate-tensor layer.2 "
             "--bridge %s --resamples 100", xl, XB, br);
    run_fails(args, "not --pool last rows");
    /* on another model's rows: refused too (the width matches: the same architecture, other weights) */
    char mc[1200], xc[1200];
    snprintf(mc, sizeof mc, "%s", lw_test_tmpfile("bridge_c.gguf"));
    snprintf(xc, sizeof xc, "%s", lw_test_tmpfile("xc.safetensors"));
    lw_synth_params p = lw_synth_default_params();
    p.seed = 99;
    assert_int_equal(lw_synth_write(mc, &p), 0);
    snprintf(args, sizeof args, "extract --model %s --layers 1 --input %s --out %s", mc, CORPUS, xc);
    run_ok(args, NULL);
    snprintf(args, sizeof args, "retrieval --queries %s --query-tensor layer.1 --candidates %s --candidate-tensor layer.2 "
             "--bridge %s --resamples 100", xc, XB, br);
    run_fails(args, "fitted on another source model");
    /* --beir embeds with the models it is given: their files are checked against the record too */
    const char *beir = lw_test_fresh_dir("bridge_beir");
    char path[1400];
    snprintf(path, sizeof path, "%s/qrels", beir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/corpus.jsonl", beir);
    lw_test_write_text(path, "{\"_id\": \"d0\", \"text\": \"the cat sat\"}\n{\"_id\": \"d1\", \"text\": \"a dog ran\"}\n");
    snprintf(path, sizeof path, "%s/queries.jsonl", beir);
    lw_test_write_text(path, "{\"_id\": \"q0\", \"text\": \"where is the cat\"}\n");
    snprintf(path, sizeof path, "%s/qrels/test.tsv", beir);
    lw_test_write_text(path, "query-id\tcorpus-id\tscore\nq0\td0\t1\n");
    snprintf(args, sizeof args, "retrieval --beir %s --source-model %s --source-layer 1 --target-model %s --target-layer 2 "
             "--bridge %s --resamples 100", beir, mc, MB, br);
    run_fails(args, "fitted on another source model");
    snprintf(args, sizeof args, "retrieval --beir %s --source-model %s --source-layer 0 --target-model %s --target-layer 2 "
             "--bridge %s --resamples 100", beir, MA, MB, br);
    run_fails(args, "not layer.0");
    snprintf(args, sizeof args, "retrieval --beir %s --source-model %s --source-layer 1 --target-model %s --target-layer 2 "
             "--bridge %s --resamples 100", beir, MA, MB, br);
    run_ok(args, NULL);
}

static void test_bad_input(void **state) {
    char args[8192];
    const char *br = lw_test_tmpfile("bad.bridge.safetensors");
    snprintf(args, sizeof args,
             "bridge fit --source %s --source-tensor layer.9 --target %s --target-tensor layer.0 --out %s", XA, XB, br);
    run_fails(args, "layer.9");
    assert_false(lw_test_file_exists(br));
    char *why = lw_test_cli_refusal("bridge info", 2, "no bridge file given"); /* a usage error: exit 2 */
    if (why) fail_msg("%s", why);
    /* a corrupted bridge file */
    FILE *f = fopen(br, "wb");
    fputs("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":1}        ", f);
    fclose(f);
    snprintf(args, sizeof args, "bridge info %s", br);
    run_fails(args, br);
    /* a bridge whose widths do not match the files */
    const char *good = lw_test_tmpfile("bb.bridge.safetensors");
    snprintf(args, sizeof args,
             "bridge fit --source %s --source-tensor layer.0 --target %s --target-tensor layer.0 --out %s", XB, XA, good);
    run_ok(args, NULL);
    snprintf(args, sizeof args,
             "retrieval --queries %s --query-tensor layer.1 --candidates %s --candidate-tensor layer.2 --bridge %s", XA,
             XB, good);
    run_fails(args, "maps 96 -> 64");
}

static void test_align_quick(void **state) {
    const char *data = lw_test_shared_path("data/PROVENANCE.md");
    const char *a = lw_test_shared_path("models/stories260K.gguf"), *b = lw_test_shared_path("models/tinystories656K.gguf");
    if (!data || !a || !b) return;
    char dir[1300], args[8192], *out;
    snprintf(dir, sizeof dir, "%s/align", lw_test_tmpdir());
    char data_dir[1200];
    snprintf(data_dir, sizeof data_dir, "%s", data);
    *strrchr(data_dir, '/') = '\0';
    snprintf(args, sizeof args,
             "align --source %s --target %s --data %s --out %s --quick --per-domain 30 --pairs 12 --paraphrases 20 "
             "--resamples 200", a, b,
             data_dir, dir);
    /* splits too small for the clustered regime: refused before any extraction, naming the options
     * (it failed after extracting both models with "lw_candidates_clustered: n_clusters = 10") */
    char bad[8192], bad_dir[1300];
    snprintf(bad_dir, sizeof bad_dir, "%s/align-small", lw_test_tmpdir());
    snprintf(bad, sizeof bad, "align --source %s --target %s --data %s --out %s --quick --per-domain 10 --calib-share 0.99",
             a, b, data_dir, bad_dir);
    run_fails(bad, "--per-domain 10 with --calib-share 0.99 gives");
    run_ok(args, &out);
    assert_non_null(strstr(out, "hard-negative"));
    assert_non_null(strstr(out, "paraphrase-adjacent"));
    free(out);
    char js[1400];
    snprintf(js, sizeof js, "%s/align.json", dir);
    json_t *r = json_load_file(js, 0, NULL);
    assert_non_null(r);
    json_t *conds = json_object_get(r, "conditions");
    assert_true(json_array_size(conds) > 10);
    /* every row's figures hold together, recomputed here: its proportions are whole counts of
     * n_queries with the exact binomial interval of that count, its ranks are monotone, the
     * bank's chance is one over its candidates, and a random-K regime has K + 1 candidates (or
     * the whole bank when it is smaller) */
    const int n_test = (int)json_integer_value(json_object_get(r, "n_test"));
    int n_para_rows = 0;
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c) {
        const int nq = (int)json_integer_value(json_object_get(c, "n_queries"));
        const char *regime = json_string_value(json_object_get(c, "regime"));
        const double cands = json_number_value(json_object_get(c, "mean_candidates"));
        assert_true(nq > 0 && nq <= n_test);
        assert_true(fabs(json_number_value(json_object_get(c, "chance_top1")) - 1.0 / cands) < 1e-12);
        if (!strncmp(regime, "random-", 7)) { /* K drawn besides the target: the label says K, also on a
                                                  * bank too small for 99 (it said random-99 there) */
            const int k = atoi(regime + 7);
            assert_true(fabs(cands - (k + 1)) < 1e-12);
            assert_true(k == 9 || k == 10 || k == 99 || k + 1 == n_test || k + 2 == n_test);
            if (n_test <= 99) assert_true(k < 99);
        }
        json_t *m = json_object_get(c, "metrics");
        double prev = -1;
        const char *props[] = {"top1", "recall@5", "recall@10"};
        for (int k = 0; k < 3; k++) {
            json_t *x = json_object_get(m, props[k]);
            const double mean = json_number_value(json_object_get(x, "mean"));
            const double hits = mean * nq;
            assert_true(fabs(hits - round(hits)) < 1e-9);
            assert_true(mean >= prev - 1e-12); /* top-1 <= recall@5 <= recall@10 */
            prev = mean;
            lw_ci want;
            assert_int_equal(lw_ci_binomial((int)round(hits), nq, 0.95, &want), 0);
            assert_true(fabs(json_number_value(json_object_get(x, "lo")) - want.lo) < 1e-9);
            assert_true(fabs(json_number_value(json_object_get(x, "hi")) - want.hi) < 1e-9);
        }
        if (!strcmp(regime, "paraphrase-adjacent")) { /* target + paraphrase + 9 random */
            assert_true(fabs(cands - fmin(11, n_test)) < 1e-12);
            n_para_rows++;
        }
        json_t *mrr = json_object_get(m, "mrr@10");
        const double mm = json_number_value(json_object_get(mrr, "mean"));
        assert_true(mm >= json_number_value(json_object_get(json_object_get(m, "top1"), "mean")) - 1e-12);
        assert_true(json_number_value(json_object_get(mrr, "lo")) <= mm && mm <= json_number_value(json_object_get(mrr, "hi")));
    }
    assert_int_equal(n_para_rows, 1);
    /* the paraphrase regime's paired comparison against its random-10 control, same queries */
    json_t *cmp;
    bool found = false;
    json_array_foreach(json_object_get(r, "comparisons"), i, cmp) {
        if (strcmp(json_string_value(json_object_get(cmp, "experiment")) ?: "", "paraphrase") != 0) continue;
        found = true;
        assert_string_equal(json_string_value(json_object_get(cmp, "a")), "paraphrase-adjacent");
        char ctrl[32];
        snprintf(ctrl, sizeof ctrl, "random-%d", n_test - 2 < 10 ? n_test - 2 : 10);
        assert_string_equal(json_string_value(json_object_get(cmp, "b")), ctrl);
    }
    assert_true(found);
    json_decref(r);
}

/* MRPC paraphrase pairs in the corpus: each paraphrase row's twin is its partner in the file
 * (read here independently), the pair judged a paraphrase (Quality 1), both in one split. */
static void test_corpus_paraphrase_twins(void **state) {
    (void)state;
    const char *mrpc = lw_test_shared_path("data/mrpc/msr_paraphrase_train.txt");
    if (!mrpc) return;
    char data_dir[1200];
    snprintf(data_dir, sizeof data_dir, "%s", mrpc);
    *strrchr(data_dir, '/') = '\0';
    *strrchr(data_dir, '/') = '\0';
    lw_mdcorpus c;
    assert_int_equal(lw_mdcorpus_build(data_dir, 10, 0, 25, 0.6, 7, &c), 0);
    size_t text_len;
    char *text = lw_read_file(mrpc, &text_len);
    assert_non_null(text);
    int para = -1, n_rows = 0;
    for (int d = 0; d < c.n_domains; d++)
        if (!strcmp(c.domain_names[d], "paraphrase")) para = d;
    assert_true(para >= 0);
    for (int64_t i = 0; i < c.n; i++) {
        if (c.domain[i] != para) {
            assert_int_equal(c.twin[i], -1);
            continue;
        }
        n_rows++;
        int32_t t = c.twin[i];
        assert_true(t >= 0 && c.twin[t] == i && c.calib[t] == c.calib[i]);
        /* "1\t<id>\t<id>\t<first>\t<second>" with this row and its twin in either order */
        char *pair = malloc(strlen(c.text[i]) + strlen(c.text[t]) + 2);
        const int64_t first = i < t ? i : t, second = i < t ? t : i;
        sprintf(pair, "%s\t%s", c.text[first], c.text[second]);
        const char *hit = strstr(text, pair);
        assert_non_null(hit);
        const char *ls = hit;
        while (ls > text && ls[-1] != '\n') ls--;
        assert_true(ls[0] == '1' && ls[1] == '\t');
        free(pair);
    }
    assert_int_equal(n_rows, 50);
    free(text);
    lw_mdcorpus_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_info_apply_retrieval),
        cmocka_unit_test(test_rank_clamp_noted),
        cmocka_unit_test(test_unpaired_rows_noted),
        cmocka_unit_test(test_regimes),
        cmocka_unit_test(test_fit_site_and_in_sample),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_align_quick),
        cmocka_unit_test(test_corpus_paraphrase_twins),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, NULL));
}
