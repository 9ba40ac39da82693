/* Input gradients of one image through a vision model (see vinput.h). */
#include "model/vinput.h"
#include "core/error.h"
#include "core/mem.h"
#include "nn/conv.h"
#include "nn/featstd.h"
#include "nn/linear.h"
#include "nn/norm2d.h"
#include "nn/pool.h"
#include "nn/threads.h"
#include <math.h>
#include <string.h>

#define GN_EPS 1e-5f   /* as vision.c */
#define GATE_EPS 1e-5f /* as vision.c */
#define MAX_BLOCKS 8

struct VisionInputGrad {
    const VisionModel *m;
    int S, S1, side[MAX_BLOCKS];
    /* stem: pre-norm, post-ReLU, norm stats, pooled h and its argmax, gate input */
    float *a0, *act0, *mean0, *rstd0, *h, *gate_in, *gate_x; /* gate input raw and standardised */
    float gate_mu, gate_rstd;                                /* GATE_NORM_IMAGE statistics */
    int32_t *hidx;
    ConvChain tower; /* the gate's own blocks over h (cfg.gate_blocks > 0) */
    /* expert blocks (one expert at a time) */
    float *a[MAX_BLOCKS], *act[MAX_BLOCKS], *mean[MAX_BLOCKS], *rstd[MAX_BLOCKS], *pool[MAX_BLOCKS];
    int32_t *pidx[MAX_BLOCKS];
    float *gap, *r;
    /* backward */
    float *d1, *d2, *dh, *dgate, *dgap, *dr, *gn_part, *scratch;
};

VisionInputGrad *vinput_new(const VisionModel *m) {
    const VisionConfig *c = &m->cfg;
    if (c->router != ROUTER_LEARNED && c->router != ROUTER_RANDOM) {
        ml_error("input gradients of the gate logits need a learned or random router");
        return NULL;
    }
    VisionInputGrad *g = ml_alloc(sizeof *g);
    g->m = m, g->S = c->img, g->S1 = c->img / 2;
    int Cs = c->stem_ch, ec = c->expert_ch, G = c->groups, nb = c->expert_blocks;
    long SS = (long)g->S * g->S, S1S1 = (long)g->S1 * g->S1, big = (long)Cs * SS;
    g->a0 = ml_alloc_floats(Cs * SS), g->act0 = ml_alloc_floats(Cs * SS);
    g->mean0 = ml_alloc_floats(G), g->rstd0 = ml_alloc_floats(G);
    g->h = ml_alloc_floats(Cs * S1S1), g->hidx = ml_alloc(sizeof(int32_t) * Cs * S1S1);
    int Dg = vision_gate_dim(c);
    g->gate_in = ml_alloc_floats(Dg), g->gate_x = ml_alloc_floats(Dg);

    ConvShape s0 = {c->in_ch, g->S, g->S, Cs, 3, 1, 1};
    int T = omp_get_max_threads(); /* the convs use every thread outside a parallel region */
    long scratch = conv2d_scratch_floats(&s0, T);
    int side = g->S1;
    for (int b = 0; b < nb; b++) {
        g->side[b] = side;
        long n = (long)ec * side * side;
        g->a[b] = ml_alloc_floats(n), g->act[b] = ml_alloc_floats(n);
        g->mean[b] = ml_alloc_floats(G), g->rstd[b] = ml_alloc_floats(G);
        if (n > big) big = n;
        ConvShape s = {b == 0 ? Cs : ec, side, side, ec, 3, 1, 1};
        long need = conv2d_scratch_floats(&s, T);
        if (need > scratch) scratch = need;
        if (b < nb - 1) {
            side /= 2;
            g->pool[b] = ml_alloc_floats((long)ec * side * side);
            g->pidx[b] = ml_alloc(sizeof(int32_t) * ec * side * side);
        }
    }
    g->gap = ml_alloc_floats(ec), g->r = ml_alloc_floats(c->readout);
    g->d1 = ml_alloc_floats(big), g->d2 = ml_alloc_floats(big);
    g->dh = ml_alloc_floats(Cs * S1S1), g->dgate = ml_alloc_floats(Dg);
    g->dgap = ml_alloc_floats(ec), g->dr = ml_alloc_floats(c->readout);
    g->gn_part = ml_alloc_floats(2L * (Cs > ec ? Cs : ec));
    if (c->gate_blocks > 0) {
        conv_chain_alloc(&g->tower, c->gate_blocks, Cs, c->gate_ch, g->S1, G, 1); /* validated */
        long need = conv_chain_scratch_floats(&g->tower, T);
        if (need > scratch) scratch = need;
    }
    g->scratch = ml_alloc_floats(scratch);
    return g;
}

void vinput_free(VisionInputGrad *g) {
    if (!g) return;
    float *fl[] = {g->a0,   g->act0, g->mean0,   g->rstd0,   g->h,     g->gate_in,
                   g->gap,  g->r,    g->d1,      g->d2,      g->dh,    g->dgate,
                   g->dgap, g->dr,   g->gn_part, g->scratch, g->gate_x};
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) ml_free(fl[i]);
    for (int b = 0; b < MAX_BLOCKS; b++) {
        ml_free(g->a[b]), ml_free(g->act[b]), ml_free(g->mean[b]), ml_free(g->rstd[b]);
        ml_free(g->pool[b]), ml_free(g->pidx[b]);
    }
    conv_chain_free(&g->tower);
    ml_free(g->hidx), ml_free(g);
}

static void stem_forward(VisionInputGrad *g, const float *x) {
    const VisionConfig *c = &g->m->cfg;
    const ConvBlockParams *p = &g->m->p.stem;
    ConvShape s = {c->in_ch, g->S, g->S, c->stem_ch, 3, 1, 1};
    conv2d_forward(g->a0, x, p->w, p->b, 1, &s, g->scratch);
    groupnorm_relu_maxpool_forward(g->act0, g->mean0, g->rstd0, g->h, g->hidx, g->a0, p->gamma,
                                   p->beta, 1, c->stem_ch, g->S, g->S, c->groups, GN_EPS);
    /* the gate's input as vision.c builds it: pooled block output (or the gate's own blocks over
     * it) and / or pooled pre-norm conv output, standardised with the model's running statistics
     * (eval mode) or per image */
    int Cs = c->stem_ch, Cr = vision_gate_relu_dim(c), Dg = vision_gate_dim(c), at = 0;
    if (c->gate_source != GATE_SRC_CONV && c->gate_blocks > 0) {
        conv_chain_forward(&g->tower, g->m->p.gate_tower, g->h, 1, g->scratch);
        memcpy(g->gate_in, g->tower.gap, sizeof(float) * Cr), at = Cr;
    } else if (c->gate_source != GATE_SRC_CONV)
        global_avgpool_forward(g->gate_in, g->h, 1, Cs, g->S1 * g->S1), at = Cs;
    if (c->gate_source != GATE_SRC_RELU)
        global_avgpool_forward(g->gate_in + at, g->a0, 1, Cs, g->S * g->S);
    if (c->gate_norm == GATE_NORM_BATCH)
        featstd_apply(g->gate_x, g->gate_in, g->m->p.gate_run_mean, g->m->p.gate_run_var, 1, Dg,
                      GATE_EPS);
    else if (c->gate_norm == GATE_NORM_IMAGE) {
        FeatStdShape s1 = featstd_row_shape(1, Dg);
        featstd_forward(g->gate_x, &g->gate_mu, &g->gate_rstd, g->gate_in, &s1, GATE_EPS);
    } else
        memcpy(g->gate_x, g->gate_in, sizeof(float) * Dg);
}

/* ∂f/∂(router input) dgx [Dg] back to the stem: g->dh (block-output part) and g->dgate's conv
 * part (returned, or NULL when the gate has none). */
static const float *gate_backward(VisionInputGrad *g, const float *dgx) {
    const VisionConfig *c = &g->m->cfg;
    int Cs = c->stem_ch, Cr = vision_gate_relu_dim(c), Dg = vision_gate_dim(c);
    if (c->gate_norm == GATE_NORM_BATCH)
        for (int i = 0; i < Dg; i++)
            g->dgate[i] = dgx[i] / sqrtf(g->m->p.gate_run_var[i] + GATE_EPS);
    else if (c->gate_norm == GATE_NORM_IMAGE) {
        FeatStdShape s1 = featstd_row_shape(1, Dg);
        memset(g->dgate, 0, sizeof(float) * Dg);
        featstd_backward(g->dgate, dgx, g->gate_x, &g->gate_rstd, &s1);
    } else
        memcpy(g->dgate, dgx, sizeof(float) * Dg);
    memset(g->dh, 0, sizeof(float) * Cs * g->S1 * g->S1);
    if (c->gate_source != GATE_SRC_CONV && c->gate_blocks > 0)
        conv_chain_backward(&g->tower, NULL, g->m->p.gate_tower, g->h, g->dgate, 1, g->dh,
                            g->scratch);
    else if (c->gate_source != GATE_SRC_CONV)
        global_avgpool_backward(g->dh, g->dgate, 1, Cs, g->S1 * g->S1);
    return c->gate_source == GATE_SRC_RELU ? NULL
                                           : g->dgate + (c->gate_source == GATE_SRC_BOTH ? Cr : 0);
}

/* Stem backward from g->dh (∂f/∂h) and dconv (∂f/∂ of the pooled pre-norm conv output, or NULL)
 * to dx. */
static void stem_backward(VisionInputGrad *g, const float *x, float *dx, const float *dconv) {
    const VisionConfig *c = &g->m->cfg;
    const ConvBlockParams *p = &g->m->p.stem;
    maxpool2d_backward_set(g->d1, g->dh, g->hidx, 1, c->stem_ch, g->S, g->S, 2, 2);
    groupnorm_relu_backward(g->d1, NULL, NULL, g->gn_part, g->d1, g->act0, g->a0, p->gamma,
                            g->mean0, g->rstd0, 1, c->stem_ch, g->S * g->S, c->groups);
    if (dconv) global_avgpool_backward(g->d1, dconv, 1, c->stem_ch, g->S * g->S);
    ConvShape s = {c->in_ch, g->S, g->S, c->stem_ch, 3, 1, 1};
    memset(dx, 0, sizeof(float) * c->in_ch * g->S * g->S);
    conv2d_backward(dx, NULL, NULL, g->d1, x, p->w, 1, &s, g->scratch);
}

void vinput_gate_logits(VisionInputGrad *g, const float *x, float *logits) {
    const VisionConfig *c = &g->m->cfg;
    stem_forward(g, x);
    linear_forward(logits, g->gate_x, g->m->p.gate.router_w, NULL, 1, vision_gate_dim(c),
                   c->n_experts);
}

/* Expert e on g->h: readout into g->r. */
static void expert_forward(VisionInputGrad *g, int e) {
    const VisionConfig *c = &g->m->cfg;
    int ec = c->expert_ch, nb = c->expert_blocks;
    const float *in = g->h;
    for (int b = 0; b < nb; b++) {
        const ConvBlockParams *p = &g->m->p.blocks[e * nb + b];
        int side = g->side[b];
        ConvShape s = {b == 0 ? c->stem_ch : ec, side, side, ec, 3, 1, 1};
        conv2d_forward(g->a[b], in, p->w, p->b, 1, &s, g->scratch);
        if (b < nb - 1)
            groupnorm_relu_maxpool_forward(g->act[b], g->mean[b], g->rstd[b], g->pool[b],
                                           g->pidx[b], g->a[b], p->gamma, p->beta, 1, ec, side,
                                           side, c->groups, GN_EPS);
        else
            groupnorm_relu_forward(g->act[b], g->mean[b], g->rstd[b], g->a[b], p->gamma, p->beta, 1,
                                   ec, side * side, c->groups, GN_EPS);
        in = g->pool[b];
    }
    int last = g->side[nb - 1];
    global_avgpool_forward(g->gap, g->act[nb - 1], 1, ec, last * last);
    linear_forward(g->r, g->gap, g->m->p.ro_w[e], g->m->p.ro_b[e], 1, ec, c->readout);
}

/* Expert e backward from g->dr to g->dh. */
static void expert_backward(VisionInputGrad *g, int e) {
    const VisionConfig *c = &g->m->cfg;
    int ec = c->expert_ch, nb = c->expert_blocks, last = g->side[nb - 1];
    memset(g->dgap, 0, sizeof(float) * ec);
    linear_backward(g->dgap, NULL, NULL, g->dr, g->gap, g->m->p.ro_w[e], 1, ec, c->readout);
    float *dcur = g->d1;
    memset(dcur, 0, sizeof(float) * ec * last * last);
    global_avgpool_backward(dcur, g->dgap, 1, ec, last * last);
    for (int b = nb - 1; b >= 0; b--) {
        const ConvBlockParams *p = &g->m->p.blocks[e * nb + b];
        int side = g->side[b], ic = b == 0 ? c->stem_ch : ec;
        groupnorm_relu_backward(dcur, NULL, NULL, g->gn_part, dcur, g->act[b], g->a[b], p->gamma,
                                g->mean[b], g->rstd[b], 1, ec, side * side, c->groups);
        ConvShape s = {ic, side, side, ec, 3, 1, 1};
        const float *in = b == 0 ? g->h : g->pool[b - 1];
        float *din = b == 0 ? g->dh : g->d2;
        memset(din, 0, sizeof(float) * ic * side * side);
        conv2d_backward(din, NULL, NULL, dcur, in, p->w, 1, &s, g->scratch);
        if (b > 0) { /* through block b−1's pool into its post-ReLU plane */
            int ps = g->side[b - 1];
            maxpool2d_backward_set(dcur, din, g->pidx[b - 1], 1, ec, ps, ps, 2, 2);
        }
    }
}

double vinput_value_grad(VisionInputGrad *g, VinObjective obj, int e, const float *x, float *dx) {
    const VisionConfig *c = &g->m->cfg;
    int Dg = vision_gate_dim(c), D = c->readout;
    stem_forward(g, x);
    double f;
    const float *dconv = NULL;
    if (obj == VIN_GATE_LOGIT) {
        const float *w = g->m->p.gate.router_w + (long)e * Dg;
        f = 0;
        for (int i = 0; i < Dg; i++) f += (double)w[i] * g->gate_x[i];
        if (!dx) return f;
        dconv = gate_backward(g, w);
    } else {
        expert_forward(g, e);
        double ss = 0;
        for (int d = 0; d < D; d++) ss += (double)g->r[d] * g->r[d];
        f = sqrt(ss);
        if (!dx) return f;
        for (int d = 0; d < D; d++) g->dr[d] = f > 0 ? (float)(g->r[d] / f) : 0;
        expert_backward(g, e);
    }
    stem_backward(g, x, dx, dconv);
    return f;
}
