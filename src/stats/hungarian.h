/* Optimal one-to-one matching (Hungarian / Kuhn–Munkres with potentials, O(n³)): aligns the
 * experts of two independently seeded runs by their similarity (docs/vision_analysis.md §5). */
#pragma once

/* match[i] = column assigned to row i maximising Σ_i S[i, match[i]] over an n × n matrix S
 * (row-major). NaN entries count as −∞-like (never preferred). Returns the maximal sum. */
double hungarian_max(const double *S, int n, int *match);
