/* The vision MoE: parameters, activations, forward and backward (see vision.h, docs/vision.md). */
#include "model/vision.h"
#include "core/error.h"
#include "core/mem.h"
#include "nn/conv.h"
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
#define MAX_BLOCKS 8

struct VisionActs {
    int S, S1;            /* input side, stem output side */
    int side[MAX_BLOCKS]; /* input side of expert block b (= its conv output side) */
    int V, n, views;      /* capacity (views), images of the last forward, loss computed */
    const float *x;       /* input of the last forward (caller keeps it alive) */
    /* stem */
    float *stem_a, *stem_act, *stem_mean, *stem_rstd, *h, *gate_in;
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
    float *d1, *d2, *d3, *dxin, *dh, *dgap, *dro, *dy, *dp1, *dz, *dtopk_w, *dgate_in;
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
    } blocks[1 + 256 * MAX_BLOCKS];
    int nbl = 0;
    blocks[nbl].bp = &vp->stem, blocks[nbl].ic = c->in_ch, blocks[nbl].oc = c->stem_ch;
    snprintf(blocks[nbl++].pre, 48, "stem.");
    for (int e = 0; e < E; e++)
        for (int b = 0; b < nb; b++) {
            blocks[nbl].bp = &vp->blocks[e * nb + b];
            blocks[nbl].ic = b == 0 ? c->stem_ch : ec, blocks[nbl].oc = ec;
            snprintf(blocks[nbl++].pre, 48, "expert.%d.block.%d.", e, b);
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
    if (nt) *nt = n;
#undef TAKE
#undef NAME
    return off;
}

static void alloc_param_views(VisionParams *vp, const VisionConfig *c) {
    vp->blocks = ml_alloc(sizeof(ConvBlockParams) * c->n_experts * c->expert_blocks);
    vp->ro_w = ml_alloc(sizeof(float *) * c->n_experts);
    vp->ro_b = ml_alloc(sizeof(float *) * c->n_experts);
}

static void free_param_views(VisionParams *vp) {
    ml_free(vp->blocks), ml_free(vp->ro_w), ml_free(vp->ro_b);
}

static void init_block(ConvBlockParams *bp, int ic, int oc, Rng *r) {
    rng_fill_normal(r, bp->w, (long)oc * ic * 9, sqrtf(2.0f / (ic * 9))); /* Kaiming (ReLU) */
    for (int o = 0; o < oc; o++) bp->gamma[o] = 1.0f;
}

static void init_params(VisionModel *m) {
    const VisionConfig *c = &m->cfg;
    Rng r;
    rng_seed(&r, c->seed);
    init_block(&m->p.stem, c->in_ch, c->stem_ch, &r);
    for (int e = 0; e < c->n_experts; e++) {
        for (int b = 0; b < c->expert_blocks; b++)
            init_block(&m->p.blocks[e * c->expert_blocks + b], b == 0 ? c->stem_ch : c->expert_ch,
                       c->expert_ch, &r);
        rng_fill_normal(&r, m->p.ro_w[e], (long)c->readout * c->expert_ch,
                        sqrtf(1.0f / c->expert_ch));
    }
    rng_fill_normal(&r, m->p.p1_w, (long)c->proj_hidden * c->readout, sqrtf(2.0f / c->readout));
    rng_fill_normal(&r, m->p.p2_w, (long)c->proj_dim * c->proj_hidden,
                    sqrtf(1.0f / c->proj_hidden));
    moe_init_params(&m->p.gate, &m->gate_cfg, &r);
}

/* ---- activations ---- */

static void alloc_acts(VisionModel *m) {
    const VisionConfig *c = &m->cfg;
    VisionActs *A = m->acts = ml_alloc(sizeof(VisionActs));
    int V = m->max_views, k = c->top_k, M = V * k, Cs = c->stem_ch, ec = c->expert_ch;
    int nb = c->expert_blocks, G = c->groups;
    A->V = V, A->S = c->img, A->S1 = c->img / 2;
    long SS = (long)A->S * A->S, S1S1 = (long)A->S1 * A->S1;
    A->stem_a = ml_alloc_floats(V * Cs * SS);
    A->stem_act = ml_alloc_floats(V * Cs * SS);
    A->stem_mean = ml_alloc_floats((long)V * G), A->stem_rstd = ml_alloc_floats((long)V * G);
    A->h = ml_alloc_floats(V * Cs * S1S1);
    A->h_idx = ml_alloc(sizeof(int32_t) * V * Cs * S1S1);
    A->gate_in = ml_alloc_floats((long)V * Cs);
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
    A->dgate_in = ml_alloc_floats((long)V * Cs);
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
    m->slot_of = ml_alloc(sizeof(int32_t) * M);
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
                   A->gn_part,   A->expert_scratch};
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) ml_free(fl[i]);
    for (int b = 0; b < MAX_BLOCKS; b++) {
        ml_free(A->a[b]), ml_free(A->act[b]), ml_free(A->mean[b]), ml_free(A->rstd[b]);
        ml_free(A->pool[b]), ml_free(A->pidx[b]);
    }
    ml_free(A->h_idx), ml_free(A->slot_img), ml_free(A->slot_rank);
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
    int max_tensors = 4 + 4 * cfg->n_experts * cfg->expert_blocks + 2 * cfg->n_experts + 4 + 32;
    m->tensors = ml_alloc(sizeof(ParamTensor) * max_tensors);
    layout(&m->p, m->params, cfg, &m->gate_cfg, m->tensors, &m->n_tensors);
    layout(&m->g, m->grads, cfg, &m->gate_cfg, NULL, NULL);
    init_params(m);
    m->max_views = 2 * cfg->batch;
    moe_acts_alloc(&m->gate_acts, &m->gate_cfg, m->max_views, 1);
    alloc_acts(m);
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

static void stem_forward(VisionModel *m, const float *x, int n) {
    const VisionConfig *c = &m->cfg;
    VisionActs *A = m->acts;
    block_forward(m, &m->p.stem, x, n, c->in_ch, c->stem_ch, A->S, A->stem_a, A->stem_act,
                  A->stem_mean, A->stem_rstd, A->h, A->h_idx, A->conv_scratch);
    global_avgpool_forward(A->gate_in, A->h, n, c->stem_ch, A->S1 * A->S1);
}

/* Groups the (image, rank) slots by expert: off[e]..off[e+1]; slot_of[i·k + j] = slot. */
static void build_slots(VisionModel *m, int n) {
    VisionActs *A = m->acts;
    int E = m->cfg.n_experts, k = m->cfg.top_k;
    const int32_t *idx = m->gate_acts.topk_idx;
    memset(A->off, 0, sizeof(int) * (E + 1));
    for (int s = 0; s < n * k; s++) A->off[idx[s] + 1]++;
    for (int e = 0; e < E; e++) A->off[e + 1] += A->off[e];
    int fill[257];
    memcpy(fill, A->off, sizeof(int) * (E + 1));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++) {
            int s = fill[idx[i * k + j]]++;
            A->slot_img[s] = i, A->slot_rank[s] = j;
            m->slot_of[i * k + j] = s;
        }
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

void vision_forward(VisionModel *m, const float *x, int n, int views, int train) {
    const VisionConfig *c = &m->cfg;
    VisionActs *A = m->acts;
    int k = c->top_k, D = c->readout, E = c->n_experts;
    long himg = (long)c->stem_ch * A->S1 * A->S1;
    A->x = x, A->n = n, A->views = views;
    stem_forward(m, x, n);
    moe_route_forward(&m->gate_acts, &m->p.gate, &m->gate_cfg, NULL, A->gate_in, NULL, NULL, n, train,
                      &m->rng);
    build_slots(m, n);
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n * k; s++)
        memcpy(A->xin + s * himg, A->h + A->slot_img[s] * himg, sizeof(float) * himg);
    int wide = order_experts(m, n * k);
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
    m->loss = m->ntxent + c->aux_lb_coef * m->gate_acts.aux_lb + c->aux_z_coef * m->gate_acts.aux_z;
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

void vision_backward(VisionModel *m) {
    const VisionConfig *c = &m->cfg;
    VisionActs *A = m->acts;
    int n = A->n, k = c->top_k, D = c->readout, E = c->n_experts, Cs = c->stem_ch;
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
            float w = m->gate_acts.topk_w[i * k + j], dot = 0;
            const float *dy = A->dy + (long)i * D, *r = m->expert_readout + (long)s * D;
            for (int d = 0; d < D; d++) A->dro[(long)s * D + d] = w * dy[d], dot += dy[d] * r[d];
            A->dtopk_w[i * k + j] = dot;
        }
    memset(A->dxin, 0, sizeof(float) * n * k * himg);
    int wide = order_experts(m, n * k);
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
            const float *src = A->dxin + m->slot_of[i * k + j] * himg;
            for (long q = 0; q < himg; q++) dh[q] += src[q];
        }
    }
    memset(A->dgate_in, 0, sizeof(float) * n * Cs);
    moe_route_backward(A->dgate_in, &m->g.gate, A->dtopk_w, &m->gate_acts, &m->p.gate, &m->gate_cfg,
                       A->gate_in, n);
    global_avgpool_backward(A->dh, A->dgate_in, n, Cs, A->S1 * A->S1);
    maxpool2d_backward_set(A->d1, A->dh, A->h_idx, n, Cs, A->S, A->S, 2, 2);
    block_backward(m, &m->g.stem, &m->p.stem, NULL, A->d1, A->x, n, c->in_ch, Cs, A->S, A->stem_a,
                   A->stem_act, A->stem_mean, A->stem_rstd, A->gn_part, A->conv_scratch);
}

/* ---- optimizer ---- */

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
        adamw_update(&opt, pt->p, m->grads + at, m->adam_m + at, m->adam_v + at, pt->n, m->step, lr,
                     pt->decay);
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
