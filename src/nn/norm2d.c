#include "nn/norm2d.h"
#include "nn/pool.h"
#include <math.h>
#include <stddef.h>

/* Sums over a contiguous run, vectorised: a fixed lane order, so results are the same on every
 * run (and independent of the thread count, as each call is one thread's work). */
static float sum_of(const float *x, long n) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (long i = 0; i < n; i++) s += x[i];
    return s;
}

static float sq_dev_sum(const float *x, long n, float m) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (long i = 0; i < n; i++) s += (x[i] - m) * (x[i] - m);
    return s;
}

/* pool/pidx non-NULL: also 2×2 max-pool each output plane (H × W, HW = H·W) while it is in cache */
static void gn_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                       const float *beta, int B, int C, int HW, int G, float eps, int relu,
                       float *pool, int32_t *pidx, int H, int W) {
    int cg = C / G;
    long n = (long)cg * HW;
#pragma omp parallel for schedule(static)
    for (long bg = 0; bg < (long)B * G; bg++) {
        const float *x = inp + bg * n; /* a group's channels are contiguous in NCHW */
        float m = sum_of(x, n) / n;
        float r = 1.0f / sqrtf(sq_dev_sum(x, n, m) / n + eps);
        mean[bg] = m;
        rstd[bg] = r;
        int c0 = (int)(bg % G) * cg;
        float *y = out + bg * n;
        for (int c = 0; c < cg; c++) { /* y = x·(rγ) + (β − m·rγ) */
            float sc = r * gamma[c0 + c], sh = beta[c0 + c] - m * sc;
            const float *xc = x + (long)c * HW;
            float *yc = y + (long)c * HW;
            if (relu) {
#pragma omp simd
                for (int p = 0; p < HW; p++) {
                    float v = xc[p] * sc + sh;
                    yc[p] = v > 0 ? v : 0.0f;
                }
            } else {
#pragma omp simd
                for (int p = 0; p < HW; p++) yc[p] = xc[p] * sc + sh;
            }
            if (pool) {
                long pl = (bg * cg + c) * (long)(H / 2) * (W / 2);
                maxpool2x2_plane(pool + pl, pidx + pl, yc, W, H / 2, W / 2);
            }
        }
    }
}

void groupnorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                       const float *beta, int B, int C, int HW, int G, float eps) {
    gn_forward(out, mean, rstd, inp, gamma, beta, B, C, HW, G, eps, 0, NULL, NULL, 0, 0);
}

void groupnorm_relu_forward(float *out, float *mean, float *rstd, const float *inp,
                            const float *gamma, const float *beta, int B, int C, int HW, int G,
                            float eps) {
    gn_forward(out, mean, rstd, inp, gamma, beta, B, C, HW, G, eps, 1, NULL, NULL, 0, 0);
}

void groupnorm_relu_maxpool_forward(float *out, float *mean, float *rstd, float *pool,
                                    int32_t *pidx, const float *inp, const float *gamma,
                                    const float *beta, int B, int C, int H, int W, int G,
                                    float eps) {
    gn_forward(out, mean, rstd, inp, gamma, beta, B, C, H * W, G, eps, 1, pool, pidx, H, W);
}

void groupnorm_relu_backward(float *dinp, float *dgamma, float *dbeta, float *part,
                             const float *dout, const float *out, const float *inp,
                             const float *gamma, const float *mean, const float *rstd, int B, int C,
                             int HW, int G) {
    int cg = C / G;
    long n = (long)cg * HW;
    float *psd = part, *psdx = part + (long)B * C; /* per (image, channel) Σ dy and Σ dy·(x − μ) */
#pragma omp parallel for schedule(static)
    for (long bg = 0; bg < (long)B * G; bg++) {
        const float *x = inp + bg * n, *dy = dout + bg * n, *y = out + bg * n;
        float m = mean[bg], r = rstd[bg];
        int c0 = (int)(bg % G) * cg;
        long bc0 = bg / G * C + c0;
        float sum_g = 0, sum_gx = 0;
        for (int c = 0; c < cg; c++) {
            const float *xc = x + (long)c * HW, *dyc = dy + (long)c * HW, *yc = y + (long)c * HW;
            float sd = 0, sdx = 0;
#pragma omp simd reduction(+ : sd, sdx)
            for (int p = 0; p < HW; p++) {
                float d = yc[p] > 0 ? dyc[p] : 0.0f; /* through the ReLU */
                sd += d, sdx += d * (xc[p] - m);
            }
            psd[bc0 + c] = sd, psdx[bc0 + c] = sdx;
            sum_g += gamma[c0 + c] * sd, sum_gx += gamma[c0 + c] * sdx * r;
        }
        float mg = sum_g / n, mgx = sum_gx / n;
        float *dx = dinp + bg * n;
        for (int c = 0; c < cg; c++) {
            const float *xc = x + (long)c * HW, *dyc = dy + (long)c * HW, *yc = y + (long)c * HW;
            float *dxc = dx + (long)c * HW, gr = gamma[c0 + c] * r;
#pragma omp simd
            for (int p = 0; p < HW; p++) {
                float d = yc[p] > 0 ? dyc[p] : 0.0f;
                dxc[p] = gr * d - r * mg - r * r * (xc[p] - m) * mgx;
            }
        }
    }
    /* parameter gradients: per channel, summed over images in order (deterministic) */
    for (int c = 0; c < C; c++) {
        float sg = 0, sb = 0;
        for (int b = 0; b < B; b++)
            sg += psdx[(long)b * C + c] * rstd[b * G + c / cg], sb += psd[(long)b * C + c];
        if (dgamma) dgamma[c] += sg;
        if (dbeta) dbeta[c] += sb;
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
            float sum_g = 0, sum_gx = 0; /* Σ dŷ and Σ dŷ·x̂, dŷ = dy·γ */
            for (int c = 0; c < cg; c++) {
                const float *xc = x + (long)c * HW, *dyc = dy + (long)c * HW;
                float sd = 0, sdx = 0;
#pragma omp simd reduction(+ : sd, sdx)
                for (int p = 0; p < HW; p++) sd += dyc[p], sdx += dyc[p] * (xc[p] - m);
                sum_g += gamma[c0 + c] * sd, sum_gx += gamma[c0 + c] * sdx * r;
            }
            float mg = sum_g / n, mgx = sum_gx / n;
            float *dx = dinp + bg * n;
            for (int c = 0; c < cg; c++) {
                const float *xc = x + (long)c * HW, *dyc = dy + (long)c * HW;
                float *dxc = dx + (long)c * HW, gr = gamma[c0 + c] * r;
#pragma omp simd
                for (int p = 0; p < HW; p++)
                    dxc[p] += gr * dyc[p] - r * mg - r * r * (xc[p] - m) * mgx;
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
                float m = mean[b * G + g], r = rstd[b * G + g], sd = 0, sdx = 0;
#pragma omp simd reduction(+ : sd, sdx)
                for (int p = 0; p < HW; p++) sd += dy[p], sdx += dy[p] * (x[p] - m);
                sg += sdx * r, sb += sd;
            }
            if (dgamma) dgamma[c] += sg;
            if (dbeta) dbeta[c] += sb;
        }
    }
}
