#!/usr/bin/env python3
"""Convert a Hugging Face BERT sentence-embedding folder to a GGUF file llama.cpp loads as `bert`.

Usage: convert_bert.py HF_DIR OUT.gguf [--name NAME]

HF_DIR holds config.json, model.safetensors and tokenizer.json (a WordPiece tokenizer), and,
for a sentence-transformers model, modules.json with its Pooling module's config.json.
The output follows llama.cpp's own converter (conversion/bert.py at the pinned commit):
- vocabulary as tokenizer.ggml.model "bert" with the phantom-space conversion (a word-initial
  piece "x" becomes "\u2581x", a continuation "##x" becomes "x", control tokens stay as they are),
  token types (special added tokens CONTROL, other added tokens USER_DEFINED, the rest NORMAL,
  ids without a piece UNUSED), token type count, special token ids and add-token flags from
  gguf's SpecialVocab, and the BertNormalizer's lowercase / strip_accents flags;
- hyperparameters, non-causal attention, the pooling type from the Pooling module (mean, cls,
  last token);
- every tensor in float32 under llama.cpp's BERT names (gguf's tensor-name map); the unused
  position_ids, pooler and masked-LM head are left out.
tokenizer.ggml.pre is "default": llama.cpp's WordPiece tokenizer has no pre-tokenizer variants.

The file is written to a temporary name beside OUT and renamed, so OUT is either absent or
complete. The bytes depend only on the input files (fixed key and tensor order, no
timestamps): the manifest pins the output's sha256.
Needs numpy, safetensors and gguf (scripts/requirements.txt); no PyTorch.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np
import gguf
from safetensors import safe_open

# the per-block tensors llama.cpp's bert graph reads, in the order they are written
BLOCK_PARTS = [
    ("attention.self.query", gguf.MODEL_TENSOR.ATTN_Q),
    ("attention.self.key", gguf.MODEL_TENSOR.ATTN_K),
    ("attention.self.value", gguf.MODEL_TENSOR.ATTN_V),
    ("attention.output.dense", gguf.MODEL_TENSOR.ATTN_OUT),
    ("attention.output.LayerNorm", gguf.MODEL_TENSOR.ATTN_OUT_NORM),
    ("intermediate.dense", gguf.MODEL_TENSOR.FFN_UP),
    ("output.dense", gguf.MODEL_TENSOR.FFN_DOWN),
    ("output.LayerNorm", gguf.MODEL_TENSOR.LAYER_OUT_NORM),
]
GLOBAL_PARTS = [
    ("embeddings.word_embeddings", gguf.MODEL_TENSOR.TOKEN_EMBD),
    ("embeddings.token_type_embeddings", gguf.MODEL_TENSOR.TOKEN_TYPES),
    ("embeddings.position_embeddings", gguf.MODEL_TENSOR.POS_EMBD),
    ("embeddings.LayerNorm", gguf.MODEL_TENSOR.TOKEN_EMBD_NORM),
]
SKIPPED = ("embeddings.position_ids", "pooler.", "cls.")


class ConvertError(Exception):
    pass


def load_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ConvertError(f"{path}: missing ({what})")
    except json.JSONDecodeError as e:
        raise ConvertError(f"{path}: not valid JSON ({e})")


def read_hparams(hf):
    cfg = load_json(os.path.join(hf, "config.json"), "the model's config")
    if cfg.get("model_type") != "bert" and "BertModel" not in cfg.get("architectures", []):
        raise ConvertError(f"{hf}/config.json: model_type {cfg.get('model_type')!r} is not a BERT model")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ConvertError(f"{hf}/config.json: position_embedding_type {cfg['position_embedding_type']!r} "
                           "is not supported by llama.cpp's bert graph (absolute only)")
    if cfg.get("hidden_act", "gelu") != "gelu":
        raise ConvertError(f"{hf}/config.json: hidden_act {cfg['hidden_act']!r}: llama.cpp's bert graph uses GELU")
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "max_position_embeddings", "vocab_size", "layer_norm_eps"):
        if key not in cfg:
            raise ConvertError(f"{hf}/config.json: no {key}")
    return cfg


def pooling_type(hf):
    """The sentence-transformers Pooling module's mode, as llama.cpp's converter reads it."""
    mpath = os.path.join(hf, "modules.json")
    if not os.path.isfile(mpath):
        return None
    for mod in load_json(mpath, "sentence-transformers modules"):
        if mod.get("type", "").endswith("Pooling"):
            pool = load_json(os.path.join(hf, mod["path"], "config.json"), "the Pooling module's config")
            if pool.get("pooling_mode_mean_tokens"):
                return gguf.PoolingType.MEAN
            if pool.get("pooling_mode_cls_token"):
                return gguf.PoolingType.CLS
            if pool.get("pooling_mode_lasttoken"):
                return gguf.PoolingType.LAST
            mode = pool.get("pooling_mode")
            mapping = {"mean": gguf.PoolingType.MEAN, "cls": gguf.PoolingType.CLS, "lasttoken": gguf.PoolingType.LAST}
            if mode in mapping:
                return mapping[mode]
            raise ConvertError(f"{hf}/{mod['path']}/config.json: only mean, cls and last-token pooling are supported")
    return None


def read_vocab(hf, n_vocab):
    tok = load_json(os.path.join(hf, "tokenizer.json"), "the tokenizer")
    model = tok.get("model", {})
    if model.get("type") != "WordPiece":
        raise ConvertError(f"{hf}/tokenizer.json: model type {model.get('type')!r} is not WordPiece")
    if model.get("continuing_subword_prefix", "##") != "##":
        raise ConvertError(f"{hf}/tokenizer.json: continuing_subword_prefix is not '##'")
    pieces = [None] * n_vocab
    for piece, i in model["vocab"].items():
        if not 0 <= i < n_vocab:
            raise ConvertError(f"{hf}/tokenizer.json: token {piece!r} has id {i}, outside the vocabulary of {n_vocab}")
        pieces[i] = piece
    added = {}
    for a in tok.get("added_tokens", []):
        if not 0 <= a["id"] < n_vocab:
            raise ConvertError(f"{hf}/tokenizer.json: added token {a['content']!r} has id {a['id']} out of range")
        pieces[a["id"]] = a["content"]
        added[a["id"]] = a
    tokens, types = [], []
    for i, piece in enumerate(pieces):
        if piece is None:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif i in added:
            tokens.append(piece)
            types.append(gguf.TokenType.CONTROL if added[i].get("special") else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(piece)
            types.append(gguf.TokenType.NORMAL)

    # llama.cpp's WordPiece tokenizer matches "\u2581" + word against the vocabulary: word-initial
    # pieces carry the phantom space, continuations lose their "##" (conversion/bert.py)
    def phantom(piece, kind):
        if kind == gguf.TokenType.CONTROL:
            return piece
        if piece.startswith("##"):
            return piece[2:]
        return "\u2581" + piece

    tokens = [phantom(p, k) for p, k in zip(tokens, types)]
    norm = tok.get("normalizer") or {}
    lowercase = strip_accents = None
    if norm.get("type") == "BertNormalizer":
        lowercase = bool(norm.get("lowercase", True))
        # HF: strip_accents None follows lowercase
        sa = norm.get("strip_accents")
        strip_accents = lowercase if sa is None else bool(sa)
    return tokens, types, lowercase, strip_accents


def tensor_plan(n_layer):
    """(gguf name, source name) of every tensor llama.cpp's bert graph reads, in the order written."""
    names = gguf.TENSOR_NAMES
    plan = [(names[t], src) for src, t in GLOBAL_PARTS]
    for b in range(n_layer):
        for src, t in BLOCK_PARTS:
            plan.append((names[t].format(bid=b), f"encoder.layer.{b}.{src}"))
    return plan


def convert(hf, out, name):
    cfg = read_hparams(hf)
    n_layer, n_vocab = cfg["num_hidden_layers"], cfg["vocab_size"]
    tokens, types, lowercase, strip_accents = read_vocab(hf, n_vocab)
    pool = pooling_type(hf)

    st_path = os.path.join(hf, "model.safetensors")
    if not os.path.isfile(st_path):
        raise ConvertError(f"{st_path}: missing (the weights)")
    with safe_open(st_path, framework="np") as st:
        keys = list(st.keys())
        prefix = "bert." if any(k.startswith("bert.") for k in keys) else ""
        # (gguf name, array) for every weight and bias of the plan; old checkpoints name a
        # LayerNorm's parameters gamma / beta; embedding tables have no bias
        tensors, used = [], set()
        for gname, src in tensor_plan(n_layer):
            for suffix, alt in (("weight", "gamma"), ("bias", "beta")):
                key = next((k for k in (f"{prefix}{src}.{suffix}", f"{prefix}{src}.{alt}") if k in keys), None)
                if key is None:
                    if suffix == "bias" and src.startswith("embeddings.") and not src.endswith("LayerNorm"):
                        continue
                    raise ConvertError(f"{st_path}: no tensor {prefix}{src}.{suffix}")
                tensors.append((f"{gname}.{suffix}", np.ascontiguousarray(st.get_tensor(key), dtype=np.float32)))
                used.add(key)
        left = sorted(k for k in keys if k not in used and not k[len(prefix):].startswith(SKIPPED))
        if left:
            raise ConvertError(f"{st_path}: tensors this converter does not know: {', '.join(left[:5])}"
                               f"{' ...' if len(left) > 5 else ''}")

    shapes = dict((n, a.shape) for n, a in tensors)
    d, ff = cfg["hidden_size"], cfg["intermediate_size"]
    if shapes["token_embd.weight"] != (n_vocab, d):
        raise ConvertError(f"{st_path}: word embeddings {shapes['token_embd.weight']}, expected ({n_vocab}, {d})")
    if shapes["blk.0.ffn_up.weight"] != (ff, d):
        raise ConvertError(f"{st_path}: intermediate.dense {shapes['blk.0.ffn_up.weight']}, expected ({ff}, {d})")
    n_types = cfg.get("type_vocab_size", 1)

    outdir = os.path.dirname(os.path.abspath(out))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(out) + ".", suffix=".tmp", dir=outdir)
    os.close(fd)
    try:
        w = gguf.GGUFWriter(tmp, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT])
        if name:
            w.add_name(name)
        w.add_file_type(gguf.LlamaFileType.ALL_F32)
        w.add_block_count(n_layer)
        w.add_context_length(cfg["max_position_embeddings"])
        w.add_embedding_length(d)
        w.add_feed_forward_length(ff)
        w.add_head_count(cfg["num_attention_heads"])
        w.add_layer_norm_eps(float(cfg["layer_norm_eps"]))
        w.add_causal_attention(False)
        if pool is not None:
            w.add_pooling_type(pool)

        w.add_token_type_count(n_types)
        w.add_tokenizer_model("bert")
        w.add_tokenizer_pre("default")
        w.add_token_list(tokens)
        w.add_token_types(types)
        # special token ids and add-token flags as llama.cpp's converter finds them; this gguf
        # release has no writer for the CLS id, whose key (llama-arch.cpp) is written here
        special = gguf.SpecialVocab(hf, load_merges=False, n_vocab=n_vocab,
                                    special_token_types=("bos", "eos", "unk", "sep", "pad", "cls", "mask"))
        cls_id = special.special_token_ids.pop("cls", None)
        special.add_to_gguf(w, quiet=True)
        if cls_id is not None:
            w.add_uint32("tokenizer.ggml.cls_token_id", cls_id)
        if lowercase is not None:  # keys of llama-arch.cpp (LLM_KV_TOKENIZER_NORMALIZER_*)
            w.add_bool("tokenizer.ggml.normalizer.lowercase", lowercase)
            w.add_bool("tokenizer.ggml.normalizer.strip_accents", strip_accents)

        for tname, arr in tensors:
            w.add_tensor(tname, arr, raw_dtype=gguf.GGMLQuantizationType.F32)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return len(tensors), len(tokens), pool


def main(argv):
    ap = argparse.ArgumentParser(description="Hugging Face BERT folder -> llama.cpp GGUF (F32)")
    ap.add_argument("hf_dir")
    ap.add_argument("out")
    ap.add_argument("--name", default=None, help="general.name to record (default: none)")
    a = ap.parse_args(argv)
    try:
        n_t, n_v, pool = convert(a.hf_dir, a.out, a.name)
    except (ConvertError, OSError) as e:
        print(f"convert_bert: {e}", file=sys.stderr)
        return 1
    pool_name = {None: "none"}.get(pool, getattr(pool, "name", str(pool)).lower())
    print(f"convert_bert: wrote {a.out}: {n_t} tensors, {n_v} tokens, pooling {pool_name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
