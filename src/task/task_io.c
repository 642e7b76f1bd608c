/* Task files: JSONL load and (atomic) save, scorer names, the item builder.
 *
 * One item per line:
 *   {"id": "...", "sender": "...", "receiver": "...", "gold": "...", "scorer": "exact"}
 * All five fields are required strings ("sender" may be ""); "aliases" (an array of
 * strings) is optional; "meta" and any other key are accepted and ignored (not kept).
 * Blank lines are skipped, a UTF-8 byte-order mark on the first line and CRLF endings
 * are tolerated. A broken line (invalid JSON, not an object, a missing or mistyped
 * field, an unknown scorer, a duplicate id) is an error naming the file and line, and
 * nothing is returned; so is a file with no items. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonio.h"
#include "common/fileio.h"
#include "latentwire/textio.h"
#include "task/task_internal.h"

/* ------------------------------------------------------------------ scorer names ---- */

static const char *const SCORER_NAMES[] = {"exact", "numeric", "contains", "facts"};
#define N_SCORERS ((int)(sizeof SCORER_NAMES / sizeof SCORER_NAMES[0]))

const char *lw_scorer_name(lw_scorer s) {
    return (int)s >= 0 && (int)s < N_SCORERS ? SCORER_NAMES[s] : "unknown";
}

int lw_scorer_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < N_SCORERS; i++)
        if (strcmp(name, SCORER_NAMES[i]) == 0) return i;
    return -1;
}

/* ------------------------------------------------------------------- strbuf ---- */

void lw_sb_add(lw_strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

void lw_sb_adds(lw_strbuf *b, const char *s) { lw_sb_add(b, s, strlen(s)); }

char *lw_sb_take(lw_strbuf *b) {
    char *s = b->oom ? NULL : (b->s ? b->s : strdup(""));
    if (b->oom) free(b->s);
    memset(b, 0, sizeof *b);
    return s;
}

/* ------------------------------------------------------------------ builder ---- */

static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

/* Why no run could use an item (a phrase naming the field), or NULL: an empty id cannot name it in
 * records, an empty prompt leaves the receiver nothing to answer, and a gold no answer can match
 * (nor any alias) scores 0 on every channel. why: a buffer of at least 160 bytes. Every task (a
 * file, a named source) is checked the same way, so that what one saves another loads. */
static const char *unusable(const char *id, const char *receiver, const char *gold, const char *const *aliases,
                            int n_aliases, lw_scorer scorer, char *why) {
    if (blank(id, strlen(id))) return "field \"id\" is empty: give each item a non-empty id";
    if (blank(receiver, strlen(receiver))) return "field \"receiver\" is empty: the receiver needs a prompt to answer";
    const char *g = lw_score_unmatchable(scorer, gold);
    for (int i = 0; g && i < n_aliases; i++)
        if (!lw_score_unmatchable(scorer, aliases[i])) g = NULL; /* an alias an answer can match */
    if (!g) return NULL;
    snprintf(why, 160, "field \"gold\" \"%.40s\" %s under scorer %s", gold, g, lw_scorer_name(scorer));
    return why;
}


void lw_task_item_clear(lw_task_item *it) {
    free(it->id);
    free(it->sender);
    free(it->receiver);
    free(it->gold);
    for (int i = 0; i < it->n_aliases; i++) free(it->aliases[i]);
    free(it->aliases);
    memset(it, 0, sizeof *it);
}

int lw_task_builder_add(lw_task_builder *b, const char *id, const char *sender, const char *receiver,
                        const char *gold, const char *const *aliases, int n_aliases, lw_scorer scorer) {
    char buf[160];
    const char *why = unusable(id, receiver, gold, aliases, n_aliases, scorer, buf);
    if (why) return lw_fail("task: item \"%.60s\": %s", id, why);
    if (b->t.n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 64;
        lw_task_item *p = realloc(b->t.items, sizeof *p * (size_t)cap);
        if (!p) return lw_fail("task: out of memory");
        b->t.items = p;
        b->cap = cap;
    }
    lw_task_item it = {0};
    it.id = strdup(id);
    it.sender = strdup(sender ? sender : "");
    it.receiver = strdup(receiver);
    it.gold = strdup(gold);
    it.scorer = scorer;
    bool ok = it.id && it.sender && it.receiver && it.gold;
    if (ok && n_aliases > 0) {
        it.aliases = calloc((size_t)n_aliases, sizeof *it.aliases);
        ok = it.aliases != NULL;
        for (int i = 0; ok && i < n_aliases; i++) {
            it.aliases[i] = strdup(aliases[i]);
            ok = it.aliases[i] != NULL;
            it.n_aliases = i + 1;
        }
    }
    if (!ok) {
        lw_task_item_clear(&it);
        return lw_fail("task: out of memory");
    }
    b->t.items[b->t.n++] = it;
    return 0;
}

void lw_task_builder_finish(lw_task_builder *b, lw_task *out) {
    *out = b->t;
    memset(b, 0, sizeof *b);
}

void lw_task_builder_free(lw_task_builder *b) {
    lw_task_free(&b->t);
    memset(b, 0, sizeof *b);
}

void lw_task_free(lw_task *t) {
    if (!t) return;
    for (int i = 0; i < t->n; i++) lw_task_item_clear(&t->items[i]);
    free(t->items);
    memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------------------- load ---- */

/* The string field `key` of obj, or NULL with the error set (naming path:line). */
static const char *str_field(json_t *obj, const char *key, const char *path, long long line) {
    json_t *v = json_object_get(obj, key);
    if (!v) {
        lw_fail("%s:%lld: missing field \"%s\"", path, line, key);
        return NULL;
    }
    if (!json_is_string(v)) {
        lw_fail("%s:%lld: field \"%s\" must be a string", path, line, key);
        return NULL;
    }
    return json_string_value(v);
}

/* Parses one line's object and appends it. ids is a JSON object used as a set. */
static int parse_line(lw_task_builder *b, json_t *ids, const char *s, size_t n, const char *path, long long line) {
    json_error_t jerr;
    json_t *obj = json_loadb(s, n, 0, &jerr);
    if (!obj) return lw_fail("%s:%lld: invalid JSON: %s", path, line, lw_json_error_text(&jerr));
    int rc = -1;
    const char **aliases = NULL;
    if (!json_is_object(obj)) {
        lw_fail("%s:%lld: not a JSON object", path, line);
        goto done;
    }
    const char *id = str_field(obj, "id", path, line), *sender = NULL, *receiver = NULL, *gold = NULL,
               *scorer = NULL;
    if (!id || !(sender = str_field(obj, "sender", path, line)) || !(receiver = str_field(obj, "receiver", path, line)) ||
        !(gold = str_field(obj, "gold", path, line)) || !(scorer = str_field(obj, "scorer", path, line)))
        goto done;
    int sc = lw_scorer_from_name(scorer);
    if (sc < 0) {
        lw_fail("%s:%lld: unknown scorer \"%s\" (exact, numeric, contains or facts)", path, line, scorer);
        goto done;
    }
    if (json_object_get(ids, id)) {
        lw_fail("%s:%lld: duplicate id \"%s\"", path, line, id);
        goto done;
    }
    json_t *al = json_object_get(obj, "aliases");
    int n_al = 0;
    if (al && !json_is_null(al)) {
        if (!json_is_array(al)) {
            lw_fail("%s:%lld: field \"aliases\" must be an array of strings", path, line);
            goto done;
        }
        n_al = (int)json_array_size(al);
        aliases = calloc((size_t)n_al + 1, sizeof *aliases);
        if (!aliases) {
            lw_fail("%s: out of memory", path);
            goto done;
        }
        for (int i = 0; i < n_al; i++) {
            json_t *a = json_array_get(al, (size_t)i);
            if (!json_is_string(a)) {
                lw_fail("%s:%lld: field \"aliases\" must be an array of strings (element %d is not)", path, line, i);
                goto done;
            }
            aliases[i] = json_string_value(a);
        }
    }
    char buf[160];
    const char *why = unusable(id, receiver, gold, aliases, n_al, (lw_scorer)sc, buf); /* named here with the line */
    if (why) {
        lw_fail("%s:%lld: %s", path, line, why);
        goto done;
    }
    if (json_object_set_new(ids, id, json_true()) != 0 ||
        lw_task_builder_add(b, id, sender, receiver, gold, aliases, n_al, (lw_scorer)sc) != 0) {
        lw_fail("%s: out of memory", path);
        goto done;
    }
    rc = 0;
done:
    free(aliases);
    json_decref(obj);
    return rc;
}

typedef struct {
    lw_task_builder b;
    json_t *ids;
    const char *path;
} task_reader;

static int task_line(void *ud, char *s, size_t n, int64_t line_no) {
    task_reader *r = ud;
    return blank(s, n) ? 0 : parse_line(&r->b, r->ids, s, n, r->path, line_no);
}

int lw_task_load(const char *path, lw_task *out) {
    if (!out) return lw_fail("lw_task_load: no output task");
    memset(out, 0, sizeof *out);
    if (!path) return lw_fail("lw_task_load: no path");
    task_reader r = {.ids = json_object(), .path = path};
    int rc = r.ids ? lw_each_line(path, task_line, &r, NULL) : lw_fail("%s: out of memory", path);
    if (rc == 0 && r.b.t.n == 0) rc = lw_fail("%s: no items", path);
    json_decref(r.ids);
    if (rc != 0) {
        lw_task_builder_free(&r.b);
        return -1;
    }
    lw_task_builder_finish(&r.b, out);
    return 0;
}

/* ---------------------------------------------------------------------- save ---- */

/* Adds a string member; -1 when the string is missing or not valid UTF-8. */
static int set_str(json_t *obj, const char *key, const char *val, const char *path, int i) {
    if (!val) return lw_fail("%s: item %d: field \"%s\" is missing", path, i, key);
    json_t *s = json_string(val);
    if (!s) return lw_fail("%s: item %d: field \"%s\" is not valid UTF-8", path, i, key);
    return json_object_set_new(obj, key, s) == 0 ? 0 : lw_fail("%s: out of memory", path);
}

static json_t *item_json(const lw_task_item *it, const char *path, int i) {
    json_t *obj = json_object();
    if (!obj) {
        lw_fail("%s: out of memory", path);
        return NULL;
    }
    const char *scorer = (int)it->scorer >= 0 && (int)it->scorer < N_SCORERS ? SCORER_NAMES[it->scorer] : NULL;
    if (!scorer) {
        lw_fail("%s: item %d: unknown scorer %d", path, i, (int)it->scorer);
        goto fail;
    }
    if (set_str(obj, "id", it->id, path, i) || set_str(obj, "sender", it->sender ? it->sender : "", path, i) ||
        set_str(obj, "receiver", it->receiver, path, i) || set_str(obj, "gold", it->gold, path, i) ||
        set_str(obj, "scorer", scorer, path, i))
        goto fail;
    if (it->n_aliases > 0) {
        json_t *arr = json_array();
        if (!arr || json_object_set_new(obj, "aliases", arr) != 0) {
            lw_fail("%s: out of memory", path);
            goto fail;
        }
        for (int k = 0; k < it->n_aliases; k++) {
            json_t *s = it->aliases[k] ? json_string(it->aliases[k]) : NULL;
            if (!s) {
                lw_fail("%s: item %d: alias %d is missing or not valid UTF-8", path, i, k);
                goto fail;
            }
            json_array_append_new(arr, s);
        }
    }
    char buf[160];
    const char *why = unusable(it->id, it->receiver, it->gold, (const char *const *)it->aliases,
                               it->n_aliases > 0 ? it->n_aliases : 0, it->scorer, buf);
    if (why) { /* else lw_task_load refuses the file this writes */
        lw_fail("%s: item %d: %s", path, i, why);
        goto fail;
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

int lw_task_save(const char *path, const lw_task *t) {
    if (!path) return lw_fail("lw_task_save: no path");
    if (!t || t->n <= 0 || !t->items) return lw_fail("%s: task has no items", path);
    json_t *ids = json_object();
    if (!ids) return lw_fail("%s: out of memory", path);
    lw_atomic_file af;
    if (lw_atomic_open(&af, path) != 0) {
        json_decref(ids);
        return -1;
    }
    int rc = 0;
    for (int i = 0; rc == 0 && i < t->n; i++) {
        const lw_task_item *it = &t->items[i];
        if (it->id && json_object_get(ids, it->id)) {
            rc = lw_fail("%s: item %d: duplicate id \"%s\"", path, i, it->id);
            break;
        }
        json_t *obj = item_json(it, path, i);
        if (!obj) {
            rc = -1;
            break;
        }
        json_object_set_new(ids, it->id, json_true());
        char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(obj);
        if (!s) {
            rc = lw_fail("%s: out of memory", path);
            break;
        }
        if (fputs(s, af.fp) == EOF || fputc('\n', af.fp) == EOF) rc = lw_fail("%s: write error: %s", path, strerror(errno));
        free(s);
    }
    json_decref(ids);
    if (rc != 0) {
        lw_atomic_abort(&af);
        return -1;
    }
    return lw_atomic_commit(&af);
}
