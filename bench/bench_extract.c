/* Benchmark: activation extraction against a plain llama.cpp forward of the same batches.
 *
 *   bench_extract MODEL CORPUS [--texts N] [--reps R] [--batch B] [--threads T]
 *                 [--rss CLI]   also: peak RSS of `CLI extract` on N, 4N and 16N texts
 *
 * Both sides use the same context settings (exact precision: F32 KV cache, no flash
 * attention; n_ubatch 512; B sequences per batch) and the same token batches. "plain" asks
 * llama.cpp for the last token's logits of each sequence, as an ordinary forward would;
 * "latentwire" captures every block's output at every position and mean-pools it per text
 * (what `extract --layers all --pool mean` does, minus the file writing). The two run
 * alternately R times; the ratio is computed per repetition and the median reported, since
 * absolute times on a shared machine drift. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/fileio.h"
#include "latentwire/runtime.h"
#include "llama.h"
#include "runtime/internal.h"

extern char **environ;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    int n;
    int32_t **tok;
    int *len;
    long total;
} texts;

static double plain_pass(lw_model *m, const texts *t, int batch, int threads) {
    struct llama_context_params cp = llama_context_default_params();
    long max_batch_tokens = 0;
    for (int i = 0; i < t->n; i += batch) {
        long s = 0;
        for (int k = i; k < i + batch && k < t->n; k++) s += t->len[k];
        if (s > max_batch_tokens) max_batch_tokens = s;
    }
    cp.n_ctx = (uint32_t)(max_batch_tokens + 256);
    cp.n_batch = cp.n_ubatch = 512;
    cp.n_seq_max = (uint32_t)batch;
    cp.n_threads = cp.n_threads_batch = threads;
    cp.kv_unified = true;
    cp.type_k = cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    struct llama_context *ctx = llama_init_from_model(m->llama, cp);
    struct llama_batch b = llama_batch_init(512, 0, 1);
    double t0 = now();
    for (int i = 0; i < t->n; i += batch) {
        b.n_tokens = 0;
        for (int k = i; k < i + batch && k < t->n; k++) {
            for (int p = 0; p < t->len[k]; p++) {
                if (b.n_tokens == 512) { /* same micro-batch size as the session */
                    llama_decode(ctx, b);
                    b.n_tokens = 0;
                }
                int j = b.n_tokens++;
                b.token[j] = t->tok[k][p];
                b.pos[j] = p;
                b.n_seq_id[j] = 1;
                b.seq_id[j][0] = k - i;
                b.logits[j] = p == t->len[k] - 1;
            }
        }
        if (b.n_tokens) llama_decode(ctx, b);
        llama_memory_clear(llama_get_memory(ctx), true);
    }
    double dt = now() - t0;
    llama_batch_free(b);
    llama_free(ctx);
    return dt;
}

static double latentwire_pass(lw_model *m, const texts *t, int batch, int threads, float *pooled) {
    lw_model_info info;
    lw_model_get_info(m, &info);
    lw_session_params sp = lw_session_default_params();
    sp.n_seq_max = batch;
    sp.n_threads = threads;
    sp.n_ctx = 0;
    long max_batch_tokens = 0;
    for (int i = 0; i < t->n; i += batch) {
        long s = 0;
        for (int k = i; k < i + batch && k < t->n; k++) s += t->len[k];
        if (s > max_batch_tokens) max_batch_tokens = s;
    }
    sp.n_ctx = (int)max_batch_tokens + 256;
    lw_session *s = lw_session_new(m, sp);
    for (int l = 0; l < info.n_layer; l++) {
        lw_hook h = lw_hook_default();
        h.layer = l;
        lw_session_add_hook(s, &h);
    }
    const int d = info.n_embd;
    lw_span *spans = calloc((size_t)batch, sizeof *spans);
    lw_seq_input *in = calloc((size_t)batch, sizeof *in);
    double t0 = now();
    for (int i = 0; i < t->n; i += batch) {
        int nb = 0;
        for (int k = i; k < i + batch && k < t->n; k++, nb++) {
            spans[nb] = (lw_span){.tokens = t->tok[k], .n = t->len[k]};
            in[nb] = (lw_seq_input){.seq = nb, .spans = &spans[nb], .n_spans = 1, .logits = LW_LOGITS_NONE};
        }
        if (lw_session_run(s, in, nb) != 0) {
            fprintf(stderr, "bench: %s\n", lw_last_error());
            exit(1);
        }
        for (int l = 0; l < info.n_layer; l++) {
            const float *rows;
            const int32_t *seqs;
            int n = lw_session_capture(s, l, &rows, &seqs, NULL);
            float *out = pooled + ((size_t)l * t->n + i) * d;
            memset(out, 0, sizeof(float) * (size_t)nb * d);
            for (int r = 0; r < n; r++)
                for (int c = 0; c < d; c++) out[(size_t)seqs[r] * d + c] += rows[(size_t)r * d + c];
            for (int q = 0; q < nb; q++)
                for (int c = 0; c < d; c++) out[(size_t)q * d + c] /= (float)t->len[i + q];
        }
        lw_session_clear_captures(s);
    }
    double dt = now() - t0;
    free(spans);
    free(in);
    lw_session_free(s);
    return dt;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Peak RSS (MiB) of `cli extract` over the first n texts of the corpus repeated as needed. */
static double cli_peak_rss(const char *cli, const char *model, const lw_corpus *c, long n) {
    char corpus[] = "/tmp/lwbench-corpus-XXXXXX.txt", out[64];
    int fd = mkstemps(corpus, 4);
    FILE *f = fdopen(fd, "w");
    for (long i = 0; i < n; i++) fprintf(f, "%s\n", c->texts[i % c->n]);
    fclose(f);
    snprintf(out, sizeof out, "%s.safetensors", corpus);
    char *argv[] = {(char *)cli, "extract", "--model", (char *)model, "--layers", "all", "--pool", "mean",
                    "--input", corpus, "--out", out, "--skip-untokenizable", NULL};
    pid_t pid;
    posix_spawn_file_actions_t fa; /* keep the child's report lines out of the table */
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int spawned = posix_spawn(&pid, cli, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (spawned != 0) {
        perror("posix_spawn");
        exit(1);
    }
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    unlink(corpus);
    unlink(out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench: %s extract failed\n", cli);
        exit(1);
    }
    return ru.ru_maxrss / 1024.0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_extract MODEL CORPUS [--texts N] [--reps R] [--batch B] [--threads T] [--rss CLI]\n");
        return 2;
    }
    const char *model_path = argv[1], *corpus_path = argv[2], *cli = NULL;
    int n_texts = 256, reps = 5, batch = 2, threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--texts")) n_texts = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rss")) cli = argv[i + 1];
    }
    lw_corpus c;
    if (lw_corpus_load(&c, corpus_path, "text") != 0) {
        fprintf(stderr, "bench: %s\n", lw_last_error());
        return 1;
    }
    lw_model *m = lw_model_load(model_path, lw_model_default_params());
    if (!m) {
        fprintf(stderr, "bench: %s\n", lw_last_error());
        return 1;
    }
    lw_model_info info;
    lw_model_get_info(m, &info);
    /* the first n_texts texts the vocabulary can encode, cut to 256 tokens */
    texts t = {0};
    t.tok = calloc((size_t)n_texts, sizeof *t.tok);
    t.len = calloc((size_t)n_texts, sizeof *t.len);
    for (int64_t i = 0; i < c.n && t.n < n_texts; i++) {
        int n = lw_tokenize_alloc(m, c.texts[i], true, &t.tok[t.n]);
        if (n <= 0) continue;
        t.len[t.n] = n > 256 ? 256 : n;
        t.total += t.len[t.n++];
    }
    float *pooled = malloc(sizeof(float) * (size_t)info.n_layer * t.n * info.n_embd);
    double *ta = calloc((size_t)reps, sizeof(double)), *tb = calloc((size_t)reps, sizeof(double)),
           *ratio = calloc((size_t)reps, sizeof(double));
    plain_pass(m, &t, batch, threads); /* warm-up: page in the weights */
    for (int r = 0; r < reps; r++) {
        ta[r] = plain_pass(m, &t, batch, threads);
        tb[r] = latentwire_pass(m, &t, batch, threads, pooled);
        ratio[r] = ta[r] / tb[r]; /* throughput(latentwire) / throughput(plain) */
    }
    double ma = median(ta, reps), mb = median(tb, reps), mr = median(ratio, reps);
    printf("model %s (%s, %d layers, width %d, %.0fM params)\n", model_path, info.arch, info.n_layer, info.n_embd,
           info.n_params / 1e6);
    printf("  %d texts, %ld tokens, batch %d, %d threads, %d reps (median)\n", t.n, t.total, batch, threads, reps);
    printf("  plain llama.cpp forward          %10.0f tokens/s\n", t.total / ma);
    printf("  latentwire capture all %2d layers %10.0f tokens/s\n", info.n_layer, t.total / mb);
    printf("  ratio latentwire / plain         %10.3f\n", mr);
    if (cli) {
        long sizes[3] = {t.n, 4L * t.n, 16L * t.n};
        printf("  peak RSS of `extract --layers all --pool mean`:");
        for (int k = 0; k < 3; k++) printf("  %ld texts %.1f MiB", sizes[k], cli_peak_rss(cli, model_path, &c, sizes[k]));
        printf("\n");
    }
    for (int i = 0; i < t.n; i++) free(t.tok[i]);
    free(t.tok);
    free(t.len);
    free(pooled);
    free(ta);
    free(tb);
    free(ratio);
    lw_model_free(m);
    lw_corpus_free(&c);
    return 0;
}
