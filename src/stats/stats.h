/* Statistics shared by the analyses (formulas: docs/analysis.md). Every routine works in double
 * and guards empty inputs (returns 0 or NaN as documented per function). */
#pragma once
#include "core/rng.h"
#include <stdint.h>

/* Shannon entropy (nats) of counts c[0..n) normalised to a distribution; 0 for an all-zero vector.
 */
double stat_entropy(const double *c, int n);
/* Fewest entries whose sum reaches half of the total (largest first); 0 for an all-zero vector. */
int stat_n50(const double *c, int n);
/* Jain's fairness index (Σx)²/(n·Σx²): 1 = perfectly even, 1/n = one entry holds everything. */
double stat_jain(const double *c, int n);
/* Normalised mutual information of a contingency table t[rows][cols] (row-major):
 * I(X;Y)/sqrt(H(X)·H(Y)) (0 when either entropy is 0). *mi (nats) and *hy = H(Y) if non-NULL. */
double stat_nmi(const double *t, int rows, int cols, double *mi, double *hy);
/* Jensen–Shannon divergence (nats, ≤ ln 2) between two distributions (normalised here). */
double stat_js(const double *p, const double *q, int n);
/* KL(p‖q) in nats over n entries (p, q probabilities; q floored at 1e-30). */
double stat_kl(const float *p, const float *q, int n);
/* Σ p log p over n entries (p > 0): minus the entropy, once per distribution p. */
double stat_sum_plogp(const float *p, int n);
/* KL(p ‖ softmax(z)) from the logits themselves: log softmax(z)_i = z_i − lse with
 * lse = log Σ exp z (the caller's, from its softmax), so with plogp = stat_sum_plogp(p)
 *   KL = Σ p log p − Σ p (z − lse),
 * no log per entry (the logit lens decodes many z against one p), and exact where softmax(z)
 * underflows a float. */
double stat_kl_logits(const float *p, double plogp, const float *z, int n, double lse);
double stat_mean(const double *x, int n);
double stat_sd(const double *x, int n);                    /* sample sd (n−1); 0 for n < 2 */
double stat_cosine(const float *a, const float *b, int n); /* 0 when either norm < 1e-12 */
/* out[i] = stat_cosine(a[i], b[i], n) for three pairs, bit for bit, in one pass: the nine sums
 * are independent chains, so one does not wait on another's additions. */
void stat_cosine3(const float *const a[3], const float *const b[3], int n, double out[3]);

/* Regularised incomplete beta I_x(a,b) (continued fraction, Numerical Recipes' betacf). */
double stat_betainc(double a, double b, double x);
/* CDF of Student's t with df degrees of freedom (df may be fractional). */
double stat_t_cdf(double t, double df);
/* Quantile of Student's t (inverse of stat_t_cdf, by bisection); NaN outside 0 < p < 1. */
double stat_t_quantile(double p, double df);
/* Paired / one-sample t test of the mean of d[0..n) against 0: two-sided p; *t and *df set. */
double stat_ttest_1samp(const double *d, int n, double *t);
/* Welch's t for mean(a) − mean(b): returns t, sets *se and *df (Welch–Satterthwaite). */
double stat_welch(const double *a, int na, const double *b, int nb, double *se, double *df);
/* TOST equivalence of two groups at margin delta: p = max of the two one-sided p values
 * (equivalent at level α when p < α). *diff = mean(a) − mean(b). NaN when a group has < 2. */
double stat_tost(const double *a, int na, const double *b, int nb, double delta, double *diff);
/* Benjamini–Hochberg adjusted p values (q[i] for p[i]); NaN entries stay NaN and are not counted.
 */
void stat_bh(const double *p, double *q, int n);

/* Ranks of x[0..n) into r (1-based; ties get the average of the ranks they span). */
void stat_rank(const double *x, int n, double *r);
/* Pearson correlation; NaN when n < 2 or either vector is constant. */
double stat_pearson(const double *a, const double *b, int n);
/* Spearman's ρ = Pearson of the average-tie ranks; NaN as stat_pearson. */
double stat_spearman(const double *a, const double *b, int n);
/* Permutation p value (one-sided, ≥): (1 + #{null[i] ≥ obs}) / (1 + P); NaN obs → NaN. */
double stat_perm_p(double obs, const double *null, int P);
/* Wilson score interval for k successes out of n at normal quantile z (1.96 → 95%). */
void stat_wilson(double k, double n, double z, double *lo, double *hi);
/* A uniformly random permutation of 0..n-1 (Fisher–Yates from the seeded stream). */
void stat_shuffle(int *perm, int n, Rng *rng);
