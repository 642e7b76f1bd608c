/* latentwire extract: activations of a text corpus at hook sites (TransformerLens names) into
 * safetensors, optionally with the logit lens of the resid_post sites. The options become an
 * lw_extract_params; lw_extract_to_files does the work (sharding, resume, temporaries). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "latentwire/extract.h"
#include "latentwire/runtime.h"

static const char *USAGE =
    "usage: latentwire extract --model M.gguf --layers L --input FILE --out OUT.safetensors [options]\n"
    "  --layers L        comma list of sites: block indices (their resid_post), `all`, `last`, `embed` (negative\n"
    "                    counts from the end), or TransformerLens names blocks.L.hook_{resid_post,attn_out,\n"
    "                    mlp_out,resid_mid,z} and hook_embed (--sites is the same option). Tensors: `embed`,\n"
    "                    `layer.L` (resid_post), the TransformerLens name for the other sites\n"
    "  --pool P          mean (over the text's tokens, BOS excluded) | last | none (every token) (default mean)\n"
    "                    | model: the model's own pooled sentence embedding (e.g. a sentence-transformers BERT:\n"
    "                    mean over every token, [CLS]/[SEP] included, not normalized) as tensor `pooled`;\n"
    "                    no --layers; --truncate keeps the closing [SEP]\n"
    "  --input FILE      .txt (one text per line) or .jsonl (field --field, default \"text\")\n"
    "  --batch N         sequences per forward batch (default 2; more sequences make attention over the shared cache cost more)\n"
    "  --shard-texts N   texts per output shard (default: shards of about 1 GiB)\n"
    "  --resume          keep finished shards of an earlier run with the same settings whose content still\n"
    "                    matches the sha256 stored in them\n"
    "  --truncate        cut texts longer than the context instead of failing\n"
    "  --skip-untokenizable  skip texts the vocabulary cannot encode (they get no rows) instead of failing\n"
    "  --no-bos          do not prepend BOS\n"
    "  --precision exact|fast   (default exact)\n"
    "  --threads N\n"
    "  --logit-lens K    also the logit lens of every resid_post site's rows: its top K token ids (I32 [rows, K],\n"
    "                    tensor <site tensor>.lens_ids) and their log-probs (F32, <site tensor>.lens_logprobs)\n";

typedef struct {
    const char *model, *input, *out;
    lw_extract_params p;
} opts;

static int parse_opts(int argc, char **argv, opts *o) {
    if (cli_options_once("extract", USAGE, &argc, argv)) return 2;
    memset(o, 0, sizeof *o);
    o->p = lw_extract_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        int k;
        if (cli_wants_help(argc, argv)) {
            cli_print_help("extract", USAGE);
            return 1;
        } else if (!strcmp(a, "--resume")) o->p.resume = true;
        else if (!strcmp(a, "--truncate")) o->p.truncate = true;
        else if (!strcmp(a, "--skip-untokenizable")) o->p.skip_untokenizable = true;
        else if (!strcmp(a, "--no-bos")) o->p.add_bos = false;
        else if (!v) return cli_option_error("extract", USAGE, a, NULL); /* 2 = error */
        else if (!strcmp(a, "--model")) o->model = argv[++i];
        else if (!strcmp(a, "--input")) o->input = argv[++i];
        else if (!strcmp(a, "--out")) o->out = argv[++i];
        else if (!strcmp(a, "--field")) o->p.field = argv[++i];
        else if ((!strcmp(a, "--layers") || !strcmp(a, "--sites")) && o->p.sites)
            return cli_fail("extract", "%s: the sites are already given (%s): --layers and --sites are one option, "
                            "give it once", a, o->p.sites) + 1;
        else if (!strcmp(a, "--layers") || !strcmp(a, "--sites")) o->p.sites = argv[++i];
        else if (!strcmp(a, "--pool") && cli_parse_choice(v, "mean|last|none|model", &k))
            o->p.pool = (lw_extract_pool[]){LW_EXTRACT_POOL_MEAN, LW_EXTRACT_POOL_LAST, LW_EXTRACT_POOL_TOKENS,
                                            LW_EXTRACT_POOL_MODEL}[k],
            i++;
        else if (!strcmp(a, "--batch") && cli_parse_int(v, 1, 256, &n)) o->p.batch = (int)n, i++;
        else if (!strcmp(a, "--logit-lens") && cli_parse_int(v, 1, 1 << 20, &n)) o->p.logit_lens_k = (int)n, i++;
        else if (!strcmp(a, "--shard-texts") && cli_parse_int(v, 1, 1L << 40, &n)) o->p.shard_texts = n, i++;
        else if (!strcmp(a, "--threads") && cli_parse_int(v, 1, CLI_MAX_THREADS, &n)) o->p.n_threads = (int)n, i++;
        else if (!strcmp(a, "--precision") && cli_parse_choice(v, "exact|fast", &k))
            o->p.precision = k ? LW_PRECISION_FAST : LW_PRECISION_EXACT, i++;
        else return cli_option_error("extract", USAGE, a, v); /* 2 = error */
    }
    if (!o->model) return cli_usage_fail("extract", "--model is required");
    if (!o->input) return cli_usage_fail("extract", "--input is required");
    if (!o->out) return cli_usage_fail("extract", "--out is required");
    if (cli_check_field("extract", o->input, argc, argv)) return 2;
    if (o->p.pool == LW_EXTRACT_POOL_MODEL && o->p.sites)
        return cli_fail("extract", "--pool model takes no --layers (it writes the model's pooled embedding)") + 1;
    if (o->p.pool == LW_EXTRACT_POOL_MODEL && !o->p.add_bos)
        return cli_fail("extract", "--pool model always adds the tokenizer's special tokens: drop --no-bos") + 1;
    if (!o->p.sites && o->p.pool != LW_EXTRACT_POOL_MODEL) return cli_usage_fail("extract", "--layers is required");
    size_t len = strlen(o->out);
    if (len < 13 || strcmp(o->out + len - 12, ".safetensors"))
        return cli_fail("extract", "--out \"%s\" must end in .safetensors", o->out) + 1; /* 2 = error */
    return 0;
}

/* Progress on a terminal (at most once a second); otherwise one line per shard. */
static void on_event(const lw_extract_event *e, void *user) {
    (void)user;
    static time_t last;
    const bool tty = cli_is_tty();
    switch (e->kind) {
    case LW_EXTRACT_EV_PROGRESS:
        if (!tty || (time(NULL) == last && e->done != e->total)) return;
        last = time(NULL);
        fprintf(stderr, "\rextract: shard %d/%d, %lld/%lld texts (%.0f%%)", e->shard + 1, e->n_shards,
                (long long)e->done, (long long)e->total, 100.0 * (double)e->done / (double)e->total);
        if (e->done == e->total) fputc('\n', stderr);
        break;
    case LW_EXTRACT_EV_KEPT: fprintf(stderr, "extract: %s is complete, kept\n", e->path); break;
    case LW_EXTRACT_EV_REDO: fprintf(stderr, "extract: %s: %s; made again\n", e->path, e->reason); break;
    case LW_EXTRACT_EV_REMOVED: fprintf(stderr, "extract: removed %s (left by an earlier run)\n", e->path); break;
    case LW_EXTRACT_EV_WROTE:
        if (!tty)
            fprintf(stderr, "extract: wrote %s (texts %lld..%lld)\n", e->path, (long long)e->first_text,
                    (long long)e->last_text);
        break;
    }
}

int cmd_extract(int argc, char **argv) {
    opts o;
    int prc = parse_opts(argc, argv, &o); /* 1 = help shown, 2 = error */
    if (prc) return prc == 1 ? 0 : 2; /* a usage error */
    if (cli_check_output("extract", "--out", o.out, LW_OUT_SHARDS,
                         (const char *[]){"--input", o.input, "--model", o.model, NULL}))
        return 1;
    o.p.on_event = on_event;
    lw_model *m = lw_model_load(o.model, cli_model_params());
    if (!m) return cli_fail_lib("extract");
    lw_extract_result r;
    int rc = lw_extract_to_files(m, o.input, o.out, &o.p, &r);
    lw_model_free(m);
    if (rc != 0) return cli_fail_lib("extract");
    if (r.n_skipped)
        fprintf(stderr, "extract: skipped %lld text(s) the vocabulary cannot encode\n", (long long)r.n_skipped);
    printf("extracted %lld texts x %d site(s) (pool %s%s) from %s into %s%s\n", (long long)(r.n_texts - r.n_skipped),
           r.n_sites, o.p.pool == LW_EXTRACT_POOL_TOKENS ? "none" : o.p.pool == LW_EXTRACT_POOL_LAST ? "last"
                      : o.p.pool == LW_EXTRACT_POOL_MODEL ? "model" : "mean",
           r.n_lens ? ", with the logit lens" : "", o.model, o.out, r.n_shards > 1 ? " (sharded)" : "");
    return 0;
}
