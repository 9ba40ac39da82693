/* Pooling over NCHW images. Windows are K×K with stride S and no padding (OH = (H−K)/S + 1).
 * Backward ACCUMULATES into dinp. Max pooling records each output's argmax (index within the
 * input plane) in `idx` for backward; ties go to the first maximum in row-major order. */
#pragma once
#include <stdint.h>

void maxpool2d_forward(float *out, int32_t *idx, const float *inp, int B, int C, int H, int W,
                       int K, int S);
void maxpool2d_backward(float *dinp, const float *dout, const int32_t *idx, int B, int C, int H,
                        int W, int K, int S);
void avgpool2d_forward(float *out, const float *inp, int B, int C, int H, int W, int K, int S);
void avgpool2d_backward(float *dinp, const float *dout, int B, int C, int H, int W, int K, int S);
/* out[B,C] = mean over the H·W plane. */
void global_avgpool_forward(float *out, const float *inp, int B, int C, int HW);
void global_avgpool_backward(float *dinp, const float *dout, int B, int C, int HW);
