/* `retrieval --beir --cache DIR`: the embeddings go through the library's resumable sharded
 * extraction (lw_embed_texts), so a run stopped after some shards resumes without redoing
 * them, and its per-query scores are byte-identical to an uninterrupted run's (and, for
 * mean pooling, to a run without a cache). Toy model stories260K on a BEIR directory written
 * here; one document has no text, so the cache's handling of empty texts is exercised too. */
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "latentwire/extract.h"
#include "latentwire/retrieval.h"
#include "latentwire/runtime.h"
#include "support/testutil.h"

enum { N_DOCS = 30, N_QUERIES = 8, EMPTY_DOC = 7 };
/* --shard-texts 4: 29 documents with text make 8 corpus shards, 8 queries 2 query shards */
enum { SHARD = 4, CORPUS_SHARDS = 8, QUERY_SHARDS = 2 };

static const char *MODEL;
static char DIR_[1200], BEIR[1300], BASE_PQ[1300];

static const char *WORDS[] = {"dog", "cat", "ball", "tree", "bird", "sun", "boat", "cake", "hat", "fish", "mom", "park"};

static void doc_text(int i, char *buf, size_t n) {
    snprintf(buf, n, "the %s and the %s went to the %s with a %s", WORDS[i % 12], WORDS[(i * 5 + 1) % 12],
             WORDS[(i * 7 + 3) % 12], WORDS[(i / 3) % 12]);
}

/* A BEIR directory of n_docs documents (EMPTY_DOC without text) and N_QUERIES queries, each
 * relevant to three documents whose words it shares. */
static void write_beir(const char *dir, int n_docs) {
    char path[1400], text[256];
    snprintf(path, sizeof path, "%s/qrels", dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/corpus.jsonl", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < n_docs; i++) {
        doc_text(i, text, sizeof text);
        fprintf(f, "{\"_id\": \"d%d\", \"title\": \"\", \"text\": \"%s\"}\n", i, i == EMPTY_DOC ? "" : text);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/queries.jsonl", dir);
    f = fopen(path, "w");
    for (int q = 0; q < N_QUERIES; q++)
        fprintf(f, "{\"_id\": \"q%d\", \"text\": \"where did the %s go\"}\n", q, WORDS[(q * 3) % 12]);
    fclose(f);
    snprintf(path, sizeof path, "%s/qrels/test.tsv", dir);
    f = fopen(path, "w");
    fprintf(f, "query-id\tcorpus-id\tscore\n");
    for (int q = 0; q < N_QUERIES; q++)
        for (int k = 0; k < 3; k++) fprintf(f, "q%d\td%d\t1\n", q, (q * 3 + k) % n_docs == EMPTY_DOC ? 29 : (q * 3 + k) % n_docs);
    fclose(f);
}

/* Runs retrieval --beir on BEIR (extra: more options); its per-query records, or NULL when it failed. */
static char *run_beir(const char *beir, const char *extra, const char *tag, int *rc, char **err) {
    char pq[1400], args[6000];
    snprintf(pq, sizeof pq, "%s/%s.per_query.jsonl", DIR_, tag);
    snprintf(args, sizeof args,
             "retrieval --beir %s --source-model %s --source-layer 2 --target-model %s --target-layer 3 --threads 1 "
             "--resamples 100 --per-query %s %s",
             beir, MODEL, MODEL, pq, extra);
    *rc = lw_test_run_cli(args, NULL, err);
    return *rc == 0 ? lw_test_read_file(pq) : NULL;
}

static int setup(void **state) {
    (void)state;
    MODEL = lw_test_shared_path("models/stories260K.gguf");
    if (!MODEL) return 0;
    snprintf(DIR_, sizeof DIR_, "%s", lw_test_fresh_dir("beir_cache"));
    snprintf(BEIR, sizeof BEIR, "%s/beir", DIR_);
    snprintf(BASE_PQ, sizeof BASE_PQ, "%s/base.per_query.jsonl", DIR_);
    return 0;
}

/* The per-query records of an uninterrupted run without a cache (the reference). */
static char *baseline(void) {
    static char *base;
    if (base) return base;
    write_beir(BEIR, N_DOCS);
    int rc;
    char *err;
    base = run_beir(BEIR, "", "base", &rc, &err);
    if (rc != 0) fail_msg("baseline run failed (%d): %s", rc, err);
    free(err);
    assert_true(strlen(base) > 0);
    return base;
}

static void shard_path(const char *cache, const char *name, int k, int n, char *buf, size_t len) {
    snprintf(buf, len, "%s/%s-%05d-of-%05d.safetensors", cache, name, k, n);
}

static ino_t inode_of(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* Rows of lw_embed_texts: in memory, through a fresh cache, and read back from that cache,
 * bit for bit the same; the empty text is flagged and NaN in all three. */
static void test_library_rows_equal(void **state) {
    (void)state;
    if (!MODEL) skip();
    lw_model *m = lw_model_load(MODEL, lw_model_default_params());
    assert_non_null(m);
    lw_model_info info;
    lw_model_get_info(m, &info);
    const int d = info.n_embd;
    char texts_buf[N_DOCS][256];
    const char *texts[N_DOCS];
    for (int i = 0; i < N_DOCS; i++) {
        doc_text(i, texts_buf[i], sizeof texts_buf[i]);
        texts[i] = i == EMPTY_DOC ? "" : texts_buf[i];
    }
    const int layers[2] = {2, LW_EMBED_LAYER_EMBED};
    for (int l = 0; l < 2; l++) {
        float *a = malloc(sizeof(float) * N_DOCS * d), *b = malloc(sizeof(float) * N_DOCS * d),
              *c = malloc(sizeof(float) * N_DOCS * d);
        bool oka[N_DOCS], okb[N_DOCS], okc[N_DOCS];
        lw_embed_texts_params p = lw_embed_texts_default_params();
        p.layer = layers[l];
        p.n_threads = 1;
        assert_int_equal(lw_embed_texts(m, texts, N_DOCS, &p, a, oka), 0);
        char cache[1400];
        snprintf(cache, sizeof cache, "%s/lib%d/docs.safetensors", DIR_, l); /* its directory is created */
        p.cache = cache;
        p.shard_texts = 5;
        assert_int_equal(lw_embed_texts(m, texts, N_DOCS, &p, b, okb), 0);
        assert_int_equal(lw_embed_texts(m, texts, N_DOCS, &p, c, okc), 0); /* every shard read back */
        for (int i = 0; i < N_DOCS; i++) {
            assert_int_equal(oka[i], i != EMPTY_DOC);
            assert_int_equal(okb[i], oka[i]);
            assert_int_equal(okc[i], oka[i]);
            if (!oka[i]) {
                assert_true(isnan(b[(size_t)i * d]) && isnan(c[(size_t)i * d]));
                continue;
            }
            if (memcmp(a + (size_t)i * d, b + (size_t)i * d, sizeof(float) * d) != 0 ||
                memcmp(a + (size_t)i * d, c + (size_t)i * d, sizeof(float) * d) != 0)
                fail_msg("layer %d text %d: cached row differs from the in-memory row", layers[l], i);
        }
        free(a);
        free(b);
        free(c);
    }
    lw_model_free(m);
}

/* A cached run scores byte-identically to a run without one; a rerun keeps every shard. */
static void test_cache_matches_and_is_reused(void **state) {
    (void)state;
    if (!MODEL) skip();
    const char *base = baseline();
    char cache[1400], extra[1600], path[1600];
    snprintf(cache, sizeof cache, "%s/cache1", DIR_);
    snprintf(extra, sizeof extra, "--cache %s --shard-texts %d", cache, SHARD);
    int rc;
    char *err;
    char *got = run_beir(BEIR, extra, "cache1", &rc, &err);
    if (rc != 0) fail_msg("cached run failed (%d): %s", rc, err);
    assert_string_equal(got, base);
    for (int k = 1; k <= CORPUS_SHARDS; k++) {
        shard_path(cache, "corpus", k, CORPUS_SHARDS, path, sizeof path);
        assert_true(lw_test_file_exists(path));
    }
    shard_path(cache, "queries", QUERY_SHARDS, QUERY_SHARDS, path, sizeof path);
    assert_true(lw_test_file_exists(path));
    assert_int_equal(lw_test_count_substr(err, "is complete, kept"), 0);
    free(got);
    free(err);
    got = run_beir(BEIR, extra, "cache1b", &rc, &err);
    assert_int_equal(rc, 0);
    assert_string_equal(got, base);
    assert_int_equal(lw_test_count_substr(err, "is complete, kept"), CORPUS_SHARDS + QUERY_SHARDS);
    free(got);
    free(err);
}

/* A run stopped at the third corpus shard (a directory stands where its file goes) keeps the
 * first two; the rerun keeps them untouched (same inodes), makes the rest, and scores
 * byte-identically to the uninterrupted run. */
static void test_resume_after_failed_shard(void **state) {
    (void)state;
    if (!MODEL) skip();
    const char *base = baseline();
    char cache[1400], extra[1600], block[1600], s1[1600], s2[1600];
    snprintf(cache, sizeof cache, "%s/cache2", DIR_);
    assert_int_equal(mkdir(cache, 0755), 0);
    shard_path(cache, "corpus", 3, CORPUS_SHARDS, block, sizeof block);
    assert_int_equal(mkdir(block, 0755), 0);
    snprintf(extra, sizeof extra, "--cache %s --shard-texts %d", cache, SHARD);
    int rc;
    char *err;
    char *got = run_beir(BEIR, extra, "cache2", &rc, &err);
    assert_null(got);
    assert_int_not_equal(rc, 0);
    free(err);
    shard_path(cache, "corpus", 1, CORPUS_SHARDS, s1, sizeof s1);
    shard_path(cache, "corpus", 2, CORPUS_SHARDS, s2, sizeof s2);
    ino_t i1 = inode_of(s1), i2 = inode_of(s2);
    assert_true(i1 && i2);
    /* the finished shards (2 queries, 2 corpus) and the blocker; no temporary left */
    assert_int_equal(lw_test_dir_entries(cache), QUERY_SHARDS + 2 + 1);
    assert_int_equal(rmdir(block), 0);
    got = run_beir(BEIR, extra, "cache2b", &rc, &err);
    if (rc != 0) fail_msg("resumed run failed (%d): %s", rc, err);
    assert_string_equal(got, base);
    assert_int_equal(lw_test_count_substr(err, "is complete, kept"), QUERY_SHARDS + 2);
    assert_non_null(strstr(err, s1));
    assert_non_null(strstr(err, s2));
    assert_int_equal(inode_of(s1), i1);
    assert_int_equal(inode_of(s2), i2);
    free(got);
    free(err);
    /* another --source-layer: the query shards are made again, saying why; the corpus's are kept */
    char pq[1400], args[6000];
    snprintf(pq, sizeof pq, "%s/cache2c.per_query.jsonl", DIR_);
    snprintf(args, sizeof args,
             "retrieval --beir %s --source-model %s --source-layer 1 --target-model %s --target-layer 3 --threads 1 "
             "--resamples 100 --per-query %s %s",
             BEIR, MODEL, MODEL, pq, extra);
    assert_int_equal(lw_test_run_cli(args, NULL, &err), 0);
    assert_int_equal(lw_test_count_substr(err, "made with other settings (layers was [2], now [1]); made again"), QUERY_SHARDS);
    assert_int_equal(lw_test_count_substr(err, "is complete, kept"), CORPUS_SHARDS);
    free(err);
}

/* A run killed with SIGKILL (no cleanup at all) once its second corpus shard is written
 * resumes keeping every shard it finished and scores as the uninterrupted run. The kill may
 * land after the run's end on a fast machine: then the rerun keeps everything. */
static void test_resume_after_kill(void **state) {
    (void)state;
    if (!MODEL) skip();
    (void)baseline();
    /* a larger corpus, so that the kill usually lands mid-run */
    enum { BIG = 400, BIG_SHARDS = 100 }; /* 399 texts in shards of 4 */
    char beir[1400], cache[1400], pq[1400], watch[1600], ref_pq[1400];
    snprintf(beir, sizeof beir, "%s/beir_big", DIR_);
    write_beir(beir, BIG);
    snprintf(cache, sizeof cache, "%s/cache3", DIR_);
    snprintf(pq, sizeof pq, "%s/killed.per_query.jsonl", DIR_);
    snprintf(ref_pq, sizeof ref_pq, "%s/big.per_query.jsonl", DIR_);
    shard_path(cache, "corpus", 2, BIG_SHARDS, watch, sizeof watch);
    char shard_arg[16];
    snprintf(shard_arg, sizeof shard_arg, "%d", SHARD);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl(getenv("LW_CLI"), "latentwire", "retrieval", "--beir", beir, "--source-model", MODEL, "--source-layer",
              "2", "--target-model", MODEL, "--target-layer", "3", "--threads", "1", "--resamples", "100",
              "--per-query", pq, "--cache", cache, "--shard-texts", shard_arg, (char *)NULL);
        _exit(127);
    }
    struct timespec nap = {0, 200 * 1000};
    int st, waited = 0;
    pid_t done = 0;
    while (!lw_test_file_exists(watch) && (done = waitpid(pid, &st, WNOHANG)) == 0 && waited++ < 300000)
        nanosleep(&nap, NULL);
    if (done == 0) {
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &st, 0), pid);
    }
    int finished = 0;
    ino_t ino[BIG_SHARDS];
    for (int k = 1; k <= BIG_SHARDS; k++) {
        char path[1600];
        shard_path(cache, "corpus", k, BIG_SHARDS, path, sizeof path);
        ino[k - 1] = inode_of(path);
        finished += ino[k - 1] != 0;
    }
    assert_true(finished >= 2);
    fprintf(stderr, "killed %s: %d of %d corpus shards finished\n", WIFSIGNALED(st) ? "mid-run" : "after the end",
            finished, BIG_SHARDS);
    /* the uninterrupted reference, without a cache (mean pooling: the same floats) */
    int rc;
    char *err, *err2;
    char *ref = run_beir(beir, "", "big", &rc, &err);
    if (rc != 0) fail_msg("reference run failed (%d): %s", rc, err);
    char extra[1600];
    snprintf(extra, sizeof extra, "--cache %s --shard-texts %d", cache, SHARD);
    char *got = run_beir(beir, extra, "resumed", &rc, &err2);
    if (rc != 0) fail_msg("resumed run failed (%d): %s", rc, err2);
    assert_string_equal(got, ref);
    assert_true(lw_test_count_substr(err2, "is complete, kept") >= finished);
    for (int k = 1; k <= BIG_SHARDS; k++) {
        char path[1600];
        shard_path(cache, "corpus", k, BIG_SHARDS, path, sizeof path);
        if (ino[k - 1]) assert_int_equal(inode_of(path), ino[k - 1]);
        else assert_true(lw_test_file_exists(path));
    }
    free(ref);
    free(got);
    free(err);
    free(err2);
}

/* Option misuse is one line, before any work. */
static void test_cache_options(void **state) {
    (void)state;
    char *err;
    assert_int_not_equal(lw_test_run_cli("retrieval --queries a --query-tensor x --candidates b --candidate-tensor x "
                                         "--cache /tmp/lw-none",
                                         NULL, &err),
                         0);
    assert_non_null(strstr(err, "--cache and --shard-texts are for --beir runs"));
    free(err);
    assert_int_not_equal(lw_test_run_cli("retrieval --beir /nonexistent-lw --source-model a --source-layer 0 "
                                         "--target-model b --target-layer 0 --shard-texts 4",
                                         NULL, &err),
                         0);
    assert_non_null(strstr(err, "--shard-texts sets the shards of --cache DIR"));
    free(err);
}

/* q0's recall@10 in a per-query file. */
static double q0_recall10(const char *per_query) {
    json_t *line = json_loads(per_query, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "query")), "q0");
    double r = json_number_value(json_object_get(json_object_get(line, "metrics"), "recall@10"));
    json_decref(line);
    return r;
}

/* A relevant document the target cannot encode (the empty one) stays relevant and is never
 * retrieved: q0, relevant to its three documents plus the empty one, has recall@10 = hits / 4
 * where the same run without that qrel has hits / 3; the JSON counts the pair. */
static void test_unencodable_relevant_is_a_miss(void **state) {
    (void)state;
    if (!MODEL) skip();
    char *base = baseline(), beir2[1400], path[1500], json[1500], extra[1600];
    snprintf(beir2, sizeof beir2, "%s/beir_empty_relevant", DIR_);
    write_beir(beir2, N_DOCS);
    snprintf(path, sizeof path, "%s/qrels/test.tsv", beir2);
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    fprintf(f, "q0\td%d\t1\n", EMPTY_DOC);
    fclose(f);
    snprintf(json, sizeof json, "%s/empty_relevant.json", DIR_);
    snprintf(extra, sizeof extra, "--json %s", json);
    int rc;
    char *err, *pq = run_beir(beir2, extra, "empty_relevant", &rc, &err);
    if (rc != 0) fail_msg("run failed (%d): %s", rc, err);
    double with = q0_recall10(pq), without = q0_recall10(base);
    assert_true(fabs(with * 4 - without * 3) < 1e-12);
    assert_true(without > 0);
    json_t *r = json_load_file(json, 0, NULL);
    assert_non_null(r);
    assert_int_equal(json_integer_value(json_object_get(r, "n_relevant_unencoded")), 1);
    assert_int_equal(json_integer_value(json_object_get(r, "n_queries")), N_QUERIES);
    json_decref(r);
    free(pq), free(err);
    /* refused before any embedding: a --json named as one of the cache's shards (it was written over
     * the shard), and a grade whose exponential gain overflows (its NDCG was NaN) */
    char args[6000], shard[1500], cache[1500];
    snprintf(cache, sizeof cache, "%s/cache_shard_json", DIR_);
    assert_int_equal(mkdir(cache, 0755), 0);
    shard_path(cache, "queries", 1, 2, shard, sizeof shard);
    snprintf(args, sizeof args,
             "retrieval --beir %s --source-model %s --source-layer 2 --target-model %s --target-layer 3 --cache %s "
             "--shard-texts 4 --json %s",
             beir2, MODEL, MODEL, cache, shard);
    char *why = lw_test_cli_refusal(args, -1, "is a shard that --cache");
    if (why) fail_msg("%s", why);
    f = fopen(path, "a");
    fprintf(f, "q1\td1\t1100\n");
    fclose(f);
    snprintf(args, sizeof args,
             "retrieval --beir %s --source-model %s --source-layer 2 --target-model %s --target-layer 3 --ndcg-gain exp",
             beir2, MODEL, MODEL);
    if ((why = lw_test_cli_refusal(args, -1, "query q1, document d1: grade 1100 makes the exponential NDCG gain")))
        fail_msg("%s", why);
}

/* Per-query records with each "corpus" cut after its hash (the words say how the set was made). */
static char *strip_corpus_words(const char *text) {
    char *out = malloc(strlen(text) + 1), *w = out;
    assert_non_null(out);
    for (const char *r = text; *r;) {
        const char *c = strstr(r, "\"corpus\":\"sha256:");
        if (!c) {
            strcpy(w, r);
            return out;
        }
        c += strlen("\"corpus\":\"sha256:");
        const char *space = strchr(c, ' '), *quote = strchr(c, '"');
        assert_non_null(quote);
        const char *stop = space && space < quote ? space : quote;
        memcpy(w, r, (size_t)(stop - r));
        w += stop - r;
        r = quote;
    }
    *w = '\0';
    return out;
}

/* --sample-queries / --sample-docs score exactly what a directory holding that sample scores: the
 * per-query records of a sampled run equal, byte for byte, those of a run on the sample written out
 * (lw_beir_subsample with the same sizes and seed, the library call test_beir_sample checks), and
 * the JSON names the sample and the whole set's sizes. */
static void test_sample_is_the_written_subset(void **state) {
    (void)state;
    if (!MODEL) skip();
    baseline();
    char json[1500], extra[1600], sub[1400], path[1500];
    snprintf(json, sizeof json, "%s/sample.json", DIR_);
    snprintf(extra, sizeof extra, "--sample-queries 4 --sample-docs 18 --sample-seed 5 --json %s", json);
    int rc;
    char *err, *sampled = run_beir(BEIR, extra, "sample", &rc, &err);
    if (rc != 0) fail_msg("sampled run failed (%d): %s", rc, err);
    free(err);
    lw_beir b;
    assert_int_equal(lw_beir_load(BEIR, "test", &b), 0);
    assert_int_equal(lw_beir_subsample(&b, 4, 18, 5), 0);
    snprintf(sub, sizeof sub, "%s/beir_sample", DIR_);
    snprintf(path, sizeof path, "%s/qrels", sub);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/corpus.jsonl", sub);
    FILE *f = fopen(path, "w");
    for (int32_t d = 0; d < b.n_docs; d++)
        fprintf(f, "{\"_id\": \"%s\", \"title\": \"\", \"text\": \"%s\"}\n", b.doc_id[d], b.doc_text[d]);
    fclose(f);
    snprintf(path, sizeof path, "%s/queries.jsonl", sub);
    f = fopen(path, "w");
    for (int32_t q = 0; q < b.n_queries; q++) fprintf(f, "{\"_id\": \"%s\", \"text\": \"%s\"}\n", b.query_id[q], b.query_text[q]);
    fclose(f);
    snprintf(path, sizeof path, "%s/qrels/test.tsv", sub);
    f = fopen(path, "w");
    for (int32_t q = 0; q < b.n_queries; q++)
        for (int64_t k = b.rel_off[q]; k < b.rel_off[q + 1]; k++)
            fprintf(f, "%s\t%s\t%g\n", b.query_id[q], b.doc_id[b.rel_doc[k]], (double)b.rel_grade[k]);
    fclose(f);
    lw_beir_free(&b);
    char *written = run_beir(sub, "", "sample_dir", &rc, &err);
    if (rc != 0) fail_msg("run on the written sample failed (%d): %s", rc, err);
    /* the same records, but for the words after the candidate set's hash (a sample, or a set) */
    char *sa = strip_corpus_words(sampled), *sb = strip_corpus_words(written);
    assert_string_equal(sa, sb);
    assert_non_null(strstr(sampled, "(a sample, seed 5: 18 of 30 documents, 4 of 8 queries)"));
    assert_non_null(strstr(written, "(18 documents)"));
    free(sa), free(sb);
    /* --paired: the sample against itself written out pairs; against another draw it is refused */
    char pq_sample[1400], pq_dir[1400], pq_other[1400], args2[6000];
    snprintf(pq_sample, sizeof pq_sample, "%s/sample.per_query.jsonl", DIR_);
    snprintf(pq_dir, sizeof pq_dir, "%s/sample_dir.per_query.jsonl", DIR_);
    snprintf(pq_other, sizeof pq_other, "%s/sample_other.per_query.jsonl", DIR_);
    snprintf(args2, sizeof args2, "retrieval --paired %s %s", pq_sample, pq_dir);
    char *out2 = NULL, *err2 = NULL;
    assert_int_equal(lw_test_run_cli(args2, &out2, &err2), 0);
    assert_non_null(strstr(out2, "ranked in: sha256:"));
    free(out2), free(err2);
    free(err);
    free(run_beir(BEIR, "--sample-queries 4 --sample-docs 18 --sample-seed 6", "sample_other", &rc, &err));
    if (rc != 0) fail_msg("second sample failed (%d): %s", rc, err);
    free(err);
    err = NULL;
    snprintf(args2, sizeof args2, "retrieval --paired %s %s", pq_sample, pq_other);
    char *why2 = lw_test_cli_refusal(args2, -1, "their queries do not pair");
    if (why2) fail_msg("%s", why2);
    json_t *r = json_load_file(json, 0, NULL), *smp = json_object_get(r, "sample");
    assert_non_null(smp);
    assert_int_equal(json_integer_value(json_object_get(smp, "queries")), 4);
    assert_int_equal(json_integer_value(json_object_get(smp, "docs")), 18);
    assert_int_equal(json_integer_value(json_object_get(smp, "of_queries")), N_QUERIES);
    assert_int_equal(json_integer_value(json_object_get(smp, "of_docs")), N_DOCS);
    assert_int_equal(json_integer_value(json_object_get(smp, "seed")), 5);
    assert_int_equal(json_integer_value(json_object_get(r, "n_docs_total")), 18);
    json_decref(r);
    free(sampled), free(written), free(err);
    /* refused before any embedding: more documents judged than the sample holds, and a seed alone */
    char args[6000], *why;
    snprintf(args, sizeof args,
             "retrieval --beir %s --source-model %s --source-layer 2 --target-model %s --target-layer 3 "
             "--sample-docs 5",
             BEIR, MODEL, MODEL);
    if ((why = lw_test_cli_refusal(args, -1, "a corpus of 5 documents is smaller than the")))
        fail_msg("%s", why);
    snprintf(args, sizeof args,
             "retrieval --beir %s --source-model %s --source-layer 2 --target-model %s --target-layer 3 --sample-seed 2",
             BEIR, MODEL, MODEL);
    if ((why = lw_test_cli_refusal(args, -1, "--sample-seed draws a sample"))) fail_msg("%s", why);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_rows_equal),
        cmocka_unit_test(test_cache_matches_and_is_reused),
        cmocka_unit_test(test_resume_after_failed_shard),
        cmocka_unit_test(test_resume_after_kill),
        cmocka_unit_test(test_cache_options),
        cmocka_unit_test(test_unencodable_relevant_is_a_miss),
        cmocka_unit_test(test_sample_is_the_written_subset),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, NULL));
}
