/* latentwire codec fit | encode | decode | info end to end on activation kinds: the files
 * hold exactly what the library encodes and decodes, the reported bits are the payloads'
 * sizes, and bad input is one error line with nothing written. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/rng.h"
#include "latentwire/codec.h"
#include "latentwire/files.h"
#include "latentwire/safetensors.h"
#include "support/testutil.h"

enum { D = 16, N = 120 };
static char ACTS[1200], ACTS_POS[1200], ACTS_WIDE[1200];

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

/* An activation file: `rows` rows of width d in tensor `name`, row ids id(i) = i / per_id. */
/* latentwire: the file's "latentwire" metadata (JSON text, as extract writes it) or NULL. */
static void write_acts_meta(const char *path, const char *name, int rows, int d, int per_id, uint64_t seed,
                            const char *latentwire) {
    lw_rng r;
    lw_rng_seed(&r, seed);
    float *x = malloc(sizeof(float) * rows * d);
    int64_t *ids = malloc(sizeof(int64_t) * rows);
    for (int i = 0; i < rows * d; i++) x[i] = (float)((1 + i % d) * 0.2 * lw_rng_normal(&r));
    for (int i = 0; i < rows; i++) ids[i] = 1000 + i / per_id;
    lw_st_tensor_in t[2] = {{.name = name, .dtype = LW_DT_F32, .n_dims = 2, .shape = {rows, d}, .data = x},
                            {.name = "row_id", .dtype = LW_DT_I64, .n_dims = 1, .shape = {rows}, .data = ids}};
    const char *meta[] = {"latentwire", latentwire};
    assert_int_equal(lw_st_save(path, t, 2, latentwire ? meta : NULL, latentwire ? 1 : 0), 0);
    free(x);
    free(ids);
}

static void write_acts_named(const char *path, const char *name, int rows, int d, int per_id, uint64_t seed) {
    write_acts_meta(path, name, rows, d, per_id, seed, NULL);
}

static void write_acts(const char *path, int rows, int d, int per_id, uint64_t seed) {
    write_acts_named(path, "layer.1", rows, d, per_id, seed);
}

static int setup(void **state) {
    snprintf(ACTS, sizeof ACTS, "%s", lw_test_tmpfile("acts.safetensors"));
    snprintf(ACTS_POS, sizeof ACTS_POS, "%s", lw_test_tmpfile("acts_pos.safetensors"));
    snprintf(ACTS_WIDE, sizeof ACTS_WIDE, "%s", lw_test_tmpfile("acts_wide.safetensors"));
    write_acts(ACTS, N, D, 1, 1);
    write_acts(ACTS_POS, 200, D, 5, 2); /* 40 texts x 5 positions */
    write_acts(ACTS_WIDE, 30, D + 8, 1, 3);
    return 0;
}

/* Encodes `input` with the codec file through the library: the payloads and the decoded rows. */
static void check_files(const char *codec, const char *input, int T, const char *payloads, const char *decoded) {
    lw_codec *c = lw_codec_load(codec, NULL);
    assert_non_null(c);
    assert_int_equal(lw_codec_positions(c), T);
    lw_st_file *a = lw_st_open(input), *p = lw_st_open(payloads), *o = lw_st_open(decoded);
    assert_non_null(a), assert_non_null(p), assert_non_null(o);
    const float *x = lw_st_find(a, "layer.1")->data;
    const int64_t *ids = lw_st_find(a, "row_id")->data;
    int64_t rows = lw_st_find(a, "layer.1")->shape[0];
    const uint8_t *pay = lw_st_find(p, "payload")->data;
    const int64_t *off = lw_st_find(p, "offsets")->data, *pids = lw_st_find(p, "row_id")->data;
    int64_t items = lw_st_find(p, "row_id")->shape[0];
    assert_int_equal(items, rows / T);
    const lw_st_tensor *dt = lw_st_find(o, "layer.1"); /* the fitted tensor's name (codec fit's meta.tensor) */
    assert_null(lw_st_find(o, "decoded"));
    assert_int_equal(dt->shape[0], items * T);
    assert_int_equal(dt->shape[1], D);
    const int64_t *dids = lw_st_find(o, "row_id")->data;
    float *y = malloc(sizeof(float) * T * D);
    for (int64_t i = 0; i < items; i++) {
        /* item i: the last T rows of the i-th row id (here: rows i T .. i T + T - 1) */
        const float *item = x + (size_t)i * T * D;
        assert_int_equal(pids[i], ids[i * T]);
        lw_payload pl;
        assert_int_equal(lw_codec_encode_act(c, item, &pl), 0);
        assert_int_equal(off[i + 1] - off[i], (int64_t)pl.n);
        assert_true((int64_t)pl.n * 8 <= lw_codec_budget_bits(c));
        assert_memory_equal(pay + off[i], pl.bytes, pl.n);
        assert_int_equal(lw_codec_decode_act(c, pl.bytes, pl.n, y), 0);
        assert_memory_equal((const float *)dt->data + (size_t)i * T * D, y, sizeof(float) * T * D);
        for (int t = 0; t < T; t++) assert_int_equal(dids[i * T + t], pids[i]);
        free(pl.bytes);
    }
    free(y);
    lw_st_close(a), lw_st_close(p), lw_st_close(o);
    lw_codec_free(c);
}

static void test_fit_encode_decode_info(void **state) {
    static const char *const KINDS[] = {"topk", "pcaq", "token-sparse", "sae", "pq"};
    char args[8192], *out;
    for (int k = 0; k < 5; k++) {
        const char *codec = lw_test_tmpfile("c.safetensors"), *pay = lw_test_tmpfile("p.safetensors"),
                   *dec = lw_test_tmpfile("d.safetensors");
        snprintf(args, sizeof args, "codec fit --kind %s --budget 96 --input %s --tensor layer.1 %s --out %s", KINDS[k],
                 ACTS, !strcmp(KINDS[k], "sae") ? "--latents 32 --epochs 2" : "", codec);
        run_ok(args, &out);
        assert_non_null(strstr(out, "fitted"));
        free(out);
        snprintf(args, sizeof args, "codec encode --codec %s --input %s --tensor layer.1 --out %s", codec, ACTS, pay);
        run_ok(args, &out);
        /* the reported figures: payload bits as serialized, side bits amortized over the 120 items */
        lw_codec *c = lw_codec_load(codec, NULL);
        assert_non_null(c);
        char want[256];
        snprintf(want, sizeof want, "side bits %lld (%.1f per item", (long long)lw_codec_side_bits(c),
                 lw_codec_side_bits(c) / 120.0);
        if (!strstr(out, want)) fail_msg("%s: `%s` not in: %s", KINDS[k], want, out);
        assert_non_null(strstr(out, "encoded 120 items"));
        lw_codec_free(c);
        free(out);
        snprintf(args, sizeof args, "codec decode --codec %s --input %s --out %s", codec, pay, dec);
        run_ok(args, NULL);
        check_files(codec, ACTS, 1, pay, dec);
        if (k == 0) { /* the decoded rows go through a bridge fitted on the tensor they reconstruct */
            const char *br = lw_test_tmpfile("dec.bridge.safetensors"), *mapped = lw_test_tmpfile("dec.mapped.safetensors");
            snprintf(args, sizeof args, "bridge fit --source %s --source-tensor layer.1 --target %s --target-tensor "
                     "layer.1 --recipe procrustes --out %s", ACTS, ACTS, br);
            run_ok(args, NULL);
            snprintf(args, sizeof args, "bridge apply --bridge %s --input %s --tensor layer.1 --out %s", br, dec, mapped);
            run_ok(args, NULL);
        }
        snprintf(args, sizeof args, "codec info %s --json", codec);
        run_ok(args, &out);
        json_t *j = json_loads(out, 0, NULL);
        assert_non_null(j);
        json_t *search = json_object_get(json_object_get(j, "fit"), "search");
        assert_true(json_array_size(json_object_get(search, "candidates")) >= 1);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "params"), "kind")), KINDS[k]);
        json_decref(j);
        free(out);
        snprintf(args, sizeof args, "codec info %s", codec);
        run_ok(args, &out);
        assert_non_null(strstr(out, "side information"));
        free(out);
    }
}

static void test_positions(void **state) {
    char args[8192];
    const char *codec = lw_test_tmpfile("ts.safetensors"), *pay = lw_test_tmpfile("tsp.safetensors"),
               *dec = lw_test_tmpfile("tsd.safetensors");
    snprintf(args, sizeof args, "codec fit --kind token-sparse --budget 200 --positions 5 --input %s --tensor layer.1 "
             "--out %s", ACTS_POS, codec);
    run_ok(args, NULL);
    snprintf(args, sizeof args, "codec encode --codec %s --input %s --tensor layer.1 --out %s", codec, ACTS_POS, pay);
    run_ok(args, NULL);
    snprintf(args, sizeof args, "codec decode --codec %s --input %s --out %s", codec, pay, dec);
    run_ok(args, NULL);
    check_files(codec, ACTS_POS, 5, pay, dec);
    /* 6 positions asked of texts that have 5 */
    snprintf(args, sizeof args, "codec fit --kind token-sparse --budget 200 --positions 6 --input %s --tensor layer.1 "
             "--out %s", ACTS_POS, lw_test_tmpfile("never.safetensors"));
    run_fails(args, "fewer than --positions 6");
    assert_false(lw_test_file_exists(lw_test_tmpfile("never.safetensors")));
    /* a one-position codec fitted on every token's row (allowed), then asked to encode those rows:
     * each text would be 5 items under one row_id, which decode refuses as an edit; refused here */
    const char *one = lw_test_tmpfile("ts1.safetensors"), *pay1 = lw_test_tmpfile("ts1p.safetensors");
    snprintf(args, sizeof args, "codec fit --kind topk --budget 200 --input %s --tensor layer.1 --out %s", ACTS_POS, one);
    run_ok(args, NULL);
    snprintf(args, sizeof args, "codec encode --codec %s --input %s --tensor layer.1 --out %s", one, ACTS_POS, pay1);
    run_fails(args, "has several rows (one per token, as extract --pool none writes): give --positions T");
    assert_false(lw_test_file_exists(pay1));
}

static void test_bad_input(void **state) {
    char args[8192];
    const char *codec = lw_test_tmpfile("bad_c.safetensors"), *other = lw_test_tmpfile("bad_o.safetensors"),
               *pay = lw_test_tmpfile("bad_p.safetensors"), *none = lw_test_tmpfile("nothing.safetensors");
    snprintf(args, sizeof args, "codec fit --kind pcaq --budget 64 --input %s --tensor layer.1 --out %s", ACTS, codec);
    run_ok(args, NULL);
    snprintf(args, sizeof args, "codec fit --kind pcaq --budget 72 --input %s --tensor layer.1 --out %s", ACTS, other);
    run_ok(args, NULL);
    snprintf(args, sizeof args, "codec encode --codec %s --input %s --tensor layer.1 --out %s", codec, ACTS, pay);
    run_ok(args, NULL);
    struct {
        const char *fmt, *needle;
    } cases[] = {
        {"codec fit --kind pcaq --budget 0 --input %s --tensor layer.1 --out %s", "--budget 0: must be an integer in [1, 2^40"},
        {"codec fit --kind pcaq --budget -8 --input %s --tensor layer.1 --out %s", "--budget -8: must be"},
        {"codec fit --kind nosuch --budget 64 --input %s --tensor layer.1 --out %s", "unknown codec 'nosuch'"},
        {"codec fit --kind topk --input %s --tensor layer.1 --out %s", "--budget"},
        {"codec fit --kind topk --budget 4 --input %s --tensor layer.1 --out %s", "smallest budget that works is 8 bits"},
        {"codec fit --kind topk --budget 64 --input %s --tensor layer.9 --out %s", "no tensor \"layer.9\""},
        {"codec fit --kind topk --budget 64 --bogus 1 --input %s --tensor layer.1 --out %s", "unknown option --bogus"},
        /* a shape option the kind does not read: refused, naming the kinds that do */
        {"codec fit --kind topk --budget 64 --rank 4 --input %s --tensor layer.1 --out %s",
         "--rank with --kind topk: only pcaq uses it"},
        {"codec fit --kind pcaq --budget 64 --k 4 --input %s --tensor layer.1 --out %s",
         "--k with --kind pcaq: only topk token-sparse sae use it"},
        {"codec fit --kind pq --budget 64 --latents 8 --input %s --tensor layer.1 --out %s", "--latents with --kind pq"},
        {"codec fit --kind topk --budget 64 --level 3 --input %s --tensor layer.1 --out %s", "--level with --kind topk"},
        /* the budget's real bound is named; a shape out of range is named alone (bits was not given) */
        {"codec fit --kind pcaq --budget 1099511627777 --input %s --tensor layer.1 --out %s",
         "must be an integer in [1, 2^40 = 1099511627776]"},
        {"codec fit --kind topk --budget 64 --k 100000 --input %s --tensor layer.1 --out %s",
         "codec topk: k = 100000 must be in [1, "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, cases[i].fmt, ACTS, none);
        run_fails(args, cases[i].needle);
        assert_false(lw_test_file_exists(none));
    }
    /* a rank the calibration rows cannot give (30 rows, 24 of them fitted): named, not an SVD failure */
    snprintf(args, sizeof args, "codec fit --kind pcaq --budget 512 --rank 24 --input %s --tensor layer.1 --out %s",
             ACTS_WIDE, none);
    run_fails(args, "rank 24 (--rank) needs more calibration rows: the PCA is fitted on 24 of the 30 rows");
    assert_false(lw_test_file_exists(none));
    /* rows of another layer than the codec was fitted on: refused, naming both */
    const char *l2 = lw_test_tmpfile("acts_layer2.safetensors");
    write_acts_named(l2, "layer.2", N, D, 1, 9);
    snprintf(args, sizeof args, "codec encode --codec %s --input %s --tensor layer.2 --out %s", codec, l2, none);
    run_fails(args, "fitted on layer.1 (its record's meta.tensor), not layer.2");
    assert_false(lw_test_file_exists(none));
    /* the input as output */
    snprintf(args, sizeof args, "codec fit --kind topk --budget 64 --input %s --tensor layer.1 --out %s", ACTS, ACTS);
    run_fails(args, "--out");
    /* width mismatch between codec and input */
    snprintf(args, sizeof args, "codec encode --codec %s --input %s --tensor layer.1 --out %s", codec, ACTS_WIDE, none);
    run_fails(args, "has width 24 but codec");
    /* payloads of another codec, an activation file as payloads, a non-codec as codec */
    snprintf(args, sizeof args, "codec decode --codec %s --input %s --out %s", other, pay, none);
    run_fails(args, "written by another codec");
    snprintf(args, sizeof args, "codec decode --codec %s --input %s --out %s", codec, ACTS, none);
    run_fails(args, "not a payload file");
    snprintf(args, sizeof args, "codec decode --codec %s --input %s --out %s", ACTS, pay, none);
    run_fails(args, "not a latentwire codec");
    snprintf(args, sizeof args, "codec info %s", ACTS);
    run_fails(args, "not a latentwire codec");
    snprintf(args, sizeof args, "codec nosuch");
    run_fails(args, "unknown subcommand");
    assert_false(lw_test_file_exists(none));
    /* a payload file whose offsets lie */
    lw_st_file *f = lw_st_open(pay);
    assert_non_null(f);
    const lw_st_tensor *pt = lw_st_find(f, "payload"), *ot = lw_st_find(f, "offsets"), *it = lw_st_find(f, "row_id");
    int64_t *off = malloc(ot->n_bytes);
    memcpy(off, ot->data, ot->n_bytes);
    off[3] = off[2] - 1;
    lw_st_tensor_in t[3] = {{.name = "payload", .dtype = LW_DT_U8, .n_dims = 1, .shape = {pt->shape[0]}, .data = pt->data},
                            {.name = "offsets", .dtype = LW_DT_I64, .n_dims = 1, .shape = {ot->shape[0]}, .data = off},
                            {.name = "row_id", .dtype = LW_DT_I64, .n_dims = 1, .shape = {it->shape[0]}, .data = it->data}};
    const char *meta[] = {"format", "latentwire.payloads/1", "codec", lw_st_meta(f, "codec")};
    const char *lying = lw_test_tmpfile("lying.safetensors");
    assert_int_equal(lw_st_save(lying, t, 3, meta, 2), 0);
    free(off);
    lw_st_close(f);
    snprintf(args, sizeof args, "codec decode --codec %s --input %s --out %s", codec, lying, none);
    run_fails(args, "offsets are not increasing");
    assert_false(lw_test_file_exists(none));    /* (lw_test_tmpfile's slots rotate: these last) rows pooled otherwise than the fit's: refused, naming both */
    const char *mean = lw_test_tmpfile("acts_mean.safetensors"), *last = lw_test_tmpfile("acts_last.safetensors"),
               *pooled = lw_test_tmpfile("pooled.codec.safetensors");
    write_acts_meta(mean, "layer.1", N, D, 1, 1, "{\"pool\": \"mean\"}");
    write_acts_meta(last, "layer.1", N, D, 1, 1, "{\"pool\": \"last\"}");
    char *out = NULL, *err = NULL;
    for (int bare = 1; bare >= 0; bare--) { /* rows without extract's metadata: fitted, and said */
        snprintf(args, sizeof args, "codec fit --kind topk --budget 64 --input %s --tensor layer.1 --out %s",
                 bare ? ACTS : mean, pooled);
        if (lw_test_run_cli(args, &out, &err) != 0) fail_msg("`latentwire %s`: %s", args, err);
        if (!strstr(err, "has no latentwire metadata") != !bare) fail_msg("note for bare=%d: \"%s\"", bare, err);
        free(out);
        free(err);
        if (bare) remove(pooled);
    }
    snprintf(args, sizeof args, "codec encode --codec %s --input %s --tensor layer.1 --out %s", pooled, last, none);
    run_fails(args, "fitted on --pool mean rows (its record's meta.pool), not --pool last rows");
    assert_false(lw_test_file_exists(none));
}

/* src copied to dst (metadata too) with tensor `name`'s bytes replaced by data (its size). */
/* src with tensor `name` holding data; rehash: its side_sha256 made anew, as a careful editor would
 * (so the checks behind the hashes are reached), else kept (the edit shows in the hash). */
static void copy_edited(const char *src, const char *dst, const char *name, const void *data, bool rehash) {
    lw_st_file *f = lw_st_open(src);
    assert_non_null(f);
    int n = lw_st_count(f), nm = lw_st_meta_count(f);
    lw_st_tensor_in t[16];
    const char *meta[32];
    assert_true(n <= 16 && nm <= 16);
    for (int i = 0; i < n; i++) {
        const lw_st_tensor *s = lw_st_get(f, i);
        t[i] = (lw_st_tensor_in){.name = s->name, .dtype = s->dtype, .n_dims = s->n_dims,
                                 .data = strcmp(s->name, name) ? s->data : data};
        memcpy(t[i].shape, s->shape, sizeof t[i].shape);
    }
    for (int i = 0; i < nm; i++) meta[2 * i] = lw_st_meta_key(f, i), meta[2 * i + 1] = lw_st_meta(f, meta[2 * i]);
    char *sums_text = NULL;
    if (rehash) {
        json_t *sums = json_object();
        for (int i = 0; i < n; i++) {
            char hex[65];
            assert_int_equal(lw_sha256_buf(t[i].data, lw_st_get(f, i)->n_bytes, hex), 0);
            json_object_set_new(sums, t[i].name, json_string(hex));
        }
        sums_text = json_dumps(sums, JSON_COMPACT);
        json_decref(sums);
        for (int i = 0; i < nm; i++)
            if (!strcmp(meta[2 * i], "side_sha256")) meta[2 * i + 1] = sums_text;
    }
    assert_int_equal(lw_st_save(dst, t, n, meta, nm), 0);
    free(sums_text);
    lw_st_close(f);
}

/* Codec and payload files encode never writes are refused by decode, nothing written: a reversed
 * or negative magnitude range (topk), a reversed value range (sae), side tensors so large the
 * decoded rows are inf (pcaq basis, sae decoder: written with exit 0 and refused by every later
 * verb), a repeated row_id, indices repeated in a sparse payload. */
static void test_edited_codec_and_payload_files(void **state) {
    (void)state;
    char args[8192], codec[3][1200], pay[3][1200], bad[1200], none[1200];
    const char *kinds[3] = {"topk", "sae", "pcaq"};
    snprintf(bad, sizeof bad, "%s", lw_test_tmpfile("edited.safetensors")); /* (the tmpfile slots rotate) */
    snprintf(none, sizeof none, "%s", lw_test_tmpfile("edited_out.safetensors"));
    for (int k = 0; k < 3; k++) {
        snprintf(codec[k], sizeof codec[k], "%s", lw_test_tmpfile(k == 0 ? "e_topk.st" : k == 1 ? "e_sae.st" : "e_pcaq.st"));
        snprintf(pay[k], sizeof pay[k], "%s", lw_test_tmpfile(k == 0 ? "e_topk.p.st" : k == 1 ? "e_sae.p.st" : "e_pcaq.p.st"));
        snprintf(args, sizeof args, "codec fit --kind %s --budget 64 --input %s --tensor layer.1 --out %s%s", kinds[k],
                 ACTS, codec[k], k == 1 ? " --epochs 2 --k 2" : "");
        run_ok(args, NULL);
        snprintf(args, sizeof args, "codec encode --codec %s --input %s --tensor layer.1 --out %s", codec[k], ACTS, pay[k]);
        run_ok(args, NULL);
    }
    static float big[4096];
    for (int i = 0; i < 4096; i++) big[i] = 3e38f;
    const float rev[2] = {1.7f, 0.5f}, neg[2] = {-5, -1}, vr[2] = {5, -5};
    const struct {
        int k;
        const char *tensor;
        const float *data;
        const char *needle;
    } edits[] = {{0, "topk.magnitude_range", rev, "magnitude range [1.7, 0.5] is not 0 <= low <= high"},
                 {0, "topk.magnitude_range", neg, "magnitude range [-5, -1] is not 0 <= low <= high"},
                 {1, "sae.value_range", vr, "value range [5, -5] is not low to high"},
                 {1, "sae.decoder", big, "decoding gives a non-finite value"},
                 {2, "pcaq.basis", big, "decoding gives a non-finite value"}};
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        lw_st_file *f = lw_st_open(codec[edits[e].k]);
        assert_non_null(f);
        assert_true(lw_st_find(f, edits[e].tensor)->n_bytes <= sizeof big);
        lw_st_close(f);
        copy_edited(codec[edits[e].k], bad, edits[e].tensor, edits[e].data, true);
        snprintf(args, sizeof args, "codec decode --codec %s --input %s --out %s", bad, pay[edits[e].k], none);
        char *why = lw_test_cli_refusal(args, -1, edits[e].needle);
        if (!why) why = lw_test_cli_refusal(args, -1, bad); /* the codec file is named */
        if (why) fail_msg("%s %s: %s", kinds[edits[e].k], edits[e].tensor, why);
        assert_false(lw_test_file_exists(none));
        /* the same edit with the hashes kept: refused by them first */
        copy_edited(codec[edits[e].k], bad, edits[e].tensor, edits[e].data, false);
        why = lw_test_cli_refusal(args, -1, "does not match its sha256");
        if (why) fail_msg("%s %s (hashes kept): %s", kinds[edits[e].k], edits[e].tensor, why);
    }
    /* payloads: all-zero sparse payloads repeat index 0; a row_id twice */
    lw_st_file *f = lw_st_open(pay[0]);
    assert_non_null(f);
    size_t nb = lw_st_find(f, "payload")->n_bytes;
    lw_st_close(f);
    uint8_t *zero = calloc(nb, 1);
    int64_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = 1000 + (i == 1 ? 0 : i); /* rows 0 and 1 both 1000 */
    const struct {
        int k;
        const char *tensor;
        const void *data;
        const char *needle;
    } pays[] = {{0, "payload", zero, "index 0 after index 0: indices are written ascending, each once"},
                {1, "payload", zero, "latent index 0 after index 0"},
                {2, "row_id", ids, "row_id 1000 appears twice"}};
    for (size_t e = 0; e < sizeof pays / sizeof pays[0]; e++) {
        if (pays[e].data == zero) {
            f = lw_st_open(pay[pays[e].k]);
            assert_true(lw_st_find(f, "payload")->n_bytes <= nb);
            lw_st_close(f);
        }
        copy_edited(pay[pays[e].k], bad, pays[e].tensor, pays[e].data, false);
        snprintf(args, sizeof args, "codec decode --codec %s --input %s --out %s", codec[pays[e].k], bad, none);
        run_fails(args, pays[e].needle);
        assert_false(lw_test_file_exists(none));
    }
    free(zero);
}

static void test_help(void **state) {
    static const char *const SUB[] = {"fit", "encode", "decode", "info"};
    char args[256], *out;
    for (int i = 0; i < 4; i++) {
        snprintf(args, sizeof args, "codec %s --help", SUB[i]);
        run_ok(args, &out);
        char want[64];
        snprintf(want, sizeof want, "latentwire codec %s", SUB[i]);
        assert_non_null(strstr(out, want));
        free(out);
    }
    run_ok("codec --help", &out);
    assert_non_null(strstr(out, "--budget"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_encode_decode_info),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_edited_codec_and_payload_files),
        cmocka_unit_test(test_help),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, NULL));
}
