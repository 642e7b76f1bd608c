/* Output paths checked before any work (latentwire/files.h). */
#include "latentwire/files.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

/* Where a path points: the file itself (symlinks followed) when it exists, else its
 * directory and its last component, which is where it would be created. */
typedef struct {
    char dir[4096];
    const char *base;       /* into the caller's path */
    bool exists, dir_exists;
    struct stat st, dir_st;
} place;

static void locate(const char *path, place *p) {
    memset(p, 0, sizeof *p);
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(p->dir, sizeof p->dir, ".");
        p->base = path;
    } else {
        int n = slash == path ? 1 : (int)(slash - path); /* "/x" lives in "/" */
        snprintf(p->dir, sizeof p->dir, "%.*s", n, path);
        p->base = slash + 1;
    }
    p->exists = stat(path, &p->st) == 0;
    p->dir_exists = stat(p->dir, &p->dir_st) == 0;
}

static bool same_inode(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

bool lw_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && same_inode(&sa, &sb);
}

static bool same_dir(const place *a, const place *b) {
    return a->dir_exists && b->dir_exists && same_inode(&a->dir_st, &b->dir_st);
}

/* The same file: by inode when both exist; by directory and name when neither does (two
 * outputs given the same path, in any spelling). */
static bool same_place(const place *a, const place *b) {
    if (a->exists && b->exists) return same_inode(&a->st, &b->st);
    return !a->exists && !b->exists && same_dir(a, b) && strcmp(a->base, b->base) == 0;
}

static bool all_digits(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

/* rest is what follows a written file's name in one of its temporaries: ".tmp.XXXXXX"
 * (lw_atomic_open) or ".<anything>.tmp" (extract's per-site files). */
static bool is_temp_suffix(const char *rest) {
    size_t n = strlen(rest);
    if (rest[0] != '.') return false;
    return strncmp(rest, ".tmp.", 5) == 0 || (n > 4 && strcmp(rest + n - 4, ".tmp") == 0);
}

/* name is "STEM-NNNNN-of-NNNNN.safetensors" for out = "STEM.safetensors", or a temporary of
 * it. */
static bool is_shard_name(const char *out, const char *name) {
    static const char ext[] = ".safetensors";
    size_t lo = strlen(out), le = sizeof ext - 1;
    if (lo <= le || strcmp(out + lo - le, ext) != 0) return false;
    size_t stem = lo - le;
    if (strncmp(name, out, stem) != 0) return false;
    const char *s = name + stem; /* "-00001-of-00003.safetensors..." */
    if (strlen(s) < 15 + le || s[0] != '-' || !all_digits(s + 1, 5) || strncmp(s + 6, "-of-", 4) != 0 ||
        !all_digits(s + 10, 5) || strncmp(s + 15, ext, le) != 0)
        return false;
    return s[15 + le] == '\0' || is_temp_suffix(s + 15 + le);
}

/* Private to this file: the temporaries every writer makes (OUT.tmp.XXXXXX), checked between
 * outputs (lw_outputs_distinct); against inputs their random names never clobber. */
#define LW_OUT_TEMPS 0x100

/* A file the writer of `out` makes beside it under the name `name` (same directory). */
static bool is_derived_name(const char *out, const char *name, int kinds) {
    size_t lo = strlen(out);
    bool prefixed = strncmp(name, out, lo) == 0;
    if ((kinds & LW_OUT_PARTIAL) && prefixed && strcmp(name + lo, ".partial") == 0) return true;
    if ((kinds & (LW_OUT_SHARDS | LW_OUT_TEMPS)) && prefixed && is_temp_suffix(name + lo)) return true;
    return (kinds & LW_OUT_SHARDS) && is_shard_name(out, name);
}

static int check_against_inputs(const char *flag, const char *out, const place *o, int kinds,
                                const char *const *inputs) {
    place partial;
    char partial_path[4200] = "";
    if (kinds & LW_OUT_PARTIAL) {
        snprintf(partial_path, sizeof partial_path, "%s.partial", out);
        locate(partial_path, &partial);
    }
    for (int i = 0; inputs && inputs[i]; i += 2) {
        const char *in_flag = inputs[i], *in = inputs[i + 1];
        if (!in || !*in) continue;
        place p;
        locate(in, &p);
        if (same_place(o, &p))
            return lw_fail("%s %s is the same file as %s %s: writing it would overwrite the input; choose another "
                           "output path",
                           flag, out, in_flag, in);
        /* OUT.partial by inode as well: it is appended to, which follows a symlink */
        if (((kinds & LW_OUT_PARTIAL) && same_place(&partial, &p)) ||
            (same_dir(o, &p) && is_derived_name(o->base, p.base, kinds)))
            return lw_fail("%s %s writes %s beside it, which is %s %s: choose another output path", flag, out,
                           (kinds & LW_OUT_PARTIAL) && same_place(&partial, &p) ? partial_path : in, in_flag, in);
    }
    return 0;
}

/* What b is among the files a's writer makes beside a ("the .partial", ...), or NULL: none. */
static const char *collides_beside(const lw_output_spec *a, const place *pa, const place *pb) {
    if (a->kinds & LW_OUT_PARTIAL) {
        char partial_path[4200];
        snprintf(partial_path, sizeof partial_path, "%s.partial", a->path);
        place partial;
        locate(partial_path, &partial);
        if (same_place(&partial, pb)) return "the .partial";
    }
    if (!same_dir(pa, pb)) return NULL;
    if (is_derived_name(pa->base, pb->base, a->kinds & LW_OUT_PARTIAL)) return "the .partial";
    if (is_derived_name(pa->base, pb->base, LW_OUT_TEMPS)) return "a temporary";
    return is_derived_name(pa->base, pb->base, a->kinds & LW_OUT_SHARDS) ? "a shard" : NULL;
}

int lw_outputs_distinct(const lw_output_spec *outs, int n) {
    if (n < 0) return lw_fail("lw_outputs_distinct: n = %d outputs is negative", n);
    if (!outs && n > 0) return lw_fail("lw_outputs_distinct: outs is NULL");
    for (int i = 0; i < n; i++) /* the flag names the output in every message below */
        if (outs[i].path && *outs[i].path && !outs[i].flag)
            return lw_fail("lw_outputs_distinct: outs[%d].flag is NULL (the option that names %s)", i, outs[i].path);
    for (int i = 0; outs && i < n; i++) {
        if (!outs[i].path || !*outs[i].path) continue;
        place pi;
        locate(outs[i].path, &pi);
        for (int j = 0; j < n; j++) {
            if (j == i || !outs[j].path || !*outs[j].path) continue;
            place pj;
            locate(outs[j].path, &pj);
            if (j > i && same_place(&pi, &pj))
                return lw_fail("%s %s and %s %s are the same file: give each output its own path", outs[i].flag,
                               outs[i].path, outs[j].flag, outs[j].path);
            const char *what = collides_beside(&outs[j], &pj, &pi);
            if (what)
                return lw_fail("%s %s is %s that %s %s writes beside it, so one write would clobber the other: give "
                               "%s another path",
                               outs[i].flag, outs[i].path, what, outs[j].flag, outs[j].path, outs[i].flag);
        }
    }
    return 0;
}

static int check_writable_dir(const char *flag, const char *out, const char *dir) {
    struct stat st;
    if (stat(dir, &st) != 0)
        return lw_fail("%s %s: cannot write into %s: %s (create the directory first)", flag, out, dir,
                       strerror(errno));
    if (!S_ISDIR(st.st_mode)) return lw_fail("%s %s: %s is not a directory", flag, out, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return lw_fail("%s %s: cannot write into %s: %s", flag, out, dir, strerror(errno));
    return 0;
}

/* An existing output that is a device, FIFO or socket: every writer makes a temporary file and
 * renames it over the path, which would replace /dev/null (say) with a regular file. */
static int refuse_special(const char *flag, const char *out, const place *o) {
    if (!o->exists || S_ISREG(o->st.st_mode) || S_ISDIR(o->st.st_mode)) return 0;
    const char *what = S_ISCHR(o->st.st_mode) || S_ISBLK(o->st.st_mode) ? "a device"
                     : S_ISFIFO(o->st.st_mode)                          ? "a FIFO"
                                                                        : "not a regular file";
    return lw_fail("%s %s is %s: outputs are written to a temporary file renamed over the path, which would replace "
                   "it; give a regular file's path",
                   flag, out, what);
}

int lw_output_check(const char *flag, const char *out, int kinds, const char *const *inputs) {
    if (!flag) flag = "output";
    if (kinds & ~(LW_OUT_PARTIAL | LW_OUT_SHARDS)) return lw_fail("%s: kinds = %d is not a set of LW_OUT_* flags", flag, kinds);
    if (!out || !*out) return lw_fail("%s is empty: name the file to write", flag);
    size_t n = strlen(out);
    if (n >= 4000) return lw_fail("%s: the path is too long (%zu bytes)", flag, n);
    place o;
    locate(out, &o);
    if ((o.exists && S_ISDIR(o.st.st_mode)) || out[n - 1] == '/')
        return lw_fail("%s %s names a directory: give a file name inside it", flag, out);
    if (refuse_special(flag, out, &o) != 0 || check_writable_dir(flag, out, o.dir) != 0) return -1;
    return check_against_inputs(flag, out, &o, kinds, inputs);
}

int lw_output_dir_check(const char *flag, const char *dir, const char *const *names, const char *const *inputs) {
    if (!flag) flag = "output directory";
    if (!dir || !*dir) return lw_fail("%s is empty: name the directory to write", flag);
    if (strlen(dir) >= 3900) return lw_fail("%s: the path is too long", flag);
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return lw_fail("%s %s exists and is not a directory", flag, dir);
        if (access(dir, W_OK | X_OK) != 0)
            return lw_fail("%s %s: cannot write into it: %s", flag, dir, strerror(errno));
        for (int i = 0; names && names[i]; i++) {
            char path[4200];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            place o;
            locate(path, &o);
            if (refuse_special(flag, path, &o) != 0 || check_against_inputs(flag, path, &o, LW_OUT_FILE, inputs) != 0)
                return -1;
            /* found here, not when that file's turn comes: the outputs written before it would be
             * new and those after it old (race wrote race.json, then failed at records.jsonl) */
            if (o.exists && S_ISDIR(o.st.st_mode))
                return lw_fail("%s %s: %s is a directory where the run writes a file: remove or rename it", flag, dir,
                               path);
        }
        return 0;
    }
    if (errno != ENOENT) return lw_fail("%s %s: %s", flag, dir, strerror(errno));
    /* it will be created (mkdir -p): the nearest existing ancestor must take new entries */
    char anc[4096];
    snprintf(anc, sizeof anc, "%s", dir);
    for (;;) {
        size_t n = strlen(anc);
        while (n > 1 && anc[n - 1] == '/') anc[--n] = '\0';
        char *slash = strrchr(anc, '/');
        if (!slash) {
            snprintf(anc, sizeof anc, ".");
        } else {
            slash[slash == anc ? 1 : 0] = '\0';
        }
        if (stat(anc, &st) == 0) break;
        if (errno != ENOENT) return lw_fail("%s %s: %s: %s", flag, dir, anc, strerror(errno));
        if (!strcmp(anc, ".") || !strcmp(anc, "/")) return lw_fail("%s %s: %s: %s", flag, dir, anc, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) return lw_fail("%s %s: %s is not a directory", flag, dir, anc);
    if (access(anc, W_OK | X_OK) != 0)
        return lw_fail("%s %s: cannot create it in %s: %s", flag, dir, anc, strerror(errno));
    return 0;
}
