/* latentwire generate --model M --prompt TEXT [--hook SITE:OP:POSITIONS:VECTORS[:SCALE]]... */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "latentwire/hookspec.h"
#include "latentwire/runtime.h"

static const char *USAGE =
    "usage: latentwire generate --model M.gguf --prompt TEXT [options]\n"
    "  --max-tokens N      new tokens at most (default 64); the prompt and N must fit the context\n"
    "  --temp T            sampling temperature; 0 = greedy (default 0)\n"
    "  --top-p P, --top-k K, --seed S   sampling filters and seed\n"
    "  --chat              wrap the prompt as a user turn in the model's own chat template\n"
    "                      (special tokens written in the prompt, e.g. <|im_start|>, are always parsed)\n"
    "  --no-bos            do not prepend BOS\n"
    "  --no-eos-stop       keep going past end-of-sequence tokens\n"
    "  --precision exact|fast   KV cache / attention precision (default exact)\n"
    "  --threads N         CPU threads (default: all cores)\n"
    "  --hook SITE:OP:POSITIONS:VECTORS[:SCALE]   (repeatable)\n"
    "      SITE       block index (its resid_post; negative counts from the end), `embed`, or a TransformerLens\n"
    "                 name: blocks.L.hook_{resid_post,attn_out,mlp_out,resid_mid,z}, hook_embed\n"
    "      OP         replace | add | mean\n"
    "      POSITIONS  all | last | comma-separated absolute positions (0 = BOS)\n"
    "      VECTORS    a .safetensors file (first tensor, or FILE#NAME; no ':' in the path) or a text file of\n"
    "                 whitespace-separated floats, one vector per line, as wide as the site (n_embd;\n"
    "                 n_head x head_dim for hook_z); 1 vector for all positions or one per listed position\n"
    "      SCALE      multiplier for add (default 1)\n";

/* Prints the prompt and the generated text as whole UTF-8 characters: a sampled sequence of
 * byte tokens may break a character off at the end or contain bytes that form none. */
static void print_whole_characters(const lw_model *m, const char *prompt, const int32_t *toks, int n) {
    char *text = lw_detokenize(m, toks, n, false);
    size_t len = text ? strlen(text) : 0, whole = lw_utf8_complete_prefix(text ? text : "", len);
    char *clean = malloc(3 * whole + 1);
    lw_utf8_sanitize(text ? text : "", whole, clean);
    printf("%s%s\n", prompt, clean);
    if (whole < len)
        fprintf(stderr, "latentwire generate: the generation ends inside a UTF-8 character; its %zu byte(s) are not "
                        "printed\n", len - whole);
    free(clean);
    free(text);
}

int cmd_generate(int argc, char **argv) {
    if (cli_options_once("generate", USAGE, &argc, argv)) return 2;
    const char *model = NULL, *prompt = NULL;
    const char *hooks[64];
    int n_hooks = 0;
    lw_generate_text_params p = lw_generate_text_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        double d;
        int k;
        if (cli_wants_help(argc, argv)) {
            cli_print_help("generate", USAGE);
            return 0;
        } else if (!strcmp(a, "--no-bos")) p.add_bos = false;
        else if (!strcmp(a, "--chat")) p.chat = true;
        else if (!strcmp(a, "--no-eos-stop")) p.gen.stop_at_eos = false;
        else if (!v) return cli_option_error("generate", USAGE, a, NULL);
        else if (!strcmp(a, "--model")) model = argv[++i];
        else if (!strcmp(a, "--prompt")) prompt = argv[++i];
        else if (!strcmp(a, "--hook")) {
            if (n_hooks == 64) return cli_fail("generate", "at most 64 hooks");
            hooks[n_hooks++] = argv[++i];
        } else if (!strcmp(a, "--max-tokens") && cli_parse_int(v, 0, 1 << 20, &n)) p.gen.max_tokens = (int)n, i++;
        else if (!strcmp(a, "--top-k") && cli_parse_int(v, 0, 1 << 30, &n)) p.gen.top_k = (int)n, i++;
        else if (!strcmp(a, "--seed") && cli_parse_int(v, 0, 4294967295L, &n)) p.gen.seed = (uint32_t)n, i++;
        else if (!strcmp(a, "--threads") && cli_parse_int(v, 1, CLI_MAX_THREADS, &n)) p.session.n_threads = (int)n, i++;
        else if (!strcmp(a, "--temp") && cli_parse_real(v, 0, false, INFINITY, false, &d))
            p.gen.temperature = (float)d, i++;
        else if (!strcmp(a, "--top-p") && cli_parse_real(v, 0, true, 1, false, &d)) p.gen.top_p = (float)d, i++;
        else if (!strcmp(a, "--precision") && cli_parse_choice(v, "exact|fast", &k))
            p.session.precision = k ? LW_PRECISION_FAST : LW_PRECISION_EXACT, i++;
        else return cli_option_error("generate", USAGE, a, v);
    }
    if (!model) return cli_usage_fail("generate", "--model is required");
    /* a sampling filter or seed at --temp 0 (greedy) would change nothing */
    const char *sampling[] = {"--top-k", "--top-p", "--seed"};
    for (int k = 0; k < 3; k++)
        if (p.gen.temperature == 0 && cli_given(argc, argv, sampling[k]))
            return cli_fail("generate", "%s applies to sampling: give --temp T > 0 with it (at --temp 0, the default, "
                                        "decoding is greedy and %s changes nothing)",
                            sampling[k], sampling[k]);
    if (!prompt) return cli_usage_fail("generate", "--prompt is required");
    if (!*prompt) return cli_fail("generate", "--prompt is empty");
    lw_model *m = lw_model_load(model, cli_model_params());
    if (!m) return cli_fail_lib("generate");
    p.hooks = hooks;
    p.n_hooks = n_hooks;
    lw_generate_text_result r;
    int rc = lw_generate_text(m, prompt, &p, &r);
    if (rc == 0) print_whole_characters(m, r.prompt, r.tokens, r.n_tokens);
    else cli_fail_lib("generate");
    lw_generate_text_result_free(&r);
    lw_model_free(m);
    return rc == 0 ? 0 : 1;
}
