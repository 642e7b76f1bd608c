/* Bridges on activation files (`latentwire bridge fit` and `bridge apply` as library calls): the
 * rows of two extract files paired by row id, the bridge fitted and saved with where it was
 * fitted (the files, tensors, models' sha256, pooling, texts and the calibration rows' ids), so
 * that every later use can be checked against it (lw_bridge_check_fit); and a file's rows mapped
 * through a bridge into a new file, after that check. A C or Python caller gets the same bridge
 * files and the same checks as the CLI. Messages name the options (--source, --out). */
#ifndef LATENTWIRE_BRIDGE_FILES_H
#define LATENTWIRE_BRIDGE_FILES_H

#include <stdbool.h>
#include <stdint.h>

#include "latentwire/acts.h"
#include "latentwire/bridge.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a caller may want said beside the result (rows left without a partner, files of other
 * texts, a rank lowered to what the data allow, files without latentwire metadata): one line each,
 * without "note: ". */
typedef void (*lw_bridge_note_fn)(const char *note, void *user);

typedef struct {
    const char *source, *source_tensor;  /* model A's activation file and tensor ("layer.9") */
    const char *target, *target_tensor;  /* model B's */
    lw_join_mode pairing;                /* LW_JOIN_ROW_ID (default): unique row ids in each file;
                                            LW_JOIN_ROW_POSITION: two --pool none files of one tokenizer */
    lw_bridge_params bridge;             /* the recipe and its settings */
    const char *out;                     /* the bridge file (checked before anything is read: none of the
                                            inputs); NULL: not saved */
    lw_bridge_note_fn on_note;
    void *user;
} lw_bridge_fit_files_params;

lw_bridge_fit_files_params lw_bridge_fit_files_default_params(void);

typedef struct {
    lw_bridge *bridge;                   /* the caller's (lw_bridge_free) */
    int64_t n_paired;                    /* rows the fit used */
    int d_source, d_target;
} lw_bridge_fit_files_result;

/* Fits and (when p->out) saves. 0, or -1 with one message (fewer than 2 paired rows, a row id
 * twice, an output that is an input...) and nothing written. */
int lw_bridge_fit_files(const lw_bridge_fit_files_params *p, lw_bridge_fit_files_result *out);

typedef struct {
    const char *bridge;                  /* the bridge file */
    const char *input, *tensor;          /* the rows to map */
    bool target_side;                    /* map as the bridge's target side (default: source) */
    const char *out;                     /* MAPPED.safetensors: tensors "mapped" (n x out_dim) and "row_id" */
    lw_bridge_note_fn on_note;
    void *user;
} lw_bridge_apply_file_params;

/* Maps the rows after checking the width and lw_bridge_check_fit (the tensor, the file's model and
 * pooling against the bridge's record). *n_rows and *dim (may be NULL) get what was written. 0 or
 * -1 (message; nothing written; an input with no rows is refused). */
int lw_bridge_apply_file(const lw_bridge_apply_file_params *p, int64_t *n_rows, int *dim);

#ifdef __cplusplus
}
#endif
#endif
