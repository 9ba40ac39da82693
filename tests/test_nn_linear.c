#include "core/mem.h"
#include "gradcheck.h"
#include "nn/linear.h"
#include "test.h"

/* Packed inputs: inp [N,C], w [OC,C], bias [OC] (when has_bias). */
typedef struct {
    int N, C, OC, has_bias;
    const double *r; /* probe weights [N,OC] */
    double *out;
} LinearCtx;

static void ref_linear(double *out, const double *x, const LinearCtx *c) {
    const double *inp = x, *w = x + c->N * c->C, *bias = w + c->OC * c->C;
    for (int n = 0; n < c->N; n++)
        for (int o = 0; o < c->OC; o++) {
            double s = c->has_bias ? bias[o] : 0;
            for (int i = 0; i < c->C; i++) s += inp[n * c->C + i] * w[o * c->C + i];
            out[n * c->OC + o] = s;
        }
}

static double linear_probe(const double *x, void *ctx) {
    LinearCtx *c = ctx;
    ref_linear(c->out, x, c);
    return gc_dot(c->out, c->r, (long)c->N * c->OC);
}

static void check_linear(int has_bias) {
    enum { N = 5, C = 4, OC = 3 };
    long nx = N * C + OC * C + (has_bias ? OC : 0);
    Rng rng;
    rng_seed(&rng, 11 + has_bias);
    float xf[N * C + OC * C + OC], r[N * OC], out[N * OC];
    float g[N * C + OC * C + OC] = {0}; /* analytic grads, same packing */
    double x[N * C + OC * C + OC], rd[N * OC], outd[N * OC], num[N * C + OC * C + OC];
    gc_randn(&rng, xf, nx, 1.0f);
    gc_randn(&rng, r, N * OC, 1.0f);
    gc_to_double(x, xf, nx);
    gc_to_double(rd, r, N * OC);
    float *inp = xf, *w = xf + N * C, *bias = has_bias ? w + OC * C : NULL;

    LinearCtx ctx = {N, C, OC, has_bias, rd, outd};
    ref_linear(outd, x, &ctx);
    linear_forward(out, inp, w, bias, N, C, OC);
    gc_compare("linear forward", out, outd, N * OC, GC_FWD_RTOL, GC_FWD_ATOL);

    linear_backward(g, g + N * C, has_bias ? g + N * C + OC * C : NULL, r, inp, w, N, C, OC);
    gc_numeric_grad(linear_probe, x, nx, GC_EPS, num, &ctx);
    gc_compare("linear dinp", g, num, N * C, GC_BWD_RTOL, GC_BWD_ATOL);
    gc_compare("linear dw", g + N * C, num + N * C, OC * C, GC_BWD_RTOL, GC_BWD_ATOL);
    if (has_bias)
        gc_compare("linear dbias", g + N * C + OC * C, num + N * C + OC * C, OC, GC_BWD_RTOL,
                   GC_BWD_ATOL);
}

TEST(nn_linear_with_bias_gradcheck) {
    check_linear(1);
}
TEST(nn_linear_without_bias_gradcheck) {
    check_linear(0);
}

/* Backward accumulates: a second call adds the same gradient again. */
TEST(nn_linear_backward_accumulates) {
    enum { N = 3, C = 2, OC = 2 };
    float inp[N * C] = {1, 2, 3, 4, 5, 6}, w[OC * C] = {1, -1, 0.5f, 2},
                  dout[N * OC] = {1, 0, 0, 1, 1, 1};
    float dinp[N * C] = {0}, dw[OC * C] = {0}, db[OC] = {0};
    linear_backward(dinp, dw, db, dout, inp, w, N, C, OC);
    float dinp1 = dinp[0], dw1 = dw[3], db1 = db[1];
    linear_backward(dinp, dw, db, dout, inp, w, N, C, OC);
    CHECK_NEAR(dinp[0], 2 * dinp1, 1e-6);
    CHECK_NEAR(dw[3], 2 * dw1, 1e-6);
    CHECK_NEAR(db[1], 2 * db1, 1e-6);
    CHECK_NEAR(db1, 2.0, 1e-6); /* Σ_n dout[n,1] = 0 + 1 + 1 */
}
