/* Linear probe on constructed data: separable classes are decoded, noise is at chance. */
#include "stats/probe.h"
#include "core/rng.h"
#include "test.h"

static void make_blobs(float *X, int32_t *y, int n, int D, int K, float sep, Rng *r) {
    for (int i = 0; i < n; i++) {
        y[i] = i % K;
        for (int d = 0; d < D; d++) X[i * D + d] = rng_normal(r) + (d == y[i] ? sep : 0) + 5.0f * d;
    }
}

TEST(probe_decodes_separable_classes_and_not_noise) {
    enum { N = 600, D = 6, K = 4 };
    static float Xtr[N * D], Xte[N * D];
    static int32_t ytr[N], yte[N];
    Rng r;
    rng_seed(&r, 1);
    make_blobs(Xtr, ytr, N, D, K, 4.0f, &r);
    make_blobs(Xte, yte, N, D, K, 4.0f, &r);
    ProbeConfig cfg = probe_default_config();
    double acc = probe_train_eval(Xtr, ytr, N, Xte, yte, N, D, K, &cfg);
    CHECK_MSG(acc > 0.95, "separable accuracy %.3f", acc);
    double again = probe_train_eval(Xtr, ytr, N, Xte, yte, N, D, K, &cfg);
    CHECK(acc == again); /* deterministic */
    make_blobs(Xtr, ytr, N, D, K, 0.0f, &r);
    make_blobs(Xte, yte, N, D, K, 0.0f, &r);
    double chance = probe_train_eval(Xtr, ytr, N, Xte, yte, N, D, K, &cfg);
    CHECK_MSG(chance < 0.35, "noise accuracy %.3f", chance);
    int32_t bad[2] = {0, 7};
    CHECK(probe_train_eval(Xtr, bad, 2, Xte, yte, 2, D, K, &cfg) == -1);
}
