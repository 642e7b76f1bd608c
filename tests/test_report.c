/* The report's primitives and errors (src/report): escaping against hand-written expected bytes,
 * point positions against the closed form of the documented layout, and bad inputs refused with
 * the file named and nothing written. The page against its inputs and in a browser:
 * tests/python/report_check.py, report_browser.py. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "latentwire/report.h"
#include "report/html.h"
#include "support/testutil.h"

static const char *escaped(const char *s) {
    static lw_html h;
    lw_html_free(&h);
    lw_html_text(&h, s);
    return h.s ? h.s : "";
}

static void test_escaping(void **state) {
    (void)state;
    assert_string_equal(escaped("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;");
    assert_string_equal(escaped("\"><img src=x onerror=alert(1)>"), "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;");
    assert_string_equal(escaped("a'b&c"), "a&#39;b&amp;c");
    assert_string_equal(escaped("tab\there\nline"), "tab\there\nline");
    /* a byte that is no UTF-8 and a C0 control character become U+FFFD; whole characters stay */
    assert_string_equal(escaped("x\xff" "y\x01z \xc3\xa9"), "x\xef\xbf\xbdy\xef\xbf\xbdz \xc3\xa9");
    lw_html h = {0};
    lw_html_textf(&h, "%s=%d", "<b>", 3);
    assert_string_equal(h.s, "&lt;b&gt;=3");
    lw_html_free(&h);
}

/* The attribute value after `name="` in s, as a number. */
static double attr(const char *s, const char *name) {
    char key[64];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *p = strstr(s, key);
    assert_non_null(p);
    return strtod(p + strlen(key), NULL);
}

/* The layout (html.c): plot from x = 64 to 660 and y = 330 (bottom) to 30 (top); a log2 x axis is
 * padded by 0.3 on each side in log2 units; y from 0 to 1 given. So x = 16 sits at
 * 64 + (4 - 3.7) / 6.6 * 596 and x = 1024 at 64 + (10 - 3.7) / 6.6 * 596; y = 0.25 at 330 - 75. */
static void test_positions_closed_form(void **state) {
    (void)state;
    lw_plot_point pts[] = {{16, 0.25, 0.2, 0.3, NULL}, {1024, 1.0, NAN, NAN, NULL}};
    lw_plot_series s = {.name = "s", .pts = pts, .n = 2};
    lw_plot_ref ref = {.name = "floor", .y = 0.5, .lo = NAN, .hi = NAN};
    lw_plot p = {.title = "t", .x_label = "bits", .y_label = "acc", .log2_x = true, .y_min = 0, .y_max = 1,
                 .series = &s, .n_series = 1, .refs = &ref, .n_refs = 1};
    lw_html h = {0};
    assert_int_equal(lw_svg_curve(&h, &p), 0);
    const char *c1 = strstr(h.s, "<circle class=\"pt\""), *c2 = strstr(c1 + 1, "<circle class=\"pt\"");
    assert_non_null(c2);
    assert_true(fabs(attr(c1, "cx") - (64 + 0.3 / 6.6 * 596)) < 0.01);
    assert_true(fabs(attr(c1, "cy") - (330 - 0.25 * 300)) < 0.01);
    assert_true(fabs(attr(c2, "cx") - (64 + 6.3 / 6.6 * 596)) < 0.01);
    assert_true(fabs(attr(c2, "cy") - 30) < 0.01);
    assert_true(attr(c1, "data-lo") == 0.2 && attr(c1, "data-hi") == 0.3);
    assert_null(strstr(c2, "data-lo")); /* no interval, no bar */
    const char *r = strstr(h.s, "<line class=\"ref\"");
    assert_true(fabs(attr(r, "y1") - 180) < 0.01 && attr(r, "data-y") == 0.5);
    assert_true(attr(h.s, "data-px0") == 64 && attr(h.s, "data-px1") == 660 && attr(h.s, "data-xlog") == 1);
    assert_true(fabs(attr(h.s, "data-xmin") - exp2(3.7)) < 1e-9 && fabs(attr(h.s, "data-xmax") - exp2(10.3)) < 1e-9);
    lw_html_free(&h);
    /* x = 0 has no place on a log2 axis: an error naming the series, nothing drawn */
    pts[0].x = 0;
    assert_int_equal(lw_svg_curve(&h, &p), -1);
    assert_non_null(strstr(lw_last_error(), "log2"));
    pts[0].x = 16;
    pts[0].y = INFINITY;
    assert_int_equal(lw_svg_curve(&h, &p), -1);
    assert_non_null(strstr(lw_last_error(), "non-finite"));
    lw_html_free(&h);
}

static const char *write_file(const char *name, const char *text) {
    const char *path = lw_test_tmpfile(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Each bad input: NULL, the message names the file (and what), lw_report_write leaves nothing. */
static void expect_refused(const char *path, const char *what) {
    const char *in[] = {path};
    assert_null(lw_report_html(in, 1, NULL));
    assert_non_null(strstr(lw_last_error(), path));
    assert_non_null(strstr(lw_last_error(), what));
    const char *dir = lw_test_fresh_dir("report_out");
    const char *out = lw_test_join(dir, "r.html");
    assert_int_equal(lw_report_write(in, 1, out, NULL), -1);
    assert_int_equal(lw_test_dir_entries(dir), 0); /* no page, no temporary */
}

/* lw_report_write never writes its page over one of its inputs (it did, returning 0). */
static void test_output_is_not_an_input(void **state) {
    (void)state;
    const char *text = "{\"format\": \"latentwire.race/1\", \"series\": [{\"name\": \"a\", \"points\": "
                       "[{\"x\": 16, \"y\": 0.5}]}]}";
    const char *path = write_file("self.json", text);
    const char *in[] = {path};
    char *page = lw_report_html(in, 1, NULL); /* a result the report reads */
    if (!page) fail_msg("%s", lw_last_error());
    free(page);
    assert_int_equal(lw_report_write(in, 1, path, NULL), -1);
    assert_non_null(strstr(lw_last_error(), "-o"));
    FILE *f = fopen(path, "rb");
    char got[512] = "";
    assert_non_null(f);
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    got[n] = '\0';
    assert_string_equal(got, text);
}

static void test_bad_inputs(void **state) {
    (void)state;
    expect_refused(write_file("unknown.json", "{\"hello\": 1}\n"), "not a result the report knows");
    expect_refused(write_file("notjson.json", "abc\n"), "not JSON");
    expect_refused(write_file("torn.jsonl", "{\"condition\": \"text\", \"id\": \"1\", \"score\": 1}\n{\"condi\n"),
                   "line 2");
    expect_refused(write_file("empty.json", "\n\n"), "empty");
    expect_refused(write_file("race-nox.json", "{\"format\": \"latentwire.race/1\", \"series\": [{\"name\": \"a\", "
                                               "\"points\": [{\"y\": 0.5}]}]}"),
                   "series[0].points[0].x");
    expect_refused(write_file("race-zero.json", "{\"format\": \"latentwire.race/1\", \"series\": [{\"name\": \"a\", "
                                                "\"points\": [{\"x\": 0, \"y\": 0.5}]}]}"),
                   "log2");
    expect_refused(write_file("scan-lo.json", "{\"format\": \"latentwire.scan/1\", \"series\": [{\"name\": \"a\", "
                                              "\"points\": [{\"x\": 1, \"y\": 0.5, \"lo\": 0.4}]}]}"),
                   "lo and hi together");
    expect_refused(write_file("verdict-bad.json", "{\"plan_sha256\": \"ab\", \"n_records\": 1, \"hypotheses\": [{\"id\": \"H1\", "
                                                  "\"verdict\": \"MAYBE\"}]}"),
                   "PASS, FAIL or INCONCLUSIVE");
    /* a verdict's numbers that cannot be (p -3, p_adjusted 7, n 0), and no hypothesis at all */
    static const char ok_ci[] = "\"ci\": {\"lo\": 0.5, \"hi\": 1, \"level\": 0.95, \"method\": \"m\"}";
    char doc[1024];
    snprintf(doc, sizeof doc, "{\"plan_sha256\": \"ab\", \"n_records\": 1, \"hypotheses\": [{\"id\": \"H\", \"verdict\": \"PASS\", "
             "\"estimate\": 0.7, %s, \"p\": -3, \"p_adjusted\": 7, \"n\": 10}]}", ok_ci);
    expect_refused(write_file("verdict-p.json", doc), "hypotheses[0].p = -3 is not a p-value");
    snprintf(doc, sizeof doc, "{\"plan_sha256\": \"ab\", \"n_records\": 1, \"hypotheses\": [{\"id\": \"H\", \"verdict\": \"PASS\", "
             "\"estimate\": 0.7, %s, \"p\": 0.5, \"p_adjusted\": 0.2, \"n\": 10}]}", ok_ci);
    expect_refused(write_file("verdict-p2.json", doc), "need 0 <= p <= p_adjusted <= 1");
    /* p-values and bits anywhere in a result (an edited race.json drew a p of 7, a negative payload,
     * and an axis ending at inf) */
    static const char *const named[][2] = {{"\"p_value\": 7", "p_value = 7 is not a p-value"},
                                           {"\"payload_bits_mean\": -3", "payload_bits_mean = -3 is not a number of bits"},
                                           {"\"payload_bits_mean\": 1e308", "payload_bits_mean = 1e+308 is not a number of bits"}};
    for (size_t k = 0; k < sizeof named / sizeof named[0]; k++) {
        snprintf(doc, sizeof doc, "{\"format\": \"latentwire.race/1\", \"series\": [{\"name\": \"a\", \"points\": "
                 "[{\"x\": 16, \"y\": 0.5, %s}]}]}", named[k][0]);
        expect_refused(write_file("named.json", doc), named[k][1]);
    }
    snprintf(doc, sizeof doc, "{\"plan_sha256\": \"ab\", \"n_records\": 1, \"hypotheses\": [{\"id\": \"H\", \"verdict\": \"PASS\", "
             "\"estimate\": 0.7, %s, \"p\": 0.01, \"p_adjusted\": 0.02, \"n\": 0}]}", ok_ci);
    expect_refused(write_file("verdict-n.json", doc), "is not a count of items");
    /* a verdict its own numbers contradict: PASS at p_adjusted 0.9 with alpha 0.05 was drawn as PASS
     * beside the note "PASS: adjusted p <= alpha = 0.05" (an edited file), and FAIL at 0.01 */
    snprintf(doc, sizeof doc, "{\"plan_sha256\": \"ab\", \"alpha\": 0.05, \"n_records\": 1, \"hypotheses\": [{\"id\": \"H\", "
             "\"verdict\": \"PASS\", \"estimate\": 0.7, %s, \"p\": 0.9, \"p_adjusted\": 0.9, \"n\": 10}]}", ok_ci);
    expect_refused(write_file("verdict-pass.json", doc), "hypotheses[0].verdict PASS with p_adjusted 0.9 and alpha 0.05");
    snprintf(doc, sizeof doc, "{\"plan_sha256\": \"ab\", \"alpha\": 0.05, \"n_records\": 1, \"hypotheses\": [{\"id\": \"H\", "
             "\"verdict\": \"FAIL\", \"estimate\": 0.7, %s, \"p\": 0.01, \"p_adjusted\": 0.01, \"n\": 10}]}", ok_ci);
    expect_refused(write_file("verdict-fail.json", doc), "hypotheses[0].verdict FAIL with p_adjusted 0.01 and alpha 0.05");
    expect_refused(write_file("verdict-none.json", "{\"plan_sha256\": \"ab\", \"n_records\": 1, \"hypotheses\": []}"), "empty");
    /* x past what the axis arithmetic takes: the page drew cx="-nan" and an axis ending at inf */
    expect_refused(write_file("scan-huge.json", "{\"format\": \"latentwire.scan/1\", \"series\": [{\"name\": \"a\", "
                                                "\"points\": [{\"x\": -1e308, \"y\": 0.5}, {\"x\": 1e308, \"y\": 0.5}]}]}"),
                   "x = -1e+308 is beyond what a figure can draw");
    expect_refused(write_file("race-tiny.json", "{\"format\": \"latentwire.race/1\", \"series\": [{\"name\": \"a\", "
                                                "\"points\": [{\"x\": 1e-308, \"y\": 0.5}, {\"x\": 16, \"y\": 0.5}]}]}"),
                   "x = 1e-308 is beyond what a figure can draw");
    /* a channel cost no run writes (1e308 seconds was drawn as "inf" ms), in records and in a summary */
    expect_refused(write_file("cost.jsonl", "{\"condition\": \"text\", \"id\": \"1\", \"score\": 1, \"cost\": "
                                            "{\"message_bytes\": 3, \"wall_s\": 0.5}}\n"
                                            "{\"condition\": \"text\", \"id\": \"2\", \"score\": 1, \"cost\": "
                                            "{\"message_bytes\": 3, \"wall_s\": 1e308}}\n"),
                   "record[1].cost.wall_s is 1e+308: a run writes seconds in [0, 1e9)");
    expect_refused(write_file("cost.json", "{\"settings\": {}, \"differences\": {}, \"conditions\": {\"text\": "
                                           "{\"accuracy\": {\"mean\": 1, \"lo\": 0.5, \"hi\": 1, \"n\": 4}, "
                                           "\"mean_cost\": {\"message_bytes\": -2, \"wall_s\": 0.1}}}}\n"),
                   "conditions.text.mean_cost.message_bytes is -2");
    const char *missing = lw_test_tmpfile("no-such-result.json");
    remove(missing);
    expect_refused(missing, "No such file");
    const char *again = strstr(lw_last_error(), missing) + strlen(missing);
    assert_null(strstr(again, missing)); /* named once */
    const char *none[] = {NULL};
    assert_null(lw_report_html(none, 0, NULL));
}

/* A good page: one section per file, the renderer's kind on it, CSP against scripts. */
static void test_page(void **state) {
    (void)state;
    const char *race = write_file("ok-race.json", "{\"format\": \"latentwire.race/1\", \"title\": \"<b>\", "
                                                  "\"series\": [{\"name\": \"act\", \"points\": [{\"x\": 16, \"y\": "
                                                  "0.5, \"lo\": 0.4, \"hi\": 0.6, \"n\": 10}]}], \"floor\": {\"y\": "
                                                  "0.2}}");
    /* the same content in a second file (one file given twice is refused) */
    char *text = lw_test_read_file(race);
    assert_non_null(text);
    const char *race2 = write_file("ok-race2.json", text);
    free(text);
    const char *in[] = {race, race2};
    char *page = lw_report_html(in, 2, NULL);
    assert_non_null(page);
    assert_non_null(strstr(page, "Content-Security-Policy"));
    assert_non_null(strstr(page, "data-kind=\"race\""));
    assert_non_null(strstr(strstr(page, "data-kind=\"race\"") + 1, "data-kind=\"race\""));
    assert_non_null(strstr(page, "&lt;b&gt;"));
    assert_null(strstr(page, "<b>"));
    assert_null(strstr(page, "<script"));
    assert_null(strstr(page, "no data points"));
    free(page);
    /* a document with no rows says so under its empty axes (it drew them with nothing else) */
    const char *empty = write_file("empty-race.json", "{\"format\": \"latentwire.race/1\", \"series\": []}");
    const char *in_empty[] = {empty};
    page = lw_report_html(in_empty, 1, NULL);
    assert_non_null(page);
    assert_non_null(strstr(page, "This figure has no data points"));
    free(page);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_positions_closed_form),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_output_is_not_an_input),
        cmocka_unit_test(test_page),
    };
    return lw_test_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
