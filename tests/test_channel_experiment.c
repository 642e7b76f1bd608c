/* The channel and debate experiments through the library alone (latentwire/channel_experiment.h,
 * no CLI), on the toy TinyStories models in ../shared/models (exit 77 without them):
 *  - the text channel's accuracy equals the mean of lw_score over answers generated item by item
 *    with lw_channel_run, and its records hold those very answers; the none row likewise;
 *  - a resumed run (records cut after a few lines) runs only what is missing and gives the
 *    same accuracies;
 *  - with two AC settings the one reported is the best on the selection items, recomputed here
 *    with lw_channel_run on the items the summary lists;
 *  - the debate's vote and agent-0 accuracies equal the means of lw_score over lw_debate_run's
 *    answers item by item, and the paired difference their difference;
 *  - a message or answer that does not fit a context is refused, before any work and item by
 *    item in lw_channel_run, naming the largest value that fits (it was cut short unseen);
 *  - records and summary appear together: a summary that cannot be written leaves neither (the
 *    channel's records kept in RECORDS.partial, so a resumed run reruns nothing);
 *  - bad lists and agents, and nothing applicable, are one message and no experiment. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "latentwire/channel_experiment.h"
#include "latentwire/report.h"
#include "latentwire/error.h"
#include "support/records_edit.h"
#include "support/testutil.h"

static lw_model *MS, *MT;     /* stories260K, tinystories656K */
static lw_session *SA, *SB;   /* two sessions on stories260K: sender and receiver */
static lw_session *ST;        /* one on tinystories656K */
static char PATH_S[1200];

static lw_session *session(lw_model *m) {
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = 2;
    return lw_session_new(m, sp);
}

static int setup(void **state) {
    (void)state;
    const char *s = lw_test_shared_path("models/stories260K.gguf"), *t = lw_test_shared_path("models/tinystories656K.gguf");
    if (!s || !t) return -1;
    snprintf(PATH_S, sizeof PATH_S, "%s", s);
    MS = lw_model_load(s, lw_model_default_params());
    MT = lw_model_load(t, lw_model_default_params());
    if (!MS || !MT) return -1;
    SA = session(MS);
    SB = session(MS);
    ST = session(MT);
    return SA && SB && ST ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    lw_session_free(SA);
    lw_session_free(SB);
    lw_session_free(ST);
    lw_model_free(MS);
    lw_model_free(MT);
    return 0;
}

static int counted_runs;
static void count_progress(void *ctx, int done, int total) {
    (void)ctx;
    (void)done;
    (void)total;
    counted_runs++;
}

static lw_channel_experiment_params small_params(void) {
    lw_channel_experiment_params p = lw_channel_experiment_default_params();
    p.sender = p.receiver = "stories260K";
    p.task = "story";
    p.message_tokens = 12;
    p.answer_tokens = 6;
    p.resamples = 200;
    p.on_progress = count_progress;
    return p;
}

/* A channel's answer to one item, as the experiment's condition of that kind runs it. */
static char *answer(lw_channel_kind kind, const lw_channel_experiment_params *ep, const lw_task_item *it) {
    lw_channel_params cp = lw_channel_default_params();
    cp.kind = kind;
    cp.sender_temp = 0.0f;
    cp.message_tokens = ep->message_tokens;
    cp.answer_tokens = ep->answer_tokens;
    cp.seed = ep->seed;
    lw_channel_result r;
    assert_int_equal(lw_channel_run(SA, SB, &cp, it->sender, it->receiver, &r, NULL), 0);
    char *out = strdup(r.output);
    lw_channel_result_free(&r);
    return out;
}

static const lw_channel_experiment_row *row_named(const lw_channel_experiment_result *r, const char *name) {
    for (int c = 0; c < r->n_rows; c++)
        if (!strcmp(r->rows[c].name, name)) return &r->rows[c];
    fail_msg("no row %s", name);
    return NULL;
}

/* The records of a records file by "condition id": their outputs (lines after the settings line). */
static json_t *records_by_key(const char *path) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    json_t *by = json_object();
    char line[1 << 16];
    for (int n = 0; fgets(line, sizeof line, f); n++) {
        json_t *o = json_loads(line, 0, NULL);
        assert_non_null(o);
        if (n > 0) {
            char key[512];
            snprintf(key, sizeof key, "%s %s", json_string_value(json_object_get(o, "condition")),
                     json_string_value(json_object_get(o, "id")));
            json_object_set(by, key, json_object_get(o, "output"));
        }
        json_decref(o);
    }
    fclose(f);
    return by;
}

/* ------------------------------------------------------------------ channel */

static void test_text_accuracy_recomputed(void **state) {
    (void)state;
    lw_task t;
    assert_int_equal(lw_task_story(6, 1, &t), 0);
    lw_channel_experiment_params p = small_params();
    p.channels = "none,text";
    p.message_tokens = 24; /* long enough for the sender to repeat the name now and then */
    p.answer_tokens = 8;
    p.records = lw_test_tmpfile("exp-records.jsonl");
    lw_channel_experiment *e = lw_channel_experiment_new(SA, SB, &p);
    assert_non_null(e);
    int ns, nc;
    lw_channel_experiment_needs(e, &ns, &nc);
    assert_int_equal(ns, 0); /* nothing swept, no map fitted: the whole pool is reported */
    assert_int_equal(nc, 0);
    lw_channel_experiment_result *r = NULL;
    counted_runs = 0;
    assert_int_equal(lw_channel_experiment_run(e, &t, -1, &r), 0);
    assert_int_equal(counted_runs, 2 * t.n);
    assert_int_equal(r->n_report, t.n);
    assert_int_equal(r->n_rows, 2);
    assert_string_equal(r->rows[r->reference].name, "text");
    json_t *recs = records_by_key(p.records);
    const lw_channel_kind kinds[2] = {LW_CHANNEL_NONE, LW_CHANNEL_TEXT};
    const char *names[2] = {"none", "text"};
    double mean[2] = {0, 0};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < t.n; i++) {
            char *out = answer(kinds[k], &p, &t.items[i]), key[512];
            mean[k] += lw_score(&t.items[i], out) / t.n;
            snprintf(key, sizeof key, "%s %s", names[k], t.items[i].id);
            assert_string_equal(json_string_value(json_object_get(recs, key)), out);
            free(out);
        }
    assert_true(mean[1] > 0); /* the toy sender repeats the name now and then: something to compare */
    for (int k = 0; k < 2; k++) {
        const lw_channel_experiment_row *w = row_named(r, names[k]);
        assert_int_equal(w->n, t.n);
        assert_true(fabs(w->accuracy.mean - mean[k]) < 1e-12);
    }
    /* none - text, paired on the same items */
    assert_true(row_named(r, "none")->compared);
    assert_true(fabs(row_named(r, "none")->difference.mean - (mean[0] - mean[1])) < 1e-12);
    json_t *acc = json_object_get(json_object_get(json_object_get(r->summary, "conditions"), "text"), "accuracy");
    assert_true(fabs(json_number_value(json_object_get(acc, "mean")) - mean[1]) < 1e-12);
    /* the summary as a file */
    const char *js = lw_test_tmpfile("exp-summary.json");
    assert_int_equal(lw_channel_experiment_save(r, js), 0);
    json_t *back = json_load_file(js, 0, NULL);
    assert_true(json_equal(back, r->summary));
    json_decref(back);
    json_decref(recs);

    /* resumed after the run finished (no partial left): every record is reused, nothing runs, and the
     * records file comes back byte for byte (a rerun would have timed its runs anew) */
    char *finished = lw_test_read_file(p.records);
    p.resume = true;
    lw_channel_experiment *again = lw_channel_experiment_new(SA, SB, &p);
    lw_channel_experiment_result *r_again = NULL;
    counted_runs = 0;
    assert_int_equal(lw_channel_experiment_run(again, &t, -1, &r_again), 0);
    assert_int_equal(counted_runs, 0);
    char *reread = lw_test_read_file(p.records);
    assert_string_equal(reread, finished);
    assert_true(fabs(row_named(r_again, "text")->accuracy.mean - mean[1]) < 1e-12);
    free(finished), free(reread);
    lw_channel_experiment_result_free(r_again);
    lw_channel_experiment_free(again);
    p.resume = false;

    /* resumed: the records cut after the settings line and 5 records, plus a torn line */
    char partial[1300], cmd[3000];
    snprintf(partial, sizeof partial, "%s.partial", p.records);
    snprintf(cmd, sizeof cmd, "head -n 6 %s > %s && printf '{\"split\":\"rep' >> %s", p.records, partial, partial);
    assert_int_equal(system(cmd), 0);
    p.resume = true;
    lw_channel_experiment *e2 = lw_channel_experiment_new(SA, SB, &p);
    lw_channel_experiment_result *r2 = NULL;
    counted_runs = 0;
    assert_int_equal(lw_channel_experiment_run(e2, &t, -1, &r2), 0);
    assert_int_equal(counted_runs, 2 * t.n - 5); /* only the missing runs ran */
    for (int k = 0; k < 2; k++)
        assert_true(fabs(row_named(r2, names[k])->accuracy.mean - mean[k]) < 1e-12);
    lw_channel_experiment_result_free(r2);
    /* a kept record this run does not make (its checksum made anew): refused, not copied into the
     * records file a verdict or report reads */
    static const char *const KEY[] = {"split", "condition", "id"};
    snprintf(cmd, sizeof cmd, "head -n 6 %s > %s", p.records, partial);
    assert_int_equal(system(cmd), 0);
    lw_test_edit_record(partial, KEY, 3, "score", NULL, NULL, "condition", "\"cipher\"");
    assert_int_equal(lw_channel_experiment_run(e2, &t, -1, &r2), -1);
    if (!strstr(lw_last_error(), "is not part of this run (no such condition)"))
        fail_msg("\"%s\"", lw_last_error());
    lw_channel_experiment_free(e2);
    lw_channel_experiment_result_free(r);
    lw_channel_experiment_free(e);
    lw_task_free(&t);
}

/* Story items scored by containment of "was": AC settings then score differently. */
static void gold_was(lw_task *t) {
    for (int i = 0; i < t->n; i++) {
        free(t->items[i].gold);
        t->items[i].gold = strdup("was");
        t->items[i].scorer = LW_SCORE_CONTAINS;
    }
}

static const lw_task_item *item_by_id(const lw_task *t, const char *id) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->items[i].id, id)) return &t->items[i];
    fail_msg("no item %s", id);
    return NULL;
}

static void test_selection_recomputed(void **state) {
    (void)state;
    lw_task pool;
    assert_int_equal(lw_task_story(40, 3, &pool), 0);
    gold_was(&pool);
    lw_channel_experiment_params p = small_params();
    p.channels = "none,ac";
    p.k_layers = "0,2";
    p.j_layers = "1";
    p.select = 6;
    lw_channel_experiment *e = lw_channel_experiment_new(SA, SB, &p);
    assert_non_null(e);
    int ns, nc;
    lw_channel_experiment_needs(e, &ns, &nc);
    assert_int_equal(ns, 6);
    assert_int_equal(nc, 0);
    lw_channel_experiment_result *r = NULL;
    assert_int_equal(lw_channel_experiment_run(e, &pool, 4, &r), 0);
    assert_int_equal(r->n_report, 4);
    assert_int_equal(r->n_select, 6);
    assert_int_equal(r->n_choices, 1);
    /* each setting's mean score on the selection items the summary lists, recomputed */
    json_t *ids = json_object_get(json_object_get(r->summary, "selection"), "items");
    assert_int_equal(json_array_size(ids), 6);
    const int ks[2] = {0, 2}, js[1] = {1};
    double best = -1;
    char best_name[64] = "";
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 1; b++) {
            lw_channel_params cp = lw_channel_default_params();
            cp.kind = LW_CHANNEL_AC;
            cp.ac_k = ks[a];
            cp.ac_j = js[b];
            cp.answer_tokens = p.answer_tokens;
            cp.message_tokens = p.message_tokens;
            double m = 0;
            size_t i;
            json_t *id;
            json_array_foreach(ids, i, id) {
                const lw_task_item *it = item_by_id(&pool, json_string_value(id));
                lw_channel_result res;
                assert_int_equal(lw_channel_run(SA, SB, &cp, it->sender, it->receiver, &res, NULL), 0);
                m += lw_score(it, res.output);
                lw_channel_result_free(&res);
            }
            m /= 6;
            if (m > best) best = m, snprintf(best_name, sizeof best_name, "ac[k=%d,j=%d,replace]", ks[a], js[b]);
        }
    assert_string_equal(r->choices[0].family, "ac");
    assert_string_equal(r->choices[0].chosen, best_name);
    assert_true(fabs(r->choices[0].score - best) < 1e-12);
    assert_int_equal(r->choices[0].n_settings, 2);
    assert_non_null(row_named(r, best_name));
    lw_channel_experiment_result_free(r);
    lw_channel_experiment_free(e);
    lw_task_free(&pool);
}

static void test_refusals(void **state) {
    (void)state;
    const struct {
        const char *channels, *k, *ops, *needle;
    } cases[] = {
        {"none,none", "mid", "replace", "\"none\" is listed twice"},
        {"none,bogus", "mid", "replace", "--channel \"bogus\""},
        {"ac", "99", "replace", "\"99\" is not a layer of the sender"},
        {"ac", "0,0", "replace", "\"0\" is listed twice"},
        {"ac", "mid", "sum,bogus", "--op \"bogus\""},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        lw_channel_experiment_params p = small_params();
        p.channels = cases[c].channels;
        p.k_layers = cases[c].k;
        p.ops = cases[c].ops;
        lw_clear_error();
        assert_null(lw_channel_experiment_new(SA, SB, &p));
        if (!strstr(lw_last_error(), cases[c].needle)) fail_msg("%s: got \"%s\"", cases[c].needle, lw_last_error());
    }
    /* CIPHER between two vocabularies is not applicable; alone, nothing is left to run */
    lw_channel_experiment_params p = small_params();
    p.channels = "cipher";
    assert_null(lw_channel_experiment_new(SA, ST, &p));
    assert_non_null(strstr(lw_last_error(), "nothing to run: cipher: the sender's and the receiver's vocabularies differ"));
    /* debate agents */
    lw_debate_experiment_params dp = lw_debate_experiment_default_params();
    lw_task t;
    assert_int_equal(lw_task_story(1, 1, &t), 0);
    lw_debate_experiment_result dr;
    char spec[4000];
    snprintf(spec, sizeof spec, "%s:0,%s:0.0", PATH_S, PATH_S);
    dp.agents = spec;
    assert_int_not_equal(lw_debate_experiment_run(&dp, &t, &dr), 0);
    assert_non_null(strstr(lw_last_error(), "this greedy agent is listed twice"));
    /* the same file by another spelling (a symbolic link), and one temperature written two ways */
    char link[1300];
    snprintf(link, sizeof link, "%s/agent-link.gguf", lw_test_tmpdir());
    unlink(link);
    assert_int_equal(symlink(PATH_S, link), 0);
    snprintf(spec, sizeof spec, "%s:0,%s:0", PATH_S, link);
    assert_int_not_equal(lw_debate_experiment_run(&dp, &t, &dr), 0);
    assert_non_null(strstr(lw_last_error(), "this greedy agent is listed twice"));
    unlink(link);
    snprintf(spec, sizeof spec, "%s:-1", PATH_S);
    assert_int_not_equal(lw_debate_experiment_run(&dp, &t, &dr), 0);
    assert_non_null(strstr(lw_last_error(), "must be a number >= 0"));
    lw_task_free(&t);
}

/* ------------------------------------------------------------------ debate */

static void test_debate_recomputed(void **state) {
    (void)state;
    lw_task t;
    assert_int_equal(lw_task_story(4, 5, &t), 0);
    lw_debate_experiment_params p = lw_debate_experiment_default_params();
    char spec[4000];
    snprintf(spec, sizeof spec, "%s:0,%s:0.9", PATH_S, PATH_S);
    p.agents = spec;
    p.debate.rounds = 2;
    p.debate.answer_tokens = 6;
    p.debate.seed = 11;
    p.resamples = 200;
    p.session.n_threads = 2;
    p.records = lw_test_tmpfile("debate-records.jsonl");
    lw_debate_experiment_result r;
    assert_int_equal(lw_debate_experiment_run(&p, &t, &r), 0);
    assert_int_equal(r.n_agents, 2);
    assert_int_equal(r.n_items, t.n);
    /* the same debates by hand: two agents on sessions of the same model */
    lw_agent agents[2] = {{SA, 0.0f}, {SB, 0.9f}};
    double vote = 0, solo = 0;
    for (int i = 0; i < t.n; i++) {
        char q[4096];
        snprintf(q, sizeof q, "%s%s%s", t.items[i].sender, *t.items[i].sender ? " " : "", t.items[i].receiver);
        lw_debate_params dp = p.debate;
        lw_debate_result dr;
        assert_int_equal(lw_debate_run(agents, 2, &dp, q, &dr), 0);
        vote += lw_score(&t.items[i], dr.final) / t.n;
        solo += lw_score(&t.items[i], dr.answers[0]) / t.n;
        lw_debate_result_free(&dr);
    }
    assert_true(fabs(r.vote.mean - vote) < 1e-12);
    assert_true(fabs(r.solo.mean - solo) < 1e-12);
    assert_true(fabs(r.difference.mean - (vote - solo)) < 1e-12);
    char *text = lw_test_read_file(p.records);
    assert_int_equal(lw_test_count_lines(text), 1 + t.n); /* the settings, then one record per item */
    free(text);
    lw_task_free(&t);
}

/* An interrupted debate resumed: the items its records file holds are taken from it (their lines,
 * seconds included, come back byte for byte: debated again they would have other times), the
 * rest debated, and the statistics are the uninterrupted run's; other settings are refused. */
static void test_debate_resume(void **state) {
    (void)state;
    lw_task t;
    assert_int_equal(lw_task_story(4, 5, &t), 0);
    lw_debate_experiment_params p = lw_debate_experiment_default_params();
    char spec[4000], whole[1200], cut[1200], partial[1300];
    snprintf(spec, sizeof spec, "%s:0,%s:0.9", PATH_S, PATH_S);
    p.agents = spec, p.debate.rounds = 2, p.debate.answer_tokens = 6, p.debate.seed = 11, p.resamples = 200;
    p.session.n_threads = 2;
    snprintf(whole, sizeof whole, "%s", lw_test_tmpfile("debate-whole.jsonl"));
    snprintf(cut, sizeof cut, "%s", lw_test_tmpfile("debate-cut.jsonl"));
    snprintf(partial, sizeof partial, "%s.partial", cut);
    p.records = whole;
    lw_debate_experiment_result r, again;
    assert_int_equal(lw_debate_experiment_run(&p, &t, &r), 0);
    /* the interruption: the settings line and the first two items' records, as a killed run leaves them */
    char *text = lw_test_read_file(whole), *end = text;
    for (int k = 0; k < 3; k++) end = strchr(end, '\n') + 1;
    *end = '\0';
    lw_test_write_text(partial, text);
    unlink(cut);
    p.records = cut, p.resume = true;
    p.debate.seed = 12; /* other settings: refused, the partial as it was */
    lw_clear_error();
    assert_int_equal(lw_debate_experiment_run(&p, &t, &again), -1);
    if (!strstr(lw_last_error(), "--seed")) fail_msg("\"%s\"", lw_last_error());
    p.debate.seed = 11;
    assert_int_equal(lw_debate_experiment_run(&p, &t, &again), 0);
    char *resumed = lw_test_read_file(cut);
    assert_int_equal(strncmp(resumed, text, strlen(text)), 0); /* the kept lines as they were */
    assert_int_equal(lw_test_count_lines(resumed), 1 + t.n);
    assert_true(again.vote.mean == r.vote.mean && again.vote.lo == r.vote.lo && again.vote.hi == r.vote.hi);
    assert_true(again.solo.mean == r.solo.mean && again.difference.mean == r.difference.mean);
    assert_true(again.p_value == r.p_value);
    assert_false(lw_test_file_exists(partial));
    /* the report reads the records with their settings line: the intervals recomputed, the
     * settings shown */
    const char *inputs[] = {cut};
    lw_report_params rp = lw_report_default_params();
    char *page = lw_report_html(inputs, 1, &rp);
    if (!page) fail_msg("report: %s", lw_last_error());
    assert_non_null(strstr(page, "Recomputed from the per-item records"));
    assert_non_null(strstr(page, "--agents"));
    free(page);
    free(text), free(resumed);
    lw_task_free(&t);
}

/* ------------------------------------------------------------------ contexts */

/* The sender's input is [BOS] + its text (no chat): counted here with the tokenizer alone. A text
 * message of N tokens needs input + N - 1 <= n_ctx; one more was generated only up to the full
 * context and recorded as if asked for. */
static void test_message_must_fit(void **state) {
    (void)state;
    lw_task t;
    assert_int_equal(lw_task_story(3, 1, &t), 0);
    int ctx = lw_session_n_ctx(SA), longest = 0;
    for (int i = 0; i < t.n; i++) {
        int32_t *tok = NULL;
        int n = lw_tokenize_alloc(MS, t.items[i].sender, true, &tok);
        free(tok);
        assert_true(n > 1);
        assert_int_equal(lw_channel_input_tokens(SA, false, t.items[i].sender), n);
        if (n > longest) longest = n;
    }
    int most = ctx - longest + 1;
    /* the experiment: refused before any run, naming the largest value */
    lw_channel_experiment_params p = small_params();
    p.channels = "none,text";
    p.answer_tokens = 1;
    p.message_tokens = most + 1;
    lw_channel_experiment *e = lw_channel_experiment_new(SA, SB, &p);
    assert_non_null(e); /* the coarse check at creation knows no texts yet */
    lw_channel_experiment_result *r = NULL;
    counted_runs = 0;
    assert_int_equal(lw_channel_experiment_run(e, &t, -1, &r), -1);
    assert_int_equal(counted_runs, 0);
    char want[200];
    snprintf(want, sizeof want, "--message-tokens %d: item ", most + 1);
    if (!strstr(lw_last_error(), want)) fail_msg("\"%s\"", lw_last_error());
    snprintf(want, sizeof want, "use at most %d, or shorter texts", most);
    if (!strstr(lw_last_error(), want)) fail_msg("\"%s\"", lw_last_error());
    lw_channel_experiment_free(e);
    /* an answer that cannot follow the prompt and a full message: refused the same way */
    p.message_tokens = most;
    p.answer_tokens = ctx;
    e = lw_channel_experiment_new(SA, SB, &p);
    if (e) { /* the coarse check may refuse it already */
        assert_int_equal(lw_channel_experiment_run(e, &t, -1, &r), -1);
        assert_int_equal(counted_runs, 0);
        lw_channel_experiment_free(e);
    }
    assert_non_null(strstr(lw_last_error(), "--answer-tokens"));
    /* lw_channel_run item by item: the longest item's own limit fits, one more is refused */
    for (int i = 0; i < t.n; i++) {
        int mine = ctx - lw_channel_input_tokens(SA, false, t.items[i].sender) + 1;
        lw_channel_params cp = lw_channel_default_params();
        cp.kind = LW_CHANNEL_TEXT;
        cp.sender_temp = 0.0f;
        cp.answer_tokens = 1;
        cp.message_tokens = mine + 1;
        lw_channel_result cr;
        assert_int_equal(lw_channel_run(SA, SB, &cp, t.items[i].sender, t.items[i].receiver, &cr, NULL), -1);
        snprintf(want, sizeof want, "use at most %d for this item", mine);
        if (!strstr(lw_last_error(), want)) fail_msg("\"%s\"", lw_last_error());
        cp.kind = LW_CHANNEL_CIPHER;
        cp.sender_temp = 1.0f;
        assert_int_equal(lw_channel_run(SA, SB, &cp, t.items[i].sender, t.items[i].receiver, &cr, NULL), -1);
        if (!strstr(lw_last_error(), want)) fail_msg("cipher: \"%s\"", lw_last_error());
    }
    lw_task_free(&t);
}

/* A debate's later rounds hold the other agents' answers too: an answer that no longer fits was
 * generated only up to the full context, unseen. Questions of ctx - answer + 1 - d tokens: round 1
 * fits every one; in round 2 the other agent's answer comes first, and for some d the input still
 * fits while the answer does not (larger answers: the input itself does not fit, refused as before). */
static char *sender_of_tokens(const char *receiver, int target) {
    for (size_t len = 2;; len += 2) { /* "A a a ..." grown a word at a time to the target */
        char *text = calloc(len + 1, 1), *q = malloc(len + strlen(receiver) + 2);
        assert_non_null(text);
        assert_non_null(q);
        for (size_t k = 0; k + 2 <= len; k += 2) memcpy(text + k, k ? " a" : "A ", 2);
        sprintf(q, "%s %s", text, receiver);
        int32_t *tok = NULL;
        int n = lw_tokenize_alloc(MS, q, true, &tok);
        free(tok);
        free(q);
        if (n >= target) {
            assert_int_equal(n, target);
            return text;
        }
        free(text);
    }
}

static void test_debate_answer_must_fit(void **state) {
    (void)state;
    lw_task t;
    assert_int_equal(lw_task_story(1, 1, &t), 0);
    int ctx = lw_session_n_ctx(SA), answer = 8, refused = 0;
    lw_debate_experiment_params p = lw_debate_experiment_default_params();
    char spec[4000], want[200];
    snprintf(spec, sizeof spec, "%s:0,%s:0.9", PATH_S, PATH_S);
    p.agents = spec;
    p.debate.answer_tokens = answer;
    p.resamples = 50;
    assert_true(answer <= (ctx - 1) / 2); /* the coarse check up front passes */
    snprintf(want, sizeof want, "--answer-tokens %d does not fit: the agent's context of %d tokens holds", answer, ctx);
    for (int d = 0; d <= answer + 4; d++) {
        free(t.items[0].sender);
        t.items[0].sender = sender_of_tokens(t.items[0].receiver, ctx - answer + 1 - d);
        lw_debate_experiment_result dr;
        p.debate.rounds = 1;
        assert_int_equal(lw_debate_experiment_run(&p, &t, &dr), 0);
        p.debate.rounds = 2;
        if (lw_debate_experiment_run(&p, &t, &dr) != 0 && strstr(lw_last_error(), want)) refused++;
    }
    if (!refused) fail_msg("no question length made the answer not fit: \"%s\"", lw_last_error());
    lw_task_free(&t);
}

/* The context channel's receiver reads the sender's whole text before the prompt: a text that
 * leaves the answer no room is refused before any run (it failed at its item, mid-run). */
static void test_context_must_fit(void **state) {
    (void)state;
    lw_task t;
    assert_int_equal(lw_task_story(2, 1, &t), 0);
    int ctx = lw_session_n_ctx(SA);
    free(t.items[1].sender);
    t.items[1].sender = sender_of_tokens(t.items[1].receiver, ctx - 4); /* fits the sender, not the receiver */
    lw_channel_experiment_params p = small_params();
    p.channels = "none,context";
    p.answer_tokens = 8;
    lw_channel_experiment *e = lw_channel_experiment_new(SA, SB, &p);
    assert_non_null(e);
    lw_channel_experiment_result *r = NULL;
    counted_runs = 0;
    assert_int_equal(lw_channel_experiment_run(e, &t, -1, &r), -1);
    assert_int_equal(counted_runs, 0);
    if (!strstr(lw_last_error(), "--answer-tokens 8: item story-0001-") ||
        !strstr(lw_last_error(), "prompt and the sender's text leave room for"))
        fail_msg("\"%s\"", lw_last_error());
    lw_channel_experiment_free(e);
    lw_task_free(&t);
}

/* ------------------------------------------------------------------ outputs */

/* The summary's directory, removed at the last progress step so that the summary cannot be written. */
static char SUMMARY_DIR[1200];
static void remove_summary_dir_at_end(void *ctx, int done, int total) {
    (void)ctx;
    counted_runs++;
    if (done == total) assert_int_equal(rmdir(SUMMARY_DIR), 0);
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_outputs_appear_together(void **state) {
    (void)state;
    lw_task t;
    assert_int_equal(lw_task_story(3, 1, &t), 0);
    snprintf(SUMMARY_DIR, sizeof SUMMARY_DIR, "%s", lw_test_fresh_dir("summary-dir"));
    char summary[1300], partial[1300];
    snprintf(summary, sizeof summary, "%s/summary.json", SUMMARY_DIR);
    /* channel: the summary fails after every run; before, the records had been renamed already */
    lw_channel_experiment_params p = small_params();
    p.channels = "none,text";
    p.records = lw_test_tmpfile("together-records.jsonl");
    p.summary = summary;
    snprintf(partial, sizeof partial, "%s.partial", p.records);
    unlink(p.records);
    p.on_progress = remove_summary_dir_at_end;
    lw_channel_experiment *e = lw_channel_experiment_new(SA, SB, &p);
    lw_channel_experiment_result *r = NULL;
    assert_int_equal(lw_channel_experiment_run(e, &t, -1, &r), -1);
    assert_false(exists(p.records));
    assert_true(exists(partial)); /* the finished work, for --resume */
    lw_channel_experiment_free(e);
    /* resumed with the directory back: nothing reruns, both appear, the partial is gone */
    assert_int_equal(mkdir(SUMMARY_DIR, 0700), 0);
    p.resume = true;
    p.on_progress = count_progress;
    e = lw_channel_experiment_new(SA, SB, &p);
    counted_runs = 0;
    assert_int_equal(lw_channel_experiment_run(e, &t, -1, &r), 0);
    assert_int_equal(counted_runs, 0);
    assert_true(exists(p.records) && exists(summary) && !exists(partial));
    json_t *back = json_load_file(summary, 0, NULL);
    assert_true(json_equal(back, r->summary));
    json_decref(back);
    lw_channel_experiment_result_free(r);
    lw_channel_experiment_free(e);
    unlink(summary);

    /* debate: neither file, the partial kept; resumed, both appear and the partial goes */
    lw_debate_experiment_params dp = lw_debate_experiment_default_params();
    char spec[4000];
    snprintf(spec, sizeof spec, "%s:0,%s:0.9", PATH_S, PATH_S);
    dp.agents = spec;
    dp.debate.answer_tokens = 4;
    dp.resamples = 50;
    dp.records = lw_test_tmpfile("together-debate.jsonl");
    dp.summary = summary;
    dp.on_progress = remove_summary_dir_at_end;
    snprintf(partial, sizeof partial, "%s.partial", dp.records);
    unlink(dp.records);
    lw_debate_experiment_result dr;
    assert_int_equal(lw_debate_experiment_run(&dp, &t, &dr), -1);
    assert_false(exists(dp.records) || exists(summary));
    assert_true(exists(partial)); /* the finished items, for --resume */
    assert_int_equal(mkdir(SUMMARY_DIR, 0700), 0);
    dp.on_progress = NULL;
    dp.resume = true;
    assert_int_equal(lw_debate_experiment_run(&dp, &t, &dr), 0);
    assert_true(exists(dp.records) && exists(summary) && !exists(partial));
    back = json_load_file(summary, 0, NULL);
    assert_true(fabs(json_number_value(json_object_get(json_object_get(back, "vote"), "mean")) - dr.vote.mean) < 1e-12);
    json_decref(back);
    lw_task_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_text_accuracy_recomputed),
        cmocka_unit_test(test_selection_recomputed),
        cmocka_unit_test(test_debate_recomputed),
        cmocka_unit_test(test_debate_resume),
        cmocka_unit_test(test_outputs_appear_together),
        cmocka_unit_test(test_message_must_fit),
        cmocka_unit_test(test_debate_answer_must_fit),
        cmocka_unit_test(test_context_must_fit),
    };
    if (!lw_test_shared_path("models/stories260K.gguf") || !lw_test_shared_path("models/tinystories656K.gguf")) {
        fprintf(stderr, "skipped: the toy models in ../shared are not there (set LW_SHARED_DIR)\n");
        return 77;
    }
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
