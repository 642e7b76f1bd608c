/* Disjoint parts of a task (see lw_task_split in task.h): the items an experiment reports on,
 * the items it selects a setting on, the texts it calibrates a map on. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"
#include "task/task_internal.h"

/* What must not be shared between parts: the text the sender reads (a channel passes it on,
 * a map is calibrated on it), or the prompt of a single-model item. */
static const char *item_key(const lw_task_item *it) { return it->sender && *it->sender ? it->sender : it->receiver; }

static bool shares_text(const lw_task_item *a, const lw_task *other) {
    for (int j = 0; j < other->n; j++) {
        const lw_task_item *b = &other->items[j];
        /* the id too: fv:NAME items keep their ids ("antonym-17") in the skill format a scan reads them
         * in and in the Q/A format a race does, where none of their texts match */
        if ((a->sender && *a->sender && b->sender && !strcmp(a->sender, b->sender)) ||
            (a->receiver && b->receiver && !strcmp(a->receiver, b->receiver)) ||
            (a->id && b->id && !strcmp(a->id, b->id)))
            return true;
    }
    return false;
}

int lw_task_copy(const lw_task *t, lw_task *out) {
    if (!t || !out) return lw_fail("lw_task_copy: %s is NULL", !t ? "the task" : "out");
    memset(out, 0, sizeof *out);
    if (t->n < 0) return lw_fail("lw_task_copy: the task has a negative count n = %d", t->n);
    if (t->n > 0 && !t->items) return lw_fail("lw_task_copy: the task has n = %d and no items", t->n);
    lw_task_builder b = {0};
    for (int i = 0; i < t->n; i++) {
        const lw_task_item *it = &t->items[i];
        if (lw_task_builder_add(&b, it->id, it->sender, it->receiver, it->gold, (const char *const *)it->aliases,
                                it->n_aliases, it->scorer) != 0) {
            lw_task_builder_free(&b);
            return -1;
        }
    }
    lw_task_builder_finish(&b, out);
    return 0;
}

int lw_task_exclude(lw_task *t, const lw_task *other) {
    if (!t || !other) return lw_fail("task exclude: no task");
    int kept = 0, removed = 0;
    for (int i = 0; i < t->n; i++) {
        if (shares_text(&t->items[i], other)) {
            lw_task_item_clear(&t->items[i]);
            removed++;
        } else {
            t->items[kept++] = t->items[i];
        }
    }
    t->n = kept;
    return removed;
}

int lw_task_split(const lw_task *pool, const int *sizes, int n_parts, uint64_t seed, lw_task *parts) {
    if (n_parts < 1) return lw_fail("task split: n_parts = %d (at least 1)", n_parts);
    if (!pool || !sizes || !parts) return lw_fail("task split: %s is NULL", !pool ? "the pool" : !sizes ? "sizes" : "parts");
    if (pool->n < 0 || (pool->n > 0 && !pool->items)) return lw_fail("task split: the pool has n = %d and no items", pool->n);
    for (int p = 0; p < n_parts; p++) memset(&parts[p], 0, sizeof parts[p]);
    int want = 0, n = pool->n;
    bool rest = n_parts > 0 && sizes[n_parts - 1] < 0; /* the last part takes what is left */
    for (int p = 0; p < n_parts - rest; p++) {
        if (sizes[p] < 0) return lw_fail("task split: part %d has a negative size", p);
        want += sizes[p];
    }
    int32_t *order = malloc(sizeof *order * (size_t)(n ? n : 1));
    int *owner = malloc(sizeof *owner * (size_t)(n ? n : 1)); /* part of each item (-1: unused) */
    int *have = calloc((size_t)n_parts, sizeof *have);
    if (!order || !owner || !have) {
        free(order), free(owner), free(have);
        return lw_fail("task split: out of memory");
    }
    for (int i = 0; i < n; i++) order[i] = i, owner[i] = -1;
    lw_rng r;
    lw_rng_seed(&r, seed);
    lw_rng_shuffle_i32(&r, order, n);
    int placed = 0, left_over = 0;
    int *cap = malloc(sizeof *cap * (size_t)(n_parts ? n_parts : 1));
    for (int p = 0; cap && p < n_parts; p++) cap[p] = rest && p == n_parts - 1 ? n : sizes[p];
    for (int o = 0; cap && o < n && (rest || placed < want); o++) {
        int i = order[o], part = -1;
        /* a text already in a part keeps the item there (or out, when that part is full) */
        for (int q = 0; q < o && part < 0; q++)
            if (owner[order[q]] >= 0 && !strcmp(item_key(&pool->items[order[q]]), item_key(&pool->items[i])))
                part = owner[order[q]];
        if (part < 0)
            for (int p = 0; p < n_parts && part < 0; p++)
                if (have[p] < cap[p]) part = p;
        if (part < 0 || have[part] == cap[part]) continue;
        owner[i] = part;
        have[part]++;
        if (rest && part == n_parts - 1) left_over++;
        else placed++;
    }
    int rc = cap ? 0 : lw_fail("task split: out of memory");
    free(cap);
    if (rc == 0 && rest && left_over == 0) {
        rc = lw_fail("task split: the task's %d items leave none to report after %d for selection or calibration "
                     "(items with the same text stay together); use a larger task or fewer selection/calibration items",
                     n, want);
    } else if (rc == 0 && placed < want) {
        rc = lw_fail("task split: the task's %d items fill only %d of the %d wanted (items with the same text stay "
                     "together); use a larger task or fewer selection/calibration items",
                     n, placed, want);
    }
    /* each part in the pool's order, so reports list items as the task does */
    for (int p = 0; rc == 0 && p < n_parts; p++) {
        lw_task_builder b = {0};
        for (int i = 0; rc == 0 && i < n; i++) {
            const lw_task_item *it = &pool->items[i];
            if (owner[i] == p)
                rc = lw_task_builder_add(&b, it->id, it->sender, it->receiver, it->gold,
                                         (const char *const *)it->aliases, it->n_aliases, it->scorer);
        }
        if (rc == 0) lw_task_builder_finish(&b, &parts[p]);
        else lw_task_builder_free(&b);
    }
    if (rc != 0)
        for (int p = 0; p < n_parts; p++) lw_task_free(&parts[p]);
    free(order);
    free(owner);
    free(have);
    return rc;
}
