/* Pooling over NCHW images. Windows are K×K with stride S and no padding (OH = (H−K)/S + 1).
 * Backward ACCUMULATES into dinp. Max pooling records each output's argmax (index within the
 * input plane) in `idx` for backward; ties go to the first maximum in row-major order. */
#pragma once
#include <stdint.h>

void maxpool2d_forward(float *out, int32_t *idx, const float *inp, int B, int C, int H, int W,
                       int K, int S);
/* One H×W plane (H, W even) of 2×2 stride-2 max pooling: o, ix [OH·OW] = [H/2·W/2]. */
void maxpool2x2_plane(float *restrict o, int32_t *restrict ix, const float *restrict x, int W,
                      int OH, int OW);
void maxpool2d_backward(float *dinp, const float *dout, const int32_t *idx, int B, int C, int H,
                        int W, int K, int S);
/* As maxpool2d_backward, but WRITES dinp (=): the planes are zeroed first, one at a time. */
void maxpool2d_backward_set(float *dinp, const float *dout, const int32_t *idx, int B, int C, int H,
                            int W, int K, int S);
void avgpool2d_forward(float *out, const float *inp, int B, int C, int H, int W, int K, int S);
void avgpool2d_backward(float *dinp, const float *dout, int B, int C, int H, int W, int K, int S);
/* out[B,C] = mean over the H·W plane. */
void global_avgpool_forward(float *out, const float *inp, int B, int C, int HW);
void global_avgpool_backward(float *dinp, const float *dout, int B, int C, int HW);
