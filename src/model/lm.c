#include "model/lm.h"
#include "core/error.h"
#include "core/mem.h"
#include "nn/act.h"
#include "nn/attention.h"
#include "nn/embed.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/norm.h"
#include "nn/moe_ep.h"
#include "nn/wmat.h"
#include "model/lm_attn.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define HD(c) lm_head_dim(c)

/* Each layer's FFN: the MoE template, or a dense FFN (router dense, E = 1, k = 1). */
static MoeConfig layer_ffn_config(const LmConfig *c, int l, int external) {
    MoeConfig f = c->moe;
    f.d_model = c->d_model;
    f.external_ffn = external;
    if (!lm_layer_is_moe(c, l)) {
        f.router = ROUTER_DENSE;
        f.n_experts = 1, f.n_zero = 0, f.top_k = 1, f.n_shared = 0;
        f.hidden = c->dense_hidden;
        f.score = SCORE_SOFTMAX_TOPK, f.level = ROUTE_TOKEN, f.capacity_factor = 0;
        f.aux_lb_coef = f.aux_z_coef = f.aux_group_coef = 0;
        f.weight_scale = 1.0f;
    }
    return f;
}

static float *take(float **cur, long n) {
    float *p = *cur;
    *cur += n;
    return p;
}

/* Lays out every tensor over one block (params and grads share the layout); returns the count. */
static long point_params(LmParams *p, float *base, const LmModel *m) {
    const LmConfig *c = &m->cfg;
    int C = c->d_model, V = c->vocab_size, hd = HD(c), qd = c->n_head * hd, kvd = c->n_kv_head * hd;
    int gpt2 = c->block == BLOCK_GPT2, qkvb = gpt2 || c->qkv_bias, ext = m->external;
    long qn = c->qk_norm == 2 ? qd : hd, kn = c->qk_norm == 2 ? kvd : hd;
    float *cur = base, *nul = NULL;
    float **cp = base ? &cur : &nul;
    long total = 0;
#define TAKE(n) (total += (n), base ? take(cp, (n)) : NULL)
#define BIG(n) (ext ? NULL : TAKE(n)) /* external models: the matrix is a GGUF tensor */
    p->wte = BIG((long)V * C);
    p->wpe = gpt2 ? TAKE((long)c->seq_len * C) : NULL;
    for (int l = 0; l < c->n_layer; l++) {
        LayerParams *L = &p->layers[l];
        L->ln1_w = TAKE(C);
        L->ln1_b = gpt2 ? TAKE(C) : NULL;
        L->wq = BIG((long)qd * C);
        L->wk = BIG((long)kvd * C);
        L->wv = BIG((long)kvd * C);
        L->bq = qkvb ? TAKE(qd) : NULL;
        L->bk = qkvb ? TAKE(kvd) : NULL;
        L->bv = qkvb ? TAKE(kvd) : NULL;
        L->q_norm = c->qk_norm ? TAKE(qn) : NULL;
        L->k_norm = c->qk_norm ? TAKE(kn) : NULL;
        L->wo = BIG((long)C * qd);
        L->bo = gpt2 ? TAKE(C) : NULL;
        L->ln2_w = TAKE(C);
        L->ln2_b = gpt2 ? TAKE(C) : NULL;
        long nf = moe_num_params(&m->layer_ffn[l]);
        float *ffn = TAKE(nf);
        if (base) moe_point_params(&L->ffn, ffn, &m->layer_ffn[l]);
    }
    p->lnf_w = TAKE(C);
    p->lnf_b = gpt2 ? TAKE(C) : NULL;
    p->lm_head = c->tied ? p->wte : BIG((long)V * C);
#undef BIG
#undef TAKE
    return total;
}

static int list_tensors(ParamTensor *t, const LmParams *p, const LmModel *m) {
    const LmConfig *c = &m->cfg;
    int C = c->d_model, V = c->vocab_size, hd = HD(c), qd = c->n_head * hd, kvd = c->n_kv_head * hd;
    int n = 0;
    char pre[64];
    n = param_tensor(t, n, "", "wte", p->wte, 0, 0, 2, V, C, 0, 0);
    if (p->wpe) n = param_tensor(t, n, "", "wpe", p->wpe, 0, 0, 2, c->seq_len, C, 0, 0);
    for (int l = 0; l < c->n_layer; l++) {
        const LayerParams *L = &p->layers[l];
        snprintf(pre, sizeof pre, "h.%d.", l);
        n = param_tensor(t, n, pre, "ln1.w", L->ln1_w, 0, 0, 1, C, 0, 0, 0);
        if (L->ln1_b) n = param_tensor(t, n, pre, "ln1.b", L->ln1_b, 0, 0, 1, C, 0, 0, 0);
        n = param_tensor(t, n, pre, "attn.wq", L->wq, 1, 0, 2, qd, C, 0, 0);
        n = param_tensor(t, n, pre, "attn.wk", L->wk, 1, 0, 2, kvd, C, 0, 0);
        n = param_tensor(t, n, pre, "attn.wv", L->wv, 1, 0, 2, kvd, C, 0, 0);
        if (L->bq) {
            n = param_tensor(t, n, pre, "attn.bq", L->bq, 0, 0, 1, qd, 0, 0, 0);
            n = param_tensor(t, n, pre, "attn.bk", L->bk, 0, 0, 1, kvd, 0, 0, 0);
            n = param_tensor(t, n, pre, "attn.bv", L->bv, 0, 0, 1, kvd, 0, 0, 0);
        }
        if (L->q_norm) {
            int qn = c->qk_norm == 2 ? qd : hd, kn = c->qk_norm == 2 ? kvd : hd;
            n = param_tensor(t, n, pre, "attn.q_norm", L->q_norm, 0, 0, 1, qn, 0, 0, 0);
            n = param_tensor(t, n, pre, "attn.k_norm", L->k_norm, 0, 0, 1, kn, 0, 0, 0);
        }
        n = param_tensor(t, n, pre, "attn.wo", L->wo, 1, 0, 2, C, qd, 0, 0);
        if (L->bo) n = param_tensor(t, n, pre, "attn.bo", L->bo, 0, 0, 1, C, 0, 0, 0);
        n = param_tensor(t, n, pre, "ln2.w", L->ln2_w, 0, 0, 1, C, 0, 0, 0);
        if (L->ln2_b) n = param_tensor(t, n, pre, "ln2.b", L->ln2_b, 0, 0, 1, C, 0, 0, 0);
        snprintf(pre, sizeof pre, "h.%d.ffn.", l);
        n = moe_param_tensors(t, n, pre, (MoeParams *)&L->ffn, &m->layer_ffn[l]);
    }
    n = param_tensor(t, n, "", "lnf.w", p->lnf_w, 0, 0, 1, C, 0, 0, 0);
    if (p->lnf_b) n = param_tensor(t, n, "", "lnf.b", p->lnf_b, 0, 0, 1, C, 0, 0, 0);
    if (!c->tied) n = param_tensor(t, n, "", "lm_head", p->lm_head, 1, 0, 2, V, C, 0, 0);
    return n;
}

static void init_params(LmModel *m) {
    const LmConfig *c = &m->cfg;
    Rng rng;
    rng_seed(&rng, c->seed);
    float std = c->moe.init_std > 0 ? c->moe.init_std : 0.02f;
    float resid_std =
        std / sqrtf(2.0f * c->n_layer); /* GPT-2: scale projections into the residual */
    for (int i = 0; i < m->n_tensors; i++) {
        ParamTensor *t = &m->tensors[i];
        const char *name = t->name;
        if (strstr(name, ".ffn.")) continue; /* the MoE layer initialises its own tensors */
        if (strstr(name, "ln") || strstr(name, "_norm")) {
            int is_bias = name[strlen(name) - 1] == 'b';
            for (long k = 0; k < t->n; k++) t->p[k] = is_bias ? 0.0f : 1.0f;
        } else if (t->ndim == 1) {
            memset(t->p, 0, t->n * sizeof(float)); /* biases */
        } else {
            rng_fill_normal(&rng, t->p, t->n, strstr(name, "attn.wo") ? resid_std : std);
        }
    }
    for (int l = 0; l < c->n_layer; l++) {
        Rng lr;
        rng_seed(&lr, c->seed * 1000003ULL + (uint64_t)l + 1);
        moe_init_params(&m->params.layers[l].ffn, &m->layer_ffn[l], &lr);
    }
}

/* Configs of every layer's FFN and the parameter block; -1 on an invalid layer config. Layers
 * whose experts groups of `shards` ranks spread hold this rank's (`shard`) alone. */
static int create_params(LmModel *m, const LmConfig *cfg, int external, int shards, int shard) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->external = external;
    m->ep_shards = 1;
    const LmConfig *c = &m->cfg;
    m->layer_ffn = ml_alloc(c->n_layer * sizeof(MoeConfig));
    for (int l = 0; l < c->n_layer; l++) {
        MoeConfig *f = &m->layer_ffn[l];
        *f = layer_ffn_config(c, l, external);
        if (moe_validate(f)) {
            lm_free(m);
            return -1;
        }
        if (!external && moe_ep_spreads(f, shards))
            f->shards = m->ep_shards = shards, f->shard = shard;
    }
    m->params.layers = ml_alloc(c->n_layer * sizeof(LayerParams));
    m->n_params = point_params(&m->params, NULL, m);
    m->params_mem = ml_alloc_floats(m->n_params);
    point_params(&m->params, m->params_mem, m);
    return 0;
}

int lm_create_external(LmModel *m, const LmConfig *cfg) {
    if (create_params(m, cfg, 1, 1, 0)) return -1;
    rng_seed(&m->noise_rng, cfg->seed + 2);
    return 0;
}

int lm_create(LmModel *m, const LmConfig *cfg, int with_grads) {
    return lm_create_shard(m, cfg, with_grads, 1, 0);
}

int lm_create_shard(LmModel *m, const LmConfig *cfg, int with_grads, int shards, int shard) {
    if (create_params(m, cfg, 0, shards, shard)) return -1;
    const LmConfig *c = &m->cfg;
    int max_tensors = 32 + c->n_layer * 64;
    m->tensors = ml_alloc(max_tensors * sizeof(ParamTensor));
    m->n_tensors = list_tensors(m->tensors, &m->params, m);
    init_params(m);
    if (with_grads) {
        m->has_grads = 1;
        m->grads_mem = ml_alloc_floats(m->n_params);
        m->m_mem = ml_alloc_floats(m->n_params);
        m->v_mem = ml_alloc_floats(m->n_params);
        m->grads.layers = ml_alloc(c->n_layer * sizeof(LayerParams));
        point_params(&m->grads, m->grads_mem, m);
        m->grad_tensors = ml_alloc(max_tensors * sizeof(ParamTensor));
        list_tensors(m->grad_tensors, &m->grads, m);
    }
    rng_seed(&m->noise_rng, c->seed + 2);
    return 0;
}

/* Layer j < l whose MoE activations layer l can share (lean inference, same FFN config), or -1. */
static int moe_share(const LmModel *m, int l) {
    if (m->has_grads || !m->lean) return -1;
    for (int j = 0; j < l; j++)
        if (!memcmp(&m->layer_ffn[j], &m->layer_ffn[l], sizeof(MoeConfig))) return j;
    return -1;
}

static void free_acts(LmModel *m) {
    if (!m->acts) return;
    for (int l = m->cfg.n_layer - 1; l >= 0; l--) { /* last first: earlier layers still intact */
        int j = 0;
        while (j < l && m->acts[j].moe.internal != m->acts[l].moe.internal) j++;
        if (j == l) moe_acts_free(&m->acts[l].moe); /* not shared with an earlier layer */
    }
    ml_free(m->acts);
    ml_free(m->acts_mem);
    m->acts = NULL;
    m->acts_mem = NULL;
}

void lm_free(LmModel *m) {
    free_acts(m);
    ml_free(m->params_mem);
    ml_free(m->grads_mem);
    ml_free(m->m_mem);
    ml_free(m->v_mem);
    ml_free(m->params.layers);
    ml_free(m->grads.layers);
    ml_free(m->tensors);
    ml_free(m->grad_tensors);
    ml_free(m->layer_ffn);
    if (m->gguf) gguf_close(m->gguf);
    memset(m, 0, sizeof *m);
}

int lm_ffn_block = 512;
int lm_head_block = 128;

/* Logits a lean head block of a trained run may hold: 32 MiB. Each head GEMM re-packs the whole
 * [V, C] head, so with a small vocabulary 128-row blocks re-packed it 8 times per 1,024-token
 * batch where eval's one-block head packs it once; 32 MiB is 1,024 rows at an 8k vocabulary.
 * GGUF files keep the floors (lm_head_block, lm_ffn_block): analyze must stay within the file
 * + 10 % at any size, and 32 MiB is 5 % of a 600 MiB file (a run is small by construction: it
 * was trained here, with gradients and optimiser state). */
#define HEAD_LOGITS (8L << 20)

/* Rows of logits in lean scoring: as many as HEAD_LOGITS holds (a run), at least lm_head_block
 * (each row's logits and loss are its own, so any routing level allows it), or lm_ffn_block when
 * that was set below lm_head_block; 0 for the whole batch, also when lm_ffn_block is 0. */
static int head_block_for(const LmModel *m, long N) {
    if (m->has_grads || !m->lean || lm_ffn_block <= 0) return 0;
    long fit = m->gguf ? 0 : HEAD_LOGITS / (m->cfg.vocab_size > 0 ? m->cfg.vocab_size : 1);
    long rows = fit > lm_head_block ? fit : lm_head_block;
    if (lm_ffn_block < lm_head_block) rows = lm_ffn_block;
    return N <= rows ? 0 : (int)rows;
}

/* Floats an FFN sub-block's activations may hold when lm_ffn_block_grows: 32 MiB (a run; GGUF
 * files keep lm_ffn_block, as HEAD_LOGITS says). */
#define FFN_ACTS (8L << 20)

/* Floats a token takes in an FFN sub-block: the norm, the output and k expert outputs of width C,
 * the k gathered inputs, and the router's scores (a little over, never under). */
static long ffn_row_floats(const LmModel *m) {
    long most = 1;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        const MoeConfig *f = &m->layer_ffn[l];
        int k = f->max_k > f->top_k ? f->max_k : f->top_k, ez = f->n_experts + f->n_zero;
        long row = (long)m->cfg.d_model * (2 + 2L * k) + 4L * ez;
        most = row > most ? row : most;
    }
    return most;
}

int lm_ffn_block_grows = 1;

void lm_ffn_block_set(int n) {
    lm_ffn_block = n, lm_ffn_block_grows = 0;
}

/* Rows per FFN sub-block in lean scoring: lm_ffn_block (or, with lm_ffn_block_grows, for a run,
 * as many as FFN_ACTS holds when that is more) when every layer routes token by token without a
 * capacity limit (each token's routing then depends on that token alone), else 0 (the whole batch:
 * sequence-level routing and capacity need all of it); 0 also when the batch fits one block. */
static int ffn_block_for(const LmModel *m, long N) {
    if (m->has_grads || !m->lean || lm_ffn_block <= 0 || N <= lm_ffn_block) return 0;
    for (int l = 0; l < m->cfg.n_layer; l++)
        if (m->layer_ffn[l].level != ROUTE_TOKEN || m->layer_ffn[l].capacity_factor > 0) return 0;
    long fit = lm_ffn_block_grows && !m->gguf ? FFN_ACTS / ffn_row_floats(m) : 0;
    long rows = fit > lm_ffn_block ? fit : lm_ffn_block;
    return N <= rows ? 0 : (int)rows;
}

/* One pass computes the size, a second hands out pointers. */
static long layout_acts(LmModel *m, float *base, int B, int T) {
    const LmConfig *c = &m->cfg;
    long N = (long)B * T, C = c->d_model, hd = HD(c), qd = c->n_head * hd, kvd = c->n_kv_head * hd;
    float *cur = base, *nul = NULL;
    float **cp = base ? &cur : &nul;
    long total = 0;
#define TAKE(n) (total += (n), base ? take(cp, (n)) : NULL)
    /* Inference (no gradients) keeps per layer only what the analyses read (resid_mid, out and
     * the MoE captures); the rest is scratch shared by every layer, q/k are normalised in place
     * and attention keeps no probability tensor. lean (lm_score_ids, analyze): resid_mid, out are
     * shared too, the embedding is written into out (layer 0's input, dead once resid_mid is
     * formed), and ln1, the attention output, ln2 and lnf share one buffer (each is dead before
     * the next is written). */
    const int infer = !m->has_grads, lean = infer && m->lean;
    /* lean with FFN sub-blocks (m->ffn_block): the layer output is formed in resid_mid itself
     * (out = resid_mid), the attention projection goes to q (dead by then) and the FFN output of
     * one sub-block to the shared buffer after ln2. */
    const long fb = m->ffn_block, merge = lean && fb > 0 && qd >= C;
    /* windows the attention half runs at a time in the sub-block layout: an FFN block's rows
     * (GEMMs as tall as the FFN's), at least one window */
    const long G = !merge ? B : fb > T ? (fb / T < B ? fb / T : B) : 1, NA = G * T;
    long wide = qd > C ? qd : C;
    if (merge && wide * NA < 2 * fb * C) wide = (2 * fb * C + NA - 1) / NA;
    m->window_attn = merge ? (int)G : 0;
    if (!lean || c->n_layer == 0) m->embed = TAKE(N * C);
    for (int l = 0; l < c->n_layer; l++) {
        LayerActs *a = &m->acts[l];
        if (infer && l > 0) {
            *a = m->acts[0];
            memset(&a->moe, 0, sizeof a->moe);
            if (!lean) a->resid_mid = TAKE(N * C), a->out = TAKE(N * C);
            continue;
        }
        a->ln1 = TAKE(NA * (lean ? wide : C)), a->ln1_mean = TAKE(NA), a->ln1_rstd = TAKE(NA);
        a->q = TAKE(NA * qd), a->k = TAKE(NA * kvd), a->v = TAKE(NA * kvd);
        if (c->qk_norm) {
            a->q_raw = infer ? a->q : TAKE(N * qd), a->k_raw = infer ? a->k : TAKE(N * kvd);
            a->q_rstd = TAKE(NA * c->n_head), a->k_rstd = TAKE(NA * c->n_kv_head);
        }
        a->att = infer ? NULL : TAKE((long)B * c->n_head * T * T);
        a->atty = lean ? a->ln1 : TAKE(N * qd);
        a->resid_mid = TAKE(N * C);
        a->ln2 = lean ? a->ln1 : TAKE(N * C), a->ln2_mean = TAKE(N), a->ln2_rstd = TAKE(N);
        a->out = merge ? a->resid_mid : TAKE(N * C);
        /* out = resid_mid + ffn_out, elementwise */
        a->ffn_out = merge ? a->ln1 + fb * C : lean ? a->out : TAKE(N * C);
    }
    if (lean && c->n_layer > 0) m->embed = m->acts[0].out;
    m->lnf = lean && c->n_layer > 0 ? m->acts[0].ln1 : TAKE(N * C);
    m->lnf_mean = TAKE(N), m->lnf_rstd = TAKE(N);
    m->logits = TAKE((m->head_block ? m->head_block : N) * c->vocab_size);
    m->losses = TAKE(N);
    if (m->has_grads) {
        m->d_resid = TAKE(N * C), m->d_ln = TAKE(N * C), m->d_ffn = TAKE(N * C);
        m->d_q = TAKE(N * qd), m->d_k = TAKE(N * kvd), m->d_v = TAKE(N * kvd);
        m->d_qr = TAKE(N * qd), m->d_kr = TAKE(N * kvd), m->d_atty = TAKE(N * qd);
    }
#undef TAKE
    return total;
}

/* The largest override k of a route, each capped at its layer's experts (0: none). */
static int route_kmax(const LmModel *m, const MoeOverride *route) {
    int k = 0;
    for (int l = 0; route && l < m->cfg.n_layer; l++) {
        const MoeConfig *f = &m->layer_ffn[l];
        int kl = route[l].k < f->n_experts + f->n_zero ? route[l].k : f->n_experts + f->n_zero;
        k = kl > k ? kl : k;
    }
    return k;
}

int lm_route_k(const LmModel *m, int l) {
    const MoeConfig *f = &m->layer_ffn[l];
    int k = m->route && m->route[l].k > 0 ? m->route[l].k : f->top_k;
    return k < f->n_experts + f->n_zero ? k : f->n_experts + f->n_zero;
}

/* Activations for batches up to B×T whose MoE buffers hold the route's k slots per token. */
static void alloc_acts(LmModel *m, const MoeOverride *route, int B, int T) {
    int rk = route_kmax(m, route);
    if (m->acts && T <= m->T && (long)B * T <= (long)m->B * m->T && m->lean == m->acts_lean &&
        rk <= m->acts_kmax)
        return; /* fits the current block (and its FFN sub-blocks, if any, fit any batch) */
    int fb = ffn_block_for(m, (long)B * T);
    free_acts(m);
    m->ffn_block = fb, m->head_block = head_block_for(m, (long)B * T); /* the layout reads both */
    m->acts = ml_alloc(m->cfg.n_layer * sizeof(LayerActs));
    long n = layout_acts(m, NULL, B, T);
    m->acts_mem = ml_alloc_floats(n);
    layout_acts(m, m->acts_mem, B, T);
    int held = -1; /* slots every MoE layer's buffers hold: a route k up to this fits */
    for (int l = 0; l < m->cfg.n_layer; l++) {
        const MoeConfig *own = &m->layer_ffn[l];
        int c = own->max_k > own->top_k ? own->max_k : own->top_k;
        c = c > rk ? c : rk;
        if (own->router != ROUTER_DENSE && (held < 0 || c < held)) held = c;
    }
    if (held < 0) held = rk;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        MoeActs *ma = &m->acts[l].moe;
        MoeConfig f = m->layer_ffn[l]; /* the model's, with room for the route's k */
        int ez = f.n_experts + f.n_zero;
        if (rk > f.top_k && rk > f.max_k) f.max_k = rk < ez ? rk : ez;
        int j = moe_share(m, l);
        if (m->has_grads)
            moe_acts_alloc(ma, &f, B * T, T);
        else if (j >= 0) /* the same buffers */
            *ma = m->acts[j].moe;
        else
            moe_acts_alloc_infer(ma, &f, fb ? fb : B * T, fb ? fb : T, m->lean != LM_LEAN);
    }
    m->B = B, m->T = T, m->acts_lean = m->lean, m->ffn_block = fb, m->acts_kmax = held;
}

void lm_alloc_acts(LmModel *m, int B, int T) {
    alloc_acts(m, m->route, B, T);
}

static void norm_forward(const LmConfig *c, float *out, float *mean, float *rstd, const float *inp,
                         const float *w, const float *b, int N) {
    if (c->block == BLOCK_GPT2)
        layernorm_forward(out, mean, rstd, inp, w, b, N, c->d_model, c->norm_eps);
    else
        rmsnorm_forward(out, rstd, inp, w, N, c->d_model, c->norm_eps);
}

static void norm_backward(const LmConfig *c, float *dinp, float *dw, float *db, const float *dout,
                          const float *inp, const float *w, const float *mean, const float *rstd,
                          int N) {
    if (c->block == BLOCK_GPT2)
        layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, c->d_model);
    else
        rmsnorm_backward(dinp, dw, dout, inp, w, rstd, N, c->d_model);
}

static void add_into(float *out, const float *a, const float *b, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* resid_mid rows [r0, r0 + B·T) = x rows + attention(norm(x rows)), B windows of T. */
static void attention_rows(LmModel *m, int l, const float *x_all, long r0, int B, int T) {
    const LmConfig *c = &m->cfg;
    const LayerParams *L = &m->params.layers[l];
    LayerActs *a = &m->acts[l];
    int N = B * T, C = c->d_model, hd = HD(c), qd = c->n_head * hd, kvd = c->n_kv_head * hd;
    const float *x = x_all + r0 * C;
    float *resid_mid = a->resid_mid + r0 * C;
    norm_forward(c, a->ln1, a->ln1_mean, a->ln1_rstd, x, L->ln1_w, L->ln1_b, N);
    wref_forward(c->qk_norm ? a->q_raw : a->q, a->ln1, wref_pick(L->wq, L->q_wq, 0), L->bq, N, C,
                 qd);
    wref_forward(c->qk_norm ? a->k_raw : a->k, a->ln1, wref_pick(L->wk, L->q_wk, 0), L->bk, N, C,
                 kvd);
    wref_forward(a->v, a->ln1, wref_pick(L->wv, L->q_wv, 0), L->bv, N, C, kvd);
    if (c->qk_norm == 2) { /* olmoe: over the whole width */
        rmsnorm_forward(a->q, a->q_rstd, a->q_raw, L->q_norm, N, qd, c->norm_eps);
        rmsnorm_forward(a->k, a->k_rstd, a->k_raw, L->k_norm, N, kvd, c->norm_eps);
    } else if (c->qk_norm) {
        rmsnorm_forward(a->q, a->q_rstd, a->q_raw, L->q_norm, N * c->n_head, hd, c->norm_eps);
        rmsnorm_forward(a->k, a->k_rstd, a->k_raw, L->k_norm, N * c->n_kv_head, hd, c->norm_eps);
    }
    if (c->block == BLOCK_LLAMA) {
        rope_forward(a->q, B, T, c->n_head, hd, hd, c->rope_base, c->rope_mode, 0);
        rope_forward(a->k, B, T, c->n_kv_head, hd, hd, c->rope_base, c->rope_mode, 0);
    }
    if (a->att)
        attention_forward(a->atty, a->att, a->q, a->k, a->v, B, T, c->n_head, c->n_kv_head, hd);
    else
        lm_attention_infer(a->atty, a->q, a->k, a->v, B, T, c->n_head, c->n_kv_head, hd);
    /* x is resid_mid itself in the lean sub-block layout: project into q, dead by now */
    float *proj = x == resid_mid ? a->q : resid_mid;
    wref_forward(proj, a->atty, wref_pick(L->wo, L->q_wo, 0), L->bo, N, qd, C);
    add_into(resid_mid, proj, x, (long)N * C);
}

/* The attention half of block l over the batch: whole, or m->window_attn windows at a time
 * through buffers sized for them; every window's rows are its own, so the two agree within float
 * rounding (OpenBLAS rounds a row differently with the number of rows in the call). */
static void attention_block_forward(LmModel *m, int l, const float *x, int B, int T) {
    const int G = m->window_attn ? m->window_attn : B;
    for (int b = 0; b < B; b += G) attention_rows(m, l, x, (long)b * T, B - b < G ? B - b : G, T);
}

/* External models: just the needed rows of the (quantised) token embedding. */
static void embed_rows_external(LmModel *m, const int32_t *tokens, int N) {
    const int C = m->cfg.d_model;
    WRef w = wref_pick(NULL, m->params.q_wte, 0);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) wref_rows(m->embed + (long)n * C, w, tokens[n], 1, C);
}

/* out = resid_mid + MoE(norm(resid_mid)): over the whole batch, or (m->ffn_block) over token
 * sub-blocks of that many rows, which the layout sized its norm and MoE buffers for. */
/* Adds the last MoE forward of layer l to the routed-expert count (lm_mean_k). */
static void count_routed(LmModel *m, int l) {
    const MoeActs *a = &m->acts[l].moe;
    if (m->layer_ffn[l].router == ROUTER_DENSE) return;
    m->routed_slots += (double)a->N * a->k - a->n_pruned;
    m->routed_rows += a->N;
}

double lm_mean_k(const LmModel *m) {
    return m->routed_rows > 0 ? m->routed_slots / m->routed_rows : 0;
}

/* Hands rows [s, s + n) of layer l's FFN to the observer, if any, before out = resid + ffn is
 * formed (the lean sub-block layout forms it in resid_mid itself). */
static void observe_ffn(const LmObserver *obs, int l, long s, int n, const float *resid,
                        const float *ffn, const MoeActs *moe) {
    if (obs && obs->ffn) obs->ffn(obs->ctx, &(LmFfnRows){l, s, n, resid, ffn, moe});
}

static void ffn_block_forward(LmModel *m, const MoeOverride *ov, int l, const int32_t *tokens,
                              const int32_t *domains, int B, int T, int train,
                              const LmObserver *obs) {
    const int count = ov == (m->route ? &m->route[l] : NULL); /* the model's own route */
    const LmConfig *c = &m->cfg;
    const LayerParams *L = &m->params.layers[l];
    LayerActs *a = &m->acts[l];
    const long N = (long)B * T, C = c->d_model;
    if (!m->ffn_block || N <= m->ffn_block) {
        norm_forward(c, a->ln2, a->ln2_mean, a->ln2_rstd, a->resid_mid, L->ln2_w, L->ln2_b, N);
        moe_forward(a->ffn_out, &a->moe, &L->ffn, &m->layer_ffn[l], ov, a->ln2, tokens, domains, B,
                    T, train, &m->noise_rng);
        if (count) count_routed(m, l);
        observe_ffn(obs, l, 0, (int)N, a->resid_mid, a->ffn_out, &a->moe);
        add_into(a->out, a->resid_mid, a->ffn_out, N * C);
        return;
    }
    for (long s = 0; s < N; s += m->ffn_block) {
        int n = (int)(N - s < m->ffn_block ? N - s : m->ffn_block);
        norm_forward(c, a->ln2, a->ln2_mean, a->ln2_rstd, a->resid_mid + s * C, L->ln2_w, L->ln2_b,
                     n);
        float *fo = a->out == a->resid_mid ? a->ffn_out : a->ffn_out + s * C; /* one sub-block */
        moe_forward(fo, &a->moe, &L->ffn, &m->layer_ffn[l], ov, a->ln2, tokens ? tokens + s : NULL,
                    domains ? domains + s : NULL, 1, n, train, &m->noise_rng);
        if (count) count_routed(m, l);
        observe_ffn(obs, l, s, n, a->resid_mid + s * C, fo, &a->moe);
        add_into(a->out + s * C, a->resid_mid + s * C, fo, n * C);
    }
}

/* logits = lnf · headᵀ and, with targets, their summed cross-entropy: over the whole batch, or
 * (lean scoring, m->head_block) over blocks of rows, each block's logits overwriting the last. */
static double head_forward(LmModel *m, const float *x, const int32_t *targets, int N,
                           const LmObserver *obs) {
    const LmConfig *c = &m->cfg;
    const int C = c->d_model, V = c->vocab_size;
    const WRef head = wref_pick(m->params.lm_head, m->params.q_lm_head, 0);
    const int rows = m->head_block && m->head_block < N ? m->head_block : N;
    if (!targets && rows < N) ml_fatal("lm_forward: blocked logits need targets (lean scoring)");
    double nll = 0;
    for (int s = 0; s < N; s += rows) {
        int n = N - s < rows ? N - s : rows;
        const float *in = m->lnf + (long)s * C;
        if (m->window_attn) /* the final norm of these rows alone (m->lnf holds a block) */
            norm_forward(c, m->lnf, m->lnf_mean + s, m->lnf_rstd + s, x + (long)s * C,
                         m->params.lnf_w, m->params.lnf_b, n),
                in = m->lnf;
        wref_forward(m->logits, in, head, NULL, n, C, V);
        if (targets) nll += xent_forward(m->logits, m->losses + s, m->logits, targets + s, n, V);
        if (obs && obs->head) obs->head(obs->ctx, s, n, m->logits);
    }
    return nll;
}

double lm_forward(LmModel *m, const int32_t *tokens, const int32_t *targets, const int32_t *domains,
                  int B, int T, int train) {
    return lm_forward_routed(m, m->route, tokens, targets, domains, B, T, train);
}

static double forward(LmModel *m, const MoeOverride *route, const int32_t *tokens,
                      const int32_t *targets, const int32_t *domains, int B, int T, int train,
                      const LmObserver *obs) {
    const LmConfig *c = &m->cfg;
    alloc_acts(m, route, B, T);
    int N = B * T, C = c->d_model;
    if (m->params.wte)
        embed_forward(m->embed, tokens, m->params.wte, m->params.wpe, B, T, C);
    else
        embed_rows_external(m, tokens, N);
    const float *x = m->embed;
    for (int l = 0; l < c->n_layer; l++) {
        LayerActs *a = &m->acts[l];
        attention_block_forward(m, l, x, B, T);
        ffn_block_forward(m, route ? &route[l] : NULL, l, tokens, domains, B, T, train, obs);
        x = a->out;
    }
    if (!m->window_attn)
        norm_forward(c, m->lnf, m->lnf_mean, m->lnf_rstd, x, m->params.lnf_w, m->params.lnf_b, N);
    return head_forward(m, x, targets, N, obs);
}

double lm_forward_routed(LmModel *m, const MoeOverride *route, const int32_t *tokens,
                         const int32_t *targets, const int32_t *domains, int B, int T, int train) {
    return forward(m, route, tokens, targets, domains, B, T, train, NULL);
}

double lm_forward_observed(LmModel *m, const LmObserver *obs, const int32_t *tokens,
                           const int32_t *targets, const int32_t *domains, int B, int T) {
    if (m->lean != LM_LEAN_OBSERVED || m->has_grads || !targets)
        ml_fatal("lm_forward_observed: needs targets and an inference model set to "
                 "LM_LEAN_OBSERVED");
    return forward(m, m->route, tokens, targets, domains, B, T, 0, obs);
}

double lm_aux_loss(const LmModel *m) {
    double s = 0;
    for (int l = 0; l < m->cfg.n_layer; l++) {
        const MoeConfig *f = &m->layer_ffn[l];
        const MoeActs *a = &m->acts[l].moe;
        s += f->aux_lb_coef * a->aux_lb + f->aux_z_coef * a->aux_z +
             f->aux_group_coef * a->aux_group + f->aux_imp_coef * a->aux_imp +
             f->aux_load_coef * a->aux_load;
    }
    return s;
}

long lm_count_targets(const int32_t *targets, long n) {
    long k = 0;
    for (long i = 0; i < n; i++) k += targets[i] >= 0;
    return k;
}

void lm_zero_grads(LmModel *m) {
    memset(m->grads_mem, 0, m->n_params * sizeof(float));
}

/* LmGradHook: grads_mem[at, end) is final; the calls below cover it once, in backward order. */
static void grads_ready(const LmModel *m, const float *at, const float *end) {
    if (m->grad_hook && end > at)
        m->grad_hook->ready(m->grad_hook->ctx, at - m->grads_mem, end - at);
}
static void grads_progress(const LmModel *m) {
    if (m->grad_hook) m->grad_hook->progress(m->grad_hook->ctx);
}

/* d_resid holds dL/d(block output) on entry and dL/d(block input) on exit. */
static void attention_block_backward(LmModel *m, int l, const float *x, int B, int T) {
    const LmConfig *c = &m->cfg;
    const LayerParams *L = &m->params.layers[l];
    LayerParams *G = &m->grads.layers[l];
    LayerActs *a = &m->acts[l];
    int N = B * T, C = c->d_model, hd = HD(c), qd = c->n_head * hd, kvd = c->n_kv_head * hd;
    memset(m->d_atty, 0, sizeof(float) * N * qd);
    linear_backward(m->d_atty, G->wo, G->bo, m->d_resid, a->atty, L->wo, N, qd, C);
    memset(m->d_q, 0, sizeof(float) * N * qd);
    memset(m->d_k, 0, sizeof(float) * N * kvd);
    memset(m->d_v, 0, sizeof(float) * N * kvd);
    attention_backward(m->d_q, m->d_k, m->d_v, m->d_atty, a->att, a->q, a->k, a->v, B, T, c->n_head,
                       c->n_kv_head, hd);
    grads_progress(m);
    if (c->block == BLOCK_LLAMA) {
        rope_backward(m->d_q, B, T, c->n_head, hd, hd, c->rope_base, c->rope_mode, 0);
        rope_backward(m->d_k, B, T, c->n_kv_head, hd, hd, c->rope_base, c->rope_mode, 0);
    }
    float *dq = m->d_q, *dk = m->d_k;
    if (c->qk_norm) {
        memset(m->d_qr, 0, sizeof(float) * N * qd);
        memset(m->d_kr, 0, sizeof(float) * N * kvd);
        int full = c->qk_norm == 2;
        rmsnorm_backward(m->d_qr, G->q_norm, m->d_q, a->q_raw, L->q_norm, a->q_rstd,
                         full ? N : N * c->n_head, full ? qd : hd);
        rmsnorm_backward(m->d_kr, G->k_norm, m->d_k, a->k_raw, L->k_norm, a->k_rstd,
                         full ? N : N * c->n_kv_head, full ? kvd : hd);
        dq = m->d_qr, dk = m->d_kr;
    }
    memset(m->d_ln, 0, sizeof(float) * N * C);
    linear_backward(m->d_ln, G->wq, G->bq, dq, a->ln1, L->wq, N, C, qd);
    linear_backward(m->d_ln, G->wk, G->bk, dk, a->ln1, L->wk, N, C, kvd);
    linear_backward(m->d_ln, G->wv, G->bv, m->d_v, a->ln1, L->wv, N, C, kvd);
    norm_backward(c, m->d_resid, G->ln1_w, G->ln1_b, m->d_ln, x, L->ln1_w, a->ln1_mean, a->ln1_rstd,
                  N);
}

void lm_backward(LmModel *m, const int32_t *tokens, const int32_t *targets, int B, int T,
                 float loss_scale, float aux_scale) {
    xent_backward(m->logits, m->logits, targets, B * T, m->cfg.vocab_size, loss_scale);
    lm_backward_dlogits(m, tokens, B, T, aux_scale);
}

void lm_backward_dlogits(LmModel *m, const int32_t *tokens, int B, int T, float aux_scale) {
    const LmConfig *c = &m->cfg;
    int N = B * T, C = c->d_model, V = c->vocab_size;
    memset(m->d_ln, 0, sizeof(float) * N * C);
    linear_backward(m->d_ln, m->grads.lm_head, NULL, m->logits, m->lnf, m->params.lm_head, N, C, V);
    memset(m->d_resid, 0, sizeof(float) * N * C);
    const float *last = c->n_layer ? m->acts[c->n_layer - 1].out : m->embed;
    norm_backward(c, m->d_resid, m->grads.lnf_w, m->grads.lnf_b, m->d_ln, last, m->params.lnf_w,
                  m->lnf_mean, m->lnf_rstd, N);
    /* the block parameters lie layer after layer between the embeddings and the final norm */
    float *blocks = c->n_layer ? m->grads.layers[0].ln1_w : m->grads.lnf_w;
    grads_ready(m, m->grads.lnf_w, m->grads_mem + m->n_params); /* (an untied head is here) */
    for (int l = c->n_layer - 1; l >= 0; l--) {
        LayerActs *a = &m->acts[l];
        const LayerParams *L = &m->params.layers[l];
        LayerParams *G = &m->grads.layers[l];
        const float *x = l ? m->acts[l - 1].out : m->embed;
        /* FFN: out = resid_mid + MoE(norm(resid_mid)) */
        MoeConfig f =
            m->layer_ffn[l]; /* aux gradients scaled like the main loss (grad accumulation) */
        f.aux_lb_coef *= aux_scale;
        f.aux_z_coef *= aux_scale;
        f.aux_group_coef *= aux_scale;
        memset(m->d_ffn, 0, sizeof(float) * N * C);
        moe_backward(m->d_ffn, &G->ffn, m->d_resid, &a->moe, &L->ffn, &f, a->ln2, B, T);
        grads_progress(m);
        norm_backward(c, m->d_resid, G->ln2_w, G->ln2_b, m->d_ffn, a->resid_mid, L->ln2_w,
                      a->ln2_mean, a->ln2_rstd, N);
        attention_block_backward(m, l, x, B, T);
        grads_ready(m, G->ln1_w,
                    l + 1 < c->n_layer ? m->grads.layers[l + 1].ln1_w : m->grads.lnf_w);
    }
    embed_backward(m->grads.wte, m->grads.wpe, m->d_resid, tokens, B, T, C);
    grads_ready(m, m->grads_mem, blocks); /* the embeddings (and a tied head) last */
}
