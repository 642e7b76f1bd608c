/* latentwire inspect FILE.safetensors: tensors, metadata, and row statistics of F32
 * matrices (the quick look a person wants before loading a file elsewhere). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "latentwire/acts.h"
#include "latentwire/extract.h"
#include "latentwire/safetensors.h"

/* Called for 2-D F32 tensors only, for which lw_st_row_stats_of cannot fail. */
static void print_row_stats(const lw_st_tensor *t) {
    lw_st_row_stats st;
    if (lw_st_row_stats_of(t, &st) != 0) return;
    if (t->shape[0] > 0) printf("   row L2 norm mean %.4g  min %.4g  max %.4g", st.norm_mean, st.norm_min, st.norm_max);
    if (st.non_finite) printf("  NON-FINITE VALUES: %lld", (long long)st.non_finite);
}

/* A JSON number, or null where it is not finite (JSON has no NaN or Inf). */
static json_t *number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static int print_json(const char *path, lw_st_file *f) {
    json_t *tensors = json_array(), *meta = json_object();
    for (int i = 0; i < lw_st_count(f); i++) {
        const lw_st_tensor *t = lw_st_get(f, i);
        json_t *shape = json_array();
        for (int k = 0; k < t->n_dims; k++) json_array_append_new(shape, json_integer(t->shape[k]));
        json_t *o = json_pack("{s:o, s:s, s:o}", "name", cli_json_text(t->name), "dtype", lw_dtype_name(t->dtype),
                              "shape", shape);
        lw_st_row_stats st;
        if (t->dtype == LW_DT_F32 && t->n_dims == 2 && lw_st_row_stats_of(t, &st) == 0) {
            json_object_set_new(o, "row_norm",
                                json_pack("{s:o, s:o, s:o}", "mean", number(st.norm_mean), "min", number(st.norm_min),
                                          "max", number(st.norm_max)));
            json_object_set_new(o, "non_finite", json_integer(st.non_finite));
        }
        json_array_append_new(tensors, o);
    }
    for (int i = 0; i < lw_st_meta_count(f); i++) {
        const char *k = lw_st_meta_key(f, i);
        json_t *key = cli_json_text(k); /* keys as whole UTF-8 characters, like every string */
        json_object_set_new(meta, json_string_value(key), cli_json_text(lw_st_meta(f, k)));
        json_decref(key);
    }
    return cli_print_json("inspect", json_pack("{s:o, s:o, s:o}", "file", cli_json_text(path), "tensors", tensors,
                                               "metadata", meta));
}

static const char *USAGE =
    "usage: latentwire inspect FILE.safetensors [--json]\n"
    "  tensors (name, dtype, shape; row L2 norms of F32 matrices), then the metadata\n"
    "  --json   one JSON object on stdout, keys: file, tensors (per tensor: name, dtype, shape, and for F32\n"
    "           matrices row_norm {mean, min, max} and non_finite, the count of NaN/Inf values), metadata\n"
    "           (key -> value, both strings)\n";

int cmd_inspect(int argc, char **argv) {
    if (cli_options_once("inspect", USAGE, &argc, argv)) return 2;
    if (cli_wants_help(argc, argv)) {
        cli_print_help("inspect", USAGE);
        return 0;
    }
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = true;
        else if ((argv[i][0] == '-' && argv[i][1] == '-') || path) return cli_option_error("inspect", USAGE, argv[i], NULL);
        else path = argv[i];
    }
    /* one line, as every verb's usage error; --help prints the whole usage */
    if (!path) return cli_usage_fail("inspect", "no file given (%.*s)", (int)strcspn(USAGE, "\n"), USAGE);
    /* a shard set's name (what extract --out named and the other verbs read whole): its shards */
    int shards = access(path, F_OK) != 0 ? lw_acts_shard_count(path) : 0;
    if (shards < 0) return cli_fail_lib("inspect");
    if (shards > 0) {
        char first[4096];
        lw_extract_shard_path(path, 0, shards, first, sizeof first);
        if (json)
            return cli_fail("inspect", "%s is a shard set of %d files (%s, ...): give one shard's path with --json",
                            path, shards, first);
        cli_put_safe(stdout, path);
        printf(": a shard set of %d files, each below\n", shards);
        int rc = 0;
        for (int s = 0; rc == 0 && s < shards; s++) {
            char one[4096];
            lw_extract_shard_path(path, s, shards, one, sizeof one);
            char *args[2] = {argv[0], one};
            rc = cmd_inspect(2, args);
        }
        return rc;
    }
    lw_st_file *f = lw_st_open(path);
    if (!f) return cli_fail_lib("inspect");
    if (json) {
        int rc = print_json(path, f);
        lw_st_close(f);
        return rc;
    }
    cli_put_safe(stdout, path);
    printf(": %d tensor(s)\n", lw_st_count(f));
    for (int i = 0; i < lw_st_count(f); i++) {
        const lw_st_tensor *t = lw_st_get(f, i);
        printf("  ");
        cli_put_safe(stdout, t->name);
        printf("%*s %-4s [", strlen(t->name) < 12 ? (int)(12 - strlen(t->name)) : 0, "", lw_dtype_name(t->dtype));
        for (int k = 0; k < t->n_dims; k++) printf("%s%lld", k ? ", " : "", (long long)t->shape[k]);
        printf("]");
        if (t->dtype == LW_DT_F32 && t->n_dims == 2) print_row_stats(t);
        printf("\n");
    }
    for (int i = 0; i < lw_st_meta_count(f); i++) {
        const char *k = lw_st_meta_key(f, i);
        printf("  meta ");
        cli_put_safe(stdout, k);
        printf(" = ");
        cli_put_safe(stdout, lw_st_meta(f, k));
        printf("\n");
    }
    lw_st_close(f);
    return 0;
}
