#include "nn/pool.h"

/* 2×2 stride 2, the model's only pooling: the window unrolled and branch-free (the argmax by
 * integer masks: data-dependent branches mispredict on about every other window). Ties go to the
 * first maximum in row-major order, as in the general loop. */
#if defined(__GNUC__) && !defined(__clang__)
/* rows are 7-14 outputs: the vectorised loop's set-up cost more than it saved (measured) */
__attribute__((optimize("no-tree-vectorize")))
#endif
void maxpool2x2_plane(float *restrict o, int32_t *restrict ix, const float *restrict x, int W,
                      int OH, int OW) {
    for (int oy = 0; oy < OH; oy++) {
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
