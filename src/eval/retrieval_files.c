/* retrieval over activation files (see retrieval_runs.h): the experiment the `retrieval` verb
 * runs on --queries and --candidates, moved from the CLI so that it is one library call. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "linalg/linalg.h"
#include "eval/ci_json.h"
#include "latentwire/acts.h"
#include "latentwire/bridge.h"
#include "latentwire/retrieval_runs.h"

lw_retrieval_files_params lw_retrieval_files_default_params(void) {
    return (lw_retrieval_files_params){.regime = "bank", .resamples = 1000, .seed = 1};
}

/* How many of the queries are rows the bridge was fitted on: its record names the source texts
 * (input_sha256, input_field) and their row ids as ranges [[first, last], ...]; the queries' file
 * must come from the same texts for a row id to mean the same text. -1 when that cannot be known. */
static int64_t queries_in_calibration(const lw_bridge *br, const lw_act_tensor *A, const int64_t *row_id, int64_t nq) {
    json_t *all = json_loads(lw_bridge_info_json(br), 0, NULL), *rec = json_object_get(all, "meta");
    json_t *meta = A->meta ? json_loads(A->meta, 0, NULL) : NULL, *ranges = json_object_get(rec, "calibration_row_ids");
    const char *sb = json_string_value(json_object_get(rec, "source_input_sha256")),
               *sa = json_string_value(json_object_get(meta, "input_sha256")),
               *fb = json_string_value(json_object_get(rec, "source_input_field")),
               *fa = json_string_value(json_object_get(meta, "input_field"));
    int64_t n = -1;
    if (json_is_array(ranges) && sb && sa && !strcmp(sa, sb) && (!fa || !fb || !strcmp(fa, fb))) {
        n = 0;
        for (int64_t q = 0; q < nq; q++) {
            size_t k;
            json_t *r;
            json_array_foreach(ranges, k, r) {
                if (row_id[q] >= json_integer_value(json_array_get(r, 0)) &&
                    row_id[q] <= json_integer_value(json_array_get(r, 1))) {
                    n++;
                    break;
                }
            }
        }
    }
    json_decref(all);
    json_decref(meta);
    return n;
}

json_t *lw_retrieval_summarize(const double *m, int64_t nq, const lw_retrieval_params *rp, int resamples, uint64_t seed) {
    int nm = lw_retrieval_n_metrics(rp);
    if (nm < 0) return NULL;
    if (nq < 1 || nq > INT32_MAX || !m) /* lw_ci_mean takes an int count */
        return lw_fail("lw_retrieval_summarize: %lld queries%s", (long long)nq, m ? "" : " and no metrics"), NULL;
    double *col = malloc(sizeof(double) * (size_t)(nq ? nq : 1));
    json_t *out = col ? json_object() : NULL;
    for (int c = 0; out && c < nm; c++) {
        for (int64_t q = 0; q < nq; q++) col[q] = m[q * nm + c];
        lw_ci ci;
        char buf[32];
        const char *name = lw_retrieval_metric_name(rp, c, buf, sizeof buf);
        if (lw_ci_mean(col, (int)nq, resamples, 0.95, seed, &ci) != 0) { /* never a stale interval */
            lw_fail_prefix("retrieval: %s over %lld queries: ", name, (long long)nq);
            json_decref(out);
            out = NULL;
            break;
        }
        json_object_set_new(out, name, lw_ci_json(&ci));
    }
    free(col);
    if (!col) lw_fail("retrieval: out of memory");
    return out;
}

/* Per metric the paired difference m1 - m2 on the same queries (lw_ci_paired). */
static json_t *paired_differences(const double *m1, const double *m2, int64_t nq, const lw_retrieval_params *rp,
                                  const lw_retrieval_files_params *p) {
    int nm = lw_retrieval_n_metrics(rp);
    double *a = malloc(sizeof(double) * (size_t)(nq ? nq : 1)), *b = malloc(sizeof(double) * (size_t)(nq ? nq : 1));
    json_t *diffs = json_object();
    for (int c = 0; a && b && c < nm; c++) {
        for (int64_t q = 0; q < nq; q++) a[q] = m1[q * nm + c], b[q] = m2[q * nm + c];
        lw_ci d;
        double pv;
        char buf[32];
        const char *name = lw_retrieval_metric_name(rp, c, buf, sizeof buf);
        if (lw_ci_paired(a, b, (int)nq, p->resamples, 0.95, p->seed, &d, &pv) != 0) {
            lw_fail_prefix("retrieval: the paired difference of %s: ", name);
            json_decref(diffs);
            diffs = NULL;
            break;
        }
        json_t *dj = lw_ci_json(&d);
        json_object_set_new(dj, "p_value", json_real(pv));
        json_object_set_new(diffs, name, dj);
    }
    if (!a || !b) json_decref(diffs), diffs = NULL, lw_fail("retrieval: out of memory");
    free(a);
    free(b);
    return diffs;
}

/* root[key] = part (taken); -1 when the part could not be made (its message set). */
static int set_part(json_t *root, const char *key, json_t *part) {
    if (!part) return -1;
    json_object_set_new(root, key, part);
    return 0;
}

/* A bridge of the right widths, fitted on these tensors, models and pooling. 0 or -1. */
static int check_bridge(const char *option, const char *path, const lw_bridge *b, const lw_act_tensor *A,
                        const lw_act_tensor *B, const lw_retrieval_files_params *p) {
    if (lw_bridge_source_dim(b) != A->d || lw_bridge_target_dim(b) != B->d)
        return lw_fail("%s%s maps %d -> %d, but the files have widths %d and %d", option, path, lw_bridge_source_dim(b),
                       lw_bridge_target_dim(b), A->d, B->d);
    char sa[65], sb[65], pa[32], pb[32];
    if (lw_bridge_check_fit(b, "source", p->query_tensor, lw_act_model_sha256(A, sa), lw_act_pool(A, pa)) != 0 ||
        lw_bridge_check_fit(b, "target", p->candidate_tensor, lw_act_model_sha256(B, sb), lw_act_pool(B, pb)) != 0) {
        char why[512]; /* lw_fail writes the buffer lw_last_error reads */
        snprintf(why, sizeof why, "%s", lw_last_error());
        return lw_fail("%s: %s", path, why);
    }
    return 0;
}

/* Everything one run holds, freed in one place. */
typedef struct {
    lw_act_tensor A, B;
    lw_bridge *br, *cmp;
    int64_t *ia, *ib, *off, *off_ctl, *rel_off, *query_row_id;
    int32_t *ids, *ids_ctl, *gold;
    float *Xq, *Q, *C, *Q2, *C2;
    double *m1, *m2;
} run_state;

static void run_free(run_state *s) {
    lw_act_close(&s->A);
    lw_act_close(&s->B);
    lw_bridge_free(s->br);
    lw_bridge_free(s->cmp);
    free(s->ia), free(s->ib), free(s->off), free(s->off_ctl), free(s->rel_off), free(s->query_row_id);
    free(s->ids), free(s->ids_ctl), free(s->gold);
    free(s->Xq), free(s->Q), free(s->C), free(s->Q2), free(s->C2);
    free(s->m1), free(s->m2);
}

/* Every row of a file's tensor finite and not all zero (cosine needs a direction), named by file,
 * tensor and row id: lw_retrieval_score's own check can only name a row index of its matrices. */
static int check_rows(const lw_act_tensor *t, const char *option, const char *path, const char *tensor) {
    for (int64_t i = 0; i < t->n; i++) {
        const float *x = t->x + (size_t)i * (size_t)t->d;
        double ss = 0;
        for (int j = 0; j < t->d; j++) {
            if (!isfinite(x[j]))
                return lw_fail("%s %s: tensor %s, row_id %lld: coordinate %d is %g; the file holds a non-finite "
                               "activation (extract refuses them: was it edited?)",
                               option, path, tensor, (long long)t->row_id[i], j, (double)x[j]);
            ss += (double)x[j] * x[j];
        }
        if (ss == 0)
            return lw_fail("%s %s: tensor %s, row_id %lld is all zeros: cosine has no direction to compare", option,
                           path, tensor, (long long)t->row_id[i]);
    }
    return 0;
}

/* The files opened, the bridges loaded and checked, the rows joined; 0 or -1. */
static int open_inputs(const lw_retrieval_files_params *p, run_state *s, int64_t *nq) {
    if (lw_act_open(p->queries, p->query_tensor, &s->A) != 0 || lw_act_open(p->candidates, p->candidate_tensor, &s->B) != 0)
        return -1;
    if ((p->bridge && !(s->br = lw_bridge_load(p->bridge))) || (p->compare && !(s->cmp = lw_bridge_load(p->compare))))
        return -1;
    if (check_rows(&s->A, "--queries", p->queries, p->query_tensor) != 0 ||
        check_rows(&s->B, "--candidates", p->candidates, p->candidate_tensor) != 0)
        return -1;
    if (!s->br && s->A.d != s->B.d)
        return lw_fail("queries have width %d and candidates %d: give a --bridge", s->A.d, s->B.d);
    /* a bridge applies rows of its own width (another reads past the rows), fitted where it is used */
    if ((s->br && check_bridge("", p->bridge, s->br, &s->A, &s->B, p) != 0) ||
        (s->cmp && check_bridge("--compare ", p->compare, s->cmp, &s->A, &s->B, p) != 0))
        return -1;
    *nq = lw_act_join(&s->A, &s->B, &s->ia, &s->ib);
    if (*nq < 0) return -1;
    if (*nq == 0) return lw_fail("%s and %s share no row ids", p->queries, p->candidates);
    return 0;
}

json_t *lw_retrieval_files_run(const lw_retrieval_files_params *p) {
    if (!p || !p->queries || !p->candidates || !p->query_tensor || !p->candidate_tensor) {
        lw_fail("lw_retrieval_files_run: %s", !p ? "params is NULL"
                                              : "params need queries, candidates and their tensors (--queries FILE:TENSOR, "
                                                "--candidates FILE:TENSOR)");
        return NULL;
    }
    lw_retrieval_params rp = lw_retrieval_default_params();
    rp.ndcg_gain = p->ndcg_gain;
    rp.center = p->center;
    if (lw_retrieval_n_metrics(&rp) < 0) return NULL; /* before any file is read */
    lw_la_set_threads(p->threads);
    run_state s;
    memset(&s, 0, sizeof s);
    json_t *root = json_object();
    int64_t nq = 0;
    int rc = root ? open_inputs(p, &s, &nq) : lw_fail("retrieval: out of memory");
    int dim = 0, dim_c;
    if (rc == 0) {
        s.gold = malloc(sizeof(int32_t) * (size_t)nq);
        s.query_row_id = malloc(sizeof(int64_t) * (size_t)nq);
        s.rel_off = malloc(sizeof(int64_t) * (size_t)(nq + 1));
        s.Xq = lw_act_gather(&s.A, s.ia, nq);
        if (!s.gold || !s.query_row_id || !s.rel_off || !s.Xq) rc = lw_fail("retrieval: out of memory");
    }
    for (int64_t q = 0; rc == 0 && q < nq; q++) {
        s.gold[q] = (int32_t)s.ib[q];
        s.query_row_id[q] = s.A.row_id[s.ia[q]];
        s.rel_off[q + 1] = q + 1;
    }
    if (rc == 0) {
        s.rel_off[0] = 0;
        s.Q = lw_bridge_map_rows(s.br, true, s.Xq, nq, s.A.d, &dim);
        s.C = s.Q ? lw_bridge_map_rows(s.br, false, s.B.x, s.B.n, s.B.d, &dim_c) : NULL;
        if (!s.Q || !s.C) rc = -1;
    }
    lw_regime_input rin = {.nq = (int32_t)nq, .gold = s.gold, .query_row_id = s.query_row_id, .nc = (int32_t)s.B.n,
                           .cand_row_id = s.B.row_id, .C = s.C, .dim = dim, .seed = p->seed};
    double mean_cands = 0, mean_ctl = 0;
    const char *regime = p->regime ? p->regime : "bank";
    /* the same regime as its own control is a difference of 0 with p = 1 by construction */
    if (rc == 0 && p->control && !strcmp(p->control, regime))
        rc = lw_fail("retrieval: --control %s is the regime itself: give another regime to compare against",
                     p->control);
    if (rc == 0) rc = lw_candidates_from_spec(regime, &rin, &s.off, &s.ids, &mean_cands);
    /* the library's error names --control, or the file the spec reads */
    if (rc == 0 && p->control)
        rc = lw_candidates_from_option("--control", p->control, &rin, &s.off_ctl, &s.ids_ctl, &mean_ctl);
    lw_retrieval_task task = {.n_queries = (int32_t)nq, .cand_off = s.off, .cand_ids = s.ids, .rel_off = s.rel_off,
                              .rel_ids = s.gold};
    int nm = lw_retrieval_n_metrics(&rp);
    if (rc == 0) {
        s.m1 = malloc(sizeof(double) * (size_t)nq * nm);
        s.m2 = malloc(sizeof(double) * (size_t)nq * nm);
        rc = s.m1 && s.m2 ? lw_retrieval_score(s.Q, s.C, (int32_t)s.B.n, dim, &task, &rp, s.m1)
                          : lw_fail("retrieval: out of memory");
    }
    if (rc == 0) {
        rc = set_part(root, p->bridge ? "bridge" : "raw", lw_retrieval_summarize(s.m1, nq, &rp, p->resamples, p->seed));
        int64_t in_sample = s.br ? queries_in_calibration(s.br, &s.A, s.query_row_id, nq) : -1;
        /* known only when the bridge records its texts and rows and these are those texts */
        if (in_sample >= 0) json_object_set_new(root, "queries_in_bridge_calibration", json_integer(in_sample));
    }
    if (rc == 0 && s.cmp) { /* the regime's candidate ids are row indices, valid for both conditions */
        s.Q2 = lw_bridge_map_rows(s.cmp, true, s.Xq, nq, s.A.d, &dim);
        s.C2 = s.Q2 ? lw_bridge_map_rows(s.cmp, false, s.B.x, s.B.n, s.B.d, &dim_c) : NULL;
        rc = s.Q2 && s.C2 ? lw_retrieval_score(s.Q2, s.C2, (int32_t)s.B.n, dim, &task, &rp, s.m2) : -1;
        if (rc == 0) rc = set_part(root, "compare", lw_retrieval_summarize(s.m2, nq, &rp, p->resamples, p->seed));
        if (rc == 0) rc = set_part(root, "difference", paired_differences(s.m1, s.m2, nq, &rp, p));
    }
    if (rc == 0 && p->control) { /* the control regime: the same queries and vectors, other candidate lists
                                  * (bank: none, the whole bank; it was skipped without a word) */
        lw_retrieval_task ctl = task;
        ctl.cand_off = s.off_ctl;
        ctl.cand_ids = s.ids_ctl;
        rc = lw_retrieval_score(s.Q, s.C, (int32_t)s.B.n, dim, &ctl, &rp, s.m2);
        if (rc == 0) rc = set_part(root, "control", lw_retrieval_summarize(s.m2, nq, &rp, p->resamples, p->seed));
        if (rc == 0) {
            json_object_set_new(root, "control_regime", json_string(p->control));
            json_object_set_new(root, "control_mean_candidates_per_query", json_real(mean_ctl));
            rc = set_part(root, "difference", paired_differences(s.m1, s.m2, nq, &rp, p));
        }
    }
    if (rc == 0) {
        json_t *bare = json_array(); /* what the bridge checks could not see */
        if ((s.br || s.cmp) && !s.A.meta) json_array_append_new(bare, json_string(p->queries));
        if ((s.br || s.cmp) && !s.B.meta) json_array_append_new(bare, json_string(p->candidates));
        json_object_set_new(root, "unchecked_files", bare);
        json_object_set_new(root, "regime", json_string(regime));
        json_object_set_new(root, "n_queries", json_integer(nq));
        /* query rows without a candidate of their row id have no target: not scored, counted */
        json_object_set_new(root, "n_query_rows_without_target", json_integer(s.A.n - nq));
        json_object_set_new(root, "n_candidates", json_integer(s.B.n));
        json_object_set_new(root, "mean_candidates_per_query", json_real(mean_cands));
        json_object_set_new(root, "ndcg_gain", json_string(p->ndcg_gain == LW_NDCG_GAIN_EXP ? "exp" : "linear"));
        json_object_set_new(root, "center", json_boolean(p->center));
        json_object_set_new(root, "resamples", json_integer(p->resamples));
        json_object_set_new(root, "seed", json_integer((json_int_t)p->seed));
    }
    run_free(&s);
    if (rc != 0) {
        json_decref(root);
        return NULL;
    }
    return root;
}
