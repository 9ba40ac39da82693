/* Direct (implicit-GEMM) 3×3, stride 1, pad 1 convolution with AVX-512 register-blocked kernels:
 * the vision model's every convolution. No im2col columns and no BLAS packing: each image is
 * copied once into zero-bordered planes of width W + 2, and output pixel q = y·(W + 2) + x of tap
 * (ky, kx) reads input q + ky·(W + 2) + kx, so a run of 16 outputs is one unaligned vector load
 * per tap (the two wrapped columns x = W, W + 1 are computed and dropped). Forward and the data
 * gradient (the same convolution of the bordered ∂out with the flipped, transposed weights) keep
 * 8 output channels × 3 pixel vectors in registers; the weight gradient keeps up to 4 channel
 * vectors × 6–12 taps in registers over the pixels of ∂out transposed to [pixel, channel].
 * conv.c dispatches here when conv3x3_supported(); contracts are those of conv2d_* in conv.h. */
#pragma once
#include "nn/conv.h"
#include "nn/threads.h"

/* Threads a convolution call uses (and scratch slots it touches): one when called inside a
 * parallel region (the vision model runs small experts concurrently, each on its own scratch). */
static inline int conv_threads(void) {
    return omp_in_parallel() ? 1 : omp_get_max_threads();
}

/* 1 when this build has the kernels (AVX-512) and s is 3×3, stride 1, pad 1. */
int conv3x3_supported(const ConvShape *s);
long conv3x3_scratch_floats(const ConvShape *s, int threads);
void conv3x3_forward(float *out, const float *inp, const float *w, const float *bias, int B,
                     const ConvShape *s, float *scratch);
void conv3x3_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                      const float *w, int B, const ConvShape *s, float *scratch);
