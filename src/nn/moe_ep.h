/* Expert parallelism (src/dist): the E routed experts of a layer are spread over the G ranks of an
 * expert-parallel group, E/G consecutive experts each. After routing and the counting-sort
 * dispatch, each rank sends the rows of every expert to the rank that runs it (per-expert counts
 * by MPI_Alltoall, rows by MPI_Alltoallv), runs its own experts on what arrives, and returns the
 * outputs the same way; the backward sends dL/dy out and returns dL/dx. An expert's gradient
 * exists only on its owners, which alone reduce and update it (model/lm_zero1.h).
 * Expert-parallel storage (MoeConfig.shards = G, `--ep G` without --zero1): each rank holds only
 * its own experts' weights, gradients and moments, and every forward of the layer, evaluation
 * included, runs through the owners (the group's ranks call it in lockstep). Without it (--zero1)
 * every rank keeps a full copy, the owners share their updated weights with the group, and only a
 * training forward (MoeActs.dist_share) spreads. Needs dist_ep_init(G > 1). */
#pragma once
#include "nn/moe_internal.h"

/* 1 when a layer of this configuration spreads its experts over groups of G ranks. */
int moe_ep_spreads(const MoeConfig *cfg, int G);
int moe_ep_active(const MoeActs *a, const MoeConfig *cfg);
/* in->xg (rows grouped by expert, in->expert_off) → in->y, through the experts' owners. */
void moe_ep_forward(MoeActs *a, const MoeParams *p, const MoeConfig *cfg);
/* in->dy → in->dx, and g += the weight grads of this rank's experts. */
void moe_ep_backward(MoeActs *a, MoeParams *g, const MoeParams *p, const MoeConfig *cfg);
void moe_ep_free(void *ep);
