/* BEIR reader: corpus.jsonl, queries.jsonl and qrels/<split>.tsv. Lines are read one at a
 * time; every error names the file and the 1-based line. */
#include <errno.h>
#include <jansson.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/jsonio.h"
#include "common/strmap.h"
#include "latentwire/textio.h"
#include "latentwire/retrieval.h"

/* ---- line reading (lw_each_line: regular files only, bounded lines, BOM and line end off) ---- */

/* The line being read: its file, 1-based number and text (what errors name). */
typedef struct {
    const char *path;
    char *line;
    long long no;
} reader;

static int is_blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return 0;
    return 1;
}

/* String field of a JSON object (an integer _id is accepted and printed). NULL + error when
 * missing or of another type; with `optional`, an absent or null field reads as "". */
static char *json_field(const reader *r, json_t *obj, const char *name, int optional) {
    json_t *v = json_object_get(obj, name);
    if ((!v || json_is_null(v)) && optional) return strdup("");
    if (v && json_is_string(v)) {
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            lw_fail("%s:%lld: field \"%s\" contains a NUL character", r->path, r->no, name);
            return NULL;
        }
        char *s = strdup(json_string_value(v));
        if (!s) lw_fail("%s:%lld: out of memory", r->path, r->no);
        return s;
    }
    if (v && json_is_integer(v) && strcmp(name, "_id") == 0) {
        char buf[32];
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return strdup(buf);
    }
    lw_fail("%s:%lld: field \"%s\" is %s", r->path, r->no, name, v ? "not a string" : "missing");
    return NULL;
}

static json_t *parse_object(const reader *r, long len) {
    json_error_t err;
    json_t *o = json_loadb(r->line, (size_t)len, 0, &err);
    if (!o) {
        lw_fail("%s:%lld: invalid JSON (column %d: %s)", r->path, r->no, err.column, lw_json_error_text(&err));
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        lw_fail("%s:%lld: not a JSON object", r->path, r->no);
        return NULL;
    }
    return o;
}

typedef struct {
    char **id, **text;
    int32_t n, cap;
    lw_strmap map;
} table;

static void table_free(table *t) {
    for (int32_t i = 0; i < t->n; i++) {
        free(t->id ? t->id[i] : NULL);
        free(t->text ? t->text[i] : NULL);
    }
    free(t->id);
    free(t->text);
    lw_strmap_free(&t->map);
    memset(t, 0, sizeof *t);
}

typedef struct {
    const char *path;
    int with_title;
    table *t;
} jsonl_reader;

/* One {"_id", "text"} (+ "title") line into the table. */
static int jsonl_line(void *ud, char *line, size_t len, int64_t no) {
    jsonl_reader *jr = ud;
    table *t = jr->t;
    reader r = {jr->path, line, no};
    if (is_blank(line)) return 0;
    json_t *o = parse_object(&r, (long)len);
    if (!o) return -1;
    char *id = json_field(&r, o, "_id", 0);
    char *title = id && jr->with_title ? json_field(&r, o, "title", 1) : NULL;
    char *text = id && (title || !jr->with_title) ? json_field(&r, o, "text", 0) : NULL;
    json_decref(o);
    if (!text) {
        free(id);
        free(title);
        return -1;
    }
    if (title && *title) {
        size_t a = strlen(title), b = strlen(text);
        char *s = malloc(a + b + 2);
        if (s) {
            memcpy(s, title, a);
            s[a] = ' ';
            memcpy(s + a + 1, text, b + 1);
        }
        free(text);
        text = s;
    }
    free(title);
    if (!text || (t->n == t->cap && t->cap >= 0x40000000)) {
        lw_fail("%s:%lld: %s", r.path, r.no, text ? "too many entries" : "out of memory");
        free(id);
        free(text);
        return -1;
    }
    if (t->n == t->cap) {
        int32_t cap = t->cap ? t->cap * 2 : 256;
        char **a = realloc(t->id, sizeof *a * (size_t)cap);
        if (a) t->id = a;
        char **b = realloc(t->text, sizeof *b * (size_t)cap);
        if (b) t->text = b;
        if (!a || !b) {
            free(id);
            free(text);
            return lw_fail("%s:%lld: out of memory", r.path, r.no);
        }
        t->cap = cap;
    }
    t->id[t->n] = id;
    t->text[t->n] = text;
    int32_t prev = lw_strmap_put(&t->map, id, t->n);
    t->n++; /* owned by t from here on, even on error */
    if (prev == -1) return lw_fail("%s:%lld: out of memory", r.path, r.no);
    if (prev >= 0) return lw_fail("%s:%lld: duplicate _id \"%s\"", r.path, r.no, id);
    return 0;
}

/* Reads a .jsonl of {"_id", "text"} (+ "title" for the corpus) into t. */
static int read_jsonl(const char *path, int with_title, table *t) {
    jsonl_reader jr = {path, with_title, t};
    int64_t lines;
    int rc = lw_each_line(path, jsonl_line, &jr, &lines);
    return rc != 0 && lines < 0 ? lw_fail_prefix("cannot open ") : rc;
}

/* ---- qrels ---- */

typedef struct {
    int32_t q, doc;
    float grade;
    long long line;
} pair;

static int cmp_pair_doc(const void *pa, const void *pb) {
    const pair *a = pa, *b = pb;
    if (a->q != b->q) return (a->q > b->q) - (a->q < b->q);
    if (a->doc != b->doc) return (a->doc > b->doc) - (a->doc < b->doc);
    return (a->line > b->line) - (a->line < b->line);
}

static int cmp_pair_line(const void *pa, const void *pb) {
    const pair *a = pa, *b = pb;
    if (a->q != b->q) return (a->q > b->q) - (a->q < b->q);
    return (a->line > b->line) - (a->line < b->line);
}

/* Splits a qrels line into exactly 3 fields: on tabs when the line has one, else on runs
 * of spaces. Returns the number of fields found (up to 4). */
static int split3(char *s, char *f[4]) {
    int n = 0;
    if (strchr(s, '\t')) {
        for (char *p = s;;) {
            if (n < 4) f[n] = p;
            n++;
            char *tab = strchr(p, '\t');
            if (!tab) break;
            *tab = '\0';
            p = tab + 1;
        }
    } else {
        char *save = NULL;
        for (char *tok = strtok_r(s, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            if (n < 4) f[n] = tok;
            n++;
        }
    }
    return n > 4 ? 4 : n;
}

/* Parses a qrels score field: a finite number, whole field, that survives the float the
 * grades are kept in (1e39 would become inf). 0 or -1 (nothing reported). */
static int parse_score(const char *field, double *score) {
    char *end;
    errno = 0;
    *score = strtod(field, &end);
    return end == field || *end || errno || !isfinite((float)*score) ? -1 : 0;
}

/* TREC's own qrels form is "query-id iteration corpus-id grade"; its iteration column is
 * always 0 (or "Q0" in run-file style). Such a line keeps fields 0, 2 and 3. */
static int is_trec_iteration(const char *field) { return !strcmp(field, "0") || !strcmp(field, "Q0"); }

/* Grades are whole numbers: trec_eval and pytrec_eval read them as integers, so 0.5 would be
 * judged not relevant there and relevant here; a grade beyond 32 bits is no grade. */
static int check_grade(const char *path, int64_t no, const char *field, double score) {
    if (score != floor(score))
        return lw_fail("%s:%lld: score \"%s\" is not a whole number (trec_eval reads relevance grades as "
                       "integers: 0, 1, 2, ...)",
                       path, (long long)no, field);
    if (fabs(score) > 2147483647.0)
        return lw_fail("%s:%lld: score \"%s\" is out of range for a relevance grade (|grade| <= 2147483647)",
                       path, (long long)no, field);
    return 0;
}

typedef struct {
    const char *path;
    const table *docs, *queries;
    pair *p;
    int64_t n, cap;
    int seen_line;
} qrels_reader;

/* One "query-id corpus-id score" line; pairs with a score > 0 are kept. */
static int qrels_line(void *ud, char *line, size_t len, int64_t no) {
    qrels_reader *q = ud;
    const char *path = q->path;
    while (len > 0 && line[len - 1] == '\r') line[--len] = '\0'; /* any run of CRs, as before */
    if (is_blank(line)) return 0;
    char *f[4];
    int nf = split3(line, f);
    double score;
    /* BEIR's own files start with the header "query-id corpus-id score"; many others have no
     * header at all. A first line whose score field is not a number is the header. */
    if (!q->seen_line++ && nf == 3 && parse_score(f[2], &score) != 0) return 0;
    if (nf == 4 && is_trec_iteration(f[1])) { /* TREC's "qid 0 docid grade" */
        f[1] = f[2];
        f[2] = f[3];
        nf = 3;
    }
    if (nf != 3)
        return lw_fail("%s:%lld: expected 3 fields (query-id, corpus-id, score), found %d", path, (long long)no, nf);
    static const char *const field_name[2] = {"query-id", "corpus-id"};
    for (int k = 0; k < 2; k++)
        if (!*f[k]) return lw_fail("%s:%lld: the %s field is empty", path, (long long)no, field_name[k]);
    int32_t qi = lw_strmap_get(&q->queries->map, f[0]);
    if (qi < 0) return lw_fail("%s:%lld: unknown query id \"%s\" (not in queries.jsonl)", path, (long long)no, f[0]);
    int32_t doc = lw_strmap_get(&q->docs->map, f[1]);
    if (doc < 0) return lw_fail("%s:%lld: unknown corpus id \"%s\" (not in corpus.jsonl)", path, (long long)no, f[1]);
    if (parse_score(f[2], &score) != 0)
        return lw_fail("%s:%lld: score \"%s\" is not a finite number (a relevance grade such as 0, 1, 2)", path,
                       (long long)no, f[2]);
    if (check_grade(path, no, f[2], score)) return -1;
    if (score <= 0) return 0; /* graded relevance > 0 only; 0 (or below) = judged not relevant */
    if (q->n == q->cap) {
        int64_t c = q->cap ? q->cap * 2 : 256;
        pair *np = realloc(q->p, sizeof *np * (size_t)c);
        if (!np) return lw_fail("%s:%lld: out of memory", path, (long long)no);
        q->p = np;
        q->cap = c;
    }
    q->p[q->n++] = (pair){qi, doc, (float)score, no};
    return 0;
}

static int read_qrels(const char *path, const table *docs, const table *queries, pair **out, int64_t *n_out) {
    qrels_reader q = {.path = path, .docs = docs, .queries = queries};
    int64_t lines;
    int rc = lw_each_line(path, qrels_line, &q, &lines);
    if (rc != 0 && lines < 0) lw_fail_prefix("cannot open ");
    pair *p = q.p;
    int64_t n = q.n;
    if (rc != 0) goto done;
    rc = -1;
    if (!q.seen_line) {
        lw_fail("%s: empty file (expected lines \"query-id<TAB>corpus-id<TAB>score\")", path);
        goto done;
    }
    if (n == 0) {
        lw_fail("%s: no (query, document) pair with a score > 0", path);
        goto done;
    }
    qsort(p, (size_t)n, sizeof *p, cmp_pair_doc);
    for (int64_t i = 1; i < n; i++)
        if (p[i].q == p[i - 1].q && p[i].doc == p[i - 1].doc) {
            lw_fail("%s:%lld: duplicate pair (query \"%s\", corpus \"%s\"), first on line %lld", path, p[i].line,
                    queries->id[p[i].q], docs->id[p[i].doc], p[i - 1].line);
            goto done;
        }
    qsort(p, (size_t)n, sizeof *p, cmp_pair_line);
    rc = 0;
done:
    if (rc) {
        free(p);
        p = NULL;
        n = 0;
    }
    *out = p;
    *n_out = n;
    return rc;
}

void lw_beir_free(lw_beir *b) {
    if (!b) return;
    for (int32_t i = 0; i < b->n_docs; i++) {
        free(b->doc_id ? b->doc_id[i] : NULL);
        free(b->doc_text ? b->doc_text[i] : NULL);
    }
    for (int32_t i = 0; i < b->n_queries; i++) {
        free(b->query_id ? b->query_id[i] : NULL);
        free(b->query_text ? b->query_text[i] : NULL);
    }
    free(b->doc_id);
    free(b->doc_text);
    free(b->query_id);
    free(b->query_text);
    free(b->rel_off);
    free(b->rel_doc);
    free(b->rel_grade);
    memset(b, 0, sizeof *b);
}

static char *join(const char *dir, const char *a, const char *b, const char *c) {
    size_t n = strlen(dir) + strlen(a) + strlen(b) + strlen(c) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s%s%s", dir, a, b, c);
    return s;
}

int lw_beir_load(const char *dir, const char *split, lw_beir *out) {
    if (!out) return lw_fail("lw_beir_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!dir || !split || !*split) return lw_fail("lw_beir_load: dir and split must be given");
    if (strchr(split, '/')) return lw_fail("lw_beir_load: split \"%s\" must be a plain name", split);
    char *corpus = join(dir, "corpus.jsonl", "", ""), *qpath = join(dir, "queries.jsonl", "", "");
    char *qrels = join(dir, "qrels/", split, ".tsv");
    table docs = {0}, queries = {0};
    pair *p = NULL;
    int64_t np = 0;
    int rc = -1;
    if (!corpus || !qpath || !qrels) {
        lw_fail("lw_beir_load: out of memory");
        goto done;
    }
    if (read_jsonl(corpus, 1, &docs)) goto done;
    if (docs.n == 0) {
        lw_fail("%s: no documents", corpus);
        goto done;
    }
    if (read_jsonl(qpath, 0, &queries)) goto done;
    if (queries.n == 0) { /* else the first qrels line reads as naming an unknown query */
        lw_fail("%s: no queries", qpath);
        goto done;
    }
    if (read_qrels(qrels, &docs, &queries, &p, &np)) goto done;

    /* Keep the queries with at least one relevant document, in queries.jsonl order. */
    int32_t *count = calloc((size_t)queries.n, sizeof *count);
    int32_t kept = 0;
    if (!count) {
        lw_fail("lw_beir_load: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < np; i++) count[p[i].q]++;
    for (int32_t q = 0; q < queries.n; q++) kept += count[q] > 0;
    out->query_id = malloc(sizeof(char *) * (size_t)kept);
    out->query_text = malloc(sizeof(char *) * (size_t)kept);
    out->rel_off = malloc(sizeof(int64_t) * ((size_t)kept + 1));
    out->rel_doc = malloc(sizeof(int32_t) * (size_t)np);
    out->rel_grade = malloc(sizeof(float) * (size_t)np);
    if (!out->query_id || !out->query_text || !out->rel_off || !out->rel_doc || !out->rel_grade) {
        free(count);
        lw_fail("lw_beir_load: out of memory");
        goto done;
    }
    /* pairs are sorted by (query index, line): one contiguous run per query */
    int64_t w = 0, i = 0;
    int32_t k = 0;
    for (int32_t q = 0; q < queries.n; q++) {
        if (!count[q]) continue;
        out->query_id[k] = queries.id[q];
        out->query_text[k] = queries.text[q];
        queries.id[q] = queries.text[q] = NULL;
        out->rel_off[k] = w;
        while (i < np && p[i].q < q) i++;
        for (; i < np && p[i].q == q; i++) {
            out->rel_doc[w] = p[i].doc;
            out->rel_grade[w] = p[i].grade;
            w++;
        }
        k++;
        out->n_queries = k;
    }
    out->rel_off[k] = w;
    free(count);
    out->n_docs = docs.n;
    out->doc_id = docs.id;
    out->doc_text = docs.text;
    docs.id = docs.text = NULL;
    docs.n = 0;
    rc = 0;
done:
    if (rc) lw_beir_free(out);
    table_free(&docs);
    table_free(&queries);
    free(p);
    free(corpus);
    free(qpath);
    free(qrels);
    return rc;
}
