/* A string -> int32 map (open addressing, FNV-1a). Keys are borrowed: the caller keeps them
 * alive and unchanged while they are in the map. */
#ifndef LW_COMMON_STRMAP_H
#define LW_COMMON_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char **keys;
    int32_t *vals;
    size_t cap, n;
} lw_strmap;

/* The value of key, or -1 when absent. */
int32_t lw_strmap_get(const lw_strmap *m, const char *key);

/* Inserts key -> val. -1 on out of memory, else the value of a key already present (>= 0,
 * nothing inserted) or -2 when the key is new. */
int32_t lw_strmap_put(lw_strmap *m, const char *key, int32_t val);

void lw_strmap_free(lw_strmap *m);

#endif
