#include "nn/attention.h"
#include "core/mem.h"
#include "nn/fastexp.h"
#include <cblas.h>
#include <math.h>

/* Blocks of ATTENTION_BLOCK query rows only need keys [0, r1), so the GEMMs skip most of the
 * masked upper triangle (about half the work for long T). */
#define ATT_BLOCK ATTENTION_BLOCK

void attention_causal_softmax_row(float *row, int t, int T) {
    float mx = row[0];
#pragma omp simd reduction(max : mx)
    for (int j = 1; j <= t; j++) mx = row[j] > mx ? row[j] : mx;
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j <= t; j++) {
        row[j] = fast_expf(row[j] - mx);
        sum += row[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j <= t; j++) row[j] *= inv;
    for (int j = t + 1; j < T; j++) row[j] = 0;
}

void attention_head_forward(float *out, float *probs, int keep_probs, const float *q,
                            const float *k, const float *v, int bh, int T, int NH, int NKV,
                            int HD) {
    const float scale = 1.0f / sqrtf((float)HD);
    const long qs = (long)NH * HD, ks = (long)NKV * HD; /* row strides of q/out and k/v */
    int b = bh / NH, h = bh % NH, kvh = h / (NH / NKV);
    const float *qb = q + (long)b * T * qs + (long)h * HD;
    const float *kb = k + (long)b * T * ks + (long)kvh * HD;
    const float *vb = v + (long)b * T * ks + (long)kvh * HD;
    float *ob = out + (long)b * T * qs + (long)h * HD;
    for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
        int r1 = r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T, M = r1 - r0;
        float *arow = keep_probs ? probs + (long)r0 * T : probs; /* the block's first row */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, r1, HD, scale, qb + r0 * qs, qs, kb,
                    ks, 0.0f, arow, T);
        for (int t = r0; t < r1; t++) attention_causal_softmax_row(arow + (long)(t - r0) * T, t, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, HD, r1, 1.0f, arow, T, vb, ks,
                    0.0f, ob + r0 * qs, qs);
    }
}

void attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                       int B, int T, int NH, int NKV, int HD) {
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * NH; bh++)
        attention_head_forward(out, att + (long)bh * T * T, 1, q, k, v, bh, T, NH, NKV, HD);
}

/* With P = softmax(S), S = scale·Q·Kᵀ, O = P·V:
 *   dP = dO·Vᵀ,  dS_ij = P_ij (dP_ij − Σ_k P_ik dP_ik),
 *   dQ += scale·dS·K,  dK += scale·dSᵀ·Q,  dV += Pᵀ·dO.
 * Heads sharing a kv head write the same dK/dV rows, so one task owns a (batch, kv head) pair and
 * visits its query heads in a fixed order: no atomics, deterministic sums. */
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *att,
                        const float *q, const float *k, const float *v, int B, int T, int NH,
                        int NKV, int HD) {
    const float scale = 1.0f / sqrtf((float)HD);
    const int group = NH / NKV;
    const long qs = (long)NH * HD, ks = (long)NKV * HD;
    const int blk = T < ATT_BLOCK ? T : ATT_BLOCK;
#pragma omp parallel
    {
        float *ds = ml_alloc_floats((size_t)blk * T); /* dP, then dS, of one row block */
#pragma omp for schedule(static)
        for (int bk = 0; bk < B * NKV; bk++) {
            int b = bk / NKV, kvh = bk % NKV;
            const float *kb = k + (long)b * T * ks + (long)kvh * HD;
            const float *vb = v + (long)b * T * ks + (long)kvh * HD;
            float *dkb = dk + (long)b * T * ks + (long)kvh * HD;
            float *dvb = dv + (long)b * T * ks + (long)kvh * HD;
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                const float *qb = q + (long)b * T * qs + (long)h * HD;
                const float *dob = dout + (long)b * T * qs + (long)h * HD;
                float *dqb = dq + (long)b * T * qs + (long)h * HD;
                const float *ab = att + ((long)b * NH + h) * T * T;
                for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
                    int r1 = r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T, M = r1 - r0;
                    const float *arow = ab + (long)r0 * T;
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, HD, M, 1.0f, arow, T,
                                dob + r0 * qs, qs, 1.0f, dvb, ks);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, r1, HD, 1.0f,
                                dob + r0 * qs, qs, vb, ks, 0.0f, ds, T);
                    for (int t = r0; t < r1; t++) {
                        const float *p = ab + (long)t * T;
                        float *d = ds + (long)(t - r0) * T;
                        float dot = 0;
#pragma omp simd reduction(+ : dot)
                        for (int j = 0; j <= t; j++) dot += p[j] * d[j];
                        for (int j = 0; j <= t; j++) d[j] = p[j] * (d[j] - dot);
                        for (int j = t + 1; j < r1; j++) d[j] = 0;
                    }
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, HD, r1, scale, ds, T,
                                kb, ks, 1.0f, dqb + r0 * qs, qs);
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, HD, M, scale, ds, T,
                                qb + r0 * qs, qs, 1.0f, dkb, ks);
                }
            }
        }
        ml_free(ds);
    }
}
