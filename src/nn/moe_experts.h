/* Internal to the MoE layer (moe.c): the routed-expert and shared-expert halves. */
#pragma once
#include "nn/moe_internal.h"

/* out[N,C] = Σ_j topk_w·expert_out (+ shared_out, which must be filled first); fills expert_out. */
void moe_experts_forward(float *out, MoeActs *a, const MoeParams *p, const MoeConfig *cfg,
                         const float *inp);
/* dtopk_w[N,k] = dout·expert_out; dinp += routed experts' input grads; g += expert grads. */
void moe_experts_backward(float *dinp, MoeParams *g, float *dtopk_w, const float *dout, MoeActs *a,
                          const MoeParams *p, const MoeConfig *cfg);
void moe_shared_forward(MoeActs *a, const MoeParams *p, const MoeConfig *cfg, const float *inp);
void moe_shared_backward(float *dinp, MoeParams *g, const float *dout, MoeActs *a,
                         const MoeParams *p, const MoeConfig *cfg, const float *inp);
