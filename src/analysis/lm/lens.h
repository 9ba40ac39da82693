/* Logit lens (analyze --only lens, docs/analysis.md): each expert's output decoded through the
 * model's head over a token subsample. */
#pragma once
#include "analysis/lm/analysis.h"
#include "core/fileio.h"

#define LENS_CHUNK 256 /* rows decoded per GEMM, at most */

typedef struct {
    int n, s, l, j; /* token row in the batch, its index among the sampled, MoE layer, slot */
} LensRow;

typedef struct {
    int L, EZ, k, V;
    int layers[64];
    long cap, n, stride;               /* decode token i when i % stride == 0, up to cap tokens */
    double *kl, *p_pred, *agree, *cnt; /* [L, EZ] sums */
    int64_t *top1_keys; /* [top1_n] (l·EZ + e)·V + lens top-1 token, one per decode */
    long top1_n, top1_cap;
    /* lens_tokens.csv body since the last round (mark: where it began); the process that writes
     * (a dir given) appends each round's rows to rows_file, others keep them until lens_write */
    char *rows;
    size_t rows_len, rows_cap, rows_mark;
    AtomicFile rows_file;
    int streaming;                                 /* rows_file is open */
    int chunk;                                     /* rows decoded per GEMM: [chunk, V] logits */
    float *scratch_h, *scratch_n, *scratch_logits; /* [chunk, C] / [chunk, V] */
    /* the batch's sampled tokens, captured as the forward goes: h = r + g·o per layer and slot
     * (in an unlinked scratch file, [sel, L, bk, C] floats: 256 KiB a token at 16 layers, top-4
     * and d 1024, so 128 MiB for a whole 512-token window sampled), the expert and weight in
     * memory; each token is decoded at the output head, against its final distribution, as soon
     * as it has one */
    long sel_cap;    /* tokens sel_w, sel_e hold */
    int bk;          /* slots per layer in this batch */
    int fd;          /* the scratch file (-1: not yet opened) */
    const char *dir; /* where it is made (NULL: $TMPDIR or /tmp) */
    int failed;      /* a scratch write or read failed: lens_write reports it */
    float *sel_w;    /* [sel, L, bk] */
    float *slot_h;   /* [bk, C]: one token's captures of one layer, on their way out */
    /* rows waiting for the next GEMM (a chunk runs across head blocks), each with the slot of
     * pend_pf that holds its token's final distribution */
    LensRow pend[LENS_CHUNK];
    int pend_tok[LENS_CHUNK], nr, pend_cap;
    float *pend_pf;     /* [pend_cap, V] */
    double *pend_plogp; /* [pend_cap]: Σ p log p of each pend_pf row */
    int *pend_pred;     /* [pend_cap]: its argmax, the model's prediction */
    int32_t *sel_e;     /* [sel, L, bk] */
} LensAcc;
/* dir: the output folder, where lens_tokens.csv is appended round by round and the captures'
 * scratch file is made (unlinked at once); NULL: a process that writes nothing (rows held, the
 * scratch in $TMPDIR or /tmp). -1 + ml_error when either cannot be made. */
int lens_init(LensAcc *z, const LmModel *m, long lens_tokens, long total_tokens, const char *dir);
void lens_layer(LensAcc *z, const AnBatch *b, const LmFfnRows *rows);
void lens_head(LensAcc *z, const AnBatch *b, long row0, int n, const float *probs);
/* Counts the batch's decoded tokens (decoded by lens_head, during the forward). */
void lens_accumulate(LensAcc *z, const AnBatch *b);
/* Sharded analysis: after every round of batches (one per rank) the round's lens_tokens.csv rows
 * go to rank 0 in window order; at the end, the sums and decodes are gathered there. */
void lens_round(LensAcc *z);
void lens_reduce(LensAcc *z);
int lens_write(LensAcc *z, const char *dir, const AnVocab *tok);
void lens_free(LensAcc *z);
