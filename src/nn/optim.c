#include "nn/optim.h"
#include <math.h>
#include "nn/threads.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

typedef struct {
    float b1, b2, eps, step_size, bc2_sqrt, keep;
} AdamStep;

/* One element; fmaf spells out the contractions gcc made in the plain loop, so the vector path
 * below and this one give the same bits. */
static inline void adamw_one(const AdamStep *a, float *param, const float *grad, float *m, float *v,
                             long i) {
    float g = grad[i];
    float mi = fmaf(m[i], a->b1, (1.0f - a->b1) * g);
    float vi = fmaf(v[i], a->b2, (1.0f - a->b2) * g * g);
    m[i] = mi;
    v[i] = vi;
    float denom = sqrtf(vi) / a->bc2_sqrt + a->eps;
    param[i] = fmaf(param[i], a->keep, -(mi / denom * a->step_size));
}

/* gcc 12 does not vectorise sqrtf without -fno-math-errno (a negative input may set errno), and
 * the scalar sqrt and two divides made AdamW 5 % of a small-preset step; the AVX-512 loop does the
 * same operations 16 at a time (sqrt and divide are correctly rounded either way). */
static void adamw_range(const AdamStep *a, float *param, const float *grad, float *m, float *v,
                        long n) {
    long i = 0;
#ifdef __AVX512F__
    const __m512 b1 = _mm512_set1_ps(a->b1), b2 = _mm512_set1_ps(a->b2);
    const __m512 c1 = _mm512_set1_ps(1.0f - a->b1), c2 = _mm512_set1_ps(1.0f - a->b2);
    const __m512 eps = _mm512_set1_ps(a->eps), step = _mm512_set1_ps(a->step_size);
    const __m512 bc2 = _mm512_set1_ps(a->bc2_sqrt), keep = _mm512_set1_ps(a->keep);
    for (; i + 16 <= n; i += 16) {
        __m512 g = _mm512_loadu_ps(grad + i);
        __m512 mi = _mm512_fmadd_ps(_mm512_loadu_ps(m + i), b1, _mm512_mul_ps(c1, g));
        __m512 vi =
            _mm512_fmadd_ps(_mm512_loadu_ps(v + i), b2, _mm512_mul_ps(_mm512_mul_ps(c2, g), g));
        _mm512_storeu_ps(m + i, mi);
        _mm512_storeu_ps(v + i, vi);
        __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), bc2), eps);
        __m512 upd = _mm512_mul_ps(_mm512_div_ps(mi, denom), step);
        _mm512_storeu_ps(param + i, _mm512_fmsub_ps(_mm512_loadu_ps(param + i), keep, upd));
    }
#endif
    for (; i < n; i++) adamw_one(a, param, grad, m, v, i);
}

#define ADAM_CHUNK 16384 /* elements per task: each element's update is independent */

/* Follows torch.optim.AdamW (single-tensor path) operation by operation so results agree to float
 * rounding: decay first (p *= 1 − lr·wd), then the moments, then
 * p −= (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps), with bc1 = 1 − β1^t, bc2 = 1 − β2^t computed
 * in double as Python does. */
void adamw_update(const AdamW *opt, float *param, const float *grad, float *m, float *v, long n,
                  int t, float lr, int decay) {
    const double bc1 = 1.0 - pow(opt->beta1, t), bc2 = 1.0 - pow(opt->beta2, t);
    const AdamStep a = {
        opt->beta1,       opt->beta2,
        opt->eps,         (float)(lr / bc1),
        (float)sqrt(bc2), decay ? (float)(1.0 - (double)lr * opt->weight_decay) : 1.0f};
    const long chunks = (n + ADAM_CHUNK - 1) / ADAM_CHUNK;
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (long c = 0; c < chunks; c++) {
        long i0 = c * ADAM_CHUNK, len = n - i0 < ADAM_CHUNK ? n - i0 : ADAM_CHUNK;
        adamw_range(&a, param + i0, grad + i0, m + i0, v + i0, len);
    }
}

/* Per-thread partial sums of squares over a static split, added in thread order: deterministic
 * for a given thread count. */
double grad_norm(const float *g, long n) {
    double total = 0;
#pragma omp parallel
    {
        double part = 0;
#pragma omp for schedule(static)
        for (long i = 0; i < n; i++) part += (double)g[i] * g[i];
#pragma omp for ordered schedule(static, 1)
        for (int t = 0; t < omp_get_num_threads(); t++)
#pragma omp ordered
            total += part;
    }
    return sqrt(total);
}

void scale_inplace(float *x, long n, float s) {
#pragma omp parallel for simd schedule(static)
    for (long i = 0; i < n; i++) x[i] *= s;
}
