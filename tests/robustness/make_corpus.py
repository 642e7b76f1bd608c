#!/usr/bin/env python3
"""Writes the robustness suite's corpus of malformed inputs (Python standard library only).

    make_corpus.py --out DIR --make-model LW_MAKE_MODEL --cli LATENTWIRE [--shared DIR]

The corpus is generated at test time into the build directory, not committed: its base
files come from this tree's own writers (the synthetic GGUF model of tests/support/
synth_model.c through lw-make-model, a bridge fitted by the CLI), so a change of format
or writer changes the corpus with it; it holds FIFOs and symlinks, which git does not keep
portably; and it costs about a second to write. Every file is derived deterministically
(fixed seeds), so a failing case is reproduced by running this script again.

What is written (names are the suite's case inputs, see run_robustness.py):
  models/     m.gguf (width 32), w.gguf (width 48, another vocabulary size) and GGUF copies
              that are truncated, bit-flipped, or whose header lies (counts, string lengths,
              tensor offsets, dims, types), or whose weights are NaN/Inf
  st/         activation files (F32 x + I64 row_id) valid, unaligned (valid), with duplicate
              row ids, NaN, 1e38, and copies whose safetensors header lies (length, offsets,
              dtype, shape), truncated, bit-flipped, empty
  bridge/     a bridge fitted by the CLI and copies that are truncated, lie in their record,
              hold NaN weights, bit-flipped
  text/       extract inputs: empty, blank, bad UTF-8, NUL bytes, an overlong line, an empty
              JSONL text, text the toy vocabulary cannot encode
  task/       channel/debate task files: valid and broken (bad JSON, missing field, duplicate
              id, NUL escape, bad UTF-8, unknown scorer, empty)
  hook/       hook vector text files: NaN, Inf, 1e38, wrong width, garbage, empty
  labels/     retrieval label:/hard: files covering only some queries, broken ones
  beir/       BEIR directories: valid, without qrels header, NaN/Inf scores, unknown ids, ...
  verbs/      MRPC files, paraphrase sets and passages (valid and broken), probe panel results
              (valid, of other settings, a long label, a file name that is not UTF-8) and a
              universality.json merged by the CLI with copies whose rows lie about the pairs
  special/    a FIFO, a directory, a symlink to /dev/zero
"""
import argparse
import json
import os
import random
import struct
import subprocess
import sys

N_ROWS = 12


# ------------------------------------------------------------------ safetensors ----

DTYPE_SIZE = {"F32": 4, "F64": 8, "F16": 2, "I64": 8, "I32": 4, "U8": 1}


def st_bytes(tensors, meta=None, pad=True, extra_header=None, header_override=None):
    """tensors: list of (name, dtype, shape, raw bytes). Returns a safetensors file.
    pad=False leaves the header unpadded (data then starts wherever the JSON ends)."""
    header, off = {}, 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    if meta:
        header["__metadata__"] = meta
    if extra_header:
        extra_header(header)
    text = header_override if header_override is not None else json.dumps(header).encode()
    if pad:
        text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(t[3] for t in tensors)


def f32(values):
    return struct.pack("<%df" % len(values), *values)


def i64(values):
    return struct.pack("<%dq" % len(values), *values)


def acts(width, seed, row_ids=None, fill=None):
    rng = random.Random(seed)
    vals = [rng.gauss(0, 1) for _ in range(N_ROWS * width)]
    if fill is not None:
        vals[width + 3] = fill
    ids = row_ids if row_ids is not None else list(range(N_ROWS))
    return [("x", "F32", [N_ROWS, width], f32(vals)), ("row_id", "I64", [N_ROWS], i64(ids))]


META = {"format": "latentwire.activations/1", "pool": "mean"}


def split_st(blob):
    n = struct.unpack_from("<Q", blob)[0]
    return n, json.loads(blob[8:8 + n]), blob[8 + n:]


def rebuild_st(blob, mutate):
    """Re-serializes blob's header after mutate(header) (data bytes kept)."""
    _, header, data = split_st(blob)
    mutate(header)
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text + data


def flip_bits(blob, seed, count, lo=0, hi=None):
    rng = random.Random(seed)
    b = bytearray(blob)
    hi = len(b) if hi is None else min(hi, len(b))
    for _ in range(count):
        p = rng.randrange(lo, hi)
        b[p] ^= 1 << rng.randrange(8)
    return bytes(b)


# ------------------------------------------------------------------------- GGUF ----

GGUF_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def gguf_layout(blob):
    """Offsets of the header fields a lie is written into: n_tensors, n_kv, the first key's
    length, and per tensor the positions of n_dims, dims, type, offset; the data start."""
    pos = 8
    n_tensors, n_kv = struct.unpack_from("<QQ", blob, pos)
    pos += 16
    first_key = pos
    alignment = 32

    def read_str(p):
        n = struct.unpack_from("<Q", blob, p)[0]
        return blob[p + 8:p + 8 + n].decode(), p + 8 + n

    def skip_value(t, p):
        if t in GGUF_SCALAR:
            return p + GGUF_SCALAR[t]
        if t == 8:
            return read_str(p)[1]
        if t == 9:
            et, n = struct.unpack_from("<IQ", blob, p)
            p += 12
            for _ in range(n):
                p = skip_value(et, p)
            return p
        raise ValueError("GGUF value type %d" % t)

    kv = {}
    for _ in range(n_kv):
        key, pos = read_str(pos)
        t = struct.unpack_from("<I", blob, pos)[0]
        kv[key] = (t, pos + 4)
        if key == "general.alignment":
            alignment = struct.unpack_from("<I", blob, pos + 4)[0]
        pos = skip_value(t, pos + 4)
    tensors = []
    for _ in range(n_tensors):
        name, pos = read_str(pos)
        nd = struct.unpack_from("<I", blob, pos)[0]
        info = {"name": name, "n_dims_at": pos, "dims_at": pos + 4, "n_dims": nd}
        pos += 4 + 8 * nd
        info["type_at"] = pos
        info["type"] = struct.unpack_from("<I", blob, pos)[0]
        info["offset_at"] = pos + 4
        info["offset"] = struct.unpack_from("<Q", blob, pos + 4)[0]
        info["dims"] = struct.unpack_from("<%dQ" % nd, blob, info["dims_at"])
        pos += 12
        tensors.append(info)
    data = pos + (-pos % alignment)
    return {"n_tensors_at": 8, "n_kv_at": 16, "first_key_at": first_key, "tensors": tensors, "data": data,
            "header_end": pos, "kv": kv}


def patch(blob, at, fmt, value):
    b = bytearray(blob)
    struct.pack_into(fmt, b, at, value)
    return bytes(b)


def write(path, data, mode="wb"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(data)


# ------------------------------------------------------------------------ corpus ----

def make_models(out, make_model):
    d = os.path.join(out, "models")
    os.makedirs(d, exist_ok=True)
    common = ["--layers", "2", "--heads", "4", "--kv-heads", "2", "--ctx", "256"]
    for name, extra in (("m.gguf", ["--vocab", "400", "--embd", "32", "--ff", "64", "--seed", "1"]),
                        ("w.gguf", ["--vocab", "420", "--embd", "48", "--ff", "96", "--seed", "2"])):
        subprocess.run([make_model, os.path.join(d, name)] + extra + common, check=True, stdout=subprocess.DEVNULL)
    blob = open(os.path.join(d, "m.gguf"), "rb").read()
    lay = gguf_layout(blob)
    t0 = lay["tensors"][0]
    f32_tensors = [t for t in lay["tensors"] if t["type"] == 0]
    norm = next(t for t in f32_tensors if t["name"].endswith("attn_norm.weight"))
    huge = 1 << 62
    variants = {
        "gg_empty": b"",
        "gg_trunc6": blob[:6],
        "gg_trunc200": blob[:200],
        "gg_trunc_header": blob[:lay["header_end"] - 5],
        "gg_trunc_half": blob[:len(blob) // 2],
        "gg_trunc_last": blob[:-1],
        "gg_text": b"this is not a model\n",
        "gg_magic": b"GGUX" + blob[4:],
        "gg_version": patch(blob, 4, "<I", 99),
        "gg_ntensors_huge": patch(blob, lay["n_tensors_at"], "<Q", huge),
        "gg_nkv_huge": patch(blob, lay["n_kv_at"], "<Q", huge),
        "gg_strlen_huge": patch(blob, lay["first_key_at"], "<Q", huge),
        "gg_offset_past_end": patch(blob, t0["offset_at"], "<Q", len(blob) * 4),
        "gg_offset_unaligned": patch(blob, t0["offset_at"], "<Q", t0["offset"] + 1),
        "gg_dims_huge": patch(blob, t0["dims_at"], "<Q", 1 << 40),
        "gg_dims_zero": patch(blob, t0["dims_at"], "<Q", 0),
        "gg_ndims_lie": patch(blob, t0["n_dims_at"], "<I", 9),
        "gg_type_lie": patch(blob, t0["type_at"], "<I", 999),
    }
    # metadata values llama.cpp asserts on (aborting) unless they are refused before it loads
    kv = lay["kv"]
    arch = "llama"
    variants["gg_blocks_zero"] = patch(blob, kv[arch + ".block_count"][1], "<I", 0)
    variants["gg_blocks_1000"] = patch(blob, kv[arch + ".block_count"][1], "<I", 1000)
    eps_at = kv[arch + ".attention.layer_norm_rms_epsilon"][1]
    variants["gg_eps_negative"] = patch(blob, eps_at, "<f", -1.0)
    variants["gg_eps_nan"] = patch(blob, eps_at, "<f", float("nan"))
    variants["gg_rope_nan"] = patch(blob, kv[arch + ".rope.freq_base"][1], "<f", float("nan"))
    tokens_at = kv["tokenizer.ggml.tokens"][1]
    dup_at = blob.index(b"<0x2C>", tokens_at)  # the byte token for "," renamed to the one for 0x0C
    variants["gg_dup_token"] = blob[:dup_at] + b"<0x0C>" + blob[dup_at + 6:]
    for k in range(4):
        variants["gg_flip%d" % k] = flip_bits(blob, 100 + k, 3, 24, lay["header_end"])
    nan_pos = lay["data"] + norm["offset"]
    variants["gg_nan_weights"] = blob[:nan_pos] + f32([float("nan")] * 4) + blob[nan_pos + 16:]
    variants["gg_inf_weights"] = blob[:nan_pos] + f32([float("inf")] * 4) + blob[nan_pos + 16:]
    for name, data in variants.items():
        write(os.path.join(d, name + ".gguf"), data)


def make_safetensors(out):
    d = os.path.join(out, "st")
    good = st_bytes(acts(32, 1), META)
    files = {
        "a": good,
        "b": st_bytes([("y", "F32", [N_ROWS, 48], acts(48, 2)[0][3]), acts(48, 2)[1]], META),
        "dup_rows": st_bytes(acts(32, 3, row_ids=[i // 2 for i in range(N_ROWS)]), META),
        "nan": st_bytes(acts(32, 4, fill=float("nan")), META),
        "inf": st_bytes(acts(32, 4, fill=float("inf")), META),
        "big": st_bytes([("x", "F32", [1, 32], f32([1e38] * 32))]),
        # valid files whose tensor data is not 4/8-byte aligned (MLX writes such files)
        "unaligned": st_bytes(acts(32, 5), META, pad=False,
                              header_override=(json.dumps({"x": {"dtype": "F32", "shape": [N_ROWS, 32],
                                                                  "data_offsets": [0, N_ROWS * 128]},
                                                            "row_id": {"dtype": "I64", "shape": [N_ROWS],
                                                                       "data_offsets": [N_ROWS * 128,
                                                                                        N_ROWS * 136]}})
                                               + "   ").encode()),
        "u8_first": st_bytes([("flag", "U8", [3], b"\x01\x02\x03")] + acts(32, 6), META),
        "empty": b"",
        "len4": good[:4],
        "trunc_header": good[:8 + 20],
        "trunc_data": good[:-1],
        "hlen_huge": patch(good, 0, "<Q", 1 << 62),
        "hlen_past_end": patch(good, 0, "<Q", len(good)),
        "hlen_zero": patch(good, 0, "<Q", 0),
        "offsets_past_end": rebuild_st(good, lambda h: h["x"].__setitem__("data_offsets", [0, 10 ** 9])),
        "offsets_reversed": rebuild_st(good, lambda h: h["x"].__setitem__("data_offsets", [64, 0])),
        "offsets_overlap": rebuild_st(good, lambda h: h["row_id"].__setitem__(
            "data_offsets", [0, N_ROWS * 8])),
        "dtype_unknown": rebuild_st(good, lambda h: h["x"].__setitem__("dtype", "F99")),
        "dtype_lie": rebuild_st(good, lambda h: h["x"].__setitem__("dtype", "F64")),
        "shape_lie": rebuild_st(good, lambda h: h["x"].__setitem__("shape", [N_ROWS + 1, 32])),
        "shape_negative": rebuild_st(good, lambda h: h["x"].__setitem__("shape", [-N_ROWS, -32])),
        "shape_overflow": rebuild_st(good, lambda h: h["x"].__setitem__("shape", [1 << 62, 1 << 62])),
        "shape_string": rebuild_st(good, lambda h: h["x"].__setitem__("shape", "12x32")),
        "header_not_json": st_bytes(acts(32, 1), header_override=b"{not json at all"),
        "header_array": st_bytes(acts(32, 1), header_override=b"[1, 2, 3]"),
        "header_bad_utf8": st_bytes(acts(32, 1), header_override=json.dumps(
            {"x": {"dtype": "F32", "shape": [N_ROWS, 32], "data_offsets": [0, N_ROWS * 128]}}).encode()
            .replace(b'"x"', b'"\xff\xfe"')),
        "header_nul": st_bytes(acts(32, 1), header_override=json.dumps(
            {"x": {"dtype": "F32", "shape": [N_ROWS, 32], "data_offsets": [0, N_ROWS * 128]}}).encode()
            .replace(b'"F32"', b'"F3\x002"')),
        "dup_names": st_bytes(acts(32, 1), header_override=(
            b'{"x": {"dtype": "F32", "shape": [12, 32], "data_offsets": [0, 1536]},'
            b' "x": {"dtype": "I64", "shape": [12], "data_offsets": [1536, 1632]}}')),
        "row_id_f32": st_bytes([acts(32, 1)[0], ("row_id", "F32", [N_ROWS], f32([0.0] * N_ROWS))], META),
        "no_row_id": st_bytes([acts(32, 1)[0]], META),
        "vector_3d": st_bytes([("x", "F32", [1, 1, 32], f32([0.5] * 32))]),
    }
    for k in range(3):
        files["flip%d" % k] = flip_bits(good, 200 + k, 4, 8, 8 + split_st(good)[0])
    for name, data in files.items():
        write(os.path.join(d, name + ".safetensors"), data)


def make_bridges(out, cli):
    d = os.path.join(out, "bridge")
    os.makedirs(d, exist_ok=True)
    st = os.path.join(out, "st")
    good_path = os.path.join(d, "good.safetensors")
    for path, src, st_, tgt, tt in ((good_path, "a", "x", "b", "y"),
                                    (os.path.join(d, "wide.safetensors"), "b", "y", "a", "x")):
        subprocess.run([cli, "bridge", "fit", "--source", os.path.join(st, src + ".safetensors"), "--source-tensor", st_,
                        "--target", os.path.join(st, tgt + ".safetensors"), "--target-tensor", tt, "--out", path,
                        "--alpha", "1"], check=True, stdout=subprocess.DEVNULL)
    good = open(good_path, "rb").read()
    hlen, header, data = split_st(good)

    def record(mutate):
        def m(h):
            rec = json.loads(h["__metadata__"]["latentwire"])
            mutate(rec)
            h["__metadata__"]["latentwire"] = json.dumps(rec)
        return rebuild_st(good, m)

    first = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])[0]
    nan_at = 8 + hlen + header[first]["data_offsets"][0]
    files = {
        "trunc": good[:len(good) * 2 // 3],
        "hlen_lie": patch(good, 0, "<Q", hlen + 8),
        "record_recipe": record(lambda r: r.__setitem__("recipe", "magic")),
        "record_dims": record(lambda r: r.__setitem__("source_dim", r["source_dim"] + 1)),
        "record_missing": rebuild_st(good, lambda h: h["__metadata__"].pop("latentwire")),
        "record_not_json": rebuild_st(good, lambda h: h["__metadata__"].__setitem__("latentwire", "{oops")),
        "nan_weights": good[:nan_at] + f32([float("nan")]) + good[nan_at + 4:],
        "flip0": flip_bits(good, 300, 4, 8, 8 + hlen),
    }
    for name, blob in files.items():
        write(os.path.join(d, name + ".safetensors"), blob)


def make_text(out):
    d = os.path.join(out, "text")
    files = {
        "ok.txt": b"Once upon a time.\nThe cat sat.\n",
        "empty.txt": b"",
        "blank.txt": b"\n   \n\t\n",
        "bad_utf8.txt": b"Once \xff\xfe upon \xc3 a time.\n",
        "nul.txt": b"Once upon\x00 a time.\n",
        "overlong.txt": b"a" * (3 << 20) + b"\n",
        "empty_text.jsonl": b'{"text": "fine"}\n{"text": ""}\n',
        "bad.jsonl": b'{"text": "fine"}\n{"text": \n',
        "no_field.jsonl": b'{"body": "fine"}\n',
        "number.jsonl": b'{"text": 1e400}\n',
        "untokenizable.txt": b"&&&\n& & &\n",
        "many.txt": b"".join(b"Once upon a time there was a cat number %d.\n" % i for i in range(20000)),
    }
    for name, data in files.items():
        write(os.path.join(d, name), data)


def task_line(**kw):
    item = {"id": "a1", "sender": "The cat sat on the mat.", "receiver": "Where did the cat sit?", "gold": "mat",
            "scorer": "contains"}
    item.update(kw)
    return json.dumps(item).encode() + b"\n"


def make_tasks(out):
    d = os.path.join(out, "task")
    ok = task_line() + task_line(id="a2", sender="", receiver="2+2=", gold="4", scorer="numeric")
    files = {
        "ok.jsonl": ok,
        # a race fits its codecs on at least 2 calibration items and reports on the others
        "three.jsonl": ok + task_line(id="a3", sender="A dog ran in the park.", receiver="Where did the dog run?",
                                      gold="park"),
        "one.jsonl": task_line(),
        "empty.jsonl": b"",
        "bad_json.jsonl": task_line() + b'{"id": "a2", "sender": \n',
        "missing_gold.jsonl": b'{"id": "a1", "sender": "", "receiver": "q", "scorer": "exact"}\n',
        "dup_id.jsonl": task_line() + task_line(),
        "nul.jsonl": task_line(gold="m\u0000t"),
        "bad_utf8.jsonl": task_line().replace(b"mat", b"m\xffat"),
        "unknown_scorer.jsonl": task_line(scorer="fuzzy"),
        "gold_number.jsonl": task_line().replace(b'"gold": "mat"', b'"gold": 1e400'),
    }
    for name, data in files.items():
        write(os.path.join(d, name), data)


def make_hooks(out):
    d = os.path.join(out, "hook")
    row = lambda v: (" ".join([v] * 32) + "\n").encode()
    files = {
        "ok.txt": row("0.5"),
        "nan.txt": row("0.5").replace(b"0.5", b"nan", 1),
        "inf.txt": row("0.5").replace(b"0.5", b"inf", 1),
        "big.txt": row("1e38"),
        "short.txt": (" ".join(["0.5"] * 31) + "\n").encode(),
        "garbage.txt": b"zero point five\n",
        "empty.txt": b"",
        "bad_utf8.txt": row("0.5").replace(b"0.5", b"0.\xff5", 1),
    }
    for name, data in files.items():
        write(os.path.join(d, name), data)


def make_labels(out):
    d = os.path.join(out, "labels")
    lab = lambda ids: b"".join(json.dumps({"row_id": i, "label": i % 3}).encode() + b"\n" for i in ids)
    hard = lambda ids: b"".join(json.dumps({"row_id": i, "negatives": [(i + 1) % N_ROWS, (i + 2) % N_ROWS]}).encode()
                                + b"\n" for i in ids)
    files = {
        "label_all.jsonl": lab(range(N_ROWS)),
        "label_some.jsonl": lab(range(4)),
        "hard_some.jsonl": hard(range(4)),
        "label_empty.jsonl": b"",
        "label_bad.jsonl": b'{"row_id": 0, "label": \n',
        "hard_unknown_row.jsonl": hard(range(N_ROWS)).replace(b'"negatives": [1,', b'"negatives": [99999,'),
    }
    for name, data in files.items():
        write(os.path.join(d, name), data)


def make_beir(out):
    corpus = b"".join(json.dumps({"_id": "d%d" % i, "title": "T%d" % i, "text": "Once upon a time %d." % i}).encode()
                      + b"\n" for i in range(6))
    queries = b"".join(json.dumps({"_id": "q%d" % i, "text": "a time %d" % i}).encode() + b"\n" for i in range(3))
    header = b"query-id\tcorpus-id\tscore\n"
    qrels = b"q0\td0\t1\nq1\td1\t2\nq2\td2\t1\n"
    dirs = {
        "ok": (corpus, queries, header + qrels),
        "no_header": (corpus, queries, qrels),
        "score_nan": (corpus, queries, header + qrels.replace(b"d1\t2", b"d1\tnan")),
        "score_inf": (corpus, queries, header + qrels.replace(b"d1\t2", b"d1\t1e39")),
        "unknown_doc": (corpus, queries, header + qrels.replace(b"d1", b"d99")),
        "bad_corpus": (corpus + b'{"_id": "d9", "text": \n', queries, header + qrels),
        "empty_corpus": (b"", queries, header + qrels),
        "no_qrels": (corpus, queries, None),
        "none_judged": (corpus, queries, header),
        "bad_utf8": (corpus.replace(b"Once", b"On\xffce"), queries, header + qrels),
    }
    for name, (c, q, r) in dirs.items():
        d = os.path.join(out, "beir", name)
        write(os.path.join(d, "corpus.jsonl"), c)
        write(os.path.join(d, "queries.jsonl"), q)
        os.makedirs(os.path.join(d, "qrels"), exist_ok=True)
        if r is not None:
            write(os.path.join(d, "qrels", "test.tsv"), r)


def probes_doc(mean, a="m.gguf", seed=1):
    """A probe panel result (latentwire.panel.probes/1) with what lw_probe_merge reads."""
    return {"format": "latentwire.panel.probes/1", "params": {"seed": seed, "n_combos": 160},
            "settings": {"a": a, "b": "w.gguf", "layer_a": 0, "layer_b": 1, "bridge": "a2b.safetensors"},
            "pair": {"bridge": "ridge"},
            "stats": [{"probe": "chaining", "name": "cos_after_round_trip",
                       "ci": {"mean": mean, "lo": mean - 0.1, "hi": mean + 0.1, "n": 10}}]}


# a file name that is not UTF-8 (as a str argument: Python's surrogate escape gives the bytes back)
NON_UTF8 = os.fsdecode(b"run\xff.json")


def make_verbs(out, cli):
    """Inputs of scan, panel probes merge, report, paraphrase and race retrieval."""
    d = os.path.join(out, "verbs")
    words = ("the cat sat on the warm mat near the door", "a dog ran across the green park after the ball",
             "she read the long letter twice before she slept", "rain fell on the old town all through the night",
             "the market opened early and closed late on friday", "he painted the small boat a bright blue colour",
             "our train left the station ten minutes behind time", "the children built a tall tower out of sand")
    header = b"Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    rows = b"".join(b"1\t%d\t%d\t%s.\t%s again.\n" % (100 + i, 200 + i, w.capitalize().encode(), w.encode())
                    for i, w in enumerate(words))
    files = {
        "mrpc.txt": header + rows,
        "mrpc_header_only.txt": header,
        "mrpc_no_positive.txt": header + rows.replace(b"1\t", b"0\t"),
        "mrpc_short_line.txt": header + b"1\t100\n" + rows,
        "passages.txt": b"".join(w.encode() + b".\n" for w in words),
        "passages_few.txt": b"one passage here.\nanother passage there.\n",
    }

    def para_line(r, mid, target, paras, first):
        return json.dumps({"row_id": r, "mrpc_id": mid, "target": target, "paraphrases": paras,
                           "negatives": list(range(first, first + len(paras)))})

    def para(a, b):
        return (para_line(0, a[0], a[1], a[2], 2) + "\n" + para_line(1, b[0], b[1], b[2], 2 + len(a[2])) + "\n").encode()

    A, B = ("100", "The cat sat.", ["A cat was sitting."]), ("101", "The dog ran.", ["A dog was running."])
    ok = para(A, B)
    files.update({
        "para_ok.jsonl": ok,
        "para_row_id.jsonl": ok.replace(b'"row_id": 1', b'"row_id": 5', 1),
        "para_negatives.jsonl": ok.replace(b'"negatives": [3]', b'"negatives": [0]', 1),
        "para_blank_line.jsonl": ok.replace(b"\n", b"\n\n", 1),
        "para_is_target.jsonl": para(("100", "The cat sat.", ["The cat sat."]), B),
        "para_nul.jsonl": ok.replace(b"cat sat", b"cat\x00sat", 1),
        "para_not_json.jsonl": ok[:40] + b"\n",
        "para_no_paraphrases.jsonl": ok.replace(b'"paraphrases": ["A cat was sitting."]', b'"paraphrases": "x"', 1),
    })
    for name, data in files.items():
        write(os.path.join(d, name), data)
    pr = os.path.join(d, "probes")
    for name, doc in (("r1/probes.json", probes_doc(0.5)), ("r2/probes.json", probes_doc(0.7)),
                      ("seed2.json", probes_doc(0.6, seed=2)), ("long_label.json", probes_doc(0.6, a="\u00e9" * 600)),
                      ("other_format.json", dict(probes_doc(0.6), format="latentwire.panel/1")),
                      (NON_UTF8, probes_doc(0.9))):
        write(os.path.join(pr, name), json.dumps(doc).encode())
    write(os.path.join(pr, "not_json.json"), b'{"format": "latentwire.panel.probes/1", ')
    # a universality.json written by the CLI, and copies whose rows lie about the pairs
    univ = os.path.join(d, "univ")
    subprocess.run([cli, "panel", "probes", "merge", "--out", univ, os.path.join(pr, "r1"), os.path.join(pr, "r2")],
                   check=True, stdout=subprocess.DEVNULL)
    u = json.load(open(os.path.join(univ, "universality.json")))

    def lie(name, mutate):
        v = json.loads(json.dumps(u))
        mutate(v)
        write(os.path.join(d, name), json.dumps(v).encode())

    lie("univ_pair_unknown.json", lambda v: v["stats"][0]["rows"][1].__setitem__("pair", 7))
    lie("univ_pair_twice.json", lambda v: v["stats"][0].__setitem__("rows", v["stats"][0]["rows"] * 2))
    lie("univ_no_pairs.json", lambda v: v.__setitem__("pairs", []))
    lie("univ_pair_negative.json", lambda v: v["stats"][0]["rows"][1].__setitem__("pair", -1))


def make_special(out):
    d = os.path.join(out, "special")
    os.makedirs(os.path.join(d, "a_directory"), exist_ok=True)
    os.mkfifo(os.path.join(d, "fifo"))
    os.symlink("/dev/zero", os.path.join(d, "zero_link"))


def build(out, make_model, cli):
    if os.path.exists(out):
        subprocess.run(["rm", "-rf", out], check=True)
    os.makedirs(out)
    make_models(out, make_model)
    make_safetensors(out)
    make_bridges(out, cli)
    make_text(out)
    make_tasks(out)
    make_hooks(out)
    make_labels(out)
    make_beir(out)
    make_verbs(out, cli)
    make_special(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--make-model", required=True)
    ap.add_argument("--cli", required=True)
    a = ap.parse_args()
    build(a.out, a.make_model, a.cli)
    print("corpus written to", a.out)


if __name__ == "__main__":
    sys.exit(main())
