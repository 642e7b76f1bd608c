/* Output paths, checked before any work, in every verb that writes files:
 *  - an output that is one of the run's inputs (the same path, "./x" for "x", a symlink, a
 *    file the verb writes beside its output such as OUT.partial or an extract shard) is
 *    refused with one line, a non-zero exit, and the input unchanged (sha256 before/after);
 *  - an output in a missing directory, or naming a directory, is refused with the OS's
 *    reason before anything runs;
 *  - retrieval --beir with a bridge of the wrong widths fails before embedding;
 *  - a failed align leaves nothing it created; bridge apply refuses to write 0 rows. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fileio.h"
#include "latentwire/bridge.h"
#include "latentwire/files.h"
#include "latentwire/safetensors.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static char DIR_[1200], MA[1300], MB[1300], XA[1300], XB[1300], TASK[1300], TEXT[1300];

/* An activation file of n rows: row_id 0..n-1 and x [n, d] (values from the row and column). */
static void write_acts(const char *path, int64_t n, int d) {
    float *x = malloc(sizeof(float) * (size_t)(n ? n : 1) * d);
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) {
        ids[i] = i;
        for (int j = 0; j < d; j++) x[i * d + j] = (float)((i * 7 + j * 3) % 11) - 5.0f + 0.1f * (float)j;
    }
    lw_st_tensor_in t[2] = {{.name = "x", .dtype = LW_DT_F32, .n_dims = 2, .shape = {n, d}, .data = x},
                            {.name = "row_id", .dtype = LW_DT_I64, .n_dims = 1, .shape = {n}, .data = ids}};
    assert_int_equal(lw_st_save(path, t, 2, NULL, 0), 0);
    free(x);
    free(ids);
}

static int setup(void **state) {
    (void)state;
    snprintf(DIR_, sizeof DIR_, "%s", lw_test_fresh_dir("outputs"));
    lw_synth_params p = lw_synth_default_params();
    snprintf(MA, sizeof MA, "%s/a.gguf", DIR_);
    if (lw_synth_write(MA, &p) != 0) return -1;
    p.n_embd = 96, p.n_head = 6, p.n_head_kv = 3, p.seed = 7;
    snprintf(MB, sizeof MB, "%s/b.gguf", DIR_);
    if (lw_synth_write(MB, &p) != 0) return -1;
    snprintf(XA, sizeof XA, "%s/xa.safetensors", DIR_);
    snprintf(XB, sizeof XB, "%s/xb.safetensors", DIR_);
    write_acts(XA, 40, 8);
    write_acts(XB, 40, 6);
    snprintf(TASK, sizeof TASK, "%s/task.jsonl", DIR_);
    lw_test_write_text(TASK, "{\"id\": \"1\", \"sender\": \"a\", \"receiver\": \"b\", \"answer\": \"c\"}\n");
    snprintf(TEXT, sizeof TEXT, "%s/texts.safetensors", DIR_); /* a text corpus under an output's name */
    lw_test_write_text(TEXT, "the cat sat\nthe dog ran\n");
    return 0;
}

/* `latentwire ARGS` must fail with exactly one stderr line containing `needle`, leave
 * `input` byte-identical, and leave no new entry in DIR_. */
static void refused(const char *args, const char *input, const char *needle) {
    char before[65], after[65];
    assert_int_equal(lw_sha256_file(input, before), 0);
    int entries = lw_test_dir_entries(DIR_);
    char *o, *e;
    int rc = lw_test_run_cli(args, &o, &e);
    int lines = 0;
    for (const char *c = e; *c; c++) lines += *c == '\n';
    if (rc == 0 || lines != 1 || !strstr(e, needle))
        fail_msg("`latentwire %s`: exit %d, stderr:\n%s(expected one line with \"%s\")", args, rc, e, needle);
    assert_int_equal(lw_sha256_file(input, after), 0);
    if (strcmp(before, after) != 0) fail_msg("`latentwire %s` changed %s", args, input);
    if (lw_test_dir_entries(DIR_) != entries) fail_msg("`latentwire %s` left a file in %s", args, DIR_);
    free(o);
    free(e);
}

static void test_same_file_every_verb(void **state) {
    (void)state;
    char a[8192], dot[1400], link[1400];
    /* bridge fit --out = --source, also as ./x (relative, from the directory) and by a symlink */
    snprintf(a, sizeof a, "bridge fit --source %s --source-tensor x --target %s --target-tensor x --out %s", XA, XB, XA);
    refused(a, XA, "is the same file as --source");
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(DIR_), 0); /* relative spellings, from the files' directory */
    refused("bridge fit --source xa.safetensors --source-tensor x --target xb.safetensors --target-tensor x "
            "--out ./xb.safetensors",
            XB, "is the same file as --target");
    assert_int_equal(chdir(cwd), 0);
    snprintf(link, sizeof link, "%s/link.safetensors", DIR_);
    assert_int_equal(symlink(XA, link), 0);
    snprintf(a, sizeof a, "bridge fit --source %s --source-tensor x --target %s --target-tensor x --out %s", XA, XB,
             link);
    refused(a, XA, "is the same file as --source");
    unlink(link);
    /* bridge apply --out = --input (spelled with a redundant ./ component) */
    lw_bridge_params bp = lw_bridge_default_params();
    bp.alpha = 1.0;
    float X[16 * 8], Y[16 * 6];
    for (int i = 0; i < 16 * 8; i++) X[i] = (float)((i * 5) % 7) - 3.0f;
    for (int i = 0; i < 16 * 6; i++) Y[i] = (float)((i * 3) % 5) - 2.0f;
    lw_bridge *b = lw_bridge_fit(X, Y, 16, 8, 6, &bp);
    assert_non_null(b);
    char br[1300];
    snprintf(br, sizeof br, "%s/ab.bridge.safetensors", DIR_);
    assert_int_equal(lw_bridge_save(b, br), 0);
    lw_bridge_free(b);
    snprintf(dot, sizeof dot, "%s/./xa.safetensors", DIR_);
    snprintf(a, sizeof a, "bridge apply --bridge %s --input %s --tensor x --out %s", br, XA, dot);
    refused(a, XA, "is the same file as --input");
    snprintf(a, sizeof a, "bridge apply --bridge %s --input %s --tensor x --out %s", br, XA, br);
    refused(a, br, "is the same file as --bridge");
    /* retrieval --json = --queries; --per-query = --json */
    snprintf(a, sizeof a,
             "retrieval --queries %s --query-tensor x --candidates %s --candidate-tensor x --bridge %s --json %s", XA,
             XB, br, XA);
    refused(a, XA, "is the same file as --queries");
    /* channel and debate: --out = --task, and a --task that is the OUT.partial they write */
    snprintf(a, sizeof a, "channel --sender %s --receiver %s --task %s --out %s", MA, MA, TASK, TASK);
    refused(a, TASK, "is the same file as --task");
    char partial_task[1400];
    snprintf(partial_task, sizeof partial_task, "%s/items.jsonl.partial", DIR_);
    lw_test_write_text(partial_task, "{\"id\": \"1\", \"sender\": \"a\", \"receiver\": \"b\", \"answer\": \"c\"}\n");
    snprintf(a, sizeof a, "channel --sender %s --receiver %s --task %s --out %s/items.jsonl", MA, MA, partial_task, DIR_);
    refused(a, partial_task, "items.jsonl.partial beside it, which is --task");
    snprintf(a, sizeof a, "debate --agents %s,%s --task %s --out %s", MA, MA, TASK, TASK);
    refused(a, TASK, "is the same file as --task");
    snprintf(a, sizeof a, "debate --agents %s,%s --task %s --out %s/items.jsonl", MA, MA, partial_task, DIR_);
    refused(a, partial_task, "beside it, which is --task");
    unlink(partial_task);
    /* --out = --json: two outputs, named as such (it said "would overwrite the input") */
    snprintf(a, sizeof a, "channel --sender %s --receiver %s --task %s --out %s/o.jsonl --json %s/o.jsonl", MA, MA, TASK,
             DIR_, DIR_);
    refused(a, TASK, "are the same file: give each output its own path");
    snprintf(a, sizeof a, "debate --agents %s,%s --task %s --out %s/o.jsonl --json %s/o.jsonl", MA, MA, TASK, DIR_, DIR_);
    refused(a, TASK, "are the same file: give each output its own path");
    /* extract --out = --input, and an input that is a shard name of --out */
    snprintf(a, sizeof a, "extract --model %s --layers 0 --input %s --out %s", MA, TEXT, TEXT);
    refused(a, TEXT, "is the same file as --input");
    char shard[1400];
    snprintf(shard, sizeof shard, "%s/acts-00001-of-00002.safetensors", DIR_);
    lw_test_write_text(shard, "the cat sat\nthe dog ran\n");
    snprintf(a, sizeof a, "extract --model %s --layers 0 --input %s --out %s/acts.safetensors --shard-texts 1", MA,
             shard, DIR_);
    refused(a, shard, "beside it, which is --input");
    unlink(shard);
}

/* Output paths that cannot be written are refused up front, with the OS's reason. */
static void test_output_paths(void **state) {
    (void)state;
    char a[8192];
    snprintf(a, sizeof a,
             "retrieval --queries %s --query-tensor x --candidates %s --candidate-tensor x --bridge %s/ab.bridge.safetensors "
             "--json %s/nodir/r.json",
             XA, XB, DIR_, DIR_);
    refused(a, XA, "nodir: No such file or directory");
    snprintf(a, sizeof a, "bridge fit --source %s --source-tensor x --target %s --target-tensor x --out %s", XA, XB, DIR_);
    refused(a, XA, "names a directory");
    snprintf(a, sizeof a, "bridge fit --source %s --source-tensor x --target %s --target-tensor x --out %s/nodir/b.st",
             XA, XB, DIR_);
    refused(a, XA, "No such file or directory");
    snprintf(a, sizeof a, "extract --model %s --layers 0 --input %s --out %s/nodir/o.safetensors", MA, TEXT, DIR_);
    refused(a, TEXT, "No such file or directory");
    snprintf(a, sizeof a, "channel --sender %s --receiver %s --task %s --json %s", MA, MA, TASK, DIR_);
    refused(a, TASK, "names a directory");
    /* an unreadable input says why (the OS's reason, not only "cannot read") */
    snprintf(a, sizeof a, "retrieval --paired %s/missing.jsonl %s/missing2.jsonl", DIR_, DIR_);
    refused(a, XA, "missing.jsonl: No such file or directory");
    /* the library call itself: two outputs of one run given the same (not yet existing) path */
    char r1[1400], r2[1400];
    snprintf(r1, sizeof r1, "%s/r.json", DIR_);
    snprintf(r2, sizeof r2, "%s/../%s/r.json", DIR_, strrchr(DIR_, '/') + 1);
    assert_int_equal(lw_output_check("--per-query", r2, LW_OUT_FILE, (const char *[]){"--json", r1, NULL}), -1);
    assert_non_null(strstr(lw_last_error(), "is the same file as --json"));
    assert_int_equal(lw_output_check("--per-query", r2, LW_OUT_FILE, (const char *[]){"--json", NULL, NULL}), 0);
    /* a device or FIFO as the output: the temporary file renamed over it would replace it (`report -o
     * /dev/null` run as root turned /dev/null into a regular file); refused, the special file kept */
    char fifo[1400];
    snprintf(fifo, sizeof fifo, "%s/out.fifo", DIR_);
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    snprintf(a, sizeof a, "bridge fit --source %s --source-tensor x --target %s --target-tensor x --out %s", XA, XB, fifo);
    refused(a, XA, "is a FIFO: outputs are written to a temporary file renamed over the path");
    assert_int_equal(lw_output_check("-o", "/dev/null", LW_OUT_FILE, NULL), -1);
    assert_non_null(strstr(lw_last_error(), "-o /dev/null is a device"));
    lw_atomic_file af;
    assert_int_equal(lw_atomic_open(&af, fifo), -1);
    assert_non_null(strstr(lw_last_error(), "is a FIFO"));
    struct stat st;
    assert_int_equal(stat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    unlink(fifo);
}

/* Which names beside an output its writer makes (and so may not be inputs), decided by the
 * library on paths that need not exist. */
static void test_derived_names(void **state) {
    (void)state;
    static const struct {
        const char *out, *in;
        int kinds;
        bool refused;
    } cases[] = {
        {"acts.safetensors", "acts-00001-of-00002.safetensors", LW_OUT_SHARDS, true},
        {"acts.safetensors", "acts-00002-of-00002.safetensors.part0.tmp", LW_OUT_SHARDS, true},
        {"acts.safetensors", "acts.safetensors.layer3.tmp", LW_OUT_SHARDS, true},
        {"acts.safetensors", "acts.safetensors.tmp.Ab12Cd", LW_OUT_SHARDS, true},
        {"acts.safetensors", "acts-00001-of-00002.safetensors", LW_OUT_FILE, false},
        {"acts.safetensors", "acts-1-of-2.safetensors", LW_OUT_SHARDS, false},
        {"acts.safetensors", "acts.safetensors.txt", LW_OUT_SHARDS, false},
        {"acts.safetensors", "other-00001-of-00002.safetensors", LW_OUT_SHARDS, false},
        {"items.jsonl", "items.jsonl.partial", LW_OUT_PARTIAL, true},
        {"items.jsonl", "items.jsonl.partial", LW_OUT_FILE, false},
        {"items.jsonl", "items.jsonl.partial.bak", LW_OUT_PARTIAL, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[1400], in[1400];
        snprintf(out, sizeof out, "%s/%s", DIR_, cases[i].out);
        snprintf(in, sizeof in, "%s/%s", DIR_, cases[i].in);
        int rc = lw_output_check("--out", out, cases[i].kinds, (const char *[]){"--input", in, NULL});
        if ((rc != 0) != cases[i].refused)
            fail_msg("--out %s --input %s (kinds %d): %s", cases[i].out, cases[i].in, cases[i].kinds,
                     rc ? lw_last_error() : "accepted");
    }
}

/* A bridge whose widths do not fit the models is refused before any embedding: the one
 * stderr line is the error, not the "embedding N queries" progress line. */
static void test_beir_widths_early(void **state) {
    (void)state;
    char beir[1300], a[8192];
    snprintf(beir, sizeof beir, "%s/beir", DIR_);
    char q[1400];
    snprintf(q, sizeof q, "%s/qrels", beir);
    assert_int_equal(lw_mkdir_p(q), 0);
    snprintf(q, sizeof q, "%s/corpus.jsonl", beir);
    lw_test_write_text(q, "{\"_id\": \"d1\", \"text\": \"the cat sat\"}\n{\"_id\": \"d2\", \"text\": \"the dog ran\"}\n");
    snprintf(q, sizeof q, "%s/queries.jsonl", beir);
    lw_test_write_text(q, "{\"_id\": \"q1\", \"text\": \"a cat\"}\n");
    snprintf(q, sizeof q, "%s/qrels/test.tsv", beir);
    lw_test_write_text(q, "query-id\tcorpus-id\tscore\nq1\td1\t1\n");
    /* ab.bridge maps 8 -> 6; the models are 64 and 96 wide */
    snprintf(a, sizeof a,
             "retrieval --beir %s --source-model %s --source-layer 1 --target-model %s --target-layer 1 --bridge "
             "%s/ab.bridge.safetensors --json %s/beir.json",
             beir, MA, MB, DIR_, DIR_);
    refused(a, q, "maps 8 -> 6 but the models have widths 64 and 96");
    snprintf(a, sizeof a,
             "retrieval --beir %s --source-model %s --source-layer 1 --target-model %s --target-layer 1", beir, MA, MB);
    refused(a, q, "the models have widths 64 and 96: give a --bridge");
}

/* bridge apply on a file without rows writes nothing. */
static void test_no_empty_result(void **state) {
    (void)state;
    char empty[1300], a[8192], out[1300];
    snprintf(empty, sizeof empty, "%s/empty.safetensors", DIR_);
    write_acts(empty, 0, 8);
    snprintf(out, sizeof out, "%s/mapped.safetensors", DIR_);
    snprintf(a, sizeof a, "bridge apply --bridge %s/ab.bridge.safetensors --input %s --tensor x --out %s", DIR_, empty,
             out);
    refused(a, empty, "has no rows");
    assert_false(lw_test_file_exists(out));
    unlink(empty);
}

/* align fails after it created its output folder (the target is not a GGUF model, found out
 * when it is loaded, after the source's activations were cached): nothing it made is left. */
static void test_align_failure_cleans_up(void **state) {
    (void)state;
    const char *prov = lw_test_shared_path("data/PROVENANCE.md");
    if (!prov) skip();
    char data[1300], a[8192], out[1400], fake[1300];
    snprintf(data, sizeof data, "%s", prov);
    *strrchr(data, '/') = '\0';
    snprintf(fake, sizeof fake, "%s/fake.gguf", DIR_);
    lw_test_write_text(fake, "not a model\n");
    snprintf(out, sizeof out, "%s/align-new/sub", DIR_);
    snprintf(a, sizeof a, "align --source %s --target %s --data %s --out %s --quick --per-domain 10 --pairs 4", MA,
             fake, data, out);
    char *o, *e;
    int rc = lw_test_run_cli(a, &o, &e);
    if (rc == 0 || !strstr(e, "fake.gguf")) fail_msg("align with a fake target: exit %d, stderr: %s", rc, e);
    free(o);
    free(e);
    char top[1400];
    snprintf(top, sizeof top, "%s/align-new", DIR_);
    struct stat st;
    if (stat(top, &st) == 0) fail_msg("a failed align left %s", top);
    unlink(fake);
    /* an existing folder stays, with only what was there */
    snprintf(out, sizeof out, "%s/align-old", DIR_);
    assert_int_equal(mkdir(out, 0777), 0);
    char keep[1500];
    snprintf(keep, sizeof keep, "%s/notes.txt", out);
    lw_test_write_text(keep, "mine\n");
    lw_test_write_text(fake, "not a model\n");
    snprintf(a, sizeof a, "align --source %s --target %s --data %s --out %s --quick --per-domain 10 --pairs 4", MA,
             fake, data, out);
    rc = lw_test_run_cli(a, NULL, NULL);
    assert_int_not_equal(rc, 0);
    assert_int_equal(lw_test_dir_entries(out), 1);
    assert_true(lw_test_file_exists(keep));
    unlink(fake);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_file_every_verb),
        cmocka_unit_test(test_output_paths),
        cmocka_unit_test(test_derived_names),
        cmocka_unit_test(test_beir_widths_early),
        cmocka_unit_test(test_no_empty_result),
        cmocka_unit_test(test_align_failure_cleans_up),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, NULL));
}
