/* The codec retrieval test: does a codec's decoded item still pick out its own passage among the
 * originals, by cosine? One row per codec and budget: top-1 with its exact interval, the bits,
 * and PASS when the lower bound reaches the pre-registered threshold. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/error.h"
#include "common/rng.h"
#include "eval/ci_json.h"
#include "race/race_internal.h"
#include "latentwire/retrieval.h"

lw_codec_retrieval_params lw_codec_retrieval_default_params(void) {
    lw_codec_retrieval_params p;
    memset(&p, 0, sizeof p);
    p.layer = -1000000; /* the middle layer */
    p.threshold = 0.85;
    p.level = 0.95;
    p.seed = 1;
    return p;
}

static bool usable_row(const float *r, int d) {
    double s = 0;
    for (int j = 0; j < d; j++) s += (double)r[j] * r[j];
    return isfinite(s) && s > 0;
}

json_t *lw_race_retrieval_row(const float *bank, int n, int d, const float *Q, const bool *usable, double threshold,
                              double level) {
    int m = 0;
    for (int i = 0; i < n; i++) m += usable[i] && usable_row(Q + (size_t)i * d, d);
    float *q = malloc(sizeof(float) * (size_t)(m ? m : 1) * (size_t)d);
    int32_t *rel = malloc(sizeof(int32_t) * (size_t)(m ? m : 1));
    int64_t *off = malloc(sizeof(int64_t) * (size_t)(m + 1));
    lw_retrieval_params rp = lw_retrieval_default_params();
    int nm = lw_retrieval_n_metrics(&rp);
    double *met = malloc(sizeof(double) * (size_t)(m ? m : 1) * (size_t)nm);
    json_t *row = NULL;
    if (!q || !rel || !off || !met) {
        lw_fail("codec retrieval: out of memory");
        goto done;
    }
    int k = 0;
    off[0] = 0;
    for (int i = 0; i < n; i++) {
        if (!(usable[i] && usable_row(Q + (size_t)i * d, d))) continue;
        memcpy(q + (size_t)k * d, Q + (size_t)i * d, sizeof(float) * (size_t)d);
        rel[k] = i;
        off[k + 1] = k + 1;
        k++;
    }
    int hits = 0;
    if (m > 0) {
        lw_retrieval_task t = {.n_queries = m, .rel_off = off, .rel_ids = rel};
        if (lw_retrieval_score(q, bank, n, d, &t, &rp, met) != 0) goto done;
        for (int j = 0; j < m; j++) hits += met[(size_t)j * nm] == 1.0; /* column 0: top-1 */
    }
    lw_ci ci;
    if (lw_ci_binomial(hits, n, level, &ci) != 0) goto done; /* every passage counts: an unusable one is a miss */
    row = json_pack("{s:o, s:b, s:i, s:f}", "top1", lw_ci_json(&ci), "pass", ci.lo >= threshold, "unusable", n - m,
                    "threshold", threshold);
done:
    free(q), free(rel), free(off), free(met);
    return row;
}

/* The distinct texts in a seeded order: the first n_scored, then n_calib more. */
static int draw_texts(const char *const *texts, int n_texts, int n_scored, int n_calib, uint64_t seed,
                      const char ***scored, const char ***calib) {
    int32_t *order = malloc(sizeof *order * (size_t)(n_texts ? n_texts : 1));
    const char **keep = malloc(sizeof *keep * (size_t)(n_texts ? n_texts : 1));
    if (!order || !keep) {
        free(order), free(keep);
        return lw_fail("codec retrieval: out of memory");
    }
    for (int i = 0; i < n_texts; i++) order[i] = i;
    lw_rng r;
    lw_rng_seed(&r, seed);
    lw_rng_shuffle_i32(&r, order, n_texts);
    int k = 0;
    for (int o = 0; o < n_texts && k < n_scored + n_calib; o++) {
        const char *t = texts[order[o]];
        bool seen = false;
        for (int j = 0; j < k && !seen; j++) seen = !strcmp(keep[j], t);
        if (!seen) keep[k++] = t;
    }
    free(order);
    if (k < n_scored + n_calib) {
        free(keep);
        return lw_fail("codec retrieval: %d distinct passages, need %d scored + %d for calibration: use a larger file "
                       "or smaller counts", k, n_scored, n_calib);
    }
    *scored = keep;
    *calib = keep + n_scored;
    return 0;
}

typedef struct {
    lw_session *s;
    int layer, d;
    const char **scored, **calib;
    int n, n_calib;
    float *bank, *calib_acts, *Q;
    bool *usable;
    const lw_codec_retrieval_params *p;
} rt;

static int pooled(rt *t, const char *const *texts, int n, float *out, bool *ok) {
    float *outs[1] = {out};
    return lw_extract_pooled(t->s, texts, n, true, true, &t->layer, 1, LW_POOL_MEAN, outs, ok);
}

/* Decoded items of one codec at one budget into t->Q / t->usable; the bits into *row. */
static int decode_all(rt *t, lw_codec *c, json_t *row) {
    bool text = lw_codec_kind_is_text(lw_codec_kind_of(c));
    int64_t sum = 0, max = 0;
    char **dec = text ? calloc((size_t)t->n, sizeof *dec) : NULL;
    int rc = text && !dec ? lw_fail("codec retrieval: out of memory") : 0;
    for (int i = 0; rc == 0 && i < t->n; i++) {
        lw_payload pl;
        rc = text ? lw_codec_encode_text(c, t->scored[i], &pl) : lw_codec_encode_act(c, t->bank + (size_t)i * t->d, &pl);
        if (rc != 0) break;
        sum += 8 * (int64_t)pl.n;
        if (8 * (int64_t)pl.n > max) max = 8 * (int64_t)pl.n;
        rc = text ? lw_codec_decode_text(c, pl.bytes, pl.n, &dec[i]) : lw_codec_decode_act(c, pl.bytes, pl.n, t->Q + (size_t)i * t->d);
        free(pl.bytes);
        t->usable[i] = true;
    }
    if (rc == 0 && text) { /* the decoded texts through the same model; an empty one has no activation */
        const char **nonempty = malloc(sizeof *nonempty * (size_t)t->n);
        int *at = malloc(sizeof *at * (size_t)t->n), m = 0;
        bool *ok = malloc(sizeof *ok * (size_t)t->n);
        float *acts = malloc(sizeof(float) * (size_t)t->n * (size_t)t->d);
        if (!nonempty || !at || !ok || !acts) rc = lw_fail("codec retrieval: out of memory");
        for (int i = 0; rc == 0 && i < t->n; i++) {
            bool blank = true;
            for (const char *s = dec[i]; s && *s && blank; s++) blank = *s == ' ' || *s == '\t' || *s == '\n';
            t->usable[i] = !blank;
            if (!blank) nonempty[m] = dec[i], at[m++] = i;
        }
        if (rc == 0 && m > 0 && pooled(t, nonempty, m, acts, ok) != 0) rc = -1;
        for (int j = 0; rc == 0 && j < m; j++) {
            memcpy(t->Q + (size_t)at[j] * t->d, acts + (size_t)j * t->d, sizeof(float) * (size_t)t->d);
            t->usable[at[j]] = ok[j];
        }
        free(nonempty), free(at), free(ok), free(acts);
    }
    for (int i = 0; dec && i < t->n; i++) free(dec[i]);
    free(dec);
    json_object_set_new(row, "payload_bits_mean", json_real(t->n ? (double)sum / t->n : 0));
    json_object_set_new(row, "payload_bits_max", json_integer(max));
    return rc;
}

static json_t *one_row(rt *t, lw_codec_kind kind, int64_t budget) {
    json_t *row = json_pack("{s:s, s:s, s:I}", "codec", lw_codec_name(kind), "family",
                            lw_codec_kind_is_text(kind) ? "text" : "activation", "budget_bits", (json_int_t)budget);
    lw_codec_params cp = lw_codec_default_params(kind);
    cp.budget_bits = budget;
    cp.seed = t->p->seed;
    cp.lm = t->s;
    lw_codec *c = lw_codec_kind_is_text(kind) ? lw_codec_fit_text(&cp, t->calib, t->n_calib)
                                              : lw_codec_fit_act(&cp, t->calib_acts, t->n_calib, t->d);
    if (!c) {
        json_object_set_new(row, "applicable", json_false());
        json_object_set_new(row, "reason", json_string(lw_last_error()));
        return row;
    }
    json_object_set_new(row, "applicable", json_true());
    json_object_set_new(row, "side_bits", json_integer(lw_codec_side_bits(c)));
    json_object_set_new(row, "side_bits_per_item", json_real((double)lw_codec_side_bits(c) / t->n));
    json_t *fit = json_loads(lw_codec_record_json(c), 0, NULL);
    json_object_set_new(row, "fit", fit ? fit : json_object());
    json_t *res = decode_all(t, c, row) == 0
                      ? lw_race_retrieval_row(t->bank, t->n, t->d, t->Q, t->usable, t->p->threshold, t->p->level)
                      : NULL;
    lw_codec_free(c);
    if (!res) {
        json_decref(row);
        return NULL;
    }
    json_object_update(row, res);
    json_decref(res);
    return row;
}

int lw_codec_retrieval(lw_session *session, const char *const *texts, int n_texts, int n_scored, int n_calib,
                       const lw_codec_kind *codecs, int n_codecs, const int64_t *budgets, int n_budgets,
                       const lw_codec_retrieval_params *p, char **result_json) {
    *result_json = NULL;
    lw_codec_retrieval_params def = lw_codec_retrieval_default_params();
    if (!p) p = &def;
    if (n_scored < 1 || n_calib < 1)
        return lw_fail("codec retrieval: %d passages scored and %d for calibration: need at least 1 of each", n_scored,
                       n_calib);
    for (int b = 0; b < n_budgets; b++)
        if (budgets[b] <= 0)
            return lw_fail("codec retrieval: budget %lld bits: a budget must be a positive number of bits",
                           (long long)budgets[b]);
    for (int c = 0; c < n_codecs; c++)
        if ((unsigned)codecs[c] >= LW_CODEC_COUNT) return lw_fail("codec retrieval: unknown codec kind %d", (int)codecs[c]);
    if (!(p->threshold >= 0 && p->threshold <= 1)) return lw_fail("codec retrieval: threshold %g is not in [0, 1]", p->threshold);
    lw_model_info info;
    lw_model_get_info(lw_session_model(session), &info);
    int layer = p->layer == -1000000 ? info.n_layer / 2 : lw_layer_index(p->layer, info.n_layer);
    if (layer < 0) return lw_fail("codec retrieval: layer %d: the model has %d layers", p->layer, info.n_layer);
    rt t = {.s = session, .layer = layer, .d = info.n_embd, .n = n_scored, .n_calib = n_calib, .p = p};
    if (draw_texts(texts, n_texts, n_scored, n_calib, p->seed, &t.scored, &t.calib) != 0) return -1;
    t.bank = malloc(sizeof(float) * (size_t)n_scored * t.d);
    t.Q = malloc(sizeof(float) * (size_t)n_scored * t.d);
    t.calib_acts = malloc(sizeof(float) * (size_t)n_calib * t.d);
    t.usable = malloc(sizeof(bool) * (size_t)n_scored);
    json_t *rows = json_array();
    int rc = t.bank && t.Q && t.calib_acts && t.usable ? 0 : lw_fail("codec retrieval: out of memory");
    if (rc == 0 && (pooled(&t, t.scored, n_scored, t.bank, NULL) != 0 ||
                    pooled(&t, t.calib, n_calib, t.calib_acts, NULL) != 0))
        rc = -1;
    int done = 0, total = n_codecs * n_budgets;
    for (int c = 0; rc == 0 && c < n_codecs; c++)
        for (int b = 0; rc == 0 && b < n_budgets; b++) {
            json_t *row = one_row(&t, codecs[c], budgets[b]);
            if (!row) rc = lw_fail_prefix("codec %s at %lld bits: ", lw_codec_name(codecs[c]), (long long)budgets[b]);
            else json_array_append_new(rows, row);
            if (p->on_progress) p->on_progress(p->progress_ctx, lw_codec_name(codecs[c]), ++done, total);
        }
    if (rc == 0) {
        json_t *root = json_pack(
            "{s:s, s:i, s:i, s:i, s:f, s:f, s:I, s:{s:s, s:s, s:s, s:s}, s:o}", "format",
            "latentwire.codec-retrieval/1", "layer", layer, "passages", n_scored, "calibration", n_calib, "threshold",
            p->threshold, "level", p->level, "seed", (json_int_t)p->seed, "method", "top1",
            "each scored passage's decoded item ranked against the bank of the scored passages' original mean-pooled "
            "activations by cosine (ties: pessimistic); an item with no usable activation is a miss",
            "interval", "exact Clopper-Pearson for the proportion top-1 (the issue says bootstrap: a percentile "
            "bootstrap of 0/1 outcomes collapses at 0 and 1 and undercovers near them)",
            "pass", "pre-registered: a codec passes at a budget when the interval's lower bound >= threshold",
            "calibration", "codecs are fitted on calibration passages disjoint from the scored ones", "rows", rows);
        *result_json = json_dumps(root, JSON_INDENT(1));
        json_decref(root);
        if (!*result_json) rc = lw_fail("codec retrieval: cannot serialize the result");
    } else {
        json_decref(rows);
    }
    free(t.bank), free(t.Q), free(t.calib_acts), free(t.usable);
    free((void *)t.scored);
    return rc;
}

char *lw_codec_retrieval_csv(const char *result_json) {
    json_t *r = json_loads(result_json, 0, NULL), *rows = json_object_get(r, "rows"), *row;
    size_t cap = 128 + 160 * json_array_size(rows), i;
    char *buf = malloc(cap), *w = buf;
    if (!buf) {
        json_decref(r);
        return NULL;
    }
    w += snprintf(w, cap, "codec,family,budget_bits,payload_bits,side_bits,top1,lo,hi,n,pass\n");
    json_array_foreach(rows, i, row) {
        if (!json_is_true(json_object_get(row, "applicable"))) continue;
        json_t *t = json_object_get(row, "top1");
        w += snprintf(w, cap - (size_t)(w - buf), "%s,%s,%lld,%.3f,%lld,%.6f,%.6f,%.6f,%lld,%s\n",
                      json_string_value(json_object_get(row, "codec")), json_string_value(json_object_get(row, "family")),
                      (long long)json_integer_value(json_object_get(row, "budget_bits")),
                      json_number_value(json_object_get(row, "payload_bits_mean")),
                      (long long)json_integer_value(json_object_get(row, "side_bits")),
                      json_number_value(json_object_get(t, "mean")), json_number_value(json_object_get(t, "lo")),
                      json_number_value(json_object_get(t, "hi")), (long long)json_integer_value(json_object_get(t, "n")),
                      json_is_true(json_object_get(row, "pass")) ? "PASS" : "fail");
    }
    json_decref(r);
    return buf;
}
