#include "nn/moe_ep.h"
#include "core/mem.h"
#include "dist/dist.h"
#include "nn/moe_experts.h"

/* Rows arrive grouped by source rank, then by this rank's expert: block (q, el) holds
 * cnt_recv[q·Eg + el] rows from rank q for expert e0 + el, starting at row boff[q·Eg + el]. */
typedef struct {
    int G, Eg;
    int32_t *cnt_recv;
    long *boff;
    int *sc, *sd, *rc, *rd; /* per rank: floats sent / received and their offsets */
    long rows, cap;         /* rows received in the last forward; rows the buffers hold */
    float *xr, *yr, *h1, *h2, *h3, *dyr, *dxr, *dh1, *dh2, *dh3;
} MoeEp;

int moe_ep_spreads(const MoeConfig *cfg, int G) {
    return G > 1 && cfg->hidden > 0 && cfg->router != ROUTER_DENSE && cfg->n_experts % G == 0;
}

int moe_ep_active(const MoeActs *a, const MoeConfig *cfg) {
    if (cfg->shards > 1) return 1; /* this rank holds its own experts alone */
    return a->dist_share && moe_ep_spreads(cfg, dist_ep_size());
}

static MoeEp *ep_state(MoeActs *a, const MoeConfig *cfg) {
    MoeInternal *in = a->internal;
    if (!in->ep) {
        MoeEp *ep = ml_alloc(sizeof *ep);
        ep->G = dist_ep_size(), ep->Eg = cfg->n_experts / ep->G;
        ep->cnt_recv = ml_alloc(sizeof(int32_t) * ep->G * ep->Eg);
        ep->boff = ml_alloc(sizeof(long) * ep->G * ep->Eg);
        ep->sc = ml_alloc(sizeof(int) * 4 * ep->G);
        ep->sd = ep->sc + ep->G, ep->rc = ep->sd + ep->G, ep->rd = ep->rc + ep->G;
        in->ep = ep, in->ep_free = moe_ep_free;
    }
    return in->ep;
}

static void free_rows(MoeEp *ep) {
    float *b[] = {ep->xr,  ep->yr,  ep->h1,  ep->h2,  ep->h3,
                  ep->dyr, ep->dxr, ep->dh1, ep->dh2, ep->dh3};
    for (unsigned i = 0; i < sizeof b / sizeof b[0]; i++) ml_free(b[i]);
}

/* Grows the row buffers to hold ep->rows (allocation happens only when a step brings more rows
 * than any before it). */
static void ensure_rows(MoeEp *ep, int C, int H) {
    if (ep->rows <= ep->cap && ep->xr) return;
    free_rows(ep);
    long R = ep->rows + ep->rows / 4 + 1;
    ep->xr = ml_alloc_floats(R * C), ep->yr = ml_alloc_floats(R * C);
    ep->dyr = ml_alloc_floats(R * C), ep->dxr = ml_alloc_floats(R * C);
    ep->h1 = ml_alloc_floats(R * H), ep->h2 = ml_alloc_floats(R * H);
    ep->h3 = ml_alloc_floats(R * H), ep->dh1 = ml_alloc_floats(R * H);
    ep->dh2 = ml_alloc_floats(R * H), ep->dh3 = ml_alloc_floats(R * H);
    ep->cap = R;
}

/* Counts exchanged, then the send/receive layout in floats and the received blocks' offsets. */
static void exchange_counts(MoeEp *ep, const int32_t *off, int C) {
    const int G = ep->G, Eg = ep->Eg;
    int32_t cnt[G * Eg];
    for (int e = 0; e < G * Eg; e++) cnt[e] = off[e + 1] - off[e];
    dist_ep_alltoall_i32(cnt, ep->cnt_recv, Eg);
    long rows = 0;
    for (int q = 0; q < G; q++) {
        ep->sc[q] = (off[(q + 1) * Eg] - off[q * Eg]) * C, ep->sd[q] = off[q * Eg] * C;
        ep->rd[q] = (int)(rows * C);
        for (int el = 0; el < Eg; el++) {
            ep->boff[q * Eg + el] = rows;
            rows += ep->cnt_recv[q * Eg + el];
        }
        ep->rc[q] = (int)(rows * C) - ep->rd[q];
    }
    ep->rows = rows;
}

/* Runs fn on every received block, one thread per local expert: an expert's blocks (one per source
 * rank) run in turn, so its gradient accumulates without races. */
typedef struct {
    MoeEp *ep;
    MoeParams *g;
    const MoeParams *p;
    const MoeConfig *cfg;
} BlockCtx;
typedef void (*BlockFn)(const BlockCtx *x, int e, long r, int n);

static void each_block(const BlockCtx *x, BlockFn fn) {
    const MoeEp *ep = x->ep;
    const int e0 = dist_ep_rank() * ep->Eg;
#pragma omp parallel for schedule(dynamic, 1)
    for (int el = 0; el < ep->Eg; el++)
        for (int q = 0; q < ep->G; q++)
            fn(x, e0 + el, ep->boff[q * ep->Eg + el], ep->cnt_recv[q * ep->Eg + el]);
}

static void block_forward(const BlockCtx *x, int e, long r, int n) {
    MoeEp *ep = x->ep;
    const long C = x->cfg->d_model, H = x->cfg->hidden;
    moe_expert_rows_forward(ep->yr + r * C, ep->h1 + r * H, ep->h2 + r * H, ep->h3 + r * H, x->p,
                            x->cfg, e, ep->xr + r * C, n);
}

static void block_backward(const BlockCtx *x, int e, long r, int n) {
    MoeEp *ep = x->ep;
    const long C = x->cfg->d_model, H = x->cfg->hidden;
    moe_expert_rows_backward(ep->dxr + r * C, x->g, ep->dh1 + r * H, ep->dh2 + r * H,
                             ep->dh3 + r * H, ep->dyr + r * C, ep->xr + r * C, ep->h1 + r * H,
                             ep->h2 + r * H, ep->h3 + r * H, x->p, x->cfg, e, n);
}

void moe_ep_forward(MoeActs *a, const MoeParams *p, const MoeConfig *cfg) {
    MoeInternal *in = a->internal;
    MoeEp *ep = ep_state(a, cfg);
    exchange_counts(ep, in->expert_off, cfg->d_model);
    ensure_rows(ep, cfg->d_model, cfg->hidden);
    dist_ep_alltoallv_f32(in->xg, ep->sc, ep->sd, ep->xr, ep->rc, ep->rd);
    each_block(&(BlockCtx){ep, NULL, p, cfg}, block_forward);
    dist_ep_alltoallv_f32(ep->yr, ep->rc, ep->rd, in->y, ep->sc, ep->sd);
}

void moe_ep_backward(MoeActs *a, MoeParams *g, const MoeParams *p, const MoeConfig *cfg) {
    MoeInternal *in = a->internal;
    MoeEp *ep = in->ep;
    dist_ep_alltoallv_f32(in->dy, ep->sc, ep->sd, ep->dyr, ep->rc, ep->rd);
    each_block(&(BlockCtx){ep, g, p, cfg}, block_backward);
    dist_ep_alltoallv_f32(ep->dxr, ep->rc, ep->rd, in->dx, ep->sc, ep->sd);
}

void moe_ep_free(void *p) {
    MoeEp *ep = p;
    if (!ep) return;
    free_rows(ep);
    ml_free(ep->cnt_recv), ml_free(ep->boff), ml_free(ep->sc);
    ml_free(ep);
}
