#include "model/lm_dist.h"
#include "core/error.h"
#include "dist/dist.h"
#include <math.h>
#include <string.h>

int lm_dist_check(const LmConfig *c) {
    int S = dist_size();
    if (c->batch % S)
        return ml_error("batch %d does not split over %d ranks: use a multiple of %d (batch is "
                        "the global number of sequences per step)",
                        c->batch, S, S);
    return 0;
}

int lm_dist_start_ep(int G) {
    return G > 1 ? dist_ep_init(G) : 0;
}

int lm_dist_check_ep(const LmModel *m, int G) {
    if (G <= 1) return 0;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        const MoeConfig *f = &m->layer_ffn[l];
        if (f->router != ROUTER_DENSE && f->n_experts % G)
            return ml_error("ep=%d does not divide layer %d's %d experts", G, l, f->n_experts);
    }
    return 0;
}

/* fn on each run of consecutive parameter tensors that are (sliced 1) or are not (0) slabs of
 * expert-parallel storage, in parameter order. */
typedef void (*RunFn)(float *x, long n, void *ctx);
static void each_run(const LmModel *m, int sliced, RunFn fn, void *ctx) {
    float *at = NULL;
    long n = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const ParamTensor *t = &m->tensors[i];
        if ((t->slabs > 1) != sliced) continue;
        if (at && t->p == at + n) {
            n += t->n;
            continue;
        }
        if (at) fn(at, n, ctx);
        at = t->p, n = t->n;
    }
    if (at) fn(at, n, ctx);
}

void lm_dist_share(LmModel *m, int on) {
    for (int l = 0; l < m->cfg.n_layer; l++) m->acts[l].moe.dist_share = on && dist_size() > 1;
}

void lm_dist_slice(int B, int *first, int *count) {
    *count = B / dist_size();
    *first = dist_rank() * *count;
}

static void bcast_run(float *x, long n, void *ctx) {
    (void)ctx;
    dist_bcast_f32(x, n, 0);
}

/* Expert slabs differ between the ranks of a group: they start alike on the ranks that hold the
 * same slab (drawn from the seed, or read from the same file), so only the rest is sent. */
void lm_dist_sync_params(LmModel *m) {
    if (m->ep_shards > 1)
        each_run(m, 0, bcast_run, NULL);
    else
        dist_bcast_f32(m->params_mem, m->n_params, 0);
}

static void count_run(float *x, long n, void *ctx) {
    long *bad = ctx;
    for (long i = 0; i < n; i++) *bad += !isfinite(x[i]);
}

long lm_dist_count_nonfinite(const LmModel *m) {
    long common = 0, sliced = 0;
    if (m->ep_shards <= 1) {
        count_run(m->params_mem, m->n_params, &common);
        return common;
    }
    each_run(m, 0, count_run, &common);
    each_run(m, 1, count_run, &sliced);
    double s = (double)sliced;
    dist_ep_sum_f64(&s, 1);
    return common + (long)s;
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
static void hash_run(float *x, long n, void *ctx) {
    uint64_t *h = ctx;
    const unsigned char *b = (const unsigned char *)x;
    for (size_t i = 0; i < (size_t)n * sizeof(float); i++) *h = (*h ^ b[i]) * 1099511628211ULL;
}

/* Expert slabs are compared among the ranks holding the same slab, the rest over the world. */
int lm_dist_check_in_sync(const LmModel *m) {
    if (dist_size() == 1) return 0;
    uint64_t h = 1469598103934665603ULL, hs = h;
    each_run(m, 0, hash_run, &h);
    each_run(m, 1, hash_run, &hs);
    int same = dist_all_equal_u64(h);
    if (!dist_shard_all_equal_u64(hs)) same = 0;
    if (!same)
        return ml_error("data-parallel ranks' parameters differ at step %d (a non-deterministic "
                        "reduction?)",
                        m->step);
    return 0;
}
