/* `latentwire race retrieval` as one call (latentwire/race_experiment.h): the passages read, the
 * outputs checked before any forward pass, the settings fingerprinted for --resume, and the two
 * result files written. The test itself is lw_codec_retrieval (codec_retrieval.c). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/error.h"
#include "latentwire/files.h"
#include "latentwire/json.h"
#include "latentwire/race_experiment.h"
#include "latentwire/textio.h"
#include "race/race_internal.h"

lw_codec_retrieval_experiment_params lw_codec_retrieval_experiment_default_params(void) {
    return (lw_codec_retrieval_experiment_params){.field = "text", .layer = "mid", .n_scored = 1000, .n_calib = 200,
                                                  .test = lw_codec_retrieval_default_params()};
}

static const char *const OUTPUTS[] = {"retrieval.json", "retrieval.csv", "retrieval.partial", NULL};

int lw_codec_retrieval_experiment_check_outputs(const lw_codec_retrieval_experiment_params *p) {
    if (!p) return lw_fail("race retrieval: no parameters");
    if (!p->out_dir || !*p->out_dir) return lw_fail("race retrieval: no output directory (--out)");
    if (!p->passages) return lw_fail("race retrieval: no passages file (--passages)");
    /* the passages first, then the caller's pairs: an output may be none of them */
    int n = 0;
    while (p->inputs && p->inputs[n]) n += 2;
    const char **inputs = malloc(sizeof *inputs * (size_t)(n + 3));
    if (!inputs) return lw_fail("race retrieval: out of memory");
    inputs[0] = "--passages", inputs[1] = p->passages;
    for (int i = 0; i < n; i++) inputs[2 + i] = p->inputs[i];
    inputs[n + 2] = NULL;
    int rc = lw_output_dir_check("--out", p->out_dir, OUTPUTS, inputs);
    free(inputs);
    return rc;
}

/* What a run's rows depend on beyond what lw_codec_retrieval records itself (layer, counts, seed,
 * threshold, level, the drawn passages): the model and the passages by their bytes, so the same
 * files by another path (moved, linked) resume, and the field. lw_json_text keeps a path that is
 * not UTF-8 (json_string gave NULL for it, and the fingerprint lost the entry). */
static char *settings_text(const lw_codec_retrieval_experiment_params *p) {
    const lw_model *m = lw_session_model(p->session);
    const char *sha = lw_model_sha256(m);
    char passages_sha[65];
    json_t *settings = json_object();
    if (!settings) return NULL;
    json_object_set_new(settings, "--model", lw_json_text(sha ? sha : p->model_name));
    json_object_set_new(settings, "--passages", lw_sha256_file(p->passages, passages_sha) == 0
                                                    ? json_string(passages_sha)
                                                    : lw_json_text(p->passages));
    json_object_set_new(settings, "--field", lw_json_text(p->field ? p->field : "text"));
    lw_json_settings_gpu_layers(settings, &m, 1);
    char *text = json_dumps(settings, JSON_COMPACT);
    json_decref(settings);
    return text;
}

int lw_codec_retrieval_experiment_run(const lw_codec_retrieval_experiment_params *p, char **result_json, char **csv) {
    if (result_json) *result_json = NULL;
    if (csv) *csv = NULL;
    if (!p || !p->session) return lw_fail("race retrieval: no %s", !p ? "parameters" : "session");
    if (lw_codec_retrieval_experiment_check_outputs(p) != 0) return -1;
    lw_model_info info;
    lw_model_get_info(lw_session_model(p->session), &info);
    lw_codec_retrieval_params test = p->test;
    if (lw_race_resolve_layer("--layer", p->layer ? p->layer : "mid", info.n_layer, &test.layer) != 0) return -1;
    lw_corpus corpus = {0};
    if (lw_corpus_load(&corpus, p->passages, p->field ? p->field : "text") != 0) return -1;
    if (corpus.n > 0x7fffffff) {
        lw_corpus_free(&corpus);
        return lw_fail("race retrieval: %s: %lld passages: at most 2^31 - 1 are read", p->passages,
                       (long long)corpus.n);
    }
    size_t n = strlen(p->out_dir) + 32;
    char *records = malloc(n), *json_path = malloc(n), *csv_path = malloc(n), *settings = settings_text(p);
    char *result = NULL, *table = NULL, *created = NULL;
    int rc = records && json_path && csv_path && settings ? 0 : lw_fail("race retrieval: out of memory");
    if (rc == 0) {
        snprintf(records, n, "%s/retrieval.partial", p->out_dir);
        snprintf(json_path, n, "%s/retrieval.json", p->out_dir);
        snprintf(csv_path, n, "%s/retrieval.csv", p->out_dir);
        test.records_path = records;
        test.settings_json = settings;
        test.resume = p->resume;
        rc = lw_mkdir_p_created(p->out_dir, &created);
    }
    if (rc == 0)
        rc = lw_codec_retrieval(p->session, (const char *const *)corpus.texts, (int)corpus.n, p->n_scored, p->n_calib,
                                p->codecs, p->n_codecs, p->budgets, p->n_budgets, &test, &result);
    if (rc == 0 && !(table = lw_codec_retrieval_csv(result))) rc = -1;
    /* the two files together or not at all: a csv beside an older json would disagree with it */
    if (rc == 0 && lw_atomic_group_begin() == 0) {
        rc = lw_write_text_file(json_path, result) == 0 && lw_write_text_file(csv_path, table) == 0 ? 0 : -1;
        if (lw_atomic_group_end(rc == 0) != 0) rc = -1;
    } else if (rc == 0) rc = -1;
    /* a directory this call made and a refused run left empty goes again (rows kept stay) */
    if (rc != 0 && created) lw_rmdir_created(p->out_dir, created);
    if (rc == 0 && result_json) *result_json = result, result = NULL;
    if (rc == 0 && csv) *csv = table, table = NULL;
    free(result), free(table), free(records), free(json_path), free(csv_path), free(settings), free(created);
    lw_corpus_free(&corpus);
    return rc;
}
