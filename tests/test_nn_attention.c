#include "core/mem.h"
#include "gradcheck.h"
#include "nn/attention.h"
#include "test.h"
#include <math.h>
#include <string.h>

/* Packed inputs: q [B,T,NH,HD], k [B,T,NKV,HD], v [B,T,NKV,HD]. */
typedef struct {
    int B, T, NH, NKV, HD;
    const double *r; /* probe weights [B,T,NH,HD] */
    double *out, *att;
} AttnCtx;

static void ref_attention(const double *x, AttnCtx *c) {
    int B = c->B, T = c->T, NH = c->NH, NKV = c->NKV, HD = c->HD;
    const double *q = x, *k = q + (long)B * T * NH * HD, *v = k + (long)B * T * NKV * HD;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            int kh = h / (NH / NKV);
            for (int t = 0; t < T; t++) {
                const double *qv = q + ((long)(b * T + t) * NH + h) * HD;
                double *p = c->att + (((long)b * NH + h) * T + t) * T, mx = -INFINITY, sum = 0;
                for (int j = 0; j < T; j++) {
                    const double *kv = k + ((long)(b * T + j) * NKV + kh) * HD;
                    double s = 0;
                    for (int d = 0; d < HD; d++) s += qv[d] * kv[d];
                    p[j] = j <= t ? s / sqrt(HD) : -INFINITY;
                    if (p[j] > mx) mx = p[j];
                }
                for (int j = 0; j < T; j++) sum += p[j] = exp(p[j] - mx);
                for (int j = 0; j < T; j++) p[j] /= sum;
                double *o = c->out + ((long)(b * T + t) * NH + h) * HD;
                for (int d = 0; d < HD; d++) {
                    o[d] = 0;
                    for (int j = 0; j <= t; j++)
                        o[d] += p[j] * v[((long)(b * T + j) * NKV + kh) * HD + d];
                }
            }
        }
}

static double attention_probe(const double *x, void *ctx) {
    AttnCtx *c = ctx;
    ref_attention(x, c);
    return gc_dot(c->out, c->r, (long)c->B * c->T * c->NH * c->HD);
}

static void check_attention(int B, int T, int NH, int NKV, int HD, uint64_t seed) {
    long nq = (long)B * T * NH * HD, nk = (long)B * T * NKV * HD, nx = nq + 2 * nk;
    long na = (long)B * NH * T * T;
    float *x = ml_alloc_floats(nx), *r = ml_alloc_floats(nq), *out = ml_alloc_floats(nq);
    float *att = ml_alloc_floats(na), *g = ml_alloc_floats(nx);
    double *xd = ml_alloc(nx * sizeof(double)), *rd = ml_alloc(nq * sizeof(double));
    double *num = ml_alloc(nx * sizeof(double));
    AttnCtx c = {
        B, T, NH, NKV, HD, rd, ml_alloc(nq * sizeof(double)), ml_alloc(na * sizeof(double))};
    Rng rng;
    rng_seed(&rng, seed);
    gc_randn(&rng, x, nx, 1.0f);
    gc_randn(&rng, r, nq, 1.0f);
    gc_to_double(xd, x, nx);
    gc_to_double(rd, r, nq);

    ref_attention(xd, &c);
    attention_forward(out, att, x, x + nq, x + nq + nk, B, T, NH, NKV, HD);
    gc_compare("attention forward", out, c.out, nq, GC_FWD_RTOL, GC_FWD_ATOL);
    gc_compare("attention probabilities", att, c.att, na, GC_FWD_RTOL, GC_FWD_ATOL);

    attention_backward(g, g + nq, g + nq + nk, r, att, x, x + nq, x + nq + nk, B, T, NH, NKV, HD);
    gc_numeric_grad(attention_probe, xd, nx, GC_EPS, num, &c);
    gc_compare("attention dq", g, num, nq, GC_BWD_RTOL, GC_BWD_ATOL);
    gc_compare("attention dk", g + nq, num + nq, nk, GC_BWD_RTOL, GC_BWD_ATOL);
    gc_compare("attention dv", g + nq + nk, num + nq + nk, nk, GC_BWD_RTOL, GC_BWD_ATOL);

    ml_free(x), ml_free(r), ml_free(out), ml_free(att), ml_free(g), ml_free(xd), ml_free(rd);
    ml_free(num), ml_free(c.out), ml_free(c.att);
}

TEST(nn_attention_mha_gradcheck) {
    check_attention(2, 6, 2, 2, 3, 21);
}
TEST(nn_attention_gqa_gradcheck) {
    check_attention(2, 5, 4, 2, 3, 22);
}
/* T past the 64-row block: blocks see only the keys they need, and the seams must be right. */
TEST(nn_attention_long_sequence_gradcheck) {
    check_attention(1, 70, 2, 1, 2, 23);
}

/* Output at position t must not depend on anything at positions > t, and a loss on positions ≤ t
 * must send no gradient to later positions. */
TEST(nn_attention_is_causal) {
    enum { B = 2, T = 9, NH = 4, NKV = 2, HD = 4, CUT = 4 };
    long nq = B * T * NH * HD, nk = B * T * NKV * HD;
    float q[B * T * NH * HD], k[B * T * NKV * HD], v[B * T * NKV * HD];
    float out1[B * T * NH * HD], out2[B * T * NH * HD], att[B * NH * T * T];
    Rng rng;
    rng_seed(&rng, 24);
    gc_randn(&rng, q, nq, 1.0f);
    gc_randn(&rng, k, nk, 1.0f);
    gc_randn(&rng, v, nk, 1.0f);
    attention_forward(out1, att, q, k, v, B, T, NH, NKV, HD);
    for (int b = 0; b < B; b++)
        for (int t = CUT + 1; t < T; t++) {
            for (int i = 0; i < NH * HD; i++) q[(b * T + t) * NH * HD + i] += 3.0f;
            for (int i = 0; i < NKV * HD; i++) {
                k[(b * T + t) * NKV * HD + i] -= 2.0f;
                v[(b * T + t) * NKV * HD + i] *= -5.0f;
            }
        }
    attention_forward(out2, att, q, k, v, B, T, NH, NKV, HD);
    for (int b = 0; b < B; b++)
        CHECK(memcmp(out1 + b * T * NH * HD, out2 + b * T * NH * HD,
                     sizeof(float) * (CUT + 1) * NH * HD) == 0);

    float dout[B * T * NH * HD] = {0}, dq[B * T * NH * HD] = {0}, dk[B * T * NKV * HD] = {0},
                            dv[B * T * NKV * HD] = {0};
    for (int b = 0; b < B; b++)
        for (int i = 0; i < (CUT + 1) * NH * HD; i++) dout[b * T * NH * HD + i] = 1.0f + 0.1f * i;
    attention_backward(dq, dk, dv, dout, att, q, k, v, B, T, NH, NKV, HD);
    double later = 0, earlier = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            double s = 0;
            for (int i = 0; i < NH * HD; i++) s += fabs(dq[(b * T + t) * NH * HD + i]);
            for (int i = 0; i < NKV * HD; i++)
                s += fabs(dk[(b * T + t) * NKV * HD + i]) + fabs(dv[(b * T + t) * NKV * HD + i]);
            *(t > CUT ? &later : &earlier) += s;
        }
    CHECK(later == 0);
    CHECK(earlier > 0);
}
