/* Feature standardisation over groups (see featstd.h). Sums in double: the gate's groups are short
 * (≤ a few hundred elements) and the common component the layer removes can be large. */
#include "nn/featstd.h"
#include <math.h>

FeatStdShape featstd_batch_shape(int N, int C) {
    return (FeatStdShape){.groups = C, .len = N, .gstride = 1, .estride = C};
}

FeatStdShape featstd_row_shape(int N, int C) {
    return (FeatStdShape){.groups = N, .len = C, .gstride = C, .estride = 1};
}

void featstd_forward(float *y, float *mean, float *rstd, const float *x, const FeatStdShape *s,
                     float eps) {
    for (int g = 0; g < s->groups; g++) {
        const float *xg = x + g * s->gstride;
        float *yg = y + g * s->gstride;
        double sum = 0, sq = 0;
        for (int i = 0; i < s->len; i++) sum += xg[i * s->estride];
        double mu = sum / s->len;
        for (int i = 0; i < s->len; i++) {
            double d = xg[i * s->estride] - mu;
            sq += d * d;
        }
        double r = 1.0 / sqrt(sq / s->len + eps);
        for (int i = 0; i < s->len; i++)
            yg[i * s->estride] = (float)((xg[i * s->estride] - mu) * r);
        mean[g] = (float)mu, rstd[g] = (float)r;
    }
}

void featstd_backward(float *dx, const float *dy, const float *y, const float *rstd,
                      const FeatStdShape *s) {
    for (int g = 0; g < s->groups; g++) {
        long o = g * s->gstride;
        double sdy = 0, sdyy = 0;
        for (int i = 0; i < s->len; i++) {
            long q = o + i * s->estride;
            sdy += dy[q], sdyy += (double)dy[q] * y[q];
        }
        sdy /= s->len, sdyy /= s->len;
        for (int i = 0; i < s->len; i++) {
            long q = o + i * s->estride;
            dx[q] += (float)(rstd[g] * (dy[q] - sdy - y[q] * sdyy));
        }
    }
}

void featstd_apply(float *y, const float *x, const float *mean, const float *var, int N, int C,
                   float eps) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            y[(long)n * C + c] = (x[(long)n * C + c] - mean[c]) / sqrtf(var[c] + eps);
}

void featstd_update_running(float *run_mean, float *run_var, const float *mean, const float *rstd,
                            int C, int N, float momentum, float eps) {
    for (int c = 0; c < C; c++) {
        double var = 1.0 / ((double)rstd[c] * rstd[c]) - eps;
        if (var < 0) var = 0;
        if (N > 1) var *= (double)N / (N - 1);
        run_mean[c] = (1 - momentum) * run_mean[c] + momentum * mean[c];
        run_var[c] = (float)((1 - momentum) * run_var[c] + momentum * var);
    }
}
