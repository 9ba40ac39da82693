/* Data-parallel training hooks (src/dist): every rank samples the same global batch from the same
 * data stream, runs its contiguous share of the sequences, and the summed gradients make every
 * rank's optimizer step the one a single process would take. Size 1: all of these are no-ops. */
#pragma once
#include "model/lm.h"
#include "model/lm_train.h"

/* -1 + ml_error when the config cannot be split over the ranks (batch not a multiple of them). */
int lm_dist_check(const LmConfig *c);
/* Expert parallel in groups of G ranks (G = 1: none): forms the groups, before the model is built
 * (lm_create_shard needs this rank's place); -1 + ml_error unless G divides the ranks. */
int lm_dist_start_ep(int G);
/* -1 + ml_error unless G divides every MoE layer's experts. */
int lm_dist_check_ep(const LmModel *m, int G);
/* Marks (on) or unmarks every MoE layer's activations as one rank's share of the batch. */
void lm_dist_share(LmModel *m, int on);
/* The rows [first, first + count) of a global batch of B sequences that this rank runs. */
void lm_dist_slice(int B, int *first, int *count);
/* Rank 0's parameters to every rank (they start identical; this makes it certain). */
void lm_dist_sync_params(LmModel *m);
/* Sums an evaluation's per-rank totals (its batches were dealt out over the ranks). */
void lm_dist_sum_eval(LmEval *ev, double *total);
/* Non-finite parameters of the whole model (expert slabs summed over the group): the same on
 * every rank. */
long lm_dist_count_nonfinite(const LmModel *m);
/* -1 + ml_error when the ranks' parameters differ (they must stay bit-identical; expert slabs
 * among the ranks holding the same slab). */
int lm_dist_check_in_sync(const LmModel *m);
