/* Where a verb's task items come from: a JSONL file, or a named source. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "latentwire/textio.h"
#include "latentwire/error.h"
#include "latentwire/files.h"

/* A named task's file must exist before its reader runs: say which file, which data
 * directory it was looked for in, and how to point elsewhere. */
static int need_file(const char *spec, const char *path, const char *data_dir) {
    if (access(path, R_OK) == 0) return 0;
    return lw_fail("--task %s reads %s: %s (the data directory is %s: pass --data DIR, or set LW_SHARED_DIR to the "
                   "folder that holds data/)",
                   spec, path, strerror(errno), data_dir);
}

int cli_task_fv_path(const char *spec, const char *name, const char *data_dir, char *path, size_t cap) {
    snprintf(path, cap, "%s/function_vectors/abstractive/%s.json", data_dir, name);
    if (lw_check_regular_file(path) != 0) /* not abstractive (never opened: a FIFO would block) */
        snprintf(path, cap, "%s/function_vectors/extractive/%s.json", data_dir, name);
    if (access(path, R_OK) == 0) return 0;
    return lw_fail("--task %s: no %s.json in %s/function_vectors/abstractive or extractive (the data directory is %s: "
                   "pass --data DIR, or set LW_SHARED_DIR to the folder that holds data/)",
                   spec, name, data_dir, data_dir);
}

/* "FILE.jsonl" | "story:N" | "gsm8k:N" | "fv:NAME[:N]" (function_vectors task, 5-shot) |
 * "bio:N"; named sources read data_dir (cli_default_data_dir()). */
int cli_load_task(const char *spec, const char *data_dir, uint64_t seed, lw_task *out) {
    long n = 0;
    char path[4096];
    if (!strncmp(spec, "story:", 6)) {
        if (!cli_parse_int(spec + 6, 1, 1000000, &n)) return lw_fail("--task %s: story:N needs a count", spec);
        return lw_task_story((int)n, seed, out);
    }
    if (!strncmp(spec, "gsm8k:", 6)) {
        if (!cli_parse_int(spec + 6, 1, 1000000, &n)) return lw_fail("--task %s: gsm8k:N needs a count", spec);
        snprintf(path, sizeof path, "%s/gsm8k/test.jsonl", data_dir);
        if (need_file(spec, path, data_dir) != 0) return -1;
        return lw_task_from_gsm8k(path, (int)n, out);
    }
    if (!strncmp(spec, "bio:", 4)) {
        if (!cli_parse_int(spec + 4, 1, 1000000, &n)) return lw_fail("--task %s: bio:N needs a count", spec);
        snprintf(path, sizeof path, "%s/multiagent_debate_biography/article.json", data_dir);
        if (need_file(spec, path, data_dir) != 0) return -1;
        return lw_task_from_biographies(path, (int)n, out);
    }
    if (!strncmp(spec, "fv:", 3)) {
        char name[256];
        snprintf(name, sizeof name, "%s", spec + 3);
        char *colon = strchr(name, ':');
        n = 200;
        if (colon) {
            *colon = '\0';
            if (!cli_parse_int(colon + 1, 1, 1000000, &n)) return lw_fail("--task %s: fv:NAME:N needs a count", spec);
        }
        if (cli_task_fv_path(spec, name, data_dir, path, sizeof path) != 0) return -1;
        return lw_task_from_function_vectors(path, 5, (int)n, seed, out);
    }
    if (!strncmp(spec, "skill:", 6)) { /* a templated skill (lw_task_skill), 5 demonstrations */
        char name[256];
        snprintf(name, sizeof name, "%s", spec + 6);
        char *colon = strchr(name, ':');
        n = 200;
        if (colon) {
            *colon = '\0';
            if (!cli_parse_int(colon + 1, 1, 1000000, &n)) return lw_fail("--task %s: skill:NAME:N needs a count", spec);
        }
        return lw_task_skill(name, 5, (int)n, seed, out);
    }
    return lw_task_load(spec, out);
}

/* The count a count-based spec asks for (story:N, gsm8k:N, bio:N, fv:NAME[:N], skill:NAME[:N]) and the spec
 * text before it; false for a file. */
static bool spec_count(const char *spec, char *head, size_t cap, long *n) {
    static const char *const counted[] = {"story:", "gsm8k:", "bio:"};
    for (size_t i = 0; i < sizeof counted / sizeof *counted; i++)
        if (!strncmp(spec, counted[i], strlen(counted[i]))) {
            snprintf(head, cap, "%s", counted[i]);
            return cli_parse_int(spec + strlen(counted[i]), 1, 1000000, n);
        }
    const size_t at = !strncmp(spec, "fv:", 3) ? 3 : !strncmp(spec, "skill:", 6) ? 6 : 0;
    if (!at) return false;
    const char *colon = strchr(spec + at, ':');
    *n = 200; /* cli_load_task's default */
    snprintf(head, cap, "%.*s:", colon ? (int)(colon - spec) : (int)strlen(spec), spec);
    return !colon || cli_parse_int(colon + 1, 1, 1000000, n);
}

int cli_load_task_pool(const char *spec, const char *data_dir, uint64_t seed, int extra, lw_task *out, int *n_report) {
    char head[512];
    long n;
    if (extra <= 0 || !spec_count(spec, head, sizeof head, &n)) {
        int rc = cli_load_task(spec, data_dir, seed, out);
        *n_report = rc == 0 && extra > 0 ? -1 : out->n;
        return rc;
    }
    /* room for the items whose texts repeat one already drawn (the story task has 560 texts) */
    long want = 4 * (n + extra);
    if (want > 1000000) want = 1000000;
    char grown[600];
    snprintf(grown, sizeof grown, "%s%ld", head, want);
    *n_report = (int)n;
    return cli_load_task(grown, data_dir, seed, out);
}

void cli_task_hash(const lw_task *parts, int n_parts, char out[65]) {
    lw_task_parts_sha256(parts, n_parts, out);
}
