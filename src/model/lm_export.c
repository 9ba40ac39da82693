#include "model/lm_export.h"
#include "core/error.h"
#include "core/mem.h"
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "nn/moe_kinds.h"
#include <stdio.h>
#include <string.h>


/* llama.cpp architecture of the export: `olmoe` for full-width QK-norm models, else `llama`. */
const char *lm_export_arch(const LmConfig *c) {
    return c->qk_norm == 2 ? "olmoe" : "llama";
}

static int refuse(const LmConfig *c, const char *option, const char *why) {
    return ml_error("export: %s: %s (llama.cpp's %s architecture cannot express it)", option, why,
                    lm_export_arch(c));
}

/* The routed layers. Both graphs take a softmax over all E router logits and the top k; `llama`
 * (Mixtral) renormalises the k weights, `olmoe` does not; neither scales them. moelens'
 * topk_softmax (softmax over the k picked logits) equals the renormalised form. */
static int check_moe(const LmConfig *c) {
    const MoeConfig *f = &c->moe;
    const int olmoe = c->qk_norm == 2, all = f->top_k >= f->n_experts + f->n_zero;
    char why[160];
    if (f->n_zero) return refuse(c, "n_zero", "zero-output experts");
    if (f->n_shared) return refuse(c, "n_shared", "shared experts");
    if (f->router != ROUTER_LEARNED) {
        snprintf(why, sizeof why, "router=%s (only learned linear routers)",
                 moe_router_name(f->router));
        return refuse(c, "router", why);
    }
    if (f->level != ROUTE_TOKEN) return refuse(c, "routing", "sequence-level routing");
    if (f->capacity_factor != 0)
        return refuse(c, "capacity_factor", "a capacity limit drops tokens");
    if (f->score == SCORE_SIGMOID) return refuse(c, "score", "score=sigmoid");
    int renormalised = f->score == SCORE_TOPK_SOFTMAX || f->renorm || all;
    if (!olmoe && !renormalised) {
        snprintf(why, sizeof why, "score=%s with renorm=0 (llama renormalises the top-k weights)",
                 moe_score_name(f->score));
        return refuse(c, "renorm", why);
    }
    if (olmoe && f->score == SCORE_TOPK_SOFTMAX && !all)
        return refuse(c, "score",
                      "score=topk_softmax (olmoe keeps the softmax weights of all "
                      "experts; use softmax_topk with renorm=0)");
    if (olmoe && f->renorm && !all)
        return refuse(c, "renorm", "renorm=1 (olmoe does not renormalise the top-k weights)");
    if (f->weight_scale != 1.0f) return refuse(c, "weight_scale", "a routed-weight scale");
    return 0;
}

/* olmoe: q/k norms over the whole width of n_embd, so n_kv_head = n_head and head_dim = d/heads;
 * NEOX RoPE; always MoE; an output matrix of its own. */
static int check_olmoe(const LmConfig *c) {
    if (c->rope_mode != ROPE_NEOX) return refuse(c, "rope_mode", "rope_mode=norm");
    if (c->n_kv_head != c->n_head) return refuse(c, "n_kv_head", "grouped-query attention");
    if (lm_head_dim(c) * c->n_head != c->d_model)
        return refuse(c, "head_dim", "head_dim · n_head != d_model");
    if (c->tied) return refuse(c, "tied", "a tied output (olmoe needs output.weight)");
    return 0;
}

int lm_export_check(const LmConfig *c, const Tokenizer *tok) {
    if (c->block != BLOCK_LLAMA)
        return refuse(c, "block",
                      "block=gpt2 (LayerNorm, learned positions, GELU, biases); train with --set "
                      "block=llama");
    if (c->qk_norm == 1) return refuse(c, "qk_norm", "per-head QK-norm (qk_norm=1; 2 → olmoe)");
    if (c->qkv_bias) return refuse(c, "qkv_bias", "biases on q, k, v");
    if (c->moe.act != EXPERT_SWIGLU) return refuse(c, "expert_act", "GELU FFNs (only swiglu)");
    /* (SwiGLU FFNs never carry biases: expert_bias only applies to GELU ones) */
    int n_moe = 0;
    for (int l = 0; l < c->n_layer; l++) n_moe += lm_layer_is_moe(c, l);
    if (n_moe && n_moe != c->n_layer)
        return refuse(c, "moe_every/first_dense", "dense and MoE layers mixed in one model");
    if (c->qk_norm == 2 && !n_moe) return refuse(c, "moe_every", "a dense model");
    if (c->qk_norm == 2 && check_olmoe(c)) return -1;
    if (n_moe && check_moe(c)) return -1;
    if (tok && tokenizer_vocab_size(tok) != c->vocab_size)
        return ml_error("export: the tokenizer has %d tokens but the model's vocab_size is %d",
                        tokenizer_vocab_size(tok), c->vocab_size);
    return 0;
}

typedef struct {
    GgufWriter *w;
    int f16;
    float **owned; /* permuted copies, freed after writing */
    int n_owned;
} Out;

static int tensor(Out *o, const char *name, const float *x, int matrix, uint64_t ne0, uint64_t ne1,
                  uint64_t ne2) {
    uint64_t ne[3] = {ne0, ne1, ne2};
    int nd = ne2 > 1 ? 3 : ne1 > 1 ? 2 : 1;
    return gguf_w_tensor(o->w, name, o->f16 && matrix ? GGML_F16 : GGML_F32, x, nd, ne);
}

/* llama.cpp rotates adjacent pairs (2i, 2i+1) in the llama architecture; a model trained with
 * rope_mode=neox rotates (i, i + HD/2). Reordering each head's rows as new 2i+j = old j·HD/2+i
 * (convert_hf_to_gguf.py's LlamaModel.permute) makes the norm rotation compute the neox one;
 * q·k is unchanged because q and k are permuted alike. olmoe rotates NEOX itself: no change. */
static const float *rope_rows(Out *o, const float *w, int heads, int hd, int C, RopeMode mode,
                              int native_neox) {
    if (mode == ROPE_NORM || native_neox) return w;
    float *p = ml_alloc_floats((size_t)heads * hd * C);
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < hd / 2; i++)
            for (int j = 0; j < 2; j++)
                memcpy(p + ((size_t)h * hd + 2 * i + j) * C,
                       w + ((size_t)h * hd + j * (hd / 2) + i) * C, sizeof(float) * C);
    o->owned[o->n_owned++] = p;
    return p;
}

static int layer_tensors(Out *o, const LmModel *m, int l) {
    const LmConfig *c = &m->cfg;
    const LayerParams *L = &m->params.layers[l];
    const MoeConfig *f = &m->layer_ffn[l];
    const uint64_t C = c->d_model, hd = lm_head_dim(c), qd = c->n_head * hd,
                   kvd = c->n_kv_head * hd, H = f->hidden, E = f->n_experts;
    char nm[96];
#define NAME(s) (snprintf(nm, sizeof nm, "blk.%d.%s", l, s), nm)
    const float *wq =
        rope_rows(o, L->wq, c->n_head, (int)hd, (int)C, c->rope_mode, c->qk_norm == 2);
    const float *wk =
        rope_rows(o, L->wk, c->n_kv_head, (int)hd, (int)C, c->rope_mode, c->qk_norm == 2);
    if (tensor(o, NAME("attn_norm.weight"), L->ln1_w, 0, C, 1, 1) ||
        tensor(o, NAME("attn_q.weight"), wq, 1, C, qd, 1) ||
        tensor(o, NAME("attn_k.weight"), wk, 1, C, kvd, 1) ||
        tensor(o, NAME("attn_v.weight"), L->wv, 1, C, kvd, 1) ||
        tensor(o, NAME("attn_output.weight"), L->wo, 1, qd, C, 1) ||
        tensor(o, NAME("ffn_norm.weight"), L->ln2_w, 0, C, 1, 1))
        return -1;
    if (c->qk_norm == 2 && /* olmoe: over the whole q / k width */
        (tensor(o, NAME("attn_q_norm.weight"), L->q_norm, 0, qd, 1, 1) ||
         tensor(o, NAME("attn_k_norm.weight"), L->k_norm, 0, kvd, 1, 1)))
        return -1;
    const MoeParams *p = &L->ffn;
    if (f->router == ROUTER_DENSE) /* wg, wu [1, H, C], wd [1, C, H] */
        return tensor(o, NAME("ffn_gate.weight"), p->wg, 1, C, H, 1) ||
               tensor(o, NAME("ffn_up.weight"), p->wu, 1, C, H, 1) ||
               tensor(o, NAME("ffn_down.weight"), p->wd, 1, H, C, 1);
    /* The router stays F32, as convert_hf_to_gguf.py keeps ffn_gate_inp. */
    return tensor(o, NAME("ffn_gate_inp.weight"), p->router_w, 0, C, E, 1) ||
           tensor(o, NAME("ffn_gate_exps.weight"), p->wg, 1, C, H, E) ||
           tensor(o, NAME("ffn_up_exps.weight"), p->wu, 1, C, H, E) ||
           tensor(o, NAME("ffn_down_exps.weight"), p->wd, 1, H, C, E);
#undef NAME
}

static int hparams(GgufWriter *w, const LmModel *m, int f16, const char *name) {
    const LmConfig *c = &m->cfg;
    const char *arch = lm_export_arch(c);
    const int hd = lm_head_dim(c), moe = lm_layer_is_moe(c, 0);
    char k[96];
#define KEY(s) (snprintf(k, sizeof k, "%s.%s", arch, s), k)
    int r = gguf_w_str(w, "general.architecture", arch) |
            gguf_w_str(w, "general.name", name && *name ? name : "moelens") |
            gguf_w_u32(w, "general.file_type", f16 ? 1 : 0) | /* ALL_F32 / MOSTLY_F16 */
            gguf_w_u32(w, KEY("vocab_size"), (uint32_t)c->vocab_size) |
            gguf_w_u32(w, KEY("context_length"), (uint32_t)c->seq_len) |
            gguf_w_u32(w, KEY("embedding_length"), (uint32_t)c->d_model) |
            gguf_w_u32(w, KEY("block_count"), (uint32_t)c->n_layer) |
            gguf_w_u32(w, KEY("feed_forward_length"), (uint32_t)m->layer_ffn[0].hidden) |
            gguf_w_u32(w, KEY("attention.head_count"), (uint32_t)c->n_head) |
            gguf_w_u32(w, KEY("attention.head_count_kv"), (uint32_t)c->n_kv_head) |
            gguf_w_f32(w, KEY("attention.layer_norm_rms_epsilon"), c->norm_eps) |
            gguf_w_f32(w, KEY("rope.freq_base"), c->rope_base) |
            gguf_w_u32(w, KEY("rope.dimension_count"), (uint32_t)hd);
    if (hd * c->n_head != c->d_model)
        r |= gguf_w_u32(w, KEY("attention.key_length"), (uint32_t)hd) |
             gguf_w_u32(w, KEY("attention.value_length"), (uint32_t)hd);
    if (moe)
        r |= gguf_w_u32(w, KEY("expert_count"), (uint32_t)c->moe.n_experts) |
             gguf_w_u32(w, KEY("expert_used_count"), (uint32_t)c->moe.top_k);
#undef KEY
    return r ? -1 : 0;
}

/* GPT-2 style byte-level BPE: tokens as bytes_to_unicode strings, merges "a b" by rank, the
 * GPT-2 pre-tokenizer (moelens' is exactly its regex), end-of-text as BOS/EOS, no BOS added. */
static int vocab(GgufWriter *w, const Tokenizer *tok) {
    const int V = tokenizer_vocab_size(tok), M = tokenizer_num_merges(tok),
              eot = tokenizer_eot(tok);
    const char **strs = ml_alloc(sizeof(char *) * (V > M ? V : M));
    int32_t *types = ml_alloc(sizeof(int32_t) * V);
    for (int i = 0; i < V; i++) {
        strs[i] = tokenizer_token_str(tok, i);
        types[i] = i == eot ? 3 : 1; /* CONTROL : NORMAL */
    }
    int r = gguf_w_str(w, "tokenizer.ggml.model", "gpt2") |
            gguf_w_str(w, "tokenizer.ggml.pre", "gpt-2") |
            gguf_w_str_array(w, "tokenizer.ggml.tokens", strs, (uint64_t)V) |
            gguf_w_array(w, "tokenizer.ggml.token_type", GGUF_T_INT32, types, (uint64_t)V);
    for (int i = 0; i < M; i++) strs[i] = tokenizer_merge_str(tok, i);
    r |= gguf_w_str_array(w, "tokenizer.ggml.merges", strs, (uint64_t)M) |
         gguf_w_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)eot) |
         gguf_w_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eot) |
         gguf_w_bool(w, "tokenizer.ggml.add_bos_token", 0) |
         gguf_w_bool(w, "tokenizer.ggml.add_eos_token", 0);
    ml_free(strs), ml_free(types);
    return r ? -1 : 0;
}

int lm_export_gguf(const LmModel *m, const Tokenizer *tok, const char *path, int f16,
                   const char *name) {
    const LmConfig *c = &m->cfg;
    if (m->external)
        return ml_error("export: %s: the model is a GGUF file already (export needs a run)", path);
    if (lm_export_check(c, tok)) return -1;
    Out o = {gguf_writer_new(), f16, ml_alloc(sizeof(float *) * 2 * c->n_layer), 0};
    const uint64_t C = c->d_model, V = c->vocab_size;
    int r = hparams(o.w, m, f16, name) || vocab(o.w, tok) ||
            tensor(&o, "token_embd.weight", m->params.wte, 1, C, V, 1);
    for (int l = 0; l < c->n_layer && !r; l++) r = layer_tensors(&o, m, l);
    r = r || tensor(&o, "output_norm.weight", m->params.lnf_w, 0, C, 1, 1);
    if (!r && !c->tied) r = tensor(&o, "output.weight", m->params.lm_head, 1, C, V, 1);
    if (r) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ml_errmsg());
        gguf_writer_free(o.w);
        ml_error("export: %s: %s", path, msg);
    } else {
        r = gguf_writer_write(o.w, path);
    }
    for (int i = 0; i < o.n_owned; i++) ml_free(o.owned[i]);
    ml_free(o.owned);
    return r ? -1 : 0;
}
