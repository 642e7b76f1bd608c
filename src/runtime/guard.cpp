// Exception guard around llama.cpp calls that can throw through its C API.
//
// llama.cpp's tokenizer throws std::out_of_range when text needs a byte-fallback token the
// vocabulary lacks (tinystories656K has no token for some bytes). An exception crossing a C
// frame terminates the process, so this is the one C++ file: it turns the throw into an
// error return.
#include <exception>

#include "llama.h"

extern "C" int lw_guarded_tokenize(const struct llama_vocab *vocab, const char *text, int32_t len, int32_t *out,
                                   int32_t cap, bool add_special, bool parse_special, int32_t *result, char *why,
                                   int why_len) {
    try {
        *result = llama_tokenize(vocab, text, len, out, cap, add_special, parse_special);
        return 0;
    } catch (const std::exception &e) {
        if (why_len > 0) {
            int i = 0;
            for (const char *w = e.what(); *w && i < why_len - 1; w++) why[i++] = *w;
            why[i] = '\0';
        }
        return -1;
    } catch (...) {
        if (why_len > 0) why[0] = '\0';
        return -1;
    }
}
