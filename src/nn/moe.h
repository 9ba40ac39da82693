/* The sparse Mixture-of-Experts FFN layer: router → top-k → dispatch → experts → combine, with
 * auxiliary losses, explicit forward/backward over flat arrays (llm.c style).
 *
 * Tokens are N = B·T rows of width C (= d_model). Experts 0..E-1 are real FFNs; E..E+Z-1 are
 * zero-output experts (they take part in routing and top-k, produce 0 and cost nothing). Shared
 * experts run on every token, unweighted (or behind a sigmoid gate, qwen2moe). A dense FFN is the
 * special case router = ROUTER_DENSE, E = 1, k = 1 (weight 1, no router parameters). */
#pragma once
#include "core/rng.h"
#include "gguf/gguf.h"
#include "nn/param.h"
#include <stdint.h>

typedef enum {
    ROUTER_LEARNED, /* logits = W_r·x, trained */
    ROUTER_RANDOM,  /* same shape, seeded N(0, init_std²), never updated */
    ROUTER_COSINE, /* logits = exp(log_scale)·cos(P·x, c_e): projected dim cos_dim, learned scale */
    ROUTER_HASH,   /* fixed token id → expert map (seeded); weights 1/k */
    ROUTER_DOMAIN, /* expert chosen from the document's domain id (domain mod E, then next k-1) */
    ROUTER_DENSE   /* no router: every token to expert 0 with weight 1 */
} RouterKind;

typedef enum {
    SCORE_SOFTMAX_TOPK, /* p = softmax(z) over all; pick top-k of p; weight = p (renorm optional) */
    SCORE_TOPK_SOFTMAX, /* pick top-k of z; weight = softmax over the k picked logits */
    SCORE_SIGMOID /* s = sigmoid(z); pick top-k of s + balance_bias; weight = s (renorm opt.) */
} ScoreOrder;

typedef enum {
    ROUTE_TOKEN,      /* each token routes on its own hidden state */
    ROUTE_SEQ_CAUSAL, /* router input = causal running mean of the sequence's hidden states */
    ROUTE_SEQ_MEAN    /* router input = mean over the whole sequence (sees the future; explicit) */
} RouteLevel;

typedef enum { EXPERT_GELU, EXPERT_SWIGLU } ExpertAct;

/* Who chooses (moe_choice.c). Token choice: each token takes its top-k experts. Expert choice
 * (Zhou et al. 2022, "Mixture-of-Experts with expert choice routing"): in a training forward each
 * expert takes the c = round(capacity_factor·k·N/E) rows of the batch with the highest softmax
 * score (capacity_factor 0 counts as 1), so a row gets 0..E experts: its slots are E wide, best
 * first, the unfilled ones expert −1 with weight 0. Evaluation forwards route by token choice
 * (top-k of the same scores), so a row's routing never depends on the rest of its batch. Routing
 * half only (moe_route_forward; hidden = 0): the vision gate. */
typedef enum { CHOICE_TOKEN, CHOICE_EXPERT } RouteChoice;

typedef struct {
    int d_model;       /* C */
    int n_experts;     /* E real routed experts */
    int n_zero;        /* Z zero-output experts */
    int top_k;         /* k ≤ E + Z */
    int hidden;        /* expert FFN width H; 0 = routing only (no expert FFN parameters) */
    int n_shared;      /* shared (always-on) experts */
    int shared_hidden; /* width of each shared expert */
    int shared_gate;   /* qwen2moe: shared output × sigmoid(w_sg·x) */
    RouterKind router;
    ScoreOrder score;
    int renorm; /* renormalise the k weights to sum 1 */
    RouteLevel level;
    ExpertAct act;
    int expert_bias;       /* GELU experts carry biases (GPT-2 style) */
    float capacity_factor; /* 0: dropless; else capacity = ceil(cf·N·k/E) tokens per expert */
    int cos_dim;           /* cosine router projected dimension */
    float aux_lb_coef;     /* Switch load-balance loss weight */
    float aux_z_coef;      /* router z-loss weight */
    float aux_group_coef;  /* ZEDA group balance loss weight α (moe_group.c) */
    float aux_imp_coef;  /* Shazeer importance loss weight: CV(Σ_n combine weights per expert)² */
    float aux_load_coef; /* Shazeer load loss weight: CV(Σ_n P(e in top-k under the noise))²;
                            needs noise_std > 0, the sd of the estimator (moe_shazeer.c) */
    RouteChoice choice;  /* token (top-k per token) or expert choice (top-c per expert) */
    float zero_weight;   /* ZEDA w: zero-slot share → wZ/(wZ+E); 0 = 2 */
    float noise_std;     /* train-time N(0, noise_std²) added to router logits */
    int noise_learned;   /* Shazeer's noisy top-k: train-time N(0,1)·softplus(W_noise·x) per
                            expert instead (learned router only; noise_std unused) */
    float jitter;        /* train-time router input × U(1-jitter, 1+jitter) */
    float bias_rate; /* SCORE_SIGMOID aux-loss-free balancing: bias_e += rate·sign(mean−load_e) */
    float weight_scale; /* routed weights × this (DeepSeek routed_scaling_factor); 1 default */
    float init_std;     /* parameter init std (router, experts) */
    uint64_t seed;      /* hash map / frozen router seed */
    int max_k;          /* largest override k moe_acts_alloc prepares for (0: top_k) */
    int external_ffn;   /* expert and shared FFN matrices live outside the parameter block, in
                           MoeParams.q_* (GGUF tensors in a map; inference only) */
    /* Expert-parallel storage (shards > 1, set by the trainer for `--ep G`, never saved): the
     * block holds only routed experts [shard·E/shards, (shard+1)·E/shards), so w1 ... wd are
     * [E/shards, ...] and expert e is row e − moe_first_expert of them; every forward runs the
     * experts through their owners (nn/moe_ep.h). 0 or 1: all E experts. */
    int shards, shard;
} MoeConfig;

/* Routed experts the parameter block holds, and the first of them (expert-parallel storage). */
static inline int moe_local_experts(const MoeConfig *cfg) {
    return cfg->shards > 1 ? cfg->n_experts / cfg->shards : cfg->n_experts;
}
static inline int moe_first_expert(const MoeConfig *cfg) {
    return cfg->shards > 1 ? cfg->shard * moe_local_experts(cfg) : 0;
}

/* Run-time routing overrides of one layer (analyses, interventions, dynamic skipping), passed to
 * the forward; the MoeConfig stays the model's. MOE_OVERRIDE_NONE (or a NULL pointer) changes
 * nothing. top_p and min_p apply after the top-k pick (k or top_k, best first): with mass_j =
 * score_j / Σ over all experts' scores, keep the fewest leading picks whose mass sums to ≥ top_p,
 * and drop picks after the first whose mass is < min_p. Dropped slots get weight 0 and are not
 * computed; weights renormalise over the kept picks (renorm) or the k picked logits kept
 * (topk_softmax). Forward only: moe_backward is not defined after a forward with top_p or min_p. */
typedef struct {
    int k;                   /* > 0: route to this many experts instead of top_k (≤ max_k) */
    int renorm;              /* -1: config; 0/1 force raw/renormalised weights */
    const float *logit_bias; /* [E+Z] added to logits (−INFINITY masks an expert), or NULL */
    float top_p;             /* in (0, 1]: keep picks until their mass reaches top_p; 0 off */
    float min_p;             /* > 0: drop picks after the first whose mass is below min_p */
} MoeOverride;

#define MOE_OVERRIDE_NONE ((MoeOverride){.k = 0, .renorm = -1})

/* Pointers into one flat block (moe_num_params floats). Unused ones are NULL. */
typedef struct {
    float *router_w;              /* [E+Z, C] learned / random */
    float *noise_w;               /* [E+Z, C] learned noise scale (noise_learned), init 0 */
    float *cos_proj;              /* [cos_dim, C] */
    float *cos_centroids;         /* [E+Z, cos_dim] */
    float *cos_log_scale;         /* [1] */
    float *balance_bias;          /* [E+Z] SCORE_SIGMOID selection bias (frozen; updated by rule) */
    float *w1, *b1, *w2, *b2;     /* GELU experts: w1 [E,H,C], b1 [E,H], w2 [E,C,H], b2 [E,C] */
    float *wg, *wu, *wd;          /* SwiGLU experts: wg, wu [E,H,C], wd [E,C,H] */
    float *sw1, *sb1, *sw2, *sb2; /* shared experts (GELU), leading dim S, width shared_hidden */
    float *swg, *swu, *swd;       /* shared experts (SwiGLU) */
    float *shared_gate_w;         /* [C] */
    /* external_ffn: SwiGLU matrices as GGUF tensors (same shapes as wg/wu/wd, swg/swu/swd) */
    const GgufTensor *q_wg, *q_wu, *q_wd, *q_swg, *q_swu, *q_swd;
} MoeParams;

/* Saved activations: allocated once for up to B·T tokens. The routing decision and each selected
 * expert's unweighted output are public so analyses read them without re-running anything. */
typedef struct {
    int N, EZ;           /* tokens of the last forward, E+Z */
    float *router_in;    /* [N, C] router input (after sequence mean / jitter) */
    float *logits;       /* [N, E+Z] router logits (after noise, bias and masks) */
    float *probs;        /* [N, E+Z] scores: softmax (or sigmoid) over all experts */
    int32_t *topk_idx;   /* [N, k] chosen expert ids, best first (−1: unfilled, expert choice) */
    float *topk_w;       /* [N, k] combine weights (0 for a dropped slot) */
    float *expert_out;   /* [N, k, C] unweighted output of each selected expert (0: zero/dropped) */
    float *shared_out;   /* [N, C] summed shared-expert output (gate applied), or NULL */
    int32_t *counts;     /* [E+Z] picks per expert in the last forward */
    float aux_lb, aux_z; /* unweighted load-balance and z-loss values of the last forward */
    float aux_group;     /* unweighted group balance loss (0 without zero experts) */
    float aux_imp, aux_load; /* unweighted Shazeer importance and load losses (computed when their
                                coefficient is > 0, else 0) */
    void *internal;          /* dispatch buffers, caches: owned by moe.c */
    int k;                   /* slots per token of the last forward (top_k or the override's k) */
    int renorm;              /* the last forward renormalised its weights (config or override) */
    int expert_choice;       /* the last forward routed by expert choice (k = EZ slots per row) */
    int n_dropped;           /* slots dropped by the capacity limit in the last forward */
    long n_pruned;           /* slots dropped by top_p / min_p in the last forward (not computed) */
    /* Data parallel (src/dist): 1 when the N rows are this rank's share of a batch split evenly
     * over dist_size() ranks in rank order. Noise and jitter are drawn for the whole batch (each
     * rank keeps its rows), and capacity, counts and auxiliary losses are the whole batch's. */
    int dist_share;
} MoeActs;

long moe_num_params(const MoeConfig *cfg);
void moe_point_params(MoeParams *p, float *base, const MoeConfig *cfg);
void moe_init_params(MoeParams *p, const MoeConfig *cfg, Rng *rng);
/* Appends this layer's tensors (names prefixed, e.g. "h.3.moe.") to list; returns new count. */
int moe_param_tensors(ParamTensor *list, int n, const char *prefix, MoeParams *p,
                      const MoeConfig *cfg);
/* Checks a config (k ≤ E+Z, widths > 0, ...); -1 + ml_error naming the bad key. */
int moe_validate(const MoeConfig *cfg);

void moe_acts_alloc(MoeActs *a, const MoeConfig *cfg, int max_tokens, int max_T);
/* Forward-only buffers run each expert over all its rows of the batch (one GEMM per matrix) but
 * in pieces of at most this many rows (default 256), each through one thread's hidden scratch:
 * the expert hidden memory is threads × rows × H, flat in the batch size, where the training
 * buffers hold N·k rows × H. Read when the buffers are allocated; tests make it small. */
extern int moe_infer_rows;
/* Forward-only activations (inference): the same public captures, none of the backward scratch
 * (moe_backward must not be called on them). captures = 0: no expert_out either (scoring only). */
void moe_acts_alloc_infer(MoeActs *a, const MoeConfig *cfg, int max_tokens, int max_T,
                          int captures);
void moe_acts_free(MoeActs *a);

/* out[N,C] = MoE(inp). ov: routing overrides, or NULL. tokens/domains are [B,T] ids (needed by the
 * hash/domain routers, else may be NULL). train != 0 enables noise and jitter drawn from rng. */
void moe_forward(float *out, MoeActs *a, const MoeParams *p, const MoeConfig *cfg,
                 const MoeOverride *ov, const float *inp, const int32_t *tokens,
                 const int32_t *domains, int B, int T, int train, Rng *rng);
/* dinp += ∂L/∂inp; g (same layout as p) += ∂L/∂params. The auxiliary losses' gradients, weighted
 * by their coefficients (aux_lb, aux_z, aux_group, aux_imp, aux_load), are included, so
 * L = main + coefs·aux. */
void moe_backward(float *dinp, MoeParams *g, const float *dout, MoeActs *a, const MoeParams *p,
                  const MoeConfig *cfg, const float *inp, int B, int T);
/* After an optimizer step: SCORE_SIGMOID balancing-bias update from the last forward's counts. */
void moe_update_balance_bias(MoeParams *p, const MoeActs *a, const MoeConfig *cfg);
/* The routing half alone, for models whose experts are not FFNs (the vision gate over expert
 * CNNs: one "token" per image). Fills logits/probs/topk_idx/topk_w/counts/aux of a from x[N,C]. */
void moe_route_forward(MoeActs *a, const MoeParams *p, const MoeConfig *cfg, const MoeOverride *ov,
                       const float *x, const int32_t *tokens, const int32_t *domains, int N,
                       int train, Rng *rng);
/* Given dL/dtopk_w [N,k], accumulates router parameter grads into g and dL/dx into dx (router
 * input), including the weighted auxiliary losses. */
void moe_route_backward(float *dx, MoeParams *g, const float *dtopk_w, MoeActs *a,
                        const MoeParams *p, const MoeConfig *cfg, const float *x, int N);
/* ZEDA group balance loss (Lv et al., papers.md §6), without α, from the top-k slot counts [E+Z]
 * and the softmax sums psum[E+Z] = Σ_n softmax_e(n) over `rows` tokens (the whole batch's):
 * (E+wZ)/(k·N²)·(C_N·S_N/E + C_Z·S_Z/(wZ)), C_G, S_G their sums over group G. 0 when Z = 0. */
double moe_group_loss(const MoeConfig *cfg, const int32_t *counts, const double *psum, double rows,
                      int k);
/* Adds coef·∂(group loss)/∂softmax_{n,e} (the same for every token n) into c[E+Z]. */
void moe_group_dsoftmax(double *c, const MoeConfig *cfg, const int32_t *counts, double rows, int k,
                        double coef);
/* Shazeer et al. 2017's squared coefficient of variation of v[n]: population variance over
 * (mean² + 1e-10); 0 for n < 2. With dv: dv[i] = ∂CV²/∂v[i]. */
double moe_cv_squared(const double *v, int n, double *dv);
/* Expert choice: rows each expert takes from a batch of N (≥ 1, ≤ N). */
int moe_expert_capacity(const MoeConfig *cfg, long N);
/* Runs real expert e on N rows regardless of routing (analyses force-run experts). */
void moe_expert_forward(float *out, const MoeParams *p, const MoeConfig *cfg, int e,
                        const float *inp, int N);
