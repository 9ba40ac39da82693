#include "model/lm_distill.h"
#include "core/mem.h"
#include <float.h>
#include <math.h>
#include <string.h>

/* KL of one row from the two softmaxes; a student probability that underflowed to 0 is taken as
 * the smallest float, so the row stays finite (its term is then at least −p_T·log FLT_MIN). */
static double kl_row(const float *ps, const float *pt, int V) {
    double kl = 0;
    for (int v = 0; v < V; v++)
        if (pt[v] > 0) kl += pt[v] * (log((double)pt[v]) - log(fmax(ps[v], FLT_MIN)));
    return kl;
}

double lm_distill_kl(float *probs, const float *teacher, const int32_t *targets, int N, int V,
                     float scale) {
    double *row = ml_alloc(sizeof(double) * (N ? N : 1)), total = 0;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *ps = probs + (long)n * V;
        const float *pt = teacher + (long)n * V;
        row[n] = 0;
        if (targets[n] < 0) {
            memset(ps, 0, V * sizeof(float));
            continue;
        }
        row[n] = kl_row(ps, pt, V);
        for (int v = 0; v < V; v++) ps[v] = scale * (ps[v] - pt[v]);
    }
    for (int n = 0; n < N; n++)
        total += row[n]; /* in row order: the same sum on any thread count */
    ml_free(row);
    return total;
}
