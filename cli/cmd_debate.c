/* latentwire debate: N agents, R rounds, majority vote; accuracy with CIs against the
 * first agent answering alone (its round-1 answer), paired on the same items. */
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "latentwire/error.h"
#include "latentwire/files.h"
#include "latentwire/json.h"
#include "latentwire/channel.h"
#include "latentwire/retrieval.h"

static const char *USAGE =
    "usage: latentwire debate --agents M1.gguf[:TEMP],M2.gguf[:TEMP],... --task SPEC [options]\n"
    "  --agents LIST      models, each with its sampling temperature TEMP >= 0 (default 0.7; 0 = greedy) after\n"
    "                     the last ':' (so a path with a ':' needs :TEMP); an item listed twice, or two greedy\n"
    "                     agents of one model, are refused (a copy only repeats a vote)\n"
    "  --task SPEC        FILE.jsonl | gsm8k:N | story:N | fv:NAME[:N] | bio:N\n"
    "  --rounds R         (default 2)   --channel text|cipher (default text)\n"
    "  --answer-tokens N  (default 48)  --out ITEMS.jsonl  --json SUMMARY.json\n"
    "  --resamples N --seed N --data DIR (default $LW_SHARED_DIR/data, else ../shared/data)\n"
    "  --threads N        CPU threads of each agent's model (default: all cores)\n"
    "  --chat             each agent reads its input as a user turn in its model's chat template\n"
    "  Each agent reads the item's sender text (if any) and receiver prompt as its question.\n";

/* The --agents items, each MODEL[:TEMP] with TEMP a number >= 0 after the last ':'. An item
 * listed twice (cli_parse_list), or one model greedy twice ("m:0,m:0.0"), is refused: the copy
 * would only repeat a vote. The count or -1 (message set). */
static int parse_agents(const char *spec, char ***items) {
    int n = cli_parse_list("--agents", spec, items);
    for (int k = 0; k < n; k++) {
        const char *tok = (*items)[k], *colon = strrchr(tok, ':');
        size_t path_len = colon ? (size_t)(colon - tok) : strlen(tok);
        double temp = 0.7;
        const char *why = NULL;
        if (colon && (!cli_parse_float(colon + 1, &temp) || temp < 0))
            why = "its temperature after the last ':' must be a number >= 0 (0 = greedy)";
        else if (path_len == 0)
            why = "the model path is empty";
        for (int j = 0; !why && temp == 0 && j < k; j++) {
            const char *o = (*items)[j], *oc = strrchr(o, ':');
            double ot = 0.7;
            if (oc) cli_parse_float(oc + 1, &ot);
            if (ot == 0 && (size_t)(oc ? oc - o : (ptrdiff_t)strlen(o)) == path_len && !strncmp(o, tok, path_len))
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

int cmd_debate(int argc, char **argv) {
    const char *agents_spec = NULL, *task = NULL, *out = NULL, *json = NULL, *data = cli_default_data_dir();
    lw_debate_params dp = lw_debate_default_params();
    int resamples = 1000;
    lw_session_params sp = lw_session_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        int k;
        if (cli_wants_help(argc, argv)) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(a, "--chat")) dp.chat = true;
        else if (!v) return cli_option_error("debate", USAGE, a, NULL);
        else if (!strcmp(a, "--agents")) agents_spec = argv[++i];
        else if (!strcmp(a, "--task")) task = argv[++i];
        else if (!strcmp(a, "--out")) out = argv[++i];
        else if (!strcmp(a, "--json")) json = argv[++i];
        else if (!strcmp(a, "--data")) data = argv[++i];
        else if (!strcmp(a, "--channel") && cli_parse_choice(v, "text|cipher", &k))
            dp.channel = k ? LW_CHANNEL_CIPHER : LW_CHANNEL_TEXT, i++;
        else if (!strcmp(a, "--rounds") && cli_parse_int(v, 1, 100, &n)) dp.rounds = (int)n, i++;
        else if (!strcmp(a, "--answer-tokens") && cli_parse_int(v, 1, 4096, &n)) dp.answer_tokens = (int)n, i++;
        else if (!strcmp(a, "--resamples") && cli_parse_int(v, 100, 10000000, &n)) resamples = (int)n, i++;
        else if (!strcmp(a, "--seed") && cli_parse_int(v, 0, 1L << 62, &n)) dp.seed = (uint64_t)n, i++;
        else if (!strcmp(a, "--threads") && cli_parse_int(v, 1, CLI_MAX_THREADS, &n)) sp.n_threads = (int)n, i++;
        else return cli_option_error("debate", USAGE, a, v);
    }
    if (!agents_spec || !task) return cli_fail("debate", "--agents and --task are required");
    if (cli_check_output("debate", "--out", out, LW_OUT_PARTIAL, (const char *[]){"--task", task, NULL}) ||
        cli_check_output("debate", "--json", json, LW_OUT_FILE, (const char *[]){"--task", task, "--out", out, NULL}))
        return 1;
    lw_task t = {0};
    if (cli_load_task(task, data, dp.seed, &t) != 0) return cli_fail_lib("debate");
    enum { MAX_AGENTS = 16 };
    lw_agent agents[MAX_AGENTS];
    lw_model *models[MAX_AGENTS] = {0};
    int n_agents = 0, rc = 1;
    double *vote = NULL, *solo = NULL;
    FILE *rec = NULL;
    char partial[4096] = "";
    char **items = NULL;
    int n_items = parse_agents(agents_spec, &items);
    if (n_items < 0) {
        cli_fail_lib("debate");
        goto done;
    }
    if (n_items > MAX_AGENTS) {
        cli_fail("debate", "--agents: at most %d agents (got %d)", MAX_AGENTS, n_items);
        free(items);
        goto done;
    }
    for (int k = 0; k < n_items; k++) {
        char *tok = items[k], *colon = strrchr(tok, ':');
        double temp = 0.7;
        if (colon) {
            *colon = '\0';
            cli_parse_float(colon + 1, &temp); /* checked by parse_agents */
        }
        models[n_agents] = lw_model_load(tok, cli_model_params());
        lw_session *s = models[n_agents] ? lw_session_new(models[n_agents], sp) : NULL;
        if (!s) {
            cli_fail_lib("debate");
            free(items);
            goto done;
        }
        agents[n_agents++] = (lw_agent){.session = s, .temperature = (float)temp};
    }
    free(items);
    vote = calloc((size_t)t.n, sizeof(double));
    solo = calloc((size_t)t.n, sizeof(double));
    if (out) {
        snprintf(partial, sizeof partial, "%s.partial", out);
        rec = fopen(partial, "w");
        if (!rec) {
            cli_fail("debate", "--out %s: cannot write %s: %s", out, partial, strerror(errno));
            goto done;
        }
    }
    double wall = 0;
    for (int i = 0; i < t.n; i++) {
        const lw_task_item *it = &t.items[i];
        dp.numeric = it->scorer == LW_SCORE_NUMERIC;
        size_t ql = strlen(it->sender) + strlen(it->receiver) + 2;
        char *question = malloc(ql);
        snprintf(question, ql, "%s%s%s", it->sender, *it->sender ? " " : "", it->receiver);
        lw_debate_result r;
        if (lw_debate_run(agents, n_agents, &dp, question, &r) != 0) {
            free(question);
            cli_fail("debate", "item %s: %s", it->id, lw_last_error());
            goto done;
        }
        vote[i] = lw_score(it, r.final);
        solo[i] = lw_score(it, r.answers[0]);
        wall += r.cost.wall_s;
        if (rec) {
            json_t *answers = json_array();
            /* answers may end inside a UTF-8 character: whole characters only (cli_json_text) */
            for (int k = 0; k < r.rounds * r.n_agents; k++) json_array_append_new(answers, cli_json_text(r.answers[k]));
            json_t *line = json_pack("{s:s, s:o, s:o, s:o, s:i, s:s, s:f, s:f}", "id", it->id, "question",
                                     cli_json_text(question), "answers", answers, "final", cli_json_text(r.final),
                                     "final_agent", r.final_agent, "gold",
                                     it->gold, "score", vote[i], "solo_score", solo[i]);
            char *s = json_dumps(line, JSON_COMPACT);
            fprintf(rec, "%s\n", s);
            free(s);
            json_decref(line);
        }
        free(question);
        lw_debate_result_free(&r);
        if (cli_is_tty()) fprintf(stderr, "\rdebate: %d/%d items%s", i + 1, t.n, i + 1 == t.n ? "\n" : "");
    }
    if (rec) {
        fclose(rec);
        rec = NULL;
        if (rename(partial, out) != 0) {
            cli_fail("debate", "--out %s: cannot rename %s to it: %s", out, partial, strerror(errno));
            goto done;
        }
    }
    lw_ci cv, cs, d;
    double p;
    lw_ci_mean(vote, t.n, resamples, 0.95, dp.seed, &cv);
    lw_ci_mean(solo, t.n, resamples, 0.95, dp.seed, &cs);
    lw_ci_paired(vote, solo, t.n, resamples, 0.95, dp.seed, &d, &p);
    printf("debate: %d agents, %d rounds, channel %s, task %s (%d items)\n", n_agents, dp.rounds,
           lw_channel_name(dp.channel), task, t.n);
    printf("  majority vote       %.3f [%.3f, %.3f]\n", cv.mean, cv.lo, cv.hi);
    printf("  agent 0 alone (r1)  %.3f [%.3f, %.3f]\n", cs.mean, cs.lo, cs.hi);
    printf("  difference          %+.3f [%+.3f, %+.3f]  p = %.3f (paired, %s)\n", d.mean, d.lo, d.hi, p, d.method);
    printf("  %.2f s per item\n", wall / t.n);
    if (json) {
        json_t *diff = lw_ci_json(&d);
        json_object_set_new(diff, "p_value", json_real(p));
        json_t *root = json_pack("{s:o, s:o, s:o}", "vote", lw_ci_json(&cv), "solo", lw_ci_json(&cs), "difference", diff);
        int wrc = lw_json_save(json, root);
        json_decref(root);
        if (wrc != 0) {
            cli_fail_lib("debate");
            goto done;
        }
    }
    rc = 0;
done:
    if (rec) {
        fclose(rec);
        unlink(partial);
    }
    for (int k = 0; k < n_agents; k++) lw_session_free(agents[k].session);
    for (int k = 0; k < MAX_AGENTS; k++) lw_model_free(models[k]);
    free(vote);
    free(solo);
    lw_task_free(&t);
    return rc;
}
