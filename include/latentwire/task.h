/* Tasks: items with an input and a gold answer, readers for ../shared/data, scorers, and
 * a templated story task small models can solve.
 *
 * A task file is JSONL, one item per line:
 *   {"id": "...", "sender": "...", "receiver": "...", "gold": "...", "scorer": "exact"}
 * where `sender` is what the sending model reads (the context to communicate), `receiver`
 * is the receiving model's prompt (the question), `gold` the answer; optional "aliases"
 * (array of strings, also accepted), "meta" (any JSON). For single-model tasks `sender`
 * may be empty and the model reads `receiver` only. */
#ifndef LATENTWIRE_TASK_H
#define LATENTWIRE_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include "latentwire/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LW_SCORE_EXACT = 0,    /* the prediction's first k normalized words equal the k-word
                              normalized gold or an alias (what follows is ignored) */
    LW_SCORE_NUMERIC = 1,  /* GSM8K: the prediction's last number equals the gold number */
    LW_SCORE_CONTAINS = 2, /* the normalized prediction contains the normalized gold */
    LW_SCORE_FACTS = 3,    /* biographies: share of gold facts (one per line of gold) whose key
                              terms the prediction states */
} lw_scorer;

const char *lw_scorer_name(lw_scorer s);
int lw_scorer_from_name(const char *name); /* -1 if unknown */

typedef struct {
    char *id;
    char *sender;       /* may be "" */
    char *receiver;
    char *gold;
    char **aliases;     /* extra accepted answers */
    int n_aliases;
    lw_scorer scorer;
} lw_task_item;

typedef struct {
    lw_task_item *items;
    int n;
} lw_task;

/* Reads a task JSONL file. A broken line is an error naming the file and line; nothing is
 * returned then (no partial task). */
int lw_task_load(const char *path, lw_task *out);
/* Writes a task as JSONL (atomically); an item lw_task_load would refuse is refused here, naming it. */
int lw_task_save(const char *path, const lw_task *t);
void lw_task_free(lw_task *t);

/* Scores a prediction in [0, 1] (1/0 except LW_SCORE_FACTS). An empty or NULL prediction scores
 * 0. NaN, with the message set, for a NULL item and for an item no score can be given (no gold, a
 * NULL alias, an unknown scorer): 0 would pass for a wrong answer. */
double lw_score(const lw_task_item *item, const char *prediction);

/* Normalization used by the scorers: lowercase, punctuation and articles (a, an, the)
 * removed, whitespace collapsed. Returns a malloc'd string. */
char *lw_normalize_answer(const char *s);

/* The last number in s (commas in digit groups removed, sign kept, "$" and trailing
 * "." ignored) into *out; false when s has no number. */
bool lw_last_number(const char *s, double *out);

/* Disjoint parts of a pool of items, e.g. the items an experiment reports on, the items it
 * selects a setting on, and the texts it calibrates a map on. Walks a permutation of the pool
 * drawn from seed and fills parts[0..n_parts) to sizes[] in order; an item whose text (its
 * sender text, or its receiver prompt when the sender is empty) is already in a part goes to
 * that part or, when it is full, nowhere, so no text is in two parts. A negative size for
 * the last part gives it every item left (none of whose texts is in another part). Each
 * part keeps the pool's order. 0, or -1 (nothing returned) when the pool has too few distinct texts. */
int lw_task_split(const lw_task *pool, const int *sizes, int n_parts, uint64_t seed, lw_task *parts);

/* A deep copy of t into out (lw_task_free). 0, or -1 (nothing returned). */
int lw_task_copy(const lw_task *t, lw_task *out);
/* Removes from t every item that shares an id, a sender text or a receiver prompt with an item of
 * `other` (e.g. the items a layer was chosen on, so that a later run reports on none of them);
 * t keeps its order. The count removed, or -1 when t or other is NULL. */
int lw_task_exclude(lw_task *t, const lw_task *other);

/* sha256 over every item's fields (id, sender, receiver, gold) of parts[0..n_parts) and which part
 * each is in: a resumed run must see the very same items in the very same parts. NULL out: nothing
 * is written; NULL parts: out is "". */
void lw_task_parts_sha256(const lw_task *parts, int n_parts, char out[65]);

/* ---- readers for ../shared/data ---- */

/* function_vectors ICL task (a JSON list of {"input","output"}): each item's receiver is
 * a few-shot prompt of k demonstrations ("Q: in\nA: out\n\n" ... "Q: query\nA:") drawn
 * with a seed from the other pairs; sender is the same demonstrations without the query
 * (so a sender can pass the skill). At most max_items items. */
int lw_task_from_function_vectors(const char *path, int k_shot, int max_items, uint64_t seed, lw_task *out);

/* ---- in-context skill transfer (the layer scan) ----
 * Each item's sender reads k demonstrations of a skill, one "input: X\noutput: Y" pair per
 * demonstration joined by newlines ("input: hop\noutput: h\ninput: skip\noutput: s"); the
 * receiver reads the query alone ("input: jump\noutput:"); gold = the query's answer (exact
 * scorer). Demonstrations are drawn (seeded) from the other pairs, never with the query's
 * input; queries are the first n_items of a seeded shuffle (n_items <= 0: every pair). The
 * text ceiling is the receiver reading the demonstrations and then the query
 * (lw_task_context_prompt). */

/* A function_vectors file in the skill format. */
int lw_task_skill_from_function_vectors(const char *path, int k_shot, int n_items, uint64_t seed, lw_task *out);

/* A templated skill by name: first_letter, last_letter, repeat_word (words from a fixed list
 * of 150), next_number, prev_number, double_number. An unknown name is an error listing them. */
int lw_task_skill(const char *name, int k_shot, int n_items, uint64_t seed, lw_task *out);
/* The templated skills: how many, and the i-th's name (NULL past the end) and description. */
int lw_task_skill_count(void);
const char *lw_task_skill_name(int i, const char **description);

/* The task-vector reading of a skill-format sender text (Hendel et al. 2023, "In-context learning
 * creates task vectors"): the text up to and including its last line that starts "output:", so the
 * last demonstration's answer is withheld and the text ends where the model would answer it. The
 * last position then holds what the model has made of the skill, not the last answer's word.
 * malloc'd; NULL with the message set when no line starts "output:" (not the skill format). */
char *lw_task_withhold_last_answer(const char *sender);

/* The receiver's prompt after the sender's text: sender + "\n" (unless it already ends with
 * one) + receiver, or the receiver alone when the sender is empty. malloc'd; NULL on error. */
char *lw_task_context_prompt(const lw_task_item *item);

/* GSM8K JSONL ({"question","answer"}): gold = the number after "####"; scorer numeric. */
int lw_task_from_gsm8k(const char *path, int max_items, lw_task *out);

/* Multi-agent debate biographies (article.json: {"Name": "bullet facts..."}): receiver
 * asks for a bullet-point biography; gold = the facts, one per line; scorer facts. */
int lw_task_from_biographies(const char *path, int max_items, lw_task *out);

/* ---- task specs: what a verb's --task names ----
 *   FILE.jsonl       a task file (lw_task_load)
 *   story:N          N story items (lw_task_story)
 *   gsm8k:N          the first N of DATA/gsm8k/test.jsonl (lw_task_from_gsm8k)
 *   bio:N            the first N of DATA/multiagent_debate_biography/article.json
 *   fv:NAME[:N]      DATA/function_vectors/abstractive/NAME.json (else extractive/), N items
 *                    (default p->n) of k_shot demonstrations: as Q/A prompts
 *                    (lw_task_from_function_vectors) or in the skill format
 *                    (lw_task_skill_from_function_vectors), per p->fv_format
 *   skill:NAME[:N]   a templated skill (lw_task_skill), N items (default p->n), k_shot demonstrations
 * N is an integer in [1, 1000000] (spaces around it ignored); NAME is not empty, has no '/' and
 * is not . or .. (it becomes part of a path under DATA). A spec "word:..." that is no existing
 * file and no kind above is an error naming the unknown kind. Errors are one message naming
 * p->option and the spec (a missing data file: the path and the data directory looked in). */
enum {
    LW_TASK_SPEC_FILE = 1,
    LW_TASK_SPEC_STORY = 2,
    LW_TASK_SPEC_GSM8K = 4,
    LW_TASK_SPEC_BIO = 8,
    LW_TASK_SPEC_FV = 16,
    LW_TASK_SPEC_SKILL = 32,
    LW_TASK_SPEC_ALL = 63,
};

typedef enum {
    LW_TASK_FV_QA = 0,    /* "Q: in\nA: out\n\n" ... "Q: query\nA:" (channel, debate, race) */
    LW_TASK_FV_SKILL = 1, /* "input: in\noutput: out" pairs, the receiver the query alone (scan) */
} lw_task_fv_format;

typedef struct {
    const char *data_dir;        /* the named sources' directory; NULL (default): $LW_SHARED_DIR/data
                                    when LW_SHARED_DIR is set, else ../shared/data */
    int k_shot;                  /* demonstrations per fv: and skill: item (default 5) */
    int n;                       /* items of an fv: or skill: spec without :N (default 200) */
    uint64_t seed;               /* drawing of items and demonstrations (default 1) */
    lw_task_fv_format fv_format; /* default LW_TASK_FV_QA */
    int kinds;                   /* LW_TASK_SPEC_* flags the caller takes (default LW_TASK_SPEC_ALL);
                                    another kind is an error listing those it takes */
    const char *option;          /* the option named in errors (default "--task") */
} lw_task_spec_params;

lw_task_spec_params lw_task_spec_default_params(void);

/* The items spec names (p NULL: defaults). 0, or -1 with the message set and *out empty. */
int lw_task_from_spec(const char *spec, const lw_task_spec_params *p, lw_task *out);

/* A pool to draw `extra` more items from than are reported (selection, calibration items: then
 * lw_task_split): a counted spec (story:N, gsm8k:N, bio:N, fv:NAME[:N], skill:NAME[:N]) loads
 * 4 x (N + extra) items (at most 1000000: room for items whose texts repeat one already drawn)
 * and *n_report = N; a task file loads whole and *n_report = -1 (report what is left of it).
 * extra <= 0: lw_task_from_spec, *n_report = its count. 0 or -1. */
int lw_task_pool_from_spec(const char *spec, const lw_task_spec_params *p, int extra, lw_task *out, int *n_report);

/* ---- the story task: small models can solve it ---- */

/* The sender reads a short story introducing a character's name and an object; the
 * receiver's prompt needs that name (kind 0) or object (kind 1) as its next word. Items
 * come from templates with names and objects both tiny models know, deterministic from
 * the seed. The no-communication floor is what the receiver guesses without the story.
 * n_items in [1, 1000000]. */
int lw_task_story(int n_items, uint64_t seed, lw_task *out);

#ifdef __cplusplus
}
#endif
#endif
