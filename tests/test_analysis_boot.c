/* The document bootstrap on cases whose interval is known: a mean of 0/1 units (the resampled mean
 * is Binomial(n, 1/2)/n exactly), strata kept at their sizes, and DocAcc tables built so that NMI,
 * n50 and the k' perplexity cost are the same in every resample. */
#include "stats/bootstrap.h"
#include "analysis/lm/docstats.h"
#include "core/mem.h"
#include "test.h"
#include <math.h>
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

/* A DocAcc of one layer, 4 experts, k = 1 (three NLL columns), D domains, U units; zeroed. */
static void one_layer_acc(DocAcc *a, int D, int U, int B, uint64_t seed) {
    memset(a, 0, sizeof *a);
    a->L = 1, a->EZ = 4, a->k = 1, a->D = D, a->U = U, a->C = 3, a->unit = "document", a->B = B;
    a->seed = seed;
    a->dom = ml_alloc(sizeof(int32_t) * U);
    a->top1 = ml_alloc(sizeof(double) * U * 4), a->picks = ml_alloc(sizeof(double) * U * 4);
    a->cls = ml_alloc(sizeof(double) * U * 4 * TOKCLASS_COUNT);
    a->tokens = ml_alloc(sizeof(double) * U), a->scored = ml_alloc(sizeof(double) * U);
    a->nll = ml_alloc(sizeof(double) * U * 3);
}

/* Two domains × 3 documents; layer 0 sends every token of domain d to expert d (top-1 and the
 * only pick), tokens of class d; every k' column costs 0.1 nats per scored token. */
TEST(analysis_boot_docstats_known) {
    DocAcc a;
    one_layer_acc(&a, 2, 6, 200, 5);
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

/* Two statistics at once: the weighted mean of x, and the same mean where it is below 0.5 (NaN
 * otherwise, so the two skip different resamples). */
static void mean_and_low(const double *w, void *ctx, double *out) {
    out[0] = weighted_mean(w, ctx);
    out[1] = out[0] < 0.5 ? out[0] : NAN;
}
static double low_mean(const double *w, void *ctx) {
    double m = weighted_mean(w, ctx);
    return m < 0.5 ? m : NAN;
}

TEST(analysis_boot_joint_equals_alone) {
    double x[30];
    int strata[30];
    for (int u = 0; u < 30; u++) x[u] = (u * 7 % 11) / 10.0, strata[u] = u % 3 - (u == 4);
    Vals v = {x, 30};
    BootPlan p = {30, strata, 300, 17, 0.9};
    double val[2], lo[2], hi[2], a[3], b[3];
    boot_intervals(&p, mean_and_low, &v, 2, val, lo, hi);
    boot_interval(&p, weighted_mean, &v, &a[0], &a[1], &a[2]);
    boot_interval(&p, low_mean, &v, &b[0], &b[1], &b[2]);
    CHECK(val[0] == a[0] && lo[0] == a[1] && hi[0] == a[2]);
    CHECK(isnan(val[1]) == isnan(b[0]) && lo[1] == b[1] && hi[1] == b[2]);
    CHECK(lo[1] < hi[1] && hi[1] < 0.5 && lo[0] < lo[1] + 0.2); /* not a degenerate case */
}

/* docs_json forms "all" and every domain's statistics in one pass per resample: each must be what
 * a statistic of its own over that domain's units gives (the reference below, one per call). */
typedef struct {
    const DocAcc *a;
    int d, col; /* domain (-1: all); 0: max share of layer 0, else k' column */
} Ref;

static double ref_stat(const double *w, void *ctx) {
    const Ref *r = ctx;
    const DocAcc *a = r->a;
    double c[4] = {0}, tok = 0, x = 0, f = 0, n = 0, max = 0;
    for (int u = 0; u < a->U; u++) {
        if (!w[u] || a->dom[u] < 0 || (r->d >= 0 && a->dom[u] != r->d)) continue;
        tok += w[u] * a->tokens[u];
        for (int e = 0; e < 4; e++) c[e] += w[u] * a->picks[u * 4 + e];
        x += w[u] * a->nll[u * a->C + r->col], f += w[u] * a->nll[u * a->C];
        n += w[u] * a->scored[u];
    }
    if (r->col) return 100 * expm1((x - f) / n);
    for (int e = 0; e < 4; e++) max = c[e] / tok > max ? c[e] / tok : max;
    return max;
}

TEST(analysis_boot_docstats_domains_match_alone) {
    DocAcc a;
    one_layer_acc(&a, 3, 12, 150, 11);
    for (int u = 0; u < 12; u++) { /* uneven picks and losses: intervals of nonzero width */
        a.dom[u] = u % 3, a.tokens[u] = a.scored[u] = 5 + u;
        for (int e = 0; e < 4; e++) a.picks[u * 4 + e] = a.top1[u * 4 + e] = (u * 5 + e * 3) % 7;
        a.nll[u * 3] = 2 + 0.37 * u, a.nll[u * 3 + 1] = 2.5 + 0.11 * (u % 4);
        a.nll[u * 3 + 2] = 2.2 + 0.05 * u;
    }
    const char *names[3] = {"en", "fr", "de"};
    cJSON *j = docs_json(&a, names);
    int strata[12];
    for (int u = 0; u < 12; u++) strata[u] = a.dom[u];
    BootPlan p = {12, strata, 150, 11, 0.95};
    const cJSON *l0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "layers"), 0);
    const cJSON *ppl = cJSON_GetObjectItem(j, "ppl_increase_pct");
    const cJSON *cols[3] = {cJSON_GetObjectItem(l0, "max_share_tokens"),
                            cJSON_GetArrayItem(cJSON_GetObjectItem(ppl, "raw"), 0),
                            cJSON_GetArrayItem(cJSON_GetObjectItem(ppl, "renorm"), 0)};
    int wide = 0;
    for (int col = 0; col < 3; col++)
        for (int d = -1; d < 3; d++) {
            Ref r = {&a, d, col};
            double want[3];
            boot_interval(&p, ref_stat, &r, &want[0], &want[1], &want[2]);
            const cJSON *o = cJSON_GetObjectItem(cols[col], d < 0 ? "all" : names[d]);
            CHECK(cJSON_GetObjectItem(o, "value")->valuedouble == want[0]);
            CHECK(cJSON_GetObjectItem(o, "lo")->valuedouble == want[1]);
            CHECK(cJSON_GetObjectItem(o, "hi")->valuedouble == want[2]);
            wide += want[2] > want[1];
        }
    CHECK(wide >= 10);
    cJSON_Delete(j);
    docs_free(&a);
}
