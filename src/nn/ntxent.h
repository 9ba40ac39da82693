/* SimCLR's NT-Xent contrastive loss (Chen et al. 2020, arXiv 2002.05709).
 * z [N2, D] holds N2 = 2N projections, the two views of image k in rows 2k and 2k+1.
 *   u_i = z_i/‖z_i‖,  s_ij = u_i·u_j/τ,
 *   ℓ_i = −s_{i,p(i)} + log Σ_{k≠i} exp s_ik   (p(i) = i xor 1, the other view),
 *   L = (1/N2) Σ_i ℓ_i.
 * Caches: unit [N2, D] (u), norms [N2], probs [N2, N2] (softmax of row i over k≠i, 0 at k = i). */
#pragma once

typedef struct {
    float *unit, *norms, *probs;
    float *scratch; /* [N2·N2 + N2·D] for backward */
} NtxentCache;

long ntxent_cache_floats(int N2, int D);
/* Points the cache at `block` (ntxent_cache_floats floats). */
void ntxent_cache_point(NtxentCache *c, float *block, int N2, int D);
/* Returns L; *top1 (may be NULL) gets the fraction of rows whose most similar other row is the
 * positive. */
float ntxent_forward(NtxentCache *c, const float *z, int N2, int D, float tau, float *top1);
/* dz += dloss · ∂L/∂z. */
void ntxent_backward(float *dz, NtxentCache *c, int N2, int D, float tau, float dloss);
