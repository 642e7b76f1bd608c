/* The debate experiment (latentwire/channel_experiment.h): agents parsed and loaded, every item
 * debated (lw_debate_run), the vote and agent 0 alone scored, per-item records, statistics. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
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
    json_t *line = json_pack("{s:s, s:o, s:o, s:o, s:i, s:s, s:f, s:f}", "id", it->id, "question",
                             lw_json_text(question), "answers", answers, "final", lw_json_text(r->final),
                             "final_agent", r->final_agent, "gold", it->gold, "score", vote, "solo_score", solo);
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

/* Every item debated, its records written to partial (NULL: none). 0 or -1. */
static int debate_items(const lw_debate_experiment_params *p, panel *a, const lw_task *t, const char *partial,
                        double *vote, double *solo, double *wall) {
    FILE *rec = NULL;
    if (partial && !(rec = fopen(partial, "w")))
        return lw_fail("--out %s: cannot write %s: %s", p->records, partial, strerror(errno));
    int rc = 0;
    for (int i = 0; rc == 0 && i < t->n; i++) {
        rc = debate_item(p, a, &t->items[i], rec, &vote[i], &solo[i], wall);
        if (rc == 0 && p->on_progress) p->on_progress(p->progress_ctx, i + 1, t->n);
    }
    if (rec && fclose(rec) != 0 && rc == 0) rc = lw_fail("cannot write %s: %s", partial, strerror(errno));
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

int lw_debate_experiment_run(const lw_debate_experiment_params *p, const lw_task *t, lw_debate_experiment_result *out) {
    memset(out, 0, sizeof *out);
    panel a = {0};
    double *vote = calloc((size_t)(t->n ? t->n : 1), sizeof(double));
    double *solo = calloc((size_t)(t->n ? t->n : 1), sizeof(double));
    char *partial = p->records ? malloc(strlen(p->records) + 9) : NULL;
    int rc = !vote || !solo || (p->records && !partial) ? lw_fail("debate: out of memory") : panel_load(p, &a);
    if (partial) snprintf(partial, strlen(p->records) + 9, "%s.partial", p->records);
    double wall = 0;
    if (rc == 0) rc = check_answers_fit(p, &a);
    bool opened = rc == 0; /* the partial is this run's from here on */
    if (rc == 0) rc = debate_items(p, &a, t, partial, vote, solo, &wall);
    if (rc == 0) {
        *out = (lw_debate_experiment_result){.n_agents = a.n, .rounds = p->debate.rounds, .n_items = t->n,
                                             .channel = p->debate.channel, .wall_s = wall};
        lw_ci_mean(vote, t->n, p->resamples, 0.95, p->debate.seed, &out->vote);
        lw_ci_mean(solo, t->n, p->resamples, 0.95, p->debate.seed, &out->solo);
        lw_ci_paired(vote, solo, t->n, p->resamples, 0.95, p->debate.seed, &out->difference, &out->p_value);
        rc = write_outputs(p, partial, out);
    }
    if (rc != 0 && partial && opened) unlink(partial); /* no resume in debate: a failed run's records go */
    panel_free(&a);
    free(vote);
    free(solo);
    free(partial);
    return rc;
}

int lw_debate_experiment_save(const lw_debate_experiment_result *r, const char *path) {
    json_t *diff = lw_ci_json(&r->difference);
    json_object_set_new(diff, "p_value", json_real(r->p_value));
    json_t *root =
        json_pack("{s:o, s:o, s:o}", "vote", lw_ci_json(&r->vote), "solo", lw_ci_json(&r->solo), "difference", diff);
    int rc = lw_json_save(path, root);
    json_decref(root);
    return rc;
}
