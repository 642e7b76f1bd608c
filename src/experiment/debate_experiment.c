/* The debate experiment (latentwire/channel_experiment.h): agents parsed and loaded, every item
 * debated (lw_debate_run), the vote and agent 0 alone scored, per-item records, statistics. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "eval/eval.h"
#include "latentwire/channel_experiment.h"
#include "latentwire/error.h"
#include "latentwire/files.h"
#include "latentwire/json.h"
#include "latentwire/records.h"
#include "latentwire/textio.h"

enum { MAX_AGENTS = 16 };

lw_debate_experiment_params lw_debate_experiment_default_params(void) {
    return (lw_debate_experiment_params){.model = lw_model_default_params(),
                                         .session = lw_session_default_params(),
                                         .debate = lw_debate_default_params(),
                                         .resamples = 1000};
}

/* An agent's temperature: a finite number (spaces around it allowed). */
static bool parse_number(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (end != s && (*end == ' ' || *end == '\t' || *end == '\n')) end++;
    if (end == s || *end || errno || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* An item MODEL[:TEMP]: the length of its path and its temperature (default 0.7). False when
 * the text after the last ':' is no number >= 0. */
static bool agent_item(const char *tok, size_t *path_len, double *temp) {
    const char *colon = strrchr(tok, ':');
    *path_len = colon ? (size_t)(colon - tok) : strlen(tok);
    *temp = 0.7;
    return !colon || (parse_number(colon + 1, temp) && *temp >= 0);
}

/* Whether two agents' model paths (not NUL-terminated) name one file: by inode when both
 * exist (another spelling, a link), else as text. */
static bool same_model(const char *a, size_t na, const char *b, size_t nb) {
    char *x = strndup(a, na), *y = strndup(b, nb);
    bool same = x && y && (lw_same_file(x, y) || !strcmp(x, y));
    free(x);
    free(y);
    return same;
}

/* The agents' items (lw_list_split: an item listed twice is refused), each checked; one model
 * file greedy twice, in any spelling of the path or the number ("m:0,./m:0.0", a link), is refused
 * too: the copy would only repeat a vote. Sampled copies of one model are independent samplers
 * (each agent its own seed), the usual same-model debate. The count or -1 (message set). */
static int parse_agents(const char *spec, char ***items) {
    int n = lw_list_split("--agents", spec, items);
    for (int k = 0; k < n; k++) {
        const char *tok = (*items)[k], *why = NULL;
        size_t path_len, other_len;
        double temp, other_temp;
        if (!agent_item(tok, &path_len, &temp))
            why = "its temperature after the last ':' must be a number >= 0 (0 = greedy)";
        else if (path_len == 0)
            why = "the model path is empty";
        for (int j = 0; !why && j < k; j++) {
            const char *o = (*items)[j];
            agent_item(o, &other_len, &other_temp);
            if (temp == 0 && other_temp == 0 && same_model(o, other_len, tok, path_len))
                why = "this greedy agent is listed twice (its copy would only repeat its vote)";
        }
        if (why) {
            lw_fail("--agents item \"%s\": %s", tok, why);
            free(*items);
            *items = NULL;
            return -1;
        }
    }
    return n;
}

/* The agents of a run: their models and sessions (owned). */
typedef struct {
    lw_agent agents[MAX_AGENTS];
    lw_model *models[MAX_AGENTS];
    int n;
} panel;

static void panel_free(panel *a) {
    for (int k = 0; k < a->n; k++) lw_session_free(a->agents[k].session);
    for (int k = 0; k < MAX_AGENTS; k++) lw_model_free(a->models[k]);
}

/* Every agent of the spec, its model loaded. 0 or -1 (message set). */
static int panel_load(const lw_debate_experiment_params *p, panel *a) {
    char **items = NULL;
    if (!p->agents) return lw_fail("debate: no agents given (--agents M1.gguf[:TEMP],...)");
    int n = parse_agents(p->agents, &items), rc = 0;
    if (n < 0) return -1;
    if (n > MAX_AGENTS) rc = lw_fail("--agents: at most %d agents (got %d)", MAX_AGENTS, n);
    for (int k = 0; rc == 0 && k < n; k++) {
        size_t path_len;
        double temp;
        agent_item(items[k], &path_len, &temp); /* checked by parse_agents */
        items[k][path_len] = '\0';
        a->models[a->n] = lw_model_load(items[k], p->model);
        lw_session *s = a->models[a->n] ? lw_session_new(a->models[a->n], p->session) : NULL;
        if (!s) rc = -1;
        else a->agents[a->n++] = (lw_agent){.session = s, .temperature = (float)temp};
    }
    free(items);
    return rc;
}

/* Every agent's context must hold what it reads and writes in a round: after the first round the
 * others' answers (each up to --answer-tokens), the question and its own answer. Checked before
 * any work: otherwise the first item failed with "tokens do not fit the context ... use shorter
 * texts", naming neither the option nor its limit. At least one token of question is counted. */
static int check_answers_fit(const lw_debate_experiment_params *p, const panel *a) {
    int answers = p->debate.rounds > 1 ? a->n : 1;
    for (int k = 0; k < a->n; k++) {
        int ctx = lw_session_n_ctx(a->agents[k].session);
        int most = (ctx - 1) / answers;
        if (p->debate.answer_tokens > most)
            return lw_fail("--answer-tokens %d: %d answer%s of that length and the question do not fit agent %d's "
                           "context of %d tokens: use at most %d, less the tokens of the question",
                           p->debate.answer_tokens, answers, answers == 1 ? "" : "s", k, ctx, most);
    }
    return 0;
}

/* An item's question: its sender text (if any), a space, its receiver prompt. malloc'd. */
static char *question_of(const lw_task_item *it) {
    size_t ql = strlen(it->sender) + strlen(it->receiver) + 2;
    char *q = malloc(ql);
    if (q) snprintf(q, ql, "%s%s%s", it->sender, *it->sender ? " " : "", it->receiver);
    return q;
}

static int write_record(FILE *rec, const lw_task_item *it, const char *question, const lw_debate_result *r,
                        double vote, double solo) {
    json_t *answers = json_array();
    /* answers may end inside a UTF-8 character: whole characters only (lw_json_text) */
    for (int k = 0; k < r->rounds * r->n_agents; k++) json_array_append_new(answers, lw_json_text(r->answers[k]));
    json_t *line = json_pack("{s:s, s:o, s:o, s:o, s:i, s:s, s:f, s:f, s:f}", "id", it->id, "question",
                             lw_json_text(question), "answers", answers, "final", lw_json_text(r->final),
                             "final_agent", r->final_agent, "gold", it->gold, "score", vote, "solo_score", solo,
                             "wall_s", r->cost.wall_s);
    int rc = lw_records_write(rec, line);
    json_decref(line);
    return rc;
}

/* Item i debated and scored: vote[i], solo[i], its record. 0 or -1 (message set). */
static int debate_item(const lw_debate_experiment_params *p, panel *a, const lw_task_item *it, FILE *rec,
                       double *vote, double *solo, double *wall) {
    lw_debate_params dp = p->debate;
    dp.numeric = it->scorer == LW_SCORE_NUMERIC;
    char *question = question_of(it);
    lw_debate_result r;
    if (!question) return lw_fail("debate: out of memory");
    if (lw_debate_run(a->agents, a->n, &dp, question, &r) != 0) {
        free(question);
        return lw_fail_prefix("item %s: ", it->id);
    }
    *vote = lw_score(it, r.final);
    *solo = lw_score(it, r.answers[0]);
    if (isnan(*vote) || isnan(*solo)) { /* an item no score can be given (lw_score says why) */
        free(question);
        lw_debate_result_free(&r);
        return -1;
    }
    *wall += r.cost.wall_s;
    int rc = rec && write_record(rec, it, question, &r, *vote, *solo) != 0
                 ? lw_fail("cannot write the records: %s", strerror(errno))
                 : 0;
    free(question);
    lw_debate_result_free(&r);
    return rc;
}

/* ---- resumable records ---- */

static const char *const PAST_KEY[] = {"id"};

/* Every setting that changes a record, as a resumed run compares them. NULL when out of memory. */
static json_t *settings_json(const lw_debate_experiment_params *p, const panel *a, const lw_task *t) {
    char th[65];
    lw_task_parts_sha256(t, 1, th);
    json_t *agents = json_array();
    const lw_model *models[MAX_AGENTS];
    for (int k = 0; agents && k < a->n; k++) {
        models[k] = a->models[k];
        json_array_append_new(agents, json_pack("{s:s?, s:f}", "model", lw_model_sha256(a->models[k]), "temperature",
                                                (double)a->agents[k].temperature));
    }
    json_t *s = agents ? json_pack("{s:o, s:s, s:i, s:s, s:i, s:I, s:b}", "--agents", agents, "--task", th, "--rounds",
                                   p->debate.rounds, "--channel", lw_channel_name(p->debate.channel),
                                   "--answer-tokens", p->debate.answer_tokens, "--seed", (json_int_t)p->debate.seed,
                                   "--chat", p->debate.chat)
                       : NULL;
    if (s) lw_json_settings_gpu_layers(s, models, a->n);
    return s;
}

/* A kept record is one this run makes: an item of the task, scores a run gives (0 or 1 unless the
 * scorer counts facts), seconds >= 0. Otherwise it would enter the statistics as it is. 0 or -1. */
static int check_past(const lw_records *past, const char *partial, const lw_task *t) {
    for (int j = 0; j < past->n; j++) {
        json_t *o = past->rec[j];
        const char *id = json_string_value(json_object_get(o, "id"));
        const lw_task_item *it = NULL;
        for (int i = 0; id && !it && i < t->n; i++)
            if (!strcmp(t->items[i].id, id)) it = &t->items[i];
        const char *why = NULL;
        json_t *w = json_object_get(o, "wall_s");
        if (!it) why = "is not an item of this task";
        else if (!json_is_number(json_object_get(o, "solo_score"))) why = "has no solo_score";
        else if (!(json_is_number(w) && json_number_value(w) >= 0 && json_number_value(w) < 1e9))
            why = "has no time in seconds in [0, 1e9) (wall_s)";
        for (int k = 0; !why && k < 2 && it->scorer != LW_SCORE_FACTS; k++) {
            double v = json_number_value(json_object_get(o, k ? "solo_score" : "score"));
            if (v != 0.0 && v != 1.0) why = "has a score other than 0 or 1, which its scorer gives";
        }
        if (why)
            return lw_fail("--resume: %s: the record of item %s %s: the file was edited; run without --resume to start "
                           "over", partial, id ? id : "?", why);
    }
    return lw_records_check_range(past, partial, "score", 0, 1, false, "--resume") == 0 &&
                   lw_records_check_range(past, partial, "solo_score", 0, 1, false, "--resume") == 0
               ? 0
               : -1;
}

/* RECORDS.partial opened for this run: with resume, the records of an earlier run with the same
 * settings kept and loaded into *past; otherwise begun anew. 0 or -1. */
static int open_records(const lw_debate_experiment_params *p, const panel *a, const lw_task *t, const char *partial,
                        lw_records *past, FILE **rec) {
    json_t *settings = settings_json(p, a, t);
    int rc = settings ? 0 : lw_fail("debate: out of memory");
    if (rc == 0 && p->resume &&
        (lw_records_load(past, partial, settings, PAST_KEY, 1, "score", "--resume", NULL) != 0 ||
         check_past(past, partial, t) != 0))
        rc = -1;
    if (rc == 0 && !(*rec = lw_records_open(partial, settings, past))) rc = -1;
    json_decref(settings);
    return rc;
}

/* Item it's record in past, or NULL. */
static json_t *past_record(const lw_records *past, const lw_task_item *it) {
    if (past->n == 0) return NULL;
    json_t *probe = json_pack("{s:s}", "id", it->id);
    char *key = probe ? lw_records_key(probe, PAST_KEY, 1) : NULL;
    json_t *o = key ? lw_records_find(past, key) : NULL;
    free(key);
    json_decref(probe);
    return o;
}

/* Every item debated (or taken from past), its record appended to rec (NULL: none). 0 or -1. */
static int debate_items(const lw_debate_experiment_params *p, panel *a, const lw_task *t, FILE *rec,
                        const lw_records *past, double *vote, double *solo, double *wall) {
    int rc = 0;
    for (int i = 0; rc == 0 && i < t->n; i++) {
        json_t *done = past_record(past, &t->items[i]);
        if (done) {
            vote[i] = json_number_value(json_object_get(done, "score"));
            solo[i] = json_number_value(json_object_get(done, "solo_score"));
            *wall += json_number_value(json_object_get(done, "wall_s"));
        } else
            rc = debate_item(p, a, &t->items[i], rec, &vote[i], &solo[i], wall);
        if (rc == 0 && p->on_progress) p->on_progress(p->progress_ctx, i + 1, t->n);
    }
    return rc;
}

/* The records (from partial) and the summary under their names, as one group: both appear or
 * neither. 0 or -1. */
static int write_outputs(const lw_debate_experiment_params *p, const char *partial,
                         const lw_debate_experiment_result *r) {
    if (!p->records && !p->summary) return 0;
    if (lw_atomic_group_begin() != 0) return -1;
    int rc = p->summary ? lw_debate_experiment_save(r, p->summary) : 0; /* the records last, as channel's */
    if (rc == 0 && p->records) rc = lw_atomic_group_add_kept(partial, p->records);
    return lw_atomic_group_finish(rc);
}

/* What can be refused before any model loads: an empty task or --resamples 0 returned 0 with
 * every interval a zero (lw_ci_mean refused, unseen), and --out and --json one file had the
 * records renamed over the summary. 0 or -1. */
static int check_params(const lw_debate_experiment_params *p, const lw_task *t) {
    if (t->n < 1 || !t->items)
        return lw_fail("debate: the task has no items (n = %d): give a task with at least one item", t->n);
    if (lw_eval_check_resampling("debate: --resamples", p->resamples, 0.95) != 0) return -1;
    const lw_output_spec outs[] = {{"--out", p->records, LW_OUT_PARTIAL}, {"--json", p->summary, LW_OUT_FILE}};
    return lw_outputs_distinct(outs, 2);
}

int lw_debate_experiment_run(const lw_debate_experiment_params *p, const lw_task *t, lw_debate_experiment_result *out) {
    if (!p || !t || !out)
        return lw_fail("lw_debate_experiment_run: the %s is NULL", !p ? "params" : !t ? "task" : "result out");
    memset(out, 0, sizeof *out);
    if (check_params(p, t) != 0) return -1;
    panel a = {0};
    double *vote = calloc((size_t)(t->n ? t->n : 1), sizeof(double));
    double *solo = calloc((size_t)(t->n ? t->n : 1), sizeof(double));
    char *partial = p->records ? malloc(strlen(p->records) + 9) : NULL;
    int rc = !vote || !solo || (p->records && !partial) ? lw_fail("debate: out of memory") : panel_load(p, &a);
    if (partial) snprintf(partial, strlen(p->records) + 9, "%s.partial", p->records);
    double wall = 0;
    lw_records past = {0};
    FILE *rec = NULL;
    if (rc == 0 && p->resume && !partial) rc = lw_fail("debate: resume needs the records file it resumes (--out)");
    if (rc == 0) rc = check_answers_fit(p, &a);
    if (rc == 0 && partial) rc = open_records(p, &a, t, partial, &past, &rec);
    if (rc == 0) rc = debate_items(p, &a, t, rec, &past, vote, solo, &wall);
    if (rec && fclose(rec) != 0 && rc == 0) rc = lw_fail("cannot write %s: %s", partial, strerror(errno));
    if (rc == 0) {
        *out = (lw_debate_experiment_result){.n_agents = a.n, .rounds = p->debate.rounds, .n_items = t->n,
                                             .channel = p->debate.channel, .wall_s = wall};
        lw_ci_mean(vote, t->n, p->resamples, 0.95, p->debate.seed, &out->vote);
        lw_ci_mean(solo, t->n, p->resamples, 0.95, p->debate.seed, &out->solo);
        lw_ci_paired(vote, solo, t->n, p->resamples, 0.95, p->debate.seed, &out->difference, &out->p_value);
        rc = write_outputs(p, partial, out);
    }
    /* a failed run keeps RECORDS.partial: its items are the work --resume reuses */
    lw_records_free(&past);
    panel_free(&a);
    free(vote);
    free(solo);
    free(partial);
    return rc;
}

int lw_debate_experiment_save(const lw_debate_experiment_result *r, const char *path) {
    if (!r || !path) return lw_fail("lw_debate_experiment_save: the %s is NULL", !r ? "result" : "path");
    json_t *diff = lw_ci_json(&r->difference);
    json_object_set_new(diff, "p_value", json_real(r->p_value));
    json_t *root =
        json_pack("{s:o, s:o, s:o}", "vote", lw_ci_json(&r->vote), "solo", lw_ci_json(&r->solo), "difference", diff);
    int rc = lw_json_save(path, root);
    json_decref(root);
    return rc;
}
