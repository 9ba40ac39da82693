/* The routing half of the MoE layer: router input (jitter) → logits (linear, frozen random,
 * cosine; noise; intervention bias) → scores → top-k → combine weights → capacity → counts →
 * auxiliary losses, and its exact backward. Parameter-free routers (hash, domain, dense) choose
 * experts from ids; they have no gradient. Formulas: docs/moe.md. */
#include "dist/dist.h"
#include "nn/linear.h"
#include "nn/moe_internal.h"
#include <math.h>
#include <string.h>

#define NORM_EPS 1e-12f

static int effective_k(const MoeActs *a, const MoeConfig *cfg) {
    const MoeInternal *in = a->internal;
    int k = a->k_override > 0 ? a->k_override : cfg->top_k;
    if (k > in->kmax) k = in->kmax; /* buffers hold kmax slots: see MoeConfig.max_k */
    if (k > moe_ez(cfg)) k = moe_ez(cfg);
    return k;
}

static int use_renorm(const MoeActs *a, const MoeConfig *cfg) {
    return a->renorm_override >= 0 ? a->renorm_override : cfg->renorm;
}

/* Seeded token-id → expert hash (splitmix64 finaliser). */
static uint32_t hash_token(uint64_t seed, int32_t tok) {
    uint64_t z = seed * 0x9e3779b97f4a7c15ULL + (uint64_t)(uint32_t)tok + 0x632be59bd9b4e019ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static void softmax_row(float *out, const float *z, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = z[i] > mx ? z[i] : mx;
    if (mx == -INFINITY) { /* every expert masked: no distribution */
        memset(out, 0, n * sizeof(float));
        return;
    }
    double s = 0;
    for (int i = 0; i < n; i++) s += (out[i] = expf(z[i] - mx));
    for (int i = 0; i < n; i++) out[i] = (float)(out[i] / s);
}

static double logsumexp_row(const float *z, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = z[i] > mx ? z[i] : mx;
    if (mx == -INFINITY) return 0; /* fully masked row: contributes nothing to the z-loss */
    double s = 0;
    for (int i = 0; i < n; i++) s += exp((double)z[i] - mx);
    return mx + log(s);
}

/* Indices of the k largest keys, best first; ties go to the lower index. */
static void topk_select(int32_t *idx, const float *key, int n, int k) {
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            int taken = 0;
            for (int m = 0; m < j; m++) taken |= idx[m] == i;
            if (!taken && (best < 0 || key[i] > key[best])) best = i;
        }
        idx[j] = best;
    }
}

/* Data parallel (MoeActs.dist_share): rows of the whole batch, and this rank's first row. */
static long batch_rows(const MoeActs *a, int N) {
    return a->dist_share ? (long)N * dist_size() : N;
}
static long share_start(const MoeActs *a, int N) {
    return a->dist_share ? (long)N * dist_rank() : 0;
}

/* Router input (with train-time jitter) and raw logits of the scored routers. */
static void compute_logits(MoeActs *a, const MoeParams *p, const MoeConfig *cfg, const float *x,
                           int N, int train, Rng *rng) {
    MoeInternal *in = a->internal;
    const int C = cfg->d_model, EZ = moe_ez(cfg);
    long NC = (long)N * C;
    in->jittered = train && cfg->jitter > 0;
    const long before = share_start(a, N), after = batch_rows(a, N) - before - N;
    if (in->jittered) { /* drawn first, in row-major order over the whole batch */
        rng_skip_uniform(rng, before * C);
        for (long i = 0; i < NC; i++)
            in->jitter_u[i] = (1.0f - cfg->jitter) + 2.0f * cfg->jitter * rng_uniform(rng);
        rng_skip_uniform(rng, after * C);
        for (long i = 0; i < NC; i++) a->router_in[i] = x[i] * in->jitter_u[i];
        x = a->router_in;
    } else if (a->router_in) { /* kept for the backward pass (inference reads x in place) */
        memcpy(a->router_in, x, NC * sizeof(float));
    }
    if (cfg->router == ROUTER_COSINE) {
        const int D = cfg->cos_dim;
        linear_forward(in->cos_q, x, p->cos_proj, NULL, N, C, D);
        for (int n = 0; n < N; n++) { /* q̂ = q/‖q‖ stored in place */
            float *q = in->cos_q + (long)n * D;
            double s = 0;
            for (int d = 0; d < D; d++) s += (double)q[d] * q[d];
            float nrm = fmaxf((float)sqrt(s), NORM_EPS);
            in->cos_qn[n] = nrm;
            for (int d = 0; d < D; d++) q[d] /= nrm;
        }
        for (int e = 0; e < EZ; e++) {
            const float *c = p->cos_centroids + (long)e * D;
            double s = 0;
            for (int d = 0; d < D; d++) s += (double)c[d] * c[d];
            float nrm = fmaxf((float)sqrt(s), NORM_EPS);
            in->cos_cn[e] = nrm;
            for (int d = 0; d < D; d++) in->cos_chat[(long)e * D + d] = c[d] / nrm;
        }
        linear_forward(in->cos_val, in->cos_q, in->cos_chat, NULL, N, D, EZ);
        float scale = expf(p->cos_log_scale[0]);
        for (long i = 0; i < (long)N * EZ; i++) a->logits[i] = scale * in->cos_val[i];
    } else {
        linear_forward(a->logits, x, p->router_w, NULL, N, C, EZ);
    }
    if (train && cfg->noise_std > 0) {
        rng_skip_normal(rng, before * EZ);
        for (long i = 0; i < (long)N * EZ; i++) a->logits[i] += cfg->noise_std * rng_normal(rng);
        rng_skip_normal(rng, after * EZ);
    }
    if (a->logit_bias)
        for (int n = 0; n < N; n++)
            for (int e = 0; e < EZ; e++) a->logits[(long)n * EZ + e] += a->logit_bias[e];
}

/* Scores, top-k and combine weights of one row of a scored router. */
static void score_row(MoeActs *a, const MoeParams *p, const MoeConfig *cfg, int n, int k) {
    MoeInternal *in = a->internal;
    const int EZ = moe_ez(cfg);
    const float *z = a->logits + (long)n * EZ;
    float *soft = in->softmax + (long)n * EZ, *pr = a->probs + (long)n * EZ;
    int32_t *idx = a->topk_idx + (long)n * k;
    float *w = a->topk_w + (long)n * k;
    float key[EZ];
    softmax_row(soft, z, EZ);
    if (cfg->score == SCORE_SIGMOID) {
        for (int e = 0; e < EZ; e++) {
            pr[e] = 1.0f / (1.0f + expf(-z[e]));
            key[e] = pr[e] + (p->balance_bias ? p->balance_bias[e] : 0.0f);
        }
    } else {
        memcpy(pr, soft, EZ * sizeof(float));
        memcpy(key, z,
               EZ * sizeof(float)); /* softmax is monotone: rank by logits, no underflow ties */
    }
    topk_select(idx, key, EZ, k);
    float scale = moe_weight_scale(cfg);
    if (cfg->score == SCORE_TOPK_SOFTMAX) {
        for (int j = 0; j < k; j++) w[j] = z[idx[j]];
        softmax_row(w, w, k); /* in place: each entry is read before it is written */
        for (int j = 0; j < k; j++) w[j] *= scale;
        return;
    }
    double sum = 0;
    for (int j = 0; j < k; j++) sum += pr[idx[j]];
    int renorm = use_renorm(a, cfg) && sum > 0;
    for (int j = 0; j < k; j++) w[j] = scale * (renorm ? (float)(pr[idx[j]] / sum) : pr[idx[j]]);
}

/* Hash / domain / dense: first expert from the id, then the next k-1 cyclically; weights 1/k. */
static void fixed_row(MoeActs *a, const MoeConfig *cfg, const int32_t *tokens,
                      const int32_t *domains, int n, int k) {
    MoeInternal *in = a->internal;
    const int EZ = moe_ez(cfg), E = cfg->n_experts;
    int first = 0;
    if (cfg->router == ROUTER_HASH)
        first = tokens ? (int)(hash_token(cfg->seed, tokens[n]) % EZ) : 0;
    if (cfg->router == ROUTER_DOMAIN) first = domains ? ((domains[n] % E) + E) % E : 0;
    float *pr = a->probs + (long)n * EZ;
    memset(pr, 0, EZ * sizeof(float));
    memset(a->logits + (long)n * EZ, 0, EZ * sizeof(float));
    for (int j = 0; j < k; j++) {
        int e = (first + j) % EZ;
        a->topk_idx[(long)n * k + j] = e;
        a->topk_w[(long)n * k + j] = 1.0f / k;
        pr[e] = 1.0f / k;
    }
    memcpy(in->softmax + (long)n * EZ, pr, EZ * sizeof(float));
}

/* Tokens beyond an expert's capacity, in (token, slot) order, lose that slot (weight 0). A rank's
 * share starts where the ranks before it left each expert's fill (their picks, an exclusive scan).
 */
static void apply_capacity(MoeActs *a, const MoeConfig *cfg, int N, int k) {
    MoeInternal *in = a->internal;
    memset(in->dropped, 0, (size_t)N * k);
    a->n_dropped = 0;
    if (cfg->capacity_factor <= 0) return;
    const int E = cfg->n_experts;
    long cap = (long)ceil((double)cfg->capacity_factor * batch_rows(a, N) * k / E);
    long used[E];
    memset(used, 0, sizeof used);
    if (a->dist_share) {
        double before[E];
        memset(before, 0, sizeof before);
        for (long s = 0; s < (long)N * k; s++)
            if (a->topk_idx[s] < E) before[a->topk_idx[s]]++;
        dist_exscan_f64(before, E);
        for (int e = 0; e < E; e++) used[e] = (long)before[e];
    }
    for (long s = 0; s < (long)N * k; s++) {
        int e = a->topk_idx[s];
        if (e >= E) continue; /* zero experts cost nothing: no capacity */
        if (++used[e] > cap) {
            in->dropped[s] = 1;
            a->topk_w[s] = 0.0f;
            a->n_dropped++;
        }
    }
}

/* Counts and auxiliary losses; under dist_share their sums are the whole batch's, so f_e and P_e
 * (and the loss) are global. */
static void compute_aux(MoeActs *a, const MoeConfig *cfg, int N, int k) {
    MoeInternal *in = a->internal;
    const int EZ = moe_ez(cfg);
    double sums[2 * EZ + 1]; /* picks per expert, Σ_n softmax per expert, Σ_n logsumexp² */
    memset(sums, 0, sizeof sums);
    for (long s = 0; s < (long)N * k; s++) sums[a->topk_idx[s]]++;
    for (int e = 0; e < EZ; e++)
        for (int n = 0; n < N; n++) sums[EZ + e] += in->softmax[(long)n * EZ + e];
    if (moe_router_scored(cfg))
        for (int n = 0; n < N; n++) {
            double l = logsumexp_row(a->logits + (long)n * EZ, EZ);
            sums[2 * EZ] += l * l;
        }
    if (a->dist_share) dist_sum_f64(sums, 2 * EZ + 1);
    const double NB = (double)batch_rows(a, N);
    double lb = 0;
    for (int e = 0; e < EZ; e++) {
        a->counts[e] = (int32_t)sums[e];
        lb += sums[e] / (NB * k) * (sums[EZ + e] / NB);
    }
    a->aux_lb = (float)(EZ * lb);
    a->aux_z = (float)(sums[2 * EZ] / NB);
}

void moe_route_forward(MoeActs *a, const MoeParams *p, const MoeConfig *cfg, const float *x,
                       const int32_t *tokens, const int32_t *domains, int N, int train, Rng *rng) {
    const int k = effective_k(a, cfg);
    a->N = N;
    a->k = k;
    a->EZ = moe_ez(cfg);
    if (moe_router_scored(cfg)) {
        compute_logits(a, p, cfg, x, N, train, rng);
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) score_row(a, p, cfg, n, k);
    } else {
        if (a->router_in) memcpy(a->router_in, x, (size_t)N * cfg->d_model * sizeof(float));
        ((MoeInternal *)a->internal)->jittered = 0;
        for (int n = 0; n < N; n++) fixed_row(a, cfg, tokens, domains, n, k);
    }
    apply_capacity(a, cfg, N, k);
    compute_aux(a, cfg, N, k);
}

/* dL/dlogits of one row: combine weights, load-balance and z-loss terms. */
static void dlogits_row(MoeActs *a, const MoeConfig *cfg, const float *dtopk_w, const double *lb_c,
                        int n, int k) {
    MoeInternal *in = a->internal;
    const int EZ = moe_ez(cfg);
    const double NB = (double)batch_rows(a, a->N);
    const float *z = a->logits + (long)n * EZ, *soft = in->softmax + (long)n * EZ;
    const float *pr = a->probs + (long)n * EZ;
    const int32_t *idx = a->topk_idx + (long)n * k;
    float *dz = in->dlogits + (long)n * EZ;
    float g[k];
    const float scale = moe_weight_scale(cfg);
    for (int j = 0; j < k; j++)
        g[j] = in->dropped[(long)n * k + j] ? 0.0f : dtopk_w[(long)n * k + j];
    memset(dz, 0, EZ * sizeof(float));
    if (cfg->score == SCORE_TOPK_SOFTMAX) {
        float zs[k], q[k];
        for (int j = 0; j < k; j++) zs[j] = z[idx[j]];
        softmax_row(q, zs, k);
        double dot = 0;
        for (int j = 0; j < k; j++) dot += (double)q[j] * g[j];
        for (int j = 0; j < k; j++) dz[idx[j]] += scale * q[j] * (float)(g[j] - dot);
    } else {
        float ds[EZ]; /* dL/d(score) of the selected experts */
        memset(ds, 0, sizeof ds);
        double sum = 0, dot = 0;
        for (int j = 0; j < k; j++) sum += pr[idx[j]];
        if (use_renorm(a, cfg) && sum > 0) {
            for (int j = 0; j < k; j++) dot += g[j] * (pr[idx[j]] / sum);
            for (int j = 0; j < k; j++) ds[idx[j]] += (float)(scale / sum * (g[j] - dot));
        } else {
            for (int j = 0; j < k; j++) ds[idx[j]] += scale * g[j];
        }
        if (cfg->score == SCORE_SIGMOID) {
            for (int e = 0; e < EZ; e++) dz[e] += ds[e] * pr[e] * (1.0f - pr[e]);
        } else {
            double sd = 0;
            for (int e = 0; e < EZ; e++) sd += (double)soft[e] * ds[e];
            for (int e = 0; e < EZ; e++) dz[e] += soft[e] * (float)(ds[e] - sd);
        }
    }
    /* L_lb = EZ·Σ_e f_e·mean_n softmax_e: dL/dsoftmax_ne = coef·EZ·f_e/N = lb_c[e]. */
    if (cfg->aux_lb_coef > 0) {
        double sd = 0;
        for (int e = 0; e < EZ; e++) sd += soft[e] * lb_c[e];
        for (int e = 0; e < EZ; e++) dz[e] += soft[e] * (float)(lb_c[e] - sd);
    }
    if (cfg->aux_z_coef > 0) {
        double c = cfg->aux_z_coef * 2.0 * logsumexp_row(z, EZ) / NB;
        for (int e = 0; e < EZ; e++) dz[e] += (float)(c * soft[e]);
    }
}

/* Cosine router backward: dlogits → log scale, centroids, projection, router input. */
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
    /* through v̂ = v/‖v‖: dv = (dv̂ − v̂·(v̂·dv̂))/‖v‖ */
    for (int n = 0; n < N; n++) {
        float *dq = in->cos_dq + (long)n * D;
        const float *q = in->cos_q + (long)n * D;
        double dot = 0;
        for (int d = 0; d < D; d++) dot += (double)q[d] * dq[d];
        for (int d = 0; d < D; d++) dq[d] = (dq[d] - q[d] * (float)dot) / in->cos_qn[n];
    }
    for (int e = 0; e < EZ; e++) {
        const float *c = in->cos_chat + (long)e * D;
        const float *dc = in->cos_dc + (long)e * D;
        double dot = 0;
        for (int d = 0; d < D; d++) dot += (double)c[d] * dc[d];
        for (int d = 0; d < D; d++)
            g->cos_centroids[(long)e * D + d] += (dc[d] - c[d] * (float)dot) / in->cos_cn[e];
    }
    linear_backward(in->d_router_in, g->cos_proj, NULL, in->cos_dq, a->router_in, p->cos_proj, N, C,
                    D);
}

void moe_route_backward(float *dx, MoeParams *g, const float *dtopk_w, MoeActs *a,
                        const MoeParams *p, const MoeConfig *cfg, const float *x, int N) {
    if (!moe_router_scored(cfg)) return; /* ids decide: nothing depends on x or parameters */
    MoeInternal *in = a->internal;
    const int EZ = moe_ez(cfg), C = cfg->d_model, k = a->k;
    const double NB = (double)batch_rows(a, N); /* counts are the whole batch's too */
    double lb_c[EZ];
    for (int e = 0; e < EZ; e++)
        lb_c[e] = (double)cfg->aux_lb_coef * EZ * ((double)a->counts[e] / (NB * k)) / NB;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) dlogits_row(a, cfg, dtopk_w, lb_c, n, k);
    memset(in->d_router_in, 0, (size_t)N * C * sizeof(float));
    if (cfg->router == ROUTER_COSINE) {
        cosine_backward(a, g, p, cfg);
    } else { /* the frozen random router gets no weight gradient */
        float *dw = cfg->router == ROUTER_LEARNED ? g->router_w : NULL;
        linear_backward(in->d_router_in, dw, NULL, in->dlogits, a->router_in, p->router_w, N, C,
                        EZ);
    }
    if (!dx) return;
    long NC = (long)N * C;
    if (in->jittered)
        for (long i = 0; i < NC; i++) dx[i] += in->d_router_in[i] * in->jitter_u[i];
    else
        for (long i = 0; i < NC; i++) dx[i] += in->d_router_in[i];
}

void moe_update_balance_bias(MoeParams *p, const MoeActs *a, const MoeConfig *cfg) {
    if (!p->balance_bias || cfg->bias_rate == 0) return;
    const int EZ = moe_ez(cfg);
    double mean = 0;
    for (int e = 0; e < EZ; e++) mean += a->counts[e];
    mean /= EZ;
    for (int e = 0; e < EZ; e++) {
        double d = mean - a->counts[e];
        p->balance_bias[e] += cfg->bias_rate * (float)((d > 0) - (d < 0));
    }
}
