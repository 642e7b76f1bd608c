/* The report: one self-contained HTML file (inline CSS and SVG; no script, no network, no
 * external font) from any mix of result files latentwire writes. Each input is recognized by
 * its shape (below), drawn by the renderer for its kind, and shown with the file it came
 * from (path, sha256) and the command and settings that made it, as far as the file records
 * them. Everything taken from an input (texts, model names, paths, metadata) is HTML-escaped.
 *
 * Kinds recognized (a JSON document, or JSON Lines for the per-item records):
 *   align            align.json: "source_model", "conditions" [], "comparisons" [] -> the
 *                    candidate-regime table, depth curve, calibration-size curve (with the
 *                    oracle and chance as lines), recipe and corpus-shift tables, the layer
 *                    grid as a heatmap
 *   retrieval        retrieval --json: {"bridge"|"raw": metrics, "regime", ...}; BEIR
 *                    {"metrics", "n_docs", ...}; --paired {"n_paired", "metrics": {m: {a, b,
 *                    a_minus_b}}} -> metric table and figure
 *   channel          channel --json {"settings", "conditions" {}, "differences" {}} or its
 *                    --out records (JSONL: an optional {"settings"} line, then {"condition",
 *                    "id", "score", ...}; records with a "split" other than "report" are
 *                    left out) -> accuracy per condition with CIs (recomputed from records with
 *                    lw_ci_mean), paired differences against text (lw_ci_paired), figure
 *   debate           debate --json {"vote", "solo", "difference"} or --out records ({"final",
 *                    "score", "solo_score"}) -> vote vs agent 0 table
 *   verdict          verdict --json {"plan_sha256", "hypotheses" []} -> PASS / FAIL /
 *                    INCONCLUSIVE table
 *   race             race.json as `latentwire race` writes it ("format": "latentwire.race/1",
 *                    "cells" [], "comparisons" [], "settings"; no "series") -> accuracy against
 *                    payload_bits_mean (log2), a series per channel with CI bands, the floor and
 *                    ceiling cells as lines; the cells table; the comparisons with verdicts
 *   scan             scan.json ("layers" [] with "select" / "held_out", "floor", "ceiling",
 *                    "chosen"; no "format") -> exact match per layer (held-out, selection, the
 *                    chosen layer as its own marker), held-out floor / ceiling lines, a table
 *   codec-retrieval  retrieval.json ("format": "latentwire.codec-retrieval/1", "rows" [] with
 *                    "top1" and "pass", "threshold") -> top-1 against budget_bits per codec,
 *                    the threshold line, the rows with the file's PASS / FAIL
 *   panel            panel.json ("format": "latentwire.panel.patching/1", "cells", "summary")
 *                    -> the summary (D, verdict, decoy ratio) and the cell table
 *   race, scan, codec-retrieval: also the curve documents below.
 * A file of any other shape is refused (one error naming the file and the kinds known), so a
 * result is never silently missing from a report.
 *
 * Curve documents (the race, the layer scan and the codec retrieval test hand their results
 * to the report in this shape; all fields but "format" and "series" optional):
 *   {"format": "latentwire.race/1" | "latentwire.scan/1" | "latentwire.codec-retrieval/1",
 *    "title": "text",
 *    "command": "the command line that made it (shown verbatim)",
 *    "settings": {"name": string | number | boolean | null, ...},
 *    "x_label": "text", "y_label": "text",
 *    "series": [{"name": "act:topk",
 *                "points": [{"x": 64, "y": 0.31, "lo": 0.22, "hi": 0.41, "n": 100,
 *                            "label": "text (optional)"}, ...]}, ...],
 *    "floor":   {"y": 0.27, "lo": 0.20, "hi": 0.35, "n": 100, "label": "prompt only"},
 *    "ceiling": {"y": 0.80, "lo": ..., "hi": ..., "n": ..., "label": "text ceiling"},
 *    "threshold": 0.85,
 *    "selected": {"x": 7, "how": "best exact match on 50 selection items"},
 *    "comparisons": [{"x": 64, "a": "act:topk", "b": "text:zstd", "mean": -0.2, "lo": -0.3,
 *                     "hi": -0.1, "n": 100, "p": 0.001, "paired": true,
 *                     "verdict": "text dominates"}, ...]}
 *   race:            x = payload bits per item (log2 axis), y = accuracy; one series per channel
 *                    (bands for the CIs); floor and ceiling as horizontal lines; comparisons
 *                    (activation - text per budget) as a table with their verdicts.
 *   scan:            x = receiver layer (linear), y = exact match; one series per injection mode
 *                    (error bars); floor and ceiling lines; the selected layer in the caption.
 *   codec-retrieval: x = payload bits per item (log2), y = top-1; one series per codec
 *                    (error bars); the threshold (default 0.85) as a line; a table of every
 *                    codec and budget with pass = (lo >= threshold).
 * lo/hi may be omitted together (no interval). Every number must be finite; log2 axes need
 * x > 0. A missing or mistyped field is an error naming the file and the field. */
#ifndef LATENTWIRE_REPORT_H
#define LATENTWIRE_REPORT_H

#include <stdint.h>

#include "latentwire/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *title;  /* the page's title (default "latentwire report") */
    int resamples;      /* bootstrap resamples for intervals recomputed from per-item records
                           whose scores are not all 0/1 (default 1000) */
    uint64_t seed;      /* their seed when the records' settings name none (default 1) */
} lw_report_params;

lw_report_params lw_report_default_params(void);

/* The whole page for inputs[0..n) as a malloc'd NUL-terminated string, or NULL (error set:
 * a file that cannot be read, is not JSON / JSON Lines, or is of no known kind, named). */
char *lw_report_html(const char *const *inputs, int n, const lw_report_params *p);

/* lw_report_html written to out_path atomically (temp file + rename: nothing is left under
 * out_path on failure). 0 or -1. */
int lw_report_write(const char *const *inputs, int n, const char *out_path, const lw_report_params *p);

#ifdef __cplusplus
}
#endif
#endif
