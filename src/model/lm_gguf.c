#include "model/lm_gguf.h"
#include "core/error.h"
#include "core/mem.h"
#include <stdio.h>
#include <string.h>

typedef enum { FAM_OLMOE, FAM_LLAMA, FAM_QWEN2MOE, FAM_QWEN3MOE, FAM_DEEPSEEK } Family;
static const char *const family_names[] = {"olmoe", "llama", "qwen2moe", "qwen3moe", "deepseek"};

typedef struct {
    const GgufFile *g;
    const char *arch;
    Family fam;
} Meta;

static const char *key(const Meta *mt, const char *suffix) {
    static _Thread_local char buf[160];
    snprintf(buf, sizeof buf, "%s.%s", mt->arch, suffix);
    return buf;
}

static int need_int(const Meta *mt, const char *suffix, int *v) {
    uint32_t u;
    if (gguf_get_u32(mt->g, key(mt, suffix), &u)) return -1;
    *v = (int)u;
    return 0;
}

static int opt_int(const Meta *mt, const char *suffix, int *v) {
    uint32_t u = (uint32_t)*v;
    if (gguf_opt_u32(mt->g, key(mt, suffix), &u)) return -1;
    *v = (int)u;
    return 0;
}

/* Tensor `name` with the shape ne0 × ne1 × ne2 (ggml order; 0 = unchecked), in a type moelens
 * dequantises. */
static int tensor_shaped(const GgufFile *g, const char *name, uint64_t ne0, uint64_t ne1,
                         uint64_t ne2, const GgufTensor **out) {
    const GgufTensor *t;
    if (gguf_get_tensor(g, name, &t)) return -1;
    uint64_t want[3] = {ne0, ne1, ne2};
    for (int i = 0; i < 3; i++)
        if (want[i] && t->ne[i] != want[i])
            return ml_error("%s: tensor '%s' has ne[%d] = %llu, expected %llu", g->path, name, i,
                            (unsigned long long)t->ne[i], (unsigned long long)want[i]);
    if (!gguf_ttype_supported(t->type))
        return ml_error("%s: tensor '%s' has type %s, which moelens does not dequantise", g->path,
                        name, gguf_ttype_name(t->type) ? gguf_ttype_name(t->type) : "unknown");
    *out = t;
    return 0;
}

static int find_family(Meta *mt) {
    for (int f = 0; f < (int)(sizeof family_names / sizeof *family_names); f++)
        if (!strcmp(mt->arch, family_names[f])) {
            mt->fam = (Family)f;
            return 0;
        }
    return ml_error("%s: architecture '%s' is not supported (expected olmoe, llama, qwen2moe, "
                    "qwen3moe or deepseek)",
                    mt->g->path, mt->arch);
}

/* Experts' FFN width from the tensors (the metadata keys differ between families). */
static int expert_width(const Meta *mt, int layer, int *H) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.ffn_gate_exps.weight", layer);
    const GgufTensor *t;
    if (gguf_get_tensor(mt->g, name, &t)) return -1;
    *H = (int)t->ne[1];
    return 0;
}

static int moe_config(const Meta *mt, LmConfig *c) {
    MoeConfig *f = &c->moe;
    int E = 0, k = 0, ff = 0;
    if (opt_int(mt, "expert_count", &E)) return -1;
    if (E == 0) {
        if (mt->fam != FAM_LLAMA)
            return ml_error("%s: missing metadata key '%s'", mt->g->path, key(mt, "expert_count"));
        c->moe_every = 0; /* a dense llama */
        f->n_experts = 1, f->top_k = 1;
    } else {
        if (need_int(mt, "expert_used_count", &k)) return -1;
        c->moe_every = 1;
        f->n_experts = E, f->top_k = k;
    }
    if (opt_int(mt, "leading_dense_block_count", &c->first_dense)) return -1;
    if (E == 0 || c->first_dense > 0) {
        if (need_int(mt, "feed_forward_length", &ff)) return -1;
        c->dense_hidden = ff;
    }
    if (E > 0 && expert_width(mt, c->first_dense, &f->hidden)) return -1;
    if (E == 0) f->hidden = ff;
    f->act = EXPERT_SWIGLU, f->expert_bias = 0, f->router = ROUTER_LEARNED,
    f->score = SCORE_SOFTMAX_TOPK;
    f->renorm = mt->fam == FAM_LLAMA || mt->fam == FAM_QWEN3MOE; /* llama.cpp's norm_w per family */
    f->aux_lb_coef = f->aux_z_coef = 0, f->noise_std = f->jitter = 0, f->capacity_factor = 0;
    float scale = 0;
    if (gguf_opt_f32(mt->g, key(mt, "expert_weights_scale"), &scale)) return -1;
    f->weight_scale = scale != 0.0f ? scale : 1.0f; /* llama.cpp: 0 (absent) and 1 mean none */
    if (mt->fam ==
        FAM_DEEPSEEK) { /* n_shared experts of width n_ff_exp: one MLP, n_shared·H wide */
        int S;
        if (need_int(mt, "expert_shared_count", &S)) return -1;
        f->n_shared = S > 0, f->shared_hidden = S * f->hidden;
    } else if (mt->fam == FAM_QWEN2MOE) {
        int hs = 0;
        if (opt_int(mt, "expert_shared_feed_forward_length", &hs)) return -1;
        if (!hs && need_int(mt, "feed_forward_length", &hs)) return -1;
        f->n_shared = 1, f->shared_hidden = hs, f->shared_gate = 1;
    }
    return 0;
}

int lm_gguf_config(const GgufFile *g, LmConfig *c, int max_ctx) {
    Meta mt = {g, NULL, 0};
    char *arch;
    if (gguf_get_strdup(g, "general.architecture", &arch)) return -1;
    mt.arch = arch;
    int r = -1;
    lm_config_preset(c, "tiny");
    if (find_family(&mt)) goto out;
    const GgufTensor *emb;
    if (gguf_get_tensor(g, "token_embd.weight", &emb)) goto out;
    c->vocab_size = (int)emb->ne[1];
    int ctx;
    if (need_int(&mt, "embedding_length", &c->d_model) ||
        need_int(&mt, "block_count", &c->n_layer) ||
        need_int(&mt, "attention.head_count", &c->n_head) || need_int(&mt, "context_length", &ctx))
        goto out;
    c->n_kv_head = c->n_head;
    if (opt_int(&mt, "attention.head_count_kv", &c->n_kv_head)) goto out;
    if (gguf_get_f32(g, key(&mt, "attention.layer_norm_rms_epsilon"), &c->norm_eps)) goto out;
    c->rope_base = 10000.0f;
    if (gguf_opt_f32(g, key(&mt, "rope.freq_base"), &c->rope_base)) goto out;
    int hd = c->n_head ? c->d_model / c->n_head : 0, rot = 0;
    if (opt_int(&mt, "attention.key_length", &hd) || opt_int(&mt, "rope.dimension_count", &rot))
        goto out;
    if (rot && rot != hd) {
        ml_error("%s: rope.dimension_count %d differs from the head width %d (partial RoPE is not "
                 "supported)",
                 g->path, rot, hd);
        goto out;
    }
    c->head_dim = hd;
    c->seq_len = ctx < max_ctx ? ctx : max_ctx;
    c->block = BLOCK_LLAMA;
    c->tied = gguf_tensor(g, "output.weight") == NULL;
    c->rope_mode = mt.fam == FAM_LLAMA || mt.fam == FAM_DEEPSEEK ? ROPE_NORM : ROPE_NEOX;
    c->qk_norm = mt.fam == FAM_OLMOE ? 2 : mt.fam == FAM_QWEN3MOE ? 1 : 0;
    c->qkv_bias = gguf_tensor(g, "blk.0.attn_q.bias") != NULL;
    c->batch = 1;
    if (moe_config(&mt, c)) goto out;
    if (lm_config_finalize(c)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ml_errmsg());
        ml_error("%s: %s", g->path, msg);
        goto out;
    }
    r = 0;
out:
    ml_free(arch);
    return r;
}

/* Dequantises a small tensor of exactly n elements into dst. */
static int small(const GgufFile *g, const char *name, float *dst, long n) {
    const GgufTensor *t = NULL;
    if (tensor_shaped(g, name, 0, 0, 0, &t)) return -1;
    uint64_t have = t->ne[0] * t->n_rows;
    if (have != (uint64_t)n)
        return ml_error("%s: tensor '%s' has %llu elements, expected %ld", g->path, name,
                        (unsigned long long)have, n);
    return gguf_dequant_rows(t, 0, t->n_rows, dst);
}

static int bind_ffn(const GgufFile *g, int l, MoeParams *p, const MoeConfig *f) {
    char nm[96];
    const long C = f->d_model, H = f->hidden, E = f->n_experts, Hs = f->shared_hidden;
    int dense = f->router == ROUTER_DENSE;
#define NAME(fmt) (snprintf(nm, sizeof nm, "blk.%d." fmt ".weight", l), nm)
    if (dense) {
        if (tensor_shaped(g, NAME("ffn_gate"), C, H, 1, &p->q_wg) ||
            tensor_shaped(g, NAME("ffn_up"), C, H, 1, &p->q_wu) ||
            tensor_shaped(g, NAME("ffn_down"), H, C, 1, &p->q_wd))
            return -1;
    } else {
        if (small(g, NAME("ffn_gate_inp"), p->router_w, E * C) ||
            tensor_shaped(g, NAME("ffn_gate_exps"), C, H, E, &p->q_wg) ||
            tensor_shaped(g, NAME("ffn_up_exps"), C, H, E, &p->q_wu) ||
            tensor_shaped(g, NAME("ffn_down_exps"), H, C, E, &p->q_wd))
            return -1;
        if (f->n_shared > 0 && (tensor_shaped(g, NAME("ffn_gate_shexp"), C, Hs, 1, &p->q_swg) ||
                                tensor_shaped(g, NAME("ffn_up_shexp"), C, Hs, 1, &p->q_swu) ||
                                tensor_shaped(g, NAME("ffn_down_shexp"), Hs, C, 1, &p->q_swd)))
            return -1;
        if (f->shared_gate && small(g, NAME("ffn_gate_inp_shexp"), p->shared_gate_w, C)) return -1;
    }
#undef NAME
    return 0;
}

static int bind_layer(LmModel *m, int l) {
    const GgufFile *g = m->gguf;
    const LmConfig *c = &m->cfg;
    LayerParams *L = &m->params.layers[l];
    const long C = c->d_model, hd = lm_head_dim(c), qd = c->n_head * hd, kvd = c->n_kv_head * hd;
    const long qn = c->qk_norm == 2 ? qd : hd, kn = c->qk_norm == 2 ? kvd : hd;
    char nm[96];
#define NAME(fmt) (snprintf(nm, sizeof nm, "blk.%d." fmt, l), nm)
    if (small(g, NAME("attn_norm.weight"), L->ln1_w, C) ||
        small(g, NAME("ffn_norm.weight"), L->ln2_w, C) ||
        tensor_shaped(g, NAME("attn_q.weight"), C, qd, 1, &L->q_wq) ||
        tensor_shaped(g, NAME("attn_k.weight"), C, kvd, 1, &L->q_wk) ||
        tensor_shaped(g, NAME("attn_v.weight"), C, kvd, 1, &L->q_wv) ||
        tensor_shaped(g, NAME("attn_output.weight"), qd, C, 1, &L->q_wo))
        return -1;
    if (c->qkv_bias &&
        (small(g, NAME("attn_q.bias"), L->bq, qd) || small(g, NAME("attn_k.bias"), L->bk, kvd) ||
         small(g, NAME("attn_v.bias"), L->bv, kvd)))
        return -1;
    if (c->qk_norm && (small(g, NAME("attn_q_norm.weight"), L->q_norm, qn) ||
                       small(g, NAME("attn_k_norm.weight"), L->k_norm, kn)))
        return -1;
#undef NAME
    return bind_ffn(g, l, &L->ffn, &m->layer_ffn[l]);
}

int lm_gguf_open(const char *path, LmModel *m, int max_ctx) {
    GgufFile *g;
    memset(m, 0, sizeof *m);
    if (gguf_open(&g, path)) return -1;
    LmConfig c;
    if (lm_gguf_config(g, &c, max_ctx > 0 ? max_ctx : 512) || lm_create_external(m, &c)) {
        gguf_close(g);
        return -1;
    }
    m->gguf = g;
    const long C = c.d_model, V = c.vocab_size;
    if (tensor_shaped(g, "token_embd.weight", C, V, 1, &m->params.q_wte) ||
        small(g, "output_norm.weight", m->params.lnf_w, C))
        goto fail;
    if (c.tied)
        m->params.q_lm_head = m->params.q_wte;
    else if (tensor_shaped(g, "output.weight", C, V, 1, &m->params.q_lm_head))
        goto fail;
    for (int l = 0; l < c.n_layer; l++)
        if (bind_layer(m, l)) goto fail;
    return 0;
fail:
    lm_free(m);
    return -1;
}
