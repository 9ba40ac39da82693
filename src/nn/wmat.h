/* A weight matrix [OC, C] on the inference path: plain floats (the model's own parameters), or
 * rows [row0, row0 + OC) of a GGUF tensor that stays in the file's map, in any supported type.
 * Quantised rows are dequantised by tiles into a per-thread scratch and multiplied tile by tile,
 * so no dequantised copy of a whole matrix (let alone the model) ever exists. */
#pragma once
#include "gguf/gguf.h"
#include <stdint.h>

typedef struct {
    const float *f;      /* float rows [OC, C], or NULL */
    const GgufTensor *q; /* else: this tensor's rows row0.. (rows of ne[0] = C elements) */
    uint64_t row0;
} WRef;

static inline WRef wref_float(const float *f) {
    WRef w = {f, NULL, 0};
    return w;
}
/* The float pointer when f != NULL, else rows of q from row0. */
static inline WRef wref_pick(const float *f, const GgufTensor *q, uint64_t row0) {
    WRef w = {f, f ? NULL : q, f ? 0 : row0};
    return w;
}

/* out[N,OC] = inp[N,C] · Wᵀ + bias (bias may be NULL). A float W goes to linear_forward
 * unchanged (bit-identical to it); an F32 GGUF tensor is read in place; other types are
 * dequantised by tiles of rows. Inside an OpenMP parallel region it runs on the calling thread;
 * outside, tiles are spread over the threads. */
void wref_forward(float *out, const float *inp, WRef w, const float *bias, int N, int C, int OC);
/* Floats per dequantised tile (default 262144 = 1 MiB: 256 rows at width 1024, so each sgemm is
 * big enough that packing the input does not dominate; tests make it small to get many tiles). */
extern int wref_tile_floats;
/* Whether products through w take the integer kernels (nn/qdot.h): w's type is covered (Q8_0,
 * Q4_K, Q6_K) and qdot_mode() says so (by default: where the AVX-512 VNNI kernel runs; measured
 * faster there at every row count tried, from `sample`'s short windows, 1-3 rows per expert, to
 * 512-token chunks). Otherwise quantised rows are dequantised by tiles and multiplied with sgemm.
 */
int wref_qdot(WRef w);
/* Dequantises (or copies) rows [r0, r0+n) of W into out[n, C]. */
void wref_rows(float *out, WRef w, long r0, long n, int C);
