/* latentwire paraphrase generate | texts: paraphrases of MRPC targets by an instruct model
 * (lw_paraphrase_generate), kept as a fixed file the paraphrase-adjacent regime reads. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "latentwire/paraphrase.h"

#define GEN_USAGE                                                                                                  \
    "  latentwire paraphrase generate --model M.gguf --out FILE.jsonl [--provenance P.json] [options]\n"           \
    "      targets: the #1 sentences of MRPC pairs a person judged paraphrases (--mrpc FILE, default\n"           \
    "      DATA/mrpc/msr_paraphrase_train.txt with --data DIR), drawn by --seed; each gets samples of the\n"         \
    "      model's paraphrase (its chat template; --no-chat: the plain prompt) until --per-target pass the\n"       \
    "      filter or --samples are drawn; targets with at least --min-kept are written until --targets are\n"       \
    "      --targets N (100) --per-target K (10) --min-kept K (= --per-target) --samples N (40)\n"                 \
    "      --max-tokens N (80) --temp T (0.8) --top-p P (0.95) --top-k K (0: off) --seed S (1)\n"                   \
    "      --threads N --verbose (every sample and why it was kept or dropped, and each target, on stderr;\n"     \
    "      a terminal shows each target without it)\n"                                                           \
    "      --resume: keep the targets FILE.jsonl.partial holds from an interrupted run with the same settings\n"   \
    "      (each target is appended there as it finishes; without --resume a run starts over)\n"                 \
    "      lines: {\"row_id\", \"mrpc_id\", \"target\", \"paraphrases\", \"negatives\"}: a para:FILE:D regime file\n"
#define TEXTS_USAGE                                                                                                \
    "  latentwire paraphrase texts FILE.jsonl --out TEXTS.txt\n"                                                   \
    "      checks the file and writes its texts one per line in row-id order (targets, then paraphrases):\n"     \
    "      `extract --input TEXTS.txt` then gives every text its row id in the file\n"

static const char *USAGE = "usage:\n" GEN_USAGE TEXTS_USAGE;

static void on_event(const lw_paraphrase_event *e, void *user) {
    bool verbose = *(const bool *)user;
    if (e->kind == LW_PARA_EV_SAMPLE && verbose)
        fprintf(stderr, "paraphrase: MRPC %s sample %d: %s: %s\n", e->source_id, e->sample,
                lw_paraphrase_reason_name(e->reason), e->clean);
    else if (e->kind == LW_PARA_EV_TARGET && (verbose || cli_is_tty())) /* progress, as every verb's: a failed
                                                                          * run's stderr is its one error line */
        fprintf(stderr, "paraphrase: MRPC %s: %d kept of %d samples%s (%d/%d targets)\n", e->source_id, e->n_kept,
                e->n_samples, e->kept ? "" : ", left out", e->done, e->wanted);
}

static int paraphrase_generate(int argc, char **argv) {
    if (cli_options_once("paraphrase generate", GEN_USAGE, &argc, argv)) return 2;
    lw_paraphrase_params p = lw_paraphrase_default_params();
    const char *data = NULL;
    bool verbose = false, min_given = false;
    long n;
    double d;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-chat")) p.chat = false;
        else if (!strcmp(a, "--verbose")) verbose = true;
        else if (!strcmp(a, "--resume")) p.resume = true;
        else if (!v) return cli_option_error("paraphrase generate", GEN_USAGE, a, v);
        else if (!strcmp(a, "--model")) p.model = v, i++;
        else if (!strcmp(a, "--out")) p.out = v, i++;
        else if (!strcmp(a, "--provenance")) p.provenance = v, i++;
        else if (!strcmp(a, "--mrpc")) p.mrpc_file = v, i++;
        else if (!strcmp(a, "--data")) data = v, i++;
        else if (!strcmp(a, "--targets") && cli_parse_int(v, 1, 100000, &n)) p.n_targets = (int)n, i++;
        else if (!strcmp(a, "--per-target") && cli_parse_int(v, 1, 1000, &n)) p.per_target = (int)n, i++;
        else if (!strcmp(a, "--min-kept") && cli_parse_int(v, 0, 1000, &n)) p.min_kept = (int)n, min_given = true, i++;
        else if (!strcmp(a, "--samples") && cli_parse_int(v, 1, 100000, &n)) p.max_samples = (int)n, i++;
        else if (!strcmp(a, "--max-tokens") && cli_parse_int(v, 1, 4096, &n)) p.max_tokens = (int)n, i++;
        else if (!strcmp(a, "--top-k") && cli_parse_int(v, 0, 1 << 30, &n)) p.top_k = (int)n, i++;
        else if (!strcmp(a, "--seed") && cli_parse_int(v, 0, 4294967295L, &n)) p.seed = (uint64_t)n, i++;
        else if (!strcmp(a, "--threads") && cli_parse_int(v, 1, CLI_MAX_THREADS, &n)) p.n_threads = (int)n, i++;
        else if (!strcmp(a, "--temp") && cli_parse_real(v, 0, true, INFINITY, false, &d)) p.temperature = (float)d, i++;
        else if (!strcmp(a, "--top-p") && cli_parse_real(v, 0, true, 1, false, &d)) p.top_p = (float)d, i++;
        else return cli_option_error("paraphrase generate", GEN_USAGE, a, v);
    }
    if (!p.model) return cli_usage_fail("paraphrase generate", "--model is required");
    if (!p.out) return cli_usage_fail("paraphrase generate", "--out is required");
    if (!min_given) p.min_kept = p.per_target;
    if (p.min_kept > p.per_target)
        return cli_fail("paraphrase generate", "--min-kept %d: must be at most --per-target (%d)", p.min_kept, p.per_target);
    char path[4096];
    if (!p.mrpc_file) {
        if (!data) data = cli_default_data_dir();
        if (cli_check_data_dir("paraphrase generate", data) != 0) return 1;
        snprintf(path, sizeof path, "%s/mrpc/msr_paraphrase_train.txt", data);
        p.mrpc_file = path;
    }
    p.n_gpu_layers = cli_model_params().n_gpu_layers;
    p.on_event = on_event;
    p.user = &verbose;
    if (lw_paraphrase_generate(&p) != 0) return cli_fail_lib("paraphrase generate");
    if (p.min_kept < p.per_target)
        printf("wrote %s (%d targets x %d to %d paraphrases)%s%s\n", p.out, p.n_targets, p.min_kept, p.per_target,
               p.provenance ? " and " : "", p.provenance ? p.provenance : "");
    else
        printf("wrote %s (%d targets x %d paraphrases)%s%s\n", p.out, p.n_targets, p.per_target,
               p.provenance ? " and " : "", p.provenance ? p.provenance : "");
    return 0;
}

static int paraphrase_texts(int argc, char **argv) {
    if (cli_options_once("paraphrase texts", TEXTS_USAGE, &argc, argv)) return 2;
    const char *file = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--out") && v) out = v, i++;
        else if (a[0] == '-' || file) return cli_option_error("paraphrase texts", TEXTS_USAGE, a, v);
        else file = a;
    }
    if (!file || !out) return cli_usage_fail("paraphrase texts", "give the paraphrase file and --out TEXTS.txt");
    const char *inputs[] = {"FILE", file, NULL};
    if (cli_check_output("paraphrase texts", "--out", out, LW_OUT_FILE, inputs) != 0) return 1;
    lw_paraphrase_set s;
    if (lw_paraphrase_set_load(file, &s) != 0) return cli_fail_lib("paraphrase texts");
    int rc = lw_paraphrase_set_write_texts(&s, out);
    if (rc == 0)
        printf("wrote %s: %d targets (rows 0..%d), %d paraphrases (rows %d..%d)\n", out, s.n, s.n - 1, s.para_off[s.n],
               s.n, s.n + s.para_off[s.n] - 1);
    lw_paraphrase_set_free(&s);
    return rc == 0 ? 0 : cli_fail_lib("paraphrase texts");
}

int cmd_paraphrase(int argc, char **argv) {
    static const cli_subverb SUB[] = {{"generate", GEN_USAGE, paraphrase_generate}, {"texts", TEXTS_USAGE, paraphrase_texts}};
    return cli_dispatch("paraphrase", USAGE, SUB, (int)(sizeof SUB / sizeof SUB[0]), argc, argv);
}
