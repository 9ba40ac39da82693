/* Expert analyses of a vision MoE as plain functions over arrays (docs/vision_analysis.md), so each
 * is testable on constructed inputs without a model; vision_analyze.c runs them over a model.
 * Conventions: n images, E experts, K classes of one label level, C concepts, A semantic
 * dimensions; probs [n, E] gate probabilities, feats [n, D] an expert's readout per image. */
#pragma once
#include "stats/probe.h"
#include <stdint.h>

/* ---- 1. Gating (gating.c) ---- */
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

/* ---- 2. Separability (separability.c) ---- */
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

/* ---- 3. Most exciting inputs (mei.c) ---- */
/* idx[0..N) = indices of the N largest s[0..n) (ties: lower index first). Returns min(N, n). */
int mei_top(const double *s, int n, int N, int *idx);
/* Tiles images [·, ch, S, S] (indices idx[0..m)) into a cols-wide grid with a 1-pixel grey
 * border; writes an RGB/grey PNG. */
int mei_write_grid(const char *path, const float *pixels, int ch, int S, const int *idx, int m,
                   int cols);

/* Synthesised most exciting inputs (synth.c): x ∈ [0,1]^{C·S·S} maximising
 *   f(x)/g₀ − P(x),  P(x) = tv·Σ (neighbour differences)² + l2·Σ (x − ½)²,
 * where g₀ is the RMS of ∇f at the start (so the prior's weights do not depend on f's scale).
 * Adam from x₀ = ½ + init_std·N(0,1) (seeded, clipped), step decayed linearly to 0, x clipped to
 * [0,1] after every step. f returns f(x) and, when grad is non-NULL, writes ∇f(x). */
typedef double (*SynthFn)(void *ctx, const float *x, float *grad);
typedef struct {
    int steps;
    double lr, tv, l2, init_std;
    uint64_t seed;
} SynthOptions;
SynthOptions synth_default_options(void);
/* P(x); with grad non-NULL, grad −= ∇P(x). */
double synth_prior(const float *x, int C, int S, double tv, double l2, float *grad);
/* Runs the ascent into x; returns f at the end (*f_start: f at the noise start). */
double synth_ascend(SynthFn f, void *ctx, int C, int S, const SynthOptions *o, float *x,
                    double *f_start);

/* ---- 4. Semantic tuning (tuning.c) ---- */
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

/* ---- 5. RSA and CKA (rsa.c, rsa_stimuli.c) ---- */
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
