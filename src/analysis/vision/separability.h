/* Separability (analyze --only separability, docs/vision_analysis.md): cross-validated linear
 * probes with group folds, the array math of separability.c (its step: va_separability).
 * Conventions: n images, E experts, K classes of one label level, C concepts, A semantic
 * dimensions; probs [n, E] gate probabilities, feats [n, D] an expert's readout per image. */
#pragma once
#include "stats/probe.h"
#include <stdint.h>

/* fold[i] ∈ [0, k) from group ids grp[i]: distinct groups in a seeded random order are dealt
 * round-robin, so a group never spans two folds. Returns the number of folds (min(k, groups)). */
int vsep_group_folds(const int32_t *grp, int n, int k, uint64_t seed, int32_t *fold);
typedef struct {
    double acc, lo, hi;    /* pooled out-of-fold accuracy, 95% Wilson interval */
    double chance_major;   /* share of the most frequent class (a constant guess) */
    double chance_uniform; /* 1 / classes present */
    int n, folds, classes;
} SepResult;
/* k-fold cross-validated linear probe (src/analysis/probe.h) on X [n, D], labels y in [0, K):
 * each fold is predicted by a probe fitted on the other folds. -1 + ml_error if < 2 folds. */
int vsep_cv_probe(const float *X, const int32_t *y, const int32_t *fold, int n, int D, int K,
                  const ProbeConfig *cfg, SepResult *r);
