/* Activation patching between a sender and a receiver (see patch.h), on the channel's pieces:
 * each side reads [BOS] (and its chat template's opening) as one run and its text as the next,
 * as every channel does, so that a receiver reading the sender's very text sees the same
 * batch shapes and patching the sender's own rows back changes nothing, bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "channel/channel_internal.h"
#include "common/error.h"
#include "latentwire/patch.h"
#include "latentwire/task.h"

lw_patch_params lw_patch_default_params(void) {
    return (lw_patch_params){.positions = 1, .op = LW_PATCH_REPLACE, .scale = 1.0f, .answer_tokens = 8};
}

static int resolve(int layer, int n_layer, const char *who) {
    int l = lw_layer_index(layer, n_layer);
    if (l < 0) return lw_fail("patch: %s layer %d is out of range (the model has layers 0..%d, or -1..-%d from the end)",
                              who, layer, n_layer - 1, n_layer);
    return l;
}

static int check_params(const lw_patch_params *p) {
    if (!p->pooled && p->positions < 1) return lw_fail("patch: positions T = %d must be at least 1", p->positions);
    if (p->answer_tokens < 1) return lw_fail("patch: answer_tokens = %d must be at least 1", p->answer_tokens);
    if (!isfinite(p->scale)) return lw_fail("patch: scale %g is not a finite number", (double)p->scale);
    if (p->op != LW_PATCH_REPLACE && p->op != LW_PATCH_ADD)
        return lw_fail("patch: op %d is neither LW_PATCH_REPLACE nor LW_PATCH_ADD", (int)p->op);
    return 0;
}

int lw_patch_read_layers(lw_session *sender, const char *text, const int *layers, int n_layers,
                         const lw_patch_params *p, float *out) {
    if (!sender || !text || !p || !out || !layers) return lw_fail("patch: read needs a session, a text, layers, params and an output");
    if (n_layers < 1) return lw_fail("patch: no layer to read (n_layers = %d)", n_layers);
    if (!*text) return lw_fail("patch: the sender text is empty");
    if (check_params(p) != 0) return -1;
    int64_t forwarded = 0, passes = 0;
    side a = lw_ch_make_side(sender, &forwarded, &passes);
    int *l = malloc(sizeof(int) * (size_t)n_layers);
    if (!l) return lw_fail("out of memory");
    for (int j = 0; j < n_layers; j++)
        if ((l[j] = resolve(layers[j], a.info.n_layer, "sender")) < 0) {
            free(l);
            return -1;
        }
    char *open = p->task_vector ? lw_task_withhold_last_answer(text) : NULL;
    if (p->task_vector && !open) {
        free(l);
        return lw_fail_prefix("patch: ");
    }
    lw_session_clear(sender, 0);
    float *rows;
    /* pooled: the mean over the text piece's rows ([BOS] is its own piece, never among them) */
    int n = lw_ch_read_layers(&a, p->chat, open ? open : text, l, n_layers, p->pooled ? 0 : p->positions, p->pooled,
                              &rows);
    lw_session_clear(sender, 0);
    free(open);
    free(l);
    if (n < 0) return lw_fail_prefix("patch: ");
    memcpy(out, rows, sizeof(float) * (size_t)n_layers * (p->pooled ? 1 : p->positions) * a.info.n_embd);
    free(rows);
    return 0;
}

int lw_patch_read(lw_session *sender, const char *text, int layer, const lw_patch_params *p, float *out) {
    return lw_patch_read_layers(sender, text, &layer, 1, p, out);
}

/* Feeds the prompt piece with vecs written at the piece's last n_vecs positions of block l. */
static int feed_patched(side *b, const char *prompt, const char *suffix, int l, const float *vecs, int n_vecs,
                        const lw_patch_params *p) {
    int32_t *tok;
    int n = lw_ch_tokenize_piece(b, prompt, suffix, &tok);
    if (n < 0) return -1;
    int rc = 0;
    if (n == 0) rc = lw_fail("patch: the receiver prompt \"%.40s\" has no tokens", prompt);
    else if (vecs && n_vecs > n)
        rc = lw_fail("patch: %d vectors to write, but the receiver prompt \"%.40s\" has only %d positions", n_vecs,
                     prompt, n);
    int32_t *at = NULL;
    if (rc == 0 && vecs) {
        at = malloc(sizeof(int32_t) * (size_t)n_vecs);
        int start = lw_session_seq_len(b->s, 0) + n - n_vecs; /* the last vector to the last position */
        for (int i = 0; at && i < n_vecs; i++) at[i] = start + i;
        lw_hook h = lw_hook_default();
        h.layer = l;
        h.seq = 0;
        h.op = p->op == LW_PATCH_ADD ? LW_OP_ADD : LW_OP_REPLACE;
        h.scale = p->scale;
        h.pos_mode = LW_POS_LIST;
        h.positions = at;
        h.n_positions = n_vecs;
        h.vectors = vecs;
        h.n_vectors = n_vecs;
        rc = at ? (lw_session_add_hook(b->s, &h) >= 0 ? 0 : -1) : lw_fail("out of memory");
    }
    if (rc == 0) rc = lw_ch_feed(b, tok, NULL, n);
    lw_session_clear_hooks(b->s); /* the answer tokens read the patched positions' keys and values */
    free(at);
    free(tok);
    return rc;
}

int lw_patch_answer_logits(lw_session *receiver, const char *prompt, int layer, const float *vecs, int n_vecs,
                           const lw_patch_params *p, char **answer, float *logits) {
    if (answer) *answer = NULL;
    if (!receiver || !prompt || !p || !answer) return lw_fail("patch: answer needs a session, a prompt, params and an output");
    if (!*prompt) return lw_fail("patch: the receiver prompt is empty");
    if (check_params(p) != 0) return -1;
    if (vecs && n_vecs < 1) return lw_fail("patch: %d vectors to write (need at least 1)", n_vecs);
    int64_t forwarded = 0, passes = 0;
    side b = lw_ch_make_side(receiver, &forwarded, &passes);
    int l = resolve(layer, b.info.n_layer, "receiver");
    if (vecs && l < 0) return -1;
    lw_session_clear(receiver, 0);
    affixes af;
    int rc = lw_ch_get_affixes(&b, p->chat, &af);
    if (rc == 0) rc = lw_ch_open_input(&b, &af);
    if (rc == 0) rc = feed_patched(&b, prompt, af.suffix, l, vecs, n_vecs, p);
    free(af.prefix);
    free(af.suffix);
    int n_gen = 0;
    if (rc == 0) rc = lw_ch_answer(&b, p->answer_tokens, answer, &n_gen, logits);
    lw_session_clear(receiver, 0);
    return rc;
}

/* The tokens lw_patch_answer's context holds for prompt (whole), or only the prompt piece's
 * patchable positions (!whole), counted with the tokenizer. */
static int count_prompt(lw_session *receiver, const char *prompt, const lw_patch_params *p, bool whole) {
    if (!receiver || !prompt || !p) return lw_fail("patch: counting a prompt needs a session, a prompt and params");
    if (whole) return lw_channel_input_tokens(receiver, p->chat, prompt);
    int64_t forwarded = 0, passes = 0;
    side b = lw_ch_make_side(receiver, &forwarded, &passes);
    affixes af;
    int32_t *tok = NULL;
    int n = lw_ch_get_affixes(&b, p->chat, &af);
    if (n == 0) n = lw_ch_tokenize_piece(&b, prompt, af.suffix, &tok); /* as feed_patched reads it */
    free(af.prefix);
    free(af.suffix);
    free(tok);
    return n;
}

int lw_patch_prompt_tokens(lw_session *receiver, const char *prompt, const lw_patch_params *p) {
    return count_prompt(receiver, prompt, p, true);
}

int lw_patch_prompt_positions(lw_session *receiver, const char *prompt, const lw_patch_params *p) {
    return count_prompt(receiver, prompt, p, false);
}

int lw_patch_answer(lw_session *receiver, const char *prompt, int layer, const float *vecs, int n_vecs,
                    const lw_patch_params *p, char **answer) {
    return lw_patch_answer_logits(receiver, prompt, layer, vecs, n_vecs, p, answer, NULL);
}
