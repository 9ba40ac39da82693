/* Semantic tuning (analyze --only tuning, docs/vision_analysis.md): each expert's response per
 * concept against the concepts' semantic dimensions, the array math of tuning.c (its step:
 * va_tuning).
 * Conventions: n images, E experts, K classes of one label level, C concepts, A semantic
 * dimensions; probs [n, E] gate probabilities, feats [n, D] an expert's readout per image. */
#pragma once
#include <stdint.h>

/* out[c] = mean of s over concept c's images (NaN when it has none). */
void vtune_concept_mean(const double *s, const int32_t *concept, int n, int C, double *out);
/* rho[a] = Spearman(resp[c], attr[c, a]) over concepts with a finite response (NaN for a constant
 * dimension). attr is [C, A] row-major. */
void vtune_spearman(const double *resp, const float *attr, int C, int A, double *rho);
/* Out-of-fold R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² of a ridge regression y ~ attr (columns standardised
 * on the training folds, intercept unpenalised, penalty lambda) with concept folds fold[c]
 * (concepts with NaN response skipped). NaN when fewer than 2 folds. */
double vtune_ridge_cv_r2(const double *resp, const float *attr, const int32_t *fold, int C, int A,
                         double lambda);
