#include "gradcheck.h"
#include "nn/act.h"
#include "test.h"
#include <math.h>

enum { ACT_N = 23 };

typedef struct {
    const double *r;
    double out[ACT_N];
} ActCtx;

static double ref_gelu(double x) {
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

static double gelu_probe(const double *x, void *ctx) {
    ActCtx *c = ctx;
    for (int i = 0; i < ACT_N; i++) c->out[i] = ref_gelu(x[i]);
    return gc_dot(c->out, c->r, ACT_N);
}

/* silu(gate)·up over packed x = [gate (N), up (N)] */
static double swiglu_probe(const double *x, void *ctx) {
    ActCtx *c = ctx;
    for (int i = 0; i < ACT_N; i++) c->out[i] = x[i] / (1.0 + exp(-x[i])) * x[ACT_N + i];
    return gc_dot(c->out, c->r, ACT_N);
}

TEST(nn_gelu_gradcheck) {
    Rng rng;
    rng_seed(&rng, 3);
    float x[ACT_N], r[ACT_N], out[ACT_N], g[ACT_N] = {0};
    double xd[ACT_N], rd[ACT_N], num[ACT_N];
    gc_randn(&rng, x, ACT_N, 2.0f);
    x[0] = 0.0f; /* include the origin and a far tail */
    x[1] = -6.0f;
    gc_randn(&rng, r, ACT_N, 1.0f);
    gc_to_double(xd, x, ACT_N);
    gc_to_double(rd, r, ACT_N);
    ActCtx ctx = {.r = rd};
    gelu_probe(xd, &ctx);
    gelu_forward(out, x, ACT_N);
    gc_compare("gelu forward", out, ctx.out, ACT_N, GC_FWD_RTOL, GC_FWD_ATOL);
    gelu_backward(g, x, r, ACT_N);
    gc_numeric_grad(gelu_probe, xd, ACT_N, GC_EPS, num, &ctx);
    gc_compare("gelu dinp", g, num, ACT_N, GC_BWD_RTOL, GC_BWD_ATOL);
}

TEST(nn_swiglu_gradcheck) {
    Rng rng;
    rng_seed(&rng, 4);
    float x[2 * ACT_N], r[ACT_N], out[ACT_N], g[2 * ACT_N] = {0};
    double xd[2 * ACT_N], rd[ACT_N], num[2 * ACT_N];
    gc_randn(&rng, x, 2 * ACT_N, 2.0f);
    gc_randn(&rng, r, ACT_N, 1.0f);
    gc_to_double(xd, x, 2 * ACT_N);
    gc_to_double(rd, r, ACT_N);
    ActCtx ctx = {.r = rd};
    swiglu_probe(xd, &ctx);
    swiglu_forward(out, x, x + ACT_N, ACT_N);
    gc_compare("swiglu forward", out, ctx.out, ACT_N, GC_FWD_RTOL, GC_FWD_ATOL);
    swiglu_backward(g, g + ACT_N, x, x + ACT_N, r, ACT_N);
    gc_numeric_grad(swiglu_probe, xd, 2 * ACT_N, GC_EPS, num, &ctx);
    gc_compare("swiglu dgate", g, num, ACT_N, GC_BWD_RTOL, GC_BWD_ATOL);
    gc_compare("swiglu dup", g + ACT_N, num + ACT_N, ACT_N, GC_BWD_RTOL, GC_BWD_ATOL);
}
