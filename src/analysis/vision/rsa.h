/* RSA and CKA (analyze --only rsa, docs/vision_analysis.md): representational dissimilarity
 * matrices, their comparison and the cross-run expert matching, the array math of rsa.c and
 * rsa_stimuli.c (its step: va_rsa; across seeds: vision_compare.c). */
#pragma once
#include <stdint.h>

/* Picks at most max of n candidates with classes cls[i] ∈ [0, K), balanced across classes: each
 * class's candidates in a seeded random order, places dealt round-robin over the classes (a class
 * that runs out leaves its places to the others). out[] = candidate indices grouped by class, in
 * class order. Returns how many were picked (min(max, n)). */
int rsa_stratified_stimuli(const int32_t *cls, int n, int K, int max, uint64_t seed, int *out);
/* rdm[S,S] = 1 − Pearson(feats_i, feats_j) (D features per stimulus; constant rows give 1). */
void rsa_rdm(const float *feats, int S, int D, float *rdm);
/* Spearman ρ of the S(S−1)/2 upper-triangle entries of two RDMs. */
double rsa_compare(const float *a, const float *b, int S);
/* Linear CKA of X [S, Dx] and Y [S, Dy]: ‖YᶜᵀXᶜ‖²_F / (‖XᶜᵀXᶜ‖_F ‖YᶜᵀYᶜ‖_F), ᶜ = column-centred. */
double rsa_cka(const float *X, int Dx, const float *Y, int Dy, int S);
/* Cross-run expert matching: sim[E,E] (row: run a's expert, column: run b's), Hungarian match,
 * matched mean, and the permutation null: the matched mean after re-matching with run b's
 * stimuli (or dimensions) shuffled, P times. Built by a callback so RDMs, tuning profiles or
 * CKA can share it. */
typedef double (*SimFn)(const void *ctx, int ea, int eb, const int *perm);
typedef struct {
    double matched_mean, null_mean, null_sd, p;
    double diag_mean; /* mean of sim[e,e] (identity pairing, for reference) */
} MatchResult;
void rsa_match(SimFn sim, const void *ctx, int E, int n_perm_items, int P, uint64_t seed,
               double *simmat, int *match, MatchResult *r);
/* Each of E RDMs [E, S, S] with its upper-triangle entries replaced by their average-tie ranks
 * (ranks [E, S, S], double): relabelling stimuli permutes ranks, so the null needs no re-sort. */
void rsa_rank_rdms(const float *rdm, int E, int S, double *ranks);
/* ctx for RDM similarity: ranked RDMs of rsa_rank_rdms; perm (when not NULL) relabels b's
 * stimuli. Spearman of the upper triangles = Pearson of these ranks. */
typedef struct {
    const double *rank_a, *rank_b;
    int S;
} RdmPair;
double rsa_sim_rdm(const void *ctx, int ea, int eb, const int *perm);
/* ctx for profile similarity (tuning rows, Pearson): a, b [E, A]; perm relabels b's dimensions. */
typedef struct {
    const double *a, *b;
    int A;
} ProfilePair;
double rsa_sim_profile(const void *ctx, int ea, int eb, const int *perm);
/* Column-centred copies of E feature sets [E, S, D] (centred) and ‖XcᵀXc‖_F of each (self [E]):
 * both are invariant to relabelling stimuli, so the CKA null only recomputes the cross term. */
void rsa_cka_prepare(const float *feats, int E, int S, int D, double *centred, double *self);
/* ctx for CKA: rsa_cka_prepare's outputs of runs a and b; perm relabels b's stimuli. */
typedef struct {
    const double *ca, *cb, *self_a, *self_b;
    int S, D;
} FeatPair;
double rsa_sim_cka(const void *ctx, int ea, int eb, const int *perm);
