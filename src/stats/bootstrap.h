/* Percentile bootstrap over units (documents), stratified: every resample draws, within each
 * stratum (a domain), as many units as the stratum has, with replacement, and hands the statistic
 * each unit's multiplicity as its weight (docs/analysis.md, "Intervals"). */
#pragma once
#include <stdint.h>

/* A statistic of the data under unit weights w[0..U) (1 each for the data themselves). */
typedef double (*BootStat)(const double *w, void *ctx);

typedef struct {
    int U;              /* units */
    const int *stratum; /* [U] stratum of each unit (0..S-1), -1: left out of every resample */
    int B;              /* resamples */
    uint64_t seed;      /* the same seed draws the same resamples for every statistic */
    double level;       /* 0.95 */
} BootPlan;

/* value = f(all weights 1 on kept units); [lo, hi] = the (1−level)/2 and (1+level)/2 empirical
 * quantiles of f over B resamples (quantile q: the smallest x with F(x) ≥ q). NaN resamples are
 * skipped; lo = hi = NaN when none is finite or B < 1. */
void boot_interval(const BootPlan *p, BootStat f, void *ctx, double *value, double *lo, double *hi);

/* K statistics of the same data at once: f fills out[0..K) under weights w. Each gets what
 * boot_interval would give it alone (the same resamples: one plan, one seed), but every resample
 * is drawn once and f may share one pass over the units among its statistics. */
typedef void (*BootStats)(const double *w, void *ctx, double *out);
void boot_intervals(const BootPlan *p, BootStats f, void *ctx, int K, double *value, double *lo,
                    double *hi);
