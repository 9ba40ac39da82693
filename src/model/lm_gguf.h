/* GGUF language models (docs/gguf.md) as moelens LmModels: the file's metadata becomes an
 * LmConfig (llama block in the family's variant) and its tensors are bound to an external model
 * (lm_create_external): matrices stay in the map (model/lm.c multiplies them through
 * nn/wmat.h); norms, biases, routers and the shared-expert gate are dequantised to floats.
 * Families (general.architecture): olmoe, llama (Mixtral: experts), qwen2moe, qwen3moe,
 * deepseek (DeepSeekMoE v1). */
#pragma once
#include "model/lm.h"

/* Opens PATH; the context (seq_len) is the file's context_length, at most max_ctx (> 0).
 * -1 + ml_error naming the file and the unknown family, missing key or bad tensor. */
int lm_gguf_open(const char *path, LmModel *m, int max_ctx);
/* The LmConfig that the file's metadata describes (no tensors bound). */
int lm_gguf_config(const GgufFile *g, LmConfig *c, int max_ctx);
