/* Internal file helpers: crash-safe output, hashing, reading text corpora. */
#ifndef LW_COMMON_FILEIO_H
#define LW_COMMON_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Output that appears under its final name only on commit: written to a temp file in
 * the same directory ("<path>.tmp.XXXXXX"), then fsync + rename. */
typedef struct {
    FILE *fp;
    char *path;
    char *tmp_path;
} lw_atomic_file;

int lw_atomic_open(lw_atomic_file *af, const char *path);   /* 0 or -1 (error set) */
int lw_atomic_commit(lw_atomic_file *af);                    /* 0 or -1; temp removed on failure */
void lw_atomic_abort(lw_atomic_file *af);                    /* closes and removes the temp file */

/* Hex sha256 of a file into out[65]. 0 or -1. */
int lw_sha256_file(const char *path, char out[65]);

/* Hex sha256 of a buffer into out[65]. 0 or -1. */
int lw_sha256_buf(const void *data, size_t len, char out[65]);

/* Reads the whole file into a malloc'd NUL-terminated buffer. NULL on error. */
char *lw_read_file(const char *path, size_t *len);

/* A text corpus: one item per line of a .txt file (blank lines skipped), or the string
 * field `field` of each line of a .jsonl file (blank lines skipped; a line that is not a
 * JSON object with that string field is an error naming file and line number). */
typedef struct {
    char **texts;
    int64_t *line_no;   /* 1-based source line of each item */
    int64_t n;
} lw_corpus;

int lw_corpus_load(lw_corpus *c, const char *path, const char *field);
void lw_corpus_free(lw_corpus *c);

/* Creates the directory and its parents (like mkdir -p). 0 or -1. */
int lw_mkdir_p(const char *path);
/* The same; *created is the topmost directory this call created (malloc'd), or NULL when
 * path existed, so that a failed run can remove what it made with lw_rmdir_created. */
int lw_mkdir_p_created(const char *path, char **created);
/* Removes path and its parents up to and including `created` (as lw_mkdir_p_created
 * returned it), each only if empty: files a run left in them keep their directories. */
void lw_rmdir_created(const char *path, const char *created);

#endif
