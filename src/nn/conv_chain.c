/* A chain of conv → group norm → ReLU blocks ending in a global average pool (see conv_chain.h). */
#include "nn/conv_chain.h"
#include "core/error.h"
#include "core/mem.h"
#include "nn/conv.h"
#include "nn/norm2d.h"
#include "nn/pool.h"
#include <math.h>
#include <string.h>

#define GN_EPS 1e-5f /* as the vision model's other blocks */

int conv_chain_alloc(ConvChain *c, int blocks, int in_ch, int ch, int side, int groups, int cap) {
    memset(c, 0, sizeof *c);
    if (blocks < 1 || blocks > CONV_CHAIN_MAX)
        return ml_error("conv chain: expected 1..%d blocks, got %d", CONV_CHAIN_MAX, blocks);
    if (side >> (blocks - 1) < 1 || (blocks > 1 && side % (1 << (blocks - 1))))
        return ml_error("conv chain: %d blocks need a side divisible by %d, got %d", blocks,
                        1 << (blocks - 1), side);
    if (ch % groups) return ml_error("conv chain: %d groups do not divide %d channels", groups, ch);
    c->blocks = blocks, c->in_ch = in_ch, c->ch = ch, c->groups = groups, c->cap = cap;
    for (int b = 0; b < blocks; b++, side /= 2) {
        long plane = (long)cap * ch * side * side;
        c->side[b] = side;
        c->a[b] = ml_alloc_floats(plane), c->act[b] = ml_alloc_floats(plane);
        c->mean[b] = ml_alloc_floats((long)cap * groups);
        c->rstd[b] = ml_alloc_floats((long)cap * groups);
        if (b < blocks - 1) {
            c->pool[b] = ml_alloc_floats(plane / 4);
            c->pidx[b] = ml_alloc(sizeof(int32_t) * (plane / 4));
        }
    }
    long big = (long)cap * ch * c->side[0] * c->side[0];
    c->gap = ml_alloc_floats((long)cap * ch);
    c->d1 = ml_alloc_floats(big), c->d2 = ml_alloc_floats(big);
    c->gn_part = ml_alloc_floats(2L * cap * ch);
    return 0;
}

void conv_chain_free(ConvChain *c) {
    for (int b = 0; b < CONV_CHAIN_MAX; b++) {
        ml_free(c->a[b]), ml_free(c->act[b]), ml_free(c->mean[b]), ml_free(c->rstd[b]);
        ml_free(c->pool[b]), ml_free(c->pidx[b]);
    }
    ml_free(c->gap), ml_free(c->d1), ml_free(c->d2), ml_free(c->gn_part);
    memset(c, 0, sizeof *c);
}

static ConvShape block_shape(const ConvChain *c, int b) {
    return (ConvShape){b == 0 ? c->in_ch : c->ch, c->side[b], c->side[b], c->ch, 3, 1, 1};
}

long conv_chain_scratch_floats(const ConvChain *c, int threads) {
    long need = 0;
    for (int b = 0; b < c->blocks; b++) {
        ConvShape s = block_shape(c, b);
        long n = conv2d_scratch_floats(&s, threads);
        if (n > need) need = n;
    }
    return need;
}

void conv_block_init(ConvBlockParams *p, int ic, int oc, Rng *r) {
    rng_fill_normal(r, p->w, (long)oc * ic * 9, sqrtf(2.0f / (ic * 9))); /* Kaiming (ReLU) */
    for (int o = 0; o < oc; o++) p->gamma[o] = 1.0f;
}

void conv_chain_init(ConvBlockParams *p, const ConvChain *c, Rng *r) {
    for (int b = 0; b < c->blocks; b++) conv_block_init(&p[b], b == 0 ? c->in_ch : c->ch, c->ch, r);
}

void conv_chain_forward(ConvChain *c, const ConvBlockParams *p, const float *x, int n,
                        float *scratch) {
    const float *in = x;
    for (int b = 0; b < c->blocks; b++) {
        ConvShape s = block_shape(c, b);
        int side = c->side[b];
        conv2d_forward(c->a[b], in, p[b].w, p[b].b, n, &s, scratch);
        if (b < c->blocks - 1)
            groupnorm_relu_maxpool_forward(c->act[b], c->mean[b], c->rstd[b], c->pool[b],
                                           c->pidx[b], c->a[b], p[b].gamma, p[b].beta, n, c->ch,
                                           side, side, c->groups, GN_EPS);
        else
            groupnorm_relu_forward(c->act[b], c->mean[b], c->rstd[b], c->a[b], p[b].gamma,
                                   p[b].beta, n, c->ch, side * side, c->groups, GN_EPS);
        in = c->pool[b];
    }
    int last = c->side[c->blocks - 1];
    global_avgpool_forward(c->gap, c->act[c->blocks - 1], n, c->ch, last * last);
}

void conv_chain_backward(ConvChain *c, ConvBlockParams *g, const ConvBlockParams *p, const float *x,
                         const float *dgap, int n, float *dx, float *scratch) {
    int nb = c->blocks, last = c->side[nb - 1];
    float *dcur = c->d1; /* ∂L/∂(block b's ReLU output), then in place ∂L/∂(its conv output) */
    memset(dcur, 0, sizeof(float) * n * c->ch * last * last);
    global_avgpool_backward(dcur, dgap, n, c->ch, last * last);
    for (int b = nb - 1; b >= 0; b--) {
        ConvShape s = block_shape(c, b);
        int side = c->side[b];
        groupnorm_relu_backward(dcur, g ? g[b].gamma : NULL, g ? g[b].beta : NULL, c->gn_part, dcur,
                                c->act[b], c->a[b], p[b].gamma, c->mean[b], c->rstd[b], n, c->ch,
                                side * side, c->groups);
        if (b == 0) {
            conv2d_backward(dx, g ? g[b].w : NULL, g ? g[b].b : NULL, dcur, x, p[b].w, n, &s,
                            scratch);
            break;
        }
        /* into block b−1's pooled output (d2), then through its pool into its ReLU output */
        float *dpool = c->d2;
        long pooled = (long)n * c->ch * side * side;
        memset(dpool, 0, sizeof(float) * pooled);
        conv2d_backward(dpool, g ? g[b].w : NULL, g ? g[b].b : NULL, dcur, c->pool[b - 1], p[b].w,
                        n, &s, scratch);
        maxpool2d_backward_set(dcur, dpool, c->pidx[b - 1], n, c->ch, c->side[b - 1],
                               c->side[b - 1], 2, 2);
    }
}
