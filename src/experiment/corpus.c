/* The multi-domain sentence set of the alignment experiment, read from ../shared/data. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/fileio.h"
#include "common/rng.h"
#include "io/mrpc.h"
#include "latentwire/experiment.h"

/* A growable list of candidate sentences. */
typedef struct {
    char **s;
    int n, cap;
} strlist;

static void push(strlist *l, const char *s, size_t len) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->s = realloc(l->s, sizeof *l->s * (size_t)l->cap);
    }
    l->s[l->n++] = strndup(s, len);
}

static void strlist_free(strlist *l) {
    for (int i = 0; i < l->n; i++) free(l->s[i]);
    free(l->s);
    memset(l, 0, sizeof *l);
}

/* ASCII, 6 to 40 words, no markup: sentences both tiny tokenizers can read. */
static bool usable(const char *s, size_t len) {
    int words = 0;
    bool in_word = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 128 || c < 32 || c == '@' || c == '=' || c == '<' || c == '>' || c == '\\') return false;
        bool sp = isspace(c);
        if (!sp && !in_word) words++;
        in_word = !sp;
    }
    return words >= 6 && words <= 40;
}

/* Trims spaces and adds the sentence if usable. */
static void add_sentence(strlist *l, const char *s, size_t len) {
    while (len && isspace((unsigned char)*s)) s++, len--;
    while (len && isspace((unsigned char)s[len - 1])) len--;
    if (len && usable(s, len)) push(l, s, len);
}

/* Splits text at sentence ends (". ", "? ", "! ", also " . " in tokenized corpora). */
static void split_sentences(strlist *l, const char *text) {
    const char *start = text;
    for (const char *p = text; *p; p++) {
        if ((*p == '.' || *p == '?' || *p == '!') && (p[1] == ' ' || p[1] == '\0')) {
            add_sentence(l, start, (size_t)(p - start + 1));
            start = p + 1;
        }
    }
    add_sentence(l, start, strlen(start));
}

typedef void (*line_fn)(strlist *l, char *line, void *ud);

static int each_line(const char *path, line_fn fn, strlist *l, void *ud) {
    size_t len;
    char *buf = lw_read_text_file(path, &len, "corpus file");
    if (!buf) return -1;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) fn(l, line, ud);
    free(buf);
    return 0;
}

static void ptb_line(strlist *l, char *line, void *ud) { add_sentence(l, line, strlen(line)); }

static void wiki_line(strlist *l, char *line, void *ud) {
    const char *p = line;
    while (*p == ' ') p++;
    if (*p == '=' || *p == '\0') return; /* headings */
    split_sentences(l, p);
}

static void dialog_line(strlist *l, char *line, void *ud) {
    char *save = NULL;
    for (char *turn = strtok_r(line, "_", &save); turn; turn = strtok_r(NULL, "_", &save))
        if (strncmp(turn, "eou", 3) != 0) add_sentence(l, turn, strlen(turn));
}

/* JSONL: split the string field ud into sentences. */
static void json_field_line(strlist *l, char *line, void *ud) {
    json_t *o = json_loads(line, 0, NULL);
    json_t *f = o ? json_object_get(o, (const char *)ud) : NULL;
    if (json_is_string(f)) split_sentences(l, json_string_value(f));
    json_decref(o);
}

/* BLiMP pairs: good and bad sentence kept together (stored as two consecutive entries). */
static void blimp_line(strlist *l, char *line, void *ud) {
    json_t *o = json_loads(line, 0, NULL);
    json_t *g = o ? json_object_get(o, "sentence_good") : NULL, *b = o ? json_object_get(o, "sentence_bad") : NULL;
    if (json_is_string(g) && json_is_string(b)) {
        const char *gs = json_string_value(g), *bs = json_string_value(b);
        if (strcmp(gs, bs) != 0) {
            push(l, gs, strlen(gs));
            push(l, bs, strlen(bs));
        }
    }
    json_decref(o);
}

/* MRPC (msr_paraphrase_*.txt, read by io/mrpc.h): pairs a person judged paraphrases
 * (Quality 1), both sentences usable, kept together. */
static int mrpc_pair(const lw_mrpc_pair *p, void *ud) {
    strlist *l = ud;
    size_t la = strlen(p->s1), lb = strlen(p->s2);
    if (p->quality != 1 || !usable(p->s1, la) || !usable(p->s2, lb) || !strcmp(p->s1, p->s2)) return 0;
    push(l, p->s1, la);
    push(l, p->s2, lb);
    return 0;
}

static bool seen_before(const lw_mdcorpus *c, const char *s) {
    for (int64_t i = 0; i < c->n; i++)
        if (!strcmp(c->text[i], s)) return true;
    return false;
}

static void corpus_add(lw_mdcorpus *c, const char *s, int domain, bool calib, int32_t twin) {
    c->text = realloc(c->text, sizeof *c->text * (size_t)(c->n + 1));
    c->domain = realloc(c->domain, sizeof *c->domain * (size_t)(c->n + 1));
    c->twin = realloc(c->twin, sizeof *c->twin * (size_t)(c->n + 1));
    c->calib = realloc(c->calib, sizeof *c->calib * (size_t)(c->n + 1));
    c->text[c->n] = strdup(s);
    c->domain[c->n] = domain;
    c->twin[c->n] = twin;
    c->calib[c->n] = calib;
    c->n++;
}

/* n_pairs twin pairs (l holds them as consecutive entries) drawn in a seeded order into a new
 * domain, both twins in the same split; a pair with a sentence already taken is skipped. On
 * failure the corpus is freed. */
static int add_pairs(lw_mdcorpus *out, const strlist *l, const char *domain_name, int n_pairs, double calib_share,
                     lw_rng *rng, const char *source) {
    int np = l->n / 2;
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)(np ? np : 1));
    for (int i = 0; i < np; i++) idx[i] = i;
    lw_rng_shuffle_i32(rng, idx, np);
    int d = out->n_domains++, taken = 0, n_calib = (int)(n_pairs * calib_share + 0.5);
    out->domain_names = realloc(out->domain_names, sizeof(char *) * (size_t)out->n_domains);
    out->domain_names[d] = strdup(domain_name);
    for (int i = 0; i < np && taken < n_pairs; i++) {
        const char *g = l->s[2 * idx[i]], *b = l->s[2 * idx[i] + 1];
        if (seen_before(out, g) || seen_before(out, b)) continue;
        bool calib = taken < n_calib;
        corpus_add(out, g, d, calib, (int32_t)out->n + 1);
        corpus_add(out, b, d, calib, (int32_t)out->n - 1);
        taken++;
    }
    free(idx);
    if (taken < n_pairs) {
        lw_mdcorpus_free(out);
        return lw_fail("%s: only %d %s pairs, %d wanted", source, taken, domain_name, n_pairs);
    }
    return 0;
}

int lw_mdcorpus_build(const char *data_dir, int per_domain, int n_pairs, int n_para, double calib_share,
                      uint64_t seed, lw_mdcorpus *out) {
    memset(out, 0, sizeof *out);
    if (per_domain < 2 || n_pairs < 0 || n_para < 0 || !(calib_share > 0 && calib_share < 1))
        return lw_fail("corpus: per_domain >= 2 and calib_share in (0, 1) are required");
    static const struct {
        const char *name, *file;
        line_fn fn;
        const char *field;
    } SOURCES[] = {
        {"news", "ptb/ptb.test.txt", ptb_line, NULL},
        {"encyclopedic", "wikitext2_raw/wiki.test.raw", wiki_line, NULL},
        {"conversation", "dailydialog/test/dialogues.txt", dialog_line, NULL},
        {"science", "scifact/beir_derived/corpus.jsonl", json_field_line, "text"},
        {"math", "gsm8k/test.jsonl", json_field_line, "question"},
    };
    const int n_src = (int)(sizeof SOURCES / sizeof SOURCES[0]);
    out->n_domains = n_src; /* add_pairs adds the twin domains */
    out->domain_names = calloc((size_t)out->n_domains, sizeof(char *));
    lw_rng rng;
    lw_rng_seed(&rng, seed);
    char path[4096];
    for (int d = 0; d < n_src; d++) {
        out->domain_names[d] = strdup(SOURCES[d].name);
        snprintf(path, sizeof path, "%s/%s", data_dir, SOURCES[d].file);
        strlist l = {0};
        if (each_line(path, SOURCES[d].fn, &l, (void *)SOURCES[d].field) != 0) {
            strlist_free(&l);
            lw_mdcorpus_free(out);
            return -1;
        }
        int32_t *idx = malloc(sizeof(int32_t) * (size_t)(l.n ? l.n : 1));
        for (int i = 0; i < l.n; i++) idx[i] = i;
        lw_rng_shuffle_i32(&rng, idx, l.n);
        int taken = 0, n_calib = (int)(per_domain * calib_share + 0.5);
        for (int i = 0; i < l.n && taken < per_domain; i++) {
            if (seen_before(out, l.s[idx[i]])) continue;
            corpus_add(out, l.s[idx[i]], d, taken < n_calib, -1);
            taken++;
        }
        free(idx);
        strlist_free(&l);
        if (taken < per_domain) {
            lw_mdcorpus_free(out);
            return lw_fail("%s: only %d usable sentences, %d wanted", path, taken, per_domain);
        }
    }
    if (n_pairs > 0) {
        /* a few paradigms whose twins differ in one word: the hardest negatives */
        static const char *PARADIGMS[] = {"anaphor_gender_agreement", "determiner_noun_agreement_1",
                                          "regular_plural_subject_verb_agreement_1", "irregular_past_participle_verbs",
                                          "npi_present_1", "existential_there_quantifiers_1"};
        strlist l = {0};
        for (size_t k = 0; k < sizeof PARADIGMS / sizeof PARADIGMS[0]; k++) {
            snprintf(path, sizeof path, "%s/blimp/data/%s.jsonl", data_dir, PARADIGMS[k]);
            if (each_line(path, blimp_line, &l, NULL) != 0) {
                strlist_free(&l);
                lw_mdcorpus_free(out);
                return -1;
            }
        }
        snprintf(path, sizeof path, "%s/blimp", data_dir);
        int rc = add_pairs(out, &l, "minimal-pairs", n_pairs, calib_share, &rng, path);
        strlist_free(&l);
        if (rc != 0) return -1;
    }
    if (n_para > 0) {
        snprintf(path, sizeof path, "%s/mrpc/msr_paraphrase_train.txt", data_dir);
        strlist l = {0};
        int rc = lw_mrpc_each(path, mrpc_pair, &l);
        if (rc == 0) rc = add_pairs(out, &l, "paraphrase", n_para, calib_share, &rng, path);
        strlist_free(&l);
        if (rc != 0) {
            lw_mdcorpus_free(out);
            return -1;
        }
    }
    return 0;
}

void lw_mdcorpus_free(lw_mdcorpus *c) {
    if (!c) return;
    for (int64_t i = 0; i < c->n; i++) free(c->text[i]);
    for (int d = 0; d < c->n_domains; d++) free(c->domain_names ? c->domain_names[d] : NULL);
    free(c->text);
    free(c->domain);
    free(c->twin);
    free(c->calib);
    free(c->domain_names);
    memset(c, 0, sizeof *c);
}
