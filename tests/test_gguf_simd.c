/* The vector dequantisation kernels (AVX2/AVX-512, when the build has them) against the portable
 * scalar ones, bit for bit, on random blocks whose f16 scales include the extremes (largest,
 * smallest subnormal, zero, negative, inf, nan). Without AVX2 both calls run the scalar code. */
#include <stdint.h>
#include <string.h>

#include "core/mem.h"
#include "core/rng.h"
#include "gguf/gguf.h"
#include "test.h"

/* An f16 bit pattern: one of the extremes, or a random finite one. */
static uint16_t some_half(Rng *r) {
    static const uint16_t edge[] = {0x7BFF, 0xFBFF, 0x0001, 0x8001, 0x03FF, 0x0000,
                                    0x8000, 0x3C00, 0x7C00, 0x7E00, 0x0400, 0x1000};
    if (rng_below(r, 3) == 0) return edge[rng_below(r, sizeof edge / sizeof *edge)];
    return (uint16_t)(rng_below(r, 0x7C00) | (rng_below(r, 2) << 15));
}

/* Random bytes for nb blocks of type, with every f16 field redrawn by some_half. */
static void random_blocks(Rng *r, uint32_t type, uint8_t *x, int nb) {
    const int bytes = gguf_ttype_block_bytes(type);
    for (int i = 0; i < nb * bytes; i++) x[i] = (uint8_t)rng_below(r, 256);
    for (int b = 0; b < nb; b++) {
        uint8_t *blk = x + b * bytes;
        int at[2] = {0, 2}, nh = 1; /* offsets of the f16 fields */
        if (type == GGML_Q4_K || type == GGML_Q5_K) nh = 2;
        if (type == GGML_Q6_K) at[0] = 208;
        for (int k = 0; k < nh; k++) {
            uint16_t h = some_half(r);
            memcpy(blk + at[k], &h, 2);
        }
    }
}

TEST(gguf_dequant_simd_equals_scalar) {
    const uint32_t types[] = {GGML_Q8_0, GGML_Q4_K, GGML_Q5_K, GGML_Q6_K};
    enum { NB = 37 }; /* blocks per call: an odd count */
    Rng r;
    rng_seed(&r, 9);
    uint8_t *x = ml_alloc(NB * 256);
    float *got = ml_alloc_floats(NB * 256), *want = ml_alloc_floats(NB * 256);
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        const int n = NB * gguf_ttype_block(types[k]);
        for (int rep = 0; rep < 40; rep++) {
            random_blocks(&r, types[k], x, NB);
            gguf_dequant_raw(types[k], x, got, n);
            gguf_dequant_raw_scalar(types[k], x, want, n);
            int bad = -1;
            for (int i = 0; i < n && bad < 0; i++)
                if (memcmp(got + i, want + i, 4)) bad = i;
            CHECK_MSG(bad < 0, "%s: element %d: vector %.9g, scalar %.9g",
                      gguf_ttype_name(types[k]), bad, bad < 0 ? 0 : got[bad],
                      bad < 0 ? 0 : want[bad]);
            if (bad >= 0) break;
        }
    }
    ml_free(x);
    ml_free(got);
    ml_free(want);
}
