/* Expert-choice routing (Zhou et al. 2022, "Mixture-of-Experts with expert choice routing"): in
 * a training forward each expert takes the c rows of the batch with the highest softmax score,
 * so every expert is exactly full and a row gets 0..E experts. RouteChoice in moe.h. */
#include "nn/moe_internal.h"
#include <math.h>
#include <string.h>

int moe_expert_capacity(const MoeConfig *cfg, long N) {
    double cf = cfg->capacity_factor > 0 ? cfg->capacity_factor : 1.0;
    long c = lround(cf * cfg->top_k * (double)N / moe_ez(cfg));
    return (int)(c < 1 ? 1 : c > N ? N : c);
}

/* Rows of the c largest scores of expert e (ties to the lower row), best first: insertion into a
 * sorted list, O(N·c). */
static void top_rows(int32_t *top, const float *p, int EZ, int e, int N, int c) {
    int cnt = 0;
    for (int n = 0; n < N; n++) {
        float v = p[(long)n * EZ + e];
        int at = cnt;
        while (at > 0 && p[(long)top[at - 1] * EZ + e] < v) at--;
        if (at >= c) continue;
        int last = cnt < c ? cnt : c - 1; /* a full list drops its last row */
        memmove(top + at + 1, top + at, (size_t)(last - at) * sizeof *top);
        top[at] = n;
        cnt += cnt < c;
    }
}

/* Row n's slots: the experts that took it, best score first; weights = the scores (× scale,
 * renormalised over them with a->renorm); the rest expert −1, weight 0, SLOT_EMPTY. */
static void fill_row(MoeActs *a, const MoeConfig *cfg, const uint8_t *took, int n) {
    MoeInternal *in = a->internal;
    const int EZ = a->EZ;
    const float *pr = a->probs + (long)n * EZ;
    float key[EZ];
    int m = 0;
    double sum = 0;
    for (int e = 0; e < EZ; e++) {
        int t = took[(long)n * EZ + e];
        key[e] = t ? pr[e] : -INFINITY, m += t, sum += t ? pr[e] : 0;
    }
    int32_t *idx = a->topk_idx + (long)n * EZ;
    float *w = a->topk_w + (long)n * EZ;
    uint8_t *drop = in->dropped + (long)n * EZ;
    moe_topk_select(idx, key, EZ, m);
    const float scale = moe_weight_scale(cfg);
    for (int j = 0; j < EZ; j++) {
        float s = j < m ? pr[idx[j]] : 0;
        if (j >= m) idx[j] = -1;
        w[j] = scale * (a->renorm && sum > 0 ? (float)(s / sum) : s);
        drop[j] = j < m ? SLOT_KEPT : SLOT_EMPTY;
    }
}

void moe_expert_choice(MoeActs *a, const MoeConfig *cfg, int N) {
    MoeInternal *in = a->internal;
    const int EZ = a->EZ, c = moe_expert_capacity(cfg, N);
    memset(in->ec_took, 0, (size_t)N * EZ);
    for (int e = 0; e < EZ; e++) {
        top_rows(in->ec_rows, a->probs, EZ, e, N, c);
        for (int j = 0; j < c; j++) in->ec_took[(long)in->ec_rows[j] * EZ + e] = 1;
    }
    for (int n = 0; n < N; n++) fill_row(a, cfg, in->ec_took, n);
}
