/* The row-id join of two activation files (lw_join_rows), in the library and through
 * `bridge fit` and `retrieval`: a row id that occurs twice in a file (a --pool none file has
 * a row per token) is refused, naming the file and the first duplicated id, unless the user
 * pairs two --pool none files of one tokenizer by (row_id, position) with --by-position. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/rows.h"
#include "latentwire/safetensors.h"
#include "support/synth_model.h"
#include "support/testutil.h"

/* Pairs by the definition, by brute force: for each i of a in order, the j of b with equal key. */
static int64_t naive_join(const lw_row_keys *a, const lw_row_keys *b, bool pos, int64_t *ia, int64_t *ib) {
    int64_t n = 0;
    for (int64_t i = 0; i < a->n; i++)
        for (int64_t j = 0; j < b->n; j++)
            if (a->row_id[i] == b->row_id[j] && (!pos || a->position[i] == b->position[j])) {
                ia[n] = i, ib[n++] = j;
                break;
            }
    return n;
}

static void test_join_unique_ids(void **state) {
    (void)state;
    int64_t ida[] = {5, 3, 9, 1, 7, 2}, idb[] = {7, 1, 4, 5, 8, 3, 0};
    lw_row_keys a = {.label = "a.st", .row_id = ida, .n = 6}, b = {.label = "b.st", .row_id = idb, .n = 7};
    int64_t *ia, *ib, wa[6], wb[6];
    int64_t n = lw_join_rows(&a, &b, LW_JOIN_ROW_ID, &ia, &ib);
    int64_t want = naive_join(&a, &b, false, wa, wb);
    assert_int_equal(n, want);
    assert_int_equal(n, 4); /* 5, 3, 1, 7 */
    assert_memory_equal(ia, wa, sizeof(int64_t) * (size_t)n);
    assert_memory_equal(ib, wb, sizeof(int64_t) * (size_t)n);
    free(ia);
    free(ib);
}

static void test_join_refuses_duplicates(void **state) {
    (void)state;
    /* in file order the first id seen twice is 4 (rows 1 and 3), though 2 sorts first */
    int64_t ida[] = {0, 4, 2, 4, 2, 4}, idb[] = {0, 1, 2, 3, 4};
    lw_row_keys a = {.label = "pooled-none.safetensors", .row_id = ida, .n = 6},
                b = {.label = "b.safetensors", .row_id = idb, .n = 5};
    int64_t *ia, *ib;
    assert_int_equal(lw_join_rows(&a, &b, LW_JOIN_ROW_ID, &ia, &ib), -1);
    free(ia);
    free(ib);
    const char *e = lw_last_error();
    if (!strstr(e, "pooled-none.safetensors: row_id 4 is on rows 1 and 3")) fail_msg("message: %s", e);
    /* the same in the second file */
    assert_int_equal(lw_join_rows(&b, &a, LW_JOIN_ROW_ID, &ia, &ib), -1);
    free(ia);
    free(ib);
    assert_non_null(strstr(lw_last_error(), "pooled-none.safetensors: row_id 4"));
}

static void test_join_by_position(void **state) {
    (void)state;
    /* two texts of 3 and 2 tokens; b lists them in another order and lacks (1, 1) */
    int64_t ida[] = {0, 0, 0, 1, 1}, idb[] = {1, 0, 0, 0};
    int32_t pa[] = {0, 1, 2, 0, 1}, pb[] = {0, 2, 1, 0};
    int32_t ta[] = {10, 11, 12, 20, 21}, tb[] = {20, 12, 11, 10};
    lw_row_keys a = {.label = "a", .row_id = ida, .position = pa, .token = ta, .n = 5},
                b = {.label = "b", .row_id = idb, .position = pb, .token = tb, .n = 4};
    int64_t *ia, *ib, wa[5], wb[5];
    int64_t n = lw_join_rows(&a, &b, LW_JOIN_ROW_POSITION, &ia, &ib);
    assert_int_equal(n, naive_join(&a, &b, true, wa, wb));
    assert_int_equal(n, 4);
    assert_memory_equal(ia, wa, sizeof(int64_t) * 4);
    assert_memory_equal(ib, wb, sizeof(int64_t) * 4);
    free(ia);
    free(ib);
    /* another tokenizer: the same (row, position) holds another token */
    tb[2] = 99;
    assert_int_equal(lw_join_rows(&a, &b, LW_JOIN_ROW_POSITION, &ia, &ib), -1);
    free(ia);
    free(ib);
    assert_non_null(strstr(lw_last_error(), "row_id 0 position 1 holds token 11 in a but 99 in b"));
    /* files without positions cannot be paired so */
    lw_row_keys c = {.label = "pooled.st", .row_id = idb, .n = 4};
    assert_int_equal(lw_join_rows(&a, &c, LW_JOIN_ROW_POSITION, &ia, &ib), -1);
    free(ia);
    free(ib);
    assert_non_null(strstr(lw_last_error(), "pooled.st: no \"position\""));
}

static char *run(const char *args, int *rc, char **err) {
    char *o;
    *rc = lw_test_run_cli(args, &o, err);
    return o;
}

/* Two --pool none extracts of the same texts by two models of one tokenizer (the synthetic
 * models share their vocabulary): a row-id join is refused; --by-position pairs every token. */
static void test_cli_pool_none(void **state) {
    (void)state;
    const char *dir = lw_test_fresh_dir("rowjoin");
    char ma[1300], mb[1300], corpus[1300], xa[1300], xb[1300], br[1300], args[8192];
    lw_synth_params p = lw_synth_default_params();
    snprintf(ma, sizeof ma, "%s/a.gguf", dir);
    assert_int_equal(lw_synth_write(ma, &p), 0);
    p.n_embd = 96, p.n_head = 6, p.n_head_kv = 3, p.seed = 7;
    snprintf(mb, sizeof mb, "%s/b.gguf", dir);
    assert_int_equal(lw_synth_write(mb, &p), 0);
    snprintf(corpus, sizeof corpus, "%s/texts.txt", dir);
    FILE *f = fopen(corpus, "w");
    for (int i = 0; i < 12; i++) fprintf(f, "the cat %d sat on mat %d\n", i, i * 3);
    fclose(f);
    snprintf(xa, sizeof xa, "%s/a.safetensors", dir);
    snprintf(xb, sizeof xb, "%s/b.safetensors", dir);
    snprintf(br, sizeof br, "%s/ab.safetensors", dir);
    int rc;
    char *o, *e;
    const char *m[2] = {ma, mb}, *x[2] = {xa, xb};
    for (int k = 0; k < 2; k++) {
        snprintf(args, sizeof args, "extract --model %s --layers 1 --pool none --input %s --out %s", m[k], corpus, x[k]);
        o = run(args, &rc, &e);
        if (rc != 0) fail_msg("%s: %s", args, e);
        free(o);
        free(e);
    }
    lw_st_file *fa = lw_st_open(xa);
    assert_non_null(fa);
    int64_t rows = lw_st_find(fa, "row_id")->shape[0];
    const int64_t *ids = lw_st_find(fa, "row_id")->data;
    /* the first row id seen twice: text 0's second token, on row 1 */
    assert_true(rows > 12);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[1], 0);
    lw_st_close(fa);

    snprintf(args, sizeof args, "bridge fit --source %s --source-tensor layer.1 --target %s --target-tensor layer.1 --out %s",
             xa, xb, br);
    o = run(args, &rc, &e);
    char want[1400];
    snprintf(want, sizeof want, "%s: row_id 0 is on rows 0 and 1", xa);
    if (rc == 0 || !strstr(e, want) || strchr(e, '\n') != strrchr(e, '\n'))
        fail_msg("%s: exit %d, stderr: %s", args, rc, e);
    assert_false(lw_test_file_exists(br));
    free(o);
    free(e);
    snprintf(args, sizeof args, "retrieval --queries %s --query-tensor layer.1 --candidates %s --candidate-tensor layer.1",
             xa, xa);
    o = run(args, &rc, &e);
    if (rc == 0 || !strstr(e, want)) fail_msg("%s: exit %d, stderr: %s", args, rc, e);
    free(o);
    free(e);

    /* explicit pairing by (row_id, position): every token row pairs */
    snprintf(args, sizeof args,
             "bridge fit --source %s --source-tensor layer.1 --target %s --target-tensor layer.1 --by-position --out %s",
             xa, xb, br);
    o = run(args, &rc, &e);
    if (rc != 0) fail_msg("%s: %s", args, e);
    snprintf(want, sizeof want, "on %lld paired rows (64 -> 96", (long long)rows);
    if (!strstr(o, want)) fail_msg("%s printed %s (expected \"%s\")", args, o, want);
    free(o);
    free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join_unique_ids),
        cmocka_unit_test(test_join_refuses_duplicates),
        cmocka_unit_test(test_join_by_position),
        cmocka_unit_test(test_cli_pool_none),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
