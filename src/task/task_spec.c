/* Task specs (latentwire/task.h): what a verb's --task names, parsed and loaded in one place for
 * every verb (channel, debate, race, scan) and for library users. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "latentwire/task.h"
#include "latentwire/textio.h"

#define MAX_COUNT 1000000L

lw_task_spec_params lw_task_spec_default_params(void) {
    return (lw_task_spec_params){.data_dir = NULL, .k_shot = 5, .n = 200, .seed = 1, .fv_format = LW_TASK_FV_QA,
                                 .kinds = LW_TASK_SPEC_ALL, .option = "--task"};
}

/* A spec taken apart: its kind, the NAME of fv:/skill:, the count N (0: none given). */
typedef struct {
    int kind; /* one LW_TASK_SPEC_* */
    char *name;
    long count;
} parsed_spec;

static const struct {
    const char *prefix;
    int kind;
    bool named; /* PREFIX NAME[:N], else PREFIX N */
    const char *form;
} KINDS[] = {
    {"story:", LW_TASK_SPEC_STORY, false, "story:N"},    {"gsm8k:", LW_TASK_SPEC_GSM8K, false, "gsm8k:N"},
    {"bio:", LW_TASK_SPEC_BIO, false, "bio:N"},          {"fv:", LW_TASK_SPEC_FV, true, "fv:NAME[:N]"},
    {"skill:", LW_TASK_SPEC_SKILL, true, "skill:NAME[:N]"},
};
#define N_KINDS (int)(sizeof KINDS / sizeof KINDS[0])

/* A count in [1, MAX_COUNT]; spaces around it are ignored, as in every option value. */
static bool parse_count(const char *s, long *out) {
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return false;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    while (end != s && isspace((unsigned char)*end)) end++;
    if (end == s || *end || errno || v < 1 || v > MAX_COUNT) return false;
    *out = v;
    return true;
}

/* The forms the caller accepts, for messages: "skill:NAME[:N], fv:NAME[:N] or a task FILE.jsonl". */
static void accepted_forms(int kinds, char *buf, size_t size) {
    buf[0] = '\0';
    for (int k = 0; k < N_KINDS; k++)
        if (kinds & KINDS[k].kind)
            snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", buf[0] ? ", " : "", KINDS[k].form);
    if (kinds & LW_TASK_SPEC_FILE)
        snprintf(buf + strlen(buf), size - strlen(buf), "%sa task FILE.jsonl", buf[0] ? " or " : "");
}

/* "word:" at the start of spec (letters, digits, _ and -): it names a kind, not a file path. */
static size_t kind_word(const char *spec) {
    size_t i = 0;
    while (isalnum((unsigned char)spec[i]) || spec[i] == '_' || spec[i] == '-') i++;
    return i > 0 && spec[i] == ':' ? i : 0;
}

static int parse_spec(const char *spec, const lw_task_spec_params *p, parsed_spec *ps) {
    *ps = (parsed_spec){.kind = LW_TASK_SPEC_FILE};
    const char *opt = p->option ? p->option : "--task";
    char forms[160];
    accepted_forms(p->kinds, forms, sizeof forms);
    if (!*spec) return lw_fail("%s is empty: give %s", opt, forms);
    int k = 0;
    while (k < N_KINDS && strncmp(spec, KINDS[k].prefix, strlen(KINDS[k].prefix)) != 0) k++;
    if (k == N_KINDS) {
        /* a file; "word:..." that is no file is a kind this library does not know */
        size_t w = kind_word(spec);
        if (w && access(spec, F_OK) != 0)
            return lw_fail("%s %s: unknown task kind '%.*s' (give %s)", opt, spec, (int)w, spec, forms);
        if (!(p->kinds & LW_TASK_SPEC_FILE)) return lw_fail("%s %s: give %s", opt, spec, forms);
        return 0;
    }
    ps->kind = KINDS[k].kind;
    if (!(p->kinds & ps->kind)) return lw_fail("%s %s: this takes %s", opt, spec, forms);
    const char *rest = spec + strlen(KINDS[k].prefix);
    if (!KINDS[k].named) {
        if (!parse_count(rest, &ps->count))
            return lw_fail("%s %s: %s needs a count (an integer in [1, %ld])", opt, spec, KINDS[k].form, MAX_COUNT);
        return 0;
    }
    const char *colon = strchr(rest, ':');
    size_t len = colon ? (size_t)(colon - rest) : strlen(rest);
    if (colon && !parse_count(colon + 1, &ps->count))
        return lw_fail("%s %s: %.*sNAME:N needs a count (an integer in [1, %ld])", opt, spec, (int)strlen(KINDS[k].prefix),
                       KINDS[k].prefix, MAX_COUNT);
    if (len == 0) return lw_fail("%s %s: %.*sNAME needs a name", opt, spec, (int)strlen(KINDS[k].prefix), KINDS[k].prefix);
    /* NAME becomes part of a path under the data directory: it may not leave it */
    if (memchr(rest, '/', len) || (len <= 2 && !strncmp(rest, "..", len)))
        return lw_fail("%s %s: '%.*s' is not a task name (a name has no '/' and is not . or ..)", opt, spec, (int)len,
                       rest);
    if (!(ps->name = strndup(rest, len))) return lw_fail("out of memory");
    return 0;
}

static const char *data_dir_of(const lw_task_spec_params *p, char *buf, size_t size) {
    if (p->data_dir) return p->data_dir;
    const char *shared = getenv("LW_SHARED_DIR");
    if (!shared || !*shared) return "../shared/data";
    snprintf(buf, size, "%s/data", shared);
    return buf;
}

/* A named source's file must exist before its reader runs: say which file, which data directory
 * it was looked for in, and how to point elsewhere. */
static int need_file(const char *opt, const char *spec, const char *path, const char *data_dir) {
    if (access(path, R_OK) == 0) return 0;
    return lw_fail("%s %s reads %s: %s (the data directory is %s: pass --data DIR, or set LW_SHARED_DIR to the "
                   "folder that holds data/)",
                   opt, spec, path, strerror(errno), data_dir);
}

/* DATA/function_vectors/abstractive/NAME.json, else extractive/. */
static int fv_path(const char *opt, const char *spec, const char *name, const char *data_dir, char *path,
                   size_t cap) {
    snprintf(path, cap, "%s/function_vectors/abstractive/%s.json", data_dir, name);
    if (lw_check_regular_file(path) != 0) /* not abstractive (never opened: a FIFO would block) */
        snprintf(path, cap, "%s/function_vectors/extractive/%s.json", data_dir, name);
    if (access(path, R_OK) == 0) return 0;
    return lw_fail("%s %s: no %s.json in %s/function_vectors/abstractive or extractive (the data directory is %s: "
                   "pass --data DIR, or set LW_SHARED_DIR to the folder that holds data/)",
                   opt, spec, name, data_dir, data_dir);
}

/* The parsed spec's items, count items (for a named kind without a count: p->n). */
static int load_parsed(const char *spec, const parsed_spec *ps, long count, const lw_task_spec_params *p,
                       lw_task *out) {
    const char *opt = p->option ? p->option : "--task";
    char buf[4096], path[4200];
    const char *data = data_dir_of(p, buf, sizeof buf);
    int n = (int)count;
    switch (ps->kind) {
    case LW_TASK_SPEC_STORY:
        return lw_task_story(n, p->seed, out);
    case LW_TASK_SPEC_GSM8K:
        snprintf(path, sizeof path, "%s/gsm8k/test.jsonl", data);
        return need_file(opt, spec, path, data) != 0 ? -1 : lw_task_from_gsm8k(path, n, out);
    case LW_TASK_SPEC_BIO:
        snprintf(path, sizeof path, "%s/multiagent_debate_biography/article.json", data);
        return need_file(opt, spec, path, data) != 0 ? -1 : lw_task_from_biographies(path, n, out);
    case LW_TASK_SPEC_FV:
        if (fv_path(opt, spec, ps->name, data, path, sizeof path) != 0) return -1;
        return p->fv_format == LW_TASK_FV_SKILL ? lw_task_skill_from_function_vectors(path, p->k_shot, n, p->seed, out)
                                                : lw_task_from_function_vectors(path, p->k_shot, n, p->seed, out);
    case LW_TASK_SPEC_SKILL:
        return lw_task_skill(ps->name, p->k_shot, n, p->seed, out);
    default:
        return lw_task_load(spec, out);
    }
}

static int check_params(const char *spec, const lw_task_spec_params *p, lw_task *out) {
    if (!spec || !p || !out) return lw_fail("task spec: needs a spec, params and an output");
    if (p->k_shot < 1 || p->n < 1) return lw_fail("task spec: k_shot = %d and n = %d must be at least 1", p->k_shot, p->n);
    /* kinds 0 would accept nothing and name no accepted form; bits above ALL name no kind */
    if (p->kinds <= 0 || (p->kinds & ~LW_TASK_SPEC_ALL))
        return lw_fail("task spec: kinds = %d is not a set of LW_TASK_SPEC_* flags (1 to %d)", p->kinds, LW_TASK_SPEC_ALL);
    if (p->fv_format != LW_TASK_FV_QA && p->fv_format != LW_TASK_FV_SKILL)
        return lw_fail("task spec: fv_format = %d is neither LW_TASK_FV_QA nor LW_TASK_FV_SKILL", (int)p->fv_format);
    return 0;
}

int lw_task_from_spec(const char *spec, const lw_task_spec_params *p, lw_task *out) {
    lw_task_spec_params dp = lw_task_spec_default_params();
    if (!p) p = &dp;
    if (check_params(spec, p, out) != 0) return -1;
    *out = (lw_task){0};
    parsed_spec ps;
    int rc = parse_spec(spec, p, &ps);
    if (rc == 0) rc = load_parsed(spec, &ps, ps.count ? ps.count : p->n, p, out);
    free(ps.name);
    return rc;
}

int lw_task_pool_from_spec(const char *spec, const lw_task_spec_params *p, int extra, lw_task *out, int *n_report) {
    lw_task_spec_params dp = lw_task_spec_default_params();
    if (!p) p = &dp;
    if (check_params(spec, p, out) != 0) return -1;
    if (!n_report) return lw_fail("task spec: needs an n_report output");
    *out = (lw_task){0};
    parsed_spec ps;
    int rc = parse_spec(spec, p, &ps);
    long n = ps.count ? ps.count : p->n;
    if (rc == 0 && (extra <= 0 || ps.kind == LW_TASK_SPEC_FILE)) {
        rc = load_parsed(spec, &ps, n, p, out);
        *n_report = rc == 0 && extra > 0 ? -1 : out->n;
    } else if (rc == 0) {
        /* room for the items whose texts repeat one already drawn (the story task has 560 texts) */
        long want = 4 * (n + extra);
        if (want > MAX_COUNT) want = MAX_COUNT;
        *n_report = (int)n;
        rc = load_parsed(spec, &ps, want, p, out);
    }
    free(ps.name);
    return rc;
}
