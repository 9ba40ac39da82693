/* Expert saliency for pruning (docs/gguf.md, "Pruning"), from the routing captures of forwards
 * over calibration text: per MoE layer and routed expert, how many token slots picked it
 * (frequency) and the sum over those slots of router weight × ‖expert output‖ (REAP, arXiv
 * 2510.13999: saliency = that sum / the count, the mean over the tokens routed to the expert).
 * Experts never picked have saliency 0 under both criteria. */
#pragma once
#include "model/lm.h"
#include <stdint.h>

typedef enum { PRUNE_FREQ, PRUNE_REAP, PRUNE_N_CRITERIA } PruneCriterion;

/* "freq" / "reap"; parse: -1 + ml_error naming the value when unknown. */
const char *prune_criterion_name(int c);
int prune_criterion_parse(const char *s);

typedef struct {
    int L, E;         /* MoE layers, routed experts */
    int layers[64];   /* MoE layer l → model block */
    double *count;    /* [L, E] slots routed to the expert */
    double *reap_sum; /* [L, E] Σ router weight × ‖output‖ over those slots */
    double tokens;    /* calibration tokens seen */
} PruneStats;

void prune_stats_init(PruneStats *s, const LmModel *m);
void prune_stats_free(PruneStats *s);
/* Adds the last forward's routing (m->acts, with expert_out captured) for the token rows whose
 * use[n] is nonzero (use NULL: every row). */
void prune_stats_accumulate(PruneStats *s, const LmModel *m, const uint8_t *use);
/* The same for the a->N rows of one FFN block of MoE layer l (use[n] for row n; tokens not
 * counted): what an observer of the forward adds as it goes. */
void prune_stats_rows(PruneStats *s, int l, const MoeActs *a, const uint8_t *use, int C);
double prune_saliency(const PruneStats *s, int crit, int l, int e);
/* The n_keep most salient experts of MoE layer l, as ascending ids (ties: the lower id wins). */
void prune_rank(const PruneStats *s, int crit, int l, int n_keep, int32_t *kept);
/* Forwards ids[0..n) in chunks of ctx tokens (as lm_score_ids cuts them) and accumulates. */
int prune_calibrate(LmModel *m, const int32_t *ids, long n, int ctx, PruneStats *s);
/* The --keep value: a fraction in (0, 1) (rounded to the nearest count, at least 1), or an
 * integer count 1..E ("1" is one expert, "1.0" all of them). -1 + ml_error naming the option. */
int prune_parse_keep(const char *v, int E, int *n_keep);
