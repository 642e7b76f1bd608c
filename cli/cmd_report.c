/* latentwire report RESULTS... -o report.html: one self-contained HTML page over result files
 * (the library does the work: latentwire/report.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "latentwire/report.h"

static const char *USAGE =
    "usage: latentwire report RESULTS... -o REPORT.html [--title TEXT] [--resamples N]\n"
    "  One self-contained HTML file (inline SVG and CSS, no script, nothing fetched) over any mix of\n"
    "  result files: align.json, retrieval --json, channel --json or --out records, debate --json or --out\n"
    "  records, verdict --json, and latentwire.race/1, latentwire.scan/1, latentwire.codec-retrieval/1\n"
    "  documents (latentwire/report.h). A file of another kind is an error naming it.\n"
    "  -o, --out FILE   the page (written whole or not at all; never one of the results); - for stdout\n"
    "  --title TEXT     the page's title (default \"latentwire report\")\n"
    "  --resamples N    bootstrap resamples for intervals recomputed from per-item records (default 1000)\n";

/* -o -: the page on stdout and nothing else there (it is built whole first, so a refused input
 * writes nothing). */
static int write_stdout(const char *const *inputs, int n, const lw_report_params *p) {
    char *page = lw_report_html(inputs, n, p);
    if (!page) return cli_fail_lib("report");
    size_t len = strlen(page);
    bool ok = fwrite(page, 1, len, stdout) == len && fflush(stdout) == 0;
    int rc = ok ? 0 : cli_fail("report", "-o -: cannot write the page to stdout: %s", strerror(errno));
    free(page);
    return rc;
}

int cmd_report(int argc, char **argv) {
    if (cli_options_once("report", USAGE, &argc, argv)) return 2;
    if (cli_wants_help(argc, argv)) {
        cli_print_help("report", USAGE);
        return 0;
    }
    lw_report_params p = lw_report_default_params();
    const char *out = NULL;
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs) return cli_fail("report", "out of memory");
    int n = 0, rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long r;
        if (a[0] != '-' || !a[1]) inputs[n++] = a;
        else if (!v && (!strcmp(a, "-o") || !strcmp(a, "--out") || !strcmp(a, "--title") || !strcmp(a, "--resamples")))
            rc = cli_option_error("report", USAGE, a, NULL);
        else if ((!strcmp(a, "-o") || !strcmp(a, "--out")) && out) /* -o and --out are one option */
            rc = cli_fail("report", "%s: the page is already given (%s): give -o or --out once", a, out) + 1;
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) out = argv[++i];
        else if (!strcmp(a, "--title")) p.title = argv[++i];
        else if (!strcmp(a, "--resamples") && cli_parse_int(v, 100, 10000000, &r)) p.resamples = (int)r, i++;
        else rc = cli_option_error("report", USAGE, a, v);
    }
    if (rc == 0 && (n == 0 || !out)) rc = cli_usage_fail("report", "give the result files and -o REPORT.html");
    bool to_stdout = rc == 0 && !strcmp(out, "-");
    if (to_stdout) rc = write_stdout(inputs, n, &p);
    else {
        /* lw_report_write checks -o against the results (not one of them, not a directory) */
        if (rc == 0 && lw_report_write(inputs, n, out, &p) != 0) rc = cli_fail_lib("report");
        if (rc == 0) printf("report: %d result file%s -> %s\n", n, n == 1 ? "" : "s", out);
    }
    free(inputs);
    return rc;
}
