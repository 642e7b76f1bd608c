/* latentwire verdict PLAN RECORDS...: the pre-registered hypotheses of PLAN decided on the
 * per-item records of runs made under it (the library does the deciding: latentwire/verdict.h). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "latentwire/verdict.h"

static const char *USAGE =
    "usage: latentwire verdict PLAN.json RECORDS.jsonl... [--json]\n"
    "  decides each hypothesis of PLAN (latentwire.plan/1) on the per-item records (latentwire.items/1) of\n"
    "  runs made under it: PASS when the one-sided p, Holm-adjusted across the plan, is <= alpha; FAIL when\n"
    "  the (1 - alpha) interval lies on the null side of the threshold; else INCONCLUSIVE. Records made\n"
    "  under another plan, or under this plan before it was edited, are refused.\n"
    "  --json   one JSON object on stdout: plan, title, plan_sha256, alpha, correction, n_records, hypotheses (per\n"
    "           hypothesis: id, claim, verdict, estimate, ci {lo, hi, level, method}, p, p_adjusted, test, n;\n"
    "           n_clusters and design_effect where the records name clusters)\n";

/* A table cell of 9 characters: four decimals, or scientific notation from 1e6 on (a value near
 * the bound 1e100 printed 100 digits). */
static void fixed_or_sci(char *buf, size_t size, double x) {
    snprintf(buf, size, fabs(x) < 1e6 ? "%+.4f" : "%+.3e", x);
}

static json_t *verdict_json(const lw_plan *plan, const lw_verdict *v, int n, double alpha, int64_t n_records,
                            const char *path) {
    json_t *hs = json_array();
    for (int i = 0; i < n; i++) {
        json_t *h = json_pack("{s:s, s:o, s:s, s:f, s:{s:f, s:f, s:f, s:s}, s:f, s:f, s:s, s:i}", "id", v[i].id, "claim",
                              cli_json_text(v[i].claim), "verdict", lw_verdict_name(v[i].verdict), "estimate",
                              v[i].estimate, "ci", "lo", v[i].ci.lo, "hi", v[i].ci.hi, "level", 1.0 - alpha, "method",
                              v[i].ci.method ? v[i].ci.method : "", "p", v[i].p, "p_adjusted", v[i].p_adjusted, "test",
                          v[i].test, "n", v[i].n);
        if (h && v[i].no_spread) json_object_set_new(h, "no_spread", json_true());
        if (h && v[i].ci.n_clusters > 0) { /* items in clusters: the test counted n / design_effect items */
            json_object_set_new(h, "n_clusters", json_integer(v[i].ci.n_clusters));
            json_object_set_new(h, "design_effect", json_real(v[i].ci.design_effect));
        }
        if (!h || json_array_append_new(hs, h) != 0) { /* never a document missing a hypothesis */
            json_decref(hs);
            return NULL;
        }
    }
    return json_pack("{s:o, s:o, s:s, s:f, s:s, s:I, s:o}", "plan", cli_json_text(path), "title",
                     cli_json_text(lw_plan_title(plan)), "plan_sha256", lw_plan_sha256(plan), "alpha", alpha,
                     "correction", lw_plan_correction(plan), "n_records", (json_int_t)n_records, "hypotheses", hs);
}

int cmd_verdict(int argc, char **argv) {
    if (cli_options_once("verdict", USAGE, &argc, argv)) return 2;
    if (cli_wants_help(argc, argv)) {
        cli_print_help("verdict", USAGE);
        return 0;
    }
    bool json = false;
    const char *plan_path = NULL;
    const char **records = calloc((size_t)argc, sizeof *records);
    int n_records = 0;
    if (!records) return cli_fail("verdict", "out of memory");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = true;
        else if (argv[i][0] == '-' && argv[i][1] == '-') {
            free(records);
            return cli_option_error("verdict", USAGE, argv[i], NULL);
        } else if (!plan_path) plan_path = argv[i];
        else records[n_records++] = argv[i];
    }
    if (!plan_path || n_records == 0) { /* one line, as for every bad input (the usage is --help's) */
        free(records);
        return cli_fail("verdict", "%s: give the plan and at least one records file (latentwire verdict --help)",
                        plan_path ? "no RECORDS.jsonl" : "no PLAN.json"),
               2;
    }
    lw_plan *plan = lw_plan_load(plan_path);
    lw_items *items = plan ? lw_items_load(records, n_records) : NULL;
    lw_verdict *v = NULL;
    int rc = plan && items && lw_verdict_evaluate(plan, items, &v) == 0 ? 0 : cli_fail_lib("verdict");
    if (rc == 0) {
        int n = lw_plan_n_hypotheses(plan);
        double alpha = lw_plan_alpha(plan);
        if (json) {
            json_t *doc = verdict_json(plan, v, n, alpha, lw_items_count(items), plan_path);
            rc = doc ? cli_print_json("verdict", doc) : cli_fail("verdict", "could not write a hypothesis as JSON");
        } else {
            /* the plan's title, ids and conditions are the file's text: printed with control bytes
             * escaped, so that a plan cannot drive the terminal (ESC[2J cleared it) */
            char line[4096];
            snprintf(line, sizeof line, "plan %s (sha256 %.12s...): %s; alpha %g, intervals at %g%%", plan_path,
                     lw_plan_sha256(plan), lw_plan_title(plan), alpha, 100 * (1 - alpha));
            cli_put_safe(stdout, line);
            putchar('\n');
            printf("%-10s %-13s %9s  %-22s %9s %9s  %5s  %s\n", "id", "verdict", "estimate", "interval", "p",
                   "p (adj.)", "n", "claim; test; interval");
            for (int i = 0; i < n; i++) {
                /* the interval's method is printed beside the test: they can differ (a binomial test beside a
                 * clustered interval, an inverted Newcombe p beside Newcombe's paired interval), and a reader
                 * should see which interval the verdict's FAIL rests on */
                char est[32], lo[32], hi[32];
                fixed_or_sci(est, sizeof est, v[i].estimate);
                fixed_or_sci(lo, sizeof lo, v[i].ci.lo);
                fixed_or_sci(hi, sizeof hi, v[i].ci.hi);
                int k = snprintf(line, sizeof line, "%-10s %-13s %9s  [%9s, %9s] %9.3g %9.3g  %5d  %s; %s; %s",
                                 v[i].id, lw_verdict_name(v[i].verdict), est, lo, hi, v[i].p,
                                 v[i].p_adjusted, v[i].n, v[i].claim, v[i].test, v[i].ci.method ? v[i].ci.method : "?");
                if (v[i].ci.n_clusters > 0 && k >= 0 && (size_t)k < sizeof line)
                    snprintf(line + k, sizeof line - (size_t)k, " (%d clusters, design effect %.2f)", v[i].ci.n_clusters,
                             v[i].ci.design_effect);
                cli_put_safe(stdout, line);
                putchar('\n');
            }
        }
    }
    free(v);
    lw_items_free(items);
    lw_plan_free(plan);
    free(records);
    return rc;
}
