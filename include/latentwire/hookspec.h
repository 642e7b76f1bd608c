/* latentwire: the hook spec `SITE:OP:POSITIONS:VECTORS[:SCALE]` (what `generate --hook`
 * takes), parsed without a model, and the vectors file it names.
 *
 *   SITE       a block index (negative counts from the end), `embed`, or a TransformerLens
 *              name; kept as written: lw_site_parse resolves it against a model
 *   OP         replace | add | mean
 *   POSITIONS  all | last | a comma list of absolute positions (0 = BOS)
 *   VECTORS    a .safetensors file (its first tensor, or FILE.safetensors#NAME) or a text file
 *              of whitespace-separated floats, one vector per line; no ':' in the path
 *   SCALE      the multiplier of add (default 1) */
#ifndef LATENTWIRE_HOOKSPEC_H
#define LATENTWIRE_HOOKSPEC_H

#include <stdint.h>

#include "latentwire/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *site;             /* SITE as written */
    lw_op op;               /* LW_OP_REPLACE, LW_OP_ADD or LW_OP_MEAN */
    lw_pos_mode pos_mode;
    int32_t *positions;     /* LW_POS_LIST: n_positions positions, each in [0, 2^30] */
    int n_positions;
    char *vectors;          /* the vectors file */
    char *tensor;           /* NAME of FILE.safetensors#NAME, else NULL (the file's first tensor) */
    float scale;            /* 1 when not given */
} lw_hook_spec;

/* Parses spec into *out (zeroed first; free with lw_hook_spec_free, also after a failure).
 * Exactly 4 or 5 non-empty fields; a list of positions refuses an empty item, an item
 * listed twice and anything but an integer in [0, 2^30] (spaces around items are ignored);
 * SCALE must be a finite number. 0, or -1 with one line saying which field is wrong and
 * why (without the spec: the caller names it). */
int lw_hook_spec_parse(const char *spec, lw_hook_spec *out);
void lw_hook_spec_free(lw_hook_spec *spec);

/* The vectors of a hook at a site `width` floats wide: tensor `tensor` (NULL: the first) of a
 * .safetensors file, F32 [k, width] or [width], or the lines of a text file of floats (blank
 * lines skipped, each line exactly `width` numbers). A malloc'd k x width array and *n_vectors
 * = k >= 1, or NULL with an error naming the file (and line). */
float *lw_hook_vectors_load(const char *path, const char *tensor, int width, int *n_vectors);

/* The hook a spec asks for on this model (what `generate --hook` adds): the spec parsed, its site
 * resolved against the model's blocks (lw_site_parse) and its vectors loaded at the site's width.
 * out's positions and vectors are malloc'd: free them with lw_hook_from_spec_free (also after a
 * failure, which leaves them NULL). 0, or -1 with one line naming the spec's field or the file. */
int lw_hook_from_spec(const lw_model *model, const char *spec, lw_hook *out);
void lw_hook_from_spec_free(lw_hook *hook);

/* ---- a text prompt to new tokens, hooks given as specs (what `latentwire generate` runs) ---- */

typedef struct {
    lw_gen_params gen;              /* max_tokens, sampling (default lw_gen_default_params) */
    lw_session_params session;      /* threads, precision (default lw_session_default_params) */
    bool add_bos;                   /* prepend BOS (default true) */
    bool chat;                      /* wrap the prompt as a user turn in the model's chat template (default false) */
    const char *const *hooks;       /* n_hooks specs, each as lw_hook_from_spec reads it (default none) */
    int n_hooks;
} lw_generate_text_params;

lw_generate_text_params lw_generate_text_default_params(void);

typedef struct {
    char *prompt;       /* the text the model was given: the prompt, chat-wrapped with chat */
    int32_t *tokens;    /* the new tokens (room for gen.max_tokens + 1) */
    int n_tokens;
    lw_gen_stop stop;   /* why generation stopped */
} lw_generate_text_result;

/* The prompt (special tokens written in it parsed, as every verb parses prompts; chat-wrapped
 * with p->chat) tokenized, a session made, the hooks added in order, then lw_generate on sequence
 * 0. The prompt and max_tokens new tokens must fit the session's context (the last sampled
 * token is never forwarded: prompt + max_tokens <= n_ctx + 1), checked before any work. 0, or -1
 * with one line: "--prompt has no tokens", "--prompt is N tokens but the context holds C ...",
 * "--max-tokens N: ...", "--chat: ...", "--hook \"SPEC\": ...", the spec's own, or the run's.
 * out is filled on success (free with lw_generate_text_result_free) and zeroed on failure. */
int lw_generate_text(lw_model *model, const char *prompt, const lw_generate_text_params *p,
                     lw_generate_text_result *out);
void lw_generate_text_result_free(lw_generate_text_result *r);

#ifdef __cplusplus
}
#endif
#endif
