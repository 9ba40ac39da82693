/* The routers, one row each (MoeRouter, moe_internal.h): parameters, init, logits and their
 * backward for the scored routers (learned, random, cosine); the fixed rule of the others (hash,
 * domain, dense). Adding a router: its enum value (moe.h), its name (moe_kinds.c), a row here and
 * a case in tests/test_moe_grad.c. Formulas: docs/moe.md. */
#include "core/error.h"
#include "core/mem.h"
#include "nn/linear.h"
#include "nn/moe_internal.h"
#include <math.h>
#include <string.h>

#define NORM_EPS 1e-12f

/* ---- linear routers: logits = W_r·x (learned: trained; random: seeded, frozen) ---- */

static void linear_layout(MoeParams *p, float *base, long *off, const MoeConfig *cfg) {
    p->router_w = moe_take(base, off, (long)moe_ez(cfg) * cfg->d_model);
    if (cfg->noise_learned) p->noise_w = moe_take(base, off, (long)moe_ez(cfg) * cfg->d_model);
}

static void learned_init(MoeParams *p, const MoeConfig *cfg, Rng *rng) {
    rng_fill_normal(rng, p->router_w, (long)moe_ez(cfg) * cfg->d_model,
                    cfg->init_std > 0 ? cfg->init_std : 0.02f);
    if (p->noise_w) /* Shazeer's init: sd = softplus(0) = ln 2 for every input */
        memset(p->noise_w, 0, sizeof(float) * moe_ez(cfg) * cfg->d_model);
}

static void random_init(MoeParams *p, const MoeConfig *cfg, Rng *rng) {
    /* Seeded by cfg->seed alone, so every run with that seed shares the same frozen router. */
    Rng frozen;
    rng_seed(&frozen, cfg->seed ^ 0x5241ULL);
    learned_init(p, cfg, &frozen);
}

static void linear_logits(MoeActs *a, const MoeParams *p, const MoeConfig *cfg, const float *x,
                          int N) {
    linear_forward(a->logits, x, p->router_w, NULL, N, cfg->d_model, moe_ez(cfg));
}

static void linear_backward_any(MoeActs *a, float *dw, const MoeParams *p, const MoeConfig *cfg) {
    MoeInternal *in = a->internal;
    linear_backward(in->d_router_in, dw, NULL, in->dlogits, a->router_in, p->router_w, a->N,
                    cfg->d_model, moe_ez(cfg));
}

static void learned_backward(MoeActs *a, MoeParams *g, const MoeParams *p, const MoeConfig *cfg) {
    linear_backward_any(a, g->router_w, p, cfg);
    MoeInternal *in = a->internal;
    if (p->noise_w)
        linear_backward(in->d_router_in, g->noise_w, NULL, in->d_noise_u, a->router_in, p->noise_w,
                        a->N, cfg->d_model, moe_ez(cfg));
}

static void random_backward(MoeActs *a, MoeParams *g, const MoeParams *p, const MoeConfig *cfg) {
    linear_backward_any(a, NULL, p, cfg); /* the frozen router gets no weight gradient */
}

/* ---- cosine: logits = exp(log_scale)·cos(P·x, c_e) ---- */

static void cosine_layout(MoeParams *p, float *base, long *off, const MoeConfig *cfg) {
    const long C = cfg->d_model, D = cfg->cos_dim;
    p->cos_proj = moe_take(base, off, D * C);
    p->cos_centroids = moe_take(base, off, moe_ez(cfg) * D);
    p->cos_log_scale = moe_take(base, off, 1);
}

static void cosine_init(MoeParams *p, const MoeConfig *cfg, Rng *rng) {
    const long C = cfg->d_model, D = cfg->cos_dim;
    rng_fill_normal(rng, p->cos_proj, D * C, cfg->init_std > 0 ? cfg->init_std : 0.02f);
    rng_fill_normal(rng, p->cos_centroids, moe_ez(cfg) * D, 1.0f); /* direction only */
    p->cos_log_scale[0] = logf(10.0f);
}

static int cosine_validate(const MoeConfig *cfg) {
    if (cfg->cos_dim <= 0)
        return ml_error("moe: cos_dim must be > 0 for the cosine router, got %d", cfg->cos_dim);
    return 0;
}

static void cosine_alloc(MoeInternal *in, const MoeConfig *cfg, long N, int infer) {
    const long EZ = moe_ez(cfg), D = cfg->cos_dim;
    in->cos_q = ml_alloc_floats(N * D);
    in->cos_qn = ml_alloc_floats(N);
    in->cos_chat = ml_alloc_floats(EZ * D);
    in->cos_cn = ml_alloc_floats(EZ);
    in->cos_val = ml_alloc_floats(N * EZ);
    if (!infer) in->cos_dq = ml_alloc_floats(N * D), in->cos_dc = ml_alloc_floats(EZ * D);
}

/* Scales each of n rows of width D to unit length in place; the lengths (guarded) go to nrm. */
static void normalise_rows(float *out, const float *v, float *nrm, long n, int D) {
    for (long r = 0; r < n; r++) {
        const float *x = v + r * D;
        double s = 0;
        for (int d = 0; d < D; d++) s += (double)x[d] * x[d];
        nrm[r] = fmaxf((float)sqrt(s), NORM_EPS);
        for (int d = 0; d < D; d++) out[r * D + d] = x[d] / nrm[r];
    }
}

static void cosine_logits(MoeActs *a, const MoeParams *p, const MoeConfig *cfg, const float *x,
                          int N) {
    MoeInternal *in = a->internal;
    const int C = cfg->d_model, EZ = moe_ez(cfg), D = cfg->cos_dim;
    linear_forward(in->cos_q, x, p->cos_proj, NULL, N, C, D);
    normalise_rows(in->cos_q, in->cos_q, in->cos_qn, N, D); /* q̂ = q/‖q‖ stored in place */
    normalise_rows(in->cos_chat, p->cos_centroids, in->cos_cn, EZ, D);
    linear_forward(in->cos_val, in->cos_q, in->cos_chat, NULL, N, D, EZ);
    float scale = expf(p->cos_log_scale[0]);
    for (long i = 0; i < (long)N * EZ; i++) a->logits[i] = scale * in->cos_val[i];
}

/* Through v̂ = v/‖v‖: dv = (dv̂ − v̂·(v̂·dv̂))/‖v‖, for n rows; accumulates into out. */
static void unnormalise_grad(float *out, const float *dvh, const float *vh, const float *nrm,
                             long n, int D) {
    for (long r = 0; r < n; r++) {
        const float *g = dvh + r * D, *v = vh + r * D;
        double dot = 0;
        for (int d = 0; d < D; d++) dot += (double)v[d] * g[d];
        for (int d = 0; d < D; d++) out[r * D + d] += (g[d] - v[d] * (float)dot) / nrm[r];
    }
}

/* dlogits → log scale, centroids, projection, router input. */
static void cosine_backward(MoeActs *a, MoeParams *g, const MoeParams *p, const MoeConfig *cfg) {
    MoeInternal *in = a->internal;
    const int N = a->N, EZ = moe_ez(cfg), D = cfg->cos_dim, C = cfg->d_model;
    float scale = expf(p->cos_log_scale[0]);
    double dls = 0;
    for (long i = 0; i < (long)N * EZ; i++) {
        dls += (double)in->dlogits[i] * in->cos_val[i];
        in->dlogits[i] *= scale; /* now dL/dcos */
    }
    g->cos_log_scale[0] += (float)(dls * scale);
    memset(in->cos_dq, 0, (size_t)N * D * sizeof(float));
    memset(in->cos_dc, 0, (size_t)EZ * D * sizeof(float));
    linear_backward(in->cos_dq, in->cos_dc, NULL, in->dlogits, in->cos_q, in->cos_chat, N, D, EZ);
    for (int n = 0; n < N; n++) { /* dq in place: each row is read before it is written */
        float *dq = in->cos_dq + (long)n * D;
        const float *q = in->cos_q + (long)n * D;
        double dot = 0;
        for (int d = 0; d < D; d++) dot += (double)q[d] * dq[d];
        for (int d = 0; d < D; d++) dq[d] = (dq[d] - q[d] * (float)dot) / in->cos_qn[n];
    }
    unnormalise_grad(g->cos_centroids, in->cos_dc, in->cos_chat, in->cos_cn, EZ, D);
    linear_backward(in->d_router_in, g->cos_proj, NULL, in->cos_dq, a->router_in, p->cos_proj, N, C,
                    D);
}

/* ---- fixed rules: the first expert from an id, the next k-1 cyclically, weights 1/k ---- */

/* Seeded token-id → expert hash (splitmix64 finaliser). */
static uint32_t hash_token(uint64_t seed, int32_t tok) {
    uint64_t z = seed * 0x9e3779b97f4a7c15ULL + (uint64_t)(uint32_t)tok + 0x632be59bd9b4e019ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static int hash_first(const MoeConfig *cfg, const int32_t *tokens, const int32_t *domains, int n) {
    return tokens ? (int)(hash_token(cfg->seed, tokens[n]) % moe_ez(cfg)) : 0;
}

static int domain_first(const MoeConfig *cfg, const int32_t *tokens, const int32_t *domains,
                        int n) {
    const int E = cfg->n_experts;
    return domains ? ((domains[n] % E) + E) % E : 0;
}

static int dense_first(const MoeConfig *cfg, const int32_t *tokens, const int32_t *domains, int n) {
    return 0;
}

static int dense_validate(const MoeConfig *cfg) {
    if (cfg->n_experts != 1 || cfg->n_zero != 0 || cfg->top_k != 1)
        return ml_error("moe: router dense needs n_experts 1, n_zero 0, top_k 1, got %d, %d, %d",
                        cfg->n_experts, cfg->n_zero, cfg->top_k);
    return 0;
}

const MoeRouter moe_routers[MOE_N_ROUTERS] = {
    [ROUTER_LEARNED] = {.layout = linear_layout,
                        .init = learned_init,
                        .logits = linear_logits,
                        .backward = learned_backward},
    [ROUTER_RANDOM] = {.layout = linear_layout,
                       .init = random_init,
                       .frozen = 1,
                       .logits = linear_logits,
                       .backward = random_backward},
    [ROUTER_COSINE] = {.layout = cosine_layout,
                       .init = cosine_init,
                       .validate = cosine_validate,
                       .alloc = cosine_alloc,
                       .logits = cosine_logits,
                       .backward = cosine_backward},
    [ROUTER_HASH] = {.first = hash_first},
    [ROUTER_DOMAIN] = {.first = domain_first},
    [ROUTER_DENSE] = {.validate = dense_validate, .first = dense_first},
};
