/* AdamW (decoupled weight decay, bias-corrected moments) and global-norm gradient clipping. */
#pragma once

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} AdamW;

/* One update of n parameters at step t (1-based). decay: apply weight_decay to this tensor. */
void adamw_update(const AdamW *opt, float *param, const float *grad, float *m, float *v, long n,
                  int t, float lr, int decay);
/* ‖g‖₂ over n values (double accumulation). */
double grad_norm(const float *g, long n);
void scale_inplace(float *x, long n, float s);
