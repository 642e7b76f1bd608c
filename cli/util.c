/* Small helpers shared by the verbs: error lines, strict number parsing, option errors, lists. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "latentwire/error.h"
#include "latentwire/files.h"
#include "latentwire/json.h"
#include "latentwire/textio.h"

void cli_put_safe(FILE *f, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
        if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\x%02x", *p);
        else fputc(*p, f);
}

static void put_fail(const char *verb, const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    char *msg = NULL;
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n >= 0 && (msg = malloc((size_t)n + 1))) vsnprintf(msg, (size_t)n + 1, fmt, again);
    va_end(again);
    fprintf(stderr, "latentwire %s: ", verb);
    cli_put_safe(stderr, msg ? msg : fmt); /* a name read from a file must not drive the terminal */
    fputc('\n', stderr);
    free(msg);
}

int cli_fail(const char *verb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    put_fail(verb, fmt, ap);
    va_end(ap);
    return 1;
}

int cli_usage_fail(const char *verb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    put_fail(verb, fmt, ap);
    va_end(ap);
    return 2;
}

/* The library's messages often start with the module's name, which is the verb's ("race: ..."):
 * once is enough ("latentwire race: race: ..." said it twice). */
int cli_fail_lib(const char *verb) {
    const char *m = lw_last_error();
    size_t n = strlen(verb);
    const char *last = strrchr(verb, ' '); /* "panel probes": its library says "probes: " or "panel: " */
    /* "panel probes merge": its library says "probes merge: " too (it was said twice) */
    const char *tail = strchr(verb, ' ');
    while (tail && !(!strncmp(m, tail + 1, strlen(tail + 1)) && !strncmp(m + strlen(tail + 1), ": ", 2)))
        tail = strchr(tail + 1, ' ');
    if (!strncmp(m, verb, n) && !strncmp(m + n, ": ", 2)) m += n + 2;
    else if (tail) m += strlen(tail + 1) + 2; /* the verb's last words, e.g. "merge: " */
    else if (last && !strncmp(m, verb, (size_t)(last - verb)) && !strncmp(m + (last - verb), ": ", 2))
        m += (last - verb) + 2;
    return cli_fail(verb, "%s", m);
}

/* The last value a parser below refused and why, for cli_option_error's message. Only the
 * pointer is kept: the option loop passes the very argv string it is about to report. */
static struct {
    const char *value;
    char reason[320];
} g_refused;

bool cli_reject(const char *value, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_refused.reason, sizeof g_refused.reason, fmt, ap);
    va_end(ap);
    g_refused.value = value;
    return false;
}

/* Whether s[0..) holds nothing but spaces (a number may be followed by some: "1 " is 1). */
static bool only_spaces(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    return *s == '\0';
}

bool cli_parse_int(const char *s, long lo, long hi, long *out) {
    char range[96];
    /* 2^40 is a real bound (budgets, shard sizes): name it, not "no bound" */
    if (hi == (1L << 40)) snprintf(range, sizeof range, "an integer in [%ld, 2^40 = %ld]", lo, hi);
    else if (hi > (1L << 40)) { /* a seed's 2^62: "must be an integer >= 0" refused 2^64 - 1 without saying why */
        int e = 0;
        while (e < 62 && (1L << e) < hi) e++;
        if ((1L << e) == hi) snprintf(range, sizeof range, "an integer >= %ld and at most 2^%d", lo, e);
        else snprintf(range, sizeof range, "an integer >= %ld and at most %ld", lo, hi);
    } else snprintf(range, sizeof range, "an integer in [%ld, %ld]", lo, hi);
    if (!s || only_spaces(s)) return cli_reject(s, "must be %s", range);
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || !only_spaces(end)) return cli_reject(s, "not an integer (must be %s)", range);
    if (errno || v < lo || v > hi) return cli_reject(s, "must be %s", range);
    *out = v;
    return true;
}

bool cli_parse_float(const char *s, double *out) {
    return cli_parse_real(s, -INFINITY, false, INFINITY, false, out);
}

bool cli_parse_real(const char *s, double lo, bool lo_open, double hi, bool hi_open, double *out) {
    char range[96];
    if (isinf(lo) && isinf(hi)) snprintf(range, sizeof range, "a finite number");
    else if (isinf(hi)) snprintf(range, sizeof range, "a number %s %g", lo_open ? ">" : ">=", lo);
    else if (isinf(lo)) snprintf(range, sizeof range, "a number %s %g", hi_open ? "<" : "<=", hi);
    else snprintf(range, sizeof range, "a number in %c%g, %g%c", lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']');
    if (!s || only_spaces(s)) return cli_reject(s, "must be %s", range);
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || !only_spaces(end) || isnan(v)) return cli_reject(s, "not a number (must be %s)", range);
    if (errno || !isfinite(v) || v < lo || v > hi || (lo_open && v == lo) || (hi_open && v == hi))
        return cli_reject(s, "must be %s", range);
    *out = v;
    return true;
}

bool cli_parse_choice(const char *s, const char *choices, int *index) {
    int k = 0;
    size_t n = s ? strlen(s) : 0;
    for (const char *c = choices; *c; k++) {
        size_t m = strcspn(c, "|");
        if (s && m == n && !strncmp(c, s, m)) {
            *index = k;
            return true;
        }
        c += m + (c[m] == '|');
    }
    char list[256] = "";
    for (const char *c = choices; *c && strlen(list) + 8 < sizeof list; c++)
        snprintf(list + strlen(list), sizeof list - strlen(list), *c == '|' ? ", " : "%c", *c);
    return cli_reject(s, "must be one of %s", list);
}

int cli_parse_list(const char *option, const char *spec, char ***items) {
    return lw_list_split(option, spec, items);
}

int cli_parse_reals(const char *option, const char *spec, const char *noun, double lo, bool lo_open, double hi,
                    bool hi_open, const char *unit, int cap, double *out) {
    char **items = NULL;
    int n = cli_parse_list(option, spec, &items), rc = n < 0 ? -1 : 0;
    if (rc == 0 && n > cap) rc = lw_fail("%s \"%s\": at most %d values (%d given)", option, spec, cap, n);
    for (int i = 0; rc == 0 && i < n; i++) {
        double x;
        if (!cli_parse_real(items[i], lo, lo_open, hi, hi_open, &x)) {
            /* cli_parse_real's reason, "must be R" or "not a number (must be R)", said as "is not R" */
            const char *why = g_refused.reason;
            size_t wl = strlen(why);
            if (!strncmp(why, "not a number (must be ", 22) && wl > 23) why += 22, wl -= 23;
            else if (!strncmp(why, "must be ", 8)) why += 8, wl -= 8;
            rc = lw_fail("%s \"%s\": %s \"%s\" is not %.*s%s%s", option, spec, noun, items[i], (int)wl, why,
                         unit ? " " : "", unit ? unit : "");
            g_refused.value = NULL;
        }
        for (int j = 0; rc == 0 && j < i; j++) /* "0.1,0.10": one value written two ways */
            if (out[j] == x)
                rc = lw_fail("%s \"%s\": \"%s\" and \"%s\" are the same %s (%g)", option, spec, items[j], items[i],
                             noun, x);
        if (rc == 0) out[i] = x;
    }
    if (n > 0) free(items);
    return rc == 0 ? n : -1;
}

int cli_parse_budgets(const char *option, const char *spec, int64_t **budgets) {
    char **items = NULL;
    int n = cli_parse_list(option, spec, &items), rc = n < 0 ? -1 : 0;
    *budgets = calloc((size_t)(n > 0 ? n : 1), sizeof **budgets);
    if (rc == 0 && !*budgets) rc = lw_fail("%s: out of memory", option);
    for (int i = 0; rc == 0 && i < n; i++) {
        long k;
        if (!cli_parse_int(items[i], 1, 1L << 40, &k))
            rc = lw_fail("%s \"%s\": \"%s\" is not a budget: each must be a whole number of bits from 1 to 2^40",
                         option, spec, items[i]);
        for (int j = 0; rc == 0 && j < i; j++) /* "16,016": named before the models load */
            if ((*budgets)[j] == k)
                rc = lw_fail("%s \"%s\": \"%s\" and \"%s\" are the same budget (%ld bits)", option, spec, items[j],
                             items[i], k);
        if (rc == 0) (*budgets)[i] = k;
    }
    if (n > 0) free(items);
    return rc == 0 ? n : -1;
}

bool cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return true;
    return false;
}

/* An option counts as known when the verb's usage text names it (as a whole word), so the
 * parser and --help cannot disagree about which options exist. */
bool cli_usage_names(const char *usage, const char *option) {
    size_t n = strlen(option);
    if (n < 2) return false;
    for (const char *p = strstr(usage, option); p; p = strstr(p + 1, option)) {
        bool starts = p == usage || !(isalnum((unsigned char)p[-1]) || p[-1] == '-');
        bool ends = !(isalnum((unsigned char)p[n]) || p[n] == '-' || p[n] == '_');
        if (starts && ends) return true;
    }
    return false;
}

/* A value as the message shows it: quoted when it is empty or has spaces. */
static void show_value(const char *v, char *buf, size_t n) {
    bool plain = *v && !strpbrk(v, " \t\n");
    snprintf(buf, n, plain ? "%s" : "\"%s\"", v);
}

int cli_option_error(const char *verb, const char *usage, const char *option, const char *value) {
    if (option[0] != '-')
        cli_fail(verb, "unexpected argument \"%s\" (`latentwire %s --help` shows the usage)", option, verb);
    else if (!cli_usage_names(usage, option))
        cli_fail(verb, "unknown option %s (`latentwire %s --help` lists the options)", option, verb);
    else if (!value)
        cli_fail(verb, "option %s needs a value", option);
    else {
        char shown[512];
        show_value(value, shown, sizeof shown);
        if (g_refused.value == value)
            cli_fail(verb, "%s %s: %s", option, shown, g_refused.reason);
        else
            cli_fail(verb, "%s %s: not an accepted value (`latentwire %s --help` lists them)", option, shown, verb);
    }
    g_refused.value = NULL;
    return 2;
}

/* The line of usage that introduces option (it is the line's first word): a "(repeatable)" there
 * allows the option more than once. */
static bool usage_repeatable(const char *usage, const char *option) {
    size_t n = strlen(option);
    for (const char *line = usage; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *p = line + strspn(line, " ");
        const char *end = strchr(p, '\n');
        if (strncmp(p, option, n) != 0 || (p[n] != ' ' && p[n] != '\n' && p[n] != '\0')) continue;
        size_t len = end ? (size_t)(end - line) : strlen(line);
        for (const char *q = line; q + 12 <= line + len; q++)
            if (!strncmp(q, "(repeatable)", 12)) return true;
    }
    return false;
}

/* The usage shows option with a value: somewhere it is followed by one space and a placeholder
 * (FILE, N, A.gguf, mean|last). Flags are followed by their description after two spaces or by
 * prose ("--by-position pairs ..."), which this does not take for a value. */
static bool usage_takes_value(const char *usage, const char *option) {
    size_t n = strlen(option);
    for (const char *p = strstr(usage, option); p; p = strstr(p + 1, option)) {
        bool starts = p == usage || !(isalnum((unsigned char)p[-1]) || p[-1] == '-');
        if (!starts || p[n] != ' ') continue;
        const char *t = p + n + 1;
        size_t len = strcspn(t, " \n]),");
        if (isupper((unsigned char)*t) || isdigit((unsigned char)*t) || memchr(t, '|', len)) return true;
    }
    return false;
}

static int g_gpu_layers;
static bool g_gpu_layers_given;

bool cli_gpu_layers_given(void) { return g_gpu_layers_given; }

lw_model_params cli_model_params(void) {
    lw_model_params p = lw_model_default_params();
    p.n_gpu_layers = g_gpu_layers;
    return p;
}

/* Verbs that load no model, where --gpu-layers would be ignored. */
static bool loads_no_model(const char *verb) {
    static const char *const NO_MODEL[] = {"inspect", "bridge", "verdict", "report", "codec", "quantize", "race merge",
                                             "panel probes merge", "paraphrase texts"};
    for (size_t k = 0; k < sizeof NO_MODEL / sizeof NO_MODEL[0]; k++) {
        size_t n = strlen(NO_MODEL[k]);
        if (!strncmp(verb, NO_MODEL[k], n) && (verb[n] == '\0' || verb[n] == ' ')) return true;
    }
    return false;
}

const char *cli_p_value(double p, char buf[24]) {
    if (p < 0.001) snprintf(buf, 24, "p < 0.001");
    else snprintf(buf, 24, "p = %.3f", p);
    return buf;
}

void cli_print_help(const char *verb, const char *usage) {
    fputs(usage, stdout);
    if (!loads_no_model(verb) && !strstr(usage, "--gpu-layers"))
        fputs("  --gpu-layers N       blocks offloaded to the GPU in a CUDA build (make cuda); default 0: all on the "
              "CPU\n",
              stdout);
}

/* --gpu-layers N at argv[i] (an option, not another option's value): parsed and taken out of argv. */
static int take_gpu_layers(const char *verb, int *argc, char **argv, int i) {
    if (loads_no_model(verb)) return cli_fail(verb, "--gpu-layers: %s loads no model to offload; leave it out", verb) + 1;
    if (g_gpu_layers_given) return cli_fail(verb, "--gpu-layers is given twice: give it once") + 1;
    long n;
    if (i + 1 >= *argc || !cli_parse_int(argv[i + 1], 0, 100000, &n))
        return cli_option_error(verb, "--gpu-layers", "--gpu-layers", i + 1 < *argc ? argv[i + 1] : NULL);
    g_gpu_layers = (int)n;
    g_gpu_layers_given = true;
    for (int j = i; j + 2 <= *argc; j++) argv[j] = argv[j + 2];
    *argc -= 2;
    return 0;
}

/* Whether usage gives option a free-text value (`--prompt TEXT`, `--title TEXT`): a text may read
 * like an option; a path or a number may not. */
static bool usage_value_is_text(const char *usage, const char *option) {
    size_t n = strlen(option);
    for (const char *p = strstr(usage, option); p; p = strstr(p + 1, option)) {
        bool starts = p == usage || !(isalnum((unsigned char)p[-1]) || p[-1] == '-');
        if (starts && p[n] == ' ' && !strncmp(p + n + 1, "TEXT", 4) && !isalnum((unsigned char)p[n + 5])) return true;
    }
    return false;
}

/* "--name" or "-o" (a dash and one letter): not "-1", not "-". */
static bool looks_like_option(const char *a) {
    return (a[0] == '-' && a[1] == '-' && a[2]) || (a[0] == '-' && isalpha((unsigned char)a[1]) && !a[2]);
}

int cli_options_once(const char *verb, const char *usage, int *argc_io, char **argv) {
    int seen[256], n_seen = 0; /* argv indices of the options given, values skipped */
    for (int i = 1; i < *argc_io; i++) {
        if (!strcmp(argv[i], "--gpu-layers")) {
            if (take_gpu_layers(verb, argc_io, argv, i) != 0) return 2;
            i--;
            continue;
        }
        if (!looks_like_option(argv[i]) || !cli_usage_names(usage, argv[i])) continue;
        for (int j = 0; j < n_seen; j++)
            if (!strcmp(argv[i], argv[seen[j]]) && !usage_repeatable(usage, argv[i])) {
                cli_fail(verb, "%s is given twice: give it once (a later value would silently replace the "
                         "earlier one)", argv[i]);
                return 2;
            }
        if (n_seen < 256) seen[n_seen++] = i;
        if (!usage_takes_value(usage, argv[i])) continue;
        /* its value, even one that looks like an option, but not another of this verb's options
         * where a path or number is wanted: `--out --resume` made a directory "--resume" and ran
         * afresh; `-o --title` wrote the page to a file "--title" */
        const char *v = i + 1 < *argc_io ? argv[i + 1] : NULL;
        if (v && looks_like_option(v) && (cli_usage_names(usage, v) || !strcmp(v, "--gpu-layers")) &&
            !usage_value_is_text(usage, argv[i])) {
            cli_fail(verb, "%s needs a value, and %s is an option of %s: give %s its value first (a file of that name: "
                     "./%s)", argv[i], v, verb, argv[i], v);
            return 2;
        }
        i++;
    }
    return 0;
}

bool cli_given(int argc, char **argv, const char *option) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], option)) return true;
    return false;
}

const char *cli_default_data_dir(void) {
    static char buf[4096];
    const char *shared = getenv("LW_SHARED_DIR");
    if (!shared || !*shared) return "../shared/data";
    snprintf(buf, sizeof buf, "%s/data", shared);
    return buf;
}

bool cli_is_tty(void) { return isatty(STDERR_FILENO) == 1; }

int cli_check_output(const char *verb, const char *flag, const char *out, int kinds, const char *const *inputs) {
    if (!out) return 0; /* an optional output that was not asked for */
    return lw_output_check(flag, out, kinds, inputs) == 0 ? 0 : cli_fail_lib(verb);
}

int cli_check_field(const char *verb, const char *path, int argc, char **argv) {
    size_t n = path ? strlen(path) : 0;
    bool jsonl = (n > 6 && !strcmp(path + n - 6, ".jsonl")) || (n > 5 && !strcmp(path + n - 5, ".json"));
    if (!path || jsonl || !cli_given(argc, argv, "--field")) return 0;
    return cli_fail(verb, "--field names a field of JSON Lines texts, but %s is read as plain text, one text per line "
                    "(only .jsonl and .json files have fields): leave --field out", path) + 1;
}

void cli_note_bare_rows(const char *path, const char *meta, const char *what) {
    if (!meta) fprintf(stderr, "note: %s has no latentwire metadata (it was not written by extract): %s\n", path, what);
}

bool cli_parse_recipe(const char *s, lw_bridge_recipe *out) {
    int r = s ? lw_bridge_recipe_from_name(s) : -1;
    if (r < 0) {
        char list[256] = "";
        for (int k = LW_BRIDGE_RIDGE; k <= LW_BRIDGE_RELREP; k++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "",
                     lw_bridge_recipe_name((lw_bridge_recipe)k));
        return cli_reject(s, "must be one of %s", list);
    }
    *out = (lw_bridge_recipe)r;
    return true;
}

int cli_check_data_dir(const char *verb, const char *dir) {
    struct stat st;
    const char *why;
    if (stat(dir, &st) != 0) why = strerror(errno);
    else if (!S_ISDIR(st.st_mode)) why = "not a directory";
    else return 0;
    if (strcmp(dir, cli_default_data_dir()) != 0) return cli_fail(verb, "--data %s: %s", dir, why);
    return cli_fail(verb,
                    "the data directory %s: %s (it is the default when LW_SHARED_DIR is not set): pass --data DIR, or "
                    "set LW_SHARED_DIR to the folder that holds data/",
                    dir, why);
}

json_t *cli_json_text(const char *s) {
    return lw_json_text(s);
}

int cli_print_json(const char *verb, json_t *root) {
    char *text = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    if (!text) return cli_fail(verb, "out of memory");
    puts(text);
    free(text);
    return 0;
}

int cli_dispatch(const char *verb, const char *usage, const cli_subverb *subs, int n, int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int k = 0; k < n; k++) {
        if (strcmp(argv[1], subs[k].name) != 0) continue;
        if (cli_wants_help(argc - 1, argv + 1)) {
            char sv[64];
            snprintf(sv, sizeof sv, "%s %s", verb, subs[k].name);
            fputs("usage:\n", stdout);
            cli_print_help(sv, subs[k].usage);
            return 0;
        }
        return subs[k].fn(argc - 1, argv + 1);
    }
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    char names[256] = "";
    for (int k = 0; k < n; k++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "", subs[k].name);
    if (argv[1][0] == '-') /* usage errors: exit status 2 */
        return cli_fail(verb, "unknown option %s: %s takes a subcommand first (%s; `latentwire %s --help`)", argv[1],
                        verb, names, verb) + 1;
    return cli_fail(verb, "unknown subcommand \"%s\" (%s)", argv[1], names) + 1;
}
