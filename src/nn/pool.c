#include "nn/pool.h"

void maxpool2d_forward(float *out, int32_t *idx, const float *inp, int B, int C, int H, int W,
                       int K, int S) {
    int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
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
