/* 5. RSA stimuli drawn across classes: a fixed, seeded, class-balanced draw, so an RDM over a few
 * hundred stimuli still holds every category (the first N in concept order were one group). */
#include "stats/stats.h"
#include "analysis/vision/rsa.h"
#include "core/mem.h"
#include "core/rng.h"

int rsa_stratified_stimuli(const int32_t *cls, int n, int K, int max, uint64_t seed, int *out) {
    int *count = ml_alloc(sizeof(int) * (K + 1)), *start = ml_alloc(sizeof(int) * (K + 1));
    for (int i = 0; i < n; i++) count[cls[i]]++;
    for (int k = 0; k < K; k++) start[k + 1] = start[k] + count[k];
    int *byclass = ml_alloc(sizeof(int) * (n ? n : 1)), *fill = ml_alloc(sizeof(int) * (K + 1));
    for (int k = 0; k < K; k++) fill[k] = start[k];
    for (int i = 0; i < n; i++) byclass[fill[cls[i]]++] = i;
    /* each class's members in a seeded order (one stream per class, so classes do not interact) */
    for (int k = 0; k < K; k++) {
        Rng r;
        rng_seed(&r, seed * 0x9E3779B97F4A7C15ull + (uint64_t)k);
        int *perm = ml_alloc(sizeof(int) * (count[k] ? count[k] : 1));
        stat_shuffle(perm, count[k], &r);
        int *tmp = ml_alloc(sizeof(int) * (count[k] ? count[k] : 1));
        for (int j = 0; j < count[k]; j++) tmp[j] = byclass[start[k] + perm[j]];
        for (int j = 0; j < count[k]; j++) byclass[start[k] + j] = tmp[j];
        ml_free(perm), ml_free(tmp);
    }
    /* quota per class: round-robin, so a small class gives its spare places to the others */
    int *take = ml_alloc(sizeof(int) * (K + 1)), S = 0;
    for (int added = 1; added && S < max;) {
        added = 0;
        for (int k = 0; k < K && S < max; k++)
            if (take[k] < count[k]) take[k]++, S++, added = 1;
    }
    int m = 0; /* listed by class: the RDM shows category blocks */
    for (int k = 0; k < K; k++)
        for (int j = 0; j < take[k]; j++) out[m++] = byclass[start[k] + j];
    ml_free(count), ml_free(start), ml_free(byclass), ml_free(fill), ml_free(take);
    return m;
}
