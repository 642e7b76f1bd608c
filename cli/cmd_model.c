/* latentwire info MODEL; latentwire tokenize MODEL TEXT [--no-bos] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "latentwire/runtime.h"

int cmd_info(int argc, char **argv) {
    if (argc != 2 || !strcmp(argv[1], "--help")) {
        fprintf(argc == 2 ? stdout : stderr, "usage: latentwire info MODEL.gguf\n");
        return argc == 2 ? 0 : 2;
    }
    lw_model *m = lw_model_load(argv[1], cli_model_params());
    if (!m) return cli_fail_lib("info");
    lw_model_info in;
    lw_model_get_info(m, &in);
    const char *sha = lw_model_sha256(m);
    printf("file          %s\n", in.path);
    printf("sha256        %s\n", sha ? sha : "?");
    printf("name          %s\n", in.name);
    printf("architecture  %s%s\n", in.arch, in.recurrent ? " (recurrent)" : "");
    printf("parameters    %llu\n", (unsigned long long)in.n_params);
    printf("layers        %d\n", in.n_layer);
    printf("width         %d\n", in.n_embd);
    printf("heads         %d (kv %d)\n", in.n_head, in.n_head_kv);
    printf("vocabulary    %d (tokenizer %s, bos %d, eos %d, adds bos: %s)\n", in.n_vocab, in.tokenizer, in.bos,
           in.eos, in.add_bos ? "yes" : "no");
    printf("context       %d\n", in.n_ctx_train);
    printf("embeddings    %s\n", in.tied_embeddings ? "tied (output = token embeddings)" : "separate output matrix");
    lw_model_free(m);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    bool bos = true;
    const char *model = NULL, *text = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-bos")) bos = false;
        else if (!strcmp(argv[i], "--help")) {
            printf("usage: latentwire tokenize MODEL.gguf TEXT [--no-bos]\n");
            return 0;
        } else if (!model) model = argv[i];
        else if (!text) text = argv[i];
        else return cli_fail("tokenize", "unexpected argument \"%s\"", argv[i]);
    }
    if (!model || !text) return cli_fail("tokenize", "usage: latentwire tokenize MODEL.gguf TEXT [--no-bos]");
    if (!*text) return cli_fail("tokenize", "TEXT is empty");
    lw_model *m = lw_model_load(model, cli_model_params());
    if (!m) return cli_fail_lib("tokenize");
    int32_t *toks;
    int32_t n = lw_tokenize_alloc(m, text, bos, &toks);
    if (n < 0) {
        lw_model_free(m);
        return cli_fail_lib("tokenize");
    }
    for (int32_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", toks[i]);
    printf("\n");
    for (int32_t i = 0; i < n; i++) {
        char *piece = lw_detokenize(m, &toks[i], 1, true);
        printf("%6d  %s\n", toks[i], piece ? piece : "?");
        free(piece);
    }
    free(toks);
    lw_model_free(m);
    return 0;
}
