/* The latentwire command-line tool: one file per verb, all thin over the library. */
#ifndef LW_CLI_H
#define LW_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "latentwire/files.h"
#include <jansson.h>

#include "latentwire/bridge.h"
#include "latentwire/runtime.h"
#include "latentwire/task.h"

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_extract(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_align(int argc, char **argv);
int cmd_bridge(int argc, char **argv);
int cmd_retrieval(int argc, char **argv);
int cmd_channel(int argc, char **argv);
int cmd_debate(int argc, char **argv);
int cmd_verdict(int argc, char **argv);
int cmd_panel(int argc, char **argv);
int cmd_panel_probes(int argc, char **argv); /* latentwire panel probes (cmd_panel_probes.c) */
int cmd_panel_probes_merge(int argc, char **argv); /* latentwire panel probes merge (cmd_panel_probes_merge.c) */
int cmd_quantize(int argc, char **argv);
int cmd_scan(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_codec(int argc, char **argv);
int cmd_race(int argc, char **argv);
int cmd_paraphrase(int argc, char **argv); /* latentwire paraphrase generate|texts (cmd_paraphrase.c) */

/* Prints "latentwire <verb>: <message>" (or the library's last error) and returns 1. */
/* Writes s with its control bytes (below 0x20, and 0x7f) as \xNN: names and metadata read from
 * a file (a tensor name holding ESC [2J) must not clear or retitle the user's terminal. */
void cli_put_safe(FILE *f, const char *s);
int cli_fail(const char *verb, const char *fmt, ...);
/* As cli_fail, for a usage error (a required option missing): returns 2, the exit status. */
int cli_usage_fail(const char *verb, const char *fmt, ...);
int cli_fail_lib(const char *verb);


/* Strict integer / float parsing: the whole string must be a number (spaces around it are
 * allowed). A refused value is remembered with the reason ("must be an integer in [1, 256]")
 * for cli_option_error. */
bool cli_parse_int(const char *s, long lo, long hi, long *out);
bool cli_parse_float(const char *s, double *out);
/* A finite number in the interval from lo to hi (either may be +-INFINITY), each end open or closed. */
bool cli_parse_real(const char *s, double lo, bool lo_open, double hi, bool hi_open, double *out);
/* s is one of the '|'-separated choices ("exact|fast"); *index is its position. */
bool cli_parse_choice(const char *s, const char *choices, int *index);
/* Remembers why value is refused (printf format) for cli_option_error; returns false, so that
 * an option loop can write `!strcmp(a, "--x") && (ok(v) || cli_reject(v, "must be ..."))`. */
bool cli_reject(const char *value, const char *fmt, ...);

/* The last branch of every verb's option loop, and its "no value left" branch (value NULL).
 * Prints one of: "unknown option --x", "option --x needs a value", "--x V: <why V is
 * refused>" (what the parsers above remembered), or "unexpected argument" for a word that
 * is no option. An option is known when usage names it. Returns 2 (a usage error). */
int cli_option_error(const char *verb, const char *usage, const char *option, const char *value);
bool cli_usage_names(const char *usage, const char *option);
/* Each option named by usage appears at most once in argv, unless the usage line that introduces
 * it says "(repeatable)": otherwise one line naming it and 2 (a usage error); 0 when all is well.
 * Also takes --gpu-layers N (every verb that loads a model understands it) out of argv, updating
 * *argc: only where it stands as an option, since usage says which options take a value
 * (`generate --prompt --gpu-layers` prompts with the text "--gpu-layers"). Every verb calls this
 * before parsing its options. */
int cli_options_once(const char *verb, const char *usage, int *argc, char **argv);
/* option is among argv[1..] (for options that only mean something beside another one: a verb
 * refuses, rather than ignores, one given without what it modifies). */
bool cli_given(int argc, char **argv, const char *option);
/* Any argument is --help or -h: the verb prints its usage to stdout and exits 0. */
bool cli_wants_help(int argc, char **argv);
/* A verb's --help: its usage on stdout, and the --gpu-layers line when the verb loads a model. */
void cli_print_help(const char *verb, const char *usage);
/* "p = 0.012", or "p < 0.001" for a p that %.3f would print as 0.000 (an exact test's p can be
 * 1e-8: it is small, not zero), into buf; returns buf. */
const char *cli_p_value(double p, char buf[24]);

/* "a, b,c" -> items with spaces trimmed (one malloc'd block: free(*items)); an empty list or
 * item, or an item written twice, is an error naming option (message set, -1). */
int cli_parse_list(const char *option, const char *spec, char ***items);

/* A list of numbers, each in the interval from lo to hi (ends as cli_parse_real), at most cap of
 * them and none given twice by value ("0.1,0.10", "1,1e0"), into out[0..cap). noun names one
 * ("depth", "noise level") and unit, when not NULL, what the bounds mean, in the message
 * `OPTION "SPEC": depth "1.5" is not a number in [0, 1] (a fraction ...)`. The count, or -1 with
 * the message set (an empty or repeated item: the list's own). */
int cli_parse_reals(const char *option, const char *spec, const char *noun, double lo, bool lo_open, double hi,
                    bool hi_open, const char *unit, int cap, double *out);

/* A --budgets list: whole numbers of bits from 1 to 2^40, none given twice ("16,016" included),
 * into *budgets (malloc'd, also on failure: free it). The count, or -1 with the message set. */
int cli_parse_budgets(const char *option, const char *spec, int64_t **budgets);

/* --threads N: CPU threads of every verb that runs a model (0, the default, is every core). */
#define CLI_MAX_THREADS 1024

/* On success of a verb that read activation rows from path: a note on stderr when the file has no
 * latentwire metadata (not written by extract), so `what` (the model, layer and pooling of its
 * rows ...) could not be checked or recorded; nothing otherwise. */
void cli_note_bare_rows(const char *path, const char *meta, const char *what);

/* --field names a field of JSON Lines texts: given with a file read as plain text (a name not
 * ending in .jsonl or .json), it would be ignored, so it is refused. 0, or 2 after the message. */
int cli_check_field(const char *verb, const char *path, int argc, char **argv);

/* --recipe: a bridge recipe by name (the refusal lists them). */
bool cli_parse_recipe(const char *s, lw_bridge_recipe *out);

/* dir (from --data, or cli_default_data_dir) is a directory: 0. Otherwise prints one line for
 * verb saying what is missing, where it was looked for and, for the default, how to point
 * elsewhere, and returns 1 (the exit status). */
int cli_check_data_dir(const char *verb, const char *dir);

/* --json modes: a JSON string of s as whole UTF-8 characters (bytes that form none become
 * U+FFFD, which a strict decoder accepts); the document printed to stdout as the only output,
 * consumed (decref'd). */
json_t *cli_json_text(const char *s);
int cli_print_json(const char *verb, json_t *root);

/* The default --data: $LW_SHARED_DIR/data when LW_SHARED_DIR is set, else ../shared/data. */
const char *cli_default_data_dir(void);

/* A task from "FILE.jsonl", "story:N", "gsm8k:N", "fv:NAME[:N]", "skill:NAME[:N]" or "bio:N" (data_dir:
 * ../shared/data): lw_task_from_spec with the default parameters. 0 or -1 (message set). */
int cli_load_task(const char *spec, const char *data_dir, uint64_t seed, lw_task *out);

/* A pool for a task to be split (lw_task_split) into the items reported and `extra` others
 * (selection, calibration) from the same source: lw_task_pool_from_spec. */
int cli_load_task_pool(const char *spec, const char *data_dir, uint64_t seed, int extra, lw_task *out, int *n_report);

/* sha256 over every item's fields of the parts (and which part each is in): a resumed run
 * must see the very same items. */
void cli_task_hash(const lw_task *parts, int n_parts, char out[65]);

/* Model parameters for every verb: the defaults plus the global --gpu-layers N. */
lw_model_params cli_model_params(void);
/* Whether --gpu-layers was given (cli_options_once takes it out of argv): a mode that loads no model refuses it. */
bool cli_gpu_layers_given(void);

/* Before any work: `out` (option `flag`; NULL = not asked for) can be written and overwrites
 * none of `inputs` (option/path pairs ended by NULL) nor do the files `kinds` adds beside it
 * (LW_OUT_* of latentwire/files.h). 0, or 1 after printing the error line. */
int cli_check_output(const char *verb, const char *flag, const char *out, int kinds, const char *const *inputs);

/* A verb made of sub-verbs (bridge fit|apply|info, codec fit|...): its usage for no argument or
 * --help, each sub-verb's usage for `VERB SUB --help`, and one line naming the sub-verbs for an
 * unknown one or an option before any. Returns the sub-verb's status, or 0 / 2 as above. */
typedef struct {
    const char *name, *usage;
    int (*fn)(int, char **);
} cli_subverb;
int cli_dispatch(const char *verb, const char *usage, const cli_subverb *subs, int n, int argc, char **argv);

/* stderr is a terminal (progress lines are shown only then). */
bool cli_is_tty(void);

#endif
