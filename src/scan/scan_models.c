/* The scan's evaluator through models: the sender's residual at a layer patched into the
 * receiver's prompt (lw_patch_read / lw_patch_answer), the floor and the text ceiling. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "latentwire/scan.h"

typedef struct {
    const lw_scan_models *m;
    const lw_scan_params *p;
    int T, dA, dB;
    float *va, *vb; /* every layer's T x dA read (in the order of p->layers), T x dB written */
    const lw_task_item *read_for; /* the item va holds (the scan runs an item's layers in a row) */
} model_eval;

static int answer(const model_eval *e, const char *prompt, int layer, const float *vecs, const lw_task_item *it,
                  double *score, char **output) {
    if (lw_patch_answer(e->m->receiver, prompt, layer, vecs, vecs ? e->T : 0, &e->m->patch, output) != 0)
        return lw_fail_prefix("scan: item %s: ", it->id);
    *score = lw_score(it, *output);
    return isnan(*score) ? -1 : 0; /* an item no score can be given (lw_score says why) */
}

static int eval_models(void *ctx, const lw_task_item *it, int condition, double *score, char **output) {
    model_eval *e = ctx;
    *output = NULL;
    if (condition == LW_SCAN_FLOOR) return answer(e, it->receiver, 0, NULL, it, score, output);
    if (condition == LW_SCAN_CEILING) {
        char *prompt = lw_task_context_prompt(it);
        int rc = prompt ? answer(e, prompt, 0, NULL, it, score, output) : -1;
        free(prompt);
        return rc;
    }
    int k = condition, lb = e->p->receiver_layers ? e->p->receiver_layers[k] : e->p->layers[k];
    /* One sender run reads every layer of the item (it stops after the deepest): the same bytes
     * as a run per layer, in one pass instead of one per layer. */
    if (e->read_for != it) {
        e->read_for = NULL;
        if (lw_patch_read_layers(e->m->sender, it->sender, e->p->layers, e->p->n_layers, &e->m->patch, e->va) != 0)
            return lw_fail_prefix("scan: item %s: ", it->id);
        e->read_for = it;
    }
    const float *va = e->va + (size_t)k * e->T * e->dA;
    const lw_bridge *b = e->m->bridges ? e->m->bridges[k] : NULL;
    if (b && lw_bridge_apply_source(b, va, e->T, e->vb) != 0) return lw_fail_prefix("scan: item %s: bridge: ", it->id);
    return answer(e, it->receiver, lb, b ? e->vb : va, it, score, output);
}

/* Tokens of a text read as a piece after [BOS] (the chat template adds more, never fewer). */
static int piece_len(const lw_model *m, const char *text) {
    int32_t *t;
    int n = lw_tokenize_special_alloc(m, text, false, &t);
    if (n >= 0) free(t);
    return n;
}

/* Every drawn item's longest receiver prompt (the ceiling's: the demonstrations and the query)
 * and the answer must fit the receiver's context: generation stops at a full context as at a
 * length limit, so a cut answer would be scored silently (the race's check, here for the scan).
 * Only the items the scan draws (selection and held-out, lw_scan_split) are read: an item of the
 * task file that is never drawn cannot refuse the run. */
static int check_answer_fits(const lw_task parts[2], const lw_scan_models *m) {
    int ctx = lw_session_n_ctx(m->receiver), longest = 0, rc = 0;
    char which[256] = "";
    const char *split = "";
    for (int k = 0; rc == 0 && k < 2; k++)
        for (int i = 0; rc == 0 && i < parts[k].n; i++) {
            char *prompt = lw_task_context_prompt(&parts[k].items[i]);
            int n = prompt ? lw_patch_prompt_tokens(m->receiver, prompt, &m->patch) : lw_fail("scan: out of memory");
            free(prompt);
            if (n < 0) rc = -1;
            else if (n > longest) {
                longest = n;
                snprintf(which, sizeof which, "%s", parts[k].items[i].id);
                split = k == 0 ? "selection" : "held-out";
            }
        }
    int n_select = parts[0].n, n_held = parts[1].n, most = ctx - longest + 1; /* the last answer token is never fed back */
    if (rc != 0 || m->patch.answer_tokens <= most) return rc;
    if (most < 1)
        return lw_fail("--answer-tokens %d: item %s's ceiling prompt (demonstrations and query) is %d tokens, which "
                       "leaves no room for an answer in the receiver's context of %d tokens: use a task with shorter "
                       "texts or fewer --k-shot (item %s is a %s item, of the %d selection and %d held-out drawn)",
                       m->patch.answer_tokens, which, longest, ctx, which, split, n_select, n_held);
    return lw_fail("--answer-tokens %d: the receiver's context holds %d tokens and item %s's ceiling prompt "
                   "(demonstrations and query) is %d: use --answer-tokens %d or less (item %s is a %s item, of the "
                   "%d selection and %d held-out drawn)",
                   m->patch.answer_tokens, ctx, which, longest, most, which, split, n_select, n_held);
}

/* Everything that can be refused before the first forward pass. */
static int check_models(const lw_task *pool, const lw_scan_params *p, const lw_scan_models *m, int *dA, int *dB) {
    if (!m || !m->sender || !m->receiver) return lw_fail("scan: no sender or receiver session");
    /* read below before lw_scan_run_eval's own check: NULL layers were indexed */
    if (p->n_layers < 1 || !p->layers) return lw_fail("scan: no layers to scan");
    const lw_model *ma = lw_session_model(m->sender), *mb = lw_session_model(m->receiver);
    lw_model_info a, b;
    lw_model_get_info(ma, &a);
    lw_model_get_info(mb, &b);
    *dA = a.n_embd;
    *dB = b.n_embd;
    if (!m->patch.pooled && m->patch.positions < 1) return lw_fail("scan: T = %d positions (need at least 1)", m->patch.positions);
    for (int k = 0; k < p->n_layers; k++) {
        int la = p->layers[k], lb = p->receiver_layers ? p->receiver_layers[k] : la;
        if (la < 0 || la >= a.n_layer)
            return lw_fail("scan: sender layer %d is out of range (%s has layers 0..%d)", la, a.path, a.n_layer - 1);
        if (lb < 0 || lb >= b.n_layer)
            return lw_fail("scan: receiver layer %d is out of range (%s has layers 0..%d)", lb, b.path, b.n_layer - 1);
        const lw_bridge *br = m->bridges ? m->bridges[k] : NULL;
        if (br && (lw_bridge_source_dim(br) != a.n_embd || lw_bridge_out_dim(br) != b.n_embd))
            return lw_fail("scan: the bridge for layer %d->%d maps %d -> %d, the models are %d and %d wide", la, lb,
                           lw_bridge_source_dim(br), lw_bridge_out_dim(br), a.n_embd, b.n_embd);
        if (!br && a.n_embd != b.n_embd)
            return lw_fail("scan: the sender is %d wide and the receiver %d; patching layer %d->%d across widths needs a "
                           "bridge", a.n_embd, b.n_embd, la, lb);
    }
    /* only the items the scan draws are read: an undrawn item of the task file cannot refuse a run */
    lw_task parts[2];
    if (lw_scan_split(pool, p, parts) != 0) return -1;
    int T = m->patch.pooled ? 1 : m->patch.positions, rc = 0;
    for (int k = 0; rc == 0 && k < 2; k++)
        for (int i = 0; rc == 0 && i < parts[k].n; i++) {
            const lw_task_item *it = &parts[k].items[i];
            if (!*it->sender) {
                rc = lw_fail("scan: item %s has an empty sender text (nothing to read)", it->id);
                break;
            }
            char *open = m->patch.task_vector ? lw_task_withhold_last_answer(it->sender) : NULL;
            if (m->patch.task_vector && !open) {
                rc = lw_fail_prefix("scan: --task-vector: item %s: ", it->id);
                break;
            }
            int ns = m->patch.pooled ? T : piece_len(ma, open ? open : it->sender), nr = piece_len(mb, it->receiver);
            free(open);
            if (ns < 0 || nr < 0) rc = lw_fail_prefix("scan: item %s: ", it->id);
            else if (ns < T) rc = lw_fail("scan: T = %d positions, but item %s's sender text has %d tokens", T, it->id, ns);
            else if (nr < T)
                rc = lw_fail("scan: T = %d positions, but item %s's receiver prompt has %d tokens", T, it->id, nr);
        }
    if (rc == 0) rc = check_answer_fits(parts, m);
    lw_task_free(&parts[0]);
    lw_task_free(&parts[1]);
    return rc;
}

int lw_scan_run(const lw_task *pool, const lw_scan_params *p, const lw_scan_models *m, lw_scan_result *out) {
    if (!out) return lw_fail("lw_scan_run: out is NULL");
    memset(out, 0, sizeof *out);
    if (!pool || !p) return lw_fail("scan: no task or no params");
    int dA, dB;
    if (check_models(pool, p, m, &dA, &dB) != 0) return -1;
    model_eval e = {.m = m, .p = p, .T = m->patch.pooled ? 1 : m->patch.positions, .dA = dA, .dB = dB};
    e.va = malloc(sizeof(float) * (size_t)p->n_layers * e.T * dA);
    e.vb = malloc(sizeof(float) * (size_t)e.T * dB);
    int rc = e.va && e.vb ? lw_scan_run_eval(pool, p, eval_models, &e, out) : lw_fail("out of memory");
    free(e.va);
    free(e.vb);
    return rc;
}
