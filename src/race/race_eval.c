/* The race's per-item evaluation on real models: floor, ceiling, text codecs and activation
 * codecs through the patch primitive (latentwire/patch.h). Codecs are fitted lazily, once per
 * (channel, budget), on the calibration items only; the sender's activations of an item are
 * read once and reused by every activation codec and budget. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/error.h"
#include "latentwire/channel.h"
#include "race/race_internal.h"

typedef struct {
    lw_codec_kind kind;
    int64_t budget;
    lw_codec *codec;       /* NULL: could not be built (why in reason) */
    char reason[200];
} fitted;

struct lw_race_evaluator {
    lw_race_setup s;
    const lw_task *report, *calib;
    int d_send, d_recv, T;
    int act_item;          /* the item whose activations act holds (-1: none) */
    char act_na[sizeof ((lw_race_outcome *)0)->na];      /* why that item has none */
    float *act, *decoded, *mapped;
    float *calib_rows;     /* sender activations of the calibration items (computed on first use) */
    int64_t n_calib_rows;
    bool calib_done;
    float *mean;           /* the mean channel's vectors (T x d_recv, mapped), made on first use */
    char mean_na[sizeof ((lw_race_outcome *)0)->na];     /* why there are none */
    fitted *fits;
    int n_fits;
    json_t *fit_records;
};

int lw_race_check_bridge(const lw_bridge *b, int d_sender, int d_receiver) {
    if (!b) return lw_fail("race: no bridge");
    int src = lw_bridge_source_dim(b), out = lw_bridge_out_dim(b);
    if (src != d_sender || out != d_receiver)
        return lw_fail("bridge maps %d-wide rows to %d-wide ones, but the sender is %d wide and the receiver %d: "
                       "fit one from the sender's layer to the receiver's (a ridge bridge predicts the receiver's rows)",
                       src, out, d_sender, d_receiver);
    return 0;
}

static bool same_model(lw_session *a, lw_session *b) {
    const lw_model *ma = lw_session_model(a), *mb = lw_session_model(b);
    if (ma == mb) return true;
    const char *ha = lw_model_sha256(ma), *hb = lw_model_sha256(mb);
    return ha && hb && !strcmp(ha, hb);
}

/* The cipher's steps must fit both contexts: the sender holds its text and the steps fed back,
 * the receiver the soft tokens, the query and the answer. Checked before any work: otherwise every
 * item failed late with "tokens do not fit the context ... use shorter texts", naming neither the
 * option nor its limit. At least one token of text and of query is counted. */
static int check_cipher_fits(const lw_race_setup *s) {
    int send_ctx = lw_session_n_ctx(s->sender), recv_ctx = lw_session_n_ctx(s->receiver);
    int by_sender = send_ctx - 1, by_receiver = recv_ctx - 1 - s->patch.answer_tokens;
    int most = by_sender < by_receiver ? by_sender : by_receiver;
    if (s->cipher_steps <= most) return 0;
    if (most < 1)
        return lw_fail("--answer-tokens %d: the answer leaves no room for cipher steps in the receiver's context of "
                       "%d tokens",
                       s->patch.answer_tokens, recv_ctx);
    return lw_fail("--cipher-steps %d: that many steps do not fit: the sender's context holds %d tokens (its text and "
                   "the steps) and the receiver's %d (the soft tokens, the query and %d answer tokens): use at most "
                   "%d, less the tokens of the texts",
                   s->cipher_steps, send_ctx, recv_ctx, s->patch.answer_tokens, most);
}

/* The longest receiver prompt of an item, in tokens, and what it holds (for the message). */
typedef struct {
    int tokens;
    bool bound;        /* an upper bound (a decoded text's prompt), not the count of one prompt */
    char what[96];
} longest_prompt;

static void consider(longest_prompt *l, int tokens, bool bound, const char *what) {
    if (tokens <= l->tokens) return;
    l->tokens = tokens;
    l->bound = bound;
    snprintf(l->what, sizeof l->what, "%s", what);
}

/* Item it's longest receiver prompt over the channels that run (-1 with the error set):
 *   the query alone (floor, act:, cipher's query);
 *   the sender text, a newline and the query (ceiling; text: codecs at a budget that keeps the whole text);
 *   text: codecs: a prefix of the sender text cut at a character boundary, which may split a word and
 *     re-tokenize to more tokens than the whole text (a cut "there" as "ther": 2 tokens for 1). Each
 *     token of it covers at least one byte: at most its bytes, + 1 for the newline before the query
 *     and + 1 for a piece the cut may detach, on top of the query's prompt;
 *   text:summary: the receiver's summary, at most summary_tokens tokens, + 2 likewise. */
static int item_longest(const lw_race_setup *s, const lw_task_item *it, longest_prompt *l) {
    const char *query = lw_race_query(it);
    int q = lw_patch_prompt_tokens(s->receiver, query, &s->patch);
    if (q < 0) return -1;
    *l = (longest_prompt){.tokens = q};
    if (s->texts) {
        char *full = lw_race_prompt(it->sender, query);
        if (!full) return lw_fail("race: out of memory");
        int n = lw_patch_prompt_tokens(s->receiver, full, &s->patch);
        free(full);
        if (n < 0) return -1;
        consider(l, n, false, " (demonstrations and query)");
    }
    size_t bytes = strlen(it->sender);
    if (s->text_codecs && bytes > 0) {
        char what[96];
        snprintf(what, sizeof what, " (a text: channel's decoded text, at most its %zu bytes, and the query)", bytes);
        consider(l, bytes > (size_t)INT_MAX / 2 ? INT_MAX / 2 : q + (int)bytes + 2, true, what);
    }
    if (s->summary && bytes > 0) {
        int sum = lw_codec_default_params(LW_CODEC_SUMMARY).summary_tokens;
        char what[96];
        snprintf(what, sizeof what, " (text:summary's summary, at most %d tokens, and the query)", sum);
        consider(l, q + sum + 2, true, what);
    }
    return 0;
}

/* Every reported item's longest receiver prompt (item_longest) and the answer must fit the
 * receiver's context: lw_generate stops at a full context like at a length limit, so an answer
 * cut short would be scored silently. Counted with the tokenizer before any work. */
static int check_answer_fits(const lw_race_setup *s, const lw_task *report) {
    int ctx = lw_session_n_ctx(s->receiver);
    longest_prompt longest = {0};
    const char *which = NULL;
    for (int i = 0; i < report->n; i++) {
        longest_prompt l;
        if (item_longest(s, &report->items[i], &l) != 0) return -1;
        if (l.tokens > longest.tokens) longest = l, which = report->items[i].id;
    }
    int most = ctx - longest.tokens + 1; /* the last answer token is never fed back */
    if (s->patch.answer_tokens <= most) return 0;
    if (most < 1)
        return lw_fail("--answer-tokens %d: item %s's receiver prompt%s %s %d tokens, which leaves no room for an "
                       "answer in the receiver's context of %d tokens: use a task with shorter texts%s",
                       s->patch.answer_tokens, which, longest.what, longest.bound ? "can be" : "is", longest.tokens,
                       ctx, s->texts ? " (or drop ceiling and text:)" : "");
    return lw_fail("--answer-tokens %d: the receiver's context holds %d tokens and item %s's prompt%s %s %d: use "
                   "--answer-tokens %d or less",
                   s->patch.answer_tokens, ctx, which, longest.what, longest.bound ? "can be" : "is", longest.tokens,
                   most);
}

lw_race_evaluator *lw_race_evaluator_new(const lw_race_setup *s, const lw_task *report, const lw_task *calib) {
    if (!s || !s->sender || !s->receiver || !report) {
        lw_fail("race: the evaluator needs a sender, a receiver and items");
        return NULL;
    }
    lw_model_info is, ir;
    lw_model_get_info(lw_session_model(s->sender), &is);
    lw_model_get_info(lw_session_model(s->receiver), &ir);
    int T = s->patch.pooled ? 1 : s->patch.positions;
    if (T < 1) {
        lw_fail("race: %d positions: must be at least 1", T);
        return NULL;
    }
    if (s->bridge && lw_race_check_bridge(s->bridge, is.n_embd, ir.n_embd) != 0) return NULL;
    if (s->activations && !s->bridge && !same_model(s->sender, s->receiver)) {
        lw_fail("race: the sender and the receiver are different models: the act: and mean channels need a bridge from "
                "the sender's layer to the receiver's (--bridge FILE, made by `latentwire bridge fit`)");
        return NULL;
    }
    if (s->cipher && s->sender != s->receiver &&
        !lw_model_same_vocab(lw_session_model(s->sender), lw_session_model(s->receiver))) {
        lw_fail("race: the cipher channel needs the sender and the receiver to share a vocabulary, and %s and %s have "
                "different ones: drop cipher from --channel for this pair", is.path, ir.path);
        return NULL;
    }
    if (s->cipher_steps < 0) {
        lw_fail("race: %d cipher steps: must be 0 (as many as fit) or positive", s->cipher_steps);
        return NULL;
    }
    if (s->cipher && s->cipher_steps > 0 && check_cipher_fits(s) != 0) return NULL;
    if (check_answer_fits(s, report) != 0) return NULL;
    /* T vectors are written to the query's last T positions: a shorter query failed at its item
     * after the run had begun (scan refuses it up front too) */
    int shortest = INT_MAX, which = -1;
    for (int i = 0; s->activations && !s->patch.pooled && i < report->n; i++) {
        int n = lw_patch_prompt_positions(s->receiver, lw_race_query(&report->items[i]), &s->patch);
        if (n < 0) return NULL;
        if (n < shortest) shortest = n, which = i;
    }
    if (which >= 0 && shortest < T) {
        lw_fail("race: --positions %d, but item %s's receiver query has %d positions (the shortest): give --positions "
                "%d or less (or --pooled)", T, report->items[which].id, shortest, shortest);
        return NULL;
    }
    /* the task-vector readout needs skill-format senders: refuse up front, as scan does, rather than
     * score "not applicable" cells (a calibration item would be dropped silently) */
    for (int k = 0; s->patch.task_vector && s->activations && k < 2; k++) {
        const lw_task *t = k ? calib : report;
        for (int i = 0; t && i < t->n; i++) {
            char *open = *t->items[i].sender ? lw_task_withhold_last_answer(t->items[i].sender) : NULL;
            if (!open) {
                if (*t->items[i].sender)
                    lw_fail_prefix("race: --task-vector: %s item %s: ", k ? "calibration" : "reported",
                                   t->items[i].id);
                else
                    lw_fail("race: --task-vector: %s item %s has no sender text", k ? "calibration" : "reported",
                            t->items[i].id);
                return NULL;
            }
            free(open);
        }
    }
    lw_race_evaluator *e = calloc(1, sizeof *e);
    if (!e) {
        lw_fail("race: out of memory");
        return NULL;
    }
    e->s = *s;
    e->report = report;
    e->calib = calib;
    e->d_send = is.n_embd;
    e->d_recv = ir.n_embd;
    e->T = T;
    e->act_item = -1;
    e->act = malloc(sizeof(float) * (size_t)T * (size_t)is.n_embd);
    e->decoded = malloc(sizeof(float) * (size_t)T * (size_t)is.n_embd);
    e->mapped = malloc(sizeof(float) * (size_t)T * (size_t)ir.n_embd);
    e->fit_records = json_object();
    if (!e->act || !e->decoded || !e->mapped) {
        lw_race_evaluator_free(e);
        lw_fail("race: out of memory");
        return NULL;
    }
    return e;
}

void lw_race_evaluator_free(lw_race_evaluator *e) {
    if (!e) return;
    for (int i = 0; i < e->n_fits; i++) lw_codec_free(e->fits[i].codec);
    free(e->fits);
    free(e->act), free(e->decoded), free(e->mapped), free(e->calib_rows), free(e->mean);
    json_decref(e->fit_records);
    free(e);
}

char *lw_race_evaluator_fits_json(const lw_race_evaluator *e) {
    if (!e) return lw_fail("lw_race_evaluator_fits_json: the evaluator is NULL"), NULL;
    return json_dumps(e->fit_records, JSON_SORT_KEYS);
}

/* The sender activations of the calibration items (an item the sender cannot read at T
 * positions is left out). */
static int calibration_rows(lw_race_evaluator *e) {
    if (e->calib_done) return 0;
    int n = e->calib ? e->calib->n : 0;
    size_t per = (size_t)e->T * (size_t)e->d_send;
    e->calib_rows = malloc(sizeof(float) * per * (size_t)(n ? n : 1));
    if (!e->calib_rows) return lw_fail("race: out of memory for %d calibration items", n);
    for (int i = 0; i < n; i++) {
        const char *text = e->calib->items[i].sender;
        if (!*text) continue;
        if (lw_patch_read(e->s.sender, text, e->s.sender_layer, &e->s.patch, e->calib_rows + (size_t)e->n_calib_rows * e->T * e->d_send) == 0)
            e->n_calib_rows++;
    }
    e->calib_done = true;
    return 0;
}

/* The codec of a channel at a budget, fitted on first use; NULL with reason set when it cannot be built. */
static fitted *codec_for(lw_race_evaluator *e, const lw_race_channel *ch, int64_t budget) {
    for (int i = 0; i < e->n_fits; i++)
        if (e->fits[i].kind == ch->codec && e->fits[i].budget == budget) return &e->fits[i];
    fitted *grown = realloc(e->fits, sizeof *grown * (size_t)(e->n_fits + 1));
    if (!grown) return NULL;
    e->fits = grown;
    fitted *f = &e->fits[e->n_fits++];
    memset(f, 0, sizeof *f);
    f->kind = ch->codec;
    f->budget = budget;
    lw_codec_params p = lw_codec_default_params(ch->codec);
    p.budget_bits = budget;
    p.seed = e->s.seed;
    p.threads = e->s.threads;
    if (ch->family == LW_RACE_TEXT) {
        p.lm = ch->codec == LW_CODEC_SUMMARY ? e->s.receiver : e->s.sender; /* the summary is the receiver's */
        int n = e->calib ? e->calib->n : 0, m = 0;
        const char **texts = malloc(sizeof(char *) * (size_t)(n ? n : 1));
        for (int i = 0; texts && i < n; i++)
            if (*e->calib->items[i].sender) texts[m++] = e->calib->items[i].sender;
        f->codec = texts ? lw_codec_fit_text(&p, texts, m) : NULL;
        free(texts);
    } else {
        p.positions = e->T;
        if (calibration_rows(e) != 0) return NULL;
        f->codec = e->n_calib_rows > 0 ? lw_codec_fit_act(&p, e->calib_rows, e->n_calib_rows * e->T, e->d_send) : NULL;
        if (e->n_calib_rows == 0) lw_fail("no calibration item gives the sender %d positions", e->T);
    }
    char key[64];
    snprintf(key, sizeof key, "%s@%lld", ch->name, (long long)budget);
    if (!f->codec) {
        snprintf(f->reason, sizeof f->reason, "%s", lw_last_error());
        json_object_set_new(e->fit_records, key, json_pack("{s:s}", "error", f->reason));
    } else {
        json_t *rec = json_loads(lw_codec_record_json(f->codec), 0, NULL);
        json_object_set_new(e->fit_records, key, rec ? rec : json_object());
    }
    return f;
}

/* The receiver's answer to prompt (vecs NULL: unpatched), scored. */
static int answer(lw_race_evaluator *e, const lw_task_item *it, const char *prompt, const float *vecs,
                  lw_race_outcome *out) {
    char *ans = NULL;
    if (lw_patch_answer(e->s.receiver, prompt, e->s.receiver_layer, vecs, vecs ? e->T : 0, &e->s.patch, &ans) != 0)
        return -1;
    out->score = lw_score(it, ans);
    if (isnan(out->score)) { /* an item no score can be given (lw_score says why) */
        free(ans);
        return -1;
    }
    out->output = ans;
    return 0;
}

/* The decoded text's prompt against the bound check_answer_fits allowed for: a prompt past it
 * would let a full context cut the answer short, scored as if whole; an error instead. */
static int check_decoded_fits(lw_race_evaluator *e, const lw_race_channel *ch, const lw_task_item *it,
                              const char *prompt) {
    int n = lw_patch_prompt_tokens(e->s.receiver, prompt, &e->s.patch), ctx = lw_session_n_ctx(e->s.receiver);
    if (n < 0) return -1;
    if (n + e->s.patch.answer_tokens - 1 <= ctx) return 0;
    return lw_fail("race: item %s: %s's decoded prompt is %d tokens and with %d answer tokens exceeds the receiver's "
                   "context of %d, past the bound checked before the run (a bug): use fewer --answer-tokens",
                   it->id, ch->name, n, e->s.patch.answer_tokens, ctx);
}

static int eval_text(lw_race_evaluator *e, const lw_race_channel *ch, int64_t budget, const lw_task_item *it,
                     lw_race_outcome *out) {
    fitted *f = codec_for(e, ch, budget);
    if (!f) return -1;
    if (!f->codec) {
        snprintf(out->na, sizeof out->na, "%s", f->reason);
        return 0;
    }
    lw_payload pl;
    char *text = NULL, *prompt = NULL;
    int rc = lw_codec_encode_text(f->codec, it->sender, &pl);
    if (rc == 0) {
        rc = lw_codec_decode_text(f->codec, pl.bytes, pl.n, &text);
        out->payload_bits = 8 * (int64_t)pl.n;
        free(pl.bytes);
    }
    if (rc == 0 && !(prompt = lw_race_prompt(text, lw_race_query(it)))) rc = lw_fail("race: out of memory");
    if (rc == 0) rc = check_decoded_fits(e, ch, it, prompt);
    if (rc == 0) rc = answer(e, it, prompt, NULL, out);
    out->side_bits = lw_codec_side_bits(f->codec);
    free(text);
    free(prompt);
    return rc;
}

static int eval_act(lw_race_evaluator *e, const lw_race_channel *ch, int64_t budget, int item, const lw_task_item *it,
                    lw_race_outcome *out) {
    if (e->act_item != item) { /* one read per item, shared by every activation codec and budget */
        e->act_na[0] = '\0';
        if (!*it->sender) snprintf(e->act_na, sizeof e->act_na, "the item has no sender text");
        else if (lw_patch_read(e->s.sender, it->sender, e->s.sender_layer, &e->s.patch, e->act) != 0)
            snprintf(e->act_na, sizeof e->act_na, "%s", lw_last_error());
        e->act_item = item;
    }
    if (e->act_na[0]) {
        snprintf(out->na, sizeof out->na, "%s", e->act_na);
        return 0;
    }
    fitted *f = codec_for(e, ch, budget);
    if (!f) return -1;
    if (!f->codec) {
        snprintf(out->na, sizeof out->na, "%s", f->reason);
        return 0;
    }
    lw_payload pl;
    if (lw_codec_encode_act(f->codec, e->act, &pl) != 0) return -1;
    int rc = lw_codec_decode_act(f->codec, pl.bytes, pl.n, e->decoded);
    out->payload_bits = 8 * (int64_t)pl.n;
    out->side_bits = lw_codec_side_bits(f->codec);
    free(pl.bytes);
    const float *vecs = e->decoded;
    if (rc == 0 && e->s.bridge) {
        rc = lw_bridge_apply_source(e->s.bridge, e->decoded, e->T, e->mapped);
        vecs = e->mapped;
    }
    return rc == 0 ? answer(e, it, lw_race_query(it), vecs, out) : -1;
}

/* mean: the calibration rows' mean at each of the T positions (mapped through the bridge), patched
 * into every item's query: no payload, d x T floats of side information. */
static int eval_mean(lw_race_evaluator *e, const lw_task_item *it, lw_race_outcome *out) {
    if (!e->mean && !e->mean_na[0]) {
        if (calibration_rows(e) != 0) return -1;
        size_t per = (size_t)e->T * (size_t)e->d_send;
        double *sum = calloc(per, sizeof *sum);
        float *m = malloc(sizeof(float) * per), *mapped = malloc(sizeof(float) * (size_t)e->T * (size_t)e->d_recv);
        int rc = sum && m && mapped ? 0 : lw_fail("race: out of memory");
        if (rc == 0 && e->n_calib_rows == 0)
            snprintf(e->mean_na, sizeof e->mean_na, "no calibration item gives the sender %d positions", e->T);
        for (int64_t r = 0; rc == 0 && r < e->n_calib_rows; r++)
            for (size_t j = 0; j < per; j++) sum[j] += e->calib_rows[(size_t)r * per + j];
        for (size_t j = 0; rc == 0 && j < per; j++) m[j] = (float)(sum[j] / (double)e->n_calib_rows);
        if (rc == 0 && !e->mean_na[0]) {
            if (e->s.bridge) rc = lw_bridge_apply_source(e->s.bridge, m, e->T, mapped);
            else memcpy(mapped, m, sizeof(float) * per);
            if (rc == 0) e->mean = mapped, mapped = NULL;
        }
        free(sum), free(m), free(mapped);
        if (rc != 0) return -1;
    }
    if (e->mean_na[0]) {
        snprintf(out->na, sizeof out->na, "%s", e->mean_na);
        return 0;
    }
    out->payload_bits = 0;
    out->side_bits = 32 * (int64_t)e->T * e->d_send;
    return answer(e, it, lw_race_query(it), e->mean, out);
}

/* cipher: the sender's top-m distributions at the budget's shape, serialized, decoded, read by
 * the receiver as soft tokens before the query. */
static int eval_cipher(lw_race_evaluator *e, int64_t budget, const lw_task_item *it, lw_race_outcome *out) {
    lw_model_info ir;
    lw_model_get_info(lw_session_model(e->s.receiver), &ir);
    lw_race_cipher_shape sh;
    if (lw_race_cipher_shape_for(budget, ir.n_vocab, e->s.cipher_steps, &sh) != 0) {
        snprintf(out->na, sizeof out->na, "%s", lw_last_error());
        return 0;
    }
    if (!*it->sender) {
        snprintf(out->na, sizeof out->na, "the item has no sender text");
        return 0;
    }
    size_t k = (size_t)sh.steps * (size_t)sh.top;
    int32_t *ids = malloc(sizeof *ids * k), *back_ids = malloc(sizeof *back_ids * k);
    float *w = malloc(sizeof *w * k), *back_w = malloc(sizeof *back_w * k);
    float *rows = malloc(sizeof *rows * (size_t)sh.steps * (size_t)ir.n_embd);
    const float *E = lw_model_token_embeddings_cached(lw_session_model(e->s.receiver));
    uint8_t *bytes = NULL;
    size_t nb = 0;
    int sent = 0, got = 0;
    char *ans = NULL;
    int rc = ids && back_ids && w && back_w && rows ? 0 : lw_fail("race: out of memory");
    if (rc == 0 && !E) rc = -1;
    if (rc == 0) rc = lw_race_cipher_send(e->s.sender, e->s.patch.chat, it->sender, &sh, ids, w, &sent);
    if (rc == 0) rc = lw_race_cipher_encode(&sh, ids, w, sent, &bytes, &nb);
    if (rc == 0 && (int64_t)nb * 8 > budget) /* the serialized bytes bound the payload, as for every codec */
        rc = lw_fail("race: a cipher payload of %zu bytes exceeds the budget of %lld bits (a bug)", nb, (long long)budget);
    if (rc == 0) rc = lw_race_cipher_decode(&sh, ir.n_vocab, bytes, nb, back_ids, back_w, &got);
    if (rc == 0) lw_race_cipher_rows(E, ir.n_embd, back_ids, back_w, got, sh.top, rows);
    if (rc == 0)
        rc = lw_race_cipher_receive(e->s.receiver, e->s.patch.chat, rows, got, lw_race_query(it),
                                    e->s.patch.answer_tokens, &ans);
    if (rc == 0 && isnan(out->score = lw_score(it, ans))) rc = -1; /* lw_score says why */
    if (rc == 0) {
        out->payload_bits = 8 * (int64_t)nb;
        out->side_bits = 0; /* the receiver's own embedding matrix */
        out->output = ans;
    } else {
        free(ans);
    }
    free(ids), free(back_ids), free(w), free(back_w), free(rows), free(bytes);
    return rc;
}

int lw_race_evaluate(void *ctx, const lw_race_channel *ch, int64_t budget_bits, int item, lw_race_outcome *out) {
    lw_race_evaluator *e = ctx;
    /* the callback a binding may call itself: a NULL context, channel or outcome was dereferenced */
    if (!e || !ch || !out)
        return lw_fail("lw_race_evaluate: %s is NULL", !e ? "the evaluator (ctx)" : !ch ? "the channel" : "out");
    if (item < 0 || item >= e->report->n) return lw_fail("race: item %d out of range", item);
    const lw_task_item *it = &e->report->items[item];
    switch (ch->family) {
    case LW_RACE_FLOOR:
        return answer(e, it, lw_race_query(it), NULL, out);
    case LW_RACE_CEILING: {
        char *prompt = lw_race_prompt(it->sender, lw_race_query(it));
        int rc = prompt ? answer(e, it, prompt, NULL, out) : lw_fail("race: out of memory");
        out->payload_bits = 8 * (int64_t)strlen(it->sender);
        free(prompt);
        return rc;
    }
    case LW_RACE_TEXT:
        return eval_text(e, ch, budget_bits, it, out);
    case LW_RACE_ACT:
        return eval_act(e, ch, budget_bits, item, it, out);
    case LW_RACE_CIPHER:
        return eval_cipher(e, budget_bits, it, out);
    case LW_RACE_MEAN:
        return eval_mean(e, it, out);
    }
    return lw_fail("race: unknown channel family");
}
