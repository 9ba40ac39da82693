#include "moe_ref.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RP(f) (lay->f ? prm + (lay->f - base) : NULL)

static double gelu(double x) {
    return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

/* y[C] = FFN(x[C]) of one expert; weights are [H,C]/[C,H] slices. */
static void ffn(double *y, const double *x, const double *w1, const double *b1, const double *w2,
                const double *b2, const double *wg, const double *wu, const double *wd,
                ExpertAct act, int C, int H) {
    double *h = calloc(H, sizeof *h);
    for (int i = 0; i < H; i++) {
        if (act == EXPERT_GELU) {
            double a = b1 ? b1[i] : 0;
            for (int c = 0; c < C; c++) a += w1[i * C + c] * x[c];
            h[i] = gelu(a);
        } else {
            double g = 0, u = 0;
            for (int c = 0; c < C; c++) g += wg[i * C + c] * x[c], u += wu[i * C + c] * x[c];
            h[i] = g / (1 + exp(-g)) * u;
        }
    }
    for (int c = 0; c < C; c++) {
        const double *w = act == EXPERT_GELU ? w2 : wd;
        double s = act == EXPERT_GELU && b2 ? b2[c] : 0;
        for (int i = 0; i < H; i++) s += w[c * H + i] * h[i];
        y[c] = s;
    }
    free(h);
}

/* Router input of every token: token, causal running mean or full mean; then jitter. */
static void router_input(double *r, const double *x, const MoeConfig *cfg, const MoeRefOpts *o) {
    const int C = cfg->d_model, T = o->T;
    for (int b = 0; b < o->B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) {
                double s = 0;
                int lo = cfg->level == ROUTE_TOKEN ? t : 0;
                int hi = cfg->level == ROUTE_SEQ_MEAN ? T - 1 : t;
                for (int u = lo; u <= hi; u++) s += x[((long)b * T + u) * C + c];
                long i = ((long)b * T + t) * C + c;
                r[i] = s / (hi - lo + 1) * (o->jitter_u ? o->jitter_u[i] : 1.0);
            }
}

static void logits_of(double *z, const double *r, const double *prm, const MoeParams *lay,
                      const float *base, const MoeConfig *cfg, const MoeRefOpts *o, int n) {
    const int C = cfg->d_model, EZ = cfg->n_experts + cfg->n_zero, D = cfg->cos_dim;
    if (cfg->router == ROUTER_COSINE) {
        const double *P = RP(cos_proj), *cen = RP(cos_centroids);
        double q[64], qn = 0;
        for (int d = 0; d < D; d++) {
            q[d] = 0;
            for (int c = 0; c < C; c++) q[d] += P[d * C + c] * r[c];
            qn += q[d] * q[d];
        }
        qn = fmax(sqrt(qn), 1e-12);
        for (int e = 0; e < EZ; e++) {
            double cn = 0, dot = 0;
            for (int d = 0; d < D; d++)
                cn += cen[e * D + d] * cen[e * D + d], dot += q[d] * cen[e * D + d];
            z[e] = exp(RP(cos_log_scale)[0]) * dot / (qn * fmax(sqrt(cn), 1e-12));
        }
    } else {
        const double *W = RP(router_w);
        for (int e = 0; e < EZ; e++) {
            z[e] = 0;
            for (int c = 0; c < C; c++) z[e] += W[e * C + c] * r[c];
        }
    }
    for (int e = 0; e < EZ; e++) {
        if (o->noise) z[e] += o->noise[(long)n * EZ + e];
        if (o->logit_bias) z[e] += o->logit_bias[e];
    }
}

void moe_ref_forward(double *out, int *sel, double *aux_lb, double *aux_z, double *min_gap,
                     const double *prm, const MoeParams *lay, const float *base,
                     const MoeConfig *cfg, const double *x, const MoeRefOpts *o) {
    const int N = o->B * o->T, C = cfg->d_model, E = cfg->n_experts, EZ = E + cfg->n_zero;
    const int k = o->k, scored = cfg->router <= ROUTER_COSINE;
    const double scale = cfg->weight_scale == 0 ? 1.0 : cfg->weight_scale;
    double *r = calloc((size_t)N * C, sizeof *r), *soft = calloc((size_t)N * EZ, sizeof *soft);
    double *w = calloc((size_t)N * k, sizeof *w), *y = calloc(C, sizeof *y);
    int *cnt = calloc(EZ, sizeof *cnt);
    double zl = 0;
    *min_gap = INFINITY;
    router_input(r, x, cfg, o);
    for (int n = 0; n < N; n++) {
        double z[64], key[64], s[64], sm = 0, mx = -INFINITY;
        int *idx = sel + (long)n * k;
        if (scored) {
            logits_of(z, r + (long)n * C, prm, lay, base, cfg, o, n);
            for (int e = 0; e < EZ; e++) mx = fmax(mx, z[e]);
            for (int e = 0; e < EZ; e++) sm += exp(z[e] - mx);
            for (int e = 0; e < EZ; e++) soft[(long)n * EZ + e] = exp(z[e] - mx) / sm;
            zl += (mx + log(sm)) * (mx + log(sm));
            for (int e = 0; e < EZ; e++) {
                s[e] = cfg->score == SCORE_SIGMOID ? 1 / (1 + exp(-z[e])) : soft[(long)n * EZ + e];
                key[e] = cfg->score == SCORE_SIGMOID ? s[e] + RP(balance_bias)[e] : z[e];
            }
            int used[64] = {0};
            for (int j = 0; j < k; j++) {
                int best = -1;
                for (int e = 0; e < EZ; e++)
                    if (!used[e] && (best < 0 || key[e] > key[best])) best = e;
                idx[j] = best, used[best] = 1;
            }
            for (int e = 0; e < EZ; e++)
                if (!used[e]) *min_gap = fmin(*min_gap, key[idx[k - 1]] - key[e]);
            double tot = 0, ez = 0;
            for (int j = 0; j < k; j++) tot += s[idx[j]], ez += exp(z[idx[j]] - mx);
            for (int j = 0; j < k; j++) {
                double v = cfg->score == SCORE_TOPK_SOFTMAX ? exp(z[idx[j]] - mx) / ez
                           : o->renorm                      ? s[idx[j]] / tot
                                                            : s[idx[j]];
                w[(long)n * k + j] = scale * v;
            }
        } else {
            int first = cfg->router == ROUTER_HASH     ? o->hash_first[n]
                        : cfg->router == ROUTER_DOMAIN ? o->domains[n] % E
                                                       : 0;
            for (int j = 0; j < k; j++) {
                idx[j] = (first + j) % EZ;
                w[(long)n * k + j] = 1.0 / k;
                soft[(long)n * EZ + idx[j]] = 1.0 / k;
            }
        }
        for (int j = 0; j < k; j++) cnt[idx[j]]++;
    }
    double lb = 0;
    for (int e = 0; e < EZ; e++) {
        double P = 0;
        for (int n = 0; n < N; n++) P += soft[(long)n * EZ + e];
        lb += (double)cnt[e] / (N * k) * P / N;
    }
    *aux_lb = EZ * lb;
    *aux_z = scored ? zl / N : 0;
    if (cfg->capacity_factor > 0) { /* later (token, slot) pairs past capacity are dropped */
        long cap = (long)ceil((double)cfg->capacity_factor * N * k / E), used[64] = {0};
        for (long i = 0; i < (long)N * k; i++)
            if (sel[i] < E && ++used[sel[i]] > cap) sel[i] = -1 - sel[i];
    }
    const int H = cfg->hidden, Hs = cfg->shared_hidden;
    for (int n = 0; n < N; n++) {
        const double *xn = x + (long)n * C;
        double *o_n = out + (long)n * C;
        for (int c = 0; c < C; c++) o_n[c] = 0;
        for (int j = 0; j < k && H > 0; j++) {
            int e = sel[(long)n * k + j];
            if (e < 0 || e >= E) continue;
            long hc = (long)e * H * C;
            ffn(y, xn, lay->w1 ? RP(w1) + hc : 0, lay->b1 ? RP(b1) + e * H : 0,
                lay->w2 ? RP(w2) + hc : 0, lay->b2 ? RP(b2) + e * C : 0, lay->wg ? RP(wg) + hc : 0,
                lay->wu ? RP(wu) + hc : 0, lay->wd ? RP(wd) + hc : 0, cfg->act, C, H);
            for (int c = 0; c < C; c++) o_n[c] += w[(long)n * k + j] * y[c];
        }
        double gate = 1;
        if (cfg->n_shared > 0 && cfg->shared_gate) {
            double a = 0;
            for (int c = 0; c < C; c++) a += RP(shared_gate_w)[c] * xn[c];
            gate = 1 / (1 + exp(-a));
        }
        for (int sI = 0; sI < cfg->n_shared; sI++) {
            long hc = (long)sI * Hs * C;
            ffn(y, xn, lay->sw1 ? RP(sw1) + hc : 0, lay->sb1 ? RP(sb1) + sI * Hs : 0,
                lay->sw2 ? RP(sw2) + hc : 0, lay->sb2 ? RP(sb2) + sI * C : 0,
                lay->swg ? RP(swg) + hc : 0, lay->swu ? RP(swu) + hc : 0,
                lay->swd ? RP(swd) + hc : 0, cfg->act, C, Hs);
            for (int c = 0; c < C; c++) o_n[c] += gate * y[c];
        }
    }
    free(r), free(soft), free(w), free(y), free(cnt);
}

double fd_central(FdLossFn f, void *ctx, double *v, double eps, uint64_t base_sig, int *stable) {
    double keep = *v;
    uint64_t sp, sm;
    *v = keep + eps;
    double lp = f(ctx, &sp);
    *v = keep - eps;
    double lm = f(ctx, &sm);
    *v = keep;
    *stable = sp == base_sig && sm == base_sig;
    return (lp - lm) / (2 * eps);
}
