/* The README's example, complete: capture block 2's last-token activation of one prompt,
 * patch it into another prompt's last token, and decode.
 *   capture_patch MODEL.gguf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latentwire/runtime.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: capture_patch MODEL.gguf\n");
        return 2;
    }
    lw_model *m = lw_model_load(argv[1], lw_model_default_params());
    if (!m) {
        fprintf(stderr, "%s\n", lw_last_error());
        return 1;
    }
    lw_model_info info;
    lw_model_get_info(m, &info);
    int layer = info.n_layer > 2 ? 2 : info.n_layer - 1;
    lw_session *s = lw_session_new(m, lw_session_default_params());
    int32_t *tok;
    int n = lw_tokenize_alloc(m, "Once upon a time, there was a cat", true, &tok);
    lw_span span = {.tokens = tok, .n = n};
    lw_seq_input in = {.seq = 0, .spans = &span, .n_spans = 1, .logits = LW_LOGITS_NONE};

    lw_hook cap = lw_hook_default(); /* capture block `layer`, last position */
    cap.layer = layer;
    cap.pos_mode = LW_POS_LAST;
    int id = lw_session_add_hook(s, &cap);
    if (lw_session_run(s, &in, 1) != 0) return fprintf(stderr, "%s\n", lw_last_error()), 1;
    const float *row;
    lw_session_capture(s, id, &row, NULL, NULL);
    float *v = malloc(sizeof(float) * info.n_embd);
    memcpy(v, row, sizeof(float) * info.n_embd);

    /* patch it into the last prompt token of another prompt (a position list, so the
     * generated tokens are left alone) and decode */
    lw_session_clear_hooks(s);
    int32_t *p2;
    int n2 = lw_tokenize_alloc(m, "Once upon a time, there was a dog", true, &p2);
    int32_t at = n2 - 1;
    lw_hook patch = lw_hook_default();
    patch.layer = layer;
    patch.op = LW_OP_REPLACE;
    patch.pos_mode = LW_POS_LIST;
    patch.positions = &at;
    patch.n_positions = 1;
    patch.vectors = v;
    patch.n_vectors = 1;
    lw_session_add_hook(s, &patch);
    lw_span prompt = {.tokens = p2, .n = n2};
    int32_t out[32];
    lw_gen_params gp = lw_gen_default_params();
    gp.max_tokens = 32;
    int n_out = lw_generate(s, 0, &prompt, 1, &gp, out, 32);
    if (n_out < 0) return fprintf(stderr, "%s\n", lw_last_error()), 1;
    char *text = lw_detokenize(m, out, n_out, false);
    printf("patched continuation: %s\n", text);
    free(text);
    free(p2);
    free(v);
    free(tok);
    lw_session_free(s);
    lw_model_free(m);
    return 0;
}
