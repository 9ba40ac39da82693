/* The MoE language model: token (+ position) embedding, n_layer pre-norm blocks of causal
 * attention and an FFN that is a sparse MoE layer (or dense, as the E = 1 special case), a final
 * norm and the (tied or untied) unembedding. GPT-2 style (LayerNorm, learned positions, GELU,
 * biases) or llama style (RMSNorm, RoPE, GQA, QK-norm, SwiGLU, shared experts, untied output).
 * Parameters, gradients, AdamW moments and activations are each one block allocated once. */
#pragma once
#include "core/rng.h"
#include "gguf/gguf.h"
#include "model/lm_config.h"
#include "nn/moe.h"
#include "nn/param.h"
#include <stdint.h>

typedef struct {
    float *ln1_w, *ln1_b;               /* [C] (b: gpt2 only) */
    float *wq, *bq, *wk, *bk, *wv, *bv; /* wq [NH·HD, C], wk/wv [NKV·HD, C]; biases gpt2 only */
    float *q_norm, *k_norm;             /* [HD] (qk_norm 1) or [NH·HD], [NKV·HD] (qk_norm 2) */
    float *wo, *bo;                     /* [C, NH·HD], bo [C] gpt2 only */
    float *ln2_w, *ln2_b;
    MoeParams ffn;
    const GgufTensor *q_wq, *q_wk, *q_wv, *q_wo; /* external models: the matrices, in the map */
} LayerParams;

typedef struct {
    float *wte; /* [V, C] */
    float *wpe; /* [T, C] gpt2 only */
    float *lnf_w, *lnf_b;
    float *lm_head;                      /* [V, C]; == wte when tied */
    LayerParams *layers;                 /* [n_layer] */
    const GgufTensor *q_wte, *q_lm_head; /* external models */
} LmParams;

typedef struct {
    float *ln1, *ln1_mean, *ln1_rstd;
    float *q, *k, *v;                       /* after QK-norm and RoPE: what attention reads */
    float *q_raw, *k_raw, *q_rstd, *k_rstd; /* before QK-norm (qk_norm only) */
    float *att;                             /* [B, NH, T, T]; NULL without gradients (not kept) */
    float *atty;                            /* [N, NH·HD] */
    float *resid_mid;                       /* [N, C] layer input + attention */
    float *ln2, *ln2_mean, *ln2_rstd;
    float *ffn_out; /* [N, C] */
    float *out;     /* [N, C] resid_mid + ffn_out: next layer's input */
    MoeActs moe;
} LayerActs;

/* Training under data parallelism: lm_backward tells ready(ctx, at, n) as each span
 * grads_mem[at, at + n) becomes final for this backward (the output head and final norm first,
 * then each block from the top, the embeddings last; together every parameter once), so its
 * reduction over the ranks can start while the rest of the backward runs, and calls progress(ctx)
 * between pieces of work so that reductions begun move along. */
typedef struct {
    void (*ready)(void *ctx, long at, long n);
    void (*progress)(void *ctx);
    void *ctx;
} LmGradHook;

typedef struct {
    LmConfig cfg;
    MoeConfig *layer_ffn; /* [n_layer] each layer's FFN config (MoE or dense) */
    long n_params;
    float *params_mem, *grads_mem, *m_mem, *v_mem;
    LmParams params, grads;
    ParamTensor *tensors, *grad_tensors; /* same order; grads alias grads_mem */
    int n_tensors;
    /* activations, for up to B×T */
    int B, T;
    float *embed; /* [N, C] */
    LayerActs *acts;
    float *lnf, *lnf_mean, *lnf_rstd;
    float *logits; /* [N, V] ([head_block, V] in lean scoring); softmax probabilities after
                    * lm_forward with targets */
    float *losses; /* [N] */
    float *acts_mem;
    /* backward scratch */
    float *d_resid, *d_ln, *d_q, *d_k, *d_v, *d_qr, *d_kr, *d_atty, *d_ffn;
    int has_grads;
    /* Inference without gradients keeps only resid_mid, out and the MoE captures per layer
     * (shared scratch otherwise). lean = LM_LEAN (set before lm_alloc_acts; lm_score_ids does):
     * not even those: one set of activations for all layers, no expert_out — for scoring alone.
     * lean = LM_LEAN_OBSERVED (analyze): the same single set, with each FFN sub-block's MoE
     * captures (expert_out included) for lm_forward_observed to hand to an observer. */
    int lean, acts_lean;
    /* Rows per FFN sub-block the layout holds (lean scoring of token-routed MoE layers: the
     * norm, router and expert buffers are sized for lm_ffn_block tokens, not the whole batch);
     * 0 = the whole batch at once. */
    int ffn_block;
    /* Rows of logits the layout holds (lean scoring: the output head and its cross-entropy run
     * over blocks of rows, 32 MiB of logits or lm_head_block rows, so a 50k vocabulary costs
     * [block, V] floats, not [N, V]);
     * 0 = the whole batch. */
    int head_block;
    /* Lean scoring with FFN sub-blocks: the attention half runs window_attn windows at a time
     * (enough for an FFN block's rows, at least one window; its norm, q, k, v buffers sized for
     * them) and the final norm one head block at a time, so only the residual stream is [N, C]:
     * memory flat in the batch. 0: the whole batch at once. */
    int window_attn;
    Rng noise_rng;               /* router noise / jitter during training */
    const LmGradHook *grad_hook; /* not owned; NULL: lm_backward tells nothing */
    int step;                    /* optimizer steps taken */
    /* Expert-parallel storage (lm_create_shard): > 1 when some layer holds only this rank's share
     * of its routed experts (MoeConfig.shards; tensors with slabs > 1); 1 otherwise. */
    int ep_shards;
    /* External (GGUF) models: the big matrices (embedding, attention projections, experts,
     * output) are *.q_* tensors of `gguf` (closed by lm_free); params_mem holds only the small
     * ones (norms, biases, routers, shared-expert gate). Inference only; no tensors list. */
    int external;
    GgufFile *gguf;
    /* Run-time routing overrides, one per layer (not owned; NULL: every layer as configured): set
     * by routing interventions (analysis/intervene.h), read by lm_forward. layer_ffn stays the
     * model's own. acts_kmax: the override k every layer's MoE activations hold. */
    const MoeOverride *route;
    int acts_kmax;
    /* Routed experts run (slots not skipped by top_p / min_p) and token-layers routed by lm_forward
     * (not lm_forward_routed) since lm_create: lm_mean_k. */
    double routed_slots, routed_rows;
} LmModel;

/* Builds the model for a finalized config: parameters allocated and initialised from cfg.seed.
 * with_grads: also allocate gradients and AdamW moments (training). */
int lm_create(LmModel *m, const LmConfig *cfg, int with_grads);
/* The same holding, of every MoE layer whose experts groups of `shards` ranks spread
 * (nn/moe_ep.h), only expert slab `shard` (this rank's place in its group): its weights,
 * gradients and moments; the values are those lm_create gives that slab. Every forward then
 * exchanges rows with the group (dist_ep_init(shards) must have run), so the group's ranks run
 * their forwards in lockstep. shards 1: lm_create. */
int lm_create_shard(LmModel *m, const LmConfig *cfg, int with_grads, int shards, int shard);
void lm_free(LmModel *m);
/* An external model: small parameters allocated (zero), big matrices left for the caller to
 * point at GGUF tensors (model/lm_gguf.c). No gradients. */
int lm_create_external(LmModel *m, const LmConfig *cfg);
/* Tokens per FFN sub-block in lean scoring (default 512: a whole eval chunk, so each expert runs
 * once over all its rows of the chunk; the forward-only MoE buffers stream each expert's rows
 * through a per-thread scratch of moe_infer_rows rows, so only the experts' outputs in slot
 * order, N·k × C, grow with it); 0: the whole batch, the output head included. Every token's
 * routing and expert rows are its own, so the sub-blocks agree with the whole batch within float
 * rounding (OpenBLAS rounds a row differently with the number of rows in the call). */
extern int lm_ffn_block;
/* 1 (default): for a trained run lm_ffn_block is a floor, and a sub-block takes as many tokens as
 * 32 MiB of its activations hold (a small model's whole batch: fewer, larger GEMMs and parallel
 * regions); GGUF files keep lm_ffn_block (file + 10 %); 0: exactly lm_ffn_block tokens (an
 * explicit --ffn-block N). */
extern int lm_ffn_block_grows;
/* An explicit --ffn-block N: exactly n tokens per FFN sub-block (lm_ffn_block = n, no growth). */
void lm_ffn_block_set(int n);
/* Rows of logits per output-head block in lean scoring, at least (default 128: a 50k vocabulary
 * costs [128, V] floats, not [N, V]); for a trained run more where 32 MiB of logits hold more
 * rows; lm_ffn_block where that is smaller. */
extern int lm_head_block;
/* (Re)allocates activations for batches up to B×T (T ≤ seq_len). */
void lm_alloc_acts(LmModel *m, int B, int T);

/* Forward over tokens [B,T]. With targets (ids, < 0 ignored) computes softmax cross-entropy and
 * returns the summed loss (double) over scored targets; without, returns 0 and leaves logits.
 * domains [B,T] may be NULL unless the domain router is used. train enables router noise. */
double lm_forward(LmModel *m, const int32_t *tokens, const int32_t *targets, const int32_t *domains,
                  int B, int T, int train);
/* lm_forward with these routing overrides ([n_layer], or NULL) in place of m->route: analyses that
 * re-run a batch under other routing (k' curves, masks) pass their own without touching m. */
double lm_forward_routed(LmModel *m, const MoeOverride *route, const int32_t *tokens,
                         const int32_t *targets, const int32_t *domains, int B, int T, int train);
/* Experts per token layer l routes to under m->route: the override's k, else its top_k. */
int lm_route_k(const LmModel *m, int l);
/* Mean routed experts run per token and MoE layer over lm_forward calls so far (0 if none). */
double lm_mean_k(const LmModel *m);
enum { LM_LEAN = 1, LM_LEAN_OBSERVED = 2 }; /* LmModel.lean */

/* What one FFN block gave rows [row0, row0 + n) of the batch, as the forward goes: the residual
 * entering it (resid [n, C]), its output (ffn [n, C], shared experts included; the layer output
 * is resid + ffn, elementwise) and the MoE captures of these rows (moe: topk_idx, topk_w,
 * expert_out, shared_out, row 0 = row0). Valid only during the call. */
typedef struct {
    int layer;
    long row0;
    int n;
    const float *resid, *ffn;
    const MoeActs *moe;
} LmFfnRows;

/* Called by lm_forward_observed: ffn after every FFN block (or sub-block), in layer order and,
 * within a layer, in row order; head after every block of output rows with their next-token
 * probabilities (probs [n, V]). Either may be NULL. */
typedef struct {
    void (*ffn)(void *ctx, const LmFfnRows *rows);
    void (*head)(void *ctx, long row0, int n, const float *probs);
    void *ctx;
} LmObserver;

/* lm_forward with targets that hands each layer's FFN rows and the output probabilities to obs
 * while they exist, so that analyses reduce them as the forward goes and the model keeps one
 * set of activations (m->lean must be LM_LEAN_OBSERVED: memory does not grow with the layers). */
double lm_forward_observed(LmModel *m, const LmObserver *obs, const int32_t *tokens,
                           const int32_t *targets, const int32_t *domains, int B, int T);
/* Accumulates gradients of loss_scale · (summed loss) + aux_scale · Σ coef·aux into m->grads.
 * Call after lm_forward with targets. */
void lm_backward(LmModel *m, const int32_t *tokens, const int32_t *targets, int B, int T,
                 float loss_scale, float aux_scale);
/* The same from dL/dlogits, which the caller has written into m->logits (a loss other than
 * cross-entropy on the targets: self-distillation, model/lm_distill.h). */
void lm_backward_dlogits(LmModel *m, const int32_t *tokens, int B, int T, float aux_scale);
void lm_zero_grads(LmModel *m);
/* Total weighted auxiliary loss of the last forward (Σ over MoE layers of coef·value). */
double lm_aux_loss(const LmModel *m);
/* Number of target tokens scored in [B,T] (targets ≥ 0). */
long lm_count_targets(const int32_t *targets, long n);
