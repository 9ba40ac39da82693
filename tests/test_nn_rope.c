#include "gradcheck.h"
#include "nn/attention.h"
#include "test.h"
#include <math.h>

enum { RB = 2, RT = 5, RH = 3, RHD = 8, RN = RB * RT * RH * RHD };
#define ROPE_BASE 10000.0f

typedef struct {
    int n_rot, pos0;
    RopeMode mode;
    const double *r;
    double out[RN];
} RopeCtx;

/* Written from ggml's rope: pair i (< n_rot/2) is (2i, 2i+1) in "norm" mode and (i, i + n_rot/2) in
 * "neox" mode, rotated by θ = pos·base^(-2i/n_rot); the other dims are copied. */
static void ref_rope(double *out, const double *x, const RopeCtx *c) {
    for (int b = 0; b < RB; b++)
        for (int t = 0; t < RT; t++)
            for (int h = 0; h < RH; h++) {
                const double *xv = x + ((b * RT + t) * RH + h) * RHD;
                double *o = out + ((b * RT + t) * RH + h) * RHD;
                for (int d = 0; d < RHD; d++) o[d] = xv[d];
                for (int i = 0; i < c->n_rot / 2; i++) {
                    int i0 = c->mode == ROPE_NORM ? 2 * i : i;
                    int i1 = c->mode == ROPE_NORM ? 2 * i + 1 : i + c->n_rot / 2;
                    double th = (t + c->pos0) * pow(ROPE_BASE, -2.0 * i / c->n_rot);
                    o[i0] = xv[i0] * cos(th) - xv[i1] * sin(th);
                    o[i1] = xv[i0] * sin(th) + xv[i1] * cos(th);
                }
            }
}

static double rope_probe(const double *x, void *ctx) {
    RopeCtx *c = ctx;
    ref_rope(c->out, x, c);
    return gc_dot(c->out, c->r, RN);
}

static void check_rope(RopeMode mode, int n_rot, int pos0) {
    Rng rng;
    rng_seed(&rng, 30 + mode * 7 + n_rot);
    float x[RN], y[RN], r[RN];
    double xd[RN], rd[RN], num[RN];
    gc_randn(&rng, x, RN, 1.0f);
    gc_randn(&rng, r, RN, 1.0f);
    gc_to_double(xd, x, RN);
    gc_to_double(rd, r, RN);
    RopeCtx c = {n_rot, pos0, mode, rd, {0}};
    ref_rope(c.out, xd, &c);
    for (int i = 0; i < RN; i++) y[i] = x[i];
    rope_forward(y, RB, RT, RH, RHD, n_rot, ROPE_BASE, mode, pos0);
    gc_compare("rope forward", y, c.out, RN, GC_FWD_RTOL, GC_FWD_ATOL);
    /* backward is the inverse rotation: it undoes the forward */
    rope_backward(y, RB, RT, RH, RHD, n_rot, ROPE_BASE, mode, pos0);
    gc_compare("rope backward(forward(x))", y, xd, RN, 0, 1e-6);
    /* and it is the gradient: dL/dx of Σ rope(x)·r */
    rope_backward(r, RB, RT, RH, RHD, n_rot, ROPE_BASE, mode, pos0);
    gc_numeric_grad(rope_probe, xd, RN, GC_EPS, num, &c);
    gc_compare("rope dx", r, num, RN, GC_BWD_RTOL, GC_BWD_ATOL);
}

TEST(nn_rope_norm_full_gradcheck) {
    check_rope(ROPE_NORM, RHD, 0);
}
TEST(nn_rope_norm_partial_gradcheck) {
    check_rope(ROPE_NORM, 6, 3);
}
TEST(nn_rope_neox_full_gradcheck) {
    check_rope(ROPE_NEOX, RHD, 0);
}
TEST(nn_rope_neox_partial_gradcheck) {
    check_rope(ROPE_NEOX, 6, 3);
}

/* A hand case: at position 1, pair 0 turns by exactly 1 radian; NORM pairs dims (0,1), NEOX (0,2).
 */
TEST(nn_rope_pairs_by_mode) {
    float a[4] = {1, 0, 0, 0}, b[4] = {1, 0, 0, 0};
    rope_forward(a, 1, 1, 1, 4, 4, ROPE_BASE, ROPE_NORM, 1);
    rope_forward(b, 1, 1, 1, 4, 4, ROPE_BASE, ROPE_NEOX, 1);
    CHECK_NEAR(a[0], cos(1.0), 1e-7);
    CHECK_NEAR(a[1], sin(1.0), 1e-7);
    CHECK(a[2] == 0 && a[3] == 0);
    CHECK_NEAR(b[0], cos(1.0), 1e-7);
    CHECK_NEAR(b[2], sin(1.0), 1e-7);
    CHECK(b[1] == 0 && b[3] == 0);
}
