/* Gate summary: usage range, entropy, top-1 × label mutual information with a shuffle null. */
#include "analysis/vision/gate_summary.h"
#include "stats/stats.h"
#include "core/mem.h"
#include "core/rng.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

double gate_mi_bits(const int32_t *chosen, int k, const int32_t *labels, int n, int E, int K) {
    double *t = ml_alloc(sizeof(double) * E * K), mi = 0;
    for (int i = 0; i < n; i++) t[chosen[(long)i * k] * K + labels[i]] += 1;
    stat_nmi(t, E, K, &mi, NULL);
    ml_free(t);
    return mi / log(2.0);
}

double gate_between_share(const float *x, int n, int d) {
    double *mean = ml_alloc(sizeof(double) * d), tot = 0, betw = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) mean[j] += x[(long)i * d + j] / (double)n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            double v = x[(long)i * d + j], c = v - mean[j];
            tot += v * v, betw += c * c;
        }
    ml_free(mean);
    return tot > 0 ? betw / tot : 0;
}

static void mi_with_null(const int32_t *chosen, int k, const int32_t *labels, int n, int E, int K,
                         int P, uint64_t seed, GateSummary *s) {
    s->mi_bits = gate_mi_bits(chosen, k, labels, n, E, K);
    int32_t *shuf = ml_alloc(sizeof(int32_t) * (n + 1));
    int *perm = ml_alloc(sizeof(int) * (n + 1)), ge = 0;
    double sum = 0;
    Rng rng;
    rng_seed(&rng, seed);
    for (int t = 0; t < P; t++) {
        stat_shuffle(perm, n, &rng);
        for (int i = 0; i < n; i++) shuf[i] = labels[perm[i]];
        double v = gate_mi_bits(chosen, k, shuf, n, E, K);
        sum += v, ge += v >= s->mi_bits - 1e-12;
    }
    s->mi_null_bits = P > 0 ? sum / P : NAN;
    s->mi_p = (1.0 + ge) / (1.0 + P);
    ml_free(shuf), ml_free(perm);
}

void gate_summary(const float *probs, const int32_t *chosen, int n, int E, int k,
                  const int32_t *labels, int K, int perms, uint64_t seed, GateSummary *s) {
    memset(s, 0, sizeof *s);
    s->n = n, s->E = E > 256 ? 256 : E, s->k = k, s->K = K, s->perms = perms;
    double *row = ml_alloc(sizeof(double) * E);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < k; j++)
            if (chosen[(long)i * k + j] < s->E) s->usage[chosen[(long)i * k + j]] += 1;
        for (int e = 0; e < E; e++) row[e] = probs[(long)i * E + e];
        s->entropy += stat_entropy(row, E) / n;
    }
    ml_free(row);
    for (int e = 0; e < s->E; e++) s->usage[e] /= n > 0 ? n : 1;
    s->usage_min = 1, s->usage_max = 0;
    for (int e = 0; e < s->E; e++) {
        if (s->usage[e] < s->usage_min) s->usage_min = s->usage[e];
        if (s->usage[e] > s->usage_max) s->usage_max = s->usage[e];
    }
    s->entropy_frac = E > 1 ? s->entropy / log((double)E) : 0;
    s->mi_bits = s->mi_null_bits = s->mi_p = NAN;
    if (labels && K > 1 && n > 1) mi_with_null(chosen, k, labels, n, E, K, perms, seed, s);
    if (k < E && s->usage_max > GATE_COLLAPSE_USAGE)
        s->collapsed = 1, snprintf(s->reason, sizeof s->reason,
                                   "one expert is in %.0f%% of the images' top-%d sets (> %.0f%%)",
                                   100 * s->usage_max, k, 100 * GATE_COLLAPSE_USAGE);
    else if (k < E && s->entropy_frac > GATE_COLLAPSE_ENTROPY)
        s->collapsed = 1,
        snprintf(s->reason, sizeof s->reason,
                 "mean gate entropy %.3f nats is %.0f%% of ln %d (> %.0f%%): every image gets a "
                 "near-uniform gate",
                 s->entropy, 100 * s->entropy_frac, E, 100 * GATE_COLLAPSE_ENTROPY);
}

void gate_summary_add_json(cJSON *o, const GateSummary *g) {
    cJSON_AddItemToObject(o, "usage", cJSON_CreateDoubleArray(g->usage, g->E));
    cJSON_AddNumberToObject(o, "usage_min", g->usage_min);
    cJSON_AddNumberToObject(o, "usage_max", g->usage_max);
    cJSON_AddNumberToObject(o, "entropy", g->entropy);
    cJSON_AddNumberToObject(o, "entropy_frac", g->entropy_frac);
    if (!isfinite(g->mi_bits)) return;
    cJSON_AddNumberToObject(o, "mi_bits", g->mi_bits);
    cJSON_AddNumberToObject(o, "mi_null_bits", g->mi_null_bits);
    cJSON_AddNumberToObject(o, "mi_p", g->mi_p);
    cJSON_AddNumberToObject(o, "mi_perms", g->perms);
}

void gate_top1_max_share(const int32_t *chosen, int k, const int32_t *labels, int n, int E, int K,
                         double *out) {
    int *cnt = ml_alloc(sizeof(int) * ((size_t)K * E + 1));
    for (int i = 0; i < n; i++) cnt[labels[i] * E + chosen[(long)i * k]]++;
    for (int c = 0; c < K; c++) {
        int tot = 0, best = 0;
        for (int e = 0; e < E; e++) {
            tot += cnt[c * E + e];
            if (cnt[c * E + e] > best) best = cnt[c * E + e];
        }
        out[c] = tot ? (double)best / tot : -1;
    }
    ml_free(cnt);
}
