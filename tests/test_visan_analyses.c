/* The vision expert analyses on constructed inputs with known answers (docs/vision_analysis.md). */
#include "analysis/vision/gating.h"
#include "analysis/vision/mei.h"
#include "analysis/vision/rsa.h"
#include "analysis/vision/separability.h"
#include "analysis/vision/tuning.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "core/rng.h"
#include "test.h"
#include <math.h>
#include <string.h>

/* 12 concepts, 2 images each; concepts 0..5 animate. Gate: animals → expert 0, others → 1..3. */
TEST(visan_gate_animals_to_expert0_maximal_animacy) {
    enum { C = 12, n = 24, E = 4 };
    float probs[n * E] = {0};
    int32_t concept[n], top1[n], labels[n];
    int8_t animate[C];
    for (int c = 0; c < C; c++) animate[c] = c < 6;
    for (int i = 0; i < n; i++) {
        int c = i / 2, e = c < 6 ? 0 : 1 + c % 3;
        concept[i] = c, labels[i] = c < 6 ? 0 : 1, top1[i] = e;
        probs[i * E + e] = 1;
    }
    double mean[2 * E], share[2 * E], cnt[2];
    vgate_matrices(probs, top1, labels, n, E, 2, mean, share, cnt);
    CHECK(cnt[0] == 12 && cnt[1] == 12);
    CHECK_NEAR(mean[0 * E + 0], 1, 1e-12);
    CHECK_NEAR(share[1 * E + 0], 0, 1e-12);
    CHECK_NEAR(mean[1 * E + 1], 1.0 / 3, 1e-12);
    double hr[2], hi[2];
    vgate_entropy(probs, labels, n, E, 2, hr, hi);
    CHECK_NEAR(hr[0], 0, 1e-12);
    CHECK_NEAR(hr[1], log(3), 1e-12);
    CHECK_NEAR(hi[1], 0, 1e-12); /* each image is one-hot */
    double g[C * E], A[E], p[E];
    int count[C];
    vgate_concept_means(probs, concept, n, E, C, g, count);
    CHECK(vgate_animacy(g, count, animate, C, E, 999, 7, A, p) == C);
    CHECK_NEAR(A[0], 1, 1e-12);
    for (int e = 1; e < E; e++) CHECK_NEAR(A[e], -1, 1e-12);
    /* only one labelling of 6 of 12 (and its mirror for |A|) is as extreme: p ≈ 2/924 */
    CHECK(p[0] < 0.01);
    /* a gate blind to animacy: index 0, p large */
    for (int i = 0; i < n; i++) {
        memset(probs + i * E, 0, sizeof(float) * E);
        probs[i * E + (i % 2)] = 1;
    }
    vgate_concept_means(probs, concept, n, E, C, g, count);
    vgate_animacy(g, count, animate, C, E, 999, 7, A, p);
    CHECK_NEAR(A[0], 0, 1e-12);
    CHECK(p[0] > 0.5);
    int8_t none[C] = {0};
    CHECK(vgate_animacy(g, count, none, C, E, 10, 7, A, p) == -1);
}

TEST(visan_grouped_folds_and_cv_probe) {
    enum { n = 60, D = 4, K = 3 };
    int32_t grp[n], fold[n], y[n];
    float X[n * D], Xn[n * D];
    Rng r;
    rng_seed(&r, 11);
    for (int i = 0; i < n; i++) {
        grp[i] = (i / 3) * 7 + 100; /* 20 groups of 3, sparse ids */
        y[i] = (i / 3) % K;
        for (int d = 0; d < D; d++) {
            X[i * D + d] = (d == y[i] ? 3.0f : 0.0f) + 0.1f * rng_normal(&r);
            Xn[i * D + d] = rng_normal(&r);
        }
    }
    CHECK(vsep_group_folds(grp, n, 5, 1, fold) == 5);
    for (int i = 0; i < n; i++) CHECK(fold[i] == fold[(i / 3) * 3]); /* a group stays together */
    int per[5] = {0};
    for (int i = 0; i < n; i++) per[fold[i]]++;
    for (int f = 0; f < 5; f++) CHECK(per[f] == 12);
    ProbeConfig cfg = probe_default_config();
    SepResult s;
    CHECK(vsep_cv_probe(X, y, fold, n, D, K, &cfg, &s) == 0);
    CHECK_NEAR(s.acc, 1, 1e-12);
    CHECK(s.lo > 0.9 && s.hi > 1 - 1e-12 && s.classes == 3);
    CHECK_NEAR(s.chance_uniform, 1.0 / 3, 1e-12);
    CHECK(vsep_cv_probe(Xn, y, fold, n, D, K, &cfg, &s) == 0);
    CHECK_MSG(s.acc < 0.6, "noise decoded at %.2f", s.acc);
    CHECK(s.lo < 1.0 / 3 + 0.1);
    int32_t one[n] = {0};
    CHECK(vsep_cv_probe(X, y, one, n, D, K, &cfg, &s) == -1);
    CHECK(vsep_group_folds(grp, 6, 5, 1, fold) == 2); /* 2 groups → 2 folds */
}

TEST(visan_tuning_linear_in_one_dimension) {
    enum { C = 30, A = 5, n = 60 };
    float attr[C * A];
    Rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < C * A; i++) attr[i] = rng_uniform(&r);
    double s[n], resp[C], rho[A];
    int32_t concept[n], fold[C];
    for (int i = 0; i < n; i++) concept[i] = i % C, s[i] = 2.5 * attr[(i % C) * A + 3] - 1;
    vtune_concept_mean(s, concept, n, C, resp);
    vtune_spearman(resp, attr, C, A, rho);
    CHECK_NEAR(rho[3], 1, 1e-12);
    for (int a = 0; a < A; a++)
        if (a != 3) CHECK(fabs(rho[a]) < 0.6);
    for (int c = 0; c < C; c++) fold[c] = c % 5;
    CHECK_MSG(vtune_ridge_cv_r2(resp, attr, fold, C, A, 1e-6) > 0.999, "R² of an exact fit");
    /* a response unrelated to every dimension predicts worse than its mean out of fold */
    for (int c = 0; c < C; c++) resp[c] = rng_normal(&r);
    CHECK(vtune_ridge_cv_r2(resp, attr, fold, C, A, 1.0) < 0.2);
    resp[0] = NAN; /* concepts without images are skipped, not propagated */
    vtune_spearman(resp, attr, C, A, rho);
    CHECK(isfinite(rho[0]));
}

TEST(visan_rsa_identical_permuted_and_cka) {
    enum { S = 10, D = 6, E = 4 };
    float f[E * S * D], g[E * S * D], rdm_a[E * S * S], rdm_b[E * S * S];
    Rng r;
    rng_seed(&r, 9);
    rng_fill_normal(&r, f, E * S * D, 1);
    int pi[E] = {2, 0, 3, 1}; /* run b's expert pi[e] is run a's expert e, features rescaled */
    for (int e = 0; e < E; e++)
        for (int i = 0; i < S * D; i++) g[pi[e] * S * D + i] = 3 * f[e * S * D + i] + 1;
    for (int e = 0; e < E; e++) {
        rsa_rdm(f + e * S * D, S, D, rdm_a + e * S * S);
        rsa_rdm(g + e * S * D, S, D, rdm_b + e * S * S);
    }
    CHECK_NEAR(rsa_compare(rdm_a, rdm_a, S), 1, 1e-12);
    CHECK_NEAR(rdm_a[0], 0, 0);
    CHECK_NEAR(rdm_a[1], rdm_a[S], 0);
    CHECK(rsa_compare(rdm_a, rdm_a + S * S, S) < 0.6);
    double rk_a[E * S * S], rk_b[E * S * S];
    rsa_rank_rdms(rdm_a, E, S, rk_a);
    rsa_rank_rdms(rdm_b, E, S, rk_b);
    RdmPair rp = {rk_a, rk_b, S};
    CHECK_NEAR(rsa_sim_rdm(&rp, 1, 2, NULL), rsa_compare(rdm_a + S * S, rdm_b + 2 * S * S, S),
               1e-12);
    double sim[E * E];
    int match[E];
    MatchResult m;
    rsa_match(rsa_sim_rdm, &rp, E, S, 200, 3, sim, match, &m);
    for (int e = 0; e < E; e++) CHECK(match[e] == pi[e]);
    CHECK_NEAR(m.matched_mean, 1, 1e-6);
    CHECK(m.p < 0.02 && m.null_mean < 0.7);
    /* CKA: 1 for a rescaled copy, invariant to the offset; lower for another expert */
    CHECK_NEAR(rsa_cka(f, D, g + pi[0] * S * D, D, S), 1, 1e-9);
    CHECK(rsa_cka(f, D, f + S * D, D, S) < 0.9);
    double cf[E * S * D], cg[E * S * D], nf[E], ng[E];
    rsa_cka_prepare(f, E, S, D, cf, nf);
    rsa_cka_prepare(g, E, S, D, cg, ng);
    FeatPair fp = {cf, cg, nf, ng, S, D};
    CHECK_NEAR(rsa_sim_cka(&fp, 1, 3, NULL), rsa_cka(f + S * D, D, g + 3 * S * D, D, S), 1e-12);
    rsa_match(rsa_sim_cka, &fp, E, S, 50, 3, sim, match, &m);
    for (int e = 0; e < E; e++) CHECK(match[e] == pi[e]);
    /* tuning profiles: run b's rows are run a's permuted */
    enum { A = 8 };
    double pa[E * A], pb[E * A];
    for (int i = 0; i < E * A; i++) pa[i] = rng_normal(&r);
    for (int e = 0; e < E; e++) memcpy(pb + pi[e] * A, pa + e * A, sizeof(double) * A);
    ProfilePair pp = {pa, pb, A};
    rsa_match(rsa_sim_profile, &pp, E, A, 100, 3, sim, match, &m);
    for (int e = 0; e < E; e++) CHECK(match[e] == pi[e]);
    CHECK_NEAR(m.matched_mean, 1, 1e-12);
}

TEST(visan_mei_top_and_grid) {
    double s[6] = {0.1, 0.9, 0.5, 0.9, NAN, 0.2};
    int idx[6];
    CHECK(mei_top(s, 6, 3, idx) == 3);
    CHECK(idx[0] == 1 && idx[1] == 3 && idx[2] == 2);
    CHECK(mei_top(s, 6, 10, idx) == 6 && idx[5] == 4);
    float px[6 * 3 * 4 * 4];
    for (int i = 0; i < 6 * 48; i++) px[i] = (float)(i % 48) / 48;
    char *p = ml_path_join(test_tmpdir(), "grid.png");
    CHECK(mei_write_grid(p, px, 3, 4, idx, 5, 4) == 0);
    CHECK(ml_file_exists(p));
    ml_free(p);
}

/* 155 candidates in concept order: class 0 first (100), then 5 of class 1, 50 of class 2 — the
 * first 30 would all be class 0; round-robin takes 13 / 5 / 12, grouped by class. */
TEST(visan_rsa_stimuli_stratified_seeded) {
    enum { n = 155, K = 3, max = 30 };
    int32_t cls[n];
    for (int i = 0; i < n; i++) cls[i] = i < 100 ? 0 : i < 105 ? 1 : 2;
    int a[n], b[n], c[n];
    CHECK(rsa_stratified_stimuli(cls, n, K, max, 7, a) == max);
    int per[K] = {0}, seen[n] = {0}, sorted = 1;
    for (int j = 0; j < max; j++) {
        per[cls[a[j]]]++, seen[a[j]]++;
        if (j && cls[a[j]] < cls[a[j - 1]]) sorted = 0;
    }
    CHECK_MSG(per[0] == 13 && per[1] == 5 && per[2] == 12, "per class %d %d %d", per[0], per[1],
              per[2]);
    CHECK(sorted);
    for (int i = 0; i < n; i++) CHECK(seen[i] <= 1);
    CHECK(rsa_stratified_stimuli(cls, n, K, max, 7, b) == max);
    CHECK(!memcmp(a, b, sizeof(int) * max)); /* same seed, same stimuli */
    rsa_stratified_stimuli(cls, n, K, max, 8, c);
    CHECK(memcmp(a, c, sizeof(int) * max) != 0); /* another seed draws others */
    int first10 = 1; /* a seeded draw, not the first members of class 0 */
    for (int j = 0; j < per[0]; j++) first10 &= a[j] < per[0];
    CHECK(!first10);
    CHECK(rsa_stratified_stimuli(cls, n, K, 1000, 7, a) == n); /* fewer than max: all */
}
