/* Internal state of the runtime objects (not part of the public API). */
#ifndef LW_RUNTIME_INTERNAL_H
#define LW_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "latentwire/runtime.h"
#include "llama.h"

struct lw_model {
    struct llama_model *llama;
    const struct llama_vocab *vocab;
    char path[1024];
    /* Caches filled on first use by const getters (logically const, like C++'s `mutable`):
     * each has its own lock, so sessions on several threads may share one model. */
    pthread_mutex_t lock_sha, lock_vocab, lock_embd, lock_lens;
    char sha256[65];        /* "" until computed */
    char vocab_hash[65];    /* "" until computed (lw_model_vocab_hash) */
    bool has_output;        /* the file has a separate output.weight */
    float *tok_embd;        /* n_vocab x n_embd, read on first use (lw_model_token_embeddings_cached) */
    struct lw_lens *lens;   /* logit-lens weights, read on first use (lens.c) */
    /* The factor the graph applies to looked-up token embeddings but not to input embeddings
     * (Gemma 3/3n/4 scale by sqrt(n_embd) only when the batch holds token ids). Soft tokens are
     * multiplied by it on the host, so a soft token means an embedding row on every architecture. */
    float soft_token_scale;
    int n_gpu_layers;       /* lw_model_params.n_gpu_layers as given (a setting extract's fingerprint records) */
};

/* One installed hook with owned copies of its positions and vectors, and its captures. */
typedef struct {
    lw_hook h;
    int width;              /* floats per row at the hook's site */
    int32_t *positions;
    float *vectors;
    /* captured rows (LW_OP_CAPTURE) */
    float *rows;
    int32_t *row_seq, *row_pos;
    int n_rows, cap_rows;
} lw_hook_entry;

/* Logits kept from the last run, one row per (seq, pos). */
typedef struct {
    int32_t seq, pos;
} lw_logit_key;

/* Row mapping of the micro-batch being computed: which (seq, pos) each row of an
 * activation tensor holds. Every llama_decode call we make is exactly one micro-batch
 * (we split batches ourselves), so rows arrive in the order we submitted them. */
typedef struct {
    int n_tokens;
    int32_t *seq, *pos;     /* n_tokens */
    int n_out;
    int32_t *out_seq, *out_pos; /* rows of tensors computed on output rows only */
    bool is_embd;           /* input is soft tokens (the embed site is applied on the host) */
} lw_ubatch_map;

struct lw_session {
    lw_model *model;
    struct llama_context *ctx;
    lw_session_params params;
    int n_embd, n_layer, n_vocab, n_ctx;
    int *seq_len;           /* n_seq_max: positions resident per sequence */
    bool no_memory;         /* encoder-only architecture (BERT...): no state kept between runs, no LM head */

    lw_hook_entry *hooks;
    int n_hooks;

    /* per-run state read by the eval callback */
    lw_ubatch_map map;
    int32_t *run_last_pos;  /* n_seq_max: last position each sequence reaches in this run, -1 if absent */
    int stop_depth;         /* early stop after the site of this lw_site_depth (-1 = embed), or INT32_MIN when off */
    bool aborted;           /* the callback stopped the graph */
    bool last_early;        /* the last run was an early-stopped capture */
    bool *seen_site;        /* n_layer x LW_SITE_COUNT: site's node of block L appeared in the last graph */
    const char *const *site_nodes[LW_SITE_COUNT]; /* graph node names per site (sites.c), NULL: none */
    int site_width[LW_SITE_COUNT]; /* floats per row, -1 where the architecture lacks the site */
    bool seen_embed;        /* the token-embedding lookup appeared in the last graph */
    int cb_error;           /* the callback hit an error (message set) */
    int horizon;            /* extra positions a hook may refer to (generation steps still to come) */
    lw_gen_stop gen_stop;   /* why the last lw_generate stopped (lw_generate_stop_reason) */
    float *scratch;         /* rows x width of the node being hooked */
    size_t scratch_cap;     /* floats */

    lw_logit_key *logit_keys;
    float *logits;
    int n_logits, cap_logits;
};

/* hooks.c */
void lw_hooks_free_all(lw_session *s);
/* Does hook e act on (seq, pos) in the current run? */
bool lw_hook_matches(const lw_session *s, const lw_hook_entry *e, int seq, int pos);
/* Applies every hook at (site, layer) to row `row` (the site's width) of (seq, pos); returns
 * true when the row was modified. -1 on error (message set). */
int lw_hooks_apply_row(lw_session *s, lw_site site, int layer, int seq, int pos, float *row);
/* Validates the installed hooks against a run that ends at run_last_pos (per seq). */
int lw_hooks_check_run(const lw_session *s);
bool lw_hooks_any_at(const lw_session *s, lw_site site, int layer);
bool lw_hooks_capture_only(const lw_session *s);
int lw_hooks_deepest(const lw_session *s); /* lw_site_depth of the deepest hook: -1 = embed only, -2 = no hooks */

/* sites.c */
/* Graph node name prefixes ("<prefix>-L") of a site on this model's architecture, NULL-
 * terminated; NULL when it lacks the site (and for LW_SITE_EMBED, which is not a named node). */
const char *const *lw_site_nodes(const lw_model *m, lw_site site);
/* lw_site_width without an error message. */
int lw_site_width_quiet(const lw_model *m, lw_site site);
/* Position of a site in graph order: -1 for embed, then layer * 8 + rank inside the block. */
int lw_site_depth(lw_site site, int layer);

/* lens.c */
void lw_lens_free(lw_model *m);

/* model.c */
void lw_backend_init_once(void);
/* The last error line llama.cpp logged ("" if none); cleared by lw_llama_log_reset. */
const char *lw_llama_last_log_error(void);
void lw_llama_log_reset(void);

/* The model file checked before llama.cpp sees it (a regular file, GGUF magic, a header that
 * parses, the hyperparameters llama.cpp would abort on): a precise message instead of llama.cpp's
 * log lines. *has_output: the file has output.weight. 0 or -1. */
int lw_model__check_file(const char *path, bool *has_output);

/* |x| above this overflows x * x in float32, which the models' RMS and layer norms compute:
 * the norm then returns zeros (or NaN) and everything after it is garbage without a single
 * NaN in the logits to show for it (a hook's write, a row given to the logit lens). */
#define LW_ACTIVATION_MAX 1.8e19f

#endif
