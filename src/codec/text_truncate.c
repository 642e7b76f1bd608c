/* "truncate": the text's own bytes, cut to the budget's K / 8 bytes at a character boundary
 * (whole UTF-8 characters); without a budget, the whole text. No side information. */
#include "codec/text_common.h"

static int trunc_fit(lw_codec *c, const char *const *texts, int n) {
    (void)texts;
    (void)n;
    c->side_bits = 0;
    json_object_set_new(lw_text_fit_record(c), "payload", json_string("the text's first bytes, whole characters"));
    return 0;
}

static int trunc_bytes(const lw_codec *c, const char *text, size_t n, lw_payload *out) {
    (void)c;
    return lw_payload_set(out, text, n);
}

static int trunc_encode(const lw_codec *c, const char *text, lw_payload *out) {
    return lw_text_encode_prefix(c, text, trunc_bytes, out);
}

static int trunc_decode(const lw_codec *c, const uint8_t *bytes, size_t n, char **text) {
    (void)c;
    return lw_text_from_bytes("truncate", bytes, n, text);
}

static int trunc_load(lw_codec *c, const lw_st_file *f) {
    (void)c;
    (void)f;
    return 0;
}

const lw_codec_ops lw_codec_ops_truncate = {
    .fit_text = trunc_fit,
    .encode_text = trunc_encode,
    .decode_text = trunc_decode,
    .load = trunc_load,
};
