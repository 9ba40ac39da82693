/* Fully connected layer over row-major rows (llm.c convention).
 * All backward functions ACCUMULATE (+=) into their gradient outputs; any of them may be NULL. */
#pragma once

/* out[N,OC] = inp[N,C] · w[OC,C]ᵀ + bias[OC]   (bias may be NULL) */
void linear_forward(float *out, const float *inp, const float *w, const float *bias, int N, int C,
                    int OC);
/* dinp[N,C] += dout·w ; dw[OC,C] += doutᵀ·inp ; dbias[OC] += Σ_n dout */
void linear_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, int N, int C, int OC);
/* The same, but dinp is overwritten (dinp = dout·w): scratch need not be zeroed first. */
void linear_backward_set(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                         const float *w, int N, int C, int OC);
