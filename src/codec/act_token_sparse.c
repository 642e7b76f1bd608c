/* "token-sparse": the budget spread over the last T positions of an item, the k
 * largest-magnitude entries of each position (indices + b-bit sign-magnitude values). The
 * implementation is topk's (act_topk.c), applied per position: see act_common.h. */
#include "codec/act_common.h"

const lw_codec_ops lw_codec_ops_token_sparse = {
    .fit_act = lw_sparse_fit_act,
    .encode_act = lw_sparse_encode_act,
    .decode_act = lw_sparse_decode_act,
    .side_tensors = lw_sparse_side_tensors,
    .load = lw_sparse_load,
    .free_state = lw_sparse_free_state,
};
