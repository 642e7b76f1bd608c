/* "lm-arith": the text's tokens, arithmetic-coded (text_range.c) under the model's own
 * next-token distribution.
 *
 * What is coded. The text is tokenized by the model (no BOS, special-token names spelled out
 * as text); the context before the first token is the vocabulary's BOS when it has one, else
 * the first token is coded uniformly over the vocabulary. The text the tokens stand for is
 * their pieces concatenated, less the one space a SentencePiece tokenizer puts before a text
 * it starts (lw_tokenizer_adds_space). A text for which that is not the text itself (a
 * character the vocabulary cannot spell, a normalization) is refused: the codec is lossless or
 * says it cannot be. Payload: the token count m (LEB128 varint) then the coder's bytes; the
 * empty text is the empty payload. At a budget K the payload carries the longest prefix of m
 * whole tokens that fits K / 8 bytes and spells a prefix of the text ending on a whole
 * character; the decoded text is that prefix.
 *
 * The probability table of a step, from the logits l of the model at that position:
 *   w_i = expf(l_i - max l) for l_i >= max l - 20.7 (smaller ones are below the table's
 *   resolution, 2^-30), Z = sum w_i in double, f_i = 1 + floor(w_i / Z * 2^30) (f_i = 1 below
 *   the cut):
 * every token is codable (the floor of 1), total <= 2^30 + V. The floors cost under V / 2^30
 * of probability mass (2^-12 for 262,144 tokens: 0.0004 bits per token).
 *
 * Determinism. The decoder must rebuild the same integer tables from the same logits: both
 * sides run the model one token per call (lw_session_run with one-token spans, logits of that
 * token), on sequence 0 of the session (cleared first), so the logits of position i come from
 * the same computation at encode and decode. Float results depend on the model file, the
 * llama.cpp build, the session's precision and thread count and the backend: encoder and
 * decoder must use the same ones (the model is checked by sha256; the rest is the caller's
 * duty). The session must have no hooks installed.
 *
 * Side information: the model itself, its GGUF file size x 8 bits (the receiver must hold
 * that very file); the fit records its sha256 and a loaded codec refuses another model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec/text_common.h"
#include "codec/text_lm_arith.h"
#include "codec/text_range.h"

/* Below max - 20.7 nats a token's weight is under e^-20.7 < 2^-30 of the top one's, so its share
 * of the 2^30 is under one count (Z >= 1): it gets the floor alone, and its exp is not computed. */
#define LM_CUT_NATS 20.7
#define LM_SCALE 1073741824.0 /* 2^30: the mass shared out above the floors */
#define LM_TABLE_DOC "f_i = 1 + floor(expf(l_i - max) / Z * 2^30), l_i >= max - 20.7"

/* ---------------------------------------------------------------- the probability table */

typedef struct {
    int V;
    int n_hi;             /* tokens above the cut, ascending ids */
    int32_t *hi;
    uint32_t *extra;      /* their frequency above the floor of 1 */
    double *w;
    uint64_t total;
    float mx;             /* the step's largest logit and Z: the model's own probabilities */
    double z;
    const float *logits;  /* NULL: the uniform table */
} lm_table;

static int table_init(lm_table *t, int V) {
    memset(t, 0, sizeof *t);
    t->V = V;
    t->hi = malloc(sizeof *t->hi * (size_t)V);
    t->extra = malloc(sizeof *t->extra * (size_t)V);
    t->w = malloc(sizeof *t->w * (size_t)V);
    if (!t->hi || !t->extra || !t->w) return lw_fail("codec lm-arith: out of memory for a %d-token table", V);
    return 0;
}

static void table_free(lm_table *t) {
    free(t->hi);
    free(t->extra);
    free(t->w);
}

/* The uniform table (no context for the first token). */
static void table_uniform(lm_table *t) {
    t->n_hi = 0;
    t->total = (uint64_t)t->V;
    t->logits = NULL;
}

/* The largest logit: four running maxima (the scan over 262,144 logits is a large part of the
 * coder's time per token; independent chains let the CPU overlap them). */
static float max_logit(const float *l, int n) {
    float m[4] = {l[0], l[0], l[0], l[0]};
    int i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) m[k] = l[i + k] > m[k] ? l[i + k] : m[k];
    for (; i < n; i++) m[0] = l[i] > m[0] ? l[i] : m[0];
    float a = m[0] > m[1] ? m[0] : m[1], b = m[2] > m[3] ? m[2] : m[3];
    return a > b ? a : b;
}

/* Not common/logsumexp.h's lw_lse_terms_of: this table's weights are float expf over the logits
 * above the cut, and the decoder must rebuild the very integer frequencies the encoder used from
 * them (payloads already written depend on it), so its arithmetic stays exactly as it is. */
static void table_from_logits(lm_table *t, const float *logits) {
    float mx = max_logit(logits, t->V);
    float cut = mx - (float)LM_CUT_NATS;
    double z = 0;
    int n = 0;
    for (int i = 0; i < t->V; i++) {
        if (logits[i] < cut) continue;
        double w = (double)expf(logits[i] - mx);
        t->hi[n] = i;
        t->w[n] = w;
        z += w;
        n++;
    }
    uint64_t total = (uint64_t)t->V;
    for (int j = 0; j < n; j++) {
        t->extra[j] = (uint32_t)floor(t->w[j] / z * LM_SCALE);
        total += t->extra[j];
    }
    t->n_hi = n;
    t->total = total;
    t->mx = mx;
    t->z = z;
    t->logits = logits;
}

/* -log2 of the model's probability of token s at this step (the terms below the cut, under
 * V e^-20.7 of Z, left out of Z). */
static double table_model_bits(const lm_table *t, int32_t s) {
    if (!t->logits) return log2((double)t->V);
    return ((double)t->mx - (double)t->logits[s] + log(t->z)) / log(2.0);
}

/* [cum, cum + freq) of token s. */
static void table_interval(const lm_table *t, int32_t s, uint64_t *cum, uint64_t *freq) {
    uint64_t below = 0, f = 1;
    for (int j = 0; j < t->n_hi && t->hi[j] <= s; j++) {
        if (t->hi[j] == s) f += t->extra[j];
        else below += t->extra[j];
    }
    *cum = (uint64_t)s + below;
    *freq = f;
}

/* The token whose interval holds target: runs of floor-only tokens between the ids above the cut. */
static int32_t table_find(const lm_table *t, uint64_t target, uint64_t *cum, uint64_t *freq) {
    uint64_t at = 0; /* cum of token `next` */
    int32_t next = 0;
    for (int j = 0; j < t->n_hi; j++) {
        uint64_t run = (uint64_t)(t->hi[j] - next);
        if (target < at + run) break;
        at += run;
        uint64_t f = 1 + (uint64_t)t->extra[j];
        if (target < at + f) {
            *cum = at;
            *freq = f;
            return t->hi[j];
        }
        at += f;
        next = t->hi[j] + 1;
    }
    int64_t s = (int64_t)next + (int64_t)(target - at);
    if (s >= t->V) s = t->V - 1; /* only a corrupt payload */
    table_interval(t, (int32_t)s, cum, freq);
    return (int32_t)s;
}

/* ---------------------------------------------------------------- the model's steps */

typedef struct {
    lw_session *s;
    const lw_model *m;
    int V;
    int32_t bos;      /* the context token, or -1: the first token is coded uniformly */
    lm_table table;
} lm_run;

static int run_open(const lw_codec *c, lm_run *r) {
    memset(r, 0, sizeof *r);
    if (!c->p.lm) return lw_fail("codec lm-arith needs its model (params.lm) to encode or decode");
    r->s = c->p.lm;
    r->m = lw_session_model(r->s);
    lw_model_info info;
    lw_model_get_info(r->m, &info);
    r->V = info.n_vocab;
    r->bos = info.bos;
    lw_session_clear(r->s, 0);
    return table_init(&r->table, r->V);
}

static void run_close(lm_run *r) {
    if (r->s) lw_session_clear(r->s, 0);
    table_free(&r->table);
}

/* Tokens the context takes before the text's tokens. */
static int context_tokens(const lm_run *r) { return r->bos >= 0 ? 1 : 0; }

static int feed(lm_run *r, int32_t token) {
    lw_span span = {&token, NULL, 1};
    lw_seq_input in = {0, &span, 1, LW_LOGITS_LAST};
    return lw_session_run(r->s, &in, 1);
}

/* Sets the table of the step that codes text token i (i = 0: after the context, fed here). */
static int step_table(lm_run *r, int i) {
    if (i == 0 && r->bos < 0) {
        table_uniform(&r->table);
        return 0;
    }
    if (i == 0 && feed(r, r->bos) != 0) return -1;
    const float *logits = lw_session_logits(r->s, 0, lw_session_seq_len(r->s, 0) - 1);
    if (!logits) return lw_fail("codec lm-arith: the model returned no logits");
    table_from_logits(&r->table, logits);
    return 0;
}

/* ---------------------------------------------------------------- text <-> tokens */

/* The text tokens[0..m) spell: their pieces, less the SentencePiece space prefix. */
static char *spell(const lw_model *m, const int32_t *tok, int n) {
    char *s = lw_detokenize(m, tok, n, false);
    if (s && n > 0 && s[0] == ' ' && lw_tokenizer_adds_space(m)) memmove(s, s + 1, strlen(s));
    return s;
}

/* prefix_ok[k] for k in [0, n]: tokens[0..k) spell a prefix of text ending on a whole
 * character. 0, or -1 when the whole text does not survive the tokenizer. */
static int usable_prefixes(const lw_model *m, const char *text, const int32_t *tok, int n, bool *prefix_ok) {
    size_t len = strlen(text);
    for (int k = 0; k <= n; k++) {
        char *s = spell(m, tok, k);
        if (!s) return lw_fail("codec lm-arith: cannot detokenize the text's tokens");
        size_t sl = strlen(s);
        prefix_ok[k] = sl <= len && memcmp(s, text, sl) == 0 && lw_text_is_char_boundary(text, len, sl);
        if (k == n && sl != len) prefix_ok[k] = false;
        free(s);
    }
    if (!prefix_ok[n])
        return lw_fail("codec lm-arith: the text does not survive the model's tokenizer (its %d tokens spell "
                       "another text: a character the vocabulary cannot spell, or a normalization); this model "
                       "cannot code it losslessly",
                       n);
    return 0;
}

/* ---------------------------------------------------------------- payload */

static size_t varint_put(uint8_t *b, uint64_t v) {
    size_t n = 0;
    do {
        b[n++] = (uint8_t)((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

static size_t varint_get(const uint8_t *b, size_t n, uint64_t *v) {
    *v = 0;
    for (size_t i = 0; i < n && i < 5; i++) {
        *v |= (uint64_t)(b[i] & 0x7F) << (7 * i);
        if (!(b[i] & 0x80)) return i + 1;
    }
    return 0;
}

typedef struct {
    uint64_t cum, freq, total;
} lm_symbol;

/* varint(m) + the coder's bytes for the first m symbols. */
static int make_payload(const lm_symbol *sym, int m, lw_payload *out) {
    lw_rc_enc e;
    lw_rc_enc_init(&e);
    for (int i = 0; i < m; i++) lw_rc_encode(&e, sym[i].cum, sym[i].freq, sym[i].total);
    uint8_t *body = NULL;
    size_t nb = 0;
    if (lw_rc_enc_finish(&e, &body, &nb) != 0) {
        lw_rc_enc_free(&e);
        return lw_fail("codec lm-arith: out of memory");
    }
    out->bytes = malloc(nb + 10);
    if (!out->bytes) {
        free(body);
        return lw_fail("codec lm-arith: out of memory");
    }
    out->n = varint_put(out->bytes, (uint64_t)m);
    if (nb) memcpy(out->bytes + out->n, body, nb);
    out->n += nb;
    free(body);
    return 0;
}

/* The payload's size for the first m symbols coded in e: varint(m) + the coder's flushed bytes.
 * -1 out of memory. */
static int64_t payload_size(const lw_rc_enc *e, int m) {
    uint8_t v[10];
    size_t body;
    if (lw_rc_enc_flushed_size(e, &body) != 0) return lw_fail("codec lm-arith: out of memory");
    return (int64_t)(varint_put(v, (uint64_t)m) + body);
}

/* Runs the model over the tokens, one per call, and records each token's interval. With a
 * budget it stops at the first prefix whose serialized payload (the varint and the coder's
 * flushed bytes, measured after every token) passes K / 8: payload sizes never decrease with
 * the prefix (the varint grows, the coder's intervals nest: lw_rc_enc_flushed_size), so no
 * longer prefix fits, and the model runs one token past the longest fitting prefix, not
 * more. Returns the tokens coded (the last one the first over the budget), -1 on error. */
static int code_tokens(lm_run *r, const int32_t *tok, int n, int64_t budget, lm_symbol *sym, double *model_bits) {
    lw_rc_enc e;
    lw_rc_enc_init(&e);
    int done = 0;
    for (int i = 0; i < n; i++) {
        if (step_table(r, i) != 0) {
            lw_rc_enc_free(&e);
            return -1;
        }
        table_interval(&r->table, tok[i], &sym[i].cum, &sym[i].freq);
        sym[i].total = r->table.total;
        if (model_bits) *model_bits += table_model_bits(&r->table, tok[i]);
        lw_rc_encode(&e, sym[i].cum, sym[i].freq, sym[i].total);
        done = i + 1;
        if (budget > 0) {
            int64_t size = payload_size(&e, done);
            if (size < 0) {
                lw_rc_enc_free(&e);
                return -1;
            }
            if (size * 8 > budget) break;
        }
        if (i + 1 < n && feed(r, tok[i]) != 0) {
            lw_rc_enc_free(&e);
            return -1;
        }
    }
    lw_rc_enc_free(&e);
    return done;
}

int lw_lm_arith_encode_counted(const lw_codec *c, const char *text, lw_payload *out, int *model_steps) {
    if (model_steps) *model_steps = 0;
    if (text[0] == '\0') return lw_payload_set(out, "", 0);
    lm_run r;
    int32_t *tok = NULL;
    bool *ok = NULL;
    lm_symbol *sym = NULL;
    int rc = run_open(c, &r);
    int n = rc == 0 ? lw_tokenize_alloc(r.m, text, false, &tok) : -1;
    if (rc == 0 && n < 0) rc = lw_fail_prefix("codec lm-arith: the model cannot tokenize the text: ");
    if (rc == 0) {
        ok = malloc(sizeof *ok * ((size_t)(n > 0 ? n : 0) + 1));
        sym = malloc(sizeof *sym * (size_t)(n > 0 ? n : 1));
        rc = ok && sym ? usable_prefixes(r.m, text, tok, n, ok) : lw_fail("codec lm-arith: out of memory");
    }
    int limit = n, room = rc == 0 ? lw_session_n_ctx(r.s) - context_tokens(&r) : 0;
    if (rc == 0 && n > room) {
        if (c->p.budget_bits <= 0)
            rc = lw_fail("codec lm-arith: the text is %d tokens; the session's context holds %d after the context "
                         "token: give a larger context or a budget",
                         n, room);
        limit = room;
    }
    int coded = rc == 0 ? code_tokens(&r, tok, limit, c->p.budget_bits, sym, NULL) : -1;
    if (coded < 0) rc = -1;
    else if (model_steps) *model_steps = coded;
    /* the longest usable prefix whose payload fits (the whole text without a budget) */
    for (int m = coded; rc == 0 && m >= 0; m--) {
        if (!ok[m]) continue;
        if (m == 0) {
            rc = lw_payload_set(out, "", 0);
            break;
        }
        if (make_payload(sym, m, out) != 0) {
            rc = -1;
            break;
        }
        if (c->p.budget_bits <= 0 || (int64_t)out->n * 8 <= c->p.budget_bits) break;
        free(out->bytes);
        out->bytes = NULL;
        out->n = 0;
    }
    run_close(&r);
    free(tok);
    free(ok);
    free(sym);
    return rc;
}

static int lm_encode(const lw_codec *c, const char *text, lw_payload *out) {
    return lw_lm_arith_encode_counted(c, text, out, NULL);
}

int lw_lm_arith_encode_tokens(const lw_codec *c, const int32_t *tokens, int m, lw_payload *out, double *model_bits) {
    out->bytes = NULL;
    out->n = 0;
    if (model_bits) *model_bits = 0;
    if (c->p.kind != LW_CODEC_LM_ARITH) return lw_fail("codec %s is not lm-arith", lw_codec_name(c->p.kind));
    if (m == 0) return lw_payload_set(out, "", 0);
    lm_run r;
    lm_symbol *sym = malloc(sizeof *sym * (size_t)(m > 0 ? m : 1));
    int rc = sym ? run_open(c, &r) : lw_fail("codec lm-arith: out of memory");
    if (rc == 0 && m + context_tokens(&r) > lw_session_n_ctx(r.s))
        rc = lw_fail("codec lm-arith: %d tokens do not fit the session's context (%d)", m, lw_session_n_ctx(r.s));
    if (rc == 0 && code_tokens(&r, tokens, m, 0, sym, model_bits) != m) rc = -1;
    if (rc == 0) rc = make_payload(sym, m, out);
    if (sym) run_close(&r);
    free(sym);
    return rc;
}

int lw_lm_arith_encode_logits(int n_vocab, const float *logits, const int32_t *tokens, int m, bool first_uniform,
                              lw_payload *out) {
    out->bytes = NULL;
    out->n = 0;
    if (m == 0) return lw_payload_set(out, "", 0);
    lm_table t;
    lm_symbol *sym = calloc((size_t)(m > 0 ? m : 1), sizeof *sym);
    int rc = sym ? table_init(&t, n_vocab) : lw_fail("codec lm-arith: out of memory");
    for (int i = 0; rc == 0 && i < m; i++) {
        if (i == 0 && first_uniform) table_uniform(&t);
        else table_from_logits(&t, logits + (size_t)i * (size_t)n_vocab);
        table_interval(&t, tokens[i], &sym[i].cum, &sym[i].freq);
        sym[i].total = t.total;
    }
    if (rc == 0) rc = make_payload(sym, m, out);
    if (sym) table_free(&t);
    free(sym);
    return rc;
}

static int lm_decode(const lw_codec *c, const uint8_t *bytes, size_t n, char **text) {
    *text = NULL;
    if (n == 0) return lw_text_from_bytes("lm-arith", bytes, 0, text);
    uint64_t m;
    size_t head = varint_get(bytes, n, &m);
    if (head == 0 || m == 0) return lw_fail("codec lm-arith: the payload's token count is malformed: not this codec's");
    lm_run r;
    if (run_open(c, &r) != 0) {
        run_close(&r);
        return -1;
    }
    int room = lw_session_n_ctx(r.s) - context_tokens(&r);
    if (m > (uint64_t)room) {
        run_close(&r);
        return lw_fail("codec lm-arith: the payload claims %llu tokens, more than the session's context holds (%d): "
                       "not this codec's payload, or a smaller context than the encoder's",
                       (unsigned long long)m, room);
    }
    int32_t *tok = malloc(sizeof *tok * (size_t)m);
    int rc = tok ? 0 : lw_fail("codec lm-arith: out of memory");
    lw_rc_dec d;
    lw_rc_dec_init(&d, bytes + head, n - head);
    for (int i = 0; rc == 0 && i < (int)m; i++) {
        if (step_table(&r, i) != 0) {
            rc = -1;
            break;
        }
        uint64_t cum, freq, total = r.table.total;
        tok[i] = table_find(&r.table, lw_rc_decode_target(&d, total), &cum, &freq);
        lw_rc_decode_symbol(&d, cum, freq, total);
        if (i + 1 < (int)m && feed(&r, tok[i]) != 0) rc = -1;
    }
    if (rc == 0) {
        char *s = spell(r.m, tok, (int)m);
        if (!s) rc = lw_fail("codec lm-arith: cannot detokenize the decoded tokens");
        else rc = lw_text_from_bytes("lm-arith", (const uint8_t *)s, strlen(s), text);
        free(s);
    }
    run_close(&r);
    free(tok);
    return rc;
}

/* ---------------------------------------------------------------- fit, load */

static int lm_fit(lw_codec *c, const char *const *texts, int n) {
    (void)texts;
    (void)n;
    if (!c->p.lm) return lw_fail("codec lm-arith needs a model (params.lm): the model whose distribution codes the text");
    const lw_model *m = lw_session_model(c->p.lm);
    lw_model_info info;
    lw_model_get_info(m, &info);
    const char *sha = lw_model_sha256(m);
    struct stat st;
    if (!sha) return lw_fail_prefix("codec lm-arith: cannot hash the model: ");
    if (stat(info.path, &st) != 0) return lw_fail("codec lm-arith: cannot stat the model file %s", info.path);
    c->side_bits = (int64_t)st.st_size * 8;
    json_t *fit = lw_text_fit_record(c);
    json_object_set_new(fit, "model_sha256", json_string(sha));
    json_object_set_new(fit, "model_file_bytes", json_integer((json_int_t)st.st_size));
    json_object_set_new(fit, "model_name", json_string(info.name));
    json_object_set_new(fit, "vocabulary", json_integer(info.n_vocab));
    json_object_set_new(fit, "context", info.bos >= 0 ? json_sprintf("BOS token %d", (int)info.bos)
                                                      : json_string("none: first token uniform"));
    json_object_set_new(fit, "table", json_string(LM_TABLE_DOC));
    json_object_set_new(fit, "side", json_pack("{s:I}", "model_file_bytes", (json_int_t)st.st_size));
    return 0;
}

static int lm_load(lw_codec *c, const lw_st_file *f) {
    (void)f;
    const char *want = json_string_value(json_object_get(json_object_get(c->record, "fit"), "model_sha256"));
    if (!want) return lw_fail("codec lm-arith: the record names no model (fit.model_sha256)");
    if (!c->p.lm) return lw_fail("codec lm-arith: loading needs the model it was fitted with (sha256 %s)", want);
    const char *have = lw_model_sha256(lw_session_model(c->p.lm));
    if (!have || strcmp(have, want) != 0)
        return lw_fail("codec lm-arith: fitted with the model of sha256 %s, given the model of sha256 %s: load it "
                       "with the fitted model",
                       want, have ? have : "(unreadable)");
    return 0;
}

const lw_codec_ops lw_codec_ops_lm_arith = {
    .fit_text = lm_fit,
    .encode_text = lm_encode,
    .decode_text = lm_decode,
    .load = lm_load,
};
