/* libFuzzer entry point for the safetensors reader: any byte string must either parse
 * into a consistent table or be rejected with an error, never crash or read out of
 * bounds. Build with clang -fsanitize=fuzzer,address,undefined. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "latentwire/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lw_st_file *f = lw_st_parse(data, size, "fuzz");
    if (!f) return 0;
    /* Touch everything the parser handed out so ASan sees any out-of-bounds pointer. */
    volatile uint8_t sink = 0;
    for (int i = 0; i < lw_st_count(f); i++) {
        const lw_st_tensor *t = lw_st_get(f, i);
        const uint8_t *p = t->data;
        for (size_t j = 0; j < t->n_bytes; j++) sink ^= p[j];
        if (lw_st_find(f, t->name) != t) __builtin_trap();
        if ((size_t)((const uint8_t *)t->data - data) + t->n_bytes > size) __builtin_trap();
    }
    for (int i = 0; i < lw_st_meta_count(f); i++) {
        const char *k = lw_st_meta_key(f, i);
        sink ^= (uint8_t)strlen(lw_st_meta(f, k));
    }
    (void)sink;
    lw_st_close(f);
    return 0;
}
