/* latentwire race retrieval: the codec retrieval test on one model (lw_codec_retrieval_experiment_run). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "latentwire/error.h"
#include "latentwire/race_experiment.h"

static const char *USAGE =
    "usage: latentwire race retrieval --model M.gguf --passages FILE --out DIR [options]\n"
    "  Each codec at each budget encodes each scored passage (activation codecs: its mean-pooled activation at the\n"
    "  layer; text codecs: its text, whose decoded text is run through the same model); the decoded item must\n"
    "  retrieve its own passage among the originals by cosine. Top-1 with its exact 95% CI; PASS when the lower\n"
    "  bound >= the threshold (pre-registered, recorded). Codecs are fitted on calibration passages disjoint from\n"
    "  the scored ones.\n"
    "  --passages FILE      .txt (one passage per non-blank line) or .jsonl (--field, default text), e.g.\n"
    "                       $LW_SHARED_DIR/data/ptb/ptb.test.txt; distinct passages are drawn with --seed\n"
    "  --n N                scored passages, at least 2 (default 1000)   --calib N  calibration passages (default 200)\n"
    "  --layer L            block (negative from the end) or mid (default mid)\n"
    "  --codecs LIST        default topk,pcaq,token-sparse,sae,pq,zlib,brotli,brotli-dict,zstd,zstd-dict,truncate,lm-arith\n"
    "  --budgets LIST       bits (default 16,32,64,128,256,512,1024,2048,4096,8192)\n"
    "  --threshold P        pass threshold on the lower bound, in (0, 1] (default 0.85)\n"
    "  --field F  --seed N (1)  --threads N\n"
    "  --memo-mib N         keep at most N MiB of decoded texts' activations for reuse (default 1024; less\n"
    "                       memory, more time)\n"
    "  --resume             keep the rows (codec, budget) DIR/retrieval.partial already holds from a run with the\n"
    "                       same settings; without it a run starts over\n"
    "  Outputs: DIR/retrieval.json (every row with its CI and n), DIR/retrieval.csv; DIR/retrieval.partial gets\n"
    "  each row as it finishes.\n";

typedef struct {
    const char *model, *passages, *out, *codecs, *budgets, *field, *layer;
    int n, calib, threads;
    long memo_mib;
    bool resume;
    double threshold;
    uint64_t seed;
} opts;

static int parse_opts(int argc, char **argv, opts *o) {
    if (cli_options_once("race retrieval", USAGE, &argc, argv)) return 2;
    *o = (opts){.codecs = "topk,pcaq,token-sparse,sae,pq,zlib,brotli,brotli-dict,zstd,zstd-dict,truncate,lm-arith",
                .budgets = "16,32,64,128,256,512,1024,2048,4096,8192", .field = "text", .layer = "mid", .n = 1000,
                .calib = 200, .threshold = 0.85, .seed = 1, .memo_mib = 1024};
    if (cli_wants_help(argc, argv)) return cli_print_help("race retrieval", USAGE), 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        double f;
        if (!strcmp(a, "--resume")) {
            o->resume = true;
            continue;
        }
        if (!v) return cli_option_error("race retrieval", USAGE, a, NULL);
        else if (!strcmp(a, "--model")) o->model = argv[++i];
        else if (!strcmp(a, "--passages")) o->passages = argv[++i];
        else if (!strcmp(a, "--out")) o->out = argv[++i];
        else if (!strcmp(a, "--codecs")) o->codecs = argv[++i];
        else if (!strcmp(a, "--budgets")) o->budgets = argv[++i];
        else if (!strcmp(a, "--field")) o->field = argv[++i];
        else if (!strcmp(a, "--layer")) o->layer = argv[++i];
        /* 2 at least: a bank of one passage is retrieved whatever the decoding (top-1 = 1) */
        else if (!strcmp(a, "--n") && cli_parse_int(v, 2, 1000000, &n)) o->n = (int)n, i++;
        else if (!strcmp(a, "--calib") && cli_parse_int(v, 1, 1000000, &n)) o->calib = (int)n, i++;
        else if (!strcmp(a, "--seed") && cli_parse_int(v, 0, 1L << 62, &n)) o->seed = (uint64_t)n, i++;
        else if (!strcmp(a, "--memo-mib") && cli_parse_int(v, 0, 1L << 40, &n)) o->memo_mib = n, i++;
        else if (!strcmp(a, "--threads") && cli_parse_int(v, 1, CLI_MAX_THREADS, &n)) o->threads = (int)n, i++;
        /* above 0: every lower bound is >= 0, so a threshold of 0 passes every row */
        else if (!strcmp(a, "--threshold") && cli_parse_real(v, 0, true, 1, false, &f)) o->threshold = f, i++;
        else return cli_option_error("race retrieval", USAGE, a, v);
    }
    if (!o->model || !o->passages || !o->out)
        return cli_usage_fail("race retrieval", "--model, --passages and --out are required");
    if (cli_check_field("race retrieval", o->passages, argc, argv)) return 2;
    return 0;
}

/* --codecs and --budgets; the counts, or -1 after the message. */
static int parse_lists(const opts *o, lw_codec_kind **kinds, int *n_kinds, int64_t **budgets, int *n_budgets) {
    char **items = NULL;
    int n = cli_parse_list("--codecs", o->codecs, &items), rc = n < 0 ? -1 : 0;
    *kinds = calloc((size_t)(n > 0 ? n : 1), sizeof **kinds);
    for (int i = 0; rc == 0 && i < n; i++) {
        int k = lw_codec_from_name(items[i]);
        if (k < 0) rc = lw_fail_prefix("--codecs: ");
        else (*kinds)[i] = (lw_codec_kind)k;
    }
    if (n > 0) free(items);
    *n_kinds = n;
    int nb = rc == 0 ? cli_parse_budgets("--budgets", o->budgets, budgets) : -1;
    *n_budgets = nb;
    return nb < 0 ? -1 : rc;
}

static void progress(void *ctx, const char *what, int done, int total) {
    (void)ctx;
    if (cli_is_tty()) fprintf(stderr, "\rrace retrieval: %s, %d/%d codec budgets%s", what, done, total, done == total ? "\n" : "");
}

int cmd_race_retrieval(int argc, char **argv) {
    opts o;
    int prc = parse_opts(argc, argv, &o);
    if (prc != 0) return prc == 1 ? 0 : 2;
    lw_codec_kind *kinds = NULL;
    int64_t *budgets = NULL;
    int nk = 0, nb = 0, rc = 1;
    const char *const inputs[] = {"--model", o.model, NULL};
    lw_codec_retrieval_experiment_params p = lw_codec_retrieval_experiment_default_params();
    p.model_name = o.model, p.passages = o.passages, p.field = o.field, p.layer = o.layer;
    p.n_scored = o.n, p.n_calib = o.calib, p.out_dir = o.out, p.inputs = inputs, p.resume = o.resume;
    p.test.threshold = o.threshold, p.test.seed = o.seed, p.test.on_progress = progress;
    p.test.memo_bytes = (int64_t)o.memo_mib << 20;
    /* the lists and the outputs before the model loads */
    if (parse_lists(&o, &kinds, &nk, &budgets, &nb) != 0 || lw_codec_retrieval_experiment_check_outputs(&p) != 0) {
        cli_fail_lib("race retrieval");
        free(kinds), free(budgets);
        return 2;
    }
    p.codecs = kinds, p.n_codecs = nk, p.budgets = budgets, p.n_budgets = nb;
    lw_model *m = NULL;
    lw_session *s = NULL;
    char *csv = NULL;
    lw_session_params sp = lw_session_default_params();
    sp.n_threads = o.threads;
    if (!(m = lw_model_load(o.model, cli_model_params())) || !(p.session = s = lw_session_new(m, sp)) ||
        lw_codec_retrieval_experiment_run(&p, NULL, &csv) != 0) {
        cli_fail_lib("race retrieval");
        goto done;
    }
    fputs(csv, stdout);
    printf("wrote %s/retrieval.json, %s/retrieval.csv\n", o.out, o.out);
    rc = 0;
done:
    free(csv), free(kinds), free(budgets);
    lw_session_free(s);
    lw_model_free(m);
    return rc;
}
