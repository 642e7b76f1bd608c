/* Internal to the probe panel (src/panel/probe_*.c): the run's context, the sentence sets and the
 * helpers every probe uses. */
#ifndef LW_PANEL_PROBE_INTERNAL_H
#define LW_PANEL_PROBE_INTERNAL_H

#include <stdint.h>

#include <jansson.h>

#include "latentwire/probes.h"
#include "panel/probe_records.h"

/* Every text embedded so far on a side, with its vector: the probes share sentences (the
 * grammar, the natural set), so a model runs each text once. */
typedef struct {
    char **text;
    float *vec;
    int n, cap;
} lw_probe_memo;

typedef struct {
    const lw_probe_pair *pair;
    const lw_probe_params *p;
    const lw_bridge *inverse;   /* given or fitted */
    lw_bridge *owned_inverse;
    lw_probe_result *out;
    char **calib;               /* the texts a bridge was fitted on here (never evaluated) */
    int n_calib;
    lw_probe_memo memo[2];      /* per side */
    lw_probe_records rec;       /* resumable embeddings (p->records_path) */
    int n_calls;                /* embedding calls made so far (those with a text new to the memo) */
} lw_probe_ctx;

/* The parameters as probes.json records them ("params"; probe_io.c), a new object. */
json_t *lw_probe_params_json(const lw_probe_params *p);

/* ---- sentence sets (probe_data.c); strings owned by the set ---- */
#define LW_PROBE_N_ATTR 4
#define LW_PROBE_N_VALUES 5

typedef struct {
    char **text;
    int n;
    int (*attr)[LW_PROBE_N_ATTR]; /* grammar sets: each sentence's attribute values; else NULL */
} lw_probe_texts;

void lw_probe_texts_free(lw_probe_texts *t);
/* n distinct combinations of the grammar (subject x colour x object x place, 5 values each),
 * drawn by a seeded shuffle of the 625; sentence "The girl put the red box in the kitchen." */
int lw_probe_grammar(int n, uint64_t seed, lw_probe_texts *out);
/* The role-binding set: "The girl gave the box to the teacher." for every ordered pair of two
 * different people (the grammar's 5 subjects) and every object (its 5): 100 sentences, attr[i] =
 * {giver, object, receiver, 0}; each sentence's role swap (receiver and giver exchanged, the same
 * words) is in the set. */
int lw_probe_roles_texts(lw_probe_texts *out);
/* The sentence of one combination (buf of at least 160 bytes). */
void lw_probe_grammar_sentence(const int attr[LW_PROBE_N_ATTR], char *buf, size_t n);
/* The words of s in a seeded order that differs from the original (s has at least 2 distinct
 * words), the final period kept at the end. */
int lw_probe_shuffle_words(const char *s, uint64_t seed, char *buf, size_t n);
/* MRPC sentences of file ("train" or "test"): every usable sentence (6 to 40 words, ASCII)
 * once, in file order, n of them after a seeded shuffle (n <= 0: all); more than the file has is
 * refused, naming how many it has. */
int lw_probe_mrpc_sentences(const char *dir, const char *file, int n, uint64_t seed, lw_probe_texts *out);
/* MRPC non-paraphrase pairs (quality 0) of the test file whose word Jaccard is >= min_jaccard:
 * texts 2i and 2i + 1 are a pair; at most n pairs after a seeded shuffle. */
int lw_probe_mrpc_confusers(const char *dir, int n, double min_jaccard, uint64_t seed, lw_probe_texts *out);
/* Symbolic sets of n items each: negation (2i affirmative, 2i + 1 negated), aggregation (3i "P",
 * 3i + 1 "Q", 3i + 2 "P and Q"), quantification (n templates x 4 quantifiers, then n templates x
 * 4 nouns: text[4 t + k] quantifier k of template t, text[4 n + 4 t + k] noun k). */
int lw_probe_negation_set(int n, uint64_t seed, lw_probe_texts *out);
int lw_probe_aggregation_set(int n, uint64_t seed, lw_probe_texts *out);
int lw_probe_quantifier_set(int n, uint64_t seed, lw_probe_texts *out);

/* ---- context helpers (probe_context.c) ---- */
/* The natural sentences chaining and noise evaluate: n_natural MRPC test-file sentences, none of
 * them a calibration text. */
int lw_probe_natural(lw_probe_ctx *c, lw_probe_texts *out);
/* Vectors of texts on a side (malloc'd n x width, *out). */
int lw_probe_embed(lw_probe_ctx *c, int side, const lw_probe_texts *t, float **out);
/* Rows through a bridge's source map (malloc'd n x out_dim). */
float *lw_probe_map(const lw_bridge *b, const float *X, int n);
double lw_probe_cosine(const float *a, const float *b, int d);
/* Adds one statistic: the interval of v[0..n) (lw_ci_mean), its records under condition/metric
 * with item ids items[i] (NULL: "i<index>"). */
int lw_probe_stat_mean(lw_probe_ctx *c, const char *probe, const char *name, const char *condition,
                       const char *metric, const double *v, int n, const char *const *items, const char *note);
/* The same for items that are not independent: cluster[i] is the index of the item that names
 * item i's cluster (a sentence and its role swap: the first of the two); the interval is
 * lw_ci_mean_clustered's and each record names its cluster (items[cluster[i]]). */
int lw_probe_stat_mean_clustered(lw_probe_ctx *c, const char *probe, const char *name, const char *condition,
                                 const char *metric, const double *v, int n, const char *const *items,
                                 const int *cluster, const char *note);
/* Adds a paired difference a - b (lw_ci_paired), no records (each side's come from its own
 * lw_probe_stat_mean, on the same item ids, so a plan compares them). */
int lw_probe_stat_paired(lw_probe_ctx *c, const char *probe, const char *name, const char *cond_a,
                         const char *cond_b, const char *metric, const double *a, const double *b, int n,
                         const char *note);
/* One side of a paired comparison: its statistic's name, its records' condition, the values
 * (one per item) and what it measures. */
typedef struct {
    const char *name, *condition;
    const double *v;
    const char *note;
} lw_probe_side;
/* The common shape of a controlled probe: each side's mean (lw_probe_stat_mean, with records on
 * the same items) and then the paired difference a - b named diff_name (lw_probe_stat_paired). */
int lw_probe_stat_compare(lw_probe_ctx *c, const char *probe, const char *metric, lw_probe_side a, lw_probe_side b,
                          int n, const char *const *items, const char *diff_name, const char *diff_note);
/* The same with clusters (lw_probe_stat_mean_clustered; the difference by lw_ci_paired_clustered). */
int lw_probe_stat_compare_clustered(lw_probe_ctx *c, const char *probe, const char *metric, lw_probe_side a,
                                    lw_probe_side b, int n, const char *const *items, const int *cluster,
                                    const char *diff_name, const char *diff_note);
/* Adds a statistic whose interval was computed by the caller (no records). */
int lw_probe_stat_ci(lw_probe_ctx *c, const char *probe, const char *name, const lw_ci *ci, const char *note);
/* One per-item record; cluster NULL for an independent item. */
int lw_probe_record(lw_probe_ctx *c, const char *condition, const char *item, const char *metric, double value,
                    const char *cluster);
void lw_probe_progress(lw_probe_ctx *c, const char *what);

/* ---- the probes ---- */
int lw_probe_compositionality(lw_probe_ctx *c);
/* Role binding (part of compositionality, probe_roles.c): swaps of giver and receiver. */
int lw_probe_roles(lw_probe_ctx *c);
/* Top-1 of the test rows of X mapped by a probe bridge fitted on the `fit` rows (ridge, the
 * bridge defaults), each among every row of Y (n of them); hit[q] for test[q]. */
int lw_probe_heldout_hits(lw_probe_ctx *c, const float *X, const float *Y, int n, const int *fit, int n_fit,
                          const int *test, int n_test, double *hit);
int lw_probe_chaining(lw_probe_ctx *c);
int lw_probe_robustness(lw_probe_ctx *c);
int lw_probe_symbolic(lw_probe_ctx *c);
/* Spearman rho over the sentence pairs of (meaning distance, cosine distance) with its
 * bootstrap interval over sentences (probe_stats.c). X: n x d vectors, attr: n combinations. */
int lw_probe_topsim(const float *X, int n, int d, const int (*attr)[LW_PROBE_N_ATTR], int resamples,
                    uint64_t seed, lw_ci *out);

#endif
