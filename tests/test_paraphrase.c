/* Paraphrase sets (latentwire/paraphrase.h): the filter on hand-judged outputs, the file's
 * validation (a bad line is one error naming file and line), its texts in row-id order, the
 * para:FILE:D regime reading the file as it stands (lists counted independently), generation
 * deterministic for a seed on the toy model, and `retrieval --control` against two separate runs. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "latentwire/paraphrase.h"
#include "latentwire/retrieval.h"
#include "support/synth_model.h"
#include "support/testutil.h"

/* ------------------------------------------------------------------ the filter */

static void expect_reason(const char *target, const char *raw, const char *const *kept, int n_kept,
                          lw_paraphrase_reason want, const char *want_clean) {
    char clean[512];
    lw_paraphrase_reason got = lw_paraphrase_filter(target, raw, kept, n_kept, clean, sizeof clean);
    if (got != want)
        fail_msg("\"%s\": %s, expected %s", raw, lw_paraphrase_reason_name(got), lw_paraphrase_reason_name(want));
    if (want_clean) assert_string_equal(clean, want_clean);
}

static void test_filter(void **state) {
    (void)state;
    /* 17 words; its 12 distinct words of 3+ letters: the company said expects report loss for third quarter because lower sales */
    const char *t = "The company said it expects to report a loss for the third quarter because of lower sales.";
    const char *kept[] = {"The firm expects a third quarter loss because sales were lower."};
    expect_reason(t, "", NULL, 0, LW_PARA_EMPTY, "");
    expect_reason(t, "  \n\n  ", NULL, 0, LW_PARA_EMPTY, "");
    /* the first line only, trimmed, its wrapping quotes removed */
    expect_reason(t, "\n \"The firm said it expects a loss in the third quarter on lower sales.\"\nThis keeps the meaning.",
                  NULL, 0, LW_PARA_KEPT, "The firm said it expects a loss in the third quarter on lower sales.");
    expect_reason(t, "the firm said it expects a loss in the third quarter on lower sales.", NULL, 0,
                  LW_PARA_NOT_SENTENCE, NULL); /* no capital first */
    expect_reason(t, "The firm said it expects a loss in the third quarter on lower sales", NULL, 0,
                  LW_PARA_NOT_SENTENCE, NULL); /* no full stop */
    expect_reason(t, "Here is the rewritten sentence: the company expects a loss.", NULL, 0, LW_PARA_META, NULL);
    expect_reason(t, "Rewrite: The company expects to report a third quarter loss on lower sales.", NULL, 0,
                  LW_PARA_META, NULL);
    expect_reason(t, "The company expects losses.", NULL, 0, LW_PARA_TOO_SHORT, NULL); /* 4 < ceil(17 / 2) = 9 */
    /* 35 words > 2 x 17 */
    expect_reason(t,
                  "The company said that it now expects that it will have to report a loss for the third quarter of "
                  "this year because of the lower sales that it has seen in all of its many markets lately.",
                  NULL, 0, LW_PARA_TOO_LONG, NULL);
    /* 10 words, 1 of the target's 12 distinct words of 3+ letters ("the") */
    expect_reason(t, "Ladies and gentlemen, please welcome the band on stage tonight.", NULL, 0, LW_PARA_OFF_TOPIC,
                  NULL);
    expect_reason(t, "The company said it expects to report a loss for the third quarter, because of lower sales!",
                  NULL, 0, LW_PARA_IDENTICAL, NULL); /* only punctuation differs */
    expect_reason(t, "THE FIRM EXPECTS A THIRD-QUARTER LOSS BECAUSE SALES WERE LOWER.", kept, 1, LW_PARA_DUPLICATE, NULL);
    expect_reason(t, "Lower sales mean the company expects to report a third quarter loss.", kept, 1, LW_PARA_KEPT, NULL);
}

/* ------------------------------------------------------------------ the file */

/* n targets with k paraphrases each, in the generated format: line i is row i, its
 * paraphrases rows n + i k .. n + i k + k - 1. */
static const char *write_set(const char *name, int n, int k) {
    const char *path = lw_test_tmpfile(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "{\"row_id\": %d, \"mrpc_id\": \"%d\", \"target\": \"Target %d.\", \"paraphrases\": [", i, 7000 + i, i);
        for (int j = 0; j < k; j++) fprintf(f, "%s\"Para %d of %d.\"", j ? ", " : "", j, i);
        fprintf(f, "], \"negatives\": [");
        for (int j = 0; j < k; j++) fprintf(f, "%s%d", j ? ", " : "", n + i * k + j);
        fprintf(f, "]}\n");
    }
    fclose(f);
    return path;
}

static void test_load_and_texts(void **state) {
    (void)state;
    const char *path = write_set("set.jsonl", 3, 2);
    lw_paraphrase_set s;
    assert_int_equal(lw_paraphrase_set_load(path, &s), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.source_id[2], "7002");
    assert_string_equal(s.target[1], "Target 1.");
    assert_int_equal(s.para_off[3], 6);
    assert_string_equal(s.para[s.para_off[2] + 1], "Para 1 of 2.");
    const char *texts = lw_test_tmpfile("set.txt");
    assert_int_equal(lw_paraphrase_set_write_texts(&s, texts), 0);
    lw_paraphrase_set_free(&s);
    char *got = lw_test_read_file(texts);
    assert_string_equal(got, "Target 0.\nTarget 1.\nTarget 2.\nPara 0 of 0.\nPara 1 of 0.\nPara 0 of 1.\nPara 1 of 1.\n"
                             "Para 0 of 2.\nPara 1 of 2.\n");
    free(got);
}

/* Each bad line: exactly one error line naming the file and the line, and no output written. */
static void expect_bad(const char *name, const char *text, const char *needle_line, const char *needle_what) {
    const char *path = lw_test_tmpfile(name), *out = lw_test_tmpfile("bad-texts.txt");
    lw_test_write_text(path, text);
    lw_paraphrase_set s;
    assert_int_equal(lw_paraphrase_set_load(path, &s), -1);
    char want[1024];
    snprintf(want, sizeof want, "%s:%s", path, needle_line);
    if (!strstr(lw_last_error(), want) || !strstr(lw_last_error(), needle_what))
        fail_msg("%s: error '%s' lacks '%s' or '%s'", name, lw_last_error(), want, needle_what);
    char args[4096];
    snprintf(args, sizeof args, "paraphrase texts %s --out %s", path, out);
    char *why = lw_test_cli_refusal(args, -1, want);
    if (why) fail_msg("%s", why);
    assert_false(lw_test_file_exists(out));
}

static void test_bad_lines(void **state) {
    (void)state;
    const char *good = "{\"row_id\": 0, \"mrpc_id\": \"1\", \"target\": \"A b.\", \"paraphrases\": [\"C d.\"], "
                       "\"negatives\": [2]}\n";
    const char *good1 = "{\"row_id\": 1, \"mrpc_id\": \"2\", \"target\": \"E f.\", \"paraphrases\": [\"G h.\"], "
                        "\"negatives\": [3]}\n";
    char text[2048];
    snprintf(text, sizeof text, "%s{\"row_id\": 1, \"mrpc_id\": \"2\", \"target\": \"E f.\", \"paraphr", good);
    expect_bad("notjson.jsonl", text, "2:", "not JSON");
    snprintf(text, sizeof text, "%s{\"row_id\": 5, \"mrpc_id\": \"2\", \"target\": \"E f.\", \"paraphrases\": [], "
                                "\"negatives\": []}\n", good);
    expect_bad("rowid.jsonl", text, "2:", "row_id");
    snprintf(text, sizeof text, "%s{\"row_id\": 1, \"mrpc_id\": 2, \"target\": \"E f.\", \"paraphrases\": [], "
                                "\"negatives\": []}\n", good);
    expect_bad("id.jsonl", text, "2:", "mrpc_id");
    snprintf(text, sizeof text, "%s{\"row_id\": 1, \"mrpc_id\": \"2\", \"target\": \"E f.\", \"paraphrases\": [\"x\", 3], "
                                "\"negatives\": [3, 4]}\n", good);
    expect_bad("para.jsonl", text, "2:", "paraphrases[1]");
    /* a blank text: extract skips it, shifting every later row id */
    snprintf(text, sizeof text, "%s{\"row_id\": 1, \"mrpc_id\": \"2\", \"target\": \"E f.\", \"paraphrases\": [\"   \"], "
                                "\"negatives\": [3]}\n", good);
    expect_bad("spacepara.jsonl", text, "2:", "paraphrases[0] must be a one-line string with a non-space character");
    snprintf(text, sizeof text, "%s{\"row_id\": 1, \"mrpc_id\": \"2\", \"target\": \" \\t\", \"paraphrases\": [], "
                                "\"negatives\": []}\n", good);
    expect_bad("spacetarget.jsonl", text, "2:", "target must be");
    snprintf(text, sizeof text, "%s{\"row_id\": 1, \"mrpc_id\": \"2\", \"target\": \"E\\nf.\", \"paraphrases\": [], "
                                "\"negatives\": []}\n", good);
    expect_bad("newline.jsonl", text, "2:", "target");
    snprintf(text, sizeof text, "%s\n%s", good, good1);
    expect_bad("blank.jsonl", text, "2:", "empty line");
    /* the negatives must be the paraphrases' row ids: line 1's paraphrase is row 2, not 3 */
    snprintf(text, sizeof text, "{\"row_id\": 0, \"mrpc_id\": \"1\", \"target\": \"A b.\", \"paraphrases\": [\"C d.\"], "
                                "\"negatives\": [3]}\n%s", good1);
    expect_bad("negs.jsonl", text, "1:", "negatives[0] must be 2");
    /* a paraphrase that is its target again, or one listed twice, is no hard negative (accepted) */
    snprintf(text, sizeof text, "%s{\"row_id\": 1, \"mrpc_id\": \"2\", \"target\": \"E f.\", \"paraphrases\": "
                                "[\"e, F\"], \"negatives\": [3]}\n", good);
    expect_bad("same.jsonl", text, "2:", "paraphrases[0] is the target again");
    snprintf(text, sizeof text, "%s{\"row_id\": 1, \"mrpc_id\": \"2\", \"target\": \"E f.\", \"paraphrases\": "
                                "[\"G h.\", \"I j.\", \"g H\"], \"negatives\": [3, 4, 5]}\n", good);
    expect_bad("twice.jsonl", text, "2:", "paraphrases[2] repeats paraphrases[0]");
    /* a target longer than the 1 MiB line every text reader allows: `paraphrase texts` wrote it,
     * and extract then refused the file */
    size_t big = ((size_t)1 << 20) + 1;
    char *huge = malloc(big + 512);
    assert_non_null(huge);
    int at = snprintf(huge, 512, "%s{\"row_id\": 1, \"mrpc_id\": \"2\", \"target\": \"", good);
    memset(huge + at, 'a', big);
    snprintf(huge + at + big, 128, "\", \"paraphrases\": [], \"negatives\": []}\n");
    expect_bad("huge.jsonl", huge, "2:", "target must be a one-line string with a non-space character, of at most 1 MiB");
    free(huge);
}

/* para:FILE:D on the file as generated: each target's list is the target, its k paraphrases
 * (rows n + i k + j, computed here from the numbering) and D random others outside them. */
static void test_para_regime_reads_the_file(void **state) {
    (void)state;
    enum { N = 12, K = 10, D = 9, NC = N + N * K };
    const char *path = write_set("regime.jsonl", N, K);
    int64_t qid[N], cid[NC];
    int32_t gold[N];
    for (int c = 0; c < NC; c++) cid[c] = c; /* the texts file's rows: row id = line */
    for (int q = 0; q < N; q++) qid[q] = q, gold[q] = q;
    lw_regime_input in = {.nq = N, .gold = gold, .query_row_id = qid, .nc = NC, .cand_row_id = cid, .seed = 3};
    char spec[4200];
    snprintf(spec, sizeof spec, "para:%s:%d", path, D);
    int64_t *off;
    int32_t *ids;
    double mean;
    assert_int_equal(lw_candidates_from_spec(spec, &in, &off, &ids, &mean), 0);
    assert_true(mean == 1 + K + D);
    for (int q = 0; q < N; q++) {
        assert_int_equal(off[q + 1] - off[q], 1 + K + D);
        int target = 0, paras = 0, others = 0;
        for (int64_t t = off[q]; t < off[q + 1]; t++) {
            int64_t r = cid[ids[t]];
            if (r == q) target++;
            else if (r >= N + q * K && r < N + (q + 1) * K) paras++;
            else others++;
            for (int64_t u = off[q]; u < t; u++) assert_int_not_equal(ids[u], ids[t]);
        }
        assert_int_equal(target, 1);
        assert_int_equal(paras, K);
        assert_int_equal(others, D);
    }
    free(off);
    free(ids);
    /* D = 0: the target among its paraphrases only */
    snprintf(spec, sizeof spec, "para:%s:0", path);
    assert_int_equal(lw_candidates_from_spec(spec, &in, &off, &ids, &mean), 0);
    assert_true(mean == 1 + K);
    free(off);
    free(ids);
}

/* ------------------------------------------------------------------ generation */

typedef struct {
    char text[8192];
    int n;
} sample_log;

static void log_samples(const lw_paraphrase_event *e, void *user) {
    sample_log *l = user;
    if (e->kind != LW_PARA_EV_SAMPLE) return;
    size_t len = strlen(l->text);
    snprintf(l->text + len, sizeof l->text - len, "%d/%d:%s|", e->target_index, e->sample, e->raw);
    l->n++;
}

/* Paraphrases of n_targets on the toy model: 3 samples per target at most, every target kept
 * whatever passes (the toy model tells stories); each sample logged. */
static int generate_n(const char *model, const char *mrpc, const char *out, const char *prov, int n_targets,
                      uint64_t seed, bool resume, sample_log *log) {
    lw_paraphrase_params p = lw_paraphrase_default_params();
    p.model = model, p.mrpc_file = mrpc, p.out = out, p.provenance = prov, p.n_targets = n_targets;
    p.per_target = 3, p.min_kept = 0, p.max_samples = 3, p.max_tokens = 16, p.temperature = 1.0f;
    p.chat = false; /* no chat template in stories260K */
    p.n_threads = 1, p.seed = seed, p.resume = resume, p.on_event = log_samples, p.user = log;
    memset(log, 0, sizeof *log);
    return lw_paraphrase_generate(&p);
}

static int generate(const char *model, const char *mrpc, const char *out, const char *prov, uint64_t seed,
                    sample_log *log) {
    return generate_n(model, mrpc, out, prov, 2, seed, false, log);
}

static void test_generation_deterministic(void **state) {
    (void)state;
    const char *model = lw_test_shared_path("models/stories260K.gguf");
    if (!model) skip();
    const char *mrpc = lw_test_tmpfile("mrpc.txt");
    lw_test_write_text(mrpc, "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\r\n"
                             "1\t11\t12\tLily went to the park with her mom and saw a big red ball.\tx y\r\n"
                             "0\t13\t14\tTom had a little dog that liked to run in the sun.\tx y\r\n"
                             "1\t15\t16\tThe cat sat on the mat and looked at the bird in the tree.\tx y\r\n"
                             "1\t17\t18\tBen and his sister made a cake for their dad on his birthday.\tx y\r\n");
    const char *a = lw_test_tmpfile("gen-a.jsonl"), *b = lw_test_tmpfile("gen-b.jsonl"), *c = lw_test_tmpfile("gen-c.jsonl");
    const char *prov = lw_test_tmpfile("gen-a.provenance.json");
    static sample_log la, lb, lc;
    assert_int_equal(generate(model, mrpc, a, prov, 5, &la), 0);
    assert_int_equal(generate(model, mrpc, b, NULL, 5, &lb), 0);
    assert_int_equal(generate(model, mrpc, c, NULL, 6, &lc), 0);
    assert_int_equal(la.n, 6); /* 2 targets x 3 samples (3 kept at the earliest after the 3rd) */
    assert_string_equal(la.text, lb.text); /* the same seed: the same samples */
    assert_string_not_equal(la.text, lc.text);
    char *fa = lw_test_read_file(a), *fb = lw_test_read_file(b);
    assert_non_null(fa);
    assert_string_equal(fa, fb);
    /* the file is a valid set of the two drawn Quality-1 targets (never the Quality-0 one) */
    lw_paraphrase_set s;
    assert_int_equal(lw_paraphrase_set_load(a, &s), 0);
    assert_int_equal(s.n, 2);
    for (int i = 0; i < s.n; i++) assert_string_not_equal(s.source_id[i], "13");
    lw_paraphrase_set_free(&s);
    /* the provenance names the file's sha256, the seed and the sample count */
    json_t *pj = json_load_file(prov, 0, NULL);
    assert_non_null(pj);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(pj, "sampling"), "seed")), 5);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(pj, "counts"), "samples")), 6);
    assert_int_equal(strlen(json_string_value(json_object_get(pj, "sha256"))), 64);
    json_decref(pj);
    free(fa);
    free(fb);
}

/* An interrupted run continues with --resume: the targets OUT.partial holds are not sampled
 * again, and the file is the one an uninterrupted run writes. The run is interrupted by asking for
 * more targets than the MRPC file has (it fails after sampling all three, keeping them). */
static void test_generation_resume(void **state) {
    (void)state;
    const char *model = lw_test_shared_path("models/stories260K.gguf");
    if (!model) skip();
    const char *mrpc = lw_test_tmpfile("mrpc-resume.txt");
    lw_test_write_text(mrpc, "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                             "1\t11\t12\tLily went to the park with her mom and saw a big red ball.\tx y\n"
                             "1\t15\t16\tThe cat sat on the mat and looked at the bird in the tree.\tx y\n"
                             "1\t17\t18\tBen and his sister made a cake for their dad on his birthday.\tx y\n");
    char whole[1200], cut[1200], whole_partial[1300], cut_partial[1300];
    snprintf(whole, sizeof whole, "%s", lw_test_tmpfile("resume-whole.jsonl"));
    snprintf(cut, sizeof cut, "%s", lw_test_tmpfile("resume-cut.jsonl"));
    snprintf(whole_partial, sizeof whole_partial, "%s.partial", whole);
    snprintf(cut_partial, sizeof cut_partial, "%s.partial", cut);
    unlink(cut);
    static sample_log lw, lc;
    assert_int_equal(generate_n(model, mrpc, whole, NULL, 3, 5, false, &lw), 0);
    assert_int_equal(lw.n, 9); /* 3 targets x 3 samples */
    assert_false(lw_test_file_exists(whole_partial)); /* removed once the file is written */
    /* interrupted: 4 targets asked of 3; the three sampled stay in the partial, no file */
    lw_clear_error();
    assert_int_equal(generate_n(model, mrpc, cut, NULL, 4, 5, false, &lc), -1);
    assert_non_null(strstr(lw_last_error(), "only 3 of 4 targets"));
    assert_false(lw_test_file_exists(cut));
    assert_true(lw_test_file_exists(cut_partial));
    /* another seed draws other samples: its settings are refused, the partial kept as it was */
    char *kept_before = lw_test_read_file(cut_partial);
    lw_clear_error();
    assert_int_equal(generate_n(model, mrpc, cut, NULL, 3, 6, true, &lc), -1);
    assert_non_null(strstr(lw_last_error(), "seed"));
    char *kept_after = lw_test_read_file(cut_partial);
    assert_string_equal(kept_before, kept_after);
    free(kept_before), free(kept_after);
    /* resumed: nothing sampled again, the same file as the uninterrupted run's */
    assert_int_equal(generate_n(model, mrpc, cut, NULL, 3, 5, true, &lc), 0);
    assert_int_equal(lc.n, 0);
    char *a = lw_test_read_file(whole), *b = lw_test_read_file(cut);
    assert_string_equal(a, b);
    free(a), free(b);
    assert_false(lw_test_file_exists(cut_partial));
}

/* A chat model without a template, and an output over its input: refused before any file appears. */
static void test_generation_refusals(void **state) {
    (void)state;
    const char *model = lw_test_shared_path("models/stories260K.gguf");
    if (!model) skip();
    const char *mrpc = lw_test_tmpfile("mrpc2.txt"), *out = lw_test_tmpfile("gen-chat.jsonl");
    lw_test_write_text(mrpc, "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n" /* the header every MRPC file has */
                             "1\t11\t12\tLily went to the park with her mom and saw a big red ball.\tx y\n");
    char args[4096];
    snprintf(args, sizeof args, "paraphrase generate --model %s --mrpc %s --targets 1 --out %s", model, mrpc, out);
    char *why = lw_test_cli_refusal(args, -1, "chat template");
    if (why) fail_msg("%s", why);
    assert_false(lw_test_file_exists(out));
    char partial[4200]; /* refused before OUT.partial is made (it was left holding its settings line) */
    snprintf(partial, sizeof partial, "%s.partial", out);
    assert_false(lw_test_file_exists(partial));
    snprintf(args, sizeof args, "paraphrase generate --model %s --mrpc %s --targets 1 --no-chat --out %s", model, mrpc, mrpc);
    why = lw_test_cli_refusal(args, -1, "--out");
    if (why) fail_msg("%s", why);
    snprintf(args, sizeof args, "paraphrase generate --model %s --mrpc %s --per-target 2 --min-kept 3 --out %s", model,
             mrpc, out);
    why = lw_test_cli_refusal(args, -1, "--min-kept 3");
    if (why) fail_msg("%s", why);
}

/* ------------------------------------------------------------------ retrieval --control */

static double metric(json_t *root, const char *key, const char *m) {
    return json_number_value(json_object_get(json_object_get(json_object_get(root, key), m), "mean"));
}

/* A refusal (one stderr line containing want) whose message never mentions not_named. */
static void expect_refusal_without(const char *args, const char *want, const char *not_named) {
    char *why = lw_test_cli_refusal(args, -1, want);
    if (why) fail_msg("%s", why);
    char *err = NULL;
    lw_test_run_cli(args, NULL, &err);
    if (!err || strstr(err, not_named)) fail_msg("`latentwire %s` names %s: %s", args, not_named, err ? err : "(nothing)");
    free(err);
}

/* --regime R --control C gives R's numbers, C's numbers as separate runs of each give them, and
 * their difference. */
static void test_retrieval_control(void **state) {
    (void)state;
    lw_synth_params p = lw_synth_default_params();
    const char *model = lw_test_tmpfile("para_synth.gguf"), *corpus = lw_test_tmpfile("para_corpus.txt");
    assert_int_equal(lw_synth_write(model, &p), 0);
    FILE *f = fopen(corpus, "w");
    const char *words[] = {"cat", "dog", "sun", "tree", "ball", "red", "big", "ran", "sat", "saw"};
    for (int i = 0; i < 60; i++)
        fprintf(f, "the %s %s the %s\n", words[i % 10], words[(i / 10) % 10], words[(i * 7 + 3) % 10]);
    fclose(f);
    const char *x = lw_test_tmpfile("para_x.safetensors"), *hard = lw_test_tmpfile("para_hard.jsonl");
    char args[16384];
    snprintf(args, sizeof args, "extract --model %s --layers all --input %s --out %s", model, corpus, x);
    char *err = NULL;
    if (lw_test_run_cli(args, NULL, &err) != 0) fail_msg("extract: %s", err);
    free(err);
    f = fopen(hard, "w");
    for (int i = 0; i < 60; i++) fprintf(f, "{\"row_id\": %d, \"negatives\": [%d, %d, %d]}\n", i, (i + 1) % 60, (i + 2) % 60, (i + 3) % 60);
    fclose(f);
    /* layer 0 against layer 1 of the same model (no bridge, same width): top-1 well below 1 */
    const char *base = "retrieval --queries %s --query-tensor layer.0 --candidates %s --candidate-tensor layer.1 "
                       "--resamples 200 --json %s --regime %s%s";
    const char *jr = lw_test_tmpfile("r.json"), *jc = lw_test_tmpfile("c.json"), *jb = lw_test_tmpfile("b.json");
    char spec[4200];
    snprintf(spec, sizeof spec, "para:%s:4", hard);
    snprintf(args, sizeof args, base, x, x, jr, spec, "");
    assert_int_equal(lw_test_run_cli(args, NULL, NULL), 0);
    snprintf(args, sizeof args, base, x, x, jc, "random:7", "");
    assert_int_equal(lw_test_run_cli(args, NULL, NULL), 0);
    snprintf(args, sizeof args, base, x, x, jb, spec, " --control random:7");
    char *out = NULL;
    assert_int_equal(lw_test_run_cli(args, &out, NULL), 0);
    free(out);
    json_t *r = json_load_file(jr, 0, NULL), *c = json_load_file(jc, 0, NULL), *b = json_load_file(jb, 0, NULL);
    assert_non_null(r);
    assert_non_null(c);
    assert_non_null(b);
    const char *ms[] = {"top1", "mrr@10"};
    for (int k = 0; k < 2; k++) {
        double vr = metric(r, "raw", ms[k]), vc = metric(c, "raw", ms[k]);
        assert_true(metric(b, "raw", ms[k]) == vr);
        assert_true(metric(b, "control", ms[k]) == vc);
        double d = json_number_value(json_object_get(json_object_get(json_object_get(b, "difference"), ms[k]), "mean"));
        if (!(d > vr - vc - 1e-9 && d < vr - vc + 1e-9)) fail_msg("%s: difference %.6f, runs give %.6f", ms[k], d, vr - vc);
    }
    assert_true(metric(r, "raw", "top1") < 1.0); /* a test that could fail */
    assert_string_equal(json_string_value(json_object_get(b, "control_regime")), "random:7");
    json_decref(r);
    json_decref(c);
    json_decref(b);
    /* a bad --control spec: the error names --control, never --regime (which the user gave right) */
    char bad_para[4200], want_para[4300];
    snprintf(bad_para, sizeof bad_para, "para:%s", hard);
    snprintf(want_para, sizeof want_para, "--control \"%s\": para:FILE:D needs a count", bad_para);
    const char *controls[][2] = {
        {"random:0", "--control \"random:0\": use bank, random:D"},
        {"bogus", "--control \"bogus\": use bank, random:D"},
        {bad_para, want_para},
        {"cluster:60:1", "--control \"cluster:60:1\": "},
    };
    for (size_t k = 0; k < sizeof controls / sizeof controls[0]; k++) {
        char ctl[4300];
        snprintf(ctl, sizeof ctl, " --control %s", controls[k][0]);
        snprintf(args, sizeof args, base, x, x, jb, spec, ctl);
        expect_refusal_without(args, controls[k][1], "--regime");
    }
    /* and a bad --regime beside a good --control still names --regime */
    snprintf(args, sizeof args, base, x, x, jb, "random:0", " --control random:7");
    expect_refusal_without(args, "--regime \"random:0\": use bank", "--control");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_load_and_texts),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_para_regime_reads_the_file),
        cmocka_unit_test(test_generation_deterministic),
        cmocka_unit_test(test_generation_resume),
        cmocka_unit_test(test_generation_refusals),
        cmocka_unit_test(test_retrieval_control),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
