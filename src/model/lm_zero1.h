/* ZeRO-1 (`--zero1` under mpirun): the optimizer sharded over the data-parallel ranks. Rank r owns
 * block r of the flat parameter vector (dist_block). Gradients are reduce-scattered so it holds its
 * block's sum; it keeps the AdamW moments of that block alone (the model's full moment buffers are
 * freed) and updates its block; the parameter blocks are then all-gathered. For a checkpoint rank 0
 * gathers the moments whole, writes them, and frees them again. Off (one rank, or no --zero1):
 * every function does what the single-process trainer does.
 *
 * Expert parallel without --zero1 (`ep`): an expert's gradient exists only on the ranks that own
 * it (rank g of each group: slab g of every [E, ...] expert tensor), so those alone sum it (over
 * the N/G ranks of the same shard, not the world) and update it. With expert-parallel storage
 * (LmModel.ep_shards > 1) the rank's expert tensors are that slab alone and nothing more is sent;
 * with full copies the group then all-gathers the updated slabs, so every rank again holds every
 * weight, and for a checkpoint the experts' moments too. The other parameters go as without EP.
 *
 * Overlapped (grad_overlap): the same reductions, each begun nonblocking as the backward finishes
 * the span of whole tensors it covers (lm_zero1_grad_hook), and completed by
 * lm_zero1_reduce_grads. */
#pragma once
#include "model/lm.h"
#include "nn/optim.h"

typedef struct {
    int on;
    long lo, hi;  /* this rank's block of the parameters */
    float *m, *v; /* AdamW moments of the block */
    int ep, G, g; /* expert parallel: group size, this rank's place in it */
    int sliced;   /* the model holds this rank's experts alone (expert-parallel storage) */
    int n_spans;
    long *span_at, *span_n; /* the expert tensors: offsets in the parameter block, sizes */
    int overlap;            /* more than one rank and asked for */
    LmModel *model;
    LmGradHook hook;
} LmZero1;

/* on = want && more than one rank: takes this rank's block of m's moments and frees the rest.
 * Else ep = expert groups of G > 1 ranks spread some layer's experts. overlap: reduce each span
 * of the gradient while the backward goes on. */
void lm_zero1_start(LmZero1 *z, LmModel *m, int want, int overlap);
/* The hook for the backward of a step's last micro-batch (NULL when not overlapping). */
const LmGradHook *lm_zero1_grad_hook(LmZero1 *z);
void lm_zero1_end(LmZero1 *z);
/* Sums the gradients over the ranks: all of them (all-reduce) or this rank's block (on);
 * overlapped, completes the sums the hook began. */
void lm_zero1_reduce_grads(const LmZero1 *z, LmModel *m);
/* The global gradient norm (on: summed from every rank's block). */
double lm_zero1_grad_norm(const LmZero1 *z, const LmModel *m);
/* AdamW on the part of tensor t this rank owns (all of it when off). */
void lm_zero1_adamw(const LmZero1 *z, LmModel *m, const ParamTensor *t, const AdamW *opt, int step,
                    float lr);
/* After the updates (on): every block of the parameters to every rank. */
void lm_zero1_gather_params(const LmZero1 *z, LmModel *m);
/* Around a checkpoint (on): rank 0's model gets the whole moments, and gives them back after. */
void lm_zero1_gather_moments(const LmZero1 *z, LmModel *m);
void lm_zero1_release_moments(const LmZero1 *z, LmModel *m);
