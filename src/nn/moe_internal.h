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
    float *clean;       /* [N,EZ] logits before the train-time noise (Shazeer load loss) */
    double *imp, *load; /* [EZ] importance and load of the last forward (the whole batch's) */
    float *noise_u;     /* [N,EZ] noise_learned: W_noise·x, the noise sd before softplus */
    float *noise_eps;   /* [N,EZ] noise_learned: the N(0,1) draws of the last forward (0: eval) */
    float *d_noise_u;   /* [N,EZ] backward scratch: dL/d(noise_u) */
    uint8_t *ec_took;   /* [N,EZ] expert choice: expert e took row n */
    int32_t *ec_rows;   /* [N] expert choice: one expert's rows ranked by score */
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
    /* forward-only (expert-major, streamed): each expert's rows run through its FFN in pieces of
     * at most piece_rows, each piece on one thread's scratch: xg [n_scratch, piece_rows, C]
     * (inputs, then outputs in place), h1, h2 [n_scratch, piece_rows, H] (h3 = h1), so the
     * memory is flat in N; outputs are scattered to slot order, y [N·kmax, C] (NULL: into the
     * expert_out capture) */
    int piece_rows, n_scratch;
    int32_t *pieces; /* [2·max pieces] (expert, first row) of the last forward's pieces */
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
/* Largest number of slots per token the buffers hold (expert choice: every expert). */
static inline int moe_kmax(const MoeConfig *cfg) {
    if (cfg->choice == CHOICE_EXPERT) return moe_ez(cfg);
    return cfg->max_k > cfg->top_k ? cfg->max_k : cfg->top_k;
}

/* Slot marks in MoeInternal.dropped: over the capacity limit, skipped by top_p / min_p, or left
 * unfilled by expert choice (expert −1). Every mark but SLOT_KEPT has weight 0. */
enum { SLOT_KEPT, SLOT_OVER_CAPACITY, SLOT_PRUNED, SLOT_EMPTY };

/* Indices of the k largest keys, best first; ties go to the lower index (moe_route.c). */
void moe_topk_select(int32_t *idx, const float *key, int n, int k);

/* Shazeer load estimator (moe_shazeer.c), one row: load[e] += P(e in the top-k of the noisy
 * logits) = Φ((clean_e − kth_excluding(noisy, k, e)) / sd); with k ≥ EZ every P is 1. */
void moe_load_row_add(double *load, const float *clean, const float *noisy, int EZ, int k,
                      const float *sd);
/* Σ_e c[e]·∂P_e: into dz_noisy[EZ] through the threshold's noisy logit, dz_clean[EZ] through e's
 * clean logit, and dsd[EZ] through e's sd (dsd may be NULL for a fixed sd). */
void moe_load_row_grad(float *dz_noisy, float *dz_clean, float *dsd, const double *c,
                       const float *clean, const float *noisy, int EZ, int k, const float *sd);
/* The noise sd of each expert for row n: softplus(noise_u) (noise_learned), else noise_std. */
void moe_noise_sd(float *sd, const MoeActs *a, const MoeConfig *cfg, int n);
/* Expert choice (moe_choice.c): from a->probs [N,EZ], each expert takes its top-c rows; fills
 * a->topk_idx / topk_w (a->k = EZ slots per row, best first), marks unfilled slots SLOT_EMPTY. */
void moe_expert_choice(MoeActs *a, const MoeConfig *cfg, int N);
