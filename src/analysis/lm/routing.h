/* Routing statistics (analyze --only routing, docs/analysis.md): expert picks per layer, domain
 * and slot, expert co-occurrence, and the routing trace of the first tokens. */
#pragma once
#include "analysis/lm/analysis.h"

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
