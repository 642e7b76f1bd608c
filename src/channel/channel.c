/* Channels between a sender model A and a receiver model B (see channel.h).
 *
 * Every model input here is fed in the same pieces, each its own run: [BOS], then the
 * message (tokens or soft tokens), then the text or prompt. Equal pieces mean equal batch
 * shapes, so a channel that sends the same thing as another gives bit-identical logits
 * (CIPHER in one-hot mode equals TEXT; AC replace with its own activation is a no-op). */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/logsumexp.h"
#include "channel/channel_internal.h"

static const char *KIND_NAMES[] = {"none", "context", "text", "cipher", "ac"};
static const char *AC_NAMES[] = {"replace", "sum", "mean"};

const char *lw_channel_name(lw_channel_kind k) { return k <= LW_CHANNEL_AC ? KIND_NAMES[k] : "?"; }
int lw_channel_from_name(const char *name) {
    if (!name) return lw_fail("lw_channel_from_name: the name is NULL");
    for (int i = 0; i <= LW_CHANNEL_AC; i++)
        if (!strcmp(name, KIND_NAMES[i])) return i;
    return -1;
}
const char *lw_ac_op_name(lw_ac_op op) { return op <= LW_AC_MEAN ? AC_NAMES[op] : "?"; }
int lw_ac_op_from_name(const char *name) {
    if (!name) return lw_fail("lw_ac_op_from_name: the name is NULL");
    for (int i = 0; i <= LW_AC_MEAN; i++)
        if (!strcmp(name, AC_NAMES[i])) return i;
    return -1;
}

lw_channel_params lw_channel_default_params(void) {
    lw_channel_params p = {0};
    p.kind = LW_CHANNEL_TEXT;
    p.message_tokens = 24;
    p.sender_temp = 0.0f;
    p.cipher_top_p = 1.0f;
    p.cipher_onehot = 2.0f;
    p.ac_k = LW_AC_LAYER_MIDDLE; /* why not the last block: see channel.h */
    p.ac_j = LW_AC_LAYER_MIDDLE;
    p.ac_op = LW_AC_REPLACE;
    p.answer_tokens = 8;
    p.seed = 1;
    return p;
}

void lw_channel_result_free(lw_channel_result *r) {
    if (!r) return;
    free(r->message);
    free(r->output);
    free(r->message_tokens);
    memset(r, 0, sizeof *r);
}

bool lw_model_same_vocab(const lw_model *a, const lw_model *b) {
    if (!a || !b) return lw_fail("lw_model_same_vocab: model %s is NULL", a ? "b" : "a"), false;
    if (a == b) return true;
    /* each model hashes its vocabulary once (lw_model_vocab_hash caches it): a channel or a
     * debate asks per item, and Gemma's vocabulary has 262k pieces */
    const char *ha = lw_model_vocab_hash(a), *hb = lw_model_vocab_hash(b);
    return ha && hb && strcmp(ha, hb) == 0;
}

/* ------------------------------------------------------------------ feeding pieces */

side lw_ch_make_side(lw_session *s, int64_t *forwarded, int64_t *passes) {
    side x = {.s = s, .forwarded = forwarded, .passes = passes};
    lw_model_get_info(lw_session_model(s), &x.info);
    x.adds_space = lw_tokenizer_adds_space(lw_session_model(s));
    return x;
}

/* Appends one piece to sequence 0 (logits at its last position). */
int lw_ch_feed(side *x, const int32_t *tokens, const float *embd, int n) {
    if (n <= 0) return 0;
    lw_span sp = {.tokens = tokens, .embd = embd, .n = n};
    lw_seq_input in = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_LAST};
    if (lw_session_run(x->s, &in, 1) != 0) return -1;
    *x->forwarded += n;
    *x->passes += 1;
    x->need_sep = true;
    return 0;
}

int lw_ch_feed_bos(side *x) {
    x->need_sep = false;
    if (x->info.bos < 0 || !x->info.add_bos) return 0;
    int rc = lw_ch_feed(x, &x->info.bos, NULL, 1);
    x->need_sep = false;
    return rc;
}

int lw_ch_tokenize_piece(const side *x, const char *text, const char *tail, int32_t **tok) {
    const char *sep = x->need_sep && !x->adds_space ? " " : "";
    size_t n = strlen(sep) + strlen(text) + (tail ? strlen(tail) : 0) + 1;
    char *joined = malloc(n);
    if (!joined) return lw_fail("out of memory");
    snprintf(joined, n, "%s%s%s", sep, text, tail ? tail : "");
    int got = lw_tokenize_special_alloc(lw_session_model(x->s), joined, false, tok);
    free(joined);
    return got;
}

int lw_ch_feed_text_tail(side *x, const char *text, const char *tail) {
    int32_t *tok;
    int n = lw_ch_tokenize_piece(x, text, tail, &tok);
    if (n < 0) return -1;
    int rc = lw_ch_feed(x, tok, NULL, n);
    free(tok);
    return rc;
}

int lw_ch_feed_text(side *x, const char *text) { return lw_ch_feed_text_tail(x, text, NULL); }

int lw_ch_feed_chat_open(side *x, const char *prefix) {
    int32_t *tok;
    int n = lw_tokenize_special_alloc(lw_session_model(x->s), prefix, false, &tok);
    if (n < 0) return -1;
    int rc = lw_ch_feed(x, tok, NULL, n);
    free(tok);
    x->need_sep = false;
    return rc;
}

const float *lw_ch_last_logits(const side *x) {
    return lw_session_logits(x->s, 0, lw_session_seq_len(x->s, 0) - 1);
}

int lw_channel_resolve_layer(int l, int n_layer) {
    if (l == LW_AC_LAYER_MIDDLE) return lw_layer_middle(n_layer);
    int r = lw_layer_index(l, n_layer);
    if (r < 0) return lw_fail("layer %d is out of range (the model has layers 0..%d)", l, n_layer - 1);
    return r;
}

static int resolve_layer(int l, int n_layer, const char *what) {
    int r = lw_channel_resolve_layer(l, n_layer);
    if (r < 0) return lw_fail("channel: %s layer %d is out of range (model has layers 0..%d)", what, l, n_layer - 1);
    return r;
}

/* ------------------------------------------------------------------ senders */


int lw_ch_get_affixes(const side *x, bool chat, affixes *af) {
    af->prefix = af->suffix = NULL;
    return chat ? lw_chat_affixes(lw_session_model(x->s), &af->prefix, &af->suffix) : 0;
}

int lw_ch_open_input(side *x, const affixes *af) {
    if (lw_ch_feed_bos(x) != 0) return -1;
    return af->prefix ? lw_ch_feed_chat_open(x, af->prefix) : 0;
}

int lw_ch_input_len(const side *x, const affixes *af, const char *text) {
    int n = x->info.bos >= 0 && x->info.add_bos ? 1 : 0;
    int32_t *tok = NULL;
    if (af->prefix) {
        int k = lw_tokenize_special_alloc(lw_session_model(x->s), af->prefix, false, &tok);
        free(tok);
        tok = NULL; /* the piece's tokenizing can fail before it sets tok */
        if (k < 0) return -1;
        n += k;
    }
    side fresh = *x; /* after the opening the piece starts fresh, as lw_ch_open_input leaves it */
    fresh.need_sep = false;
    int k = lw_ch_tokenize_piece(&fresh, text, af->suffix, &tok);
    free(tok);
    return k < 0 ? -1 : n + k;
}

/* A's input: [BOS] + text, or the text as a user turn with the assistant's opening after. */
static int feed_sender_text(side *a, bool chat, const char *text) {
    affixes af;
    if (lw_ch_get_affixes(a, chat, &af) != 0) return -1;
    int rc = lw_ch_open_input(a, &af);
    if (rc == 0) rc = lw_ch_feed_text_tail(a, text, af.suffix);
    free(af.prefix);
    free(af.suffix);
    return rc;
}

int lw_channel_input_tokens(lw_session *s, bool chat, const char *text) {
    if (!s || !text) return lw_fail("lw_channel_input_tokens: the session or the text is NULL");
    int64_t forwarded = 0, passes = 0;
    side x = lw_ch_make_side(s, &forwarded, &passes);
    affixes af;
    int n = lw_ch_get_affixes(&x, chat, &af);
    if (n == 0) n = lw_ch_input_len(&x, &af, text);
    free(af.prefix);
    free(af.suffix);
    return n;
}

int lw_ch_check_generation_fits(const side *x, int n, const char *option, const char *who) {
    int ctx = lw_session_n_ctx(x->s), held = lw_session_seq_len(x->s, 0), most = ctx - held + 1;
    if (n <= most) return 0;
    return lw_fail("%s %d does not fit: the %s's context of %d tokens holds %d of its input; use at most %d for "
                   "this item, or shorter texts", option, n, who, ctx, held, most);
}

/* TEXT: A continues its text; the message is the generated tokens. */
static int send_text(side *a, const lw_channel_params *p, const char *text, lw_channel_result *r) {
    if (feed_sender_text(a, p->chat, text) != 0) return -1;
    if (lw_ch_check_generation_fits(a, p->message_tokens, "--message-tokens", "sender") != 0) return -1;
    lw_gen_params gp = lw_gen_default_params();
    gp.max_tokens = p->message_tokens;
    gp.temperature = p->sender_temp;
    gp.seed = (uint32_t)p->seed;
    r->message_tokens = malloc(sizeof(int32_t) * (size_t)(p->message_tokens + 1));
    int n = lw_generate(a->s, 0, NULL, 0, &gp, r->message_tokens, p->message_tokens);
    if (n < 0) return -1;
    r->n_message = n;
    r->cost.a_generated = n;
    r->cost.a_forwarded += n > 0 ? n - 1 : 0; /* every sampled token but the last is fed back */
    r->cost.a_passes += n > 0 ? n - 1 : 0;
    r->message = lw_detokenize(lw_session_model(a->s), r->message_tokens, n, false);
    r->cost.message_bytes = r->message ? (int64_t)strlen(r->message) : 0;
    return r->message ? 0 : -1;
}


typedef struct {
    double p;
    int32_t id;
} prob_id;

static int by_prob_desc(const void *x, const void *y) {
    const prob_id *a = x, *b = y;
    if (a->p != b->p) return a->p < b->p ? 1 : -1;
    return (a->id > b->id) - (a->id < b->id);
}

/* softmax(logits / T), truncated to top-k / top-p and renormalized, into p (double math). */
void lw_ch_cipher_distribution(const float *logits, int V, const lw_channel_params *prm, float *p) {
    double T = prm->sender_temp > 0 ? prm->sender_temp : 1.0;
    const lw_lse_terms e = lw_lse_terms_of(logits, V, T);
    /* exp(l / T - max) / sum, not exp(l / T - lse): the probabilities the cipher always drew from */
    for (int i = 0; i < V; i++) p[i] = (float)(exp(logits[i] / T - e.max) / e.sum);
    if (prm->cipher_top_k <= 0 && prm->cipher_top_p >= 1.0f) return;
    /* rank by probability (ties: lower id first), keep the head, renormalize */
    prob_id *order = malloc(sizeof *order * (size_t)V);
    for (int i = 0; i < V; i++) order[i] = (prob_id){p[i], i};
    qsort(order, (size_t)V, sizeof *order, by_prob_desc);
    int keep = prm->cipher_top_k > 0 && prm->cipher_top_k < V ? prm->cipher_top_k : V;
    double mass = 0;
    int kept = 0;
    while (kept < keep) {
        mass += order[kept++].p;
        if (mass >= prm->cipher_top_p) break;
    }
    memset(p, 0, sizeof(float) * (size_t)V);
    for (int i = 0; i < kept; i++) p[order[i].id] = (float)(order[i].p / mass);
    free(order);
}

/* e = p E (1 x V times V x d) with BLAS. */
void lw_ch_expected_embedding(const float *p, const float *E, int V, int d, float *e) {
    cblas_sgemv(CblasRowMajor, CblasTrans, V, d, 1.0f, E, d, p, 1, 0.0f, e, 1);
}

/* The token whose embedding has the highest cosine with e. */
int32_t lw_ch_nearest_token(const float *E, const float *norms, int V, int d, const float *e, float *scores) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, V, d, 1.0f, E, d, e, 1, 0.0f, scores, 1);
    for (int i = 0; i < V; i++) scores[i] = norms[i] > 0 ? scores[i] / norms[i] : -INFINITY;
    return lw_argmax(scores, V);
}

/* CIPHER generation from what is resident in a's sequence 0: up to prm->message_tokens
 * distributions into msg, their nearest tokens into r->message_tokens. */
int lw_ch_cipher_generate(side *a, const lw_channel_params *prm, cipher_msg *msg, lw_channel_result *r) {
    const lw_model *m = lw_session_model(a->s);
    const float *E = lw_model_token_embeddings_cached(m);
    if (!E) return -1;
    const int V = a->info.n_vocab, d = a->info.n_embd;
    float *norms = malloc(sizeof(float) * V), *scores = malloc(sizeof(float) * V), *e = malloc(sizeof(float) * d);
    msg->p = malloc(sizeof(float) * (size_t)V * (prm->message_tokens + 1));
    r->message_tokens = malloc(sizeof(int32_t) * (size_t)(prm->message_tokens + 1));
    for (int i = 0; i < V; i++) norms[i] = cblas_snrm2(d, E + (size_t)i * d, 1);
    int rc = 0;
    msg->n_steps = 0;
    for (int step = 0; step < prm->message_tokens; step++) {
        const float *logits = lw_ch_last_logits(a);
        if (!logits) {
            rc = lw_fail("cipher: no sender logits");
            break;
        }
        float *p = msg->p + (size_t)msg->n_steps * V;
        lw_ch_cipher_distribution(logits, V, prm, p);
        int32_t top = lw_argmax(p, V);
        if (top < 0) { /* every probability NaN (message set) */
            rc = -1;
            break;
        }
        if (p[top] >= prm->cipher_onehot) { /* partial mode: confident steps send the token itself */
            memset(p, 0, sizeof(float) * V);
            p[top] = 1.0f;
        }
        lw_ch_expected_embedding(p, E, V, d, e);
        bool finite = true;
        for (int j = 0; j < d && finite; j++) finite = isfinite(e[j]);
        if (!finite) { /* NaN would make every cosine NaN and the nearest token an arbitrary one */
            rc = lw_fail("cipher: the expected embedding at message step %d is not finite: the sender's "
                         "embedding table holds a non-finite value", step);
            break;
        }
        int32_t near = lw_ch_nearest_token(E, norms, V, d, e, scores);
        if (near < 0) { /* every cosine NaN (message set) */
            rc = -1;
            break;
        }
        r->cost.a_generated++;
        if (lw_token_is_eog(m, near)) break; /* any end-of-generation token (EOS, <|im_end|>, <end_of_turn>...) */
        r->message_tokens[msg->n_steps++] = near;
        if (step + 1 == prm->message_tokens) break; /* the last vector is not fed back */
        if (lw_ch_feed(a, NULL, e, 1) != 0) {
            rc = -1;
            break;
        }
    }
    r->n_message = msg->n_steps;
    free(r->message);
    r->message = lw_detokenize(m, r->message_tokens, msg->n_steps, false);
    r->cost.message_floats += (int64_t)msg->n_steps * V; /* the distributions are what crosses */
    r->cost.message_bytes = r->cost.message_floats * 4;
    free(norms);
    free(scores);
    free(e);
    return rc;
}

static int send_cipher(side *a, const lw_channel_params *prm, const char *text, cipher_msg *msg, lw_channel_result *r) {
    if (feed_sender_text(a, prm->chat, text) != 0) return -1;
    if (lw_ch_check_generation_fits(a, prm->message_tokens, "--message-tokens", "sender") != 0) return -1;
    return lw_ch_cipher_generate(a, prm, msg, r);
}

/* A's resid_post rows at blocks layers[0..n_layers) for the last `last_n` positions of the text
 * piece (0: every position; the piece has its chat closing when chatting; [BOS] and the chat
 * opening are fed first, without the hooks), in one run: malloc'd into *rows, n_layers blocks of
 * last_n (or n) x n_embd, in the order of layers. Only the rows needed are captured: at the last
 * block llama.cpp computes just the rows asked for, and a matmul over more rows rounds
 * differently, so a receiver patching the same positions sees the batch shape the sender had.
 * The text piece's run only captures and asks for no logits, so it stops after the deepest of
 * the layers; a block's rows do not depend on the blocks after it, so reading several layers in
 * one run gives each the very bytes a run for it alone gives. The piece's length n, or -1. */
int lw_ch_read_layers(side *a, bool chat, const char *text, const int *layers, int n_layers, int last_n, bool mean,
                      float **rows) {
    *rows = NULL;
    if (n_layers < 1) return lw_fail("no layer to read");
    affixes af;
    int32_t *tok = NULL;
    int n = -1;
    if (lw_ch_get_affixes(a, chat, &af) != 0) return -1;
    if (lw_ch_open_input(a, &af) == 0) n = lw_ch_tokenize_piece(a, text, af.suffix, &tok);
    free(af.prefix);
    free(af.suffix);
    if (n == 0) lw_fail("the sender text \"%.40s\" has no tokens", text);
    else if (n > 0 && last_n > n)
        n = lw_fail("T = %d positions asked, but the sender text \"%.40s\" has only %d", last_n, text, n);
    if (n <= 0) {
        free(tok);
        return -1;
    }
    const int d = a->info.n_embd, k = last_n > 0 ? last_n : n, start = lw_session_seq_len(a->s, 0) + n - k;
    const size_t block = mean ? (size_t)d : (size_t)k * d;
    int32_t *at = malloc(sizeof(int32_t) * (size_t)k);
    int *ids = malloc(sizeof(int) * (size_t)n_layers);
    for (int i = 0; at && i < k; i++) at[i] = start + i;
    int rc = at && ids ? 0 : lw_fail("out of memory");
    for (int j = 0; rc == 0 && j < n_layers; j++) {
        lw_hook h = lw_hook_default();
        h.layer = layers[j];
        h.seq = 0;
        h.pos_mode = LW_POS_LIST;
        h.positions = at;
        h.n_positions = k;
        ids[j] = lw_session_add_hook(a->s, &h);
        if (ids[j] < 0) rc = -1;
    }
    lw_span sp = {.tokens = tok, .n = n};
    lw_seq_input in = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_NONE};
    if (rc == 0) rc = lw_session_run(a->s, &in, 1);
    if (rc == 0 && !(*rows = malloc(sizeof(float) * block * (size_t)n_layers))) rc = lw_fail("out of memory");
    for (int j = 0; rc == 0 && j < n_layers; j++) {
        const float *got;
        if (lw_session_capture(a->s, ids[j], &got, NULL, NULL) != k) rc = lw_fail("capture: wrong row count");
        else if (!mean) memcpy(*rows + (size_t)j * block, got, sizeof(float) * block);
        else
            for (int c = 0; c < d; c++) { /* summed in double, in position order */
                double sum = 0;
                for (int i = 0; i < k; i++) sum += got[(size_t)i * d + c];
                (*rows)[(size_t)j * d + c] = (float)(sum / k);
            }
    }
    if (rc == 0) {
        *a->forwarded += n;
        *a->passes += 1;
    } else {
        free(*rows);
        *rows = NULL;
    }
    lw_session_clear_hooks(a->s);
    free(ids);
    free(at);
    free(tok);
    return rc == 0 ? n : -1;
}

int lw_ch_read_layer(side *a, bool chat, const char *text, int layer, int last_n, float **rows) {
    return lw_ch_read_layers(a, chat, text, &layer, 1, last_n, false, rows);
}

/* AC: A's last-token residual at layer k, from a run cut short after layer k. */
static float *send_ac(side *a, const lw_channel_params *p, const char *text) {
    int k = resolve_layer(p->ac_k, a->info.n_layer, "sender");
    if (k < 0) return NULL;
    float *row;
    return lw_ch_read_layer(a, p->chat, text, k, 1, &row) > 0 ? row : NULL;
}

/* ------------------------------------------------------------------ the run */

int lw_ch_answer(side *b, int answer_tokens, char **output, int *n_generated, float *logits) {
    *output = NULL;
    lw_gen_params gp = lw_gen_default_params();
    gp.max_tokens = answer_tokens;
    const float *l = lw_ch_last_logits(b);
    if (!l) return lw_fail("no receiver logits");
    if (logits) memcpy(logits, l, sizeof(float) * b->info.n_vocab);
    int32_t *out = malloc(sizeof(int32_t) * (size_t)(answer_tokens + 1));
    int n = out ? lw_generate(b->s, 0, NULL, 0, &gp, out, answer_tokens) : lw_fail("out of memory");
    if (n >= 0) {
        *n_generated = n;
        *b->forwarded += n > 0 ? n - 1 : 0; /* every generated token but the last is fed back */
        *b->passes += n > 0 ? n - 1 : 0;
        *output = lw_detokenize(lw_session_model(b->s), out, n, false);
    }
    free(out);
    return *output ? 0 : -1;
}

static int receive_and_answer(side *b, const lw_channel_params *p, lw_channel_result *r, float **logits_out) {
    if (lw_ch_check_generation_fits(b, p->answer_tokens, "--answer-tokens", "receiver") != 0) return -1;
    if (logits_out && !(*logits_out = malloc(sizeof(float) * b->info.n_vocab))) return lw_fail("out of memory");
    int n = 0, rc = lw_ch_answer(b, p->answer_tokens, &r->output, &n, logits_out ? *logits_out : NULL);
    r->cost.b_generated = n;
    return rc;
}

/* The AC vector for B: a itself, or a mapped to B's width (equal widths without a map
 * are checked by the caller). */
static float *ac_vector(const lw_channel_params *p, const float *a, int dA, int dB) {
    float *v = calloc((size_t)dB, sizeof(float));
    if (!v) return NULL;
    if (p->ac_W) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, dB, dA, 1.0f, p->ac_W, dA, a, 1, 0.0f, v, 1);
        if (p->ac_bias)
            for (int i = 0; i < dB; i++) v[i] += p->ac_bias[i];
    } else if (p->ac_bridge) {
        if (lw_bridge_apply_source(p->ac_bridge, a, 1, v) != 0) {
            free(v);
            return NULL;
        }
    } else {
        memcpy(v, a, sizeof(float) * (size_t)dB);
    }
    return v;
}

/* Every value the run reads, checked before any work: a kind or op outside its enum ran as none
 * (or grafted nothing while counting floats sent), and a NaN temperature or top-p was replaced
 * by the default without a word. */
static int check_channel_params(const lw_channel_params *p) {
    if ((unsigned)p->kind > (unsigned)LW_CHANNEL_AC)
        return lw_fail("channel: kind %d is not a channel (LW_CHANNEL_NONE .. LW_CHANNEL_AC)", (int)p->kind);
    if (p->answer_tokens < 1) return lw_fail("channel: answer_tokens = %d (need at least 1)", p->answer_tokens);
    if (p->kind == LW_CHANNEL_TEXT || p->kind == LW_CHANNEL_CIPHER) {
        if (p->message_tokens < 1) return lw_fail("channel: message_tokens = %d (need at least 1)", p->message_tokens);
        if (!isfinite(p->sender_temp) || p->sender_temp < 0)
            return lw_fail("channel: sender_temp = %g (need a finite value >= 0)", (double)p->sender_temp);
    }
    if (p->kind == LW_CHANNEL_CIPHER) {
        if (p->cipher_top_k < 0) return lw_fail("channel: cipher_top_k = %d (0: off, else at least 1)", p->cipher_top_k);
        if (!(p->cipher_top_p > 0 && p->cipher_top_p <= 1))
            return lw_fail("channel: cipher_top_p = %g (need a value in (0, 1]; 1: off)", (double)p->cipher_top_p);
        if (!(p->cipher_onehot >= 0)) /* NaN too */
            return lw_fail("channel: cipher_onehot = %g (need a value >= 0; 0: always one-hot, above 1: never)",
                           (double)p->cipher_onehot);
    }
    if (p->kind == LW_CHANNEL_AC && (unsigned)p->ac_op > (unsigned)LW_AC_MEAN)
        return lw_fail("channel: ac_op %d is not replace, sum or mean", (int)p->ac_op);
    return 0;
}

int lw_channel_run(lw_session *sender, lw_session *receiver, const lw_channel_params *p, const char *sender_text,
                   const char *receiver_prompt, lw_channel_result *r, float **logits_out) {
    if (!r) return lw_fail("channel: the result r is NULL");
    memset(r, 0, sizeof *r);
    if (logits_out) *logits_out = NULL;
    if (!sender || !receiver || !p) return lw_fail("channel: a sender, a receiver and params are required");
    if (check_channel_params(p) != 0) return -1;
    if (!receiver_prompt || !*receiver_prompt) return lw_fail("channel: the receiver prompt is empty");
    if (p->kind != LW_CHANNEL_NONE && (!sender_text || !*sender_text))
        return lw_fail("channel: the sender text is empty");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    side a = lw_ch_make_side(sender, &r->cost.a_forwarded, &r->cost.a_passes);
    side b = lw_ch_make_side(receiver, &r->cost.b_forwarded, &r->cost.b_passes);
    if (p->kind == LW_CHANNEL_CIPHER && sender != receiver &&
        !lw_model_same_vocab(lw_session_model(sender), lw_session_model(receiver)))
        return lw_fail("cipher: %s and %s have different vocabularies; CIPHER needs a shared vocabulary",
                       a.info.path, b.info.path);
    if (p->kind == LW_CHANNEL_AC && (p->ac_W || p->ac_bridge) && p->ac_bridge &&
        (lw_bridge_source_dim(p->ac_bridge) != a.info.n_embd || lw_bridge_out_dim(p->ac_bridge) != b.info.n_embd))
        return lw_fail("ac: the bridge maps %d -> %d, the models have widths %d and %d",
                       lw_bridge_source_dim(p->ac_bridge), lw_bridge_out_dim(p->ac_bridge), a.info.n_embd,
                       b.info.n_embd);
    if (p->kind == LW_CHANNEL_AC && !p->ac_W && !p->ac_bridge && a.info.n_embd != b.info.n_embd)
        return lw_fail("ac: the sender is %d wide and the receiver %d; grafting across widths needs a map (acw: "
                       "ac_W or ac_bridge)", a.info.n_embd, b.info.n_embd);
    lw_session_clear(sender, 0);
    lw_session_clear(receiver, 0);
    int rc = 0;
    float *ac = NULL, *soft = NULL;
    cipher_msg cm = {0};
    /* 1. the sender produces the message */
    switch (p->kind) {
    case LW_CHANNEL_NONE:
        r->message = strdup("");
        break;
    case LW_CHANNEL_CONTEXT:
        r->message = strdup(sender_text);
        r->cost.message_bytes = (int64_t)strlen(sender_text);
        break;
    case LW_CHANNEL_TEXT:
        rc = send_text(&a, p, sender_text, r);
        break;
    case LW_CHANNEL_CIPHER:
        rc = send_cipher(&a, p, sender_text, &cm, r);
        break;
    case LW_CHANNEL_AC: {
        float *va = send_ac(&a, p, sender_text);
        rc = va ? 0 : -1;
        int j = rc == 0 ? resolve_layer(p->ac_j, b.info.n_layer, "receiver") : -1;
        if (rc == 0 && j < 0) rc = -1;
        if (rc == 0) ac = ac_vector(p, va, a.info.n_embd, b.info.n_embd);
        if (rc == 0 && !ac) rc = -1;
        free(va);
        char buf[96];
        snprintf(buf, sizeof buf, "[AC L%d->L%d %s%s]", rc == 0 ? lw_channel_resolve_layer(p->ac_k, a.info.n_layer) : p->ac_k, j,
                 lw_ac_op_name(p->ac_op), p->ac_W || p->ac_bridge ? " W" : "");
        r->message = strdup(buf);
        r->cost.message_floats = b.info.n_embd;
        r->cost.message_bytes = r->cost.message_floats * 4;
        break;
    }
    }
    if (sender != receiver) lw_session_clear(sender, 0);
    else lw_session_clear(receiver, 0);
    /* 2. the receiver reads [BOS] + message + " " + prompt (inside one user turn when chatting) */
    affixes bf = {0};
    if (rc == 0) rc = lw_ch_get_affixes(&b, p->chat, &bf);
    if (rc == 0) rc = lw_ch_open_input(&b, &bf);
    if (rc == 0 && p->kind == LW_CHANNEL_CONTEXT) rc = lw_ch_feed_text(&b, sender_text);
    if (rc == 0 && p->kind == LW_CHANNEL_TEXT && r->n_message > 0) {
        if (sender == receiver || lw_model_same_vocab(lw_session_model(sender), lw_session_model(receiver)))
            rc = lw_ch_feed(&b, r->message_tokens, NULL, r->n_message);
        else
            rc = lw_ch_feed_text(&b, r->message);
    }
    if (rc == 0 && p->kind == LW_CHANNEL_CIPHER && cm.n_steps > 0) {
        const float *EB = lw_model_token_embeddings_cached(lw_session_model(receiver));
        soft = malloc(sizeof(float) * (size_t)cm.n_steps * b.info.n_embd);
        rc = EB ? 0 : -1;
        for (int t = 0; rc == 0 && t < cm.n_steps; t++)
            lw_ch_expected_embedding(cm.p + (size_t)t * b.info.n_vocab, EB, b.info.n_vocab, b.info.n_embd,
                               soft + (size_t)t * b.info.n_embd);
        if (rc == 0) rc = lw_ch_feed(&b, NULL, soft, cm.n_steps);
    }
    if (rc == 0 && p->kind == LW_CHANNEL_AC) {
        /* graft at B's last prompt token, layer j, during the prompt piece only */
        int32_t *tok;
        int n = lw_ch_tokenize_piece(&b, receiver_prompt, bf.suffix, &tok);
        int32_t at = lw_session_seq_len(receiver, 0) + n - 1;
        lw_hook h = lw_hook_default();
        h.layer = resolve_layer(p->ac_j, b.info.n_layer, "receiver");
        h.seq = 0;
        h.op = p->ac_op == LW_AC_REPLACE ? LW_OP_REPLACE : p->ac_op == LW_AC_SUM ? LW_OP_ADD : LW_OP_MEAN;
        h.pos_mode = LW_POS_LIST;
        h.positions = &at;
        h.n_positions = 1;
        h.vectors = ac;
        h.n_vectors = 1;

        rc = n > 0 && lw_session_add_hook(receiver, &h) >= 0 ? lw_ch_feed(&b, tok, NULL, n) : -1;
        lw_session_clear_hooks(receiver);
        if (n >= 0) free(tok);
    } else if (rc == 0) {
        rc = lw_ch_feed_text_tail(&b, receiver_prompt, bf.suffix);
    }
    free(bf.prefix);
    free(bf.suffix);
    /* 3. the receiver answers */
    if (rc == 0) rc = receive_and_answer(&b, p, r, logits_out);
    lw_session_clear(receiver, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->cost.wall_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    free(ac);
    free(soft);
    free(cm.p);
    if (rc != 0) {
        lw_channel_result_free(r);
        if (logits_out) {
            free(*logits_out);
            *logits_out = NULL;
        }
    }
    return rc;
}
