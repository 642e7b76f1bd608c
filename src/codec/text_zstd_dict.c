/* Stub: the "zstd_dict" codec is not built yet (every entry NULL: fit says so). */
#include "codec/codec_internal.h"

const lw_codec_ops lw_codec_ops_zstd_dict = {0};
