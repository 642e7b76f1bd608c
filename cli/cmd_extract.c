/* latentwire extract: activations of a text corpus at hook sites (TransformerLens names) into
 * safetensors, optionally with the logit lens of the resid_post sites.
 *
 * Memory stays flat as the corpus grows: texts run in small batches, each batch's rows go
 * straight to one temporary file per layer, and a shard's safetensors file is assembled
 * from those files when the shard is complete. Shards are whole files of their own, so an
 * interrupted run resumed with --resume keeps every finished shard. */
#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "common/error.h"
#include "common/fileio.h"
#include "latentwire/runtime.h"
#include "latentwire/safetensors.h"

enum pool { POOL_MEAN, POOL_LAST, POOL_NONE, POOL_MODEL };
static const char *POOL_NAMES[] = {"mean", "last", "none", "model"};
enum { LAYER_POOLED = -2 }; /* --pool model: the model's own sentence embedding, tensor `pooled` */

static const char *USAGE =
    "usage: latentwire extract --model M.gguf --layers L --input FILE --out OUT.safetensors [options]\n"
    "  --layers L        comma list of sites: block indices (their resid_post), `all`, `last`, `embed` (negative\n"
    "                    counts from the end), or TransformerLens names blocks.L.hook_{resid_post,attn_out,\n"
    "                    mlp_out,resid_mid,z} and hook_embed (--sites is the same option). Tensors: `embed`,\n"
    "                    `layer.L` (resid_post), the TransformerLens name for the other sites\n"
    "  --pool P          mean (over the text's tokens, BOS excluded) | last | none (every token) (default mean)\n"
    "                    | model: the model's own pooled sentence embedding (e.g. a sentence-transformers BERT:\n"
    "                    mean over every token, [CLS]/[SEP] included, not normalized) as tensor `pooled`;\n"
    "                    no --layers; --truncate keeps the closing [SEP]\n"
    "  --input FILE      .txt (one text per line) or .jsonl (field --field, default \"text\")\n"
    "  --batch N         sequences per forward batch (default 2; more sequences make attention over the shared cache cost more)\n"
    "  --shard-texts N   texts per output shard (default: shards of about 1 GiB)\n"
    "  --resume          keep finished shards of an earlier run with the same settings\n"
    "  --truncate        cut texts longer than the context instead of failing\n"
    "  --skip-untokenizable  skip texts the vocabulary cannot encode (they get no rows) instead of failing\n"
    "  --no-bos          do not prepend BOS\n"
    "  --precision exact|fast   (default exact)\n"
    "  --threads N\n"
    "  --logit-lens K    also the logit lens of every resid_post site's rows: its top K token ids (I32 [rows, K],\n"
    "                    tensor <site tensor>.lens_ids) and their log-probs (F32, <site tensor>.lens_logprobs)\n";

typedef struct {
    const char *model, *input, *out, *field, *layers;
    enum pool pool;
    int batch;
    long shard_texts;
    bool resume, truncate, bos, skip_bad;
    int lens_k;         /* --logit-lens K; 0: off */
    lw_session_params sp;
} opts;

typedef struct {
    lw_model *m;
    lw_model_info info;
    lw_session *s;
    lw_corpus corpus;
    int32_t *n_tok;     /* tokens per text (after truncation) */
    int *layers;        /* -1 = embed */
    int n_layers;
    lw_site_ref *sites; /* n_layers sites (NULL for --pool model); layers[k] is sites[k].layer */
    int *width;         /* n_layers: floats per row */
    int *lens_of;       /* n_layers: index of the site's logit-lens outputs, or -1 */
    int n_lens;         /* temp files: n_layers activation files, then ids + log-probs per lens */
    char input_sha[65];
    int s_ctx;          /* the session's context: a batch's tokens must fit it together */
    int64_t n_skipped;  /* texts the vocabulary cannot encode (--skip-untokenizable) */
} job;

static int parse_opts(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->field = "text";
    o->batch = 2;
    o->bos = true;
    o->sp = lw_session_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        int k;
        if (cli_wants_help(argc, argv)) {
            fputs(USAGE, stdout);
            return 1;
        } else if (!strcmp(a, "--resume")) o->resume = true;
        else if (!strcmp(a, "--truncate")) o->truncate = true;
        else if (!strcmp(a, "--skip-untokenizable")) o->skip_bad = true;
        else if (!strcmp(a, "--no-bos")) o->bos = false;
        else if (!v) return cli_option_error("extract", USAGE, a, NULL); /* 2 = error */
        else if (!strcmp(a, "--model")) o->model = argv[++i];
        else if (!strcmp(a, "--input")) o->input = argv[++i];
        else if (!strcmp(a, "--out")) o->out = argv[++i];
        else if (!strcmp(a, "--field")) o->field = argv[++i];
        else if (!strcmp(a, "--layers") || !strcmp(a, "--sites")) o->layers = argv[++i];
        else if (!strcmp(a, "--pool") && cli_parse_choice(v, "mean|last|none|model", &k)) o->pool = (enum pool)k, i++;
        else if (!strcmp(a, "--batch") && cli_parse_int(v, 1, 256, &n)) o->batch = (int)n, i++;
        else if (!strcmp(a, "--logit-lens") && cli_parse_int(v, 1, 1 << 20, &n)) o->lens_k = (int)n, i++;
        else if (!strcmp(a, "--shard-texts") && cli_parse_int(v, 1, 1L << 40, &n)) o->shard_texts = n, i++;
        else if (!strcmp(a, "--threads") && cli_parse_int(v, 1, CLI_MAX_THREADS, &n)) o->sp.n_threads = (int)n, i++;
        else if (!strcmp(a, "--precision") && cli_parse_choice(v, "exact|fast", &k))
            o->sp.precision = k ? LW_PRECISION_FAST : LW_PRECISION_EXACT, i++;
        else return cli_option_error("extract", USAGE, a, v); /* 2 = error */
    }
    if (!o->model) return cli_fail("extract", "--model is required") + 1; /* 2 = error */
    if (!o->input) return cli_fail("extract", "--input is required") + 1; /* 2 = error */
    if (!o->out) return cli_fail("extract", "--out is required") + 1; /* 2 = error */
    if (o->pool == POOL_MODEL && o->layers)
        return cli_fail("extract", "--pool model takes no --layers (it writes the model's pooled embedding)") + 1;
    if (o->pool == POOL_MODEL && !o->bos)
        return cli_fail("extract", "--pool model always adds the tokenizer's special tokens: drop --no-bos") + 1;
    if (!o->layers && o->pool != POOL_MODEL) return cli_fail("extract", "--layers is required") + 1; /* 2 = error */
    size_t len = strlen(o->out);
    if (len < 13 || strcmp(o->out + len - 12, ".safetensors"))
        return cli_fail("extract", "--out \"%s\" must end in .safetensors", o->out) + 1; /* 2 = error */
    return 0;
}

/* "acts.safetensors" -> "acts-00002-of-00005.safetensors" when there are several shards. */
static void shard_path(const char *out, int shard, int n_shards, char *buf, size_t n) {
    if (n_shards == 1) {
        snprintf(buf, n, "%s", out);
        return;
    }
    int stem = (int)strlen(out) - 12;
    snprintf(buf, n, "%.*s-%05d-of-%05d.safetensors", stem, out, shard + 1, n_shards);
}

static const char *tensor_name(int layer, char *buf, size_t n) {
    if (layer == LAYER_POOLED) snprintf(buf, n, "pooled");
    else if (layer < 0) snprintf(buf, n, "embed");
    else snprintf(buf, n, "layer.%d", layer);
    return buf;
}

/* Site k's tensor: `embed` and `layer.L` (resid_post) as ever, the other sites by their
 * TransformerLens name (blocks.L.hook_z...). */
static const char *site_tensor_name(const job *j, int k, char *buf, size_t n) {
    if (!j->sites || j->sites[k].site == LW_SITE_EMBED || j->sites[k].site == LW_SITE_RESID_POST)
        return tensor_name(j->layers[k], buf, n);
    return lw_site_name(j->sites[k], buf, n);
}

/* The TransformerLens name of what tensor k holds (for --pool model, its tensor name). */
static const char *site_hook_name(const job *j, int k, char *buf, size_t n) {
    return j->sites ? lw_site_name(j->sites[k], buf, n) : site_tensor_name(j, k, buf, n);
}

/* The sites of --layers / --sites: j->sites, j->layers; the count or -1. */
static int parse_sites(job *j, const char *spec) {
    int n = lw_site_parse_list(spec, j->info.n_layer, &j->sites);
    if (n <= 0) return -1;
    j->layers = malloc(sizeof(int) * (size_t)n);
    if (!j->layers) return lw_fail("out of memory");
    for (int k = 0; k < n; k++) j->layers[k] = j->sites[k].layer;
    return n;
}

/* Widths and logit-lens outputs of the sites. 0, or 1 after an error line. */
static int plan_outputs(const opts *o, job *j) {
    j->width = malloc(sizeof(int) * (size_t)j->n_layers);
    j->lens_of = malloc(sizeof(int) * (size_t)j->n_layers);
    if (!j->width || !j->lens_of) return cli_fail("extract", "out of memory");
    for (int k = 0; k < j->n_layers; k++) {
        j->width[k] = j->sites ? lw_site_width(j->m, j->sites[k].site) : j->info.n_embd;
        if (j->width[k] <= 0) return cli_fail("extract", "--layers: %s", lw_last_error());
        bool lens = o->lens_k > 0 && j->sites && j->sites[k].site == LW_SITE_RESID_POST;
        j->lens_of[k] = lens ? j->n_lens++ : -1;
    }
    if (o->lens_k > 0 && j->n_lens == 0)
        return cli_fail("extract", "--logit-lens needs a resid_post site (a block index or blocks.L.hook_resid_post)");
    if (o->lens_k > j->info.n_vocab)
        return cli_fail("extract", "--logit-lens %d: the vocabulary has %d tokens", o->lens_k, j->info.n_vocab);
    return 0;
}

/* --logit-lens: top-K ids and log-probs of n rows of site k, appended to its two temp files. */
static int write_lens(const opts *o, job *j, int k, const float *rows, int n, FILE **fp) {
    if (j->lens_of[k] < 0 || n == 0) return 0;
    const size_t K = (size_t)o->lens_k;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n * K);
    float *lp = malloc(sizeof(float) * (size_t)n * K);
    int rc = 0;
    if (!ids || !lp || lw_logit_lens_topk(j->m, rows, n, o->lens_k, ids, lp) != 0) rc = cli_fail_lib("extract");
    FILE *fi = fp[j->n_layers + 2 * j->lens_of[k]], *fl = fp[j->n_layers + 2 * j->lens_of[k] + 1];
    if (rc == 0 && (fwrite(ids, sizeof(int32_t) * K, (size_t)n, fi) != (size_t)n ||
                    fwrite(lp, sizeof(float) * K, (size_t)n, fl) != (size_t)n))
        rc = cli_fail("extract", "--out %s: cannot write temporary data: %s", o->out, strerror(errno));
    free(ids);
    free(lp);
    return rc;
}

/* Rows a text contributes to the output (none when it was skipped: n_tok 0). */
static int64_t text_rows(const opts *o, const job *j, int64_t t) {
    if (j->n_tok[t] == 0) return 0;
    return o->pool == POOL_NONE ? j->n_tok[t] : 1;
}

/* Settings that must match for a finished shard to be reused. */
static char *settings_json(const opts *o, job *j, int shard, int n_shards, int64_t t0, int64_t t1) {
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
        snprintf(lh, sizeof lh, "%s logit lens top-%d ids", hn, o->lens_k);
        json_object_set_new(tensors, lt, json_string(lh));
        snprintf(lt, sizeof lt, "%s.lens_logprobs", tn);
        snprintf(lh, sizeof lh, "%s logit lens top-%d log-probs", hn, o->lens_k);
        json_object_set_new(tensors, lt, json_string(lh));
    }
    json_object_set_new(root, "sites", sites);
    json_object_set_new(root, "tensors", tensors);
    json_object_set_new(root, "logit_lens", json_integer(o->lens_k));
    json_object_set_new(root, "pool", json_string(POOL_NAMES[o->pool]));
    json_object_set_new(root, "bos", json_boolean(o->bos));
    json_object_set_new(root, "truncate", json_boolean(o->truncate));
    json_object_set_new(root, "skip_untokenizable", json_boolean(o->skip_bad));
    json_object_set_new(root, "precision", json_string(o->sp.precision == LW_PRECISION_EXACT ? "exact" : "fast"));
    json_object_set_new(root, "input", json_string(o->input));
    json_object_set_new(root, "input_field", json_string(o->field));
    json_object_set_new(root, "input_sha256", json_string(j->input_sha));
    json_object_set_new(root, "shard", json_integer(shard));
    json_object_set_new(root, "n_shards", json_integer(n_shards));
    json_object_set_new(root, "first_text", json_integer(t0));
    json_object_set_new(root, "n_texts", json_integer(t1 - t0));
    char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    return s;
}

static bool shard_done(const char *path, const char *settings) {
    if (access(path, R_OK) != 0) return false;
    lw_st_file *f = lw_st_open(path);
    if (!f) return false;
    const char *have = lw_st_meta(f, "latentwire");
    bool same = have && !strcmp(have, settings);
    lw_st_close(f);
    return same;
}

/* Progress on a terminal, at most once a second. */
static void progress(int64_t done, int64_t total, int shard, int n_shards) {
    static time_t last;
    if (!cli_is_tty() || (time(NULL) == last && done != total)) return;
    last = time(NULL);
    fprintf(stderr, "\rextract: shard %d/%d, %lld/%lld texts (%.0f%%)", shard + 1, n_shards, (long long)done,
            (long long)total, 100.0 * (double)done / (double)total);
    if (done == total) fputc('\n', stderr);
}

/* --pool mean|last: the library pools; rows go to the layer files in text order. */
static int run_pooled(const opts *o, job *j, int64_t t0, int64_t t1, FILE **layer_fp, int64_t *done, int64_t total,
                      int shard, int n_shards) {
    enum { CHUNK = 256 };
    float **buf = calloc((size_t)j->n_layers, sizeof *buf);
    const char **texts = calloc(CHUNK, sizeof *texts);
    int rc = 0;
    for (int k = 0; k < j->n_layers; k++) buf[k] = malloc(sizeof(float) * CHUNK * (size_t)j->width[k]);
    for (int64_t t = t0; t < t1 && rc == 0;) {
        int n = 0;
        for (; t < t1 && n < CHUNK; t++, (*done)++)
            if (j->n_tok[t] > 0) texts[n++] = j->corpus.texts[t]; /* n_tok 0: skipped text */
        int erc = 0;
        if (n > 0 && o->pool == POOL_MODEL) erc = lw_embed_pooled(j->s, texts, n, o->truncate, buf[0], NULL);
        else if (n > 0)
            erc = lw_extract_pooled_sites(j->s, texts, n, o->bos, o->truncate, j->sites, j->n_layers,
                                          o->pool == POOL_LAST ? LW_POOL_LAST : LW_POOL_MEAN, buf, NULL);
        if (erc != 0) rc = cli_fail_lib("extract");
        for (int k = 0; rc == 0 && k < j->n_layers; k++) {
            if (fwrite(buf[k], sizeof(float) * (size_t)j->width[k], (size_t)n, layer_fp[k]) != (size_t)n)
                rc = cli_fail("extract", "--out %s: cannot write temporary data: %s", o->out, strerror(errno));
            if (rc == 0) rc = write_lens(o, j, k, buf[k], n, layer_fp);
        }
        progress(*done, total, shard, n_shards);
    }
    for (int k = 0; k < j->n_layers; k++) free(buf[k]);
    free(buf);
    free(texts);
    return rc;
}

/* --pool none: every token's row, from capture hooks, one text per run so each text's
 * rows arrive contiguous and in position order. */
static int run_tokens(const opts *o, job *j, int64_t t0, int64_t t1, FILE **layer_fp, int64_t *done, int64_t total,
                      int shard, int n_shards) {
    int rc = 0;
    for (int k = 0; k < j->n_layers && rc == 0; k++) {
        lw_hook h = lw_hook_default();
        h.site = j->sites[k].site;
        h.layer = j->layers[k] < 0 ? 0 : j->layers[k];
        if (lw_session_add_hook(j->s, &h) != k) rc = cli_fail_lib("extract");
    }
    for (int64_t t = t0; t < t1 && rc == 0; t++, (*done)++) {
        if (j->n_tok[t] == 0) continue;
        int32_t *tok;
        if (lw_tokenize_alloc(j->m, j->corpus.texts[t], o->bos, &tok) < 0) {
            rc = cli_fail("extract", "%s:%lld: %s", o->input, (long long)j->corpus.line_no[t], lw_last_error());
            break;
        }
        lw_span span = {.tokens = tok, .n = j->n_tok[t]};
        lw_seq_input in = {.seq = 0, .spans = &span, .n_spans = 1, .logits = LW_LOGITS_NONE};
        if (lw_session_run(j->s, &in, 1) != 0) rc = cli_fail_lib("extract");
        for (int k = 0; rc == 0 && k < j->n_layers; k++) {
            const float *rows;
            int n = lw_session_capture(j->s, k, &rows, NULL, NULL);
            if (fwrite(rows, sizeof(float) * (size_t)j->width[k], (size_t)n, layer_fp[k]) != (size_t)n)
                rc = cli_fail("extract", "--out %s: cannot write temporary data: %s", o->out, strerror(errno));
            if (rc == 0) rc = write_lens(o, j, k, rows, n, layer_fp);
        }
        lw_session_clear_captures(j->s);
        free(tok);
        progress(*done + 1, total, shard, n_shards);
    }
    lw_session_clear_hooks(j->s);
    return rc;
}

/* Streams a temp file into the writer. */
static int copy_into(lw_st_writer *w, FILE *fp) {
    char buf[1 << 16];
    rewind(fp);
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, fp)) > 0)
        if (lw_st_writer_write(w, buf, got) != 0) return -1;
    return ferror(fp) ? -1 : 0;
}

static int write_shard(const opts *o, job *j, const char *path, const char *settings, int64_t t0, int64_t t1,
                       FILE **layer_fp) {
    int64_t rows = 0;
    for (int64_t t = t0; t < t1; t++) rows += text_rows(o, j, t);
    lw_st_writer *w = lw_st_writer_new(path);
    if (!w) return cli_fail_lib("extract");
    int rc = lw_st_writer_set_meta(w, "latentwire", settings);
    rc |= lw_st_writer_set_meta(w, "format", "latentwire.activations/1");
    rc |= lw_st_writer_set_meta(w, "pool", POOL_NAMES[o->pool]);
    char name[128];
    for (int k = 0; k < j->n_layers; k++) {
        int64_t shape[2] = {rows, j->width[k]};
        rc |= lw_st_writer_add(w, site_tensor_name(j, k, name, sizeof name), LW_DT_F32, 2, shape);
    }
    for (int k = 0; k < j->n_layers; k++) { /* logit lens: ids, then log-probs, in temp-file order */
        if (j->lens_of[k] < 0) continue;
        char tn[96];
        int64_t shape[2] = {rows, o->lens_k};
        site_tensor_name(j, k, tn, sizeof tn);
        snprintf(name, sizeof name, "%s.lens_ids", tn);
        rc |= lw_st_writer_add(w, name, LW_DT_I32, 2, shape);
        snprintf(name, sizeof name, "%s.lens_logprobs", tn);
        rc |= lw_st_writer_add(w, name, LW_DT_F32, 2, shape);
    }
    rc |= lw_st_writer_add(w, "row_id", LW_DT_I64, 1, &rows);
    rc |= lw_st_writer_add(w, "line", LW_DT_I64, 1, &rows);
    if (o->pool == POOL_NONE) {
        rc |= lw_st_writer_add(w, "position", LW_DT_I32, 1, &rows);
        rc |= lw_st_writer_add(w, "token", LW_DT_I32, 1, &rows);
    }
    for (int k = 0; rc == 0 && k < j->n_layers + 2 * j->n_lens; k++) rc = copy_into(w, layer_fp[k]);
    /* row ids and source lines, then positions and tokens, each streamed text by text */
    for (int pass = 0; rc == 0 && pass < (o->pool == POOL_NONE ? 4 : 2); pass++) {
        for (int64_t t = t0; rc == 0 && t < t1; t++) {
            int64_t n = text_rows(o, j, t);
            if (n == 0) continue; /* skipped text */
            if (pass < 2) {
                int64_t v = pass == 0 ? t : j->corpus.line_no[t];
                for (int64_t r = 0; rc == 0 && r < n; r++) rc = lw_st_writer_write(w, &v, sizeof v);
            } else if (pass == 2) {
                for (int32_t r = 0; rc == 0 && r < (int32_t)n; r++) rc = lw_st_writer_write(w, &r, sizeof r);
            } else {
                int32_t *tk;
                int32_t got = lw_tokenize_alloc(j->m, j->corpus.texts[t], o->bos, &tk);
                rc = got < n ? -1 : lw_st_writer_write(w, tk, sizeof(int32_t) * (size_t)n);
                free(tk);
            }
        }
    }
    if (rc == 0) rc = lw_st_writer_finish(w);
    if (rc != 0) cli_fail_lib("extract");
    lw_st_writer_free(w);
    return rc ? 1 : 0;
}

static int tokenize_corpus(const opts *o, job *j, int n_ctx) {
    j->n_tok = malloc(sizeof(int32_t) * (size_t)(j->corpus.n ? j->corpus.n : 1));
    for (int64_t t = 0; t < j->corpus.n; t++) {
        int32_t n = lw_tokenize(j->m, j->corpus.texts[t], o->bos, NULL, 0);
        if (n == INT32_MIN && o->skip_bad) {
            j->n_tok[t] = 0;
            j->n_skipped++;
            continue;
        }
        if (n == INT32_MIN) return cli_fail("extract", "%s:%lld: %s (or use --skip-untokenizable)", o->input,
                                            (long long)j->corpus.line_no[t], lw_last_error());
        if (n < 0) n = -n;
        if (n == 0 || (o->pool == POOL_MODEL && lw_tokenize(j->m, j->corpus.texts[t], false, NULL, 0) == 0))
            return cli_fail("extract", "%s:%lld: text has no tokens", o->input, (long long)j->corpus.line_no[t]);
        if (n > n_ctx) {
            if (!o->truncate)
                return cli_fail("extract", "%s:%lld: text has %d tokens, more than the context (%d); use --truncate",
                                o->input, (long long)j->corpus.line_no[t], n, n_ctx);
            n = n_ctx;
        }
        j->n_tok[t] = n;
    }
    return 0;
}

int cmd_extract(int argc, char **argv) {
    opts o;
    int prc = parse_opts(argc, argv, &o); /* 1 = help shown, 2 = error */
    if (prc) return prc == 1 ? 0 : 2; /* a usage error */
    if (cli_check_output("extract", "--out", o.out, LW_OUT_SHARDS,
                         (const char *[]){"--input", o.input, "--model", o.model, NULL}))
        return 1;
    job j;
    memset(&j, 0, sizeof j);
    int rc = 1;
    FILE **layer_fp = NULL;
    char **tmp_paths = NULL;
    if (lw_corpus_load(&j.corpus, o.input, o.field) != 0) {
        cli_fail_lib("extract");
        goto done;
    }
    if (j.corpus.n == 0) {
        cli_fail("extract", "%s: no texts", o.input);
        goto done;
    }
    if (lw_sha256_file(o.input, j.input_sha) != 0) {
        cli_fail_lib("extract");
        goto done;
    }
    j.m = lw_model_load(o.model, cli_model_params());
    if (!j.m) {
        cli_fail_lib("extract");
        goto done;
    }
    lw_model_get_info(j.m, &j.info);
    if (o.pool == POOL_MODEL) {
        j.layers = malloc(sizeof(int));
        if (j.layers) j.layers[0] = LAYER_POOLED;
        j.n_layers = j.layers ? 1 : lw_fail("out of memory");
        o.sp.embeddings = true;
    } else {
        j.n_layers = parse_sites(&j, o.layers);
    }
    if (j.n_layers <= 0) {
        cli_fail("extract", "--layers: %s", lw_last_error());
        goto done;
    }
    if (plan_outputs(&o, &j) != 0) goto done;
    o.sp.n_seq_max = o.batch;
    o.sp.n_ctx = j.info.n_ctx_train > 0 && j.info.n_ctx_train < 4096 ? j.info.n_ctx_train : 4096;
    j.s_ctx = o.sp.n_ctx;
    if (tokenize_corpus(&o, &j, o.sp.n_ctx) != 0) goto done;
    j.s = lw_session_new(j.m, o.sp);
    if (!j.s) {
        cli_fail_lib("extract");
        goto done;
    }
    /* shards of about 1 GiB unless told otherwise */
    int64_t total_rows = 0;
    for (int64_t t = 0; t < j.corpus.n; t++) total_rows += text_rows(&o, &j, t);
    double row_bytes = 8.0 * o.lens_k * j.n_lens;
    for (int k = 0; k < j.n_layers; k++) row_bytes += 4.0 * j.width[k];
    double bytes_per_text = (double)total_rows / (double)j.corpus.n * row_bytes;
    int64_t per_shard = o.shard_texts ? o.shard_texts : (int64_t)(1073741824.0 / bytes_per_text);
    if (per_shard < 1) per_shard = 1;
    int n_shards = (int)((j.corpus.n + per_shard - 1) / per_shard);

    const int n_files = j.n_layers + 2 * j.n_lens; /* sites, then each lens's ids and log-probs */
    layer_fp = calloc((size_t)n_files, sizeof *layer_fp);
    tmp_paths = calloc((size_t)n_files, sizeof *tmp_paths);
    int64_t done_texts = 0;
    for (int sh = 0; sh < n_shards; sh++) {
        int64_t t0 = sh * per_shard, t1 = t0 + per_shard < j.corpus.n ? t0 + per_shard : j.corpus.n;
        char path[2048];
        shard_path(o.out, sh, n_shards, path, sizeof path);
        char *settings = settings_json(&o, &j, sh, n_shards, t0, t1);
        if (o.resume && shard_done(path, settings)) {
            fprintf(stderr, "extract: %s is complete, kept\n", path);
            done_texts += t1 - t0;
            free(settings);
            continue;
        }
        int src = 0;
        for (int k = 0; k < n_files && src == 0; k++) {
            size_t len = strlen(path) + 32;
            tmp_paths[k] = malloc(len);
            snprintf(tmp_paths[k], len, "%s.part%d.tmp", path, k);
            layer_fp[k] = fopen(tmp_paths[k], "w+b");
            if (!layer_fp[k])
                src = cli_fail("extract", "--out %s: cannot create the temporary file %s: %s", o.out, tmp_paths[k],
                               strerror(errno));
        }
        if (src == 0)
            src = (o.pool == POOL_NONE ? run_tokens : run_pooled)(&o, &j, t0, t1, layer_fp, &done_texts, j.corpus.n, sh,
                                                                   n_shards);
        if (src == 0) src = write_shard(&o, &j, path, settings, t0, t1, layer_fp);
        for (int k = 0; k < n_files; k++) {
            if (layer_fp[k]) fclose(layer_fp[k]);
            layer_fp[k] = NULL;
            if (tmp_paths[k]) unlink(tmp_paths[k]);
            free(tmp_paths[k]);
            tmp_paths[k] = NULL;
        }
        free(settings);
        if (src != 0) goto done;
        if (!cli_is_tty()) fprintf(stderr, "extract: wrote %s (texts %lld..%lld)\n", path, (long long)t0, (long long)t1 - 1);
    }
    if (j.n_skipped)
        fprintf(stderr, "extract: skipped %lld text(s) the vocabulary cannot encode\n", (long long)j.n_skipped);
    printf("extracted %lld texts x %d site(s) (pool %s%s) from %s into %s%s\n", (long long)(j.corpus.n - j.n_skipped),
           j.n_layers, POOL_NAMES[o.pool], j.n_lens ? ", with the logit lens" : "", o.model, o.out,
           n_shards > 1 ? " (sharded)" : "");
    rc = 0;
done:
    free(layer_fp);
    free(tmp_paths);
    free(j.layers);
    free(j.sites);
    free(j.width);
    free(j.lens_of);
    free(j.n_tok);
    lw_session_free(j.s);
    lw_model_free(j.m);
    lw_corpus_free(&j.corpus);
    return rc;
}
