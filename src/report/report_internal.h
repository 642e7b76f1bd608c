/* Internal: the interface every renderer fills. A renderer recognizes its kind of result from
 * the parsed file (detect) and appends its section (render); report.c loads the files, asks
 * each renderer in turn, and wraps the sections into the page. */
#ifndef LW_REPORT_INTERNAL_H
#define LW_REPORT_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "latentwire/report.h"
#include "report/html.h"

typedef struct {
    const char *path;
    char sha256[65];
    json_t *doc;   /* the file as one JSON value, or NULL */
    json_t *lines; /* else: JSON Lines, an array of the lines' objects */
} lw_report_input;

typedef struct {
    const lw_report_params *params;
    int n_figures; /* figures so far: numbering and ids */
} lw_report_ctx;

typedef struct {
    const char *kind;
    bool (*detect)(const lw_report_input *in);
    /* Appends the section's body. 0, or -1 with the error set (the caller names the file). */
    int (*render)(lw_html *h, const lw_report_input *in, lw_report_ctx *ctx);
} lw_report_renderer;

/* One accessor per renderer (functions, not exported data: a sanitized build would export an
 * __odr_asan symbol beside every global object). */
const lw_report_renderer *lw_render_align(void);
const lw_report_renderer *lw_render_retrieval(void);
const lw_report_renderer *lw_render_channel(void);
const lw_report_renderer *lw_render_debate(void);
const lw_report_renderer *lw_render_verdict(void);
const lw_report_renderer *lw_render_race(void);
const lw_report_renderer *lw_render_scan(void);
const lw_report_renderer *lw_render_codec_retrieval(void);
const lw_report_renderer *lw_render_panel(void);
const lw_report_renderer *lw_render_probes(void);
const lw_report_renderer *lw_render_universality(void);

/* The file's numbers checked at load (report_check.c): intervals with lo <= hi, counts n >= 1,
 * proportions in [0, 1], differences of proportions in [-1, 1]. 0, or -1 with the error naming
 * the file and the field. */
int lw_report_check_numbers(const lw_report_input *in);

/* ---- helpers shared by the renderers (report.c) ---- */

/* Opens a numbered figure: <figure id="fig-N"><figcaption>Figure N. title</figcaption>. */
void lw_fig_begin(lw_html *h, lw_report_ctx *ctx, const char *title);
/* The provenance under a figure: the command (verbatim; NULL: none recorded) and the settings
 * object's scalar members as a list (NULL: none). */
void lw_fig_provenance(lw_html *h, const char *command, json_t *settings);
void lw_fig_end(lw_html *h);
/* A note paragraph (escaped text). */
void lw_note(lw_html *h, const char *text);

/* Numbers and strings out of JSON: the member's number (NAN when absent or null),
 * string (NULL). */
double lw_jnum(json_t *obj, const char *key);
/* The same for a member the renderer draws whatever it holds: absent or null is malformed too.
 * A member present and not a number (either getter) fails the section, naming the file and field. */
double lw_jnum_req(json_t *obj, const char *key);
/* A required count: a whole number >= 0 (NAN, and the section fails naming it, otherwise). */
double lw_jcount(json_t *obj, const char *key);
/* A required probability: a number in [0, 1] (NAN, and the section fails naming it, otherwise). */
double lw_jprob_req(json_t *obj, const char *key);
/* A required member object (NULL, and the section fails naming it, when missing or not an
 * object; obj itself not an object is named too). */
json_t *lw_jobj_req(json_t *obj, const char *key);
const char *lw_jstr(json_t *obj, const char *key);
/* A {"mean", "lo", "hi", "n"} object: true when mean is a number (lo, hi NAN when absent). */
bool lw_jci(json_t *obj, double *mean, double *lo, double *hi, int *n);
/* The same for an interval the writer always writes whole (lw_ci_json): mean, lo, hi and the count
 * n required; false when any is not (named as above; obj NULL: lw_jobj_req named it). */
bool lw_jci_req(json_t *obj, double *mean, double *lo, double *hi, int *n);

/* The curve documents (race, scan, codec-retrieval; report.h): parsed and checked, with the
 * error naming the field. */
typedef struct {
    char *name;
    lw_plot_point *pts;
    int *n_items;
    int n;
} lw_curve_series;

typedef struct {
    bool present;
    double y, lo, hi;
    int n;
    const char *label;
} lw_curve_ref;

typedef struct {
    const char *title, *command, *x_label, *y_label;
    json_t *settings;
    lw_curve_series *series;
    int n_series;
    lw_curve_ref floor, ceiling, mean; /* mean: a race's zero-payload control (the fitted mean) */
    double threshold; /* NAN: none */
    bool has_selected;
    double selected_x;
    const char *selected_how;
    json_t *comparisons; /* array or NULL */
} lw_curve_doc;

int lw_curve_doc_parse(json_t *doc, lw_curve_doc *out);
void lw_curve_doc_free(lw_curve_doc *d);
/* The document's figure: series, floor / ceiling / threshold lines, provenance. */
int lw_curve_doc_figure(lw_html *h, lw_report_ctx *ctx, const lw_curve_doc *d, const char *title, bool log2_x,
                        bool bands, double y_min, double y_max);
/* Every point of the document as a table: series, x, y [CI], n. */
void lw_curve_doc_table(lw_html *h, const lw_curve_doc *d, const char *x_name, const char *y_name);
/* True when doc is an object whose "format" is fmt. */
bool lw_is_format(const lw_report_input *in, const char *fmt);

/* ---- native result files (race.json, scan.json, retrieval.json) drawn through a curve
 * document built from their numbers (curves.c) ---- */
/* True when doc is an object with member key and no "series" (the tools' own shape, not a
 * curve document). */
bool lw_is_native(const lw_report_input *in, const char *key);
/* A curve point {"x", "y", "lo", "hi", "n", "label"} from a {"mean", "lo", "hi", "n"} object;
 * NULL (error naming where) when it has no mean. */
json_t *lw_curve_point_from_ci(json_t *ci, double x, const char *label, const char *where);
/* The "points" array of curve's series named name (the series appended when new). */
json_t *lw_curve_series_points(json_t *curve, const char *name);
/* lw_curve_doc_parse + lw_curve_doc_figure of a built curve document, y from 0 to 1. */
int lw_curve_json_figure(lw_html *h, lw_report_ctx *ctx, json_t *curve, const char *title, bool log2_x, bool bands,
                         const char *x_label, const char *y_label);

#endif
