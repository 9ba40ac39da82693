#include "model/lm_zero1.h"
#include "core/error.h"
#include "core/mem.h"
#include "dist/dist.h"
#include "nn/moe_ep.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Shrinks a full moment buffer to elements [lo, hi) in place (no second copy at any time). */
static float *keep_block(float *full, long lo, long hi) {
    memmove(full, full + lo, (size_t)(hi - lo) * sizeof(float));
    float *b = realloc(full, (size_t)(hi - lo > 0 ? hi - lo : 1) * sizeof(float));
    if (!b) ml_fatal("out of memory shrinking the optimizer state");
    return b;
}

/* 1 when t is a routed-expert tensor of a layer whose experts the groups spread. */
static int is_expert_tensor(const LmModel *m, const ParamTensor *t, int G) {
    for (int l = 0; l < m->cfg.n_layer; l++) {
        const MoeParams *p = &m->params.layers[l].ffn;
        const float *w[] = {p->w1, p->b1, p->w2, p->b2, p->wg, p->wu, p->wd};
        if (!moe_ep_spreads(&m->layer_ffn[l], G)) continue;
        for (unsigned i = 0; i < sizeof w / sizeof w[0]; i++)
            if (w[i] && t->p == w[i]) return 1;
    }
    return 0;
}

/* Expert parallel without ZeRO-1: the expert tensors in parameter order (gaps between them are
 * what the world sums). */
static void start_ep(LmZero1 *z, const LmModel *m) {
    z->G = dist_ep_size(), z->g = dist_ep_rank();
    if (z->G <= 1) return;
    z->span_at = ml_alloc(sizeof(long) * (m->n_tensors + 1));
    z->span_n = ml_alloc(sizeof(long) * (m->n_tensors + 1));
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        if (t->frozen || !is_expert_tensor(m, t, z->G)) continue;
        if (z->n_spans && t->p - m->params_mem < z->span_at[z->n_spans - 1])
            ml_fatal("expert tensors out of parameter order"); /* the gap walk below needs it */
        z->span_at[z->n_spans] = t->p - m->params_mem, z->span_n[z->n_spans++] = t->n;
    }
    z->ep = z->n_spans > 0;
    z->sliced = m->ep_shards > 1;
}

static void span_ready(void *ctx, long at, long n);
static void span_progress(void *ctx) {
    (void)ctx;
    dist_progress();
}

void lm_zero1_start(LmZero1 *z, LmModel *m, int want, int overlap) {
    memset(z, 0, sizeof *z);
    z->overlap = overlap && dist_size() > 1;
    z->model = m, z->hook = (LmGradHook){span_ready, span_progress, z};
    z->on = want && dist_size() > 1;
    if (!z->on) {
        start_ep(z, m);
        return;
    }
    dist_block(m->n_params, dist_rank(), &z->lo, &z->hi);
    z->m = keep_block(m->m_mem, z->lo, z->hi), z->v = keep_block(m->v_mem, z->lo, z->hi);
    m->m_mem = m->v_mem = NULL;
}

void lm_zero1_end(LmZero1 *z) {
    ml_free(z->m), ml_free(z->v), ml_free(z->span_at), ml_free(z->span_n);
    memset(z, 0, sizeof *z);
}

/* This rank's slab [*a, *b) of expert span s (offsets in the parameter block): the whole span
 * when the block holds this rank's experts alone. */
static void own_slab(const LmZero1 *z, int s, long *a, long *b) {
    if (z->sliced) {
        *a = z->span_at[s], *b = *a + z->span_n[s];
        return;
    }
    long bs = z->span_n[s] / z->G;
    *a = z->span_at[s] + z->g * bs, *b = *a + bs;
}

/* The sums over the world and over an expert shard's ranks: blocking, or begun (completed by
 * dist_wait). */
typedef struct {
    void (*world)(float *x, long n), (*shard)(float *x, long n);
} Sums;
static const Sums blocking = {dist_sum_f32, dist_shard_sum_f32},
                  begun = {dist_sum_f32_begin, dist_shard_sum_f32_begin};

/* EP, over grads[lo, hi) (whole tensors): the world sums the gaps between expert tensors, the
 * shard's ranks this rank's slabs. */
static void reduce_ep(const LmZero1 *z, LmModel *m, long lo, long hi, const Sums *sum) {
    long at = lo;
    for (int s = 0; s < z->n_spans; s++) {
        if (z->span_at[s] < lo || z->span_at[s] >= hi) continue;
        sum->world(m->grads_mem + at, z->span_at[s] - at);
        long a, b;
        own_slab(z, s, &a, &b);
        sum->shard(m->grads_mem + a, b - a);
        at = z->span_at[s] + z->span_n[s];
    }
    sum->world(m->grads_mem + at, hi - at);
}

/* LmGradHook.ready: grads[at, at + n) is final on this rank; its sum starts now. */
static void span_ready(void *ctx, long at, long n) {
    LmZero1 *z = ctx;
    LmModel *m = z->model;
    if (z->on)
        dist_reduce_scatter_f32_begin(m->grads_mem, m->n_params, at, at + n);
    else if (z->ep)
        reduce_ep(z, m, at, at + n, &begun);
    else
        dist_sum_f32_begin(m->grads_mem + at, n);
    dist_progress();
}

const LmGradHook *lm_zero1_grad_hook(LmZero1 *z) {
    return z->overlap ? &z->hook : NULL;
}

/* EP: the gaps' squares (the same on every rank) plus the group's sum of its owned slabs'. */
static double grad_norm_ep(const LmZero1 *z, const LmModel *m) {
    double common = 0, own = 0, g;
    long at = 0;
    for (int s = 0; s <= z->n_spans; s++) {
        long end = s < z->n_spans ? z->span_at[s] : m->n_params;
        g = grad_norm(m->grads_mem + at, end - at), common += g * g;
        if (s == z->n_spans) break;
        long a, b;
        own_slab(z, s, &a, &b);
        g = grad_norm(m->grads_mem + a, b - a), own += g * g;
        at = z->span_at[s] + z->span_n[s];
    }
    dist_ep_sum_f64(&own, 1);
    return sqrt(common + own);
}

void lm_zero1_reduce_grads(const LmZero1 *z, LmModel *m) {
    if (z->overlap)
        dist_wait();
    else if (z->on)
        dist_reduce_scatter_f32(m->grads_mem, m->n_params);
    else if (z->ep)
        reduce_ep(z, m, 0, m->n_params, &blocking);
    else
        dist_sum_f32(m->grads_mem, m->n_params);
}

double lm_zero1_grad_norm(const LmZero1 *z, const LmModel *m) {
    if (z->ep) return grad_norm_ep(z, m);
    if (!z->on) return grad_norm(m->grads_mem, m->n_params);
    double g = grad_norm(m->grads_mem + z->lo, z->hi - z->lo), sq = g * g;
    dist_sum_f64(&sq, 1);
    return sqrt(sq);
}

/* EP: the span tensor t is, or -1. */
static int span_of(const LmZero1 *z, long at) {
    for (int s = 0; s < z->n_spans; s++)
        if (z->span_at[s] == at) return s;
    return -1;
}

void lm_zero1_adamw(const LmZero1 *z, LmModel *m, const ParamTensor *t, const AdamW *opt, int step,
                    float lr) {
    long a = t->p - m->params_mem, b = a + t->n;
    int s = z->ep ? span_of(z, a) : -1;
    if (s >= 0) own_slab(z, s, &a, &b); /* the other slabs are their owners' to update */
    if (!z->on) {
        adamw_update(opt, m->params_mem + a, m->grads_mem + a, m->m_mem + a, m->v_mem + a, b - a,
                     step, lr, t->decay);
        return;
    }
    if (a < z->lo) a = z->lo; /* AdamW is elementwise: a tensor cut at a block edge is fine */
    if (b > z->hi) b = z->hi;
    if (a < b)
        adamw_update(opt, m->params_mem + a, m->grads_mem + a, z->m + (a - z->lo),
                     z->v + (a - z->lo), b - a, step, lr, t->decay);
}

/* EP: every slab of each expert tensor of buf (parameters or a moment) to the whole group (none
 * to send when each rank holds its own experts alone). */
static void gather_spans(const LmZero1 *z, float *buf) {
    if (z->sliced) return;
    for (int s = 0; s < z->n_spans; s++) dist_ep_allgather_f32(buf + z->span_at[s], z->span_n[s]);
}

void lm_zero1_gather_params(const LmZero1 *z, LmModel *m) {
    if (z->on) dist_allgather_f32(m->params_mem, m->n_params);
    if (z->ep) gather_spans(z, m->params_mem);
}

void lm_zero1_gather_moments(const LmZero1 *z, LmModel *m) {
    if (z->ep) gather_spans(z, m->m_mem), gather_spans(z, m->v_mem);
    if (!z->on) return;
    if (dist_rank() == 0)
        m->m_mem = ml_alloc_floats(m->n_params), m->v_mem = ml_alloc_floats(m->n_params);
    dist_gather_blocks_f32(z->m, m->m_mem, m->n_params, 0);
    dist_gather_blocks_f32(z->v, m->v_mem, m->n_params, 0);
}

void lm_zero1_release_moments(const LmZero1 *z, LmModel *m) {
    if (!z->on) return;
    ml_free(m->m_mem), ml_free(m->v_mem);
    m->m_mem = m->v_mem = NULL;
}
