/* MoE layer parameters (one flat block, fixed order), config validation, activation buffers. */
#include "core/error.h"
#include "core/mem.h"
#include "nn/moe_internal.h"
#include "nn/threads.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

/* One FFN bank of n experts of width H, in the fixed order (GELU: w1, b1, w2, b2; SwiGLU: wg, wu,
 * wd); w[] points at the seven MoeParams fields of the bank (routed or shared). */
static void take_bank(float **w[7], float *base, long *off, const MoeConfig *cfg, long n, long H) {
    const long C = cfg->d_model;
    if (n <= 0 || H <= 0 || cfg->external_ffn) return; /* external: MoeParams.q_* */
    if (cfg->act == EXPERT_GELU) {
        long sizes[4] = {n * H * C, cfg->expert_bias ? n * H : 0, n * C * H,
                         cfg->expert_bias ? n * C : 0};
        for (int i = 0; i < 4; i++)
            if (sizes[i]) *w[i] = moe_take(base, off, sizes[i]);
    } else {
        long sizes[3] = {n * H * C, n * H * C, n * C * H};
        for (int i = 0; i < 3; i++) *w[4 + i] = moe_take(base, off, sizes[i]);
    }
}

/* Walks the parameter layout in its fixed order; points p's fields into base when base != NULL.
 * Returns the number of floats. Order: router (its row's layout), balance bias, routed experts,
 * shared experts, shared gate. */
static long moe_layout(MoeParams *p, float *base, const MoeConfig *cfg) {
    long off = 0;
    MoeParams scratch; /* counting only */
    if (!p) p = &scratch;
    memset(p, 0, sizeof *p);
    if (moe_router(cfg)->layout) moe_router(cfg)->layout(p, base, &off, cfg);
    if (moe_router_scored(cfg) && cfg->score == SCORE_SIGMOID)
        p->balance_bias = moe_take(base, &off, moe_ez(cfg));
    float **routed[7] = {&p->w1, &p->b1, &p->w2, &p->b2, &p->wg, &p->wu, &p->wd};
    float **shared[7] = {&p->sw1, &p->sb1, &p->sw2, &p->sb2, &p->swg, &p->swu, &p->swd};
    take_bank(routed, base, &off, cfg, moe_local_experts(cfg), cfg->hidden);
    take_bank(shared, base, &off, cfg, cfg->n_shared, cfg->shared_hidden);
    if (cfg->n_shared > 0 && cfg->shared_gate)
        p->shared_gate_w = moe_take(base, &off, cfg->d_model);
    return off;
}

long moe_num_params(const MoeConfig *cfg) {
    return moe_layout(NULL, NULL, cfg);
}

void moe_point_params(MoeParams *p, float *base, const MoeConfig *cfg) {
    moe_layout(p, base, cfg);
}

static void fill_normal(Rng *r, float *x, long n, float std) {
    if (x) rng_fill_normal(r, x, n, std);
}

/* Experts [first, first + n) of a bank of E: the part of an [E, per] matrix x holds. */
typedef struct {
    long E, first, n;
} BankPart;

/* x's part of the E·per draws a whole matrix takes from rng (the others' skipped), so a rank that
 * holds some experts draws what one process holding all of them does. */
static void fill_part(Rng *r, float *x, BankPart b, long per, float std) {
    if (!x) return;
    rng_skip_normal(r, b.first * per);
    rng_fill_normal(r, x, b.n * per, std);
    rng_skip_normal(r, (b.E - b.first - b.n) * per);
}

/* The matrices of a bank of width H drawn in the fixed order w1, w2, wg, wu, wd (the ones it
 * has), biases zero; w as in take_bank, holding experts b of the bank. */
static void init_bank(float *const w[7], const MoeConfig *cfg, BankPart b, long H, float std,
                      Rng *rng) {
    const long C = cfg->d_model;
    fill_part(rng, w[0], b, H * C, std);
    fill_part(rng, w[2], b, C * H, std);
    for (int i = 4; i < 7; i++) fill_part(rng, w[i], b, H * C, std);
    if (w[1]) memset(w[1], 0, b.n * H * sizeof(float));
    if (w[3]) memset(w[3], 0, b.n * C * sizeof(float));
}

void moe_init_params(MoeParams *p, const MoeConfig *cfg, Rng *rng) {
    float std = cfg->init_std > 0 ? cfg->init_std : 0.02f;
    if (moe_router(cfg)->init) moe_router(cfg)->init(p, cfg, rng);
    if (p->balance_bias) memset(p->balance_bias, 0, moe_ez(cfg) * sizeof(float));
    float *const routed[7] = {p->w1, p->b1, p->w2, p->b2, p->wg, p->wu, p->wd};
    float *const shared[7] = {p->sw1, p->sb1, p->sw2, p->sb2, p->swg, p->swu, p->swd};
    BankPart own = {cfg->n_experts, moe_first_expert(cfg), moe_local_experts(cfg)};
    init_bank(routed, cfg, own, cfg->hidden, std, rng);
    init_bank(shared, cfg, (BankPart){cfg->n_shared, 0, cfg->n_shared}, cfg->shared_hidden, std,
              rng);
    fill_normal(rng, p->shared_gate_w, cfg->d_model, std);
}

/* The tensors of a bank (w as in take_bank) named BANK.w1 ... BANK.wd: matrices decay, biases not.
 * The bank holds nb experts: slab `slab` of `slabs` of the saved tensors. */
static int bank_tensors(ParamTensor *list, int n, const char *prefix, const char *bank,
                        float *const w[7], long nb, long H, long C, int slabs, int slab) {
    static const char *const names[7] = {"w1", "b1", "w2", "b2", "wg", "wu", "wd"};
    const long rows[7] = {H, H, C, C, H, H, C}, cols[7] = {C, 0, H, 0, C, C, H};
    char prefixed[96];
    snprintf(prefixed, sizeof prefixed, "%s%s", prefix, bank);
    for (int i = 0; i < 7; i++)
        if (w[i]) {
            n = param_tensor(list, n, prefixed, names[i], w[i], cols[i] > 0, 0, cols[i] ? 3 : 2, nb,
                             rows[i], cols[i], 0);
            list[n - 1].slabs = slabs, list[n - 1].slab = slab;
        }
    return n;
}

int moe_param_tensors(ParamTensor *list, int n, const char *prefix, MoeParams *p,
                      const MoeConfig *cfg) {
    const long C = cfg->d_model, EZ = moe_ez(cfg), El = moe_local_experts(cfg), H = cfg->hidden;
    const long S = cfg->n_shared, Hs = cfg->shared_hidden, D = cfg->cos_dim;
    int frozen = moe_router(cfg)->frozen;
    if (p->router_w)
        n = param_tensor(list, n, prefix, "router.w", p->router_w, !frozen, frozen, 2, EZ, C, 0, 0);
    if (p->noise_w)
        n = param_tensor(list, n, prefix, "router.noise_w", p->noise_w, 1, 0, 2, EZ, C, 0, 0);
    if (p->cos_proj)
        n = param_tensor(list, n, prefix, "router.cos_proj", p->cos_proj, 1, 0, 2, D, C, 0, 0);
    if (p->cos_centroids)
        n = param_tensor(list, n, prefix, "router.cos_centroids", p->cos_centroids, 0, 0, 2, EZ, D,
                         0, 0);
    if (p->cos_log_scale)
        n = param_tensor(list, n, prefix, "router.cos_log_scale", p->cos_log_scale, 0, 0, 1, 1, 0,
                         0, 0);
    if (p->balance_bias)
        n = param_tensor(list, n, prefix, "router.balance_bias", p->balance_bias, 0, 1, 1, EZ, 0, 0,
                         0);
    float *const routed[7] = {p->w1, p->b1, p->w2, p->b2, p->wg, p->wu, p->wd};
    float *const shared[7] = {p->sw1, p->sb1, p->sw2, p->sb2, p->swg, p->swu, p->swd};
    const int slabs = cfg->shards > 1 ? cfg->shards : 1, slab = slabs > 1 ? cfg->shard : 0;
    n = bank_tensors(list, n, prefix, "experts.", routed, El, H, C, slabs, slab);
    n = bank_tensors(list, n, prefix, "shared.", shared, S, Hs, C, 1, 0);
    if (p->shared_gate_w)
        n = param_tensor(list, n, prefix, "shared_gate.w", p->shared_gate_w, 0, 0, 1, C, 0, 0, 0);
    return n;
}

/* The Shazeer losses and expert choice: what each needs of the rest of the config. */
static int validate_balance(const MoeConfig *cfg) {
    if (!(cfg->aux_imp_coef >= 0) || !(cfg->aux_load_coef >= 0))
        return ml_error("moe: aux_importance and aux_load must be >= 0, got %g, %g",
                        cfg->aux_imp_coef, cfg->aux_load_coef);
    int scored = moe_router_is_scored(cfg->router), softmax = cfg->score != SCORE_SIGMOID;
    if (cfg->noise_learned != 0 && !(cfg->noise_learned == 1 && cfg->router == ROUTER_LEARNED))
        return ml_error("moe: router_noise_learned needs the learned router (1/0), got %d",
                        cfg->noise_learned);
    int noisy = cfg->noise_std > 0 || cfg->noise_learned;
    if (cfg->aux_load_coef > 0 && !(noisy && scored && softmax))
        return ml_error("moe: aux_load needs router_noise > 0 or router_noise_learned=1 (the sd of "
                        "its estimator), a learned, random or cosine router and softmax scores");
    if ((unsigned)cfg->choice >= MOE_N_CHOICES)
        return ml_error("moe: unknown routing choice %d", cfg->choice);
    if (cfg->choice != CHOICE_EXPERT) return 0;
    if (cfg->hidden != 0 || cfg->n_shared != 0 || cfg->n_zero != 0)
        return ml_error("moe: route_choice=expert routes the vision gate only (no expert FFNs, "
                        "shared or zero experts in the layer), got hidden %d",
                        cfg->hidden);
    if (!scored || cfg->score != SCORE_SOFTMAX_TOPK || cfg->level != ROUTE_TOKEN)
        return ml_error("moe: route_choice=expert needs a learned, random or cosine router with "
                        "softmax_topk scores at token level");
    if (cfg->aux_load_coef > 0)
        return ml_error("moe: aux_load has nothing to balance with route_choice=expert (every "
                        "expert takes exactly c rows)");
    return 0;
}

int moe_validate(const MoeConfig *cfg) {
    int EZ = moe_ez(cfg);
    if (cfg->d_model <= 0) return ml_error("moe: d_model must be > 0, got %d", cfg->d_model);
    if (cfg->n_experts <= 0) return ml_error("moe: n_experts must be > 0, got %d", cfg->n_experts);
    if (cfg->n_zero < 0) return ml_error("moe: n_zero must be >= 0, got %d", cfg->n_zero);
    if (cfg->top_k < 1 || cfg->top_k > EZ)
        return ml_error("moe: top_k must be in 1..n_experts+n_zero (%d), got %d", EZ, cfg->top_k);
    if (cfg->max_k < 0 || cfg->max_k > EZ)
        return ml_error("moe: max_k must be in 0..n_experts+n_zero (%d), got %d", EZ, cfg->max_k);
    if (cfg->hidden < 0) return ml_error("moe: hidden must be >= 0, got %d", cfg->hidden);
    if (cfg->n_shared < 0) return ml_error("moe: n_shared must be >= 0, got %d", cfg->n_shared);
    if (cfg->n_shared > 0 && cfg->shared_hidden <= 0)
        return ml_error("moe: shared_hidden must be > 0 with n_shared %d, got %d", cfg->n_shared,
                        cfg->shared_hidden);
    if ((unsigned)cfg->router >= MOE_N_ROUTERS)
        return ml_error("moe: unknown router kind %d", cfg->router);
    if ((unsigned)cfg->score >= MOE_N_SCORES)
        return ml_error("moe: unknown score order %d", cfg->score);
    if ((unsigned)cfg->level >= MOE_N_LEVELS)
        return ml_error("moe: unknown routing level %d", cfg->level);
    if ((unsigned)cfg->act >= MOE_N_ACTS)
        return ml_error("moe: unknown expert activation %d", cfg->act);
    if (cfg->external_ffn && cfg->act != EXPERT_SWIGLU)
        return ml_error("moe: external (GGUF) expert weights need SwiGLU experts");
    if (moe_router(cfg)->validate && moe_router(cfg)->validate(cfg)) return -1;
    if (!(cfg->capacity_factor >= 0))
        return ml_error("moe: capacity_factor must be >= 0 (0 = dropless), got %g",
                        cfg->capacity_factor);
    if (!(cfg->noise_std >= 0))
        return ml_error("moe: noise_std must be >= 0, got %g", cfg->noise_std);
    if (!(cfg->jitter >= 0 && cfg->jitter < 1))
        return ml_error("moe: jitter must be in [0, 1), got %g", cfg->jitter);
    if (!(cfg->aux_lb_coef >= 0) || !(cfg->aux_z_coef >= 0))
        return ml_error("moe: aux_lb_coef and aux_z_coef must be >= 0, got %g, %g",
                        cfg->aux_lb_coef, cfg->aux_z_coef);
    if (!(cfg->aux_group_coef >= 0) || !(cfg->zero_weight >= 0))
        return ml_error("moe: aux_group and zero_weight must be >= 0, got %g, %g",
                        cfg->aux_group_coef, cfg->zero_weight);
    return validate_balance(cfg);
}

int moe_infer_rows = 256;

/* Forward only: per thread that can run an expert at once (no more than the experts) one
 * [piece, C] input and [piece, H] gate and up scratch, and the piece list, for up to R dispatched
 * rows. The piece height is fixed here, so a later change of moe_infer_rows or of the thread
 * count cannot overrun it. */
static void alloc_expert_scratch(MoeInternal *in, const MoeConfig *cfg, long R) {
    const long E = cfg->n_experts, C = cfg->d_model, H = cfg->hidden;
    long P = moe_infer_rows > 0 && moe_infer_rows < R ? moe_infer_rows : R;
    if (P < 1) P = 1;
    long T = omp_get_max_threads() < E ? omp_get_max_threads() : E;
    in->piece_rows = (int)P, in->n_scratch = (int)T;
    in->xg = ml_alloc_floats(T * P * C);
    in->h1 = ml_alloc_floats(T * P * H);
    in->h2 = ml_alloc_floats(T * P * H);
    in->pieces = ml_alloc(2 * (E + R / P + 1) * sizeof(int32_t)); /* ⌈n_e/P⌉ ≤ n_e/P + 1 */
}

/* infer: forward only (moe_acts_alloc_infer): no backward scratch, no jitter multipliers unless
 * jitter is on, and the SwiGLU activation overwrites the gate in place (h3 = h1). */
static void acts_alloc(MoeActs *a, const MoeConfig *cfg, int max_tokens, int max_T, int infer,
                       int captures) {
    memset(a, 0, sizeof *a);
    MoeInternal *in = ml_alloc(sizeof *in);
    const long N = max_tokens, C = cfg->d_model, EZ = moe_ez(cfg), K = moe_kmax(cfg);
    const long R = N * K, H = cfg->hidden, S = cfg->n_shared, Hs = cfg->shared_hidden;
    in->max_tokens = max_tokens;
    in->max_T = max_T;
    in->kmax = (int)K;
    a->EZ = (int)EZ;
    /* the router input is only read back by the backward pass (or holds the jittered input) */
    if (!infer || cfg->jitter > 0) a->router_in = ml_alloc_floats(N * C);
    a->logits = ml_alloc_floats(N * EZ);
    a->probs = ml_alloc_floats(N * EZ);
    a->topk_idx = ml_alloc(N * K * sizeof(int32_t));
    a->topk_w = ml_alloc_floats(N * K);
    if (captures) a->expert_out = ml_alloc_floats(N * K * C);
    if (S > 0) a->shared_out = ml_alloc_floats(N * C);
    a->counts = ml_alloc(EZ * sizeof(int32_t));
    in->infer = infer;
    if (!infer || cfg->jitter > 0) in->jitter_u = ml_alloc_floats(N * C);
    in->softmax = ml_alloc_floats(N * EZ);
    if (!infer) in->dlogits = ml_alloc_floats(N * EZ), in->dtopk_w = ml_alloc_floats(N * K);
    in->dropped = ml_alloc(N * K);
    if (!infer) {
        in->clean = ml_alloc_floats(N * EZ);
        in->imp = ml_alloc(EZ * sizeof(double)), in->load = ml_alloc(EZ * sizeof(double));
    }
    if (!infer && cfg->choice == CHOICE_EXPERT) /* which rows each expert took; moe_choice.c */
        in->ec_took = ml_alloc((size_t)N * EZ), in->ec_rows = ml_alloc(sizeof(int32_t) * N);
    if (cfg->noise_learned) {
        in->noise_u = ml_alloc_floats(N * EZ), in->noise_eps = ml_alloc_floats(N * EZ);
        if (!infer) in->d_noise_u = ml_alloc_floats(N * EZ);
    }
    if (cfg->level != ROUTE_TOKEN) {
        in->seq_in = ml_alloc_floats(N * C);
        if (!infer) in->d_seq_in = ml_alloc_floats(N * C);
    }
    if (!infer) in->d_router_in = ml_alloc_floats(N * C);
    if (moe_router(cfg)->alloc) moe_router(cfg)->alloc(in, cfg, N, infer);
    in->expert_off = ml_alloc((cfg->n_experts + 1) * sizeof(int32_t));
    in->row_slot = ml_alloc(R * sizeof(int32_t));
    in->slot_row = ml_alloc(R * sizeof(int32_t));
    if (H > 0) {
        /* hidden rows of the experts run here; under expert-parallel storage they run on the
         * owners' exchange buffers (moe_ep.c) instead */
        int swiglu = cfg->act == EXPERT_SWIGLU, here = infer || cfg->shards <= 1;
        if (infer) {
            /* the experts' outputs land in slot order: in the expert_out capture if there is
             * one, else in y */
            alloc_expert_scratch(in, cfg, R);
            in->y = captures ? NULL : ml_alloc_floats(R * C);
        } else { /* every row's input, caches and output, kept for the backward pass */
            in->xg = ml_alloc_floats(R * C);
            in->y = ml_alloc_floats(R * C);
            if (here) in->h1 = ml_alloc_floats(R * H), in->h2 = ml_alloc_floats(R * H);
        }
        if (swiglu && here) in->h3 = infer ? in->h1 : ml_alloc_floats(R * H);
        if (!infer) {
            in->dy = ml_alloc_floats(R * C);
            in->dx = ml_alloc_floats(R * C);
        }
        if (!infer && here) {
            in->dh1 = ml_alloc_floats(R * H);
            in->dh2 = ml_alloc_floats(R * H);
            if (swiglu) in->dh3 = ml_alloc_floats(R * H);
        }
    }
    if (S > 0) {
        in->sh1 = ml_alloc_floats(S * N * Hs);
        in->sh2 = ml_alloc_floats(S * N * Hs);
        if (cfg->act == EXPERT_SWIGLU) in->sh3 = infer ? in->sh1 : ml_alloc_floats(S * N * Hs);
        in->sh_raw = ml_alloc_floats(N * C);
        in->sh_gate = ml_alloc_floats(N);
        if (!infer) {
            in->dsh1 = ml_alloc_floats(N * Hs);
            in->dsh2 = ml_alloc_floats(N * Hs);
            if (cfg->act == EXPERT_SWIGLU) in->dsh3 = ml_alloc_floats(N * Hs);
        }
        if (!infer || S > 1) in->dsh_raw = ml_alloc_floats(N * C); /* forward sums shared experts */
    }
    a->internal = in;
}

void moe_acts_alloc(MoeActs *a, const MoeConfig *cfg, int max_tokens, int max_T) {
    acts_alloc(a, cfg, max_tokens, max_T, 0, 1);
}

void moe_acts_alloc_infer(MoeActs *a, const MoeConfig *cfg, int max_tokens, int max_T,
                          int captures) {
    acts_alloc(a, cfg, max_tokens, max_T, 1, captures);
}

void moe_acts_free(MoeActs *a) {
    MoeInternal *in = a->internal;
    float *fl[] = {a->router_in, a->logits, a->probs, a->topk_w, a->expert_out, a->shared_out};
    for (unsigned i = 0; i < sizeof fl / sizeof fl[0]; i++) ml_free(fl[i]);
    ml_free(a->topk_idx);
    ml_free(a->counts);
    if (in) {
        if (in->h3 == in->h1) in->h3 = NULL; /* inference: aliases */
        if (in->sh3 == in->sh1) in->sh3 = NULL;
        void *bufs[] = {in->jitter_u,   in->softmax,  in->dlogits,     in->dtopk_w,   in->dropped,
                        in->seq_in,     in->d_seq_in, in->d_router_in, in->cos_q,     in->cos_qn,
                        in->cos_chat,   in->cos_cn,   in->cos_val,     in->cos_dq,    in->cos_dc,
                        in->expert_off, in->row_slot, in->slot_row,    in->xg,        in->h1,
                        in->h2,         in->h3,       in->y,           in->dy,        in->dh1,
                        in->dh2,        in->dh3,      in->dx,          in->sh1,       in->sh2,
                        in->sh3,        in->sh_raw,   in->sh_gate,     in->dsh1,      in->dsh2,
                        in->dsh3,       in->dsh_raw,  in->clean,       in->imp,       in->load,
                        in->ec_took,    in->ec_rows,  in->noise_u,     in->noise_eps, in->d_noise_u,
                        in->pieces};
        for (unsigned i = 0; i < sizeof bufs / sizeof bufs[0]; i++) ml_free(bufs[i]);
        if (in->ep_free) in->ep_free(in->ep);
        ml_free(in);
    }
    memset(a, 0, sizeof *a);
}
