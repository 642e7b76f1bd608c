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
#include "common/jsonio.h"
#include "common/strmap.h"
#include "latentwire/textio.h"
#include "latentwire/retrieval.h"

/* ---- line reading ---- */

typedef struct {
    FILE *fp;
    const char *path;
    char *line;
    size_t cap;
    long long no; /* 1-based number of the current line */
} reader;

static int reader_open(reader *r, const char *path) {
    memset(r, 0, sizeof *r);
    r->path = path;
    r->fp = lw_fopen_regular(path); /* a FIFO or device is refused, never waited on */
    if (!r->fp) return lw_fail_prefix("cannot open ");
    return 0;
}

/* Next line without its line ending: length, or -1 at the end of the file. */
static long reader_next(reader *r) {
    ssize_t n = getline(&r->line, &r->cap, r->fp);
    if (n < 0) return -1;
    r->no++;
    while (n > 0 && (r->line[n - 1] == '\n' || r->line[n - 1] == '\r')) r->line[--n] = '\0';
    return (long)n;
}

static void reader_close(reader *r) {
    if (r->fp) fclose(r->fp);
    free(r->line);
    memset(r, 0, sizeof *r);
}

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

/* Reads a .jsonl of {"_id", "text"} (+ "title" for the corpus) into t. */
static int read_jsonl(const char *path, int with_title, table *t) {
    reader r;
    if (reader_open(&r, path)) return -1;
    int rc = -1;
    long len;
    while ((len = reader_next(&r)) >= 0) {
        if (is_blank(r.line)) continue;
        json_t *o = parse_object(&r, len);
        if (!o) goto done;
        char *id = json_field(&r, o, "_id", 0);
        char *title = id && with_title ? json_field(&r, o, "title", 1) : NULL;
        char *text = id && (title || !with_title) ? json_field(&r, o, "text", 0) : NULL;
        json_decref(o);
        if (!text) {
            free(id);
            free(title);
            goto done;
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
            lw_fail("%s:%lld: %s", path, r.no, text ? "too many entries" : "out of memory");
            free(id);
            free(text);
            goto done;
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
                lw_fail("%s:%lld: out of memory", path, r.no);
                goto done;
            }
            t->cap = cap;
        }
        t->id[t->n] = id;
        t->text[t->n] = text;
        int32_t prev = lw_strmap_put(&t->map, id, t->n);
        t->n++; /* owned by t from here on, even on error */
        if (prev == -1) {
            lw_fail("%s:%lld: out of memory", path, r.no);
            goto done;
        }
        if (prev >= 0) {
            lw_fail("%s:%lld: duplicate _id \"%s\"", path, r.no, id);
            goto done;
        }
    }
    if (ferror(r.fp)) {
        lw_fail("%s: read error after line %lld", path, r.no);
        goto done;
    }
    rc = 0;
done:
    reader_close(&r);
    return rc;
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

static int read_qrels(const char *path, const table *docs, const table *queries, pair **out, int64_t *n_out) {
    reader r;
    if (reader_open(&r, path)) return -1;
    pair *p = NULL;
    int64_t n = 0, cap = 0;
    int rc = -1, seen_line = 0;
    long len;
    while ((len = reader_next(&r)) >= 0) {
        if (is_blank(r.line)) continue;
        char *f[4];
        int nf = split3(r.line, f);
        double score;
        /* BEIR's own files start with the header "query-id corpus-id score"; many others have no
         * header at all. A first line whose score field is not a number is the header. */
        if (!seen_line++ && nf == 3 && parse_score(f[2], &score) != 0) continue;
        if (nf != 3) {
            lw_fail("%s:%lld: expected 3 fields (query-id, corpus-id, score), found %d", path, r.no, nf);
            goto done;
        }
        int32_t q = lw_strmap_get(&queries->map, f[0]);
        if (q < 0) {
            lw_fail("%s:%lld: unknown query id \"%s\" (not in queries.jsonl)", path, r.no, f[0]);
            goto done;
        }
        int32_t doc = lw_strmap_get(&docs->map, f[1]);
        if (doc < 0) {
            lw_fail("%s:%lld: unknown corpus id \"%s\" (not in corpus.jsonl)", path, r.no, f[1]);
            goto done;
        }
        if (parse_score(f[2], &score) != 0) {
            lw_fail("%s:%lld: score \"%s\" is not a finite number (a relevance grade such as 0, 1, 2)", path, r.no, f[2]);
            goto done;
        }
        if (score <= 0) continue; /* graded relevance > 0 only; 0 (or below) = judged not relevant */
        if (n == cap) {
            int64_t c = cap ? cap * 2 : 256;
            pair *np = realloc(p, sizeof *np * (size_t)c);
            if (!np) {
                lw_fail("%s:%lld: out of memory", path, r.no);
                goto done;
            }
            p = np;
            cap = c;
        }
        p[n++] = (pair){q, doc, (float)score, r.no};
    }
    if (ferror(r.fp)) {
        lw_fail("%s: read error after line %lld", path, r.no);
        goto done;
    }
    if (!seen_line) {
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
    reader_close(&r);
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
