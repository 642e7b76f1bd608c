/* The numbers of a result file checked when it is loaded, before anything is drawn: a report
 * must not draw an accuracy of 7.3, an interval whose lower end is above its upper end or a
 * mean over n = 0 items as if they were results (an edited or damaged file). The rules follow
 * the members the renderers read (report_internal.h):
 *   - every object with numbers "lo" and "hi" (an interval): lo <= hi;
 *   - every interval object with a number "mean" (lw_ci_json's shape) or a curve point "y" and
 *     a member "n": n an integer >= 1;
 *   - proportions in [0, 1]: the intervals under "accuracy", "top1", "recall@K", "mrr@K",
 *     "ndcg@K", "select", "held_out", "vote", "solo", "a" and "b" (retrieval --paired), a curve
 *     document's points, floor, ceiling and threshold (accuracy, exact match, top-1), and the
 *     records' "score" and "solo_score";
 *   - differences of proportions in [-1, 1]: intervals under "difference", "differences",
 *     "a_minus_b" and "minus_floor" (and everything below them);
 *   - p-values ("p", "p_*", "*_p_value") in [0, 1]; bits (any member named with "bits") in [0, 2^53].
 * Non-finite numbers never reach here: JSON has none and jansson refuses 1e999. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "report/report_internal.h"

typedef enum { SCALE_ANY, SCALE_PROPORTION, SCALE_DIFFERENCE } scale;

/* Computed intervals and means may stray from their bounds by rounding only. */
#define SLACK 1e-9

static bool starts_with(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

/* The scale of the values under member key, inside a parent of scale outer. */
static scale scale_of(const char *key, scale outer) {
    static const char *const diff[] = {"difference", "differences", "a_minus_b", "minus_floor"};
    static const char *const prop[] = {"accuracy", "top1", "select", "held_out", "vote", "solo", "a", "b"};
    for (size_t i = 0; i < sizeof diff / sizeof diff[0]; i++)
        if (!strcmp(key, diff[i])) return SCALE_DIFFERENCE;
    if (outer == SCALE_DIFFERENCE) return outer; /* a difference's per-metric members stay differences */
    for (size_t i = 0; i < sizeof prop / sizeof prop[0]; i++)
        if (!strcmp(key, prop[i])) return SCALE_PROPORTION;
    if (starts_with(key, "recall@") || starts_with(key, "mrr@") || starts_with(key, "ndcg@")) return SCALE_PROPORTION;
    return outer;
}

static int in_range(const char *path, const char *where, const char *key, double v, scale s) {
    if (s == SCALE_PROPORTION && (v < -SLACK || v > 1 + SLACK))
        return lw_fail("%s: %s%s%s = %g is not a proportion (it must be in [0, 1]); the file was edited or damaged, "
                       "make it again",
                       path, where, *where ? "." : "", key, v);
    if (s == SCALE_DIFFERENCE && (v < -1 - SLACK || v > 1 + SLACK))
        return lw_fail("%s: %s%s%s = %g is not a difference of proportions (it must be in [-1, 1]); the file was "
                       "edited or damaged, make it again",
                       path, where, *where ? "." : "", key, v);
    return 0;
}

/* One object's own numbers (its members are visited by the caller). */
static int check_object(const char *path, const char *where, json_t *o, scale s, const char *mean_key) {
    json_t *lo = json_object_get(o, "lo"), *hi = json_object_get(o, "hi"), *mean = json_object_get(o, mean_key);
    json_t *n = json_object_get(o, "n");
    bool interval = json_is_number(lo) && json_is_number(hi);
    if (interval && json_number_value(lo) > json_number_value(hi) + SLACK)
        return lw_fail("%s: %s: interval lo = %g is above hi = %g; the file was edited or damaged, make it again", path,
                       *where ? where : "(top level)", json_number_value(lo), json_number_value(hi));
    if (!json_is_number(mean)) return 0;
    if (n && (!json_is_number(n) || json_number_value(n) < 1 || json_number_value(n) != floor(json_number_value(n)))) {
        char nv[32] = "not a number";
        if (json_is_number(n)) snprintf(nv, sizeof nv, "%g", json_number_value(n));
        return lw_fail("%s: %s%sn = %s: a mean is over n items, an integer >= 1; the file was edited or damaged, "
                       "make it again",
                       path, where, *where ? "." : "", nv);
    }
    const char *keys[3] = {mean_key, "lo", "hi"};
    for (int k = 0; k < 3; k++) {
        json_t *v = json_object_get(o, keys[k]);
        if (json_is_number(v) && in_range(path, where, keys[k], json_number_value(v), s) != 0) return -1;
    }
    return 0;
}

/* A number whose member name says what it can be: a p-value ("p", "p_value", "p_adjusted", ...)
 * in [0, 1]; a count of bits ("payload_bits_mean", "side_bits", ...) >= 0 and below
 * 2^53 (a negative mean was drawn nowhere, 1e308 made the axis end at inf). */
static int check_named_number(const char *path, const char *where, const char *key, double v) {
    bool p_value = !strcmp(key, "p") || starts_with(key, "p_") || strstr(key, "_p_value");
    if (p_value && !(v >= 0 && v <= 1))
        return lw_fail("%s: %s = %g is not a p-value (it must be in [0, 1]); the file was edited or damaged, make it "
                       "again",
                       path, where, v);
    if (strstr(key, "bits") && !(v >= 0 && v <= 9007199254740992.0))
        return lw_fail("%s: %s = %g is not a number of bits (it must be in [0, 2^53]); the file was edited or "
                       "damaged, make it again",
                       path, where, v);
    return 0;
}

/* v and everything below it; where is v's path ("conditions.text.accuracy"), grown in place. */
static int check_value(const char *path, json_t *v, char *where, size_t size, scale s, const char *mean_key) {
    size_t len = strlen(where);
    int rc = 0;
    if (json_is_object(v)) {
        rc = check_object(path, where, v, s, mean_key);
        const char *k;
        json_t *m;
        json_object_foreach(v, k, m) {
            if (rc != 0) break;
            snprintf(where + len, size - len, "%s%s", len ? "." : "", k);
            if (json_is_number(m)) rc = check_named_number(path, where, k, json_number_value(m));
            if (rc == 0) rc = check_value(path, m, where, size, scale_of(k, s), mean_key);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *m;
        json_array_foreach(v, i, m) {
            if (rc != 0) break;
            snprintf(where + len, size - len, "[%zu]", i);
            rc = check_value(path, m, where, size, s, mean_key);
        }
    }
    where[len] = '\0';
    return rc;
}

static bool is_curve_document(json_t *doc) {
    const char *f = json_string_value(json_object_get(doc, "format"));
    return json_object_get(doc, "series") && f &&
           (!strcmp(f, "latentwire.race/1") || !strcmp(f, "latentwire.scan/1") ||
            !strcmp(f, "latentwire.codec-retrieval/1"));
}

/* A curve document: its points and reference lines are accuracies (report.h), "y" their mean. */
static int check_curve_document(const char *path, json_t *doc) {
    char where[512] = "";
    json_t *th = json_object_get(doc, "threshold");
    if (json_is_number(th) && in_range(path, "", "threshold", json_number_value(th), SCALE_PROPORTION) != 0) return -1;
    const char *keys[3] = {"series", "floor", "ceiling"};
    for (int k = 0; k < 3; k++) {
        json_t *v = json_object_get(doc, keys[k]);
        snprintf(where, sizeof where, "%s", keys[k]);
        if (v && check_value(path, v, where, sizeof where, SCALE_PROPORTION, "y") != 0) return -1;
    }
    json_t *cmp = json_object_get(doc, "comparisons");
    snprintf(where, sizeof where, "comparisons");
    return cmp ? check_value(path, cmp, where, sizeof where, SCALE_DIFFERENCE, "mean") : 0;
}

/* A JSON Lines record's scores (channel, debate, race records): null or in [0, 1]. */
static int check_record(const char *path, json_t *o, size_t line) {
    static const char *const scores[] = {"score", "solo_score"};
    char where[64];
    snprintf(where, sizeof where, "record %zu", line + 1);
    for (int k = 0; k < 2; k++) {
        json_t *v = json_object_get(o, scores[k]);
        if (json_is_number(v) && in_range(path, where, scores[k], json_number_value(v), SCALE_PROPORTION) != 0)
            return -1;
    }
    char w[512];
    snprintf(w, sizeof w, "%s", where);
    return check_value(path, o, w, sizeof w, SCALE_ANY, "mean");
}

int lw_report_check_numbers(const lw_report_input *in) {
    if (in->doc) {
        if (is_curve_document(in->doc)) return check_curve_document(in->path, in->doc);
        char where[512] = "";
        return check_value(in->path, in->doc, where, sizeof where, SCALE_ANY, "mean");
    }
    size_t i;
    json_t *o;
    json_array_foreach(in->lines, i, o) if (check_record(in->path, o, i) != 0) return -1;
    return 0;
}
