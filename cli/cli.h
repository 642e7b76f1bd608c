/* The latentwire command-line tool: one file per verb, all thin over the library. */
#ifndef LW_CLI_H
#define LW_CLI_H

#include <stdbool.h>
#include <stdint.h>

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

/* Prints "latentwire <verb>: <message>" (or the library's last error) and returns 1. */
int cli_fail(const char *verb, const char *fmt, ...);
int cli_fail_lib(const char *verb);

/* Parses "0,3,all" / "last" style layer lists against n_layer into a malloc'd sorted,
 * de-duplicated array; returns the count or -1 (message set). */
int cli_parse_layers(const char *spec, int n_layer, int **out);

/* Strict integer / float parsing: the whole string must be a number. */
bool cli_parse_int(const char *s, long lo, long hi, long *out);
bool cli_parse_float(const char *s, double *out);

/* A task from "FILE.jsonl", "story:N", "gsm8k:N", "fv:NAME[:N]" or "bio:N" (data_dir:
 * ../shared/data). 0 or -1 (message set). */
int cli_load_task(const char *spec, const char *data_dir, uint64_t seed, lw_task *out);

/* A pool for a task to be split (lw_task_split) into the items reported and `extra` others
 * (selection, calibration) from the same source. Count-based specs (story:N, gsm8k:N, bio:N,
 * fv:NAME[:N]) load more items of the source (4 x (N + extra), so that items whose texts
 * repeat can be dropped) and *n_report = N; a task file is the pool itself and *n_report = -1
 * (report what is left). extra 0: the task as cli_load_task loads it, *n_report = its count. */
int cli_load_task_pool(const char *spec, const char *data_dir, uint64_t seed, int extra, lw_task *out, int *n_report);

/* Model parameters for every verb: the defaults plus the global --gpu-layers N. */
lw_model_params cli_model_params(void);

/* Splits a comma-separated list option ("none,text,ac") into *items (NULL-terminated; free
 * the array with one free()). An empty list, an empty item ("", ",", "a,,b") or an item
 * listed twice is refused with a message naming the option and the item. The count or -1. */
int cli_split_list(const char *option, const char *spec, char ***items);

/* stderr is a terminal (progress lines are shown only then). */
bool cli_is_tty(void);

#endif
