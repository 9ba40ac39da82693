/* LayerNorm (GPT-2 blocks) and RMSNorm (llama-style blocks) over the last dimension C of N rows.
 * mean/rstd are per-row caches written by forward and read by backward. */
#pragma once

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C, float eps);
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C);

/* out = inp * rstd * w, rstd = 1/sqrt(mean(inp²) + eps). w may be NULL (no learned scale). */
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C,
                     float eps);
void rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                      const float *rstd, int N, int C);
