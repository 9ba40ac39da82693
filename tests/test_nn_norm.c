#include "core/mem.h"
#include "gradcheck.h"
#include "nn/norm.h"
#include "test.h"
#include <math.h>
#include "nn/threads.h"
#include <string.h>

enum { NN_ = 6, NC = 7 };
#define NORM_EPS 1e-5f

/* Packed: inp [N,C], w [C], b [C] (layernorm) — rmsnorm uses inp and optionally w. */
typedef struct {
    int has_w;
    const double *r;
    double out[NN_ * NC];
} NormCtx;

static double layernorm_probe(const double *x, void *ctx) {
    NormCtx *c = ctx;
    const double *w = x + NN_ * NC, *b = w + NC;
    for (int n = 0; n < NN_; n++) {
        const double *row = x + n * NC;
        double m = 0, v = 0;
        for (int i = 0; i < NC; i++) m += row[i];
        m /= NC;
        for (int i = 0; i < NC; i++) v += (row[i] - m) * (row[i] - m);
        v /= NC;
        for (int i = 0; i < NC; i++)
            c->out[n * NC + i] = (row[i] - m) / sqrt(v + NORM_EPS) * w[i] + b[i];
    }
    return gc_dot(c->out, c->r, NN_ * NC);
}

static double rmsnorm_probe(const double *x, void *ctx) {
    NormCtx *c = ctx;
    const double *w = x + NN_ * NC;
    for (int n = 0; n < NN_; n++) {
        const double *row = x + n * NC;
        double ss = 0;
        for (int i = 0; i < NC; i++) ss += row[i] * row[i];
        for (int i = 0; i < NC; i++)
            c->out[n * NC + i] = row[i] / sqrt(ss / NC + NORM_EPS) * (c->has_w ? w[i] : 1.0);
    }
    return gc_dot(c->out, c->r, NN_ * NC);
}

enum { NP = NN_ * NC + 2 * NC, NO = NN_ * NC };

static void random_inputs(int seed, float *p, float *r, double *pd, double *rd) {
    Rng rng;
    rng_seed(&rng, seed);
    gc_randn(&rng, p, NP, 1.0f);
    for (int i = 0; i < NN_ * NC; i++) p[i] += 0.5f * (i / NC); /* rows with different means */
    gc_randn(&rng, r, NO, 1.0f);
    gc_to_double(pd, p, NP);
    gc_to_double(rd, r, NO);
}

TEST(nn_layernorm_gradcheck) {
    float p[NP], r[NO], out[NO], mean[NN_], rstd[NN_], g[NP] = {0};
    double pd[NP], rd[NO], num[NP];
    random_inputs(7, p, r, pd, rd);
    NormCtx ctx = {1, rd, {0}};
    layernorm_probe(pd, &ctx);
    layernorm_forward(out, mean, rstd, p, p + NO, p + NO + NC, NN_, NC, NORM_EPS);
    gc_compare("layernorm forward", out, ctx.out, NO, GC_FWD_RTOL, GC_FWD_ATOL);
    layernorm_backward(g, g + NO, g + NO + NC, r, p, p + NO, mean, rstd, NN_, NC);
    gc_numeric_grad(layernorm_probe, pd, NP, GC_EPS, num, &ctx);
    gc_compare("layernorm dinp", g, num, NO, GC_BWD_RTOL, GC_BWD_ATOL);
    gc_compare("layernorm dw", g + NO, num + NO, NC, GC_BWD_RTOL, GC_BWD_ATOL);
    gc_compare("layernorm db", g + NO + NC, num + NO + NC, NC, GC_BWD_RTOL, GC_BWD_ATOL);
}

static void check_rmsnorm(int has_w) {
    float p[NP], r[NO], out[NO], rstd[NN_], g[NP] = {0};
    double pd[NP], rd[NO], num[NP];
    random_inputs(8 + has_w, p, r, pd, rd);
    NormCtx ctx = {has_w, rd, {0}};
    rmsnorm_probe(pd, &ctx);
    const float *w = has_w ? p + NO : NULL;
    rmsnorm_forward(out, rstd, p, w, NN_, NC, NORM_EPS);
    gc_compare("rmsnorm forward", out, ctx.out, NO, GC_FWD_RTOL, GC_FWD_ATOL);
    rmsnorm_backward(g, has_w ? g + NO : NULL, r, p, w, rstd, NN_, NC);
    gc_numeric_grad(rmsnorm_probe, pd, has_w ? NO + NC : NO, GC_EPS, num, &ctx);
    gc_compare("rmsnorm dinp", g, num, NO, GC_BWD_RTOL, GC_BWD_ATOL);
    if (has_w) gc_compare("rmsnorm dw", g + NO, num + NO, NC, GC_BWD_RTOL, GC_BWD_ATOL);
}

TEST(nn_rmsnorm_with_weight_gradcheck) {
    check_rmsnorm(1);
}
TEST(nn_rmsnorm_without_weight_gradcheck) {
    check_rmsnorm(0);
}

/* Weight gradients are reduced over rows in a fixed order: 1 and 2 threads give identical bits. */
TEST(nn_norm_weight_grads_independent_of_threads) {
    enum { N = 300, C = 37 };
    float *inp = ml_alloc_floats(N * C), *dout = ml_alloc_floats(N * C), *w = ml_alloc_floats(C);
    float *b = ml_alloc_floats(C), *out = ml_alloc_floats(N * C), mean[N], rstd[N];
    float dw[2][C], db[2][C], dwr[2][C];
    Rng rng;
    rng_seed(&rng, 9);
    gc_randn(&rng, inp, N * C, 1.0f);
    gc_randn(&rng, dout, N * C, 1.0f);
    gc_randn(&rng, w, C, 1.0f);
    int saved = omp_get_max_threads();
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k + 1);
        memset(dw[k], 0, sizeof dw[k]);
        memset(db[k], 0, sizeof db[k]);
        memset(dwr[k], 0, sizeof dwr[k]);
        layernorm_forward(out, mean, rstd, inp, w, b, N, C, NORM_EPS);
        layernorm_backward(NULL, dw[k], db[k], dout, inp, w, mean, rstd, N, C);
        rmsnorm_forward(out, rstd, inp, w, N, C, NORM_EPS);
        rmsnorm_backward(NULL, dwr[k], dout, inp, w, rstd, N, C);
    }
    omp_set_num_threads(saved);
    CHECK(memcmp(dw[0], dw[1], sizeof dw[0]) == 0);
    CHECK(memcmp(db[0], db[1], sizeof db[0]) == 0);
    CHECK(memcmp(dwr[0], dwr[1], sizeof dwr[0]) == 0);
    ml_free(inp), ml_free(dout), ml_free(w), ml_free(b), ml_free(out);
}
