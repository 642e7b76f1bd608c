/* lw_generate_text: the steps from a text prompt to new tokens that `latentwire generate` used
 * to run itself (chat wrap, tokenize, session, context check, hook specs, generate), so a
 * binding gets the same checks and the same messages. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "latentwire/hookspec.h"

lw_generate_text_params lw_generate_text_default_params(void) {
    return (lw_generate_text_params){
        .gen = lw_gen_default_params(), .session = lw_session_default_params(), .add_bos = true};
}

void lw_generate_text_result_free(lw_generate_text_result *r) {
    if (!r) return;
    free(r->prompt);
    free(r->tokens);
    memset(r, 0, sizeof *r);
}

/* The prompt and the new tokens must fit the context: refused before any work rather than found
 * out when generation stops there. The last sampled token is never forwarded, hence the + 1. */
static int check_fits_context(int n_prompt, int max_tokens, int n_ctx) {
    if (n_prompt > n_ctx)
        return lw_fail("--prompt is %d tokens but the context holds %d: shorten the prompt", n_prompt, n_ctx);
    if (max_tokens > n_ctx - n_prompt + 1)
        return lw_fail("--max-tokens %d: the prompt's %d tokens and %d new ones do not fit the context of %d tokens; "
                       "use --max-tokens %d or less",
                       max_tokens, n_prompt, max_tokens, n_ctx, n_ctx - n_prompt + 1);
    return 0;
}

/* Each spec's hook added to s in order. 0 or -1. */
static int add_hooks(lw_session *s, const lw_model *m, const char *const *specs, int n) {
    for (int k = 0; k < n; k++) {
        lw_hook h;
        int rc = lw_hook_from_spec(m, specs[k], &h);
        if (rc == 0 && lw_session_add_hook(s, &h) < 0) rc = lw_fail_prefix("--hook \"%s\": ", specs[k]);
        lw_hook_from_spec_free(&h);
        if (rc != 0) return -1;
    }
    return 0;
}

int lw_generate_text(lw_model *model, const char *prompt, const lw_generate_text_params *p,
                     lw_generate_text_result *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!model || !prompt || !p || !out)
        return lw_fail("lw_generate_text: %s is NULL", !model ? "model" : !prompt ? "prompt" : !p ? "params" : "out");
    if (!*prompt) return lw_fail("--prompt is empty");
    if (p->n_hooks < 0 || (p->n_hooks > 0 && !p->hooks))
        return lw_fail("lw_generate_text: %d hooks%s", p->n_hooks, p->n_hooks > 0 ? " but no hook list" : "");
    if (p->gen.max_tokens < 0) return lw_fail("--max-tokens %d: must be >= 0", p->gen.max_tokens);
    if (p->chat) {
        const char *role = "user";
        out->prompt = lw_chat_format(model, &role, &prompt, 1, true);
        if (!out->prompt) return lw_fail_prefix("--chat: ");
    } else if (!(out->prompt = strdup(prompt)))
        return lw_fail("out of memory");
    int32_t *toks = NULL;
    lw_session *s = NULL;
    int rc = -1;
    int32_t n_tok = lw_tokenize_special_alloc(model, out->prompt, p->add_bos, &toks);
    if (n_tok == 0) lw_fail("--prompt has no tokens");
    if (n_tok <= 0) goto done;
    if (!(s = lw_session_new(model, p->session))) goto done;
    if (check_fits_context(n_tok, p->gen.max_tokens, lw_session_n_ctx(s)) != 0) goto done;
    if (add_hooks(s, model, p->hooks, p->n_hooks) != 0) goto done;
    if (!(out->tokens = malloc(sizeof(int32_t) * ((size_t)p->gen.max_tokens + 1)))) {
        lw_fail("out of memory");
        goto done;
    }
    lw_span span = {.tokens = toks, .n = n_tok};
    int n = lw_generate(s, 0, &span, 1, &p->gen, out->tokens, p->gen.max_tokens);
    if (n < 0) goto done;
    out->n_tokens = n;
    out->stop = lw_generate_stop_reason(s);
    rc = 0;
done:
    free(toks);
    lw_session_free(s);
    if (rc != 0) lw_generate_text_result_free(out);
    return rc;
}
