/* libFuzzer entry point for the BEIR reader (src/eval/beir.c), which reads a directory:
 * the input is split on the record-separator byte 0x1E into corpus.jsonl, queries.jsonl
 * and qrels/test.tsv (a missing part is an empty file) written into a scratch directory.
 * Any input must either load into a consistent lw_beir or be rejected with an error,
 * never crash or read out of bounds. Build with clang -fsanitize=fuzzer,address,undefined. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "latentwire/error.h"
#include "latentwire/retrieval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEP 0x1E

static char dir[256];
static const char *const NAMES[3] = {"corpus.jsonl", "queries.jsonl", "qrels/test.tsv"};

/* The scratch directory is removed at exit. */
static void remove_scratch(void) {
    char p[400];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, NAMES[i]);
        remove(p);
    }
    snprintf(p, sizeof p, "%s/qrels", dir);
    rmdir(p);
    rmdir(dir);
}

static const char *scratch_dir(void) {
    if (!dir[0]) {
        atexit(remove_scratch);
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/lw_fuzz_beir_XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) abort();
        char qrels[300];
        snprintf(qrels, sizeof qrels, "%s/qrels", dir);
        if (mkdir(qrels, 0700) != 0) abort();
    }
    return dir;
}

static void write_part(const char *name, const uint8_t *p, size_t n) {
    char path[400];
    snprintf(path, sizeof path, "%s/%s", scratch_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    if (fclose(f) != 0) abort();
}

/* Everything the reader handed out is in bounds and consistent. */
static void check(const lw_beir *b) {
    volatile size_t sink = 0;
    if (b->n_docs <= 0 || b->n_queries < 0) __builtin_trap();
    for (int32_t d = 0; d < b->n_docs; d++) sink += strlen(b->doc_id[d]) + strlen(b->doc_text[d]);
    if (b->rel_off[0] != 0) __builtin_trap();
    for (int32_t q = 0; q < b->n_queries; q++) {
        sink += strlen(b->query_id[q]) + strlen(b->query_text[q]);
        if (b->rel_off[q + 1] <= b->rel_off[q]) __builtin_trap(); /* kept queries have a relevant doc */
        for (int64_t r = b->rel_off[q]; r < b->rel_off[q + 1]; r++) {
            if (b->rel_doc[r] < 0 || b->rel_doc[r] >= b->n_docs) __builtin_trap();
            if (!isfinite(b->rel_grade[r])) __builtin_trap();
        }
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t start = 0;
    for (int part = 0; part < 3; part++) {
        size_t end = start;
        while (end < size && (part == 2 || data[end] != SEP)) end++;
        write_part(NAMES[part], data + (start < size ? start : size), end > start ? end - start : 0);
        start = end + 1;
    }
    lw_beir b;
    if (lw_beir_load(scratch_dir(), "test", &b) != 0) {
        if (!lw_last_error()[0]) __builtin_trap();
        return 0;
    }
    check(&b);
    lw_beir_free(&b);
    return 0;
}
