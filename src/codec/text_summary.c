/* "summary": the oracle summary, an asymmetric reference row (lw_codec_kind_competes is false).
 * The model (params.lm) writes a summary of the text, greedily, at most summary_tokens tokens
 * (default 32), after this fixed instruction:
 *   "Summarize the following text in one short sentence.\n\n" + text
 * as the one user message of the model's chat template when it has one (the assistant's
 * opening added), else followed by "\n\nSummary:". The summary (leading and trailing
 * whitespace trimmed) is sent as raw DEFLATE (as "zlib"; at a budget its longest fitting
 * prefix); decode returns the summary, not the text: the codec is lossy. No side information
 * (the receiver inflates; only the sender runs the model); the fit records the model's sha256,
 * and a loaded codec refuses another model (it may be loaded without one to decode). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/text_common.h"

#define SUMMARY_INSTRUCTION "Summarize the following text in one short sentence."
#define SUMMARY_PLAIN_CUE "\n\nSummary:"

/* The prompt the model continues: chat template when it has one, else the plain cue. */
static char *summary_prompt(const lw_model *m, const char *text, bool *chat) {
    size_t n = strlen(SUMMARY_INSTRUCTION) + 2 + strlen(text) + strlen(SUMMARY_PLAIN_CUE) + 1;
    char *content = malloc(n);
    if (!content) return NULL;
    snprintf(content, n, "%s\n\n%s", SUMMARY_INSTRUCTION, text);
    const char *role = "user", *msg = content;
    char *prompt = lw_chat_format(m, &role, &msg, 1, true);
    *chat = prompt != NULL;
    if (prompt) {
        free(content);
        return prompt;
    }
    strcat(content, SUMMARY_PLAIN_CUE);
    return content;
}

static char *trim(char *s) {
    size_t n = strlen(s), b = 0;
    while (b < n && isspace((unsigned char)s[b])) b++;
    while (n > b && isspace((unsigned char)s[n - 1])) n--;
    memmove(s, s + b, n - b);
    s[n - b] = '\0';
    return s;
}

/* The model's summary of text (malloc'd), or NULL with a message. */
static char *summarize(const lw_codec *c, const char *text) {
    lw_session *s = c->p.lm;
    if (!s) {
        lw_fail("codec summary needs its model (params.lm) to write a summary");
        return NULL;
    }
    const lw_model *m = lw_session_model(s);
    lw_model_info info;
    lw_model_get_info(m, &info);
    bool chat = false;
    char *prompt = summary_prompt(m, text, &chat), *out = NULL;
    int32_t *tok = NULL, *gen = malloc(sizeof *gen * (size_t)c->p.summary_tokens);
    int n = prompt && gen ? lw_tokenize_special_alloc(m, prompt, info.add_bos, &tok) : -1;
    if (!prompt || !gen) lw_fail("codec summary: out of memory");
    if (n >= 0 && n + c->p.summary_tokens > lw_session_n_ctx(s)) {
        lw_fail("codec summary: the prompt is %d tokens and the summary up to %d; the session's context holds %d", n,
                c->p.summary_tokens, lw_session_n_ctx(s));
        n = -1;
    }
    if (n > 0) {
        lw_gen_params gp = lw_gen_default_params();
        gp.max_tokens = c->p.summary_tokens;
        gp.temperature = 0;
        lw_span span = {tok, NULL, n};
        lw_session_clear(s, 0);
        int k = lw_generate(s, 0, &span, 1, &gp, gen, c->p.summary_tokens);
        lw_session_clear(s, 0);
        out = k >= 0 ? lw_detokenize(m, gen, k, false) : NULL;
        if (out) trim(out);
    }
    free(prompt);
    free(tok);
    free(gen);
    return out;
}

static int check_params(const lw_codec *c) {
    if (c->p.summary_tokens < 1 || c->p.summary_tokens > 4096)
        return lw_fail("codec summary: summary_tokens %d: must be in [1, 4096]", c->p.summary_tokens);
    if (c->p.level < -1 || c->p.level > 9) return lw_fail("codec summary: level %d: must be -1 (default) or 0..9", c->p.level);
    return 0;
}

static int summary_fit(lw_codec *c, const char *const *texts, int n) {
    (void)texts;
    (void)n;
    if (check_params(c) != 0) return -1;
    if (!c->p.lm) return lw_fail("codec summary needs a model (params.lm): the model that writes the summaries");
    const lw_model *m = lw_session_model(c->p.lm);
    const char *sha = lw_model_sha256(m);
    if (!sha) return lw_fail_prefix("codec summary: cannot hash the model: ");
    char *probe = lw_chat_format(m, (const char *[]){"user"}, (const char *[]){"x"}, 1, true);
    c->side_bits = 0;
    json_t *fit = lw_text_fit_record(c);
    json_object_set_new(fit, "model_sha256", json_string(sha));
    json_object_set_new(fit, "instruction", json_string(SUMMARY_INSTRUCTION));
    json_object_set_new(fit, "chat_template", json_boolean(probe != NULL));
    json_object_set_new(fit, "decoding", json_string("greedy"));
    json_object_set_new(fit, "then", json_string("raw DEFLATE of the summary"));
    json_object_set_new(fit, "reference_only", json_true());
    free(probe);
    return 0;
}

static int deflate_bytes(const lw_codec *c, const char *text, size_t n, lw_payload *out) {
    return lw_text_deflate(c->p.level, text, n, out);
}

static int summary_encode(const lw_codec *c, const char *text, lw_payload *out) {
    if (text[0] == '\0') return lw_payload_set(out, "", 0);
    char *summary = summarize(c, text);
    if (!summary) return -1;
    int rc = lw_text_encode_prefix(c, summary, deflate_bytes, out);
    free(summary);
    return rc;
}

static int summary_decode(const lw_codec *c, const uint8_t *bytes, size_t n, char **text) {
    (void)c;
    return lw_text_inflate("summary", bytes, n, text);
}

static int summary_load(lw_codec *c, const lw_st_file *f) {
    (void)f;
    if (check_params(c) != 0) return -1;
    const char *want = json_string_value(json_object_get(json_object_get(c->record, "fit"), "model_sha256"));
    if (!want) return lw_fail("codec summary: the record names no model (fit.model_sha256)");
    if (!c->p.lm) return 0; /* decode only: inflating needs no model */
    const char *have = lw_model_sha256(lw_session_model(c->p.lm));
    if (!have || strcmp(have, want) != 0)
        return lw_fail("codec summary: fitted with the model of sha256 %s, given the model of sha256 %s: load it "
                       "with the fitted model",
                       want, have ? have : "(unreadable)");
    return 0;
}

const lw_codec_ops lw_codec_ops_summary = {
    .fit_text = summary_fit,
    .encode_text = summary_encode,
    .decode_text = summary_decode,
    .load = summary_load,
};
