#include "stats/erank.h"
#include "core/mem.h"
#include <math.h>

/* One Jacobi rotation zeroing a[p][q] (Golub & Van Loan, Algorithm 8.4.2). */
static void rotate(double *a, int D, int p, int q) {
    double apq = a[p * D + q];
    if (apq == 0) return;
    double tau = (a[q * D + q] - a[p * D + p]) / (2 * apq);
    double t = (tau >= 0 ? 1 : -1) / (fabs(tau) + sqrt(1 + tau * tau));
    double c = 1 / sqrt(1 + t * t), s = t * c;
    for (int k = 0; k < D; k++) { /* columns p, q */
        double akp = a[k * D + p], akq = a[k * D + q];
        a[k * D + p] = c * akp - s * akq, a[k * D + q] = s * akp + c * akq;
    }
    for (int k = 0; k < D; k++) { /* rows p, q */
        double apk = a[p * D + k], aqk = a[q * D + k];
        a[p * D + k] = c * apk - s * aqk, a[q * D + k] = s * apk + c * aqk;
    }
}

void sym_eigenvalues(double *a, int D, double *w) {
    for (int sweep = 0; sweep < 60; sweep++) {
        double off = 0, diag = 0;
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++)
                if (i != j)
                    off += a[i * D + j] * a[i * D + j];
                else
                    diag += a[i * D + i] * a[i * D + i];
        if (off <= 1e-24 * diag || off == 0) break;
        for (int p = 0; p < D - 1; p++)
            for (int q = p + 1; q < D; q++) rotate(a, D, p, q);
    }
    for (int i = 0; i < D; i++) w[i] = a[i * D + i];
}

double effective_rank(const float *X, int n, int D) {
    if (n < 2 || D < 1) return 0;
    double *mu = ml_alloc(sizeof(double) * D), *cov = ml_alloc(sizeof(double) * D * D);
    double *w = ml_alloc(sizeof(double) * D);
    for (int i = 0; i < n; i++)
        for (int d = 0; d < D; d++) mu[d] += X[(long)i * D + d];
    for (int d = 0; d < D; d++) mu[d] /= n;
    for (int i = 0; i < n; i++) /* XcᵀXc: upper triangle, mirrored below */
        for (int a = 0; a < D; a++) {
            double xa = X[(long)i * D + a] - mu[a];
            for (int b = a; b < D; b++) cov[a * D + b] += xa * (X[(long)i * D + b] - mu[b]);
        }
    for (int a = 0; a < D; a++)
        for (int b = 0; b < a; b++) cov[a * D + b] = cov[b * D + a];
    sym_eigenvalues(cov, D, w);
    double total = 0, h = 0;
    for (int d = 0; d < D; d++) total += w[d] = sqrt(w[d] > 0 ? w[d] : 0);
    if (total > 0)
        for (int d = 0; d < D; d++)
            if (w[d] > 0) h -= w[d] / total * log(w[d] / total);
    ml_free(mu), ml_free(cov), ml_free(w);
    return total > 0 ? exp(h) : 0;
}
