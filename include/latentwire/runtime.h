/* latentwire runtime: GGUF models through llama.cpp, with residual-stream hooks.
 *
 * Ownership: every lw_*_load / lw_*_new returns an object the caller frees with the
 * matching lw_*_free. Pointers returned by getters stay valid until the next call that
 * mutates the owning object (documented per function). Errors: see error.h.
 *
 * Residual-stream sites:
 *   LW_SITE_EMBED       the input to block 0 (the token-embedding lookup, or the soft
 *                       tokens given as input), in the units of the token-embedding matrix's
 *                       rows on every architecture: Gemma's sqrt(n_embd) input scale comes
 *                       after this site, for token ids and soft tokens alike.
 *   LW_SITE_RESID_POST  the output of block L (llama.cpp's `l_out-L`), L in [0, n_layer).
 * Sites inside block L (TransformerLens names; mapped for llama and gemma3, see lw_site):
 *   LW_SITE_ATTN_OUT    blocks.L.hook_attn_out: what attention adds to the residual stream
 *   LW_SITE_RESID_MID   blocks.L.hook_resid_mid = resid_pre + attn_out
 *   LW_SITE_MLP_OUT     blocks.L.hook_mlp_out: what the MLP adds (resid_post = resid_mid + mlp_out)
 *   LW_SITE_Z           blocks.L.hook_z: the heads' outputs, concatenated, before the output
 *                       projection: n_head x head_dim wide (not n_embd on Gemma 3: 4 x 256)
 * Positions are absolute positions inside a sequence (0 = first token, usually BOS).
 */
#ifndef LATENTWIRE_RUNTIME_H
#define LATENTWIRE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "latentwire/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lw_model lw_model;
typedef struct lw_session lw_session;

/* ---------------------------------------------------------------- model */

typedef struct {
    int n_gpu_layers;   /* layers offloaded to a GPU backend when one is built (default 0). Non-zero
                           also sets GGML_CUDA_DISABLE_FUSION=1 for the process unless it is set:
                           with ggml-cuda's fusion a capture depended on the other hooks installed */
    bool use_mmap;      /* default true */
    bool verbose;       /* let llama.cpp log to stderr (default false: errors only) */
} lw_model_params;

lw_model_params lw_model_default_params(void);

/* Loads a GGUF model. Fails with a message naming the file on a missing, non-GGUF or
 * truncated file, or an architecture llama.cpp does not know. */
lw_model *lw_model_load(const char *path, lw_model_params params);
void lw_model_free(lw_model *model);

typedef struct {
    char arch[64];          /* general.architecture, e.g. "llama", "rwkv7" */
    char name[128];         /* general.name, or "" */
    char tokenizer[32];     /* tokenizer.ggml.model, e.g. "llama" (SentencePiece), "gpt2", "rwkv" */
    int n_layer;
    int n_embd;
    int n_head;
    int n_head_kv;
    int n_vocab;
    int n_ctx_train;
    int32_t bos;            /* -1 when the vocabulary has none */
    int32_t eos;
    bool add_bos;           /* the tokenizer adds BOS by default */
    bool recurrent;         /* recurrent memory (RWKV, Mamba) instead of a KV cache */
    bool tied_embeddings;   /* no separate output matrix in the file */
    uint64_t n_params;
    char path[1024];
    int n_gpu_layers;       /* as requested at load (lw_model_params), whether or not a GPU backend is built */
} lw_model_info;

/* The model's width (n_embd, <arch>.embedding_length) read from the GGUF header alone, without
 * loading weights: checks that need it run before minutes of work. 0 or -1 (message set). */
int lw_model_peek_width(const char *path, int *n_embd);

/* What a quantized copy holds: llama.cpp gives a tensor another type than the one asked for when
 * its rows do not fit the type's blocks (k-quants need rows that are a multiple of 256; SmolLM2's
 * 576 is not, so "q4_k_m" is mostly q5_0 there) and keeps small tensors in f32, so the copy's
 * tensor types are counted and returned, most common first. */
typedef struct {
    int n_tensors;
    int n_types;
    struct {
        char name[16]; /* ggml's type name: "q4_K", "q5_0", "f32" ... */
        int n;
    } types[32];
    int n_asked;       /* tensors of the type asked for ("q4_k_m": q4_K; "f16": f16 ...) */
} lw_quantize_report;

/* Writes a copy of the GGUF model at in_path quantized to `type` ("f16", "q8_0", "q5_k_m", "q4_k_m",
 * "q4_0") at out_path (llama_model_quantize with allow_requantize: an already quantized model is
 * requantized from its quantized weights, so the copy is the same model with quantization drift,
 * not another training version). An input already of that file type is refused (its copy would
 * differ by no drift). Through a temporary file and a rename; out_path must not be the input.
 * n_threads 0 = all cores. report (may be NULL) receives the copy's tensor types. 0 or -1 (message:
 * an unknown type, an unreadable input, the same type...). */
int lw_model_quantize(const char *in_path, const char *out_path, const char *type, int n_threads,
                      lw_quantize_report *report);

/* Fills *info. Never fails for a loaded model; a NULL model gives all zeros, a NULL info is ignored. */
void lw_model_get_info(const lw_model *model, lw_model_info *info);

/* Hex sha256 of the model file (64 chars + NUL), computed once and cached. NULL on I/O error. */
const char *lw_model_sha256(const lw_model *model);

/* Tokenizes UTF-8 text. Returns the number of tokens written to out (at most cap), or a
 * negative number: -(needed) when cap is too small (nothing else is set), INT32_MIN on error. */
int32_t lw_tokenize(const lw_model *model, const char *text, bool add_bos, int32_t *out, int32_t cap);

/* Tokenizes into a freshly malloc'd array (*out, caller frees); returns the count or -1. */
int32_t lw_tokenize_alloc(const lw_model *model, const char *text, bool add_bos, int32_t **out);

/* Like lw_tokenize_alloc, but the model's special tokens written in the text ("<|im_start|>",
 * "<start_of_turn>", ...) become their ids instead of being spelled out piece by piece.
 * Prompts (generate, channels, debate, chat templates) use this; corpora do not. */
int32_t lw_tokenize_special_alloc(const lw_model *model, const char *text, bool add_bos, int32_t **out);

/* Whether the tokenizer puts a space before a text it starts (SentencePiece's space prefix:
 * "x" becomes " x"). Byte-level BPE tokenizers (GPT-2, SmolLM2, Qwen, Llama 3) do not, so a
 * text tokenized as a separate piece after another needs an explicit " " to stay a new word. */
bool lw_tokenizer_adds_space(const lw_model *model);

/* The conversation (roles "system" / "user" / "assistant", n messages) rendered with the
 * model's own chat template (tokenizer.chat_template in the GGUF, as llama.cpp implements
 * it), followed by the assistant's opening when add_assistant. malloc'd; NULL when the
 * model has no template or llama.cpp does not know it. Tokenize the result with
 * lw_tokenize_special_alloc. */
char *lw_chat_format(const lw_model *model, const char *const *roles, const char *const *contents, int n,
                     bool add_assistant);

/* The template's text before and after a single user message (assistant opening
 * included), for wrapping a prompt assembled from pieces: prefix + pieces + suffix.
 * Both malloc'd (caller frees). 0 or -1. */
int lw_chat_affixes(const lw_model *model, char **prefix, char **suffix);

/* Whether token ends generation (EOS, EOT, <|im_end|>, <end_of_turn>...: llama.cpp's EOG set). */
bool lw_token_is_eog(const lw_model *model, int32_t token);

/* Hex sha256 of the vocabulary (every token's piece), computed once per model; equal
 * hashes mean a shared vocabulary. Owned by the model. NULL on error. */
const char *lw_model_vocab_hash(const lw_model *model);

/* Renders tokens as text into a malloc'd NUL-terminated string (caller frees). Special
 * tokens (BOS/EOS) are rendered only when render_special is true. NULL on error. */
char *lw_detokenize(const lw_model *model, const int32_t *tokens, int32_t n, bool render_special);

/* Pieces of byte-level tokens can end inside a UTF-8 character. lw_utf8_complete_prefix is the
 * length of the longest prefix of s[0..n) that does not end in a cut-off character (the 1-3
 * leading bytes of a 2-4-byte character): print that much and keep the rest until the next
 * piece arrives. Bytes that can never form a character count as complete (see below). A NULL s:
 * 0 (message set), also in lw_utf8_sanitize (which writes "" when out is not NULL). */
size_t lw_utf8_complete_prefix(const char *s, size_t n);
/* Copies s[0..n) to out replacing each byte that starts no well-formed character (RFC 3629:
 * stray continuation bytes, overlong forms, surrogates, cut-off characters) by U+FFFD, so
 * that out is valid UTF-8 for a strict decoder. out holds at least 3 * n + 1 bytes; it is
 * NUL-terminated; returns its length. */
size_t lw_utf8_sanitize(const char *s, size_t n, char *out);

/* The dequantized token-embedding matrix, n_vocab x n_embd row-major float32, read from
 * the GGUF file (any ggml type with a to_float conversion). Caller frees. NULL on error. n_vocab
 * and n_embd may be NULL (not wanted), here and in lw_model_output_matrix. */
float *lw_model_token_embeddings(const lw_model *model, int *n_vocab, int *n_embd);

/* The token-embedding matrix, read once and cached in the model (owned by it, valid until
 * lw_model_free). NULL on error. */
const float *lw_model_token_embeddings_cached(const lw_model *model);

/* The dequantized output (unembedding) matrix n_vocab x n_embd; for tied models this is
 * the token-embedding matrix. Caller frees. NULL on error. */
float *lw_model_output_matrix(const lw_model *model, int *n_vocab, int *n_embd);

/* ---------------------------------------------------------------- session */

typedef enum {
    /* F32 KV cache, flash attention off: matches float32 reference math to ~1e-6.
     * Use for measurements and reference tests. */
    LW_PRECISION_EXACT = 0,
    /* llama.cpp defaults (F16 KV cache, flash attention auto): ~1e-4 relative drift. */
    LW_PRECISION_FAST = 1,
} lw_precision;

#define LW_MAX_CTX (1 << 20) /* the largest context a session takes */

typedef struct {
    int n_ctx;          /* context per session (tokens, shared by all sequences, at most LW_MAX_CTX);
                           0 = min(model ctx, 4096) */
    int n_ubatch;       /* tokens per forward micro-batch (default 512; more than n_ctx counts as n_ctx) */
    int n_seq_max;      /* sequences that may be resident at once (default 1; at most n_ubatch and n_ctx) */
    int n_threads;      /* 0 = all cores */
    lw_precision precision; /* default LW_PRECISION_EXACT */
    bool embeddings;    /* compute the model's own pooled sentence embedding (lw_embed_pooled); default false */
} lw_session_params;

lw_session_params lw_session_default_params(void);

lw_session *lw_session_new(lw_model *model, lw_session_params params);
void lw_session_free(lw_session *session);

const lw_model *lw_session_model(const lw_session *session);

/* Forgets everything resident for sequence seq (seq < 0: all sequences). */
void lw_session_clear(lw_session *session, int seq);

/* Cuts sequence seq back to its first len positions (a prompt prefix kept resident while
 * several continuations are tried after it). 0, or -1 (len out of range; recurrent models,
 * whose state cannot be cut back). */
int lw_session_truncate(lw_session *session, int seq, int len);

/* The session's context in tokens (shared by all its sequences): what a prompt plus the
 * tokens generated after it must fit. */
int lw_session_n_ctx(const lw_session *session);

/* Number of positions resident for seq (the next position to be filled); -1 (message set) for a
 * NULL session or a seq outside [0, n_seq_max). */
int lw_session_seq_len(const lw_session *session, int seq);

/* ---------------------------------------------------------------- hooks */

/* Hook sites, named as TransformerLens names them (lw_site_name / lw_site_parse). Gemma 3's
 * attn_out and mlp_out are the post-normed outputs (attn_post_norm, ffn_post_norm), i.e. what
 * is added to the residual stream. A site is `width` floats per row: n_embd, except hook_z. */
typedef enum {
    LW_SITE_EMBED = 0,      /* hook_embed */
    LW_SITE_RESID_POST = 1, /* blocks.L.hook_resid_post */
    LW_SITE_ATTN_OUT = 2,   /* blocks.L.hook_attn_out */
    LW_SITE_MLP_OUT = 3,    /* blocks.L.hook_mlp_out */
    LW_SITE_RESID_MID = 4,  /* blocks.L.hook_resid_mid */
    LW_SITE_Z = 5,          /* blocks.L.hook_z */
} lw_site;
#define LW_SITE_COUNT 6

/* A site at a block (layer -1 for LW_SITE_EMBED). */
typedef struct {
    lw_site site;
    int layer;
} lw_site_ref;

/* Floats per row at this site on this model (n_embd; n_head * head_dim for hook_z), or -1
 * (message naming the site and the architecture) when the architecture lacks the site. */
int lw_site_width(const lw_model *model, lw_site site);

/* Parses one site name for a model of n_layer blocks: "blocks.L.hook_resid_post" (also
 * hook_attn_out, hook_mlp_out, hook_resid_mid, hook_z), "hook_embed", and the short forms
 * "L" (resid_post; negative L counts from the end, here and in blocks.L), "last", "embed".
 * 0 or -1 (message set). */
int lw_site_parse(const char *text, int n_layer, lw_site_ref *out);

/* Parses a comma list of site names (plus "all": every block's resid_post) into a malloc'd
 * array (caller frees) in graph order (embed first, then by block, inside a block z,
 * attn_out, resid_mid, mlp_out, resid_post). Spaces around names are ignored; an empty name
 * and a site named twice (in any two forms, e.g. "1" and "blocks.1.hook_resid_post", or "all"
 * and "1") are errors. Count or -1. */
int lw_site_parse_list(const char *spec, int n_layer, lw_site_ref **out);

/* The TransformerLens name of a site ("blocks.3.hook_attn_out", "hook_embed") into buf; "?" for an
 * unknown site or a negative layer (but hook_embed's). NULL (message set) when buf is NULL or n 0. */
const char *lw_site_name(lw_site_ref ref, char *buf, size_t n);

typedef enum {
    LW_OP_CAPTURE = 0,  /* copy the activation out (see lw_session_capture) */
    LW_OP_REPLACE = 1,  /* activation := v */
    LW_OP_ADD = 2,      /* activation += scale * v */
    LW_OP_MEAN = 3,     /* activation := (activation + v) / 2 */
} lw_op;

typedef enum {
    LW_POS_ALL = 0,     /* every position the run computes */
    LW_POS_LAST = 1,    /* the last position of each run (each generated token, during generation) */
    LW_POS_LIST = 2,    /* the listed absolute positions */
} lw_pos_mode;

typedef struct {
    lw_site site;
    int layer;              /* block index; ignored for LW_SITE_EMBED */
    int seq;                /* sequence id, or -1 for every sequence */
    lw_op op;
    lw_pos_mode pos_mode;
    const int32_t *positions; /* LW_POS_LIST: n_positions absolute positions */
    int n_positions;
    /* Vectors for REPLACE / ADD / MEAN, row-major n_vectors x width (the site's width,
     * lw_site_width: n_embd except for hook_z), copied on add.
     * n_vectors == 1: the same vector at every hooked position.
     * LW_POS_LIST with n_vectors == n_positions: row i goes to positions[i].
     * LW_POS_ALL with n_vectors > 1: row p goes to position p (positions >= n_vectors
     * are an error at run time). */
    const float *vectors;
    int n_vectors;
    float scale;            /* LW_OP_ADD multiplier (default 1) */
    /* REPLACE / ADD / MEAN act on coordinates [coord_begin, coord_end) only (both 0: all),
     * e.g. the last min(dA, dB) coordinates when grafting between models of different
     * widths. Vectors are still the site's width; coordinates outside the range are ignored. */
    int coord_begin, coord_end;
} lw_hook;

/* A hook with every field at its default (capture, resid_post, all positions, all seqs). */
lw_hook lw_hook_default(void);

/* Installs a hook; it acts on every later run (prefill and each generation step) until
 * removed. Returns its id (>= 0) or -1 (layer out of range, vector count mismatch, a site
 * the architecture lacks...). A site whose node a run's graph lacks fails that run. */
int lw_session_add_hook(lw_session *session, const lw_hook *hook);

/* Removes all hooks and captured data. */
void lw_session_clear_hooks(lw_session *session);

/* Rows captured so far by capture hook `hook_id`, in the order they were computed:
 * returns the row count and sets *data (n x the site's width), *seqs and *positions (n each; any
 * out-pointer may be NULL). Pointers stay valid until the next run or clear. -1 on a bad id. */
int lw_session_capture(const lw_session *session, int hook_id, const float **data,
                       const int32_t **seqs, const int32_t **positions);

/* Drops the captured rows of every hook (hooks stay installed). */
void lw_session_clear_captures(lw_session *session);

/* ---------------------------------------------------------------- runs */

/* One piece of a sequence's input: tokens or input embeddings ("soft tokens"). */
typedef struct {
    const int32_t *tokens;  /* n token ids, or NULL */
    const float *embd;      /* n rows of n_embd finite floats, used when tokens == NULL */
    int n;
} lw_span;

typedef enum {
    LW_LOGITS_NONE = 0,
    LW_LOGITS_LAST = 1,
    LW_LOGITS_ALL = 2,
} lw_logits_mode;

typedef struct {
    int seq;                /* sequence id in [0, n_seq_max) */
    const lw_span *spans;   /* appended in order after what is resident for seq */
    int n_spans;
    lw_logits_mode logits;
} lw_seq_input;

/* Runs the inputs through the model, appending to each sequence's resident state, with
 * the installed hooks acting. When every hook is a capture and no logits are requested,
 * the forward pass stops after the deepest hooked site (in graph order) and the partial state is
 * dropped again (the sequences are left as they were before the run).
 * Returns 0, or -1 (context overflow, bad span, position past the end...; logits that are not
 * finite, naming the position; a hook write beyond 1.8e19 in magnitude, whose square
 * overflows float32 in the model's norms, naming the hook, site and position). */
int lw_session_run(lw_session *session, const lw_seq_input *inputs, int n_inputs);

/* Whether the last run stopped after the deepest hooked layer (capture-only, no logits). */
bool lw_session_stopped_early(const lw_session *session);

/* Logits of sequence seq at absolute position pos from the last run that requested them
 * (n_vocab floats, valid until the next run). NULL when not computed, or when the position
 * is no longer resident (cleared or truncated since). */
const float *lw_session_logits(const lw_session *session, int seq, int pos);

/* ---------------------------------------------------------------- pooled extraction */

typedef enum {
    LW_POOL_MEAN = 0,   /* mean over the text's tokens; BOS (position 0) excluded when added */
    LW_POOL_LAST = 1,   /* the last token */
} lw_pool;

/* Pooled activations of many texts at several sites, in memory. Texts are batched up to
 * the session's n_seq_max sequences (and its context), with capture hooks installed for
 * the call (the session must have no other hooks; they are removed again afterwards).
 * out[k] (caller-allocated, n x n_embd) receives site layers[k] (-1 = embed). A text the
 * vocabulary cannot encode, or longer than the context (unless truncate: then cut to the
 * context), is an error naming its index, or, when ok != NULL, gets ok[i] = false and a
 * NaN row. Returns 0 or -1. */
int lw_extract_pooled(lw_session *session, const char *const *texts, int64_t n, bool add_bos, bool truncate,
                      const int *layers, int n_layers, lw_pool pool, float *const *out, bool *ok);

/* lw_extract_pooled at any sites: out[k] (n x lw_site_width(sites[k].site)) receives sites[k]. */
int lw_extract_pooled_sites(lw_session *session, const char *const *texts, int64_t n, bool add_bos, bool truncate,
                            const lw_site_ref *sites, int n_sites, lw_pool pool, float *const *out, bool *ok);

/* ---------------------------------------------------------------- logit lens */

/* The logit lens: the model's final norm and unembedding applied to n residual-stream rows
 * (n x n_embd, e.g. captured resid_post / resid_mid rows), as the model's graph applies
 * them after its last block: RMS norm with output_norm.weight and the architecture's eps,
 * the output matrix (lw_model_output_matrix; token_embd when tied), output.bias when
 * present, and the final logit softcap (Gemma 2; Gemma 3 when the file sets one).
 * Supported for llama, gemma, gemma2, gemma3, qwen2, qwen3, mistral3 and smollm3 (their
 * graphs end this way); other architectures are an error naming them. Computed in float32
 * from the dequantized matrix (cached in the model, n_vocab x n_embd floats, on first use),
 * so it differs from llama.cpp's own logits by llama.cpp's quantization of the activations
 * for quantized output matrices (Q8_0 on Gemma 3 270M / SmolLM2: max 0.26 / 0.29 absolute, logits
 * up to 29, same argmax; the rest, ~3e-5, is float rounding: tests/test_sites_real.c).
 * logits: caller-allocated n x n_vocab. 0 or -1. Not thread-safe on first use (the cache). */
int lw_logit_lens(const lw_model *model, const float *rows, int n, float *logits);

/* The lens's top k tokens per row, by logit (ties: lower id first): ids and log-probs (log
 * softmax over the whole vocabulary), each caller-allocated n x k. k in [1, n_vocab]. 0 or -1. */
int lw_logit_lens_topk(const lw_model *model, const float *rows, int n, int k, int32_t *ids, float *logprobs);

/* ---------------------------------------------------------------- model's own sentence embedding */

/* The pooling the model file declares for its sentence embedding ("<arch>.pooling_type"):
 * "mean", "cls", "last", "rank", or "none" when it declares none (language models); NULL (message
 * set) for a NULL model. */
const char *lw_model_pooling(const lw_model *model);

/* The model's own pooled sentence embedding of many texts (llama.cpp's pooling, as declared
 * in the file: e.g. mean over every token, [CLS] and [SEP] included, for a sentence-transformers
 * BERT), not normalized. For encoders such as BERT, which have no residual-stream `l_out`
 * nodes for lw_extract_pooled. The session must be created with params.embeddings = true,
 * have no hooks and no resident tokens; texts are tokenized with the tokenizer's special
 * tokens and batched up to n_seq_max sequences whose tokens fit one micro-batch and the
 * context. out (caller-allocated, n x n_embd) receives one row per text. A text the
 * vocabulary cannot encode, with no tokens of its own (empty or only whitespace), or longer
 * than min(context, n_ubatch) (unless truncate: then its content is cut so that the closing
 * special token, e.g. [SEP], is kept) is an error naming its index, or, when ok != NULL,
 * gets ok[i] = false and a NaN row. Returns 0 or -1. */
int lw_embed_pooled(lw_session *session, const char *const *texts, int64_t n, bool truncate, float *out, bool *ok);

/* ---------------------------------------------------------------- sampling, generation */

typedef struct {
    int max_tokens;     /* stop after this many new tokens (default 64) */
    float temperature;  /* <= 0: greedy (default 0) */
    float top_p;        /* nucleus mass in (0, 1] (default 1) */
    int top_k;          /* 0 = off (default 0) */
    uint32_t seed;      /* sampling seed (default 42) */
    bool stop_at_eos;   /* stop at an end-of-generation token (default true; it is not returned) */
} lw_gen_params;

lw_gen_params lw_gen_default_params(void);

/* Generates after the prompt spans for sequence seq (which must be empty or is continued).
 * With n_spans == 0 it continues from what is resident, using the logits the last run
 * produced at the sequence's last position. Hooks act during the prompt and at every step.
 * Writes up to cap tokens to out and returns how many were generated, or -1. */
int lw_generate(lw_session *session, int seq, const lw_span *prompt, int n_spans,
                const lw_gen_params *params, int32_t *out, int cap);

/* Why the last lw_generate on a session stopped. A caller that asked for N tokens and got fewer
 * learns here whether the model ended its turn or the context ran out. */
typedef enum {
    LW_GEN_STOP_NONE = 0,    /* no generation yet, or the last one failed (-1) */
    LW_GEN_STOP_LENGTH = 1,  /* max_tokens (or the output capacity) reached */
    LW_GEN_STOP_EOS = 2,     /* an end-of-generation token (stop_at_eos) */
    LW_GEN_STOP_CONTEXT = 3, /* the session's context is full: fewer tokens than asked for */
} lw_gen_stop;

/* The reason the session's last lw_generate stopped; LW_GEN_STOP_NONE for a NULL session. */
lw_gen_stop lw_generate_stop_reason(const lw_session *session);

/* Log-softmax of n logits into out (may alias logits). Computed in double. NULL logits or out:
 * nothing is written. A NaN or +inf logit, or every logit -inf, makes every output NaN (as
 * PyTorch's log_softmax does): there is no distribution to report. */
void lw_log_softmax(const float *logits, int n, float *out);

/* Block index of a layer written from either end: 0..n_layer-1, or -1..-n_layer counting back
 * from the last block (-1 = the last). -1 when outside both ranges (no error set). */
int lw_layer_index(long layer, int n_layer);

/* The middle block, n_layer / 2 (rounded down; 0 for n_layer <= 1): the default layer of every
 * option written "mid" or left at a LW_*_MIDDLE value (the channel's --k/--j, race's and codec
 * retrieval's --layer), in one place so they cannot drift apart. */
int lw_layer_middle(int n_layer);

/* A comma list of layers into *out (malloc'd, sorted): block numbers (negative from the end),
 * `all` (every block), `last`, `embed` (-1). The count, or -1 with a message naming the item (not
 * a layer, out of range, a layer named twice as "3,-1" in a 4-block model or "all,2"). */
int lw_layer_list_parse(const char *spec, int n_layer, int **out);

/* Index of the largest of v[0..n) (the first among equals: greedy decoding's tie rule); NaN entries
 * are passed over; 0 for n < 1; -1 (message set) when v is NULL and n > 0, or every entry is NaN. */
int32_t lw_argmax(const float *v, int n);

#ifdef __cplusplus
}
#endif
#endif
