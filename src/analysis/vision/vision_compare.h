/* `moelens compare RUN...` for vision runs: expert × expert similarity between every pair of
 * independently seeded runs (RDM Spearman, linear CKA, tuning profiles), Hungarian matching and a
 * permutation null, plus the agreement of matched experts' gate animacy (docs/vision_analysis.md
 * §5). Reads each RUN/<analysis>/ written by `moelens analyze RUN --images SET`. */
#pragma once
#include <cjson/cJSON.h>
#include <stdint.h>

/* Fills *out (JSON) and, when out_dir is not NULL, writes out_dir/compare_vision.json and the
 * per-pair matrices pair<a>_<b>_{rsa,cka,tuning}.npy. -1 + ml_error naming a missing or
 * mismatched file (e.g. runs analysed on different stimuli). */
int vision_compare_runs(const char *const *runs, int n, const char *analysis, int perms,
                        uint64_t seed, const char *out_dir, cJSON **out);
