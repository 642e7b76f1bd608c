/* Internal helpers shared by the task files: building items and tasks. */
#ifndef LW_TASK_INTERNAL_H
#define LW_TASK_INTERNAL_H

#include <stdbool.h>

#include "latentwire/task.h"

/* A task under construction: items are appended, the capacity grows. */
typedef struct {
    lw_task t;
    int cap;
} lw_task_builder;

/* Appends an item whose strings are copied (sender NULL = ""; aliases may be NULL when
 * n_aliases is 0). 0, or -1 with the error set (out of memory). */
int lw_task_builder_add(lw_task_builder *b, const char *id, const char *sender, const char *receiver,
                        const char *gold, const char *const *aliases, int n_aliases, lw_scorer scorer);

/* Hands the task over to *out (the builder is left empty). */
void lw_task_builder_finish(lw_task_builder *b, lw_task *out);

/* Frees what the builder holds. */
void lw_task_builder_free(lw_task_builder *b);

/* Why an answer (a gold or an alias) can never be matched under the scorer, as a phrase ("holds no
 * number, so ..."), or NULL when it can: exact and contains need a letter or digit, numeric a
 * number, facts one fact with a key term. */
const char *lw_score_unmatchable(lw_scorer scorer, const char *answer);

/* Frees the strings of one item. */
void lw_task_item_clear(lw_task_item *item);

/* How in-context items are written: LW_ICL_FV_PROMPT, the function-vectors prompt ("Q: in\nA:
 * out\n\n" demonstrations, the receiver reads them and the query "Q: q\nA:"); LW_ICL_SKILL, the
 * scan's skill transfer ("input: in\noutput: out" lines for the sender, "input: q\noutput:" alone
 * for the receiver). */
typedef enum { LW_ICL_FV_PROMPT = 0, LW_ICL_SKILL = 1 } lw_icl_format;

/* Items from n (input, output) pairs named `name` (item ids "<name>-<index>"; errors name
 * `what`, e.g. the file): see readers.c. */
int lw_task_icl_items(const char *what, const char *name, const char *const *in, const char *const *outs, int n,
                      int k_shot, int max_items, uint64_t seed, lw_icl_format f, lw_task *out);

/* A growable string. */
typedef struct {
    char *s;
    size_t n, cap;
    bool oom;
} lw_strbuf;

void lw_sb_add(lw_strbuf *b, const char *s, size_t n);
void lw_sb_adds(lw_strbuf *b, const char *s);
/* The string (malloc'd, never NULL unless out of memory); the buffer is left empty. */
char *lw_sb_take(lw_strbuf *b);

#endif
