#!/usr/bin/env python3
"""The report's channel section recomputed from per-item records equals channel's own summary:
`channel --json S --out R` on the toy model stories260K (../shared), then `report S R`; the two
sections' accuracy and paired-difference tables must hold the same text (the records are read
with the same seed and resamples, lw_ci_mean / lw_ci_paired). Exits 77 without ../shared.
usage: report_records.py --cli PATH --tmp DIR"""
import argparse
import html.parser
import os
import shutil
import subprocess
import sys


class Tables(html.parser.HTMLParser):
    """The text of every table cell, per section."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.sections, self.cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self.sections.append([])
        elif tag == "td":
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.sections[-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--tmp", required=True)
    o = ap.parse_args()
    shared = os.environ.get("LW_SHARED_DIR") or os.environ.get("LW_SHARED_DIR_DEFAULT", "../shared")
    model = os.path.join(shared, "models", "stories260K.gguf")
    if not os.path.isfile(model):
        print("SKIP: %s not found (set LW_SHARED_DIR)" % model)
        return 77
    tmp = os.path.join(o.tmp, "report_records")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    summary, records, page = (os.path.join(tmp, n) for n in ("summary.json", "records.jsonl", "report.html"))
    r = subprocess.run([o.cli, "channel", "--sender", model, "--receiver", model, "--task", "story:12",
                        "--channel", "none,context,text,cipher,ac", "--data", os.path.join(shared, "data"),
                        "--json", summary, "--out", records, "--threads", "1"], capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL channel: rc %d, %s" % (r.returncode, r.stderr))
        return 1
    r = subprocess.run([o.cli, "report", summary, records, "-o", page], capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL report: rc %d, %s" % (r.returncode, r.stderr))
        return 1
    t = Tables()
    t.feed(open(page, encoding="utf-8").read())
    a, b = t.sections
    # channel --json records no n per difference ("-"); the records give it (12): all else is equal
    same = len(a) == len(b) and all(x == y or (x == "-" and y == "12") for x, y in zip(a, b))
    if not same or not any("[" in x for x in a):
        print("FAIL the sections differ:\n  summary %s\n  records %s" % (a, b))
        return 1
    print("summary and records agree on %d cells" % len(a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
