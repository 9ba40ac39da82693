/* The AVX2 kernel of qdot.h, for CPUs without AVX-512 VNNI: 4 weight rows × 1 activation row at
 * a time. A span's 64-byte chunk is two 256-bit halves (groups 0–7, 8–15); vpmaddubsw multiplies
 * the unsigned weight bytes by the signed activation bytes and adds neighbours into int16, vpmaddwd
 * by ones adds those pairs into the group's int32 lane: the same integer sums as vpdpbusd.
 *
 * vpmaddubsw saturates at ±32767. Q4_K (u ≤ 15) and Q6_K (u ≤ 63) stay far below it
 * (2·63·127 = 16002); Q8_0's offset bytes (u = q + 128 ≤ 255) would not, so for zero point 128 the
 * kernel multiplies the signed q = u − 128 instead, as |q| · (x · sign q) (2·128·127 = 32512), and
 * starts its sums at 0 rather than at −zp·Σxq. Compiled with target attributes and chosen at run
 * time (qdot_kernel). */
#include "nn/qdot.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TGT __attribute__((target("avx2,fma")))

int qdot_avx2_usable(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* Σ over 4-byte lanes of u·x (u unsigned, x signed, no saturation for u ≤ 127 or |u| handled by
 * the caller) added to s. */
TGT static inline __m256i dot4(__m256i s, __m256i u, __m256i x) {
    const __m256i pairs = _mm256_maddubs_epi16(u, x);
    return _mm256_add_epi32(s, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

/* Zero point 128: the weight bytes are q + 128; |q| · (x · sign q). */
TGT static inline __m256i dot4_signed(__m256i s, __m256i u, __m256i x) {
    const __m256i q = _mm256_xor_si256(u, _mm256_set1_epi8((char)0x80));
    return dot4(s, _mm256_sign_epi8(q, q), _mm256_sign_epi8(x, q));
}

TGT static inline float hsum(__m256 v) {
    const __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 p = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(p, _mm_shuffle_ps(p, p, 1)));
}

/* Activation row n against the nr decoded rows. */
TGT static void row(const QWRows *w, const QActs *a, long n, float *out, int nr) {
    const int g = a->g, cp = a->cp, gp = a->gp, chunks = g / 4, spans = cp / (16 * g);
    const int signed_q = a->zp == 128;
    const int8_t *q = a->q + n * cp;
    __m256 f[QDOT_ROWS];
    for (int r = 0; r < QDOT_ROWS; r++) f[r] = _mm256_setzero_ps();
    for (int k = 0; k < spans; k++) {
        const long base = (long)k * 16 * g, at_g = n * gp + 16 * k;
        __m256i lo[QDOT_ROWS], hi[QDOT_ROWS];
        const __m256i zlo = signed_q ? _mm256_setzero_si256()
                                     : _mm256_loadu_si256((const __m256i *)(a->zsum + at_g)),
                      zhi = signed_q ? _mm256_setzero_si256()
                                     : _mm256_loadu_si256((const __m256i *)(a->zsum + at_g + 8));
        for (int r = 0; r < QDOT_ROWS; r++) lo[r] = zlo, hi[r] = zhi;
        for (int c = 0; c < chunks; c++) {
            const long at = base + 64 * c;
            const __m256i x0 = _mm256_loadu_si256((const __m256i *)(q + at)),
                          x1 = _mm256_loadu_si256((const __m256i *)(q + at + 32));
            for (int r = 0; r < nr; r++) {
                const uint8_t *u = w->u + (long)r * cp + at;
                const __m256i u0 = _mm256_loadu_si256((const __m256i *)u),
                              u1 = _mm256_loadu_si256((const __m256i *)(u + 32));
                lo[r] = signed_q ? dot4_signed(lo[r], u0, x0) : dot4(lo[r], u0, x0);
                hi[r] = signed_q ? dot4_signed(hi[r], u1, x1) : dot4(hi[r], u1, x1);
            }
        }
        const __m256 d0 = _mm256_loadu_ps(a->d + at_g), d1 = _mm256_loadu_ps(a->d + at_g + 8);
        for (int r = 0; r < nr; r++) {
            const float *s = w->s + (long)r * gp + 16 * k;
            f[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo[r]), _mm256_mul_ps(_mm256_loadu_ps(s), d0),
                                   f[r]);
            f[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi[r]),
                                   _mm256_mul_ps(_mm256_loadu_ps(s + 8), d1), f[r]);
            if (w->mins) {
                const float *o = w->o + (long)r * gp + 16 * k;
                f[r] = _mm256_fmadd_ps(_mm256_loadu_ps(o), _mm256_loadu_ps(a->sum + at_g), f[r]);
                f[r] = _mm256_fmadd_ps(_mm256_loadu_ps(o + 8), _mm256_loadu_ps(a->sum + at_g + 8),
                                       f[r]);
            }
        }
    }
    for (int r = 0; r < nr; r++) out[r] = hsum(f[r]);
}

TGT void qdot_rows_avx2(const QWRows *w, const QActs *a, float *out, long ldo, int nr) {
    for (long n = 0; n < a->n; n++) row(w, a, n, out + n * ldo, nr);
}

#else
int qdot_avx2_usable(void) {
    return 0;
}
void qdot_rows_avx2(const QWRows *w, const QActs *a, float *out, long ldo, int nr) {
    qdot_rows_scalar(w, a, out, ldo, nr);
}
#endif
