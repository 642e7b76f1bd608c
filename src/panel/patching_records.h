/* Internal to src/panel: the patching panel's resumable per-cell records (lw_patching_params'
 * records_path, settings_json and resume; patching_records.c). */
#ifndef LW_PATCHING_RECORDS_H
#define LW_PATCHING_RECORDS_H

#include <stdio.h>

#include "latentwire/panel.h"
#include "latentwire/records.h"

typedef struct {
    FILE *fp;            /* the records file, open for appending (NULL: no records asked for) */
    lw_records past;     /* the cells an earlier run finished (resume) */
    int added;           /* cells this run appended */
} lw_patching_records;

/* Opens p->records_path for this run (nothing when it is NULL): with p->resume, the cells of an
 * earlier run with the same settings are loaded into r->past; otherwise the file is begun anew.
 * 0 or -1 (message set). */
int lw_patching_records_open(lw_patching_records *r, const lw_panel_model *receivers, int n_receivers,
                             const lw_panel_model *donors, int n_donors, const lw_panel_prompt *prompts, int n_prompts,
                             const char *const *calib, int n_calib, const lw_patching_params *p);

/* Cell `cell` as an earlier run finished it: its effects copied into res (rows e_*[cell]) and its
 * cost added, after checking the record is the one this run would write (the same receiver, donor,
 * depth and layers; n_prompts finite effects each). 1 taken, 0 not in the file, -1 refused. */
int lw_patching_records_take(const lw_patching_records *r, const lw_patching_params *p, lw_patching_result *res,
                             int cell, int n_prompts);

/* Appends cell `cell` of res (its effects, and the cost it took: runs and prefix tokens reused). 0 or -1. */
int lw_patching_records_add(lw_patching_records *r, const lw_patching_params *p, const lw_patching_result *res,
                            int cell, int n_prompts, int64_t runs, int64_t reused);

/* Closes the file (rc: the run's outcome so far, returned unless closing fails) and frees past. A
 * failed run that holds no cell removes the file (it would hold only its settings line). */
int lw_patching_records_close(lw_patching_records *r, const lw_patching_params *p, int rc);

#endif
