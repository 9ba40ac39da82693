/* Information-maximising gate loss (see gate_infomax.h). ∂L/∂p_ie = (ln p̄_e − ln p_ie)/N, then
 * the softmax backward ∂z_ie = p_ie (∂p_ie − Σ_j p_ij ∂p_ij). Probabilities are floored at 1e-30
 * inside the logarithms (p ln p → 0). */
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

void gate_infomax_backward(float *dlogits, const float *probs, int N, int E, float coef) {
    if (N <= 0) return;
    double *mean = malloc(sizeof(double) * E), *dp = malloc(sizeof(double) * E);
    mean_gate(probs, N, E, mean);
    for (int i = 0; i < N; i++) {
        const float *p = probs + (long)i * E;
        double dot = 0;
        for (int e = 0; e < E; e++) {
            dp[e] = (safe_log(mean[e]) - safe_log(p[e])) / N;
            dot += p[e] * dp[e];
        }
        for (int e = 0; e < E; e++)
            dlogits[(long)i * E + e] += (float)(coef * p[e] * (dp[e] - dot));
    }
    free(mean), free(dp);
}
