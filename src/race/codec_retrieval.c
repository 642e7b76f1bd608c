/* The codec retrieval test: does a codec's decoded item still pick out its own passage among the
 * originals, by cosine? One row per codec and budget: top-1 with its exact interval, the bits,
 * and PASS when the lower bound reaches the pre-registered threshold. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/rng.h"
#include "common/strmap.h"
#include "eval/ci_json.h"
#include "race/race_internal.h"
#include "latentwire/records.h"
#include "latentwire/retrieval.h"

lw_codec_retrieval_params lw_codec_retrieval_default_params(void) {
    lw_codec_retrieval_params p;
    memset(&p, 0, sizeof p);
    p.layer = -1000000; /* the middle layer */
    p.threshold = 0.85;
    p.level = 0.95;
    p.seed = 1;
    p.memo_bytes = (int64_t)1 << 30;
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

/* The activations of the texts already run through the model, by text. A lossless codec's
 * decoded text is its passage, and so is truncation at a budget past a passage's length: most
 * decoded texts repeat across codecs and budgets, and the model maps one text to one
 * activation, so each distinct text goes through the model once. Row i is texts[i]'s. */
typedef struct {
    lw_strmap map;
    char **texts; /* owned; the map's keys */
    float *acts;
    bool *ok;
    int n, cap, d;
} act_memo;

static void memo_free(act_memo *m) {
    for (int i = 0; i < m->n; i++) free(m->texts[i]);
    free(m->texts), free(m->acts), free(m->ok);
    lw_strmap_free(&m->map);
    memset(m, 0, sizeof *m);
}

/* The row of text, added (its activation not yet computed) when new; -1 on out of memory. */
static int memo_row(act_memo *m, const char *text) {
    int32_t i = lw_strmap_get(&m->map, text);
    if (i >= 0) return i;
    if (m->n == m->cap) {
        int cap = m->cap ? 2 * m->cap : 1024;
        char **t = realloc(m->texts, sizeof *t * (size_t)cap);
        if (t) m->texts = t;
        float *a = t ? realloc(m->acts, sizeof *a * (size_t)cap * (size_t)m->d) : NULL;
        if (a) m->acts = a;
        bool *ok = a ? realloc(m->ok, sizeof *ok * (size_t)cap) : NULL;
        if (!ok) return lw_fail("codec retrieval: out of memory");
        m->ok = ok;
        m->cap = cap;
    }
    if (!(m->texts[m->n] = strdup(text)) || lw_strmap_put(&m->map, m->texts[m->n], m->n) == -1) {
        free(m->texts[m->n]);
        return lw_fail("codec retrieval: out of memory");
    }
    return m->n++;
}

/* Keeps the memo within cap bytes of activations before n_more texts are added: past it,
 * every text after the first n_keep (the scored passages, which lossless codecs decode to at
 * every budget) is dropped. A lossy decoding rarely recurs beyond its own row, so this loses
 * little reuse; without a bound a large corpus at many budgets would hold every decoding. */
static int memo_trim(act_memo *m, int n_keep, int64_t n_more, int64_t cap) {
    if (((int64_t)m->n + n_more) * m->d * (int64_t)sizeof(float) <= cap || m->n <= n_keep) return 0;
    for (int i = n_keep; i < m->n; i++) free(m->texts[i]);
    m->n = n_keep;
    lw_strmap_free(&m->map);
    for (int i = 0; i < n_keep; i++)
        if (lw_strmap_put(&m->map, m->texts[i], i) == -1) return lw_fail("codec retrieval: out of memory");
    return 0;
}

typedef struct {
    lw_session *s;
    int layer, d;
    const char **scored, **calib;
    int n, n_calib;
    float *bank, *calib_acts, *Q;
    bool *usable;
    act_memo memo;
    const lw_codec_retrieval_params *p;
} rt;

static int pooled(rt *t, const char *const *texts, int n, float *out, bool *ok) {
    float *outs[1] = {out};
    return lw_extract_pooled(t->s, texts, n, true, true, &t->layer, 1, LW_POOL_MEAN, outs, ok);
}

/* The activations of texts[0..n) (none blank) into Q's rows at[0..n) and their usability,
 * each distinct text through the model once per run. */
static int memo_activations(rt *t, char *const *texts, const int *at, int n) {
    act_memo *m = &t->memo;
    if (memo_trim(m, t->n, n, t->p->memo_bytes) != 0) return -1;
    int first_new = m->n;
    int *row = malloc(sizeof *row * (size_t)(n ? n : 1));
    if (!row) return lw_fail("codec retrieval: out of memory");
    int rc = 0;
    for (int j = 0; rc == 0 && j < n; j++)
        if ((row[j] = memo_row(m, texts[j])) < 0) rc = -1;
    /* the new texts are the rows appended just now, contiguous */
    if (rc == 0 && m->n > first_new && /* on failure the run ends: the memo's half is never read */
        pooled(t, (const char *const *)m->texts + first_new, m->n - first_new, m->acts + (size_t)first_new * t->d,
               m->ok + first_new) != 0)
        rc = -1;
    for (int j = 0; rc == 0 && j < n; j++) {
        memcpy(t->Q + (size_t)at[j] * t->d, m->acts + (size_t)row[j] * t->d, sizeof(float) * (size_t)t->d);
        t->usable[at[j]] = m->ok[row[j]];
    }
    free(row);
    return rc;
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
        char **nonempty = malloc(sizeof *nonempty * (size_t)t->n);
        int *at = malloc(sizeof *at * (size_t)t->n), m = 0;
        if (!nonempty || !at) rc = lw_fail("codec retrieval: out of memory");
        for (int i = 0; rc == 0 && i < t->n; i++) {
            bool blank = true;
            for (const char *s = dec[i]; s && *s && blank; s++) blank = *s == ' ' || *s == '\t' || *s == '\n';
            t->usable[i] = !blank;
            if (!blank) nonempty[m] = dec[i], at[m++] = i;
        }
        if (rc == 0) rc = memo_activations(t, nonempty, at, m);
        free(nonempty), free(at);
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

/* ---- records: each finished row appended, so a long run resumes where it stopped ---- */

static const char *const ROW_KEY[] = {"codec", "budget_bits"};

/* The run's fingerprint: the caller's settings and every setting of the test that changes a row,
 * with the sha256 of the drawn passages (scored, then calibration). */
static json_t *run_settings(const rt *t, const lw_codec_retrieval_params *p) {
    json_t *s = p->settings_json ? json_loads(p->settings_json, 0, NULL) : json_object();
    if (!json_is_object(s)) {
        json_decref(s);
        lw_fail("codec retrieval: the settings are not a JSON object");
        return NULL;
    }
    lw_sha256 *h = lw_sha256_begin();
    char hex[65] = "";
    for (int i = 0; h && i < t->n + t->n_calib; i++) {
        const char *x = i < t->n ? t->scored[i] : t->calib[i - t->n];
        lw_sha256_update(h, x, strlen(x) + 1);
    }
    if (!h || lw_sha256_end(h, hex) != 0) {
        json_decref(s);
        lw_fail("codec retrieval: cannot hash the passages");
        return NULL;
    }
    json_object_update_new(s, /* flat, so that a refused resume names the very setting */
                        json_pack("{s:i, s:i, s:i, s:I, s:f, s:f, s:s}", "layer", t->layer, "passages", t->n,
                                  "calibration", t->n_calib, "seed", (json_int_t)p->seed, "threshold", p->threshold,
                                  "level", p->level, "passages_sha256", hex));
    return s;
}

/* What makes a kept row unusable (NULL: nothing): an applicable row's top-1 must be an interval
 * of numbers in [0, 1] over the n scored passages, its verdict the one its lower bound gives at
 * this run's threshold (a stored "pass" was shown as PASS whatever the interval said), and its bits
 * what a run can measure (a payload within the budget, side information >= 0). */
static const char *kept_row_problem(json_t *row, int n, double threshold, double level) {
    if (!json_is_boolean(json_object_get(row, "applicable"))) return "no \"applicable\"";
    /* the derived fields as one_row writes them (a row kept as edited entered retrieval.json) */
    const char *codec = json_string_value(json_object_get(row, "codec")), *family = json_string_value(json_object_get(row, "family"));
    int kind = codec ? lw_codec_from_name(codec) : -1;
    if (kind < 0) return "a codec that is not one";
    if (!family || strcmp(family, lw_codec_kind_is_text((lw_codec_kind)kind) ? "text" : "activation"))
        return "a family that is not its codec's";
    if (!json_is_true(json_object_get(row, "applicable")))
        return json_object_get(row, "top1") ? "a top-1 on a row that is not applicable" : NULL;
    json_t *top1 = json_object_get(row, "top1");
    if (!json_is_object(top1)) return "no top-1";
    const char *key[3] = {"mean", "lo", "hi"};
    double v[3];
    for (int k = 0; k < 3; k++) {
        json_t *x = json_object_get(top1, key[k]);
        if (!json_is_number(x)) return "a top-1 without mean, lo and hi";
        v[k] = json_number_value(x);
        if (!(v[k] >= 0 && v[k] <= 1)) return "a top-1 out of [0, 1]";
    }
    if (!(v[1] <= v[0] && v[0] <= v[2])) return "a top-1 interval that does not hold its mean";
    if (json_integer_value(json_object_get(top1, "n")) != n) return "a top-1 over another number of passages";
    /* top-1 is a count of the n passages with its exact interval: recomputed from the count */
    const double count = v[0] * n;
    const int hits = (int)lround(count);
    lw_ci ci;
    if (fabs(count - hits) > 1e-6 || lw_ci_binomial(hits, n, level, &ci) != 0 || fabs(ci.mean - v[0]) > 1e-12)
        return "a top-1 mean that is not a whole count of the passages";
    if (fabs(ci.lo - v[1]) > 1e-12 || fabs(ci.hi - v[2]) > 1e-12)
        return "a top-1 interval that is not the exact one of its count";
    const char *method = json_string_value(json_object_get(top1, "method"));
    if (!method || !ci.method || strcmp(method, ci.method)) return "a top-1 method that is not the run's";
    json_t *unusable = json_object_get(row, "unusable");
    if (!json_is_integer(unusable) || json_integer_value(unusable) < 0 || json_integer_value(unusable) > n - hits)
        return "an unusable count that is not a whole number from 0 to the passages missed";
    json_t *pass = json_object_get(row, "pass"), *thr = json_object_get(row, "threshold");
    if (!json_is_number(thr) || json_number_value(thr) != threshold) return "another threshold";
    if (!json_is_boolean(pass) || json_is_true(pass) != (v[1] >= threshold)) return "a pass that its interval does not give";
    json_t *mean = json_object_get(row, "payload_bits_mean"), *max = json_object_get(row, "payload_bits_max");
    json_t *side = json_object_get(row, "side_bits");
    const double budget = (double)json_integer_value(json_object_get(row, "budget_bits"));
    if (!json_is_number(mean) || !json_is_integer(max) || !(json_number_value(mean) >= 0) ||
        json_number_value(mean) > json_integer_value(max) || (double)json_integer_value(max) > budget)
        return "payload bits that are not within the budget";
    if (!json_is_integer(side) || json_integer_value(side) < 0) return "side bits that are not a whole number >= 0";
    /* the row is looked up by its budget_bits: one relabelled to another budget would be used for it */
    json_t *fit_budget = json_object_get(json_object_get(json_object_get(row, "fit"), "params"), "budget_bits");
    if (!json_is_integer(fit_budget) || (double)json_integer_value(fit_budget) != budget)
        return "a codec fitted at another budget than its budget_bits";
    json_t *per_item = json_object_get(row, "side_bits_per_item");
    if (!json_is_number(per_item) || json_number_value(per_item) != (double)json_integer_value(side) / n)
        return "side_bits_per_item that is not side_bits / passages";
    return NULL;
}

/* Loads the rows of an earlier run with these settings (when resuming) and opens the records
 * for appending. 0 or -1. */
static int open_records(const rt *t, const lw_codec_retrieval_params *p, lw_records *past, FILE **f) {
    json_t *settings = run_settings(t, p);
    if (!settings) return -1;
    int rc = p->resume ? lw_records_load(past, p->records_path, settings, ROW_KEY, 2, "applicable", "--resume", NULL) : 0;
    for (int i = 0; rc == 0 && i < past->n; i++) { /* a row's numbers enter the result as they are */
        const char *why = kept_row_problem(past->rec[i], t->n, p->threshold, p->level);
        if (why) /* record i is line i + 2, after the settings line */
            rc = lw_fail("--resume: %s:%d: the row of %s at %lld bits has %s; run without --resume to start over",
                         p->records_path, i + 2, json_string_value(json_object_get(past->rec[i], "codec")),
                         (long long)json_integer_value(json_object_get(past->rec[i], "budget_bits")), why);
    }
    if (rc == 0 && !(*f = lw_records_open(p->records_path, settings, past))) rc = -1;
    json_decref(settings);
    return rc;
}

/* The row of (codec, budget) kept from an earlier run, a new reference, or NULL. */
static json_t *past_row(const lw_records *past, lw_codec_kind kind, int64_t budget) {
    if (!past->n) return NULL;
    json_t *probe = json_pack("{s:s, s:I}", "codec", lw_codec_name(kind), "budget_bits", (json_int_t)budget);
    char *key = lw_records_key(probe, ROW_KEY, 2);
    json_decref(probe);
    json_t *row = key ? lw_records_find(past, key) : NULL;
    free(key);
    return row ? json_incref(row) : NULL;
}

int lw_codec_retrieval(lw_session *session, const char *const *texts, int n_texts, int n_scored, int n_calib,
                       const lw_codec_kind *codecs, int n_codecs, const int64_t *budgets, int n_budgets,
                       const lw_codec_retrieval_params *p, char **result_json) {
    if (!result_json) return lw_fail("codec retrieval: result_json is NULL");
    *result_json = NULL;
    lw_codec_retrieval_params def = lw_codec_retrieval_default_params();
    if (!p) p = &def;
    /* a binding's arrays and counts: NULL arrays, a negative count and a NULL text were read */
    if (!session) return lw_fail("codec retrieval: the session is NULL");
    if (n_texts < 0 || (n_texts > 0 && !texts)) return lw_fail("codec retrieval: %d texts and texts %s", n_texts, texts ? "given" : "NULL");
    for (int i = 0; i < n_texts; i++)
        if (!texts[i]) return lw_fail("codec retrieval: text %d is NULL", i);
    if (n_codecs < 1 || !codecs) return lw_fail("codec retrieval: no codecs (%d, codecs %s)", n_codecs, codecs ? "given" : "NULL");
    if (n_budgets < 1 || !budgets) return lw_fail("codec retrieval: no budgets (%d, budgets %s)", n_budgets, budgets ? "given" : "NULL");
    /* one row per (codec, budget): a repeated one was computed twice and listed twice (and its
     * records share one key) */
    for (int a = 0; a < n_codecs; a++)
        for (int b = 0; b < a; b++)
            if (codecs[a] == codecs[b]) return lw_fail("codec retrieval: codec %s is listed twice", lw_codec_name(codecs[a]));
    for (int a = 0; a < n_budgets; a++)
        for (int b = 0; b < a; b++)
            if (budgets[a] == budgets[b]) return lw_fail("codec retrieval: budget %lld bits is listed twice", (long long)budgets[a]);
    /* refused after every forward pass otherwise, at the first interval */
    if (!(p->level > 0 && p->level < 1)) return lw_fail("codec retrieval: level %g is not in (0, 1)", p->level);
    if (p->memo_bytes < 0) return lw_fail("codec retrieval: memo_bytes %lld is negative (0: keep only the passages')", (long long)p->memo_bytes);
    if (n_scored < 2 || n_calib < 1) /* one passage in the bank is retrieved whatever the decoding */
        return lw_fail("codec retrieval: %d passages scored and %d for calibration: need at least 2 scored and 1 for "
                       "calibration", n_scored,
                       n_calib);
    for (int b = 0; b < n_budgets; b++)
        if (budgets[b] <= 0)
            return lw_fail("codec retrieval: budget %lld bits: a budget must be a positive number of bits",
                           (long long)budgets[b]);
    for (int c = 0; c < n_codecs; c++)
        if ((unsigned)codecs[c] >= LW_CODEC_COUNT) return lw_fail("codec retrieval: unknown codec kind %d", (int)codecs[c]);
    if (!(p->threshold > 0 && p->threshold <= 1)) /* 0 passes every row */
        return lw_fail("codec retrieval: threshold %g is not in (0, 1]", p->threshold);
    lw_model_info info;
    lw_model_get_info(lw_session_model(session), &info);
    int layer = p->layer == -1000000 ? lw_layer_middle(info.n_layer) : lw_layer_index(p->layer, info.n_layer);
    if (layer < 0) return lw_fail("codec retrieval: layer %d: the model has %d layers", p->layer, info.n_layer);
    rt t = {.s = session, .layer = layer, .d = info.n_embd, .n = n_scored, .n_calib = n_calib, .p = p};
    if (draw_texts(texts, n_texts, n_scored, n_calib, p->seed, &t.scored, &t.calib) != 0) return -1;
    t.bank = malloc(sizeof(float) * (size_t)n_scored * t.d);
    t.Q = malloc(sizeof(float) * (size_t)n_scored * t.d);
    t.calib_acts = malloc(sizeof(float) * (size_t)n_calib * t.d);
    t.usable = malloc(sizeof(bool) * (size_t)n_scored);
    json_t *rows = json_array();
    int rc = t.bank && t.Q && t.calib_acts && t.usable ? 0 : lw_fail("codec retrieval: out of memory");
    lw_records past = {0};
    FILE *rec = NULL; /* opened before any forward pass: a refused --resume costs nothing */
    if (rc == 0 && p->records_path) rc = open_records(&t, p, &past, &rec);
    if (rc == 0 && (pooled(&t, t.scored, n_scored, t.bank, NULL) != 0 ||
                    pooled(&t, t.calib, n_calib, t.calib_acts, NULL) != 0))
        rc = -1;
    t.memo.d = t.d; /* a passage decoded exactly has the bank's activation */
    for (int i = 0; rc == 0 && i < n_scored; i++) {
        int r = memo_row(&t.memo, t.scored[i]);
        if (r < 0) rc = -1;
        else memcpy(t.memo.acts + (size_t)r * t.d, t.bank + (size_t)i * t.d, sizeof(float) * (size_t)t.d), t.memo.ok[r] = true;
    }
    int done = 0, total = n_codecs * n_budgets;
    for (int c = 0; rc == 0 && c < n_codecs; c++)
        for (int b = 0; rc == 0 && b < n_budgets; b++) {
            json_t *row = past_row(&past, codecs[c], budgets[b]);
            if (!row && (row = one_row(&t, codecs[c], budgets[b])) && rec && lw_records_write(rec, row) != 0)
                rc = lw_fail("cannot append to %s: %s", p->records_path, strerror(errno));
            if (!row) rc = lw_fail_prefix("codec %s at %lld bits: ", lw_codec_name(codecs[c]), (long long)budgets[b]);
            else json_array_append_new(rows, row);
            if (p->on_progress) p->on_progress(p->progress_ctx, lw_codec_name(codecs[c]), ++done, total);
        }
    if (rec && fclose(rec) != 0 && rc == 0) rc = lw_fail("cannot write %s: %s", p->records_path, strerror(errno));
    lw_records_free(&past);
    memo_free(&t.memo);
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
    if (!result_json) return lw_fail("lw_codec_retrieval_csv: result_json is NULL"), NULL;
    json_t *r = json_loads(result_json, 0, NULL), *rows = json_object_get(r, "rows"), *row;
    size_t cap = 128 + 160 * json_array_size(rows), i;
    if (!json_is_array(rows)) {
        json_decref(r);
        return lw_fail("lw_codec_retrieval_csv: not a codec retrieval result (no \"rows\" array)"), NULL;
    }
    json_array_foreach(rows, i, row) { /* every field the CSV prints, of its type; long names widen the buffer */
        json_t *t = json_object_get(row, "top1"), *ap = json_object_get(row, "applicable");
        bool ok = json_is_object(row) && json_is_boolean(ap);
        if (ok && json_is_true(ap))
            ok = json_is_string(json_object_get(row, "codec")) && json_is_string(json_object_get(row, "family")) &&
                 json_is_integer(json_object_get(row, "budget_bits")) &&
                 json_is_number(json_object_get(row, "payload_bits_mean")) &&
                 json_is_integer(json_object_get(row, "side_bits")) && json_is_number(json_object_get(t, "mean")) &&
                 json_is_number(json_object_get(t, "lo")) && json_is_number(json_object_get(t, "hi")) &&
                 json_is_integer(json_object_get(t, "n"));
        if (!ok) {
            json_decref(r);
            return lw_fail("lw_codec_retrieval_csv: row %zu is not a codec retrieval row (a field is missing or of "
                           "another type)", i),
                   NULL;
        }
        if (json_is_true(ap))
            cap += json_string_length(json_object_get(row, "codec")) + json_string_length(json_object_get(row, "family")) +
                   4 * 320; /* "%.6f" of a double near 1e308 is 316 characters */
    }
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
