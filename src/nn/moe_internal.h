/* Private state of one MoeActs (a->internal): every buffer the MoE forward/backward touches,
 * allocated once in moe_acts_alloc so the training step never allocates. Shared by moe_route.c
 * (routing half), moe_experts.c (dispatch + expert FFNs) and moe.c (layer). */
#pragma once
#include "nn/moe.h"
#include "nn/moe_kinds.h"
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
/* One row per router (moe_routers.c). A scored router has logits and backward; a fixed rule has
 * first. Hooks a router does not need are NULL. */
typedef struct {
    /* Takes the router's parameters from the layer's block at *off (fields set when base). */
    void (*layout)(MoeParams *p, float *base, long *off, const MoeConfig *cfg);
    void (*init)(MoeParams *p, const MoeConfig *cfg, Rng *rng);
    int frozen; /* parameters are never updated (saved as frozen tensors) */
    /* Extra config checks: -1 + ml_error naming the key. */
    int (*validate)(const MoeConfig *cfg);
    /* Its own scratch in MoeInternal, for up to N tokens (freed with the rest). */
    void (*alloc)(MoeInternal *in, const MoeConfig *cfg, long N, int infer);
    /* a->logits[N,EZ] from the router input x[N,C]. */
    void (*logits)(MoeActs *a, const MoeParams *p, const MoeConfig *cfg, const float *x, int N);
    /* in->dlogits → parameter gradients in g (unless frozen) and in->d_router_in (zeroed). */
    void (*backward)(MoeActs *a, MoeParams *g, const MoeParams *p, const MoeConfig *cfg);
    /* Fixed rule: the first expert of row n (the next k-1 follow cyclically). */
    int (*first)(const MoeConfig *cfg, const int32_t *tokens, const int32_t *domains, int n);
} MoeRouter;

extern const MoeRouter moe_routers[MOE_N_ROUTERS];

static inline const MoeRouter *moe_router(const MoeConfig *cfg) {
    return &moe_routers[cfg->router];
}
/* Routers that compute logits from the hidden state (and so have scores and aux gradients). */
static inline int moe_router_scored(const MoeConfig *cfg) {
    return moe_router_is_scored(cfg->router);
}
/* p->field = the next n floats of base (NULL when only counting); *off advances. */
static inline float *moe_take(float *base, long *off, long n) {
    float *at = base ? base + *off : NULL;
    *off += n;
    return at;
}
/* Largest number of slots per token the buffers hold. */
static inline int moe_kmax(const MoeConfig *cfg) {
    return cfg->max_k > cfg->top_k ? cfg->max_k : cfg->top_k;
}
