"""Synthetic result files of every kind `latentwire report` reads, for the report tests.

write_all(dir, hostile) writes them and returns {kind: path}. With hostile=True every string a
file carries that the report shows (model names, conditions, ids, settings, claims, series names,
titles, commands) holds HOSTILE[0] or HOSTILE[1], and one file name does too."""
import json
import os

HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>']


def _dump(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)


def ci(mean, half=0.05, n=100):
    return {"mean": mean, "lo": max(0.0, mean - half), "hi": min(1.0, mean + half), "n": n}


def align_doc(h):
    src = "gemma" + (HOSTILE[0] if h else "")
    conds = []

    def cond(exp, regime, sa, sb, n_calib, top1, chance, recipe="ridge"):
        conds.append({"experiment": exp, "recipe": recipe, "site_a": sa, "site_b": sb, "n_calib": n_calib,
                      "regime": regime, "n_queries": 100, "mean_candidates": 10.0, "chance_top1": chance,
                      "metrics": {"top1": ci(top1), "recall@5": ci(min(1, top1 + 0.1)),
                                  "mrr@10": ci(min(1, top1 + 0.02)), "ndcg@10": ci(min(1, top1 + 0.03))}})

    for regime, chance in (("bank", 0.01), ("random-9", 0.1)):
        cond("main", regime, "L3", "L5", 300, 0.41 if regime == "bank" else 0.77, chance)
    depth = {"bank": [0.9, 0.62, 0.55, 0.48, 0.41], "random-9": [0.97, 0.86, 0.81, 0.8, 0.77]}
    sites = [("embed", "embed"), ("L0", "L1"), ("L1", "L2"), ("L2", "L4"), ("L3", "L5")]
    for regime, chance in (("bank", 0.01), ("random-9", 0.1)):
        for (sa, sb), y in zip(sites, depth[regime]):
            cond("depth", regime, sa, sb, 300, y, chance)
    calib = {"bank": [0.08, 0.17, 0.3, 0.41], "random-9": [0.5, 0.61, 0.7, 0.77]}
    for regime, chance in (("bank", 0.01), ("random-9", 0.1)):
        for n, y in zip((50, 100, 200, 300), calib[regime]):
            cond("calib-size", regime, "L3", "L5", n, y, chance)
        cond("oracle", regime, "L3", "L5", 100, 0.93 if regime == "bank" else 0.99, chance)
    for a in range(3):  # the layer grid, 3 A blocks x 4 B blocks; one cell missing (drawn as no value)
        for b in range(4):
            if (a, b) != (2, 3):
                cond("layer-grid", "bank", "L%d" % a, "L%d" % b, 300, 0.1 * a + 0.05 * b + 0.01, 0.01)
    for rec, y in (("ridge", 0.41), ("cca", 0.6)):
        cond("recipe", "bank", "L3", "L5", 300, y, 0.01, recipe=rec)
    comps = [{"experiment": "recipe", "a": "cca", "b": "ridge", "metric": "top1",
              "difference": {"mean": 0.19, "lo": 0.12, "hi": 0.26, "n": 100}, "p_value": 0.0},
             {"experiment": "shift:news" + (HOSTILE[1] if h else ""), "a": "without-domain", "b": "all-domains",
              "metric": "top1", "difference": {"mean": -0.1, "lo": -0.2, "hi": 0.0, "n": 20}, "p_value": 0.05}]
    return {"source_model": src, "target_model": "smol", "per_domain": 50, "n_pairs": 10, "calib_share": 0.6,
            "seed": 1, "resamples": 1000, "n_calib": 300, "n_test": 100, "conditions": conds, "comparisons": comps}


def channel_records(h):
    """(lines, {condition: [scores]}): 20 items, text 0.5, ac 0.2, context 0.9, none 0."""
    settings = {"--sender": "a" * 64, "--receiver": "b" * 64, "--task": "c" * 64,
                "--channel": "none,context,text,ac" + (HOSTILE[1] if h else ""), "--seed": 1, "--chat": False,
                "--temp": None}
    lines = [{"settings": settings}]
    acc = {"none": 0.0, "context": 0.9, "text": 0.5, "ac[k=2,j=3,replace]" + (HOSTILE[0] if h else ""): 0.2}
    scores = {c: [] for c in acc}
    for i in range(20):
        for c, p in acc.items():
            s = 1.0 if i < round(p * 20) else 0.0
            scores[c].append(s)
            lines.append({"split": "report", "condition": c, "id": "item-%d%s" % (i, HOSTILE[1] if h else ""),
                          "receiver": "r", "message": HOSTILE[0] if h else "m", "output": "o", "gold": "g",
                          "score": s, "cost": {"message_bytes": 10, "wall_s": 0.1}})
    # a selection record, which the report must leave out
    lines.append({"split": "selection", "condition": "text", "id": "sel-0", "receiver": "r", "message": "m",
                  "output": "o", "gold": "g", "score": 1.0, "cost": {"message_bytes": 10, "wall_s": 0.1}})
    return lines, scores


def curve_doc(fmt, h):
    name = HOSTILE[0] if h else "act:topk"
    d = {"format": fmt, "command": "latentwire %s --x %s" % (fmt.split(".")[1].split("/")[0], HOSTILE[1] if h else "1"),
         "settings": {"model": "gemma" + (HOSTILE[1] if h else ""), "items": 100}}
    if fmt == "latentwire.scan/1":
        d["series"] = [{"name": name, "points": [{"x": L, "y": 0.2 + 0.05 * L, "lo": 0.15 + 0.05 * L,
                                                  "hi": 0.25 + 0.05 * L, "n": 50} for L in range(8)]}]
        d["floor"] = {"y": 0.27, "lo": 0.2, "hi": 0.34, "n": 50, "label": "prompt only"}
        d["ceiling"] = {"y": 0.8, "n": 50}
        d["selected"] = {"x": 7, "how": "best on 20 selection items"}
        return d
    budgets = [16, 32, 64, 128, 256, 512, 1024, 2048]
    d["series"] = [{"name": name, "points": [{"x": b * 0.9, "y": min(0.95, 0.1 * i), "lo": max(0, 0.1 * i - 0.08),
                                              "hi": min(1, 0.1 * i + 0.08), "n": 100} for i, b in enumerate(budgets)]},
                   {"name": "text:zstd", "points": [{"x": b, "y": min(0.95, 0.12 * i + 0.05)} for i, b in
                                                    enumerate(budgets)]}]
    if fmt == "latentwire.race/1":
        d["floor"] = {"y": 0.27, "lo": 0.2, "hi": 0.34, "n": 100, "label": "prompt only"}
        d["ceiling"] = {"y": 0.9, "lo": 0.85, "hi": 0.94, "n": 100, "label": "full demonstrations"}
        d["comparisons"] = [{"x": 64, "a": name, "b": "text:zstd", "mean": -0.2, "lo": -0.3, "hi": -0.1, "n": 100,
                             "p": 0.001, "paired": True, "verdict": "text dominates"}]
    else:
        d["threshold"] = 0.85
    return d


def write_all(d, hostile=False):
    os.makedirs(d, exist_ok=True)
    h = hostile
    paths = {}

    def put(kind, name, obj, lines=False):
        p = os.path.join(d, name)
        if lines:
            with open(p, "w") as f:
                for o in obj:
                    f.write(json.dumps(o) + "\n")
        else:
            _dump(p, obj)
        paths[kind] = p

    put("align", "align.json", align_doc(h))
    lines, _ = channel_records(h)
    put("channel-records", ("chan%s.jsonl" % HOSTILE[1].replace("/", "_")) if h else "channels.jsonl", lines, True)
    put("channel-summary", "channel.json", {
        "settings": {"--sender": "s" + (HOSTILE[0] if h else ""), "--seed": 1},
        "conditions": {"text": {"applicable": True, "accuracy": ci(0.5, 0.2, 20),
                                "mean_cost": {"message_bytes": 90.0, "wall_s": 0.5}},
                       "cipher": {"applicable": False, "reason": "vocabularies differ" + (HOSTILE[1] if h else "")}},
        "differences": {}})
    put("verdict", "verdict.json", {
        "plan": "plan.json", "title": "plan" + (HOSTILE[0] if h else ""), "plan_sha256": "d" * 64, "n_records": 40,
        "hypotheses": [{"id": "H1", "claim": "mean(a - b) > 0" + (HOSTILE[1] if h else ""), "verdict": "PASS",
                        "estimate": 0.3, "ci": {"lo": 0.1, "hi": 0.5, "level": 0.95, "method": "newcombe"},
                        "p": 0.001, "p_adjusted": 0.002, "test": "exact McNemar", "n": 20},
                       {"id": "H2", "claim": "top1 > 0.85", "verdict": "FAIL", "estimate": 0.5,
                        "ci": {"lo": 0.4, "hi": 0.6, "level": 0.95, "method": "clopper-pearson"},
                        "p": 1.0, "p_adjusted": 1.0, "test": "exact binomial", "n": 20},
                       {"id": "H3", "claim": "x < 0", "verdict": "INCONCLUSIVE", "estimate": -0.1,
                        "ci": {"lo": -0.3, "hi": 0.1, "level": 0.95, "method": "bca"},
                        "p": 0.2, "p_adjusted": 0.4, "test": "BCa bootstrap, inverted", "n": 20}]})
    put("race", "race.json", curve_doc("latentwire.race/1", h))
    put("scan", "scan.json", curve_doc("latentwire.scan/1", h))
    put("codec-retrieval", "codec.json", curve_doc("latentwire.codec-retrieval/1", h))
    put("retrieval", "retrieval.json", {"bridge": {"top1": ci(0.6), "mrr@10": ci(0.7)}, "regime": "bank",
                                        "n_queries": 100, "n_candidates": 100, "mean_candidates_per_query": 100.0,
                                        "ndcg_gain": "linear"})
    put("debate", "debate.json", {"vote": ci(0.77), "solo": ci(0.97), "difference": {
        "mean": -0.2, "lo": -0.3, "hi": -0.1, "n": 100, "p_value": 0.001}})
    return paths


# Figures (<svg>) each kind's section draws from these fixtures.
SVG_COUNT = {"align": 3, "channel-records": 1, "channel-summary": 1, "verdict": 0, "race": 1, "scan": 1,
             "codec-retrieval": 1, "retrieval": 1, "debate": 0}
