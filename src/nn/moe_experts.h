/* Internal to the MoE layer (moe.c): the routed-expert and shared-expert halves. */
#pragma once
#include "nn/moe_internal.h"

/* out[N,C] = Σ_j topk_w·expert_out (+ shared_out, which must be filled first); fills expert_out. */
void moe_experts_forward(float *out, MoeActs *a, const MoeParams *p, const MoeConfig *cfg,
                         const float *inp);
/* dtopk_w[N,k] = dout·expert_out; dinp += routed experts' input grads; g += expert grads. */
void moe_experts_backward(float *dinp, MoeParams *g, float *dtopk_w, const float *dout, MoeActs *a,
                          const MoeParams *p, const MoeConfig *cfg);
/* Routed expert e's FFN on n gathered rows x: y and the caches h1..h3 ([n,H]; h3 SwiGLU only). */
void moe_expert_rows_forward(float *y, float *h1, float *h2, float *h3, const MoeParams *p,
                             const MoeConfig *cfg, int e, const float *x, int n);
/* Its backward: dx = ∂L/∂x (overwritten), g += expert e's weight grads; dh1..dh3 [n,H] scratch. */
void moe_expert_rows_backward(float *dx, MoeParams *g, float *dh1, float *dh2, float *dh3,
                              const float *dy, const float *x, const float *h1, const float *h2,
                              const float *h3, const MoeParams *p, const MoeConfig *cfg, int e,
                              int n);
void moe_shared_forward(MoeActs *a, const MoeParams *p, const MoeConfig *cfg, const float *inp);
void moe_shared_backward(float *dinp, MoeParams *g, const float *dout, MoeActs *a,
                         const MoeParams *p, const MoeConfig *cfg, const float *inp);
