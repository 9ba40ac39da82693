/* A chain of conv blocks over NCHW images, ending in a global average pool:
 *
 *   x [n, ic, s, s] → block 0 → maxpool 2×2 → block 1 → … → block nb−1 → GAP → gap [n, ch]
 *   block: conv3×3 (pad 1, stride 1) → group norm (G groups) → ReLU
 *
 * The vision gate's own tower (gate_blocks) is one. Activations for up to `cap` images are
 * allocated once by conv_chain_alloc; the caller owns the parameters and a conv scratch block of
 * conv_chain_scratch_floats. Backward ACCUMULATES into dx and the parameter gradients. */
#pragma once
#include "core/rng.h"
#include <stdint.h>

#define CONV_CHAIN_MAX 8

typedef struct {
    float *w, *b, *gamma, *beta; /* conv [OC, IC, 3, 3], bias [OC], group-norm scale and shift */
} ConvBlockParams;

typedef struct {
    int blocks, in_ch, ch, groups, cap; /* shape; cap: images one call can take */
    int side[CONV_CHAIN_MAX];           /* input side of block b (= its conv output side) */
    /* per block [cap, ch, side², or (side/2)² for the pool]: conv output, ReLU output, group
     * statistics [cap, groups], pooled output and its argmax (blocks before the last) */
    float *a[CONV_CHAIN_MAX], *act[CONV_CHAIN_MAX], *mean[CONV_CHAIN_MAX], *rstd[CONV_CHAIN_MAX];
    float *pool[CONV_CHAIN_MAX];
    int32_t *pidx[CONV_CHAIN_MAX];
    float *gap;               /* [cap, ch] the chain's output */
    float *d1, *d2, *gn_part; /* backward: two planes of block 0's size, 2·cap·ch */
} ConvChain;

/* -1 + ml_error when the shape does not fit (too many blocks for the side, groups ∤ ch). */
int conv_chain_alloc(ConvChain *c, int blocks, int in_ch, int ch, int side, int groups, int cap);
void conv_chain_free(ConvChain *c);
/* Conv scratch floats forward and backward need with up to `threads` threads. */
long conv_chain_scratch_floats(const ConvChain *c, int threads);
/* One block: Kaiming-normal conv weights [oc, ic, 3, 3], unit group-norm scale, zero biases (p
 * already zeroed). */
void conv_block_init(ConvBlockParams *p, int ic, int oc, Rng *r);
/* Every block of the chain, as conv_block_init. */
void conv_chain_init(ConvBlockParams *p, const ConvChain *c, Rng *r);

/* c->gap [n, ch] for n ≤ cap images x. */
void conv_chain_forward(ConvChain *c, const ConvBlockParams *p, const float *x, int n,
                        float *scratch);
/* Given ∂L/∂gap [n, ch] of the last forward: dx += ∂L/∂x (dx may be NULL), g[b] += the
 * parameters' gradients (g may be NULL: input gradients only). */
void conv_chain_backward(ConvChain *c, ConvBlockParams *g, const ConvBlockParams *p, const float *x,
                         const float *dgap, int n, float *dx, float *scratch);
