/* Internal: temporary files removed when SIGINT, SIGTERM or SIGHUP arrives.
 *
 * Between lw_cleanup_begin and lw_cleanup_end, handlers for those signals (the ones not
 * ignored) are installed; a signal unlinks every registered path (unlink is
 * async-signal-safe; the paths are copied when registered, so the handler allocates nothing),
 * restores the previous disposition and raises the signal again: with the default
 * disposition the process ends with it, leaving no temporary behind; with a handler that
 * returns (an embedding interpreter's), lw_cleanup_caught() says which signal came so the
 * caller can stop. One user at a time per process (nested begin/end are counted). */
#ifndef LW_COMMON_CLEANUP_H
#define LW_COMMON_CLEANUP_H

/* at most this many at once: an extraction registers one per output tensor (sites, two per
 * logit lens, four index tensors) plus the writer's */
#define LW_CLEANUP_SLOTS 4096

/* Installs the handlers. 0 (always succeeds; a signal whose handler cannot be installed
 * just keeps its disposition). */
int lw_cleanup_begin(void);
/* Restores the dispositions that were there before lw_cleanup_begin. */
void lw_cleanup_end(void);
/* Registers (a copy of) a path to unlink on a signal: its slot, or -1 (error set: no free
 * slot, out of memory). Without lw_cleanup_begin it is still kept. */
int lw_cleanup_add(const char *path);
/* Forgets slot and frees its copy (the caller removes the file itself on the normal path);
 * slot < 0 is ignored. */
void lw_cleanup_forget(int slot);
/* Forgets the slot holding (a copy of) path, if one does: for owners that keep the path, not the
 * slot (an lw_atomic_file, whose public struct has no room for one). The temporaries are distinct
 * names (a random suffix opened O_EXCL), so the first match is the one. */
void lw_cleanup_forget_path(const char *path);
/* Whether (a copy of) path is registered now: for tests of the owners' bookkeeping. */
int lw_cleanup_registered(const char *path);
/* The signal that arrived since lw_cleanup_begin, or 0. */
int lw_cleanup_caught(void);

#endif
