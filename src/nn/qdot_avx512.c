/* The AVX-512 VNNI kernel of qdot.h: 4 weight rows × 2 activation rows at a time, vpdpbusd over
 * the chunks of a span into one int32 lane per group, then one float multiply-add per span and
 * row pair. Compiled with target attributes, so the rest of the build keeps its own flags; chosen
 * at run time (qdot_kernel). */
#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "nn/qdot.h"
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <stdint.h>
#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

int qdot_avx512_usable(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
}

/* Chunk c of the span takes piece c of each group: a gather of 16 dwords 4·(g/4)·l + 4c apart. */
TGT static void qdot_put_span_avx512_(uint8_t *dst, const uint8_t *nat, int g) {
    const int pieces = g / 4;
    const __m512i lane =
        _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                           _mm512_set1_epi32(pieces));
    for (int c = 0; c < pieces; c++) {
        const __m512i idx = _mm512_add_epi32(lane, _mm512_set1_epi32(c));
        _mm512_storeu_si512(dst + 64 * c, _mm512_i32gather_epi32(idx, nat, 4));
    }
}

/* qdot_quantise_block for a whole block (blk = 32 or 256), 16 elements per step: the same
 * products, rounded half to even by the conversion (MXCSR's default). */
TGT static float block_(int8_t *q, const float *x, int blk) {
    __m512 m = _mm512_setzero_ps();
    for (int v = 0; v < blk; v += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + v)));
    const float amax = _mm512_reduce_max_ps(m);
    float mul, d;
    if (blk == 32) {
        mul = amax != 0 ? 127.0f / amax : 0.0f;
        d = gguf_f16_to_f32(gguf_f32_to_f16(amax / 127.0f));
    } else if (amax == 0) {
        memset(q, 0, blk);
        return 0;
    } else { /* the first element of largest magnitude, with its sign */
        int at = 0;
        for (int v = 0; v < blk; v += 16) {
            const __mmask16 k = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + v)),
                                                   _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (k) {
                at = v + __builtin_ctz(k);
                break;
            }
        }
        mul = -127.0f / x[at];
        d = 1 / mul;
    }
    const __m512 vm = _mm512_set1_ps(mul);
    for (int v = 0; v < blk; v += 16) {
        __m512i r = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + v), vm));
        r = _mm512_min_epi32(r, _mm512_set1_epi32(127));
        _mm_storeu_si128((__m128i *)(q + v), _mm512_cvtepi32_epi8(r));
    }
    return d;
}

void qdot_put_span_avx512(uint8_t *dst, const uint8_t *nat, int g) {
    qdot_put_span_avx512_(dst, nat, g);
}

float qdot_quantise_block_avx512(int8_t *q, const float *x, int blk) {
    return block_(q, x, blk);
}

/* The 4 horizontal sums of f[0..3], in one vector. */
TGT static inline __m128 sum4(const __m512 f[QDOT_ROWS]) {
    __m256 h[4];
    for (int r = 0; r < 4; r++)
        h[r] = _mm256_add_ps(_mm512_castps512_ps256(f[r]), _mm512_extractf32x8_ps(f[r], 1));
    const __m256 ab = _mm256_hadd_ps(h[0], h[1]), cd = _mm256_hadd_ps(h[2], h[3]);
    const __m256 abcd = _mm256_hadd_ps(ab, cd); /* per 128-bit half: a b c d */
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

TGT static inline void put4(float *out, __m128 v, int nr) {
    if (nr == 4) {
        _mm_storeu_ps(out, v);
        return;
    }
    float t[4];
    _mm_storeu_ps(t, v);
    for (int r = 0; r < nr; r++) out[r] = t[r];
}

/* Activation rows n and n1 (n1 = n when there is only one) against the 4 decoded rows. */
TGT static void pair(const QWRows *w, const QActs *a, long n, long n1, float *out, long ldo,
                     int nr) {
    const int g = a->g, cp = a->cp, gp = a->gp, chunks = g / 4, spans = cp / (16 * g);
    const int8_t *q0 = a->q + n * cp, *q1 = a->q + n1 * cp;
    const uint8_t *u = w->u;
    __m512 f0[QDOT_ROWS], f1[QDOT_ROWS];
    for (int r = 0; r < QDOT_ROWS; r++) f0[r] = f1[r] = _mm512_setzero_ps();
    for (int k = 0; k < spans; k++) {
        const long base = (long)k * 16 * g;
        /* the sums start at -zp·Σxq, which takes the weights' zero point out */
        const __m512i z0 = _mm512_loadu_si512(a->zsum + n * gp + 16 * k);
        const __m512i z1 = _mm512_loadu_si512(a->zsum + n1 * gp + 16 * k);
        __m512i s0[QDOT_ROWS] = {z0, z0, z0, z0}, s1[QDOT_ROWS] = {z1, z1, z1, z1};
        for (int c = 0; c < chunks; c++) {
            const long at = base + 64 * c;
            const __m512i x0 = _mm512_loadu_si512(q0 + at), x1 = _mm512_loadu_si512(q1 + at);
            for (int r = 0; r < QDOT_ROWS; r++) {
                const __m512i ur = _mm512_loadu_si512(u + (long)r * cp + at);
                s0[r] = _mm512_dpbusd_epi32(s0[r], ur, x0);
                s1[r] = _mm512_dpbusd_epi32(s1[r], ur, x1);
            }
        }
        const __m512 dx0 = _mm512_loadu_ps(a->d + n * gp + 16 * k);
        const __m512 dx1 = _mm512_loadu_ps(a->d + n1 * gp + 16 * k);
        for (int r = 0; r < QDOT_ROWS; r++) {
            const __m512 s = _mm512_loadu_ps(w->s + (long)r * gp + 16 * k);
            f0[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0[r]), _mm512_mul_ps(s, dx0), f0[r]);
            f1[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1[r]), _mm512_mul_ps(s, dx1), f1[r]);
        }
        if (w->mins) {
            const __m512 xa = _mm512_loadu_ps(a->sum + n * gp + 16 * k);
            const __m512 xb = _mm512_loadu_ps(a->sum + n1 * gp + 16 * k);
            for (int r = 0; r < QDOT_ROWS; r++) {
                const __m512 o = _mm512_loadu_ps(w->o + (long)r * gp + 16 * k);
                f0[r] = _mm512_fmadd_ps(o, xa, f0[r]);
                f1[r] = _mm512_fmadd_ps(o, xb, f1[r]);
            }
        }
    }
    put4(out + n * ldo, sum4(f0), nr);
    if (n1 != n) put4(out + n1 * ldo, sum4(f1), nr);
}

TGT void qdot_rows_avx512(const QWRows *w, const QActs *a, float *out, long ldo, int nr) {
    for (long n = 0; n < a->n; n += 2) pair(w, a, n, n + 1 < a->n ? n + 1 : n, out, ldo, nr);
}

#else
int qdot_avx512_usable(void) {
    return 0;
}
void qdot_put_span_avx512(uint8_t *dst, const uint8_t *nat, int g) {
    qdot_put_span_scalar(dst, nat, g);
}
float qdot_quantise_block_avx512(int8_t *q, const float *x, int blk) {
    return qdot_quantise_block(q, x, blk, blk);
}
void qdot_rows_avx512(const QWRows *w, const QActs *a, float *out, long ldo, int nr) {
    qdot_rows_scalar(w, a, out, ldo, nr);
}
#endif
