/* Non-negative matrix factorisation X ≈ W·H (X: n×m ≥ 0, W: n×k, H: k×m) by Lee & Seung's
 * multiplicative updates for the Frobenius loss:
 *     H ← H ⊙ (WᵀX) / (WᵀW·H + ε),   W ← W ⊙ (X·Hᵀ) / (W·H·Hᵀ + ε),   ε = 1e-9.
 * Factors start uniform in [0, sqrt(mean(X)/k)·2) from the seed; each update keeps them ≥ 0 and
 * never increases ‖X − WH‖_F. */
#pragma once
#include <stdint.h>

/* err (optional, [iters]) receives ‖X − WH‖_F after each iteration. Returns the final error. */
double nmf_fit(const float *X, int n, int m, int k, int iters, uint64_t seed, float *W, float *H,
               double *err);
