/* Prompt triples from matched genres for the panels, out of the multi-domain corpus. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "latentwire/experiment.h"
#include "latentwire/panel.h"
#include "latentwire/runtime.h"

#define TEXT_DOMAINS 5 /* news, encyclopedic, conversation, science, math: the corpus's first five */

static char *keep(lw_panel_prompt_set *s, const char *text) {
    char *t = strdup(text);
    s->owned[s->n_owned++] = t;
    return t;
}

void lw_panel_prompt_set_free(lw_panel_prompt_set *s) {
    if (!s) return;
    for (int i = 0; i < s->n_owned; i++) free(s->owned[i]);
    free(s->owned);
    free(s->prompts);
    free(s->calib);
    free(s->domain_of_prompt);
    free(s->names);
    memset(s, 0, sizeof *s);
}

/* Every model tokenizes the text (no character outside a vocabulary without byte fallback). */
static bool encodable(const char *text, const lw_model *const *models, int n_models) {
    for (int k = 0; k < n_models; k++) {
        int32_t *t = NULL;
        int n = lw_tokenize_alloc(models[k], text, false, &t);
        free(t);
        if (n <= 0) return false;
    }
    return true;
}

int lw_panel_prompts_from_corpus(const char *data_dir, int n_prompts, int n_calib, uint64_t seed,
                                 const lw_model *const *models, int n_models, lw_panel_prompt_set *set) {
    if (!set) return lw_fail("lw_panel_prompts_from_corpus: set is NULL");
    memset(set, 0, sizeof *set);
    if (!data_dir) return lw_fail("lw_panel_prompts_from_corpus: data_dir is NULL");
    if (n_models < 0 || (n_models > 0 && !models))
        return lw_fail("lw_panel_prompts_from_corpus: %d models and models %s", n_models, models ? "given" : "NULL");
    for (int k = 0; k < n_models; k++)
        if (!models[k]) return lw_fail("lw_panel_prompts_from_corpus: model %d is NULL", k);
    if (n_prompts < 2 || n_calib < 1)
        return lw_fail("panel: %d prompts and %d calibration texts: at least 2 and 1", n_prompts, n_calib);
    /* the per-domain counts below are ints: 2e9 prompts overflowed them (UBSan), and no corpus
     * holds this many sentences */
    if (n_prompts > LW_PANEL_MAX_TEXTS || n_calib > LW_PANEL_MAX_TEXTS)
        return lw_fail("panel: %d prompts and %d calibration texts: at most %d each", n_prompts, n_calib,
                       LW_PANEL_MAX_TEXTS);
    /* each domain gives 2 test sentences per prompt it hosts, and its share of calibration */
    /* (a quarter more than needed, for sentences a vocabulary cannot encode) */
    const int per_test = (2 * ((n_prompts + TEXT_DOMAINS - 1) / TEXT_DOMAINS) + 1) * 5 / 4 + 2;
    const int per_calib = ((n_calib + TEXT_DOMAINS - 1) / TEXT_DOMAINS) * 5 / 4 + 2;
    const int per_domain = per_test + per_calib;
    lw_mdcorpus c;
    if (lw_mdcorpus_build(data_dir, per_domain, 0, 0, (double)per_calib / per_domain, seed, &c) != 0) return -1;
    set->owned = malloc(sizeof(char *) * (size_t)(TEXT_DOMAINS + n_calib + 3 * n_prompts));
    set->prompts = calloc((size_t)n_prompts, sizeof *set->prompts);
    set->calib = calloc((size_t)n_calib, sizeof(char *));
    set->domain_of_prompt = calloc((size_t)n_prompts, sizeof(char *));
    set->names = calloc(TEXT_DOMAINS, sizeof(char *));
    int rc = set->owned && set->prompts && set->calib && set->domain_of_prompt && set->names
                 ? 0
                 : lw_fail("panel: out of memory");
    for (int d = 0; rc == 0 && d < TEXT_DOMAINS && d < c.n_domains; d++) set->names[d] = keep(set, c.domain_names[d]);
    set->n_names = TEXT_DOMAINS;
    /* per domain, its test rows in corpus order (a seeded draw already): receivers and donors
     * walk them with next[]; the decoys of domain dd take its rows in order too */
    int next[TEXT_DOMAINS] = {0};
    int n_cal = 0;
    for (int64_t i = 0; rc == 0 && i < c.n && n_cal < n_calib; i++)
        if (c.calib[i] && c.domain[i] < TEXT_DOMAINS && encodable(c.text[i], models, n_models))
            set->calib[n_cal++] = keep(set, c.text[i]);
    if (rc == 0 && n_cal < n_calib) rc = lw_fail("panel: only %d calibration texts in the corpus, %d wanted", n_cal, n_calib);
    for (int p = 0; rc == 0 && p < n_prompts; p++) {
        const int d = p % TEXT_DOMAINS, dd = (p + 1) % TEXT_DOMAINS;
        const char *take[3] = {NULL, NULL, NULL};
        const int want_dom[3] = {d, d, dd};
        for (int k = 0; k < 3; k++) {
            int seen = 0;
            const int skip = k == 2 ? p / TEXT_DOMAINS : next[d];
            for (int64_t i = 0; i < c.n && !take[k]; i++)
                if (!c.calib[i] && c.domain[i] == want_dom[k] && encodable(c.text[i], models, n_models) &&
                    seen++ == skip)
                    take[k] = c.text[i];
            if (k < 2) next[d]++;
        }
        if (!take[0] || !take[1] || !take[2]) {
            rc = lw_fail("panel: the corpus has too few test sentences in domain %s for %d prompts", c.domain_names[d],
                         n_prompts);
            break;
        }
        set->prompts[p] = (lw_panel_prompt){keep(set, take[0]), keep(set, take[1]), keep(set, take[2])};
        set->domain_of_prompt[p] = set->names[d];
    }
    set->n_prompts = n_prompts;
    set->n_calib = n_cal;
    lw_mdcorpus_free(&c);
    if (rc != 0) lw_panel_prompt_set_free(set);
    return rc;
}
