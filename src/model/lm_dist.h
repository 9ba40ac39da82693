/* Data-parallel training hooks (src/dist): every rank samples the same global batch from the same
 * data stream, runs its contiguous share of the sequences, and the summed gradients make every
 * rank's optimizer step the one a single process would take. Size 1: all of these are no-ops. */
#pragma once
#include "model/lm.h"
#include "model/lm_train.h"

/* -1 + ml_error when the config cannot be split over the ranks (batch not a multiple of them). */
int lm_dist_check(const LmConfig *c);
/* Expert parallel in groups of G ranks (G = 1: none): -1 + ml_error unless G divides the ranks
 * and every MoE layer's experts. */
int lm_dist_init_ep(const LmModel *m, int G);
/* Marks (on) or unmarks every MoE layer's activations as one rank's share of the batch. */
void lm_dist_share(LmModel *m, int on);
/* The rows [first, first + count) of a global batch of B sequences that this rank runs. */
void lm_dist_slice(int B, int *first, int *count);
/* Rank 0's parameters to every rank (they start identical; this makes it certain). */
void lm_dist_sync_params(LmModel *m);
/* Sums the loss and the gradients over the ranks: all of them (bucketed all-reduce), or with
 * zero1 (ZeRO-1: optimizer work sharded) only this rank's block (reduce-scatter). */
void lm_dist_reduce_grads(LmModel *m, double *loss, int zero1);
/* The global gradient norm: of the whole vector, or with zero1 from every rank's block. */
double lm_dist_grad_norm(const LmModel *m, int zero1);
/* The part [*a, *b) of elements [off, off + n) of the flat parameter vector that this rank's
 * optimizer updates: all of them without zero1, else its block's share (empty when *a >= *b). */
void lm_dist_owned(const LmModel *m, long off, long n, int zero1, long *a, long *b);
/* zero1, after each rank updated its block: every block of the parameters to every rank. */
void lm_dist_gather_params(LmModel *m, int zero1);
/* zero1, before a checkpoint: every block of the AdamW moments to every rank (rank 0 saves). */
void lm_dist_gather_moments(LmModel *m, int zero1);
/* Sums an evaluation's per-rank totals (its batches were dealt out over the ranks). */
void lm_dist_sum_eval(LmEval *ev, double *total);
/* -1 + ml_error when the ranks' parameters differ (they must stay bit-identical). */
int lm_dist_check_in_sync(const LmModel *m);
