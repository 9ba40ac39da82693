/* 1. Gating level: routing by category, gate entropy, animacy index with a permutation test. */
#include "analysis/stats.h"
#include "analysis/vision_an.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/rng.h"
#include <math.h>
#include <string.h>

void vgate_matrices(const float *probs, const int32_t *top1, const int32_t *labels, int n, int E,
                    int K, double *mean, double *top1share, double *count) {
    memset(mean, 0, sizeof(double) * K * E);
    memset(top1share, 0, sizeof(double) * K * E);
    memset(count, 0, sizeof(double) * K);
    for (int i = 0; i < n; i++) {
        int k = labels[i];
        count[k] += 1;
        for (int e = 0; e < E; e++) mean[k * E + e] += probs[(long)i * E + e];
        top1share[k * E + top1[i]] += 1;
    }
    for (int k = 0; k < K; k++)
        for (int e = 0; e < E && count[k] > 0; e++)
            mean[k * E + e] /= count[k], top1share[k * E + e] /= count[k];
}

void vgate_entropy(const float *probs, const int32_t *labels, int n, int E, int K, double *h_route,
                   double *h_image) {
    double *m = ml_alloc(sizeof(double) * K * E), *cnt = ml_alloc(sizeof(double) * K);
    double *row = ml_alloc(sizeof(double) * E);
    for (int k = 0; k < K; k++) h_image[k] = 0;
    for (int i = 0; i < n; i++) {
        int k = labels[i];
        cnt[k] += 1;
        for (int e = 0; e < E; e++) row[e] = probs[(long)i * E + e], m[k * E + e] += row[e];
        h_image[k] += stat_entropy(row, E);
    }
    for (int k = 0; k < K; k++) {
        h_route[k] = cnt[k] > 0 ? stat_entropy(m + k * E, E) : NAN;
        h_image[k] = cnt[k] > 0 ? h_image[k] / cnt[k] : NAN;
    }
    ml_free(m), ml_free(cnt), ml_free(row);
}

void vgate_concept_means(const float *probs, const int32_t *concept, int n, int E, int C, double *g,
                         int *count) {
    memset(g, 0, sizeof(double) * C * E);
    memset(count, 0, sizeof(int) * C);
    for (int i = 0; i < n; i++) {
        int c = concept[i];
        if (c < 0 || c >= C) continue;
        count[c]++;
        for (int e = 0; e < E; e++) g[(long)c * E + e] += probs[(long)i * E + e];
    }
    for (int c = 0; c < C; c++)
        for (int e = 0; e < E && count[c]; e++) g[(long)c * E + e] /= count[c];
}

/* A_e for flags flag[j] over the used concepts' rows gu[j, :]. */
static void animacy_index(const double *gu, const int8_t *flag, int m, int E, double *A) {
    for (int e = 0; e < E; e++) {
        double sa = 0, si = 0;
        int na = 0, ni = 0;
        for (int j = 0; j < m; j++)
            if (flag[j])
                sa += gu[(long)j * E + e], na++;
            else
                si += gu[(long)j * E + e], ni++;
        double ma = sa / na, mi = si / ni;
        A[e] = ma + mi > 0 ? (ma - mi) / (ma + mi) : 0;
    }
}

int vgate_animacy(const double *g, const int *count, const int8_t *animate, int C, int E, int P,
                  uint64_t seed, double *A, double *p) {
    double *gu = ml_alloc(sizeof(double) * (C ? C : 1) * E), *Ap = ml_alloc(sizeof(double) * E);
    int8_t *flag = ml_alloc(C ? C : 1), *pf = ml_alloc(C ? C : 1);
    int *perm = ml_alloc(sizeof(int) * (C ? C : 1)), *ge = ml_alloc(sizeof(int) * E);
    int m = 0, na = 0;
    for (int c = 0; c < C; c++)
        if (count[c] > 0 && (animate[c] == 0 || animate[c] == 1)) {
            memcpy(gu + (long)m * E, g + (long)c * E, sizeof(double) * E);
            flag[m] = animate[c], na += animate[c], m++;
        }
    int rc = m;
    if (na == 0 || na == m) {
        rc = ml_error("animacy: need animate and inanimate concepts with images (have %d of %d "
                      "animate)",
                      na, m);
        goto out;
    }
    animacy_index(gu, flag, m, E, A);
    Rng rng;
    rng_seed(&rng, seed);
    for (int t = 0; t < P; t++) {
        stat_shuffle(perm, m, &rng);
        for (int j = 0; j < m; j++) pf[j] = flag[perm[j]];
        animacy_index(gu, pf, m, E, Ap);
        for (int e = 0; e < E; e++) ge[e] += fabs(Ap[e]) >= fabs(A[e]) - 1e-12;
    }
    for (int e = 0; e < E; e++) p[e] = (1.0 + ge[e]) / (1.0 + P);
out:
    ml_free(gu), ml_free(Ap), ml_free(flag), ml_free(pf), ml_free(perm), ml_free(ge);
    return rc;
}
