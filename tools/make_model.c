/* lw-make-model: writes a synthetic llama-architecture GGUF model (random weights, SPM
 * tokenizer) for tests, benchmarks and demos. See tests/support/synth_model.h.
 *
 *   lw-make-model OUT.gguf [--vocab N --embd N --layers N --heads N --kv-heads N --ff N
 *                           --ctx N --type f32|f16|q8_0 --seed N --untied]
 *
 * Example, a ~1B-parameter model: lw-make-model big.gguf --vocab 32000 --embd 2048
 *   --layers 16 --heads 32 --kv-heads 4 --ff 5632 --ctx 2048 --type q8_0 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support/synth_model.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: lw-make-model OUT.gguf [--vocab N] [--embd N] [--layers N] [--heads N]\n"
            "                     [--kv-heads N] [--ff N] [--ctx N] [--type f32|f16|q8_0]\n"
            "                     [--seed N] [--untied]\n");
}

/* Parses a whole decimal number in [lo, hi]; returns 0 or -1 (with a message). */
static int parse_int(const char *flag, const char *text, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        fprintf(stderr, "lw-make-model: %s expects an integer in [%lld, %lld], got '%s'\n", flag, lo, hi, text);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc < 2 || argv[1][0] == '-') {
        usage(stderr);
        return 2;
    }
    const char *out_path = argv[1];
    lw_synth_params p = lw_synth_default_params();

    for (int i = 2; i < argc; i++) {
        const char *flag = argv[i];
        if (strcmp(flag, "--untied") == 0) {
            p.tied = false;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "lw-make-model: %s needs a value\n", flag);
            usage(stderr);
            return 2;
        }
        const char *val = argv[++i];
        long long v = 0;
        int rc = 0;
        if (strcmp(flag, "--type") == 0) {
            if (strcmp(val, "f32") == 0) {
                p.wtype = GGML_TYPE_F32;
            } else if (strcmp(val, "f16") == 0) {
                p.wtype = GGML_TYPE_F16;
            } else if (strcmp(val, "q8_0") == 0) {
                p.wtype = GGML_TYPE_Q8_0;
            } else {
                fprintf(stderr, "lw-make-model: --type must be f32, f16 or q8_0, got '%s'\n", val);
                return 2;
            }
        } else if (strcmp(flag, "--seed") == 0) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(val, &end, 10);
            if (errno || end == val || *end || val[0] == '-') {
                fprintf(stderr, "lw-make-model: --seed expects a non-negative integer, got '%s'\n", val);
                return 2;
            }
            p.seed = s;
        } else if (strcmp(flag, "--vocab") == 0) {
            if (!(rc = parse_int(flag, val, LW_SYNTH_MIN_VOCAB, 1 << 24, &v))) p.n_vocab = (int)v;
        } else if (strcmp(flag, "--embd") == 0) {
            if (!(rc = parse_int(flag, val, 2, 1 << 16, &v))) p.n_embd = (int)v;
        } else if (strcmp(flag, "--layers") == 0) {
            if (!(rc = parse_int(flag, val, 1, 1024, &v))) p.n_layer = (int)v;
        } else if (strcmp(flag, "--heads") == 0) {
            if (!(rc = parse_int(flag, val, 1, 1024, &v))) p.n_head = (int)v;
        } else if (strcmp(flag, "--kv-heads") == 0) {
            if (!(rc = parse_int(flag, val, 1, 1024, &v))) p.n_head_kv = (int)v;
        } else if (strcmp(flag, "--ff") == 0) {
            if (!(rc = parse_int(flag, val, 1, 1 << 20, &v))) p.n_ff = (int)v;
        } else if (strcmp(flag, "--ctx") == 0) {
            if (!(rc = parse_int(flag, val, 1, 1 << 24, &v))) p.n_ctx = (int)v;
        } else {
            fprintf(stderr, "lw-make-model: unknown option %s\n", flag);
            usage(stderr);
            return 2;
        }
        if (rc) return 2;
    }

    if (lw_synth_write(out_path, &p) != 0) {
        fprintf(stderr, "lw-make-model: failed to write %s\n", out_path);
        return 1;
    }
    struct stat st;
    double mib = stat(out_path, &st) == 0 ? (double)st.st_size / (1024.0 * 1024.0) : 0.0;
    printf("%s: llama, %.3fM params, vocab %d, embd %d, layers %d, heads %d/%d, ff %d, ctx %d, %s, %s, "
           "seed %llu, %.1f MiB\n",
           out_path, (double)lw_synth_n_params(&p) / 1e6, p.n_vocab, p.n_embd, p.n_layer, p.n_head,
           p.n_head_kv, p.n_ff, p.n_ctx, ggml_type_name(p.wtype), p.tied ? "tied" : "untied",
           (unsigned long long)p.seed, mib);
    return 0;
}
