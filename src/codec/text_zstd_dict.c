/* "zstd-dict": zstd (as "zstd") with a dictionary of dict_bytes bytes (default 4096) trained
 * by ZDICT_trainFromBuffer on the calibration texts only. The dictionary is side information
 * (its size x 8 bits) and is saved as the tensor "dictionary" (U8). */
#include <stdlib.h>
#include <string.h>
#include <zdict.h>

#include "codec/text_common.h"
#include "common/fileio.h"

typedef struct {
    uint8_t *dict;
    size_t n;
} zdict_state;

static int record_dictionary(lw_codec *c, const zdict_state *s) {
    char hex[65];
    if (lw_sha256_buf(s->dict, s->n, hex) != 0) return -1;
    json_t *fit = lw_text_fit_record(c);
    json_object_set_new(fit, "dictionary_bytes", json_integer((json_int_t)s->n));
    json_object_set_new(fit, "dictionary_sha256", json_string(hex));
    return 0;
}

/* The calibration texts concatenated, as ZDICT takes its samples; the empty ones skipped. */
static int gather_samples(const char *const *texts, int n, char **all, size_t **sizes, unsigned *count) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += texts[i] ? strlen(texts[i]) : 0;
    *all = malloc(total + 1);
    *sizes = malloc(sizeof **sizes * (size_t)(n > 0 ? n : 1));
    if (!*all || !*sizes) return lw_fail("codec zstd-dict: out of memory for %zu bytes of calibration text", total);
    size_t at = 0;
    *count = 0;
    for (int i = 0; i < n; i++) {
        size_t len = texts[i] ? strlen(texts[i]) : 0;
        if (len == 0) continue;
        memcpy(*all + at, texts[i], len);
        at += len;
        (*sizes)[(*count)++] = len;
    }
    return 0;
}

static int zdict_fit(lw_codec *c, const char *const *texts, int n) {
    if (lw_text_zstd_check_level(c) != 0) return -1;
    if (c->p.dict_bytes < 256 || c->p.dict_bytes > (1 << 24))
        return lw_fail("codec zstd-dict: dict_bytes %d: must be in [256, 16777216]", c->p.dict_bytes);
    if (n <= 0) return lw_fail("codec zstd-dict: no calibration texts to train the dictionary on");
    char *all = NULL;
    size_t *sizes = NULL;
    unsigned count = 0;
    zdict_state *s = calloc(1, sizeof *s);
    int rc = s ? gather_samples(texts, n, &all, &sizes, &count) : lw_fail("codec zstd-dict: out of memory");
    if (rc == 0) {
        s->dict = malloc((size_t)c->p.dict_bytes);
        if (!s->dict) rc = lw_fail("codec zstd-dict: out of memory");
    }
    if (rc == 0) {
        size_t got = ZDICT_trainFromBuffer(s->dict, (size_t)c->p.dict_bytes, all, sizes, count);
        if (ZDICT_isError(got)) {
            size_t total = 0;
            for (unsigned i = 0; i < count; i++) total += sizes[i];
            rc = lw_fail("codec zstd-dict: ZDICT could not train a %d-byte dictionary on %u calibration texts (%zu "
                         "bytes): %s; give more calibration text (zstd suggests about 100 x the dictionary size) "
                         "or a smaller dict_bytes",
                         c->p.dict_bytes, count, total, ZDICT_getErrorName(got));
        } else {
            s->n = got;
        }
    }
    free(all);
    free(sizes);
    if (rc == 0) {
        c->state = s;
        c->side_bits = (int64_t)s->n * 8;
        rc = record_dictionary(c, s);
        json_object_set_new(lw_text_fit_record(c), "calibration_texts_used", json_integer(count));
        return rc;
    }
    if (s) free(s->dict);
    free(s);
    return -1;
}

static int zdict_bytes(const lw_codec *c, const char *text, size_t n, lw_payload *out) {
    const zdict_state *s = c->state;
    return lw_text_zstd_compress(c->p.level, s->dict, s->n, text, n, out);
}

static int zdict_encode(const lw_codec *c, const char *text, lw_payload *out) {
    return lw_text_encode_prefix(c, text, zdict_bytes, out);
}

static int zdict_decode(const lw_codec *c, const uint8_t *bytes, size_t n, char **text) {
    const zdict_state *s = c->state;
    return lw_text_zstd_decompress("zstd-dict", s->dict, s->n, bytes, n, text);
}

static int zdict_side(const lw_codec *c, lw_st_tensor_in *t, int cap) {
    const zdict_state *s = c->state;
    if (cap < 1) return lw_fail("codec zstd-dict: no room for its side tensor");
    memset(t, 0, sizeof *t);
    t->name = "dictionary";
    t->dtype = LW_DT_U8;
    t->n_dims = 1;
    t->shape[0] = (int64_t)s->n;
    t->data = s->dict;
    return 1;
}

static int zdict_load(lw_codec *c, const lw_st_file *f) {
    if (lw_text_zstd_check_level(c) != 0) return -1;
    const lw_st_tensor *t = lw_st_find(f, "dictionary");
    if (!t || t->dtype != LW_DT_U8 || t->n_dims != 1 || t->shape[0] <= 0 || t->shape[0] > (1 << 24))
        return lw_fail("codec zstd-dict: tensor 'dictionary' missing or not a U8 vector of 1..16777216 bytes");
    if (c->side_bits != t->shape[0] * 8)
        return lw_fail("codec zstd-dict: record side_bits %lld but the dictionary holds %lld bytes",
                       (long long)c->side_bits, (long long)t->shape[0]);
    zdict_state *s = calloc(1, sizeof *s);
    if (s) s->dict = malloc(t->n_bytes);
    if (!s || !s->dict) {
        free(s);
        return lw_fail("codec zstd-dict: out of memory");
    }
    memcpy(s->dict, t->data, t->n_bytes);
    s->n = t->n_bytes;
    c->state = s;
    return 0;
}

static void zdict_free(lw_codec *c) {
    zdict_state *s = c->state;
    if (s) free(s->dict);
    free(s);
    c->state = NULL;
}

const lw_codec_ops lw_codec_ops_zstd_dict = {
    .fit_text = zdict_fit,
    .encode_text = zdict_encode,
    .decode_text = zdict_decode,
    .side_tensors = zdict_side,
    .load = zdict_load,
    .free_state = zdict_free,
};
