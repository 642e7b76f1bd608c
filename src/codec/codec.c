/* The codec handle: names, parameters, dispatch to the kinds, the budget check on every
 * payload, and the file format (safetensors: side information as tensors, the parameters and
 * the fit record as JSON metadata). */
#include <stdlib.h>
#include <string.h>

#include "codec/act_common.h"
#include "codec/codec_internal.h"
#include "common/fileio.h"
#include "common/finite.h"

static const char *const NAMES[LW_CODEC_COUNT] = {
    "topk", "pcaq", "token-sparse", "sae", "pq", "zlib", "brotli", "brotli-dict",
    "zstd", "zstd-dict", "truncate", "lm-arith", "summary",
};

const char *lw_codec_name(lw_codec_kind k) { return (unsigned)k < LW_CODEC_COUNT ? NAMES[k] : "?"; }

int lw_codec_from_name(const char *name) {
    for (int i = 0; name && i < LW_CODEC_COUNT; i++)
        if (strcmp(name, NAMES[i]) == 0) return i;
    return lw_fail("unknown codec '%s': one of topk, pcaq, token-sparse, sae, pq, zlib, brotli, brotli-dict, "
                   "zstd, zstd-dict, truncate, lm-arith, summary", name ? name : "");
}

bool lw_codec_kind_is_text(lw_codec_kind k) { return k >= LW_CODEC_ZLIB && k < LW_CODEC_COUNT; }
bool lw_codec_kind_competes(lw_codec_kind k) { return k != LW_CODEC_SUMMARY; }

const lw_codec_ops *lw_codec_ops_of(lw_codec_kind k) {
    static const lw_codec_ops *const TABLE[LW_CODEC_COUNT] = {
        &lw_codec_ops_topk, &lw_codec_ops_pcaq, &lw_codec_ops_token_sparse, &lw_codec_ops_sae,
        &lw_codec_ops_pq, &lw_codec_ops_zlib, &lw_codec_ops_brotli, &lw_codec_ops_brotli_dict,
        &lw_codec_ops_zstd, &lw_codec_ops_zstd_dict, &lw_codec_ops_truncate, &lw_codec_ops_lm_arith,
        &lw_codec_ops_summary,
    };
    return (unsigned)k < LW_CODEC_COUNT ? TABLE[k] : NULL;
}

lw_codec_params lw_codec_default_params(lw_codec_kind kind) {
    lw_codec_params p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.positions = 1;
    p.level = -1;
    p.dict_bytes = 4096;
    p.summary_tokens = 32;
    p.seed = 1;
    return p;
}

int lw_payload_set(lw_payload *out, const void *bytes, size_t n) {
    out->bytes = malloc(n ? n : 1);
    out->n = 0;
    if (!out->bytes) return lw_fail("codec: out of memory for a %zu-byte payload", n);
    if (n) memcpy(out->bytes, bytes, n);
    out->n = n;
    return 0;
}

/* ------------------------------------------------------------------ the handle */

static lw_codec *codec_new(const lw_codec_params *p, bool text) {
    if (!p) {
        lw_fail("codec: no parameters");
        return NULL;
    }
    if ((unsigned)p->kind >= LW_CODEC_COUNT) {
        lw_fail("codec: unknown kind %d", (int)p->kind);
        return NULL;
    }
    if (lw_codec_kind_is_text(p->kind) != text) {
        lw_fail("codec %s is a%s codec; it encodes %s", lw_codec_name(p->kind), text ? "n activation" : " text",
                text ? "activations, not texts" : "texts, not activations");
        return NULL;
    }
    if (p->positions < 0) {
        lw_fail("codec %s: positions %d: must be 1 or more (0: one vector)", lw_codec_name(p->kind), p->positions);
        return NULL;
    }
    if (p->budget_bits < 0) {
        lw_fail("codec %s: budget %lld bits: must be 0 (unbounded) or positive", lw_codec_name(p->kind),
                (long long)p->budget_bits);
        return NULL;
    }
    /* 0 means "choose" or "the kind's default" for each of these; a negative one was taken as that too
     * (the level, whose -1 means the library's default, each text codec checks) */
    const struct {
        const char *name;
        int v;
    } counts[] = {{"k", p->k},
                  {"bits", p->bits},
                  {"rank", p->rank},
                  {"sae_latents", p->sae_latents},
                  {"sae_epochs", p->sae_epochs},
                  {"pq_subspaces", p->pq_subspaces},
                  {"dict_bytes", p->dict_bytes},
                  {"summary_tokens", p->summary_tokens},
                  {"threads", p->threads}};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (counts[i].v < 0) {
            lw_fail("codec %s: %s %d is negative (0: choose, or the default)", lw_codec_name(p->kind), counts[i].name,
                    counts[i].v);
            return NULL;
        }
    const lw_codec_ops *ops = lw_codec_ops_of(p->kind);
    if (!ops || (text ? !ops->fit_text : !ops->fit_act)) {
        lw_fail("codec %s is not built in this version", lw_codec_name(p->kind));
        return NULL;
    }
    lw_codec *c = calloc(1, sizeof *c);
    if (!c) {
        lw_fail("codec: out of memory");
        return NULL;
    }
    c->p = *p;
    c->ops = ops;
    c->record = json_object();
    return c;
}

/* The parameters as the record keeps them (the model is named by the kinds that use one). */
static json_t *params_json(const lw_codec_params *p) {
    return json_pack("{s:s, s:I, s:i, s:i, s:i, s:i, s:b, s:i, s:i, s:i, s:i, s:i, s:i, s:I}", "kind",
                     lw_codec_name(p->kind), "budget_bits", (json_int_t)p->budget_bits, "k", p->k, "bits", p->bits,
                     "rank", p->rank, "positions", p->positions, "lloyd_max", p->lloyd_max, "sae_latents",
                     p->sae_latents, "sae_epochs", p->sae_epochs, "pq_subspaces", p->pq_subspaces, "level", p->level,
                     "dict_bytes", p->dict_bytes, "summary_tokens", p->summary_tokens, "seed",
                     (json_int_t)p->seed);
}

static int finish_record(lw_codec *c) {
    json_object_set_new(c->record, "format", json_string("latentwire.codec/1"));
    json_object_set_new(c->record, "params", params_json(&c->p));
    json_object_set_new(c->record, "width", json_integer(c->d));
    json_object_set_new(c->record, "positions", json_integer(c->T));
    json_object_set_new(c->record, "side_bits", json_integer(c->side_bits));
    json_object_set_new(c->record, "calibration", json_integer(c->n_calib));
    free(c->record_text);
    c->record_text = json_dumps(c->record, JSON_SORT_KEYS | JSON_COMPACT);
    return c->record_text ? 0 : lw_fail("codec: cannot serialize the fit record");
}

lw_codec *lw_codec_fit_act(const lw_codec_params *p, const float *rows, int64_t n, int d) {
    lw_codec *c = codec_new(p, false);
    if (!c) return NULL;
    /* one row is its own mean and spans no direction: a codec "fitted" on it reconstructs that row
     * exactly (rank 0, error 0) and says nothing about any other */
    if (!rows || n < 2 || d <= 0) {
        if (!rows)
            lw_fail("codec %s: rows is NULL", lw_codec_name(p->kind));
        else
            lw_fail("codec %s: %lld calibration rows of width %d; a fit needs at least 2 (more for a useful one)",
                    lw_codec_name(p->kind), (long long)n, d);
        lw_codec_free(c);
        return NULL;
    }
    /* a NaN or Inf row makes every statistic of the fit NaN (an SAE that decodes NaN, an
     * eigensolver that fails with a LAPACK code): name the first one instead */
    int64_t bad = lw_first_nonfinite(rows, n * (int64_t)d);
    if (bad >= 0) {
        lw_fail("codec %s: calibration row %lld has a non-finite value (%g at coordinate %lld)",
                lw_codec_name(p->kind), (long long)(bad / d), (double)rows[bad], (long long)(bad % d));
        lw_codec_free(c);
        return NULL;
    }
    if (c->p.positions == 0) c->p.positions = 1;
    /* the rows are whole items of T consecutive positions; a remainder would be dropped unseen */
    if (n % c->p.positions) {
        lw_fail("codec %s: %lld calibration rows are not whole items of %d positions (%lld left over)",
                lw_codec_name(p->kind), (long long)n, c->p.positions, (long long)(n % c->p.positions));
        lw_codec_free(c);
        return NULL;
    }
    c->d = d;
    c->T = c->p.positions;
    c->n_calib = n;
    if (c->ops->fit_act(c, rows, n, d) != 0 || finish_record(c) != 0) {
        lw_codec_free(c);
        return NULL;
    }
    return c;
}

lw_codec *lw_codec_fit_text(const lw_codec_params *p, const char *const *texts, int n) {
    lw_codec *c = codec_new(p, true);
    if (!c) return NULL;
    if (n < 0 || (n > 0 && !texts)) {
        lw_fail("codec %s: bad calibration texts", lw_codec_name(p->kind));
        lw_codec_free(c);
        return NULL;
    }
    c->n_calib = n;
    if (c->ops->fit_text(c, texts, n) != 0 || finish_record(c) != 0) {
        lw_codec_free(c);
        return NULL;
    }
    return c;
}

void lw_codec_free(lw_codec *c) {
    if (!c) return;
    if (c->ops && c->ops->free_state) c->ops->free_state(c);
    json_decref(c->record);
    free(c->record_text);
    free(c);
}

/* Getters on a NULL codec answer -1 (NULL for the record) with the message set, as a binding
 * expects of a call that cannot answer, rather than crash. */
static int no_codec(const char *fn) { return lw_fail("%s: the codec is NULL", fn); }
lw_codec_kind lw_codec_kind_of(const lw_codec *c) { return c ? c->p.kind : (lw_codec_kind)no_codec(__func__); }
int lw_codec_width(const lw_codec *c) { return c ? c->d : no_codec(__func__); }
int lw_codec_positions(const lw_codec *c) { return c ? c->T : no_codec(__func__); }
int64_t lw_codec_budget_bits(const lw_codec *c) { return c ? c->p.budget_bits : no_codec(__func__); }
int64_t lw_codec_side_bits(const lw_codec *c) { return c ? c->side_bits : no_codec(__func__); }
const char *lw_codec_record_json(const lw_codec *c) {
    if (!c) return no_codec(__func__), NULL;
    return c->record_text ? c->record_text : "{}";
}

/* ------------------------------------------------------------------ encode / decode */

/* Every payload is checked against the budget here, on the serialized bytes, whatever the
 * kind claims: a kind that overshoots is a bug reported as an error, never a silent excess. */
static int check_budget(const lw_codec *c, lw_payload *out) {
    if (c->p.budget_bits > 0 && (int64_t)out->n * 8 > c->p.budget_bits) {
        int64_t got = (int64_t)out->n * 8;
        free(out->bytes);
        out->bytes = NULL;
        out->n = 0;
        return lw_fail("codec %s: payload of %lld bits exceeds the budget of %lld bits (a codec bug)",
                       lw_codec_name(c->p.kind), (long long)got, (long long)c->p.budget_bits);
    }
    return 0;
}

int lw_codec_encode_act(const lw_codec *c, const float *item, lw_payload *out) {
    if (out) *out = (lw_payload){0}; /* a failed call leaves nothing to free */
    if (!c || !item || !out) return lw_fail("lw_codec_encode_act: %s is NULL", !c ? "the codec" : !item ? "item" : "out");
    if (lw_codec_kind_is_text(c->p.kind) || !c->ops->encode_act)
        return lw_fail("codec %s does not encode activations", lw_codec_name(c->p.kind));
    int64_t bad = lw_first_nonfinite(item, (int64_t)c->T * c->d);
    if (bad >= 0) /* its code would be a NaN's, which no decoder gives back */
        return lw_fail("codec %s: the item has a non-finite value (%g at position %lld, coordinate %lld)",
                       lw_codec_name(c->p.kind), (double)item[bad], (long long)(bad / c->d), (long long)(bad % c->d));
    if (c->ops->encode_act(c, item, out) != 0) return -1;
    return check_budget(c, out);
}

int lw_codec_decode_act(const lw_codec *c, const uint8_t *bytes, size_t n, float *item) {
    if (!c || !item || (n > 0 && !bytes))
        return lw_fail("lw_codec_decode_act: %s is NULL", !c ? "the codec" : !item ? "item" : "bytes");
    if (lw_codec_kind_is_text(c->p.kind) || !c->ops->decode_act)
        return lw_fail("codec %s does not decode activations", lw_codec_name(c->p.kind));
    if (c->p.budget_bits > 0 && (int64_t)n * 8 > c->p.budget_bits)
        return lw_fail("codec %s: a %zu-byte payload is over the budget of %lld bits: not this codec's",
                       lw_codec_name(c->p.kind), n, (long long)c->p.budget_bits);
    return c->ops->decode_act(c, bytes, n, item);
}

int lw_codec_encode_text(const lw_codec *c, const char *text, lw_payload *out) {
    if (out) *out = (lw_payload){0};
    if (!c || !out) return lw_fail("lw_codec_encode_text: %s is NULL", !c ? "the codec" : "out");
    if (!lw_codec_kind_is_text(c->p.kind) || !c->ops->encode_text)
        return lw_fail("codec %s does not encode texts", lw_codec_name(c->p.kind));
    if (!text) return lw_fail("codec %s: no text", lw_codec_name(c->p.kind));
    if (c->ops->encode_text(c, text, out) != 0) return -1;
    return check_budget(c, out);
}

int lw_codec_decode_text(const lw_codec *c, const uint8_t *bytes, size_t n, char **text) {
    if (text) *text = NULL;
    if (!c || !text || (n > 0 && !bytes))
        return lw_fail("lw_codec_decode_text: %s is NULL", !c ? "the codec" : !text ? "text" : "bytes");
    if (!lw_codec_kind_is_text(c->p.kind) || !c->ops->decode_text)
        return lw_fail("codec %s does not decode texts", lw_codec_name(c->p.kind));
    if (c->p.budget_bits > 0 && (int64_t)n * 8 > c->p.budget_bits)
        return lw_fail("codec %s: a %zu-byte payload is over the budget of %lld bits: not this codec's",
                       lw_codec_name(c->p.kind), n, (long long)c->p.budget_bits);
    return c->ops->decode_text(c, bytes, n, text);
}

/* ------------------------------------------------------------------ files */

int lw_codec_set_meta(lw_codec *c, const char *key, const char *json_value) {
    if (!c || !key || !*key || !json_value)
        return lw_fail("lw_codec_set_meta: %s", !c ? "the codec is NULL" : !key || !*key ? "no key" : "no value");
    json_t *v = json_loads(json_value, JSON_DECODE_ANY, NULL);
    if (!v) return lw_fail("codec: meta %s: not a JSON value", key);
    json_t *meta = json_object_get(c->record, "meta");
    if (!meta) json_object_set_new(c->record, "meta", meta = json_object());
    json_object_set_new(meta, key, v);
    char *text = json_dumps(c->record, JSON_SORT_KEYS | JSON_COMPACT);
    if (!text) return lw_fail("codec: cannot serialize the fit record");
    free(c->record_text);
    c->record_text = text;
    return 0;
}

int lw_codec_check_fit(const lw_codec *c, const char *tensor, const char *model_sha256, const char *pool) {
    if (!c) return no_codec(__func__);
    json_t *meta = json_object_get(c->record, "meta");
    const char *had = json_string_value(json_object_get(meta, "tensor")),
               *sha = json_string_value(json_object_get(meta, "model_sha256")),
               *had_pool = json_string_value(json_object_get(meta, "pool"));
    if (tensor && had && strcmp(had, tensor) != 0)
        return lw_fail("fitted on %s (its record's meta.tensor), not %s: fit a codec on %s, or use %s", had, tensor,
                       tensor, had);
    if (model_sha256 && sha && strcmp(sha, model_sha256) != 0)
        return lw_fail("fitted on another model's rows (its record's meta.model_sha256 is %.12s..., these rows' "
                       "%.12s...)", sha, model_sha256);
    if (pool && had_pool && strcmp(had_pool, pool) != 0)
        return lw_fail("fitted on --pool %s rows (its record's meta.pool), not --pool %s rows: extract with --pool %s, "
                       "or fit a codec on these", had_pool, pool, had_pool);
    return 0;
}

/* The sha256 of each side tensor's bytes, {"name": "hex", ...} as JSON text (malloc'd), or NULL. */
static char *side_sha256_json(const lw_st_tensor_in *t, int n) {
    json_t *o = json_object();
    for (int i = 0; o && i < n; i++) {
        char hex[65];
        size_t bytes = (size_t)(lw_act_tensor_bits(&t[i]) / 8);
        if (lw_sha256_buf(t[i].data, bytes, hex) != 0 || json_object_set_new(o, t[i].name, json_string(hex)) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    char *s = o ? json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

int lw_codec_save(const lw_codec *c, const char *path) {
    if (!c || !path) return lw_fail("lw_codec_save: %s is NULL", !c ? "the codec" : "path");
    lw_st_tensor_in t[LW_CODEC_MAX_SIDE_TENSORS];
    int n = c->ops->side_tensors ? c->ops->side_tensors(c, t, LW_CODEC_MAX_SIDE_TENSORS) : 0;
    if (n < 0) return -1;
    /* the side tensors' hashes beside the record (not in it: payloads name the record's hash) */
    char *sums = side_sha256_json(t, n);
    if (!sums) return lw_fail("%s: cannot hash the codec's side tensors", path);
    const char *meta[] = {"format", "latentwire.codec/1", "latentwire", lw_codec_record_json(c), "side_sha256", sums};
    int rc = lw_st_save(path, t, n, meta, 3);
    free(sums);
    return rc;
}

/* Every side tensor of the file matches the sha256 saved beside the record: an edited basis,
 * range or codebook decoded without a word (the record, which payloads name, was unchanged). */
static int check_side_sha256(const lw_st_file *f, const char *path) {
    const char *sums = lw_st_meta(f, "side_sha256"), *bad = NULL;
    if (lw_st_count(f) == 0 || lw_st_matches_sha256(f, sums, &bad)) return 0; /* a text codec may hold none */
    if (!sums)
        return lw_fail("%s: the codec file has no side_sha256 for its tensors (written by an older version, or "
                       "edited); fit the codec again", path);
    if (!bad)
        return lw_fail("%s: the codec file's side_sha256 does not list its %d side tensors: the file was edited; fit "
                       "the codec again", path, lw_st_count(f));
    return lw_fail("%s: side tensor %s does not match its sha256: the file was edited or damaged; fit the codec again",
                   path, bad);
}

static int json_int_field(const json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out, const char *path) {
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return lw_fail("%s: codec record field '%s' missing or out of range [%lld, %lld]", path, key, (long long)lo,
                       (long long)hi);
    *out = json_integer_value(v);
    return 0;
}

/* The parameters back from the record; every field range-checked (a file is untrusted input). */
static int params_from_json(const json_t *pj, lw_codec_params *p, const char *path) {
    const char *kind = json_string_value(json_object_get(pj, "kind"));
    int k = kind ? lw_codec_from_name(kind) : -1;
    if (k < 0) return lw_fail("%s: codec record has no known 'kind'", path);
    *p = lw_codec_default_params((lw_codec_kind)k);
    struct {
        const char *key;
        int64_t lo, hi;
        void *dst;
        int is64;
    } f[] = {
        {"budget_bits", 0, INT64_C(1) << 40, &p->budget_bits, 1},
        {"k", 0, 1 << 30, &p->k, 0},
        {"bits", 0, 32, &p->bits, 0},
        {"rank", 0, 1 << 30, &p->rank, 0},
        {"positions", 0, 1 << 20, &p->positions, 0},
        {"sae_latents", 0, 1 << 30, &p->sae_latents, 0},
        {"sae_epochs", 0, 1 << 30, &p->sae_epochs, 0},
        {"pq_subspaces", 0, 1 << 30, &p->pq_subspaces, 0},
        {"level", -1, 32, &p->level, 0},
        {"dict_bytes", 0, 1 << 30, &p->dict_bytes, 0},
        {"summary_tokens", 0, 1 << 20, &p->summary_tokens, 0},
        {"seed", 0, INT64_MAX, &p->seed, 1},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        int64_t v = 0;
        if (json_int_field(pj, f[i].key, f[i].lo, f[i].hi, &v, path) != 0) return -1;
        if (f[i].is64)
            *(int64_t *)f[i].dst = v;
        else
            *(int *)f[i].dst = (int)v;
    }
    p->lloyd_max = json_is_true(json_object_get(pj, "lloyd_max"));
    return 0;
}

/* The side information a loaded codec holds, counted from what it loaded (-1: a kind whose side
 * information is checked where it is loaded, or cannot be counted here). The record's side_bits is
 * what `codec info`, encode and decode report, so it must be this count, not an edited number. */
static int64_t counted_side_bits(const lw_codec *c) {
    if (c->ops->side_tensors) {
        lw_st_tensor_in t[LW_CODEC_MAX_SIDE_TENSORS];
        int n = c->ops->side_tensors(c, t, LW_CODEC_MAX_SIDE_TENSORS);
        int64_t total = 0;
        for (int i = 0; i < n; i++) total += lw_act_tensor_bits(&t[i]); /* as lw_act_count_side counts */
        return n < 0 ? -1 : total;
    }
    switch (c->p.kind) {
    case LW_CODEC_ZLIB:
    case LW_CODEC_ZSTD:
    case LW_CODEC_TRUNCATE:
    case LW_CODEC_SUMMARY: return 0;
    default: return -1;
    }
}

/* An activation codec's payloads all have one size, fixed by its parameters: one all-zero item
 * encoded measures it. The record's fit.payload_bits (what `codec info` reports) must be that size
 * and the budget must hold it; an edit of either was reported as measured, or ended in "a codec bug"
 * at the first encode. */
static int check_payload_size(const lw_codec *c, const char *path) {
    float *zeros = calloc((size_t)c->T * (size_t)c->d, sizeof *zeros);
    if (!zeros) return lw_fail("%s: out of memory", path);
    lw_payload pl = {0};
    const int64_t budget = c->p.budget_bits;
    int rc = c->ops->encode_act(c, zeros, &pl); /* the kind's own encoder: the budget is checked below */
    free(zeros);
    if (rc != 0) return lw_fail_prefix("%s: ", path);
    const int64_t measured = (int64_t)pl.n * 8;
    free(pl.bytes);
    json_t *recorded = json_object_get(json_object_get(c->record, "fit"), "payload_bits");
    if (recorded && (!json_is_integer(recorded) || json_integer_value(recorded) != measured))
        return lw_fail("%s: the codec record says fit.payload_bits %lld, but its payloads have %lld bits: the file was "
                       "edited; fit the codec again",
                       path, (long long)json_integer_value(recorded), (long long)measured);
    if (budget > 0 && measured > budget)
        return lw_fail("%s: the codec record's budget_bits %lld is below its payloads' %lld bits: the file was edited; "
                       "fit the codec again",
                       path, (long long)budget, (long long)measured);
    return 0;
}

lw_codec *lw_codec_load(const char *path, lw_session *lm) {
    lw_st_file *f = lw_st_open(path);
    if (!f) return NULL;
    lw_codec *c = NULL;
    const char *fmt = lw_st_meta(f, "format");
    const char *rec = lw_st_meta(f, "latentwire");
    json_error_t je;
    json_t *root = NULL;
    if (!fmt || strcmp(fmt, "latentwire.codec/1") != 0) {
        lw_fail("%s: not a latentwire codec (metadata format is '%s', expected latentwire.codec/1)", path,
                fmt ? fmt : "missing");
        goto done;
    }
    if (check_side_sha256(f, path) != 0) goto done;
    root = rec ? json_loads(rec, 0, &je) : NULL;
    if (!json_is_object(root)) {
        lw_fail("%s: the codec record (metadata 'latentwire') is missing or not a JSON object", path);
        goto done;
    }
    lw_codec_params p;
    int64_t d = 0, T = 0, side = 0, calib = 0;
    if (params_from_json(json_object_get(root, "params"), &p, path) != 0 ||
        json_int_field(root, "width", 0, 1 << 24, &d, path) != 0 ||
        json_int_field(root, "positions", 0, 1 << 20, &T, path) != 0 ||
        json_int_field(root, "side_bits", 0, INT64_MAX, &side, path) != 0 ||
        json_int_field(root, "calibration", 0, INT64_MAX, &calib, path) != 0)
        goto done;
    p.lm = lm;
    c = codec_new(&p, lw_codec_kind_is_text(p.kind));
    if (!c) goto done;
    if (!lw_codec_kind_is_text(p.kind) && (d <= 0 || T <= 0)) {
        lw_fail("%s: an activation codec with width %lld and %lld positions", path, (long long)d, (long long)T);
        goto fail;
    }
    c->d = (int)d;
    c->T = (int)T;
    c->side_bits = side;
    c->n_calib = calib;
    json_decref(c->record);
    c->record = root;
    root = NULL;
    if (!c->ops->load || c->ops->load(c, f) != 0) {
        if (!c->ops->load) lw_fail("%s: codec %s cannot be loaded in this version", path, lw_codec_name(p.kind));
        else lw_fail_prefix("%s: ", path);
        goto fail;
    }
    if (!lw_codec_kind_is_text(p.kind) && check_payload_size(c, path) != 0) goto fail;
    const int64_t counted = counted_side_bits(c);
    if (counted >= 0 && counted != c->side_bits) {
        lw_fail("%s: the codec record says side_bits %lld, but what it holds counts %lld bits: the file was edited; "
                "fit the codec again", path, (long long)c->side_bits, (long long)counted);
        goto fail;
    }
    c->record_text = json_dumps(c->record, JSON_SORT_KEYS | JSON_COMPACT);
    if (!c->record_text) {
        lw_fail("%s: cannot serialize the codec record", path);
        goto fail;
    }
    goto done;
fail:
    lw_codec_free(c);
    c = NULL;
done:
    json_decref(root);
    lw_st_close(f);
    return c;
}
