#!/usr/bin/env python3
"""Independent check of all-MiniLM-L6-v2 as converted to GGUF and run by latentwire.

    ref_minilm.py --cli PATH/latentwire [--model M.gguf] [--hf HF_DIR] [--tmp DIR]

1. The GGUF header says what the Hugging Face folder says (bert, mean pooling, non-causal,
   layer-norm eps, sizes, vocabulary).
2. Token ids: the HF `tokenizers` package on the model's own tokenizer.json (no truncation, no
   padding) against `latentwire tokenize` on the GGUF, for ~20 varied sentences.
3. Embeddings: a plain numpy float64 BERT forward from model.safetensors (word + position +
   token-type embeddings, LayerNorm, multi-head attention, GELU, mean pooling over the
   attention mask of a padded batch, L2 normalization as sentence-transformers' Normalize
   module does) against `latentwire extract --pool model`, normalized the same way, twice:
   - with Hugging Face's exact erf GELU (the model as trained): max abs error <= 1e-3
     (ERF_TOL), cosine >= 0.9999 per sentence;
   - with the GELU llama.cpp's bert graph computes (ggml_gelu on the CPU: the tanh
     approximation read from a table indexed by the fp16-rounded input, its value fp16):
     max abs error <= 1e-4 (ABS_TOL).
   The first gap (about 5e-4) is that GELU alone: with it emulated the error falls to about
   7e-5, float32 accumulation. Mean pooling is what both compare: [CLS] pooling, or a
   layer-norm eps of 1e-5 instead of 1e-12 (2e-4 on the outputs), exceed ABS_TOL; the header
   check (1.) compares the eps exactly.
4. An empty (whitespace-only) text is an error naming its line.
Started by ctest with any python3: it re-executes itself with the Python of the environment
scripts/fetch_models.py creates (scripts/requirements.txt), and exits 77 (skip, saying why)
when that environment or the fetched model is absent.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIP = 77
ABS_TOL = 1e-4   # against the reference with llama.cpp's GELU
ERF_TOL = 1e-3   # against the reference with the exact erf GELU
MODEL = "all-minilm-l6-v2"

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world!",
    "Café, naïve, résumé, Zürich and São Paulo.",
    "In 2023, revenue grew 14.7% to $3,250,000 (up from 2,831,004).",
    "Antidisestablishmentarianism and pneumonoultramicroscopicsilicovolcanoconiosis are long words.",
    "ok",
    "?",
    "Don't stop-believing: it's (mostly) fine; right?!",
    "E = mc^2, and 1/3 is about 0.333...",
    "   leading and trailing spaces   ",
    "Tabs\tand\nnewlines inside one text.",
    "UPPER CASE and MiXeD cAsE words",
    "Write to someone@example.com or visit https://example.org/path?q=1&r=2.",
    "Straße, Ωmega and Ünïcödé letters.",
    "中文字符 and 日本語 mixed with English.",
    "Emoji 🙂 are not in this vocabulary.",
    "Scientific claim: BRCA1 mutations increase breast-cancer risk by 45–65% [12].",
    "x",
    "The mitochondria is the powerhouse of the cell, " * 12 + "as every biology student learns.",
    "Vitamin D supplementation did not reduce the incidence of fractures in older adults "
    "(hazard ratio, 0.98; 95% CI, 0.89 to 1.08).",
]


def skip(why):
    print(f"SKIP: {why}", flush=True)
    sys.exit(SKIP)


def fail(why):
    print(f"FAIL: {why}", flush=True)
    sys.exit(1)


def locate():
    """(cache root, venv python) the way scripts/fetch_models.py computes them."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import fetch_models  # standard library only
    root = fetch_models.cache_root()
    key = fetch_models.sha256_file(os.path.join(ROOT, "scripts", "requirements.txt"))[:12]
    venv = os.path.join(root, f"venv-{key}")
    py = os.path.join(venv, "bin", "python")
    return root, venv, py if os.path.isfile(os.path.join(venv, ".complete")) else None


def reexec_in_venv():
    root, venv, py = locate()
    if os.path.realpath(sys.prefix) == os.path.realpath(venv):
        return root
    if not py:
        skip(f"the Python environment {venv} is absent (scripts/requirements.txt changed or never built); "
             f"run python3 scripts/fetch_models.py {MODEL}")
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


# ---------------------------------------------------------------- numpy reference

def load_weights(hf):
    from safetensors.numpy import load_file
    w = load_file(os.path.join(hf, "model.safetensors"))
    return {k: v.astype("float64") for k, v in w.items() if k != "embeddings.position_ids"}


def layer_norm(x, g, b, eps):
    import numpy as np
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def gelu_erf(x):
    """Hugging Face's "gelu": x * Phi(x) with the exact erf."""
    import numpy as np
    erf = np.frompyfunc(math.erf, 1, 1)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)).astype("float64"))


def gelu_ggml(x):
    """ggml_gelu on the CPU (ggml-cpu/vec.h, GGML_GELU_FP16): the tanh approximation looked up
    in a table indexed by the fp16-rounded input, the stored value fp16; identity above 10,
    zero below -10."""
    import numpy as np
    h = x.astype(np.float16).astype(np.float64)
    y = (0.5 * h * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * h * (1.0 + 0.044715 * h * h))))
    y = y.astype(np.float16).astype(np.float64)
    return np.where(x <= -10.0, 0.0, np.where(x >= 10.0, x, y))


def bert_forward(w, cfg, ids, mask, gelu):
    """ids, mask: (B, T) int; returns the last hidden state (B, T, d), float64."""
    import numpy as np
    B, T = ids.shape
    d, H, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    hd = d // H
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:T][None]
         + w["embeddings.token_type_embeddings.weight"][0][None, None])
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e30)  # padded keys get no attention
    valid = mask > 0
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def lin(name, v):  # one 2-D product (BLAS) for the whole batch
            W = w[p + name + ".weight"]
            return (v.reshape(-1, v.shape[-1]) @ W.T).reshape(v.shape[:-1] + (W.shape[0],)) + w[p + name + ".bias"]

        def heads(v):  # (B, H, T, hd), contiguous so that the batched products use BLAS
            return np.ascontiguousarray(v.reshape(B, T, H, hd).transpose(0, 2, 1, 3))

        q, k, v = (heads(lin(f"attention.self.{n}", x)) for n in ("query", "key", "value"))
        s = q @ np.ascontiguousarray(k.transpose(0, 1, 3, 2)) / math.sqrt(hd) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        a = s / s.sum(-1, keepdims=True)
        ctx = (a @ v).transpose(0, 2, 1, 3).reshape(B, T, d)
        h = layer_norm(lin("attention.output.dense", ctx) + x, w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"], eps)
        pre = lin("intermediate.dense", h)
        act = np.zeros_like(pre)
        act[valid] = gelu(pre[valid])  # padded rows are never attended to nor pooled
        f = lin("output.dense", act)
        x = layer_norm(f + h, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    return x


def reference_embeddings(hf, id_lists, gelu):
    import numpy as np
    cfg = json.load(open(os.path.join(hf, "config.json")))
    pool = json.load(open(os.path.join(hf, "1_Pooling", "config.json")))
    if not pool.get("pooling_mode_mean_tokens"):
        fail(f"{hf}: the reference implements mean pooling only")
    w = load_weights(hf)
    T = max(len(x) for x in id_lists)
    ids = np.zeros((len(id_lists), T), dtype=np.int64)  # [PAD] = 0
    mask = np.zeros((len(id_lists), T), dtype=np.int64)
    for i, x in enumerate(id_lists):
        ids[i, :len(x)] = x
        mask[i, :len(x)] = 1
    hidden = bert_forward(w, cfg, ids, mask, gelu)
    m = mask[..., None].astype("float64")
    pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)  # sentence-transformers Pooling
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)  # Normalize module


# ---------------------------------------------------------------- checks

def check_header(gguf_path, hf, n_vocab_expected):
    import gguf
    import numpy as np
    cfg = json.load(open(os.path.join(hf, "config.json")))
    r = gguf.GGUFReader(gguf_path)

    def val(key):
        f = r.fields.get(key)
        if f is None:
            fail(f"{gguf_path}: no key {key}")
        return f.contents()

    arch = val("general.architecture")
    n_tokens = len(val("tokenizer.ggml.tokens"))
    want = {
        "general.architecture": "bert",
        "bert.block_count": cfg["num_hidden_layers"],
        "bert.embedding_length": cfg["hidden_size"],
        "bert.feed_forward_length": cfg["intermediate_size"],
        "bert.attention.head_count": cfg["num_attention_heads"],
        "bert.context_length": cfg["max_position_embeddings"],
        "bert.attention.causal": False,
        "bert.pooling_type": int(gguf.PoolingType.MEAN),
        "tokenizer.ggml.model": "bert",
        "tokenizer.ggml.token_type_count": cfg["type_vocab_size"],
    }
    for k, v in want.items():
        if val(k) != v:
            fail(f"{gguf_path}: {k} = {val(k)!r}, the Hugging Face folder says {v!r}")
    eps = val("bert.attention.layer_norm_epsilon")
    if eps != float(np.float32(cfg["layer_norm_eps"])):
        fail(f"{gguf_path}: layer-norm eps {eps!r}, config.json says {cfg['layer_norm_eps']!r}")
    if n_tokens != n_vocab_expected:
        fail(f"{gguf_path}: {n_tokens} tokens, tokenizer.json has {n_vocab_expected}")
    print(f"header: arch {arch}, {len(r.tensors)} tensors, vocabulary {n_tokens}, pooling mean, eps {eps:g}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--model")
    ap.add_argument("--hf")
    ap.add_argument("--tmp")
    a = ap.parse_args()
    root = reexec_in_venv()
    import numpy as np
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    gguf_path = a.model or os.path.join(root, "models", f"{MODEL}.gguf")
    hf = a.hf or os.path.join(root, "models", f"{MODEL}.hf")
    if not os.path.isfile(gguf_path) or not os.path.isdir(hf):
        skip(f"{gguf_path} or {hf} is absent; run python3 scripts/fetch_models.py {MODEL}")
    if not os.access(a.cli, os.X_OK):
        fail(f"{a.cli}: not an executable")

    tok = Tokenizer.from_file(os.path.join(hf, "tokenizer.json"))
    tok.no_truncation()  # the file truncates at 128 and pads to 128: off, as for one sentence
    tok.no_padding()
    check_header(gguf_path, hf, tok.get_vocab_size(with_added_tokens=True))

    # 2. token ids
    hf_ids = []
    for i, text in enumerate(SENTENCES):
        want = tok.encode(text).ids
        rc, out, err = run([a.cli, "tokenize", gguf_path, text])
        if rc != 0:
            fail(f"latentwire tokenize failed on sentence {i} ({text!r}): {err.strip()}")
        got = [int(x) for x in out.splitlines()[0].split()]
        if got != want:
            fail(f"sentence {i} ({text!r}): latentwire tokenizes {got}, tokenizers gives {want}")
        hf_ids.append(want)
    print(f"tokens: {len(SENTENCES)} sentences, {sum(map(len, hf_ids))} tokens, identical ids")

    # 3. embeddings
    if a.tmp:
        os.makedirs(a.tmp, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="ref_minilm.", dir=a.tmp)
    inp = os.path.join(tmp, "sentences.jsonl")
    with open(inp, "w", encoding="utf-8") as f:
        for text in SENTENCES:
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    out = os.path.join(tmp, "pooled.safetensors")
    rc, _, err = run([a.cli, "extract", "--model", gguf_path, "--pool", "model", "--input", inp, "--out", out,
                      "--batch", "4"])
    if rc != 0:
        fail(f"latentwire extract --pool model failed: {err.strip()}")
    acts = load_file(out)
    got = acts["pooled"].astype("float64")
    if got.shape != (len(SENTENCES), 384) or list(acts["row_id"]) != list(range(len(SENTENCES))):
        fail(f"{out}: pooled has shape {got.shape}, row ids {list(acts['row_id'])}")
    got /= np.linalg.norm(got, axis=1, keepdims=True)
    for label, gelu, tol in (("exact-erf GELU", gelu_erf, ERF_TOL), ("llama.cpp's GELU", gelu_ggml, ABS_TOL)):
        ref = reference_embeddings(hf, hf_ids, gelu)
        err_abs = np.abs(got - ref)
        worst = int(err_abs.max(1).argmax())
        cos = (got * ref).sum(1)
        print(f"embeddings vs the reference with {label}: max abs error {err_abs.max():.3e} (sentence {worst}), "
              f"mean abs error {err_abs.mean():.3e}, min cosine {cos.min():.8f}, tolerance {tol:g}")
        if not err_abs.max() <= tol or not cos.min() >= 0.9999:
            fail(f"sentence {worst} ({SENTENCES[worst][:60]!r}): max abs error {err_abs.max():.3e} > {tol:g} "
                 f"or cosine {cos.min():.6f} < 0.9999 ({label})")

    # 4. an empty text is an error naming its line
    bad = os.path.join(tmp, "empty.jsonl")
    with open(bad, "w") as f:
        f.write(json.dumps({"text": "fine"}) + "\n" + json.dumps({"text": "   "}) + "\n")
    rc, _, err = run([a.cli, "extract", "--model", gguf_path, "--pool", "model", "--input", bad, "--out",
                      os.path.join(tmp, "empty.safetensors")])
    if rc == 0 or ":2:" not in err:
        fail(f"a whitespace-only text should be an error naming line 2 (exit {rc}: {err.strip()})")
    for p in (inp, out, bad):
        os.remove(p)
    os.rmdir(tmp)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
