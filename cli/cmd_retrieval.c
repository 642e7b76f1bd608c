/* latentwire retrieval: score a bridge (or raw activations) as a retriever, with CIs.
 *
 * Activation-file mode: queries are rows of one file, candidates rows of another; a
 * query's relevant candidate is the row with the same row_id (the same text).
 * BEIR mode: queries and documents of a BEIR directory are embedded by two models
 * (mean-pooled at a layer), queries mapped through the bridge, relevance from qrels. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "latentwire/acts.h"
#include "cli.h"
#include "latentwire/files.h"
#include "latentwire/json.h"
#include "latentwire/bridge.h"
#include "latentwire/extract.h"
#include "latentwire/retrieval.h"
#include "latentwire/runtime.h"
#include "latentwire/retrieval_runs.h"

static const char *USAGE =
    "usage:\n"
    "  latentwire retrieval --queries A.safetensors --query-tensor T --candidates B.safetensors\n"
    "                       --candidate-tensor T [--bridge BR.safetensors] [--compare BR2.safetensors]\n"
    "                       [--regime bank|random:D|cluster:K:D|label:FILE|hard:FILE|para:FILE:D] [--resamples N]\n"
    "                       [--seed N] [--ndcg-gain linear|exp] [--center]\n"
    "                       [--json OUT.json]\n"
    "  latentwire retrieval --beir DIR [--split test] --source-model A.gguf --source-layer L\n"
    "                       --target-model B.gguf --target-layer L [--bridge BR.safetensors] [--json OUT.json]\n"
    "                       [--sample-queries N] [--sample-docs M] [--sample-seed S]\n"
    "  --threads N: CPU threads (BEIR: of the two models; files: of the BLAS scoring; default: all cores)\n"
    "  BEIR: --cache DIR: embeddings go to DIR/queries.safetensors and DIR/corpus.safetensors in shards of\n"
    "  --shard-texts N texts (default 256); a rerun (after a kill, say) keeps every finished shard made with\n"
    "  the same model, layer and texts whose checksums verify, and makes the others again, saying why\n"
    "  BEIR: L is a block index (or -1: the embedding layer) for mean-pooled activations, or `pooled`\n"
    "  for the model's own sentence embedding (e.g. a sentence-transformers BERT, whose file declares its\n"
    "  pooling; texts over its context are cut, [SEP] kept).\n"
    "  BEIR: --sample-queries N --sample-docs M: a quick run on a seeded sample (--sample-seed, default 1):\n"
    "  N queries drawn at random, every document they judge, and random others up to M documents; random\n"
    "  distractors are easier than a whole corpus, so report it as a sample (the JSON's \"sample\" says so).\n"
    "  Without --bridge, raw cosine between queries and candidates (same width required).\n"
    "  hard:FILE lines: {\"row_id\": R, \"negatives\": [R1, R2, ...]} (row ids of candidates).\n"
    "  para:FILE:D: the target, its negatives from FILE (as hard:, e.g. its paraphrases) and D random others\n"
    "  (the paraphrase-adjacent regime).\n"
    "  label:FILE lines: {\"row_id\": R, \"label\": L}: candidates are the rows sharing the target's label.\n"
    "  --compare adds the paired difference (bridge - compare) on the same queries (lw_ci_paired).\n"
    "  --control SPEC scores a second regime (e.g. random:10 beside para:FILE:0) on the same queries and\n"
    "  adds the paired difference (regime - control); not with --compare.\n"
    "  --center: cosine after subtracting the candidate bank's mean (no labels used) from queries and\n"
    "  candidates; mean-pooled residuals share a large passage-independent direction that raw cosine sees.\n"
    "  --ndcg-gain: NDCG's gain of a relevance grade: linear (rel, as trec_eval and BEIR; the default)\n"
    "  or exp (2^rel - 1); they differ only on graded qrels.\n"
    "  Every query needs a candidate besides its target: label:/hard:/para: files must cover every query.\n"
    "  BEIR: --per-query FILE.jsonl writes each scored query's metrics, for:\n"
    "  latentwire retrieval --paired A.jsonl B.jsonl [--json OUT.json] [--resamples N] [--seed N]\n"
    "                       two runs (e.g. a sentence encoder and a bridged model) on their shared queries:\n"
    "                       each metric with CIs and the paired CI of A - B (lw_ci_paired)\n";

typedef struct {
    const char *queries, *query_t, *cands, *cand_t, *bridge, *compare, *regime, *json, *beir, *split;
    const char *control; /* --control SPEC: a second regime on the same queries, paired */
    const char *per_query, *paired_a, *paired_b;
    const char *src_model, *tgt_model;
    int src_layer, tgt_layer, resamples;
    int threads; /* --threads; 0: every core */
    const char *cache;   /* --cache DIR: resumable embeddings (BEIR) */
    int64_t shard_texts; /* --shard-texts N: texts per cache shard (0: the library's default) */
    int32_t sample_queries, sample_docs; /* --sample-queries / --sample-docs (0: all) */
    uint64_t sample_seed;                /* --sample-seed */
    uint64_t seed;
    lw_ndcg_gain ndcg_gain;
    bool center; /* --center: cosine after removing the candidate bank's mean */
} opts;

/* Prints one condition's line: every metric's mean and CI. */
static void print_condition(const char *label, json_t *cond, long long nq) {
    printf("%-12s n=%lld", label, nq);
    const char *name;
    json_t *ci;
    json_object_foreach(cond, name, ci) {
        printf("  %s %.3f [%.3f, %.3f]", name, json_number_value(json_object_get(ci, "mean")),
               json_number_value(json_object_get(ci, "lo")), json_number_value(json_object_get(ci, "hi")));
    }
    printf("\n");
}

static void print_differences(json_t *diffs) {
    const char *name;
    json_t *d;
    json_object_foreach(diffs, name, d) {
        char pb[24];
        printf("difference   %s %+.3f [%+.3f, %+.3f] %s\n", name, json_number_value(json_object_get(d, "mean")),
               json_number_value(json_object_get(d, "lo")), json_number_value(json_object_get(d, "hi")),
               cli_p_value(json_number_value(json_object_get(d, "p_value")), pb));
    }
}

/* --queries / --candidates: the library's run (lw_retrieval_files_run), printed and saved. */
static int run_files(const opts *o) {
    lw_retrieval_files_params p = lw_retrieval_files_default_params();
    p.queries = o->queries, p.query_tensor = o->query_t, p.candidates = o->cands, p.candidate_tensor = o->cand_t;
    p.bridge = o->bridge, p.compare = o->compare, p.regime = o->regime, p.control = o->control;
    p.ndcg_gain = o->ndcg_gain, p.center = o->center, p.resamples = o->resamples, p.seed = o->seed;
    p.threads = o->threads;
    json_t *r = lw_retrieval_files_run(&p);
    if (!r) return cli_fail_lib("retrieval");
    long long nq = json_integer_value(json_object_get(r, "n_queries"));
    printf("%lld queries, %lld candidates, regime %s (%.1f candidates per query), 95%% CIs (Clopper-Pearson for "
           "proportions, else BCa with %d bootstrap resamples, seed %llu)\n",
           nq, (long long)json_integer_value(json_object_get(r, "n_candidates")), o->regime,
           json_number_value(json_object_get(r, "mean_candidates_per_query")), o->resamples,
           (unsigned long long)o->seed);
    print_condition(o->bridge ? "bridge" : "raw", json_object_get(r, o->bridge ? "bridge" : "raw"), nq);
    long long unpaired = json_integer_value(json_object_get(r, "n_query_rows_without_target"));
    if (unpaired > 0)
        fprintf(stderr, "note: %lld rows of %s have no row of the same row id in %s (no target): not scored\n", unpaired,
                o->queries, o->cands);
    long long in_sample = json_integer_value(json_object_get(r, "queries_in_bridge_calibration"));
    if (in_sample > 0)
        printf("note: %lld of %lld queries are rows the bridge was fitted on (the same texts): in-sample, not held "
               "out; report on rows it never saw\n", in_sample, nq);
    if (json_object_get(r, "compare")) {
        print_condition("compare", json_object_get(r, "compare"), nq);
        print_differences(json_object_get(r, "difference"));
    }
    if (json_object_get(r, "control")) {
        printf("control: regime %s (%.1f candidates per query), the same queries\n", o->control,
               json_number_value(json_object_get(r, "control_mean_candidates_per_query")));
        print_condition("control", json_object_get(r, "control"), nq);
        print_differences(json_object_get(r, "difference"));
    }
    int rc = o->json && lw_json_save(o->json, r) != 0 ? cli_fail_lib("retrieval") : 0;
    size_t k;
    json_t *f;
    json_array_foreach(rc == 0 ? json_object_get(r, "unchecked_files") : NULL, k, f)
        cli_note_bare_rows(json_string_value(f), NULL, "its rows' model and pooling were not checked against the bridge's fit");
    json_decref(r);
    return rc;
}

enum { LAYER_POOLED = LW_EMBED_LAYER_POOLED }; /* --source-layer / --target-layer pooled (-2: not given) */

/* The embedding's reports: what the cache kept, made again (and why) or removed; progress on a terminal. */
static void on_embed_event(const char *what, const lw_extract_event *e, void *user) {
    (void)user;
    switch (e->kind) {
    case LW_EXTRACT_EV_PROGRESS:
        if (cli_is_tty())
            fprintf(stderr, "\rretrieval: embedding %s: %lld/%lld texts%s", what, (long long)e->done, (long long)e->total,
                    e->done == e->total ? "\n" : "");
        break;
    case LW_EXTRACT_EV_KEPT: fprintf(stderr, "retrieval: %s is complete, kept\n", e->path); break;
    case LW_EXTRACT_EV_REDO: fprintf(stderr, "retrieval: %s: %s; made again\n", e->path, e->reason); break;
    case LW_EXTRACT_EV_REMOVED: fprintf(stderr, "retrieval: removed %s (left by an earlier run)\n", e->path); break;
    case LW_EXTRACT_EV_WROTE: break;
    }
}

/* --paired A B: the library's comparison, printed (and saved with --json). */
static int run_paired(const opts *o) {
    json_t *r = lw_retrieval_paired(o->paired_a, o->paired_b, o->resamples, o->seed);
    if (!r) return cli_fail_lib("retrieval");
    long long n = json_integer_value(json_object_get(r, "n_paired"));
    printf("paired: %lld queries in both runs (%lld only in A, %lld only in B); differences A - B with 95%% paired "
           "CIs (Newcombe with McNemar's p for 0/1 metrics, else BCa bootstrap, %d resamples)\n", n, (long long)json_integer_value(json_object_get(r, "n_only_a")),
           (long long)json_integer_value(json_object_get(r, "n_only_b")), o->resamples);
    const char *corpus = json_string_value(json_object_get(r, "corpus"));
    printf("  ranked in: %s\n", corpus ? corpus : "not recorded by one of the runs (written before 2026-12-05): unchecked");
    const char *key;
    json_t *mj;
    json_object_foreach(json_object_get(r, "metrics"), key, mj) {
        json_t *a = json_object_get(mj, "a"), *b = json_object_get(mj, "b"), *d = json_object_get(mj, "a_minus_b");
#define V(o, k) json_number_value(json_object_get(o, k))
        char pb[24];
        printf("  %-10s A %.3f [%.3f, %.3f]  B %.3f [%.3f, %.3f]  A-B %+.3f [%+.3f, %+.3f]  %s\n", key, V(a, "mean"),
               V(a, "lo"), V(a, "hi"), V(b, "mean"), V(b, "lo"), V(b, "hi"), V(d, "mean"), V(d, "lo"), V(d, "hi"),
               cli_p_value(V(d, "p"), pb));
#undef V
    }
    int rc = o->json && lw_json_save(o->json, r) != 0 ? cli_fail_lib("retrieval") : 0;
    json_decref(r);
    return rc;
}

/* --beir: the library's run (lw_retrieval_beir_run), printed and saved. */
static int run_beir(const opts *o) {
    lw_retrieval_beir_params p = lw_retrieval_beir_default_params();
    p.beir = o->beir, p.split = o->split, p.bridge = o->bridge;
    p.source_model = o->src_model, p.source_layer = o->src_layer;
    p.target_model = o->tgt_model, p.target_layer = o->tgt_layer;
    p.model = cli_model_params(), p.n_threads = o->threads, p.cache = o->cache, p.shard_texts = o->shard_texts;
    p.per_query = o->per_query, p.ndcg_gain = o->ndcg_gain, p.center = o->center;
    p.resamples = o->resamples, p.seed = o->seed;
    p.sample_queries = o->sample_queries, p.sample_docs = o->sample_docs, p.sample_seed = o->sample_seed;
    p.on_event = on_embed_event;
    if (cli_is_tty()) /* progress, like the other verbs': an error stays the only line on a pipe */
        fprintf(stderr, "retrieval: embedding the queries with %s and the documents with %s\n", o->src_model, o->tgt_model);
    json_t *r = lw_retrieval_beir_run(&p);
    if (!r) return cli_fail_lib("retrieval");
#define N(k) (int)json_integer_value(json_object_get(r, k))
    printf("BEIR %s (%s): %d of %d queries scored (the others the source model cannot encode), %d of %d "
           "documents (%d the target model cannot encode; %d relevant pairs of the qrels name one of them and count as "
           "misses)\n",
           o->beir, o->split, N("n_queries"), N("n_queries_total"), N("n_docs"), N("n_docs_total"),
           N("n_docs_untokenizable"), N("n_relevant_unencoded"));
    json_t *sample = json_object_get(r, "sample");
    if (json_is_object(sample)) {
        /* what it says follows what was drawn: only a reduced corpus makes the scores run higher */
        long long seed = (long long)json_integer_value(json_object_get(sample, "seed"));
        int sq = (int)json_integer_value(json_object_get(sample, "queries")),
            oq = (int)json_integer_value(json_object_get(sample, "of_queries")),
            sd = (int)json_integer_value(json_object_get(sample, "docs")),
            od = (int)json_integer_value(json_object_get(sample, "of_docs"));
        if (sd < od)
            printf("a sample (seed %lld): %d of the %d queries and %d of the %d documents (every one the sampled queries "
                   "judge, the rest random); scores run higher than on the whole set\n", seed, sq, oq, sd, od);
        else if (sq < oq)
            printf("a sample of the queries (seed %lld): %d of the %d, against the whole corpus of %d documents; the "
                   "scores estimate the whole set's, on fewer queries\n", seed, sq, oq, od);
        else
            printf("the sample sizes asked for cover the whole set (%d queries, %d documents): these are the whole "
                   "set's scores\n", oq, od);
    }
    print_condition(json_string_value(json_object_get(r, "condition")), json_object_get(r, "metrics"), N("n_queries"));
#undef N
    int rc = o->json && lw_json_save(o->json, r) != 0 ? cli_fail_lib("retrieval") : 0;
    json_decref(r);
    return rc;
}

/* --json and --per-query overwrite no input (nor each other), and can be written: checked
 * before minutes of embedding. */
static int check_outputs(const opts *o) {
    char regime_buf[4096], control_buf[4096];
    int has_regime = lw_regime_file(o->regime, regime_buf, sizeof regime_buf);
    int has_control = has_regime < 0 ? -1 : lw_regime_file(o->control, control_buf, sizeof control_buf);
    if (has_control < 0) return cli_fail_lib("retrieval");
    const char *regime_file = has_regime ? regime_buf : NULL, *control_file = has_control ? control_buf : NULL;
    char corpus[4096] = "", queries[4096] = "", qrels[4096] = "";
    if (o->beir) {
        snprintf(corpus, sizeof corpus, "%s/corpus.jsonl", o->beir);
        snprintf(queries, sizeof queries, "%s/queries.jsonl", o->beir);
        snprintf(qrels, sizeof qrels, "%s/qrels/%s.tsv", o->beir, o->split);
    }
    const char *inputs[] = {"--queries", o->queries, "--candidates", o->cands, "--bridge", o->bridge,
                            "--compare", o->compare, "--regime", regime_file, "--control", control_file, "--paired", o->paired_a,
                            "--paired", o->paired_b, "--beir", *corpus ? corpus : NULL, "--beir",
                            *queries ? queries : NULL, "--beir", *qrels ? qrels : NULL, "--source-model",
                            o->src_model, "--target-model", o->tgt_model, "--json", NULL, NULL};
    if (cli_check_output("retrieval", "--json", o->json, LW_OUT_FILE, inputs)) return 1;
    static const char *const cache_files[] = {"queries.safetensors", "corpus.safetensors", NULL};
    if (o->cache && lw_output_dir_check("--cache", o->cache, cache_files, inputs) != 0) return cli_fail_lib("retrieval");
    if (cli_check_output("retrieval", "--per-query", o->per_query, LW_OUT_FILE, inputs)) return 1;
    char cached[2][4200];
    for (int k = 0; k < 2; k++)
        snprintf(cached[k], sizeof cached[k], "%s/%s", o->cache ? o->cache : "", cache_files[k]);
    const lw_output_spec outs[] = {{"--json", o->json, LW_OUT_FILE},
                                   {"--per-query", o->per_query, LW_OUT_FILE},
                                   {"--cache", o->cache ? cached[0] : NULL, LW_OUT_FILE | LW_OUT_SHARDS},
                                   {"--cache", o->cache ? cached[1] : NULL, LW_OUT_FILE | LW_OUT_SHARDS}};
    return lw_outputs_distinct(outs, 4) != 0 ? cli_fail_lib("retrieval") : 0;
}

/* The three modes read different options; one a mode does not read is refused, not ignored (a
 * --compare beside --beir made no comparison and said nothing). 0, or 2 after the message. */
static int check_mode(int argc, char **argv) {
    enum { FILES = 1, BEIR = 2, PAIRED = 4 };
    static const struct {
        const char *option;
        int modes;
    } READ_BY[] = {
        {"--queries", FILES},        {"--query-tensor", FILES},  {"--candidates", FILES},
        {"--candidate-tensor", FILES}, {"--compare", FILES},     {"--regime", FILES},
        {"--control", FILES},        {"--beir", BEIR},           {"--split", BEIR},
        {"--source-model", BEIR},    {"--target-model", BEIR},   {"--source-layer", BEIR},
        {"--target-layer", BEIR},    {"--threads", FILES | BEIR},        {"--cache", BEIR},
        {"--shard-texts", BEIR},     {"--per-query", BEIR},      {"--bridge", FILES | BEIR},
        {"--center", FILES | BEIR},  {"--ndcg-gain", FILES | BEIR}, {"--paired", PAIRED},
        {"--sample-queries", BEIR},  {"--sample-docs", BEIR},    {"--sample-seed", BEIR},
    };
    const char *mode_option = cli_given(argc, argv, "--paired") ? "--paired" : cli_given(argc, argv, "--beir") ? "--beir"
                                                                                                               : NULL;
    int mode = mode_option ? (!strcmp(mode_option, "--paired") ? PAIRED : BEIR) : FILES;
    const char *mode_name = mode == PAIRED ? "--paired compares two per-query files"
                            : mode == BEIR ? "--beir embeds a BEIR directory"
                                           : "--queries/--candidates scores two activation files";
    for (size_t k = 0; k < sizeof READ_BY / sizeof READ_BY[0]; k++)
        if (!(READ_BY[k].modes & mode) && cli_given(argc, argv, READ_BY[k].option))
            return cli_fail("retrieval", "%s and does not read %s: leave it out, or run that mode on its own", mode_name,
                            READ_BY[k].option) + 1;
    if (mode != BEIR && cli_gpu_layers_given())
        return cli_fail("retrieval", "--gpu-layers: %s and loads no model; leave it out", mode_name) + 1;
    return 0;
}

int cmd_retrieval(int argc, char **argv) {
    if (cli_options_once("retrieval", USAGE, &argc, argv)) return 2;
    opts o = {.regime = "bank", .split = "test", .resamples = 1000, .seed = 1, .sample_seed = 1, .src_layer = -2,
              .tgt_layer = -2};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        int k;
        if (cli_wants_help(argc, argv)) {
            cli_print_help("retrieval", USAGE);
            return 0;
        } else if (!strcmp(a, "--center")) o.center = true;
        else if (!v) return cli_option_error("retrieval", USAGE, a, NULL);
        else if (!strcmp(a, "--queries")) o.queries = argv[++i];
        else if (!strcmp(a, "--query-tensor")) o.query_t = argv[++i];
        else if (!strcmp(a, "--candidates")) o.cands = argv[++i];
        else if (!strcmp(a, "--candidate-tensor")) o.cand_t = argv[++i];
        else if (!strcmp(a, "--bridge")) o.bridge = argv[++i];
        else if (!strcmp(a, "--compare")) o.compare = argv[++i];
        else if (!strcmp(a, "--regime")) o.regime = argv[++i];
        else if (!strcmp(a, "--control")) o.control = argv[++i];
        else if (!strcmp(a, "--json")) o.json = argv[++i];
        else if (!strcmp(a, "--per-query")) o.per_query = argv[++i];
        else if (!strcmp(a, "--paired") && i + 2 >= argc) return cli_fail("retrieval", "--paired needs two per-query files");
        else if (!strcmp(a, "--paired")) o.paired_a = argv[i + 1], o.paired_b = argv[i + 2], i += 2;
        else if (!strcmp(a, "--beir")) o.beir = argv[++i];
        else if (!strcmp(a, "--split")) o.split = argv[++i];
        else if (!strcmp(a, "--source-model")) o.src_model = argv[++i];
        else if (!strcmp(a, "--target-model")) o.tgt_model = argv[++i];
        else if (!strcmp(a, "--source-layer") && !strcmp(v, "pooled")) o.src_layer = LAYER_POOLED, i++;
        else if (!strcmp(a, "--target-layer") && !strcmp(v, "pooled")) o.tgt_layer = LAYER_POOLED, i++;
        else if (!strcmp(a, "--source-layer") && cli_parse_int(v, -1, 1 << 20, &n)) o.src_layer = (int)n, i++;
        else if (!strcmp(a, "--target-layer") && cli_parse_int(v, -1, 1 << 20, &n)) o.tgt_layer = (int)n, i++;
        else if (!strcmp(a, "--resamples") && cli_parse_int(v, 100, 10000000, &n)) o.resamples = (int)n, i++;
        else if (!strcmp(a, "--seed") && cli_parse_int(v, 0, 1L << 62, &n)) o.seed = (uint64_t)n, i++;
        else if (!strcmp(a, "--ndcg-gain") && cli_parse_choice(v, "linear|exp", &k))
            o.ndcg_gain = k ? LW_NDCG_GAIN_EXP : LW_NDCG_GAIN_LINEAR, i++;
        else if (!strcmp(a, "--threads") && cli_parse_int(v, 1, CLI_MAX_THREADS, &n)) o.threads = (int)n, i++;
        else if (!strcmp(a, "--cache")) o.cache = argv[++i];
        else if (!strcmp(a, "--shard-texts") && cli_parse_int(v, 1, 1L << 40, &n)) o.shard_texts = n, i++;
        else if (!strcmp(a, "--sample-queries") && cli_parse_int(v, 1, INT32_MAX, &n)) o.sample_queries = (int32_t)n, i++;
        else if (!strcmp(a, "--sample-docs") && cli_parse_int(v, 1, INT32_MAX, &n)) o.sample_docs = (int32_t)n, i++;
        else if (!strcmp(a, "--sample-seed") && cli_parse_int(v, 0, 1L << 62, &n)) o.sample_seed = (uint64_t)n, i++;
        else return cli_option_error("retrieval", USAGE, a, v);
    }
    if (check_outputs(&o) != 0) return 1;
    if (o.per_query && !o.beir && !o.paired_a) return cli_fail("retrieval", "--per-query is written by --beir runs") + 1;
    if (o.control && (o.beir || o.compare))
        return cli_fail("retrieval", "--control is for activation files and not with --compare (one paired comparison per "
                        "run)") + 1;
    if ((o.cache || o.shard_texts) && !o.beir && !o.paired_a)
        return cli_fail("retrieval", "--cache and --shard-texts are for --beir runs") + 1;
    if (o.shard_texts && !o.cache) return cli_fail("retrieval", "--shard-texts sets the shards of --cache DIR: give --cache") + 1;
    if (check_mode(argc, argv) != 0) return 2;
    if (cli_given(argc, argv, "--sample-seed") && !o.sample_queries && !o.sample_docs)
        return cli_fail("retrieval", "--sample-seed draws a sample: give --sample-queries or --sample-docs too") + 1;
    if (o.paired_a) return run_paired(&o);
    if (o.beir) {
        if (!o.src_model || !o.tgt_model || o.src_layer == -2 || o.tgt_layer == -2)
            return cli_usage_fail("retrieval", "--beir needs --source-model, --source-layer, --target-model, --target-layer");
        return run_beir(&o);
    }
    if (!o.queries || !o.query_t || !o.cands || !o.cand_t)
        return cli_usage_fail("retrieval", "--queries, --query-tensor, --candidates and --candidate-tensor are required");
    return run_files(&o);
}
