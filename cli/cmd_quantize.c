/* latentwire quantize IN.gguf OUT.gguf --type T: a re-quantized copy of a model (lw_model_quantize),
 * e.g. the second version for the probe panel's quantization-drift pair. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "latentwire/runtime.h"

static const char *USAGE =
    "usage: latentwire quantize IN.gguf OUT.gguf --type f16|q8_0|q5_k_m|q4_k_m|q4_0 [--threads N]\n"
    "  writes a copy of IN quantized to the type (an already quantized model is requantized from its\n"
    "  quantized weights: the same model with quantization drift, not another version of its training);\n"
    "  prints how many tensors of each type the copy holds (llama.cpp gives tensors whose rows do not fit\n"
    "  the type's blocks another type); an input already of that type is refused\n";

int cmd_quantize(int argc, char **argv) {
    if (cli_options_once("quantize", USAGE, &argc, argv)) return 2;
    if (cli_wants_help(argc, argv)) {
        cli_print_help("quantize", USAGE);
        return 0;
    }
    const char *pos[2] = {NULL, NULL}, *type = NULL;
    long threads = 0;
    int k = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--type") && v &&
            (!strcmp(v, "f16") || !strcmp(v, "q8_0") || !strcmp(v, "q5_k_m") || !strcmp(v, "q4_k_m") ||
             !strcmp(v, "q4_0") || cli_reject(v, "must be one of f16, q8_0, q5_k_m, q4_k_m, q4_0")))
            type = v, i++;
        else if (!strcmp(a, "--threads") && v && cli_parse_int(v, 0, CLI_MAX_THREADS, &threads)) i++;
        else if ((a[0] == '-' && a[1] == '-') || k == 2) return cli_option_error("quantize", USAGE, a, v);
        else pos[k++] = a;
    }
    if (k < 2 || !type) /* one line, as for every bad input (the usage is --help's) */
        return cli_fail("quantize", "give IN.gguf, OUT.gguf and --type T (latentwire quantize --help)"), 2;
    lw_quantize_report r;
    if (lw_model_quantize(pos[0], pos[1], type, (int)threads, &r) != 0) return cli_fail_lib("quantize");
    /* what the file holds, not only what was asked: llama.cpp's fallbacks are said, never silent */
    printf("wrote %s (%s): %d tensors:", pos[1], type, r.n_tensors);
    for (int k = 0; k < r.n_types; k++) printf("%s %d %s", k ? "," : "", r.types[k].n, r.types[k].name);
    printf("\n");
    if (r.n_types > 0 && strcmp(r.types[0].name, "f32") != 0 && r.n_asked < r.types[0].n)
        fprintf(stderr, "latentwire quantize: note: most tensors are %s, not the %s asked for: llama.cpp falls back "
                        "where a tensor's rows do not fit %s's blocks\n", r.types[0].name, type, type);
    return 0;
}
