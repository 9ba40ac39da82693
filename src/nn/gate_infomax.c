/* Information-maximising gate losses (see gate_infomax.h). Infomax: ∂L/∂p_ie = (ln p̄_e − ln
 * p_ie)/N. Pair: with G_ab = ∂L/∂P_ab = −(ln P_ab − ln m_a − ln m_b − 1) (symmetric), ∂L/∂p_2k,a =
 * (1/B) Σ_b G_ab p_2k+1,b and the same with the views swapped. Both then take the softmax backward
 * ∂z_ie = p_ie (∂p_ie − Σ_j p_ij ∂p_ij). Probabilities are floored at 1e-30 inside the logarithms
 * (p ln p → 0). */
#include "nn/gate_infomax.h"
#include <math.h>
#include <stdlib.h>

#define P_FLOOR 1e-30

static double safe_log(double p) {
    return log(p > P_FLOOR ? p : P_FLOOR);
}

static void mean_gate(const float *probs, int N, int E, double *mean) {
    for (int e = 0; e < E; e++) mean[e] = 0;
    for (int i = 0; i < N; i++)
        for (int e = 0; e < E; e++) mean[e] += probs[(long)i * E + e] / (double)N;
}

double gate_infomax_forward(const float *probs, int N, int E) {
    if (N <= 0) return 0;
    double *mean = malloc(sizeof(double) * E), h_rows = 0, h_mean = 0;
    mean_gate(probs, N, E, mean);
    for (int i = 0; i < N; i++)
        for (int e = 0; e < E; e++) {
            double p = probs[(long)i * E + e];
            h_rows -= p * safe_log(p) / N;
        }
    for (int e = 0; e < E; e++) h_mean -= mean[e] * safe_log(mean[e]);
    free(mean);
    return h_rows - h_mean;
}

/* dlogits_i += coef · p_i ⊙ (dp − p_i·dp): the softmax backward of one row */
static void softmax_row_backward(float *dlogits, const float *p, const double *dp, int E,
                                 float coef) {
    double dot = 0;
    for (int e = 0; e < E; e++) dot += p[e] * dp[e];
    for (int e = 0; e < E; e++) dlogits[e] += (float)(coef * p[e] * (dp[e] - dot));
}

void gate_infomax_backward(float *dlogits, const float *probs, int N, int E, float coef) {
    if (N <= 0) return;
    double *mean = malloc(sizeof(double) * E), *dp = malloc(sizeof(double) * E);
    mean_gate(probs, N, E, mean);
    for (int i = 0; i < N; i++) {
        const float *p = probs + (long)i * E;
        for (int e = 0; e < E; e++) dp[e] = (safe_log(mean[e]) - safe_log(p[e])) / N;
        softmax_row_backward(dlogits + (long)i * E, p, dp, E, coef);
    }
    free(mean), free(dp);
}

/* P [E, E] (symmetrised joint of the pairs' gates); m = mean gate = P's marginal */
static void pair_joint(const float *probs, int N, int E, double *P, double *m) {
    int B = N / 2;
    for (int q = 0; q < E * E; q++) P[q] = 0;
    for (int k = 0; k < B; k++) {
        const float *u = probs + 2L * k * E, *v = u + E;
        for (int a = 0; a < E; a++)
            for (int b = 0; b < E; b++) P[a * E + b] += (u[a] * (double)v[b] + v[a] * (double)u[b]);
    }
    for (int q = 0; q < E * E; q++) P[q] /= 2.0 * B;
    mean_gate(probs, 2 * B, E, m);
}

double gate_pair_mi_forward(const float *probs, int N, int E) {
    if (N < 2) return 0;
    double *P = malloc(sizeof(double) * E * (E + 1)), *m = P + E * E, L = 0;
    pair_joint(probs, N, E, P, m);
    for (int a = 0; a < E; a++)
        for (int b = 0; b < E; b++) {
            double pab = P[a * E + b];
            if (pab > 0) L -= pab * (safe_log(pab) - safe_log(m[a]) - safe_log(m[b]));
        }
    free(P);
    return L;
}

void gate_pair_mi_backward(float *dlogits, const float *probs, int N, int E, float coef) {
    if (N < 2) return;
    int B = N / 2;
    double *P = malloc(sizeof(double) * E * (E + 2)), *m = P + E * E, *dp = m + E;
    pair_joint(probs, N, E, P, m);
    for (int a = 0; a < E; a++) /* P becomes G */
        for (int b = 0; b < E; b++)
            P[a * E + b] = -(safe_log(P[a * E + b]) - safe_log(m[a]) - safe_log(m[b]) - 1);
    for (int i = 0; i < 2 * B; i++) {
        const float *other = probs + (long)(i ^ 1) * E;
        for (int a = 0; a < E; a++) {
            double s = 0;
            for (int b = 0; b < E; b++) s += P[a * E + b] * other[b];
            dp[a] = s / B;
        }
        softmax_row_backward(dlogits + (long)i * E, probs + (long)i * E, dp, E, coef);
    }
    free(P);
}

/* Label information: ∂L/∂p_ie = (ln p̄_{l_i},e − ln p̄_e) / N (the +1s of the two entropies'
 * derivatives cancel). means [K + 1, E]: row K is p̄, rows l < K are p̄_l; count [K + 1]. */
static int label_means(const float *probs, const int *labels, int N, int E, int K, double *means,
                       double *count) {
    for (int q = 0; q < (K + 1) * E; q++) means[q] = 0;
    for (int l = 0; l <= K; l++) count[l] = 0;
    for (int i = 0; i < N; i++) {
        int l = labels[i];
        if (l < 0 || l >= K) continue;
        count[l]++, count[K]++;
        for (int e = 0; e < E; e++) {
            double p = probs[(long)i * E + e];
            means[(long)l * E + e] += p, means[(long)K * E + e] += p;
        }
    }
    for (int l = 0; l <= K; l++)
        for (int e = 0; e < E && count[l] > 0; e++) means[(long)l * E + e] /= count[l];
    return (int)count[K];
}

double gate_label_mi_forward(const float *probs, const int *labels, int N, int E, int K) {
    if (N <= 0 || K <= 0) return 0;
    double *means = malloc(sizeof(double) * (K + 1) * E), *count = malloc(sizeof(double) * (K + 1));
    int n = label_means(probs, labels, N, E, K, means, count);
    double L = 0;
    for (int l = 0; l <= K && n > 0; l++) { /* H(p̄) − Σ π_l H(p̄_l) */
        double h = 0, w = l == K ? -1.0 : count[l] / n;
        for (int e = 0; e < E; e++) h -= means[(long)l * E + e] * safe_log(means[(long)l * E + e]);
        L -= w * h;
    }
    free(means), free(count);
    return L;
}

void gate_label_mi_backward(float *dlogits, const float *probs, const int *labels, int N, int E,
                            int K, float coef) {
    if (N <= 0 || K <= 0) return;
    double *means = malloc(sizeof(double) * (K + 1) * E), *count = malloc(sizeof(double) * (K + 1));
    double *dp = malloc(sizeof(double) * E);
    int n = label_means(probs, labels, N, E, K, means, count);
    for (int i = 0; i < N && n > 0; i++) {
        int l = labels[i];
        if (l < 0 || l >= K) continue;
        for (int e = 0; e < E; e++)
            dp[e] = (safe_log(means[(long)l * E + e]) - safe_log(means[(long)K * E + e])) / n;
        softmax_row_backward(dlogits + (long)i * E, probs + (long)i * E, dp, E, coef);
    }
    free(means), free(count), free(dp);
}
