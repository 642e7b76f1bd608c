/* Runtime hooks: the residual stream we read and write must be the model's own.
 *
 * Numbered as in the runtime issue's acceptance list:
 *  1 captures and logits match the naive reference forward (tests/support/ref_llama.c)
 *  2 replacing activations with their own captured values leaves logits bit-identical
 *  3 replacing layer L with a donor's activations makes everything later the donor's
 *  4 a last-token replacement changes nothing at earlier positions
 *  5 soft tokens equal to token-embedding rows reproduce the token-input logits
 *  6 multi-sequence batches and micro-batch splits do not change the captures
 *  7 generation through the KV cache equals full recomputation (with and without a hook)
 *  8 early-stopped capture equals the full pass; the session keeps working after it
 * Bad input (9) and the RWKV fixtures (10) have files of their own. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/runtime.h"
#include "support/ref_llama.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static const char *SENTENCE = "Once upon a time, there was a little dog named Max who liked to run.";
static const char *DONOR = "The big red ball rolled down the hill and the cat ran after it fast.";

/* ------------------------------------------------------------ helpers */

typedef struct {
    int n_layer, d, n_vocab, n;
    float *resid;   /* (n_layer + 1) x n x d: [0] embed, [l+1] block l */
    float *logits;  /* n x n_vocab */
} trace;

static void trace_free(trace *t) {
    free(t->resid);
    free(t->logits);
    memset(t, 0, sizeof *t);
}

static float *resid_at(const trace *t, int site /* -1 embed, else layer */, int pos) {
    return t->resid + ((size_t)(site + 1) * t->n + pos) * t->d;
}

static lw_session *new_session(lw_model *m, int n_seq, int n_ubatch) {
    lw_session_params sp = lw_session_default_params();
    sp.n_seq_max = n_seq;
    sp.n_ubatch = n_ubatch;
    sp.n_threads = 2;
    lw_session *s = lw_session_new(m, sp);
    if (!s) fail_msg("session: %s", lw_last_error());
    return s;
}

/* Adds capture hooks on embed + every block for seq (or all); returns the first hook id. */
static int add_capture_all(lw_session *s, int n_layer, int seq) {
    lw_hook h = lw_hook_default();
    h.site = LW_SITE_EMBED;
    h.seq = seq;
    int first = lw_session_add_hook(s, &h);
    assert_true(first >= 0);
    for (int l = 0; l < n_layer; l++) {
        h = lw_hook_default();
        h.layer = l;
        h.seq = seq;
        assert_int_equal(lw_session_add_hook(s, &h), first + 1 + l);
    }
    return first;
}

/* Copies captured rows of hooks first..first+n_layer (sequence seq) into a trace. */
static void collect(lw_session *s, int first, int seq, trace *t) {
    for (int site = -1; site < t->n_layer; site++) {
        const float *rows;
        const int32_t *seqs, *pos;
        int n = lw_session_capture(s, first + 1 + site, &rows, &seqs, &pos);
        int got = 0;
        for (int r = 0; r < n; r++) {
            if (seqs[r] != seq) continue;
            assert_true(pos[r] >= 0 && pos[r] < t->n);
            memcpy(resid_at(t, site, pos[r]), rows + (size_t)r * t->d, sizeof(float) * t->d);
            got++;
        }
        assert_int_equal(got, t->n);
    }
}

static void trace_alloc(trace *t, lw_model *m, int n) {
    lw_model_info in;
    lw_model_get_info(m, &in);
    t->n_layer = in.n_layer;
    t->d = in.n_embd;
    t->n_vocab = in.n_vocab;
    t->n = n;
    t->resid = calloc((size_t)(in.n_layer + 1) * n * in.n_embd, sizeof(float));
    t->logits = calloc((size_t)n * in.n_vocab, sizeof(float));
}

static void copy_logits(lw_session *s, int seq, trace *t) {
    for (int p = 0; p < t->n; p++) {
        const float *l = lw_session_logits(s, seq, p);
        assert_non_null(l);
        memcpy(t->logits + (size_t)p * t->n_vocab, l, sizeof(float) * t->n_vocab);
    }
}

/* A full fresh run of one token sequence: every site captured, logits at every position.
 * Extra hooks can be installed by the caller through `extra` before the run. */
typedef void (*hook_installer)(lw_session *s, void *ud);

static void run_trace(lw_model *m, const int32_t *tok, const float *embd, int n, int n_ubatch, hook_installer extra,
                      void *ud, trace *t) {
    trace_alloc(t, m, n);
    lw_session *s = new_session(m, 1, n_ubatch);
    if (extra) extra(s, ud);
    int first = add_capture_all(s, t->n_layer, -1);
    lw_span sp = {.tokens = tok, .embd = embd, .n = n};
    lw_seq_input in = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_ALL};
    if (lw_session_run(s, &in, 1) != 0) fail_msg("run: %s", lw_last_error());
    assert_false(lw_session_stopped_early(s));
    collect(s, first, 0, t);
    copy_logits(s, 0, t);
    lw_session_free(s);
}

static int tokenize(lw_model *m, const char *text, int32_t **out) {
    int n = lw_tokenize_alloc(m, text, true, out);
    assert_true(n > 4);
    return n;
}

/* ------------------------------------------------------------ fixtures */

typedef struct {
    char path[1200];
    lw_model *m;
} fixture;

static fixture SYNTH;

static int setup_synth(void **state) {
    lw_synth_params p = lw_synth_default_params();
    p.n_layer = 3;
    snprintf(SYNTH.path, sizeof SYNTH.path, "%s", lw_test_tmpfile("synth.gguf"));
    if (lw_synth_write(SYNTH.path, &p) != 0) return -1;
    SYNTH.m = lw_model_load(SYNTH.path, lw_model_default_params());
    if (!SYNTH.m) {
        fprintf(stderr, "%s\n", lw_last_error());
        return -1;
    }
    *state = &SYNTH;
    return 0;
}

static int teardown_synth(void **state) {
    lw_model_free(SYNTH.m);
    return 0;
}

/* The models the comparisons run on: the synthetic one always, the real ones when present. */
static int models_for_test(lw_model **out, const char **names) {
    int n = 0;
    out[n] = SYNTH.m;
    names[n++] = SYNTH.path;
    static lw_model *real[2];
    static const char *rel[2] = {"models/stories260K.gguf", "models/tinystories656K.gguf"};
    for (int i = 0; i < 2; i++) {
        const char *p = lw_test_shared_path(rel[i]);
        if (!p) continue;
        if (!real[i]) real[i] = lw_model_load(p, lw_model_default_params());
        assert_non_null(real[i]);
        out[n] = real[i];
        names[n++] = rel[i];
    }
    return n;
}

/* ------------------------------------------------------------ 1 */

static void test_matches_reference(void **state) {
    lw_model *ms[3];
    const char *names[3];
    int nm = models_for_test(ms, names);
    for (int k = 0; k < nm; k++) {
        lw_model_info in;
        lw_model_get_info(ms[k], &in);
        ref_llama *ref = ref_llama_load(in.path);
        assert_non_null(ref);
        int32_t *tok;
        int n = tokenize(ms[k], SENTENCE, &tok);
        trace t;
        run_trace(ms[k], tok, NULL, n, 512, NULL, NULL, &t);
        float *rr = malloc(sizeof(float) * (size_t)(in.n_layer + 1) * n * in.n_embd);
        float *rl = malloc(sizeof(float) * (size_t)n * in.n_vocab);
        assert_int_equal(ref_llama_forward(ref, tok, NULL, n, rr, rl), 0);
        double worst = 0;
        for (int site = -1; site < in.n_layer; site++) {
            size_t sz = (size_t)n * in.n_embd;
            double e = lw_test_max_rel_err(resid_at(&t, site, 0), rr + (size_t)(site + 1) * sz, sz, 1e-6);
            if (e > worst) worst = e;
            if (e >= 1e-4) fail_msg("%s: site %d differs from the reference by %.3g", names[k], site, e);
        }
        double el = lw_test_max_rel_err(t.logits, rl, (size_t)n * in.n_vocab, 1e-6);
        fprintf(stderr, "  %s: max rel err activations %.2e, logits %.2e\n", names[k], worst, el);
        assert_true(el < 1e-4);
        free(rr);
        free(rl);
        free(tok);
        trace_free(&t);
        ref_llama_free(ref);
    }
}

/* ------------------------------------------------------------ 2 */

typedef struct {
    int site, n;
    const float *vectors;
    lw_op op;
    lw_pos_mode mode;
} patch;

static void install_patch(lw_session *s, void *ud) {
    const patch *p = ud;
    lw_hook h = lw_hook_default();
    h.site = p->site < 0 ? LW_SITE_EMBED : LW_SITE_RESID_POST;
    h.layer = p->site < 0 ? 0 : p->site;
    h.op = p->op;
    h.pos_mode = p->mode;
    h.vectors = p->vectors;
    h.n_vectors = p->n;
    if (lw_session_add_hook(s, &h) < 0) fail_msg("hook: %s", lw_last_error());
}

static void test_self_replace_is_identity(void **state) {
    lw_model *ms[3];
    const char *names[3];
    int nm = models_for_test(ms, names);
    for (int k = 0; k < nm; k++) {
        int32_t *tok;
        int n = tokenize(ms[k], SENTENCE, &tok);
        trace base;
        run_trace(ms[k], tok, NULL, n, 512, NULL, NULL, &base);
        for (int site = -1; site < base.n_layer; site++) {
            patch p = {.site = site, .n = n, .vectors = resid_at(&base, site, 0), .op = LW_OP_REPLACE, .mode = LW_POS_ALL};
            trace t;
            run_trace(ms[k], tok, NULL, n, 512, install_patch, &p, &t);
            if (memcmp(t.logits, base.logits, sizeof(float) * (size_t)n * base.n_vocab) != 0)
                fail_msg("%s: self-replace at site %d changed the logits", names[k], site);
            /* mean with itself is the identity too (x + x) / 2 == x exactly in floating point */
            p.op = LW_OP_MEAN;
            trace t2;
            run_trace(ms[k], tok, NULL, n, 512, install_patch, &p, &t2);
            assert_memory_equal(t2.logits, base.logits, sizeof(float) * (size_t)n * base.n_vocab);
            trace_free(&t);
            trace_free(&t2);
        }
        trace_free(&base);
        free(tok);
    }
}

/* ------------------------------------------------------------ 3 */

static void test_donor_replace(void **state) {
    lw_model *ms[3];
    const char *names[3];
    int nm = models_for_test(ms, names);
    for (int k = 0; k < nm; k++) {
        int32_t *tok, *dtok;
        int n = tokenize(ms[k], SENTENCE, &tok);
        int nd = tokenize(ms[k], DONOR, &dtok);
        int len = n < nd ? n : nd; /* same length: cut both to the shorter */
        trace donor, base;
        run_trace(ms[k], dtok, NULL, len, 512, NULL, NULL, &donor);
        run_trace(ms[k], tok, NULL, len, 512, NULL, NULL, &base);
        /* sanity: the prompts differ, so the test can fail */
        assert_true(lw_test_max_abs_diff(donor.logits, base.logits, (size_t)len * donor.n_vocab) > 1e-3);
        for (int L = 0; L < donor.n_layer; L++) {
            patch p = {.site = L, .n = len, .vectors = resid_at(&donor, L, 0), .op = LW_OP_REPLACE, .mode = LW_POS_ALL};
            trace t;
            run_trace(ms[k], tok, NULL, len, 512, install_patch, &p, &t);
            for (int later = L; later < donor.n_layer; later++) {
                size_t sz = (size_t)len * donor.d;
                double e = lw_test_max_rel_err(resid_at(&t, later, 0), resid_at(&donor, later, 0), sz, 1e-6);
                if (e >= 1e-5) fail_msg("%s: replace at %d, layer %d differs from donor by %.3g", names[k], L, later, e);
            }
            double el = lw_test_max_rel_err(t.logits, donor.logits, (size_t)len * donor.n_vocab, 1e-6);
            if (el >= 1e-5) fail_msg("%s: replace at %d, logits differ from donor by %.3g", names[k], L, el);
            trace_free(&t);
        }
        trace_free(&donor);
        trace_free(&base);
        free(tok);
        free(dtok);
    }
}

/* ------------------------------------------------------------ 4 */

static void test_last_token_replace_is_causal(void **state) {
    lw_model *ms[3];
    const char *names[3];
    int nm = models_for_test(ms, names);
    for (int k = 0; k < nm; k++) {
        int32_t *tok;
        int n = tokenize(ms[k], SENTENCE, &tok);
        trace base;
        run_trace(ms[k], tok, NULL, n, 512, NULL, NULL, &base);
        float *v = malloc(sizeof(float) * base.d);
        for (int j = 0; j < base.d; j++) v[j] = (float)sin(j * 1.7) * 3.0f;
        for (int L = 0; L < base.n_layer; L++) {
            patch p = {.site = L, .n = 1, .vectors = v, .op = LW_OP_REPLACE, .mode = LW_POS_LAST};
            trace t;
            run_trace(ms[k], tok, NULL, n, 512, install_patch, &p, &t);
            for (int site = -1; site < base.n_layer; site++)
                for (int pos = 0; pos < n - 1; pos++)
                    assert_memory_equal(resid_at(&t, site, pos), resid_at(&base, site, pos), sizeof(float) * base.d);
            assert_memory_equal(t.logits, base.logits, sizeof(float) * (size_t)(n - 1) * base.n_vocab);
            /* and the last position did change */
            assert_true(lw_test_max_abs_diff(t.logits + (size_t)(n - 1) * base.n_vocab,
                                             base.logits + (size_t)(n - 1) * base.n_vocab, base.n_vocab) > 1e-4);
            assert_memory_equal(resid_at(&t, L, n - 1), v, sizeof(float) * base.d);
            trace_free(&t);
        }
        free(v);
        trace_free(&base);
        free(tok);
    }
}

/* ------------------------------------------------------------ 5 */

static void test_soft_tokens(void **state) {
    lw_model *ms[3];
    const char *names[3];
    int nm = models_for_test(ms, names);
    for (int k = 0; k < nm; k++) {
        int32_t *tok;
        int n = tokenize(ms[k], SENTENCE, &tok);
        int nv, d;
        float *E = lw_model_token_embeddings(ms[k], &nv, &d);
        assert_non_null(E);
        float *rows = malloc(sizeof(float) * (size_t)n * d);
        for (int i = 0; i < n; i++) memcpy(rows + (size_t)i * d, E + (size_t)tok[i] * d, sizeof(float) * d);
        trace a, b;
        run_trace(ms[k], tok, NULL, n, 512, NULL, NULL, &a);
        run_trace(ms[k], NULL, rows, n, 512, NULL, NULL, &b);
        double e = lw_test_max_rel_err(b.logits, a.logits, (size_t)n * a.n_vocab, 1e-6);
        if (e >= 1e-6) fail_msg("%s: soft-token logits differ by %.3g", names[k], e);
        /* the embed site of soft tokens is the rows given */
        assert_memory_equal(resid_at(&b, -1, 0), rows, sizeof(float) * (size_t)n * d);

        /* a sequence mixing a token span and a soft-token span */
        lw_session *s = new_session(ms[k], 1, 512);
        int cut = n / 2;
        lw_span sp[2] = {{.tokens = tok, .n = cut}, {.embd = rows + (size_t)cut * d, .n = n - cut}};
        lw_seq_input in = {.seq = 0, .spans = sp, .n_spans = 2, .logits = LW_LOGITS_ALL};
        assert_int_equal(lw_session_run(s, &in, 1), 0);
        for (int p = 0; p < n; p++) {
            double ep = lw_test_max_rel_err(lw_session_logits(s, 0, p), a.logits + (size_t)p * a.n_vocab, a.n_vocab, 1e-6);
            if (ep >= 1e-5) fail_msg("%s: mixed spans, position %d differs by %.3g", names[k], p, ep);
        }
        lw_session_free(s);
        trace_free(&a);
        trace_free(&b);
        free(rows);
        free(E);
        free(tok);
    }
}

/* ------------------------------------------------------------ 6 */

static void test_batching_and_ubatch_split(void **state) {
    lw_model *ms[3];
    const char *names[3];
    int nm = models_for_test(ms, names);
    const char *texts[3] = {SENTENCE, DONOR, "Lily had a cat."};
    for (int k = 0; k < nm; k++) {
        int32_t *tok[3];
        int n[3];
        trace alone[3];
        for (int i = 0; i < 3; i++) {
            n[i] = tokenize(ms[k], texts[i], &tok[i]);
            run_trace(ms[k], tok[i], NULL, n[i], 512, NULL, NULL, &alone[i]);
        }
        /* all three in one batch, with micro-batches of 7 tokens that cut across sequences */
        for (int ub = 0; ub < 2; ub++) {
            lw_session *s = new_session(ms[k], 3, ub == 0 ? 512 : 7);
            int first = add_capture_all(s, alone[0].n_layer, -1);
            lw_span sp[3];
            lw_seq_input in[3];
            for (int i = 0; i < 3; i++) {
                sp[i] = (lw_span){.tokens = tok[i], .n = n[i]};
                in[i] = (lw_seq_input){.seq = i, .spans = &sp[i], .n_spans = 1, .logits = LW_LOGITS_ALL};
            }
            assert_int_equal(lw_session_run(s, in, 3), 0);
            for (int i = 0; i < 3; i++) {
                trace t;
                trace_alloc(&t, ms[k], n[i]);
                collect(s, first, i, &t);
                copy_logits(s, i, &t);
                size_t sz = (size_t)(t.n_layer + 1) * n[i] * t.d;
                double e = lw_test_max_rel_err(t.resid, alone[i].resid, sz, 1e-6);
                double el = lw_test_max_rel_err(t.logits, alone[i].logits, (size_t)n[i] * t.n_vocab, 1e-6);
                if (e >= 1e-5 || el >= 1e-5)
                    fail_msg("%s: batched seq %d (ubatch %s) differs: act %.3g logits %.3g", names[k], i,
                             ub ? "7" : "512", e, el);
                trace_free(&t);
            }
            lw_session_free(s);
        }
        /* one long sequence cut into micro-batches of 5 equals one micro-batch */
        trace split;
        run_trace(ms[k], tok[0], NULL, n[0], 5, NULL, NULL, &split);
        size_t sz = (size_t)(split.n_layer + 1) * n[0] * split.d;
        assert_true(lw_test_max_rel_err(split.resid, alone[0].resid, sz, 1e-6) < 1e-5);
        assert_true(lw_test_max_rel_err(split.logits, alone[0].logits, (size_t)n[0] * split.n_vocab, 1e-6) < 1e-5);
        trace_free(&split);
        for (int i = 0; i < 3; i++) {
            trace_free(&alone[i]);
            free(tok[i]);
        }
    }
}

/* ------------------------------------------------------------ 7 */

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

static void check_generation(lw_model *m, const char *name, const patch *hook) {
    int32_t *tok;
    int n = tokenize(m, "Once upon a time", &tok);
    lw_session *s = new_session(m, 1, 512);
    if (hook) install_patch(s, (void *)hook);
    lw_gen_params gp = lw_gen_default_params();
    gp.max_tokens = 24;
    gp.stop_at_eos = false;
    int32_t out[24];
    lw_span sp = {.tokens = tok, .n = n};
    int got = lw_generate(s, 0, &sp, 1, &gp, out, 24);
    assert_int_equal(got, 24);
    lw_session_free(s);
    /* recompute every step from scratch, no cache */
    int32_t *all = malloc(sizeof(int32_t) * (n + 24));
    memcpy(all, tok, sizeof(int32_t) * n);
    for (int i = 0; i < 24; i++) {
        lw_session *f = new_session(m, 1, 512);
        if (hook) install_patch(f, (void *)hook);
        lw_span fs = {.tokens = all, .n = n + i};
        lw_seq_input in = {.seq = 0, .spans = &fs, .n_spans = 1, .logits = LW_LOGITS_LAST};
        assert_int_equal(lw_session_run(f, &in, 1), 0);
        lw_model_info info;
        lw_model_get_info(m, &info);
        int best = argmax(lw_session_logits(f, 0, n + i - 1), info.n_vocab);
        if (best != out[i]) fail_msg("%s: step %d: cached generation chose %d, recomputation %d", name, i, out[i], best);
        all[n + i] = out[i];
        lw_session_free(f);
    }
    free(all);
    free(tok);
}

static void test_generation_matches_recompute(void **state) {
    lw_model *ms[3];
    const char *names[3];
    int nm = models_for_test(ms, names);
    for (int k = 0; k < nm; k++) {
        lw_model_info in;
        lw_model_get_info(ms[k], &in);
        check_generation(ms[k], names[k], NULL);
        float *v = malloc(sizeof(float) * in.n_embd);
        for (int j = 0; j < in.n_embd; j++) v[j] = (float)cos(j * 0.37) * 0.5f;
        patch p = {.site = in.n_layer / 2, .n = 1, .vectors = v, .op = LW_OP_ADD, .mode = LW_POS_ALL};
        check_generation(ms[k], names[k], &p);
        free(v);
    }
}

/* ------------------------------------------------------------ 8 */

static void test_early_stop(void **state) {
    lw_model *ms[3];
    const char *names[3];
    int nm = models_for_test(ms, names);
    for (int k = 0; k < nm; k++) {
        int32_t *tok;
        int n = tokenize(ms[k], SENTENCE, &tok);
        trace full;
        run_trace(ms[k], tok, NULL, n, 512, NULL, NULL, &full);
        lw_session *s = new_session(ms[k], 1, 4); /* several micro-batches, each cut short */
        lw_model_info in;
        lw_model_get_info(ms[k], &in);
        for (int L = -1; L < in.n_layer; L++) {
            lw_session_clear_hooks(s);
            lw_hook h = lw_hook_default();
            h.site = L < 0 ? LW_SITE_EMBED : LW_SITE_RESID_POST;
            h.layer = L < 0 ? 0 : L;
            int id = lw_session_add_hook(s, &h);
            lw_span sp = {.tokens = tok, .n = n};
            lw_seq_input inp = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_NONE};
            assert_int_equal(lw_session_run(s, &inp, 1), 0);
            assert_true(lw_session_stopped_early(s));
            assert_int_equal(lw_session_seq_len(s, 0), 0); /* the partial state was dropped */
            const float *rows;
            const int32_t *pos;
            assert_int_equal(lw_session_capture(s, id, &rows, NULL, &pos), n);
            for (int r = 0; r < n; r++) {
                double e = lw_test_max_rel_err(rows + (size_t)r * in.n_embd, resid_at(&full, L, pos[r]), in.n_embd, 1e-6);
                if (e >= 1e-5) fail_msg("%s: early-stopped capture at %d differs by %.3g", names[k], L, e);
            }
        }
        /* the same session still computes correct logits afterwards */
        lw_session_clear_hooks(s);
        lw_span sp = {.tokens = tok, .n = n};
        lw_seq_input inp = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_ALL};
        assert_int_equal(lw_session_run(s, &inp, 1), 0);
        assert_false(lw_session_stopped_early(s));
        for (int p = 0; p < n; p++)
            assert_true(lw_test_max_rel_err(lw_session_logits(s, 0, p), full.logits + (size_t)p * in.n_vocab,
                                            in.n_vocab, 1e-6) < 1e-5);
        lw_session_free(s);
        trace_free(&full);
        free(tok);
    }
}

/* Ops restricted to a coordinate range touch only those coordinates (AC between widths). */
static void test_coordinate_range(void **state) {
    lw_model *m = SYNTH.m;
    lw_model_info in;
    lw_model_get_info(m, &in);
    const int d = in.n_embd, half = d / 2;
    int32_t *tok;
    int n = tokenize(m, SENTENCE, &tok);
    trace base;
    run_trace(m, tok, NULL, n, 512, NULL, NULL, &base);
    float *v = malloc(sizeof(float) * d);
    for (int j = 0; j < d; j++) v[j] = 0.25f * (float)(j % 7) - 0.5f;
    const lw_op ops[3] = {LW_OP_REPLACE, LW_OP_ADD, LW_OP_MEAN};
    for (int k = 0; k < 3; k++) {
        lw_session *s = new_session(m, 1, 512);
        lw_hook h = lw_hook_default();
        h.layer = 1;
        h.op = ops[k];
        h.pos_mode = LW_POS_LAST;
        h.vectors = v;
        h.n_vectors = 1;
        h.coord_begin = half;
        h.coord_end = d;
        assert_true(lw_session_add_hook(s, &h) >= 0);
        lw_hook cap = lw_hook_default(); /* installed after: sees the modified row */
        cap.layer = 1;
        cap.pos_mode = LW_POS_LAST;
        int id = lw_session_add_hook(s, &cap);
        lw_span sp = {.tokens = tok, .n = n};
        lw_seq_input inp = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_LAST};
        assert_int_equal(lw_session_run(s, &inp, 1), 0);
        const float *row;
        assert_int_equal(lw_session_capture(s, id, &row, NULL, NULL), 1);
        const float *own = resid_at(&base, 1, n - 1);
        assert_memory_equal(row, own, sizeof(float) * half);
        for (int j = half; j < d; j++) {
            float want = ops[k] == LW_OP_REPLACE ? v[j] : ops[k] == LW_OP_ADD ? own[j] + v[j] : (own[j] + v[j]) * 0.5f;
            assert_float_equal(row[j], want, 1e-6);
        }
        lw_session_free(s);
    }
    /* a range outside the width is refused */
    lw_session *s = new_session(m, 1, 512);
    lw_hook h = lw_hook_default();
    h.op = LW_OP_ADD;
    h.vectors = v;
    h.n_vectors = 1;
    h.coord_begin = 3;
    h.coord_end = d + 1;
    assert_int_equal(lw_session_add_hook(s, &h), -1);
    lw_session_free(s);
    free(v);
    free(tok);
    trace_free(&base);
}

/* Session settings a binding can pass that llama.cpp would take into an out-of-memory abort (a
 * context or micro-batch of 2e9 tokens) or read as another mode (precision 9, logits mode 9):
 * refused with the accepted range; a micro-batch past the context counts as the context. */
static void test_session_params_checked(void **state) {
    lw_model *m = ((fixture *)*state)->m;
    lw_session_params sp = lw_session_default_params();
    sp.n_ctx = 2000000000;
    assert_null(lw_session_new(m, sp));
    assert_non_null(strstr(lw_last_error(), "n_ctx must be in [0, 1048576] (got 2000000000"));
    sp = lw_session_default_params();
    sp.precision = (lw_precision)9;
    assert_null(lw_session_new(m, sp));
    assert_non_null(strstr(lw_last_error(), "precision 9"));
    sp = lw_session_default_params();
    sp.n_threads = -2;
    assert_null(lw_session_new(m, sp));
    assert_non_null(strstr(lw_last_error(), "n_threads must be >= 0"));
    sp = lw_session_default_params();
    sp.n_ctx = 64;
    sp.n_ubatch = 2000000000;
    lw_session *s = lw_session_new(m, sp);
    assert_non_null(s);
    assert_int_equal(lw_session_n_ctx(s), 64);
    int32_t tok[3] = {1, 2, 3};
    lw_span span = {.tokens = tok, .n = 3};
    lw_seq_input in = {.seq = 0, .spans = &span, .n_spans = 1, .logits = (lw_logits_mode)9};
    assert_int_equal(lw_session_run(s, &in, 1), -1);
    assert_non_null(strstr(lw_last_error(), "logits mode 9"));
    in.logits = LW_LOGITS_LAST;
    assert_int_equal(lw_session_run(s, &in, 1), 0);
    assert_non_null(lw_session_logits(s, 0, 2));
    lw_session_free(s);
}

/* Generation that runs out of context stops early and says so (lw_generate_stop_reason), where
 * one that reaches max_tokens says LENGTH; a failed call or a NULL session says NONE. */
static void test_generation_stop_reason(void **state) {
    lw_model *m = ((fixture *)*state)->m;
    assert_int_equal(lw_generate_stop_reason(NULL), LW_GEN_STOP_NONE);
    lw_session_params sp = lw_session_default_params();
    sp.n_ctx = 16;
    sp.n_threads = 2;
    lw_session *s = lw_session_new(m, sp);
    assert_non_null(s);
    assert_int_equal(lw_generate_stop_reason(s), LW_GEN_STOP_NONE);
    int32_t *tok;
    int n = tokenize(m, "Once upon a time", &tok);
    assert_true(n < 12);
    lw_gen_params gp = lw_gen_default_params();
    gp.max_tokens = 40;
    gp.stop_at_eos = false;
    int32_t out[40];
    lw_span span = {.tokens = tok, .n = n};
    int got = lw_generate(s, 0, &span, 1, &gp, out, 40);
    /* the prompt's n positions plus got - 1 forwarded tokens fill the 16 (the last one sampled is never forwarded) */
    assert_int_equal(got, 16 - n + 1);
    assert_int_equal(lw_generate_stop_reason(s), LW_GEN_STOP_CONTEXT);
    lw_session_clear(s, -1);
    gp.max_tokens = 3;
    assert_int_equal(lw_generate(s, 0, &span, 1, &gp, out, 40), 3);
    assert_int_equal(lw_generate_stop_reason(s), LW_GEN_STOP_LENGTH);
    gp.top_k = -1; /* refused: NONE again */
    assert_int_equal(lw_generate(s, 0, &span, 1, &gp, out, 40), -1);
    assert_int_equal(lw_generate_stop_reason(s), LW_GEN_STOP_NONE);
    free(tok);
    lw_session_free(s);
}

/* A model loaded for a GPU turns ggml-cuda's fusion off for the process (a capture depended on
 * which other sites were hooked), unless the user set the variable; a CPU load leaves it alone. */
static void test_gpu_load_turns_fusion_off(void **state) {
    const char *path = ((fixture *)*state)->path; /* the synthetic model: no ../shared needed */
    unsetenv("GGML_CUDA_DISABLE_FUSION");
    lw_model_params mp = lw_model_default_params();
    lw_model *m = lw_model_load(path, mp);
    assert_non_null(m);
    assert_null(getenv("GGML_CUDA_DISABLE_FUSION"));
    lw_model_free(m);
    mp.n_gpu_layers = 99;
    m = lw_model_load(path, mp);
    assert_non_null(m);
    assert_string_equal(getenv("GGML_CUDA_DISABLE_FUSION"), "1");
    lw_model_free(m);
    setenv("GGML_CUDA_DISABLE_FUSION", "0", 1); /* the user's choice stands */
    m = lw_model_load(path, mp);
    assert_string_equal(getenv("GGML_CUDA_DISABLE_FUSION"), "0");
    lw_model_free(m);
    unsetenv("GGML_CUDA_DISABLE_FUSION");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_self_replace_is_identity),
        cmocka_unit_test(test_donor_replace),
        cmocka_unit_test(test_last_token_replace_is_causal),
        cmocka_unit_test(test_soft_tokens),
        cmocka_unit_test(test_batching_and_ubatch_split),
        cmocka_unit_test(test_generation_matches_recompute),
        cmocka_unit_test(test_early_stop),
        cmocka_unit_test(test_coordinate_range),
        cmocka_unit_test(test_session_params_checked),
        cmocka_unit_test(test_generation_stop_reason),
        cmocka_unit_test(test_gpu_load_turns_fusion_off),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup_synth, teardown_synth));
}
