/* Where a verb's task items come from: a JSONL file, or a named source. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "latentwire/textio.h"
#include "common/error.h"

/* A named task's file must exist before its reader runs: say which file, which data
 * directory it was looked for in, and how to point elsewhere. */
static int need_file(const char *spec, const char *path, const char *data_dir) {
    if (access(path, R_OK) == 0) return 0;
    return lw_fail("--task %s reads %s: %s (the data directory is %s: pass --data DIR, or set LW_SHARED_DIR to the "
                   "folder that holds data/)",
                   spec, path, strerror(errno), data_dir);
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
        snprintf(path, sizeof path, "%s/function_vectors/abstractive/%s.json", data_dir, name);
        if (lw_check_regular_file(path) != 0) /* not abstractive (never opened: a FIFO would block) */
            snprintf(path, sizeof path, "%s/function_vectors/extractive/%s.json", data_dir, name);
        if (access(path, R_OK) != 0)
            return lw_fail("--task %s: no %s.json in %s/function_vectors/abstractive or extractive (the data directory "
                           "is %s: pass --data DIR, or set LW_SHARED_DIR to the folder that holds data/)",
                           spec, name, data_dir, data_dir);
        return lw_task_from_function_vectors(path, 5, (int)n, seed, out);
    }
    return lw_task_load(spec, out);
}
