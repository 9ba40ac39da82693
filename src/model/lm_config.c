#include "model/lm_config.h"
#include "core/config_table.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/mem.h"
#include "nn/moe_kinds.h"
#include <cjson/cJSON.h>
#include <float.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const block_names[] = {"gpt2", "llama", NULL};
static const char *const rope_names[] = {"norm", "neox", NULL};

/* Rows: name, field, default, help (FE: the value names before the default). */
#define FI(n, f, d, h)                                                                             \
    { n, CFG_INT, offsetof(LmConfig, f), NULL, h, NULL, d }
#define FF(n, f, d, h)                                                                             \
    { n, CFG_FLOAT, offsetof(LmConfig, f), NULL, h, NULL, d }
#define FE(n, f, c, d, h)                                                                          \
    { n, CFG_ENUM, offsetof(LmConfig, f), c, h, NULL, d }

static const CfgField fields[] = {
    FI("vocab_size", vocab_size, 8192, "vocabulary size (set from the tokenizer when training)"),
    FI("d_model", d_model, 0, "residual width"),
    FI("n_layer", n_layer, 0, "transformer blocks"),
    FI("n_head", n_head, 0, "attention heads"),
    FI("n_kv_head", n_kv_head, 0, "key/value heads (GQA); 0 = n_head"),
    FI("seq_len", seq_len, 0, "context length T"),
    FE("block", block, block_names, BLOCK_GPT2, "block style: gpt2 | llama"),
    FI("tied", tied, 1, "output projection shares the token embedding (1/0)"),
    FI("qk_norm", qk_norm, 0, "RMSNorm on q and k: 0 off, 1 per head, 2 over the whole q/k width"),
    FI("head_dim", head_dim, 0, "per-head width; 0 = d_model / n_head"),
    FI("qkv_bias", qkv_bias, 0, "llama block: biases on the q, k, v projections (1/0)"),
    FF("norm_eps", norm_eps, 1e-5, "normalisation epsilon"),
    FF("rope_base", rope_base, 10000, "RoPE base (llama block)"),
    FE("rope_mode", rope_mode, rope_names, ROPE_NEOX,
       "RoPE pairing: norm (adjacent) | neox (halves)"),
    FI("moe_every", moe_every, 1, "every n-th FFN is MoE (1 = all, 0 = none: dense model)"),
    FI("first_dense", first_dense, 0, "leading dense FFN layers"),
    FI("dense_hidden", dense_hidden, 0, "FFN width of dense layers; 0 = moe.hidden"),
    FI("n_experts", moe.n_experts, 8, "routed experts E (1 = dense baseline)"),
    FI("n_zero", moe.n_zero, 0, "zero-output experts Z"),
    FI("top_k", moe.top_k, 2, "experts per token k"),
    FI("expert_hidden", moe.hidden, 0, "expert FFN width"),
    FI("n_shared", moe.n_shared, 0, "shared (always-on) experts"),
    FI("shared_hidden", moe.shared_hidden, 0, "shared expert width; 0 = expert_hidden"),
    FI("shared_gate", moe.shared_gate, 0, "sigmoid gate on shared experts (qwen2moe) (1/0)"),
    FE("router", moe.router, moe_router_names, ROUTER_LEARNED,
       "router: learned | random | cosine | hash | domain | dense"),
    FE("score", moe.score, moe_score_names, SCORE_SOFTMAX_TOPK,
       "score order: softmax_topk | topk_softmax | sigmoid"),
    FI("renorm", moe.renorm, 0, "renormalise the top-k weights (1/0)"),
    FE("routing", moe.level, moe_level_names, ROUTE_TOKEN,
       "routing level: token | seq_causal | seq_mean"),
    FE("expert_act", moe.act, moe_act_names, EXPERT_GELU, "expert FFN: gelu | swiglu"),
    FI("expert_bias", moe.expert_bias, 1, "GELU experts carry biases (1/0)"),
    FF("capacity_factor", moe.capacity_factor, 0, "0 = dropless; else per-expert capacity factor"),
    FI("cos_dim", moe.cos_dim, 64, "cosine router projection dimension"),
    FF("aux_lb", moe.aux_lb_coef, 0.01, "Switch load-balance loss weight"),
    FF("aux_z", moe.aux_z_coef, 0.001, "router z-loss weight"),
    FF("aux_group", moe.aux_group_coef, 0, "ZEDA group balance loss weight (real vs zero experts)"),
    FF("aux_importance", moe.aux_imp_coef, 0,
       "Shazeer importance loss weight: CV(sum of combine weights per expert)^2"),
    FF("aux_load", moe.aux_load_coef, 0,
       "Shazeer load loss weight: CV(smooth top-k load per expert)^2; needs router_noise > 0"),
    FE("route_choice", moe.choice, moe_choice_names, CHOICE_TOKEN,
       "token (top-k per token); expert (top-c per expert) is the vision gate's only"),
    FF("zero_weight", moe.zero_weight, 0,
       "ZEDA w: target zero-slot share wZ/(wZ+E) of the group loss; 0 = 2"),
    FF("router_noise", moe.noise_std, 0, "train-time Gaussian noise std on router logits"),
    FI("router_noise_learned", moe.noise_learned, 0,
       "Shazeer noisy top-k: noise sd softplus(W_noise x) learned per expert (learned router; "
       "1/0)"),
    FF("router_jitter", moe.jitter, 0, "train-time multiplicative jitter on router input"),
    FF("bias_rate", moe.bias_rate, 0.001, "aux-loss-free balancing bias step (sigmoid scores)"),
    FF("weight_scale", moe.weight_scale, 1,
       "routed weights scale (DeepSeek routed_scaling_factor)"),
    FF("init_std", moe.init_std, 0.02, "parameter init std"),
    {"seed", CFG_U64, offsetof(LmConfig, seed), NULL, "random seed (init, data order, noise)", NULL,
     1234},
    FI("batch", batch, 0, "sequences per micro-batch B"),
    FI("steps", steps, 0, "optimizer steps"),
    FI("grad_accum", grad_accum, 1, "micro-batches per step"),
    FI("warmup", warmup, 0, "linear warm-up steps"),
    FI("eval_every", eval_every, 0, "steps between validation evaluations (0 = end only)"),
    FI("eval_batches", eval_batches, 8, "validation batches per evaluation"),
    FI("ckpt_every", ckpt_every, 0, "steps between checkpoints (0 = end only)"),
    FI("log_every", log_every, 10, "steps between metrics lines"),
    FF("lr", lr, 1e-3, "peak learning rate"),
    FF("min_lr_frac", min_lr_frac, 0.1, "final lr as a fraction of peak (cosine schedule)"),
    FF("weight_decay", weight_decay, 0.1, "AdamW weight decay (matrices only)"),
    FF("beta1", beta1, 0.9, "AdamW beta1"),
    FF("beta2", beta2, 0.95, "AdamW beta2"),
    FF("adam_eps", adam_eps, 1e-8, "AdamW epsilon"),
    FF("grad_clip", grad_clip, 1, "global gradient-norm clip (0 = off)"),
    FI("grad_overlap", grad_overlap, 1,
       "under mpirun: sum each block's gradient over the ranks (nonblocking) while the backward "
       "goes on, not after it (1/0; docs/scale.md)"),
};
static const CfgTable table = {fields, (int)(sizeof fields / sizeof fields[0])};

static void defaults(LmConfig *c) {
    memset(c, 0, sizeof *c);
    cfg_defaults(c, &table);
    c->moe.seed = 1234;
}

int lm_config_preset(LmConfig *c, const char *name) {
    defaults(c);
    if (!strcmp(name, "tiny")) {
        c->d_model = 128, c->n_layer = 4, c->n_head = 4, c->seq_len = 128, c->batch = 16;
        c->moe.hidden = 512;
        c->steps = 300, c->warmup = 30, c->eval_every = 100, c->ckpt_every = 100;
    } else if (!strcmp(name, "small")) {
        c->d_model = 256, c->n_layer = 6, c->n_head = 8, c->seq_len = 256, c->batch = 8;
        c->moe.hidden = 1024;
        c->steps = 2000, c->warmup = 100, c->eval_every = 250, c->ckpt_every = 250, c->lr = 6e-4f;
    } else {
        return ml_error("unknown preset '%s' (expected tiny or small)", name);
    }
    return 0;
}

int lm_config_set(LmConfig *c, const char *key, const char *value) {
    const CfgField *f = cfg_find(&table, key);
    if (!f) return ml_error("unknown config key '%s' (see moelens train lm --help)", key);
    if (cfg_set(c, f, value)) return -1;
    /* A block style brings the FFN conventions llama.cpp exports for it (SwiGLU experts,
     * renormalised top-k weights); set expert_act or renorm after block to change them. */
    if (f->offset == offsetof(LmConfig, block) && c->block == BLOCK_LLAMA)
        c->moe.act = EXPERT_SWIGLU, c->moe.renorm = 1;
    return 0;
}

int lm_config_set_kv(LmConfig *c, const char *kv) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) return ml_error("--set expects key=value, got '%s'", kv);
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    return lm_config_set(c, key, eq + 1);
}

char *lm_config_to_json(const LmConfig *c) {
    return cfg_json_text(&table, c, NULL, 1);
}

int lm_config_from_json(LmConfig *c, const char *json, const char *source) {
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return ml_error("%s: config is not a JSON object", source);
    }
    int r = cfg_from_json(c, &table, o, source, 0);
    cJSON_Delete(o);
    return r;
}

int lm_config_load_file(LmConfig *c, const char *path) {
    char *buf;
    if (ml_read_file(path, &buf, NULL)) return -1;
    int r = lm_config_from_json(c, buf, path);
    ml_free(buf);
    return r;
}

int lm_layer_is_moe(const LmConfig *c, int l) {
    if (c->moe_every <= 0 || l < c->first_dense) return 0;
    return (l - c->first_dense) % c->moe_every == 0;
}

/* Allowed ranges, checked for every source alike (presets, --set, JSON, checkpoints). Upper
 * bounds on sizes keep index arithmetic within int range; they are far beyond anything this CPU
 * trainer can run. */
static const CfgRange ranges[] = {
    {"vocab_size", 1, 1 << 24, 0},
    {"d_model", 1, 1 << 16, 0},
    {"n_layer", 1, 256, 0},
    {"n_head", 1, 1 << 12, 0},
    {"n_kv_head", 0, 1 << 12, 0},
    {"seq_len", 1, 1 << 20, 0},
    {"tied", 0, 1, 0},
    {"qk_norm", 0, 2, 0},
    {"head_dim", 0, 1 << 16, 0},
    {"qkv_bias", 0, 1, 0},
    {"norm_eps", 0, 1, 1},
    {"rope_base", 0, FLT_MAX, 1},
    {"moe_every", 0, 256, 0},
    {"first_dense", 0, 256, 0},
    {"dense_hidden", 0, 1 << 20, 0},
    {"n_experts", 1, 1 << 12, 0},
    {"n_zero", 0, 1 << 12, 0},
    {"expert_hidden", 0, 1 << 20, 0},
    {"n_shared", 0, 1 << 12, 0},
    {"shared_hidden", 0, 1 << 20, 0},
    {"cos_dim", 0, 1 << 16, 0},
    {"renorm", 0, 1, 0},
    {"shared_gate", 0, 1, 0},
    {"expert_bias", 0, 1, 0},
    {"init_std", 0, FLT_MAX, 0},
    {"batch", 1, 1 << 16, 0},
    {"steps", 0, INT_MAX, 0},
    {"grad_accum", 1, 1 << 16, 0},
    {"warmup", 0, INT_MAX, 0},
    {"eval_every", 0, INT_MAX, 0},
    {"eval_batches", 1, 1 << 20, 0},
    {"ckpt_every", 0, INT_MAX, 0},
    {"log_every", 1, INT_MAX, 0},
    {"lr", 0, FLT_MAX, 1},
    {"min_lr_frac", 0, 1, 0},
    {"weight_decay", 0, FLT_MAX, 0},
    {"beta1", 0, 0.99999994, 0}, /* < 1: Adam divides by 1 - beta^t */
    {"beta2", 0, 0.99999994, 0},
    {"adam_eps", 0, FLT_MAX, 1},
    {"grad_clip", 0, FLT_MAX, 0},
    {"aux_importance", 0, FLT_MAX, 0},
    {"aux_load", 0, FLT_MAX, 0},
    {"router_noise_learned", 0, 1, 0},
    {"grad_overlap", 0, 1, 0},
};

static int check_ranges(const LmConfig *c) {
    if (cfg_check_ranges(c, &table, ranges, (int)(sizeof ranges / sizeof ranges[0]))) return -1;
    /* token positions N = B·T are counted in int */
    if ((double)c->batch * c->seq_len > INT_MAX)
        return ml_error("config: batch·seq_len = %.0f exceeds %d positions",
                        (double)c->batch * c->seq_len, INT_MAX);
    return 0;
}

int lm_config_finalize(LmConfig *c) {
    if (check_ranges(c)) return -1;
    if (c->n_kv_head == 0) c->n_kv_head = c->n_head;
    if (c->d_model <= 0 || c->n_layer <= 0 || c->n_head <= 0 || c->seq_len <= 0 ||
        c->vocab_size <= 0)
        return ml_error(
            "config: d_model, n_layer, n_head, seq_len and vocab_size must be positive");
    if (c->head_dim < 0 || c->qk_norm < 0 || c->qk_norm > 2)
        return ml_error("config: head_dim must be >= 0 and qk_norm 0, 1 or 2");
    if (!c->head_dim && c->d_model % c->n_head)
        return ml_error("config: n_head=%d does not divide d_model=%d", c->n_head, c->d_model);
    if (c->n_head % c->n_kv_head)
        return ml_error("config: n_kv_head=%d does not divide n_head=%d", c->n_kv_head, c->n_head);
    if (c->batch <= 0 || c->grad_accum <= 0)
        return ml_error("config: batch and grad_accum must be positive");
    if (c->moe.choice == CHOICE_EXPERT) /* the layer's FFN dispatch takes top-k slots only */
        return ml_error("route_choice: expected token for the LM (expert is the vision gate's "
                        "option only), got expert");
    if (c->block == BLOCK_LLAMA && c->moe.act == EXPERT_GELU && c->moe.expert_bias)
        c->moe.expert_bias = 0;
    if (c->moe.shared_hidden == 0) c->moe.shared_hidden = c->moe.hidden;
    if (c->dense_hidden == 0) c->dense_hidden = c->moe.hidden;
    c->moe.d_model = c->d_model;
    return moe_validate(&c->moe);
}

void lm_config_print_help(const LmConfig *c) {
    cfg_print_help(&table, c);
}
