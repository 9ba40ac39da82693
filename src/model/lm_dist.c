#include "model/lm_dist.h"
#include "core/error.h"
#include "dist/dist.h"
#include <string.h>

int lm_dist_check(const LmConfig *c) {
    int S = dist_size();
    if (c->batch % S)
        return ml_error("batch %d does not split over %d ranks: use a multiple of %d (batch is "
                        "the global number of sequences per step)",
                        c->batch, S, S);
    return 0;
}

int lm_dist_init_ep(const LmModel *m, int G) {
    if (G <= 1) return 0;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        const MoeConfig *f = &m->layer_ffn[l];
        if (f->router != ROUTER_DENSE && f->n_experts % G)
            return ml_error("ep=%d does not divide layer %d's %d experts", G, l, f->n_experts);
    }
    return dist_ep_init(G);
}

void lm_dist_share(LmModel *m, int on) {
    for (int l = 0; l < m->cfg.n_layer; l++) m->acts[l].moe.dist_share = on && dist_size() > 1;
}

void lm_dist_slice(int B, int *first, int *count) {
    *count = B / dist_size();
    *first = dist_rank() * *count;
}

void lm_dist_sync_params(LmModel *m) {
    dist_bcast_f32(m->params_mem, m->n_params, 0);
}

void lm_dist_sum_eval(LmEval *ev, double *total) {
    if (dist_size() == 1) return;
    enum { D = LM_MAX_DOMAINS };
    double v[2 + 2 * D]; /* total, tokens, Σ loss per domain, tokens per domain */
    v[0] = *total, v[1] = (double)ev->tokens;
    for (int d = 0; d < D; d++) v[2 + d] = ev->domain_loss[d], v[2 + D + d] = ev->domain_tokens[d];
    dist_sum_f64(v, 2 + 2 * D);
    *total = v[0], ev->tokens = (long)v[1];
    for (int d = 0; d < D; d++)
        ev->domain_loss[d] = v[2 + d], ev->domain_tokens[d] = (long)v[2 + D + d];
}

/* FNV-1a over the parameter bytes: equal on every rank unless a reduction differed somewhere. */
int lm_dist_check_in_sync(const LmModel *m) {
    if (dist_size() == 1) return 0;
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *b = (const unsigned char *)m->params_mem;
    for (size_t i = 0; i < (size_t)m->n_params * sizeof(float); i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    if (!dist_all_equal_u64(h))
        return ml_error("data-parallel ranks' parameters differ at step %d (a non-deterministic "
                        "reduction?)",
                        m->step);
    return 0;
}
