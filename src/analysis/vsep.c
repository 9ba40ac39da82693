/* 2. Per-expert category separability: grouped k-fold cross-validated linear probes. */
#include "analysis/stats.h"
#include "analysis/vision_an.h"
#include "core/error.h"
#include "core/mem.h"
#include <stdlib.h>
#include <string.h>

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int vsep_group_folds(const int32_t *grp, int n, int k, uint64_t seed, int32_t *fold) {
    int32_t *ids = ml_alloc(sizeof(int32_t) * (n ? n : 1));
    memcpy(ids, grp, sizeof(int32_t) * n);
    qsort(ids, n, sizeof(int32_t), cmp_i32);
    int G = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || ids[i] != ids[i - 1]) ids[G++] = ids[i];
    int *order = ml_alloc(sizeof(int) * (G ? G : 1)),
        *fold_of = ml_alloc(sizeof(int) * (G ? G : 1));
    Rng rng;
    rng_seed(&rng, seed);
    stat_shuffle(order, G, &rng);
    int folds = k < G ? k : G;
    for (int j = 0; j < G; j++) fold_of[order[j]] = folds ? j % folds : 0;
    for (int i = 0; i < n; i++) {
        int32_t *hit = bsearch(&grp[i], ids, G, sizeof(int32_t), cmp_i32);
        fold[i] = fold_of[hit - ids];
    }
    ml_free(ids), ml_free(order), ml_free(fold_of);
    return folds;
}

int vsep_cv_probe(const float *X, const int32_t *y, const int32_t *fold, int n, int D, int K,
                  const ProbeConfig *cfg, SepResult *r) {
    int F = 0;
    for (int i = 0; i < n; i++)
        if (fold[i] + 1 > F) F = fold[i] + 1;
    if (F < 2) return ml_error("separability: need at least 2 folds, got %d", F);
    double *cnt = ml_alloc(sizeof(double) * K);
    for (int i = 0; i < n; i++) cnt[y[i]] += 1;
    memset(r, 0, sizeof *r);
    for (int k = 0; k < K; k++) {
        if (cnt[k] > 0) r->classes++;
        if (cnt[k] / n > r->chance_major) r->chance_major = cnt[k] / n;
    }
    r->chance_uniform = 1.0 / r->classes;
    float *Xtr = ml_alloc_floats((size_t)n * D), *Xte = ml_alloc_floats((size_t)n * D);
    int32_t *ytr = ml_alloc(sizeof(int32_t) * n), *yte = ml_alloc(sizeof(int32_t) * n);
    long correct = 0;
    int rc = 0;
    for (int f = 0; f < F && !rc; f++) {
        int ntr = 0, nte = 0;
        for (int i = 0; i < n; i++) {
            float *dst = fold[i] == f ? Xte + (long)nte * D : Xtr + (long)ntr * D;
            memcpy(dst, X + (long)i * D, sizeof(float) * D);
            if (fold[i] == f)
                yte[nte++] = y[i];
            else
                ytr[ntr++] = y[i];
        }
        if (!nte || !ntr) continue;
        double acc = probe_train_eval(Xtr, ytr, ntr, Xte, yte, nte, D, K, cfg);
        if (acc < 0) rc = -1;
        correct += (long)(acc * nte + 0.5);
    }
    r->n = n, r->folds = F, r->acc = (double)correct / n;
    stat_wilson((double)correct, n, 1.96, &r->lo, &r->hi);
    ml_free(cnt), ml_free(Xtr), ml_free(Xte), ml_free(ytr), ml_free(yte);
    return rc;
}
