/* Benchmark: lm-arith's arithmetic coder against the model's own forward pass on the same tokens.
 *
 *   bench_lm_arith MODEL.gguf [--text FILE] [--tokens N] [--reps R] [--threads T]
 *
 * Default: the first PTB test sentences (../shared/data/ptb/ptb.test.txt, LW_SHARED_DIR honoured)
 * joined until N = 128 tokens, R = 3, T = 1 thread.
 *
 * What is compared, side by side, alternating in each repetition:
 *   forward   the model alone, run exactly as the coder runs it: BOS, then one token per call
 *             (lw_session_run, the logits of that token), on a cleared sequence;
 *   encode    lw_lm_arith_encode_tokens on the same tokens: the same forward calls plus, per
 *             token, the probability table (max scan over the vocabulary, exp of the tokens
 *             within 32 nats of the top), the token's interval and the range coder;
 *   decode    lw_codec_decode_text of that payload: the forward calls plus the table and the
 *             search for the token whose interval holds the coder's target.
 * Reported: each one's tokens/s, and encode/forward and decode/forward as the median of the
 * per-repetition ratios (the coder's cost is ratio - 1; the target is under 5%), the
 * payload's bits against the model's cross-entropy of the tokens.
 *
 * On a busy machine those wall-time ratios carry the noise of two model runs. So the coder is
 * also timed alone: the logits of every position are kept from one forward run, and
 * lw_lm_arith_encode_logits codes the tokens from them (tables + range coder, no model; its
 * payload must equal the encoder's). coder / forward compares the two in process CPU time
 * (less sensitive to other processes than wall time), median over the repetitions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/text_lm_arith.h"
#include "latentwire/codec.h"
#include "latentwire/runtime.h"
#include "bench_util.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The forward run as the coder makes it, keeping the logits that code each token (rows n x V). */
static int forward_rows(lw_session *s, int32_t bos, const int32_t *tok, int n, int V, float *rows) {
    lw_session_clear(s, 0);
    for (int i = bos >= 0 ? -1 : 0; i < n - 1; i++) {
        int32_t t = i < 0 ? bos : tok[i];
        lw_span span = {&t, NULL, 1};
        lw_seq_input in = {0, &span, 1, LW_LOGITS_LAST};
        if (lw_session_run(s, &in, 1) != 0) return -1;
        memcpy(rows + (size_t)(i + 1) * (size_t)V, lw_session_logits(s, 0, lw_session_seq_len(s, 0) - 1),
               sizeof *rows * (size_t)V);
    }
    lw_session_clear(s, 0);
    return 0;
}

static int forward_only(lw_session *s, int32_t bos, const int32_t *tok, int n) {
    lw_session_clear(s, 0);
    for (int i = -1; i < n - 1; i++) {
        int32_t t = i < 0 ? bos : tok[i];
        if (i < 0 && bos < 0) continue;
        lw_span span = {&t, NULL, 1};
        lw_seq_input in = {0, &span, 1, LW_LOGITS_LAST};
        if (lw_session_run(s, &in, 1) != 0) return -1;
    }
    lw_session_clear(s, 0);
    return 0;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *text_path = NULL;
    int want = 128, reps = 3, threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--text") && i + 1 < argc) text_path = argv[++i];
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) want = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (argv[i][0] != '-' && !model_path) model_path = argv[i];
        else {
            fprintf(stderr, "usage: bench_lm_arith MODEL.gguf [--text FILE] [--tokens N] [--reps R] [--threads T]\n");
            return 2;
        }
    }
    if (!model_path || want < 2 || reps < 1 || threads < 1) {
        fprintf(stderr, "usage: bench_lm_arith MODEL.gguf [--text FILE] [--tokens N>=2] [--reps R>=1] [--threads T>=1]\n");
        return 2;
    }
    char def[1024];
    if (!text_path) text_path = bench_default_text(def, sizeof def);
    lw_model *m = lw_model_load(model_path, lw_model_default_params());
    if (!m) {
        fprintf(stderr, "bench_lm_arith: %s\n", lw_last_error());
        return 1;
    }
    lw_model_info info;
    lw_model_get_info(m, &info);
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = threads;
    sp.n_ctx = want + 8;
    lw_session *s = lw_session_new(m, sp);
    int32_t *tok = NULL;
    int n = 0;
    char *text = s ? bench_read_text(text_path, m, want, &tok, &n) : NULL;
    if (s && !text) fprintf(stderr, "bench_lm_arith: cannot open %s\n", text_path);
    if (n > want) n = want;
    lw_codec_params cp = lw_codec_default_params(LW_CODEC_LM_ARITH);
    cp.lm = s;
    lw_codec *c = text ? lw_codec_fit_text(&cp, NULL, 0) : NULL;
    if (!c || n < 2) {
        fprintf(stderr, "bench_lm_arith: %s\n", c ? "the text has fewer than 2 tokens" : lw_last_error());
        return 1;
    }
    printf("model %s (vocabulary %d), %d tokens, %d thread(s), %d repetitions\n", info.name, info.n_vocab, n, threads,
           reps);
    double *r_enc = calloc((size_t)reps, sizeof *r_enc), *r_dec = calloc((size_t)reps, sizeof *r_dec);
    double t_fwd = 0, t_enc = 0, t_dec = 0, bits = 0;
    size_t payload = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        if (forward_only(s, info.bos, tok, n) != 0) return 1;
        double t1 = bench_now();
        lw_payload p;
        if (lw_lm_arith_encode_tokens(c, tok, n, &p, &bits) != 0) {
            fprintf(stderr, "bench_lm_arith: %s\n", lw_last_error());
            return 1;
        }
        double t2 = bench_now();
        char *back = NULL;
        if (lw_codec_decode_text(c, p.bytes, p.n, &back) != 0) {
            fprintf(stderr, "bench_lm_arith: %s\n", lw_last_error());
            return 1;
        }
        double t3 = bench_now();
        payload = p.n;
        free(back);
        free(p.bytes);
        r_enc[r] = (t2 - t1) / (t1 - t0);
        r_dec[r] = (t3 - t2) / (t1 - t0);
        t_fwd += t1 - t0;
        t_enc += t2 - t1;
        t_dec += t3 - t2;
        printf("  rep %d: forward %.3f s, encode %.3f s (x%.3f), decode %.3f s (x%.3f)\n", r + 1, t1 - t0, t2 - t1,
               r_enc[r], t3 - t2, r_dec[r]);
    }
    printf("forward %.1f tok/s, encode %.1f tok/s, decode %.1f tok/s\n", n * reps / t_fwd, n * reps / t_enc,
           n * reps / t_dec);
    printf("encode / forward %.3f, decode / forward %.3f (median of per-repetition ratios; target < 1.05)\n",
           bench_median(r_enc, reps), bench_median(r_dec, reps));
    /* the coder alone, from kept logits, against the forward pass, in CPU time */
    float *rows = calloc((size_t)n * (size_t)info.n_vocab, sizeof *rows);
    double *r_coder = calloc((size_t)reps, sizeof *r_coder), c_fwd = 0, c_coder = 0;
    for (int r = 0; rows && r < reps; r++) {
        double t0 = cpu_now();
        if (forward_rows(s, info.bos, tok, n, info.n_vocab, rows) != 0) return 1;
        double t1 = cpu_now();
        lw_payload q;
        if (lw_lm_arith_encode_logits(info.n_vocab, rows, tok, n, info.bos < 0, &q) != 0) return 1;
        double t2 = cpu_now();
        if (q.n != payload) printf("  coder alone: %zu bytes, the encoder's %zu: NOT IDENTICAL\n", q.n, payload);
        free(q.bytes);
        r_coder[r] = (t2 - t1) / (t1 - t0);
        c_fwd += t1 - t0;
        c_coder += t2 - t1;
    }
    if (rows)
        printf("coder alone %.3f ms/token, forward %.3f ms/token (CPU time): coder / forward %.4f (median)\n",
               1e3 * c_coder / (n * reps), 1e3 * c_fwd / (n * reps), bench_median(r_coder, reps));
    free(rows);
    free(r_coder);
    printf("payload %zu bytes = %zu bits; the model's cross-entropy of the tokens %.1f bits (%.2f bits/token)\n",
           payload, payload * 8, bits, bits / n);
    free(r_enc);
    free(r_dec);
    free(tok);
    free(text);
    lw_codec_free(c);
    lw_session_free(s);
    lw_model_free(m);
    return 0;
}
