/* The independent float64 references (support/ref_gemma3, support/ref_llama) against
 * llama.cpp on the real quantized models: Gemma 3 270M (gemma3; Q5_0, Q8_0, Q4_K, Q6_K
 * weights) and SmolLM2 135M Instruct (llama; Q4_1 weights, Q8_0 embeddings), two prompts of
 * 20-31 tokens each (prose, code).
 *
 * llama.cpp runs each prompt as one batch (F32 KV cache, flash attention off, every
 * position's logits) and an eval callback copies out every block's output "l_out-<l>". The
 * reference reads the original GGUF and computes in double; its logits are compared at 4
 * positions (first, two middle, last). Three checks:
 *
 * 1. Architecture, tight. For a quantized weight llama.cpp's CPU matmul quantizes its input
 *    first (to Q8_0 / Q8_1 / Q8_K), and a reference computing the same thing in double can
 *    agree no better than a chaotic 8-bit rounding allows (see 3). So llama.cpp also runs an
 *    F32 copy of the model, written here with every tensor dequantized by ggml's to_float:
 *    the very numbers the reference multiplies, now with no rounding in llama.cpp's matmuls.
 *    The reference (GELU rounded through fp16 like ggml's table) must then match every
 *    block output and the logits to ARCH_REL (ARCH_REL_GELU for Gemma). Gemma runs again
 *    with its sliding window overridden to 8 positions in both (a kv override in llama.cpp),
 *    so that the window, the layer pattern and the local RoPE base all matter in a short
 *    prompt. This is the check that catches architecture mistakes: swapping the two RoPE
 *    bases moves the block outputs by 0.12, which check 3 alone would let through.
 * 2. The rounding emulation, tight. In the run of the shipped model, the input and output of
 *    one matmul per weight type (and Gemma's GEGLU) are captured; the reference's operation
 *    on llama.cpp's own input, with llama.cpp's rounding emulated, must reproduce
 *    llama.cpp's output to OP_REL. The plain float64 error is printed for scale.
 * 3. The shipped model end to end, loose: the reference with all of llama.cpp's rounding
 *    emulated, and plain, against llama.cpp on the quantized GGUF. Emulating the quantizer
 *    cannot make this tight: the reference's float64 activations differ from llama.cpp's
 *    float32 ones by ~1e-7 relative, which now and then moves a value across a rounding
 *    boundary of the 8-bit quantizer, changing it by a whole quantum (its block's max / 127,
 *    large for blocks holding an outlier); attention then spreads that change to every
 *    later position. Measured: one such flip in layer 0 of SmolLM2 (from a 6e-8 difference
 *    in the normed input) changes a K entry by 3.7e-3, and every position from there on
 *    differs. Bounded by QUANT_REL, with argmax and top-10 agreement.
 *
 * A missing model is a skip (exit 77), never a pass: "SKIP: <model> not in <dir>; run
 * scripts/fetch-models.sh". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"
#include "gguf.h"
#include "llama.h"
#include "support/ref_common.h"
#include "support/ref_gemma3.h"
#include "support/ref_llama.h"
#include "support/testutil.h"

/* ---------------------------------------------------------------- tolerances ------- */

/* 1: the same weights, no quantization anywhere: what is left is float32 (llama.cpp) vs
 * float64 (reference) arithmetic, ~1e-7 per operation (each op of Gemma's block 0 checked
 * alone on llama.cpp's inputs agrees to 1e-7..6e-7), grown through 18-30 blocks. Same bound
 * as test_ref_llama's F32 models; SmolLM2 measures 3e-6. */
#define ARCH_REL 1e-4
/* Gemma's GELU goes through ggml's fp16 table. The reference rounds the same way, but its
 * gate values differ from llama.cpp's by ~1e-7, so about 1 in 2500 of the fp16 roundings
 * (43k per block here) land on the other side: a 2^-11 relative step in that element,
 * which the large post-FFN norm weights and the residual's outliers carry on. Measured
 * up to 7.7e-5 (blocks) and 3.5e-4 (logits); 1.8e-4 (blocks) with the window of 8, which
 * leaves most positions without their attention sink (BOS) and makes the model more
 * sensitive. A wrong RoPE base, embedding scale, window, attention scale or norm moves
 * these by 3e-2 or more. */
#define ARCH_REL_GELU 2e-3
/* 2: the same input on both sides and llama.cpp's rounding emulated: only the float32
 * arithmetic of llama.cpp's kernels differs (the order of its sums; the GELU table's entries
 * computed in float), ~1e-7 relative. A quantizer that rounded one value differently would
 * move that output by a whole quantum times a weight, far above this. */
#define OP_REL 1e-5
/* 3: llama.cpp's 8-bit rounding of every matmul input (error up to max|block| / 254 per
 * element: the plain products of check 2 differ by 2e-3 to 1.1e-2 relative per matmul), or
 * in the emulated run the flips described above, compounded through 18-30 blocks. Worst row's
 * relative L2 error measured at most 7.2e-2 (block outputs, SmolLM2). The logit rows carry more
 * (measured up to 1.4e-1: the final norm and the 49k-row output matrix add their own rounding to
 * whatever the last block's rows carry), so they get twice their worst observed value; the sharp
 * checks on the logits are the argmax and top-10 agreement asserted beside. */
#define QUANT_REL 0.15
#define QUANT_LOGITS_REL 0.3

/* ---------------------------------------------------------------- models ----------- */

/* One operation to check alone in the shipped model (check 2): the captured tensors (first
 * of each name) holding its input and its output, and either a matmul's weight (computing
 * the last n_rows positions, 0 = all) or, with weight NULL, Gemma's GEGLU, whose second
 * input in2 is the up projection. */
typedef struct {
    const char *in, *in2, *out;
    const char *weight;
    int n_rows;
} op_probe;

typedef struct {
    const char *name; /* <cache>/models/<name>.gguf, fetched by scripts/fetch-models.sh */
    const char *label;
    bool gemma;
    const char *prompts[2]; /* 20-40 tokens each */
    op_probe probes[8];
    int n_probes;
} real_model;

#define PROSE "The capital of France is Paris, and the capital of Germany is Berlin. The capital of Italy is"
#define CODE "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) +"

static const real_model GEMMA = {
    "gemma-3-270m",
    "gemma-3-270m",
    true,
    {PROSE, CODE},
    {
        {"attn_norm-0", NULL, "Qcur-0", "blk.0.attn_q.weight", 0},        /* Q5_0, input to Q8_0 */
        {"attn_norm-0", NULL, "Vcur-0", "blk.0.attn_v.weight", 0},        /* Q8_0, Q8_0 */
        {"ffn_geglu-0", NULL, "ffn_out-0", "blk.0.ffn_down.weight", 0},   /* Q6_K, Q8_K */
        {"ffn_geglu-2", NULL, "ffn_out-2", "blk.2.ffn_down.weight", 0},   /* Q4_K (repacked), Q8_K */
        {"result_norm", NULL, "result_output", "token_embd.weight", 2},   /* Q8_0 tied output */
        {"ffn_gate-0", "ffn_up-0", "ffn_geglu-0", NULL, 0},               /* GELU through fp16 */
    },
    6,
};

static const real_model SMOLLM = {
    "smollm2-135m-instruct",
    "smollm2-135m",
    false,
    {CODE, PROSE},
    {
        {"attn_norm-0", NULL, "Qcur-0", "blk.0.attn_q.weight", 0},        /* Q4_1, input to Q8_1 */
        {"ffn_swiglu-0", NULL, "ffn_out-0", "blk.0.ffn_down.weight", 0},  /* Q4_1, Q8_1 */
        {"result_norm", NULL, "result_output", "token_embd.weight", 2},   /* Q8_0 tied output */
    },
    3,
};

/* The fetched model (support/testutil's cache lookup); present, main checked. */
static const char *model_path(const real_model *rm) {
    const char *path = lw_test_real_model(rm->name);
    assert_non_null(path);
    return path;
}

/* ---------------------------------------------------------------- llama.cpp side ---- */

static void quiet_log(enum ggml_log_level level, const char *text, void *user_data) {
    (void)user_data;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

typedef struct {
    const char *name;
    int occurrence, seen;
    float *data; /* malloc'd copy, ne0 x nrows */
    int64_t ne0, nrows;
} captured;

typedef struct {
    float *resid; /* (n_layer + 1) x n x n_embd, rows 1.. filled */
    int n_layer, n, n_embd, n_seen;
    captured extra[24];
    int n_extra;
} capture;

static bool capture_cb(struct ggml_tensor *t, bool ask, void *user_data) {
    capture *c = user_data;
    bool wanted = false;
    if (strncmp(t->name, "l_out-", 6) == 0) {
        wanted = true;
        if (!ask) {
            const int il = atoi(t->name + 6);
            if (il >= 0 && il < c->n_layer && t->type == GGML_TYPE_F32 && t->ne[0] == c->n_embd && t->ne[1] == c->n &&
                ggml_is_contiguous(t)) {
                ggml_backend_tensor_get(t, c->resid + (size_t)(il + 1) * c->n * c->n_embd, 0, ggml_nbytes(t));
                c->n_seen++;
            }
        }
    }
    for (int i = 0; i < c->n_extra; i++) {
        captured *x = &c->extra[i];
        if (strcmp(t->name, x->name) != 0) continue;
        wanted = true;
        if (ask) continue;
        if (x->seen++ == x->occurrence && t->type == GGML_TYPE_F32 && ggml_is_contiguous(t)) {
            x->data = malloc(ggml_nbytes(t));
            if (x->data) ggml_backend_tensor_get(t, x->data, 0, ggml_nbytes(t));
            x->ne0 = t->ne[0];
            x->nrows = ggml_nelements(t) / t->ne[0];
        }
    }
    return ask ? wanted : true;
}

/* n_swa > 0 overrides gemma3.attention.sliding_window. */
static struct llama_model *llama_open(const char *path, int n_swa) {
    struct llama_model_kv_override kv[2];
    memset(kv, 0, sizeof kv);
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    if (n_swa > 0) {
        kv[0].tag = LLAMA_KV_OVERRIDE_TYPE_INT;
        snprintf(kv[0].key, sizeof kv[0].key, "gemma3.attention.sliding_window");
        kv[0].val_i64 = n_swa;
        mp.kv_overrides = kv;
    }
    struct llama_model *model = llama_model_load_from_file(path, mp);
    assert_non_null(model);
    return model;
}

/* One exact-precision batch: logits n x n_vocab; cap->resid and cap->extra filled. */
static void llama_run(struct llama_model *model, const int32_t *tokens, int n, float *logits, capture *cap) {
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 512;
    cp.n_batch = 512;
    cp.n_ubatch = 512; /* one micro-batch: the whole prompt in one graph */
    cp.n_seq_max = 1;
    cp.n_threads = 1; /* the machine's other core stays free for other tests; ggml's workers spin */
    cp.n_threads_batch = 1;
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    cp.cb_eval = capture_cb;
    cp.cb_eval_user_data = cap;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    assert_non_null(ctx);
    struct llama_batch batch = llama_batch_init(n, 0, 1);
    batch.n_tokens = n;
    for (int i = 0; i < n; i++) {
        batch.token[i] = tokens[i];
        batch.pos[i] = i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = 1;
    }
    cap->n_seen = 0;
    assert_int_equal(llama_decode(ctx, batch), 0);
    assert_int_equal(cap->n_seen, cap->n_layer);
    for (int i = 0; i < n; i++) {
        const float *row = llama_get_logits_ith(ctx, i);
        assert_non_null(row);
        memcpy(logits + (size_t)i * n_vocab, row, (size_t)n_vocab * sizeof(float));
    }
    llama_batch_free(batch);
    llama_free(ctx);
}

/* The model with every tensor dequantized to F32 by ggml's to_float, streamed to dst. */
static void write_f32_copy(const struct gguf_context *src, struct ggml_context *src_data, const char *dst_path) {
    struct gguf_context *dst = gguf_init_empty();
    gguf_set_kv(dst, src);
    const int64_t n_tensors = gguf_get_n_tensors(src);
    for (int64_t i = 0; i < n_tensors; i++) {
        const char *name = gguf_get_tensor_name(src, i);
        gguf_add_tensor(dst, ggml_get_tensor(src_data, name));
        gguf_set_tensor_type(dst, name, GGML_TYPE_F32);
    }
    FILE *f = fopen(dst_path, "wb");
    assert_non_null(f);
    assert_true(gguf_write_to_file_ptr(dst, f, true));
    const size_t align = gguf_get_alignment(dst);
    static const char zeros[256];
    assert_true(align <= sizeof zeros);
    long at = ftell(f);
    fwrite(zeros, 1, (size_t)((align - (size_t)at % align) % align), f);
    float *row = NULL;
    for (int64_t i = 0; i < n_tensors; i++) {
        const struct ggml_tensor *t = ggml_get_tensor(src_data, gguf_get_tensor_name(src, i));
        row = realloc(row, (size_t)t->ne[0] * sizeof(float));
        assert_non_null(row);
        const int64_t n_rows = ggml_nelements(t) / t->ne[0];
        for (int64_t r = 0; r < n_rows; r++) {
            ref_dequant_row(t, r, row); /* rows of a contiguous tensor: r * nb[1] */
            assert_int_equal(fwrite(row, sizeof(float), (size_t)t->ne[0], f), (size_t)t->ne[0]);
        }
        const size_t nbytes = (size_t)ggml_nelements(t) * sizeof(float);
        fwrite(zeros, 1, (align - nbytes % align) % align, f);
    }
    free(row);
    assert_int_equal(fclose(f), 0);
    gguf_free(dst);
}

/* ---------------------------------------------------------------- reference side ---- */

typedef struct {
    ref_gemma3 *g;
    ref_llama *l;
} ref_model;

static void ref_set_rounding(ref_model *r, unsigned flags) {
    assert_int_equal(r->g ? ref_gemma3_set_cpu_rounding(r->g, flags) : ref_llama_set_cpu_rounding(r->l, flags), 0);
}

/* logits: one row per position in pos[0..n_pos). ref_llama computes every position's
 * logits, so its rows are picked out afterwards. */
static void ref_run(const ref_model *r, const int32_t *tokens, int n, float *resid, float *logits, const int *pos,
                    int n_pos) {
    if (r->g) {
        assert_int_equal(ref_gemma3_forward(r->g, tokens, NULL, n, resid, logits, pos, n_pos), 0);
        return;
    }
    const size_t nv = (size_t)ref_llama_n_vocab(r->l);
    float *all = malloc((size_t)n * nv * sizeof(float));
    assert_non_null(all);
    assert_int_equal(ref_llama_forward(r->l, tokens, NULL, n, resid, all), 0);
    for (int i = 0; i < n_pos; i++) memcpy(logits + i * nv, all + (size_t)pos[i] * nv, nv * sizeof(float));
    free(all);
}

/* ---------------------------------------------------------------- comparison -------- */

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) {
        if (v[i] > v[best]) best = i;
    }
    return best;
}

enum { TOPK = 10, N_POS = 4 };

/* Indices of the TOPK largest entries. */
static void top_k(const float *v, int n, int *out) {
    for (int j = 0; j < TOPK; j++) out[j] = -1;
    for (int i = 0; i < n; i++) {
        int j = TOPK;
        while (j > 0 && (out[j - 1] < 0 || v[i] > v[out[j - 1]])) j--;
        if (j < TOPK) {
            memmove(out + j + 1, out + j, (size_t)(TOPK - 1 - j) * sizeof *out);
            out[j] = i;
        }
    }
}

typedef struct {
    /* Asserted: each position's row on its own scale (lw_test_max_row_rel_err, relative L2), so
     * Gemma's and SmolLM2's massive-activation rows set no scale for the others. */
    double block[64];    /* per block: worst position row's ||ref - cpp||_2 / ||cpp||_2 */
    double block_max;    /* the worst of those */
    int block_worst;
    double logits_rel;   /* ||ref - cpp||_2 / ||cpp||_2 of each compared logit row, worst row */
    double coord_max;    /* printed only: per coordinate over max(|cpp|, median |cpp|) (testutil), worst block */
    int argmax_agree;    /* compared positions with the same top token */
    double topk_overlap; /* mean |top10(ref) & top10(cpp)| / 10 */
} comparison;

static comparison compare(const float *ref_resid, const float *cpp_resid, const float *ref_logits,
                          const float *cpp_logits, int n_layer, int n, int d, int n_vocab, const int *pos) {
    comparison c = {0};
    const size_t block = (size_t)n * d;
    for (int l = 1; l <= n_layer; l++) {
        const double e = lw_test_max_row_rel_err(ref_resid + l * block, cpp_resid + l * block, (size_t)n, (size_t)d, 1e-6);
        const double ec = lw_test_max_rel_err(ref_resid + l * block, cpp_resid + l * block, block, 1e-6);
        if (ec > c.coord_max) c.coord_max = ec;
        if (l - 1 < 64) c.block[l - 1] = e;
        if (e > c.block_max) {
            c.block_max = e;
            c.block_worst = l - 1;
        }
    }
    int overlap = 0;
    for (int i = 0; i < N_POS; i++) {
        const float *a = ref_logits + (size_t)i * n_vocab, *b = cpp_logits + (size_t)pos[i] * n_vocab;
        const double e = lw_test_max_row_rel_err(a, b, 1, (size_t)n_vocab, 1e-6);
        if (e > c.logits_rel) c.logits_rel = e;
        c.argmax_agree += argmax(a, n_vocab) == argmax(b, n_vocab);
        int ta[TOPK], tb[TOPK];
        top_k(a, n_vocab, ta);
        top_k(b, n_vocab, tb);
        for (int x = 0; x < TOPK; x++) {
            for (int y = 0; y < TOPK; y++) overlap += ta[x] == tb[y];
        }
    }
    c.topk_overlap = (double)overlap / (TOPK * N_POS);
    return c;
}

static void print_comparison(const char *label, const char *mode, int n, const comparison *c, int n_layer) {
    fprintf(stderr,
            "[ref_real] %-13s %-22s n=%2d  blocks: worst row L2 rel %.1e (block %2d), per coordinate %.1e; "
            "logits row L2 rel %.1e, argmax %d/%d, top%d overlap %3.0f%%\n",
            label, mode, n, c->block_max, c->block_worst, c->coord_max, c->logits_rel, c->argmax_agree, N_POS, TOPK,
            100.0 * c->topk_overlap);
    fprintf(stderr, "[ref_real]   per block:");
    for (int l = 0; l < n_layer && l < 64; l++) fprintf(stderr, " %.0e", c->block[l]);
    fputc('\n', stderr);
}

static double seconds_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0->tv_nsec);
}

/* llama.cpp's outputs for one batch. */
typedef struct {
    float *logits; /* n x n_vocab */
    float *resid;  /* (n_layer + 1) x n x n_embd, rows 1.. */
    int n, n_vocab, d, n_layer;
    double seconds;
} llama_out;

static llama_out llama_capture(struct llama_model *model, const int32_t *tokens, int n, capture *cap) {
    llama_out o = {.n = n, .n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model)),
                   .d = llama_model_n_embd(model), .n_layer = llama_model_n_layer(model)};
    o.logits = malloc((size_t)n * o.n_vocab * sizeof(float));
    o.resid = calloc((size_t)(o.n_layer + 1) * n * o.d, sizeof(float));
    assert_true(o.logits && o.resid);
    cap->resid = o.resid;
    cap->n_layer = o.n_layer;
    cap->n = n;
    cap->n_embd = o.d;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    llama_run(model, tokens, n, o.logits, cap);
    o.seconds = seconds_since(&t0);
    cap->resid = NULL;
    /* a degenerate run would make agreement meaningless: the logits must actually vary */
    float lo = o.logits[0], hi = o.logits[0];
    for (size_t i = 0; i < (size_t)n * o.n_vocab; i++) {
        if (o.logits[i] < lo) lo = o.logits[i];
        if (o.logits[i] > hi) hi = o.logits[i];
    }
    assert_true(hi - lo > 5.0f);
    return o;
}

static void llama_out_free(llama_out *o) {
    free(o->logits);
    free(o->resid);
}

/* The reference on the same tokens, compared with llama.cpp's outputs. */
static comparison ref_compare(const llama_out *o, const ref_model *ref, const int32_t *tokens, const char *label,
                              const char *mode) {
    const int n = o->n;
    const int pos[N_POS] = {0, n / 3, 2 * n / 3, n - 1}; /* logits compared at these positions */
    float *ref_logits = malloc((size_t)N_POS * o->n_vocab * sizeof(float));
    float *ref_resid = calloc((size_t)(o->n_layer + 1) * n * o->d, sizeof(float));
    assert_true(ref_logits && ref_resid);
    const clock_t c0 = clock();
    ref_run(ref, tokens, n, ref_resid, ref_logits, pos, N_POS);
    const double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    comparison c = compare(ref_resid, o->resid, ref_logits, o->logits, o->n_layer, n, o->d, o->n_vocab, pos);
    print_comparison(label, mode, n, &c, o->n_layer);
    fprintf(stderr, "[ref_real]   (llama.cpp %.1f s wall, reference %.1f s cpu)\n", o->seconds, cpu);
    free(ref_logits);
    free(ref_resid);
    return c;
}

/* Check 2 for one probe: the reference's operation on llama.cpp's own captured input, with
 * llama.cpp's rounding emulated (must match to OP_REL) and plain (printed for scale). */
static void check_probe(const op_probe *p, const captured *in, const captured *in2, const captured *out,
                        struct ggml_context *weights, const char *label) {
    assert_non_null(in->data);
    assert_non_null(out->data);
    assert_int_equal(in->nrows, out->nrows);
    const struct ggml_tensor *w = p->weight ? ggml_get_tensor(weights, p->weight) : NULL;
    const int rows = p->n_rows > 0 ? p->n_rows : (int)in->nrows, first = (int)in->nrows - rows;
    const int64_t n_in = in->ne0, n_out_row = out->ne0;
    const size_t n_out = (size_t)rows * n_out_row;
    double *x = malloc((size_t)rows * n_in * sizeof *x), *y = malloc(n_out * sizeof *y);
    float *yf = malloc(n_out * sizeof *yf);
    assert_true(x && y && yf);
    for (size_t i = 0; i < (size_t)rows * n_in; i++) x[i] = in->data[(size_t)first * n_in + i];
    const float *want = out->data + (size_t)first * n_out_row;
    char what[96];
    if (w) {
        assert_int_equal(n_in, w->ne[0]);
        assert_int_equal(n_out_row, w->ne[1]);
        snprintf(what, sizeof what, "matmul %-22s %-4s x %-4s", p->weight, ggml_type_name(w->type),
                 ggml_type_name(ggml_get_type_traits_cpu(w->type)->vec_dot_type));
    } else {
        assert_non_null(in2);
        assert_non_null(in2->data);
        assert_int_equal(in2->ne0, n_in);
        assert_int_equal(n_out_row, n_in);
        snprintf(what, sizeof what, "%-44s", "geglu gelu(gate) * up, fp16 GELU");
    }
    double err[2];
    for (int emulate = 0; emulate < 2; emulate++) {
        if (w) {
            assert_int_equal(ref_matmul(y, x, rows, w, NULL, emulate), 0);
        } else {
            for (size_t i = 0; i < n_out; i++) y[i] = ref_gelu(x[i], emulate) * in2->data[(size_t)first * n_in + i];
        }
        for (size_t i = 0; i < n_out; i++) yf[i] = (float)y[i];
        err[emulate] = lw_test_max_row_rel_err(yf, want, (size_t)rows, (size_t)n_out_row, 1e-6);
    }
    fprintf(stderr, "[ref_real] %-13s %s %2d rows: emulated worst-row L2 rel %.1e, plain %.1e\n", label, what, rows,
            err[1], err[0]);
    assert_true(err[1] < OP_REL);
    assert_true(err[0] > 10 * err[1]); /* the emulation is what makes it tight */
    free(x);
    free(y);
    free(yf);
}

/* ---------------------------------------------------------------- the checks -------- */

/* Checks 1-3 on one tokenized prompt. f32[w]: llama.cpp on the F32 copy, f32[1] with the
 * window overridden to 8 (Gemma; run on the first prompt). */
static void check_prompt(const real_model *rm, ref_model *ref, struct llama_model *quant, struct llama_model *const f32[2],
                         struct ggml_context *weights, const int32_t *tokens, int n, bool first_prompt) {
    /* 1. architecture: F32 weights in llama.cpp, GELU rounded like ggml in the reference */
    const double tol = rm->gemma ? ARCH_REL_GELU : ARCH_REL;
    ref_set_rounding(ref, REF_ROUND_GELU_FP16);
    for (int wi = 0; wi < (f32[1] && first_prompt ? 2 : 1); wi++) {
        capture cap = {0};
        llama_out o = llama_capture(f32[wi], tokens, n, &cap);
        const int file_swa = rm->gemma ? ref_gemma3_sliding_window(ref->g) : 0;
        if (wi) ref_gemma3_set_sliding_window(ref->g, 8);
        const comparison c = ref_compare(&o, ref, tokens, rm->label, wi ? "F32 weights, window 8" : "F32 weights");
        if (wi) ref_gemma3_set_sliding_window(ref->g, file_swa);
        llama_out_free(&o);
        assert_true(c.block_max < tol);
        assert_true(c.logits_rel < tol);
        assert_int_equal(c.argmax_agree, N_POS);
    }

    /* 2 and 3: the shipped quantized model */
    capture cap = {0};
    int slot[8][3]; /* capture slots of each probe's in, in2, out */
    for (int i = 0; first_prompt && i < rm->n_probes; i++) {
        const char *names[3] = {rm->probes[i].in, rm->probes[i].in2, rm->probes[i].out};
        for (int j = 0; j < 3; j++) {
            slot[i][j] = -1;
            if (names[j]) {
                slot[i][j] = cap.n_extra;
                cap.extra[cap.n_extra++] = (captured){.name = names[j]};
            }
        }
    }
    llama_out o = llama_capture(quant, tokens, n, &cap);
    for (int i = 0; first_prompt && i < rm->n_probes; i++)
        check_probe(&rm->probes[i], &cap.extra[slot[i][0]], slot[i][1] >= 0 ? &cap.extra[slot[i][1]] : NULL,
                    &cap.extra[slot[i][2]], weights, rm->label);
    for (int i = 0; i < cap.n_extra; i++) free(cap.extra[i].data);
    ref_set_rounding(ref, REF_ROUND_ALL);
    const comparison emulated = ref_compare(&o, ref, tokens, rm->label, "quantized, emulated");
    ref_set_rounding(ref, 0);
    const comparison plain = ref_compare(&o, ref, tokens, rm->label, "quantized, plain f64");
    llama_out_free(&o);
    const comparison *both[2] = {&emulated, &plain};
    for (int i = 0; i < 2; i++) {
        assert_true(both[i]->block_max < QUANT_REL);
        assert_true(both[i]->logits_rel < QUANT_LOGITS_REL);
        assert_true(both[i]->argmax_agree >= N_POS - 1);
        assert_true(both[i]->topk_overlap >= 0.8);
    }
}

static void check_model(const real_model *rm) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const char *path = model_path(rm);
    struct ggml_context *weights = NULL;
    struct gguf_init_params gp = {.no_alloc = false, .ctx = &weights};
    struct gguf_context *gguf = gguf_init_from_file(path, gp);
    assert_non_null(gguf);
    struct llama_model *quant = llama_open(path, 0);
    const struct llama_vocab *vocab = llama_model_get_vocab(quant);
    const int n_layer = llama_model_n_layer(quant);

    char f32_name[128];
    snprintf(f32_name, sizeof f32_name, "%s.f32.gguf", rm->label);
    const char *f32_path = lw_test_tmpfile(f32_name);
    write_f32_copy(gguf, weights, f32_path);
    fprintf(stderr, "[ref_real] %s: F32 copy written after %.1f s\n", rm->label, seconds_since(&t0));

    ref_model ref = {0};
    if (rm->gemma) {
        ref.g = ref_gemma3_load(path);
        assert_non_null(ref.g);
        assert_int_equal(ref_gemma3_n_vocab(ref.g), llama_vocab_n_tokens(vocab));
        assert_int_equal(ref_gemma3_n_embd(ref.g), llama_model_n_embd(quant));
        assert_int_equal(ref_gemma3_n_layer(ref.g), n_layer);
        /* llama.cpp's pattern for Gemma 3: every 6th layer global */
        for (int l = 0; l < n_layer; l++) assert_int_equal(ref_gemma3_layer_is_swa(ref.g, l), l % 6 != 5);
    } else {
        ref.l = ref_llama_load(path);
        assert_non_null(ref.l);
        assert_int_equal(ref_llama_n_vocab(ref.l), llama_vocab_n_tokens(vocab));
        assert_int_equal(ref_llama_n_embd(ref.l), llama_model_n_embd(quant));
        assert_int_equal(ref_llama_n_layer(ref.l), n_layer);
    }

    struct llama_model *f32[2] = {llama_open(f32_path, 0), rm->gemma ? llama_open(f32_path, 8) : NULL};
    remove(f32_path); /* mapped by llama.cpp; the file goes when the models do */
    for (int p = 0; p < 2; p++) {
        int32_t tokens[64];
        const int n = llama_tokenize(vocab, rm->prompts[p], (int32_t)strlen(rm->prompts[p]), tokens, 64, true, false);
        assert_true(n >= 20 && n <= 40);
        check_prompt(rm, &ref, quant, f32, weights, tokens, n, p == 0);
    }
    llama_model_free(f32[0]);
    if (f32[1]) llama_model_free(f32[1]);
    ref_gemma3_free(ref.g);
    ref_llama_free(ref.l);
    llama_model_free(quant);
    gguf_free(gguf);
    ggml_free(weights);
    fprintf(stderr, "[ref_real] %s: %.1f s\n", rm->label, seconds_since(&t0));
}

static void test_gemma3_270m(void **state) {
    (void)state;
    check_model(&GEMMA);
}

static void test_smollm2_135m(void **state) {
    (void)state;
    check_model(&SMOLLM);
}

/* The reference refuses what it does not model, instead of computing it wrongly. */
static void test_ref_refuses_other_architectures(void **state) {
    (void)state;
    assert_null(ref_gemma3_load(model_path(&SMOLLM))); /* a llama model */
    assert_null(ref_llama_load(model_path(&GEMMA)));   /* a gemma3 model */
}

static int group_setup(void **state) {
    (void)state;
    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    llama_backend_free();
    return 0;
}

int main(void) {
    /* a missing model prints "SKIP: <model> not in <dir>; run scripts/fetch-models.sh" */
    const bool have_gemma = lw_test_real_model(GEMMA.name) != NULL;
    const bool have_smollm = lw_test_real_model(SMOLLM.name) != NULL;
    struct CMUnitTest tests[3];
    size_t n_tests = 0;
    if (have_gemma) tests[n_tests++] = (struct CMUnitTest)cmocka_unit_test(test_gemma3_270m);
    if (have_smollm) tests[n_tests++] = (struct CMUnitTest)cmocka_unit_test(test_smollm2_135m);
    if (have_gemma && have_smollm)
        tests[n_tests++] = (struct CMUnitTest)cmocka_unit_test(test_ref_refuses_other_architectures);
    const int failed =
        n_tests ? _cmocka_run_group_tests("test_ref_real", tests, n_tests, group_setup, group_teardown) : 0;
    if (failed) return 1;
    return have_gemma && have_smollm ? 0 : LW_TEST_SKIP; /* skipped, never passed */
}
