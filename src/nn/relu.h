/* ReLU, elementwise. Backward accumulates into dinp and reads the forward OUTPUT (out > 0 ⇔ inp >
 * 0), so a layer may apply it in place. */
#pragma once

static inline void relu_forward(float *out, const float *inp, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) out[i] = inp[i] > 0 ? inp[i] : 0.0f;
}

static inline void relu_backward(float *dinp, const float *out, const float *dout, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) dinp[i] += out[i] > 0 ? dout[i] : 0.0f;
}
