/* Expert pruning of a GGUF MoE file (docs/gguf.md, "Pruning"): every MoE block keeps the same
 * number of its routed experts (a chosen subset per block); the stacked expert tensors
 * (ffn_{gate,up,down}_exps, expert axis outermost), the router rows (ffn_gate_inp) and any other
 * per-expert tensor of the block lose the dropped experts' slabs, copied byte for byte (whole
 * quantisation blocks, no re-quantising); `ARCH.expert_count` becomes the kept count and
 * `ARCH.expert_used_count` the asked top-k. Everything else is copied unchanged. */
#pragma once
#include "gguf/gguf.h"
#include <stdint.h>

typedef struct {
    int n_keep;            /* experts kept in every MoE block */
    const int32_t *kept;   /* [n_block, n_keep]: block b keeps original experts kept[b·n_keep ..],
                              strictly ascending (rows of blocks without experts are ignored) */
    int top_k;             /* new expert_used_count; 0 = the file's (an error if > n_keep) */
    const char *criterion; /* recorded as moelens.prune.criterion (NULL: not recorded) */
} GgufPrunePlan;

/* The file's routed expert count and top-k (`ARCH.expert_count` / `expert_used_count`) and block
 * count; -1 + ml_error when the file has no experts. */
int gguf_moe_shape(const GgufFile *g, int *n_expert, int *top_k, int *n_block);
/* Is block b a MoE block (has blk.b.ffn_gate_inp.weight)? */
int gguf_block_has_experts(const GgufFile *g, int b);
/* Writes the pruned copy of g to out atomically; -1 + ml_error (nothing written) on a bad plan
 * or a per-expert tensor whose outermost axis is not the expert count. */
int gguf_prune_write(const GgufFile *g, const GgufPrunePlan *plan, const char *out);
