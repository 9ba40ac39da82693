/* Group normalisation over NCHW images (Wu & He 2018): channels split into G groups of C/G; each
 * (image, group) is normalised over its C/G·HW values, then scaled and shifted per channel:
 *   y = (x − μ)·rstd·γ_c + β_c,  rstd = 1/sqrt(σ² + eps).
 * Batch-independent (no running statistics), so train and eval behave the same.
 * mean/rstd [B, G] are caches written by forward. Backward ACCUMULATES (any output may be NULL). */
#pragma once

void groupnorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                       const float *beta, int B, int C, int HW, int G, float eps);
void groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *gamma, const float *mean, const float *rstd,
                        int B, int C, int HW, int G);
