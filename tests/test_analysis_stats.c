/* Shared statistics against hand-computed values. */
#include "stats/stats.h"
#include "core/mem.h"
#include "core/rng.h"
#include "test.h"
#include <math.h>

TEST(analysis_stats_concentration) {
    double u[4] = {5, 5, 5, 5}, one[4] = {0, 9, 0, 0}, skew[4] = {6, 2, 1, 1};
    CHECK_NEAR(stat_entropy(u, 4), log(4), 1e-12);
    CHECK_NEAR(stat_entropy(one, 4), 0, 1e-12);
    CHECK(stat_n50(u, 4) == 2 && stat_n50(one, 4) == 1 && stat_n50(skew, 4) == 1);
    CHECK_NEAR(stat_jain(u, 4), 1, 1e-12);
    CHECK_NEAR(stat_jain(one, 4), 0.25, 1e-12);
}

TEST(analysis_stats_nmi_js) {
    double diag[9] = {3, 0, 0, 0, 5, 0, 0, 0, 2}, indep[4] = {2, 6, 1, 3}, mi, hy;
    CHECK_NEAR(stat_nmi(diag, 3, 3, &mi, &hy), 1, 1e-12);
    CHECK_NEAR(mi, hy, 1e-12);
    CHECK_NEAR(stat_nmi(indep, 2, 2, NULL, NULL), 0, 1e-12);
    double p[2] = {1, 0}, q[2] = {0, 1};
    CHECK_NEAR(stat_js(p, q, 2), log(2), 1e-12);
    CHECK_NEAR(stat_js(p, p, 2), 0, 1e-15);
}

TEST(analysis_stats_t_tost_bh) {
    CHECK_NEAR(stat_t_cdf(0, 5), 0.5, 1e-12);
    CHECK_NEAR(stat_t_cdf(1, 1), 0.75, 1e-10);       /* Cauchy */
    CHECK_NEAR(stat_t_cdf(2.015048, 5), 0.95, 1e-5); /* t table: t_{0.95,5} = 2.015 */
    CHECK_NEAR(stat_t_cdf(-2.228139, 10), 0.025, 1e-6);
    CHECK_NEAR(stat_betainc(2, 3, 0.4), 0.5248, 1e-10);
    CHECK_NEAR(stat_t_quantile(0.975, 10), 2.228139, 1e-6); /* inverse of the table values */
    CHECK_NEAR(stat_t_quantile(0.05, 5), -2.015048, 1e-6);
    CHECK(isnan(stat_t_quantile(1, 5)));
    double d[5] = {1, 2, 3, 4, 5}, t;
    double p = stat_ttest_1samp(d, 5, &t); /* mean 3, sd sqrt(2.5): t = 3/(sqrt(2.5)/sqrt(5)) */
    CHECK_NEAR(t, 3 / sqrt(0.5), 1e-12);
    CHECK_NEAR(p, 2 * stat_t_cdf(-t, 4), 1e-15);
    double a[4] = {10.0, 10.2, 9.9, 10.1}, b[4] = {10.05, 10.1, 9.95, 10.2},
           c[4] = {13, 13.1, 12.9, 13.2}, diff;
    CHECK(stat_tost(a, 4, b, 4, 1.0, &diff) < 0.01); /* nearly equal: equivalent at margin 1 */
    CHECK(stat_tost(a, 4, c, 4, 1.0, NULL) > 0.5);   /* 3 apart: not equivalent */
    double pv[4] = {0.01, 0.04, 0.03, 0.5}, q[4];
    stat_bh(pv, q, 4); /* sorted .01 .03 .04 .5 → .04 .04*4/3 → min(.0533, .04*4/3)... */
    CHECK_NEAR(q[0], 0.04, 1e-12);
    CHECK_NEAR(q[2], 0.04 * 4 / 3, 1e-12);
    CHECK_NEAR(q[1], 0.04 * 4 / 3, 1e-12);
    CHECK_NEAR(q[3], 0.5, 1e-12);
}

/* stat_cosine3 is three stat_cosine calls in one pass: the same doubles, bit for bit, on widths
 * that are not a multiple of a vector, and 0 for a zero vector. */
TEST(analysis_stats_cosine3_equals_cosine) {
    Rng rng;
    rng_seed(&rng, 42);
    for (int n = 1; n < 200; n += 37) {
        float *x = ml_alloc_floats(6 * n);
        rng_fill_normal(&rng, x, 5 * n, 3.0f); /* the last vector stays zero */
        const float *a[3] = {x, x + n, x + 2 * n}, *b[3] = {x + 3 * n, x + 4 * n, x + 5 * n};
        double out[3];
        stat_cosine3(a, b, n, out);
        for (int p = 0; p < 3; p++) CHECK(out[p] == stat_cosine(a[p], b[p], n));
        CHECK(out[2] == 0 && out[0] != 0);
        ml_free(x);
    }
}

/* KL from logits agrees with KL from the probabilities (a zero in p included), and stays finite
 * and right where softmax(z) underflows a float (stat_kl would floor q at 1e-30). */
TEST(analysis_stats_kl_from_logits) {
    enum { N = 500 };
    float p[N], z[N], q[N];
    Rng r;
    rng_seed(&r, 11);
    double ps = 0, m = -1e30, s = 0;
    for (int i = 0; i < N; i++) p[i] = i == 7 ? 0 : expf(rng_normal(&r)), ps += p[i];
    for (int i = 0; i < N; i++) p[i] /= (float)ps, z[i] = 3 * rng_normal(&r), m = fmax(m, z[i]);
    for (int i = 0; i < N; i++) s += exp(z[i] - m);
    for (int i = 0; i < N; i++) q[i] = (float)(exp(z[i] - m) / s);
    double lse = m + log(s), want = stat_kl(p, q, N);
    CHECK_NEAR(stat_kl_logits(p, stat_sum_plogp(p, N), z, N, lse), want, 1e-5 * want);
    z[0] = (float)(m - 200); /* q_0 ~ e^-200: below any float */
    s = 0;
    for (int i = 0; i < N; i++) s += exp(z[i] - m);
    lse = m + log(s), want = 0;
    for (int i = 0; i < N; i++) /* in double, log q_i = z_i - lse */
        if (p[i] > 0) want += p[i] * (log(p[i]) - (z[i] - lse));
    double kl = stat_kl_logits(p, stat_sum_plogp(p, N), z, N, lse);
    CHECK_MSG(fabs(kl - want) < 1e-5 * want, "%.9g vs %.9g", kl, want);
}
