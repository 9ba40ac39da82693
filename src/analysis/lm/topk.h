/* Top-k (analyze --only topk, docs/analysis.md): cosine of the top-1 expert's output with the
 * whole mixture, and perplexity with only k' = 1..k experts. */
#pragma once
#include "analysis/lm/analysis.h"

typedef struct {
    int L, D, k;
    int layers[64];
    double *cos_sum; /* [L, D, 3] variants: output-only, residual-included, whole layer */
    double *cos_n;   /* [L, D] */
    /* perplexity: NLL sums per domain for the full model and k' = 1..k, raw (0) / renorm (1) */
    double *nll_full, *tok; /* [D] */
    double *nll_k;          /* [k, 2, D] */
    long kp_cap, kp_done;   /* k' forwards for about kp_cap tokens; tokens done */
    long kp_stride;         /* they score the batches holding a multiple of it (0: every batch) */
    struct DocAcc *docs;    /* per-document NLL of every k' forward as well, or NULL */
} TopkAcc;
/* kp_tokens of the stream's total_tokens, in batches of batch_tokens, get the k' forwards. */
void topk_init(TopkAcc *t, const LmModel *m, int D, long kp_tokens, long total_tokens,
               long batch_tokens);
void topk_layer_cosine(TopkAcc *t, const AnBatch *b, const LmFfnRows *rows);
/* Adds the batch's full-model NLL (from b->m->losses: call right after the main forward). */
void topk_accumulate_full(TopkAcc *t, const AnBatch *b);
/* Runs 2k extra forwards (k' = 1..k, raw and renormalised) on the sampled batches; overwrites the
 * model's activations, so call it after every other accumulator. */
void topk_accumulate_kprime(TopkAcc *t, const AnBatch *b);
/* Sharded analysis: sums over the ranks. */
void topk_reduce(TopkAcc *t);
/* Perplexity for k' (1..k), renorm 0/1, domain d (-1: all); k' = 0: the full model. */
double topk_ppl(const TopkAcc *t, int kp, int renorm, int d);
int topk_write(const TopkAcc *t, const char *dir, const char *const *domain_names);
void topk_free(TopkAcc *t);
