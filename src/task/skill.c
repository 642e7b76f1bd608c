/* Templated skills for the layer scan: in-context skill transfer items (lw_task_skill) built
 * from a fixed word list and the numbers, on skills small models can do from a few
 * demonstrations. Answers are scored by the exact scorer, which lowercases: a case skill
 * (capitalize, uppercase) would be solved by copying the input, so none is offered here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "task/task_internal.h"

/* Common short English words, distinct, lowercase ASCII. */
static const char *const WORDS[] = {
    "apple", "river", "house", "green", "music", "table", "chair", "bread", "water", "light", "stone", "cloud",
    "horse", "sugar", "paper", "plant", "ocean", "tiger", "lemon", "smile", "dream", "grass", "night", "queen",
    "money", "train", "heart", "shirt", "clock", "beach", "snake", "candy", "mouse", "pilot", "radio", "truck",
    "forest", "garden", "window", "pencil", "rabbit", "butter", "winter", "summer", "doctor", "island", "monkey",
    "basket", "candle", "jacket", "ladder", "market", "orange", "planet", "rocket", "silver", "turtle", "violin",
    "wallet", "yellow", "bottle", "castle", "dragon", "finger", "guitar", "hammer", "kitten", "mirror", "needle",
    "pepper", "bridge", "camera", "desert", "engine", "flower", "helmet", "jungle", "kettle", "letter", "magnet",
    "dog", "cat", "sun", "hat", "cup", "pen", "box", "egg", "fox", "map", "key", "bed", "bus", "car", "fish",
    "bird", "book", "door", "fire", "game", "hand", "king", "lamp", "milk", "nose", "park", "ring", "ship", "tree",
    "wind", "yard", "zero", "baby", "cake", "duck", "farm", "gold", "hill", "iron", "jump", "kite", "leaf", "moon",
    "nest", "oven", "pink", "rain", "salt", "tent", "unit", "vase", "wolf", "road", "sock", "star", "wave", "bell",
};
#define N_WORDS ((int)(sizeof WORDS / sizeof *WORDS))

typedef enum { ON_WORDS, ON_NUMBERS } skill_domain;

typedef struct {
    const char *name;
    const char *what; /* for the usage text and README */
    skill_domain domain;
    int lo, hi;       /* ON_NUMBERS: inputs lo..hi */
    void (*answer)(const char *in, char *out, size_t cap);
} skill;

static void first_letter(const char *in, char *out, size_t cap) { snprintf(out, cap, "%c", in[0]); }
static void last_letter(const char *in, char *out, size_t cap) { snprintf(out, cap, "%c", in[strlen(in) - 1]); }
static void repeat_word(const char *in, char *out, size_t cap) { snprintf(out, cap, "%s %s", in, in); }
static void next_number(const char *in, char *out, size_t cap) { snprintf(out, cap, "%d", atoi(in) + 1); }
static void prev_number(const char *in, char *out, size_t cap) { snprintf(out, cap, "%d", atoi(in) - 1); }
static void double_number(const char *in, char *out, size_t cap) { snprintf(out, cap, "%d", 2 * atoi(in)); }

static const skill SKILLS[] = {
    {"first_letter", "a word's first letter (apple -> a)", ON_WORDS, 0, 0, first_letter},
    {"last_letter", "a word's last letter (apple -> e)", ON_WORDS, 0, 0, last_letter},
    {"repeat_word", "the word twice (apple -> apple apple)", ON_WORDS, 0, 0, repeat_word},
    {"next_number", "the next number (7 -> 8), inputs 1..98", ON_NUMBERS, 1, 98, next_number},
    {"prev_number", "the previous number (7 -> 6), inputs 2..99", ON_NUMBERS, 2, 99, prev_number},
    {"double_number", "twice the number (7 -> 14), inputs 1..49", ON_NUMBERS, 1, 49, double_number},
};
#define N_SKILLS ((int)(sizeof SKILLS / sizeof *SKILLS))

int lw_task_skill_count(void) { return N_SKILLS; }

const char *lw_task_skill_name(int i, const char **description) {
    if (i < 0 || i >= N_SKILLS) return NULL;
    if (description) *description = SKILLS[i].what;
    return SKILLS[i].name;
}

static int one_skill(const char *name, int k_shot, int n_items, uint64_t seed, lw_task *out);

/* A mixture "a+b+...": each skill's items (its own seed), interleaved a0 b0 ... a1 b1 ..., the first
 * n_items kept. Every item of a skill on words shares its inputs with the others', so what the
 * sender read (which skill) is the only thing that tells the answers apart: a channel's side
 * information fitted on the mixture cannot carry it. */
static int mixed_skills(const char *names, int k_shot, int n_items, uint64_t seed, lw_task *out) {
    enum { MAX_MIX = 8 };
    char name[MAX_MIX][64];
    int k = 0;
    for (const char *p = names;; k++) { /* "a+b+c": every part named, none twice */
        const char *plus = strchr(p, '+');
        size_t len = plus ? (size_t)(plus - p) : strlen(p);
        if (k == MAX_MIX) return lw_fail("skill:%s: at most %d skills in a mixture", names, MAX_MIX);
        if (len == 0 || len >= sizeof name[k])
            return lw_fail("skill:%s: a mixture is skill names joined by '+' (part %d is %s)", names, k + 1,
                           len ? "too long" : "empty");
        snprintf(name[k], sizeof name[k], "%.*s", (int)len, p);
        for (int j = 0; j < k; j++)
            if (!strcmp(name[j], name[k])) return lw_fail("skill:%s: skill %s is named twice", names, name[k]);
        if (!plus) break;
        p = plus + 1;
    }
    k++;
    lw_task part[MAX_MIX] = {{0}};
    int rc = 0, most = 0;
    for (int j = 0; rc == 0 && j < k; j++) {
        rc = one_skill(name[j], k_shot, n_items, seed + (uint64_t)j, &part[j]);
        if (rc == 0 && part[j].n > most) most = part[j].n;
    }
    lw_task_builder b = {0};
    for (int i = 0; rc == 0 && i < most; i++)
        for (int j = 0; rc == 0 && j < k && (n_items <= 0 || b.t.n < n_items); j++)
            if (i < part[j].n) {
                const lw_task_item *it = &part[j].items[i];
                rc = lw_task_builder_add(&b, it->id, it->sender, it->receiver, it->gold, NULL, 0, it->scorer);
            }
    if (rc == 0) lw_task_builder_finish(&b, out);
    else lw_task_builder_free(&b);
    for (int j = 0; j < k; j++) lw_task_free(&part[j]);
    return rc;
}

int lw_task_skill(const char *name, int k_shot, int n_items, uint64_t seed, lw_task *out) {
    if (!out) return lw_fail("skill: no output task");
    memset(out, 0, sizeof *out);
    if (name && strchr(name, '+')) return mixed_skills(name, k_shot, n_items, seed, out);
    return one_skill(name, k_shot, n_items, seed, out);
}

static int one_skill(const char *name, int k_shot, int n_items, uint64_t seed, lw_task *out) {
    const skill *sk = NULL;
    for (int i = 0; i < N_SKILLS && name; i++)
        if (!strcmp(name, SKILLS[i].name)) sk = &SKILLS[i];
    if (!sk) {
        char list[512] = "";
        for (int i = 0; i < N_SKILLS; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", SKILLS[i].name);
        return lw_fail("skill:%s: unknown skill (known: %s; or fv:NAME for a function-vectors task)", name ? name : "",
                       list);
    }
    int n = sk->domain == ON_WORDS ? N_WORDS : sk->hi - sk->lo + 1;
    char **in = calloc((size_t)n, sizeof *in), **ans = calloc((size_t)n, sizeof *ans);
    int rc = in && ans ? 0 : lw_fail("skill:%s: out of memory", name);
    for (int i = 0; rc == 0 && i < n; i++) {
        char buf[64], a[160];
        if (sk->domain == ON_WORDS) snprintf(buf, sizeof buf, "%s", WORDS[i]);
        else snprintf(buf, sizeof buf, "%d", sk->lo + i);
        sk->answer(buf, a, sizeof a);
        in[i] = strdup(buf);
        ans[i] = strdup(a);
        if (!in[i] || !ans[i]) rc = lw_fail("skill:%s: out of memory", name);
    }
    char what[128];
    snprintf(what, sizeof what, "skill:%s", name);
    if (rc == 0)
        rc = lw_task_icl_items(what, name, (const char *const *)in, (const char *const *)ans, n, k_shot, n_items, seed,
                               LW_ICL_SKILL, out);
    for (int i = 0; i < n && in && ans; i++) {
        free(in[i]);
        free(ans[i]);
    }
    free(in);
    free(ans);
    return rc;
}

char *lw_task_withhold_last_answer(const char *sender) {
    static const char mark[] = "output:";
    const char *last = NULL;
    for (const char *p = sender ? strstr(sender, mark) : NULL; p; p = strstr(p + 1, mark))
        if (p == sender || p[-1] == '\n') last = p; /* "output:" inside an input is not a line start */
    if (!last) {
        lw_fail("the sender text has no line starting \"output:\", so there is no answer to withhold (the task-vector "
                "reading needs skill-format demonstrations: skill:NAME, fv:NAME, or a file written that way)");
        return NULL;
    }
    size_t n = (size_t)(last - sender) + sizeof mark - 1;
    char *s = malloc(n + 1);
    if (!s) {
        lw_fail("out of memory");
        return NULL;
    }
    memcpy(s, sender, n);
    s[n] = '\0';
    return s;
}

char *lw_task_context_prompt(const lw_task_item *item) {
    if (!item || !item->receiver) {
        lw_fail("context prompt: no item");
        return NULL;
    }
    const char *s = item->sender ? item->sender : "";
    size_t n = strlen(s) + strlen(item->receiver) + 2;
    char *p = malloc(n);
    if (!p) {
        lw_fail("out of memory");
        return NULL;
    }
    bool sep = *s && s[strlen(s) - 1] != '\n';
    snprintf(p, n, "%s%s%s", s, sep ? "\n" : "", item->receiver);
    return p;
}
