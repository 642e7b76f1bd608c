#!/usr/bin/env python3
"""Why does a mean-pooled residual substrate retrieve nothing on SciFact? A diagnosis, not a result.

Reads the embeddings `latentwire retrieval --beir ... --cache DIR` left in DIR (queries-*.safetensors and
corpus-*.safetensors, latentwire.activations/1) and scores NDCG@10 after each of a fixed list of
label-free transforms of the vectors (raw cosine, centring, z-scoring, dropping top principal
components, whitening; statistics from the corpus, or from each side's own vectors).

Honest selection: the test queries are split in two halves by a seeded permutation; the transform is
chosen on the selection half and reported on the other, with a percentile bootstrap interval (n = the
held-out half). Every transform's numbers on both halves are printed too, marked as such.

Usage: substrate_probe.py CACHE_DIR BEIR_DIR [--split test] [--seed 1] [--json OUT.json]
numpy only (the venv scripts/fetch-models.sh makes has it); no PyTorch.
"""
import argparse
import glob
import json
import os
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "I64": np.int64, "F16": np.float16, "F64": np.float64}


def read_shards(pattern):
    vecs, rows = [], []
    paths = sorted(glob.glob(pattern))
    if not paths:
        sys.exit(f"substrate_probe: no files match {pattern}: run latentwire retrieval --beir ... --cache first")
    for path in paths:
        data = open(path, "rb").read()
        n = struct.unpack("<Q", data[:8])[0]
        head = json.loads(data[8:8 + n])
        for name, t in head.items():
            if name == "__metadata__":
                continue
            a, b = t["data_offsets"]
            arr = np.frombuffer(data[8 + n + a:8 + n + b], dtype=DTYPES[t["dtype"]]).reshape(t["shape"])
            if name.startswith("layer.") or name == "pooled":
                vecs.append(arr.astype(np.float64))
            elif name == "row_id":
                rows.append(arr)
    if len(vecs) != len(paths) or len(rows) != len(paths):
        sys.exit(f"substrate_probe: {pattern}: each shard needs one vector tensor and row_id")
    return np.concatenate(vecs), np.concatenate(rows)


def read_beir(beir, split):
    ids = lambda f: [json.loads(line)["_id"] for line in open(os.path.join(beir, f)) if line.strip()]
    corpus, queries = ids("corpus.jsonl"), ids("queries.jsonl")
    qrels = {}
    with open(os.path.join(beir, "qrels", f"{split}.tsv")) as f:
        next(f)
        for line in f:
            q, d, s = line.rstrip("\n").split("\t")
            if float(s) > 0:
                qrels.setdefault(q, {})[d] = float(s)
    return corpus, queries, qrels


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def ndcg10(Q, C, rel):
    """Per-query NDCG@10 (linear gain, as trec_eval / BEIR) by cosine; rel[j] = {corpus row: grade}."""
    S = unit(Q) @ unit(C).T
    out = np.empty(len(Q))
    for j in range(len(Q)):
        top = np.argsort(-S[j], kind="stable")[:10]
        dcg = sum(rel[j].get(int(c), 0) / np.log2(r + 2) for r, c in enumerate(top))
        ideal = sorted(rel[j].values(), reverse=True)[:10]
        out[j] = dcg / sum(g / np.log2(r + 2) for r, g in enumerate(ideal))
    return out


def transforms(Q, C):
    """The fixed list: name -> (Q', C'). Statistics never use labels."""
    mu, sd = C.mean(0), C.std(0) + 1e-6
    muq, sdq = Q.mean(0), Q.std(0) + 1e-6
    _, S, Vt = np.linalg.svd(C - mu, full_matrices=False)
    out = {"raw": (Q, C), "center (corpus mean)": (Q - mu, C - mu),
           "z-score (corpus statistics)": ((Q - mu) / sd, (C - mu) / sd)}
    for r in (1, 2, 5, 10):
        P = Vt[r:].T
        out[f"drop top {r} corpus PCs"] = ((Q - mu) @ P, (C - mu) @ P)
    W = Vt.T / (S / np.sqrt(len(C)))
    out["whiten (corpus PCA)"] = ((Q - mu) @ W, (C - mu) @ W)
    out["center each side (own mean)"] = (Q - muq, C - mu)
    out["z-score each side (own statistics)"] = ((Q - muq) / sdq, (C - mu) / sd)
    return out


def bootstrap(v, seed, n=10000):
    r = np.random.default_rng(seed)
    means = v[r.integers(0, len(v), (n, len(v)))].mean(1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cache")
    ap.add_argument("beir")
    ap.add_argument("--split", default="test")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args()
    C, crow = read_shards(os.path.join(a.cache, "corpus-*.safetensors"))
    Q, qrow = read_shards(os.path.join(a.cache, "queries-*.safetensors"))
    corpus, queries, qrels = read_beir(a.beir, a.split)
    judged = [q for q in queries if q in qrels]  # the cache's query rows index the judged queries in file order
    cpos = {corpus[r]: i for i, r in enumerate(crow)}
    qid = [judged[r] for r in qrow]
    rel = [{cpos[d]: g for d, g in qrels[q].items() if d in cpos} for q in qid]
    keep = [j for j in range(len(qid)) if rel[j]]
    Q, rel = Q[keep], [rel[j] for j in keep]
    perm = np.random.default_rng(a.seed).permutation(len(Q))
    sel, held = np.sort(perm[: len(Q) // 2]), np.sort(perm[len(Q) // 2:])
    rows = []
    for name, (q, c) in transforms(Q, C).items():
        v = ndcg10(q, c, rel)
        rows.append({"transform": name, "ndcg10_selection": float(v[sel].mean()), "ndcg10_heldout": float(v[held].mean()),
                     "heldout_values": v[held]})
    best = max(rows, key=lambda r: r["ndcg10_selection"])
    lo, hi = bootstrap(best["heldout_values"], a.seed)
    print(f"{len(Q)} queries ({len(sel)} selection, {len(held)} held out), {len(C)} documents, width {C.shape[1]}")
    print(f"{'transform':38s} {'selection':>9s} {'held out':>9s}")
    for r in rows:
        print(f"{r['transform']:38s} {r['ndcg10_selection']:9.3f} {r['ndcg10_heldout']:9.3f}")
    print(f"chosen on the selection half: {best['transform']}; held out NDCG@10 {best['ndcg10_heldout']:.3f} "
          f"[{lo:.3f}, {hi:.3f}] (95% percentile bootstrap, n = {len(held)})")
    if a.json:
        res = {"format": "latentwire.substrate-probe/1", "cache": a.cache, "beir": a.beir, "split": a.split,
               "seed": a.seed, "n_queries": len(Q), "n_selection": len(sel), "n_heldout": len(held), "n_docs": len(C),
               "chosen": best["transform"],
               "heldout": {"mean": best["ndcg10_heldout"], "lo": lo, "hi": hi, "n": len(held),
                           "method": "percentile bootstrap, 10000 resamples"},
               "rows": [{k: v for k, v in r.items() if k != "heldout_values"} for r in rows]}
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(res, f, indent=1)
        os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
