/* Checks of the hook sites inside blocks (attn_out, resid_mid, mlp_out, z) and of the logit
 * lens, included by tests/test_sites.c (synthetic llama) and tests/test_sites_real.c (Gemma 3,
 * SmolLM2). Each check runs the model through the library, fails the cmocka test on a
 * mismatch and prints what it measured ("  <name>: ..." lines on stderr).
 * Include after <cmocka.h>. */
#ifndef LW_SITECHECK_H
#define LW_SITECHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latentwire/runtime.h"
#include "support/testutil.h"

static const lw_site SC_BLOCK_SITES[5] = {LW_SITE_Z, LW_SITE_ATTN_OUT, LW_SITE_RESID_MID, LW_SITE_MLP_OUT,
                                          LW_SITE_RESID_POST};

/* Every site of every block at every position, and the logits, from one full run. */
typedef struct {
    int n_layer, n, d, dz, n_vocab;
    float *embed;             /* n x d */
    float *at[LW_SITE_COUNT]; /* [site]: n_layer x n x width (NULL for LW_SITE_EMBED) */
    float *logits;            /* n x n_vocab */
} sc_trace;

/* A hook installed before the capture hooks of a traced run (so the captures see its effect). */
typedef struct {
    lw_site site;
    int layer;
    lw_op op;
    const float *vectors;
    int n_vectors;
} sc_hook;

static int sc_width(const sc_trace *t, lw_site site) { return site == LW_SITE_Z ? t->dz : t->d; }

static const float *sc_row(const sc_trace *t, lw_site site, int layer, int pos) {
    if (site == LW_SITE_EMBED) return t->embed + (size_t)pos * t->d;
    int w = sc_width(t, site);
    return t->at[site] + ((size_t)layer * t->n + pos) * w;
}

static lw_session *sc_session(lw_model *m, int n_ubatch) {
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = 2;
    sp.n_ubatch = n_ubatch;
    lw_session *s = lw_session_new(m, sp);
    if (!s) fail_msg("session: %s", lw_last_error());
    return s;
}

static void sc_add_hook(lw_session *s, lw_site site, int layer, lw_op op, lw_pos_mode mode, const int32_t *pos,
                        int n_pos, const float *v, int n_v, int expect_id) {
    lw_hook h = lw_hook_default();
    h.site = site;
    h.layer = layer;
    h.op = op;
    h.pos_mode = mode;
    h.positions = pos;
    h.n_positions = n_pos;
    h.vectors = v;
    h.n_vectors = n_v;
    int id = lw_session_add_hook(s, &h);
    if (id < 0) fail_msg("hook at site %d block %d: %s", (int)site, layer, lw_last_error());
    if (expect_id >= 0) assert_int_equal(id, expect_id);
}

/* A block site's width, or 0 when the architecture has no such site (qwen2: no hook_attn_out). */
static int sc_site_width_or_0(lw_model *m, lw_site site) {
    int w = lw_site_width(m, site);
    if (w > 0) return w;
    lw_clear_error();
    return 0;
}

static void sc_trace_run_ub(lw_model *m, const int32_t *tok, int n, const sc_hook *extra, int n_extra, int n_ubatch,
                            sc_trace *t) {
    lw_model_info in;
    lw_model_get_info(m, &in);
    memset(t, 0, sizeof *t);
    t->n_layer = in.n_layer;
    t->n = n;
    t->d = in.n_embd;
    t->dz = sc_site_width_or_0(m, LW_SITE_Z);
    t->n_vocab = in.n_vocab;
    assert_true(t->dz > 0);
    bool has[5];
    for (int k = 0; k < 5; k++) has[k] = sc_site_width_or_0(m, SC_BLOCK_SITES[k]) > 0;
    lw_session *s = sc_session(m, n_ubatch);
    for (int i = 0; i < n_extra; i++)
        sc_add_hook(s, extra[i].site, extra[i].layer, extra[i].op, LW_POS_ALL, NULL, 0, extra[i].vectors,
                    extra[i].n_vectors, -1);
    int id = n_extra;
    sc_add_hook(s, LW_SITE_EMBED, 0, LW_OP_CAPTURE, LW_POS_ALL, NULL, 0, NULL, 0, id++);
    for (int l = 0; l < t->n_layer; l++)
        for (int k = 0; k < 5; k++)
            if (has[k]) sc_add_hook(s, SC_BLOCK_SITES[k], l, LW_OP_CAPTURE, LW_POS_ALL, NULL, 0, NULL, 0, id++);
    lw_span sp = {.tokens = tok, .n = n};
    lw_seq_input inp = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_ALL};
    if (lw_session_run(s, &inp, 1) != 0) fail_msg("run: %s", lw_last_error());
    assert_false(lw_session_stopped_early(s));
    t->embed = malloc(sizeof(float) * (size_t)n * t->d);
    for (int k = 0; k < 5; k++)
        if (has[k])
            t->at[SC_BLOCK_SITES[k]] = malloc(sizeof(float) * (size_t)t->n_layer * n * sc_width(t, SC_BLOCK_SITES[k]));
    t->logits = malloc(sizeof(float) * (size_t)n * t->n_vocab);
    id = n_extra;
    for (int l = -1; l < t->n_layer; l++)
        for (int k = l < 0 ? 4 : 0; k < 5; k++) {
            lw_site site = l < 0 ? LW_SITE_EMBED : SC_BLOCK_SITES[k];
            if (l >= 0 && !has[k]) continue;
            int w = sc_width(t, site);
            const float *rows;
            const int32_t *pos;
            assert_int_equal(lw_session_capture(s, id++, &rows, NULL, &pos), n);
            for (int r = 0; r < n; r++)
                memcpy((float *)sc_row(t, site, l, pos[r]), rows + (size_t)r * w, sizeof(float) * (size_t)w);
        }
    for (int p = 0; p < n; p++) {
        const float *l = lw_session_logits(s, 0, p);
        assert_non_null(l);
        memcpy(t->logits + (size_t)p * t->n_vocab, l, sizeof(float) * (size_t)t->n_vocab);
    }
    lw_session_free(s);
}

static void sc_trace_run(lw_model *m, const int32_t *tok, int n, const sc_hook *extra, int n_extra, sc_trace *t) {
    sc_trace_run_ub(m, tok, n, extra, n_extra, 512, t);
}

static void sc_trace_free(sc_trace *t) {
    free(t->embed);
    for (int k = 0; k < LW_SITE_COUNT; k++) free(t->at[k]);
    free(t->logits);
    memset(t, 0, sizeof *t);
}

/* The input to block L as the graph sees it: resid_post of L-1, or for L = 0 the embed site
 * times the architecture's input scale (gemma3.cpp: ggml_scale(inpL, sqrtf(n_embd)) for token ids). */
static void sc_resid_pre(lw_model *m, const sc_trace *t, int layer, int pos, float *out) {
    if (layer > 0) {
        memcpy(out, sc_row(t, LW_SITE_RESID_POST, layer - 1, pos), sizeof(float) * (size_t)t->d);
        return;
    }
    lw_model_info in;
    lw_model_get_info(m, &in);
    const float k = !strcmp(in.arch, "gemma3") ? sqrtf((float)t->d) : 1.0f;
    const float *e = sc_row(t, LW_SITE_EMBED, -1, pos);
    for (int j = 0; j < t->d; j++) out[j] = e[j] * k;
}

static double sc_max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

/* max over positions of max|a + b - c| / max|c|, rows of one block at every position */
static double sc_sum_err(const float *a, const float *b, const float *c, int d) {
    double e = 0, scale = sc_max_abs(c, (size_t)d);
    for (int j = 0; j < d; j++) {
        double x = fabs((double)(a[j] + b[j]) - c[j]);
        if (x > e) e = x;
    }
    return e / (scale > 1e-12 ? scale : 1e-12);
}

/* resid_mid = resid_pre + attn_out and resid_post = resid_mid + mlp_out everywhere, with
 * attn_out and mlp_out far from zero and a wrong pairing far from matching. */
static void sc_check_identities(lw_model *m, const char *name, const int32_t *tok, int n, double tol) {
    sc_trace t;
    sc_trace_run(m, tok, n, NULL, 0, &t);
    float *pre = malloc(sizeof(float) * (size_t)t.d);
    /* per block: the largest |attn_out| / |resid_mid| (and |mlp_out| / |resid_post|) over the
     * positions, and the largest error of the identity with the next block's attn_out */
    double worst_mid = 0, worst_post = 0, min_attn = INFINITY, min_mlp = INFINITY, min_wrong = INFINITY;
    for (int l = 0; l < t.n_layer; l++) {
        double ra_l = 0, rm_l = 0, ew_l = 0;
        for (int p = 0; p < n; p++) {
            sc_resid_pre(m, &t, l, p, pre);
            const float *attn = sc_row(&t, LW_SITE_ATTN_OUT, l, p), *mid = sc_row(&t, LW_SITE_RESID_MID, l, p),
                        *mlp = sc_row(&t, LW_SITE_MLP_OUT, l, p), *post = sc_row(&t, LW_SITE_RESID_POST, l, p);
            double em = sc_sum_err(pre, attn, mid, t.d), ep = sc_sum_err(mid, mlp, post, t.d);
            if (em > worst_mid) worst_mid = em;
            if (ep > worst_post) worst_post = ep;
            double ra = sc_max_abs(attn, (size_t)t.d) / sc_max_abs(mid, (size_t)t.d);
            double rm = sc_max_abs(mlp, (size_t)t.d) / sc_max_abs(post, (size_t)t.d);
            if (ra > ra_l) ra_l = ra;
            if (rm > rm_l) rm_l = rm;
            if (t.n_layer > 1) { /* another block's attn_out does not fit */
                double ew = sc_sum_err(pre, sc_row(&t, LW_SITE_ATTN_OUT, (l + 1) % t.n_layer, p), mid, t.d);
                if (ew > ew_l) ew_l = ew;
            }
            if (em >= tol || ep >= tol)
                fail_msg("%s: block %d position %d: resid_mid - (resid_pre + attn_out) %.3g, resid_post - (resid_mid "
                         "+ mlp_out) %.3g (relative)",
                         name, l, p, em, ep);
        }
        if (ra_l < min_attn) min_attn = ra_l;
        if (rm_l < min_mlp) min_mlp = rm_l;
        if (ew_l < min_wrong) min_wrong = ew_l;
    }
    fprintf(stderr,
            "  %s: identities over %d blocks x %d positions: max rel err resid_mid %.2e, resid_post %.2e; "
            "per block (min over blocks of the max over positions): |attn_out|/|resid_mid| %.2e, "
            "|mlp_out|/|resid_post| %.2e, error with the next block's attn_out %.2e\n",
            name, t.n_layer, n, worst_mid, worst_post, min_attn, min_mlp, min_wrong);
    assert_true(min_attn > 1e-2 && min_mlp > 1e-2);
    if (t.n_layer > 1) assert_true(min_wrong > 1e3 * tol);
    free(pre);
    sc_trace_free(&t);
}

/* The last block with output-row selection: hooks on a few listed positions, logits of the
 * last position only, so nodes after inp_out_ids hold those rows only. */
static void sc_check_last_block_rows(lw_model *m, const char *name, const int32_t *tok, int n, double tol) {
    sc_trace t;
    sc_trace_run(m, tok, n, NULL, 0, &t);
    const int L = t.n_layer - 1;
    const int32_t pos[3] = {1, n / 2, n - 2}; /* not the last: only these rows are outputs besides it */
    lw_session *s = sc_session(m, 512);
    for (int k = 0; k < 5; k++) sc_add_hook(s, SC_BLOCK_SITES[k], L, LW_OP_CAPTURE, LW_POS_LIST, pos, 3, NULL, 0, k);
    lw_span sp = {.tokens = tok, .n = n};
    lw_seq_input inp = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_LAST};
    if (lw_session_run(s, &inp, 1) != 0) fail_msg("%s: run: %s", name, lw_last_error());
    double worst = 0;
    for (int k = 0; k < 5; k++) {
        const float *rows;
        const int32_t *rp;
        int w = sc_width(&t, SC_BLOCK_SITES[k]);
        assert_int_equal(lw_session_capture(s, k, &rows, NULL, &rp), 3);
        for (int r = 0; r < 3; r++) {
            assert_int_equal(rp[r], pos[r]);
            double e = lw_test_max_rel_err(rows + (size_t)r * w, sc_row(&t, SC_BLOCK_SITES[k], L, pos[r]), (size_t)w, 1e-6);
            if (e > worst) worst = e;
            if (e >= tol) fail_msg("%s: last block, site %d, position %d differs from the full run by %.3g", name,
                                   (int)SC_BLOCK_SITES[k], pos[r], e);
        }
    }
    /* and the logits of the last position are the full run's */
    double el = lw_test_max_rel_err(lw_session_logits(s, 0, n - 1), t.logits + (size_t)(n - 1) * t.n_vocab,
                                    (size_t)t.n_vocab, 1e-6);
    fprintf(stderr, "  %s: last block with output rows {%d, %d, %d} + last: max rel err vs full run %.2e, logits %.2e\n",
            name, pos[0], pos[1], pos[2], worst, el);
    assert_true(el < tol);
    lw_session_free(s);
    sc_trace_free(&t);
}

/* Adds v at a site; the traced run is compared with the base trace. */
static void sc_vec(float *v, int w, double amp, double phase) {
    for (int j = 0; j < w; j++) v[j] = (float)(amp * sin(0.37 * j + phase));
}

static double sc_rms(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s / (double)(n ? n : 1));
}

static void sc_check_interventions(lw_model *m, const char *name, const int32_t *tok, const int32_t *donor, int n,
                                   double tol) {
    sc_trace base, don;
    sc_trace_run(m, tok, n, NULL, 0, &base);
    sc_trace_run(m, donor, n, NULL, 0, &don);
    const int d = base.d, dz = base.dz;
    float *v = malloc(sizeof(float) * (size_t)(d > dz ? d : dz)), *pre = malloc(sizeof(float) * (size_t)d);
    float *zero = calloc((size_t)dz, sizeof(float));
    const int blocks[2] = {base.n_layer / 2, base.n_layer - 1};
    for (int b = 0; b < 2; b++) {
        const int L = blocks[b];
        const size_t upto = (size_t)L * n; /* rows of blocks before L */
        /* add v at attn_out: resid_mid of L moves by v, nothing before it moves */
        double amp = sc_rms(sc_row(&base, LW_SITE_ATTN_OUT, L, 0), (size_t)n * d);
        sc_vec(v, d, amp, 1.0);
        sc_hook add_attn = {LW_SITE_ATTN_OUT, L, LW_OP_ADD, v, 1};
        sc_trace t;
        sc_trace_run(m, tok, n, &add_attn, 1, &t);
        for (int k = 0; k < 5; k++) {
            lw_site site = SC_BLOCK_SITES[k];
            assert_memory_equal(t.at[site], base.at[site], sizeof(float) * upto * sc_width(&t, site));
        }
        assert_memory_equal(sc_row(&t, LW_SITE_Z, L, 0), sc_row(&base, LW_SITE_Z, L, 0), sizeof(float) * n * dz);
        double e_attn = 0, e_mid = 0, e_post = 0, moved = 0;
        for (int p = 0; p < n; p++) {
            const float *mid0 = sc_row(&base, LW_SITE_RESID_MID, L, p), *mid1 = sc_row(&t, LW_SITE_RESID_MID, L, p);
            const float *at0 = sc_row(&base, LW_SITE_ATTN_OUT, L, p), *at1 = sc_row(&t, LW_SITE_ATTN_OUT, L, p);
            double sm = sc_max_abs(mid0, (size_t)d);
            for (int j = 0; j < d; j++) {
                double ea = fabs((double)at1[j] - ((double)at0[j] + v[j])) / sc_max_abs(at0, (size_t)d);
                double em = fabs((double)mid1[j] - ((double)mid0[j] + v[j])) / sm;
                if (ea > e_attn) e_attn = ea;
                if (em > e_mid) e_mid = em;
            }
            double ep = sc_sum_err(mid1, sc_row(&t, LW_SITE_MLP_OUT, L, p), sc_row(&t, LW_SITE_RESID_POST, L, p), d);
            if (ep > e_post) e_post = ep;
            double mv = lw_test_max_abs_diff(sc_row(&t, LW_SITE_MLP_OUT, L, p), sc_row(&base, LW_SITE_MLP_OUT, L, p), (size_t)d);
            if (mv > moved) moved = mv;
        }
        fprintf(stderr,
                "  %s: add v (rms %.3g) at blocks.%d.hook_attn_out: attn_out moved by v to %.2e, resid_mid to %.2e "
                "(relative), resid_post = resid_mid + mlp_out to %.2e; mlp_out changed by up to %.3g\n",
                name, amp, L, e_attn, e_mid, e_post, moved);
        if (e_attn >= tol || e_mid >= tol || e_post >= tol) fail_msg("%s: add at attn_out of block %d", name, L);
        assert_true(moved > 0); /* the MLP sees the shifted resid_mid */
        sc_trace_free(&t);

        /* add v at mlp_out: resid_mid unchanged, resid_post moves by v */
        amp = sc_rms(sc_row(&base, LW_SITE_MLP_OUT, L, 0), (size_t)n * d);
        sc_vec(v, d, amp, 2.0);
        sc_hook add_mlp = {LW_SITE_MLP_OUT, L, LW_OP_ADD, v, 1};
        sc_trace_run(m, tok, n, &add_mlp, 1, &t);
        assert_memory_equal(sc_row(&t, LW_SITE_RESID_MID, L, 0), sc_row(&base, LW_SITE_RESID_MID, L, 0),
                            sizeof(float) * n * d);
        double e_p = 0;
        for (int p = 0; p < n; p++) {
            const float *a = sc_row(&base, LW_SITE_RESID_POST, L, p), *c = sc_row(&t, LW_SITE_RESID_POST, L, p);
            double sc = sc_max_abs(a, (size_t)d);
            for (int j = 0; j < d; j++) {
                double e = fabs((double)c[j] - ((double)a[j] + v[j])) / sc;
                if (e > e_p) e_p = e;
            }
        }
        fprintf(stderr, "  %s: add v at blocks.%d.hook_mlp_out: resid_mid unchanged, resid_post moved by v to %.2e\n",
                name, L, e_p);
        if (e_p >= tol) fail_msg("%s: add at mlp_out of block %d: resid_post off by %.3g", name, L, e_p);
        sc_trace_free(&t);

        /* replace resid_mid with the donor's: everything after it is the donor's */
        sc_hook rep = {LW_SITE_RESID_MID, L, LW_OP_REPLACE, sc_row(&don, LW_SITE_RESID_MID, L, 0), n};
        sc_trace_run(m, tok, n, &rep, 1, &t);
        double e_d = lw_test_max_rel_err(sc_row(&t, LW_SITE_RESID_POST, L, 0), sc_row(&don, LW_SITE_RESID_POST, L, 0),
                                         (size_t)n * d, 1e-6);
        for (int l = L + 1; l < base.n_layer; l++)
            for (int k = 0; k < 5; k++) {
                lw_site site = SC_BLOCK_SITES[k];
                int w = sc_width(&t, site);
                double e = lw_test_max_rel_err(sc_row(&t, site, l, 0), sc_row(&don, site, l, 0), (size_t)n * w, 1e-6);
                if (e > e_d) e_d = e;
            }
        double e_l = lw_test_max_rel_err(t.logits, don.logits, (size_t)n * t.n_vocab, 1e-6);
        double differ = lw_test_max_abs_diff(base.logits, don.logits, (size_t)n * t.n_vocab);
        fprintf(stderr,
                "  %s: replace blocks.%d.hook_resid_mid with a donor's: later sites differ from the donor's by %.2e, "
                "logits by %.2e (the prompts' logits differ by %.3g)\n",
                name, L, e_d, e_l, differ);
        if (e_d >= tol || e_l >= tol) fail_msg("%s: donor replace at resid_mid of block %d", name, L);
        assert_true(differ > 1e-2);
        sc_trace_free(&t);

        /* z := 0: attention adds nothing */
        sc_hook z0 = {LW_SITE_Z, L, LW_OP_REPLACE, zero, 1};
        sc_trace_run(m, tok, n, &z0, 1, &t);
        assert_true(sc_max_abs(sc_row(&t, LW_SITE_Z, L, 0), (size_t)n * dz) == 0);
        assert_true(sc_max_abs(sc_row(&t, LW_SITE_ATTN_OUT, L, 0), (size_t)n * d) == 0);
        double e_z = 0;
        for (int p = 0; p < n; p++) {
            sc_resid_pre(m, &t, L, p, pre);
            double e = lw_test_max_rel_err(sc_row(&t, LW_SITE_RESID_MID, L, p), pre, (size_t)d, 1e-6);
            if (e > e_z) e_z = e;
        }
        assert_true(e_z < tol);
        sc_trace_free(&t);

        /* z := the same vector at every position: attn_out is the same at every position */
        sc_vec(v, dz, sc_rms(sc_row(&base, LW_SITE_Z, L, 0), (size_t)n * dz), 0.5);
        sc_hook zv = {LW_SITE_Z, L, LW_OP_REPLACE, v, 1};
        sc_trace_run(m, tok, n, &zv, 1, &t);
        for (int p = 1; p < n; p++) /* (equal up to the matmul kernels' row blocking) */
            assert_true(lw_test_max_rel_err(sc_row(&t, LW_SITE_ATTN_OUT, L, p), sc_row(&t, LW_SITE_ATTN_OUT, L, 0),
                                            (size_t)d, 1e-6) < tol);
        assert_true(lw_test_max_abs_diff(sc_row(&t, LW_SITE_ATTN_OUT, L, 0), sc_row(&base, LW_SITE_ATTN_OUT, L, 0),
                                         (size_t)d) > 0);
        fprintf(stderr, "  %s: blocks.%d.hook_z (width %d): z := 0 gives attn_out = 0 and resid_mid = resid_pre (%.2e); "
                        "z := one vector gives one attn_out row at every position\n",
                name, L, dz, e_z);
        sc_trace_free(&t);
    }
    free(v);
    free(pre);
    free(zero);
    sc_trace_free(&base);
    sc_trace_free(&don);
}

/* Capture-only runs at in-block sites (micro-batches of 4) stop early and capture what a full
 * run with the same micro-batches computes. */
static void sc_check_early_stop(lw_model *m, const char *name, const int32_t *tok, int n, double tol) {
    sc_trace t; /* the same micro-batches (Gemma 3's activations depend on their size at ~1e-2) */
    sc_trace_run_ub(m, tok, n, NULL, 0, 4, &t);
    lw_session *s = sc_session(m, 4); /* several micro-batches, each cut short */
    const int blocks[2] = {t.n_layer / 2, t.n_layer - 1};
    double worst = 0;
    for (int b = 0; b < 2; b++) {
        for (int k = 0; k < 5; k++) {
            for (int last = 0; last < 2; last++) { /* every position, or only the last (1 output row) */
                lw_session_clear_hooks(s);
                lw_site site = SC_BLOCK_SITES[k];
                sc_add_hook(s, site, blocks[b], LW_OP_CAPTURE, last ? LW_POS_LAST : LW_POS_ALL, NULL, 0, NULL, 0, 0);
                if (k > 0) /* and an earlier site of the same block */
                    sc_add_hook(s, SC_BLOCK_SITES[k - 1], blocks[b], LW_OP_CAPTURE, last ? LW_POS_LAST : LW_POS_ALL,
                                NULL, 0, NULL, 0, 1);
                lw_span sp = {.tokens = tok, .n = n};
                lw_seq_input inp = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_NONE};
                if (lw_session_run(s, &inp, 1) != 0) fail_msg("%s: run: %s", name, lw_last_error());
                assert_true(lw_session_stopped_early(s));
                assert_int_equal(lw_session_seq_len(s, 0), 0);
                for (int h = 0; h < (k > 0 ? 2 : 1); h++) {
                    lw_site hs = h == 0 ? site : SC_BLOCK_SITES[k - 1];
                    const float *rows;
                    const int32_t *pos;
                    int w = sc_width(&t, hs), got = lw_session_capture(s, h, &rows, NULL, &pos);
                    assert_int_equal(got, last ? 1 : n);
                    for (int r = 0; r < got; r++) {
                        double e = lw_test_max_rel_err(rows + (size_t)r * w, sc_row(&t, hs, blocks[b], pos[r]), (size_t)w, 1e-6);
                        if (e > worst) worst = e;
                        if (e >= tol) fail_msg("%s: early-stopped capture at site %d block %d position %d differs by %.3g",
                                               name, (int)hs, blocks[b], pos[r], e);
                    }
                }
            }
        }
    }
    fprintf(stderr, "  %s: early-stopped captures at every in-block site of blocks %d and %d: max rel err %.2e\n", name,
            blocks[0], blocks[1], worst);
    lw_session_free(s);
    sc_trace_free(&t);
}

/* The logit lens of the last block's resid_post against the real logits at every position.
 * Returns the max absolute error, *rel relative to the largest |logit|. */
static double sc_check_lens(lw_model *m, const char *name, const int32_t *tok, int n, double *rel) {
    sc_trace t;
    sc_trace_run(m, tok, n, NULL, 0, &t);
    const int nv = t.n_vocab, K = 5;
    float *lens = malloc(sizeof(float) * (size_t)n * nv), *lp = malloc(sizeof(float) * (size_t)nv);
    if (lw_logit_lens(m, sc_row(&t, LW_SITE_RESID_POST, t.n_layer - 1, 0), n, lens) != 0)
        fail_msg("%s: logit lens: %s", name, lw_last_error());
    double err = lw_test_max_abs_diff(lens, t.logits, (size_t)n * nv), top = sc_max_abs(t.logits, (size_t)n * nv);
    int agree = 0;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n * K);
    float *lps = malloc(sizeof(float) * (size_t)n * K);
    if (lw_logit_lens_topk(m, sc_row(&t, LW_SITE_RESID_POST, t.n_layer - 1, 0), n, K, ids, lps) != 0)
        fail_msg("%s: logit lens top-k: %s", name, lw_last_error());
    for (int p = 0; p < n; p++) {
        const float *a = lens + (size_t)p * nv, *b = t.logits + (size_t)p * nv;
        int ia = 0, ib = 0;
        for (int v = 1; v < nv; v++) {
            if (a[v] > a[ia]) ia = v;
            if (b[v] > b[ib]) ib = v;
        }
        agree += ia == ib;
        /* top-k: the k largest lens logits in order, with their log-softmax */
        lw_log_softmax(a, nv, lp);
        assert_int_equal(ids[(size_t)p * K], ia);
        for (int j = 0; j < K; j++) {
            int32_t id = ids[(size_t)p * K + j];
            assert_true(id >= 0 && id < nv);
            if (j > 0) {
                int32_t prev = ids[(size_t)p * K + j - 1];
                assert_true(a[prev] > a[id] || (a[prev] == a[id] && prev < id));
            }
            assert_float_equal(lps[(size_t)p * K + j], lp[id], 1e-5);
        }
        int beaten = 0; /* no token outside the top k beats the k-th */
        for (int v = 0; v < nv; v++) beaten += a[v] > a[ids[(size_t)p * K + K - 1]];
        assert_true(beaten <= K - 1);
    }
    *rel = err / top;
    fprintf(stderr, "  %s: logit lens at the last block vs real logits (%d positions x %d): max abs err %.3g, "
                    "relative to max |logit| %.3g: %.2e; argmax agrees at %d/%d positions\n",
            name, n, nv, err, top, *rel, agree, n);
    free(lens);
    free(lp);
    free(ids);
    free(lps);
    sc_trace_free(&t);
    return err;
}

#endif
