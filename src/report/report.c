/* latentwire report: the page around the renderers' sections (latentwire/report.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/jsonio.h"
#include "latentwire/files.h"
#include "latentwire/records.h"
#include "report/report_internal.h"

/* Tried in order; the first whose detect accepts a file renders it. */
static const lw_report_renderer *(*const RENDERERS[])(void) = {
    lw_render_align,   lw_render_retrieval, lw_render_channel, lw_render_debate,
    lw_render_verdict, lw_render_race,      lw_render_scan,    lw_render_codec_retrieval,
    lw_render_panel,   lw_render_probes,
    lw_render_universality,
};
#define N_RENDERERS (int)(sizeof RENDERERS / sizeof RENDERERS[0])

static const char *KNOWN =
    "align.json, retrieval --json, channel --json or --out records, debate --json or --out records, verdict "
    "--json, race.json, scan.json (not scan.records.jsonl), race retrieval's retrieval.json, panel.json, probes.json, universality.json, or a latentwire.race/1, "
    "latentwire.scan/1 or latentwire.codec-retrieval/1 curve document (see latentwire/report.h)";

/* No script may run and nothing may be fetched, even if an escape were ever missed. */
static const char *HEAD =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";

static const char *CSS =
    "<style>\n"
    "body{font-family:sans-serif;margin:2em auto;max-width:980px;padding:0 1em;color:#222;background:#fff}\n"
    "h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}\n"
    "h3{font-size:1.05em}\n"
    ".src,.note,.meta{color:#555;font-size:.9em}\n"
    "code,.cmd{font-family:monospace;font-size:.88em}\n"
    ".cmd{background:#f4f4f4;padding:.3em .5em;display:block;white-space:pre-wrap;word-break:break-all}\n"
    "figure{margin:1.2em 0;padding:.6em;border:1px solid #e3e3e3;border-radius:4px}\n"
    "figcaption{font-weight:bold;margin-bottom:.4em}\n"
    "dl.settings{display:grid;grid-template-columns:max-content auto;gap:0 1em;font-size:.82em;margin:.4em 0}\n"
    "dl.settings dt{color:#555}dl.settings dd{margin:0;font-family:monospace;word-break:break-all}\n"
    "table{border-collapse:collapse;font-size:.88em;margin:.4em 0}\n"
    "th,td{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}\n"
    "th{background:#f4f4f4}\n"
    "td.PASS{background:#d8f0d8;font-weight:bold}td.FAIL{background:#f6d5d5;font-weight:bold}\n"
    "td.INCONCLUSIVE{background:#f3ecd0;font-weight:bold}td.na{color:#888}\n"
    "svg.plot{display:block;max-width:100%;height:auto;font-family:sans-serif}\n"
    "svg .grid{stroke:#eee;stroke-width:1}svg .frame{fill:none;stroke:#888;stroke-width:1}\n"
    "svg .tick{font-size:11px;fill:#444}svg .axlabel{font-size:12px;fill:#222}\n"
    "svg .ttl{font-size:13px;font-weight:bold;fill:#222}svg .legend{font-size:11px;fill:#222}\n"
    "svg .line{fill:none;stroke-width:1.5}svg .err{stroke-width:1.5}svg .band{opacity:.18;stroke:none}\n"
    "svg .ref{stroke-width:1.5;stroke-dasharray:6 4}svg .refband{opacity:.12}svg .reflabel{font-size:10px}\n"
    "nav li{font-size:.9em}\n"
    "</style>\n";

lw_report_params lw_report_default_params(void) {
    return (lw_report_params){.title = "latentwire report", .resamples = 1000, .seed = 1};
}

/* ---- helpers for the renderers ---- */

void lw_fig_begin(lw_html *h, lw_report_ctx *ctx, const char *title) {
    ctx->n_figures++;
    lw_html_rawf(h, "<figure id=\"fig-%d\"><figcaption>Figure %d. ", ctx->n_figures, ctx->n_figures);
    lw_html_text(h, title);
    lw_html_raw(h, "</figcaption>\n");
}

static void scalar_text(lw_html *h, json_t *v) {
    if (json_is_string(v)) lw_html_text(h, json_string_value(v));
    else if (json_is_integer(v)) lw_html_rawf(h, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) lw_html_rawf(h, "%.6g", json_real_value(v));
    else if (json_is_true(v)) lw_html_raw(h, "true");
    else if (json_is_false(v)) lw_html_raw(h, "false");
    else if (json_is_null(v)) lw_html_raw(h, "(not set)");
    else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
        lw_html_text(h, s ? s : "");
        free(s);
    }
}

void lw_fig_provenance(lw_html *h, const char *command, json_t *settings) {
    if (command) {
        lw_html_raw(h, "<div class=\"prov\"><span class=\"note\">made by</span><code class=\"cmd\">");
        lw_html_text(h, command);
        lw_html_raw(h, "</code></div>\n");
    }
    if (json_is_object(settings) && json_object_size(settings) > 0) {
        lw_html_raw(h, "<dl class=\"settings\">");
        const char *k;
        json_t *v;
        json_object_foreach(settings, k, v) {
            lw_html_raw(h, "<dt>");
            lw_html_text(h, k);
            lw_html_raw(h, "</dt><dd>");
            scalar_text(h, v);
            lw_html_raw(h, "</dd>");
        }
        lw_html_raw(h, "</dl>\n");
    }
}

void lw_fig_end(lw_html *h) { lw_html_raw(h, "</figure>\n"); }

void lw_note(lw_html *h, const char *text) {
    lw_html_raw(h, "<p class=\"note\">");
    lw_html_text(h, text);
    lw_html_raw(h, "</p>\n");
}

/* The first member read as a number that is not one (render_section names it after the
 * renderer ran: a string, object or boolean was drawn as "nan" with exit 0). The key and the
 * value are copied when read: a renderer may read from a temporary it frees before the check
 * runs. obj is kept only to find where it lies in the file (compared, never read: a temporary is
 * not found there, and then the key alone is named). key "" names obj itself (a cell that is not
 * an object); want is what the field should have held. */
static _Thread_local struct {
    const json_t *obj;
    bool found, missing;
    char key[64], shown[48];
    const char *want;
} g_not_number;

static void note_bad(json_t *obj, const char *key, json_t *v, const char *want) {
    if (g_not_number.found) return;
    g_not_number.found = true;
    g_not_number.obj = obj;
    g_not_number.missing = !v;
    g_not_number.want = want;
    snprintf(g_not_number.key, sizeof g_not_number.key, "%s", key);
    char *shown = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    snprintf(g_not_number.shown, sizeof g_not_number.shown, "%.40s", shown ? shown : "?");
    free(shown);
}

static double read_number(json_t *obj, const char *key, bool required) {
    json_t *v = json_object_get(obj, key);
    if (json_is_number(v)) return json_number_value(v);
    /* a required number inside something that is not an object (a cell "x"): that is named */
    if (required && obj && !json_is_object(obj)) note_bad(obj, "", obj, "not an object");
    else if ((v && !json_is_null(v)) || (required && obj)) note_bad(obj, key, v, "not a number");
    return NAN;
}

double lw_jnum(json_t *obj, const char *key) { return read_number(obj, key, false); }

double lw_jnum_req(json_t *obj, const char *key) { return read_number(obj, key, true); }

double lw_jcount(json_t *obj, const char *key) {
    double v = read_number(obj, key, true);
    /* a count drawn as -3 or 2.5 items is no result either */
    if (!isnan(v) && !(v >= 0 && v == floor(v) && v <= 9007199254740992.0)) {
        note_bad(obj, key, json_object_get(obj, key), "not a count (a whole number >= 0)");
        return NAN;
    }
    return v;
}

double lw_jprob_req(json_t *obj, const char *key) {
    double v = read_number(obj, key, true);
    /* a chance of 7 or -0.5 is no result either (the load checks only the names it knows) */
    if (!isnan(v) && !(v >= 0 && v <= 1)) {
        note_bad(obj, key, json_object_get(obj, key), "not a probability (a number in [0, 1])");
        return NAN;
    }
    return v;
}

json_t *lw_jobj_req(json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    if (json_is_object(v)) return v;
    if (obj && !json_is_object(obj)) note_bad(obj, "", obj, "not an object");
    else if (obj) note_bad(obj, key, v, "not an object");
    return NULL;
}

bool lw_jci_req(json_t *obj, double *mean, double *lo, double *hi, int *n) {
    /* lw_ci_json writes all four; NULL: the caller's lw_jobj_req named the missing object */
    *mean = obj ? lw_jnum_req(obj, "mean") : NAN;
    *lo = obj ? lw_jnum_req(obj, "lo") : NAN;
    *hi = obj ? lw_jnum_req(obj, "hi") : NAN;
    double nn = obj ? lw_jcount(obj, "n") : NAN;
    if (n) *n = isnan(nn) ? 0 : (int)nn;
    return !isnan(*mean) && !isnan(*lo) && !isnan(*hi) && !isnan(nn);
}

/* Where obj lies under v ("cells[0]"), into where; true when found. */
static bool path_of(json_t *v, json_t *obj, char *where, size_t size) {
    if (v == obj) return true;
    size_t len = strlen(where);
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach(v, k, m) {
            snprintf(where + len, size - len, "%s%s", len ? "." : "", k);
            if (path_of(m, obj, where, size)) return true;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m) {
            snprintf(where + len, size - len, "[%zu]", i);
            if (path_of(m, obj, where, size)) return true;
        }
    }
    where[len] = '\0';
    return false;
}

/* -1 naming the file and the field a renderer read as a number and found none, else 0. */
static int check_read_numbers(const lw_report_input *in) {
    if (!g_not_number.found) return 0;
    char where[512] = "";
    if (in->doc) path_of(in->doc, (json_t *)g_not_number.obj, where, sizeof where);
    else path_of(in->lines, (json_t *)g_not_number.obj, where, sizeof where);
    const char *dot = *where && *g_not_number.key ? "." : "";
    if (g_not_number.missing)
        return lw_fail("%s: %s%s%s is missing; the file was edited or damaged, make it again", in->path, where, dot,
                       g_not_number.key);
    return lw_fail("%s: %s%s%s is %s, %s; the file was edited or damaged, make it again", in->path, where, dot,
                   g_not_number.key, g_not_number.shown, g_not_number.want);
}

const char *lw_jstr(json_t *obj, const char *key) { return json_string_value(json_object_get(obj, key)); }

bool lw_jci(json_t *obj, double *mean, double *lo, double *hi, int *n) {
    *mean = lw_jnum(obj, "mean");
    *lo = lw_jnum(obj, "lo");
    *hi = lw_jnum(obj, "hi");
    double nn = lw_jnum(obj, "n");
    if (n) *n = isnan(nn) ? 0 : (int)nn;
    if (isnan(*lo) || isnan(*hi)) *lo = *hi = NAN;
    return !isnan(*mean);
}

bool lw_is_format(const lw_report_input *in, const char *fmt) {
    const char *f = lw_jstr(in->doc, "format");
    return f && !strcmp(f, fmt);
}

/* ---- loading ---- */

/* The file as one JSON value, else as JSON Lines (blank lines skipped, each line an object). */
static int load_input(const char *path, lw_report_input *in) {
    *in = (lw_report_input){.path = path};
    size_t len;
    char *text = lw_read_file(path, &len);
    if (!text) return -1; /* the message names the file */
    lw_sha256_buf(text, len, in->sha256);
    json_error_t err;
    in->doc = json_loadb(text, len, 0, &err);
    int rc = 0;
    if (!in->doc) {
        json_error_t first = err;
        in->lines = json_array();
        long line_no = 0;
        bool sealed = false;
        for (char *line = text, *next; rc == 0 && line < text + len; line = next) {
            char *nl = memchr(line, '\n', (size_t)(text + len - line));
            next = nl ? nl + 1 : text + len;
            line_no++;
            size_t n = (size_t)((nl ? nl : text + len) - line);
            bool blank = true;
            for (size_t i = 0; i < n && blank; i++) blank = strchr(" \t\r", line[i]) != NULL;
            if (blank) continue;
            json_t *o = json_loadb(line, n, 0, &err);
            char *one = json_is_object(o) ? strndup(line, n) : NULL;
            bool damaged = one && lw_records_check_line(one, o, &sealed) != 0; /* a records line: its checksum */
            free(one);
            json_object_del(o, "crc32");
            if (damaged)
                rc = lw_fail("%s: line %ld does not match its checksum: the file was edited or damaged, make it again",
                             path, line_no);
            else if (!json_is_object(o))
                rc = line_no == 1 ? lw_fail("%s: not JSON (%s, line %d) nor JSON Lines", path,
                                            lw_json_error_text(&first), first.line)
                                  : lw_fail("%s: line %ld is not a JSON object (%s); a report reads JSON documents "
                                            "and JSON Lines files",
                                            path, line_no, o ? "another JSON value" : lw_json_error_text(&err));
            else json_array_append(in->lines, o);
            json_decref(o);
        }
        if (rc == 0 && json_array_size(in->lines) == 0) rc = lw_fail("%s: empty (no JSON in it)", path);
    }
    free(text);
    return rc;
}

/* A result given twice would be drawn twice as if it were two runs: refused, the file compared
 * by device and inode (so "x", "./x", a symlink and a hard link to it are the same). */
static int check_distinct(const char *const *inputs, int n) {
    int a, b, found = lw_first_repeated_file(inputs, n, &a, &b);
    if (found <= 0) return found;
    return lw_fail("%s: given twice (as result %d and result %d%s%s); give each result file once", inputs[b], a + 1,
                   b + 1, strcmp(inputs[b], inputs[a]) ? ", the first as " : "", strcmp(inputs[b], inputs[a]) ? inputs[a] : "");
}

static void free_input(lw_report_input *in) {
    json_decref(in->doc);
    json_decref(in->lines);
}

static const lw_report_renderer *find_renderer(const lw_report_input *in) {
    for (int r = 0; r < N_RENDERERS; r++)
        if (RENDERERS[r]()->detect(in)) return RENDERERS[r]();
    return NULL;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int render_section(lw_html *h, int i, const lw_report_input *in, const lw_report_renderer *r,
                          lw_report_ctx *ctx) {
    lw_html_rawf(h, "<section class=\"result\" id=\"sec-%d\" data-kind=\"%s\">\n<h2>%s: ", i + 1, r->kind, r->kind);
    lw_html_text(h, base_name(in->path));
    lw_html_raw(h, "</h2>\n<p class=\"src\">file <code>");
    lw_html_text(h, in->path);
    lw_html_rawf(h, "</code>, sha256 <code>%s</code></p>\n", in->sha256);
    g_not_number.found = false;
    int rc = r->render(h, in, ctx);
    /* a field read before a refusal is named first: it is what the refusal came from */
    if (check_read_numbers(in) != 0) return -1;
    if (rc != 0) return lw_fail_prefix("%s (%s): ", in->path, r->kind);
    lw_html_raw(h, "</section>\n");
    return 0;
}

char *lw_report_html(const char *const *inputs, int n, const lw_report_params *p) {
    lw_report_params dp = lw_report_default_params();
    if (!p) p = &dp;
    if (n < 1 || !inputs) {
        lw_fail("report: no result files given");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!inputs[i] || !*inputs[i]) return lw_fail("report: result file %d has no path", i + 1), NULL;
    lw_report_input *in = calloc((size_t)n, sizeof *in);
    const lw_report_renderer **r = calloc((size_t)n, sizeof *r);
    lw_html h = {0};
    int rc = in && r ? 0 : lw_fail("out of memory");
    if (rc == 0) rc = check_distinct(inputs, n);
    for (int i = 0; rc == 0 && i < n; i++) {
        rc = load_input(inputs[i], &in[i]);
        if (rc == 0) rc = lw_report_check_numbers(&in[i]);
        if (rc == 0 && !(r[i] = find_renderer(&in[i])))
            rc = lw_fail("%s: not a result the report knows; give %s", inputs[i], KNOWN);
    }
    const char *title = p->title ? p->title : dp.title;
    if (rc == 0) {
        lw_html_raw(&h, HEAD);
        lw_html_raw(&h, "<title>");
        lw_html_text(&h, title);
        lw_html_raw(&h, "</title>\n");
        lw_html_raw(&h, CSS);
        lw_html_raw(&h, "</head>\n<body>\n<h1>");
        lw_html_text(&h, title);
        lw_html_rawf(&h, "</h1>\n<p class=\"meta\">Made by <code>latentwire report</code> from %d result file%s. "
                         "Intervals are 95%% unless a section says otherwise; dashed lines are references "
                         "(floors, ceilings, chance, thresholds).</p>\n<nav><ol>\n",
                     n, n == 1 ? "" : "s");
        for (int i = 0; i < n; i++) {
            lw_html_rawf(&h, "<li><a href=\"#sec-%d\">%s: ", i + 1, r[i]->kind);
            lw_html_text(&h, in[i].path);
            lw_html_raw(&h, "</a></li>\n");
        }
        lw_html_raw(&h, "</ol></nav>\n");
    }
    lw_report_ctx ctx = {.params = p};
    for (int i = 0; rc == 0 && i < n; i++) rc = render_section(&h, i, &in[i], r[i], &ctx);
    if (rc == 0) lw_html_raw(&h, "</body>\n</html>\n");
    if (rc == 0 && h.oom) rc = lw_fail("report: out of memory");
    for (int i = 0; in && i < n; i++) free_input(&in[i]);
    free(in);
    free(r);
    if (rc != 0) {
        lw_html_free(&h);
        return NULL;
    }
    return h.s;
}

int lw_report_write(const char *const *inputs, int n, const char *out_path, const lw_report_params *p) {
    if (!out_path) return lw_fail("report: no output path");
    if (n > 0 && inputs) { /* the page must not replace a result it is made from */
        const char **pairs = calloc((size_t)n * 2 + 1, sizeof *pairs);
        if (!pairs) return lw_fail("report: out of memory");
        for (int i = 0; i < n; i++) pairs[2 * i] = "result", pairs[2 * i + 1] = inputs[i];
        int rc = lw_output_check("-o", out_path, LW_OUT_FILE, pairs);
        free(pairs);
        if (rc != 0) return -1;
    }
    char *page = lw_report_html(inputs, n, p);
    if (!page) return -1;
    int rc = lw_write_text_file(out_path, page);
    free(page);
    return rc;
}
