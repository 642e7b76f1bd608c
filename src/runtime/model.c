/* Loading GGUF models through llama.cpp; model facts, tokenizer, weight matrices. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/fileio.h"
#include "ggml.h"
#include "gguf.h"
#include "runtime/internal.h"

int lw_guarded_tokenize(const struct llama_vocab *vocab, const char *text, int32_t len, int32_t *out, int32_t cap,
                        bool add_special, bool parse_special, int32_t *result, char *why, int why_len);

/* ---- llama.cpp logging: quiet by default, but keep its last error line so our own
 * messages can say why a load failed ("tensor data is not within file bounds"...). */
static _Thread_local char g_llama_err[512];
static int g_verbose;

static void lw_llama_log(enum ggml_log_level level, const char *text, void *ud) {
    (void)ud;
    if (level == GGML_LOG_LEVEL_ERROR && text) {
        /* keep the first line of the latest error, without the trailing newline */
        size_t n = strcspn(text, "\n");
        if (n > 0) {
            if (n >= sizeof g_llama_err) n = sizeof g_llama_err - 1;
            memcpy(g_llama_err, text, n);
            g_llama_err[n] = '\0';
        }
    }
    if (g_verbose) fputs(text, stderr);
}

const char *lw_llama_last_log_error(void) { return g_llama_err; }
void lw_llama_log_reset(void) { g_llama_err[0] = '\0'; }

static pthread_once_t g_backend_once = PTHREAD_ONCE_INIT;
static void backend_init(void) {
    llama_log_set(lw_llama_log, NULL);
    llama_backend_init();
}
void lw_backend_init_once(void) { pthread_once(&g_backend_once, backend_init); }

lw_model_params lw_model_default_params(void) {
    lw_model_params p = {.n_gpu_layers = 0, .use_mmap = true, .verbose = false};
    return p;
}

/* An integer-valued key of any GGUF integer type (gguf_get_val_u32 and friends abort on a
 * type other than the one asked for, which a corrupt file can hold); false when absent or
 * not an integer. */
static bool gguf_int(const struct gguf_context *g, const char *key, int64_t *out) {
    int64_t k = gguf_find_key(g, key);
    if (k < 0) return false;
    switch (gguf_get_kv_type(g, k)) {
    case GGUF_TYPE_UINT8: *out = gguf_get_val_u8(g, k); return true;
    case GGUF_TYPE_INT8: *out = gguf_get_val_i8(g, k); return true;
    case GGUF_TYPE_UINT16: *out = gguf_get_val_u16(g, k); return true;
    case GGUF_TYPE_INT16: *out = gguf_get_val_i16(g, k); return true;
    case GGUF_TYPE_UINT32: *out = gguf_get_val_u32(g, k); return true;
    case GGUF_TYPE_INT32: *out = gguf_get_val_i32(g, k); return true;
    case GGUF_TYPE_UINT64: *out = (int64_t)(gguf_get_val_u64(g, k) > INT64_MAX ? INT64_MAX : gguf_get_val_u64(g, k)); return true;
    case GGUF_TYPE_INT64: *out = gguf_get_val_i64(g, k); return true;
    default: return false;
    }
}

typedef struct {
    const char *text;
    size_t id;
} vocab_entry;

static int cmp_vocab_entry(const void *a, const void *b) {
    const vocab_entry *x = a, *y = b;
    int c = strcmp(x->text, y->text);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* The vocabulary lists each token once: llama.cpp asserts it (aborting the process) when a
 * corrupt file repeats one. */
static int check_vocab_unique(const struct gguf_context *g, const char *path) {
    int64_t k = gguf_find_key(g, "tokenizer.ggml.tokens");
    if (k < 0 || gguf_get_kv_type(g, k) != GGUF_TYPE_ARRAY || gguf_get_arr_type(g, k) != GGUF_TYPE_STRING) return 0;
    size_t n = gguf_get_arr_n(g, k);
    vocab_entry *v = malloc(sizeof *v * (n ? n : 1));
    if (!v) return lw_fail("%s: out of memory checking the vocabulary", path);
    for (size_t i = 0; i < n; i++) v[i] = (vocab_entry){gguf_get_arr_str(g, k, i), i};
    qsort(v, n, sizeof *v, cmp_vocab_entry);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        if (strcmp(v[i].text, v[i - 1].text) == 0)
            rc = lw_fail("%s: corrupt vocabulary: token \"%.40s\" is listed twice (ids %zu and %zu)", path,
                         v[i].text, v[i - 1].id, v[i].id);
    free(v);
    return rc;
}

/* Hyperparameters llama.cpp asserts on (aborting the process) instead of refusing: a layer
 * count outside [1, LLAMA_MAX_LAYERS = 512] and a norm epsilon that is negative or NaN. */
static int check_gguf_hparams(const struct gguf_context *g, const char *path) {
    int64_t ak = gguf_find_key(g, "general.architecture");
    if (ak < 0 || gguf_get_kv_type(g, ak) != GGUF_TYPE_STRING) return 0; /* llama.cpp names this itself */
    const char *arch = gguf_get_val_str(g, ak);
    char key[160];
    int64_t n_layer;
    snprintf(key, sizeof key, "%s.block_count", arch);
    if (gguf_int(g, key, &n_layer) && (n_layer < 1 || n_layer > 512))
        return lw_fail("%s: corrupt header: %s = %lld (a model has 1 to 512 blocks)", path, key, (long long)n_layer);
    static const char *const eps_keys[] = {"attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon"};
    for (size_t i = 0; i < sizeof eps_keys / sizeof eps_keys[0]; i++) {
        snprintf(key, sizeof key, "%s.%s", arch, eps_keys[i]);
        int64_t k = gguf_find_key(g, key);
        if (k < 0 || gguf_get_kv_type(g, k) != GGUF_TYPE_FLOAT32) continue;
        float eps = gguf_get_val_f32(g, k);
        if (!(eps >= 0.0f) || !isfinite(eps))
            return lw_fail("%s: corrupt header: %s = %g (a norm epsilon is a finite number >= 0)", path, key, eps);
    }
    return 0;
}

/* Checks the file before llama.cpp sees it, so the common mistakes get a precise message. */
int lw_model__check_file(const char *path, bool *has_output) {
    struct stat st;
    if (stat(path, &st) != 0) return lw_fail("%s: cannot open model: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return lw_fail("%s: not a regular file", path);
    FILE *f = fopen(path, "rb");
    if (!f) return lw_fail("%s: cannot open model: %s", path, strerror(errno));
    char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got < 4 || memcmp(magic, "GGUF", 4) != 0)
        return lw_fail("%s: not a GGUF file (bad magic)", path);
    struct gguf_init_params gp = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *g = gguf_init_from_file(path, gp);
    if (!g) return lw_fail("%s: truncated or corrupt GGUF header", path);
    *has_output = gguf_find_tensor(g, "output.weight") >= 0;
    if (check_gguf_hparams(g, path) != 0 || check_vocab_unique(g, path) != 0) {
        gguf_free(g);
        return -1;
    }
    /* A split model's other parts hold tensors this file lacks (the output matrix among them,
     * which would then look tied); latentwire reads weights from this one file, so refuse. */
    int64_t n_split = 1;
    gguf_int(g, "split.count", &n_split);
    gguf_free(g);
    if (n_split > 1)
        return lw_fail("%s: part of a model split into %lld GGUF files; merge them first "
                       "(llama-gguf-split --merge FIRST-PART OUT.gguf) and load the merged file", path,
                       (long long)n_split);
    return 0;
}

/* Architectures whose graph scales the embedding lookup by sqrt(n_embd) only for token ids
 * (src/models/gemma3.cpp: ggml_scale(inpL, ubatch.token ? sqrtf(n_embd) : 1.0f), likewise
 * gemma3n, gemma4, gemma-embedding). gemma, gemma2 and minicpm3 scale both inputs alike. */
static float soft_token_scale_for(const struct llama_model *lm) {
    static const char *const token_only[] = {"gemma3", "gemma3n", "gemma4", "gemma-embedding"};
    char arch[64] = "";
    llama_model_meta_val_str(lm, "general.architecture", arch, sizeof arch);
    for (size_t i = 0; i < sizeof token_only / sizeof token_only[0]; i++)
        if (strcmp(arch, token_only[i]) == 0) return sqrtf((float)llama_model_n_embd(lm));
    return 1.0f;
}

lw_model *lw_model_load(const char *path, lw_model_params params) {
    if (!path || !*path) {
        lw_fail("model path is empty");
        return NULL;
    }
    lw_backend_init_once();
    g_verbose = params.verbose;
    bool has_output = false;
    if (lw_model__check_file(path, &has_output) != 0) return NULL;

    /* ggml-cuda fuses neighbouring operations within each piece of a graph it is given, and the
     * pieces are cut where hooks are: with fusion on, a site's captured values changed with the
     * other hooks installed (Gemma 3 270M on an H200: a capture-only run cut after blocks.9.hook_z
     * differed from a full run by 0.20 per coordinate, 0.185 as a row's relative L2; with fusion
     * off, by 0). A measurement must not depend on what else is measured, so it is off unless the
     * user set the variable (GGML_CUDA_DISABLE_FUSION=0 turns it back on). ggml reads it once, at
     * the first graph run. */
    if (params.n_gpu_layers != 0) setenv("GGML_CUDA_DISABLE_FUSION", "1", 0);
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = params.n_gpu_layers;
    if (!params.use_mmap) mp.load_mode = LLAMA_LOAD_MODE_NONE;
    lw_llama_log_reset();
    struct llama_model *lm = llama_model_load_from_file(path, mp);
    if (!lm) {
        const char *why = lw_llama_last_log_error();
        lw_fail("%s: llama.cpp could not load the model%s%s", path, *why ? ": " : "", why);
        return NULL;
    }
    lw_model *m = calloc(1, sizeof *m);
    if (!m) {
        llama_model_free(lm);
        lw_fail("out of memory");
        return NULL;
    }
    m->llama = lm;
    m->vocab = llama_model_get_vocab(lm);
    m->has_output = has_output;
    snprintf(m->path, sizeof m->path, "%s", path);
    m->n_gpu_layers = params.n_gpu_layers;
    m->soft_token_scale = soft_token_scale_for(lm);
    pthread_mutex_init(&m->lock_sha, NULL);
    pthread_mutex_init(&m->lock_vocab, NULL);
    pthread_mutex_init(&m->lock_embd, NULL);
    pthread_mutex_init(&m->lock_lens, NULL);
    return m;
}

/* Hex sha256 of the vocabulary (every token's piece, special ones rendered, with its
 * length), computed once: two models share a vocabulary when the hashes are equal. */
/* Grows *buf (capacity *cap, doubling) to hold need bytes. 0, or -1 with *buf freed and the
 * error set. */
static int grow_buffer(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    while (need > *cap) *cap *= 2;
    char *grown = realloc(*buf, *cap);
    if (!grown) {
        free(*buf);
        *buf = NULL;
        return lw_fail("out of memory");
    }
    *buf = grown;
    return 0;
}

static const char *vocab_hash_locked(lw_model *m);

const char *lw_model_vocab_hash(const lw_model *model) {
    if (!model) return lw_fail("lw_model_vocab_hash: the model is NULL"), NULL;
    lw_model *m = (lw_model *)model; /* only the cache changes, under its lock */
    pthread_mutex_lock(&m->lock_vocab);
    const char *h = vocab_hash_locked(m);
    pthread_mutex_unlock(&m->lock_vocab);
    return h;
}

static const char *vocab_hash_locked(lw_model *m) {
    if (m->vocab_hash[0]) return m->vocab_hash;
    int32_t n = llama_vocab_n_tokens(m->vocab);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        lw_fail("out of memory");
        return NULL;
    }
    for (int32_t t = 0; t < n; t++) {
        char piece[256];
        int32_t got = llama_token_to_piece(m->vocab, t, piece, sizeof piece, 0, true);
        if (got < 0) got = 0; /* longer than any real piece: its length still counts below */
        if (grow_buffer(&buf, &cap, len + (size_t)got + 8) != 0) return NULL;
        len += (size_t)snprintf(buf + len, 8, "%d:", got);
        memcpy(buf + len, piece, (size_t)got);
        len += (size_t)got;
    }
    int rc = lw_sha256_buf(buf, len, m->vocab_hash);
    free(buf);
    if (rc != 0) {
        m->vocab_hash[0] = 0;
        return NULL;
    }
    return m->vocab_hash;
}

void lw_model_free(lw_model *model) {
    if (!model) return;
    llama_model_free(model->llama);
    free(model->tok_embd);
    lw_lens_free(model);
    pthread_mutex_destroy(&model->lock_sha);
    pthread_mutex_destroy(&model->lock_vocab);
    pthread_mutex_destroy(&model->lock_embd);
    pthread_mutex_destroy(&model->lock_lens);
    free(model);
}

static void meta_str(const lw_model *m, const char *key, char *buf, size_t n) {
    if (llama_model_meta_val_str(m->llama, key, buf, n) < 0) buf[0] = '\0';
}

void lw_model_get_info(const lw_model *m, lw_model_info *info) {
    if (!info) return; /* void: nothing to report to */
    memset(info, 0, sizeof *info);
    if (!m) return; /* a NULL model: all zero */
    meta_str(m, "general.architecture", info->arch, sizeof info->arch);
    meta_str(m, "general.name", info->name, sizeof info->name);
    meta_str(m, "tokenizer.ggml.model", info->tokenizer, sizeof info->tokenizer);
    info->n_layer = llama_model_n_layer(m->llama);
    info->n_embd = llama_model_n_embd(m->llama);
    info->n_head = llama_model_n_head(m->llama);
    info->n_head_kv = llama_model_n_head_kv(m->llama);
    info->n_vocab = llama_vocab_n_tokens(m->vocab);
    info->n_ctx_train = llama_model_n_ctx_train(m->llama);
    info->bos = llama_vocab_bos(m->vocab);
    info->eos = llama_vocab_eos(m->vocab);
    info->add_bos = llama_vocab_get_add_bos(m->vocab);
    info->recurrent = llama_model_is_recurrent(m->llama) || llama_model_is_hybrid(m->llama);
    info->tied_embeddings = !m->has_output;
    info->n_params = llama_model_n_params(m->llama);
    snprintf(info->path, sizeof info->path, "%s", m->path);
    info->n_gpu_layers = m->n_gpu_layers;
}

const char *lw_model_sha256(const lw_model *model) {
    if (!model) return lw_fail("lw_model_sha256: the model is NULL"), NULL;
    lw_model *m = (lw_model *)model; /* only the cache changes, under its lock */
    pthread_mutex_lock(&m->lock_sha);
    const char *h = m->sha256[0] || lw_sha256_file(m->path, m->sha256) == 0 ? m->sha256 : NULL;
    pthread_mutex_unlock(&m->lock_sha);
    return h;
}

static int32_t tokenize(const lw_model *m, const char *text, bool add_bos, bool special, int32_t *out, int32_t cap) {
    if (!m) return lw_fail("tokenize: the model is NULL"), INT32_MIN;
    if (!out && cap > 0) return lw_fail("tokenize: out is NULL with cap %d", (int)cap), INT32_MIN;
    if (!text) {
        lw_fail("tokenize: text is NULL");
        return INT32_MIN;
    }
    size_t len = strlen(text);
    if (len > INT32_MAX / 2) {
        lw_fail("tokenize: text of %zu bytes is too long", len);
        return INT32_MIN;
    }
    int32_t result;
    char why[128];
    if (lw_guarded_tokenize(m->vocab, text, (int32_t)len, out, cap, add_bos, special, &result, why, sizeof why) != 0) {
        /* find the first character the vocabulary cannot encode, to name it */
        for (size_t i = 0; i < len; i++) {
            int32_t r;
            char one[2] = {text[i], 0};
            if (lw_guarded_tokenize(m->vocab, one, 1, NULL, 0, false, false, &r, why, sizeof why) != 0) {
                unsigned char c = (unsigned char)text[i];
                if (c >= 32 && c < 127)
                    lw_fail("tokenize: character '%c' (byte 0x%02X) at offset %zu has no token in this vocabulary", c, c, i);
                else
                    lw_fail("tokenize: byte 0x%02X at offset %zu has no token in this vocabulary (no byte fallback)", c, i);
                return INT32_MIN;
            }
        }
        lw_fail("tokenize: llama.cpp's tokenizer failed (%s)", why);
        return INT32_MIN;
    }
    return result;
}

static int32_t tokenize_alloc(const lw_model *m, const char *text, bool add_bos, bool special, int32_t **out) {
    if (!out) return lw_fail("tokenize: out is NULL");
    *out = NULL;
    int32_t n = tokenize(m, text, add_bos, special, NULL, 0);
    if (n == INT32_MIN) return -1;
    int32_t need = n < 0 ? -n : n;
    int32_t *buf = malloc(sizeof(int32_t) * (size_t)(need > 0 ? need : 1));
    if (!buf) return lw_fail("out of memory");
    int32_t got = need > 0 ? tokenize(m, text, add_bos, special, buf, need) : 0;
    if (got < 0) {
        free(buf);
        return lw_fail("tokenize failed");
    }
    *out = buf;
    return got;
}

int32_t lw_tokenize(const lw_model *m, const char *text, bool add_bos, int32_t *out, int32_t cap) {
    /* else -cap would read as "needs cap tokens" */
    if (cap < 0) return lw_fail("tokenize: capacity %d is negative", (int)cap), INT32_MIN;
    return tokenize(m, text, add_bos, false, out, cap);
}

int32_t lw_tokenize_alloc(const lw_model *m, const char *text, bool add_bos, int32_t **out) {
    return tokenize_alloc(m, text, add_bos, false, out);
}

int32_t lw_tokenize_special_alloc(const lw_model *m, const char *text, bool add_bos, int32_t **out) {
    return tokenize_alloc(m, text, add_bos, true, out);
}

bool lw_token_is_eog(const lw_model *m, int32_t token) {
    if (!m) return lw_fail("lw_token_is_eog: the model is NULL"), false;
    return llama_vocab_is_eog(m->vocab, token);
}

bool lw_tokenizer_adds_space(const lw_model *m) {
    if (!m) return lw_fail("lw_tokenizer_adds_space: the model is NULL"), false;
    int32_t t[8];
    int32_t n = tokenize(m, "x", false, false, t, 8);
    char *r = n > 0 ? lw_detokenize(m, t, n, false) : NULL;
    bool adds = r && r[0] == ' ';
    free(r);
    return adds;
}

char *lw_chat_format(const lw_model *m, const char *const *roles, const char *const *contents, int n,
                     bool add_assistant) {
    if (!m) return lw_fail("lw_chat_format: the model is NULL"), NULL;
    if (n > 0 && (!roles || !contents)) return lw_fail("lw_chat_format: %s is NULL", roles ? "contents" : "roles"), NULL;
    for (int i = 0; i < n; i++)
        if (!roles[i] || !contents[i])
            return lw_fail("lw_chat_format: %s[%d] is NULL", roles[i] ? "contents" : "roles", i), NULL;
    const char *tmpl = llama_model_chat_template(m->llama, NULL);
    if (!tmpl) {
        lw_fail("%s: the model has no chat template (tokenizer.chat_template)", m->path);
        return NULL;
    }
    if (n < 0) n = 0;
    struct llama_chat_message *msgs = calloc((size_t)(n > 0 ? n : 1), sizeof *msgs);
    size_t total = 256;
    for (int i = 0; i < n; i++) {
        msgs[i].role = roles[i];
        msgs[i].content = contents[i];
        total += strlen(roles[i]) + strlen(contents[i]) + 64;
    }
    char *buf = malloc(total);
    int32_t got = msgs && buf ? llama_chat_apply_template(tmpl, msgs, (size_t)n, add_assistant, buf, (int32_t)total) : -1;
    if (got >= (int32_t)total) { /* the template added more than we guessed */
        char *grown = realloc(buf, (size_t)got + 1);
        if (grown) {
            buf = grown;
            total = (size_t)got + 1;
            got = llama_chat_apply_template(tmpl, msgs, (size_t)n, add_assistant, buf, (int32_t)total);
        } else {
            got = -1;
        }
    }
    free(msgs);
    if (got < 0 || got >= (int32_t)total) {
        free(buf);
        lw_fail("%s: llama.cpp does not know this model's chat template", m->path);
        return NULL;
    }
    buf[got] = '\0';
    return buf;
}

int lw_chat_affixes(const lw_model *m, char **prefix, char **suffix) {
    if (!prefix || !suffix) return lw_fail("lw_chat_affixes: %s is NULL", prefix ? "suffix" : "prefix");
    *prefix = *suffix = NULL;
    if (!m) return lw_fail("lw_chat_affixes: the model is NULL");
    static const char mark[] = "\x01LW_CONTENT\x01";
    const char *role = "user", *content = mark;
    char *all = lw_chat_format(m, &role, &content, 1, true);
    if (!all) return -1;
    char *at = strstr(all, mark);
    if (!at) {
        free(all);
        return lw_fail("%s: the chat template does not place the user's text verbatim", m->path);
    }
    *prefix = strndup(all, (size_t)(at - all));
    *suffix = strdup(at + strlen(mark));
    free(all);
    if (!*prefix || !*suffix) {
        free(*prefix);
        free(*suffix);
        *prefix = *suffix = NULL;
        return lw_fail("out of memory");
    }
    return 0;
}

/* Concatenates each token's piece as it is (llama_detokenize would strip the leading space
 * of the first piece, which mangles continuations such as " named" after a prompt). */
char *lw_detokenize(const lw_model *m, const int32_t *tokens, int32_t n, bool render_special) {
    if (!m) return lw_fail("detokenize: the model is NULL"), NULL;
    if (n < 0) return lw_fail("detokenize: the token count %d is negative", (int)n), NULL;
    if (!tokens && n > 0) return lw_fail("detokenize: tokens is NULL with n %d", (int)n), NULL;
    int32_t n_vocab = llama_vocab_n_tokens(m->vocab);
    size_t cap = 64, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        lw_fail("out of memory");
        return NULL;
    }
    for (int32_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= n_vocab) {
            free(buf);
            lw_fail("detokenize: token id %d at index %d is outside the vocabulary [0, %d)", tokens[i], i, n_vocab);
            return NULL;
        }
        char piece[256];
        int32_t got = llama_token_to_piece(m->vocab, tokens[i], piece, sizeof piece, 0, render_special);
        if (got < 0) {
            free(buf);
            lw_fail("detokenize: token %d has a piece longer than %zu bytes", tokens[i], sizeof piece);
            return NULL;
        }
        if (grow_buffer(&buf, &cap, len + (size_t)got + 1) != 0) return NULL;
        memcpy(buf + len, piece, (size_t)got);
        len += (size_t)got;
    }
    buf[len] = '\0';
    return buf;
}

/* Reads a 2-D weight tensor from the GGUF file and converts it to float32 row by row with
 * ggml's own type conversion, so every quantization llama.cpp supports works. */
static float *read_matrix(const lw_model *m, const char *name, int *rows, int *cols) {
    struct ggml_context *meta = NULL;
    struct gguf_init_params gp = {.no_alloc = true, .ctx = &meta};
    struct gguf_context *g = gguf_init_from_file(m->path, gp);
    float *out = NULL;
    FILE *f = NULL;
    void *raw = NULL;
    if (!g) {
        lw_fail("%s: cannot read GGUF header", m->path);
        goto done;
    }
    int64_t id = gguf_find_tensor(g, name);
    struct ggml_tensor *t = id >= 0 ? ggml_get_tensor(meta, name) : NULL;
    if (!t) {
        lw_fail("%s: no tensor \"%s\"", m->path, name);
        goto done;
    }
    if (ggml_n_dims(t) != 2) {
        lw_fail("%s: tensor \"%s\" is not a matrix", m->path, name);
        goto done;
    }
    const struct ggml_type_traits *tt = ggml_get_type_traits(t->type);
    if (t->type != GGML_TYPE_F32 && !tt->to_float) {
        lw_fail("%s: tensor \"%s\" has type %s, which has no float conversion", m->path, name,
                ggml_type_name(t->type));
        goto done;
    }
    int64_t n_cols = t->ne[0], n_rows = t->ne[1];
    size_t row_bytes = ggml_row_size(t->type, n_cols);
    size_t off = gguf_get_data_offset(g) + gguf_get_tensor_offset(g, id);
    out = malloc(sizeof(float) * (size_t)(n_rows * n_cols));
    raw = malloc(row_bytes);
    f = fopen(m->path, "rb");
    if (!out || !raw || !f || fseeko(f, (off_t)off, SEEK_SET) != 0) {
        lw_fail("%s: cannot read tensor \"%s\"", m->path, name);
        free(out);
        out = NULL;
        goto done;
    }
    for (int64_t r = 0; r < n_rows; r++) {
        if (fread(raw, 1, row_bytes, f) != row_bytes) {
            lw_fail("%s: tensor \"%s\" is truncated", m->path, name);
            free(out);
            out = NULL;
            goto done;
        }
        float *dst = out + r * n_cols;
        if (t->type == GGML_TYPE_F32)
            memcpy(dst, raw, row_bytes);
        else
            tt->to_float(raw, dst, n_cols);
    }
    if (rows) *rows = (int)n_rows; /* either may be NULL: not wanted */
    if (cols) *cols = (int)n_cols;
done:
    if (f) fclose(f);
    free(raw);
    if (g) gguf_free(g);
    if (meta) ggml_free(meta);
    return out;
}

float *lw_model_token_embeddings(const lw_model *m, int *n_vocab, int *n_embd) {
    if (!m) return lw_fail("lw_model_token_embeddings: the model is NULL"), NULL;
    return read_matrix(m, "token_embd.weight", n_vocab, n_embd);
}

float *lw_model_output_matrix(const lw_model *m, int *n_vocab, int *n_embd) {
    if (!m) return lw_fail("lw_model_output_matrix: the model is NULL"), NULL;
    return read_matrix(m, m->has_output ? "output.weight" : "token_embd.weight", n_vocab, n_embd);
}

const float *lw_model_token_embeddings_cached(const lw_model *model) {
    if (!model) return lw_fail("lw_model_token_embeddings_cached: the model is NULL"), NULL;
    lw_model *m = (lw_model *)model; /* only the cache changes, under its lock */
    pthread_mutex_lock(&m->lock_embd);
    if (!m->tok_embd) {
        int nv, d;
        m->tok_embd = lw_model_token_embeddings(m, &nv, &d);
    }
    const float *e = m->tok_embd;
    pthread_mutex_unlock(&m->lock_embd);
    return e;
}

int lw_model_peek_width(const char *path, int *n_embd) {
    if (!n_embd) return lw_fail("lw_model_peek_width: n_embd is NULL");
    *n_embd = 0;
    if (!path || !*path) return lw_fail("model path is empty");
    bool has_output;
    if (lw_model__check_file(path, &has_output) != 0) return -1;
    struct gguf_init_params gp = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *g = gguf_init_from_file(path, gp);
    if (!g) return lw_fail("%s: truncated or corrupt GGUF header", path);
    int64_t arch = gguf_find_key(g, "general.architecture");
    char key[128] = "";
    if (arch >= 0 && gguf_get_kv_type(g, arch) == GGUF_TYPE_STRING)
        snprintf(key, sizeof key, "%s.embedding_length", gguf_get_val_str(g, arch));
    int64_t w = -1;
    if (*key && !gguf_int(g, key, &w)) w = -1;
    gguf_free(g);
    if (w <= 0 || w > INT_MAX)
        return lw_fail("%s: no %s in the GGUF metadata", path, *key ? key : "general.architecture");
    *n_embd = (int)w;
    return 0;
}
