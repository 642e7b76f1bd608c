/* The row-id join of two activation files (latentwire/rows.h). */
#include "latentwire/rows.h"

#include <stdbool.h>
#include <stdlib.h>

#include "common/error.h"

typedef struct {
    int64_t id, pos, row;
} key;

static int cmp_key(const void *pa, const void *pb) {
    const key *a = pa, *b = pb;
    if (a->id != b->id) return a->id < b->id ? -1 : 1;
    if (a->pos != b->pos) return a->pos < b->pos ? -1 : 1;
    return (a->row > b->row) - (a->row < b->row);
}

static bool same_key(const key *a, const key *b) { return a->id == b->id && a->pos == b->pos; }

/* The file's keys sorted by (key, row); an error names the duplicated key whose second
 * occurrence comes first in the file. NULL on error. */
static key *sorted_keys(const lw_row_keys *f, lw_join_mode mode) {
    key *k = malloc(sizeof *k * (size_t)(f->n ? f->n : 1));
    if (!k) {
        lw_fail("%s: out of memory", f->label);
        return NULL;
    }
    for (int64_t i = 0; i < f->n; i++)
        k[i] = (key){f->row_id[i], mode == LW_JOIN_ROW_POSITION ? f->position[i] : 0, i};
    qsort(k, (size_t)f->n, sizeof *k, cmp_key);
    int64_t dup = -1; /* index into k of the earliest second occurrence */
    for (int64_t i = 1; i < f->n; i++)
        if (same_key(&k[i], &k[i - 1]) && !(i >= 2 && same_key(&k[i - 1], &k[i - 2])) &&
            (dup < 0 || k[i].row < k[dup].row))
            dup = i;
    if (dup < 0) return k;
    if (mode == LW_JOIN_ROW_POSITION)
        lw_fail("%s: row_id %lld position %lld is on rows %lld and %lld: (row_id, position) must be unique", f->label,
                (long long)k[dup].id, (long long)k[dup].pos, (long long)k[dup - 1].row, (long long)k[dup].row);
    else
        lw_fail("%s: row_id %lld is on rows %lld and %lld: rows are paired by row id, which must be unique (a --pool "
                "none file has a row per token: extract one row per text with --pool mean or last, or pair two such "
                "files of one tokenizer by row id and position with bridge fit --by-position)",
                f->label, (long long)k[dup].id, (long long)k[dup - 1].row, (long long)k[dup].row);
    free(k);
    return NULL;
}

static int check_keys(const lw_row_keys *k, const char *which) {
    if (!k) return lw_fail("lw_join_rows: %s is NULL", which);
    if (k->n < 0 || (k->n > 0 && !k->row_id))
        return k->n < 0 ? lw_fail("lw_join_rows: %s (%s) has a negative row count %lld", which,
                                  k->label ? k->label : "no label", (long long)k->n)
                        : lw_fail("lw_join_rows: %s (%s) has %lld rows and no row ids", which,
                                  k->label ? k->label : "no label", (long long)k->n);
    return 0;
}

static int64_t join_rows(const lw_row_keys *a, const lw_row_keys *b, lw_join_mode mode, int64_t **ia, int64_t **ib);

int64_t lw_join_rows(const lw_row_keys *a, const lw_row_keys *b, lw_join_mode mode, int64_t **ia, int64_t **ib) {
    if (!ia || !ib) return lw_fail("lw_join_rows: %s is NULL", !ia ? "ia" : "ib");
    *ia = *ib = NULL;
    if (check_keys(a, "a") != 0 || check_keys(b, "b") != 0) return -1;
    if (mode != LW_JOIN_ROW_ID && mode != LW_JOIN_ROW_POSITION)
        return lw_fail("lw_join_rows: mode %d is neither LW_JOIN_ROW_ID nor LW_JOIN_ROW_POSITION", (int)mode);
    lw_row_keys ka = *a, kb = *b; /* messages name the files: a caller without labels gets "a" and "b" */
    if (!ka.label) ka.label = "a";
    if (!kb.label) kb.label = "b";
    int64_t n = join_rows(&ka, &kb, mode, ia, ib);
    if (n < 0) { /* nothing half-filled is handed back */
        free(*ia), free(*ib);
        *ia = *ib = NULL;
    }
    return n;
}

static int64_t join_rows(const lw_row_keys *a, const lw_row_keys *b, lw_join_mode mode, int64_t **ia, int64_t **ib) {
    *ia = malloc(sizeof(int64_t) * (size_t)(a->n ? a->n : 1));
    *ib = malloc(sizeof(int64_t) * (size_t)(a->n ? a->n : 1));
    if (!*ia || !*ib) return lw_fail("out of memory");
    if (mode == LW_JOIN_ROW_POSITION)
        for (int s = 0; s < 2; s++) {
            const lw_row_keys *f = s ? b : a;
            if (!f->position || !f->token)
                return lw_fail("%s: no \"position\" and \"token\" tensors: pairing by row id and position needs two "
                               "--pool none files",
                               f->label);
        }
    key *ka = sorted_keys(a, mode), *kb = ka ? sorted_keys(b, mode) : NULL;
    if (!kb) {
        free(ka);
        return -1;
    }
    free(ka); /* only checked for duplicates: pairs follow a's file order */
    int64_t n = 0;
    for (int64_t i = 0; i < a->n; i++) {
        key want = {a->row_id[i], mode == LW_JOIN_ROW_POSITION ? a->position[i] : 0, -1};
        /* the first b-entry >= want: keys are unique, so at most one matches */
        int64_t lo = 0, hi = b->n;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (cmp_key(&kb[mid], &want) < 0) lo = mid + 1;
            else hi = mid;
        }
        if (lo == b->n || !same_key(&kb[lo], &want)) continue;
        int64_t j = kb[lo].row;
        if (mode == LW_JOIN_ROW_POSITION && a->token[i] != b->token[j]) {
            lw_fail("row_id %lld position %lld holds token %d in %s but %d in %s: the files come from different "
                    "tokenizers, whose positions do not correspond; pair them by row id (--pool mean or last)",
                    (long long)want.id, (long long)want.pos, a->token[i], a->label, b->token[j], b->label);
            free(kb);
            return -1;
        }
        (*ia)[n] = i;
        (*ib)[n] = j;
        n++;
    }
    free(kb);
    return n;
}
