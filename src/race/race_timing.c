/* Wall time of the race's evaluations, per cell: the "race wall time per item per
 * channel". Kept out of race.json and the records on purpose: those are deterministic (a resumed
 * or sharded run reproduces them byte for byte) and a clock is not. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "latentwire/json.h"
#include "race/race_internal.h"

double lw_race_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int lw_race_timing_init(lw_race_timing *t, int n_channels, int n_budgets, int n_items) {
    memset(t, 0, sizeof *t);
    t->n_channels = n_channels;
    t->n_budgets = n_budgets > 0 ? n_budgets : 1;
    t->n_items = n_items;
    size_t cells = (size_t)n_channels * (size_t)t->n_budgets;
    t->seconds = calloc(cells * (size_t)(n_items > 0 ? n_items : 1), sizeof *t->seconds);
    t->count = calloc(cells, sizeof *t->count);
    if (!t->seconds || !t->count) {
        lw_race_timing_free(t);
        return lw_fail("race: out of memory");
    }
    return 0;
}

void lw_race_timing_add(lw_race_timing *t, int channel, int budget, double seconds) {
    size_t cell = (size_t)channel * (size_t)t->n_budgets + (size_t)budget;
    if (t->count[cell] < t->n_items) t->seconds[cell * (size_t)t->n_items + (size_t)t->count[cell]++] = seconds;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

char *lw_race_timing_path(const char *out_dir, int shard, int n_shards) {
    return lw_race_shard_path(out_dir, "timing", "json", shard, n_shards);
}

/* A resumed run timed only what it evaluated: the earlier process's row of the same cell is
 * kept beside this one's (rows are per process, never averaged across machines' loads). */
static json_t *earlier_rows(const char *path, bool resume) {
    json_t *old = resume ? json_load_file(path, 0, NULL) : NULL, *rows = json_array();
    json_t *cells = json_object_get(old, "runs");
    size_t i;
    json_t *r;
    json_array_foreach(cells, i, r) json_array_append(rows, r);
    json_decref(old);
    return rows;
}

int lw_race_timing_write(lw_race_timing *t, const lw_race_channel *channels, const int64_t *budgets,
                         int n_budgets, const char *path, bool resume) {
    json_t *run = json_array();
    for (int c = 0; c < t->n_channels; c++) {
        int nb = lw_race_channel_budgeted(&channels[c]) ? n_budgets : 1;
        for (int b = 0; b < nb; b++) {
            size_t cell = (size_t)c * (size_t)t->n_budgets + (size_t)b;
            int n = t->count[cell];
            if (n == 0) continue;
            double *s = t->seconds + cell * (size_t)t->n_items, total = 0, first = s[0];
            for (int i = 0; i < n; i++) total += s[i];
            qsort(s, (size_t)n, sizeof *s, cmp_double);
            double median = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
            json_t *row = json_pack("{s:s, s:o, s:i, s:f, s:f, s:f, s:f}", "channel", channels[c].name, "budget_bits",
                                    lw_race_channel_budgeted(&channels[c]) ? json_integer(budgets[b]) : json_null(),
                                    "items_timed", n, "seconds", total, "ms_per_item_mean", 1e3 * total / n,
                                    "ms_per_item_median", 1e3 * median, "ms_first_item", 1e3 * first);
            json_array_append_new(run, row);
        }
    }
    json_t *runs = earlier_rows(path, resume);
    json_array_append_new(runs, json_pack("{s:o}", "cells", run));
    json_t *root = json_pack(
        "{s:s, s:s, s:o}", "format", "latentwire.race-timing/1", "note",
        "wall time of each evaluation this process ran (resumed records are not timed), one entry per process in "
        "\"runs\"; a cell's first item also pays its codec's fit, and the first act: channel an item meets pays the "
        "sender's forward pass (reused by the other act: cells), so the median is the steady cost; not "
        "deterministic, hence not in race.json",
        "runs", runs);
    int rc = root ? lw_json_save(path, root) : lw_fail("race: cannot build the timing record");
    json_decref(root);
    return rc;
}

void lw_race_timing_free(lw_race_timing *t) {
    free(t->seconds);
    free(t->count);
    t->seconds = NULL;
    t->count = NULL;
}
