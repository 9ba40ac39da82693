#include "model/lm_zero1.h"
#include "core/error.h"
#include "core/mem.h"
#include "dist/dist.h"
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

void lm_zero1_start(LmZero1 *z, LmModel *m, int want) {
    memset(z, 0, sizeof *z);
    z->on = want && dist_size() > 1;
    if (!z->on) return;
    dist_block(m->n_params, dist_rank(), &z->lo, &z->hi);
    z->m = keep_block(m->m_mem, z->lo, z->hi), z->v = keep_block(m->v_mem, z->lo, z->hi);
    m->m_mem = m->v_mem = NULL;
}

void lm_zero1_end(LmZero1 *z) {
    ml_free(z->m), ml_free(z->v);
    memset(z, 0, sizeof *z);
}

void lm_zero1_reduce_grads(const LmZero1 *z, LmModel *m) {
    if (z->on)
        dist_reduce_scatter_f32(m->grads_mem, m->n_params);
    else
        dist_sum_f32(m->grads_mem, m->n_params);
}

double lm_zero1_grad_norm(const LmZero1 *z, const LmModel *m) {
    if (!z->on) return grad_norm(m->grads_mem, m->n_params);
    double g = grad_norm(m->grads_mem + z->lo, z->hi - z->lo), sq = g * g;
    dist_sum_f64(&sq, 1);
    return sqrt(sq);
}

void lm_zero1_adamw(const LmZero1 *z, LmModel *m, const ParamTensor *t, const AdamW *opt, int step,
                    float lr) {
    long a = t->p - m->params_mem, b = a + t->n;
    if (!z->on) {
        adamw_update(opt, t->p, m->grads_mem + a, m->m_mem + a, m->v_mem + a, t->n, step, lr,
                     t->decay);
        return;
    }
    if (a < z->lo) a = z->lo; /* AdamW is elementwise: a tensor cut at a block edge is fine */
    if (b > z->hi) b = z->hi;
    if (a < b)
        adamw_update(opt, m->params_mem + a, m->grads_mem + a, z->m + (a - z->lo),
                     z->v + (a - z->lo), b - a, step, lr, t->decay);
}

void lm_zero1_gather_params(const LmZero1 *z, LmModel *m) {
    if (z->on) dist_allgather_f32(m->params_mem, m->n_params);
}

void lm_zero1_gather_moments(const LmZero1 *z, LmModel *m) {
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
