#include "nn/optim.h"
#include <math.h>
#include "nn/threads.h"

/* Follows torch.optim.AdamW (single-tensor path) operation by operation so results agree to float
 * rounding: decay first (p *= 1 − lr·wd), then the moments, then
 * p −= (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps), with bc1 = 1 − β1^t, bc2 = 1 − β2^t computed
 * in double as Python does. */
void adamw_update(const AdamW *opt, float *param, const float *grad, float *m, float *v, long n,
                  int t, float lr, int decay) {
    const float b1 = opt->beta1, b2 = opt->beta2, eps = opt->eps;
    const double bc1 = 1.0 - pow(opt->beta1, t), bc2 = 1.0 - pow(opt->beta2, t);
    const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float keep = decay ? (float)(1.0 - (double)lr * opt->weight_decay) : 1.0f;
#pragma omp parallel for simd schedule(static)
    for (long i = 0; i < n; i++) {
        float g = grad[i];
        float mi = m[i] * b1 + (1.0f - b1) * g;
        float vi = v[i] * b2 + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        param[i] = param[i] * keep - step_size * (mi / denom);
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
