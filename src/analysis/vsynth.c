/* 3. Most exciting inputs, synthesised: gradient ascent on the input image from seeded noise
 * with a smoothness (total variation) and norm (L2 around mid-grey) prior (see vision_an.h). */
#include "analysis/vision_an.h"
#include "core/mem.h"
#include "core/rng.h"
#include <math.h>
#include <string.h>

SynthOptions synth_default_options(void) {
    return (SynthOptions){
        .steps = 200, .lr = 0.05, .tv = 1.0, .l2 = 0.5, .init_std = 0.1, .seed = 1};
}

/* P(x) = tv·Σ squared differences of horizontal and vertical neighbours + l2·Σ (x − ½)²;
 * its gradient is added (× −1) to grad. Returns P(x). */
double synth_prior(const float *x, int C, int S, double tv, double l2, float *grad) {
    double p = 0;
    for (int c = 0; c < C; c++)
        for (int y = 0; y < S; y++)
            for (int q = 0; q < S; q++) {
                long i = ((long)c * S + y) * S + q;
                double m = x[i] - 0.5;
                p += l2 * m * m;
                if (grad) grad[i] -= (float)(2 * l2 * m);
                for (int dir = 0; dir < 2; dir++) { /* right and down neighbours */
                    if ((dir == 0 && q + 1 >= S) || (dir == 1 && y + 1 >= S)) continue;
                    long j = dir == 0 ? i + 1 : i + S;
                    double d = x[j] - x[i];
                    p += tv * d * d;
                    if (grad) grad[i] += (float)(2 * tv * d), grad[j] -= (float)(2 * tv * d);
                }
            }
    return p;
}

static double rms(const float *g, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += (double)g[i] * g[i];
    return n ? sqrt(s / n) : 0;
}

double synth_ascend(SynthFn f, void *ctx, int C, int S, const SynthOptions *o, float *x,
                    double *f_start) {
    long n = (long)C * S * S;
    Rng r;
    rng_seed(&r, o->seed);
    for (long i = 0; i < n; i++) {
        float v = 0.5f + (float)o->init_std * rng_normal(&r);
        x[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    float *g = ml_alloc_floats(n), *m1 = ml_alloc_floats(n), *m2 = ml_alloc_floats(n);
    double f0 = f(ctx, x, g), scale = rms(g, n);
    if (f_start) *f_start = f0;
    if (!(scale > 0)) scale = 1; /* a flat start: the prior alone acts */
    for (int t = 1; t <= o->steps; t++) {
        if (t > 1) f(ctx, x, g);
        for (long i = 0; i < n; i++) g[i] = (float)(g[i] / scale);
        synth_prior(x, C, S, o->tv, o->l2, g);
        /* Adam (ascent), step size decayed linearly to 0 so the iterate settles */
        double lr = o->lr * (1 - (double)(t - 1) / o->steps);
        double c1 = 1 - pow(0.9, t), c2 = 1 - pow(0.999, t);
        for (long i = 0; i < n; i++) {
            m1[i] = 0.9f * m1[i] + 0.1f * g[i];
            m2[i] = 0.999f * m2[i] + 0.001f * g[i] * g[i];
            float v = x[i] + (float)(lr * (m1[i] / c1) / (sqrt(m2[i] / c2) + 1e-8));
            x[i] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
    }
    double fend = f(ctx, x, NULL);
    ml_free(g), ml_free(m1), ml_free(m2);
    return fend;
}
