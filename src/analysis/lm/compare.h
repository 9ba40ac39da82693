/* Across runs: val perplexity per design arm (router, routing level, top-k from each run's
 * config.json; the last val_ppl of its metrics.jsonl) over seeds, mean ± sd, and pairwise TOST
 * equivalence between arms at a margin in PPL (docs/analysis.md §6). */
#pragma once
#include <cjson/cJSON.h>

typedef struct {
    double margin;       /* TOST margin in PPL (when margin_rel is 0) */
    double margin_rel;   /* > 0: δ = margin_rel × the mean of the pair's two arm means */
    const cJSON *claims; /* [{claim, test: equivalent|better, a, b, ...}] to judge, or NULL */
    int paired;          /* tests on the differences of runs with the same seed (paired t) */
} CompareOptions;

/* Arm of a run: its folder name without "-seedS" (a sweep's layout), else router/routing/k{top_k}
 * of its config.json. Fills *out with {"margin" | "margin_rel", "arms": [{arm, n, mean, sd, ppl}],
 * "pairs": [{a, b, diff, diff_rel, margin, ci95, ci90, p_welch, p_a_lower, p_a_higher, p_tost,
 * equivalent, not_equivalent}], "findings": [claim + {mean_a, mean_b, diff, ci95, p, verdict}]}
 * (docs/analysis.md §6). -1 + ml_error naming a run's missing file/field or a malformed claim. */
int compare_runs(const char *const *runs, int n, const CompareOptions *o, cJSON **out);
