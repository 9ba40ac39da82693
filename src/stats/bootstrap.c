/* Stratified percentile bootstrap over units (documents): see bootstrap.h. */
#include "stats/bootstrap.h"
#include "core/mem.h"
#include "core/rng.h"
#include <math.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One resample's weights: per stratum, n_s draws with replacement among its n_s units. */
static void draw(const BootPlan *p, const int *order, const int *start, int S, Rng *rng,
                 double *w) {
    for (int u = 0; u < p->U; u++) w[u] = 0;
    for (int s = 0; s < S; s++) {
        int n = start[s + 1] - start[s];
        for (int i = 0; i < n; i++) w[order[start[s] + rng_below(rng, (uint32_t)n)]] += 1;
    }
}

/* The (1−level)/2 and (1+level)/2 empirical quantiles of the n finite values v (sorted here). */
static void quantiles(double *v, int n, double level, double *lo, double *hi) {
    *lo = *hi = NAN;
    if (n <= 0) return;
    qsort(v, n, sizeof(double), cmp_double);
    double a = 0.5 * (1 - level);
    int il = (int)ceil(a * n - 1e-9) - 1, ih = (int)ceil((1 - a) * n - 1e-9) - 1;
    *lo = v[il < 0 ? 0 : il], *hi = v[ih >= n ? n - 1 : ih];
}

void boot_intervals(const BootPlan *p, BootStats f, void *ctx, int K, double *value, double *lo,
                    double *hi) {
    int S = 0, U = p->U;
    for (int u = 0; u < U; u++)
        if (p->stratum[u] + 1 > S) S = p->stratum[u] + 1;
    /* units grouped by stratum: order[start[s] .. start[s+1]) */
    int *start = ml_alloc(sizeof(int) * (S + 2)), *order = ml_alloc(sizeof(int) * (U + 1));
    for (int u = 0; u < U; u++)
        if (p->stratum[u] >= 0) start[p->stratum[u] + 1]++;
    for (int s = 0; s < S; s++) start[s + 1] += start[s];
    int *fill = ml_alloc(sizeof(int) * (S + 1));
    for (int u = 0; u < U; u++)
        if (p->stratum[u] >= 0) order[start[p->stratum[u]] + fill[p->stratum[u]]++] = u;
    double *w = ml_alloc(sizeof(double) * (U + 1));
    for (int u = 0; u < U; u++) w[u] = p->stratum[u] >= 0;
    f(w, ctx, value);
    /* v[i·B ..): statistic i's finite resamples, n[i] of them */
    double *v = ml_alloc(sizeof(double) * ((long)K * p->B + 1)), *x = ml_alloc(sizeof(double) * K);
    int *n = ml_alloc(sizeof(int) * K);
    Rng rng;
    rng_seed(&rng, p->seed);
    for (int b = 0; b < p->B; b++) {
        draw(p, order, start, S, &rng, w);
        f(w, ctx, x);
        for (int i = 0; i < K; i++)
            if (isfinite(x[i])) v[(long)i * p->B + n[i]++] = x[i];
    }
    for (int i = 0; i < K; i++) quantiles(v + (long)i * p->B, n[i], p->level, &lo[i], &hi[i]);
    ml_free(start), ml_free(order), ml_free(fill), ml_free(w), ml_free(v), ml_free(x), ml_free(n);
}

typedef struct {
    BootStat f;
    void *ctx;
} One;

static void one_stat(const double *w, void *ctx, double *out) {
    const One *o = ctx;
    out[0] = o->f(w, o->ctx);
}

void boot_interval(const BootPlan *p, BootStat f, void *ctx, double *value, double *lo,
                   double *hi) {
    One o = {f, ctx};
    boot_intervals(p, one_stat, &o, 1, value, lo, hi);
}
