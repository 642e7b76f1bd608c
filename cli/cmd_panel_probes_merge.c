/* latentwire panel probes merge --out DIR RUN...: family universality, the probe panel's runs
 * (one per pair, layer or bridge recipe) merged into one cross-pair table (lw_probe_merge):
 * DIR/universality.json, and the table on stdout. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "latentwire/probes.h"

static const char *USAGE =
    "usage: latentwire panel probes merge --out DIR RUN RUN [RUN...]\n"
    "  family universality: the probe panel's statistics across pairs (models, layers, bridge recipes).\n"
    "  RUN is a directory written by `latentwire panel probes` (or its probes.json); all runs must have\n"
    "  the same probe settings (item counts, sigmas, seed). Writes DIR/universality.json: per statistic one\n"
    "  row per pair (value, 95% CI, n), min / max across pairs and whether all CIs overlap (descriptive,\n"
    "  not a test).\n";

/* One line per statistic: its name, each pair's value, the spread. */
static void print_table(const char *path) {
    json_t *doc = json_load_file(path, 0, NULL);
    json_t *pairs = json_object_get(doc, "pairs"), *s, *p;
    size_t i, k;
    json_array_foreach(pairs, k, p) printf("pair %zu: %s\n", k, json_string_value(json_object_get(p, "label")));
    printf("%-17s %-36s %s\n", "probe", "statistic", "value per pair [n]  | min max  CIs overlap");
    json_array_foreach(json_object_get(doc, "stats"), i, s) {
        printf("%-17s %-36s", json_string_value(json_object_get(s, "probe")), json_string_value(json_object_get(s, "name")));
        json_t *row;
        json_array_foreach(json_object_get(s, "rows"), k, row) {
            json_t *ci = json_object_get(row, "ci");
            printf(" %+.4f [%lld]", json_number_value(json_object_get(ci, "mean")),
                   (long long)json_integer_value(json_object_get(ci, "n")));
        }
        json_t *sp = json_object_get(s, "spread"), *ov = json_object_get(sp, "cis_overlap");
        printf("  | %+.4f %+.4f  %s\n", json_number_value(json_object_get(sp, "min")),
               json_number_value(json_object_get(sp, "max")), json_is_null(ov) ? "-" : json_is_true(ov) ? "yes" : "no");
    }
    json_decref(doc);
}

int cmd_panel_probes_merge(int argc, char **argv) {
    if (cli_options_once("panel probes merge", USAGE, &argc, argv)) return 2;
    if (cli_wants_help(argc, argv)) {
        cli_print_help("panel probes merge", USAGE);
        return 0;
    }
    const char *out = NULL;
    const char **runs = calloc((size_t)argc, sizeof *runs);
    if (!runs) return cli_fail("panel probes merge", "out of memory");
    int n = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1] == '-') {
            free(runs);
            return cli_option_error("panel probes merge", USAGE, argv[i], i + 1 < argc ? argv[i + 1] : NULL);
        } else runs[n++] = argv[i];
    }
    if (!out || n < 2) {
        free(runs);
        return cli_usage_fail("panel probes merge", "--out DIR and at least two runs are needed (see latentwire panel probes merge --help)");
    }
    const char *names[] = {"universality.json", NULL};
    const char *inputs[] = {NULL, NULL};
    int rc = 0;
    if (lw_output_dir_check("--out", out, names, inputs) != 0 || lw_probe_merge(runs, n, out) != 0)
        rc = cli_fail_lib("panel probes merge");
    free(runs);
    if (rc != 0) return rc;
    char path[4096];
    snprintf(path, sizeof path, "%s/universality.json", out);
    print_table(path);
    printf("wrote %s\n", path);
    return 0;
}
