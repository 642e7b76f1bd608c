/* Readers that turn ../shared/data files into tasks: function_vectors ICL tasks, GSM8K,
 * multi-agent debate biographies. Sources and licenses: ../shared/data/PROVENANCE.md.
 * max_items <= 0 means every item. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonio.h"
#include "common/fileio.h"
#include "latentwire/textio.h"
#include "common/rng.h"
#include "task/task_internal.h"

/* Loads a whole JSON document; errors name the file and line. */
static json_t *load_json(const char *path) {
    json_error_t jerr;
    if (lw_check_regular_file(path) != 0) return NULL; /* json_load_file would wait on a FIFO */
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        FILE *fp = fopen(path, "rb");
        if (!fp) lw_fail("%s: %s", path, strerror(errno));
        else lw_fail("%s:%d: invalid JSON: %s", path, jerr.line, lw_json_error_text(&jerr));
        if (fp) fclose(fp);
    }
    return root;
}

/* File name without directory and extension ("antonym" for ".../antonym.json"). */
static void task_name(const char *path, char *out, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, cap, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = '\0';
}

/* ------------------------------------------------------------ function vectors ---- */

/* The pairs of a function_vectors file (a JSON list of {"input","output"}) into in / outs
 * (pointers into *root, which the caller releases); the count or -1. */
static int fv_pairs(const char *path, json_t **root, const char ***in, const char ***outs) {
    *in = *outs = NULL;
    if (!(*root = load_json(path))) return -1;
    if (!json_is_array(*root))
        return lw_fail("%s: expected a JSON list of {\"input\", \"output\"} objects", path);
    int n = (int)json_array_size(*root);
    *in = calloc((size_t)n + 1, sizeof **in);
    *outs = calloc((size_t)n + 1, sizeof **outs);
    if (!*in || !*outs) return lw_fail("%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        json_t *e = json_array_get(*root, (size_t)i);
        json_t *a = json_object_get(e, "input"), *o = json_object_get(e, "output");
        if (!json_is_object(e) || !json_is_string(a) || !json_is_string(o))
            return lw_fail("%s: element %d is not an object with string \"input\" and \"output\"", path, i);
        (*in)[i] = json_string_value(a);
        (*outs)[i] = json_string_value(o);
    }
    return n;
}

/* One demonstration or query in a format: "Q: in\nA: out\n\n" / "Q: q\nA:" (function vectors)
 * or "input: in\noutput: out" joined by "\n" / "input: q\noutput:" (skills). */
static void icl_pair(lw_strbuf *b, lw_icl_format f, const char *in, const char *out) {
    bool fv = f == LW_ICL_FV_PROMPT;
    if (!fv && b->n > 0) lw_sb_adds(b, "\n");
    lw_sb_adds(b, fv ? "Q: " : "input: ");
    lw_sb_adds(b, in);
    lw_sb_adds(b, fv ? "\nA:" : "\noutput:");
    if (!out) return;
    lw_sb_adds(b, " ");
    lw_sb_adds(b, out);
    if (fv) lw_sb_adds(b, "\n\n");
}

/* Queries are the first max_items pairs of a seeded shuffle whose output an answer can match
 * (lw_score_unmatchable); each query's k demonstrations
 * are drawn (seeded, without replacement) from the other pairs, skipping pairs whose input
 * equals the query's. Gold = the query's output, exact scorer, id "<name>-<index>". */
int lw_task_icl_items(const char *what, const char *name, const char *const *in, const char *const *outs, int n,
                      int k_shot, int max_items, uint64_t seed, lw_icl_format f, lw_task *out) {
    memset(out, 0, sizeof *out);
    if (k_shot < 0) return lw_fail("%s: k_shot must be >= 0 (got %d)", what, k_shot);
    if (n < k_shot + 1) return lw_fail("%s: %d pairs, need at least %d for %d-shot prompts", what, n, k_shot + 1, k_shot);
    int rc = -1;
    int *order = malloc(sizeof *order * (size_t)n), *pool = malloc(sizeof *pool * (size_t)n);
    lw_task_builder b = {0};
    lw_strbuf demos = {0}, recv = {0};
    if (!order || !pool) {
        lw_fail("%s: out of memory", what);
        goto done;
    }
    for (int i = 0; i < n; i++) order[i] = pool[i] = i;
    lw_rng rng;
    lw_rng_seed(&rng, seed);
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int j = (int)lw_rng_below(&rng, (uint64_t)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    int m = max_items > 0 && max_items < n ? max_items : n;
    char id[300];
    for (int qi = 0; qi < n && b.t.n < m; qi++) {
        int q = order[qi], got = 0;
        /* a query whose output no answer can match (capitalize_second_letter's "x-ray" -> "-") is
         * not an item (it scored 0 on every channel); it can still be a demonstration */
        if (lw_score_unmatchable(LW_SCORE_EXACT, outs[q])) continue;
        /* partial Fisher-Yates over the pool until k usable demonstrations are drawn */
        for (int i = 0; got < k_shot && i < n; i++) {
            int j = i + (int)lw_rng_below(&rng, (uint64_t)(n - i)), t = pool[i];
            pool[i] = pool[j];
            pool[j] = t;
            int d = pool[i];
            if (d == q || strcmp(in[d], in[q]) == 0) continue;
            icl_pair(&demos, f, in[d], outs[d]);
            got++;
        }
        if (got < k_shot) {
            lw_fail("%s: item %d: only %d demonstrations with an input different from the query's (need %d)", what, q,
                    got, k_shot);
            goto done;
        }
        if (f == LW_ICL_FV_PROMPT && demos.s) lw_sb_adds(&recv, demos.s);
        icl_pair(&recv, f, in[q], NULL);
        char *sender = lw_sb_take(&demos), *receiver = lw_sb_take(&recv);
        snprintf(id, sizeof id, "%s-%d", name, q);
        int r = sender && receiver ? lw_task_builder_add(&b, id, sender, receiver, outs[q], NULL, 0, LW_SCORE_EXACT)
                                   : lw_fail("%s: out of memory", what);
        free(sender);
        free(receiver);
        if (r != 0) goto done;
    }
    rc = 0;
done:
    free(lw_sb_take(&demos));
    free(lw_sb_take(&recv));
    free(order);
    free(pool);
    if (rc == 0) lw_task_builder_finish(&b, out);
    else lw_task_builder_free(&b);
    return rc;
}

static int fv_items(const char *path, int k_shot, int max_items, uint64_t seed, lw_icl_format f, lw_task *out) {
    if (!out) return lw_fail("function_vectors: no output task");
    memset(out, 0, sizeof *out);
    if (!path) return lw_fail("function_vectors: no path");
    if (k_shot < 0) return lw_fail("%s: k_shot must be >= 0 (got %d)", path, k_shot);
    json_t *root = NULL;
    const char **in, **outs;
    int n = fv_pairs(path, &root, &in, &outs), rc = -1;
    char name[256];
    task_name(path, name, sizeof name);
    if (n >= 0) rc = lw_task_icl_items(path, name, in, outs, n, k_shot, max_items, seed, f, out);
    free(in);
    free(outs);
    json_decref(root);
    return rc;
}

/* Each query's receiver is k demonstrations "Q: in\nA: out\n\n" followed by "Q: query\nA:";
 * the sender is the demonstrations alone (so receiver = sender + query part). */
int lw_task_from_function_vectors(const char *path, int k_shot, int max_items, uint64_t seed, lw_task *out) {
    return fv_items(path, k_shot, max_items, seed, LW_ICL_FV_PROMPT, out);
}

int lw_task_skill_from_function_vectors(const char *path, int k_shot, int max_items, uint64_t seed, lw_task *out) {
    return fv_items(path, k_shot, max_items, seed, LW_ICL_SKILL, out);
}

/* ----------------------------------------------------------------------- gsm8k ---- */

/* The number after the last "####" of a GSM8K answer, commas removed, into out (cap
 * bytes). false when there is none. */
static bool gsm8k_gold(const char *answer, char *out, size_t cap) {
    const char *mark = NULL;
    for (const char *p = strstr(answer, "####"); p; p = strstr(p + 4, "####")) mark = p;
    if (!mark) return false;
    const char *s = mark + 4;
    while (isspace((unsigned char)*s)) s++;
    size_t k = 0;
    for (; *s && !isspace((unsigned char)*s); s++) {
        if (*s == ',') continue;
        if (k + 1 >= cap) return false;
        out[k++] = *s;
    }
    out[k] = '\0';
    while (isspace((unsigned char)*s)) s++;
    if (k == 0 || *s) return false;
    char *end;
    strtod(out, &end);
    return *end == '\0';
}

/* Receiver "Question: <question>\nAnswer:", sender "" (single-model), gold the number
 * after "####" (commas removed: "1,600" -> "1600"), numeric scorer, id "gsm8k-<n>" with n
 * the 0-based item index in the file. */
typedef struct {
    lw_task_builder b;
    const char *path;
    int max_items;
} gsm8k_reader;

static int gsm8k_line(void *ud, char *s, size_t n, int64_t line_no) {
    gsm8k_reader *r = ud;
    size_t k = 0;
    while (k < n && isspace((unsigned char)s[k])) k++;
    if (k == n) return 0;
    json_error_t jerr;
    json_t *o = json_loadb(s, n, 0, &jerr);
    if (!o) return lw_fail("%s:%lld: invalid JSON: %s", r->path, (long long)line_no, lw_json_error_text(&jerr));
    json_t *q = json_object_get(o, "question"), *a = json_object_get(o, "answer");
    char gold[128], id[64];
    int rc;
    if (!json_is_object(o) || !json_is_string(q) || !json_is_string(a)) {
        rc = lw_fail("%s:%lld: expected an object with string \"question\" and \"answer\"", r->path, (long long)line_no);
    } else if (!gsm8k_gold(json_string_value(a), gold, sizeof gold)) {
        rc = lw_fail("%s:%lld: the answer does not end with \"#### <number>\"", r->path, (long long)line_no);
    } else {
        lw_strbuf q_text = {0};
        lw_sb_adds(&q_text, "Question: ");
        lw_sb_adds(&q_text, json_string_value(q));
        lw_sb_adds(&q_text, "\nAnswer:");
        char *receiver = lw_sb_take(&q_text);
        snprintf(id, sizeof id, "gsm8k-%d", r->b.t.n);
        rc = receiver ? lw_task_builder_add(&r->b, id, "", receiver, gold, NULL, 0, LW_SCORE_NUMERIC)
                      : lw_fail("%s: out of memory", r->path);
        free(receiver);
    }
    json_decref(o);
    if (rc != 0) return -1;
    return r->max_items > 0 && r->b.t.n >= r->max_items ? 1 : 0; /* 1: enough items, stop */
}

int lw_task_from_gsm8k(const char *path, int max_items, lw_task *out) {
    if (!out) return lw_fail("gsm8k: no output task");
    memset(out, 0, sizeof *out);
    if (!path) return lw_fail("gsm8k: no path");
    gsm8k_reader r = {.path = path, .max_items = max_items};
    int rc = lw_each_line(path, gsm8k_line, &r, NULL);
    if (rc == 0 && r.b.t.n == 0) rc = lw_fail("%s: no items", path);
    if (rc != 0) {
        lw_task_builder_free(&r.b);
        return -1;
    }
    lw_task_builder_finish(&r.b, out);
    return 0;
}

/* ----------------------------------------------------------------- biographies ---- */

/* The facts of one biography, one per line: bullets ("-", "*", "•") and surrounding
 * whitespace removed, blank lines dropped. malloc'd ("" when there are none). */
static char *bio_facts(const char *text) {
    lw_strbuf b = {0};
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        const char *s = line;
        while (s < end && isspace((unsigned char)*s)) s++;
        if (s < end && (*s == '-' || *s == '*')) s++;
        else if (end - s >= 3 && (unsigned char)s[0] == 0xE2 && (unsigned char)s[1] == 0x80 &&
                 (unsigned char)s[2] == 0xA2)
            s += 3;
        while (s < end && isspace((unsigned char)*s)) s++;
        const char *e = end;
        while (e > s && isspace((unsigned char)e[-1])) e--;
        if (e > s) {
            if (b.n) lw_sb_add(&b, "\n", 1);
            lw_sb_add(&b, s, (size_t)(e - s));
        }
        line = *end ? end + 1 : end;
    }
    return lw_sb_take(&b);
}

/* article.json maps a name to bullet-point facts. Receiver: the debate paper's prompt
 * "Give a bullet point biography of <name> highlighting their contributions and
 * achievements as a computer scientist, with each fact separated with a new line
 * character." (a trailing disambiguator such as " (computer scientist)" is dropped from
 * the name); sender ""; gold the facts, one per line; facts scorer; id "bio-<n>" in file
 * order. */
int lw_task_from_biographies(const char *path, int max_items, lw_task *out) {
    if (!out) return lw_fail("biographies: no output task");
    memset(out, 0, sizeof *out);
    if (!path) return lw_fail("biographies: no path");
    json_t *root = load_json(path);
    if (!root) return -1;
    if (!json_is_object(root)) {
        json_decref(root);
        return lw_fail("%s: expected a JSON object mapping names to facts", path);
    }
    lw_task_builder b = {0};
    int rc = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (max_items > 0 && b.t.n >= max_items) break;
        if (!json_is_string(val)) {
            rc = lw_fail("%s: \"%s\": the facts must be a string", path, key);
            break;
        }
        char *facts = bio_facts(json_string_value(val));
        if (!facts || !*facts) {
            free(facts);
            rc = facts ? lw_fail("%s: \"%s\": no facts", path, key) : lw_fail("%s: out of memory", path);
            break;
        }
        size_t kn = strlen(key);
        if (kn > 0 && key[kn - 1] == ')') {
            const char *open = strrchr(key, '(');
            if (open && open > key && open[-1] == ' ') kn = (size_t)(open - 1 - key);
        }
        lw_strbuf r = {0};
        lw_sb_adds(&r, "Give a bullet point biography of ");
        lw_sb_add(&r, key, kn);
        lw_sb_adds(&r, " highlighting their contributions and achievements as a computer scientist, with each fact "
                       "separated with a new line character.");
        char *receiver = lw_sb_take(&r), id[64];
        snprintf(id, sizeof id, "bio-%d", b.t.n);
        rc = receiver ? lw_task_builder_add(&b, id, "", receiver, facts, NULL, 0, LW_SCORE_FACTS)
                      : lw_fail("%s: out of memory", path);
        if (rc != 0 && receiver) lw_fail_prefix("%s: \"%s\": ", path, key);
        free(receiver);
        free(facts);
        if (rc != 0) break;
    }
    if (rc == 0 && b.t.n == 0) rc = lw_fail("%s: no biographies", path);
    json_decref(root);
    if (rc != 0) {
        lw_task_builder_free(&b);
        return -1;
    }
    lw_task_builder_finish(&b, out);
    return 0;
}
