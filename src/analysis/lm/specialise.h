/* Specialisation (analyze --only specialise, docs/analysis.md): NMI between the top-1 expert and
 * the domain or token class, against a shuffled-label baseline. */
#pragma once
#include "analysis/lm/analysis.h"

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
