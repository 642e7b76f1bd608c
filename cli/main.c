/* latentwire <verb> ...: dispatch to the verbs. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} VERBS[] = {
    {"info", cmd_info, "MODEL                      model facts (architecture, sizes, tokenizer)"},
    {"tokenize", cmd_tokenize, "MODEL TEXT [--no-bos]      token ids and pieces"},
    {"extract", cmd_extract, "--model M --layers L --input F --out O.safetensors   residual-stream activations"},
    {"inspect", cmd_inspect, "FILE.safetensors           tensors, metadata, row-norm statistics"},
    {"bridge", cmd_bridge, "fit|apply|info ...         linear maps between two models' activation spaces"},
    {"retrieval", cmd_retrieval, "--queries ... | --beir DIR   retrieval metrics with bootstrap CIs"},
    {"align", cmd_align, "--source A --target B     bridge A's activations to B's, score retrieval"},
    {"channel", cmd_channel, "--sender A --receiver B --task T   text / CIPHER / activation channels"},
    {"debate", cmd_debate, "--agents A,B,... --task T   multi-agent debate with majority vote"},
    {"generate", cmd_generate, "--model M --prompt TEXT [--hook ...]   text generation with hooks"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: latentwire <verb> [options]\n\nverbs:\n");
    for (size_t i = 0; i < sizeof VERBS / sizeof VERBS[0]; i++)
        fprintf(f, "  %-9s %s\n", VERBS[i].name, VERBS[i].help);
    fprintf(f, "\n`latentwire <verb> --help` describes each verb.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof VERBS / sizeof VERBS[0]; i++)
        if (!strcmp(argv[1], VERBS[i].name)) return VERBS[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "latentwire: unknown verb \"%s\" (try `latentwire --help`)\n", argv[1]);
    return 2;
}
