#include "nn/pool.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* 2×2 stride 2, the model's only pooling: the window unrolled and branch-free (the argmax by
 * integer masks: data-dependent branches mispredict on about every other window). Ties go to the
 * first maximum in row-major order, as in the general loop. */
#if defined(__GNUC__) && !defined(__clang__)
/* rows are 7-14 outputs: the vectorised loop's set-up cost more than it saved (measured) */
__attribute__((optimize("no-tree-vectorize")))
#endif
static void
maxpool2x2_rows(float *restrict o, int32_t *restrict ix, const float *restrict x, int W, int oy0,
                int OH, int OW) {
    for (int oy = oy0; oy < OH; oy++) {
        const float *r0 = x + 2 * oy * W, *r1 = r0 + W;
        int base = 2 * oy * W;
        for (int ox = 0; ox < OW; ox++) {
            float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
            int tb = b > a, bd = d > c;
            float mt = tb ? b : a, mb = bd ? d : c;
            int bot = mb > mt, it = tb, ib = W + bd;
            o[oy * OW + ox] = bot ? mb : mt;
            ix[oy * OW + ox] = base + 2 * ox + (it ^ ((it ^ ib) & -bot));
        }
    }
}

#ifdef __AVX512F__
/* One output row (OW ≤ 16) per step: even/odd columns of the two input rows by two-source
 * permutes, the same comparisons as maxpool2x2_rows as lane masks (ties: first in row-major
 * order). Stores are whole vectors while they stay inside the plane (the extra lanes land on the
 * next output row, written next; AMD's masked stores are slow), masked after. Returns the first
 * row left to the scalar loop. */
static int maxpool2x2_rows_avx512(float *o, int32_t *ix, const float *x, int W, int OH, int OW) {
    if (OW > 16) return 0;
    const __m512i even =
        _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const __m512i one = _mm512_set1_epi32(1), wv = _mm512_set1_epi32(W);
    int n = 2 * OW; /* input columns used */
    __mmask16 mlo = (__mmask16)(n >= 16 ? 0xFFFF : (1u << n) - 1);
    __mmask16 mhi = (__mmask16)(n <= 16 ? 0 : (1u << (n - 16)) - 1);
    __mmask16 mo = (__mmask16)((1u << OW) - 1);
    for (int oy = 0; oy < OH; oy++) {
        const float *r0 = x + 2 * oy * W, *r1 = r0 + W;
        __m512 l0 = _mm512_maskz_loadu_ps(mlo, r0), h0 = _mm512_maskz_loadu_ps(mhi, r0 + 16);
        __m512 l1 = _mm512_maskz_loadu_ps(mlo, r1), h1 = _mm512_maskz_loadu_ps(mhi, r1 + 16);
        __m512 a = _mm512_permutex2var_ps(l0, even, h0), b = _mm512_permutex2var_ps(l0, odd, h0);
        __m512 c = _mm512_permutex2var_ps(l1, even, h1), d = _mm512_permutex2var_ps(l1, odd, h1);
        __mmask16 tb = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ),
                  bd = _mm512_cmp_ps_mask(d, c, _CMP_GT_OQ);
        __m512 mt = _mm512_mask_blend_ps(tb, a, b), mb = _mm512_mask_blend_ps(bd, c, d);
        __mmask16 bot = _mm512_cmp_ps_mask(mb, mt, _CMP_GT_OQ);
        __m512 v = _mm512_mask_blend_ps(bot, mt, mb);
        __m512i off = _mm512_mask_blend_epi32(bot, _mm512_maskz_mov_epi32(tb, one),
                                              _mm512_mask_add_epi32(wv, bd, wv, one));
        __m512i at = _mm512_add_epi32(_mm512_add_epi32(_mm512_set1_epi32(2 * oy * W), even), off);
        if ((oy + 1) * OW + 16 - OW <= OH * OW) {
            _mm512_storeu_ps(o + oy * OW, v);
            _mm512_storeu_si512(ix + oy * OW, at);
        } else {
            _mm512_mask_storeu_ps(o + oy * OW, mo, v);
            _mm512_mask_storeu_epi32(ix + oy * OW, mo, at);
        }
    }
    return OH;
}
#endif

void maxpool2x2_plane(float *restrict o, int32_t *restrict ix, const float *restrict x, int W,
                      int OH, int OW) {
    int oy0 = 0;
#ifdef __AVX512F__
    oy0 = maxpool2x2_rows_avx512(o, ix, x, W, OH, OW);
#endif
    maxpool2x2_rows(o, ix, x, W, oy0, OH, OW);
}

void maxpool2d_forward(float *out, int32_t *idx, const float *inp, int B, int C, int H, int W,
                       int K, int S) {
    int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    if (K == 2 && S == 2) {
#pragma omp parallel for schedule(static)
        for (long bc = 0; bc < (long)B * C; bc++)
            maxpool2x2_plane(out + bc * OH * OW, idx + bc * OH * OW, inp + bc * H * W, W, OH, OW);
        return;
    }
#pragma omp parallel for schedule(static)
    for (long bc = 0; bc < (long)B * C; bc++) {
        const float *x = inp + bc * H * W;
        float *o = out + bc * OH * OW;
        int32_t *ix = idx + bc * OH * OW;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                int best = (oy * S) * W + ox * S;
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++) {
                        int at = (oy * S + ky) * W + ox * S + kx;
                        if (x[at] > x[best]) best = at;
                    }
                o[oy * OW + ox] = x[best];
                ix[oy * OW + ox] = best;
            }
    }
}

void maxpool2d_backward(float *dinp, const float *dout, const int32_t *idx, int B, int C, int H,
                        int W, int K, int S) {
    int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
#pragma omp parallel for schedule(static)
    for (long bc = 0; bc < (long)B * C; bc++)
        for (int p = 0; p < OH * OW; p++)
            dinp[bc * H * W + idx[bc * OH * OW + p]] += dout[bc * OH * OW + p];
}

void maxpool2d_backward_set(float *dinp, const float *dout, const int32_t *idx, int B, int C, int H,
                            int W, int K, int S) {
    int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    long HW = (long)H * W;
#pragma omp parallel for schedule(static)
    for (long bc = 0; bc < (long)B * C; bc++) {
        float *dx = dinp + bc * HW; /* zeroed plane by plane, while it is in cache */
        for (long q = 0; q < HW; q++) dx[q] = 0.0f;
        for (int p = 0; p < OH * OW; p++) dx[idx[bc * OH * OW + p]] += dout[bc * OH * OW + p];
    }
}

void avgpool2d_forward(float *out, const float *inp, int B, int C, int H, int W, int K, int S) {
    int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    float scale = 1.0f / (K * K);
#pragma omp parallel for schedule(static)
    for (long bc = 0; bc < (long)B * C; bc++) {
        const float *x = inp + bc * H * W;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float s = 0;
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++) s += x[(oy * S + ky) * W + ox * S + kx];
                out[bc * OH * OW + oy * OW + ox] = s * scale;
            }
    }
}

void avgpool2d_backward(float *dinp, const float *dout, int B, int C, int H, int W, int K, int S) {
    int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    float scale = 1.0f / (K * K);
#pragma omp parallel for schedule(static)
    for (long bc = 0; bc < (long)B * C; bc++) {
        float *dx = dinp + bc * H * W;
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                float g = dout[bc * OH * OW + oy * OW + ox] * scale;
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++) dx[(oy * S + ky) * W + ox * S + kx] += g;
            }
    }
}

void global_avgpool_forward(float *out, const float *inp, int B, int C, int HW) {
#pragma omp parallel for schedule(static)
    for (long bc = 0; bc < (long)B * C; bc++) {
        float s = 0;
        for (int p = 0; p < HW; p++) s += inp[bc * HW + p];
        out[bc] = s / HW;
    }
}

void global_avgpool_backward(float *dinp, const float *dout, int B, int C, int HW) {
#pragma omp parallel for schedule(static)
    for (long bc = 0; bc < (long)B * C; bc++) {
        float g = dout[bc] / HW;
        for (int p = 0; p < HW; p++) dinp[bc * HW + p] += g;
    }
}
