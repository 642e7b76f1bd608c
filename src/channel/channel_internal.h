/* Internal pieces shared by the channels and the debate harness. */
#ifndef LW_CHANNEL_INTERNAL_H
#define LW_CHANNEL_INTERNAL_H

#include "latentwire/channel.h"

/* One model's session in a channel, with the cost counters its runs add to. */
typedef struct {
    lw_session *s;
    lw_model_info info;
    int64_t *forwarded, *passes;
    bool adds_space;        /* the tokenizer starts every text with a space (SentencePiece) */
    bool need_sep;          /* content was fed: the next text piece starts a new word */
} side;

side lw_ch_make_side(lw_session *s, int64_t *forwarded, int64_t *passes);
/* Appends one piece (tokens, or soft tokens when tokens == NULL) to sequence 0, with the
 * logits of its last position. */
int lw_ch_feed(side *x, const int32_t *tokens, const float *embd, int n);
int lw_ch_feed_bos(side *x);
/* Tokenizes a text piece without BOS (special tokens parsed) and feeds it. A piece that
 * follows other content is joined with one space, whatever the tokenizer: SentencePiece
 * adds it by itself, byte-level BPE needs it spelled (else "much." + "One" reads "much.One").
 * tail (or NULL) is appended verbatim, e.g. a chat template's closing. */
int lw_ch_feed_text(side *x, const char *text);
int lw_ch_feed_text_tail(side *x, const char *text, const char *tail);
/* The tokens lw_ch_feed_text_tail would feed (malloc'd); the count or -1. */
int lw_ch_tokenize_piece(const side *x, const char *text, const char *tail, int32_t **tok);
/* A chat template's opening (special tokens parsed); the next piece starts fresh. */
int lw_ch_feed_chat_open(side *x, const char *prefix);

/* The chat template's text around one user message (both NULL when not chatting). */
typedef struct {
    char *prefix, *suffix;
} affixes;
int lw_ch_get_affixes(const side *x, bool chat, affixes *af);
/* [BOS] (+ the template's opening when chatting): what every input starts with. */
int lw_ch_open_input(side *x, const affixes *af);
/* n generated tokens after what x holds fit its context (all but the last are fed back); otherwise
 * -1 naming option and the most that fits: generation would stop at the full context and the
 * message or answer come out shorter than asked, unseen. */
int lw_ch_check_generation_fits(const side *x, int n, const char *option, const char *who);
/* The tokens lw_ch_open_input and then lw_ch_feed_text_tail(text, af->suffix) would put in the
 * context, counted without running the model (a check before any work); -1 on error. */
int lw_ch_input_len(const side *x, const affixes *af, const char *text);
const float *lw_ch_last_logits(const side *x);

/* x's resid_post rows at block `layer` for the last last_n positions of text (0: all), read
 * after [BOS] and the chat opening (when chat) in a run that stops after that layer:
 * last_n (or n) x n_embd malloc'd; the text's length n, or -1. lw_ch_read_layers reads
 * n_layers blocks in one run (stopping after the deepest), each block's rows the bytes a
 * run for it alone gives, one after another in the order of layers. With mean, each block is
 * the mean of its rows instead (n_layers x n_embd), taken from the capture itself so that a
 * long text's rows are held once, not twice. */
int lw_ch_read_layers(side *x, bool chat, const char *text, const int *layers, int n_layers, int last_n, bool mean,
                      float **rows);
int lw_ch_read_layer(side *x, bool chat, const char *text, int layer, int last_n, float **rows);
/* x answers greedily (answer_tokens at most) from its last logits: the text malloc'd into
 * *output, the count generated; logits (n_vocab, or NULL) gets the first answer token's logits. */
int lw_ch_answer(side *x, int answer_tokens, char **output, int *n_generated, float *logits);

/* CIPHER's step distribution: softmax(logits / T) with top-k / top-p truncation. */
void lw_ch_cipher_distribution(const float *logits, int V, const lw_channel_params *prm, float *p);
/* e = p E (1 x V times V x d). */
void lw_ch_expected_embedding(const float *p, const float *E, int V, int d, float *e);
/* The token whose embedding row has the highest cosine with e. */
int32_t lw_ch_nearest_token(const float *E, const float *norms, int V, int d, const float *e, float *scores);

/* CIPHER: distributions over the shared vocabulary, n_steps x n_vocab (dense). */
typedef struct {
    float *p;
    int n_steps;
} cipher_msg;

/* CIPHER generation from what is resident in a's sequence 0 (see channel.h). */
int lw_ch_cipher_generate(side *a, const lw_channel_params *prm, cipher_msg *msg, lw_channel_result *r);

#endif
