/* Internal to src/panel: the probe panel's resumable embeddings (lw_probe_params' records_path,
 * settings_json and resume; probe_records.c). The panel's cost is its models' forward passes, and
 * its sentence vectors depend in their last bits on which texts were embedded together, so what is
 * kept is every embedding call's new texts and vectors, in call order: a resumed panel makes the
 * same calls with the same memo, takes each finished call's vectors from the file and embeds the
 * rest exactly as an uninterrupted run would, so its numbers are that run's. */
#ifndef LW_PROBE_RECORDS_H
#define LW_PROBE_RECORDS_H

#include <stdio.h>

#include "latentwire/probes.h"
#include "latentwire/records.h"

typedef struct {
    FILE *fp;            /* open for appending (NULL: no records asked for) */
    lw_records past;     /* the calls an earlier run finished (resume) */
    int added;           /* calls this run appended */
} lw_probe_records;

/* Opens p->records_path (nothing when NULL): with p->resume, the calls of an earlier run with the
 * same settings (p->settings_json, the probe parameters, the pair's widths, whether an inverse was
 * given) are loaded; otherwise the file is begun anew. 0 or -1 (message). */
int lw_probe_records_open(lw_probe_records *r, const lw_probe_pair *pair, const lw_probe_params *p);

/* Call `call` (side, its n new texts) as an earlier run made it: its vectors (n x d) into out. 1
 * taken, 0 not in the file, -1 refused (another side, texts or width: the file is not this run's). */
int lw_probe_records_take(const lw_probe_records *r, const lw_probe_params *p, int call, int side,
                          const char *const *texts, int n, int d, float *out);

/* Appends call `call`. 0 or -1. */
int lw_probe_records_add(lw_probe_records *r, const lw_probe_params *p, int call, int side, const char *const *texts,
                         int n, int d, const float *v);

/* Closes the file (rc returned unless closing fails) and frees past; a failed run that added
 * nothing to a file that held nothing removes it. */
int lw_probe_records_close(lw_probe_records *r, const lw_probe_params *p, int rc);

#endif
