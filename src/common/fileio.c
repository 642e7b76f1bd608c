#include "common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/jsonio.h"
#include "latentwire/textio.h"

/* ---------------------------------------------------------------- atomic output ---- */

/* Six characters of a temp name. Not cryptographic: O_EXCL makes a collision merely a
 * retry, and the mix of pid, counter and clock keeps concurrent writers apart. */
static void tmp_suffix(char out[7]) {
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static _Thread_local uint64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 16) ^
                 (++counter * 0x9E3779B97F4A7C15ull) ^ (uint64_t)(uintptr_t)&counter;
    for (int i = 0; i < 6; i++) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 29;
        out[i] = alphabet[x % (sizeof alphabet - 1)];
    }
    out[6] = '\0';
}

static void atomic_clear(lw_atomic_file *af) {
    free(af->path);
    free(af->tmp_path);
    af->fp = NULL;
    af->path = NULL;
    af->tmp_path = NULL;
}

int lw_atomic_open(lw_atomic_file *af, const char *path) {
    if (!af) return lw_fail("lw_atomic_open: af is NULL");
    af->fp = NULL;
    af->path = af->tmp_path = NULL;
    if (!path || !*path) return lw_fail("no output path");
    struct stat st; /* known now, not at the rename after all the work */
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return lw_fail("%s is a directory: give a file name to write", path);
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) /* the rename would replace /dev/null with a file */
        return lw_fail("%s is %s: it is written as a temporary file renamed over the path, which would replace it; give a "
                       "regular file's path",
                       path, S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                                                        : "not a regular file");
    af->path = strdup(path);
    size_t n = strlen(path) + sizeof ".tmp.XXXXXX";
    af->tmp_path = malloc(n);
    if (!af->path || !af->tmp_path) {
        atomic_clear(af);
        return lw_fail("%s: out of memory", path);
    }
    /* open(O_EXCL) rather than mkstemp so the final file gets the usual umask-derived
     * permissions instead of mkstemp's 0600. */
    for (int attempt = 0; attempt < 100; attempt++) {
        char sfx[7];
        tmp_suffix(sfx);
        snprintf(af->tmp_path, n, "%s.tmp.%s", path, sfx);
        int fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno == EEXIST) continue;
        if (fd < 0) {
            int e = errno;
            atomic_clear(af);
            return lw_fail("%s: cannot create temp file: %s", path, strerror(e));
        }
        af->fp = fdopen(fd, "wb");
        if (!af->fp) {
            int e = errno;
            close(fd);
            unlink(af->tmp_path);
            atomic_clear(af);
            return lw_fail("%s: %s", path, strerror(e));
        }
        /* registered once it is ours (not before the O_EXCL open: the name could be another
         * process's), so a signal under lw_cleanup_begin (extract, the CLI) removes it; forgotten
         * when it is renamed or removed, after the fact (a signal in between unlinks a name
         * that is gone, which is harmless) */
        if (lw_cleanup_add(af->tmp_path) < 0) {
            fclose(af->fp);
            unlink(af->tmp_path);
            atomic_clear(af);
            return -1;
        }
        return 0;
    }
    atomic_clear(af);
    return lw_fail("%s: cannot find a free temp file name", path);
}

/* Makes the rename itself durable; failure here is not fatal (some filesystems refuse
 * fsync on directories), the data is already safe. */
static void fsync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

/* The open commit group of this thread (lw_atomic_group_begin): files written and synced under
 * their temporary names, renamed together at the end. */
static _Thread_local struct {
    bool open;
    int n, cap;
    char **tmp, **path;
    bool *keep; /* left in place, not removed, when the group does not commit (lw_atomic_group_add_kept) */
} g_group;

static void group_clear(bool unlink_temps) {
    for (int i = 0; i < g_group.n; i++) {
        if (unlink_temps && g_group.tmp[i] && !g_group.keep[i]) unlink(g_group.tmp[i]);
        /* a committed member's temp stayed registered until now (a kept one never was) */
        if (g_group.tmp[i] && !g_group.keep[i]) lw_cleanup_forget_path(g_group.tmp[i]);
        free(g_group.tmp[i]);
        free(g_group.path[i]);
    }
    free(g_group.tmp);
    free(g_group.path);
    free(g_group.keep);
    memset(&g_group, 0, sizeof g_group);
}

int lw_atomic_group_begin(void) {
    if (g_group.open) return lw_fail("lw_atomic_group_begin: a group of outputs is open already");
    g_group.open = true;
    return 0;
}

int lw_atomic_group_end(bool commit) {
    if (!g_group.open) return lw_fail("lw_atomic_group_end: no group of outputs is open");
    int rc = 0;
    for (int i = 0; commit && i < g_group.n; i++) {
        if (rename(g_group.tmp[i], g_group.path[i]) != 0) {
            rc = lw_fail("%s: rename failed: %s (the outputs after it in this run were not written)", g_group.path[i],
                         strerror(errno));
            break;
        }
        fsync_parent_dir(g_group.path[i]);
        if (!g_group.keep[i]) lw_cleanup_forget_path(g_group.tmp[i]);
        free(g_group.tmp[i]);
        g_group.tmp[i] = NULL; /* renamed: nothing to remove */
    }
    group_clear(true);
    return rc;
}

int lw_atomic_group_finish(int rc) {
    int end = lw_atomic_group_end(rc == 0);
    return rc != 0 ? rc : end;
}

/* Room for one more entry of the open group. 0 or -1 (out of memory). */
static int group_grow(void) {
    if (g_group.n < g_group.cap) return 0;
    int cap = g_group.cap ? 2 * g_group.cap : 8;
    char **t = realloc(g_group.tmp, sizeof *t * (size_t)cap);
    if (t) g_group.tmp = t;
    char **p = t ? realloc(g_group.path, sizeof *p * (size_t)cap) : NULL;
    if (p) g_group.path = p;
    bool *k = p ? realloc(g_group.keep, sizeof *k * (size_t)cap) : NULL;
    if (k) g_group.keep = k;
    if (!k) return lw_fail("out of memory");
    g_group.cap = cap;
    return 0;
}

/* Keeps a synced temp for the group's end. 0 or -1 (out of memory: the temp is removed). */
static int group_add(lw_atomic_file *af) {
    if (group_grow() != 0) {
        unlink(af->tmp_path);
        lw_cleanup_forget_path(af->tmp_path);
        atomic_clear(af);
        return -1;
    }
    g_group.tmp[g_group.n] = af->tmp_path;
    g_group.path[g_group.n] = af->path;
    g_group.keep[g_group.n] = false;
    g_group.n++;
    af->tmp_path = af->path = NULL; /* owned by the group now */
    af->fp = NULL;
    return 0;
}

int lw_atomic_group_add_kept(const char *from, const char *to) {
    if (!g_group.open) return lw_fail("lw_atomic_group_add_kept: no group of outputs is open");
    char *f = strdup(from), *t = strdup(to);
    if (!f || !t || group_grow() != 0) {
        free(f), free(t);
        return lw_fail("out of memory");
    }
    g_group.tmp[g_group.n] = f;
    g_group.path[g_group.n] = t;
    g_group.keep[g_group.n] = true;
    g_group.n++;
    return 0;
}

int lw_atomic_commit(lw_atomic_file *af) {
    if (!af) return lw_fail("lw_atomic_commit: af is NULL");
    if (!af->fp) return lw_fail("atomic file: commit without an open file");
    int err = 0;
    const char *what = NULL;
    if (fflush(af->fp) != 0) err = errno, what = "write";
    else if (fsync(fileno(af->fp)) != 0) err = errno, what = "fsync";
    if (fclose(af->fp) != 0 && !what) err = errno, what = "close";
    af->fp = NULL;
    if (!what && g_group.open) return group_add(af);
    if (!what && rename(af->tmp_path, af->path) != 0) err = errno, what = "rename";
    if (what) {
        unlink(af->tmp_path);
        lw_cleanup_forget_path(af->tmp_path);
        if (err == ENOENT && lw_cleanup_caught()) /* a handler that returns: the signal removed it */
            lw_fail("%s: interrupted by signal %d (its temporary file was removed)", af->path, lw_cleanup_caught());
        else lw_fail("%s: %s failed: %s", af->path, what, strerror(err));
        atomic_clear(af);
        return -1;
    }
    lw_cleanup_forget_path(af->tmp_path);
    fsync_parent_dir(af->path);
    atomic_clear(af);
    return 0;
}

void lw_atomic_abort(lw_atomic_file *af) {
    if (!af) return;
    if (af->fp) fclose(af->fp);
    if (af->tmp_path) unlink(af->tmp_path);
    lw_cleanup_forget_path(af->tmp_path);
    atomic_clear(af);
}

int lw_write_text_file(const char *path, const char *text) {
    if (!path || !text) return lw_fail("lw_write_text_file: %s is NULL", path ? "text" : "path");
    lw_atomic_file af;
    if (lw_atomic_open(&af, path) != 0) return -1;
    if (fputs(text, af.fp) == EOF) {
        int err = errno;
        lw_atomic_abort(&af);
        return lw_fail("%s: cannot write: %s", path, strerror(err));
    }
    return lw_atomic_commit(&af);
}

/* ----------------------------------------------------------------------- sha256 ---- */

static void to_hex(const unsigned char md[32], char out[65]) {
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

int lw_sha256_file(const char *path, char out[65]) {
    if (!path) return lw_fail("sha256: the path is NULL");
    if (!out) return lw_fail("sha256: out is NULL");
    /* a FIFO would block for a writer and /dev/zero never ends: regular files only */
    FILE *fp = lw_fopen_regular(path);
    if (!fp) return -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        fclose(fp);
        return lw_fail("%s: sha256: cannot initialise OpenSSL digest", path);
    }
    unsigned char buf[1 << 16];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0) {
        if (EVP_DigestUpdate(ctx, buf, n) != 1) {
            rc = lw_fail("%s: sha256: digest update failed", path);
            break;
        }
    }
    if (rc == 0 && ferror(fp)) rc = lw_fail("%s: read error", path);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (rc == 0 && (EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != 32))
        rc = lw_fail("%s: sha256: digest finalisation failed", path);
    EVP_MD_CTX_free(ctx);
    fclose(fp);
    if (rc != 0) return rc;
    to_hex(md, out);
    return 0;
}

int lw_sha256_buf(const void *data, size_t len, char out[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!data && len) return lw_fail("sha256: the data is NULL");
    if (!out) return lw_fail("sha256: out is NULL");
    if (EVP_Digest(data ? data : "", len, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
        return lw_fail("sha256: OpenSSL digest failed");
    to_hex(md, out);
    return 0;
}

/* -------------------------------------------------------------------- read file ---- */

char *lw_read_file(const char *path, size_t *len) {
    FILE *fp = lw_fopen_regular(path);
    if (!fp) return NULL;
    /* Grow as we go rather than trusting st_size (the file may change while it is read). */
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap) break;
        char *nb = cap > SIZE_MAX / 2 - 1 ? NULL : realloc(buf, cap * 2 + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (!buf) {
        fclose(fp);
        lw_fail("%s: out of memory", path);
        return NULL;
    }
    if (ferror(fp)) {
        fclose(fp);
        free(buf);
        lw_fail("%s: read error", path);
        return NULL;
    }
    fclose(fp);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* ---------------------------------------------------------------------- mkdir -p ---- */

/* 0: dir already existed, 1: created now, -1: error (set). */
static int mkdir_one(const char *dir, const char *full) {
    if (mkdir(dir, 0777) == 0) return 1;
    int e = errno;
    struct stat st;
    if (e == EEXIST && stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return 0;
        return lw_fail("%s: cannot create directory: %s exists and is not a directory", full, dir);
    }
    return lw_fail("%s: cannot create directory %s: %s", full, dir, strerror(e));
}

int lw_mkdir_p_created(const char *path, char **created) {
    char *ignored = NULL; /* created NULL: the caller does not want it */
    if (!created) created = &ignored;
    *created = NULL;
    if (!path || !*path) return lw_fail("mkdir: empty path");
    char *p = strdup(path);
    if (!p) return lw_fail("%s: out of memory", path);
    int rc = 0;
    /* Create each prefix ending before a '/', skipping the root and repeated slashes. */
    for (char *s = p + 1; rc >= 0; s++) {
        if (*s && (*s != '/' || s[-1] == '/')) continue;
        char c = *s;
        *s = '\0';
        rc = mkdir_one(p, path);
        if (rc == 1 && !*created && !(*created = strdup(p))) rc = lw_fail("%s: out of memory", path);
        *s = c;
        if (!c) break;
    }
    free(p);
    free(ignored);
    return rc < 0 ? -1 : 0;
}

int lw_mkdir_p(const char *path) {
    char *created;
    int rc = lw_mkdir_p_created(path, &created);
    free(created);
    return rc;
}

void lw_rmdir_created(const char *path, const char *created) {
    if (!path || !created) return;
    char *p = strdup(path);
    size_t top = strlen(created);
    /* path, then each parent down to `created`; rmdir removes only empty directories */
    while (p && strlen(p) >= top) {
        rmdir(p);
        char *slash = strrchr(p, '/');
        if (!slash || slash == p) break;
        while (slash > p && slash[-1] == '/') slash--;
        *slash = '\0';
    }
    free(p);
}

/* ------------------------------------------------------------------------ corpus ---- */

static bool is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n' && s[i] != '\f' && s[i] != '\v')
            return false;
    return true;
}

static bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int corpus_push(lw_corpus *c, int64_t *cap, char *text, int64_t line_no, const char *path) {
    if (c->n == *cap) {
        int64_t nc = *cap ? *cap * 2 : 64;
        char **t = realloc(c->texts, (size_t)nc * sizeof *t);
        if (t) c->texts = t;
        int64_t *l = t ? realloc(c->line_no, (size_t)nc * sizeof *l) : NULL;
        if (l) c->line_no = l;
        if (!t || !l) {
            free(text);
            return lw_fail("%s: out of memory", path);
        }
        *cap = nc;
    }
    c->texts[c->n] = text;
    c->line_no[c->n] = line_no;
    c->n++;
    return 0;
}

/* The text of one JSONL line's `field`, malloc'd; NULL with the error set. */
static char *jsonl_field(const char *line, size_t len, const char *field, const char *path,
                         int64_t line_no) {
    json_error_t jerr;
    json_t *obj = json_loadb(line, len, 0, &jerr);
    if (!obj) {
        lw_fail("%s:%lld: invalid JSON: %s", path, (long long)line_no, lw_json_error_text(&jerr));
        return NULL;
    }
    char *out = NULL;
    json_t *v = json_is_object(obj) ? json_object_get(obj, field) : NULL;
    if (!json_is_object(obj))
        lw_fail("%s:%lld: not a JSON object", path, (long long)line_no);
    else if (!json_is_string(v))
        lw_fail("%s:%lld: no string field \"%s\"", path, (long long)line_no, field);
    else if (strlen(json_string_value(v)) != json_string_length(v))
        lw_fail("%s:%lld: field \"%s\" contains a NUL character", path, (long long)line_no, field);
    else if (!(out = strdup(json_string_value(v))))
        lw_fail("%s: out of memory", path);
    json_decref(obj);
    return out;
}

typedef struct {
    lw_corpus *c;
    const char *path, *field;
    bool jsonl;
    int64_t cap;
} corpus_reader;

static int corpus_line(void *ud, char *s, size_t len, int64_t line_no) {
    corpus_reader *r = ud;
    while (len > 0 && s[len - 1] == '\r') len--; /* a passage file may end its lines in any run of CRs */
    if (is_blank(s, len)) return 0;
    char *text;
    if (r->jsonl) {
        text = jsonl_field(s, len, r->field, r->path, line_no);
    } else {
        if (memchr(s, '\0', len)) return lw_fail("%s:%lld: line contains a NUL byte", r->path, (long long)line_no);
        text = strndup(s, len);
        if (!text) lw_fail("%s: out of memory", r->path);
    }
    return text ? corpus_push(r->c, &r->cap, text, line_no, r->path) : -1;
}

int lw_corpus_load(lw_corpus *c, const char *path, const char *field) {
    if (!c) return lw_fail("lw_corpus_load: the corpus is NULL");
    memset(c, 0, sizeof *c);
    if (!path || !*path) return lw_fail("lw_corpus_load: no path");
    corpus_reader r = {.c = c, .path = path, .field = field ? field : "text",
                       .jsonl = has_suffix(path, ".jsonl") || has_suffix(path, ".json")};
    int rc = lw_each_line(path, corpus_line, &r, NULL);
    if (rc != 0) lw_corpus_free(c);
    return rc;
}

void lw_corpus_free(lw_corpus *c) {
    if (!c) return;
    for (int64_t i = 0; i < c->n; i++) free(c->texts[i]);
    free(c->texts);
    free(c->line_no);
    memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------- regular files ---- */

static const char *file_kind(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

static int refuse_kind(const char *path, mode_t mode) {
    return lw_fail("%s: is %s, not a regular file; give a file (inputs are read to the end, which a pipe or "
                   "device may never reach)",
                   path, file_kind(mode));
}

int lw_check_regular_file(const char *path) {
    struct stat st;
    if (!path || !*path) return lw_fail("empty file name");
    if (stat(path, &st) != 0) return lw_fail("%s: %s", path, strerror(errno));
    return S_ISREG(st.st_mode) ? 0 : refuse_kind(path, st.st_mode);
}

int lw_open_regular(const char *path) {
    if (lw_check_regular_file(path) != 0) return -1;
    /* O_NONBLOCK: should the path have become a FIFO since the stat, the open returns at
     * once instead of waiting for a writer; fstat then refuses it. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return lw_fail("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        if (fstat(fd, &st) == 0) refuse_kind(path, st.st_mode);
        else lw_fail("%s: %s", path, strerror(e));
        close(fd);
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return fd;
}

FILE *lw_fopen_regular(const char *path) {
    int fd = lw_open_regular(path);
    if (fd < 0) return NULL;
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        lw_fail("%s: %s", path, strerror(errno));
        close(fd);
    }
    return fp;
}

/* ------------------------------------------------------------- bounded lines ---- */

ssize_t lw_getline_max(char **line, size_t *cap, FILE *fp, size_t max) {
    size_t n = 0;
    int c;
    flockfile(fp);
    while ((c = getc_unlocked(fp)) != EOF) {
        if (n + 2 > *cap) { /* room for c and the NUL */
            size_t nc = *cap ? *cap * 2 : 256;
            if (nc > max + 2) nc = max + 2;
            char *b = n + 2 > nc ? NULL : realloc(*line, nc);
            if (!b) {
                funlockfile(fp);
                return n + 2 > nc ? LW_LINE_TOO_LONG : LW_LINE_NO_MEMORY;
            }
            *line = b;
            *cap = nc;
        }
        (*line)[n++] = (char)c;
        if (c == '\n') break;
        if (n > max) {
            funlockfile(fp);
            return LW_LINE_TOO_LONG;
        }
    }
    funlockfile(fp);
    if (n == 0) return -1;
    (*line)[n] = '\0';
    return (ssize_t)n;
}

int lw_each_line(const char *path, lw_line_fn fn, void *ud, int64_t *n_lines) {
    if (n_lines) *n_lines = -1;
    FILE *fp = lw_fopen_regular(path);
    if (!fp) return -1;
    char *line = NULL;
    size_t cap = 0;
    int64_t line_no = 0;
    ssize_t got;
    int rc = 0;
    while (rc == 0 && (got = lw_getline_max(&line, &cap, fp, LW_MAX_LINE_BYTES)) >= 0) {
        line_no++;
        char *s = line;
        size_t len = (size_t)got;
        if (line_no == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3, len -= 3;
        if (len > 0 && s[len - 1] == '\n') len--;
        if (len > 0 && s[len - 1] == '\r') len--;
        s[len] = '\0';
        rc = fn(ud, s, len, line_no);
    }
    if (rc > 0) rc = 0, got = 0; /* stopped early: what is unread is not looked at */
    if (rc == 0 && got == LW_LINE_TOO_LONG) rc = lw_line_too_long(path, line_no + 1);
    if (rc == 0 && got == LW_LINE_NO_MEMORY) rc = lw_fail("%s:%lld: out of memory", path, (long long)line_no + 1);
    if (rc == 0 && ferror(fp)) rc = lw_fail("%s: read error", path);
    free(line);
    fclose(fp);
    if (n_lines) *n_lines = line_no;
    return rc < 0 ? -1 : 0;
}

int lw_first_repeated_file(const char *const *paths, int n, int *earlier, int *later) {
    struct stat *st = calloc((size_t)(n > 0 ? n : 1), sizeof *st);
    bool *ok = calloc((size_t)(n > 0 ? n : 1), sizeof *ok);
    int found = st && ok ? 0 : lw_fail("out of memory");
    for (int i = 0; found == 0 && i < n; i++) {
        ok[i] = stat(paths[i], &st[i]) == 0;
        for (int j = 0; ok[i] && j < i && found == 0; j++)
            if (ok[j] && st[j].st_dev == st[i].st_dev && st[j].st_ino == st[i].st_ino) *earlier = j, *later = i, found = 1;
    }
    free(st);
    free(ok);
    return found;
}

char *lw_next_line(char **cursor) {
    char *line = *cursor;
    if (!line || !*line) return NULL;
    char *nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    *cursor = nl ? nl + 1 : line + strlen(line);
    return line;
}

int lw_line_too_long(const char *path, long long line_no) {
    return lw_fail("%s:%lld: line is longer than %zu bytes (LW_MAX_LINE_BYTES); is this a text file? split it "
                   "into shorter lines",
                   path, line_no, LW_MAX_LINE_BYTES);
}

/* ------------------------------------------------------------ streaming sha256 ---- */

struct lw_sha256 {
    EVP_MD_CTX *ctx;
};

lw_sha256 *lw_sha256_begin(void) {
    lw_sha256 *h = calloc(1, sizeof *h);
    if (h && (h->ctx = EVP_MD_CTX_new()) && EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) == 1) return h;
    if (h) EVP_MD_CTX_free(h->ctx);
    free(h);
    lw_fail("sha256: cannot initialise OpenSSL digest");
    return NULL;
}

int lw_sha256_update(lw_sha256 *h, const void *data, size_t len) {
    if (len == 0) return 0;
    return EVP_DigestUpdate(h->ctx, data, len) == 1 ? 0 : lw_fail("sha256: digest update failed");
}

int lw_sha256_end(lw_sha256 *h, char out[65]) {
    if (!h) return lw_fail("sha256: no digest");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int rc = EVP_DigestFinal_ex(h->ctx, md, &md_len) == 1 && md_len == 32 ? 0 : lw_fail("sha256: digest failed");
    if (rc == 0) to_hex(md, out);
    EVP_MD_CTX_free(h->ctx);
    free(h);
    return rc;
}

void lw_sha256_free(lw_sha256 *h) {
    if (!h) return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

char *lw_read_text_file(const char *path, size_t *len, const char *what) {
    size_t n = 0; /* len may be NULL, as lw_read_file allows */
    char *text = lw_read_file(path, &n);
    if (len) *len = n;
    const char *nul = text ? memchr(text, '\0', n) : NULL;
    if (!nul) return text;
    long long line = 1;
    for (const char *q = text; q < nul; q++) line += *q == '\n';
    lw_fail("%s: line %lld contains a NUL byte (not a %s)", path, line, what);
    free(text);
    return NULL;
}
