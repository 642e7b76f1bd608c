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
#include "latentwire/textio.h"

/* lw_corpus, lw_corpus_load, lw_corpus_free: latentwire/textio.h */

/* Ends the open output group (lw_atomic_group_begin) as its writes went: rc 0 renames every
 * file and returns 0 (or -1 when a rename failed); any other rc removes them and is returned. */
int lw_atomic_group_finish(int rc);

/* Adds a finished file that is already on disk under another name to the open group: renamed
 * from `from` to `to` with the others when the group commits, left as it is when it does not
 * (a resumable run's RECORDS.partial: its records are the work --resume reuses). 0 or -1. */
int lw_atomic_group_add_kept(const char *from, const char *to);

/* getline with a bound: reads one line (with its '\n', NUL-terminated) into *line (grown
 * as needed, at most max + 2 bytes). Returns its length, -1 at the end of the file (or on a
 * read error: check ferror), LW_LINE_TOO_LONG when the line has more than max bytes before
 * its '\n' (the rest of it is left unread), LW_LINE_NO_MEMORY. */
#define LW_LINE_TOO_LONG (-2)
#define LW_LINE_NO_MEMORY (-3)
ssize_t lw_getline_max(char **line, size_t *cap, FILE *fp, size_t max);

/* Every line of the regular file at path, in order, to fn(ud, line, len, line_no): the line
 * NUL-terminated without its line end ("\n" or "\r\n": one "\r" at most), a UTF-8 byte-order
 * mark taken off the first (an editor's BOM would end up in the first item or break a JSON
 * parser), line_no from 1. fn returns 0 to go on, > 0 to stop early (not an error), < 0 on an
 * error it has set. The reading errors are one line each, naming the file and line: not a
 * regular file, a line over LW_MAX_LINE_BYTES, out of memory, a read error. *n_lines (may be
 * NULL) gets the lines read, or -1 when the file could not be opened. 0 or -1. */
typedef int (*lw_line_fn)(void *ud, char *line, size_t len, int64_t line_no);
int lw_each_line(const char *path, lw_line_fn fn, void *ud, int64_t *n_lines);

/* Whether a path among paths[0..n) names the same file as an earlier one (by device and inode:
 * another spelling, a link): 1 with the first such pair in *earlier and *later, 0 when all differ
 * (a path that cannot be stat'ed is left to its reader), -1 out of memory. */
int lw_first_repeated_file(const char *const *paths, int n, int *earlier, int *later);

/* The next line of the NUL-terminated text at *cursor, cut at its '\n' in place (the '\n' becomes
 * the NUL; *cursor moves past it), or NULL at the text's end. Unlike strtok_r, an empty line is a
 * line, so a line number counted over these calls is the file's own line number. */
char *lw_next_line(char **cursor);

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
