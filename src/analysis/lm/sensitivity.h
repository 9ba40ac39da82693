/* Routing sensitivity on minimal pairs (docs/analysis.md §5): how much the routing distribution
 * moves between the two texts of a pair (Jensen–Shannon per layer), which experts move
 * consistently (signed sensitivity, paired t test, Benjamini–Hochberg), and whether masking the
 * most sensitive experts (router logit −∞) changes the model's log-likelihood preference between
 * the two texts, against masking the least sensitive ones, with the perplexity cost. */
#pragma once
#include "analysis/lm/analyze.h"
#include "data/tokenizer.h"
#include "model/lm.h"
#include "model/lm_open.h"
#include <stdint.h>

/* Token ids of the pairs. line[i]: the pair's line in its file (1-based; 0 when built in code). */
typedef struct {
    int n;
    int32_t **a, **b;
    int *na, *nb, *line;
} SensPairs;

/* Reads a TSV pairs file (`text_a<TAB>text_b` per line; '#' lines and blank lines skipped) and
 * encodes both texts. A malformed line, an empty text or one longer than max_tokens → -1 and an
 * error naming the file and line. */
int sens_pairs_load(SensPairs *p, const char *path, const LmTok *tok, int max_tokens);
/* Builds pairs from id arrays (copied), for tests and callers that have tokens already. */
void sens_pairs_from_ids(SensPairs *p, int n, const int32_t *const *a, const int *na,
                         const int32_t *const *b, const int *nb);
void sens_pairs_free(SensPairs *p);

/* Per-layer router logit masks: bias[l][e] = 0 or −INFINITY over the model's MoE layers
 * (l in MoE-layer order). NULL = unmasked. */
typedef struct {
    int L, EZ;
    float *bias; /* [L, EZ] */
} SensMask;

/* One text alone (B = 1, T = n) through the model under a mask (NULL: none): P[l, e] = mean over
 * its n tokens of the router score of expert e (each token's scores normalised to sum 1), picks
 * [l, e] = top-k picks (either may be NULL), and the return value log P(text) = Σ log p(x_i |
 * x_<i) for i = 2..n (0 for a one-token text). */
double sens_score_text(LmModel *m, const int32_t *ids, int n, const SensMask *mask, double *P,
                       double *picks);

typedef struct {
    int L, EZ, k, n;
    int layers[64];
    double *pa, *pb;        /* [n, L, EZ] mean router probabilities of text a / b */
    double *js;             /* [n, L] */
    double *S, *t, *p, *q;  /* [L, EZ] signed sensitivity, paired t, p, BH-adjusted p */
    int32_t *rank;          /* [L·EZ] flat (l·EZ + e) ids by |S| descending */
    double *logp;           /* [3, 2, n] log P of text a (0) / b (1): unmasked, top, bottom */
    double masked_picks[3]; /* picks of masked experts in each condition (0 by construction) */
    int n_group[3];         /* experts masked: 0, top-G, bottom-G */
    int32_t *group[3];      /* flat ids of each masked group */
    double ppl[3];          /* validation perplexity per condition (NaN: not measured) */
    long ppl_tokens;
    double seconds;
} SensResult;

/* Routing of every pair (unmasked), the statistics, the top-G / bottom-G groups (at most EZ − k
 * experts of a layer masked, so k stay selectable; only layers with a scored router) and the
 * log-likelihoods under each mask. With data (n_src > 0) and ppl_tokens > 0 also perplexity over
 * up to ppl_tokens validation tokens (windows of T, B per forward) per condition. */
typedef struct {
    int mask_top;
    long ppl_tokens;
    int T, B;
    int quiet;
} SensOptions;
int sensitivity_run(LmModel *m, const SensPairs *pairs, const AnalyzeData *data,
                    const SensOptions *o, SensResult *r);
/* The preference score of condition c: % of pairs with log P(a) > log P(b); *margin (if non-NULL)
 * = mean of log P(a) − log P(b). */
double sens_preference(const SensResult *r, int c, double *margin);
/* sensitivity.json, sensitivity_experts.csv, sensitivity_pairs.npy (f8 [n, L] JS),
 * sensitivity_probs.npy (f8 [n, 2, L, EZ]), sensitivity_pairs.csv; all atomic. */
int sensitivity_write(const SensResult *r, const SensPairs *pairs, const char *dir,
                      const char *pairs_path);
void sensitivity_free(SensResult *r);
