/* Private state of one MoeActs (a->internal): every buffer the MoE forward/backward touches,
 * allocated once in moe_acts_alloc so the training step never allocates. Shared by moe_route.c
 * (routing half), moe_experts.c (dispatch + expert FFNs) and moe.c (layer). */
#pragma once
#include "nn/moe.h"
#include <stdint.h>

typedef struct {
    int max_tokens, max_T, kmax; /* capacity of every buffer below */
    int infer;                   /* forward-only buffers (moe_acts_alloc_infer): no backward */
    /* routing */
    float *jitter_u;    /* [N,C] multipliers U(1-j,1+j) of the last train forward */
    float *softmax;     /* [N,EZ] full softmax of the logits (aux losses; = probs for softmax) */
    float *dlogits;     /* [N,EZ] backward scratch */
    float *dtopk_w;     /* [N,kmax] backward scratch: dL/dtopk_w */
    uint8_t *dropped;   /* [N,kmax] slot dropped by the capacity limit */
    float *seq_in;      /* [N,C] sequence (running) mean, input of the router */
    float *d_router_in; /* [N,C] backward scratch: dL/d(router input after jitter) */
    float *d_seq_in;    /* [N,C] backward scratch: dL/d(sequence mean) */
    int jittered;       /* the last forward multiplied the router input by jitter_u */
    float *cos_q;       /* [N,D] projected tokens P·x */
    float *cos_qn;      /* [N] ‖P·x‖ (guarded) */
    float *cos_chat;    /* [EZ,D] normalised centroids */
    float *cos_cn;      /* [EZ] ‖c_e‖ (guarded) */
    float *cos_val;     /* [N,EZ] cos(P·x, c_e) before the scale */
    float *cos_dq;      /* [N,D] backward scratch */
    float *cos_dc;      /* [EZ,D] backward scratch */
    /* dispatch: rows = (token, slot) pairs sent to a real expert, grouped by expert */
    int32_t *expert_off; /* [E+1] first row of each expert */
    int32_t *row_slot;   /* [N·kmax] slot n·k+j of each row */
    int32_t *slot_row;   /* [N·kmax] row of each slot, -1 if none (zero expert, dropped) */
    float *xg;           /* [R,C] gathered expert inputs */
    float *h1, *h2, *h3; /* [R,H] GELU: pre, act; SwiGLU: gate, up, act */
    float *y;            /* [R,C] expert outputs */
    float *dy, *dh1, *dh2, *dh3, *dx; /* backward scratch, same shapes */
    /* shared experts: [S,N,Hs] each; raw sum [N,C]; gate [N] */
    float *sh1, *sh2, *sh3, *sh_raw, *sh_gate;
    float *dsh1, *dsh2, *dsh3, *dsh_raw;
    void *ep;                /* expert-parallel exchange state (moe_ep.c), allocated on first use */
    void (*ep_free)(void *); /* its destructor (set with it: no link dependency on moe_ep.c) */
} MoeInternal;

static inline int moe_ez(const MoeConfig *cfg) {
    return cfg->n_experts + cfg->n_zero;
}
static inline float moe_weight_scale(const MoeConfig *cfg) {
    return cfg->weight_scale == 0.0f ? 1.0f : cfg->weight_scale;
}
/* Routers that compute logits from the hidden state (and so have scores and aux gradients). */
static inline int moe_router_scored(const MoeConfig *cfg) {
    return cfg->router == ROUTER_LEARNED || cfg->router == ROUTER_RANDOM ||
           cfg->router == ROUTER_COSINE;
}
/* Largest number of slots per token the buffers hold. */
static inline int moe_kmax(const MoeConfig *cfg) {
    return cfg->max_k > cfg->top_k ? cfg->max_k : cfg->top_k;
}
