/* Synthesised most exciting inputs (synth.c; part of analyze --only mei, docs/vision_analysis.md,
 * its step over a model va_mei_synth): x ∈ [0,1]^{C·S·S} maximising
 *   f(x)/g₀ − P(x),  P(x) = tv·Σ (neighbour differences)² + l2·Σ (x − ½)²,
 * where g₀ is the RMS of ∇f at the start (so the prior's weights do not depend on f's scale).
 * Adam from x₀ = ½ + init_std·N(0,1) (seeded, clipped), step decayed linearly to 0, x clipped to
 * [0,1] after every step. f returns f(x) and, when grad is non-NULL, writes ∇f(x). */
#pragma once
#include <stdint.h>

typedef double (*SynthFn)(void *ctx, const float *x, float *grad);
typedef struct {
    int steps;
    double lr, tv, l2, init_std;
    uint64_t seed;
} SynthOptions;
SynthOptions synth_default_options(void);
/* P(x); with grad non-NULL, grad −= ∇P(x). */
double synth_prior(const float *x, int C, int S, double tv, double l2, float *grad);
/* Runs the ascent into x; returns f at the end (*f_start: f at the noise start). */
double synth_ascend(SynthFn f, void *ctx, int C, int S, const SynthOptions *o, float *x,
                    double *f_start);
