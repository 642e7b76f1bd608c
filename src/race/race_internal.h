/* Internal to src/race: the data a report is computed from, and the report. */
#ifndef LW_RACE_INTERNAL_H
#define LW_RACE_INTERNAL_H

#include <jansson.h>

#include "latentwire/race.h"

/* One row of the curve: a channel at a budget (budget 0 for floor / ceiling). */
typedef struct {
    int channel;
    int64_t budget;
} lw_race_cell;

/* Every record of a run, by cell and item: score NaN where the item was not applicable
 * (na[cell * n_items + item] holds the first such reason of a cell, or NULL). */
typedef struct {
    lw_race_channel *channels;
    int n_channels;
    int64_t *budgets;
    int n_budgets;
    int n_items;
    lw_race_cell *cells;
    int n_cells;
    double *score;          /* n_cells x n_items */
    int64_t *payload_bits;  /* n_cells x n_items */
    int64_t *side_bits;     /* n_cells x n_items */
    const char **na;        /* n_cells: why a cell has no scored item (borrowed from the records) */
    int resamples;
    double level;
    uint64_t seed;
} lw_race_data;

/* The cells of channels x budgets in report order: each channel's budgets ascending (floor and
 * ceiling one cell). Sets d->cells, d->n_cells. 0 or -1. */
int lw_race_make_cells(lw_race_data *d);

/* "text dominates" (hi < 0), "activation dominates" (lo > 0), else "no difference shown". */
const char *lw_race_verdict(double lo, double hi);

/* race.json's content (without settings and item ids, which the caller adds). New reference
 * or NULL (message set). */
json_t *lw_race_report(const lw_race_data *d);

/* race.csv's text from a report (malloc'd). */
char *lw_race_report_csv(json_t *report);

/* One row of the codec retrieval test from the bank (n x d: the originals) and the decoded items Q
 * (n x d; row i is passage i's, used only where usable[i] and finite with non-zero norm, else a
 * miss): {"top1": {mean, lo, hi, n, method: clopper-pearson}, "pass": lo >= threshold,
 * "unusable", "threshold"}. NULL + message. */
json_t *lw_race_retrieval_row(const float *bank, int n, int d, const float *Q, const bool *usable, double threshold,
                              double level);

#endif
