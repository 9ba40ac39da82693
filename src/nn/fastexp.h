/* A vectorisable expf for the softmax loops. glibc's expf is a scalar call unless -ffast-math,
 * which made the attention softmax and the vocabulary cross-entropy exp-bound. This is Cephes'
 * expf: range reduction x = n·ln2 + r (ln2 split in two for exactness), a degree-6 polynomial for
 * e^r, and 2^n put straight into the exponent bits. Max relative error ~2 ulp over the clamped
 * range (tested in tests/test_nn_fastexp.c). Inputs below −87.3 give 0 (no denormals); above 88 are
 * clamped (the softmax callers only pass x ≤ 0). */
#pragma once
#include <stdint.h>

static inline float fast_expf(float x) {
    const float lo = -87.3f, hi = 88.0f;
    int underflow = x < lo;
    x = x < lo ? lo : (x > hi ? hi : x);
    float n = __builtin_rintf(x * 1.44269504088896341f); /* floorf would not vectorise */
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r * r + r + 1.0f;
    union { /* a union, not memcpy: memcpy of a local blocks gcc's vectoriser */
        int32_t i;
        float f;
    } scale = {.i = ((int32_t)n + 127) << 23};
    return underflow ? 0.0f : y * scale.f;
}
