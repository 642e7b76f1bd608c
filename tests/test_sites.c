/* Hook sites inside blocks (TransformerLens hook_attn_out, hook_resid_mid, hook_mlp_out,
 * hook_z), their names, and the logit lens, on synthetic llama models (the real models are
 * in test_sites_real.c):
 *  - names: lw_site_parse / lw_site_parse_list / lw_site_name round trips and errors
 *  - resid_mid = resid_pre + attn_out and resid_post = resid_mid + mlp_out at every block
 *  - the last block with output-row selection maps every site's rows right
 *  - add / replace at the new sites move what follows as the residual algebra says
 *  - capture-only runs at the new sites stop early and capture the full run's rows
 *  - the logit lens of the last block equals the model's logits (tied and untied output)
 *  - an architecture without the sites (bert) is an error naming site and architecture
 *  - `generate --hook` takes the TransformerLens names */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/runtime.h"
#include "sitecheck.h"
#include "support/synth_model.h"
#include "support/synth_noresid.h"
#include "support/testutil.h"

static const char *SENTENCE = "Once upon a time, there was a little dog named Max who liked to run.";
static const char *DONOR = "The big red ball rolled down the hill and the cat ran after it fast.";

static lw_model *TIED, *UNTIED;
static char TIED_PATH[1200];

static lw_model *synth(const char *file, bool tied) {
    lw_synth_params p = lw_synth_default_params();
    p.n_layer = 3;
    p.tied = tied;
    const char *path = lw_test_tmpfile(file);
    if (tied) snprintf(TIED_PATH, sizeof TIED_PATH, "%s", path);
    if (lw_synth_write(path, &p) != 0) return NULL;
    lw_model *m = lw_model_load(path, lw_model_default_params());
    if (!m) fprintf(stderr, "%s\n", lw_last_error());
    return m;
}

static int setup(void **state) {
    TIED = synth("sites_tied.gguf", true);
    UNTIED = synth("sites_untied.gguf", false);
    return TIED && UNTIED ? 0 : -1;
}

static int teardown(void **state) {
    lw_model_free(TIED);
    lw_model_free(UNTIED);
    return 0;
}

/* Both prompts, cut to the same length. */
static int prompts(lw_model *m, int32_t **tok, int32_t **donor) {
    int n = lw_tokenize_alloc(m, SENTENCE, true, tok);
    int nd = lw_tokenize_alloc(m, DONOR, true, donor);
    assert_true(n > 8 && nd > 8);
    return n < nd ? n : nd;
}

/* ------------------------------------------------------------ names */

static void expect_site(const char *text, int n_layer, lw_site site, int layer) {
    lw_site_ref r;
    if (lw_site_parse(text, n_layer, &r) != 0) fail_msg("\"%s\": %s", text, lw_last_error());
    if (r.site != site || r.layer != layer)
        fail_msg("\"%s\" parsed as site %d block %d, expected %d %d", text, (int)r.site, r.layer, (int)site, layer);
}

static void expect_bad(const char *text, int n_layer, const char *needle) {
    lw_site_ref r;
    assert_int_equal(lw_site_parse(text, n_layer, &r), -1);
    if (!strstr(lw_last_error(), needle)) fail_msg("\"%s\": message \"%s\" lacks \"%s\"", text, lw_last_error(), needle);
}

static void test_names(void **state) {
    expect_site("blocks.3.hook_attn_out", 6, LW_SITE_ATTN_OUT, 3);
    expect_site("blocks.0.hook_mlp_out", 6, LW_SITE_MLP_OUT, 0);
    expect_site("blocks.5.hook_resid_mid", 6, LW_SITE_RESID_MID, 5);
    expect_site("blocks.2.hook_z", 6, LW_SITE_Z, 2);
    expect_site("blocks.4.hook_resid_post", 6, LW_SITE_RESID_POST, 4);
    expect_site("blocks.-1.hook_z", 6, LW_SITE_Z, 5);
    expect_site("hook_embed", 6, LW_SITE_EMBED, -1);
    expect_site("embed", 6, LW_SITE_EMBED, -1);
    expect_site("2", 6, LW_SITE_RESID_POST, 2);
    expect_site("-1", 6, LW_SITE_RESID_POST, 5);
    expect_site("last", 6, LW_SITE_RESID_POST, 5);
    expect_bad("blocks.6.hook_mlp_out", 6, "blocks 0..5");
    expect_bad("6", 6, "out of range");
    expect_bad("-7", 6, "out of range");
    expect_bad("blocks.2.hook_foo", 6, "not a hook site");
    expect_bad("blocks.2.hook_resid_pre", 6, "not a hook site");
    expect_bad("blocks.x.hook_z", 6, "not a block index");
    expect_bad("blocks.2.hook_z.", 6, "not a hook site");
    expect_bad("", 6, "empty");
    /* every name parses back to its site */
    for (int k = 0; k < LW_SITE_COUNT; k++)
        for (int l = 0; l < 6; l++) {
            lw_site_ref in = {(lw_site)k, k == LW_SITE_EMBED ? -1 : l}, out;
            char name[64];
            lw_site_name(in, name, sizeof name);
            assert_int_equal(lw_site_parse(name, 6, &out), 0);
            assert_int_equal(out.site, in.site);
            assert_int_equal(out.layer, in.layer);
        }
    char name[64];
    assert_string_equal(lw_site_name((lw_site_ref){LW_SITE_Z, 7}, name, sizeof name), "blocks.7.hook_z");
    assert_string_equal(lw_site_name((lw_site_ref){LW_SITE_EMBED, -1}, name, sizeof name), "hook_embed");
    /* lists: graph order, spaces around names ignored */
    lw_site_ref *v;
    int n = lw_site_parse_list("blocks.1.hook_resid_post, embed,blocks.1.hook_z ,0,blocks.0.hook_mlp_out", 3, &v);
    assert_int_equal(n, 5);
    const lw_site_ref want[5] = {{LW_SITE_EMBED, -1}, {LW_SITE_MLP_OUT, 0}, {LW_SITE_RESID_POST, 0}, {LW_SITE_Z, 1},
                                 {LW_SITE_RESID_POST, 1}};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(v[i].site, want[i].site);
        assert_int_equal(v[i].layer, want[i].layer);
    }
    free(v);
    /* inside a block: z, attn_out, resid_mid, mlp_out, resid_post */
    n = lw_site_parse_list("blocks.0.hook_resid_post,blocks.0.hook_mlp_out,blocks.0.hook_resid_mid,blocks.0.hook_attn_out,"
                           "blocks.0.hook_z",
                           2, &v);
    assert_int_equal(n, 5);
    const lw_site order[5] = {LW_SITE_Z, LW_SITE_ATTN_OUT, LW_SITE_RESID_MID, LW_SITE_MLP_OUT, LW_SITE_RESID_POST};
    for (int i = 0; i < 5; i++) assert_int_equal(v[i].site, order[i]);
    free(v);
    assert_int_equal(lw_site_parse_list("embed,all", 3, &v), 4);
    assert_int_equal(v[3].layer, 2);
    free(v);
    assert_int_equal(lw_site_parse_list("0,blocks.9.hook_z", 3, &v), -1);
    assert_null(v);
    assert_non_null(strstr(lw_last_error(), "blocks.9.hook_z"));
    assert_int_equal(lw_site_parse_list("", 3, &v), -1);
}

/* ------------------------------------------------------------ widths and errors */

static void test_widths_and_unsupported(void **state) {
    lw_model_info in;
    lw_model_get_info(TIED, &in);
    for (int k = 0; k < LW_SITE_COUNT; k++) assert_int_equal(lw_site_width(TIED, (lw_site)k), in.n_embd); /* 4 x 16 */
    assert_int_equal(lw_site_width(TIED, LW_SITE_COUNT), -1);

    const char *path = lw_test_tmpfile("sites_bert.gguf");
    assert_int_equal(lw_synth_write_noresid(path), 0);
    lw_model *m = lw_model_load(path, lw_model_default_params());
    assert_non_null(m);
    const lw_site missing[4] = {LW_SITE_ATTN_OUT, LW_SITE_MLP_OUT, LW_SITE_RESID_MID, LW_SITE_Z};
    const char *tl[4] = {"hook_attn_out", "hook_mlp_out", "hook_resid_mid", "hook_z"};
    lw_session *s = lw_session_new(m, lw_session_default_params());
    assert_non_null(s);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(lw_site_width(m, missing[k]), -1);
        assert_non_null(strstr(lw_last_error(), tl[k]));
        assert_non_null(strstr(lw_last_error(), "\"bert\""));
        lw_hook h = lw_hook_default();
        h.site = missing[k];
        h.layer = 1;
        assert_int_equal(lw_session_add_hook(s, &h), -1);
        assert_non_null(strstr(lw_last_error(), tl[k]));
        assert_non_null(strstr(lw_last_error(), "\"bert\""));
    }
    /* resid_post is mapped everywhere, but this graph has no l_out node: the run says which site */
    lw_hook h = lw_hook_default();
    h.layer = 1;
    assert_int_equal(lw_session_add_hook(s, &h), 0);
    int32_t tok[4] = {2, 10, 11, 3};
    lw_span sp = {.tokens = tok, .n = 4};
    lw_seq_input inp = {.seq = 0, .spans = &sp, .n_spans = 1, .logits = LW_LOGITS_NONE};
    assert_int_equal(lw_session_run(s, &inp, 1), -1);
    assert_non_null(strstr(lw_last_error(), "blocks.1.hook_resid_post"));
    assert_non_null(strstr(lw_last_error(), "\"bert\""));
    lw_session_free(s);
    /* no logit lens for it either */
    float row[LW_SYNTH_NORESID_N_EMBD] = {0}, out[LW_SYNTH_NORESID_N_VOCAB];
    assert_int_equal(lw_logit_lens(m, row, 1, out), -1);
    assert_non_null(strstr(lw_last_error(), "\"bert\""));
    lw_model_free(m);

    /* vectors are the site's width: a coordinate range past it is refused */
    s = lw_session_new(TIED, lw_session_default_params());
    float *v = calloc((size_t)in.n_embd, sizeof(float));
    h = lw_hook_default();
    h.site = LW_SITE_Z;
    h.layer = 0;
    h.op = LW_OP_ADD;
    h.vectors = v;
    h.n_vectors = 1;
    h.coord_begin = 0;
    h.coord_end = in.n_embd + 1;
    assert_int_equal(lw_session_add_hook(s, &h), -1);
    h.layer = 3;
    h.coord_end = 0;
    assert_int_equal(lw_session_add_hook(s, &h), -1); /* block out of range */
    free(v);
    lw_session_free(s);
}

/* ------------------------------------------------------------ the checks of sitecheck.h */

static void test_identities(void **state) {
    int32_t *tok, *donor;
    int n = prompts(TIED, &tok, &donor);
    sc_check_identities(TIED, "synth", tok, n, 1e-6);
    sc_check_last_block_rows(TIED, "synth", tok, n, 1e-6);
    free(tok);
    free(donor);
}

static void test_interventions(void **state) {
    int32_t *tok, *donor;
    int n = prompts(TIED, &tok, &donor);
    sc_check_interventions(TIED, "synth", tok, donor, n, 1e-5);
    free(tok);
    free(donor);
}

static void test_early_stop(void **state) {
    int32_t *tok, *donor;
    int n = prompts(TIED, &tok, &donor);
    sc_check_early_stop(TIED, "synth", tok, n, 1e-6);
    free(tok);
    free(donor);
}

/* F32 weights: llama.cpp multiplies float by float, so only the summation order differs. */
static void test_logit_lens(void **state) {
    lw_model *ms[2] = {TIED, UNTIED};
    const char *names[2] = {"synth tied", "synth untied"};
    for (int k = 0; k < 2; k++) {
        int32_t *tok, *donor;
        int n = prompts(ms[k], &tok, &donor);
        double rel, err = sc_check_lens(ms[k], names[k], tok, n, &rel);
        (void)err;
        assert_true(rel < 1e-5);
        free(tok);
        free(donor);
    }
    /* bad arguments */
    float row[64] = {0}, out[512];
    int32_t id;
    float lp;
    assert_int_equal(lw_logit_lens_topk(TIED, row, 1, 0, &id, &lp), -1);
    assert_int_equal(lw_logit_lens_topk(TIED, row, 1, 513, &id, &lp), -1);
    row[3] = NAN;
    assert_int_equal(lw_logit_lens(TIED, row, 1, out), -1);
    assert_non_null(strstr(lw_last_error(), "non-finite"));
}

/* ------------------------------------------------------------ CLI */

static char *generate(const char *hook, int *rc) {
    char args[4096], *out, *err;
    snprintf(args, sizeof args, "generate --model %s --prompt 'Once upon a time' --max-tokens 6 --no-eos-stop%s%s",
             TIED_PATH, hook ? " --hook " : "", hook ? hook : "");
    *rc = lw_test_run_cli(args, &out, &err);
    if (*rc != 0) {
        free(out);
        return err;
    }
    free(err);
    return out;
}

static void test_generate_hook_names(void **state) {
    const char *zero = lw_test_tmpfile("zero.txt"), *big = lw_test_tmpfile("big.txt");
    FILE *fz = fopen(zero, "w"), *fb = fopen(big, "w");
    for (int j = 0; j < 64; j++) {
        fprintf(fz, "0 ");
        fprintf(fb, "%g ", 4.0 * sin(j * 0.9));
    }
    fclose(fz);
    fclose(fb);
    int rc;
    char *plain = generate(NULL, &rc), spec[1400];
    assert_int_equal(rc, 0);
    const char *sites[4] = {"blocks.1.hook_mlp_out", "blocks.2.hook_attn_out", "blocks.0.hook_resid_mid", "blocks.1.hook_z"};
    for (int k = 0; k < 4; k++) {
        snprintf(spec, sizeof spec, "%s:add:all:%s", sites[k], zero); /* adding 0 changes nothing */
        char *same = generate(spec, &rc);
        assert_int_equal(rc, 0);
        assert_string_equal(same, plain);
        free(same);
        snprintf(spec, sizeof spec, "%s:replace:all:%s", sites[k], big);
        char *other = generate(spec, &rc);
        assert_int_equal(rc, 0);
        if (!strcmp(other, plain)) fail_msg("replacing %s changed nothing: %s", sites[k], other);
        free(other);
    }
    snprintf(spec, sizeof spec, "blocks.1.hook_foo:add:all:%s", zero);
    char *err = generate(spec, &rc);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, "blocks.1.hook_foo"));
    free(err);
    free(plain);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),          cmocka_unit_test(test_widths_and_unsupported),
        cmocka_unit_test(test_identities),     cmocka_unit_test(test_interventions),
        cmocka_unit_test(test_early_stop),     cmocka_unit_test(test_logit_lens),
        cmocka_unit_test(test_generate_hook_names),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, setup, teardown));
}
