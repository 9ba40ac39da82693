/* A naive double-precision reference of the MoE layer (plain loops, written from docs/moe.md
 * independently of src/nn/moe*.c) and a tiny central finite-difference helper. */
#pragma once
#include "nn/moe.h"
#include <stdint.h>

typedef struct {
    int B, T;
    const int32_t
        *hash_first;         /* [N] first expert of hash routing (taken from the layer), or NULL */
    const int32_t *domains;  /* [N] domain ids (domain router) */
    const float *jitter_u;   /* [N,C] router-input multipliers, or NULL */
    const float *noise;      /* [N,EZ] logit noise, or NULL */
    const float *logit_bias; /* [EZ] or NULL */
    int k;                   /* slots per token */
    int renorm;              /* effective renormalisation flag */
} MoeRefOpts;

/* out[N,C]; sel[N,k] = chosen expert per slot (−1−e when dropped by capacity); aux values;
 * *min_gap = the smallest margin between the k-th selected and best unselected selection key
 * (INFINITY when nothing competes). prm is a double copy of the flat block whose float layout
 * lay/base describe. */
void moe_ref_forward(double *out, int *sel, double *aux_lb, double *aux_z, double *min_gap,
                     const double *prm, const MoeParams *lay, const float *base,
                     const MoeConfig *cfg, const double *x, const MoeRefOpts *o);

/* Central difference of f with respect to *v (restored afterwards). f returns the loss and a
 * signature of its discrete decisions; *stable = 0 when the signature at ±eps differs from base. */
typedef double (*FdLossFn)(void *ctx, uint64_t *signature);
double fd_central(FdLossFn f, void *ctx, double *v, double eps, uint64_t base_sig, int *stable);
