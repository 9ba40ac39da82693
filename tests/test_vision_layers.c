/* Gradient checks of the vision layers: each float backward against central finite differences of
 * a naive double-precision reference forward, and each float forward against that reference.
 * The scalar under test is L = Σ out·R for a fixed random R (so dout = R). */
#include "core/mem.h"
#include "core/rng.h"
#include "nn/conv.h"
#include "nn/norm2d.h"
#include "nn/pool.h"
#include "nn/relu.h"
#include "gradcheck.h"
#include "test.h"
#include <math.h>
#include <string.h>
#include "nn/threads.h"

static void fill(double *d, float *f, long n, Rng *r, double scale) {
    for (long i = 0; i < n; i++) {
        f[i] = (float)(scale * rng_normal(r));
        d[i] = f[i];
    }
}

/* ---- conv ---- */
typedef struct {
    ConvShape s;
    int B;
    double *x, *w, *b, *R;
} ConvCase;

static double conv_ref_loss(const ConvCase *c, double *out) {
    const ConvShape *s = &c->s;
    int OH = conv_out_h(s), OW = conv_out_w(s);
    double L = 0;
    for (int b = 0; b < c->B; b++)
        for (int o = 0; o < s->OC; o++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    double acc = c->b[o];
                    for (int ci = 0; ci < s->C; ci++)
                        for (int ky = 0; ky < s->K; ky++)
                            for (int kx = 0; kx < s->K; kx++) {
                                int y = oy * s->stride - s->pad + ky,
                                    x = ox * s->stride - s->pad + kx;
                                if (y < 0 || y >= s->H || x < 0 || x >= s->W) continue;
                                acc += c->w[((o * s->C + ci) * s->K + ky) * s->K + kx] *
                                       c->x[((b * s->C + ci) * s->H + y) * s->W + x];
                            }
                    long at = ((long)(b * s->OC + o) * OH + oy) * OW + ox;
                    if (out) out[at] = acc;
                    L += acc * c->R[at];
                }
    return L;
}

static double conv_loss(void *c) {
    return conv_ref_loss(c, NULL);
}
static double conv_fd(ConvCase *c, double *v, long i) {
    return gc_central_diff(conv_loss, c, &v[i], 1e-4);
}

static void check_conv(ConvShape s, int B) {
    Rng r;
    rng_seed(&r, 7);
    int OH = conv_out_h(&s), OW = conv_out_w(&s);
    long nx = (long)B * s.C * s.H * s.W, nw = (long)s.OC * s.C * s.K * s.K,
         no = (long)B * s.OC * OH * OW;
    ConvCase c = {s, B, ml_alloc(nx * 8), ml_alloc(nw * 8), ml_alloc(s.OC * 8), ml_alloc(no * 8)};
    float *x = ml_alloc_floats(nx), *w = ml_alloc_floats(nw), *b = ml_alloc_floats(s.OC);
    float *R = ml_alloc_floats(no), *out = ml_alloc_floats(no);
    fill(c.x, x, nx, &r, 1);
    fill(c.w, w, nw, &r, 0.3);
    fill(c.b, b, s.OC, &r, 0.3);
    fill(c.R, R, no, &r, 1);
    float *scratch = ml_alloc_floats(conv2d_scratch_floats(&s, omp_get_max_threads()));
    double *ref = ml_alloc(no * 8);
    conv_ref_loss(&c, ref);
    conv2d_forward(out, x, w, b, B, &s, scratch);
    double maxerr = 0;
    for (long i = 0; i < no; i++) maxerr = fmax(maxerr, fabs(out[i] - ref[i]));
    CHECK_MSG(maxerr < 1e-4, "conv forward max err %g", maxerr);
    float *dx = ml_alloc_floats(nx), *dw = ml_alloc_floats(nw), *db = ml_alloc_floats(s.OC);
    conv2d_backward(dx, dw, db, R, x, w, B, &s, scratch);
    for (long i = 0; i < nx; i += 3) CHECK_NEAR(dx[i], conv_fd(&c, c.x, i), 2e-3);
    for (long i = 0; i < nw; i++) CHECK_NEAR(dw[i], conv_fd(&c, c.w, i), 5e-3);
    for (int i = 0; i < s.OC; i++) CHECK_NEAR(db[i], conv_fd(&c, c.b, i), 5e-3);
    /* backward accumulates */
    float dw0 = dw[0];
    conv2d_backward(NULL, dw, NULL, R, x, w, B, &s, scratch);
    CHECK_NEAR(dw[0], 2 * dw0, 1e-4 * (1 + fabs(dw0)));
    ml_free(c.x), ml_free(c.w), ml_free(c.b), ml_free(c.R), ml_free(ref);
    ml_free(x), ml_free(w), ml_free(b), ml_free(R), ml_free(out), ml_free(scratch);
    ml_free(dx), ml_free(dw), ml_free(db);
}

TEST(conv2d_matches_reference_and_finite_differences) {
    check_conv((ConvShape){.C = 3, .H = 6, .W = 5, .OC = 4, .K = 3, .stride = 1, .pad = 1}, 3);
    check_conv((ConvShape){.C = 2, .H = 7, .W = 7, .OC = 3, .K = 3, .stride = 2, .pad = 0}, 2);
    check_conv((ConvShape){.C = 4, .H = 5, .W = 5, .OC = 2, .K = 1, .stride = 1, .pad = 0}, 2);
    /* the same-size stride-1 fast path with a wide kernel, taps off whole rows, several chunks */
    check_conv((ConvShape){.C = 2, .H = 3, .W = 7, .OC = 3, .K = 5, .stride = 1, .pad = 2}, 11);
}

/* An expert that no image chose runs its layers on 0 images: the im2col path (a 5×5 kernel here;
 * every shape on builds without AVX-512) must do nothing, not divide by a zero chunk count. */
TEST(conv2d_on_zero_images_does_nothing) {
    ConvShape s = {.C = 2, .H = 5, .W = 5, .OC = 3, .K = 5, .stride = 1, .pad = 2};
    float one = 1, *scratch = ml_alloc_floats(conv2d_scratch_floats(&s, omp_get_max_threads()));
    float w[3 * 2 * 25] = {0}, b[3] = {0}, dw[3 * 2 * 25] = {0}, db[3] = {0};
    conv2d_forward(&one, &one, w, b, 0, &s, scratch);
    conv2d_backward(&one, dw, db, &one, &one, w, 0, &s, scratch);
    CHECK(one == 1 && dw[0] == 0 && db[0] == 0);
    ml_free(scratch);
}

/* The direct 3×3 kernels (nn/conv3x3.c where built): on small planes the channel-vector kernels
 * (1–4 vectors and past 4, channels not a multiple of 16), on wider ones the pixel-vector kernels
 * (8-channel and single-channel tiles, 1–3 vectors); weight-gradient taps not a multiple of the
 * tile; odd sides. */
TEST(conv3x3_direct_kernels_match_reference_and_finite_differences) {
    check_conv((ConvShape){.C = 1, .H = 9, .W = 9, .OC = 16, .K = 3, .stride = 1, .pad = 1}, 3);
    check_conv((ConvShape){.C = 3, .H = 7, .W = 7, .OC = 32, .K = 3, .stride = 1, .pad = 1}, 5);
    check_conv((ConvShape){.C = 5, .H = 4, .W = 6, .OC = 20, .K = 3, .stride = 1, .pad = 1}, 2);
    check_conv((ConvShape){.C = 2, .H = 3, .W = 11, .OC = 48, .K = 3, .stride = 1, .pad = 1}, 2);
    check_conv((ConvShape){.C = 2, .H = 5, .W = 3, .OC = 72, .K = 3, .stride = 1, .pad = 1}, 1);
    /* planes wide enough for the pixel-vector kernels (one with rows over 16 floats) */
    check_conv((ConvShape){.C = 3, .H = 4, .W = 14, .OC = 24, .K = 3, .stride = 1, .pad = 1}, 3);
    check_conv((ConvShape){.C = 2, .H = 5, .W = 18, .OC = 16, .K = 3, .stride = 1, .pad = 1}, 2);
}

/* ---- group norm ---- */
typedef struct {
    int B, C, HW, G;
    double *x, *g, *b, *R;
} GnCase;

static double gn_ref_loss(const GnCase *c, double *out) {
    int cg = c->C / c->G;
    long n = (long)cg * c->HW;
    double L = 0;
    for (int bg = 0; bg < c->B * c->G; bg++) {
        const double *x = c->x + bg * n;
        double m = 0, v = 0;
        for (long i = 0; i < n; i++) m += x[i];
        m /= n;
        for (long i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
        double r = 1 / sqrt(v / n + 1e-5);
        for (long i = 0; i < n; i++) {
            int ch = (bg % c->G) * cg + (int)(i / c->HW);
            double y = (x[i] - m) * r * c->g[ch] + c->b[ch];
            if (out) out[bg * n + i] = y;
            L += y * c->R[bg * n + i];
        }
    }
    return L;
}

static double gn_loss(void *c) {
    return gn_ref_loss(c, NULL);
}
static double gn_fd(GnCase *c, double *v, long i) {
    return gc_central_diff(gn_loss, c, &v[i], 1e-4);
}

TEST(groupnorm_matches_reference_and_finite_differences) {
    Rng r;
    rng_seed(&r, 3);
    int B = 2, C = 6, HW = 5, G = 3;
    long n = (long)B * C * HW;
    GnCase c = {B, C, HW, G, ml_alloc(n * 8), ml_alloc(C * 8), ml_alloc(C * 8), ml_alloc(n * 8)};
    float *x = ml_alloc_floats(n), *g = ml_alloc_floats(C), *b = ml_alloc_floats(C);
    float *R = ml_alloc_floats(n), *out = ml_alloc_floats(n), mean[6], rstd[6];
    fill(c.x, x, n, &r, 2);
    fill(c.g, g, C, &r, 1);
    fill(c.b, b, C, &r, 1);
    fill(c.R, R, n, &r, 1);
    double *ref = ml_alloc(n * 8);
    gn_ref_loss(&c, ref);
    groupnorm_forward(out, mean, rstd, x, g, b, B, C, HW, G, 1e-5f);
    for (long i = 0; i < n; i++) CHECK_NEAR(out[i], ref[i], 1e-4);
    float *dx = ml_alloc_floats(n), dg[6] = {0}, db[6] = {0};
    groupnorm_backward(dx, dg, db, R, x, g, mean, rstd, B, C, HW, G);
    for (long i = 0; i < n; i++) CHECK_NEAR(dx[i], gn_fd(&c, c.x, i), 2e-3);
    for (int i = 0; i < C; i++) CHECK_NEAR(dg[i], gn_fd(&c, c.g, i), 2e-3);
    for (int i = 0; i < C; i++) CHECK_NEAR(db[i], gn_fd(&c, c.b, i), 2e-3);
    /* fused group norm + ReLU = relu(groupnorm) forward; its backward (which writes, in place
     * over dout) = groupnorm_backward of the gradient masked by the ReLU */
    float *fo = ml_alloc_floats(n), *masked = ml_alloc_floats(n), *dref = ml_alloc_floats(n);
    float *inplace = ml_alloc_floats(n), *part = ml_alloc_floats(2 * B * C);
    float fdg[6] = {0}, fdb[6] = {0}, rdg[6] = {0}, rdb[6] = {0};
    groupnorm_relu_forward(fo, mean, rstd, x, g, b, B, C, HW, G, 1e-5f);
    int pos = 0;
    for (long i = 0; i < n; i++) {
        CHECK(fo[i] == (out[i] > 0 ? out[i] : 0.0f));
        masked[i] = fo[i] > 0 ? R[i] : 0.0f, pos += fo[i] > 0, inplace[i] = R[i];
    }
    CHECK(pos > n / 4 && pos < n); /* both sides of the ReLU are exercised */
    groupnorm_backward(dref, rdg, rdb, masked, x, g, mean, rstd, B, C, HW, G);
    groupnorm_relu_backward(inplace, fdg, fdb, part, inplace, fo, x, g, mean, rstd, B, C, HW, G);
    for (long i = 0; i < n; i++) CHECK_NEAR(inplace[i], dref[i], 1e-5);
    for (int i = 0; i < C; i++) {
        CHECK_NEAR(fdg[i], rdg[i], 1e-5);
        CHECK_NEAR(fdb[i], rdb[i], 1e-5);
    }
    ml_free(fo), ml_free(masked), ml_free(dref), ml_free(inplace), ml_free(part);
    /* fused with the 2×2 max pool (odd height: the last row is dropped, as maxpool2d does) */
    {
        int H = 5, W = 6, PH = 2, PW = 3;
        long m = (long)B * C * H * W, pm = (long)B * C * PH * PW;
        float *xi = ml_alloc_floats(m), *o1 = ml_alloc_floats(m), *o2 = ml_alloc_floats(m);
        float *p1 = ml_alloc_floats(pm), *p2 = ml_alloc_floats(pm), mu[6], rs[6];
        int32_t *i1 = ml_alloc(pm * 4), *i2 = ml_alloc(pm * 4);
        for (long i = 0; i < m; i++) xi[i] = (float)rng_normal(&r);
        groupnorm_relu_forward(o1, mu, rs, xi, g, b, B, C, H * W, G, 1e-5f);
        maxpool2d_forward(p1, i1, o1, B, C, H, W, 2, 2);
        groupnorm_relu_maxpool_forward(o2, mu, rs, p2, i2, xi, g, b, B, C, H, W, G, 1e-5f);
        for (long i = 0; i < m; i++) CHECK(o1[i] == o2[i]);
        for (long i = 0; i < pm; i++) CHECK(p1[i] == p2[i] && i1[i] == i2[i]);
        ml_free(xi), ml_free(o1), ml_free(o2), ml_free(p1), ml_free(p2), ml_free(i1), ml_free(i2);
    }
    ml_free(c.x), ml_free(c.g), ml_free(c.b), ml_free(c.R), ml_free(ref);
    ml_free(x), ml_free(g), ml_free(b), ml_free(R), ml_free(out), ml_free(dx);
}

/* ---- pooling and ReLU: piecewise linear, so the reference gradient is exact away from ties ----
 */
TEST(pooling_and_relu_gradients) {
    Rng r;
    rng_seed(&r, 11);
    int B = 2, C = 3, H = 6, W = 6, K = 2, S = 2, OH = 3, OW = 3;
    long n = (long)B * C * H * W, no = (long)B * C * OH * OW;
    double *xd = ml_alloc(n * 8), *Rd = ml_alloc(no * 8);
    float *x = ml_alloc_floats(n), *R = ml_alloc_floats(no), *out = ml_alloc_floats(no);
    int32_t *idx = ml_alloc(no * 4);
    fill(xd, x, n, &r, 1);
    fill(Rd, R, no, &r, 1);
    /* max pool: forward = window max; gradient = R routed to the argmax */
    maxpool2d_forward(out, idx, x, B, C, H, W, K, S);
    float *dx = ml_alloc_floats(n);
    maxpool2d_backward(dx, R, idx, B, C, H, W, K, S);
    for (int bc = 0; bc < B * C; bc++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                int best = -1;
                double mx = -1e30;
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++) {
                        int at = (oy * S + ky) * W + ox * S + kx;
                        if (xd[bc * H * W + at] > mx) mx = xd[bc * H * W + at], best = at;
                    }
                CHECK(out[(bc * OH + oy) * OW + ox] == (float)mx);
                CHECK(dx[bc * H * W + best] == R[(bc * OH + oy) * OW + ox]);
            }
    /* the writing variant equals accumulation into zeros, whatever dinp held */
    float *dset = ml_alloc_floats(n);
    for (long i = 0; i < n; i++) dset[i] = 99.0f;
    maxpool2d_backward_set(dset, R, idx, B, C, H, W, K, S);
    for (long i = 0; i < n; i++) CHECK(dset[i] == dx[i]);
    ml_free(dset);
    /* ties: a constant plane routes every window to its first (top-left) element */
    float flat[36], fo[9];
    int32_t fi[9];
    for (int i = 0; i < 36; i++) flat[i] = 1.0f;
    maxpool2d_forward(fo, fi, flat, 1, 1, H, W, K, S);
    for (int p = 0; p < 9; p++) CHECK(fi[p] == (p / 3) * 2 * W + (p % 3) * 2 && fo[p] == 1.0f);
    double sum_dx = 0, sum_R = 0;
    for (long i = 0; i < n; i++) sum_dx += dx[i];
    for (long i = 0; i < no; i++) sum_R += R[i];
    CHECK_NEAR(sum_dx, sum_R, 1e-4);
    /* avg pool: check d(Σ out·R)/dx by central differences of the double forward */
    memset(dx, 0, n * sizeof(float));
    avgpool2d_forward(out, x, B, C, H, W, K, S);
    avgpool2d_backward(dx, R, B, C, H, W, K, S);
    for (int bc = 0; bc < B * C; bc++)
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                int oy = y / S, ox = xx / S;
                double g = Rd[(bc * OH + oy) * OW + ox] / (K * K);
                CHECK_NEAR(dx[(bc * H + y) * W + xx], g, 1e-6);
            }
    CHECK_NEAR(out[0], (xd[0] + xd[1] + xd[W] + xd[W + 1]) / 4, 1e-6);
    /* global average pool */
    float gp[6], dgp[6] = {1, 2, 3, 4, 5, 6};
    global_avgpool_forward(gp, x, B, C, H * W);
    double m0 = 0;
    for (int i = 0; i < H * W; i++) m0 += xd[i];
    CHECK_NEAR(gp[0], m0 / (H * W), 1e-6);
    memset(dx, 0, n * sizeof(float));
    global_avgpool_backward(dx, dgp, B, C, H * W);
    CHECK_NEAR(dx[H * W * 4 + 7], 5.0 / (H * W), 1e-7);
    /* ReLU: gradient passes where the output is positive */
    float *y = ml_alloc_floats(n);
    memset(dx, 0, n * sizeof(float));
    relu_forward(y, x, n);
    relu_backward(dx, y, x, n);
    for (long i = 0; i < n; i++) {
        CHECK(y[i] == (x[i] > 0 ? x[i] : 0));
        CHECK(dx[i] == (x[i] > 0 ? x[i] : 0));
    }
    ml_free(xd), ml_free(Rd), ml_free(x), ml_free(R), ml_free(out), ml_free(idx), ml_free(dx);
    ml_free(y);
}

/* The 2×2 pool's vector rows (AVX-512 builds) against the plain window loop: plane widths 28, 14,
 * odd 15 (last column dropped), 34 (over 16 outputs: scalar), values from {0, 1, 2} so that ties
 * are frequent and must go to the first maximum in row-major order. */
TEST(maxpool2x2_rows_match_window_loop_with_ties) {
    int sides[][2] = {{28, 28}, {14, 14}, {7, 15}, {5, 34}};
    Rng r;
    rng_seed(&r, 3);
    for (int s = 0; s < 4; s++) {
        int H = sides[s][0], W = sides[s][1], OH = H / 2, OW = W / 2, C = 3;
        float *x = ml_alloc_floats((long)C * H * W), *o = ml_alloc_floats((long)C * OH * OW);
        int32_t *ix = ml_alloc(sizeof(int32_t) * C * OH * OW);
        for (long i = 0; i < (long)C * H * W; i++) x[i] = (float)(int)(rng_uniform(&r) * 3);
        maxpool2d_forward(o, ix, x, 1, C, H, W, 2, 2);
        for (int c = 0; c < C; c++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    const float *p = x + (long)c * H * W;
                    int best = 2 * oy * W + 2 * ox;
                    for (int k = 0; k < 4; k++) {
                        int at = (2 * oy + k / 2) * W + 2 * ox + k % 2;
                        if (p[at] > p[best]) best = at;
                    }
                    long q = ((long)c * OH + oy) * OW + ox;
                    CHECK_MSG(ix[q] == best && o[q] == p[best], "side %dx%d c %d (%d,%d)", H, W, c,
                              oy, ox);
                }
        ml_free(x), ml_free(o), ml_free(ix);
    }
}
