/* Perplexity against experts kept (analyze --only ...,prune; docs/analysis.md): the windows of the
 * analysed text alternate between calibration (even windows: freq / REAP saliency from the main
 * forward's captures, analysis/prune_rank.h) and evaluation (odd windows, up to an equal share of a
 * token budget per domain, held until the stream ends). Then every MoE layer keeps its n most
 * salient experts (the rest masked with a -inf router logit, which is exactly what a file pruned by
 * `moelens prune` computes) for a few n per criterion, and the held windows are scored again. Cost:
 * (1 + 2·counts) forwards of the held tokens (counts: up to 4 values of n, E·3/4, E/2, E/4, E/8,
 * those ≥ k). */
#pragma once
#include "analysis/lm/analysis.h"
#include "analysis/lm/prune_rank.h"

enum { PRUNE_MAX_COUNTS = 4 };

typedef struct {
    PruneStats stats;
    int D, T, k, n_counts;
    int counts[PRUNE_MAX_COUNTS]; /* experts kept, descending */
    long cap, held, windows_seen; /* held: tokens held out (the whole stream's) */
    int held_win;                 /* windows held out, the whole stream's (n_win: this rank's) */
    long *seen_dom, *held_dom;    /* [D] windows seen / tokens held per domain */
    int logit_free;               /* a hash / domain router: refused when written */
    int n_win, cap_win;
    int32_t *in, *tg, *dom; /* [cap_win, T] held windows */
    int *len;               /* [cap_win] their lengths */
    double *nll_full, *tok; /* [D] */
    double *nll;            /* [crit, count, D] */
    double seconds;
    uint8_t *use; /* [use_cap] the batch's calibration rows */
    long use_cap;
    int batch_open; /* the batch's windows are decided */
} PruneCurveAcc;

/* eval_tokens: budget of held-out tokens (0: the analysis is off). */
void prune_curve_init(PruneCurveAcc *c, const LmModel *m, int D, int T, long eval_tokens);
/* During the main forward of a batch (each MoE layer's rows): calibrate on its even windows,
 * hold its odd ones; after it, prune_curve_batch closes the batch. */
void prune_curve_layer(PruneCurveAcc *c, const AnBatch *b, const LmFfnRows *rows);
void prune_curve_batch(PruneCurveAcc *c, const AnBatch *b);
/* Sharded analysis: a batch another rank runs (windows filled, no forward), so that this rank's
 * hold decisions follow the whole stream. */
void prune_curve_skip(PruneCurveAcc *c, const AnBatch *b);
/* After the stream: the masked forwards of the held windows (overwrites the activations). Sharded:
 * the calibration is first summed over the ranks (a collective), and each rank scores the windows
 * it holds; prune_curve_reduce then sums the scores. */
void prune_curve_run(PruneCurveAcc *c, LmModel *m);
void prune_curve_reduce(PruneCurveAcc *c);
/* Perplexity of criterion crit keeping counts[i] experts (i = -1: the full model), domain d
 * (-1: all). */
double prune_curve_ppl(const PruneCurveAcc *c, int crit, int i, int d);
/* analysis/prune.json, prune_ppl.csv, prune_saliency.csv. */
int prune_curve_write(const PruneCurveAcc *c, const char *dir, const char *const *names);
void prune_curve_free(PruneCurveAcc *c);
