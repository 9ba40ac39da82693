#include "nn/loss.h"
#include "nn/fastexp.h"
#include <math.h>
#include "nn/threads.h"

/* Per row: m = max z, lse = m + log Σ exp(z − m), loss = lse − z[target], probs = exp(z − m) / Σ.
 * The loss comes from the log-sum-exp, not from log(prob), so a tiny probability cannot give
 * −log(0). The target logit is read before the row is overwritten (probs may alias logits). The
 * total is summed per thread over a static row split, then over threads in order: deterministic. */
double xent_forward(float *probs, float *losses, const float *logits, const int32_t *targets, int N,
                    int V) {
    double total = 0;
#pragma omp parallel
    {
        double part = 0;
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *z = logits + (long)n * V;
            float *p = probs + (long)n * V;
            float mx = z[0];
#pragma omp simd reduction(max : mx)
            for (int j = 1; j < V; j++) mx = z[j] > mx ? z[j] : mx;
            int tgt = targets[n];
            float zt = tgt >= 0 ? z[tgt] : 0.0f; /* before p overwrites z */
            /* exp and sum as two loops: fused, gcc 12 leaves the omp-simd reduction scalar */
#pragma omp simd
            for (int j = 0; j < V; j++) p[j] = fast_expf(z[j] - mx);
            float sum = 0;
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j < V; j++) sum += p[j];
            float loss = tgt >= 0 ? mx + logf(sum) - zt : 0.0f;
            float inv = 1.0f / sum;
#pragma omp simd
            for (int j = 0; j < V; j++) p[j] *= inv;
            if (losses) losses[n] = loss;
            part += loss;
        }
        /* thread i runs iteration i: the partial sums are added in thread order */
#pragma omp for ordered schedule(static, 1)
        for (int t = 0; t < omp_get_num_threads(); t++)
#pragma omp ordered
            total += part;
    }
    return total;
}

void xent_backward(float *dlogits, const float *probs, const int32_t *targets, int N, int V,
                   float scale) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *p = probs + (long)n * V;
        float *d = dlogits + (long)n * V;
        int tgt = targets[n];
        if (tgt < 0) {
            for (int j = 0; j < V; j++) d[j] = 0;
            continue;
        }
        for (int j = 0; j < V; j++) d[j] = p[j] * scale;
        d[tgt] -= scale;
    }
}
