#include "nn/norm2d.h"
#include <math.h>

void groupnorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                       const float *beta, int B, int C, int HW, int G, float eps) {
    int cg = C / G;
    long n = (long)cg * HW;
#pragma omp parallel for schedule(static)
    for (long bg = 0; bg < (long)B * G; bg++) {
        const float *x = inp + bg * n; /* a group's channels are contiguous in NCHW */
        double s = 0, ss = 0;
        for (long i = 0; i < n; i++) s += x[i];
        double m = s / n;
        for (long i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
        float r = (float)(1.0 / sqrt(ss / n + eps));
        mean[bg] = (float)m;
        rstd[bg] = r;
        int c0 = (int)(bg % G) * cg;
        float *y = out + bg * n;
        for (int c = 0; c < cg; c++)
            for (int p = 0; p < HW; p++) {
                long i = (long)c * HW + p;
                y[i] = ((x[i] - (float)m) * r) * gamma[c0 + c] + beta[c0 + c];
            }
    }
}

void groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *gamma, const float *mean, const float *rstd,
                        int B, int C, int HW, int G) {
    int cg = C / G;
    long n = (long)cg * HW;
    /* input gradient: per (image, group), parallel and race-free */
    if (dinp) {
#pragma omp parallel for schedule(static)
        for (long bg = 0; bg < (long)B * G; bg++) {
            const float *x = inp + bg * n, *dy = dout + bg * n;
            float m = mean[bg], r = rstd[bg];
            int c0 = (int)(bg % G) * cg;
            double sum_g = 0, sum_gx = 0; /* Σ dŷ and Σ dŷ·x̂, dŷ = dy·γ */
            for (int c = 0; c < cg; c++)
                for (int p = 0; p < HW; p++) {
                    long i = (long)c * HW + p;
                    float g = dy[i] * gamma[c0 + c];
                    sum_g += g;
                    sum_gx += g * (x[i] - m) * r;
                }
            float mg = (float)(sum_g / n), mgx = (float)(sum_gx / n);
            float *dx = dinp + bg * n;
            for (int c = 0; c < cg; c++)
                for (int p = 0; p < HW; p++) {
                    long i = (long)c * HW + p;
                    float xh = (x[i] - m) * r;
                    dx[i] += r * (dy[i] * gamma[c0 + c] - mg - xh * mgx);
                }
        }
    }
    /* parameter gradients: per channel, summed over images in order (deterministic) */
    if (dgamma || dbeta) {
#pragma omp parallel for schedule(static)
        for (int c = 0; c < C; c++) {
            int g = c / cg;
            float sg = 0, sb = 0;
            for (int b = 0; b < B; b++) {
                const float *x = inp + ((long)b * C + c) * HW, *dy = dout + ((long)b * C + c) * HW;
                float m = mean[b * G + g], r = rstd[b * G + g];
                for (int p = 0; p < HW; p++) {
                    sg += dy[p] * (x[p] - m) * r;
                    sb += dy[p];
                }
            }
            if (dgamma) dgamma[c] += sg;
            if (dbeta) dbeta[c] += sb;
        }
    }
}
