/* Sharded, resumable extraction of a text corpus's activations into safetensors files
 * (lw_extract_to_files; see latentwire/extract.h).
 *
 * Per shard, every output tensor streams to a temporary file of its own while its sha256
 * is computed on the way; the shard's file is assembled from them when the shard is
 * complete, with the settings fingerprint and the checksums in its metadata, so a resumed
 * run keeps a shard only when both still match. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fileio.h"
#include "latentwire/extract.h"
#include "latentwire/safetensors.h"

static const char *POOL_NAMES[] = {"mean", "last", "none", "model"};
enum { LAYER_POOLED = -2 }; /* LW_EXTRACT_POOL_MODEL: the model's own sentence embedding, tensor `pooled` */
#define SUFFIX ".safetensors"
#define SUFFIX_LEN 12

lw_extract_params lw_extract_default_params(void) {
    lw_extract_params p = {.pool = LW_EXTRACT_POOL_MEAN, .field = "text", .batch = 2, .add_bos = true,
                           .precision = LW_PRECISION_EXACT, .handle_signals = true};
    return p;
}

typedef struct {
    const lw_extract_params *p;
    const char *input, *out;
    lw_model *m;
    lw_model_info info;
    lw_session *s;
    lw_corpus corpus;
    int32_t *n_tok;     /* tokens per text (after truncation); 0 = skipped */
    int *layers;        /* -1 = embed, LAYER_POOLED */
    int n_layers;
    lw_site_ref *sites; /* n_layers sites (NULL for the model's pooling); layers[k] is sites[k].layer */
    int *width;         /* n_layers: floats per row */
    int *lens_of;       /* n_layers: index of the site's logit-lens outputs, or -1 */
    int n_lens;
    char input_sha[65];
    int n_ctx;          /* the session's context: a batch's tokens must fit it together */
    int64_t n_skipped;
    /* one shard's temporary files, one per output tensor: sites, then each lens's ids and
     * log-probs, then row_id, line, and for every-token rows position and token */
    int n_files;
    FILE **fp;
    char **tmp;
    int *slot;          /* cleanup slot of each temporary */
    lw_sha256 **hash;
    char (*sha)[65];    /* finished digests */
} job;

static bool every_token(const job *j) { return j->p->pool == LW_EXTRACT_POOL_TOKENS; }

static void emit(const job *j, lw_extract_event e) {
    if (j->p->on_event) j->p->on_event(&e, j->p->user);
}

void lw_extract_shard_path(const char *out, int shard, int n_shards, char *buf, size_t n) {
    if (!buf || n == 0) return; /* void: nowhere to write */
    if (!out) return (void)(buf[0] = '\0', lw_fail("lw_extract_shard_path: out is NULL"));
    if (n_shards < 1 || shard < 0 || shard >= n_shards)
        return (void)(buf[0] = '\0', lw_fail("lw_extract_shard_path: shard %d of %d is not one of [0, %d)", shard, n_shards, n_shards));
    if (n_shards == 1) {
        snprintf(buf, n, "%s", out);
        return;
    }
    int stem = (int)strlen(out) - SUFFIX_LEN;
    snprintf(buf, n, "%.*s-%05d-of-%05d" SUFFIX, stem, out, shard + 1, n_shards);
}

/* ------------------------------------------------------------------ names ---- */

static const char *tensor_name(int layer, char *buf, size_t n) {
    if (layer == LAYER_POOLED) snprintf(buf, n, "pooled");
    else if (layer < 0) snprintf(buf, n, "embed");
    else snprintf(buf, n, "layer.%d", layer);
    return buf;
}

/* Site k's tensor: `embed` and `layer.L` (resid_post), the other sites by their
 * TransformerLens name (blocks.L.hook_z...). */
static const char *site_tensor_name(const job *j, int k, char *buf, size_t n) {
    if (!j->sites || j->sites[k].site == LW_SITE_EMBED || j->sites[k].site == LW_SITE_RESID_POST)
        return tensor_name(j->layers[k], buf, n);
    return lw_site_name(j->sites[k], buf, n);
}

/* The TransformerLens name of what tensor k holds (for the model's pooling, its tensor name). */
static const char *site_hook_name(const job *j, int k, char *buf, size_t n) {
    return j->sites ? lw_site_name(j->sites[k], buf, n) : site_tensor_name(j, k, buf, n);
}

/* Temporary file f's tensor: name, dtype and columns (0: a 1-D tensor). */
static void file_tensor(const job *j, int f, char *name, size_t n, lw_dtype *dt, int64_t *cols) {
    static const char *INDEX[4] = {"row_id", "line", "position", "token"};
    static const lw_dtype INDEX_DT[4] = {LW_DT_I64, LW_DT_I64, LW_DT_I32, LW_DT_I32};
    if (f < j->n_layers) {
        site_tensor_name(j, f, name, n);
        *dt = LW_DT_F32;
        *cols = j->width[f];
        return;
    }
    f -= j->n_layers;
    if (f < 2 * j->n_lens) {
        int lens = f / 2, k = 0;
        while (j->lens_of[k] != lens) k++;
        char tn[96];
        site_tensor_name(j, k, tn, sizeof tn);
        snprintf(name, n, "%s.%s", tn, f % 2 ? "lens_logprobs" : "lens_ids");
        *dt = f % 2 ? LW_DT_F32 : LW_DT_I32;
        *cols = j->p->logit_lens_k;
        return;
    }
    f -= 2 * j->n_lens;
    snprintf(name, n, "%s", INDEX[f]);
    *dt = INDEX_DT[f];
    *cols = 0;
}

/* ------------------------------------------------------------------ setup ---- */

/* The sites of params->sites: j->sites, j->layers; the count or -1. */
static int parse_sites(job *j) {
    if (j->p->pool == LW_EXTRACT_POOL_MODEL) {
        if (j->p->sites) return lw_fail("extract: the model's own pooling takes no sites (it writes `pooled`)");
        if (!j->p->add_bos) return lw_fail("extract: the model's own pooling always adds the special tokens (add_bos)");
        j->layers = malloc(sizeof(int));
        if (!j->layers) return lw_fail("out of memory");
        j->layers[0] = LAYER_POOLED;
        return 1;
    }
    if (!j->p->sites) return lw_fail("extract: no sites given");
    int n = lw_site_parse_list(j->p->sites, j->info.n_layer, &j->sites);
    if (n <= 0) return lw_fail_prefix("extract: sites: ");
    j->layers = malloc(sizeof(int) * (size_t)n);
    if (!j->layers) return lw_fail("out of memory");
    for (int k = 0; k < n; k++) j->layers[k] = j->sites[k].layer;
    return n;
}

/* Widths and logit-lens outputs of the sites. 0 or -1. */
static int plan_outputs(job *j) {
    const int K = j->p->logit_lens_k;
    j->width = malloc(sizeof(int) * (size_t)j->n_layers);
    j->lens_of = malloc(sizeof(int) * (size_t)j->n_layers);
    if (!j->width || !j->lens_of) return lw_fail("out of memory");
    for (int k = 0; k < j->n_layers; k++) {
        j->width[k] = j->sites ? lw_site_width(j->m, j->sites[k].site) : j->info.n_embd;
        if (j->width[k] <= 0) return lw_fail_prefix("extract: sites: ");
        bool lens = K > 0 && j->sites && j->sites[k].site == LW_SITE_RESID_POST;
        j->lens_of[k] = lens ? j->n_lens++ : -1;
    }
    if (K < 0) return lw_fail("extract: logit lens K = %d must be >= 0", K);
    if (K > 0 && j->n_lens == 0)
        return lw_fail("extract: the logit lens needs a resid_post site (a block index or blocks.L.hook_resid_post)");
    if (K > j->info.n_vocab) return lw_fail("extract: logit lens top %d: the vocabulary has %d tokens", K, j->info.n_vocab);
    j->n_files = j->n_layers + 2 * j->n_lens + (every_token(j) ? 4 : 2);
    return 0;
}

/* Token counts of every text. An empty text (no tokens besides a BOS) is an error naming
 * its line: pooling it would write the BOS activation as the text's row. */
static int tokenize_corpus(job *j) {
    const lw_extract_params *p = j->p;
    j->n_tok = malloc(sizeof(int32_t) * (size_t)(j->corpus.n ? j->corpus.n : 1));
    if (!j->n_tok) return lw_fail("out of memory");
    for (int64_t t = 0; t < j->corpus.n; t++) {
        const char *text = j->corpus.texts[t];
        long long line = (long long)j->corpus.line_no[t];
        int32_t n = lw_tokenize(j->m, text, p->add_bos, NULL, 0);
        if (n == INT32_MIN && p->skip_untokenizable) {
            j->n_tok[t] = 0;
            j->n_skipped++;
            continue;
        }
        if (n == INT32_MIN) {
            char why[512]; /* lw_fail formats into the buffer lw_last_error returns */
            snprintf(why, sizeof why, "%s", lw_last_error());
            return lw_fail("%s:%lld: %s (or skip such texts: --skip-untokenizable)", j->input, line, why);
        }
        if (n < 0) n = -n;
        /* at most the special tokens the run adds (BOS; [CLS] [SEP] for the model's pooling) */
        if (n <= 2 && lw_tokenize(j->m, text, false, NULL, 0) == 0)
            return lw_fail("%s:%lld: text has no tokens of its own (empty); remove the line or give it text", j->input,
                           line);
        if (n > j->n_ctx) {
            if (!p->truncate)
                return lw_fail("%s:%lld: text has %d tokens, more than the context (%d); use --truncate", j->input, line,
                               n, j->n_ctx);
            n = j->n_ctx;
        }
        j->n_tok[t] = n;
    }
    return 0;
}

/* Rows a text contributes to the output (none when it was skipped). */
static int64_t text_rows(const job *j, int64_t t) {
    if (j->n_tok[t] == 0) return 0;
    return every_token(j) ? j->n_tok[t] : 1;
}

/* ------------------------------------------------------- settings and reuse ---- */

/* Every setting that changes a shard's bytes, and the shard's place: what must match for a
 * finished shard to be reused. */
static char *settings_json(const job *j, int shard, int n_shards, int64_t t0, int64_t t1) {
    const lw_extract_params *p = j->p;
    json_t *root = json_object();
    json_object_set_new(root, "format", json_string("latentwire.activations/1"));
    json_object_set_new(root, "model", json_string(j->info.path));
    const char *sha = lw_model_sha256(j->m);
    json_object_set_new(root, "model_sha256", json_string(sha ? sha : ""));
    json_object_set_new(root, "architecture", json_string(j->info.arch));
    json_object_set_new(root, "tokenizer", json_string(j->info.tokenizer));
    json_object_set_new(root, "n_embd", json_integer(j->info.n_embd));
    json_t *layers = json_array();
    for (int k = 0; k < j->n_layers; k++)
        json_array_append_new(layers, j->layers[k] == LAYER_POOLED ? json_string("pooled") : json_integer(j->layers[k]));
    json_object_set_new(root, "layers", layers);
    /* the TransformerLens name of every tensor, and the sites in tensor order */
    json_t *sites = json_array(), *tensors = json_object();
    for (int k = 0; k < j->n_layers; k++) {
        char tn[96], hn[96];
        site_tensor_name(j, k, tn, sizeof tn);
        site_hook_name(j, k, hn, sizeof hn);
        json_array_append_new(sites, json_string(hn));
        json_object_set_new(tensors, tn, json_string(hn));
        if (j->lens_of[k] < 0) continue;
        char lt[128], lh[128];
        snprintf(lt, sizeof lt, "%s.lens_ids", tn);
        snprintf(lh, sizeof lh, "%s logit lens top-%d ids", hn, p->logit_lens_k);
        json_object_set_new(tensors, lt, json_string(lh));
        snprintf(lt, sizeof lt, "%s.lens_logprobs", tn);
        snprintf(lh, sizeof lh, "%s logit lens top-%d log-probs", hn, p->logit_lens_k);
        json_object_set_new(tensors, lt, json_string(lh));
    }
    json_object_set_new(root, "sites", sites);
    json_object_set_new(root, "tensors", tensors);
    json_object_set_new(root, "logit_lens", json_integer(p->logit_lens_k));
    json_object_set_new(root, "pool", json_string(POOL_NAMES[p->pool]));
    json_object_set_new(root, "bos", json_boolean(p->add_bos));
    json_object_set_new(root, "truncate", json_boolean(p->truncate));
    json_object_set_new(root, "skip_untokenizable", json_boolean(p->skip_untokenizable));
    json_object_set_new(root, "precision", json_string(p->precision == LW_PRECISION_EXACT ? "exact" : "fast"));
    /* texts share a batch (and the KV cache) with their neighbours, which moves the floats */
    json_object_set_new(root, "batch", json_integer(p->batch));
    json_object_set_new(root, "n_ctx", json_integer(j->n_ctx));
    /* layers offloaded to a GPU compute with other kernels (other floats); recorded as asked
     * for, so a CPU-only build's shards are not reused by a GPU run either */
    json_object_set_new(root, "n_gpu_layers", json_integer(j->info.n_gpu_layers));
    if (j->info.n_gpu_layers != 0) { /* ggml-cuda's fusion moves the captures too (lw_model_load) */
        const char *fusion = getenv("GGML_CUDA_DISABLE_FUSION");
        json_object_set_new(root, "ggml_cuda_disable_fusion", json_string(fusion ? fusion : "unset"));
    }
    json_object_set_new(root, "input", json_string(j->input));
    json_object_set_new(root, "input_field", json_string(p->field));
    json_object_set_new(root, "input_sha256", json_string(j->input_sha));
    json_object_set_new(root, "shard", json_integer(shard));
    json_object_set_new(root, "n_shards", json_integer(n_shards));
    json_object_set_new(root, "first_text", json_integer(t0));
    json_object_set_new(root, "n_texts", json_integer(t1 - t0));
    char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    if (!s) lw_fail("out of memory");
    return s;
}

/* Keys recorded for provenance only: "input" is the path the texts were read from, and the texts
 * themselves are input_sha256, so the same file reached by another path (a moved corpus, a link)
 * keeps its finished shards; likewise "model" is the model's path, the model itself being
 * model_sha256 (when that could be computed). */
static void drop_provenance(json_t *settings) {
    json_object_del(settings, "input");
    const char *sha = json_string_value(json_object_get(settings, "model_sha256"));
    if (sha && *sha) json_object_del(settings, "model");
}

/* Whether a shard's recorded settings are this run's, provenance aside. */
static bool same_settings(const char *have, const char *want) {
    if (strcmp(have, want) == 0) return true;
    json_t *a = json_loads(have, 0, NULL), *b = json_loads(want, 0, NULL);
    bool same = json_is_object(a) && json_is_object(b);
    if (same) {
        drop_provenance(a);
        drop_provenance(b);
        same = json_equal(a, b);
    }
    json_decref(a);
    json_decref(b);
    return same;
}

static const char *or_unknown(const char *s) { return s ? s : "not recorded"; }

/* "made with other settings (batch was 1, now 2)": the first setting whose value differs
 * between the shard's record and this run's, into buf. What the rows are of comes first (the
 * model, then the texts), since a changed model usually changes its layers and width too and
 * naming those would hide it; then the GPU layers (which bring the fusion setting with them); then
 * the rest by name. */
static const char *settings_difference(const char *have, const char *want, char *buf, size_t n) {
    static const char *const first[] = {"model_sha256", "architecture", "tokenizer", "n_embd", "input_sha256",
                                        "n_gpu_layers", /* before the fusion setting that comes with it */ NULL};
    json_t *a = json_loads(have, 0, NULL), *b = json_loads(want, 0, NULL);
    json_t *a_all = json_copy(a), *b_all = json_copy(b); /* the paths, for the message */
    drop_provenance(a);
    drop_provenance(b);
    snprintf(buf, n, "made with other settings");
    const char *key = NULL;
    for (int k = 0; first[k] && !key; k++) {
        json_t *av = json_object_get(a, first[k]), *bv = json_object_get(b, first[k]);
        if (bv && !(av && json_equal(av, bv))) key = first[k];
    }
    json_t *bv;
    const char *k2;
    json_object_foreach(b, k2, bv) {
        if (key) break;
        json_t *av = json_object_get(a, k2);
        if (!(av && json_equal(av, bv))) key = k2;
    }
    if (key && !strcmp(key, "model_sha256")) {
        const char *was = json_string_value(json_object_get(a_all, "model"));
        const char *now = json_string_value(json_object_get(b_all, "model"));
        snprintf(buf, n, "made with another model (%.200s, sha256 %.12s..., now %.200s, sha256 %.12s...)",
                 or_unknown(was), or_unknown(json_string_value(json_object_get(a, key))), or_unknown(now),
                 or_unknown(json_string_value(json_object_get(b, key))));
    } else if (key) {
        json_t *av = json_object_get(a, key);
        char *was = av ? json_dumps(av, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        char *now = json_dumps(json_object_get(b, key), JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(buf, n, "made with other settings (%s was %.200s, now %.200s)", key, was ? was : "not recorded",
                 now ? now : "?");
        free(was);
        free(now);
    }
    json_decref(a);
    json_decref(b);
    json_decref(a_all);
    json_decref(b_all);
    return buf;
}

/* Whether the finished shard at path was made with these settings and its every tensor's
 * bytes still hash to the sha256 recorded in it. false with *why set when it exists but
 * differs (pointing into why_buf or a constant); false with *why NULL when there is none. */
static bool shard_verified(const char *path, const char *settings, const char **why, char *why_buf, size_t why_n) {
    *why = NULL;
    if (access(path, F_OK) != 0) return false;
    lw_st_file *f = lw_st_open(path);
    if (!f) {
        *why = "unreadable";
        return false;
    }
    const char *have = lw_st_meta(f, "latentwire"), *bad = NULL;
    bool ok = false;
    if (!have) *why = "made with other settings (none recorded)";
    else if (!same_settings(have, settings)) *why = settings_difference(have, settings, why_buf, why_n);
    else if (!(ok = lw_st_matches_sha256(f, lw_st_meta(f, "sha256"), &bad)))
        *why = bad ? "its content does not match its sha256 (corrupted)" : "no checksums";
    lw_st_close(f);
    return ok;
}

/* ------------------------------------------------------- output directory ---- */

/* If name is the output stem's file or one of its shards ("<stem>.safetensors",
 * "<stem>-00002-of-00005.safetensors"), what follows ".safetensors" in it (*n_of: the
 * shard count, 0 for the unsharded file); NULL otherwise. */
static const char *output_tail(const char *name, const char *stem, size_t stem_len, int *n_of) {
    if (strncmp(name, stem, stem_len) != 0) return NULL;
    const char *s = name + stem_len;
    *n_of = 0;
    int a, b, used = 0;
    if (sscanf(s, "-%5d-of-%5d%n", &a, &b, &used) == 2 && used == 15 && a >= 1 && a <= b) *n_of = b, s += used;
    return strncmp(s, SUFFIX, SUFFIX_LEN) == 0 ? s + SUFFIX_LEN : NULL;
}

/* A temporary this code leaves while it works: ".part<K>.tmp" or the writer's ".tmp.XXXXXX";
 * also ".layer<K>.tmp", the name earlier versions gave them (left by runs killed before this
 * version cleaned up on signals). */
static bool is_temp_tail(const char *tail) {
    const size_t pre = strncmp(tail, ".part", 5) == 0 ? 5 : strncmp(tail, ".layer", 6) == 0 ? 6 : 0;
    if (pre) {
        const char *d = tail + pre;
        if (*d < '0' || *d > '9') return false;
        while (*d >= '0' && *d <= '9') d++;
        return strcmp(d, ".tmp") == 0;
    }
    if (strncmp(tail, ".tmp.", 5) != 0 || strlen(tail) != 11) return false;
    for (const char *c = tail + 5; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9'))) return false;
    return true;
}

/* Removes, in the output's directory, the stale temporaries of this output (temps true) or
 * the shard sets this run's n_shards supersedes (temps false). 0 or -1. */
static int sweep_output_dir(const job *j, bool temps, int n_shards) {
    const char *slash = strrchr(j->out, '/');
    char dir[4096];
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - j->out + (slash == j->out)), j->out);
    else snprintf(dir, sizeof dir, ".");
    const char *stem = slash ? slash + 1 : j->out;
    size_t stem_len = strlen(stem) - SUFFIX_LEN;
    DIR *d = opendir(dir);
    if (!d) return 0; /* the output's directory is checked when the output is created */
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        int n_of;
        const char *tail = output_tail(e->d_name, stem, stem_len, &n_of);
        if (!tail) continue;
        bool remove = temps ? is_temp_tail(tail) : *tail == '\0' && n_of != (n_shards > 1 ? n_shards : 0);
        if (!remove) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!temps && n_of == 0) { /* the unsharded OUT: only when it is an activation file */
            lw_st_file *f = lw_st_open(path);
            const char *fmt = f ? lw_st_meta(f, "format") : NULL;
            remove = fmt && !strcmp(fmt, "latentwire.activations/1");
            lw_st_close(f);
            lw_clear_error();
            if (!remove) continue;
        }
        if (unlink(path) != 0) rc = lw_fail("cannot remove %s %s: %s", temps ? "the stale temporary" : "the superseded shard",
                                             path, strerror(errno));
        else emit(j, (lw_extract_event){.kind = LW_EXTRACT_EV_REMOVED, .path = path});
    }
    closedir(d);
    return rc;
}

/* --------------------------------------------------------- temporary files ---- */

static void close_temps(job *j) {
    for (int f = 0; f < j->n_files; f++) {
        lw_cleanup_forget(j->slot[f]);
        j->slot[f] = -1;
        if (j->fp[f]) fclose(j->fp[f]);
        j->fp[f] = NULL;
        if (j->tmp[f]) unlink(j->tmp[f]);
        free(j->tmp[f]);
        j->tmp[f] = NULL;
        lw_sha256_free(j->hash[f]);
        j->hash[f] = NULL;
    }
}

static int open_temps(job *j, const char *shard_path) {
    for (int f = 0; f < j->n_files; f++) {
        size_t len = strlen(shard_path) + 32;
        if (!(j->tmp[f] = malloc(len)) || !(j->hash[f] = lw_sha256_begin())) return lw_fail("out of memory");
        snprintf(j->tmp[f], len, "%s.part%d.tmp", shard_path, f);
        /* registered before it exists: a signal between the two finds nothing to remove */
        if ((j->slot[f] = lw_cleanup_add(j->tmp[f])) < 0) return -1;
        if (!(j->fp[f] = fopen(j->tmp[f], "w+b")))
            return lw_fail("cannot create the temporary %s: %s", j->tmp[f], strerror(errno));
    }
    return 0;
}

/* Appends n_bytes to temporary f and to its checksum. */
static int emit_bytes(job *j, int f, const void *data, size_t n_bytes) {
    if (n_bytes == 0) return 0;
    if (fwrite(data, 1, n_bytes, j->fp[f]) != n_bytes)
        return lw_fail("cannot write the temporary %s: %s", j->tmp[f], strerror(errno));
    return lw_sha256_update(j->hash[f], data, n_bytes);
}

/* row_id and line of text t, once per row; with every-token rows also position (the
 * tokens follow with emit_tokens). */
static int emit_index(job *j, int64_t t, int64_t n_rows) {
    const int base = j->n_layers + 2 * j->n_lens;
    int rc = 0;
    int64_t line = j->corpus.line_no[t];
    for (int64_t r = 0; rc == 0 && r < n_rows; r++) {
        rc = emit_bytes(j, base, &t, sizeof t);
        if (rc == 0) rc = emit_bytes(j, base + 1, &line, sizeof line);
        int32_t pos = (int32_t)r;
        if (rc == 0 && every_token(j)) rc = emit_bytes(j, base + 2, &pos, sizeof pos);
    }
    return rc;
}

/* Every-token rows: the token of each row, after emit_index. */
static int emit_tokens(job *j, const int32_t *tokens, int64_t n_rows) {
    return emit_bytes(j, j->n_layers + 2 * j->n_lens + 3, tokens, sizeof(int32_t) * (size_t)n_rows);
}

/* ------------------------------------------------------------------- runs ---- */

/* Fails naming the text's line and the first site (in graph order) whose rows hold a NaN or
 * an infinity: numbers that would otherwise go into the file silently. */
static int check_finite(const job *j, int64_t t, float *const *rows, const int *n_rows) {
    for (int k = 0; k < j->n_layers; k++) {
        size_t n = (size_t)n_rows[k] * (size_t)j->width[k];
        for (size_t i = 0; i < n; i++) {
            if (isfinite(rows[k][i])) continue;
            char hn[96];
            return lw_fail("%s:%lld: the activations at %s are not finite (%s), the first of the extracted sites to "
                           "be; the model's weights or this text overflow float32",
                           j->input, (long long)j->corpus.line_no[t], site_hook_name(j, k, hn, sizeof hn),
                           isnan(rows[k][i]) ? "NaN" : "Inf");
        }
    }
    return 0;
}

static int check_signal(void) {
    int sig = lw_cleanup_caught();
    return sig ? lw_fail("extract: interrupted by signal %d; nothing of the unfinished shard was kept", sig) : 0;
}

/* The logit lens's top K ids and log-probs of n rows of site k, to their temporaries. */
static int emit_lens(job *j, int k, const float *rows, int n) {
    if (j->lens_of[k] < 0 || n == 0) return 0;
    const size_t K = (size_t)j->p->logit_lens_k;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n * K);
    float *lp = malloc(sizeof(float) * (size_t)n * K);
    int rc = ids && lp ? lw_logit_lens_topk(j->m, rows, n, (int)K, ids, lp) : lw_fail("out of memory");
    const int f = j->n_layers + 2 * j->lens_of[k];
    if (rc == 0) rc = emit_bytes(j, f, ids, sizeof(int32_t) * K * (size_t)n);
    if (rc == 0) rc = emit_bytes(j, f + 1, lp, sizeof(float) * K * (size_t)n);
    free(ids);
    free(lp);
    return rc;
}

static void report_progress(const job *j, int64_t done, int shard, int n_shards) {
    emit(j, (lw_extract_event){.kind = LW_EXTRACT_EV_PROGRESS, .shard = shard, .n_shards = n_shards, .done = done,
                               .total = j->corpus.n});
}

/* Pooled rows (mean, last, the model's pooling): texts in chunks through the library's pooled
 * extraction, rows to the temporaries in text order. */
static int run_pooled(job *j, int64_t t0, int64_t t1, int64_t *done, int shard, int n_shards) {
    const int chunk = j->p->batch > 64 ? j->p->batch : 64;
    float **buf = calloc((size_t)j->n_layers, sizeof *buf);
    const char **texts = calloc((size_t)chunk, sizeof *texts);
    int64_t *which = calloc((size_t)chunk, sizeof *which);
    int *one = calloc((size_t)j->n_layers, sizeof *one);
    int rc = buf && texts && which && one ? 0 : lw_fail("out of memory");
    for (int k = 0; rc == 0 && k < j->n_layers; k++) {
        one[k] = 1;
        if (!(buf[k] = malloc(sizeof(float) * (size_t)chunk * (size_t)j->width[k]))) rc = lw_fail("out of memory");
    }
    const lw_extract_params *p = j->p;
    for (int64_t t = t0; t < t1 && rc == 0;) {
        int n = 0;
        for (; t < t1 && n < chunk; t++, (*done)++)
            if (j->n_tok[t] > 0) which[n] = t, texts[n++] = j->corpus.texts[t]; /* 0 tokens: skipped */
        if (n > 0 && p->pool == LW_EXTRACT_POOL_MODEL) rc = lw_embed_pooled(j->s, texts, n, p->truncate, buf[0], NULL);
        else if (n > 0)
            rc = lw_extract_pooled_sites(j->s, texts, n, p->add_bos, p->truncate, j->sites, j->n_layers,
                                         p->pool == LW_EXTRACT_POOL_LAST ? LW_POOL_LAST : LW_POOL_MEAN, buf, NULL);
        for (int q = 0; rc == 0 && q < n; q++) {
            float *rows[j->n_layers];
            for (int k = 0; k < j->n_layers; k++) rows[k] = buf[k] + (size_t)q * j->width[k];
            rc = check_finite(j, which[q], rows, one);
            if (rc == 0) rc = emit_index(j, which[q], 1);
        }
        for (int k = 0; rc == 0 && k < j->n_layers; k++) {
            rc = emit_bytes(j, k, buf[k], sizeof(float) * (size_t)j->width[k] * (size_t)n);
            if (rc == 0) rc = emit_lens(j, k, buf[k], n);
        }
        if (rc == 0) rc = check_signal();
        report_progress(j, *done, shard, n_shards);
    }
    for (int k = 0; buf && k < j->n_layers; k++) free(buf[k]);
    free(buf);
    free(texts);
    free(which);
    free(one);
    return rc;
}

/* Every token's row, from capture hooks, one text per run so each text's rows arrive
 * contiguous and in position order. */
static int run_tokens(job *j, int64_t t0, int64_t t1, int64_t *done, int shard, int n_shards) {
    int rc = 0;
    for (int k = 0; k < j->n_layers && rc == 0; k++) {
        lw_hook h = lw_hook_default();
        h.site = j->sites[k].site;
        h.layer = j->layers[k] < 0 ? 0 : j->layers[k];
        if (lw_session_add_hook(j->s, &h) != k) rc = -1;
    }
    const size_t n_sites = j->n_layers > 0 ? (size_t)j->n_layers : 1;
    float **rows = calloc(n_sites, sizeof *rows);
    int *n_rows = calloc(n_sites, sizeof *n_rows);
    if (rc == 0 && (!rows || !n_rows)) rc = lw_fail("out of memory");
    for (int64_t t = t0; t < t1 && rc == 0; t++, (*done)++) {
        if (j->n_tok[t] == 0) continue;
        int32_t *tok;
        if (lw_tokenize_alloc(j->m, j->corpus.texts[t], j->p->add_bos, &tok) < 0) {
            rc = lw_fail_prefix("%s:%lld: ", j->input, (long long)j->corpus.line_no[t]);
            break;
        }
        lw_span span = {.tokens = tok, .n = j->n_tok[t]};
        lw_seq_input in = {.seq = 0, .spans = &span, .n_spans = 1, .logits = LW_LOGITS_NONE};
        rc = lw_session_run(j->s, &in, 1);
        for (int k = 0; rc == 0 && k < j->n_layers; k++)
            n_rows[k] = lw_session_capture(j->s, k, (const float **)&rows[k], NULL, NULL);
        if (rc == 0) rc = check_finite(j, t, rows, n_rows);
        for (int k = 0; rc == 0 && k < j->n_layers; k++) {
            rc = emit_bytes(j, k, rows[k], sizeof(float) * (size_t)j->width[k] * (size_t)n_rows[k]);
            if (rc == 0) rc = emit_lens(j, k, rows[k], n_rows[k]);
        }
        if (rc == 0) rc = emit_index(j, t, j->n_tok[t]);
        if (rc == 0) rc = emit_tokens(j, tok, j->n_tok[t]);
        lw_session_clear_captures(j->s);
        free(tok);
        if (rc == 0) rc = check_signal();
        report_progress(j, *done + 1, shard, n_shards);
    }
    free(rows);
    free(n_rows);
    lw_session_clear_hooks(j->s);
    return rc;
}

/* Streams a temporary into the writer. */
static int copy_into(lw_st_writer *w, FILE *fp, const char *tmp) {
    char buf[1 << 16];
    if (fflush(fp) != 0 || fseeko(fp, 0, SEEK_SET) != 0) return lw_fail("%s: %s", tmp, strerror(errno));
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, fp)) > 0)
        if (lw_st_writer_write(w, buf, got) != 0) return -1;
    return ferror(fp) ? lw_fail("%s: read error", tmp) : 0;
}

/* The shard's file from its temporaries, with the settings and every tensor's sha256. */
static int write_shard(job *j, const char *path, const char *settings, int64_t rows) {
    json_t *sums = json_object();
    for (int f = 0; f < j->n_files; f++) {
        if (lw_sha256_end(j->hash[f], j->sha[f]) != 0) {
            j->hash[f] = NULL;
            json_decref(sums);
            return -1;
        }
        j->hash[f] = NULL;
        char name[128];
        lw_dtype dt;
        int64_t cols;
        file_tensor(j, f, name, sizeof name, &dt, &cols);
        json_object_set_new(sums, name, json_string(j->sha[f]));
    }
    char *sums_text = json_dumps(sums, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(sums);
    lw_st_writer *w = sums_text ? lw_st_writer_new(path) : NULL;
    if (!w) {
        free(sums_text);
        return sums_text ? -1 : lw_fail("out of memory");
    }
    int slot = lw_cleanup_add(lw_st_writer_temp_path(w));
    int rc = slot < 0 ? -1 : 0;
    if (rc == 0) rc = lw_st_writer_set_meta(w, "latentwire", settings);
    if (rc == 0) rc = lw_st_writer_set_meta(w, "format", "latentwire.activations/1");
    if (rc == 0) rc = lw_st_writer_set_meta(w, "pool", POOL_NAMES[j->p->pool]);
    if (rc == 0) rc = lw_st_writer_set_meta(w, "sha256", sums_text);
    for (int f = 0; rc == 0 && f < j->n_files; f++) {
        char name[128];
        lw_dtype dt;
        int64_t shape[2] = {rows, 0};
        file_tensor(j, f, name, sizeof name, &dt, &shape[1]);
        rc = lw_st_writer_add(w, name, dt, shape[1] ? 2 : 1, shape);
    }
    for (int f = 0; rc == 0 && f < j->n_files; f++) rc = copy_into(w, j->fp[f], j->tmp[f]);
    if (rc == 0) rc = check_signal();
    if (rc == 0) rc = lw_st_writer_finish(w);
    lw_cleanup_forget(slot);
    lw_st_writer_free(w);
    free(sums_text);
    return rc;
}

/* Texts per shard: params->shard_texts, or shards of about 1 GiB. */
static int64_t texts_per_shard(const job *j, int64_t total_rows) {
    if (j->p->shard_texts > 0) return j->p->shard_texts;
    double row_bytes = 8.0 * j->p->logit_lens_k * j->n_lens + 16.0;
    for (int k = 0; k < j->n_layers; k++) row_bytes += 4.0 * j->width[k];
    double per_text = (double)total_rows / (double)j->corpus.n * row_bytes;
    int64_t n = (int64_t)(1073741824.0 / per_text);
    return n < 1 ? 1 : n;
}

static int run_shards(job *j, lw_extract_result *res) {
    int64_t total_rows = 0;
    for (int64_t t = 0; t < j->corpus.n; t++) total_rows += text_rows(j, t);
    if (total_rows == 0)
        return lw_fail("%s: every one of its %lld texts was skipped as untokenizable; nothing to write", j->input,
                       (long long)j->corpus.n);
    const int64_t per_shard = texts_per_shard(j, total_rows);
    const int64_t n_shards64 = (j->corpus.n + per_shard - 1) / per_shard;
    if (n_shards64 > 99999) return lw_fail("extract: %lld shards; at most 99999 (give more texts per shard)",
                                           (long long)n_shards64);
    const int n_shards = (int)n_shards64;
    int64_t done = 0;
    int rc = 0;
    for (int sh = 0; rc == 0 && sh < n_shards; sh++) {
        int64_t t0 = sh * per_shard, t1 = t0 + per_shard < j->corpus.n ? t0 + per_shard : j->corpus.n, rows = 0;
        for (int64_t t = t0; t < t1; t++) rows += text_rows(j, t);
        char path[4096];
        lw_extract_shard_path(j->out, sh, n_shards, path, sizeof path);
        char *settings = settings_json(j, sh, n_shards, t0, t1);
        if (!settings) return -1;
        const char *why = NULL;
        char why_buf[512];
        if (j->p->resume && shard_verified(path, settings, &why, why_buf, sizeof why_buf)) {
            emit(j, (lw_extract_event){.kind = LW_EXTRACT_EV_KEPT, .path = path, .shard = sh, .n_shards = n_shards,
                                       .first_text = t0, .last_text = t1 - 1});
            done += t1 - t0;
            res->n_kept++;
            res->n_rows += rows;
            free(settings);
            continue;
        }
        if (why)
            emit(j, (lw_extract_event){.kind = LW_EXTRACT_EV_REDO, .path = path, .shard = sh, .n_shards = n_shards,
                                       .first_text = t0, .last_text = t1 - 1, .reason = why});
        lw_clear_error();
        rc = open_temps(j, path);
        if (rc == 0)
            rc = every_token(j) ? run_tokens(j, t0, t1, &done, sh, n_shards) : run_pooled(j, t0, t1, &done, sh, n_shards);
        if (rc == 0) rc = write_shard(j, path, settings, rows);
        close_temps(j);
        free(settings);
        if (rc != 0) break;
        res->n_rows += rows;
        emit(j, (lw_extract_event){.kind = LW_EXTRACT_EV_WROTE, .path = path, .shard = sh, .n_shards = n_shards,
                                   .first_text = t0, .last_text = t1 - 1});
    }
    if (rc == 0) rc = sweep_output_dir(j, false, n_shards);
    res->n_shards = n_shards;
    return rc;
}

static int check_args(const lw_model *m, const char *input, const char *out, const lw_extract_params *p) {
    if (!m || !input || !out || !p) return lw_fail("extract: model, input, output and params are required");
    size_t len = strlen(out);
    if (len <= SUFFIX_LEN || strcmp(out + len - SUFFIX_LEN, SUFFIX) != 0 || out[len - SUFFIX_LEN - 1] == '/')
        return lw_fail("extract: the output \"%s\" must end in " SUFFIX, out);
    /* a shard's own name as OUT: this run's shards or files would be taken for that set's, and
     * the sweep of superseded files removed the other set's shard */
    int a, b, used = 0;
    const char *base = strrchr(out, '/') ? strrchr(out, '/') + 1 : out;
    size_t stem = strlen(base) - SUFFIX_LEN;
    if (stem >= 15 && sscanf(base + stem - 15, "-%5d-of-%5d%n", &a, &b, &used) == 2 && used == 15)
        return lw_fail("extract: the output \"%s\" is named like a shard of another set (-NNNNN-of-NNNNN): name the "
                       "set (OUT.safetensors; its shards are OUT-00001-of-0000N.safetensors)", out);
    if ((int)p->pool < 0 || p->pool > LW_EXTRACT_POOL_MODEL) return lw_fail("extract: unknown pooling %d", (int)p->pool);
    if (p->batch < 1 || p->batch > 256) return lw_fail("extract: batch %d must be in 1..256", p->batch);
    if (p->shard_texts < 0) return lw_fail("extract: texts per shard %lld must be >= 0", (long long)p->shard_texts);
    if (!p->field) return lw_fail("extract: no JSONL field");
    return 0;
}

static void job_free(job *j) {
    if (j->fp) close_temps(j);
    free(j->fp);
    free(j->tmp);
    free(j->slot);
    free(j->hash);
    free(j->sha);
    free(j->layers);
    free(j->sites);
    free(j->width);
    free(j->lens_of);
    free(j->n_tok);
    lw_session_free(j->s);
    lw_corpus_free(&j->corpus);
}

/* Everything after the corpus is in j->corpus and its hash in j->input_sha. */
static int extract_corpus(job *j, lw_extract_result *res) {
    const lw_extract_params *params = j->p;
    lw_model_get_info(j->m, &j->info);
    int rc = 0;
    if ((j->n_layers = parse_sites(j)) <= 0) rc = -1;
    if (rc == 0) rc = plan_outputs(j);
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = params->n_threads;
    sp.precision = params->precision;
    sp.embeddings = params->pool == LW_EXTRACT_POOL_MODEL;
    sp.n_seq_max = params->batch;
    sp.n_ctx = j->info.n_ctx_train > 0 && j->info.n_ctx_train < 4096 ? j->info.n_ctx_train : 4096;
    j->n_ctx = sp.n_ctx;
    if (rc == 0) rc = tokenize_corpus(j);
    if (rc == 0) {
        j->fp = calloc((size_t)j->n_files, sizeof *j->fp);
        j->tmp = calloc((size_t)j->n_files, sizeof *j->tmp);
        j->slot = malloc(sizeof *j->slot * (size_t)j->n_files);
        j->hash = calloc((size_t)j->n_files, sizeof *j->hash);
        j->sha = calloc((size_t)j->n_files, sizeof *j->sha);
        if (!j->fp || !j->tmp || !j->slot || !j->hash || !j->sha) rc = lw_fail("out of memory");
        for (int f = 0; rc == 0 && f < j->n_files; f++) j->slot[f] = -1;
    }
    /* temporaries an interrupted run to this output left behind */
    if (rc == 0) rc = sweep_output_dir(j, true, 0);
    if (rc == 0 && !(j->s = lw_session_new(j->m, sp))) rc = -1;
    if (rc == 0) rc = run_shards(j, res);
    res->n_texts = j->corpus.n;
    res->n_skipped = j->n_skipped;
    res->n_sites = j->n_layers;
    res->n_lens = j->n_lens;
    return rc;
}

int lw_extract_to_files(lw_model *model, const char *input, const char *out, const lw_extract_params *params,
                        lw_extract_result *result) {
    if (check_args(model, input, out, params) != 0) return -1;
    job j;
    memset(&j, 0, sizeof j);
    j.p = params;
    j.input = input;
    j.out = out;
    j.m = model;
    lw_extract_result res = {0};
    if (params->handle_signals) lw_cleanup_begin();
    int rc = 0;
    if (lw_corpus_load(&j.corpus, input, params->field) != 0) rc = -1;
    else if (j.corpus.n == 0) rc = lw_fail("%s: no texts (blank lines are skipped)", input);
    else if (lw_sha256_file(input, j.input_sha) != 0) rc = -1;
    if (rc == 0) rc = extract_corpus(&j, &res);
    job_free(&j);
    if (params->handle_signals) lw_cleanup_end();
    if (rc == 0 && result) *result = res;
    return rc == 0 ? 0 : -1;
}

/* The texts as a corpus (copies; line_no = index + 1) and their sha256 over (8-byte
 * little-endian length, bytes) per text, so no two lists share a hash by concatenation. */
static int corpus_from_texts(job *j, const char *const *texts, int64_t n) {
    j->corpus.texts = calloc((size_t)(n ? n : 1), sizeof *j->corpus.texts);
    j->corpus.line_no = malloc(sizeof *j->corpus.line_no * (size_t)(n ? n : 1));
    lw_sha256 *h = lw_sha256_begin();
    int rc = j->corpus.texts && j->corpus.line_no && h ? 0 : lw_fail("out of memory");
    for (int64_t i = 0; rc == 0 && i < n; i++, j->corpus.n++) {
        if (!texts[i]) {
            rc = lw_fail("texts:%lld: NULL text", (long long)i + 1);
            break;
        }
        uint64_t len = strlen(texts[i]);
        unsigned char le[8];
        for (int b = 0; b < 8; b++) le[b] = (unsigned char)(len >> (8 * b));
        j->corpus.line_no[i] = i + 1;
        if (!(j->corpus.texts[i] = strdup(texts[i]))) rc = lw_fail("out of memory");
        if (rc == 0) rc = lw_sha256_update(h, le, sizeof le);
        if (rc == 0) rc = lw_sha256_update(h, texts[i], len);
    }
    if (rc == 0 && n == 0) rc = lw_fail("extract: no texts");
    if (rc == 0) {
        rc = lw_sha256_end(h, j->input_sha);
        h = NULL;
    }
    lw_sha256_free(h);
    return rc;
}

int lw_extract_texts_to_files(lw_model *model, const char *const *texts, int64_t n_texts, const char *out,
                              const lw_extract_params *params, lw_extract_result *result) {
    if (check_args(model, "texts", out, params) != 0) return -1;
    if (n_texts < 0 || (n_texts > 0 && !texts)) return lw_fail("extract: %lld texts at %p", (long long)n_texts, (void *)texts);
    job j;
    memset(&j, 0, sizeof j);
    j.p = params;
    j.input = "texts";
    j.out = out;
    j.m = model;
    lw_extract_result res = {0};
    if (params->handle_signals) lw_cleanup_begin();
    int rc = corpus_from_texts(&j, texts, n_texts);
    if (rc == 0) rc = extract_corpus(&j, &res);
    job_free(&j);
    if (params->handle_signals) lw_cleanup_end();
    if (rc == 0 && result) *result = res;
    return rc == 0 ? 0 : -1;
}
