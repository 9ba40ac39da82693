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

/* Labels tied to groups (each group one random class) and features that name the group only:
 * a probe that may see a group on both sides recognises it; one split by group must fall to
 * chance. Features that carry the class itself are decoded either way. */
TEST(probe_within_keeps_groups_apart) {
    enum { N = 800, G = 40, K = 4, D = G + K };
    static float X[N * D];
    static int32_t y[N], groups[N], cls[G];
    Rng r;
    rng_seed(&r, 3);
    for (int g = 0; g < G; g++) cls[g] = (int32_t)rng_below(&r, K);
    for (int i = 0; i < N; i++) {
        groups[i] = i % G, y[i] = cls[groups[i]];
        for (int d = 0; d < D; d++) X[i * D + d] = (d == groups[i]) + 0.1f * rng_normal(&r);
    }
    ProbeConfig cfg = probe_default_config();
    double mixed = probe_within(X, y, NULL, N, D, K, &cfg);
    double apart = probe_within(X, y, groups, N, D, K, &cfg);
    CHECK_MSG(mixed > 0.9, "groups on both sides: %.3f", mixed);
    CHECK_MSG(apart < 0.45, "groups apart: %.3f", apart);
    for (int i = 0; i < N; i++) X[i * D + G + y[i]] += 1; /* the class itself */
    CHECK(probe_within(X, y, groups, N, D, K, &cfg) > 0.95);
    int32_t even[4] = {0, 2, 4, 6};
    CHECK(probe_within(X, y, even, 4, D, K, &cfg) == -1); /* nothing to test on */
}

/* Three styles that draw four classes: styles 0 and 1 put the class in the same feature, style 2
 * in a feature of its own. Left out, styles 0 and 1 are each read by a probe fitted on the other
 * (accuracy ~1) and style 2 is not (chance 1/4): the mean is near (1 + 1 + 1/4) / 3 = 0.75. */
TEST(probe_leave_group_out_scores_each_group_unseen) {
    enum { N = 900, S = 3, K = 4, D = 2 * K };
    static float X[N * D];
    static int32_t y[N], style[N];
    Rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < N; i++) {
        style[i] = i % S, y[i] = (i / S) % K;
        for (int d = 0; d < D; d++) X[i * D + d] = 0.1f * rng_normal(&r);
        X[i * D + (style[i] == 2 ? K : 0) + y[i]] += 1;
    }
    ProbeConfig cfg = probe_default_config();
    double logo = probe_leave_group_out(X, y, style, N, D, K, &cfg);
    CHECK_MSG(logo > 0.65 && logo < 0.85, "leave one style out: %.3f", logo);
    for (int i = 0; i < N; i++)
        if (style[i] == 2) X[i * D + y[i]] += 1; /* style 2 now also shares the common feature */
    logo = probe_leave_group_out(X, y, style, N, D, K, &cfg);
    CHECK_MSG(logo > 0.95, "a shared code transfers to every style: %.3f", logo);
    int32_t one[N] = {0};
    CHECK(probe_leave_group_out(X, y, one, N, D, K, &cfg) == -1); /* nothing to leave out */
}
