/* Sessions: a llama.cpp context plus our bookkeeping, and runs with hooks.
 *
 * How hooks reach the residual stream: llama.cpp calls an eval callback for every graph
 * node, first asking whether we want it, then (for the nodes we asked for) after it has
 * been computed. We ask for the nodes of hooked sites (`l_out-L`, block L's output; the
 * nodes inside blocks that sites.c maps per architecture) and for the token-embedding
 * lookup, read or rewrite their rows in place, and the rest of the graph continues from
 * the rewritten values. Returning false stops the graph (early stop for capture-only runs).
 *
 * Row mapping: we split every run into micro-batches ourselves (n_batch == n_ubatch and a
 * unified KV cache, so llama.cpp neither splits nor reorders), hence the rows of each
 * activation tensor are the tokens in the order we submitted them. On the last block, the
 * nodes after the graph's output-row selection (inp_out_ids: resid_mid, mlp_out, resid_post,
 * and Gemma's attn_out) hold only the rows whose output was requested, in submission order;
 * nodes before it (z, llama's attn_out) hold every row. Rows are mapped by their count.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "runtime/internal.h"

#define NO_STOP INT_MIN
#define MAX_SEQ 256 /* llama.cpp's MAX_SEQ (not in its public header) */

lw_session_params lw_session_default_params(void) {
    lw_session_params p = {
        .n_ctx = 0, .n_ubatch = 512, .n_seq_max = 1, .n_threads = 0, .precision = LW_PRECISION_EXACT,
        .embeddings = false};
    return p;
}

static bool eval_callback(struct ggml_tensor *t, bool ask, void *ud);

lw_session *lw_session_new(lw_model *m, lw_session_params p) {
    if (!m) {
        lw_fail("session: model is NULL");
        return NULL;
    }
    if (p.n_ubatch < 1) {
        lw_fail("session: n_ubatch must be >= 1 (got %d)", p.n_ubatch);
        return NULL;
    }
    if (p.n_seq_max < 1 || p.n_seq_max > MAX_SEQ) {
        lw_fail("session: n_seq_max must be in [1, %d] (got %d)", MAX_SEQ, p.n_seq_max);
        return NULL;
    }
    /* a context past 2^20 tokens asks llama.cpp for a KV cache no machine here holds (2e9 ended in
     * an out-of-memory abort inside it): refuse it with the numbers instead */
    if (p.n_ctx < 0 || p.n_ctx > LW_MAX_CTX) {
        lw_fail("session: n_ctx must be in [0, %d] (got %d; 0: the model's, at most 4096)", LW_MAX_CTX, p.n_ctx);
        return NULL;
    }
    if (p.n_threads < 0) {
        lw_fail("session: n_threads must be >= 0 (got %d; 0: every core)", p.n_threads);
        return NULL;
    }
    if (p.precision != LW_PRECISION_EXACT && p.precision != LW_PRECISION_FAST) {
        lw_fail("session: precision %d is neither LW_PRECISION_EXACT nor LW_PRECISION_FAST", (int)p.precision);
        return NULL;
    }
    lw_session *s = calloc(1, sizeof *s);
    if (!s) {
        lw_fail("out of memory");
        return NULL;
    }
    s->model = m;
    s->params = p;
    s->n_embd = llama_model_n_embd(m->llama);
    s->n_layer = llama_model_n_layer(m->llama);
    s->n_vocab = llama_vocab_n_tokens(m->vocab);
    s->stop_depth = NO_STOP;
    for (int k = 0; k < LW_SITE_COUNT; k++) {
        s->site_nodes[k] = lw_site_nodes(m, (lw_site)k);
        s->site_width[k] = lw_site_width_quiet(m, (lw_site)k);
    }

    int n_ctx = p.n_ctx;
    if (n_ctx == 0) {
        n_ctx = llama_model_n_ctx_train(m->llama);
        if (n_ctx <= 0 || n_ctx > 4096) n_ctx = 4096;
    }
    int threads = p.n_threads > 0 ? p.n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    /* a micro-batch never holds more tokens than the context; a larger one only sizes the
     * compute buffers for tokens that cannot come (2e9 ran out of memory) */
    int ubatch = p.n_ubatch < n_ctx ? p.n_ubatch : n_ctx;
    /* llama.cpp reserves outputs for one token of every sequence in a micro-batch and aborts the
     * process when the micro-batch is smaller than the sequence count: refused here instead */
    if (p.n_seq_max > ubatch) {
        lw_fail("session: n_seq_max %d is more than the micro-batch of %d tokens (n_ubatch %d, n_ctx %d): give "
                "n_ubatch and n_ctx at least n_seq_max",
                p.n_seq_max, ubatch, p.n_ubatch, n_ctx);
        free(s);
        return NULL;
    }
    cp.n_batch = (uint32_t)ubatch;
    cp.n_ubatch = (uint32_t)ubatch;
    cp.n_seq_max = (uint32_t)p.n_seq_max;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.kv_unified = true; /* one stream: llama.cpp keeps our token order (split_simple) */
    cp.cb_eval = eval_callback;
    cp.cb_eval_user_data = s;
    cp.no_perf = true;
    /* With no layer offloaded, no operation either: llama.cpp's default sends large batches'
     * matmuls on host weights to a GPU when one is present, so a CUDA build on a GPU machine would
     * round differently from the CPU build under the same --gpu-layers 0 (and the resume
     * fingerprints, which record --gpu-layers, could not tell them apart). */
    cp.op_offload = m->n_gpu_layers != 0;
    cp.embeddings = p.embeddings; /* pooled sentence embeddings (lw_embed_pooled) */
    if (p.precision == LW_PRECISION_EXACT) {
        cp.type_k = GGML_TYPE_F32;
        cp.type_v = GGML_TYPE_F32;
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    }
    lw_llama_log_reset();
    s->ctx = llama_init_from_model(m->llama, cp);
    if (!s->ctx) {
        const char *why = lw_llama_last_log_error();
        lw_fail("%s: could not create a llama.cpp context%s%s", m->path, *why ? ": " : "", why);
        free(s);
        return NULL;
    }
    /* llama.cpp pads the context up; hold the caller to the size they asked for */
    s->n_ctx = (int)llama_n_ctx(s->ctx) < n_ctx ? (int)llama_n_ctx(s->ctx) : n_ctx;
    /* llama.cpp may clamp the micro-batch (e.g. to n_ctx); chunk by what it accepted */
    s->params.n_ubatch = (int)llama_n_ubatch(s->ctx);
    s->no_memory = llama_get_memory(s->ctx) == NULL;
    s->seq_len = calloc((size_t)p.n_seq_max, sizeof(int));
    s->run_last_pos = calloc((size_t)p.n_seq_max, sizeof(int32_t));
    if (!s->seq_len || !s->run_last_pos) {
        lw_session_free(s);
        lw_fail("out of memory");
        return NULL;
    }
    return s;
}

void lw_session_free(lw_session *s) {
    if (!s) return;
    if (s->ctx) llama_free(s->ctx);
    lw_hooks_free_all(s);
    free(s->seq_len);
    free(s->run_last_pos);
    free(s->map.seq);
    free(s->map.pos);
    free(s->map.out_seq);
    free(s->map.out_pos);
    free(s->scratch);
    free(s->seen_site);
    free(s->logit_keys);
    free(s->logits);
    free(s);
}

const lw_model *lw_session_model(const lw_session *s) {
    if (!s) return lw_fail("lw_session_model: the session is NULL"), NULL;
    return s->model;
}

void lw_session_clear(lw_session *s, int seq) {
    if (!s) return; /* void: nothing to report to */
    llama_memory_t mem = llama_get_memory(s->ctx);
    if (seq < 0) {
        llama_memory_clear(mem, true);
        memset(s->seq_len, 0, sizeof(int) * (size_t)s->params.n_seq_max);
        return;
    }
    if (seq >= s->params.n_seq_max) return;
    llama_memory_seq_rm(mem, seq, -1, -1);
    s->seq_len[seq] = 0;
}

int lw_session_truncate(lw_session *s, int seq, int len) {
    if (!s) return lw_fail("truncate: the session is NULL");
    if (seq < 0 || seq >= s->params.n_seq_max) return lw_fail("truncate: sequence %d is outside [0, %d)", seq, s->params.n_seq_max);
    if (len < 0 || len > s->seq_len[seq])
        return lw_fail("truncate: length %d is outside [0, %d] (sequence %d's resident positions)", len, s->seq_len[seq], seq);
    if (len == s->seq_len[seq]) return 0;
    if (!llama_memory_seq_rm(llama_get_memory(s->ctx), seq, len, -1))
        return lw_fail("truncate: %s keeps a recurrent state, which cannot be cut back to a prefix", s->model->path);
    s->seq_len[seq] = len;
    return 0;
}

int lw_session_n_ctx(const lw_session *s) { return s ? s->n_ctx : lw_fail("lw_session_n_ctx: the session is NULL"); }

int lw_session_seq_len(const lw_session *s, int seq) {
    if (!s) return lw_fail("lw_session_seq_len: the session is NULL");
    if (seq < 0 || seq >= s->params.n_seq_max)
        return lw_fail("lw_session_seq_len: sequence %d is outside [0, %d)", seq, s->params.n_seq_max);
    return s->seq_len[seq];
}

/* ---------------------------------------------------------------- eval callback */

/* Is node t named "<one of names>-<layer>"? */
static bool named(const struct ggml_tensor *t, const char *const *names, size_t prefix_len) {
    for (; names && *names; names++)
        if (strlen(*names) == prefix_len && strncmp(t->name, *names, prefix_len) == 0) return true;
    return false;
}

/* The FFN + residual sum of block l: an ADD with the block's resid_mid node as an operand.
 * llama's graph names it ffn_out-L (like the FFN itself) before renaming it l_out-L. */
static bool is_residual_sum(const lw_session *s, const struct ggml_tensor *t, long l) {
    if (t->op != GGML_OP_ADD) return false;
    for (int i = 0; i < 2; i++) {
        const struct ggml_tensor *src = t->src[i];
        if (!src) continue;
        const char *dash = strrchr(src->name, '-');
        if (dash && strtol(dash + 1, NULL, 10) == l && named(src, s->site_nodes[LW_SITE_RESID_MID], (size_t)(dash - src->name)))
            return true;
    }
    return false;
}

/* Which hook site, if any, is this graph node? */
static bool classify(const lw_session *s, const struct ggml_tensor *t, lw_site *site, int *layer) {
    const char *dash = strrchr(t->name, '-');
    if (dash && dash[1] >= '0' && dash[1] <= '9') {
        char *end;
        long l = strtol(dash + 1, &end, 10);
        if (*end != '\0' || l < 0 || l >= s->n_layer) return false;
        const size_t plen = (size_t)(dash - t->name);
        for (int k = LW_SITE_RESID_POST; k < LW_SITE_COUNT; k++) {
            if (!named(t, s->site_nodes[k], plen)) continue;
            if (k == LW_SITE_MLP_OUT && is_residual_sum(s, t, l)) return false;
            *site = (lw_site)k;
            *layer = (int)l;
            return true;
        }
        return false;
    }
    /* the token-embedding lookup: get_rows(token_embd, inp_tokens). With soft tokens the
     * input rows are ours already and the embed site is applied on the host. */
    if (!s->map.is_embd && t->op == GGML_OP_GET_ROWS && t->src[1] && strcmp(t->src[1]->name, "inp_tokens") == 0) {
        *site = LW_SITE_EMBED;
        *layer = -1;
        return true;
    }
    return false;
}

static bool is_stop_point(const lw_session *s, lw_site site, int layer) {
    return s->stop_depth != NO_STOP && s->stop_depth == lw_site_depth(site, layer);
}

static int ensure_scratch(lw_session *s, int rows, int width) {
    size_t need = (size_t)rows * (size_t)width;
    if (need <= s->scratch_cap) return 0;
    float *p = realloc(s->scratch, sizeof(float) * need);
    if (!p) return lw_fail("out of memory");
    s->scratch = p;
    s->scratch_cap = need;
    return 0;
}

/* Reads the node's rows, lets the hooks act, writes back the rows they changed. */
static int apply_hooks_to_tensor(lw_session *s, struct ggml_tensor *t, lw_site site, int layer) {
    const int d = s->site_width[site];
    if (t->type != GGML_TYPE_F32 || t->ne[0] != d || t->ne[2] != 1 || t->ne[3] != 1)
        return lw_fail("hook: node %s has type %s shape [%lld, %lld, %lld], expected F32 [%d, rows]", t->name,
                       ggml_type_name(t->type), (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], d);
    const int rows = (int)t->ne[1];
    const int32_t *seq, *pos;
    if (rows == s->map.n_tokens) {
        seq = s->map.seq;
        pos = s->map.pos;
    } else if (rows == s->map.n_out) {
        seq = s->map.out_seq;
        pos = s->map.out_pos;
    } else {
        return lw_fail("hook: node %s has %d rows but the micro-batch has %d tokens and %d outputs", t->name, rows,
                       s->map.n_tokens, s->map.n_out);
    }
    if (ensure_scratch(s, rows, d) != 0) return -1;
    const size_t row_bytes = sizeof(float) * (size_t)d;
    if (t->nb[1] == row_bytes) {
        ggml_backend_tensor_get(t, s->scratch, 0, row_bytes * (size_t)rows);
    } else {
        for (int r = 0; r < rows; r++)
            ggml_backend_tensor_get(t, s->scratch + (size_t)r * d, (size_t)r * t->nb[1], row_bytes);
    }
    for (int r = 0; r < rows; r++) {
        float *row = s->scratch + (size_t)r * d;
        int changed = lw_hooks_apply_row(s, site, layer, seq[r], pos[r], row);
        if (changed < 0) return -1;
        if (changed) ggml_backend_tensor_set(t, row, (size_t)r * t->nb[1], row_bytes);
    }
    return 0;
}

static bool eval_callback(struct ggml_tensor *t, bool ask, void *ud) {
    lw_session *s = ud;
    lw_site site;
    int layer;
    if (!classify(s, t, &site, &layer)) return !ask;
    if (ask) {
        if (site == LW_SITE_EMBED) s->seen_embed = true;
        else s->seen_site[layer * LW_SITE_COUNT + site] = true;
        return lw_hooks_any_at(s, site, layer) || is_stop_point(s, site, layer);
    }
    if (s->cb_error) return false;
    if (lw_hooks_any_at(s, site, layer) && apply_hooks_to_tensor(s, t, site, layer) != 0) {
        s->cb_error = 1;
        return false;
    }
    if (is_stop_point(s, site, layer)) {
        s->aborted = true;
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- runs */

/* A micro-batch being assembled. */
typedef struct {
    struct llama_batch batch;   /* token or embd variant, n_ubatch capacity */
    bool is_embd;
    bool *want_logits;          /* per batch row: the caller asked for these logits */
} chunk;

static int store_logits(lw_session *s, int seq, int pos, const float *logits) {
    /* a NaN or infinity would make greedy decoding pick token 0 and sampling fail silently */
    for (int i = 0; i < s->n_vocab; i++)
        if (!isfinite(logits[i]))
            return lw_fail("the logits at position %d of sequence %d are not finite (%s at token %d): the model's "
                           "weights or a hook's vectors overflow float32",
                           pos, seq, isnan(logits[i]) ? "NaN" : "Inf", i);
    if (s->n_logits == s->cap_logits) {
        int cap = s->cap_logits ? s->cap_logits * 2 : 16;
        lw_logit_key *k = realloc(s->logit_keys, sizeof *k * (size_t)cap);
        if (k) s->logit_keys = k;
        float *l = realloc(s->logits, sizeof(float) * (size_t)cap * (size_t)s->n_vocab);
        if (l) s->logits = l;
        if (!k || !l) return lw_fail("out of memory storing logits");
        s->cap_logits = cap;
    }
    s->logit_keys[s->n_logits] = (lw_logit_key){seq, pos};
    memcpy(s->logits + (size_t)s->n_logits * (size_t)s->n_vocab, logits, sizeof(float) * (size_t)s->n_vocab);
    s->n_logits++;
    return 0;
}

bool lw_session_stopped_early(const lw_session *s) {
    if (!s) return lw_fail("lw_session_stopped_early: the session is NULL"), false;
    return s->last_early;
}

const float *lw_session_logits(const lw_session *s, int seq, int pos) {
    if (!s) return lw_fail("lw_session_logits: the session is NULL"), NULL;
    /* a position cleared or truncated away since the run has no logits any more */
    if (seq < 0 || seq >= s->params.n_seq_max || pos < 0 || pos >= s->seq_len[seq]) return NULL;
    for (int i = s->n_logits - 1; i >= 0; i--)
        if (s->logit_keys[i].seq == seq && s->logit_keys[i].pos == pos)
            return s->logits + (size_t)i * (size_t)s->n_vocab;
    return NULL;
}

static int map_reserve(lw_session *s, int n) {
    lw_ubatch_map *m = &s->map;
    int32_t **arrs[4] = {&m->seq, &m->pos, &m->out_seq, &m->out_pos};
    for (int i = 0; i < 4; i++) {
        int32_t *p = realloc(*arrs[i], sizeof(int32_t) * (size_t)n);
        if (!p) return lw_fail("out of memory");
        *arrs[i] = p;
    }
    return 0;
}

/* Does the caller want this row as an output? (logits requested, or a hook on the last
 * block, whose nodes after the output-row selection only hold output rows) */
static bool needs_output(const lw_session *s, const lw_seq_input *in, int pos, bool *want_logits) {
    *want_logits = in->logits == LW_LOGITS_ALL || (in->logits == LW_LOGITS_LAST && pos == s->run_last_pos[in->seq]);
    if (*want_logits) return true;
    for (int i = 0; i < s->n_hooks; i++) {
        const lw_hook_entry *e = &s->hooks[i];
        if (e->h.site != LW_SITE_EMBED && e->h.layer == s->n_layer - 1 && lw_hook_matches(s, e, in->seq, pos))
            return true;
    }
    return false;
}

/* Checks that every hooked site the graph should have reached was seen in the graph. */
static int check_sites_seen(lw_session *s) {
    int reach = s->aborted ? s->stop_depth : INT_MAX;
    for (int i = 0; i < s->n_hooks; i++) {
        const lw_hook_entry *e = &s->hooks[i];
        if (e->h.site == LW_SITE_EMBED) {
            if (!s->map.is_embd && !s->seen_embed)
                return lw_fail("%s: the graph has no token-embedding lookup to hook (embed site unsupported)",
                               s->model->path);
        } else if (lw_site_depth(e->h.site, e->h.layer) <= reach &&
                   !s->seen_site[e->h.layer * LW_SITE_COUNT + e->h.site]) {
            char arch[64] = "", name[64];
            llama_model_meta_val_str(s->model->llama, "general.architecture", arch, sizeof arch);
            lw_site_name((lw_site_ref){e->h.site, e->h.layer}, name, sizeof name);
            return lw_fail("%s: architecture \"%s\" has no %s-%d node in its graph; the site %s is not supported "
                           "for it",
                           s->model->path, arch, s->site_nodes[e->h.site][0], e->h.layer, name);
        }
    }
    return 0;
}

/* Sends one micro-batch through llama.cpp and keeps the logits asked for. */
static int flush_chunk(lw_session *s, chunk *c) {
    struct llama_batch *b = &c->batch;
    if (b->n_tokens == 0) return 0;
    lw_ubatch_map *m = &s->map;
    m->n_tokens = b->n_tokens;
    m->n_out = 0;
    m->is_embd = c->is_embd;
    for (int i = 0; i < b->n_tokens; i++) {
        m->seq[i] = b->seq_id[i][0];
        m->pos[i] = b->pos[i];
        if (b->logits[i]) {
            m->out_seq[m->n_out] = m->seq[i];
            m->out_pos[m->n_out] = m->pos[i];
            m->n_out++;
        }
    }
    if (c->is_embd) {
        /* soft tokens: the embed site acts on our own copy of the input rows */
        for (int i = 0; i < b->n_tokens; i++)
            if (lw_hooks_apply_row(s, LW_SITE_EMBED, -1, m->seq[i], m->pos[i], b->embd + (size_t)i * s->n_embd) < 0)
                return -1;
        if (s->stop_depth == -1) { /* nothing deeper is wanted */
            b->n_tokens = 0;
            return 0;
        }
        /* after the embed site, as the graph scales looked-up rows after its lookup node */
        const float k = s->model->soft_token_scale;
        if (k != 1.0f)
            for (size_t i = 0; i < (size_t)b->n_tokens * (size_t)s->n_embd; i++) b->embd[i] *= k;
    }
    s->aborted = false;
    s->cb_error = 0;
    s->seen_embed = false;
    memset(s->seen_site, 0, sizeof(bool) * (size_t)s->n_layer * LW_SITE_COUNT);
    lw_llama_log_reset();
    struct llama_batch sub = *b; /* exactly one of token / embd may be set */
    if (c->is_embd) sub.token = NULL;
    else sub.embd = NULL;
    int32_t rc = llama_decode(s->ctx, sub);
    if (s->cb_error) return -1;
    if (rc != 0) {
        const char *why = lw_llama_last_log_error();
        return lw_fail("llama_decode failed (code %d)%s%s", rc, *why ? ": " : "", why);
    }
    if (check_sites_seen(s) != 0) return -1;
    if (!s->aborted) {
        for (int i = 0; i < b->n_tokens; i++) {
            if (!c->want_logits[i]) continue;
            const float *l = llama_get_logits_ith(s->ctx, i);
            if (!l) return lw_fail("llama.cpp returned no logits for row %d", i);
            if (store_logits(s, m->seq[i], m->pos[i], l) != 0) return -1;
        }
    }
    b->n_tokens = 0;
    return 0;
}

static int add_row(lw_session *s, chunk *c, const lw_seq_input *in, int pos, const int32_t *tok, const float *embd) {
    if (c->batch.n_tokens == s->params.n_ubatch || (c->batch.n_tokens > 0 && c->is_embd != (embd != NULL))) {
        if (flush_chunk(s, c) != 0) return -1;
    }
    c->is_embd = embd != NULL;
    struct llama_batch *b = &c->batch;
    int i = b->n_tokens;
    if (embd)
        memcpy(b->embd + (size_t)i * s->n_embd, embd, sizeof(float) * (size_t)s->n_embd);
    else
        b->token[i] = *tok;
    b->pos[i] = pos;
    b->n_seq_id[i] = 1;
    b->seq_id[i][0] = in->seq;
    bool want;
    b->logits[i] = needs_output(s, in, pos, &want);
    c->want_logits[i] = want;
    b->n_tokens++;
    return 0;
}

static int validate_inputs(lw_session *s, const lw_seq_input *in, int n_in, int *total_new) {
    for (int q = 0; q < s->params.n_seq_max; q++) s->run_last_pos[q] = -1;
    *total_new = 0;
    if (n_in <= 0 || !in) return lw_fail("run: no inputs");
    for (int k = 0; k < n_in; k++) {
        int seq = in[k].seq;
        if (seq < 0 || seq >= s->params.n_seq_max)
            return lw_fail("run: sequence id %d is out of range [0, %d)", seq, s->params.n_seq_max);
        if (s->run_last_pos[seq] >= 0) return lw_fail("run: sequence %d appears twice in one run", seq);
        if (in[k].logits != LW_LOGITS_NONE && in[k].logits != LW_LOGITS_LAST && in[k].logits != LW_LOGITS_ALL)
            return lw_fail("run: sequence %d asks for logits mode %d (LW_LOGITS_NONE, _LAST or _ALL)", seq,
                           (int)in[k].logits);
        if (in[k].n_spans <= 0 || !in[k].spans) return lw_fail("run: sequence %d has no input", seq);
        int count = 0;
        for (int j = 0; j < in[k].n_spans; j++) {
            const lw_span *sp = &in[k].spans[j];
            if (sp->n <= 0) return lw_fail("run: sequence %d span %d is empty", seq, j);
            if (!sp->tokens && !sp->embd) return lw_fail("run: sequence %d span %d has neither tokens nor embeddings", seq, j);
            if (sp->tokens)
                for (int t = 0; t < sp->n; t++)
                    if (sp->tokens[t] < 0 || sp->tokens[t] >= s->n_vocab)
                        return lw_fail("run: token id %d (sequence %d span %d index %d) is outside the vocabulary [0, %d)",
                                       sp->tokens[t], seq, j, t, s->n_vocab);
            /* a NaN would run, and only the logits would say so (a span longer than the context is
             * refused below without reading it) */
            if (!sp->tokens && sp->n <= s->n_ctx)
                for (size_t i = 0; i < (size_t)sp->n * (size_t)s->n_embd; i++)
                    if (!isfinite(sp->embd[i]))
                        return lw_fail("run: soft token %zu of sequence %d span %d has %g at coordinate %zu: "
                                       "embeddings must be finite numbers",
                                       i / (size_t)s->n_embd, seq, j, (double)sp->embd[i], i % (size_t)s->n_embd);
            if (sp->n > INT_MAX - count) return lw_fail("run: sequence %d is too long", seq);
            count += sp->n;
        }
        if (s->no_memory && (s->seq_len[seq] > 0 || in[k].logits != LW_LOGITS_NONE))
            return lw_fail("%s: this encoder-only architecture keeps no state between runs and has no language-model "
                           "head: runs must start from an empty sequence and request no logits",
                           s->model->path);
        s->run_last_pos[seq] = s->seq_len[seq] + count - 1;
        *total_new += count;
    }
    long resident = 0;
    for (int q = 0; q < s->params.n_seq_max; q++) resident += s->seq_len[q];
    if (resident + *total_new > s->n_ctx) {
        char used[64] = "";
        if (resident) snprintf(used, sizeof used, " (%ld of its positions already in use)", resident);
        return lw_fail("%d tokens do not fit the context of %d tokens%s: use shorter texts", *total_new, s->n_ctx,
                       used);
    }
    return lw_hooks_check_run(s);
}

/* Undo the positions a run added (after an early stop or a failure). Recurrent memories
 * cannot drop a suffix: they are only ever early-stopped from an empty state, and on a
 * failure they are cleared entirely (reported in the error message). */
static void drop_run(lw_session *s, const lw_seq_input *in, int n_in, bool failed) {
    llama_memory_t mem = llama_get_memory(s->ctx);
    for (int k = 0; k < n_in; k++) {
        int seq = in[k].seq;
        if (!llama_memory_seq_rm(mem, seq, s->seq_len[seq], -1)) {
            llama_memory_seq_rm(mem, seq, -1, -1);
            if (failed && s->seq_len[seq] > 0)
                lw_fail_prefix("sequence %d was cleared (recurrent state cannot be rolled back): ", seq);
            s->seq_len[seq] = 0;
        }
    }
}

int lw_session_run(lw_session *s, const lw_seq_input *in, int n_in) {
    if (!s) return lw_fail("run: the session is NULL");
    int total_new;
    if (validate_inputs(s, in, n_in, &total_new) != 0) return -1;

    bool want_any_logits = false, fresh = true;
    for (int k = 0; k < n_in; k++) {
        want_any_logits |= in[k].logits != LW_LOGITS_NONE;
        fresh &= s->seq_len[in[k].seq] == 0;
    }
    bool recurrent = llama_model_is_recurrent(s->model->llama) || llama_model_is_hybrid(s->model->llama);
    int deepest = lw_hooks_deepest(s);
    bool early = deepest >= -1 && lw_hooks_capture_only(s) && !want_any_logits && (fresh || !recurrent);
    s->stop_depth = early ? deepest : NO_STOP;
    s->last_early = early;
    s->n_logits = 0;

    if (!s->seen_site) {
        s->seen_site = calloc((size_t)s->n_layer * LW_SITE_COUNT, sizeof(bool));
        if (!s->seen_site) return lw_fail("out of memory");
    }
    const int nb = s->params.n_ubatch;
    if (map_reserve(s, nb) != 0) return -1;
    chunk c = {0};
    c.batch = llama_batch_init(nb, s->n_embd, 1);
    struct llama_batch tok_batch = llama_batch_init(nb, 0, 1);
    /* one allocation holds both variants' token/embd arrays; share the rest */
    c.batch.token = tok_batch.token;
    c.want_logits = calloc((size_t)nb, sizeof(bool));
    int rc = c.want_logits ? 0 : lw_fail("out of memory");

    for (int k = 0; rc == 0 && k < n_in; k++) {
        int pos = s->seq_len[in[k].seq];
        for (int j = 0; rc == 0 && j < in[k].n_spans; j++) {
            const lw_span *sp = &in[k].spans[j];
            for (int t = 0; rc == 0 && t < sp->n; t++, pos++) {
                rc = sp->tokens ? add_row(s, &c, &in[k], pos, &sp->tokens[t], NULL)
                                : add_row(s, &c, &in[k], pos, NULL, sp->embd + (size_t)t * s->n_embd);
            }
        }
    }
    if (rc == 0) rc = flush_chunk(s, &c);

    /* keep the token buffer owned by tok_batch so each is freed once */
    c.batch.token = NULL;
    llama_batch_free(c.batch);
    llama_batch_free(tok_batch);
    free(c.want_logits);

    if (rc != 0 || early) {
        drop_run(s, in, n_in, rc != 0);
    } else {
        if (!s->no_memory)
            for (int k = 0; k < n_in; k++) s->seq_len[in[k].seq] = s->run_last_pos[in[k].seq] + 1;
    }
    s->stop_depth = NO_STOP;
    return rc;
}
