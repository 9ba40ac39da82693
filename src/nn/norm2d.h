/* Group normalisation over NCHW images (Wu & He 2018): channels split into G groups of C/G; each
 * (image, group) is normalised over its C/G·HW values, then scaled and shifted per channel:
 *   y = (x − μ)·rstd·γ_c + β_c,  rstd = 1/sqrt(σ² + eps).
 * Batch-independent (no running statistics), so train and eval behave the same.
 * mean/rstd [B, G] are caches written by forward. Backward ACCUMULATES (any output may be NULL). */
#pragma once
#include <stdint.h>

void groupnorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma,
                       const float *beta, int B, int C, int HW, int G, float eps);
void groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *gamma, const float *mean, const float *rstd,
                        int B, int C, int HW, int G);

/* Group norm followed by ReLU, fused: out = max(0, groupnorm(inp)). */
void groupnorm_relu_forward(float *out, float *mean, float *rstd, const float *inp,
                            const float *gamma, const float *beta, int B, int C, int HW, int G,
                            float eps);
/* groupnorm_relu_forward on H×W planes that also 2×2 max-pools each output plane
 * into pool/pidx [B, C, ⌊H/2⌋, ⌊W/2⌋] as maxpool2d_forward(…, 2, 2) would, while it is in cache. */
void groupnorm_relu_maxpool_forward(float *out, float *mean, float *rstd, float *pool,
                                    int32_t *pidx, const float *inp, const float *gamma,
                                    const float *beta, int B, int C, int H, int W, int G,
                                    float eps);
/* Backward of groupnorm_relu_forward given its output `out` (the ReLU mask) and dout. Unlike the
 * other backwards it WRITES dinp (=), in one pass, and dinp may alias dout; dgamma/dbeta
 * accumulate (may be NULL). part: scratch of 2·B·C floats (per-image channel sums, reduced over
 * images in order afterwards, so results do not depend on the thread count). */
void groupnorm_relu_backward(float *dinp, float *dgamma, float *dbeta, float *part,
                             const float *dout, const float *out, const float *inp,
                             const float *gamma, const float *mean, const float *rstd, int B, int C,
                             int HW, int G);
