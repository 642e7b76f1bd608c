/* Temporary files removed on SIGINT / SIGTERM / SIGHUP (see cleanup.h). */
#include "common/cleanup.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "latentwire/files.h"

static const int k_signals[3] = {SIGINT, SIGTERM, SIGHUP};

/* Registered paths (malloc'd, complete before they are published): a handler on any thread
 * sees either NULL or a whole path. */
static char *_Atomic g_paths[LW_CLEANUP_SLOTS];
static struct sigaction g_old[3];
static atomic_int g_installed[3];
static volatile sig_atomic_t g_caught;
static int g_depth;

static void on_signal(int sig) {
    int saved = errno;
    for (int i = 0; i < LW_CLEANUP_SLOTS; i++) {
        const char *p = atomic_load(&g_paths[i]);
        if (p) unlink(p);
    }
    g_caught = sig;
    for (int k = 0; k < 3; k++)
        if (k_signals[k] == sig && atomic_exchange(&g_installed[k], 0)) sigaction(sig, &g_old[k], NULL);
    /* blocked while this handler runs; delivered with the previous disposition on return */
    raise(sig);
    errno = saved;
}

int lw_cleanup_begin(void) {
    if (g_depth++ > 0) return 0;
    g_caught = 0;
    for (int k = 0; k < 3; k++) {
        struct sigaction old, sa;
        if (sigaction(k_signals[k], NULL, &old) != 0 || old.sa_handler == SIG_IGN) continue; /* nohup &c. */
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigfillset(&sa.sa_mask); /* the other two wait until the temporaries are gone */
        g_old[k] = old;
        if (sigaction(k_signals[k], &sa, NULL) == 0) atomic_store(&g_installed[k], 1);
    }
    return 0;
}

void lw_cleanup_end(void) {
    if (g_depth == 0 || --g_depth > 0) return;
    for (int k = 0; k < 3; k++)
        if (atomic_exchange(&g_installed[k], 0)) sigaction(k_signals[k], &g_old[k], NULL);
}

int lw_cleanup_add(const char *path) {
    if (!path) return lw_fail("cleanup: no path");
    char *copy = strdup(path);
    if (!copy) return lw_fail("%s: out of memory", path);
    for (int i = 0; i < LW_CLEANUP_SLOTS; i++) {
        char *expected = NULL;
        if (atomic_compare_exchange_strong(&g_paths[i], &expected, copy)) return i;
    }
    free(copy);
    return lw_fail("%s: more than %d temporary files at once", path, LW_CLEANUP_SLOTS);
}

void lw_cleanup_forget(int slot) {
    if (slot >= 0 && slot < LW_CLEANUP_SLOTS) free(atomic_exchange(&g_paths[slot], NULL));
}

/* The slot whose path is path, or -1. */
static int find_path(const char *path) {
    for (int i = 0; path && i < LW_CLEANUP_SLOTS; i++) {
        const char *p = atomic_load(&g_paths[i]);
        if (p && !strcmp(p, path)) return i;
    }
    return -1;
}

void lw_cleanup_forget_path(const char *path) { lw_cleanup_forget(find_path(path)); }

int lw_cleanup_registered(const char *path) { return find_path(path) >= 0; }

int lw_cleanup_caught(void) { return (int)g_caught; }

void lw_signal_cleanup_begin(void) { lw_cleanup_begin(); }

void lw_signal_cleanup_end(void) { lw_cleanup_end(); }
