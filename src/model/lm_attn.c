#include "model/lm_attn.h"
#include "core/mem.h"
#include "nn/attention.h"

void lm_attention_infer(float *out, const float *q, const float *k, const float *v, int B, int T,
                        int NH, int NKV, int HD) {
#pragma omp parallel
    {
        float *blk = ml_alloc_floats((size_t)ATTENTION_BLOCK * T);
#pragma omp for schedule(static)
        for (int bh = 0; bh < B * NH; bh++)
            attention_head_forward(out, blk, 0, q, k, v, bh, T, NH, NKV, HD);
        ml_free(blk);
    }
}
