/* Logit lens (analyze --only lens, docs/analysis.md): each expert's output decoded through the
 * model's head over a token subsample. */
#pragma once
#include "analysis/lm/analysis.h"

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
