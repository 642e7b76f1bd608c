/* Retrieval scoring: cosine similarities by sgemm in bounded query blocks, the pessimistic
 * tie rule, and the per-query metrics (top-1, recall@k, MRR@10, graded NDCG@10). */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/finite.h"
#include "eval/eval.h"

#define BLOCK_BYTES ((size_t)128 << 20) /* similarities (and normalized queries) per block */
#define GATHER_BYTES ((size_t)16 << 20) /* gathered candidate rows per chunk */
#define CUTOFF 10                       /* MRR@10, NDCG@10 */

lw_retrieval_params lw_retrieval_default_params(void) {
    lw_retrieval_params p;
    memset(&p, 0, sizeof p);
    p.n_k = 3;
    p.k[0] = 1;
    p.k[1] = 5;
    p.k[2] = 10;
    return p;
}

static int check_params(const char *fn, const lw_retrieval_params *p) {
    if (p->n_k < 0 || p->n_k > LW_MAX_RECALL_K)
        return lw_fail("%s: params.n_k = %d, must lie in [0, %d]", fn, p->n_k, LW_MAX_RECALL_K);
    for (int i = 0; i < p->n_k; i++)
        if (p->k[i] < 1) return lw_fail("%s: params.k[%d] = %d, recall cut-offs must be >= 1", fn, i, p->k[i]);
    for (int i = 0; i < p->n_k; i++) /* two columns of one name: a JSON object keeps one of them */
        for (int j = 0; j < i; j++)
            if (p->k[i] == p->k[j]) return lw_fail("%s: params.k[%d] = %d repeats k[%d]", fn, i, p->k[i], j);
    if (p->ndcg_gain != LW_NDCG_GAIN_LINEAR && p->ndcg_gain != LW_NDCG_GAIN_EXP)
        return lw_fail("%s: params.ndcg_gain = %d, use LW_NDCG_GAIN_LINEAR or LW_NDCG_GAIN_EXP", fn, (int)p->ndcg_gain);
    return 0;
}

int lw_retrieval_n_metrics(const lw_retrieval_params *p) {
    lw_retrieval_params def = lw_retrieval_default_params();
    if (!p) p = &def;
    if (check_params("lw_retrieval_n_metrics", p)) return -1;
    return 3 + p->n_k;
}

const char *lw_retrieval_metric_name(const lw_retrieval_params *p, int col, char *buf, int buf_len) {
    static _Thread_local char own[32];
    lw_retrieval_params def = lw_retrieval_default_params();
    if (!p) p = &def;
    if (p->n_k < 0 || p->n_k > LW_MAX_RECALL_K || col < 0 || col >= 3 + p->n_k) return NULL;
    if (col == 0) return "top1";
    if (col == p->n_k + 1) return "mrr@10";
    if (col == p->n_k + 2) return "ndcg@10";
    if (!buf || buf_len < 1) {
        buf = own;
        buf_len = (int)sizeof own;
    }
    snprintf(buf, (size_t)buf_len, "recall@%d", p->k[col - 1]);
    return buf;
}

/* ---- ranking ---- */

typedef struct {
    int32_t id;
    float grade;
    double score; /* -inf until seen among the candidates */
    bool found;
    int64_t rank;
} rel_item;

typedef struct {
    rel_item *rel;  /* valid relevant items sorted by id */
    rel_item *frel; /* those found among the candidates, in ranking order */
    int64_t *cnt;   /* cnt[t]: candidates scoring >= frel[t].score */
    int cap;
} scratch;

static int scratch_reserve(scratch *s, int n) {
    if (n <= s->cap) return 0;
    rel_item *a = realloc(s->rel, sizeof *a * (size_t)n);
    if (a) s->rel = a;
    rel_item *b = realloc(s->frel, sizeof *b * (size_t)n);
    if (b) s->frel = b;
    int64_t *c = realloc(s->cnt, sizeof *c * ((size_t)n + 1));
    if (c) s->cnt = c;
    if (!a || !b || !c) return -1;
    s->cap = n;
    return 0;
}

static void scratch_free(scratch *s) {
    free(s->rel);
    free(s->frel);
    free(s->cnt);
    memset(s, 0, sizeof *s);
}

/* The ranking order: higher score first; equal scores put the LESS relevant first (grade 0
 * for non-relevant candidates), then the smaller id. NaN scores count as -inf. */
static int cmp_rank_order(const void *pa, const void *pb) {
    const rel_item *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->grade != b->grade) return a->grade < b->grade ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static int cmp_id(const void *pa, const void *pb) {
    const rel_item *a = pa, *b = pb;
    return (a->id > b->id) - (a->id < b->id);
}

static int cmp_grade_desc(const void *pa, const void *pb) {
    const rel_item *a = pa, *b = pb;
    return (a->grade < b->grade) - (a->grade > b->grade);
}

static int find_rel(const rel_item *rel, int m, int32_t id) {
    int lo = 0, hi = m;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (rel[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < m && rel[lo].id == id ? lo : -1;
}

static inline double clean_score(double s) { return isnan(s) ? -INFINITY : s; }

/* NDCG gain of grade g: g itself (trec_eval), or 2^g - 1 by expm1, accurate (and > 0) for
 * small positive grades too. */
double lw_ndcg_gain_value(lw_ndcg_gain kind, float g) {
    /* 2^1024 - 1 is past DBL_MAX, but expm1 of the rounded 1024 ln 2 lands just below it: infinite
     * from 1024 on, as the callers' "grades must stay below 1024" says */
    if (kind == LW_NDCG_GAIN_EXP && g >= 1024.0f) return INFINITY;
    return kind == LW_NDCG_GAIN_EXP ? expm1((double)g * 0.69314718055994530942) : (double)g;
}
static inline double gain(lw_ndcg_gain kind, float g) { return lw_ndcg_gain_value(kind, g); }

/* One query's candidates: score of candidate j (j < n) is d[j] (NaN = -inf); its id is ids[j]
 * (NULL: j). */
typedef struct {
    const double *d;
    const int32_t *ids;
    int64_t n;
} cand_scores;

/* cnt[t] = number of candidates with score >= thr[t], for thr sorted descending. A few
 * thresholds: one branch-free pass each; many: one pass with a binary search per candidate. */
static void count_at_least(const cand_scores *cs, const rel_item *thr, int f, int64_t *cnt) {
    const int64_t n = cs->n;
    const double *x = cs->d;
    if (f <= 16) {
        for (int t = 0; t < f; t++) {
            int64_t c = 0;
            const double th = thr[t].score;
            for (int64_t j = 0; j < n; j++) c += clean_score(x[j]) >= th;
            cnt[t] = c;
        }
        return;
    }
    for (int t = 0; t <= f; t++) cnt[t] = 0;
    for (int64_t j = 0; j < n; j++) {
        double s = clean_score(x[j]);
        int lo = 0, hi = f; /* first t with thr[t] <= s: s counts for t and every later one */
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (thr[mid].score <= s) hi = mid;
            else lo = mid + 1;
        }
        cnt[lo]++;
    }
    for (int t = 1; t < f; t++) cnt[t] += cnt[t - 1];
}

/* Metrics of one query. Relevant items with a grade that is not finite and > 0 are ignored;
 * relevant items absent from the candidates count as never retrieved. With no valid
 * relevant item every metric is NaN. */
static void metrics_core(const cand_scores *cs, const int32_t *rel_ids, const float *rel_grade, int n_rel,
                         const lw_retrieval_params *p, double *out, scratch *sc) {
    int n_out = 3 + p->n_k;
    int m = 0;
    for (int i = 0; i < n_rel; i++) {
        float g = rel_grade ? rel_grade[i] : 1.0f;
        if (!(g > 0.0f) || !isfinite(g)) continue;
        sc->rel[m++] = (rel_item){.id = rel_ids[i], .grade = g, .score = -INFINITY, .found = false, .rank = 0};
    }
    if (m == 0) {
        for (int c = 0; c < n_out; c++) out[c] = NAN;
        return;
    }
    rel_item *rel = sc->rel;
    qsort(rel, (size_t)m, sizeof *rel, cmp_id);

    /* The relevant items' own scores. */
    if (!cs->ids) {
        for (int i = 0; i < m; i++)
            if (rel[i].id >= 0 && rel[i].id < cs->n) {
                rel[i].score = clean_score(cs->d[rel[i].id]);
                rel[i].found = true;
            }
    } else {
        for (int64_t j = 0; j < cs->n; j++) {
            int r = find_rel(rel, m, cs->ids[j]);
            if (r >= 0) {
                rel[r].score = clean_score(cs->d[j]);
                rel[r].found = true;
            }
        }
    }
    int f = 0;
    for (int i = 0; i < m; i++)
        if (rel[i].found) sc->frel[f++] = rel[i];
    rel_item *frel = sc->frel;
    qsort(frel, (size_t)f, sizeof *frel, cmp_rank_order);

    /* frel[i] ranks after the i relevant items before it in frel and after every non-relevant
     * candidate scoring >= its score (a tie goes against the relevant item: grade 0 < grade).
     * Non-relevant at or above = all candidates at or above - relevant ones at or above. */
    int64_t *cnt = sc->cnt;
    if (f > 0) count_at_least(cs, frel, f, cnt);
    for (int i = 0, above = 0; i < f; i++) {
        while (above < f && frel[above].score >= frel[i].score) above++;
        frel[i].rank = 1 + i + (cnt[i] - above);
    }

    int c = 0;
    out[c++] = (f > 0 && frel[0].rank == 1) ? 1.0 : 0.0;
    for (int kk = 0; kk < p->n_k; kk++) {
        int hits = 0;
        for (int i = 0; i < f; i++) hits += frel[i].rank <= p->k[kk];
        out[c++] = (double)hits / m;
    }
    out[c++] = (f > 0 && frel[0].rank <= CUTOFF) ? 1.0 / (double)frel[0].rank : 0.0;
    double dcg = 0;
    for (int i = 0; i < f; i++)
        if (frel[i].rank <= CUTOFF) dcg += gain(p->ndcg_gain, frel[i].grade) / log2((double)frel[i].rank + 1.0);
    qsort(rel, (size_t)m, sizeof *rel, cmp_grade_desc);
    double idcg = 0;
    for (int i = 0; i < m && i < CUTOFF; i++) idcg += gain(p->ndcg_gain, rel[i].grade) / log2((double)i + 2.0);
    out[c++] = dcg / idcg;
}

void lw_retrieval_metrics_from_scores(const double *scores, const int32_t *ids, int n, const int32_t *rel_ids,
                                      const float *rel_grade, int n_rel, const lw_retrieval_params *p, double *out) {
    lw_retrieval_params def = lw_retrieval_default_params();
    if (!p) p = &def;
    if (!out || check_params("lw_retrieval_metrics_from_scores", p)) return;
    scratch sc = {0};
    if (n < 0 || n_rel < 0 || (n > 0 && (!scores || !ids)) || (n_rel > 0 && !rel_ids) ||
        scratch_reserve(&sc, n_rel > 0 ? n_rel : 1)) {
        for (int c = 0; c < 3 + p->n_k; c++) out[c] = NAN;
        scratch_free(&sc);
        return;
    }
    for (int i = 0; i < n; i++) /* a NaN score has no rank: every metric is NaN */
        if (isnan(scores[i])) {
            for (int c = 0; c < 3 + p->n_k; c++) out[c] = NAN;
            scratch_free(&sc);
            return;
        }
    cand_scores cs = {.d = scores, .ids = ids, .n = n};
    metrics_core(&cs, rel_ids, rel_grade, n_rel, p, out, &sc);
    scratch_free(&sc);
}

/* ---- scoring against a bank ---- */

int lw_eval_row_inv_norms(const float *X, int64_t n, int d, const char *what, float *inv_norm) {
    for (int64_t i = 0; i < n; i++) {
        const float *x = X + (size_t)i * (size_t)d;
        double ss = 0;
        for (int j = 0; j < d; j++) {
            if (!isfinite(x[j]))
                return lw_fail("%s row %lld has a non-finite value %g at column %d", what, (long long)i, (double)x[j],
                               j);
            ss += (double)x[j] * (double)x[j];
        }
        if (ss == 0.0) return lw_fail("%s row %lld has zero norm (cannot take a cosine)", what, (long long)i);
        float inv = (float)(1.0 / sqrt(ss));
        if (!isfinite(inv) || inv == 0.0f)
            return lw_fail("%s row %lld has norm %g, outside what float normalization handles", what, (long long)i,
                           sqrt(ss));
        inv_norm[i] = inv;
    }
    return 0;
}

#define FN "lw_retrieval_score"

static int validate_task(const lw_retrieval_task *t, int32_t nc, lw_ndcg_gain gain_kind, int32_t *max_rel,
                         int64_t *max_cand) {
    int32_t nq = t->n_queries;
    if (!t->rel_off || !t->rel_ids) return lw_fail(FN ": task.rel_off and task.rel_ids are required");
    if (t->cand_ids && !t->cand_off) return lw_fail(FN ": task.cand_ids given without task.cand_off");
    if (t->cand_off && !t->cand_ids) return lw_fail(FN ": task.cand_off given without task.cand_ids");
    int32_t *cmark = calloc((size_t)nc, sizeof *cmark), *rmark = calloc((size_t)nc, sizeof *rmark);
    if (!cmark || !rmark) {
        free(cmark);
        free(rmark);
        return lw_fail(FN ": out of memory for %d candidates", nc);
    }
    int rc = -1;
    *max_rel = 0;
    *max_cand = t->cand_off ? 0 : nc;
    if (t->rel_off[0] < 0) {
        lw_fail(FN ": task.rel_off[0] = %lld is negative", (long long)t->rel_off[0]);
        goto done;
    }
    if (t->cand_off && t->cand_off[0] < 0) {
        lw_fail(FN ": task.cand_off[0] = %lld is negative", (long long)t->cand_off[0]);
        goto done;
    }
    for (int32_t q = 0; q < nq; q++) {
        int32_t stamp = q + 1;
        if (t->cand_off) {
            int64_t a = t->cand_off[q], b = t->cand_off[q + 1];
            if (b <= a) {
                lw_fail(FN ": query %d has no candidates (task.cand_off[%d] = %lld, task.cand_off[%d] = %lld)", q, q,
                        (long long)a, q + 1, (long long)b);
                goto done;
            }
            if (b - a > *max_cand) *max_cand = b - a;
            for (int64_t i = a; i < b; i++) {
                int32_t id = t->cand_ids[i];
                if (id < 0 || id >= nc) {
                    lw_fail(FN ": task.cand_ids[%lld] = %d (query %d) is outside [0, %d)", (long long)i, id, q, nc);
                    goto done;
                }
                if (cmark[id] == stamp) {
                    lw_fail(FN ": task.cand_ids[%lld] = %d (query %d) is a duplicate candidate", (long long)i, id, q);
                    goto done;
                }
                cmark[id] = stamp;
            }
        }
        int64_t a = t->rel_off[q], b = t->rel_off[q + 1];
        if (b <= a) {
            lw_fail(FN ": query %d has no relevant candidates (task.rel_off[%d] = %lld, task.rel_off[%d] = %lld)", q, q,
                    (long long)a, q + 1, (long long)b);
            goto done;
        }
        if (b - a > 0x7fffffff) {
            lw_fail(FN ": query %d has %lld relevant candidates, too many", q, (long long)(b - a));
            goto done;
        }
        if (b - a > *max_rel) *max_rel = (int32_t)(b - a);
        for (int64_t i = a; i < b; i++) {
            int32_t id = t->rel_ids[i];
            if (id == LW_RETRIEVAL_NOT_IN_BANK) { /* a relevant item the bank lacks: a miss, grade still checked */
                if (t->rel_grade && !(t->rel_grade[i] > 0.0f && isfinite(gain(gain_kind, t->rel_grade[i])))) {
                    lw_fail(FN ": task.rel_grade[%lld] = %g (query %d) must be > 0 with a finite gain", (long long)i,
                            (double)t->rel_grade[i], q);
                    goto done;
                }
                continue;
            }
            if (id < 0 || id >= nc) {
                lw_fail(FN ": task.rel_ids[%lld] = %d (query %d) is outside [0, %d)", (long long)i, id, q, nc);
                goto done;
            }
            if (rmark[id] == stamp) {
                lw_fail(FN ": task.rel_ids[%lld] = %d (query %d) is a duplicate relevant candidate", (long long)i, id,
                        q);
                goto done;
            }
            rmark[id] = stamp;
            if (t->cand_off && cmark[id] != stamp) {
                lw_fail(FN ": task.rel_ids[%lld] = %d (query %d) is not among the query's candidates", (long long)i,
                        id, q);
                goto done;
            }
            if (t->rel_grade && !(t->rel_grade[i] > 0.0f && isfinite(t->rel_grade[i]))) {
                lw_fail(FN ": task.rel_grade[%lld] = %g (query %d) must be finite and > 0", (long long)i,
                        (double)t->rel_grade[i], q);
                goto done;
            }
            if (t->rel_grade && !isfinite(gain(gain_kind, t->rel_grade[i]))) { /* 2^g - 1 past DBL_MAX: NDCG NaN */
                lw_fail(FN ": task.rel_grade[%lld] = %g (query %d): its exponential NDCG gain 2^g - 1 is not a finite "
                        "number (grades must stay below 1024); use the linear gain", (long long)i,
                        (double)t->rel_grade[i], q);
                goto done;
            }
        }
    }
    rc = 0;
done:
    free(cmark);
    free(rmark);
    return rc;
}

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

int lw_retrieval_auto_block_rows(int32_t nq, int32_t nc, int d) {
    if (nq < 1 || nc < 1 || d < 1) return 1;
    size_t bq = min_sz(BLOCK_BYTES / (sizeof(float) * (size_t)nc), BLOCK_BYTES / (sizeof(float) * (size_t)d));
    bq = min_sz(bq, (size_t)nq);
    return bq < 1 ? 1 : (int)bq;
}

/* The scoring context of one call: the rows, the bank's mean when centring (NULL: raw
 * cosine) and the half-width of the band around a relevant item's score inside which
 * candidates are rescored exactly. */
typedef struct {
    const float *Q, *C;
    const double *mu;
    int d;
    float band;
} bank;

/* Cosine of query q and bank row c in double, in one fixed order: rows with equal floats get
 * equal scores whatever BLAS kernel computed their float similarity. */
static double exact_cosine(const bank *b, int32_t q, int32_t c) {
    const float *x = b->Q + (size_t)q * (size_t)b->d, *y = b->C + (size_t)c * (size_t)b->d;
    double xy = 0, xx = 0, yy = 0;
    for (int j = 0; j < b->d; j++) {
        double u = x[j], v = y[j];
        if (b->mu) u -= b->mu[j], v -= b->mu[j];
        xy += u * v, xx += u * u, yy += v * v;
    }
    return xy / (sqrt(xx) * sqrt(yy));
}

static int cmp_int32(const void *pa, const void *pb) {
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return (a > b) - (a < b);
}

static int cmp_float(const void *pa, const void *pb) {
    float a = *(const float *)pa, b = *(const float *)pb;
    return (a > b) - (a < b);
}

/* sgemm's float similarities are within b->band / 2 of the exact cosine, but which side they
 * fall on depends on the kernel a column lands in (machine, BLAS build, position in the
 * bank), so two equal rows can get different floats and a tie that the pessimistic rule must
 * count becomes a coin flip. Every candidate within b->band of some relevant item's float
 * score (the relevant items themselves included) is rescored exactly; candidates outside
 * every band keep their float score, whose order against each relevant item is already
 * right. f[n]: the float scores of candidates ids[n] (NULL: j); sd[n] gets the scores;
 * rel_sorted and band_buf have room for n_rel items. */
static void refine_near_ties(const bank *b, int32_t q, const float *f, const int32_t *ids, int64_t n,
                             const int32_t *rel_ids, int n_rel, int32_t *rel_sorted, float *band_buf, double *sd) {
    int m = 0;
    if (!ids) {
        for (int i = 0; i < n_rel; i++)
            if (rel_ids[i] >= 0 && rel_ids[i] < n) band_buf[m++] = f[rel_ids[i]];
    } else {
        memcpy(rel_sorted, rel_ids, sizeof *rel_sorted * (size_t)n_rel);
        qsort(rel_sorted, (size_t)n_rel, sizeof *rel_sorted, cmp_int32);
        for (int64_t j = 0; j < n; j++)
            if (bsearch(&ids[j], rel_sorted, (size_t)n_rel, sizeof *rel_sorted, cmp_int32)) band_buf[m++] = f[j];
    }
    qsort(band_buf, (size_t)m, sizeof *band_buf, cmp_float);
    const float lo_all = m ? band_buf[0] - b->band : 0, hi_all = m ? band_buf[m - 1] + b->band : -1;
    for (int64_t j = 0; j < n; j++) {
        float s = f[j];
        sd[j] = s;
        if (s < lo_all || s > hi_all) continue; /* most candidates: outside every band */
        int lo = 0, hi = m; /* first relevant score >= s; the nearest is it or the one before */
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (band_buf[mid] < s) lo = mid + 1;
            else hi = mid;
        }
        bool near = (lo < m && band_buf[lo] - s <= b->band) || (lo > 0 && s - band_buf[lo - 1] <= b->band);
        if (near) sd[j] = exact_cosine(b, q, ids ? ids[j] : (int32_t)j);
    }
}

static int check_finite(const float *X, int64_t n, int d, const char *what) {
    int64_t bad = lw_first_nonfinite(X, n * d);
    if (bad >= 0)
        return lw_fail("%s row %lld has a non-finite value %g at column %lld", what, (long long)(bad / d),
                       (double)X[bad], (long long)(bad % d));
    return 0;
}

/* 1 / norm of each row of X minus mu (mu NULL: of X, with the finiteness checks; with mu the
 * rows were checked finite before mu was taken, and a raw zero row is fine: it centres to -mu). */
static int inv_norms(const float *X, int64_t n, int d, const double *mu, const char *what, float *inv) {
    if (!mu) return lw_eval_row_inv_norms(X, n, d, what, inv);
    for (int64_t i = 0; i < n; i++) {
        const float *x = X + (size_t)i * (size_t)d;
        double ss = 0;
        for (int j = 0; j < d; j++) ss += (x[j] - mu[j]) * (x[j] - mu[j]);
        if (!(ss > 0) || !isfinite(1.0 / sqrt(ss)))
            return lw_fail("%s row %lld has norm %g after centring (it equals the bank's mean)", what, (long long)i,
                           sqrt(ss));
        inv[i] = (float)(1.0 / sqrt(ss));
    }
    return 0;
}

/* rows [r0, r0 + n) of C into dst, minus mu when centring (the copies sgemm reads). */
static void copy_rows(const bank *b, const int32_t *ids, int64_t r0, int n, float *dst) {
    for (int t = 0; t < n; t++) {
        int64_t r = ids ? ids[r0 + t] : r0 + t;
        const float *src = b->C + (size_t)r * (size_t)b->d;
        float *o = dst + (size_t)t * (size_t)b->d;
        if (!b->mu) memcpy(o, src, sizeof(float) * (size_t)b->d);
        else
            for (int j = 0; j < b->d; j++) o[j] = (float)(src[j] - b->mu[j]);
    }
}

int lw_retrieval_score_blocked(const float *Q, const float *C, int32_t nc, int d, const lw_retrieval_task *task,
                               const lw_retrieval_params *p, double *out, int block_rows) {
    lw_retrieval_params def = lw_retrieval_default_params();
    if (!p) p = &def;
    if (check_params(FN, p)) return -1;
    if (!task) return lw_fail(FN ": task is NULL");
    int32_t nq = task->n_queries;
    if (nq < 0) return lw_fail(FN ": task.n_queries = %d is negative", nq);
    if (nq == 0) return 0;
    if (!Q || !C || !out) return lw_fail(FN ": %s is NULL", !Q ? "Q" : !C ? "C" : "out");
    if (nc < 1) return lw_fail(FN ": nc = %d, need at least one candidate", nc);
    if (d < 1) return lw_fail(FN ": d = %d, need at least one dimension", d);
    int32_t max_rel = 0;
    int64_t max_cand = 0;
    if (validate_task(task, nc, p->ndcg_gain, &max_rel, &max_cand)) return -1;

    const int n_metrics = 3 + p->n_k;
    const int32_t *cand_ids = task->cand_ids;
    const int64_t *cand_off = task->cand_off;
    /* Whole-bank sgemm unless the candidate lists are sparse enough that gathering their rows
     * is cheaper (fewer than 1/16 of the query x bank pairs). With centring the bank is
     * centred a chunk at a time, never copied whole. */
    bool full = !cand_off || (cand_off[nq] - cand_off[0]) * 16 >= (int64_t)nq * nc;
    size_t bq = 1, gather_rows = GATHER_BYTES / (sizeof(float) * (size_t)d);
    if (gather_rows < 1) gather_rows = 1;
    if (full) {
        bq = block_rows > 0 ? min_sz((size_t)block_rows, (size_t)nq) : (size_t)lw_retrieval_auto_block_rows(nq, nc, d);
        gather_rows = min_sz(gather_rows, (size_t)nc);
    } else {
        gather_rows = min_sz(gather_rows, (size_t)max_cand);
    }
    /* |float cosine - exact| <= (d + 4) u (u = FLT_EPSILON / 2): the dot's accumulation bound
     * gamma_d (any order, FMA or not) plus the roundings of the normalizations; a band of
     * twice that, with slack, holds every pair whose order the floats may get wrong. */
    bank bk = {.Q = Q, .C = C, .d = d, .band = (float)(d + 8) * FLT_EPSILON};
    double *mu = p->center ? calloc((size_t)d, sizeof *mu) : NULL;
    float *inv_q = malloc(sizeof(float) * (size_t)nq), *inv_c = malloc(sizeof(float) * (size_t)nc);
    float *qn = malloc(sizeof(float) * bq * (size_t)d);
    float *sim = malloc(sizeof(float) * (full ? bq * (size_t)nc : gather_rows));
    float *gath = (!full || mu) ? malloc(sizeof(float) * gather_rows * (size_t)d) : NULL;
    float *sf = malloc(sizeof(float) * (size_t)max_cand);
    double *sd = malloc(sizeof(double) * (size_t)max_cand);
    float *band_buf = malloc(sizeof(float) * (size_t)max_rel);
    int32_t *rel_sorted = malloc(sizeof(int32_t) * (size_t)max_rel);
    scratch sc = {0};
    int rc = -1;
    if ((p->center && !mu) || !inv_q || !inv_c || !qn || !sim || ((!full || mu) && !gath) || !sf || !sd ||
        !band_buf || !rel_sorted || scratch_reserve(&sc, max_rel)) {
        lw_fail(FN ": out of memory (%d queries x %d candidates, d = %d)", nq, nc, d);
        goto done;
    }
    if (mu && (check_finite(C, nc, d, FN ": C (candidates)") || check_finite(Q, nq, d, FN ": Q (queries)")))
        goto done;
    if (mu) { /* the bank's mean, accumulated in double; no labels used */
        for (int32_t i = 0; i < nc; i++)
            for (int j = 0; j < d; j++) mu[j] += C[(size_t)i * d + j];
        for (int j = 0; j < d; j++) mu[j] /= nc;
        bk.mu = mu;
    }
    if (inv_norms(Q, nq, d, mu, FN ": Q (queries)", inv_q)) goto done;
    if (inv_norms(C, nc, d, mu, FN ": C (candidates)", inv_c)) goto done;

    for (int32_t q0 = 0; q0 < nq; q0 += (int32_t)bq) {
        int32_t m = (int32_t)min_sz(bq, (size_t)(nq - q0));
        for (int32_t i = 0; i < m; i++) {
            const float *src = Q + (size_t)(q0 + i) * (size_t)d;
            float *dst = qn + (size_t)i * (size_t)d, s = inv_q[q0 + i];
            for (int j = 0; j < d; j++) dst[j] = (float)((mu ? src[j] - mu[j] : src[j]) * s);
        }
        if (full && !mu)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, nc, d, 1.0f, qn, d, C, d, 0.0f, sim, nc);
        else if (full)
            for (int32_t c0 = 0; c0 < nc; c0 += (int32_t)gather_rows) {
                int g = (int)min_sz(gather_rows, (size_t)(nc - c0));
                copy_rows(&bk, NULL, c0, g, gath);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, g, d, 1.0f, qn, d, gath, d, 0.0f, sim + c0, nc);
            }
        for (int32_t i = 0; i < m; i++) {
            int32_t q = q0 + i;
            const int32_t *ids = cand_off ? cand_ids + cand_off[q] : NULL;
            int64_t n = cand_off ? cand_off[q + 1] - cand_off[q] : nc;
            const float *f = sf; /* float cosines of the candidates */
            if (full) {
                float *row = sim + (size_t)i * (size_t)nc;
                if (ids) {
                    for (int64_t t = 0; t < n; t++) sf[t] = row[ids[t]] * inv_c[ids[t]];
                } else {
                    for (int64_t t = 0; t < n; t++) row[t] *= inv_c[t]; /* cosines, in place */
                    f = row;
                }
            } else {
                const float *qrow = qn + (size_t)i * (size_t)d;
                for (int64_t t0 = 0; t0 < n; t0 += (int64_t)gather_rows) {
                    int g = (int)min_sz(gather_rows, (size_t)(n - t0));
                    copy_rows(&bk, ids, t0, g, gath);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 1, g, d, 1.0f, qrow, d, gath, d, 0.0f, sim,
                                g);
                    for (int t = 0; t < g; t++) sf[t0 + t] = sim[t] * inv_c[ids[t0 + t]];
                }
            }
            int64_t ra = task->rel_off[q];
            int n_rel = (int)(task->rel_off[q + 1] - ra);
            refine_near_ties(&bk, q, f, ids, n, task->rel_ids + ra, n_rel, rel_sorted, band_buf, sd);
            cand_scores exact = {.d = sd, .ids = ids, .n = n};
            metrics_core(&exact, task->rel_ids + ra, task->rel_grade ? task->rel_grade + ra : NULL, n_rel, p,
                         out + (size_t)q * (size_t)n_metrics, &sc);
        }
    }
    rc = 0;
done:
    free(mu);
    free(inv_q);
    free(inv_c);
    free(qn);
    free(sim);
    free(gath);
    free(sf);
    free(sd);
    free(band_buf);
    free(rel_sorted);
    scratch_free(&sc);
    return rc;
}

int lw_retrieval_score(const float *Q, const float *C, int32_t nc, int d, const lw_retrieval_task *task,
                       const lw_retrieval_params *p, double *out) {
    return lw_retrieval_score_blocked(Q, C, nc, d, task, p, out, 0);
}
