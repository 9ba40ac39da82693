/* Parameter-free standardisation of groups of features (the vision gate's input normalisation).
 *
 * Group g holds the `len` elements x[g·gstride + i·estride], i < len; each is mapped to
 * y = (x − μ_g)·r_g with μ_g its group mean and r_g = 1/√(σ²_g + eps) (biased variance). Two
 * layouts of an [N, C] matrix cover the gate's two modes:
 *   across the batch, per feature: groups = C, len = N, gstride = 1, estride = C (batch norm
 *     without affine; evaluation uses running statistics instead, featstd_apply);
 *   per image, across features: groups = N, len = C, gstride = C, estride = 1 (layer norm).
 * Backward: ∂x = r·(∂y − mean(∂y) − y·mean(∂y·y)) over the group, ACCUMULATED into dx. */
#pragma once

typedef struct {
    int groups, len;
    long gstride, estride;
} FeatStdShape;

/* [N, C] shapes of the two modes. */
FeatStdShape featstd_batch_shape(int N, int C);
FeatStdShape featstd_row_shape(int N, int C);

/* y may alias x. mean/rstd [groups] are kept for the backward and the running statistics. */
void featstd_forward(float *y, float *mean, float *rstd, const float *x, const FeatStdShape *s,
                     float eps);
void featstd_backward(float *dx, const float *dy, const float *y, const float *rstd,
                      const FeatStdShape *s);
/* Evaluation with fixed statistics per feature: y[n, c] = (x[n, c] − mean[c]) / √(var[c] + eps). */
void featstd_apply(float *y, const float *x, const float *mean, const float *var, int N, int C,
                   float eps);
/* running = (1 − momentum)·running + momentum·batch (the unbiased batch variance, as PyTorch). */
void featstd_update_running(float *run_mean, float *run_var, const float *mean, const float *rstd,
                            int C, int N, float momentum, float eps);
