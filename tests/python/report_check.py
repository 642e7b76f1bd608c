#!/usr/bin/env python3
"""latentwire report against a plain reading of its inputs (Python standard library only).

1. Every SVG point maps back to its numbers: the position (cx, cy) of each <circle class="pt">,
   put through the axis transform the <svg> carries, gives back its data-x / data-y within one
   pixel, and those numbers are the ones in the input JSON (read here independently: align's
   depth and calibration-size conditions, the race / scan / codec-retrieval points and reference
   lines, the channel records' mean scores with the selection record left out).
2. Escaping: with inputs whose strings (model names, conditions, ids, settings, claims, series
   names, commands, a file name) hold <script>alert(1)</script> and "><img src=x onerror=alert(1)>,
   the page holds their escaped forms, no <script or <img element, and no on* attribute.
3. Errors: an unknown kind and a curve document missing a field are one error line naming the
   file (and the field), exit 1, and no output file.
usage: report_check.py --cli PATH --tmp DIR"""
import argparse
import html.parser
import json
import math
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report_fixtures as fx  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL " + what)


class Page(html.parser.HTMLParser):
    """Sections (data-kind) -> figures (<svg> attributes, points, reference lines); every tag name
    and attribute name seen."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.sections, self.tags, self.attrs = [], set(), set()
        self.svg = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        self.attrs.update(k for k, _ in attrs)
        if tag == "section":
            self.sections.append({"kind": a.get("data-kind"), "svgs": []})
        elif tag == "svg":
            self.svg = {"attrs": a, "pts": [], "refs": []}
            self.sections[-1]["svgs"].append(self.svg)
        elif tag == "circle" and a.get("class") == "pt":
            self.svg["pts"].append(a)
        elif tag == "line" and a.get("class") == "ref" and "data-y" in a:
            self.svg["refs"].append(a)
        elif tag == "rect" and a.get("class") == "cell":
            self.cell = dict(a, title="")
            self.svg.setdefault("cells", []).append(self.cell)

    def handle_endtag(self, tag):
        if tag == "rect":
            self.cell = None

    def handle_data(self, data):
        if getattr(self, "cell", None) is not None:
            self.cell["title"] += data

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)


def run(cli, args):
    return subprocess.run([cli, "report"] + args, capture_output=True, text=True)


def back(svg, px, py):
    """Pixel position -> data numbers through the transform the <svg> carries."""
    a = {k: float(v) for k, v in svg["attrs"].items() if k.startswith("data-") and k != "data-xlog"}
    log = svg["attrs"]["data-xlog"] == "1"
    f = math.log2 if log else (lambda v: v)
    xmin, xmax = f(a["data-xmin"]), f(a["data-xmax"])
    u = xmin + (px - a["data-px0"]) / (a["data-px1"] - a["data-px0"]) * (xmax - xmin)
    y = a["data-ymin"] + (py - a["data-py0"]) / (a["data-py1"] - a["data-py0"]) * (a["data-ymax"] - a["data-ymin"])
    x_per_px = abs((xmax - xmin) / (a["data-px1"] - a["data-px0"]))
    y_per_px = abs((a["data-ymax"] - a["data-ymin"]) / (a["data-py1"] - a["data-py0"]))
    return (2 ** u if log else u), y, x_per_px, y_per_px, log


def check_positions(section):
    for svg in section["svgs"]:
        for p in svg["pts"]:
            x, y, xpp, ypp, log = back(svg, float(p["cx"]), float(p["cy"]))
            dx = float(p["data-x"])
            ex = abs(math.log2(x) - math.log2(dx)) if log else abs(x - dx)
            check(ex <= xpp, "%s: point at cx %s maps back to x %g, not %g" % (section["kind"], p["cx"], x, dx))
            check(abs(y - float(p["data-y"])) <= ypp,
                  "%s: point at cy %s maps back to y %g, not %s" % (section["kind"], p["cy"], y, p["data-y"]))
        for r in svg["refs"]:
            _, y, _, ypp, _ = back(svg, float(r["x1"]), float(r["y1"]))
            check(abs(y - float(r["data-y"])) <= ypp, "%s: reference line at y1 %s maps back to %g, not %s"
                  % (section["kind"], r["y1"], y, r["data-y"]))


def close(a, b):
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


def same_points(got, want, what):
    got = sorted((float(p["data-x"]), float(p["data-y"])) for p in got)
    want = sorted(want)
    ok = len(got) == len(want) and all(close(g[0], w[0]) and close(g[1], w[1]) for g, w in zip(got, want))
    check(ok, "%s: points %s, the input says %s" % (what, got, want))


def site_layer(s):
    return -1.0 if s == "embed" else float(s[1:])


def check_against_inputs(page, paths):
    by_kind = {}
    for s in page.sections:
        by_kind.setdefault(s["kind"], []).append(s)
    align = json.load(open(paths["align"]))
    svgs = by_kind["align"][0]["svgs"]
    check(len(svgs) == 3, "align: %d figures, want 3 (depth, calibration size, layer grid)" % len(svgs))
    grid = {(c["site_a"], c["site_b"]): c["metrics"]["top1"]["mean"] for c in align["conditions"]
            if c["experiment"] == "layer-grid"}
    cells = svgs[2].get("cells", [])
    check(len(cells) == 12, "align grid: %d cells, want 3 x 4" % len(cells))
    for cell in cells:  # the tooltip names the cell ("L1 / L2: 0.210"); its value is the input's
        a, b = cell["title"].split(":")[0].split(" / ")
        if (a, b) in grid:
            check("data-v" in cell and close(float(cell["data-v"]), grid[(a, b)]),
                  "align grid: cell %s/%s holds %s, the input says %g" % (a, b, cell.get("data-v"), grid[(a, b)]))
        else:
            check("data-v" not in cell and "no value" in cell["title"], "align grid: missing cell %s/%s drawn" % (a, b))
    depth = [c for c in align["conditions"] if c["experiment"] == "depth"]
    same_points(svgs[0]["pts"], [(site_layer(c["site_a"]), c["metrics"]["top1"]["mean"]) for c in depth], "align depth")
    calib = [c for c in align["conditions"] if c["experiment"] == "calib-size"]
    same_points(svgs[1]["pts"], [(float(c["n_calib"]), c["metrics"]["top1"]["mean"]) for c in calib], "align calib")
    oracle = sorted(c["metrics"]["top1"]["mean"] for c in align["conditions"] if c["experiment"] == "oracle")
    chance = sorted({c["chance_top1"] for c in calib})
    check(sorted(float(r["data-y"]) for r in svgs[1]["refs"]) == sorted(oracle + chance),
          "align calib: reference lines %s, want oracle %s and chance %s"
          % ([r["data-y"] for r in svgs[1]["refs"]], oracle, chance))
    for p in svgs[0]["pts"]:
        check(float(p["data-lo"]) <= float(p["data-y"]) <= float(p["data-hi"]), "align depth: y outside [lo, hi]")
    for kind in ("race", "scan", "codec-retrieval"):
        doc = json.load(open(paths[kind]))
        pts = by_kind[kind][0]["svgs"][0]
        same_points(pts["pts"], [(q["x"], q["y"]) for s in doc["series"] for q in s["points"]], kind)
        want = sorted([doc[k]["y"] for k in ("floor", "ceiling") if k in doc] +
                      ([doc["threshold"]] if "threshold" in doc else []))
        check(sorted(float(r["data-y"]) for r in pts["refs"]) == want, "%s: reference lines %s, want %s"
              % (kind, [r["data-y"] for r in pts["refs"]], want))
    _, scores = fx.channel_records(False)
    pts = by_kind["channel"][0]["svgs"][0]["pts"]
    same_points(pts, [(float(i), sum(v) / len(v)) for i, v in enumerate(scores.values())], "channel records")


def check_escaping(text, page):
    check("&lt;script&gt;alert(1)&lt;/script&gt;" in text, "escaping: the escaped <script> text is missing")
    check("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in text, "escaping: the escaped <img onerror> text is missing")
    check("<script" not in text.lower(), "escaping: a raw <script in the page")
    check("<img" not in text.lower(), "escaping: a raw <img in the page")
    check(text.count("onerror=") == text.count("&lt;img src=x onerror=alert(1)&gt;"),
          "escaping: onerror= outside the escaped text")
    check("script" not in page.tags and "img" not in page.tags, "escaping: a script or img element parsed")
    check(not any(a.startswith("on") for a in page.attrs), "escaping: an on* attribute parsed: %s"
          % sorted(a for a in page.attrs if a.startswith("on")))


def check_errors(cli, tmp, paths):
    out = os.path.join(tmp, "bad.html")
    unknown = os.path.join(tmp, "unknown.json")
    json.dump({"hello": 1}, open(unknown, "w"))
    r = run(cli, [paths["align"], unknown, "-o", out])
    check(r.returncode == 1 and unknown in r.stderr and len(r.stderr.strip().splitlines()) == 1,
          "unknown kind: rc %d, stderr %r" % (r.returncode, r.stderr))
    check(not os.path.exists(out), "unknown kind: an output was written")
    broken = os.path.join(tmp, "broken-race.json")
    doc = fx.curve_doc("latentwire.race/1", False)
    del doc["series"][1]["points"][2]["y"]
    json.dump(doc, open(broken, "w"))
    r = run(cli, [broken, "-o", out])
    check(r.returncode == 1 and broken in r.stderr and "series[1].points[2].y" in r.stderr,
          "missing field: rc %d, stderr %r" % (r.returncode, r.stderr))
    check(not os.path.exists(out), "missing field: an output was written")
    r = run(cli, [paths["align"], "-o", paths["align"]])
    check(r.returncode != 0 and "align.json" in r.stderr, "output = input: rc %d, %r" % (r.returncode, r.stderr))
    # retrieval --control: the control regime and the paired difference are shown (they were dropped)
    ctl = os.path.join(tmp, "retrieval-control.json")
    json.dump({"bridge": {"top1": fx.ci(0.44)}, "control": {"top1": fx.ci(0.96, 0.03)},
               "difference": {"top1": {"mean": -0.52, "lo": -0.612, "hi": -0.416, "n": 100}},
               "regime": "para:p.jsonl:0", "control_regime": "random:10", "n_queries": 100, "n_candidates": 1100,
               "mean_candidates_per_query": 11.0, "ndcg_gain": "linear"}, open(ctl, "w"))
    r = run(cli, [ctl, "-o", out])
    text = open(out, encoding="utf-8").read() if r.returncode == 0 else ""
    check(r.returncode == 0 and "regime - control (paired)" in text and "-0.520" in text and "0.960" in text
          and "random:10" in text, "retrieval --control: rc %d, control or difference missing from the page, %r"
          % (r.returncode, r.stderr))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--tmp", required=True)
    o = ap.parse_args()
    tmp = os.path.join(o.tmp, "report_check")
    shutil.rmtree(tmp, ignore_errors=True)
    for hostile in (False, True):
        paths = fx.write_all(os.path.join(tmp, "hostile" if hostile else "plain"), hostile)
        out = os.path.join(tmp, "report-%s.html" % ("hostile" if hostile else "plain"))
        r = run(o.cli, list(paths.values()) + ["-o", out] + (["--title", fx.HOSTILE[1]] if hostile else []))
        check(r.returncode == 0, "report (%s): rc %d, stderr %r" % ("hostile" if hostile else "plain", r.returncode,
                                                                    r.stderr))
        if r.returncode != 0:
            continue
        text = open(out, encoding="utf-8").read()
        page = Page()
        page.feed(text)
        check([s["kind"] for s in page.sections] == ["align", "channel", "channel", "verdict", "race", "scan",
                                                     "codec-retrieval", "retrieval", "debate"],
              "sections %s" % [s["kind"] for s in page.sections])
        for s in page.sections:
            check_positions(s)
        if hostile:
            check_escaping(text, page)
        else:
            check_against_inputs(page, paths)
            check_errors(o.cli, tmp, paths)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
