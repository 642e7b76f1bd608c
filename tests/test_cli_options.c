/* Option errors of every verb, one table: an unknown option, a missing value and a refused
 * value are three different one-line messages (exit 2), a refused value states what is
 * accepted, every verb and sub-verb answers --help, lists refuse empty and repeated items,
 * and missing data names the file and where it was looked for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/strlist.h"
#include "latentwire/error.h"
#include "latentwire/runtime.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static char MODEL[1200], TEXTS[1200], OUT[1200], NUL_TASK[1200];

/* Runs the CLI; stderr must be exactly one line containing want, the exit status rc. */
static void expect_line(const char *args, int rc, const char *want) {
    char *why = lw_test_cli_refusal(args, rc, want);
    if (why) fail_msg("%s", why);
}

static int setup(void **state) {
    (void)state;
    lw_synth_params p = lw_synth_default_params(); /* context 256 */
    snprintf(MODEL, sizeof MODEL, "%s", lw_test_tmpfile("opts.gguf"));
    if (lw_synth_write(MODEL, &p) != 0) return -1;
    snprintf(TEXTS, sizeof TEXTS, "%s", lw_test_tmpfile("opts.txt"));
    FILE *f = fopen(TEXTS, "w");
    fputs("the cat sat\nthe dog ran\n", f);
    fclose(f);
    snprintf(OUT, sizeof OUT, "%s", lw_test_tmpfile("opts.safetensors"));
    snprintf(NUL_TASK, sizeof NUL_TASK, "%s", lw_test_tmpfile("nul_task.jsonl"));
    f = fopen(NUL_TASK, "w");
    fputs("{\"id\": \"a\", \"sender\": \"x\", \"receiver\": \"y\\u0000\", \"gold\": \"z\"}\n", f);
    fclose(f);
    return 0;
}

/* {arguments after the verb's fixed part, expected exit status, text the one line contains} */
typedef struct {
    const char *args, *want;
} row;

static void run_table(const row *rows, size_t n, int rc) {
    char args[4096];
    for (size_t i = 0; i < n; i++) {
        /* M = the model, T = the texts, O = an output path */
        char *a = args;
        for (const char *s = rows[i].args; *s && a < args + sizeof args - 1300; s++) {
            const char *sub = *s == '@' && s[1] == 'M' ? MODEL : *s == '@' && s[1] == 'T' ? TEXTS
                            : *s == '@' && s[1] == 'O' ? OUT : *s == '@' && s[1] == 'N' ? NUL_TASK : NULL;
            if (sub) a += sprintf(a, "%s", sub), s++;
            else *a++ = *s;
        }
        *a = '\0';
        expect_line(args, rc, rows[i].want);
    }
}

/* The three kinds of option error, for every verb. */
static void test_option_errors(void **state) {
    (void)state;
    static const row rows[] = {
        /* unknown option: as a flag at the end, and followed by a word */
        {"generate --model @M --prompt hi --bogus", "unknown option --bogus (`latentwire generate --help`"},
        {"generate --model @M --bogus 3 --prompt hi", "unknown option --bogus"},
        {"extract --model @M --layers 0 --input @T --out @O --bogus", "unknown option --bogus"},
        {"align --source @M --target @M --bogus", "unknown option --bogus"},
        {"bridge fit --bogus", "unknown option --bogus (`latentwire bridge fit --help`"},
        {"bridge apply --bogus x", "unknown option --bogus"},
        {"bridge info --bogus", "unknown option --bogus"},
        {"retrieval --bogus", "unknown option --bogus"},
        {"channel --bogus 1", "unknown option --bogus"},
        {"debate --bogus", "unknown option --bogus"},
        {"info @M --bogus", "unknown option --bogus"},
        {"inspect @O --bogus", "unknown option --bogus"},
        {"tokenize @M hi --bogus", "unknown option --bogus"},
        {"tokenize @M hi there", "unexpected argument \"there\""},
        {"bridge info a.safetensors b.safetensors", "unexpected argument \"b.safetensors\""},
        /* a known option without its value */
        {"generate --model @M --prompt", "option --prompt needs a value"},
        {"extract --model @M --layers", "option --layers needs a value"},
        {"bridge fit --source", "option --source needs a value"},
        {"bridge apply --side", "option --side needs a value"},
        {"retrieval --beir", "option --beir needs a value"},
        {"channel --task", "option --task needs a value"},
        {"debate --rounds", "option --rounds needs a value"},
        {"align --per-domain", "option --per-domain needs a value"},
        /* a refused value, with what is accepted */
        {"extract --model @M --layers 0 --input @T --out @O --batch 0", "--batch 0: must be an integer in [1, 256]"},
        {"extract --model @M --layers 0 --input @T --out @O --batch abc",
         "--batch abc: not an integer (must be an integer in [1, 256])"},
        {"extract --model @M --layers 0 --input @T --out @O --batch 1x", "--batch 1x: not an integer"},
        {"extract --model @M --layers 0 --input @T --out @O --batch ''", "--batch \"\": must be an integer in [1, 256]"},
        {"extract --model @M --layers 0 --input @T --out @O --pool max",
         "--pool max: must be one of mean, last, none, model"},
        {"extract --model @M --layers 0 --input @T --out @O --threads 0", "--threads 0: must be an integer in [1, 1024]"},
        {"generate --model @M --prompt hi --top-p 0", "--top-p 0: must be a number in (0, 1]"},
        {"generate --model @M --prompt hi --top-p 1.5", "--top-p 1.5: must be a number in (0, 1]"},
        {"generate --model @M --prompt hi --temp -1", "--temp -1: must be a number >= 0"},
        {"generate --model @M --prompt hi --temp nan", "--temp nan: not a number (must be a number >= 0)"},
        {"generate --model @M --prompt hi --temp inf", "--temp inf: must be a number >= 0"},
        {"generate --model @M --prompt hi --precision half", "--precision half: must be one of exact, fast"},
        {"generate --model @M --prompt hi --threads -2", "--threads -2: must be an integer in [1, 1024]"},
        {"generate --model @M --prompt hi --seed 4294967296", "--seed 4294967296: must be an integer in [0, 4294967295]"},
        {"bridge fit --recipe linear", "--recipe linear: must be one of ridge, pca-ridge, pca2-ridge, procrustes, cca, relrep"},
        {"bridge fit --alpha 0", "--alpha 0: must be a number > 0"},
        {"bridge fit --alpha-select loo", "--alpha-select loo: must be one of gcv, kfold"},
        {"bridge fit --kfold 1", "--kfold 1: must be an integer in [2, 100]"},
        {"bridge apply --side middle", "--side middle: must be one of source, target"},
        {"align --calib-share 1", "--calib-share 1: must be a number in (0, 1)"},
        {"align --recipe x", "--recipe x: must be one of ridge,"},
        {"retrieval --seed -1", "--seed -1: must be an integer >= 0"},
        {"retrieval --seed 18446744073709551615", "--seed 18446744073709551615: must be an integer >= 0 and at most 2^62"},
        {"retrieval --threads 2000", "--threads 2000: must be an integer in [1, 1024]"},
        {"retrieval --resamples 10", "--resamples 10: must be an integer in [100, 10000000]"},
        {"channel --top-p 2", "--top-p 2: must be a number in (0, 1]"},
        /* a scale float32 cannot hold: refused here, not at the first item after work began */
        {"scan --scale 1e39", "--scale 1e39: must be a number in [-3.40282e+38, 3.40282e+38]"},
        {"race --scale -1e39", "--scale -1e39: must be a number in [-3.40282e+38, 3.40282e+38]"},
        {"channel --threads x", "--threads x: not an integer"},
        {"debate --channel ac", "--channel ac: must be one of text, cipher"},
        {"debate --threads 0", "--threads 0: must be an integer in [1, 1024]"},
        {"generate --gpu-layers -1 --model @M --prompt hi", "--gpu-layers -1: must be an integer in [0, 100000]"},
        {"extract --gpu-layers", "option --gpu-layers needs a value"},
    };
    run_table(rows, sizeof rows / sizeof rows[0], 2);
}

/* An option given twice is refused (a later value would replace the earlier one unseen), except
 * where the usage says "(repeatable)"; an option that only modifies another is refused without it,
 * and so is a bridge option the recipe does not use. */
static void test_once_and_dependent(void **state) {
    (void)state;
    static const row rows[] = {
        {"generate --model @M --model @M --prompt hi", "--model is given twice: give it once"},
        {"extract --model @M --layers 0 --input @T --layers 1 --out @O", "--layers is given twice"},
        {"bridge fit --seed 1 --seed 2", "bridge fit: --seed is given twice"},
        {"channel --resume --resume", "--resume is given twice"},
        {"scan --sender @M --task skill:first_letter --out @O --scale 2",
         "--scale multiplies added vectors: give --op add with it"},
        {"race --sender @M --task skill:first_letter --out @O --op replace --scale 2",
         "--scale multiplies added vectors: give --op add with it"},
        /* race options no listed channel reads */
        {"race --sender @M --task skill:first_letter --out @O --op add --scale 0", "--scale 0 adds nothing"},
        {"race --sender @M --task skill:first_letter --out @O --pooled --positions 2", "--positions has no use with it"},
        {"race --sender @M --task skill:first_letter --out @O --channel floor,text:zlib --op add",
         "--op shapes the activation channels, and --channel floor,text:zlib lists none"},
        {"race --sender @M --task skill:first_letter --out @O --channel floor,ceiling --task-vector",
         "--task-vector shapes the activation channels"},
        {"race --sender @M --task skill:first_letter --out @O --channel floor,text:zlib --bridge b.safetensors",
         "--bridge shapes the activation channels"},
        {"race --sender @M --task skill:first_letter --out @O --channel floor,act:topk --cipher-steps 4",
         "--cipher-steps: --channel floor,act:topk lists no cipher channel"},
        {"race --sender @M --task skill:first_letter --out @O --channel floor,mean --budgets 64",
         "lists only channels without a budget"},
        {"bridge fit --recipe procrustes --alpha 1", "--alpha with --recipe procrustes: only the ridge recipes"},
        {"bridge fit --recipe cca --alpha-select kfold", "--alpha-select with --recipe cca: only the ridge recipes"},
        {"bridge fit --alpha 1 --alpha-select gcv", "--alpha fixes the alpha, so none is chosen"},
        {"bridge fit --kfold 3", "--kfold with --recipe ridge: folds are used only by --alpha-select kfold"},
        {"bridge fit --recipe cca --cca-reg 0.1 --kfold 3", "--kfold with --recipe cca"},
        {"bridge fit --rank 4", "--rank with --recipe ridge: ridge maps the full width"},
        {"bridge fit --recipe relrep --rank 4", "relrep's width is its --anchors"},
        {"bridge fit --recipe pca-ridge --cca-reg 0.1", "--cca-reg with --recipe pca-ridge: only cca"},
        {"bridge fit --anchors 3", "--anchors with --recipe ridge: only relrep uses anchors"},
        {"extract --model @M --layers 0 --input @T --field body --out @O",
         "--field names a field of JSON Lines texts, but"},
        {"codec fit --kind zlib --budget 64 --texts @T --field body --out x.safetensors", "leave --field out"},
        {"bridge fit --recipe procrustes --seed 3", "--seed with --recipe procrustes: nothing is drawn at random"},
        {"bridge fit --alpha 1 --seed 3", "--seed with --recipe ridge: nothing is drawn at random"},
        /* one option by two names, and the option every verb takes before parsing its own */
        {"report a.json -o x.html --out y.html", "--out: the page is already given (x.html): give -o or --out once"},
        {"extract --model @M --layers 0 --sites 1 --input @T --out @O", "--layers and --sites are one option"},
        /* another option where a path or number is wanted: not its value (a free text may be one) */
        {"race --sender @M --task skill:first_letter --out --resume", "--out needs a value, and --resume is an option of race"},
        {"report a.json -o --title", "-o needs a value, and --title is an option of report"},
        {"extract --model --layers 2 --input @T --out @O", "--model needs a value, and --layers is an option of extract"},
        {"generate --model @M --gpu-layers 1 --prompt hi --gpu-layers 2", "--gpu-layers is given twice"},
        {"bridge info x.safetensors --gpu-layers 1", "bridge info: --gpu-layers: bridge info loads no model to offload"},
        {"race merge --out o.jsonl a.jsonl --gpu-layers 1", "race merge loads no model"},
        {"panel probes merge --out o.json a b --gpu-layers 1", "panel probes merge loads no model"},
        /* an option before the subcommand */
        {"race --gpu-layers 8 retrieval --model @M", "retrieval after an option: give the subcommand first"},
        {"panel --gpu-layers 8 patching", "--gpu-layers before the panel: give the panel first"},
        /* a panel's option errors name the panel, and the --help that lists its options */
        {"panel patching --bogus", "latentwire panel patching: unknown option --bogus (`latentwire panel patching --help`"},
        {"panel patching --prompts x", "latentwire panel patching: --prompts x: "},
        {"panel patching --out a --out b", "latentwire panel patching: "},
        {"panel probes --bogus", "latentwire panel probes: unknown option --bogus (`latentwire panel probes --help`"},
        {"panel probes --hops 0", "latentwire panel probes: --hops 0: "},
        {"panel probes merge --bogus", "latentwire panel probes merge: unknown option --bogus"},
        {"paraphrase texts p.jsonl --gpu-layers 1 --out t.txt", "paraphrase texts loads no model"},
        {"report a.json --gpu-layers 1 -o x.html", "report loads no model"},
    };
    run_table(rows, sizeof rows / sizeof rows[0], 2);
    /* a value that looks like an option is the value: not "given twice" (the prompt is the text
     * "--threads") */
    char args[4096], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "generate --model %s --prompt --threads --threads 1 --max-tokens 2", MODEL);
    if (lw_test_run_cli(args, &out, &err) != 0) fail_msg("`latentwire %s`: %s", args, err);
    free(out);
    free(err);
    /* --gpu-layers as another option's value stays that value: the prompt is the text "--gpu-layers"
     * (it was taken out of argv for every verb, leaving --prompt without a value) */
    snprintf(args, sizeof args, "generate --model %s --prompt --gpu-layers --max-tokens 2", MODEL);
    if (lw_test_run_cli(args, &out, &err) != 0) fail_msg("`latentwire %s`: %s", args, err);
    if (!out || strncmp(out, "--gpu-layers", 12) != 0) fail_msg("`latentwire %s` printed \"%s\"", args, out);
    free(out);
    free(err);
    out = err = NULL;
    snprintf(args, sizeof args, "generate --model %s --gpu-layers 0 --prompt hi --max-tokens 2", MODEL);
    if (lw_test_run_cli(args, &out, &err) != 0) fail_msg("`latentwire %s`: %s", args, err);
    free(out);
    free(err);
}

/* Lists: empty and repeated items, in the generic list parser the verbs use (checked against
 * the model, once it is loaded: exit 1). */
static void test_list_errors(void **state) {
    (void)state;
    static const row rows[] = {
        {"extract --model @M --layers 0,,1 --input @T --out @O", "item 2 is empty"},
        {"extract --model @M --layers 0, --input @T --out @O", "item 2 is empty"},
        {"extract --model @M --layers ' ' --input @T --out @O", "the list is empty"},
        {"extract --model @M --layers 1,1 --input @T --out @O", "site list \"1,1\": \"1\" is listed twice"},
        {"extract --model @M --layers 1,blocks.1.hook_resid_post --input @T --out @O",
         "blocks.1.hook_resid_post is named twice (by \"1\" and \"blocks.1.hook_resid_post\")"},
        {"extract --model @M --layers all,-1 --input @T --out @O", "named twice (by \"all\" and \"-1\")"},
        {"extract --model @M --layers abc --input @T --out @O", "site \"abc\" is not a hook site"},
        {"generate --model @M --prompt hi --hook 0:add:1,,2:v.txt", "positions \"1,,2\": item 2 is empty"},
        {"generate --model @M --prompt hi --hook 0:add:1,1:v.txt", "positions \"1,1\": \"1\" is listed twice"},
    };
    run_table(rows, sizeof rows / sizeof rows[0], 1);
}

/* Spaces around a number or a list item are not part of it: "1 " is 1, " 0 , 1 " is 0,1. */
static void test_spaces_accepted(void **state) {
    (void)state;
    char args[4096], *o, *e;
    snprintf(args, sizeof args, "extract --model %s --layers ' 0 , 1 ' --batch '1 ' --input %s --out %s", MODEL, TEXTS,
             OUT);
    int rc = lw_test_run_cli(args, &o, &e);
    if (rc != 0) fail_msg("`latentwire %s`: exit %d: %s", args, rc, e);
    free(o);
    free(e);
}

/* Every verb and sub-verb prints its usage on stdout and exits 0 for --help (and -h). */
static void test_help_everywhere(void **state) {
    (void)state;
    const char *verbs[] = {"info", "tokenize", "extract", "inspect", "bridge", "bridge fit", "bridge apply",
                           "bridge info", "retrieval", "align", "channel", "debate", "generate", "scan", "race",
                           "race merge", "race retrieval", "codec", "codec fit", "codec encode", "codec decode",
                           "codec info", "panel", "panel patching", "panel probes", "panel probes merge", "verdict",
                           "report", "quantize", "paraphrase", "paraphrase generate", "paraphrase texts"};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        for (int h = 0; h < 3; h++) {
            char args[256], *o, *e;
            /* also after other options, and -h */
            snprintf(args, sizeof args, "%s %s", verbs[i], h == 0 ? "--help" : h == 1 ? "-h" : "--seed 1 --help");
            int rc = lw_test_run_cli(args, &o, &e);
            if (rc != 0 || strncmp(o, "usage:", 6) != 0 || *e)
                fail_msg("`latentwire %s`: exit %d, stdout: %.80s, stderr: %s", args, rc, o, e);
            /* a verb that loads a model lists --gpu-layers (it took it, and no help said so); one
             * that loads none refuses it and does not list it */
            static const char *const no_model[] = {"inspect", "bridge", "codec", "verdict", "report", "quantize",
                                                   "race merge", "panel probes merge", "paraphrase", "paraphrase texts"};
            bool loads = true;
            for (size_t k = 0; k < sizeof no_model / sizeof *no_model; k++)
                loads &= strcmp(verbs[i], no_model[k]) != 0 && strncmp(verbs[i], "bridge ", 7) != 0 &&
                         strncmp(verbs[i], "codec ", 6) != 0;
            if (loads != (strstr(o, "--gpu-layers") != NULL))
                fail_msg("`latentwire %s`: --gpu-layers %s: %s", args, loads ? "missing" : "listed", o);
            free(o);
            free(e);
        }
    /* an unknown subcommand is a usage error (exit 2), like an unknown option */
    char *o, *e;
    assert_int_equal(lw_test_run_cli("bridge bogus", &o, &e), 2);
    assert_non_null(strstr(e, "unknown subcommand \"bogus\""));
    free(o);
    free(e);
}

/* A verb run without its required options is a usage error: exit 2 and one line that names what
 * is missing (some verbs said so with 1, some with 2; the usage forms exit 2, as README says). */
static void test_missing_required(void **state) {
    (void)state;
    static const row rows[] = {
        {"align", "--source and --target are required"},
        {"bridge fit", "are required"},
        {"bridge apply", "are required"},
        {"bridge info", "no bridge file given"},
        {"channel", "--sender, --receiver and --task are required"},
        {"codec fit", "are required"},
        {"codec encode", "are required"},
        {"codec decode", "are required"},
        {"codec info", "no codec file given"},
        {"inspect", "no file given (usage: latentwire inspect FILE.safetensors [--json])"},
        {"inspect --json", "no file given"},
        {"info", "no model given (usage: latentwire info MODEL.gguf [--json])"},
        {"tokenize", "no model given (usage: latentwire tokenize MODEL.gguf TEXT"},
        {"tokenize @M --json", "no TEXT given"},
        {"debate", "--agents and --task are required"},
        {"extract", "--model is required"},
        {"extract --model @M --input @T --out @O", "--layers is required"},
        {"generate", "--model is required"},
        {"generate --model @M", "--prompt is required"},
        {"paraphrase generate", "--model is required"},
        {"paraphrase texts", "give the paraphrase file"},
        {"panel", "give the panel: patching or probes"},
        {"panel patching", "latentwire panel patching: --receivers, --donors and --out are required"},
        {"panel patching --receivers a.gguf --donors b.gguf", "--out are required"},
        {"panel probes", "latentwire panel probes: --a, --layer-a, --b, --layer-b, --bridge and --out are required"},
        {"panel probes merge", "panel probes merge: --out DIR and at least two runs are needed"},
        {"race", "are required"},
        {"race merge", "--out DIR is required"},
        {"race retrieval", "are required"},
        {"report", "give the result files"},
        {"retrieval", "are required"},
        {"retrieval --beir x", "--beir needs --source-model"},
        {"scan", "are required"},
        {"verdict", "no PLAN.json"},
        {"quantize", "give IN.gguf, OUT.gguf"},
    };
    run_table(rows, sizeof rows / sizeof rows[0], 2);
}

/* Tokens of text as generate counts them (BOS included), from the library. */
static int prompt_tokens(const char *text) {
    lw_model *m = lw_model_load(MODEL, lw_model_default_params());
    assert_non_null(m);
    int32_t *t;
    int n = lw_tokenize_special_alloc(m, text, true, &t);
    free(t);
    lw_model_free(m);
    return n;
}

/* --max-tokens past the context is refused before any work, stating the context and the
 * largest value that fits; the prompt alone past the context likewise. */
static void test_max_tokens_context(void **state) {
    (void)state;
    char args[4096], want[512];
    /* context 256; the last sampled token is never forwarded: 256 - n + 1 new tokens fit */
    int n = prompt_tokens("hi there");
    snprintf(args, sizeof args, "generate --model %s --prompt 'hi there' --max-tokens %d", MODEL, 256 - n + 2);
    snprintf(want, sizeof want,
             "--max-tokens %d: the prompt's %d tokens and %d new ones do not fit the context of 256 tokens; use "
             "--max-tokens %d or less",
             256 - n + 2, n, 256 - n + 2, 256 - n + 1);
    expect_line(args, 1, want);
    char *o, *e;
    snprintf(args, sizeof args, "generate --model %s --prompt 'hi there' --max-tokens %d --no-eos-stop", MODEL,
             256 - n + 1);
    int rc = lw_test_run_cli(args, &o, &e);
    if (rc != 0 || *e) fail_msg("`latentwire %s`: exit %d: %s", args, rc, e);
    free(o);
    free(e);
    char text[1200];
    for (int i = 0; i < 1099; i++) text[i] = i % 2 ? ' ' : 'x';
    text[1099] = '\0';
    n = prompt_tokens(text);
    assert_true(n > 256);
    char *longp = malloc(8192);
    snprintf(longp, 8192, "generate --model %s --prompt '%s'", MODEL, text);
    snprintf(want, sizeof want, "--prompt is %d tokens but the context holds 256: shorten the prompt", n);
    expect_line(longp, 1, want);
    free(longp);
}

/* The library's own refusal says how many tokens, the context, and what to do (it said
 * "run: 300 new tokens do not fit the context (0 resident, n_ctx 256)"). */
static void test_context_message(void **state) {
    (void)state;
    lw_model *m = lw_model_load(MODEL, lw_model_default_params());
    assert_non_null(m);
    lw_session *s = lw_session_new(m, lw_session_default_params());
    assert_non_null(s);
    assert_int_equal(lw_session_n_ctx(s), 256);
    int32_t toks[300];
    for (int i = 0; i < 300; i++) toks[i] = 300 + i % 20;
    lw_span span = {.tokens = toks, .n = 300};
    lw_seq_input in = {.seq = 0, .spans = &span, .n_spans = 1, .logits = LW_LOGITS_LAST};
    assert_int_equal(lw_session_run(s, &in, 1), -1);
    assert_string_equal(lw_last_error(), "300 tokens do not fit the context of 256 tokens: use shorter texts");
    span.n = 200;
    assert_int_equal(lw_session_run(s, &in, 1), 0);
    span.n = 100;
    assert_int_equal(lw_session_run(s, &in, 1), -1);
    assert_string_equal(lw_last_error(),
                        "100 tokens do not fit the context of 256 tokens (200 of its positions already in use): use "
                        "shorter texts");
    lw_session_free(s);
    lw_model_free(m);
}

/* Named tasks read the data directory: --data, else $LW_SHARED_DIR/data, else ../shared/data;
 * what is missing is named with the place it was looked for. */
static void test_data_dir(void **state) {
    (void)state;
    char args[4096];
    snprintf(args, sizeof args, "channel --sender %s --receiver %s --task gsm8k:2 --data /nonexistent-lw", MODEL, MODEL);
    expect_line(args, 1, "--task gsm8k:2 reads /nonexistent-lw/gsm8k/test.jsonl: No such file or directory (the data "
                         "directory is /nonexistent-lw: pass --data DIR, or set LW_SHARED_DIR");
    const char *old = getenv("LW_SHARED_DIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("LW_SHARED_DIR", "/nonexistent-shared", 1);
    snprintf(args, sizeof args, "debate --agents %s,%s --task bio:2", MODEL, MODEL);
    expect_line(args, 1, "reads /nonexistent-shared/data/multiagent_debate_biography/article.json: No such file");
    snprintf(args, sizeof args, "align --source %s --target %s", MODEL, MODEL);
    expect_line(args, 1, "the data directory /nonexistent-shared/data: No such file or directory");
    if (saved) setenv("LW_SHARED_DIR", saved, 1);
    else unsetenv("LW_SHARED_DIR");
    free(saved);
}

/* Messages say what the user did and what to change, not the parser's internals. */
static void test_plain_messages(void **state) {
    (void)state;
    char args[4096];
    snprintf(args, sizeof args, "channel --sender %s --receiver %s --task %s", MODEL, MODEL, NUL_TASK);
    expect_line(args, 1, ":1: invalid JSON: a string contains \\u0000 (the NUL character), which is not accepted");
    /* a qrels grade beyond float's range was kept as inf and refused deep in the scorer as
     * "task.rel_grade[k] = inf": the reader names the file, line and value */
    const char *beir = lw_test_fresh_dir("beir_big");
    char sub[1400];
    snprintf(sub, sizeof sub, "%s/qrels", beir);
    assert_int_equal(mkdir(sub, 0755), 0);
    const char *files[3][2] = {{"corpus.jsonl", "{\"_id\": \"d1\", \"text\": \"a doc\"}\n"},
                               {"queries.jsonl", "{\"_id\": \"q1\", \"text\": \"a query\"}\n"},
                               {"qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1e39\n"}};
    for (int i = 0; i < 3; i++) {
        FILE *f = fopen(lw_test_join(beir, files[i][0]), "w");
        fputs(files[i][1], f);
        fclose(f);
    }
    snprintf(args, sizeof args,
             "retrieval --beir %s --source-model %s --source-layer 0 --target-model %s --target-layer 0", beir, MODEL,
             MODEL);
    expect_line(args, 1, "qrels/test.tsv:2: score \"1e39\" is not a finite number (a relevance grade such as 0, 1, 2)");
    /* and when an input cannot be read */
    expect_line("retrieval --paired /nonexistent-lw/a.jsonl /nonexistent-lw/b.jsonl", 1,
                "--paired: per-query records /nonexistent-lw/a.jsonl: No such file or directory");
    /* the OS's reason when an output cannot be created */
    snprintf(args, sizeof args, "extract --model %s --layers 0 --input %s --out /nonexistent-lw/o.safetensors", MODEL,
             TEXTS);
    expect_line(args, 1, "No such file or directory");
}

/* The generic list splitter, on hand-made lists. */
static void test_list_split(void **state) {
    (void)state;
    char **v;
    assert_int_equal(lw_list_split("--x", " a ,b,  c d ", &v), 3);
    assert_string_equal(v[0], "a");
    assert_string_equal(v[1], "b");
    assert_string_equal(v[2], "c d");
    free(v);
    assert_int_equal(lw_list_split("--x", "one", &v), 1);
    assert_string_equal(v[0], "one");
    free(v);
    const struct {
        const char *spec, *want;
    } bad[] = {{"", "--x: the list is empty"},       {"  ", "--x: the list is empty"},
               {",", "--x \",\": item 1 is empty"},   {"a,", "--x \"a,\": item 2 is empty"},
               {"a, ,b", "item 2 is empty"},          {"a,b,a", "--x \"a,b,a\": \"a\" is listed twice"},
               {"a, a", "\"a\" is listed twice"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = (char **)1;
        assert_int_equal(lw_list_split("--x", bad[i].spec, &v), -1);
        assert_null(v);
        if (!strstr(lw_last_error(), bad[i].want))
            fail_msg("\"%s\": \"%s\" lacks \"%s\"", bad[i].spec, lw_last_error(), bad[i].want);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_split), cmocka_unit_test(test_once_and_dependent),     cmocka_unit_test(test_option_errors), cmocka_unit_test(test_list_errors),
        cmocka_unit_test(test_spaces_accepted), cmocka_unit_test(test_help_everywhere), cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_max_tokens_context), cmocka_unit_test(test_data_dir),
        cmocka_unit_test(test_plain_messages), cmocka_unit_test(test_context_message),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, NULL));
}
