/* A race's plan checked before the run: every condition a hypothesis names is a cell the race
 * will write (see lw_race_check_plan in latentwire/race.h). */
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "latentwire/race.h"

/* Whether the race writes condition `cond`: a budget-less channel by its name, a coded one as
 * NAME@K with K one of the run's budgets (K written as the records write it: %lld). */
static bool race_writes(const char *cond, const lw_race_channel *ch, int n_ch, const int64_t *budgets, int n_b) {
    for (int c = 0; c < n_ch; c++) {
        if (!lw_race_channel_budgeted(&ch[c])) {
            if (!strcmp(cond, ch[c].name)) return true;
            continue;
        }
        for (int b = 0; b < n_b; b++) {
            char cell[96];
            snprintf(cell, sizeof cell, "%s@%lld", ch[c].name, (long long)budgets[b]);
            if (!strcmp(cond, cell)) return true;
        }
    }
    return false;
}

int lw_race_check_plan(const lw_plan *plan, const char *plan_path, const lw_race_channel *channels, int n_channels,
                       const int64_t *budgets, int n_budgets) {
    if (!plan) return lw_fail("race: the plan is NULL");
    if ((!channels && n_channels > 0) || (!budgets && n_budgets > 0))
        return lw_fail("race: %s is NULL", !channels && n_channels > 0 ? "channels" : "budgets");
    if (!plan_path) plan_path = "(plan)";
    for (int i = 0; i < lw_plan_n_hypotheses(plan); i++) {
        const char *id = lw_plan_hypothesis_id(plan, i), *metric = lw_plan_hypothesis_metric(plan, i);
        if (strcmp(metric, "exact_match") != 0)
            return lw_fail("%s: hypothesis %s: metric '%s' is not one a race records (exact_match): fix the plan",
                           plan_path, id, metric);
        for (int side = 0; side < 2; side++) {
            const char *cond = lw_plan_hypothesis_condition(plan, i, side);
            if (cond && !race_writes(cond, channels, n_channels, budgets, n_budgets))
                return lw_fail("%s: hypothesis %s: condition '%s' is not a cell of this race (floor, ceiling, mean, or "
                               "CHANNEL@K for a --channel and a --budgets value): fix the plan or the run's "
                               "--channel / --budgets",
                               plan_path, id, cond);
        }
    }
    return 0;
}
