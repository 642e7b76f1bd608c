/* Internal file helpers: text corpora, bounded lines, streaming sha256, directories (crash-safe
 * output, whole-file reads and sha256 of a file or buffer: latentwire/files.h). */
#ifndef LW_COMMON_FILEIO_H
#define LW_COMMON_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* the atomic output file, lw_read_file and the sha256 of a file or buffer are public */
#include "latentwire/files.h"

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

/* getline with a bound: reads one line (with its '\n', NUL-terminated) into *line (grown
 * as needed, at most max + 2 bytes). Returns its length, -1 at the end of the file (or on a
 * read error: check ferror), LW_LINE_TOO_LONG when the line has more than max bytes before
 * its '\n' (the rest of it is left unread), LW_LINE_NO_MEMORY. */
#define LW_LINE_TOO_LONG (-2)
#define LW_LINE_NO_MEMORY (-3)
ssize_t lw_getline_max(char **line, size_t *cap, FILE *fp, size_t max);

/* The error for a line over LW_MAX_LINE_BYTES ("FILE:LINE: line is longer than ..."). -1. */
int lw_line_too_long(const char *path, long long line_no);

/* Streaming sha256 (OpenSSL): begin, update any number of times, end (writes the hex digest
 * and frees). lw_sha256_free drops an unfinished one. */
typedef struct lw_sha256 lw_sha256;
lw_sha256 *lw_sha256_begin(void);
int lw_sha256_update(lw_sha256 *h, const void *data, size_t len);
int lw_sha256_end(lw_sha256 *h, char out[65]);
void lw_sha256_free(lw_sha256 *h);

/* lw_mkdir_p, lw_mkdir_p_created, lw_rmdir_created: latentwire/files.h */

#endif
