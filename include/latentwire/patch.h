/* Activation patching between a sender and a receiver: the primitive under the layer scan and
 * the channel race.
 *
 * The sender reads a text (e.g. k demonstrations of a skill) and hands over its residual stream
 * (blocks.L.hook_resid_post) at layer L: the last T positions, or the mean over the text's
 * positions (a BOS the run added excluded, as extract's --pool mean). The receiver reads its
 * prompt (e.g. the query alone) with those vectors written into its residual stream at its own
 * layer L': the T vectors go to the last T positions of the prompt (the last vector to the last
 * position), replacing the receiver's own (or added to them), and from there every later layer and
 * every answer token reads them. The receiver then answers greedily.
 *
 * Both sides may be one session (same model). Across models the vectors must be mapped to the
 * receiver's width first (a bridge); equal widths are not enough to graft without a map unless
 * the caller says the models are the same. */
#ifndef LATENTWIRE_PATCH_H
#define LATENTWIRE_PATCH_H

#include <stdbool.h>

#include "latentwire/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { LW_PATCH_REPLACE = 0, LW_PATCH_ADD } lw_patch_op;

typedef struct {
    int positions;        /* T: the sender's last T positions (default 1) */
    bool pooled;          /* instead: one vector, the mean over the sender text's positions */
    lw_patch_op op;       /* default replace */
    float scale;          /* LW_PATCH_ADD: the vectors are added times scale (default 1) */
    int answer_tokens;    /* the receiver's greedy answer length (default 8) */
    bool chat;            /* each side reads its text as one user turn in its chat template */
    bool task_vector;     /* lw_patch_read reads the sender text with its last answer withheld
                             (lw_task_withhold_last_answer): its last position is where it would
                             answer, the readout of Hendel et al.'s task vectors */
} lw_patch_params;

lw_patch_params lw_patch_default_params(void);

/* The sender's residual at layer (negative: from the end) for text: T x d floats into out
 * (1 x d when pooled), d = the sender's width. The run stops after that layer. A text shorter
 * than T positions is an error naming T and the text's length. 0 or -1. */
int lw_patch_read(lw_session *sender, const char *text, int layer, const lw_patch_params *p, float *out);

/* lw_patch_read at n_layers layers in one run of the sender (the layer scan reads every block
 * of one item this way): n_layers blocks of T x d floats (1 x d when pooled) into out, in the
 * order of layers, each the very bytes lw_patch_read at that layer gives. 0 or -1. */
int lw_patch_read_layers(lw_session *sender, const char *text, const int *layers, int n_layers,
                         const lw_patch_params *p, float *out);

/* The receiver's greedy answer to prompt with vecs (n_vecs x d_receiver: T, or 1 when pooled)
 * written at layer into the prompt's last n_vecs positions. vecs NULL: no patch (the
 * prompt-only floor). *answer is malloc'd. 0 or -1. An answer cut short by a full context is
 * not an error: lw_generate_stop_reason(receiver) says LW_GEN_STOP_CONTEXT then (rule it out
 * before any work: lw_patch_prompt_tokens + p->answer_tokens - 1 <= lw_session_n_ctx). */
int lw_patch_answer(lw_session *receiver, const char *prompt, int layer, const float *vecs, int n_vecs,
                    const lw_patch_params *p, char **answer);

/* lw_patch_answer, also writing the receiver's logits at the prompt's last position (the first
 * answer token's distribution; n_vocab floats, caller-allocated) into logits when not NULL.
 * With chat, "the prompt's positions" include the template's closing after the user turn, as
 * the sender's include it in lw_patch_read; [BOS] and the template's opening are fed first as
 * their own piece and are never patched or read. */
int lw_patch_answer_logits(lw_session *receiver, const char *prompt, int layer, const float *vecs, int n_vecs,
                           const lw_patch_params *p, char **answer, float *logits);

/* The tokens the receiver's context holds when lw_patch_answer starts answering prompt ([BOS],
 * the chat template around it with p->chat, the prompt), counted without running the model, so
 * that an answer of p->answer_tokens can be checked against the context before any work (the
 * answer needs prompt + answer_tokens - 1 <= the context: its last token is never fed back).
 * The count, or -1. */
int lw_patch_prompt_tokens(lw_session *receiver, const char *prompt, const lw_patch_params *p);

/* The positions of prompt that lw_patch_answer can write vectors to (the prompt piece: with
 * p->chat, the template's closing after it too; never [BOS] or the opening), counted without
 * running the model, so that T positions can be checked against every prompt before any work.
 * The count, or -1. */
int lw_patch_prompt_positions(lw_session *receiver, const char *prompt, const lw_patch_params *p);

#ifdef __cplusplus
}
#endif
#endif
