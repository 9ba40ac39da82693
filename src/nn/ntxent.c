#include "nn/ntxent.h"
#include <cblas.h>
#include <math.h>

long ntxent_cache_floats(int N2, int D) {
    return (long)N2 * D + N2 + (long)N2 * N2 + ((long)N2 * N2 + (long)N2 * D);
}

void ntxent_cache_point(NtxentCache *c, float *block, int N2, int D) {
    c->unit = block;
    c->norms = c->unit + (long)N2 * D;
    c->probs = c->norms + N2;
    c->scratch = c->probs + (long)N2 * N2;
}

float ntxent_forward(NtxentCache *c, const float *z, int N2, int D, float tau, float *top1) {
    for (int i = 0; i < N2; i++) {
        double ss = 0;
        for (int d = 0; d < D; d++) ss += (double)z[(long)i * D + d] * z[(long)i * D + d];
        float nrm = (float)sqrt(ss);
        if (nrm < 1e-12f) nrm = 1e-12f; /* a zero projection stays finite */
        c->norms[i] = nrm;
        for (int d = 0; d < D; d++) c->unit[(long)i * D + d] = z[(long)i * D + d] / nrm;
    }
    float *S = c->probs; /* similarities first, then softmax in place */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N2, N2, D, 1.0f / tau, c->unit, D, c->unit,
                D, 0.0f, S, N2);
    double loss = 0;
    int hits = 0;
    for (int i = 0; i < N2; i++) {
        float *row = S + (long)i * N2;
        int pos = i ^ 1, best = -1;
        float mx = -INFINITY;
        for (int k = 0; k < N2; k++)
            if (k != i && row[k] > mx) mx = row[k], best = k;
        double sum = 0;
        for (int k = 0; k < N2; k++)
            if (k != i) sum += exp((double)row[k] - mx);
        loss += -(double)row[pos] + mx + log(sum);
        hits += best == pos;
        for (int k = 0; k < N2; k++)
            row[k] = k == i ? 0.0f : (float)(exp((double)row[k] - mx) / sum);
    }
    if (top1) *top1 = (float)hits / N2;
    return (float)(loss / N2);
}

void ntxent_backward(float *dz, NtxentCache *c, int N2, int D, float tau, float dloss) {
    /* G = ∂L/∂S (S = similarity/τ); the gradient w.r.t. u is (G + Gᵀ)·U/τ. */
    float *Gs = c->scratch, *du = c->scratch + (long)N2 * N2;
    float scale = dloss / N2;
    for (int i = 0; i < N2; i++)
        for (int k = 0; k < N2; k++) {
            float gik = c->probs[(long)i * N2 + k] - (k == (i ^ 1));
            float gki = c->probs[(long)k * N2 + i] - (i == (k ^ 1));
            Gs[(long)i * N2 + k] = scale * (gik + gki);
        }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N2, D, N2, 1.0f / tau, Gs, N2, c->unit,
                D, 0.0f, du, D);
    /* through the normalisation: dz = (du − (du·u)u)/‖z‖ */
    for (int i = 0; i < N2; i++) {
        const float *u = c->unit + (long)i * D, *g = du + (long)i * D;
        float dot = 0;
        for (int d = 0; d < D; d++) dot += g[d] * u[d];
        for (int d = 0; d < D; d++) dz[(long)i * D + d] += (g[d] - dot * u[d]) / c->norms[i];
    }
}
