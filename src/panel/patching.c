/* The patching panel (latentwire/panel.h): receivers x donors x depths, each cell scoring a
 * targeted patch against a fitted-baseline patch and a decoy patch on the same prompts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonio.h"
#include "common/logsumexp.h"
#include "common/rng.h"
#include "eval/eval.h"
#include "latentwire/bridge.h"
#include "latentwire/channel.h"
#include "latentwire/panel.h"
#include "panel/patching_records.h"

lw_patching_params lw_patching_default_params(void) {
    static const double MIDDLE[1] = {0.5};
    lw_patching_params p;
    memset(&p, 0, sizeof p);
    p.depths = MIDDLE;
    p.n_depths = 1;
    p.continuation_tokens = 4;
    p.position = -1;
    p.reuse_prefix = true;
    p.threshold = 0.05;
    p.resamples = 2000;
    p.seed = 1;
    return p;
}

void lw_patching_result_free(lw_patching_result *r) {
    if (!r) return;
    free(r->cells);
    free(r->e_target);
    free(r->e_baseline);
    free(r->e_decoy);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------ scoring one patch */

/* log p(token) from logits, in double; the parts subtracted one at a time, as the recorded
 * scores always were (not lw_log_softmax's l - (max + log sum), which rounds differently). */
static double token_logprob(const float *logits, int n_vocab, int32_t token) {
    const lw_lse_terms e = lw_lse_terms_of(logits, n_vocab, 1.0);
    return (double)logits[token] - e.max - log(e.sum);
}

/* With prompt[0..pos) resident in sequence 0: runs prompt[pos..n) and the continuation but its
 * last token, with vec written at (layer, pos) when given, and returns the continuation's mean
 * log-probability; sequence 0 is cut back to pos positions afterwards. */
static int score_after_prefix(lw_session *s, const int32_t *prompt, int n, const int32_t *cont, int m, int layer,
                              int pos, const float *vec, bool add, double *score) {
    lw_model_info info;
    lw_model_get_info(lw_session_model(s), &info);
    const int n_run = n - pos + m - 1;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)n_run);
    if (!tok) return lw_fail("panel: out of memory");
    memcpy(tok, prompt + pos, sizeof(int32_t) * (size_t)(n - pos));
    memcpy(tok + (n - pos), cont, sizeof(int32_t) * (size_t)(m - 1));
    int rc = 0;
    if (vec) {
        lw_hook h = lw_hook_default();
        h.site = LW_SITE_RESID_POST;
        h.layer = layer;
        h.seq = 0;
        h.op = add ? LW_OP_ADD : LW_OP_REPLACE;
        h.pos_mode = LW_POS_LIST;
        const int32_t where = pos;
        h.positions = &where;
        h.n_positions = 1;
        h.vectors = vec;
        h.n_vectors = 1;
        rc = lw_session_add_hook(s, &h) < 0 ? -1 : 0;
    }
    lw_span sp = {.tokens = tok, .n = n_run};
    lw_seq_input in = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_ALL};
    if (rc == 0) rc = lw_session_run(s, &in, 1);
    double sum = 0;
    for (int j = 0; rc == 0 && j < m; j++) {
        const float *l = lw_session_logits(s, 0, n - 1 + j);
        if (!l) rc = lw_fail("panel: no logits at position %d", n - 1 + j);
        else sum += token_logprob(l, info.n_vocab, cont[j]);
    }
    lw_session_clear_hooks(s);
    if (lw_session_seq_len(s, 0) > pos && lw_session_truncate(s, 0, pos) != 0) rc = -1;
    free(tok);
    if (rc == 0) *score = sum / m;
    return rc;
}

/* Clears sequence 0 and makes prompt[0..pos) resident. */
static int run_prefix(lw_session *s, const int32_t *prompt, int pos) {
    lw_session_clear(s, 0);
    if (pos == 0) return 0;
    lw_span sp = {.tokens = prompt, .n = pos};
    lw_seq_input in = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_NONE};
    return lw_session_run(s, &in, 1);
}

static int check_score_args(lw_session *s, int n, int m, int layer, int position, int *pos) {
    if (!s) return lw_fail("panel: the receiver session is NULL");
    /* -1 is the last position; -2 was read as -1 too, another position than asked for */
    if (position < -1) return lw_fail("panel: patch position %d: use -1 (the last prompt position) or k >= 0", position);
    lw_model_info info;
    lw_model_get_info(lw_session_model(s), &info);
    *pos = position < 0 ? n - 1 : position;
    if (n < 1 || m < 1) return lw_fail("panel: an empty prompt (%d tokens) or continuation (%d tokens)", n, m);
    if (*pos >= n) return lw_fail("panel: patch position %d is past the receiver's prompt of %d tokens", *pos, n);
    if (layer < 0 || layer >= info.n_layer)
        return lw_fail("panel: layer %d is outside the receiver's %d blocks", layer, info.n_layer);
    return 0;
}

int lw_panel_score(lw_session *receiver, const int32_t *prompt, int n_prompt, const int32_t *cont, int n_cont,
                   int layer, int position, const float *vec, bool add, double *score) {
    int pos;
    if (!prompt || !cont || !score)
        return lw_fail("lw_panel_score: %s is NULL", !prompt ? "the prompt" : !cont ? "the continuation" : "score");
    if (check_score_args(receiver, n_prompt, n_cont, layer, position, &pos) != 0) return -1;
    if (run_prefix(receiver, prompt, pos) != 0) return -1;
    int rc = score_after_prefix(receiver, prompt, n_prompt, cont, n_cont, layer, pos, vec, add, score);
    lw_session_clear(receiver, 0);
    return rc;
}

/* ------------------------------------------------------------------ fitted pieces */

static int model_layer(lw_session *s, double depth) {
    lw_model_info info;
    lw_model_get_info(lw_session_model(s), &info);
    return (int)lround(depth * (info.n_layer - 1));
}

/* Last-position residuals at layer of n texts: n x n_embd (malloc'd). */
static float *last_residuals(lw_session *s, int layer, const char *const *texts, int n) {
    lw_model_info info;
    lw_model_get_info(lw_session_model(s), &info);
    float *out = malloc(sizeof(float) * (size_t)n * info.n_embd);
    if (!out) {
        lw_fail("panel: out of memory");
        return NULL;
    }
    float *const outs[1] = {out};
    const int layers[1] = {layer};
    if (lw_extract_pooled(s, texts, n, info.add_bos, false, layers, 1, LW_POOL_LAST, outs, NULL) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

int lw_panel_fit_baseline(lw_session *s, int layer, const char *const *texts, int n, float *out) {
    if (!out) return lw_fail("lw_panel_fit_baseline: out is NULL");
    if (n < 1) return lw_fail("panel: the fitted baseline needs calibration texts");
    float *r = last_residuals(s, layer, texts, n);
    if (!r) return -1;
    lw_model_info info;
    lw_model_get_info(lw_session_model(s), &info);
    for (int k = 0; k < info.n_embd; k++) {
        double sum = 0;
        for (int i = 0; i < n; i++) sum += r[(size_t)i * info.n_embd + k];
        out[k] = (float)(sum / n);
    }
    free(r);
    return 0;
}

/* ------------------------------------------------------------------ the donor's content */

typedef struct {
    int32_t *tok;
    int n;
} tokens;

/* The donor's greedy continuation of each donor text (its own token ids). */
static int donor_continuations(lw_session *d, const lw_panel_prompt *pr, int n, int m, tokens *out) {
    const lw_model *model = lw_session_model(d);
    lw_model_info info;
    lw_model_get_info(model, &info);
    lw_gen_params gp = lw_gen_default_params();
    gp.max_tokens = m;
    gp.stop_at_eos = false; /* m tokens always: the effect is a mean over a fixed length */
    for (int i = 0; i < n; i++) {
        int32_t *p;
        int np = lw_tokenize_alloc(model, pr[i].donor_text, info.add_bos, &p);
        if (np <= 0) return np == 0 ? lw_fail("panel: donor text %d is empty", i) : -1;
        lw_session_clear(d, 0);
        lw_span sp = {.tokens = p, .n = np};
        out[i].tok = malloc(sizeof(int32_t) * (size_t)m);
        out[i].n = lw_generate(d, 0, &sp, 1, &gp, out[i].tok, m);
        free(p);
        lw_session_clear(d, 0);
        if (out[i].n < 0) return -1;
        if (out[i].n == 0) return lw_fail("panel: the donor %s continued donor text %d with no token", info.path, i);
    }
    return 0;
}

/* The continuation in the receiver's tokens: the same ids for the same vocabulary, else the
 * donor's text re-tokenized (a leading space dropped for tokenizers that add their own). */
static int receiver_continuation(lw_session *r, lw_session *d, const tokens *c, tokens *out) {
    const lw_model *mr = lw_session_model(r), *md = lw_session_model(d);
    if (mr == md || lw_model_same_vocab(mr, md)) {
        out->tok = malloc(sizeof(int32_t) * (size_t)c->n);
        memcpy(out->tok, c->tok, sizeof(int32_t) * (size_t)c->n);
        out->n = c->n;
        return 0;
    }
    char *text = lw_detokenize(md, c->tok, c->n, false);
    if (!text) return -1;
    const char *t = text;
    if (lw_tokenizer_adds_space(mr) && *t == ' ') t++;
    out->n = lw_tokenize_alloc(mr, t, false, &out->tok);
    free(text);
    if (out->n <= 0) return out->n == 0 ? lw_fail("panel: a donor continuation is empty in the receiver's tokens") : -1;
    return 0;
}

/* ------------------------------------------------------------------ statistics over cells */

/* The decoy ratio (summed targeted effects over summed decoy effects) and its 95% BCa interval
 * (lw_eval_ratio_bca: a ratio is skewed, and a percentile interval of it shifted), resampling
 * the same units as D's interval: cells from LW_PANEL_MIN_CELLS on, else prompts (every cell's
 * effects of a prompt together). Undefined ends (NaN) where too many resamples have decoy
 * effects that sum to 0 or less. */
static void decoy_ratio(lw_patching_result *r, const lw_patching_params *p) {
    int nc = r->n_cells, np = r->n_prompts;
    bool over_cells = nc >= LW_PANEL_MIN_CELLS;
    int n = over_cells ? nc : np;
    double st = 0, sd = 0, *ut = calloc((size_t)n, sizeof *ut), *ud = calloc((size_t)n, sizeof *ud);
    r->decoy_ratio = r->decoy_ratio_lo = r->decoy_ratio_hi = NAN;
    if (ut && ud) {
        for (int c = 0; c < nc; c++)
            for (int j = 0; j < np; j++) { /* a unit's sums: its cell's, or its prompt's over the cells */
                ut[over_cells ? c : j] += r->e_target[(size_t)c * np + j];
                ud[over_cells ? c : j] += r->e_decoy[(size_t)c * np + j];
            }
        for (int u = 0; u < n; u++) st += ut[u], sd += ud[u];
        r->decoy_ratio = sd > 0 ? st / sd : NAN; /* a decoy that moves nothing, or away: undefined */
        lw_eval_ratio_bca(ut, ud, n, p->resamples, 0.95, p->seed + 17, &r->decoy_ratio_lo, &r->decoy_ratio_hi);
    }
    free(ut);
    free(ud);
}

/* ------------------------------------------------------------------ the panel */

typedef struct {
    tokens *prompt;          /* receiver prompts, per receiver x prompt */
    tokens *cont;            /* donor continuations, per donor x prompt */
} cache;

static int check_params(const lw_patching_params *p, int n_prompts, int n_calib) {
    if (!p) return lw_fail("panel: the params are NULL");
    if (!p->depths || p->n_depths < 1) return lw_fail("panel: no depths");
    for (int k = 0; k < p->n_depths; k++)
        if (!(p->depths[k] >= 0 && p->depths[k] <= 1))
            return lw_fail("panel: depth %g is outside [0, 1] (a fraction of each model's blocks)", p->depths[k]);
    if (p->continuation_tokens < 1) return lw_fail("panel: continuation_tokens must be at least 1");
    if (n_prompts < LW_PANEL_MIN_CELLS) /* 2 prompts gave each cell p = 0 and D a point-like interval */
        return lw_fail("panel: %d prompts; the paired intervals over prompts need at least %d", n_prompts,
                       LW_PANEL_MIN_CELLS);
    if (n_calib < 1) return lw_fail("panel: no calibration texts for the fitted baseline");
    if (p->resamples < 100) return lw_fail("panel: resamples %d; at least 100", p->resamples);
    /* a NaN threshold made every verdict INCONCLUSIVE (both comparisons false) with no message */
    if (!isfinite(p->threshold)) return lw_fail("panel: threshold %g; use a finite number", p->threshold);
    if (p->position < -1) return lw_fail("panel: position %d: use -1 (the last prompt position) or k >= 0", p->position);
    return 0;
}

/* The lists a caller (a binding) fills: NULL arrays, sessions and texts were dereferenced. */
static int check_lists(const lw_panel_model *receivers, int n_receivers, const lw_panel_model *donors, int n_donors,
                       const lw_panel_prompt *prompts, int n_prompts, const char *const *calib, int n_calib) {
    if (!receivers || !donors || !prompts || !calib)
        return lw_fail("panel: %s is NULL", !receivers ? "receivers" : !donors ? "donors" : !prompts ? "prompts" : "calib_texts");
    for (int k = 0; k < n_receivers + n_donors; k++) {
        const lw_panel_model *m = k < n_receivers ? &receivers[k] : &donors[k - n_receivers];
        if (!m->session || !m->name)
            return lw_fail("panel: %s %d has no %s", k < n_receivers ? "receiver" : "donor",
                           k < n_receivers ? k : k - n_receivers, !m->session ? "session" : "name");
        /* the name goes into every record (JSON): one that is not UTF-8 failed the save after the
         * whole run, as "records.jsonl: cannot write a record" */
        if (!lw_json_utf8_ok(m->name))
            return lw_fail("panel: %s %d's name is not UTF-8: the records and tables are JSON and CSV text",
                           k < n_receivers ? "receiver" : "donor", k < n_receivers ? k : k - n_receivers);
    }
    for (int i = 0; i < n_prompts; i++)
        if (!prompts[i].receiver_text || !prompts[i].donor_text || !prompts[i].decoy_text)
            return lw_fail("panel: prompt %d has no %s text", i,
                           !prompts[i].receiver_text ? "receiver" : !prompts[i].donor_text ? "donor" : "decoy");
    for (int i = 0; i < n_calib; i++)
        if (!calib[i]) return lw_fail("panel: calibration text %d is NULL", i);
    return 0;
}

/* A cell's means and paired interval from its effects (run now or kept from an earlier run). */
static int cell_stats(lw_patching_result *res, int cell, int n, const lw_patching_params *p) {
    lw_patching_cell *c = &res->cells[cell];
    const double *et = res->e_target + (size_t)cell * n, *eb = res->e_baseline + (size_t)cell * n,
                 *ed = res->e_decoy + (size_t)cell * n;
    double st = 0, sb = 0, sd = 0;
    for (int i = 0; i < n; i++) st += et[i], sb += eb[i], sd += ed[i];
    c->mean_target = st / n;
    c->mean_baseline = sb / n;
    c->mean_decoy = sd / n;
    /* effects are measurements, not 0/1 outcomes (all exactly 0 when a patch cannot act), so
     * the BCa paired bootstrap, never the proportion intervals lw_ci_paired picks for 0/1 data */
    return lw_bootstrap_paired(et, eb, n, p->resamples, 0.95, p->seed + (uint64_t)cell, &c->diff, &c->p_value);
}

/* One cell: every prompt's four scores and the effects. */
static int run_cell(const lw_panel_model *R, const lw_panel_model *Dn, const lw_panel_prompt *pr, int n,
                    const char *const *calib, int n_calib, const tokens *rprompt, const tokens *dcont, double depth,
                    const lw_patching_params *p, lw_patching_result *res, int cell, int *done, int total) {
    lw_session *rs = R->session, *ds = Dn->session;
    lw_model_info ri, di;
    lw_model_get_info(lw_session_model(rs), &ri);
    lw_model_get_info(lw_session_model(ds), &di);
    const int lr = model_layer(rs, depth), ld = model_layer(ds, depth);
    lw_patching_cell *c = &res->cells[cell];
    *c = (lw_patching_cell){.depth = depth, .receiver_layer = lr, .donor_layer = ld, .n = n};
    const bool same = lw_session_model(rs) == lw_session_model(ds);
    const char **dtexts = malloc(sizeof(char *) * (size_t)n), **decoys = malloc(sizeof(char *) * (size_t)n);
    for (int i = 0; i < n; i++) {
        dtexts[i] = pr[i].donor_text;
        decoys[i] = pr[i].decoy_text;
    }
    float *base = malloc(sizeof(float) * (size_t)ri.n_embd);
    float *vt = last_residuals(ds, ld, dtexts, n), *vd = vt ? last_residuals(ds, ld, decoys, n) : NULL;
    lw_bridge *br = NULL;
    int rc = vt && vd && base ? lw_panel_fit_baseline(rs, lr, calib, n_calib, base) : -1;
    if (rc == 0 && !same) { /* map the donor's vectors into the receiver's space */
        br = lw_channel_fit_ac_bridge(ds, rs, ld, lr, calib, n_calib, NULL);
        float *mt = malloc(sizeof(float) * (size_t)n * ri.n_embd), *md = malloc(sizeof(float) * (size_t)n * ri.n_embd);
        rc = br && mt && md && lw_bridge_apply_source(br, vt, n, mt) == 0 && lw_bridge_apply_source(br, vd, n, md) == 0
                 ? 0
                 : -1;
        free(vt);
        free(vd);
        vt = mt;
        vd = md;
    }
    double *et = res->e_target + (size_t)cell * n, *eb = res->e_baseline + (size_t)cell * n,
           *ed = res->e_decoy + (size_t)cell * n;
    for (int i = 0; rc == 0 && i < n; i++) {
        tokens rc_tok = {0};
        rc = receiver_continuation(rs, ds, &dcont[i], &rc_tok);
        const tokens *P = &rprompt[i];
        int pos;
        if (rc == 0) rc = check_score_args(rs, P->n, rc_tok.n, lr, p->position, &pos);
        const float *vec[4] = {NULL, vt + (size_t)i * ri.n_embd, base, vd + (size_t)i * ri.n_embd};
        double s[4];
        for (int k = 0; rc == 0 && k < 4; k++) {
            if (k == 0 || !p->reuse_prefix) rc = run_prefix(rs, P->tok, pos);
            else res->prefix_tokens_reused += pos;
            if (rc == 0) rc = score_after_prefix(rs, P->tok, P->n, rc_tok.tok, rc_tok.n, lr, pos, vec[k], p->add, &s[k]);
            res->receiver_runs++;
        }
        lw_session_clear(rs, 0);
        free(rc_tok.tok);
        if (rc != 0) {
            lw_fail_prefix("panel: prompt %d, receiver %s, donor %s: ", i, R->name, Dn->name);
            break;
        }
        et[i] = s[1] - s[0];
        eb[i] = s[2] - s[0];
        ed[i] = s[3] - s[0];
        if (p->on_progress) p->on_progress(++*done, total, p->user);
    }
    lw_bridge_free(br);
    free(vt);
    free(vd);
    free(base);
    free(dtexts);
    free(decoys);
    return rc;
}

/* D and its interval. Over cells (BCa) when there are LW_PANEL_MIN_CELLS or more: the interval
 * then speaks for other cells (pairs, depths) like these. Fewer cells cannot estimate how cells
 * vary (2 cells give 3 distinct bootstrap means), so the interval is over prompts, for these very
 * cells: every cell scored the same prompts, so a prompt's value is its mean over cells of
 * e(target) - e(baseline), and D is their mean. method says which. 0 or -1. */
_Static_assert(LW_PANEL_MIN_CELLS == 5, "d_interval's method string names the threshold");
static int d_interval(lw_patching_result *out, const lw_patching_params *p) {
    int nc = out->n_cells, np = out->n_prompts;
    bool over_cells = nc >= LW_PANEL_MIN_CELLS;
    int n = over_cells ? nc : np;
    double *v = calloc((size_t)n, sizeof *v);
    if (!v) return lw_fail("out of memory");
    for (int c = 0; c < nc; c++)
        if (over_cells) v[c] = out->cells[c].diff.mean;
        else
            for (int j = 0; j < np; j++)
                v[j] += (out->e_target[(size_t)c * np + j] - out->e_baseline[(size_t)c * np + j]) / nc;
    int rc = lw_bootstrap_bca_mean(v, n, p->resamples, 0.95, p->seed + 7, &out->D);
    out->D.method = over_cells ? "bca over cells" : "bca over prompts (fewer than 5 cells: for these cells)";
    free(v);
    return rc;
}

int lw_panel_patching(const lw_panel_model *receivers, int n_receivers, const lw_panel_model *donors, int n_donors,
                      const lw_panel_prompt *prompts, int n_prompts, const char *const *calib_texts, int n_calib,
                      const lw_patching_params *p, lw_patching_result *out) {
    if (!out) return lw_fail("lw_panel_patching: out is NULL");
    memset(out, 0, sizeof *out);
    if (n_receivers < 1 || n_donors < 1) return lw_fail("panel: no receivers or no donors");
    if (check_params(p, n_prompts, n_calib) != 0 ||
        check_lists(receivers, n_receivers, donors, n_donors, prompts, n_prompts, calib_texts, n_calib) != 0)
        return -1;
    /* two depths that round to the same blocks of a receiver and a donor make two identical cells,
     * and D's interval over cells would count one measurement twice (it shrank to a point) */
    for (int r = 0; r < n_receivers; r++)
        for (int d = 0; d < n_donors; d++)
            for (int a = 0; a < p->n_depths; a++)
                for (int b = a + 1; b < p->n_depths; b++)
                    if (model_layer(receivers[r].session, p->depths[a]) == model_layer(receivers[r].session, p->depths[b]) &&
                        model_layer(donors[d].session, p->depths[a]) == model_layer(donors[d].session, p->depths[b]))
                        return lw_fail("panel: depths %g and %g give the same cell (receiver %d block %d <- donor %d "
                                       "block %d): one measurement would count twice in D; give depths that reach "
                                       "other blocks", p->depths[a], p->depths[b], r + 1,
                                       model_layer(receivers[r].session, p->depths[a]), d + 1,
                                       model_layer(donors[d].session, p->depths[a]));
    const int n_cells = n_receivers * n_donors * p->n_depths, m = p->continuation_tokens;
    out->n_cells = n_cells;
    out->n_prompts = n_prompts;
    out->cells = calloc((size_t)n_cells, sizeof *out->cells);
    out->e_target = calloc((size_t)n_cells * n_prompts, sizeof(double));
    out->e_baseline = calloc((size_t)n_cells * n_prompts, sizeof(double));
    out->e_decoy = calloc((size_t)n_cells * n_prompts, sizeof(double));
    tokens *rprompt = calloc((size_t)n_receivers * n_prompts, sizeof(tokens));
    tokens *dcont = calloc((size_t)n_donors * n_prompts, sizeof(tokens));
    int rc = out->cells && out->e_target && out->e_baseline && out->e_decoy && rprompt && dcont
                 ? 0
                 : lw_fail("panel: out of memory");
    for (int r = 0; rc == 0 && r < n_receivers; r++) {
        const lw_model *mr = lw_session_model(receivers[r].session);
        lw_model_info info;
        lw_model_get_info(mr, &info);
        for (int i = 0; rc == 0 && i < n_prompts; i++) {
            tokens *t = &rprompt[(size_t)r * n_prompts + i];
            t->n = lw_tokenize_alloc(mr, prompts[i].receiver_text, info.add_bos, &t->tok);
            if (t->n <= 0) rc = t->n == 0 ? lw_fail("panel: receiver text %d is empty", i) : -1;
        }
    }
    for (int d = 0; rc == 0 && d < n_donors; d++)
        rc = donor_continuations(donors[d].session, prompts, n_prompts, m, dcont + (size_t)d * n_prompts);
    lw_patching_records rec = {0};
    if (rc == 0)
        rc = lw_patching_records_open(&rec, receivers, n_receivers, donors, n_donors, prompts, n_prompts, calib_texts,
                                      n_calib, p);
    int done = 0, total = n_cells * n_prompts, cell = 0;
    for (int r = 0; rc == 0 && r < n_receivers; r++)
        for (int d = 0; rc == 0 && d < n_donors; d++)
            for (int k = 0; rc == 0 && k < p->n_depths; k++, cell++) {
                lw_patching_cell *c = &out->cells[cell];
                *c = (lw_patching_cell){.receiver = r, .donor = d, .depth = p->depths[k], .n = n_prompts,
                                        .receiver_layer = model_layer(receivers[r].session, p->depths[k]),
                                        .donor_layer = model_layer(donors[d].session, p->depths[k])};
                int kept = lw_patching_records_take(&rec, p, out, cell, n_prompts);
                int64_t runs = out->receiver_runs, reused = out->prefix_tokens_reused;
                if (kept < 0) rc = -1;
                else if (kept == 0) {
                    rc = run_cell(&receivers[r], &donors[d], prompts, n_prompts, calib_texts, n_calib,
                                  rprompt + (size_t)r * n_prompts, dcont + (size_t)d * n_prompts, p->depths[k], p, out,
                                  cell, &done, total);
                    c->receiver = r, c->donor = d;
                    if (rc == 0)
                        rc = lw_patching_records_add(&rec, p, out, cell, n_prompts, out->receiver_runs - runs,
                                                     out->prefix_tokens_reused - reused);
                } else if (p->on_progress) p->on_progress(done += n_prompts, total, p->user);
                if (rc == 0) rc = cell_stats(out, cell, n_prompts, p);
            }
    rc = lw_patching_records_close(&rec, p, rc);
    if (rc == 0) {
        rc = d_interval(out, p);
        out->verdict = out->D.lo >= p->threshold  ? LW_VERDICT_PASS
                       : out->D.hi < p->threshold ? LW_VERDICT_FAIL
                                                  : LW_VERDICT_INCONCLUSIVE;
        decoy_ratio(out, p);
    }
    for (int i = 0; rprompt && i < n_receivers * n_prompts; i++) free(rprompt[i].tok);
    for (int i = 0; dcont && i < n_donors * n_prompts; i++) free(dcont[i].tok);
    free(rprompt);
    free(dcont);
    if (rc != 0) lw_patching_result_free(out);
    return rc;
}
