/* Hooks: validation, matching rows to hooks, and the four operations. Rows are the hook's
 * site's width (n_embd, or n_head * head_dim for hook_z). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/finite.h"
#include "runtime/internal.h"

lw_hook lw_hook_default(void) {
    lw_hook h;
    memset(&h, 0, sizeof h);
    h.site = LW_SITE_RESID_POST;
    h.seq = -1;
    h.op = LW_OP_CAPTURE;
    h.pos_mode = LW_POS_ALL;
    h.scale = 1.0f;
    return h;
}

static const char *op_name(lw_op op) {
    switch (op) {
    case LW_OP_CAPTURE: return "capture";
    case LW_OP_REPLACE: return "replace";
    case LW_OP_ADD: return "add";
    case LW_OP_MEAN: return "mean";
    }
    return "?";
}

static int validate_hook(const lw_session *s, const lw_hook *h) {
    if (h->site < 0 || h->site >= LW_SITE_COUNT) return lw_fail("hook: unknown site %d", (int)h->site);
    if (h->site != LW_SITE_EMBED && (h->layer < 0 || h->layer >= s->n_layer))
        return lw_fail("hook: layer %d is out of range (model has layers 0..%d)", h->layer, s->n_layer - 1);
    const int w = s->site_width[h->site];
    if (w <= 0) { /* the architecture lacks the site: the message names both */
        lw_site_width(s->model, h->site);
        return lw_fail_prefix("hook: ");
    }
    if (h->seq < -1 || h->seq >= s->params.n_seq_max)
        return lw_fail("hook: sequence %d is out of range (session has %d)", h->seq, s->params.n_seq_max);
    if (h->op < LW_OP_CAPTURE || h->op > LW_OP_MEAN) return lw_fail("hook: unknown op %d", (int)h->op);
    if (h->pos_mode < LW_POS_ALL || h->pos_mode > LW_POS_LIST)
        return lw_fail("hook: unknown position mode %d", (int)h->pos_mode);
    if (h->pos_mode == LW_POS_LIST) {
        if (h->n_positions <= 0 || !h->positions) return lw_fail("hook: empty position list");
        for (int i = 0; i < h->n_positions; i++)
            if (h->positions[i] < 0) return lw_fail("hook: negative position %d", h->positions[i]);
    }
    if (h->coord_begin != 0 || h->coord_end != 0) {
        if (h->coord_begin < 0 || h->coord_end > w || h->coord_begin >= h->coord_end)
            return lw_fail("hook: coordinate range [%d, %d) is not inside [0, %d)", h->coord_begin, h->coord_end, w);
    }
    if (h->op == LW_OP_CAPTURE) return 0;
    if (!h->vectors || h->n_vectors <= 0) return lw_fail("hook: %s needs at least one vector", op_name(h->op));
    if (h->n_vectors > 1) {
        if (h->pos_mode == LW_POS_LAST)
            return lw_fail("hook: %d vectors given for the last position; give 1", h->n_vectors);
        if (h->pos_mode == LW_POS_LIST && h->n_vectors != h->n_positions)
            return lw_fail("hook: %d vectors for %d positions; give 1 or one per position", h->n_vectors,
                           h->n_positions);
    }
    int64_t bad = lw_first_nonfinite(h->vectors, (int64_t)h->n_vectors * w);
    if (bad >= 0)
        return lw_fail("hook: vector %lld has a non-finite value at coordinate %lld", (long long)(bad / w),
                       (long long)(bad % w));
    if (!isfinite(h->scale)) return lw_fail("hook: scale is not finite");
    return 0;
}

int lw_session_add_hook(lw_session *s, const lw_hook *h) {
    if (!s || !h) return lw_fail("hook: %s is NULL", s ? "the hook" : "the session");
    if (validate_hook(s, h) != 0) return -1;
    lw_hook_entry *grown = realloc(s->hooks, sizeof *grown * (size_t)(s->n_hooks + 1));
    if (!grown) return lw_fail("out of memory");
    s->hooks = grown;
    lw_hook_entry *e = &s->hooks[s->n_hooks];
    memset(e, 0, sizeof *e);
    e->h = *h;
    e->width = s->site_width[h->site];
    if (h->site == LW_SITE_EMBED) e->h.layer = -1;
    if (h->coord_begin == 0 && h->coord_end == 0) e->h.coord_end = e->width;
    if (h->pos_mode == LW_POS_LIST) {
        e->positions = malloc(sizeof(int32_t) * (size_t)h->n_positions);
        if (!e->positions) return lw_fail("out of memory");
        memcpy(e->positions, h->positions, sizeof(int32_t) * (size_t)h->n_positions);
    }
    e->h.positions = e->positions;
    if (h->op != LW_OP_CAPTURE) {
        size_t n = (size_t)h->n_vectors * (size_t)e->width;
        e->vectors = malloc(sizeof(float) * n);
        if (!e->vectors) {
            free(e->positions);
            return lw_fail("out of memory");
        }
        memcpy(e->vectors, h->vectors, sizeof(float) * n);
    } else {
        e->h.n_vectors = 0;
    }
    e->h.vectors = e->vectors;
    return s->n_hooks++;
}

static void free_captures(lw_hook_entry *e) {
    free(e->rows);
    free(e->row_seq);
    free(e->row_pos);
    e->rows = NULL;
    e->row_seq = e->row_pos = NULL;
    e->n_rows = e->cap_rows = 0;
}

void lw_hooks_free_all(lw_session *s) {
    for (int i = 0; i < s->n_hooks; i++) {
        free_captures(&s->hooks[i]);
        free(s->hooks[i].positions);
        free(s->hooks[i].vectors);
    }
    free(s->hooks);
    s->hooks = NULL;
    s->n_hooks = 0;
}

void lw_session_clear_hooks(lw_session *s) {
    if (s) lw_hooks_free_all(s); /* void: a NULL session is ignored */
}

void lw_session_clear_captures(lw_session *s) {
    if (!s) return; /* void: nothing to report to */
    for (int i = 0; i < s->n_hooks; i++) free_captures(&s->hooks[i]);
}

int lw_session_capture(const lw_session *s, int id, const float **data, const int32_t **seqs,
                       const int32_t **positions) {
    if (!s) return lw_fail("capture: the session is NULL");
    if (id < 0 || id >= s->n_hooks) return lw_fail("capture: no hook with id %d", id);
    const lw_hook_entry *e = &s->hooks[id];
    if (data) *data = e->rows;
    if (seqs) *seqs = e->row_seq;
    if (positions) *positions = e->row_pos;
    return e->n_rows;
}

/* Index into the hook's position list, or -1. Lists are short; a linear scan is fine. */
static int list_index(const lw_hook_entry *e, int pos) {
    for (int i = 0; i < e->h.n_positions; i++)
        if (e->positions[i] == pos) return i;
    return -1;
}

bool lw_hook_matches(const lw_session *s, const lw_hook_entry *e, int seq, int pos) {
    if (e->h.seq >= 0 && e->h.seq != seq) return false;
    switch (e->h.pos_mode) {
    case LW_POS_ALL: return true;
    case LW_POS_LAST: return pos == s->run_last_pos[seq];
    case LW_POS_LIST: return list_index(e, pos) >= 0;
    }
    return false;
}

static const float *hook_vector(const lw_hook_entry *e, int pos) {
    int idx = 0;
    if (e->h.n_vectors > 1) idx = e->h.pos_mode == LW_POS_LIST ? list_index(e, pos) : pos;
    return e->vectors + (size_t)idx * (size_t)e->width;
}

static int append_capture(lw_hook_entry *e, int seq, int pos, const float *row) {
    if (e->n_rows == e->cap_rows) {
        int cap = e->cap_rows ? e->cap_rows * 2 : 64;
        float *r = realloc(e->rows, sizeof(float) * (size_t)cap * (size_t)e->width);
        if (r) e->rows = r;
        int32_t *sq = realloc(e->row_seq, sizeof(int32_t) * (size_t)cap);
        if (sq) e->row_seq = sq;
        int32_t *ps = realloc(e->row_pos, sizeof(int32_t) * (size_t)cap);
        if (ps) e->row_pos = ps;
        if (!r || !sq || !ps) return lw_fail("out of memory while capturing activations");
        e->cap_rows = cap;
    }
    memcpy(e->rows + (size_t)e->n_rows * (size_t)e->width, row, sizeof(float) * (size_t)e->width);
    e->row_seq[e->n_rows] = seq;
    e->row_pos[e->n_rows] = pos;
    e->n_rows++;
    return 0;
}

/* After hook i wrote coordinates [b, end) of a row: each stays finite and squarable. */
static int check_written(const lw_hook_entry *e, int i, int pos, const float *row, int b, int end) {
    for (int j = b; j < end; j++) {
        if (fabsf(row[j]) <= LW_ACTIVATION_MAX) continue;
        char site[96];
        lw_site_name((lw_site_ref){e->h.site, e->h.site == LW_SITE_EMBED ? -1 : e->h.layer}, site, sizeof site);
        return lw_fail("hook %d at %s made the activation at position %d, coordinate %d %g: not finite or beyond "
                       "%.2g, whose square overflows float32 in the model's norms; scale its vectors down",
                       i, site, pos, j, (double)row[j], (double)LW_ACTIVATION_MAX);
    }
    return 0;
}

int lw_hooks_apply_row(lw_session *s, lw_site site, int layer, int seq, int pos, float *row) {
    int modified = 0;
    for (int i = 0; i < s->n_hooks; i++) {
        lw_hook_entry *e = &s->hooks[i];
        if (e->h.site != site || (site != LW_SITE_EMBED && e->h.layer != layer)) continue;
        if (!lw_hook_matches(s, e, seq, pos)) continue;
        if (e->h.op == LW_OP_CAPTURE) {
            if (append_capture(e, seq, pos, row) != 0) return -1;
            continue;
        }
        const float *v = hook_vector(e, pos);
        const int b = e->h.coord_begin, end = e->h.coord_end;
        switch (e->h.op) {
        case LW_OP_REPLACE:
            memcpy(row + b, v + b, sizeof(float) * (size_t)(end - b));
            break;
        case LW_OP_ADD:
            for (int j = b; j < end; j++) row[j] += e->h.scale * v[j];
            break;
        case LW_OP_MEAN:
            for (int j = b; j < end; j++) row[j] = (row[j] + v[j]) * 0.5f;
            break;
        default:
            break;
        }
        if (check_written(e, i, pos, row, b, end) != 0) return -1;
        modified = 1;
    }
    return modified;
}

int lw_hooks_check_run(const lw_session *s) {
    for (int i = 0; i < s->n_hooks; i++) {
        const lw_hook_entry *e = &s->hooks[i];
        for (int seq = 0; seq < s->params.n_seq_max; seq++) {
            int last = s->run_last_pos[seq];
            if (last < 0 || (e->h.seq >= 0 && e->h.seq != seq)) continue;
            int reach = last + s->horizon;
            if (e->h.pos_mode == LW_POS_LIST) {
                for (int k = 0; k < e->h.n_positions; k++)
                    if (e->positions[k] > reach)
                        return lw_fail("hook %d: position %d is past the end of sequence %d (last position %d)",
                                       i, e->positions[k], seq, reach);
            } else if (e->h.pos_mode == LW_POS_ALL && e->h.n_vectors > 1 && reach >= e->h.n_vectors) {
                return lw_fail("hook %d: %d vectors cover positions 0..%d but sequence %d reaches position %d", i,
                               e->h.n_vectors, e->h.n_vectors - 1, seq, reach);
            }
        }
    }
    return 0;
}

bool lw_hooks_any_at(const lw_session *s, lw_site site, int layer) {
    for (int i = 0; i < s->n_hooks; i++) {
        const lw_hook_entry *e = &s->hooks[i];
        if (e->h.site == site && (site == LW_SITE_EMBED || e->h.layer == layer)) return true;
    }
    return false;
}

bool lw_hooks_capture_only(const lw_session *s) {
    for (int i = 0; i < s->n_hooks; i++)
        if (s->hooks[i].h.op != LW_OP_CAPTURE) return false;
    return true;
}

int lw_hooks_deepest(const lw_session *s) {
    int deepest = -2;
    for (int i = 0; i < s->n_hooks; i++) {
        int d = lw_site_depth(s->hooks[i].h.site, s->hooks[i].h.layer);
        if (d > deepest) deepest = d;
    }
    return deepest;
}
