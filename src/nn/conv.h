/* 2-D convolution over NCHW images (im2col + OpenBLAS sgemm), llm.c style.
 * Images are [B, C, H, W]; weights [OC, C, K, K]; out [B, OC, OH, OW] with
 * OH = (H + 2·pad − K)/stride + 1 (same for W). Images run in parallel (OpenMP), each thread using
 * its own slice of a caller-owned scratch block (conv2d_scratch_floats), so nothing is allocated
 * in the step. Backward ACCUMULATES (+=) into dinp, dw and dbias (any may be NULL); the weight and
 * bias gradients are summed per thread and then across threads in thread order, so results are
 * bit-identical for a given thread count. */
#pragma once

typedef struct {
    int C, H, W; /* input channels and size */
    int OC, K;   /* output channels, square kernel size */
    int stride, pad;
} ConvShape;

static inline int conv_out_h(const ConvShape *s) {
    return (s->H + 2 * s->pad - s->K) / s->stride + 1;
}
static inline int conv_out_w(const ConvShape *s) {
    return (s->W + 2 * s->pad - s->K) / s->stride + 1;
}

/* Floats of scratch needed by forward/backward for this shape with up to `threads` threads. */
long conv2d_scratch_floats(const ConvShape *s, int threads);

/* out[B,OC,OH,OW] = conv(inp, w) + bias (bias may be NULL). */
void conv2d_forward(float *out, const float *inp, const float *w, const float *bias, int B,
                    const ConvShape *s, float *scratch);
/* dinp += ∂/∂inp, dw += ∂/∂w, dbias += ∂/∂bias, given dout. */
void conv2d_backward(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, int B, const ConvShape *s, float *scratch);
