/* libFuzzer entry point for the task readers (src/task/): the task JSONL reader and the
 * readers of ../shared/data (GSM8K JSONL, function_vectors JSON list, biographies JSON
 * object). The first input byte picks the reader, the rest is the file. Any byte string
 * must either load into a consistent task or be rejected with an error naming the file,
 * never crash or read out of bounds. A loaded task must survive save -> load unchanged.
 * Build with clang -fsanitize=fuzzer,address,undefined. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "latentwire/error.h"
#include "latentwire/task.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One scratch directory per fuzzer process (libFuzzer runs inputs one after another),
 * removed at exit. */
static char g_dir[256];
static const char *const FILES[] = {"task.jsonl", "gsm8k.jsonl", "fv.json", "saved.jsonl"};

static void remove_scratch(void) {
    char p[320];
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, FILES[i]);
        remove(p);
    }
    rmdir(g_dir);
}

static const char *scratch(const char *name) {
    static char path[2][320];
    static int slot;
    if (!g_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(g_dir, sizeof g_dir, "%s/lw_fuzz_task_XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(g_dir)) abort();
        atexit(remove_scratch);
    }
    slot ^= 1;
    snprintf(path[slot], sizeof path[slot], "%s/%s", g_dir, name);
    return path[slot];
}

static int write_file(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = size ? fwrite(data, 1, size, f) : 0;
    return (fclose(f) == 0 && w == size) ? 0 : -1;
}

static int str_eq(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* Every item's strings are readable and its scorer runs on its own gold answer. */
static void touch(const lw_task *t) {
    volatile size_t sink = 0;
    for (int i = 0; i < t->n; i++) {
        const lw_task_item *it = &t->items[i];
        sink += strlen(it->id) + strlen(it->sender) + strlen(it->receiver) + strlen(it->gold);
        for (int a = 0; a < it->n_aliases; a++) sink += strlen(it->aliases[a]);
        double s = lw_score(it, it->gold);
        if (!(s >= 0.0 && s <= 1.0)) __builtin_trap();
    }
    (void)sink;
}

/* save -> load must give back the same items. */
static void round_trip(const lw_task *t) {
    const char *path = scratch("saved.jsonl");
    if (lw_task_save(path, t) != 0) return; /* e.g. a string jansson will not encode */
    lw_task back = {0};
    if (lw_task_load(path, &back) != 0) __builtin_trap();
    if (back.n != t->n) __builtin_trap();
    for (int i = 0; i < t->n; i++) {
        const lw_task_item *a = &t->items[i], *b = &back.items[i];
        if (!str_eq(a->id, b->id) || !str_eq(a->sender, b->sender) || !str_eq(a->receiver, b->receiver) ||
            !str_eq(a->gold, b->gold) || a->scorer != b->scorer || a->n_aliases != b->n_aliases)
            __builtin_trap();
        for (int k = 0; k < a->n_aliases; k++)
            if (!str_eq(a->aliases[k], b->aliases[k])) __builtin_trap();
    }
    lw_task_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int which = data[0] % 4;
    const char *path = scratch(FILES[which < 3 ? which : 2]);
    if (write_file(path, data + 1, size - 1) != 0) abort();
    lw_task t = {0};
    int rc;
    switch (which) {
    case 0: rc = lw_task_load(path, &t); break;
    case 1: rc = lw_task_from_gsm8k(path, 0, &t); break;
    case 2: rc = lw_task_from_function_vectors(path, 1 + (int)(size % 3), 0, 7, &t); break;
    default: rc = lw_task_from_biographies(path, 0, &t); break;
    }
    if (rc != 0) {
        /* rejected: an error message was set, and nothing was handed out */
        if (!lw_last_error()[0] || t.n != 0 || t.items != NULL) __builtin_trap();
        return 0;
    }
    touch(&t);
    round_trip(&t);
    lw_task_free(&t);
    return 0;
}
