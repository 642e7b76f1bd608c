/* The story task: a templated TinyStories-style task that the tiny models in
 * ../shared/models can solve by copying from context.
 *
 * Measured (greedy, `latentwire generate --max-tokens 4`; oracle = prompt "<sender> <receiver>",
 * floor = prompt "<receiver>" alone; exact scorer on the continuation):
 *
 *   items                  model            oracle (name / object / all)   floor (all)
 *   40,  seed 1            stories260K      1.00 / 0.95 / 0.975            0.00
 *   40,  seed 1            tinystories656K  1.00 / 0.95 / 0.975            0.00
 *   200, seed 7            stories260K      1.00 / 0.89 / 0.945            0.00
 *   200, seed 7            tinystories656K  1.00 / 0.92 / 0.960            0.00
 * (The 40-item rows used the Debug+ASan CLI, the 200-item rows a Release build; the two
 * gave identical continuations on the 40 items.)
 *
 * Without the story the models answer "Let's ..." / "Lily was ..." / "As they ..." (kind 0)
 * and "a big box" / "a small pencil" (kind 1). The name and object lists were chosen on
 * separate draws of the same templates (names/objects either model failed to copy were
 * dropped), so the numbers above are on the final lists but are not held-out estimates.
 *
 * The sender reads a three-sentence story introducing a child's name and an object:
 *   "Once upon a time, there was a little boy named Tom. Tom had a kite. He loved his kite
 *    very much."   (or "... He loved the kite very much.")
 * The receiver's prompt needs the name (kind 0) or the object (kind 1) as its next word:
 *   kind 0: "One day, his mom said, \"Good job!\"\n"      (also "dad said", "\"Come here!\"")
 *   kind 1: "Tom picked up"                                (also "Then Tom picked up",
 *                                                            "Tom smiled and picked up")
 * Gold: the name, or the object with aliases "his <object>" and "her <object>" (the models
 * continue "picked up his kite"); exact scorer (first words of the continuation).
 *
 * Why these shapes. The two tokenizers disagree on where a space goes: stories260K
 * (SentencePiece) starts words with the space (" kite"), tinystories656K ends them with it
 * ("kite "). A prompt ending in a space derails the first, a prompt ending in a bare word
 * derails the second (it answers "an ..."/"all ..."), so no receiver ends "... named" or
 * "... his big red". Kind 0 ends at a newline (a word after a newline has no space in
 * either vocabulary: the next line starts with the name); kind 1 ends before an article or
 * possessive (" his kite" / " the kite": 656K has the tokens " the " and " h", articles
 * are dropped by normalization and "his <object>" is an alias).
 *
 * The names and objects are the ones both models copy reliably (each tokenizes them into
 * few pieces that survive a 4-token continuation); "Lily", both models' default name, and
 * names/objects either model rewrites (Timmy, Sara -> Sarah, box, cup, truck, ...) are
 * left out. Objects all start with a consonant ("a kite"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rng.h"
#include "task/task_internal.h"

static const char *const BOYS[] = {"Ben", "Billy", "Bob", "Jack", "Leo", "Max", "Paul", "Sam", "Tim", "Tom"};
static const char *const GIRLS[] = {"Amy", "Anna", "Emma", "Jane", "Lisa", "Lucy", "Mia", "Molly", "Sally", "Sue"};
static const char *const OBJECTS[] = {"bag", "ball", "bell", "bike", "boat", "book", "bowl",
                                      "car", "coat", "doll", "jar",  "kite", "lamp", "rock"};

/* Placeholders: {name} {kid} (boy/girl) {obj} {He} {his} {His}. */
static const char *const SENDERS[] = {
    "Once upon a time, there was a little {kid} named {name}. {name} had a {obj}. {He} loved {his} {obj} very much.",
    "Once upon a time, there was a little {kid} named {name}. {name} had a {obj}. {He} loved the {obj} very much.",
};
static const char *const RECEIVERS_NAME[] = {
    "One day, {his} mom said, \"Good job!\"\n",
    "One day, {his} dad said, \"Good job!\"\n",
    "One day, {his} mom said, \"Come here!\"\n",
};
static const char *const RECEIVERS_OBJECT[] = {
    "{name} picked up",
    "Then {name} picked up",
    "{name} smiled and picked up",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
    const char *name, *kid, *obj, *He, *his, *His;
} story_vars;

/* Expands the placeholders of tmpl. malloc'd, NULL when out of memory. */
static char *expand(const char *tmpl, const story_vars *v) {
    static const char *const keys[] = {"{name}", "{kid}", "{obj}", "{He}", "{his}", "{His}"};
    const char *vals[] = {v->name, v->kid, v->obj, v->He, v->his, v->His};
    lw_strbuf b = {0};
    for (const char *p = tmpl; *p;) {
        size_t k = 0;
        for (; k < COUNT(keys); k++)
            if (strncmp(p, keys[k], strlen(keys[k])) == 0) break;
        if (k < COUNT(keys)) {
            lw_sb_adds(&b, vals[k]);
            p += strlen(keys[k]);
        } else {
            lw_sb_add(&b, p, 1);
            p++;
        }
    }
    return lw_sb_take(&b);
}

static const char *pick(lw_rng *r, const char *const *list, size_t n) { return list[lw_rng_below(r, n)]; }

/* Items alternate kind 0 (name) and kind 1 (object); id "story-<i>-name" / "-object".
 * Everything else is drawn from the seed. */
int lw_task_story(int n_items, uint64_t seed, lw_task *out) {
    if (!out) return lw_fail("story task: no output task");
    memset(out, 0, sizeof *out);
    if (n_items <= 0) return lw_fail("story task: n_items must be positive (got %d)", n_items);
    if (n_items > 1000000) return lw_fail("story task: n_items %d is more than 1000000", n_items); /* as task specs */
    lw_rng rng;
    lw_rng_seed(&rng, seed);
    lw_task_builder b = {0};
    for (int i = 0; i < n_items; i++) {
        int kind = i % 2;
        bool girl = lw_rng_below(&rng, 2) == 1;
        story_vars v = {
            .name = girl ? pick(&rng, GIRLS, COUNT(GIRLS)) : pick(&rng, BOYS, COUNT(BOYS)),
            .kid = girl ? "girl" : "boy",
            .He = girl ? "She" : "He",
            .his = girl ? "her" : "his",
            .His = girl ? "Her" : "His",
        };
        v.obj = pick(&rng, OBJECTS, COUNT(OBJECTS));
        const char *st = pick(&rng, SENDERS, COUNT(SENDERS));
        const char *rt = kind == 0 ? pick(&rng, RECEIVERS_NAME, COUNT(RECEIVERS_NAME))
                                   : pick(&rng, RECEIVERS_OBJECT, COUNT(RECEIVERS_OBJECT));
        char *sender = expand(st, &v), *receiver = expand(rt, &v), id[64];
        char his_obj[64], her_obj[64];
        snprintf(his_obj, sizeof his_obj, "his %s", v.obj);
        snprintf(her_obj, sizeof her_obj, "her %s", v.obj);
        const char *aliases[] = {his_obj, her_obj};
        snprintf(id, sizeof id, "story-%04d-%s", i, kind == 0 ? "name" : "object");
        int rc = sender && receiver
                     ? lw_task_builder_add(&b, id, sender, receiver, kind == 0 ? v.name : v.obj,
                                           kind == 0 ? NULL : aliases, kind == 0 ? 0 : 2, LW_SCORE_EXACT)
                     : lw_fail("story task: out of memory");
        free(sender);
        free(receiver);
        if (rc != 0) {
            lw_task_builder_free(&b);
            return -1;
        }
    }
    lw_task_builder_finish(&b, out);
    return 0;
}
