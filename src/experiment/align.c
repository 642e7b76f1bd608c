/* The alignment experiment: bridges from model A to model B, scored by retrieval.
 *
 * Plain data flow: build the corpus -> pooled activations of every site of both models
 * (cached) -> for each condition: fit on calibration rows, map the test rows, score each
 * candidate regime, bootstrap CIs -> tables, JSON, CSV. */
#include <stdarg.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/jsonio.h"
#include "common/rng.h"
#include "eval/ci_json.h"
#include "latentwire/experiment.h"
#include "latentwire/files.h"
#include "latentwire/retrieval.h"
#include "latentwire/runtime.h"
#include "latentwire/safetensors.h"

/* One event with a formatted text (progress, description, title, path), when someone listens. */
static void emit_text(const lw_align_params *p, lw_align_event_kind kind, const char *fmt, ...) {
    if (!p->on_event) return;
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    p->on_event(&(lw_align_event){.kind = kind, .text = text}, p->user);
}

lw_align_params lw_align_default_params(void) {
    lw_align_params p = {0};
    p.data_dir = "../shared/data";
    p.out_dir = "out/align";
    p.per_domain = 200;
    p.n_pairs = 100;
    p.n_para = 100;
    p.calib_share = 0.6;
    p.seed = 1;
    p.resamples = 1000;
    p.recipe = LW_BRIDGE_RIDGE;
    return p;
}

/* ------------------------------------------------------------------ activations */

/* Pooled activations of one model: site s (0 = embed, 1 + L = block L) is n x d. */
typedef struct {
    char name[256];
    int n_sites, d;
    int64_t n;
    float **site;
    bool *ok;
} model_acts;

static void acts_free(model_acts *a) {
    for (int s = 0; s < a->n_sites; s++) free(a->site ? a->site[s] : NULL);
    free(a->site);
    free(a->ok);
    memset(a, 0, sizeof *a);
}

static int corpus_key(const lw_mdcorpus *c, char out[65]) {
    size_t len = 0;
    for (int64_t i = 0; i < c->n; i++) len += strlen(c->text[i]) + 1;
    char *buf = malloc(len + 1), *p = buf;
    for (int64_t i = 0; i < c->n; i++) p += sprintf(p, "%s\n", c->text[i]);
    int rc = lw_sha256_buf(buf, len, out);
    free(buf);
    return rc;
}

static int load_cached(const char *path, const char *key, model_acts *a) {
    if (access(path, R_OK) != 0) return -1;
    lw_st_file *f = lw_st_open(path);
    if (!f) return -1;
    const char *k = lw_st_meta(f, "key");
    const lw_st_tensor *ok = lw_st_find(f, "ok");
    int rc = -1;
    if (k && !strcmp(k, key) && ok && ok->dtype == LW_DT_U8 && ok->shape[0] == a->n) {
        a->n_sites = lw_st_count(f) - 1;
        a->site = calloc((size_t)a->n_sites, sizeof *a->site);
        a->ok = malloc(sizeof(bool) * (size_t)a->n);
        for (int64_t i = 0; i < a->n; i++) a->ok[i] = ((const uint8_t *)ok->data)[i] != 0;
        rc = 0;
        for (int s = 0; s < a->n_sites && rc == 0; s++) {
            char name[32];
            snprintf(name, sizeof name, "site.%02d", s);
            const lw_st_tensor *t = lw_st_find(f, name);
            if (!t || t->dtype != LW_DT_F32 || t->n_dims != 2 || t->shape[0] != a->n) {
                rc = -1;
                break;
            }
            a->d = (int)t->shape[1];
            a->site[s] = malloc(t->n_bytes);
            memcpy(a->site[s], t->data, t->n_bytes);
        }
        if (rc != 0) acts_free(a);
    }
    lw_st_close(f);
    return rc;
}

static int save_cached(const char *path, const char *key, const model_acts *a) {
    lw_st_tensor_in *t = calloc((size_t)a->n_sites + 1, sizeof *t);
    uint8_t *ok = malloc((size_t)a->n);
    char (*names)[32] = calloc((size_t)a->n_sites, 32);
    for (int64_t i = 0; i < a->n; i++) ok[i] = a->ok[i];
    for (int s = 0; s < a->n_sites; s++) {
        snprintf(names[s], 32, "site.%02d", s);
        t[s] = (lw_st_tensor_in){.name = names[s], .dtype = LW_DT_F32, .n_dims = 2, .shape = {a->n, a->d}, .data = a->site[s]};
    }
    t[a->n_sites] = (lw_st_tensor_in){.name = "ok", .dtype = LW_DT_U8, .n_dims = 1, .shape = {a->n}, .data = ok};
    const char *meta[4] = {"key", key, "model", a->name};
    int rc = lw_st_save(path, t, a->n_sites + 1, meta, 2);
    free(t);
    free(ok);
    free(names);
    return rc;
}

/* Embed + every block, mean-pooled, for every corpus sentence (cached in out_dir). */
static int model_activations(const char *model_path, const lw_mdcorpus *c, const lw_align_params *p, const char *tag,
                             model_acts *a) {
    memset(a, 0, sizeof *a);
    a->n = c->n;
    const char *base = strrchr(model_path, '/');
    snprintf(a->name, sizeof a->name, "%s", base ? base + 1 : model_path);
    lw_model_params mp = lw_model_default_params();
    mp.n_gpu_layers = p->n_gpu_layers;
    lw_model *m = lw_model_load(model_path, mp);
    if (!m) return -1;
    char ckey[65], key[200], path[2048];
    const char *sha = lw_model_sha256(m);
    if (!sha || corpus_key(c, ckey) != 0) {
        lw_model_free(m);
        return -1;
    }
    snprintf(key, sizeof key, "%s:%s", sha, ckey);
    snprintf(path, sizeof path, "%s/activations-%s.safetensors", p->out_dir, tag);
    if (load_cached(path, key, a) == 0) {
        emit_text(p, LW_ALIGN_EV_PROGRESS, "reusing %s", path);
        lw_model_free(m);
        return 0;
    }
    lw_model_info info;
    lw_model_get_info(m, &info);
    lw_session_params sp = lw_session_default_params();
    sp.n_seq_max = 2;
    sp.n_threads = p->threads;
    lw_session *s = lw_session_new(m, sp);
    int rc = s ? 0 : -1;
    a->n_sites = info.n_layer + 1;
    a->d = info.n_embd;
    a->site = calloc((size_t)a->n_sites, sizeof *a->site);
    a->ok = calloc((size_t)a->n, sizeof(bool));
    int *layers = malloc(sizeof(int) * (size_t)a->n_sites);
    for (int k = 0; k < a->n_sites; k++) {
        layers[k] = k - 1;
        a->site[k] = malloc(sizeof(float) * (size_t)a->n * a->d);
    }
    emit_text(p, LW_ALIGN_EV_PROGRESS, "extracting %lld sentences x %d sites from %s", (long long)a->n, a->n_sites,
              a->name);
    if (rc == 0)
        rc = lw_extract_pooled(s, (const char *const *)c->text, c->n, true, false, layers, a->n_sites, LW_POOL_MEAN,
                               a->site, a->ok);
    if (rc == 0) rc = save_cached(path, key, a);
    free(layers);
    lw_session_free(s);
    lw_model_free(m);
    if (rc != 0) acts_free(a);
    return rc;
}

/* ------------------------------------------------------------------ results */

static const char *METRIC_NAMES[] = {"top1", "recall@5", "recall@10", "mrr@10", "ndcg@10"};
enum { N_METRICS = 5 };

typedef struct {
    json_t *conditions, *comparisons;
    FILE *csv;
    const lw_align_params *p;
} results;

typedef struct {
    const char *experiment, *recipe, *regime, *note;
    int site_a, site_b; /* 0 = embed, 1 + L = block L */
    int n_calib;
} condition;

static void site_name(int s, char *buf, size_t n) {
    if (s == 0) snprintf(buf, n, "embed");
    else snprintf(buf, n, "L%d", s - 1);
}

/* Records one scored condition: CIs for every metric, a table line, JSON and CSV. Keeps
 * the per-query top-1 vector in *top1_out (if not NULL) for paired comparisons. */
static void record(results *r, const condition *c, const double *per_query, int nq, double mean_cands,
                   double **top1_out) {
    lw_ci ci[N_METRICS];
    double *col = malloc(sizeof(double) * (size_t)(nq ? nq : 1));
    json_t *metrics = json_object();
    for (int m = 0; m < N_METRICS; m++) {
        for (int q = 0; q < nq; q++) col[q] = per_query[(size_t)q * N_METRICS + m];
        lw_ci_mean(col, nq, r->p->resamples, 0.95, r->p->seed + 7, &ci[m]);
        json_object_set_new(metrics, METRIC_NAMES[m], lw_ci_json(&ci[m]));
        char sa[16], sb[16];
        site_name(c->site_a, sa, sizeof sa);
        site_name(c->site_b, sb, sizeof sb);
        fprintf(r->csv, "%s,%s,%s,%s,%d,%s,%d,%.2f,%s,%.6f,%.6f,%.6f\n", c->experiment, c->recipe, sa, sb, c->n_calib,
                c->regime, nq, mean_cands, METRIC_NAMES[m], ci[m].mean, ci[m].lo, ci[m].hi);
    }
    if (top1_out) {
        *top1_out = malloc(sizeof(double) * (size_t)(nq ? nq : 1));
        for (int q = 0; q < nq; q++) (*top1_out)[q] = per_query[(size_t)q * N_METRICS];
    }
    free(col);
    char sa[16], sb[16];
    site_name(c->site_a, sa, sizeof sa);
    site_name(c->site_b, sb, sizeof sb);
    json_array_append_new(r->conditions,
                          json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:f, s:f, s:o}", "experiment", c->experiment,
                                    "recipe", c->recipe, "site_a", sa, "site_b", sb, "n_calib", c->n_calib, "regime",
                                    c->regime, "n_queries", nq, "mean_candidates", mean_cands, "chance_top1",
                                    mean_cands > 0 ? 1.0 / mean_cands : 0.0, "metrics", metrics));
    if (r->p->on_event) {
        lw_align_row row = {.experiment = c->experiment, .recipe = c->recipe, .site_a = sa, .site_b = sb,
                            .regime = c->regime, .note = c->note ? c->note : "", .n_calib = c->n_calib,
                            .n_queries = nq, .mean_candidates = mean_cands, .n_metrics = N_METRICS,
                            .metric_names = METRIC_NAMES, .metrics = ci};
        r->p->on_event(&(lw_align_event){.kind = LW_ALIGN_EV_ROW, .row = &row}, r->p->user);
    }
}

static void compare(results *r, const char *what, const char *a, const char *b, const double *va, const double *vb,
                    int n) {
    lw_ci diff;
    double pval;
    if (lw_ci_paired(va, vb, n, r->p->resamples, 0.95, r->p->seed + 11, &diff, &pval) != 0) return;
    json_array_append_new(r->comparisons, json_pack("{s:s, s:s, s:s, s:s, s:o, s:f}", "experiment", what, "a", a, "b", b,
                                                    "metric", "top1", "difference", lw_ci_json(&diff), "p_value", pval));
    if (r->p->on_event) {
        lw_align_comparison cmp = {.experiment = what, .a = a, .b = b, .difference = diff, .p_value = pval, .n = n};
        r->p->on_event(&(lw_align_event){.kind = LW_ALIGN_EV_COMPARISON, .comparison = &cmp}, r->p->user);
    }
}

/* ------------------------------------------------------------------ scoring */

/* The rows of one split, and the data needed to score them. */
typedef struct {
    int n;
    int64_t *row;     /* corpus rows */
} rowset;

static float *gather(const float *x, int d, const rowset *rs) {
    float *out = malloc(sizeof(float) * (size_t)rs->n * d);
    for (int i = 0; i < rs->n; i++) memcpy(out + (size_t)i * d, x + rs->row[i] * d, sizeof(float) * d);
    return out;
}

typedef enum { REG_BANK, REG_RANDOM9, REG_RANDOM99, REG_DOMAIN, REG_CLUSTER, REG_HARD, REG_PARA, REG_PARA_CTRL } regime;
static const char *REGIME_NAMES[] = {"bank",          "random-9",      "random-99",           "same-domain",
                                     "topic-cluster", "hard-negative", "paraphrase-adjacent", "random-10"};

/* Distractors drawn besides the paraphrase in the paraphrase-adjacent regime (and D + 1 in its
 * control, so both lists have the same length). */
#define PARA_RANDOM 9

/* The test queries whose twin of the named domain ("minimal-pairs", "paraphrase") is also a
 * test row: their positions (qidx) and the twin's position (twin_pos). The count. */
static int twin_queries(const lw_mdcorpus *c, const rowset *test, const char *domain, int32_t *qidx, int32_t *twin_pos) {
    int dom = -1;
    for (int d = 0; d < c->n_domains; d++)
        if (!strcmp(c->domain_names[d], domain)) dom = d;
    if (dom < 0) return 0;
    int *pos_of = malloc(sizeof(int) * (size_t)c->n);
    for (int64_t i = 0; i < c->n; i++) pos_of[i] = -1;
    for (int q = 0; q < test->n; q++) pos_of[test->row[q]] = q;
    int k = 0;
    for (int q = 0; q < test->n; q++) {
        int32_t tw = c->twin[test->row[q]];
        if (c->domain[test->row[q]] != dom || tw < 0 || pos_of[tw] < 0) continue;
        qidx[k] = q;
        twin_pos[k++] = pos_of[tw];
    }
    free(pos_of);
    return k;
}

/* The random distractors each query of a random regime gets: 9, 99 or (the paraphrase
 * control) 10, fewer when the test bank is smaller, and the regime's label says how many
 * ("random-99" over a 50-row bank was 49 distractors under the name of 99). */
static int random_others(regime reg, int n_test) {
    int want = reg == REG_RANDOM9 ? 9 : reg == REG_RANDOM99 ? 99 : PARA_RANDOM + 1;
    int most = reg == REG_PARA_CTRL ? n_test - 2 : n_test - 1; /* the control keeps its twin's slot free */
    return want < most ? want : most > 0 ? most : 0;
}

static const char *regime_label(regime reg, int n_test, char *buf, size_t size) {
    if (reg != REG_RANDOM9 && reg != REG_RANDOM99 && reg != REG_PARA_CTRL) return REGIME_NAMES[reg];
    snprintf(buf, size, "random-%d", random_others(reg, n_test));
    return buf;
}

/* The clustered regime's k-means clusters over the test bank. */
#define ALIGN_CLUSTERS 10

/* Scores queries Q against candidates C (both test rows in comparison space) under one
 * regime. Query q's only relevant candidate is q. Returns nq (rows of out) or -1. */
static int score_regime(const lw_align_params *p, const lw_mdcorpus *c, const rowset *test, const float *Q,
                        const float *C, int dim, regime reg, double **out, double *mean_cands) {
    int nq = test->n;
    int32_t *gold = malloc(sizeof(int32_t) * (size_t)nq), *qidx = malloc(sizeof(int32_t) * (size_t)nq);
    int64_t *off = NULL;
    int32_t *ids = NULL;
    int rc = 0;
    for (int q = 0; q < nq; q++) gold[q] = qidx[q] = q;
    if (reg == REG_RANDOM9 || reg == REG_RANDOM99) {
        rc = lw_candidates_random(nq, gold, nq, random_others(reg, nq), p->seed + 3, &off, &ids);
    } else if (reg == REG_DOMAIN) {
        int32_t *labels = malloc(sizeof(int32_t) * (size_t)nq);
        for (int q = 0; q < nq; q++) labels[q] = c->domain[test->row[q]];
        rc = lw_candidates_same_label(nq, gold, nq, labels, 0, p->seed + 5, &off, &ids);
        free(labels);
    } else if (reg == REG_CLUSTER) {
        /* fewer rows than clusters would leave queries without negatives (a perfect score that
         * means nothing): refused, naming the count */
        rc = nq < ALIGN_CLUSTERS ? lw_fail("align: %d test sentences both models encode, fewer than the clustered "
                                           "regime's %d clusters: raise --per-domain", nq, ALIGN_CLUSTERS)
                                 : lw_candidates_clustered(nq, gold, C, nq, dim, ALIGN_CLUSTERS, 49, p->seed + 9, &off, &ids);
    } else if (reg == REG_HARD || reg == REG_PARA || reg == REG_PARA_CTRL) {
        /* hard-negative: minimal-pair queries, candidates {self, twin}; paraphrase-adjacent:
         * paraphrase queries, {self, its paraphrase} + PARA_RANDOM random others; its control
         * random-10: the same queries, self + PARA_RANDOM + 1 random others */
        int32_t *twin_pos = malloc(sizeof(int32_t) * (size_t)(nq ? nq : 1));
        int k = twin_queries(c, test, reg == REG_HARD ? "minimal-pairs" : "paraphrase", qidx, twin_pos);
        int extra = reg == REG_HARD ? 0 : reg == REG_PARA_CTRL ? random_others(reg, test->n) : PARA_RANDOM;
        if (extra > test->n - 2) extra = test->n - 2 > 0 ? test->n - 2 : 0;
        int per = (reg == REG_PARA_CTRL ? 1 : 2) + extra;
        off = malloc(sizeof(int64_t) * (size_t)(k + 1));
        ids = malloc(sizeof(int32_t) * (size_t)(per * k + 1));
        off[0] = 0;
        lw_rng g;
        lw_rng_seed(&g, p->seed + 11);
        for (int j = 0; j < k; j++) {
            int32_t *row = ids + (size_t)j * per, n_row = 0;
            gold[j] = qidx[j];
            row[n_row++] = qidx[j];
            if (reg != REG_PARA_CTRL) row[n_row++] = twin_pos[j];
            while (n_row < per) { /* distinct random others (the control may draw the twin too) */
                int32_t cand = (int32_t)lw_rng_below(&g, (uint64_t)test->n);
                bool dup = false;
                for (int t = 0; t < n_row && !dup; t++) dup = row[t] == cand;
                if (!dup) row[n_row++] = cand;
            }
            off[j + 1] = (int64_t)(j + 1) * per;
        }
        nq = k;
        free(twin_pos);
    }
    if (rc != 0) goto done;
    float *Qs = malloc(sizeof(float) * (size_t)(nq ? nq : 1) * dim);
    for (int q = 0; q < nq; q++) memcpy(Qs + (size_t)q * dim, Q + (size_t)qidx[q] * dim, sizeof(float) * dim);
    int64_t *rel_off = malloc(sizeof(int64_t) * (size_t)(nq + 1));
    for (int q = 0; q <= nq; q++) rel_off[q] = q;
    lw_retrieval_task task = {.n_queries = nq, .cand_off = off, .cand_ids = ids, .rel_off = rel_off, .rel_ids = gold};
    lw_retrieval_params rp = lw_retrieval_default_params();
    rp.n_k = 2;
    rp.k[0] = 5;
    rp.k[1] = 10;
    *out = malloc(sizeof(double) * (size_t)(nq > 0 ? nq : 1) * N_METRICS);
    rc = nq > 0 ? lw_retrieval_score(Qs, C, test->n, dim, &task, &rp, *out) : 0;
    *mean_cands = off ? (nq ? (double)off[nq] / nq : 0) : test->n;
    free(Qs);
    free(rel_off);
done:
    free(gold);
    free(qidx);
    free(off);
    free(ids);
    return rc == 0 ? nq : -1;
}

/* Fits A-site -> B-site on the calibration rows and scores the test rows under the
 * given regimes. top1_bank (optional) receives the per-query top-1 of the first regime. */
static int run_condition(results *r, const lw_mdcorpus *c, const model_acts *A, const model_acts *B,
                         const rowset *calib, const rowset *test, condition cond, lw_bridge_recipe recipe,
                         const regime *regs, int n_regs, double **top1_first) {
    const lw_align_params *p = r->p;
    float *Xc = gather(A->site[cond.site_a], A->d, calib), *Yc = gather(B->site[cond.site_b], B->d, calib);
    float *Xt = gather(A->site[cond.site_a], A->d, test), *Yt = gather(B->site[cond.site_b], B->d, test);
    lw_bridge_params bp = lw_bridge_default_params();
    bp.recipe = recipe;
    bp.seed = p->seed;
    /* the PCA recipes keep half the smaller width, so they differ from plain ridge */
    if (recipe == LW_BRIDGE_PCA_RIDGE || recipe == LW_BRIDGE_PCA2_RIDGE) bp.rank = (A->d < B->d ? A->d : B->d) / 2;
    cond.recipe = lw_bridge_recipe_name(recipe);
    cond.n_calib = calib->n;
    lw_bridge *br = lw_bridge_fit(Xc, Yc, calib->n, A->d, B->d, &bp);
    int rc = br ? 0 : -1;
    if (rc == 0) {
        int dim = lw_bridge_out_dim(br);
        float *Q = malloc(sizeof(float) * (size_t)test->n * dim), *C = malloc(sizeof(float) * (size_t)test->n * dim);
        rc = lw_bridge_apply_source(br, Xt, test->n, Q) | lw_bridge_apply_target(br, Yt, test->n, C);
        for (int k = 0; rc == 0 && k < n_regs; k++) {
            double *per_query, mean_cands;
            int nq = score_regime(p, c, test, Q, C, dim, regs[k], &per_query, &mean_cands);
            if (nq < 0) {
                rc = -1;
                break;
            }
            if (nq == 0) { /* e.g. no minimal pairs in this bank */
                free(per_query);
                continue;
            }
            char label[32];
            cond.regime = regime_label(regs[k], test->n, label, sizeof label);
            record(r, &cond, per_query, nq, mean_cands, k == 0 ? top1_first : NULL);
            free(per_query);
        }
        free(Q);
        free(C);
    }
    if (rc != 0) lw_fail_prefix("align: %s %s: ", cond.experiment, lw_bridge_recipe_name(recipe));
    lw_bridge_free(br);
    free(Xc);
    free(Yc);
    free(Xt);
    free(Yt);
    return rc;
}

/* ------------------------------------------------------------------ experiments */

static void header(const results *r, const char *title) { emit_text(r->p, LW_ALIGN_EV_SECTION, "%s", title); }

/* B's site at the same relative depth as A's block (embed maps to embed). */
static int matched_site(int site_a, int n_sites_a, int n_sites_b) {
    if (site_a == 0) return 0;
    int la = site_a - 1, na = n_sites_a - 1, nb = n_sites_b - 1;
    int lb = (int)((double)(la + 1) / na * nb + 0.5) - 1;
    if (lb < 0) lb = 0;
    if (lb > nb - 1) lb = nb - 1;
    return lb + 1;
}

static rowset subsample(const rowset *rs, int n, uint64_t seed) {
    rowset out = {.n = n, .row = malloc(sizeof(int64_t) * (size_t)n)};
    int64_t *tmp = malloc(sizeof(int64_t) * (size_t)rs->n);
    memcpy(tmp, rs->row, sizeof(int64_t) * (size_t)rs->n);
    lw_rng g;
    lw_rng_seed(&g, seed);
    for (int i = 0; i < n; i++) { /* partial Fisher-Yates */
        int j = i + (int)lw_rng_below(&g, (uint64_t)(rs->n - i));
        int64_t t = tmp[i];
        tmp[i] = tmp[j];
        tmp[j] = t;
        out.row[i] = tmp[i];
    }
    free(tmp);
    return out;
}

static int run_all(results *r, const lw_mdcorpus *c, const model_acts *A, const model_acts *B, const rowset *calib,
                   const rowset *test) {
    const lw_align_params *p = r->p;
    const int last_a = A->n_sites - 1, last_b = B->n_sites - 1;
    const regime all_regs[] = {REG_BANK, REG_RANDOM9, REG_RANDOM99, REG_DOMAIN, REG_CLUSTER, REG_HARD};
    const regime curve_regs[] = {REG_BANK, REG_RANDOM9};

    header(r, "Main: last block of A -> last block of B, every candidate regime");
    condition main = {.experiment = "main", .site_a = last_a, .site_b = last_b};
    if (run_condition(r, c, A, B, calib, test, main, p->recipe, all_regs, 6, NULL) != 0) return -1;

    int32_t *qtmp = malloc(sizeof(int32_t) * (size_t)test->n), *ttmp = malloc(sizeof(int32_t) * (size_t)test->n);
    const int n_para = twin_queries(c, test, "paraphrase", qtmp, ttmp);
    free(qtmp);
    free(ttmp);
    if (n_para > 0) {
        header(r, "Paraphrase-adjacent distractors (MRPC): each target's paraphrase among random others, against as "
                  "many random others, on the same queries");
        double *t_para = NULL, *t_ctrl = NULL;
        const regime para[] = {REG_PARA}, ctrl[] = {REG_PARA_CTRL};
        int rc = run_condition(r, c, A, B, calib, test, main, p->recipe, para, 1, &t_para);
        if (rc == 0) rc = run_condition(r, c, A, B, calib, test, main, p->recipe, ctrl, 1, &t_ctrl);
        char label[32];
        if (rc == 0)
            compare(r, "paraphrase", "paraphrase-adjacent", regime_label(REG_PARA_CTRL, test->n, label, sizeof label),
                    t_para, t_ctrl, n_para);
        free(t_para);
        free(t_ctrl);
        if (rc != 0) return -1;
    }

    header(r, "Depth curve: A's sites -> B's site at the same relative depth");
    for (int sa = 0; sa < A->n_sites; sa++) {
        condition cd = {.experiment = "depth", .site_a = sa, .site_b = matched_site(sa, A->n_sites, B->n_sites)};
        if (run_condition(r, c, A, B, calib, test, cd, p->recipe, curve_regs, 2, NULL) != 0) return -1;
    }
    if (!p->quick) {
        header(r, "Every layer pair (regime bank)");
        for (int sa = 1; sa < A->n_sites; sa++)
            for (int sb = 1; sb < B->n_sites; sb++) {
                condition cd = {.experiment = "layer-grid", .site_a = sa, .site_b = sb};
                if (run_condition(r, c, A, B, calib, test, cd, p->recipe, curve_regs, 1, NULL) != 0) return -1;
            }
    }

    header(r, "Calibration size (test bank fixed), and an oracle fit on the test bank itself");
    static const int SIZES[] = {50, 100, 200, 300, 400, 600, 800, 1200};
    for (size_t k = 0; k < sizeof SIZES / sizeof SIZES[0] && SIZES[k] < calib->n; k++) {
        rowset sub = subsample(calib, SIZES[k], p->seed + (uint64_t)k);
        condition cd = {.experiment = "calib-size", .site_a = last_a, .site_b = last_b};
        int rc = run_condition(r, c, A, B, &sub, test, cd, p->recipe, curve_regs, 2, NULL);
        free(sub.row);
        if (rc != 0) return -1;
    }
    condition full = {.experiment = "calib-size", .site_a = last_a, .site_b = last_b};
    if (run_condition(r, c, A, B, calib, test, full, p->recipe, curve_regs, 2, NULL) != 0) return -1;
    condition oracle = {.experiment = "oracle", .site_a = last_a, .site_b = last_b, .note = "(fit on the test bank)"};
    if (run_condition(r, c, A, B, test, test, oracle, p->recipe, curve_regs, 2, NULL) != 0) return -1;

    header(r, "Recipes on the same splits (last blocks)");
    static const lw_bridge_recipe RECIPES[] = {LW_BRIDGE_RIDGE, LW_BRIDGE_PCA_RIDGE, LW_BRIDGE_PCA2_RIDGE,
                                               LW_BRIDGE_PROCRUSTES, LW_BRIDGE_CCA, LW_BRIDGE_RELREP};
    const regime rec_regs[] = {REG_BANK, REG_RANDOM9, REG_HARD};
    double *top1[6] = {0};
    int n_rec = p->quick ? 2 : 6;
    for (int k = 0; k < n_rec; k++) {
        condition cd = {.experiment = "recipe", .site_a = last_a, .site_b = last_b};
        if (run_condition(r, c, A, B, calib, test, cd, RECIPES[k], rec_regs, 3, &top1[k]) != 0) return -1;
    }
    for (int k = 1; k < n_rec; k++)
        compare(r, "recipe", lw_bridge_recipe_name(RECIPES[k]), "ridge", top1[k], top1[0], test->n);
    for (int k = 0; k < n_rec; k++) free(top1[k]);

    header(r, "Corpus shift: fit without a domain, test on that domain (bank = that domain's test rows)");
    for (int d = 0; d < c->n_domains; d++) {
        rowset in_cal = {0}, out_cal = {0}, dom_test = {0};
        in_cal.row = malloc(sizeof(int64_t) * (size_t)calib->n);
        out_cal.row = malloc(sizeof(int64_t) * (size_t)calib->n);
        dom_test.row = malloc(sizeof(int64_t) * (size_t)test->n);
        for (int i = 0; i < calib->n; i++) {
            in_cal.row[in_cal.n++] = calib->row[i];
            if (c->domain[calib->row[i]] != d) out_cal.row[out_cal.n++] = calib->row[i];
        }
        for (int i = 0; i < test->n; i++)
            if (c->domain[test->row[i]] == d) dom_test.row[dom_test.n++] = test->row[i];
        double *t_in = NULL, *t_out = NULL;
        condition ci = {.experiment = "shift", .site_a = last_a, .site_b = last_b, .note = c->domain_names[d]};
        condition co = ci;
        co.experiment = "shift-out";
        int rc = run_condition(r, c, A, B, &in_cal, &dom_test, ci, p->recipe, curve_regs, 1, &t_in);
        if (rc == 0) rc = run_condition(r, c, A, B, &out_cal, &dom_test, co, p->recipe, curve_regs, 1, &t_out);
        if (rc == 0) {
            char what[64];
            snprintf(what, sizeof what, "shift:%s", c->domain_names[d]);
            compare(r, what, "without-domain", "all-domains", t_out, t_in, dom_test.n);
        }
        free(t_in);
        free(t_out);
        free(in_cal.row);
        free(out_cal.row);
        free(dom_test.row);
        if (rc != 0) return -1;
    }
    return 0;
}

/* Everything after the corpus and the output directory exist. */
static int align_corpus(const lw_align_params *p, lw_mdcorpus *cp) {
    lw_mdcorpus c = *cp;
    model_acts A, B;
    if (model_activations(p->source_model, &c, p, "source", &A) != 0) return -1;
    if (model_activations(p->target_model, &c, p, "target", &B) != 0) {
        acts_free(&A);
        return -1;
    }
    /* keep sentences both models can encode (and minimal pairs only with both twins) */
    rowset calib = {0}, test = {0};
    calib.row = malloc(sizeof(int64_t) * (size_t)c.n);
    test.row = malloc(sizeof(int64_t) * (size_t)c.n);
    int dropped = 0;
    for (int64_t i = 0; i < c.n; i++) {
        bool ok = A.ok[i] && B.ok[i] && (c.twin[i] < 0 || (A.ok[c.twin[i]] && B.ok[c.twin[i]]));
        if (!ok) {
            dropped++;
            continue;
        }
        if (c.calib[i]) calib.row[calib.n++] = i;
        else test.row[test.n++] = i;
    }
    if (calib.n < 2 || test.n < 1) {
        free(calib.row);
        free(test.row);
        acts_free(&A);
        acts_free(&B);
        return lw_fail("align: both models encode only %d calibration and %d test sentences of %lld (at least 2 and 1 "
                       "are needed): no result to write",
                       calib.n, test.n, (long long)c.n);
    }
    emit_text(p, LW_ALIGN_EV_INFO, "latentwire align: %s (A, %d sites x %d) -> %s (B, %d sites x %d)", A.name,
              A.n_sites, A.d, B.name, B.n_sites, B.d);
    char domains[1024] = "";
    for (int d = 0; d < c.n_domains; d++)
        snprintf(domains + strlen(domains), sizeof domains - strlen(domains), "%s%s", d ? ", " : "", c.domain_names[d]);
    emit_text(p, LW_ALIGN_EV_INFO, "corpus: %lld sentences from %d domains (%s); %d calibration, %d test, %d dropped (a "
              "model cannot encode them)", (long long)c.n, c.n_domains, domains, calib.n, test.n, dropped);
    emit_text(p, LW_ALIGN_EV_INFO, "metrics: retrieval of each bridged A-row among B-rows by cosine; 95%% CIs over "
              "queries (exact Clopper-Pearson for proportions, else BCa bootstrap, %d resamples, seed %llu); ties count "
              "against the query", p->resamples, (unsigned long long)p->seed);

    results r = {.conditions = json_array(), .comparisons = json_array(), .p = p};
    char csv_path[2048], json_path[2048];
    snprintf(csv_path, sizeof csv_path, "%s/align.csv", p->out_dir);
    snprintf(json_path, sizeof json_path, "%s/align.json", p->out_dir);
    lw_atomic_file csv;
    /* align.csv and align.json appear together or not at all (a failure between them left a new
     * CSV beside the previous run's JSON) */
    int rc = lw_atomic_group_begin();
    const bool grouped = rc == 0;
    if (rc == 0) rc = lw_atomic_open(&csv, csv_path);
    if (rc == 0) {
        r.csv = csv.fp;
        fprintf(r.csv, "experiment,recipe,site_a,site_b,n_calib,regime,n_queries,mean_candidates,metric,mean,lo,hi\n");
        rc = run_all(&r, &c, &A, &B, &calib, &test);
        if (rc == 0) rc = lw_atomic_commit(&csv);
        else lw_atomic_abort(&csv);
    }
    if (rc == 0) {
        json_t *root = json_pack("{s:s, s:s, s:i, s:i, s:i, s:f, s:I, s:i, s:i, s:i, s:o, s:o}", "source_model",
                                 p->source_model, "target_model", p->target_model, "per_domain", p->per_domain,
                                 "n_pairs", p->n_pairs, "n_paraphrase_pairs", p->n_para, "calib_share", p->calib_share, "seed", (json_int_t)p->seed,
                                 "resamples", p->resamples, "n_calib", calib.n, "n_test", test.n, "conditions",
                                 r.conditions, "comparisons", r.comparisons);
        rc = lw_json_save(json_path, root);
        json_decref(root);
    } else {
        json_decref(r.conditions);
        json_decref(r.comparisons);
    }
    if (grouped) rc = lw_atomic_group_finish(rc);
    if (rc == 0) {
        emit_text(p, LW_ALIGN_EV_WROTE, "%s", json_path);
        emit_text(p, LW_ALIGN_EV_WROTE, "%s", csv_path);
    }
    free(calib.row);
    free(test.row);
    acts_free(&A);
    acts_free(&B);
    return rc;
}

/* What align writes into out_dir (relative names). */
static const char *const ALIGN_OUTPUTS[] = {"align.json", "align.csv", "activations-source.safetensors",
                                            "activations-target.safetensors", NULL};
enum { N_ALIGN_OUTPUTS = 4 };

static int check_model_file(const char *what, const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return lw_fail("align: %s model %s: %s", what, path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return lw_fail("align: %s model %s is not a regular file", what, path);
    return 0;
}

int lw_align_run(const lw_align_params *p) {
    if (!p) return lw_fail("align: params is NULL");
    if (!p->source_model || !p->target_model) return lw_fail("align: source and target models are required");
    /* everything that can be checked before minutes of extraction */
    if (lw_output_dir_check("align --out", p->out_dir, ALIGN_OUTPUTS,
                            (const char *[]){"--source", p->source_model, "--target", p->target_model, NULL}) != 0 ||
        check_model_file("source", p->source_model) != 0 || check_model_file("target", p->target_model) != 0)
        return -1;
    lw_mdcorpus c;
    if (lw_mdcorpus_build(p->data_dir, p->per_domain, p->n_pairs, p->n_para, p->calib_share, p->seed, &c) != 0)
        return -1;
    int n_calib = 0, n_test = 0;
    for (int64_t i = 0; i < c.n; i++) c.calib[i] ? n_calib++ : n_test++;
    if (n_test < ALIGN_CLUSTERS || n_calib < 2) { /* found before the extraction, not after it */
        lw_mdcorpus_free(&c);
        return lw_fail("align: --per-domain %d with --calib-share %g gives %d calibration and %d test sentences; at "
                       "least 2 and %d (the clustered regime's clusters) are needed: raise --per-domain, or move "
                       "--calib-share away from 0 or 1",
                       p->per_domain, p->calib_share, n_calib, n_test, ALIGN_CLUSTERS);
    }
    char *created = NULL, paths[N_ALIGN_OUTPUTS][4200];
    bool existed[N_ALIGN_OUTPUTS];
    if (lw_mkdir_p_created(p->out_dir, &created) != 0) {
        lw_mdcorpus_free(&c);
        return -1;
    }
    for (int k = 0; k < N_ALIGN_OUTPUTS; k++) {
        snprintf(paths[k], sizeof paths[k], "%s/%s", p->out_dir, ALIGN_OUTPUTS[k]);
        existed[k] = access(paths[k], F_OK) == 0;
    }
    int rc = align_corpus(p, &c);
    if (rc != 0) { /* a failed run leaves nothing it made: its files, then its directories if empty */
        for (int k = 0; k < N_ALIGN_OUTPUTS; k++)
            if (!existed[k]) unlink(paths[k]);
        lw_rmdir_created(p->out_dir, created);
    }
    free(created);
    lw_mdcorpus_free(&c);
    return rc;
}
