/* Configuration of a language model and of its training run. One table of named fields (see
 * lm_config.c) serves presets, `--set key=value`, `--config FILE` (JSON) and the checkpoint's
 * `__metadata__["config"]`, so every knob has one name everywhere. */
#pragma once
#include "nn/attention.h"
#include "nn/moe.h"
#include <stdint.h>

typedef enum { BLOCK_GPT2 = 0, BLOCK_LLAMA = 1 } BlockKind;

typedef struct {
    /* model */
    int vocab_size, d_model, n_layer, n_head, n_kv_head, seq_len;
    BlockKind block; /* gpt2: LayerNorm, learned positions, GELU, biases, tied; llama: RMSNorm,
                        RoPE, SwiGLU */
    int tied;        /* output projection shares the token embedding */
    int qk_norm;     /* RMSNorm on q and k: 1 per head over head_dim (qwen3moe), 2 over the whole
                        q and k width n_head·head_dim, n_kv_head·head_dim (olmoe) */
    int head_dim;    /* per-head width; 0 = d_model / n_head */
    int qkv_bias;    /* llama block: q, k, v projections carry biases (qwen2moe) */
    float norm_eps, rope_base;
    RopeMode rope_mode;
    int moe_every; /* FFN of layer l is MoE when l >= first_dense and (l - first_dense) % moe_every
                      == 0 */
    int first_dense;  /* leading dense layers (DeepSeekMoE) */
    int dense_hidden; /* FFN width of dense layers */
    MoeConfig moe;    /* template for every MoE layer (d_model filled in) */
    uint64_t seed;
    /* training */
    int batch, steps, grad_accum, warmup, eval_every, eval_batches, ckpt_every, log_every;
    float lr, min_lr_frac, weight_decay, beta1, beta2, adam_eps, grad_clip;
    int grad_overlap; /* under mpirun: reduce each block's gradient as the backward finishes it */
} LmConfig;

/* Presets: "tiny" and "small" (the sizes); -1 + ml_error for an unknown name. */
int lm_config_preset(LmConfig *c, const char *name);
/* Sets one field from text ("d_model=256", "router=cosine"); -1 + ml_error naming key/value. */
int lm_config_set(LmConfig *c, const char *key, const char *value);
int lm_config_set_kv(LmConfig *c, const char *kv); /* "key=value" */
/* Every field to a JSON object text (ml_free the result) and back. */
char *lm_config_to_json(const LmConfig *c);
int lm_config_from_json(LmConfig *c, const char *json, const char *source);
int lm_config_load_file(LmConfig *c, const char *path);
/* Cross-field checks (heads divide d_model, k ≤ E+Z, ...) and fills derived fields. */
int lm_config_finalize(LmConfig *c);
/* Per-head width (head_dim, or d_model / n_head). */
static inline int lm_head_dim(const LmConfig *c) {
    return c->head_dim > 0 ? c->head_dim : c->d_model / c->n_head;
}
/* Is layer l's FFN a sparse MoE layer (vs dense)? */
int lm_layer_is_moe(const LmConfig *c, int l);
/* Prints every field with its value and meaning (for --help). */
void lm_config_print_help(const LmConfig *c);
