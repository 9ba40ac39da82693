/* Document-level intervals (docs/analysis.md, "Intervals"): per unit (a document of the text set;
 * a chunk for id sources, whose file is one document) the counts that NMI, n50 and perplexity are
 * made of, so a bootstrap over units can recompute them. Writes bootstrap.json. */
#pragma once
#include "analysis/lm/analysis.h"
#include <stdint.h>

typedef struct DocAcc {
    int L, EZ, k, D, U, C; /* C = 1 + 2k perplexity columns: full, then (k', raw|renorm) */
    int layers[64];
    const char *unit; /* "document" or "chunk" */
    int32_t *dom;     /* [U] domain of the unit (-1: never seen) */
    double *top1;     /* [U, L, EZ] top-1 expert counts */
    double *cls;      /* [U, L, EZ, TOKCLASS_COUNT] top-1 expert × input token class */
    double *picks;    /* [U, L, EZ] picks over all k slots */
    double *tokens;   /* [U] analysed tokens */
    double *nll;      /* [U, C] NLL sums over the k'-scored tokens */
    double *scored;   /* [U] scored targets in those batches */
    int B;            /* resamples (0: off) */
    uint64_t seed;
} DocAcc;

void docs_init(DocAcc *a, const LmModel *m, int D, int U, const char *unit, int B, uint64_t seed);
/* The batch's tokens per unit (b->units set), before its forward. */
void docs_tokens(DocAcc *a, const AnBatch *b);
/* Top-1 / class / picks of one MoE layer's rows of the batch (lm_forward_observed's hook). */
void docs_layer(DocAcc *a, const AnBatch *b, const LmFfnRows *rows);
/* NLL of the batch's last forward (b->m->losses) into column c. */
void docs_add_nll(DocAcc *a, const AnBatch *b, int c);
/* Sharded analysis: the counts summed over the ranks (a document may span two ranks' windows). */
void docs_reduce(DocAcc *a);
/* bootstrap.json: value and interval per statistic (names: the D domain names). */
cJSON *docs_json(const DocAcc *a, const char *const *names);
int docs_write(const DocAcc *a, const char *dir, const char *const *names);
void docs_free(DocAcc *a);
