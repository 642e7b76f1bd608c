/* Family universality (lw_probe_merge): several probe-panel runs, one per pair / layer / bridge
 * recipe, merged into one cross-pair table, universality.json. The spread per statistic is
 * descriptive (min, max, whether all intervals overlap): a good number at one layer-recipe pair
 * need not carry to others, and the table shows whether it does; it tests nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/jsonio.h"
#include "latentwire/json.h"
#include "panel/probe_spread.h"
#include "latentwire/probes.h"
#include "latentwire/textio.h"

#define FORMAT_IN "latentwire.panel.probes/1"
#define FORMAT_OUT "latentwire.panel.universality/1"

typedef struct {
    const char *run; /* as given */
    json_t *doc;
} run_doc;

/* run is a directory written by `latentwire panel probes` or its probes.json. */
static json_t *load_run(const char *run) {
    char path[4096];
    struct stat st;
    if (stat(run, &st) == 0 && S_ISDIR(st.st_mode)) snprintf(path, sizeof path, "%s/probes.json", run);
    else snprintf(path, sizeof path, "%s", run);
    if (lw_check_regular_file(path) != 0) return NULL;
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc) {
        lw_fail("%s:%d: invalid JSON: %s", path, jerr.line, lw_json_error_text(&jerr));
        return NULL;
    }
    const char *fmt = json_string_value(json_object_get(doc, "format"));
    if (!fmt || strcmp(fmt, FORMAT_IN) || !json_is_array(json_object_get(doc, "stats")) ||
        !json_is_object(json_object_get(doc, "params"))) {
        lw_fail("%s: not a probe panel result (format %s with stats and params, as latentwire panel probes writes)",
                path, FORMAT_IN);
        json_decref(doc);
        return NULL;
    }
    /* every statistic as lw_ci_json writes it: a mean "NaN" (a string) was merged as 0, an interval
     * upside down as "no overlap", a statistic twice as whichever came first */
    json_t *stats = json_object_get(doc, "stats"), *sj;
    size_t i;
    json_array_foreach(stats, i, sj) {
        const char *probe = json_string_value(json_object_get(sj, "probe"));
        const char *name = json_string_value(json_object_get(sj, "name"));
        json_t *ci = json_object_get(sj, "ci");
        json_t *m = json_object_get(ci, "mean"), *lo = json_object_get(ci, "lo"), *hi = json_object_get(ci, "hi");
        json_t *n = json_object_get(ci, "n");
        const char *why = NULL;
        if (!probe || !*probe || !name || !*name) why = "needs non-empty strings probe and name";
        else if (!json_is_object(ci) || !json_is_number(m) || !json_is_number(lo) || !json_is_number(hi) ||
                 !json_is_integer(n))
            why = "ci needs numbers mean, lo, hi and a whole number n";
        else if (!(fabs(json_number_value(m)) <= 1e100 && fabs(json_number_value(lo)) <= 1e100 &&
                   fabs(json_number_value(hi)) <= 1e100) || json_number_value(lo) > json_number_value(hi) ||
                 json_integer_value(n) < 1)
            why = "ci needs finite mean, lo <= hi (within +-1e100) and n >= 1";
        for (size_t j = 0; !why && j < i; j++) {
            json_t *o = json_array_get(stats, j);
            const char *po = json_string_value(json_object_get(o, "probe")), *no = json_string_value(json_object_get(o, "name"));
            if (po && no && !strcmp(po, probe) && !strcmp(no, name)) why = "appears twice";
        }
        if (why) {
            lw_fail("%s: stats[%zu] (%s %s) %s: the file was edited or damaged; run latentwire panel probes again",
                    path, i, probe ? probe : "?", name ? name : "?", why);
            json_decref(doc);
            return NULL;
        }
    }
    return doc;
}

/* The first member of params where a and b differ (one missing counts), or NULL. */
static const char *params_differ(json_t *pa, json_t *pb) {
    const char *key;
    json_t *v;
    json_object_foreach(pa, key, v) if (!json_equal(v, json_object_get(pb, key))) return key;
    json_object_foreach(pb, key, v) if (!json_object_get(pa, key)) return key;
    return NULL;
}

static int refuse_settings(const run_doc *a, const run_doc *b, const char *key) {
    json_t *va = json_object_get(json_object_get(a->doc, "params"), key);
    json_t *vb = json_object_get(json_object_get(b->doc, "params"), key);
    char *sa = va ? json_dumps(va, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    char *sb = vb ? json_dumps(vb, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    lw_fail("%s and %s were run with different probe settings: params.%s is %s vs %s; merge only runs made with "
            "the same item counts, sigmas and seed",
            a->run, b->run, key, sa ? sa : "absent", sb ? sb : "absent");
    free(sa);
    free(sb);
    return -1;
}

/* A run's pair: models and layers from its settings (the pair's names when it has none), the
 * recipe from its pair, the bridge file from its settings. */
static json_t *pair_json(const run_doc *r) {
    json_t *set = json_object_get(r->doc, "settings"), *pair = json_object_get(r->doc, "pair");
    const char *a = json_string_value(json_object_get(set, "a")), *b = json_string_value(json_object_get(set, "b"));
    if (!a) a = json_string_value(json_object_get(pair, "a"));
    if (!b) b = json_string_value(json_object_get(pair, "b"));
    json_t *la = json_object_get(set, "layer_a"), *lb = json_object_get(set, "layer_b");
    const char *recipe = json_string_value(json_object_get(pair, "bridge"));
    const char *file = json_string_value(json_object_get(set, "bridge"));
    char sla[32] = "?", slb[32] = "?";
    if (json_is_integer(la)) snprintf(sla, sizeof sla, "%lld", (long long)json_integer_value(la));
    if (json_is_integer(lb)) snprintf(slb, sizeof slb, "%lld", (long long)json_integer_value(lb));
    /* the label whole: a fixed buffer cut long names inside a UTF-8 character, and json_pack then
     * gave NULL, which dropped the pair from universality.json with exit 0 */
    const char *fmt = "%s @%s -> %s @%s (%s)";
    int n = snprintf(NULL, 0, fmt, a ? a : "A", sla, b ? b : "B", slb, recipe ? recipe : "?");
    char *label = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!label) return NULL;
    snprintf(label, (size_t)n + 1, fmt, a ? a : "A", sla, b ? b : "B", slb, recipe ? recipe : "?");
    json_t *plan = json_object_get(r->doc, "plan_sha256");
    /* the run as given may be no UTF-8 (a file name's bytes): lw_json_text keeps it readable */
    json_t *o = json_pack("{s:o, s:s, s:s, s:O, s:s, s:O, s:s, s:s, s:O}", "run", lw_json_text(r->run), "label", label,
                          "a", a ? a : "A", "layer_a", la ? la : json_null(), "b", b ? b : "B", "layer_b",
                          lb ? lb : json_null(), "recipe", recipe ? recipe : "?", "bridge", file ? file : "?",
                          "plan_sha256", plan ? plan : json_null());
    free(label);
    return o;
}

static json_t *find_stat(json_t *stats, const char *probe, const char *name) {
    json_t *s;
    size_t i;
    json_array_foreach(stats, i, s) {
        const char *p = json_string_value(json_object_get(s, "probe")), *n = json_string_value(json_object_get(s, "name"));
        if (p && n && !strcmp(p, probe) && !strcmp(n, name)) return s;
    }
    return NULL;
}

/* For intervals on a line, all pairwise overlaps <=> max(lo) <= min(hi). */
json_t *lw_probe_spread_json(json_t *rows) {
    double mn = INFINITY, mx = -INFINITY, max_lo = -INFINITY, min_hi = INFINITY;
    int n = 0, n_ci = 0;
    json_t *imin = json_null(), *imax = json_null(), *row;
    size_t i;
    json_array_foreach(rows, i, row) {
        json_t *ci = json_object_get(row, "ci");
        json_t *m = json_object_get(ci, "mean"), *lo = json_object_get(ci, "lo"), *hi = json_object_get(ci, "hi");
        if (!json_is_number(m)) continue;
        double v = json_number_value(m);
        n++;
        if (v < mn) mn = v, imin = json_object_get(row, "pair");
        if (v > mx) mx = v, imax = json_object_get(row, "pair");
        if (json_is_number(lo) && json_is_number(hi)) {
            n_ci++;
            if (json_number_value(lo) > max_lo) max_lo = json_number_value(lo);
            if (json_number_value(hi) < min_hi) min_hi = json_number_value(hi);
        }
    }
    json_t *o = json_pack("{s:i, s:o, s:o, s:O, s:O}", "n_pairs", n, "min", n ? json_real(mn) : json_null(), "max",
                          n ? json_real(mx) : json_null(), "min_pair", imin, "max_pair", imax);
    json_object_set_new(o, "range", n ? json_real(mx - mn) : json_null());
    /* overlap is said only when every pair with a value has an interval and there are two */
    json_object_set_new(o, "cis_overlap", n >= 2 && n_ci == n ? json_boolean(max_lo <= min_hi) : json_null());
    return o;
}

/* One entry per statistic (in the order they first appear across the runs). */
static json_t *stats_json(const run_doc *r, int n_runs) {
    json_t *out = json_array();
    for (int k = 0; k < n_runs; k++) {
        json_t *s;
        size_t i;
        json_array_foreach(json_object_get(r[k].doc, "stats"), i, s) {
            const char *probe = json_string_value(json_object_get(s, "probe"));
            const char *name = json_string_value(json_object_get(s, "name"));
            if (!probe || !name || find_stat(out, probe, name)) continue;
            json_t *rows = json_array();
            for (int j = 0; j < n_runs; j++) {
                json_t *sj = find_stat(json_object_get(r[j].doc, "stats"), probe, name);
                if (!sj) continue; /* a run made with another --probes selection */
                json_t *ci = json_object_get(sj, "ci");
                json_array_append_new(rows, json_pack("{s:i, s:O}", "pair", j, "ci", ci ? ci : json_null()));
            }
            json_t *e = json_pack("{s:s, s:s, s:o}", "probe", probe, "name", name, "rows", rows);
            json_object_set_new(e, "spread", lw_probe_spread_json(rows));
            json_array_append_new(out, e);
        }
    }
    return out;
}

int lw_probe_merge(const char *const *runs, int n_runs, const char *out_dir) {
    /* before any run is read: NULL runs were dereferenced, a NULL out_dir printed through %s */
    if (!runs || !out_dir) return lw_fail("probes merge: %s is NULL", !runs ? "runs" : "out_dir");
    for (int k = 0; k < n_runs; k++)
        if (!runs[k]) return lw_fail("probes merge: run %d is NULL", k);
    if (n_runs < 2) return lw_fail("probes merge: give at least two runs (one per pair, layer or recipe)");
    run_doc *r = calloc((size_t)n_runs, sizeof *r);
    if (!r) return lw_fail("probes merge: out of memory");
    int rc = 0;
    for (int k = 0; k < n_runs && rc == 0; k++) {
        r[k].run = runs[k];
        if (!(r[k].doc = load_run(runs[k]))) rc = -1;
    }
    /* the same run twice (one file by two paths, or a copy) would show one pair's numbers as
     * agreement across pairs: min = max, "CIs overlap: yes" */
    for (int k = 1; k < n_runs && rc == 0; k++)
        for (int j = 0; j < k && rc == 0; j++)
            if (json_equal(r[j].doc, r[k].doc))
                rc = lw_fail("probes merge: runs %s and %s hold the same results (one run given twice?): give each pair, "
                             "layer or recipe once",
                             runs[j], runs[k]);
    for (int k = 1; k < n_runs && rc == 0; k++) {
        const char *key = params_differ(json_object_get(r[0].doc, "params"), json_object_get(r[k].doc, "params"));
        if (key) rc = refuse_settings(&r[0], &r[k], key);
    }
    if (rc == 0) {
        json_t *pairs = json_array();
        /* a pair that cannot be written is an error, not a row left out (the stats still name it) */
        for (int k = 0; k < n_runs && rc == 0; k++)
            if (!pairs || json_array_append_new(pairs, pair_json(&r[k])) != 0)
                rc = lw_fail("probes merge: %s: cannot record its pair (out of memory)", runs[k]);
        json_t *root = rc != 0 ? NULL : json_pack(
            "{s:s, s:s, s:O, s:o, s:o}", "format", FORMAT_OUT, "note",
            "descriptive: min and max of each statistic across pairs, and whether all pairs' 95% intervals "
            "overlap (max lo <= min hi); overlapping intervals do not show the pairs are equal, and this is no test",
            "params", json_object_get(r[0].doc, "params"), "pairs", pairs, "stats", stats_json(r, n_runs));
        if (rc != 0) json_decref(pairs);
        char path[4096];
        snprintf(path, sizeof path, "%s/universality.json", out_dir);
        if (rc == 0 && !root) rc = lw_fail("probes merge: cannot build the result document");
        else if (rc == 0 && (lw_mkdir_p(out_dir) != 0 || lw_json_save(path, root) != 0)) rc = -1;
        json_decref(root);
    }
    for (int k = 0; k < n_runs; k++) json_decref(r[k].doc);
    free(r);
    return rc;
}
