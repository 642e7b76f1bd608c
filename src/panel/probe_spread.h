/* The spread of one statistic across the pairs of universality.json: written by probes merge,
 * and recomputed by the report to check the file's own (internal to the library). */
#ifndef LW_PANEL_PROBE_SPREAD_H
#define LW_PANEL_PROBE_SPREAD_H

#include <jansson.h>

/* {"n_pairs", "min", "max", "min_pair", "max_pair", "range", "cis_overlap"} of rows
 * ([{"pair", "ci": {"mean", "lo", "hi"}}]): min / max of the means and whether all intervals
 * share a point (max lo <= min hi; null unless two or more rows have a mean and every one an
 * interval); rows without a mean are left out. New reference, NULL when out of memory. */
json_t *lw_probe_spread_json(json_t *rows);

#endif
