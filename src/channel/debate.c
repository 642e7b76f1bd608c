/* Multi-agent debate with majority vote (see channel.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "channel/channel_internal.h"
#include "common/error.h"
#include "latentwire/task.h"

lw_debate_params lw_debate_default_params(void) {
    lw_debate_params p = {.rounds = 2, .channel = LW_CHANNEL_TEXT, .answer_tokens = 48, .numeric = false, .seed = 1};
    return p;
}

void lw_debate_result_free(lw_debate_result *r) {
    if (!r) return;
    for (int i = 0; r->answers && i < r->rounds * r->n_agents; i++) free(r->answers[i]);
    free(r->answers);
    free(r->final);
    memset(r, 0, sizeof *r);
}

/* What the vote compares: the last number, or the normalized first line. */
static char *vote_key(const char *answer, bool numeric) {
    if (numeric) {
        double v;
        if (!lw_last_number(answer, &v)) return strdup("");
        char buf[64];
        snprintf(buf, sizeof buf, "%.6g", v);
        return strdup(buf);
    }
    size_t n = strcspn(answer, "\n");
    char *line = strndup(answer, n);
    char *key = lw_normalize_answer(line);
    free(line);
    return key;
}

/* Majority over keys; ties go to the key first given by the lowest-numbered agent. */
int lw_majority_vote(char *const *answers, int n, bool numeric) {
    if (!answers) return lw_fail("majority vote: answers is NULL");
    if (n < 1) return lw_fail("majority vote: n = %d answers (need at least 1)", n);
    for (int i = 0; i < n; i++)
        if (!answers[i]) return lw_fail("majority vote: answer %d is NULL", i);
    char **keys = malloc(sizeof(char *) * (size_t)n);
    if (!keys) return lw_fail("out of memory");
    for (int i = 0; i < n; i++) keys[i] = vote_key(answers[i], numeric);
    int best = 0, best_count = 0;
    for (int i = 0; i < n; i++) {
        int count = 0;
        for (int j = 0; j < n; j++) count += !strcmp(keys[i], keys[j]);
        if (count > best_count) best = i, best_count = count; /* strict: earlier agent wins ties */
    }
    for (int i = 0; i < n; i++) free(keys[i]);
    free(keys);
    return best;
}

/* One agent's answer in one round. prev: the previous round's answers (NULL in round 1),
 * prev_msg: their CIPHER distributions. */
static int agent_turn(lw_agent *ag, int self, int n_agents, const lw_debate_params *p, const char *question,
                      char **prev, cipher_msg *prev_msg, int round, char **answer, cipher_msg *msg,
                      lw_channel_cost *cost) {
    side x = lw_ch_make_side(ag->session, &cost->a_forwarded, &cost->a_passes);
    lw_session_clear(ag->session, 0);
    affixes af;
    int rc = lw_ch_get_affixes(&x, p->chat, &af);
    if (rc == 0) rc = lw_ch_open_input(&x, &af);
    for (int j = 0; rc == 0 && prev && j < n_agents; j++) {
        if (j == self) continue;
        if (p->channel == LW_CHANNEL_CIPHER) {
            const float *E = lw_model_token_embeddings_cached(lw_session_model(ag->session));
            int V = x.info.n_vocab, d = x.info.n_embd, n = prev_msg[j].n_steps;
            float *soft = malloc(sizeof(float) * (size_t)(n ? n : 1) * d);
            for (int t = 0; t < n; t++) lw_ch_expected_embedding(prev_msg[j].p + (size_t)t * V, E, V, d, soft + (size_t)t * d);
            rc = E ? lw_ch_feed(&x, NULL, soft, n) : -1;
            cost->message_floats += (int64_t)n * V;
            free(soft);
        } else if (prev[j][0]) {
            rc = lw_ch_feed_text(&x, prev[j]);
            cost->message_bytes += (int64_t)strlen(prev[j]);
        }
    }
    if (rc == 0) rc = lw_ch_feed_text_tail(&x, question, af.suffix);
    free(af.prefix);
    free(af.suffix);
    if (rc != 0 || lw_ch_check_generation_fits(&x, p->answer_tokens, "--answer-tokens", "agent") != 0) return -1;
    if (p->channel == LW_CHANNEL_CIPHER) {
        lw_channel_params cp = lw_channel_default_params();
        cp.message_tokens = p->answer_tokens;
        cp.sender_temp = ag->temperature > 0 ? ag->temperature : 1.0f;
        lw_channel_result r = {0};
        rc = lw_ch_cipher_generate(&x, &cp, msg, &r);
        cost->a_generated += r.cost.a_generated;
        *answer = r.message ? strdup(r.message) : strdup("");
        lw_channel_result_free(&r);
        return rc;
    }
    lw_gen_params gp = lw_gen_default_params();
    gp.max_tokens = p->answer_tokens;
    gp.temperature = ag->temperature;
    gp.seed = (uint32_t)(p->seed + 1000u * (uint64_t)round + (uint64_t)self);
    int32_t *out = malloc(sizeof(int32_t) * (size_t)(p->answer_tokens + 1));
    int n = lw_generate(ag->session, 0, NULL, 0, &gp, out, p->answer_tokens);
    if (n >= 0) {
        cost->a_generated += n;
        cost->a_forwarded += n > 0 ? n - 1 : 0;
        *answer = lw_detokenize(lw_session_model(ag->session), out, n, false);
    }
    free(out);
    lw_session_clear(ag->session, 0);
    return n >= 0 && *answer ? 0 : -1;
}

int lw_debate_run(lw_agent *agents, int n_agents, const lw_debate_params *p, const char *question,
                  lw_debate_result *out) {
    if (!out) return lw_fail("debate: out is NULL");
    memset(out, 0, sizeof *out);
    if (!agents || !p) return lw_fail("debate: %s is NULL", agents ? "params" : "agents");
    if (n_agents < 1 || p->rounds < 1) return lw_fail("debate: need at least one agent and one round");
    if (!question || !*question) return lw_fail("debate: the question is empty");
    if (p->channel != LW_CHANNEL_TEXT && p->channel != LW_CHANNEL_CIPHER)
        return lw_fail("debate: the channel must be text or cipher");
    if (p->channel == LW_CHANNEL_CIPHER)
        for (int i = 1; i < n_agents; i++)
            if (!lw_model_same_vocab(lw_session_model(agents[0].session), lw_session_model(agents[i].session)))
                return lw_fail("debate: CIPHER needs one vocabulary, and agents 0 and %d differ", i);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    out->n_agents = n_agents;
    out->rounds = p->rounds;
    out->answers = calloc((size_t)n_agents * p->rounds, sizeof(char *));
    cipher_msg *prev_msg = calloc((size_t)n_agents, sizeof *prev_msg), *cur_msg = calloc((size_t)n_agents, sizeof *cur_msg);
    int rc = 0;
    for (int r = 0; rc == 0 && r < p->rounds; r++) {
        char **prev = r > 0 ? out->answers + (size_t)(r - 1) * n_agents : NULL;
        for (int i = 0; rc == 0 && i < n_agents; i++)
            rc = agent_turn(&agents[i], i, n_agents, p, question, prev, prev_msg, r, &out->answers[(size_t)r * n_agents + i],
                            &cur_msg[i], &out->cost);
        for (int i = 0; i < n_agents; i++) {
            free(prev_msg[i].p);
            prev_msg[i] = cur_msg[i];
            memset(&cur_msg[i], 0, sizeof cur_msg[i]);
        }
    }
    for (int i = 0; i < n_agents; i++) free(prev_msg[i].p);
    free(prev_msg);
    free(cur_msg);
    if (rc == 0) {
        char **last = out->answers + (size_t)(p->rounds - 1) * n_agents;
        out->final_agent = lw_majority_vote(last, n_agents, p->numeric);
        out->final = strdup(last[out->final_agent]);
    } else {
        lw_debate_result_free(out);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    out->cost.wall_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    return rc;
}
