/* `codec fit | encode | decode` on files as library calls (latentwire/codec_files.h): items
 * gathered from an extract file, the fit recorded with where its rows came from, and payload
 * files written from and decoded into activation files. The payload format is act_files.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/compare.h"
#include "common/error.h"
#include "common/jsonio.h"
#include "common/note.h"
#include "latentwire/codec_files.h"
#include "latentwire/files.h"
#include "latentwire/textio.h"

lw_codec_fit_file_params lw_codec_fit_file_default_params(lw_codec_kind kind) {
    return (lw_codec_fit_file_params){.codec = lw_codec_default_params(kind), .field = "text"};
}

/* An item's row_id twice (T = 1 over a --pool none file, or a row_id's rows apart): the payload
 * file would hold it twice, and decode refuses that as an edit. 0 or -1. */
static int check_ids_distinct(const char *path, const int64_t *ids, int64_t n, int T) {
    int64_t *s = malloc(sizeof *s * (size_t)(n ? n : 1));
    if (!s) return lw_fail("codec: out of memory");
    memcpy(s, ids, sizeof *s * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, lw_cmp_i64);
    int64_t dup = -1;
    for (int64_t i = 1; i < n && dup < 0; i++)
        if (s[i] == s[i - 1]) dup = i;
    int rc = dup < 0 ? 0
             : T == 1 ? lw_fail("%s: row_id %lld has several rows (one per token, as extract --pool none writes): give "
                                "--positions T to code each text's last T rows as one item, or extract with --pool "
                                "mean or last", path, (long long)s[dup])
                      : lw_fail("%s: row_id %lld's rows are not consecutive: each text's rows must follow each other, "
                                "as extract --pool none writes them", path, (long long)s[dup]);
    free(s);
    return rc;
}

int64_t lw_codec_gather_items(const lw_act_tensor *A, int T, bool distinct, float **items, int64_t **ids) {
    if (items) *items = NULL;
    if (ids) *ids = NULL;
    if (!A || !items || !ids) return lw_fail("lw_codec_gather_items: %s is NULL", !A ? "rows" : !items ? "items" : "row_ids");
    if (T < 1) return lw_fail("lw_codec_gather_items: positions %d: 1 or more", T);
    /* rows a binding filled in by hand: a NULL x was passed to memcpy (UBSan) */
    if (A->n < 0 || A->d < 1 || (A->n > 0 && (!A->x || !A->row_id)))
        return lw_fail("lw_codec_gather_items: rows of %lld x %d with %s: not an opened activation tensor (lw_act_open)",
                       (long long)A->n, A->d, A->n > 0 && !A->x ? "no data" : A->n > 0 && !A->row_id ? "no row ids" : "that shape");
    const char *path = A->path ? A->path : "the rows";
    *items = malloc(sizeof(float) * (size_t)(A->n ? A->n : 1) * (size_t)A->d);
    *ids = malloc(sizeof(int64_t) * (size_t)(A->n ? A->n : 1));
    int64_t n = 0;
    int rc = *items && *ids ? 0 : lw_fail("codec: out of memory for %lld rows", (long long)A->n);
    for (int64_t a = 0; rc == 0 && a < A->n;) {
        int64_t b = a + 1;
        while (T > 1 && b < A->n && A->row_id[b] == A->row_id[a]) b++;
        if (b - a < T) {
            rc = lw_fail("%s: row_id %lld has %lld position%s, fewer than --positions %d", path, (long long)A->row_id[a],
                         (long long)(b - a), b - a == 1 ? "" : "s", T);
            break;
        }
        memcpy(*items + (size_t)n * T * A->d, A->x + (size_t)(b - T) * A->d, sizeof(float) * (size_t)T * A->d);
        (*ids)[n++] = A->row_id[a];
        a = b;
    }
    if (rc == 0 && distinct) rc = check_ids_distinct(path, *ids, n, T);
    if (rc != 0) {
        free(*items), free(*ids);
        *items = NULL, *ids = NULL;
        return -1;
    }
    return n;
}

static int set_string_meta(lw_codec *c, const char *key, const char *value) {
    char *text = lw_json_quoted(value); /* a value that is not UTF-8 is not recorded */
    int rc = text ? lw_codec_set_meta(c, key, text) : 0;
    free(text);
    return rc;
}

static lw_codec *fit_text(const lw_codec_fit_file_params *p) {
    lw_corpus corpus;
    if (lw_corpus_load(&corpus, p->texts, p->field ? p->field : "text") != 0) return NULL;
    lw_codec *c = corpus.n > (1 << 30) ? (lw_fail("codec fit: %s: too many texts", p->texts), NULL)
                                       : lw_codec_fit_text(&p->codec, (const char *const *)corpus.texts, (int)corpus.n);
    lw_corpus_free(&corpus);
    return c;
}

/* The rows' items fitted; the codec records the tensor, model and pooling the rows came from. */
static lw_codec *fit_act(const lw_codec_fit_file_params *p) {
    lw_act_tensor A;
    if (lw_act_open(p->input, p->tensor, &A) != 0) return NULL;
    float *items;
    int64_t *ids;
    int T = p->codec.positions > 0 ? p->codec.positions : 1;
    int64_t n = lw_codec_gather_items(&A, T, false, &items, &ids);
    lw_codec *c = n >= 0 ? lw_codec_fit_act(&p->codec, items, n * T, A.d) : NULL;
    char sha[65], pool[32];
    if (c && (set_string_meta(c, "tensor", p->tensor) != 0 ||
              (lw_act_model_sha256(&A, sha) && set_string_meta(c, "model_sha256", sha) != 0) ||
              (lw_act_pool(&A, pool) && set_string_meta(c, "pool", pool) != 0))) {
        lw_codec_free(c);
        c = NULL;
    }
    if (c && !A.meta)
        lw_notef(p->on_note, p->user, "%s has no latentwire metadata (it was not written by extract): the codec records no "
             "model or pooling, so its uses cannot be checked", p->input);
    if (n >= 0) free(items), free(ids);
    lw_act_close(&A);
    return c;
}

lw_codec *lw_codec_fit_file(const lw_codec_fit_file_params *p) {
    if (!p) return lw_fail("codec fit: no parameters"), NULL;
    lw_codec_kind kind = p->codec.kind;
    const char *name = lw_codec_name(kind);
    if (!name) return NULL;
    if (kind == LW_CODEC_LM_ARITH || kind == LW_CODEC_SUMMARY)
        return lw_fail("codec fit: --kind %s codes with a language model, which codec fit does not load: use it "
                       "through `latentwire race --channel text:%s` (or lw_codec_fit_text with params.lm set)",
                       name, name),
               NULL;
    bool text = lw_codec_kind_is_text(kind);
    if (text ? !p->texts || p->input || p->tensor : !p->input || !p->tensor || p->texts)
        return lw_fail(text ? "codec fit: codec %s is a text codec: give --texts FILE (not --input/--tensor)"
                            : "codec fit: codec %s is an activation codec: give --input ACTS.safetensors and --tensor "
                              "NAME (not --texts)",
                       name),
               NULL;
    if (p->out && lw_output_check("--out", p->out, LW_OUT_FILE,
                                  (const char *const[]){"--input", p->input, "--texts", p->texts, NULL}) != 0)
        return NULL;
    lw_codec *c = text ? fit_text(p) : fit_act(p);
    if (c && p->out && lw_codec_save(c, p->out) != 0) {
        lw_codec_free(c);
        return NULL;
    }
    return c;
}

/* The codec file, loaded and an activation codec; NULL (message) otherwise. */
static lw_codec *load_act_codec(const char *path, const char *verb) {
    lw_codec *c = lw_codec_load(path, NULL);
    if (c && lw_codec_kind_is_text(lw_codec_kind_of(c))) {
        lw_fail("%s: %s: a text codec (%s); codec %s takes activation codecs", verb, path,
                lw_codec_name(lw_codec_kind_of(c)), verb + strlen("codec "));
        lw_codec_free(c);
        return NULL;
    }
    return c;
}

static int check_paths(const lw_codec_file_params *p, const char *verb, bool need_tensor) {
    if (!p) return lw_fail("%s: no parameters", verb);
    if (!p->codec || !p->input || (need_tensor && !p->tensor) || !p->out)
        return lw_fail("%s: --codec, --input%s and --out are required", verb, need_tensor ? ", --tensor" : "");
    return lw_output_check("--out", p->out, LW_OUT_FILE,
                           (const char *const[]){"--codec", p->codec, "--input", p->input, NULL});
}

int lw_codec_encode_file(const lw_codec_file_params *p, lw_codec_file_stats *st) {
    if (check_paths(p, "codec encode", true) != 0) return -1;
    lw_codec *c = load_act_codec(p->codec, "codec encode");
    if (!c) return -1;
    lw_act_tensor A;
    if (lw_act_open(p->input, p->tensor, &A) != 0) {
        lw_codec_free(c);
        return -1;
    }
    float *items = NULL;
    int64_t *ids = NULL;
    char sha[65], pool[32];
    int rc = 0;
    if (A.d != lw_codec_width(c))
        rc = lw_fail("codec encode: %s: tensor \"%s\" has width %d but codec %s has width %d", p->input, p->tensor, A.d,
                     p->codec, lw_codec_width(c));
    else if (lw_codec_check_fit(c, p->tensor, lw_act_model_sha256(&A, sha), lw_act_pool(&A, pool)) != 0)
        rc = lw_fail("codec encode: %s: %s", p->codec, lw_last_error());
    int64_t n = rc == 0 ? lw_codec_gather_items(&A, lw_codec_positions(c), true, &items, &ids) : -1;
    if (rc == 0 && n < 0) rc = -1;
    if (rc == 0) rc = lw_codec_encode_act_file(c, items, ids, n, p->out, st);
    if (rc != 0 && strstr(lw_last_error(), "non-finite")) /* the rows are at fault: name their file */
        lw_fail_prefix("codec encode: --input %s: tensor \"%s\": ", p->input, p->tensor);
    if (rc == 0 && !A.meta)
        lw_notef(p->on_note, p->user, "%s has no latentwire metadata (it was not written by extract): its rows' model and "
             "pooling were not checked against the codec's fit", p->input);
    free(items), free(ids);
    lw_act_close(&A);
    lw_codec_free(c);
    return rc;
}

int lw_codec_decode_file(const lw_codec_file_params *p, lw_codec_file_stats *st) {
    if (check_paths(p, "codec decode", false) != 0) return -1;
    lw_codec *c = load_act_codec(p->codec, "codec decode");
    if (!c) return -1;
    float *items = NULL;
    int64_t *ids = NULL, n = 0, *row_ids = NULL;
    int T = lw_codec_positions(c), d = lw_codec_width(c);
    int rc = lw_codec_decode_act_file(c, p->input, &items, &ids, &n, st);
    if (rc != 0 && strstr(lw_last_error(), "non-finite")) lw_fail_prefix("%s: ", p->codec); /* the codec is at fault */
    if (rc == 0 && !(row_ids = malloc(sizeof *row_ids * (size_t)(n > 0 ? n * T : 1))))
        rc = lw_fail("codec decode: out of memory");
    if (rc == 0) {
        for (int64_t i = 0; i < n * T; i++) row_ids[i] = ids[i / T];
        /* the rows reconstruct the fitted tensor: under its name, a bridge or retrieval that names
         * it reads them (under "decoded", a bridge fitted on layer.2 refused them) */
        json_t *record = json_loads(lw_codec_record_json(c), 0, NULL);
        const char *fitted = json_string_value(json_object_get(json_object_get(record, "meta"), "tensor"));
        const char *name = fitted && *fitted && strcmp(fitted, "row_id") ? fitted : "decoded";
        lw_st_tensor_in t[2] = {
            {.name = name, .dtype = LW_DT_F32, .n_dims = 2, .shape = {n * T, d}, .data = items},
            {.name = "row_id", .dtype = LW_DT_I64, .n_dims = 1, .shape = {n * T}, .data = row_ids},
        };
        /* a path that is not UTF-8 is not recorded (safetensors metadata is JSON): it failed the
         * save after the decoding, with a message about the output */
        const char *kv[] = {"format", "latentwire.decoded/1", "codec", p->codec, "payloads", p->input}, *meta[6];
        rc = lw_st_save(p->out, t, 2, meta, lw_json_utf8_pairs(kv, 3, meta));
        json_decref(record); /* after the save: name may point into it (a copy of 256 bytes cut long names) */
    }
    free(items), free(ids), free(row_ids);
    lw_codec_free(c);
    return rc;
}
