/* latentwire panel patching end to end on the toy model: the files it writes hold together (every
 * cell's numbers, D the mean of the cells, records for a verdict tied to the plan), and a
 * pre-registered plan run through `latentwire verdict` on them; bad options refused. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/testutil.h"

static void copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    assert_true(a && b);
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) assert_int_equal(fwrite(buf, 1, n, b), n);
    fclose(a);
    assert_int_equal(fclose(b), 0);
}

static void test_panel_and_verdict(void **state) {
    (void)state;
    const char *model = lw_test_shared_path("models/stories260K.gguf");
    const char *prov = lw_test_shared_path("data/PROVENANCE.md");
    if (!model || !prov) return;
    char data[1200];
    snprintf(data, sizeof data, "%s", prov);
    *strrchr(data, '/') = '\0';
    const char *plan = lw_test_tmpfile("panel.plan.json");
    FILE *f = fopen(plan, "w");
    fputs("{\"format\": \"latentwire.plan/1\", \"title\": \"toy panel\", \"selection\": \"nothing selected\", "
          "\"resamples\": 1000, \"hypotheses\": [{\"id\": \"D\", \"metric\": \"logp_shift\", \"a\": "
          "\"target-minus-baseline\", \"direction\": \"greater\", \"threshold\": 0.05}]}\n",
          f);
    fclose(f);
    const char *dir = lw_test_fresh_dir("panel_out");
    char args[8192], *out, *err;
    snprintf(args, sizeof args,
             "panel patching --receivers %s --donors %s --depths 0.5,1 --prompts 5 --calib 10 --continuation 2 "
             "--resamples 500 --data %s --plan %s --out %s",
             model, model, data, plan, dir);
    /* depths that round to the same blocks (stories260K has 5: 0.5 and 0.55 both give block 2) would
     * count one cell twice in D: refused, naming the cell */
    char dup[8192];
    snprintf(dup, sizeof dup,
             "panel patching --receivers %s --donors %s --depths 0.5,0.55 --prompts 5 --calib 10 --continuation 2 "
             "--resamples 500 --data %s --out %s/dup",
             model, model, data, dir);
    int rc = lw_test_run_cli(dup, &out, &err);
    if (rc == 0 || !strstr(err, "give the same cell")) fail_msg("`latentwire %s`: exit %d, stderr:\n%s", dup, rc, err);
    free(out);
    free(err);
    rc = lw_test_run_cli(args, &out, &err);
    if (rc != 0) fail_msg("panel: %s", err);
    assert_non_null(strstr(out, "D = "));
    free(out);
    free(err);
    const char *js = lw_test_join(dir, "panel.json");
    json_t *r = json_load_file(js, 0, NULL);
    assert_non_null(r);
    json_t *cells = json_object_get(r, "cells"), *c;
    assert_int_equal(json_array_size(cells), 2);
    double sum = 0;
    size_t i;
    json_array_foreach(cells, i, c) {
        assert_int_equal(json_integer_value(json_object_get(c, "n")), 5);
        json_t *d = json_object_get(c, "target_minus_baseline");
        const double mean = json_number_value(json_object_get(d, "mean"));
        assert_true(json_number_value(json_object_get(d, "lo")) <= mean && mean <= json_number_value(json_object_get(d, "hi")));
        /* the paired difference is the difference of the mean effects */
        assert_true(fabs(mean - (json_number_value(json_object_get(c, "mean_target")) -
                                 json_number_value(json_object_get(c, "mean_baseline")))) < 1e-9);
        sum += mean;
    }
    json_t *D = json_object_get(json_object_get(r, "summary"), "D");
    assert_true(fabs(json_number_value(json_object_get(D, "mean")) - sum / 2) < 1e-9);
    const char *verdict = json_string_value(json_object_get(json_object_get(r, "summary"), "verdict"));
    assert_true(!strcmp(verdict, "PASS") || !strcmp(verdict, "FAIL") || !strcmp(verdict, "INCONCLUSIVE"));
    assert_true(json_is_string(json_object_get(r, "plan_sha256")));
    json_decref(r);
    /* the records decide the plan's hypothesis */
    const char *rec = lw_test_join(dir, "records.jsonl");
    snprintf(args, sizeof args, "verdict %s %s --json", plan, rec);
    rc = lw_test_run_cli(args, &out, &err);
    if (rc != 0) fail_msg("verdict: %s", err);
    json_t *v = json_loads(out, 0, NULL);
    assert_non_null(v);
    json_t *h = json_array_get(json_object_get(v, "hypotheses"), 0);
    /* one record per cell and prompt (2 x 5), clustered by prompt below 5 cells, as D's interval is */
    assert_int_equal(json_integer_value(json_object_get(h, "n")), 10);
    assert_int_equal(json_integer_value(json_object_get(h, "n_clusters")), 5);
    assert_true(fabs(json_number_value(json_object_get(h, "estimate")) - sum / 2) < 1e-9);
    json_decref(v);
    free(out);
    free(err);
    /* two models with the same file name in different folders: the cells are named by the paths as
     * given, so the records do not merge two models into one item (copies: two links to one file
     * are one model) */
    const char *da = lw_test_fresh_dir("panel_a"), *db = lw_test_fresh_dir("panel_b");
    char ma[1300], mb[1300];
    snprintf(ma, sizeof ma, "%s/m.gguf", da);
    snprintf(mb, sizeof mb, "%s/m.gguf", db);
    copy_file(model, ma);
    copy_file(model, mb);
    const char *dir2 = lw_test_join(dir, "same_name");
    snprintf(args, sizeof args,
             "panel patching --receivers %s --donors %s --depths 0.5 --prompts 5 --calib 10 --continuation 2 "
             "--resamples 500 --data %s --out %s", ma, mb, data, dir2);
    rc = lw_test_run_cli(args, &out, &err);
    if (rc != 0) fail_msg("panel: %s", err);
    free(out);
    free(err);
    r = json_load_file(lw_test_join(dir2, "panel.json"), 0, NULL);
    assert_non_null(r);
    c = json_array_get(json_object_get(r, "cells"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "receiver")), ma);
    assert_string_equal(json_string_value(json_object_get(c, "donor")), mb);
    json_decref(r);
    /* one file by two paths: one model, so one name (the first path's), and twice in a list refused */
    char ma2[1400], link[1400];
    snprintf(ma2, sizeof ma2, "%s/./m.gguf", da);
    snprintf(link, sizeof link, "%s/link.gguf", db);
    assert_int_equal(symlink(ma, link), 0);
    char *why = NULL;
    snprintf(args, sizeof args, "panel patching --receivers %s,%s --donors %s --out %s/never", ma, link, mb, dir);
    if ((why = lw_test_cli_refusal(args, 2, "are the same model file"))) fail_msg("%s", why);
    const char *dir3 = lw_test_join(dir, "one_file");
    snprintf(args, sizeof args,
             "panel patching --receivers %s --donors %s --depths 0.5 --prompts 5 --calib 10 --continuation 2 "
             "--resamples 500 --data %s --out %s", ma, ma2, data, dir3);
    rc = lw_test_run_cli(args, &out, &err);
    if (rc != 0) fail_msg("panel: %s", err);
    free(out);
    free(err);
    r = json_load_file(lw_test_join(dir3, "panel.json"), 0, NULL);
    assert_non_null(r);
    c = json_array_get(json_object_get(r, "cells"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "receiver")), json_string_value(json_object_get(c, "donor")));
    json_decref(r);
}

static void test_bad_options(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(lw_test_run_cli("panel patching --receivers a.gguf --donors a.gguf --out x --depths 1.5", &out, &err), 2);
    assert_non_null(strstr(err, "--depths"));
    free(out);
    free(err);
    /* a missing option is one line (the whole usage went to stderr) */
    char *why = lw_test_cli_refusal("panel patching --receivers a.gguf", 2, "--receivers, --donors and --out are required");
    if (why) fail_msg("%s", why);
    why = lw_test_cli_refusal("panel probes --a a.gguf --b b.gguf --out x", 2, "--layer-a, --b, --layer-b, --bridge and --out");
    if (why) fail_msg("%s", why);
    why = lw_test_cli_refusal("panel patching --receivers a.gguf,a.gguf --donors b.gguf --out x", 2,
                                    "\"a.gguf\" is listed twice");
    if (why) fail_msg("%s", why);
    why = lw_test_cli_refusal("panel patching --receivers a.gguf --donors b.gguf --depths 0.5,1.5 --out x", 2,
                              "depth \"1.5\" is not a number in [0, 1]");
    if (why) fail_msg("%s", why);
    why = lw_test_cli_refusal("panel patching --receivers a.gguf --donors b.gguf --depths 0.5,0.5 --out x", 2,
                              "\"0.5\" is listed twice");
    if (why) fail_msg("%s", why);
    /* numeric lists refuse one value written two ways, and empty items, in one line */
    static const struct {
        const char *args, *needle;
    } lists[] = {
        {"panel patching --receivers a.gguf --donors b.gguf --depths 0.5,0.50 --out x",
         "\"0.5\" and \"0.50\" are the same depth (0.5)"},
        {"panel patching --receivers a.gguf --donors b.gguf --depths 0.5,,1 --out x", "item 2 is empty"},
        {"panel probes --a a.gguf --layer-a 1 --b b.gguf --layer-b 1 --bridge x --out y --sigmas 0.1,0.10",
         "\"0.1\" and \"0.10\" are the same noise level (0.1)"},
        {"panel probes --a a.gguf --layer-a 1 --b b.gguf --layer-b 1 --bridge x --out y --sigmas 1,1e0",
         "\"1\" and \"1e0\" are the same noise level (1)"},
        {"panel probes --a a.gguf --layer-a 1 --b b.gguf --layer-b 1 --bridge x --out y --sigmas 0.1,0.1",
         "\"0.1\" is listed twice"},
        {"panel probes --a a.gguf --layer-a 1 --b b.gguf --layer-b 1 --bridge x --out y --sigmas 0.1,",
         "item 2 is empty"},
        {"panel probes --a a.gguf --layer-a 1 --b b.gguf --layer-b 1 --bridge x --out y --sigmas 0.1,-1",
         "noise level \"-1\" is not a number in [0, 1e+06]"},
        {"panel probes --a a.gguf --layer-a 1 --b b.gguf --layer-b 1 --bridge x --out y --probes symbolic,symbolic",
         "\"symbolic\" is listed twice"},
        {"panel probes --a a.gguf --layer-a 1 --b b.gguf --layer-b 1 --bridge x --out y --probes all,chaining",
         "\"chaining\" names a probe already listed"},
        {"panel probes --a a.gguf --layer-a 1 --b b.gguf --layer-b 1 --bridge x --out y --probes chaining,",
         "item 2 is empty"},
    };
    for (size_t k = 0; k < sizeof lists / sizeof *lists; k++) {
        why = lw_test_cli_refusal(lists[k].args, 2, lists[k].needle);
        if (why) fail_msg("%s", why);
    }
    assert_int_not_equal(lw_test_run_cli("panel probes", &out, &err), 0);
    assert_non_null(strstr(err, "probes"));
    free(out);
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_panel_and_verdict),
        cmocka_unit_test(test_bad_options),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
