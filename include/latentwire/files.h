/* Output paths, checked before any work: a run that would overwrite its own input, or that
 * would fail only at the end because its output directory is missing, is refused up front
 * with one message naming the option, the path and what to change. */
#ifndef LATENTWIRE_FILES_H
#define LATENTWIRE_FILES_H

#include <stdbool.h>

#include <stddef.h>
#include <stdio.h>

#include "latentwire/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Files a writer makes beside OUT, which must not be inputs either (bit flags). */
enum {
    LW_OUT_FILE = 0,         /* OUT only (temporaries with random suffixes never clobber) */
    LW_OUT_PARTIAL = 1,      /* OUT.partial (channel, debate) */
    LW_OUT_SHARDS = 2,       /* STEM-NNNNN-of-NNNNN.safetensors for OUT = STEM.safetensors, and
                                the temporaries OUT.*.tmp / OUT.tmp.* of each (extract) */
};

/* Checks that `out` (the value of option `flag`, e.g. "--out") can be written and that
 * writing it and the files `kinds` adds beside it overwrites none of `inputs`:
 *  - out is not an existing directory, and its directory exists and is writable (the OS's
 *    reason, strerror, is in the message);
 *  - out is not the same file as an input: compared by device and inode, so a symlink, a
 *    hard link or "./x" for "x" is caught; a path that does not exist yet is compared by its
 *    directory's device and inode and its name (two outputs given the same name);
 *  - no file of `kinds` beside out is an input (same directory by device and inode).
 * inputs: option/path pairs ("--source", path, ...) ended by a NULL option; a NULL path (an
 * option not given) is skipped. flag NULL: messages say "output". 0, or -1 with the message set
 * (lw_last_error). */
int lw_output_check(const char *flag, const char *out, int kinds, const char *const *inputs);

/* Whether a and b name one existing file (by device and inode: a link, "./x" for "x"); false when
 * either cannot be stat'ed. */
bool lw_same_file(const char *a, const char *b);

/* A run's outputs against each other: no two may be the same file (by device and inode, or by
 * directory and name when not yet there), and none may be a file another writes beside itself:
 * its OUT.partial (LW_OUT_PARTIAL), its shards (LW_OUT_SHARDS) or a temporary of it
 * (OUT.tmp.XXXXXX, OUT.*.tmp: every writer's). Otherwise two writes clobber each other (`channel
 * --json X.partial --out X`). outs[0..n); an entry whose path is NULL (not asked for) is skipped.
 * 0, or -1 with the message naming both options and paths. */
typedef struct {
    const char *flag; /* the option that names it ("--json") */
    const char *path;
    int kinds;        /* LW_OUT_* flags: the files its writer adds beside it */
} lw_output_spec;
int lw_outputs_distinct(const lw_output_spec *outs, int n);

/* The same for an output directory that is created when missing (align --out DIR): dir is
 * not an existing non-directory, its nearest existing ancestor is a writable directory, and
 * none of the files `names` (relative to dir) that the run writes is one of `inputs`.
 * names: ended by NULL. 0 or -1. */
int lw_output_dir_check(const char *flag, const char *dir, const char *const *names, const char *const *inputs);

/* Output that appears under its final name only on commit: written to a temp file in
 * the same directory ("<path>.tmp.XXXXXX"), then fsync + rename. */
typedef struct {
    FILE *fp;
    char *path;
    char *tmp_path;
} lw_atomic_file;

/* The temp is registered for removal on a signal (see lw_signal_cleanup_begin) from open until
 * it is renamed (commit, or a commit group's end) or removed (abort, a failed commit). */
int lw_atomic_open(lw_atomic_file *af, const char *path);   /* 0 or -1 (error set) */
int lw_atomic_commit(lw_atomic_file *af);                    /* 0 or -1; temp removed on failure */
void lw_atomic_abort(lw_atomic_file *af);                    /* closes and removes the temp file */

/* Between these calls SIGINT, SIGTERM and SIGHUP first remove the temporary files the library
 * has open (lw_atomic_file temps, extract's per-tensor files), then restore the disposition
 * they had before and are raised again: with the default one the process ends by the signal,
 * leaving no temporary behind. For an application's main (the CLI brackets every verb with
 * them); nested pairs are counted, a signal that was ignored stays ignored. One thread calls
 * them; the removal works for files opened on any thread. */
void lw_signal_cleanup_begin(void);
void lw_signal_cleanup_end(void);

/* A whole text written to path through lw_atomic_open / lw_atomic_commit: the file appears
 * whole or not at all. 0, or -1 with the message naming path and the OS's reason. */
int lw_write_text_file(const char *path, const char *text);

/* Outputs that appear together or not at all (a scan's CSV, task file and JSON): between
 * lw_atomic_group_begin and lw_atomic_group_end, lw_atomic_commit writes and syncs each file but
 * leaves it under its temporary name; lw_atomic_group_end(true) then renames them all, in the
 * order committed, and (false) removes them all, so a run that fails after its first output
 * (a full disk, a later error) leaves the previous set whole instead of a mix of old and new.
 * One group per thread at a time. 0 or -1 (a group already open; a rename that failed: the
 * files not yet renamed are removed and named). */
int lw_atomic_group_begin(void);
int lw_atomic_group_end(bool commit);

/* Reads the whole file into a malloc'd NUL-terminated buffer. A FIFO, device or directory
 * is refused (lw_fopen_regular). NULL on error. */
char *lw_read_file(const char *path, size_t *len);

/* Hex sha256 of a file into out[65]. 0 or -1. */
int lw_sha256_file(const char *path, char out[65]);

/* Hex sha256 of a buffer into out[65]. 0 or -1. */
int lw_sha256_buf(const void *data, size_t len, char out[65]);

/* Creates the directory and its parents (like mkdir -p). 0 or -1. */
int lw_mkdir_p(const char *path);
/* The same; *created is the topmost directory this call created (malloc'd), or NULL when
 * path existed, so that a failed run can remove what it made with lw_rmdir_created (created may be NULL). */
int lw_mkdir_p_created(const char *path, char **created);
/* Removes path and its parents up to and including `created` (as lw_mkdir_p_created
 * returned it), each only if empty: files a run left in them keep their directories. */
void lw_rmdir_created(const char *path, const char *created);

/* lw_read_file for a text that will be split into lines: NULL also (with "PATH: line N contains a
 * NUL byte (not a WHAT)") when the file holds a NUL byte, where a split with strchr or strtok would
 * stop and drop the rest unseen. len may be NULL. */
char *lw_read_text_file(const char *path, size_t *len, const char *what);

#ifdef __cplusplus
}
#endif
#endif
