/* Rank statistics, Wilson interval, permutations and Hungarian matching on hand-computed cases. */
#include "stats/hungarian.h"
#include "stats/stats.h"
#include "test.h"
#include <math.h>

TEST(visan_rank_spearman_pearson) {
    double x[5] = {10, 20, 20, 5, 30}, r[5];
    stat_rank(x, 5, r);
    CHECK_NEAR(r[0], 2, 0);
    CHECK_NEAR(r[1], 3.5, 0);
    CHECK_NEAR(r[2], 3.5, 0);
    CHECK_NEAR(r[3], 1, 0);
    CHECK_NEAR(r[4], 5, 0);
    double a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 4, 9, 16, 25, 36}, c[6] = {6, 5, 4, 3, 2, 1};
    CHECK_NEAR(stat_spearman(a, b, 6), 1, 1e-12); /* monotone, not linear */
    CHECK(stat_pearson(a, b, 6) < 0.99);
    CHECK_NEAR(stat_spearman(a, c, 6), -1, 1e-12);
    /* ties: scipy.stats.spearmanr([1,2,2,3],[1,3,2,4]) = 0.9486832980505138 */
    double t1[4] = {1, 2, 2, 3}, t2[4] = {1, 3, 2, 4};
    CHECK_NEAR(stat_spearman(t1, t2, 4), 0.9486832980505138, 1e-12);
    double k[3] = {2, 2, 2};
    CHECK(isnan(stat_pearson(a, k, 3)));
    /* numpy.corrcoef([1,2,3,4],[2,1,4,3])[0,1] = 0.6 */
    double p1[4] = {1, 2, 3, 4}, p2[4] = {2, 1, 4, 3};
    CHECK_NEAR(stat_pearson(p1, p2, 4), 0.6, 1e-12);
}

TEST(visan_wilson_perm_shuffle) {
    double lo, hi;
    stat_wilson(8, 10, 1.96, &lo, &hi); /* Wilson (1927) by hand at z = 1.96 */
    CHECK_NEAR(lo, 0.4901568467, 1e-9);
    CHECK_NEAR(hi, 0.9433190520, 1e-9);
    double null[4] = {0.1, 0.5, 0.9, 0.2};
    CHECK_NEAR(stat_perm_p(0.8, null, 4), 2.0 / 5, 1e-12);
    int perm[50], seen[50] = {0};
    Rng r;
    rng_seed(&r, 3);
    stat_shuffle(perm, 50, &r);
    for (int i = 0; i < 50; i++) seen[perm[i]]++;
    for (int i = 0; i < 50; i++) CHECK(seen[i] == 1);
}

TEST(visan_hungarian_recovers_permutation) {
    /* greedy takes 9 first and ends at 9+1+5; the optimum swaps rows 0 and 1 */
    double S[9] = {9, 8, 1, 8, 1, 1, 1, 1, 5};
    int m[3];
    CHECK_NEAR(hungarian_max(S, 3, m), 8 + 8 + 5, 1e-12); /* 0→1, 1→0, 2→2 beats greedy 9+1+5 */
    CHECK(m[0] == 1 && m[1] == 0 && m[2] == 2);
    /* a similarity matrix of a permuted copy: 1 on (e, π(e)), lower elsewhere */
    enum { E = 7 };
    int pi[E] = {3, 6, 0, 5, 1, 2, 4}, got[E];
    double T[E * E];
    for (int a = 0; a < E; a++)
        for (int b = 0; b < E; b++) T[a * E + b] = b == pi[a] ? 1 : 0.3 + 0.05 * ((a * 3 + b) % 5);
    hungarian_max(T, E, got);
    for (int e = 0; e < E; e++) CHECK(got[e] == pi[e]);
    double N[4] = {NAN, 1, 2, NAN};
    int mn[2];
    hungarian_max(N, 2, mn);
    CHECK(mn[0] == 1 && mn[1] == 0);
}
