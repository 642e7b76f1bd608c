/* The probe panel's frame: parameters, probe names, the pair's checks (bridge widths and recipe),
 * the inverse bridge (given, or fitted on MRPC training-file sentences), embedding and mapping,
 * and the statistics and records every probe adds to the result. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/strlist.h"
#include "latentwire/extract.h"
#include "panel/probe_internal.h"

lw_probe_params lw_probe_default_params(void) {
    return (lw_probe_params){.probes = LW_PROBE_ALL,
                             .n_combos = 160,
                             .heldout_share = 0.25,
                             .n_topsim = 80,
                             .n_natural = 100,
                             .n_calib = 200,
                             .hops = 4,
                             .sigmas = {0, 0.1, 0.2, 0.5, 1, 2},
                             .n_sigmas = 6,
                             .n_confusers = 60,
                             .n_symbolic = 40,
                             .resamples = 2000,
                             .seed = 1};
}

static const char *const NAMES[] = {"compositionality", "chaining", "robustness", "symbolic"};

unsigned lw_probe_from_name(const char *name) {
    if (!name) return lw_fail("lw_probe_from_name: the name is NULL"), 0u;
    for (int k = 0; k < 4; k++)
        if (!strcmp(name, NAMES[k])) return 1u << k;
    /* a caller told 0 with no message printed the previous call's error */
    return lw_fail("unknown probe '%s' (compositionality, chaining, robustness, symbolic)", name), 0u;
}

unsigned lw_probe_parse_list(const char *list) {
    /* the whole list, as every list option reads it: an empty item or a name given twice is
     * refused by lw_list_split ("a,a" ran the probe once and said nothing) */
    char **item;
    int n = lw_list_split("--probes", list, &item);
    if (n < 0) return 0;
    unsigned bits = 0;
    for (int k = 0; k < n; k++) {
        unsigned b = !strcmp(item[k], "all") ? (unsigned)LW_PROBE_ALL : lw_probe_from_name(item[k]);
        if (!b) {
            lw_fail("--probes: unknown probe '%s' (compositionality, chaining, robustness, symbolic or all)", item[k]);
            bits = 0;
            break;
        }
        /* "all,chaining" names chaining twice as surely as "chaining,chaining" */
        if (bits & b) {
            lw_fail("--probes \"%s\": \"%s\" names a probe already listed (all is every probe)", list, item[k]);
            bits = 0;
            break;
        }
        bits |= b;
    }
    free(item);
    return bits;
}

int lw_probe_embed_models(void *user, int side, const char *const *texts, int n, float *out) {
    const lw_probe_models *m = user;
    lw_embed_texts_params ep = lw_embed_texts_default_params();
    ep.layer = m->layer[side];
    ep.n_threads = m->n_threads;
    bool *ok = malloc(sizeof *ok * (size_t)n);
    int rc = ok ? lw_embed_texts(m->model[side], texts, n, &ep, out, ok) : lw_fail("probes: out of memory");
    for (int i = 0; rc == 0 && i < n; i++)
        if (!ok[i]) rc = lw_fail("probes: model %c cannot encode the text \"%s\"", side ? 'B' : 'A', texts[i]);
    free(ok);
    return rc;
}

static int memo_find(const lw_probe_ctx *c, int side, const char *text) {
    for (int i = 0; i < c->memo[side].n; i++)
        if (!strcmp(c->memo[side].text[i], text)) return i;
    return -1;
}

static int memo_add(lw_probe_ctx *c, int side, const char *text, const float *v, int d) {
    lw_probe_memo *m = &c->memo[side];
    if (m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 256;
        char **t = realloc(m->text, sizeof *t * (size_t)cap);
        if (t) m->text = t;
        float *g = t ? realloc(m->vec, sizeof *g * (size_t)cap * (size_t)d) : NULL;
        if (!g) return lw_fail("probes: out of memory");
        m->vec = g, m->cap = cap;
    }
    if (!(m->text[m->n] = strdup(text))) return lw_fail("probes: out of memory");
    memcpy(m->vec + (size_t)m->n * d, v, sizeof *v * (size_t)d);
    m->n++;
    return 0;
}

static void memo_free(lw_probe_ctx *c) {
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < c->memo[s].n; i++) free(c->memo[s].text[i]);
        free(c->memo[s].text);
        free(c->memo[s].vec);
    }
}

int lw_probe_embed(lw_probe_ctx *c, int side, const lw_probe_texts *t, float **out) {
    int d = side ? c->pair->dim_b : c->pair->dim_a;
    *out = malloc(sizeof **out * (size_t)t->n * (size_t)d);
    const char **todo = malloc(sizeof *todo * (size_t)(t->n > 0 ? t->n : 1));
    float *fresh = malloc(sizeof *fresh * (size_t)t->n * (size_t)d);
    int rc = *out && todo && fresh ? 0 : lw_fail("probes: out of memory"), n_todo = 0;
    for (int i = 0; rc == 0 && i < t->n; i++) { /* the texts not embedded yet, once each */
        bool pending = memo_find(c, side, t->text[i]) >= 0;
        for (int j = 0; j < n_todo && !pending; j++) pending = !strcmp(todo[j], t->text[i]);
        if (!pending) todo[n_todo++] = t->text[i];
    }
    if (rc == 0 && n_todo > 0) { /* a call an interrupted run finished is taken from its records */
        int call = c->n_calls++,
            got = lw_probe_records_take(&c->rec, c->p, call, side, (const char *const *)todo, n_todo, d, fresh);
        if (got < 0) rc = -1;
        else if (got == 0) {
            rc = c->pair->embed(c->pair->user, side, todo, n_todo, fresh);
            if (rc == 0) rc = lw_probe_records_add(&c->rec, c->p, call, side, (const char *const *)todo, n_todo, d, fresh);
        }
    }
    for (int j = 0; rc == 0 && j < n_todo; j++) rc = memo_add(c, side, todo[j], fresh + (size_t)j * d, d);
    for (int i = 0; rc == 0 && i < t->n; i++)
        memcpy(*out + (size_t)i * d, c->memo[side].vec + (size_t)memo_find(c, side, t->text[i]) * d,
               sizeof **out * (size_t)d);
    free(todo);
    free(fresh);
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

float *lw_probe_map(const lw_bridge *b, const float *X, int n) {
    float *Y = malloc(sizeof *Y * (size_t)n * (size_t)lw_bridge_out_dim(b));
    if (!Y) lw_fail("probes: out of memory");
    else if (lw_bridge_apply_source(b, X, n, Y) != 0) {
        free(Y);
        Y = NULL;
    }
    return Y;
}

double lw_probe_cosine(const float *a, const float *b, int d) {
    double ab = 0, aa = 0, bb = 0;
    for (int k = 0; k < d; k++) ab += (double)a[k] * b[k], aa += (double)a[k] * a[k], bb += (double)b[k] * b[k];
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

void lw_probe_progress(lw_probe_ctx *c, const char *what) {
    if (c->p->on_progress) c->p->on_progress(what, c->p->user);
}

int lw_probe_record(lw_probe_ctx *c, const char *condition, const char *item, const char *metric, double value,
                    const char *cluster) {
    lw_probe_result *r = c->out;
    if (r->n_records == r->cap_records) {
        int64_t cap = r->cap_records ? 2 * r->cap_records : 1024;
        lw_item_record *g = realloc(r->records, sizeof *g * (size_t)cap);
        if (!g) return lw_fail("probes: out of memory");
        r->records = g, r->cap_records = cap;
    }
    lw_item_record *x = &r->records[r->n_records];
    x->condition = strdup(condition), x->item = strdup(item), x->metric = strdup(metric), x->split = NULL;
    x->value = value;
    x->cluster = cluster ? strdup(cluster) : NULL;
    r->n_records++;
    if (!x->condition || !x->item || !x->metric || (cluster && !x->cluster)) return lw_fail("probes: out of memory");
    return 0;
}

/* Writes a (and " - b" when b is given) into the field dst[size]; false when it does not fit. A
 * field cut to fit is refused by the callers: the note of the role-binding rows lost its end at
 * 200 bytes ("every person seen i") in probes.json and the report, and nothing said so. */
static bool put(char *dst, size_t size, const char *a, const char *b) {
    int n = b ? snprintf(dst, size, "%s - %s", a, b) : snprintf(dst, size, "%s", a);
    return n >= 0 && (size_t)n < size;
}

/* The records' condition and metric of s: 0, or -1 (message) when either does not fit. */
static int put_records_names(lw_probe_stat *s, const char *cond_a, const char *cond_b, const char *metric) {
    if (put(s->condition, sizeof s->condition, cond_a, cond_b) && put(s->metric, sizeof s->metric, metric, NULL))
        return 0;
    return lw_fail("statistic %s/%s: a condition or metric longer than lw_probe_stat holds", s->probe, s->name);
}

static lw_probe_stat *new_stat(lw_probe_ctx *c, const char *probe, const char *name, const char *note) {
    lw_probe_result *r = c->out;
    if (r->n_stats == r->cap_stats) {
        int cap = r->cap_stats ? 2 * r->cap_stats : 32;
        lw_probe_stat *g = realloc(r->stats, sizeof *g * (size_t)cap);
        if (!g) {
            lw_fail("probes: out of memory");
            return NULL;
        }
        r->stats = g, r->cap_stats = cap;
    }
    lw_probe_stat *s = &r->stats[r->n_stats];
    memset(s, 0, sizeof *s);
    if (!put(s->probe, sizeof s->probe, probe, NULL) || !put(s->name, sizeof s->name, name, NULL) ||
        !put(s->note, sizeof s->note, note ? note : "", NULL)) {
        lw_fail("statistic %s/%s: a name or note longer than lw_probe_stat holds", probe, name);
        return NULL;
    }
    r->n_stats++;
    s->p_value = NAN;
    return s;
}

static int records_of(lw_probe_ctx *c, const char *condition, const char *metric, const double *v, int n,
                      const char *const *items, const int *cluster) {
    char id[32], cid[32];
    for (int i = 0; i < n; i++) {
        if (!items) snprintf(id, sizeof id, "i%d", i);
        if (!items && cluster) snprintf(cid, sizeof cid, "i%d", cluster[i]);
        const char *cname = !cluster ? NULL : items ? items[cluster[i]] : cid;
        if (lw_probe_record(c, condition, items ? items[i] : id, metric, v[i], cname) != 0) return -1;
    }
    return 0;
}

int lw_probe_stat_mean_clustered(lw_probe_ctx *c, const char *probe, const char *name, const char *condition,
                                 const char *metric, const double *v, int n, const char *const *items,
                                 const int *cluster, const char *note) {
    lw_probe_stat *s = new_stat(c, probe, name, note);
    if (!s) return -1;
    if (put_records_names(s, condition, NULL, metric) != 0) return -1;
    int rc = cluster ? lw_ci_mean_clustered(v, cluster, n, c->p->resamples, 0.95, c->p->seed, &s->ci)
                     : lw_ci_mean(v, n, c->p->resamples, 0.95, c->p->seed, &s->ci);
    if (rc != 0) return -1;
    return records_of(c, condition, metric, v, n, items, cluster);
}

int lw_probe_stat_mean(lw_probe_ctx *c, const char *probe, const char *name, const char *condition,
                       const char *metric, const double *v, int n, const char *const *items, const char *note) {
    return lw_probe_stat_mean_clustered(c, probe, name, condition, metric, v, n, items, NULL, note);
}

static int stat_paired(lw_probe_ctx *c, const char *probe, const char *name, const char *cond_a, const char *cond_b,
                       const char *metric, const double *a, const double *b, int n, const int *cluster,
                       const char *note) {
    lw_probe_stat *s = new_stat(c, probe, name, note);
    if (!s) return -1;
    if (put_records_names(s, cond_a, cond_b, metric) != 0) return -1;
    return cluster ? lw_ci_paired_clustered(a, b, cluster, n, c->p->resamples, 0.95, c->p->seed, &s->ci, &s->p_value)
                   : lw_ci_paired(a, b, n, c->p->resamples, 0.95, c->p->seed, &s->ci, &s->p_value);
}

int lw_probe_stat_paired(lw_probe_ctx *c, const char *probe, const char *name, const char *cond_a,
                         const char *cond_b, const char *metric, const double *a, const double *b, int n,
                         const char *note) {
    return stat_paired(c, probe, name, cond_a, cond_b, metric, a, b, n, NULL, note);
}

int lw_probe_stat_ci(lw_probe_ctx *c, const char *probe, const char *name, const lw_ci *ci, const char *note) {
    lw_probe_stat *s = new_stat(c, probe, name, note);
    if (!s) return -1;
    s->ci = *ci;
    return 0;
}

void lw_probe_result_free(lw_probe_result *r) {
    if (!r) return;
    for (int64_t i = 0; r->records && i < r->n_records; i++) {
        free((char *)r->records[i].condition);
        free((char *)r->records[i].item);
        free((char *)r->records[i].metric);
        free((char *)r->records[i].cluster);
    }
    free(r->records);
    free(r->stats);
    free(r->inverse_info);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- the pair's checks */

static bool predicts_raw_target(const lw_bridge *b) {
    lw_bridge_recipe r = lw_bridge_get_recipe(b);
    return (r == LW_BRIDGE_RIDGE || r == LW_BRIDGE_PCA_RIDGE || r == LW_BRIDGE_PCA2_RIDGE) &&
           lw_bridge_out_dim(b) == lw_bridge_target_dim(b);
}

static int check_bridge(const lw_bridge *b, const char *what, int from, const char *from_name, int to,
                        const char *to_name) {
    if (lw_bridge_source_dim(b) != from)
        return lw_fail("probes: the %s maps from width %d, but %s has width %d (a bridge of other models: fit one "
                       "between these two)",
                       what, lw_bridge_source_dim(b), from_name, from);
    if (lw_bridge_target_dim(b) != to)
        return lw_fail("probes: the %s maps to width %d, but %s has width %d (a bridge of other models: fit one "
                       "between these two)",
                       what, lw_bridge_target_dim(b), to_name, to);
    if (!predicts_raw_target(b))
        return lw_fail("probes: the %s's recipe '%s' does not predict the target model's own vectors (use ridge, "
                       "pca-ridge or pca2-ridge)", what, lw_bridge_recipe_name(lw_bridge_get_recipe(b)));
    return 0;
}

/* The inverse B -> A, fitted on MRPC training-file sentences (the probes evaluate test-file and
 * generated sentences only). */
static int fit_inverse(lw_probe_ctx *c) {
    lw_probe_progress(c, "fitting the inverse bridge (B -> A) on MRPC training sentences");
    lw_probe_texts t;
    if (lw_probe_mrpc_sentences(c->p->mrpc_dir, "train", c->p->n_calib, c->p->seed, &t) != 0) return -1;
    float *X = NULL, *Y = NULL;
    int rc = t.n >= 2 ? 0 : lw_fail("probes: fewer than 2 usable MRPC training sentences to fit the inverse");
    if (rc == 0) rc = lw_probe_embed(c, 0, &t, &X);
    if (rc == 0) rc = lw_probe_embed(c, 1, &t, &Y);
    lw_bridge_params bp = lw_bridge_default_params();
    if (rc == 0 && !(c->owned_inverse = lw_bridge_fit(Y, X, t.n, c->pair->dim_b, c->pair->dim_a, &bp))) rc = -1;
    if (rc == 0) {
        c->inverse = c->owned_inverse;
        c->out->inverse_info = strdup(lw_bridge_info_json(c->owned_inverse));
    }
    free(X);
    free(Y);
    c->calib = t.text, c->n_calib = t.n; /* kept: the evaluated sets leave them out */
    return rc;
}

int lw_probe_natural(lw_probe_ctx *c, lw_probe_texts *out) {
    if (lw_probe_mrpc_sentences(c->p->mrpc_dir, "test", c->p->n_natural, c->p->seed + 1, out) != 0) return -1;
    int kept = 0;
    for (int i = 0; i < out->n; i++) {
        bool calib = false;
        for (int j = 0; j < c->n_calib && !calib; j++) calib = !strcmp(out->text[i], c->calib[j]);
        if (calib) free(out->text[i]);
        else out->text[kept++] = out->text[i];
    }
    out->n = kept;
    if (kept < 3) {
        lw_probe_texts_free(out);
        return lw_fail("probes: fewer than 3 usable MRPC test sentences");
    }
    return 0;
}

static int check_params(const lw_probe_params *p) {
    if (!p->probes || (p->probes & ~(unsigned)LW_PROBE_ALL)) return lw_fail("probes: no known probe selected");
    if (!(p->heldout_share > 0 && p->heldout_share < 1))
        return lw_fail("probes: the held-out share must be in (0, 1) (got %g)", p->heldout_share);
    if (p->hops < 1 || p->hops > 64) return lw_fail("probes: hops must be 1..64 (got %d)", p->hops);
    if (p->n_sigmas < 1 || p->n_sigmas > 16) return lw_fail("probes: 1..16 noise levels (got %d)", p->n_sigmas);
    /* a NaN or infinite level failed deep in the bridge ("source row 0 column 0: NaN value"),
     * after the other probes ran; a negative one is no noise level */
    for (int k = 0; (p->probes & LW_PROBE_ROBUSTNESS) && k < p->n_sigmas; k++) {
        if (!(p->sigmas[k] >= 0 && isfinite(p->sigmas[k])))
            return lw_fail("probes: sigmas[%d] = %g: a noise level is a finite number >= 0", k, p->sigmas[k]);
        /* one level twice wrote two statistics of one name (noise_top1@0.1) into the result */
        for (int j = 0; j < k; j++)
            if (p->sigmas[j] == p->sigmas[k])
                return lw_fail("probes: sigmas[%d] and sigmas[%d] are both %g: give each noise level once", j, k,
                               p->sigmas[k]);
    }
    if (p->n_natural < 3 || p->n_calib < 2 || p->n_topsim < 3 || p->n_confusers < 2)
        return lw_fail("probes: too few sentences (natural >= 3, calib >= 2, topsim >= 3, confusers >= 2)");
    if (p->resamples < 100) return lw_fail("probes: resamples must be >= 100 (got %d)", p->resamples);
    return 0;
}

int lw_probe_panel(const lw_probe_pair *pair, const lw_probe_params *p, lw_probe_result *out) {
    if (!pair || !p || !out) return lw_fail("probes: %s is NULL", !pair ? "the pair" : !p ? "params" : "out");
    memset(out, 0, sizeof *out);
    if (!pair->bridge) return lw_fail("probes: no bridge A -> B given (--bridge)");
    if (!pair->embed || pair->dim_a < 1 || pair->dim_b < 1) return lw_fail("probes: the pair has no embedder");
    if (check_params(p) != 0) return -1;
    const char *na = pair->name_a ? pair->name_a : "model A", *nb = pair->name_b ? pair->name_b : "model B";
    if (check_bridge(pair->bridge, "bridge", pair->dim_a, na, pair->dim_b, nb) != 0) return -1;
    if (pair->inverse && check_bridge(pair->inverse, "inverse bridge", pair->dim_b, nb, pair->dim_a, na) != 0)
        return -1;
    lw_probe_ctx c = {.pair = pair, .p = p, .inverse = pair->inverse, .out = out};
    int rc = lw_probe_records_open(&c.rec, pair, p);
    if (rc == 0 && (p->probes & LW_PROBE_COMPOSITIONALITY)) rc = lw_probe_compositionality(&c);
    if (rc == 0 && (p->probes & LW_PROBE_CHAINING) && !c.inverse) rc = fit_inverse(&c);
    if (rc == 0 && (p->probes & LW_PROBE_CHAINING)) rc = lw_probe_chaining(&c);
    if (rc == 0 && (p->probes & LW_PROBE_ROBUSTNESS)) rc = lw_probe_robustness(&c);
    if (rc == 0 && (p->probes & LW_PROBE_SYMBOLIC)) rc = lw_probe_symbolic(&c);
    rc = lw_probe_records_close(&c.rec, p, rc);
    lw_bridge_free(c.owned_inverse);
    memo_free(&c);
    lw_probe_texts calib = {.text = c.calib, .n = c.n_calib};
    lw_probe_texts_free(&calib);
    if (rc != 0) lw_probe_result_free(out);
    return rc;
}

int lw_probe_stat_compare_clustered(lw_probe_ctx *c, const char *probe, const char *metric, lw_probe_side a,
                                    lw_probe_side b, int n, const char *const *items, const int *cluster,
                                    const char *diff_name, const char *diff_note) {
    if (lw_probe_stat_mean_clustered(c, probe, a.name, a.condition, metric, a.v, n, items, cluster, a.note) != 0)
        return -1;
    if (lw_probe_stat_mean_clustered(c, probe, b.name, b.condition, metric, b.v, n, items, cluster, b.note) != 0)
        return -1;
    return stat_paired(c, probe, diff_name, a.condition, b.condition, metric, a.v, b.v, n, cluster, diff_note);
}

int lw_probe_stat_compare(lw_probe_ctx *c, const char *probe, const char *metric, lw_probe_side a, lw_probe_side b,
                          int n, const char *const *items, const char *diff_name, const char *diff_note) {
    return lw_probe_stat_compare_clustered(c, probe, metric, a, b, n, items, NULL, diff_name, diff_note);
}
