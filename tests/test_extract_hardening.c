/* `extract` (and the text readers) against hostile and broken inputs: empty texts, FIFOs and
 * devices as inputs, over-long lines, signals mid-run, stale temporaries, corrupted or
 * mismatched shards on --resume, superseded shard sets, non-finite weights, inputs whose
 * every text is skipped; and the library call lw_extract_to_files that the CLI is a thin
 * front of. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "gguf.h"
#include "latentwire/extract.h"
#include "latentwire/runtime.h"
#include "latentwire/safetensors.h"
#include "latentwire/task.h"
#include "latentwire/textio.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static char MODEL[1200], CORPUS[1200];
static const char *TEXTS[5] = {
    "Once upon a time there was a dog.", "The cat sat on the mat.", "Lily liked to play with her red ball.",
    "Tom ran.", "A bird sang a happy song in the tall green tree.",
};

static int setup(void **state) {
    (void)state;
    lw_synth_params p = lw_synth_default_params();
    p.n_layer = 3;
    snprintf(MODEL, sizeof MODEL, "%s", lw_test_tmpfile("hardening_model.gguf"));
    if (lw_synth_write(MODEL, &p) != 0) return -1;
    snprintf(CORPUS, sizeof CORPUS, "%s", lw_test_tmpfile("hardening.txt"));
    FILE *f = fopen(CORPUS, "w");
    for (int i = 0; i < 5; i++) fprintf(f, "%s\n", TEXTS[i]);
    fclose(f);
    return 0;
}

/* Runs `timeout -s KILL SECONDS $LW_CLI args`, stderr into *err: a hang shows as exit 137
 * instead of blocking the test. */
static int run_cli_timeout(int seconds, const char *args, char **err) {
    const char *cli = getenv("LW_CLI") ? getenv("LW_CLI") : "latentwire";
    char e[1300], cmd[9000];
    snprintf(e, sizeof e, "%s/timeout_cli.err", lw_test_tmpdir());
    snprintf(cmd, sizeof cmd, "timeout -s KILL %d %s %s </dev/null >/dev/null 2>%s", seconds, cli, args, e);
    int st = system(cmd);
    FILE *f = fopen(e, "rb");
    size_t cap = 1 << 16, n = 0;
    *err = calloc(cap, 1);
    if (!*err) abort(); /* a test machine out of memory; also tells gcc that err is never NULL below */
    if (f) {
        n = fread(*err, 1, cap - 1, f);
        fclose(f);
    }
    (*err)[n] = '\0';
    unlink(e);
    return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

static bool contains(const char *hay, const char *needle) { return hay && strstr(hay, needle) != NULL; }

static void expect_fail(const char *args, const char *const *needles, int n_needles) {
    char *err = NULL;
    int rc = run_cli_timeout(60, args, &err);
    if (rc == 0 || rc == 124 || rc == 137) fail_msg("`%s` exited %d (expected a failure): %s", args, rc, err);
    for (int i = 0; i < n_needles; i++)
        if (!strstr(err, needles[i])) fail_msg("`%s`: expected \"%s\" in: %s", args, needles[i], err);
    /* one error line, no sanitizer report */
    int lines = 0;
    for (const char *c = err; *c; c++) lines += *c == '\n';
    if (lines != 1) fail_msg("`%s`: expected exactly one line on stderr, got %d: %s", args, lines, err);
    free(err);
}

/* Item 7: an empty text would be pooled into its BOS row; it is an error naming its line. */
static void test_empty_text_is_an_error(void **state) {
    (void)state;
    const char *in = lw_test_tmpfile("empty.jsonl");
    lw_test_write_text(in, "{\"text\": \"The cat sat.\"}\n{\"text\": \"\"}\n{\"text\": \"Tom ran.\"}\n");
    const char *pools[3] = {"mean", "last", "none"};
    for (int i = 0; i < 3; i++) {
        char out[1300], args[4096], where[1400];
        snprintf(out, sizeof out, "%s/empty-%s.safetensors", lw_test_tmpdir(), pools[i]);
        snprintf(args, sizeof args, "extract --model %s --layers 0 --pool %s --input %s --out %s", MODEL, pools[i], in,
                 out);
        snprintf(where, sizeof where, "%s:2:", in);
        const char *needles[2] = {where, "no tokens"};
        expect_fail(args, needles, 2);
        assert_false(lw_test_file_exists(out));
    }
}

/* Item 8: a FIFO or a device as input is refused at once (never waited on, never read without
 * end); a line longer than LW_MAX_LINE_BYTES is an error naming file and line. */
static void test_inputs_must_be_regular_files(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("fifo");
    const char *fifo = lw_test_join(dir, "in.txt");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    char out[1300], args[4096];
    snprintf(out, sizeof out, "%s/fifo.safetensors", dir);
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out %s", MODEL, fifo, out);
    const char *fifo_needles[2] = {fifo, "FIFO"};
    expect_fail(args, fifo_needles, 2);
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input /dev/zero --out %s", MODEL, out);
    const char *zero_needles[2] = {"/dev/zero", "character device"};
    expect_fail(args, zero_needles, 2);
    /* hook vectors from a FIFO */
    snprintf(args, sizeof args, "generate --model %s --prompt hi --max-tokens 1 --hook 0:add:all:%s", MODEL, fifo);
    expect_fail(args, fifo_needles, 2);
    assert_int_equal(lw_test_dir_entries(dir), 1); /* only the FIFO: no output, no temporary */

    /* a task file that is a FIFO, in a child that an alarm ends if the open blocks */
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        lw_task t;
        int rc = lw_task_load(fifo, &t);
        _exit(rc != 0 && strstr(lw_last_error(), "FIFO") ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    assert_int_equal(lw_check_regular_file(CORPUS), 0);
    assert_int_equal(lw_check_regular_file(dir), -1);
    assert_true(contains(lw_last_error(), "directory"));
    assert_null(lw_fopen_regular("/dev/null"));
    assert_true(contains(lw_last_error(), "character device"));

    /* a 1 MiB + 1 byte line on line 2 */
    const char *longf = lw_test_join(dir, "long.txt");
    FILE *f = fopen(longf, "w");
    fputs("The cat sat.\n", f);
    for (size_t i = 0; i <= LW_MAX_LINE_BYTES; i++) fputc('a', f);
    fputs("\nTom ran.\n", f);
    fclose(f);
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out %s", MODEL, longf, out);
    char where[1400];
    snprintf(where, sizeof where, "%s:2:", longf);
    const char *long_needles[2] = {where, "longer than 1048576 bytes"};
    expect_fail(args, long_needles, 2);
    assert_false(lw_test_file_exists(out));
    unlink(fifo);
    unlink(longf);
}

/* Names in dir that end like one of our temporaries (".tmp" or ".tmp.XXXXXX"). */
static int count_temps(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp")) n++;
    closedir(d);
    return n;
}

/* Item 9: SIGTERM (and SIGINT, SIGHUP) mid-run leaves no temporary and a non-zero status;
 * stale temporaries of the same output are removed at the next start, others' are not. */
static void test_signals_and_stale_temporaries(void **state) {
    (void)state;
    const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
    const char *dir = lw_test_fresh_dir("signals");
    /* enough texts for a run of a few seconds under the sanitizers */
    const char *big = lw_test_join(dir, "big.txt");
    FILE *f = fopen(big, "w");
    for (int i = 0; i < 4000; i++) fprintf(f, "%s %d\n", TEXTS[i % 5], i);
    fclose(f);
    char out[1300];
    snprintf(out, sizeof out, "%s/acts.safetensors", dir);
    for (int s = 0; s < 3; s++) {
        pid_t pid = fork();
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 2);
            execl(getenv("LW_CLI"), "latentwire", "extract", "--model", MODEL, "--layers", "0,1,2", "--pool", "none",
                  "--input", big, "--out", out, "--threads", "1", (char *)NULL);
            _exit(127);
        }
        /* wait until the per-tensor temporaries exist, then signal */
        struct timespec nap = {0, 20 * 1000 * 1000};
        int waited = 0;
        while (count_temps(dir) == 0 && waited++ < 3000) nanosleep(&nap, NULL);
        assert_true(count_temps(dir) > 0);
        nanosleep(&nap, NULL);
        assert_int_equal(kill(pid, sigs[s]), 0);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == sigs[s])) fail_msg("signal %d: status 0x%x", sigs[s], st);
        if (count_temps(dir) != 0) fail_msg("signal %d left %d temporaries in %s", sigs[s], count_temps(dir), dir);
        assert_false(lw_test_file_exists(out));
    }

    /* stale temporaries of this output (unsharded, sharded, the writer's) go; another output's stay */
    const char *stale[3] = {"acts.safetensors.part0.tmp", "acts-00002-of-00003.safetensors.part11.tmp",
                            "acts.safetensors.tmp.aB3dE9"};
    for (int i = 0; i < 3; i++) lw_test_write_text(lw_test_join(dir, stale[i]), "left by a killed run");
    lw_test_write_text(lw_test_join(dir, "other.safetensors.part0.tmp"), "not ours");
    lw_test_write_text(lw_test_join(dir, "acts.safetensors.tmp.notours"), "not our pattern");
    char args[4096], *o, *e;
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out %s", MODEL, CORPUS, out);
    assert_int_equal(lw_test_run_cli(args, &o, &e), 0);
    for (int i = 0; i < 3; i++)
        if (lw_test_file_exists(lw_test_join(dir, stale[i]))) fail_msg("stale %s was not removed: %s", stale[i], e);
    assert_true(lw_test_file_exists(lw_test_join(dir, "other.safetensors.part0.tmp")));
    assert_true(lw_test_file_exists(lw_test_join(dir, "acts.safetensors.tmp.notours")));
    assert_true(lw_test_file_exists(out));
    free(o);
    free(e);
}

static char *slurp_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    char *b = malloc(*n);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* Item 10: the sha256 of every tensor is in the shard (checked here with OpenSSL's SHA256 on
 * the bytes Python would read); --resume redoes a shard corrupted at the same size and one
 * made with another --batch, and a new shard count removes the superseded set. */
static void test_resume_verifies_shards(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("resume");
    char out[1300], s2[1400], args[4096], *o, *e;
    snprintf(out, sizeof out, "%s/acts.safetensors", dir);
    snprintf(s2, sizeof s2, "%s/acts-00002-of-00003.safetensors", dir);
    snprintf(args, sizeof args, "extract --model %s --layers 0,2 --input %s --out %s --shard-texts 2 --resume", MODEL,
             CORPUS, out);
    assert_int_equal(lw_test_run_cli(args, &o, &e), 0);
    free(o);
    free(e);
    /* inspect reads the set's name as the other verbs do: each shard in turn (it said "No such
     * file"); --json wants one shard */
    char look[1500];
    snprintf(look, sizeof look, "inspect %s", out);
    assert_int_equal(lw_test_run_cli(look, &o, &e), 0);
    assert_non_null(strstr(o, "a shard set of 3 files"));
    assert_non_null(strstr(o, "acts-00003-of-00003.safetensors: "));
    free(o);
    free(e);
    snprintf(look, sizeof look, "inspect %s --json", out);
    assert_int_not_equal(lw_test_run_cli(look, &o, &e), 0);
    assert_non_null(strstr(e, "is a shard set of 3 files"));
    free(o);
    free(e);

    /* the recorded checksums are the tensors' bytes' sha256 */
    lw_st_file *st = lw_st_open(s2);
    assert_non_null(st);
    const char *sums = lw_st_meta(st, "sha256");
    assert_non_null(sums);
    for (int i = 0; i < lw_st_count(st); i++) {
        const lw_st_tensor *t = lw_st_get(st, i);
        unsigned char md[32];
        SHA256(t->data, t->n_bytes, md);
        char want[128];
        int off = snprintf(want, sizeof want, "\"%s\":\"", t->name);
        for (int b = 0; b < 32; b++) off += snprintf(want + off, sizeof want - (size_t)off, "%02x", md[b]);
        if (!contains(sums, want)) fail_msg("sha256 of %s is not %s in %s", t->name, want, sums);
    }
    size_t data_at = (size_t)((const char *)lw_st_find(st, "layer.2")->data - (const char *)lw_st_get(st, 0)->data);
    size_t first = 0;
    lw_st_close(st);
    size_t n;
    char *good = slurp_bytes(s2, &n);
    /* locate layer.2's data in the file: the header length + 8 + its offset */
    uint64_t hl = 0;
    for (int b = 0; b < 8; b++) hl |= (uint64_t)(unsigned char)good[b] << (8 * b);
    first = 8 + (size_t)hl + data_at;

    /* flip one bit of layer.2 (same size): resume must redo the shard, bytes as before */
    FILE *f = fopen(s2, "r+b");
    fseek(f, (long)first + 5, SEEK_SET);
    fputc(good[first + 5] ^ 0x10, f);
    fclose(f);
    assert_int_equal(lw_test_run_cli(args, &o, &e), 0);
    if (!contains(e, "corrupted")) fail_msg("the corrupted shard was not redone: %s", e);
    size_t n2;
    char *again = slurp_bytes(s2, &n2);
    assert_int_equal(n2, n);
    assert_memory_equal(again, good, n);
    free(again);
    free(good);
    free(o);
    free(e);

    /* another --batch changes the bytes (texts share a forward batch): nothing is kept */
    snprintf(args, sizeof args, "extract --model %s --layers 0,2 --input %s --out %s --shard-texts 2 --resume --batch 1",
             MODEL, CORPUS, out);
    assert_int_equal(lw_test_run_cli(args, &o, &e), 0);
    if (contains(e, "kept") || !contains(e, "other settings")) fail_msg("--batch 1 resumed batch-2 shards: %s", e);
    free(o);
    free(e);

    /* 5 shards, then 3: the -of-00005 set is removed; then unsharded: the -of-00003 set too */
    lw_test_write_text(lw_test_join(dir, "acts-notes.txt"), "the user's own file");
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out %s --shard-texts 1", MODEL, CORPUS, out);
    assert_int_equal(lw_test_run_cli(args, NULL, NULL), 0);
    assert_true(lw_test_file_exists(lw_test_join(dir, "acts-00005-of-00005.safetensors")));
    assert_false(lw_test_file_exists(s2)); /* the 3-shard set went when the 5-shard set was complete */
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out %s --shard-texts 2", MODEL, CORPUS, out);
    assert_int_equal(lw_test_run_cli(args, NULL, NULL), 0);
    for (int i = 1; i <= 5; i++) {
        char name[64];
        snprintf(name, sizeof name, "acts-%05d-of-00005.safetensors", i);
        if (lw_test_file_exists(lw_test_join(dir, name))) fail_msg("superseded %s is still there", name);
    }
    assert_true(lw_test_file_exists(s2));
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out %s", MODEL, CORPUS, out);
    assert_int_equal(lw_test_run_cli(args, NULL, NULL), 0);
    assert_int_equal(lw_test_dir_entries(dir), 2); /* acts.safetensors and the user's notes */
    assert_true(lw_test_file_exists(out));
    assert_true(lw_test_file_exists(lw_test_join(dir, "acts-notes.txt")));

    /* a shard's name as --out (beside its set): refused, the set left whole (its shard 1 was
     * removed as this run's "superseded" unsharded output) */
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out %s --shard-texts 2", MODEL, CORPUS, out);
    assert_int_equal(lw_test_run_cli(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out %s --shard-texts 1", MODEL, CORPUS, s2);
    assert_int_not_equal(lw_test_run_cli(args, &o, &e), 0);
    if (!contains(e, "is named like a shard of another set")) fail_msg("%s", e);
    assert_true(lw_test_file_exists(s2));
    free(o);
    free(e);
}

/* Overwrites every element of an F32 tensor of a GGUF file with value. */
static void poison_tensor(const char *path, const char *name, float value) {
    struct gguf_init_params gp = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *g = gguf_init_from_file(path, gp);
    assert_non_null(g);
    int64_t id = gguf_find_tensor(g, name);
    assert_true(id >= 0);
    assert_int_equal(gguf_get_tensor_type(g, id), GGML_TYPE_F32);
    size_t off = gguf_get_data_offset(g) + gguf_get_tensor_offset(g, id), n = gguf_get_tensor_size(g, id) / 4;
    gguf_free(g);
    FILE *f = fopen(path, "r+b");
    fseek(f, (long)off, SEEK_SET);
    for (size_t i = 0; i < n; i++) fwrite(&value, sizeof value, 1, f);
    fclose(f);
}

/* Item 12: NaN weights (or a hook vector of 1e38) are reported, not written or decoded. */
static void test_nonfinite_activations(void **state) {
    (void)state;
    lw_synth_params p = lw_synth_default_params();
    p.n_layer = 3;
    const char *nan_model = lw_test_tmpfile("nan_model.gguf");
    assert_int_equal(lw_synth_write(nan_model, &p), 0);
    poison_tensor(nan_model, "blk.1.ffn_down.weight", NAN);
    char out[1300], args[4096], where[1400];
    snprintf(out, sizeof out, "%s/nan.safetensors", lw_test_tmpdir());
    snprintf(where, sizeof where, "%s:1:", CORPUS);
    /* block 0 is finite; block 1's MLP output is the first site to hold NaN */
    const char *pools[2] = {"mean", "none"};
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args, "extract --model %s --sites 0,blocks.1.hook_attn_out,blocks.1.hook_mlp_out,2 "
                                    "--pool %s --input %s --out %s", nan_model, pools[i], CORPUS, out);
        const char *needles[3] = {where, "blocks.1.hook_mlp_out", "not finite (NaN)"};
        expect_fail(args, needles, 3);
        assert_false(lw_test_file_exists(out));
    }
    snprintf(args, sizeof args, "generate --model %s --prompt \"The cat\" --max-tokens 3", nan_model);
    const char *gen_needles[2] = {"logits", "not finite"};
    expect_fail(args, gen_needles, 2);

    /* a hook vector of 1e38 on the healthy model overflows the residual stream */
    const char *vec = lw_test_tmpfile("huge.txt");
    FILE *f = fopen(vec, "w");
    for (int c = 0; c < p.n_embd; c++) fprintf(f, "%s1e38", c ? " " : "");
    fputc('\n', f);
    fclose(f);
    snprintf(args, sizeof args, "generate --model %s --prompt \"The cat\" --max-tokens 3 --hook 0:add:all:%s", MODEL,
             vec);
    const char *hook_needles[2] = {"hook 0 at blocks.0.hook_resid_post", "position 0, coordinate 0 1e+38"};
    expect_fail(args, hook_needles, 2);

    /* two writes under the per-write limit whose sum in the residual is past it: the final norm
     * overflows and every logit is 0, which greedy decoding read as token 0 with exit 0 */
    const char *big = lw_test_tmpfile("big17.txt");
    f = fopen(big, "w");
    for (int c = 0; c < p.n_embd; c++) fprintf(f, "%s1.7e19", c ? " " : "");
    fputc('\n', f);
    fclose(f);
    snprintf(args, sizeof args, "generate --model %s --prompt \"The cat\" --max-tokens 3 --hook "
             "blocks.0.hook_attn_out:replace:all:%s --hook blocks.0.hook_mlp_out:replace:all:%s", MODEL, big, big);
    const char *flat_needles[2] = {"logits at position", "all equal"};
    expect_fail(args, flat_needles, 2);
}

/* Item 14: when every text is skipped as untokenizable there is nothing to write: an error,
 * no 0-row file. (tinystories656K has no byte fallback for '&'.) */
static void test_all_texts_skipped(void **state) {
    (void)state;
    const char *model = lw_test_shared_path("models/tinystories656K.gguf");
    if (!model) skip();
    const char *in = lw_test_tmpfile("all_amp.txt");
    lw_test_write_text(in, "smith & sons\nfish & chips\n");
    char out[1300], args[4096];
    snprintf(out, sizeof out, "%s/all_amp.safetensors", lw_test_tmpdir());
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out %s --skip-untokenizable", model, in, out);
    const char *needles[2] = {in, "nothing to write"};
    expect_fail(args, needles, 2);
    assert_false(lw_test_file_exists(out));
}

typedef struct {
    int wrote, removed, progress;
} events;

static void count_event(const lw_extract_event *e, void *user) {
    events *ev = user;
    ev->wrote += e->kind == LW_EXTRACT_EV_WROTE;
    ev->removed += e->kind == LW_EXTRACT_EV_REMOVED;
    ev->progress += e->kind == LW_EXTRACT_EV_PROGRESS;
}

/* Item 0: the library does what the CLI does; a C caller gets shards and events. The file is
 * byte-identical to the CLI's for the same settings. */
static void test_library_call(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("library");
    char out[1300], cli_out[1300], args[4096];
    snprintf(out, sizeof out, "%s/lib.safetensors", dir);
    snprintf(cli_out, sizeof cli_out, "%s/cli.safetensors", dir);
    lw_model *m = lw_model_load(MODEL, lw_model_default_params());
    assert_non_null(m);
    lw_extract_params p = lw_extract_default_params();
    p.sites = "embed,1";
    p.pool = LW_EXTRACT_POOL_TOKENS;
    p.n_threads = 2;
    events ev = {0};
    p.on_event = count_event;
    p.user = &ev;
    lw_extract_result r;
    if (lw_extract_to_files(m, CORPUS, out, &p, &r) != 0) fail_msg("%s", lw_last_error());
    assert_int_equal(r.n_texts, 5);
    assert_int_equal(r.n_shards, 1);
    assert_int_equal(r.n_sites, 2);
    assert_int_equal(ev.wrote, 1);
    assert_true(ev.progress >= 1);
    int64_t rows = 0;
    for (int i = 0; i < 5; i++) rows -= lw_tokenize(m, TEXTS[i], true, NULL, 0); /* -(count) without a buffer */
    assert_int_equal(r.n_rows, rows);
    lw_model_free(m);
    snprintf(args, sizeof args, "extract --model %s --sites embed,1 --pool none --input %s --out %s", MODEL, CORPUS,
             cli_out);
    assert_int_equal(lw_test_run_cli(args, NULL, NULL), 0);
    lw_st_file *a = lw_st_open(out), *b = lw_st_open(cli_out);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(lw_st_count(a), lw_st_count(b));
    for (int i = 0; i < lw_st_count(a); i++) {
        const lw_st_tensor *x = lw_st_get(a, i), *y = lw_st_find(b, x->name);
        assert_non_null(y);
        assert_int_equal(x->n_bytes, y->n_bytes);
        assert_memory_equal(x->data, y->data, x->n_bytes);
    }
    lw_st_close(a);
    lw_st_close(b);

    /* the same texts from memory: the same tensors (CORPUS has no blank line, so line = index + 1) */
    char mem_out[1300];
    snprintf(mem_out, sizeof mem_out, "%s/mem.safetensors", dir);
    m = lw_model_load(MODEL, lw_model_default_params());
    p.on_event = NULL;
    if (lw_extract_texts_to_files(m, TEXTS, 5, mem_out, &p, &r) != 0) fail_msg("%s", lw_last_error());
    const char *with_empty[2] = {"Tom ran.", ""};
    assert_int_equal(lw_extract_texts_to_files(m, with_empty, 2, mem_out, &p, &r), -1);
    if (!contains(lw_last_error(), "texts:2:")) fail_msg("%s", lw_last_error());
    lw_model_free(m);
    a = lw_st_open(out);
    b = lw_st_open(mem_out);
    assert_non_null(b);
    assert_int_equal(lw_st_count(a), lw_st_count(b));
    for (int i = 0; i < lw_st_count(a); i++) {
        const lw_st_tensor *x = lw_st_get(a, i), *y = lw_st_find(b, x->name);
        assert_non_null(y);
        assert_int_equal(x->n_bytes, y->n_bytes);
        assert_memory_equal(x->data, y->data, x->n_bytes);
    }
    assert_true(contains(lw_st_meta(b, "latentwire"), "\"input\":\"texts\""));
    lw_st_close(a);
    lw_st_close(b);
}

/* One temporary per output tensor: 40 blocks with the logit lens are 40 + 80 + 2 temporaries,
 * all registered for removal on a signal at once. */
static void test_many_sites(void **state) {
    (void)state;
    lw_synth_params p = lw_synth_default_params();
    p.n_layer = 40;
    const char *deep = lw_test_tmpfile("deep_model.gguf");
    assert_int_equal(lw_synth_write(deep, &p), 0);
    const char *dir = lw_test_fresh_dir("many");
    char out[1300], args[4096], *e;
    snprintf(out, sizeof out, "%s/deep.safetensors", dir);
    snprintf(args, sizeof args, "extract --model %s --layers all --logit-lens 1 --input %s --out %s", deep, CORPUS, out);
    int rc = lw_test_run_cli(args, NULL, &e);
    if (rc != 0) fail_msg("%s", e);
    free(e);
    lw_st_file *f = lw_st_open(out);
    assert_non_null(f);
    assert_int_equal(lw_st_count(f), 40 + 80 + 2);
    lw_st_close(f);
    assert_int_equal(lw_test_dir_entries(dir), 1);
}

static volatile sig_atomic_t g_own_handler_ran;
static void own_handler(int sig) { g_own_handler_ran = sig; }
static void raise_on_progress(const lw_extract_event *e, void *user) {
    (void)user;
    if (e->kind == LW_EXTRACT_EV_PROGRESS) raise(SIGTERM);
}

/* A caller with its own SIGTERM handler that returns (as Python's does): the temporaries go,
 * the caller's handler runs, and the call fails naming the signal instead of finishing. */
static void test_signal_with_callers_handler(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("own_handler");
    char out[1300];
    snprintf(out, sizeof out, "%s/acts.safetensors", dir);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = own_handler;
    assert_int_equal(sigaction(SIGTERM, &sa, &old), 0);
    lw_model *m = lw_model_load(MODEL, lw_model_default_params());
    lw_extract_params p = lw_extract_default_params();
    p.sites = "0";
    p.on_event = raise_on_progress;
    assert_int_equal(lw_extract_to_files(m, CORPUS, out, &p, NULL), -1);
    if (!contains(lw_last_error(), "interrupted by signal 15")) fail_msg("%s", lw_last_error());
    assert_int_equal(g_own_handler_ran, SIGTERM);
    assert_int_equal(lw_test_dir_entries(dir), 0);
    struct sigaction now;
    sigaction(SIGTERM, NULL, &now);
    assert_true(now.sa_handler == own_handler); /* the caller's disposition is back */
    sigaction(SIGTERM, &old, NULL);
    lw_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_text_is_an_error),
        cmocka_unit_test(test_inputs_must_be_regular_files),
        cmocka_unit_test(test_signals_and_stale_temporaries),
        cmocka_unit_test(test_resume_verifies_shards),
        cmocka_unit_test(test_nonfinite_activations),
        cmocka_unit_test(test_all_texts_skipped),
        cmocka_unit_test(test_library_call),
        cmocka_unit_test(test_many_sites),
        cmocka_unit_test(test_signal_with_callers_handler),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, NULL));
}
