/* The expert analyses of a trained language model (docs/analysis.md). The driver (analyze.c)
 * streams text in batches through ONE forward pass each and hands every analysis the batch's saved
 * activations; each analysis accumulates, then writes JSON (summary) + CSV/.npy (full arrays).
 * Only MoE layers are analysed (dense FFN layers are skipped); layer index l below counts MoE
 * layers, and `layers[l]` maps it to the model's block index. */
#pragma once
#include "analysis/lm/an_vocab.h"
#include "core/npy.h"
#include "data/tokenizer.h"
#include "model/lm.h"
#include <cjson/cJSON.h>
#include <stdint.h>

/* One batch of the stream. The analyses see it twice: while lm_forward_observed runs, each MoE
 * layer's FFN rows (*_layer: reduce them, or copy the few rows a subsample needs), then after it
 * (*_accumulate: m->losses holds the per-token NLL; m->acts hold nothing per layer). */
typedef struct {
    LmModel *m;
    const int32_t *tokens, *targets, *domains; /* [N] (domains: global ids, 0..D-1) */
    const uint8_t *classes;                    /* [N] token class of each input token */
    int B, T, N;
    long offset;          /* global index of the batch's first token */
    const int32_t *units; /* [N] unit (document) of each token, for docstats.h */
} AnBatch;

/* The MoE layers of a model: returns their count and fills layers (n_layer entries of room). */
int an_moe_layers(const LmModel *m, int *layers);
/* Registries (LM analyses, vision analyses): rows of `stride` bytes whose first field is the name
 * (first points at row 0's). an_parse_names: "a,b,..." → bit i per row named (-1 + ml_error
 * "--only: unknown <what> 'x' (expected a, b or c)"); an_list_names: "a, b, c" into buf. */
int an_parse_names(const char *list, const char *const *first, size_t stride, int n, unsigned *bits,
                   const char *what);
void an_list_names(char *buf, size_t cap, const char *const *first, size_t stride, int n);
/* The index in layers[0..L) of model block `block`, or -1 (a dense layer). */
int an_moe_index(const int *layers, int L, int block);
/* Writes a cJSON object to dir/name atomically (and frees nothing). */
int an_write_json(const char *dir, const char *name, const cJSON *j);

/* dir/name as .npy (dtype a numpy descr). */
int an_write_npy(const char *dir, const char *name, const char *dtype, const int64_t *shape, int nd,
                 const void *data);

/* 1. Routing statistics. */
typedef struct {
    int L, EZ, k, D;
    int layers[64];
    double *counts;     /* [L, D, EZ, k] picks by slot */
    double *cooc;       /* [L, EZ, EZ] tokens whose top-k holds both experts (diagonal: picks) */
    double *dom_tokens; /* [D] */
    /* the trace of the first trace_cap tokens, appended batch by batch to trace_{ids,weights,
     * tokens,domains}.npy in the output folder (committed by routing_write, dropped by
     * routing_free otherwise): one batch of it in memory, never the whole */
    long trace_cap, trace_n, batch_rows;
    int32_t *batch_ids;             /* [batch_rows, L, k] */
    float *batch_w;                 /* [batch_rows, L, k] */
    int32_t *batch_tok, *batch_dom; /* [batch_rows] */
    long pending;                   /* the batch's rows under the cap, not yet handed on */
    NpyStream trace[4];             /* ids, weights, tokens, domains */
    int streaming, failed;          /* streaming: this process writes the trace files */
} RoutingAcc;
/* -1 + ml_error when the trace files cannot be opened in dir (NULL: a rank that writes nothing). */
int routing_init(RoutingAcc *r, const LmModel *m, int D, long trace_cap, const char *dir);
void routing_layer(RoutingAcc *r, const AnBatch *b, const LmFfnRows *rows);
void routing_accumulate(RoutingAcc *r, const AnBatch *b);
/* Sharded analysis (analyze.c): after every round of batches (one per rank), the round's trace
 * rows go to rank 0's files in window order; at the end, the counts are summed over the ranks.
 * In one process the round appends the batch's rows and the reduction is the identity. */
void routing_round(RoutingAcc *r);
void routing_reduce(RoutingAcc *r);
int routing_write(RoutingAcc *r, const char *dir, const char *const *domain_names);
void routing_free(RoutingAcc *r);
/* n50 / entropy / max share of one layer and domain (d = -1: all domains), for tests and reports.
 */
typedef struct {
    double entropy, entropy_norm, max_share_tokens, jain, utilisation;
    int n50, dead, above_threshold;
    double tokens;
} RoutingStats;
RoutingStats routing_stats(const RoutingAcc *r, int l, int d);

/* 4. Specialisation: NMI between top-1 expert and domain / token class. */
typedef struct {
    int L, EZ, D;
    int layers[64];
    double *by_dom; /* [L, EZ, D] top-1 counts */
    double *by_cls; /* [L, EZ, TOKCLASS_COUNT] */
    long cap, n;    /* kept tokens for the shuffled baseline (the stream's first cap) */
    int16_t *top1;  /* [cap, L] */
    uint8_t *cls;   /* [cap] */
    int16_t *dom;   /* [cap] */
    uint64_t seed;
} SpecialiseAcc;
void specialise_init(SpecialiseAcc *s, const LmModel *m, int D, long cap, uint64_t seed);
void specialise_layer(SpecialiseAcc *s, const AnBatch *b, const LmFfnRows *rows);
void specialise_accumulate(SpecialiseAcc *s, const AnBatch *b);
/* Sharded analysis: counts summed over the ranks, the kept tokens merged into rank 0's. */
void specialise_reduce(SpecialiseAcc *s);
/* NMI of layer l (what = 0: domain, 1: class); shuffled != 0: labels permuted (baseline). */
double specialise_nmi(const SpecialiseAcc *s, int l, int what, int shuffled);
int specialise_write(const SpecialiseAcc *s, const char *dir, const char *const *domain_names);
void specialise_free(SpecialiseAcc *s);

/* 3. Top-1 vs ensemble cosine, and perplexity with k' experts. */
typedef struct {
    int L, D, k;
    int layers[64];
    double *cos_sum; /* [L, D, 3] variants: output-only, residual-included, whole layer */
    double *cos_n;   /* [L, D] */
    /* perplexity: NLL sums per domain for the full model and k' = 1..k, raw (0) / renorm (1) */
    double *nll_full, *tok; /* [D] */
    double *nll_k;          /* [k, 2, D] */
    long kp_cap, kp_done;   /* k' forwards for batches starting under kp_cap; tokens done */
    struct DocAcc *docs;    /* per-document NLL of every k' forward as well, or NULL */
} TopkAcc;
void topk_init(TopkAcc *t, const LmModel *m, int D, long kp_tokens);
void topk_layer_cosine(TopkAcc *t, const AnBatch *b, const LmFfnRows *rows);
/* Adds the batch's full-model NLL (from b->m->losses: call right after the main forward). */
void topk_accumulate_full(TopkAcc *t, const AnBatch *b);
/* Runs 2k extra forwards (k' = 1..k, raw and renormalised) while under kp_cap; overwrites the
 * model's activations, so call it after every other accumulator. */
void topk_accumulate_kprime(TopkAcc *t, const AnBatch *b);
/* Sharded analysis: sums over the ranks. */
void topk_reduce(TopkAcc *t);
/* Perplexity for k' (1..k), renorm 0/1, domain d (-1: all); k' = 0: the full model. */
double topk_ppl(const TopkAcc *t, int kp, int renorm, int d);
int topk_write(const TopkAcc *t, const char *dir, const char *const *domain_names);
void topk_free(TopkAcc *t);

/* 2. Per-expert logit lens over a token subsample. */
typedef struct {
    int L, EZ, k, V;
    int layers[64];
    long cap, n, stride;               /* decode token i when i % stride == 0, up to cap tokens */
    double *kl, *p_pred, *agree, *cnt; /* [L, EZ] sums */
    int64_t *top1_keys; /* [top1_n] (l·EZ + e)·V + lens top-1 token, one per decode */
    long top1_n, top1_cap;
    char *rows;
    size_t rows_len, rows_cap, rows_mark; /* lens_tokens.csv body; mark: at the last round */
    float *scratch_h, *scratch_n, *scratch_logits; /* [LENS_CHUNK, C] / [LENS_CHUNK, V] */
    /* the batch's sampled tokens, captured as the forward goes: h = r + g·o per layer and slot,
     * the expert and weight, and the final distribution */
    long sel_cap;                  /* tokens the buffers hold */
    int bk;                        /* slots per layer in this batch */
    float *sel_h, *sel_w, *sel_pf; /* [sel, L, bk, C], [sel, L, bk], [sel, V] */
    int32_t *sel_e;                /* [sel, L, bk] */
} LensAcc;
void lens_init(LensAcc *z, const LmModel *m, long lens_tokens, long total_tokens);
void lens_layer(LensAcc *z, const AnBatch *b, const LmFfnRows *rows);
void lens_head(LensAcc *z, const AnBatch *b, long row0, int n, const float *probs);
/* Decodes the batch's captured tokens (after the forward). */
void lens_accumulate(LensAcc *z, const AnBatch *b);
/* Sharded analysis: after every round of batches (one per rank) the round's lens_tokens.csv rows
 * go to rank 0 in window order; at the end, the sums and decodes are gathered there. */
void lens_round(LensAcc *z);
void lens_reduce(LensAcc *z);
int lens_write(const LensAcc *z, const char *dir, const AnVocab *tok);
void lens_free(LensAcc *z);
