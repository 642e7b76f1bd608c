/* A tiny synthetic GGUF model whose llama.cpp graph has no `l_out-L` nodes.
 *
 * The architecture is "bert" (llama.cpp src/models/bert.cpp): its graph names the block
 * outputs nowhere (no cb(cur, "l_out", il)), so residual-stream hooks cannot attach to it.
 * It is an encoder without a KV cache: llama_decode() falls back to llama_encode() and
 * runs the whole batch at once with non-causal attention, and produces no logits.
 *
 * The model: width 32, 2 layers, 4 heads, FFN 64, context 64, a 100-token WordPiece
 * ("bert") vocabulary ([PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then "▁a".."▁z",
 * "a".."z", "▁0".."▁9", punctuation and a few "▁word" pieces), F32 seeded random
 * weights (the same file every time). */
#ifndef LW_SYNTH_NORESID_H
#define LW_SYNTH_NORESID_H

#define LW_SYNTH_NORESID_N_VOCAB 100
#define LW_SYNTH_NORESID_N_EMBD 32
#define LW_SYNTH_NORESID_N_LAYER 2
#define LW_SYNTH_NORESID_N_CTX 64

/* The general.architecture the model is written with ("bert"). */
const char *lw_synth_noresid_arch(void);

/* Writes the model to path. Returns 0, or -1 with a message on stderr (a partial file is
 * removed). */
int lw_synth_write_noresid(const char *path);

#endif
