/* Gating (analyze --only gating, docs/vision_analysis.md): the array math of gating.c, testable on
 * constructed inputs without a model; its step over a model is va_gating (vision_analyze.h).
 * Conventions: n images, E experts, K classes of one label level, C concepts, A semantic
 * dimensions; probs [n, E] gate probabilities, feats [n, D] an expert's readout per image. */
#pragma once
#include <stdint.h>

/* mean[K,E] = mean gate probability of expert e over class k's images; top1[K,E] = share of class
 * k's images whose top-1 expert is e; count[K] images per class (rows of empty classes are 0). */
void vgate_matrices(const float *probs, const int32_t *top1, const int32_t *labels, int n, int E,
                    int K, double *mean, double *top1share, double *count);
/* Per class: h_route[k] = entropy (nats) of the class's mean routing distribution mean[k,:],
 * h_image[k] = mean over its images of the per-image gate entropy. NaN for empty classes. */
void vgate_entropy(const float *probs, const int32_t *labels, int n, int E, int K, double *h_route,
                   double *h_image);
/* g[C,E] = mean gate probability per concept (count[C] images; rows with 0 images are 0). */
void vgate_concept_means(const float *probs, const int32_t *concept, int n, int E, int C, double *g,
                         int *count);
/* Animacy index per expert over concepts with images and a known flag (animate[c] 0/1):
 * A_e = (ḡ_anim − ḡ_inan) / (ḡ_anim + ḡ_inan) ∈ [−1, 1] (0 when both means are 0), and a two-sided
 * permutation p value p_e (animacy flags shuffled across concepts, P times, seeded).
 * Returns the number of concepts used; -1 + ml_error when either group is empty. */
int vgate_animacy(const double *g, const int *count, const int8_t *animate, int C, int E, int P,
                  uint64_t seed, double *A, double *p);
