/* The MoE layer: (sequence mean) → routing half (moe_route.c) → shared experts → routed experts
 * and combine (moe_experts.c); backward in reverse. */
#include "nn/moe.h"
#include "nn/moe_experts.h"
#include <string.h>

/* Router input of sequence-level routing: causal running mean, or the whole sequence's mean. */
static void seq_mean_forward(float *m, const float *x, RouteLevel level, int B, int T, int C) {
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        double acc[C];
        memset(acc, 0, sizeof acc);
        const float *xb = x + (long)b * T * C;
        float *mb = m + (long)b * T * C;
        for (int t = 0; t < T; t++) {
            for (int c = 0; c < C; c++) acc[c] += xb[(long)t * C + c];
            if (level == ROUTE_SEQ_CAUSAL)
                for (int c = 0; c < C; c++) mb[(long)t * C + c] = (float)(acc[c] / (t + 1));
        }
        if (level == ROUTE_SEQ_MEAN)
            for (int t = 0; t < T; t++)
                for (int c = 0; c < C; c++) mb[(long)t * C + c] = (float)(acc[c] / T);
    }
}

/* dx += ∂m/∂x ᵀ dm for the means above. */
static void seq_mean_backward(float *dx, const float *dm, RouteLevel level, int B, int T, int C) {
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        double acc[C];
        memset(acc, 0, sizeof acc);
        const float *dmb = dm + (long)b * T * C;
        float *dxb = dx + (long)b * T * C;
        if (level == ROUTE_SEQ_MEAN) {
            for (int t = 0; t < T; t++)
                for (int c = 0; c < C; c++) acc[c] += dmb[(long)t * C + c];
            for (int t = 0; t < T; t++)
                for (int c = 0; c < C; c++) dxb[(long)t * C + c] += (float)(acc[c] / T);
        } else { /* x_τ feeds m_t for every t ≥ τ with weight 1/(t+1) */
            for (int t = T - 1; t >= 0; t--) {
                for (int c = 0; c < C; c++) acc[c] += dmb[(long)t * C + c] / (double)(t + 1);
                for (int c = 0; c < C; c++) dxb[(long)t * C + c] += (float)acc[c];
            }
        }
    }
}

void moe_forward(float *out, MoeActs *a, const MoeParams *p, const MoeConfig *cfg,
                 const MoeOverride *ov, const float *inp, const int32_t *tokens,
                 const int32_t *domains, int B, int T, int train, Rng *rng) {
    MoeInternal *in = a->internal;
    const int N = B * T;
    const float *router_x = inp;
    if (cfg->level != ROUTE_TOKEN) {
        seq_mean_forward(in->seq_in, inp, cfg->level, B, T, cfg->d_model);
        router_x = in->seq_in;
    }
    moe_route_forward(a, p, cfg, ov, router_x, tokens, domains, N, train, rng);
    if (cfg->n_shared > 0) moe_shared_forward(a, p, cfg, inp);
    moe_experts_forward(out, a, p, cfg, inp);
}

void moe_backward(float *dinp, MoeParams *g, const float *dout, MoeActs *a, const MoeParams *p,
                  const MoeConfig *cfg, const float *inp, int B, int T) {
    MoeInternal *in = a->internal;
    const int N = B * T, C = cfg->d_model;
    moe_experts_backward(dinp, g, in->dtopk_w, dout, a, p, cfg);
    if (cfg->n_shared > 0) moe_shared_backward(dinp, g, dout, a, p, cfg, inp);
    if (cfg->level == ROUTE_TOKEN) {
        moe_route_backward(dinp, g, in->dtopk_w, a, p, cfg, inp, N);
    } else {
        memset(in->d_seq_in, 0, (size_t)N * C * sizeof(float));
        moe_route_backward(in->d_seq_in, g, in->dtopk_w, a, p, cfg, in->seq_in, N);
        seq_mean_backward(dinp, in->d_seq_in, cfg->level, B, T, C);
    }
}
