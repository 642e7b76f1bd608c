/* Benchmark: lm-arith's budget search, one model pass against a search that encodes every
 * candidate prefix.
 *
 *   bench_lm_prefix MODEL.gguf [--text FILE] [--tokens N] [--budgets K1,K2,...] [--reps R] [--threads T]
 *
 * Default: PTB test sentences (../shared/data/ptb/ptb.test.txt, LW_SHARED_DIR honoured) joined
 * until the text has at least N = 64 tokens; budgets 32,64,128,256,512 bits; R = 3; 1 thread.
 *
 * Per budget K, alternating in each repetition:
 *   one pass     the codec's encode at K (lw_lm_arith_encode_counted): one run of the model,
 *                token per call, stopped one token past the longest prefix whose serialized
 *                payload fits (the prefix sizes never decrease: see text_range.h);
 *   per prefix   the search the README once described: encode the prefixes 1, 2, ... each with
 *                its own model pass (lw_lm_arith_encode_tokens) until one does not fit;
 *   decode       decoding the one-pass payload (the receiver's side, for scale).
 * Printed: the model tokens each ran, wall times, per prefix / one pass (median of the
 * per-repetition ratios) and whether both chose the same prefix size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/text_lm_arith.h"
#include "latentwire/codec.h"
#include "latentwire/runtime.h"
#include "bench_util.h"

static lw_codec *fit_at(lw_session *s, int64_t budget) {
    lw_codec_params p = lw_codec_default_params(LW_CODEC_LM_ARITH);
    p.lm = s;
    p.budget_bits = budget;
    return lw_codec_fit_text(&p, NULL, 0);
}

/* The per-prefix search: prefixes 1, 2, ... each encoded with its own model pass until one
 * does not fit. The longest fitting prefix's payload size; *tokens_run the model tokens run. */
static int64_t per_prefix(lw_codec *c, const int32_t *tok, int n, int64_t budget, int64_t *tokens_run) {
    int64_t best = 0;
    *tokens_run = 0;
    for (int k = 1; k <= n; k++) {
        lw_payload p;
        if (lw_lm_arith_encode_tokens(c, tok, k, &p, NULL) != 0) return -1;
        *tokens_run += k;
        int64_t sz = (int64_t)p.n;
        free(p.bytes);
        if (sz * 8 > budget) break;
        best = sz;
    }
    return best;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *text_path = NULL, *budget_list = "32,64,128,256,512";
    int want = 64, reps = 3, threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--text") && i + 1 < argc) text_path = argv[++i];
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) want = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--budgets") && i + 1 < argc) budget_list = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (argv[i][0] != '-' && !model_path) model_path = argv[i];
        else model_path = NULL, i = argc;
    }
    if (!model_path || want < 2 || reps < 1 || threads < 1) {
        fprintf(stderr, "usage: bench_lm_prefix MODEL.gguf [--text FILE] [--tokens N>=2] [--budgets K1,K2,...] "
                        "[--reps R>=1] [--threads T>=1]\n");
        return 2;
    }
    char def[1024];
    if (!text_path) text_path = bench_default_text(def, sizeof def);
    lw_model *m = lw_model_load(model_path, lw_model_default_params());
    if (!m) {
        fprintf(stderr, "bench_lm_prefix: %s\n", lw_last_error());
        return 1;
    }
    lw_model_info info;
    lw_model_get_info(m, &info);
    int32_t *tok = NULL;
    int n = -1;
    char *text = bench_read_text(text_path, m, want, &tok, &n);
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = threads;
    sp.n_ctx = n + 8;
    lw_session *s = n >= 2 ? lw_session_new(m, sp) : NULL;
    if (!s) {
        fprintf(stderr, "bench_lm_prefix: %s\n", text ? "the text has fewer than 2 tokens" : "cannot read the text");
        return 1;
    }
    printf("model %s (vocabulary %d), a text of %d tokens, %d thread(s), %d repetitions\n", info.name, info.n_vocab, n,
           threads, reps);
    printf("%8s %10s %10s %12s %12s %12s %10s %s\n", "K bits", "one-pass", "per-prefix", "one-pass s", "per-prefix s",
           "decode s", "ratio", "same prefix");
    double *ratio = calloc((size_t)reps, sizeof *ratio);
    for (const char *b = budget_list; b && *b;) {
        int64_t K = strtoll(b, NULL, 10);
        b = strchr(b, ',');
        if (b) b++;
        lw_codec *c = K > 0 ? fit_at(s, K) : NULL;
        if (!c) {
            fprintf(stderr, "bench_lm_prefix: budget %lld: %s\n", (long long)K, lw_last_error());
            return 1;
        }
        double t_one = 0, t_all = 0, t_dec = 0;
        int steps = 0;
        int64_t run_all = 0, size_one = 0, size_all = 0;
        for (int r = 0; r < reps; r++) {
            double t0 = bench_now();
            lw_payload p;
            if (lw_lm_arith_encode_counted(c, text, &p, &steps) != 0) return 1;
            double t1 = bench_now();
            size_all = per_prefix(c, tok, n, K, &run_all);
            double t2 = bench_now();
            char *back = NULL;
            if (size_all < 0 || lw_codec_decode_text(c, p.bytes, p.n, &back) != 0) return 1;
            double t3 = bench_now();
            size_one = (int64_t)p.n;
            free(back);
            free(p.bytes);
            ratio[r] = (t2 - t1) / (t1 - t0);
            t_one += t1 - t0;
            t_all += t2 - t1;
            t_dec += t3 - t2;
        }
        /* the per-prefix search does not look for whole characters: equal sizes on PTB's ASCII */
        printf("%8lld %10d %10lld %12.3f %12.3f %12.3f %9.2fx %s\n", (long long)K, steps, (long long)run_all,
               t_one / reps, t_all / reps, t_dec / reps, bench_median(ratio, reps), size_one == size_all ? "yes" : "NO");
        lw_codec_free(c);
    }
    free(ratio);
    free(tok);
    free(text);
    lw_session_free(s);
    lw_model_free(m);
    return 0;
}
