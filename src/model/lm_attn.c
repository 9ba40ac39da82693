#include "model/lm_attn.h"
#include "core/mem.h"
#include "nn/attention.h"
#include <cblas.h>
#include <math.h>

#define ATT_BLOCK ATTENTION_BLOCK /* the training kernel's blocking (nn/attention.h) */

void lm_attention_infer(float *out, const float *q, const float *k, const float *v, int B, int T,
                        int NH, int NKV, int HD) {
    const float scale = 1.0f / sqrtf((float)HD);
    const int group = NH / NKV;
    const long qs = (long)NH * HD, ks = (long)NKV * HD; /* row strides of q/out and k/v */
#pragma omp parallel
    {
        float *blk = ml_alloc_floats((size_t)ATT_BLOCK * T);
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * NH; bh++) {
            int b = bh / NH, h = bh % NH, kvh = h / group;
            const float *qb = q + (long)b * T * qs + (long)h * HD;
            const float *kb = k + (long)b * T * ks + (long)kvh * HD;
            const float *vb = v + (long)b * T * ks + (long)kvh * HD;
            float *ob = out + (long)b * T * qs + (long)h * HD;
            for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
                int r1 = r0 + ATT_BLOCK < T ? r0 + ATT_BLOCK : T, M = r1 - r0;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, r1, HD, scale, qb + r0 * qs,
                            qs, kb, ks, 0.0f, blk, T);
                for (int t = r0; t < r1; t++)
                    attention_causal_softmax_row(blk + (long)(t - r0) * T, t, T);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, HD, r1, 1.0f, blk, T, vb,
                            ks, 0.0f, ob + r0 * qs, qs);
            }
        }
        ml_free(blk);
    }
}
