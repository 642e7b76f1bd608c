/* latentwire: reading input files safely.
 *
 * Every text, JSONL, JSON and hook-vector input the library reads must be a regular file:
 * a FIFO would block the open (or never end), a device such as /dev/zero would grow memory
 * without bound. A line of a line-oriented input longer than LW_MAX_LINE_BYTES is an error
 * naming the file and line instead of an unbounded allocation. */
#ifndef LATENTWIRE_TEXTIO_H
#define LATENTWIRE_TEXTIO_H

#include <stdint.h>
#include <stdio.h>

#include "latentwire/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest line (bytes, without its line ending) of a text or JSONL input: 1 MiB, far more
 * than a context of text (4096 tokens are some 20 KB) or a hook vector line needs. */
#define LW_MAX_LINE_BYTES ((size_t)1 << 20)

/* 0 when path names a regular file (symbolic links followed); -1 with one line naming the
 * path and what it is ("a FIFO", "a character device", "a directory", or the OS reason when
 * it cannot be examined). Never opens the file, so never blocks. */
int lw_check_regular_file(const char *path);

/* The same checks, giving a read-only descriptor (blocking again, close-on-exec), or -1 with the
 * error set: for readers that mmap. */
int lw_open_regular(const char *path);

/* Opens a regular file for reading ("rb"). A FIFO or device is refused without blocking
 * (it is examined before the open and opened non-blocking, then checked again on the open
 * descriptor). NULL with the error set. */
FILE *lw_fopen_regular(const char *path);

/* Splits "a, b,c" at commas into items with the spaces around each removed, as every list
 * option and spec reads them. An empty list, an empty item ("a,,b", "a,", " ") and an item
 * written twice are errors naming `what` (e.g. "--channel") and the item. On success *items
 * (one malloc'd block: free(*items) frees the array and the strings) holds the count
 * returned; -1 (error set) otherwise. */
int lw_list_split(const char *what, const char *spec, char ***items);

/* A text corpus: one item per line of a .txt file (blank lines skipped), or the string
 * field `field` of each line of a .jsonl file (blank lines skipped; a line that is not a
 * JSON object with that string field is an error naming file and line number). Regular files
 * only; a line longer than LW_MAX_LINE_BYTES is an error naming file and line. */
typedef struct {
    char **texts;
    int64_t *line_no;   /* 1-based source line of each item */
    int64_t n;
} lw_corpus;

int lw_corpus_load(lw_corpus *c, const char *path, const char *field);
void lw_corpus_free(lw_corpus *c);

#ifdef __cplusplus
}
#endif
#endif
