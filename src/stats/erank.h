/* Effective rank of a feature matrix (Roy & Vetterli 2007), the dimensional-collapse measure of
 * contrastive learning: with σ_1..σ_D the singular values of the column-centred X [n, D],
 *   p_i = σ_i / Σ_j σ_j,   erank = exp(−Σ_i p_i log p_i)   ∈ [1, min(n, D)],
 * 1 when every row lies on one line, D when the centred rows spread equally in all D directions.
 * σ_i² are the eigenvalues of XcᵀXc, found by cyclic Jacobi rotations in double precision. */
#pragma once

/* Eigenvalues (unordered) of the symmetric D×D matrix a (row-major, destroyed) into w[D]. */
void sym_eigenvalues(double *a, int D, double *w);
/* Effective rank of X [n, D]; 0 when n < 2 or every column is constant. */
double effective_rank(const float *X, int n, int D);
