/* The document bootstrap on cases whose interval is known: a mean of 0/1 units (the resampled mean
 * is Binomial(n, 1/2)/n exactly), strata kept at their sizes, and DocAcc tables built so that NMI,
 * n50 and the k' perplexity cost are the same in every resample. */
#include "stats/bootstrap.h"
#include "analysis/lm/docstats.h"
#include "core/mem.h"
#include "test.h"
#include <string.h>

typedef struct {
    const double *x;
    int n;
} Vals;

static double weighted_mean(const double *w, void *ctx) {
    const Vals *v = ctx;
    double s = 0, n = 0;
    for (int u = 0; u < v->n; u++) s += w[u] * v->x[u], n += w[u];
    return s / n;
}

TEST(analysis_boot_binomial_interval) {
    /* 20 units, half 1: the bootstrap mean is Bin(20, 0.5)/20, whose 2.5 % and 97.5 % quantiles
     * are 6/20 and 14/20 (P(X ≤ 5) = 0.021, P(X ≤ 6) = 0.058; P(X ≤ 13) = 0.942, P(X ≤ 14) =
     * 0.979), far enough from 0.025 / 0.975 for 20000 resamples to land on them. */
    double x[20];
    int strata[20] = {0};
    for (int u = 0; u < 20; u++) x[u] = u % 2;
    Vals v = {x, 20};
    BootPlan p = {20, strata, 20000, 99, 0.95};
    double val, lo, hi;
    boot_interval(&p, weighted_mean, &v, &val, &lo, &hi);
    CHECK_NEAR(val, 0.5, 1e-15);
    CHECK_NEAR(lo, 0.30, 1e-12);
    CHECK_NEAR(hi, 0.70, 1e-12);
}

static double stratum0_weight(const double *w, void *ctx) {
    const int *st = ctx;
    double s = 0;
    for (int u = 0; u < 7; u++) s += st[u] == 0 ? w[u] : st[u] < 0 ? 1000 * w[u] : 0;
    return s;
}

TEST(analysis_boot_strata_keep_sizes) {
    int st[7] = {0, 1, 0, -1, 1, 0, 1}; /* 3 units in stratum 0, one left out */
    BootPlan p = {7, st, 500, 3, 0.95};
    double val, lo, hi;
    boot_interval(&p, stratum0_weight, st, &val, &lo, &hi);
    CHECK(val == 3 && lo == 3 && hi == 3); /* left-out unit never weighted, stratum 0 keeps 3 */
}

/* Two domains × 3 documents; layer 0 sends every token of domain d to expert d (top-1 and the
 * only pick), tokens of class d; every k' column costs 0.1 nats per scored token. */
TEST(analysis_boot_docstats_known) {
    DocAcc a;
    memset(&a, 0, sizeof a);
    a.L = 1, a.EZ = 4, a.k = 1, a.D = 2, a.U = 6, a.C = 3, a.unit = "document", a.B = 200;
    a.seed = 5;
    a.dom = ml_alloc(sizeof(int32_t) * 6);
    a.top1 = ml_alloc(sizeof(double) * 6 * 4), a.picks = ml_alloc(sizeof(double) * 6 * 4);
    a.cls = ml_alloc(sizeof(double) * 6 * 4 * TOKCLASS_COUNT);
    a.tokens = ml_alloc(sizeof(double) * 6), a.scored = ml_alloc(sizeof(double) * 6);
    a.nll = ml_alloc(sizeof(double) * 6 * 3);
    for (int u = 0; u < 6; u++) {
        int d = u % 2;
        double n = 10 + 7 * u; /* documents of different lengths */
        a.dom[u] = d, a.tokens[u] = n, a.scored[u] = n;
        a.top1[u * 4 + d] = n, a.picks[u * 4 + d] = n, a.cls[(u * 4 + d) * TOKCLASS_COUNT + d] = n;
        a.nll[u * 3] = 2 * n, a.nll[u * 3 + 1] = 2.1 * n, a.nll[u * 3 + 2] = 2.1 * n;
    }
    const char *names[2] = {"en", "fr"};
    cJSON *j = docs_json(&a, names);
    const cJSON *l0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "layers"), 0);
    const char *keys[2] = {"nmi_domain", "nmi_class"};
    for (int i = 0; i < 2; i++) {
        const cJSON *o = cJSON_GetObjectItem(l0, keys[i]);
        CHECK_NEAR(cJSON_GetObjectItem(o, "value")->valuedouble, 1, 1e-12);
        CHECK_NEAR(cJSON_GetObjectItem(o, "lo")->valuedouble, 1, 1e-12);
        CHECK_NEAR(cJSON_GetObjectItem(o, "hi")->valuedouble, 1, 1e-12);
    }
    const cJSON *n50 = cJSON_GetObjectItem(cJSON_GetObjectItem(l0, "n50"), "en");
    CHECK(cJSON_GetObjectItem(n50, "lo")->valuedouble == 1);
    CHECK(cJSON_GetObjectItem(n50, "hi")->valuedouble == 1);
    const cJSON *all = cJSON_GetObjectItem(cJSON_GetObjectItem(l0, "n50"), "all");
    CHECK(cJSON_GetObjectItem(all, "value")->valuedouble == 1); /* domain 1 holds 57 % of picks */
    const cJSON *ms = cJSON_GetObjectItem(cJSON_GetObjectItem(l0, "max_share_tokens"), "fr");
    CHECK(cJSON_GetObjectItem(ms, "lo")->valuedouble == 1); /* expert 1 takes every fr token */
    ms = cJSON_GetObjectItem(cJSON_GetObjectItem(l0, "max_share_tokens"), "all");
    CHECK_NEAR(cJSON_GetObjectItem(ms, "value")->valuedouble, 93.0 / 165, 1e-12);
    const cJSON *raw = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "ppl_increase_pct"), "raw"), 0);
    const cJSON *pa = cJSON_GetObjectItem(raw, "all");
    double want = 100 * expm1(0.1);
    CHECK_NEAR(cJSON_GetObjectItem(pa, "value")->valuedouble, want, 1e-9);
    CHECK_NEAR(cJSON_GetObjectItem(pa, "lo")->valuedouble, want, 1e-9);
    CHECK_NEAR(cJSON_GetObjectItem(pa, "hi")->valuedouble, want, 1e-9);
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "units"), "fr")->valueint == 3);
    cJSON_Delete(j);
    docs_free(&a);
}
