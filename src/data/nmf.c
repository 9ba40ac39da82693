#include "data/nmf.h"
#include "core/mem.h"
#include "core/rng.h"
#include <cblas.h>
#include <math.h>

#define NMF_EPS 1e-9f

static double frobenius_error(const float *X, const float *W, const float *H, int n, int m, int k,
                              float *WH) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, m, k, 1.0f, W, k, H, m, 0.0f, WH, m);
    double s = 0;
    for (long i = 0; i < (long)n * m; i++) {
        double d = (double)X[i] - WH[i];
        s += d * d;
    }
    return sqrt(s);
}

double nmf_fit(const float *X, int n, int m, int k, int iters, uint64_t seed, float *W, float *H,
               double *err) {
    double mean = 0;
    for (long i = 0; i < (long)n * m; i++) mean += X[i];
    mean /= (double)n * m;
    float scale = 2.0f * (float)sqrt(mean / k);
    Rng r;
    rng_seed(&r, seed);
    rng_fill_uniform(&r, W, (long)n * k, 0.0f, scale);
    rng_fill_uniform(&r, H, (long)k * m, 0.0f, scale);
    float *num = ml_alloc_floats((size_t)(n > k ? n : k) * (m > k ? m : k));
    float *kk = ml_alloc_floats((size_t)k * k);
    float *den = ml_alloc_floats((size_t)(n > k ? n : k) * (m > k ? m : k));
    float *WH = ml_alloc_floats((size_t)n * m);
    double e = 0;
    for (int it = 0; it < iters; it++) {
        /* H update: num = WᵀX (k×m), kk = WᵀW (k×k), den = kk·H */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, m, n, 1.0f, W, k, X, m, 0.0f, num,
                    m);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, k, n, 1.0f, W, k, W, k, 0.0f, kk,
                    k);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, m, k, 1.0f, kk, k, H, m, 0.0f,
                    den, m);
        for (long i = 0; i < (long)k * m; i++) H[i] *= num[i] / (den[i] + NMF_EPS);
        /* W update: num = XHᵀ (n×k), kk = HHᵀ (k×k), den = W·kk */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, k, m, 1.0f, X, m, H, m, 0.0f, num,
                    k);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, k, k, m, 1.0f, H, m, H, m, 0.0f, kk,
                    k);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, k, k, 1.0f, W, k, kk, k, 0.0f,
                    den, k);
        for (long i = 0; i < (long)n * k; i++) W[i] *= num[i] / (den[i] + NMF_EPS);
        if (err || it == iters - 1) e = frobenius_error(X, W, H, n, m, k, WH);
        if (err) err[it] = e;
    }
    ml_free(num), ml_free(kk), ml_free(den), ml_free(WH);
    return e;
}
