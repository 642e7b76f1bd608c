/* latentwire <verb> ...: dispatch to the verbs. */
#include <stdio.h>
#include <stdlib.h>
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
    {"scan", cmd_scan, "--sender A [--receiver B] --task T --out DIR   layer scan of patched skill transfer"},
    {"debate", cmd_debate, "--agents A,B,... --task T   multi-agent debate with majority vote"},
    {"panel", cmd_panel, "patching|probes ...   patching panel with controls; probe panel on a bridged pair"},
    {"verdict", cmd_verdict, "PLAN RECORDS...              pre-registered hypotheses decided: PASS / FAIL / INCONCLUSIVE"},
    {"report", cmd_report, "RESULTS... -o REPORT.html      one self-contained HTML page: figures and tables with CIs"},
    {"codec", cmd_codec, "fit|encode|decode|info ...  activation / text codecs at a bit budget"},
    {"race", cmd_race, "--sender A --task T --out DIR   activation vs text channels at bit budgets (merge, retrieval)"},
    {"quantize", cmd_quantize, "IN.gguf OUT.gguf --type T   a re-quantized copy (quantization drift)"},
    {"paraphrase", cmd_paraphrase, "generate|texts ...   paraphrases by an instruct model, a fixed file of hard negatives"},
    {"generate", cmd_generate, "--model M --prompt TEXT [--hook ...]   text generation with hooks"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: latentwire <verb> [options]\n\nverbs:\n");
    for (size_t i = 0; i < sizeof VERBS / sizeof VERBS[0]; i++)
        fprintf(f, "  %-9s %s\n", VERBS[i].name, VERBS[i].help);
    fprintf(f, "\n`latentwire <verb> --help` describes each verb. Every verb that loads a model also takes\n"
               "--gpu-layers N: layers offloaded to the GPU when llama.cpp was built with CUDA (make cuda;\n"
               "default 0, all on the CPU); every verb that runs one takes --threads N (default: all cores).\n"
               "Named tasks and align read $LW_SHARED_DIR/data when LW_SHARED_DIR is set (else ../shared/data).\n"
               "info, inspect, tokenize, bridge info and codec info take --json (one JSON document on stdout).\n");
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
        if (!strcmp(argv[1], VERBS[i].name)) {
            /* Ctrl-C or a SIGTERM mid-write removes the output's temporary (out.json.tmp.XXXXXX)
             * before the process ends by the signal as it always did */
            lw_signal_cleanup_begin();
            int rc = VERBS[i].fn(argc - 1, argv + 1);
            lw_signal_cleanup_end();
            return rc;
        }
    fprintf(stderr, "latentwire: unknown verb \"%s\" (try `latentwire --help`)\n", argv[1]);
    return 2;
}
