/* Expert half of the MoE layer: counting-sort dispatch of (token, slot) pairs per expert, one
 * sgemm per expert per matrix on gathered rows, fixed-order combine; shared experts; backward. */
#include "core/mem.h"
#include "nn/act.h"
#include "nn/linear.h"
#include "nn/moe_ep.h"
#include "nn/moe_experts.h"
#include "nn/threads.h"
#include "nn/wmat.h"
#include <math.h>
#include <string.h>

/* Weights of one expert FFN (pointers into the layer's block, or into its gradient block). */
typedef struct {
    float *w1, *b1, *w2, *b2, *wg, *wu, *wd;
    WRef fg, fu, fd; /* SwiGLU matrices for the forward: wg/wu/wd, or rows of GGUF tensors */
} FfnW;

/* Forward references of a SwiGLU FFN: its float matrices, or (external_ffn) rows of the tensors,
 * expert e's H rows of [E,H,C] gate/up and C rows of [E,C,H] down. */
static void swiglu_refs(FfnW *w, const GgufTensor *qg, const GgufTensor *qu, const GgufTensor *qd,
                        long e, long C, long H) {
    w->fg = wref_pick(w->wg, qg, (uint64_t)(e * H));
    w->fu = wref_pick(w->wu, qu, (uint64_t)(e * H));
    w->fd = wref_pick(w->wd, qd, (uint64_t)(e * C));
}

/* Expert i of a bank of width H: w = {w1, b1, w2, b2, wg, wu, wd} of the bank (routed or shared), q
 * its external (GGUF) SwiGLU matrices. */
static FfnW bank_weights(const MoeConfig *cfg, float *const w[7], const GgufTensor *const q[3],
                         long i, long H) {
    const long C = cfg->d_model;
    FfnW f = {0};
    if (cfg->act == EXPERT_GELU) {
        f.w1 = w[0] + i * H * C;
        f.b1 = w[1] ? w[1] + i * H : NULL;
        f.w2 = w[2] + i * C * H;
        f.b2 = w[3] ? w[3] + i * C : NULL;
    } else if (w[4]) {
        f.wg = w[4] + i * H * C;
        f.wu = w[5] + i * H * C;
        f.wd = w[6] + i * C * H;
    }
    if (cfg->act == EXPERT_SWIGLU) swiglu_refs(&f, q[0], q[1], q[2], i, C, H);
    return f;
}

static FfnW routed_weights(const MoeParams *p, const MoeConfig *cfg, int e) {
    float *const w[7] = {p->w1, p->b1, p->w2, p->b2, p->wg, p->wu, p->wd};
    const GgufTensor *const q[3] = {p->q_wg, p->q_wu, p->q_wd};
    return bank_weights(cfg, w, q, e - moe_first_expert(cfg), cfg->hidden);
}

static FfnW shared_weights(const MoeParams *p, const MoeConfig *cfg, int s) {
    float *const w[7] = {p->sw1, p->sb1, p->sw2, p->sb2, p->swg, p->swu, p->swd};
    const GgufTensor *const q[3] = {p->q_swg, p->q_swu, p->q_swd};
    return bank_weights(cfg, w, q, s, cfg->shared_hidden);
}

/* y[n,C] = FFN(x[n,C]); caches h1, h2 (GELU: pre, act; SwiGLU: gate, up) and h3 (SwiGLU act). */
static void ffn_forward(float *y, float *h1, float *h2, float *h3, const FfnW *w, ExpertAct act,
                        const float *x, int n, int C, int H) {
    if (n == 0) return;
    if (act == EXPERT_GELU) {
        linear_forward(h1, x, w->w1, w->b1, n, C, H);
        gelu_forward(h2, h1, (long)n * H);
        linear_forward(y, h2, w->w2, w->b2, n, H, C);
    } else {
        wref_forward(h1, x, w->fg, NULL, n, C, H);
        wref_forward(h2, x, w->fu, NULL, n, C, H);
        swiglu_forward(h3, h1, h2, (long)n * H);
        wref_forward(y, h3, w->fd, NULL, n, H, C);
    }
}

/* gw += ∂/∂w given dy; dx = ∂/∂x (set_dx) or dx += ∂/∂x. dh1..dh3 are [n,H] scratch, every
 * one written before it is read (GELU uses dh2 only: its backward runs in place). */
static void ffn_backward(float *dx, int set_dx, const FfnW *gw, float *dh1, float *dh2, float *dh3,
                         const float *dy, const float *x, const float *h1, const float *h2,
                         const float *h3, const FfnW *w, ExpertAct act, int n, int C, int H) {
    if (n == 0) return;
    void (*first_dx)(float *, float *, float *, const float *, const float *, const float *, int,
                     int, int) = set_dx ? linear_backward_set : linear_backward;
    if (act == EXPERT_GELU) {
        linear_backward_set(dh2, gw->w2, gw->b2, dy, h2, w->w2, n, H, C);
        gelu_backward_set(dh2, h1, dh2, (long)n * H);
        first_dx(dx, gw->w1, gw->b1, dh2, x, w->w1, n, C, H);
    } else {
        (void)dh2;
        linear_backward_set(dh3, gw->wd, NULL, dy, h3, w->wd, n, H, C);
        swiglu_backward_set(dh1, dh3, h1, h2, dh3, (long)n * H); /* d(gate) → dh1, d(up) → dh3 */
        first_dx(dx, gw->wg, NULL, dh1, x, w->wg, n, C, H);
        linear_backward(dx, gw->wu, NULL, dh3, x, w->wu, n, C, H);
    }
}

/* Experts by descending row count (ties: lower index first): with dynamic scheduling the big
 * experts start first, so the threads finish together (in index order one thread could be left
 * with the largest expert at the end). Which thread runs an expert does not change its result. */
static void experts_by_load(int *order, const int32_t *off, int E) {
    for (int e = 0; e < E; e++) {
        int i = e, n = off[e + 1] - off[e];
        for (; i > 0 && off[order[i - 1] + 1] - off[order[i - 1]] < n; i--) order[i] = order[i - 1];
        order[i] = e;
    }
}

/* Counting sort of the valid (token, slot) pairs by expert, in slot order within an expert. */
static void build_dispatch(MoeActs *a, const MoeConfig *cfg) {
    MoeInternal *in = a->internal;
    const int E = cfg->n_experts;
    const long S = (long)a->N * a->k;
    int32_t *off = in->expert_off;
    memset(off, 0, (E + 1) * sizeof(int32_t));
    for (long s = 0; s < S; s++)
        if (a->topk_idx[s] < E && !in->dropped[s]) off[a->topk_idx[s] + 1]++;
    for (int e = 0; e < E; e++) off[e + 1] += off[e];
    int32_t pos[E];
    memcpy(pos, off, E * sizeof(int32_t));
    for (long s = 0; s < S; s++) {
        int e = a->topk_idx[s];
        if (e < E && !in->dropped[s]) {
            int r = pos[e]++;
            in->row_slot[r] = (int32_t)s;
            in->slot_row[s] = r;
        } else {
            in->slot_row[s] = -1;
        }
    }
}

/* Forward only: the pieces of at most piece_rows rows each expert's rows split into, experts by
 * descending load (the big ones start first); in->pieces holds (expert, first row) pairs. */
static int list_pieces(MoeInternal *in, int E) {
    int order[E], n = 0;
    experts_by_load(order, in->expert_off, E);
    for (int i = 0; i < E; i++)
        for (int r = in->expert_off[order[i]]; r < in->expert_off[order[i] + 1];
             r += in->piece_rows)
            in->pieces[2 * n] = order[i], in->pieces[2 * n + 1] = r, n++;
    return n;
}

/* Forward-only experts, expert-major: every expert runs once over all its rows of the batch
 * (its weights dequantised once, not once per token sub-block), in pieces through one thread's
 * scratch: the piece's rows gathered into its [piece_rows, C] input, the [piece_rows, H] hidden
 * activations, the outputs over the inputs, then scattered to their slots (Y: the expert_out
 * capture, or in->y without captures), so pieces never touch each other's rows. An expert of up
 * to piece_rows rows is the same GEMMs as the training buffers run; a longer one is split, so it
 * agrees within float rounding. */
static void experts_forward_streamed(MoeActs *a, const MoeParams *p, const MoeConfig *cfg,
                                     const float *inp) {
    MoeInternal *in = a->internal;
    const int E = cfg->n_experts, C = cfg->d_model, H = cfg->hidden, n = list_pieces(in, E);
    const long P = in->piece_rows;
    const size_t row = C * sizeof(float);
    float *Y = a->expert_out ? a->expert_out : in->y;
#pragma omp parallel for schedule(dynamic, 1) num_threads(in->n_scratch)
    for (int i = 0; i < n; i++) {
        int e = in->pieces[2 * i], r0 = in->pieces[2 * i + 1], end = in->expert_off[e + 1];
        int rows = end - r0 < P ? end - r0 : (int)P;
        const int32_t *slot = in->row_slot + r0;
        long t = omp_get_thread_num();
        float *x = in->xg + t * P * C, *h1 = in->h1 + t * P * H, *h2 = in->h2 + t * P * H;
        for (int j = 0; j < rows; j++)
            memcpy(x + (long)j * C, inp + (long)(slot[j] / a->k) * C, row);
        moe_expert_rows_forward(x, h1, h2, in->h3 ? h1 : NULL, p, cfg, e, x, rows);
        for (int j = 0; j < rows; j++) memcpy(Y + (long)slot[j] * C, x + (long)j * C, row);
    }
}

/* The expert output of slot s, dispatched to row r: training keeps outputs in row order (in->y);
 * the forward-only experts scattered theirs to slot order. */
static const float *slot_output(const MoeActs *a, const MoeInternal *in, long s, int r, int C) {
    if (!in->infer) return in->y + (long)r * C;
    return (a->expert_out ? a->expert_out : in->y) + s * C;
}

void moe_expert_rows_forward(float *y, float *h1, float *h2, float *h3, const MoeParams *p,
                             const MoeConfig *cfg, int e, const float *x, int n) {
    FfnW w = routed_weights(p, cfg, e);
    ffn_forward(y, h1, h2, h3, &w, cfg->act, x, n, cfg->d_model, cfg->hidden);
}

void moe_expert_rows_backward(float *dx, MoeParams *g, float *dh1, float *dh2, float *dh3,
                              const float *dy, const float *x, const float *h1, const float *h2,
                              const float *h3, const MoeParams *p, const MoeConfig *cfg, int e,
                              int n) {
    FfnW w = routed_weights(p, cfg, e), gw = routed_weights(g, cfg, e);
    ffn_backward(dx, 1, &gw, dh1, dh2, dh3, dy, x, h1, h2, h3, &w, cfg->act, n, cfg->d_model,
                 cfg->hidden);
}

/* Training: every dispatched row's input, gathered into xg in row order (kept for the backward). */
static void gather_rows(MoeInternal *in, const float *inp, int k, int C, int R) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < R; r++)
        memcpy(in->xg + (long)r * C, inp + (long)(in->row_slot[r] / k) * C, C * sizeof(float));
}

/* Training: each expert over its rows of xg into y, caching h1..h3; the busiest experts first. */
static void experts_forward_rows(MoeInternal *in, const MoeParams *p, const MoeConfig *cfg) {
    const int E = cfg->n_experts, C = cfg->d_model, H = cfg->hidden;
    int order[E];
    experts_by_load(order, in->expert_off, E);
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < E; i++) {
        int e = order[i];
        long r0 = in->expert_off[e];
        moe_expert_rows_forward(in->y + r0 * C, in->h1 + r0 * H, in->h2 + r0 * H,
                                in->h3 ? in->h3 + r0 * H : NULL, p, cfg, e, in->xg + r0 * C,
                                in->expert_off[e + 1] - (int)r0);
    }
}

void moe_experts_forward(float *out, MoeActs *a, const MoeParams *p, const MoeConfig *cfg,
                         const float *inp) {
    MoeInternal *in = a->internal;
    const int N = a->N, k = a->k, C = cfg->d_model, H = cfg->hidden, E = cfg->n_experts;
    if (H > 0) {
        build_dispatch(a, cfg);
        if (in->infer) { /* gathers per piece; expert parallelism is a training path */
            experts_forward_streamed(a, p, cfg, inp);
        } else {
            gather_rows(in, inp, k, C, in->expert_off[E]);
            if (moe_ep_active(a, cfg))
                moe_ep_forward(a, p, cfg); /* the experts run on the ranks that hold them */
            else
                experts_forward_rows(in, p, cfg);
        }
    }
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *o = out + (long)n * C;
        memset(o, 0, C * sizeof(float));
        for (int j = 0; j < k; j++) {
            long s = (long)n * k + j;
            float *eo = a->expert_out ? a->expert_out + s * C : NULL; /* NULL: not captured */
            int r = H > 0 ? in->slot_row[s] : -1;
            if (r < 0) {
                if (eo) memset(eo, 0, C * sizeof(float));
                continue;
            }
            const float *y = slot_output(a, in, s, r, C);
            if (eo && eo != y) memcpy(eo, y, C * sizeof(float));
            float wj = a->topk_w[s];
            for (int c = 0; c < C; c++) o[c] += wj * y[c];
        }
        if (a->shared_out)
            for (int c = 0; c < C; c++) o[c] += a->shared_out[(long)n * C + c];
    }
}

void moe_experts_backward(float *dinp, MoeParams *g, float *dtopk_w, const float *dout, MoeActs *a,
                          const MoeParams *p, const MoeConfig *cfg) {
    MoeInternal *in = a->internal;
    const int N = a->N, k = a->k, C = cfg->d_model, H = cfg->hidden, E = cfg->n_experts;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *d = dout + (long)n * C;
        for (int j = 0; j < k; j++) {
            long s = (long)n * k + j;
            const float *eo = a->expert_out + s * C;
            double dot = 0;
            for (int c = 0; c < C; c++) dot += (double)d[c] * eo[c];
            dtopk_w[s] = (float)dot;
            int r = H > 0 ? in->slot_row[s] : -1;
            if (r < 0) continue;
            float wj = a->topk_w[s], *dy = in->dy + (long)r * C;
            for (int c = 0; c < C; c++) dy[c] = wj * d[c];
        }
    }
    if (H <= 0) return;
    /* dx needs no zeroing: every expert overwrites its rows */
    if (moe_ep_active(a, cfg)) {
        moe_ep_backward(a, g, p, cfg);
    } else {
        int order[E];
        experts_by_load(order, in->expert_off, E);
#pragma omp parallel for schedule(dynamic, 1)
        for (int i = 0; i < E; i++) {
            int e = order[i];
            long r0 = in->expert_off[e];
            moe_expert_rows_backward(in->dx + r0 * C, g, in->dh1 + r0 * H, in->dh2 + r0 * H,
                                     in->dh3 ? in->dh3 + r0 * H : NULL, in->dy + r0 * C,
                                     in->xg + r0 * C, in->h1 + r0 * H, in->h2 + r0 * H,
                                     in->h3 ? in->h3 + r0 * H : NULL, p, cfg, e,
                                     in->expert_off[e + 1] - (int)r0);
        }
    }
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (int j = 0; j < k; j++) {
            int r = in->slot_row[(long)n * k + j];
            if (r < 0) continue;
            float *d = dinp + (long)n * C;
            const float *src = in->dx + (long)r * C;
            for (int c = 0; c < C; c++) d[c] += src[c];
        }
}

void moe_shared_forward(MoeActs *a, const MoeParams *p, const MoeConfig *cfg, const float *inp) {
    MoeInternal *in = a->internal;
    const int N = a->N, C = cfg->d_model, Hs = cfg->shared_hidden, S = cfg->n_shared;
    const long NH = (long)N * Hs, NC = (long)N * C;
    for (int s = 0; s < S; s++) {
        FfnW w = shared_weights(p, cfg, s);
        float *dst = s == 0 ? in->sh_raw : in->dsh_raw; /* dsh_raw: forward scratch here */
        ffn_forward(dst, in->sh1 + s * NH, in->sh2 + s * NH, in->sh3 ? in->sh3 + s * NH : NULL, &w,
                    cfg->act, inp, N, C, Hs);
        if (s > 0)
            for (long i = 0; i < NC; i++) in->sh_raw[i] += in->dsh_raw[i];
    }
    if (!cfg->shared_gate) {
        memcpy(a->shared_out, in->sh_raw, NC * sizeof(float));
        return;
    }
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        double z = 0;
        for (int c = 0; c < C; c++) z += (double)p->shared_gate_w[c] * inp[(long)n * C + c];
        float gt = 1.0f / (1.0f + expf(-(float)z));
        in->sh_gate[n] = gt;
        for (int c = 0; c < C; c++)
            a->shared_out[(long)n * C + c] = gt * in->sh_raw[(long)n * C + c];
    }
}

void moe_shared_backward(float *dinp, MoeParams *g, const float *dout, MoeActs *a,
                         const MoeParams *p, const MoeConfig *cfg, const float *inp) {
    MoeInternal *in = a->internal;
    const int N = a->N, C = cfg->d_model, Hs = cfg->shared_hidden, S = cfg->n_shared;
    const long NH = (long)N * Hs, NC = (long)N * C;
    if (cfg->shared_gate) {
        for (int n = 0; n < N; n++) { /* sequential: dw_sg sums over tokens in a fixed order */
            const float *d = dout + (long)n * C, *raw = in->sh_raw + (long)n * C;
            float gt = in->sh_gate[n];
            double dg = 0;
            for (int c = 0; c < C; c++) dg += (double)d[c] * raw[c];
            float dz = (float)dg * gt * (1.0f - gt);
            for (int c = 0; c < C; c++) {
                g->shared_gate_w[c] += dz * inp[(long)n * C + c];
                dinp[(long)n * C + c] += dz * p->shared_gate_w[c];
                in->dsh_raw[(long)n * C + c] = gt * d[c];
            }
        }
    } else {
        memcpy(in->dsh_raw, dout, NC * sizeof(float));
    }
    for (int s = 0; s < S; s++) {
        FfnW w = shared_weights(p, cfg, s), gw = shared_weights(g, cfg, s);
        ffn_backward(dinp, 0, &gw, in->dsh1, in->dsh2, in->dsh3, in->dsh_raw, inp, in->sh1 + s * NH,
                     in->sh2 + s * NH, in->sh3 ? in->sh3 + s * NH : NULL, &w, cfg->act, N, C, Hs);
    }
}

void moe_expert_forward(float *out, const MoeParams *p, const MoeConfig *cfg, int e,
                        const float *inp, int N) {
    const int C = cfg->d_model, H = cfg->hidden;
    if (e < 0 || e >= cfg->n_experts || H <= 0) { /* zero-output expert (or no FFNs) */
        memset(out, 0, (size_t)N * C * sizeof(float));
        return;
    }
    /* Analysis entry point, not the training step: temporaries are allocated here. */
    float *h1 = ml_alloc_floats((size_t)N * H), *h2 = ml_alloc_floats((size_t)N * H);
    float *h3 = cfg->act == EXPERT_SWIGLU ? ml_alloc_floats((size_t)N * H) : NULL;
    FfnW w = routed_weights(p, cfg, e);
    ffn_forward(out, h1, h2, h3, &w, cfg->act, inp, N, C, H);
    ml_free(h1);
    ml_free(h2);
    ml_free(h3);
}
