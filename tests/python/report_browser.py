#!/usr/bin/env python3
"""The report in a real browser: headless Chromium (Debian's `chromium`) renders a report over
every kind of result; the screenshot must be non-blank and show the figures (coloured pixels:
the series' colours, which no text uses), and the DOM Chromium built must hold the expected
number of <svg> figures, the expected numbers, and no script. Exits 77 (a skip) without
Chromium. PNG decoding with zlib + struct only.
usage: report_browser.py --cli PATH --tmp DIR [--keep PNG]"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report_fixtures as fx  # noqa: E402


def png_pixels(path):
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, "unexpected PNG format"
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, prev, rows = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif f == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--keep", help="copy the screenshot here")
    o = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("SKIP: no chromium on PATH (Debian package `chromium`; scripts/install-deps.sh installs it)")
        return 77
    tmp = os.path.join(o.tmp, "report_browser")
    shutil.rmtree(tmp, ignore_errors=True)
    paths = fx.write_all(os.path.join(tmp, "in"))
    page = os.path.join(tmp, "report.html")
    r = subprocess.run([o.cli, "report"] + list(paths.values()) + ["-o", page], capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL report: rc %d, %s" % (r.returncode, r.stderr))
        return 1
    shot = os.path.join(tmp, "shot.png")
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--user-data-dir=" + os.path.join(tmp, "profile"), "--window-size=1000,2600"]
    url = "file://" + os.path.abspath(page)
    s = subprocess.run(base + ["--screenshot=" + shot, url], capture_output=True, text=True, timeout=180)
    d = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=180)
    failures = []
    if s.returncode != 0 or not os.path.exists(shot):
        failures.append("screenshot: rc %d, %s" % (s.returncode, s.stderr[-500:]))
    else:
        if o.keep:
            shutil.copy(shot, o.keep)
        w, h, bpp, rows = png_pixels(shot)
        ink = coloured = 0
        for row in rows:
            for i in range(0, w * bpp, bpp * 2):  # every other pixel
                rr, g, b = row[i], row[i + 1], row[i + 2]
                ink += min(rr, g, b) < 235
                coloured += max(rr, g, b) - min(rr, g, b) > 60
        sampled = (w // 2) * h
        print("screenshot %dx%d: %.1f%% of the sampled pixels not white, %d coloured" %
              (w, h, 100.0 * ink / sampled, coloured))
        if ink < 0.02 * sampled:
            failures.append("screenshot: blank (%d of %d sampled pixels not white)" % (ink, sampled))
        if coloured < 1500:
            failures.append("screenshot: %d coloured pixels; the figures did not render" % coloured)
    dom = d.stdout
    want_svgs = sum(fx.SVG_COUNT.values())
    if dom.count("<svg") != want_svgs:
        failures.append("DOM: %d <svg> figures, want %d" % (dom.count("<svg"), want_svgs))
    for text in ("0.410 [0.360, 0.460]",   # align's main bank top-1
                 "-0.200 [-0.300, -0.100]",  # the race's comparison
                 "0.300 [0.220, 0.380]",   # the race's act:topk at its fourth budget, in its table
                 "0.500 [0.272, 0.728]",   # channel text: 10 of 20, Clopper-Pearson
                 "PASS", "FAIL", "INCONCLUSIVE", "text dominates", "pass threshold 0.85"):
        if text not in dom:
            failures.append("DOM: %r missing" % text)
    if "<script" in dom.lower():
        failures.append("DOM: a script element")
    for f in failures:
        print("FAIL " + f)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
