/* The probe panel's resumable embeddings (probe_records.h). Vectors are stored exactly: each float
 * as the 8 hex digits of its bits, one string per call. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/error.h"
#include "latentwire/files.h"
#include "panel/probe_internal.h"
#include "panel/probe_records.h"

static const char *const KEY[] = {"call"};

int lw_probe_records_open(lw_probe_records *r, const lw_probe_pair *pair, const lw_probe_params *p) {
    memset(r, 0, sizeof *r);
    if (!p->records_path) return p->resume ? lw_fail("probes: resume needs a records file (records_path)") : 0;
    /* the file is rewritten from its first call: records_path naming an MRPC file the probes read
     * (by a link, or ./) replaced the data set with a settings line; a directory is named here too */
    char train[4096], test[4096];
    const char *dir = p->mrpc_dir;
    if (dir) {
        snprintf(train, sizeof train, "%s/msr_paraphrase_train.txt", dir);
        snprintf(test, sizeof test, "%s/msr_paraphrase_test.txt", dir);
    }
    const char *inputs[] = {"the MRPC training file", dir ? train : NULL, "the MRPC test file", dir ? test : NULL, NULL};
    if (lw_output_check("records_path", p->records_path, LW_OUT_FILE, inputs) != 0) return -1;
    json_t *s = p->settings_json ? json_loads(p->settings_json, 0, NULL) : json_object();
    if (!json_is_object(s)) {
        json_decref(s);
        return lw_fail("probes: the settings given for the records are not a JSON object");
    }
    json_t *own = json_pack("{s:o, s:i, s:i, s:i, s:b}", "params", lw_probe_params_json(p), "probes", (int)p->probes,
                            "dim_a", pair->dim_a, "dim_b", pair->dim_b, "inverse_given", pair->inverse != NULL);
    if (!own || json_object_set_new(s, "probe_panel", own) != 0) {
        json_decref(s);
        return lw_fail("probes: out of memory");
    }
    int rc = p->resume ? lw_records_load(&r->past, p->records_path, s, KEY, 1, "vectors", "--resume", NULL) : 0;
    if (rc == 0 && !(r->fp = lw_records_open(p->records_path, s, &r->past))) rc = -1;
    json_decref(s);
    return rc;
}

static int hex_digit(char ch) {
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* n floats from their hex bits; false when the string is not exactly that, or a value is not finite. */
static bool decode(const char *hex, size_t n, float *out) {
    if (!hex || strlen(hex) != 8 * n) return false;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = 0;
        for (int k = 0; k < 8; k++) {
            int h = hex_digit(hex[8 * i + k]);
            if (h < 0) return false;
            u = u << 4 | (uint32_t)h;
        }
        memcpy(&out[i], &u, sizeof u);
        if (!(out[i] - out[i] == 0.0f)) return false; /* NaN or Inf: no embedding is */
    }
    return true;
}

int lw_probe_records_take(const lw_probe_records *r, const lw_probe_params *p, int call, int side,
                          const char *const *texts, int n, int d, float *out) {
    if (r->past.n == 0) return 0;
    char key[24];
    snprintf(key, sizeof key, "%d", call);
    json_t *o = lw_records_find(&r->past, key), *t = o ? json_object_get(o, "texts") : NULL;
    if (!o) return 0;
    const char *why = NULL;
    if (json_integer_value(json_object_get(o, "side")) != side || !json_is_integer(json_object_get(o, "side")) ||
        json_integer_value(json_object_get(o, "width")) != d)
        why = "its side or width is not this call's";
    else if (!json_is_array(t) || json_array_size(t) != (size_t)n)
        why = "it holds another number of texts";
    for (int i = 0; !why && i < n; i++)
        if (!json_is_string(json_array_get(t, i)) || strcmp(json_string_value(json_array_get(t, i)), texts[i]) != 0)
            why = "its texts are not this call's";
    if (!why && !decode(json_string_value(json_object_get(o, "vectors")), (size_t)n * (size_t)d, out))
        why = "its vectors are not n x width finite floats";
    if (why)
        return lw_fail("--resume: %s: embedding call %d: %s: the file was edited or made by another run; start over "
                       "without --resume", p->records_path, call, why);
    return 1;
}

int lw_probe_records_add(lw_probe_records *r, const lw_probe_params *p, int call, int side, const char *const *texts,
                         int n, int d, const float *v) {
    if (!r->fp) return 0;
    size_t m = (size_t)n * (size_t)d;
    char *hex = malloc(8 * m + 1);
    json_t *t = json_array();
    for (int i = 0; t && i < n; i++) json_array_append_new(t, json_string(texts[i]));
    for (size_t i = 0; hex && i < m; i++) {
        uint32_t u;
        memcpy(&u, &v[i], sizeof u);
        snprintf(hex + 8 * i, 9, "%08x", u);
    }
    if (hex) hex[8 * m] = '\0';
    if (t && json_array_size(t) != (size_t)n) { /* json_string refuses text that is not UTF-8 */
        json_decref(t);
        t = NULL;
    }
    json_t *line = hex && t ? json_pack("{s:i, s:i, s:i, s:O, s:s}", "call", call, "side", side, "width", d, "texts", t,
                                        "vectors", hex)
                            : NULL;
    int rc = line && lw_records_write(r->fp, line) == 0 ? 0 : lw_fail("%s: cannot append embedding call %d", p->records_path, call);
    json_decref(line);
    json_decref(t);
    free(hex);
    if (rc == 0) r->added++;
    return rc;
}

int lw_probe_records_close(lw_probe_records *r, const lw_probe_params *p, int rc) {
    if (r->fp && fclose(r->fp) != 0 && rc == 0) rc = lw_fail("%s: cannot write", p->records_path);
    if (r->fp && rc != 0 && r->added == 0 && r->past.n == 0) unlink(p->records_path);
    r->fp = NULL;
    lw_records_free(&r->past);
    return rc;
}
