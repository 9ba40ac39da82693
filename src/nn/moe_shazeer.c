/* Shazeer et al. 2017 ("Outrageously large neural networks", §4 and appendix A) balancing
 * losses of the MoE layer: importance CV(Imp)², Imp_e = Σ_n (combine weight of e for row n), and
 * load CV(Load)², Load_e = Σ_n P(e in the row's top-k), with the smooth estimator
 * P_ne = Φ((clean_ne − kth_excluding(noisy_n, k, e)) / sd_ne). The noise sd is the layer's fixed
 * noise_std (router_noise), or with noise_learned Shazeer's softplus(W_noise·x)_e per row.
 * Formulas: docs/moe.md. */
#include "nn/moe_internal.h"
#include <math.h>

#define CV_EPS 1e-10 /* as the paper's reference code (cv_squared) */

double moe_cv_squared(const double *v, int n, double *dv) {
    if (n < 2) {
        for (int i = 0; dv && i < n; i++) dv[i] = 0;
        return 0;
    }
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += v[i];
    mean /= n;
    for (int i = 0; i < n; i++) var += (v[i] - mean) * (v[i] - mean);
    var /= n;
    const double den = mean * mean + CV_EPS;
    /* ∂/∂v_i of var/den: 2(v_i − mean)/(n·den) − var·2·mean/(n·den²) */
    for (int i = 0; dv && i < n; i++)
        dv[i] = 2.0 * (v[i] - mean) / (n * den) - var * 2.0 * mean / (n * den * den);
    return var / den;
}

/* The k+1 largest noisy logits' indices, best first (ties to the lower index); m = min(k+1, EZ). */
static int top_k_plus_one(int32_t *idx, const float *z, int EZ, int k) {
    int m = k + 1 < EZ ? k + 1 : EZ;
    moe_topk_select(idx, z, EZ, m);
    return m;
}

/* kth_excluding(noisy, k, e): the k-th largest noisy logit among the others. When e is in the
 * top k that is the (k+1)-th overall, else the k-th. Returns its index. */
static int threshold_of(const int32_t *top, int k, int e) {
    for (int j = 0; j < k; j++)
        if (top[j] == e) return top[k];
    return top[k - 1];
}

static double normal_cdf(double t) {
    return 0.5 * erfc(-t / sqrt(2.0));
}

static double normal_pdf(double t) {
    return exp(-0.5 * t * t) / sqrt(2.0 * M_PI);
}

void moe_noise_sd(float *sd, const MoeActs *a, const MoeConfig *cfg, int n) {
    const MoeInternal *in = a->internal;
    const int EZ = moe_ez(cfg);
    for (int e = 0; e < EZ; e++) {
        if (!cfg->noise_learned) {
            sd[e] = cfg->noise_std;
            continue;
        }
        float u = in->noise_u[(long)n * EZ + e]; /* softplus, overflow-safe */
        sd[e] = u > 20 ? u : log1pf(expf(u));
    }
}

void moe_load_row_add(double *load, const float *clean, const float *noisy, int EZ, int k,
                      const float *sd) {
    int32_t top[EZ];
    if (top_k_plus_one(top, noisy, EZ, k) <= k) { /* every expert is always picked */
        for (int e = 0; e < EZ; e++) load[e] += 1;
        return;
    }
    for (int e = 0; e < EZ; e++)
        load[e] += normal_cdf(((double)clean[e] - noisy[threshold_of(top, k, e)]) / sd[e]);
}

void moe_load_row_grad(float *dz_noisy, float *dz_clean, float *dsd, const double *c,
                       const float *clean, const float *noisy, int EZ, int k, const float *sd) {
    int32_t top[EZ];
    if (top_k_plus_one(top, noisy, EZ, k) <= k) return;
    for (int e = 0; e < EZ; e++) {
        int m = threshold_of(top, k, e);
        double t = ((double)clean[e] - noisy[m]) / sd[e], d = c[e] * normal_pdf(t) / sd[e];
        dz_clean[e] += (float)d;
        dz_noisy[m] -= (float)d;
        if (dsd) dsd[e] -= (float)(d * t); /* ∂t/∂sd = −t/sd */
    }
}
