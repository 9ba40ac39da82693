/* 4. Semantic tuning: concept-level responses against semantic dimensions. */
#include "analysis/stats.h"
#include "analysis/vision_an.h"
#include "core/mem.h"
#include <math.h>
#include <string.h>

void vtune_concept_mean(const double *s, const int32_t *concept, int n, int C, double *out) {
    int *cnt = ml_alloc(sizeof(int) * (C ? C : 1));
    for (int c = 0; c < C; c++) out[c] = 0;
    for (int i = 0; i < n; i++)
        if (concept[i] >= 0 && concept[i] < C) out[concept[i]] += s[i], cnt[concept[i]]++;
    for (int c = 0; c < C; c++) out[c] = cnt[c] ? out[c] / cnt[c] : NAN;
    ml_free(cnt);
}

void vtune_spearman(const double *resp, const float *attr, int C, int A, double *rho) {
    double *x = ml_alloc(sizeof(double) * (C ? C : 1)), *y = ml_alloc(sizeof(double) * (C ? C : 1));
    for (int a = 0; a < A; a++) {
        int m = 0;
        for (int c = 0; c < C; c++)
            if (isfinite(resp[c])) x[m] = resp[c], y[m] = attr[(long)c * A + a], m++;
        rho[a] = stat_spearman(x, y, m);
    }
    ml_free(x), ml_free(y);
}

/* Solves the symmetric positive definite system M β = v (size A) in place by Cholesky. */
static int cholesky_solve(double *M, double *v, int A) {
    for (int j = 0; j < A; j++) {
        double d = M[(long)j * A + j];
        for (int k = 0; k < j; k++) d -= M[(long)j * A + k] * M[(long)j * A + k];
        if (d <= 0) return -1;
        d = sqrt(d);
        M[(long)j * A + j] = d;
        for (int i = j + 1; i < A; i++) {
            double s = M[(long)i * A + j];
            for (int k = 0; k < j; k++) s -= M[(long)i * A + k] * M[(long)j * A + k];
            M[(long)i * A + j] = s / d;
        }
    }
    for (int i = 0; i < A; i++) { /* L z = v */
        for (int k = 0; k < i; k++) v[i] -= M[(long)i * A + k] * v[k];
        v[i] /= M[(long)i * A + i];
    }
    for (int i = A - 1; i >= 0; i--) { /* Lᵀ β = z */
        for (int k = i + 1; k < A; k++) v[i] -= M[(long)k * A + i] * v[k];
        v[i] /= M[(long)i * A + i];
    }
    return 0;
}

double vtune_ridge_cv_r2(const double *resp, const float *attr, const int32_t *fold, int C, int A,
                         double lambda) {
    int F = 0;
    for (int c = 0; c < C; c++)
        if (isfinite(resp[c]) && fold[c] + 1 > F) F = fold[c] + 1;
    if (F < 2) return NAN;
    double *mu = ml_alloc(sizeof(double) * A), *sd = ml_alloc(sizeof(double) * A);
    double *M = ml_alloc(sizeof(double) * A * A), *v = ml_alloc(sizeof(double) * A);
    double *z = ml_alloc(sizeof(double) * A), *pred = ml_alloc(sizeof(double) * (C ? C : 1));
    for (int f = 0; f < F; f++) {
        int ntr = 0;
        double ym = 0;
        memset(mu, 0, sizeof(double) * A), memset(sd, 0, sizeof(double) * A);
        for (int c = 0; c < C; c++)
            if (isfinite(resp[c]) && fold[c] != f) {
                ntr++, ym += resp[c];
                for (int a = 0; a < A; a++) mu[a] += attr[(long)c * A + a];
            }
        if (!ntr) continue;
        ym /= ntr;
        for (int a = 0; a < A; a++) mu[a] /= ntr;
        for (int c = 0; c < C; c++)
            if (isfinite(resp[c]) && fold[c] != f)
                for (int a = 0; a < A; a++) {
                    double d = attr[(long)c * A + a] - mu[a];
                    sd[a] += d * d;
                }
        for (int a = 0; a < A; a++) sd[a] = sd[a] > 0 ? sqrt(sd[a] / ntr) : 1; /* constant: 0s */
        memset(M, 0, sizeof(double) * A * A), memset(v, 0, sizeof(double) * A);
        for (int c = 0; c < C; c++) {
            if (!isfinite(resp[c]) || fold[c] == f) continue;
            for (int a = 0; a < A; a++) z[a] = (attr[(long)c * A + a] - mu[a]) / sd[a];
            for (int a = 0; a < A; a++) {
                v[a] += z[a] * (resp[c] - ym);
                for (int b = 0; b <= a; b++) M[(long)a * A + b] += z[a] * z[b];
            }
        }
        for (int a = 0; a < A; a++) {
            for (int b = 0; b < a; b++) M[(long)b * A + a] = M[(long)a * A + b];
            M[(long)a * A + a] += lambda;
        }
        if (cholesky_solve(M, v, A)) continue; /* λ > 0 makes this unreachable */
        for (int c = 0; c < C; c++) {
            if (!isfinite(resp[c]) || fold[c] != f) continue;
            double y = ym;
            for (int a = 0; a < A; a++) y += v[a] * (attr[(long)c * A + a] - mu[a]) / sd[a];
            pred[c] = y;
        }
    }
    double m = 0, sse = 0, sst = 0;
    int n = 0;
    for (int c = 0; c < C; c++)
        if (isfinite(resp[c])) m += resp[c], n++;
    m /= n;
    for (int c = 0; c < C; c++)
        if (isfinite(resp[c]))
            sse += (resp[c] - pred[c]) * (resp[c] - pred[c]), sst += (resp[c] - m) * (resp[c] - m);
    ml_free(mu), ml_free(sd), ml_free(M), ml_free(v), ml_free(z), ml_free(pred);
    return sst > 0 ? 1 - sse / sst : NAN;
}
