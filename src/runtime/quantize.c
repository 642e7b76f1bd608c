/* A re-quantized copy of a GGUF model (lw_model_quantize): the versioning probe's second
 * "version" of a model is the same weights at another quantization, labelled as quantization
 * drift. llama_model_quantize with allow_requantize: a model that is already quantized (the
 * fetched Gemma 3 270M is Q4_K_M, SmolLM2 Q4_1) is requantized from its quantized weights. Written to a temporary name in
 * the output's directory and renamed, so a failed run leaves nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "latentwire/files.h"
#include "latentwire/runtime.h"
#include "llama.h"
#include "runtime/internal.h"

static const struct {
    const char *name;
    enum llama_ftype ftype;
} TYPES[] = {{"f16", LLAMA_FTYPE_MOSTLY_F16},       {"q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},
             {"q5_k_m", LLAMA_FTYPE_MOSTLY_Q5_K_M}, {"q4_k_m", LLAMA_FTYPE_MOSTLY_Q4_K_M},
             {"q4_0", LLAMA_FTYPE_MOSTLY_Q4_0}};
#define N_TYPES (int)(sizeof TYPES / sizeof TYPES[0])

int lw_model_quantize(const char *in_path, const char *out_path, const char *type, int n_threads) {
    int t = -1;
    for (int k = 0; type && k < N_TYPES; k++)
        if (!strcmp(type, TYPES[k].name)) t = k;
    if (t < 0) return lw_fail("unknown type '%s' (f16, q8_0, q5_k_m, q4_k_m or q4_0)", type ? type : "");
    if (access(in_path, R_OK) != 0) return lw_fail("cannot read the model %s", in_path);
    const char *inputs[] = {"MODEL", in_path, NULL, NULL};
    if (lw_output_check("OUT", out_path, LW_OUT_FILE, inputs) != 0) return -1;
    lw_backend_init_once();
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.quantize-%ld.tmp", out_path, (long)getpid());
    llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.ftype = TYPES[t].ftype;
    qp.allow_requantize = true;
    qp.nthread = n_threads;
    lw_llama_log_reset();
    if (llama_model_quantize(in_path, tmp, &qp) != 0) {
        remove(tmp);
        const char *why = lw_llama_last_log_error();
        return lw_fail("llama.cpp could not quantize %s to %s%s%s", in_path, type, why[0] ? ": " : "", why);
    }
    if (rename(tmp, out_path) != 0) {
        remove(tmp);
        return lw_fail("cannot rename %s to %s", tmp, out_path);
    }
    return 0;
}
