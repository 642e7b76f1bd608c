/* Reading a plan file: every field checked, unknown ones refused (a typo in a pre-registered
 * plan must not silently drop a threshold), the file's sha256 kept to tie runs to it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eval/eval.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/jsonio.h"
#include "verdict/verdict_internal.h"

static bool key_in(const char *key, const char *const *allowed) {
    for (int i = 0; allowed[i]; i++)
        if (strcmp(key, allowed[i]) == 0) return true;
    return false;
}

static int check_keys(const json_t *o, const char *const *allowed, const char *path, const char *where) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        (void)v;
        if (!key_in(key, allowed)) return lw_fail("%s: %s: unknown field '%s'", path, where, key);
    }
    return 0;
}

/* A required (or optional, with dflt) string field, strdup'd. */
static int str_field(const json_t *o, const char *key, const char *dflt, char **out, const char *path,
                     const char *where) {
    json_t *v = json_object_get(o, key);
    if (!v && dflt) {
        *out = strdup(dflt);
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0)
        return lw_fail("%s: %s: field '%s' %s", path, where, key, v ? "must be a non-empty string" : "is missing");
    *out = strdup(json_string_value(v));
    return 0;
}

static void hypothesis_free(lw_hypothesis *h) {
    free(h->id);
    free(h->metric);
    free(h->a);
    free(h->b);
    free(h->test);
}

void lw_plan_free(lw_plan *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) hypothesis_free(&p->h[i]);
    free(p->h);
    free(p->path);
    free(p->title);
    free(p->selection);
    free(p->correction);
    free(p);
}

/* Metrics whose every value lies in [0, 1] by definition: the right/wrong ones latentwire's writers
 * record (exact_match, correct, top1, bridge_top1, negation_top1) and the standard retrieval metrics
 * (recall@k, mrr@k, ndcg@k). Not "score": a user's own items may score on another scale. */
bool lw_metric_in_unit_interval(const char *m) {
    static const char *const EXACT[] = {"exact_match", "correct", "top1", "bridge_top1", "negation_top1"};
    static const char *const PREFIX[] = {"recall@", "mrr@", "ndcg@"};
    for (size_t i = 0; i < sizeof EXACT / sizeof *EXACT; i++)
        if (!strcmp(m, EXACT[i])) return true;
    for (size_t i = 0; i < sizeof PREFIX / sizeof *PREFIX; i++)
        if (!strncmp(m, PREFIX[i], strlen(PREFIX[i]))) return true;
    return false;
}

static int read_hypothesis(const json_t *o, lw_hypothesis *h, const char *path, int index) {
    static const char *const KEYS[] = {"id", "metric", "a", "b", "direction", "threshold", "test", "note", NULL};
    char where[64];
    snprintf(where, sizeof where, "hypotheses[%d]", index);
    if (!json_is_object(o)) return lw_fail("%s: %s must be an object", path, where);
    if (check_keys(o, KEYS, path, where) != 0) return -1;
    if (str_field(o, "id", NULL, &h->id, path, where) != 0) return -1;
    snprintf(where, sizeof where, "hypothesis %s", h->id);
    if (strlen(h->id) >= sizeof(((lw_verdict *)0)->id))
        return lw_fail("%s: %s: the id is longer than %zu bytes", path, where, sizeof(((lw_verdict *)0)->id) - 1);
    if (str_field(o, "metric", NULL, &h->metric, path, where) != 0 || str_field(o, "a", NULL, &h->a, path, where) != 0)
        return -1;
    if (json_object_get(o, "b") && str_field(o, "b", NULL, &h->b, path, where) != 0) return -1;
    if (h->b && strcmp(h->a, h->b) == 0) return lw_fail("%s: %s: a and b are both '%s'", path, where, h->a);
    /* the verdict states "mean(a - b) of metric > threshold" (33 bytes besides the names at most):
     * cut short, it would state another claim */
    size_t names = strlen(h->a) + (h->b ? strlen(h->b) : 0) + strlen(h->metric), room = sizeof(((lw_verdict *)0)->claim) - 1 - 33;
    if (names > room)
        return lw_fail("%s: %s: a, b and metric are %zu bytes together, more than a verdict's claim holds (%zu): use "
                       "shorter names", path, where, names, room);
    char *dir = NULL;
    if (str_field(o, "direction", NULL, &dir, path, where) != 0) return -1;
    bool ok = strcmp(dir, "greater") == 0 || strcmp(dir, "less") == 0;
    h->greater = strcmp(dir, "greater") == 0;
    free(dir);
    if (!ok) return lw_fail("%s: %s: direction must be 'greater' or 'less'", path, where);
    json_t *t = json_object_get(o, "threshold");
    if (!json_is_number(t) || !isfinite(json_number_value(t)))
        return lw_fail("%s: %s: field 'threshold' %s", path, where, t ? "must be a finite number" : "is missing");
    h->threshold = json_number_value(t);
    /* such a metric's mean lies in [0, 1] and a difference of two in [-1, 1], whatever the records
     * hold (evaluation also checks any metric whose values all happen to be 0 or 1) */
    if (lw_metric_in_unit_interval(h->metric) && (h->b ? fabs(h->threshold) > 1.0 : h->threshold < 0.0 || h->threshold > 1.0))
        return lw_fail("%s: %s: threshold %g is outside [%d, 1], where %s of metric %s lies: fix the plan", path, where,
                       h->threshold, h->b ? -1 : 0, h->b ? "a difference of means" : "a mean", h->metric);
    if (str_field(o, "test", "auto", &h->test, path, where) != 0) return -1;
    if (strcmp(h->test, "auto") != 0 && strcmp(h->test, "exact") != 0 && strcmp(h->test, "bootstrap") != 0)
        return lw_fail("%s: %s: test '%s': must be one of auto, exact, bootstrap", path, where, h->test);
    if (strcmp(h->test, "exact") == 0 && h->b && h->threshold != 0.0)
        return lw_fail("%s: %s: the exact paired test (McNemar) tests a difference of 0; threshold %g needs "
                       "test 'auto' (0/1 values: Newcombe's paired score interval inverted)", path, where, h->threshold);
    return 0;
}

lw_plan *lw_plan_load(const char *path) {
    static const char *const KEYS[] = {"format", "title", "alpha", "correction", "resamples", "seed",
                                       "selection", "hypotheses", "note", NULL};
    if (!path) return lw_fail("lw_plan_load: no path"), NULL;
    size_t len = 0;
    char *text = lw_read_file(path, &len);
    if (!text) return NULL;
    lw_plan *p = calloc(1, sizeof *p);
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je); /* "threshold" twice: refused */
    if (!p) goto fail;
    if (lw_sha256_buf(text, len, p->sha256) != 0) goto fail;
    p->path = strdup(path);
    if (!root) {
        lw_fail("%s: line %d: not valid JSON: %s", path, je.line, lw_json_error_text(&je));
        goto fail;
    }
    if (!json_is_object(root) || check_keys(root, KEYS, path, "plan") != 0) {
        if (!json_is_object(root)) lw_fail("%s: a plan is a JSON object", path);
        goto fail;
    }
    const char *fmt = json_string_value(json_object_get(root, "format"));
    if (!fmt || strcmp(fmt, "latentwire.plan/1") != 0) {
        lw_fail("%s: field 'format' must be \"latentwire.plan/1\"", path);
        goto fail;
    }
    if (str_field(root, "title", NULL, &p->title, path, "plan") != 0 ||
        str_field(root, "selection", NULL, &p->selection, path, "plan") != 0 ||
        str_field(root, "correction", "holm", &p->correction, path, "plan") != 0)
        goto fail;
    if (strcmp(p->correction, "holm") != 0 && strcmp(p->correction, "none") != 0) {
        lw_fail("%s: field 'correction' must be 'holm' or 'none'", path);
        goto fail;
    }
    json_t *a = json_object_get(root, "alpha");
    p->alpha = json_is_number(a) ? json_number_value(a) : 0.05;
    if ((a && !json_is_number(a)) || !(p->alpha > 0 && p->alpha < 0.5)) {
        lw_fail("%s: field 'alpha' must be a number in (0, 0.5)", path);
        goto fail;
    }
    json_t *r = json_object_get(root, "resamples");
    /* range-checked before the narrowing: 4294968296 would wrap to 1000 as an int */
    json_int_t rv = r ? json_integer_value(r) : 10000;
    p->resamples = rv >= 1000 && rv <= 1000000 ? (int)rv : 0;
    if ((r && !json_is_integer(r)) || p->resamples == 0) {
        lw_fail("%s: field 'resamples' must be an integer in [1000, 1000000]", path);
        goto fail;
    }
    if (lw_eval_check_resampling(path, p->resamples, 1.0 - p->alpha) != 0) { /* alpha 0.001 needs 2000 */
        lw_fail_prefix("field 'resamples' with field 'alpha': ");
        goto fail;
    }
    json_t *s = json_object_get(root, "seed");
    if (s && (!json_is_integer(s) || json_integer_value(s) < 0)) {
        lw_fail("%s: field 'seed' must be a non-negative integer", path);
        goto fail;
    }
    p->seed = s ? (uint64_t)json_integer_value(s) : 1;
    json_t *hs = json_object_get(root, "hypotheses");
    if (!json_is_array(hs) || json_array_size(hs) == 0) {
        lw_fail("%s: field 'hypotheses' must be a non-empty array", path);
        goto fail;
    }
    p->h = calloc(json_array_size(hs), sizeof *p->h);
    if (!p->h) goto fail;
    for (size_t i = 0; i < json_array_size(hs); i++) {
        p->n = (int)i + 1;
        if (read_hypothesis(json_array_get(hs, i), &p->h[i], path, (int)i) != 0) goto fail;
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->h[j].id, p->h[i].id) == 0) {
                lw_fail("%s: hypothesis id '%s' appears twice", path, p->h[i].id);
                goto fail;
            }
    }
    json_decref(root);
    free(text);
    return p;
fail:
    json_decref(root);
    free(text);
    lw_plan_free(p);
    return NULL;
}

/* Getters on a NULL plan, or a hypothesis index outside it, answer NULL (-1, NaN) with the
 * message set, rather than crash a binding that passes what a failed lw_plan_load returned. */
static bool have(const lw_plan *p, const char *fn) { return p ? true : (lw_fail("%s: the plan is NULL", fn), false); }
static bool have_hypothesis(const lw_plan *p, int i, const char *fn) {
    if (!have(p, fn)) return false;
    if (i >= 0 && i < p->n) return true;
    lw_fail("%s: hypothesis %d is outside the plan's %d", fn, i, p->n);
    return false;
}

const char *lw_plan_sha256(const lw_plan *p) { return have(p, __func__) ? p->sha256 : NULL; }
int lw_plan_file_sha256(const char *path, char sha[65]) {
    if (!sha) return lw_fail("lw_plan_file_sha256: sha is NULL");
    sha[0] = '\0';
    if (!path) return 0;
    lw_plan *plan = lw_plan_load(path);
    if (!plan) return -1;
    snprintf(sha, 65, "%s", plan->sha256);
    lw_plan_free(plan);
    return 0;
}
const char *lw_plan_correction(const lw_plan *p) { return have(p, __func__) ? p->correction : NULL; }
const char *lw_plan_title(const lw_plan *p) { return have(p, __func__) ? p->title : NULL; }
int lw_plan_n_hypotheses(const lw_plan *p) { return have(p, __func__) ? p->n : -1; }
double lw_plan_alpha(const lw_plan *p) { return have(p, __func__) ? p->alpha : NAN; }
const char *lw_plan_hypothesis_id(const lw_plan *p, int i) { return have_hypothesis(p, i, __func__) ? p->h[i].id : NULL; }

const char *lw_plan_hypothesis_condition(const lw_plan *p, int i, int side) {
    if (!have_hypothesis(p, i, __func__)) return NULL;
    if (side != 0 && side != 1) return lw_fail("%s: side %d is neither 0 nor 1", __func__, side), NULL;
    return side == 0 ? p->h[i].a : p->h[i].b;
}

const char *lw_plan_hypothesis_metric(const lw_plan *p, int i) {
    return have_hypothesis(p, i, __func__) ? p->h[i].metric : NULL;
}
