/* Hook sites: TransformerLens names, their widths, and the llama.cpp graph nodes behind them.
 *
 * Every architecture has the embed site (the token-embedding lookup) and resid_post (the
 * node `l_out-L`, which every llama.cpp graph names). The sites inside a block depend on how
 * the architecture's graph (llama.cpp src/models/<arch>.cpp) names its nodes, so they are
 * listed per architecture below, read from the graphs of llama.cpp 0c1e57098:
 *
 *   llama   attn_out-L     wo(attention) (+ bias), before the residual add
 *           ffn_inp-L      attn_out + resid_pre                        (resid_mid)
 *           ffn_out-L      the FFN (or ffn_moe_out-L for MoE layers)   (mlp_out); the graph
 *                          names the FFN + residual sum ffn_out-L too and then renames it
 *                          l_out-L, which classify_node() tells apart (an ADD of resid_mid)
 *           kqv_out-L      heads concatenated before wo                (z)
 *   gemma3  attn_post_norm-L  post-norm(wo(attention)): what is added to the residual
 *           sa_out-L       attn_post_norm + resid_pre                  (resid_mid)
 *           ffn_post_norm-L   post-norm(FFN): what is added to the residual (mlp_out)
 *           kqv_out-L                                                  (z)
 *
 * On the last block, nodes after the output-row selection (inp_out_ids) hold only the
 * output rows; session.c maps rows by count (n_tokens or n_outputs) for every site. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/strlist.h"
#include "runtime/internal.h"

static const char *const TL_NAMES[LW_SITE_COUNT] = {
    [LW_SITE_EMBED] = "hook_embed",        [LW_SITE_RESID_POST] = "hook_resid_post",
    [LW_SITE_ATTN_OUT] = "hook_attn_out",  [LW_SITE_MLP_OUT] = "hook_mlp_out",
    [LW_SITE_RESID_MID] = "hook_resid_mid", [LW_SITE_Z] = "hook_z",
};

/* Graph order inside a block: z -> attn_out -> resid_mid -> mlp_out -> resid_post. */
static const int RANK[LW_SITE_COUNT] = {
    [LW_SITE_EMBED] = -1, [LW_SITE_Z] = 0,       [LW_SITE_ATTN_OUT] = 1,
    [LW_SITE_RESID_MID] = 2, [LW_SITE_MLP_OUT] = 3, [LW_SITE_RESID_POST] = 4,
};

typedef struct {
    const char *arch;
    const char *const *node[LW_SITE_COUNT]; /* NULL-terminated name prefixes ("<prefix>-L") */
} arch_sites;

static const char *const L_OUT[] = {"l_out", NULL};
static const char *const KQV_OUT[] = {"kqv_out", NULL};
static const char *const LLAMA_ATTN[] = {"attn_out", NULL}, *const LLAMA_MID[] = {"ffn_inp", NULL},
                         *const LLAMA_MLP[] = {"ffn_out", "ffn_moe_out", NULL};
/* qwen2.cpp names the residual between attention and MLP and the MLP output as llama does, but
 * not the attention output (build_attn's wo product is unnamed; no attn_out callback). */
static const char *const GEMMA3_ATTN[] = {"attn_post_norm", NULL}, *const GEMMA3_MID[] = {"sa_out", NULL},
                         *const GEMMA3_MLP[] = {"ffn_post_norm", NULL};

static const arch_sites ARCHS[] = {
    {"llama",
     {[LW_SITE_ATTN_OUT] = LLAMA_ATTN, [LW_SITE_RESID_MID] = LLAMA_MID, [LW_SITE_MLP_OUT] = LLAMA_MLP,
      [LW_SITE_Z] = KQV_OUT}},
    {"qwen2", {[LW_SITE_RESID_MID] = LLAMA_MID, [LW_SITE_MLP_OUT] = LLAMA_MLP, [LW_SITE_Z] = KQV_OUT}},
    {"gemma3",
     {[LW_SITE_ATTN_OUT] = GEMMA3_ATTN, [LW_SITE_RESID_MID] = GEMMA3_MID, [LW_SITE_MLP_OUT] = GEMMA3_MLP,
      [LW_SITE_Z] = KQV_OUT}},
};

static void model_arch(const lw_model *m, char *buf, size_t n) {
    if (llama_model_meta_val_str(m->llama, "general.architecture", buf, n) < 0) snprintf(buf, n, "?");
}

const char *const *lw_site_nodes(const lw_model *m, lw_site site) {
    if (site == LW_SITE_RESID_POST) return L_OUT;
    if (site <= LW_SITE_EMBED || site >= LW_SITE_COUNT) return NULL;
    char arch[64];
    model_arch(m, arch, sizeof arch);
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (!strcmp(arch, ARCHS[i].arch)) return ARCHS[i].node[site];
    return NULL;
}

/* An integer metadata value ("<arch>.<key>"), or fallback when absent. */
static long meta_int(const lw_model *m, const char *key, long fallback) {
    char arch[64], full[160], val[64];
    model_arch(m, arch, sizeof arch);
    snprintf(full, sizeof full, "%s.%s", arch, key);
    if (llama_model_meta_val_str(m->llama, full, val, sizeof val) < 0) return fallback;
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    return errno || *end || v <= 0 ? fallback : v;
}

int lw_site_width_quiet(const lw_model *m, lw_site site) {
    const int d = llama_model_n_embd(m->llama);
    if (site == LW_SITE_EMBED || site == LW_SITE_RESID_POST) return d;
    if (!lw_site_nodes(m, site)) return -1;
    if (site != LW_SITE_Z) return d;
    const int n_head = llama_model_n_head(m->llama);
    if (n_head <= 0) return -1;
    return n_head * (int)meta_int(m, "attention.value_length", d / n_head);
}

int lw_site_width(const lw_model *m, lw_site site) {
    if (!m) return lw_fail("lw_site_width: the model is NULL");
    if (site < 0 || site >= LW_SITE_COUNT) return lw_fail("site %d is not a hook site", (int)site);
    int w = lw_site_width_quiet(m, site);
    if (w > 0) return w;
    char arch[64];
    model_arch(m, arch, sizeof arch);
    return lw_fail("%s: architecture \"%s\" has no %s site (latentwire maps it for llama and gemma3, and all but "
                   "hook_attn_out for qwen2; every architecture has hook_embed and hook_resid_post)",
                   m->path, arch, TL_NAMES[site]);
}

int lw_site_depth(lw_site site, int layer) {
    return site == LW_SITE_EMBED ? -1 : layer * 8 + RANK[site];
}

/* ---------------------------------------------------------------- names */

const char *lw_site_name(lw_site_ref ref, char *buf, size_t n) {
    if (!buf || n == 0) return lw_fail("lw_site_name: %s", !buf ? "buf is NULL" : "n is 0: no room for the name"), NULL;
    if (ref.site < 0 || ref.site >= LW_SITE_COUNT || (ref.site != LW_SITE_EMBED && ref.layer < 0)) snprintf(buf, n, "?");
    else if (ref.site == LW_SITE_EMBED) snprintf(buf, n, "%s", TL_NAMES[LW_SITE_EMBED]);
    else snprintf(buf, n, "blocks.%d.%s", ref.layer, TL_NAMES[ref.site]);
    return buf;
}

/* Whether s[0..len) has a block index's form, in range or not: an optional '-', then decimal
 * digits only ("+1", "0x1", "1e0" and "1.5" do not). */
static bool integer_text(const char *s, size_t len) {
    size_t i = len > 0 && s[0] == '-';
    if (i == len) return false;
    for (; i < len; i++)
        if (!isdigit((unsigned char)s[i])) return false;
    return true;
}

/* A block index: 0..n_layer-1, or negative counting from the end. */
static bool parse_layer(const char *s, size_t len, int n_layer, int *out) {
    if (len == 0 || len > 12) return false;
    char tmp[16];
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    errno = 0;
    long v = strtol(tmp, &end, 10);
    if (errno || *end || !(isdigit((unsigned char)tmp[0]) || (tmp[0] == '-' && isdigit((unsigned char)tmp[1]))))
        return false;
    *out = lw_layer_index(v, n_layer);
    return *out >= 0;
}

#define ACCEPTED                                                                                                  \
    "blocks.L.hook_{resid_post,attn_out,mlp_out,resid_mid,z}, hook_embed, or the short forms L (= "               \
    "blocks.L.hook_resid_post; negative counts from the end), last, embed"

int lw_site_parse(const char *text, int n_layer, lw_site_ref *out) {
    if (!out) return lw_fail("lw_site_parse: out is NULL");
    if (!text || !*text) return lw_fail("site: empty name (use " ACCEPTED ")");
    if (n_layer <= 0) return lw_fail("site \"%s\": the model has no blocks", text);
    if (!strcmp(text, "embed") || !strcmp(text, "hook_embed")) {
        *out = (lw_site_ref){LW_SITE_EMBED, -1};
        return 0;
    }
    if (!strcmp(text, "last")) {
        *out = (lw_site_ref){LW_SITE_RESID_POST, n_layer - 1};
        return 0;
    }
    int layer;
    if (parse_layer(text, strlen(text), n_layer, &layer)) {
        *out = (lw_site_ref){LW_SITE_RESID_POST, layer};
        return 0;
    }
    if (!strncmp(text, "blocks.", 7)) {
        const char *num = text + 7, *dot = strchr(num, '.');
        if (dot) {
            bool layer_ok = parse_layer(num, (size_t)(dot - num), n_layer, &layer);
            for (int k = 0; k < LW_SITE_COUNT; k++) {
                if (k == LW_SITE_EMBED || strcmp(dot + 1, TL_NAMES[k]) != 0) continue;
                if (!layer_ok) {
                    if (integer_text(num, (size_t)(dot - num)))
                        return lw_fail("site \"%s\": block %.*s is out of range (the model has blocks 0..%d)", text,
                                       (int)(dot - num), num, n_layer - 1);
                    return lw_fail("site \"%s\": \"%.*s\" is not a block index", text, (int)(dot - num), num);
                }
                *out = (lw_site_ref){(lw_site)k, layer};
                return 0;
            }
        }
    }
    if (integer_text(text, strlen(text)))
        return lw_fail("site \"%s\" is out of range: the model has blocks 0..%d", text, n_layer - 1);
    if (isdigit((unsigned char)text[0]) || (text[0] == '-' && isdigit((unsigned char)text[1])))
        return lw_fail("site \"%s\" is not a block index (a whole number, in decimal) nor a hook site (use " ACCEPTED ")",
                       text);
    return lw_fail("site \"%s\" is not a hook site (use " ACCEPTED ")", text);
}

static int cmp_ref(const void *a, const void *b) {
    const lw_site_ref *x = a, *y = b;
    int dx = lw_site_depth(x->site, x->layer), dy = lw_site_depth(y->site, y->layer);
    return (dx > dy) - (dx < dy);
}

int lw_site_parse_list(const char *spec, int n_layer, lw_site_ref **out) {
    if (!out) return lw_fail("lw_site_parse_list: out is NULL");
    *out = NULL;
    if (!spec || !*spec) return lw_fail("empty site list");
    if (n_layer <= 0) return lw_fail("site list \"%s\": the model has no blocks", spec);
    if (n_layer > 1000000) /* lw_layer_list_parse's bound; 8 sites a block must not overflow an int */
        return lw_fail("site list \"%s\": a model of %d layers (expected 1 to 1000000)", spec, n_layer);
    char **item;
    int n_items = lw_list_split("site list", spec, &item);
    if (n_items < 0) return -1;
    /* depth is unique per site: a table of the item that named each depth finds a site
     * named twice, also in two forms ("1" and "blocks.1.hook_resid_post", or "all" and "1") */
    int cap = 8 * n_layer + 1, n = 0;
    const char **named_by = calloc((size_t)cap + 1, sizeof(char *));
    lw_site_ref *v = malloc(sizeof *v * (size_t)(cap + 1));
    if (!named_by || !v) {
        free(item);
        free(named_by);
        free(v);
        return lw_fail("out of memory");
    }
    int rc = 0;
    for (int k = 0; k < n_items && rc == 0; k++) {
        const char *tok = item[k];
        bool all = !strcmp(tok, "all"); /* every block output */
        for (int l = 0; l < (all ? n_layer : 1) && rc == 0; l++) {
            lw_site_ref r = {LW_SITE_RESID_POST, l};
            if (!all && lw_site_parse(tok, n_layer, &r) != 0) {
                rc = -1;
                break;
            }
            int d = lw_site_depth(r.site, r.layer);
            if (named_by[d + 1]) {
                char name[64];
                rc = lw_fail("site list \"%s\": %s is named twice (by \"%s\" and \"%s\")", spec,
                             lw_site_name(r, name, sizeof name), named_by[d + 1], tok);
                break;
            }
            named_by[d + 1] = tok;
            v[n++] = r;
        }
    }
    free(named_by);
    if (rc != 0) {
        free(item);
        free(v);
        return -1;
    }
    free(item);
    qsort(v, (size_t)n, sizeof *v, cmp_ref);
    *out = v;
    return n;
}
