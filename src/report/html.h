/* Internal: the report's HTML under construction, and the primitives every renderer draws
 * with (escaped text, tables, the curve-with-CI SVG figure).
 *
 * Trust rule: lw_html_raw / lw_html_rawf take markup written in this source tree only (tags,
 * class names, numbers formatted here). Every string that comes from an input file, an
 * argument or a model (texts, names, paths, metadata) goes through lw_html_text /
 * lw_html_textf, which escape & < > " ' and replace bytes that are not UTF-8 by U+FFFD, so
 * the same call is safe in a text node, a quoted attribute and an SVG <text>. */
#ifndef LW_REPORT_HTML_H
#define LW_REPORT_HTML_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

typedef struct {
    char *s;
    size_t len, cap;
    bool oom; /* an allocation failed: the page is dropped at the end */
} lw_html;

void lw_html_raw(lw_html *h, const char *markup);
void lw_html_rawf(lw_html *h, const char *fmt, ...) LW_PRINTF(2, 3);
void lw_html_text(lw_html *h, const char *s); /* NULL writes nothing */
void lw_html_textf(lw_html *h, const char *fmt, ...) LW_PRINTF(2, 3);
void lw_html_free(lw_html *h);

/* ---- tables: a header row, then rows of escaped text cells ---- */
void lw_table_begin(lw_html *h, const char *cls, const char *const *head, int n_cols);
/* cls[i] (may be NULL, or an entry NULL): a class name from this source tree for cell i. */
void lw_table_row(lw_html *h, const char *const *cells, const char *const *cls, int n_cols);
void lw_table_end(lw_html *h);

/* x with `decimals` decimals (a "+" when sign), in scientific notation from 1e6 on; buf returned. */
const char *lw_fmt_num(char *buf, size_t size, double x, int decimals, bool sign);
/* "0.523 [0.481, 0.569]" into buf (signed: "+0.004 [-0.017, +0.025]"); lw_fmt_num's numbers. */
const char *lw_fmt_ci(char *buf, size_t size, double mean, double lo, double hi, bool sign);

/* ---- the curve-with-CI figure ----
 * Points are drawn at their (x, y) with a vertical error bar [lo, hi] (or, for a series with
 * band set, a shaded band through the intervals); horizontal reference lines (a floor, a
 * ceiling, chance, a pass threshold) span the plot, with an optional shaded band of their
 * own. Every point is a <circle class="pt"> carrying data-x, data-y, data-lo, data-hi (the
 * numbers given, printed with %.17g) and data-series; the <svg> carries the axis transform:
 * data-px0 / data-px1 (pixel x of xmin / xmax), data-py0 / data-py1 (pixel y of ymin /
 * ymax), data-xmin, data-xmax, data-ymin, data-ymax and data-xlog ("1": x pixels are linear in
 * log2 x). Reference lines are <line class="ref"> with data-y. So a reader (the tests) maps
 * every position back to its number:
 *   x = xmin + (cx - px0) / (px1 - px0) * (xmax - xmin)   (log2 x and log2 xmin/xmax when xlog)
 *   y = ymin + (cy - py0) / (py1 - py0) * (ymax - ymin). */
typedef struct {
    double x, y, lo, hi; /* lo, hi: NAN when the point has no interval */
    const char *label;   /* shown in the point's tooltip (may be NULL) */
} lw_plot_point;

typedef struct {
    const char *name;
    const lw_plot_point *pts;
    int n;
    bool band;        /* a shaded band through the intervals instead of error bars */
    bool points_only; /* no line joining the points (categories, not an ordered x) */
} lw_plot_series;

typedef struct {
    const char *name; /* "floor (prompt only)", "chance, bank" */
    double y, lo, hi; /* lo, hi: NAN for a plain line */
} lw_plot_ref;

typedef struct {
    double value;
    const char *label;
} lw_plot_tick;

typedef struct {
    const char *title, *x_label, *y_label;
    bool log2_x;         /* x > 0 required; ticks at powers of two */
    double y_min, y_max; /* the y range shown at least (data outside widens it); NAN: from the
                            data alone, with 0 included when every y >= 0 */
    const lw_plot_tick *x_ticks; /* NULL: computed */
    int n_x_ticks;
    const lw_plot_series *series;
    int n_series;
    const lw_plot_ref *refs;
    int n_refs;
} lw_plot;

/* Appends one <svg>. 0, or -1 (error set: a log2 axis with x <= 0, a non-finite number). */
int lw_svg_curve(lw_html *h, const lw_plot *p);

/* ---- the heatmap figure (a layer grid; receivers x donors) ----
 * values[r * n_cols + c] (NAN: no value, drawn hatched grey) coloured from white (v_min) to dark
 * blue (v_max), with a colour bar. Every cell is a <rect class="cell"> carrying data-row,
 * data-col and data-v (the number, %.17g) and a tooltip naming row, column and value. */
typedef struct {
    const char *title, *row_label, *col_label, *value_label;
    const char *const *rows, *const *cols; /* labels */
    int n_rows, n_cols;
    const double *values;
    double v_min, v_max;
} lw_heatmap;

/* Appends one <svg>. 0, or -1 (error set: v_max <= v_min, an infinite value). */
int lw_svg_heatmap(lw_html *h, const lw_heatmap *m);

#endif
