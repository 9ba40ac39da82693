/* Across runs: val perplexity per design arm (router, routing level, top-k from each run's
 * config.json; the last val_ppl of its metrics.jsonl) over seeds, mean ± sd, and pairwise TOST
 * equivalence between arms at a margin in PPL (docs/analysis.md §6). */
#pragma once
#include <cjson/cJSON.h>

/* Fills *out with {"margin", "arms": [{arm, router, routing, top_k, n, mean, sd, ppl: []}],
 * "pairs": [{a, b, diff, p_tost, equivalent}]}. -1 + ml_error naming a run's missing file/field. */
int compare_runs(const char *const *runs, int n, double margin, cJSON **out);
