/* Export of a llama-style moelens LM, with its byte-level BPE tokenizer, as a GGUF file that
 * llama.cpp runs: architecture `llama` (Mixtral layout: experts as 3-D stacks, renormalised top-k;
 * or a dense llama when no layer is MoE), or `olmoe` for models with full-width QK-norm
 * (qk_norm=2, NEOX RoPE, raw top-k softmax weights). Format and mapping: docs/gguf.md, "Export". */
#pragma once
#include "data/tokenizer.h"
#include "model/lm.h"

/* "olmoe" when c->qk_norm == 2, else "llama". */
const char *lm_export_arch(const LmConfig *c);
/* Can llama.cpp's architecture compute exactly this model? 0, or -1 + ml_error naming the
 * config option that it cannot express (block, qk_norm, n_zero, n_shared, router, score, ...). */
int lm_export_check(const LmConfig *c, const Tokenizer *tok);

/* Writes m (a model with its own float parameters, not an external one) and tok as PATH,
 * atomically. f16: matrices (embedding, attention, experts, output) as F16; norms and routers
 * stay F32. name goes to general.name (may be NULL). */
int lm_export_gguf(const LmModel *m, const Tokenizer *tok, const char *path, int f16,
                   const char *name);
