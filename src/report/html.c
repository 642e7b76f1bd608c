/* The report's HTML buffer, escaping, tables and the curve-with-CI SVG figure (html.h). */
#include "report/html.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latentwire/runtime.h"

static void grow(lw_html *h, size_t extra) {
    if (h->oom || h->len + extra + 1 <= h->cap) return;
    size_t cap = h->cap ? h->cap : 4096;
    while (cap < h->len + extra + 1) cap *= 2;
    char *s = realloc(h->s, cap);
    if (!s) {
        h->oom = true;
        return;
    }
    h->s = s;
    h->cap = cap;
}

static void append(lw_html *h, const char *s, size_t n) {
    grow(h, n);
    if (h->oom) return;
    memcpy(h->s + h->len, s, n);
    h->len += n;
    h->s[h->len] = '\0';
}

void lw_html_raw(lw_html *h, const char *markup) { append(h, markup, strlen(markup)); }

static char *vformat(const char *fmt, va_list ap) {
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

void lw_html_rawf(lw_html *h, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = vformat(fmt, ap);
    va_end(ap);
    if (!s) h->oom = true;
    else lw_html_raw(h, s);
    free(s);
}

/* Escapes the five characters HTML gives meaning to in text and quoted attributes; C0 control
 * characters (other than tab and newline), which XML (and so SVG) forbids, and bytes that are
 * not UTF-8 become U+FFFD. */
void lw_html_text(lw_html *h, const char *s) {
    if (!s) return;
    size_t n = strlen(s);
    char *clean = malloc(3 * n + 1);
    if (!clean) {
        h->oom = true;
        return;
    }
    lw_utf8_sanitize(s, n, clean);
    for (const char *p = clean; *p; p++) {
        unsigned char c = (unsigned char)*p;
        switch (c) {
        case '&': lw_html_raw(h, "&amp;"); break;
        case '<': lw_html_raw(h, "&lt;"); break;
        case '>': lw_html_raw(h, "&gt;"); break;
        case '"': lw_html_raw(h, "&quot;"); break;
        case '\'': lw_html_raw(h, "&#39;"); break;
        default:
            if (c < 0x20 && c != '\t' && c != '\n') lw_html_raw(h, "\xEF\xBF\xBD");
            else append(h, p, 1);
        }
    }
    free(clean);
}

void lw_html_textf(lw_html *h, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = vformat(fmt, ap);
    va_end(ap);
    if (!s) h->oom = true;
    else lw_html_text(h, s);
    free(s);
}

void lw_html_free(lw_html *h) {
    free(h->s);
    *h = (lw_html){0};
}

/* ---- tables ---- */

void lw_table_begin(lw_html *h, const char *cls, const char *const *head, int n_cols) {
    lw_html_rawf(h, "<table class=\"%s\"><thead><tr>", cls ? cls : "data");
    for (int i = 0; i < n_cols; i++) {
        lw_html_raw(h, "<th>");
        lw_html_text(h, head[i]);
        lw_html_raw(h, "</th>");
    }
    lw_html_raw(h, "</tr></thead><tbody>\n");
}

void lw_table_row(lw_html *h, const char *const *cells, const char *const *cls, int n_cols) {
    lw_html_raw(h, "<tr>");
    for (int i = 0; i < n_cols; i++) {
        if (cls && cls[i]) lw_html_rawf(h, "<td class=\"%s\">", cls[i]);
        else lw_html_raw(h, "<td>");
        lw_html_text(h, cells[i]);
        lw_html_raw(h, "</td>");
    }
    lw_html_raw(h, "</tr>\n");
}

void lw_table_end(lw_html *h) { lw_html_raw(h, "</tbody></table>\n"); }

const char *lw_fmt_num(char *buf, size_t size, double x, int decimals, bool sign) {
    /* fixed notation up to 1e6; beyond, scientific: %f of 1e100 is 100 digits, and the cells'
     * buffers cut it to a number of another magnitude without a sign of it */
    if (fabs(x) < 1e6 || !isfinite(x)) snprintf(buf, size, sign ? "%+.*f" : "%.*f", decimals, x);
    else snprintf(buf, size, sign ? "%+.*e" : "%.*e", decimals, x);
    return buf;
}

const char *lw_fmt_ci(char *buf, size_t size, double mean, double lo, double hi, bool sign) {
    char m[48], l[48], h[48];
    lw_fmt_num(m, sizeof m, mean, 3, sign);
    if (isnan(lo) || isnan(hi)) snprintf(buf, size, "%s", m);
    else snprintf(buf, size, "%s [%s, %s]", m, lw_fmt_num(l, sizeof l, lo, 3, sign), lw_fmt_num(h, sizeof h, hi, 3, sign));
    return buf;
}

/* ---- the curve figure ---- */

enum { W = 680, PLOT_H = 300, LEFT = 64, RIGHT = 20, TOP = 30, BOTTOM = 52, LEGEND_ROW = 18, LEGEND_COLS = 3 };

static const char *const PALETTE[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                      "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"};
static const char *const REF_COLORS[] = {"#555555", "#b8860b", "#2e8b57", "#8b0000"};
#define N_PALETTE (sizeof PALETTE / sizeof PALETTE[0])
#define N_REF_COLORS (sizeof REF_COLORS / sizeof REF_COLORS[0])

typedef struct {
    double xmin, xmax, ymin, ymax; /* in axis units (log2 x when log) */
    double px0, px1, py0, py1;
    bool xlog;
} axes;

static double ax_x(const axes *a, double x) {
    double u = a->xlog ? log2(x) : x;
    return a->px0 + (u - a->xmin) / (a->xmax - a->xmin) * (a->px1 - a->px0);
}
static double ax_y(const axes *a, double y) { return a->py0 + (y - a->ymin) / (a->ymax - a->ymin) * (a->py1 - a->py0); }

/* A 1, 2 or 5 times a power of ten near range / target. */
static double nice_step(double range, int target) {
    double raw = range / target, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static int check_numbers(const lw_plot *p) {
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            const lw_plot_point *q = &p->series[s].pts[i];
            if (!isfinite(q->x) || !isfinite(q->y) || isinf(q->lo) || isinf(q->hi))
                return lw_fail("figure \"%s\": series \"%s\" has a non-finite number", p->title ? p->title : "",
                               p->series[s].name ? p->series[s].name : "");
            /* past 1e100 the axis arithmetic (ranges, ticks, 2^x on a log axis) overflows to inf
             * and NaN: no result of this tool is that large, so the file was edited */
            const double big = 1e100, v[4] = {q->x, q->y, q->lo, q->hi};
            for (int k = 0; k < 4; k++)
                if (fabs(v[k]) > big || (k == 0 && p->log2_x && q->x > 0 && q->x < 1 / big))
                    return lw_fail("figure \"%s\": series \"%s\": %s = %g is beyond what a figure can draw (|x| in "
                                   "[1e-100, 1e100] on a log axis, at most 1e100 elsewhere): the file was edited or "
                                   "is not a result of this tool",
                                   p->title ? p->title : "", p->series[s].name ? p->series[s].name : "",
                                   k == 0 ? "x" : k == 1 ? "y" : k == 2 ? "lo" : "hi", v[k]);
            if (p->log2_x && q->x <= 0)
                return lw_fail("figure \"%s\": series \"%s\": x = %g cannot go on a log2 axis (x must be > 0)",
                               p->title ? p->title : "", p->series[s].name ? p->series[s].name : "", q->x);
        }
    for (int r = 0; r < p->n_refs; r++)
        if (!isfinite(p->refs[r].y)) return lw_fail("figure \"%s\": a reference line has a non-finite y", p->title ? p->title : "");
    return 0;
}

static void widen(double *lo, double *hi, double v) {
    if (isnan(v)) return;
    if (v < *lo) *lo = v;
    if (v > *hi) *hi = v;
}

static void compute_axes(const lw_plot *p, axes *a, double *ystep) {
    double xl = INFINITY, xh = -INFINITY, yl = INFINITY, yh = -INFINITY;
    for (int s = 0; s < p->n_series; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            const lw_plot_point *q = &p->series[s].pts[i];
            widen(&xl, &xh, p->log2_x ? log2(q->x) : q->x);
            widen(&yl, &yh, q->y);
            widen(&yl, &yh, q->lo);
            widen(&yl, &yh, q->hi);
        }
    for (int t = 0; t < p->n_x_ticks; t++) widen(&xl, &xh, p->log2_x ? log2(p->x_ticks[t].value) : p->x_ticks[t].value);
    for (int r = 0; r < p->n_refs; r++) {
        widen(&yl, &yh, p->refs[r].y);
        widen(&yl, &yh, p->refs[r].lo);
        widen(&yl, &yh, p->refs[r].hi);
    }
    if (!isfinite(xl)) xl = 0, xh = 1;
    if (!isfinite(yl)) yl = 0, yh = 1;
    if (yl >= 0) yl = 0;
    if (!isnan(p->y_min) && p->y_min < yl) yl = p->y_min; /* a given range is widened by data outside it */
    if (!isnan(p->y_max) && p->y_max > yh) yh = p->y_max;
    if (yh <= yl) yh = yl + 1;
    *ystep = nice_step(yh - yl, 5);
    yl = floor(yl / *ystep + 1e-9) * *ystep;
    yh = ceil(yh / *ystep - 1e-9) * *ystep;
    double xpad = xh > xl ? 0.05 * (xh - xl) : 0.5;
    if (p->log2_x) xpad = xpad < 0.3 ? 0.3 : xpad;
    if (p->x_ticks && xpad < 0.5) xpad = 0.5;
    *a = (axes){.xmin = xl - xpad, .xmax = xh + xpad, .ymin = yl, .ymax = yh, .px0 = LEFT, .px1 = W - RIGHT,
                .py0 = TOP + PLOT_H, .py1 = TOP, .xlog = p->log2_x};
}

static void tick_x(lw_html *h, const axes *a, double value, const char *label) {
    double px = ax_x(a, value);
    lw_html_rawf(h, "<line class=\"grid\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>", px, a->py0, px, a->py1);
    lw_html_rawf(h, "<text class=\"tick\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">", px, a->py0 + 16);
    lw_html_text(h, label);
    lw_html_raw(h, "</text>\n");
}

static void draw_axes(lw_html *h, const lw_plot *p, const axes *a, double ystep) {
    char buf[64];
    for (double y = a->ymin; y <= a->ymax + ystep * 1e-6; y += ystep) {
        double py = ax_y(a, y);
        snprintf(buf, sizeof buf, "%g", fabs(y) < ystep * 1e-9 ? 0.0 : y);
        lw_html_rawf(h, "<line class=\"grid\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>", a->px0, py, a->px1,
                     py);
        lw_html_rawf(h, "<text class=\"tick\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%s</text>\n", a->px0 - 6,
                     py + 4, buf);
    }
    if (p->x_ticks) {
        for (int t = 0; t < p->n_x_ticks; t++) tick_x(h, a, p->x_ticks[t].value, p->x_ticks[t].label);
    } else if (a->xlog) {
        int k0 = (int)ceil(a->xmin), k1 = (int)floor(a->xmax), every = (k1 - k0) / 10 + 1;
        for (int k = k0; k <= k1; k += every) {
            snprintf(buf, sizeof buf, "%.15g", ldexp(1.0, k));
            tick_x(h, a, ldexp(1.0, k), buf);
        }
    } else {
        double step = nice_step(a->xmax - a->xmin, 6);
        for (double x = ceil(a->xmin / step) * step; x <= a->xmax; x += step) {
            snprintf(buf, sizeof buf, "%g", fabs(x) < step * 1e-9 ? 0.0 : x);
            tick_x(h, a, x, buf);
        }
    }
    lw_html_rawf(h, "<rect class=\"frame\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/>\n", a->px0, a->py1,
                 a->px1 - a->px0, a->py0 - a->py1);
    lw_html_rawf(h, "<text class=\"axlabel\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">", (a->px0 + a->px1) / 2,
                 a->py0 + 36);
    lw_html_text(h, p->x_label);
    if (a->xlog) lw_html_raw(h, " (log\xE2\x82\x82 scale)");
    lw_html_raw(h, "</text>\n");
    lw_html_rawf(h, "<text class=\"axlabel\" transform=\"translate(16 %.2f) rotate(-90)\" text-anchor=\"middle\">",
                 (a->py0 + a->py1) / 2);
    lw_html_text(h, p->y_label);
    lw_html_raw(h, "</text>\n");
}

static void draw_refs(lw_html *h, const lw_plot *p, const axes *a) {
    for (int r = 0; r < p->n_refs; r++) {
        const lw_plot_ref *ref = &p->refs[r];
        const char *color = REF_COLORS[r % N_REF_COLORS];
        if (!isnan(ref->lo) && !isnan(ref->hi))
            lw_html_rawf(h, "<rect class=\"refband\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"/>",
                         a->px0, ax_y(a, ref->hi), a->px1 - a->px0, ax_y(a, ref->lo) - ax_y(a, ref->hi), color);
        double py = ax_y(a, ref->y);
        lw_html_rawf(h, "<line class=\"ref\" data-ref=\"%d\" data-y=\"%.17g\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" "
                        "y2=\"%.2f\" stroke=\"%s\"><title>",
                     r, ref->y, a->px0, py, a->px1, py, color);
        lw_html_textf(h, "%s: %.3f", ref->name ? ref->name : "", ref->y);
        /* labels alternate between the right and the left end, so lines close together keep both legible */
        bool right = r % 2 == 0;
        lw_html_rawf(h, "</title></line>\n<text class=\"reflabel\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\" fill=\"%s\">",
                     right ? a->px1 - 4 : a->px0 + 4, py - 3, right ? "end" : "start", color);
        lw_html_text(h, ref->name);
        lw_html_raw(h, "</text>\n");
    }
}

static void draw_band(lw_html *h, const lw_plot_series *s, const axes *a, const char *color) {
    int k = 0;
    for (int i = 0; i < s->n; i++) k += !isnan(s->pts[i].lo) && !isnan(s->pts[i].hi);
    if (k < 2) return;
    lw_html_rawf(h, "<path class=\"band\" fill=\"%s\" d=\"", color);
    const char *cmd = "M";
    for (int i = 0; i < s->n; i++)
        if (!isnan(s->pts[i].lo) && !isnan(s->pts[i].hi)) {
            lw_html_rawf(h, "%s%.2f %.2f ", cmd, ax_x(a, s->pts[i].x), ax_y(a, s->pts[i].hi));
            cmd = "L";
        }
    for (int i = s->n - 1; i >= 0; i--)
        if (!isnan(s->pts[i].lo) && !isnan(s->pts[i].hi))
            lw_html_rawf(h, "L%.2f %.2f ", ax_x(a, s->pts[i].x), ax_y(a, s->pts[i].lo));
    lw_html_raw(h, "Z\"/>\n");
}

static void draw_series(lw_html *h, const lw_plot *p, const axes *a) {
    char buf[96];
    for (int si = 0; si < p->n_series; si++) {
        const lw_plot_series *s = &p->series[si];
        const char *color = PALETTE[si % N_PALETTE];
        lw_html_rawf(h, "<g class=\"series\" data-series=\"%d\">\n", si);
        if (s->band) draw_band(h, s, a, color);
        if (s->n > 1 && !s->points_only) {
            lw_html_rawf(h, "<polyline class=\"line\" stroke=\"%s\" points=\"", color);
            for (int i = 0; i < s->n; i++) lw_html_rawf(h, "%.2f,%.2f ", ax_x(a, s->pts[i].x), ax_y(a, s->pts[i].y));
            lw_html_raw(h, "\"/>\n");
        }
        for (int i = 0; i < s->n; i++) {
            const lw_plot_point *q = &s->pts[i];
            double px = ax_x(a, q->x), py = ax_y(a, q->y);
            bool ci = !isnan(q->lo) && !isnan(q->hi);
            if (ci && !s->band)
                lw_html_rawf(h, "<line class=\"err\" stroke=\"%s\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>",
                             color, px, ax_y(a, q->lo), px, ax_y(a, q->hi));
            lw_html_rawf(h, "<circle class=\"pt\" data-series=\"%d\" data-x=\"%.17g\" data-y=\"%.17g\"", si, q->x, q->y);
            if (ci) lw_html_rawf(h, " data-lo=\"%.17g\" data-hi=\"%.17g\"", q->lo, q->hi);
            lw_html_rawf(h, " cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"%s\"><title>", px, py, color);
            lw_html_text(h, s->name);
            lw_html_raw(h, ": ");
            if (q->label) lw_html_text(h, q->label);
            else lw_html_textf(h, "x = %g", q->x);
            lw_html_textf(h, ", %s", lw_fmt_ci(buf, sizeof buf, q->y, ci ? q->lo : NAN, ci ? q->hi : NAN, false));
            lw_html_raw(h, "</title></circle>\n");
        }
        lw_html_raw(h, "</g>\n");
    }
}

/* Legend columns: as many as the longest name lets fit (about 6.2 px per character at 11 px). */
static int legend_cols(const lw_plot *p) {
    size_t longest = 1;
    for (int i = 0; i < p->n_series + p->n_refs; i++) {
        const char *name = i < p->n_series ? p->series[i].name : p->refs[i - p->n_series].name;
        if (name && strlen(name) > longest) longest = strlen(name);
    }
    int cols = (int)((W - LEFT) / (longest * 6.2 + 28));
    return cols < 1 ? 1 : cols > LEGEND_COLS ? LEGEND_COLS : cols;
}

static void draw_legend(lw_html *h, const lw_plot *p, double y0) {
    int k = 0, ncols = legend_cols(p);
    double colw = (double)(W - LEFT) / ncols;
    for (int i = 0; i < p->n_series + p->n_refs; i++, k++) {
        double x = LEFT + (k % ncols) * colw, y = y0 + (k / ncols) * LEGEND_ROW;
        bool series = i < p->n_series;
        const char *color = series ? PALETTE[i % N_PALETTE] : REF_COLORS[(i - p->n_series) % N_REF_COLORS];
        if (series)
            lw_html_rawf(h, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"%s\"/>", x + 6, y - 4, color);
        else
            lw_html_rawf(h, "<line class=\"ref\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>", x,
                         y - 4, x + 14, y - 4, color);
        lw_html_rawf(h, "<text class=\"legend\" x=\"%.2f\" y=\"%.2f\">", x + 20, y);
        lw_html_text(h, series ? p->series[i].name : p->refs[i - p->n_series].name);
        lw_html_raw(h, "</text>\n");
    }
}

int lw_svg_curve(lw_html *h, const lw_plot *p) {
    if (check_numbers(p) != 0) return -1;
    axes a;
    double ystep;
    compute_axes(p, &a, &ystep);
    int ncols = legend_cols(p), rows = (p->n_series + p->n_refs + ncols - 1) / ncols;
    int height = TOP + PLOT_H + BOTTOM + rows * LEGEND_ROW;
    lw_html_rawf(h,
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" role=\"img\" data-px0=\"%.17g\" data-px1=\"%.17g\" data-py0=\"%.17g\" "
                 "data-py1=\"%.17g\" data-xmin=\"%.17g\" data-xmax=\"%.17g\" data-ymin=\"%.17g\" data-ymax=\"%.17g\" "
                 "data-xlog=\"%d\" aria-label=\"",
                 W, height, W, height, a.px0, a.px1, a.py0, a.py1, a.xlog ? exp2(a.xmin) : a.xmin,
                 a.xlog ? exp2(a.xmax) : a.xmax, a.ymin, a.ymax, a.xlog ? 1 : 0);
    lw_html_text(h, p->title);
    lw_html_raw(h, "\">\n<title>");
    lw_html_text(h, p->title);
    lw_html_rawf(h, "</title>\n<text class=\"ttl\" x=\"%d\" y=\"18\">", LEFT);
    lw_html_text(h, p->title);
    lw_html_raw(h, "</text>\n");
    draw_axes(h, p, &a, ystep);
    draw_refs(h, p, &a);
    draw_series(h, p, &a);
    draw_legend(h, p, TOP + PLOT_H + BOTTOM - 2);
    lw_html_raw(h, "</svg>\n");
    int n_points = 0;
    for (int s = 0; s < p->n_series; s++) n_points += p->series[s].n;
    if (n_points == 0) lw_html_raw(h, "<p class=\"note\">This figure has no data points: the file holds no rows.</p>\n");
    return 0;
}

/* ---- the heatmap ---- */

/* White to dark blue (#08306b) through the value's share of [v_min, v_max]. */
static void cell_colour(double t, char out[8]) {
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    int r = (int)lround(255 + t * (8 - 255)), g = (int)lround(255 + t * (48 - 255)), b = (int)lround(255 + t * (107 - 255));
    snprintf(out, 8, "#%02x%02x%02x", r, g, b);
}

int lw_svg_heatmap(lw_html *h, const lw_heatmap *m) {
    if (!(m->v_max > m->v_min)) return lw_fail("heatmap \"%s\": the value range is empty", m->title ? m->title : "");
    for (int i = 0; i < m->n_rows * m->n_cols; i++)
        if (isinf(m->values[i])) return lw_fail("heatmap \"%s\": an infinite value", m->title ? m->title : "");
    enum { HM_LEFT = 80, HM_TOP = 30, BAR_W = 14, BAR_GAP = 50 };
    double avail = W - HM_LEFT - BAR_GAP - BAR_W - 30;
    double cw = avail / (m->n_cols > 0 ? m->n_cols : 1), ch = cw < 18 ? cw : 18;
    if (ch < 8) ch = 8;
    double gw = cw * m->n_cols, gh = ch * m->n_rows;
    int height = (int)(HM_TOP + gh + 56);
    lw_html_rawf(h, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot heatmap\" width=\"%d\" height=\"%d\" "
                    "viewBox=\"0 0 %d %d\" role=\"img\" data-vmin=\"%.17g\" data-vmax=\"%.17g\" aria-label=\"",
                 W, height, W, height, m->v_min, m->v_max);
    lw_html_text(h, m->title);
    lw_html_raw(h, "\">\n<title>");
    lw_html_text(h, m->title);
    lw_html_rawf(h, "</title>\n<text class=\"ttl\" x=\"%d\" y=\"18\">", HM_LEFT);
    lw_html_text(h, m->title);
    lw_html_raw(h, "</text>\n");
    int every_c = (int)(28 / cw) + 1, every_r = (int)(12 / ch) + 1; /* labels that do not overlap */
    for (int r = 0; r < m->n_rows; r++) {
        for (int c = 0; c < m->n_cols; c++) {
            double v = m->values[r * m->n_cols + c];
            char fill[8] = "#dddddd";
            if (!isnan(v)) cell_colour((v - m->v_min) / (m->v_max - m->v_min), fill);
            lw_html_rawf(h, "<rect class=\"cell\" data-row=\"%d\" data-col=\"%d\"", r, c);
            if (!isnan(v)) lw_html_rawf(h, " data-v=\"%.17g\"", v);
            lw_html_rawf(h, " x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"><title>",
                         HM_LEFT + c * cw, HM_TOP + r * ch, cw, ch, fill);
            lw_html_text(h, m->rows[r]);
            lw_html_raw(h, " / ");
            lw_html_text(h, m->cols[c]);
            if (isnan(v)) lw_html_raw(h, ": no value");
            else lw_html_textf(h, ": %.3f", v);
            lw_html_raw(h, "</title></rect>\n");
        }
        if (r % every_r == 0) {
            lw_html_rawf(h, "<text class=\"tick\" x=\"%d\" y=\"%.2f\" text-anchor=\"end\">", HM_LEFT - 4,
                         HM_TOP + (r + 0.5) * ch + 4);
            lw_html_text(h, m->rows[r]);
            lw_html_raw(h, "</text>\n");
        }
    }
    for (int c = 0; c < m->n_cols; c += every_c) {
        lw_html_rawf(h, "<text class=\"tick\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">",
                     HM_LEFT + (c + 0.5) * cw, HM_TOP + gh + 14);
        lw_html_text(h, m->cols[c]);
        lw_html_raw(h, "</text>\n");
    }
    lw_html_rawf(h, "<text class=\"axlabel\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">", HM_LEFT + gw / 2,
                 HM_TOP + gh + 34);
    lw_html_text(h, m->col_label);
    lw_html_rawf(h, "</text>\n<text class=\"axlabel\" transform=\"translate(14 %.2f) rotate(-90)\" "
                    "text-anchor=\"middle\">",
                 HM_TOP + gh / 2);
    lw_html_text(h, m->row_label);
    lw_html_raw(h, "</text>\n");
    /* the colour bar: 20 steps from v_max (top) to v_min */
    double bx = HM_LEFT + gw + BAR_GAP / 2.0;
    for (int k = 0; k < 20; k++) {
        char fill[8];
        cell_colour(1 - (k + 0.5) / 20, fill);
        lw_html_rawf(h, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%d\" height=\"%.2f\" fill=\"%s\"/>", bx,
                     HM_TOP + k * gh / 20, BAR_W, gh / 20 + 0.5, fill);
    }
    lw_html_rawf(h, "<text class=\"tick\" x=\"%.2f\" y=\"%.2f\">%.3g</text><text class=\"tick\" x=\"%.2f\" "
                    "y=\"%.2f\">%.3g</text>\n",
                 bx + BAR_W + 3, HM_TOP + 9.0, m->v_max, bx + BAR_W + 3, HM_TOP + gh, m->v_min);
    lw_html_rawf(h, "<text class=\"legend\" x=\"%.2f\" y=\"%.2f\">", bx, HM_TOP + gh + 14);
    lw_html_text(h, m->value_label);
    lw_html_raw(h, "</text>\n</svg>\n");
    return 0;
}
