/* The routing half of the MoE layer: router input (jitter) → logits (the router's row in
 * moe_routers.c; noise; intervention bias) → scores → top-k → combine weights → capacity → counts →
 * auxiliary losses, and its exact backward. Parameter-free routers (hash, domain, dense) choose
 * experts from ids; they have no gradient. Formulas: docs/moe.md. */
#include "dist/dist.h"
#include "nn/linear.h"
#include "nn/moe_internal.h"
#include <math.h>
#include <string.h>

static int effective_k(const MoeActs *a, const MoeConfig *cfg, const MoeOverride *ov) {
    const MoeInternal *in = a->internal;
    if (a->expert_choice) return moe_ez(cfg); /* a row may get every expert */
    int k = ov && ov->k > 0 ? ov->k : cfg->top_k;
    if (k > in->kmax) k = in->kmax; /* buffers hold kmax slots: see MoeConfig.max_k */
    if (k > moe_ez(cfg)) k = moe_ez(cfg);
    return k;
}

static int prunes(const MoeOverride *ov) {
    return ov && (ov->top_p > 0 || ov->min_p > 0);
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

void moe_topk_select(int32_t *idx, const float *key, int n, int k) {
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

/* Shazeer's noisy top-k: u = W_noise·x; in training logits += ε·softplus(u), ε ~ N(0,1) drawn
 * in row-major order over the whole batch (kept for the backward; 0 in evaluation). */
static void learned_noise(MoeActs *a, const MoeParams *p, const MoeConfig *cfg, const float *x,
                          int N, int train, Rng *rng) {
    MoeInternal *in = a->internal;
    const int EZ = moe_ez(cfg);
    const long before = share_start(a, N), after = batch_rows(a, N) - before - N;
    linear_forward(in->noise_u, x, p->noise_w, NULL, N, cfg->d_model, EZ);
    if (!train) {
        memset(in->noise_eps, 0, (size_t)N * EZ * sizeof(float));
        return;
    }
    rng_skip_normal(rng, before * EZ);
    for (int n = 0; n < N; n++) {
        float sd[EZ];
        moe_noise_sd(sd, a, cfg, n);
        for (int e = 0; e < EZ; e++) {
            float eps = (float)rng_normal(rng);
            in->noise_eps[(long)n * EZ + e] = eps;
            a->logits[(long)n * EZ + e] += eps * sd[e];
        }
    }
    rng_skip_normal(rng, after * EZ);
}

/* Router input (with train-time jitter) and raw logits of the scored routers. */
static void compute_logits(MoeActs *a, const MoeParams *p, const MoeConfig *cfg, const float *bias,
                           const float *x, int N, int train, Rng *rng) {
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
    moe_router(cfg)->logits(a, p, cfg, x, N);
    float *clean = cfg->aux_load_coef > 0 ? in->clean : NULL; /* the load estimator reads them */
    if (clean) memcpy(clean, a->logits, (size_t)N * EZ * sizeof(float));
    if (cfg->noise_learned) {
        learned_noise(a, p, cfg, x, N, train, rng);
    } else if (train && cfg->noise_std > 0) {
        rng_skip_normal(rng, before * EZ);
        for (long i = 0; i < (long)N * EZ; i++) a->logits[i] += cfg->noise_std * rng_normal(rng);
        rng_skip_normal(rng, after * EZ);
    }
    if (bias)
        for (int n = 0; n < N; n++)
            for (int e = 0; e < EZ; e++) {
                a->logits[(long)n * EZ + e] += bias[e];
                if (clean) clean[(long)n * EZ + e] += bias[e];
            }
}

/* Marks the picks top_p / min_p skip (MoeOverride, moe.h) as SLOT_PRUNED in drop[k]; the first
 * pick always stays. */
static void prune_picks(uint8_t *drop, const float *pr, const int32_t *idx, int k, int EZ,
                        const MoeOverride *ov) {
    double total = 0, kept = 0;
    for (int e = 0; e < EZ; e++) total += pr[e];
    if (!(total > 0)) return;
    for (int j = 1; j < k; j++) {
        kept += pr[idx[j - 1]] / total * !drop[j - 1];
        double mass = pr[idx[j]] / total;
        if ((ov->top_p > 0 && kept >= ov->top_p) || (ov->min_p > 0 && mass < ov->min_p))
            drop[j] = SLOT_PRUNED;
    }
}

/* Softmax, scores (probs) and selection keys of row n of a scored router. */
static void row_scores(MoeActs *a, const MoeParams *p, const MoeConfig *cfg, int n, float *key) {
    MoeInternal *in = a->internal;
    const int EZ = moe_ez(cfg);
    const float *z = a->logits + (long)n * EZ;
    float *soft = in->softmax + (long)n * EZ, *pr = a->probs + (long)n * EZ;
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
}

/* Scores, top-k and combine weights of one row of a scored router; the weights of the picks the
 * override prunes are 0 and the kept ones share what renormalisation gives them. */
static void score_row(MoeActs *a, const MoeParams *p, const MoeConfig *cfg, const MoeOverride *ov,
                      int n, int k) {
    MoeInternal *in = a->internal;
    const int EZ = moe_ez(cfg);
    const float *z = a->logits + (long)n * EZ, *pr = a->probs + (long)n * EZ;
    int32_t *idx = a->topk_idx + (long)n * k;
    float *w = a->topk_w + (long)n * k;
    uint8_t *drop = in->dropped + (long)n * k;
    float key[EZ];
    row_scores(a, p, cfg, n, key);
    moe_topk_select(idx, key, EZ, k);
    if (prunes(ov)) prune_picks(drop, pr, idx, k, EZ, ov);
    float scale = moe_weight_scale(cfg);
    if (cfg->score == SCORE_TOPK_SOFTMAX) {
        float zs[k];
        int m = 0;
        for (int j = 0; j < k; j++)
            if (!drop[j]) zs[m++] = z[idx[j]];
        softmax_row(zs, zs, m); /* in place: each entry is read before it is written */
        for (int j = 0, i = 0; j < k; j++) w[j] = drop[j] ? 0.0f : zs[i++] * scale;
        return;
    }
    double sum = 0;
    for (int j = 0; j < k; j++)
        if (!drop[j]) sum += pr[idx[j]];
    int renorm = a->renorm && sum > 0;
    for (int j = 0; j < k; j++)
        w[j] = drop[j] ? 0.0f : scale * (renorm ? (float)(pr[idx[j]] / sum) : pr[idx[j]]);
}

/* Fixed rules (hash / domain / dense): first expert from the id, then the next k-1 cyclically;
 * weights 1/k. */
static void fixed_row(MoeActs *a, const MoeConfig *cfg, const int32_t *tokens,
                      const int32_t *domains, int n, int k) {
    MoeInternal *in = a->internal;
    const int EZ = moe_ez(cfg);
    int first = moe_router(cfg)->first(cfg, tokens, domains, n);
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
    a->n_dropped = 0;
    a->n_pruned = 0;
    for (long s = 0; s < (long)N * k; s++) a->n_pruned += in->dropped[s] == SLOT_PRUNED;
    if (cfg->capacity_factor <= 0 || a->expert_choice) return; /* expert choice: full by design */
    const int E = cfg->n_experts;
    long cap = (long)ceil((double)cfg->capacity_factor * batch_rows(a, N) * k / E);
    long used[E];
    memset(used, 0, sizeof used);
    if (a->dist_share) {
        double before[E];
        memset(before, 0, sizeof before);
        for (long s = 0; s < (long)N * k; s++)
            if (a->topk_idx[s] < E && !in->dropped[s]) before[a->topk_idx[s]]++;
        dist_exscan_f64(before, E);
        for (int e = 0; e < E; e++) used[e] = (long)before[e];
    }
    for (long s = 0; s < (long)N * k; s++) {
        int e = a->topk_idx[s];
        if (e >= E || in->dropped[s]) continue; /* zero experts, pruned picks: no capacity */
        if (++used[e] > cap) {
            in->dropped[s] = SLOT_OVER_CAPACITY;
            a->topk_w[s] = 0.0f;
            a->n_dropped++;
        }
    }
}

/* The f_e = counts_e/(N·picks) of the Switch loss: k slots per row, or with expert choice the
 * mean number of experts per row, c·EZ/N (so balanced routing gives L_lb = 1 either way). */
static double picks_per_row(const MoeActs *a, const MoeConfig *cfg, int k) {
    if (!a->expert_choice) return k;
    return (double)moe_expert_capacity(cfg, a->N) * a->EZ / a->N;
}

/* Counts and auxiliary losses; under dist_share their sums are the whole batch's, so f_e and P_e
 * (and the loss) are global. */
static void compute_aux(MoeActs *a, const MoeConfig *cfg, int N, int k) {
    MoeInternal *in = a->internal;
    const int EZ = moe_ez(cfg);
    /* picks per expert, Σ_n softmax, Σ_n logsumexp², importance and load per expert */
    double sums[4 * EZ + 1], *imp = sums + 2 * EZ + 1, *load = imp + EZ;
    memset(sums, 0, sizeof sums);
    for (long s = 0; s < (long)N * k; s++) { /* pruned picks were not run: not counted */
        if (a->topk_idx[s] < 0) continue;    /* unfilled (expert choice) */
        sums[a->topk_idx[s]] += in->dropped[s] != SLOT_PRUNED;
        imp[a->topk_idx[s]] += a->topk_w[s];
    }
    for (int e = 0; e < EZ; e++)
        for (int n = 0; n < N; n++) sums[EZ + e] += in->softmax[(long)n * EZ + e];
    if (moe_router_scored(cfg))
        for (int n = 0; n < N; n++) {
            double l = logsumexp_row(a->logits + (long)n * EZ, EZ);
            sums[2 * EZ] += l * l;
        }
    if (cfg->aux_load_coef > 0) { /* forward-only buffers keep no clean copy: nor is noise drawn */
        const float *clean = in->clean ? in->clean : a->logits;
        for (int n = 0; n < N; n++) {
            float sd[EZ];
            moe_noise_sd(sd, a, cfg, n);
            moe_load_row_add(load, clean + (long)n * EZ, a->logits + (long)n * EZ, EZ, k, sd);
        }
    }
    if (a->dist_share) dist_sum_f64(sums, 4 * EZ + 1);
    const double NB = (double)batch_rows(a, N);
    double lb = 0;
    for (int e = 0; e < EZ; e++) {
        a->counts[e] = (int32_t)sums[e];
        lb += sums[e] / (NB * picks_per_row(a, cfg, k)) * (sums[EZ + e] / NB);
    }
    a->aux_lb = (float)(EZ * lb);
    a->aux_z = (float)(sums[2 * EZ] / NB);
    a->aux_group = (float)moe_group_loss(cfg, a->counts, sums + EZ, NB, k);
    a->aux_imp = a->aux_load = 0;
    if (cfg->aux_imp_coef > 0) a->aux_imp = (float)moe_cv_squared(imp, EZ, NULL);
    if (cfg->aux_load_coef > 0) a->aux_load = (float)moe_cv_squared(load, EZ, NULL);
    if (in->imp) memcpy(in->imp, imp, EZ * sizeof(double)); /* for the backward pass */
    if (in->load) memcpy(in->load, load, EZ * sizeof(double));
}

void moe_route_forward(MoeActs *a, const MoeParams *p, const MoeConfig *cfg, const MoeOverride *ov,
                       const float *x, const int32_t *tokens, const int32_t *domains, int N,
                       int train, Rng *rng) {
    a->expert_choice = cfg->choice == CHOICE_EXPERT && train && moe_router_scored(cfg) &&
                       ((MoeInternal *)a->internal)->ec_took; /* not with forward-only buffers */
    const int k = effective_k(a, cfg, ov);
    a->N = N;
    a->k = k;
    a->EZ = moe_ez(cfg);
    a->renorm = ov && ov->renorm >= 0 ? ov->renorm : cfg->renorm;
    memset(((MoeInternal *)a->internal)->dropped, SLOT_KEPT, (size_t)N * k);
    if (moe_router_scored(cfg)) {
        compute_logits(a, p, cfg, ov ? ov->logit_bias : NULL, x, N, train, rng);
        if (a->expert_choice) {
#pragma omp parallel for schedule(static)
            for (int n = 0; n < N; n++) {
                float key[a->EZ];
                row_scores(a, p, cfg, n, key);
            }
            moe_expert_choice(a, cfg, N);
        } else {
#pragma omp parallel for schedule(static)
            for (int n = 0; n < N; n++) score_row(a, p, cfg, ov, n, k);
        }
    } else {
        if (a->router_in) memcpy(a->router_in, x, (size_t)N * cfg->d_model * sizeof(float));
        ((MoeInternal *)a->internal)->jittered = 0;
        for (int n = 0; n < N; n++) fixed_row(a, cfg, tokens, domains, n, k);
    }
    apply_capacity(a, cfg, N, k);
    compute_aux(a, cfg, N, k);
}

/* Per-expert coefficients of the batch-level auxiliary losses in the backward pass. */
typedef struct {
    double *lb;   /* dL/dsoftmax_ne (load-balance and group losses; the same for every row) */
    double *imp;  /* dL/d(combine weight of e), importance loss; NULL when off */
    double *load; /* dL/dP_ne, load loss; NULL when off */
} AuxGrad;

/* dL/dlogits of one row: combine weights, load-balance, importance, load and z-loss terms. */
static void dlogits_row(MoeActs *a, const MoeConfig *cfg, const float *dtopk_w, const AuxGrad *ag,
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
    for (int j = 0; j < k; j++) {
        int off = in->dropped[(long)n * k + j]; /* weight 0 whatever the logits */
        g[j] = off ? 0.0f : dtopk_w[(long)n * k + j] + (ag->imp ? (float)ag->imp[idx[j]] : 0.0f);
    }
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
        int m = k; /* filled slots: expert choice leaves the last ones empty (expert −1) */
        while (m > 0 && idx[m - 1] < 0) m--;
        for (int j = 0; j < m; j++) sum += pr[idx[j]];
        if (a->renorm && sum > 0) {
            for (int j = 0; j < m; j++) dot += g[j] * (pr[idx[j]] / sum);
            for (int j = 0; j < m; j++) ds[idx[j]] += (float)(scale / sum * (g[j] - dot));
        } else {
            for (int j = 0; j < m; j++) ds[idx[j]] += scale * g[j];
        }
        if (cfg->score == SCORE_SIGMOID) {
            for (int e = 0; e < EZ; e++) dz[e] += ds[e] * pr[e] * (1.0f - pr[e]);
        } else {
            double sd = 0;
            for (int e = 0; e < EZ; e++) sd += (double)soft[e] * ds[e];
            for (int e = 0; e < EZ; e++) dz[e] += soft[e] * (float)(ds[e] - sd);
        }
    }
    /* L_lb = EZ·Σ_e f_e·mean_n softmax_e: dL/dsoftmax_ne = coef·EZ·f_e/N = lb_c[e] (plus the
     * group loss's term, which has the same form). */
    if (cfg->aux_lb_coef > 0 || cfg->aux_group_coef > 0) {
        double sd = 0;
        for (int e = 0; e < EZ; e++) sd += soft[e] * ag->lb[e];
        for (int e = 0; e < EZ; e++) dz[e] += soft[e] * (float)(ag->lb[e] - sd);
    }
    if (cfg->aux_z_coef > 0) {
        double c = cfg->aux_z_coef * 2.0 * logsumexp_row(z, EZ) / NB;
        for (int e = 0; e < EZ; e++) dz[e] += (float)(c * soft[e]);
    }
    float own[EZ], dsd[EZ]; /* load loss through each expert's clean logit and its noise sd */
    memset(own, 0, sizeof own);
    memset(dsd, 0, sizeof dsd);
    if (ag->load) {
        float sd[EZ];
        moe_noise_sd(sd, a, cfg, n);
        moe_load_row_grad(dz, own, dsd, ag->load, in->clean + (long)n * EZ, z, EZ, k, sd);
    }
    if (cfg->noise_learned) /* dz is dL/d(noisy logit) so far: noisy = clean + ε·softplus(u) */
        for (int e = 0; e < EZ; e++) {
            long i = (long)n * EZ + e;
            float sig = 1.0f / (1.0f + expf(-in->noise_u[i]));
            in->d_noise_u[i] = (dz[e] * in->noise_eps[i] + dsd[e]) * sig;
        }
    for (int e = 0; e < EZ; e++) dz[e] += own[e];
}

void moe_route_backward(float *dx, MoeParams *g, const float *dtopk_w, MoeActs *a,
                        const MoeParams *p, const MoeConfig *cfg, const float *x, int N) {
    if (!moe_router_scored(cfg)) return; /* ids decide: nothing depends on x or parameters */
    MoeInternal *in = a->internal;
    const int EZ = moe_ez(cfg), C = cfg->d_model, k = a->k;
    const double NB = (double)batch_rows(a, N); /* counts are the whole batch's too */
    double lb_c[EZ];
    for (int e = 0; e < EZ; e++)
        lb_c[e] = (double)cfg->aux_lb_coef * EZ *
                  ((double)a->counts[e] / (NB * picks_per_row(a, cfg, k))) / NB;
    moe_group_dsoftmax(lb_c, cfg, a->counts, NB, k, cfg->aux_group_coef);
    double imp_c[EZ], load_c[EZ];
    AuxGrad ag = {lb_c, NULL, NULL};
    if (cfg->aux_imp_coef > 0) {
        moe_cv_squared(in->imp, EZ, imp_c);
        for (int e = 0; e < EZ; e++) imp_c[e] *= cfg->aux_imp_coef;
        ag.imp = imp_c;
    }
    if (cfg->aux_load_coef > 0) {
        moe_cv_squared(in->load, EZ, load_c);
        for (int e = 0; e < EZ; e++) load_c[e] *= cfg->aux_load_coef;
        ag.load = load_c;
    }
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) dlogits_row(a, cfg, dtopk_w, &ag, n, k);
    memset(in->d_router_in, 0, (size_t)N * C * sizeof(float));
    moe_router(cfg)->backward(a, g, p, cfg);
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
