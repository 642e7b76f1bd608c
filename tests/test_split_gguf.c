/* A model split into several GGUF files: latentwire reads weight matrices (the embedding
 * and output matrices) from the one file it is given, so a part of a split model must be
 * refused, not loaded with a missing output matrix silently taken for tied embeddings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gguf.h"
#include "latentwire/runtime.h"
#include "support/synth_model.h"
#include "support/testutil.h"

static void test_split_part_refused(void **state) {
    const char *whole = lw_test_tmpfile("whole.gguf"), *part = lw_test_tmpfile("part-00001-of-00002.gguf");
    lw_synth_params sp = lw_synth_default_params();
    sp.tied = false; /* an untied model: its output.weight would be in another part */
    assert_int_equal(lw_synth_write(whole, &sp), 0);
    lw_model *m = lw_model_load(whole, lw_model_default_params());
    assert_non_null(m);
    lw_model_info mi;
    lw_model_get_info(m, &mi);
    assert_false(mi.tied_embeddings);
    lw_model_free(m);

    /* the same model with the split keys llama-gguf-split writes into each part: the new
     * header (metadata only), then the original file's tensor data, whose offsets are
     * relative to the data section and so unchanged */
    struct gguf_init_params gp = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *g = gguf_init_from_file(whole, gp);
    assert_non_null(g);
    size_t data_off = gguf_get_data_offset(g);
    gguf_set_val_u16(g, "split.no", 0);
    gguf_set_val_u16(g, "split.count", 2);
    gguf_set_val_i32(g, "split.tensors.count", (int32_t)gguf_get_n_tensors(g));
    assert_true(gguf_write_to_file(g, part, true));
    gguf_free(g);
    FILE *in = fopen(whole, "rb"), *out = fopen(part, "ab");
    assert_non_null(in);
    assert_non_null(out);
    assert_int_equal(fseek(in, (long)data_off, SEEK_SET), 0);
    char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0) assert_int_equal(fwrite(buf, 1, got, out), got);
    fclose(in);
    fclose(out);

    m = lw_model_load(part, lw_model_default_params());
    assert_null(m);
    const char *err = lw_last_error();
    assert_non_null(strstr(err, "split into 2 GGUF files"));
    assert_non_null(strstr(err, "merge"));
    assert_non_null(strstr(err, part));
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_split_part_refused)};
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
