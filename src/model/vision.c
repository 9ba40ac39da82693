/* The vision MoE: parameters, activations, forward and backward (see vision.h, docs/vision.md). */
#include "model/vision.h"
#include "core/error.h"
#include "core/mem.h"
#include "nn/conv.h"
#include "nn/featstd.h"
#include "nn/gate_infomax.h"
#include "nn/linear.h"
#include "nn/norm2d.h"
#include "nn/optim.h"
#include "nn/pool.h"
#include "nn/relu.h"
#include "nn/threads.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define GN_EPS 1e-5f
#define GATE_EPS 1e-5f
#define GATE_MOMENTUM 0.1f /* running statistics of GATE_NORM_BATCH */
#define MAX_BLOCKS 8

struct VisionActs {
    int S, S1;            /* input side, stem output side */
    int side[MAX_BLOCKS]; /* input side of expert block b (= its conv output side) */
    int V, n, views;      /* capacity (views), images of the last forward, loss computed */
    const float *x;       /* input of the last forward (caller keeps it alive) */
    /* stem */
    float *stem_a, *stem_act, *stem_mean, *stem_rstd, *h, *gate_in;
    float *gate_x, *gate_mu, *gate_rstd; /* normalised gate input [V, Dg], its group statistics */
    float *gate_pool; /* [V, relu width] + [V, Cs] pooled relu (or tower) / conv stem features */
    ConvChain tower;  /* the gate's own blocks over h (cfg.gate_blocks > 0) */
    int gate_batch_stats; /* the last forward standardised with batch statistics */
    int32_t *h_idx;
    /* expert slots, grouped by expert: slots off[e]..off[e+1] run expert e */
    int32_t *slot_img, *slot_rank;
    int off[257];
    float *xin; /* [V·k, Cs, S1, S1] gathered stem outputs */
    float *a[MAX_BLOCKS], *act[MAX_BLOCKS], *mean[MAX_BLOCKS], *rstd[MAX_BLOCKS], *pool[MAX_BLOCKS];
    int32_t *pidx[MAX_BLOCKS];
    float *gap; /* [V·k, ec] */
    /* head */
    float *p1act, *z;
    NtxentCache nt;
    /* backward buffers */
    float *d1, *d2, *d3, *dxin, *dh, *dgap, *dro, *dy, *dp1, *dz, *dtopk_w, *dgate_in, *dgate_x,
        *dlogits;
    float *conv_scratch, *gn_part;
    /* experts run concurrently: one conv scratch block of conv_one floats per thread */
    int T;
    long conv_one;
    float *expert_scratch;
    int order[256]; /* experts by slot count, largest first */
};

/* ---- parameters ---- */

/* Points vp into base (params or grads) and, when list is non-NULL, names every tensor. */
static long layout(VisionParams *vp, float *base, const VisionConfig *c, const MoeConfig *gc,
                   ParamTensor *list, int *nt) {
    long off = 0;
    int n = 0;
    const int E = c->n_experts, nb = c->expert_blocks, ec = c->expert_ch, D = c->readout;
#define TAKE(ptr, count) (ptr = base ? base + off : NULL, off += (count))
#define NAME(pre, nm, ptr, decay, nd, d0, d1, d2, d3)                                              \
    if (list) n = param_tensor(list, n, pre, nm, ptr, decay, 0, nd, d0, d1, d2, d3)
    struct {
        ConvBlockParams *bp;
        int ic, oc;
        char pre[48];
    } blocks[1 + 256 * MAX_BLOCKS + CONV_CHAIN_MAX];
    int nbl = 0;
    blocks[nbl].bp = &vp->stem, blocks[nbl].ic = c->in_ch, blocks[nbl].oc = c->stem_ch;
    snprintf(blocks[nbl++].pre, 48, "stem.");
    for (int e = 0; e < E; e++)
        for (int b = 0; b < nb; b++) {
            blocks[nbl].bp = &vp->blocks[e * nb + b];
            blocks[nbl].ic = b == 0 ? c->stem_ch : ec, blocks[nbl].oc = ec;
            snprintf(blocks[nbl++].pre, 48, "expert.%d.block.%d.", e, b);
        }
    for (int b = 0; b < c->gate_blocks; b++) { /* after the experts: older layouts unchanged */
        blocks[nbl].bp = &vp->gate_tower[b];
        blocks[nbl].ic = b == 0 ? c->stem_ch : c->gate_ch, blocks[nbl].oc = c->gate_ch;
        snprintf(blocks[nbl++].pre, 48, "gate_tower.block.%d.", b);
    }
    for (int i = 0; i < nbl; i++) {
        ConvBlockParams *bp = blocks[i].bp;
        int ic = blocks[i].ic, oc = blocks[i].oc;
        TAKE(bp->w, (long)oc * ic * 9);
        NAME(blocks[i].pre, "conv.weight", bp->w, 1, 4, oc, ic, 3, 3);
        TAKE(bp->b, oc);
        NAME(blocks[i].pre, "conv.bias", bp->b, 0, 1, oc, 0, 0, 0);
        TAKE(bp->gamma, oc);
        NAME(blocks[i].pre, "norm.weight", bp->gamma, 0, 1, oc, 0, 0, 0);
        TAKE(bp->beta, oc);
        NAME(blocks[i].pre, "norm.bias", bp->beta, 0, 1, oc, 0, 0, 0);
    }
    for (int e = 0; e < E; e++) {
        char pre[48];
        snprintf(pre, sizeof pre, "expert.%d.", e);
        TAKE(vp->ro_w[e], (long)D * ec);
        NAME(pre, "readout.weight", vp->ro_w[e], 1, 2, D, ec, 0, 0);
        TAKE(vp->ro_b[e], D);
        NAME(pre, "readout.bias", vp->ro_b[e], 0, 1, D, 0, 0, 0);
    }
    TAKE(vp->p1_w, (long)c->proj_hidden * D);
    NAME("proj.", "0.weight", vp->p1_w, 1, 2, c->proj_hidden, D, 0, 0);
    TAKE(vp->p1_b, c->proj_hidden);
    NAME("proj.", "0.bias", vp->p1_b, 0, 1, c->proj_hidden, 0, 0, 0);
    TAKE(vp->p2_w, (long)c->proj_dim * c->proj_hidden);
    NAME("proj.", "2.weight", vp->p2_w, 1, 2, c->proj_dim, c->proj_hidden, 0, 0);
    TAKE(vp->p2_b, c->proj_dim);
    NAME("proj.", "2.bias", vp->p2_b, 0, 1, c->proj_dim, 0, 0, 0);
    if (base) moe_point_params(&vp->gate, base + off, gc);
    if (list) n = moe_param_tensors(list, n, "gate.", &vp->gate, gc);
    off += moe_num_params(gc);
    vp->gate_run_mean = vp->gate_run_var = NULL;
    if (c->gate_norm == GATE_NORM_BATCH) { /* statistics, not trained: frozen, but checkpointed */
        int Dg = vision_gate_dim(c);
        TAKE(vp->gate_run_mean, Dg);
        if (list)
            n = param_tensor(list, n, "gate.", "norm.running_mean", vp->gate_run_mean, 0, 1, 1, Dg,
                             0, 0, 0);
        TAKE(vp->gate_run_var, Dg);
        if (list)
            n = param_tensor(list, n, "gate.", "norm.running_var", vp->gate_run_var, 0, 1, 1, Dg, 0,
                             0, 0);
    }
    if (nt) *nt = n;
#undef TAKE
#undef NAME
    return off;
}

static void alloc_param_views(VisionParams *vp, const VisionConfig *c) {
    vp->blocks = ml_alloc(sizeof(ConvBlockParams) * c->n_experts * c->expert_blocks);
    vp->ro_w = ml_alloc(sizeof(float *) * c->n_experts);
    vp->ro_b = ml_alloc(sizeof(float *) * c->n_experts);
    vp->gate_tower = ml_alloc(sizeof(ConvBlockParams) * (c->gate_blocks + 1));
}

static void free_param_views(VisionParams *vp) {
    ml_free(vp->blocks), ml_free(vp->ro_w), ml_free(vp->ro_b), ml_free(vp->gate_tower);
}

static void init_params(VisionModel *m) {
    const VisionConfig *c = &m->cfg;
    Rng r;
    rng_seed(&r, c->seed);
    conv_block_init(&m->p.stem, c->in_ch, c->stem_ch, &r);
    for (int e = 0; e < c->n_experts; e++) {
        for (int b = 0; b < c->expert_blocks; b++)
            conv_block_init(&m->p.blocks[e * c->expert_blocks + b],
                            b == 0 ? c->stem_ch : c->expert_ch, c->expert_ch, &r);
        rng_fill_normal(&r, m->p.ro_w[e], (long)c->readout * c->expert_ch,
                        sqrtf(1.0f / c->expert_ch));
    }
    rng_fill_normal(&r, m->p.p1_w, (long)c->proj_hidden * c->readout, sqrtf(2.0f / c->readout));
    rng_fill_normal(&r, m->p.p2_w, (long)c->proj_dim * c->proj_hidden,
                    sqrtf(1.0f / c->proj_hidden));
    moe_init_params(&m->p.gate, &m->gate_cfg, &r);
    for (int i = 0; m->p.gate_run_var && i < vision_gate_dim(c); i++) m->p.gate_run_var[i] = 1.0f;
    if (c->gate_blocks > 0) conv_chain_init(m->p.gate_tower, &m->acts->tower, &r); /* drawn last */
}

/* ---- activations ---- */

static void alloc_acts(VisionModel *m) {
    const VisionConfig *c = &m->cfg;
    VisionActs *A = m->acts = ml_alloc(sizeof(VisionActs));
    int V = m->max_views, Cs = c->stem_ch, ec = c->expert_ch;
    int nb = c->expert_blocks, G = c->groups;
    /* slots per image (expert choice: up to every expert) and (image, expert) pairs in all */
    int k = c->route_choice == CHOICE_EXPERT ? c->n_experts : c->top_k, M = V * c->top_k;
    if (c->route_choice == CHOICE_EXPERT) {
        int ec_pairs = c->n_experts * moe_expert_capacity(&m->gate_cfg, V);
        if (ec_pairs > M) M = ec_pairs;
    }
    A->V = V, A->S = c->img, A->S1 = c->img / 2;
    long SS = (long)A->S * A->S, S1S1 = (long)A->S1 * A->S1;
    A->stem_a = ml_alloc_floats(V * Cs * SS);
    A->stem_act = ml_alloc_floats(V * Cs * SS);
    A->stem_mean = ml_alloc_floats((long)V * G), A->stem_rstd = ml_alloc_floats((long)V * G);
    A->h = ml_alloc_floats(V * Cs * S1S1);
    A->h_idx = ml_alloc(sizeof(int32_t) * V * Cs * S1S1);
    int Dg = vision_gate_dim(c);
    A->gate_in = ml_alloc_floats((long)V * Dg), A->gate_x = ml_alloc_floats((long)V * Dg);
    A->gate_pool = ml_alloc_floats((long)V * (vision_gate_relu_dim(c) + Cs));
    A->gate_mu = ml_alloc_floats(V > Dg ? V : Dg), A->gate_rstd = ml_alloc_floats(V > Dg ? V : Dg);
    A->slot_img = ml_alloc(sizeof(int32_t) * M), A->slot_rank = ml_alloc(sizeof(int32_t) * M);
    A->xin = ml_alloc_floats(M * Cs * S1S1);
    long big = V * Cs * SS; /* largest per-buffer need, for d1/d2 */
    ConvShape stem = {c->in_ch, A->S, A->S, Cs, 3, 1, 1};
    long scratch = conv2d_scratch_floats(&stem, omp_get_max_threads());
    int side = A->S1;
    for (int b = 0; b < nb; b++) {
        A->side[b] = side;
        long n = (long)M * ec * side * side;
        A->a[b] = ml_alloc_floats(n), A->act[b] = ml_alloc_floats(n);
        A->mean[b] = ml_alloc_floats((long)M * G), A->rstd[b] = ml_alloc_floats((long)M * G);
        if (n > big) big = n;
        if ((long)M * Cs * side * side > big) big = (long)M * Cs * side * side;
        ConvShape s = {b == 0 ? Cs : ec, side, side, ec, 3, 1, 1};
        long need = conv2d_scratch_floats(&s, omp_get_max_threads());
        if (need > scratch) scratch = need;
        if (b < nb - 1) {
            side /= 2;
            A->pool[b] = ml_alloc_floats((long)M * ec * side * side);
            A->pidx[b] = ml_alloc(sizeof(int32_t) * M * ec * side * side);
        }
    }
    A->gap = ml_alloc_floats((long)M * ec);
    A->p1act = ml_alloc_floats((long)V * c->proj_hidden);
    A->z = ml_alloc_floats((long)V * c->proj_dim);
    ntxent_cache_point(&A->nt, ml_alloc_floats(ntxent_cache_floats(V, c->proj_dim)), V,
                       c->proj_dim);
    A->d1 = ml_alloc_floats(big), A->d2 = ml_alloc_floats(big), A->d3 = ml_alloc_floats(big);
    A->dxin = ml_alloc_floats(M * Cs * S1S1);
    A->dh = ml_alloc_floats(V * Cs * S1S1);
    A->dgap = ml_alloc_floats((long)M * ec);
    A->dro = ml_alloc_floats((long)M * c->readout);
    A->dy = ml_alloc_floats((long)V * c->readout);
    A->dp1 = ml_alloc_floats((long)V * c->proj_hidden * 2);
    A->dz = ml_alloc_floats((long)V * c->proj_dim);
    A->dtopk_w = ml_alloc_floats((long)V * k);
    A->dgate_in = ml_alloc_floats((long)V * Dg), A->dgate_x = ml_alloc_floats((long)V * Dg);
    A->dlogits = ml_alloc_floats((long)V * c->n_experts);
    if (c->gate_blocks > 0) {
        conv_chain_alloc(&A->tower, c->gate_blocks, Cs, c->gate_ch, A->S1, G, V); /* validated */
        long need = conv_chain_scratch_floats(&A->tower, omp_get_max_threads());
        if (need > scratch) scratch = need;
    }
    A->conv_scratch = ml_alloc_floats(scratch);
    A->T = omp_get_max_threads();
    A->conv_one = conv2d_scratch_floats(&stem, 1);
    for (int b = 0; b < nb; b++) {
        ConvShape s = {b == 0 ? Cs : ec, A->side[b], A->side[b], ec, 3, 1, 1};
        long need = conv2d_scratch_floats(&s, 1);
        if (need > A->conv_one) A->conv_one = need;
    }
    A->expert_scratch = ml_alloc_floats(A->T * A->conv_one);
    long gn = (long)V * Cs > (long)M * ec ? (long)V * Cs : (long)M * ec;
    A->gn_part = ml_alloc_floats(2 * gn);
    m->readout = ml_alloc_floats((long)V * c->readout);
    m->expert_readout = ml_alloc_floats((long)M * c->readout);
    m->slot_of = ml_alloc(sizeof(int32_t) * V * k);
}

static void free_acts(VisionModel *m) {
    VisionActs *A = m->acts;
    if (!A) return;
    float *fl[] = {A->stem_a,    A->stem_act,
                   A->stem_mean, A->stem_rstd,
                   A->h,         A->gate_in,
                   A->xin,       A->gap,
                   A->p1act,     A->z,
                   A->nt.unit,   A->d1,
                   A->d2,        A->d3,
                   A->dxin,      A->dh,
                   A->dgap,      A->dro,
                   A->dy,        A->dp1,
                   A->dz,        A->dtopk_w,
                   A->dgate_in,  A->conv_scratch,
                   A->gn_part,   A->expert_scratch,
                   A->gate_x,    A->gate_mu,
                   A->gate_rstd, A->dgate_x,
                   A->gate_pool, A->dlogits};
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) ml_free(fl[i]);
    for (int b = 0; b < MAX_BLOCKS; b++) {
        ml_free(A->a[b]), ml_free(A->act[b]), ml_free(A->mean[b]), ml_free(A->rstd[b]);
        ml_free(A->pool[b]), ml_free(A->pidx[b]);
    }
    ml_free(A->h_idx), ml_free(A->slot_img), ml_free(A->slot_rank);
    conv_chain_free(&A->tower);
    ml_free(A);
    ml_free(m->readout), ml_free(m->expert_readout), ml_free(m->slot_of);
    m->acts = NULL;
}

int vision_init(VisionModel *m, const VisionConfig *cfg) {
    memset(m, 0, sizeof *m);
    if (vision_config_validate(cfg) != 0) return -1;
    if (cfg->expert_blocks > MAX_BLOCKS)
        return ml_error("expert_blocks: at most %d, got %d", MAX_BLOCKS, cfg->expert_blocks);
    m->cfg = *cfg;
    m->gate_cfg = vision_gate_config(cfg);
    if (moe_validate(&m->gate_cfg) != 0) return -1;
    alloc_param_views(&m->p, cfg);
    alloc_param_views(&m->g, cfg);
    m->n_params = layout(&m->p, NULL, cfg, &m->gate_cfg, NULL, NULL);
    m->params = ml_alloc_floats(m->n_params), m->grads = ml_alloc_floats(m->n_params);
    m->adam_m = ml_alloc_floats(m->n_params), m->adam_v = ml_alloc_floats(m->n_params);
    int max_tensors = 4 + 4 * cfg->n_experts * cfg->expert_blocks + 2 * cfg->n_experts + 4 + 32 +
                      4 * cfg->gate_blocks;
    m->tensors = ml_alloc(sizeof(ParamTensor) * max_tensors);
    layout(&m->p, m->params, cfg, &m->gate_cfg, m->tensors, &m->n_tensors);
    layout(&m->g, m->grads, cfg, &m->gate_cfg, NULL, NULL);
    m->max_views = 2 * cfg->batch;
    moe_acts_alloc(&m->gate_acts, &m->gate_cfg, m->max_views, 1);
    alloc_acts(m);
    init_params(m);
    rng_seed(&m->rng, cfg->seed ^ 0x9A7E5EEDull);
    return 0;
}

void vision_free(VisionModel *m) {
    free_acts(m);
    moe_acts_free(&m->gate_acts);
    free_param_views(&m->p), free_param_views(&m->g);
    ml_free(m->params), ml_free(m->grads), ml_free(m->adam_m), ml_free(m->adam_v);
    ml_free(m->tensors);
    memset(m, 0, sizeof *m);
}

/* ---- forward ---- */

/* conv3×3 (pad 1) → group norm → ReLU on n images; a/act [n, oc, side, side]; with pool non-NULL
 * also the 2×2 max pool of act (fused into the norm pass) into pool/pidx. */
static void block_forward(VisionModel *m, const ConvBlockParams *bp, const float *in, int n, int ic,
                          int oc, int side, float *a, float *act, float *mean, float *rstd,
                          float *pool, int32_t *pidx, float *scratch) {
    ConvShape s = {ic, side, side, oc, 3, 1, 1};
    conv2d_forward(a, in, bp->w, bp->b, n, &s, scratch);
    if (pool)
        groupnorm_relu_maxpool_forward(act, mean, rstd, pool, pidx, a, bp->gamma, bp->beta, n, oc,
                                       side, side, m->cfg.groups, GN_EPS);
    else
        groupnorm_relu_forward(act, mean, rstd, a, bp->gamma, bp->beta, n, oc, side * side,
                               m->cfg.groups, GN_EPS);
}

static void block_backward(VisionModel *m, ConvBlockParams *g, const ConvBlockParams *bp,
                           float *din, float *dact, const float *in, int n, int ic, int oc,
                           int side, const float *a, const float *act, const float *mean,
                           const float *rstd, float *gn_part, float *scratch) {
    /* in place: dact becomes ∂/∂a */
    groupnorm_relu_backward(dact, g->gamma, g->beta, gn_part, dact, act, a, bp->gamma, mean, rstd,
                            n, oc, side * side, m->cfg.groups);
    ConvShape s = {ic, side, side, oc, 3, 1, 1};
    conv2d_backward(din, g->w, g->b, dact, in, bp->w, n, &s, scratch);
}

/* Expert e on n stem outputs xin, slots at..at+n of the activation buffers: readout out [n, D]. */
static void expert_forward(VisionModel *m, int e, const float *xin, int at, int n, float *out,
                           float *scratch) {
    const VisionConfig *c = &m->cfg;
    VisionActs *A = m->acts;
    int ec = c->expert_ch, nb = c->expert_blocks, G = c->groups;
    const float *in = xin;
    for (int b = 0; b < nb; b++) {
        int side = A->side[b], ic = b == 0 ? c->stem_ch : ec;
        long img = (long)ec * side * side;
        float *a = A->a[b] + at * img, *act = A->act[b] + at * img;
        long pimg = (long)ec * (side / 2) * (side / 2);
        float *pool = b < nb - 1 ? A->pool[b] + at * pimg : NULL;
        int32_t *pidx = b < nb - 1 ? A->pidx[b] + at * pimg : NULL;
        block_forward(m, &m->p.blocks[e * nb + b], in, n, ic, ec, side, a, act, A->mean[b] + at * G,
                      A->rstd[b] + at * G, pool, pidx, scratch);
        in = pool;
    }
    int last = A->side[nb - 1];
    global_avgpool_forward(A->gap + (long)at * ec, A->act[nb - 1] + (long)at * ec * last * last, n,
                           ec, last * last);
    linear_forward(out, A->gap + (long)at * ec, m->p.ro_w[e], m->p.ro_b[e], n, ec, c->readout);
}

/* gate_in [n, Dg] = the pooled features cfg.gate_source names, relu part first: GAP(h), or the
 * gate's own blocks over h (gate_blocks), and GAP of the stem's conv output. */
static void gate_pool_forward(VisionModel *m, int n) {
    const VisionConfig *c = &m->cfg;
    VisionActs *A = m->acts;
    int Cs = c->stem_ch, Cr = vision_gate_relu_dim(c), Dg = vision_gate_dim(c);
    int src = c->gate_source;
    float *relu = A->gate_pool, *conv = A->gate_pool + (long)n * Cr;
    if (src != GATE_SRC_CONV && c->gate_blocks > 0) {
        conv_chain_forward(&A->tower, m->p.gate_tower, A->h, n, A->conv_scratch);
        relu = A->tower.gap;
    } else if (src != GATE_SRC_CONV)
        global_avgpool_forward(relu, A->h, n, Cs, A->S1 * A->S1);
    if (src != GATE_SRC_RELU) global_avgpool_forward(conv, A->stem_a, n, Cs, A->S * A->S);
    for (int i = 0; i < n; i++) {
        float *row = A->gate_in + (long)i * Dg;
        if (src != GATE_SRC_CONV) memcpy(row, relu + (long)i * Cr, sizeof(float) * Cr);
        if (src != GATE_SRC_RELU)
            memcpy(row + (src == GATE_SRC_BOTH ? Cr : 0), conv + (long)i * Cs, sizeof(float) * Cs);
    }
}

/* Splits dgate_in [n, Dg] into the relu part (added to dh) and the conv part (returned in
 * A->gate_pool, to be added to the stem conv output's gradient after the group norm's backward);
 * returns whether there is a conv part. */
static int gate_pool_backward(VisionModel *m, int n) {
    const VisionConfig *c = &m->cfg;
    VisionActs *A = m->acts;
    int Cs = c->stem_ch, Cr = vision_gate_relu_dim(c), Dg = vision_gate_dim(c);
    int src = c->gate_source;
    float *relu = A->gate_pool, *conv = A->gate_pool + (long)n * Cr;
    for (int i = 0; i < n; i++) {
        const float *row = A->dgate_in + (long)i * Dg;
        if (src != GATE_SRC_CONV) memcpy(relu + (long)i * Cr, row, sizeof(float) * Cr);
        if (src != GATE_SRC_RELU)
            memcpy(conv + (long)i * Cs, row + (src == GATE_SRC_BOTH ? Cr : 0), sizeof(float) * Cs);
    }
    if (src != GATE_SRC_CONV && c->gate_blocks > 0)
        conv_chain_backward(&A->tower, m->g.gate_tower, m->p.gate_tower, A->h, relu, n, A->dh,
                            A->conv_scratch);
    else if (src != GATE_SRC_CONV)
        global_avgpool_backward(A->dh, relu, n, Cs, A->S1 * A->S1);
    return src != GATE_SRC_RELU;
}

static void stem_forward(VisionModel *m, const float *x, int n) {
    const VisionConfig *c = &m->cfg;
    VisionActs *A = m->acts;
    block_forward(m, &m->p.stem, x, n, c->in_ch, c->stem_ch, A->S, A->stem_a, A->stem_act,
                  A->stem_mean, A->stem_rstd, A->h, A->h_idx, A->conv_scratch);
}

/* The router's input: the pooled stem features, standardised as cfg.gate_norm says. Batch
 * statistics while training (running statistics updated), the running ones otherwise. */
static const float *gate_input(VisionModel *m, int n, int train) {
    const VisionConfig *c = &m->cfg;
    VisionActs *A = m->acts;
    int Cs = vision_gate_dim(c);
    A->gate_batch_stats = 0;
    if (c->gate_norm == GATE_NORM_IMAGE) {
        FeatStdShape s = featstd_row_shape(n, Cs);
        featstd_forward(A->gate_x, A->gate_mu, A->gate_rstd, A->gate_in, &s, GATE_EPS);
    } else if (c->gate_norm == GATE_NORM_BATCH && train && n > 1) {
        FeatStdShape s = featstd_batch_shape(n, Cs);
        featstd_forward(A->gate_x, A->gate_mu, A->gate_rstd, A->gate_in, &s, GATE_EPS);
        featstd_update_running(m->p.gate_run_mean, m->p.gate_run_var, A->gate_mu, A->gate_rstd, Cs,
                               n, GATE_MOMENTUM, GATE_EPS);
        A->gate_batch_stats = 1;
    } else if (c->gate_norm == GATE_NORM_BATCH)
        featstd_apply(A->gate_x, A->gate_in, m->p.gate_run_mean, m->p.gate_run_var, n, Cs,
                      GATE_EPS);
    else
        return A->gate_in;
    return A->gate_x;
}

/* ∂L/∂(pooled features) from ∂L/∂(router input) dgx, into A->dgate_in. */
static void gate_input_backward(VisionModel *m, int n, const float *dgx) {
    const VisionConfig *c = &m->cfg;
    VisionActs *A = m->acts;
    int Cs = vision_gate_dim(c);
    if (c->gate_norm == GATE_NORM_NONE) return; /* dgx is dgate_in already */
    memset(A->dgate_in, 0, sizeof(float) * n * Cs);
    if (c->gate_norm == GATE_NORM_IMAGE || A->gate_batch_stats) {
        FeatStdShape s =
            A->gate_batch_stats ? featstd_batch_shape(n, Cs) : featstd_row_shape(n, Cs);
        featstd_backward(A->dgate_in, dgx, A->gate_x, A->gate_rstd, &s);
    } else
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < Cs; ch++)
                A->dgate_in[i * Cs + ch] =
                    dgx[i * Cs + ch] / sqrtf(m->p.gate_run_var[ch] + GATE_EPS);
}

/* Groups the (image, rank) slots by expert: off[e]..off[e+1]; slot_of[i·k + j] = slot, or −1 for
 * a rank expert choice left unfilled (no expert runs, weight 0). k = the gate's slots per image of
 * the last forward. Returns the number of filled slots. */
static int build_slots(VisionModel *m, int n) {
    VisionActs *A = m->acts;
    int E = m->cfg.n_experts, k = m->gate_acts.k;
    const int32_t *idx = m->gate_acts.topk_idx;
    memset(A->off, 0, sizeof(int) * (E + 1));
    for (int s = 0; s < n * k; s++)
        if (idx[s] >= 0) A->off[idx[s] + 1]++;
    for (int e = 0; e < E; e++) A->off[e + 1] += A->off[e];
    int fill[257];
    memcpy(fill, A->off, sizeof(int) * (E + 1));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++) {
            int e = idx[i * k + j], s = e < 0 ? -1 : fill[e]++;
            if (s >= 0) A->slot_img[s] = i, A->slot_rank[s] = j;
            m->slot_of[i * k + j] = s;
        }
    return A->off[E];
}

/* Orders experts by slot count (largest first, ties by index) into A->order and returns how many
 * lead the order with more than 1/T of the slots: those run one at a time on all threads, the
 * others concurrently, one expert per thread (about 120 OpenMP regions per step were one per
 * layer and expert). Each expert's sums run in the same order either way and the choice depends
 * only on the routing, so results stay bit-identical for a given thread count. */
static int order_experts(VisionModel *m, int slots) {
    VisionActs *A = m->acts;
    int E = m->cfg.n_experts, T = omp_in_parallel() ? 1 : A->T;
    for (int i = 0; i < E; i++) {
        int e = i, c = A->off[e + 1] - A->off[e], j = i;
        for (; j > 0; j--) { /* insertion sort, stable */
            int p = A->order[j - 1];
            if (A->off[p + 1] - A->off[p] >= c) break;
            A->order[j] = p;
        }
        A->order[j] = e;
    }
    if (T <= 1) return E;
    int wide = 0;
    while (wide < E && (long)(A->off[A->order[wide] + 1] - A->off[A->order[wide]]) * T > slots)
        wide++;
    return wide;
}

/* The style information loss applies when it has a weight and the caller gave labels. */
static int style_mi_on(const VisionModel *m) {
    return m->cfg.gate_style_mi > 0 && m->view_label && m->n_view_labels > 0;
}

void vision_forward(VisionModel *m, const float *x, int n, int views, int train) {
    const VisionConfig *c = &m->cfg;
    VisionActs *A = m->acts;
    int D = c->readout, E = c->n_experts;
    long himg = (long)c->stem_ch * A->S1 * A->S1;
    A->x = x, A->n = n, A->views = views;
    stem_forward(m, x, n);
    gate_pool_forward(m, n); /* not in stem_forward: force-run experts need no gate */
    m->gate_cfg.aux_lb_coef = vision_aux_lb(c, m->step);
    moe_route_forward(&m->gate_acts, &m->p.gate, &m->gate_cfg, m->gate_override,
                      gate_input(m, n, train), NULL, NULL, n, train, &m->rng);
    int k = m->gate_acts.k, slots = build_slots(m, n);
#pragma omp parallel for schedule(static)
    for (int s = 0; s < slots; s++)
        memcpy(A->xin + s * himg, A->h + A->slot_img[s] * himg, sizeof(float) * himg);
    int wide = order_experts(m, slots);
    for (int i = 0; i < E; i++) {
        int e = A->order[i], at = A->off[e], cnt = A->off[e + 1] - at;
        if (i < wide) /* a large expert: its layers use every thread */
            expert_forward(m, e, A->xin + at * himg, at, cnt, m->expert_readout + (long)at * D,
                           A->conv_scratch);
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(A->T)
    for (int i = wide; i < E; i++) { /* the rest one per thread, largest first */
        int e = A->order[i], at = A->off[e], cnt = A->off[e + 1] - at;
        if (cnt > 0)
            expert_forward(m, e, A->xin + at * himg, at, cnt, m->expert_readout + (long)at * D,
                           A->expert_scratch + omp_get_thread_num() * A->conv_one);
    }
    /* y_i = Σ_j w_ij r_slot(i,j), ranks summed in order */
    for (int i = 0; i < n; i++) {
        float *y = m->readout + (long)i * D;
        memset(y, 0, sizeof(float) * D);
        for (int j = 0; j < k; j++) {
            if (m->slot_of[i * k + j] < 0) continue; /* unfilled: the image has fewer experts */
            float w = m->gate_acts.topk_w[i * k + j];
            const float *r = m->expert_readout + (long)m->slot_of[i * k + j] * D;
            for (int d = 0; d < D; d++) y[d] += w * r[d];
        }
    }
    if (!views) return;
    linear_forward(A->p1act, m->readout, m->p.p1_w, m->p.p1_b, n, D, c->proj_hidden);
    relu_forward(A->p1act, A->p1act, (long)n * c->proj_hidden);
    linear_forward(A->z, A->p1act, m->p.p2_w, m->p.p2_b, n, c->proj_hidden, c->proj_dim);
    m->ntxent = ntxent_forward(&A->nt, A->z, n, c->proj_dim, c->tau, &m->top1);
    m->infomax = c->gate_infomax > 0 ? (float)gate_infomax_forward(m->gate_acts.probs, n, E) : 0;
    m->pair_mi = c->gate_pair_mi > 0 ? (float)gate_pair_mi_forward(m->gate_acts.probs, n, E) : 0;
    m->style_mi = style_mi_on(m) ? (float)gate_label_mi_forward(m->gate_acts.probs, m->view_label,
                                                                n, E, m->n_view_labels)
                                 : 0;
    m->loss = m->ntxent + m->gate_cfg.aux_lb_coef * m->gate_acts.aux_lb +
              c->aux_z_coef * m->gate_acts.aux_z + c->gate_infomax * m->infomax +
              c->gate_pair_mi * m->pair_mi + c->gate_style_mi * m->style_mi +
              c->aux_imp_coef * m->gate_acts.aux_imp + c->aux_load_coef * m->gate_acts.aux_load;
}

/* ---- backward ---- */

/* Expert e's slots at..at+n; its gradient scratch is the slots' own slice of d1/d2/gn_part, so
 * experts can run concurrently. */
static void expert_backward(VisionModel *m, int e, int at, int n, float *scratch) {
    const VisionConfig *c = &m->cfg;
    VisionActs *A = m->acts;
    int ec = c->expert_ch, nb = c->expert_blocks, G = c->groups, D = c->readout;
    long himg = (long)c->stem_ch * A->S1 * A->S1;
    int last = A->side[nb - 1];
    float *dgap = A->dgap + (long)at * ec;
    memset(dgap, 0, sizeof(float) * n * ec);
    linear_backward(dgap, m->g.ro_w[e], m->g.ro_b[e], A->dro + (long)at * D, A->gap + (long)at * ec,
                    m->p.ro_w[e], n, ec, D);
    /* slot-strided by the largest plane, so concurrent experts' slices never overlap */
    long slot = (long)ec * A->side[0] * A->side[0];
    float *dcur = A->d1 + at * slot, *gn_part = A->gn_part + 2L * at * ec;
    memset(dcur, 0, sizeof(float) * n * ec * last * last);
    global_avgpool_backward(dcur, dgap, n, ec, last * last);
    for (int b = nb - 1; b >= 0; b--) {
        int side = A->side[b], ic = b == 0 ? c->stem_ch : ec;
        long img = (long)ec * side * side;
        const float *in;
        float *din;
        if (b == 0)
            in = A->xin + at * himg, din = A->dxin + at * himg;
        else { /* input = pooled output of block b−1; its gradient goes to d2, then the pool */
            in = A->pool[b - 1] + at * img, din = A->d2 + at * slot;
            memset(din, 0, sizeof(float) * n * img);
        }
        block_backward(m, &m->g.blocks[e * nb + b], &m->p.blocks[e * nb + b], din, dcur, in, n, ic,
                       ec, side, A->a[b] + at * img, A->act[b] + at * img, A->mean[b] + at * G,
                       A->rstd[b] + at * G, gn_part, scratch);
        if (b > 0) {
            int ps = A->side[b - 1];
            maxpool2d_backward_set(dcur, din, A->pidx[b - 1] + at * img, n, ec, ps, ps, 2, 2);
        }
    }
}

/* The gate information losses (infomax, pair, style) through the router's logits z = W·x (learned
 * or frozen random router; the MoE core's backward covers the combine weights and its own auxiliary
 * losses). */
static void gate_info_backward(VisionModel *m, int n, const float *x, float *dx) {
    const VisionConfig *c = &m->cfg;
    VisionActs *A = m->acts;
    int E = c->n_experts, Dg = vision_gate_dim(c);
    const float *W = m->p.gate.router_w;
    float *dW = c->router == ROUTER_LEARNED ? m->g.gate.router_w : NULL;
    memset(A->dlogits, 0, sizeof(float) * n * E);
    if (c->gate_infomax > 0)
        gate_infomax_backward(A->dlogits, m->gate_acts.probs, n, E, c->gate_infomax);
    if (c->gate_pair_mi > 0)
        gate_pair_mi_backward(A->dlogits, m->gate_acts.probs, n, E, c->gate_pair_mi);
    if (style_mi_on(m))
        gate_label_mi_backward(A->dlogits, m->gate_acts.probs, m->view_label, n, E,
                               m->n_view_labels, c->gate_style_mi);
    for (int i = 0; i < n; i++)
        for (int e = 0; e < E; e++) {
            float d = A->dlogits[i * E + e];
            for (int k = 0; k < Dg; k++) {
                dx[(long)i * Dg + k] += d * W[(long)e * Dg + k];
                if (dW) dW[(long)e * Dg + k] += d * x[(long)i * Dg + k];
            }
        }
}

void vision_backward(VisionModel *m) {
    const VisionConfig *c = &m->cfg;
    VisionActs *A = m->acts;
    int n = A->n, k = m->gate_acts.k, D = c->readout, E = c->n_experts, Cs = c->stem_ch;
    long himg = (long)Cs * A->S1 * A->S1;
    memset(m->grads, 0, sizeof(float) * m->n_params);
    /* head */
    memset(A->dz, 0, sizeof(float) * n * c->proj_dim);
    ntxent_backward(A->dz, &A->nt, n, c->proj_dim, c->tau, 1.0f);
    float *dp1act = A->dp1, *dp1 = A->dp1 + (long)n * c->proj_hidden;
    memset(A->dp1, 0, sizeof(float) * 2 * n * c->proj_hidden);
    linear_backward(dp1act, m->g.p2_w, m->g.p2_b, A->dz, A->p1act, m->p.p2_w, n, c->proj_hidden,
                    c->proj_dim);
    relu_backward(dp1, A->p1act, dp1act, (long)n * c->proj_hidden);
    memset(A->dy, 0, sizeof(float) * n * D);
    linear_backward(A->dy, m->g.p1_w, m->g.p1_b, dp1, m->readout, m->p.p1_w, n, D, c->proj_hidden);
    /* combine: dr_slot = w·dy, dw = dy·r */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++) {
            int s = m->slot_of[i * k + j];
            A->dtopk_w[i * k + j] = 0;
            if (s < 0) continue;
            float w = m->gate_acts.topk_w[i * k + j], dot = 0;
            const float *dy = A->dy + (long)i * D, *r = m->expert_readout + (long)s * D;
            for (int d = 0; d < D; d++) A->dro[(long)s * D + d] = w * dy[d], dot += dy[d] * r[d];
            A->dtopk_w[i * k + j] = dot;
        }
    int slots = A->off[E];
    memset(A->dxin, 0, sizeof(float) * slots * himg);
    int wide = order_experts(m, slots);
    for (int i = 0; i < wide; i++) {
        int e = A->order[i];
        expert_backward(m, e, A->off[e], A->off[e + 1] - A->off[e], A->conv_scratch);
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(A->T)
    for (int i = wide; i < E; i++) {
        int e = A->order[i];
        if (A->off[e + 1] > A->off[e])
            expert_backward(m, e, A->off[e], A->off[e + 1] - A->off[e],
                            A->expert_scratch + omp_get_thread_num() * A->conv_one);
    }
    /* back to the stem: gather each image's slots in rank order (deterministic) */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        float *dh = A->dh + i * himg;
        memset(dh, 0, sizeof(float) * himg);
        for (int j = 0; j < k; j++) {
            if (m->slot_of[i * k + j] < 0) continue;
            const float *src = A->dxin + m->slot_of[i * k + j] * himg;
            for (long q = 0; q < himg; q++) dh[q] += src[q];
        }
    }
    float *dgx = c->gate_norm == GATE_NORM_NONE ? A->dgate_in : A->dgate_x;
    const float *gx = c->gate_norm == GATE_NORM_NONE ? A->gate_in : A->gate_x;
    memset(dgx, 0, sizeof(float) * n * vision_gate_dim(c));
    moe_route_backward(dgx, &m->g.gate, A->dtopk_w, &m->gate_acts, &m->p.gate, &m->gate_cfg, gx, n);
    if (c->gate_infomax > 0 || c->gate_pair_mi > 0 || style_mi_on(m))
        gate_info_backward(m, n, gx, dgx);
    gate_input_backward(m, n, dgx);
    int conv_part = gate_pool_backward(m, n);
    maxpool2d_backward_set(A->d1, A->dh, A->h_idx, n, Cs, A->S, A->S, 2, 2);
    /* the stem block's backward, with the gate's pooled-conv gradient joining ∂a in between */
    groupnorm_relu_backward(A->d1, m->g.stem.gamma, m->g.stem.beta, A->gn_part, A->d1, A->stem_act,
                            A->stem_a, m->p.stem.gamma, A->stem_mean, A->stem_rstd, n, Cs,
                            A->S * A->S, c->groups);
    if (conv_part) global_avgpool_backward(A->d1, A->gate_pool + (long)n * Cs, n, Cs, A->S * A->S);
    ConvShape ss = {c->in_ch, A->S, A->S, Cs, 3, 1, 1};
    conv2d_backward(NULL, m->g.stem.w, m->g.stem.b, A->d1, A->x, m->p.stem.w, n, &ss,
                    A->conv_scratch);
}

/* ---- optimizer ---- */

float vision_aux_lb(const VisionConfig *c, int step) {
    if (c->aux_lb_warmup <= 0 || step >= c->aux_lb_warmup) return c->aux_lb_coef;
    float t = (float)step / c->aux_lb_warmup;
    return c->aux_lb_start + t * (c->aux_lb_coef - c->aux_lb_start);
}

float vision_lr(const VisionConfig *c, int step) {
    if (c->warmup > 0 && step <= c->warmup) return c->lr * step / c->warmup;
    int span = c->steps - c->warmup;
    if (span <= 0) return c->lr;
    float t = (float)(step - c->warmup) / span;
    if (t > 1) t = 1;
    return c->lr * (0.1f + 0.9f * 0.5f * (1 + cosf(3.14159265f * t))); /* cosine to 10% */
}

void vision_step(VisionModel *m) {
    m->step++;
    AdamW opt = {.lr = m->cfg.lr,
                 .beta1 = 0.9f,
                 .beta2 = 0.999f,
                 .eps = 1e-8f,
                 .weight_decay = m->cfg.weight_decay};
    float lr = vision_lr(&m->cfg, m->step);
    for (int t = 0; t < m->n_tensors; t++) {
        const ParamTensor *pt = &m->tensors[t];
        if (pt->frozen) continue;
        long at = pt->p - m->params;
        float mult = strncmp(pt->name, "gate.", 5) ? 1.0f : m->cfg.gate_lr_mult;
        adamw_update(&opt, pt->p, m->grads + at, m->adam_m + at, m->adam_v + at, pt->n, m->step,
                     lr * mult, pt->decay);
    }
}

/* ---- analysis entry points ---- */

void vision_embed(VisionModel *m, const float *x, int n, float *readout, float *probs,
                  int32_t *chosen) {
    const VisionConfig *c = &m->cfg;
    long img = (long)c->in_ch * c->img * c->img;
    int E = c->n_experts, k = c->top_k;
    for (int at = 0; at < n; at += m->max_views) {
        int cnt = n - at < m->max_views ? n - at : m->max_views;
        vision_forward(m, x + at * img, cnt, 0, 0);
        if (readout)
            memcpy(readout + (long)at * c->readout, m->readout, sizeof(float) * cnt * c->readout);
        if (probs)
            for (int i = 0; i < cnt; i++)
                memcpy(probs + (long)(at + i) * E, m->gate_acts.probs + (long)i * m->gate_acts.EZ,
                       sizeof(float) * E);
        if (chosen) memcpy(chosen + (long)at * k, m->gate_acts.topk_idx, sizeof(int32_t) * cnt * k);
    }
}

void vision_gate_inputs(VisionModel *m, const float *x, int n, float *feat, float *logits) {
    const VisionConfig *c = &m->cfg;
    long img = (long)c->in_ch * c->img * c->img;
    int E = c->n_experts, Cs = vision_gate_dim(c);
    for (int at = 0; at < n; at += m->max_views) {
        int cnt = n - at < m->max_views ? n - at : m->max_views;
        vision_forward(m, x + at * img, cnt, 0, 0);
        if (feat) memcpy(feat + (long)at * Cs, m->acts->gate_in, sizeof(float) * cnt * Cs);
        if (logits)
            for (int i = 0; i < cnt; i++)
                memcpy(logits + (long)(at + i) * E, m->gate_acts.logits + (long)i * m->gate_acts.EZ,
                       sizeof(float) * E);
    }
}

int vision_gate_calibrate(VisionModel *m, const float *x, int n) {
    if (!m->p.gate_run_mean) return ml_error("gate calibration: gate_norm is not batch");
    if (n < 2) return ml_error("gate calibration: need at least 2 images, got %d", n);
    int Dg = vision_gate_dim(&m->cfg);
    float *f = ml_alloc_floats((size_t)n * Dg);
    vision_gate_inputs(m, x, n, f, NULL);
    for (int c = 0; c < Dg; c++) {
        double mu = 0, v = 0;
        for (int i = 0; i < n; i++) mu += f[(long)i * Dg + c];
        mu /= n;
        for (int i = 0; i < n; i++) v += (f[(long)i * Dg + c] - mu) * (f[(long)i * Dg + c] - mu);
        m->p.gate_run_mean[c] = (float)mu, m->p.gate_run_var[c] = (float)(v / (n - 1));
    }
    ml_free(f);
    return 0;
}

void vision_embed_adapted(VisionModel *m, const float *x, const int32_t *dom, int n, float *readout,
                          float *probs, int32_t *chosen) {
    const VisionConfig *c = &m->cfg;
    if (!c->gate_adapt || !m->p.gate_run_mean) {
        vision_embed(m, x, n, readout, probs, chosen);
        return;
    }
    int Dg = vision_gate_dim(c), E = c->n_experts, k = c->top_k, D = c->readout;
    long img = (long)c->in_ch * c->img * c->img;
    float *keep = ml_alloc_floats(2L * Dg), *xs = ml_alloc_floats((size_t)n * img + 1);
    float *rs = ml_alloc_floats((size_t)n * D + 1), *ps = ml_alloc_floats((size_t)n * E + 1);
    int32_t *cs = ml_alloc(sizeof(int32_t) * ((size_t)n * k + 1)), *idx = ml_alloc(4 * (n + 1));
    memcpy(keep, m->p.gate_run_mean, sizeof(float) * Dg);
    memcpy(keep + Dg, m->p.gate_run_var, sizeof(float) * Dg);
    for (int d = 0; d < 64; d++) {
        int cnt = 0;
        for (int i = 0; i < n; i++)
            if ((dom ? dom[i] : 0) == d)
                idx[cnt] = i, memcpy(xs + cnt++ * img, x + i * img, 4 * img);
        if (cnt == 0) continue;
        if (cnt >= 2) vision_gate_calibrate(m, xs, cnt);
        vision_embed(m, xs, cnt, rs, ps, cs);
        for (int j = 0; j < cnt; j++) {
            long i = idx[j];
            if (readout) memcpy(readout + i * D, rs + (long)j * D, sizeof(float) * D);
            if (probs) memcpy(probs + i * E, ps + (long)j * E, sizeof(float) * E);
            if (chosen) memcpy(chosen + i * k, cs + (long)j * k, sizeof(int32_t) * k);
        }
        memcpy(m->p.gate_run_mean, keep, sizeof(float) * Dg);
        memcpy(m->p.gate_run_var, keep + Dg, sizeof(float) * Dg);
    }
    ml_free(keep), ml_free(xs), ml_free(rs), ml_free(ps), ml_free(cs), ml_free(idx);
}

void vision_expert_readouts(VisionModel *m, int e, const float *x, int n, float *out) {
    const VisionConfig *c = &m->cfg;
    VisionActs *A = m->acts;
    long img = (long)c->in_ch * c->img * c->img;
    for (int at = 0; at < n; at += m->max_views) {
        int cnt = n - at < m->max_views ? n - at : m->max_views;
        stem_forward(m, x + at * img, cnt);
        expert_forward(m, e, A->h, 0, cnt, out + (long)at * c->readout, A->conv_scratch);
    }
}
