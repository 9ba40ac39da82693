#include "nn/norm.h"
#include <math.h>
#include "nn/threads.h"

/* Weight gradients sum over all N rows. Each thread owns a contiguous slice of the C columns and
 * adds rows in order 0..N-1, so no two threads touch the same element and the summation order of
 * each element does not depend on the thread count (bit-identical for any number of threads). */
#define COLUMN_SLICE(C, c0, c1)                                                                    \
    int nt_ = omp_get_num_threads(), tid_ = omp_get_thread_num();                                  \
    int c0 = (int)((long)(C)*tid_ / nt_), c1 = (int)((long)(C) * (tid_ + 1) / nt_)

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C, float eps) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (long)n * C;
        float *o = out + (long)n * C;
        float m = 0;
#pragma omp simd reduction(+ : m)
        for (int c = 0; c < C; c++) m += x[c];
        m /= C;
        float var = 0; /* two-pass: variance of deviations, stable for large means */
#pragma omp simd reduction(+ : var)
        for (int c = 0; c < C; c++) {
            float d = x[c] - m;
            var += d * d;
        }
        var /= C;
        float s = 1.0f / sqrtf(var + eps);
        for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * w[c] + b[c];
        mean[n] = m;
        rstd[n] = s;
    }
}

void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C) {
    if (dinp) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *x = inp + (long)n * C, *d = dout + (long)n * C;
            float m = mean[n], s = rstd[n];
            float dnorm_mean = 0, dnorm_xhat_mean = 0;
#pragma omp simd reduction(+ : dnorm_mean, dnorm_xhat_mean)
            for (int c = 0; c < C; c++) {
                float dn = w[c] * d[c];
                dnorm_mean += dn;
                dnorm_xhat_mean += dn * (x[c] - m) * s;
            }
            dnorm_mean /= C;
            dnorm_xhat_mean /= C;
            float *di = dinp + (long)n * C;
            for (int c = 0; c < C; c++) {
                float xhat = (x[c] - m) * s;
                di[c] += s * (w[c] * d[c] - dnorm_mean - xhat * dnorm_xhat_mean);
            }
        }
    }
    if (!dw && !db) return;
#pragma omp parallel
    {
        COLUMN_SLICE(C, c0, c1);
        for (int n = 0; n < N; n++) {
            const float *x = inp + (long)n * C, *d = dout + (long)n * C;
            float m = mean[n], s = rstd[n];
            if (dw)
                for (int c = c0; c < c1; c++) dw[c] += d[c] * (x[c] - m) * s;
            if (db)
                for (int c = c0; c < c1; c++) db[c] += d[c];
        }
    }
}

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C,
                     float eps) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (long)n * C;
        float *o = out + (long)n * C;
        float ss = 0;
#pragma omp simd reduction(+ : ss)
        for (int c = 0; c < C; c++) ss += x[c] * x[c];
        float s = 1.0f / sqrtf(ss / C + eps);
        if (w)
            for (int c = 0; c < C; c++) o[c] = x[c] * s * w[c];
        else
            for (int c = 0; c < C; c++) o[c] = x[c] * s;
        rstd[n] = s;
    }
}

/* y = xhat·w with xhat = x·s: dx = s·(dn − xhat·mean(dn·xhat)), dn = dy·w. */
void rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                      const float *rstd, int N, int C) {
    if (dinp) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *x = inp + (long)n * C, *d = dout + (long)n * C;
            float s = rstd[n], dot = 0;
#pragma omp simd reduction(+ : dot)
            for (int c = 0; c < C; c++) dot += (w ? w[c] : 1.0f) * d[c] * x[c];
            dot *= s * s / C; /* mean(dn·xhat) / s, folded so the loop below multiplies x */
            float *di = dinp + (long)n * C;
            if (w)
                for (int c = 0; c < C; c++) di[c] += s * (w[c] * d[c] - x[c] * dot);
            else
                for (int c = 0; c < C; c++) di[c] += s * (d[c] - x[c] * dot);
        }
    }
    if (!dw || !w) return;
#pragma omp parallel
    {
        COLUMN_SLICE(C, c0, c1);
        for (int n = 0; n < N; n++) {
            const float *x = inp + (long)n * C, *d = dout + (long)n * C;
            float s = rstd[n];
            for (int c = c0; c < c1; c++) dw[c] += d[c] * x[c] * s;
        }
    }
}
