/* "brotli-dict": brotli with a dictionary trained on the calibration texts. Not available:
 * the installed libbrotli (Debian 12: 1.0.9) has no custom-dictionary API; brotli 1.1.0
 * added one (BrotliEncoderPrepareDictionary / BrotliDecoderAttachDictionary with a raw
 * dictionary). Fit and load say so in one error; zstd-dict is the trained-dictionary codec
 * that works with the installed libraries. */
#include <brotli/encode.h>

#include "codec/text_common.h"

static int unavailable(void) {
    uint32_t v = BrotliEncoderVersion();
    return lw_fail("codec brotli-dict: not available with libbrotli %u.%u.%u: a trained dictionary needs brotli "
                   ">= 1.1.0 (BrotliEncoderPrepareDictionary); use zstd-dict for a trained dictionary",
                   (unsigned)(v >> 24), (unsigned)((v >> 12) & 0xFFF), (unsigned)(v & 0xFFF));
}

static int brotli_dict_fit(lw_codec *c, const char *const *texts, int n) {
    (void)c;
    (void)texts;
    (void)n;
    return unavailable();
}

static int brotli_dict_load(lw_codec *c, const lw_st_file *f) {
    (void)c;
    (void)f;
    return unavailable();
}

const lw_codec_ops lw_codec_ops_brotli_dict = {
    .fit_text = brotli_dict_fit,
    .load = brotli_dict_load,
};
